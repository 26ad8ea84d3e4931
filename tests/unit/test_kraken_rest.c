/*
 * test_kraken_rest.c - Kraken pieces shared by v1 and v2 (src/venue/kraken_common.c): the
 * REST public Trades request and parser, AssetPairs metadata (tests/data fixture and the
 * refusals), and the time conversions on their own.
 */
#include "testutil.h"

#include "core/err.h"
#include "venue/kraken.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct fh_symbols T1, T2; /* kraken-v1 and kraken-v2 tables from the fixture */
static struct fh_venue_parser P1, P2;
static char *Fixture;
static size_t FixtureLen;

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
    Fixture = fh_test_read_file(path, &FixtureLen);
    char err[256] = "";
    assert_int_equal(fh_symbols_init(&T1, 256), 0);
    assert_int_equal(fh_symbols_init(&T2, 256), 0);
    if (fh_kraken_parse_metadata(Fixture, FixtureLen, FH_KRAKEN_NAMES_V1, &T1, NULL, err,
                                 sizeof(err)) != 0 ||
        fh_kraken_parse_metadata(Fixture, FixtureLen, FH_KRAKEN_NAMES_V2, &T2, NULL, err,
                                 sizeof(err)) != 0)
        fail_msg("metadata: %s", err);
    assert_int_equal(fh_venue_parser_init(&P1, &fh_venue_kraken_v1, &T1, NULL), 0);
    assert_int_equal(fh_venue_parser_init(&P2, &fh_venue_kraken_v2, &T2, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fh_venue_parser_release(&P1);
    fh_venue_parser_release(&P2);
    fh_symbols_release(&T1);
    fh_symbols_release(&T2);
    free(Fixture);
    return 0;
}

static void assert_str(struct fh_str s, const char *want)
{
    if (!fh_str_eq_c(s, want))
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.n, s.p ? s.p : "", want);
}

static size_t count_sub(const char *s, size_t n, const char *needle)
{
    size_t c = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            c++;
    return c;
}

/* ---- time conversions ------------------------------------------------------------------- */

static void test_epoch_conversion(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned flags;
        int64_t us;
    } ok[] = {
        {"1762795433.9717445", FH_KRAKEN_TIME_EXP, INT64_C(1762795433971744)},
        {"1762795483.306824", FH_KRAKEN_TIME_EXP, INT64_C(1762795483306824)},
        {"1762795483.3", 0, INT64_C(1762795483300000)},
        {"1762795483", 0, INT64_C(1762795483000000)},
        {"1.7627954339717445e9", FH_KRAKEN_TIME_EXP, INT64_C(1762795433971744)},
        {"1.7627954339717445E+9", FH_KRAKEN_TIME_EXP, INT64_C(1762795433971744)},
        {"17627954339717445e-7", FH_KRAKEN_TIME_EXP, INT64_C(1762795433971744)},
        {"1762795433971744e-6", FH_KRAKEN_TIME_EXP, INT64_C(1762795433971744)},
        {"1762795433e0", FH_KRAKEN_TIME_EXP, INT64_C(1762795433000000)},
        {"1e-7", FH_KRAKEN_TIME_EXP, 0}, /* below a microsecond: floor is 0 */
        {"1e-999999999999", FH_KRAKEN_TIME_EXP, 0},
        {"0e999999999999", FH_KRAKEN_TIME_EXP, 0},
        {"0.0000009", 0, 0},
        {"0.000001", 0, 1},
        {"253402300799.9999999999", 0, INT64_C(253402300799999999)},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t us = -1;
        int rc = fh_kraken_epoch_us(ok[i].text, strlen(ok[i].text), ok[i].flags, &us);
        if (rc != 0 || us != ok[i].us)
            fail_msg("%s: rc %d -> %" PRId64 ", want %" PRId64, ok[i].text, rc, us, ok[i].us);
    }
    static const struct {
        const char *text;
        unsigned flags;
        int rc;
    } bad[] = {
        {"", 0, FH_EINVAL},
        {"1e9", 0, FH_EINVAL}, /* exponent only where asked for */
        {"1e", FH_KRAKEN_TIME_EXP, FH_EINVAL},
        {"1e+", FH_KRAKEN_TIME_EXP, FH_EINVAL},
        {"-1", FH_KRAKEN_TIME_EXP, FH_EINVAL},
        {"01", 0, FH_EINVAL},
        {"1.", 0, FH_EINVAL},
        {".1", 0, FH_EINVAL},
        {"1.5x", 0, FH_EINVAL},
        {"253402300800", 0, FH_ERANGE},
        {"2.534023008e11", FH_KRAKEN_TIME_EXP, FH_ERANGE},
        {"1e999999999999", FH_KRAKEN_TIME_EXP, FH_ERANGE},
        {"99999999999999999999999999999", 0, FH_ERANGE},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t us = 7;
        int rc = fh_kraken_epoch_us(bad[i].text, strlen(bad[i].text), bad[i].flags, &us);
        if (rc != bad[i].rc)
            fail_msg("%s: rc %d, want %d", bad[i].text, rc, bad[i].rc);
        assert_true(us == 7); /* untouched on error */
    }
}

