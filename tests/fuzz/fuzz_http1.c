/*
 * fuzz_http1.c - libFuzzer target: arbitrary bytes as an HTTP/1 request head (what feedsim's
 * server parses, tools/feedsim/server.c) and as a response head (what the WebSocket client
 * parses), through src/net/http1.c, with the helpers a server applies to a parsed request:
 * the WebSocket upgrade check, header token lists and query parameters.
 *
 * Checked: results lie in the input and follow the grammar (token method and names, visible
 * target split at '?' into path and query, trimmed values, Content-Length and
 * Transfer-Encoding as sent, a head ending at its first blank line); the incremental contract
 * on prefixes (http_fuzz.h; for requests a prefix rejected stays rejected, not always for the
 * same reason); query values decoded within their buffer, NUL-terminated; an accepted upgrade
 * has a valid key.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines; tests/fuzz/gen-seeds writes the file):
 * FUZZ_SEEDS_ESCAPED: http1.seeds
 * FUZZ_DICT: http.dict
 */
#include "http_fuzz.h"

/* A Sec-WebSocket-Accept for the response side (the key of RFC 6455's example). */
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* ASCII case-insensitive equality of two views. */
static bool ieq(struct fh_str a, struct fh_str b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++) {
        char x = a.p[i], y = b.p[i];
        x = (char)(x >= 'A' && x <= 'Z' ? x + 32 : x);
        y = (char)(y >= 'A' && y <= 'Z' ? y + 32 : y);
        if (x != y)
            return false;
    }
    return true;
}

static bool is_target_char(uint8_t c)
{
    return c > 0x20 && c < 0x7f;
}

static void check_request(const struct fh_http_req *r, int rc, const char *buf, size_t len)
{
    FH_FUZZ_CHECK(rc >= 0 || rc == FH_EPARSE || rc == FH_ENOSPACE || rc == FH_EUNSUPPORTED ||
                  rc == FH_ERANGE);
    if (rc <= 0)
        return;
    size_t hl = (size_t)rc;
    FH_FUZZ_CHECK(r->head_len == hl && hl <= len);
    FH_FUZZ_CHECK(fh_http_fuzz_find_blank(buf, len) + 4 == hl);
    FH_FUZZ_CHECK(fh_http_is_token(r->method) && fh_fuzz_within(r->method, buf, hl));
    FH_FUZZ_CHECK(r->target.n > 0 && fh_fuzz_within(r->target, buf, hl));
    for (size_t i = 0; i < r->target.n; i++)
        FH_FUZZ_CHECK(is_target_char((uint8_t)r->target.p[i]));
    FH_FUZZ_CHECK(r->minor_version == 0 || r->minor_version == 1);
    /* path '?' query = target, the first '?' splitting them. */
    FH_FUZZ_CHECK(r->path.p == r->target.p && r->path.n <= r->target.n);
    FH_FUZZ_CHECK(memchr(r->path.p, '?', r->path.n) == NULL);
    if (r->path.n < r->target.n) {
        FH_FUZZ_CHECK(r->target.p[r->path.n] == '?');
        FH_FUZZ_CHECK(r->query.p == r->target.p + r->path.n + 1 &&
                      r->query.n == r->target.n - r->path.n - 1);
    } else {
        FH_FUZZ_CHECK(r->query.n == 0);
    }
    fh_http_fuzz_check_headers(r->headers, r->n_headers, buf, hl);
    bool te = false;
    int64_t cl = -1;
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct fh_http_header *h = &r->headers[i];
        if (fh_str_ieq_c(h->name, "Transfer-Encoding"))
            te = true;
        if (fh_str_ieq_c(h->name, "Content-Length")) {
            int64_t v = 0;
            FH_FUZZ_CHECK(h->value.n > 0 && h->value.n <= 15);
            for (size_t k = 0; k < h->value.n; k++) {
                FH_FUZZ_CHECK(h->value.p[k] >= '0' && h->value.p[k] <= '9');
                v = v * 10 + (h->value.p[k] - '0');
            }
            FH_FUZZ_CHECK(cl < 0 || cl == v);
            cl = v;
        }
    }
    FH_FUZZ_CHECK(r->chunked == te && r->content_length == cl);
    /* A lookup by name finds the first header of that name, in any case. */
    for (size_t i = 0; i < r->n_headers; i++) {
        char name[64];
        struct fh_str hn = r->headers[i].name;
        if (hn.n >= sizeof(name))
            continue;
        for (size_t k = 0; k < hn.n; k++)
            name[k] = (char)((k & 1) && hn.p[k] >= 'a' && hn.p[k] <= 'z' ? hn.p[k] - 32 : hn.p[k]);
        name[hn.n] = '\0';
        const struct fh_str *v = fh_http_header(r, name);
        FH_FUZZ_CHECK(v != NULL);
        size_t j = 0;
        while (!ieq(r->headers[j].name, hn))
            j++;
        FH_FUZZ_CHECK(j <= i && v == &r->headers[j].value);
    }
}

