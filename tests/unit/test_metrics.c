/*
 * test_metrics.c - metrics registry, Prometheus exposition, HTTP endpoints (src/obs).
 */
#include "testutil.h"

#include "core/err.h"
#include "obs/metrics.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_render_exact_text(void **state)
{
    (void)state;
    struct fh_metrics *m = fh_metrics_new();
    uint64_t a = 0, b = 0;
    int64_t g = -5;
    char l1[128], l2[128];
    assert_int_equal(fh_metrics_counter(m, "fh_trades_total", "Trades out.",
                                        fh_metrics_labels(l1, sizeof(l1), "venue", "binance", NULL),
                                        &a),
                     0);
    assert_int_equal(fh_metrics_gauge(m, "fh_connections", "Open connections.", "", &g), 0);
    assert_int_equal(
        fh_metrics_counter(m, "fh_trades_total", "ignored",
                           fh_metrics_labels(l2, sizeof(l2), "venue", "kra\"ken\\\n", NULL), &b),
        0);
    fh_counter_add(&a, 3);
    fh_counter_add_shared(&b, 2);
    struct fh_buf out;
    fh_buf_init(&out, 1 << 20);
    assert_int_equal(fh_metrics_render(m, &out), 0);
    assert_string_equal(out.data, "# HELP fh_trades_total Trades out.\n"
                                  "# TYPE fh_trades_total counter\n"
                                  "fh_trades_total{venue=\"binance\"} 3\n"
                                  "fh_trades_total{venue=\"kra\\\"ken\\\\\\n\"} 2\n"
                                  "# HELP fh_connections Open connections.\n"
                                  "# TYPE fh_connections gauge\n"
                                  "fh_connections -5\n");
    fh_buf_release(&out);
    fh_metrics_free(m);
}

static void test_registration_errors(void **state)
{
    (void)state;
    struct fh_metrics *m = fh_metrics_new();
    uint64_t c = 0;
    int64_t g = 0;
    assert_int_equal(fh_metrics_counter(m, "9bad", "x", "", &c), FH_EINVAL);
    assert_int_equal(fh_metrics_counter(m, "bad-name", "x", "", &c), FH_EINVAL);
    assert_int_equal(fh_metrics_counter(m, "ok_total", "x", "", NULL), FH_EINVAL);
    assert_int_equal(fh_metrics_counter(m, "ok_total", "x", "", &c), 0);
    assert_int_equal(fh_metrics_counter(m, "ok_total", "x", "", &c), FH_EINVAL);      /* dup */
    assert_int_equal(fh_metrics_gauge(m, "ok_total", "x", "a=\"1\"", &g), FH_EINVAL); /* type */
    char tiny[8];
    assert_string_equal(fh_metrics_labels(tiny, sizeof(tiny), "venue", "binance", NULL), "");
    fh_metrics_free(m);
}

static void test_histogram_buckets_and_quantiles(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {10, 100, 1000};
    struct fh_histogram h;
    fh_histogram_init(&h, bounds, 3);
    assert_int_equal(fh_histogram_quantile_bound(&h, 0.5), 0);
    for (int i = 0; i < 90; i++)
        fh_histogram_observe(&h, 5);
    for (int i = 0; i < 9; i++)
        fh_histogram_observe(&h, 100); /* inclusive upper bound */
    fh_histogram_observe(&h, 5000);
    assert_int_equal(fh_histogram_quantile_bound(&h, 0.5), 10);
    assert_int_equal(fh_histogram_quantile_bound(&h, 0.99), 100);
    assert_true(fh_histogram_quantile_bound(&h, 1.0) == UINT64_MAX);

    struct fh_metrics *m = fh_metrics_new();
    assert_int_equal(fh_metrics_histogram(m, "lat_nanoseconds", "Latency.", "v=\"x\"", &h), 0);
    struct fh_buf out;
    fh_buf_init(&out, 1 << 20);
    assert_int_equal(fh_metrics_render(m, &out), 0);
    assert_string_equal(out.data, "# HELP lat_nanoseconds Latency.\n"
                                  "# TYPE lat_nanoseconds histogram\n"
                                  "lat_nanoseconds_bucket{v=\"x\",le=\"10\"} 90\n"
                                  "lat_nanoseconds_bucket{v=\"x\",le=\"100\"} 99\n"
                                  "lat_nanoseconds_bucket{v=\"x\",le=\"1000\"} 99\n"
                                  "lat_nanoseconds_bucket{v=\"x\",le=\"+Inf\"} 100\n"
                                  "lat_nanoseconds_sum{v=\"x\"} 6350\n"
                                  "lat_nanoseconds_count{v=\"x\"} 100\n");
    fh_buf_release(&out);
    fh_metrics_free(m);
}