static void test_days_from_civil(void **state)
{
    (void)state;
    /* Walk day by day from 1970 to 2100 with an independent calendar. */
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t days = 0;
    for (int y = 1970; y <= 2100; y++) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++) {
            int nd = dim[m - 1] + (m == 2 && leap);
            for (int d = 1; d <= nd; d++, days++)
                assert_true(fh_kraken_days_from_civil(y, (unsigned)m, (unsigned)d) == days);
        }
    }
    assert_true(fh_kraken_days_from_civil(1969, 12, 31) == -1);
    assert_true(fh_kraken_days_from_civil(0, 1, 1) == -719528);
    assert_true(fh_kraken_days_from_civil(9999, 12, 31) == 2932896);
}

/* ---- REST request ----------------------------------------------------------------------- */

static void test_build_rest(void **state)
{
    (void)state;
    struct fh_buf b;
    fh_buf_init(&b, 4096);
    struct fh_rest_req r = {
        .symbol = FH_STR_LIT("XBT/USD"), .since = FH_STR_LIT("1762820035982277754"), .limit = 1000};
    assert_int_equal(fh_venue_kraken_v1.build_rest_trades(&r, &b), 0);
    assert_string_equal(b.data,
                        "/0/public/Trades?pair=XBT%2FUSD&since=1762820035982277754&count=1000");
    fh_buf_reset(&b);
    r.symbol = FH_STR_LIT("BTC/USD");
    assert_int_equal(fh_venue_kraken_v2.build_rest_trades(&r, &b), 0);
    assert_string_equal(b.data, "/0/public/Trades?pair=BTC%2FUSD&since=1762820035982277754"
                                "&count=1000&assetVersion=1");
    fh_buf_reset(&b);
    r = (struct fh_rest_req){.symbol = FH_STR_LIT("XBTUSD")};
    assert_int_equal(fh_venue_kraken_v1.build_rest_trades(&r, &b), 0);
    assert_string_equal(b.data, "/0/public/Trades?pair=XBTUSD");
    fh_buf_reset(&b);
    r = (struct fh_rest_req){
        .symbol = FH_STR_LIT("A&B/\xc3\x84"), .since = FH_STR_LIT("1 2"), .limit = 1};
    assert_int_equal(fh_venue_kraken_v2.build_rest_trades(&r, &b), 0);
    assert_string_equal(b.data,
                        "/0/public/Trades?pair=A%26B%2F%C3%84&since=1%202&count=1&assetVersion=1");
    fh_buf_reset(&b);
    fh_buf_append(&b, "keep", 4);
    r = (struct fh_rest_req){.symbol = FH_STR_LIT("XBTUSD"), .limit = 1001};
    assert_int_equal(fh_venue_kraken_v1.build_rest_trades(&r, &b), FH_EINVAL);
    r = (struct fh_rest_req){.symbol = FH_STR_LIT("")};
    assert_int_equal(fh_venue_kraken_v1.build_rest_trades(&r, &b), FH_EINVAL);
    assert_int_equal(b.len, 4);
    fh_buf_release(&b);
    fh_buf_init(&b, 30);
    r = (struct fh_rest_req){.symbol = FH_STR_LIT("XBTUSD"), .since = FH_STR_LIT("1")};
    assert_int_equal(fh_venue_kraken_v1.build_rest_trades(&r, &b), FH_ENOSPACE);
    assert_int_equal(b.len, 0);
    fh_buf_release(&b);
}

