/*
 * test_feed_backfill.c - REST backfill decisions (src/feed/backfill.c, backfill_budget.c),
 * driven without sockets: pages built from a truth list of ids (and, in two tests, real
 * Binance and Kraken bodies through the venue parsers), answers of every kind, a fake clock.
 */
#include "testutil.h"

#include "core/err.h"
#include "feed/backfill.h"
#include "venue/venue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S  INT64_C(1000000000)
#define T0 (INT64_C(1000) * S) /* the fake monotonic clock starts here */

/* ---- helpers ------------------------------------------------------------------------------- */

static struct fh_trade mk(int64_t id)
{
    struct fh_trade t;
    memset(&t, 0, sizeof(t));
    t.venue = FH_STR_LIT("binance");
    t.trade_id = id;
    t.has = FH_HAS_TRADE_ID;
    return t;
}

/* A fake history: the ids that exist, ascending. */
struct truth {
    int64_t *ids;
    size_t n;
};

static struct fh_trade PageRows[1000];

/* Binance-style page: ids >= from, at most limit. */
static struct fh_rest_page bn_page(const struct truth *tr, int64_t from, unsigned limit)
{
    struct fh_rest_page p = {.trades = PageRows};
    for (size_t i = 0; i < tr->n && p.n_trades < limit; i++) {
        if (tr->ids[i] >= from)
            PageRows[p.n_trades++] = mk(tr->ids[i]);
    }
    return p;
}

static struct truth range_truth(int64_t a, int64_t b)
{
    struct truth t = {calloc((size_t)(b - a + 1), sizeof(int64_t)), 0};
    for (int64_t id = a; id <= b; id++)
        t.ids[t.n++] = id;
    return t;
}

static void drop_id(struct truth *t, int64_t id)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->ids[i] == id) {
            memmove(&t->ids[i], &t->ids[i + 1], (t->n - i - 1) * sizeof(int64_t));
            t->n--;
            return;
        }
    }
}

static struct fh_backfill_config cfg_binance(void)
{
    struct fh_backfill_config c;
    fh_backfill_config_default(&c, FH_BACKFILL_BINANCE);
    c.max_tracks = 64;
    c.max_jobs = 32;
    c.hold_capacity = 4096;
    c.hold_per_track = 1024;
    c.page_limit = 100;
    return c;
}

static struct fh_backfill_gap gap_of(uint32_t track, int64_t a, int64_t b)
{
    return (struct fh_backfill_gap){.track = track,
                                    .style = FH_BACKFILL_BINANCE_TRADES,
                                    .symbol = FH_STR_LIT("BTCUSDT"),
                                    .first_id = a,
                                    .last_id = b,
                                    .detected_ns = 1700000000 * S};
}

/* Everything written, in order, per track. */
struct out {
    int64_t ids[64][4096];
    size_t n[64];
};

static void write_id(struct out *o, uint32_t track, int64_t id)
{
    if (o->n[track] > 0 && id <= o->ids[track][o->n[track] - 1])
        fail_msg("track %u: %" PRId64 " written after %" PRId64, track, id,
                 o->ids[track][o->n[track] - 1]);
    o->ids[track][o->n[track]++] = id;
}

static void drain_held(struct fh_backfill *bf, struct out *o, uint32_t track)
{
    const struct fh_trade *t;
    while ((t = fh_backfill_held_peek(bf, track)) != NULL) {
        write_id(o, track, t->trade_id);
        fh_backfill_held_pop(bf, track);
    }
}

/* A live trade the engine hands over: held, or written (after the released ones). */
static void live(struct fh_backfill *bf, struct out *o, uint32_t track, int64_t id, int64_t now)
{
    struct fh_trade t = mk(id);
    int rc = fh_backfill_hold(bf, track, &t, now);
    assert_true(rc >= 0);
    if (rc == FH_BACKFILL_HELD)
        return;
    drain_held(bf, o, track);
    write_id(o, track, id);
}

static void expect_ids(const struct out *o, uint32_t track, int64_t a, int64_t b)
{
    if (o->n[track] != (size_t)(b - a + 1))
        fail_msg("track %u: %zu written, want %" PRId64, track, o->n[track], b - a + 1);
    for (size_t i = 0; i < o->n[track]; i++)
        assert_int_equal(o->ids[track][i], a + (int64_t)i);
}

static struct fh_backfill_answer ok_answer(uint64_t job, const struct fh_rest_page *p)
{
    return (struct fh_backfill_answer){
        .job = job, .status = 200, .page = p, .retry_after_s = -1, .used_weight = -1};
}

static struct fh_backfill_answer status_answer(uint64_t job, long status, int64_t retry_after)
{
    return (struct fh_backfill_answer){
        .job = job, .status = status, .retry_after_s = retry_after, .used_weight = -1};
}

/* Answers one request from truth and writes what is to be emitted. */
static void serve(struct fh_backfill *bf, struct out *o, const struct truth *tr,
                  const struct fh_backfill_request *rq, int64_t now)
{
    struct fh_rest_page p = bn_page(tr, rq->req.from_id, rq->req.limit);
    struct fh_backfill_answer a = ok_answer(rq->job, &p);
    struct fh_backfill_emit e;
    assert_int_equal(fh_backfill_on_answer(bf, &a, now, &e), 0);
    for (size_t i = e.first; i < e.first + e.n; i++)
        write_id(o, rq->track, p.trades[i].trade_id);
}

static size_t events(struct fh_backfill *bf, struct fh_backfill_event *ev, size_t max)
{
    size_t n = 0;
    while (n < max && fh_backfill_next_event(bf, &ev[n]))
        n++;
    return n;
}

