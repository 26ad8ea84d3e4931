/*
 * fuzz_spool_recover.c - libFuzzer target: the Kafka sink's disk spool opened on a damaged
 * directory (src/sink/spool_recover.c through fh_spool_open), then drained to the end.
 *
 * Input: byte 0 options, then up to 6 files, each [u8 tag][u16 length, little-endian][bytes]
 * (a file cut short by the end of the input keeps what is there):
 *   tag bits 0-1  0 checkpoint, 1 main segment m-<segno>.seg, 2 front segment f-<segno>.seg,
 *                 3 checkpoint.tmp (left over by a crash)
 *       bits 2-7  segno
 *   options bit 0 fix the CRC of every record whose length field fits in its segment (so the
 *                 fuzzer reaches the checks behind the checksum: field lengths, limits, gseq
 *                 order), bit 1 fix the checkpoint's CRC, bit 2 fail the record handed out at
 *                 position byte 1 once and start a new pass (the sink's retry after a failure)
 *
 * The target writes the files to a directory, opens the spool, drains every record it
 * recovered (resolving each as delivered), closes it, and opens it once more. Checked: the
 * spool opens whatever the bytes; it never hangs; every record handed out is byte for byte a
 * record of the files that passes its CRC and is well-formed by the format of spool.h, and
 * none twice; the recovery counters match the files. When the files keep the spool's own
 * invariants (main records in increasing gseq order across main segments, every gseq once),
 * the records come out exactly as spool.h says: the pending front records by gseq, then the
 * pending main ones in file order (pending: gseq at or above the checkpoint's low-water
 * mark), and the reopened spool is empty.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines; tests/fuzz/gen-seeds writes the file from
 * directories the spool itself wrote, see spool_seeds.c):
 * FUZZ_SEEDS_ESCAPED: spool_recover.seeds
 */
#include "fuzz_util.h"

#include "core/crc32c.h"
#include "core/log.h"
#include "sink/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES  6
#define SEG_HEADER 16
#define REC_HEADER 8
#define BODY_FIXED 28
#define MAX_BODY \
    (BODY_FIXED + FH_SPOOL_MAX_TOPIC + FH_SPOOL_MAX_KEY + FH_SPOOL_MAX_HEADERS + FH_SPOOL_MAX_VALUE)

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

#define OPT_FIX_RECORDS    0x01u
#define OPT_FIX_CHECKPOINT 0x02u
#define OPT_FAIL_ONCE      0x04u

static char dir[64];

static void clear_dir(void);

static void remove_dir(void)
{
    clear_dir();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A memory filesystem when there is one: creating files on a disk filesystem costs more
     * than the rest of an execution. */
    snprintf(dir, sizeof(dir), "/dev/shm/fuzz_spool.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        snprintf(dir, sizeof(dir), "/tmp/fuzz_spool.XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
    }
    atexit(remove_dir);
    fh_log_set_level(FH_LOG_ERROR);
    fh_log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
    return 0;
}

static uint32_t u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64le(const uint8_t *p)
{
    return (uint64_t)u32le(p) | (uint64_t)u32le(p + 4) << 32;
}

static uint16_t u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the directory ---------------------------------------------------------------------- */

struct file {
    int type; /* 0 checkpoint, 1 main, 2 front, 3 checkpoint.tmp */
    unsigned segno;
    uint8_t *data;
    size_t len;
    /* Segments, as this target reads them: */
    size_t valid_end; /* the end of the last valid record (0 if the header is bad) */
};

/* A valid record of a segment. */
struct rec {
    const struct file *f;
    size_t off;
    uint32_t len; /* REC_HEADER + body */
    uint64_t gseq;
    bool pending;
    bool seen;
};

struct dirstate {
    struct file files[MAX_FILES];
    size_t nfiles;
    bool ckpt_ok;
    uint64_t low, fed_limit;
    struct rec *recs;
    size_t nrecs, cap;
};

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    FH_FUZZ_CHECK(d != NULL);
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        FH_FUZZ_CHECK(unlink(p) == 0);
    }
    closedir(d);
}

static void file_name(const struct file *f, char *buf, size_t n)
{
    static const char *const fixed[] = {"checkpoint", NULL, NULL, "checkpoint.tmp"};
    if (fixed[f->type] != NULL)
        snprintf(buf, n, "%s/%s", dir, fixed[f->type]);
    else
        snprintf(buf, n, "%s/%c-%016x.seg", dir, f->type == 1 ? 'm' : 'f', f->segno);
}

