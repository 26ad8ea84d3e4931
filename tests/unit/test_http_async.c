/*
 * test_http_async.c - the non-blocking HTTP client on a libuv loop (src/net/http_async.c).
 *
 * Every case talks to a real HTTP/1.1 server over loopback: the server thread of
 * http_test_server.h, whose paths each have one behaviour (/ok, /throttle, /size/N, /hold,
 * /hang, /short) and which counts connections accepted and closed and requests read, so the
 * tests see what the client did on the wire (concurrency, reuse, connections closed by cancel
 * and close). TLS cases are in test_http_async_tls.c.
 * No test asserts a duration; timeouts are only given generous values so that a broken client
 * fails instead of hanging.
 */
#include "testutil.h"

#include "core/err.h"
#include "net/http_async.h"
#include "http_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the client side ----------------------------------------------------------------------- */

/* What one completion callback saw, copied during the callback. */
struct rec {
    int calls;
    uint64_t id;
    enum fh_http_async_outcome outcome;
    long status;
    char body[20000];
    size_t body_len;
    bool has[FH_HTTP_ASYNC_MAX_CAPTURE];
    char hdr[FH_HTTP_ASYNC_MAX_CAPTURE][FH_HTTP_ASYNC_HEADER_VAL_MAX + 1];
    char error[300];
    bool new_connection;
    int64_t elapsed_ns;
};

struct fx {
    uv_loop_t loop;
    uv_timer_t guard, tick;
    bool guard_fired;
    struct fh_hts srv;
    struct fh_http_async *c;
    int closed_calls;
    struct rec rec[8];
    int done;
    char url[128];
    /* chained requests (reuse test) */
    int chain_left;
    struct fx_chain {
        bool new_connection;
        char body[16];
    } chain[4];
};

static const char *const capture_names[] = {"Retry-After", "X-MBX-USED-WEIGHT-1M", "X-Echo",
                                            "X-Absent"};

static void on_guard(uv_timer_t *t)
{
    struct fx *f = t->data;
    f->guard_fired = true;
}

static void on_tick(uv_timer_t *t)
{
    (void)t; /* only wakes the loop so that run_until sees the server's progress */
}

static void record(struct rec *r, const struct fh_http_async_result *res)
{
    r->calls++;
    r->id = res->id;
    r->outcome = res->outcome;
    r->status = res->status;
    assert_true(res->body_len < sizeof(r->body));
    assert_int_equal(res->body[res->body_len], '\0');
    memcpy(r->body, res->body, res->body_len + 1);
    r->body_len = res->body_len;
    for (int i = 0; i < FH_HTTP_ASYNC_MAX_CAPTURE; i++) {
        r->has[i] = res->header[i] != NULL;
        if (r->has[i])
            snprintf(r->hdr[i], sizeof(r->hdr[i]), "%s", res->header[i]);
    }
    snprintf(r->error, sizeof(r->error), "%s", res->error);
    r->new_connection = res->new_connection;
    r->elapsed_ns = res->elapsed_ns;
}

static struct fx *g_fx; /* the fixture of the running test, for callbacks */

/* Records into the struct rec given as user and counts the completion. */
static void on_done_count(struct fh_http_async *c, const struct fh_http_async_result *res,
                          void *user)
{
    (void)c;
    record(user, res);
    g_fx->done++;
}

static void make_client(struct fx *f, size_t slots, size_t max_body)
{
    struct fh_http_async_config cfg = {.max_requests = slots,
                                       .max_body = max_body,
                                       /* longer than the guard: a request's own
                                        * timeouts must be the ones that act */
                                       .timeout_ms = 120000,
                                       .connect_timeout_ms = 120000,
                                       .capture = capture_names,
                                       .n_capture = 4};
    char err[256] = "";
    assert_int_equal(fh_http_async_new(&f->loop, &cfg, &f->c, err, sizeof(err)), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    g_fx = f;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->guard);
    uv_timer_init(&f->loop, &f->tick);
    f->guard.data = f;
    /* Not a timing assertion: only turns a hang into a failure. */
    uv_timer_start(&f->guard, on_guard, 60000, 0);
    fh_hts_start(&f->srv, NULL, 1);
    make_client(f, 4, 16384);
    *state = f;
    return 0;
}

