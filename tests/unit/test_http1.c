/*
 * test_http1.c - HTTP/1.1 request and response heads, query strings and the WebSocket
 * handshake, both sides (src/net/http1.c).
 */
#include "testutil.h"

#include "core/err.h"
#include "net/http1.h"

#include <stdio.h>
#include <string.h>

static const char upgrade_req[] = "GET /ws/btcusdt@trade?timeUnit=MICROSECOND HTTP/1.1\r\n"
                                  "Host: 127.0.0.1:9443\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: keep-alive, Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

static void test_parse_full_request(void **state)
{
    (void)state;
    struct fh_http_req req;
    size_t n = strlen(upgrade_req);
    assert_int_equal(fh_http_parse_request(upgrade_req, n, &req), (int)n);
    assert_true(fh_str_eq_c(req.method, "GET"));
    assert_true(fh_str_eq_c(req.path, "/ws/btcusdt@trade"));
    assert_true(fh_str_eq_c(req.query, "timeUnit=MICROSECOND"));
    assert_int_equal(req.minor_version, 1);
    assert_int_equal(req.n_headers, 5);
    assert_int_equal(req.content_length, -1);
    const struct fh_str *host = fh_http_header(&req, "host");
    assert_non_null(host);
    assert_true(fh_str_eq_c(*host, "127.0.0.1:9443"));
    assert_true(fh_http_header_has_token(&req, "connection", "upgrade"));
    assert_true(fh_http_header_has_token(&req, "Connection", "Keep-Alive"));
    assert_false(fh_http_header_has_token(&req, "Connection", "close"));
}

static void test_every_prefix_is_incomplete(void **state)
{
    (void)state;
    struct fh_http_req req;
    size_t n = strlen(upgrade_req);
    for (size_t i = 0; i < n; i++) {
        int rc = fh_http_parse_request(upgrade_req, i, &req);
        if (rc != 0)
            fail_msg("prefix of %zu bytes gave %d", i, rc);
    }
    /* Bytes after the head (a pipelined frame) are not part of it. */
    char buf[512];
    snprintf(buf, sizeof(buf), "%s\x81\x85", upgrade_req);
    assert_int_equal(fh_http_parse_request(buf, strlen(buf), &req), (int)n);
}

static void test_garbage_rejected_early(void **state)
{
    (void)state;
    struct fh_http_req req;
    static const char *bad[] = {
        "\x16\x03\x01\x02\x00",             /* a TLS ClientHello on a plain port */
        "GET  /x HTTP/1.1\r\n\r\n",         /* two spaces */
        "GE(T / HTTP/1.1\r\n\r\n",          /* not a token */
        "GET /a b HTTP/1.1\r\n\r\n",        /* space in target */
        "GET / HTTP/1.1\n\n",               /* bare LF */
        "GET / HTTP/1.1\r\nHost x\r\n\r\n", /* header without colon */
        "GET / HTTP/1.1\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", /* control byte in value */
        "GET / FTP/1.0\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = fh_http_parse_request(bad[i], strlen(bad[i]), &req);
        if (rc != FH_EPARSE)
            fail_msg("case %zu gave %d", i, rc);
    }
    /* Rejected before any line end arrives. */
    assert_int_equal(fh_http_parse_request("GET /x\x01", 7, &req), FH_EPARSE);
    assert_int_equal(fh_http_parse_request("GET / HTTX", 10, &req), FH_EPARSE);
    assert_int_equal(fh_http_parse_request("GET / HTTP/1.1x", 15, &req), FH_EPARSE);
    assert_int_equal(fh_http_parse_request("GET / HTTP/2.0\r\n\r\n", 18, &req), FH_EUNSUPPORTED);
}

static void test_header_limit_and_length(void **state)
{
    (void)state;
    struct fh_http_req req;
    char buf[8192];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < FH_HTTP_MAX_HEADERS + 1; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "X-%d: v\r\n", i);
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n");
    assert_int_equal(fh_http_parse_request(buf, o, &req), FH_ENOSPACE);

    const char *post = "POST /fault HTTP/1.1\r\nContent-Length: 12\r\n\r\nkind=stall&x";
    int rc = fh_http_parse_request(post, strlen(post), &req);
    assert_true(rc > 0);
    assert_int_equal(req.content_length, 12);
    assert_int_equal(strlen(post) - (size_t)rc, 12);
    const char *bad_len = "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n";
    assert_int_equal(fh_http_parse_request(bad_len, strlen(bad_len), &req), FH_ERANGE);
    const char *two_len = "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    assert_int_equal(fh_http_parse_request(two_len, strlen(two_len), &req), FH_ERANGE);
}

