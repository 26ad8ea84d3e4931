/*
 * kraken_rest.c - Kraken public REST on both Kraken ports (protocols.md 2.3 - 2.5):
 * /0/public/AssetPairs, /0/public/Trades, /0/public/SystemStatus, /0/public/Time.
 *
 * Errors come with HTTP 200 in the body ({"error":["EQuery:Unknown asset pair"]}). Trades
 * rows are [price, volume, time, side, type, misc, trade_id] with time a JSON number with
 * sub-µs digits, trade_id the same sequence as WebSocket v2 (one engine per pair), `last` a
 * nanosecond cursor string, `since` in seconds or nanoseconds. Trades is limited per pair
 * with a token bucket (--kraken-rest-rate per second, --kraken-rest-burst): past it, the
 * answer is {"error":["EGeneral:Too many requests"]} and the refused call still costs a
 * token, so a client that keeps calling stays refused longer.
 *
 * The Kraken venue modules' rest operation (layer 2, fs_kraken.h); calls only the core.
 */
#include "fs_kraken.h"

#include "core/err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void respond(struct fs_conn *c)
{
    struct fh_buf *b = &c->sim->out;
    fs_http_respond(c, 200, "application/json; charset=utf-8", NULL, b->data, b->len);
}

static void kr_error(struct fs_conn *c, const char *err)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"error\":[\"%s\"]}", err);
    respond(c);
}

static bool ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    }
    return *a == *b;
}

/* A pair by altname or REST key (any case), or with assetVersion=1 by display name. */
static int find_pair(const struct fs_sim *sim, const char *name, bool v1names)
{
    for (size_t i = 0; i < sim->nsyms; i++) {
        const struct fs_symbol *s = &sim->syms[i];
        if (ieq(name, s->kr_alt) || ieq(name, s->kr_key) || (v1names && ieq(name, s->kr_ws2)))
            return (int)i;
    }
    return -1;
}

static bool asset_version(const struct fh_http_req *req)
{
    char v[8];
    return fh_http_query_get(req->query, "assetVersion", v, sizeof(v), NULL) == 0 &&
           strcmp(v, "1") == 0;
}

static void pair_info(struct fh_buf *b, const struct fs_symbol *s, bool v1names)
{
    int pd = s->price_dec[FS_EX_KRAKEN], ld = s->qty_dec[FS_EX_KRAKEN];
    char tick[FH_DECIMAL_TEXT_MAX + 1];
    fs_fmt_min(1, pd, tick);
    const char *base = v1names ? s->kr_base_v2 : s->kr_base_legacy;
    const char *quote = v1names ? s->kr_quote_v2 : s->kr_quote_legacy;
    fh_buf_appendf(b,
                   "\"%s\":{\"altname\":\"%s\",\"wsname\":\"%s\",\"aclass_base\":\"currency\","
                   "\"base\":\"%s\",\"aclass_quote\":\"currency\",\"quote\":\"%s\","
                   "\"lot\":\"unit\",\"cost_decimals\":%d,\"pair_decimals\":%d,"
                   "\"lot_decimals\":%d,\"lot_multiplier\":1,\"leverage_buy\":[],"
                   "\"leverage_sell\":[],\"fees\":[[0,0.26],[50000,0.24]],"
                   "\"fees_maker\":[[0,0.16],[50000,0.14]],\"fee_volume_currency\":\"ZUSD\","
                   "\"margin_call\":80,\"margin_stop\":40,\"ordermin\":\"0.0001\","
                   "\"costmin\":\"0.5\",\"tick_size\":\"%s\",\"status\":\"online\"}",
                   v1names ? s->kr_ws2 : s->kr_key, s->kr_alt, s->kr_ws1, base, quote,
                   pd + 3 > 10 ? 10 : pd + 3, pd, ld, tick);
}

