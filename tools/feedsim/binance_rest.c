/*
 * binance_rest.c - Binance Spot REST market data on the Binance port (protocols.md 1.9,
 * 1.10): /api/v3/exchangeInfo, /api/v3/trades, /api/v3/historicalTrades, /api/v3/aggTrades,
 * plus /api/v3/ping and /api/v3/time.
 *
 * Answers come from the bounded per-symbol history, so they agree with what was streamed.
 * Request weights (exchangeInfo 20, trades 25, historicalTrades 25, aggTrades 4) accumulate
 * per wall-clock minute; every answer carries X-MBX-USED-WEIGHT-1M, and past the limit
 * (--binance-weight-limit, 6000) the answer is 429 with Retry-After. X-MBX-TIME-UNIT:
 * MICROSECOND switches times to µs.
 *
 * The Binance venue module's rest operation (layer 2, fs_binance.h); calls only the core.
 */
#include "fs_binance.h"

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bn_req {
    struct fs_conn *c;
    const struct fh_http_req *req;
    bool time_us;
    char extra[160];
};

static void respond(struct bn_req *r, int status)
{
    struct fh_buf *b = &r->c->sim->out;
    fs_http_respond(r->c, status, "application/json;charset=UTF-8", r->extra, b->data, b->len);
}

static void bn_fail(struct bn_req *r, int status, int code, const char *msg)
{
    struct fh_buf *b = &r->c->sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"code\":%d,\"msg\":", code);
    fs_json_str(b, msg, strlen(msg));
    fh_buf_append(b, "}", 1);
    respond(r, status);
}

/* Integer parameter: 0 ok, FH_ENOTFOUND absent, FH_EINVAL malformed (error sent). */
static int int_param(struct bn_req *r, const char *name, int64_t *out)
{
    char v[32];
    size_t len;
    int rc = fh_http_query_get(r->req->query, name, v, sizeof(v), &len);
    if (rc == FH_ENOTFOUND)
        return rc;
    bool ok = rc == 0 && len > 0 && len <= 19;
    int64_t n = 0;
    for (size_t i = 0; ok && i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            ok = false;
        else
            n = n * 10 + (v[i] - '0');
    }
    if (!ok) {
        char m[160];
        snprintf(m, sizeof(m),
                 "Illegal characters found in parameter '%s'; legal range is '^[0-9]{1,20}$'.",
                 name);
        bn_fail(r, 400, -1100, m);
        return FH_EINVAL;
    }
    *out = n;
    return 0;
}

static int limit_param(struct bn_req *r, int64_t *limit)
{
    *limit = 500;
    int rc = int_param(r, "limit", limit);
    if (rc == FH_EINVAL)
        return rc;
    if (*limit < 1)
        *limit = 1;
    if (*limit > 1000)
        *limit = 1000;
    return 0;
}

