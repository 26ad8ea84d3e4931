/*
 * kraken_v2.c - Kraken spot WebSocket v2 (wss://ws.kraken.com/v2).
 *
 * Every message is an object. Channel messages carry "channel" (and "type", "data"):
 * status, heartbeat and trade are read; book, ticker, ohlc, instrument, level3 and the
 * private channels are valid and ignored. Method replies carry "method", "success",
 * "result" or "error", "req_id": subscribe / unsubscribe acks (one per symbol), pong, and
 * the failed ping reply; replies to other methods (cancel_all_orders_after, ...) are ignored.
 *
 * Trades: data[] of {symbol, side, price, qty, ord_type, trade_id, timestamp}. Prices and
 * quantities are JSON number tokens in any JSON form (85772.4, 40.0, 1, 1e-08, 2.5E+3),
 * converted exactly from the token text; a decimal string is accepted as well (the docs
 * and live frames disagree on other channels). The timestamp is RFC 3339 (see
 * kraken_common.c). type "snapshot" gives source SNAPSHOT and out->snapshot; "update" LIVE.
 */
#include "venue/kraken.h"

#include "core/err.h"

#include <inttypes.h>
#include <string.h>

static int fail(struct fh_venue_msg *out, enum fh_reject r)
{
    out->reject = r;
    return -1;
}

/* Top-level members the parser looks at. */
struct v2_top {
    int channel, type, data, method, success, result, error, req_id, symbol;
};

/* ---- trades ----------------------------------------------------------------------------- */

struct v2_trade_tok {
    int symbol, side, price, qty, ord_type, trade_id, timestamp;
};

static void trade_keys(const struct fh_json *j, int obj, struct v2_trade_tok *f)
{
    char kb[16];
    int k = obj + 1;
    for (int c = 0; c < fh_json_size(j, obj); c++) {
        struct fh_str key = fh__kraken_key(j, k, kb, sizeof(kb));
        int v = k + 1;
        switch (key.n) {
        case 3:
            if (memcmp(key.p, "qty", 3) == 0)
                f->qty = v;
            break;
        case 4:
            if (memcmp(key.p, "side", 4) == 0)
                f->side = v;
            break;
        case 5:
            if (memcmp(key.p, "price", 5) == 0)
                f->price = v;
            break;
        case 6:
            if (memcmp(key.p, "symbol", 6) == 0)
                f->symbol = v;
            break;
        case 8:
            if (memcmp(key.p, "ord_type", 8) == 0)
                f->ord_type = v;
            else if (memcmp(key.p, "trade_id", 8) == 0)
                f->trade_id = v;
            break;
        case 9:
            if (memcmp(key.p, "timestamp", 9) == 0)
                f->timestamp = v;
            break;
        default:
            break;
        }
        k = fh_json_skip(j, v);
    }
}

/* Symbol lookups are cached across the trades of one message (they share one symbol). */
struct sym_cache {
    struct fh_str raw; /* the last looked-up token text, escapes kept */
    struct fh_str native, canonical;
    uint32_t index; /* in the parser's symbol table */
};

static int trade_entry(struct fh_venue_parser *p, int obj, struct fh_trade *t,
                       struct sym_cache *cache, enum fh_reject *rej)
{
    const struct fh_json *j = &p->json;
    if (fh_json_type(j, obj) != JSMN_OBJECT) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    struct v2_trade_tok f = {-1, -1, -1, -1, -1, -1, -1};
    trade_keys(j, obj, &f);
    if (f.symbol < 0 || f.side < 0 || f.price < 0 || f.qty < 0 || f.ord_type < 0 ||
        f.trade_id < 0 || f.timestamp < 0) {
        *rej = FH_REJ_MISSING_FIELD;
        return -1;
    }
    struct fh_str raw = fh_json_raw(j, f.symbol);
    if (!fh_json_is_str(j, f.symbol) || cache->raw.p == NULL || !fh_str_eq(raw, cache->raw)) {
        if (fh__kraken_symbol(p, f.symbol, &cache->native, &cache->canonical, &cache->index, rej) !=
            0)
            return -1;
        cache->raw = raw;
    }
    t->symbol = cache->canonical;
    t->native_symbol = cache->native;
    if (fh__kraken_decimal(j, f.price, FH_REJ_BAD_PRICE, &t->price, rej) != 0 ||
        fh__kraken_decimal(j, f.qty, FH_REJ_BAD_QUANTITY, &t->quantity, rej) != 0)
        return -1;
    struct fh_str side, type, ts;
    if (!fh__kraken_raw_str(j, f.side, &side) || fh_kraken_side(side, &t->side) != 0 ||
        !fh__kraken_raw_str(j, f.ord_type, &type) ||
        fh_kraken_order_type(type, &t->order_type) != 0 ||
        fh_json_i64(j, f.trade_id, &t->trade_id) != 0 || t->trade_id < 0 ||
        !fh__kraken_raw_str(j, f.timestamp, &ts)) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    if (j->esc[f.timestamp] || fh_kraken_rfc3339_us(ts.p, ts.n, &t->trade_time_us) != 0) {
        *rej = FH_REJ_BAD_TIME;
        return -1;
    }
    t->has = FH_HAS_TRADE_ID | FH_HAS_SYMBOL_INDEX;
    t->symbol_index = cache->index;
    return 0;
}

