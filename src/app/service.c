/*
 * service.c - readiness, heartbeat and the systemd watchdog (see service.h).
 */
#include "app/service.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

#define TICK_MS 250
/* Without a watchdog, how far each EXTEND_TIMEOUT_USEC= before READY reaches (sent every
 * half of it). */
#define EXTEND_US 30000000LL

/* STATUS= tells `systemctl status` what the handler waits for, each time it changes. */
static void send_status(struct fh_service *s, bool ready, const char *why)
{
    char st[sizeof(s->status)];
    snprintf(st, sizeof(st), "%s", ready ? "streaming: every venue subscribed, sink ready" : why);
    if (strcmp(st, s->status) == 0)
        return;
    snprintf(s->status, sizeof(s->status), "%s", st);
    char msg[sizeof(st) + 32];
    snprintf(msg, sizeof(msg), "%sSTATUS=%s", ready && !s->ready_sent ? "READY=1\n" : "", st);
    if (fh_sd_notify_send(&s->sd, msg) != 0 && ready && !s->ready_sent)
        log_warn("cannot tell the service manager", "socket=%s", s->sd.socket_name);
}

void fh_service_tick(struct fh_service *s)
{
    int64_t now = fh_clock_monotonic_ns();
    __atomic_store_n(&s->heartbeat_ns, now, __ATOMIC_RELAXED);
    if (__atomic_load_n(&s->stopping, __ATOMIC_RELAXED))
        return;
    char why[200] = "";
    bool ready = s->ready == NULL || s->ready(s->ready_ctx, why, sizeof(why)) == 1;
    send_status(s, ready, why);
    if (ready && !s->ready_sent) {
        s->ready_sent = true;
        if (s->sd.fd >= 0)
            log_info("service ready", "notify_socket=%s watchdog_ms=%lld", s->sd.socket_name,
                     (long long)(s->sd.watchdog_usec / 1000));
    }
    /* Twice per period, as sd_watchdog_enabled(3) advises. Before READY, systemd's watchdog
     * is not armed yet and TimeoutStartSec= runs instead: a live loop that waits for a venue
     * (an exchange down at boot) extends it, so only a stuck start-up times out. */
    int64_t period_us = s->sd.watchdog_usec > 0 ? s->sd.watchdog_usec : EXTEND_US;
    if (s->sd.fd < 0 || now - s->watchdog_sent_ns < period_us * 500)
        return;
    s->watchdog_sent_ns = now;
    char msg[96];
    int n = snprintf(msg, sizeof(msg), "%s", s->sd.watchdog_usec > 0 ? "WATCHDOG=1\n" : "");
    if (!s->ready_sent)
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, "EXTEND_TIMEOUT_USEC=%lld\n",
                      (long long)period_us);
    if (n > 0) {
        msg[n - 1] = '\0'; /* no trailing newline */
        fh_sd_notify_send(&s->sd, msg);
    }
}

static void on_tick(uv_timer_t *t)
{
    fh_service_tick(t->data);
}

int fh_service_start(struct fh_service *s, uv_loop_t *loop, fh_ready_fn ready, void *ctx,
                     int64_t stall_ms, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->sd.fd = -1;
    s->ready = ready;
    s->ready_ctx = ctx;
    s->stall_ns = stall_ms * 1000000;
    s->heartbeat_ns = fh_clock_monotonic_ns();
    int rc = fh_sd_notify_open(&s->sd, err, errlen);
    if (rc != 0)
        return rc;
    uint64_t tick = TICK_MS;
    /* A watchdog period under 1 s (unusual) still gets two pings per period. */
    if (s->sd.watchdog_usec > 0 && (uint64_t)s->sd.watchdog_usec / 4000 < tick)
        tick = s->sd.watchdog_usec / 4000 > 0 ? (uint64_t)s->sd.watchdog_usec / 4000 : 1;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->timer_inited = true;
    uv_timer_start(&s->timer, on_tick, 0, tick);
    if (s->sd.fd >= 0)
        log_info("service manager notification", "notify_socket=%s watchdog_ms=%lld tick_ms=%llu",
                 s->sd.socket_name, (long long)(s->sd.watchdog_usec / 1000),
                 (unsigned long long)tick);
    return 0;
}

void fh_service_stopping(struct fh_service *s)
{
    if (__atomic_exchange_n(&s->stopping, 1, __ATOMIC_RELAXED))
        return;
    fh_sd_notify_send(&s->sd, "STOPPING=1\nSTATUS=stopping: flushing the sink");
}

void fh_service_close(struct fh_service *s)
{
    if (s->timer_inited) {
        s->timer_inited = false;
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, NULL);
    }
    fh_sd_notify_close(&s->sd);
}

int fh_service_health(void *service, char *why, size_t whylen)
{
    struct fh_service *s = service;
    if (__atomic_load_n(&s->stopping, __ATOMIC_RELAXED)) {
        snprintf(why, whylen, "ok (stopping)");
        return 1;
    }
    int64_t age = fh_clock_monotonic_ns() - __atomic_load_n(&s->heartbeat_ns, __ATOMIC_RELAXED);
    if (age > s->stall_ns) {
        snprintf(why, whylen, "event loop stalled: no tick for %lld ms",
                 (long long)(age / 1000000));
        return 0;
    }
    snprintf(why, whylen, "ok");
    return 1;
}
