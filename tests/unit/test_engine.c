/*
 * test_engine.c - the connection engine (src/feed/engine*.c) driven without sockets or
 * sleeps: connections open over the WebSocket client's in-memory transport (the engine's
 * test_connect hook), time is a test clock (test_clock), the timers' work runs on demand
 * (fh_engine_test_tick/resume), and the sink is a fake that records every trade and can
 * refuse. Covered: gaps and duplicates, the gap records of more gaps in one read than the
 * backfill's event ring holds (none overwritten), backpressure hold and release (nothing
 * lost, duplicated or reordered; the held message counted once), the watchdog, and the
 * make-before-break rotation hand-over (the overlap deduplicated, the old connection closed).
 */
#include "testutil.h"

#include "core/err.h"
#include "feed/engine.h"
#include "net/ws.h"
#include "venue/venue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define NS_PER_MS INT64_C(1000000)

/* ---- a fake sink ------------------------------------------------------------------------- */

#define MAX_GOT 512

struct test_sink {
    struct fh_sink base;
    int64_t ids[MAX_GOT];
    char symbols[MAX_GOT][16];
    int64_t conns[MAX_GOT];
    size_t n;
    size_t refuse_from;      /* refuse every write once n reaches this (SIZE_MAX: never) */
    size_t gaps_refuse_from; /* the same for gap records (SIZE_MAX: never) */
    int64_t gap_first[MAX_GOT];
    int gap_status[MAX_GOT];
    size_t n_gaps;
};

static int ts_write(struct fh_sink *s, const struct fh_trade *t)
{
    struct test_sink *ts = (struct test_sink *)s;
    if (ts->n >= ts->refuse_from || ts->n >= MAX_GOT) {
        s->stats.refused++;
        return FH_ENOSPACE;
    }
    ts->ids[ts->n] = t->trade_id;
    snprintf(ts->symbols[ts->n], sizeof(ts->symbols[0]), "%.*s", (int)t->symbol.n, t->symbol.p);
    ts->conns[ts->n] = t->connection_id;
    ts->n++;
    s->stats.accepted++;
    s->stats.delivered++;
    return 0;
}

static int ts_write_gap(struct fh_sink *s, const struct fh_gap_record *g)
{
    struct test_sink *ts = (struct test_sink *)s;
    if (ts->n_gaps >= ts->gaps_refuse_from || ts->n_gaps >= MAX_GOT)
        return FH_ENOSPACE;
    ts->gap_first[ts->n_gaps] = g->first_missing_id;
    ts->gap_status[ts->n_gaps] = (int)g->status;
    ts->n_gaps++;
    s->stats.gaps_accepted++;
    return 0;
}

static void ts_poll(struct fh_sink *s)
{
    (void)s;
}

static int ts_flush(struct fh_sink *s, int64_t timeout_ms)
{
    (void)s;
    (void)timeout_ms;
    return 0;
}

static void ts_destroy(struct fh_sink *s)
{
    (void)s;
}

static const struct fh_sink_ops ts_ops = {.name = "test",
                                          .write = ts_write,
                                          .write_gap = ts_write_gap,
                                          .poll = ts_poll,
                                          .flush = ts_flush,
                                          .destroy = ts_destroy};

/* ---- the world: loop, clock, connections -------------------------------------------------- */

#define MAX_WS 8

struct world {
    uv_loop_t loop;
    struct fh_symbols syms;
    struct test_sink sink;
    struct fh_feed_config cfg;
    struct fh_engine *e;
    int64_t now;
    struct fh_ws *ws[MAX_WS]; /* in connection order */
    int nws;
    bool done;
};

static int64_t w_clock(void *ctx)
{
    return ((struct world *)ctx)->now;
}

static int w_connect(void *ctx, struct fh_ws *ws, const char *url)
{
    struct world *w = ctx;
    (void)url;
    int rc = fh__ws_open_mem(ws);
    if (rc == 0 && w->nws < MAX_WS)
        w->ws[w->nws++] = ws;
    return rc;
}

