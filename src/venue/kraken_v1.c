/*
 * kraken_v1.c - Kraken spot WebSocket v1 (wss://ws.kraken.com).
 *
 * Events are objects keyed by "event": systemStatus, subscriptionStatus, heartbeat, pong,
 * error (plus the bare {"Error":"..."} some servers sent). Channel data are arrays
 * [channelID, payload..., channelName, pair] whose channel name sits second to last (book
 * updates carry two payload elements). Only "trade" arrays are read; book, ticker, spread,
 * ohlc and private channels are valid and ignored.
 *
 * Trade rows are [price, volume, time, side, type, misc]: decimal strings (a number token
 * is accepted too, converted as exactly), the time as "sec.micro" (see kraken_common.c for
 * how other fraction lengths are handled), side b/s and type l/m (the documented schema's
 * buy/sell and limit/market are accepted as well, per the CONFLICT in protocols.md 2.1).
 * misc and any later element are ignored. v1 has no trade id.
 *
 * Other "event" values (the private order replies) are valid Kraken events of no interest
 * here and are ignored; an object without "event" (or "Error") is an unknown message.
 */
#include "venue/kraken.h"

#include "core/err.h"

#include <inttypes.h>
#include <string.h>

/* ---- events ----------------------------------------------------------------------------- */

struct v1_event {
    int event, status, conn_id, reqid, pair, channel, error_message, bare_error;
};

static int fail(struct fh_venue_msg *out, enum fh_reject r)
{
    out->reject = r;
    return -1;
}

/* An optional string member: absent is fine, another type is not. */
static int opt_str(const struct fh_json *j, int tok, struct fh_str *out)
{
    if (tok < 0)
        return 0;
    return fh__kraken_raw_str(j, tok, out) ? 0 : -1;
}

static int subscription_status(const struct fh_json *j, const struct v1_event *f,
                               struct fh_venue_msg *out)
{
    struct fh_str status;
    if (f->status < 0)
        return fail(out, FH_REJ_MISSING_FIELD);
    if (!fh__kraken_raw_str(j, f->status, &status) || opt_str(j, f->pair, &out->symbol) != 0 ||
        opt_str(j, f->channel, &out->channel) != 0 ||
        opt_str(j, f->error_message, &out->text) != 0 || fh__kraken_req_id(j, f->reqid, out) != 0)
        return fail(out, FH_REJ_BAD_FIELD);
    if (fh_str_eq_c(status, "subscribed"))
        out->event = FH_EV_SUBSCRIBED;
    else if (fh_str_eq_c(status, "unsubscribed"))
        out->event = FH_EV_UNSUBSCRIBED;
    else if (fh_str_eq_c(status, "error"))
        out->event = FH_EV_REQUEST_ERROR;
    else if (fh_str_eq_c(status, "ok"))
        out->event = FH_EV_IGNORED; /* listed by the docs, with no meaning for us */
    else
        return fail(out, FH_REJ_BAD_FIELD);
    return 0;
}

static int system_status(const struct fh_json *j, const struct v1_event *f,
                         struct fh_venue_msg *out)
{
    if (f->status < 0)
        return fail(out, FH_REJ_MISSING_FIELD);
    if (!fh__kraken_raw_str(j, f->status, &out->text))
        return fail(out, FH_REJ_BAD_FIELD);
    /* connectionID exceeds INT64_MAX in real captures: read it as uint64, exactly. */
    if (f->conn_id >= 0 && fh_json_u64(j, f->conn_id, &out->server_connection_id) != 0)
        return fail(out, FH_REJ_BAD_FIELD);
    out->status = fh_kraken_status(out->text);
    out->event = FH_EV_STATUS;
    return 0;
}

