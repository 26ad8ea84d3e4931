/*
 * test_spool_faults.c - storage fault injection for the disk spool, in the spirit of SQLite's
 * and Kafka's fault tests.
 *
 * Every case is driven by a seed: a workload (front records in shuffled gseq order, then
 * main records, drain passes with failures, a clean stop, a restart that drains what is left)
 * runs over struct fh_spool_io with one fault injected at a write or read step the seed
 * picks:
 *   enospc   writes and file creation fail with ENOSPC until a segment is deleted (the drain
 *            frees space) or a number of operations passed
 *   eio      writes fail with EIO for a few operations
 *   short    a write writes half and the next one fails (torn bytes must be truncated)
 *   fsync    fdatasync fails for a few operations
 *   erofs    from that step on every write, creation, rename and truncation fails (EROFS)
 *   ckpt     the checkpoint's rename fails for a while
 *   readeio  reads fail with EIO (a few times: retried; many: the records are given up)
 *   crash    the process dies at that write step (a forked child calls _exit; a pwrite
 *            there writes half first), and the parent recovers the directory
 * Every case ends with a reconciliation, to the record:
 *   - non-crash: every record the spool accepted was delivered by the first run, reported to
 *     on_lost (by gseq, or counted when its bytes were unreadable), or recovered and
 *     delivered by the restart; none delivered and reported lost; duplicates only among the
 *     restart's suspects; first deliveries in gseq order; contents byte-exact; and the clean
 *     stop left no torn tail (the restart truncates nothing);
 *   - crash: every record acknowledged by a successful fh_spool_sync before the crash was
 *     delivered before it or is recovered; nothing recovered that was not appended; contents
 *     byte-exact; duplicates within the documented window.
 * The test prints the number of cases by fault and by outcome.
 */
#include "testutil.h"

#include "core/err.h"
#include "sink/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

enum mode { M_ENOSPC, M_EIO, M_SHORT, M_FSYNC, M_EROFS, M_CKPT, M_READEIO, M_CRASH, M_COUNT };
static const char *const MODE_NAMES[M_COUNT] = {"enospc", "eio",  "short",   "fsync",
                                                "erofs",  "ckpt", "readeio", "crash"};

#define MAX_G   4096
#define WORKERS 4
#define CRASHED 77 /* the exit status of a child that crashed at the injected step */

/* ---- a small deterministic generator ----------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd_upto(uint64_t *s, uint64_t n)
{
    return n == 0 ? 0 : rnd(s) % n;
}

/* ---- records: contents are a function of gseq --------------------------------------------- */

struct rec {
    char key[48];
    uint8_t headers[16];
    char value[400];
    struct fh_spool_record r;
};

static void make_rec(struct rec *x, uint64_t gseq)
{
    int kn = snprintf(x->key, sizeof(x->key), "binance:SYM-%llu", (unsigned long long)(gseq % 5));
    for (size_t i = 0; i < sizeof(x->headers); i++)
        x->headers[i] = (uint8_t)(gseq * 17 + i);
    size_t vn = 1 + (gseq * 7919) % (sizeof(x->value) - 1);
    for (size_t i = 0; i < vn; i++)
        x->value[i] = (char)(gseq * 3 + i * 11);
    x->r.gseq = gseq;
    x->r.timestamp_ms = 1700000000000LL + (int64_t)gseq;
    x->r.topic = fh_str_c("trades");
    x->r.key = (struct fh_str){x->key, (size_t)kn};
    x->r.headers = (struct fh_str){(const char *)x->headers, sizeof(x->headers)};
    x->r.value = (struct fh_str){x->value, vn};
}

static bool rec_ok(const struct fh_spool_record *r)
{
    struct rec want;
    if (r->gseq == 0 || r->gseq >= MAX_G)
        return false;
    make_rec(&want, r->gseq);
    return r->timestamp_ms == want.r.timestamp_ms && fh_str_eq(r->topic, want.r.topic) &&
           fh_str_eq(r->key, want.r.key) && fh_str_eq(r->headers, want.r.headers) &&
           fh_str_eq(r->value, want.r.value);
}

/* ---- the injection layer ------------------------------------------------------------------ */

