/*
 * backfill.c - gap jobs, page handling, the hold pool and gap events (see backfill.h; the
 * budgets are in backfill_budget.c).
 *
 * A job's state is its cursor `next`: every id of the gap below it has been written or is in
 * the missing ranges, every id from it to `last` is still to be fetched. Pages only move it up,
 * so the rows to write are one contiguous run of each page, and the missing set is a short list
 * of ranges. Jobs of one track form a FIFO (track.job_head .. job_tail); only the head runs.
 */
#include "feed/backfill_int.h"

#include "core/err.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char fh_backfill_reason_absent[] = "absent from history";
const char fh_backfill_reason_budget[] = "rest budget exhausted";
const char fh_backfill_reason_unavailable[] = "rest unavailable";
const char fh_backfill_reason_hold_full[] = "hold buffer full";
const char fh_backfill_reason_too_many[] = "too many open gaps";
const char fh_backfill_reason_stopped[] = "handler stopped";
const char fh_backfill_reason_disabled[] = "backfill disabled";

struct fh__bf_job {
    uint64_t id; /* 0: free */
    uint32_t track;
    int64_t tag;
    enum fh_backfill_style style;
    int32_t next_in_track; /* the next gap of the track, -1 */
    bool in_flight;
    bool covered;     /* Kraken: the walk has reached the ids before `next` */
    bool last_failed; /* the last answer was a failure (the reason at the deadline) */
    int64_t first, last, next;
    int64_t detected_ns, deadline_ns, not_before_ns, ready_since_ns;
    unsigned failures, empties, rewinds;
    int64_t since_ns, margin_ns;
    int64_t filled, missing;
    size_t n_ranges;
    bool truncated;
    struct fh_backfill_range ranges[FH_BACKFILL_MAX_RANGES];
    char since[FH_BACKFILL_CURSOR_MAX]; /* Kraken: the since of the next request */
    size_t since_n;
    char symbol[FH_SYMBOL_MAX];
    size_t symbol_n;
};

struct fh__bf_track {
    int32_t job_head, job_tail;
    int32_t hold_head, hold_tail;
    size_t n_held;
    int64_t kr_next_ns; /* Kraken: the pair's next call, not before */
};

struct fh__bf_slot {
    struct fh_trade t;
    int32_t next;
};

const char *fh_backfill_status_name(enum fh_backfill_status s)
{
    switch (s) {
    case FH_BACKFILL_DETECTED:
        return "DETECTED";
    case FH_BACKFILL_FILLED:
        return "FILLED";
    case FH_BACKFILL_PARTIAL:
        return "PARTIAL";
    case FH_BACKFILL_UNRECOVERABLE:
        return "UNRECOVERABLE";
    }
    return "?";
}

void fh_backfill_config_default(struct fh_backfill_config *c, enum fh_backfill_venue v)
{
    memset(c, 0, sizeof(*c));
    c->venue = v;
    c->max_tracks = 1024;
    c->max_jobs = 64;
    c->hold_capacity = 65536;
    c->hold_per_track = 16384;
    c->page_limit = 1000;
    c->deadline_ns = INT64_C(120000000000);
    c->max_failures = 5;
    c->max_empty = 1;
    c->retry_base_ns = INT64_C(500000000);
    c->retry_max_ns = INT64_C(30000000000);
    c->weight_limit = 6000;
    c->weight_share_pct = 50;
    c->weight_trades = 25;
    c->weight_agg = 4;
    c->retry_after_default_ns = INT64_C(60000000000);
    c->ban_default_ns = INT64_C(120000000000);
    c->ban_max_ns = INT64_C(86400000000000);
    c->kraken_pair_interval_ns = INT64_C(1000000000);
    c->kraken_ip_interval_ns = 0;
    c->kraken_backoff_base_ns = INT64_C(1000000000);
    c->kraken_backoff_max_ns = INT64_C(60000000000);
    c->kraken_since_margin_ns = INT64_C(1000000000);
    c->kraken_max_rewinds = 3;
}

