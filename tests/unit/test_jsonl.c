/*
 * test_jsonl.c - JSON-lines rendering of trades (src/codec/jsonl.c).
 *
 * Hand-written trades are compared with exact expected lines; randomized trades are parsed
 * back with jsmn and every field is compared with the trade it came from.
 */
#include "testutil.h"

#include "../tools/trade_gen.h"

#include "codec/jsonl.h"
#include "core/err.h"

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_TRADES 10000
#define SEED          0x15011e5ULL

static size_t encode(const struct fh_trade *t, char *out, size_t cap)
{
    struct fh_fbuf b;
    fh_fbuf_init(&b, out, cap);
    assert_int_equal(fh_jsonl_encode_trade(&b, t), 0);
    assert_true(b.len <= fh_jsonl_trade_max_size(t));
    return b.len;
}

static void expect_line(const struct fh_trade *t, const char *want)
{
    char out[4096];
    size_t n = encode(t, out, sizeof(out));
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("got  %.*s\nwant %s", (int)n, out, want);
}

static void test_typical_trade(void **state)
{
    (void)state;
    struct fh_trade t = {0};
    t.venue = FH_STR_LIT("binance");
    t.symbol = FH_STR_LIT("BTC-USDT");
    t.native_symbol = FH_STR_LIT("BTCUSDT");
    t.has = FH_HAS_TRADE_ID | FH_HAS_EVENT_TIME;
    t.trade_id = 12345;
    t.kind = FH_KIND_TRADE;
    assert_int_equal(fh_decimal_parse("16552.12000000", 14, 0, &t.price), 0);
    assert_int_equal(fh_decimal_parse("0.00100000", 10, 0, &t.quantity), 0);
    t.side = FH_SIDE_SELL;
    t.order_type = FH_ORDER_UNKNOWN;
    t.trade_time_us = 1700000000123456;
    t.event_time_us = 1700000000123999;
    t.receive_time_ns = 1700000000123456789;
    t.source = FH_SOURCE_LIVE;
    t.connection_id = 3;
    t.sequence = 42;
    expect_line(&t, "{\"venue\":\"binance\",\"symbol\":\"BTC-USDT\",\"native_symbol\":\"BTCUSDT\","
                    "\"trade_id\":12345,\"first_trade_id\":null,\"last_trade_id\":null,"
                    "\"kind\":\"TRADE\",\"price\":\"16552.12\",\"quantity\":\"0.001\","
                    "\"side\":\"SELL\",\"order_type\":\"UNKNOWN\","
                    "\"trade_time\":1700000000123456,\"event_time\":1700000000123999,"
                    "\"receive_time_ns\":1700000000123456789,\"source\":\"LIVE\","
                    "\"connection_id\":3,\"sequence\":42}\n");
}

