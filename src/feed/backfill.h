/*
 * backfill.h - REST backfill of trade-id gaps: what to fetch, when, and what to emit (issue 13).
 *
 * One struct fh_backfill per venue with trade ids (Binance, Kraken v2): its REST budget is the
 * venue's. The engine tells it about each gap fh_track_check reports (fh_backfill_gap), asks it
 * which page request to send now (fh_backfill_next_request), sends that request itself
 * (http_async.h, the venue's build_rest_trades), parses the answer with the venue's
 * parse_rest_trades and hands the result back (fh_backfill_on_answer), which says which rows of
 * the page to write (source BACKFILL). Gap records come out as events (fh_backfill_next_event).
 *
 * Ordering. A track with an open gap holds its live trades here (fh_backfill_hold, a bounded
 * pool shared by all tracks with a per-track bound too) until the gap's job ends; they are then
 * released in id order (fh_backfill_held_peek / _pop) after the backfilled ones, so a symbol's
 * trades reach the sink in id order, each once. Rows of a page already written (live, held, or
 * before the gap) are ignored: the pages are deduplicated by id.
 *
 * A job walks its gap from the lowest missing id upwards; everything below its cursor is either
 * written or known missing, so what is missing is a list of id ranges plus the unfetched rest.
 * Binance pages by id (historicalTrades or aggTrades ?fromId=, inclusive), so a page whose first
 * row is past a missing id proves that id absent from history at once ("absent from history",
 * one REST check, never retried). Kraken pages by time (Trades?since=, "last" as the next
 * cursor), starting a margin before the trade time of the last id seen before the gap, until
 * a row with an id past the gap (the first live id): an id is absent when the rows jump over it
 * once the walk has reached the ids before it (if the first page already starts past the gap's
 * first id, the margin doubles and the walk restarts, a bounded number of times).
 *
 * A job ends FILLED (every id written), PARTIAL or UNRECOVERABLE (nothing written) with the
 * exact missing ranges and their reasons: "absent from history"; "rest unavailable" after
 * max_failures failed answers in a row, or at the deadline when the last answer failed; "rest
 * budget exhausted" at the deadline otherwise (throttled, or the budget too small for the gap);
 * "hold buffer full" when the track's live trades no longer fit; "too many open gaps" when
 * max_jobs jobs are open already. Each gap ends within deadline_ns of its detection.
 *
 * Several gaps on one track queue (in id order): a job starts when the one before it has ended
 * and the live trades released by that end have been taken (fh_backfill_held_pop), so its rows
 * follow them. Live trades past the next gap stay held.
 *
 * Budgets. Binance: request weight per rolling minute (weight_limit x weight_share_pct), raised
 * to X-MBX-USED-WEIGHT-1M when an answer reports more; 429: nothing before Retry-After; 418:
 * nothing before Retry-After, or ban_default_ns doubling per consecutive 418 without one.
 * Kraken: at most one Trades call per kraken_pair_interval_ns per pair (and per
 * kraken_ip_interval_ns over all pairs), and after "EGeneral:Too many requests" a back-off
 * that doubles per consecutive refusal (kraken_backoff_base_ns .. _max_ns), for all pairs.
 *
 * Pure: no I/O, no clocks (now_ns is the caller's CLOCK_MONOTONIC, never decreasing), no
 * allocation after fh_backfill_init. Locality: the engine thread.
 */
#ifndef FH_FEED_BACKFILL_H
#define FH_FEED_BACKFILL_H

#include "model/gap.h"
#include "model/trade.h"
#include "venue/venue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exact missing ranges kept per gap. Beyond it the last range is widened to the end of what is
 * missing (it then also covers written ids): fh_backfill_event.ranges_truncated says so and
 * .missing stays exact. */
#define FH_BACKFILL_MAX_RANGES 8
#define FH_BACKFILL_CURSOR_MAX 32 /* bytes of a Kraken "last" cursor, NUL included */

/* Reasons (static strings; compare by pointer or text). */
extern const char fh_backfill_reason_absent[];      /* "absent from history" */
extern const char fh_backfill_reason_budget[];      /* "rest budget exhausted" */
extern const char fh_backfill_reason_unavailable[]; /* "rest unavailable" */
extern const char fh_backfill_reason_hold_full[];   /* "hold buffer full" */
extern const char fh_backfill_reason_too_many[];    /* "too many open gaps" */
extern const char fh_backfill_reason_stopped[];     /* "handler stopped" */
extern const char fh_backfill_reason_disabled[];    /* "backfill disabled" */

/* Which budget rules apply (one instance per venue). */
enum fh_backfill_venue { FH_BACKFILL_BINANCE = 0, FH_BACKFILL_KRAKEN = 1 };