static struct out *new_out(void)
{
    struct out *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    return o;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Real historicalTrades bodies through the Binance parser: a gap of 250 ids over three pages
 * of 100, the rows past the gap (live) ignored; DETECTED then FILLED. */
static void test_fill_pages_binance_bodies(void **state)
{
    (void)state;
    struct fh_symbols syms;
    struct fh_venue_parser vp;
    assert_int_equal(fh_symbols_init(&syms, 8), 0);
    assert_int_equal(
        fh_symbols_add(&syms, FH_STR_LIT("BTCUSDT"), FH_STR_LIT("BTC"), FH_STR_LIT("USDT"), NULL),
        0);
    assert_int_equal(fh_venue_parser_init(&vp, &fh_venue_binance, &syms, NULL), 0);
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct fh_backfill_gap g = gap_of(3, 100, 349);
    uint64_t job = fh_backfill_gap(&bf, &g, T0);
    assert_true(job > 0);
    struct fh_buf body, path;
    fh_buf_init(&body, 1 << 20);
    fh_buf_init(&path, 4096);
    int64_t froms[8];
    size_t nreq = 0;
    struct fh_backfill_request rq;
    int64_t wake;
    while (fh_backfill_next_request(&bf, T0, &rq, &wake) == FH_BACKFILL_SEND) {
        assert_true(nreq < 8);
        froms[nreq++] = rq.req.from_id;
        assert_int_equal(rq.weight, 25);
        fh_buf_reset(&path);
        assert_int_equal(fh_venue_binance.build_rest_trades(&rq.req, &path), 0);
        assert_non_null(strstr(path.data, "historicalTrades"));
        fh_buf_reset(&body);
        fh_buf_append(&body, "[", 1);
        for (int64_t id = rq.req.from_id; id < rq.req.from_id + rq.req.limit; id++) {
            fh_buf_appendf(&body,
                           "%s{\"id\":%" PRId64 ",\"price\":\"65000.10000000\",\"qty\":"
                           "\"0.00100000\",\"quoteQty\":\"65.0001\",\"time\":1700000000%03d,"
                           "\"isBuyerMaker\":true,\"isBestMatch\":true}",
                           id > rq.req.from_id ? "," : "", id, (int)(id % 1000));
        }
        fh_buf_append(&body, "]", 1);
        struct fh_rest_page p;
        enum fh_reject rej;
        assert_int_equal(fh_venue_binance.parse_rest_trades(&vp, body.data, body.len,
                                                            FH_STR_LIT("BTCUSDT"), &p, &rej),
                         0);
        struct fh_backfill_answer a = ok_answer(rq.job, &p);
        a.used_weight = 25 * (int64_t)nreq;
        struct fh_backfill_emit e;
        assert_int_equal(fh_backfill_on_answer(&bf, &a, T0, &e), 0);
        for (size_t i = e.first; i < e.first + e.n; i++) {
            assert_int_equal(p.trades[i].source, FH_SOURCE_BACKFILL);
            write_id(o, 3, p.trades[i].trade_id);
        }
    }
    assert_int_equal(nreq, 3);
    assert_int_equal(froms[0], 100);
    assert_int_equal(froms[1], 200);
    assert_int_equal(froms[2], 300);
    expect_ids(o, 3, 100, 349);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[0].status, FH_BACKFILL_DETECTED);
    assert_int_equal(ev[0].first_id, 100);
    assert_int_equal(ev[0].last_id, 349);
    assert_int_equal(ev[1].status, FH_BACKFILL_FILLED);
    assert_int_equal(ev[1].filled, 250);
    assert_int_equal(ev[1].missing, 0);
    assert_string_equal(ev[1].reason, "");
    assert_int_equal(ev[1].detected_ns, g.detected_ns);
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_IDLE);
    assert_int_equal(bf.st.weight_used, 75);
    fh_buf_release(&body);
    fh_buf_release(&path);
    free(o);
    fh_backfill_release(&bf);
    fh_venue_parser_release(&vp);
    fh_symbols_release(&syms);
}

/* A page overlapping trades before the gap and live trades already held: only the gap's ids
 * are written, then the held ones in order, and the track passes again. */
static void test_dedupe_against_live(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    for (int64_t id = 1; id <= 9; id++)
        live(&bf, o, 0, id, T0);
    struct fh_backfill_gap g = gap_of(0, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    assert_true(fh_backfill_holding(&bf, 0));
    for (int64_t id = 20; id <= 25; id++)
        live(&bf, o, 0, id, T0);
    assert_int_equal(fh_backfill_held(&bf), 6);
    assert_null(fh_backfill_held_peek(&bf, 0)); /* nothing released while the gap is open */
    struct fh_backfill_request rq;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    struct truth tr = range_truth(1, 30);
    struct fh_rest_page p = bn_page(&tr, 5, 100); /* 5..30: before, gap, live, beyond */
    struct fh_backfill_answer a = status_answer(rq.job, 503, -1);
    struct fh_backfill_emit e;
    assert_int_equal(fh_backfill_on_answer(&bf, &a, T0, &e), 0);
    /* the same answer twice (the job is open, but nothing of it is in flight) */
    assert_int_equal(fh_backfill_on_answer(&bf, &a, T0, &e), FH_ENOTFOUND);
    assert_int_equal(bf.st.stale, 1);
    int64_t now = T0;
    while (fh_backfill_next_request(&bf, now, &rq, &wake) == FH_BACKFILL_WAIT)
        now = wake;
    a = ok_answer(rq.job, &p);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(p.trades[e.first].trade_id, 10);
    assert_int_equal(e.n, 10);
    for (size_t i = e.first; i < e.first + e.n; i++)
        write_id(o, 0, p.trades[i].trade_id);
    drain_held(&bf, o, 0);
    assert_false(fh_backfill_holding(&bf, 0));
    live(&bf, o, 0, 26, T0);
    expect_ids(o, 0, 1, 26);
    /* a late duplicate answer for the ended job writes nothing */
    assert_int_equal(fh_backfill_on_answer(&bf, &a, T0, &e), FH_ENOTFOUND);
    assert_int_equal(e.n, 0);
    assert_int_equal(bf.st.stale, 2);
    free(tr.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* feedsim `skip`: ids that never existed. One request proves them absent. */
static void test_skip_absent_after_one_check(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct truth tr = range_truth(1, 40);
    drop_id(&tr, 13);
    drop_id(&tr, 14);
    drop_id(&tr, 30);
    drop_id(&tr, 31);
    /* gap 12..15 with 13, 14 skipped: PARTIAL */
    struct fh_backfill_gap g = gap_of(1, 12, 15);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    struct fh_backfill_request rq;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    serve(&bf, o, &tr, &rq, T0);
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_IDLE);
    assert_int_equal(o->n[1], 2);
    assert_int_equal(o->ids[1][0], 12);
    assert_int_equal(o->ids[1][1], 15);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[1].status, FH_BACKFILL_PARTIAL);
    assert_int_equal(ev[1].filled, 2);
    assert_int_equal(ev[1].missing, 2);
    assert_int_equal(ev[1].n_ranges, 1);
    assert_int_equal(ev[1].ranges[0].first, 13);
    assert_int_equal(ev[1].ranges[0].last, 14);
    assert_string_equal(ev[1].ranges[0].reason, "absent from history");
    assert_string_equal(ev[1].reason, "absent from history");
    /* a gap made only of skipped ids (30, 31): UNRECOVERABLE after one request */
    g = gap_of(1, 30, 31);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    serve(&bf, o, &tr, &rq, T0);
    assert_int_equal(fh_backfill_next_request(&bf, T0 + 3600 * S, &rq, &wake), FH_BACKFILL_IDLE);
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[1].status, FH_BACKFILL_UNRECOVERABLE);
    assert_int_equal(ev[1].missing, 2);
    assert_int_equal(ev[1].ranges[0].first, 30);
    assert_int_equal(ev[1].ranges[0].last, 31);
    assert_ptr_equal(ev[1].reason, fh_backfill_reason_absent);
    assert_int_equal(bf.st.requests, 2);
    free(tr.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* History without the ids at all (an empty page): retried max_empty times, then absent. */
static void test_empty_page_retried_then_absent(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.max_empty = 2;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct fh_backfill_gap g = gap_of(0, 50, 59);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    struct fh_rest_page empty = {.trades = PageRows};
    int64_t now = T0, wake;
    struct fh_backfill_request rq;
    size_t sent = 0;
    for (;;) {
        enum fh_backfill_next r = fh_backfill_next_request(&bf, now, &rq, &wake);
        if (r == FH_BACKFILL_IDLE)
            break;
        if (r == FH_BACKFILL_WAIT) {
            assert_true(wake > now);
            now = wake;
            continue;
        }
        sent++;
        struct fh_backfill_answer a = ok_answer(rq.job, &empty);
        struct fh_backfill_emit e;
        assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    }
    assert_int_equal(sent, 3);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[1].status, FH_BACKFILL_UNRECOVERABLE);
    assert_ptr_equal(ev[1].reason, fh_backfill_reason_absent);
    assert_int_equal(ev[1].missing, 10);
    fh_backfill_release(&bf);
}

/* 429 with Retry-After: no request before it, at any instant in between. */
static void test_429_retry_after_never_violated(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct fh_backfill_gap g = gap_of(0, 1000, 1999);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    struct fh_backfill_gap g2 = gap_of(1, 5000, 5999);
    assert_true(fh_backfill_gap(&bf, &g2, T0) > 0);
    struct fh_backfill_request rq, rq2;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq2, &wake), FH_BACKFILL_SEND);
    int64_t at = T0 + 1234567;
    struct fh_backfill_answer a = status_answer(rq.job, 429, 7);
    struct fh_backfill_emit e;
    assert_int_equal(fh_backfill_on_answer(&bf, &a, at, &e), 0);
    assert_int_equal(e.n, 0);
    assert_int_equal(bf.st.throttled, 1);
    /* the other gap's answer is a 503: it must wait too (the block is for the address) */
    struct fh_backfill_answer a2 = status_answer(rq2.job, 503, -1);
    assert_int_equal(fh_backfill_on_answer(&bf, &a2, at, &e), 0);
    for (int64_t t = at; t < at + 7 * S; t += 97 * 1000 * 1000) {
        assert_int_equal(fh_backfill_next_request(&bf, t, &rq, &wake), FH_BACKFILL_WAIT);
        assert_true(wake >= at + 7 * S);
    }
    at += 7 * S;
    assert_int_equal(fh_backfill_next_request(&bf, at, &rq, &wake), FH_BACKFILL_SEND);
    /* again, and the server reports 6001 used: past the 3000 share, so the weight window waits
     * for that minute to pass, which is later than this Retry-After */
    a = status_answer(rq.job, 429, 2);
    a.used_weight = 6001;
    assert_int_equal(fh_backfill_on_answer(&bf, &a, at, &e), 0);
    assert_int_equal(fh_backfill_next_request(&bf, at + 2 * S, &rq, &wake), FH_BACKFILL_WAIT);
    assert_true(wake > at + 60 * S);
    assert_int_equal(fh_backfill_next_request(&bf, wake, &rq, &wake), FH_BACKFILL_SEND);
    fh_backfill_release(&bf);
}

