/*
 * spool.c - the durable disk spool (see spool.h for the format and the contract): opening
 * and closing, the writer thread's loop, and the engine's appends. The segments, the drain
 * passes and recovery live beside it (spool_int.h lists the files and the shared state).
 */
#include "sink/spool_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ---- the writer thread ---------------------------------------------------------------------- */

static void *writer_main(void *arg)
{
    struct fh_spool *sp = arg;
    struct batch_out out;
    struct writebuf stage[2];
    memset(&out, 0, sizeof(out));
    memset(stage, 0, sizeof(stage));
    for (;;) {
        int64_t now = fh_clock_monotonic_ns();
        fh__spool_update_limit(sp, now, false);
        pthread_mutex_lock(&sp->mu);
        struct lane *batch = NULL;
        bool stop = sp->stop;
        if (sp->held) {
            /* A failed write's records: again when their time comes (at once when stopping). */
            if (stop || now >= sp->retry_at_ns)
                batch = &sp->lane[1 - sp->fill];
        } else if (!sp->writing && sp->lane[sp->fill].nrec > 0) {
            batch = &sp->lane[sp->fill];
            sp->fill = 1 - sp->fill;
            sp->writing = true;
        }
        bool want_feed = sp->pass && !sp->ra_ready && !sp->filling;
        pthread_mutex_unlock(&sp->mu);

        bool worked = false;
        if (batch != NULL) {
            fh__spool_write_batch(sp, batch, &out, stage);
            now = fh_clock_monotonic_ns();
            pthread_mutex_lock(&sp->mu);
            bool held = fh__spool_apply_batch(sp, batch, &out, now);
            bool give_up =
                held && (stop || now - sp->blocked_since_ns >= sp->cfg.write_grace_ms * 1000000LL);
            pthread_cond_broadcast(&sp->synced);
            pthread_mutex_unlock(&sp->mu);
            if (give_up)
                fh__spool_give_up_held(sp, batch, stop ? "shutdown" : "grace_expired");
            worked = !held || give_up;
            if (out.n > 0)
                fh__spool_update_limit(sp, now, true);
        }
        if (want_feed)
            worked |= fh__spool_feed(sp);
        now = fh_clock_monotonic_ns();
        if (sp->cfg.fsync == FH_SPOOL_FSYNC_INTERVAL &&
            now - sp->last_fsync_ns >= sp->cfg.fsync_interval_ms * 1000000)
            fh__spool_fsync_active(sp);
        if (fh__spool_delete_finished(sp))
            fh__spool_update_limit(sp, now, true);
        /* Keep the checkpoint near the low-water mark, so that a restart skips what is done. */
        pthread_mutex_lock(&sp->mu);
        uint64_t low = fh__spool_low_water(sp, NULL, 0);
        bool ckpt = (low != sp->ckpt_low || sp->ckpt_dirty) &&
                    (now - sp->last_ckpt_ns >= CKPT_PERIOD_NS || stop);
        uint64_t fed_limit = sp->fed_limit;
        if (ckpt) {
            sp->ckpt_low = low;
            sp->last_ckpt_ns = now;
        }
        pthread_mutex_unlock(&sp->mu);
        if (ckpt)
            fh__spool_checkpoint_write(sp, low, fed_limit);

        pthread_mutex_lock(&sp->mu);
        bool more = (!sp->held && sp->lane[sp->fill].nrec > 0) || (sp->held && sp->stop) ||
                    (sp->pass && !sp->ra_ready && !sp->filling && !sp->feed_wait && worked);
        if (sp->stop && !more && !sp->writing) {
            pthread_mutex_unlock(&sp->mu);
            break;
        }
        if (!more) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait_ns = sp->pass ? 5000000 : sp->held ? 50000000 : 100000000;
            int64_t ns = ts.tv_nsec + wait_ns;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&sp->wake, &sp->mu, &ts);
            sp->feed_wait = false;
        }
        pthread_mutex_unlock(&sp->mu);
    }
    /* Stopping: no torn bytes left behind, everything durable. */
    for (size_t i = 0; i < sp->nsegs; i++) {
        struct seg *s = sp->segs[i];
        if (s->torn && s->fd >= 0 && IO(sp, ftruncate, s->fd, (off_t)s->size) == 0) {
            s->torn = false;
            s->synced = false;
        }
        if (s->torn)
            log_error("spool: cannot truncate the bytes of a failed write; the next start "
                      "truncates them",
                      "path=%s size=%" PRIu64, s->path, s->size);
        if (s->fd >= 0 && !s->synced) {
            if (IO(sp, fdatasync, s->fd) == 0)
                stat_add(&sp->stats.fsyncs, 1);
            else
                stat_add(&sp->stats.fsync_errors, 1);
        }
        s->synced = true;
    }
    pthread_mutex_lock(&sp->mu);
    uint64_t low = fh__spool_low_water(sp, NULL, 0);
    uint64_t fed_limit = sp->fed_limit;
    pthread_mutex_unlock(&sp->mu);
    fh__spool_checkpoint_write(sp, low, fed_limit);
    free(out.w);
    free(stage[0].data);
    free(stage[1].data);
    return NULL;
}