/* ---- REST page -------------------------------------------------------------------------- */

static void test_rest_corpus_page(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof(path), "%s/rest/kraken_0_public_Trades_XBTUSDT.json",
             fh_test_corpus_dir());
    size_t n;
    char *body = fh_test_read_file(path, &n);
    /* Rows counted from the text: the file is pretty-printed with one "[" line per row. */
    size_t rows = 0;
    for (const char *p = body; (p = strstr(p, "\n            [\n")) != NULL; p++)
        rows++;
    assert_true(rows > 0);

    struct fh_venue_parser *ps[2] = {&P1, &P2};
    const char *native[2] = {"XBT/USDT", "BTC/USDT"};
    for (int v = 0; v < 2; v++) {
        struct fh_rest_page page;
        enum fh_reject rej;
        int rc = ps[v]->ops->parse_rest_trades(ps[v], body, n, fh_str_c(native[v]), &page, &rej);
        if (rc != 0)
            fail_msg("rejected: %s", fh_reject_name(rej));
        assert_int_equal(page.n_trades, rows);
        assert_str(page.cursor, "1762820035982277754");
        assert_int_equal(page.error.n, 0);
        assert_false(page.rate_limited);
        /* First row: ["105433.60000","0.00027625",1762795433.9717445,"b","l","",10218208]. */
        const struct fh_trade *t = &page.trades[0];
        assert_str(t->venue, "kraken");
        assert_str(t->symbol, "BTC-USDT");
        assert_str(t->native_symbol, native[v]);
        assert_true(fh_decimal_eq(t->price, dec(10543360000, 5)));
        assert_true(fh_decimal_eq(t->quantity, dec(27625, 8)));
        assert_true(t->trade_time_us == INT64_C(1762795433971744)); /* 7th digit floored */
        assert_int_equal(t->side, FH_SIDE_BUY);
        assert_int_equal(t->order_type, FH_ORDER_LIMIT);
        assert_true(t->trade_id == 10218208);
        assert_int_equal(t->has, FH_HAS_TRADE_ID);
        assert_int_equal(t->source, FH_SOURCE_BACKFILL);
        /* Fifth row has a six-digit time: 1762795483.306824, a limit sell. */
        t = &page.trades[4];
        assert_true(t->trade_time_us == INT64_C(1762795483306824));
        assert_int_equal(t->side, FH_SIDE_SELL);
        assert_true(t->trade_id == 10218212);
        /* Last row: ["105899.40000","0.00009443",1762820035.9822779,"s","m","",10219207];
         * its floor agrees with the ns cursor's floor (1762820035982277754 ns). */
        t = &page.trades[page.n_trades - 1];
        assert_true(fh_decimal_eq(t->price, dec(10589940000, 5)));
        assert_true(t->trade_time_us == INT64_C(1762820035982277));
        assert_int_equal(t->order_type, FH_ORDER_MARKET);
        assert_true(t->trade_id == 10219207);
        /* The page is one consecutive id range in time order. */
        for (size_t i = 1; i < page.n_trades; i++) {
            assert_true(page.trades[i].trade_id == page.trades[i - 1].trade_id + 1);
            assert_true(page.trades[i].trade_time_us >= page.trades[i - 1].trade_time_us);
        }
        /* Unknown in this protocol's table. */
        rc = ps[v]->ops->parse_rest_trades(ps[v], body, n, fh_str_c(native[1 - v]), &page, &rej);
        assert_int_equal(rc, -1);
        assert_int_equal(rej, FH_REJ_UNKNOWN_SYMBOL);
        assert_int_equal(page.n_trades, 0);
    }
    free(body);
}

static int rest(const char *body, enum fh_reject *rej, struct fh_rest_page *page)
{
    size_t n = strlen(body);
    char *copy = malloc(n ? n : 1); /* exact size, for ASan */
    assert_non_null(copy);
    memcpy(copy, body, n);
    int rc = fh_kraken_parse_rest_trades(&P1, copy, n, FH_STR_LIT("XBT/USD"), page, rej);
    free(copy);
    if (rc == 0) /* re-parse the caller's text so views stay valid */
        assert_int_equal(
            fh_kraken_parse_rest_trades(&P1, body, n, FH_STR_LIT("XBT/USD"), page, rej), 0);
    return rc;
}