static void on_closed(void *user)
{
    struct fx *f = user;
    f->closed_calls++;
}

/* Closes the client (if the test did not) and checks that the loop then ends by itself. */
static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->c != NULL)
        fh_http_async_close(f->c, on_closed, f);
    /* Only the test's own two timers are left to close: if the client left a handle open,
     * uv_run would not return 0 here (or hang until ctest's timeout) and uv_loop_close fails. */
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->tick, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->closed_calls, 1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    fh_hts_stop(&f->srv);
    free(f);
    g_fx = NULL;
    return 0;
}

static const char *url(struct fx *f, const char *path)
{
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u%s", f->srv.port, path);
    return f->url;
}

static uint64_t get(struct fx *f, const char *path, struct rec *r)
{
    struct fh_http_async_req rq = {.url = url(f, path)};
    uint64_t id = 0;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, r, &id), 0);
    assert_true(id != 0);
    return id;
}

/* Runs the loop until n callbacks were counted; run_until_server: until the server's
 * counter reaches want (a 2 ms tick wakes the loop meanwhile). */
static void run_until_done(struct fx *f, int n)
{
    while (f->done < n && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_false(f->guard_fired);
}

static void run_until_server(struct fx *f, atomic_int *ctr, int want)
{
    uv_timer_start(&f->tick, on_tick, 2, 2);
    while (atomic_load(ctr) < want && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->tick);
    assert_false(f->guard_fired);
}

/* ---- tests --------------------------------------------------------------------------------- */

/* A 200 answer: body, status, the captured headers (matched case-insensitively, absent ones
 * NULL), the request's extra header reached the server, the counters. */
static void test_get_ok_with_headers(void **state)
{
    struct fx *f = *state;
    struct fh_http_async_req rq = {
        .url = url(f, "/ok"), .headers = (const char *const[]){"X-Test: abc"}, .n_headers = 1};
    uint64_t id = 0;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), 0);
    assert_int_equal(fh_http_async_in_flight(f->c), 1);
    assert_int_equal(f->rec[0].calls, 0); /* never from inside the submit */
    run_until_done(f, 1);
    struct rec *r = &f->rec[0];
    assert_int_equal(r->calls, 1);
    assert_true(r->id == id);
    assert_int_equal(r->outcome, FH_HTTP_ASYNC_OK);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 5);
    assert_string_equal(r->body, "hello");
    assert_true(r->has[0]);
    assert_string_equal(r->hdr[0], "7");
    assert_true(r->has[1]);
    assert_string_equal(r->hdr[1], "42");
    assert_true(r->has[2]);
    assert_string_equal(r->hdr[2], "abc");
    assert_false(r->has[3]);
    assert_string_equal(r->error, "");
    assert_true(r->new_connection);
    assert_true(r->elapsed_ns > 0);
    assert_int_equal(fh_http_async_in_flight(f->c), 0);
    const struct fh_http_async_stats *st = fh_http_async_stats(f->c);
    assert_int_equal(st->requests, 1);
    assert_int_equal(st->answered, 1);
    assert_int_equal(st->body_bytes, 5);
    assert_int_equal(st->connections, 1);
}

/* A 429 is an answer (the caller honours Retry-After), counted as a 4xx. */
static void test_status_429_is_an_answer(void **state)
{
    struct fx *f = *state;
    get(f, "/throttle", &f->rec[0]);
    run_until_done(f, 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_OK);
    assert_int_equal(f->rec[0].status, 429);
    assert_string_equal(f->rec[0].hdr[0], "3");
    assert_false(f->rec[0].has[1]);
    assert_string_equal(f->rec[0].body, "slow down");
    assert_int_equal(fh_http_async_stats(f->c)->answered_4xx, 1);
}

