/*
 * engine_int.h - the connection engine's internals, shared by its files; not for other
 * modules (they use feed/engine.h):
 *   engine.c          set-up, start, stop, views
 *   engine_session.c  connection slots and sessions: connecting, subscribing, streaming,
 *                     rotation, reconnects, liveness timers
 *   engine_msg.c      the per-message path: parsing, gaps, duplicates, the sink, backpressure
 *   engine_metrics.c  the engine's metrics
 */
#ifndef FH_FEED_ENGINE_INT_H
#define FH_FEED_ENGINE_INT_H

#include "feed/engine.h"

#include "feed/backfill.h"
#include "feed/shard.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/http_async.h"
#include "net/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_PER_MS      INT64_C(1000000)
#define RESUME_TICK_MS 1
#define USER_AGENT     "feedhandler/" FH_VERSION

enum sess_state { S_IDLE = 0, S_CONNECTING, S_SUBSCRIBING, S_STREAMING, S_CLOSING };

enum { SUB_PENDING = 0, SUB_ACKED = 1, SUB_REFUSED = 2 };

struct venue;
struct slot;

/* A REST page request in flight (the http_async callback's context). */
struct bf_req {
    struct venue *v;
    uint64_t job; /* 0: slot free */
    uint32_t track;
};

/* A venue's REST backfill (engine_backfill.c). */
struct eng_bf {
    bool on;    /* gaps of this venue go through backfill (fetched, or recorded only) */
    bool fetch; /* ... and are fetched over REST (http, parser and reqs exist) */
    struct fh_backfill bf;
    bool bf_inited;
    struct fh_http_async *http;
    bool http_closing;
    /* REST pages have their own parser: a message held under backpressure lives in the
     * WebSocket parser's buffers. */
    struct fh_venue_parser parser;
    bool parser_inited;
    struct bf_req *reqs; /* max_requests */
    size_t n_reqs;
    int64_t *last_time_ns; /* per track: trade time (ns) of the last trade accepted */
    int64_t conn_id;       /* lineage of backfilled trades: the venue's REST "connection" */
    int64_t seq;
    /* A page whose rows the sink has not all taken yet: no other page is parsed meanwhile. */
    bool page_pending;
    struct fh_rest_page page;
    size_t page_next, page_end;
    size_t page_ci; /* the page's configured symbol */
    int64_t page_rt_ns, page_mono_ns;
    /* A gap record the sink refused, written first next time. */
    bool ev_pending;
    struct fh_backfill_event ev;
    bool work; /* rows, released trades or records wait for the sink */
    uv_timer_t timer;
    bool timer_inited;
    int64_t timer_due_ns; /* monotonic; 0: not armed */
    struct fh_buf url;
    struct fh_ratelimit rl_log;
};

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
    bool checked;     /* trade held_done passed its checks (track, gap); only its output is
                         left (it was refused by the sink, or waits behind released trades) */
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

/* Per configured symbol, for feedhandler_symbol_* (one writer: the engine thread). */
struct sym_stat {
    uint64_t trades;       /* written to the sink, every source */
    int64_t last_trade_rt; /* receive_time_ns of the last one written (0: none yet) */
};