static void rest_reject(const char *body, enum fh_reject want)
{
    struct fh_rest_page page;
    enum fh_reject rej;
    if (rest(body, &rej, &page) != -1 || rej != want)
        fail_msg("%s: reject %s, want %s", body, fh_reject_name(rej), fh_reject_name(want));
    assert_int_equal(page.n_trades, 0);
}

static void test_rest_pages(void **state)
{
    (void)state;
    struct fh_rest_page page;
    enum fh_reject rej;
    /* Errors come with HTTP 200 in the body. */
    assert_int_equal(rest("{\"error\":[\"EQuery:Unknown asset pair\"]}", &rej, &page), 0);
    assert_str(page.error, "EQuery:Unknown asset pair");
    assert_false(page.rate_limited);
    assert_int_equal(page.n_trades, 0);
    assert_int_equal(rest("{\"error\":[\"EGeneral:Too many requests\"]}", &rej, &page), 0);
    assert_str(page.error, "EGeneral:Too many requests");
    assert_true(page.rate_limited);
    assert_int_equal(
        rest("{\"error\":[\"EGeneral:Invalid arguments\"],\"result\":{}}", &rej, &page), 0);
    assert_str(page.error, "EGeneral:Invalid arguments");
    /* Warnings do not stop the page. */
    assert_int_equal(rest("{\"error\":[\"WGeneral:Something\"],\"result\":{\"XXBTZUSD\":"
                          "[[\"1.5\",\"2\",1688669597.8277369,\"s\",\"m\",\"\",61044952]],"
                          "\"last\":\"1688669597827736900\"}}",
                          &rej, &page),
                     0);
    assert_int_equal(page.error.n, 0);
    assert_int_equal(page.n_trades, 1);
    assert_str(page.trades[0].symbol, "BTC-USD");
    assert_str(page.trades[0].native_symbol, "XBT/USD");
    assert_int_equal(page.trades[0].side, FH_SIDE_SELL);
    assert_int_equal(page.trades[0].order_type, FH_ORDER_MARKET);
    /* Older six-element rows have no trade id; the key can be anything. */
    assert_int_equal(rest("{\"error\":[],\"result\":{\"BTC/USD\":[[\"5541.2\",\"0.15\","
                          "1534614057.321597,\"b\",\"l\",\"\"]],\"last\":\"1534614057321597000\"}}",
                          &rej, &page),
                     0);
    assert_int_equal(page.trades[0].has, 0);
    assert_true(page.trades[0].trade_time_us == INT64_C(1534614057321597));
    /* An empty page and an empty cursor (end of pagination); a numeric cursor. */
    assert_int_equal(rest("{\"error\":[],\"result\":{\"XXBTZUSD\":[],\"last\":\"\"}}", &rej, &page),
                     0);
    assert_int_equal(page.n_trades, 0);
    assert_int_equal(page.cursor.n, 0);
    assert_int_equal(rest("{\"result\":{\"last\":1688671969993150842,\"XXBTZUSD\":[]},"
                          "\"error\":[]}",
                          &rej, &page),
                     0);
    assert_str(page.cursor, "1688671969993150842");
    /* Trade ids at the int64 edge; time in exponent form. */
    assert_int_equal(rest("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\","
                          "1.6886695978277369e9,\"b\",\"l\",\"\",9223372036854775807]],"
                          "\"last\":\"1\"}}",
                          &rej, &page),
                     0);
    assert_true(page.trades[0].trade_id == INT64_MAX);
    assert_true(page.trades[0].trade_time_us == INT64_C(1688669597827736));

    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\",1.5,\"b\",\"l\",\"\","
                "9223372036854775808]],\"last\":\"1\"}}",
                FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\",1.5,\"b\",\"l\",\"\",-1]],"
                "\"last\":\"1\"}}",
                FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\",1.5,\"b\",\"l\",\"\","
                "\"7\"]],\"last\":\"1\"}}",
                FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\",1.5,\"b\",\"l\"]],"
                "\"last\":\"1\"}}",
                FH_REJ_MISSING_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"0\",\"1\",1.5,\"b\",\"l\",\"\"]],"
                "\"last\":\"1\"}}",
                FH_REJ_BAD_PRICE);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"-1\",1.5,\"b\",\"l\",\"\"]],"
                "\"last\":\"1\"}}",
                FH_REJ_BAD_QUANTITY);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\",-1.5,\"b\",\"l\",\"\"]],"
                "\"last\":\"1\"}}",
                FH_REJ_BAD_TIME);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\",1e300,\"b\",\"l\",\"\"]],"
                "\"last\":\"1\"}}",
                FH_REJ_BAD_TIME);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[[\"1\",\"1\",1.5,\"x\",\"l\",\"\"]],"
                "\"last\":\"1\"}}",
                FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[{}],\"last\":\"1\"}}", FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[],\"XETHZUSD\":[],\"last\":\"1\"}}",
                FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[]}}", FH_REJ_MISSING_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"last\":\"1\"}}", FH_REJ_MISSING_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[],\"last\":1.5}}", FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":{\"XXBTZUSD\":[],\"last\":null}}", FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[],\"result\":[]}", FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[]}", FH_REJ_MISSING_FIELD);
    rest_reject("{\"result\":{}}", FH_REJ_MISSING_FIELD);
    rest_reject("{\"error\":\"EGeneral:x\"}", FH_REJ_BAD_FIELD);
    rest_reject("{\"error\":[1]}", FH_REJ_BAD_FIELD);
    rest_reject("[]", FH_REJ_UNKNOWN_MESSAGE);
    rest_reject("{\"error\":[],", FH_REJ_JSON);
    rest_reject("{\"error\":[\"\xff\"]}", FH_REJ_UTF8);

    /* Bounds: too many rows, oversize body. */
    const char *two = "{\"error\":[],\"result\":{\"X\":[[\"1\",\"1\",1,\"b\",\"l\",\"\"],"
                      "[\"1\",\"1\",1,\"b\",\"l\",\"\"]],\"last\":\"1\"}}";
    struct fh_venue_parser small;
    struct fh_venue_parser_opts o = {.max_trades = 1};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v1, &T1, &o), 0);
    assert_int_equal(
        fh_kraken_parse_rest_trades(&small, two, strlen(two), FH_STR_LIT("XBT/USD"), &page, &rej),
        -1);
    assert_int_equal(rej, FH_REJ_TOO_MANY_TRADES);
    fh_venue_parser_release(&small);
    o = (struct fh_venue_parser_opts){.max_message_bytes = 10};
    assert_int_equal(fh_venue_parser_init(&small, &fh_venue_kraken_v1, &T1, &o), 0);
    assert_int_equal(
        fh_kraken_parse_rest_trades(&small, two, strlen(two), FH_STR_LIT("XBT/USD"), &page, &rej),
        -1);
    assert_int_equal(rej, FH_REJ_OVERSIZE);
    fh_venue_parser_release(&small);
    /* Truncations of a good page never pass. */
    for (size_t k = 0; k < strlen(two); k++) {
        char *copy = malloc(k ? k : 1);
        memcpy(copy, two, k);
        assert_int_equal(
            fh_kraken_parse_rest_trades(&P1, copy, k, FH_STR_LIT("XBT/USD"), &page, &rej), -1);
        free(copy);
    }
}

