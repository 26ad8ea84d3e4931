/*
 * test_kraken_v1.c - Kraken WebSocket v1 adapter (src/venue/kraken_v1.c, kraken_common.c).
 *
 * Symbols come from tests/data/kraken_assetpairs.json (AssetPairs?assetVersion=1 form), so
 * the canonical names checked here are the ones the metadata yields (XBT/USD -> BTC-USD).
 * Expected prices are written as integers with a scale, independent of the decimal parser.
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

static void load_symbols(struct fh_symbols *t)
{
    char path[4096];
    const char *src = getenv("FH_SOURCE_DIR");
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/tests/data/kraken_assetpairs.json", src);
    size_t n;
    char *body = fh_test_read_file(path, &n);
    char err[256] = "";
    assert_int_equal(fh_symbols_init(t, 256), 0);
    int rc = fh_kraken_parse_metadata(body, n, FH_KRAKEN_NAMES_V1, t, NULL, err, sizeof(err));
    if (rc != 0)
        fail_msg("metadata: %s", err);
    free(body);
    /* A non-ASCII pair for the UTF-8 cases. */
    struct fh_symbol *e;
    assert_int_equal(fh_symbols_add(t, fh_str_c("\xc3\x84PFEL/\xe2\x82\xac"),
                                    fh_str_c("\xc3\x84PFEL"), fh_str_c("\xe2\x82\xac"), &e),
                     0);
}

static int setup(void **state)
{
    (void)state;
    load_symbols(&T);
    return fh_venue_parser_init(&P, &fh_venue_kraken_v1, &T, NULL);
}

static int teardown(void **state)
{
    (void)state;
    fh_venue_parser_release(&P);
    fh_symbols_release(&T);
    return 0;
}

/* Parses s from an exact-size heap copy, so that ASan sees any read past the message. */
static int parse_with(struct fh_venue_parser *p, const char *s, size_t n)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int rc = fh_venue_parse(p, copy, n, &M);
    /* Views point into the message: tests read them after this returns, so keep the
     * original text alive instead (the copy has done its job for bounds checking). */
    if (rc == 0) {
        rc = fh_venue_parse(p, s, n, &M);
        assert_int_equal(rc, 0);
    }
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

/* ---- events ----------------------------------------------------------------------------- */

static void test_system_status(void **state)
{
    (void)state;
    /* A real connectionID above INT64_MAX (kraken_v1_control.ndjson). */
    expect_event("{\"connectionID\":18239578009413566319,\"event\":\"systemStatus\","
                 "\"status\":\"online\",\"version\":\"1.8.3\"}",
                 FH_EV_STATUS);
    assert_true(M.server_connection_id == strtoull("18239578009413566319", NULL, 10));
    assert_int_equal(M.status, FH_STATUS_ONLINE);
    expect_event("{\"connectionID\":18446744073709551615,\"event\":\"systemStatus\","
                 "\"status\":\"maintenance\"}",
                 FH_EV_STATUS);
    assert_true(M.server_connection_id == UINT64_MAX);
    assert_int_equal(M.status, FH_STATUS_MAINTENANCE);
    expect_event("{\"event\":\"systemStatus\",\"status\":\"cancel_only\"}", FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_CANCEL_ONLY);
    assert_true(M.server_connection_id == 0);
    expect_event("{\"event\":\"systemStatus\",\"status\":\"post_only\"}", FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_POST_ONLY);
    expect_event("{\"event\":\"systemStatus\",\"status\":\"limit_only\"}", FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_LIMIT_ONLY);
    /* A status we do not know is reported, not rejected: the text says which. */
    expect_event("{\"event\":\"systemStatus\",\"status\":\"reduce_only\"}", FH_EV_STATUS);
    assert_int_equal(M.status, FH_STATUS_UNKNOWN);
    assert_str(M.text, "reduce_only");

    expect_reject("{\"event\":\"systemStatus\",\"version\":\"1.9.1\"}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"event\":\"systemStatus\",\"status\":1}", FH_REJ_BAD_FIELD);
    expect_reject("{\"connectionID\":18446744073709551616,\"event\":\"systemStatus\","
                  "\"status\":\"online\"}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"connectionID\":-1,\"event\":\"systemStatus\",\"status\":\"online\"}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"connectionID\":1.5,\"event\":\"systemStatus\",\"status\":\"online\"}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"connectionID\":\"notAnInt\",\"event\":\"systemStatus\","
                  "\"status\":\"online\"}",
                  FH_REJ_BAD_FIELD);
}

