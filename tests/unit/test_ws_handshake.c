/*
 * test_ws_handshake.c - the WebSocket client's opening handshake and connection set-up
 * (src/net/ws.c) over real sockets.
 *
 * The client runs on a libuv loop; the test plays the server on the other end of a
 * socketpair (fh_ws_connect_fd) or of a loopback TCP connection (fh_ws_connect), reading
 * the upgrade request with the server-side checker of http1.h and answering with good and
 * broken responses. Also: refused connects, DNS through uv_getaddrinfo, connect and upgrade
 * timeouts, EOF and reset after open, and TLS context errors.
 */
#include "testutil.h"

#include "core/err.h"
#include "core/log.h"
#include "net/http1.h"
#include "net/stream.h"
#include "net/tls.h"
#include "net/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct hs {
    uv_loop_t loop;
    uv_timer_t guard;
    struct fh_ws ws;
    struct fh_ws_cbs cbs;
    struct fh_ws_config cfg;
    int peer; /* the server's socket */
    int listen_fd;
    char req[8192];
    size_t req_len;
    bool opened, closed;
    int n_msgs;
    int refuse; /* refuse this many deliveries (FH_ENOSPACE) before accepting */
    char last_msg[256];
    struct fh_ws_close_info info;
    char message[FH_WS_ERRMSG_LEN];
    char reason[126];
};

static void hs_open(struct fh_ws *ws)
{
    ((struct hs *)ws->data)->opened = true;
}

static int hs_message(struct fh_ws *ws, const struct fh_ws_msg *m)
{
    struct hs *h = ws->data;
    if (h->refuse > 0) {
        h->refuse--;
        return FH_ENOSPACE;
    }
    h->n_msgs++;
    snprintf(h->last_msg, sizeof(h->last_msg), "%.*s", (int)m->len, (const char *)m->data);
    return 0;
}

static void hs_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    struct hs *h = ws->data;
    assert_false(h->closed);
    h->closed = true;
    h->info = *info;
    snprintf(h->message, sizeof(h->message), "%s", info->message);
    snprintf(h->reason, sizeof(h->reason), "%s", info->peer_reason);
}

static void guard_cb(uv_timer_t *t)
{
    (void)t; /* only makes UV_RUN_ONCE return regularly */
}

static struct hs *hs_new(void)
{
    struct hs *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    uv_timer_init(&h->loop, &h->guard);
    uv_timer_start(&h->guard, guard_cb, 5, 5);
    h->cbs = (struct fh_ws_cbs){.on_open = hs_open, .on_message = hs_message, .on_close = hs_close};
    fh_ws_config_default(&h->cfg);
    h->peer = -1;
    h->listen_fd = -1;
    return h;
}

static void hs_init_ws(struct hs *h)
{
    h->ws.data = h;
    assert_int_equal(fh_ws_init(&h->ws, &h->loop, &h->cfg, &h->cbs), 0);
}

/* Runs the loop until *flag is set (at most ~10 s). */
static void run_until(struct hs *h, const bool *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++)
        uv_run(&h->loop, UV_RUN_ONCE);
    assert_true(*flag);
}

static void hs_free(struct hs *h)
{
    if (!h->closed) {
        fh_ws_abort(&h->ws);
        run_until(h, &h->closed);
    }
    assert_int_equal(fh_ws_release(&h->ws, NULL), 0);
    uv_close((uv_handle_t *)&h->guard, NULL);
    if (h->peer >= 0)
        close(h->peer);
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    assert_int_equal(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    free(h);
}

/* Starts the client over a socketpair. */
static void hs_pair(struct hs *h, const char *url, const struct fh_ws_header *hdrs, size_t n)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    h->peer = sv[1];
    assert_int_equal(fcntl(h->peer, F_SETFL, O_NONBLOCK), 0);
    hs_init_ws(h);
    assert_int_equal(fh_ws_connect_fd(&h->ws, sv[0], url, hdrs, n), 0);
}