struct inj {
    enum mode mode;
    uint64_t at;   /* the operation (write class, or read for readeio) where the fault starts */
    uint64_t len;  /* how many operations it lasts */
    uint64_t ops;  /* write-class operations so far */
    uint64_t kops; /* operations of the class the fault targets */
    uint64_t reads;
    bool healed; /* enospc: a segment was deleted */
    bool short_done;
    uint64_t injected;
    pthread_mutex_t mu;
};

static bool in_window(struct inj *j, uint64_t n)
{
    return n >= j->at && n < j->at + j->len;
}

/* Counts one write-class operation; returns the errno to fail it with, or 0. For crash, dies
 * here (half_write: the caller writes half first). */
enum op { OP_WRITE, OP_CREATE, OP_FSYNC, OP_TRUNCATE, OP_RENAME, OP_UNLINK };

/* Whether an operation counts toward the fault's position: data writes (pwrite, creating a
 * file) for the disk faults, fdatasync for fsync, rename for ckpt, every write-class
 * operation for crash. */
static bool targeted(enum mode m, enum op op)
{
    switch (m) {
    case M_FSYNC:
        return op == OP_FSYNC;
    case M_CKPT:
        return op == OP_RENAME;
    case M_CRASH:
        return true;
    default:
        return op == OP_WRITE || op == OP_CREATE;
    }
}

static int write_op(struct inj *j, enum op op, bool *half)
{
    bool is_pwrite = op == OP_WRITE;
    pthread_mutex_lock(&j->mu);
    j->ops++;
    if (!targeted(j->mode, op)) {
        bool dead = j->mode == M_EROFS && j->kops > j->at;
        *half = false;
        pthread_mutex_unlock(&j->mu);
        return dead ? EROFS : 0;
    }
    uint64_t n = j->kops++;
    int e = 0;
    *half = false;
    switch (j->mode) {
    case M_ENOSPC:
        if (n >= j->at && !j->healed && n < j->at + j->len)
            e = ENOSPC;
        break;
    case M_EIO:
        if (in_window(j, n))
            e = EIO;
        break;
    case M_SHORT:
        if (n >= j->at && is_pwrite && !j->short_done) {
            *half = true;
            j->short_done = true;
        } else if (j->short_done && n >= j->at && n < j->at + j->len && is_pwrite) {
            e = ENOSPC;
        }
        break;
    case M_EROFS:
        if (n >= j->at)
            e = EROFS;
        break;
    case M_FSYNC:
    case M_CKPT:
        if (in_window(j, n))
            e = EIO;
        break;
    case M_CRASH:
        if (n == j->at) {
            if (!is_pwrite)
                _exit(CRASHED);
            *half = true; /* the caller writes half, then dies */
        }
        break;
    default:
        break;
    }
    if (e != 0 || *half)
        j->injected++;
    pthread_mutex_unlock(&j->mu);
    return e;
}

static int j_open(void *ctx, const char *path, int flags, int mode)
{
    struct inj *j = ctx;
    if (flags & O_CREAT) {
        bool half;
        int e = write_op(j, OP_CREATE, &half);
        if (e != 0 && (j->mode == M_ENOSPC || j->mode == M_EROFS || j->mode == M_EIO)) {
            errno = e;
            return -1;
        }
    }
    return open(path, flags, (mode_t)mode);
}

static ssize_t j_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    struct inj *j = ctx;
    bool half;
    int e = write_op(j, OP_WRITE, &half);
    if (e != 0) {
        errno = e;
        return -1;
    }
    if (half && n > 1) {
        ssize_t w = pwrite(fd, p, n / 2, off);
        if (j->mode == M_CRASH)
            _exit(CRASHED);
        return w;
    }
    if (half && j->mode == M_CRASH)
        _exit(CRASHED);
    return pwrite(fd, p, n, off);
}

static ssize_t j_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    struct inj *j = ctx;
    if (j->mode == M_READEIO) {
        pthread_mutex_lock(&j->mu);
        uint64_t k = j->reads++;
        bool fail = in_window(j, k);
        if (fail)
            j->injected++;
        pthread_mutex_unlock(&j->mu);
        if (fail) {
            errno = EIO;
            return -1;
        }
    }
    return pread(fd, p, n, off);
}

static int j_fdatasync(void *ctx, int fd)
{
    struct inj *j = ctx;
    bool half;
    int e = write_op(j, OP_FSYNC, &half);
    if (j->mode == M_FSYNC && e == EIO) {
        pthread_mutex_lock(&j->mu);
        j->injected++;
        pthread_mutex_unlock(&j->mu);
        errno = EIO;
        return -1;
    }
    if (e != 0 && j->mode == M_EROFS) {
        errno = e;
        return -1;
    }
    return fdatasync(fd);
}

