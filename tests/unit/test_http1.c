/*
 * test_http1.c - HTTP/1.1 request heads, query strings and the WebSocket handshake
 * (src/net/http1.c).
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full_request),
        cmocka_unit_test(test_every_prefix_is_incomplete),
        cmocka_unit_test(test_garbage_rejected_early),
        cmocka_unit_test(test_header_limit_and_length),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_ws_accept_rfc6455_example),
        cmocka_unit_test(test_ws_check_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