/* Runs the loop until the whole upgrade request has arrived at the peer; returns its key. */
static struct fh_str read_request(struct hs *h, struct fh_http_req *req)
{
    for (int i = 0; i < 2000; i++) {
        ssize_t r = recv(h->peer, h->req + h->req_len, sizeof(h->req) - h->req_len, 0);
        if (r > 0)
            h->req_len += (size_t)r;
        int rc = fh_http_parse_request(h->req, h->req_len, req);
        assert_true(rc >= 0);
        if (rc > 0) {
            struct fh_str key;
            /* The server-side checker of http1.h accepts our request. */
            assert_int_equal(fh_ws_check_upgrade(req, &key), 0);
            return key;
        }
        assert_false(h->closed);
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    fail_msg("no upgrade request");
    return (struct fh_str){0};
}

static void peer_send(struct hs *h, const void *p, size_t n)
{
    assert_int_equal(send(h->peer, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void answer_101(struct hs *h, struct fh_str key, const char *accept_override,
                       const char *extra)
{
    char acc[FH_WS_ACCEPT_LEN];
    assert_int_equal(fh_ws_accept_key(key, acc), 0);
    char resp[1024];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                     accept_override != NULL ? accept_override : acc, extra ? extra : "");
    peer_send(h, resp, (size_t)n);
}

static void expect_close(struct hs *h, enum fh_ws_close_reason reason, const char *words)
{
    run_until(h, &h->closed);
    if (h->info.reason != reason)
        fail_msg("reason %s, expected %s (%s)", fh_ws_close_reason_name(h->info.reason),
                 fh_ws_close_reason_name(reason), h->message);
    if (words != NULL && strstr(h->message, words) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", h->message, words);
    assert_int_equal(fh_ws_get_state(&h->ws), FH_WS_IDLE);
}

/* ---- the request and a good answer ---- */

static void test_request_and_open(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    static const struct fh_ws_header hdrs[] = {{"User-Agent", "feedhandler-test/1"},
                                               {"X-Extra", "a b\tc"}};
    hs_pair(h, "ws://Example.COM:8080/stream?streams=btcusdt@trade", hdrs, 2);
    struct fh_http_req req;
    struct fh_str key = read_request(h, &req);
    assert_true(fh_str_eq_c(req.method, "GET"));
    assert_true(fh_str_eq_c(req.target, "/stream?streams=btcusdt@trade"));
    assert_true(fh_str_eq_c(*fh_http_header(&req, "Host"), "Example.COM:8080"));
    assert_true(fh_str_eq_c(*fh_http_header(&req, "User-Agent"), "feedhandler-test/1"));
    assert_true(fh_str_eq_c(*fh_http_header(&req, "X-Extra"), "a b\tc"));
    assert_null(fh_http_header(&req, "Sec-WebSocket-Extensions"));
    assert_int_equal(key.n, 24);
    /* 101 and a first frame in the same segment: the frame is not lost. */
    answer_101(h, key, NULL, NULL);
    peer_send(h, "\x81\x05hello", 7);
    run_until(h, &h->opened);
    for (int i = 0; i < 100 && h->n_msgs == 0; i++)
        uv_run(&h->loop, UV_RUN_ONCE);
    assert_int_equal(h->n_msgs, 1);
    assert_string_equal(h->last_msg, "hello");
    assert_int_equal(h->ws.stats.connects, 1);
    /* The server closes: our echo goes out, the outcome is "peer". */
    peer_send(h,
              "\x88\x05\x03\xe8"
              "bye",
              7);
    uint8_t echo[16];
    ssize_t r = -1;
    for (int i = 0; i < 2000 && r <= 0; i++) {
        uv_run(&h->loop, UV_RUN_ONCE);
        r = recv(h->peer, echo, sizeof(echo), 0);
    }
    assert_int_equal(r, 2 + 4 + 2);
    shutdown(h->peer, SHUT_WR); /* the server ends the TCP connection after the handshake */
    expect_close(h, FH_WS_CLOSE_PEER, "code 1000");
    assert_int_equal(h->info.peer_code, 1000);
    assert_string_equal(h->reason, "bye");
    assert_int_equal(echo[0], 0x88);
    assert_int_equal(echo[1], 0x80 | 2);
    assert_int_equal(((echo[6] ^ echo[2]) << 8) | (echo[7] ^ echo[3]), 1000);
    hs_free(h);
}

static void test_default_port_and_ipv6_host(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    hs_pair(h, "ws://[::1]/x", NULL, 0);
    struct fh_http_req req;
    read_request(h, &req);
    assert_true(fh_str_eq_c(*fh_http_header(&req, "Host"), "[::1]"));
    hs_free(h);

    h = hs_new();
    hs_pair(h, "ws://h?q", NULL, 0);
    read_request(h, &req);
    assert_true(fh_str_eq_c(req.target, "/?q"));
    assert_true(fh_str_eq_c(*fh_http_header(&req, "Host"), "h"));
    hs_free(h);
}

static void test_bad_extra_headers(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    hs_init_ws(h);
    static const struct fh_ws_header crlf[] = {{"X", "a\r\nInjected: 1"}};
    static const struct fh_ws_header reserved[] = {{"sec-websocket-key", "x"}};
    static const struct fh_ws_header badname[] = {{"X Y", "1"}};
    assert_int_equal(fh_ws_connect(&h->ws, "ws://127.0.0.1:1/", NULL, crlf, 1), FH_EINVAL);
    assert_int_equal(fh_ws_connect(&h->ws, "ws://127.0.0.1:1/", NULL, reserved, 1), FH_EINVAL);
    assert_int_equal(fh_ws_connect(&h->ws, "ws://127.0.0.1:1/", NULL, badname, 1), FH_EINVAL);
    assert_int_equal(fh_ws_connect(&h->ws, "wss://127.0.0.1:1/", NULL, NULL, 0), FH_EINVAL);
    assert_int_equal(fh_ws_connect(&h->ws, "http://x/", NULL, NULL, 0), FH_EINVAL);
    assert_non_null(strstr(fh_ws_errmsg(&h->ws), "bad URL"));
    assert_int_equal(fh_ws_get_state(&h->ws), FH_WS_IDLE);
    h->closed = true; /* never connected: no on_close is due */
    hs_free(h);
}

/* ---- broken answers ---- */

static void bad_answer_case(const char *resp, enum fh_ws_close_reason reason, int status,
                            const char *words)
{
    struct hs *h = hs_new();
    hs_pair(h, "ws://localhost/", NULL, 0);
    struct fh_http_req req;
    read_request(h, &req);
    peer_send(h, resp, strlen(resp));
    expect_close(h, reason, words);
    assert_int_equal(h->info.http_status, status);
    assert_false(h->opened);
    assert_false(h->info.was_open);
    hs_free(h);
}

static void test_bad_answers(void **state)
{
    (void)state;
    bad_answer_case("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                    FH_WS_CLOSE_HANDSHAKE, 101, "does not match");
    bad_answer_case("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: x\r\n\r\n",
                    FH_WS_CLOSE_HANDSHAKE, 101, "missing Upgrade");
    bad_answer_case("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Sec-WebSocket-Accept: x\r\n\r\n",
                    FH_WS_CLOSE_HANDSHAKE, 101, "missing Connection");
    bad_answer_case("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n\r\n",
                    FH_WS_CLOSE_HANDSHAKE, 101, "missing Sec-WebSocket-Accept");
    bad_answer_case("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", FH_WS_CLOSE_HANDSHAKE,
                    403, "HTTP 403");
    bad_answer_case("HTTP/1.1 503 Service Unavailable\r\n\r\n", FH_WS_CLOSE_HANDSHAKE, 503,
                    "HTTP 503");
    bad_answer_case("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>",
                    FH_WS_CLOSE_HANDSHAKE, 200, "HTTP 200");
    bad_answer_case("SSH-2.0-OpenSSH_9.2\r\n", FH_WS_CLOSE_HANDSHAKE, 0, "not HTTP");
    bad_answer_case("HTTP/1.1 10x Nope\r\n\r\n", FH_WS_CLOSE_HANDSHAKE, 0, "status line");
    bad_answer_case("HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n", FH_WS_CLOSE_HANDSHAKE, 101,
                    "malformed header");
    bad_answer_case("HTTP/1.1 101 OK\nUpgrade: websocket\n\n\r\n\r\n", FH_WS_CLOSE_HANDSHAKE, 0,
                    "status line");
}

static void test_retry_after(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    hs_pair(h, "ws://localhost/", NULL, 0);
    struct fh_http_req req;
    read_request(h, &req);
    const char *resp = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\n\r\n";
    peer_send(h, resp, strlen(resp));
    expect_close(h, FH_WS_CLOSE_HANDSHAKE, "HTTP 429");
    assert_int_equal(h->info.http_status, 429);
    assert_int_equal(h->info.retry_after_s, 30);
    assert_int_equal(h->info.phase, FH_WS_UPGRADING);
    hs_free(h);
}

static void test_extension_and_protocol_refused(void **state)
{
    (void)state;
    const char *extra[] = {"Sec-WebSocket-Extensions: permessage-deflate\r\n",
                           "Sec-WebSocket-Protocol: chat\r\n"};
    const char *words[] = {"extension", "subprotocol"};
    for (int i = 0; i < 2; i++) {
        struct hs *h = hs_new();
        hs_pair(h, "ws://localhost/", NULL, 0);
        struct fh_http_req req;
        struct fh_str key = read_request(h, &req);
        answer_101(h, key, NULL, extra[i]);
        expect_close(h, FH_WS_CLOSE_HANDSHAKE, words[i]);
        hs_free(h);
    }
}

static void test_oversize_head(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    h->cfg.max_response_head = 1024;
    hs_pair(h, "ws://localhost/", NULL, 0);
    struct fh_http_req req;
    read_request(h, &req);
    char resp[4096];
    int n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\nX-Pad: ");
    memset(resp + n, 'p', 2000);
    peer_send(h, resp, (size_t)n + 2000);
    expect_close(h, FH_WS_CLOSE_HANDSHAKE, "larger than 1024 bytes");
    assert_int_equal(h->info.http_status, 101);
    hs_free(h);
}

static void test_split_answer(void **state)
{
    (void)state;
    /* The answer arrives one byte at a time (and the CRLFCRLF straddles reads). */
    struct hs *h = hs_new();
    hs_pair(h, "ws://localhost/", NULL, 0);
    struct fh_http_req req;
    struct fh_str key = read_request(h, &req);
    char acc[FH_WS_ACCEPT_LEN];
    assert_int_equal(fh_ws_accept_key(key, acc), 0);
    char resp[512];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                     "sec-websocket-accept:%s  \r\n\r\n",
                     acc);
    for (int i = 0; i < n; i++) {
        peer_send(h, resp + i, 1);
        uv_run(&h->loop, UV_RUN_NOWAIT);
    }
    run_until(h, &h->opened);
    hs_free(h);
}

/* ---- timeouts, EOF, reset ---- */

static void test_silent_server_times_out(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    h->cfg.handshake_timeout_ms = 50;
    hs_pair(h, "ws://localhost/", NULL, 0);
    struct fh_http_req req;
    read_request(h, &req);
    expect_close(h, FH_WS_CLOSE_TIMEOUT, "no answer within 50 ms");
    assert_int_equal(h->info.phase, FH_WS_UPGRADING);
    hs_free(h);
}

static void test_close_before_answer(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    hs_pair(h, "ws://localhost/", NULL, 0);
    struct fh_http_req req;
    read_request(h, &req);
    shutdown(h->peer, SHUT_WR);
    expect_close(h, FH_WS_CLOSE_HANDSHAKE, "without an answer");
    hs_free(h);
}

static void open_pair(struct hs *h)
{
    hs_pair(h, "ws://localhost/", NULL, 0);
    struct fh_http_req req;
    struct fh_str key = read_request(h, &req);
    answer_101(h, key, NULL, NULL);
    run_until(h, &h->opened);
}

static void test_eof_after_open(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    open_pair(h);
    peer_send(h, "\x81\x02hi", 4);
    shutdown(h->peer, SHUT_WR);
    expect_close(h, FH_WS_CLOSE_EOF, "without a close frame");
    assert_int_equal(h->n_msgs, 1);
    assert_true(h->info.was_open);
    assert_int_equal(h->info.phase, FH_WS_OPEN);
    hs_free(h);
}

/* Backpressure over a socket: messages that arrived in the same read as a refused one are
 * delivered after fh_ws_resume without waiting for more bytes from the server (the frame
 * parser had already taken them out of the read buffer; found by fuzz_ws_frame). */
static void test_resume_delivers_what_was_read(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    open_pair(h);
    h->refuse = 1;
    peer_send(h, "\x81\x03one\x81\x03two\x89\x00", 12);
    for (int i = 0; i < 2000 && !fh_ws_is_paused(&h->ws); i++)
        uv_run(&h->loop, UV_RUN_ONCE);
    assert_true(fh_ws_is_paused(&h->ws));
    assert_int_equal(h->n_msgs, 0);
    fh_ws_resume(&h->ws);
    for (int i = 0; i < 20 && h->n_msgs < 2; i++)
        uv_run(&h->loop, UV_RUN_ONCE);
    assert_int_equal(h->n_msgs, 2);
    assert_string_equal(h->last_msg, "two");
    assert_int_equal(h->ws.stats.pings_in, 1);
    assert_false(h->closed);
    hs_free(h);
}

static void test_reset_after_open(void **state)
{
    (void)state;
    /* A TCP reset needs TCP: loopback with SO_LINGER 0 on the server side. */
    struct hs *h = hs_new();
    uint16_t port;
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 4, &h->listen_fd, &port), 0);
    hs_init_ws(h);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", port);
    assert_int_equal(fh_ws_connect(&h->ws, url, NULL, NULL, 0), 0);
    for (int i = 0; i < 2000 && h->peer < 0; i++) {
        uv_run(&h->loop, UV_RUN_ONCE);
        int fd;
        if (fh_accept_tcp(h->listen_fd, &fd) == 0)
            h->peer = fd;
    }
    assert_true(h->peer >= 0);
    struct fh_http_req req;
    struct fh_str key = read_request(h, &req);
    answer_101(h, key, NULL, NULL);
    run_until(h, &h->opened);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(h->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(h->peer);
    h->peer = -1;
    expect_close(h, FH_WS_CLOSE_RESET, "reset");
    assert_int_equal(h->info.err, -ECONNRESET);
    hs_free(h);
}

static void test_local_close_unanswered(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    h->cfg.close_timeout_ms = 50;
    open_pair(h);
    fh_ws_close(&h->ws, 1001, "going away");
    expect_close(h, FH_WS_CLOSE_LOCAL, "closed by us");
    assert_int_equal(h->info.sent_code, 1001);
    assert_int_equal(h->info.peer_code, 0);
    uint8_t buf[64];
    ssize_t r = recv(h->peer, buf, sizeof(buf), 0);
    assert_int_equal(r, 2 + 4 + 2 + 10);
    assert_int_equal(buf[0], 0x88);
    hs_free(h);
}

/* ---- connecting ---- */

static void test_connect_refused(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    int fd;
    uint16_t port;
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 1, &fd, &port), 0);
    close(fd); /* nothing listens there now */
    hs_init_ws(h);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", port);
    assert_int_equal(fh_ws_connect(&h->ws, url, NULL, NULL, 0), 0);
    assert_false(h->closed); /* reported from the loop */
    expect_close(h, FH_WS_CLOSE_CONNECT, "refused");
    assert_int_equal(h->info.err, -ECONNREFUSED);
    assert_int_equal(h->info.phase, FH_WS_CONNECTING);
    hs_free(h);
}

static void test_dns_and_open(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    uint16_t port;
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 4, &h->listen_fd, &port), 0);
    h->cfg.close_timeout_ms = 100;
    hs_init_ws(h);
    char url[64];
    snprintf(url, sizeof(url), "ws://localhost:%u/feed", port);
    assert_int_equal(fh_ws_connect(&h->ws, url, NULL, NULL, 0), 0);
    assert_int_equal(fh_ws_get_state(&h->ws), FH_WS_RESOLVING);
    for (int i = 0; i < 2000 && h->peer < 0; i++) {
        uv_run(&h->loop, UV_RUN_ONCE);
        int fd;
        if (fh_accept_tcp(h->listen_fd, &fd) == 0)
            h->peer = fd;
    }
    assert_true(h->peer >= 0);
    struct fh_http_req req;
    struct fh_str key = read_request(h, &req);
    assert_true(fh_str_eq_c(req.target, "/feed"));
    answer_101(h, key, NULL, NULL);
    run_until(h, &h->opened);
    fh_ws_close(&h->ws, 1000, NULL);
    expect_close(h, FH_WS_CLOSE_LOCAL, NULL);
    hs_free(h);
}

