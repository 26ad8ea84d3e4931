/*
 * test_ws_alloc.c - the WebSocket client allocates nothing per frame or per message once
 * warmed up (src/net/ws.c, the design's "no heap allocation per message" rule).
 *
 * This executable replaces malloc/calloc/realloc (forwarding to glibc's __libc_* functions)
 * and counts calls while a connected client (socketpair, real stream and loop) receives
 * thousands of frames: single and fragmented text messages, large binary messages that
 * cross the parser's window, pings it must answer, and while it sends messages. After a
 * warm-up round the count must stay at zero. Under AddressSanitizer or ThreadSanitizer, which
 * own malloc, the same traffic runs (for leaks, memory errors and races) without the count.
 */
#include "testutil.h"

#include "core/err.h"
#include "net/http1.h"
#include "net/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

/* AddressSanitizer and ThreadSanitizer own malloc: the counting wrappers are left out. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HAVE_SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HAVE_SANITIZER_MALLOC 1
#endif
#endif

static volatile int counting;
static volatile long n_allocs;

#ifndef HAVE_SANITIZER_MALLOC
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
    if (counting)
        n_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (counting)
        n_allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    if (counting)
        n_allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}
#endif

struct ctx {
    uv_loop_t loop;
    uv_timer_t guard;
    struct fh_ws ws;
    int peer;
    bool opened, closed;
    uint64_t msgs, bytes;
};

static int on_message(struct fh_ws *ws, const struct fh_ws_msg *m)
{
    struct ctx *c = ws->data;
    c->msgs++;
    c->bytes += m->len;
    return 0;
}

static void on_open(struct fh_ws *ws)
{
    ((struct ctx *)ws->data)->opened = true;
}

static void on_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    (void)info;
    ((struct ctx *)ws->data)->closed = true;
}

static void guard_cb(uv_timer_t *t)
{
    (void)t;
}

static size_t put_frame(uint8_t *out, int fin, int op, const void *p, size_t n)
{
    size_t k = 0;
    out[k++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        out[k++] = (uint8_t)n;
    } else if (n < 65536) {
        out[k++] = 126;
        out[k++] = (uint8_t)(n >> 8);
        out[k++] = (uint8_t)n;
    } else {
        out[k++] = 127;
        for (int i = 7; i >= 0; i--)
            out[k++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memcpy(out + k, p, n);
    return k + n;
}

/* Sends all of p while running the loop, and drains what the client writes back. */
static void push(struct ctx *c, const uint8_t *p, size_t n)
{
    uint8_t sink[65536];
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(c->peer, p + off, n - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else
            assert_int_equal(errno, EAGAIN);
        uv_run(&c->loop, UV_RUN_NOWAIT);
        while (recv(c->peer, sink, sizeof(sink), 0) > 0) {
        }
    }
}

static void wait_msgs(struct ctx *c, uint64_t want)
{
    uint8_t sink[65536];
    for (int i = 0; i < 5000 && c->msgs < want && !c->closed; i++) {
        uv_run(&c->loop, UV_RUN_ONCE);
        while (recv(c->peer, sink, sizeof(sink), 0) > 0) {
        }
    }
    assert_false(c->closed);
    assert_int_equal(c->msgs, want);
}