static int j_ftruncate(void *ctx, int fd, off_t len)
{
    struct inj *j = ctx;
    bool half;
    int e = write_op(j, OP_TRUNCATE, &half);
    if (e != 0 && j->mode == M_EROFS) {
        errno = e;
        return -1;
    }
    return ftruncate(fd, len);
}

static int j_rename(void *ctx, const char *from, const char *to)
{
    struct inj *j = ctx;
    bool half;
    int e = write_op(j, OP_RENAME, &half);
    if (j->mode == M_CKPT && e == EIO) {
        errno = EIO;
        return -1;
    }
    if (e != 0 && (j->mode == M_EROFS || j->mode == M_ENOSPC)) {
        errno = e;
        return -1;
    }
    return rename(from, to);
}

static int j_unlink(void *ctx, const char *path)
{
    struct inj *j = ctx;
    bool half;
    int e = write_op(j, OP_UNLINK, &half);
    if (e != 0 && j->mode == M_EROFS) {
        errno = e;
        return -1;
    }
    int rc = unlink(path);
    if (rc == 0 && j->mode == M_ENOSPC) {
        pthread_mutex_lock(&j->mu);
        if (j->kops > j->at)
            j->healed = true; /* space freed */
        pthread_mutex_unlock(&j->mu);
    }
    return rc;
}

static int j_fstatvfs(void *ctx, int fd, struct statvfs *st)
{
    (void)ctx;
    return fstatvfs(fd, st);
}

/* ---- the workload --------------------------------------------------------------------------- */

static bool dbg(void);

enum {
    S_NONE = 0,
    S_ACCEPTED = 1,
    S_DELIVERED = 2,
    S_LOST = 4,
    S_RECOVERED = 8,
    S_SYNCED = 16,
    S_TRIED = 32 /* crash child: handed to the spool (it may have been written before the call
                  * returned and the process died) */
};

struct run {
    uint8_t st[MAX_G];
    uint16_t delivered_n[MAX_G];
    uint64_t lost_anon; /* records given up without a readable gseq */
    uint64_t refused;
    uint64_t order_errors;
    uint64_t content_errors;
    uint64_t last_first; /* gseq of the last first delivery */
    int log_fd;          /* crash child: events to the parent */
    pthread_mutex_t mu;
};

static void event(struct run *r, char what, uint64_t g)
{
    if (r->log_fd < 0)
        return;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%c %llu\n", what, (unsigned long long)g);
    ssize_t w = write(r->log_fd, buf, (size_t)n);
    (void)w;
}

static void on_lost(void *ctx, const struct fh_spool_record *rec, uint64_t n,
                    enum fh_spool_loss why, int err)
{
    struct run *r = ctx;
    (void)why;
    (void)err;
    pthread_mutex_lock(&r->mu);
    if (rec != NULL && rec->gseq > 0 && rec->gseq < MAX_G) {
        r->st[rec->gseq] |= S_LOST;
        if (rec->key.n > 0 && !rec_ok(rec))
            r->content_errors++;
    } else {
        r->lost_anon += n;
    }
    pthread_mutex_unlock(&r->mu);
}

static void deliver(struct run *r, const struct fh_spool_record *rec, uint8_t flag)
{
    if (!rec_ok(rec)) {
        r->content_errors++;
        if (dbg())
            fprintf(stderr, "  content: gseq %llu key %.*s value %zu bytes\n",
                    (unsigned long long)rec->gseq, (int)rec->key.n, rec->key.p, rec->value.n);
        return;
    }
    uint64_t g = rec->gseq;
    if (r->delivered_n[g] == 0 && flag == S_DELIVERED) {
        if (g < r->last_first) {
            r->order_errors++;
            if (dbg())
                fprintf(stderr, "  order: gseq %llu first delivered after %llu\n",
                        (unsigned long long)g, (unsigned long long)r->last_first);
        }
        r->last_first = g;
    }
    r->delivered_n[g]++;
    r->st[g] |= flag;
    event(r, flag == S_DELIVERED ? 'D' : 'R', g);
}

/*
 * Drains: takes up to `window` records, resolves them in order, and now and then fails one
 * (it and everything taken after it go back; the pass is aborted and begun again), as the
 * Kafka sink does. Stops on COMPLETE or after budget_ms.
 */