static void test_subscription_status(void **state)
{
    (void)state;
    expect_event("{\"channelID\":321,\"channelName\":\"trade\",\"event\":\"subscriptionStatus\","
                 "\"pair\":\"XBT/USD\",\"status\":\"subscribed\",\"subscription\":{\"name\":"
                 "\"trade\"}}",
                 FH_EV_SUBSCRIBED);
    assert_str(M.symbol, "XBT/USD");
    assert_str(M.channel, "trade");
    assert_false(M.has_req_id);
    expect_event("{\"channelID\":337,\"channelName\":\"trade\",\"event\":\"subscriptionStatus\","
                 "\"pair\":\"XBT/USD\",\"reqid\":0,\"status\":\"unsubscribed\","
                 "\"subscription\":{\"name\":\"trade\"}}",
                 FH_EV_UNSUBSCRIBED);
    assert_true(M.has_req_id);
    assert_int_equal(M.req_id, 0);
    /* The pair of an ack is reported as sent, known to the table or not. */
    expect_event("{\"channelName\":\"trade\",\"event\":\"subscriptionStatus\",\"pair\":"
                 "\"NOPE/USD\",\"reqid\":9223372036854775807,\"status\":\"subscribed\"}",
                 FH_EV_SUBSCRIBED);
    assert_int_equal(M.req_id, INT64_MAX);
    assert_str(M.symbol, "NOPE/USD");
    expect_event("{\"errorMessage\":\"Subscription depth not supported\",\"event\":"
                 "\"subscriptionStatus\",\"pair\":\"XBT/USD\",\"status\":\"error\","
                 "\"subscription\":{\"depth\":42,\"name\":\"book\"}}",
                 FH_EV_REQUEST_ERROR);
    assert_str(M.text, "Subscription depth not supported");
    assert_str(M.symbol, "XBT/USD");
    /* A request without "event": no pair in the answer. */
    expect_event("{\"errorMessage\":\"Event(s) not found\",\"event\":\"subscriptionStatus\","
                 "\"reqid\":1,\"status\":\"error\"}",
                 FH_EV_REQUEST_ERROR);
    assert_str(M.text, "Event(s) not found");
    assert_int_equal(M.symbol.n, 0);
    assert_int_equal(M.req_id, 1);
    /* Private channel acks carry no pair. */
    expect_event("{\"channelName\":\"openOrders\",\"event\":\"subscriptionStatus\",\"reqid\":0,"
                 "\"status\":\"subscribed\",\"subscription\":{\"maxratecount\":125,\"name\":"
                 "\"openOrders\"}}",
                 FH_EV_SUBSCRIBED);
    assert_str(M.channel, "openOrders");
    expect_event("{\"event\":\"subscriptionStatus\",\"status\":\"ok\"}", FH_EV_IGNORED);

    expect_reject("{\"event\":\"subscriptionStatus\",\"pair\":\"XBT/USD\"}", FH_REJ_MISSING_FIELD);
    expect_reject("{\"event\":\"subscriptionStatus\",\"status\":\"maybe\"}", FH_REJ_BAD_FIELD);
    expect_reject("{\"event\":\"subscriptionStatus\",\"status\":\"subscribed\",\"reqid\":\"1\"}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"event\":\"subscriptionStatus\",\"status\":\"subscribed\",\"reqid\":1.0}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"event\":\"subscriptionStatus\",\"status\":\"subscribed\",\"pair\":[]}",
                  FH_REJ_BAD_FIELD);
    expect_reject("{\"event\":\"subscriptionStatus\",\"status\":\"error\",\"errorMessage\":7}",
                  FH_REJ_BAD_FIELD);
}

