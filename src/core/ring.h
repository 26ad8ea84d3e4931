/*
 * ring.h - a bounded single-producer single-consumer byte ring drained by its own writer
 * thread: the engine copies bytes in (no syscall, no allocation, no lock), the writer thread
 * hands them to a drain callback in at most two contiguous pieces per round. Used by the
 * stream sink (sink/stream_sink.c) and the raw-message recorder (feed/record.c).
 *
 * Positions are monotonically increasing 64-bit byte counts: head (the producer's, published
 * by fh_ring_commit) and tail (the writer's: everything before it has been drained and its
 * space may be reused). The producer never blocks: it checks fh_ring_space() and refuses or
 * drops when the ring is full. It wakes the writer only from fh_ring_poll(), at most once per
 * loop iteration and only when the writer sleeps: the writer's idle flag and the head are
 * both seq_cst, so either the writer sees the new head before it sleeps, or the producer sees
 * it idle and signals it.
 *
 * Threads: fh_ring_put/commit/space/poll on the producer thread; the callbacks on the writer
 * thread; fh_ring_wait and fh_ring_stop on the owner's thread (shutdown).
 */
#ifndef FH_CORE_RING_H
#define FH_CORE_RING_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fh_ring;

/* Drains one contiguous piece [p, p + n). Returns 0, or -1 to stop the writer (the rest stays
 * undrained: the owner counts it). */
typedef int (*fh_ring_drain_fn)(void *ctx, const uint8_t *p, size_t n);
/* After a round: everything before pos is drained (called under the ring's lock, before the
 * space is released and fh_ring_wait woken). May be NULL. */
typedef void (*fh_ring_drained_fn)(void *ctx, uint64_t pos);

struct fh_ring {
    uint8_t *buf;
    uint64_t cap;
    uint64_t head; /* producer (atomic) */
    uint64_t tail; /* writer (atomic) */
    fh_ring_drain_fn drain;
    fh_ring_drained_fn drained;
    void *ctx;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* producer -> writer: data or stop */
    pthread_cond_t progress; /* writer -> fh_ring_wait */
    int idle;                /* the writer waits on wake (atomic, seq_cst) */
    int stop;                /* under mu */
};

/* Allocates a ring of cap bytes; returns 0 or FH_ENOMEM. The writer starts with
 * fh_ring_start(). */
int fh_ring_init(struct fh_ring *r, uint64_t cap, fh_ring_drain_fn drain,
                 fh_ring_drained_fn drained, void *ctx);
/* Starts the writer thread. Returns 0 or FH_ENOMEM. */
int fh_ring_start(struct fh_ring *r);

/* Free bytes for the producer. */
static inline uint64_t fh_ring_space(const struct fh_ring *r)
{
    return r->cap - (r->head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE));
}

/* Copies n bytes at *pos (a producer position from r->head on, within fh_ring_space) and
 * advances *pos. Nothing is visible to the writer before fh_ring_commit(). */
static inline void fh_ring_put(struct fh_ring *r, uint64_t *pos, const void *p, size_t n)
{
    uint64_t off = *pos % r->cap;
    size_t first = n < r->cap - off ? n : (size_t)(r->cap - off);
    __builtin_memcpy(r->buf + off, p, first);
    if (n > first)
        __builtin_memcpy(r->buf, (const uint8_t *)p + first, n - first);
    *pos += n;
}

/* Publishes everything put up to pos. */
static inline void fh_ring_commit(struct fh_ring *r, uint64_t pos)
{
    __atomic_store_n(&r->head, pos, __ATOMIC_SEQ_CST);
}

/* Wakes the writer if it sleeps and there is something to drain. Cheap otherwise. */
void fh_ring_poll(struct fh_ring *r);

/* Waits until everything committed is drained, the writer stopped, or timeout_ms passed.
 * Returns true when everything is drained. */
bool fh_ring_wait(struct fh_ring *r, int64_t timeout_ms);

/* For a drain callback: sleeps ms unless a stop is requested. Returns true if a stop is
 * requested (the callback should then give up and return -1). */
bool fh_ring_sleep(struct fh_ring *r, int64_t ms);

/* Stops the writer after it drained what was committed (or gave up), and joins it. */
void fh_ring_stop(struct fh_ring *r);

/* fh_ring_stop, then frees the buffer. The struct may be reused after fh_ring_init. */
void fh_ring_release(struct fh_ring *r);

#endif