static void w_done(struct fh_engine *e, void *ctx)
{
    (void)e;
    ((struct world *)ctx)->done = true;
}

static const char *const SYMBOLS[] = {"BTCUSDT", "ETHUSDT"};

static void world_start(struct world *w, int64_t watchdog_ms, int64_t lifetime_ms)
{
    memset(w, 0, sizeof(*w));
    assert_int_equal(uv_loop_init(&w->loop), 0);
    assert_int_equal(fh_symbols_init(&w->syms, 16), 0);
    assert_int_equal(
        fh_symbols_add(&w->syms, fh_str_c("BTCUSDT"), fh_str_c("BTC"), fh_str_c("USDT"), NULL), 0);
    assert_int_equal(
        fh_symbols_add(&w->syms, fh_str_c("ETHUSDT"), fh_str_c("ETH"), fh_str_c("USDT"), NULL), 0);
    w->sink.base.ops = &ts_ops;
    w->sink.refuse_from = SIZE_MAX;
    w->sink.gaps_refuse_from = SIZE_MAX;
    w->now = INT64_C(1000000000000);
    fh_feed_config_default(&w->cfg);
    struct fh_feed_venue_config *v = &w->cfg.venues[w->cfg.n_venues++];
    v->ops = &fh_venue_binance;
    v->url = "ws://mem.invalid";
    v->symbols = SYMBOLS;
    v->n_symbols = 2;
    v->channels = FH_CH_TRADE;
    v->per_connection = 10;
    v->lifetime_ms = lifetime_ms;
    v->rotation_timeout_ms = 5000;
    v->budget = 100;
    v->budget_window_ms = 60000;
    v->metadata = &w->syms;
    w->cfg.watchdog_ms = watchdog_ms;
    w->cfg.ping_interval_ms = 0;
    w->cfg.sink = &w->sink.base;
    w->cfg.seed = 1;
    w->cfg.test_connect = w_connect;
    w->cfg.test_clock = w_clock;
    w->cfg.test_ctx = w;
    char err[256];
    assert_int_equal(fh_engine_new(&w->loop, &w->cfg, &w->e, err, sizeof(err)), 0);
    assert_int_equal(fh_engine_start(w->e, w_done, w), 0);
    uv_run(&w->loop, UV_RUN_NOWAIT);
    assert_int_equal(w->nws, 1); /* one slot: both symbols in one URL */
}

/* The server answers a close handshake (in memory nothing else would): a close frame with
 * code 1000. Ignored by a connection that is not open or closing. */
static void server_close(struct world *w, int i)
{
    static const uint8_t close_frame[] = {0x88, 0x02, 0x03, 0xe8};
    fh__ws_mem_feed(w->ws[i], close_frame, sizeof(close_frame), 1700000000000000000LL, w->now);
    for (int k = 0; k < 10; k++)
        uv_run(&w->loop, UV_RUN_NOWAIT);
}

static void world_stop(struct world *w)
{
    fh_engine_stop(w->e);
    for (int i = 0; i < 1000 && !w->done; i++) {
        for (int k = 0; k < w->nws; k++)
            server_close(w, k);
        uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    assert_true(w->done);
    fh_engine_free(w->e);
    uv_run(&w->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&w->loop), 0);
    fh_symbols_release(&w->syms);
}