struct venue {
    struct fh_engine *e;
    size_t index;
    struct fh_feed_venue_config cfg;
    const char *name; /* fh_trade.venue: metric label and log field */
    struct fh_venue_parser parser;
    bool parser_inited;
    /* The parse of a message held under backpressure (its trades live in the parser's
     * buffers), kept for its redelivery to held_by; any other parse clears held_by. */
    struct session *held_by;
    struct fh_venue_msg held_msg;
    int32_t *meta_to_cfg;
    struct fh_str *natives;
    struct sym_stat *sym; /* per configured symbol */
    unsigned ch_bits[2];  /* channel index -> FH_CH_* */
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
    struct eng_bf bf;
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
    uv_poll_t sink_wake; /* the sink's wake descriptor (fh_sink_wake_fd), when it has one */
    bool sink_wake_inited;
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

/* The monotonic clock (a test's, when it drives the engine). */
static inline int64_t eng_now(const struct fh_engine *e)
{
    return e->cfg.test_clock != NULL ? e->cfg.test_clock(e->cfg.test_ctx) : fh_clock_monotonic_ns();
}

static inline void gauge_set(int64_t *cell, int64_t v)
{
    fh_gauge_set(cell, v);
}

static inline void count(uint64_t *cell, uint64_t v)
{
    fh_counter_add(cell, v);
}

/* One trade of configured symbol ci written to the sink. */
static inline void count_sym(struct venue *v, size_t ci, const struct fh_trade *t)
{
    count(&v->sym[ci].trades, 1);
    gauge_set(&v->sym[ci].last_trade_rt, t->receive_time_ns);
}

static inline const char *dup_name(enum fh_feed_dup d)
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

static inline enum fh_feed_close map_ws_reason(enum fh_ws_close_reason r)
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

static inline bool session_is_role(const struct session *s)
{
    const struct slot *sl = s->slot;
    return (sl->cur == s->idx) || (sl->nxt == s->idx);
}

static inline void update_streaming(struct venue *v)
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

static inline void update_breaker_gauge(struct venue *v)
{
    gauge_set(&v->st.breaker_state, (int64_t)v->breaker.state);
    __atomic_store_n(&v->st.breaker_trips, v->breaker.trips, __ATOMIC_RELAXED);
}

/* The channel index of a trade kind, or -1 if the venue does not subscribe to it. */
static inline int channel_index(const struct venue *v, enum fh_trade_kind k)
{
    unsigned bit = k == FH_KIND_AGG_TRADE ? FH_CH_AGG_TRADE : FH_CH_TRADE;
    for (size_t i = 0; i < v->n_ch; i++) {
        if (v->ch_bits[i] == bit)
            return (int)i;
    }
    return -1;
}

/* ---- across the engine's files -------------------------------------------------------------- */

/* engine_backfill.c */
int eng_bf_init(struct venue *v, char *err, size_t errlen);
void eng_bf_release(struct venue *v);
void eng_bf_close(struct venue *v); /* at stop: ends open gaps, writes what waits, closes */
/* A gap a live trade of track ti revealed (after fh_track_check). */
void eng_bf_gap(struct venue *v, struct session *s, size_t ti, const struct fh_trade *t,
                int64_t first, int64_t n);
/* A live trade passed its checks: note its time for a later Kraken gap. */
static inline void eng_bf_seen(struct venue *v, size_t ti, const struct fh_trade *t)
{
    if (v->bf.on)
        v->bf.last_time_ns[ti] = t->trade_time_us * 1000;
}
/* Output of a checked live trade of track ti: the track's released trades first, then the
 * trade itself held (its gap is being filled) or written. Returns 0 (consumed: *written says
 * whether it went to the sink now), FH_ENOSPACE (nothing more taken; call again with the
 * same trade), or the sink's error for the trade. */
int eng_bf_output(struct venue *v, size_t ti, size_t ci, struct fh_trade *t, bool *written);
void eng_bf_pump(struct venue *v);
void eng_bf_publish(struct venue *v, int64_t now);
int eng_bf_register_metrics(struct fh_metrics *m, struct venue *v, const char *labels);

void eng_bp_account(struct fh_engine *e, int64_t now);
void eng_bp_end(struct fh_engine *e, int64_t now);
void eng_check_cb(uv_check_t *c);
void eng_sink_wake_cb(uv_poll_t *h, int status, int events);
void eng_finish_rotation(struct slot *sl, int64_t now);
void eng_maybe_finish_stop(struct fh_engine *e);
void eng_on_ack(struct session *s, const struct fh_venue_msg *m, int64_t now);
int eng_on_message(struct fh_ws *ws, const struct fh_ws_msg *wm);
void eng_on_request_error(struct session *s, const struct fh_venue_msg *m, int64_t now);
int eng_register_metrics(struct fh_engine *e);
void eng_resume_cb(uv_timer_t *t);
void eng_session_close(struct session *s, enum fh_feed_close reason, bool abort);
void eng_slot_attempt(struct slot *sl, bool replacement);
void eng_start_replacement(struct slot *sl, const char *why);
void eng_tick_cb(uv_timer_t *t);

#endif
