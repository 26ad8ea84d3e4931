/*
 * binance.c - Binance spot: WebSocket market stream messages and control replies, the readers
 * they share with REST pages, and the ops table (../shared/protocols.md section 1). The
 * builders are in binance_build.c, REST pages and exchangeInfo in binance_rest.c; what the
 * three share is in binance_int.h.
 *
 * Stream messages come in two envelopes: the raw form (/ws/<stream>) is the bare event object,
 * the combined form (/stream?streams=...) wraps it as {"stream":"<name>","data":<event>}.
 * Both are accepted on any connection. What a message is follows from the keys present,
 * checked in this order:
 *   1. "stream"            combined envelope; "data" is classified like a raw message
 *   2. "result" / "error"  a reply to a control request (both at once: unknown message)
 *   3. "e"                 an event: trade, aggTrade, serverShutdown, or one of the market
 *                          streams we do not consume (depthUpdate, kline, tickers, ...)
 *   4. "code" and "msg"    the flat error form the documentation shows
 *   5. "lastUpdateId", "bids", "asks"   a partial book depth snapshot (it has no "e")
 *   6. "u","s","b","B","a","A"          a bookTicker (it has no "e" either)
 * A top-level array is the !miniTicker@arr / !ticker@arr form: every element must be an
 * object whose "e" names a stream we ignore. Anything else is FH_REJ_UNKNOWN_MESSAGE.
 *
 * Strictness, and why:
 *   - Trade fields are required and typed: e, E, s, p, q, T, m plus t (trade) or a, f, l
 *     (aggTrade). Prices and quantities are decimal strings without sign or exponent, > 0.
 *     Ids are non-negative int64 and f <= l. Times are non-negative integers; milliseconds
 *     are scaled to microseconds with an overflow check (FH_REJ_BAD_TIME).
 *   - Unknown keys are ignored anywhere (M, the removed b/a of trade events, new fields).
 *   - A key we read that appears twice in one object rejects the message (FH_REJ_BAD_FIELD):
 *     JSON leaves duplicates undefined and decoders disagree on which one wins, so a replay
 *     in another language could otherwise see a different trade.
 *   - Combined envelopes: when either the stream name or the event is a trade stream, they
 *     must agree exactly: "<s in lower case>@trade" with e "trade", "<s>@aggTrade" with e
 *     "aggTrade" (FH_REJ_BAD_FIELD otherwise). A trade delivered on a stream it does not
 *     belong to, or a trade stream carrying something else, means the protocol changed or
 *     the data is corrupt; counting it beats attributing it silently. Streams we ignore are
 *     not cross-checked, and serverShutdown is honoured on any stream name because acting on
 *     it (reconnecting) is always safe.
 *   - Replies: "id" is required with "result" and optional with an error (an error is worth
 *     reporting even when the id was lost). An id is an int64 (has_req_id), or a string or
 *     null (has_req_id false); any other type is FH_REJ_BAD_FIELD.
 *
 * Views put in struct fh_venue_msg (channel, text) are raw JSON string contents: escapes are
 * not decoded. A trade's native_symbol is decoded (into p->scratch when it holds escapes).
 * A reply's text is the raw "result" value ("null", "[...]", "true"); an error's text is its
 * "msg" and its channel the stream named in "data", when given.
 *
 * Everything here is pure and allocation-free.
 */
#include "venue/binance_int.h"
#include "venue/fast.h"

#include "core/err.h"

#include <string.h>

/* ---- key scanning --------------------------------------------------------------------- */

static bool name_is(const char *s, size_t n, const char *lit, size_t ln)
{
    return n == ln && memcmp(s, lit, ln) == 0;
}

#define NAME_IS(s, n, lit) name_is((s), (n), (lit), sizeof(lit) - 1)

