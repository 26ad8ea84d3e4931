/*
 * spool_drain.c - the disk spool's drain passes: the sorted index of front records and
 * records failed again, the low-water mark and the checkpoint, reading records ahead for a
 * pass (writer thread) and the calls the engine drains with (peek, take, resolve, abort).
 * See spool.h for the contract and spool_int.h for how the spool's files share state.
 */
#include "sink/spool_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the sorted index ----------------------------------------------------------------------- */

/* Adds a record's place to the sorted index. Under mu (or at open). Returns 0 or
 * FH_ENOMEM. */
int fh__spool_heap_push(struct fh_spool *sp, const struct loc *l)
{
    if (sp->nheap == sp->heap_cap) {
        size_t cap = sp->heap_cap ? sp->heap_cap * 2 : 1024;
        struct loc *h = realloc(sp->heap, cap * sizeof(*h));
        if (h == NULL)
            return FH_ENOMEM;
        sp->heap = h;
        sp->heap_cap = cap;
    }
    size_t i = sp->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (sp->heap[parent].gseq <= l->gseq)
            break;
        sp->heap[i] = sp->heap[parent];
        i = parent;
    }
    sp->heap[i] = *l;
    return 0;
}

static struct loc heap_pop(struct fh_spool *sp)
{
    struct loc top = sp->heap[0];
    struct loc last = sp->heap[--sp->nheap];
    size_t i = 0, n = sp->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && sp->heap[c + 1].gseq < sp->heap[c].gseq)
            c++;
        if (last.gseq <= sp->heap[c].gseq)
            break;
        sp->heap[i] = sp->heap[c];
        i = c;
    }
    if (n > 0)
        sp->heap[i] = last;
    return top;
}

/* A failure path that cannot be refused: if even the index cannot grow, the record is lost
 * and said so (it stays on disk and comes back after a restart). */
void fh__spool_heap_push_or_log(struct fh_spool *sp, const struct loc *l)
{
    if (fh__spool_heap_push(sp, l) != 0)
        log_error("spool: out of memory for the record index; the record stays on disk until "
                  "the next start",
                  "gseq=%" PRIu64, l->gseq);
}

/* ---- the low-water mark and the checkpoint ------------------------------------------------ */

/*
 * The checkpoint holds `low` (every record with a smaller gseq is done) and `fed_limit` (no
 * record above it had been read ahead for the engine). It is written before every read-ahead
 * buffer is handed to the engine, so after a crash the records that may already be in Kafka
 * are exactly the pending ones with low <= gseq <= fed_limit: those taken before the crash.
 * Together with the in-flight window (a record may be taken only while fewer than
 * inflight_max records separate it from the oldest unresolved one), this bounds what a crash
 * can deliver twice to inflight_max + 2 * FH_SPOOL_READAHEAD records.
 */

/* The smallest gseq not known to be done. Under mu. extra/nextra: a plan being read. */
uint64_t fh__spool_low_water(struct fh_spool *sp, const struct ra_entry *extra, uint32_t nextra)
{
    uint64_t l = UINT64_MAX;
    if (sp->nheap > 0)
        l = sp->heap[0].gseq;
    for (uint64_t t = sp->fl_head; t < sp->fl_tail; t++) {
        const struct fl_entry *f = &sp->fl[t & sp->fl_mask];
        if (!f->resolved)
            l = min_u64(l, f->loc.gseq);
    }
    for (int b = 0; b < 2; b++) {
        const struct ra_buf *ra = &sp->ra[b];
        uint32_t from = b == sp->ra_eng ? ra->pos : 0;
        if (b != sp->ra_eng && !sp->ra_ready)
            continue;
        for (uint32_t i = from; i < ra->n; i++)
            l = min_u64(l, ra->e[i].loc.gseq);
    }
    for (uint32_t i = 0; i < nextra; i++)
        l = min_u64(l, extra[i].loc.gseq);
    if (sp->main_unfed > 0)
        l = min_u64(l, sp->mcur_gseq_lb);
    l = min_u64(l, sp->lane[0].min_gseq);
    l = min_u64(l, sp->lane[1].min_gseq);
    if (l == UINT64_MAX)
        l = sp->max_gseq + 1;
    /* Records the caller may still hand back as front records. */
    return min_u64(l, __atomic_load_n(&sp->floor, __ATOMIC_ACQUIRE));
}

