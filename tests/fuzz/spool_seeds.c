/*
 * spool_seeds.c - writes spool directories with the spool itself (src/sink/spool.c) and
 * prints each as a seed of fuzz_spool_recover, for tests/fuzz/gen-seeds (--spool-seeder):
 * one "# what" line, then the seed escaped on one line (make-seeds: FUZZ_SEEDS_ESCAPED).
 *
 * The directories are what a run of the sink leaves: records never drained, records partly
 * delivered (a checkpoint with a low-water mark), front records out of order, several
 * segments; then the usual damage: a torn tail, a flipped bit, a checkpoint lost or left as
 * checkpoint.tmp.
 *
 * Built with the fuzz targets (tests/fuzz/CMakeLists.txt); not a test.
 */
#include "sink/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file {
    int type; /* 0 checkpoint, 1 main, 2 front, 3 checkpoint.tmp */
    unsigned segno;
    unsigned char *data;
    size_t len;
};

struct snap {
    struct file f[8];
    size_t n;
};

static void die(const char *what)
{
    fprintf(stderr, "spool_seeds: %s\n", what);
    exit(1);
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static struct fh_spool *open_spool(const char *dir, uint64_t segment_bytes)
{
    struct fh_spool_config cfg = {
        .dir = dir,
        .max_bytes = 64ull << 20,
        .segment_bytes = segment_bytes,
        .fsync = FH_SPOOL_FSYNC_OFF,
        .queue_bytes = 8ull << 20,
        .inflight_max = 64,
    };
    struct fh_spool *sp;
    char err[256];
    if (fh_spool_open(&cfg, &sp, err, sizeof(err)) != 0)
        die(err);
    return sp;
}

static void record(uint64_t gseq, struct fh_spool_record *r, char *value, size_t cap)
{
    int n = snprintf(value, cap,
                     "{\"venue\":\"binance\",\"symbol\":\"BTC-USDT\",\"trade_id\":%llu,"
                     "\"price\":\"67000.1\",\"qty\":\"0.01\"}",
                     (unsigned long long)gseq);
    r->gseq = gseq;
    r->timestamp_ms = 1716813190826LL + (int64_t)gseq;
    r->topic = FH_STR_LIT("trades");
    r->key = gseq % 2 ? FH_STR_LIT("binance:BTC-USDT") : FH_STR_LIT("kraken:ETH-USD");
    r->headers = gseq % 3 ? FH_STR_LIT("\x01\x02") : (struct fh_str){NULL, 0};
    r->value = (struct fh_str){value, (size_t)n};
}

static void append_main(struct fh_spool *sp, uint64_t from, uint64_t to)
{
    char value[256];
    for (uint64_t g = from; g < to; g++) {
        struct fh_spool_record r;
        record(g, &r, value, sizeof(value));
        if (fh_spool_append(sp, &r) != 0)
            die("append");
    }
}

static void append_front(struct fh_spool *sp, const uint64_t *g, size_t n)
{
    char value[256];
    for (size_t i = 0; i < n; i++) {
        struct fh_spool_record r;
        record(g[i], &r, value, sizeof(value));
        if (fh_spool_append_front(sp, &r) != 0)
            die("append_front");
    }
}

/* Delivers the first n records of a pass. */
static void deliver(struct fh_spool *sp, size_t n)
{
    fh_spool_drain_begin(sp);
    size_t done = 0;
    for (int spins = 0; done < n && spins < 1000000; spins++) {
        struct fh_spool_record r;
        int rc = fh_spool_drain_peek(sp, &r, NULL);
        if (rc == FH_SPOOL_COMPLETE)
            break;
        if (rc != FH_SPOOL_RECORD) {
            usleep(100);
            continue;
        }
        fh_spool_resolve(sp, fh_spool_drain_take(sp), true);
        done++;
    }
    fh_spool_drain_abort(sp);
}

static void finish(struct fh_spool *sp)
{
    if (fh_spool_sync(sp, 5000) != 0)
        die("sync");
    fh_spool_close(sp);
}

/* Reads the directory's files into s (sorted by name, as ls does). */
static void snapshot(const char *dir, struct snap *s)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0)
        die("scandir");
    s->n = 0;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        struct file f = {0};
        if (strcmp(name, "checkpoint") == 0)
            f.type = 0;
        else if (strcmp(name, "checkpoint.tmp") == 0)
            f.type = 3;
        else if ((name[0] == 'm' || name[0] == 'f') && name[1] == '-' && strlen(name) == 22)
            f.type = name[0] == 'm' ? 1 : 2, f.segno = (unsigned)strtoul(name + 2, NULL, 16);
        else
            f.type = -1;
        if (f.type >= 0 && s->n < 8 && f.segno < 64) {
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", dir, name);
            FILE *fp = fopen(p, "rb");
            if (fp == NULL)
                die("open a spool file");
            f.data = malloc(1 << 20);
            f.len = fread(f.data, 1, 1 << 20, fp);
            fclose(fp);
            s->f[s->n++] = f;
        }
        free(list[i]);
    }
    free(list);
}