static int parse_event(struct fh_venue_parser *p, struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    struct v1_event f = {-1, -1, -1, -1, -1, -1, -1, -1};
    char kb[16];
    int k = 1;
    for (int c = 0; c < fh_json_size(j, 0); c++) {
        struct fh_str key = fh__kraken_key(j, k, kb, sizeof(kb));
        int v = k + 1;
        if (fh_str_eq_c(key, "event"))
            f.event = v;
        else if (fh_str_eq_c(key, "status"))
            f.status = v;
        else if (fh_str_eq_c(key, "connectionID"))
            f.conn_id = v;
        else if (fh_str_eq_c(key, "reqid"))
            f.reqid = v;
        else if (fh_str_eq_c(key, "pair"))
            f.pair = v;
        else if (fh_str_eq_c(key, "channelName"))
            f.channel = v;
        else if (fh_str_eq_c(key, "errorMessage"))
            f.error_message = v;
        else if (fh_str_eq_c(key, "Error"))
            f.bare_error = v;
        k = fh_json_skip(j, v);
    }
    struct fh_str ev;
    if (f.event < 0) {
        /* {"Error":"Exceeded msg rate"}: an older rate-limit notice without "event". */
        if (f.bare_error < 0)
            return fail(out, FH_REJ_UNKNOWN_MESSAGE);
        if (!fh__kraken_raw_str(j, f.bare_error, &out->text))
            return fail(out, FH_REJ_BAD_FIELD);
        out->event = FH_EV_ERROR;
        return 0;
    }
    if (!fh__kraken_raw_str(j, f.event, &ev))
        return fail(out, FH_REJ_BAD_FIELD);
    if (fh_str_eq_c(ev, "heartbeat")) {
        out->event = FH_EV_HEARTBEAT;
    } else if (fh_str_eq_c(ev, "pong")) {
        if (fh__kraken_req_id(j, f.reqid, out) != 0)
            return -1;
        out->event = FH_EV_PONG;
    } else if (fh_str_eq_c(ev, "subscriptionStatus")) {
        return subscription_status(j, &f, out);
    } else if (fh_str_eq_c(ev, "systemStatus")) {
        return system_status(j, &f, out);
    } else if (fh_str_eq_c(ev, "error")) {
        if (opt_str(j, f.error_message, &out->text) != 0 || fh__kraken_req_id(j, f.reqid, out) != 0)
            return fail(out, FH_REJ_BAD_FIELD);
        /* With a reqid the error refused that request; without one it is the connection's. */
        out->event = out->has_req_id ? FH_EV_REQUEST_ERROR : FH_EV_ERROR;
    } else {
        out->event = FH_EV_IGNORED;
    }
    return 0;
}

/* ---- channel arrays --------------------------------------------------------------------- */

/* One trade row into t (venue and symbols already set). */
static int trade_row(const struct fh_json *j, int row, struct fh_trade *t, enum fh_reject *rej)
{
    if (fh_json_type(j, row) != JSMN_ARRAY) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    if (fh_json_size(j, row) < 5) {
        *rej = FH_REJ_MISSING_FIELD;
        return -1;
    }
    int e0 = row + 1;
    int e1 = fh_json_skip(j, e0);
    int e2 = fh_json_skip(j, e1);
    int e3 = fh_json_skip(j, e2);
    int e4 = fh_json_skip(j, e3);
    if (fh__kraken_decimal(j, e0, FH_REJ_BAD_PRICE, &t->price, rej) != 0 ||
        fh__kraken_decimal(j, e1, FH_REJ_BAD_QUANTITY, &t->quantity, rej) != 0 ||
        fh__kraken_epoch_tok(j, e2, &t->trade_time_us, rej) != 0)
        return -1;
    struct fh_str side, type;
    if (!fh__kraken_raw_str(j, e3, &side) || fh_kraken_side(side, &t->side) != 0 ||
        !fh__kraken_raw_str(j, e4, &type) || fh_kraken_order_type(type, &t->order_type) != 0) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    return 0;
}

static int parse_trades(struct fh_venue_parser *p, int channel, int pair, struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    int64_t channel_id;
    /* Layout [channelID, [rows], "trade", pair]: token 1 is the id, token 2 the rows. */
    if (fh_json_i64(j, 1, &channel_id) != 0 || fh_json_type(j, 2) != JSMN_ARRAY)
        return fail(out, FH_REJ_BAD_FIELD);
    struct fh_str native, canonical;
    uint32_t sym_index;
    if (fh__kraken_symbol(p, pair, &native, &canonical, &sym_index, &out->reject) != 0)
        return -1;
    size_t n = (size_t)fh_json_size(j, 2);
    if (n > p->opts.max_trades)
        return fail(out, FH_REJ_TOO_MANY_TRADES);
    struct fh_str venue = fh_str_c(p->ops->venue);
    int row = 3;
    for (size_t i = 0; i < n; i++) {
        struct fh_trade *t = &p->trades[i];
        *t = (struct fh_trade){.venue = venue,
                               .symbol = canonical,
                               .native_symbol = native,
                               .kind = FH_KIND_TRADE,
                               .source = FH_SOURCE_LIVE,
                               .symbol_index = sym_index,
                               .has = FH_HAS_SYMBOL_INDEX};
        if (trade_row(j, row, t, &out->reject) != 0)
            return -1;
        row = fh_json_skip(j, row);
    }
    out->event = FH_EV_TRADES;
    out->n_trades = n;
    out->channel = fh_json_raw(j, channel);
    out->symbol = native;
    return 0;
}

