/*
 * kraken.c - Kraken Spot WebSocket v1 (wss://ws.kraken.com, path "/") and v2 (path "/v2")
 * public trade feeds (protocols.md sections 2.1, 2.2 and the checklist in section 3).
 *
 * On open: systemStatus (v1) or a status channel update (v2) with a connection id above
 * 2^63. Subscribe/unsubscribe with one acknowledgement per pair (v1 subscriptionStatus with
 * channelID and channelName; v2 ack with time_in/time_out and req_id), the documented error
 * strings (v2 rejects v1 names: "Currency pair not supported XBT/USD"). v1 trades are
 * positional arrays with decimal strings, one-letter side/type codes and "sec.µs" times; v2
 * trades are objects with JSON numbers (exact, sometimes in exponent form), RFC 3339 µs
 * timestamps and trade_id. Trades of one pair that coincide within a tick share a message.
 * A heartbeat follows about 1 s without trade traffic once subscribed; ping/pong both
 * versions; v2 sends a snapshot of the last 50 trades when asked (snapshot:true), v1 only
 * with --kraken-v1-snapshot N. A connection with no client traffic for 60 s, or without any
 * subscription for 60 s, is closed (both scale with --time-scale).
 *
 * A venue module (layer 2, fs_kraken.h): the core calls it through fs_kraken_v1_module and
 * fs_kraken_v2_module (defined at the end), and it calls only the core.
 */
#include "fs_kraken.h"

#include "core/clock.h"
#include "core/err.h"

#include <stdio.h>
#include <string.h>

#define V1_VERSION "1.9.1"
#define V2_VERSION "2.0.0"

static bool is_v2(const struct fs_conn *c)
{
    return c->venue == FS_KRAKEN_V2;
}

static int kr_upgrade(struct fs_conn *c, const struct fh_http_req *req, int *status,
                      struct fh_buf *body)
{
    const char *want = is_v2(c) ? "/v2" : "/";
    if (!fh_str_eq_c(req->path, want)) {
        *status = 404;
        fh_buf_appendf(body, "{\"error\":[\"EGeneral:Not found\"]}");
        return FH_ENOTFOUND;
    }
    return 0;
}

void fs_kr_push_status(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    const char *st = sim->kr_maintenance ? "maintenance" : "online";
    char msg[256];
    int n;
    if (is_v2(c))
        n = snprintf(msg, sizeof(msg),
                     "{\"channel\":\"status\",\"type\":\"update\",\"data\":[{\"api_version\":"
                     "\"v2\",\"connection_id\":%llu,\"system\":\"%s\",\"version\":\"" V2_VERSION
                     "\"}]}",
                     (unsigned long long)c->kr_conn_id, st);
    else
        n = snprintf(msg, sizeof(msg),
                     "{\"connectionID\":%llu,\"event\":\"systemStatus\",\"status\":\"%s\","
                     "\"version\":\"" V1_VERSION "\"}",
                     (unsigned long long)c->kr_conn_id, st);
    fs_ws_send(c, WSLAY_TEXT_FRAME, msg, (size_t)n);
}

static void kr_open(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    /* Connection ids are unsigned 64-bit values above INT64_MAX, as on the wire. */
    c->kr_conn_id = (1ULL << 63) | (fs_rand64(sim->conn_rng) >> 1);
    c->nosub_since_ns = sim->now_ns;
    fs_kr_push_status(c);
}

/* ---- rendering ---- */

static void time_pair(struct fs_sim *sim, char *tin, char *tout)
{
    fs_fmt_rfc3339(fs_real_us(sim, sim->now_ns), tin);
    fs_fmt_rfc3339(fs_real_us(sim, fh_clock_monotonic_ns()), tout);
}

static void v1_trade_row(struct fh_buf *b, const struct fs_book *bk, const struct fs_trade *t)
{
    const struct fs_symbol *s = bk->sym;
    char px[FH_DECIMAL_TEXT_MAX + 1], qty[FH_DECIMAL_TEXT_MAX + 1], tm[32];
    fs_fmt_fixed(t->price, s->price_dec[FS_EX_KRAKEN], s->kr_v1_price_places, px);
    fs_fmt_fixed(t->qty, s->qty_dec[FS_EX_KRAKEN], 8, qty);
    fs_fmt_kr_v1_time(t->time_us, tm);
    fh_buf_appendf(b, "[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\",\"\"]", px, qty, tm, t->side ? "s" : "b",
                   t->ord_type ? "m" : "l");
}

