/*
 * test_binance.c - the Binance spot adapter (src/venue/binance.c): stream messages, control
 * replies, builders, REST backfill pages, exchangeInfo, and every Binance / Binance.US line of
 * the recorded corpus.
 *
 * The adapter is used through &fh_venue_binance directly (not fh_venue_find), so this test
 * does not depend on the other protocols being linked.
 */
#include "testutil.h"

#include "core/err.h"
#include "venue/venue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fh_venue_ops *const OPS = &fh_venue_binance;

static struct fh_symbols SYMS;
static struct fh_venue_parser P;   /* millisecond connection */
static struct fh_venue_parser PUS; /* timeUnit=MICROSECOND connection */
static struct fh_venue_msg M;

/* A non-ASCII listing (Binance has symbols such as this one since 2025). */
#define UNI_BASE   "\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9f" /* 币安人生 */
#define UNI_SYMBOL UNI_BASE "USDT"

static char *fixture_path(const char *name)
{
    const char *src = getenv("FH_SOURCE_DIR");
    if (src == NULL)
        fail_msg("FH_SOURCE_DIR is not set");
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/tests/data/%s", src, name);
    return path;
}

static char *read_fixture(const char *name, size_t *len)
{
    char *path = fixture_path(name);
    char *body = fh_test_read_file(path, len);
    free(path);
    return body;
}

static int group_setup(void **state)
{
    (void)state;
    if (fh_symbols_init(&SYMS, 4096) != 0)
        return -1;
    size_t len;
    char *body = read_fixture("binance_exchangeinfo.json", &len);
    char err[256];
    int rc = OPS->parse_metadata(body, len, &SYMS, err, sizeof(err));
    free(body);
    if (rc != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    if (fh_symbols_add(&SYMS, FH_STR_LIT(UNI_SYMBOL), FH_STR_LIT(UNI_BASE), FH_STR_LIT("USDT"),
                       NULL) != 0)
        return -1;
    struct fh_venue_parser_opts us = {.time_us = true};
    if (fh_venue_parser_init(&P, OPS, &SYMS, NULL) != 0 ||
        fh_venue_parser_init(&PUS, OPS, &SYMS, &us) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fh_venue_parser_release(&P);
    fh_venue_parser_release(&PUS);
    fh_symbols_release(&SYMS);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static int parse_on(struct fh_venue_parser *p, const char *s)
{
    return fh_venue_parse(p, s, strlen(s), &M);
}

static void expect_event_on(struct fh_venue_parser *p, const char *s, enum fh_event ev)
{
    int rc = parse_on(p, s);
    if (rc != 0)
        fail_msg("rejected (%s): %s", fh_reject_name(M.reject), s);
    if (M.event != ev)
        fail_msg("event %d, expected %d: %s", (int)M.event, (int)ev, s);
}

static void expect_event(const char *s, enum fh_event ev)
{
    expect_event_on(&P, s, ev);
}

static void expect_reject_on(struct fh_venue_parser *p, const char *s, enum fh_reject r)
{
    int rc = parse_on(p, s);
    if (rc != -1 || M.reject != r)
        fail_msg("rc %d reject %s, expected %s: %s", rc, fh_reject_name(M.reject),
                 fh_reject_name(r), s);
    assert_int_equal(M.n_trades, 0);
    assert_int_equal(M.event, FH_EV_NONE);
}

static void expect_reject(const char *s, enum fh_reject r)
{
    expect_reject_on(&P, s, r);
}

static void assert_dec(fh_decimal d, const char *text)
{
    char buf[FH_DECIMAL_TEXT_MAX + 1];
    fh_decimal_format(d, buf);
    assert_string_equal(buf, text);
}

static void assert_str(struct fh_str s, const char *text)
{
    if (!fh_str_eq_c(s, text))
        fail_msg("got \"%.*s\", expected \"%s\"", (int)s.n, s.p ? s.p : "", text);
}

/* A JSON object from key/raw-value pairs, leaving out `drop` and giving `key` the raw value
 * `val` (both may be NULL). */
struct kv {
    const char *k;
    const char *v;
};

static void build_obj(char *buf, size_t cap, const struct kv *kv, size_t n, const char *drop,
                      const char *key, const char *val)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "{");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (drop != NULL && strcmp(kv[i].k, drop) == 0)
            continue;
        const char *v = (key != NULL && strcmp(kv[i].k, key) == 0) ? val : kv[i].v;
        o += (size_t)snprintf(buf + o, cap - o, "%s\"%s\":%s", first ? "" : ",", kv[i].k, v);
        first = false;
    }
    snprintf(buf + o, cap - o, "}");
    assert_true(o + 1 < cap);
}

static const struct kv TRADE[] = {
    {"e", "\"trade\""},     {"E", "1672515782136"}, {"s", "\"BTCUSDT\""},
    {"t", "12345"},         {"p", "\"0.001\""},     {"q", "\"100\""},
    {"T", "1672515782135"}, {"m", "true"},          {"M", "true"},
};

static const struct kv AGG[] = {
    {"e", "\"aggTrade\""},   {"E", "1633998523963"},   {"s", "\"NKNUSDT\""}, {"a", "15683430"},
    {"p", "\"0.35280000\""}, {"q", "\"58.00000000\""}, {"f", "19862790"},    {"l", "19862792"},
    {"T", "1633998523962"},  {"m", "false"},           {"M", "true"},
};

#define NKV(a) (sizeof(a) / sizeof((a)[0]))

/* The valid trade with one change. */
static void trade_msg(char *buf, size_t cap, const char *drop, const char *key, const char *val)
{
    build_obj(buf, cap, TRADE, NKV(TRADE), drop, key, val);
}

static void agg_msg(char *buf, size_t cap, const char *drop, const char *key, const char *val)
{
    build_obj(buf, cap, AGG, NKV(AGG), drop, key, val);
}

/* ---- trade and aggTrade ------------------------------------------------------------------ */

static void test_trade_raw(void **state)
{
    (void)state;
    char buf[512];
    trade_msg(buf, sizeof(buf), NULL, NULL, NULL);
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.n_trades, 1);
    const struct fh_trade *t = &M.trades[0];
    assert_str(t->venue, "binance");
    assert_str(t->symbol, "BTC-USDT");
    assert_str(t->native_symbol, "BTCUSDT");
    assert_int_equal(t->kind, FH_KIND_TRADE);
    assert_int_equal(t->trade_id, 12345);
    assert_int_equal(t->has, FH_HAS_TRADE_ID | FH_HAS_EVENT_TIME | FH_HAS_SYMBOL_INDEX);
    /* The parser says where the symbol is in its table: the engine does not look again. */
    assert_true(t->symbol_index < SYMS.n);
    assert_ptr_equal(&SYMS.items[t->symbol_index], fh_symbols_find(&SYMS, t->native_symbol));
    assert_dec(t->price, "0.001");
    assert_dec(t->quantity, "100");
    assert_int_equal(t->side, FH_SIDE_SELL); /* m true: buyer was maker, taker sold */
    assert_int_equal(t->order_type, FH_ORDER_UNKNOWN);
    assert_int_equal(t->trade_time_us, 1672515782135000);
    assert_int_equal(t->event_time_us, 1672515782136000);
    assert_int_equal(t->source, FH_SOURCE_LIVE);
    assert_int_equal(t->receive_time_ns, 0);
    assert_int_equal(t->connection_id, 0);
    assert_int_equal(t->sequence, 0);
    assert_int_equal(M.channel.n, 0);

    trade_msg(buf, sizeof(buf), NULL, "m", "false");
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].side, FH_SIDE_BUY);
}

/* The verbatim combined trade of the corpus (binance_combined_trade.ndjson line 1), with the
 * b/a order ids Binance removed in 2024: they are ignored. */
static void test_trade_combined_corpus_line(void **state)
{
    (void)state;
    expect_event("{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1592591955766,"
                 "\"s\":\"BTCUSDT\",\"t\":343719861,\"p\":\"9302.00000000\",\"q\":\"0.00101900\","
                 "\"b\":2517144287,\"a\":2517144235,\"T\":1592591955765,\"m\":false,\"M\":true}}",
                 FH_EV_TRADES);
    const struct fh_trade *t = &M.trades[0];
    assert_str(M.channel, "btcusdt@trade");
    assert_str(t->symbol, "BTC-USDT");
    assert_str(t->native_symbol, "BTCUSDT");
    assert_int_equal(t->trade_id, 343719861);
    assert_int_equal(t->kind, FH_KIND_TRADE);
    assert_dec(t->price, "9302");
    assert_dec(t->quantity, "0.001019");
    assert_int_equal(t->trade_time_us, 1592591955765000);
    assert_int_equal(t->event_time_us, 1592591955766000);
    assert_int_equal(t->side, FH_SIDE_BUY);
}

static void test_agg_trade(void **state)
{
    (void)state;
    char buf[512];
    agg_msg(buf, sizeof(buf), NULL, NULL, NULL);
    expect_event(buf, FH_EV_TRADES);
    const struct fh_trade *t = &M.trades[0];
    assert_int_equal(t->kind, FH_KIND_AGG_TRADE);
    assert_int_equal(t->trade_id, 15683430);
    assert_int_equal(t->first_trade_id, 19862790);
    assert_int_equal(t->last_trade_id, 19862792);
    assert_int_equal(t->has, FH_HAS_TRADE_ID | FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID |
                                 FH_HAS_SYMBOL_INDEX | FH_HAS_EVENT_TIME);
    assert_str(t->symbol, "NKN-USDT");
    assert_dec(t->price, "0.3528");
    assert_dec(t->quantity, "58");
    assert_int_equal(t->side, FH_SIDE_BUY);
    assert_int_equal(t->order_type, FH_ORDER_UNKNOWN);
    assert_int_equal(t->trade_time_us, 1633998523962000);
    assert_int_equal(t->event_time_us, 1633998523963000);

    /* Combined, verbatim from binance_combined_aggtrade.ndjson line 2459 (DENTUSDT, an
     * aggregate of 28 fills). */
    expect_event("{\"stream\":\"dentusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":"
                 "1617647655674,\"s\":\"DENTUSDT\",\"a\":12692695,\"p\":\"0.02100000\",\"q\":"
                 "\"1010080.00000000\",\"f\":16197279,\"l\":16197306,\"T\":1617647655672,\"m\":"
                 "false,\"M\":true}}",
                 FH_EV_TRADES);
    t = &M.trades[0];
    assert_str(M.channel, "dentusdt@aggTrade");
    assert_str(t->symbol, "DENT-USDT");
    assert_int_equal(t->trade_id, 12692695);
    assert_int_equal(t->last_trade_id - t->first_trade_id + 1, 28);
    assert_dec(t->price, "0.021");
    assert_dec(t->quantity, "1010080");
    assert_int_equal(t->trade_time_us, 1617647655672000);
    assert_int_equal(t->event_time_us, 1617647655674000);
    assert_int_equal(t->side, FH_SIDE_BUY);
}

