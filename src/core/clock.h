/*
 * clock.h - the two clocks the handler uses.
 *
 * Realtime nanoseconds stamp received trades (receive_time_ns, comparable across hosts);
 * monotonic nanoseconds measure intervals and latencies (never jumps). Both are vDSO calls,
 * no syscall on Linux.
 */
#ifndef FH_CORE_CLOCK_H
#define FH_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t fh_clock_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t fh_clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
