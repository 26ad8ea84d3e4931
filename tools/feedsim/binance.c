/*
 * binance.c - Binance Spot WebSocket market streams (protocols.md section 1 and the
 * simulator checklist in section 3).
 *
 * URL forms: /ws (no stream yet), /ws/<s1>[/<s2>...] (raw events), /stream?streams=a/b
 * (combined wrapper), with timeUnit=MICROSECOND|microsecond|MILLISECOND|millisecond.
 * Live control: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY with
 * ids that are int64, alphanumeric strings of up to 36 characters, or null; errors in the
 * nested form {"error":{"code":..,"msg":..},"id":..}. Keep-alive: a ping every 20 s, close
 * when no pong arrives within 60 s; more than 5 incoming frames (text, ping, pong) in a
 * rolling second closes with 1008 "Too many requests"; at most 1024 streams; the connection
 * closes at 24 h. Intervals scale with --time-scale (rates do not).
 *
 * Choices where the sources are silent (documented in docs/FEEDSIM.md): an invalid or
 * unknown stream is rejected with {"error":{"code":2,"msg":"Invalid request: invalid
 * stream","data":"<name>"}} (with --binance-accept-unknown any well-formed name is accepted
 * and gets no data); a 1025th stream gets code 2 "Invalid request: too many streams";
 * lifetime and serverShutdown close with 1001, a missed pong with 1008 "Pong timeout".
 *
 * A venue module (layer 2, fs_binance.h): the core calls it through fs_binance_module
 * (defined at the end), and it calls only the core.
 */
#include "fs_binance.h"

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum bn_kind { BN_TRADE = 0, BN_AGG = 1, BN_OTHER = 2 };

static bool is_sym_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_type_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '@' || c == '!' || c == '.';
}

/*
 * Classifies a stream name. Returns 0 for a stream we generate (sets *sym and *kind), 1 for a
 * well-formed stream accepted without data (replay mode, --binance-accept-unknown), or
 * FH_EINVAL for an invalid or unknown stream.
 */
static int stream_parse(const struct fs_sim *sim, const char *s, size_t n, int *sym, int *kind)
{
    if (n == 0 || n >= FS_STREAM_NAME)
        return FH_EINVAL;
    const char *at = memchr(s, '@', n);
    if (at == NULL || at == s || at == s + n - 1)
        return FH_EINVAL;
    size_t sl = (size_t)(at - s);
    bool bang = s[0] == '!'; /* !miniTicker@arr and friends */
    for (size_t i = bang ? 1 : 0; i < sl; i++) {
        if (!is_sym_char(s[i]))
            return FH_EINVAL;
    }
    for (size_t i = sl + 1; i < n; i++) {
        if (!is_type_char(s[i]))
            return FH_EINVAL;
    }
    struct fh_str type = {at + 1, n - sl - 1};
    *kind = fh_str_eq_c(type, "trade")      ? BN_TRADE
            : fh_str_eq_c(type, "aggTrade") ? BN_AGG
                                            : BN_OTHER;
    *sym = -1;
    for (size_t i = 0; i < sim->nsyms; i++) {
        if (strlen(sim->syms[i].bn_lower) == sl && memcmp(sim->syms[i].bn_lower, s, sl) == 0) {
            *sym = (int)i;
            break;
        }
    }
    bool replay = fs_sim_replaying(sim, FS_BINANCE);
    if (*sym >= 0 && *kind != BN_OTHER && !replay)
        return 0;
    if (replay || sim->cfg.binance_accept_unknown)
        return 1;
    return FH_EINVAL;
}

static void sub_bits(struct fs_conn *c, int sym, int kind, bool on)
{
    if (sym < 0 || kind == BN_OTHER)
        return;
    uint64_t bit = 1ULL << sym;
    uint64_t *m = kind == BN_TRADE ? &c->sub_trade : &c->sub_agg;
    *m = on ? (*m | bit) : (*m & ~bit);
}

static int subscribe_name(struct fs_conn *c, const char *s, size_t n)
{
    int sym, kind;
    int parsed = stream_parse(c->sim, s, n, &sym, &kind);
    if (parsed < 0)
        return parsed;
    char name[FS_STREAM_NAME];
    memcpy(name, s, n);
    name[n] = '\0';
    int rc = fs_sub_add(c, name);
    if (rc != 0)
        return rc;
    if (parsed == 0)
        sub_bits(c, sym, kind, true);
    return 0;
}

