/*
 * run.c - the daemon: wires configuration, sink, metadata, recorder, engine, metrics and
 * signals together on one libuv loop (see run.h).
 */
#include "app/run.h"

#include "app/cli.h"
#include "app/service.h"
#include "app/sink_factory.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "feed/engine.h"
#include "feed/metadata.h"
#include "feed/record.h"
#include "net/tls.h"
#include "obs/metrics.h"
#include "sink/sink.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SYMBOLS_PER_VENUE 65536

struct app {
    const struct fh_config *cfg;
    uv_loop_t loop;
    bool loop_inited;
    struct fh_sink *sink;
    struct fh_recorder *rec;
    bool rec_freed;
    struct fh_recorder_stats rec_final;
    struct fh_metrics *metrics;
    struct fh_metrics_server *server;
    SSL_CTX *tls;
    struct fh_symbols syms[2];
    bool syms_inited[2];
    struct fh_engine *engine;
    struct fh_service service;
    bool service_started;
    uv_signal_t sig_int, sig_term;
    bool signals_inited;
    int signals_seen;
    bool engine_done;
};

/* ---- pieces ------------------------------------------------------------------------------- */

/* Builds the configured sink (app/sink_factory.c). Returns 0 or an exit status. */
static int make_sink(struct app *a)
{
    char err[512];
    enum fh_sink_start why = FH_SINK_START_FAILED;
    a->sink = fh_sink_from_config(a->cfg, &why, err, sizeof(err));
    if (a->sink != NULL)
        return FH_EXIT_OK;
    log_error("cannot create the sink", "error=\"%s\"", err);
    /* The factory's reasons are the exit statuses (1 runtime, 2 configuration, 3 registry). */
    return why == FH_SINK_START_OK ? FH_EXIT_RUNTIME : (int)why;
}

static double sink_gauge_buffered(void *ctx)
{
    const struct fh_sink *s = ctx;
    return (double)__atomic_load_n(&s->stats.buffered_bytes, __ATOMIC_RELAXED);
}

static int register_app_metrics(struct app *a)
{
    struct fh_metrics *m = a->metrics;
    char l[128];
    fh_metrics_labels(l, sizeof(l), "sink", a->sink->ops->name, NULL);
    const struct fh_sink_stats *st = &a->sink->stats;
    int rc = fh_metrics_add_process(m);
    if (rc == 0)
        rc = fh_sink_register_kafka_metrics(m, a->sink);
    if (rc == 0)
        rc = fh_metrics_counter(m, "feedhandler_sink_accepted_total", "Trades the sink accepted.",
                                l, &st->accepted);
    if (rc == 0)
        rc = fh_metrics_counter(m, "feedhandler_sink_refused_total",
                                "Sink writes refused for lack of space (backpressure).", l,
                                &st->refused);
    if (rc == 0)
        rc = fh_metrics_counter(m, "feedhandler_sink_delivered_total",
                                "Trades the sink delivered (written or acknowledged).", l,
                                &st->delivered);
    if (rc == 0)
        rc =
            fh_metrics_counter(m, "feedhandler_sink_failed_total",
                               "Trades the sink could not deliver (lost, logged).", l, &st->failed);
    if (rc == 0)
        rc = fh_metrics_counter(m, "feedhandler_sink_bytes_total", "Encoded bytes delivered.", l,
                                &st->bytes);
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "feedhandler_sink_buffered_bytes",
                                 "Bytes held in the sink's memory buffer.", l, sink_gauge_buffered,
                                 a->sink);
    if (rc == 0 && a->rec != NULL) {
        const struct fh_recorder_stats *rs = fh_recorder_stats_ptr(a->rec);
        rc = fh_metrics_counter(m, "feedhandler_recorded_messages_total",
                                "Raw messages queued for recording.", "", &rs->recorded);
        if (rc == 0)
            rc = fh_metrics_counter(m, "feedhandler_recording_dropped_total",
                                    "Raw messages not recorded because the recorder's buffer "
                                    "was full.",
                                    "", &rs->dropped);
        if (rc == 0)
            rc = fh_metrics_counter(m, "feedhandler_recording_lost_total",
                                    "Recorded messages lost to write errors.", "", &rs->lost);
        if (rc == 0)
            rc = fh_metrics_counter(m, "feedhandler_recording_bytes_total",
                                    "Bytes written to recording files.", "", &rs->bytes);
    }
    return rc;
}

