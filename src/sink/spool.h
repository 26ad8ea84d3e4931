/*
 * spool.h - the Kafka sink's durable, append-only disk spool.
 *
 * When the broker cannot take records (librdkafka's queue is full, deliveries fail, the
 * cluster is down), the Kafka sink writes them here and re-produces them, in order, once the
 * broker is back. The spool knows nothing of Kafka: a record is a topic, a key, an opaque
 * header blob, a value, a timestamp and the sink's global produce sequence number (gseq),
 * which defines the order records must be re-produced in.
 *
 * Two streams, one order. Records reach the spool in two ways:
 *   - main: records the engine hands over while the sink is spooling. They arrive in gseq
 *     order and are written to main segments in that order.
 *   - front: records that had already been handed to librdkafka and came back failed
 *     (purged, timed out). They are older than every main record that has not been
 *     re-produced yet, but may arrive in any order among themselves, so they are written
 *     to front segments as they come and kept in an in-memory index sorted by gseq (bounded:
 *     they all came out of librdkafka's bounded queue).
 * A drain pass re-produces every pending front record in gseq order first, then main records
 * in file order; a record that fails again during a pass goes back into the sorted index
 * (its bytes stay where they are). At a restart, main records older than a pending front
 * record (handed out, failed again, then newer records came back) join the sorted index. The Kafka
 * sink starts a pass only when nothing of its own is in flight, and stops it on the first failure,
 * which is what makes the order of re-production equal the original produce order for every key
 * (kafka_sink.c explains it).
 *
 * On disk (dir/):
 *   m-<segno>.seg, f-<segno>.seg   segments: a 16-byte header ("FHSPOOL1", kind), then
 *                                  records: u32 body length, u32 CRC32C of (length, body),
 *                                  body = u64 gseq, i64 timestamp_ms, u16 topic length,
 *                                  u16 key length, u16 headers length, u16 flags (0),
 *                                  u32 value length, topic, key, headers, value
 *                                  (integers little-endian)
 *   checkpoint                     u64 low (every record with gseq < low is delivered),
 *                                  u64 fed_limit (no record above it had been handed to
 *                                  Kafka when it was written), CRC32C
 *   lock                           flock()ed while a process uses the directory
 * A torn or corrupt record (a crash in the middle of a write, a damaged disk) ends its
 * segment: at open the segment is truncated there and the loss is logged and counted; it is
 * never fatal.
 *
 * Full or failing disks. The spool is bounded by max_bytes and by the filesystem's free space
 * less reserve_bytes (checked at open, with a warning when max_bytes exceeds what the
 * filesystem can give, and again while running): main appends beyond it are refused, which
 * the sink turns into backpressure. A write that fails (ENOSPC, EDQUOT, EIO, EROFS, a short
 * write) is never retried in a loop on the writer thread: its torn bytes are truncated, the
 * records stay queued in memory and are retried with a backoff while the writer goes on
 * reading ahead for the drain and deleting finished segments (which is what frees space);
 * new main appends are refused meanwhile. Records still unwritten after write_grace_ms, or
 * at shutdown, are given up to on_lost and counted (stats.lost): never dropped silently.
 * Reads that fail are retried FH_SPOOL_READ_TRIES times; a record that stays unreadable (or
 * fails its checksum) is given up to on_lost and counted in corrupt_records.
 *
 * Threads. A spool has one writer thread that does all disk I/O (appends, fsync, reading
 * records back for a drain pass, checkpoints, deleting finished segments). The engine-side
 * functions below only copy bytes under a mutex that the writer never holds across I/O, so
 * they never block on the disk. Memory is bounded: the append queue by queue_bytes (front
 * records may exceed it, bounded by what librdkafka can hold), the read-ahead by two buffers
 * of FH_SPOOL_READAHEAD records, the in-flight window by inflight_max.
 *
 * Locality: fh_spool_open/close on the owner's thread at start-up/shutdown; every other
 * function on the engine thread (the one thread that owns the sink), except fh_spool_stats'
 * counters, which any thread may read with relaxed atomics.
 */
