/*
 * test_loss.c - the record of lost trades (src/sink/loss.c): counts by reason, runs of
 * consecutive ids merged into one logged line each (every id listed exactly), and ids read
 * back from encoded records (Avro Confluent and single-object framing, JSON, lineage
 * headers).
 */
#include "testutil.h"

#include "codec/avro.h"
#include "codec/jsonl.h"
#include "core/clock.h"
#include "core/log.h"
#include "sink/loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The "trades lost" lines logged while fn runs, captured through a pipe. */
static char logbuf[65536];

static int capture_begin(void)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fh_log_set_fd(fds[1]);
    return fds[0] * 1000 + fds[1];
}

static const char *capture_end(int h)
{
    int rd = h / 1000, wr = h % 1000;
    fh_log_set_fd(2);
    close(wr);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(logbuf) - 1 && (r = read(rd, logbuf + n, sizeof(logbuf) - 1 - n)) > 0)
        n += (size_t)r;
    logbuf[n] = '\0';
    close(rd);
    return logbuf;
}

static size_t count_lines(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static struct fh_loss_item item(const char *key, int64_t id)
{
    struct fh_loss_item it = {.key = fh_str_c(key), .kind = FH_LOSS_ID_TRADE, .id = id};
    return it;
}

static void test_runs_merge_consecutive_ids(void **state)
{
    (void)state;
    uint64_t total = 0;
    struct fh_loss l;
    fh_loss_init(&l, &total);
    int h = capture_begin();
    for (int64_t id = 100; id < 600; id++) {
        struct fh_loss_item it = item("binance:BTC-USDT", id);
        fh_loss_add(&l, FH_LOSS_SPOOL_FULL, &it, 1);
    }
    /* A hole: 600..609 not lost, then 610..619. */
    for (int64_t id = 610; id < 620; id++) {
        struct fh_loss_item it = item("binance:BTC-USDT", id);
        fh_loss_add(&l, FH_LOSS_SPOOL_FULL, &it, 1);
    }
    /* Another symbol and another reason interleaved. */
    struct fh_loss_item e = item("kraken:ETH-USD", 7);
    fh_loss_add(&l, FH_LOSS_REJECTED, &e, 1);
    struct fh_loss_item q = {
        .key = fh_str_c("kraken:XBT-USD"), .kind = FH_LOSS_ID_SEQ, .id = 41, .conn = 3};
    fh_loss_add(&l, FH_LOSS_SHUTDOWN, &q, 1);
    q.id = 42;
    fh_loss_add(&l, FH_LOSS_SHUTDOWN, &q, 1);
    struct fh_loss_item anon = {.key = {"", 0}, .kind = FH_LOSS_ID_NONE};
    fh_loss_add(&l, FH_LOSS_SPOOL_UNREADABLE, &anon, 5);
    fh_loss_flush(&l);
    const char *log = capture_end(h);

    assert_int_equal(total, 500 + 10 + 1 + 2 + 5);
    assert_int_equal(fh_loss_total(&l), total);
    assert_int_equal(l.by_reason[FH_LOSS_SPOOL_FULL], 510);
    assert_int_equal(l.by_reason[FH_LOSS_REJECTED], 1);
    assert_int_equal(l.by_reason[FH_LOSS_SHUTDOWN], 2);
    assert_int_equal(l.by_reason[FH_LOSS_SPOOL_UNREADABLE], 5);
    assert_int_equal(count_lines(log, "msg=\"trades lost\""), 5);
    assert_non_null(strstr(log, "reason=spool_full venue=binance symbol=BTC-USDT "
                                "id_kind=trade_id first=100 last=599 count=500"));
    assert_non_null(strstr(log, "reason=spool_full venue=binance symbol=BTC-USDT "
                                "id_kind=trade_id first=610 last=619 count=10"));
    assert_non_null(strstr(log, "reason=rejected venue=kraken symbol=ETH-USD id_kind=trade_id "
                                "first=7 last=7 count=1"));
    assert_non_null(strstr(log, "reason=shutdown venue=kraken symbol=XBT-USD id_kind=sequence "
                                "conn=3 first=41 last=42 count=2"));
    assert_non_null(strstr(log, "reason=spool_unreadable venue=- symbol=- id_kind=none count=5"));
    fh_loss_destroy(&l);
}

static void test_runs_bounded_and_aged(void **state)
{
    (void)state;
    struct fh_loss l;
    fh_loss_init(&l, NULL);
    int h = capture_begin();
    char key[32];
    /* More keys than runs: the oldest runs are logged to make room; nothing is dropped. */
    for (int k = 0; k < FH_LOSS_RUNS * 2; k++) {
        snprintf(key, sizeof(key), "binance:S%d-USDT", k);
        struct fh_loss_item it = item(key, 1);
        fh_loss_add(&l, FH_LOSS_SPOOL_WRITE, &it, 1);
    }
    assert_int_equal(l.nruns, FH_LOSS_RUNS);
    fh_loss_tick(&l, fh_clock_monotonic_ns() + 2000000000LL); /* older than a second */
    assert_int_equal(l.nruns, 0);
    const char *log = capture_end(h);
    assert_int_equal(count_lines(log, "msg=\"trades lost\""), FH_LOSS_RUNS * 2);
    fh_loss_destroy(&l);
}

static void fill_trade(struct fh_trade *t, bool with_id)
{
    memset(t, 0, sizeof(*t));
    t->venue = fh_str_c("kraken");
    t->symbol = fh_str_c("BTC-USD");
    t->native_symbol = fh_str_c("BTC/USD");
    t->trade_id = 987654321012LL;
    t->has = with_id ? FH_HAS_TRADE_ID : 0;
    assert_int_equal(fh_decimal_parse("16552.12", 8, 0, &t->price), 0);
    assert_int_equal(fh_decimal_parse("0.001", 5, 0, &t->quantity), 0);
    t->trade_time_us = 1700000000123456;
    t->receive_time_ns = 1700000000123456789;
    t->connection_id = 12;
    t->sequence = 345;
}

static void test_ids_from_records(void **state)
{
    (void)state;
    assert_int_equal(fh_codec_init(), 0);
    struct fh_trade t;
    uint8_t buf[1024];
    struct fh_fbuf b;
    struct fh_loss_item it;
    const uint8_t hdr[] = {13,  'c', 'o', 'n', 'n', 'e', 'c', 't', 'i', 'o', 'n',
                           '_', 'i', 'd', 2,   0,   '1', '2', 8,   's', 'e', 'q',
                           'u', 'e', 'n', 'c', 'e', 3,   0,   '3', '4', '5'};
    struct fh_str headers = {(const char *)hdr, sizeof(hdr)};
    struct fh_str key = fh_str_c("kraken:BTC-USD");
    for (int with_id = 0; with_id < 2; with_id++) {
        fill_trade(&t, with_id);
        for (int framing = 0; framing < 3; framing++) {
            fh_fbuf_init(&b, buf, sizeof(buf));
            if (framing == 0)
                assert_int_equal(fh_avro_encode_trade_confluent(&b, 42, &t), 0);
            else if (framing == 1)
                assert_int_equal(fh_avro_encode_trade_single_object(&b, &t), 0);
            else
                assert_int_equal(fh_jsonl_encode_trade(&b, &t), 0);
            fh_loss_item_from_record(&it, framing == 2 ? FH_SINK_JSON : FH_SINK_AVRO, key,
                                     (struct fh_str){(const char *)buf, b.len}, headers);
            assert_true(fh_str_eq(it.key, key));
            if (with_id) {
                assert_int_equal(it.kind, FH_LOSS_ID_TRADE);
                assert_int_equal(it.id, 987654321012LL);
            } else {
                /* Kraken v1 has no trade ids: the lineage headers identify the trade. */
                assert_int_equal(it.kind, FH_LOSS_ID_SEQ);
                assert_int_equal(it.conn, 12);
                assert_int_equal(it.id, 345);
            }
        }
    }
    /* Garbage and no headers: nothing but the key. */
    fh_loss_item_from_record(&it, FH_SINK_AVRO, key, fh_str_c("\x00\x01"), (struct fh_str){"", 0});
    assert_int_equal(it.kind, FH_LOSS_ID_NONE);
    /* From the trade itself. */
    char kb[FH_LOSS_KEY_MAX];
    fill_trade(&t, true);
    fh_loss_item_from_trade(&it, &t, kb, sizeof(kb));
    assert_true(fh_str_eq(it.key, key));
    assert_int_equal(it.kind, FH_LOSS_ID_TRADE);
    assert_int_equal(it.id, 987654321012LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_merge_consecutive_ids),
        cmocka_unit_test(test_runs_bounded_and_aged),
        cmocka_unit_test(test_ids_from_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