/* Writes the checkpoint (writer thread, unlocked). Returns false if it could not; the writer
 * tries again (ckpt_dirty) until it can. */
bool fh__spool_checkpoint_write(struct fh_spool *sp, uint64_t low, uint64_t fed_limit)
{
    uint8_t buf[CKPT_SIZE] = {0};
    memcpy(buf, CKPT_MAGIC, 8);
    put_u64(buf + 8, low);
    put_u64(buf + 16, fed_limit);
    put_u32(buf + 24, fh_crc32c(0, buf, 24));
    int fd = IO(sp, open, sp->ckpt_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    bool ok = fd >= 0 && IO(sp, pwrite, fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf);
    if (ok && do_fsync(sp)) {
        ok = IO(sp, fdatasync, fd) == 0;
        stat_add(ok ? &sp->stats.fsyncs : &sp->stats.fsync_errors, 1);
    }
    if (fd >= 0)
        close(fd);
    ok = ok && IO(sp, rename, sp->ckpt_tmp, sp->ckpt_path) == 0;
    if (!ok) {
        /* The old checkpoint stays: a restart then re-produces more records than the
         * documented window (not all flagged as suspects), it never skips one. */
        stat_add(&sp->stats.checkpoint_errors, 1);
        sp->ckpt_dirty = true;
        uint64_t suppressed = 0;
        if (fh_ratelimit_allow(&sp->rl, fh_clock_monotonic_ns(), &suppressed))
            log_error("spool: cannot write the checkpoint",
                      "dir=%s error=\"%s\" suppressed=%" PRIu64, sp->dir, strerror(errno),
                      suppressed);
        return false;
    }
    sp->ckpt_dirty = false;
    stat_add(&sp->stats.checkpoints, 1);
    return true;
}

/* ---- reading ahead for a drain pass --------------------------------------------------------- */

static int ra_reserve(struct ra_buf *ra, size_t n)
{
    if (ra->len + n <= ra->cap)
        return 0;
    size_t cap = ra->cap ? ra->cap : 256 * 1024;
    while (cap < ra->len + n)
        cap *= 2;
    uint8_t *d = realloc(ra->data, cap);
    if (d == NULL)
        return FH_ENOMEM;
    ra->data = d;
    ra->cap = cap;
    return 0;
}

/* Counts a record read back corrupt as finished and lost (given to on_lost: the record's
 * gseq when known, its bytes never). */
static void lost_corrupt(struct fh_spool *sp, struct seg *s, uint64_t gseq, const char *why,
                         int err)
{
    stat_add(&sp->stats.corrupt_records, 1);
    log_error("spool: record unreadable, lost", "path=%s reason=\"%s\" gseq=%" PRIu64, s->path, why,
              gseq);
    if (sp->cfg.on_lost != NULL) {
        struct fh_spool_record r;
        memset(&r, 0, sizeof(r));
        r.gseq = gseq;
        sp->cfg.on_lost(sp->cfg.on_lost_ctx, &r, 1, FH_SPOOL_LOST_UNREADABLE, err);
    }
    pthread_mutex_lock(&sp->mu);
    s->done += 1;
    stat_sub(&sp->stats.pending, 1);
    pthread_mutex_unlock(&sp->mu);
}

/* Reads the record at l into ra (one pread). Returns 0; 1 if the read failed and should be
 * tried again later; -1 if it is unreadable (counted and reported). */
static int read_one(struct fh_spool *sp, struct ra_buf *ra, const struct loc *l)
{
    if (ra_reserve(ra, l->len) != 0)
        return 1;
    uint8_t *dst = ra->data + ra->len;
    ssize_t r = fh__spool_seg_fd(sp, l->seg) < 0
                    ? -1
                    : IO(sp, pread, l->seg->fd, dst, l->len, (off_t)l->off);
    int e = r < 0 ? errno : 0;
    size_t need;
    if (r == (ssize_t)l->len && fh__spool_record_check(dst, l->len, &need) + REC_HEADER == l->len) {
        sp->read_streak = 0;
        return 0;
    }
    if (r != (ssize_t)l->len) {
        stat_add(&sp->stats.read_errors, 1);
        if (++sp->read_streak < FH_SPOOL_READ_TRIES)
            return 1;
    }
    sp->read_streak = 0;
    lost_corrupt(sp, l->seg, l->gseq,
                 r != (ssize_t)l->len ? (e ? strerror(e) : "short read") : "checksum", e);
    return -1;
}

struct plan {
    struct ra_entry *e;
    uint32_t n;
    uint64_t gen;
    /* Main records: where the plan starts and how far it may go. */
    struct seg *mseg;
    uint64_t moff;
    uint64_t mmax; /* main records it may take */
    /* After reading: the new cursor. */
    struct seg *mseg_end;
    uint64_t moff_end;
    uint64_t mtaken;
    uint64_t last_main_gseq;
    struct seg *bad; /* a main segment whose unread rest cannot be read: lost */
    const char *bad_why;
    uint64_t bad_lost;
    struct loc retry[FH_SPOOL_READAHEAD]; /* indexed records to read again */
};

/* Reads main records from (p->mseg, p->moff) into ra, at most p->mmax of them and at most
 * room entries in all. Writer thread, unlocked: only this thread changes segments. A segment
 * whose bytes do not check out (our own writes: a failing disk) stops the reading and is
 * reported in p->bad. */
static void read_main(struct fh_spool *sp, struct ra_buf *ra, struct plan *p, uint32_t room)
{
    struct seg *s = p->mseg;
    uint64_t off = p->moff;
    while (s != NULL && p->mtaken < p->mmax && p->n < room) {
        pthread_mutex_lock(&sp->mu);
        uint64_t size = s->size;
        bool active = s->active;
        struct seg *next = fh__spool_next_main(sp, s);
        pthread_mutex_unlock(&sp->mu);
        if (off >= size) {
            if (active || next == NULL)
                break;
            s = next;
            off = SEG_HEADER;
            continue;
        }
        size_t want = (size_t)min_u64(size - off, READ_CHUNK);
        if (ra_reserve(ra, want) != 0)
            break;
        uint8_t *dst = ra->data + ra->len;
        ssize_t r = fh__spool_seg_fd(sp, s) < 0 ? -1 : IO(sp, pread, s->fd, dst, want, (off_t)off);
        if (r <= 0) {
            stat_add(&sp->stats.read_errors, 1);
            if (++sp->read_streak < FH_SPOOL_READ_TRIES)
                break; /* again in the next round */
            sp->read_streak = 0;
            p->bad = s;
            p->bad_why = r < 0 ? strerror(errno) : "short read";
            break;
        }
        sp->read_streak = 0;
        size_t avail = (size_t)r, used = 0;
        while (used < avail && p->mtaken < p->mmax && p->n < room) {
            size_t need;
            uint32_t len = fh__spool_record_check(dst + used, avail - used, &need);
            if (len == 0 && need > 0 && off + need <= size) {
                if (used > 0)
                    break; /* continues past this chunk: read it in the next round */
                /* One record larger than a chunk: read it whole. */
                if (ra_reserve(ra, need) != 0)
                    goto out;
                dst = ra->data + ra->len;
                if (IO(sp, pread, s->fd, dst, need, (off_t)off) != (ssize_t)need) {
                    stat_add(&sp->stats.read_errors, 1);
                    if (++sp->read_streak < FH_SPOOL_READ_TRIES)
                        goto out;
                    sp->read_streak = 0;
                    p->bad = s;
                    p->bad_why = "short read";
                    goto out;
                }
                avail = need;
                continue;
            }
            if (len == 0) {
                p->bad = s;
                p->bad_why = "checksum";
                goto out;
            }
            struct ra_entry *e = &p->e[p->n++];
            e->loc.seg = s;
            e->loc.off = off;
            e->loc.len = REC_HEADER + len;
            e->loc.gseq = get_u64(dst + used + REC_HEADER);
            e->from_index = false;
            e->data_off = (uint32_t)(ra->len + used);
            p->last_main_gseq = e->loc.gseq;
            used += REC_HEADER + len;
            off += REC_HEADER + len;
            p->mtaken++;
        }
        ra->len += used;
    }
out:
    p->mseg_end = s;
    p->moff_end = off;
}

/* Under mu: the plan's main records are now read ahead; a bad segment's unread records are
 * lost (counted), and the cursor moves past it. */
static void commit_main(struct fh_spool *sp, struct plan *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        if (!p->e[i].from_index)
            p->e[i].loc.seg->unfed--;
    }
    sp->main_unfed -= p->mtaken;
    sp->mcur = p->mseg_end;
    sp->mcur_off = p->moff_end;
    if (p->mtaken > 0)
        sp->mcur_gseq_lb = p->last_main_gseq + 1;
    if (p->bad != NULL) {
        struct seg *s = p->bad;
        uint64_t lost = s->unfed;
        s->unfed = 0;
        s->done += lost;
        sp->main_unfed -= lost;
        stat_sub(&sp->stats.pending, lost);
        stat_add(&sp->stats.corrupt_records, lost);
        p->bad_lost = lost;
        log_error("spool: segment unreadable, its unread records are lost",
                  "path=%s reason=\"%s\" lost=%" PRIu64, s->path, p->bad_why, lost);
        sp->mcur = fh__spool_next_main(sp, s);
        sp->mcur_off = SEG_HEADER;
    }
}