/* A server text frame (unmasked) carrying a combined-stream trade of symbol with id. */
static size_t trade_frame(uint8_t *out, size_t cap, const char *symbol, int64_t id)
{
    char lower[16];
    size_t k = 0;
    for (; symbol[k] != '\0' && k < sizeof(lower) - 1; k++)
        lower[k] = (char)(symbol[k] >= 'A' && symbol[k] <= 'Z' ? symbol[k] + 32 : symbol[k]);
    lower[k] = '\0';
    char json[512];
    int n = snprintf(json, sizeof(json),
                     "{\"stream\":\"%s@trade\",\"data\":{\"e\":\"trade\",\"E\":1700000000001,"
                     "\"s\":\"%s\",\"t\":%lld,\"p\":\"100.5\",\"q\":\"0.25\","
                     "\"T\":1700000000000,\"m\":true,\"M\":true}}",
                     lower, symbol, (long long)id);
    assert_true(n > 0 && n < 65536 && (size_t)n + 4 <= cap);
    size_t h = 0;
    out[h++] = 0x81; /* FIN, text */
    if (n < 126) {
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    }
    memcpy(out + h, json, (size_t)n);
    return h + (size_t)n;
}

/* Feeds one trade to connection i; returns false if the connection did not take the bytes
 * (paused by backpressure, or closed). */
static bool feed(struct world *w, int i, const char *symbol, int64_t id)
{
    uint8_t f[600];
    size_t n = trade_frame(f, sizeof(f), symbol, id);
    w->now += NS_PER_MS;
    size_t took = fh__ws_mem_feed(w->ws[i], f, n, 1700000000000000000LL, w->now);
    uv_run(&w->loop, UV_RUN_NOWAIT);
    return took == n;
}

static void expect_ids(const struct world *w, const char *symbol, const int64_t *want, size_t nwant)
{
    size_t k = 0;
    for (size_t i = 0; i < w->sink.n; i++) {
        if (strcmp(w->sink.symbols[i], symbol) != 0)
            continue;
        if (k >= nwant || w->sink.ids[i] != want[k])
            fail_msg("%s: trade #%zu is id %lld, expected %lld", symbol, k,
                     (long long)w->sink.ids[i], k < nwant ? (long long)want[k] : -1LL);
        k++;
    }
    if (k != nwant)
        fail_msg("%s: %zu trades, expected %zu", symbol, k, nwant);
}

static uint64_t LD(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- cases -------------------------------------------------------------------------------- */

static void test_gap_and_duplicate(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, 30000, 0);
    static const int64_t sent[] = {100, 101, 104, 104, 105, 103};
    for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++)
        assert_true(feed(&w, 0, "BTCUSDT", sent[i]));
    assert_true(feed(&w, 0, "ETHUSDT", 7));
    assert_true(feed(&w, 0, "ETHUSDT", 8));
    /* 104 again is a duplicate; 103 arrives after the gap was reported: older than the last,
     * it is dropped as a duplicate too (ids only move forward on one track). */
    static const int64_t btc[] = {100, 101, 104, 105};
    static const int64_t eth[] = {7, 8};
    expect_ids(&w, "BTC-USDT", btc, 4);
    expect_ids(&w, "ETH-USDT", eth, 2);
    const struct fh_feed_venue_stats *st = fh_engine_venue_stats(w.e, 0);
    assert_int_equal(LD(&st->gaps), 1);
    assert_int_equal(LD(&st->missing), 2);
    assert_int_equal(LD(&st->duplicates[FH_FEED_DUP_LIVE]), 2);
    assert_int_equal(LD(&st->trades), 6);
    const struct fh_gap_list *gl = fh_engine_gaps(w.e);
    assert_int_equal(gl->n, 1);
    const struct fh_gap *g = &gl->items[gl->head];
    assert_int_equal(g->first_id, 102);
    assert_int_equal(g->count, 2);
    /* Lineage: one connection, sequence in order. */
    for (size_t i = 0; i < w.sink.n; i++)
        assert_int_equal(w.sink.conns[i], w.sink.conns[0]);
    world_stop(&w);
}

