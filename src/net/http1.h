/*
 * http1.h - HTTP/1.1 request and response heads, query strings and the WebSocket opening
 * handshake.
 *
 * fh_http_parse_request() parses a request line and header block held in the caller's buffer
 * (bounded by the caller: a head that does not fit is the caller's 431). It is strict about
 * what it accepts (RFC 9112 grammar: token methods and header names, no obsolete line
 * folding, CRLF line ends, no control bytes in values) and rejects garbage as early as
 * possible, before the head is complete, so a hostile client cannot make a server wait for
 * a CRLF that never comes. Results point into the caller's buffer; nothing is allocated.
 *
 * fh_http_parse_response() does the same for a response head (the WebSocket client's
 * answer to its upgrade request), with the same grammar for header lines, and says in a
 * sentence what was wrong.
 *
 * The WebSocket helpers check an upgrade request (RFC 6455 section 4.2.1) and a server's
 * answer to one (section 4.1) and compute Sec-WebSocket-Accept (SHA-1 + base64 through
 * OpenSSL).
 *
 * Pure functions, any thread.
 */
#ifndef FH_NET_HTTP1_H
#define FH_NET_HTTP1_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_HTTP_MAX_HEADERS 64

struct fh_http_header {
    struct fh_str name;
    struct fh_str value; /* leading and trailing blanks removed */
};

struct fh_http_req {
    struct fh_str method;
    struct fh_str target; /* as sent: path plus optional ?query */
    struct fh_str path;   /* target up to '?' */
    struct fh_str query;  /* after '?', without it; empty if none */
    int minor_version;    /* HTTP/1.x */
    struct fh_http_header headers[FH_HTTP_MAX_HEADERS];
    size_t n_headers;
    size_t head_len;        /* bytes of request line + headers + blank line */
    int64_t content_length; /* -1 if absent */
    bool chunked;           /* Transfer-Encoding present (we do not support bodies in it) */
};

/*
 * Parses buf[0..len). Returns the head length (> 0) when a complete head was parsed into
 * *req, 0 when the bytes so far are a valid prefix and more are needed, FH_EPARSE for
 * malformed input, FH_ENOSPACE for more than FH_HTTP_MAX_HEADERS headers, FH_EUNSUPPORTED for
 * a version other than HTTP/1.0 or 1.1, FH_ERANGE for an unusable Content-Length.
 */
int fh_http_parse_request(const char *buf, size_t len, struct fh_http_req *req);

/* The value of the first header named name (case-insensitive), or NULL. */
const struct fh_str *fh_http_header(const struct fh_http_req *req, const char *name);

/* True if a header named name holds token in its comma-separated list (case-insensitive),
 * e.g. Connection: keep-alive, Upgrade. */
bool fh_http_header_has_token(const struct fh_http_req *req, const char *name, const char *token);

/* True if the comma-separated list v holds token (case-insensitive; blanks around items and
 * empty items are ignored). */
bool fh_http_list_has_token(struct fh_str v, const char *token);

/* True if s is a non-empty HTTP token (a valid method or header name). */
bool fh_http_is_token(struct fh_str s);
/* True if s may be a header value: no control bytes except tab (obs-text is allowed). */
bool fh_http_is_field_value(struct fh_str s);

struct fh_http_resp {
    int minor_version;    /* HTTP/1.x */
    int status;           /* 0-999; -1 until a valid status line was parsed (it is set as soon
                             as it is, also when a later line then fails) */
    struct fh_str reason; /* reason phrase, possibly empty */
    struct fh_http_header headers[FH_HTTP_MAX_HEADERS];
    size_t n_headers;
    size_t head_len;   /* bytes of status line + headers + blank line */
    const char *error; /* after an error: what was wrong, e.g. "malformed header line"
                          (a static string) */
};

/*
 * Parses a status line ("HTTP/1.0" or "HTTP/1.1", SP, three digits, optionally SP and a
 * reason phrase without control bytes), given without its CRLF. Returns the status (0-999)
 * or FH_EPARSE; *minor_version and *reason are filled when not NULL.
 */
int fh_http_parse_status_line(const char *line, size_t n, int *minor_version,
                              struct fh_str *reason);

/*
 * Parses a response head in buf[0..len). A line ends at its first CR, which must be followed
 * by LF; header lines follow the request grammar above. Returns the head length (> 0) when
 * a complete head was parsed into *resp, 0 when the bytes so far are a valid prefix (lines
 * are checked as they complete; the status line also while it arrives), FH_EPARSE for
 * malformed input or FH_ENOSPACE for more than FH_HTTP_MAX_HEADERS headers (resp->error
 * says which).
 */
int fh_http_parse_response(const char *buf, size_t len, struct fh_http_resp *resp);

/* The value of the first header named name (case-insensitive), or NULL. */
const struct fh_str *fh_http_resp_header(const struct fh_http_resp *resp, const char *name);

/* Retry-After in its delta-seconds form (up to 10 digits), or -1 (v NULL or empty, an
 * HTTP-date, anything else). */
int64_t fh_http_retry_after_s(const struct fh_str *v);

/*
 * Finds parameter name in a query string (a=1&b=x%2Fy) and percent-decodes its value into
 * out (cap bytes, NUL-terminated; '+' means space). Returns 0, FH_ENOTFOUND, FH_ENOSPACE or
 * FH_EPARSE (a bad %xx escape). *len (if not NULL) receives the decoded length. If the
 * parameter repeats, the first one counts.
 */
int fh_http_query_get(struct fh_str query, const char *name, char *out, size_t cap, size_t *len);

/* Percent-decodes s into out (cap bytes, NUL-terminated). Same returns as above. */
int fh_http_pct_decode(struct fh_str s, bool plus_is_space, char *out, size_t cap, size_t *len);

/* The reason phrase of a status code ("OK", "Not Found"...), "" for unknown codes. */
const char *fh_http_reason(int status);

/* Length of Sec-WebSocket-Accept text (28) plus a NUL. */
#define FH_WS_ACCEPT_LEN 29

/* Computes base64(SHA-1(key + RFC 6455 GUID)). key must be the base64 text of 16 bytes.
 * Returns 0 or FH_EINVAL. */
int fh_ws_accept_key(struct fh_str key, char out[FH_WS_ACCEPT_LEN]);

/*
 * Classifies a request for a WebSocket server:
 *   0              a valid upgrade (GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade,
 *                  Sec-WebSocket-Version: 13, a valid Sec-WebSocket-Key -> *key);
 *   FH_ENOTFOUND   not an upgrade request at all (no Upgrade header): serve it as plain HTTP;
 *   FH_EUNSUPPORTED an upgrade with another Sec-WebSocket-Version (answer 426 with
 *                  Sec-WebSocket-Version: 13);
 *   FH_EINVAL      a broken upgrade request (answer 400).
 */
int fh_ws_check_upgrade(const struct fh_http_req *req, struct fh_str *key);

/*
 * Checks a server's answer to a client's upgrade request: status 101, Upgrade: websocket,
 * Connection: upgrade (tokens, case-insensitive; the first header of each name counts),
 * Sec-WebSocket-Accept equal to accept (from fh_ws_accept_key of the key sent), and no
 * extension or subprotocol selected (the client offers none). Returns 0, or FH_EINVAL with
 * *why (if why is not NULL) naming the first check that failed, e.g. "missing Connection:
 * upgrade".
 */
int fh_ws_check_answer(const struct fh_http_resp *resp, const char *accept, const char **why);

#endif