static void drain(struct fh_spool *sp, struct run *r, uint64_t *seed, uint8_t flag,
                  int64_t budget_ms, bool failures)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t tokens[64];
    struct rec copies[1];
    (void)copies;
    fh_spool_drain_begin(sp);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > budget_ms)
            break;
        uint32_t window = 1 + (uint32_t)rnd_upto(seed, 32);
        uint32_t n = 0;
        struct fh_spool_record recs[64];
        static uint8_t bufs[64][1024];
        int rc = FH_SPOOL_WAIT;
        while (n < window) {
            rc = fh_spool_drain_peek(sp, &recs[n], NULL);
            if (rc != FH_SPOOL_RECORD)
                break;
            /* The view is valid until the next drain call: keep a copy. */
            struct fh_spool_record *x = &recs[n];
            size_t off = 0;
            uint8_t *b = bufs[n];
            memcpy(b + off, x->key.p, x->key.n);
            x->key.p = (const char *)b + off;
            off += x->key.n;
            memcpy(b + off, x->headers.p, x->headers.n);
            x->headers.p = (const char *)b + off;
            off += x->headers.n;
            memcpy(b + off, x->value.p, x->value.n);
            x->value.p = (const char *)b + off;
            off += x->value.n;
            memcpy(b + off, x->topic.p, x->topic.n);
            x->topic.p = (const char *)b + off;
            tokens[n++] = fh_spool_drain_take(sp);
        }
        bool fail = failures && n > 0 && rnd_upto(seed, 40) == 0;
        uint32_t fail_at = fail ? (uint32_t)rnd_upto(seed, n) : n;
        for (uint32_t i = 0; i < n; i++) {
            if (i < fail_at)
                deliver(r, &recs[i], flag);
            fh_spool_resolve(sp, tokens[i], i < fail_at);
        }
        if (fail) {
            fh_spool_drain_abort(sp);
            fh_spool_drain_begin(sp);
            continue;
        }
        if (rc == FH_SPOOL_COMPLETE || rc == FH_SPOOL_IDLE)
            break;
        if (n == 0)
            usleep(200);
    }
    fh_spool_drain_abort(sp);
}

struct params {
    uint64_t segment_bytes;
    enum fh_spool_fsync fsync;
    uint32_t inflight_max;
    uint32_t nfront, nmain;
    uint32_t mid_drain_every; /* a drain pass after every this many mains (0: none) */
};

static struct fh_spool_config cfg_for(const char *dir, const struct params *p)
{
    struct fh_spool_config c = {
        .dir = dir,
        .max_bytes = 1ull << 30,
        .segment_bytes = p->segment_bytes,
        .fsync = p->fsync,
        .fsync_interval_ms = 5,
        .queue_bytes = 2 * (4 + 8 + 28 + 255 + 65535 + 65535 + 1024 * 1024) + 4096,
        .inflight_max = p->inflight_max,
        .write_grace_ms = 25,
        .retry_ms = 1,
    };
    return c;
}

/* The first run: appends, drains, stops. Returns false if the spool could not be opened. */
static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static bool dbg(void)
{
    return getenv("FH_SPOOL_FAULT_DEBUG") != NULL;
}

static uint64_t ckpt_errors; /* of the first run */