static void test_escapes_nulls_extremes(void **state)
{
    (void)state;
    struct fh_trade t = {0};
    static const char venue[] = "a\"b\\c\x01\x1f\n\t/\x7f\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80";
    static const char sym[] = "X\0Y";
    t.venue = (struct fh_str){venue, sizeof(venue) - 1};
    t.symbol = (struct fh_str){sym, sizeof(sym) - 1};
    t.native_symbol = FH_STR_LIT("");
    t.has = FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID;
    t.first_trade_id = INT64_MIN;
    t.last_trade_id = INT64_MAX;
    t.kind = FH_KIND_AGG_TRADE;
    t.price = fh_decimal_from_units(-1);
    t.quantity = fh_decimal_from_units(fh_tg_dec_max());
    t.side = FH_SIDE_BUY;
    t.order_type = FH_ORDER_LIMIT;
    t.trade_time_us = INT64_MIN;
    t.receive_time_ns = 0;
    t.source = FH_SOURCE_REPLAY;
    t.connection_id = -1;
    t.sequence = INT64_MAX;
    expect_line(&t, "{\"venue\":\"a\\\"b\\\\c\\u0001\\u001f\\u000a\\u0009/\x7f\xc3\xa9\xe6\x97\xa5"
                    "\xf0\x9f\x98\x80\",\"symbol\":\"X\\u0000Y\",\"native_symbol\":\"\","
                    "\"trade_id\":null,\"first_trade_id\":-9223372036854775808,"
                    "\"last_trade_id\":9223372036854775807,\"kind\":\"AGG_TRADE\","
                    "\"price\":\"-0.000000000000000001\","
                    "\"quantity\":\"99999999999999999999.999999999999999999\","
                    "\"side\":\"BUY\",\"order_type\":\"LIMIT\","
                    "\"trade_time\":-9223372036854775808,\"event_time\":null,"
                    "\"receive_time_ns\":0,\"source\":\"REPLAY\",\"connection_id\":-1,"
                    "\"sequence\":9223372036854775807}\n");

    /* The other enum symbols, zero decimals, a negative max decimal. */
    t.kind = FH_KIND_TRADE;
    t.side = FH_SIDE_UNKNOWN;
    t.order_type = FH_ORDER_MARKET;
    t.source = FH_SOURCE_SNAPSHOT;
    t.price = fh_decimal_from_units(0);
    t.quantity = fh_decimal_from_units(-fh_tg_dec_max());
    t.venue = FH_STR_LIT("v");
    t.symbol = FH_STR_LIT("s");
    t.has = 0;
    expect_line(&t, "{\"venue\":\"v\",\"symbol\":\"s\",\"native_symbol\":\"\","
                    "\"trade_id\":null,\"first_trade_id\":null,\"last_trade_id\":null,"
                    "\"kind\":\"TRADE\",\"price\":\"0\","
                    "\"quantity\":\"-99999999999999999999.999999999999999999\","
                    "\"side\":\"UNKNOWN\",\"order_type\":\"MARKET\","
                    "\"trade_time\":-9223372036854775808,\"event_time\":null,"
                    "\"receive_time_ns\":0,\"source\":\"SNAPSHOT\",\"connection_id\":-1,"
                    "\"sequence\":9223372036854775807}\n");
    t.source = FH_SOURCE_BACKFILL;
    char out[1024];
    size_t n = encode(&t, out, sizeof(out));
    assert_non_null(memmem(out, n, "\"source\":\"BACKFILL\"", 19));
}

/* Bytes that are not valid UTF-8 become U+FFFD, one per byte, so the line stays JSON. */
static void test_invalid_utf8_replaced(void **state)
{
    (void)state;
    static const char bad[] = "a\xff"
                              "b\xe6\x97"        /* truncated 3-byte sequence */
                              "\xc0\xaf"         /* overlong '/' */
                              "\xed\xa0\x80"     /* a UTF-16 surrogate */
                              "\xf4\x90\x80\x80" /* above U+10FFFF */
                              "\xe6\x97\xa5";    /* valid: kept */
    struct fh_trade t = {0};
    t.venue = (struct fh_str){bad, sizeof(bad) - 1};
    char out[1024];
    size_t n = encode(&t, out, sizeof(out));
    static const char want[] =
        "{\"venue\":\"a\\ufffdb\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
        "\\ufffd\\ufffd\\ufffd\\ufffd\xe6\x97\xa5\",\"symbol\":\"\",";
    if (n < sizeof(want) - 1 || memcmp(out, want, sizeof(want) - 1) != 0)
        fail_msg("got %.*s", (int)n, out);
}

static void test_buffer_boundaries(void **state)
{
    (void)state;
    static struct fh_test_trade g;
    static char ref[65536], mem[65536];
    for (int i = 0; i < FH_TG_EDGE_COUNT; i += 7) {
        fh_tg_edge(&g, i);
        size_t need = encode(&g.t, ref, sizeof(ref));
        /* Every capacity from 0 to the exact length, after a 2-byte prefix. */
        for (size_t cap = 2; cap <= need + 2; cap++) {
            memset(mem, 0x5A, sizeof(mem));
            struct fh_fbuf b;
            fh_fbuf_init(&b, mem, cap);
            fh_fbuf_put(&b, "[[", 2);
            int rc = fh_jsonl_encode_trade(&b, &g.t);
            if (cap < need + 2) {
                assert_int_equal(rc, FH_ENOSPACE);
                assert_true(b.overflow);
                assert_int_equal(b.len, 2);
                for (size_t k = 2; k < sizeof(mem); k++)
                    assert_int_equal(mem[k], 0x5A);
                /* Sticky: even a buffer that now fits nothing more stays failed. */
                assert_int_equal(fh_jsonl_encode_trade(&b, &g.t), FH_ENOSPACE);
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(b.len, need + 2);
                assert_memory_equal(mem + 2, ref, need);
                assert_int_equal(mem[need + 2], 0x5A);
            }
        }
    }
}

