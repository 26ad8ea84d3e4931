/*
 * kraken_v2_fast.c - the Kraken v2 trade message read in one pass, without tokens.
 *
 * {"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell",
 * "price":68466.9,"qty":0.01919415,"ord_type":"market","trade_id":70635251,
 * "timestamp":"2024-05-27T12:33:10.826003Z"},...]} is nearly every message of a Kraken v2
 * trade feed. This reader takes exactly that envelope ("update" or "snapshot", one trade or
 * more) around flat trade objects in the lexing of fast.h (no whitespace, no escapes), and
 * declines anything else, or any trade the general path would refuse, to the general path
 * (fh_json_parse, then v2_parse), which gives the verdict: it never rejects. It answers what
 * v2_parse answers, with the same readers (fh_kraken_side, fh_kraken_order_type,
 * fh_kraken_rfc3339_us, fh_decimal_parse with the flags fh_json_decimal uses, fh__fast_u63
 * for what fh_json_i64 reads, the symbol table), and the same conventions: a key given twice
 * in a trade counts its last value; the symbol lookup is cached across a message's trades.
 * unit.kraken_v2_fast and fuzz_kraken_v2 compare the two paths on every input.
 */
#include "venue/fast.h"
#include "venue/kraken.h"

#include <limits.h>
#include <string.h>

enum v2f_key { F_SYMBOL, F_SIDE, F_PRICE, F_QTY, F_ORD_TYPE, F_TRADE_ID, F_TIMESTAMP, F_COUNT };

struct v2f_trade {
    struct fh_str v[F_COUNT];
    uint8_t type[F_COUNT]; /* enum fh_fv */
    int keys;
};

static int key_of(struct fh_str k)
{
    switch (k.n) {
    case 3:
        return memcmp(k.p, "qty", 3) == 0 ? F_QTY : -1;
    case 4:
        return memcmp(k.p, "side", 4) == 0 ? F_SIDE : -1;
    case 5:
        return memcmp(k.p, "price", 5) == 0 ? F_PRICE : -1;
    case 6:
        return memcmp(k.p, "symbol", 6) == 0 ? F_SYMBOL : -1;
    case 8:
        if (memcmp(k.p, "ord_type", 8) == 0)
            return F_ORD_TYPE;
        return memcmp(k.p, "trade_id", 8) == 0 ? F_TRADE_ID : -1;
    case 9:
        return memcmp(k.p, "timestamp", 9) == 0 ? F_TIMESTAMP : -1;
    default:
        return -1;
    }
}

/* A trade object at s[*i] == '{', up to and including its '}'. */
static bool trade_object(const char *s, size_t n, size_t *i, struct v2f_trade *o)
{
    size_t k = *i + 1;
    memset(o->type, 0, sizeof(o->type));
    o->keys = 0;
    for (;;) {
        struct fh_str key, v;
        uint8_t t;
        if (k >= n || s[k] != '"' || !fh__fast_string(s, n, &k, &key) || k >= n || s[k++] != ':' ||
            !fh__fast_value(s, n, &k, &v, &t))
            return false;
        int slot = key_of(key);
        if (slot >= 0) { /* the last of a repeated key counts, as in v2_parse */
            o->v[slot] = v;
            o->type[slot] = t;
        }
        o->keys++;
        int more = fh__fast_next(s, n, &k, '}');
        if (more < 0)
            return false;
        if (more == 0)
            break;
    }
    *i = k;
    return true;
}

static bool positive(const struct v2f_trade *o, int slot, fh_decimal *out)
{
    return fh__kraken_fast_positive(o->v[slot], o->type[slot], out);
}

/* Symbol lookups cached across the trades of one message, as in v2_parse. */
struct v2f_cache {
    struct fh_str raw, canonical;
    uint32_t index;
};

