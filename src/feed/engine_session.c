/*
 * engine_session.c - the engine's connection slots and sessions (engine.c has the vocabulary
 * and the state machine): closing, streaming, subscribing, the WebSocket callbacks other than
 * messages, reconnects with backoff, budget and breaker, connecting, and the timers
 * (liveness, rotation, backpressure resume, sink polling).
 */
#include "feed/engine_int.h"

static const char *const sess_state_names[] = {"idle", "connecting", "subscribing", "streaming",
                                               "closing"};

static void slot_schedule(struct slot *sl, int64_t delay_ms, bool replacement);

/* ---- closing a session -------------------------------------------------------------------- */

/* Closes s for reason (our own decision). abort: drop at once (the peer is not answering). */
void eng_session_close(struct session *s, enum fh_feed_close reason, bool abort)
{
    if (s->state == S_IDLE)
        return;
    if (!s->local_reason_set) {
        s->local_reason_set = true;
        s->local_reason = reason;
        s->close_idle_ns = eng_now(s->slot->v->e) - s->last_rx_ns;
    }
    s->state = S_CLOSING;
    if (abort)
        fh_ws_abort(&s->ws);
    else
        fh_ws_close(&s->ws, reason == FH_FEED_CLOSE_SHUTDOWN ? 1001 : 1000,
                    fh_feed_close_name(reason));
}

/* ---- streaming ---------------------------------------------------------------------------- */

void eng_start_replacement(struct slot *sl, const char *why)
{
    struct venue *v = sl->v;
    if (sl->nxt >= 0 || sl->cur < 0 || v->e->stopping)
        return;
    log_info("replacing connection", "venue=%s slot=%zu conn=%lld why=%s", v->name, sl->index,
             (long long)sl->s[sl->cur].conn_id, why);
    sl->s[sl->cur].rotate_at_ns = 0;
    eng_slot_attempt(sl, true);
}

static void set_streaming(struct session *s, int64_t now)
{
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    s->state = S_STREAMING;
    s->streaming_ns = now;
    enum fh_breaker_state before = v->breaker.state;
    fh_breaker_success(&v->breaker);
    if (before != FH_BREAKER_CLOSED)
        log_info("circuit breaker closed", "venue=%s previous=%s", v->name,
                 fh_breaker_state_name(before));
    update_breaker_gauge(v);
    if (v->can_rotate && v->cfg.lifetime_ms > 0) {
        int64_t life = v->cfg.lifetime_ms - fh_rng_upto(&e->rng, v->cfg.lifetime_jitter_ms);
        if (life < 1)
            life = 1;
        s->rotate_at_ns = s->connected_ns + life * NS_PER_MS;
    }
    log_info("streaming", "venue=%s slot=%zu conn=%lld symbols=%zu refused=%zu", v->name, sl->index,
             (long long)s->conn_id, sl->n_syms, s->n_refused);
    if (sl->nxt == s->idx) {
        if (sl->cur >= 0 && sl->s[sl->cur].state == S_STREAMING) {
            fh_rotation_begin(&sl->rot, v->tracks + sl->first_track, sl->n_tracks,
                              now + v->cfg.rotation_timeout_ms * NS_PER_MS);
            log_info("rotation overlap started", "venue=%s slot=%zu old=%lld new=%lld pending=%zu",
                     v->name, sl->index, (long long)sl->s[sl->cur].conn_id, (long long)s->conn_id,
                     sl->rot.pending);
            if (fh_rotation_complete(&sl->rot, now))
                eng_finish_rotation(sl, now);
        } else {
            /* The old connection is gone already: the replacement simply takes over. */
            if (sl->cur >= 0 && sl->s[sl->cur].state != S_IDLE)
                eng_session_close(&sl->s[sl->cur], FH_FEED_CLOSE_ROTATED, false);
            sl->cur = sl->nxt;
            sl->nxt = -1;
        }
    }
    update_streaming(v);
}

