/*
 * engine.c - connection slots and sessions on the WebSocket client, the per-message path,
 * liveness, reconnects, rotation, backpressure and shutdown (see engine.h).
 *
 * Vocabulary: a *slot* is a fixed share of a venue's symbols; a *session* is one WebSocket
 * connection of a slot (two per slot: while a connection is replaced, the old one and its
 * replacement run side by side). slot->cur is the session that delivers the slot's trades,
 * slot->nxt its replacement while one is being made; a session that is neither is retiring
 * (closing after a rotation) and its messages are ignored.
 *
 * Session states: IDLE -> CONNECTING (DNS, TCP, TLS, upgrade: the client's timeouts) ->
 * SUBSCRIBING (Kraken: until every symbol is acknowledged or refused; Binance subscribes in
 * the URL and goes straight on) -> STREAMING -> CLOSING -> IDLE (on_close). Every failure
 * path ends in on_close, which decides what the slot does next.
 */
#include "feed/engine.h"

#include "feed/shard.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/ws.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS      INT64_C(1000000)
#define RESUME_TICK_MS 1
#define USER_AGENT     "feedhandler/" FH_VERSION

enum sess_state { S_IDLE = 0, S_CONNECTING, S_SUBSCRIBING, S_STREAMING, S_CLOSING };

static const char *const sess_state_names[] = {"idle", "connecting", "subscribing", "streaming",
                                               "closing"};

enum { SUB_PENDING = 0, SUB_ACKED = 1, SUB_REFUSED = 2 };

struct venue;
struct slot;

struct session {
    struct fh_ws ws;
    struct slot *slot;
    int idx;
    bool ws_inited;
    bool ws_released;
    enum sess_state state;
    int64_t conn_id;
    int64_t seq;
    int64_t connected_ns; /* monotonic, at on_open */
    int64_t streaming_ns; /* monotonic, when it started streaming; 0 before */
    bool got_data;        /* delivered live trades: the venue is healthy (policy.h) */
    int64_t last_rx_ns;   /* monotonic, any frame */
    int64_t ping_sent_ns;
    bool ping_out;
    int64_t ping_req;
    int64_t sub_sent_ns;
    int64_t sub_req_id;
    int64_t rotate_at_ns; /* 0: no scheduled replacement */
    uint8_t *sub;         /* per slot symbol: SUB_* */
    size_t n_acked, n_refused;
    bool local_reason_set;
    enum fh_feed_close local_reason;
    bool server_shutdown;
    bool saw_maintenance;
    int64_t close_idle_ns; /* silence measured when we closed it for liveness */
    /* Backpressure: a refused message is held by the client and delivered again. */
    bool holding;     /* we refused the current message */
    bool msg_seen;    /* ... after counting and recording it */
    size_t held_done; /* trades of it already consumed */
};

struct slot {
    struct venue *v;
    size_t index;
    size_t first_sym, n_syms;
    size_t first_track, n_tracks;
    struct session s[2];
    int cur, nxt;
    struct fh_rotation rot;
    struct fh_backoff backoff;
    uv_timer_t timer; /* next attempt */
    bool timer_replacement;
    char *url;
};

struct venue {
    struct fh_engine *e;
    size_t index;
    struct fh_feed_venue_config cfg;
    const char *name; /* fh_trade.venue: metric label and log field */
    struct fh_venue_parser parser;
    bool parser_inited;
    int32_t *meta_to_cfg;
    struct fh_str *natives;
    unsigned ch_bits[2]; /* channel index -> FH_CH_* */
    size_t n_ch;
    struct fh_track *tracks;
    size_t n_tracks;
    struct slot *slots;
    size_t n_slots;
    int64_t n_slots_gauge;
    bool has_ids;
    bool can_rotate;
    struct fh_budget budget;
    struct fh_breaker breaker;
    bool maintenance;
    int64_t maintenance_end_ns; /* when the exchange last came back online, 0: never */
    struct fh_ratelimit rl_reject, rl_gap, rl_conn, rl_sub;
    struct fh_feed_venue_stats st;
};