/* The record at p (avail bytes) if it is valid by spool.h: its body length, else 0. */
static uint32_t record_ok(const uint8_t *p, size_t avail)
{
    if (avail < REC_HEADER)
        return 0;
    uint32_t len = u32le(p);
    if (len < BODY_FIXED || len > MAX_BODY || avail - REC_HEADER < len)
        return 0;
    const uint8_t *b = p + REC_HEADER;
    uint64_t tl = u16le(b + 16), kl = u16le(b + 18), hl = u16le(b + 20), vl = u32le(b + 24);
    if (tl > FH_SPOOL_MAX_TOPIC || vl > FH_SPOOL_MAX_VALUE || BODY_FIXED + tl + kl + hl + vl != len)
        return 0;
    uint32_t crc = fh_crc32c(fh_crc32c(0, p, 4), b, len);
    return crc == u32le(p + 4) ? len : 0;
}

/* Gives every record whose length field fits its CRC (option bit 0). */
static void fix_records(struct file *f)
{
    size_t off = SEG_HEADER;
    while (f->len - off >= REC_HEADER) {
        uint32_t len = u32le(f->data + off);
        if (len > f->len - off - REC_HEADER)
            break;
        uint8_t *p = f->data + off;
        put32(p + 4, fh_crc32c(fh_crc32c(0, p, 4), p + REC_HEADER, len));
        off += REC_HEADER + len;
    }
}

static void add_rec(struct dirstate *ds, struct rec r)
{
    if (ds->nrecs == ds->cap) {
        ds->cap = ds->cap ? ds->cap * 2 : 64;
        ds->recs = realloc(ds->recs, ds->cap * sizeof(*ds->recs));
        FH_FUZZ_CHECK(ds->recs != NULL);
    }
    ds->recs[ds->nrecs++] = r;
}

/* Decodes the input into files (the last of two with the same name wins). */
static void decode(const uint8_t *d, size_t n, unsigned opt, struct dirstate *ds)
{
    size_t k = 0;
    while (k < n && ds->nfiles < MAX_FILES) {
        unsigned tag = d[k++];
        size_t len = 0;
        if (k < n)
            len = d[k++];
        if (k < n)
            len |= (size_t)d[k++] << 8;
        if (len > n - k)
            len = n - k;
        struct file f = {.type = (int)(tag & 3), .segno = tag >> 2, .len = len};
        if (f.type == 0 || f.type == 3)
            f.segno = 0;
        f.data = malloc(len + 1);
        FH_FUZZ_CHECK(f.data != NULL);
        if (len > 0)
            memcpy(f.data, d + k, len);
        k += len;
        for (size_t i = 0; i < ds->nfiles; i++) {
            if (ds->files[i].type == f.type && ds->files[i].segno == f.segno) {
                free(ds->files[i].data);
                ds->files[i] = ds->files[--ds->nfiles];
                break;
            }
        }
        if (f.type == 0 && (opt & OPT_FIX_CHECKPOINT) && f.len >= 28)
            put32(f.data + 24, fh_crc32c(0, f.data, 24));
        if ((f.type == 1 || f.type == 2) && (opt & OPT_FIX_RECORDS) && f.len >= SEG_HEADER)
            fix_records(&f);
        ds->files[ds->nfiles++] = f;
    }
}

