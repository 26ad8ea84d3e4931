/*
 * stream_sink.c - trades to standard output or a file, through a writer thread.
 *
 * The engine encodes each trade into a bounded byte ring (no syscall, no allocation); a
 * writer thread drains the ring with write(2) in large chunks. A second ring holds the size
 * of every record, so the writer can count trades as delivered only once all their bytes
 * are written. Both rings are single-producer (engine) single-consumer (writer) with
 * monotonically increasing 64-bit positions; the engine only wakes the writer from
 * fh_sink_poll(), at most once per loop iteration, and only when the writer sleeps.
 */
#include "sink/sink.h"

#include "codec/avro.h"
#include "codec/jsonl.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRATCH_BYTES  16384
#define MIN_RECORD     32 /* no encoded trade is smaller: sizes the record-size ring */
#define MIN_RING_BYTES (64 * 1024)

struct stream_sink {
    struct fh_sink base;
    int fd;
    bool own_fd;
    char *path;
    int64_t retry_ms;

    uint8_t *ring; /* record bytes */
    uint64_t cap;
    uint64_t head; /* written by the engine (atomic) */
    uint64_t tail; /* written by the writer (atomic) */

    uint32_t *sizes; /* record sizes, same discipline */
    uint64_t sizes_cap;
    uint64_t sizes_head;
    uint64_t sizes_tail;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* engine -> writer: data or stop */
    pthread_cond_t drained; /* writer -> flush: progress */
    int idle;               /* the writer waits on `wake` (atomic, seq_cst) */
    int stop;               /* under mu */

    uint8_t scratch[SCRATCH_BYTES];
};

static void stat_add(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static void stat_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static void set_fatal(struct stream_sink *s, const char *what, int err)
{
    snprintf(s->base.fatal_msg, sizeof(s->base.fatal_msg), "%s %s: %s", what,
             s->path ? s->path : "standard output", strerror(err));
    __atomic_store_n(&s->base.fatal, 1, __ATOMIC_RELEASE);
}

/* Errors after which a later write may succeed: wait and retry, keeping the data. */
static bool retriable(int err)
{
    return err == ENOSPC || err == EDQUOT || err == EIO || err == EAGAIN || err == ENOMEM ||
           err == EFBIG;
}

/* Writes buf fully, retrying transient errors. Returns 0, or -1 when the sink became fatal
 * or is asked to stop while retrying. */
static int write_all(struct stream_sink *s, const uint8_t *buf, size_t n)
{
    struct fh_ratelimit rl;
    fh_ratelimit_init(&rl, 1, 60LL * 1000000000LL);
    while (n > 0) {
        ssize_t w = write(s->fd, buf, n);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
            stat_add(&s->base.stats.bytes, (uint64_t)w);
            continue;
        }
        int err = w < 0 ? errno : EIO;
        if (err == EINTR)
            continue;
        stat_add(&s->base.stats.write_errors, 1);
        if (!retriable(err)) {
            set_fatal(s, "cannot write to", err);
            log_error("sink write failed", "sink=%s error=\"%s\"", s->base.ops->name,
                      s->base.fatal_msg);
            return -1;
        }
        uint64_t suppressed = 0;
        if (fh_ratelimit_allow(&rl, fh_clock_monotonic_ns(), &suppressed)) {
            log_warn("sink write failed, retrying",
                     "sink=%s path=%s errno=%d error=\"%s\" "
                     "retry_ms=%lld buffered=%llu",
                     s->base.ops->name, s->path ? s->path : "-", err, strerror(err),
                     (long long)s->retry_ms,
                     (unsigned long long)__atomic_load_n(&s->base.stats.buffered_bytes,
                                                         __ATOMIC_RELAXED));
        }
        /* Wait before retrying; a stop request (sink being freed) ends the retries, and
         * what is left is counted as lost by stream_destroy. */
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        if (!stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (s->retry_ms % 1000) * 1000000;
            ts.tv_sec += s->retry_ms / 1000 + ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&s->wake, &s->mu, &ts);
            stop = s->stop;
        }
        pthread_mutex_unlock(&s->mu);
        if (stop)
            return -1;
    }
    return 0;
}

