/*
 * sink.h - where normalized trades go.
 *
 * A sink takes trades from the engine thread, one call per trade, and must never block it:
 * fh_sink_write() encodes the trade and hands it on (to a writer thread, to librdkafka) or
 * refuses it with FH_ENOSPACE when its bounded buffer is full. A refusal is backpressure, not
 * loss: the engine keeps the trade, stops reading sockets and retries after the next
 * fh_sink_poll(); what the exchanges send meanwhile is caught by gap detection.
 *
 * Implementations: stream_sink.c (stdout and file, JSON lines or Avro), and the Kafka sink.
 *
 * Locality: fh_sink_write, fh_sink_poll, fh_sink_flush and fh_sink_free on the engine thread
 * (or the thread that owns the sink); the counters may be read from any thread (relaxed
 * atomics), e.g. by the metrics server.
 */
#ifndef FH_SINK_SINK_H
#define FH_SINK_SINK_H

#include "core/err.h"
#include "model/gap.h"
#include "model/trade.h"

#include <stdbool.h>
#include <stdint.h>

enum fh_sink_format { FH_SINK_JSON = 0, FH_SINK_AVRO = 1 };

/* Monotonic counters, read with __atomic_load_n(..., __ATOMIC_RELAXED). */
struct fh_sink_stats {
    uint64_t accepted;       /* trades taken by fh_sink_write */
    uint64_t refused;        /* fh_sink_write calls refused for lack of space (backpressure) */
    uint64_t delivered;      /* trades confirmed written / acknowledged */
    uint64_t failed;         /* trades the sink could not deliver and reported as lost */
    uint64_t bytes;          /* encoded bytes delivered */
    uint64_t write_errors;   /* I/O errors seen (each retried or fatal, see the sink) */
    uint64_t buffered_bytes; /* gauge: bytes held in memory now */
    /* Gap records (fh_sink_write_gap), counted apart from the trades above. */
    uint64_t gaps_accepted;
    uint64_t gaps_delivered;
};

struct fh_sink;

struct fh_sink_ops {
    const char *name;
    int (*write)(struct fh_sink *s, const struct fh_trade *t);
    void (*poll)(struct fh_sink *s);
    int (*flush)(struct fh_sink *s, int64_t timeout_ms);
    void (*destroy)(struct fh_sink *s);
    /* Optional (NULL: none). wake_fd: a descriptor that becomes readable when work for
     * fh_sink_poll arrived by itself (the Kafka sink: delivery reports), so that an idle event
     * loop wakes up for it, or -1. wake: called when it was readable; clears it and polls. */
    int (*wake_fd)(struct fh_sink *s);
    void (*wake)(struct fh_sink *s);
    /* Optional (NULL: the sink has no place for gap records). Like write, for a gap record
     * (model/gap.h): 0, FH_ENOSPACE (backpressure), or another negative code. */
    int (*write_gap)(struct fh_sink *s, const struct fh_gap_record *g);
};

struct fh_sink {
    const struct fh_sink_ops *ops;
    enum fh_sink_format format;
    struct fh_sink_stats stats;
    /* Set (atomically) when the sink failed for good (e.g. stdout closed); the engine shuts
     * down. The reason is in fatal_msg. */
    int fatal;
    char fatal_msg[160];
};

/* Encodes and queues one trade. Returns 0, FH_ENOSPACE (backpressure: retry later, after
 * fh_sink_poll), or another negative code if the trade cannot be encoded at all (counted as
 * failed; the caller logs it). */
static inline int fh_sink_write(struct fh_sink *s, const struct fh_trade *t)
{
    return s->ops->write(s, t);
}

/* Encodes and queues one gap record (feed/backfill.h's events): where the sink writes trades
 * (the stream sinks: one more JSON line or Avro single-object record, told apart by its
 * fields or its schema fingerprint) or to its gap topic (Kafka). Returns as fh_sink_write, or
 * FH_EUNSUPPORTED when the sink has no place for them. */
static inline int fh_sink_write_gap(struct fh_sink *s, const struct fh_gap_record *g)
{
    return s->ops->write_gap != NULL ? s->ops->write_gap(s, g) : FH_EUNSUPPORTED;
}

/* Services the sink: wakes writers, serves delivery reports. Call once per loop iteration or
 * after each batch of writes. Cheap when there is nothing to do. */
static inline void fh_sink_poll(struct fh_sink *s)
{
    s->ops->poll(s);
}

/* The descriptor an event loop watches (readable: call fh_sink_wake), or -1: the sink needs
 * nothing but fh_sink_poll once per loop iteration. */
static inline int fh_sink_wake_fd(struct fh_sink *s)
{
    return s->ops->wake_fd != NULL ? s->ops->wake_fd(s) : -1;
}

/* The wake descriptor was readable: clears it and polls. */
static inline void fh_sink_wake(struct fh_sink *s)
{
    if (s->ops->wake != NULL)
        s->ops->wake(s);
    else
        s->ops->poll(s);
}

/* fh_sink_flush result: not everything was delivered in time, but all of the rest is kept
 * durably (the Kafka sink's disk spool) and a later run delivers it. Nothing is lost. */
#define FH_SINK_FLUSH_KEPT 1

/* Waits up to timeout_ms for everything queued to be delivered. Returns 0 when all is
 * delivered, FH_SINK_FLUSH_KEPT when the rest is durable on disk, -ETIMEDOUT when time ran out
 * with records only in memory (the sink counts them as failed when freed), or another
 * negative error. Blocks: shutdown only. */
static inline int fh_sink_flush(struct fh_sink *s, int64_t timeout_ms)
{
    return s->ops->flush(s, timeout_ms);
}

/* Frees the sink; does not flush (call fh_sink_flush first). NULL is fine. */
void fh_sink_free(struct fh_sink *s);

static inline bool fh_sink_is_fatal(const struct fh_sink *s)
{
    return __atomic_load_n(&s->fatal, __ATOMIC_ACQUIRE) != 0;
}

/*
 * The stdout / file sink. Trades are encoded on the caller's thread into a bounded ring of
 * buffer_bytes; a writer thread writes the ring to the file descriptor in large chunks, so the
 * engine makes no syscall per trade. JSON lines, or Avro single-object records back to back.
 *
 * path NULL writes to standard output (fd 1, not closed). A file is opened for appending and
 * created with mode 0644. Write errors: ENOSPC/EDQUOT/EIO and similar are retried every
 * retry_ms (the ring fills, the engine is pushed back, nothing is dropped); EPIPE/EBADF and
 * other permanent errors make the sink fatal. Returns NULL with a sentence in err on failure.
 */
struct fh_stream_sink_config {
    const char *path;
    enum fh_sink_format format;
    size_t buffer_bytes; /* ring capacity; at least 64 KiB */
    int64_t retry_ms;    /* pause between retries of a failed write (default 1000) */
};
struct fh_sink *fh_stream_sink_new(const struct fh_stream_sink_config *cfg, char *err,
                                   size_t errlen);

#endif