/* Loads one venue's metadata and logs where it came from. Returns 0 or an exit status. */
static int load_metadata(struct app *a, int i, const struct fh_venue_ops *ops, const char *file,
                         const char *rest_url)
{
    const struct fh_config *c = a->cfg;
    if (fh_symbols_init(&a->syms[i], MAX_SYMBOLS_PER_VENUE) != 0) {
        log_error("out of memory for the symbol table", "");
        return FH_EXIT_RUNTIME;
    }
    a->syms_inited[i] = true;
    struct fh_metadata_source src = {.file = file,
                                     .rest_url = rest_url,
                                     .ca_file = c->tls.ca_file,
                                     .verify = c->tls.verify,
                                     .timeout_ms = 30000};
    char used[2048], err[512];
    int64_t t0 = fh_clock_monotonic_ns();
    int rc = fh_metadata_load(ops, &src, &a->syms[i], used, sizeof(used), err, sizeof(err));
    if (rc != 0) {
        log_error("cannot load symbol metadata",
                  "venue=%s source=\"%s\" error=\"%s\" hint=\"without the network, set "
                  "%s.metadata_file to a saved copy; `make demo` runs against the simulator\"",
                  ops->name, used, err, ops->venue);
        return FH_EXIT_RUNTIME;
    }
    if (err[0] != '\0')
        log_warn("symbol metadata", "venue=%s note=\"%s\"", ops->name, err);
    log_info("symbol metadata loaded", "venue=%s source=\"%s\" symbols=%zu ms=%lld", ops->name,
             used, a->syms[i].n, (long long)((fh_clock_monotonic_ns() - t0) / 1000000));
    return 0;
}

static unsigned configured_channels(const struct fh_config *c)
{
    unsigned bits = 0;
    for (size_t i = 0; i < c->binance.channels.n; i++)
        bits |=
            strcmp(c->binance.channels.items[i], "aggTrade") == 0 ? FH_CH_AGG_TRADE : FH_CH_TRADE;
    return bits;
}

static void fill_feed_config(struct app *a, struct fh_feed_config *f)
{
    const struct fh_config *c = a->cfg;
    fh_feed_config_default(f);
    f->retry.base_ms = c->reconnect.base_ms;
    f->retry.max_ms = c->reconnect.max_ms;
    f->retry.stable_ms = c->reconnect.stable_ms;
    f->retry.throttled_ms = c->reconnect.throttled_ms;
    f->retry.maintenance_ms = c->reconnect.maintenance_ms;
    f->breaker_failures = (uint32_t)c->reconnect.breaker_failures;
    f->breaker_open_ms = c->reconnect.breaker_open_ms;
    f->connect_timeout_ms = c->feed.connect_timeout_ms;
    f->handshake_timeout_ms = c->feed.handshake_timeout_ms;
    f->subscribe_timeout_ms = c->feed.subscribe_timeout_ms;
    f->ping_interval_ms = c->feed.ping_interval_ms;
    f->pong_timeout_ms = c->feed.pong_timeout_ms;
    f->watchdog_ms = c->feed.watchdog_ms;
    f->max_message_bytes = (size_t)c->feed.max_message_bytes;
    f->gap_list_size = (size_t)c->feed.gap_list_size;
    f->backfill = (struct fh_feed_backfill){
        .enabled = c->backfill.enabled,
        .max_jobs = (size_t)c->backfill.max_open_gaps,
        .hold_capacity = (size_t)c->backfill.hold_trades,
        .hold_per_track = (size_t)c->backfill.hold_trades_per_symbol,
        .page_limit = (unsigned)c->backfill.page_limit,
        .deadline_ms = c->backfill.deadline_ms,
        .max_failures = (unsigned)c->backfill.max_failures,
        .weight_limit = c->backfill.binance_weight_limit,
        .weight_share_pct = (unsigned)c->backfill.binance_weight_share_pct,
        .kraken_pair_interval_ms = c->backfill.kraken_pair_interval_ms,
        .max_requests = (size_t)c->backfill.requests,
        .request_timeout_ms = c->backfill.request_timeout_ms,
        .ca_file = c->tls.ca_file != NULL && c->tls.ca_file[0] != '\0' ? c->tls.ca_file : NULL,
        .insecure = !c->tls.verify,
    };
    f->tls = a->tls;
    f->sink = a->sink;
    f->recorder = a->rec;
    f->metrics = a->metrics;
    if (c->binance.enabled) {
        struct fh_feed_venue_config *v = &f->venues[f->n_venues++];
        v->ops = fh_venue_for_section("binance", c->binance.url);
        v->url = c->binance.url;
        v->symbols = (const char *const *)c->binance.symbols.items;
        v->n_symbols = c->binance.symbols.n;
        v->channels = configured_channels(c);
        v->per_connection = (size_t)c->binance.streams_per_connection;
        v->time_us = c->binance.microseconds;
        v->lifetime_ms = c->binance.lifetime_ms;
        v->lifetime_jitter_ms = c->binance.lifetime_jitter_ms;
        v->rotation_timeout_ms = c->binance.rotation_timeout_ms;
        v->budget = (uint32_t)c->binance.connect_budget;
        v->budget_window_ms = c->binance.connect_budget_window_ms;
        v->metadata = &a->syms[0];
        v->rest_url = c->binance.rest_url;
    }
    if (c->kraken.enabled) {
        struct fh_feed_venue_config *v = &f->venues[f->n_venues++];
        v->ops = fh_venue_for_section("kraken", c->kraken.url);
        v->url = c->kraken.url;
        v->symbols = (const char *const *)c->kraken.symbols.items;
        v->n_symbols = c->kraken.symbols.n;
        v->channels = FH_CH_TRADE;
        v->per_connection = (size_t)c->kraken.symbols_per_connection;
        v->budget = (uint32_t)c->kraken.connect_budget;
        v->budget_window_ms = c->kraken.connect_budget_window_ms;
        v->rotation_timeout_ms = 60000;
        v->metadata = &a->syms[1];
        v->rest_url = c->kraken.rest_url;
    }
}

