/*
 * stream_sink.c - trades to standard output or a file, through a writer thread.
 *
 * The engine encodes each trade into a bounded byte ring (core/ring.h: no syscall, no
 * allocation); the ring's writer thread drains it with write(2) in large chunks. A second
 * ring holds the size of every record, so the writer can count trades as delivered only once
 * all their bytes are written; it has the same single-producer single-consumer discipline.
 * The engine only wakes the writer from fh_sink_poll(), at most once per loop iteration, and
 * only when the writer sleeps.
 */
#include "sink/sink.h"

#include "codec/avro.h"
#include "codec/gap.h"
#include "codec/jsonl.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRATCH_BYTES  (FH_JSONL_GAP_MAX > 16384 ? FH_JSONL_GAP_MAX : 16384)
#define GAP_BIT        0x80000000u /* a record size with it: a gap record, not a trade */
#define MIN_RECORD     32          /* no encoded trade is smaller: sizes the record-size ring */
#define MIN_RING_BYTES (64 * 1024)

struct stream_sink {
    struct fh_sink base;
    int fd;
    bool own_fd;
    char *path;
    int64_t retry_ms;

    struct fh_ring ring; /* record bytes */
    bool ring_inited;

    uint32_t *sizes; /* record sizes, same discipline */
    uint64_t sizes_cap;
    uint64_t sizes_head;
    uint64_t sizes_tail;

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
        if (fh_ring_sleep(&s->ring, s->retry_ms))
            return -1;
    }
    return 0;
}

/* Drains one piece of the ring (its writer thread). */
static int drain_piece(void *ctx, const uint8_t *p, size_t n)
{
    return write_all(ctx, p, n);
}

/* The ring is written up to `done`: counts the records whose bytes are all written as
 * delivered and frees their sizes. The ring's writer thread, under the ring's lock. */
static void retire_records(void *ctx, uint64_t done)
{
    struct stream_sink *s = ctx;
    uint64_t st = __atomic_load_n(&s->sizes_tail, __ATOMIC_RELAXED);
    uint64_t sh = __atomic_load_n(&s->sizes_head, __ATOMIC_ACQUIRE);
    uint64_t end = __atomic_load_n(&s->ring.tail, __ATOMIC_RELAXED);
    uint64_t n = 0, gaps = 0;
    while (st < sh) {
        uint32_t sz = s->sizes[st % s->sizes_cap];
        uint32_t len = sz & ~GAP_BIT;
        if (end + len > done)
            break;
        end += len;
        st++;
        if (sz & GAP_BIT)
            gaps++;
        else
            n++;
    }
    __atomic_store_n(&s->sizes_tail, st, __ATOMIC_RELEASE);
    stat_add(&s->base.stats.delivered, n);
    if (gaps > 0)
        stat_add(&s->base.stats.gaps_delivered, gaps);
    stat_set(&s->base.stats.buffered_bytes,
             __atomic_load_n(&s->ring.head, __ATOMIC_RELAXED) - done);
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

/* Queues the n bytes in scratch as one record (flags: GAP_BIT or 0). */
static int put_record(struct stream_sink *s, size_t n, uint32_t flags)
{
    uint64_t space = fh_ring_space(&s->ring);
    uint64_t sizes_tail = __atomic_load_n(&s->sizes_tail, __ATOMIC_ACQUIRE);
    if (n > space || s->sizes_head - sizes_tail == s->sizes_cap) {
        stat_add(&s->base.stats.refused, 1);
        return FH_ENOSPACE;
    }
    uint64_t pos = s->ring.head;
    fh_ring_put(&s->ring, &pos, s->scratch, n);
    s->sizes[s->sizes_head % s->sizes_cap] = (uint32_t)n | flags;
    __atomic_store_n(&s->sizes_head, s->sizes_head + 1, __ATOMIC_RELEASE);
    fh_ring_commit(&s->ring, pos);
    stat_set(&s->base.stats.buffered_bytes, s->ring.cap - space + n);
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
    rc = put_record(s, n, 0);
    if (rc == 0)
        stat_add(&base->stats.accepted, 1);
    return rc;
}

static int stream_write_gap(struct fh_sink *base, const struct fh_gap_record *g)
{
    struct stream_sink *s = (struct stream_sink *)base;
    if (fh_sink_is_fatal(base))
        return FH_ESTATE;
    struct fh_fbuf b;
    fh_fbuf_init(&b, s->scratch, sizeof(s->scratch));
    int rc = s->base.format == FH_SINK_AVRO ? fh_avro_encode_gap_single_object(&b, g)
                                            : fh_jsonl_encode_gap(&b, g);
    if (rc == 0)
        rc = put_record(s, b.len, GAP_BIT);
    if (rc == 0)
        stat_add(&base->stats.gaps_accepted, 1);
    return rc;
}

static void stream_poll(struct fh_sink *base)
{
    struct stream_sink *s = (struct stream_sink *)base;
    fh_ring_poll(&s->ring);
}

static int stream_flush(struct fh_sink *base, int64_t timeout_ms)
{
    struct stream_sink *s = (struct stream_sink *)base;
    int rc = 0;
    if (!fh_ring_wait(&s->ring, timeout_ms))
        rc = fh_sink_is_fatal(base) ? FH_EIO : -ETIMEDOUT;
    if (rc == 0 && s->own_fd && fsync(s->fd) != 0 && errno != EINVAL)
        rc = -errno;
    return rc;
}

static void stream_destroy(struct fh_sink *base)
{
    struct stream_sink *s = (struct stream_sink *)base;
    fh_ring_stop(&s->ring);
    /* Whatever the writer could not write is lost: count it. fh_sink_flush first avoids it. */
    uint64_t lost = s->sizes_head - __atomic_load_n(&s->sizes_tail, __ATOMIC_ACQUIRE);
    if (lost > 0) {
        stat_add(&base->stats.failed, lost);
        log_error("sink closed with undelivered trades", "sink=%s lost=%llu", base->ops->name,
                  (unsigned long long)lost);
    }
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    if (s->ring_inited)
        fh_ring_release(&s->ring);
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
    .write_gap = stream_write_gap,
};

static const struct fh_sink_ops stdout_ops = {
    .name = "stdout",
    .write = stream_write,
    .poll = stream_poll,
    .flush = stream_flush,
    .destroy = stream_destroy,
    .write_gap = stream_write_gap,
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
    uint64_t cap = cfg->buffer_bytes < MIN_RING_BYTES ? MIN_RING_BYTES : cfg->buffer_bytes;
    s->ring_inited = true;
    int rrc = fh_ring_init(&s->ring, cap, drain_piece, retire_records, s);
    s->sizes_cap = cap / MIN_RECORD;
    s->sizes = malloc(s->sizes_cap * sizeof(*s->sizes));
    if (rrc != 0 || s->sizes == NULL) {
        snprintf(err, errlen, "out of memory for a %llu-byte sink buffer", (unsigned long long)cap);
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
    if (fh_ring_start(&s->ring) != 0) {
        snprintf(err, errlen, "cannot start the sink writer thread");
        goto fail;
    }
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