static bool first_run(const char *dir, const struct params *p, const struct fh_spool_io *io,
                      struct run *r, uint64_t *seed)
{
    struct fh_spool_config c = cfg_for(dir, p);
    c.io = io;
    c.on_lost = on_lost;
    c.on_lost_ctx = r;
    struct fh_spool *sp = NULL;
    char err[256];
    double t0 = now_ms();
    if (fh_spool_open(&c, &sp, err, sizeof(err)) != 0)
        return false;
    /* Front records: gseq 1..nfront in a shuffled order. */
    uint32_t order[512];
    for (uint32_t i = 0; i < p->nfront; i++)
        order[i] = i + 1;
    for (uint32_t i = p->nfront; i > 1; i--) {
        uint32_t k = (uint32_t)rnd_upto(seed, i);
        uint32_t tmp = order[i - 1];
        order[i - 1] = order[k];
        order[k] = tmp;
    }
    struct rec x;
    /* Like the Kafka sink: records in flight elsewhere may come back as front records. */
    fh_spool_set_floor(sp, 1);
    for (uint32_t i = 0; i < p->nfront; i++) {
        make_rec(&x, order[i]);
        /* Logged before the call: the writer may write it and the process crash before the
         * call returns. */
        event(r, 'T', order[i]);
        if (fh_spool_append_front(sp, &x.r) == 0) {
            r->st[order[i]] |= S_ACCEPTED;
            event(r, 'A', order[i]);
        }
    }
    fh_spool_set_floor(sp, UINT64_MAX);
    uint64_t g = p->nfront + 1;
    int backpressure_ms = 0;
    for (uint32_t i = 0; i < p->nmain; i++, g++) {
        make_rec(&x, g);
        event(r, 'T', g);
        int rc = FH_ENOSPACE;
        for (int tries = 0; tries < 100 && rc == FH_ENOSPACE; tries++) {
            rc = fh_spool_append(sp, &x.r);
            if (rc == FH_ENOSPACE && backpressure_ms < 60) {
                usleep(1000); /* backpressure: the engine waits and tries again */
                backpressure_ms++;
            } else if (rc == FH_ENOSPACE) {
                break; /* the sink's grace is over: it drops (spool.on_full) */
            }
        }
        if (rc == 0) {
            r->st[g] |= S_ACCEPTED;
            event(r, 'A', g);
        } else {
            /* Refused for good: the sink's spool.on_full decides (the caller's loss). */
            r->refused++;
        }
        if (p->mid_drain_every && (i + 1) % p->mid_drain_every == 0)
            drain(sp, r, seed, S_DELIVERED, 2, true);
        if ((i & 127) == 127 && fh_spool_sync(sp, 200) == 0) {
            /* Everything accepted so far is written (and fsynced per policy). */
            for (uint64_t k = 1; k <= g; k++) {
                if ((r->st[k] & S_ACCEPTED) && !(r->st[k] & S_SYNCED)) {
                    r->st[k] |= S_SYNCED;
                    event(r, 'S', k);
                }
            }
        }
    }
    double t1 = now_ms();
    fh_spool_sync(sp, 100);
    double t2 = now_ms();
    drain(sp, r, seed, S_DELIVERED, 1500, true);
    double t3 = now_ms();
    fh_spool_shutdown(sp);
    ckpt_errors = LD(fh_spool_stats(sp)->checkpoint_errors);
    fh_spool_close(sp);
    if (dbg())
        fprintf(stderr, "  appends %.1f sync %.1f drain %.1f close %.1f ms\n", t1 - t0, t2 - t1,
                t3 - t2, now_ms() - t3);
    return true;
}

