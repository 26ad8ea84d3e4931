/*
 * test_core.c - logging, error codes and buffers (src/core/log.c, err.c, buf.c).
 */
#include "testutil.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/thread.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A large lazy array is zero and costs no memory until touched, whatever the allocator
 * (mimalloc's calloc zeroes, so resident, every page it hands out); a small one is calloc's. */
static void test_lazy_calloc_touches_nothing(void **state)
{
    (void)state;
    size_t n = 1000000, size = 40; /* 40 MB */
    unsigned char *p = fh_lazy_calloc(n, size);
    assert_non_null(p);
    assert_int_equal(fh_test_resident_pages(p, n * size), 0);
    p[0] = 1;
    p[n * size - 1] = 2;
    assert_int_equal(fh_test_resident_pages(p, n * size), 2);
    assert_int_equal(p[12345], 0);
    fh_lazy_free(p, n, size);
    unsigned char *small = fh_lazy_calloc(100, 8);
    assert_non_null(small);
    for (size_t i = 0; i < 800; i++)
        assert_int_equal(small[i], 0);
    fh_lazy_free(small, 100, 8);
    fh_lazy_free(NULL, n, size);
    assert_null(fh_lazy_calloc(SIZE_MAX / 2, 4)); /* overflow */
}

/* Captures what the logger writes through a pipe. */
static size_t capture_log(void (*emit)(void), char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fh_log_set_fd(fds[1]);
    emit();
    fh_log_set_fd(2);
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    return n;
}

static void emit_info(void)
{
    struct fh_logq q;
    log_info("connected \"now\"", "venue=%s err=%s", "binance", fh_logq(&q, "bad \"x\"\n"));
}

static void test_log_line_is_logfmt(void **state)
{
    (void)state;
    char buf[4096];
    fh_log_set_level(FH_LOG_INFO);
    capture_log(emit_info, buf, sizeof(buf));
    assert_true(strncmp(buf, "ts=", 3) == 0);
    assert_non_null(strstr(buf, "Z level=info msg=\"connected \\\"now\\\"\" venue=binance "
                                "err=\"bad \\\"x\\\"\\n\"\n"));
    /* Exactly one line. */
    assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
}

static void emit_debug(void)
{
    log_debug("hidden", "x=%d", 1);
}

static void test_log_level_filters(void **state)
{
    (void)state;
    char buf[256];
    fh_log_set_level(FH_LOG_INFO);
    assert_int_equal(capture_log(emit_debug, buf, sizeof(buf)), 0);
    fh_log_set_level(FH_LOG_DEBUG);
    assert_true(capture_log(emit_debug, buf, sizeof(buf)) > 0);
    fh_log_set_level(FH_LOG_INFO);

    enum fh_log_level l;
    assert_int_equal(fh_log_level_parse("WARN", &l), 0);
    assert_int_equal(l, FH_LOG_WARN);
    assert_int_equal(fh_log_level_parse("verbose", &l), FH_EINVAL);
}

static void test_logq_caps_long_text(void **state)
{
    (void)state;
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct fh_logq q;
    const char *s = fh_logq(&q, big);
    assert_true(strlen(s) < sizeof(q.buf));
    assert_non_null(strstr(s, "...\""));
    assert_string_equal(fh_logq(&q, NULL), "null");
    assert_string_equal(fh_logq_n(&q, "a\x01", 2), "\"a\\x01\"");
}

static void test_ratelimit(void **state)
{
    (void)state;
    struct fh_ratelimit rl;
    uint64_t supp = 99;
    fh_ratelimit_init(&rl, 2, 1000);
    assert_true(fh_ratelimit_allow(&rl, 0, &supp));
    assert_int_equal(supp, 0);
    assert_true(fh_ratelimit_allow(&rl, 10, NULL));
    assert_false(fh_ratelimit_allow(&rl, 20, NULL));
    assert_false(fh_ratelimit_allow(&rl, 999, NULL));
    assert_true(fh_ratelimit_allow(&rl, 1000, &supp));
    assert_int_equal(supp, 2);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(fh_strerror(FH_ENOSPACE), "no space left in a bounded buffer");
    assert_string_equal(fh_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(fh_strerror(FH_ELAST - 5), "unknown error");
}

static void test_buf_bounded_growth(void **state)
{
    (void)state;
    struct fh_buf b;
    fh_buf_init(&b, 100);
    for (int i = 0; i < 10; i++)
        assert_int_equal(fh_buf_appendf(&b, "%09d,", i), 0);
    assert_int_equal(b.len, 100);
    assert_true(b.cap <= 101);
    /* One more byte is over the bound and leaves the contents alone. */
    assert_int_equal(fh_buf_append(&b, "x", 1), FH_ENOSPACE);
    assert_int_equal(b.len, 100);
    assert_int_equal(fh_buf_reserve(&b, SIZE_MAX), FH_ENOSPACE);
    fh_buf_consume(&b, 90);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "000000009,");
    fh_buf_consume(&b, 1000);
    assert_int_equal(b.len, 0);
    fh_buf_release(&b);
}

static void test_fbuf_overflow_is_sticky(void **state)
{
    (void)state;
    uint8_t mem[8];
    struct fh_fbuf f;
    fh_fbuf_init(&f, mem, sizeof(mem));
    fh_fbuf_put(&f, "abcdef", 6);
    fh_fbuf_putc(&f, 'g');
    assert_false(f.overflow);
    fh_fbuf_put(&f, "hi", 2);
    assert_true(f.overflow);
    fh_fbuf_putc(&f, 'h'); /* would fit, but the buffer already overflowed */
    assert_int_equal(f.len, 7);
    fh_fbuf_init(&f, mem, sizeof(mem));
    fh_fbuf_putf(&f, "%d", 1234567);
    assert_false(f.overflow);
    fh_fbuf_putf(&f, "%d", 1);
    assert_true(f.overflow);
}

static void test_str_views(void **state)
{
    (void)state;
    struct fh_str a = FH_STR_LIT("BTCUSDT");
    assert_true(fh_str_eq_c(a, "BTCUSDT"));
    assert_false(fh_str_eq_c(a, "BTCUSD"));
    assert_true(fh_str_eq(fh_str_c(NULL), FH_STR_LIT("")));
}

static void test_formatters(void **state)
{
    (void)state;
    char b[32];
    static const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "0"},
                 {7, "7"},
                 {-7, "-7"},
                 {1700000000123456789LL, "1700000000123456789"},
                 {INT64_MAX, "9223372036854775807"},
                 {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = fh_fmt_i64(b, cases[i].v);
        b[n] = '\0';
        assert_string_equal(b, cases[i].want);
    }
    size_t n = fh_fmt_u64(b, UINT64_MAX);
    b[n] = '\0';
    assert_string_equal(b, "18446744073709551615");
    /* Against printf: both sides of every power of ten, and a pseudo-random sweep (two
     * digits are written per division). */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; i++) {
        uint64_t v;
        if (i < 60) {
            uint64_t p10 = 1;
            for (int k = 0; k < i / 3; k++)
                p10 *= 10;
            v = p10 - 1 + (uint64_t)(i % 3);
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v = x >> (x % 64);
        }
        char want[32];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
        n = fh_fmt_u64(b, v);
        b[n] = '\0';
        assert_string_equal(b, want);
    }
    for (int c = 0; c < 256; c++) {
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        assert_int_equal(fh_hex_value((char)c), want);
        if (want >= 0) {
            assert_int_equal(fh_hex_value(fh_hex_lower[want]), want);
            assert_int_equal(fh_hex_value(fh_hex_upper[want]), want);
        }
    }
}