static int64_t add_sat(int64_t now, int64_t d)
{
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}

/* ---- set-up ------------------------------------------------------------------------------ */

int fh_backfill_init(struct fh_backfill *bf, const struct fh_backfill_config *cfg)
{
    memset(bf, 0, sizeof(*bf));
    const struct fh_backfill_config *c = cfg;
    if (c->max_tracks == 0 || c->max_tracks > INT32_MAX || c->max_jobs == 0 ||
        c->max_jobs > INT32_MAX || c->hold_capacity == 0 || c->hold_capacity > INT32_MAX ||
        c->hold_per_track == 0 || c->page_limit == 0 || c->page_limit > 1000 ||
        c->deadline_ns <= 0 || c->max_failures == 0)
        return FH_EINVAL;
    if (c->venue == FH_BACKFILL_BINANCE) {
        int64_t budget = c->weight_limit * (int64_t)c->weight_share_pct / 100;
        unsigned wmax = c->weight_trades > c->weight_agg ? c->weight_trades : c->weight_agg;
        if (c->weight_share_pct == 0 || c->weight_share_pct > 100 || budget < (int64_t)wmax)
            return FH_EINVAL;
    }
    bf->cfg = *c;
    bf->ev_cap = c->events_cap > 0 ? c->events_cap : 2 * c->max_jobs + 2;
    bf->jobs = calloc(c->max_jobs, sizeof(*bf->jobs));
    bf->tracks = calloc(c->max_tracks, sizeof(*bf->tracks));
    bf->pool = fh_lazy_calloc(c->hold_capacity, sizeof(*bf->pool));
    bf->events = calloc(bf->ev_cap, sizeof(*bf->events));
    if (bf->jobs == NULL || bf->tracks == NULL || bf->pool == NULL || bf->events == NULL) {
        fh_backfill_release(bf);
        return FH_ENOMEM;
    }
    for (size_t i = 0; i < c->max_tracks; i++) {
        struct fh__bf_track *t = &bf->tracks[i];
        t->job_head = t->job_tail = t->hold_head = t->hold_tail = -1;
    }
    /* Slots are handed out from pool_fresh upwards before any is reused, so the pool's pages
     * are touched (resident) only as far as trades were ever held at once. */
    bf->pool_free = -1;
    bf->pool_fresh = 0;
    fh__bf_budget_init(&bf->budget, c);
    return 0;
}

void fh_backfill_release(struct fh_backfill *bf)
{
    free(bf->jobs);
    free(bf->tracks);
    fh_lazy_free(bf->pool, bf->cfg.hold_capacity, sizeof(*bf->pool));
    free(bf->events);
    memset(bf, 0, sizeof(*bf));
}

/* ---- events ------------------------------------------------------------------------------ */

static struct fh_backfill_event *push_event(struct fh_backfill *bf)
{
    if (bf->ev_n == bf->ev_cap) {
        bf->ev_head = (bf->ev_head + 1) % bf->ev_cap;
        bf->ev_n--;
        bf->st.events_dropped++;
    }
    struct fh_backfill_event *ev = &bf->events[(bf->ev_head + bf->ev_n) % bf->ev_cap];
    bf->ev_n++;
    memset(ev, 0, sizeof(*ev));
    return ev;
}

bool fh_backfill_next_event(struct fh_backfill *bf, struct fh_backfill_event *ev)
{
    if (bf->ev_n == 0)
        return false;
    *ev = bf->events[bf->ev_head];
    bf->ev_head = (bf->ev_head + 1) % bf->ev_cap;
    bf->ev_n--;
    return true;
}

static void detected_event(struct fh_backfill *bf, uint64_t id, const struct fh_backfill_gap *g)
{
    struct fh_backfill_event *ev = push_event(bf);
    ev->job = id;
    ev->track = g->track;
    ev->tag = g->tag;
    ev->first_id = g->first_id;
    ev->last_id = g->last_id;
    ev->detected_ns = g->detected_ns;
    ev->status = FH_BACKFILL_DETECTED;
    ev->reason = "";
}