#ifndef FH_SINK_SPOOL_H
#define FH_SINK_SPOOL_H

#include "core/buf.h"
#include "core/crc32c.h" /* fh_crc32c, once declared here */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Records per read-ahead buffer (two buffers). */
#define FH_SPOOL_READAHEAD 1024
/* Largest value / key / headers / topic accepted in a record. */
#define FH_SPOOL_MAX_VALUE   (1024 * 1024)
#define FH_SPOOL_MAX_KEY     65535
#define FH_SPOOL_MAX_HEADERS 65535
#define FH_SPOOL_MAX_TOPIC   255
/* Bytes of a record on disk besides topic, key, headers and value. */
#define FH_SPOOL_RECORD_OVERHEAD 36

/*
 * The spool's file operations. Production uses the system calls (fh_spool_io_default); the
 * storage fault-injection tests put failures, short writes and crashes in between. Each
 * function has the system call's contract (-1 with errno on failure). ctx is the table's.
 */
struct statvfs;
struct fh_spool_io {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, int mode);
    ssize_t (*pwrite)(void *ctx, int fd, const void *p, size_t n, off_t off);
    ssize_t (*pread)(void *ctx, int fd, void *p, size_t n, off_t off);
    int (*fdatasync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*fstatvfs)(void *ctx, int fd, struct statvfs *st);
};
extern const struct fh_spool_io fh_spool_io_default;

/* Why the spool gave records up (fh_spool_config.on_lost). */
enum fh_spool_loss {
    FH_SPOOL_LOST_WRITE = 0,      /* could not be written (disk full or failing) in time */
    FH_SPOOL_LOST_UNREADABLE = 1, /* written, but unreadable when read back */
};

/*
 * Called for records the spool gives up, before their bytes are freed: r is the record
 * (n = 1), or, for records whose bytes cannot be read, NULL with the count n. Runs on the
 * spool's writer thread (or the thread in fh_spool_shutdown/close), never under the spool's
 * lock; it must not call into the spool.
 */
struct fh_spool_record;
typedef void (*fh_spool_lost_fn)(void *ctx, const struct fh_spool_record *r, uint64_t n,
                                 enum fh_spool_loss why, int err);

enum fh_spool_fsync {
    FH_SPOOL_FSYNC_BATCH = 0,    /* fdatasync after every batch the writer writes */
    FH_SPOOL_FSYNC_INTERVAL = 1, /* at most every fsync_interval_ms */
    FH_SPOOL_FSYNC_OFF = 2,      /* leave it to the kernel (survives a process crash only) */
};

struct fh_spool_config {
    const char *dir;           /* created (mode 0750) if missing */
    uint64_t max_bytes;        /* disk budget; main appends are refused beyond it */
    uint64_t segment_bytes;    /* a segment is closed when it would grow past this */
    enum fh_spool_fsync fsync; /* policy for segments and the checkpoint */
    int64_t fsync_interval_ms; /* FH_SPOOL_FSYNC_INTERVAL only */
    uint64_t queue_bytes;      /* engine -> writer queue for main appends */
    uint32_t inflight_max;     /* most drained records handed out and not yet resolved */
    /* Reserve for front records (what librdkafka may hand back at once); informs the
     * initial size of the sorted index. 0: a default. */
    uint32_t front_hint;
    /* Free space kept for front records, the checkpoint and new segment files: main appends
     * stop when the filesystem's free space would fall below it (and at max_bytes). */
    uint64_t reserve_bytes;
    /* How long records that cannot be written are kept in memory and retried (the drain
     * keeps running meanwhile and frees space) before they are given up to on_lost. 0: 10 s. */
    int64_t write_grace_ms;
    int64_t retry_ms;         /* first retry of a failed write, doubling to 1 s; 0: 50 ms */
    fh_spool_lost_fn on_lost; /* NULL: losses are counted and logged only */
    void *on_lost_ctx;
    const struct fh_spool_io *io; /* NULL: fh_spool_io_default */
};