/* The enum bn_key of a decoded key name, or -1. Dispatches on length first: cheap. */
static int key_lookup(const char *s, size_t n)
{
    switch (n) {
    case 1:
        return bn_key_one(s[0]);
    case 2:
        return NAME_IS(s, n, "id") ? K_id : -1;
    case 3:
        if (NAME_IS(s, n, "msg"))
            return K_msg;
        return NAME_IS(s, n, "qty") ? K_qty : -1;
    case 4:
        if (NAME_IS(s, n, "data"))
            return K_data;
        if (NAME_IS(s, n, "code"))
            return K_code;
        if (NAME_IS(s, n, "bids"))
            return K_bids;
        if (NAME_IS(s, n, "asks"))
            return K_asks;
        return NAME_IS(s, n, "time") ? K_time : -1;
    case 5:
        if (NAME_IS(s, n, "error"))
            return K_error;
        return NAME_IS(s, n, "price") ? K_price : -1;
    case 6:
        if (NAME_IS(s, n, "stream"))
            return K_stream;
        return NAME_IS(s, n, "result") ? K_result : -1;
    case 12:
        if (NAME_IS(s, n, "lastUpdateId"))
            return K_lastUpdateId;
        return NAME_IS(s, n, "isBuyerMaker") ? K_isBuyerMaker : -1;
    default:
        return -1;
    }
}

/* Records the value index of every known key of object obj in one pass. Returns 0, or -1 if
 * a known key occurs twice. */
int fh__binance_scan_object(const struct fh_json *j, int obj, struct bn_keys *k)
{
    memset(k, 0, sizeof(*k));
    int kt = obj + 1;
    int n = j->tok[obj].size;
    for (int c = 0; c < n; c++) {
        int vt = kt + 1;
        const char *name = j->src + j->tok[kt].start;
        size_t len = (size_t)(j->tok[kt].end - j->tok[kt].start);
        char dec[16];
        if (j->esc[kt]) {
            /* A key spelled with escapes ("\u0070") is the same key once decoded. Longer
             * than any key we know: not ours. */
            if (fh_json_str(j, kt, dec, sizeof(dec), &len) != 0)
                len = 0;
            name = dec;
        }
        int slot = key_lookup(name, len);
        if (slot >= 0) {
            if (k->v[slot] != 0)
                return -1;
            k->v[slot] = vt;
        }
        jsmntype_t vtype = j->tok[vt].type;
        kt = (vtype == JSMN_STRING || vtype == JSMN_PRIMITIVE) ? vt + 1 : fh_json_skip(j, vt);
    }
    return 0;
}

/* ---- small readers ---------------------------------------------------------------------- */

static int reject(struct fh_venue_msg *out, enum fh_reject r)
{
    out->reject = r;
    return -1;
}

/* A string token decoded into buf when it has escapes, else a view of the message. Returns
 * false if it is not a string or does not fit. */
static bool str_view(const struct fh_json *j, int i, char *buf, size_t cap, struct fh_str *out)
{
    return fh_json_str_view(j, i, buf, cap, out) == 0;
}

enum bn_event fh__binance_event_kind(struct fh_str e)
{
    /* Market streams we recognise and do not consume. blockTrade is new (2026-05); its
     * payload is not documented in our sources and we never subscribe to it. */
    static const struct {
        const char *name;
        size_t len;
        enum bn_event kind;
    } names[] = {
        {"aggTrade", 8, BE_AGG_TRADE},
        {"trade", 5, BE_TRADE},
        {"serverShutdown", 14, BE_SHUTDOWN},
        {"depthUpdate", 11, BE_IGNORED},
        {"kline", 5, BE_IGNORED},
        {"24hrTicker", 10, BE_IGNORED},
        {"24hrMiniTicker", 14, BE_IGNORED},
        {"1hTicker", 8, BE_IGNORED},
        {"4hTicker", 8, BE_IGNORED},
        {"1dTicker", 8, BE_IGNORED},
        {"avgPrice", 8, BE_IGNORED},
        {"bookTicker", 10, BE_IGNORED},
        {"blockTrade", 10, BE_IGNORED},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (name_is(e.p, e.n, names[i].name, names[i].len))
            return names[i].kind;
    }
    return BE_UNKNOWN;
}

enum bn_event fh__binance_stream_kind(struct fh_str stream)
{
    const char *at = memchr(stream.p, '@', stream.n);
    if (at == NULL)
        return BE_UNKNOWN;
    struct fh_str type = {at + 1, stream.n - (size_t)(at + 1 - stream.p)};
    if (fh_str_eq_c(type, "trade"))
        return BE_TRADE;
    if (fh_str_eq_c(type, "aggTrade"))
        return BE_AGG_TRADE;
    return BE_UNKNOWN;
}