/* ---- the engine side ------------------------------------------------------------------------ */

static size_t item_size(const struct fh_spool_record *r)
{
    return ITEM_HEADER + REC_HEADER + BODY_FIXED + r->topic.n + r->key.n + r->headers.n +
           r->value.n;
}

static bool record_ok(const struct fh_spool_record *r)
{
    return r->topic.n <= FH_SPOOL_MAX_TOPIC && r->key.n <= FH_SPOOL_MAX_KEY &&
           r->headers.n <= FH_SPOOL_MAX_HEADERS && r->value.n <= FH_SPOOL_MAX_VALUE;
}

static void lane_account(struct fh_spool *sp, struct lane *l, size_t n, uint64_t gseq)
{
    l->len += n;
    l->nrec++;
    l->min_gseq = min_u64(l->min_gseq, gseq);
    if (gseq > sp->max_gseq)
        sp->max_gseq = gseq;
    stat_add(&sp->stats.queued_bytes, n);
    stat_add(&sp->stats.pending, 1);
}

int fh_spool_append(struct fh_spool *sp, const struct fh_spool_record *r)
{
    if (!record_ok(r))
        return FH_EINVAL;
    size_t n = item_size(r);
    pthread_mutex_lock(&sp->mu);
    if (sp->stop) {
        pthread_mutex_unlock(&sp->mu);
        return FH_ESTATE;
    }
    struct lane *l = &sp->lane[sp->fill];
    uint64_t queued_main = sp->lane[0].main_bytes + sp->lane[1].main_bytes;
    if (sp->held || l->main_bytes + n > sp->lane_base_cap || l->len + n > l->cap ||
        sp->disk_bytes + queued_main + n > sp->limit) {
        pthread_mutex_unlock(&sp->mu);
        stat_add(&sp->stats.refused, 1);
        return FH_ENOSPACE;
    }
    fh__spool_serialize(l->data + l->len, KIND_MAIN, r);
    l->main_bytes += n;
    lane_account(sp, l, n, r->gseq);
    bool wake = !sp->writing;
    if (wake)
        pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->mu);
    stat_add(&sp->stats.appended, 1);
    return 0;
}

void fh_spool_set_floor(struct fh_spool *sp, uint64_t floor)
{
    __atomic_store_n(&sp->floor, floor, __ATOMIC_RELEASE);
}

int fh_spool_append_front(struct fh_spool *sp, const struct fh_spool_record *r)
{
    if (!record_ok(r))
        return FH_EINVAL;
    size_t n = item_size(r);
    pthread_mutex_lock(&sp->mu);
    if (sp->stop) {
        pthread_mutex_unlock(&sp->mu);
        return FH_ESTATE;
    }
    struct lane *l = &sp->lane[sp->fill];
    if (l->len + n > l->cap) {
        /* Front records are never refused for space: grow (a failure path only). */
        size_t cap = l->cap * 2;
        while (cap < l->len + n)
            cap *= 2;
        uint8_t *d = cap <= FRONT_QUEUE_MAX ? realloc(l->data, cap) : NULL;
        if (d == NULL) {
            pthread_mutex_unlock(&sp->mu);
            return FH_ENOMEM;
        }
        l->data = d;
        l->cap = cap;
    }
    fh__spool_serialize(l->data + l->len, KIND_FRONT, r);
    lane_account(sp, l, n, r->gseq);
    l->min_front_gseq = min_u64(l->min_front_gseq, r->gseq);
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->mu);
    stat_add(&sp->stats.appended_front, 1);
    return 0;
}

