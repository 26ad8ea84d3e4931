/*
 * spool_seg.c - the disk spool's segments: the file operations, the record format, creating
 * segment files, writing the writer's batches into them (a failed write's torn bytes are
 * truncated, its records held and retried), the disk bound and deleting finished segments.
 * See spool.h for the format on disk and spool_int.h for how the spool's files share state.
 */
#include "sink/spool_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- the file operations -------------------------------------------------------------------- */

static int sys_open(void *ctx, const char *path, int flags, int mode)
{
    (void)ctx;
    return open(path, flags, (mode_t)mode);
}

static ssize_t sys_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    (void)ctx;
    return pwrite(fd, p, n, off);
}

static ssize_t sys_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    (void)ctx;
    return pread(fd, p, n, off);
}

static int sys_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd);
}

static int sys_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    return ftruncate(fd, len);
}

static int sys_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to);
}

static int sys_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path);
}

static int sys_fstatvfs(void *ctx, int fd, struct statvfs *st)
{
    (void)ctx;
    return fstatvfs(fd, st);
}

const struct fh_spool_io fh_spool_io_default = {
    .ctx = NULL,
    .open = sys_open,
    .pwrite = sys_pwrite,
    .pread = sys_pread,
    .fdatasync = sys_fdatasync,
    .ftruncate = sys_ftruncate,
    .rename = sys_rename,
    .unlink = sys_unlink,
    .fstatvfs = sys_fstatvfs,
};

/* ---- the record format ---------------------------------------------------------------------- */

/* Checks a record's header and body: returns the body length, or 0. With 0, *need is the
 * number of bytes (from rec) that must be readable to decide, when more than avail; *need 0
 * means the bytes are not a valid record. */
uint32_t fh__spool_record_check(const uint8_t *rec, size_t avail, size_t *need)
{
    *need = 0;
    if (avail < REC_HEADER) {
        *need = REC_HEADER;
        return 0;
    }
    uint32_t len = get_u32(rec);
    if (len < BODY_FIXED || len > MAX_BODY)
        return 0;
    if (avail < REC_HEADER + (size_t)len) {
        *need = REC_HEADER + (size_t)len;
        return 0;
    }
    const uint8_t *b = rec + REC_HEADER;
    uint64_t fields = (uint64_t)BODY_FIXED + get_u16(b + 16) + get_u16(b + 18) + get_u16(b + 20) +
                      get_u32(b + 24);
    if (fields != len || get_u16(b + 16) > FH_SPOOL_MAX_TOPIC ||
        get_u32(b + 24) > FH_SPOOL_MAX_VALUE)
        return 0;
    uint32_t crc = fh_crc32c(0, rec, 4);
    crc = fh_crc32c(crc, b, len);
    if (crc != get_u32(rec + 4))
        return 0;
    return len;
}

/* Fills r from a checked record at rec. */
void fh__spool_record_view(const uint8_t *rec, struct fh_spool_record *r)
{
    const uint8_t *b = rec + REC_HEADER;
    r->gseq = get_u64(b);
    r->timestamp_ms = (int64_t)get_u64(b + 8);
    size_t tl = get_u16(b + 16), kl = get_u16(b + 18), hl = get_u16(b + 20);
    size_t vl = get_u32(b + 24);
    const char *p = (const char *)b + BODY_FIXED;
    r->topic = (struct fh_str){p, tl};
    r->key = (struct fh_str){p + tl, kl};
    r->headers = (struct fh_str){p + tl + kl, hl};
    r->value = (struct fh_str){p + tl + kl + hl, vl};
}

/* Writes r at p as a queued item: u32 kind, then the record with its CRC left 0 for the
 * writer to fill in. p has room for item_size(r) bytes (spool.c). Under mu. */