/* The symbol parameter. Returns the index or -1 (error sent). */
static int symbol_param(struct bn_req *r)
{
    struct fs_sim *sim = r->c->sim;
    char v[FS_NAME_MAX];
    int rc = fh_http_query_get(r->req->query, "symbol", v, sizeof(v), NULL);
    if (rc == FH_ENOTFOUND || (rc == 0 && v[0] == '\0')) {
        bn_fail(r, 400, -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
        return -1;
    }
    if (rc == 0) {
        for (size_t i = 0; i < sim->nsyms; i++) {
            if (strcmp(sim->syms[i].bn, v) == 0)
                return (int)i;
        }
    }
    bn_fail(r, 400, -1121, "Invalid symbol.");
    return -1;
}

static long long tval(const struct bn_req *r, int64_t us)
{
    return r->time_us ? (long long)us : (long long)(us / 1000);
}

static void trade_row(struct bn_req *r, const struct fs_book *bk, const struct fs_trade *t)
{
    struct fh_buf *b = &r->c->sim->out;
    const struct fs_symbol *s = bk->sym;
    int pd = s->price_dec[FS_EX_BINANCE], qd = s->qty_dec[FS_EX_BINANCE];
    char px[FH_DECIMAL_TEXT_MAX + 1], qty[FH_DECIMAL_TEXT_MAX + 1], qq[FH_DECIMAL_TEXT_MAX + 1];
    fs_fmt_fixed(t->price, pd, 8, px);
    fs_fmt_fixed(t->qty, qd, 8, qty);
    /* quoteQty = price * qty, exact: units multiply at scale pd + qd (<= 16). */
    fh_i128 prod = (fh_i128)t->price * t->qty;
    for (int k = pd + qd; k < FH_DECIMAL_SCALE; k++)
        prod *= 10;
    fh_decimal_format(fh_decimal_from_units(prod), qq);
    fh_buf_appendf(b,
                   "{\"id\":%lld,\"price\":\"%s\",\"qty\":\"%s\",\"quoteQty\":\"%s\",\"time\":%lld,"
                   "\"isBuyerMaker\":%s,\"isBestMatch\":true}",
                   (long long)t->id, px, qty, qq, tval(r, t->time_us), t->side ? "true" : "false");
}

/* First history index with id >= from (hist_len if none). Ids increase along the ring. */
static size_t lower_bound_id(const struct fs_book *bk, int64_t from)
{
    size_t lo = 0, hi = bk->hist_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fs_hist_at(bk, mid)->id < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void trades(struct bn_req *r, bool historical)
{
    struct fs_sim *sim = r->c->sim;
    int sym = symbol_param(r);
    if (sym < 0)
        return;
    int64_t limit, from = -1;
    if (limit_param(r, &limit) != 0)
        return;
    if (historical && int_param(r, "fromId", &from) == FH_EINVAL)
        return;
    const struct fs_book *bk = &sim->books[FS_EX_BINANCE][sym];
    size_t start, n = bk->hist_len;
    if (from >= 0) {
        start = lower_bound_id(bk, from);
    } else {
        start = n > (size_t)limit ? n - (size_t)limit : 0;
    }
    size_t end = start + (size_t)limit < n ? start + (size_t)limit : n;
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_append(b, "[", 1);
    for (size_t i = start; i < end; i++) {
        if (i > start)
            fh_buf_append(b, ",", 1);
        trade_row(r, bk, fs_hist_at(bk, i));
    }
    fh_buf_append(b, "]", 1);
    respond(r, 200);
}

/* One aggregate: history indexes [s, e). */
static void agg_row(struct bn_req *r, const struct fs_book *bk, size_t s, size_t e)
{
    struct fh_buf *b = &r->c->sim->out;
    const struct fs_trade *t0 = fs_hist_at(bk, s), *tl = fs_hist_at(bk, e - 1);
    int64_t sum = 0;
    for (size_t i = s; i < e; i++)
        sum += fs_hist_at(bk, i)->qty;
    char px[FH_DECIMAL_TEXT_MAX + 1], qty[FH_DECIMAL_TEXT_MAX + 1];
    fs_fmt_fixed(t0->price, bk->sym->price_dec[FS_EX_BINANCE], 8, px);
    fs_fmt_fixed(sum, bk->sym->qty_dec[FS_EX_BINANCE], 8, qty);
    fh_buf_appendf(b,
                   "{\"a\":%lld,\"p\":\"%s\",\"q\":\"%s\",\"f\":%lld,\"l\":%lld,\"T\":%lld,"
                   "\"m\":%s,\"M\":true}",
                   (long long)t0->agg_id, px, qty, (long long)t0->id, (long long)tl->id,
                   tval(r, t0->time_us), t0->side ? "true" : "false");
}

/* Start index of the aggregate group after the one starting at i. */
static size_t next_group(const struct fs_book *bk, size_t i)
{
    int64_t a = fs_hist_at(bk, i)->agg_id;
    while (i < bk->hist_len && fs_hist_at(bk, i)->agg_id == a)
        i++;
    return i;
}

static int64_t to_us(int64_t t)
{
    /* startTime/endTime may be given in ms or µs. */
    return t >= 100000000000000LL ? t : t * 1000;
}

static void agg_trades(struct bn_req *r)
{
    struct fs_sim *sim = r->c->sim;
    int sym = symbol_param(r);
    if (sym < 0)
        return;
    int64_t limit, from = -1, st = -1, et = -1;
    if (limit_param(r, &limit) != 0 || int_param(r, "fromId", &from) == FH_EINVAL ||
        int_param(r, "startTime", &st) == FH_EINVAL || int_param(r, "endTime", &et) == FH_EINVAL)
        return;
    if (from >= 0 && (st >= 0 || et >= 0)) {
        bn_fail(r, 400, -1128, "Combination of optional parameters invalid.");
        return;
    }
    const struct fs_book *bk = &sim->books[FS_EX_BINANCE][sym];
    /* A full ring may have lost the head of its first group: start at the next group. */
    size_t first = 0;
    if (bk->hist_len == bk->hist_cap && bk->hist_len > 0)
        first = next_group(bk, 0);
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_append(b, "[", 1);
    size_t rows = 0;
    if (from < 0 && st < 0 && et < 0) {
        /* The most recent `limit` aggregates: count groups back from the end. */
        size_t groups = 0;
        for (size_t i = first; i < bk->hist_len; i = next_group(bk, i))
            groups++;
        size_t skip = groups > (size_t)limit ? groups - (size_t)limit : 0;
        size_t i = first;
        for (size_t g = 0; g < skip; g++)
            i = next_group(bk, i);
        for (; i < bk->hist_len; i = next_group(bk, i)) {
            if (rows++ > 0)
                fh_buf_append(b, ",", 1);
            agg_row(r, bk, i, next_group(bk, i));
        }
    } else {
        int64_t st_us = st >= 0 ? to_us(st) : INT64_MIN;
        int64_t et_us = et >= 0 ? to_us(et) + (et >= 100000000000000LL ? 0 : 999) : INT64_MAX;
        for (size_t i = first; i < bk->hist_len && rows < (size_t)limit; i = next_group(bk, i)) {
            const struct fs_trade *t = fs_hist_at(bk, i);
            if (from >= 0 && t->agg_id < from)
                continue;
            if (t->time_us < st_us)
                continue;
            if (t->time_us > et_us)
                break;
            if (rows++ > 0)
                fh_buf_append(b, ",", 1);
            agg_row(r, bk, i, next_group(bk, i));
        }
    }
    fh_buf_append(b, "]", 1);
    respond(r, 200);
}

static void symbol_info(struct fh_buf *b, const struct fs_symbol *s)
{
    char tick[FH_DECIMAL_TEXT_MAX + 1], step[FH_DECIMAL_TEXT_MAX + 1];
    fs_fmt_fixed(1, s->price_dec[FS_EX_BINANCE], 8, tick);
    fs_fmt_fixed(1, s->qty_dec[FS_EX_BINANCE], 8, step);
    fh_buf_appendf(
        b,
        "{\"symbol\":\"%s\",\"status\":\"TRADING\",\"baseAsset\":\"%s\",\"baseAssetPrecision\":8,"
        "\"quoteAsset\":\"%s\",\"quotePrecision\":8,\"quoteAssetPrecision\":8,"
        "\"baseCommissionPrecision\":8,\"quoteCommissionPrecision\":8,\"orderTypes\":[\"LIMIT\","
        "\"LIMIT_MAKER\",\"MARKET\",\"STOP_LOSS_LIMIT\",\"TAKE_PROFIT_LIMIT\"],"
        "\"icebergAllowed\":true,\"ocoAllowed\":true,\"otoAllowed\":true,"
        "\"quoteOrderQtyMarketAllowed\":true,\"allowTrailingStop\":true,"
        "\"cancelReplaceAllowed\":true,\"isSpotTradingAllowed\":true,"
        "\"isMarginTradingAllowed\":false,\"filters\":[{\"filterType\":\"PRICE_FILTER\","
        "\"minPrice\":\"%s\",\"maxPrice\":\"1000000.00000000\",\"tickSize\":\"%s\"},"
        "{\"filterType\":\"LOT_SIZE\",\"minQty\":\"%s\",\"maxQty\":\"9000000.00000000\","
        "\"stepSize\":\"%s\"}],\"permissions\":[],\"permissionSets\":[[\"SPOT\"]],"
        "\"defaultSelfTradePreventionMode\":\"EXPIRE_MAKER\","
        "\"allowedSelfTradePreventionModes\":[\"EXPIRE_TAKER\",\"EXPIRE_MAKER\",\"EXPIRE_BOTH\"]}",
        s->bn, s->base, s->quote, tick, tick, step, step);
}

static void exchange_info(struct bn_req *r)
{
    struct fs_sim *sim = r->c->sim;
    bool want[FS_MAX_SYMBOLS];
    bool filter = false;
    memset(want, 0, sizeof(want));
    char v[2048];
    size_t len;
    if (fh_http_query_get(r->req->query, "symbol", v, sizeof(v), &len) == 0) {
        filter = true;
        bool found = false;
        for (size_t i = 0; i < sim->nsyms; i++) {
            if (strcmp(sim->syms[i].bn, v) == 0)
                want[i] = found = true;
        }
        if (!found) {
            bn_fail(r, 400, -1121, "Invalid symbol.");
            return;
        }
    } else if (fh_http_query_get(r->req->query, "symbols", v, sizeof(v), &len) == 0) {
        filter = true;
        struct fh_json *j = &sim->json;
        if (fh_json_parse(j, v, len) != 0 || fh_json_type(j, 0) != JSMN_ARRAY) {
            bn_fail(r, 400, -1100, "Illegal characters found in parameter 'symbols'.");
            return;
        }
        for (int k = 0; k < fh_json_size(j, 0); k++) {
            int e = fh_json_at(j, 0, k);
            bool found = false;
            for (size_t i = 0; i < sim->nsyms && fh_json_is_str(j, e); i++) {
                if (fh_json_str_eq(j, e, sim->syms[i].bn))
                    want[i] = found = true;
            }
            if (!found) {
                bn_fail(r, 400, -1121, "Invalid symbol.");
                return;
            }
        }
    }
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(
        b,
        "{\"timezone\":\"UTC\",\"serverTime\":%lld,\"rateLimits\":[{\"rateLimitType\":"
        "\"REQUEST_WEIGHT\",\"interval\":\"MINUTE\",\"intervalNum\":1,\"limit\":%d},"
        "{\"rateLimitType\":\"ORDERS\",\"interval\":\"SECOND\",\"intervalNum\":10,\"limit\":100},"
        "{\"rateLimitType\":\"ORDERS\",\"interval\":\"DAY\",\"intervalNum\":1,\"limit\":200000},"
        "{\"rateLimitType\":\"RAW_REQUESTS\",\"interval\":\"MINUTE\",\"intervalNum\":5,"
        "\"limit\":61000}],\"exchangeFilters\":[],\"symbols\":[",
        (long long)(fs_real_us(sim, sim->now_ns) / 1000), sim->cfg.binance_weight_limit);
    bool first = true;
    for (size_t i = 0; i < sim->nsyms; i++) {
        if (filter && !want[i])
            continue;
        if (!first)
            fh_buf_append(b, ",", 1);
        symbol_info(b, &sim->syms[i]);
        first = false;
    }
    fh_buf_append(b, "]}", 2);
    respond(r, 200);
}

void fs__bn_rest(struct fs_conn *c, const struct fh_http_req *req)
{
    struct fs_sim *sim = c->sim;
    struct bn_req r = {.c = c, .req = req};
    const struct fh_str *tu = fh_http_header(req, "X-MBX-TIME-UNIT");
    r.time_us = tu != NULL && (fh_str_eq_c(*tu, "MICROSECOND") || fh_str_eq_c(*tu, "microsecond"));

    static const struct {
        const char *path;
        int weight;
    } routes[] = {
        {"/api/v3/ping", 1},
        {"/api/v3/time", 1},
        {"/api/v3/exchangeInfo", 20},
        {"/api/v3/trades", 25},
        {"/api/v3/historicalTrades", 25},
        {"/api/v3/aggTrades", 4},
    };
    int route = -1;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (fh_str_eq_c(req->path, routes[i].path))
            route = (int)i;
    }
    if (route < 0) {
        bn_fail(&r, 404, -1, "Not found.");
        return;
    }
    /* Weight per wall-clock minute, like Binance's REQUEST_WEIGHT 1M window. */
    int64_t now_ms = fs_real_us(sim, sim->now_ns) / 1000;
    int64_t window = now_ms / 60000;
    if (window != sim->bn_weight_window) {
        sim->bn_weight_window = window;
        sim->bn_weight_used = 0;
    }
    sim->bn_weight_used += routes[route].weight;
    if (sim->bn_weight_used > sim->cfg.binance_weight_limit) {
        int64_t retry = ((window + 1) * 60000 - now_ms + 999) / 1000;
        snprintf(r.extra, sizeof(r.extra), "X-MBX-USED-WEIGHT-1M: %d\r\nRetry-After: %lld\r\n",
                 sim->bn_weight_used, (long long)retry);
        char m[200];
        snprintf(m, sizeof(m),
                 "Too many requests; current limit of IP(127.0.0.1) request weight is %d per 1 "
                 "MINUTE. Please use WebSocket Streams for live updates to avoid polling the "
                 "API.",
                 sim->cfg.binance_weight_limit);
        bn_fail(&r, 429, -1003, m);
        return;
    }
    snprintf(r.extra, sizeof(r.extra), "X-MBX-USED-WEIGHT-1M: %d\r\n", sim->bn_weight_used);
    struct fh_buf *b = &sim->out;
    switch (route) {
    case 0:
        fh_buf_reset(b);
        fh_buf_append(b, "{}", 2);
        respond(&r, 200);
        break;
    case 1:
        fh_buf_reset(b);
        fh_buf_appendf(b, "{\"serverTime\":%lld}", (long long)now_ms);
        respond(&r, 200);
        break;
    case 2:
        exchange_info(&r);
        break;
    case 3:
        trades(&r, false);
        break;
    case 4:
        trades(&r, true);
        break;
    default:
        agg_trades(&r);
        break;
    }
}