/* One round of reading ahead. Returns true if it did something. Writer thread. */
bool fh__spool_feed(struct fh_spool *sp)
{
    struct plan p;
    memset(&p, 0, sizeof(p));
    pthread_mutex_lock(&sp->mu);
    int wb = 1 - sp->ra_eng;
    struct ra_buf *ra = &sp->ra[wb];
    const struct ra_buf *eng = &sp->ra[sp->ra_eng];
    uint64_t span = sp->fl_tail - sp->fl_head + (eng->n - eng->pos);
    bool can = sp->pass && !sp->ra_ready && !sp->filling && !sp->stop;
    uint32_t room = 0;
    if (can && span < sp->cfg.inflight_max)
        room = (uint32_t)min_u64(FH_SPOOL_READAHEAD, sp->cfg.inflight_max - span);
    if (can && room == 0)
        sp->feed_wait = true;
    /* Front records (and records failed again) go first, in gseq order; main records only
     * when no front record is pending or still queued. An indexed record goes only when no
     * older front record still waits to be written (queued, or held by a failed write). */
    uint64_t front_min = min_u64(sp->lane[0].min_front_gseq, sp->lane[1].min_front_gseq);
    bool front_queued = front_min != UINT64_MAX;
    bool heap_ok = sp->nheap > 0 && sp->heap[0].gseq < front_min;
    if (room == 0 || (!heap_ok && (sp->nheap > 0 || sp->main_unfed == 0 || front_queued))) {
        pthread_mutex_unlock(&sp->mu);
        return false;
    }
    p.e = ra->e;
    p.gen = sp->pass_gen;
    ra->len = 0;
    ra->n = 0;
    ra->pos = 0;
    while (sp->nheap > 0 && p.n < room && sp->heap[0].gseq < front_min) {
        struct ra_entry *e = &p.e[p.n++];
        e->loc = heap_pop(sp);
        e->from_index = true;
    }
    bool main_ok = sp->nheap == 0 && !front_queued && p.n < room;
    if (main_ok) {
        p.mseg = sp->mcur;
        p.moff = sp->mcur_off;
        p.mmax = sp->main_unfed;
    }
    sp->filling = true;
    pthread_mutex_unlock(&sp->mu);

    /* Read the indexed records one by one, then main records in chunks. A record whose read
     * fails goes back to the index for the next round, and so does every indexed record
     * after it: they are handed out in gseq order. */
    uint32_t kept = 0, nretry = 0;
    for (uint32_t i = 0; i < p.n; i++) {
        struct ra_entry e = p.e[i];
        e.data_off = (uint32_t)ra->len;
        int rc = nretry > 0 ? 1 : read_one(sp, ra, &e.loc);
        if (rc < 0)
            continue;
        if (rc > 0) {
            p.retry[nretry++] = e.loc;
            continue;
        }
        ra->len += e.loc.len;
        p.e[kept++] = e;
    }
    p.n = kept;
    if (nretry > 0)
        main_ok = false;
    if (main_ok && p.mseg != NULL)
        read_main(sp, ra, &p, room);

    /* The checkpoint must name every record the engine may take before it can take it. */
    uint64_t fed_limit = sp->fed_limit;
    for (uint32_t i = 0; i < p.n; i++)
        fed_limit = p.e[i].loc.gseq > fed_limit ? p.e[i].loc.gseq : fed_limit;
    pthread_mutex_lock(&sp->mu);
    for (uint32_t i = 0; i < nretry; i++)
        fh__spool_heap_push_or_log(sp, &p.retry[i]);
    uint64_t low = fh__spool_low_water(sp, p.e, p.n);
    pthread_mutex_unlock(&sp->mu);
    if (p.n > 0)
        fh__spool_checkpoint_write(sp, low, fed_limit);

    pthread_mutex_lock(&sp->mu);
    sp->filling = false;
    if (p.gen != sp->pass_gen || !sp->pass) {
        /* The pass ended while we were reading: put everything back. */
        for (uint32_t i = 0; i < p.n; i++) {
            if (p.e[i].from_index)
                fh__spool_heap_push_or_log(sp, &p.e[i].loc);
        }
        ra->len = 0;
        ra->n = 0;
    } else {
        ra->n = p.n;
        ra->pos = 0;
        sp->ra_ready = p.n > 0;
        sp->fed_limit = fed_limit;
        sp->ckpt_low = low;
        sp->ckpt_fed_limit = fed_limit;
        sp->last_ckpt_ns = fh_clock_monotonic_ns();
        if (main_ok && (p.mtaken > 0 || p.bad != NULL))
            commit_main(sp, &p);
    }
    pthread_mutex_unlock(&sp->mu);
    if (p.bad_lost > 0 && sp->cfg.on_lost != NULL)
        sp->cfg.on_lost(sp->cfg.on_lost_ctx, NULL, p.bad_lost, FH_SPOOL_LOST_UNREADABLE, 0);
    return p.n > 0 || p.bad != NULL;
}

