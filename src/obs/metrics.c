#include "obs/metrics.h"

#include "core/err.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* A 1-2.5-5 ladder, and 20 µs: the bound of design.md's receive -> enqueued target. */
const uint64_t fh_hist_latency_ns_bounds[] = {
    1000,      2500,      5000,      10000,      20000,      25000,      50000,      100000,
    250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,   50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
const size_t fh_hist_latency_ns_n =
    sizeof(fh_hist_latency_ns_bounds) / sizeof(fh_hist_latency_ns_bounds[0]);

void fh_histogram_init(struct fh_histogram *h, const uint64_t *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n_bounds = n > FH_HIST_MAX_BUCKETS ? FH_HIST_MAX_BUCKETS : n;
}

uint64_t fh_histogram_quantile_bound(const struct fh_histogram *h, double q)
{
    uint64_t total = fh_metric_load(&h->count);
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total);
    if (want == 0)
        want = 1;
    uint64_t acc = 0;
    for (size_t i = 0; i < h->n_bounds; i++) {
        acc += fh_metric_load(&h->counts[i]);
        if (acc >= want)
            return h->bounds[i];
    }
    return UINT64_MAX;
}

enum series_kind { S_COUNTER, S_COUNTER_FN, S_GAUGE, S_GAUGE_FN, S_HISTOGRAM };

struct series {
    char *name;
    char *help;
    char *labels;
    enum series_kind kind;
    const void *cell;
    double (*fn)(void *ctx);
    void *ctx;
};

struct fh_metrics {
    pthread_mutex_t mu;
    struct series *s;
    size_t n, cap;
};

struct fh_metrics *fh_metrics_new(void)
{
    struct fh_metrics *m = calloc(1, sizeof(*m));
    if (m != NULL)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void fh_metrics_free(struct fh_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->s[i].name);
        free(m->s[i].help);
        free(m->s[i].labels);
    }
    free(m->s);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static const char *type_name(enum series_kind k)
{
    switch (k) {
    case S_COUNTER:
    case S_COUNTER_FN:
        return "counter";
    case S_GAUGE:
    case S_GAUGE_FN:
        return "gauge";
    case S_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static int add(struct fh_metrics *m, const char *name, const char *help, const char *labels,
               enum series_kind kind, const void *cell, double (*fn)(void *), void *ctx)
{
    if (!valid_name(name) || help == NULL || labels == NULL || (cell == NULL && fn == NULL))
        return FH_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->s[i].name, name) != 0)
            continue;
        if (strcmp(type_name(m->s[i].kind), type_name(kind)) != 0 ||
            strcmp(m->s[i].labels, labels) == 0) {
            rc = FH_EINVAL;
            goto out;
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct series *ns = realloc(m->s, cap * sizeof(*ns));
        if (ns == NULL) {
            rc = FH_ENOMEM;
            goto out;
        }
        m->s = ns;
        m->cap = cap;
    }
    struct series *s = &m->s[m->n];
    s->name = strdup(name);
    s->help = strdup(help);
    s->labels = strdup(labels);
    if (s->name == NULL || s->help == NULL || s->labels == NULL) {
        free(s->name);
        free(s->help);
        free(s->labels);
        rc = FH_ENOMEM;
        goto out;
    }
    s->kind = kind;
    s->cell = cell;
    s->fn = fn;
    s->ctx = ctx;
    m->n++;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int fh_metrics_counter(struct fh_metrics *m, const char *name, const char *help, const char *labels,
                       const uint64_t *cell)
{
    return add(m, name, help, labels, S_COUNTER, cell, NULL, NULL);
}

int fh_metrics_gauge(struct fh_metrics *m, const char *name, const char *help, const char *labels,
                     const int64_t *cell)
{
    return add(m, name, help, labels, S_GAUGE, cell, NULL, NULL);
}

int fh_metrics_gauge_fn(struct fh_metrics *m, const char *name, const char *help,
                        const char *labels, double (*fn)(void *ctx), void *ctx)
{
    return add(m, name, help, labels, S_GAUGE_FN, NULL, fn, ctx);
}

int fh_metrics_counter_fn(struct fh_metrics *m, const char *name, const char *help,
                          const char *labels, double (*fn)(void *ctx), void *ctx)
{
    return add(m, name, help, labels, S_COUNTER_FN, NULL, fn, ctx);
}

int fh_metrics_histogram(struct fh_metrics *m, const char *name, const char *help,
                         const char *labels, const struct fh_histogram *h)
{
    return add(m, name, help, labels, S_HISTOGRAM, h, NULL, NULL);
}

const char *fh_metrics_labels(char *buf, size_t n, ...)
{
    struct fh_fbuf b;
    fh_fbuf_init(&b, buf, n);
    va_list ap;
    va_start(ap, n);
    const char *k;
    bool first = true;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (!first)
            fh_fbuf_putc(&b, ',');
        first = false;
        fh_fbuf_put(&b, k, strlen(k));
        fh_fbuf_put(&b, "=\"", 2);
        for (const char *p = v ? v : ""; *p; p++) {
            if (*p == '\\' || *p == '"') {
                fh_fbuf_putc(&b, '\\');
                fh_fbuf_putc(&b, (uint8_t)*p);
            } else if (*p == '\n') {
                fh_fbuf_put(&b, "\\n", 2);
            } else {
                fh_fbuf_putc(&b, (uint8_t)*p);
            }
        }
        fh_fbuf_putc(&b, '"');
    }
    va_end(ap);
    fh_fbuf_putc(&b, '\0');
    if (b.overflow) {
        if (n > 0)
            buf[0] = '\0';
        return n > 0 ? buf : "";
    }
    return buf;
}

