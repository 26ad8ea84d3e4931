/*
 * spool.c - the durable disk spool (see spool.h for the format and the contract).
 *
 * Shared state lives under one mutex, mu. The writer thread never holds mu across a system
 * call: it takes what it needs under mu (a batch of queued records, a plan of records to read
 * back), releases mu for the I/O, and applies the results under mu again. The engine-side
 * calls only copy bytes and update counters under mu, so their cost is a memcpy and an
 * uncontended lock.
 *
 * Bookkeeping of a record from append to deletion:
 *   queued (lane) -> written (segment; main: counted in the segment and behind the main
 *   cursor; front: an entry in the sorted index) -> read ahead by a pass -> taken (in the
 *   in-flight FIFO) -> resolved: done (the segment's done count grows; a segment whose
 *   records are all done is deleted) or failed again (an index entry, read again next pass).
 *
 * The checkpoint holds `low` (every record with a smaller gseq is done) and `fed_limit` (no
 * record above it had been read ahead for the engine). It is written before every read-ahead
 * buffer is handed to the engine, so after a crash the records that may already be in Kafka
 * are exactly the pending ones with low <= gseq <= fed_limit: those taken before the crash.
 * Together with the in-flight window (a record may be taken only while fewer than
 * inflight_max records separate it from the oldest unresolved one), this bounds what a crash
 * can deliver twice to inflight_max + 2 * FH_SPOOL_READAHEAD records.
 */
#include "sink/spool.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SEG_MAGIC   "FHSPOOL1"
#define SEG_HEADER  16
#define CKPT_MAGIC  "FHCKPT01"
#define CKPT_SIZE   32
#define REC_HEADER  8  /* u32 length, u32 crc */
#define BODY_FIXED  28 /* gseq, timestamp, 4 x u16, u32 value length */
#define ITEM_HEADER 4  /* u32 kind in front of a queued record */
#define MAX_BODY \
    (BODY_FIXED + FH_SPOOL_MAX_TOPIC + FH_SPOOL_MAX_KEY + FH_SPOOL_MAX_HEADERS + FH_SPOOL_MAX_VALUE)
#define FRONT_QUEUE_MAX ((size_t)1 << 30)
#define READ_CHUNK      (256 * 1024)
#define CKPT_PERIOD_NS  (100 * 1000000LL)

enum { KIND_MAIN = 0, KIND_FRONT = 1 };

struct seg {
    uint64_t segno;
    int kind;
    int fd;        /* -1 when closed; the writer thread only */
    uint64_t size; /* valid bytes, header included */
    uint64_t total;
    uint64_t done;
    uint64_t unfed; /* main records not read ahead yet */
    bool active;    /* open for appends */
    bool synced;    /* no unsynced writes */
    bool torn;      /* bytes past size from a failed write may be there: truncate them */
    char *path;
};

/* A record's place on disk. */
struct loc {
    uint64_t gseq;
    struct seg *seg;
    uint64_t off;
    uint32_t len; /* whole record: REC_HEADER + body */
};

struct ra_entry {
    struct loc loc;
    bool from_index;
    uint32_t data_off; /* into the buffer's data */
};

struct ra_buf {
    uint8_t *data;
    size_t len, cap;
    struct ra_entry *e;
    uint32_t n, pos;
};

struct fl_entry {
    struct loc loc;
    bool resolved;
};

struct lane {
    uint8_t *data;
    size_t len, cap;
    uint32_t nrec;
    uint64_t main_bytes;
    uint64_t min_gseq;       /* UINT64_MAX when empty */
    uint64_t min_front_gseq; /* of its front records; UINT64_MAX when none */
};

/* A record written by the writer, to be applied under mu. */
struct written {
    struct loc loc;
    int kind;
};

struct fh_spool {
    struct fh_spool_config cfg;
    char *dir;
    int dirfd;
    int lockfd;
    struct fh_spool_stats stats;

    pthread_mutex_t mu;
    pthread_cond_t wake;   /* -> writer */
    pthread_cond_t synced; /* writer -> fh_spool_sync */
    pthread_t thread;
    bool thread_started;
    bool stop;

    /* Append queue: the engine fills lane[fill], the writer writes the other. */
    struct lane lane[2];
    int fill;
    bool writing;
    size_t lane_base_cap;

