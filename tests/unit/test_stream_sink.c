/*
 * test_stream_sink.c - the stdout/file sink (src/sink/stream_sink.c): every trade written
 * once and in order, backpressure instead of loss, retried and fatal write errors.
 */
#include "testutil.h"

#include "codec/avro.h"
#include "codec/gap.h"
#include "codec/jsonl.h"
#include "core/err.h"
#include "sink/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sink counters are written by the writer thread: read them atomically. */
#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void make_trade(struct fh_trade *t, int64_t i)
{
    memset(t, 0, sizeof(*t));
    t->venue = FH_STR_LIT("binance");
    t->symbol = FH_STR_LIT("BTC-USDT");
    t->native_symbol = FH_STR_LIT("BTCUSDT");
    t->trade_id = 1000 + i;
    t->has = FH_HAS_TRADE_ID | FH_HAS_EVENT_TIME;
    t->kind = FH_KIND_TRADE;
    t->price = fh_decimal_from_units((fh_i128)(16552 + i % 100) * 1000000000000000000);
    t->quantity = fh_decimal_from_units((fh_i128)(i + 1) * 1000000000000);
    t->side = (i & 1) ? FH_SIDE_SELL : FH_SIDE_BUY;
    t->order_type = FH_ORDER_UNKNOWN;
    t->trade_time_us = 1672515782136000 + i;
    t->event_time_us = t->trade_time_us + 1;
    t->receive_time_ns = 1672515782137000000 + i;
    t->connection_id = 7;
    t->sequence = i;
}

/* The exact bytes the sink must produce for trade i. */
static size_t expected_record(enum fh_sink_format f, int64_t i, uint8_t *out, size_t cap)
{
    struct fh_trade t;
    make_trade(&t, i);
    struct fh_fbuf b;
    fh_fbuf_init(&b, out, cap);
    int rc = f == FH_SINK_AVRO ? fh_avro_encode_trade_single_object(&b, &t)
                               : fh_jsonl_encode_trade(&b, &t);
    assert_int_equal(rc, 0);
    return b.len;
}

static void check_file_holds(const char *path, enum fh_sink_format f, int64_t n)
{
    size_t len;
    char *data = fh_test_read_file(path, &len);
    size_t off = 0;
    uint8_t want[4096];
    for (int64_t i = 0; i < n; i++) {
        size_t w = expected_record(f, i, want, sizeof(want));
        if (off + w > len || memcmp(data + off, want, w) != 0)
            fail_msg("record %lld differs or is missing (offset %zu of %zu)", (long long)i, off,
                     len);
        off += w;
    }
    assert_int_equal(off, len); /* nothing extra */
    free(data);
}

static void write_all_trades(struct fh_sink *s, int64_t n)
{
    struct fh_trade t;
    for (int64_t i = 0; i < n; i++) {
        make_trade(&t, i);
        int rc;
        while ((rc = fh_sink_write(s, &t)) == FH_ENOSPACE) {
            fh_sink_poll(s);
            usleep(100);
        }
        assert_int_equal(rc, 0);
        if (i % 64 == 0)
            fh_sink_poll(s);
    }
}