static void *report_mask(void *arg)
{
    sigset_t *mask = arg;
    pthread_sigmask(SIG_BLOCK, NULL, mask);
    return NULL;
}

/* A helper thread must never be the one that receives SIGTERM/SIGINT: under load the kernel
 * may pick any thread that does not block them, and the loop's handler then runs late (or,
 * under ThreadSanitizer, not at all while the helper waits). */
static void test_thread_start_blocks_termination_signals(void **state)
{
    (void)state;
    sigset_t before, in_thread, after;
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    assert_int_equal(sigismember(&before, SIGTERM), 0);
    pthread_t t;
    assert_int_equal(fh_thread_start(&t, report_mask, &in_thread), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        assert_int_equal(sigismember(&in_thread, sigs[i]), 1);
    assert_int_equal(sigismember(&in_thread, SIGSEGV), 0);
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        assert_int_equal(sigismember(&after, sigs[i]), sigismember(&before, sigs[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_line_is_logfmt),
        cmocka_unit_test(test_log_level_filters),
        cmocka_unit_test(test_logq_caps_long_text),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_buf_bounded_growth),
        cmocka_unit_test(test_lazy_calloc_touches_nothing),
        cmocka_unit_test(test_fbuf_overflow_is_sticky),
        cmocka_unit_test(test_str_views),
        cmocka_unit_test(test_formatters),
        cmocka_unit_test(test_thread_start_blocks_termination_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