static void test_dns_failure(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    hs_init_ws(h);
    assert_int_equal(fh_ws_connect(&h->ws, "ws://no-such-host.invalid/", NULL, NULL, 0), 0);
    run_until(h, &h->closed);
    /* RFC 6761: .invalid never resolves. A resolver that does not answer in time gives the
     * timeout of the resolving phase instead; both name the phase. */
    if (h->info.reason == FH_WS_CLOSE_DNS) {
        assert_non_null(strstr(h->message, "cannot resolve no-such-host.invalid"));
    } else {
        assert_int_equal(h->info.reason, FH_WS_CLOSE_TIMEOUT);
        assert_int_equal(h->info.phase, FH_WS_RESOLVING);
    }
    hs_free(h);
}

static void test_connect_timeout(void **state)
{
    (void)state;
    /* A listener whose accept queue is full drops further SYNs: connect() hangs. */
    struct hs *h = hs_new();
    uint16_t port;
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 0, &h->listen_fd, &port), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    usleep(50000);
    h->cfg.connect_timeout_ms = 100;
    hs_init_ws(h);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", port);
    assert_int_equal(fh_ws_connect(&h->ws, url, NULL, NULL, 0), 0);
    /* Linux drops a SYN when the accept queue is full (unless tcp_abort_on_overflow). */
    expect_close(h, FH_WS_CLOSE_TIMEOUT, "timed out after 100 ms");
    assert_int_equal(h->info.phase, FH_WS_CONNECTING);
    assert_int_equal(h->info.err, -ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    hs_free(h);
}