/* How a gap's pages are asked for. */
enum fh_backfill_style {
    FH_BACKFILL_BINANCE_TRADES = 0, /* historicalTrades?fromId= (a @trade track) */
    FH_BACKFILL_BINANCE_AGG,        /* aggTrades?fromId= (an @aggTrade track: aggregate ids) */
    FH_BACKFILL_KRAKEN_SINCE        /* Trades?since= cursor paging (a Kraken v2 track) */
};

enum fh_backfill_status {
    FH_BACKFILL_DETECTED = 0,
    FH_BACKFILL_FILLED,
    FH_BACKFILL_PARTIAL,
    FH_BACKFILL_UNRECOVERABLE
};
/* "DETECTED", "FILLED", "PARTIAL", "UNRECOVERABLE" (the gap schema's enum symbols). */
const char *fh_backfill_status_name(enum fh_backfill_status s);

struct fh_backfill_config {
    enum fh_backfill_venue venue;
    /* Nothing is fetched: every gap ends at once, UNRECOVERABLE "backfill disabled", right
     * after its DETECTED event (fh_backfill_gap returns 0), so each still gets its records. */
    bool record_only;
    size_t max_tracks;     /* track indexes are < max_tracks */
    size_t max_jobs;       /* gaps open (running or queued) at once, all tracks */
    size_t hold_capacity;  /* live trades held, all tracks together */
    size_t hold_per_track; /* live trades held per track */
    unsigned page_limit;   /* rows asked per page (1..1000) */
    int64_t deadline_ns;   /* a gap ends at most this long after fh_backfill_gap */
    unsigned max_failures; /* failed answers in a row before "rest unavailable" */
    unsigned max_empty;    /* pages without the missing ids retried before "absent" */
    int64_t retry_base_ns; /* back-off after a failed or empty answer, doubling ... */
    int64_t retry_max_ns;  /* ... up to this */
    size_t events_cap;     /* queued events; 0: 2 x max_jobs + 2 */
    /* Binance */
    int64_t weight_limit;           /* REQUEST_WEIGHT per minute (6000) */
    unsigned weight_share_pct;      /* share of it backfill may use (1..100) */
    unsigned weight_trades;         /* historicalTrades (25) */
    unsigned weight_agg;            /* aggTrades (4) */
    int64_t retry_after_default_ns; /* 429 without Retry-After (60 s) */
    int64_t ban_default_ns;         /* 418 without Retry-After (120 s, Binance's shortest) */
    int64_t ban_max_ns;             /* cap of its doubling (24 h) */
    /* Kraken */
    int64_t kraken_pair_interval_ns; /* between two Trades calls of one pair (1 s) */
    int64_t kraken_ip_interval_ns;   /* between any two calls (0: no such limit) */
    int64_t kraken_backoff_base_ns;  /* after "Too many requests" (1 s), doubling ... */
    int64_t kraken_backoff_max_ns;   /* ... up to this (60 s) */
    int64_t kraken_since_margin_ns;  /* start this long before the last trade before the gap */
    unsigned kraken_max_rewinds;     /* restarts with a doubled margin (3) */
};

/* Fills c with the defaults above for venue v; the caller then sets the sizes it wants. */
void fh_backfill_config_default(struct fh_backfill_config *c, enum fh_backfill_venue v);

/* One detected gap. */
struct fh_backfill_gap {
    uint32_t track; /* the caller's track index (< max_tracks) */
    enum fh_backfill_style style;
    struct fh_str symbol; /* native REST symbol (BTCUSDT, BTC/USD); copied */
    int64_t first_id;     /* first missing id */
    int64_t last_id;      /* last missing id (inclusive) */
    int64_t detected_ns;  /* CLOCK_REALTIME of detection, for the record */
    /* Kraken: trade time (ns since the epoch) of the last trade before the gap; the walk
     * starts kraken_since_margin_ns before it (0 would walk the whole history). */
    int64_t since_ns;
    int64_t tag; /* the caller's, echoed in the gap's events (the engine: the connection id) */
};

/* One range of ids a gap ended without. */
struct fh_backfill_range {
    int64_t first, last; /* inclusive */
    const char *reason;  /* one of fh_backfill_reason_* */
};

/* A gap record: DETECTED when the gap is registered, then exactly one final record. */
struct fh_backfill_event {
    uint64_t job;
    uint32_t track;
    int64_t tag; /* fh_backfill_gap.tag */
    int64_t first_id, last_id;
    int64_t detected_ns;
    enum fh_backfill_status status;
    const char *reason; /* "" for DETECTED and FILLED; else the reason of the unfetched
                           rest, or of the first missing range */
    int64_t filled;     /* ids written from REST */
    int64_t missing;    /* ids not written (exact) */
    size_t n_ranges;
    bool ranges_truncated;
    struct fh_backfill_range ranges[FH_BACKFILL_MAX_RANGES];
};