static bool trade_fields(const struct fh_venue_parser *p, const struct v2f_trade *o,
                         struct v2f_cache *cache, struct fh_trade *t)
{
    for (int f = 0; f < F_COUNT; f++) {
        if (o->type[f] == FH_FV_NONE)
            return false;
    }
    if (o->type[F_SYMBOL] != FH_FV_STR || o->type[F_SIDE] != FH_FV_STR ||
        o->type[F_ORD_TYPE] != FH_FV_STR || o->type[F_TIMESTAMP] != FH_FV_STR ||
        o->type[F_TRADE_ID] != FH_FV_UINT)
        return false;
    struct fh_str sym = o->v[F_SYMBOL];
    if (cache->raw.p == NULL || !fh_str_eq(sym, cache->raw)) {
        const struct fh_symbol *e =
            (p->symbols != NULL && sym.n > 0) ? fh_symbols_find(p->symbols, sym) : NULL;
        if (e == NULL)
            return false;
        cache->raw = sym; /* no escapes: the native name is the text itself */
        cache->canonical = (struct fh_str){e->canonical, e->canonical_len};
        cache->index = (uint32_t)(e - p->symbols->items);
    }
    t->symbol = cache->canonical;
    t->native_symbol = cache->raw;
    if (!positive(o, F_PRICE, &t->price) || !positive(o, F_QTY, &t->quantity) ||
        fh_kraken_side(o->v[F_SIDE], &t->side) != 0 ||
        fh_kraken_order_type(o->v[F_ORD_TYPE], &t->order_type) != 0 ||
        !fh__fast_u63(o->v[F_TRADE_ID].p, o->v[F_TRADE_ID].n, &t->trade_id) ||
        fh_kraken_rfc3339_us(o->v[F_TIMESTAMP].p, o->v[F_TIMESTAMP].n, &t->trade_time_us) != 0)
        return false;
    t->has = FH_HAS_TRADE_ID | FH_HAS_SYMBOL_INDEX;
    t->symbol_index = cache->index;
    return true;
}

int fh__kraken_v2_parse_fast(struct fh_venue_parser *p, const char *msg, size_t len,
                             struct fh_venue_msg *out)
{
    static const char head[] = "{\"channel\":\"trade\",\"type\":\"", data[] = "\",\"data\":[";
    static const char channel_at[] = "{\"channel\":\""; /* what precedes "trade" in head */
    const size_t hn = sizeof(head) - 1, dn = sizeof(data) - 1;
    if (len > INT_MAX || len < hn + dn + 4 || memcmp(msg, head, hn) != 0)
        return 0;
    bool snapshot;
    size_t i = hn;
    if (memcmp(msg + i, "update", 6) == 0) {
        snapshot = false;
        i += 6;
    } else if (len - i >= 8 && memcmp(msg + i, "snapshot", 8) == 0) {
        snapshot = true;
        i += 8;
    } else {
        return 0;
    }
    if (len - i < dn + 3 || memcmp(msg + i, data, dn) != 0)
        return 0;
    i += dn;
    /* Tokens: the envelope, its three keys, two strings and the array; each trade object
     * with its keys and values. */
    size_t tokens = 7, n = 0;
    struct fh_str venue = fh_str_c(p->ops->venue);
    enum fh_source source = snapshot ? FH_SOURCE_SNAPSHOT : FH_SOURCE_LIVE;
    struct v2f_cache cache = {{NULL, 0}, {NULL, 0}, 0};
    for (;;) {
        if (i >= len || msg[i] != '{' || n >= p->opts.max_trades)
            return 0;
        struct v2f_trade o;
        if (!trade_object(msg, len, &i, &o))
            return 0;
        tokens += 1 + 2 * (size_t)o.keys;
        struct fh_trade *t = &p->trades[n];
        *t = (struct fh_trade){.venue = venue, .kind = FH_KIND_TRADE, .source = source};
        if (!trade_fields(p, &o, &cache, t))
            return 0;
        n++;
        int more = fh__fast_next(msg, len, &i, ']');
        if (more < 0)
            return 0;
        if (more == 0)
            break;
    }
    if (i + 1 != len || msg[i] != '}' || tokens > p->json.cap)
        return 0;
    out->event = FH_EV_TRADES;
    out->trades = p->trades;
    out->n_trades = n;
    out->snapshot = snapshot;
    out->channel = (struct fh_str){msg + sizeof(channel_at) - 1, 5}; /* "trade" */
    out->symbol = p->trades[0].native_symbol;
    return 1;
}
