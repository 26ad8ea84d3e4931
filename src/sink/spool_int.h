/*
 * spool_int.h - INTERNAL to the disk spool: the state and the helpers its source files share.
 * Not for other modules; the spool's interface is spool.h.
 *
 * The spool is four files:
 *   spool.c          opening, shutdown and closing; the writer thread's loop; the engine's
 *                    appends, sync and stats
 *   spool_seg.c      the file operations, the record format, segments, writing batches (and
 *                    truncating what a failed write left), the disk bound, deleting finished
 *                    segments
 *   spool_drain.c    the sorted index, the low-water mark and the checkpoint, reading ahead
 *                    for a drain pass (writer side) and the drain calls (engine side)
 *   spool_recover.c  recovery at open: the checkpoint, scanning and truncating segments
 * Functions one file calls in another are named fh__spool_*; everything else is static.
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
 */
#ifndef FH_SINK_SPOOL_INT_H
#define FH_SINK_SPOOL_INT_H

#include "sink/spool.h"

#include "core/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* The writer's staging buffer for the bytes of one kind of record. */
struct writebuf {
    uint8_t *data;
    size_t len, cap;
};

struct batch_out {
    struct written *w;
    size_t n, cap;
    struct seg *touched[8];
    int ntouched;
    int err;         /* 0, or the errno of the failure that stopped the batch */
    size_t done_off; /* lane bytes written (whole items); the rest stays in the lane */
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
    int ra_eng;     /* the engine's buffer (its pos changes under mu); the other is the writer's */
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

#define IO(sp, fn, ...) ((sp)->io->fn((sp)->io->ctx, __VA_ARGS__))

/* ---- small helpers ------------------------------------------------------------------------- */

static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void stat_add(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static inline void stat_sub(uint64_t *c, uint64_t v)
{
    __atomic_fetch_sub(c, v, __ATOMIC_RELAXED);
}

static inline void stat_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static inline bool do_fsync(const struct fh_spool *sp)
{
    return sp->cfg.fsync != FH_SPOOL_FSYNC_OFF;
}

/*
 * Across the spool's files. Each function is documented where it is defined, with the thread
 * it runs on and whether mu must be held.
 */

/* ---- spool_seg.c: the record format, segments, writing batches ---------------------------- */

uint32_t fh__spool_record_check(const uint8_t *rec, size_t avail, size_t *need);
void fh__spool_record_view(const uint8_t *rec, struct fh_spool_record *r);
void fh__spool_serialize(uint8_t *p, int kind, const struct fh_spool_record *r);
int fh__spool_segs_insert(struct fh_spool *sp, struct seg *s);
void fh__spool_seg_free(struct seg *s);
struct seg *fh__spool_next_main(struct fh_spool *sp, const struct seg *s);
int fh__spool_seg_fd(struct fh_spool *sp, struct seg *s);
void fh__spool_sync_dir(struct fh_spool *sp);
void fh__spool_write_batch(struct fh_spool *sp, struct lane *b, struct batch_out *o,
                           struct writebuf stage[2]);
bool fh__spool_apply_batch(struct fh_spool *sp, struct lane *b, struct batch_out *o, int64_t now);
void fh__spool_give_up_held(struct fh_spool *sp, struct lane *b, const char *when);
void fh__spool_update_limit(struct fh_spool *sp, int64_t now, bool force);
bool fh__spool_delete_finished(struct fh_spool *sp);
void fh__spool_fsync_active(struct fh_spool *sp);

/* ---- spool_drain.c: the sorted index, the checkpoint, drain passes ------------------------- */

int fh__spool_heap_push(struct fh_spool *sp, const struct loc *l);
void fh__spool_heap_push_or_log(struct fh_spool *sp, const struct loc *l);
uint64_t fh__spool_low_water(struct fh_spool *sp, const struct ra_entry *extra, uint32_t nextra);
bool fh__spool_checkpoint_write(struct fh_spool *sp, uint64_t low, uint64_t fed_limit);
bool fh__spool_feed(struct fh_spool *sp);

/* ---- spool_recover.c: recovery at open ------------------------------------------------------ */

int fh__spool_recover(struct fh_spool *sp, char *err, size_t errlen);

#endif