static void test_close_while_connecting(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    hs_init_ws(h);
    assert_int_equal(fh_ws_connect(&h->ws, "ws://localhost:9/", NULL, NULL, 0), 0);
    fh_ws_close(&h->ws, 1000, NULL);
    assert_false(h->closed);
    expect_close(h, FH_WS_CLOSE_LOCAL, "closed by us while resolving");
    /* The slot can connect again at once. */
    h->closed = false;
    assert_int_equal(fh_ws_connect(&h->ws, "ws://127.0.0.1:9/", NULL, NULL, 0), 0);
    fh_ws_abort(&h->ws);
    expect_close(h, FH_WS_CLOSE_LOCAL, "aborted by us");
    hs_free(h);
}

/* Addresses are tried in order: a refused one, then one whose connect hangs (the per-address
 * timer moves on), then one that answers. */
static void test_next_address(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    struct sockaddr_storage addrs[3];
    socklen_t lens[3];
    uint16_t ports[3];
    int fd;
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 1, &fd, &ports[0]), 0);
    close(fd); /* refused */
    int blackhole;
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 0, &blackhole, &ports[1]), 0);
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 4, &h->listen_fd, &ports[2]), 0);
    int fillers[4];
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in *sa = (struct sockaddr_in *)&addrs[i];
        memset(&addrs[i], 0, sizeof(addrs[i]));
        sa->sin_family = AF_INET;
        sa->sin_port = htons(ports[i]);
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        lens[i] = sizeof(*sa);
    }
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fillers[i], (struct sockaddr *)&addrs[1], lens[1]);
    }
    usleep(50000);
    h->cfg.connect_timeout_ms = 150;
    hs_init_ws(h);
    assert_int_equal(fh__ws_connect_addrs(&h->ws, "ws://example.com/", NULL, addrs, lens, 3), 0);
    for (int i = 0; i < 2000 && h->peer < 0 && !h->closed; i++) {
        uv_run(&h->loop, UV_RUN_ONCE);
        if (fh_accept_tcp(h->listen_fd, &fd) == 0)
            h->peer = fd;
    }
    assert_false(h->closed);
    assert_true(h->peer >= 0);
    /* The last failure (the hung connect) is still described in errmsg. */
    if (strstr(fh_ws_errmsg(&h->ws), "timed out after 150 ms") == NULL)
        fail_msg("errmsg: %s", fh_ws_errmsg(&h->ws));
    struct fh_http_req req;
    struct fh_str key = read_request(h, &req);
    answer_101(h, key, NULL, NULL);
    run_until(h, &h->opened);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(blackhole);
    hs_free(h);

    /* Every address refused: the last error is reported. */
    h = hs_new();
    hs_init_ws(h);
    assert_int_equal(fh__ws_connect_addrs(&h->ws, "ws://example.com/", NULL, addrs, lens, 1), 0);
    expect_close(h, FH_WS_CLOSE_CONNECT, "refused");
    hs_free(h);
}