static void test_heartbeat_pong_errors(void **state)
{
    (void)state;
    expect_event("{\"event\":\"heartbeat\"}", FH_EV_HEARTBEAT);
    expect_event("{\"event\":\"pong\",\"reqid\":42}", FH_EV_PONG);
    assert_true(M.has_req_id);
    assert_int_equal(M.req_id, 42);
    expect_event("{\"event\":\"pong\"}", FH_EV_PONG);
    assert_false(M.has_req_id);
    expect_reject("{\"event\":\"pong\",\"reqid\":\"zero!\"}", FH_REJ_BAD_FIELD);

    expect_event("{\"errorMessage\":\"Exceeded msg rate\",\"event\":\"error\",\"reqid\":42}",
                 FH_EV_REQUEST_ERROR);
    assert_str(M.text, "Exceeded msg rate");
    assert_int_equal(M.req_id, 42);
    expect_event("{\"errorMessage\":\"Malformed request\",\"event\":\"error\"}", FH_EV_ERROR);
    assert_str(M.text, "Malformed request");
    assert_false(M.has_req_id);
    expect_event("{\"Error\":\"Exceeded msg rate\"}", FH_EV_ERROR);
    assert_str(M.text, "Exceeded msg rate");
    expect_reject("{\"Error\":null}", FH_REJ_BAD_FIELD);

    /* Private order replies are valid Kraken events we do not consume. */
    expect_event("{\"event\":\"addOrderStatus\",\"status\":\"ok\"}", FH_EV_IGNORED);
    expect_reject("{\"event\":7}", FH_REJ_BAD_FIELD);
    expect_reject("{\"status\":\"online\"}", FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("{}", FH_REJ_UNKNOWN_MESSAGE);
    /* Escaped keys are keys: "ev\u0065nt" is "event". */
    expect_event("{\"ev\\u0065nt\":\"heartbeat\"}", FH_EV_HEARTBEAT);
    /* Unknown keys are ignored. */
    expect_event("{\"event\":\"heartbeat\",\"new\":{\"x\":[1,2]}}", FH_EV_HEARTBEAT);
}

/* ---- trades ----------------------------------------------------------------------------- */

struct want {
    int64_t price;
    unsigned price_scale;
    int64_t qty;
    unsigned qty_scale;
    int64_t time_us;
    enum fh_side side;
    enum fh_order_type type;
};

static void check_trade(size_t i, const char *canonical, const char *native, const struct want *w)
{
    const struct fh_trade *t = &M.trades[i];
    assert_str(t->venue, "kraken");
    assert_str(t->symbol, canonical);
    assert_str(t->native_symbol, native);
    assert_true(fh_decimal_eq(t->price, dec(w->price, w->price_scale)));
    assert_true(fh_decimal_eq(t->quantity, dec(w->qty, w->qty_scale)));
    assert_true(t->trade_time_us == w->time_us);
    assert_int_equal(t->side, w->side);
    assert_int_equal(t->order_type, w->type);
    assert_int_equal(t->kind, FH_KIND_TRADE);
    assert_int_equal(t->source, FH_SOURCE_LIVE);
    /* v1 has no trade id and no event time; the symbol's place in the table is given. */
    assert_int_equal(t->has, FH_HAS_SYMBOL_INDEX);
    assert_true(t->trade_id == 0 && t->receive_time_ns == 0 && t->connection_id == 0 &&
                t->sequence == 0 && t->event_time_us == 0);
}

static void test_trades_from_corpus_lines(void **state)
{
    (void)state;
    /* kraken_v1_trade.ndjson line 11: seven trades sweeping the book. */
    const char *l11 =
        "[321,[[\"58721.30000\",\"0.00466810\",\"1617666537.582791\",\"b\",\"l\",\"\"],"
        "[\"58721.30000\",\"0.00173190\",\"1617666537.584399\",\"b\",\"l\",\"\"],"
        "[\"58729.40000\",\"0.03001499\",\"1617666537.585634\",\"b\",\"l\",\"\"],"
        "[\"58729.50000\",\"0.00480000\",\"1617666537.587452\",\"b\",\"l\",\"\"],"
        "[\"58734.60000\",\"0.00805000\",\"1617666537.589480\",\"b\",\"l\",\"\"],"
        "[\"58735.10000\",\"0.00859046\",\"1617666537.590927\",\"b\",\"l\",\"\"],"
        "[\"58735.70000\",\"0.07858265\",\"1617666537.592244\",\"b\",\"l\",\"\"]],"
        "\"trade\",\"XBT/USD\"]";
    expect_event(l11, FH_EV_TRADES);
    assert_int_equal(M.n_trades, 7);
    assert_str(M.channel, "trade");
    assert_str(M.symbol, "XBT/USD");
    const struct want w11[7] = {
        {5872130000, 5, 466810, 8, 1617666537582791, FH_SIDE_BUY, FH_ORDER_LIMIT},
        {5872130000, 5, 173190, 8, 1617666537584399, FH_SIDE_BUY, FH_ORDER_LIMIT},
        {5872940000, 5, 3001499, 8, 1617666537585634, FH_SIDE_BUY, FH_ORDER_LIMIT},
        {5872950000, 5, 480000, 8, 1617666537587452, FH_SIDE_BUY, FH_ORDER_LIMIT},
        {5873460000, 5, 805000, 8, 1617666537589480, FH_SIDE_BUY, FH_ORDER_LIMIT},
        {5873510000, 5, 859046, 8, 1617666537590927, FH_SIDE_BUY, FH_ORDER_LIMIT},
        {5873570000, 5, 7858265, 8, 1617666537592244, FH_SIDE_BUY, FH_ORDER_LIMIT},
    };
    for (size_t i = 0; i < 7; i++)
        check_trade(i, "BTC-USD", "XBT/USD", &w11[i]);

    /* Line 3: ALGO/XBT with a 9-decimal price; the canonical quote is BTC. */
    expect_event("[2497,[[\"0.000023750\",\"25.10303000\",\"1617666466.891239\",\"b\",\"l\","
                 "\"\"]],\"trade\",\"ALGO/XBT\"]",
                 FH_EV_TRADES);
    const struct want w3 = {23750, 9, 2510303000, 8, 1617666466891239, FH_SIDE_BUY, FH_ORDER_LIMIT};
    check_trade(0, "ALGO-BTC", "ALGO/XBT", &w3);

    /* Line 13: XMR/USD keeps its X (never strip prefixes). Market sell. */
    expect_event("[993,[[\"354.11000000\",\"0.89594024\",\"1618678142.557535\",\"s\",\"l\","
                 "\"\"]],\"trade\",\"XMR/USD\"]",
                 FH_EV_TRADES);
    const struct want w13 = {35411000000,   8, 89594024, 8, 1618678142557535, FH_SIDE_SELL,
                             FH_ORDER_LIMIT};
    check_trade(0, "XMR-USD", "XMR/USD", &w13);

    /* Line 1: five market sells, the smallest volume 0.00000050. */
    expect_event("[321,[[\"58721.20000\",\"0.02798644\",\"1617666461.465618\",\"s\",\"m\",\"\"],"
                 "[\"58721.20000\",\"0.12749400\",\"1617666461.466773\",\"s\",\"m\",\"\"],"
                 "[\"58721.20000\",\"0.34501525\",\"1617666461.468246\",\"s\",\"m\",\"\"],"
                 "[\"58721.20000\",\"0.00041352\",\"1617666461.469577\",\"s\",\"m\",\"\"],"
                 "[\"58721.20000\",\"0.00000050\",\"1617666461.470964\",\"s\",\"m\",\"\"]],"
                 "\"trade\",\"XBT/USD\"]",
                 FH_EV_TRADES);
    assert_int_equal(M.n_trades, 5);
    const struct want w1 = {5872120000, 5, 50, 8, 1617666461470964, FH_SIDE_SELL, FH_ORDER_MARKET};
    check_trade(4, "BTC-USD", "XBT/USD", &w1);
}

static void test_trade_codes_and_forms(void **state)
{
    (void)state;
    /* The schema's long forms (CONFLICT in protocols.md) are accepted too. */
    expect_event("[1,[[\"1.5\",\"2\",\"1.000001\",\"buy\",\"market\",\"\"],"
                 "[\"1.5\",\"2\",\"1.000001\",\"sell\",\"limit\",\"\"]],\"trade\",\"XDG/USD\"]",
                 FH_EV_TRADES);
    assert_int_equal(M.trades[0].side, FH_SIDE_BUY);
    assert_int_equal(M.trades[0].order_type, FH_ORDER_MARKET);
    assert_int_equal(M.trades[1].side, FH_SIDE_SELL);
    assert_int_equal(M.trades[1].order_type, FH_ORDER_LIMIT);
    assert_str(M.trades[0].symbol, "DOGE-USD");
    /* Number tokens instead of strings are converted exactly as well. */
    expect_event("[1,[[58721.2,1e-8,1617666461.465618,\"s\",\"m\",\"\"]],\"trade\",\"XBT/USD\"]",
                 FH_EV_TRADES);
    assert_true(fh_decimal_eq(M.trades[0].price, dec(587212, 1)));
    assert_true(fh_decimal_eq(M.trades[0].quantity, dec(1, 8)));
    assert_true(M.trades[0].trade_time_us == 1617666461465618);
    /* misc of any shape, extra row elements and unknown trailing data are ignored. */
    expect_event("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",{\"x\":[1]},\"extra\",7]],\"trade\","
                 "\"XBT/USD\"]",
                 FH_EV_TRADES);
    /* Without misc the row still has everything we need. */
    expect_event("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\"]],\"trade\",\"XBT/USD\"]", FH_EV_TRADES);
    /* 18 decimals, the finest decimal(38,18) holds. */
    expect_event("[1,[[\"0.000000000000000001\",\"99999999999999999999.999999999999999999\","
                 "\"1.5\",\"b\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                 FH_EV_TRADES);
    assert_true(M.trades[0].price.units == 1);
    assert_true(M.trades[0].quantity.units == fh_decimal_max_units());
}

static void test_trade_times(void **state)
{
    (void)state;
    static const struct {
        const char *time;
        int64_t us;
    } ok[] = {
        {"1617666461.465618", 1617666461465618},
        {"1617666461", 1617666461000000},   /* whole seconds */
        {"1617666461.4", 1617666461400000}, /* fewer digits are exact */
        {"1617666461.000001", 1617666461000001},
        {"1617666461.4656189", 1617666461465618}, /* a 7th digit is truncated */
        {"1617666461.465618999999999", 1617666461465618},
        {"0", 0},
        {"0.000001", 1},
        {"253402300799.999999", INT64_C(253402300799999999)}, /* 9999-12-31T23:59:59.999999Z */
    };
    char msg[256];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(msg, sizeof(msg),
                 "[1,[[\"1\",\"1\",\"%s\",\"b\",\"l\",\"\"]],\"trade\","
                 "\"XBT/USD\"]",
                 ok[i].time);
        expect_event(msg, FH_EV_TRADES);
        if (M.trades[0].trade_time_us != ok[i].us)
            fail_msg("%s -> %" PRId64, ok[i].time, M.trades[0].trade_time_us);
    }
    static const char *const bad[] = {
        "",
        "-1.5",
        "+1.5",
        "1617666461.",
        ".5",
        "01.5",
        "1e9",
        "1.5e0",
        " 1.5",
        "1.5 ",
        "1,5",
        "1.5.5",
        "253402300800",
        "99999999999999999999",
        "NaN",
        "1.5Z",
        "1617666461\\u002e5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg),
                 "[1,[[\"1\",\"1\",\"%s\",\"b\",\"l\",\"\"]],\"trade\","
                 "\"XBT/USD\"]",
                 bad[i]);
        expect_reject(msg, FH_REJ_BAD_TIME);
    }
    expect_reject("[1,[[\"1\",\"1\",-1,\"b\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]", FH_REJ_BAD_TIME);
    expect_reject("[1,[[\"1\",\"1\",null,\"b\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
    expect_reject("[1,[[\"1\",\"1\",[],\"b\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
}

static void test_trade_prices_quantities(void **state)
{
    (void)state;
    static const struct {
        const char *price, *qty;
        enum fh_reject r;
    } bad[] = {
        {"\"0\"", "\"1\"", FH_REJ_BAD_PRICE},
        {"\"0.00000\"", "\"1\"", FH_REJ_BAD_PRICE},
        {"\"-1\"", "\"1\"", FH_REJ_BAD_PRICE},
        {"\"abc\"", "\"1\"", FH_REJ_BAD_PRICE},
        {"\"\"", "\"1\"", FH_REJ_BAD_PRICE},
        {"\"1e5\"", "\"1\"", FH_REJ_BAD_PRICE}, /* no exponent in decimal strings */
        {"\"100000000000000000000\"", "\"1\"", FH_REJ_BAD_PRICE},    /* >= 10^20 */
        {"\"1\"", "\"0.0000000000000000001\"", FH_REJ_BAD_QUANTITY}, /* 19 decimals */
        {"\"1\"", "\"0\"", FH_REJ_BAD_QUANTITY},
        {"\"1\"", "\" 1\"", FH_REJ_BAD_QUANTITY},
        {"\"1\"", "\"1\\u0030\"", FH_REJ_BAD_QUANTITY},
        {"true", "\"1\"", FH_REJ_BAD_FIELD},
        {"null", "\"1\"", FH_REJ_BAD_FIELD},
        {"\"1\"", "{}", FH_REJ_BAD_FIELD},
    };
    char msg[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg), "[1,[[%s,%s,\"1.5\",\"b\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                 bad[i].price, bad[i].qty);
        expect_reject(msg, bad[i].r);
    }
}

static void test_trade_structure_errors(void **state)
{
    (void)state;
    /* Row too short, not an array, bad codes. */
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"b\"]],\"trade\",\"XBT/USD\"]", FH_REJ_MISSING_FIELD);
    expect_reject("[1,[{\"p\":\"1\"}],\"trade\",\"XBT/USD\"]", FH_REJ_BAD_FIELD);
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"x\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"B\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",1,\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"x\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
    /* Envelope: channelID, payload type, pair type, element count. */
    expect_reject("[\"1\",[],\"trade\",\"XBT/USD\"]", FH_REJ_BAD_FIELD);
    expect_reject("[1.5,[],\"trade\",\"XBT/USD\"]", FH_REJ_BAD_FIELD);
    expect_reject("[1,{},\"trade\",\"XBT/USD\"]", FH_REJ_BAD_FIELD);
    expect_reject("[1,[],\"trade\",7]", FH_REJ_BAD_FIELD);
    expect_reject("[1,[],[],\"trade\",\"XBT/USD\"]", FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("[[],\"trade\",\"XBT/USD\"]", FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("[1,2]", FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("[]", FH_REJ_UNKNOWN_MESSAGE);
    expect_reject("[1,[],7,\"XBT/USD\"]", FH_REJ_UNKNOWN_MESSAGE);
    /* Symbols: unknown, and the parser without a table. */
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"]],\"trade\",\"BTC/USD\"]",
                  FH_REJ_UNKNOWN_SYMBOL);
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"]],\"trade\",\"\"]",
                  FH_REJ_UNKNOWN_SYMBOL);
    struct fh_venue_parser bare;
    assert_int_equal(fh_venue_parser_init(&bare, &fh_venue_kraken_v1, NULL, NULL), 0);
    const char *m = "[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]";
    assert_int_equal(parse_with(&bare, m, strlen(m)), -1);
    assert_int_equal(M.reject, FH_REJ_UNKNOWN_SYMBOL);
    fh_venue_parser_release(&bare);
    /* One bad trade rejects the whole message: no partial output. */
    expect_reject(
        "[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"],[\"2\",\"1\",\"1.5\",\"b\",\"l\",\"\"],"
        "[\"3\",\"1\",\"1.5\",\"q\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
        FH_REJ_BAD_FIELD);
}

static void test_empty_and_unicode_and_escapes(void **state)
{
    (void)state;
    /* An empty trade array is a valid trade message with no trades. */
    expect_event("[321,[],\"trade\",\"XBT/USD\"]", FH_EV_TRADES);
    assert_int_equal(M.n_trades, 0);
    assert_str(M.symbol, "XBT/USD");
    expect_reject("[321,[],\"trade\",\"NOPE/USD\"]", FH_REJ_UNKNOWN_SYMBOL);

    /* A non-ASCII pair, raw and \u-escaped. */
    expect_event("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"]],\"trade\","
                 "\"\xc3\x84PFEL/\xe2\x82\xac\"]",
                 FH_EV_TRADES);
    assert_str(M.trades[0].symbol, "\xc3\x84PFEL-\xe2\x82\xac");
    assert_str(M.trades[0].native_symbol, "\xc3\x84PFEL/\xe2\x82\xac");
    expect_event("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"]],\"trade\",\"\\u00c4PFEL\\/\\u20ac\"]",
                 FH_EV_TRADES);
    assert_str(M.trades[0].symbol, "\xc3\x84PFEL-\xe2\x82\xac");
    assert_str(M.trades[0].native_symbol, "\xc3\x84PFEL/\xe2\x82\xac");
    /* Escaped side and type letters decode like any string. */
    expect_reject("[1,[[\"1\",\"1\",\"1.5\",\"\\u0062\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
                  FH_REJ_BAD_FIELD);
    /* Invalid UTF-8 and bad escapes are rejected before the protocol looks. */
    expect_reject("[1,[],\"trade\",\"XBT/\xc3\x28\"]", FH_REJ_UTF8);
    expect_reject("[1,[],\"trade\",\"XBT/\\ud800\"]", FH_REJ_JSON);
}