void eng_finish_rotation(struct slot *sl, int64_t now)
{
    struct venue *v = sl->v;
    struct session *old = &sl->s[sl->cur], *nw = &sl->s[sl->nxt];
    bool timed_out = sl->rot.pending > 0;
    log_info("rotation complete",
             "venue=%s slot=%zu old=%lld new=%lld moved=%zu unmoved=%zu "
             "timed_out=%s overlap_ms=%lld",
             v->name, sl->index, (long long)old->conn_id, (long long)nw->conn_id, sl->rot.moved,
             sl->rot.pending, timed_out ? "true" : "false",
             (long long)((now - nw->streaming_ns) / NS_PER_MS));
    fh_rotation_end(&sl->rot, v->tracks + sl->first_track, sl->n_tracks);
    sl->cur = sl->nxt;
    sl->nxt = -1;
    count(&v->st.rotations, 1);
    eng_session_close(old, FH_FEED_CLOSE_ROTATED, false);
    update_streaming(v);
}

/* ---- subscribing -------------------------------------------------------------------------- */

static bool slot_has_history(const struct slot *sl)
{
    for (size_t i = 0; i < sl->n_tracks; i++) {
        if (sl->v->tracks[sl->first_track + i].has_last)
            return true;
    }
    return false;
}

static int send_subscribe(struct session *s, int64_t now)
{
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    struct fh_sub_spec spec = {
        .symbols = v->natives + sl->first_sym,
        .n_symbols = sl->n_syms,
        .channels = FH_CH_TRADE,
        /* After a reconnect Kraken v2 sends the last trades again, so the overlap with what
         * we already have is deduplicated by id and nothing in it is lost. */
        .snapshot = v->cfg.ops->caps.snapshot_on_resubscribe && slot_has_history(sl),
        .time_us = v->cfg.time_us,
        .req_id = ++e->next_req_id,
    };
    fh_buf_reset(&e->scratch);
    int rc = v->cfg.ops->build_subscribe(&spec, &e->scratch);
    if (rc == 0)
        rc = fh_ws_send_text(&s->ws, e->scratch.data, e->scratch.len);
    if (rc != 0)
        return rc;
    memset(s->sub, SUB_PENDING, sl->n_syms);
    s->n_acked = 0;
    s->n_refused = 0;
    s->sub_req_id = spec.req_id;
    s->sub_sent_ns = now;
    s->state = S_SUBSCRIBING;
    log_debug("subscribing", "venue=%s slot=%zu conn=%lld symbols=%zu snapshot=%s req_id=%lld",
              v->name, sl->index, (long long)s->conn_id, sl->n_syms,
              spec.snapshot ? "true" : "false", (long long)spec.req_id);
    return 0;
}

/* The slot symbol index of a native name, or -1. Acks are rare: a linear scan is fine. */
static long slot_symbol(const struct slot *sl, struct fh_str native)
{
    for (size_t i = 0; i < sl->n_syms; i++) {
        if (fh_str_eq(sl->v->natives[sl->first_sym + i], native))
            return (long)i;
    }
    return -1;
}

static void subscription_progress(struct session *s, int64_t now)
{
    struct slot *sl = s->slot;
    if (s->state != S_SUBSCRIBING || s->n_acked + s->n_refused < sl->n_syms)
        return;
    if (s->n_acked == 0) {
        log_error("every subscription was refused", "venue=%s slot=%zu conn=%lld", sl->v->name,
                  sl->index, (long long)s->conn_id);
        eng_session_close(s, FH_FEED_CLOSE_SUBSCRIBE_ERROR, false);
        return;
    }
    set_streaming(s, now);
}

void eng_on_ack(struct session *s, const struct fh_venue_msg *m, int64_t now)
{
    long i = slot_symbol(s->slot, m->symbol);
    if (i < 0 || s->sub[i] != SUB_PENDING)
        return;
    s->sub[i] = SUB_ACKED;
    s->n_acked++;
    subscription_progress(s, now);
}