static void v2_trade_obj(struct fh_buf *b, const struct fs_book *bk, const struct fs_trade *t)
{
    const struct fs_symbol *s = bk->sym;
    char px[64], qty[64], tm[40];
    fs_fmt_v2(t->price, s->price_dec[FS_EX_KRAKEN], (t->variant & FS_VAR_PRICE_EXP_UPPER) != 0,
              false, px);
    fs_fmt_v2(t->qty, s->qty_dec[FS_EX_KRAKEN], (t->variant & FS_VAR_QTY_EXP_UPPER) != 0,
              (t->variant & FS_VAR_QTY_POINT_ZERO) != 0, qty);
    fs_fmt_rfc3339(t->time_us, tm);
    fh_buf_appendf(b,
                   "{\"symbol\":\"%s\",\"side\":\"%s\",\"price\":%s,\"qty\":%s,\"ord_type\":"
                   "\"%s\",\"trade_id\":%lld,\"timestamp\":\"%s\"}",
                   s->kr_ws2, t->side ? "sell" : "buy", px, qty, t->ord_type ? "market" : "limit",
                   (long long)t->id, tm);
}

/* Sends trades (pointers, already filtered) as one message. */
static void send_trades(struct fs_conn *c, const struct fs_book *bk,
                        const struct fs_trade *const *t, size_t n, bool snapshot)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    if (is_v2(c)) {
        fh_buf_appendf(b, "{\"channel\":\"trade\",\"type\":\"%s\",\"data\":[",
                       snapshot ? "snapshot" : "update");
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                fh_buf_append(b, ",", 1);
            v2_trade_obj(b, bk, t[i]);
        }
        fh_buf_append(b, "]}", 2);
    } else {
        fh_buf_appendf(b, "[%d,[", bk->sym->kr_channel_id);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                fh_buf_append(b, ",", 1);
            v1_trade_row(b, bk, t[i]);
        }
        fh_buf_appendf(b, "],\"trade\",\"%s\"]", bk->sym->kr_ws1);
    }
    if (fs_ws_send_text(c, b->data, b->len) == 0)
        c->trades_out += n;
}

static void kr_deliver(struct fs_conn *c, const struct fs_book *b, const struct fs_trade *t,
                       size_t n)
{
    int idx = b->sym->idx;
    if ((c->sub_trade & (1ULL << idx)) == 0)
        return;
    const struct fs_trade *sel[256];
    size_t per = (size_t)c->sim->cfg.kraken_batch;
    if (per == 0 || per > 256)
        per = 256;
    size_t k = 0;
    for (size_t i = 0; i < n && c->phase == FS_PH_WS; i++) {
        if (c->omit[idx] > 0) {
            c->omit[idx]--;
            continue;
        }
        sel[k++] = &t[i];
        if (k == per) {
            send_trades(c, b, sel, k, false);
            k = 0;
        }
    }
    if (k > 0 && c->phase == FS_PH_WS)
        send_trades(c, b, sel, k, false);
}

static void send_snapshot(struct fs_conn *c, int sym, size_t want)
{
    struct fs_sim *sim = c->sim;
    const struct fs_book *bk = &sim->books[FS_EX_KRAKEN][sym];
    const struct fs_trade *sel[256];
    if (want > 256)
        want = 256;
    size_t n = bk->hist_len < want ? bk->hist_len : want;
    for (size_t i = 0; i < n; i++)
        sel[i] = fs_hist_at(bk, bk->hist_len - n + i);
    send_trades(c, bk, sel, n, true);
}

/* ---- v1 requests ---- */

static void v1_send(struct fs_conn *c)
{
    struct fh_buf *b = &c->sim->out;
    fs_ws_send(c, WSLAY_TEXT_FRAME, b->data, b->len);
}