/* ---- the engine side of a pass -------------------------------------------------------------- */

void fh_spool_drain_begin(struct fh_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    sp->pass = true;
    sp->pass_gen++;
    sp->peeked = false;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->mu);
}

/* Under mu: nothing is left to hand out in this pass. */
static bool pass_complete(const struct fh_spool *sp)
{
    const struct ra_buf *eng = &sp->ra[sp->ra_eng];
    return eng->pos >= eng->n && !sp->ra_ready && !sp->filling && sp->nheap == 0 &&
           sp->main_unfed == 0 && sp->lane[0].nrec == 0 && sp->lane[1].nrec == 0 && !sp->writing;
}

int fh_spool_drain_peek(struct fh_spool *sp, struct fh_spool_record *r, uint64_t *token)
{
    struct ra_buf *eng = &sp->ra[sp->ra_eng];
    /* The engine's buffer is its own: no lock needed to read it (only to change pos, which
     * the writer reads). The window is checked against the FIFO under mu only when the
     * buffer's front changes. */
    if (eng->pos < eng->n) {
        if (!sp->peeked) {
            pthread_mutex_lock(&sp->mu);
            bool full = sp->fl_tail - sp->fl_head >= sp->cfg.inflight_max;
            pthread_mutex_unlock(&sp->mu);
            if (full)
                return FH_SPOOL_WAIT;
        }
        fh__spool_record_view(eng->data + eng->e[eng->pos].data_off, r);
        sp->peeked = true;
        if (token != NULL)
            *token = sp->fl_tail; /* only this thread changes it */
        return FH_SPOOL_RECORD;
    }
    pthread_mutex_lock(&sp->mu);
    int rc;
    if (!sp->pass) {
        rc = FH_SPOOL_IDLE;
    } else if (sp->ra_ready) {
        sp->ra_eng = 1 - sp->ra_eng;
        sp->ra_ready = false;
        pthread_cond_signal(&sp->wake);
        rc = FH_SPOOL_WAIT;
    } else if (pass_complete(sp)) {
        sp->pass = false;
        rc = FH_SPOOL_COMPLETE;
    } else {
        rc = FH_SPOOL_WAIT;
    }
    pthread_mutex_unlock(&sp->mu);
    if (rc == FH_SPOOL_WAIT && sp->ra[sp->ra_eng].pos < sp->ra[sp->ra_eng].n)
        return fh_spool_drain_peek(sp, r, token);
    return rc;
}