/* 418: Retry-After when given; else the 2-minute default, doubling per ban in a row. */
static void test_418_ban(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.deadline_ns = 3600 * S;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct fh_backfill_gap g = gap_of(0, 1, 10);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    struct fh_backfill_request rq;
    int64_t wake, now = T0;
    struct fh_backfill_emit e;
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    struct fh_backfill_answer a = status_answer(rq.job, 418, 300);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(fh_backfill_next_request(&bf, now + 299 * S, &rq, &wake), FH_BACKFILL_WAIT);
    assert_int_equal(wake, now + 300 * S);
    now += 300 * S;
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    a = status_answer(rq.job, 418, -1);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(fh_backfill_next_request(&bf, now + 119 * S, &rq, &wake), FH_BACKFILL_WAIT);
    assert_int_equal(wake, now + 120 * S);
    now += 120 * S;
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    a = status_answer(rq.job, 418, -1);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(fh_backfill_next_request(&bf, now + 239 * S, &rq, &wake), FH_BACKFILL_WAIT);
    assert_int_equal(wake, now + 240 * S);
    assert_int_equal(bf.st.banned, 3);
    assert_int_equal(bf.st.failures, 0); /* refusals are not failures of the history */
    fh_backfill_release(&bf);
}

/* The weight share spreads requests: never more than the budget in any rolling minute, and the
 * server's X-MBX-USED-WEIGHT-1M raises our count. */