/* ---- signals and shutdown ----------------------------------------------------------------- */

static void close_signals(struct app *a)
{
    if (!a->signals_inited)
        return;
    a->signals_inited = false;
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
}

static void on_engine_done(struct fh_engine *e, void *ctx)
{
    (void)e;
    struct app *a = ctx;
    a->engine_done = true;
    close_signals(a);
    /* Its timer is the last handle that would keep the loop running. */
    if (a->service_started) {
        fh_service_stopping(&a->service);
        fh_service_close(&a->service);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct app *a = h->data;
    a->signals_seen++;
    if (a->signals_seen > 1) {
        log_warn("second signal: exiting without a clean shutdown", "signal=%s",
                 signum == SIGINT ? "SIGINT" : "SIGTERM");
        _exit(FH_EXIT_RUNTIME);
    }
    log_info("signal received: shutting down", "signal=%s",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    if (a->service_started)
        fh_service_stopping(&a->service);
    fh_engine_stop(a->engine);
}

static void log_summary(struct app *a, const struct fh_feed_config *f)
{
    for (size_t i = 0; i < f->n_venues; i++) {
        const struct fh_feed_venue_stats *st = fh_engine_venue_stats(a->engine, i);
        uint64_t disc = 0, dups = 0, rej = 0;
        for (int k = 0; k < FH_FEED_CLOSE_COUNT; k++)
            disc += st->disconnects[k];
        for (int k = 0; k < FH_FEED_DUP_COUNT; k++)
            dups += st->duplicates[k];
        for (int k = 0; k < FH_REJ_COUNT; k++)
            rej += st->rejected[k];
        log_info("venue totals",
                 "venue=%s messages=%llu trades=%llu gaps=%llu missing=%llu duplicates=%llu "
                 "rejected=%llu connects=%llu disconnects=%llu rotations=%llu",
                 f->venues[i].ops->name, (unsigned long long)st->messages,
                 (unsigned long long)st->trades, (unsigned long long)st->gaps,
                 (unsigned long long)st->missing, (unsigned long long)dups, (unsigned long long)rej,
                 (unsigned long long)st->connects, (unsigned long long)disc,
                 (unsigned long long)st->rotations);
    }
    if (a->rec_freed) {
        const struct fh_recorder_stats rs = a->rec_final;
        log_info("recording totals", "recorded=%llu dropped=%llu lost=%llu bytes=%llu files=%llu",
                 (unsigned long long)rs.recorded, (unsigned long long)rs.dropped,
                 (unsigned long long)rs.lost, (unsigned long long)rs.bytes,
                 (unsigned long long)rs.files);
    }
    const struct fh_engine_stats *es = fh_engine_stats(a->engine);
    log_info("backpressure totals", "pauses=%llu paused_ms=%llu",
             (unsigned long long)es->backpressure_pauses,
             (unsigned long long)(es->backpressure_ns / 1000000));
}

/* ---- the daemon --------------------------------------------------------------------------- */

/* The engine thread on SCHED_FIFO, last in start-up: every thread started so far (librdkafka's,
 * the writers', the metrics server's) keeps the normal scheduler, and so does any it starts
 * later (SCHED_RESET_ON_FORK). */
static int set_realtime(int64_t priority)
{
    if (priority == 0)
        return 0;
    int rc = fh_thread_set_realtime((int)priority);
    if (rc != 0) {
        log_error("cannot put the engine thread on SCHED_FIFO",
                  "priority=%lld error=\"%s\" hint=\"needs CAP_SYS_NICE, or an RLIMIT_RTPRIO "
                  "(systemd: LimitRTPRIO=, RestrictRealtime=no) of at least the priority, and "
                  "a real-time budget for its cgroup where the kernel has RT_GROUP_SCHED\"",
                  (long long)priority, fh_strerror(rc));
        return FH_EXIT_USAGE;
    }
    log_info("engine thread on SCHED_FIFO", "priority=%lld", (long long)priority);
    return 0;
}

static int start(struct app *a, struct fh_feed_config *f)
{
    const struct fh_config *c = a->cfg;
    char err[512];
    int rc = make_sink(a);
    if (rc != FH_EXIT_OK)
        return rc;
    log_info("sink ready", "sink=%s format=%s path=%s", a->sink->ops->name,
             c->sink.format == FH_SINK_FORMAT_AVRO ? "avro" : "json",
             c->sink.type == FH_SINK_TYPE_FILE ? c->sink.path : "-");
    struct fh_tls_config tc = {.ca_file = c->tls.ca_file, .verify = c->tls.verify};
    if (fh_tls_client_ctx_new(&tc, &a->tls, err, sizeof(err)) != 0) {
        log_error("cannot set up TLS", "error=\"%s\"", err);
        return FH_EXIT_USAGE;
    }
    if (c->binance.enabled &&
        (rc = load_metadata(a, 0, fh_venue_for_section("binance", c->binance.url),
                            c->binance.metadata_file, c->binance.rest_url)) != 0)
        return rc;
    if (c->kraken.enabled &&
        (rc = load_metadata(a, 1, fh_venue_for_section("kraken", c->kraken.url),
                            c->kraken.metadata_file, c->kraken.rest_url)) != 0)
        return rc;
    if (c->record.dir[0] != '\0') {
        struct fh_recorder_config rc_cfg = {.dir = c->record.dir,
                                            .max_file_bytes = c->record.max_file_bytes,
                                            .max_files = (uint32_t)c->record.max_files,
                                            .buffer_bytes = (size_t)c->record.buffer_bytes};
        a->rec = fh_recorder_new(&rc_cfg, err, sizeof(err));
        if (a->rec == NULL) {
            log_error("cannot start recording", "error=\"%s\"", err);
            return FH_EXIT_USAGE;
        }
        log_info("recording raw messages", "dir=%s max_file_bytes=%llu max_files=%lld",
                 c->record.dir, (unsigned long long)c->record.max_file_bytes,
                 (long long)c->record.max_files);
    }
    if (c->metrics.listen[0] != '\0') {
        a->metrics = fh_metrics_new();
        if (a->metrics == NULL || register_app_metrics(a) != 0) {
            log_error("cannot set up metrics", "");
            return FH_EXIT_RUNTIME;
        }
    }
    fill_feed_config(a, f);
    rc = fh_engine_new(&a->loop, f, &a->engine, err, sizeof(err));
    if (rc != 0) {
        log_error("cannot start the connection engine", "error=\"%s\"", err);
        return rc == FH_ECONFIG ? FH_EXIT_USAGE : FH_EXIT_RUNTIME;
    }
    rc = fh_service_start(&a->service, &a->loop, fh_engine_ready, a->engine,
                          c->metrics.health_stall_ms, err, sizeof(err));
    if (rc != 0) {
        log_error("cannot set up service notification", "error=\"%s\"", err);
        return FH_EXIT_USAGE;
    }
    a->service_started = true;
    if (a->metrics != NULL) {
        a->server =
            fh_metrics_server_start(c->metrics.listen, a->metrics, fh_engine_ready, a->engine,
                                    fh_service_health, &a->service, err, sizeof(err));
        if (a->server == NULL) {
            log_error("cannot start the metrics server", "listen=%s error=\"%s\"",
                      c->metrics.listen, err);
            return FH_EXIT_RUNTIME;
        }
    }
    return set_realtime(c->feed.realtime_priority);
}

int fh_run_daemon(const struct fh_config *cfg)
{
    struct app a;
    memset(&a, 0, sizeof(a));
    a.cfg = cfg;
    struct fh_feed_config f;
    memset(&f, 0, sizeof(f));
    /* OpenSSL writes to sockets with write(2): a peer that went away must give EPIPE, not
     * kill the process. */
    signal(SIGPIPE, SIG_IGN);
    int exit_code = FH_EXIT_OK;
    if (uv_loop_init(&a.loop) != 0) {
        log_error("cannot create the event loop", "");
        return FH_EXIT_RUNTIME;
    }
    a.loop_inited = true;
    exit_code = start(&a, &f);
    if (exit_code == FH_EXIT_OK) {
        uv_signal_init(&a.loop, &a.sig_int);
        uv_signal_init(&a.loop, &a.sig_term);
        a.sig_int.data = &a;
        a.sig_term.data = &a;
        uv_signal_start(&a.sig_int, on_signal, SIGINT);
        uv_signal_start(&a.sig_term, on_signal, SIGTERM);
        a.signals_inited = true;
        fh_engine_start(a.engine, on_engine_done, &a);
        log_info("running", "venues=%zu", f.n_venues);
        uv_run(&a.loop, UV_RUN_DEFAULT);
        close_signals(&a);
        uv_run(&a.loop, UV_RUN_DEFAULT);
        if (fh_sink_is_fatal(a.sink)) {
            log_error("stopped because the sink failed", "error=\"%s\"", a.sink->fatal_msg);
            exit_code = FH_EXIT_RUNTIME;
        }
    }
    if (a.sink != NULL) {
        int64_t t0 = fh_clock_monotonic_ns();
        uint64_t failed_before = __atomic_load_n(&a.sink->stats.failed, __ATOMIC_RELAXED);
        int rc = fh_sink_flush(a.sink, cfg->sink.flush_timeout_ms);
        if (rc == FH_SINK_FLUSH_KEPT &&
            __atomic_load_n(&a.sink->stats.failed, __ATOMIC_RELAXED) == failed_before) {
            /* Not delivered in time, but durable in the spool: the next start drains it. */
            log_warn("sink flush incomplete; the rest is kept in the spool", "timeout_ms=%lld",
                     (long long)cfg->sink.flush_timeout_ms);
        } else if (rc != 0) {
            log_error("sink flush incomplete", "error=\"%s\" timeout_ms=%lld", fh_strerror(rc),
                      (long long)cfg->sink.flush_timeout_ms);
            if (exit_code == FH_EXIT_OK)
                exit_code = FH_EXIT_RUNTIME;
        } else {
            log_info("sink flushed", "ms=%lld delivered=%llu failed=%llu",
                     (long long)((fh_clock_monotonic_ns() - t0) / 1000000),
                     (unsigned long long)a.sink->stats.delivered,
                     (unsigned long long)a.sink->stats.failed);
        }
    }
    /* The metrics server reads cells inside the engine and the recorder: stop it first. */
    fh_metrics_server_stop(a.server);
    fh_metrics_free(a.metrics);
    if (a.rec != NULL) {
        /* Everything queued is written before its totals are logged. */
        fh_recorder_close(a.rec, &a.rec_final);
        a.rec_freed = true;
        a.rec = NULL;
    }
    if (a.engine != NULL && exit_code != FH_EXIT_USAGE)
        log_summary(&a, &f);
    if (a.service_started)
        fh_service_close(&a.service); /* after a failed start: its timer never ran */
    if (a.engine != NULL) {
        /* After a failed start the engine never ran: close its handles now. */
        fh_engine_stop(a.engine);
        uv_run(&a.loop, UV_RUN_DEFAULT);
        fh_engine_free(a.engine);
    }
    fh_recorder_free(a.rec);
    fh_sink_free(a.sink);
    if (a.tls != NULL)
        SSL_CTX_free(a.tls);
    for (int i = 0; i < 2; i++)
        if (a.syms_inited[i])
            fh_symbols_release(&a.syms[i]);
    if (a.loop_inited && uv_loop_close(&a.loop) != 0)
        log_warn("event loop closed with handles still open", "");
    log_info("exiting", "status=%d", exit_code);
    return exit_code;
}