/* ---- reconnect from inside on_close ---- */

struct again {
    struct hs *h;
    int rounds;
    char url[64];
};

static void again_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    struct again *a = ws->data;
    assert_int_equal(info->reason, FH_WS_CLOSE_CONNECT);
    if (++a->rounds < 5)
        assert_int_equal(fh_ws_connect(ws, a->url, NULL, NULL, 0), 0);
    else
        a->h->closed = true;
}

static void test_reconnect_from_on_close(void **state)
{
    (void)state;
    struct hs *h = hs_new();
    struct again a = {.h = h};
    int fd;
    uint16_t port;
    assert_int_equal(fh_listen_tcp("127.0.0.1", 0, 1, &fd, &port), 0);
    close(fd);
    snprintf(a.url, sizeof(a.url), "ws://127.0.0.1:%u/", port);
    h->cbs.on_close = again_close;
    h->ws.data = &a;
    assert_int_equal(fh_ws_init(&h->ws, &h->loop, &h->cfg, &h->cbs), 0);
    assert_int_equal(fh_ws_connect(&h->ws, a.url, NULL, NULL, 0), 0);
    run_until(h, &h->closed);
    assert_int_equal(a.rounds, 5);
    hs_free(h);
}

/* ---- TLS contexts ---- */

static void test_tls_ctx(void **state)
{
    (void)state;
    char err[256] = "";
    SSL_CTX *ctx = NULL;
    struct fh_tls_config tc = {.ca_file = "/nonexistent/ca.pem", .verify = true};
    assert_int_equal(fh_tls_client_ctx_new(&tc, &ctx, err, sizeof(err)), FH_ECONFIG);
    assert_null(ctx);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));

    char *dir = fh_test_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/empty.pem", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    tc.ca_file = path;
    assert_int_equal(fh_tls_client_ctx_new(&tc, &ctx, err, sizeof(err)), FH_ECONFIG);
    if (strstr(err, "holds no certificate") == NULL && strstr(err, "cannot load") == NULL)
        fail_msg("unexpected error: %s", err);
    assert_non_null(strstr(err, path));
    /* An empty file loads "successfully" in OpenSSL; it must still be refused. */
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    err[0] = '\0';
    assert_int_equal(fh_tls_client_ctx_new(&tc, &ctx, err, sizeof(err)), FH_ECONFIG);
    print_message("empty CA file: %s\n", err);
    assert_non_null(strstr(err, path));

    /* The system store, verification on: no warning. verify = false: one warning. */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fh_log_set_fd(pfd[1]);
    tc.ca_file = NULL;
    assert_int_equal(fh_tls_client_ctx_new(&tc, &ctx, err, sizeof(err)), 0);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    /* Reads ahead (fewer read() calls per record under load; test_stream covers delivery). */
    assert_int_equal(SSL_CTX_get_read_ahead(ctx), 1);
    SSL_CTX_free(ctx);
    tc.verify = false;
    assert_int_equal(fh_tls_client_ctx_new(&tc, &ctx, err, sizeof(err)), 0);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
    SSL_CTX_free(ctx);
    fh_log_set_fd(2);
    close(pfd[1]);
    char logbuf[2048] = "";
    ssize_t r = read(pfd[0], logbuf, sizeof(logbuf) - 1);
    close(pfd[0]);
    assert_true(r > 0);
    assert_non_null(strstr(logbuf, "level=warn"));
    assert_non_null(strstr(logbuf, "verification is disabled"));
    assert_non_null(strstr(logbuf, "tls.verify"));
    assert_null(strstr(strstr(logbuf, "level=warn") + 1, "level=warn")); /* exactly one */
    unlink(path);
    rmdir(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_and_open),
        cmocka_unit_test(test_default_port_and_ipv6_host),
        cmocka_unit_test(test_bad_extra_headers),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_extension_and_protocol_refused),
        cmocka_unit_test(test_oversize_head),
        cmocka_unit_test(test_split_answer),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_close_before_answer),
        cmocka_unit_test(test_eof_after_open),
        cmocka_unit_test(test_resume_delivers_what_was_read),
        cmocka_unit_test(test_reset_after_open),
        cmocka_unit_test(test_local_close_unanswered),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_dns_and_open),
        cmocka_unit_test(test_dns_failure),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_close_while_connecting),
        cmocka_unit_test(test_next_address),
        cmocka_unit_test(test_reconnect_from_on_close),
        cmocka_unit_test(test_tls_ctx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