static void v1_error_event(struct fs_conn *c, const char *msg, const char *reqid)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"errorMessage\":\"%s\",\"event\":\"error\"", msg);
    if (reqid != NULL)
        fh_buf_appendf(b, ",\"reqid\":%s", reqid);
    fh_buf_append(b, "}", 1);
    v1_send(c);
}

static void v1_status_error(struct fs_conn *c, const char *msg, const char *pair, size_t pair_len,
                            const char *reqid, const char *subname)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_append(b, "{\"errorMessage\":", 16);
    fs_json_str(b, msg, strlen(msg));
    fh_buf_append(b, ",\"event\":\"subscriptionStatus\"", 29);
    if (pair != NULL) {
        fh_buf_append(b, ",\"pair\":", 8);
        fs_json_str(b, pair, pair_len > 48 ? 48 : pair_len);
    }
    if (reqid != NULL)
        fh_buf_appendf(b, ",\"reqid\":%s", reqid);
    fh_buf_append(b, ",\"status\":\"error\"", 17);
    if (subname != NULL) {
        fh_buf_append(b, ",\"subscription\":{\"name\":", 24);
        fs_json_str(b, subname, strlen(subname));
        fh_buf_append(b, "}", 1);
    }
    fh_buf_append(b, "}", 1);
    v1_send(c);
}

static void v1_status_ok(struct fs_conn *c, int channel_id, const char *channel_name,
                         const char *pair, const char *reqid, const char *status,
                         const char *subscription_json)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b,
                   "{\"channelID\":%d,\"channelName\":\"%s\",\"event\":\"subscriptionStatus\","
                   "\"pair\":\"%s\"",
                   channel_id, channel_name, pair);
    if (reqid != NULL)
        fh_buf_appendf(b, ",\"reqid\":%s", reqid);
    fh_buf_appendf(b, ",\"status\":\"%s\",\"subscription\":%s}", status, subscription_json);
    v1_send(c);
}

static int find_v1_pair(const struct fs_sim *sim, struct fh_str p)
{
    for (size_t i = 0; i < sim->nsyms; i++) {
        if (fh_str_eq_c(p, sim->syms[i].kr_ws1))
            return (int)i;
    }
    return -1;
}

static int find_v2_pair(const struct fs_sim *sim, struct fh_str p)
{
    for (size_t i = 0; i < sim->nsyms; i++) {
        if (fh_str_eq_c(p, sim->syms[i].kr_ws2))
            return (int)i;
    }
    return -1;
}

static void subs_changed(struct fs_conn *c)
{
    if (c->nsubs == 0 && c->sub_trade == 0) {
        if (c->nosub_since_ns == 0)
            c->nosub_since_ns = c->sim->now_ns;
    } else {
        c->nosub_since_ns = 0;
    }
}

