/*
 * test_kraken_v2.c - Kraken WebSocket v2 adapter (src/venue/kraken_v2.c, kraken_common.c).
 *
 * Symbols come from tests/data/kraken_assetpairs.json read with v2 naming (native = the
 * assetVersion=1 key, BTC/USD). Expected decimals are integers with a scale, independent
 * of the decimal parser; expected times are written out as integers.
 */
#include "testutil.h"

#include "core/err.h"
#include "venue/kraken.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct fh_symbols T;
static struct fh_venue_parser P;
static struct fh_venue_msg M;

static fh_decimal dec(int64_t mantissa, unsigned scale)
{
    fh_i128 u = mantissa;
    for (unsigned i = scale; i < FH_DECIMAL_SCALE; i++)
        u *= 10;
    return fh_decimal_from_units(u);
}

static int setup(void **state)
{
    (void)state;
    char path[4096];
    const char *src = getenv("FH_SOURCE_DIR");
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/tests/data/kraken_assetpairs.json", src);
    size_t n;
    char *body = fh_test_read_file(path, &n);
    char err[256] = "";
    assert_int_equal(fh_symbols_init(&T, 256), 0);
    int rc = fh_venue_kraken_v2.parse_metadata(body, n, &T, err, sizeof(err));
    if (rc != 0)
        fail_msg("metadata: %s", err);
    free(body);
    assert_int_equal(fh_symbols_add(&T, fh_str_c("\xc3\x84PFEL/\xe2\x82\xac"),
                                    fh_str_c("\xc3\x84PFEL"), fh_str_c("\xe2\x82\xac"), NULL),
                     0);
    return fh_venue_parser_init(&P, &fh_venue_kraken_v2, &T, NULL);
}

static int teardown(void **state)
{
    (void)state;
    fh_venue_parser_release(&P);
    fh_symbols_release(&T);
    return 0;
}

/* Parses an exact-size heap copy first (ASan sees reads past the end), then the original
 * so that views stay valid for the checks that follow. */
static int parse_with(struct fh_venue_parser *p, const char *s, size_t n)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int rc = fh_venue_parse(p, copy, n, &M);
    if (rc == 0)
        assert_int_equal(fh_venue_parse(p, s, n, &M), 0);
    free(copy);
    return rc;
}

static int parse(const char *s)
{
    return parse_with(&P, s, strlen(s));
}

static void expect_reject(const char *s, enum fh_reject r)
{
    int rc = parse(s);
    if (rc != -1 || M.reject != r)
        fail_msg("%s: rc %d reject %s, want %s", s, rc, fh_reject_name(M.reject),
                 fh_reject_name(r));
    assert_int_equal(M.n_trades, 0);
    assert_int_equal(M.event, FH_EV_NONE);
}

static void expect_event(const char *s, enum fh_event ev)
{
    int rc = parse(s);
    if (rc != 0 || M.event != ev)
        fail_msg("%s: rc %d event %d reject %s, want event %d", s, rc, M.event,
                 fh_reject_name(M.reject), ev);
}

static void assert_str(struct fh_str s, const char *want)
{
    if (!fh_str_eq_c(s, want))
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.n, s.p ? s.p : "", want);
}

/* ---- control messages ------------------------------------------------------------------- */

static void test_status(void **state)
{
    (void)state;
    expect_event("{\"channel\":\"status\",\"data\":[{\"api_version\":\"v2\",\"connection_id\":"
                 "18266300427528990701,\"system\":\"online\",\"version\":\"2.0.4\"}],\"type\":"
                 "\"update\"}",
                 FH_EV_STATUS);
    assert_true(M.server_connection_id == strtoull("18266300427528990701", NULL, 10));
    assert_int_equal(M.status, FH_STATUS_ONLINE);
    expect_event("{\"channel\":\"status\",\"type\":\"update\",\"data\":[{\"system\":"
                 "\"maintenance\"}]}",
                 FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_MAINTENANCE);
    assert_true(M.server_connection_id == 0);
    expect_event("{\"channel\":\"status\",\"data\":[{\"system\":\"cancel_only\"}]}", FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_CANCEL_ONLY);
    expect_event("{\"channel\":\"status\",\"data\":[{\"system\":\"post_only\"}]}", FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_POST_ONLY);
    expect_event("{\"channel\":\"status\",\"data\":[{\"system\":\"brand_new\"}]}", FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_UNKNOWN);
    assert_str(M.text, "brand_new");

    expect_reject("{\"channel\":\"status\",\"type\":\"update\"}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"channel\":\"status\",\"data\":[]}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"channel\":\"status\",\"data\":[{}]}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"channel\":\"status\",\"data\":{}}", FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"status\",\"data\":[1]}", FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"status\",\"data\":[{\"system\":1}]}", FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"status\",\"data\":[{\"system\":\"online\",\"connection_id\":"
                  "18446744073709551616}]}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"status\",\"data\":[{\"system\":\"online\",\"connection_id\":"
                  "\"1\"}]}",
                  FH_REJ_BAD_FIELD);
}