/* ---- jobs -------------------------------------------------------------------------------- */

static struct fh__bf_job *find_job(struct fh_backfill *bf, uint64_t id)
{
    if (id == 0)
        return NULL;
    struct fh__bf_job *j = &bf->jobs[id % bf->cfg.max_jobs];
    return j->id == id ? j : NULL;
}

static int32_t job_index(const struct fh_backfill *bf, const struct fh__bf_job *j)
{
    return (int32_t)(j - bf->jobs);
}

/* Records a..b as missing for reason. */
static void add_missing(struct fh_backfill *bf, struct fh__bf_job *j, int64_t a, int64_t b,
                        const char *reason)
{
    if (a > b)
        return;
    j->missing += b - a + 1;
    bf->st.ids_missing += (uint64_t)(b - a + 1);
    struct fh_backfill_range *r = j->n_ranges > 0 ? &j->ranges[j->n_ranges - 1] : NULL;
    if (r != NULL && r->last == a - 1 && r->reason == reason) {
        r->last = b;
    } else if (j->n_ranges < FH_BACKFILL_MAX_RANGES) {
        j->ranges[j->n_ranges++] = (struct fh_backfill_range){a, b, reason};
    } else {
        r->last = b;
        j->truncated = true;
    }
}

/* Ends job j: what is still unfetched is missing for tail_reason; the final event; the next
 * gap of the track (if any) becomes its head. */
static void end_job(struct fh_backfill *bf, struct fh__bf_job *j, const char *tail_reason)
{
    const char *reason = "";
    if (j->next <= j->last) {
        add_missing(bf, j, j->next, j->last, tail_reason);
        j->next = j->last + 1;
        reason = tail_reason;
    } else if (j->n_ranges > 0) {
        reason = j->ranges[0].reason;
    }
    struct fh_backfill_event *ev = push_event(bf);
    ev->job = j->id;
    ev->track = j->track;
    ev->tag = j->tag;
    ev->first_id = j->first;
    ev->last_id = j->last;
    ev->detected_ns = j->detected_ns;
    ev->filled = j->filled;
    ev->missing = j->missing;
    ev->n_ranges = j->n_ranges;
    ev->ranges_truncated = j->truncated;
    memcpy(ev->ranges, j->ranges, sizeof(ev->ranges));
    if (j->missing == 0) {
        ev->status = FH_BACKFILL_FILLED;
        bf->st.filled++;
    } else if (j->filled == 0) {
        ev->status = FH_BACKFILL_UNRECOVERABLE;
        bf->st.unrecoverable++;
    } else {
        ev->status = FH_BACKFILL_PARTIAL;
        bf->st.partial++;
    }
    ev->reason = reason;

    /* Unlink from the track's FIFO (usually the head). */
    struct fh__bf_track *t = &bf->tracks[j->track];
    int32_t me = job_index(bf, j), prev = -1;
    for (int32_t k = t->job_head; k >= 0 && k != me; k = bf->jobs[k].next_in_track)
        prev = k;
    if (prev < 0)
        t->job_head = j->next_in_track;
    else
        bf->jobs[prev].next_in_track = j->next_in_track;
    if (t->job_tail == me)
        t->job_tail = prev;
    if (prev < 0 && t->job_head >= 0)
        bf->jobs[t->job_head].ready_since_ns = bf->last_now;
    memset(j, 0, sizeof(*j));
    bf->open--;
}

static const char *deadline_reason(const struct fh__bf_job *j)
{
    return j->last_failed ? fh_backfill_reason_unavailable : fh_backfill_reason_budget;
}

