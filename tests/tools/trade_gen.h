/*
 * trade_gen.h - deterministic random and edge-value trades for the codec tests, the
 * cross-decoding tool and the Avro benchmark (header-only, test code only).
 *
 * A struct fh_test_trade owns the storage its trade's strings point into, so a trade stays
 * valid until the next generate call on the same object. Everything is derived from a
 * 64-bit seed (splitmix64), so a failing record can be regenerated from its index.
 */
#ifndef FH_TESTS_TRADE_GEN_H
#define FH_TESTS_TRADE_GEN_H

#include "core/decimal.h"
#include "model/trade.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Room for the longest generated string: 9000 bytes needs a 3-byte Avro length. */
#define FH_TG_STR_CAP 9216

struct fh_test_trade {
    struct fh_trade t;
    char str[3][FH_TG_STR_CAP];
};

static inline uint64_t fh_tg_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline fh_i128 fh_tg_dec_max(void)
{
    return (fh_i128)10000000000000000000ULL * (fh_i128)10000000000000000000ULL - 1;
}

/* A random decimal with 0..38 random digits (so every byte length 1..16 occurs), either
 * sign. */
static inline fh_decimal fh_tg_decimal(uint64_t *s)
{
    unsigned digits = (unsigned)(fh_tg_next(s) % 39);
    fh_i128 u = 0;
    for (unsigned k = 0; k < digits; k++)
        u = u * 10 + (fh_i128)(fh_tg_next(s) % 10);
    if (fh_tg_next(s) & 1)
        u = -u;
    return fh_decimal_from_units(u);
}

/* A random int64 from a mix of magnitudes: tiny, timestamp-like, any 64-bit pattern. */
static inline int64_t fh_tg_long(uint64_t *s)
{
    uint64_t r = fh_tg_next(s);
    switch (r % 5) {
    case 0:
        return (int64_t)(fh_tg_next(s) % 200) - 100;
    case 1:
        return 1700000000000000LL + (int64_t)(fh_tg_next(s) % 100000000000ULL);
    case 2:
        return 1700000000000000000LL + (int64_t)(fh_tg_next(s) % 100000000000000ULL);
    case 3:
        return (int64_t)(fh_tg_next(s) >> (fh_tg_next(s) % 64));
    default:
        return (int64_t)fh_tg_next(s);
    }
}

/* Writes a random valid UTF-8 string of about `len` bytes into buf: ASCII (with quotes,
 * backslashes and control characters, NUL included) and 2-, 3- and 4-byte characters. */
