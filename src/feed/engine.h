/*
 * engine.h - the connection engine: every exchange connection of the process on one libuv
 * loop, from WebSocket messages to sink writes.
 *
 * The engine owns, per venue: the venue parser, one trade-id track per (symbol, channel),
 * the connection budget and circuit breaker, and the connection slots. Symbols are spread
 * over slots (Binance: at most per_connection streams per slot, Kraken: at most
 * per_connection symbols); a slot holds one connection, two while it is being replaced
 * (Binance rotation, make-before-break). Each connection goes connect -> handshake ->
 * subscribe -> stream; on any failure it is closed and the slot reconnects after a backoff
 * (policy.h), within the venue's budget and breaker.
 *
 * Per message (the hot path): parse, stamp lineage (connection id, per-connection sequence,
 * receive times, source), check the trade id against its track (gaps are counted, logged
 * rate-limited and kept in a bounded list; repeats are dropped and counted), write to the
 * sink. No allocation, no logging, no syscall per message beyond the socket read (the
 * recorder copies into its ring; the latency histogram reads the vDSO clock).
 *
 * Backpressure: when the sink refuses a trade (FH_ENOSPACE) the engine refuses the message
 * to the WebSocket client, which stops reading that socket and keeps the message; every other
 * connection stops at its next message the same way. A 1 ms timer polls the sink and resumes
 * the held connections; a redelivered message continues after the trades of it that were
 * already written, so nothing is written twice. Liveness checks are suspended while paused.
 *
 * Locality: everything runs on the loop's thread, except fh_engine_ready (any thread: reads
 * relaxed atomics) and the metric cells, which the metrics server reads.
 */
#ifndef FH_FEED_ENGINE_H
#define FH_FEED_ENGINE_H

#include "feed/policy.h"
#include "feed/record.h"
#include "feed/track.h"
#include "model/symbols.h"
#include "obs/metrics.h"
#include "sink/sink.h"
#include "venue/venue.h"

#include <openssl/ssl.h>
#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fh_ws;

#define FH_FEED_MAX_VENUES 4

/* One venue protocol to connect to. Strings and arrays are borrowed for the engine's life. */
struct fh_feed_venue_config {
    const struct fh_venue_ops *ops;
    const char *url;            /* WebSocket base URL */
    const char *const *symbols; /* configured native symbols */
    size_t n_symbols;
    unsigned channels;           /* FH_CH_* bits (Kraken: FH_CH_TRADE) */
    size_t per_connection;       /* streams (Binance) or symbols (Kraken) per connection */
    bool time_us;                /* Binance: timeUnit=MICROSECOND */
    int64_t lifetime_ms;         /* replace connections at this age (0: never) */
    int64_t lifetime_jitter_ms;  /* ... up to this much earlier, at random */
    int64_t rotation_timeout_ms; /* longest make-before-break overlap */
    uint32_t budget;             /* connection attempts per budget window */
    int64_t budget_window_ms;
    const struct fh_symbols *metadata; /* the exchange's symbols (every configured one in it) */
    const char *rest_url;              /* REST base URL (backfill); NULL: no backfill */
};

/* REST backfill of trade-id gaps (feed/backfill.h), for every venue with trade ids and a
 * rest_url. Sizes are per venue. */
struct fh_feed_backfill {
    bool enabled;
    size_t max_jobs;                 /* gaps open at once */
    size_t hold_capacity;            /* live trades held while their symbol's gap is filled */
    size_t hold_per_track;           /* ... per symbol and channel */
    unsigned page_limit;             /* rows per REST page (1..1000) */
    int64_t deadline_ms;             /* a gap ends at most this long after its detection */
    unsigned max_failures;           /* failed answers in a row before "rest unavailable" */
    int64_t weight_limit;            /* Binance REQUEST_WEIGHT per minute */
    unsigned weight_share_pct;       /* share of it backfill may use */
    int64_t kraken_pair_interval_ms; /* between two Trades calls of one pair (0: none; a
                                        negative value keeps the planner's default, 1 s) */
    size_t max_requests;             /* HTTP requests in flight per venue */
    int64_t request_timeout_ms;
    const char *ca_file; /* TLS for https:// REST URLs (NULL: the system store) */
    bool insecure;       /* no certificate check (tests only) */
};