static void test_no_allocation_per_frame(void **state)
{
    (void)state;
    static struct ctx c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(uv_loop_init(&c.loop), 0);
    uv_timer_init(&c.loop, &c.guard);
    uv_timer_start(&c.guard, guard_cb, 5, 5);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c.peer = sv[1];
    assert_int_equal(fcntl(c.peer, F_SETFL, O_NONBLOCK), 0);
    static const struct fh_ws_cbs cbs = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    c.ws.data = &c;
    assert_int_equal(fh_ws_init(&c.ws, &c.loop, NULL, &cbs), 0);
    assert_int_equal(fh_ws_connect_fd(&c.ws, sv[0], "ws://localhost/", NULL, 0), 0);

    /* Handshake. */
    char req[4096];
    size_t rn = 0;
    struct fh_http_req hr;
    for (int i = 0; i < 2000; i++) {
        uv_run(&c.loop, UV_RUN_ONCE);
        ssize_t r = recv(c.peer, req + rn, sizeof(req) - rn, 0);
        if (r > 0)
            rn += (size_t)r;
        if (fh_http_parse_request(req, rn, &hr) > 0)
            break;
    }
    struct fh_str key;
    char acc[FH_WS_ACCEPT_LEN];
    assert_int_equal(fh_ws_check_upgrade(&hr, &key), 0);
    assert_int_equal(fh_ws_accept_key(key, acc), 0);
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     acc);
    push(&c, (const uint8_t *)resp, (size_t)n);
    for (int i = 0; i < 2000 && !c.opened; i++)
        uv_run(&c.loop, UV_RUN_ONCE);
    assert_true(c.opened);

    /* One round: 1000 small text messages, fragmented ones, pings, two 100 KB binaries. */
    static const char trade[] = "{\"e\":\"trade\",\"s\":\"BTCUSDT\",\"t\":4123456789,\"p\":"
                                "\"95123.45000000\",\"q\":\"0.00123000\",\"m\":true}";
    static uint8_t big[100000];
    memset(big, 0xab, sizeof(big));
    size_t cap = 1000 * (sizeof(trade) + 4) + 50 * (sizeof(trade) + 20) + 2 * (sizeof(big) + 16);
    uint8_t *round = malloc(cap);
    assert_non_null(round);
    size_t len = 0;
    uint64_t per_round = 0;
    for (int i = 0; i < 1000; i++) {
        len += put_frame(round + len, 1, 0x1, trade, sizeof(trade) - 1);
        per_round++;
        if (i % 20 == 0) {
            len += put_frame(round + len, 0, 0x1, trade, 10);
            len += put_frame(round + len, 1, 0x9, "hb", 2);
            len += put_frame(round + len, 1, 0x0, trade + 10, sizeof(trade) - 11);
            per_round++;
        }
        if (i == 500 || i == 999) {
            len += put_frame(round + len, 1, 0x2, big, sizeof(big));
            per_round++;
        }
    }
    assert_true(len <= cap);

    /* The counter sees allocations made inside shared libraries too (wslay, libuv,
     * OpenSSL call malloc through the same symbol), so a zero below means something. */
    counting = 1;
    wslay_frame_context_ptr probe;
    struct wslay_frame_callbacks wcb = {0};
    assert_int_equal(wslay_frame_context_init(&probe, &wcb, NULL), 0);
    counting = 0;
#ifndef HAVE_SANITIZER_MALLOC
    assert_true(n_allocs >= 1);
#endif
    wslay_frame_context_free(probe);
    n_allocs = 0;

    /* Warm-up: buffers reach their working size. */
    push(&c, round, len);
    wait_msgs(&c, per_round);
    assert_int_equal(fh_ws_send_text(&c.ws, trade, sizeof(trade) - 1), 0);

    counting = 1;
    for (int r = 0; r < 20; r++) {
        push(&c, round, len);
        wait_msgs(&c, per_round * (uint64_t)(r + 2));
        assert_int_equal(fh_ws_send_text(&c.ws, trade, sizeof(trade) - 1), 0);
        assert_int_equal(fh_ws_ping(&c.ws, "p", 1), 0);
    }
    counting = 0;
    long allocs = n_allocs;
    assert_true(c.ws.stats.pongs_out >= 21 * 50);
#ifndef HAVE_SANITIZER_MALLOC
    print_message("%llu messages, %llu pings answered, %ld allocations after warm-up\n",
                  (unsigned long long)c.msgs, (unsigned long long)c.ws.stats.pongs_out, allocs);
    assert_int_equal(allocs, 0);
#else
    (void)allocs; /* a sanitizer owns malloc: the flow ran, the count is not available */
#endif

    free(round);
    fh_ws_abort(&c.ws);
    for (int i = 0; i < 2000 && !c.closed; i++)
        uv_run(&c.loop, UV_RUN_ONCE);
    assert_true(c.closed);
    assert_int_equal(fh_ws_release(&c.ws, NULL), 0);
    uv_close((uv_handle_t *)&c.guard, NULL);
    close(c.peer);
    assert_int_equal(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&c.loop), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_per_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