bool fh__binance_stream_is(struct fh_str stream, struct fh_str symbol, const char *type)
{
    size_t tn = strlen(type);
    if (stream.n != symbol.n + 1 + tn)
        return false;
    for (size_t i = 0; i < symbol.n; i++) {
        if (ascii_lower(stream.p[i]) != ascii_lower(symbol.p[i]))
            return false;
    }
    return stream.p[symbol.n] == '@' && memcmp(stream.p + symbol.n + 1, type, tn) == 0;
}

/* A non-negative integer primitive that fits int64 (fh__fast_u63). Five of these are in
 * every trade. */
static bool read_u63(const struct fh_json *j, int i, int64_t *out)
{
    const jsmntok_t *t = &j->tok[i];
    if (t->type != JSMN_PRIMITIVE)
        return false;
    return fh__fast_u63(j->src + t->start, (size_t)(t->end - t->start), out);
}

/* A non-negative int64 id. */
bool fh__binance_read_id(const struct fh_json *j, int i, int64_t *out)
{
    return read_u63(j, i, out);
}

/* A time in the connection's unit, as microseconds. A non-number is a type error
 * (FH_REJ_BAD_FIELD); a number that is not a non-negative integer, or that overflows when
 * scaled, is FH_REJ_BAD_TIME. Returns FH_REJ_NONE on success. */
static enum fh_reject read_time(const struct fh_json *j, int i, bool time_us, int64_t *out)
{
    if (!fh_json_is_number(j, i))
        return FH_REJ_BAD_FIELD;
    int64_t v;
    if (!read_u63(j, i, &v) || !bn_time_us(v, time_us, out))
        return FH_REJ_BAD_TIME;
    return FH_REJ_NONE;
}

/* An exact positive decimal from a string token: not a string -> BAD_FIELD, otherwise
 * bad_value unless it parses (no sign, no exponent) and is > 0. */
static enum fh_reject read_positive(const struct fh_json *j, int i, enum fh_reject bad_value,
                                    fh_decimal *out)
{
    if (fh_json_type(j, i) != JSMN_STRING)
        return FH_REJ_BAD_FIELD;
    if (j->esc[i] || !bn_positive(fh_json_raw(j, i), out)) /* no decimal text needs an escape */
        return bad_value;
    return FH_REJ_NONE;
}

/* Fills the common part of a trade (ids, kind and has bits are the caller's). */
enum fh_reject fh__binance_read_trade_core(const struct fh_json *j, const struct bn_trade_keys *tk,
                                           bool time_us, struct fh_trade *tr)
{
    enum fh_reject r = read_positive(j, tk->price, FH_REJ_BAD_PRICE, &tr->price);
    if (r != FH_REJ_NONE)
        return r;
    r = read_positive(j, tk->qty, FH_REJ_BAD_QUANTITY, &tr->quantity);
    if (r != FH_REJ_NONE)
        return r;
    r = read_time(j, tk->time, time_us, &tr->trade_time_us);
    if (r != FH_REJ_NONE)
        return r;
    bool maker;
    if (fh_json_bool(j, tk->maker, &maker) != 0)
        return FH_REJ_BAD_FIELD;
    tr->side = bn_taker_side(maker);
    tr->order_type = FH_ORDER_UNKNOWN;
    return FH_REJ_NONE;
}

/* ---- stream events ---------------------------------------------------------------------- */

/* A trade or aggTrade event object (keys in k). stream is the combined stream name (decoded)
 * or NULL for the raw form. */