struct fh_feed_config {
    struct fh_feed_venue_config venues[FH_FEED_MAX_VENUES];
    size_t n_venues;
    struct fh_retry_policy retry;
    uint32_t breaker_failures;
    int64_t breaker_open_ms;
    int64_t connect_timeout_ms;
    int64_t handshake_timeout_ms;
    int64_t subscribe_timeout_ms;
    int64_t ping_interval_ms; /* ping after this long without receiving anything; 0: never */
    int64_t pong_timeout_ms;
    int64_t watchdog_ms; /* close a connection that received nothing for this long */
    size_t max_message_bytes;
    size_t gap_list_size;
    struct fh_feed_backfill backfill;
    SSL_CTX *tls;                 /* borrowed; required for wss:// URLs */
    struct fh_sink *sink;         /* borrowed */
    struct fh_recorder *recorder; /* borrowed; NULL: no recording */
    struct fh_metrics *metrics;   /* borrowed; NULL: no metric registration */
    uint64_t seed;                /* jitter seed; 0: from the OS */
    /* Tests only (NULL in production): connect through test_connect (which opens ws over the
     * in-memory transport, fh__ws_open_mem; the engine then opens the session at once) and
     * read the monotonic clock from test_clock, so unit tests drive the engine without
     * sockets or sleeps (tests/unit/test_engine.c). */
    int (*test_connect)(void *ctx, struct fh_ws *ws, const char *url);
    int64_t (*test_clock)(void *ctx);
    void *test_ctx;
};

/* Fills the liveness, retry and size fields with the documented defaults (the config
 * defaults); venues, tls, sink, recorder and metrics are left empty. */
void fh_feed_config_default(struct fh_feed_config *c);

/* Reasons a connection ended, as metric labels (the WebSocket client's reasons plus the
 * engine's own decisions). */
enum fh_feed_close {
    FH_FEED_CLOSE_PEER = 0,
    FH_FEED_CLOSE_EOF,
    FH_FEED_CLOSE_RESET,
    FH_FEED_CLOSE_DNS,
    FH_FEED_CLOSE_CONNECT,
    FH_FEED_CLOSE_TLS,
    FH_FEED_CLOSE_HANDSHAKE,
    FH_FEED_CLOSE_PROTOCOL,
    FH_FEED_CLOSE_TIMEOUT,
    FH_FEED_CLOSE_OVERSIZE,
    FH_FEED_CLOSE_BAD_UTF8,
    FH_FEED_CLOSE_ERROR,
    FH_FEED_CLOSE_WATCHDOG,          /* nothing received for watchdog_ms */
    FH_FEED_CLOSE_PONG_TIMEOUT,      /* our ping was not answered */
    FH_FEED_CLOSE_SUBSCRIBE_TIMEOUT, /* subscriptions not acknowledged in time */
    FH_FEED_CLOSE_SUBSCRIBE_ERROR,   /* the exchange refused the whole request */
    FH_FEED_CLOSE_ROTATED,           /* replaced by a newer connection */
    FH_FEED_CLOSE_SHUTDOWN,          /* the engine is stopping */
    FH_FEED_CLOSE_LOCAL,             /* closed locally for another reason */
    FH_FEED_CLOSE_COUNT
};
const char *fh_feed_close_name(enum fh_feed_close r);

/* Duplicate reasons (metric labels). */
enum fh_feed_dup {
    FH_FEED_DUP_LIVE = 0,
    FH_FEED_DUP_SNAPSHOT,
    FH_FEED_DUP_ROTATION,
    FH_FEED_DUP_COUNT
};

/* Per-venue counters. Cells are written by the engine thread only; read them with
 * fh_metric_load / relaxed atomics. */