static void test_weight_budget_spreads_requests(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.weight_limit = 200;
    c.weight_share_pct = 50; /* 100 a minute: four historicalTrades */
    c.page_limit = 10;
    c.deadline_ns = 3600 * S;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct truth tr = range_truth(1, 400);
    struct fh_backfill_gap g = gap_of(0, 1, 199);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    int64_t sent_at[64];
    size_t nsent = 0;
    int64_t now = T0 + 300 * 1000 * 1000, wake;
    struct fh_backfill_request rq;
    for (;;) {
        enum fh_backfill_next r = fh_backfill_next_request(&bf, now, &rq, &wake);
        if (r == FH_BACKFILL_IDLE)
            break;
        if (r == FH_BACKFILL_WAIT) {
            assert_true(wake > now);
            now = wake;
            continue;
        }
        assert_true(nsent < 64);
        sent_at[nsent++] = now;
        serve(&bf, o, &tr, &rq, now);
        now += 1000; /* answers are quick */
    }
    expect_ids(o, 0, 1, 199);
    assert_int_equal(nsent, 20);
    for (size_t i = 0; i < nsent; i++) {
        int w = 0;
        for (size_t k = 0; k <= i; k++)
            w += sent_at[i] - sent_at[k] < 60 * S ? 25 : 0;
        if (w > 100)
            fail_msg("request %zu: %d weight within a minute", i, w);
    }
    assert_true(sent_at[4] - sent_at[0] >= 60 * S);
    /* the server says 90 used: only one more request (our 0 + 90 + 25 > 100) ... */
    now += 3600 * S;
    g = gap_of(1, 1000, 1999);
    assert_true(fh_backfill_gap(&bf, &g, now) > 0);
    assert_int_equal(fh_backfill_budget_used(&bf.budget, now), 0);
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    struct truth tr2 = range_truth(1000, 3000);
    struct fh_rest_page p = bn_page(&tr2, rq.req.from_id, rq.req.limit);
    struct fh_backfill_answer a = ok_answer(rq.job, &p);
    a.used_weight = 90;
    struct fh_backfill_emit e;
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(fh_backfill_budget_used(&bf.budget, now), 90);
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_WAIT);
    assert_true(wake >= now + 59 * S);
    free(tr.ids);
    free(tr2.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* Rolling-window arithmetic on its own. */
static void test_budget_window(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.weight_limit = 100;
    c.weight_share_pct = 100;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct fh_backfill_budget *b = &bf.budget;
    int64_t t = 5000 * S + S / 2;
    assert_int_equal(fh_backfill_budget_ready_at(b, t, 25), t);
    assert_int_equal(fh_backfill_budget_ready_at(b, t, 101), INT64_MAX);
    bf.budget.sec[5000 % FH_BACKFILL_WINDOW_S] = 5000;
    bf.budget.weight[5000 % FH_BACKFILL_WINDOW_S] = 80;
    bf.budget.sec[5010 % FH_BACKFILL_WINDOW_S] = 5010;
    bf.budget.weight[5010 % FH_BACKFILL_WINDOW_S] = 20;
    int64_t now = 5020 * S;
    assert_int_equal(fh_backfill_budget_used(b, now), 100);
    /* 25 more fits once the 80 of second 5000 are a full window old */
    assert_int_equal(fh_backfill_budget_ready_at(b, now, 25), 5061 * S);
    assert_int_equal(fh_backfill_budget_used(b, 5061 * S), 20);
    assert_int_equal(fh_backfill_budget_used(b, 5071 * S), 0);
    assert_int_equal(fh_backfill_header_int("17"), 17);
    assert_int_equal(fh_backfill_header_int(" 5 "), 5);
    assert_int_equal(fh_backfill_header_int(NULL), -1);
    assert_int_equal(fh_backfill_header_int(""), -1);
    assert_int_equal(fh_backfill_header_int("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    assert_int_equal(fh_backfill_header_int("1234567890123456789"), -1);
    fh_backfill_release(&bf);
}

/* Kraken v2: real Trades bodies through the parser. The walk starts a margin before the last
 * trade seen, follows "last", writes the gap's ids and stops at the first live id; one call per
 * second on the pair. */
struct kraken_hist {
    int64_t ids[200];
    int64_t ns[200];
    size_t n;
};

static void kraken_body(const struct kraken_hist *h, const char *since, unsigned count,
                        struct fh_buf *b)
{
    int64_t s = strtoll(since, NULL, 10);
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"error\":[],\"result\":{\"BTC/USD\":[");
    unsigned rows = 0;
    int64_t last = s;
    for (size_t i = 0; i < h->n && rows < count; i++) {
        if (h->ns[i] <= s)
            continue;
        fh_buf_appendf(b, "%s[\"30243.40000\",\"0.34507674\",%lld.%09lld,\"b\",\"l\",\"\",%lld]",
                       rows > 0 ? "," : "", (long long)(h->ns[i] / S), (long long)(h->ns[i] % S),
                       (long long)h->ids[i]);
        last = h->ns[i];
        rows++;
    }
    fh_buf_appendf(b, "],\"last\":\"%lld\"}}", (long long)last);
}

static void test_kraken_cursor_paging(void **state)
{
    (void)state;
    struct fh_symbols syms;
    struct fh_venue_parser vp;
    assert_int_equal(fh_symbols_init(&syms, 8), 0);
    assert_int_equal(
        fh_symbols_add(&syms, FH_STR_LIT("BTC/USD"), FH_STR_LIT("BTC"), FH_STR_LIT("USD"), NULL),
        0);
    assert_int_equal(fh_venue_parser_init(&vp, &fh_venue_kraken_v2, &syms, NULL), 0);
    struct kraken_hist *h = calloc(1, sizeof(*h));
    int64_t t0 = INT64_C(1688669597) * S;
    for (size_t i = 0; i < 200; i++) {
        h->ids[i] = 1000 + (int64_t)i;
        h->ns[i] = t0 + (int64_t)i * 100 * 1000 * 1000; /* 10 trades a second */
    }
    h->n = 200;
    struct fh_backfill_config c;
    fh_backfill_config_default(&c, FH_BACKFILL_KRAKEN);
    c.max_tracks = 4;
    c.max_jobs = 4;
    c.hold_capacity = 64;
    c.hold_per_track = 64;
    c.page_limit = 7;
    struct fh_backfill bf;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    /* live saw ..1049, then 1080: gap 1050..1079; 1080.. are live (held) */
    struct fh_backfill_gap g = {.track = 2,
                                .style = FH_BACKFILL_KRAKEN_SINCE,
                                .symbol = FH_STR_LIT("BTC/USD"),
                                .first_id = 1050,
                                .last_id = 1079,
                                .since_ns = h->ns[49]};
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    for (int64_t id = 1080; id <= 1085; id++)
        live(&bf, o, 2, id, T0);
    struct fh_buf body, path;
    fh_buf_init(&body, 1 << 20);
    fh_buf_init(&path, 4096);
    int64_t now = T0, wake, last_sent = -1;
    size_t nreq = 0;
    struct fh_backfill_request rq;
    for (;;) {
        enum fh_backfill_next r = fh_backfill_next_request(&bf, now, &rq, &wake);
        if (r == FH_BACKFILL_IDLE)
            break;
        if (r == FH_BACKFILL_WAIT) {
            assert_true(wake > now);
            now = wake;
            continue;
        }
        if (last_sent >= 0)
            assert_true(now - last_sent >= S); /* one call a second on the pair */
        last_sent = now;
        char since[40];
        snprintf(since, sizeof(since), "%.*s", (int)rq.req.since.n, rq.req.since.p);
        if (nreq == 0) {
            char want[40];
            snprintf(want, sizeof(want), "%lld", (long long)(h->ns[49] - S));
            assert_string_equal(since, want);
        }
        nreq++;
        fh_buf_reset(&path);
        assert_int_equal(fh_venue_kraken_v2.build_rest_trades(&rq.req, &path), 0);
        assert_non_null(strstr(path.data, "since="));
        kraken_body(h, since, rq.req.limit, &body);
        struct fh_rest_page p;
        enum fh_reject rej;
        assert_int_equal(fh_venue_kraken_v2.parse_rest_trades(&vp, body.data, body.len,
                                                              FH_STR_LIT("BTC/USD"), &p, &rej),
                         0);
        struct fh_backfill_answer a = ok_answer(rq.job, &p);
        struct fh_backfill_emit e;
        assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
        for (size_t i = e.first; i < e.first + e.n; i++)
            write_id(o, 2, p.trades[i].trade_id);
        now += 1000;
    }
    drain_held(&bf, o, 2);
    expect_ids(o, 2, 1050, 1085);
    /* a 1 s margin at 10 trades a second starts after 1039: 1040..1081 in six pages of 7 */
    assert_int_equal(nreq, 6);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[1].status, FH_BACKFILL_FILLED);
    assert_int_equal(ev[1].filled, 30);
    fh_buf_release(&body);
    fh_buf_release(&path);
    free(o);
    fh_backfill_release(&bf);
    free(h);
    fh_venue_parser_release(&vp);
    fh_symbols_release(&syms);
}

/* Kraken page shapes without the parser. */
static struct fh_rest_page kr_page(int64_t a, int64_t b, const char *cursor)
{
    struct fh_rest_page p = {.trades = PageRows, .cursor = fh_str_c(cursor)};
    for (int64_t id = a; id <= b; id++)
        PageRows[p.n_trades++] = mk(id);
    return p;
}

static struct fh_backfill_config cfg_kraken(void)
{
    struct fh_backfill_config c;
    fh_backfill_config_default(&c, FH_BACKFILL_KRAKEN);
    c.max_tracks = 8;
    c.max_jobs = 8;
    c.hold_capacity = 64;
    c.hold_per_track = 64;
    c.deadline_ns = 3600 * S;
    return c;
}

/* The first page starts past the gap: the margin doubles and the walk starts again (bounded);
 * "Too many requests" backs off 1, 2, 4 s for every pair, and a good page resets it. */
static void test_kraken_rewind_and_backoff(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_kraken();
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct fh_backfill_gap g = {.track = 0,
                                .style = FH_BACKFILL_KRAKEN_SINCE,
                                .symbol = FH_STR_LIT("BTC/USD"),
                                .first_id = 500,
                                .last_id = 509,
                                .since_ns = 100 * S};
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    struct fh_backfill_request rq;
    int64_t now = T0, wake;
    struct fh_backfill_emit e;
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    assert_true(fh_str_eq_c(rq.req.since, "99000000000"));
    struct fh_rest_page p = kr_page(503, 520, "150000000000"); /* starts past 500 */
    struct fh_backfill_answer a = ok_answer(rq.job, &p);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(e.n, 0);
    now += S;
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    assert_true(fh_str_eq_c(rq.req.since, "98000000000")); /* margin 2 s */
    /* Too many requests: 1 s, then 2 s, then 4 s; the pair's own spacing is 1 s */
    int64_t want[] = {1 * S, 2 * S, 4 * S};
    for (size_t k = 0; k < 3; k++) {
        struct fh_rest_page lim = {.trades = PageRows,
                                   .error = FH_STR_LIT("EGeneral:Too many requests"),
                                   .rate_limited = true};
        a = ok_answer(rq.job, &lim);
        assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
        assert_int_equal(fh_backfill_next_request(&bf, now + want[k] - 1, &rq, &wake),
                         FH_BACKFILL_WAIT);
        assert_int_equal(wake, now + want[k]);
        now += want[k];
        assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    }
    assert_int_equal(bf.st.throttled, 3);
    assert_int_equal(bf.st.failures, 0);
    p = kr_page(495, 505, "160000000000"); /* reaches back before the gap now */
    a = ok_answer(rq.job, &p);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(e.n, 6);
    assert_int_equal(PageRows[e.first].trade_id, 500);
    assert_int_equal(bf.budget.kr_backoff_ns, 0);
    now += S;
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    assert_true(fh_str_eq_c(rq.req.since, "160000000000")); /* the cursor */
    p = kr_page(506, 508, "170000000000");
    a = ok_answer(rq.job, &p);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(e.n, 3);
    /* 509 then 511: the walk is past 508 with no 509 and a row after it: 509 is absent
     * ... but the rows continue from 510 here, so only 509 is missing */
    now += S;
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    p = kr_page(510, 512, "180000000000");
    a = ok_answer(rq.job, &p);
    assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    assert_int_equal(e.n, 0);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[1].status, FH_BACKFILL_PARTIAL);
    assert_int_equal(ev[1].filled, 9);
    assert_int_equal(ev[1].n_ranges, 1);
    assert_int_equal(ev[1].ranges[0].first, 509);
    assert_int_equal(ev[1].ranges[0].last, 509);
    fh_backfill_release(&bf);
}