static void test_ignored_channels(void **state)
{
    (void)state;
    static const char *const ign[] = {
        "[336,{\"as\":[[\"5541.30000\",\"2.50700000\",\"1534614248.123678\"]],\"bs\":[]},"
        "\"book-10\",\"XBT/USD\"]",
        "[1234,{\"a\":[[\"5541.30000\",\"2.50700000\",\"1534614248.456738\",\"r\"]]},"
        "{\"b\":[[\"5541.30000\",\"0.00000000\",\"1534614335.345903\"]],\"c\":\"974942666\"},"
        "\"book-1000\",\"XBT/USD\"]",
        "[340,{\"a\":[\"29938.60000\",12,\"12.41074632\"]},\"ticker\",\"XBT/USD\"]",
        "[341,[\"5698.40000\",\"5700.00000\",\"1542057299.545897\",\"1.01234567\","
        "\"0.98765432\"],\"spread\",\"XBT/USD\"]",
        "[343,[\"1542057314.748456\",\"1542057360.435743\",\"3586.70000\",\"3586.70000\","
        "\"3586.60000\",\"3586.60000\",\"3586.68894\",\"0.03373000\",2],\"ohlc-1\",\"XBT/USD\"]",
        "[6304,{\"as\":[],\"bs\":[]},\"book-25\",\"PERP/EUR\"]",
        "[[{\"TDLH43-DVQXD-2KHVYY\":{\"cost\":\"1000000.00000\"}}],\"ownTrades\",{\"sequence\":2}]",
    };
    for (size_t i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
        expect_event(ign[i], FH_EV_IGNORED);
    expect_event(ign[1], FH_EV_IGNORED);
    assert_str(M.channel, "book-1000");
    assert_str(M.symbol, "XBT/USD");
}

static void test_limits_truncation_oversize(void **state)
{
    (void)state;
    const char *m3 =
        "[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"],[\"2\",\"1\",\"1.5\",\"b\",\"l\",\"\"],"
        "[\"3\",\"1\",\"1.5\",\"s\",\"m\",\"\"]],\"trade\",\"XBT/USD\"]";
    size_t n3 = strlen(m3);
    struct fh_venue_parser_opts o = {.max_trades = 2};
    struct fh_venue_parser small;
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v1, &T, &o), 0);
    assert_int_equal(parse_with(&small, m3, n3), -1);
    assert_int_equal(M.reject, FH_REJ_TOO_MANY_TRADES);
    fh_venue_parser_release(&small);
    o = (struct fh_venue_parser_opts){.max_trades = 3, .max_message_bytes = n3};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v1, &T, &o), 0);
    assert_int_equal(parse_with(&small, m3, n3), 0);
    assert_int_equal(M.n_trades, 3);
    fh_venue_parser_release(&small);
    o = (struct fh_venue_parser_opts){.max_message_bytes = n3 - 1};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v1, &T, &o), 0);
    assert_int_equal(parse_with(&small, m3, n3), -1);
    assert_int_equal(M.reject, FH_REJ_OVERSIZE);
    fh_venue_parser_release(&small);
    o = (struct fh_venue_parser_opts){.max_tokens = 10};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v1, &T, &o), 0);
    assert_int_equal(parse_with(&small, m3, n3), -1);
    assert_int_equal(M.reject, FH_REJ_TOO_MANY_TOKENS);
    fh_venue_parser_release(&small);

    /* Every strict prefix of a valid message is rejected, none crashes. */
    for (size_t n = 0; n < n3; n++) {
        assert_int_equal(parse_with(&P, m3, n), -1);
        assert_true(M.reject == FH_REJ_JSON);
    }
    const char *ev = "{\"connectionID\":18239578009413566319,\"event\":\"systemStatus\","
                     "\"status\":\"online\"}";
    for (size_t n = 0; n < strlen(ev); n++)
        assert_int_equal(parse_with(&P, ev, n), -1);
}

