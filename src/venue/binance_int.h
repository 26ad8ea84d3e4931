/*
 * binance_int.h - INTERNAL to the Binance adapter: what its three source files share. Not for
 * other modules; the adapter's interface is fh_venue_binance and fh_binance_check_symbol
 * (venue.h).
 *
 * The adapter is three files, each opening with the decisions it embodies:
 *   binance.c        stream messages and control replies (the hot path), the key scanner and
 *                    trade readers REST pages reuse, and the ops table
 *   binance_build.c  the stream URL, SUBSCRIBE / UNSUBSCRIBE and REST request builders, and
 *                    the check of configured symbols
 *   binance_rest.c   REST backfill pages and exchangeInfo symbol metadata
 * Functions one file calls in another are named fh__binance_*; everything else is static.
 *
 * Locality: any thread; a struct fh_venue_parser argument belongs to the calling thread.
 */
#ifndef FH_VENUE_BINANCE_INT_H
#define FH_VENUE_BINANCE_INT_H

#include "venue/venue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* fh_trade.venue of every trade (fh_venue_binance.venue). */
static const struct fh_str BN_VENUE = {"binance", 7};

/* Every key this protocol reads. One pass over an object records where each value is. */
enum bn_key {
    K_e,
    K_E,
    K_s,
    K_t,
    K_p,
    K_q,
    K_T,
    K_m,
    K_a,
    K_f,
    K_l,
    K_u,
    K_b,
    K_B,
    K_A,
    K_stream,
    K_data,
    K_result,
    K_id,
    K_error,
    K_code,
    K_msg,
    K_lastUpdateId,
    K_bids,
    K_asks,
    K_price,
    K_qty,
    K_time,
    K_isBuyerMaker,
    K_COUNT
};

/* Value token index per key; 0 means absent (token 0 is the root, never a value). */
struct bn_keys {
    int v[K_COUNT];
};

/* The fields the two trade row shapes share, by key slot. */
struct bn_trade_keys {
    int id, price, qty, time, maker;
};

/* ASCII letters to lower case; every other byte, UTF-8 included, as it is. */
static inline char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* The slot of a one-letter key, or -1. */
static inline int bn_key_one(char c)
{
    switch (c) {
    case 'e':
        return K_e;
    case 'E':
        return K_E;
    case 's':
        return K_s;
    case 't':
        return K_t;
    case 'p':
        return K_p;
    case 'q':
        return K_q;
    case 'T':
        return K_T;
    case 'm':
        return K_m;
    case 'a':
        return K_a;
    case 'f':
        return K_f;
    case 'l':
        return K_l;
    case 'u':
        return K_u;
    case 'b':
        return K_b;
    case 'B':
        return K_B;
    case 'A':
        return K_A;
    default:
        return -1;
    }
}

/* Kinds of "e" values and stream name suffixes. */
enum bn_event { BE_UNKNOWN = 0, BE_TRADE, BE_AGG_TRADE, BE_SHUTDOWN, BE_IGNORED };

/* A time in the connection's unit (ms, or µs with time_us) as microseconds; false if scaling
 * overflows. */
static inline bool bn_time_us(int64_t v, bool time_us, int64_t *out)
{
    if (!time_us) {
        if (v > INT64_MAX / 1000)
            return false;
        v *= 1000;
    }
    *out = v;
    return true;
}

/* The taker side from m / isBuyerMaker: true means the buyer's order rested, so the
 * aggressor sold. */
static inline enum fh_side bn_taker_side(bool buyer_maker)
{
    return buyer_maker ? FH_SIDE_SELL : FH_SIDE_BUY;
}

/* An exact decimal from its text (no sign, no exponent) that is > 0. */
static inline bool bn_positive(struct fh_str t, fh_decimal *out)
{
    return fh_decimal_parse(t.p, t.n, 0, out) == 0 && out->units > 0;
}

/* A symbol table entry's canonical name as a view. */
static inline struct fh_str canonical_of(const struct fh_symbol *s)
{
    struct fh_str c = {s->canonical, s->canonical_len};
    return c;
}

/* The table entry of a native symbol, or NULL (unknown, or the parser has no table). */
static inline const struct fh_symbol *find_symbol(const struct fh_venue_parser *p,
                                                  struct fh_str native)
{
    return p->symbols != NULL ? fh_symbols_find(p->symbols, native) : NULL;
}

/* binance.c: the readers REST pages share with the stream parser. */

/* Records the value index of every known key of object obj in one pass. Returns 0, or -1 if
 * a known key occurs twice. */
int fh__binance_scan_object(const struct fh_json *j, int obj, struct bn_keys *k);
/* A non-negative int64 id. */
bool fh__binance_read_id(const struct fh_json *j, int i, int64_t *out);
/* The kind of an "e" value. */
enum bn_event fh__binance_event_kind(struct fh_str e);
/* The trade kind a stream name announces ("btcusdt@trade", "btcusdt@aggTrade"), else
 * BE_UNKNOWN (a stream we do not cross-check). */
enum bn_event fh__binance_stream_kind(struct fh_str stream);
/* stream == lower(symbol) "@" type, folding ASCII case only (non-ASCII bytes must match). */
bool fh__binance_stream_is(struct fh_str stream, struct fh_str symbol, const char *type);
/* The end of a stream trade shared by both readers: its stream cross-check (stream NULL for
 * the raw form), symbol and source; the event time is set. FH_REJ_NONE or the reason. */
enum fh_reject fh__binance_finish_trade(const struct fh_venue_parser *p, struct fh_str native,
                                        const struct fh_str *stream, bool agg, struct fh_trade *tr);
/* binance_fast.c: a stream trade in the shape Binance sends, read without tokens. 1 when
 * out holds the trade, exactly as the general reader would give it; 0 when the message is
 * in any other shape (out untouched): the caller tokenizes it and runs binance_parse. */
int fh__binance_parse_fast(struct fh_venue_parser *p, const char *msg, size_t len,
                           struct fh_venue_msg *out);
/* Fills the common part of a trade (ids, kind and has bits are the caller's). */
enum fh_reject fh__binance_read_trade_core(const struct fh_json *j, const struct bn_trade_keys *tk,
                                           bool time_us, struct fh_trade *tr);

/* The ops table's entries defined outside binance.c (venue.h states their contracts). */

/* binance_build.c */
int fh__binance_build_url(const char *base_url, const struct fh_sub_spec *spec, struct fh_buf *out);
int fh__binance_build_subscribe(const struct fh_sub_spec *spec, struct fh_buf *out);
int fh__binance_build_unsubscribe(const struct fh_sub_spec *spec, struct fh_buf *out);
int fh__binance_build_ping(int64_t req_id, struct fh_buf *out);
int fh__binance_build_rest_trades(const struct fh_rest_req *req, struct fh_buf *out);

/* binance_rest.c */
int fh__binance_parse_rest_trades(struct fh_venue_parser *p, const char *body, size_t len,
                                  struct fh_str symbol, struct fh_rest_page *out,
                                  enum fh_reject *reject_out);
int fh__binance_parse_metadata(const char *body, size_t len, struct fh_symbols *t, char *err,
                               size_t errlen);

#endif