static void write_files(const struct dirstate *ds)
{
    char path[512];
    for (size_t i = 0; i < ds->nfiles; i++) {
        const struct file *f = &ds->files[i];
        file_name(f, path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        FH_FUZZ_CHECK(fd >= 0);
        FH_FUZZ_CHECK(f->len == 0 || write(fd, f->data, f->len) == (ssize_t)f->len);
        close(fd);
    }
}

static int cmp_segno(const void *a, const void *b)
{
    const struct file *x = *(const struct file *const *)a, *y = *(const struct file *const *)b;
    return x->segno < y->segno ? -1 : x->segno > y->segno;
}

/*
 * What the files hold, read by this target from spool.h: the checkpoint, and each segment's
 * valid records up to the first one that is not (the spool cuts a segment there). Segments
 * in segno order, as the spool meets them. Returns true if the files keep the spool's own
 * invariants (see the top of this file).
 */
static bool survey(struct dirstate *ds)
{
    ds->low = ds->fed_limit = 0;
    ds->ckpt_ok = false;
    struct file *segs[MAX_FILES];
    size_t nsegs = 0;
    for (size_t i = 0; i < ds->nfiles; i++) {
        struct file *f = &ds->files[i];
        if (f->type == 0 && f->len >= 32 && memcmp(f->data, "FHCKPT01", 8) == 0 &&
            u32le(f->data + 24) == fh_crc32c(0, f->data, 24)) {
            ds->ckpt_ok = true;
            ds->low = u64le(f->data + 8);
            ds->fed_limit = u64le(f->data + 16);
        }
        if (f->type == 1 || f->type == 2)
            segs[nsegs++] = f;
    }
    qsort(segs, nsegs, sizeof(segs[0]), cmp_segno);
    bool regular = true;
    bool any_main = false;
    uint64_t last_main = 0;
    for (size_t i = 0; i < nsegs; i++) {
        struct file *f = segs[i];
        uint32_t kind = f->type == 1 ? 0 : 1;
        f->valid_end = 0;
        if (f->len < SEG_HEADER || memcmp(f->data, "FHSPOOL1", 8) != 0 ||
            u32le(f->data + 8) != kind)
            continue;
        size_t off = SEG_HEADER;
        uint32_t len;
        while ((len = record_ok(f->data + off, f->len - off)) != 0) {
            struct rec r = {f,     off,  REC_HEADER + len, u64le(f->data + off + REC_HEADER),
                            false, false};
            r.pending = r.gseq >= ds->low;
            if (f->type == 1) {
                regular &= !any_main || r.gseq > last_main;
                any_main = true;
                last_main = r.gseq;
            }
            add_rec(ds, r);
            off += r.len;
        }
        f->valid_end = off;
    }
    for (size_t i = 0; i < ds->nrecs && regular; i++) {
        for (size_t j = i + 1; j < ds->nrecs && regular; j++)
            regular = ds->recs[i].gseq != ds->recs[j].gseq;
    }
    return regular;
}

/* ---- the spool ------------------------------------------------------------------------ */

static struct fh_spool *open_spool(void)
{
    struct fh_spool_config cfg = {
        .dir = dir,
        .max_bytes = 64ull << 20,
        .segment_bytes = 64 * 1024,
        .fsync = FH_SPOOL_FSYNC_OFF,
        .queue_bytes = 8ull << 20,
        .inflight_max = 64,
        .reserve_bytes = 0,
    };
    struct fh_spool *sp = NULL;
    char err[256] = "";
    int rc = fh_spool_open(&cfg, &sp, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "fh_spool_open: %d %s\n", rc, err);
        FH_FUZZ_CHECK(rc == 0);
    }
    return sp;
}

/* The record handed out: a valid record of the files, byte for byte, not handed out (as
 * delivered) before. Returns its index. */
static size_t match(struct dirstate *ds, const struct fh_spool_record *r)
{
    FH_FUZZ_CHECK(r->topic.n <= FH_SPOOL_MAX_TOPIC && r->key.n <= FH_SPOOL_MAX_KEY);
    FH_FUZZ_CHECK(r->headers.n <= FH_SPOOL_MAX_HEADERS && r->value.n <= FH_SPOOL_MAX_VALUE);
    for (size_t i = 0; i < ds->nrecs; i++) {
        struct rec *x = &ds->recs[i];
        if (x->gseq != r->gseq || x->seen)
            continue;
        const uint8_t *b = x->f->data + x->off + REC_HEADER;
        size_t tl = u16le(b + 16), kl = u16le(b + 18), hl = u16le(b + 20), vl = u32le(b + 24);
        const char *p = (const char *)b + BODY_FIXED;
        if ((int64_t)u64le(b + 8) == r->timestamp_ms &&
            fh_str_eq(r->topic, (struct fh_str){p, tl}) &&
            fh_str_eq(r->key, (struct fh_str){p + tl, kl}) &&
            fh_str_eq(r->headers, (struct fh_str){p + tl + kl, hl}) &&
            fh_str_eq(r->value, (struct fh_str){p + tl + kl + hl, vl}))
            return i;
    }
    fprintf(stderr, "record gseq %" PRIu64 " handed out is not a valid record of the files\n",
            r->gseq);
    FH_FUZZ_CHECK(!"record does not check out");
    return 0;
}

/* Drains one pass. fail_at: the position (from 1) of a record to resolve as failed, after
 * which the pass is aborted (0: none). Returns false if it stopped there. */
static bool drain_pass(struct fh_spool *sp, struct dirstate *ds, size_t *order, size_t *n,
                       size_t fail_at, size_t *handed)
{
    fh_spool_drain_begin(sp);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t spins = 0;; spins++) {
        struct fh_spool_record r;
        uint64_t tok = UINT64_MAX;
        int rc = fh_spool_drain_peek(sp, &r, &tok);
        if (rc == FH_SPOOL_COMPLETE)
            return true;
        FH_FUZZ_CHECK(rc == FH_SPOOL_RECORD || rc == FH_SPOOL_WAIT);
        if (rc == FH_SPOOL_WAIT) {
            if (spins % 64 == 63) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                /* A pass over a few KiB takes milliseconds: 5 s is a hang. */
                FH_FUZZ_CHECK(t.tv_sec - t0.tv_sec < 5);
                struct timespec ts = {0, 20000};
                nanosleep(&ts, NULL);
            } else {
                sched_yield();
            }
            continue;
        }
        size_t i = match(ds, &r);
        uint64_t got = fh_spool_drain_take(sp);
        FH_FUZZ_CHECK(got == tok);
        (*handed)++;
        if (fail_at != 0 && *handed == fail_at) {
            fh_spool_resolve(sp, got, false);
            fh_spool_drain_abort(sp);
            return false;
        }
        ds->recs[i].seen = true;
        order[(*n)++] = i;
        fh_spool_resolve(sp, got, true);
    }
}