static void test_acks(void **state)
{
    (void)state;
    expect_event("{\"method\":\"subscribe\",\"req_id\":0,\"result\":{\"channel\":\"trade\","
                 "\"snapshot\":true,\"symbol\":\"BTC/USD\"},\"success\":true,\"time_in\":"
                 "\"2024-05-19T19:11:23.034030Z\",\"time_out\":\"2024-05-19T19:11:23.034073Z\"}",
                 FH_EV_SUBSCRIBED);
    assert_str(M.symbol, "BTC/USD");
    assert_str(M.channel, "trade");
    assert_true(M.has_req_id);
    assert_int_equal(M.req_id, 0);
    /* An ack without a symbol (private channels), with warnings. */
    expect_event("{\"method\":\"subscribe\",\"req_id\":0,\"result\":{\"channel\":\"executions\","
                 "\"maxratecount\":180,\"snapshot\":true,\"warnings\":[\"cancel_reason is "
                 "deprecated, use reason\"]},\"success\":true}",
                 FH_EV_SUBSCRIBED);
    assert_int_equal(M.symbol.n, 0);
    assert_str(M.channel, "executions");
    expect_event("{\"method\":\"unsubscribe\",\"result\":{\"channel\":\"trade\",\"symbol\":"
                 "\"MATIC/USD\"},\"success\":true,\"time_in\":\"2023-09-25T09:21:10.428340Z\","
                 "\"time_out\":\"2023-09-25T09:21:10.428375Z\"}",
                 FH_EV_UNSUBSCRIBED);
    assert_str(M.symbol, "MATIC/USD");
    assert_false(M.has_req_id);
    /* Rejections: with and without a symbol. */
    expect_event("{\"error\":\"Currency pair not supported WWW/USD\",\"method\":\"subscribe\","
                 "\"req_id\":0,\"success\":false,\"symbol\":\"WWW/USD\",\"time_in\":"
                 "\"2025-08-26T00:09:18.071184Z\",\"time_out\":\"2025-08-26T00:09:18.071225Z\"}",
                 FH_EV_REQUEST_ERROR);
    assert_str(M.text, "Currency pair not supported WWW/USD");
    assert_str(M.symbol, "WWW/USD");
    expect_event("{\"error\":\"Currency pair not supported XBT/USD\",\"method\":\"subscribe\","
                 "\"success\":false,\"symbol\":\"XBT/USD\"}",
                 FH_EV_REQUEST_ERROR);
    assert_false(M.has_req_id);
    expect_event("{\"error\":\"Unsupported event\",\"method\":\"subscribe\",\"req_id\":"
                 "9223372036854775807,\"success\":false}",
                 FH_EV_REQUEST_ERROR);
    assert_int_equal(M.symbol.n, 0);
    assert_int_equal(M.req_id, INT64_MAX);
    expect_event("{\"error\":\"Exceeded msg rate\",\"method\":\"unsubscribe\",\"success\":false}",
                 FH_EV_REQUEST_ERROR);

    expect_reject("{\"method\":\"subscribe\",\"result\":{\"channel\":\"trade\"}}",
                  FH_REJ_MISSING_FIELD);
    expect_reject("{\"method\":\"subscribe\",\"success\":true}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"method\":\"subscribe\",\"success\":\"true\",\"result\":{}}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"method\":\"subscribe\",\"success\":true,\"result\":[]}", FH_REJ_BAD_FIELD);
    expect_reject("{\"method\":\"subscribe\",\"success\":true,\"result\":{\"symbol\":1}}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"method\":\"subscribe\",\"success\":false,\"error\":{}}", FH_REJ_BAD_FIELD);
    expect_reject("{\"method\":\"subscribe\",\"success\":true,\"result\":{},\"req_id\":\"1\"}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"method\":\"subscribe\",\"success\":true,\"result\":{},\"req_id\":"
                  "9223372036854775808}",
                  FH_REJ_BAD_FIELD);
}