static int parse_trade(struct fh_venue_parser *p, const struct bn_keys *k, bool agg,
                       const struct fh_str *stream, struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    const int *v = k->v;
    if (v[K_E] == 0 || v[K_s] == 0 || v[K_p] == 0 || v[K_q] == 0 || v[K_T] == 0 || v[K_m] == 0)
        return reject(out, FH_REJ_MISSING_FIELD);
    if (agg ? (v[K_a] == 0 || v[K_f] == 0 || v[K_l] == 0) : v[K_t] == 0)
        return reject(out, FH_REJ_MISSING_FIELD);
    if (p->opts.max_trades < 1)
        return reject(out, FH_REJ_TOO_MANY_TRADES);

    struct fh_trade *tr = &p->trades[0];
    memset(tr, 0, sizeof(*tr));
    struct fh_str native;
    if (!str_view(j, v[K_s], p->scratch, sizeof(p->scratch), &native))
        return reject(out, FH_REJ_BAD_FIELD);
    if (agg) {
        if (!fh__binance_read_id(j, v[K_a], &tr->trade_id) ||
            !fh__binance_read_id(j, v[K_f], &tr->first_trade_id) ||
            !fh__binance_read_id(j, v[K_l], &tr->last_trade_id) ||
            tr->first_trade_id > tr->last_trade_id)
            return reject(out, FH_REJ_BAD_FIELD);
        tr->kind = FH_KIND_AGG_TRADE;
        tr->has = FH_HAS_TRADE_ID | FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID;
    } else {
        if (!fh__binance_read_id(j, v[K_t], &tr->trade_id))
            return reject(out, FH_REJ_BAD_FIELD);
        tr->kind = FH_KIND_TRADE;
        tr->has = FH_HAS_TRADE_ID;
    }
    struct bn_trade_keys tk = {0, v[K_p], v[K_q], v[K_T], v[K_m]};
    enum fh_reject r = fh__binance_read_trade_core(j, &tk, p->opts.time_us, tr);
    if (r == FH_REJ_NONE)
        r = read_time(j, v[K_E], p->opts.time_us, &tr->event_time_us);
    if (r != FH_REJ_NONE)
        return reject(out, r);
    r = fh__binance_finish_trade(p, native, stream, agg, tr);
    if (r != FH_REJ_NONE)
        return reject(out, r);
    out->event = FH_EV_TRADES;
    out->trades = p->trades;
    out->n_trades = 1;
    return 0;
}

enum fh_reject fh__binance_finish_trade(const struct fh_venue_parser *p, struct fh_str native,
                                        const struct fh_str *stream, bool agg, struct fh_trade *tr)
{
    tr->has |= FH_HAS_EVENT_TIME;
    if (stream != NULL && !fh__binance_stream_is(*stream, native, agg ? "aggTrade" : "trade"))
        return FH_REJ_BAD_FIELD;
    const struct fh_symbol *sym = find_symbol(p, native);
    if (sym == NULL)
        return FH_REJ_UNKNOWN_SYMBOL;
    tr->symbol_index = (uint32_t)(sym - p->symbols->items);
    tr->has |= FH_HAS_SYMBOL_INDEX;
    tr->venue = BN_VENUE;
    tr->symbol = canonical_of(sym);
    tr->native_symbol = native;
    tr->source = FH_SOURCE_LIVE;
    return FH_REJ_NONE;
}

/* An object with "e" (keys in k); stream as for parse_trade. */
static int parse_event(struct fh_venue_parser *p, const struct bn_keys *k,
                       const struct fh_str *stream, struct fh_venue_msg *out)
{
    char ebuf[32];
    struct fh_str e;
    if (!str_view(&p->json, k->v[K_e], ebuf, sizeof(ebuf), &e)) {
        /* A non-string "e" is a type error; a string too long to be a name we know is not. */
        return reject(out, fh_json_is_str(&p->json, k->v[K_e]) ? FH_REJ_UNKNOWN_MESSAGE
                                                               : FH_REJ_BAD_FIELD);
    }
    enum bn_event kind = fh__binance_event_kind(e);
    if (stream != NULL) {
        enum bn_event sk = fh__binance_stream_kind(*stream);
        bool trade_like = kind == BE_TRADE || kind == BE_AGG_TRADE;
        if ((sk != BE_UNKNOWN || trade_like) && sk != kind)
            return reject(out, FH_REJ_BAD_FIELD);
    }
    switch (kind) {
    case BE_TRADE:
        return parse_trade(p, k, false, stream, out);
    case BE_AGG_TRADE:
        return parse_trade(p, k, true, stream, out);
    case BE_SHUTDOWN:
        out->event = FH_EV_SERVER_SHUTDOWN;
        return 0;
    case BE_IGNORED:
        out->event = FH_EV_IGNORED;
        return 0;
    case BE_UNKNOWN:
        break;
    }
    return reject(out, FH_REJ_UNKNOWN_MESSAGE);
}