void fh__spool_serialize(uint8_t *p, int kind, const struct fh_spool_record *r)
{
    put_u32(p, (uint32_t)kind);
    uint8_t *rec = p + ITEM_HEADER;
    uint32_t len = (uint32_t)(BODY_FIXED + r->topic.n + r->key.n + r->headers.n + r->value.n);
    put_u32(rec, len);
    put_u32(rec + 4, 0); /* the writer fills in the CRC */
    uint8_t *b = rec + REC_HEADER;
    put_u64(b, r->gseq);
    put_u64(b + 8, (uint64_t)r->timestamp_ms);
    put_u16(b + 16, (uint16_t)r->topic.n);
    put_u16(b + 18, (uint16_t)r->key.n);
    put_u16(b + 20, (uint16_t)r->headers.n);
    put_u16(b + 22, 0);
    put_u32(b + 24, (uint32_t)r->value.n);
    uint8_t *q = b + BODY_FIXED;
    if (r->topic.n)
        memcpy(q, r->topic.p, r->topic.n);
    q += r->topic.n;
    if (r->key.n)
        memcpy(q, r->key.p, r->key.n);
    q += r->key.n;
    if (r->headers.n)
        memcpy(q, r->headers.p, r->headers.n);
    q += r->headers.n;
    if (r->value.n)
        memcpy(q, r->value.p, r->value.n);
}

/* ---- segments ------------------------------------------------------------------------------ */

static int seg_name(char *buf, size_t n, int kind, uint64_t segno)
{
    return snprintf(buf, n, "%c-%016" PRIx64 ".seg", kind == KIND_MAIN ? 'm' : 'f', segno);
}

/* Inserts s into the segment list, kept sorted by segno. Under mu (or at open).
 * Returns 0 or FH_ENOMEM. */
int fh__spool_segs_insert(struct fh_spool *sp, struct seg *s)
{
    if (sp->nsegs == sp->segs_cap) {
        size_t cap = sp->segs_cap ? sp->segs_cap * 2 : 16;
        struct seg **a = realloc(sp->segs, cap * sizeof(*a));
        if (a == NULL)
            return FH_ENOMEM;
        sp->segs = a;
        sp->segs_cap = cap;
    }
    size_t i = sp->nsegs;
    while (i > 0 && sp->segs[i - 1]->segno > s->segno) {
        sp->segs[i] = sp->segs[i - 1];
        i--;
    }
    sp->segs[i] = s;
    sp->nsegs++;
    return 0;
}

static void segs_remove(struct fh_spool *sp, struct seg *s)
{
    for (size_t i = 0; i < sp->nsegs; i++) {
        if (sp->segs[i] == s) {
            memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*sp->segs));
            sp->nsegs--;
            return;
        }
    }
}

/* Closes and frees a segment; its file stays. NULL is fine. */
void fh__spool_seg_free(struct seg *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}

/* The next main segment after s (or the first one if s is NULL). Under mu. */
struct seg *fh__spool_next_main(struct fh_spool *sp, const struct seg *s)
{
    for (size_t i = 0; i < sp->nsegs; i++) {
        if (sp->segs[i]->kind == KIND_MAIN && (s == NULL || sp->segs[i]->segno > s->segno))
            return sp->segs[i];
    }
    return NULL;
}

/* The segment's descriptor, opening the file if needed: -1 with errno if it cannot be.
 * Writer thread (or open). */
int fh__spool_seg_fd(struct fh_spool *sp, struct seg *s)
{
    if (s->fd < 0)
        s->fd = IO(sp, open, s->path, O_RDWR | O_CLOEXEC, 0);
    return s->fd;
}

/* Makes the directory's entries (segments created or deleted) durable, per the fsync
 * policy. Writer thread (or open). */
void fh__spool_sync_dir(struct fh_spool *sp)
{
    if (!do_fsync(sp))
        return;
    if (fsync(sp->dirfd) == 0)
        stat_add(&sp->stats.fsyncs, 1);
    else
        stat_add(&sp->stats.fsync_errors, 1);
}

static void seg_sync(struct fh_spool *sp, struct seg *s)
{
    if (s->synced || s->fd < 0)
        return;
    if (IO(sp, fdatasync, s->fd) == 0) {
        stat_add(&sp->stats.fsyncs, 1);
    } else {
        /* Linux may have dropped the dirty pages: what was written is read back and checked
         * by its CRC when drained, and given up as unreadable if it is gone. */
        stat_add(&sp->stats.fsync_errors, 1);
        uint64_t suppressed = 0;
        if (fh_ratelimit_allow(&sp->rl, fh_clock_monotonic_ns(), &suppressed))
            log_error("spool: fdatasync failed", "path=%s error=\"%s\" suppressed=%" PRIu64,
                      s->path, strerror(errno), suppressed);
    }
    s->synced = true;
}