static int cmp_gseq(const void *a, const void *b)
{
    const struct rec *const *x = a, *const *y = b;
    return (*x)->gseq < (*y)->gseq ? -1 : (*x)->gseq > (*y)->gseq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned opt = data[0];
    size_t fail_at = (opt & OPT_FAIL_ONCE) ? (size_t)data[1] + 1 : 0;
    struct dirstate ds;
    memset(&ds, 0, sizeof(ds));
    decode(data + 2, size - 2, opt, &ds);
    clear_dir();
    write_files(&ds);
    bool regular = survey(&ds);

    struct fh_spool *sp = open_spool();
    const struct fh_spool_stats *st = fh_spool_stats(sp);
    size_t pending = 0, suspect = 0;
    for (size_t i = 0; i < ds.nrecs; i++) {
        pending += ds.recs[i].pending;
        suspect += ds.recs[i].pending && ds.recs[i].gseq <= ds.fed_limit;
    }
    uint64_t trunc_segs = 0, trunc_bytes = 0;
    for (size_t i = 0; i < ds.nfiles; i++) {
        const struct file *f = &ds.files[i];
        if ((f->type == 1 || f->type == 2) && f->valid_end < f->len) {
            trunc_segs++;
            trunc_bytes += f->len - f->valid_end;
        }
    }
    FH_FUZZ_CHECK(LD(st->recovered) == pending && LD(st->recovered_suspect) == suspect);
    FH_FUZZ_CHECK(LD(st->truncated_segments) == trunc_segs);
    FH_FUZZ_CHECK(LD(st->truncated_bytes) == trunc_bytes);
    FH_FUZZ_CHECK(fh_spool_empty(sp) == (pending == 0));

    size_t *order = malloc((ds.nrecs + 1) * sizeof(*order));
    FH_FUZZ_CHECK(order != NULL);
    size_t n = 0, handed = 0;
    if (!drain_pass(sp, &ds, order, &n, fail_at, &handed))
        FH_FUZZ_CHECK(drain_pass(sp, &ds, order, &n, 0, &handed));
    FH_FUZZ_CHECK(fh_spool_in_flight(sp) == 0);
    FH_FUZZ_CHECK(LD(st->corrupt_records) == 0);
    if (regular) {
        /* Pending front records by gseq, then pending main records in file order. */
        const struct rec **want = malloc((ds.nrecs + 1) * sizeof(*want));
        FH_FUZZ_CHECK(want != NULL);
        size_t nw = 0, nfront = 0;
        for (size_t i = 0; i < ds.nrecs; i++) {
            if (ds.recs[i].pending && ds.recs[i].f->type == 2)
                want[nw++] = &ds.recs[i];
        }
        nfront = nw;
        qsort(want, nfront, sizeof(*want), cmp_gseq);
        for (size_t i = 0; i < ds.nrecs; i++) {
            if (ds.recs[i].pending && ds.recs[i].f->type == 1)
                want[nw++] = &ds.recs[i];
        }
        if (n != nw)
            fprintf(stderr, "drained %zu records, %zu pending\n", n, nw);
        FH_FUZZ_CHECK(n == nw);
        for (size_t i = 0; i < n; i++)
            FH_FUZZ_CHECK(&ds.recs[order[i]] == want[i]);
        free(want);
    }
    fh_spool_close(sp);

    /* Everything was delivered: a restart finds nothing to send again. */
    sp = open_spool();
    if (regular) {
        FH_FUZZ_CHECK(LD(fh_spool_stats(sp)->recovered) == 0 && fh_spool_empty(sp));
        size_t n2 = 0, handed2 = 0;
        for (size_t i = 0; i < ds.nrecs; i++)
            ds.recs[i].seen = false;
        FH_FUZZ_CHECK(drain_pass(sp, &ds, order, &n2, 0, &handed2) && n2 == 0);
    }
    fh_spool_close(sp);

    free(order);
    free(ds.recs);
    for (size_t i = 0; i < ds.nfiles; i++)
        free(ds.files[i].data);
    return 0;
}