/* ---- upgrade ---- */

static int bn_upgrade(struct fs_conn *c, const struct fh_http_req *req, int *status,
                      struct fh_buf *body)
{
    struct fs_sim *sim = c->sim;
    char tu[32];
    int rc = fh_http_query_get(req->query, "timeUnit", tu, sizeof(tu), NULL);
    c->time_us = false;
    if (rc == 0) {
        if (strcmp(tu, "MICROSECOND") == 0 || strcmp(tu, "microsecond") == 0) {
            c->time_us = true;
        } else if (strcmp(tu, "MILLISECOND") != 0 && strcmp(tu, "millisecond") != 0) {
            *status = 400;
            fh_buf_appendf(body, "{\"code\":-1100,\"msg\":\"Invalid timeUnit.\"}");
            return FH_EINVAL;
        }
    } else if (rc != FH_ENOTFOUND) {
        *status = 400;
        fh_buf_appendf(body, "{\"code\":-1100,\"msg\":\"Illegal characters in timeUnit.\"}");
        return FH_EINVAL;
    }
    char list[FS_HTTP_BUF];
    struct fh_str streams = {list, 0};
    if (fh_str_eq_c(req->path, "/ws")) {
        c->combined = false;
    } else if (req->path.n > 4 && memcmp(req->path.p, "/ws/", 4) == 0) {
        c->combined = false;
        if (fh_http_pct_decode((struct fh_str){req->path.p + 4, req->path.n - 4}, false, list,
                               sizeof(list), &streams.n) != 0)
            goto bad_stream;
    } else if (fh_str_eq_c(req->path, "/stream")) {
        c->combined = true;
        rc = fh_http_query_get(req->query, "streams", list, sizeof(list), &streams.n);
        if (rc != 0 && rc != FH_ENOTFOUND)
            goto bad_stream;
    } else {
        *status = 404;
        fh_buf_appendf(body, "{\"code\":-1,\"msg\":\"Not found\"}");
        return FH_ENOTFOUND;
    }
    size_t k = 0;
    while (k < streams.n) {
        size_t s = k;
        while (k < streams.n && list[k] != '/')
            k++;
        /* A /ws/ segment that names no stream (no '@': ccxt's connection counter, /ws/0) is
         * accepted and streams nothing until SUBSCRIBE, as production does (protocols.md
         * 1.2). */
        if (k > s && !c->combined && memchr(list + s, '@', k - s) == NULL) {
            k++;
            continue;
        }
        if (k > s) {
            rc = subscribe_name(c, list + s, k - s);
            if (rc == FH_ENOSPACE) {
                *status = 400;
                fh_buf_appendf(body, "{\"code\":-1,\"msg\":\"Too many streams (max %d).\"}",
                               FS_MAX_STREAMS);
                return rc;
            }
            if (rc != 0) {
                *status = 400;
                fh_buf_appendf(body, "{\"code\":-1,\"msg\":\"Invalid stream name.\",\"data\":");
                fs_json_str(body, list + s, k - s > 80 ? 80 : k - s);
                fh_buf_append(body, "}", 1);
                return rc;
            }
        }
        k++;
    }
    (void)sim;
    return 0;
bad_stream:
    *status = 400;
    fh_buf_appendf(body, "{\"code\":-1,\"msg\":\"Invalid stream list.\"}");
    return FH_EINVAL;
}

static void bn_open(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    int64_t now = sim->now_ns;
    int64_t pi = fs_interval(sim, FS_IV_BN_PING);
    c->next_ping_ns = pi > 0 ? now + pi : 0;
    c->pong_deadline_ns = 0;
    int64_t life = fs_interval(sim, FS_IV_BN_LIFETIME);
    c->lifetime_end_ns = life > 0 ? now + life : 0;
    fs_conn_subscribed(c); /* the streams in the URL */
}

/* ---- control messages ---- */

static void send_buf(struct fs_conn *c)
{
    struct fh_buf *b = &c->sim->out;
    fs_ws_send(c, WSLAY_TEXT_FRAME, b->data, b->len);
}