static void test_heartbeat_pong_other(void **state)
{
    (void)state;
    expect_event("{\"channel\":\"heartbeat\"}", FH_EV_HEARTBEAT);
    expect_event("{\"method\":\"pong\",\"req_id\":1,\"time_in\":\"2024-05-20T11:08:49.272922Z\","
                 "\"time_out\":\"2024-05-20T11:08:49.272940Z\"}",
                 FH_EV_PONG);
    assert_int_equal(M.req_id, 1);
    expect_event("{\"method\":\"pong\"}", FH_EV_PONG);
    assert_false(M.has_req_id);
    expect_event("{\"method\":\"pong\",\"req_id\":5,\"success\":true,\"warnings\":[]}", FH_EV_PONG);
    /* The failed ping reply in the corpus. */
    expect_event("{\"error\":\"Unsupported field: 'params' for the given msg type: ping\","
                 "\"method\":\"ping\",\"req_id\":0,\"success\":false,\"time_in\":"
                 "\"2024-05-19T19:58:40.170724Z\",\"time_out\":\"2024-05-19T19:58:40.170758Z\"}",
                 FH_EV_REQUEST_ERROR);
    assert_str(M.text, "Unsupported field: 'params' for the given msg type: ping");
    assert_int_equal(M.req_id, 0);
    expect_reject("{\"method\":\"pong\",\"req_id\":1.5}", FH_REJ_BAD_FIELD);
    expect_reject("{\"method\":\"pong\",\"success\":1}", FH_REJ_BAD_FIELD);

    /* Replies to methods we never send and channels we do not consume are ignored. */
    expect_event("{\"method\":\"cancel_all_orders_after\",\"req_id\":0,\"result\":{"
                 "\"currentTime\":\"2024-05-19T19:22:20Z\",\"triggerTime\":"
                 "\"2024-05-19T19:22:25Z\"},\"success\":true}",
                 FH_EV_IGNORED);
    expect_event("{\"method\":\"add_order\",\"success\":false,\"error\":\"EOrder:x\"}",
                 FH_EV_IGNORED);
    static const char *const ign[] = {"book",   "ticker",     "ohlc",     "instrument",
                                      "level3", "executions", "balances", "spread"};
    char msg[128];
    for (size_t i = 0; i < sizeof(ign) / sizeof(ign[0]); i++) {
        snprintf(msg, sizeof(msg), "{\"channel\":\"%s\",\"type\":\"update\",\"data\":[]}", ign[i]);
        expect_event(msg, FH_EV_IGNORED);
        assert_str(M.channel, ign[i]);
    }
    expect_reject("{\"channel\":1}", FH_REJ_BAD_FIELD);
    expect_reject("{\"method\":null}", FH_REJ_BAD_FIELD);
    expect_reject("{\"event\":\"heartbeat\"}", FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("{}", FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("[\"channel\",\"heartbeat\"]", FH_REJ_UNKNOWN_MESSAGE);
    /* An escaped key is the same key. */
    expect_event("{\"ch\\u0061nnel\":\"heartbeat\"}", FH_EV_HEARTBEAT);
}

/* ---- trades ----------------------------------------------------------------------------- */

static void test_trades_from_corpus(void **state)
{
    (void)state;
    /* kraken_v2_trade.reflowed.ndjson line 1 (snapshot) and line 2 (update). */
    expect_event(
        "{\"channel\":\"trade\",\"type\":\"snapshot\",\"data\":[{\"symbol\":\"BTC/USD\",\"side\":"
        "\"sell\",\"price\":68466.9,\"qty\":0.01919415,\"ord_type\":\"market\",\"trade_id\":"
        "70635251,\"timestamp\":\"2024-05-27T12:33:10.826003Z\"},{\"symbol\":\"BTC/USD\","
        "\"side\":\"buy\",\"price\":68471.2,\"qty\":0.00007723,\"ord_type\":\"limit\","
        "\"trade_id\":70635252,\"timestamp\":\"2024-05-27T12:33:10.980704Z\"}]}",
        FH_EV_TRADES);
    assert_true(M.snapshot);
    assert_int_equal(M.n_trades, 2);
    assert_str(M.channel, "trade");
    assert_str(M.symbol, "BTC/USD");
    const struct fh_trade *t = &M.trades[0];
    assert_str(t->venue, "kraken");
    assert_str(t->symbol, "BTC-USD");
    assert_str(t->native_symbol, "BTC/USD");
    assert_true(fh_decimal_eq(t->price, dec(684669, 1)));
    assert_true(fh_decimal_eq(t->quantity, dec(1919415, 8)));
    assert_int_equal(t->side, FH_SIDE_SELL);
    assert_int_equal(t->order_type, FH_ORDER_MARKET);
    assert_true(t->trade_id == 70635251);
    assert_int_equal(t->has, FH_HAS_TRADE_ID | FH_HAS_SYMBOL_INDEX);
    /* 2024-05-27T12:33:10Z is 1716813190 (date -u -d ... +%s). */
    assert_true(t->trade_time_us == INT64_C(1716813190826003));
    assert_int_equal(t->source, FH_SOURCE_SNAPSHOT);
    assert_int_equal(t->kind, FH_KIND_TRADE);
    assert_true(t->receive_time_ns == 0 && t->connection_id == 0 && t->sequence == 0 &&
                t->event_time_us == 0 && t->first_trade_id == 0 && t->last_trade_id == 0);
    t = &M.trades[1];
    assert_true(fh_decimal_eq(t->price, dec(684712, 1)));
    assert_true(fh_decimal_eq(t->quantity, dec(7723, 8)));
    assert_int_equal(t->side, FH_SIDE_BUY);
    assert_int_equal(t->order_type, FH_ORDER_LIMIT);
    assert_true(t->trade_id == 70635252);
    assert_true(t->trade_time_us == INT64_C(1716813190980704));

    expect_event(
        "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"BTC/USD\",\"side\":"
        "\"buy\",\"price\":68500.0,\"qty\":0.01044926,\"ord_type\":\"limit\",\"trade_id\":"
        "70635299,\"timestamp\":\"2024-05-27T12:43:11.798009Z\"},{\"symbol\":\"BTC/USD\","
        "\"side\":\"buy\",\"price\":68500.0,\"qty\":0.00483192,\"ord_type\":\"limit\","
        "\"trade_id\":70635300,\"timestamp\":\"2024-05-27T12:43:11.798009Z\"}]}",
        FH_EV_TRADES);
    assert_false(M.snapshot);
    assert_int_equal(M.trades[0].source, FH_SOURCE_LIVE);
    assert_int_equal(M.trades[1].source, FH_SOURCE_LIVE);
    assert_true(fh_decimal_eq(M.trades[1].price, dec(68500, 0)));
    assert_true(fh_decimal_eq(M.trades[1].quantity, dec(483192, 8)));
    assert_true(M.trades[1].trade_id == 70635300);
    assert_true(M.trades[1].trade_time_us == INT64_C(1716813791798009));

    /* The protocols.md live capture (2026-10-06). */
    expect_event("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"BTC/USD\","
                 "\"side\":\"buy\",\"price\":85772.4,\"qty\":0.00043721,\"ord_type\":\"limit\","
                 "\"trade_id\":110386729,\"timestamp\":\"2026-10-06T18:14:44.947782Z\"}]}",
                 FH_EV_TRADES);
    assert_true(M.trades[0].trade_time_us == INT64_C(1791310484947782));
}

/* One trade message with price and qty token texts substituted. */
static void trade_msg(char *buf, size_t cap, const char *price, const char *qty, const char *ts,
                      const char *extra)
{
    snprintf(buf, cap,
             "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"ETH/USD\","
             "\"side\":\"sell\",\"price\":%s,\"qty\":%s,\"ord_type\":\"market\",\"trade_id\":1,"
             "\"timestamp\":\"%s\"%s}]}",
             price, qty, ts, extra);
}

static void test_number_forms(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t mantissa;
        unsigned scale;
    } ok[] = {
        {"1e-08", 1, 8},       {"1E-8", 1, 8},
        {"2.5E+3", 2500, 0},   {"2.5e3", 2500, 0},
        {"40.0", 40, 0},       {"1", 1, 0},
        {"68500.0", 68500, 0}, {"0.00000000000000000001e2", 1, 18},
        {"1000e-21", 1, 18},   {"0.123456789012345678", 123456789012345678, 18},
        {"\"0.5\"", 5, 1}, /* a decimal string is accepted as well */
    };
    char msg[512];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        trade_msg(msg, sizeof(msg), ok[i].text, ok[i].text, "2024-05-27T12:33:10.826003Z", "");
        expect_event(msg, FH_EV_TRADES);
        if (!fh_decimal_eq(M.trades[0].price, dec(ok[i].mantissa, ok[i].scale)) ||
            !fh_decimal_eq(M.trades[0].quantity, dec(ok[i].mantissa, ok[i].scale)))
            fail_msg("%s converted wrongly", ok[i].text);
        assert_str(M.trades[0].symbol, "ETH-USD");
    }
    /* The largest value decimal(38,18) holds. */
    trade_msg(msg, sizeof(msg), "99999999999999999999.999999999999999999", "1",
              "2024-05-27T12:33:10Z", "");
    expect_event(msg, FH_EV_TRADES);
    assert_true(M.trades[0].price.units == fh_decimal_max_units());

    static const struct {
        const char *price, *qty;
        enum fh_reject r;
    } bad[] = {
        {"0", "1", FH_REJ_BAD_PRICE},
        {"0.0", "1", FH_REJ_BAD_PRICE},
        {"-1", "1", FH_REJ_BAD_PRICE},
        {"-0", "1", FH_REJ_BAD_PRICE},
        {"1e20", "1", FH_REJ_BAD_PRICE}, /* too large for decimal(38,18) */
        {"100000000000000000000", "1", FH_REJ_BAD_PRICE},
        {"1", "1e-19", FH_REJ_BAD_QUANTITY}, /* finer than 18 decimals */
        {"1", "0.0000000000000000001", FH_REJ_BAD_QUANTITY},
        {"1", "1.0000000000000000001", FH_REJ_BAD_QUANTITY},
        {"1", "123456789012345678901234567890123456789", FH_REJ_BAD_QUANTITY},
        {"1", "1e999999999999999999999", FH_REJ_BAD_QUANTITY},
        {"1", "0e0", FH_REJ_BAD_QUANTITY},
        {"1", "\"1e-8\"", FH_REJ_BAD_QUANTITY}, /* strings carry no exponent */
        {"\"abc\"", "1", FH_REJ_BAD_PRICE},
        {"true", "1", FH_REJ_BAD_FIELD},
        {"null", "1", FH_REJ_BAD_FIELD},
        {"[1]", "1", FH_REJ_BAD_FIELD},
        {"1", "{}", FH_REJ_BAD_FIELD},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        trade_msg(msg, sizeof(msg), bad[i].price, bad[i].qty, "2024-05-27T12:33:10Z", "");
        expect_reject(msg, bad[i].r);
    }
    /* JSON grammar is enforced by the tokenizer: these never reach the converter. */
    trade_msg(msg, sizeof(msg), "01.5", "1", "2024-05-27T12:33:10Z", "");
    expect_reject(msg, FH_REJ_JSON);
    trade_msg(msg, sizeof(msg), "1.", "1", "2024-05-27T12:33:10Z", "");
    expect_reject(msg, FH_REJ_JSON);
    trade_msg(msg, sizeof(msg), "+1", "1", "2024-05-27T12:33:10Z", "");
    expect_reject(msg, FH_REJ_JSON);
    trade_msg(msg, sizeof(msg), "NaN", "1", "2024-05-27T12:33:10Z", "");
    expect_reject(msg, FH_REJ_JSON);
}

