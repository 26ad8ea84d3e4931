/*
 * record.c - raw message recording: a byte ring filled by the engine, drained by a writer
 * thread into rotating files (see record.h).
 *
 * The ring is core/ring.h's, like the stream sink's: single-producer (engine)
 * single-consumer (its writer thread); the engine wakes the writer only from
 * fh_recorder_poll(), at most once per loop iteration and only when the writer sleeps.
 */
#include "feed/record.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIN_RING_BYTES (64 * 1024)
#define NAME_PREFIX    "feedhandler-"
#define NAME_SUFFIX    ".ndjson"

struct fh_recorder {
    char *dir;
    uint64_t max_file_bytes;
    uint32_t max_files;

    struct fh_ring ring;
    bool ring_inited;

    /* Writer state. */
    int fd;
    uint64_t file_bytes;
    bool at_line_start;
    uint32_t seq;
    char stamp[32]; /* UTC start time for file names */
    char **files;   /* recording files in dir, oldest first (names only) */
    size_t nfiles, files_cap;
    struct fh_ratelimit rl;

    struct fh_recorder_stats stats;
};

static void stat_add(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/* ---- engine side ------------------------------------------------------------------------ */

bool fh_recorder_put(struct fh_recorder *r, int64_t recv_ns, int64_t conn_id, const char *proto,
                     const char *msg, size_t len, bool json_ok)
{
    bool raw = json_ok && memchr(msg, '\n', len) == NULL && memchr(msg, '\r', len) == NULL;
    char head[128];
    size_t h = 0;
    size_t plen = strlen(proto);
    if (plen > 32)
        plen = 32;
    memcpy(head + h, "{\"t\":", 5);
    h += 5;
    h += fh_fmt_i64(head + h, recv_ns);
    memcpy(head + h, ",\"c\":", 5);
    h += 5;
    h += fh_fmt_i64(head + h, conn_id);
    memcpy(head + h, ",\"v\":\"", 6);
    h += 6;
    memcpy(head + h, proto, plen);
    h += plen;
    memcpy(head + h, raw ? "\",\"m\":" : "\",\"x\":\"", raw ? 6 : 7);
    h += raw ? 6 : 7;
    size_t body = raw ? len : 2 * len;
    size_t tail_len = raw ? 2 : 3;
    uint64_t n = h + body + tail_len;
    if (n > fh_ring_space(&r->ring)) {
        stat_add(&r->stats.dropped, 1);
        return false;
    }
    uint64_t pos = r->ring.head;
    fh_ring_put(&r->ring, &pos, head, h);
    if (raw) {
        fh_ring_put(&r->ring, &pos, msg, len);
        fh_ring_put(&r->ring, &pos, "}\n", 2);
    } else {
        for (size_t i = 0; i < len; i++) {
            char pair[2] = {fh_hex_lower[(uint8_t)msg[i] >> 4], fh_hex_lower[(uint8_t)msg[i] & 15]};
            fh_ring_put(&r->ring, &pos, pair, 2);
        }
        fh_ring_put(&r->ring, &pos, "\"}\n", 3);
    }
    fh_ring_commit(&r->ring, pos);
    stat_add(&r->stats.recorded, 1);
    return true;
}

void fh_recorder_poll(struct fh_recorder *r)
{
    fh_ring_poll(&r->ring);
}

/* ---- writer side ------------------------------------------------------------------------ */

static bool is_recording_name(const char *name)
{
    size_t n = strlen(name), p = strlen(NAME_PREFIX), s = strlen(NAME_SUFFIX);
    return n > p + s && memcmp(name, NAME_PREFIX, p) == 0 &&
           memcmp(name + n - s, NAME_SUFFIX, s) == 0;
}

static int files_push(struct fh_recorder *r, const char *name)
{
    if (r->nfiles == r->files_cap) {
        size_t cap = r->files_cap ? r->files_cap * 2 : 16;
        char **f = realloc(r->files, cap * sizeof(*f));
        if (f == NULL)
            return FH_ENOMEM;
        r->files = f;
        r->files_cap = cap;
    }
    r->files[r->nfiles] = strdup(name);
    if (r->files[r->nfiles] == NULL)
        return FH_ENOMEM;
    r->nfiles++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists recording files left in dir by earlier runs, oldest (smallest name) first. */
static int scan_dir(struct fh_recorder *r)
{
    DIR *d = opendir(r->dir);
    if (d == NULL)
        return -errno;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (is_recording_name(e->d_name) && (rc = files_push(r, e->d_name)) != 0)
            break;
    }
    closedir(d);
    if (r->nfiles > 1)
        qsort(r->files, r->nfiles, sizeof(*r->files), cmp_names);
    return rc;
}

static void unlink_oldest(struct fh_recorder *r)
{
    char path[4096];
    while (r->nfiles > r->max_files) {
        snprintf(path, sizeof(path), "%s/%s", r->dir, r->files[0]);
        if (unlink(path) != 0 && errno != ENOENT)
            log_warn("cannot delete an old recording", "path=%s errno=%d", path, errno);
        free(r->files[0]);
        memmove(r->files, r->files + 1, (r->nfiles - 1) * sizeof(*r->files));
        r->nfiles--;
    }
}

static void close_file(struct fh_recorder *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->file_bytes = 0;
}

static int open_next(struct fh_recorder *r)
{
    char name[128], path[4096];
    close_file(r);
    /* Names never collide with an existing file (another recorder in this process and
     * second, or a recycled pid): O_EXCL, and the next number on EEXIST. */
    for (int tries = 0; tries < 1000; tries++) {
        snprintf(name, sizeof(name), NAME_PREFIX "%s-%ld-%06u" NAME_SUFFIX, r->stamp,
                 (long)getpid(), r->seq++);
        snprintf(path, sizeof(path), "%s/%s", r->dir, name);
        r->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (r->fd >= 0 || errno != EEXIST)
            break;
    }
    if (r->fd < 0) {
        int e = errno;
        stat_add(&r->stats.write_errors, 1);
        uint64_t sup;
        if (fh_ratelimit_allow(&r->rl, fh_clock_monotonic_ns(), &sup))
            log_error("cannot open a recording file", "path=%s errno=%d error=\"%s\"", path, e,
                      strerror(e));
        return -e;
    }
    stat_add(&r->stats.files, 1);
    if (files_push(r, name) == 0)
        unlink_oldest(r);
    log_info("recording to a new file", "path=%s", path);
    return 0;
}

static uint64_t count_lines(const uint8_t *p, size_t n)
{
    uint64_t k = 0;
    for (const uint8_t *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++)
        k++;
    return k;
}

/* Writes n bytes to the current file; on failure the bytes are dropped and their lines
 * counted as lost (the feed never waits for the recording). */
static void put_bytes(struct fh_recorder *r, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (r->fd < 0 && open_next(r) != 0) {
        stat_add(&r->stats.lost, count_lines(p, n));
        return;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(r->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            stat_add(&r->stats.write_errors, 1);
            stat_add(&r->stats.lost, count_lines(p + done, n - done));
            uint64_t sup;
            if (fh_ratelimit_allow(&r->rl, fh_clock_monotonic_ns(), &sup))
                log_error("recording write failed, lines dropped", "errno=%d error=\"%s\"", e,
                          strerror(e));
            close_file(r); /* the next write opens a fresh file */
            return;
        }
        done += (size_t)w;
    }
    r->file_bytes += n;
    stat_add(&r->stats.bytes, n);
    r->at_line_start = p[n - 1] == '\n';
}

/* Writes one contiguous piece, cutting files at line boundaries. */
static void write_piece(struct fh_recorder *r, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uint64_t room = r->file_bytes < r->max_file_bytes ? r->max_file_bytes - r->file_bytes : 0;
        if (r->fd >= 0 && n <= room) {
            put_bytes(r, p, n);
            return;
        }
        if (r->fd < 0) {
            if (open_next(r) != 0) {
                stat_add(&r->stats.lost, count_lines(p, n));
                return;
            }
            continue;
        }
        const uint8_t *q = room > 0 ? memrchr(p, '\n', room) : NULL;
        if (q != NULL) {
            size_t k = (size_t)(q - p) + 1;
            put_bytes(r, p, k);
            p += k;
            n -= k;
            close_file(r);
            continue;
        }
        if (r->at_line_start && r->file_bytes > 0) {
            close_file(r); /* the next line does not fit: it starts a new file */
            continue;
        }
        /* A line longer than the room left (or than a whole file): write it out whole. */
        q = memchr(p, '\n', n);
        size_t k = q != NULL ? (size_t)(q - p) + 1 : n;
        put_bytes(r, p, k);
        p += k;
        n -= k;
    }
}