/* Creates a new segment file (writer thread, unlocked). Returns NULL on error (logged). */
static struct seg *seg_create(struct fh_spool *sp, int kind, uint64_t segno)
{
    char name[64];
    seg_name(name, sizeof(name), kind, segno);
    size_t plen = strlen(sp->dir) + strlen(name) + 2;
    struct seg *s = calloc(1, sizeof(*s));
    char *path = malloc(plen);
    if (s == NULL || path == NULL) {
        free(s);
        free(path);
        return NULL;
    }
    snprintf(path, plen, "%s/%s", sp->dir, name);
    s->path = path;
    s->segno = segno;
    s->kind = kind;
    s->active = true;
    s->fd = IO(sp, open, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    uint8_t hdr[SEG_HEADER] = {0};
    memcpy(hdr, SEG_MAGIC, 8);
    put_u32(hdr + 8, (uint32_t)kind);
    ssize_t w = s->fd < 0 ? -1 : IO(sp, pwrite, s->fd, hdr, sizeof(hdr), 0);
    if (w != (ssize_t)sizeof(hdr)) {
        int e = w < 0 ? errno : ENOSPC;
        if (s->fd >= 0)
            IO(sp, unlink, path);
        fh__spool_seg_free(s);
        errno = e;
        return NULL;
    }
    s->size = SEG_HEADER;
    if (do_fsync(sp)) {
        seg_sync(sp, s);
        fh__spool_sync_dir(sp);
    }
    s->synced = true;
    return s;
}

/* ---- writing batches ------------------------------------------------------------------------ */

/* Writes n bytes at the segment's end (short writes continue). Returns 0, or -1 with errno:
 * the bytes written before the failure are truncated away again (or the segment is marked
 * torn when even that fails), so the segment ends at its last whole record. Writer thread,
 * unlocked. */
static int seg_write(struct fh_spool *sp, struct seg *s, const uint8_t *p, size_t n)
{
    if (s->torn && fh__spool_seg_fd(sp, s) >= 0 && IO(sp, ftruncate, s->fd, (off_t)s->size) == 0)
        s->torn = false;
    size_t done = 0;
    while (done < n) {
        ssize_t w = fh__spool_seg_fd(sp, s) < 0
                        ? -1
                        : IO(sp, pwrite, s->fd, p + done, n - done, (off_t)(s->size + done));
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        int e = w < 0 ? errno : ENOSPC; /* pwrite returns 0 only when nothing fits */
        if (e == EINTR)
            continue;
        stat_add(&sp->stats.write_errors, 1);
        if (done > 0 || s->torn) {
            s->torn = s->fd < 0 || IO(sp, ftruncate, s->fd, (off_t)s->size) != 0;
        }
        errno = e;
        return -1;
    }
    s->size += n;
    s->synced = false;
    return 0;
}

static int wb_reserve(struct writebuf *w, size_t n)
{
    if (w->len + n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 65536;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *d = realloc(w->data, cap);
    if (d == NULL)
        return FH_ENOMEM;
    w->data = d;
    w->cap = cap;
    return 0;
}

static void touch(struct fh_spool *sp, struct batch_out *o, struct seg *s)
{
    for (int i = 0; i < o->ntouched; i++) {
        if (o->touched[i] == s)
            return;
    }
    if (o->ntouched < 8)
        o->touched[o->ntouched++] = s;
    else if (sp->cfg.fsync == FH_SPOOL_FSYNC_BATCH)
        seg_sync(sp, s);
}

/* Flushes the staged bytes of one kind into its active segment. Returns 0 or -1 (errno). */
static int flush_stage(struct fh_spool *sp, int kind, struct writebuf *stage, struct batch_out *o)
{
    if (stage->len == 0)
        return 0;
    struct seg *s = sp->active[kind];
    int rc = seg_write(sp, s, stage->data, stage->len);
    stage->len = 0;
    if (rc == 0)
        touch(sp, o, s);
    return rc;
}

/*
 * Writes the records of lane b in order. The bytes of one kind are staged and written
 * together; the stage is written whenever the kind changes, a segment fills, or the batch
 * ends, so the records written are always a prefix of the lane. On a failure, o->err holds
 * errno and o->done_off where the unwritten records start; o->w lists the written ones.
 * The active segments and the segment list are changed only by this thread; new segments are
 * inserted under mu.
 */
void fh__spool_write_batch(struct fh_spool *sp, struct lane *b, struct batch_out *o,
                           struct writebuf stage[2])
{
    o->n = 0;
    o->ntouched = 0;
    o->err = 0;
    o->done_off = 0;
    if (o->cap < b->nrec) {
        struct written *w = realloc(o->w, b->nrec * sizeof(*w));
        if (w == NULL) {
            o->err = ENOMEM;
            return;
        }
        o->w = w;
        o->cap = b->nrec;
    }
    size_t off = 0, flushed_n = 0, flushed_off = 0;
    int cur = -1;
    while (off < b->len) {
        uint8_t *item = b->data + off;
        int kind = (int)get_u32(item);
        uint8_t *rec = item + ITEM_HEADER;
        uint32_t len = get_u32(rec);
        size_t reclen = REC_HEADER + len;
        if (cur >= 0 && kind != cur) {
            if (flush_stage(sp, cur, &stage[cur], o) != 0)
                goto fail;
            flushed_n = o->n;
            flushed_off = off;
        }
        cur = kind;
        uint32_t crc = fh_crc32c(0, rec, 4);
        put_u32(rec + 4, fh_crc32c(crc, rec + REC_HEADER, len));

        struct seg *s = sp->active[kind];
        uint64_t at = s ? s->size + stage[kind].len : 0;
        if (s == NULL || (at > SEG_HEADER && at + reclen > sp->cfg.segment_bytes)) {
            if (s != NULL) {
                if (flush_stage(sp, kind, &stage[kind], o) != 0)
                    goto fail;
                flushed_n = o->n;
                flushed_off = off;
                if (do_fsync(sp))
                    seg_sync(sp, s);
                pthread_mutex_lock(&sp->mu);
                s->active = false;
                sp->active[kind] = NULL;
                pthread_mutex_unlock(&sp->mu);
            }
            struct seg *ns = seg_create(sp, kind, sp->next_segno);
            if (ns == NULL)
                goto fail;
            sp->next_segno++;
            pthread_mutex_lock(&sp->mu);
            int irc = fh__spool_segs_insert(sp, ns);
            if (irc == 0) {
                sp->active[kind] = ns;
                sp->disk_bytes += ns->size;
            }
            pthread_mutex_unlock(&sp->mu);
            if (irc != 0) {
                IO(sp, unlink, ns->path);
                fh__spool_seg_free(ns);
                errno = ENOMEM;
                goto fail;
            }
            s = ns;
            at = s->size;
        }
        if (wb_reserve(&stage[kind], reclen) != 0) {
            errno = ENOMEM;
            goto fail;
        }
        memcpy(stage[kind].data + stage[kind].len, rec, reclen);
        stage[kind].len += reclen;
        struct written *w = &o->w[o->n++];
        w->kind = kind;
        w->loc.gseq = get_u64(rec + REC_HEADER);
        w->loc.seg = s;
        w->loc.off = at;
        w->loc.len = (uint32_t)reclen;
        off += ITEM_HEADER + reclen;
    }
    if (cur >= 0 && flush_stage(sp, cur, &stage[cur], o) != 0)
        goto fail;
    o->done_off = b->len;
    if (sp->cfg.fsync == FH_SPOOL_FSYNC_BATCH) {
        for (int i = 0; i < o->ntouched; i++)
            seg_sync(sp, o->touched[i]);
        sp->last_fsync_ns = fh_clock_monotonic_ns();
    }
    return;
fail:
    o->err = errno != 0 ? errno : EIO;
    o->n = flushed_n;
    o->done_off = flushed_off;
    stage[0].len = 0;
    stage[1].len = 0;
    if (sp->cfg.fsync == FH_SPOOL_FSYNC_BATCH) {
        for (int i = 0; i < o->ntouched; i++)
            seg_sync(sp, o->touched[i]);
    }
}

/* Recomputes a lane's accounting from its bytes (after the written prefix was removed). */
static void lane_recount(struct lane *l)
{
    l->nrec = 0;
    l->main_bytes = 0;
    l->min_gseq = UINT64_MAX;
    l->min_front_gseq = UINT64_MAX;
    for (size_t off = 0; off < l->len;) {
        const uint8_t *item = l->data + off;
        size_t n = ITEM_HEADER + REC_HEADER + get_u32(item + ITEM_HEADER);
        uint64_t gseq = get_u64(item + ITEM_HEADER + REC_HEADER);
        l->nrec++;
        if (get_u32(item) == KIND_MAIN)
            l->main_bytes += n;
        else
            l->min_front_gseq = min_u64(l->min_front_gseq, gseq);
        l->min_gseq = min_u64(l->min_gseq, gseq);
        off += n;
    }
}

static void lane_clear(struct fh_spool *sp, struct lane *b)
{
    b->len = 0;
    b->nrec = 0;
    b->main_bytes = 0;
    b->min_gseq = UINT64_MAX;
    b->min_front_gseq = UINT64_MAX;
    /* A burst of front records may have grown the buffer: give the memory back. */
    if (b->cap > sp->lane_base_cap) {
        uint8_t *d = realloc(b->data, sp->lane_base_cap);
        if (d != NULL) {
            b->data = d;
            b->cap = sp->lane_base_cap;
        }
    }
}

/* Applies a written batch under mu. Records a failed write left stay in the lane, held for a
 * retry; returns true when the lane is held. */
bool fh__spool_apply_batch(struct fh_spool *sp, struct lane *b, struct batch_out *o, int64_t now)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < o->n; i++) {
        struct written *w = &o->w[i];
        bytes += w->loc.len;
        if (w->kind == KIND_FRONT) {
            w->loc.seg->total++;
            fh__spool_heap_push_or_log(sp, &w->loc);
        } else {
            w->loc.seg->total++;
            w->loc.seg->unfed++;
            if (sp->main_unfed == 0 || sp->mcur == NULL) {
                sp->mcur = w->loc.seg;
                sp->mcur_off = w->loc.off;
                sp->mcur_gseq_lb = w->loc.gseq;
            }
            sp->main_unfed++;
        }
    }
    sp->disk_bytes += bytes;
    stat_add(&sp->stats.written, o->n);
    stat_add(&sp->stats.bytes_written, bytes);
    stat_sub(&sp->stats.queued_bytes, o->done_off);
    stat_set(&sp->stats.disk_bytes, sp->disk_bytes);
    if (o->err == 0) {
        lane_clear(sp, b);
        sp->writing = false;
        sp->held = false;
        sp->retries = 0;
        if (__atomic_load_n(&sp->stats.blocked, __ATOMIC_RELAXED) != 0) {
            stat_set(&sp->stats.blocked, 0);
            log_info("spool: writing again", "dir=%s blocked_ms=%lld", sp->dir,
                     (long long)((now - sp->blocked_since_ns) / 1000000));
        }
        return false;
    }
    memmove(b->data, b->data + o->done_off, b->len - o->done_off);
    b->len -= o->done_off;
    lane_recount(b);
    if (!sp->held) {
        sp->blocked_since_ns = now;
        log_error("spool: cannot write; records held in memory and retried, new records refused",
                  "dir=%s error=\"%s\" held=%" PRIu32 " grace_ms=%lld", sp->dir, strerror(o->err),
                  b->nrec, (long long)sp->cfg.write_grace_ms);
    }
    sp->held = true;
    sp->held_err = o->err;
    stat_set(&sp->stats.blocked, 1);
    /* retry_ms (50 ms), doubling to 1 s: the drain frees space meanwhile. */
    int64_t delay = (sp->cfg.retry_ms * 1000000LL) << (sp->retries < 5 ? sp->retries : 5);
    sp->retry_at_ns = now + (delay > 1000000000LL ? 1000000000LL : delay);
    sp->retries++;
    return true;
}