static void test_timestamps(void **state)
{
    (void)state;
    static const struct {
        const char *ts;
        int64_t us;
    } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.000001Z", 1},
        {"2024-05-27T12:33:10.826003Z", INT64_C(1716813190826003)},
        {"2024-05-27T12:33:10Z", INT64_C(1716813190000000)},           /* no fraction */
        {"2024-05-27T12:33:10.8Z", INT64_C(1716813190800000)},         /* 1 digit */
        {"2024-05-27T12:33:10.826003999Z", INT64_C(1716813190826003)}, /* ns truncated */
        {"2024-05-27t12:33:10.826003z", INT64_C(1716813190826003)},    /* RFC 3339 5.6 note */
        {"2024-05-27T12:33:10.826003+00:00", INT64_C(1716813190826003)},
        {"2024-05-27T12:33:10.826003-00:00", INT64_C(1716813190826003)},
        {"2024-05-27T14:33:10.826003+02:00", INT64_C(1716813190826003)}, /* exact offsets */
        {"2024-05-27T07:03:10.826003-05:30", INT64_C(1716813190826003)},
        {"2024-02-29T00:00:00Z", INT64_C(1709164800000000)},       /* leap day */
        {"2000-02-29T23:59:59.999999Z", INT64_C(951868799999999)}, /* 400-year leap */
        {"2400-02-29T00:00:00Z", INT64_C(13574563200000000)},
        {"1999-12-31T23:59:59Z", INT64_C(946684799000000)},
        {"2038-01-19T03:14:08Z", INT64_C(2147483648000000)}, /* past int32 */
        {"9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999)},
        {"1970-01-01T01:00:00+01:00", 0},
    };
    char msg[512];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        trade_msg(msg, sizeof(msg), "1", "1", ok[i].ts, "");
        expect_event(msg, FH_EV_TRADES);
        if (M.trades[0].trade_time_us != ok[i].us)
            fail_msg("%s -> %" PRId64 ", want %" PRId64, ok[i].ts, M.trades[0].trade_time_us,
                     ok[i].us);
    }
    static const char *const bad[] = {
        "",
        "2024-05-27",
        "2024-05-27T12:33:10",             /* no zone */
        "2024-05-27 12:33:10Z",            /* space separator */
        "2024-05-27T12:33:10.Z",           /* empty fraction */
        "2024-05-27T12:33:10.1234567890Z", /* 10 fraction digits */
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2023-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* century, not a leap year (and before 1970) */
        "2100-02-29T00:00:00Z", /* century, not a leap year */
        "2024-04-31T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2016-12-31T23:59:60Z", /* leap second */
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+01:60",
        "2024-01-01T00:00:00+0100",
        "2024-01-01T00:00:00+01",
        "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00Z ",
        "1969-12-31T23:59:59.999999Z", /* before the epoch */
        "1970-01-01T00:00:00+00:01",   /* before the epoch after the offset */
        "9999-12-31T23:59:59-00:01",   /* past the end after the offset */
        "+2024-01-01T00:00:00Z",
        "2024-1-01T00:00:00Z",
        "２024-01-01T00:00:00Z",
        "2024-05-27T12:33:10.826003\\u005a", /* escaped Z */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        trade_msg(msg, sizeof(msg), "1", "1", bad[i], "");
        expect_reject(msg, FH_REJ_BAD_TIME);
    }
    snprintf(msg, sizeof(msg),
             "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"ETH/USD\","
             "\"side\":\"sell\",\"price\":1,\"qty\":1,\"ord_type\":\"market\",\"trade_id\":1,"
             "\"timestamp\":1716813190}]}");
    expect_reject(msg, FH_REJ_BAD_FIELD);
}