void eng_on_request_error(struct session *s, const struct fh_venue_msg *m, int64_t now)
{
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_logq q1, q2;
    count(&v->st.subscription_errors, 1);
    long i = m->symbol.n > 0 ? slot_symbol(sl, m->symbol) : -1;
    uint64_t sup = 0;
    bool log_it = fh_ratelimit_allow(&v->rl_sub, now, &sup);
    if (i >= 0) {
        /* A refused symbol is reported and left alone on this connection: retrying it at once
         * would only be refused again. The next connection of the slot asks again. */
        if (log_it)
            log_warn("subscription refused",
                     "venue=%s conn=%lld symbol=%s error=%s suppressed=%llu", v->name,
                     (long long)s->conn_id, fh_logq_n(&q1, m->symbol.p, m->symbol.n),
                     fh_logq_n(&q2, m->text.p, m->text.n), (unsigned long long)sup);
        if (s->sub[i] == SUB_PENDING) {
            s->sub[i] = SUB_REFUSED;
            s->n_refused++;
            subscription_progress(s, now);
        }
        return;
    }
    if (log_it)
        log_warn("request refused", "venue=%s conn=%lld req_id=%lld error=%s suppressed=%llu",
                 v->name, (long long)s->conn_id, m->has_req_id ? (long long)m->req_id : -1LL,
                 fh_logq_n(&q2, m->text.p, m->text.n), (unsigned long long)sup);
    if (s->state == S_SUBSCRIBING && m->has_req_id && m->req_id == s->sub_req_id)
        eng_session_close(s, FH_FEED_CLOSE_SUBSCRIBE_ERROR, false);
}

static void on_ping(struct fh_ws *ws, int64_t mono_ns)
{
    struct session *s = ws->data;
    s->last_rx_ns = mono_ns;
}

static void on_pong(struct fh_ws *ws, const uint8_t *payload, size_t len, int64_t mono_ns)
{
    (void)payload;
    (void)len;
    struct session *s = ws->data;
    s->last_rx_ns = mono_ns;
    s->ping_out = false;
}

static void on_open(struct fh_ws *ws)
{
    struct session *s = ws->data;
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    int64_t now = eng_now(v->e);
    s->connected_ns = now;
    s->last_rx_ns = now;
    count(&v->st.connects, 1);
    if (v->e->stopping) {
        eng_session_close(s, FH_FEED_CLOSE_SHUTDOWN, false);
        return;
    }
    if (v->cfg.ops->caps.subscribe_in_url) {
        /* The URL names the streams (combined streams): streaming at once. */
        set_streaming(s, now);
        return;
    }
    s->state = S_SUBSCRIBING;
    int rc = send_subscribe(s, now);
    if (rc != 0) {
        log_error("cannot send the subscription", "venue=%s conn=%lld error=\"%s\"", v->name,
                  (long long)s->conn_id, fh_strerror(rc));
        eng_session_close(s, FH_FEED_CLOSE_ERROR, false);
    }
    update_streaming(v);
}

/* How long after maintenance a drop still counts as part of it (Kraken: reconnect no faster
 * than every 5 s after maintenance; connections are often cut as the engine comes back). */
#define AFTER_MAINTENANCE_NS (60 * INT64_C(1000000000))

static enum fh_retry_cause retry_cause(const struct session *s, const struct venue *v,
                                       const struct fh_ws_close_info *info, int64_t now)
{
    if (info->reason == FH_WS_CLOSE_HANDSHAKE &&
        (info->http_status == 429 || info->http_status == 403 || info->http_status == 418))
        return FH_RETRY_THROTTLED;
    if (v->maintenance || s->saw_maintenance ||
        (v->maintenance_end_ns != 0 && now - v->maintenance_end_ns < AFTER_MAINTENANCE_NS))
        return FH_RETRY_MAINTENANCE;
    if (s->server_shutdown)
        return FH_RETRY_SERVER_ROTATE;
    return FH_RETRY_FAILURE;
}

static const char *retry_cause_name(enum fh_retry_cause c)
{
    switch (c) {
    case FH_RETRY_FAILURE:
        return "failure";
    case FH_RETRY_THROTTLED:
        return "throttled";
    case FH_RETRY_MAINTENANCE:
        return "maintenance";
    case FH_RETRY_SERVER_ROTATE:
        return "server_rotate";
    }
    return "unknown";
}