/* An independent linter: promtool (Prometheus) must accept the whole exposition. */
static void test_promtool_accepts_exposition(void **state)
{
    (void)state;
    struct fh_metrics *m = fh_metrics_new();
    static uint64_t c1, c2;
    static int64_t g1;
    static struct fh_histogram h;
    fh_histogram_init(&h, fh_hist_latency_ns_bounds, fh_hist_latency_ns_n);
    fh_histogram_observe(&h, 12345);
    char l[64];
    assert_int_equal(fh_metrics_add_process(m), 0);
    assert_int_equal(fh_metrics_counter(m, "feedhandler_trades_total", "Trades.",
                                        fh_metrics_labels(l, sizeof(l), "venue", "binance", NULL),
                                        &c1),
                     0);
    assert_int_equal(fh_metrics_counter(m, "feedhandler_rejected_total", "Rejected messages.",
                                        "reason=\"bad_json\"", &c2),
                     0);
    assert_int_equal(fh_metrics_gauge(m, "feedhandler_sessions", "Sessions.", "", &g1), 0);
    assert_int_equal(
        fh_metrics_histogram(m, "feedhandler_latency_seconds", "Frame to produce latency.", "", &h),
        0);
    struct fh_buf out;
    fh_buf_init(&out, 1 << 20);
    assert_int_equal(fh_metrics_render(m, &out), 0);
    assert_non_null(strstr(out.data, "process_resident_memory_bytes "));
    assert_non_null(strstr(out.data, "# TYPE process_cpu_seconds_total counter"));
    /* _seconds histograms hold nanoseconds and are rendered in seconds. */
    assert_non_null(strstr(out.data, "feedhandler_latency_seconds_bucket{le=\"1e-06\"} 0\n"));
    /* The ladder's 20 µs bound, design.md's receive -> enqueued target, is its own bucket. */
    assert_non_null(strstr(out.data, "feedhandler_latency_seconds_bucket{le=\"1e-05\"} 0\n"));
    assert_non_null(strstr(out.data, "feedhandler_latency_seconds_bucket{le=\"2e-05\"} 1\n"));
    assert_non_null(strstr(out.data, "feedhandler_latency_seconds_bucket{le=\"2.5e-05\"} 1\n"));
    assert_non_null(strstr(out.data, "feedhandler_latency_seconds_sum 1.2345e-05\n"));
    FILE *p = popen("promtool check metrics", "w");
    assert_non_null(p);
    fwrite(out.data, 1, out.len, p);
    int status = pclose(p);
    if (status != 0)
        fail_msg("promtool rejected the exposition:\n%s", out.data);
    fh_buf_release(&out);
    fh_metrics_free(m);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct fh_buf *b = ud;
    fh_buf_append(b, ptr, size * nmemb);
    return size * nmemb;
}

static long http_get(int port, const char *path, struct fh_buf *body)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static int ready_value;
static int ready_cb(void *ctx, char *why, size_t whylen)
{
    (void)ctx;
    if (!ready_value)
        snprintf(why, whylen, "binance: connecting");
    return ready_value;
}

static int health_value;
static int health_cb(void *ctx, char *why, size_t whylen)
{
    (void)ctx;
    snprintf(why, whylen, "%s", health_value ? "ok" : "event loop stalled");
    return health_value;
}

static void test_http_endpoints(void **state)
{
    (void)state;
    struct fh_metrics *m = fh_metrics_new();
    static uint64_t c;
    assert_int_equal(fh_metrics_counter(m, "x_total", "X.", "", &c), 0);
    fh_counter_add(&c, 42);
    char err[256];
    struct fh_metrics_server *s =
        fh_metrics_server_start("127.0.0.1:0", m, ready_cb, NULL, NULL, NULL, err, sizeof(err));
    assert_non_null(s);
    int port = fh_metrics_server_port(s);
    assert_true(port > 0);
    struct fh_buf b;
    fh_buf_init(&b, 1 << 20);
    assert_int_equal(http_get(port, "/metrics", &b), 200);
    assert_non_null(strstr(b.data, "x_total 42\n"));
    fh_buf_reset(&b);
    assert_int_equal(http_get(port, "/healthz", &b), 200);
    assert_string_equal(b.data, "ok\n");
    fh_buf_reset(&b);
    ready_value = 0;
    assert_int_equal(http_get(port, "/readyz", &b), 503);
    assert_string_equal(b.data, "binance: connecting\n");
    ready_value = 1;
    fh_buf_reset(&b);
    assert_int_equal(http_get(port, "/readyz", &b), 200);
    fh_buf_reset(&b);
    assert_int_equal(http_get(port, "/nope", &b), 404);
    fh_buf_release(&b);
    /* A second server on the same port is a clear error. */
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    assert_null(fh_metrics_server_start(listen, m, NULL, NULL, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot listen for metrics"));
    assert_null(fh_metrics_server_start("nonsense", m, NULL, NULL, NULL, NULL, err, sizeof(err)));
    fh_metrics_server_stop(s);
    /* /healthz asks its own callback: a stalled loop answers 503 with the reason. */
    s = fh_metrics_server_start("127.0.0.1:0", m, ready_cb, NULL, health_cb, NULL, err,
                                sizeof(err));
    assert_non_null(s);
    port = fh_metrics_server_port(s);
    fh_buf_init(&b, 1 << 20);
    health_value = 0;
    assert_int_equal(http_get(port, "/healthz", &b), 503);
    assert_string_equal(b.data, "event loop stalled\n");
    fh_buf_reset(&b);
    health_value = 1;
    assert_int_equal(http_get(port, "/healthz", &b), 200);
    assert_string_equal(b.data, "ok\n");
    fh_buf_release(&b);
    fh_metrics_server_stop(s);
    fh_metrics_free(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact_text),
        cmocka_unit_test(test_registration_errors),
        cmocka_unit_test(test_histogram_buckets_and_quantiles),
        cmocka_unit_test(test_promtool_accepts_exposition),
        cmocka_unit_test(test_http_endpoints),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