static void v1_subscribe(struct fs_conn *c, const struct fh_json *j, bool sub, const char *reqid)
{
    struct fs_sim *sim = c->sim;
    int subo = fh_json_get(j, 0, "subscription");
    if (subo < 0 || fh_json_type(j, subo) != JSMN_OBJECT) {
        v1_status_error(c, "Subscription field must be an object", NULL, 0, reqid, NULL);
        return;
    }
    int name = fh_json_get(j, subo, "name");
    char nm[24] = "";
    if (name < 0 || fh_json_str(j, name, nm, sizeof(nm), NULL) != 0) {
        v1_status_error(c, "Subscription name invalid", NULL, 0, reqid, NULL);
        return;
    }
    bool replay = fs_sim_replaying(sim, FS_KRAKEN_V1);
    char chan[32];
    snprintf(chan, sizeof(chan), "%s", nm);
    bool known = strcmp(nm, "trade") == 0 ||
                 (replay && (strcmp(nm, "book") == 0 || strcmp(nm, "ticker") == 0 ||
                             strcmp(nm, "spread") == 0 || strcmp(nm, "ohlc") == 0));
    if (!known) {
        v1_status_error(c, "Subscription name invalid", NULL, 0, reqid, NULL);
        return;
    }
    /* Members of the subscription object. */
    int k = subo + 1;
    for (int m = 0; m < fh_json_size(j, subo); m++, k = fh_json_skip(j, k + 1)) {
        struct fh_str key = fh_json_raw(j, k);
        int v = k + 1;
        if (fh_str_eq_c(key, "name"))
            continue;
        if (fh_str_eq_c(key, "snapshot") && fh_json_type(j, v) == JSMN_PRIMITIVE)
            continue;
        if (replay && fh_str_eq_c(key, "depth") && strcmp(nm, "book") == 0) {
            int64_t d = 0;
            fh_json_i64(j, v, &d);
            snprintf(chan, sizeof(chan), "book-%lld", (long long)d);
            continue;
        }
        if (replay && fh_str_eq_c(key, "interval") && strcmp(nm, "ohlc") == 0) {
            int64_t d = 0;
            fh_json_i64(j, v, &d);
            snprintf(chan, sizeof(chan), "ohlc-%lld", (long long)d);
            continue;
        }
        if (fh_str_eq_c(key, "depth")) {
            v1_status_error(c, "Subscription depth not supported", NULL, 0, reqid, nm);
            return;
        }
        v1_status_error(c, "Subscription object unsupported field", NULL, 0, reqid, nm);
        return;
    }
    if (replay && strcmp(chan, "book") == 0)
        snprintf(chan, sizeof(chan), "book-10"); /* Kraken's default depth */
    /* The echo of the subscription, as Kraken normalises it (keys in order). */
    char subjson[96];
    if (strncmp(chan, "book-", 5) == 0)
        snprintf(subjson, sizeof(subjson), "{\"depth\":%s,\"name\":\"book\"}", chan + 5);
    else if (strncmp(chan, "ohlc-", 5) == 0)
        snprintf(subjson, sizeof(subjson), "{\"interval\":%s,\"name\":\"ohlc\"}", chan + 5);
    else
        snprintf(subjson, sizeof(subjson), "{\"name\":\"%s\"}", nm);

    int pairs = fh_json_get(j, 0, "pair");
    if (pairs < 0 || fh_json_type(j, pairs) != JSMN_ARRAY) {
        v1_status_error(c, "Pair field must be an array", NULL, 0, reqid, nm);
        return;
    }
    int np = fh_json_size(j, pairs);
    for (int q = 0; q < np && c->phase == FS_PH_WS; q++) {
        int e = fh_json_at(j, pairs, q);
        if (!fh_json_is_str(j, e)) {
            v1_status_error(c, "Pair field must be an array", NULL, 0, reqid, nm);
            continue;
        }
        struct fh_str p = fh_json_raw(j, e);
        if (memchr(p.p, '/', p.n) == NULL) {
            char m[96];
            snprintf(m, sizeof(m), "Currency pair not in ISO 4217-A3 format %.*s",
                     (int)(p.n > 40 ? 40 : p.n), p.p);
            v1_status_error(c, m, p.p, p.n, reqid, nm);
            continue;
        }
        char pair[40];
        snprintf(pair, sizeof(pair), "%.*s", (int)(p.n > 39 ? 39 : p.n), p.p);
        int chid;
        int sym = -1;
        if (replay) {
            chid = fs_sim_replay_channel(sim, chan, pair);
        } else {
            sym = find_v1_pair(sim, p);
            chid = sym >= 0 ? sim->syms[sym].kr_channel_id : -1;
        }
        if (chid < 0) {
            v1_status_error(c, "Pair(s) not found", p.p, p.n, reqid, nm);
            continue;
        }
        char key[96];
        snprintf(key, sizeof(key), "%s|%s", chan, pair);
        int have = fs_sub_find(c, key);
        if (sub) {
            if (have >= 0) {
                v1_status_error(c, "Already subscribed", p.p, p.n, reqid, nm);
                continue;
            }
            if (fs_sub_add(c, key) != 0) {
                v1_status_error(c, "Subscription limit exceeded", p.p, p.n, reqid, nm);
                continue;
            }
            if (sym >= 0)
                c->sub_trade |= 1ULL << sym;
            v1_status_ok(c, chid, chan, pair, reqid, "subscribed", subjson);
            if (sym >= 0 && sim->cfg.kraken_v1_snapshot > 0 && !sim->cfg.blast)
                send_snapshot(c, sym, (size_t)sim->cfg.kraken_v1_snapshot);
        } else {
            if (have < 0) {
                v1_status_error(c, "Subscription Not Found", p.p, p.n, reqid, nm);
                continue;
            }
            fs_sub_remove(c, have);
            if (sym >= 0)
                c->sub_trade &= ~(1ULL << sym);
            v1_status_ok(c, chid, chan, pair, reqid, "unsubscribed", subjson);
        }
    }
    subs_changed(c);
    fs_conn_subscribed(c);
}