static void test_file_sink_writes_every_trade_once_in_order(void **state)
{
    (void)state;
    enum fh_sink_format formats[] = {FH_SINK_JSON, FH_SINK_AVRO};
    for (size_t k = 0; k < 2; k++) {
        char *dir = fh_test_tmpdir();
        char path[4200];
        snprintf(path, sizeof(path), "%s/out", dir);
        char err[256];
        struct fh_stream_sink_config cfg = {
            .path = path, .format = formats[k], .buffer_bytes = 64 * 1024};
        struct fh_sink *s = fh_stream_sink_new(&cfg, err, sizeof(err));
        assert_non_null(s);
        const int64_t n = 50000; /* many times the ring: exercises wrap-around */
        write_all_trades(s, n);
        assert_int_equal(fh_sink_flush(s, 60000), 0);
        assert_int_equal(LD(s->stats.accepted), n);
        assert_int_equal(LD(s->stats.delivered), n);
        assert_int_equal(LD(s->stats.failed), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(LD(s->stats.bytes), (uint64_t)st.st_size);
        fh_sink_free(s);
        check_file_holds(path, formats[k], n);
        unlink(path);
        rmdir(dir);
        free(dir);
    }
}

/* Gap records go into the stream between the trades, byte for byte as the codec encodes them,
 * counted apart from the trades (accepted and delivered stay the trades' counts). */
static void test_gap_records_inline_and_counted_apart(void **state)
{
    (void)state;
    enum fh_sink_format formats[] = {FH_SINK_JSON, FH_SINK_AVRO};
    struct fh_gap_range r = {1005, 1007, FH_STR_LIT("absent from history")};
    struct fh_gap_record g = {.venue = FH_STR_LIT("binance"),
                              .symbol = FH_STR_LIT("BTC-USDT"),
                              .native_symbol = FH_STR_LIT("BTCUSDT"),
                              .kind = FH_KIND_TRADE,
                              .first_missing_id = 1005,
                              .last_missing_id = 1007,
                              .status = FH_GAP_UNRECOVERABLE,
                              .reason = FH_STR_LIT("absent from history"),
                              .missing_count = 3,
                              .ranges = &r,
                              .n_ranges = 1,
                              .detected_time_ns = 1672515782137000000,
                              .reported_time_ns = 1672515782237000000,
                              .connection_id = 7};
    for (size_t k = 0; k < 2; k++) {
        char *dir = fh_test_tmpdir();
        char path[4200];
        snprintf(path, sizeof(path), "%s/out", dir);
        char err[256];
        struct fh_stream_sink_config cfg = {.path = path, .format = formats[k]};
        struct fh_sink *s = fh_stream_sink_new(&cfg, err, sizeof(err));
        assert_non_null(s);
        write_all_trades(s, 3);
        assert_int_equal(fh_sink_write_gap(s, &g), 0);
        struct fh_trade t;
        make_trade(&t, 3);
        assert_int_equal(fh_sink_write(s, &t), 0);
        assert_int_equal(fh_sink_flush(s, 60000), 0);
        assert_int_equal(LD(s->stats.accepted), 4);
        assert_int_equal(LD(s->stats.delivered), 4);
        assert_int_equal(LD(s->stats.gaps_accepted), 1);
        assert_int_equal(LD(s->stats.gaps_delivered), 1);
        fh_sink_free(s);
        /* trades 0..2, the gap record, trade 3 */
        uint8_t want[32768];
        size_t w = 0;
        for (int64_t i = 0; i < 3; i++)
            w += expected_record(formats[k], i, want + w, sizeof(want) - w);
        struct fh_fbuf b;
        fh_fbuf_init(&b, want + w, sizeof(want) - w);
        assert_int_equal(formats[k] == FH_SINK_AVRO ? fh_avro_encode_gap_single_object(&b, &g)
                                                    : fh_jsonl_encode_gap(&b, &g),
                         0);
        w += b.len;
        w += expected_record(formats[k], 3, want + w, sizeof(want) - w);
        size_t len;
        char *data = fh_test_read_file(path, &len);
        assert_int_equal(len, w);
        assert_memory_equal(data, want, w);
        free(data);
        unlink(path);
        rmdir(dir);
        free(dir);
    }
}

static void test_full_pipe_pushes_back_and_loses_nothing(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int rfd = open(path, O_RDONLY | O_NONBLOCK);
    assert_true(rfd >= 0);
    char err[256];
    struct fh_stream_sink_config cfg = {
        .path = path, .format = FH_SINK_JSON, .buffer_bytes = 64 * 1024};
    struct fh_sink *s = fh_stream_sink_new(&cfg, err, sizeof(err));
    assert_non_null(s);

    /* Nobody reads: the pipe and then the ring fill up, and the sink refuses. */
    struct fh_trade t;
    int64_t accepted = 0;
    int refusals = 0;
    for (int64_t i = 0; i < 100000 && refusals < 50; i++) {
        make_trade(&t, accepted);
        int rc = fh_sink_write(s, &t);
        if (rc == FH_ENOSPACE) {
            refusals++;
            fh_sink_poll(s);
            usleep(1000);
            continue;
        }
        assert_int_equal(rc, 0);
        accepted++;
        fh_sink_poll(s);
    }
    assert_int_equal(refusals, 50);
    assert_true(LD(s->stats.refused) >= 50);
    /* Memory stayed bounded by the ring: it cannot hold more than its capacity. */
    assert_true(LD(s->stats.buffered_bytes) <= 64 * 1024);

    /* Now read everything: every accepted trade arrives, in order. */
    char outpath[4200];
    snprintf(outpath, sizeof(outpath), "%s/copy", dir);
    FILE *copy = fopen(outpath, "wb");
    assert_non_null(copy);
    int flags = fcntl(rfd, F_GETFL);
    fcntl(rfd, F_SETFL, flags & ~O_NONBLOCK);
    int64_t delivered_bytes_target;
    {
        /* Drain in a loop until the sink reports everything written. */
        char buf[65536];
        for (;;) {
            fh_sink_poll(s);
            if (__atomic_load_n(&s->stats.delivered, __ATOMIC_RELAXED) == (uint64_t)accepted)
                break;
            /* The writer counts a record delivered just after writing its last bytes: once
             * they are read, wait for the count instead of blocking on an empty pipe. */
            struct pollfd pfd = {.fd = rfd, .events = POLLIN};
            if (poll(&pfd, 1, 100) <= 0)
                continue;
            ssize_t r = read(rfd, buf, sizeof(buf));
            assert_true(r > 0);
            fwrite(buf, 1, (size_t)r, copy);
        }
        assert_int_equal(fh_sink_flush(s, 60000), 0);
        delivered_bytes_target = (int64_t)LD(s->stats.bytes);
        fh_sink_free(s);
        /* The writer is gone; read what is left in the pipe. */
        fcntl(rfd, F_SETFL, flags | O_NONBLOCK);
        ssize_t r;
        while ((r = read(rfd, buf, sizeof(buf))) > 0)
            fwrite(buf, 1, (size_t)r, copy);
    }
    fclose(copy);
    close(rfd);
    struct stat st;
    assert_int_equal(stat(outpath, &st), 0);
    assert_int_equal(st.st_size, delivered_bytes_target);
    check_file_holds(outpath, FH_SINK_JSON, accepted);
    unlink(outpath);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void test_disk_full_is_retried_then_counted_on_close(void **state)
{
    (void)state;
    /* /dev/full fails every write with ENOSPC: the sink keeps the data and retries. */
    char err[256];
    struct fh_stream_sink_config cfg = {
        .path = "/dev/full", .format = FH_SINK_JSON, .buffer_bytes = 64 * 1024, .retry_ms = 10};
    struct fh_sink *s = fh_stream_sink_new(&cfg, err, sizeof(err));
    assert_non_null(s);
    write_all_trades(s, 10);
    fh_sink_poll(s);
    for (int i = 0; i < 2000 && __atomic_load_n(&s->stats.write_errors, __ATOMIC_RELAXED) < 3; i++)
        usleep(1000);
    assert_true(LD(s->stats.write_errors) >= 3);
    assert_false(fh_sink_is_fatal(s));
    assert_int_equal(LD(s->stats.delivered), 0);
    assert_int_equal(fh_sink_flush(s, 50), -ETIMEDOUT);
    fh_sink_free(s); /* the 10 undelivered trades are counted as failed and logged */
}

static void test_closed_reader_is_fatal(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    char *dir = fh_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int rfd = open(path, O_RDONLY | O_NONBLOCK);
    char err[256];
    struct fh_stream_sink_config cfg = {
        .path = path, .format = FH_SINK_JSON, .buffer_bytes = 64 * 1024};
    struct fh_sink *s = fh_stream_sink_new(&cfg, err, sizeof(err));
    assert_non_null(s);
    close(rfd);
    /* One trade: the writer's first write fails with EPIPE (later writes may already be
     * refused, so only one is written before waiting). */
    write_all_trades(s, 1);
    fh_sink_poll(s);
    for (int i = 0; i < 5000 && !fh_sink_is_fatal(s); i++)
        usleep(1000);
    assert_true(fh_sink_is_fatal(s));
    assert_non_null(strstr(s->fatal_msg, "Broken pipe"));
    struct fh_trade t;
    make_trade(&t, 0);
    assert_int_equal(fh_sink_write(s, &t), FH_ESTATE);
    assert_int_equal(fh_sink_flush(s, 1000), FH_EIO);
    fh_sink_free(s);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void test_unopenable_path_is_a_clear_error(void **state)
{
    (void)state;
    char err[256] = "";
    struct fh_stream_sink_config cfg = {.path = "/nonexistent-dir/x", .format = FH_SINK_JSON};
    assert_null(fh_stream_sink_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open sink file /nonexistent-dir/x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_sink_writes_every_trade_once_in_order),
        cmocka_unit_test(test_gap_records_inline_and_counted_apart),
        cmocka_unit_test(test_full_pipe_pushes_back_and_loses_nothing),
        cmocka_unit_test(test_disk_full_is_retried_then_counted_on_close),
        cmocka_unit_test(test_closed_reader_is_fatal),
        cmocka_unit_test(test_unopenable_path_is_a_clear_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