/* The restart: recovers with the real file operations and drains everything. */
static void second_run(const char *dir, const struct params *p, struct run *r, uint64_t *seed,
                       uint64_t *recovered, uint64_t *suspect, uint64_t *truncated)
{
    struct fh_spool_config c = cfg_for(dir, p);
    c.on_lost = on_lost;
    c.on_lost_ctx = r;
    struct fh_spool *sp = NULL;
    char err[256];
    int rc = fh_spool_open(&c, &sp, err, sizeof(err));
    if (rc != 0)
        fail_msg("reopen %s: %s", dir, err);
    const struct fh_spool_stats *ss = fh_spool_stats(sp);
    *recovered = LD(ss->recovered);
    *suspect = LD(ss->recovered_suspect);
    *truncated = LD(ss->truncated_segments);
    double t0 = now_ms();
    drain(sp, r, seed, S_RECOVERED, 5000, false);
    double t1 = now_ms();
    assert_int_equal(LD(ss->pending), 0);
    fh_spool_close(sp);
    if (dbg())
        fprintf(stderr, "  restart drain %.1f close %.1f ms\n", t1 - t0, now_ms() - t1);
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        char path[4096];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* ---- cases ---------------------------------------------------------------------------------- */

struct tally {
    unsigned cases[M_COUNT];
    unsigned injected[M_COUNT];
    unsigned clean;        /* everything delivered, nothing lost */
    unsigned with_loss;    /* some records reported lost (never silently) */
    unsigned with_refusal; /* some appends refused for good (backpressure outcome) */
    unsigned with_restart; /* the restart delivered what the first run could not */
    unsigned with_dups;    /* the restart delivered suspects again */
    uint64_t records, delivered, lost, recovered;
};

static struct run R;

static void run_case(uint64_t seed0, enum mode mode, struct tally *t)
{
    uint64_t seed = seed0 * 0x100000001b3ULL + mode;
    struct params p = {
        .segment_bytes = 4096u << rnd_upto(&seed, 5),
        .fsync = (enum fh_spool_fsync)rnd_upto(&seed, 3),
        .inflight_max = 16u << rnd_upto(&seed, 6),
        .nfront = (uint32_t)rnd_upto(&seed, 120),
        .nmain = 100 + (uint32_t)rnd_upto(&seed, 500),
        .mid_drain_every = rnd_upto(&seed, 3) == 0 ? 0 : 50 + (uint32_t)rnd_upto(&seed, 200),
    };
    struct inj j;
    memset(&j, 0, sizeof(j));
    pthread_mutex_init(&j.mu, NULL);
    j.mode = mode;
    /* A first run makes roughly 2 write operations per batch plus segment files and
     * checkpoints: spread the fault over the first few hundred. */
    j.at = mode == M_FSYNC || mode == M_CKPT ? rnd_upto(&seed, 6)
           : mode == M_CRASH                 ? rnd_upto(&seed, 80)
                                             : rnd_upto(&seed, 40);
    if (mode == M_FSYNC && p.fsync == FH_SPOOL_FSYNC_OFF)
        p.fsync = FH_SPOOL_FSYNC_BATCH;
    j.len = mode == M_ENOSPC    ? 5 + rnd_upto(&seed, 200)
            : mode == M_READEIO ? (rnd_upto(&seed, 2) ? 1 + rnd_upto(&seed, 3) : 100000)
                                : 1 + rnd_upto(&seed, 4);
    if (mode == M_READEIO)
        j.at = rnd_upto(&seed, 40);
    struct fh_spool_io io = {
        .ctx = &j,
        .open = j_open,
        .pwrite = j_pwrite,
        .pread = j_pread,
        .fdatasync = j_fdatasync,
        .ftruncate = j_ftruncate,
        .rename = j_rename,
        .unlink = j_unlink,
        .fstatvfs = j_fstatvfs,
    };
    char *dir = fh_test_tmpdir();
    memset(&R, 0, sizeof(R));
    pthread_mutex_init(&R.mu, NULL);
    R.log_fd = -1;
    ckpt_errors = 0;

    if (mode == M_CRASH) {
        char logpath[4200];
        snprintf(logpath, sizeof(logpath), "%s.events", dir);
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
        assert_true(fd >= 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            R.log_fd = fd;
            uint64_t s2 = seed;
            first_run(dir, &p, &io, &R, &s2);
            _exit(0); /* the crash step was not reached */
        }
        close(fd);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == CRASHED);
        if (WEXITSTATUS(status) == CRASHED)
            j.injected = 1;
        /* What the child did, from its event log. */
        FILE *f = fopen(logpath, "r");
        assert_non_null(f);
        char what;
        unsigned long long g;
        while (fscanf(f, " %c %llu", &what, &g) == 2) {
            assert_true(g > 0 && g < MAX_G);
            if (what == 'T')
                R.st[g] |= S_TRIED;
            else if (what == 'A')
                R.st[g] |= S_ACCEPTED;
            else if (what == 'S')
                R.st[g] |= S_SYNCED;
            else if (what == 'D') {
                R.st[g] |= S_DELIVERED;
                R.delivered_n[g]++;
            }
        }
        fclose(f);
        unlink(logpath);
    } else {
        assert_true(first_run(dir, &p, &io, &R, &seed));
    }
    t->cases[mode]++;
    if (getenv("FH_SPOOL_FAULT_DEBUG"))
        fprintf(stderr, "case %s seed %llu: ops %llu reads %llu at %llu injected %llu\n",
                MODE_NAMES[mode], (unsigned long long)seed0, (unsigned long long)j.ops,
                (unsigned long long)j.reads, (unsigned long long)j.at,
                (unsigned long long)j.injected);
    if (j.injected > 0)
        t->injected[mode]++;

    uint64_t recovered = 0, suspect = 0, truncated = 0;
    uint64_t lost_before_restart_anon = R.lost_anon;
    second_run(dir, &p, &R, &seed, &recovered, &suspect, &truncated);
    assert_int_equal(R.lost_anon, lost_before_restart_anon); /* the restart loses nothing */

    /* Reconcile. */
    uint64_t accepted = 0, delivered = 0, lost = 0, rec = 0, unaccounted = 0, dups = 0;
    uint64_t gmax = p.nfront + p.nmain;
    for (uint64_t g = 1; g <= gmax; g++) {
        uint8_t s = R.st[g];
        if (s & S_RECOVERED)
            rec++;
        if (!(s & S_ACCEPTED)) {
            if ((s & (S_DELIVERED | S_RECOVERED)) && !(mode == M_CRASH && (s & S_TRIED)))
                fail_msg("seed %llu %s: gseq %llu delivered but never accepted",
                         (unsigned long long)seed0, MODE_NAMES[mode], (unsigned long long)g);
            continue;
        }
        accepted++;
        if (s & S_DELIVERED)
            delivered++;
        if (s & S_LOST)
            lost++;
        if ((s & S_DELIVERED) && (s & S_LOST))
            fail_msg("seed %llu %s: gseq %llu delivered and reported lost",
                     (unsigned long long)seed0, MODE_NAMES[mode], (unsigned long long)g);
        if ((s & S_RECOVERED) && (s & S_LOST) && mode != M_READEIO)
            fail_msg("seed %llu %s: gseq %llu reported lost and recovered",
                     (unsigned long long)seed0, MODE_NAMES[mode], (unsigned long long)g);
        if ((s & S_DELIVERED) && (s & S_RECOVERED))
            dups++;
        if (!(s & (S_DELIVERED | S_LOST | S_RECOVERED))) {
            unaccounted++;
            if (mode == M_CRASH && (s & S_SYNCED))
                fail_msg("seed %llu crash at op %llu: gseq %llu synced before the crash, "
                         "then neither delivered nor recovered (%s)",
                         (unsigned long long)seed0, (unsigned long long)j.at, (unsigned long long)g,
                         dir);
        }
        if (mode != M_CRASH && R.delivered_n[g] > 1 && !(s & S_RECOVERED))
            fail_msg("seed %llu %s: gseq %llu delivered %u times by one run",
                     (unsigned long long)seed0, MODE_NAMES[mode], (unsigned long long)g,
                     R.delivered_n[g]);
    }
    if (R.content_errors > 0)
        fail_msg("seed %llu %s: %llu records with wrong contents", (unsigned long long)seed0,
                 MODE_NAMES[mode], (unsigned long long)R.content_errors);
    if (mode != M_CRASH) {
        if (R.order_errors > 0)
            fail_msg("seed %llu %s: first deliveries out of gseq order (%llu)",
                     (unsigned long long)seed0, MODE_NAMES[mode],
                     (unsigned long long)R.order_errors);
        /* Silent loss: accepted, and neither delivered, reported lost nor recovered. Records
         * whose bytes were unreadable are reported by count. */
        if (unaccounted != R.lost_anon)
            fail_msg("seed %llu %s (at %llu len %llu): %llu records unaccounted, %llu reported "
                     "lost without a gseq",
                     (unsigned long long)seed0, MODE_NAMES[mode], (unsigned long long)j.at,
                     (unsigned long long)j.len, (unsigned long long)unaccounted,
                     (unsigned long long)R.lost_anon);
        /* A checkpoint that could not be written (or a segment that could not be deleted)
         * makes the restart deliver again more than its suspects: at least once. */
        bool ckpt_may_fail = ckpt_errors > 0 || mode == M_EROFS;
        if (dups > suspect && !ckpt_may_fail)
            fail_msg("seed %llu %s: %llu duplicates, %llu suspects", (unsigned long long)seed0,
                     MODE_NAMES[mode], (unsigned long long)dups, (unsigned long long)suspect);
        if (truncated != 0)
            fail_msg("seed %llu %s: the clean stop left %llu torn segment tails",
                     (unsigned long long)seed0, MODE_NAMES[mode], (unsigned long long)truncated);
        if (recovered != rec)
            fail_msg("seed %llu %s: %llu recovered, %llu delivered by the restart",
                     (unsigned long long)seed0, MODE_NAMES[mode], (unsigned long long)recovered,
                     (unsigned long long)rec);
    } else {
        if (dups > p.inflight_max + 2 * FH_SPOOL_READAHEAD)
            fail_msg("seed %llu crash: %llu duplicates, beyond the documented window",
                     (unsigned long long)seed0, (unsigned long long)dups);
        if (truncated > 2)
            fail_msg("seed %llu crash: %llu torn tails (at most one per segment kind)",
                     (unsigned long long)seed0, (unsigned long long)truncated);
    }
    if (lost + R.lost_anon > 0)
        t->with_loss++;
    else if (R.refused == 0 && rec == 0)
        t->clean++;
    if (R.refused > 0)
        t->with_refusal++;
    if (rec > dups)
        t->with_restart++;
    if (dups > 0)
        t->with_dups++;
    t->records += accepted;
    t->delivered += delivered;
    t->lost += lost + R.lost_anon;
    t->recovered += rec;
    rm_rf(dir);
    free(dir);
}