static void test_microsecond_times(void **state)
{
    (void)state;
    char buf[512];
    trade_msg(buf, sizeof(buf), "E", "T", "1672515782136123");
    /* Drop E then add it back in µs. */
    size_t n = strlen(buf);
    snprintf(buf + n - 1, sizeof(buf) - n + 1, ",\"E\":1672515782136456}");
    expect_event_on(&PUS, buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_time_us, 1672515782136123);
    assert_int_equal(M.trades[0].event_time_us, 1672515782136456);
    /* The same text on a millisecond connection overflows nothing but is 1000x larger. */
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_time_us, 1672515782136123000);
    /* INT64_MAX is a valid µs time and too large a ms time. */
    trade_msg(buf, sizeof(buf), NULL, "T", "9223372036854775807");
    expect_event_on(&PUS, buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_time_us, INT64_MAX);
    expect_reject(buf, FH_REJ_BAD_TIME);
}

static void test_time_edges(void **state)
{
    (void)state;
    char buf[512];
    /* The largest millisecond value that scales without overflow, and the next one. */
    trade_msg(buf, sizeof(buf), NULL, "T", "9223372036854775");
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_time_us, 9223372036854775000);
    trade_msg(buf, sizeof(buf), NULL, "T", "9223372036854776");
    expect_reject(buf, FH_REJ_BAD_TIME);
    trade_msg(buf, sizeof(buf), NULL, "E", "9223372036854776");
    expect_reject(buf, FH_REJ_BAD_TIME);
    trade_msg(buf, sizeof(buf), NULL, "T", "0");
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_time_us, 0);

    static const struct {
        const char *v;
        enum fh_reject r;
    } bad[] = {
        {"-1", FH_REJ_BAD_TIME},
        {"1.5", FH_REJ_BAD_TIME},
        {"1.672515782136e12", FH_REJ_BAD_TIME},
        {"1672515782136.0", FH_REJ_BAD_TIME},
        {"99999999999999999999999", FH_REJ_BAD_TIME},
        {"\"1672515782136\"", FH_REJ_BAD_FIELD},
        {"null", FH_REJ_BAD_FIELD},
        {"true", FH_REJ_BAD_FIELD},
        {"[]", FH_REJ_BAD_FIELD},
    };
    for (size_t i = 0; i < NKV(bad); i++) {
        trade_msg(buf, sizeof(buf), NULL, "T", bad[i].v);
        expect_reject(buf, bad[i].r);
        expect_reject_on(&PUS, buf, bad[i].r);
        trade_msg(buf, sizeof(buf), NULL, "E", bad[i].v);
        expect_reject(buf, bad[i].r);
    }
}

static void test_missing_fields(void **state)
{
    (void)state;
    char buf[512];
    static const char *const trade_req[] = {"E", "s", "t", "p", "q", "T", "m"};
    for (size_t i = 0; i < NKV(trade_req); i++) {
        trade_msg(buf, sizeof(buf), trade_req[i], NULL, NULL);
        expect_reject(buf, FH_REJ_MISSING_FIELD);
    }
    static const char *const agg_req[] = {"E", "s", "a", "p", "q", "f", "l", "T", "m"};
    for (size_t i = 0; i < NKV(agg_req); i++) {
        agg_msg(buf, sizeof(buf), agg_req[i], NULL, NULL);
        expect_reject(buf, FH_REJ_MISSING_FIELD);
    }
    /* M is documented as "ignore": it may go. */
    trade_msg(buf, sizeof(buf), "M", NULL, NULL);
    expect_event(buf, FH_EV_TRADES);
    agg_msg(buf, sizeof(buf), "M", NULL, NULL);
    expect_event(buf, FH_EV_TRADES);
    /* Without "e" a trade-looking object is no known message. */
    trade_msg(buf, sizeof(buf), "e", NULL, NULL);
    expect_reject(buf, FH_REJ_UNKNOWN_MESSAGE);
}

struct bad_value {
    const char *key;
    const char *val;
    enum fh_reject r;
};

static void test_bad_values(void **state)
{
    (void)state;
    static const struct bad_value bad[] = {
        {"e", "1", FH_REJ_BAD_FIELD},
        {"e", "null", FH_REJ_BAD_FIELD},
        {"e", "\"Trade\"", FH_REJ_UNKNOWN_MESSAGE},
        {"e", "\"tradeX\"", FH_REJ_UNKNOWN_MESSAGE},
        {"s", "1", FH_REJ_BAD_FIELD},
        {"s", "null", FH_REJ_BAD_FIELD},
        {"s", "[\"BTCUSDT\"]", FH_REJ_BAD_FIELD},
        {"s", "\"btcusdt\"", FH_REJ_UNKNOWN_SYMBOL},
        {"s", "\"NOPEUSDT\"", FH_REJ_UNKNOWN_SYMBOL},
        {"s", "\"\"", FH_REJ_UNKNOWN_SYMBOL},
        {"t", "\"12345\"", FH_REJ_BAD_FIELD},
        {"t", "-1", FH_REJ_BAD_FIELD},
        {"t", "1.0", FH_REJ_BAD_FIELD},
        {"t", "1e3", FH_REJ_BAD_FIELD},
        {"t", "9223372036854775808", FH_REJ_BAD_FIELD},
        {"t", "null", FH_REJ_BAD_FIELD},
        {"p", "0.001", FH_REJ_BAD_FIELD}, /* a number token: Binance sends strings */
        {"p", "1e-3", FH_REJ_BAD_FIELD},
        {"p", "null", FH_REJ_BAD_FIELD},
        {"p", "\"0\"", FH_REJ_BAD_PRICE},
        {"p", "\"0.00000000\"", FH_REJ_BAD_PRICE},
        {"p", "\"-1.5\"", FH_REJ_BAD_PRICE},
        {"p", "\"+1.5\"", FH_REJ_BAD_PRICE},
        {"p", "\"1e-3\"", FH_REJ_BAD_PRICE},
        {"p", "\"1.5E2\"", FH_REJ_BAD_PRICE},
        {"p", "\"\"", FH_REJ_BAD_PRICE},
        {"p", "\" 1\"", FH_REJ_BAD_PRICE},
        {"p", "\"1.\"", FH_REJ_BAD_PRICE},
        {"p", "\"NaN\"", FH_REJ_BAD_PRICE},
        {"p", "\"0.0000000000000000001\"", FH_REJ_BAD_PRICE}, /* 19 decimals */
        {"p", "\"100000000000000000000\"", FH_REJ_BAD_PRICE}, /* 10^20 */
        {"p", "\"1\\u0030\"", FH_REJ_BAD_PRICE},              /* an escape in a number */
        {"q", "100", FH_REJ_BAD_FIELD},
        {"q", "\"0\"", FH_REJ_BAD_QUANTITY},
        {"q", "\"-0.5\"", FH_REJ_BAD_QUANTITY},
        {"q", "\"1e2\"", FH_REJ_BAD_QUANTITY},
        {"q", "\"0.0000000000000000001\"", FH_REJ_BAD_QUANTITY},
        {"q", "\"abc\"", FH_REJ_BAD_QUANTITY},
        {"m", "\"true\"", FH_REJ_BAD_FIELD},
        {"m", "1", FH_REJ_BAD_FIELD},
        {"m", "null", FH_REJ_BAD_FIELD},
    };
    char buf[512];
    for (size_t i = 0; i < NKV(bad); i++) {
        trade_msg(buf, sizeof(buf), NULL, bad[i].key, bad[i].val);
        expect_reject(buf, bad[i].r);
    }
    static const struct bad_value agg_bad[] = {
        {"a", "-5", FH_REJ_BAD_FIELD},
        {"a", "\"1\"", FH_REJ_BAD_FIELD},
        {"f", "1.5", FH_REJ_BAD_FIELD},
        {"l", "null", FH_REJ_BAD_FIELD},
        {"f", "19862793", FH_REJ_BAD_FIELD},      /* f > l */
        {"e", "\"trade\"", FH_REJ_MISSING_FIELD}, /* a trade without t */
    };
    for (size_t i = 0; i < NKV(agg_bad); i++) {
        agg_msg(buf, sizeof(buf), NULL, agg_bad[i].key, agg_bad[i].val);
        expect_reject(buf, agg_bad[i].r);
    }
    agg_msg(buf, sizeof(buf), NULL, "f", "19862792"); /* f == l: one fill */
    expect_event(buf, FH_EV_TRADES);
}

static void test_extreme_values(void **state)
{
    (void)state;
    char buf[512];
    /* Ids up to INT64_MAX. */
    trade_msg(buf, sizeof(buf), NULL, "t", "9223372036854775807");
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_id, INT64_MAX);
    trade_msg(buf, sizeof(buf), NULL, "t", "0");
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_id, 0);
    agg_msg(buf, sizeof(buf), NULL, "l", "9223372036854775807");
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].last_trade_id, INT64_MAX);
    /* 18 decimals exactly; 20 integer digits do not fit decimal(38,18). */
    trade_msg(buf, sizeof(buf), NULL, "q", "\"0.000000000000000001\"");
    expect_event(buf, FH_EV_TRADES);
    assert_true(M.trades[0].quantity.units == 1);
    trade_msg(buf, sizeof(buf), NULL, "q", "\"99999999999999999999.999999999999999999\"");
    expect_event(buf, FH_EV_TRADES);
    assert_dec(M.trades[0].quantity, "99999999999999999999.999999999999999999");
    trade_msg(buf, sizeof(buf), NULL, "p", "\"00012.50000000000000000000000\"");
    expect_event(buf, FH_EV_TRADES);
    assert_dec(M.trades[0].price, "12.5");
}

/* Integer ids of every length, through the eight-digits-at-a-time reader. */
static void test_integer_lengths(void **state)
{
    (void)state;
    char buf[512], num[32];
    const char *const digits = "9876543210123456789";
    for (size_t n = 1; n <= 19; n++) {
        memcpy(num, digits, n);
        num[n] = '\0';
        trade_msg(buf, sizeof(buf), NULL, "t", num);
        if (n == 19) {
            expect_reject(buf, FH_REJ_BAD_FIELD); /* 9876543210123456789 > INT64_MAX */
            continue;
        }
        expect_event(buf, FH_EV_TRADES);
        assert_int_equal(M.trades[0].trade_id, strtoll(num, NULL, 10));
    }
    static const char *const bad[] = {
        "12345678.0", "1234567.5",   "12345678e1",           "1234567812345678E0",
        "1e100",      "100000000.1", "99999999999999999999", "9223372036854775808",
    };
    for (size_t i = 0; i < NKV(bad); i++) {
        trade_msg(buf, sizeof(buf), NULL, "t", bad[i]);
        expect_reject(buf, FH_REJ_BAD_FIELD);
        trade_msg(buf, sizeof(buf), NULL, "T", bad[i]);
        expect_reject(buf, FH_REJ_BAD_TIME);
    }
    trade_msg(buf, sizeof(buf), NULL, "t", "1000000000000000000");
    expect_event(buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_id, 1000000000000000000);
    trade_msg(buf, sizeof(buf), NULL, "T", "1234567812345678");
    expect_event_on(&PUS, buf, FH_EV_TRADES);
    assert_int_equal(M.trades[0].trade_time_us, 1234567812345678);
}