static void reply_error(struct fs_conn *c, int code, const char *msg, const char *data,
                        size_t data_len, const char *id)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"error\":{\"code\":%d,\"msg\":", code);
    fs_json_str(b, msg, strlen(msg));
    if (data != NULL) {
        fh_buf_append(b, ",\"data\":", 8);
        fs_json_str(b, data, data_len > 80 ? 80 : data_len);
    }
    fh_buf_appendf(b, "},\"id\":%s}", id);
    send_buf(c);
}

static void reply_result(struct fs_conn *c, const char *result, const char *id)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"result\":%s,\"id\":%s}", result, id);
    send_buf(c);
}

static bool id_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* The request id as JSON text into out ("null", "42", "\"abc\""). Returns 0 or -1. */
static int parse_id(const struct fh_json *j, int obj, char *out, size_t cap)
{
    int i = fh_json_get(j, obj, "id");
    if (i < 0)
        return -1;
    if (fh_json_is_null(j, i)) {
        snprintf(out, cap, "null");
        return 0;
    }
    struct fh_str raw = fh_json_raw(j, i);
    if (fh_json_type(j, i) == JSMN_PRIMITIVE) {
        int64_t v;
        if (fh_json_i64(j, i, &v) != 0)
            return -1;
        snprintf(out, cap, "%lld", (long long)v);
        return 0;
    }
    if (fh_json_type(j, i) != JSMN_STRING || raw.n == 0 || raw.n > 36)
        return -1;
    for (size_t k = 0; k < raw.n; k++) {
        if (!id_char(raw.p[k]))
            return -1;
    }
    snprintf(out, cap, "\"%.*s\"", (int)raw.n, raw.p);
    return 0;
}

/* Validates SUBSCRIBE/UNSUBSCRIBE params: an array of strings that are all valid streams.
 * Sends the error reply itself and returns false if not. */
static bool check_stream_params(struct fs_conn *c, const struct fh_json *j, int params,
                                const char *id, bool subscribe)
{
    if (params < 0) {
        reply_error(c, 2, "Invalid request: missing field `params`", NULL, 0, id);
        return false;
    }
    if (fh_json_type(j, params) != JSMN_ARRAY) {
        reply_error(c, 2, "Invalid request: invalid type: expected a sequence", NULL, 0, id);
        return false;
    }
    int n = fh_json_size(j, params);
    size_t adds = 0;
    for (int k = 0; k < n; k++) {
        int e = fh_json_at(j, params, k);
        if (!fh_json_is_str(j, e)) {
            reply_error(c, 2, "Invalid request: invalid type: expected a string", NULL, 0, id);
            return false;
        }
        struct fh_str s = fh_json_raw(j, e);
        int sym, kind;
        if (stream_parse(c->sim, s.p, s.n, &sym, &kind) < 0) {
            reply_error(c, 2, "Invalid request: invalid stream", s.p, s.n, id);
            return false;
        }
        char name[FS_STREAM_NAME];
        memcpy(name, s.p, s.n);
        name[s.n] = '\0';
        if (subscribe && fs_sub_find(c, name) < 0)
            adds++;
    }
    if (subscribe && c->nsubs + adds > FS_MAX_STREAMS) {
        reply_error(c, 2, "Invalid request: too many streams", NULL, 0, id);
        return false;
    }
    return true;
}

static void do_subscribe(struct fs_conn *c, const struct fh_json *j, int params, const char *id)
{
    if (!check_stream_params(c, j, params, id, true))
        return;
    int n = fh_json_size(j, params);
    for (int k = 0; k < n; k++) {
        struct fh_str s = fh_json_raw(j, fh_json_at(j, params, k));
        subscribe_name(c, s.p, s.n);
    }
    reply_result(c, "null", id);
    fs_conn_subscribed(c);
}

static void do_unsubscribe(struct fs_conn *c, const struct fh_json *j, int params, const char *id)
{
    if (!check_stream_params(c, j, params, id, false))
        return;
    int n = fh_json_size(j, params);
    for (int k = 0; k < n; k++) {
        struct fh_str s = fh_json_raw(j, fh_json_at(j, params, k));
        char name[FS_STREAM_NAME];
        memcpy(name, s.p, s.n);
        name[s.n] = '\0';
        int sym, kind;
        if (stream_parse(c->sim, s.p, s.n, &sym, &kind) == 0)
            sub_bits(c, sym, kind, false);
        fs_sub_remove(c, fs_sub_find(c, name));
    }
    reply_result(c, "null", id);
}