static int parse_trades(struct fh_venue_parser *p, const struct v2_top *f, struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    struct fh_str type;
    if (f->type < 0 || f->data < 0)
        return fail(out, FH_REJ_MISSING_FIELD);
    if (!fh__kraken_raw_str(j, f->type, &type) || fh_json_type(j, f->data) != JSMN_ARRAY)
        return fail(out, FH_REJ_BAD_FIELD);
    if (fh_str_eq_c(type, "snapshot"))
        out->snapshot = true;
    else if (!fh_str_eq_c(type, "update"))
        return fail(out, FH_REJ_BAD_FIELD);
    size_t n = (size_t)fh_json_size(j, f->data);
    if (n > p->opts.max_trades)
        return fail(out, FH_REJ_TOO_MANY_TRADES);
    struct fh_str venue = fh_str_c(p->ops->venue);
    enum fh_source source = out->snapshot ? FH_SOURCE_SNAPSHOT : FH_SOURCE_LIVE;
    struct sym_cache cache = {{NULL, 0}, {NULL, 0}, {NULL, 0}, 0};
    int k = f->data + 1;
    for (size_t i = 0; i < n; i++) {
        struct fh_trade *t = &p->trades[i];
        *t = (struct fh_trade){.venue = venue, .kind = FH_KIND_TRADE, .source = source};
        if (trade_entry(p, k, t, &cache, &out->reject) != 0)
            return -1;
        k = fh_json_skip(j, k);
    }
    out->event = FH_EV_TRADES;
    out->n_trades = n;
    out->channel = fh_json_raw(j, f->channel);
    if (n > 0)
        out->symbol = p->trades[0].native_symbol;
    return 0;
}

/* ---- other channels and replies --------------------------------------------------------- */

static int parse_status(const struct fh_json *j, const struct v2_top *f, struct fh_venue_msg *out)
{
    if (f->data < 0)
        return fail(out, FH_REJ_MISSING_FIELD);
    if (fh_json_type(j, f->data) != JSMN_ARRAY)
        return fail(out, FH_REJ_BAD_FIELD);
    if (fh_json_size(j, f->data) < 1)
        return fail(out, FH_REJ_MISSING_FIELD);
    int entry = f->data + 1;
    if (fh_json_type(j, entry) != JSMN_OBJECT)
        return fail(out, FH_REJ_BAD_FIELD);
    int system = fh_json_get(j, entry, "system");
    int conn = fh_json_get(j, entry, "connection_id");
    if (system < 0)
        return fail(out, FH_REJ_MISSING_FIELD);
    if (!fh__kraken_raw_str(j, system, &out->text))
        return fail(out, FH_REJ_BAD_FIELD);
    /* connection_id exceeds INT64_MAX in real frames: uint64, exactly. */
    if (conn >= 0 && fh_json_u64(j, conn, &out->server_connection_id) != 0)
        return fail(out, FH_REJ_BAD_FIELD);
    out->status = fh_kraken_status(out->text);
    out->event = FH_EV_STATUS;
    return 0;
}