static void test_unknown_and_escaped_keys(void **state)
{
    (void)state;
    /* New keys, nested values and the removed b/a are skipped; keys written with escapes are
     * the same keys. */
    expect_event("{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":7,\"x\":{\"p\":\"9\",\"m\":"
                 "[1,{\"q\":2}]},\"\\u0070\":\"2.5\",\"q\":\"1\",\"b\":88,\"a\":50,\"T\":2,"
                 "\"m\":false,\"M\":true,\"zz\":null}",
                 FH_EV_TRADES);
    assert_dec(M.trades[0].price, "2.5");
    assert_int_equal(M.trades[0].trade_id, 7);
    assert_int_equal(M.trades[0].trade_time_us, 2000);
    /* An escaped event name and symbol decode; native_symbol is the decoded text. */
    expect_event("{\"e\":\"\\u0074rade\",\"E\":1,\"s\":\"BTC\\u0055SDT\",\"t\":7,\"p\":\"1\","
                 "\"q\":\"1\",\"T\":2,\"m\":true}",
                 FH_EV_TRADES);
    assert_str(M.trades[0].native_symbol, "BTCUSDT");
    assert_str(M.trades[0].symbol, "BTC-USDT");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    char buf[512];
    trade_msg(buf, sizeof(buf), NULL, NULL, NULL);
    size_t n = strlen(buf);
    snprintf(buf + n - 1, sizeof(buf) - n + 1, ",\"p\":\"2\"}");
    expect_reject(buf, FH_REJ_BAD_FIELD);
    /* Also when the duplicate is spelled with an escape. */
    trade_msg(buf, sizeof(buf), NULL, NULL, NULL);
    snprintf(buf + n - 1, sizeof(buf) - n + 1, ",\"\\u0071\":\"2\"}");
    expect_reject(buf, FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"a@trade\",\"stream\":\"b@trade\",\"data\":{}}", FH_REJ_BAD_FIELD);
    expect_reject("{\"result\":null,\"id\":1,\"id\":2}", FH_REJ_BAD_FIELD);
    /* Duplicates of keys we never read are harmless. */
    trade_msg(buf, sizeof(buf), NULL, NULL, NULL);
    snprintf(buf + n - 1, sizeof(buf) - n + 1, ",\"M\":false,\"X\":1,\"X\":2}");
    expect_event(buf, FH_EV_TRADES);
}

static void test_unicode_symbol(void **state)
{
    (void)state;
    /* Raw UTF-8 in "s" and in the stream name. */
    expect_event("{\"stream\":\"" UNI_BASE "usdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1,"
                 "\"s\":\"" UNI_SYMBOL "\",\"t\":1,\"p\":\"0.1\",\"q\":\"3\",\"T\":1,\"m\":true}}",
                 FH_EV_TRADES);
    assert_str(M.trades[0].symbol, UNI_BASE "-USDT");
    assert_str(M.trades[0].native_symbol, UNI_SYMBOL);
    /* The same symbol as \u escapes (U+5E01 U+5B89 U+4EBA U+751F). */
    expect_event("{\"e\":\"trade\",\"E\":1,\"s\":\"\\u5e01\\u5B89\\u4eba\\u751fUSDT\",\"t\":1,"
                 "\"p\":\"0.1\",\"q\":\"3\",\"T\":1,\"m\":true}",
                 FH_EV_TRADES);
    assert_str(M.trades[0].native_symbol, UNI_SYMBOL);
    assert_str(M.trades[0].symbol, UNI_BASE "-USDT");
    /* Invalid UTF-8 never reaches the adapter. */
    expect_reject("{\"e\":\"trade\",\"E\":1,\"s\":\"\xe5\xb8USDT\",\"t\":1,\"p\":\"0.1\","
                  "\"q\":\"3\",\"T\":1,\"m\":true}",
                  FH_REJ_UTF8);
}

static void test_no_symbol_table(void **state)
{
    (void)state;
    struct fh_venue_parser bare;
    assert_int_equal(fh_venue_parser_init(&bare, OPS, NULL, NULL), 0);
    char buf[512];
    trade_msg(buf, sizeof(buf), NULL, NULL, NULL);
    expect_reject_on(&bare, buf, FH_REJ_UNKNOWN_SYMBOL);
    expect_event_on(&bare, "{\"result\":null,\"id\":1}", FH_EV_RESULT);
    fh_venue_parser_release(&bare);
}

/* ---- combined envelope ------------------------------------------------------------------ */

static void test_combined_consistency(void **state)
{
    (void)state;
    char data[512], buf[700];
    trade_msg(data, sizeof(data), NULL, NULL, NULL);
    static const struct {
        const char *stream;
        int ok; /* 1: accepted, else the reject reason */
    } cases[] = {
        {"btcusdt@trade", 1},
        {"BTCUSDT@trade", 1}, /* ASCII case is folded */
        {"btcusdt@aggTrade", FH_REJ_BAD_FIELD},
        {"ethusdt@trade", FH_REJ_BAD_FIELD},
        {"btcusd@trade", FH_REJ_BAD_FIELD},
        {"btcusdtx@trade", FH_REJ_BAD_FIELD},
        {"btcusdt@trade@100ms", FH_REJ_BAD_FIELD},
        {"btcusdt@depth", FH_REJ_BAD_FIELD},
        {"btcusdt", FH_REJ_BAD_FIELD},
        {"", FH_REJ_BAD_FIELD},
        {"btcusdt@Trade", FH_REJ_BAD_FIELD},
        {"btcusdt\\u0040trade", 1}, /* the stream name with an escaped '@' */
    };
    for (size_t i = 0; i < NKV(cases); i++) {
        snprintf(buf, sizeof(buf), "{\"stream\":\"%s\",\"data\":%s}", cases[i].stream, data);
        if (cases[i].ok == 1) {
            expect_event(buf, FH_EV_TRADES);
            assert_str(M.channel, cases[i].stream);
        } else {
            expect_reject(buf, (enum fh_reject)cases[i].ok);
        }
    }
    /* Trade streams must carry their trade event. */
    expect_reject("{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"depthUpdate\",\"E\":1}}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"mystery\"}}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"btcusdt@trade\",\"data\":[]}", FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"btcusdt@trade\",\"data\":{\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\","
                  "\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"btcusdt@trade\",\"data\":{\"x\":1}}", FH_REJ_MISSING_FIELD);
    /* Envelope shape. */
    expect_reject("{\"stream\":\"btcusdt@trade\"}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"stream\":1,\"data\":{}}", FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"btcusdt@depth\",\"data\":5}", FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"btcusdt@depth\",\"data\":\"x\"}", FH_REJ_BAD_FIELD);
    expect_reject("{\"stream\":\"btcusdt@depth\",\"data\":{\"x\":1}}", FH_REJ_UNKNOWN_MESSAGE);
    /* Key order does not matter, extra envelope keys are ignored. */
    snprintf(buf, sizeof(buf), "{\"data\":%s,\"extra\":[1],\"stream\":\"btcusdt@trade\"}", data);
    expect_event(buf, FH_EV_TRADES);
}

/* ---- control replies and serverShutdown ------------------------------------------------- */