/* All four slots in flight at once (the server holds every /hold until it holds four), a
 * fifth submission is refused with FH_ENOSPACE, and the slots are free again afterwards. */
static void test_concurrency_and_busy(void **state)
{
    struct fx *f = *state;
    f->srv.hold_target = 4; /* atomic: read by the server thread */
    for (int i = 0; i < 4; i++)
        get(f, "/hold", &f->rec[i]);
    struct fh_http_async_req rq = {.url = url(f, "/ok")};
    uint64_t id = 0;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[4], &id), FH_ENOSPACE);
    assert_int_equal(fh_http_async_stats(f->c)->busy, 1);
    assert_int_equal(fh_http_async_in_flight(f->c), 4);
    run_until_done(f, 4);
    assert_int_equal(atomic_load(&f->srv.held_max), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(f->rec[i].outcome, FH_HTTP_ASYNC_OK);
        assert_int_equal(f->rec[i].status, 200);
        assert_string_equal(f->rec[i].body, "held");
    }
    assert_int_equal(f->rec[4].calls, 0);
    assert_int_equal(atomic_load(&f->srv.accepted), 4);
    get(f, "/ok", &f->rec[4]);
    run_until_done(f, 5);
    assert_int_equal(f->rec[4].status, 200);
}

/* A body of exactly max_body bytes is delivered whole; one byte more fails the request. */
static void test_body_limit(void **state)
{
    struct fx *f = *state;
    get(f, "/size/16384", &f->rec[0]);
    run_until_done(f, 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_OK);
    assert_int_equal(f->rec[0].body_len, 16384);
    for (size_t i = 0; i < 16384; i++)
        if (f->rec[0].body[i] != fh_hts_pattern_at(i))
            fail_msg("body byte %zu differs", i);
    get(f, "/size/16385", &f->rec[1]);
    run_until_done(f, 2);
    assert_int_equal(f->rec[1].outcome, FH_HTTP_ASYNC_TOO_LARGE);
    assert_int_equal(f->rec[1].status, 0);
    assert_int_equal(f->rec[1].body_len, 0);
    assert_string_equal(f->rec[1].error, "reply body larger than 16384 bytes");
    assert_int_equal(fh_http_async_stats(f->c)->failed[FH_HTTP_ASYNC_TOO_LARGE], 1);
}

/* A server that never answers: the request's own timeout ends it. */
static void test_timeout(void **state)
{
    struct fx *f = *state;
    struct fh_http_async_req rq = {.url = url(f, "/hang"), .timeout_ms = 200};
    uint64_t id;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), 0);
    run_until_done(f, 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_TIMEOUT);
    assert_int_equal(f->rec[0].status, 0);
    assert_true(strstr(f->rec[0].error, "timed out") != NULL);
    assert_int_equal(fh_http_async_stats(f->c)->failed[FH_HTTP_ASYNC_TIMEOUT], 1);
}

/* Nothing listens on the port: a connect failure with libcurl's text. */
static void test_connection_refused(void **state)
{
    struct fx *f = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s); /* bound, never listened: the port refuses */
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/ok", ntohs(a.sin_port));
    struct fh_http_async_req rq = {.url = u};
    uint64_t id;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), 0);
    run_until_done(f, 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_CONNECT);
    assert_true(f->rec[0].error[0] != '\0');
    assert_int_equal(fh_http_async_stats(f->c)->failed[FH_HTTP_ASYNC_CONNECT], 1);
}

/* A listener whose accept queue is full (backlog 0, one connection queued, never accepted):
 * further SYNs go unanswered, so the request's own connect timeout must end it. The client's
 * defaults are longer than the test's guard timer, so ignoring the request's value fails. */