static void schedule_reconnect(struct slot *sl, struct session *s,
                               const struct fh_ws_close_info *info, enum fh_conn_outcome outcome,
                               int64_t now, bool replacement)
{
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    enum fh_retry_cause cause = retry_cause(s, v, info, now);
    int64_t delay = fh_backoff_next_ms(&sl->backoff, &e->cfg.retry, cause, outcome, &e->rng);
    if (cause == FH_RETRY_THROTTLED && info->retry_after_s > 0 &&
        info->retry_after_s * 1000 > delay)
        delay = info->retry_after_s * 1000;
    log_debug("reconnect scheduled",
              "venue=%s slot=%zu conn=%lld outcome=%s cause=%s attempt=%u ceiling_ms=%lld "
              "delay_ms=%lld",
              v->name, sl->index, (long long)s->conn_id, fh_conn_outcome_name(outcome),
              retry_cause_name(cause), sl->backoff.exponent, (long long)sl->backoff.ceiling_ms,
              (long long)delay);
    slot_schedule(sl, delay, replacement);
}

static void on_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    struct session *s = ws->data;
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    int64_t now = eng_now(e);
    enum sess_state prev = s->state;
    bool streamed = s->streaming_ns != 0;
    enum fh_conn_outcome outcome =
        fh_conn_outcome(&e->cfg.retry, s->streaming_ns, s->got_data, now);
    enum fh_feed_close why = s->local_reason_set && info->reason == FH_WS_CLOSE_LOCAL
                                 ? s->local_reason
                                 : map_ws_reason(info->reason);
    if (s->local_reason_set && (s->local_reason == FH_FEED_CLOSE_WATCHDOG ||
                                s->local_reason == FH_FEED_CLOSE_PONG_TIMEOUT ||
                                s->local_reason == FH_FEED_CLOSE_SUBSCRIBE_TIMEOUT))
        why = s->local_reason; /* our decision, whatever the socket said afterwards */
    count(&v->st.disconnects[why], 1);
    s->state = S_IDLE;
    s->holding = false;
    s->msg_seen = false;
    s->held_done = 0;
    s->checked = false;
    s->ping_out = false;
    s->rotate_at_ns = 0;

    bool expected = why == FH_FEED_CLOSE_ROTATED || why == FH_FEED_CLOSE_SHUTDOWN;
    uint64_t sup = 0;
    if (expected || fh_ratelimit_allow(&v->rl_conn, now, &sup)) {
        struct fh_logq q1, q2;
        /* Silence is measured from the upgrade or the last frame since: a connection that
         * never opened received nothing and has no silence to report ("-"). */
        char idle[24] = "-";
        if (s->connected_ns != 0)
            snprintf(idle, sizeof(idle), "%lld",
                     s->local_reason_set ? (long long)(s->close_idle_ns / NS_PER_MS)
                                         : (long long)((now - s->last_rx_ns) / NS_PER_MS));
        FH_LOG_AT(expected ? FH_LOG_INFO : FH_LOG_WARN, "connection closed",
                  "venue=%s slot=%zu conn=%lld reason=%s state=%s http_status=%d peer_code=%u "
                  "peer_reason=%s streamed_ms=%lld idle_ms=%s outcome=%s detail=%s "
                  "suppressed=%llu",
                  v->name, sl->index, (long long)s->conn_id, fh_feed_close_name(why),
                  sess_state_names[prev], info->http_status, (unsigned)info->peer_code,
                  fh_logq(&q1, info->peer_reason),
                  streamed ? (long long)((now - s->streaming_ns) / NS_PER_MS) : 0LL, idle,
                  fh_conn_outcome_name(outcome), fh_logq(&q2, info->message),
                  (unsigned long long)sup);
    }
    if (!streamed && !expected) {
        enum fh_breaker_state before = v->breaker.state;
        fh_breaker_failure(&v->breaker, now);
        if (v->breaker.state != before)
            log_warn("circuit breaker open", "venue=%s failures=%u open_ms=%lld trips=%llu",
                     v->name, v->breaker.failures, (long long)e->cfg.breaker_open_ms,
                     (unsigned long long)v->breaker.trips);
    } else if (!streamed) {
        fh_breaker_cancel(&v->breaker);
    }
    update_breaker_gauge(v);
    s->streaming_ns = 0;
    s->connected_ns = 0;

    if (e->stopping) {
        update_streaming(v);
        eng_maybe_finish_stop(e);
        return;
    }
    if (sl->nxt == s->idx) {
        /* The replacement failed: keep the old connection, try again later. */
        if (sl->rot.active)
            fh_rotation_end(&sl->rot, v->tracks + sl->first_track, sl->n_tracks);
        sl->nxt = -1;
        if (sl->cur < 0)
            schedule_reconnect(sl, s, info, outcome, now, false);
        else
            schedule_reconnect(sl, s, info, outcome, now, true);
    } else if (sl->cur == s->idx) {
        sl->cur = -1;
        if (sl->nxt >= 0) {
            if (sl->rot.active)
                fh_rotation_end(&sl->rot, v->tracks + sl->first_track, sl->n_tracks);
            if (sl->s[sl->nxt].state == S_STREAMING) {
                sl->cur = sl->nxt;
                sl->nxt = -1;
            }
            /* else: the replacement becomes the connection once it streams */
        } else {
            schedule_reconnect(sl, s, info, outcome, now, false);
        }
    }
    s->server_shutdown = false;
    s->saw_maintenance = false;
    update_streaming(v);
}