static unsigned cases_per_mode(void)
{
    const char *e = getenv("FH_SPOOL_FAULT_CASES");
    unsigned long v = e != NULL ? strtoul(e, NULL, 10) : 0;
    return v > 0 ? (unsigned)v : 150;
}

static void test_seeded_faults(void **state)
{
    (void)state;
    const char *one = getenv("FH_SPOOL_FAULT_ONE"); /* "MODE SEED": that case alone */
    if (one != NULL) {
        struct tally t1;
        memset(&t1, 0, sizeof(t1));
        for (unsigned m = 0; m < M_COUNT; m++) {
            size_t ml = strlen(MODE_NAMES[m]);
            if (strncmp(one, MODE_NAMES[m], ml) == 0 && one[ml] == ' ')
                run_case(strtoul(one + ml + 1, NULL, 10), (enum mode)m, &t1);
        }
        return;
    }
    struct tally t;
    memset(&t, 0, sizeof(t));
    unsigned n = cases_per_mode();
    /* The cases mostly wait on the spool's threads: WORKERS processes share them out. */
    int fds[WORKERS][2];
    pid_t pids[WORKERS];
    fflush(stdout);
    fflush(stderr);
    for (int w = 0; w < WORKERS; w++) {
        assert_int_equal(pipe(fds[w]), 0);
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            struct tally mine;
            memset(&mine, 0, sizeof(mine));
            unsigned k = 0;
            for (unsigned m = 0; m < M_COUNT; m++) {
                for (unsigned s = 1; s <= n; s++, k++) {
                    if (k % WORKERS == (unsigned)w)
                        run_case(s, (enum mode)m, &mine);
                }
            }
            ssize_t wr = write(fds[w][1], &mine, sizeof(mine));
            _exit(wr == (ssize_t)sizeof(mine) ? 0 : 3);
        }
        close(fds[w][1]);
    }
    for (int w = 0; w < WORKERS; w++) {
        struct tally part;
        ssize_t rd = read(fds[w][0], &part, sizeof(part));
        close(fds[w][0]);
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || rd != (ssize_t)sizeof(part))
            fail_msg("worker %d failed (status %d): see its message above", w, status);
        for (unsigned m = 0; m < M_COUNT; m++) {
            t.cases[m] += part.cases[m];
            t.injected[m] += part.injected[m];
        }
        t.clean += part.clean;
        t.with_loss += part.with_loss;
        t.with_refusal += part.with_refusal;
        t.with_restart += part.with_restart;
        t.with_dups += part.with_dups;
        t.records += part.records;
        t.delivered += part.delivered;
        t.lost += part.lost;
        t.recovered += part.recovered;
    }
    unsigned total = 0;
    printf("spool fault injection: cases by fault:");
    for (unsigned m = 0; m < M_COUNT; m++) {
        printf(" %s=%u(injected %u)", MODE_NAMES[m], t.cases[m], t.injected[m]);
        total += t.cases[m];
    }
    printf("\nspool fault injection: %u cases, each reconciled; outcomes: clean=%u "
           "loss_reported=%u refused_appends=%u restart_delivered=%u restart_duplicates=%u; "
           "records accepted=%llu delivered=%llu reported_lost=%llu recovered=%llu\n",
           total, t.clean, t.with_loss, t.with_refusal, t.with_restart, t.with_dups,
           (unsigned long long)t.records, (unsigned long long)t.delivered,
           (unsigned long long)t.lost, (unsigned long long)t.recovered);
    assert_true(total >= 1000 || getenv("FH_SPOOL_FAULT_CASES") != NULL);
    /* Each fault kind was actually hit in most of its cases. */
    for (unsigned m = 0; m < M_COUNT; m++)
        assert_true(t.injected[m] * 2 >= t.cases[m]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