static void test_backpressure_hold_and_release(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, 30000, 0);
    w.sink.refuse_from = 2;
    assert_true(feed(&w, 0, "BTCUSDT", 1));
    assert_true(feed(&w, 0, "BTCUSDT", 2));
    /* The third trade is refused: its message is held, reading stops. */
    assert_true(feed(&w, 0, "BTCUSDT", 3));
    assert_int_equal(w.sink.n, 2);
    const struct fh_engine_stats *es = fh_engine_stats(w.e);
    assert_int_equal(LD(&es->backpressure_pauses), 1);
    assert_int_equal(es->paused, 1);
    /* While held, the connection takes nothing more. */
    assert_false(feed(&w, 0, "BTCUSDT", 4));
    /* Still full: a resume probe changes nothing. The gauge says paused for the whole
     * episode, the probe's retry included (a scrape there read 0 in a running pause). */
    fh_engine_test_resume(w.e);
    assert_int_equal(es->paused, 1);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    assert_int_equal(w.sink.n, 2);
    assert_int_equal(es->paused, 1);
    /* Room again: the held message is delivered, then reading goes on. */
    w.sink.refuse_from = SIZE_MAX;
    w.now += 5 * NS_PER_MS;
    fh_engine_test_resume(w.e);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    assert_true(feed(&w, 0, "BTCUSDT", 4));
    assert_true(feed(&w, 0, "BTCUSDT", 5));
    static const int64_t want[] = {1, 2, 3, 4, 5};
    expect_ids(&w, "BTC-USDT", want, 5);
    const struct fh_feed_venue_stats *st = fh_engine_venue_stats(w.e, 0);
    /* The held message was counted once, and nothing was a duplicate or a gap. */
    assert_int_equal(LD(&st->messages), 5);
    assert_int_equal(LD(&st->duplicates[FH_FEED_DUP_LIVE]), 0);
    assert_int_equal(LD(&st->gaps), 0);
    assert_int_equal(es->paused, 0);
    assert_true(LD(&es->backpressure_ns) >= (uint64_t)(5 * NS_PER_MS));
    world_stop(&w);
}

/* Frames of BTCUSDT trades first, first + 2, ... (n of them: each after the first reveals a
 * gap of one id), in one buffer, fed to connection i as one read. */
static void feed_gapped_read(struct world *w, int i, int64_t first, size_t n)
{
    static uint8_t buf[64 * 1024];
    size_t len = 0;
    for (size_t k = 0; k < n; k++)
        len += trade_frame(buf + len, sizeof(buf) - len, "BTCUSDT", first + 2 * (int64_t)k);
    w->now += NS_PER_MS;
    assert_int_equal(fh__ws_mem_feed(w->ws[i], buf, len, 1700000000000000000LL, w->now), len);
}

static void expect_gap_records(const struct world *w, size_t from, int64_t first, size_t n)
{
    /* Backfill is off here (no REST URL): every gap is DETECTED, then UNRECOVERABLE. */
    assert_int_equal(w->sink.n_gaps, from + 2 * n);
    for (size_t k = 0; k < n; k++) {
        size_t r = from + 2 * k;
        assert_int_equal(w->sink.gap_first[r], first + 2 * (int64_t)k);
        assert_int_equal(w->sink.gap_status[r], FH_GAP_DETECTED);
        assert_int_equal(w->sink.gap_first[r + 1], first + 2 * (int64_t)k);
        assert_int_equal(w->sink.gap_status[r + 1], FH_GAP_UNRECOVERABLE);
    }
}

/* More gaps in one read than the backfill's event ring holds (2 x 64 jobs + 2): each gap's
 * records are written before the trade that revealed it goes on, so none is overwritten,
 * also when the sink refuses records in the middle of the read. */