static void test_results(void **state)
{
    (void)state;
    expect_event("{\"result\":null,\"id\":1}", FH_EV_RESULT);
    assert_true(M.has_req_id);
    assert_int_equal(M.req_id, 1);
    assert_str(M.text, "null");
    expect_event("{\"result\":[\"btcusdt@aggTrade\",\"btcusdt@depth\"],\"id\":3}", FH_EV_RESULT);
    assert_int_equal(M.req_id, 3);
    assert_str(M.text, "[\"btcusdt@aggTrade\",\"btcusdt@depth\"]");
    expect_event("{\"result\":true,\"id\":2}", FH_EV_RESULT);
    assert_str(M.text, "true");
    expect_event("{\"id\":-9223372036854775808,\"result\":null}", FH_EV_RESULT);
    assert_true(M.has_req_id);
    assert_int_equal(M.req_id, INT64_MIN);
    expect_event("{\"result\":null,\"id\":9223372036854775807}", FH_EV_RESULT);
    assert_int_equal(M.req_id, INT64_MAX);
    /* String ids (up to 36 characters) and null: no numeric id. */
    expect_event("{\"result\":null,\"id\":\"f3d2b8c4-6a1e-4c1b-9f6e-2a7d5e8c9b10\"}", FH_EV_RESULT);
    assert_false(M.has_req_id);
    expect_event("{\"result\":null,\"id\":null}", FH_EV_RESULT);
    assert_false(M.has_req_id);
    expect_reject("{\"result\":null}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"result\":null,\"id\":1.5}", FH_REJ_BAD_FIELD);
    expect_reject("{\"result\":null,\"id\":18446744073709551615}", FH_REJ_BAD_FIELD);
    expect_reject("{\"result\":null,\"id\":true}", FH_REJ_BAD_FIELD);
    expect_reject("{\"result\":null,\"id\":{}}", FH_REJ_BAD_FIELD);
    expect_reject("{\"result\":null,\"error\":{\"code\":1,\"msg\":\"x\"},\"id\":1}",
                  FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("{\"id\":1}", FH_REJ_UNKNOWN_MESSAGE);
}

static void test_errors(void **state)
{
    (void)state;
    expect_event("{\"error\":{\"code\":2,\"msg\":\"Invalid request: invalid stream\"},\"id\":3}",
                 FH_EV_REQUEST_ERROR);
    assert_true(M.has_req_id);
    assert_int_equal(M.req_id, 3);
    assert_str(M.text, "Invalid request: invalid stream");
    assert_int_equal(M.channel.n, 0);
    expect_event("{\"error\":{\"code\":2,\"msg\":\"Invalid request\"},\"id\":null}",
                 FH_EV_REQUEST_ERROR);
    assert_false(M.has_req_id);
    expect_event("{\"error\":{\"code\":2,\"msg\":\"Invalid request: ...\",\"data\":"
                 "\"000usdt@trade\"},\"id\":1}",
                 FH_EV_REQUEST_ERROR);
    assert_int_equal(M.req_id, 1);
    assert_str(M.channel, "000usdt@trade");
    /* Flat form as documented; the id may be missing. */
    expect_event("{\"code\":0,\"msg\":\"Unknown property\",\"id\":5}", FH_EV_REQUEST_ERROR);
    assert_int_equal(M.req_id, 5);
    assert_str(M.text, "Unknown property");
    expect_event("{\"code\":3,\"msg\":\"Invalid JSON: expected value at line 1 column 1\"}",
                 FH_EV_REQUEST_ERROR);
    assert_false(M.has_req_id);
    expect_event("{\"code\":2,\"msg\":\"Invalid request: request ID must be an unsigned "
                 "integer\",\"id\":\"abc\"}",
                 FH_EV_REQUEST_ERROR);
    assert_false(M.has_req_id);
    /* Escaped text stays raw. */
    expect_event("{\"error\":{\"code\":2,\"msg\":\"unknown variant \\\"X\\\"\"},\"id\":7}",
                 FH_EV_REQUEST_ERROR);
    assert_str(M.text, "unknown variant \\\"X\\\"");
    /* Malformed errors. */
    expect_reject("{\"error\":{\"code\":2},\"id\":1}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"error\":{\"msg\":\"x\"},\"id\":1}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"error\":{\"code\":\"2\",\"msg\":\"x\"},\"id\":1}", FH_REJ_BAD_FIELD);
    expect_reject("{\"error\":{\"code\":2,\"msg\":5},\"id\":1}", FH_REJ_BAD_FIELD);
    expect_reject("{\"error\":\"boom\",\"id\":1}", FH_REJ_BAD_FIELD);
    expect_reject("{\"error\":{\"code\":2,\"msg\":\"x\"},\"id\":[1]}", FH_REJ_BAD_FIELD);
    expect_reject("{\"code\":2.5,\"msg\":\"x\"}", FH_REJ_BAD_FIELD);
    expect_reject("{\"code\":2}", FH_REJ_UNKNOWN_MESSAGE);
}

static void test_server_shutdown(void **state)
{
    (void)state;
    expect_event("{\"e\":\"serverShutdown\",\"E\":1770123456789}", FH_EV_SERVER_SHUTDOWN);
    expect_event("{\"stream\":\"!serverShutdown\",\"data\":{\"e\":\"serverShutdown\",\"E\":"
                 "1770123456789}}",
                 FH_EV_SERVER_SHUTDOWN);
    assert_str(M.channel, "!serverShutdown");
    expect_event_on(&PUS, "{\"e\":\"serverShutdown\",\"E\":1770123456789000}",
                    FH_EV_SERVER_SHUTDOWN);
    /* On a trade stream it is an inconsistency like any other. */
    expect_reject("{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"serverShutdown\"}}",
                  FH_REJ_BAD_FIELD);
}

/* ---- ignored streams -------------------------------------------------------------------- */

static void test_ignored_streams(void **state)
{
    (void)state;
    static const char *const ignored[] = {
        /* Raw forms. */
        ("{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BNBBTC\",\"U\":157,\"u\":160,\"b\":[[\"0.0024\","
         "\"10\"]],\"a\":[]}"),
        "{\"lastUpdateId\":160,\"bids\":[[\"0.0024\",\"10\"]],\"asks\":[[\"0.0026\",\"100\"]]}",
        ("{\"u\":400900217,\"s\":\"BNBUSDT\",\"b\":\"25.35190000\",\"B\":\"31.21000000\",\"a\":"
         "\"25.36520000\",\"A\":\"40.66000000\"}"),
        "{\"e\":\"kline\",\"E\":1,\"s\":\"BNBBTC\",\"k\":{\"t\":1,\"T\":2,\"x\":false}}",
        "{\"e\":\"24hrTicker\",\"E\":1,\"s\":\"BNBBTC\",\"p\":\"-65.0\"}",
        "{\"e\":\"24hrMiniTicker\",\"E\":1,\"s\":\"BNBBTC\",\"c\":\"0.0025\"}",
        "{\"e\":\"1hTicker\",\"E\":1,\"s\":\"BNBBTC\"}",
        "{\"e\":\"4hTicker\",\"E\":1,\"s\":\"BNBBTC\"}",
        "{\"e\":\"1dTicker\",\"E\":1,\"s\":\"BNBBTC\"}",
        ("{\"e\":\"avgPrice\",\"E\":1693907033000,\"s\":\"BTCUSDT\",\"i\":\"5m\",\"w\":\"25776."
         "86\","
         "\"T\":1693907032213}"),
        "{\"e\":\"blockTrade\",\"E\":1,\"s\":\"BTCUSDT\"}",
        ("[{\"e\":\"24hrMiniTicker\",\"E\":1,\"s\":\"ETHBTC\"},{\"e\":\"24hrMiniTicker\",\"E\":2,"
         "\"s\":\"BTCUSDT\"}]"),
        "[{\"e\":\"1hTicker\",\"s\":\"ETHBTC\"}]",
        "[]",
        /* Combined forms. */
        ("{\"stream\":\"btcusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"s\":"
         "\"BTCUSDT\",\"U\":1,\"u\":2,\"b\":[],\"a\":[]}}"),
        ("{\"stream\":\"btcusdt@depth5@100ms\",\"data\":{\"lastUpdateId\":1,\"bids\":[],\"asks\":"
         "[]}}"),
        ("{\"stream\":\"ethusdt@bookTicker\",\"data\":{\"u\":12711621188,\"s\":\"ETHUSDT\",\"b\":"
         "\"4507.24000000\",\"B\":\"2.35950000\",\"a\":\"4507.25000000\",\"A\":\"2.84570000\"}}"),
        "{\"stream\":\"!miniTicker@arr\",\"data\":[{\"e\":\"24hrMiniTicker\",\"s\":\"A\"}]}",
        "{\"stream\":\"btcusdt@avgPrice\",\"data\":{\"e\":\"avgPrice\",\"E\":1}}",
        /* A stream name that does not match its (ignored) payload is not cross-checked. */
        "{\"stream\":\"btcusdt@kline_1m\",\"data\":{\"e\":\"24hrTicker\"}}",
    };
    for (size_t i = 0; i < NKV(ignored); i++) {
        expect_event(ignored[i], FH_EV_IGNORED);
        assert_int_equal(M.n_trades, 0);
    }
}

static void test_unknown_messages(void **state)
{
    (void)state;
    static const char *const unknown[] = {
        "{}",
        "{\"foo\":1}",
        "{\"e\":\"mystery\",\"E\":1}",
        "{\"e\":\"executionReport\"}",
        "[1,2]",
        ("[{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,"
         "\"m\":"
         "true}]"),
        "[{\"s\":\"BTCUSDT\"}]",
        "[{\"e\":\"24hrMiniTicker\"},5]",
        "{\"lastUpdateId\":1,\"bids\":[]}",
        "{\"u\":1,\"s\":\"X\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\"}",
        "{\"e\":\"0123456789012345678901234567890123456789\"}",
        "{\"e\":\"\\u0030123456789012345678901234567890123456789\"}",
        "{\"data\":{\"e\":\"trade\"}}",
    };
    for (size_t i = 0; i < NKV(unknown); i++)
        expect_reject(unknown[i], FH_REJ_UNKNOWN_MESSAGE);
}

/* ---- framing limits ----------------------------------------------------------------------- */

static void test_truncated_and_limits(void **state)
{
    (void)state;
    char buf[512];
    agg_msg(buf, sizeof(buf), NULL, NULL, NULL);
    size_t n = strlen(buf);
    /* Every strict prefix is rejected, as malformed JSON. */
    for (size_t k = 0; k < n; k++) {
        int rc = fh_venue_parse(&P, buf, k, &M);
        assert_int_equal(rc, -1);
        assert_int_equal(M.reject, FH_REJ_JSON);
    }
    /* Trailing garbage, a second document. */
    snprintf(buf + n, sizeof(buf) - n, "x");
    expect_reject(buf, FH_REJ_JSON);
    snprintf(buf + n, sizeof(buf) - n, "{}");
    expect_reject(buf, FH_REJ_JSON);
    buf[n] = '\0';

    struct fh_venue_parser small;
    struct fh_venue_parser_opts o = {.max_message_bytes = n - 1};
    assert_int_equal(fh_venue_parser_init(&small, OPS, &SYMS, &o), 0);
    expect_reject_on(&small, buf, FH_REJ_OVERSIZE);
    fh_venue_parser_release(&small);
    o = (struct fh_venue_parser_opts){.max_message_bytes = n};
    assert_int_equal(fh_venue_parser_init(&small, OPS, &SYMS, &o), 0);
    expect_event_on(&small, buf, FH_EV_TRADES);
    fh_venue_parser_release(&small);

    o = (struct fh_venue_parser_opts){.max_tokens = 8};
    assert_int_equal(fh_venue_parser_init(&small, OPS, &SYMS, &o), 0);
    expect_reject_on(&small, buf, FH_REJ_TOO_MANY_TOKENS);
    expect_event_on(&small, "{\"result\":null,\"id\":1}", FH_EV_RESULT);
    fh_venue_parser_release(&small);

    /* A long string "s" with escapes does not fit the scratch buffer: bad field, no overrun. */
    char big[8192];
    size_t o2 = (size_t)snprintf(big, sizeof(big), "{\"e\":\"trade\",\"E\":1,\"s\":\"");
    for (int i = 0; i < 600; i++)
        o2 += (size_t)snprintf(big + o2, sizeof(big) - o2, "\\u0041");
    snprintf(big + o2, sizeof(big) - o2, "\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}");
    expect_reject(big, FH_REJ_BAD_FIELD);
}

/* ---- corpus ------------------------------------------------------------------------------- */

struct corpus_stats {
    const char *file;
    size_t line;
    size_t lines;
    size_t trades, aggs, ignored, results, errors, shutdowns;
    size_t exp_trades, exp_aggs, exp_results, exp_arrays;
    size_t raw_checked;
    size_t files;
};

/* The decimal number that follows `key` ("\"p\":\"") in line, as text. */
static bool field_text(const char *line, size_t len, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= len; i++) {
        if (memcmp(line + i, key, kl) != 0)
            continue;
        size_t s = i + kl, e = s;
        while (e < len && line[e] != '"' && line[e] != ',' && line[e] != '}')
            e++;
        if (e - s + 1 > cap)
            return false;
        memcpy(out, line + s, e - s);
        out[e - s] = '\0';
        return true;
    }
    return false;
}

static int64_t field_i64(const char *line, size_t len, const char *key)
{
    char t[64];
    if (!field_text(line, len, key, t, sizeof(t)))
        fail_msg("no %s", key);
    return strtoll(t, NULL, 10);
}

/* Checks a parsed corpus trade against the line's own text, read independently: ids, price
 * and quantity digits, times, side, symbol. */
