/*
 * engine.c - the connection engine (see engine.h): set-up (planning a venue's connection
 * slots), start, stop and views. Its other files (engine_int.h lists them): sessions and
 * their timers in engine_session.c, the per-message path in engine_msg.c, metrics in
 * engine_metrics.c.
 *
 * Vocabulary: a *slot* is a fixed share of a venue's symbols; a *session* is one WebSocket
 * connection of a slot (two per slot: while a connection is replaced, the old one and its
 * replacement run side by side). slot->cur is the session that delivers the slot's trades,
 * slot->nxt its replacement while one is being made; a session that is neither is retiring
 * (closing after a rotation) and its messages are ignored.
 *
 * Session states: IDLE -> CONNECTING (DNS, TCP, TLS, upgrade: the client's timeouts) ->
 * SUBSCRIBING (until every symbol is acknowledged or refused; a protocol that subscribes in
 * the URL, caps.subscribe_in_url, goes straight on) -> STREAMING -> CLOSING -> IDLE (on_close).
 * Every failure path ends in on_close, which decides what the slot does next.
 */
#include "feed/engine_int.h"

#include <openssl/rand.h>

const char *fh_feed_close_name(enum fh_feed_close r)
{
    static const char *const names[FH_FEED_CLOSE_COUNT] = {"peer",
                                                           "eof",
                                                           "reset",
                                                           "dns",
                                                           "connect",
                                                           "tls",
                                                           "handshake",
                                                           "protocol",
                                                           "timeout",
                                                           "oversize",
                                                           "bad_utf8",
                                                           "error",
                                                           "watchdog",
                                                           "pong_timeout",
                                                           "subscribe_timeout",
                                                           "subscribe_error",
                                                           "rotated",
                                                           "shutdown",
                                                           "local"};
    return (unsigned)r < FH_FEED_CLOSE_COUNT ? names[r] : "unknown";
}

void fh_feed_config_default(struct fh_feed_config *c)
{
    memset(c, 0, sizeof(*c));
    c->retry.base_ms = 200;
    c->retry.max_ms = 30000;
    c->retry.stable_ms = 60000;
    c->retry.throttled_ms = 60000;
    c->retry.maintenance_ms = 5000;
    c->breaker_failures = 10;
    c->breaker_open_ms = 30000;
    c->connect_timeout_ms = 10000;
    c->handshake_timeout_ms = 10000;
    c->subscribe_timeout_ms = 10000;
    c->ping_interval_ms = 10000;
    c->pong_timeout_ms = 10000;
    c->watchdog_ms = 30000;
    c->max_message_bytes = 1u << 20;
    c->gap_list_size = 4096;
}

/* ---- set-up ------------------------------------------------------------------------------- */