size_t fh_backfill_tick(struct fh_backfill *bf, int64_t now_ns)
{
    if (now_ns > bf->last_now)
        bf->last_now = now_ns;
    size_t ended = 0;
    for (size_t i = 0; i < bf->cfg.max_jobs; i++) {
        struct fh__bf_job *j = &bf->jobs[i];
        if (j->id != 0 && bf->last_now >= j->deadline_ns) {
            end_job(bf, j, deadline_reason(j));
            ended++;
        }
    }
    return ended;
}

size_t fh_backfill_stop(struct fh_backfill *bf, int64_t now_ns)
{
    if (now_ns > bf->last_now)
        bf->last_now = now_ns;
    size_t ended = 0;
    for (size_t i = 0; i < bf->cfg.max_tracks; i++) {
        struct fh__bf_track *t = &bf->tracks[i];
        while (t->job_head >= 0) { /* in id order: each track's events stay in order */
            end_job(bf, &bf->jobs[t->job_head], fh_backfill_reason_stopped);
            ended++;
        }
    }
    return ended;
}

static void set_since(struct fh__bf_job *j)
{
    int64_t s = j->since_ns - j->margin_ns;
    if (s < 0)
        s = 0;
    int n = snprintf(j->since, sizeof(j->since), "%lld", (long long)s);
    j->since_n = n > 0 ? (size_t)n : 0;
}

uint64_t fh_backfill_gap(struct fh_backfill *bf, const struct fh_backfill_gap *g, int64_t now_ns)
{
    if (now_ns > bf->last_now)
        bf->last_now = now_ns;
    if (g->track >= bf->cfg.max_tracks || g->first_id > g->last_id || g->first_id < 0 ||
        g->symbol.n == 0 || g->symbol.n >= FH_SYMBOL_MAX ||
        (g->style == FH_BACKFILL_KRAKEN_SINCE) != (bf->cfg.venue == FH_BACKFILL_KRAKEN))
        return 0;
    struct fh__bf_track *t = &bf->tracks[g->track];
    if (t->job_tail >= 0 && g->first_id <= bf->jobs[t->job_tail].last)
        return 0; /* gaps of a track come in id order */
    bf->st.gaps++;
    struct fh__bf_job *j = NULL;
    for (size_t i = 0; i < bf->cfg.max_jobs && j == NULL; i++) {
        if (bf->jobs[i].id == 0)
            j = &bf->jobs[i];
    }
    if (j == NULL) {
        detected_event(bf, 0, g);
        struct fh_backfill_event *ev = push_event(bf);
        int64_t n = g->last_id - g->first_id + 1;
        *ev = (struct fh_backfill_event){.track = g->track,
                                         .tag = g->tag,
                                         .first_id = g->first_id,
                                         .last_id = g->last_id,
                                         .detected_ns = g->detected_ns,
                                         .status = FH_BACKFILL_UNRECOVERABLE,
                                         .reason = fh_backfill_reason_too_many,
                                         .missing = n,
                                         .n_ranges = 1};
        ev->ranges[0] =
            (struct fh_backfill_range){g->first_id, g->last_id, fh_backfill_reason_too_many};
        bf->st.unrecoverable++;
        bf->st.ids_missing += (uint64_t)n;
        return 0;
    }
    int32_t idx = job_index(bf, j);
    *j = (struct fh__bf_job){
        .id = (++bf->seq) * bf->cfg.max_jobs + (uint64_t)idx,
        .track = g->track,
        .tag = g->tag,
        .style = g->style,
        .next_in_track = -1,
        .covered = g->style != FH_BACKFILL_KRAKEN_SINCE,
        .first = g->first_id,
        .last = g->last_id,
        .next = g->first_id,
        .detected_ns = g->detected_ns,
        .deadline_ns = add_sat(bf->last_now, bf->cfg.deadline_ns),
        .ready_since_ns = bf->last_now,
        .since_ns = g->since_ns,
        .margin_ns = bf->cfg.kraken_since_margin_ns,
        .symbol_n = g->symbol.n,
    };
    memcpy(j->symbol, g->symbol.p, g->symbol.n);
    if (g->style == FH_BACKFILL_KRAKEN_SINCE)
        set_since(j);
    if (t->job_tail >= 0)
        bf->jobs[t->job_tail].next_in_track = idx;
    else
        t->job_head = idx;
    t->job_tail = idx;
    bf->open++;
    detected_event(bf, j->id, g);
    if (bf->cfg.record_only) {
        end_job(bf, j, fh_backfill_reason_disabled); /* its final record follows at once */
        return 0;
    }
    return j->id;
}

