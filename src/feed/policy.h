/*
 * policy.h - reconnect policy as data: backoff with full jitter, a per-venue connection
 * budget (token bucket) and a per-venue circuit breaker.
 *
 * Everything here is pure arithmetic over caller-owned structs: no clocks (time is passed in
 * as monotonic nanoseconds), no I/O, no logging, and the randomness comes from a caller-owned
 * generator, so every decision can be replayed in a unit test. The parameters live in one
 * struct fh_retry_policy filled from the [reconnect] section (the habit of lws_retry_bo_t:
 * one table, not constants scattered through the session code).
 *
 * Locality: one thread (the engine) per struct.
 */
#ifndef FH_FEED_POLICY_H
#define FH_FEED_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* A small PRNG (splitmix64): jitter only, never security. */
struct fh_rng {
    uint64_t s;
};
void fh_rng_seed(struct fh_rng *r, uint64_t seed);
uint64_t fh_rng_next(struct fh_rng *r);
/* Uniform in [0, n] (inclusive); n <= 0 gives 0. */
int64_t fh_rng_upto(struct fh_rng *r, int64_t n);

/* The reconnect parameters of one venue. Durations in milliseconds. */
struct fh_retry_policy {
    int64_t base_ms;        /* ceiling of the first delay; doubles per failed attempt */
    int64_t max_ms;         /* cap of the ceiling */
    int64_t stable_ms;      /* a connection that streamed this long is healthy even if it
                               delivered no data (quiet symbols) */
    int64_t throttled_ms;   /* least delay after HTTP 429/403/418 on the handshake */
    int64_t maintenance_ms; /* least spacing of attempts after exchange maintenance */
};

/* Why a connection ended, as far as the next delay is concerned. */
enum fh_retry_cause {
    FH_RETRY_FAILURE = 0,   /* connect/handshake/subscribe failed, or the stream broke */
    FH_RETRY_THROTTLED,     /* the server refused the handshake with 429/403/418 */
    FH_RETRY_MAINTENANCE,   /* the exchange announced maintenance (Kraken) */
    FH_RETRY_SERVER_ROTATE, /* the server asked us to reconnect (Binance serverShutdown) */
};

/*
 * What the connection that ended achieved. A connection that subscribed and then delivered
 * live data is evidence that the venue, the network path and our request are all fine:
 * its drop (a network cut, a server restart) is retried as attempt 0 (within base_ms). One
 * that failed on the way (DNS, TCP, TLS, upgrade, subscription) or that subscribed but never
 * delivered anything is no such evidence: its retry continues the exponential backoff, so a
 * server that accepts and drops every connection at once is retried ever more slowly.
 */
enum fh_conn_outcome {
    FH_CONN_FAILED = 0, /* never reached streaming (every subscription acknowledged) */
    FH_CONN_STREAMED,   /* streamed, but no live data yet and for less than stable_ms */
    FH_CONN_HEALTHY,    /* streamed and delivered live data, or streamed for stable_ms */
};
const char *fh_conn_outcome_name(enum fh_conn_outcome o);

/* The outcome of a connection that started streaming at streaming_since_ns (0: it never
 * did), delivered live data after that or not (got_data), and ended at now_ns. */
enum fh_conn_outcome fh_conn_outcome(const struct fh_retry_policy *p, int64_t streaming_since_ns,
                                     bool got_data, int64_t now_ns);

/* Backoff state of one session. Zeroed state is valid (no attempts yet). */
struct fh_backoff {
    uint32_t attempt;   /* consecutive attempts since the last healthy connection */
    uint32_t exponent;  /* the attempt number the last delay was drawn for (0: first) */
    int64_t ceiling_ms; /* the ceiling the last delay was drawn under */
};

/*
 * The delay before the next attempt, in ms: full jitter, uniform in [0, min(max, base *
 * 2^attempt)], then raised to the cause's floor (throttled_ms, maintenance_ms). A connection
 * that ended FH_CONN_HEALTHY resets the attempt count first, so its drop is retried within
 * base_ms; a server-requested rotation is always retried at once. Counts the attempt. The
 * connection budget and the circuit breaker, not this delay, bound how often healthy
 * connections that keep dropping are replaced.
 */
int64_t fh_backoff_next_ms(struct fh_backoff *b, const struct fh_retry_policy *p,
                           enum fh_retry_cause cause, enum fh_conn_outcome outcome,
                           struct fh_rng *rng);

/*
 * A connection budget: at most `limit` connection attempts in any `window_ns`. The
 * exchanges count attempts per IP over a rolling window (Binance 300 per 5 minutes, Kraken
 * 150 per 10 minutes) and ban an IP that exceeds it, so this is a token bucket of `limit`
 * tokens in which each spent token returns exactly one window after it was spent (a ring of
 * the last `limit` attempt times): a burst may use the whole budget, and no window ever
 * holds more than `limit` attempts, which a bucket with a steady refill cannot promise.
 */
struct fh_budget {
    int64_t window_ns;
    uint32_t limit;
    int64_t *times; /* owned: spend times, oldest at head */
    uint32_t head;
    uint32_t n;
    uint64_t taken;
    uint64_t denied;
};
/* Returns 0, FH_EINVAL (limit 0) or FH_ENOMEM. */
int fh_budget_init(struct fh_budget *b, uint32_t limit, int64_t window_ns);
void fh_budget_release(struct fh_budget *b);
/* Takes one attempt if the budget allows it now: returns 0. Otherwise takes nothing and
 * returns the nanoseconds until a token returns (> 0). */
int64_t fh_budget_take(struct fh_budget *b, int64_t now_ns);
/* Attempts available now (for metrics and logs). */
uint32_t fh_budget_available(struct fh_budget *b, int64_t now_ns);

/*
 * A circuit breaker per venue. CLOSED: attempts go ahead. After `threshold` consecutive
 * failed attempts (none reached streaming) it OPENs: no attempt for open_ns. Then it is
 * HALF_OPEN: exactly one probe attempt may go; its success closes the breaker, its failure
 * opens it again for another open_ns.
 */
enum fh_breaker_state { FH_BREAKER_CLOSED = 0, FH_BREAKER_OPEN = 1, FH_BREAKER_HALF_OPEN = 2 };
const char *fh_breaker_state_name(enum fh_breaker_state s);

struct fh_breaker {
    enum fh_breaker_state state;
    uint32_t threshold;
    int64_t open_ns;
    uint32_t failures; /* consecutive */
    int64_t opened_at_ns;
    bool probe_out; /* HALF_OPEN: the probe attempt is running */
    uint64_t trips; /* times it opened */
};
void fh_breaker_init(struct fh_breaker *b, uint32_t threshold, int64_t open_ns);
/*
 * May an attempt start now? Moves OPEN to HALF_OPEN once open_ns have passed. Returns 0 if
 * yes (in HALF_OPEN the caller's attempt is the probe), else the nanoseconds to wait before
 * asking again (a positive guess; a running probe answers with open_ns).
 */
int64_t fh_breaker_allow(struct fh_breaker *b, int64_t now_ns);
/* An attempt reached streaming: closes the breaker. */
void fh_breaker_success(struct fh_breaker *b);
/* An attempt failed before streaming. */
void fh_breaker_failure(struct fh_breaker *b, int64_t now_ns);
/* An attempt allowed by fh_breaker_allow ended without an outcome (e.g. shutdown). */
void fh_breaker_cancel(struct fh_breaker *b);

#endif