static void test_trade_fields(void **state)
{
    (void)state;
    char msg[512];
    /* trade ids at the edges of int64. */
    snprintf(msg, sizeof(msg),
             "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"ETH/USD\","
             "\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":\"limit\",\"trade_id\":"
             "9223372036854775807,\"timestamp\":\"2024-05-27T12:33:10Z\"}]}");
    expect_event(msg, FH_EV_TRADES);
    assert_true(M.trades[0].trade_id == INT64_MAX);
    static const char *const bad_ids[] = {
        "9223372036854775808", "-1", "1.0", "1e3", "\"1\"", "null"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        snprintf(msg, sizeof(msg),
                 "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"ETH/USD\","
                 "\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":\"limit\",\"trade_id\":%s,"
                 "\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                 bad_ids[i]);
        expect_reject(msg, FH_REJ_BAD_FIELD);
    }
    /* Each required field missing in turn. */
    static const char *const fields[] = {"\"symbol\":\"ETH/USD\"",
                                         "\"side\":\"buy\"",
                                         "\"price\":1",
                                         "\"qty\":1",
                                         "\"ord_type\":\"limit\"",
                                         "\"trade_id\":1",
                                         "\"timestamp\":\"2024-05-27T12:33:10Z\""};
    const size_t nf = sizeof(fields) / sizeof(fields[0]);
    for (size_t skip = 0; skip < nf; skip++) {
        char body[256];
        size_t bl = 0;
        for (size_t i = 0; i < nf; i++) {
            if (i == skip)
                continue;
            int w = snprintf(body + bl, sizeof(body) - bl, "%s%s", bl ? "," : "", fields[i]);
            assert_true(w > 0 && (size_t)w < sizeof(body) - bl);
            bl += (size_t)w;
        }
        snprintf(msg, sizeof(msg), "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{%s}]}",
                 body);
        expect_reject(msg, FH_REJ_MISSING_FIELD);
    }
    /* Extra and unknown fields are fine; codes are checked. */
    trade_msg(msg, sizeof(msg), "1", "1", "2024-05-27T12:33:10Z", ",\"new\":{\"a\":[1,2]}");
    expect_event(msg, FH_EV_TRADES);
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"ETH/USD\","
                  "\"side\":\"long\",\"price\":1,\"qty\":1,\"ord_type\":\"limit\",\"trade_id\":1,"
                  "\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"ETH/USD\","
                  "\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":\"stop\",\"trade_id\":1,"
                  "\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                  FH_REJ_BAD_FIELD);
    /* Short codes as in v1 are accepted. */
    expect_event("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"ETH/USD\","
                 "\"side\":\"s\",\"price\":1,\"qty\":1,\"ord_type\":\"m\",\"trade_id\":1,"
                 "\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                 FH_EV_TRADES);
    assert_int_equal(M.trades[0].side, FH_SIDE_SELL);
    assert_int_equal(M.trades[0].order_type, FH_ORDER_MARKET);
    /* Envelope errors. */
    expect_reject("{\"channel\":\"trade\",\"data\":[]}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\"}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"channel\":\"trade\",\"type\":\"delta\",\"data\":[]}", FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"trade\",\"type\":1,\"data\":[]}", FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\",\"data\":{}}", FH_REJ_BAD_FIELD);
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[1]}", FH_REJ_BAD_FIELD);
    /* Symbols: v1 names are unknown to the v2 table, as they are to Kraken. */
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"XBT/USD\","
                  "\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":\"limit\",\"trade_id\":1,"
                  "\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                  FH_REJ_UNKNOWN_SYMBOL);
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":7,"
                  "\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":\"limit\",\"trade_id\":1,"
                  "\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                  FH_REJ_BAD_FIELD);
}

static void test_mixed_symbols_unicode_escapes_empty(void **state)
{
    (void)state;
    /* Two symbols in one message: the lookup cache must not leak between them. */
    expect_event("{\"channel\":\"trade\",\"type\":\"update\",\"data\":["
                 "{\"symbol\":\"BTC/USD\",\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":"
                 "\"limit\",\"trade_id\":1,\"timestamp\":\"2024-05-27T12:33:10Z\"},"
                 "{\"symbol\":\"DOGE/USD\",\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":"
                 "\"limit\",\"trade_id\":2,\"timestamp\":\"2024-05-27T12:33:10Z\"},"
                 "{\"symbol\":\"\\u00c4PFEL\\/\\u20ac\",\"side\":\"buy\",\"price\":1,\"qty\":1,"
                 "\"ord_type\":\"limit\",\"trade_id\":3,\"timestamp\":\"2024-05-27T12:33:10Z\"},"
                 "{\"symbol\":\"\xc3\x84PFEL/\xe2\x82\xac\",\"side\":\"buy\",\"price\":1,\"qty\":1,"
                 "\"ord_type\":\"limit\",\"trade_id\":4,\"timestamp\":\"2024-05-27T12:33:10Z\"},"
                 "{\"symbol\":\"BTC\\/USD\",\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":"
                 "\"limit\",\"trade_id\":5,\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                 FH_EV_TRADES);
    assert_int_equal(M.n_trades, 5);
    assert_str(M.trades[0].symbol, "BTC-USD");
    assert_str(M.trades[1].symbol, "DOGE-USD");
    assert_str(M.trades[1].native_symbol, "DOGE/USD");
    assert_str(M.trades[2].symbol, "\xc3\x84PFEL-\xe2\x82\xac");
    assert_str(M.trades[2].native_symbol, "\xc3\x84PFEL/\xe2\x82\xac");
    assert_str(M.trades[3].symbol, "\xc3\x84PFEL-\xe2\x82\xac");
    assert_str(M.trades[4].native_symbol, "BTC/USD");
    assert_str(M.trades[4].symbol, "BTC-USD");
    /* An empty snapshot (an idle pair) is a valid trade message without trades. */
    expect_event("{\"channel\":\"trade\",\"type\":\"snapshot\",\"data\":[]}", FH_EV_TRADES);
    assert_int_equal(M.n_trades, 0);
    assert_true(M.snapshot);
    expect_event("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[]}", FH_EV_TRADES);
    assert_false(M.snapshot);
    /* One bad trade rejects the message. */
    expect_reject("{\"channel\":\"trade\",\"type\":\"update\",\"data\":["
                  "{\"symbol\":\"BTC/USD\",\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":"
                  "\"limit\",\"trade_id\":1,\"timestamp\":\"2024-05-27T12:33:10Z\"},"
                  "{\"symbol\":\"BTC/USD\",\"side\":\"buy\",\"price\":1,\"qty\":0,\"ord_type\":"
                  "\"limit\",\"trade_id\":2,\"timestamp\":\"2024-05-27T12:33:10Z\"}]}",
                  FH_REJ_BAD_QUANTITY);
}

static void test_limits_truncation(void **state)
{
    (void)state;
    const char *m = "{\"channel\":\"trade\",\"type\":\"update\",\"data\":["
                    "{\"symbol\":\"BTC/USD\",\"side\":\"buy\",\"price\":1,\"qty\":1,\"ord_type\":"
                    "\"limit\",\"trade_id\":1,\"timestamp\":\"2024-05-27T12:33:10Z\"},"
                    "{\"symbol\":\"BTC/USD\",\"side\":\"buy\",\"price\":2,\"qty\":1,\"ord_type\":"
                    "\"limit\",\"trade_id\":2,\"timestamp\":\"2024-05-27T12:33:10Z\"}]}";
    size_t n = strlen(m);
    struct fh_venue_parser small;
    struct fh_venue_parser_opts o = {.max_trades = 1};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v2, &T, &o), 0);
    assert_int_equal(parse_with(&small, m, n), -1);
    assert_int_equal(M.reject, FH_REJ_TOO_MANY_TRADES);
    fh_venue_parser_release(&small);
    o = (struct fh_venue_parser_opts){.max_message_bytes = n - 1};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v2, &T, &o), 0);
    assert_int_equal(parse_with(&small, m, n), -1);
    assert_int_equal(M.reject, FH_REJ_OVERSIZE);
    fh_venue_parser_release(&small);
    o = (struct fh_venue_parser_opts){.max_tokens = 16};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v2, &T, &o), 0);
    assert_int_equal(parse_with(&small, m, n), -1);
    assert_int_equal(M.reject, FH_REJ_TOO_MANY_TOKENS);
    fh_venue_parser_release(&small);
    struct fh_venue_parser bare;
    assert_int_equal(fh_venue_parser_init(&bare, &fh_venue_kraken_v2, NULL, NULL), 0);
    assert_int_equal(parse_with(&bare, m, n), -1);
    assert_int_equal(M.reject, FH_REJ_UNKNOWN_SYMBOL);
    fh_venue_parser_release(&bare);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(parse_with(&P, m, k), -1);
        assert_int_equal(M.reject, FH_REJ_JSON);
    }
    expect_reject("{\"channel\":\"heartbeat\"\xff}", FH_REJ_UTF8);
}