struct fh_engine {
    uv_loop_t *loop;
    struct fh_feed_config cfg;
    struct venue venues[FH_FEED_MAX_VENUES];
    size_t n_venues;
    struct fh_gap_list gaps;
    struct fh_rng rng;
    int64_t next_conn_id;
    int64_t next_req_id;
    int64_t tick_ms;
    uv_check_t check;
    uv_timer_t tick;
    uv_timer_t resume;
    bool handles_inited;
    int handles_open;
    bool started;
    bool stopping;
    bool closing_handles;
    bool done_called;
    void (*done)(struct fh_engine *e, void *ctx);
    void *done_ctx;
    bool paused;
    bool probing;             /* resumed after a pause, no trade written yet */
    int64_t paused_since_ns;  /* start of the running pause episode, 0: none */
    uint64_t paused_ended_ns; /* total of the episodes that ended */
    struct fh_ratelimit rl_pause;
    struct fh_buf scratch;
    struct fh_engine_stats st;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static void gauge_set(int64_t *cell, int64_t v)
{
    fh_gauge_set(cell, v);
}

static void count(uint64_t *cell, uint64_t v)
{
    fh_counter_add(cell, v);
}

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

static const char *dup_name(enum fh_feed_dup d)
{
    switch (d) {
    case FH_FEED_DUP_LIVE:
        return "live";
    case FH_FEED_DUP_SNAPSHOT:
        return "snapshot";
    case FH_FEED_DUP_ROTATION:
        return "rotation";
    case FH_FEED_DUP_COUNT:
        break;
    }
    return "unknown";
}

static enum fh_feed_close map_ws_reason(enum fh_ws_close_reason r)
{
    switch (r) {
    case FH_WS_CLOSE_LOCAL:
        return FH_FEED_CLOSE_LOCAL;
    case FH_WS_CLOSE_PEER:
        return FH_FEED_CLOSE_PEER;
    case FH_WS_CLOSE_EOF:
        return FH_FEED_CLOSE_EOF;
    case FH_WS_CLOSE_RESET:
        return FH_FEED_CLOSE_RESET;
    case FH_WS_CLOSE_DNS:
        return FH_FEED_CLOSE_DNS;
    case FH_WS_CLOSE_CONNECT:
        return FH_FEED_CLOSE_CONNECT;
    case FH_WS_CLOSE_TLS:
        return FH_FEED_CLOSE_TLS;
    case FH_WS_CLOSE_HANDSHAKE:
        return FH_FEED_CLOSE_HANDSHAKE;
    case FH_WS_CLOSE_PROTOCOL:
        return FH_FEED_CLOSE_PROTOCOL;
    case FH_WS_CLOSE_TIMEOUT:
        return FH_FEED_CLOSE_TIMEOUT;
    case FH_WS_CLOSE_OVERSIZE:
        return FH_FEED_CLOSE_OVERSIZE;
    case FH_WS_CLOSE_BAD_UTF8:
        return FH_FEED_CLOSE_BAD_UTF8;
    case FH_WS_CLOSE_ERROR:
        return FH_FEED_CLOSE_ERROR;
    }
    return FH_FEED_CLOSE_ERROR;
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

static bool session_is_role(const struct session *s)
{
    const struct slot *sl = s->slot;
    return (sl->cur == s->idx) || (sl->nxt == s->idx);
}

static void update_streaming(struct venue *v)
{
    int64_t n = 0, open = 0;
    for (size_t i = 0; i < v->n_slots; i++) {
        struct slot *sl = &v->slots[i];
        if (sl->cur >= 0 && sl->s[sl->cur].state == S_STREAMING)
            n++;
        for (int k = 0; k < 2; k++)
            open += sl->s[k].state >= S_SUBSCRIBING && sl->s[k].state <= S_CLOSING &&
                    sl->s[k].connected_ns != 0;
    }
    gauge_set(&v->st.streaming_slots, n);
    gauge_set(&v->st.connections_open, open);
}

static void update_breaker_gauge(struct venue *v)
{
    gauge_set(&v->st.breaker_state, (int64_t)v->breaker.state);
    __atomic_store_n(&v->st.breaker_trips, v->breaker.trips, __ATOMIC_RELAXED);
}

/* The channel index of a trade kind, or -1 if the venue does not subscribe to it. */
static int channel_index(const struct venue *v, enum fh_trade_kind k)
{
    unsigned bit = k == FH_KIND_AGG_TRADE ? FH_CH_AGG_TRADE : FH_CH_TRADE;
    for (size_t i = 0; i < v->n_ch; i++) {
        if (v->ch_bits[i] == bit)
            return (int)i;
    }
    return -1;
}

/* ---- forward declarations ----------------------------------------------------------------- */

static void slot_attempt(struct slot *sl, bool replacement);
static void slot_schedule(struct slot *sl, int64_t delay_ms, bool replacement);
static void maybe_finish_stop(struct fh_engine *e);
static void finish_rotation(struct slot *sl, int64_t now);
static void resume_cb(uv_timer_t *t);

/* ---- closing a session -------------------------------------------------------------------- */

/* Closes s for reason (our own decision). abort: drop at once (the peer is not answering). */
static void session_close(struct session *s, enum fh_feed_close reason, bool abort)
{
    if (s->state == S_IDLE)
        return;
    if (!s->local_reason_set) {
        s->local_reason_set = true;
        s->local_reason = reason;
        s->close_idle_ns = fh_clock_monotonic_ns() - s->last_rx_ns;
    }
    s->state = S_CLOSING;
    if (abort)
        fh_ws_abort(&s->ws);
    else
        fh_ws_close(&s->ws, reason == FH_FEED_CLOSE_SHUTDOWN ? 1001 : 1000,
                    fh_feed_close_name(reason));
}

/* ---- streaming ---------------------------------------------------------------------------- */

static void start_replacement(struct slot *sl, const char *why)
{
    struct venue *v = sl->v;
    if (sl->nxt >= 0 || sl->cur < 0 || v->e->stopping)
        return;
    log_info("replacing connection", "venue=%s slot=%zu conn=%lld why=%s", v->name, sl->index,
             (long long)sl->s[sl->cur].conn_id, why);
    sl->s[sl->cur].rotate_at_ns = 0;
    slot_attempt(sl, true);
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
                finish_rotation(sl, now);
        } else {
            /* The old connection is gone already: the replacement simply takes over. */
            if (sl->cur >= 0 && sl->s[sl->cur].state != S_IDLE)
                session_close(&sl->s[sl->cur], FH_FEED_CLOSE_ROTATED, false);
            sl->cur = sl->nxt;
            sl->nxt = -1;
        }
    }
    update_streaming(v);
}