static void test_invalid_enum_rejected(void **state)
{
    (void)state;
    static struct fh_test_trade g;
    fh_tg_edge(&g, 2);
    char out[1024];
    struct fh_fbuf b;
    fh_fbuf_init(&b, out, sizeof(out));
    struct fh_trade t = g.t;
    t.kind = (enum fh_trade_kind)2;
    assert_int_equal(fh_jsonl_encode_trade(&b, &t), FH_EINVAL);
    t = g.t;
    t.source = (enum fh_source)4;
    assert_int_equal(fh_jsonl_encode_trade(&b, &t), FH_EINVAL);
    t = g.t;
    t.side = (enum fh_side) - 1;
    assert_int_equal(fh_jsonl_encode_trade(&b, &t), FH_EINVAL);
    t = g.t;
    t.order_type = (enum fh_order_type)9;
    assert_int_equal(fh_jsonl_encode_trade(&b, &t), FH_EINVAL);
    assert_int_equal(b.len, 0);
    assert_false(b.overflow);
}

/* ---- parsing the output back ---- */

static const char *const field_names[] = {
    "venue",         "symbol",     "native_symbol", "trade_id",        "first_trade_id",
    "last_trade_id", "kind",       "price",         "quantity",        "side",
    "order_type",    "trade_time", "event_time",    "receive_time_ns", "source",
    "connection_id", "sequence",
};
#define NFIELDS (sizeof(field_names) / sizeof(field_names[0]))

static bool tok_is(const char *js, const jsmntok_t *t, const char *s)
{
    size_t n = (size_t)(t->end - t->start);
    return n == strlen(s) && memcmp(js + t->start, s, n) == 0;
}

static unsigned hex4(const char *p)
{
    char tmp[5];
    memcpy(tmp, p, 4);
    tmp[4] = '\0';
    char *end;
    unsigned long v = strtoul(tmp, &end, 16);
    assert_true(end == tmp + 4);
    return (unsigned)v;
}

/* Decodes a JSON string token written by the encoder (no surrogate escapes are produced:
 * everything >= U+0080 is raw UTF-8). Returns the decoded length in out. */
static size_t unescape(const char *js, const jsmntok_t *t, char *out, size_t cap)
{
    size_t n = 0;
    for (int i = t->start; i < t->end; i++) {
        assert_true(n < cap);
        char c = js[i];
        assert_true((unsigned char)c >= 0x20); /* no raw control characters */
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        char e = js[++i];
        if (e == '"' || e == '\\') {
            out[n++] = e;
        } else if (e == 'u') {
            unsigned cp = hex4(js + i + 1);
            assert_true(cp < 0x20); /* the only \u escapes for valid input */
            out[n++] = (char)cp;
            i += 4;
        } else {
            fail_msg("unexpected escape \\%c", e);
        }
    }
    return n;
}

static void expect_str(const char *js, const jsmntok_t *t, struct fh_str want)
{
    static char buf[FH_TG_STR_CAP];
    assert_int_equal(t->type, JSMN_STRING);
    size_t n = unescape(js, t, buf, sizeof(buf));
    assert_int_equal(n, want.n);
    if (n > 0)
        assert_memory_equal(buf, want.p, n);
}