/* ---- builders --------------------------------------------------------------------------- */

static void test_builders(void **state)
{
    (void)state;
    const struct fh_venue_ops *ops = &fh_venue_kraken_v2;
    assert_string_equal(ops->name, "kraken-v2");
    assert_string_equal(ops->venue, "kraken");
    struct fh_buf b;
    fh_buf_init(&b, 4096);
    struct fh_str syms[] = {FH_STR_LIT("BTC/USD"), FH_STR_LIT("MATIC/USD")};
    struct fh_sub_spec spec = {
        .symbols = syms, .n_symbols = 2, .channels = FH_CH_TRADE, .snapshot = true, .req_id = 7};
    assert_int_equal(ops->build_url("wss://ws.kraken.com/v2", &spec, &b), 0);
    assert_string_equal(b.data, "wss://ws.kraken.com/v2");
    fh_buf_reset(&b);
    assert_int_equal(ops->build_subscribe(&spec, &b), 0);
    assert_string_equal(b.data, "{\"method\":\"subscribe\",\"params\":{\"channel\":\"trade\","
                                "\"symbol\":[\"BTC/USD\",\"MATIC/USD\"],\"snapshot\":true},"
                                "\"req_id\":7}");
    fh_buf_reset(&b);
    spec.snapshot = false;
    assert_int_equal(ops->build_subscribe(&spec, &b), 0);
    assert_string_equal(b.data, "{\"method\":\"subscribe\",\"params\":{\"channel\":\"trade\","
                                "\"symbol\":[\"BTC/USD\",\"MATIC/USD\"],\"snapshot\":false},"
                                "\"req_id\":7}");
    fh_buf_reset(&b);
    spec.n_symbols = 1;
    assert_int_equal(ops->build_unsubscribe(&spec, &b), 0);
    assert_string_equal(b.data, "{\"method\":\"unsubscribe\",\"params\":{\"channel\":\"trade\","
                                "\"symbol\":[\"BTC/USD\"]},\"req_id\":7}");
    fh_buf_reset(&b);
    assert_int_equal(ops->build_ping(101, &b), 0);
    assert_string_equal(b.data, "{\"method\":\"ping\",\"req_id\":101}");
    /* Every request is valid JSON our own v2 tokenizer accepts. */
    struct fh_json j;
    assert_int_equal(fh_json_init(&j, 64), 0);
    assert_int_equal(fh_json_parse(&j, b.data, b.len), 0);
    fh_json_release(&j);

    fh_buf_reset(&b);
    fh_buf_append(&b, "keep", 4);
    struct fh_str bad[] = {FH_STR_LIT("BTCUSD"), FH_STR_LIT("BTC/\"USD"), FH_STR_LIT("")};
    for (size_t i = 0; i < 3; i++) {
        struct fh_sub_spec s1 = {.symbols = &bad[i], .n_symbols = 1, .channels = FH_CH_TRADE};
        assert_int_equal(ops->build_subscribe(&s1, &b), FH_EINVAL);
        assert_int_equal(ops->build_unsubscribe(&s1, &b), FH_EINVAL);
    }
    spec.channels = FH_CH_AGG_TRADE;
    assert_int_equal(ops->build_subscribe(&spec, &b), FH_EUNSUPPORTED);
    assert_int_equal(ops->build_subscribe(NULL, &b), FH_EINVAL);
    assert_int_equal(ops->build_url(NULL, &spec, &b), FH_EINVAL);
    assert_int_equal(b.len, 4);
    fh_buf_release(&b);
}