/* ---- metadata --------------------------------------------------------------------------- */

struct pairs_ctx {
    const struct fh_symbols *t;
    size_t checked;
};

/* The pair of a v1 line: the last string of an array, or "pair" of an event. */
static void v1_pair_line(const char *line, size_t len, void *ctx)
{
    struct pairs_ctx *c = ctx;
    char name[64];
    const char *p = NULL, *end = NULL;
    if (line[0] == '[') {
        end = line + len - 2; /* ..."PAIR"] */
        if (*end != '"')
            return; /* private channels end in an object */
        p = end - 1;
        while (p > line && *p != '"')
            p--;
        p++;
    } else {
        const char *k = strstr(line, "\"pair\":\"");
        if (k == NULL || k > line + len)
            return;
        p = k + 8;
        end = memchr(p, '"', (size_t)(line + len - p));
    }
    size_t n = (size_t)(end - p);
    assert_true(n > 0 && n < sizeof(name));
    memcpy(name, p, n);
    name[n] = '\0';
    if (fh_symbols_find(c->t, (struct fh_str){name, n}) == NULL)
        fail_msg("corpus pair %s missing from kraken_assetpairs.json", name);
    c->checked++;
}

static void v1_pair_file(const char *path, void *ctx)
{
    const char *base = strrchr(path, '/');
    if (strncmp(base ? base + 1 : path, "kraken_v1_", 10) == 0)
        fh_test_each_line(path, v1_pair_line, ctx);
}

