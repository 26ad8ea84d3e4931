/*
 * engine_msg.c - the engine's per-message path: a WebSocket message is parsed by the venue's
 * parser, its events handled, its trades checked against their track (gaps, duplicates) and
 * written to the sink; a full sink pauses reading (backpressure) and the message is held and
 * delivered again.
 */
#include "feed/engine_int.h"

/* ---- the message path --------------------------------------------------------------------- */

static void report_gap(struct venue *v, struct session *s, size_t ti, const struct fh_trade *t,
                       int64_t first, int64_t n)
{
    struct fh_engine *e = v->e;
    struct fh_gap g = {.track = (uint32_t)ti,
                       .first_id = first,
                       .count = n,
                       .detected_ns = t->receive_time_ns,
                       .connection_id = s->conn_id};
    fh_gap_list_add(&e->gaps, &g);
    count(&v->st.gaps, 1);
    count(&v->st.missing, (uint64_t)n);
    uint64_t sup = 0;
    if (fh_ratelimit_allow(&v->rl_gap, t->receive_mono_ns, &sup)) {
        struct fh_logq q;
        log_warn("trade gap",
                 "venue=%s symbol=%s channel=%s first_missing=%lld missing=%lld "
                 "conn=%lld suppressed=%llu",
                 v->name, fh_logq_n(&q, t->native_symbol.p, t->native_symbol.n),
                 t->kind == FH_KIND_AGG_TRADE ? "aggTrade" : "trade", (long long)first,
                 (long long)n, (long long)s->conn_id, (unsigned long long)sup);
    }
}

/*
 * Consumes the trades of one message from s->held_done on. Each trade is first checked (the
 * rotation overlap, its track: duplicates dropped, gaps reported and handed to backfill,
 * lineage stamped), once; then output: written, or held by backfill while its symbol's gap is
 * filled. Returns 0, or FH_ENOSPACE when the sink refused: s->held_done then says how many
 * were consumed, and s->checked that the trade at held_done was checked already (its output
 * is what is left, after a redelivery).
 */
static int handle_trades(struct session *s, const struct fh_venue_msg *m,
                         const struct fh_ws_msg *wm)
{
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    const struct fh_symbols *meta = v->cfg.metadata;
    enum fh_rot_source from = sl->nxt == s->idx ? FH_ROT_NEW : FH_ROT_OLD;
    size_t written = 0;
    int rc = 0;
    for (size_t i = s->held_done; i < m->n_trades; i++) {
        struct fh_trade *t = &m->trades[i];
        /* The parser looked the symbol up already (it is the engine's metadata table). */
        int32_t ci = -1;
        if ((t->has & FH_HAS_SYMBOL_INDEX) && t->symbol_index < meta->n) {
            ci = v->meta_to_cfg[t->symbol_index];
        } else {
            const struct fh_symbol *sym = fh_symbols_find(meta, t->native_symbol);
            ci = sym != NULL ? v->meta_to_cfg[sym - meta->items] : -1;
        }
        int ch = channel_index(v, t->kind);
        if (ci < 0 || ch < 0) {
            count(&v->st.unexpected, 1);
            continue;
        }
        size_t ti = (size_t)ci * v->n_ch + (size_t)ch;
        bool tracked = v->has_ids && (t->has & FH_HAS_TRADE_ID);
        if (!s->checked) {
            enum fh_track_verdict verdict = FH_TRACK_NEXT;
            int64_t gap_first = 0, gap_n = 0;
            if (tracked) {
                struct fh_track *tr = &v->tracks[ti];
                if (sl->rot.active && ti >= sl->first_track &&
                    ti < sl->first_track + sl->n_tracks &&
                    fh_rotation_trade(&sl->rot, tr, from, t->trade_id) == FH_ROT_DROP) {
                    count(&v->st.duplicates[FH_FEED_DUP_ROTATION], 1);
                    continue;
                }
                verdict = fh_track_check(tr, t->trade_id, &gap_first, &gap_n);
                if (verdict == FH_TRACK_DUP) {
                    enum fh_feed_dup d = t->source == FH_SOURCE_SNAPSHOT ? FH_FEED_DUP_SNAPSHOT
                                         : sl->rot.active                ? FH_FEED_DUP_ROTATION
                                                                         : FH_FEED_DUP_LIVE;
                    count(&v->st.duplicates[d], 1);
                    continue;
                }
            }
            t->receive_time_ns = wm->recv_realtime_ns;
            t->receive_mono_ns = wm->recv_monotonic_ns;
            t->connection_id = s->conn_id;
            t->sequence = s->seq + 1;
            if (verdict == FH_TRACK_GAP) {
                report_gap(v, s, ti, t, gap_first, gap_n);
                eng_bf_gap(v, s, ti, t, gap_first, gap_n);
            }
            if (tracked)
                eng_bf_seen(v, ti, t);
            s->checked = true;
        }
        bool out = false;
        if (tracked && v->bf.on) {
            rc = eng_bf_output(v, ti, (size_t)ci, t, &out);
        } else {
            rc = fh_sink_write(e->cfg.sink, t);
            out = rc == 0;
        }
        if (rc == FH_ENOSPACE) {
            s->held_done = i;
            break;
        }
        s->checked = false;
        e->probing = false;
        if (rc == 0) {
            s->seq++;
            written += out;
            if (out)
                count_sym(v, (size_t)ci, t);
        } else {
            count(&v->st.sink_errors, 1);
        }
    }
    if (written > 0) {
        count(&v->st.trades, written);
        uint64_t lat = (uint64_t)(eng_now(e) - wm->recv_monotonic_ns);
        for (size_t k = 0; k < written; k++)
            fh_histogram_observe(&v->st.latency, lat);
    }
    if (rc == FH_ENOSPACE)
        return FH_ENOSPACE;
    s->held_done = 0;
    return 0;
}

