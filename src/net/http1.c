/*
 * http1.c - HTTP/1.1 request heads and the WebSocket opening handshake (see http1.h).
 *
 * The parser walks the buffer from the start on every call. Heads are small (the caller
 * bounds them, a few KiB), so re-scanning is cheaper than keeping state and keeps the code a
 * plain function of its input.
 */
#include "net/http1.h"

#include "core/buf.h"

#include "core/err.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes allowed in a request target: visible ASCII (RFC 3986 is stricter; we only need to
 * keep out spaces and controls). */
static bool is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* Header value bytes: visible, space, tab, and obs-text (>= 0x80). */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Parses the request line in [p, end) (without CRLF) into req. Returns 0 or an error. */
static int parse_request_line(const char *p, const char *end, struct fh_http_req *req)
{
    const char *s = p;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == s || p == end || *p != ' ')
        return FH_EPARSE;
    req->method = (struct fh_str){s, (size_t)(p - s)};
    s = ++p;
    while (p < end && is_target_char((unsigned char)*p))
        p++;
    if (p == s || p == end || *p != ' ')
        return FH_EPARSE;
    req->target = (struct fh_str){s, (size_t)(p - s)};
    p++;
    if (end - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
        p[7] < '0' || p[7] > '9')
        return FH_EPARSE;
    req->minor_version = p[7] - '0';
    if (p[5] != '1' || req->minor_version > 1)
        return FH_EUNSUPPORTED;
    const char *q = memchr(req->target.p, '?', req->target.n);
    if (q != NULL) {
        req->path = (struct fh_str){req->target.p, (size_t)(q - req->target.p)};
        req->query = (struct fh_str){q + 1, req->target.n - req->path.n - 1};
    } else {
        req->path = req->target;
        req->query = (struct fh_str){req->target.p + req->target.n, 0};
    }
    return 0;
}

/* Checks that an incomplete request line [p, end) can still become valid. */
static int check_partial_request_line(const char *p, const char *end)
{
    int part = 0; /* 0 method, 1 target, 2 version */
    const char *ver = NULL;
    for (const char *c = p; c < end; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch == '\r' && c + 1 == end)
            break;
        if (ch == ' ') {
            if (part == 2 || c == p || c[-1] == ' ')
                return FH_EPARSE;
            part++;
            if (part == 2)
                ver = c + 1;
            continue;
        }
        if (part == 0 && !is_tchar(ch))
            return FH_EPARSE;
        if (part == 1 && !is_target_char(ch))
            return FH_EPARSE;
    }
    if (ver != NULL) {
        size_t n = (size_t)(end - ver);
        if (n > 0 && ver[n - 1] == '\r')
            n--;
        if (n > 8 || memcmp(ver, "HTTP/", n < 5 ? n : 5) != 0)
            return FH_EPARSE;
    }
    return 0;
}

/* Parses one header line [p, end) (without CRLF). Returns 0, or FH_EPARSE with *why. */
static int parse_header(const char *p, const char *end, struct fh_http_header *h, const char **why)
{
    const char *s = p;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == s || p == end || *p != ':') {
        *why = "malformed header line";
        return FH_EPARSE;
    }
    h->name = (struct fh_str){s, (size_t)(p - s)};
    p++;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *e = end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    for (const char *c = p; c < e; c++) {
        if (!is_value_char((unsigned char)*c)) {
            *why = "control byte in a header value";
            return FH_EPARSE;
        }
    }
    h->value = (struct fh_str){p, (size_t)(e - p)};
    return 0;
}

static int check_partial_header(const char *p, const char *end)
{
    const char *c = p;
    while (c < end && is_tchar((unsigned char)*c))
        c++;
    if (c == end)
        return 0;
    if (*c == '\r' && c == p && c + 1 == end)
        return 0; /* the blank line's CR */
    if (*c != ':' || c == p)
        return FH_EPARSE;
    for (c++; c < end; c++) {
        if (*c == '\r' && c + 1 == end)
            break;
        if (!is_value_char((unsigned char)*c))
            return FH_EPARSE;
    }
    return 0;
}