/* Gives up the records held in lane b (writer thread, unlocked while reporting them). */
void fh__spool_give_up_held(struct fh_spool *sp, struct lane *b, const char *when)
{
    uint64_t n = b->nrec;
    int err = sp->held_err;
    log_error("spool: records lost: they could not be written",
              "dir=%s when=%s error=\"%s\" lost=%" PRIu64 " blocked_ms=%lld", sp->dir, when,
              strerror(err), n,
              (long long)((fh_clock_monotonic_ns() - sp->blocked_since_ns) / 1000000));
    if (sp->cfg.on_lost != NULL) {
        for (size_t off = 0; off < b->len;) {
            const uint8_t *item = b->data + off;
            struct fh_spool_record r;
            fh__spool_record_view(item + ITEM_HEADER, &r);
            sp->cfg.on_lost(sp->cfg.on_lost_ctx, &r, 1, FH_SPOOL_LOST_WRITE, err);
            off += ITEM_HEADER + REC_HEADER + get_u32(item + ITEM_HEADER);
        }
    }
    pthread_mutex_lock(&sp->mu);
    stat_add(&sp->stats.lost, n);
    stat_sub(&sp->stats.pending, n);
    stat_sub(&sp->stats.queued_bytes, b->len);
    lane_clear(sp, b);
    sp->writing = false;
    sp->held = false;
    pthread_cond_broadcast(&sp->synced);
    pthread_mutex_unlock(&sp->mu);
}