/* Retires the records whose bytes are all written now that the ring is written up to `done`:
 * counts them as delivered and frees their space (tail). Called by the writer under mu. */
static void retire_records(struct stream_sink *s, uint64_t done)
{
    uint64_t st = __atomic_load_n(&s->sizes_tail, __ATOMIC_RELAXED);
    uint64_t sh = __atomic_load_n(&s->sizes_head, __ATOMIC_ACQUIRE);
    uint64_t end = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
    uint64_t n = 0;
    while (st < sh) {
        uint32_t sz = s->sizes[st % s->sizes_cap];
        if (end + sz > done)
            break;
        end += sz;
        st++;
        n++;
    }
    __atomic_store_n(&s->sizes_tail, st, __ATOMIC_RELEASE);
    __atomic_store_n(&s->tail, end, __ATOMIC_RELEASE);
    stat_add(&s->base.stats.delivered, n);
}

static void *writer_main(void *arg)
{
    struct stream_sink *s = arg;
    uint64_t written = 0; /* ring position written so far (>= retired tail) */
    for (;;) {
        uint64_t head = __atomic_load_n(&s->head, __ATOMIC_SEQ_CST);
        if (head == written) {
            pthread_mutex_lock(&s->mu);
            __atomic_store_n(&s->idle, 1, __ATOMIC_SEQ_CST);
            while (!s->stop && __atomic_load_n(&s->head, __ATOMIC_SEQ_CST) == written)
                pthread_cond_wait(&s->wake, &s->mu);
            __atomic_store_n(&s->idle, 0, __ATOMIC_SEQ_CST);
            bool stop = s->stop && __atomic_load_n(&s->head, __ATOMIC_SEQ_CST) == written;
            pthread_mutex_unlock(&s->mu);
            if (stop)
                break;
            continue;
        }
        /* Write the pending bytes in at most two contiguous pieces. */
        uint64_t off = written % s->cap;
        uint64_t len = head - written;
        uint64_t first = len < s->cap - off ? len : s->cap - off;
        if (write_all(s, s->ring + off, first) != 0)
            break;
        if (len > first && write_all(s, s->ring, len - first) != 0)
            break;
        written = head;
        pthread_mutex_lock(&s->mu);
        retire_records(s, written);
        stat_set(&s->base.stats.buffered_bytes,
                 __atomic_load_n(&s->head, __ATOMIC_RELAXED) - written);
        pthread_cond_broadcast(&s->drained);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int encode(struct stream_sink *s, const struct fh_trade *t, size_t *len)
{
    struct fh_fbuf b;
    fh_fbuf_init(&b, s->scratch, sizeof(s->scratch));
    int rc = s->base.format == FH_SINK_AVRO ? fh_avro_encode_trade_single_object(&b, t)
                                            : fh_jsonl_encode_trade(&b, t);
    if (rc != 0)
        return rc;
    *len = b.len;
    return 0;
}

static int stream_write(struct fh_sink *base, const struct fh_trade *t)
{
    struct stream_sink *s = (struct stream_sink *)base;
    if (fh_sink_is_fatal(base))
        return FH_ESTATE;
    size_t n;
    int rc = encode(s, t, &n);
    if (rc != 0) {
        stat_add(&base->stats.failed, 1);
        return rc;
    }
    uint64_t tail = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);
    uint64_t sizes_tail = __atomic_load_n(&s->sizes_tail, __ATOMIC_ACQUIRE);
    if (s->head + n - tail > s->cap || s->sizes_head - sizes_tail == s->sizes_cap) {
        stat_add(&base->stats.refused, 1);
        return FH_ENOSPACE;
    }
    uint64_t off = s->head % s->cap;
    size_t first = n < s->cap - off ? n : (size_t)(s->cap - off);
    memcpy(s->ring + off, s->scratch, first);
    if (n > first)
        memcpy(s->ring, s->scratch + first, n - first);
    s->sizes[s->sizes_head % s->sizes_cap] = (uint32_t)n;
    __atomic_store_n(&s->sizes_head, s->sizes_head + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&s->head, s->head + n, __ATOMIC_SEQ_CST);
    stat_add(&base->stats.accepted, 1);
    stat_set(&base->stats.buffered_bytes, s->head - tail);
    return 0;
}

static void stream_poll(struct fh_sink *base)
{
    struct stream_sink *s = (struct stream_sink *)base;
    /* Pairs with the writer's idle store and head load (both seq_cst): either the writer
     * sees the new head before sleeping, or we see it idle and wake it. */
    if (__atomic_load_n(&s->idle, __ATOMIC_SEQ_CST) &&
        __atomic_load_n(&s->head, __ATOMIC_SEQ_CST) !=
            __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
    }
}

static int stream_flush(struct fh_sink *base, int64_t timeout_ms)
{
    struct stream_sink *s = (struct stream_sink *)base;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    int64_t ns = deadline.tv_nsec + (timeout_ms % 1000) * 1000000;
    deadline.tv_sec += timeout_ms / 1000 + ns / 1000000000;
    deadline.tv_nsec = ns % 1000000000;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->wake);
    while (__atomic_load_n(&s->tail, __ATOMIC_ACQUIRE) != s->head) {
        if (fh_sink_is_fatal(base)) {
            rc = FH_EIO;
            break;
        }
        if (pthread_cond_timedwait(&s->drained, &s->mu, &deadline) == ETIMEDOUT) {
            rc = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE) == s->head ? 0 : -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == 0 && s->own_fd && fsync(s->fd) != 0 && errno != EINVAL)
        rc = -errno;
    return rc;
}