bool fh_spool_empty(struct fh_spool *sp)
{
    (void)sp;
    return __atomic_load_n(&sp->stats.pending, __ATOMIC_RELAXED) == 0;
}

int fh_spool_sync(struct fh_spool *sp, int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (timeout_ms % 1000) * 1000000;
    ts.tv_sec += timeout_ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    int rc = 0;
    pthread_mutex_lock(&sp->mu);
    pthread_cond_signal(&sp->wake);
    while (sp->lane[0].nrec > 0 || sp->lane[1].nrec > 0 || sp->writing) {
        if (pthread_cond_timedwait(&sp->synced, &sp->mu, &ts) == ETIMEDOUT) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

const struct fh_spool_stats *fh_spool_stats(const struct fh_spool *sp)
{
    return &sp->stats;
}

uint64_t fh_spool_next_gseq(const struct fh_spool *sp)
{
    return sp->next_gseq_at_open;
}

/* ---- opening and closing -------------------------------------------------------------------- */

static int mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* At open: the bound in force, and a warning when max_bytes promises more than the
 * filesystem holds. */
static void check_space(struct fh_spool *sp)
{
    sp->limit = sp->cfg.max_bytes;
    struct statvfs st;
    if (IO(sp, fstatvfs, sp->dirfd, &st) != 0) {
        log_warn("spool: cannot read the filesystem's free space; only max_bytes bounds the "
                 "spool",
                 "dir=%s error=\"%s\"", sp->dir, strerror(errno));
        return;
    }
    uint64_t size = (uint64_t)st.f_blocks * st.f_frsize;
    uint64_t avail = (uint64_t)st.f_bavail * st.f_frsize;
    fh__spool_update_limit(sp, fh_clock_monotonic_ns(), true);
    if (sp->cfg.max_bytes + sp->cfg.reserve_bytes > size)
        log_warn("spool: max_bytes is larger than the spool's filesystem; the free space bounds "
                 "the spool",
                 "dir=%s max_bytes=%" PRIu64 " reserve_bytes=%" PRIu64 " filesystem_bytes=%" PRIu64
                 " free_bytes=%" PRIu64 " bound_bytes=%" PRIu64,
                 sp->dir, sp->cfg.max_bytes, sp->cfg.reserve_bytes, size, avail, sp->limit);
    else if (sp->limit < sp->cfg.max_bytes)
        log_warn("spool: less free space than max_bytes; the free space bounds the spool",
                 "dir=%s max_bytes=%" PRIu64 " free_bytes=%" PRIu64 " bound_bytes=%" PRIu64,
                 sp->dir, sp->cfg.max_bytes, avail, sp->limit);
}

static void spool_free(struct fh_spool *sp)
{
    for (size_t i = 0; i < sp->nsegs; i++)
        fh__spool_seg_free(sp->segs[i]);
    free(sp->segs);
    free(sp->heap);
    free(sp->fl);
    for (int i = 0; i < 2; i++) {
        free(sp->lane[i].data);
        free(sp->ra[i].data);
        free(sp->ra[i].e);
    }
    if (sp->lockfd >= 0)
        close(sp->lockfd); /* releases the flock */
    if (sp->dirfd >= 0)
        close(sp->dirfd);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->wake);
    pthread_cond_destroy(&sp->synced);
    free(sp->dir);
    free(sp->ckpt_path);
    free(sp->ckpt_tmp);
    free(sp);
}

int fh_spool_open(const struct fh_spool_config *cfg, struct fh_spool **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (cfg->dir == NULL || cfg->dir[0] == '\0' || cfg->inflight_max == 0 ||
        cfg->segment_bytes < 4096 || cfg->queue_bytes < 2 * (ITEM_HEADER + REC_HEADER + MAX_BODY)) {
        snprintf(err, errlen,
                 "invalid spool configuration (dir, inflight_max, segment_bytes >= "
                 "4 KiB, queue_bytes >= %d)",
                 2 * (ITEM_HEADER + REC_HEADER + MAX_BODY));
        return FH_EINVAL;
    }
    struct fh_spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    sp->cfg = *cfg;
    if (sp->cfg.write_grace_ms <= 0)
        sp->cfg.write_grace_ms = 10000;
    if (sp->cfg.retry_ms <= 0)
        sp->cfg.retry_ms = 50;
    sp->io = cfg->io != NULL ? cfg->io : &fh_spool_io_default;
    sp->dirfd = -1;
    sp->lockfd = -1;
    sp->dir = strdup(cfg->dir);
    size_t dl = strlen(cfg->dir) + 32;
    sp->ckpt_path = malloc(dl);
    sp->ckpt_tmp = malloc(dl);
    if (sp->ckpt_path != NULL && sp->ckpt_tmp != NULL) {
        snprintf(sp->ckpt_path, dl, "%s/checkpoint", cfg->dir);
        snprintf(sp->ckpt_tmp, dl, "%s/checkpoint.tmp", cfg->dir);
    }
    pthread_mutex_init(&sp->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->wake, &ca);
    pthread_cond_init(&sp->synced, &ca);
    pthread_condattr_destroy(&ca);
    fh_ratelimit_init(&sp->rl, 5, 60LL * 1000000000LL);
    sp->lane_base_cap = cfg->queue_bytes / 2;
    sp->lane[0].min_gseq = sp->lane[1].min_gseq = UINT64_MAX;
    sp->lane[0].min_front_gseq = sp->lane[1].min_front_gseq = UINT64_MAX;
    sp->floor = UINT64_MAX;
    uint64_t fl_cap = 1;
    while (fl_cap < cfg->inflight_max)
        fl_cap <<= 1;
    sp->fl_mask = fl_cap - 1;
    sp->fl = calloc(fl_cap, sizeof(*sp->fl));
    int rc = FH_ENOMEM;
    if (sp->dir == NULL || sp->fl == NULL || sp->ckpt_path == NULL || sp->ckpt_tmp == NULL)
        goto nomem;
    for (int i = 0; i < 2; i++) {
        sp->lane[i].data = malloc(sp->lane_base_cap);
        sp->lane[i].cap = sp->lane_base_cap;
        sp->ra[i].e = calloc(FH_SPOOL_READAHEAD, sizeof(*sp->ra[i].e));
        if (sp->lane[i].data == NULL || sp->ra[i].e == NULL)
            goto nomem;
    }
    sp->heap_cap = cfg->front_hint ? cfg->front_hint : 4096;
    sp->heap = malloc(sp->heap_cap * sizeof(*sp->heap));
    if (sp->heap == NULL)
        goto nomem;

    rc = mkdirs(cfg->dir);
    if (rc == 0) {
        sp->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = sp->dirfd < 0 ? -errno : 0;
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot open spool directory %s: %s", cfg->dir, strerror(-rc));
        goto fail;
    }
    sp->lockfd = openat(sp->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (sp->lockfd < 0 || flock(sp->lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = -errno;
        snprintf(err, errlen,
                 rc == -EWOULDBLOCK ? "spool directory %s is in use by another process"
                                    : "cannot lock spool directory %s: %s",
                 cfg->dir, strerror(-rc));
        goto fail;
    }
    rc = fh__spool_recover(sp, err, errlen);
    if (rc != 0)
        goto fail;
    check_space(sp);
    if (fh_thread_start(&sp->thread, writer_main, sp) != 0) {
        rc = FH_ENOMEM;
        snprintf(err, errlen, "cannot start the spool writer thread");
        goto fail;
    }
    sp->thread_started = true;
    *out = sp;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory for the spool buffers");
fail:
    spool_free(sp);
    return rc;
}

void fh_spool_shutdown(struct fh_spool *sp)
{
    if (sp == NULL || sp->shut)
        return;
    sp->shut = true;
    if (sp->thread_started) {
        pthread_mutex_lock(&sp->mu);
        sp->stop = true;
        sp->pass = false;
        pthread_cond_signal(&sp->wake);
        pthread_mutex_unlock(&sp->mu);
        pthread_join(sp->thread, NULL);
        sp->thread_started = false;
    }
}

void fh_spool_close(struct fh_spool *sp)
{
    if (sp == NULL)
        return;
    fh_spool_shutdown(sp);
    spool_free(sp);
}