static void check_trade_against_text(const struct fh_trade *t, const char *line, size_t len)
{
    char want[64], got[FH_DECIMAL_TEXT_MAX + 1];
    bool agg = t->kind == FH_KIND_AGG_TRADE;
    assert_int_equal(t->trade_id, field_i64(line, len, agg ? "\"a\":" : "\"t\":"));
    if (agg) {
        assert_int_equal(t->first_trade_id, field_i64(line, len, "\"f\":"));
        assert_int_equal(t->last_trade_id, field_i64(line, len, "\"l\":"));
    }
    assert_int_equal(t->trade_time_us, field_i64(line, len, "\"T\":") * 1000);
    assert_int_equal(t->event_time_us, field_i64(line, len, "\"E\":") * 1000);
    assert_true(field_text(line, len, "\"p\":\"", want, sizeof(want)));
    const char *dot = strchr(want, '.');
    fh_decimal_format_fixed(t->price, dot ? (unsigned)strlen(dot + 1) : 0, got);
    assert_string_equal(got, want);
    assert_true(field_text(line, len, "\"q\":\"", want, sizeof(want)));
    dot = strchr(want, '.');
    fh_decimal_format_fixed(t->quantity, dot ? (unsigned)strlen(dot + 1) : 0, got);
    assert_string_equal(got, want);
    assert_true(field_text(line, len, "\"m\":", want, sizeof(want)));
    assert_int_equal(t->side, strcmp(want, "true") == 0 ? FH_SIDE_SELL : FH_SIDE_BUY);
    assert_true(field_text(line, len, "\"s\":\"", want, sizeof(want)));
    assert_str(t->native_symbol, want);
    /* The canonical name is BASE-QUOTE with BASE+QUOTE == the native name. */
    const char *dash = memchr(t->symbol.p, '-', t->symbol.n);
    assert_non_null(dash);
    size_t bl = (size_t)(dash - t->symbol.p);
    assert_int_equal(bl + t->symbol.n - bl - 1, t->native_symbol.n);
    assert_memory_equal(t->symbol.p, t->native_symbol.p, bl);
    assert_memory_equal(dash + 1, t->native_symbol.p + bl, t->symbol.n - bl - 1);
    assert_str(t->venue, "binance");
    assert_int_equal(t->source, FH_SOURCE_LIVE);
    assert_int_equal(t->order_type, FH_ORDER_UNKNOWN);
}

static bool contains(const char *line, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++) {
        if (memcmp(line + i, needle, nl) == 0)
            return true;
    }
    return false;
}

/* The same trade through the raw-stream form: the "data" object cut out of the envelope
 * (SOURCES.md: "data" is the last key of every combined message). */
static void check_raw_form(struct corpus_stats *st, const struct fh_trade *combined,
                           const char *line, size_t len)
{
    static const char key[] = "\"data\":";
    const char *d = NULL;
    for (size_t i = 0; i + sizeof(key) - 1 <= len; i++) {
        if (memcmp(line + i, key, sizeof(key) - 1) == 0) {
            d = line + i + sizeof(key) - 1;
            break;
        }
    }
    assert_non_null(d);
    size_t dl = (size_t)(line + len - 1 - d); /* drop the envelope's closing brace */
    struct fh_trade want = *combined;
    struct fh_venue_msg raw;
    if (fh_venue_parse(&PUS, d, dl, &raw) != 0)
        fail_msg("raw form rejected (%s): %.*s", fh_reject_name(raw.reject), (int)dl, d);
    assert_int_equal(raw.n_trades, 1);
    const struct fh_trade *t = &raw.trades[0];
    assert_int_equal(t->trade_id, want.trade_id);
    assert_true(fh_decimal_eq(t->price, want.price));
    assert_true(fh_decimal_eq(t->quantity, want.quantity));
    /* The microsecond parser takes the millisecond numbers as they are. */
    assert_int_equal(t->trade_time_us * 1000, want.trade_time_us);
    assert_int_equal(t->event_time_us * 1000, want.event_time_us);
    assert_int_equal(t->side, want.side);
    assert_int_equal(t->kind, want.kind);
    assert_true(fh_str_eq(t->symbol, want.symbol));
    st->raw_checked++;
}

static void corpus_line(const char *line, size_t len, void *ctx)
{
    struct corpus_stats *st = ctx;
    st->line++;
    if (len == 0)
        return;
    st->lines++;
    /* What the line is, read from its text alone. */
    if (contains(line, len, "@aggTrade\",\"data\""))
        st->exp_aggs++;
    if (contains(line, len, "@trade\",\"data\""))
        st->exp_trades++;
    if (len > 10 && memcmp(line, "{\"result\":", 10) == 0)
        st->exp_results++;
    if (line[0] == '[')
        st->exp_arrays++;

    struct fh_venue_msg m;
    if (fh_venue_parse(&P, line, len, &m) != 0)
        fail_msg("%s:%zu rejected (%s): %.*s", st->file, st->line, fh_reject_name(m.reject),
                 (int)(len > 300 ? 300 : len), line);
    switch (m.event) {
    case FH_EV_TRADES:
        assert_int_equal(m.n_trades, 1);
        if (m.trades[0].kind == FH_KIND_AGG_TRADE)
            st->aggs++;
        else
            st->trades++;
        check_trade_against_text(&m.trades[0], line, len);
        check_raw_form(st, &m.trades[0], line, len);
        break;
    case FH_EV_IGNORED:
        st->ignored++;
        break;
    case FH_EV_RESULT:
        st->results++;
        break;
    case FH_EV_REQUEST_ERROR:
        st->errors++;
        break;
    case FH_EV_SERVER_SHUTDOWN:
        st->shutdowns++;
        break;
    default:
        fail_msg("%s:%zu unexpected event %d", st->file, st->line, (int)m.event);
    }
}

static void corpus_file(const char *path, void *ctx)
{
    struct corpus_stats *st = ctx;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* binance_* and binanceus_* (Binance.US speaks the same protocol); the Kraken files are
     * another protocol's. */
    if (strncmp(base, "binance", 7) != 0)
        return;
    st->file = path;
    st->line = 0;
    st->files++;
    fh_test_each_line(path, corpus_line, st);
}

static void test_corpus_streams(void **state)
{
    (void)state;
    struct corpus_stats st;
    memset(&st, 0, sizeof(st));
    fh_test_each_file(fh_test_corpus_dir(), ".ndjson", corpus_file, &st);
    fprintf(stderr,
            "corpus: %zu files, %zu lines: %zu trade, %zu aggTrade, %zu ignored, %zu results, "
            "%zu errors, %zu shutdowns; %zu raw forms re-parsed\n",
            st.files, st.lines, st.trades, st.aggs, st.ignored, st.results, st.errors, st.shutdowns,
            st.raw_checked);
    /* 9 session files and the category files, reflowed ones included. */
    assert_true(st.files >= 16);
    assert_int_equal(st.aggs, st.exp_aggs);
    assert_int_equal(st.trades, st.exp_trades);
    assert_int_equal(st.results, st.exp_results);
    assert_int_equal(st.raw_checked, st.aggs + st.trades);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.shutdowns, 0);
    assert_int_equal(st.ignored, st.lines - st.aggs - st.trades - st.results);
    assert_true(st.exp_arrays >= 1);
    assert_true(st.ignored >= st.exp_arrays);
    assert_true(st.trades >= 2 && st.aggs > 3000 && st.results >= 1);
}

/* Every symbol named anywhere in the Binance corpus ("s" of any message) is in the fixture. */
static void symbol_line(const char *line, size_t len, void *ctx)
{
    size_t *checked = ctx;
    static const char key[] = "\"s\":\"";
    for (size_t i = 0; i + sizeof(key) - 1 < len; i++) {
        if (memcmp(line + i, key, sizeof(key) - 1) != 0)
            continue;
        size_t s = i + sizeof(key) - 1, e = s;
        while (e < len && line[e] != '"')
            e++;
        struct fh_str native = {line + s, e - s};
        if (fh_symbols_find(&SYMS, native) == NULL)
            fail_msg("symbol %.*s is not in binance_exchangeinfo.json", (int)native.n, native.p);
        (*checked)++;
    }
}

static void symbol_file(const char *path, void *ctx)
{
    const char *base = strrchr(path, '/');
    if (strncmp(base ? base + 1 : path, "binance", 7) == 0)
        fh_test_each_line(path, symbol_line, ctx);
}

static void test_corpus_symbols_in_fixture(void **state)
{
    (void)state;
    size_t checked = 0;
    fh_test_each_file(fh_test_corpus_dir(), ".ndjson", symbol_file, &checked);
    assert_true(checked > 40000);
}

/* ---- REST --------------------------------------------------------------------------------- */

static size_t count_substr(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *read_corpus(const char *rel, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", fh_test_corpus_dir(), rel);
    return fh_test_read_file(path, len);
}

static void test_rest_corpus(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *row_key; /* counted independently in the text */
        enum fh_trade_kind kind;
        int64_t id0;
        const char *price0, *qty0;
        int64_t time0;
        enum fh_side side0;
    } files[] = {
        {"rest/binance_api_v3_historicalTrades_BTCUSDT.json", "\"id\":", FH_KIND_TRADE, 1111471896,
         "60814.78", "0.00034", 1634943219887, FH_SIDE_SELL},
        {"rest/binance_api_v3_trades_BTCUSDT.json", "\"id\":", FH_KIND_TRADE, 1111468873, "60650",
         "0.02924", 1634942949263, FH_SIDE_SELL},
        {"rest/binance_api_v3_aggTrades_BTCUSDT.json", "\"a\":", FH_KIND_AGG_TRADE, 966492862,
         "60759.6", "0.00841", 1634944096633, FH_SIDE_BUY},
    };
    for (size_t i = 0; i < NKV(files); i++) {
        size_t len;
        char *body = read_corpus(files[i].file, &len);
        struct fh_rest_page page;
        enum fh_reject r;
        int rc = OPS->parse_rest_trades(&P, body, len, FH_STR_LIT("BTCUSDT"), &page, &r);
        if (rc != 0)
            fail_msg("%s rejected: %s", files[i].file, fh_reject_name(r));
        assert_int_equal(page.n_trades, count_substr(body, files[i].row_key));
        assert_int_equal(page.n_trades, 10);
        assert_int_equal(page.error.n, 0);
        assert_false(page.rate_limited);
        const struct fh_trade *t = &page.trades[0];
        assert_int_equal(t->kind, files[i].kind);
        assert_int_equal(t->trade_id, files[i].id0);
        assert_dec(t->price, files[i].price0);
        assert_dec(t->quantity, files[i].qty0);
        assert_int_equal(t->trade_time_us, files[i].time0 * 1000);
        assert_int_equal(t->side, files[i].side0);
        assert_int_equal(t->source, FH_SOURCE_BACKFILL);
        assert_str(t->symbol, "BTC-USDT");
        assert_str(t->native_symbol, "BTCUSDT");
        assert_false(t->has & FH_HAS_EVENT_TIME);
        for (size_t k = 1; k < page.n_trades; k++)
            assert_true(page.trades[k].trade_id == page.trades[k - 1].trade_id + 1);
        if (files[i].kind == FH_KIND_AGG_TRADE) {
            assert_int_equal(t->first_trade_id, 1111480471);
            assert_int_equal(t->last_trade_id, 1111480471);
            assert_int_equal(t->has,
                             FH_HAS_TRADE_ID | FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID);
        } else {
            assert_int_equal(t->has, FH_HAS_TRADE_ID);
        }
        free(body);
    }
}

