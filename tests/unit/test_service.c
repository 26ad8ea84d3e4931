/*
 * test_service.c - the service manager's notification protocol (obs/sdnotify) and the
 * daemon's readiness, watchdog and heartbeat (app/service), against a datagram listener of
 * our own in the role of systemd.
 */
#include "app/service.h"
#include "core/err.h"
#include "obs/sdnotify.h"
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A listener like systemd's: a datagram socket at a path, or in the abstract namespace. */
static int listen_at(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    assert_true(n < sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    return fd;
}

/* The next datagram within timeout_ms (a hang guard), or "" when none came. */
static const char *next_msg(int fd, int timeout_ms, char *buf, size_t n)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    buf[0] = '\0';
    if (poll(&p, 1, timeout_ms) == 1) {
        ssize_t r = recv(fd, buf, n - 1, 0);
        buf[r > 0 ? r : 0] = '\0';
    }
    return buf;
}

static void clear_env(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static void test_notify_env(void **state)
{
    (void)state;
    char err[256];
    struct fh_sd_notify n;
    clear_env();
    /* Not under systemd: nothing to tell, every send a no-op. */
    assert_int_equal(fh_sd_notify_open(&n, err, sizeof(err)), 0);
    assert_int_equal(n.fd, -1);
    assert_int_equal(fh_sd_notify_send(&n, "READY=1"), 0);
    /* Malformed values are clear errors. */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(fh_sd_notify_open(&n, err, sizeof(err)), FH_EINVAL);
    assert_non_null(strstr(err, "NOTIFY_SOCKET=relative/path"));
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    assert_int_equal(fh_sd_notify_open(&n, err, sizeof(err)), FH_EINVAL);
    setenv("NOTIFY_SOCKET", "@fh-test", 1);
    setenv("WATCHDOG_USEC", "soon", 1);
    assert_int_equal(fh_sd_notify_open(&n, err, sizeof(err)), FH_EINVAL);
    assert_non_null(strstr(err, "WATCHDOG_USEC"));
    /* A watchdog meant for another process is not ours. */
    setenv("WATCHDOG_USEC", "2000000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    assert_int_equal(fh_sd_notify_open(&n, err, sizeof(err)), 0);
    assert_int_equal(n.watchdog_usec, 0);
    fh_sd_notify_close(&n);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(fh_sd_notify_open(&n, err, sizeof(err)), 0);
    assert_int_equal(n.watchdog_usec, 2000000);
    /* Nobody listens at @fh-test: the send says so, nothing breaks. */
    assert_int_equal(fh_sd_notify_send(&n, "READY=1"), FH_EIO);
    fh_sd_notify_close(&n);
    clear_env();
}

static void test_notify_path_and_abstract(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    char path[512], abstract[64], err[256], buf[512];
    snprintf(path, sizeof(path), "%s/notify", dir);
    snprintf(abstract, sizeof(abstract), "@fh-test-%d", (int)getpid());
    const char *names[] = {path, abstract};
    for (size_t i = 0; i < 2; i++) {
        int l = listen_at(names[i]);
        setenv("NOTIFY_SOCKET", names[i], 1);
        struct fh_sd_notify n;
        assert_int_equal(fh_sd_notify_open(&n, err, sizeof(err)), 0);
        assert_true(n.fd >= 0);
        assert_int_equal(fh_sd_notify_send(&n, "READY=1\nSTATUS=x"), 0);
        assert_string_equal(next_msg(l, 10000, buf, sizeof(buf)), "READY=1\nSTATUS=x");
        fh_sd_notify_close(&n);
        close(l);
    }
    unlink(path);
    clear_env();
    free(dir);
}

static int ready_now;
static int ready_cb(void *ctx, char *why, size_t whylen)
{
    (void)ctx;
    if (!ready_now)
        snprintf(why, whylen, "binance: 0 of 1 connections streaming");
    return ready_now;
}

/* Drives the service's own timer on a loop, as the daemon does, until pred holds. */
static void run_for(uv_loop_t *loop, int rounds)
{
    for (int i = 0; i < rounds; i++)
        uv_run(loop, UV_RUN_ONCE);
}

static void test_service_ready_watchdog_stopping(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    char path[512], err[256], buf[512];
    snprintf(path, sizeof(path), "%s/notify", dir);
    int l = listen_at(path);
    setenv("NOTIFY_SOCKET", path, 1);
    /* 400 ms: the service ticks every 100 ms and pings every 200 ms. */
    setenv("WATCHDOG_USEC", "400000", 1);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fh_service s;
    ready_now = 0;
    assert_int_equal(fh_service_start(&s, &loop, ready_cb, NULL, 10000, err, sizeof(err)), 0);
    /* Not ready: the reason as STATUS, no READY; the watchdog is fed meanwhile. */
    run_for(&loop, 1);
    assert_string_equal(next_msg(l, 10000, buf, sizeof(buf)),
                        "STATUS=binance: 0 of 1 connections streaming");
    /* Before READY each ping also extends systemd's start timeout: a live loop waiting for
     * a venue is not a stuck start-up. */
    assert_string_equal(next_msg(l, 10000, buf, sizeof(buf)),
                        "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=400000");
    /* The same reason is not repeated; the watchdog keeps coming. */
    int pings = 0;
    for (int i = 0; i < 8 && pings < 2; i++) {
        run_for(&loop, 1);
        const char *m = next_msg(l, 0, buf, sizeof(buf));
        if (m[0] != '\0') {
            assert_string_equal(m, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=400000");
            pings++;
        }
    }
    assert_int_equal(pings, 2);
    /* Ready: READY=1 once, with the status. */
    ready_now = 1;
    fh_service_tick(&s);
    assert_string_equal(next_msg(l, 10000, buf, sizeof(buf)),
                        "READY=1\nSTATUS=streaming: every venue subscribed, sink ready");
    /* Readiness lost and regained: STATUS only, never READY=1 again. */
    ready_now = 0;
    fh_service_tick(&s);
    assert_string_equal(next_msg(l, 10000, buf, sizeof(buf)),
                        "STATUS=binance: 0 of 1 connections streaming");
    ready_now = 1;
    fh_service_tick(&s);
    assert_string_equal(next_msg(l, 10000, buf, sizeof(buf)),
                        "STATUS=streaming: every venue subscribed, sink ready");
    /* Health: the heartbeat was just stamped; a loop that stops ticking is reported. */
    char why[128];
    assert_int_equal(fh_service_health(&s, why, sizeof(why)), 1);
    assert_string_equal(why, "ok");
    s.stall_ns = 1;
    usleep(2000);
    assert_int_equal(fh_service_health(&s, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "event loop stalled: no tick for"));
    /* Shutdown: STOPPING=1 once; health no longer judges the loop (the flush runs off it). */
    fh_service_stopping(&s);
    fh_service_stopping(&s);
    assert_string_equal(next_msg(l, 10000, buf, sizeof(buf)),
                        "STOPPING=1\nSTATUS=stopping: flushing the sink");
    assert_int_equal(fh_service_health(&s, why, sizeof(why)), 1);
    fh_service_close(&s);
    /* The closed timer lets the loop end. */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    while (next_msg(l, 0, buf, sizeof(buf))[0] != '\0')
        assert_string_equal(buf, "WATCHDOG=1");
    close(l);
    unlink(path);
    clear_env();
    free(dir);
}

/* Without systemd the service still stamps the heartbeat and ends cleanly. */
static void test_service_without_manager(void **state)
{
    (void)state;
    clear_env();
    char err[256], why[128];
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fh_service s;
    ready_now = 1;
    assert_int_equal(fh_service_start(&s, &loop, ready_cb, NULL, 10000, err, sizeof(err)), 0);
    run_for(&loop, 1);
    assert_true(s.ready_sent);
    assert_int_equal(fh_service_health(&s, why, sizeof(why)), 1);
    fh_service_close(&s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    /* A malformed NOTIFY_SOCKET refuses the start. */
    setenv("NOTIFY_SOCKET", "nope", 1);
    assert_int_equal(fh_service_start(&s, &loop, ready_cb, NULL, 10000, err, sizeof(err)),
                     FH_EINVAL);
    clear_env();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_env),
        cmocka_unit_test(test_notify_path_and_abstract),
        cmocka_unit_test(test_service_ready_watchdog_stopping),
        cmocka_unit_test(test_service_without_manager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