/* ---- corpus ----------------------------------------------------------------------------- */

struct tally {
    size_t lines, trade_msgs, snapshots, trades, ignored, status, subscribed, unsubscribed,
        req_errors, heartbeats, pongs, rejected;
    size_t x_trade_msgs, x_snapshots, x_trades, x_ignored, x_status, x_subscribed, x_req_errors,
        x_heartbeats, x_pongs;
};

static size_t count_sub(const char *s, size_t n, const char *needle)
{
    size_t c = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            c++;
    return c;
}

static bool starts(const char *s, size_t n, const char *p)
{
    return n >= strlen(p) && memcmp(s, p, strlen(p)) == 0;
}

static void corpus_line(const char *line, size_t len, void *ctx)
{
    struct tally *t = ctx;
    t->lines++;
    /* Independent classification by text. */
    if (starts(line, len, "{\"channel\":\"trade\"")) {
        t->x_trade_msgs++;
        t->x_snapshots += count_sub(line, len, "\"type\":\"snapshot\"");
        t->x_trades += count_sub(line, len, "\"trade_id\":");
    } else if (starts(line, len, "{\"channel\":\"heartbeat\"")) {
        t->x_heartbeats++;
    } else if (starts(line, len, "{\"channel\":\"status\"")) {
        t->x_status++;
    } else if (starts(line, len, "{\"channel\":")) {
        t->x_ignored++;
    } else if (count_sub(line, len, "\"method\":\"pong\"")) {
        t->x_pongs++;
    } else if (count_sub(line, len, "\"success\":false")) {
        t->x_req_errors++;
    } else if (count_sub(line, len, "\"method\":\"subscribe\"")) {
        t->x_subscribed++;
    } else {
        t->x_ignored++;
    }

    if (parse_with(&P, line, len) != 0) {
        t->rejected++;
        print_message("line %zu rejected: %s\n", t->lines, fh_reject_name(M.reject));
        return;
    }
    switch (M.event) {
    case FH_EV_TRADES:
        t->trade_msgs++;
        t->snapshots += M.snapshot;
        t->trades += M.n_trades;
        for (size_t i = 0; i < M.n_trades; i++) {
            const struct fh_trade *tr = &M.trades[i];
            assert_true(tr->has & FH_HAS_TRADE_ID);
            assert_true(tr->trade_time_us >= INT64_C(1700000000000000) &&
                        tr->trade_time_us < INT64_C(1800000000000000));
            assert_int_equal(tr->source, M.snapshot ? FH_SOURCE_SNAPSHOT : FH_SOURCE_LIVE);
        }
        break;
    case FH_EV_IGNORED:
        t->ignored++;
        break;
    case FH_EV_STATUS:
        t->status++;
        assert_true(M.server_connection_id > (uint64_t)INT64_MAX);
        break;
    case FH_EV_SUBSCRIBED:
        t->subscribed++;
        break;
    case FH_EV_UNSUBSCRIBED:
        t->unsubscribed++;
        break;
    case FH_EV_REQUEST_ERROR:
        t->req_errors++;
        break;
    case FH_EV_HEARTBEAT:
        t->heartbeats++;
        break;
    case FH_EV_PONG:
        t->pongs++;
        break;
    default:
        fail_msg("line %zu: unexpected event %d", t->lines, M.event);
    }
}