static const struct fh_ws_cbs ws_cbs = {
    .on_open = on_open,
    .on_message = eng_on_message,
    .on_pong = on_pong,
    .on_ping = on_ping,
    .on_close = on_close,
};

/* ---- connecting --------------------------------------------------------------------------- */

static int session_ws_init(struct session *s)
{
    if (s->ws_inited)
        return 0;
    struct fh_engine *e = s->slot->v->e;
    struct fh_ws_config wc;
    fh_ws_config_default(&wc);
    wc.max_message = e->cfg.max_message_bytes;
    wc.connect_timeout_ms = (uint32_t)e->cfg.connect_timeout_ms;
    wc.handshake_timeout_ms = (uint32_t)e->cfg.handshake_timeout_ms;
    int rc = fh_ws_init(&s->ws, e->loop, &wc, &ws_cbs);
    if (rc != 0)
        return rc;
    s->ws.data = s;
    s->ws_inited = true;
    return 0;
}

static void slot_timer_cb(uv_timer_t *t)
{
    struct slot *sl = t->data;
    eng_slot_attempt(sl, sl->timer_replacement);
}

static void slot_schedule(struct slot *sl, int64_t delay_ms, bool replacement)
{
    if (sl->v->e->stopping)
        return;
    sl->timer_replacement = replacement;
    uv_timer_start(&sl->timer, slot_timer_cb, (uint64_t)(delay_ms > 0 ? delay_ms : 0), 0);
}

/* Starts a connection for the slot (its primary, or a replacement of the current one), if
 * the venue's breaker and budget allow it now; otherwise retries when they will. */
