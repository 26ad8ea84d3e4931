/*
 * test_feed_record.c - raw message recording (src/feed/record.c): the line format and its
 * reader, file rotation at line boundaries, the max_files limit, and dropping (never
 * blocking) when the ring is full.
 */
#include "testutil.h"

#include "core/err.h"
#include "feed/record.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct files {
    char *names[64];
    size_t n;
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_files(const char *dir, struct files *f)
{
    memset(f, 0, sizeof(*f));
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(f->n < 64);
        f->names[f->n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(f->names, f->n, sizeof(char *), cmp);
}

static void free_files(struct files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->names[i]);
}

struct collect {
    size_t lines;
    int64_t next_t;
    size_t hex_lines;
};

static void check_line(const char *line, size_t len, void *ctx)
{
    struct collect *c = ctx;
    struct fh_record_line rl;
    assert_int_equal(fh_record_parse_line(line, len, &rl), 0);
    assert_int_equal(rl.recv_ns, c->next_t);
    assert_int_equal(rl.conn_id, 7);
    assert_int_equal(rl.proto_len, 7);
    assert_memory_equal(rl.proto, "binance", 7);
    char want[64];
    int n = snprintf(want, sizeof(want), "{\"e\":\"trade\",\"t\":%lld}", (long long)c->next_t);
    if (rl.hex) {
        char dec[64];
        long k = fh_record_hex_decode(rl.msg, rl.msg_len, dec, sizeof(dec));
        assert_int_equal(k, 3);
        assert_memory_equal(dec, "a\nb", 3);
        c->hex_lines++;
    } else {
        assert_int_equal(rl.msg_len, (size_t)n);
        assert_memory_equal(rl.msg, want, (size_t)n);
    }
    c->next_t++;
    c->lines++;
}

/* Lines are written in order across files; files are cut at line boundaries near the size
 * limit; only the newest max_files remain; a message with a newline is kept as hex. */
static void test_record_rotates_and_keeps_order(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    /* A file from an "earlier run" that sorts first: it must be deleted as the oldest. */
    char old[4096];
    snprintf(old, sizeof(old), "%s/feedhandler-19700101T000000Z-1-000000.ndjson", dir);
    FILE *fo = fopen(old, "w");
    assert_non_null(fo);
    fclose(fo);

    struct fh_recorder_config cfg = {
        .dir = dir, .max_file_bytes = 4096, .max_files = 100, .buffer_bytes = 1 << 20};
    char err[256];
    struct fh_recorder *r = fh_recorder_new(&cfg, err, sizeof(err));
    assert_non_null(r);
    const int N = 2000;
    for (int i = 0; i < N; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "{\"e\":\"trade\",\"t\":%d}", i);
        if (i == 1000)
            assert_true(fh_recorder_put(r, i, 7, "binance", "a\nb", 3, true));
        else
            assert_true(fh_recorder_put(r, i, 7, "binance", msg, (size_t)n, true));
        if (i % 100 == 0)
            fh_recorder_poll(r);
    }
    struct fh_recorder_stats st;
    fh_recorder_free(r);

    struct files f;
    list_files(dir, &f);
    assert_true(f.n > 10);
    struct collect c = {0, 0, 0};
    for (size_t i = 0; i < f.n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, f.names[i]);
        if (strcmp(path, old) == 0)
            continue;
        size_t len;
        char *data = fh_test_read_file(path, &len);
        assert_true(len <= 4096);
        assert_true(len > 0 && data[len - 1] == '\n');
        free(data);
        fh_test_each_line(path, check_line, &c);
    }
    assert_int_equal(c.lines, (size_t)N);
    assert_int_equal(c.hex_lines, 1);
    free_files(&f);

    /* max_files: a second recorder with 3 files keeps only the newest 3 in the directory. */
    cfg.max_files = 3;
    r = fh_recorder_new(&cfg, err, sizeof(err));
    assert_non_null(r);
    for (int i = 0; i < 1000; i++)
        fh_recorder_put(r, i, 7, "binance", "{\"e\":\"trade\",\"t\":0}", 19, true);
    fh_recorder_stats(r, &st);
    assert_int_equal(st.recorded, 1000);
    fh_recorder_free(r);
    list_files(dir, &f);
    assert_int_equal(f.n, 3);
    free_files(&f);
    assert_int_equal(access(old, F_OK), -1); /* the oldest went first */
    free(dir);
}

/* With a tiny ring and a writer that cannot keep up, put() never blocks: it drops and
 * counts, and every line that was accepted is written whole. */
static void test_record_drops_when_full(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    struct fh_recorder_config cfg = {
        .dir = dir, .max_file_bytes = 1 << 30, .max_files = 2, .buffer_bytes = 64 * 1024};
    char err[256];
    struct fh_recorder *r = fh_recorder_new(&cfg, err, sizeof(err));
    assert_non_null(r);
    static char big[8192];
    memset(big, 'a', sizeof(big));
    big[0] = '"';
    big[sizeof(big) - 1] = '"';
    uint64_t ok = 0, refused = 0;
    for (int i = 0; i < 200; i++) { /* no poll: the writer is not woken while we fill */
        if (fh_recorder_put(r, i, 1, "kraken-v2", big, sizeof(big), true))
            ok++;
        else
            refused++;
    }
    struct fh_recorder_stats st;
    fh_recorder_stats(r, &st);
    assert_true(refused > 0);
    assert_int_equal(st.dropped, refused);
    assert_int_equal(st.recorded, ok);
    fh_recorder_free(r);
    struct files f;
    list_files(dir, &f);
    assert_int_equal(f.n, 1);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, f.names[0]);
    size_t len;
    char *data = fh_test_read_file(path, &len);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    assert_int_equal(lines, ok);
    free(data);
    free_files(&f);
    free(dir);
}

static void test_record_parse_line(void **state)
{
    (void)state;
    struct fh_record_line rl;
    const char *l1 =
        "{\"t\":123,\"c\":-1,\"v\":\"kraken-v1\",\"m\":[1,[[\"1\"]],\"trade\",\"X/Y\"]}";
    assert_int_equal(fh_record_parse_line(l1, strlen(l1), &rl), 0);
    assert_int_equal(rl.recv_ns, 123);
    assert_int_equal(rl.conn_id, -1);
    assert_false(rl.hex);
    assert_int_equal(rl.msg_len, strlen("[1,[[\"1\"]],\"trade\",\"X/Y\"]"));
    const char *l2 = "{\"t\":1,\"c\":2,\"v\":\"binance\",\"x\":\"ff00\"}\n";
    assert_int_equal(fh_record_parse_line(l2, strlen(l2), &rl), 0);
    assert_true(rl.hex);
    char out[4];
    assert_int_equal(fh_record_hex_decode(rl.msg, rl.msg_len, out, sizeof(out)), 2);
    assert_int_equal((unsigned char)out[0], 0xff);
    /* raw message lines (the corpus format) are not recording lines */
    const char *l3 = "{\"stream\":\"btcusdt@trade\",\"data\":{}}";
    assert_int_equal(fh_record_parse_line(l3, strlen(l3), &rl), FH_EPARSE);
    const char *l4 = "{\"t\":1,\"c\":2,\"v\":\"binance\",\"x\":\"f\"}";
    assert_int_equal(fh_record_parse_line(l4, strlen(l4), &rl), FH_EPARSE);
    assert_int_equal(fh_record_hex_decode("zz", 2, out, sizeof(out)), FH_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_rotates_and_keeps_order),
        cmocka_unit_test(test_record_drops_when_full),
        cmocka_unit_test(test_record_parse_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