static int parse_array(struct fh_venue_parser *p, struct fh_venue_msg *out)
{
    const struct fh_json *j = &p->json;
    int n = fh_json_size(j, 0);
    if (n < 3)
        return fail(out, FH_REJ_UNKNOWN_MESSAGE);
    /* Walk the top level to the channel name (second to last) and the pair (last). */
    int k = 1, channel = -1, pair = -1;
    for (int c = 0; c < n; c++) {
        if (c == n - 2)
            channel = k;
        else if (c == n - 1)
            pair = k;
        k = fh_json_skip(j, k);
    }
    if (!fh_json_is_str(j, channel))
        return fail(out, FH_REJ_UNKNOWN_MESSAGE);
    if (fh_json_str_eq(j, channel, "trade")) {
        if (n != 4)
            return fail(out, FH_REJ_UNKNOWN_MESSAGE);
        return parse_trades(p, channel, pair, out);
    }
    /* book-N, ticker, spread, ohlc-N, and private channels (whose last element is an
     * object): valid channel data we do not consume. */
    out->event = FH_EV_IGNORED;
    out->channel = fh_json_raw(j, channel);
    fh__kraken_raw_str(j, pair, &out->symbol);
    return 0;
}

static int v1_parse(struct fh_venue_parser *p, const char *msg, size_t len,
                    struct fh_venue_msg *out)
{
    (void)msg;
    (void)len;
    if (fh_json_type(&p->json, 0) == JSMN_OBJECT)
        return parse_event(p, out);
    return parse_array(p, out);
}

/* ---- builders --------------------------------------------------------------------------- */

static int v1_build_url(const char *base_url, const struct fh_sub_spec *spec, struct fh_buf *out)
{
    (void)spec;
    if (base_url == NULL || base_url[0] == '\0')
        return FH_EINVAL;
    return fh_buf_append(out, base_url, strlen(base_url));
}

static int v1_request(const struct fh_sub_spec *spec, const char *event, struct fh_buf *out)
{
    if (spec == NULL)
        return FH_EINVAL;
    if (spec->channels & ~(unsigned)FH_CH_TRADE)
        return FH_EUNSUPPORTED; /* Kraken has no aggregate trade channel */
    if (!(spec->channels & FH_CH_TRADE))
        return FH_EINVAL;
    size_t start = out->len;
    int rc = fh_buf_appendf(out, "{\"event\":\"%s\",\"pair\":", event);
    if (rc == 0)
        rc = fh_kraken_append_symbols(spec, out);
    if (rc == 0)
        rc = fh_buf_appendf(out, ",\"subscription\":{\"name\":\"trade\"},\"reqid\":%" PRId64 "}",
                            spec->req_id);
    if (rc != 0)
        fh__kraken_buf_cut(out, start);
    return rc;
}

static int v1_build_subscribe(const struct fh_sub_spec *spec, struct fh_buf *out)
{
    return v1_request(spec, "subscribe", out);
}

static int v1_build_unsubscribe(const struct fh_sub_spec *spec, struct fh_buf *out)
{
    return v1_request(spec, "unsubscribe", out);
}

static int v1_build_ping(int64_t req_id, struct fh_buf *out)
{
    return fh_buf_appendf(out, "{\"event\":\"ping\",\"reqid\":%" PRId64 "}", req_id);
}

static int v1_build_rest_trades(const struct fh_rest_req *req, struct fh_buf *out)
{
    return fh_kraken_build_rest_trades(req, false, out);
}

static int v1_parse_metadata(const char *body, size_t len, struct fh_symbols *t, char *err,
                             size_t errlen)
{
    return fh_kraken_parse_metadata(body, len, FH_KRAKEN_NAMES_V1, t, NULL, err, errlen);
}

const struct fh_venue_ops fh_venue_kraken_v1 = {
    FH_KRAKEN_OPS_COMMON,
    .name = "kraken-v1",
    .url_path_suffix = NULL, /* any URL of the section but /v2 */
    .protocol = FH_PROTO_KRAKEN_V1,
    .caps = {FH_KRAKEN_CAPS_COMMON, .trade_ids = false, .snapshot_on_resubscribe = false,
             .rest_paging = FH_REST_BY_SINCE, .symbol_example = "XBT/USD"},
    .parse = v1_parse,
    .parse_fast = fh__kraken_v1_parse_fast,
    .build_url = v1_build_url,
    .build_subscribe = v1_build_subscribe,
    .build_unsubscribe = v1_build_unsubscribe,
    .build_ping = v1_build_ping,
    .build_rest_trades = v1_build_rest_trades,
    .parse_metadata = v1_parse_metadata,
};