static void asset_pairs(struct fs_conn *c, const struct fh_http_req *req)
{
    struct fs_sim *sim = c->sim;
    bool v1names = asset_version(req);
    bool want[FS_MAX_SYMBOLS];
    bool filter = false;
    memset(want, 0, sizeof(want));
    char list[1024];
    size_t len;
    if (fh_http_query_get(req->query, "pair", list, sizeof(list), &len) == 0) {
        filter = true;
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            int i = find_pair(sim, tok, v1names);
            if (i < 0) {
                kr_error(c, "EQuery:Unknown asset pair");
                return;
            }
            want[i] = true;
        }
    }
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_append(b, "{\"error\":[],\"result\":{", 22);
    bool first = true;
    for (size_t i = 0; i < sim->nsyms; i++) {
        if (filter && !want[i])
            continue;
        if (!first)
            fh_buf_append(b, ",", 1);
        pair_info(b, &sim->syms[i], v1names);
        first = false;
    }
    fh_buf_append(b, "}}", 2);
    respond(c);
}

static int64_t trade_ns(const struct fs_trade *t)
{
    return t->time_us * 1000 + t->ns_sub;
}

/* since: Unix seconds (optionally fractional) or a 19-digit nanosecond cursor. */
static int parse_since(const char *s, int64_t *ns)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20)
        return FH_EINVAL;
    int64_t ip = 0, frac = 0, scale = 1000000000;
    bool dot = false;
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' && !dot) {
            dot = true;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return FH_EINVAL;
        if (!dot) {
            ip = ip * 10 + (s[i] - '0');
            digits++;
        } else if (scale > 1) {
            scale /= 10;
            frac += (s[i] - '0') * scale;
        }
    }
    if (digits == 0 || (dot && digits >= 16))
        return FH_EINVAL;
    *ns = digits >= 16 ? ip : ip * 1000000000 + frac;
    return 0;
}

static bool rate_limited(struct fs_sim *sim, int sym)
{
    double rate = sim->cfg.kraken_rest_rate, burst = sim->cfg.kraken_rest_burst;
    if (rate <= 0)
        return false;
    int64_t now = sim->now_ns;
    if (sim->kr_tokens_ns[sym] == 0) {
        sim->kr_tokens[sym] = burst;
    } else {
        sim->kr_tokens[sym] += rate * (double)(now - sim->kr_tokens_ns[sym]) / 1e9;
        if (sim->kr_tokens[sym] > burst)
            sim->kr_tokens[sym] = burst;
    }
    sim->kr_tokens_ns[sym] = now;
    bool limited = sim->kr_tokens[sym] < 1.0;
    sim->kr_tokens[sym] -= 1.0;
    if (sim->kr_tokens[sym] < -burst)
        sim->kr_tokens[sym] = -burst;
    return limited;
}