/* fh_http_list_has_token, written out: comma-separated items, blanks around them ignored. */
static bool list_has(struct fh_str v, const char *token)
{
    size_t tl = strlen(token);
    size_t s = 0;
    while (s <= v.n) {
        size_t e = s;
        while (e < v.n && v.p[e] != ',')
            e++;
        size_t a = s, b = e;
        while (a < b && (v.p[a] == ' ' || v.p[a] == '\t'))
            a++;
        while (b > a && (v.p[b - 1] == ' ' || v.p[b - 1] == '\t'))
            b--;
        if (tl > 0 && b - a == tl && ieq((struct fh_str){v.p + a, tl}, fh_str_c(token)))
            return true;
        s = e + 1;
    }
    return false;
}

/* A query parameter, as feedsim reads them. */
static void check_query(struct fh_str q, const char *name)
{
    char out[64];
    size_t n = 12345;
    int rc = fh_http_query_get(q, name, out, sizeof(out), &n);
    FH_FUZZ_CHECK(rc == 0 || rc == FH_ENOTFOUND || rc == FH_ENOSPACE || rc == FH_EPARSE);
    if (rc == 0) {
        FH_FUZZ_CHECK(n < sizeof(out) && out[n] == '\0');
        FH_FUZZ_CHECK(strlen(out) <= n);
    }
    char tiny[1];
    rc = fh_http_pct_decode(q, true, tiny, sizeof(tiny), &n);
    FH_FUZZ_CHECK(rc == FH_ENOSPACE || rc == FH_EPARSE || (rc == 0 && q.n == 0 && n == 0));
}

static void check_upgrade(const struct fh_http_req *r, const char *buf, size_t len)
{
    struct fh_str key = {0};
    int rc = fh_ws_check_upgrade(r, &key);
    FH_FUZZ_CHECK(rc == 0 || rc == FH_ENOTFOUND || rc == FH_EUNSUPPORTED || rc == FH_EINVAL);
    if (rc == FH_ENOTFOUND)
        FH_FUZZ_CHECK(fh_http_header(r, "Upgrade") == NULL);
    if (rc != 0)
        return;
    FH_FUZZ_CHECK(fh_str_eq_c(r->method, "GET") && r->minor_version == 1);
    FH_FUZZ_CHECK(key.n == 24 && fh_fuzz_within(key, buf, len));
    char accept[FH_WS_ACCEPT_LEN];
    FH_FUZZ_CHECK(fh_ws_accept_key(key, accept) == 0 && strlen(accept) == 28);
    FH_FUZZ_CHECK(fh_http_header_has_token(r, "Connection", "Upgrade"));
    FH_FUZZ_CHECK(fh_http_header_has_token(r, "upgrade", "WEBSOCKET"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    static struct fh_http_req full, part;
    int rc = fh_http_parse_request(buf, size, &full);
    check_request(&full, rc, buf, size);

    static size_t points[FH_HTTP_FUZZ_PREFIXES];
    size_t np = fh_fuzz_prefix_points(data, size, points, FH_HTTP_FUZZ_PREFIXES);
    for (size_t i = 0; i < np; i++) {
        size_t k = points[i];
        int prc = fh_http_parse_request(buf, k, &part);
        check_request(&part, prc, buf, k);
        if (rc > 0 && k < (size_t)rc)
            FH_FUZZ_CHECK(prc == 0); /* a prefix of a valid head: more needed */
        else if (rc > 0)
            FH_FUZZ_CHECK(prc == rc && part.n_headers == full.n_headers &&
                          part.content_length == full.content_length);
        /* Rejected early, rejected for good (the reason may differ: a 65th header line that
         * is also malformed is FH_ENOSPACE while it arrives, FH_EPARSE once complete). */
        if (prc < 0)
            FH_FUZZ_CHECK(rc < 0);
    }

    if (rc > 0) {
        check_upgrade(&full, buf, size);
        check_query(full.query, "symbol");
        check_query(full.query, "streams");
        check_query(full.query, "");
        const char *eq = memchr(full.query.p, '=', full.query.n);
        if (eq != NULL && eq - full.query.p < 32) {
            char name[33];
            memcpy(name, full.query.p, (size_t)(eq - full.query.p));
            name[eq - full.query.p] = '\0';
            check_query(full.query, name);
        }
        static const char *const tokens[] = {"close", "Upgrade", "keep-alive", ""};
        for (size_t i = 0; i < full.n_headers; i++) {
            struct fh_str v = full.headers[i].value;
            for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++)
                FH_FUZZ_CHECK(fh_http_list_has_token(v, tokens[t]) == list_has(v, tokens[t]));
        }
    }

    fh_http_fuzz_check_response(buf, size, ACCEPT);
    return 0;
}