static void test_connect_timeout(void **state)
{
    struct fx *f = *state;
    fh_http_async_close(f->c, NULL, NULL);
    struct fh_http_async_config cfg = {
        .max_requests = 1, .max_body = 64, .timeout_ms = 120000, .connect_timeout_ms = 120000};
    char err[256];
    assert_int_equal(fh_http_async_new(&f->loop, &cfg, &f->c, err, sizeof(err)), 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 0), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/ok", ntohs(a.sin_port));
    struct fh_http_async_req rq = {.url = u, .connect_timeout_ms = 200};
    uint64_t id;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), 0);
    run_until_done(f, 1);
    close(filler);
    close(l);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_TIMEOUT);
    if (strstr(f->rec[0].error, "onnect") == NULL)
        fail_msg("not a connect timeout: %s", f->rec[0].error);
}

/* The peer closes before the announced body is complete. */
static void test_truncated_answer(void **state)
{
    struct fx *f = *state;
    get(f, "/short", &f->rec[0]);
    run_until_done(f, 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_TRANSFER);
    assert_int_equal(f->rec[0].body_len, 0);
    assert_true(f->rec[0].error[0] != '\0');
}

/* https:// to a plain HTTP server: the handshake fails and is reported as TLS. */
static void test_tls_failure_is_classified(void **state)
{
    struct fx *f = *state;
    char u[64];
    snprintf(u, sizeof(u), "https://127.0.0.1:%u/ok", f->srv.port);
    struct fh_http_async_req rq = {.url = u};
    uint64_t id;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), 0);
    run_until_done(f, 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_TLS);
    assert_int_equal(fh_http_async_stats(f->c)->failed[FH_HTTP_ASYNC_TLS], 1);
}

/* Cancel: no callback ever, the connection is closed, the slot is reusable, and the old id
 * no longer names anything even when its slot runs a new request. */
static void test_cancel(void **state)
{
    struct fx *f = *state;
    uint64_t id = get(f, "/hang", &f->rec[0]);
    run_until_server(f, &f->srv.requests, 1);
    assert_int_equal(fh_http_async_cancel(f->c, id), 0);
    assert_int_equal(fh_http_async_in_flight(f->c), 0);
    assert_int_equal(fh_http_async_cancel(f->c, id), FH_ENOTFOUND);
    run_until_server(f, &f->srv.closed, 1);
    /* Every slot is free: fill them all, the old id must not cancel the new occupant. */
    uint64_t ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = get(f, "/ok", &f->rec[1 + i]);
    for (int i = 0; i < 4; i++)
        assert_true(ids[i] != id);
    assert_int_equal(fh_http_async_cancel(f->c, id), FH_ENOTFOUND);
    assert_int_equal(fh_http_async_cancel(f->c, 0), FH_ENOTFOUND);
    run_until_done(f, 4);
    assert_int_equal(f->rec[0].calls, 0);
    for (int i = 1; i <= 4; i++)
        assert_int_equal(f->rec[i].status, 200);
    assert_int_equal(fh_http_async_stats(f->c)->cancelled, 1);
}

/* Close with requests in flight: no callbacks, every connection closed, closed() once, and
 * the loop ends by itself (teardown checks uv_run returns and uv_loop_close succeeds). */
static void test_close_in_flight(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++)
        get(f, "/hang", &f->rec[i]);
    run_until_server(f, &f->srv.requests, 3);
    fh_http_async_close(f->c, on_closed, f);
    f->c = NULL;
    while (f->closed_calls == 0 && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->closed_calls, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->rec[i].calls, 0);
    run_until_server(f, &f->srv.closed, 3);
    assert_int_equal(atomic_load(&f->srv.closed), 3);
}

static void close_from_callback(struct fh_http_async *c, const struct fh_http_async_result *res,
                                void *user)
{
    struct fx *f = user;
    record(&f->rec[0], res);
    fh_http_async_close(c, on_closed, f);
    f->c = NULL;
    f->done++;
}

/* Closing from inside a completion callback while another request is in flight. */
static void test_close_from_callback(void **state)
{
    struct fx *f = *state;
    get(f, "/hang", &f->rec[1]);
    struct fh_http_async_req rq = {.url = url(f, "/ok")};
    uint64_t id;
    assert_int_equal(fh_http_async_get(f->c, &rq, close_from_callback, f, &id), 0);
    run_until_done(f, 1);
    assert_int_equal(f->rec[0].status, 200);
    while (f->closed_calls == 0 && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->closed_calls, 1);
    assert_int_equal(f->rec[1].calls, 0);
}