static void v2_symbol_line(const char *line, size_t len, void *ctx)
{
    struct pairs_ctx *c = ctx;
    const char *end = line + len;
    for (const char *k = line; (k = strstr(k, "\"symbol\":\"")) != NULL && k < end; k++) {
        const char *p = k + 10;
        const char *q = memchr(p, '"', (size_t)(end - p));
        struct fh_str s = {p, (size_t)(q - p)};
        /* WWW/USD is the corpus's example of a pair Kraken itself refused. */
        if (fh_str_eq_c(s, "WWW/USD"))
            continue;
        if (fh_symbols_find(c->t, s) == NULL)
            fail_msg("corpus symbol %.*s missing from kraken_assetpairs.json", (int)s.n, s.p);
        c->checked++;
    }
}

static void v2_symbol_file(const char *path, void *ctx)
{
    const char *base = strrchr(path, '/');
    if (strncmp(base ? base + 1 : path, "kraken_v2_", 10) == 0)
        fh_test_each_line(path, v2_symbol_line, ctx);
}

static void expect_symbol(const struct fh_symbols *t, const char *native, const char *canonical)
{
    const struct fh_symbol *e = fh_symbols_find(t, fh_str_c(native));
    if (e == NULL)
        fail_msg("%s not in the table", native);
    assert_string_equal(e->canonical, canonical);
}

static void test_assetpairs_fixture(void **state)
{
    (void)state;
    /* Entry counts from the text of the fixture. */
    size_t entries = count_sub(Fixture, FixtureLen, "\"altname\":");
    size_t wsnames = count_sub(Fixture, FixtureLen, "\"wsname\":");
    size_t dark = count_sub(Fixture, FixtureLen, ".d\":{");
    struct fh_symbols t;
    struct fh_kraken_meta_stats st;
    char err[256];
    assert_int_equal(fh_symbols_init(&t, 256), 0);
    assert_int_equal(fh_kraken_parse_metadata(Fixture, FixtureLen, FH_KRAKEN_NAMES_V1, &t, &st, err,
                                              sizeof(err)),
                     0);
    assert_int_equal(st.pairs, entries);
    assert_int_equal(st.added, wsnames);
    assert_int_equal(st.dark_pool, dark);
    assert_int_equal(st.no_wsname, entries - wsnames - dark);
    assert_int_equal(t.n, wsnames);
    fh_symbols_release(&t);
    assert_int_equal(fh_symbols_init(&t, 256), 0);
    assert_int_equal(fh_kraken_parse_metadata(Fixture, FixtureLen, FH_KRAKEN_NAMES_V2, &t, &st, err,
                                              sizeof(err)),
                     0);
    assert_int_equal(st.added, entries - dark);
    assert_int_equal(st.no_wsname, 0);
    fh_symbols_release(&t);

    /* Canonical names from the data: XBT -> BTC, XDG -> DOGE, X/Z-leading assets intact. */
    expect_symbol(&T1, "XBT/USD", "BTC-USD");
    expect_symbol(&T1, "XBT/USDT", "BTC-USDT");
    expect_symbol(&T1, "XDG/USD", "DOGE-USD");
    expect_symbol(&T1, "ALGO/XBT", "ALGO-BTC");
    expect_symbol(&T1, "ETH/XBT", "ETH-BTC");
    expect_symbol(&T1, "XMR/USD", "XMR-USD");
    expect_symbol(&T1, "XRP/USD", "XRP-USD");
    expect_symbol(&T1, "XLM/USD", "XLM-USD");
    expect_symbol(&T1, "ZEC/USD", "ZEC-USD");
    expect_symbol(&T1, "XTZ/USD", "XTZ-USD");
    expect_symbol(&T2, "BTC/USD", "BTC-USD");
    expect_symbol(&T2, "DOGE/USD", "DOGE-USD");
    expect_symbol(&T2, "ETH/BTC", "ETH-BTC");
    expect_symbol(&T2, "XMR/USD", "XMR-USD");
    /* Each table holds only its own protocol's names. */
    assert_null(fh_symbols_find(&T1, FH_STR_LIT("BTC/USD")));
    assert_null(fh_symbols_find(&T2, FH_STR_LIT("XBT/USD")));
    assert_null(fh_symbols_find(&T2, FH_STR_LIT("BTC/USD.d")));
    const struct fh_symbol *e = fh_symbols_find(&T1, FH_STR_LIT("XBT/USD"));
    assert_int_equal(e->price_decimals, 1);
    assert_int_equal(e->qty_decimals, 8);
    assert_string_equal(e->status, "online");
    assert_string_equal(e->base, "BTC");
    e = fh_symbols_find(&T1, FH_STR_LIT("PERP/EUR")); /* an entry without status */
    assert_string_equal(e->status, "");

    /* Every pair the corpus names is in the fixture. */
    struct pairs_ctx c1 = {&T1, 0}, c2 = {&T2, 0};
    fh_test_each_file(fh_test_corpus_dir(), ".ndjson", v1_pair_file, &c1);
    fh_test_each_file(fh_test_corpus_dir(), ".ndjson", v2_symbol_file, &c2);
    assert_true(c1.checked > 30000);
    assert_true(c2.checked > 10);
    /* And the REST page's pair, by both names. */
    expect_symbol(&T1, "XBT/USDT", "BTC-USDT");
    expect_symbol(&T2, "BTC/USDT", "BTC-USDT");
}