static int venue_plan(struct venue *v, size_t syms_per_slot, char *err, size_t errlen)
{
    size_t n = v->cfg.n_symbols;
    size_t n_slots = fh_shard_count(n, syms_per_slot);
    v->slots = calloc(n_slots, sizeof(*v->slots));
    if (v->slots == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    v->n_slots = n_slots;
    struct fh_buf url;
    fh_buf_init(&url, 1u << 20);
    for (size_t i = 0; i < n_slots; i++) {
        struct slot *sl = &v->slots[i];
        sl->v = v;
        sl->index = i;
        fh_shard_range(n, n_slots, i, &sl->first_sym, &sl->n_syms);
        sl->first_track = sl->first_sym * v->n_ch;
        sl->n_tracks = sl->n_syms * v->n_ch;
        sl->cur = sl->nxt = -1;
        struct fh_sub_spec spec = {.symbols = v->natives + sl->first_sym,
                                   .n_symbols = sl->n_syms,
                                   .channels = v->cfg.channels,
                                   .time_us = v->cfg.time_us};
        fh_buf_reset(&url);
        int rc = v->cfg.ops->build_url(v->cfg.url, &spec, &url);
        if (rc != 0) {
            fh_buf_release(&url);
            snprintf(err, errlen, "%s: cannot build the connection URL from %s: %s", v->name,
                     v->cfg.url, fh_strerror(rc));
            return rc;
        }
        sl->url = strndup(url.data, url.len);
        for (int k = 0; k < 2; k++) {
            sl->s[k].slot = sl;
            sl->s[k].idx = k;
            sl->s[k].sub = calloc(sl->n_syms, 1);
        }
        if (sl->url == NULL || sl->s[0].sub == NULL || sl->s[1].sub == NULL) {
            fh_buf_release(&url);
            snprintf(err, errlen, "out of memory");
            return FH_ENOMEM;
        }
    }
    fh_buf_release(&url);
    return 0;
}

static void venue_unplan(struct venue *v)
{
    for (size_t i = 0; i < v->n_slots; i++) {
        free(v->slots[i].url);
        free(v->slots[i].s[0].sub);
        free(v->slots[i].s[1].sub);
    }
    free(v->slots);
    v->slots = NULL;
    v->n_slots = 0;
}

static int venue_init(struct fh_engine *e, size_t index, const struct fh_feed_venue_config *vc,
                      char *err, size_t errlen)
{
    struct venue *v = &e->venues[index];
    v->e = e;
    v->index = index;
    v->cfg = *vc;
    v->name = vc->ops->venue;
    v->has_ids = vc->ops->caps.trade_ids;
    v->can_rotate = vc->ops->caps.rotation;
    if (vc->n_symbols == 0 || vc->metadata == NULL || vc->url == NULL) {
        snprintf(err, errlen, "%s: no symbols, metadata or URL", v->name);
        return FH_EINVAL;
    }
    if (vc->ops->caps.channels == FH_CH_TRADE)
        v->cfg.channels = FH_CH_TRADE; /* the protocol's one trade channel */
    v->cfg.channels &= vc->ops->caps.channels;
    if (v->cfg.channels & FH_CH_TRADE)
        v->ch_bits[v->n_ch++] = FH_CH_TRADE;
    if (v->cfg.channels & FH_CH_AGG_TRADE)
        v->ch_bits[v->n_ch++] = FH_CH_AGG_TRADE;
    if (v->n_ch == 0) {
        snprintf(err, errlen, "%s: no channel to subscribe to", v->name);
        return FH_EINVAL;
    }
    const struct fh_symbols *meta = vc->metadata;
    v->meta_to_cfg = malloc((meta->n > 0 ? meta->n : 1) * sizeof(*v->meta_to_cfg));
    v->natives = calloc(vc->n_symbols, sizeof(*v->natives));
    v->sym = calloc(vc->n_symbols, sizeof(*v->sym));
    v->n_tracks = vc->n_symbols * v->n_ch;
    v->tracks = calloc(v->n_tracks, sizeof(*v->tracks));
    if (v->meta_to_cfg == NULL || v->natives == NULL || v->sym == NULL || v->tracks == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    for (size_t i = 0; i < meta->n; i++)
        v->meta_to_cfg[i] = -1;
    for (size_t i = 0; i < vc->n_symbols; i++) {
        v->natives[i] = fh_str_c(vc->symbols[i]);
        const struct fh_symbol *sym = fh_symbols_find(meta, v->natives[i]);
        if (sym == NULL) {
            snprintf(err, errlen,
                     "%s: symbol %s is not listed in the exchange's symbol metadata "
                     "(check the spelling: native names such as %s)",
                     v->name, vc->symbols[i], vc->ops->caps.symbol_example);
            return FH_ECONFIG;
        }
        v->meta_to_cfg[sym - meta->items] = (int32_t)i;
    }
    struct fh_venue_parser_opts po = {.max_message_bytes = e->cfg.max_message_bytes,
                                      .time_us = vc->time_us};
    int rc = fh_venue_parser_init(&v->parser, vc->ops, meta, &po);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot set up the parser: %s", v->name, fh_strerror(rc));
        return rc;
    }
    v->parser_inited = true;
    size_t per = vc->per_connection > 0 ? vc->per_connection : 1;
    /* Where the URL names the streams, the limit counts streams (symbol x channel). */
    size_t syms_per_slot = vc->ops->caps.subscribe_in_url ? per / v->n_ch : per;
    if (syms_per_slot == 0)
        syms_per_slot = 1;
    /* A Binance URL carries every stream of its connection and has a length limit: shrink
     * the connections until their URLs fit. */
    for (;;) {
        rc = venue_plan(v, syms_per_slot, err, errlen);
        if (rc != FH_ERANGE || syms_per_slot == 1)
            break;
        venue_unplan(v);
        size_t smaller = syms_per_slot * 3 / 4;
        log_warn("connection URL too long: fewer symbols per connection",
                 "venue=%s from=%zu to=%zu", v->name, syms_per_slot, smaller > 0 ? smaller : 1);
        syms_per_slot = smaller > 0 ? smaller : 1;
    }
    if (rc != 0)
        return rc;
    v->n_slots_gauge = (int64_t)v->n_slots;
    rc = fh_budget_init(&v->budget, vc->budget > 0 ? vc->budget : 1,
                        (vc->budget_window_ms > 0 ? vc->budget_window_ms : 1) * NS_PER_MS);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    fh_breaker_init(&v->breaker, e->cfg.breaker_failures, e->cfg.breaker_open_ms * NS_PER_MS);
    fh_ratelimit_init(&v->rl_reject, 5, 10LL * 1000000000LL);
    fh_ratelimit_init(&v->rl_gap, 20, 10LL * 1000000000LL);
    fh_ratelimit_init(&v->rl_conn, 20, 10LL * 1000000000LL);
    fh_ratelimit_init(&v->rl_sub, 20, 10LL * 1000000000LL);
    fh_histogram_init(&v->st.latency, fh_hist_latency_ns_bounds, fh_hist_latency_ns_n);
    rc = eng_bf_init(v, err, errlen);
    if (rc != 0)
        return rc;
    log_info("venue planned", "venue=%s protocol=%s symbols=%zu channels=%zu connections=%zu",
             v->name, vc->ops->name, vc->n_symbols, v->n_ch, v->n_slots);
    return 0;
}

int fh_engine_new(uv_loop_t *loop, const struct fh_feed_config *cfg, struct fh_engine **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->n_venues == 0 || cfg->n_venues > FH_FEED_MAX_VENUES || cfg->sink == NULL) {
        snprintf(err, errlen, "no venue or no sink");
        return FH_EINVAL;
    }
    struct fh_engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    e->loop = loop;
    e->cfg = *cfg;
    int rc = fh_gap_list_init(&e->gaps, cfg->gap_list_size > 0 ? cfg->gap_list_size : 1);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    uint64_t seed = cfg->seed;
    if (seed == 0 && RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
        seed = (uint64_t)fh_clock_realtime_ns();
    fh_rng_seed(&e->rng, seed);
    fh_buf_init(&e->scratch, 1u << 20);
    fh_ratelimit_init(&e->rl_pause, 1, 10LL * 1000000000LL);
    for (size_t i = 0; i < cfg->n_venues; i++) {
        e->n_venues = i + 1;
        rc = venue_init(e, i, &cfg->venues[i], err, errlen);
        if (rc != 0)
            goto fail;
    }
    int64_t m = cfg->watchdog_ms;
    if (cfg->ping_interval_ms > 0 && cfg->ping_interval_ms < m)
        m = cfg->ping_interval_ms;
    if (cfg->pong_timeout_ms < m)
        m = cfg->pong_timeout_ms;
    if (cfg->subscribe_timeout_ms < m)
        m = cfg->subscribe_timeout_ms;
    e->tick_ms = m / 8 < 5 ? 5 : m / 8 > 500 ? 500 : m / 8;
    /* Registered before any handle exists, so a failure here needs no loop to clean up (the
     * caller frees the registry, which points into e, before e). */
    if (cfg->metrics != NULL && (rc = eng_register_metrics(e)) != 0) {
        snprintf(err, errlen, "cannot register the engine metrics: %s", fh_strerror(rc));
        goto fail;
    }
    uv_check_init(loop, &e->check);
    int wfd = fh_sink_wake_fd(cfg->sink);
    if (wfd >= 0 && uv_poll_init(loop, &e->sink_wake, wfd) == 0) {
        e->sink_wake.data = e;
        e->sink_wake_inited = true;
    }
    uv_timer_init(loop, &e->tick);
    uv_timer_init(loop, &e->resume);
    e->check.data = e;
    e->tick.data = e;
    e->resume.data = e;
    for (size_t i = 0; i < e->n_venues; i++) {
        struct venue *v = &e->venues[i];
        for (size_t k = 0; k < v->n_slots; k++) {
            uv_timer_init(loop, &v->slots[k].timer);
            v->slots[k].timer.data = &v->slots[k];
        }
    }
    e->handles_inited = true;
    *out = e;
    return 0;
fail:
    fh_engine_free(e);
    return rc;
}

int fh_engine_start(struct fh_engine *e, void (*done)(struct fh_engine *e, void *ctx), void *ctx)
{
    if (e->started || e->stopping)
        return FH_ESTATE;
    e->started = true;
    e->done = done;
    e->done_ctx = ctx;
    uv_check_start(&e->check, eng_check_cb);
    if (e->sink_wake_inited)
        uv_poll_start(&e->sink_wake, UV_READABLE, eng_sink_wake_cb);
    uv_timer_start(&e->tick, eng_tick_cb, (uint64_t)e->tick_ms, (uint64_t)e->tick_ms);
    for (size_t i = 0; i < e->n_venues; i++) {
        struct venue *v = &e->venues[i];
        for (size_t k = 0; k < v->n_slots; k++)
            eng_slot_attempt(&v->slots[k], false);
    }
    return 0;
}

/* ---- stopping ----------------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    struct fh_engine *e = h->data;
    e->handles_open--;
    eng_maybe_finish_stop(e);
}

static void ws_released(struct fh_ws *ws)
{
    struct session *s = ws->data;
    struct fh_engine *e = s->slot->v->e;
    s->ws_released = true;
    e->handles_open--;
    eng_maybe_finish_stop(e);
}

static void close_handle(struct fh_engine *e, uv_handle_t *h)
{
    h->data = e;
    e->handles_open++;
    uv_close(h, handle_closed);
}

void eng_maybe_finish_stop(struct fh_engine *e)
{
    if (!e->stopping)
        return;
    if (!e->closing_handles) {
        for (size_t i = 0; i < e->n_venues; i++) {
            struct venue *v = &e->venues[i];
            for (size_t k = 0; k < v->n_slots; k++)
                for (int j = 0; j < 2; j++)
                    if (v->slots[k].s[j].state != S_IDLE)
                        return;
        }
        /* Every connection is closed: release the clients and close our handles. Open gaps
         * end and what backfill held is written first. */
        e->closing_handles = true;
        for (size_t i = 0; i < e->n_venues; i++)
            eng_bf_close(&e->venues[i]);
        for (size_t i = 0; i < e->n_venues; i++) {
            struct venue *v = &e->venues[i];
            for (size_t k = 0; k < v->n_slots; k++) {
                struct slot *sl = &v->slots[k];
                for (int j = 0; j < 2; j++) {
                    if (sl->s[j].ws_inited && !sl->s[j].ws_released) {
                        e->handles_open++;
                        if (fh_ws_release(&sl->s[j].ws, ws_released) != 0)
                            e->handles_open--;
                    }
                }
                if (e->handles_inited)
                    close_handle(e, (uv_handle_t *)&sl->timer);
            }
        }
        if (e->handles_inited) {
            close_handle(e, (uv_handle_t *)&e->check);
            if (e->sink_wake_inited)
                close_handle(e, (uv_handle_t *)&e->sink_wake);
            close_handle(e, (uv_handle_t *)&e->tick);
            close_handle(e, (uv_handle_t *)&e->resume);
        }
    }
    if (e->handles_open == 0 && !e->done_called) {
        e->done_called = true;
        log_info("engine stopped", "");
        if (e->done != NULL)
            e->done(e, e->done_ctx);
    }
}