/* The array form (!miniTicker@arr, !ticker@arr): objects of ignored event types only. */
static int parse_array(struct fh_venue_parser *p, int arr, struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    int el = arr + 1;
    for (int c = 0; c < j->tok[arr].size; c++) {
        if (fh_json_type(j, el) != JSMN_OBJECT)
            return reject(out, FH_REJ_UNKNOWN_MESSAGE);
        struct bn_keys k;
        if (fh__binance_scan_object(j, el, &k) != 0)
            return reject(out, FH_REJ_BAD_FIELD);
        char ebuf[32];
        struct fh_str e;
        if (k.v[K_e] == 0 || !str_view(j, k.v[K_e], ebuf, sizeof(ebuf), &e) ||
            fh__binance_event_kind(e) != BE_IGNORED)
            return reject(out, FH_REJ_UNKNOWN_MESSAGE);
        el = fh_json_skip(j, el);
    }
    out->event = FH_EV_IGNORED;
    return 0;
}

/* Objects without "e" that are still market data: partial depth and bookTicker. */
static bool is_eventless_market_data(const struct bn_keys *k)
{
    const int *v = k->v;
    if (v[K_lastUpdateId] && v[K_bids] && v[K_asks])
        return true;
    return v[K_u] && v[K_s] && v[K_b] && v[K_B] && v[K_a] && v[K_A];
}

/* The object payload of a combined message on stream (decoded). */
static int parse_payload(struct fh_venue_parser *p, int obj, const struct fh_str *stream,
                         struct fh_venue_msg *out)
{
    struct bn_keys k;
    if (fh__binance_scan_object(&p->json, obj, &k) != 0)
        return reject(out, FH_REJ_BAD_FIELD);
    if (k.v[K_e] != 0)
        return parse_event(p, &k, stream, out);
    /* A trade stream's payload must be a trade event. */
    if (fh__binance_stream_kind(*stream) != BE_UNKNOWN)
        return reject(out, is_eventless_market_data(&k) ? FH_REJ_BAD_FIELD : FH_REJ_MISSING_FIELD);
    if (is_eventless_market_data(&k)) {
        out->event = FH_EV_IGNORED;
        return 0;
    }
    return reject(out, FH_REJ_UNKNOWN_MESSAGE);
}

static int parse_combined(struct fh_venue_parser *p, const struct bn_keys *k,
                          struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    int st = k->v[K_stream], data = k->v[K_data];
    if (fh_json_type(j, st) != JSMN_STRING)
        return reject(out, FH_REJ_BAD_FIELD);
    if (data == 0)
        return reject(out, FH_REJ_MISSING_FIELD);
    out->channel = fh_json_raw(j, st);
    /* Stream names are short ASCII; one with escapes is decoded for the cross-checks. */
    char sbuf[128];
    struct fh_str stream;
    if (!str_view(j, st, sbuf, sizeof(sbuf), &stream))
        return reject(out, FH_REJ_BAD_FIELD);
    if (fh_json_type(j, data) == JSMN_ARRAY) {
        if (fh__binance_stream_kind(stream) != BE_UNKNOWN)
            return reject(out, FH_REJ_BAD_FIELD);
        return parse_array(p, data, out);
    }
    if (fh_json_type(j, data) != JSMN_OBJECT)
        return reject(out, FH_REJ_BAD_FIELD);
    return parse_payload(p, data, &stream, out);
}

/* ---- control replies -------------------------------------------------------------------- */

/* The request id of a reply: int64 -> has_req_id; string or null -> no id; else a type
 * error. Returns FH_REJ_NONE on success. */
static enum fh_reject read_req_id(const struct fh_json *j, int i, struct fh_venue_msg *out)
{
    if (i == 0 || fh_json_is_null(j, i) || fh_json_type(j, i) == JSMN_STRING)
        return FH_REJ_NONE;
    if (fh_json_i64(j, i, &out->req_id) != 0)
        return FH_REJ_BAD_FIELD;
    out->has_req_id = true;
    return FH_REJ_NONE;
}

/* An error object's code (integer) and msg (string); data (a stream name) if a string. */
static enum fh_reject read_error_body(const struct fh_json *j, const struct bn_keys *e,
                                      struct fh_venue_msg *out)
{
    if (e->v[K_code] == 0 || e->v[K_msg] == 0)
        return FH_REJ_MISSING_FIELD;
    int64_t code;
    if (fh_json_i64(j, e->v[K_code], &code) != 0 || fh_json_type(j, e->v[K_msg]) != JSMN_STRING)
        return FH_REJ_BAD_FIELD;
    out->text = fh_json_raw(j, e->v[K_msg]);
    if (e->v[K_data] != 0 && fh_json_type(j, e->v[K_data]) == JSMN_STRING)
        out->channel = fh_json_raw(j, e->v[K_data]);
    return FH_REJ_NONE;
}