uint64_t fh_spool_drain_take(struct fh_spool *sp)
{
    struct ra_buf *eng = &sp->ra[sp->ra_eng];
    sp->peeked = false;
    /* pos moves under mu: the writer reads it (the window in fh__spool_feed, the low-water
     * mark) while the engine takes. */
    pthread_mutex_lock(&sp->mu);
    struct ra_entry *e = &eng->e[eng->pos++];
    uint64_t token = sp->fl_tail++;
    struct fl_entry *f = &sp->fl[token & sp->fl_mask];
    f->loc = e->loc;
    f->resolved = false;
    sp->fl_unresolved++;
    pthread_mutex_unlock(&sp->mu);
    stat_add(&sp->stats.fed, 1);
    return token;
}

void fh_spool_resolve(struct fh_spool *sp, uint64_t token, bool done)
{
    pthread_mutex_lock(&sp->mu);
    struct fl_entry *f = &sp->fl[token & sp->fl_mask];
    if (token >= sp->fl_tail || token < sp->fl_head || f->resolved) {
        pthread_mutex_unlock(&sp->mu);
        log_error("spool: resolve of an unknown token (a bug)", "token=%" PRIu64, token);
        return;
    }
    f->resolved = true;
    sp->fl_unresolved--;
    if (done) {
        f->loc.seg->done++;
        stat_sub(&sp->stats.pending, 1);
    } else {
        fh__spool_heap_push_or_log(sp, &f->loc);
    }
    while (sp->fl_head < sp->fl_tail && sp->fl[sp->fl_head & sp->fl_mask].resolved)
        sp->fl_head++;
    if (sp->feed_wait) {
        sp->feed_wait = false;
        pthread_cond_signal(&sp->wake);
    }
    pthread_mutex_unlock(&sp->mu);
    stat_add(done ? &sp->stats.done : &sp->stats.retried, 1);
}