/* ---- scheduling -------------------------------------------------------------------------- */

static bool releasable(const struct fh_backfill *bf, const struct fh__bf_track *t)
{
    if (t->hold_head < 0)
        return false;
    return t->job_head < 0 || bf->pool[t->hold_head].t.trade_id < bf->jobs[t->job_head].first;
}

static unsigned job_weight(const struct fh_backfill *bf, const struct fh__bf_job *j)
{
    switch (j->style) {
    case FH_BACKFILL_BINANCE_TRADES:
        return bf->cfg.weight_trades;
    case FH_BACKFILL_BINANCE_AGG:
        return bf->cfg.weight_agg;
    default:
        return 0;
    }
}

static void fill_request(struct fh_backfill *bf, struct fh__bf_job *j,
                         struct fh_backfill_request *out)
{
    memset(out, 0, sizeof(*out));
    out->job = j->id;
    out->track = j->track;
    out->weight = job_weight(bf, j);
    out->req.symbol = (struct fh_str){j->symbol, j->symbol_n};
    out->req.limit = bf->cfg.page_limit;
    if (j->style == FH_BACKFILL_KRAKEN_SINCE) {
        out->req.since = (struct fh_str){j->since, j->since_n};
    } else {
        out->req.from_id = j->next;
        out->req.aggregate = j->style == FH_BACKFILL_BINANCE_AGG;
    }
}

enum fh_backfill_next fh_backfill_next_request(struct fh_backfill *bf, int64_t now_ns,
                                               struct fh_backfill_request *out, int64_t *wake_ns)
{
    fh_backfill_tick(bf, now_ns);
    now_ns = bf->last_now;
    *wake_ns = INT64_MAX;
    if (bf->open == 0)
        return FH_BACKFILL_IDLE;
    size_t n = bf->cfg.max_jobs;
    for (size_t k = 0; k < n; k++) {
        size_t i = (bf->rr + k) % n;
        struct fh__bf_job *j = &bf->jobs[i];
        if (j->id == 0)
            continue;
        if (j->deadline_ns < *wake_ns)
            *wake_ns = j->deadline_ns;
        struct fh__bf_track *t = &bf->tracks[j->track];
        if (j->in_flight || t->job_head != (int32_t)i || releasable(bf, t))
            continue;
        unsigned w = job_weight(bf, j);
        int64_t at = fh_backfill_budget_ready_at(&bf->budget, now_ns, w);
        if (j->not_before_ns > at)
            at = j->not_before_ns;
        if (j->style == FH_BACKFILL_KRAKEN_SINCE && t->kr_next_ns > at)
            at = t->kr_next_ns;
        if (at <= now_ns) {
            fill_request(bf, j, out);
            fh__bf_budget_charge(&bf->budget, &bf->cfg, now_ns, w);
            if (j->style == FH_BACKFILL_KRAKEN_SINCE)
                t->kr_next_ns = add_sat(now_ns, bf->cfg.kraken_pair_interval_ns);
            j->in_flight = true;
            bf->st.requests++;
            bf->st.weight_used += w;
            if (now_ns > j->ready_since_ns)
                bf->st.wait_ns += now_ns - j->ready_since_ns;
            bf->rr = (i + 1) % n;
            return FH_BACKFILL_SEND;
        }
        if (at < *wake_ns)
            *wake_ns = at;
    }
    return FH_BACKFILL_WAIT;
}