static int rest(const char *body, struct fh_rest_page *page, enum fh_reject *r)
{
    return OPS->parse_rest_trades(&P, body, strlen(body), FH_STR_LIT("ETHBTC"), page, r);
}

static void test_rest_rows_and_errors(void **state)
{
    (void)state;
    struct fh_rest_page page;
    enum fh_reject r;
    /* Both row shapes in one page, in microseconds on a µs parser. */
    const char *mixed = "[{\"id\":28457,\"price\":\"4.00000100\",\"qty\":\"12.00000000\","
                        "\"quoteQty\":\"48.000012\",\"time\":1499865549590,\"isBuyerMaker\":true,"
                        "\"isBestMatch\":true},{\"a\":26129,\"p\":\"0.01633102\",\"q\":"
                        "\"4.70443515\",\"f\":27781,\"l\":27790,\"T\":1498793709153,\"m\":false,"
                        "\"M\":true}]";
    assert_int_equal(rest(mixed, &page, &r), 0);
    assert_int_equal(page.n_trades, 2);
    assert_int_equal(page.trades[0].kind, FH_KIND_TRADE);
    assert_int_equal(page.trades[0].trade_id, 28457);
    assert_dec(page.trades[0].price, "4.000001");
    assert_dec(page.trades[0].quantity, "12");
    assert_int_equal(page.trades[0].trade_time_us, 1499865549590000);
    assert_int_equal(page.trades[0].side, FH_SIDE_SELL);
    assert_str(page.trades[0].symbol, "ETH-BTC");
    assert_int_equal(page.trades[1].kind, FH_KIND_AGG_TRADE);
    assert_int_equal(page.trades[1].trade_id, 26129);
    assert_int_equal(page.trades[1].first_trade_id, 27781);
    assert_int_equal(page.trades[1].last_trade_id, 27790);
    assert_int_equal(page.trades[1].side, FH_SIDE_BUY);
    assert_int_equal(
        OPS->parse_rest_trades(&PUS, mixed, strlen(mixed), FH_STR_LIT("ETHBTC"), &page, &r), 0);
    assert_int_equal(page.trades[0].trade_time_us, 1499865549590);

    assert_int_equal(rest("[]", &page, &r), 0);
    assert_int_equal(page.n_trades, 0);
    assert_int_equal(rest(" [ ] ", &page, &r), 0);

    /* Error bodies. */
    assert_int_equal(rest("{\"code\":-1121,\"msg\":\"Invalid symbol.\"}", &page, &r), 0);
    assert_str(page.error, "Invalid symbol.");
    assert_false(page.rate_limited);
    assert_int_equal(page.n_trades, 0);
    assert_int_equal(rest("{\"code\":-1003,\"msg\":\"Too much request weight used; current limit "
                          "is 6000 request weight per 1 MINUTE.\"}",
                          &page, &r),
                     0);
    assert_true(page.rate_limited);
    assert_true(page.error.n > 0);

    static const struct {
        const char *body;
        enum fh_reject r;
    } bad[] = {
        {"{\"code\":-1121}", FH_REJ_UNKNOWN_MESSAGE},
        {"{\"foo\":1}", FH_REJ_UNKNOWN_MESSAGE},
        {"{\"code\":\"x\",\"msg\":\"y\"}", FH_REJ_BAD_FIELD},
        {"[1]", FH_REJ_UNKNOWN_MESSAGE},
        {"[{\"x\":1}]", FH_REJ_UNKNOWN_MESSAGE},
        {"[{\"id\":1,\"a\":2,\"price\":\"1\",\"qty\":\"1\",\"time\":1,\"isBuyerMaker\":true}]",
         FH_REJ_UNKNOWN_MESSAGE},
        {"[{\"id\":1,\"price\":\"1\",\"qty\":\"1\",\"time\":1}]", FH_REJ_MISSING_FIELD},
        {"[{\"id\":1,\"price\":\"1\",\"qty\":\"1\",\"isBuyerMaker\":true}]", FH_REJ_MISSING_FIELD},
        {"[{\"a\":1,\"p\":\"1\",\"q\":\"1\",\"l\":1,\"T\":1,\"m\":true}]", FH_REJ_MISSING_FIELD},
        {"[{\"id\":-1,\"price\":\"1\",\"qty\":\"1\",\"time\":1,\"isBuyerMaker\":true}]",
         FH_REJ_BAD_FIELD},
        {"[{\"id\":1,\"price\":\"0\",\"qty\":\"1\",\"time\":1,\"isBuyerMaker\":true}]",
         FH_REJ_BAD_PRICE},
        {"[{\"id\":1,\"price\":1,\"qty\":\"1\",\"time\":1,\"isBuyerMaker\":true}]",
         FH_REJ_BAD_FIELD},
        {"[{\"id\":1,\"price\":\"1\",\"qty\":\"-1\",\"time\":1,\"isBuyerMaker\":true}]",
         FH_REJ_BAD_QUANTITY},
        {"[{\"id\":1,\"price\":\"1\",\"qty\":\"1\",\"time\":1.5,\"isBuyerMaker\":true}]",
         FH_REJ_BAD_TIME},
        {"[{\"id\":1,\"price\":\"1\",\"qty\":\"1\",\"time\":1,\"isBuyerMaker\":0}]",
         FH_REJ_BAD_FIELD},
        {"[{\"a\":1,\"p\":\"1\",\"q\":\"1\",\"f\":5,\"l\":4,\"T\":1,\"m\":true}]",
         FH_REJ_BAD_FIELD},
        {"[{\"id\":1,\"id\":2,\"price\":\"1\",\"qty\":\"1\",\"time\":1,\"isBuyerMaker\":true}]",
         FH_REJ_BAD_FIELD},
        {"[{\"id\":1,\"price\":\"1\",\"qty\":\"1\",\"time\":1,\"isBuyerMaker\":true},",
         FH_REJ_JSON},
        {"<html>429</html>", FH_REJ_JSON},
        {"", FH_REJ_JSON},
    };
    for (size_t i = 0; i < NKV(bad); i++) {
        int rc = rest(bad[i].body, &page, &r);
        if (rc != -1 || r != bad[i].r)
            fail_msg("rc %d %s, expected %s: %s", rc, fh_reject_name(r), fh_reject_name(bad[i].r),
                     bad[i].body);
        assert_int_equal(page.n_trades, 0);
    }
    /* A valid page for a symbol we do not know, and the row bound. */
    assert_int_equal(
        OPS->parse_rest_trades(&P, mixed, strlen(mixed), FH_STR_LIT("NOPE"), &page, &r), -1);
    assert_int_equal(r, FH_REJ_UNKNOWN_SYMBOL);
    struct fh_venue_parser one;
    struct fh_venue_parser_opts o = {.max_trades = 1};
    assert_int_equal(fh_venue_parser_init(&one, OPS, &SYMS, &o), 0);
    assert_int_equal(
        OPS->parse_rest_trades(&one, mixed, strlen(mixed), FH_STR_LIT("ETHBTC"), &page, &r), -1);
    assert_int_equal(r, FH_REJ_TOO_MANY_TRADES);
    fh_venue_parser_release(&one);
}

/* ---- builders ----------------------------------------------------------------------------- */

static struct fh_str SPEC_SYMS[] = {{"BTCUSDT", 7}, {"ETHUSDT", 7}, {"1INCHUSDT", 9}};

static void test_build_url(void **state)
{
    (void)state;
    struct fh_buf b;
    fh_buf_init(&b, 1 << 20);
    struct fh_sub_spec spec = {.symbols = SPEC_SYMS, .n_symbols = 2, .channels = FH_CH_TRADE};
    assert_int_equal(OPS->build_url("wss://stream.binance.com:9443", &spec, &b), 0);
    assert_string_equal(b.data,
                        "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade");
    fh_buf_reset(&b);
    spec.channels = FH_CH_TRADE | FH_CH_AGG_TRADE;
    spec.n_symbols = 3;
    spec.time_us = true;
    assert_int_equal(OPS->build_url("wss://data-stream.binance.vision/", &spec, &b), 0);
    assert_string_equal(b.data, "wss://data-stream.binance.vision/stream?streams=btcusdt@trade/"
                                "btcusdt@aggTrade/ethusdt@trade/ethusdt@aggTrade/1inchusdt@trade/"
                                "1inchusdt@aggTrade&timeUnit=MICROSECOND");
    fh_buf_reset(&b);
    struct fh_str uni[] = {FH_STR_LIT(UNI_SYMBOL)};
    struct fh_sub_spec us = {.symbols = uni, .n_symbols = 1, .channels = FH_CH_AGG_TRADE};
    assert_int_equal(OPS->build_url("ws://127.0.0.1:9000", &us, &b), 0);
    assert_string_equal(b.data, "ws://127.0.0.1:9000/stream?streams="
                                "%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@aggTrade");

    /* Schemes are case-insensitive (RFC 3986); the configuration accepts WSS://. */
    fh_buf_reset(&b);
    assert_int_equal(OPS->build_url("WSS://127.0.0.1:9000", &us, &b), 0);
    assert_non_null(strstr(b.data, "/stream?streams="));

    /* Failures leave the buffer as it was. */
    fh_buf_reset(&b);
    fh_buf_append(&b, "keep", 4);
    static const char *const bad_bases[] = {
        "", "https://x", "wss://a b", "wss://x/?a=1", "wss://x#f", "stream.binance.com"};
    for (size_t i = 0; i < NKV(bad_bases); i++)
        assert_int_equal(OPS->build_url(bad_bases[i], &spec, &b), FH_EINVAL);
    assert_int_equal(OPS->build_url(NULL, &spec, &b), FH_EINVAL);
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);

    /* The 1024-stream limit and the URL length bound. */
    struct fh_str many[1025];
    char names[1025][8];
    for (int i = 0; i < 1025; i++) {
        snprintf(names[i], sizeof(names[i]), "S%04d", i);
        many[i] = (struct fh_str){names[i], strlen(names[i])};
    }
    struct fh_sub_spec big = {.symbols = many, .n_symbols = 1025, .channels = FH_CH_TRADE};
    assert_int_equal(OPS->build_url("wss://x", &big, &b), FH_ERANGE);
    big.n_symbols = 513;
    big.channels = FH_CH_TRADE | FH_CH_AGG_TRADE; /* 1026 streams */
    assert_int_equal(OPS->build_url("wss://x", &big, &b), FH_ERANGE);
    /* "s0000@trade/" is 12 bytes: 700 of them pass the stream limit, not the URL bound. */
    big.n_symbols = 700;
    big.channels = FH_CH_TRADE;
    assert_int_equal(OPS->build_url("wss://x", &big, &b), FH_ERANGE);
    assert_string_equal(b.data, "keep");
    big.n_symbols = 600;
    assert_int_equal(OPS->build_subscribe(&big, &b), 0); /* SUBSCRIBE has no URL bound */
    big.n_symbols = 1024;
    fh_buf_reset(&b);
    assert_int_equal(OPS->build_subscribe(&big, &b), 0);
    assert_int_equal(count_substr(b.data, "@trade\""), 1024);
    /* A buffer too small to hold the URL fails cleanly too. */
    struct fh_buf tiny;
    fh_buf_init(&tiny, 32);
    assert_true(OPS->build_url("wss://stream.binance.com:9443", &spec, &tiny) != 0);
    assert_int_equal(tiny.len, 0);
    fh_buf_release(&tiny);
    fh_buf_release(&b);
}