static bool json_ok(const struct fh_venue_msg *m, int rc)
{
    return rc == 0 ||
           (m->reject != FH_REJ_OVERSIZE && m->reject != FH_REJ_UTF8 && m->reject != FH_REJ_JSON &&
            m->reject != FH_REJ_TOO_MANY_TOKENS && m->reject != FH_REJ_BINARY_FRAME);
}

/*
 * Time paused, as the metric and the exit summary see it: st.backpressure_ns is the ended
 * episodes plus the running one up to now. Only this thread writes it (one relaxed store, so
 * the metrics thread reads a value that never goes backwards); it is brought up to date when
 * a pause starts, at every resume probe and tick while it runs, when it ends, and at stop.
 */
void eng_bp_account(struct fh_engine *e, int64_t now)
{
    uint64_t v = e->paused_ended_ns;
    if (e->paused_since_ns != 0 && now > e->paused_since_ns)
        v += (uint64_t)(now - e->paused_since_ns);
    if (v > e->st.backpressure_ns)
        __atomic_store_n(&e->st.backpressure_ns, v, __ATOMIC_RELAXED);
}

/* The running pause episode ends at now (it ended, or the engine stops). */
void eng_bp_end(struct fh_engine *e, int64_t now)
{
    if (e->paused_since_ns == 0)
        return;
    eng_bp_account(e, now);
    e->paused_ended_ns = e->st.backpressure_ns;
    e->paused_since_ns = 0;
    gauge_set(&e->st.paused, 0);
}

static void pause_engine(struct fh_engine *e, int64_t now)
{
    if (e->paused)
        return;
    e->paused = true;
    gauge_set(&e->st.paused, 1);
    uv_timer_start(&e->resume, eng_resume_cb, RESUME_TICK_MS, 0);
    if (e->probing)
        return; /* the same episode: the sink has not taken anything since the last pause */
    e->paused_since_ns = now;
    eng_bp_account(e, now);
    count(&e->st.backpressure_pauses, 1);
    uint64_t sup = 0;
    if (fh_ratelimit_allow(&e->rl_pause, now, &sup))
        log_warn("sink full: reading paused", "pauses=%llu suppressed=%llu",
                 (unsigned long long)e->st.backpressure_pauses, (unsigned long long)sup);
}