static void put_escaped(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c >= 0x20 && c < 0x7f && !(i == 0 && c == '#'))
            putchar((int)c);
        else
            printf("\\x%02x", c);
    }
}

/* Prints the seed: options, fail position, then the files. */
static void emit(const char *what, const struct snap *s, unsigned opt, unsigned fail_at)
{
    unsigned char *buf = malloc(1 << 21);
    size_t k = 0;
    buf[k++] = (unsigned char)opt;
    buf[k++] = (unsigned char)fail_at;
    for (size_t i = 0; i < s->n; i++) {
        const struct file *f = &s->f[i];
        size_t len = f->len > 65535 ? 65535 : f->len;
        buf[k++] = (unsigned char)(f->type | f->segno << 2);
        buf[k++] = (unsigned char)len;
        buf[k++] = (unsigned char)(len >> 8);
        memcpy(buf + k, f->data, len);
        k += len;
    }
    printf("# %s\n", what);
    put_escaped(buf, k);
    putchar('\n');
    free(buf);
}

static void snap_free(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->f[i].data);
    s->n = 0;
}

static struct file *find(struct snap *s, int type)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->f[i].type == type)
            return &s->f[i];
    }
    die("no such file in the spool");
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/spool_seeds.XXXXXX";
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    struct snap s;

    /* Records never drained. */
    struct fh_spool *sp = open_spool(dir, 64 * 1024);
    append_main(sp, 1, 6);
    finish(sp);
    snapshot(dir, &s);
    emit("5 main records, never drained", &s, 0, 0);
    emit("the same, a new pass after the 2nd record failed", &s, 4, 1);
    struct file *m = find(&s, 1);
    size_t full = m->len;
    m->len = full - 30;
    emit("the same, the last record torn", &s, 0, 0);
    m->len = full;
    m->data[16 + 8 + 40] ^= 0x10;
    emit("the same, one bit flipped in the first record", &s, 0, 0);
    emit("the same, CRCs fixed: the flipped bit passes", &s, 1, 0);
    m->data[16 + 8 + 40] ^= 0x10;
    m->data[16 + 8 + 17] = 0x01; /* the topic length: 262 */
    emit("the same, CRCs fixed: a topic length over the limit", &s, 1, 0);
    snap_free(&s);

    /* Partly delivered: a checkpoint with a low-water mark; then the checkpoint lost. */
    sp = open_spool(dir, 64 * 1024);
    append_main(sp, 6, 9);
    deliver(sp, 4);
    finish(sp);
    snapshot(dir, &s);
    emit("main records, the first 4 delivered (checkpoint)", &s, 0, 0);
    find(&s, 0)->type = 3;
    emit("the same, the checkpoint left as checkpoint.tmp", &s, 0, 0);
    find(&s, 3)->data[9] ^= 1;
    find(&s, 3)->type = 0;
    emit("the same, the checkpoint damaged, then its CRC fixed", &s, 2, 0);
    snap_free(&s);
    rm_dir(dir);

    /* Front records out of order before main ones, in several segments. */
    if (mkdir(dir, 0750) != 0)
        die("mkdir");
    sp = open_spool(dir, 4096);
    append_main(sp, 20, 60);
    static const uint64_t front[] = {13, 11, 12, 15, 14};
    append_front(sp, front, 5);
    finish(sp);
    snapshot(dir, &s);
    emit("front records out of order, main records over several segments", &s, 0, 0);
    emit("the same, a new pass after the 7th record failed", &s, 4, 6);
    snap_free(&s);
    rm_dir(dir);
    return 0;
}