/* A record as a view. Strings are borrowed; headers is an opaque blob. */
struct fh_spool_record {
    uint64_t gseq;
    int64_t timestamp_ms;
    struct fh_str topic;
    struct fh_str key;
    struct fh_str headers;
    struct fh_str value;
};

/* Counters and gauges; read with __atomic_load_n(..., __ATOMIC_RELAXED). */
struct fh_spool_stats {
    uint64_t appended;       /* main records accepted */
    uint64_t appended_front; /* front records accepted */
    uint64_t refused;        /* main appends refused (queue or disk full) */
    uint64_t written;        /* records written to segments */
    uint64_t bytes_written;  /* bytes written to segments */
    uint64_t fed;            /* records handed out by drain passes */
    uint64_t done;           /* records resolved as finished */
    uint64_t retried;        /* records resolved as failed again (back in the index) */
    uint64_t fsyncs;         /* fdatasync/fsync calls */
    uint64_t write_errors;   /* failed writes (retried) */
    uint64_t checkpoints;    /* checkpoint files written */
    uint64_t segments_deleted;
    uint64_t recovered;          /* records found pending at open */
    uint64_t recovered_suspect;  /* of those, handed to Kafka by the previous run and maybe
                                  * delivered: possible duplicates */
    uint64_t truncated_segments; /* segments cut at a torn or corrupt record */
    uint64_t truncated_bytes;    /* bytes dropped by those cuts */
    uint64_t corrupt_records;    /* records found corrupt when read back (lost) */
    uint64_t disk_bytes;         /* gauge: bytes in segment files */
    uint64_t pending;            /* gauge: records not finished (on disk or queued) */
    uint64_t queued_bytes;       /* gauge: bytes waiting for the writer */
    uint64_t lost;               /* records given up because they could not be written */
    uint64_t read_errors;        /* failed reads (retried; a record still unreadable after
                                  * FH_SPOOL_READ_TRIES is counted in corrupt_records) */
    uint64_t fsync_errors;       /* failed fdatasync calls */
    uint64_t checkpoint_errors;  /* checkpoints that could not be written (retried; until one
                                  * is, a restart may deliver more records again than the
                                  * documented window, not all counted as suspects) */
    uint64_t blocked;            /* gauge: 1 while writes fail and records wait in memory */
    uint64_t limit_bytes;        /* gauge: the bound in force: max_bytes, or less when the
                                  * filesystem's free space (less reserve_bytes) is smaller */
    uint64_t fs_free_bytes;      /* gauge: free space of the spool's filesystem */
};

/* Reads of one record that fail (EIO, short read) before it is given up as unreadable. */
#define FH_SPOOL_READ_TRIES 5

struct fh_spool;

/*
 * Opens (creating it if needed) and recovers a spool directory, then starts the writer.
 * Recovery locks the directory (a second process gets an error), reads the checkpoint,
 * checks every record of every segment, truncates torn or corrupt tails (logged and counted
 * in stats), skips what the checkpoint says is delivered and deletes finished segments.
 * Blocks on disk I/O: start-up only. Returns 0 with *out, or a negative error with a sentence
 * in err.
 */
int fh_spool_open(const struct fh_spool_config *cfg, struct fh_spool **out, char *err,
                  size_t errlen);

/*
 * Stops the writer after it has written everything queued (records that cannot be written
 * get one more try, then go to on_lost), truncates torn bytes of failed writes, fsyncs and
 * writes a final checkpoint. Afterwards the counters are final and no other call but
 * fh_spool_stats and fh_spool_close may be made. Records handed out by a pass and not
 * resolved stay pending on disk. Idempotent. Blocks: shutdown only.
 */