static int parse_content_length(struct fh_str v, int64_t *out)
{
    if (v.n == 0 || v.n > 15)
        return FH_ERANGE;
    int64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return FH_ERANGE;
        n = n * 10 + (v.p[i] - '0');
    }
    *out = n;
    return 0;
}

int fh_http_parse_request(const char *buf, size_t len, struct fh_http_req *req)
{
    memset(req, 0, sizeof(*req));
    req->content_length = -1;
    const char *p = buf, *end = buf + len;
    /* RFC 9112 2.2: a server should ignore at least one empty line before the request. */
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    const char *eol = NULL;
    for (const char *c = p; c + 1 < end; c++) {
        if (c[0] == '\r' && c[1] == '\n') {
            eol = c;
            break;
        }
        if (c[0] == '\n' || (c[0] == '\r' && c[1] != '\n'))
            return FH_EPARSE;
    }
    if (eol == NULL)
        return check_partial_request_line(p, end);
    int rc = parse_request_line(p, eol, req);
    if (rc != 0)
        return rc;
    p = eol + 2;
    for (;;) {
        eol = NULL;
        for (const char *c = p; c + 1 < end; c++) {
            if (c[0] == '\r' && c[1] == '\n') {
                eol = c;
                break;
            }
            if (c[0] == '\n' || (c[0] == '\r' && c[1] != '\n'))
                return FH_EPARSE;
        }
        if (eol == NULL) {
            /* A 65th header has begun; a lone CR may still be the blank line's. */
            if (req->n_headers >= FH_HTTP_MAX_HEADERS && end > p && !(end - p == 1 && *p == '\r'))
                return FH_ENOSPACE;
            return check_partial_header(p, end);
        }
        if (eol == p) {
            p += 2;
            break; /* blank line: end of head */
        }
        if (*p == ' ' || *p == '\t')
            return FH_EPARSE; /* obsolete line folding */
        if (req->n_headers >= FH_HTTP_MAX_HEADERS)
            return FH_ENOSPACE;
        struct fh_http_header *h = &req->headers[req->n_headers];
        const char *why;
        rc = parse_header(p, eol, h, &why);
        if (rc != 0)
            return rc;
        req->n_headers++;
        if (fh_str_ieq_c(h->name, "Content-Length")) {
            int64_t n;
            if (parse_content_length(h->value, &n) != 0 ||
                (req->content_length >= 0 && req->content_length != n))
                return FH_ERANGE;
            req->content_length = n;
        } else if (fh_str_ieq_c(h->name, "Transfer-Encoding")) {
            req->chunked = true;
        }
        p = eol + 2;
    }
    req->head_len = (size_t)(p - buf);
    return (int)req->head_len;
}

const struct fh_str *fh_http_header(const struct fh_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (fh_str_ieq_c(req->headers[i].name, name))
            return &req->headers[i].value;
    }
    return NULL;
}

bool fh_http_list_has_token(struct fh_str v, const char *token)
{
    size_t k = 0;
    while (k < v.n) {
        while (k < v.n && (v.p[k] == ' ' || v.p[k] == '\t' || v.p[k] == ','))
            k++;
        size_t s = k;
        while (k < v.n && v.p[k] != ',')
            k++;
        size_t e = k;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e > s && fh_str_ieq_c((struct fh_str){v.p + s, e - s}, token))
            return true;
    }
    return false;
}

bool fh_http_header_has_token(const struct fh_http_req *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (fh_str_ieq_c(req->headers[i].name, name) &&
            fh_http_list_has_token(req->headers[i].value, token))
            return true;
    }
    return false;
}

bool fh_http_is_token(struct fh_str s)
{
    if (s.n == 0)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        if (!is_tchar((unsigned char)s.p[i]))
            return false;
    }
    return true;
}

bool fh_http_is_field_value(struct fh_str s)
{
    for (size_t i = 0; i < s.n; i++) {
        if (!is_value_char((unsigned char)s.p[i]))
            return false;
    }
    return true;
}

/* ---- responses ----------------------------------------------------------------------- */

/*
 * Checks the status line p[0..n) ("HTTP/1.x SP 3DIGIT [SP reason]", without its CRLF).
 * complete false: the line may go on, so only the bytes present are checked. Returns the
 * status (complete) or 0 (a valid prefix), or FH_EPARSE.
 */