static void corpus_file(const char *path, void *ctx)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "kraken_v2_", 10) != 0)
        return;
    struct tally *sum = ctx;
    struct tally t = {0};
    fh_test_each_line(path, corpus_line, &t);
    print_message("%s: %zu lines, %zu trade msgs (%zu snapshots), %zu trades, %zu ignored, "
                  "%zu status, %zu subscribed, %zu errors, %zu heartbeats, %zu pongs\n",
                  base, t.lines, t.trade_msgs, t.snapshots, t.trades, t.ignored, t.status,
                  t.subscribed, t.req_errors, t.heartbeats, t.pongs);
    assert_int_equal(t.rejected, 0);
    assert_int_equal(t.trade_msgs, t.x_trade_msgs);
    assert_int_equal(t.snapshots, t.x_snapshots);
    assert_int_equal(t.trades, t.x_trades);
    assert_int_equal(t.ignored, t.x_ignored);
    assert_int_equal(t.status, t.x_status);
    assert_int_equal(t.subscribed, t.x_subscribed);
    assert_int_equal(t.unsubscribed, 0);
    assert_int_equal(t.req_errors, t.x_req_errors);
    assert_int_equal(t.heartbeats, t.x_heartbeats);
    assert_int_equal(t.pongs, t.x_pongs);
    sum->lines += t.lines;
    sum->trades += t.trades;
    sum->trade_msgs += t.trade_msgs;
    sum->rejected++; /* used as a file count here */
}

static void test_corpus(void **state)
{
    (void)state;
    struct tally sum = {0};
    fh_test_each_file(fh_test_corpus_dir(), ".ndjson", corpus_file, &sum);
    /* control, other, other.reflowed, trade.reflowed */
    assert_int_equal(sum.rejected, 4);
    assert_int_equal(sum.trade_msgs, 2);
    assert_int_equal(sum.trades, 4);
}

static void test_instrument_channel(void **state)
{
    (void)state;
    /* kraken_v2_other.reflowed.ndjson: the instrument snapshot (trimmed of numbers we do not
     * read, otherwise as captured). */
    const char *m =
        "{\"channel\":\"instrument\",\"type\":\"snapshot\",\"data\":{\"assets\":[{\"id\":\"USD\","
        "\"status\":\"enabled\",\"precision\":4}],\"pairs\":[{\"symbol\":\"EUR/USD\",\"base\":"
        "\"EUR\",\"quote\":\"USD\",\"status\":\"online\",\"qty_precision\":8,\"qty_increment\":"
        "0.00000001,\"price_precision\":5,\"cost_precision\":5},{\"symbol\":\"ETH/BTC\",\"base\":"
        "\"ETH\",\"quote\":\"BTC\",\"status\":\"online\",\"qty_precision\":8,\"qty_increment\":"
        "1e-08,\"price_precision\":5}]}}";
    expect_event(m, FH_EV_IGNORED);
    assert_str(M.channel, "instrument");
    struct fh_symbols t2;
    assert_int_equal(fh_symbols_init(&t2, 8), 0);
    size_t added = 0;
    char err[256] = "";
    int rc = fh_kraken_v2_parse_instrument(&P, m, strlen(m), &t2, &added, err, sizeof(err));
    if (rc != 0)
        fail_msg("instrument: %s", err);
    assert_int_equal(added, 2);
    const struct fh_symbol *e = fh_symbols_find(&t2, FH_STR_LIT("ETH/BTC"));
    assert_non_null(e);
    assert_string_equal(e->canonical, "ETH-BTC");
    assert_int_equal(e->price_decimals, 5);
    assert_int_equal(e->qty_decimals, 8);
    assert_string_equal(e->status, "online");
    e = fh_symbols_find(&t2, FH_STR_LIT("EUR/USD"));
    assert_non_null(e);
    assert_string_equal(e->canonical, "EUR-USD");
    /* The same document through the v2 metadata entry point (a cached file). */
    fh_symbols_release(&t2);
    assert_int_equal(fh_symbols_init(&t2, 8), 0);
    assert_int_equal(fh_venue_kraken_v2.parse_metadata(m, strlen(m), &t2, err, sizeof(err)), 0);
    assert_int_equal(t2.n, 2);
    /* v1 cannot use v2 names. */
    assert_true(fh_venue_kraken_v1.parse_metadata(m, strlen(m), &t2, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "AssetPairs"));
    fh_symbols_release(&t2);

    /* Fuzzer finding: a pair listed twice identically is one entry, counted once. */
    const char *dup = "{\"channel\":\"instrument\",\"data\":{\"pairs\":[{\"symbol\":\"A/B\","
                      "\"base\":\"A\",\"quote\":\"B\"},{\"symbol\":\"A/B\",\"base\":\"A\","
                      "\"quote\":\"B\",\"price_precision\":3}]}}";
    assert_int_equal(fh_symbols_init(&t2, 8), 0);
    assert_int_equal(
        fh_kraken_v2_parse_instrument(&P, dup, strlen(dup), &t2, &added, err, sizeof(err)), 0);
    assert_int_equal(added, 1);
    assert_int_equal(t2.n, 1);
    fh_symbols_release(&t2);

    /* Refusals, each with a sentence. */
    assert_int_equal(fh_symbols_init(&t2, 1), 0);
    static const char *const bad[] = {
        "{\"channel\":\"book\",\"data\":{\"pairs\":[]}}",
        "{\"channel\":\"instrument\",\"data\":{}}",
        "{\"channel\":\"instrument\",\"data\":{\"pairs\":[{\"symbol\":\"A/B\",\"base\":\"A\"}]}}",
        /* the table holds one pair */
        ("{\"channel\":\"instrument\",\"data\":{\"pairs\":[{\"symbol\":\"A/B\",\"base\":\"A\","
         "\"quote\":\"B\"},{\"symbol\":\"C/D\",\"base\":\"C\",\"quote\":\"D\"}]}}"),
        "{\"channel\":\"instrument\"",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_true(fh_kraken_v2_parse_instrument(&P, bad[i], strlen(bad[i]), &t2, NULL, err,
                                                  sizeof(err)) < 0);
        assert_true(strlen(err) > 10);
    }
    fh_symbols_release(&t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_acks),
        cmocka_unit_test(test_heartbeat_pong_other),
        cmocka_unit_test(test_trades_from_corpus),
        cmocka_unit_test(test_number_forms),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_trade_fields),
        cmocka_unit_test(test_mixed_symbols_unicode_escapes_empty),
        cmocka_unit_test(test_limits_truncation),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_instrument_channel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