/* ---- builders --------------------------------------------------------------------------- */

static void test_builders(void **state)
{
    (void)state;
    struct fh_buf b;
    fh_buf_init(&b, 4096);
    struct fh_str syms[] = {FH_STR_LIT("XBT/USD"), FH_STR_LIT("XDG/USD")};
    struct fh_sub_spec spec = {
        .symbols = syms, .n_symbols = 2, .channels = FH_CH_TRADE, .req_id = 42};
    const struct fh_venue_ops *ops = &fh_venue_kraken_v1;
    assert_string_equal(ops->name, "kraken-v1");
    assert_int_equal(ops->build_url("wss://ws.kraken.com", &spec, &b), 0);
    assert_string_equal(b.data, "wss://ws.kraken.com");
    fh_buf_reset(&b);
    assert_int_equal(ops->build_subscribe(&spec, &b), 0);
    assert_string_equal(b.data, "{\"event\":\"subscribe\",\"pair\":[\"XBT/USD\",\"XDG/USD\"],"
                                "\"subscription\":{\"name\":\"trade\"},\"reqid\":42}");
    fh_buf_reset(&b);
    assert_int_equal(ops->build_unsubscribe(&spec, &b), 0);
    assert_string_equal(b.data, "{\"event\":\"unsubscribe\",\"pair\":[\"XBT/USD\",\"XDG/USD\"],"
                                "\"subscription\":{\"name\":\"trade\"},\"reqid\":42}");
    fh_buf_reset(&b);
    assert_int_equal(ops->build_ping(7, &b), 0);
    assert_string_equal(b.data, "{\"event\":\"ping\",\"reqid\":7}");
    fh_buf_reset(&b);
    /* A non-ASCII pair is valid JSON as is. */
    struct fh_str uni[] = {FH_STR_LIT("\xc3\x84PFEL/\xe2\x82\xac")};
    struct fh_sub_spec us = {.symbols = uni, .n_symbols = 1, .channels = FH_CH_TRADE};
    assert_int_equal(ops->build_subscribe(&us, &b), 0);
    struct fh_json j;
    assert_int_equal(fh_json_init(&j, 64), 0);
    assert_int_equal(fh_json_parse(&j, b.data, b.len), 0);
    fh_json_release(&j);

    /* Refusals leave the buffer as it was. */
    fh_buf_reset(&b);
    fh_buf_append(&b, "keep", 4);
    static const char *const bad[] = {
        "XBTUSD", "XBT/\"USD", "XBT/\\USD",   "XBT/\nUSD",
        "",       "XBT/\xc3",  "XBT/USD\x7f", "A23456789012345678901234567890123456789012345/USD"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fh_str one[] = {fh_str_c(bad[i])};
        struct fh_sub_spec s1 = {.symbols = one, .n_symbols = 1, .channels = FH_CH_TRADE};
        assert_int_equal(ops->build_subscribe(&s1, &b), FH_EINVAL);
        assert_int_equal(b.len, 4);
    }
    spec.channels = FH_CH_TRADE | FH_CH_AGG_TRADE;
    assert_int_equal(ops->build_subscribe(&spec, &b), FH_EUNSUPPORTED);
    spec.channels = 0;
    assert_int_equal(ops->build_subscribe(&spec, &b), FH_EINVAL);
    spec.channels = FH_CH_TRADE;
    spec.n_symbols = 0;
    assert_int_equal(ops->build_subscribe(&spec, &b), FH_EINVAL);
    assert_int_equal(ops->build_url("", &spec, &b), FH_EINVAL);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    fh_buf_release(&b);
    /* A full buffer: nothing half-written. */
    fh_buf_init(&b, 40);
    fh_buf_append(&b, "keep", 4);
    spec.n_symbols = 2;
    assert_int_equal(ops->build_subscribe(&spec, &b), FH_ENOSPACE);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    fh_buf_release(&b);
}

