/*
 * kraken.h - pieces shared by the Kraken WebSocket v1 and v2 adapters: exact time
 * conversions, side/order-type codes, request builders' helpers and the REST public Trades
 * parser (kraken_common.c); AssetPairs metadata and the v2 instrument channel (kraken_meta.c).
 *
 * The decisions these functions embody (time fractions, offsets, metadata form) are written
 * down at the top of those two files. Everything here is pure: no I/O, no clocks, no logging;
 * only the metadata parsers allocate (a token array, at start-up).
 *
 * Locality: any thread; a struct fh_venue_parser argument belongs to the calling thread.
 */
#ifndef FH_VENUE_KRAKEN_H
#define FH_VENUE_KRAKEN_H

#include "venue/venue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest time any Kraken parser accepts: 9999-12-31T23:59:59.999999Z, in µs. The smallest
 * is the epoch (0). Both ends are inclusive. */
#define FH_KRAKEN_MAX_TIME_US INT64_C(253402300799999999)

/* Flags of fh_kraken_epoch_us. */
enum fh_kraken_time_flags {
    FH_KRAKEN_TIME_EXP = 1 << 0 /* an exponent part is allowed (REST JSON number tokens) */
};

/*
 * Epoch seconds as decimal text ("1617666461.465618", "1762795433.9717445", "1617666461",
 * with FH_KRAKEN_TIME_EXP also "1.7627954339717445e9") -> microseconds, exactly: digits
 * beyond the sixth fraction digit are truncated (toward -inf, the value being positive).
 * No sign, no leading zeros ("0" alone is fine), at least one digit on each side of a dot.
 * Returns 0, FH_EINVAL (malformed) or FH_ERANGE (above FH_KRAKEN_MAX_TIME_US).
 */
int fh_kraken_epoch_us(const char *s, size_t n, unsigned flags, int64_t *out);

/*
 * RFC 3339 date-time -> microseconds since the epoch, exactly:
 *   YYYY-MM-DD ("T"|"t") hh:mm:ss [ "." 1*9DIGIT ] ( "Z" | "z" | ("+"|"-") hh:mm )
 * Ranges are checked (month, day of month with leap years, hour <= 23, minute and second
 * <= 59: a leap second ":60" is rejected, Unix time cannot represent it). A numeric offset
 * is converted exactly; fraction digits beyond microseconds are truncated. The result must
 * lie in [0, FH_KRAKEN_MAX_TIME_US]. Returns 0, FH_EINVAL or FH_ERANGE.
 */