static void do_list(struct fs_conn *c, const struct fh_json *j, int params, const char *id)
{
    if (params >= 0 && (fh_json_type(j, params) != JSMN_ARRAY || fh_json_size(j, params) > 0)) {
        reply_error(c, 2, "Invalid request: too many parameters", NULL, 0, id);
        return;
    }
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_append(b, "{\"result\":[", 11);
    for (uint16_t i = 0; i < c->nsubs; i++) {
        if (i > 0)
            fh_buf_append(b, ",", 1);
        fs_json_str(b, c->subs[i], strlen(c->subs[i]));
    }
    fh_buf_appendf(b, "],\"id\":%s}", id);
    send_buf(c);
}

static void do_property(struct fs_conn *c, const struct fh_json *j, int params, const char *id,
                        bool set)
{
    int want = set ? 2 : 1;
    if (params < 0 || fh_json_type(j, params) != JSMN_ARRAY) {
        reply_error(c, 2, "Invalid request: property name must be a string", NULL, 0, id);
        return;
    }
    int n = fh_json_size(j, params);
    if (n > want) {
        reply_error(c, 2, "Invalid request: too many parameters", NULL, 0, id);
        return;
    }
    int name = n > 0 ? fh_json_at(j, params, 0) : -1;
    if (!fh_json_is_str(j, name)) {
        reply_error(c, 2, "Invalid request: property name must be a string", NULL, 0, id);
        return;
    }
    if (!fh_json_str_eq(j, name, "combined")) {
        reply_error(c, 0, "Unknown property", NULL, 0, id);
        return;
    }
    if (!set) {
        reply_result(c, c->combined ? "true" : "false", id);
        return;
    }
    bool v;
    int val = n > 1 ? fh_json_at(j, params, 1) : -1;
    if (val < 0 || fh_json_bool(j, val, &v) != 0) {
        reply_error(c, 1, "Invalid value type: expected Boolean", NULL, 0, id);
        return;
    }
    c->combined = v;
    reply_result(c, "null", id);
}

static void control(struct fs_conn *c, const uint8_t *msg, size_t len)
{
    struct fh_json *j = &c->sim->json;
    char err[96];
    int rc = fh_json_parse(j, (const char *)msg, len);
    if (rc != 0) {
        snprintf(err, sizeof(err), "Invalid JSON: expected value at line 1 column 1");
        reply_error(c, 3, err, NULL, 0, "null");
        return;
    }
    if (fh_json_type(j, 0) != JSMN_OBJECT) {
        reply_error(c, 2, "Invalid request: invalid type: expected struct Request", NULL, 0,
                    "null");
        return;
    }
    int m = fh_json_get(j, 0, "method");
    if (m < 0 || !fh_json_is_str(j, m)) {
        snprintf(err, sizeof(err), "Invalid request: missing field `method` at line 1 column %d",
                 j->tok[0].end);
        reply_error(c, 2, err, NULL, 0, "null");
        return;
    }
    char id[48];
    if (parse_id(j, 0, id, sizeof(id)) != 0) {
        reply_error(c, 2, "Invalid request: request ID must be an unsigned integer", NULL, 0,
                    "null");
        return;
    }
    int params = fh_json_get(j, 0, "params");
    if (fh_json_str_eq(j, m, "SUBSCRIBE")) {
        do_subscribe(c, j, params, id);
    } else if (fh_json_str_eq(j, m, "UNSUBSCRIBE")) {
        do_unsubscribe(c, j, params, id);
    } else if (fh_json_str_eq(j, m, "LIST_SUBSCRIPTIONS")) {
        do_list(c, j, params, id);
    } else if (fh_json_str_eq(j, m, "SET_PROPERTY")) {
        do_property(c, j, params, id, true);
    } else if (fh_json_str_eq(j, m, "GET_PROPERTY")) {
        do_property(c, j, params, id, false);
    } else {
        struct fh_str raw = fh_json_raw(j, m);
        char msgbuf[256];
        snprintf(msgbuf, sizeof(msgbuf),
                 "Invalid request: unknown variant `%.*s`, expected one of `SUBSCRIBE`, "
                 "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 "
                 "column %d",
                 (int)(raw.n > 64 ? 64 : raw.n), raw.p, j->tok[m].end + 1);
        reply_error(c, 2, msgbuf, NULL, 0, id);
    }
}