static void expect_int(const char *js, const jsmntok_t *t, bool has, int64_t want)
{
    assert_int_equal(t->type, JSMN_PRIMITIVE);
    if (!has) {
        assert_true(tok_is(js, t, "null"));
        return;
    }
    char tmp[32];
    size_t n = (size_t)(t->end - t->start);
    assert_true(n < sizeof(tmp));
    memcpy(tmp, js + t->start, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    assert_int_equal(errno, 0);
    assert_true(end == tmp + n);
    assert_true(v == want);
}

static void expect_sym(const char *js, const jsmntok_t *t, const char *want)
{
    assert_int_equal(t->type, JSMN_STRING);
    assert_true(tok_is(js, t, want));
}

static void expect_decimal(const char *js, const jsmntok_t *t, fh_decimal want)
{
    assert_int_equal(t->type, JSMN_STRING);
    fh_decimal d;
    size_t n = (size_t)(t->end - t->start);
    assert_int_equal(fh_decimal_parse(js + t->start, n, FH_DEC_ALLOW_NEG, &d), 0);
    assert_true(fh_decimal_eq(d, want));
    /* Canonical: no trailing zeros, no superfluous dot, no leading zeros, no "-0". */
    const char *s = js + t->start;
    if (memchr(s, '.', n) != NULL) {
        assert_true(s[n - 1] != '0' && s[n - 1] != '.');
    }
    size_t k = s[0] == '-' ? 1 : 0;
    assert_true(n > k);
    if (s[k] == '0')
        assert_true(n == k + 1 || s[k + 1] == '.');
    if (d.units == 0)
        assert_true(n == 1 && s[0] == '0');
}

static void check_line(const char *js, size_t n, const struct fh_trade *tr)
{
    assert_true(n > 0 && js[n - 1] == '\n');
    assert_null(memchr(js, '\n', n - 1));
    jsmn_parser p;
    jsmntok_t tok[64];
    jsmn_init(&p);
    int nt = jsmn_parse(&p, js, n - 1, tok, 64);
    assert_int_equal(nt, 1 + 2 * (int)NFIELDS);
    assert_int_equal(tok[0].type, JSMN_OBJECT);
    assert_int_equal(tok[0].size, (int)NFIELDS);
    assert_int_equal(tok[0].start, 0);
    assert_int_equal(tok[0].end, (int)n - 1);
    for (size_t f = 0; f < NFIELDS; f++) {
        const jsmntok_t *k = &tok[1 + 2 * f];
        assert_int_equal(k->type, JSMN_STRING);
        if (!tok_is(js, k, field_names[f]))
            fail_msg("field %zu is %.*s, want %s", f, k->end - k->start, js + k->start,
                     field_names[f]);
    }
#define V(i) (&tok[2 + 2 * (i)])
    expect_str(js, V(0), tr->venue);
    expect_str(js, V(1), tr->symbol);
    expect_str(js, V(2), tr->native_symbol);
    expect_int(js, V(3), tr->has & FH_HAS_TRADE_ID, tr->trade_id);
    expect_int(js, V(4), tr->has & FH_HAS_FIRST_TRADE_ID, tr->first_trade_id);
    expect_int(js, V(5), tr->has & FH_HAS_LAST_TRADE_ID, tr->last_trade_id);
    expect_sym(js, V(6), fh_trade_kind_name(tr->kind));
    expect_decimal(js, V(7), tr->price);
    expect_decimal(js, V(8), tr->quantity);
    expect_sym(js, V(9), fh_side_name(tr->side));
    expect_sym(js, V(10), fh_order_type_name(tr->order_type));
    expect_int(js, V(11), true, tr->trade_time_us);
    expect_int(js, V(12), tr->has & FH_HAS_EVENT_TIME, tr->event_time_us);
    expect_int(js, V(13), true, tr->receive_time_ns);
    expect_sym(js, V(14), fh_source_name(tr->source));
    expect_int(js, V(15), true, tr->connection_id);
    expect_int(js, V(16), true, tr->sequence);
#undef V
}

static void test_random_trades_parse_back(void **state)
{
    (void)state;
    static struct fh_test_trade g;
    static char out[65536];
    for (int i = 0; i < FH_TG_EDGE_COUNT; i++) {
        fh_tg_edge(&g, i);
        check_line(out, encode(&g.t, out, sizeof(out)), &g.t);
    }
    uint64_t seed = SEED;
    for (int i = 0; i < RANDOM_TRADES; i++) {
        fh_tg_random(&g, &seed);
        check_line(out, encode(&g.t, out, sizeof(out)), &g.t);
    }
}

/* Several lines append to one buffer. */
static void test_lines_append(void **state)
{
    (void)state;
    static struct fh_test_trade g;
    char out[4096];
    struct fh_fbuf b;
    fh_fbuf_init(&b, out, sizeof(out));
    fh_tg_edge(&g, 3);
    assert_int_equal(fh_jsonl_encode_trade(&b, &g.t), 0);
    size_t first = b.len;
    assert_int_equal(fh_jsonl_encode_trade(&b, &g.t), 0);
    assert_int_equal(b.len, 2 * first);
    assert_memory_equal(out, out + first, first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typical_trade),
        cmocka_unit_test(test_escapes_nulls_extremes),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_buffer_boundaries),
        cmocka_unit_test(test_invalid_enum_rejected),
        cmocka_unit_test(test_random_trades_parse_back),
        cmocka_unit_test(test_lines_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