static void test_build_requests(void **state)
{
    (void)state;
    struct fh_buf b;
    fh_buf_init(&b, 1 << 16);
    struct fh_sub_spec spec = {
        .symbols = SPEC_SYMS, .n_symbols = 2, .channels = FH_CH_AGG_TRADE, .req_id = 1};
    assert_int_equal(OPS->build_subscribe(&spec, &b), 0);
    assert_string_equal(
        b.data, "{\"method\":\"SUBSCRIBE\",\"params\":[\"btcusdt@aggTrade\",\"ethusdt@aggTrade\"],"
                "\"id\":1}");
    fh_buf_reset(&b);
    spec.channels = FH_CH_TRADE | FH_CH_AGG_TRADE;
    spec.n_symbols = 1;
    spec.req_id = -312;
    assert_int_equal(OPS->build_unsubscribe(&spec, &b), 0);
    assert_string_equal(b.data, "{\"method\":\"UNSUBSCRIBE\",\"params\":[\"btcusdt@trade\","
                                "\"btcusdt@aggTrade\"],\"id\":-312}");
    fh_buf_reset(&b);
    struct fh_str uni[] = {FH_STR_LIT(UNI_SYMBOL)};
    struct fh_sub_spec us = {
        .symbols = uni, .n_symbols = 1, .channels = FH_CH_TRADE, .req_id = INT64_MAX};
    assert_int_equal(OPS->build_subscribe(&us, &b), 0);
    assert_string_equal(b.data, "{\"method\":\"SUBSCRIBE\",\"params\":[\"" UNI_BASE
                                "usdt@trade\"],\"id\":9223372036854775807}");
    /* What we build is what the server parses back: valid JSON for our own parser. */
    struct fh_json j;
    assert_int_equal(fh_json_init(&j, 64), 0);
    assert_int_equal(fh_json_parse(&j, b.data, b.len), 0);
    fh_json_release(&j);

    assert_int_equal(OPS->build_ping(1, &b), FH_EUNSUPPORTED);

    /* Invalid specs and symbols. */
    fh_buf_reset(&b);
    static const char *const bad_syms[] = {
        "",
        "btcusdt",
        "BTC USDT",
        "BTC\"USDT",
        "BTC/USDT",
        "BTC-USDT",
        "BTC\\USD",
        "BTC%20",
        "BTC@X",
        "BTC\nX",
        "\xff\xfe",
        "\xe5\xb8",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 48 bytes */
    };
    for (size_t i = 0; i < NKV(bad_syms); i++) {
        struct fh_str s[] = {fh_str_c(bad_syms[i])};
        struct fh_sub_spec bs = {.symbols = s, .n_symbols = 1, .channels = FH_CH_TRADE};
        if (OPS->build_subscribe(&bs, &b) != FH_EINVAL)
            fail_msg("accepted symbol \"%s\"", bad_syms[i]);
        assert_int_equal(OPS->build_url("wss://x", &bs, &b), FH_EINVAL);
        struct fh_rest_req rq = {.symbol = s[0], .from_id = 1, .limit = 10};
        assert_int_equal(OPS->build_rest_trades(&rq, &b), FH_EINVAL);
    }
    struct fh_sub_spec none = {.symbols = SPEC_SYMS, .n_symbols = 0, .channels = FH_CH_TRADE};
    assert_int_equal(OPS->build_subscribe(&none, &b), FH_EINVAL);
    none.n_symbols = 1;
    none.channels = 0;
    assert_int_equal(OPS->build_subscribe(&none, &b), FH_EINVAL);
    none.channels = 1u << 7;
    assert_int_equal(OPS->build_subscribe(&none, &b), FH_EINVAL);
    assert_int_equal(OPS->build_subscribe(NULL, &b), FH_EINVAL);
    assert_int_equal(b.len, 0);
    fh_buf_release(&b);
}

static void test_build_rest(void **state)
{
    (void)state;
    struct fh_buf b;
    fh_buf_init(&b, 4096);
    struct fh_rest_req rq = {.symbol = FH_STR_LIT("BTCUSDT"), .from_id = 1111471896, .limit = 1000};
    assert_int_equal(OPS->build_rest_trades(&rq, &b), 0);
    assert_string_equal(b.data,
                        "/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1111471896&limit=1000");
    fh_buf_reset(&b);
    rq.aggregate = true;
    rq.from_id = 0;
    rq.limit = 1;
    assert_int_equal(OPS->build_rest_trades(&rq, &b), 0);
    assert_string_equal(b.data, "/api/v3/aggTrades?symbol=BTCUSDT&fromId=0&limit=1");
    fh_buf_reset(&b);
    rq.symbol = FH_STR_LIT(UNI_SYMBOL);
    rq.from_id = INT64_MAX;
    assert_int_equal(OPS->build_rest_trades(&rq, &b), 0);
    assert_string_equal(b.data, "/api/v3/aggTrades?symbol=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9F"
                                "USDT&fromId=9223372036854775807&limit=1");
    fh_buf_reset(&b);
    rq.limit = 0;
    assert_int_equal(OPS->build_rest_trades(&rq, &b), FH_ERANGE);
    rq.limit = 1001;
    assert_int_equal(OPS->build_rest_trades(&rq, &b), FH_ERANGE);
    rq.limit = 5;
    rq.from_id = -1;
    assert_int_equal(OPS->build_rest_trades(&rq, &b), FH_EINVAL);
    assert_int_equal(OPS->build_rest_trades(NULL, &b), FH_EINVAL);
    assert_int_equal(b.len, 0);
    assert_string_equal(OPS->metadata_path, "/api/v3/exchangeInfo");
    assert_string_equal(OPS->name, "binance");
    assert_string_equal(OPS->venue, "binance");
    assert_int_equal(OPS->protocol, FH_PROTO_BINANCE);
    fh_buf_release(&b);
}

/* ---- exchangeInfo ------------------------------------------------------------------------- */

static void test_metadata_fixture(void **state)
{
    (void)state;
    size_t len;
    char *body = read_fixture("binance_exchangeinfo.json", &len);
    assert_int_equal(SYMS.n, count_substr(body, "\"symbol\":") + 1 /* the UTF-8 one */);
    free(body);
    static const struct {
        const char *native, *canonical, *base, *quote;
        int pd, qd;
    } want[] = {
        {"BTCUSDT", "BTC-USDT", "BTC", "USDT", 2, 6},
        {"AAVEUPUSDT", "AAVEUP-USDT", "AAVEUP", "USDT", 3, 2},
        {"BTCSTUSDT", "BTCST-USDT", "BTCST", "USDT", 3, 3},
        {"RENBTCETH", "RENBTC-ETH", "RENBTC", "ETH", 4, 4},
        {"BUSDTRY", "BUSD-TRY", "BUSD", "TRY", 2, 2},
        {"USDTUSD", "USDT-USD", "USDT", "USD", 4, 2},
        {"QSPBTC", "QSP-BTC", "QSP", "BTC", 8, 0},
        {"HNTUSD", "HNT-USD", "HNT", "USD", 4, 2},
        {"DOTUSDT", "DOT-USDT", "DOT", "USDT", 4, 2},
    };
    for (size_t i = 0; i < NKV(want); i++) {
        const struct fh_symbol *s = fh_symbols_find(&SYMS, fh_str_c(want[i].native));
        assert_non_null(s);
        assert_string_equal(s->canonical, want[i].canonical);
        assert_string_equal(s->base, want[i].base);
        assert_string_equal(s->quote, want[i].quote);
        assert_int_equal(s->price_decimals, want[i].pd);
        assert_int_equal(s->qty_decimals, want[i].qd); /* LOT_SIZE, not MARKET_LOT_SIZE */
        assert_string_equal(s->status, "TRADING");
    }
}

static int meta(const char *doc, struct fh_symbols *t, char *err, size_t errlen)
{
    return OPS->parse_metadata(doc, strlen(doc), t, err, errlen);
}

