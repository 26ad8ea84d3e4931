/*
 * engine_metrics.c - the connection engine's metrics (docs/METRICS.md): per venue and
 * engine-wide, registered once at start-up, read by the metrics server's thread with relaxed
 * atomics.
 */
#include "feed/engine_int.h"

static double backpressure_seconds(void *ctx)
{
    const struct fh_engine *e = ctx;
    return (double)__atomic_load_n(&e->st.backpressure_ns, __ATOMIC_RELAXED) / 1e9;
}

static double last_trade_seconds(void *ctx)
{
    return (double)__atomic_load_n((const int64_t *)ctx, __ATOMIC_RELAXED) / 1e9;
}

/* One series per configured symbol (a fixed set: the configuration's), labelled with the
 * canonical name the records carry. */
static int register_symbol_metrics(struct fh_metrics *m, struct venue *v)
{
    char l[256];
    int rc = 0;
    for (size_t ci = 0; ci < v->cfg.n_symbols && rc == 0; ci++) {
        const struct fh_symbol *sym = fh_symbols_find(v->cfg.metadata, v->natives[ci]);
        fh_metrics_labels(l, sizeof(l), "venue", v->name, "symbol",
                          sym != NULL ? sym->canonical : v->cfg.symbols[ci], NULL);
        rc = fh_metrics_counter(m, "feedhandler_symbol_trades_total",
                                "Trades of one symbol written to the sink (every source).", l,
                                &v->sym[ci].trades);
        if (rc == 0)
            rc = fh_metrics_gauge_fn(m, "feedhandler_symbol_last_trade_seconds",
                                     "Receive time of the symbol's last trade written, seconds "
                                     "since the epoch; 0 before the first.",
                                     l, last_trade_seconds, &v->sym[ci].last_trade_rt);
    }
    return rc;
}

static int register_venue_metrics(struct fh_metrics *m, struct venue *v)
{
    char l[256], l2[256];
    const char *vn = v->name;
    fh_metrics_labels(l, sizeof(l), "venue", vn, NULL);
    struct fh_feed_venue_stats *st = &v->st;
    int rc = 0;
#define C(name, help, cell) \
    if (rc == 0)            \
    rc = fh_metrics_counter(m, name, help, l, cell)
#define G(name, help, cell) \
    if (rc == 0)            \
    rc = fh_metrics_gauge(m, name, help, l, cell)
    G("feedhandler_connections_open", "WebSocket connections open (upgraded).",
      &st->connections_open);
    G("feedhandler_connection_slots", "Connections the venue's symbols are spread over.",
      &v->n_slots_gauge);
    G("feedhandler_streaming_slots", "Connection slots whose connection is streaming.",
      &st->streaming_slots);
    G("feedhandler_breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half-open.",
      &st->breaker_state);
    G("feedhandler_exchange_maintenance", "1 while the exchange reports maintenance.",
      &st->maintenance);
    G("feedhandler_connect_budget_available", "Connection attempts left in the budget window.",
      &st->budget_available);
    C("feedhandler_connect_attempts_total", "Connection attempts started.", &st->connect_attempts);
    C("feedhandler_connects_total", "WebSocket upgrades completed.", &st->connects);
    C("feedhandler_messages_total", "WebSocket messages received.", &st->messages);
    C("feedhandler_trades_total", "Trades written to the sink.", &st->trades);
    C("feedhandler_gaps_total", "Trade-id gaps detected.", &st->gaps);
    C("feedhandler_missing_trades_total", "Trade ids missing in detected gaps.", &st->missing);
    C("feedhandler_subscription_errors_total", "Subscriptions or requests the exchange refused.",
      &st->subscription_errors);
    C("feedhandler_rotations_total", "Connections replaced make-before-break.", &st->rotations);
    C("feedhandler_connect_budget_denied_total",
      "Connection attempts delayed by the connection budget.", &st->budget_denied);
    C("feedhandler_breaker_trips_total", "Times the circuit breaker opened.", &st->breaker_trips);
    C("feedhandler_unexpected_trades_total",
      "Trades of symbols or channels the connection did not subscribe to (dropped).",
      &st->unexpected);
    C("feedhandler_trade_write_errors_total",
      "Trades the sink could not encode (counted as failed by the sink).", &st->sink_errors);
#undef C
#undef G
    for (int r = 0; r < FH_FEED_CLOSE_COUNT && rc == 0; r++) {
        fh_metrics_labels(l2, sizeof(l2), "venue", vn, "reason",
                          fh_feed_close_name((enum fh_feed_close)r), NULL);
        rc = fh_metrics_counter(m, "feedhandler_disconnects_total", "Connections ended, by reason.",
                                l2, &st->disconnects[r]);
    }
    for (int r = 1; r < FH_REJ_COUNT && rc == 0; r++) {
        fh_metrics_labels(l2, sizeof(l2), "venue", vn, "reason", fh_reject_name((enum fh_reject)r),
                          NULL);
        rc =
            fh_metrics_counter(m, "feedhandler_rejected_messages_total",
                               "Messages rejected by the parser, by reason.", l2, &st->rejected[r]);
    }
    for (int d = 0; d < FH_FEED_DUP_COUNT && rc == 0; d++) {
        fh_metrics_labels(l2, sizeof(l2), "venue", vn, "reason", dup_name((enum fh_feed_dup)d),
                          NULL);
        rc = fh_metrics_counter(m, "feedhandler_duplicates_total",
                                "Trades dropped because their id was already delivered: live "
                                "(unexpected repeats), snapshot (Kraken v2 reconnect overlap), "
                                "rotation (make-before-break overlap).",
                                l2, &st->duplicates[d]);
    }
    if (rc == 0 && v->bf.on)
        rc = eng_bf_register_metrics(m, v, l);
    if (rc == 0)
        rc = fh_metrics_histogram(m, "feedhandler_receive_to_enqueue_seconds",
                                  "Time from the socket read that completed a frame to the "
                                  "trade being enqueued in the sink.",
                                  l, &st->latency);
    return rc;
}

int eng_register_metrics(struct fh_engine *e)
{
    struct fh_metrics *m = e->cfg.metrics;
    int rc = 0;
    for (size_t i = 0; i < e->n_venues && rc == 0; i++)
        rc = register_venue_metrics(m, &e->venues[i]);
    for (size_t i = 0; i < e->n_venues && rc == 0; i++)
        rc = register_symbol_metrics(m, &e->venues[i]);
    if (rc == 0)
        rc = fh_metrics_counter(m, "feedhandler_backpressure_pauses_total",
                                "Times the sink was full and reading from the exchanges paused.",
                                "", &e->st.backpressure_pauses);
    if (rc == 0)
        rc = fh_metrics_counter_fn(m, "feedhandler_backpressure_seconds_total",
                                   "Time spent with reading paused by a full sink.", "",
                                   backpressure_seconds, e);
    if (rc == 0)
        rc = fh_metrics_gauge(m, "feedhandler_backpressure_paused",
                              "1 while reading is paused by a full sink.", "", &e->st.paused);
    if (rc == 0)
        rc = fh_metrics_counter(m, "feedhandler_gap_list_overwritten_total",
                                "Gaps dropped from the bounded gap list because it was full.", "",
                                &e->gaps.overwritten);
    return rc;
}
