/*
 * ring.c - the SPSC byte ring with a writer thread (see ring.h).
 */
#include "core/ring.h"

#include "core/err.h"
#include "core/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int fh_ring_init(struct fh_ring *r, uint64_t cap, fh_ring_drain_fn drain,
                 fh_ring_drained_fn drained, void *ctx)
{
    memset(r, 0, sizeof(*r));
    r->cap = cap;
    r->drain = drain;
    r->drained = drained;
    r->ctx = ctx;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_cond_init(&r->progress, NULL);
    r->buf = malloc(cap);
    return r->buf != NULL ? 0 : FH_ENOMEM;
}

static void *writer_main(void *arg)
{
    struct fh_ring *r = arg;
    for (;;) {
        uint64_t head = __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
        uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
        if (head == tail) {
            pthread_mutex_lock(&r->mu);
            __atomic_store_n(&r->idle, 1, __ATOMIC_SEQ_CST);
            while (!r->stop && __atomic_load_n(&r->head, __ATOMIC_SEQ_CST) == tail)
                pthread_cond_wait(&r->wake, &r->mu);
            __atomic_store_n(&r->idle, 0, __ATOMIC_SEQ_CST);
            bool stop = r->stop && __atomic_load_n(&r->head, __ATOMIC_SEQ_CST) == tail;
            pthread_mutex_unlock(&r->mu);
            if (stop)
                break;
            continue;
        }
        /* The pending bytes in at most two contiguous pieces. */
        uint64_t off = tail % r->cap;
        uint64_t len = head - tail;
        uint64_t first = len < r->cap - off ? len : r->cap - off;
        if (r->drain(r->ctx, r->buf + off, (size_t)first) != 0)
            break;
        if (len > first && r->drain(r->ctx, r->buf, (size_t)(len - first)) != 0)
            break;
        pthread_mutex_lock(&r->mu);
        if (r->drained != NULL)
            r->drained(r->ctx, head);
        __atomic_store_n(&r->tail, head, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&r->progress);
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_lock(&r->mu);
    r->stop = 1; /* also when the drain gave up: fh_ring_wait stops waiting */
    pthread_cond_broadcast(&r->progress);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int fh_ring_start(struct fh_ring *r)
{
    if (fh_thread_start(&r->thread, writer_main, r) != 0)
        return FH_ENOMEM;
    r->thread_started = true;
    return 0;
}

void fh_ring_poll(struct fh_ring *r)
{
    if (__atomic_load_n(&r->idle, __ATOMIC_SEQ_CST) &&
        __atomic_load_n(&r->head, __ATOMIC_SEQ_CST) !=
            __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&r->mu);
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->mu);
    }
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    int64_t ns = ts->tv_nsec + (ms % 1000) * 1000000;
    ts->tv_sec += ms / 1000 + ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

bool fh_ring_wait(struct fh_ring *r, int64_t timeout_ms)
{
    struct timespec deadline;
    deadline_in(&deadline, timeout_ms);
    pthread_mutex_lock(&r->mu);
    pthread_cond_signal(&r->wake);
    bool done;
    while (!(done = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) ==
                    __atomic_load_n(&r->head, __ATOMIC_ACQUIRE)) &&
           !r->stop) {
        if (pthread_cond_timedwait(&r->progress, &r->mu, &deadline) == ETIMEDOUT) {
            done = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) ==
                   __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return done;
}

bool fh_ring_sleep(struct fh_ring *r, int64_t ms)
{
    pthread_mutex_lock(&r->mu);
    bool stop = r->stop;
    if (!stop) {
        struct timespec ts;
        deadline_in(&ts, ms);
        pthread_cond_timedwait(&r->wake, &r->mu, &ts);
        stop = r->stop;
    }
    pthread_mutex_unlock(&r->mu);
    return stop;
}

void fh_ring_stop(struct fh_ring *r)
{
    if (!r->thread_started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->thread_started = false;
}

void fh_ring_release(struct fh_ring *r)
{
    fh_ring_stop(r);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->progress);
    free(r->buf);
    r->buf = NULL;
}
