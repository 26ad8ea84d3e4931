/*
 * thread.h - starting the process's helper threads.
 *
 * Termination signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2, SIGALRM) belong to
 * the event loop's thread, where libuv turns them into callbacks. A helper thread started by
 * fh_thread_start blocks them, so the kernel never picks a helper (busy writing a file or
 * waiting on a condition) to receive a signal aimed at the process. librdkafka does the same
 * for its own threads.
 */
#ifndef FH_CORE_THREAD_H
#define FH_CORE_THREAD_H

#include <pthread.h>

/* pthread_create with the signals above blocked in the new thread; the caller's own signal
 * mask is left as it was. Returns 0 or a negative code (fh_strerror). */
int fh_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* Puts the calling thread (only it) on SCHED_FIFO at priority (1..99), with
 * SCHED_RESET_ON_FORK: a thread it starts afterwards (libuv's pool, a helper) gets the normal
 * scheduler, as do the threads started before. Needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at
 * least priority. Returns 0 or a negative code (-EPERM, -EINVAL). */
int fh_thread_set_realtime(int priority);

#endif