void fh_spool_shutdown(struct fh_spool *sp);

/* fh_spool_shutdown (if not done yet), then frees the spool. NULL is fine. */
void fh_spool_close(struct fh_spool *sp);

const struct fh_spool_stats *fh_spool_stats(const struct fh_spool *sp);

/* One more than the largest gseq found at open (1 for an empty spool): the sink numbers its
 * records from here so that new records sort after recovered ones. */
uint64_t fh_spool_next_gseq(const struct fh_spool *sp);

/* True if the spool holds nothing: no pending record on disk, none queued. */
bool fh_spool_empty(struct fh_spool *sp);

/*
 * Queues a main record (gseq larger than every record appended before). Copies r.
 * Returns 0, FH_ENOSPACE (the queue is full, the disk budget or the filesystem's free space
 * is used up, or writes are failing: backpressure, nothing queued), or FH_EINVAL (a field
 * too large).
 */
int fh_spool_append(struct fh_spool *sp, const struct fh_spool_record *r);

/*
 * The caller's promise that no front record with a gseq below floor will be appended from now
 * on (records it has in flight elsewhere, e.g. in librdkafka, may still come back as front
 * records: floor is the smallest of them). The checkpoint's low-water mark never passes it,
 * so a restart never skips a front record appended after a checkpoint. UINT64_MAX (the
 * default): nothing will come back. Any thread.
 */
void fh_spool_set_floor(struct fh_spool *sp, uint64_t floor);

/*
 * Queues a front record: one that was handed to Kafka and failed. Never refused for lack of
 * queue space (the caller bounds how many such records exist); returns 0, FH_ENOMEM or
 * FH_EINVAL.
 */
int fh_spool_append_front(struct fh_spool *sp, const struct fh_spool_record *r);

/*
 * Drain passes. fh_spool_drain_begin() starts a pass: the writer reads pending records
 * ahead, front records by gseq first, then main records. The caller must have nothing of the
 * spool's in flight (every handed-out record resolved).
 */
void fh_spool_drain_begin(struct fh_spool *sp);

enum fh_spool_next {
    FH_SPOOL_RECORD = 1,   /* *r holds the next record (valid until the next drain call) */
    FH_SPOOL_WAIT = 0,     /* nothing ready yet (being read, or the in-flight window is full) */
    FH_SPOOL_COMPLETE = 2, /* the pass handed out everything pending and queued; nothing more */
    FH_SPOOL_IDLE = 3,     /* no pass is running */
};

/* Peeks at the next record of the pass. Returns an enum fh_spool_next. With
 * FH_SPOOL_RECORD, *token (if not NULL) receives the token that fh_spool_drain_take() will
 * return for it, so the caller can attach it to the message before deciding to take it. */
int fh_spool_drain_peek(struct fh_spool *sp, struct fh_spool_record *r, uint64_t *token);

/* Takes the record last peeked: it is now in flight. Returns its token for
 * fh_spool_resolve(). */
uint64_t fh_spool_drain_take(struct fh_spool *sp);

/* Reports the fate of a taken record: done (delivered, or given up and counted by the
 * caller) or failed again (it goes back to the sorted index and the next pass). */
void fh_spool_resolve(struct fh_spool *sp, uint64_t token, bool done);

/* Ends the pass now: records read ahead and not taken are put back (nothing is lost). Taken
 * records stay in flight until resolved. */
void fh_spool_drain_abort(struct fh_spool *sp);

/* Taken and not yet resolved. */
uint32_t fh_spool_in_flight(struct fh_spool *sp);

/* Waits (blocking) until everything queued has been written (and fsynced per policy), or
 * timeout_ms passes. Returns 0 or -ETIMEDOUT. Shutdown and tests only. */
int fh_spool_sync(struct fh_spool *sp, int64_t timeout_ms);

#endif