static void chain_next(struct fh_http_async *c, const struct fh_http_async_result *res, void *user)
{
    struct fx *f = user;
    int n = 3 - f->chain_left;
    f->chain_left--;
    /* Submit the next page first: the slot is free and this reply must stay intact. */
    if (f->chain_left > 0) {
        struct fh_http_async_req rq = {.url = f->url};
        uint64_t id;
        assert_int_equal(fh_http_async_get(c, &rq, chain_next, f, &id), 0);
    }
    assert_int_equal(res->outcome, FH_HTTP_ASYNC_OK);
    f->chain[n].new_connection = res->new_connection;
    snprintf(f->chain[n].body, sizeof(f->chain[n].body), "%s", res->body);
    f->done++;
}

/* Sequential requests, each submitted from the previous one's callback into the only slot:
 * the server sees one connection, and each delivered body is intact. */
static void test_connection_reuse(void **state)
{
    struct fx *f = *state;
    fh_http_async_close(f->c, NULL, NULL);
    make_client(f, 1, 64);
    f->chain_left = 3;
    struct fh_http_async_req rq = {.url = url(f, "/ok")};
    uint64_t id;
    assert_int_equal(fh_http_async_get(f->c, &rq, chain_next, f, &id), 0);
    run_until_done(f, 3);
    assert_int_equal(atomic_load(&f->srv.requests), 3);
    assert_int_equal(atomic_load(&f->srv.accepted), 1);
    assert_int_equal(fh_http_async_stats(f->c)->connections, 1);
    assert_true(f->chain[0].new_connection);
    assert_false(f->chain[1].new_connection);
    assert_false(f->chain[2].new_connection);
    for (int i = 0; i < 3; i++)
        assert_string_equal(f->chain[i].body, "hello");
}

/* Bad configurations and requests are refused up front with a reason. */
static void test_invalid_arguments(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    struct fh_http_async *c = NULL;
    struct fh_http_async_config cfg = {.max_requests = 0, .max_body = 10};
    assert_int_equal(fh_http_async_new(&f->loop, &cfg, &c, err, sizeof(err)), FH_EINVAL);
    assert_true(strstr(err, "max_requests") != NULL);
    const char *five[] = {"A", "B", "C", "D", "E"};
    cfg = (struct fh_http_async_config){
        .max_requests = 1, .max_body = 10, .capture = five, .n_capture = 5};
    assert_int_equal(fh_http_async_new(&f->loop, &cfg, &c, err, sizeof(err)), FH_EINVAL);
    const char *colon[] = {"Retry-After:"};
    cfg.capture = colon;
    cfg.n_capture = 1;
    assert_int_equal(fh_http_async_new(&f->loop, &cfg, &c, err, sizeof(err)), FH_EINVAL);

    uint64_t id = 0;
    struct fh_http_async_req rq = {.url = "ftp://127.0.0.1/x"};
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), FH_EINVAL);
    const char *many[FH_HTTP_ASYNC_MAX_REQ_HEADERS + 1];
    for (size_t i = 0; i <= FH_HTTP_ASYNC_MAX_REQ_HEADERS; i++)
        many[i] = "X-A: b";
    rq = (struct fh_http_async_req){
        .url = url(f, "/ok"), .headers = many, .n_headers = FH_HTTP_ASYNC_MAX_REQ_HEADERS + 1};
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), FH_EINVAL);
    const char *crlf[] = {"X-A: b\r\nX-Injected: 1"};
    rq.headers = crlf;
    rq.n_headers = 1;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done_count, &f->rec[0], &id), FH_EINVAL);
    assert_int_equal(fh_http_async_in_flight(f->c), 0);
    assert_int_equal(fh_http_async_stats(f->c)->requests, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_ok_with_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_429_is_an_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_and_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_failure_is_classified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