void eng_slot_attempt(struct slot *sl, bool replacement)
{
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    if (e->stopping)
        return;
    if (replacement && sl->cur < 0)
        replacement = false; /* nothing left to replace: connect the slot afresh */
    if (replacement ? sl->nxt >= 0 : (sl->cur >= 0 || sl->nxt >= 0))
        return; /* that connection exists or is being made */
    int64_t now = eng_now(e);
    int64_t wait = fh_breaker_allow(&v->breaker, now);
    update_breaker_gauge(v);
    if (wait > 0) {
        slot_schedule(sl, wait / NS_PER_MS + 1, replacement);
        return;
    }
    wait = fh_budget_take(&v->budget, now);
    if (wait > 0) {
        fh_breaker_cancel(&v->breaker);
        count(&v->st.budget_denied, 1);
        uint64_t sup = 0;
        if (fh_ratelimit_allow(&v->rl_conn, now, &sup))
            log_warn("connection budget exhausted, waiting",
                     "venue=%s wait_ms=%lld budget=%u "
                     "window_ms=%lld suppressed=%llu",
                     v->name, (long long)(wait / NS_PER_MS), v->cfg.budget,
                     (long long)v->cfg.budget_window_ms, (unsigned long long)sup);
        slot_schedule(sl, wait / NS_PER_MS + 1, replacement);
        return;
    }
    int idx = -1;
    for (int k = 0; k < 2; k++) {
        if (sl->s[k].state == S_IDLE && k != sl->cur) {
            idx = k;
            break;
        }
    }
    if (idx < 0) { /* the other session is still closing: try again shortly */
        fh_breaker_cancel(&v->breaker);
        slot_schedule(sl, 50, replacement);
        return;
    }
    struct session *s = &sl->s[idx];
    int rc = session_ws_init(s);
    if (rc != 0) {
        log_error("cannot set up a connection", "venue=%s error=\"%s\"", v->name, fh_strerror(rc));
        fh_breaker_cancel(&v->breaker);
        slot_schedule(sl, 1000, replacement);
        return;
    }
    s->conn_id = ++e->next_conn_id;
    s->seq = 0;
    s->state = S_CONNECTING;
    s->local_reason_set = false;
    s->server_shutdown = false;
    s->saw_maintenance = false;
    s->ping_out = false;
    s->streaming_ns = 0;
    s->got_data = false;
    s->connected_ns = 0;
    s->rotate_at_ns = 0;
    s->holding = false;
    s->msg_seen = false;
    s->held_done = 0;
    s->checked = false;
    count(&v->st.connect_attempts, 1);
    static const struct fh_ws_header hdr[] = {{"User-Agent", USER_AGENT}};
    /* Schemes are case-insensitive. */
    bool wss = strncasecmp(sl->url, "wss://", 6) == 0;
    rc = e->cfg.test_connect != NULL
             ? e->cfg.test_connect(e->cfg.test_ctx, &s->ws, sl->url)
             : fh_ws_connect(&s->ws, sl->url, wss ? e->cfg.tls : NULL, hdr, 1);
    if (rc != 0) {
        s->state = S_IDLE;
        log_error("cannot start a connection", "venue=%s slot=%zu error=\"%s\" detail=\"%s\"",
                  v->name, sl->index, fh_strerror(rc), fh_ws_errmsg(&s->ws));
        fh_breaker_failure(&v->breaker, now);
        update_breaker_gauge(v);
        slot_schedule(sl,
                      fh_backoff_next_ms(&sl->backoff, &e->cfg.retry, FH_RETRY_FAILURE,
                                         FH_CONN_FAILED, &e->rng),
                      replacement);
        return;
    }
    if (replacement)
        sl->nxt = idx;
    else
        sl->cur = idx;
    log_debug("connecting", "venue=%s slot=%zu conn=%lld replacement=%s", v->name, sl->index,
              (long long)s->conn_id, replacement ? "true" : "false");
    if (e->cfg.test_connect != NULL)
        on_open(&s->ws); /* in memory: open at once, as a real connection's callback would */
}

/* ---- timers: liveness, rotation, backpressure, sink polling ------------------------------- */

static void check_session(struct session *s, int64_t now)
{
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    const struct fh_feed_config *c = &e->cfg;
    if (s->state == S_SUBSCRIBING && now - s->sub_sent_ns >= c->subscribe_timeout_ms * NS_PER_MS) {
        log_warn("subscriptions not acknowledged in time", "venue=%s conn=%lld acked=%zu of=%zu",
                 v->name, (long long)s->conn_id, s->n_acked, sl->n_syms);
        eng_session_close(s, FH_FEED_CLOSE_SUBSCRIBE_TIMEOUT, true);
        return;
    }
    if (s->state != S_SUBSCRIBING && s->state != S_STREAMING)
        return;
    int64_t idle = now - s->last_rx_ns;
    /* Checked every tick: close once the silence would pass the period before the next
     * check, so a stalled connection is replaced within watchdog_ms, never later. */
    if (idle + e->tick_ms * NS_PER_MS > c->watchdog_ms * NS_PER_MS) {
        eng_session_close(s, FH_FEED_CLOSE_WATCHDOG, true);
        return;
    }
    if (s->ping_out && now - s->ping_sent_ns >= c->pong_timeout_ms * NS_PER_MS) {
        eng_session_close(s, FH_FEED_CLOSE_PONG_TIMEOUT, true);
        return;
    }
    if (c->ping_interval_ms > 0 && !s->ping_out && idle >= c->ping_interval_ms * NS_PER_MS) {
        int rc;
        if (v->cfg.ops->caps.ws_ping) {
            rc = fh_ws_ping(&s->ws, "fh", 2);
            s->ping_req = 0;
        } else {
            s->ping_req = ++e->next_req_id;
            fh_buf_reset(&e->scratch);
            rc = v->cfg.ops->build_ping(s->ping_req, &e->scratch);
            if (rc == 0)
                rc = fh_ws_send_text(&s->ws, e->scratch.data, e->scratch.len);
        }
        if (rc == 0) {
            s->ping_out = true;
            s->ping_sent_ns = now;
        }
    }
    if (s->state == S_STREAMING && sl->cur == s->idx && sl->nxt < 0 && s->rotate_at_ns != 0 &&
        now >= s->rotate_at_ns)
        eng_start_replacement(sl, "lifetime");
}