int fh_kraken_rfc3339_us(const char *s, size_t n, int64_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (y 0..9999, m 1..12, d 1..31, not
 * validated here). */
int64_t fh_kraken_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Taker side "b"/"s" (v1, REST) or "buy"/"sell" (v2, and v1's schema text); order type
 * "l"/"m" or "limit"/"market". Return 0 or FH_EINVAL for anything else. */
int fh_kraken_side(struct fh_str s, enum fh_side *out);
int fh_kraken_order_type(struct fh_str s, enum fh_order_type *out);

/* Engine status text (online, maintenance, cancel_only, post_only, limit_only); anything
 * else is FH_STATUS_UNKNOWN. */
enum fh_system_status fh_kraken_status(struct fh_str s);

/*
 * Appends the JSON array of spec's symbols (["XBT/USD","XDG/USD"]) after checking each:
 * non-empty, shorter than FH_SYMBOL_MAX, valid UTF-8, containing '/', and with no '"',
 * '\\' or control character. Returns 0, FH_EINVAL (no symbols or a bad one) or the
 * buffer's error; on error nothing is appended.
 */
int fh_kraken_append_symbols(const struct fh_sub_spec *spec, struct fh_buf *out);
/* The symbol check of fh_kraken_append_symbols. */
bool fh_kraken_symbol_ok(struct fh_str s);

/*
 * REST public Trades request: appends "/0/public/Trades?pair=<symbol>[&since=<cursor>]
 * [&count=<limit>]" and, when v2, "&assetVersion=1" (the symbol is then the v2 name).
 * Symbol and cursor are percent-encoded (RFC 3986 unreserved characters pass). limit 0
 * leaves count out (Kraken's default, 1000). Returns 0, FH_EINVAL (empty or bad symbol,
 * limit > 1000) or the buffer's error; on error nothing is appended.
 */
int fh_kraken_build_rest_trades(const struct fh_rest_req *req, bool v2, struct fh_buf *out);

/*
 * Parses a REST public Trades body (see venue.h parse_rest_trades). symbol is the native
 * name the caller asked for, looked up in p->symbols for the canonical name; the result's
 * pair key is whatever Kraken calls the pair and is not compared with it. Trades point
 * into the body and the symbol table. An "error" array with an entry yields 0 with no
 * trades, out->error set (and out->rate_limited for EGeneral:Too many requests).
 */
int fh_kraken_parse_rest_trades(struct fh_venue_parser *p, const char *body, size_t len,
                                struct fh_str symbol, struct fh_rest_page *out,
                                enum fh_reject *reject);

/* Which name of an AssetPairs entry becomes the native symbol. */
enum fh_kraken_names {
    FH_KRAKEN_NAMES_V1 = 1, /* wsname ("XBT/USD") */
    FH_KRAKEN_NAMES_V2 = 2  /* the assetVersion=1 result key ("BTC/USD") */
};

/* What a metadata document held; counters only, for the start-up log line. */
struct fh_kraken_meta_stats {
    size_t pairs;      /* entries in the document */
    size_t added;      /* entries put into the table (an identical repeat counts once) */
    size_t dark_pool;  /* ".d" entries skipped */
    size_t no_wsname;  /* v1: entries without wsname skipped */
    size_t legacy_key; /* entries whose key has no '/' (legacy form) skipped */
};

/*
 * Fills t from a symbol metadata document:
 *   - GET /0/public/AssetPairs?assetVersion=1 (both protocols): native = wsname (V1) or the
 *     result key (V2), canonical = base "-" quote as given there (display form: BTC, DOGE,
 *     XMR), pair_decimals / lot_decimals -> price / qty decimals, status kept;
 *   - for V2 also a saved v2 instrument channel message (see fh_kraken_v2_parse_instrument).
 * Refuses, with a sentence in err, an error body, a legacy AssetPairs document (no key with
 * '/': keys such as XXBTZUSD, bases such as XXBT, which could only be mapped by guessing),
 * an entry without base or quote, and conflicting or too many entries; skips (and counts)
 * dark-pool entries, single legacy-looking keys and, for V1, entries without wsname.
 * stats may be NULL. Allocates a token array for the duration of the call.
 * Returns 0 or a negative FH_E* code.
 */
int fh_kraken_parse_metadata(const char *body, size_t len, enum fh_kraken_names names,
                             struct fh_symbols *t, struct fh_kraken_meta_stats *stats, char *err,
                             size_t errlen);

/*
 * Fills t from a v2 instrument channel message (snapshot or update): data.pairs[] entries
 * {symbol, base, quote, price_precision, qty_precision, status}; native = symbol,
 * canonical = base "-" quote. msg is tokenized with p's JSON tokens (so p's limits apply;
 * p->json is clobbered). *added (may be NULL) receives the number of pairs put into t.
 * Returns 0, or a negative code with a sentence in err.
 */
int fh_kraken_v2_parse_instrument(struct fh_venue_parser *p, const char *msg, size_t len,
                                  struct fh_symbols *t, size_t *added, char *err, size_t errlen);

/* Internals shared by kraken_v1.c, kraken_v2.c and kraken_meta.c. */

/* Looks up the native symbol held in string token tok; fills native (a view of the message,
 * or of the table entry when the text had escapes) and canonical. Returns 0, or -1 with
 * *rej = FH_REJ_BAD_FIELD (not a string) or FH_REJ_UNKNOWN_SYMBOL. */
int fh__kraken_symbol(const struct fh_venue_parser *p, int tok, struct fh_str *native,
                      struct fh_str *canonical, uint32_t *index, enum fh_reject *rej);
/* A decimal price or quantity from token tok (string or number): 0, or -1 with *rej set to
 * bad (FH_REJ_BAD_PRICE / FH_REJ_BAD_QUANTITY) for an invalid or non-positive value and to
 * FH_REJ_BAD_FIELD for a token of another type. */
int fh__kraken_decimal(const struct fh_json *j, int tok, enum fh_reject bad, fh_decimal *out,
                       enum fh_reject *rej);
/* A string token's raw view (escapes kept), for text fields; false if not a string. */
bool fh__kraken_raw_str(const struct fh_json *j, int tok, struct fh_str *out);
/* An object key's text: the raw view, or decoded into buf (cap bytes) when it has escapes;
 * empty if it does not fit (no key we look for is long). */
struct fh_str fh__kraken_key(const struct fh_json *j, int tok, char *buf, size_t cap);
/* A time token: a string (no exponent) or a number (exponent allowed) of epoch seconds.
 * 0, or -1 with *rej = FH_REJ_BAD_FIELD (other type) or FH_REJ_BAD_TIME. */
int fh__kraken_epoch_tok(const struct fh_json *j, int tok, int64_t *us, enum fh_reject *rej);
/* Optional integer request id at tok (-1: absent): fills out->req_id / has_req_id. 0, or -1
 * with out->reject = FH_REJ_BAD_FIELD (not an int64). */
int fh__kraken_req_id(const struct fh_json *j, int tok, struct fh_venue_msg *out);
/* Cuts b back to len bytes (undoing a partly built request). */
void fh__kraken_buf_cut(struct fh_buf *b, size_t len);

/* fh_venue_parse's checks (size, UTF-8, strict JSON into p->json) for REST bodies and the
 * instrument reader: 0, or -1 with *rej set. */
int fh__kraken_tokenize(struct fh_venue_parser *p, const char *msg, size_t len,
                        enum fh_reject *rej);

/* fh__kraken_decimal's rule for a value the readers without tokens lexed (type: enum fh_fv,
 * fast.h): a string as decimal text, a number in any JSON form; true if it is > 0. */
bool fh__kraken_fast_positive(struct fh_str v, uint8_t type, fh_decimal *out);

/* kraken_v2_fast.c: a v2 trade message in the shape Kraken sends, read without tokens (the
 * ops' parse_fast, venue.h): 1 with out holding exactly what v2_parse gives, 0 (out untouched)
 * for any other message. */
int fh__kraken_v2_parse_fast(struct fh_venue_parser *p, const char *msg, size_t len,
                             struct fh_venue_msg *out);

/* kraken_v1_fast.c: a v1 trade message in the shape Kraken sends, read without tokens (the
 * ops' parse_fast): 1 with out holding exactly what v1_parse gives, 0 (out untouched) for any
 * other message. */
int fh__kraken_v1_parse_fast(struct fh_venue_parser *p, const char *msg, size_t len,
                             struct fh_venue_msg *out);

/* What both Kraken protocols' ops tables share (kraken_v1.c, kraken_v2.c). */
#define FH_KRAKEN_CAPS_COMMON                                                                \
    .subscribe_in_url = false, .ws_ping = false, .rotation = false, .channels = FH_CH_TRADE, \
    .rest_rows_carry_symbol = true
#define FH_KRAKEN_OPS_COMMON                                                        \
    .venue = "kraken", .section = "kraken", .check_symbol = fh_kraken_check_symbol, \
    .parse_rest_trades = fh_kraken_parse_rest_trades,                               \
    .metadata_path = "/0/public/AssetPairs?assetVersion=1"

#endif