void fh_engine_stop(struct fh_engine *e)
{
    if (e->stopping)
        return;
    __atomic_store_n(&e->stopping, true, __ATOMIC_RELAXED);
    if (e->handles_inited) {
        uv_timer_stop(&e->tick);
        uv_timer_stop(&e->resume);
    }
    /* Reading stops for good: a pause still running ends here and counts in full. */
    eng_bp_end(e, eng_now(e));
    size_t open = 0;
    for (size_t i = 0; i < e->n_venues; i++) {
        struct venue *v = &e->venues[i];
        for (size_t k = 0; k < v->n_slots; k++) {
            struct slot *sl = &v->slots[k];
            if (e->handles_inited)
                uv_timer_stop(&sl->timer);
            for (int j = 0; j < 2; j++) {
                if (sl->s[j].state != S_IDLE) {
                    open++;
                    eng_session_close(&sl->s[j], FH_FEED_CLOSE_SHUTDOWN, false);
                }
            }
        }
    }
    log_info("engine stopping: closing connections", "connections=%zu", open);
    eng_maybe_finish_stop(e);
}

void fh_engine_free(struct fh_engine *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_venues; i++) {
        struct venue *v = &e->venues[i];
        if (v->parser_inited)
            fh_venue_parser_release(&v->parser);
        eng_bf_release(v);
        venue_unplan(v);
        fh_budget_release(&v->budget);
        free(v->meta_to_cfg);
        free(v->natives);
        free(v->sym);
        free(v->tracks);
    }
    fh_gap_list_release(&e->gaps);
    fh_buf_release(&e->scratch);
    free(e);
}