static inline size_t fh_tg_utf8(uint64_t *s, char *buf, size_t len)
{
    static const char *const pieces[] = {"\"",
                                         "\\",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "/",
                                         "\xc3\xa9",
                                         "\xe6\x97\xa5",
                                         "\xf0\x9f\x98\x80",
                                         "\xc2\x80",
                                         "\xef\xbf\xbf",
                                         "\xf4\x8f\xbf\xbf"};
    size_t n = 0;
    while (n < len) {
        uint64_t r = fh_tg_next(s);
        const char *p;
        char one[2] = {0, 0};
        size_t k;
        if (r % 4 != 0) {
            one[0] = (char)(0x20 + (r >> 8) % 95); /* printable ASCII */
            p = one;
            k = 1;
        } else if ((r >> 8) % 16 == 0) {
            p = one; /* an embedded NUL */
            k = 1;
        } else {
            p = pieces[(r >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
            k = strlen(p);
        }
        if (n + k > FH_TG_STR_CAP)
            break;
        memcpy(buf + n, p, k);
        n += k;
    }
    return n;
}

static inline struct fh_str fh_tg_pick_str(uint64_t *s, char *buf)
{
    static const char *const common[] = {"binance", "kraken",  "BTC-USDT", "ETH-USD",
                                         "BTCUSDT", "XBT/USD", "DOGE-EUR", ""};
    uint64_t r = fh_tg_next(s) % 16;
    size_t n;
    if (r < 8) {
        n = strlen(common[r]);
        memcpy(buf, common[r], n);
    } else if (r < 15) {
        n = fh_tg_utf8(s, buf, (size_t)(fh_tg_next(s) % 80));
    } else {
        n = fh_tg_utf8(s, buf, 60 + (size_t)(fh_tg_next(s) % 300)); /* 2-byte length */
    }
    return (struct fh_str){buf, n};
}

/* A random trade: any enum values, any subset of the nullable fields. */
static inline void fh_tg_random(struct fh_test_trade *g, uint64_t *s)
{
    struct fh_trade *t = &g->t;
    memset(t, 0, sizeof(*t));
    t->venue = fh_tg_pick_str(s, g->str[0]);
    t->symbol = fh_tg_pick_str(s, g->str[1]);
    t->native_symbol = fh_tg_pick_str(s, g->str[2]);
    t->has = (unsigned)(fh_tg_next(s) % 16);
    t->trade_id = fh_tg_long(s);
    t->first_trade_id = fh_tg_long(s);
    t->last_trade_id = fh_tg_long(s);
    t->kind = (enum fh_trade_kind)(fh_tg_next(s) % 2);
    t->price = fh_tg_decimal(s);
    t->quantity = fh_tg_decimal(s);
    t->side = (enum fh_side)(fh_tg_next(s) % 3);
    t->order_type = (enum fh_order_type)(fh_tg_next(s) % 3);
    t->trade_time_us = fh_tg_long(s);
    t->event_time_us = fh_tg_long(s);
    t->receive_time_ns = fh_tg_long(s);
    t->source = (enum fh_source)(fh_tg_next(s) % 4);
    t->connection_id = fh_tg_long(s);
    t->sequence = fh_tg_long(s);
}

static inline void fh_tg_set_str(struct fh_test_trade *g, int k, const char *s, size_t n)
{
    memcpy(g->str[k], s, n);
    struct fh_str v = {g->str[k], n};
    if (k == 0)
        g->t.venue = v;
    else if (k == 1)
        g->t.symbol = v;
    else
        g->t.native_symbol = v;
}

/* Number of edge-value trades fh_tg_edge() produces. */
#define FH_TG_EDGE_COUNT (8 + 2 * 3 * 3 * 4)

/*
 * Edge-value trade number i (0 <= i < FH_TG_EDGE_COUNT): all nulls and empty strings, zero,
 * INT64_MIN and INT64_MAX in every long, the extreme decimals (+-(10^38-1), +-10^-18),
 * non-ASCII and escape-worthy strings, a 9000-byte string, then every combination of the
 * four enums with the nullable fields cycling through all 16 presence patterns.
 */
static inline void fh_tg_edge(struct fh_test_trade *g, int i)
{
    struct fh_trade *t = &g->t;
    memset(t, 0, sizeof(*t));
    fh_tg_set_str(g, 0, "binance", 7);
    fh_tg_set_str(g, 1, "BTC-USDT", 8);
    fh_tg_set_str(g, 2, "BTCUSDT", 7);
    t->price = fh_decimal_from_units((fh_i128)1655212 * 10000000000000000LL); /* 16552.12 */
    t->quantity = fh_decimal_from_units((fh_i128)1000000000000000LL);         /* 0.001 */
    t->trade_time_us = 1700000000123456LL;
    t->receive_time_ns = 1700000000123456789LL;
    t->sequence = i;
    switch (i) {
    case 0: /* nulls, empty strings, zeros */
        fh_tg_set_str(g, 0, "", 0);
        fh_tg_set_str(g, 1, "", 0);
        fh_tg_set_str(g, 2, "", 0);
        t->price = fh_decimal_from_units(0);
        t->quantity = fh_decimal_from_units(0);
        t->trade_time_us = 0;
        t->receive_time_ns = 0;
        t->sequence = 0;
        return;
    case 1: /* the smallest long everywhere, the most negative decimal */
        t->has = FH_HAS_TRADE_ID | FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID | FH_HAS_EVENT_TIME;
        t->trade_id = t->first_trade_id = t->last_trade_id = INT64_MIN;
        t->trade_time_us = t->event_time_us = t->receive_time_ns = INT64_MIN;
        t->connection_id = t->sequence = INT64_MIN;
        t->price = fh_decimal_from_units(-fh_tg_dec_max());
        t->quantity = fh_decimal_from_units(-fh_tg_dec_max());
        t->kind = FH_KIND_AGG_TRADE;
        t->side = FH_SIDE_UNKNOWN;
        t->order_type = FH_ORDER_UNKNOWN;
        t->source = FH_SOURCE_REPLAY;
        return;
    case 2: /* the largest long everywhere, the largest decimal */
        t->has = FH_HAS_TRADE_ID | FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID | FH_HAS_EVENT_TIME;
        t->trade_id = t->first_trade_id = t->last_trade_id = INT64_MAX;
        t->trade_time_us = t->event_time_us = t->receive_time_ns = INT64_MAX;
        t->connection_id = t->sequence = INT64_MAX;
        t->price = fh_decimal_from_units(fh_tg_dec_max());
        t->quantity = fh_decimal_from_units(fh_tg_dec_max());
        return;
    case 3: /* the smallest steps, -1 everywhere */
        t->has = FH_HAS_TRADE_ID | FH_HAS_EVENT_TIME;
        t->trade_id = t->event_time_us = t->connection_id = -1;
        t->price = fh_decimal_from_units(1);
        t->quantity = fh_decimal_from_units(-1);
        return;
    case 4: { /* non-ASCII and characters JSON must escape */
        static const char v[] = "kr\xc3\xa4ken \"q\" \\ \x01\x1f\n\t/";
        static const char s[] = "\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x98\x80";
        static const char ns[] = "XBT/USD\x00nul";
        fh_tg_set_str(g, 0, v, sizeof(v) - 1);
        fh_tg_set_str(g, 1, s, sizeof(s) - 1);
        fh_tg_set_str(g, 2, ns, sizeof(ns) - 1);
        return;
    }
    case 5: { /* one long string: a 3-byte Avro length */
        memset(g->str[2], 'x', 9000);
        g->str[2][0] = 'B';
        struct fh_str v = {g->str[2], 9000};
        t->native_symbol = v;
        return;
    }
    case 6: /* values around the varint byte boundaries */
        t->has = FH_HAS_TRADE_ID | FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID | FH_HAS_EVENT_TIME;
        t->trade_id = 63;
        t->first_trade_id = -64;
        t->last_trade_id = 64;
        t->event_time_us = -65;
        t->connection_id = 8191;
        t->sequence = -8193;
        t->price = fh_decimal_from_units(127);
        t->quantity = fh_decimal_from_units(-128);
        return;
    case 7: /* decimals at byte-length boundaries */
        t->price = fh_decimal_from_units(128);
        t->quantity = fh_decimal_from_units(-129);
        return;
    default:
        break;
    }
    int k = i - 8;
    t->kind = (enum fh_trade_kind)(k % 2);
    t->side = (enum fh_side)((k / 2) % 3);
    t->order_type = (enum fh_order_type)((k / 6) % 3);
    t->source = (enum fh_source)((k / 18) % 4);
    t->has = (unsigned)(k % 16);
    t->trade_id = 1000 + k;
    t->first_trade_id = 900 + k;
    t->last_trade_id = 1100 + k;
    t->event_time_us = 1700000000123000LL + k;
}

#endif