/* A page request to send now. */
struct fh_backfill_request {
    uint64_t job; /* hand back in fh_backfill_answer */
    uint32_t track;
    struct fh_rest_req req; /* for the venue's build_rest_trades; symbol and since point into
                               the instance, valid until the next call */
    unsigned weight;        /* Binance weight charged for it (0 on Kraken) */
};

/* What came back for a request. */
struct fh_backfill_answer {
    uint64_t job;
    bool not_sent; /* the request could not be sent (no free HTTP slot): no failure is
                      counted (its weight stays charged), the gap asks again */
    long status;   /* HTTP status; 0: no answer (timeout, connect, TLS, ...) */
    /* The parsed body (parse_rest_trades returned 0), or NULL (no answer, not parsed). */
    const struct fh_rest_page *page;
    int64_t retry_after_s; /* Retry-After in seconds, -1 when absent */
    int64_t used_weight;   /* X-MBX-USED-WEIGHT-1M, -1 when absent */
};

/* Rows of the answered page to write now, in order, before the next call: page->trades[first
 * .. first + n). */
struct fh_backfill_emit {
    size_t first, n;
};

struct fh_backfill_stats {
    uint64_t gaps, filled, partial, unrecoverable;
    uint64_t requests, answers, failures, stale; /* stale: answers for a job that had ended */
    uint64_t trades_emitted, ids_missing;
    uint64_t weight_used; /* Binance request weight charged */
    uint64_t throttled;   /* 429 and Kraken "Too many requests" answers */
    uint64_t banned;      /* 418 answers */
    int64_t wait_ns;      /* time jobs were ready but held back by budget or back-off */
    uint64_t held, released, hold_full;
    uint64_t events_dropped; /* events overwritten because the caller did not take them */
};

/* ---- budgets (backfill_budget.c; exposed for tests) ---------------------------------------- */

/* Seconds of weight kept: a request's weight counts until 61 s after the second it was
 * charged in, so every rolling minute is covered whatever the position inside the second. */
#define FH_BACKFILL_WINDOW_S 61
struct fh_backfill_budget {
    enum fh_backfill_venue venue;
    int64_t budget;                       /* weight per rolling minute */
    int64_t sec[FH_BACKFILL_WINDOW_S];    /* second of each bucket */
    int64_t weight[FH_BACKFILL_WINDOW_S]; /* weight charged in that second */
    int64_t blocked_until_ns;             /* 429 / 418 / Kraken back-off */
    int64_t ban_next_ns;                  /* the next 418 default (doubles) */
    int64_t kr_backoff_ns;                /* the current Kraken back-off (0: none) */
    int64_t kr_ip_next_ns;                /* Kraken: no call before */
};

/* The rolling minute's weight at now (ours, or the server's report if higher). */
int64_t fh_backfill_budget_used(const struct fh_backfill_budget *b, int64_t now_ns);
/* The first time >= now when a request of weight w may go. INT64_MAX: never (w > budget). */
int64_t fh_backfill_budget_ready_at(const struct fh_backfill_budget *b, int64_t now_ns, int64_t w);

/* ---- the module ---------------------------------------------------------------------------- */

struct fh__bf_job;
struct fh__bf_track;
struct fh__bf_slot;

struct fh_backfill {
    struct fh_backfill_config cfg;
    struct fh_backfill_budget budget;
    struct fh__bf_job *jobs; /* max_jobs */
    struct fh__bf_track *tracks;
    struct fh__bf_slot *pool; /* hold_capacity */
    int32_t pool_free;        /* a list of slots held once and released, -1: none */
    size_t pool_fresh;        /* slots from here on were never used */
    size_t held_now;
    struct fh_backfill_event *events; /* ring */
    size_t ev_cap, ev_head, ev_n;
    uint64_t seq; /* job ids */
    size_t rr;    /* round-robin start of the next scheduling scan */
    size_t open;  /* jobs open */
    int64_t last_now;
    struct fh_backfill_stats st;
};

/* Allocates every bound. Returns 0, FH_EINVAL (a size of 0, page_limit > 1000, a share out of
 * 1..100, a budget below one request's weight), or FH_ENOMEM. */
int fh_backfill_init(struct fh_backfill *bf, const struct fh_backfill_config *cfg);
void fh_backfill_release(struct fh_backfill *bf);

/*
 * Registers a gap (first_id <= last_id) and queues the DETECTED event. Call it before
 * handing over (fh_backfill_hold) the live trade that revealed the gap. Returns the job id
 * (> 0), or 0 when max_jobs gaps are open: the gap then ends UNRECOVERABLE "too many open
 * gaps" at once (both events queued). FH_EINVAL-like misuse (bad track, empty range) also
 * returns 0, without events.
 */