struct fh_feed_venue_stats {
    int64_t connections_open;
    int64_t streaming_slots;
    int64_t breaker_state; /* enum fh_breaker_state */
    int64_t maintenance;   /* 1 while the exchange reports maintenance */
    int64_t budget_available;
    uint64_t connect_attempts;
    uint64_t connects; /* upgrades completed */
    uint64_t disconnects[FH_FEED_CLOSE_COUNT];
    uint64_t messages;
    uint64_t trades; /* written to the sink */
    uint64_t rejected[FH_REJ_COUNT];
    uint64_t duplicates[FH_FEED_DUP_COUNT];
    uint64_t gaps;
    uint64_t missing; /* trade ids covered by gaps */
    uint64_t subscription_errors;
    uint64_t rotations; /* completed replacements */
    uint64_t budget_denied;
    uint64_t breaker_trips;
    uint64_t unexpected;         /* trades of symbols not configured on the connection's venue */
    uint64_t sink_errors;        /* trades the sink could not encode (not backpressure) */
    struct fh_histogram latency; /* frame received -> enqueued in the sink, ns */
    /* REST backfill (published from struct fh_backfill_stats by the engine thread). */
    uint64_t bf_gaps[4];          /* gap records by status: DETECTED, FILLED, PARTIAL, UNRECOV. */
    uint64_t bf_trades;           /* backfilled trades written to the sink */
    uint64_t bf_ids_missing;      /* ids the final gap records declare missing */
    uint64_t bf_requests;         /* REST page requests sent */
    uint64_t bf_failures;         /* ... that failed (no answer, not 200, unusable body) */
    uint64_t bf_throttled;        /* 429 and Kraken "Too many requests" answers */
    uint64_t bf_banned;           /* 418 answers */
    uint64_t bf_weight;           /* Binance request weight charged */
    uint64_t bf_held;             /* live trades held while their gap was filled */
    uint64_t bf_gap_write_errors; /* gap records the sink could not take (logged) */
    uint64_t bf_records_lost;     /* gap records overwritten before written (logged; a bug) */
    int64_t bf_open;              /* gaps open now */
    int64_t bf_oldest_open_s;     /* age of the oldest open gap, seconds (0: none) */
    int64_t bf_held_now;          /* live trades held now */
};

struct fh_engine_stats {
    uint64_t backpressure_pauses;
    uint64_t backpressure_ns; /* total time paused, the running pause included (brought up to
                                 date at least every liveness tick while it runs, and at
                                 fh_engine_stop, which ends it) */
    int64_t paused;           /* 1 while paused */
};

struct fh_engine;

/*
 * Creates the engine on loop: checks every configured symbol against the venue metadata,
 * plans the connection slots, sets up parsers, tracks, timers and (if cfg->metrics) registers
 * the metrics. Connects nothing yet. Returns 0, or FH_ECONFIG / FH_ENOMEM / FH_EINVAL with a
 * sentence in err.
 */
int fh_engine_new(uv_loop_t *loop, const struct fh_feed_config *cfg, struct fh_engine **out,
                  char *err, size_t errlen);
/* Starts every slot's first connection. done(e, ctx) (may be NULL) is called from the loop
 * once the engine has stopped and holds no open handle: after fh_engine_stop, or after it
 * stopped by itself because the sink failed for good (fh_sink_is_fatal). */
int fh_engine_start(struct fh_engine *e, void (*done)(struct fh_engine *e, void *ctx), void *ctx);
/*
 * Starts a clean stop: no more reading, every connection closed with a WebSocket close frame
 * (aborted if the peer does not answer within the client's close timeout), timers and
 * handles closed, then done. Calling it again is a no-op. An engine that was never started
 * may be stopped too (its handles are closed; run the loop until it returns).
 */
void fh_engine_stop(struct fh_engine *e);
/* Frees the engine (after done, or if it was never started: after fh_engine_new). */
void fh_engine_free(struct fh_engine *e);

/* Tests: run now what the engine's timers run (the liveness and rotation tick; the
 * backpressure resume probe), at the test clock, without waiting for them. */
void fh_engine_test_tick(struct fh_engine *e);
void fh_engine_test_resume(struct fh_engine *e);

/* For /readyz: 1 when every venue has every slot streaming and the sink is healthy, else 0
 * with the reason in why. Any thread. */
int fh_engine_ready(void *engine, char *why, size_t whylen);

/* Read-only views for tests, logs and the backfill work. Engine thread. */
const struct fh_gap_list *fh_engine_gaps(const struct fh_engine *e);
const struct fh_feed_venue_stats *fh_engine_venue_stats(const struct fh_engine *e, size_t venue);
const struct fh_engine_stats *fh_engine_stats(const struct fh_engine *e);
/* How many connection slots venue i has. */
size_t fh_engine_slots(const struct fh_engine *e, size_t venue);

#endif