static int parse_channel(struct fh_venue_parser *p, const struct v2_top *f,
                         struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    struct fh_str ch;
    if (!fh__kraken_raw_str(j, f->channel, &ch))
        return fail(out, FH_REJ_BAD_FIELD);
    if (fh_str_eq_c(ch, "trade"))
        return parse_trades(p, f, out);
    out->channel = ch;
    if (fh_str_eq_c(ch, "heartbeat")) {
        out->event = FH_EV_HEARTBEAT;
        return 0;
    }
    if (fh_str_eq_c(ch, "status"))
        return parse_status(j, f, out);
    out->event = FH_EV_IGNORED;
    return 0;
}

static int parse_ack(const struct fh_json *j, const struct v2_top *f, bool success,
                     enum fh_event ok, struct fh_venue_msg *out)
{
    if (!success) {
        if ((f->error >= 0 && !fh__kraken_raw_str(j, f->error, &out->text)) ||
            (f->symbol >= 0 && !fh__kraken_raw_str(j, f->symbol, &out->symbol)))
            return fail(out, FH_REJ_BAD_FIELD);
        out->event = FH_EV_REQUEST_ERROR;
        return 0;
    }
    if (f->result < 0)
        return fail(out, FH_REJ_MISSING_FIELD);
    if (fh_json_type(j, f->result) != JSMN_OBJECT)
        return fail(out, FH_REJ_BAD_FIELD);
    int ch = fh_json_get(j, f->result, "channel");
    int sym = fh_json_get(j, f->result, "symbol");
    if ((ch >= 0 && !fh__kraken_raw_str(j, ch, &out->channel)) ||
        (sym >= 0 && !fh__kraken_raw_str(j, sym, &out->symbol)))
        return fail(out, FH_REJ_BAD_FIELD);
    out->event = ok;
    return 0;
}

static int parse_method(const struct fh_json *j, const struct v2_top *f, struct fh_venue_msg *out)
{
    struct fh_str method;
    if (!fh__kraken_raw_str(j, f->method, &method))
        return fail(out, FH_REJ_BAD_FIELD);
    bool has_success = f->success >= 0, success = true;
    if (has_success && fh_json_bool(j, f->success, &success) != 0)
        return fail(out, FH_REJ_BAD_FIELD);
    bool sub = fh_str_eq_c(method, "subscribe");
    if (sub || fh_str_eq_c(method, "unsubscribe")) {
        if (fh__kraken_req_id(j, f->req_id, out) != 0)
            return -1;
        if (!has_success)
            return fail(out, FH_REJ_MISSING_FIELD);
        return parse_ack(j, f, success, sub ? FH_EV_SUBSCRIBED : FH_EV_UNSUBSCRIBED, out);
    }
    if (fh_str_eq_c(method, "pong") || fh_str_eq_c(method, "ping")) {
        if (fh__kraken_req_id(j, f->req_id, out) != 0)
            return -1;
        if (!success) {
            /* A refused ping: {"error":"...","method":"ping","success":false,...}. */
            if (f->error >= 0 && !fh__kraken_raw_str(j, f->error, &out->text))
                return fail(out, FH_REJ_BAD_FIELD);
            out->event = FH_EV_REQUEST_ERROR;
            return 0;
        }
        out->event = FH_EV_PONG;
        return 0;
    }
    /* Replies to methods we never send (trading, cancel_all_orders_after...). */
    out->event = FH_EV_IGNORED;
    return 0;
}

