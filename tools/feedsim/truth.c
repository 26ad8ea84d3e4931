/*
 * truth.c - the truth log: every generated trade as NDJSON, written off the loop thread.
 *
 * Two fixed buffers: the loop appends lines to one while the writer thread writes the other.
 * fs_truth_kick() swaps them when the writer is idle (on a timer and when the loop's buffer
 * is half full), so the loop never makes a write(2) per trade and memory never grows. When
 * both are full the loop gets NULL from fs_truth_reserve and the generator waits: truth
 * lines are never dropped.
 *
 * Locality: fs_truth_* are called on the loop thread; the writer thread only touches the
 * handed buffer and the flags under mu.
 */
#include "fs_core.h"

#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* @locality writer thread */
static void *writer_main(void *arg)
{
    struct fs_truth *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->handed && !t->stop)
            pthread_cond_wait(&t->cv, &t->mu);
        if (!t->handed && t->stop)
            break;
        int which = 1 - t->fill;
        pthread_mutex_unlock(&t->mu);
        bool ok = write_all(t->fd, t->buf[which], t->len[which]);
        pthread_mutex_lock(&t->mu);
        if (!ok)
            t->write_error = true;
        t->len[which] = 0;
        t->handed = false;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int fs_truth_open(struct fs_truth *t, const char *path, size_t buf_cap)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    if (path == NULL)
        return 0;
    t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (t->fd < 0)
        return -errno;
    t->cap = buf_cap;
    t->buf[0] = malloc(buf_cap);
    t->buf[1] = malloc(buf_cap);
    if (t->buf[0] == NULL || t->buf[1] == NULL) {
        free(t->buf[0]);
        free(t->buf[1]);
        close(t->fd);
        return FH_ENOMEM;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    if (pthread_create(&t->thread, NULL, writer_main, t) != 0) {
        free(t->buf[0]);
        free(t->buf[1]);
        close(t->fd);
        return FH_ENOMEM;
    }
    t->on = true;
    return 0;
}

char *fs_truth_reserve(struct fs_truth *t, size_t n)
{
    if (!t->on)
        return NULL;
    if (t->len[t->fill] + n <= t->cap)
        return t->buf[t->fill] + t->len[t->fill];
    fs_truth_kick(t, 0);
    if (t->len[t->fill] + n <= t->cap)
        return t->buf[t->fill] + t->len[t->fill];
    return NULL;
}

void fs_truth_commit(struct fs_truth *t, size_t n)
{
    t->len[t->fill] += n;
    t->lines++;
    if (t->len[t->fill] > t->cap / 2)
        fs_truth_kick(t, 0);
}

void fs_truth_kick(struct fs_truth *t, int64_t now_ns)
{
    if (!t->on || t->len[t->fill] == 0)
        return;
    pthread_mutex_lock(&t->mu);
    if (!t->handed) {
        t->fill = 1 - t->fill;
        t->handed = true;
        pthread_cond_signal(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    if (now_ns != 0)
        t->last_kick_ns = now_ns;
}

void fs_truth_sync(struct fs_truth *t)
{
    if (!t->on)
        return;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&t->mu);
        bool busy = t->handed;
        pthread_mutex_unlock(&t->mu);
        if (!busy) {
            if (t->len[t->fill] == 0)
                return;
            fs_truth_kick(t, 0);
            continue;
        }
        usleep(500);
    }
}

void fs_truth_close(struct fs_truth *t)
{
    if (!t->on)
        return;
    /* Hand over what is left, then stop: the writer finishes the handed buffer first. */
    for (;;) {
        pthread_mutex_lock(&t->mu);
        bool busy = t->handed;
        pthread_mutex_unlock(&t->mu);
        if (!busy)
            break;
        usleep(1000);
    }
    fs_truth_kick(t, 0);
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    if (t->write_error)
        log_error("truth log write failed", "lines=%llu", (unsigned long long)t->lines);
    fsync(t->fd);
    close(t->fd);
    free(t->buf[0]);
    free(t->buf[1]);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    t->on = false;
}