/* ---- corpus ----------------------------------------------------------------------------- */

struct tally {
    /* from the parser */
    size_t lines, trade_msgs, trades, ignored, status, subscribed, unsubscribed, req_errors,
        heartbeats, rejected;
    /* computed from the text alone */
    size_t x_trade_msgs, x_trades, x_ignored, x_status, x_subscribed, x_unsubscribed, x_req_errors,
        x_heartbeats;
    const char *file;
};

static size_t count_sub(const char *s, size_t n, const char *needle)
{
    size_t c = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            c++;
    return c;
}

static bool has_sub(const char *s, size_t n, const char *needle)
{
    return count_sub(s, n, needle) > 0;
}

static void corpus_line(const char *line, size_t len, void *ctx)
{
    struct tally *t = ctx;
    t->lines++;
    /* Independent classification of the line by its text. */
    if (line[0] == '[') {
        if (has_sub(line, len, "],\"trade\",\"")) {
            t->x_trade_msgs++;
            t->x_trades += count_sub(line, len, "[\""); /* each row opens with [" */
        } else {
            t->x_ignored++;
        }
    } else if (has_sub(line, len, "\"event\":\"heartbeat\"")) {
        t->x_heartbeats++;
    } else if (has_sub(line, len, "\"event\":\"systemStatus\"")) {
        t->x_status++;
    } else if (has_sub(line, len, "\"status\":\"subscribed\"")) {
        t->x_subscribed++;
    } else if (has_sub(line, len, "\"status\":\"unsubscribed\"")) {
        t->x_unsubscribed++;
    } else if (has_sub(line, len, "\"status\":\"error\"")) {
        t->x_req_errors++;
    }

    if (parse_with(&P, line, len) != 0) {
        t->rejected++;
        print_message("%s line %zu rejected: %s\n", t->file, t->lines, fh_reject_name(M.reject));
        return;
    }
    switch (M.event) {
    case FH_EV_TRADES:
        t->trade_msgs++;
        t->trades += M.n_trades;
        for (size_t i = 0; i < M.n_trades; i++) {
            const struct fh_trade *tr = &M.trades[i];
            /* Every trade lands inside its message's text and inside the capture years. */
            assert_true(tr->native_symbol.p >= line && tr->native_symbol.p < line + len);
            assert_true(tr->price.units > 0 && tr->quantity.units > 0);
            assert_true(tr->trade_time_us >= INT64_C(1600000000000000) &&
                        tr->trade_time_us < INT64_C(1800000000000000));
            assert_true(fh_symbols_find(&T, tr->native_symbol) != NULL);
        }
        break;
    case FH_EV_IGNORED:
        t->ignored++;
        break;
    case FH_EV_STATUS:
        t->status++;
        assert_int_equal(M.status, FH_STATUS_ONLINE);
        assert_true(M.server_connection_id != 0);
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
    default:
        fail_msg("%s line %zu: unexpected event %d", t->file, t->lines, M.event);
    }
}