static int status_line(const char *p, size_t n, bool complete, int *minor, struct fh_str *reason)
{
    static const char proto[] = "HTTP/1.";
    if (memcmp(p, proto, n < 7 ? n : 7) != 0)
        return FH_EPARSE;
    if ((n > 7 && p[7] != '0' && p[7] != '1') || (n > 8 && p[8] != ' '))
        return FH_EPARSE;
    for (size_t i = 9; i < 12 && i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return FH_EPARSE;
    }
    if (n > 12 && p[12] != ' ')
        return FH_EPARSE;
    for (size_t i = 13; i < n; i++) {
        if (!is_value_char((unsigned char)p[i]))
            return FH_EPARSE;
    }
    if (!complete)
        return 0;
    if (n < 12)
        return FH_EPARSE;
    if (minor != NULL)
        *minor = p[7] - '0';
    if (reason != NULL)
        *reason = (struct fh_str){p + (n > 13 ? 13 : n), n > 13 ? n - 13 : 0};
    return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

int fh_http_parse_status_line(const char *line, size_t n, int *minor_version, struct fh_str *reason)
{
    return status_line(line, n, true, minor_version, reason);
}

int fh_http_parse_response(const char *buf, size_t len, struct fh_http_resp *resp)
{
    resp->minor_version = 0;
    resp->status = -1;
    resp->reason = (struct fh_str){buf, 0};
    resp->n_headers = 0;
    resp->head_len = 0;
    resp->error = NULL;
    const char *p = buf, *end = buf + len;
    /* A line ends at its first CR, which must be followed by LF; a bare LF inside a line is
     * a control byte like any other and rejected where it stands. */
    const char *eol = memchr(p, '\r', len);
    int st = status_line(p, eol != NULL ? (size_t)(eol - p) : len, eol != NULL,
                         &resp->minor_version, &resp->reason);
    if (st < 0) {
        resp->error = "malformed status line";
        return FH_EPARSE;
    }
    if (eol == NULL)
        return 0;
    resp->status = st;
    for (;;) {
        /* eol is the CR ending the line at p: the status line, a header or the blank line. */
        if (eol + 1 == end)
            return 0;
        if (eol[1] != '\n') {
            resp->error = "line not ended by CRLF";
            return FH_EPARSE;
        }
        if (p != buf) {
            if (eol == p)
                break;
            struct fh_http_header h;
            if (parse_header(p, eol, &h, &resp->error) != 0)
                return FH_EPARSE;
            if (resp->n_headers == FH_HTTP_MAX_HEADERS) {
                resp->error = "too many headers";
                return FH_ENOSPACE;
            }
            resp->headers[resp->n_headers++] = h;
        }
        p = eol + 2;
        eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            return 0; /* a line still arriving: checked when complete */
    }
    resp->head_len = (size_t)(eol + 2 - buf);
    return (int)resp->head_len;
}

const struct fh_str *fh_http_resp_header(const struct fh_http_resp *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        if (fh_str_ieq_c(resp->headers[i].name, name))
            return &resp->headers[i].value;
    }
    return NULL;
}

int64_t fh_http_retry_after_s(const struct fh_str *v)
{
    if (v == NULL || v->n == 0 || v->n > 10)
        return -1;
    int64_t s = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return -1; /* an HTTP-date: not used by the venues we know */
        s = s * 10 + (v->p[i] - '0');
    }
    return s;
}

int fh_http_pct_decode(struct fh_str s, bool plus_is_space, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    if (cap == 0)
        return FH_ENOSPACE;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (c == '%') {
            if (i + 2 >= s.n)
                return FH_EPARSE;
            int h = fh_hex_value(s.p[i + 1]), l = fh_hex_value(s.p[i + 2]);
            if (h < 0 || l < 0)
                return FH_EPARSE;
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 >= cap)
            return FH_ENOSPACE;
        out[o++] = c;
    }
    out[o] = '\0';
    if (len != NULL)
        *len = o;
    return 0;
}