/* Puts back the unread entries of a read-ahead buffer. Under mu. Returns the first main
 * entry put back (or NULL) and counts main entries in *nmain. */
static const struct ra_entry *ra_return(struct fh_spool *sp, struct ra_buf *ra, uint32_t from,
                                        uint64_t *nmain)
{
    const struct ra_entry *first_main = NULL;
    for (uint32_t i = from; i < ra->n; i++) {
        if (ra->e[i].from_index) {
            fh__spool_heap_push_or_log(sp, &ra->e[i].loc);
        } else {
            if (first_main == NULL)
                first_main = &ra->e[i];
            ra->e[i].loc.seg->unfed++;
            (*nmain)++;
        }
    }
    return first_main;
}

void fh_spool_drain_abort(struct fh_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    if (sp->pass) {
        sp->pass = false;
        sp->pass_gen++;
        uint64_t nmain = 0;
        struct ra_buf *eng = &sp->ra[sp->ra_eng];
        const struct ra_entry *m = ra_return(sp, eng, eng->pos, &nmain);
        if (sp->ra_ready) {
            const struct ra_entry *m2 = ra_return(sp, &sp->ra[1 - sp->ra_eng], 0, &nmain);
            if (m == NULL)
                m = m2;
            sp->ra[1 - sp->ra_eng].n = 0;
            sp->ra_ready = false;
        }
        if (m != NULL) {
            sp->mcur = m->loc.seg;
            sp->mcur_off = m->loc.off;
            sp->mcur_gseq_lb = m->loc.gseq;
            sp->main_unfed += nmain;
        }
        eng->n = 0;
        eng->pos = 0;
        sp->peeked = false;
        pthread_cond_signal(&sp->wake);
    }
    pthread_mutex_unlock(&sp->mu);
}

uint32_t fh_spool_in_flight(struct fh_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    uint32_t n = sp->fl_unresolved;
    pthread_mutex_unlock(&sp->mu);
    return n;
}