uint64_t fh_backfill_gap(struct fh_backfill *bf, const struct fh_backfill_gap *g, int64_t now_ns);

enum fh_backfill_next {
    FH_BACKFILL_SEND = 0, /* *out is to be sent now (the budget is charged) */
    FH_BACKFILL_WAIT,     /* nothing may go now: call again at *wake_ns (or after an answer,
                             a new gap or fh_backfill_held_pop) */
    FH_BACKFILL_IDLE      /* no open gap */
};

/*
 * The next page request, if one may go now. Ends gaps past their deadline first (events).
 * Call it repeatedly until it stops returning SEND; only when a request can actually be sent
 * (else answer it with not_sent). One request per gap is in flight at a time.
 */
enum fh_backfill_next fh_backfill_next_request(struct fh_backfill *bf, int64_t now_ns,
                                               struct fh_backfill_request *out, int64_t *wake_ns);

/*
 * Takes the answer to a request. On success (0) *emit names the page rows to write now, in
 * order (ids inside the gap not written before); nothing else of the page may be written.
 * The gap may have ended (events). Returns FH_ENOTFOUND when the gap had already ended (the
 * deadline, the hold bound): nothing to write.
 */
int fh_backfill_on_answer(struct fh_backfill *bf, const struct fh_backfill_answer *a,
                          int64_t now_ns, struct fh_backfill_emit *emit);

/* Ends gaps past their deadline. next_request does it too; returns how many ended. */
size_t fh_backfill_tick(struct fh_backfill *bf, int64_t now_ns);

/* Ends every open gap now, what is unfetched missing for "handler stopped" (the process is
 * shutting down): every held trade is released, every final event queued. Returns how many
 * ended. */
size_t fh_backfill_stop(struct fh_backfill *bf, int64_t now_ns);

enum fh_backfill_hold {
    FH_BACKFILL_PASS = 0, /* nothing open or held on the track: write the trade yourself */
    FH_BACKFILL_HELD,     /* copied into the pool; it comes back through held_peek */
    FH_BACKFILL_FULL      /* a bound was hit: the track's gaps ended ("hold buffer full"),
                             everything it held is released; take it all (held_peek/_pop),
                             then write this trade yourself */
};

/*
 * A live trade of track (already checked by fh_track_check: ids increase along the track) while
 * the track has an open gap or held trades. The trade is copied by value; its string views
 * (venue, symbol, native_symbol) must stay valid until it is released: point them at the
 * symbol table, not at the message. Returns an enum fh_backfill_hold, or FH_EINVAL (a bad
 * track, no id, an id not above the last one held).
 */
int fh_backfill_hold(struct fh_backfill *bf, uint32_t track, const struct fh_trade *t,
                     int64_t now_ns);

/* True while live trades of track must go through fh_backfill_hold. */
bool fh_backfill_holding(const struct fh_backfill *bf, uint32_t track);

/* The next released held trade of track to write (in id order), or NULL. Valid until the
 * next call that changes the module. */
const struct fh_trade *fh_backfill_held_peek(const struct fh_backfill *bf, uint32_t track);
/* Removes it, once written. */
void fh_backfill_held_pop(struct fh_backfill *bf, uint32_t track);

/* Takes the oldest queued event into *ev. Returns false when there is none. Take them after
 * every call: past events_cap the oldest is overwritten (counted). */
bool fh_backfill_next_event(struct fh_backfill *bf, struct fh_backfill_event *ev);

/* The gap record of an event: ids, status, reason, counts (a DETECTED record's missing_count
 * is the whole gap), ranges (into rr, FH_BACKFILL_MAX_RANGES entries, which must outlive g),
 * detected time and connection_id = the event's tag. The caller sets venue, symbol,
 * native_symbol, kind and reported_time_ns. */
void fh_backfill_event_record(const struct fh_backfill_event *ev, struct fh_gap_range *rr,
                              struct fh_gap_record *g);

/* CLOCK_REALTIME detection time of the oldest open gap, or 0 when none is open. */
int64_t fh_backfill_oldest_detected(const struct fh_backfill *bf);

/* Open gaps (running or queued) and trades held now. */
size_t fh_backfill_open(const struct fh_backfill *bf);
size_t fh_backfill_held(const struct fh_backfill *bf);

/* The value of a Retry-After or X-MBX-USED-WEIGHT-1M header: a decimal integer of at most 18
 * digits, else -1 (absent, an HTTP date, garbage). */
int64_t fh_backfill_header_int(const char *v);

#endif