int fh_http_query_get(struct fh_str query, const char *name, char *out, size_t cap, size_t *len)
{
    size_t nlen = strlen(name);
    size_t k = 0;
    while (k <= query.n && query.n > 0) {
        size_t s = k;
        while (k < query.n && query.p[k] != '&')
            k++;
        struct fh_str part = {query.p + s, k - s};
        const char *eq = memchr(part.p, '=', part.n);
        size_t klen = eq != NULL ? (size_t)(eq - part.p) : part.n;
        if (klen == nlen && memcmp(part.p, name, nlen) == 0) {
            struct fh_str v = {part.p + klen, 0};
            if (eq != NULL)
                v = (struct fh_str){eq + 1, part.n - klen - 1};
            return fh_http_pct_decode(v, true, out, cap, len);
        }
        k++;
    }
    return FH_ENOTFOUND;
}

const char *fh_http_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 418:
        return "I'm a teapot";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int fh_ws_accept_key(struct fh_str key, char out[FH_WS_ACCEPT_LEN])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    /* 16 bytes in base64: 22 characters and "==". */
    if (key.n != 24 || key.p[22] != '=' || key.p[23] != '=')
        return FH_EINVAL;
    for (size_t i = 0; i < 22; i++) {
        if (!is_b64(key.p[i]))
            return FH_EINVAL;
    }
    /* The last character carries 2 bits; the rest must be zero (canonical encoding). */
    if (strchr("AQgw", key.p[21]) == NULL)
        return FH_EINVAL;
    unsigned char cat[24 + sizeof(guid) - 1];
    memcpy(cat, key.p, 24);
    memcpy(cat + 24, guid, sizeof(guid) - 1);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(cat, sizeof(cat), md);
    int n = EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
    if (n != FH_WS_ACCEPT_LEN - 1)
        return FH_EINVAL;
    out[n] = '\0';
    return 0;
}

int fh_ws_check_upgrade(const struct fh_http_req *req, struct fh_str *key)
{
    if (fh_http_header(req, "Upgrade") == NULL)
        return FH_ENOTFOUND;
    if (!fh_http_header_has_token(req, "Upgrade", "websocket"))
        return FH_EINVAL;
    if (!fh_str_eq_c(req->method, "GET") || req->minor_version != 1)
        return FH_EINVAL;
    if (!fh_http_header_has_token(req, "Connection", "upgrade"))
        return FH_EINVAL;
    const struct fh_str *ver = fh_http_header(req, "Sec-WebSocket-Version");
    if (ver == NULL)
        return FH_EINVAL;
    if (!fh_str_eq_c(*ver, "13"))
        return FH_EUNSUPPORTED;
    const struct fh_str *k = fh_http_header(req, "Sec-WebSocket-Key");
    char tmp[FH_WS_ACCEPT_LEN];
    if (k == NULL || fh_ws_accept_key(*k, tmp) != 0)
        return FH_EINVAL;
    *key = *k;
    return 0;
}

int fh_ws_check_answer(const struct fh_http_resp *resp, const char *accept, const char **why)
{
    /* Each header is looked up once, its first occurrence counts. */
    const struct fh_str *v = fh_http_resp_header(resp, "Upgrade");
    const char *bad = NULL;
    if (resp->status != 101)
        bad = "status is not 101";
    else if (v == NULL || !fh_http_list_has_token(*v, "websocket"))
        bad = "missing Upgrade: websocket";
    else if ((v = fh_http_resp_header(resp, "Connection")) == NULL ||
             !fh_http_list_has_token(*v, "upgrade"))
        bad = "missing Connection: upgrade";
    else if ((v = fh_http_resp_header(resp, "Sec-WebSocket-Accept")) == NULL)
        bad = "missing Sec-WebSocket-Accept";
    else if (!fh_str_eq_c(*v, accept))
        bad = "Sec-WebSocket-Accept does not match our key";
    else if ((v = fh_http_resp_header(resp, "Sec-WebSocket-Extensions")) != NULL && v->n > 0)
        bad = "server selected an extension we did not offer";
    else if ((v = fh_http_resp_header(resp, "Sec-WebSocket-Protocol")) != NULL && v->n > 0)
        bad = "server selected a subprotocol we did not offer";
    if (bad == NULL)
        return 0;
    if (why != NULL)
        *why = bad;
    return FH_EINVAL;
}