static bool pong_valid(const struct fs_conn *c, const uint8_t *p, size_t n)
{
    if (n == 0 || n > 19 || c->ping_first == 0)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    return v >= c->ping_first && v <= c->ping_last;
}

static void bn_message(struct fs_conn *c, int opcode, const uint8_t *msg, size_t len)
{
    struct fs_sim *sim = c->sim;
    int64_t now = sim->now_ns;
    /* Rolling one-second window over pings, pongs and text frames. The window is a rate,
     * not an interval: --time-scale does not change it. */
    unsigned slot = c->rx_n % FS_BN_RATE_MSGS;
    if (c->rx_n >= FS_BN_RATE_MSGS && now - c->rx_times[slot] < 1000000000) {
        log_info("rate limit exceeded", "conn=%llu", (unsigned long long)c->id);
        fs_ws_close(c, 1008, "Too many requests");
        return;
    }
    c->rx_times[slot] = now;
    c->rx_n++;
    switch (opcode) {
    case WSLAY_TEXT_FRAME:
        control(c, msg, len);
        break;
    case WSLAY_PONG:
        /* Unsolicited or stale pongs do not keep the connection alive. */
        if (pong_valid(c, msg, len))
            c->pong_deadline_ns = 0;
        break;
    default:
        break; /* pings are answered by wslay; binary frames are ignored */
    }
}

static void bn_tick(struct fs_conn *c, int64_t now)
{
    struct fs_sim *sim = c->sim;
    if (c->shutdown_close_ns != 0 && now >= c->shutdown_close_ns) {
        fs_ws_close(c, 1001, "Server shutdown");
        return;
    }
    if (c->lifetime_end_ns != 0 && now >= c->lifetime_end_ns) {
        fs_ws_close(c, 1001, "Connection lifetime exceeded");
        return;
    }
    if (c->pong_deadline_ns != 0 && now >= c->pong_deadline_ns) {
        log_info("pong timeout", "conn=%llu", (unsigned long long)c->id);
        fs_ws_close(c, 1008, "Pong timeout");
        return;
    }
    if (c->next_ping_ns != 0 && now >= c->next_ping_ns) {
        c->next_ping_ns = now + fs_interval(sim, FS_IV_BN_PING);
        if (c->stalled)
            return;
        int64_t ms = fs_real_us(sim, now) / 1000;
        if (ms <= c->ping_last)
            ms = c->ping_last + 1;
        char payload[24];
        int n = snprintf(payload, sizeof(payload), "%lld", (long long)ms);
        if (fs_ws_send(c, WSLAY_PING, payload, (size_t)n) != 0)
            return;
        if (c->ping_first == 0)
            c->ping_first = ms;
        c->ping_last = ms;
        int64_t pt = fs_interval(sim, FS_IV_BN_PONG);
        if (c->pong_deadline_ns == 0 && pt > 0)
            c->pong_deadline_ns = now + pt;
    }
}

void fs_bn_server_shutdown(struct fs_conn *c, int64_t close_after_ns)
{
    struct fs_sim *sim = c->sim;
    long long ms = (long long)(fs_real_us(sim, sim->now_ns) / 1000);
    char msg[160];
    int n;
    if (c->combined)
        n = snprintf(msg, sizeof(msg),
                     "{\"stream\":\"!serverShutdown\",\"data\":{\"e\":\"serverShutdown\","
                     "\"E\":%lld}}",
                     ms);
    else
        n = snprintf(msg, sizeof(msg), "{\"e\":\"serverShutdown\",\"E\":%lld}", ms);
    fs_ws_send(c, WSLAY_TEXT_FRAME, msg, (size_t)n);
    c->shutdown_close_ns = sim->now_ns + (close_after_ns > 0 ? close_after_ns : 1);
}

/* ---- events ---- */