static void test_gap_records_of_one_read(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, 30000, 0);
    feed_gapped_read(&w, 0, 1, 100);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    assert_int_equal(w.sink.n, 100);
    expect_gap_records(&w, 0, 2, 99);
    /* The sink takes 10 more gap records, then none: the read's trades wait (held), and
     * come out with every record once the sink has room again. */
    w.sink.gaps_refuse_from = w.sink.n_gaps + 10;
    feed_gapped_read(&w, 0, 1001, 100);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    assert_true(w.sink.n < 200);
    w.sink.gaps_refuse_from = SIZE_MAX;
    for (int k = 0; k < 20 && w.sink.n < 200; k++) {
        w.now += 5 * NS_PER_MS;
        fh_engine_test_resume(w.e);
        uv_run(&w.loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(w.sink.n, 200);
    for (size_t k = 0; k < 100; k++) {
        assert_int_equal(w.sink.ids[k], 1 + 2 * (int64_t)k);
        assert_int_equal(w.sink.ids[100 + k], 1001 + 2 * (int64_t)k);
    }
    /* 199 -> 1001 is a gap too: ids 200..1000. */
    assert_int_equal(w.sink.gap_first[198], 200);
    expect_gap_records(&w, 200, 1002, 99);
    const struct fh_feed_venue_stats *st = fh_engine_venue_stats(w.e, 0);
    assert_int_equal(LD(&st->bf_gaps[FH_GAP_DETECTED]), 199);
    assert_int_equal(LD(&st->bf_records_lost), 0);
    world_stop(&w);
}

static void test_watchdog(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, 1000, 0);
    assert_true(feed(&w, 0, "BTCUSDT", 1));
    const struct fh_feed_venue_stats *st = fh_engine_venue_stats(w.e, 0);
    /* Silence shorter than the watchdog: nothing happens. */
    w.now += 500 * NS_PER_MS;
    fh_engine_test_tick(w.e);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    assert_int_equal(LD(&st->disconnects[FH_FEED_CLOSE_WATCHDOG]), 0);
    /* Silence past it: the connection is closed for the watchdog. */
    w.now += 1000 * NS_PER_MS;
    fh_engine_test_tick(w.e);
    for (int i = 0; i < 10; i++)
        uv_run(&w.loop, UV_RUN_NOWAIT);
    assert_int_equal(LD(&st->disconnects[FH_FEED_CLOSE_WATCHDOG]), 1);
    world_stop(&w);
}

static void test_rotation_hand_over(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, 30000, 1000);
    assert_true(feed(&w, 0, "BTCUSDT", 10));
    assert_true(feed(&w, 0, "ETHUSDT", 50));
    /* Past the lifetime: a replacement connects while the old one keeps streaming. */
    w.now += 2000 * NS_PER_MS;
    fh_engine_test_tick(w.e);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    assert_int_equal(w.nws, 2);
    /* Both deliver the same trades for a while; each trade reaches the sink once. */
    assert_true(feed(&w, 0, "BTCUSDT", 11));
    assert_true(feed(&w, 1, "BTCUSDT", 11));
    assert_true(feed(&w, 1, "BTCUSDT", 12));
    assert_true(feed(&w, 0, "BTCUSDT", 12));
    assert_true(feed(&w, 1, "ETHUSDT", 51));
    assert_true(feed(&w, 0, "ETHUSDT", 51));
    /* Every track moved to the new connection: the old one is closed as rotated. */
    fh_engine_test_tick(w.e);
    server_close(&w, 0);
    const struct fh_feed_venue_stats *st = fh_engine_venue_stats(w.e, 0);
    assert_int_equal(LD(&st->disconnects[FH_FEED_CLOSE_ROTATED]), 1);
    assert_true(feed(&w, 1, "BTCUSDT", 13));
    static const int64_t btc[] = {10, 11, 12, 13};
    static const int64_t eth[] = {50, 51};
    expect_ids(&w, "BTC-USDT", btc, 4);
    expect_ids(&w, "ETH-USDT", eth, 2);
    assert_true(LD(&st->duplicates[FH_FEED_DUP_ROTATION]) >= 3);
    assert_int_equal(LD(&st->gaps), 0);
    assert_int_equal(LD(&st->rotations), 1);
    world_stop(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gap_and_duplicate),
        cmocka_unit_test(test_backpressure_hold_and_release),
        cmocka_unit_test(test_gap_records_of_one_read),
        cmocka_unit_test(test_watchdog),
        cmocka_unit_test(test_rotation_hand_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