static void test_metadata_edges(void **state)
{
    (void)state;
    struct fh_symbols t;
    char err[256];
    assert_int_equal(fh_symbols_init(&t, 8), 0);
    /* Non-ASCII assets raw and escaped, missing filters and status, a disabled filter. */
    const char *doc =
        "{\"timezone\":\"UTC\",\"symbols\":[{\"symbol\":\"" UNI_SYMBOL "\",\"status\":\"BREAK\","
        "\"baseAsset\":\"" UNI_BASE "\",\"quoteAsset\":\"USDT\",\"filters\":[{\"filterType\":"
        "\"PRICE_FILTER\",\"tickSize\":\"0.00000000\"},{\"filterType\":\"LOT_SIZE\",\"stepSize\":"
        "\"10.00000000\"}]},{\"symbol\":\"\\u5e01ABC\",\"baseAsset\":\"\\u5e01\",\"quoteAsset\":"
        "\"ABC\"},{\"symbol\":\"X1Y\",\"baseAsset\":\"X1\",\"quoteAsset\":\"Y\",\"status\":"
        "\"A_STATUS_NAME_TOO_LONG\",\"filters\":[{\"filterType\":\"PRICE_FILTER\",\"tickSize\":"
        "\"0.00000001\"},{\"filterType\":\"LOT_SIZE\",\"stepSize\":\"1e-5\"}]}]}";
    assert_int_equal(meta(doc, &t, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(t.n, 3);
    const struct fh_symbol *s = fh_symbols_find(&t, FH_STR_LIT(UNI_SYMBOL));
    assert_non_null(s);
    assert_string_equal(s->canonical, UNI_BASE "-USDT");
    assert_string_equal(s->status, "BREAK");
    assert_int_equal(s->price_decimals, -1);
    assert_int_equal(s->qty_decimals, 0);
    s = fh_symbols_find(&t, FH_STR_LIT("\xe5\xb8\x81"
                                       "ABC"));
    assert_non_null(s);
    assert_string_equal(s->canonical, "\xe5\xb8\x81-ABC");
    assert_string_equal(s->status, "");
    assert_int_equal(s->price_decimals, -1);
    s = fh_symbols_find(&t, FH_STR_LIT("X1Y"));
    assert_non_null(s);
    assert_string_equal(s->status, "");
    assert_int_equal(s->price_decimals, 8);
    assert_int_equal(s->qty_decimals, -1); /* exponent text is not Binance's */
    fh_symbols_release(&t);

    /* Names that do not fit are skipped and reported; the rest loads. */
    assert_int_equal(fh_symbols_init(&t, 8), 0);
    assert_int_equal(meta("{\"symbols\":[{\"symbol\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345USDT\","
                          "\"baseAsset\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\",\"quoteAsset\":"
                          "\"USDT\"},{\"symbol\":\"AB\",\"baseAsset\":\"A-\",\"quoteAsset\":"
                          "\"B\"},{\"symbol\":\"ETHBTC\",\"baseAsset\":\"ETH\",\"quoteAsset\":"
                          "\"BTC\"}]}",
                          &t, err, sizeof(err)),
                     0);
    assert_int_equal(t.n, 1);
    assert_non_null(strstr(err, "skipped 2"));
    fh_symbols_release(&t);

    /* Fuzz finding: a name with a NUL or another control character (decoded from \u0000,
     * \t ...) made a canonical name whose C string differs from its length. Such entries are
     * skipped like other unrepresentable names. */
    assert_int_equal(fh_symbols_init(&t, 8), 0);
    assert_int_equal(
        meta("{\"symbols\":[{\"symbol\":\"A\\u0000B\",\"baseAsset\":\"A\\u0000\","
             "\"quoteAsset\":\"B\"},{\"symbol\":\"CD\",\"baseAsset\":\"C\",\"quoteAsset\":"
             "\"D\\t\"},{\"symbol\":\"E\\u007fF\",\"baseAsset\":\"E\",\"quoteAsset\":"
             "\"F\"},{\"symbol\":\"ETHBTC\",\"baseAsset\":\"ETH\",\"quoteAsset\":"
             "\"BTC\"}]}",
             &t, err, sizeof(err)),
        0);
    assert_int_equal(t.n, 1);
    assert_non_null(strstr(err, "skipped 3"));
    assert_non_null(fh_symbols_find(&t, FH_STR_LIT("ETHBTC")));
    fh_symbols_release(&t);

    static const struct {
        const char *doc;
        int rc;
        const char *msg;
    } bad[] = {
        {"{\"code\":-1121,\"msg\":\"Invalid symbol.\"}", FH_EPARSE, "Invalid symbol."},
        {"[]", FH_EPARSE, "not an object"},
        {"{\"symbols\":{}}", FH_EPARSE, "no symbols"},
        {"{\"symbols\":[]}", FH_EPARSE, "no usable"},
        {"{\"symbols\":[1]}", FH_EPARSE, "symbols[0]"},
        {"{\"symbols\":[{\"symbol\":\"ETHBTC\",\"baseAsset\":\"ETH\"}]}", FH_EPARSE, "symbols[0]"},
        {"{\"symbols\":[{\"symbol\":\"ETHBTC\",\"baseAsset\":\"ETH\",\"quoteAsset\":1}]}",
         FH_EPARSE, "quoteAsset"},
        {"{\"symbols\":[{\"symbol\":\"ETHBTC\",\"baseAsset\":\"ETH\",\"quoteAsset\":\"BTC\"},"
         "{\"symbol\":\"ETHBTC\",\"baseAsset\":\"ET\",\"quoteAsset\":\"HBTC\"}]}",
         FH_ESTATE, "twice"},
        {"{\"symbols\":[{\"symbol\":\"ETHBTC\"", FH_EPARSE, "invalid JSON"},
        {"{\"symbols\":[]} x", FH_EPARSE, "invalid JSON"},
        {"{\"s\":\"\xff\"}", FH_EPARSE, "invalid JSON"},
    };
    for (size_t i = 0; i < NKV(bad); i++) {
        assert_int_equal(fh_symbols_init(&t, 8), 0);
        err[0] = '\0';
        int rc = meta(bad[i].doc, &t, err, sizeof(err));
        if (rc != bad[i].rc || strstr(err, bad[i].msg) == NULL)
            fail_msg("rc %d err \"%s\" for %s", rc, err, bad[i].doc);
        fh_symbols_release(&t);
    }
    /* A full table. */
    assert_int_equal(fh_symbols_init(&t, 1), 0);
    assert_int_equal(meta("{\"symbols\":[{\"symbol\":\"AB\",\"baseAsset\":\"A\",\"quoteAsset\":"
                          "\"B\"},{\"symbol\":\"CD\",\"baseAsset\":\"C\",\"quoteAsset\":\"D\"}]}",
                          &t, err, sizeof(err)),
                     FH_ENOSPACE);
    assert_non_null(strstr(err, "full"));
    /* NULL / empty input, and a NULL error buffer is allowed. */
    assert_int_equal(OPS->parse_metadata("", 0, &t, NULL, 0), FH_EINVAL);
    assert_int_equal(OPS->parse_metadata(NULL, 0, &t, err, sizeof(err)), FH_EINVAL);
    fh_symbols_release(&t);
}

/* A real-size exchangeInfo: thousands of symbols in the real format, several MiB and far more
 * tokens than a stream parser holds; and the 64 MiB bound. */
static void test_metadata_real_size(void **state)
{
    (void)state;
    size_t len;
    char *fixture = read_fixture("binance_exchangeinfo.json", &len);
    /* One full symbol entry of the fixture serves as the template. */
    const char *first = strstr(fixture, "{\"symbol\":\"");
    const char *end = strstr(first, "\n");
    assert_non_null(first);
    assert_non_null(end);
    size_t tl = (size_t)(end - first);
    if (first[tl - 1] == ',')
        tl--;
    const size_t n = 5000;
    struct fh_buf doc;
    fh_buf_init(&doc, 64u << 20);
    fh_buf_append(&doc, "{\"timezone\":\"UTC\",\"serverTime\":1,\"symbols\":[", 44);
    for (size_t i = 0; i < n; i++) {
        /* Rename AAVEUPUSDT -> Q<i>USDT with base Q<i>. */
        char name[48], base[24];
        snprintf(base, sizeof(base), "Q%zu", i);
        snprintf(name, sizeof(name), "%sUSDT", base);
        const char *sym_end = strstr(first, "\",\"status\"");
        const char *base_at = strstr(first, "\"baseAsset\":\"");
        const char *base_end = strchr(base_at + 13, '"');
        fh_buf_appendf(&doc, "%s{\"symbol\":\"%s%.*s\"baseAsset\":\"%s%.*s", i ? "," : "", name,
                       (int)(base_at - sym_end), sym_end, base, (int)(first + tl - base_end),
                       base_end);
    }
    fh_buf_append(&doc, "]}", 2);
    assert_true(doc.len > 5u << 20);
    struct fh_symbols t;
    assert_int_equal(fh_symbols_init(&t, n), 0);
    char err[256];
    int rc = OPS->parse_metadata(doc.data, doc.len, &t, err, sizeof(err));
    if (rc != 0)
        fail_msg("real-size exchangeInfo: %s", err);
    assert_int_equal(t.n, n);
    const struct fh_symbol *s = fh_symbols_find(&t, FH_STR_LIT("Q4999USDT"));
    assert_non_null(s);
    assert_string_equal(s->canonical, "Q4999-USDT");
    assert_int_equal(s->price_decimals, 3);
    fh_symbols_release(&t);
    fh_buf_release(&doc);
    free(fixture);

    /* A document under 64 MiB that would need more than 8 Mi tokens is refused before the
     * token array is allocated (17 bytes a token). */
    size_t nt = (8u << 20) + 16;
    char *toks = malloc(2 * nt + 2);
    assert_non_null(toks);
    toks[0] = '[';
    for (size_t i = 0; i < nt; i++) {
        toks[1 + 2 * i] = '0';
        toks[2 + 2 * i] = ',';
    }
    toks[2 * nt] = ']';
    assert_int_equal(fh_symbols_init(&t, 1), 0);
    assert_int_equal(OPS->parse_metadata(toks, 2 * nt + 1, &t, err, sizeof(err)), FH_ERANGE);
    assert_non_null(strstr(err, "tokens"));
    fh_symbols_release(&t);
    free(toks);

    /* Over 64 MiB: refused before anything is parsed. */
    size_t huge = (64u << 20) + 1;
    char *h = malloc(huge);
    assert_non_null(h);
    memset(h, ' ', huge);
    assert_int_equal(fh_symbols_init(&t, 1), 0);
    assert_int_equal(OPS->parse_metadata(h, huge, &t, err, sizeof(err)), FH_ERANGE);
    assert_non_null(strstr(err, "exceeds"));
    assert_int_equal(t.n, 0);
    fh_symbols_release(&t);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trade_raw),        cmocka_unit_test(test_trade_combined_corpus_line),
        cmocka_unit_test(test_agg_trade),        cmocka_unit_test(test_microsecond_times),
        cmocka_unit_test(test_time_edges),       cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_bad_values),       cmocka_unit_test(test_extreme_values),
        cmocka_unit_test(test_integer_lengths),  cmocka_unit_test(test_unknown_and_escaped_keys),
        cmocka_unit_test(test_duplicate_keys),   cmocka_unit_test(test_unicode_symbol),
        cmocka_unit_test(test_no_symbol_table),  cmocka_unit_test(test_combined_consistency),
        cmocka_unit_test(test_results),          cmocka_unit_test(test_errors),
        cmocka_unit_test(test_server_shutdown),  cmocka_unit_test(test_ignored_streams),
        cmocka_unit_test(test_unknown_messages), cmocka_unit_test(test_truncated_and_limits),
        cmocka_unit_test(test_corpus_streams),   cmocka_unit_test(test_corpus_symbols_in_fixture),
        cmocka_unit_test(test_rest_corpus),      cmocka_unit_test(test_rest_rows_and_errors),
        cmocka_unit_test(test_build_url),        cmocka_unit_test(test_build_requests),
        cmocka_unit_test(test_build_rest),       cmocka_unit_test(test_metadata_fixture),
        cmocka_unit_test(test_metadata_edges),   cmocka_unit_test(test_metadata_real_size),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