/* The per-track hold bound: the gap ends at once with its unfetched ids UNRECOVERABLE "hold
 * buffer full", the held trades come out in order, then the one that did not fit. An answer
 * still in flight for the ended gap writes nothing. */
static void test_hold_bound(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.hold_per_track = 5;
    c.page_limit = 4;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct truth tr = range_truth(1, 100);
    live(&bf, o, 7, 9, T0);
    struct fh_backfill_gap g = gap_of(7, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    struct fh_backfill_request rq;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    serve(&bf, o, &tr, &rq, T0); /* 10..13 written */
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    for (int64_t id = 20; id <= 24; id++) {
        struct fh_trade t = mk(id);
        assert_int_equal(fh_backfill_hold(&bf, 7, &t, T0), FH_BACKFILL_HELD);
    }
    struct fh_trade t25 = mk(25);
    assert_int_equal(fh_backfill_hold(&bf, 7, &t25, T0), FH_BACKFILL_FULL);
    drain_held(&bf, o, 7);
    write_id(o, 7, 25);
    live(&bf, o, 7, 26, T0); /* passes straight through now */
    assert_int_equal(fh_backfill_held(&bf), 0);
    /* the late page */
    struct fh_rest_page p = bn_page(&tr, rq.req.from_id, rq.req.limit);
    struct fh_backfill_answer a = ok_answer(rq.job, &p);
    struct fh_backfill_emit e;
    assert_int_equal(fh_backfill_on_answer(&bf, &a, T0, &e), FH_ENOTFOUND);
    assert_int_equal(e.n, 0);
    int64_t want[] = {9, 10, 11, 12, 13, 20, 21, 22, 23, 24, 25, 26};
    assert_int_equal(o->n[7], sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < o->n[7]; i++)
        assert_int_equal(o->ids[7][i], want[i]);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[1].status, FH_BACKFILL_PARTIAL);
    assert_ptr_equal(ev[1].reason, fh_backfill_reason_hold_full);
    assert_int_equal(ev[1].filled, 4);
    assert_int_equal(ev[1].missing, 6);
    assert_int_equal(ev[1].ranges[0].first, 14);
    assert_int_equal(ev[1].ranges[0].last, 19);
    assert_int_equal(bf.st.hold_full, 1);
    free(tr.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* The shared pool bound: another track's trades fill it; this track's gap ends. */
static void test_hold_pool_shared_bound(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.hold_capacity = 6;
    c.hold_per_track = 6;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct fh_backfill_gap g = gap_of(0, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    g = gap_of(1, 110, 119);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    for (int64_t id = 20; id < 26; id++)
        live(&bf, o, 0, id, T0);
    live(&bf, o, 1, 120, T0); /* no room: track 1's gap ends, 120 is written */
    assert_int_equal(o->n[1], 1);
    assert_int_equal(o->n[0], 0);
    assert_true(fh_backfill_holding(&bf, 0));
    assert_false(fh_backfill_holding(&bf, 1));
    struct fh_backfill_event ev[8];
    assert_int_equal(events(&bf, ev, 8), 3);
    assert_int_equal(ev[2].track, 1);
    assert_int_equal(ev[2].status, FH_BACKFILL_UNRECOVERABLE);
    assert_int_equal(ev[2].ranges[0].first, 110);
    assert_int_equal(ev[2].ranges[0].last, 119);
    free(o);
    fh_backfill_release(&bf);
}

/* Deadlines: failing answers end as "rest unavailable", throttled ones as "rest budget
 * exhausted"; the wake time never passes a deadline; held trades are released. */
static void test_deadline(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.deadline_ns = 10 * S;
    c.max_failures = 1000;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct fh_backfill_gap g = gap_of(0, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    g = gap_of(1, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, T0 + 2 * S) > 0);
    live(&bf, o, 0, 20, T0 + 2 * S);
    int64_t now = T0 + 2 * S, wake;
    struct fh_backfill_request rq, rq2;
    struct fh_backfill_emit e;
    size_t ended = 0;
    while (ended < 2) {
        enum fh_backfill_next r = fh_backfill_next_request(&bf, now, &rq, &wake);
        if (r == FH_BACKFILL_IDLE)
            break;
        if (r == FH_BACKFILL_SEND) {
            struct fh_backfill_answer a =
                rq.track == 0 ? status_answer(rq.job, 503, -1) : status_answer(rq.job, 429, 3600);
            assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
            continue;
        }
        assert_true(wake <= T0 + 12 * S);
        assert_true(wake > now);
        now = wake;
        ended = 2 - fh_backfill_open(&bf);
    }
    assert_int_equal(fh_backfill_open(&bf), 0);
    struct fh_backfill_event ev[8];
    assert_int_equal(events(&bf, ev, 8), 4);
    assert_int_equal(ev[2].track, 0);
    assert_ptr_equal(ev[2].reason, fh_backfill_reason_unavailable);
    assert_int_equal(ev[2].status, FH_BACKFILL_UNRECOVERABLE);
    assert_int_equal(ev[2].missing, 10);
    assert_int_equal(ev[3].track, 1);
    assert_ptr_equal(ev[3].reason, fh_backfill_reason_budget);
    assert_true(now >= T0 + 12 * S);
    drain_held(&bf, o, 0);
    expect_ids(o, 0, 20, 20);
    /* a request never answered: the gap ends at its deadline all the same, and its answer
     * when it comes is stale */
    now += 7200 * S; /* past the Retry-After */
    g = gap_of(2, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, now) > 0);
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
    assert_int_equal(fh_backfill_next_request(&bf, now, &rq2, &wake), FH_BACKFILL_WAIT);
    assert_int_equal(wake, now + 10 * S);
    assert_int_equal(fh_backfill_tick(&bf, now + 10 * S - 1), 0);
    assert_int_equal(fh_backfill_tick(&bf, now + 10 * S), 1);
    assert_int_equal(events(&bf, ev, 8), 2);
    assert_ptr_equal(ev[1].reason, fh_backfill_reason_budget);
    struct fh_backfill_answer late = status_answer(rq.job, 200, -1);
    assert_int_equal(fh_backfill_on_answer(&bf, &late, now + 11 * S, &e), FH_ENOTFOUND);
    free(o);
    fh_backfill_release(&bf);
}

/* max_failures failed answers in a row: "rest unavailable", with a growing back-off. */
static void test_bounded_failures(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.max_failures = 4;
    c.retry_base_ns = S;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct fh_backfill_gap g = gap_of(0, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    int64_t now = T0, wake, prev = 0;
    struct fh_backfill_request rq;
    struct fh_backfill_emit e;
    size_t sent = 0;
    for (;;) {
        enum fh_backfill_next r = fh_backfill_next_request(&bf, now, &rq, &wake);
        if (r == FH_BACKFILL_IDLE)
            break;
        if (r == FH_BACKFILL_WAIT) {
            assert_true(wake - now > prev);
            prev = wake - now;
            now = wake;
            continue;
        }
        sent++;
        /* no answer (timeout), then malformed, then an error body, then a 500 */
        struct fh_rest_page err = {.trades = PageRows, .error = FH_STR_LIT("EService:Busy")};
        struct fh_backfill_answer a = status_answer(rq.job, 0, -1);
        if (sent == 2)
            a.status = 200;
        else if (sent == 3)
            a = ok_answer(rq.job, &err);
        else if (sent == 4)
            a.status = 500;
        assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    }
    assert_int_equal(sent, 4);
    assert_int_equal(bf.st.failures, 4);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_ptr_equal(ev[1].reason, fh_backfill_reason_unavailable);
    /* not_sent is not a failure */
    g = gap_of(0, 30, 39);
    assert_true(fh_backfill_gap(&bf, &g, now) > 0);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(fh_backfill_next_request(&bf, now, &rq, &wake), FH_BACKFILL_SEND);
        struct fh_backfill_answer a = {.job = rq.job, .not_sent = true};
        assert_int_equal(fh_backfill_on_answer(&bf, &a, now, &e), 0);
    }
    assert_int_equal(fh_backfill_open(&bf), 1);
    assert_int_equal(bf.st.failures, 4);
    fh_backfill_release(&bf);
}

/* Gaps on many tracks at once, filled in turns; more than max_jobs: the rest are reported
 * UNRECOVERABLE "too many open gaps" at once. */
static void test_many_tracks(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.max_jobs = 24;
    c.page_limit = 10;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct truth tr = range_truth(0, 100000);
    for (uint32_t k = 0; k < 30; k++) {
        int64_t base = 1000 * (int64_t)k;
        live(&bf, o, k, base, T0);
        struct fh_backfill_gap g = gap_of(k, base + 1, base + 35);
        uint64_t id = fh_backfill_gap(&bf, &g, T0);
        assert_true(k < 24 ? id > 0 : id == 0);
        for (int64_t id2 = base + 36; id2 <= base + 40; id2++)
            live(&bf, o, k, id2, T0);
    }
    assert_int_equal(fh_backfill_open(&bf), 24);
    int64_t now = T0, wake;
    struct fh_backfill_request rq;
    uint32_t order[64];
    size_t n = 0;
    for (;;) {
        enum fh_backfill_next r = fh_backfill_next_request(&bf, now, &rq, &wake);
        if (r == FH_BACKFILL_IDLE)
            break;
        if (r == FH_BACKFILL_WAIT) {
            now = wake;
            continue;
        }
        if (n < 64)
            order[n++] = rq.track;
        serve(&bf, o, &tr, &rq, now);
        drain_held(&bf, o, rq.track);
    }
    /* turns: the first 24 requests go to 24 different tracks */
    for (size_t i = 0; i < 24; i++)
        for (size_t k = 0; k < i; k++)
            assert_int_not_equal(order[i], order[k]);
    for (uint32_t k = 0; k < 30; k++) {
        int64_t base = 1000 * (int64_t)k;
        if (k < 24)
            expect_ids(o, k, base, base + 40);
        else
            assert_int_equal(o->n[k], 6);
    }
    assert_int_equal(bf.st.filled, 24);
    assert_int_equal(bf.st.unrecoverable, 6);
    struct fh_backfill_event ev[80];
    size_t ne = events(&bf, ev, 80);
    size_t too_many = 0;
    for (size_t i = 0; i < ne; i++)
        too_many += ev[i].reason == fh_backfill_reason_too_many;
    assert_int_equal(too_many, 6);
    free(tr.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* A second gap on a track whose gap is still open queues behind it: it starts once the first
 * has ended and the live trades between the two have been taken; the trades past the second
 * gap stay held until it ends. */
static void test_same_track_queues(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct truth tr = range_truth(1, 1000);
    struct fh_backfill_gap g = gap_of(5, 10, 19);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    for (int64_t id = 20; id <= 29; id++)
        live(&bf, o, 5, id, T0);
    g = gap_of(5, 30, 39);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    g = gap_of(5, 25, 27); /* not in id order: refused */
    assert_int_equal(fh_backfill_gap(&bf, &g, T0), 0);
    for (int64_t id = 40; id <= 45; id++)
        live(&bf, o, 5, id, T0);
    struct fh_backfill_request rq;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    assert_int_equal(rq.req.from_id, 10);
    struct fh_backfill_request rq2;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq2, &wake), FH_BACKFILL_WAIT);
    serve(&bf, o, &tr, &rq, T0);
    /* the second gap waits for 20..29 to be taken */
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq2, &wake), FH_BACKFILL_WAIT);
    const struct fh_trade *t;
    size_t released = 0;
    while ((t = fh_backfill_held_peek(&bf, 5)) != NULL) {
        write_id(o, 5, t->trade_id);
        fh_backfill_held_pop(&bf, 5);
        released++;
    }
    assert_int_equal(released, 10);
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    assert_int_equal(rq.req.from_id, 30);
    serve(&bf, o, &tr, &rq, T0);
    drain_held(&bf, o, 5);
    expect_ids(o, 5, 10, 45);
    struct fh_backfill_event ev[8];
    assert_int_equal(events(&bf, ev, 8), 4);
    assert_int_equal(ev[0].status, FH_BACKFILL_DETECTED);
    assert_int_equal(ev[1].status, FH_BACKFILL_DETECTED);
    assert_int_equal(ev[2].status, FH_BACKFILL_FILLED);
    assert_int_equal(ev[2].first_id, 10);
    assert_int_equal(ev[3].status, FH_BACKFILL_FILLED);
    assert_int_equal(ev[3].first_id, 30);
    free(tr.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* The process stops with gaps open: each ends at once ("handler stopped": its unfetched ids
 * missing), in id order per track, the tag echoed; every held trade is released in order, and
 * the pool's slots are reused afterwards. */
static void test_stop_ends_open_gaps(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct truth tr = range_truth(1, 1000);
    struct fh_backfill_gap g = gap_of(3, 10, 19);
    g.tag = 77;
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    for (int64_t id = 20; id <= 24; id++)
        live(&bf, o, 3, id, T0);
    g = gap_of(3, 25, 29);
    g.tag = 78;
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    for (int64_t id = 30; id <= 31; id++)
        live(&bf, o, 3, id, T0);
    /* The first gap gets half of its ids before the stop. */
    struct fh_backfill_request rq;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    struct truth half = range_truth(10, 14);
    serve(&bf, o, &half, &rq, T0);
    assert_int_equal(fh_backfill_oldest_detected(&bf), g.detected_ns);
    assert_int_equal(fh_backfill_stop(&bf, T0 + 1), 2);
    assert_int_equal(fh_backfill_open(&bf), 0);
    assert_int_equal(fh_backfill_oldest_detected(&bf), 0);
    drain_held(&bf, o, 3);
    struct fh_backfill_event ev[8];
    assert_int_equal(events(&bf, ev, 8), 4);
    assert_int_equal(ev[2].status, FH_BACKFILL_PARTIAL);
    assert_int_equal(ev[2].tag, 77);
    assert_int_equal(ev[2].filled, 5);
    assert_int_equal(ev[2].missing, 5);
    assert_int_equal(ev[2].n_ranges, 1);
    assert_int_equal(ev[2].ranges[0].first, 15);
    assert_int_equal(ev[2].ranges[0].last, 19);
    assert_string_equal(ev[2].reason, "handler stopped");
    assert_int_equal(ev[3].status, FH_BACKFILL_UNRECOVERABLE);
    assert_int_equal(ev[3].tag, 78);
    assert_int_equal(ev[3].first_id, 25);
    assert_int_equal(ev[3].missing, 5);
    assert_string_equal(ev[3].reason, "handler stopped");
    /* 10..14 backfilled, then 20..24 and 30..31 released in order. */
    assert_int_equal(o->n[3], 12);
    assert_int_equal(o->ids[3][5], 20);
    assert_int_equal(o->ids[3][11], 31);
    assert_int_equal(fh_backfill_held(&bf), 0);
    /* The slots come back: a new gap on another track holds again. */
    g = gap_of(4, 100, 100);
    assert_true(fh_backfill_gap(&bf, &g, T0 + 2) > 0);
    struct fh_trade t = mk(101);
    assert_int_equal(fh_backfill_hold(&bf, 4, &t, T0 + 2), FH_BACKFILL_HELD);
    free(tr.ids);
    free(half.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* record_only: a gap gets DETECTED and at once UNRECOVERABLE "backfill disabled" with its
 * whole range; nothing is held or asked for. */
static void test_record_only(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.record_only = true;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct fh_backfill_gap g = gap_of(2, 50, 59);
    g.tag = 9;
    assert_int_equal(fh_backfill_gap(&bf, &g, T0), 0);
    assert_int_equal(fh_backfill_open(&bf), 0);
    assert_false(fh_backfill_holding(&bf, 2));
    struct fh_trade t = mk(60);
    assert_int_equal(fh_backfill_hold(&bf, 2, &t, T0), FH_BACKFILL_PASS);
    struct fh_backfill_request rq;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_IDLE);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[0].status, FH_BACKFILL_DETECTED);
    assert_int_equal(ev[1].status, FH_BACKFILL_UNRECOVERABLE);
    assert_string_equal(ev[1].reason, "backfill disabled");
    assert_int_equal(ev[1].missing, 10);
    assert_int_equal(ev[1].tag, 9);
    assert_int_equal(ev[1].n_ranges, 1);
    assert_int_equal(ev[1].ranges[0].first, 50);
    assert_int_equal(ev[1].ranges[0].last, 59);
    fh_backfill_release(&bf);
}

/* More missing ranges than FH_BACKFILL_MAX_RANGES: the last one widens, the count is exact. */
static void test_range_bound(void **state)
{
    (void)state;
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.page_limit = 1000;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    struct truth tr = range_truth(1, 200);
    for (int64_t id = 11; id < 100; id += 5)
        drop_id(&tr, id); /* 18 holes: 11, 16, ... 96 */
    struct fh_backfill_gap g = gap_of(0, 10, 99);
    assert_true(fh_backfill_gap(&bf, &g, T0) > 0);
    struct fh_backfill_request rq;
    int64_t wake;
    assert_int_equal(fh_backfill_next_request(&bf, T0, &rq, &wake), FH_BACKFILL_SEND);
    serve(&bf, o, &tr, &rq, T0);
    struct fh_backfill_event ev[4];
    assert_int_equal(events(&bf, ev, 4), 2);
    assert_int_equal(ev[1].status, FH_BACKFILL_PARTIAL);
    assert_int_equal(ev[1].missing, 18);
    assert_int_equal(ev[1].filled, 90 - 18);
    assert_int_equal(ev[1].n_ranges, FH_BACKFILL_MAX_RANGES);
    assert_true(ev[1].ranges_truncated);
    for (size_t i = 0; i + 1 < FH_BACKFILL_MAX_RANGES; i++) {
        assert_int_equal(ev[1].ranges[i].first, 11 + 5 * (int64_t)i);
        assert_int_equal(ev[1].ranges[i].last, 11 + 5 * (int64_t)i);
    }
    assert_int_equal(ev[1].ranges[FH_BACKFILL_MAX_RANGES - 1].first,
                     11 + 5 * (FH_BACKFILL_MAX_RANGES - 1));
    assert_int_equal(ev[1].ranges[FH_BACKFILL_MAX_RANGES - 1].last, 96);
    free(tr.ids);
    free(o);
    fh_backfill_release(&bf);
}

/* ---- property: a random feed with omissions and skips, random answers ------------------------ */

static uint64_t Rng;

static uint64_t rnd(void)
{
    Rng ^= Rng << 13;
    Rng ^= Rng >> 7;
    Rng ^= Rng << 17;
    return Rng;
}

/* Every gap: DETECTED then one final record; what is missing is absent from history. */
struct ev_count {
    size_t detected, finals;
    int64_t missing;
};

static void take_events(struct fh_backfill *bf, struct ev_count *ec)
{
    struct fh_backfill_event ev;
    while (fh_backfill_next_event(bf, &ev)) {
        if (ev.status == FH_BACKFILL_DETECTED) {
            ec->detected++;
            continue;
        }
        ec->finals++;
        ec->missing += ev.missing;
        for (size_t i = 0; i < ev.n_ranges; i++) {
            if (ev.ranges[i].reason != fh_backfill_reason_absent)
                fail_msg("gap %" PRId64 "..%" PRId64 ": %" PRId64 "..%" PRId64 " %s", ev.first_id,
                         ev.last_id, ev.ranges[i].first, ev.ranges[i].last, ev.ranges[i].reason);
        }
    }
}

static void run_random(uint64_t seed)
{
    Rng = seed;
    enum { TRACKS = 4, N = 3000 };
    struct fh_backfill bf;
    struct fh_backfill_config c = cfg_binance();
    c.max_tracks = TRACKS;
    c.max_jobs = 256;
    c.page_limit = 1 + (unsigned)(rnd() % 40);
    c.weight_limit = INT64_C(1) << 40; /* the budget is tested elsewhere; here: order */
    c.max_failures = 1000;
    c.deadline_ns = INT64_C(1) << 60;
    c.hold_capacity = TRACKS * N; /* never full here: every id must come out */
    c.hold_per_track = N;
    c.retry_base_ns = 100 * 1000 * 1000;
    c.retry_max_ns = S;
    assert_int_equal(fh_backfill_init(&bf, &c), 0);
    struct out *o = new_out();
    /* truth per track: ids with random skips (never existed) */
    static int64_t ids[TRACKS][N];
    size_t n[TRACKS];
    int64_t skipped = 0;
    for (uint32_t k = 0; k < TRACKS; k++) {
        int64_t id = 1 + (int64_t)k * 1000000;
        for (size_t i = 0; i < N; i++) {
            ids[k][i] = id++;
            if (i > 0 && i + 1 < N && rnd() % 50 == 0) {
                int64_t s = 1 + (int64_t)(rnd() % 3);
                id += s;
                skipped += s;
            }
        }
        n[k] = N;
    }
    /* the live feed: each track delivers its truth in order, omitting random runs */
    size_t pos[TRACKS] = {0};
    int64_t last_live[TRACKS];
    for (uint32_t k = 0; k < TRACKS; k++)
        last_live[k] = -1;
    struct {
        struct fh_backfill_request rq;
        bool used;
    } inflight[16];
    memset(inflight, 0, sizeof(inflight));
    int64_t now = T0;
    bool feed_done = false;
    struct ev_count ec = {0, 0, 0};
    for (int step = 0; step < 1000000; step++) {
        now += (int64_t)(rnd() % (50 * 1000 * 1000));
        /* some live trades */
        feed_done = true;
        for (uint32_t k = 0; k < TRACKS; k++) {
            if (pos[k] >= n[k])
                continue;
            feed_done = false;
            if (rnd() % 3 != 0)
                continue;
            size_t i = pos[k];
            bool last_one = i + 1 == n[k];
            if (!last_one && i > 0 && rnd() % 40 == 0) {
                pos[k] += 1 + rnd() % 60; /* omitted from the stream: in history */
                if (pos[k] >= n[k])
                    pos[k] = n[k] - 1;
                i = pos[k];
            }
            int64_t id = ids[k][i];
            pos[k] = i + 1;
            if (last_live[k] >= 0 && id > last_live[k] + 1) {
                struct fh_backfill_gap g = gap_of(k, last_live[k] + 1, id - 1);
                if (fh_backfill_gap(&bf, &g, now) == 0)
                    fail_msg("seed %" PRIu64 ": gap refused, %zu open", seed,
                             fh_backfill_open(&bf));
            }
            last_live[k] = id;
            live(&bf, o, k, id, now);
        }
        /* answer some requests in flight */
        for (size_t r = 0; r < 16; r++) {
            if (!inflight[r].used || rnd() % 2)
                continue;
            inflight[r].used = false;
            const struct fh_backfill_request *rq = &inflight[r].rq;
            uint32_t k = rq->track;
            /* history holds what has traded so far: up to the last id delivered or omitted */
            struct truth t = {ids[k], pos[k]};
            uint64_t x = rnd() % 10;
            struct fh_backfill_answer a;
            struct fh_rest_page p;
            if (x == 0) {
                a = status_answer(rq->job, 429, (int64_t)(rnd() % 3));
            } else if (x == 1) {
                a = status_answer(rq->job, 0, -1);
            } else {
                p = bn_page(&t, rq->req.from_id, rq->req.limit);
                a = ok_answer(rq->job, &p);
            }
            struct fh_backfill_emit e;
            int rc = fh_backfill_on_answer(&bf, &a, now, &e);
            assert_int_equal(rc, 0);
            for (size_t i = e.first; i < e.first + e.n; i++)
                write_id(o, k, p.trades[i].trade_id);
        }
        for (uint32_t k = 0; k < TRACKS; k++)
            drain_held(&bf, o, k);
        take_events(&bf, &ec);
        /* send what may go */
        for (;;) {
            size_t r = 0;
            while (r < 16 && inflight[r].used)
                r++;
            if (r == 16)
                break;
            int64_t wake;
            if (fh_backfill_next_request(&bf, now, &inflight[r].rq, &wake) != FH_BACKFILL_SEND)
                break;
            inflight[r].used = true;
        }
        if (feed_done && fh_backfill_open(&bf) == 0 && fh_backfill_held(&bf) == 0)
            break;
    }
    assert_true(feed_done);
    assert_int_equal(fh_backfill_open(&bf), 0);
    for (uint32_t k = 0; k < TRACKS; k++) {
        if (o->n[k] != n[k])
            fail_msg("seed %" PRIu64 " track %u: %zu written, want %zu", seed, k, o->n[k], n[k]);
        for (size_t i = 0; i < n[k]; i++)
            assert_int_equal(o->ids[k][i], ids[k][i]);
    }
    take_events(&bf, &ec);
    assert_int_equal(bf.st.events_dropped, 0);
    assert_true(ec.detected > 10);
    assert_true(skipped > 0);
    assert_true(bf.st.throttled > 0 && bf.st.failures > 0 && bf.st.held > 0);
    assert_int_equal(ec.detected, ec.finals);
    assert_int_equal(ec.missing, skipped);
    free(o);
    fh_backfill_release(&bf);
}

static void test_random_property(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++)
        run_random(seed * 0x9E3779B97F4A7C15ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_pages_binance_bodies),
        cmocka_unit_test(test_dedupe_against_live),
        cmocka_unit_test(test_skip_absent_after_one_check),
        cmocka_unit_test(test_empty_page_retried_then_absent),
        cmocka_unit_test(test_429_retry_after_never_violated),
        cmocka_unit_test(test_418_ban),
        cmocka_unit_test(test_weight_budget_spreads_requests),
        cmocka_unit_test(test_budget_window),
        cmocka_unit_test(test_kraken_cursor_paging),
        cmocka_unit_test(test_kraken_rewind_and_backoff),
        cmocka_unit_test(test_hold_bound),
        cmocka_unit_test(test_hold_pool_shared_bound),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_bounded_failures),
        cmocka_unit_test(test_many_tracks),
        cmocka_unit_test(test_same_track_queues),
        cmocka_unit_test(test_range_bound),
        cmocka_unit_test(test_stop_ends_open_gaps),
        cmocka_unit_test(test_record_only),
        cmocka_unit_test(test_random_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