void eng_tick_cb(uv_timer_t *t)
{
    struct fh_engine *e = t->data;
    int64_t now = eng_now(e);
    bool liveness = !e->paused && !e->probing;
    eng_bp_account(e, now);
    for (size_t vi = 0; vi < e->n_venues; vi++) {
        struct venue *v = &e->venues[vi];
        for (size_t i = 0; i < v->n_slots; i++) {
            struct slot *sl = &v->slots[i];
            for (int k = 0; k < 2 && liveness; k++)
                check_session(&sl->s[k], now);
            if (sl->rot.active && fh_rotation_complete(&sl->rot, now))
                eng_finish_rotation(sl, now);
        }
        gauge_set(&v->st.budget_available, fh_budget_available(&v->budget, now));
        if (v->bf.on && !e->stopping) {
            if (fh_backfill_tick(&v->bf.bf, now) > 0)
                v->bf.work = true;
            if (v->bf.work)
                eng_bf_pump(v);
            else
                eng_bf_publish(v, now);
        }
        /* A probe cannot be half-open forever: fh_breaker_allow moves OPEN on. */
        update_breaker_gauge(v);
    }
}

void eng_resume_cb(uv_timer_t *t)
{
    struct fh_engine *e = t->data;
    fh_sink_poll(e->cfg.sink);
    if (e->stopping)
        return;
    int64_t now = eng_now(e);
    eng_bp_account(e, now);
    e->paused = false;
    e->probing = true; /* the episode (and the gauge) ends when the sink takes the held */
    for (size_t vi = 0; vi < e->n_venues; vi++) {
        struct venue *v = &e->venues[vi];
        for (size_t i = 0; i < v->n_slots; i++) {
            for (int k = 0; k < 2; k++) {
                struct session *s = &v->slots[i].s[k];
                s->last_rx_ns = now; /* our pause is not the server's silence */
                if (s->holding && s->state != S_IDLE)
                    fh_ws_resume(&s->ws);
            }
        }
    }
    uv_timer_stop(&e->resume);
}

/* The sink's wake descriptor is readable (e.g. delivery reports arrived while the loop was
 * idle): served now rather than at the next tick. */
void eng_sink_wake_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct fh_engine *e = h->data;
    fh_sink_wake(e->cfg.sink);
}

void eng_check_cb(uv_check_t *c)
{
    struct fh_engine *e = c->data;
    fh_sink_poll(e->cfg.sink);
    if (e->cfg.recorder != NULL)
        fh_recorder_poll(e->cfg.recorder);
    for (size_t vi = 0; vi < e->n_venues; vi++)
        if (e->venues[vi].bf.work && !e->stopping)
            eng_bf_pump(&e->venues[vi]);
    if (e->probing && !e->paused) {
        /* The sink took everything that was held, or nothing was written since: either way
         * the pause is over. Its length is accounted once. */
        bool any_holding = false;
        for (size_t vi = 0; vi < e->n_venues && !any_holding; vi++)
            for (size_t i = 0; i < e->venues[vi].n_slots && !any_holding; i++)
                any_holding =
                    e->venues[vi].slots[i].s[0].holding || e->venues[vi].slots[i].s[1].holding;
        if (!any_holding) {
            e->probing = false;
        }
    }
    if (!e->paused && !e->probing && e->paused_since_ns != 0)
        eng_bp_end(e, eng_now(e));
    if (fh_sink_is_fatal(e->cfg.sink) && !e->stopping) {
        log_error("the sink failed: stopping", "sink=%s error=\"%s\"", e->cfg.sink->ops->name,
                  e->cfg.sink->fatal_msg);
        fh_engine_stop(e);
    }
}