/* ---- views -------------------------------------------------------------------------------- */

int fh_engine_ready(void *engine, char *why, size_t whylen)
{
    struct fh_engine *e = engine;
    if (__atomic_load_n(&e->stopping, __ATOMIC_RELAXED)) {
        snprintf(why, whylen, "stopping");
        return 0;
    }
    if (fh_sink_is_fatal(e->cfg.sink)) {
        snprintf(why, whylen, "sink failed");
        return 0;
    }
    for (size_t i = 0; i < e->n_venues; i++) {
        const struct venue *v = &e->venues[i];
        int64_t n = __atomic_load_n(&v->st.streaming_slots, __ATOMIC_RELAXED);
        if (n < (int64_t)v->n_slots) {
            snprintf(why, whylen, "%s: %lld of %zu connections streaming", v->name, (long long)n,
                     v->n_slots);
            return 0;
        }
    }
    snprintf(why, whylen, "ok");
    return 1;
}

const struct fh_gap_list *fh_engine_gaps(const struct fh_engine *e)
{
    return &e->gaps;
}

const struct fh_feed_venue_stats *fh_engine_venue_stats(const struct fh_engine *e, size_t venue)
{
    return venue < e->n_venues ? &e->venues[venue].st : NULL;
}

const struct fh_engine_stats *fh_engine_stats(const struct fh_engine *e)
{
    return &e->st;
}

size_t fh_engine_slots(const struct fh_engine *e, size_t venue)
{
    return venue < e->n_venues ? e->venues[venue].n_slots : 0;
}

void fh_engine_test_tick(struct fh_engine *e)
{
    eng_tick_cb(&e->tick);
}

void fh_engine_test_resume(struct fh_engine *e)
{
    eng_resume_cb(&e->resume);
}