static void trades(struct fs_conn *c, const struct fh_http_req *req)
{
    struct fs_sim *sim = c->sim;
    bool v1names = asset_version(req);
    char v[64];
    if (fh_http_query_get(req->query, "pair", v, sizeof(v), NULL) != 0 || v[0] == '\0') {
        kr_error(c, "EGeneral:Invalid arguments");
        return;
    }
    int sym = find_pair(sim, v, v1names);
    if (sym < 0) {
        kr_error(c, "EQuery:Unknown asset pair");
        return;
    }
    int64_t since = -1;
    int rc = fh_http_query_get(req->query, "since", v, sizeof(v), NULL);
    if (rc == 0 && parse_since(v, &since) != 0) {
        kr_error(c, "EGeneral:Invalid arguments:since");
        return;
    }
    int64_t count = 1000;
    if (fh_http_query_get(req->query, "count", v, sizeof(v), NULL) == 0) {
        char *end;
        long long cnt = strtoll(v, &end, 10);
        if (*end != '\0' || end == v || cnt < 1 || cnt > 1000) {
            kr_error(c, "EGeneral:Invalid arguments:count");
            return;
        }
        count = cnt;
    }
    if (rate_limited(sim, sym)) {
        kr_error(c, "EGeneral:Too many requests");
        return;
    }
    const struct fs_book *bk = &sim->books[FS_EX_KRAKEN][sym];
    const struct fs_symbol *s = bk->sym;
    size_t start, n = bk->hist_len;
    if (since >= 0) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (trade_ns(fs_hist_at(bk, mid)) <= since)
                lo = mid + 1;
            else
                hi = mid;
        }
        start = lo;
    } else {
        start = n > (size_t)count ? n - (size_t)count : 0;
    }
    size_t end = start + (size_t)count < n ? start + (size_t)count : n;
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"error\":[],\"result\":{\"%s\":[", v1names ? s->kr_ws2 : s->kr_key);
    for (size_t i = start; i < end; i++) {
        const struct fs_trade *t = fs_hist_at(bk, i);
        char px[FH_DECIMAL_TEXT_MAX + 1], qty[FH_DECIMAL_TEXT_MAX + 1], tm[40];
        fs_fmt_fixed(t->price, s->price_dec[FS_EX_KRAKEN], s->kr_v1_price_places, px);
        fs_fmt_fixed(t->qty, s->qty_dec[FS_EX_KRAKEN], 8, qty);
        fs_fmt_kr_rest_time(t->time_us, t->ns_sub, tm);
        fh_buf_appendf(b, "%s[\"%s\",\"%s\",%s,\"%s\",\"%s\",\"\",%lld]", i > start ? "," : "", px,
                       qty, tm, t->side ? "s" : "b", t->ord_type ? "m" : "l", (long long)t->id);
    }
    long long last = end > start ? (long long)trade_ns(fs_hist_at(bk, end - 1))
                                 : (since >= 0 ? (long long)since : 0);
    fh_buf_appendf(b, "],\"last\":\"%lld\"}}", last);
    respond(c);
}

void fs__kr_rest(struct fs_conn *c, const struct fh_http_req *req)
{
    struct fs_sim *sim = c->sim;
    struct fh_buf *b = &sim->out;
    if (fh_str_eq_c(req->path, "/0/public/AssetPairs")) {
        asset_pairs(c, req);
    } else if (fh_str_eq_c(req->path, "/0/public/Trades")) {
        trades(c, req);
    } else if (fh_str_eq_c(req->path, "/0/public/SystemStatus")) {
        char ts[40];
        size_t n = fs_fmt_rfc3339(fs_real_us(sim, sim->now_ns), ts);
        /* Whole seconds, as Kraken prints it. */
        memcpy(ts + n - 8, "Z", 2);
        fh_buf_reset(b);
        fh_buf_appendf(b, "{\"error\":[],\"result\":{\"status\":\"%s\",\"timestamp\":\"%s\"}}",
                       sim->kr_maintenance ? "maintenance" : "online", ts);
        respond(c);
    } else if (fh_str_eq_c(req->path, "/0/public/Time")) {
        time_t now = (time_t)(fs_real_us(sim, sim->now_ns) / 1000000);
        struct tm tm;
        gmtime_r(&now, &tm);
        /* Kraken's rfc1123 field has a two-digit year: "Sun, 21 Mar 21 14:23:14 +0000". */
        char rfc[64], day[32];
        strftime(day, sizeof(day), "%a, %d %b", &tm);
        snprintf(rfc, sizeof(rfc), "%s %02d %02d:%02d:%02d +0000", day, tm.tm_year % 100,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        fh_buf_reset(b);
        fh_buf_appendf(b, "{\"error\":[],\"result\":{\"unixtime\":%lld,\"rfc1123\":\"%s\"}}",
                       (long long)now, rfc);
        respond(c);
    } else {
        fh_buf_reset(b);
        fh_buf_append(b, "{\"error\":[\"EGeneral:Unknown method\"]}", 37);
        fs_http_respond(c, 404, "application/json; charset=utf-8", NULL, b->data, b->len);
    }
}