static int v2_parse(struct fh_venue_parser *p, const char *msg, size_t len,
                    struct fh_venue_msg *out)
{
    (void)msg;
    (void)len;
    const struct fh_json *j = &p->json;
    if (fh_json_type(j, 0) != JSMN_OBJECT)
        return fail(out, FH_REJ_UNKNOWN_MESSAGE);
    struct v2_top f = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    char kb[16];
    int k = 1;
    for (int c = 0; c < fh_json_size(j, 0); c++) {
        struct fh_str key = fh__kraken_key(j, k, kb, sizeof(kb));
        int v = k + 1;
        switch (key.n) {
        case 4:
            if (memcmp(key.p, "type", 4) == 0)
                f.type = v;
            else if (memcmp(key.p, "data", 4) == 0)
                f.data = v;
            break;
        case 5:
            if (memcmp(key.p, "error", 5) == 0)
                f.error = v;
            break;
        case 6:
            if (memcmp(key.p, "method", 6) == 0)
                f.method = v;
            else if (memcmp(key.p, "result", 6) == 0)
                f.result = v;
            else if (memcmp(key.p, "req_id", 6) == 0)
                f.req_id = v;
            else if (memcmp(key.p, "symbol", 6) == 0)
                f.symbol = v;
            break;
        case 7:
            if (memcmp(key.p, "channel", 7) == 0)
                f.channel = v;
            else if (memcmp(key.p, "success", 7) == 0)
                f.success = v;
            break;
        default:
            break;
        }
        k = fh_json_skip(j, v);
    }
    if (f.channel >= 0)
        return parse_channel(p, &f, out);
    if (f.method >= 0)
        return parse_method(j, &f, out);
    return fail(out, FH_REJ_UNKNOWN_MESSAGE);
}

/* ---- builders --------------------------------------------------------------------------- */

static int v2_build_url(const char *base_url, const struct fh_sub_spec *spec, struct fh_buf *out)
{
    (void)spec;
    if (base_url == NULL || base_url[0] == '\0')
        return FH_EINVAL;
    return fh_buf_append(out, base_url, strlen(base_url));
}

static int v2_request(const struct fh_sub_spec *spec, bool subscribe, struct fh_buf *out)
{
    if (spec == NULL)
        return FH_EINVAL;
    if (spec->channels & ~(unsigned)FH_CH_TRADE)
        return FH_EUNSUPPORTED; /* Kraken has no aggregate trade channel */
    if (!(spec->channels & FH_CH_TRADE))
        return FH_EINVAL;
    size_t start = out->len;
    int rc = fh_buf_appendf(out, "{\"method\":\"%s\",\"params\":{\"channel\":\"trade\",\"symbol\":",
                            subscribe ? "subscribe" : "unsubscribe");
    if (rc == 0)
        rc = fh_kraken_append_symbols(spec, out);
    if (rc == 0 && subscribe)
        rc = fh_buf_appendf(out, ",\"snapshot\":%s", spec->snapshot ? "true" : "false");
    if (rc == 0)
        rc = fh_buf_appendf(out, "},\"req_id\":%" PRId64 "}", spec->req_id);
    if (rc != 0)
        fh__kraken_buf_cut(out, start);
    return rc;
}

static int v2_build_subscribe(const struct fh_sub_spec *spec, struct fh_buf *out)
{
    return v2_request(spec, true, out);
}

static int v2_build_unsubscribe(const struct fh_sub_spec *spec, struct fh_buf *out)
{
    return v2_request(spec, false, out);
}

static int v2_build_ping(int64_t req_id, struct fh_buf *out)
{
    return fh_buf_appendf(out, "{\"method\":\"ping\",\"req_id\":%" PRId64 "}", req_id);
}

static int v2_build_rest_trades(const struct fh_rest_req *req, struct fh_buf *out)
{
    return fh_kraken_build_rest_trades(req, true, out);
}

static int v2_parse_metadata(const char *body, size_t len, struct fh_symbols *t, char *err,
                             size_t errlen)
{
    return fh_kraken_parse_metadata(body, len, FH_KRAKEN_NAMES_V2, t, NULL, err, errlen);
}

const struct fh_venue_ops fh_venue_kraken_v2 = {
    FH_KRAKEN_OPS_COMMON,
    .name = "kraken-v2",
    .url_path_suffix = "/v2",
    .protocol = FH_PROTO_KRAKEN_V2,
    .caps = {FH_KRAKEN_CAPS_COMMON, .trade_ids = true, .snapshot_on_resubscribe = true,
             .rest_paging = FH_REST_BY_SINCE, .symbol_example = "BTC/USD"},
    .parse = v2_parse,
    .parse_fast = fh__kraken_v2_parse_fast,
    .build_url = v2_build_url,
    .build_subscribe = v2_build_subscribe,
    .build_unsubscribe = v2_build_unsubscribe,
    .build_ping = v2_build_ping,
    .build_rest_trades = v2_build_rest_trades,
    .parse_metadata = v2_parse_metadata,
};
