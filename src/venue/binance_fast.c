/*
 * binance_fast.c - the Binance stream trade read in one pass, without tokens.
 *
 * Nearly every message of a Binance trade feed has one shape: the combined envelope
 * {"stream":"<symbol>@trade","data":{...}} (or the bare event object) around a flat object of
 * one-letter keys whose values are plain strings, non-negative integers and booleans, with no
 * whitespace. Tokenizing such a message and walking its tokens was two thirds of its cost
 * (bench/README.md "JSON: the trade's own shape"). This reader takes exactly that shape and
 * nothing else; anything it does not recognise, or any check that fails, returns 0 and the
 * general path (fh_json_parse, then binance_parse) reads the message and gives the verdict.
 * So this file never rejects: it only answers what the general path would answer for the
 * messages it accepts, with the same readers (fh__fast_u63, bn_time_us, bn_positive,
 * fh__binance_finish_trade). unit.venue_fast and fuzz_binance_stream compare the two paths on
 * every input they accept.
 *
 * What it accepts, beyond the lexing of fast.h (no whitespace, no escapes):
 *   - keys of one letter; a known key (bn_key_one) twice refuses, as in the general path;
 *   - "e" of "trade" or "aggTrade" on a stream of the same kind, and every field the
 *     general path requires present with the type it requires;
 *   - no more tokens than the parser's capacity (the general path's FH_REJ_TOO_MANY_TOKENS).
 */
#include "venue/binance_int.h"
#include "venue/fast.h"

#include <limits.h>
#include <string.h>

struct fast_obj {
    struct fh_str v[K_A + 1]; /* the one-letter keys' values (strings: contents) */
    uint8_t type[K_A + 1];    /* enum fh_fv */
    int keys;
};

/* The body of a flat object after its '{': "k":v pairs up to and including the '}'. */
static bool flat_object(const char *s, size_t n, size_t *i, struct fast_obj *o)
{
    size_t k = *i;
    for (;;) {
        /* "x": */
        if (n - k < 5 || s[k] != '"' || s[k + 2] != '"' || s[k + 3] != ':')
            return false;
        char name = s[k + 1];
        if (!((name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z')))
            return false;
        k += 4;
        struct fh_str v;
        uint8_t t;
        if (!fh__fast_value(s, n, &k, &v, &t))
            return false;
        int slot = bn_key_one(name);
        if (slot >= 0) {
            if (o->type[slot] != FH_FV_NONE)
                return false; /* a key we read twice: the general path rejects it */
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

static bool get_u63(const struct fast_obj *o, int slot, int64_t *out)
{
    return o->type[slot] == FH_FV_UINT && fh__fast_u63(o->v[slot].p, o->v[slot].n, out);
}

static bool get_time(const struct fast_obj *o, int slot, bool time_us, int64_t *out)
{
    int64_t v;
    return get_u63(o, slot, &v) && bn_time_us(v, time_us, out);
}

static bool get_positive(const struct fast_obj *o, int slot, fh_decimal *out)
{
    return o->type[slot] == FH_FV_STR && bn_positive(o->v[slot], out);
}

int fh__binance_parse_fast(struct fh_venue_parser *p, const char *msg, size_t len,
                           struct fh_venue_msg *out)
{
    static const char env[] = "{\"stream\":\"", data[] = "\",\"data\":{";
    if (len > INT_MAX)
        return 0; /* the tokenizer's limit */
    struct fast_obj o;
    memset(o.type, 0, sizeof(o.type)); /* a value is read only where its type is set */
    o.keys = 0;
    struct fh_str stream = {NULL, 0};
    enum bn_event stream_kind = BE_UNKNOWN;
    bool combined = len > sizeof(env) - 1 && memcmp(msg, env, sizeof(env) - 1) == 0;
    size_t i;
    if (combined) {
        i = sizeof(env) - 2; /* at the stream name's opening quote */
        if (!fh__fast_string(msg, len, &i, &stream) || len - i < sizeof(data) - 2 ||
            memcmp(msg + i - 1, data, sizeof(data) - 1) != 0)
            return 0;
        stream_kind = fh__binance_stream_kind(stream);
        if (stream_kind == BE_UNKNOWN)
            return 0; /* not a trade stream: leave at once */
        i += sizeof(data) - 2;
    } else {
        if (len < 2 || msg[0] != '{')
            return 0;
        i = 1;
    }
    if (!flat_object(msg, len, &i, &o))
        return 0;
    if (combined && (i >= len || msg[i++] != '}'))
        return 0;
    if (i != len)
        return 0; /* trailing bytes, whitespace included: the general path decides */
    /* Tokens: the event object and each key and value; the envelope, its two keys, the
     * stream name. */
    size_t tokens = 1 + 2 * (size_t)o.keys + (combined ? 4 : 0);
    if (tokens > p->json.cap || p->opts.max_trades < 1)
        return 0;

    if (o.type[K_e] != FH_FV_STR)
        return 0;
    enum bn_event kind = fh__binance_event_kind(o.v[K_e]);
    if (kind != BE_TRADE && kind != BE_AGG_TRADE)
        return 0;
    bool agg = kind == BE_AGG_TRADE;
    if (combined && stream_kind != kind)
        return 0;
    if (o.type[K_s] != FH_FV_STR || (o.type[K_m] != FH_FV_TRUE && o.type[K_m] != FH_FV_FALSE))
        return 0;

    struct fh_trade *tr = &p->trades[0];
    memset(tr, 0, sizeof(*tr));
    if (agg) {
        if (!get_u63(&o, K_a, &tr->trade_id) || !get_u63(&o, K_f, &tr->first_trade_id) ||
            !get_u63(&o, K_l, &tr->last_trade_id) || tr->first_trade_id > tr->last_trade_id)
            return 0;
        tr->kind = FH_KIND_AGG_TRADE;
        tr->has = FH_HAS_TRADE_ID | FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID;
    } else {
        if (!get_u63(&o, K_t, &tr->trade_id))
            return 0;
        tr->kind = FH_KIND_TRADE;
        tr->has = FH_HAS_TRADE_ID;
    }
    bool time_us = p->opts.time_us;
    if (!get_positive(&o, K_p, &tr->price) || !get_positive(&o, K_q, &tr->quantity) ||
        !get_time(&o, K_T, time_us, &tr->trade_time_us) ||
        !get_time(&o, K_E, time_us, &tr->event_time_us))
        return 0;
    tr->side = bn_taker_side(o.type[K_m] == FH_FV_TRUE);
    tr->order_type = FH_ORDER_UNKNOWN;
    if (fh__binance_finish_trade(p, o.v[K_s], combined ? &stream : NULL, agg, tr) != FH_REJ_NONE)
        return 0;
    out->channel = stream;
    out->event = FH_EV_TRADES;
    out->trades = p->trades;
    out->n_trades = 1;
    return 1;
}
