/*
 * metrics.h - a metrics registry with Prometheus text exposition.
 *
 * Modules own their metric cells (plain uint64_t / int64_t fields, or struct fh_histogram)
 * and register them once at start-up with a name, help text and a fixed label set. The hot
 * path only touches its own cells: fh_counter_add() is a relaxed load and store (a plain mov
 * on x86), valid because every cell has exactly ONE writer thread; readers (the metrics
 * server thread) use relaxed atomic loads. A cell written by several threads must use
 * fh_counter_add_shared() (an atomic read-modify-write) instead.
 *
 * Rendering follows the Prometheus text format 0.0.4: one HELP/TYPE block per family, series
 * in registration order, histograms as _bucket{le=..}/_sum/_count. A histogram whose name
 * ends in _seconds holds integer nanoseconds and is rendered in seconds (base units).
 *
 * Locality: registration and fh_metrics_free from start-up/shutdown code; rendering from any
 * thread (a mutex orders it with registration). Cells must outlive the registry.
 */
#ifndef FH_OBS_METRICS_H
#define FH_OBS_METRICS_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

static inline void fh_counter_add(uint64_t *cell, uint64_t v)
{
    __atomic_store_n(cell, __atomic_load_n(cell, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline void fh_counter_add_shared(uint64_t *cell, uint64_t v)
{
    __atomic_fetch_add(cell, v, __ATOMIC_RELAXED);
}

static inline void fh_gauge_set(int64_t *cell, int64_t v)
{
    __atomic_store_n(cell, v, __ATOMIC_RELAXED);
}

static inline uint64_t fh_metric_load(const uint64_t *cell)
{
    return __atomic_load_n(cell, __ATOMIC_RELAXED);
}

#define FH_HIST_MAX_BUCKETS 32

/* A histogram with fixed upper bounds (inclusive, ascending), single writer. Values are
 * integers in the unit the name says (e.g. _nanoseconds, _bytes). */
struct fh_histogram {
    const uint64_t *bounds; /* n_bounds upper bounds; +Inf is implicit */
    size_t n_bounds;
    uint64_t counts[FH_HIST_MAX_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t sum;
    uint64_t count;
};

/* Latency bounds in nanoseconds: 1 us .. 10 s on a 1-2.5-5 ladder. */
extern const uint64_t fh_hist_latency_ns_bounds[];
extern const size_t fh_hist_latency_ns_n;

/* Prepares h with the given bounds (n <= FH_HIST_MAX_BUCKETS, ascending). */
void fh_histogram_init(struct fh_histogram *h, const uint64_t *bounds, size_t n);

static inline void fh_histogram_observe(struct fh_histogram *h, uint64_t v)
{
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    fh_counter_add(&h->counts[i], 1);
    fh_counter_add(&h->sum, v);
    fh_counter_add(&h->count, 1);
}

/* The smallest bucket bound below which at least q (0..1) of the observations fall, or
 * UINT64_MAX if that is the +Inf bucket, 0 if empty. For logs and tests. */
uint64_t fh_histogram_quantile_bound(const struct fh_histogram *h, double q);

struct fh_metrics;

struct fh_metrics *fh_metrics_new(void);
void fh_metrics_free(struct fh_metrics *m);

/*
 * Registers one series. name: [a-zA-Z_:][a-zA-Z0-9_:]*, counters end in _total. labels: the
 * rendered label pairs without braces (e.g. `venue="binance",reason="bad_json"`, build them
 * with fh_metrics_labels), or "" for none. A family (name) keeps the help and type of its
 * first series; a later series with another type is refused. Returns 0, FH_EINVAL (bad name,
 * type clash, duplicate series) or FH_ENOMEM.
 */
int fh_metrics_counter(struct fh_metrics *m, const char *name, const char *help, const char *labels,
                       const uint64_t *cell);
int fh_metrics_gauge(struct fh_metrics *m, const char *name, const char *help, const char *labels,
                     const int64_t *cell);
/* A gauge computed when scraped (on the server thread): fn must be thread-safe. */
int fh_metrics_gauge_fn(struct fh_metrics *m, const char *name, const char *help,
                        const char *labels, double (*fn)(void *ctx), void *ctx);
/* A counter read from a function when scraped (e.g. CPU time). */
int fh_metrics_counter_fn(struct fh_metrics *m, const char *name, const char *help,
                          const char *labels, double (*fn)(void *ctx), void *ctx);
int fh_metrics_histogram(struct fh_metrics *m, const char *name, const char *help,
                         const char *labels, const struct fh_histogram *h);

/* Registers process_resident_memory_bytes, process_open_fds, process_cpu_seconds_total,
 * process_start_time_seconds, read from /proc when scraped. */
int fh_metrics_add_process(struct fh_metrics *m);

/* Renders label pairs: fh_metrics_labels(buf, n, "venue", "binance", "reason", "x", NULL).
 * Values are escaped (backslash, quote, newline). Returns buf, or "" if it does not fit. */
const char *fh_metrics_labels(char *buf, size_t n, ...);

/* Appends the whole exposition to out. Returns 0 or FH_ENOSPACE/FH_ENOMEM. */
int fh_metrics_render(struct fh_metrics *m, struct fh_buf *out);

/*
 * The HTTP server for /metrics, /healthz and /readyz (libmicrohttpd, its own thread).
 * /readyz asks ready(ctx, why, whylen) and /healthz asks health(health_ctx, ...) (NULL:
 * 200 while the process runs); each answers 200 or 503 with the reason. Both callbacks run
 * on the server's thread. listen is "host:port" (port 0 picks one; see
 * fh_metrics_server_port). Returns NULL with a sentence in err on failure.
 */
struct fh_metrics_server;
typedef int (*fh_ready_fn)(void *ctx, char *why, size_t whylen); /* 1 ready, 0 not */
struct fh_metrics_server *fh_metrics_server_start(const char *listen, struct fh_metrics *m,
                                                  fh_ready_fn ready, void *ctx, fh_ready_fn health,
                                                  void *health_ctx, char *err, size_t errlen);
int fh_metrics_server_port(const struct fh_metrics_server *s);
void fh_metrics_server_stop(struct fh_metrics_server *s);

#endif
