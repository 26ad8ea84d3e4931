/*
 * binance_build.c - Binance spot: the stream URL, SUBSCRIBE / UNSUBSCRIBE requests, REST
 * backfill requests and the check of configured symbols (../shared/protocols.md section 1).
 * What they ask for is parsed in binance.c (streams) and binance_rest.c (REST pages).
 *
 * Builders: the URL always uses the combined form, <base>/stream?streams=a@trade/a@aggTrade
 * (one envelope for the parser whatever the count), with &timeUnit=MICROSECOND when asked.
 * More than 1024 streams, or a URL over BN_URL_MAX bytes, is FH_ERANGE: split the symbols
 * over connections or subscribe with SUBSCRIBE messages. Native symbols must be upper-case
 * ASCII letters and digits, or non-ASCII UTF-8 (Binance lists such symbols); stream names
 * lower-case the ASCII letters only, and URLs percent-encode the non-ASCII bytes. A failed
 * builder leaves the output buffer as it was.
 *
 * Everything here is pure; nothing allocates but the output buffer.
 */
#include "venue/binance_int.h"

#include "core/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Binance allows at most 1024 streams per connection (protocols.md 1.8). */
#define BN_MAX_STREAMS 1024
/* Longest URL we build. HTTP servers commonly refuse request lines above 8 KiB; a longer
 * stream list must be split over connections or sent with SUBSCRIBE instead. */
#define BN_URL_MAX 8192
/* Longest SUBSCRIBE / UNSUBSCRIBE text we build (1024 long stream names fit). */
#define BN_REQUEST_MAX (64u * 1024u)
/* REST page size bounds (historicalTrades / aggTrades "limit"). */
#define BN_REST_LIMIT_MAX 1000u

/* ---- builders --------------------------------------------------------------------------- */

/* A configured native symbol: upper-case ASCII letters and digits, or non-ASCII UTF-8 (Binance
 * lists symbols with non-ASCII names). Everything else could break a URL or JSON text. */
static bool symbol_ok(struct fh_str s)
{
    if (s.p == NULL || s.n == 0 || s.n >= FH_SYMBOL_MAX || !fh_utf8_valid(s.p, s.n))
        return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 0x80 || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        return false;
    }
    return true;
}

/* Appends a symbol: ASCII letters lower-cased when lower is set; non-ASCII bytes
 * percent-encoded when url is set (raw UTF-8 is valid inside JSON strings). */
static int put_symbol(struct fh_buf *out, struct fh_str s, bool lower, bool url)
{
    char tmp[FH_SYMBOL_MAX * 3];
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 0x80 && url) {
            tmp[n++] = '%';
            tmp[n++] = fh_hex_upper[c >> 4];
            tmp[n++] = fh_hex_upper[c & 15];
        } else {
            tmp[n++] = lower ? ascii_lower((char)c) : (char)c;
        }
    }
    return fh_buf_append(out, tmp, n);
}

/* Validates a subscription spec; *n_streams receives the stream count. */
static int check_spec(const struct fh_sub_spec *spec, size_t *n_streams)
{
    const unsigned all = FH_CH_TRADE | FH_CH_AGG_TRADE;
    if (spec == NULL || spec->symbols == NULL || spec->n_symbols == 0 || spec->channels == 0 ||
        (spec->channels & ~all) != 0)
        return FH_EINVAL;
    for (size_t i = 0; i < spec->n_symbols; i++) {
        if (!symbol_ok(spec->symbols[i]))
            return FH_EINVAL;
    }
    size_t per =
        (spec->channels & FH_CH_TRADE ? 1u : 0u) + (spec->channels & FH_CH_AGG_TRADE ? 1u : 0u);
    if (spec->n_symbols > BN_MAX_STREAMS || spec->n_symbols * per > BN_MAX_STREAMS)
        return FH_ERANGE;
    *n_streams = spec->n_symbols * per;
    return 0;
}