static void v1_message(struct fs_conn *c, const uint8_t *msg, size_t len)
{
    struct fh_json *j = &c->sim->json;
    if (fh_json_parse(j, (const char *)msg, len) != 0 || fh_json_type(j, 0) != JSMN_OBJECT) {
        v1_error_event(c, "Malformed request", NULL);
        return;
    }
    char reqid[24];
    const char *rq = NULL;
    int r = fh_json_get(j, 0, "reqid");
    if (r >= 0) {
        int64_t v;
        if (fh_json_i64(j, r, &v) != 0) {
            v1_error_event(c, "Malformed request", NULL);
            return;
        }
        snprintf(reqid, sizeof(reqid), "%lld", (long long)v);
        rq = reqid;
    }
    int ev = fh_json_get(j, 0, "event");
    if (ev < 0 || !fh_json_is_str(j, ev)) {
        v1_status_error(c, "Event(s) not found", NULL, 0, rq, NULL);
        return;
    }
    if (fh_json_str_eq(j, ev, "ping")) {
        struct fh_buf *b = &c->sim->out;
        fh_buf_reset(b);
        fh_buf_append(b, "{\"event\":\"pong\"", 15);
        if (rq != NULL)
            fh_buf_appendf(b, ",\"reqid\":%s", rq);
        fh_buf_append(b, "}", 1);
        v1_send(c);
    } else if (fh_json_str_eq(j, ev, "subscribe")) {
        v1_subscribe(c, j, true, rq);
    } else if (fh_json_str_eq(j, ev, "unsubscribe")) {
        v1_subscribe(c, j, false, rq);
    } else {
        v1_error_event(c, "Event(s) not found", rq);
    }
}

/* ---- v2 requests ---- */

static void v2_error(struct fs_conn *c, const char *err, const char *method, const char *symbol,
                     size_t symbol_len, const char *req_id)
{
    struct fs_sim *sim = c->sim;
    char tin[40], tout[40];
    time_pair(sim, tin, tout);
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_append(b, "{\"error\":", 9);
    fs_json_str(b, err, strlen(err));
    if (method != NULL) {
        fh_buf_append(b, ",\"method\":", 10);
        fs_json_str(b, method, strlen(method));
    }
    fh_buf_append(b, ",\"success\":false", 16);
    if (symbol != NULL) {
        fh_buf_append(b, ",\"symbol\":", 10);
        fs_json_str(b, symbol, symbol_len > 48 ? 48 : symbol_len);
    }
    fh_buf_appendf(b, ",\"time_in\":\"%s\",\"time_out\":\"%s\"", tin, tout);
    if (req_id != NULL)
        fh_buf_appendf(b, ",\"req_id\":%s", req_id);
    fh_buf_append(b, "}", 1);
    fs_ws_send(c, WSLAY_TEXT_FRAME, b->data, b->len);
}

static void v2_ack(struct fs_conn *c, const char *method, const char *symbol, int snapshot,
                   const char *req_id)
{
    struct fs_sim *sim = c->sim;
    char tin[40], tout[40];
    time_pair(sim, tin, tout);
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"method\":\"%s\",\"result\":{\"channel\":\"trade\",", method);
    if (snapshot >= 0)
        fh_buf_appendf(b, "\"snapshot\":%s,", snapshot ? "true" : "false");
    fh_buf_appendf(b, "\"symbol\":\"%s\"},\"success\":true,\"time_in\":\"%s\",\"time_out\":\"%s\"",
                   symbol, tin, tout);
    if (req_id != NULL)
        fh_buf_appendf(b, ",\"req_id\":%s", req_id);
    fh_buf_append(b, "}", 1);
    fs_ws_send(c, WSLAY_TEXT_FRAME, b->data, b->len);
}