/* Refreshes the bound from the filesystem's free space. Writer thread (or open). */
void fh__spool_update_limit(struct fh_spool *sp, int64_t now, bool force)
{
    if (!force && now - sp->last_statvfs_ns < 50000000)
        return;
    sp->last_statvfs_ns = now;
    struct statvfs st;
    if (IO(sp, fstatvfs, sp->dirfd, &st) != 0)
        return;
    uint64_t avail = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
    pthread_mutex_lock(&sp->mu);
    uint64_t fs_bound = sp->disk_bytes + avail;
    fs_bound = fs_bound > sp->cfg.reserve_bytes ? fs_bound - sp->cfg.reserve_bytes : 0;
    sp->limit = min_u64(sp->cfg.max_bytes, fs_bound);
    pthread_mutex_unlock(&sp->mu);
    stat_set(&sp->stats.limit_bytes, sp->limit);
    stat_set(&sp->stats.fs_free_bytes, avail);
}

/* ---- housekeeping --------------------------------------------------------------------------- */

/* Deletes segments whose records are all done. Writer thread. Returns true if it did. */
bool fh__spool_delete_finished(struct fh_spool *sp)
{
    struct seg *dead[16];
    int ndead = 0;
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < sp->nsegs && ndead < 16; i++) {
        struct seg *s = sp->segs[i];
        if (s->done < s->total)
            continue;
        bool queued = false;
        for (int k = 0; k < 2; k++)
            queued |= sp->lane[k].nrec > 0;
        if (s->active && (queued || sp->writing))
            continue; /* more records are on their way into it */
        if (s->kind == KIND_MAIN && sp->mcur == s) {
            if (sp->main_unfed > 0)
                continue;
            sp->mcur = NULL;
        }
        if (s->active)
            sp->active[s->kind] = NULL;
        dead[ndead++] = s;
    }
    for (int i = 0; i < ndead; i++) {
        segs_remove(sp, dead[i]);
        sp->disk_bytes -= dead[i]->size;
    }
    uint64_t disk_bytes = sp->disk_bytes;
    pthread_mutex_unlock(&sp->mu);
    for (int i = 0; i < ndead; i++) {
        IO(sp, unlink, dead[i]->path);
        fh__spool_seg_free(dead[i]);
    }
    /* The gauge says what the files hold: it drops once they are gone, not before. */
    if (ndead > 0)
        stat_set(&sp->stats.disk_bytes, disk_bytes);
    if (ndead > 0) {
        stat_add(&sp->stats.segments_deleted, (uint64_t)ndead);
        fh__spool_sync_dir(sp);
    }
    return ndead > 0;
}

/* Syncs the active segments (FH_SPOOL_FSYNC_INTERVAL). Writer thread. */
void fh__spool_fsync_active(struct fh_spool *sp)
{
    for (int k = 0; k < 2; k++) {
        if (sp->active[k] != NULL)
            seg_sync(sp, sp->active[k]);
    }
    sp->last_fsync_ns = fh_clock_monotonic_ns();
}
