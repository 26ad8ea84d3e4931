/*
 * spool_recover.c - recovery of a spool directory at open: the checkpoint is read, every
 * record of every segment checked, torn or corrupt tails truncated, pending records
 * registered (main ones behind the main cursor, front ones in the sorted index) and finished
 * segments deleted. Front segments are read first: a main record older than a pending front
 * record was handed to Kafka and came back failed before the restart (a drain pass, then
 * newer records produced directly and taken back), so it joins the sorted index too and the
 * next pass stays in gseq order. Runs in fh_spool_open, after the directory is locked and before
 * the writer thread starts, so it does not take mu. See spool.h for the format on disk.
 */
#include "sink/spool_int.h"

#include "core/err.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
 * pending records. *front_max: the highest gseq of the pending front records, raised by front
 * segments; main records up to it go to the sorted index. Returns 0, or a negative error for
 * an unreadable file (then skipped). */
static int recover_seg(struct fh_spool *sp, struct seg *s, uint64_t low, uint64_t fed_limit,
                       uint64_t *front_max)
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
        uint32_t len = fh__spool_record_check(buf + pos, have - pos, &need);
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
            if (s->kind == KIND_FRONT && l.gseq > *front_max)
                *front_max = l.gseq;
            if (s->kind == KIND_FRONT || (*front_max != 0 && l.gseq < *front_max)) {
                if (fh__spool_heap_push(sp, &l) != 0) {
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

/* Recovers the directory into sp (see the top of this file). Returns 0, or a negative
 * error with a sentence in err. */
int fh__spool_recover(struct fh_spool *sp, char *err, size_t errlen)
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
        if (s == NULL || path == NULL || fh__spool_segs_insert(sp, s) != 0) {
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
    /* Front segments, then main ones in segment order (main records are met in gseq order). */
    uint64_t front_max = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sp->nsegs; i++) {
            struct seg *s = sp->segs[i];
            if ((s->kind == KIND_FRONT) != (pass == 0))
                continue;
            if (fh__spool_seg_fd(sp, s) < 0 ||
                recover_seg(sp, s, low, fed_limit, &front_max) != 0) {
                log_error("spool: segment unreadable, skipped", "path=%s error=\"%s\"", s->path,
                          strerror(errno));
                continue;
            }
            sp->disk_bytes += s->size;
        }
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
        fh__spool_seg_free(s);
    }
    sp->nsegs = kept;
    if (removed > 0)
        fh__spool_sync_dir(sp);
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