/* Help text escaping per the format: backslash and newline. */
static int put_help(struct fh_buf *out, const char *name, const char *help, const char *type)
{
    int rc = fh_buf_appendf(out, "# HELP %s ", name);
    for (const char *p = help; rc == 0 && *p; p++) {
        if (*p == '\\')
            rc = fh_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rc = fh_buf_append(out, "\\n", 2);
        else
            rc = fh_buf_append(out, p, 1);
    }
    if (rc == 0)
        rc = fh_buf_appendf(out, "\n# TYPE %s %s\n", name, type);
    return rc;
}

static int put_series_name(struct fh_buf *out, const char *name, const char *suffix,
                           const char *labels, const char *extra)
{
    int rc = fh_buf_appendf(out, "%s%s", name, suffix);
    if (rc != 0)
        return rc;
    if (labels[0] == '\0' && (extra == NULL || extra[0] == '\0'))
        return 0;
    return fh_buf_appendf(out, "{%s%s%s}", labels,
                          labels[0] != '\0' && extra != NULL && extra[0] != '\0' ? "," : "",
                          extra ? extra : "");
}

static int render_histogram(struct fh_buf *out, const struct series *s)
{
    const struct fh_histogram *h = s->cell;
    /* Prometheus wants base units: a histogram named *_seconds holds nanoseconds (integers on
     * the hot path) and is rendered in seconds. */
    size_t nl = strlen(s->name);
    bool seconds = nl > 8 && strcmp(s->name + nl - 8, "_seconds") == 0;
    uint64_t cum = 0;
    int rc = 0;
    char le[48];
    for (size_t i = 0; rc == 0 && i <= h->n_bounds; i++) {
        cum += fh_metric_load(&h->counts[i]);
        if (i < h->n_bounds && seconds)
            snprintf(le, sizeof(le), "le=\"%.9g\"", (double)h->bounds[i] / 1e9);
        else if (i < h->n_bounds)
            snprintf(le, sizeof(le), "le=\"%llu\"", (unsigned long long)h->bounds[i]);
        else
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        rc = put_series_name(out, s->name, "_bucket", s->labels, le);
        if (rc == 0)
            rc = fh_buf_appendf(out, " %llu\n", (unsigned long long)cum);
    }
    /* Read count after the buckets so that count >= the +Inf bucket never looks torn the
     * other way round by much; a scrape racing the writer may be off by the observations in
     * flight, which Prometheus tolerates. */
    if (rc == 0)
        rc = put_series_name(out, s->name, "_sum", s->labels, NULL);
    if (rc == 0 && seconds)
        rc = fh_buf_appendf(out, " %.9g\n", (double)fh_metric_load(&h->sum) / 1e9);
    else if (rc == 0)
        rc = fh_buf_appendf(out, " %llu\n", (unsigned long long)fh_metric_load(&h->sum));
    if (rc == 0)
        rc = put_series_name(out, s->name, "_count", s->labels, NULL);
    if (rc == 0)
        rc = fh_buf_appendf(out, " %llu\n", (unsigned long long)cum);
    return rc;
}

int fh_metrics_render(struct fh_metrics *m, struct fh_buf *out)
{
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    bool *done = calloc(m->n ? m->n : 1, sizeof(bool));
    if (done == NULL) {
        pthread_mutex_unlock(&m->mu);
        return FH_ENOMEM;
    }
    /* Families in order of first registration; each family's series together. */
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        if (done[i])
            continue;
        rc = put_help(out, m->s[i].name, m->s[i].help, type_name(m->s[i].kind));
        for (size_t j = i; rc == 0 && j < m->n; j++) {
            const struct series *s = &m->s[j];
            if (done[j] || strcmp(s->name, m->s[i].name) != 0)
                continue;
            done[j] = true;
            switch (s->kind) {
            case S_COUNTER:
                rc = put_series_name(out, s->name, "", s->labels, NULL);
                if (rc == 0)
                    rc =
                        fh_buf_appendf(out, " %llu\n", (unsigned long long)fh_metric_load(s->cell));
                break;
            case S_GAUGE:
                rc = put_series_name(out, s->name, "", s->labels, NULL);
                if (rc == 0)
                    rc = fh_buf_appendf(
                        out, " %lld\n",
                        (long long)__atomic_load_n((const int64_t *)s->cell, __ATOMIC_RELAXED));
                break;
            case S_GAUGE_FN:
            case S_COUNTER_FN:
                rc = put_series_name(out, s->name, "", s->labels, NULL);
                if (rc == 0)
                    rc = fh_buf_appendf(out, " %.17g\n", s->fn(s->ctx));
                break;
            case S_HISTOGRAM:
                rc = render_histogram(out, s);
                break;
            }
        }
    }
    free(done);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- process metrics ------------------------------------------------------------------- */

static double process_rss(void *ctx)
{
    (void)ctx;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double process_fds(void *ctx)
{
    (void)ctx;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double process_cpu(void *ctx)
{
    (void)ctx;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static double start_time;

static double process_start(void *ctx)
{
    (void)ctx;
    return start_time;
}

int fh_metrics_add_process(struct fh_metrics *m)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    int rc = fh_metrics_gauge_fn(m, "process_resident_memory_bytes", "Resident memory size.", "",
                                 process_rss, NULL);
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "process_open_fds", "Open file descriptors.", "", process_fds,
                                 NULL);
    if (rc == 0)
        rc = fh_metrics_counter_fn(m, "process_cpu_seconds_total",
                                   "User and system CPU time, seconds.", "", process_cpu, NULL);
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "process_start_time_seconds",
                                 "Start time of the process since the epoch, seconds.", "",
                                 process_start, NULL);
    return rc;
}