    /* Segments, sorted by segno. */
    struct seg **segs;
    size_t nsegs, segs_cap;
    struct seg *active[2];
    uint64_t next_segno;
    uint64_t disk_bytes;

    /* Main records not read ahead yet start at (mcur, mcur_off). */
    struct seg *mcur;
    uint64_t mcur_off;
    uint64_t mcur_gseq_lb; /* a lower bound of the gseq there */
    uint64_t main_unfed;

    /* Sorted index (binary min-heap by gseq): front records and records failed again. */
    struct loc *heap;
    size_t nheap, heap_cap;

    /* Drain pass. */
    bool pass;
    uint64_t pass_gen;
    struct ra_buf ra[2];
    int ra_eng;     /* the engine's buffer; the other is the writer's */
    bool ra_ready;  /* the writer's buffer is full and waiting for the engine */
    bool filling;   /* the writer is reading into its buffer (unlocked) */
    bool peeked;    /* the engine peeked ra[ra_eng].e[pos] */
    bool feed_wait; /* the writer waits for the window to open */

    /* In-flight FIFO, indexed by token & fl_mask. */
    struct fl_entry *fl;
    uint64_t fl_mask;
    uint64_t fl_head, fl_tail;
    uint32_t fl_unresolved;

    /* Checkpoint. */
    uint64_t ckpt_low, ckpt_fed_limit; /* last written */
    uint64_t fed_limit;                /* to write: highest gseq ever read ahead */
    int64_t last_ckpt_ns;
    int64_t last_fsync_ns;

    uint64_t max_gseq; /* largest gseq seen (appended or recovered) */
    uint64_t next_gseq_at_open;

    /* Full or failing disks. The lane being written (lane[1 - fill] while writing) holds
     * the records a failed write left (held); they are retried at retry_at_ns. */
    const struct fh_spool_io *io;
    bool held;
    int held_err;
    int64_t blocked_since_ns;
    int64_t retry_at_ns;
    uint32_t retries;
    uint64_t limit;          /* main appends stop here (max_bytes or the free space) */
    int64_t last_statvfs_ns; /* writer thread */
    uint32_t read_streak;    /* consecutive failed reads (writer thread) */
    bool ckpt_dirty;         /* the last checkpoint write failed (writer thread) */
    uint64_t floor;          /* fh_spool_set_floor (atomic) */
    bool shut;               /* fh_spool_shutdown done */
    char *ckpt_path, *ckpt_tmp;

    struct fh_ratelimit rl;
};

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

#define IO(sp, fn, ...) ((sp)->io->fn((sp)->io->ctx, __VA_ARGS__))

/* ---- CRC32C ------------------------------------------------------------------------------ */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78U & (0U - (c & 1)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
            crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
            crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
            crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw_run(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n-- > 0)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t fh_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc_hw_run(c, p, n);
#endif
    return ~crc_sw(c, p, n);
}

/* ---- small helpers ------------------------------------------------------------------------ */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void stat_add(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static void stat_sub(uint64_t *c, uint64_t v)
{
    __atomic_fetch_sub(c, v, __ATOMIC_RELAXED);
}

static void stat_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Checks a record's header and body: returns the body length, or 0. With 0, *need is the
 * number of bytes (from rec) that must be readable to decide, when more than avail; *need 0
 * means the bytes are not a valid record. */
static uint32_t record_check(const uint8_t *rec, size_t avail, size_t *need)
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
static void record_view(const uint8_t *rec, struct fh_spool_record *r)
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

/* ---- the sorted index ----------------------------------------------------------------------- */

static int heap_push(struct fh_spool *sp, const struct loc *l)
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
static void heap_push_or_log(struct fh_spool *sp, const struct loc *l)
{
    if (heap_push(sp, l) != 0)
        log_error("spool: out of memory for the record index; the record stays on disk until "
                  "the next start",
                  "gseq=%" PRIu64, l->gseq);
}

/* ---- segments ------------------------------------------------------------------------------ */

static int seg_name(char *buf, size_t n, int kind, uint64_t segno)
{
    return snprintf(buf, n, "%c-%016" PRIx64 ".seg", kind == KIND_MAIN ? 'm' : 'f', segno);
}

static int segs_insert(struct fh_spool *sp, struct seg *s)
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

static void seg_free(struct seg *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}

/* The next main segment after s (or the first one if s is NULL). Under mu. */
static struct seg *next_main(struct fh_spool *sp, const struct seg *s)
{
    for (size_t i = 0; i < sp->nsegs; i++) {
        if (sp->segs[i]->kind == KIND_MAIN && (s == NULL || sp->segs[i]->segno > s->segno))
            return sp->segs[i];
    }
    return NULL;
}

static int seg_fd(struct fh_spool *sp, struct seg *s)
{
    if (s->fd < 0)
        s->fd = IO(sp, open, s->path, O_RDWR | O_CLOEXEC, 0);
    return s->fd;
}

static bool do_fsync(const struct fh_spool *sp)
{
    return sp->cfg.fsync != FH_SPOOL_FSYNC_OFF;
}

static void sync_dir(struct fh_spool *sp)
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
        seg_free(s);
        errno = e;
        return NULL;
    }
    s->size = SEG_HEADER;
    if (do_fsync(sp)) {
        seg_sync(sp, s);
        sync_dir(sp);
    }
    s->synced = true;
    return s;
}