static void v2_subscribe(struct fs_conn *c, const struct fh_json *j, bool sub, const char *rq)
{
    struct fs_sim *sim = c->sim;
    const char *method = sub ? "subscribe" : "unsubscribe";
    int params = fh_json_get(j, 0, "params");
    if (params < 0 || fh_json_type(j, params) != JSMN_OBJECT) {
        v2_error(c, "Malformed request", method, NULL, 0, rq);
        return;
    }
    int ch = fh_json_get(j, params, "channel");
    if (ch < 0 || !fh_json_is_str(j, ch)) {
        v2_error(c, "Malformed request", method, NULL, 0, rq);
        return;
    }
    if (!fh_json_str_eq(j, ch, "trade")) {
        v2_error(c, "Subscription name invalid", method, NULL, 0, rq);
        return;
    }
    bool snapshot = false;
    int sn = fh_json_get(j, params, "snapshot");
    if (sn >= 0 && fh_json_bool(j, sn, &snapshot) != 0) {
        v2_error(c, "Malformed request", method, NULL, 0, rq);
        return;
    }
    int syms = fh_json_get(j, params, "symbol");
    if (syms < 0 || fh_json_type(j, syms) != JSMN_ARRAY) {
        v2_error(c, "Malformed request", method, NULL, 0, rq);
        return;
    }
    int n = fh_json_size(j, syms);
    for (int k = 0; k < n && c->phase == FS_PH_WS; k++) {
        int e = fh_json_at(j, syms, k);
        if (!fh_json_is_str(j, e)) {
            v2_error(c, "Malformed request", method, NULL, 0, rq);
            continue;
        }
        struct fh_str p = fh_json_raw(j, e);
        char m[96];
        if (memchr(p.p, '/', p.n) == NULL) {
            snprintf(m, sizeof(m), "Currency pair not in ISO 4217-A3 format %.*s",
                     (int)(p.n > 40 ? 40 : p.n), p.p);
            v2_error(c, m, method, p.p, p.n, rq);
            continue;
        }
        int sym = find_v2_pair(sim, p);
        if (sym < 0) {
            /* v1 names (XBT/USD, XDG/USD) and unknown pairs alike. */
            snprintf(m, sizeof(m), "Currency pair not supported %.*s", (int)(p.n > 40 ? 40 : p.n),
                     p.p);
            v2_error(c, m, method, p.p, p.n, rq);
            continue;
        }
        char key[FS_STREAM_NAME];
        snprintf(key, sizeof(key), "trade|%s", sim->syms[sym].kr_ws2);
        int have = fs_sub_find(c, key);
        if (sub) {
            if (have >= 0) {
                v2_error(c, "Already subscribed", method, p.p, p.n, rq);
                continue;
            }
            if (fs_sub_add(c, key) != 0) {
                v2_error(c, "Subscription limit exceeded", method, p.p, p.n, rq);
                continue;
            }
            c->sub_trade |= 1ULL << sym;
            v2_ack(c, method, sim->syms[sym].kr_ws2, snapshot, rq);
            if (snapshot && !sim->cfg.blast)
                send_snapshot(c, sym, (size_t)sim->cfg.kraken_v2_snapshot);
        } else {
            if (have < 0) {
                v2_error(c, "Subscription Not Found", method, p.p, p.n, rq);
                continue;
            }
            fs_sub_remove(c, have);
            c->sub_trade &= ~(1ULL << sym);
            v2_ack(c, method, sim->syms[sym].kr_ws2, -1, rq);
        }
    }
    subs_changed(c);
    fs_conn_subscribed(c);
}