static void finish_rotation(struct slot *sl, int64_t now)
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
    session_close(old, FH_FEED_CLOSE_ROTATED, false);
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
        session_close(s, FH_FEED_CLOSE_SUBSCRIBE_ERROR, false);
        return;
    }
    set_streaming(s, now);
}

static void on_ack(struct session *s, const struct fh_venue_msg *m, int64_t now)
{
    long i = slot_symbol(s->slot, m->symbol);
    if (i < 0 || s->sub[i] != SUB_PENDING)
        return;
    s->sub[i] = SUB_ACKED;
    s->n_acked++;
    subscription_progress(s, now);
}

static void on_request_error(struct session *s, const struct fh_venue_msg *m, int64_t now)
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
        session_close(s, FH_FEED_CLOSE_SUBSCRIBE_ERROR, false);
}

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
 * Consumes the trades of one message from s->held_done on. Returns 0, or FH_ENOSPACE when
 * the sink refused a trade: s->held_done then says how many were consumed, and the track
 * and rotation state are as before the refused trade.
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
        const struct fh_symbol *sym = fh_symbols_find(meta, t->native_symbol);
        int32_t ci = sym != NULL ? v->meta_to_cfg[sym - meta->items] : -1;
        int ch = channel_index(v, t->kind);
        if (ci < 0 || ch < 0) {
            count(&v->st.unexpected, 1);
            continue;
        }
        struct fh_track *tr = NULL, saved_tr;
        struct fh_rotation saved_rot = sl->rot;
        size_t ti = (size_t)ci * v->n_ch + (size_t)ch;
        enum fh_track_verdict verdict = FH_TRACK_NEXT;
        int64_t gap_first = 0, gap_n = 0;
        if (v->has_ids && (t->has & FH_HAS_TRADE_ID)) {
            tr = &v->tracks[ti];
            saved_tr = *tr;
            if (sl->rot.active && ti >= sl->first_track && ti < sl->first_track + sl->n_tracks &&
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
        rc = fh_sink_write(e->cfg.sink, t);
        if (rc == FH_ENOSPACE) {
            if (tr != NULL) {
                *tr = saved_tr;
                sl->rot = saved_rot;
            }
            s->held_done = i;
            break;
        }
        e->probing = false;
        if (rc == 0) {
            s->seq++;
            written++;
        } else {
            count(&v->st.sink_errors, 1);
        }
        if (verdict == FH_TRACK_GAP)
            report_gap(v, s, ti, t, gap_first, gap_n);
    }
    if (written > 0) {
        count(&v->st.trades, written);
        uint64_t lat = (uint64_t)(fh_clock_monotonic_ns() - wm->recv_monotonic_ns);
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
static void bp_account(struct fh_engine *e, int64_t now)
{
    uint64_t v = e->paused_ended_ns;
    if (e->paused_since_ns != 0 && now > e->paused_since_ns)
        v += (uint64_t)(now - e->paused_since_ns);
    if (v > e->st.backpressure_ns)
        __atomic_store_n(&e->st.backpressure_ns, v, __ATOMIC_RELAXED);
}

/* The running pause episode ends at now (it ended, or the engine stops). */
static void bp_end(struct fh_engine *e, int64_t now)
{
    if (e->paused_since_ns == 0)
        return;
    bp_account(e, now);
    e->paused_ended_ns = e->st.backpressure_ns;
    e->paused_since_ns = 0;
}

static void pause_engine(struct fh_engine *e, int64_t now)
{
    if (e->paused)
        return;
    e->paused = true;
    gauge_set(&e->st.paused, 1);
    uv_timer_start(&e->resume, resume_cb, RESUME_TICK_MS, 0);
    if (e->probing)
        return; /* the same episode: the sink has not taken anything since the last pause */
    e->paused_since_ns = now;
    bp_account(e, now);
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
        on_ack(s, m, now);
        break;
    case FH_EV_REQUEST_ERROR:
        on_request_error(s, m, now);
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
            start_replacement(sl, "server_shutdown");
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

static int on_message(struct fh_ws *ws, const struct fh_ws_msg *wm)
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
    } else {
        rc = fh_venue_parse(&v->parser, (const char *)wm->data, wm->len, &m);
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
            pause_engine(e, fh_clock_monotonic_ns());
            return FH_ENOSPACE;
        }
    } else {
        on_message_event(s, &m, now);
    }
    if (sl->rot.active && fh_rotation_complete(&sl->rot, now))
        finish_rotation(sl, now);
    return 0;
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
    int64_t now = fh_clock_monotonic_ns();
    s->connected_ns = now;
    s->last_rx_ns = now;
    count(&v->st.connects, 1);
    if (v->e->stopping) {
        session_close(s, FH_FEED_CLOSE_SHUTDOWN, false);
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
        session_close(s, FH_FEED_CLOSE_ERROR, false);
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
    int64_t now = fh_clock_monotonic_ns();
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
        maybe_finish_stop(e);
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
    .on_message = on_message,
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
    slot_attempt(sl, sl->timer_replacement);
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
static void slot_attempt(struct slot *sl, bool replacement)
{
    struct venue *v = sl->v;
    struct fh_engine *e = v->e;
    if (e->stopping)
        return;
    if (replacement && sl->cur < 0)
        replacement = false; /* nothing left to replace: connect the slot afresh */
    if (replacement ? sl->nxt >= 0 : (sl->cur >= 0 || sl->nxt >= 0))
        return; /* that connection exists or is being made */
    int64_t now = fh_clock_monotonic_ns();
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
    count(&v->st.connect_attempts, 1);
    static const struct fh_ws_header hdr[] = {{"User-Agent", USER_AGENT}};
    bool wss = strncmp(sl->url, "wss://", 6) == 0;
    rc = fh_ws_connect(&s->ws, sl->url, wss ? e->cfg.tls : NULL, hdr, 1);
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
        session_close(s, FH_FEED_CLOSE_SUBSCRIBE_TIMEOUT, true);
        return;
    }
    if (s->state != S_SUBSCRIBING && s->state != S_STREAMING)
        return;
    int64_t idle = now - s->last_rx_ns;
    /* Checked every tick: close once the silence would pass the period before the next
     * check, so a stalled connection is replaced within watchdog_ms, never later. */
    if (idle + e->tick_ms * NS_PER_MS > c->watchdog_ms * NS_PER_MS) {
        session_close(s, FH_FEED_CLOSE_WATCHDOG, true);
        return;
    }
    if (s->ping_out && now - s->ping_sent_ns >= c->pong_timeout_ms * NS_PER_MS) {
        session_close(s, FH_FEED_CLOSE_PONG_TIMEOUT, true);
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
        start_replacement(sl, "lifetime");
}

static void tick_cb(uv_timer_t *t)
{
    struct fh_engine *e = t->data;
    int64_t now = fh_clock_monotonic_ns();
    bool liveness = !e->paused && !e->probing;
    bp_account(e, now);
    for (size_t vi = 0; vi < e->n_venues; vi++) {
        struct venue *v = &e->venues[vi];
        for (size_t i = 0; i < v->n_slots; i++) {
            struct slot *sl = &v->slots[i];
            for (int k = 0; k < 2 && liveness; k++)
                check_session(&sl->s[k], now);
            if (sl->rot.active && fh_rotation_complete(&sl->rot, now))
                finish_rotation(sl, now);
        }
        gauge_set(&v->st.budget_available, fh_budget_available(&v->budget, now));
        /* A probe cannot be half-open forever: fh_breaker_allow moves OPEN on. */
        update_breaker_gauge(v);
    }
}

static void resume_cb(uv_timer_t *t)
{
    struct fh_engine *e = t->data;
    fh_sink_poll(e->cfg.sink);
    if (e->stopping)
        return;
    int64_t now = fh_clock_monotonic_ns();
    bp_account(e, now);
    e->paused = false;
    e->probing = true;
    gauge_set(&e->st.paused, 0);
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

static void check_cb(uv_check_t *c)
{
    struct fh_engine *e = c->data;
    fh_sink_poll(e->cfg.sink);
    if (e->cfg.recorder != NULL)
        fh_recorder_poll(e->cfg.recorder);
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
        bp_end(e, fh_clock_monotonic_ns());
    if (fh_sink_is_fatal(e->cfg.sink) && !e->stopping) {
        log_error("the sink failed: stopping", "sink=%s error=\"%s\"", e->cfg.sink->ops->name,
                  e->cfg.sink->fatal_msg);
        fh_engine_stop(e);
    }
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
    v->n_tracks = vc->n_symbols * v->n_ch;
    v->tracks = calloc(v->n_tracks, sizeof(*v->tracks));
    if (v->meta_to_cfg == NULL || v->natives == NULL || v->tracks == NULL) {
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
    log_info("venue planned", "venue=%s protocol=%s symbols=%zu channels=%zu connections=%zu",
             v->name, vc->ops->name, vc->n_symbols, v->n_ch, v->n_slots);
    return 0;
}

static double backpressure_seconds(void *ctx)
{
    const struct fh_engine *e = ctx;
    return (double)__atomic_load_n(&e->st.backpressure_ns, __ATOMIC_RELAXED) / 1e9;
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
    if (rc == 0)
        rc = fh_metrics_histogram(m, "feedhandler_receive_to_enqueue_seconds",
                                  "Time from the socket read that completed a frame to the "
                                  "trade being enqueued in the sink.",
                                  l, &st->latency);
    return rc;
}

static int register_metrics(struct fh_engine *e)
{
    struct fh_metrics *m = e->cfg.metrics;
    int rc = 0;
    for (size_t i = 0; i < e->n_venues && rc == 0; i++)
        rc = register_venue_metrics(m, &e->venues[i]);
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
    if (cfg->metrics != NULL && (rc = register_metrics(e)) != 0) {
        snprintf(err, errlen, "cannot register the engine metrics: %s", fh_strerror(rc));
        goto fail;
    }
    uv_check_init(loop, &e->check);
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
    uv_check_start(&e->check, check_cb);
    uv_timer_start(&e->tick, tick_cb, (uint64_t)e->tick_ms, (uint64_t)e->tick_ms);
    for (size_t i = 0; i < e->n_venues; i++) {
        struct venue *v = &e->venues[i];
        for (size_t k = 0; k < v->n_slots; k++)
            slot_attempt(&v->slots[k], false);
    }
    return 0;
}

/* ---- stopping ----------------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    struct fh_engine *e = h->data;
    e->handles_open--;
    maybe_finish_stop(e);
}

static void ws_released(struct fh_ws *ws)
{
    struct session *s = ws->data;
    struct fh_engine *e = s->slot->v->e;
    s->ws_released = true;
    e->handles_open--;
    maybe_finish_stop(e);
}

static void close_handle(struct fh_engine *e, uv_handle_t *h)
{
    h->data = e;
    e->handles_open++;
    uv_close(h, handle_closed);
}

static void maybe_finish_stop(struct fh_engine *e)
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
        /* Every connection is closed: release the clients and close our handles. */
        e->closing_handles = true;
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
    bp_end(e, fh_clock_monotonic_ns());
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
                    session_close(&sl->s[j], FH_FEED_CLOSE_SHUTDOWN, false);
                }
            }
        }
    }
    log_info("engine stopping: closing connections", "connections=%zu", open);
    maybe_finish_stop(e);
}

void fh_engine_free(struct fh_engine *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_venues; i++) {
        struct venue *v = &e->venues[i];
        if (v->parser_inited)
            fh_venue_parser_release(&v->parser);
        venue_unplan(v);
        fh_budget_release(&v->budget);
        free(v->meta_to_cfg);
        free(v->natives);
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