/* ---- the low-water mark and the checkpoint ------------------------------------------------ */

/* The smallest gseq not known to be done. Under mu. extra/nextra: a plan being read. */
static uint64_t low_water(struct fh_spool *sp, const struct ra_entry *extra, uint32_t nextra)
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
static bool checkpoint_write(struct fh_spool *sp, uint64_t low, uint64_t fed_limit)
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

static void checkpoint_read(struct fh_spool *sp, uint64_t *low, uint64_t *fed_limit)
{
    uint8_t buf[CKPT_SIZE];
    *low = 0;
    *fed_limit = 0;
    int fd = openat(sp->dirfd, "checkpoint", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n != (ssize_t)sizeof(buf) || memcmp(buf, CKPT_MAGIC, 8) != 0 ||
        get_u32(buf + 24) != fh_crc32c(0, buf, 24)) {
        log_warn("spool: checkpoint unreadable, every record found will be produced again",
                 "dir=%s", sp->dir);
        return;
    }
    *low = get_u64(buf + 8);
    *fed_limit = get_u64(buf + 16);
}

/* ---- writing batches ------------------------------------------------------------------------ */

/* Writes n bytes at the segment's end (short writes continue). Returns 0, or -1 with errno:
 * the bytes written before the failure are truncated away again (or the segment is marked
 * torn when even that fails), so the segment ends at its last whole record. Writer thread,
 * unlocked. */