static void v2_message(struct fs_conn *c, const uint8_t *msg, size_t len)
{
    struct fs_sim *sim = c->sim;
    struct fh_json *j = &sim->json;
    if (fh_json_parse(j, (const char *)msg, len) != 0 || fh_json_type(j, 0) != JSMN_OBJECT) {
        v2_error(c, "Malformed request", NULL, NULL, 0, NULL);
        return;
    }
    char reqid[24];
    const char *rq = NULL;
    int r = fh_json_get(j, 0, "req_id");
    if (r >= 0) {
        int64_t v;
        if (fh_json_i64(j, r, &v) != 0) {
            v2_error(c, "Malformed request", NULL, NULL, 0, NULL);
            return;
        }
        snprintf(reqid, sizeof(reqid), "%lld", (long long)v);
        rq = reqid;
    }
    int m = fh_json_get(j, 0, "method");
    if (m < 0 || !fh_json_is_str(j, m)) {
        v2_error(c, "Malformed request", NULL, NULL, 0, rq);
        return;
    }
    if (fh_json_str_eq(j, m, "ping")) {
        char tin[40], tout[40];
        time_pair(sim, tin, tout);
        struct fh_buf *b = &sim->out;
        fh_buf_reset(b);
        fh_buf_append(b, "{\"method\":\"pong\"", 16);
        if (rq != NULL)
            fh_buf_appendf(b, ",\"req_id\":%s", rq);
        fh_buf_appendf(b, ",\"time_in\":\"%s\",\"time_out\":\"%s\"}", tin, tout);
        fs_ws_send(c, WSLAY_TEXT_FRAME, b->data, b->len);
    } else if (fh_json_str_eq(j, m, "subscribe")) {
        v2_subscribe(c, j, true, rq);
    } else if (fh_json_str_eq(j, m, "unsubscribe")) {
        v2_subscribe(c, j, false, rq);
    } else {
        char name[48];
        if (fh_json_str(j, m, name, sizeof(name), NULL) != 0)
            snprintf(name, sizeof(name), "?");
        v2_error(c, "Method not found", name, NULL, 0, rq);
    }
}

static void kr_message(struct fs_conn *c, int opcode, const uint8_t *msg, size_t len)
{
    if (opcode != WSLAY_TEXT_FRAME)
        return; /* pings are answered by wslay; pongs and binary frames ignored */
    if (is_v2(c))
        v2_message(c, msg, len);
    else
        v1_message(c, msg, len);
}

static void kr_tick(struct fs_conn *c, int64_t now)
{
    struct fs_sim *sim = c->sim;
    int64_t idle = fs_interval(sim, FS_IV_KR_IDLE);
    if (idle > 0 && now - c->last_rx_ns >= idle) {
        fs_ws_close(c, 1000, "Idle timeout");
        return;
    }
    int64_t nosub = fs_interval(sim, FS_IV_KR_NOSUB);
    if (nosub > 0 && c->nosub_since_ns != 0 && now - c->nosub_since_ns >= nosub) {
        fs_ws_close(c, 1000, "No subscriptions");
        return;
    }
    int64_t hb = fs_interval(sim, FS_IV_KR_HEARTBEAT);
    /* A replayed session carries its own recorded heartbeats. */
    if (hb > 0 && c->nsubs > 0 && !fs_sim_replaying(sim, c->venue)) {
        int64_t last = c->last_data_tx_ns > c->last_hb_ns ? c->last_data_tx_ns : c->last_hb_ns;
        if (now - last >= hb) {
            static const char v1hb[] = "{\"event\":\"heartbeat\"}";
            static const char v2hb[] = "{\"channel\":\"heartbeat\"}";
            if (is_v2(c))
                fs_ws_send(c, WSLAY_TEXT_FRAME, v2hb, sizeof(v2hb) - 1);
            else
                fs_ws_send(c, WSLAY_TEXT_FRAME, v1hb, sizeof(v1hb) - 1);
            c->last_hb_ns = now;
        }
    }
}

const struct fs_venue_module fs_kraken_v1_module = {
    .venue = FS_KRAKEN_V1,
    .upgrade = kr_upgrade,
    .open = kr_open,
    .message = kr_message,
    .tick = kr_tick,
    .deliver = kr_deliver,
    .rest = fs__kr_rest,
};

const struct fs_venue_module fs_kraken_v2_module = {
    .venue = FS_KRAKEN_V2,
    .upgrade = kr_upgrade,
    .open = kr_open,
    .message = kr_message,
    .tick = kr_tick,
    .deliver = kr_deliver,
    .rest = fs__kr_rest,
};