static void on_message_event(struct session *s, const struct fh_venue_msg *m, int64_t now)
{
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_logq q;
    uint64_t sup = 0;
    switch (m->event) {
    case FH_EV_SUBSCRIBED:
        eng_on_ack(s, m, now);
        break;
    case FH_EV_REQUEST_ERROR:
        eng_on_request_error(s, m, now);
        break;
    case FH_EV_PONG:
        if (s->ping_out && (!m->has_req_id || m->req_id == s->ping_req))
            s->ping_out = false;
        break;
    case FH_EV_STATUS:
        if (m->status == FH_STATUS_ONLINE) {
            if (v->maintenance) {
                log_info("exchange online again", "venue=%s conn=%lld", v->name,
                         (long long)s->conn_id);
                v->maintenance_end_ns = now;
            }
            v->maintenance = false;
            s->saw_maintenance = false;
        } else {
            s->saw_maintenance = true;
            if (!v->maintenance)
                log_warn("exchange not trading (maintenance)", "venue=%s conn=%lld status=%d",
                         v->name, (long long)s->conn_id, (int)m->status);
            v->maintenance = true;
        }
        gauge_set(&v->st.maintenance, v->maintenance ? 1 : 0);
        break;
    case FH_EV_SERVER_SHUTDOWN:
        s->server_shutdown = true;
        log_info("server announced shutdown", "venue=%s slot=%zu conn=%lld", v->name, sl->index,
                 (long long)s->conn_id);
        if (sl->cur == s->idx)
            eng_start_replacement(sl, "server_shutdown");
        break;
    case FH_EV_ERROR:
        if (fh_ratelimit_allow(&v->rl_reject, now, &sup))
            log_warn("exchange error", "venue=%s conn=%lld text=%s suppressed=%llu", v->name,
                     (long long)s->conn_id, fh_logq_n(&q, m->text.p, m->text.n),
                     (unsigned long long)sup);
        break;
    default: /* heartbeat, result, unsubscribed, ignored: liveness only */
        break;
    }
}

int eng_on_message(struct fh_ws *ws, const struct fh_ws_msg *wm)
{
    struct session *s = ws->data;
    struct slot *sl = s->slot;
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    if (e->stopping)
        return 0;
    /* A redelivered message keeps its first receive time: never move liveness back. */
    if (wm->recv_monotonic_ns > s->last_rx_ns)
        s->last_rx_ns = wm->recv_monotonic_ns;
    if (e->paused) {
        /* Every connection stops at its next message while the sink is full. */
        s->holding = true;
        return FH_ENOSPACE;
    }
    struct fh_venue_msg m;
    int rc;
    if (!wm->text) {
        /* Every protocol here is JSON in text messages (Binance: "text frames only"): a
         * binary message is a protocol error of that message, never parsed as trades. */
        memset(&m, 0, sizeof(m));
        m.reject = FH_REJ_BINARY_FRAME;
        rc = -1;
    } else if (s->msg_seen && v->held_by == s) {
        /* Redelivered after a hold: the parse is still in the parser's buffers. */
        m = v->held_msg;
        rc = 0;
    } else {
        v->held_by = NULL; /* the parser's buffers are about to be reused */
        /* The client checked a text message's UTF-8: the parser does not again. */
        rc = fh_venue_parse_utf8(&v->parser, (const char *)wm->data, wm->len, &m);
    }
    if (!s->msg_seen) {
        count(&v->st.messages, 1);
        if (e->cfg.recorder != NULL)
            fh_recorder_put(e->cfg.recorder, wm->recv_realtime_ns, s->conn_id, v->cfg.ops->name,
                            (const char *)wm->data, wm->len, json_ok(&m, rc));
    }
    s->msg_seen = false;
    s->holding = false;
    int64_t now = wm->recv_monotonic_ns;
    if (rc < 0) {
        count(&v->st.rejected[m.reject < FH_REJ_COUNT ? m.reject : 0], 1);
        uint64_t sup = 0;
        if (fh_ratelimit_allow(&v->rl_reject, now, &sup)) {
            struct fh_logq q;
            log_warn("message rejected",
                     "venue=%s conn=%lld reason=%s len=%zu head=%s "
                     "suppressed=%llu",
                     v->name, (long long)s->conn_id, fh_reject_name(m.reject), wm->len,
                     fh_logq_n(&q, (const char *)wm->data, wm->len < 120 ? wm->len : 120),
                     (unsigned long long)sup);
        }
        return 0;
    }
    if (!session_is_role(s) || s->state == S_CLOSING) {
        /* A retiring connection: its trades come from its replacement now. */
        if (m.event == FH_EV_TRADES)
            count(&v->st.duplicates[FH_FEED_DUP_ROTATION], m.n_trades);
        return 0;
    }
    if (m.event == FH_EV_TRADES) {
        /* Live trades (not a reconnect snapshot) of a subscribed symbol: this connection
         * proved the venue healthy, whatever happens to it next (policy.h). */
        if (m.n_trades > 0 && m.trades[0].source == FH_SOURCE_LIVE)
            s->got_data = true;
        if (handle_trades(s, &m, wm) == FH_ENOSPACE) {
            s->msg_seen = true;
            s->holding = true;
            v->held_msg = m;
            v->held_by = s;
            pause_engine(e, eng_now(e));
            return FH_ENOSPACE;
        }
    } else {
        on_message_event(s, &m, now);
    }
    if (sl->rot.active && fh_rotation_complete(&sl->rot, now))
        eng_finish_rotation(sl, now);
    return 0;
}