/* ---- answers ----------------------------------------------------------------------------- */

static int64_t backoff(const struct fh_backfill *bf, unsigned n)
{
    int64_t d = bf->cfg.retry_base_ns;
    for (unsigned i = 1; i < n && d < bf->cfg.retry_max_ns; i++)
        d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
    return d < bf->cfg.retry_max_ns ? d : bf->cfg.retry_max_ns;
}

static void fail(struct fh_backfill *bf, struct fh__bf_job *j, int64_t now_ns)
{
    bf->st.failures++;
    j->failures++;
    j->last_failed = true;
    if (j->failures >= bf->cfg.max_failures) {
        end_job(bf, j, fh_backfill_reason_unavailable);
        return;
    }
    j->not_before_ns = add_sat(now_ns, backoff(bf, j->failures));
}

/* A page without the ids still missing: history does not have them (yet). */
static void empty_page(struct fh_backfill *bf, struct fh__bf_job *j, int64_t now_ns)
{
    j->empties++;
    if (j->empties > bf->cfg.max_empty) {
        end_job(bf, j, fh_backfill_reason_absent);
        return;
    }
    j->not_before_ns = add_sat(now_ns, backoff(bf, j->empties));
}

/* Rows must carry ids, strictly increasing. */
static bool rows_ok(const struct fh_rest_page *p)
{
    for (size_t i = 0; i < p->n_trades; i++) {
        if (!(p->trades[i].has & FH_HAS_TRADE_ID))
            return false;
        if (i > 0 && p->trades[i].trade_id <= p->trades[i - 1].trade_id)
            return false;
    }
    return true;
}

/* Kraken: the walk has not reached the gap yet and this page starts past its next id. Returns
 * true when the walk restarts further back (the page is not used). */
static bool kraken_rewind(struct fh_backfill *bf, struct fh__bf_job *j,
                          const struct fh_rest_page *p)
{
    if (j->covered || p->n_trades == 0)
        return false;
    if (p->trades[0].trade_id <= j->next || j->rewinds >= bf->cfg.kraken_max_rewinds) {
        j->covered = true;
        return false;
    }
    j->rewinds++;
    j->margin_ns = j->margin_ns > INT64_MAX / 2 ? INT64_MAX : j->margin_ns * 2;
    set_since(j);
    return true;
}

static void take_page(struct fh_backfill *bf, struct fh__bf_job *j, const struct fh_rest_page *p,
                      int64_t now_ns, struct fh_backfill_emit *emit)
{
    bool kraken = j->style == FH_BACKFILL_KRAKEN_SINCE;
    if (!rows_ok(p) || (kraken && p->cursor.n >= FH_BACKFILL_CURSOR_MAX)) {
        fail(bf, j, now_ns);
        return;
    }
    j->failures = 0;
    j->last_failed = false;
    if (kraken && kraken_rewind(bf, j, p))
        return;
    const struct fh_trade *r = p->trades;
    size_t n = p->n_trades, i = 0;
    while (i < n && r[i].trade_id < j->next)
        i++;
    size_t i0 = i;
    for (; i < n && r[i].trade_id <= j->last; i++) {
        if (r[i].trade_id > j->next)
            add_missing(bf, j, j->next, r[i].trade_id - 1, fh_backfill_reason_absent);
        j->next = r[i].trade_id + 1;
        j->filled++;
    }
    emit->first = i0;
    emit->n = i - i0;
    bf->st.trades_emitted += emit->n;
    if (i < n && j->next <= j->last) {
        /* A row past the gap: the rest of it never existed. */
        add_missing(bf, j, j->next, j->last, fh_backfill_reason_absent);
        j->next = j->last + 1;
    }
    bool cursor_moved = false;
    if (kraken && p->cursor.n > 0) { /* an empty "last" ends the walk: no further page */
        cursor_moved = p->cursor.n != j->since_n || memcmp(p->cursor.p, j->since, j->since_n) != 0;
        memcpy(j->since, p->cursor.p, p->cursor.n);
        j->since[p->cursor.n] = '\0';
        j->since_n = p->cursor.n;
    }
    if (j->next > j->last) {
        end_job(bf, j, fh_backfill_reason_absent);
    } else if (emit->n > 0 || (kraken && n > 0 && cursor_moved)) {
        j->empties = 0; /* progress: ask for the next page at once */
    } else {
        empty_page(bf, j, now_ns);
    }
}

