/*
 * bench.h - a tiny harness for micro-benchmarks.
 *
 * fh_bench_run() times `iters` calls of fn, `runs` times, and reports nanoseconds per call as
 * min and median over the runs. Shared machines are noisy: compare figures only with a
 * baseline measured in the same process (fh_bench_report_ratio), never across runs.
 */
#ifndef FH_BENCH_H
#define FH_BENCH_H

#include "core/clock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fh_bench_result {
    double min_ns;
    double median_ns;
};

static int fh_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* fn does `iters` operations per call and returns a value that is accumulated into a sink so
 * the compiler cannot drop the work. */
static inline struct fh_bench_result fh_bench_run(uint64_t (*fn)(void *ctx, uint64_t iters),
                                                  void *ctx, uint64_t iters, int runs)
{
    double samples[64];
    volatile uint64_t sink = 0;
    if (runs > 64)
        runs = 64;
    sink += fn(ctx, iters / 10 + 1); /* warm-up: caches, branch predictors, page faults */
    for (int r = 0; r < runs; r++) {
        int64_t t0 = fh_clock_monotonic_ns();
        sink += fn(ctx, iters);
        int64_t t1 = fh_clock_monotonic_ns();
        samples[r] = (double)(t1 - t0) / (double)iters;
    }
    (void)sink;
    qsort(samples, (size_t)runs, sizeof(double), fh_bench_cmp_double);
    struct fh_bench_result res = {samples[0], samples[runs / 2]};
    return res;
}

static inline void fh_bench_report(const char *name, struct fh_bench_result r)
{
    printf("%-44s min %9.1f ns/op   median %9.1f ns/op\n", name, r.min_ns, r.median_ns);
}

static inline void fh_bench_report_ratio(const char *name, struct fh_bench_result r,
                                         struct fh_bench_result base, const char *base_name)
{
    printf("%-44s min %9.1f ns/op   median %9.1f ns/op   %.2fx faster than %s (median)\n", name,
           r.min_ns, r.median_ns, base.median_ns / r.median_ns, base_name);
}

#endif
