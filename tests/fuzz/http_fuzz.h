/*
 * http_fuzz.h - checks of the HTTP/1 head parsers (src/net/http1.c) shared by fuzz_http1 and
 * fuzz_ws_handshake, on top of fuzz_util.h.
 *
 * Both parsers are incremental: a server or the WebSocket client calls them again on a longer
 * buffer until a head is complete. Besides the grammar of what they return, the checks below
 * hold them to that contract: any prefix of a complete head is "more needed" (0), a complete
 * head reads the same whatever follows it, and a prefix rejected stays rejected with the same
 * error.
 */
#ifndef FH_HTTP_FUZZ_H
#define FH_HTTP_FUZZ_H

#include "fuzz_util.h"

#include "core/err.h"
#include "net/http1.h"

#define FH_HTTP_FUZZ_PREFIXES 192

static inline bool fh_http_fuzz_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The offset of the first CRLFCRLF in d[0..n), or n. */
static inline size_t fh_http_fuzz_find_blank(const void *p, size_t n)
{
    const uint8_t *d = p;
    for (size_t i = 0; i + 4 <= n; i++) {
        if (d[i] == '\r' && memcmp(d + i, "\r\n\r\n", 4) == 0)
            return i;
    }
    return n;
}

/* Header names are tokens, values trimmed field values, all inside buf[0..len). */
static inline void fh_http_fuzz_check_headers(const struct fh_http_header *h, size_t n,
                                              const char *buf, size_t len)
{
    FH_FUZZ_CHECK(n <= FH_HTTP_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        FH_FUZZ_CHECK(h[i].name.n > 0 && fh_fuzz_within(h[i].name, buf, len));
        FH_FUZZ_CHECK(fh_fuzz_within(h[i].value, buf, len));
        for (size_t k = 0; k < h[i].name.n; k++)
            FH_FUZZ_CHECK(fh_http_fuzz_tchar((uint8_t)h[i].name.p[k]));
        FH_FUZZ_CHECK(fh_http_is_token(h[i].name));
        /* Tabs and obs-text are allowed; other controls, CR and LF are not. */
        FH_FUZZ_CHECK(fh_http_is_field_value(h[i].value));
        struct fh_str v = h[i].value;
        for (size_t k = 0; k < v.n; k++)
            FH_FUZZ_CHECK(v.p[k] != '\r' && v.p[k] != '\n' && v.p[k] != '\0');
        FH_FUZZ_CHECK(v.n == 0 || (v.p[0] != ' ' && v.p[0] != '\t' && v.p[v.n - 1] != ' ' &&
                                   v.p[v.n - 1] != '\t'));
    }
}

/* fh_http_parse_response with the checks of one result. */
static inline int fh_http_fuzz_response(const char *buf, size_t len, struct fh_http_resp *r)
{
    int rc = fh_http_parse_response(buf, len, r);
    FH_FUZZ_CHECK(rc >= 0 || rc == FH_EPARSE || rc == FH_ENOSPACE);
    FH_FUZZ_CHECK(r->status >= -1 && r->status <= 999);
    FH_FUZZ_CHECK((rc < 0) == (r->error != NULL));
    if (rc == FH_ENOSPACE)
        FH_FUZZ_CHECK(r->n_headers == FH_HTTP_MAX_HEADERS && r->status >= 0);
    FH_FUZZ_CHECK(fh_fuzz_within(r->reason, buf, len));
    fh_http_fuzz_check_headers(r->headers, r->n_headers, buf, len);
    if (rc > 0) {
        size_t hl = (size_t)rc;
        FH_FUZZ_CHECK(r->head_len == hl && hl <= len && r->status >= 0);
        /* A head ends at the first blank line: what the WebSocket client looks for. */
        FH_FUZZ_CHECK(fh_http_fuzz_find_blank(buf, len) + 4 == hl);
        FH_FUZZ_CHECK(r->minor_version == 0 || r->minor_version == 1);
        for (size_t i = 0; i < r->n_headers; i++)
            FH_FUZZ_CHECK(r->headers[i].value.p + r->headers[i].value.n <= buf + hl);
        int64_t ra = fh_http_retry_after_s(fh_http_resp_header(r, "Retry-After"));
        FH_FUZZ_CHECK(ra >= -1 && ra <= 9999999999LL);
    }
    return rc;
}

/*
 * A response head in buf[0..len): its parse, the status line parsed alone, the prefixes, and
 * fh_ws_check_answer for accept. Returns the parser's result for the whole buffer.
 */
static inline int fh_http_fuzz_check_response(const char *buf, size_t len, const char *accept)
{
    static struct fh_http_resp full, part;
    int rc = fh_http_fuzz_response(buf, len, &full);

    /* The status line, parsed alone, gives the same status. */
    const char *eol = memchr(buf, '\r', len);
    if (eol != NULL) {
        int minor = -1;
        struct fh_str reason = {0};
        int st = fh_http_parse_status_line(buf, (size_t)(eol - buf), &minor, &reason);
        FH_FUZZ_CHECK(st == FH_EPARSE || (st >= 0 && st <= 999));
        FH_FUZZ_CHECK(st == (full.status >= 0 ? full.status : FH_EPARSE));
        if (st >= 0)
            FH_FUZZ_CHECK(minor == full.minor_version && fh_str_eq(reason, full.reason));
    }

    static size_t points[FH_HTTP_FUZZ_PREFIXES];
    size_t np = fh_fuzz_prefix_points((const uint8_t *)buf, len, points, FH_HTTP_FUZZ_PREFIXES);
    for (size_t i = 0; i < np; i++) {
        size_t k = points[i];
        int prc = fh_http_fuzz_response(buf, k, &part);
        if (rc > 0 && k < (size_t)rc)
            FH_FUZZ_CHECK(prc == 0);
        else if (rc > 0)
            FH_FUZZ_CHECK(prc == rc && part.n_headers == full.n_headers &&
                          part.status == full.status);
        if (prc < 0)
            FH_FUZZ_CHECK(rc == prc && strcmp(part.error, full.error) == 0);
    }

    const char *why = NULL;
    int ok = fh_ws_check_answer(&full, accept, &why);
    FH_FUZZ_CHECK(ok == 0 || (ok == FH_EINVAL && why != NULL));
    if (ok == 0) {
        FH_FUZZ_CHECK(full.status == 101);
        const struct fh_str *acc = fh_http_resp_header(&full, "Sec-WebSocket-Accept");
        FH_FUZZ_CHECK(acc != NULL && fh_str_eq_c(*acc, accept));
        const struct fh_str *up = fh_http_resp_header(&full, "Upgrade");
        FH_FUZZ_CHECK(up != NULL && fh_http_list_has_token(*up, "WebSocket"));
    }
    return rc;
}

#endif