static size_t render_trade(const struct fs_conn *c, const struct fs_book *b,
                           const struct fs_trade *t, long long ev, char *out, size_t cap)
{
    const struct fs_symbol *s = b->sym;
    char px[FH_DECIMAL_TEXT_MAX + 1], qty[FH_DECIMAL_TEXT_MAX + 1];
    fs_fmt_fixed(t->price, s->price_dec[FS_EX_BINANCE], 8, px);
    fs_fmt_fixed(t->qty, s->qty_dec[FS_EX_BINANCE], 8, qty);
    long long tt = c->time_us ? (long long)t->time_us : (long long)(t->time_us / 1000);
    int n;
    if (c->combined)
        n = snprintf(out, cap,
                     "{\"stream\":\"%s@trade\",\"data\":{\"e\":\"trade\",\"E\":%lld,\"s\":\"%s\","
                     "\"t\":%lld,\"p\":\"%s\",\"q\":\"%s\",\"T\":%lld,\"m\":%s,\"M\":true}}",
                     s->bn_lower, ev, s->bn, (long long)t->id, px, qty, tt,
                     t->side ? "true" : "false");
    else
        n = snprintf(out, cap,
                     "{\"e\":\"trade\",\"E\":%lld,\"s\":\"%s\",\"t\":%lld,\"p\":\"%s\","
                     "\"q\":\"%s\",\"T\":%lld,\"m\":%s,\"M\":true}",
                     ev, s->bn, (long long)t->id, px, qty, tt, t->side ? "true" : "false");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static size_t render_agg(const struct fs_conn *c, const struct fs_book *b, const struct fs_trade *t,
                         size_t n, long long ev, char *out, size_t cap)
{
    const struct fs_symbol *s = b->sym;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += t[i].qty;
    char px[FH_DECIMAL_TEXT_MAX + 1], qty[FH_DECIMAL_TEXT_MAX + 1];
    fs_fmt_fixed(t[0].price, s->price_dec[FS_EX_BINANCE], 8, px);
    fs_fmt_fixed(sum, s->qty_dec[FS_EX_BINANCE], 8, qty);
    long long tt = c->time_us ? (long long)t[0].time_us : (long long)(t[0].time_us / 1000);
    const char *m = t[0].side ? "true" : "false";
    int w;
    if (c->combined)
        w = snprintf(out, cap,
                     "{\"stream\":\"%s@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":%lld,"
                     "\"s\":\"%s\",\"a\":%lld,\"p\":\"%s\",\"q\":\"%s\",\"f\":%lld,\"l\":%lld,"
                     "\"T\":%lld,\"m\":%s,\"M\":true}}",
                     s->bn_lower, ev, s->bn, (long long)t[0].agg_id, px, qty, (long long)t[0].id,
                     (long long)t[n - 1].id, tt, m);
    else
        w = snprintf(out, cap,
                     "{\"e\":\"aggTrade\",\"E\":%lld,\"s\":\"%s\",\"a\":%lld,\"p\":\"%s\","
                     "\"q\":\"%s\",\"f\":%lld,\"l\":%lld,\"T\":%lld,\"m\":%s,\"M\":true}",
                     ev, s->bn, (long long)t[0].agg_id, px, qty, (long long)t[0].id,
                     (long long)t[n - 1].id, tt, m);
    return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

static void bn_deliver(struct fs_conn *c, const struct fs_book *b, const struct fs_trade *t,
                       size_t n)
{
    int idx = b->sym->idx;
    uint64_t bit = 1ULL << idx;
    bool tr = (c->sub_trade & bit) != 0, ag = (c->sub_agg & bit) != 0;
    if (!tr && !ag)
        return;
    int64_t now_us = fs_real_us(c->sim, c->sim->now_ns);
    long long ev = c->time_us ? (long long)now_us : (long long)(now_us / 1000);
    char msg[640];
    size_t gstart = 0;
    bool gomit = false;
    for (size_t i = 0; i < n && c->phase == FS_PH_WS; i++) {
        bool omit = false;
        if (c->omit[idx] > 0) {
            c->omit[idx]--;
            omit = true;
        }
        if (tr && !omit) {
            size_t len = render_trade(c, b, &t[i], ev, msg, sizeof(msg));
            if (fs_ws_send_text(c, msg, len) == 0)
                c->trades_out++;
        }
        if (!ag)
            continue;
        gomit = gomit || omit;
        if (i + 1 == n || t[i + 1].agg_id != t[i].agg_id) {
            if (!gomit) {
                size_t len = render_agg(c, b, t + gstart, i - gstart + 1, ev, msg, sizeof(msg));
                fs_ws_send_text(c, msg, len);
            }
            gstart = i + 1;
            gomit = false;
        }
    }
}

const struct fs_venue_module fs_binance_module = {
    .venue = FS_BINANCE,
    .upgrade = bn_upgrade,
    .open = bn_open,
    .message = bn_message,
    .tick = bn_tick,
    .deliver = bn_deliver,
    .rest = fs__bn_rest,
};