/* A head with the most headers allowed is "more needed" at every prefix, also when a read
 * ends between the blank line's CR and LF (found by fuzz_http1). */
static void test_header_limit_prefixes(void **state)
{
    (void)state;
    struct fh_http_req req;
    char buf[8192];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < FH_HTTP_MAX_HEADERS; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "X-%d: v\r\n", i);
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n");
    assert_int_equal(fh_http_parse_request(buf, o, &req), (int)o);
    assert_int_equal(req.n_headers, FH_HTTP_MAX_HEADERS);
    for (size_t i = 0; i < o; i++) {
        int rc = fh_http_parse_request(buf, i, &req);
        if (rc != 0)
            fail_msg("prefix of %zu bytes (of %zu) gave %d", i, o, rc);
    }
    /* One more header is refused as soon as it starts. */
    memcpy(buf + o - 2, "X", 1);
    assert_int_equal(fh_http_parse_request(buf, o - 1, &req), FH_ENOSPACE);
}

static void test_query(void **state)
{
    (void)state;
    struct fh_str q = FH_STR_LIT("streams=btcusdt@trade/ethusdt@aggTrade&x=a%2Fb+c&empty=&flag");
    char out[64];
    size_t len;
    assert_int_equal(fh_http_query_get(q, "streams", out, sizeof(out), &len), 0);
    assert_string_equal(out, "btcusdt@trade/ethusdt@aggTrade");
    assert_int_equal(fh_http_query_get(q, "x", out, sizeof(out), &len), 0);
    assert_string_equal(out, "a/b c");
    assert_int_equal(fh_http_query_get(q, "empty", out, sizeof(out), &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(fh_http_query_get(q, "flag", out, sizeof(out), &len), 0);
    assert_int_equal(fh_http_query_get(q, "stream", out, sizeof(out), &len), FH_ENOTFOUND);
    assert_int_equal(fh_http_query_get(q, "streams", out, 8, &len), FH_ENOSPACE);
    struct fh_str bad = FH_STR_LIT("a=%2");
    assert_int_equal(fh_http_query_get(bad, "a", out, sizeof(out), &len), FH_EPARSE);
    struct fh_str bad2 = FH_STR_LIT("a=%zz");
    assert_int_equal(fh_http_query_get(bad2, "a", out, sizeof(out), &len), FH_EPARSE);
}

static void test_ws_accept_rfc6455_example(void **state)
{
    (void)state;
    char out[FH_WS_ACCEPT_LEN];
    assert_int_equal(fh_ws_accept_key(FH_STR_LIT("dGhlIHNhbXBsZSBub25jZQ=="), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(fh_ws_accept_key(FH_STR_LIT("dGhlIHNhbXBsZSBub25jZQ="), out), FH_EINVAL);
    assert_int_equal(fh_ws_accept_key(FH_STR_LIT("dGhlIHNhbXBsZSBub25jZR=="), out), FH_EINVAL);
    assert_int_equal(fh_ws_accept_key(FH_STR_LIT("dGhlIHNhbXBsZSBub2*jZQ=="), out), FH_EINVAL);
}

static void test_ws_check_upgrade(void **state)
{
    (void)state;
    struct fh_http_req req;
    struct fh_str key;
    assert_true(fh_http_parse_request(upgrade_req, strlen(upgrade_req), &req) > 0);
    assert_int_equal(fh_ws_check_upgrade(&req, &key), 0);
    assert_true(fh_str_eq_c(key, "dGhlIHNhbXBsZSBub25jZQ=="));

    const char *rest = "GET /api/v3/exchangeInfo HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(fh_http_parse_request(rest, strlen(rest), &req) > 0);
    assert_int_equal(fh_ws_check_upgrade(&req, &key), FH_ENOTFOUND);

    const char *v8 = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 8\r\n\r\n";
    assert_true(fh_http_parse_request(v8, strlen(v8), &req) > 0);
    assert_int_equal(fh_ws_check_upgrade(&req, &key), FH_EUNSUPPORTED);

    const char *nokey = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n";
    assert_true(fh_http_parse_request(nokey, strlen(nokey), &req) > 0);
    assert_int_equal(fh_ws_check_upgrade(&req, &key), FH_EINVAL);

    const char *post = "POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n";
    assert_true(fh_http_parse_request(post, strlen(post), &req) > 0);
    assert_int_equal(fh_ws_check_upgrade(&req, &key), FH_EINVAL);
}

/* ---- responses ---- */

/* The RFC 6455 example answer (key dGhlIHNhbXBsZSBub25jZQ==), as a server sends it. */
static const char answer_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                 "\r\n";
static const char accept_101[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

static void test_parse_full_response(void **state)
{
    (void)state;
    struct fh_http_resp resp;
    size_t n = strlen(answer_101);
    assert_int_equal(fh_http_parse_response(answer_101, n, &resp), (int)n);
    assert_int_equal(resp.status, 101);
    assert_int_equal(resp.minor_version, 1);
    assert_true(fh_str_eq_c(resp.reason, "Switching Protocols"));
    assert_int_equal(resp.n_headers, 3);
    assert_int_equal(resp.head_len, n);
    assert_null(resp.error);
    assert_true(fh_str_eq_c(*fh_http_resp_header(&resp, "connection"), "Upgrade"));
    assert_null(fh_http_resp_header(&resp, "Sec-WebSocket-Protocol"));

    /* A frame right behind the head is not part of it; no reason phrase, HTTP/1.0. */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s\x81\x05hello", answer_101);
    assert_int_equal(fh_http_parse_response(buf, strlen(buf), &resp), (int)n);
    const char *bare = "HTTP/1.0 503\r\nRetry-After:  7 \r\n\r\n";
    assert_int_equal(fh_http_parse_response(bare, strlen(bare), &resp), (int)strlen(bare));
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.minor_version, 0);
    assert_int_equal(resp.reason.n, 0);
    assert_true(fh_str_eq_c(*fh_http_resp_header(&resp, "Retry-After"), "7"));
    const char *empty_reason = "HTTP/1.1 200 \r\n\r\n";
    assert_int_equal(fh_http_parse_response(empty_reason, strlen(empty_reason), &resp),
                     (int)strlen(empty_reason));
    assert_int_equal(resp.n_headers, 0);
}

static void test_response_prefixes_are_incomplete(void **state)
{
    (void)state;
    struct fh_http_resp resp;
    size_t n = strlen(answer_101);
    for (size_t i = 0; i < n; i++) {
        int rc = fh_http_parse_response(answer_101, i, &resp);
        if (rc != 0)
            fail_msg("prefix of %zu bytes gave %d (%s)", i, rc, resp.error ? resp.error : "");
    }
    /* A header line is checked once its CR arrives, not before. */
    const char *partial = "HTTP/1.1 101 OK\r\nUpgrade websocket";
    assert_int_equal(fh_http_parse_response(partial, strlen(partial), &resp), 0);
    assert_int_equal(resp.status, 101);
}

/* Parses a complete response head that must fail with rc; its status and error are checked. */
static void bad_response(const char *head, int rc, int status, const char *error)
{
    struct fh_http_resp resp;
    int got = fh_http_parse_response(head, strlen(head), &resp);
    if (got != rc)
        fail_msg("\"%s\": %d, expected %d", head, got, rc);
    assert_int_equal(resp.status, status);
    assert_non_null(resp.error);
    if (strcmp(resp.error, error) != 0)
        fail_msg("\"%s\": error \"%s\", expected \"%s\"", head, resp.error, error);
}

static void test_bad_responses(void **state)
{
    (void)state;
    const char *st = "malformed status line";
    bad_response("HTTP/1.1 10x Nope\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("HTTP/1.2 101 OK\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("HTTP/2 101\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("HTTP/1.1 1010\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("HTTP/1.1  101\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("HTTP/1.1 10\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("HTTP/1.1 101 O\x01K\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("HTTP/1.1 101 OK\nUpgrade: websocket\n\n\r\n\r\n", FH_EPARSE, -1, st);
    bad_response("http/1.1 101 OK\r\n\r\n", FH_EPARSE, -1, st);
    /* Garbage fails before any line end arrives. */
    bad_response("SSH-2.0-OpenSSH_9.2", FH_EPARSE, -1, st);
    bad_response("HTTP/1.1 10x", FH_EPARSE, -1, st);
    /* Once the status line is good its status is kept, whatever fails after it. */
    bad_response("HTTP/1.1 101 OK\rX\r\n\r\n", FH_EPARSE, 101, "line not ended by CRLF");
    bad_response("HTTP/1.1 101 OK\r\nA: b\rc\r\n\r\n", FH_EPARSE, 101, "line not ended by CRLF");
    bad_response("HTTP/1.1 101 OK\r\n\rX\r\n\r\n", FH_EPARSE, 101, "line not ended by CRLF");
    bad_response("HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n", FH_EPARSE, 101,
                 "malformed header line");
    bad_response("HTTP/1.1 403 No\r\n folded\r\n\r\n", FH_EPARSE, 403, "malformed header line");
    bad_response("HTTP/1.1 101 OK\r\n: x\r\n\r\n", FH_EPARSE, 101, "malformed header line");
    bad_response("HTTP/1.1 101 OK\r\nUpgrade : x\r\n\r\n", FH_EPARSE, 101, "malformed header line");
    bad_response("HTTP/1.1 101 OK\r\nUp\ngrade: x\r\n\r\n", FH_EPARSE, 101,
                 "malformed header line");
    bad_response("HTTP/1.1 101 OK\r\nX: a\x01\r\n\r\n", FH_EPARSE, 101,
                 "control byte in a header value");
    bad_response("HTTP/1.1 101 OK\r\nX: a\nb\r\n\r\n", FH_EPARSE, 101,
                 "control byte in a header value");
    bad_response("HTTP/1.1 101 OK\r\nX: a\x7f\r\n\r\n", FH_EPARSE, 101,
                 "control byte in a header value");

    /* Tabs and obs-text are allowed in values and reason phrases. */
    struct fh_http_resp resp;
    const char *ok = "HTTP/1.1 200 \xc3\x89t\tait\r\nX: a\tb \xc3\xa9\r\n\r\n";
    assert_int_equal(fh_http_parse_response(ok, strlen(ok), &resp), (int)strlen(ok));
    assert_true(fh_str_eq_c(*fh_http_resp_header(&resp, "x"), "a\tb \xc3\xa9"));
}

static void test_response_header_limit(void **state)
{
    (void)state;
    struct fh_http_resp resp;
    char buf[8192];
    for (int extra = 0; extra < 2; extra++) {
        size_t o = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 101 OK\r\n");
        for (int i = 0; i < FH_HTTP_MAX_HEADERS + extra; i++)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "X-%d: v\r\n", i);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n");
        int rc = fh_http_parse_response(buf, o, &resp);
        if (extra == 0) {
            assert_int_equal(rc, (int)o);
            assert_int_equal(resp.n_headers, FH_HTTP_MAX_HEADERS);
        } else {
            assert_int_equal(rc, FH_ENOSPACE);
            assert_string_equal(resp.error, "too many headers");
            assert_int_equal(resp.status, 101);
        }
    }
}

static void test_status_line_and_retry_after(void **state)
{
    (void)state;
    int minor = -1;
    struct fh_str reason = {0};
    assert_int_equal(fh_http_parse_status_line("HTTP/1.0 429 Slow down", 22, &minor, &reason), 429);
    assert_int_equal(minor, 0);
    assert_true(fh_str_eq_c(reason, "Slow down"));
    assert_int_equal(fh_http_parse_status_line("HTTP/1.1 000", 12, NULL, NULL), 0);
    assert_int_equal(fh_http_parse_status_line("HTTP/1.1 101x", 13, NULL, NULL), FH_EPARSE);
    assert_int_equal(fh_http_parse_status_line("HTTP/1.1 10", 11, NULL, NULL), FH_EPARSE);

    struct fh_str v30 = FH_STR_LIT("30"), v0 = FH_STR_LIT("0"), none = FH_STR_LIT("");
    struct fh_str date = FH_STR_LIT("Fri, 31 Dec 1999 23:59:59 GMT");
    struct fh_str big = FH_STR_LIT("12345678901"), max = FH_STR_LIT("9999999999");
    assert_int_equal(fh_http_retry_after_s(&v30), 30);
    assert_int_equal(fh_http_retry_after_s(&v0), 0);
    assert_int_equal(fh_http_retry_after_s(&max), 9999999999LL);
    assert_int_equal(fh_http_retry_after_s(&none), -1);
    assert_int_equal(fh_http_retry_after_s(&date), -1);
    assert_int_equal(fh_http_retry_after_s(&big), -1);
    assert_int_equal(fh_http_retry_after_s(NULL), -1);
}

static void test_tokens_and_field_values(void **state)
{
    (void)state;
    assert_true(fh_http_list_has_token(FH_STR_LIT("keep-alive, Upgrade"), "upgrade"));
    assert_true(fh_http_list_has_token(FH_STR_LIT(" ,upgrade\t,"), "Upgrade"));
    assert_false(fh_http_list_has_token(FH_STR_LIT("upgrades"), "upgrade"));
    assert_false(fh_http_list_has_token(FH_STR_LIT(""), "upgrade"));
    assert_true(fh_http_is_token(FH_STR_LIT("User-Agent")));
    assert_true(fh_http_is_token(FH_STR_LIT("x!#$%&'*+-.^_`|~9")));
    assert_false(fh_http_is_token(FH_STR_LIT("")));
    assert_false(fh_http_is_token(FH_STR_LIT("X Y")));
    assert_false(fh_http_is_token(FH_STR_LIT("X:")));
    assert_true(fh_http_is_field_value(FH_STR_LIT("")));
    assert_true(fh_http_is_field_value(FH_STR_LIT("a b\tc \xc3\xa9")));
    assert_false(fh_http_is_field_value(FH_STR_LIT("a\r\nInjected: 1")));
    assert_false(fh_http_is_field_value(FH_STR_LIT("a\x7f")));
}

/* Checks answer_101 with one header line replaced (or added, when from is NULL). */
static int check_answer_with(const char *from, const char *to, const char **why)
{
    char buf[512];
    const char *at = from != NULL ? strstr(answer_101, from) : NULL;
    if (from != NULL && at == NULL)
        fail_msg("no \"%s\" in the answer", from);
    size_t keep = at != NULL ? (size_t)(at - answer_101) : strlen(answer_101) - 2;
    const char *rest = at != NULL ? strstr(at, "\r\n") + 2 : "\r\n";
    int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)keep, answer_101, to, rest);
    struct fh_http_resp resp;
    if (fh_http_parse_response(buf, (size_t)n, &resp) != n)
        fail_msg("answer did not parse: %s", buf);
    *why = NULL;
    return fh_ws_check_answer(&resp, accept_101, why);
}

static void expect_answer_refused(const char *from, const char *to, const char *why_words)
{
    const char *why;
    assert_int_equal(check_answer_with(from, to, &why), FH_EINVAL);
    assert_non_null(why);
    if (strstr(why, why_words) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", why, why_words);
}

static void test_ws_check_answer(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(check_answer_with(NULL, "", &why), 0);
    assert_int_equal(check_answer_with("Connection", "connection: keep-alive, UPGRADE\r\n", &why),
                     0);
    assert_int_equal(check_answer_with("Upgrade", "upgrade: WebSocket\r\n", &why), 0);
    /* Empty extension and protocol headers select nothing. */
    assert_int_equal(check_answer_with(NULL, "Sec-WebSocket-Extensions:\r\n", &why), 0);
    assert_int_equal(check_answer_with(NULL, "Sec-WebSocket-Protocol: \r\n", &why), 0);

    expect_answer_refused("HTTP/1.1 101", "HTTP/1.1 200 OK\r\n", "101");
    expect_answer_refused("Upgrade", "Upgrade: h2c\r\n", "missing Upgrade");
    expect_answer_refused("Upgrade", "X-Upgrade: websocket\r\n", "missing Upgrade");
    expect_answer_refused("Connection", "Connection: close\r\n", "missing Connection");
    expect_answer_refused("Sec-WebSocket-Accept", "X: y\r\n", "missing Sec-WebSocket-Accept");
    expect_answer_refused("Sec-WebSocket-Accept",
                          "Sec-WebSocket-Accept: S3PPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                          "does not match");
    expect_answer_refused(NULL, "Sec-WebSocket-Extensions: permessage-deflate\r\n", "extension");
    expect_answer_refused(NULL, "Sec-WebSocket-Protocol: chat\r\n", "subprotocol");
    /* The first header of a name counts: a second Connection line does not rescue the first. */
    expect_answer_refused("Connection", "Connection: keep-alive\r\nConnection: upgrade\r\n",
                          "missing Connection");
    assert_int_equal(fh_ws_check_answer(&(struct fh_http_resp){.status = 101}, accept_101, NULL),
                     FH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full_request),
        cmocka_unit_test(test_every_prefix_is_incomplete),
        cmocka_unit_test(test_garbage_rejected_early),
        cmocka_unit_test(test_header_limit_and_length),
        cmocka_unit_test(test_header_limit_prefixes),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_ws_accept_rfc6455_example),
        cmocka_unit_test(test_ws_check_upgrade),
        cmocka_unit_test(test_parse_full_response),
        cmocka_unit_test(test_response_prefixes_are_incomplete),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_response_header_limit),
        cmocka_unit_test(test_status_line_and_retry_after),
        cmocka_unit_test(test_tokens_and_field_values),
        cmocka_unit_test(test_ws_check_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