/* Appends every stream name of spec, each wrapped in quote and separated by sep. */
static int put_streams(struct fh_buf *out, const struct fh_sub_spec *spec, const char *quote,
                       char sep, bool url)
{
    static const struct {
        unsigned bit;
        const char *suffix;
    } ch[] = {{FH_CH_TRADE, "@trade"}, {FH_CH_AGG_TRADE, "@aggTrade"}};
    bool first = true;
    size_t ql = strlen(quote);
    for (size_t i = 0; i < spec->n_symbols; i++) {
        for (size_t c = 0; c < sizeof(ch) / sizeof(ch[0]); c++) {
            if (!(spec->channels & ch[c].bit))
                continue;
            int rc = 0;
            if (!first)
                rc = fh_buf_append(out, &sep, 1);
            first = false;
            if (rc == 0)
                rc = fh_buf_append(out, quote, ql);
            if (rc == 0)
                rc = put_symbol(out, spec->symbols[i], true, url);
            if (rc == 0)
                rc = fh_buf_append(out, ch[c].suffix, strlen(ch[c].suffix));
            if (rc == 0)
                rc = fh_buf_append(out, quote, ql);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Undoes a partial append so that a failed builder leaves out as it was. */
static int rollback(struct fh_buf *out, size_t len, int rc)
{
    out->len = len;
    if (out->data != NULL)
        out->data[len] = '\0';
    return rc;
}

/* A base URL: ws:// or wss://, printable ASCII, no query or fragment. */
static bool base_url_ok(const char *u, size_t n)
{
    if (n == 0 || (strncasecmp(u, "ws://", 5) != 0 && strncasecmp(u, "wss://", 6) != 0))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
            return false;
    }
    return true;
}

/* <base>/stream?streams=a@trade/b@aggTrade[&timeUnit=MICROSECOND]. The combined form is
 * always used, so the parser sees one envelope regardless of the stream count. */
int fh__binance_build_url(const char *base_url, const struct fh_sub_spec *spec, struct fh_buf *out)
{
    size_t n_streams;
    int rc = check_spec(spec, &n_streams);
    if (rc != 0)
        return rc;
    size_t bn = base_url != NULL ? strlen(base_url) : 0;
    if (!base_url_ok(base_url, bn))
        return FH_EINVAL;
    while (bn > 0 && base_url[bn - 1] == '/')
        bn--;
    size_t start = out->len;
    rc = fh_buf_append(out, base_url, bn);
    if (rc == 0)
        rc = fh_buf_append(out, "/stream?streams=", 16);
    if (rc == 0)
        rc = put_streams(out, spec, "", '/', true);
    if (rc == 0 && spec->time_us)
        rc = fh_buf_append(out, "&timeUnit=MICROSECOND", 21);
    if (rc == 0 && out->len - start > BN_URL_MAX)
        rc = FH_ERANGE;
    return rc == 0 ? 0 : rollback(out, start, rc);
}

static int build_request(const char *method, const struct fh_sub_spec *spec, struct fh_buf *out)
{
    size_t n_streams;
    int rc = check_spec(spec, &n_streams);
    if (rc != 0)
        return rc;
    size_t start = out->len;
    rc = fh_buf_appendf(out, "{\"method\":\"%s\",\"params\":[", method);
    if (rc == 0)
        rc = put_streams(out, spec, "\"", ',', false);
    if (rc == 0)
        rc = fh_buf_appendf(out, "],\"id\":%" PRId64 "}", spec->req_id);
    if (rc == 0 && out->len - start > BN_REQUEST_MAX)
        rc = FH_ERANGE;
    return rc == 0 ? 0 : rollback(out, start, rc);
}

int fh__binance_build_subscribe(const struct fh_sub_spec *spec, struct fh_buf *out)
{
    return build_request("SUBSCRIBE", spec, out);
}

int fh__binance_build_unsubscribe(const struct fh_sub_spec *spec, struct fh_buf *out)
{
    return build_request("UNSUBSCRIBE", spec, out);
}

/* Binance keeps connections alive with WebSocket ping/pong control frames. */
int fh__binance_build_ping(int64_t req_id, struct fh_buf *out)
{
    (void)req_id;
    (void)out;
    return FH_EUNSUPPORTED;
}

/* ---- REST backfill ---------------------------------------------------------------------- */

/* /api/v3/historicalTrades?symbol=S&fromId=N&limit=L, or /api/v3/aggTrades?... */
int fh__binance_build_rest_trades(const struct fh_rest_req *req, struct fh_buf *out)
{
    if (req == NULL || !symbol_ok(req->symbol) || req->from_id < 0)
        return FH_EINVAL;
    if (req->limit < 1 || req->limit > BN_REST_LIMIT_MAX)
        return FH_ERANGE;
    size_t start = out->len;
    int rc = fh_buf_appendf(
        out, "/api/v3/%s?symbol=", req->aggregate ? "aggTrades" : "historicalTrades");
    if (rc == 0)
        rc = put_symbol(out, req->symbol, false, true);
    if (rc == 0)
        rc = fh_buf_appendf(out, "&fromId=%" PRId64 "&limit=%u", req->from_id, req->limit);
    return rc == 0 ? 0 : rollback(out, start, rc);
}

/* ---- configuration -------------------------------------------------------------------- */

static bool is_upper_alnum(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Binance spot symbols are the concatenated upper-case pair, e.g. BTCUSDT. */
int fh_binance_check_symbol(const char *s, char *err, size_t errsz)
{
    if (strchr(s, '/') != NULL) {
        snprintf(err, errsz,
                 "\"%s\" is not a native Binance symbol: no slash (write BTCUSDT, not BTC/USDT)",
                 s);
        return FH_EINVAL;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!is_upper_alnum((unsigned char)*p)) {
            snprintf(err, errsz,
                     "\"%s\" is not a native Binance symbol: upper-case letters and digits only "
                     "(e.g. BTCUSDT)",
                     s);
            return FH_EINVAL;
        }
    }
    return 0;
}