static void stream_destroy(struct fh_sink *base)
{
    struct stream_sink *s = (struct stream_sink *)base;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_broadcast(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    /* Whatever the writer could not write is lost: count it. fh_sink_flush first avoids it. */
    uint64_t lost = s->sizes_head - __atomic_load_n(&s->sizes_tail, __ATOMIC_ACQUIRE);
    if (lost > 0) {
        stat_add(&base->stats.failed, lost);
        log_error("sink closed with undelivered trades", "sink=%s lost=%llu", base->ops->name,
                  (unsigned long long)lost);
    }
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->drained);
    free(s->ring);
    free(s->sizes);
    free(s->path);
    free(s);
}

static const struct fh_sink_ops file_ops = {
    .name = "file",
    .write = stream_write,
    .poll = stream_poll,
    .flush = stream_flush,
    .destroy = stream_destroy,
};

static const struct fh_sink_ops stdout_ops = {
    .name = "stdout",
    .write = stream_write,
    .poll = stream_poll,
    .flush = stream_flush,
    .destroy = stream_destroy,
};

struct fh_sink *fh_stream_sink_new(const struct fh_stream_sink_config *cfg, char *err,
                                   size_t errlen)
{
    struct stream_sink *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = cfg->path ? &file_ops : &stdout_ops;
    s->base.format = cfg->format;
    s->retry_ms = cfg->retry_ms > 0 ? cfg->retry_ms : 1000;
    s->fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->drained, NULL);
    s->cap = cfg->buffer_bytes < MIN_RING_BYTES ? MIN_RING_BYTES : cfg->buffer_bytes;
    s->sizes_cap = s->cap / MIN_RECORD;
    s->ring = malloc(s->cap);
    s->sizes = malloc(s->sizes_cap * sizeof(*s->sizes));
    if (s->ring == NULL || s->sizes == NULL) {
        snprintf(err, errlen, "out of memory for a %llu-byte sink buffer",
                 (unsigned long long)s->cap);
        goto fail;
    }
    if (cfg->path != NULL) {
        s->path = strdup(cfg->path);
        s->fd = open(cfg->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->fd < 0 || s->path == NULL) {
            snprintf(err, errlen, "cannot open sink file %s: %s", cfg->path, strerror(errno));
            goto fail;
        }
        s->own_fd = true;
    } else {
        s->fd = 1;
    }
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the sink writer thread");
        goto fail;
    }
    s->thread_started = true;
    return &s->base;
fail:
    stream_destroy(&s->base);
    return NULL;
}

void fh_sink_free(struct fh_sink *s)
{
    if (s != NULL)
        s->ops->destroy(s);
}