int fh_backfill_on_answer(struct fh_backfill *bf, const struct fh_backfill_answer *a,
                          int64_t now_ns, struct fh_backfill_emit *emit)
{
    emit->first = emit->n = 0;
    if (now_ns > bf->last_now)
        bf->last_now = now_ns;
    now_ns = bf->last_now;
    struct fh__bf_job *j = find_job(bf, a->job);
    if (j == NULL || !j->in_flight) {
        bf->st.stale++;
        return FH_ENOTFOUND;
    }
    j->in_flight = false;
    j->ready_since_ns = now_ns;
    if (a->not_sent)
        return 0;
    bf->st.answers++;
    struct fh_backfill_budget *b = &bf->budget;
    fh__bf_budget_report(b, now_ns, a->used_weight);
    bool binance_limited =
        bf->cfg.venue == FH_BACKFILL_BINANCE && a->page != NULL && a->page->rate_limited;
    if (a->status == 429 || (a->status == 200 && binance_limited)) {
        bf->st.throttled++;
        j->last_failed = false;
        fh__bf_budget_throttled(b, &bf->cfg, now_ns, a->retry_after_s);
    } else if (a->status == 418) {
        bf->st.banned++;
        j->last_failed = false;
        fh__bf_budget_banned(b, &bf->cfg, now_ns, a->retry_after_s);
    } else if (a->status == 200 && a->page != NULL && a->page->rate_limited) {
        bf->st.throttled++;
        j->last_failed = false;
        fh__bf_budget_kraken_limited(b, &bf->cfg, now_ns);
    } else if (a->status != 200 || a->page == NULL || a->page->error.n > 0) {
        fail(bf, j, now_ns);
    } else {
        fh__bf_budget_ok(b, &bf->cfg);
        take_page(bf, j, a->page, now_ns, emit);
    }
    /* The job may have ended above (its slot is then free or reused: id differs). */
    j = find_job(bf, a->job);
    if (j != NULL && now_ns >= j->deadline_ns)
        end_job(bf, j, deadline_reason(j));
    return 0;
}

/* ---- the hold pool ----------------------------------------------------------------------- */

bool fh_backfill_holding(const struct fh_backfill *bf, uint32_t track)
{
    if (track >= bf->cfg.max_tracks)
        return false;
    const struct fh__bf_track *t = &bf->tracks[track];
    return t->job_head >= 0 || t->hold_head >= 0;
}

/* Ends every gap of track t (the hold bound was hit): its held trades are all released. */
static void end_track_jobs(struct fh_backfill *bf, struct fh__bf_track *t)
{
    while (t->job_head >= 0)
        end_job(bf, &bf->jobs[t->job_head], fh_backfill_reason_hold_full);
}

