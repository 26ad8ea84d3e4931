/*
 * service.h - the daemon's life as a service: readiness and liveness.
 *
 * A timer on the engine's loop (every 250 ms, shorter for a short watchdog period):
 *   - stamps a heartbeat that /healthz reads from the metrics thread: a loop that has not
 *     run its timers for [metrics] health_stall_ms answers 503 (a stuck engine, which the
 *     metrics thread alone would hide);
 *   - under systemd (Type=notify, obs/sdnotify.h) sends READY=1 once every venue streams and
 *     the sink is healthy (the /readyz condition), STATUS= with the reason whenever it
 *     changes, WATCHDOG=1 every half $WATCHDOG_USEC (so WatchdogSec= restarts a loop that
 *     stopped, SIGSTOP included), and STOPPING=1 at shutdown. Until READY it also sends
 *     EXTEND_TIMEOUT_USEC= (one watchdog period, or 30 s) at that pace: systemd arms the
 *     watchdog only after READY, so TimeoutStartSec= is what catches a stuck start-up, and
 *     a live loop that waits for an exchange that is down at boot must not time out.
 *
 * Locality: the loop's thread, except fh_service_health (any thread).
 */
#ifndef FH_APP_SERVICE_H
#define FH_APP_SERVICE_H

#include "obs/metrics.h"
#include "obs/sdnotify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct fh_service {
    uv_timer_t timer;
    bool timer_inited;
    struct fh_sd_notify sd;
    fh_ready_fn ready; /* the /readyz condition (obs/metrics.h) */
    void *ready_ctx;
    int64_t stall_ns;
    int64_t heartbeat_ns; /* monotonic, last tick: written by the loop, read by /healthz */
    int stopping;         /* 1 once shutdown began: /healthz then stays 200 */
    bool ready_sent;
    int64_t watchdog_sent_ns;
    char status[256]; /* the last STATUS= sent */
};

/* Starts the timer. Returns 0, or FH_EINVAL with err set ($NOTIFY_SOCKET malformed). */
int fh_service_start(struct fh_service *s, uv_loop_t *loop, fh_ready_fn ready, void *ctx,
                     int64_t stall_ms, char *err, size_t errlen);

/* Shutdown began: STOPPING=1, and /healthz no longer judges the loop. */
void fh_service_stopping(struct fh_service *s);

/* Stops the timer (its handle is closed on the loop) and closes the socket. */
void fh_service_close(struct fh_service *s);

/* For /healthz, any thread: 1 with "ok", or 0 with why (the loop has not ticked for N ms). */
int fh_service_health(void *service, char *why, size_t whylen);

/* Tests: one tick now, as the timer would. */
void fh_service_tick(struct fh_service *s);

#endif