static int seg_write(struct fh_spool *sp, struct seg *s, const uint8_t *p, size_t n)
{
    if (s->torn && seg_fd(sp, s) >= 0 && IO(sp, ftruncate, s->fd, (off_t)s->size) == 0)
        s->torn = false;
    size_t done = 0;
    while (done < n) {
        ssize_t w = seg_fd(sp, s) < 0
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

struct writebuf {
    uint8_t *data;
    size_t len, cap;
};

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

struct batch_out {
    struct written *w;
    size_t n, cap;
    struct seg *touched[8];
    int ntouched;
    int err;         /* 0, or the errno of the failure that stopped the batch */
    size_t done_off; /* lane bytes written (whole items); the rest stays in the lane */
};

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
static void write_batch(struct fh_spool *sp, struct lane *b, struct batch_out *o,
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
            int irc = segs_insert(sp, ns);
            if (irc == 0) {
                sp->active[kind] = ns;
                sp->disk_bytes += ns->size;
            }
            pthread_mutex_unlock(&sp->mu);
            if (irc != 0) {
                IO(sp, unlink, ns->path);
                seg_free(ns);
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
static bool apply_batch(struct fh_spool *sp, struct lane *b, struct batch_out *o, int64_t now)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < o->n; i++) {
        struct written *w = &o->w[i];
        bytes += w->loc.len;
        if (w->kind == KIND_FRONT) {
            w->loc.seg->total++;
            heap_push_or_log(sp, &w->loc);
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
static void give_up_held(struct fh_spool *sp, struct lane *b, const char *when)
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
            record_view(item + ITEM_HEADER, &r);
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
static void update_limit(struct fh_spool *sp, int64_t now, bool force)
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
    ssize_t r = seg_fd(sp, l->seg) < 0 ? -1 : IO(sp, pread, l->seg->fd, dst, l->len, (off_t)l->off);
    int e = r < 0 ? errno : 0;
    size_t need;
    if (r == (ssize_t)l->len && record_check(dst, l->len, &need) + REC_HEADER == l->len) {
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
        struct seg *next = next_main(sp, s);
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
        ssize_t r = seg_fd(sp, s) < 0 ? -1 : IO(sp, pread, s->fd, dst, want, (off_t)off);
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
            uint32_t len = record_check(dst + used, avail - used, &need);
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
        sp->mcur = next_main(sp, s);
        sp->mcur_off = SEG_HEADER;
    }
}

/* One round of reading ahead. Returns true if it did something. Writer thread. */
static bool feed(struct fh_spool *sp)
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
        heap_push_or_log(sp, &p.retry[i]);
    uint64_t low = low_water(sp, p.e, p.n);
    pthread_mutex_unlock(&sp->mu);
    if (p.n > 0)
        checkpoint_write(sp, low, fed_limit);

    pthread_mutex_lock(&sp->mu);
    sp->filling = false;
    if (p.gen != sp->pass_gen || !sp->pass) {
        /* The pass ended while we were reading: put everything back. */
        for (uint32_t i = 0; i < p.n; i++) {
            if (p.e[i].from_index)
                heap_push_or_log(sp, &p.e[i].loc);
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

/* ---- housekeeping --------------------------------------------------------------------------- */

/* Deletes segments whose records are all done. Writer thread. Returns true if it did. */
static bool delete_finished(struct fh_spool *sp)
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
    stat_set(&sp->stats.disk_bytes, sp->disk_bytes);
    pthread_mutex_unlock(&sp->mu);
    for (int i = 0; i < ndead; i++) {
        IO(sp, unlink, dead[i]->path);
        seg_free(dead[i]);
    }
    if (ndead > 0) {
        stat_add(&sp->stats.segments_deleted, (uint64_t)ndead);
        sync_dir(sp);
    }
    return ndead > 0;
}

static void fsync_active(struct fh_spool *sp)
{
    for (int k = 0; k < 2; k++) {
        if (sp->active[k] != NULL)
            seg_sync(sp, sp->active[k]);
    }
    sp->last_fsync_ns = fh_clock_monotonic_ns();
}

static void *writer_main(void *arg)
{
    struct fh_spool *sp = arg;
    struct batch_out out;
    struct writebuf stage[2];
    memset(&out, 0, sizeof(out));
    memset(stage, 0, sizeof(stage));
    for (;;) {
        int64_t now = fh_clock_monotonic_ns();
        update_limit(sp, now, false);
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
            write_batch(sp, batch, &out, stage);
            now = fh_clock_monotonic_ns();
            pthread_mutex_lock(&sp->mu);
            bool held = apply_batch(sp, batch, &out, now);
            bool give_up =
                held && (stop || now - sp->blocked_since_ns >= sp->cfg.write_grace_ms * 1000000LL);
            pthread_cond_broadcast(&sp->synced);
            pthread_mutex_unlock(&sp->mu);
            if (give_up)
                give_up_held(sp, batch, stop ? "shutdown" : "grace_expired");
            worked = !held || give_up;
            if (out.n > 0)
                update_limit(sp, now, true);
        }
        if (want_feed)
            worked |= feed(sp);
        now = fh_clock_monotonic_ns();
        if (sp->cfg.fsync == FH_SPOOL_FSYNC_INTERVAL &&
            now - sp->last_fsync_ns >= sp->cfg.fsync_interval_ms * 1000000)
            fsync_active(sp);
        if (delete_finished(sp))
            update_limit(sp, now, true);
        /* Keep the checkpoint near the low-water mark, so that a restart skips what is done. */
        pthread_mutex_lock(&sp->mu);
        uint64_t low = low_water(sp, NULL, 0);
        bool ckpt = (low != sp->ckpt_low || sp->ckpt_dirty) &&
                    (now - sp->last_ckpt_ns >= CKPT_PERIOD_NS || stop);
        uint64_t fed_limit = sp->fed_limit;
        if (ckpt) {
            sp->ckpt_low = low;
            sp->last_ckpt_ns = now;
        }
        pthread_mutex_unlock(&sp->mu);
        if (ckpt)
            checkpoint_write(sp, low, fed_limit);

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
    uint64_t low = low_water(sp, NULL, 0);
    uint64_t fed_limit = sp->fed_limit;
    pthread_mutex_unlock(&sp->mu);
    checkpoint_write(sp, low, fed_limit);
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

static void serialize(uint8_t *p, int kind, const struct fh_spool_record *r)
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
    serialize(l->data + l->len, KIND_MAIN, r);
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
    serialize(l->data + l->len, KIND_FRONT, r);
    lane_account(sp, l, n, r->gseq);
    l->min_front_gseq = min_u64(l->min_front_gseq, r->gseq);
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->mu);
    stat_add(&sp->stats.appended_front, 1);
    return 0;
}

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
    /* The engine's buffer is its own: no lock needed to read it. The window is checked
     * against the FIFO under mu only when the buffer's front changes. */
    if (eng->pos < eng->n) {
        if (!sp->peeked) {
            pthread_mutex_lock(&sp->mu);
            bool full = sp->fl_tail - sp->fl_head >= sp->cfg.inflight_max;
            pthread_mutex_unlock(&sp->mu);
            if (full)
                return FH_SPOOL_WAIT;
        }
        record_view(eng->data + eng->e[eng->pos].data_off, r);
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
    struct ra_entry *e = &eng->e[eng->pos++];
    sp->peeked = false;
    pthread_mutex_lock(&sp->mu);
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
        heap_push_or_log(sp, &f->loc);
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
            heap_push_or_log(sp, &ra->e[i].loc);
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

/* ---- opening and recovery ------------------------------------------------------------------- */

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

static bool parse_seg_name(const char *name, int *kind, uint64_t *segno)
{
    size_t n = strlen(name);
    if (n != 2 + 16 + 4 || (name[0] != 'm' && name[0] != 'f') || name[1] != '-' ||
        strcmp(name + 18, ".seg") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 2; i < 18; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *kind = name[0] == 'm' ? KIND_MAIN : KIND_FRONT;
    *segno = v;
    return true;
}

/* Scans one segment: checks every record, truncates at the first bad one, and registers the
 * pending records. Returns 0, or a negative error for an unreadable file (then skipped). */
static int recover_seg(struct fh_spool *sp, struct seg *s, uint64_t low, uint64_t fed_limit)
{
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return -errno;
    uint64_t fsize = (uint64_t)st.st_size;
    uint8_t hdr[SEG_HEADER];
    uint64_t good = 0;
    if (fsize >= SEG_HEADER && IO(sp, pread, s->fd, hdr, SEG_HEADER, 0) == SEG_HEADER &&
        memcmp(hdr, SEG_MAGIC, 8) == 0 && get_u32(hdr + 8) == (uint32_t)s->kind)
        good = SEG_HEADER;
    size_t cap = 2 * MAX_BODY, have = 0;
    uint8_t *buf = good ? malloc(cap) : NULL;
    if (good && buf == NULL)
        return FH_ENOMEM;
    uint64_t buf_off = good; /* file offset of buf[0] */
    bool bad = good == 0;
    while (!bad && good < fsize) {
        size_t pos = (size_t)(good - buf_off);
        size_t need;
        uint32_t len = record_check(buf + pos, have - pos, &need);
        if (len == 0 && need > 0) {
            /* Read more, unless the file has no more. */
            if (buf_off + have >= fsize) {
                bad = true;
                break;
            }
            memmove(buf, buf + pos, have - pos);
            have -= pos;
            buf_off = good;
            ssize_t r = IO(sp, pread, s->fd, buf + have, cap - have, (off_t)(buf_off + have));
            if (r <= 0) {
                bad = true;
                break;
            }
            have += (size_t)r;
            continue;
        }
        if (len == 0) {
            bad = true;
            break;
        }
        struct loc l = {get_u64(buf + pos + REC_HEADER), s, good, REC_HEADER + len};
        if (l.gseq > sp->max_gseq)
            sp->max_gseq = l.gseq;
        if (l.gseq >= low) {
            s->total++;
            if (l.gseq <= fed_limit)
                stat_add(&sp->stats.recovered_suspect, 1);
            if (s->kind == KIND_FRONT) {
                if (heap_push(sp, &l) != 0) {
                    free(buf);
                    return FH_ENOMEM;
                }
            } else {
                if (sp->main_unfed == 0) {
                    sp->mcur = s;
                    sp->mcur_off = good;
                    sp->mcur_gseq_lb = l.gseq;
                }
                s->unfed++;
                sp->main_unfed++;
            }
        }
        good += l.len;
    }
    free(buf);
    if (good < fsize) {
        stat_add(&sp->stats.truncated_segments, 1);
        stat_add(&sp->stats.truncated_bytes, fsize - good);
        log_warn("spool: torn or corrupt tail truncated",
                 "path=%s offset=%" PRIu64 " dropped_bytes=%" PRIu64, s->path, good, fsize - good);
        if (IO(sp, ftruncate, s->fd, (off_t)good) != 0)
            return -errno;
        if (do_fsync(sp))
            IO(sp, fdatasync, s->fd);
    }
    s->size = good;
    return 0;
}

static int recover(struct fh_spool *sp, char *err, size_t errlen)
{
    uint64_t low, fed_limit;
    checkpoint_read(sp, &low, &fed_limit);
    unlinkat(sp->dirfd, "checkpoint.tmp", 0);
    DIR *d = opendir(sp->dir);
    if (d == NULL) {
        snprintf(err, errlen, "cannot read spool directory %s: %s", sp->dir, strerror(errno));
        return -errno;
    }
    struct dirent *de;
    int rc = 0;
    uint64_t max_segno = 0;
    while ((de = readdir(d)) != NULL && rc == 0) {
        int kind;
        uint64_t segno;
        if (!parse_seg_name(de->d_name, &kind, &segno))
            continue;
        struct seg *s = calloc(1, sizeof(*s));
        size_t plen = strlen(sp->dir) + strlen(de->d_name) + 2;
        char *path = malloc(plen);
        if (s != NULL) {
            s->kind = kind;
            s->segno = segno; /* before inserting: the list is sorted by it */
            s->fd = -1;
            s->synced = true;
        }
        if (s == NULL || path == NULL || segs_insert(sp, s) != 0) {
            free(s);
            free(path);
            rc = FH_ENOMEM;
            break;
        }
        snprintf(path, plen, "%s/%s", sp->dir, de->d_name);
        s->path = path;
        if (segno > max_segno)
            max_segno = segno;
    }
    closedir(d);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory while reading the spool");
        return rc;
    }
    /* In segment order, so that main records are met in gseq order. */
    for (size_t i = 0; i < sp->nsegs; i++) {
        struct seg *s = sp->segs[i];
        if (seg_fd(sp, s) < 0 || recover_seg(sp, s, low, fed_limit) != 0) {
            log_error("spool: segment unreadable, skipped", "path=%s error=\"%s\"", s->path,
                      strerror(errno));
            continue;
        }
        sp->disk_bytes += s->size;
    }
    /* Segments with nothing pending (or unreadable) go. */
    size_t kept = 0;
    int removed = 0;
    for (size_t i = 0; i < sp->nsegs; i++) {
        struct seg *s = sp->segs[i];
        if (s->total > 0 && s->fd >= 0) {
            sp->segs[kept++] = s;
            continue;
        }
        if (s->fd >= 0) {
            sp->disk_bytes -= s->size;
            IO(sp, unlink, s->path);
            removed++;
        }
        seg_free(s);
    }
    sp->nsegs = kept;
    if (removed > 0)
        sync_dir(sp);
    uint64_t pending = sp->main_unfed + sp->nheap;
    stat_set(&sp->stats.recovered, pending);
    stat_set(&sp->stats.pending, pending);
    stat_set(&sp->stats.disk_bytes, sp->disk_bytes);
    sp->next_segno = max_segno + 1;
    sp->ckpt_low = low;
    sp->ckpt_fed_limit = fed_limit;
    sp->fed_limit = fed_limit;
    if (low > 0 && sp->max_gseq < low - 1)
        sp->max_gseq = low - 1;
    sp->next_gseq_at_open = sp->max_gseq + 1;
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
    update_limit(sp, fh_clock_monotonic_ns(), true);
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
        seg_free(sp->segs[i]);
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
    rc = recover(sp, err, errlen);
    if (rc != 0)
        goto fail;
    check_space(sp);
    if (pthread_create(&sp->thread, NULL, writer_main, sp) != 0) {
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