struct corpus_total {
    struct tally sum;
    size_t files;
};

static void corpus_file(const char *path, void *ctx)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "kraken_v1_", 10) != 0)
        return;
    struct corpus_total *ct = ctx;
    struct tally t = {.file = path};
    fh_test_each_line(path, corpus_line, &t);
    assert_int_equal(t.rejected, 0);
    assert_int_equal(t.trade_msgs, t.x_trade_msgs);
    assert_int_equal(t.trades, t.x_trades);
    assert_int_equal(t.ignored, t.x_ignored);
    assert_int_equal(t.status, t.x_status);
    assert_int_equal(t.subscribed, t.x_subscribed);
    assert_int_equal(t.unsubscribed, t.x_unsubscribed);
    assert_int_equal(t.req_errors, t.x_req_errors);
    assert_int_equal(t.heartbeats, t.x_heartbeats);
    /* Every line falls in exactly one category. */
    assert_int_equal(t.lines, t.trade_msgs + t.ignored + t.status + t.subscribed + t.unsubscribed +
                                  t.req_errors + t.heartbeats);
    print_message("%s: %zu lines, %zu trade msgs, %zu trades, %zu ignored, %zu status, "
                  "%zu subscribed, %zu unsubscribed, %zu errors, %zu heartbeats\n",
                  base, t.lines, t.trade_msgs, t.trades, t.ignored, t.status, t.subscribed,
                  t.unsubscribed, t.req_errors, t.heartbeats);
    ct->files++;
    ct->sum.lines += t.lines;
    ct->sum.trade_msgs += t.trade_msgs;
    ct->sum.trades += t.trades;
}

static void test_corpus(void **state)
{
    (void)state;
    struct corpus_total ct = {0};
    fh_test_each_file(fh_test_corpus_dir(), ".ndjson", corpus_file, &ct);
    /* kraken_v1_{control,other,trade} and six sessions. */
    assert_int_equal(ct.files, 9);
    assert_true(ct.sum.trades > ct.sum.trade_msgs); /* several trades per message occur */
    print_message("kraken v1 corpus: %zu files, %zu lines, %zu trade messages, %zu trades\n",
                  ct.files, ct.sum.lines, ct.sum.trade_msgs, ct.sum.trades);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_system_status),
        cmocka_unit_test(test_subscription_status),
        cmocka_unit_test(test_heartbeat_pong_errors),
        cmocka_unit_test(test_trades_from_corpus_lines),
        cmocka_unit_test(test_trade_codes_and_forms),
        cmocka_unit_test(test_trade_times),
        cmocka_unit_test(test_trade_prices_quantities),
        cmocka_unit_test(test_trade_structure_errors),
        cmocka_unit_test(test_empty_and_unicode_and_escapes),
        cmocka_unit_test(test_ignored_channels),
        cmocka_unit_test(test_limits_truncation_oversize),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