int fh_backfill_hold(struct fh_backfill *bf, uint32_t track, const struct fh_trade *tr,
                     int64_t now_ns)
{
    if (now_ns > bf->last_now)
        bf->last_now = now_ns;
    if (track >= bf->cfg.max_tracks || !(tr->has & FH_HAS_TRADE_ID))
        return FH_EINVAL;
    struct fh__bf_track *t = &bf->tracks[track];
    if (t->job_head < 0 && t->hold_head < 0)
        return FH_BACKFILL_PASS;
    if (t->hold_tail >= 0 && tr->trade_id <= bf->pool[t->hold_tail].t.trade_id)
        return FH_EINVAL;
    if ((bf->pool_free < 0 && bf->pool_fresh >= bf->cfg.hold_capacity) ||
        t->n_held >= bf->cfg.hold_per_track) {
        bf->st.hold_full++;
        end_track_jobs(bf, t);
        return FH_BACKFILL_FULL;
    }
    int32_t s;
    if (bf->pool_free >= 0) {
        s = bf->pool_free;
        bf->pool_free = bf->pool[s].next;
    } else {
        s = (int32_t)bf->pool_fresh++;
    }
    bf->pool[s].t = *tr;
    bf->pool[s].next = -1;
    if (t->hold_tail >= 0)
        bf->pool[t->hold_tail].next = s;
    else
        t->hold_head = s;
    t->hold_tail = s;
    t->n_held++;
    bf->held_now++;
    bf->st.held++;
    return FH_BACKFILL_HELD;
}

const struct fh_trade *fh_backfill_held_peek(const struct fh_backfill *bf, uint32_t track)
{
    if (track >= bf->cfg.max_tracks)
        return NULL;
    const struct fh__bf_track *t = &bf->tracks[track];
    return releasable(bf, t) ? &bf->pool[t->hold_head].t : NULL;
}

void fh_backfill_held_pop(struct fh_backfill *bf, uint32_t track)
{
    if (track >= bf->cfg.max_tracks)
        return;
    struct fh__bf_track *t = &bf->tracks[track];
    if (!releasable(bf, t))
        return;
    int32_t s = t->hold_head;
    t->hold_head = bf->pool[s].next;
    if (t->hold_head < 0)
        t->hold_tail = -1;
    bf->pool[s].next = bf->pool_free;
    bf->pool_free = s;
    t->n_held--;
    bf->held_now--;
    bf->st.released++;
    if (t->job_head >= 0 && !releasable(bf, t))
        bf->jobs[t->job_head].ready_since_ns = bf->last_now;
}

void fh_backfill_event_record(const struct fh_backfill_event *ev, struct fh_gap_range *rr,
                              struct fh_gap_record *g)
{
    for (size_t i = 0; i < ev->n_ranges; i++)
        rr[i] = (struct fh_gap_range){ev->ranges[i].first, ev->ranges[i].last,
                                      fh_str_c(ev->ranges[i].reason)};
    g->first_missing_id = ev->first_id;
    g->last_missing_id = ev->last_id;
    g->status = (enum fh_gap_status)ev->status;
    g->reason = fh_str_c(ev->reason);
    g->missing_count =
        ev->status == FH_BACKFILL_DETECTED ? ev->last_id - ev->first_id + 1 : ev->missing;
    g->filled_count = ev->filled;
    g->ranges = ev->n_ranges > 0 ? rr : NULL;
    g->n_ranges = ev->n_ranges;
    g->ranges_truncated = ev->ranges_truncated;
    g->detected_time_ns = ev->detected_ns;
    g->connection_id = ev->tag;
}

int64_t fh_backfill_oldest_detected(const struct fh_backfill *bf)
{
    int64_t oldest = 0;
    for (size_t i = 0; i < bf->cfg.max_jobs; i++) {
        const struct fh__bf_job *j = &bf->jobs[i];
        if (j->id != 0 && (oldest == 0 || j->detected_ns < oldest))
            oldest = j->detected_ns;
    }
    return oldest;
}

size_t fh_backfill_open(const struct fh_backfill *bf)
{
    return bf->open;
}

size_t fh_backfill_held(const struct fh_backfill *bf)
{
    return bf->held_now;
}

int64_t fh_backfill_header_int(const char *v)
{
    if (v == NULL)
        return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    int64_t n = 0;
    size_t d = 0;
    for (; *v >= '0' && *v <= '9'; v++, d++) {
        if (d == 18)
            return -1;
        n = n * 10 + (*v - '0');
    }
    while (*v == ' ' || *v == '\t')
        v++;
    return d > 0 && *v == '\0' ? n : -1;
}