/* Drains one piece of the ring (its writer thread). The recording never stops the feed:
 * what cannot be written is counted as lost, and the ring goes on. */
static int drain_piece(void *ctx, const uint8_t *p, size_t n)
{
    write_piece(ctx, p, n);
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------------- */

struct fh_recorder *fh_recorder_new(const struct fh_recorder_config *cfg, char *err, size_t errlen)
{
    struct fh_recorder *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->fd = -1;
    r->at_line_start = true;
    fh_ratelimit_init(&r->rl, 5, 60LL * 1000000000LL);
    struct stat st;
    if (cfg->dir == NULL || cfg->dir[0] == '\0' || stat(cfg->dir, &st) != 0 ||
        !S_ISDIR(st.st_mode) || access(cfg->dir, W_OK) != 0) {
        snprintf(err, errlen, "recording directory \"%s\" is not a writable directory",
                 cfg->dir ? cfg->dir : "");
        goto fail;
    }
    r->dir = strdup(cfg->dir);
    r->max_file_bytes = cfg->max_file_bytes > 0 ? cfg->max_file_bytes : 1;
    r->max_files = cfg->max_files > 0 ? cfg->max_files : 1;
    uint64_t cap = cfg->buffer_bytes < MIN_RING_BYTES ? MIN_RING_BYTES : cfg->buffer_bytes;
    r->ring_inited = true;
    int rrc = fh_ring_init(&r->ring, cap, drain_piece, NULL, r);
    if (r->dir == NULL || rrc != 0) {
        snprintf(err, errlen, "out of memory for a %llu-byte recording buffer",
                 (unsigned long long)cap);
        goto fail;
    }
    int rc = scan_dir(r);
    if (rc != 0) {
        snprintf(err, errlen, "cannot list recording directory %s: %s", r->dir, fh_strerror(rc));
        goto fail;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->stamp, sizeof(r->stamp), "%Y%m%dT%H%M%SZ", &tm);
    if (fh_ring_start(&r->ring) != 0) {
        snprintf(err, errlen, "cannot start the recording writer thread");
        goto fail;
    }
    return r;
fail:
    fh_recorder_free(r);
    return NULL;
}

void fh_recorder_free(struct fh_recorder *r)
{
    fh_recorder_close(r, NULL);
}

void fh_recorder_close(struct fh_recorder *r, struct fh_recorder_stats *final)
{
    if (r == NULL)
        return;
    if (r->ring_inited)
        fh_ring_stop(&r->ring); /* writes everything queued first */
    close_file(r);
    if (final != NULL)
        fh_recorder_stats(r, final);
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    if (r->ring_inited)
        fh_ring_release(&r->ring);
    free(r->dir);
    free(r);
}

void fh_recorder_stats(const struct fh_recorder *r, struct fh_recorder_stats *out)
{
    out->recorded = __atomic_load_n(&r->stats.recorded, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&r->stats.dropped, __ATOMIC_RELAXED);
    out->lost = __atomic_load_n(&r->stats.lost, __ATOMIC_RELAXED);
    out->bytes = __atomic_load_n(&r->stats.bytes, __ATOMIC_RELAXED);
    out->files = __atomic_load_n(&r->stats.files, __ATOMIC_RELAXED);
    out->write_errors = __atomic_load_n(&r->stats.write_errors, __ATOMIC_RELAXED);
}

const struct fh_recorder_stats *fh_recorder_stats_ptr(const struct fh_recorder *r)
{
    return &r->stats;
}

/* ---- reading ---------------------------------------------------------------------------- */

static bool parse_int_field(const char **pp, const char *end, const char *key, int64_t *out)
{
    size_t kl = strlen(key);
    const char *p = *pp;
    if ((size_t)(end - p) < kl || memcmp(p, key, kl) != 0)
        return false;
    p += kl;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    *pp = p;
    return true;
}

int fh_record_parse_line(const char *line, size_t len, struct fh_record_line *out)
{
    const char *p = line, *end = line + len;
    while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    memset(out, 0, sizeof(*out));
    if (!parse_int_field(&p, end, "{\"t\":", &out->recv_ns) ||
        !parse_int_field(&p, end, ",\"c\":", &out->conn_id))
        return FH_EPARSE;
    if ((size_t)(end - p) < 7 || memcmp(p, ",\"v\":\"", 6) != 0)
        return FH_EPARSE;
    p += 6;
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (q == NULL || q == p)
        return FH_EPARSE;
    out->proto = p;
    out->proto_len = (size_t)(q - p);
    p = q + 1;
    if ((size_t)(end - p) >= 6 && memcmp(p, ",\"m\":", 5) == 0 && end[-1] == '}') {
        out->msg = p + 5;
        out->msg_len = (size_t)(end - 1 - out->msg);
        return out->msg_len > 0 ? 0 : FH_EPARSE;
    }
    if ((size_t)(end - p) >= 8 && memcmp(p, ",\"x\":\"", 6) == 0 && end[-1] == '}' &&
        end[-2] == '"') {
        out->msg = p + 6;
        out->msg_len = (size_t)(end - 2 - out->msg);
        out->hex = true;
        return out->msg_len % 2 == 0 ? 0 : FH_EPARSE;
    }
    return FH_EPARSE;
}

long fh_record_hex_decode(const char *hex, size_t len, char *out, size_t cap)
{
    if (len % 2 != 0 || len / 2 > cap)
        return FH_EPARSE;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = fh_hex_value(hex[2 * i]), lo = fh_hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return FH_EPARSE;
        out[i] = (char)(hi << 4 | lo);
    }
    return (long)(len / 2);
}