static int parse_reply(struct fh_venue_parser *p, const struct bn_keys *k, struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    if (k->v[K_result] != 0 && k->v[K_error] != 0)
        return reject(out, FH_REJ_UNKNOWN_MESSAGE);
    if (k->v[K_result] != 0) {
        if (k->v[K_id] == 0)
            return reject(out, FH_REJ_MISSING_FIELD);
        enum fh_reject r = read_req_id(j, k->v[K_id], out);
        if (r != FH_REJ_NONE)
            return reject(out, r);
        out->event = FH_EV_RESULT;
        out->text = fh_json_raw(j, k->v[K_result]);
        return 0;
    }
    int err = k->v[K_error];
    if (fh_json_type(j, err) != JSMN_OBJECT)
        return reject(out, FH_REJ_BAD_FIELD);
    struct bn_keys ek;
    if (fh__binance_scan_object(j, err, &ek) != 0)
        return reject(out, FH_REJ_BAD_FIELD);
    enum fh_reject r = read_error_body(j, &ek, out);
    if (r == FH_REJ_NONE)
        r = read_req_id(j, k->v[K_id], out);
    if (r != FH_REJ_NONE)
        return reject(out, r);
    out->event = FH_EV_REQUEST_ERROR;
    return 0;
}

static int binance_parse(struct fh_venue_parser *p, const char *msg, size_t len,
                         struct fh_venue_msg *out)
{
    (void)msg;
    (void)len;
    const struct fh_json *j = &p->json;
    if (fh_json_type(j, 0) == JSMN_ARRAY)
        return parse_array(p, 0, out);
    struct bn_keys k;
    if (fh__binance_scan_object(j, 0, &k) != 0)
        return reject(out, FH_REJ_BAD_FIELD);
    if (k.v[K_stream] != 0)
        return parse_combined(p, &k, out);
    if (k.v[K_result] != 0 || k.v[K_error] != 0)
        return parse_reply(p, &k, out);
    if (k.v[K_e] != 0)
        return parse_event(p, &k, NULL, out);
    if (k.v[K_code] != 0 && k.v[K_msg] != 0) {
        enum fh_reject r = read_error_body(j, &k, out);
        if (r == FH_REJ_NONE)
            r = read_req_id(j, k.v[K_id], out);
        if (r != FH_REJ_NONE)
            return reject(out, r);
        out->event = FH_EV_REQUEST_ERROR;
        return 0;
    }
    if (is_eventless_market_data(&k)) {
        out->event = FH_EV_IGNORED;
        return 0;
    }
    return reject(out, FH_REJ_UNKNOWN_MESSAGE);
}

const struct fh_venue_ops fh_venue_binance = {
    .name = "binance",
    .venue = "binance",
    .section = "binance",
    .url_path_suffix = NULL,
    .protocol = FH_PROTO_BINANCE,
    .caps =
        {
            .subscribe_in_url = true,
            .trade_ids = true,
            .ws_ping = true,
            .rotation = true,
            .snapshot_on_resubscribe = false,
            .channels = FH_CH_TRADE | FH_CH_AGG_TRADE,
            .rest_rows_carry_symbol = false,
            .rest_paging = FH_REST_BY_ID,
            .symbol_example = "BTCUSDT",
        },
    .check_symbol = fh_binance_check_symbol,
    .parse = binance_parse,
    .parse_fast = fh__binance_parse_fast,
    .build_url = fh__binance_build_url,
    .build_subscribe = fh__binance_build_subscribe,
    .build_unsubscribe = fh__binance_build_unsubscribe,
    .build_ping = fh__binance_build_ping,
    .build_rest_trades = fh__binance_build_rest_trades,
    .rest_time_us_header = "X-MBX-TIME-UNIT: MICROSECOND",
    .parse_rest_trades = fh__binance_parse_rest_trades,
    .metadata_path = "/api/v3/exchangeInfo",
    .parse_metadata = fh__binance_parse_metadata,
};