static int meta(const char *doc, enum fh_kraken_names names, size_t max, char *err, size_t cap)
{
    struct fh_symbols t;
    assert_int_equal(fh_symbols_init(&t, max), 0);
    err[0] = '\0';
    int rc = fh_kraken_parse_metadata(doc, strlen(doc), names, &t, NULL, err, cap);
    fh_symbols_release(&t);
    return rc;
}

static void test_metadata_refusals(void **state)
{
    (void)state;
    char err[512];
    /* The legacy form: keys XXBTZUSD, base XXBT. */
    const char *legacy =
        "{\"error\":[],\"result\":{\"XXBTZUSD\":{\"altname\":\"XBTUSD\",\"wsname\":\"XBT/USD\","
        "\"base\":\"XXBT\",\"quote\":\"ZUSD\"},\"XBTUSDT\":{\"altname\":\"XBTUSDT\",\"wsname\":"
        "\"XBT/USDT\",\"base\":\"XXBT\",\"quote\":\"USDT\"}}}";
    assert_int_equal(meta(legacy, FH_KRAKEN_NAMES_V1, 16, err, sizeof(err)), FH_EINVAL);
    assert_non_null(strstr(err, "legacy"));
    assert_non_null(strstr(err, "assetVersion=1"));
    assert_int_equal(meta(legacy, FH_KRAKEN_NAMES_V2, 16, err, sizeof(err)), FH_EINVAL);
    /* A stray legacy key among display keys is skipped, not trusted. */
    struct fh_symbols t;
    struct fh_kraken_meta_stats st;
    const char *mixed =
        "{\"error\":[],\"result\":{\"BTC/USD\":{\"altname\":\"XBTUSD\",\"wsname\":\"XBT/USD\","
        "\"base\":\"BTC\",\"quote\":\"USD\"},\"XXBTZEUR\":{\"altname\":\"XBTEUR\",\"wsname\":"
        "\"XBT/EUR\",\"base\":\"XXBT\",\"quote\":\"ZEUR\"},\"NEW/USD\":{\"altname\":\"NEWUSD\","
        "\"base\":\"NEW\",\"quote\":\"USD\"}}}";
    assert_int_equal(fh_symbols_init(&t, 16), 0);
    assert_int_equal(fh_kraken_parse_metadata(mixed, strlen(mixed), FH_KRAKEN_NAMES_V1, &t, &st,
                                              err, sizeof(err)),
                     0);
    assert_int_equal(st.added, 1);
    assert_int_equal(st.legacy_key, 1);
    assert_int_equal(st.no_wsname, 1);
    assert_null(fh_symbols_find(&t, FH_STR_LIT("XBT/EUR")));
    fh_symbols_release(&t);

    /* A wsname listed twice with the same assets is one entry, counted once (the same rule
     * the fuzzer found missing in the instrument reader). */
    const char *dup = "{\"error\":[],\"result\":{\"A/B\":{\"wsname\":\"A/B\",\"base\":\"A\","
                      "\"quote\":\"B\"},\"A/B.x\":{\"wsname\":\"A/B\",\"base\":\"A\","
                      "\"quote\":\"B\"}}}";
    assert_int_equal(fh_symbols_init(&t, 16), 0);
    assert_int_equal(
        fh_kraken_parse_metadata(dup, strlen(dup), FH_KRAKEN_NAMES_V1, &t, &st, err, sizeof(err)),
        0);
    assert_int_equal(st.added, 1);
    assert_int_equal(st.pairs, 2);
    assert_int_equal(t.n, 1);
    fh_symbols_release(&t);

    static const char *const bad[] = {
        "{\"error\":[\"EGeneral:Temporary lockout\"]}",
        "{\"error\":[]}",
        "{\"error\":[],\"result\":[]}",
        "{\"error\":[],\"result\":{\"A/B\":{\"wsname\":\"A/B\",\"quote\":\"B\"}}}",
        "{\"error\":[],\"result\":{\"A/B\":{\"wsname\":\"A/B\",\"base\":\"A\",\"quote\":7}}}",
        "{\"error\":[],\"result\":{\"A/B\":7}}",
        "{\"error\":[],\"result\":{\"A/B\":{\"wsname\":\"A/B\",\"base\":\"A-X\",\"quote\":\"B\"}}}",
        "{\"error\":[],\"result\":{\"A/B\":{\"wsname\":\"A/B\",\"base\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"quote\":\"B\"}}}",
        /* the same wsname with two different assets */
        "{\"error\":[],\"result\":{\"A/B\":{\"wsname\":\"A/B\",\"base\":\"A\",\"quote\":\"B\"},"
        "\"C/B\":{\"wsname\":\"A/B\",\"base\":\"C\",\"quote\":\"B\"}}}",
        "{\"error\":[],\"result\":{",
        "",
        "[1]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = meta(bad[i], FH_KRAKEN_NAMES_V1, 16, err, sizeof(err));
        if (rc >= 0 || strlen(err) < 10)
            fail_msg("%s: rc %d err \"%s\"", bad[i], rc, err);
    }
    /* A full table. */
    int rc = meta(Fixture, FH_KRAKEN_NAMES_V1, 3, err, sizeof(err));
    assert_int_equal(rc, FH_ENOSPACE);
    assert_non_null(strstr(err, "symbol table"));
    /* A tiny error buffer is never overrun. */
    char tiny[4];
    assert_true(meta(legacy, FH_KRAKEN_NAMES_V1, 16, tiny, sizeof(tiny)) < 0);
    assert_int_equal(strlen(tiny), 3);
    /* Out-of-range decimals stay unknown. */
    const char *odd = "{\"error\":[],\"result\":{\"A/B\":{\"wsname\":\"A/B\",\"base\":\"A\","
                      "\"quote\":\"B\",\"pair_decimals\":40,\"lot_decimals\":-1,"
                      "\"status\":\"a very long status text\"}}}";
    assert_int_equal(fh_symbols_init(&t, 4), 0);
    assert_int_equal(
        fh_kraken_parse_metadata(odd, strlen(odd), FH_KRAKEN_NAMES_V1, &t, NULL, err, sizeof(err)),
        0);
    const struct fh_symbol *e = fh_symbols_find(&t, FH_STR_LIT("A/B"));
    assert_int_equal(e->price_decimals, -1);
    assert_int_equal(e->qty_decimals, -1);
    assert_string_equal(e->status, "");
    fh_symbols_release(&t);
    assert_string_equal(fh_venue_kraken_v1.metadata_path, "/0/public/AssetPairs?assetVersion=1");
    assert_string_equal(fh_venue_kraken_v2.metadata_path, "/0/public/AssetPairs?assetVersion=1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_conversion),  cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_build_rest),        cmocka_unit_test(test_rest_corpus_page),
        cmocka_unit_test(test_rest_pages),        cmocka_unit_test(test_assetpairs_fixture),
        cmocka_unit_test(test_metadata_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
