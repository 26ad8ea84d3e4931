/*
 * engine_backfill.c - the engine's side of REST gap backfill (the decisions are feed/backfill.c):
 * one struct fh_backfill, one HTTP client (net/http_async.h) and one REST parser per venue with
 * trade ids and a REST URL.
 *
 * Flow. A live trade that reveals a gap registers it (eng_bf_gap) before its output; while a
 * track has an open gap its live trades are held (eng_bf_output -> fh_backfill_hold). The pump
 * (eng_bf_pump: every HTTP completion, the venue's timer, and the loop's check callback while
 * something waits for the sink) writes, in this order: the rows of the last answered page, the
 * gap records (fh_sink_write_gap), the held trades each ended gap released; then it sends the
 * page requests the budgets allow. A live trade's output first writes the same owed things
 * (the page rows, every gap record, its track's released trades), so the bounded event ring
 * never holds more than one trade's records. A refusal by the sink (FH_ENOSPACE) stops the
 * pump, or holds the trade's message, where it is; it starts again there, so nothing is
 * written twice or out of order: a track's released trades follow its page rows, and a live
 * trade of a track follows its released ones.
 *
 * Lineage of backfilled trades: source BACKFILL, the venue's REST "connection" id (one per
 * venue, from the process-wide counter) and a sequence of its own, the answer's receive time.
 *
 * Locality: the engine thread. Nothing is allocated after eng_bf_init but what libcurl
 * allocates per request.
 */
#include "feed/engine_int.h"

#include "core/clock.h"

#include <time.h>

#define BF_MAX_BODY      (2u << 20) /* a page of 1,000 rows is about 150 KB */
#define BF_SHUTDOWN_MS   10000      /* how long the stop waits for the sink to take the rest */
#define BF_LOG_PER_10S   20
#define BF_CAPTURE_RETRY 0
#define BF_CAPTURE_USED  1

static struct fh_sink *sink_of(const struct venue *v)
{
    return v->e->cfg.sink;
}

static enum fh_trade_kind track_kind(const struct venue *v, size_t ti)
{
    return v->ch_bits[ti % v->n_ch] == FH_CH_AGG_TRADE ? FH_KIND_AGG_TRADE : FH_KIND_TRADE;
}

/* ---- set-up and release ------------------------------------------------------------------- */

static void bf_timer_cb(uv_timer_t *t);

int eng_bf_init(struct venue *v, char *err, size_t errlen)
{
    struct fh_engine *e = v->e;
    struct eng_bf *b = &v->bf;
    const struct fh_feed_backfill *c = &e->cfg.backfill;
    const struct fh_venue_ops *ops = v->cfg.ops;
    if (!v->has_ids)
        return 0; /* no gap is ever detected */
    /* Without fetching (disabled, no REST URL or paging), gaps still get their records:
     * DETECTED, then UNRECOVERABLE "backfill disabled". */
    bool fetch = c->enabled && v->cfg.rest_url != NULL && v->cfg.rest_url[0] != '\0' &&
                 ops->build_rest_trades != NULL && ops->parse_rest_trades != NULL &&
                 ops->caps.rest_paging != FH_REST_NONE;
    bool by_id = ops->caps.rest_paging == FH_REST_BY_ID;
    struct fh_backfill_config bc;
    fh_backfill_config_default(&bc, by_id ? FH_BACKFILL_BINANCE : FH_BACKFILL_KRAKEN);
    bc.record_only = !fetch;
    bc.max_tracks = v->n_tracks;
    bc.max_jobs = c->max_jobs > 0 ? c->max_jobs : 64;
    bc.hold_capacity = c->hold_capacity > 0 ? c->hold_capacity : 100000;
    bc.hold_per_track = c->hold_per_track > 0 ? c->hold_per_track : bc.hold_capacity;
    if (c->page_limit > 0)
        bc.page_limit = c->page_limit;
    if (c->deadline_ms > 0)
        bc.deadline_ns = c->deadline_ms * NS_PER_MS;
    if (c->max_failures > 0)
        bc.max_failures = c->max_failures;
    if (c->weight_limit > 0)
        bc.weight_limit = c->weight_limit;
    if (c->weight_share_pct > 0)
        bc.weight_share_pct = c->weight_share_pct;
    if (c->kraken_pair_interval_ms >= 0) /* 0: no spacing (the config's default is 1000) */
        bc.kraken_pair_interval_ns = c->kraken_pair_interval_ms * NS_PER_MS;
    int rc = fh_backfill_init(&b->bf, &bc);
    if (rc != 0) {
        snprintf(err, errlen, "%s: backfill: invalid sizes or budget (%s)", v->name,
                 fh_strerror(rc));
        return rc;
    }
    b->bf_inited = true;
    b->last_time_ns = calloc(v->n_tracks, sizeof(*b->last_time_ns));
    if (b->last_time_ns == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    uv_timer_init(e->loop, &b->timer);
    b->timer.data = v;
    b->timer_inited = true;
    fh_ratelimit_init(&b->rl_log, BF_LOG_PER_10S, 10LL * 1000000000LL);
    b->on = true;
    if (!fetch) {
        log_info("backfill off: gaps are recorded, not fetched", "venue=%s reason=\"%s\"", v->name,
                 c->enabled ? "no rest_url" : "backfill.enabled = false");
        return 0;
    }
    b->fetch = true;
    struct fh_venue_parser_opts po = {.max_message_bytes = BF_MAX_BODY,
                                      .max_tokens = 1u << 17,
                                      .max_trades = bc.page_limit,
                                      .time_us = v->cfg.time_us};
    rc = fh_venue_parser_init(&b->parser, ops, v->cfg.metadata, &po);
    if (rc != 0) {
        snprintf(err, errlen, "%s: backfill: cannot set up the REST parser: %s", v->name,
                 fh_strerror(rc));
        return rc;
    }
    b->parser_inited = true;
    b->n_reqs = c->max_requests > 0 ? c->max_requests : 4;
    b->reqs = calloc(b->n_reqs, sizeof(*b->reqs));
    if (b->reqs == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    for (size_t i = 0; i < b->n_reqs; i++)
        b->reqs[i].v = v;
    static const char *const capture[] = {"Retry-After", "X-MBX-USED-WEIGHT-1M"};
    struct fh_http_async_config hc = {.max_requests = b->n_reqs,
                                      .max_body = BF_MAX_BODY,
                                      .timeout_ms = c->request_timeout_ms,
                                      .connect_timeout_ms = c->request_timeout_ms,
                                      .ca_file = c->ca_file,
                                      .insecure = c->insecure,
                                      .capture = capture,
                                      .n_capture = 2};
    char herr[256];
    rc = fh_http_async_new(e->loop, &hc, &b->http, herr, sizeof(herr));
    if (rc != 0) {
        snprintf(err, errlen, "%s: backfill: %s", v->name, herr);
        return rc;
    }
    fh_buf_init(&b->url, 8192);
    b->conn_id = ++e->next_conn_id;
    log_info("backfill on",
             "venue=%s rest_url=%s paging=%s max_open_gaps=%zu hold=%zu "
             "deadline_ms=%lld requests=%zu conn=%lld",
             v->name, v->cfg.rest_url, by_id ? "id" : "since", bc.max_jobs, bc.hold_capacity,
             (long long)(bc.deadline_ns / NS_PER_MS), b->n_reqs, (long long)b->conn_id);
    return 0;
}

void eng_bf_release(struct venue *v)
{
    struct eng_bf *b = &v->bf;
    if (b->bf_inited)
        fh_backfill_release(&b->bf);
    if (b->parser_inited)
        fh_venue_parser_release(&b->parser);
    free(b->reqs);
    free(b->last_time_ns);
    fh_buf_release(&b->url);
    memset(b, 0, sizeof(*b));
}

/* ---- writing ------------------------------------------------------------------------------- */

/* The rest of the answered page. */
static int write_page(struct venue *v)
{
    struct eng_bf *b = &v->bf;
    while (b->page_next < b->page_end) {
        struct fh_trade *t = &b->page.trades[b->page_next];
        t->receive_time_ns = b->page_rt_ns;
        t->receive_mono_ns = b->page_mono_ns;
        t->connection_id = b->conn_id;
        t->sequence = b->seq + 1;
        int rc = fh_sink_write(sink_of(v), t);
        if (rc == FH_ENOSPACE)
            return FH_ENOSPACE;
        if (rc == 0) {
            b->seq++;
            count(&v->st.trades, 1);
            count(&v->st.bf_trades, 1);
            count_sym(v, b->page_ci, t);
        } else {
            count(&v->st.sink_errors, 1);
        }
        b->page_next++;
    }
    b->page_pending = false;
    return 0;
}

/* The released held trades of track ti, in id order. */
static int release_track(struct venue *v, size_t ti)
{
    struct eng_bf *b = &v->bf;
    const struct fh_trade *h;
    while ((h = fh_backfill_held_peek(&b->bf, (uint32_t)ti)) != NULL) {
        int rc = fh_sink_write(sink_of(v), h);
        if (rc == FH_ENOSPACE)
            return FH_ENOSPACE;
        if (rc == 0) {
            count(&v->st.trades, 1);
            count_sym(v, ti / v->n_ch, h);
        } else {
            count(&v->st.sink_errors, 1);
        }
        fh_backfill_held_pop(&b->bf, (uint32_t)ti);
    }
    return 0;
}

static void log_final(struct venue *v, const struct fh_backfill_event *ev,
                      const struct fh_gap_record *g)
{
    uint64_t sup = 0;
    if (!fh_ratelimit_allow(&v->bf.rl_log, eng_now(v->e), &sup))
        return;
    struct fh_logq q;
    const char *st = fh_backfill_status_name(ev->status);
    const char *what = ev->status == FH_BACKFILL_FILLED ? "gap filled" : "gap not filled";
    int64_t r0 = ev->n_ranges > 0 ? ev->ranges[0].first : 0;
    int64_t r1 = ev->n_ranges > 0 ? ev->ranges[0].last : -1;
    if (ev->status == FH_BACKFILL_FILLED)
        log_info(what,
                 "venue=%s symbol=%s kind=%s first_missing=%lld last_missing=%lld status=%s "
                 "filled=%lld suppressed=%llu",
                 v->name, fh_logq_n(&q, g->native_symbol.p, g->native_symbol.n),
                 fh_trade_kind_name(g->kind), (long long)ev->first_id, (long long)ev->last_id, st,
                 (long long)ev->filled, (unsigned long long)sup);
    else
        log_warn(what,
                 "venue=%s symbol=%s kind=%s first_missing=%lld last_missing=%lld status=%s "
                 "reason=\"%s\" filled=%lld missing=%lld ranges=%zu first_range=%lld-%lld "
                 "suppressed=%llu",
                 v->name, fh_logq_n(&q, g->native_symbol.p, g->native_symbol.n),
                 fh_trade_kind_name(g->kind), (long long)ev->first_id, (long long)ev->last_id, st,
                 ev->reason, (long long)ev->filled, (long long)ev->missing, ev->n_ranges,
                 (long long)r0, (long long)r1, (unsigned long long)sup);
}

/* One gap event as a gap record to the sink. */
static int write_event(struct venue *v, const struct fh_backfill_event *ev)
{
    size_t ci = ev->track / v->n_ch;
    const struct fh_symbols *meta = v->cfg.metadata;
    const struct fh_symbol *sym = fh_symbols_find(meta, v->natives[ci]);
    struct fh_gap_range rr[FH_BACKFILL_MAX_RANGES];
    struct fh_gap_record g = {
        .venue = fh_str_c(v->name),
        .symbol =
            sym != NULL ? (struct fh_str){sym->canonical, sym->canonical_len} : v->natives[ci],
        .native_symbol = v->natives[ci],
        .kind = track_kind(v, ev->track),
        .reported_time_ns = fh_clock_realtime_ns(),
    };
    fh_backfill_event_record(ev, rr, &g);
    int rc = fh_sink_write_gap(sink_of(v), &g);
    if (rc == FH_ENOSPACE)
        return FH_ENOSPACE;
    if (rc != 0 && rc != FH_EUNSUPPORTED) {
        count(&v->st.bf_gap_write_errors, 1);
        uint64_t sup = 0;
        if (fh_ratelimit_allow(&v->bf.rl_log, eng_now(v->e), &sup))
            log_error("gap record not written", "venue=%s first_missing=%lld status=%s error=%s",
                      v->name, (long long)ev->first_id, fh_backfill_status_name(ev->status),
                      fh_strerror(rc));
    }
    count(&v->st.bf_gaps[ev->status & 3], 1);
    if (ev->status != FH_BACKFILL_DETECTED) {
        count(&v->st.bf_ids_missing, (uint64_t)ev->missing);
        log_final(v, ev, &g);
    }
    return 0;
}

static int write_events(struct venue *v)
{
    struct eng_bf *b = &v->bf;
    if (b->ev_pending) {
        if (write_event(v, &b->ev) == FH_ENOSPACE)
            return FH_ENOSPACE;
        b->ev_pending = false;
    }
    while (fh_backfill_next_event(&b->bf, &b->ev)) {
        if (write_event(v, &b->ev) == FH_ENOSPACE) {
            b->ev_pending = true;
            return FH_ENOSPACE;
        }
    }
    return 0;
}

/* Page rows, gap records and released trades, until none is left or the sink is full. */
static int write_all(struct venue *v)
{
    struct eng_bf *b = &v->bf;
    if (b->page_pending && write_page(v) == FH_ENOSPACE)
        return FH_ENOSPACE;
    do {
        if (write_events(v) == FH_ENOSPACE)
            return FH_ENOSPACE;
        for (size_t ti = 0; ti < v->n_tracks; ti++)
            if (release_track(v, ti) == FH_ENOSPACE)
                return FH_ENOSPACE;
    } while (b->bf.ev_n > 0);
    return 0;
}

int eng_bf_output(struct venue *v, size_t ti, size_t ci, struct fh_trade *t, bool *written)
{
    struct eng_bf *b = &v->bf;
    *written = false;
    /* What backfill owes this track goes first: the page's rows, the gap records (this
     * trade's own among them: the event ring holds the records of one trade, not of a whole
     * read), then its released trades. */
    if (b->page_pending && write_page(v) == FH_ENOSPACE) {
        b->work = true;
        return FH_ENOSPACE;
    }
    if ((b->ev_pending || b->bf.ev_n > 0) && write_events(v) == FH_ENOSPACE) {
        b->work = true;
        return FH_ENOSPACE;
    }
    if (release_track(v, ti) == FH_ENOSPACE) {
        b->work = true;
        return FH_ENOSPACE;
    }
    if (fh_backfill_holding(&b->bf, (uint32_t)ti)) {
        struct fh_trade c = *t;
        c.native_symbol = v->natives[ci]; /* the message's text is gone when it is released */
        int h = fh_backfill_hold(&b->bf, (uint32_t)ti, &c, eng_now(v->e));
        if (h == FH_BACKFILL_HELD) {
            count(&v->st.bf_held, 1);
            return 0;
        }
        b->work = true; /* events (FULL ended the track's gaps) */
        if (h == FH_BACKFILL_FULL && release_track(v, ti) == FH_ENOSPACE)
            return FH_ENOSPACE;
        if (h < 0)
            log_error("backfill refused a live trade (a bug): written as is",
                      "venue=%s id=%lld error=%s", v->name, (long long)t->trade_id, fh_strerror(h));
    }
    int rc = fh_sink_write(sink_of(v), t);
    *written = rc == 0;
    return rc;
}

/* ---- requests ------------------------------------------------------------------------------ */

static void arm_timer(struct venue *v, int64_t at_ns, int64_t now)
{
    struct eng_bf *b = &v->bf;
    if (b->timer_due_ns != 0 && b->timer_due_ns <= at_ns)
        return;
    int64_t ms = (at_ns - now + NS_PER_MS - 1) / NS_PER_MS;
    if (ms < 1)
        ms = 1;
    b->timer_due_ns = at_ns;
    uv_timer_start(&b->timer, bf_timer_cb, (uint64_t)ms, 0);
}

static void on_answer(struct fh_http_async *c, const struct fh_http_async_result *r, void *user);

static struct bf_req *free_req(struct eng_bf *b)
{
    for (size_t i = 0; i < b->n_reqs; i++)
        if (b->reqs[i].job == 0)
            return &b->reqs[i];
    return NULL;
}

static void send_requests(struct venue *v, int64_t now)
{
    struct eng_bf *b = &v->bf;
    const char *base = v->cfg.rest_url;
    size_t base_n = strlen(base);
    while (base_n > 0 && base[base_n - 1] == '/')
        base_n--;
    struct bf_req *q;
    while ((q = free_req(b)) != NULL) {
        struct fh_backfill_request rq;
        int64_t wake = 0;
        enum fh_backfill_next nx = fh_backfill_next_request(&b->bf, now, &rq, &wake);
        if (nx == FH_BACKFILL_IDLE)
            break;
        if (nx == FH_BACKFILL_WAIT) {
            arm_timer(v, wake, now);
            break;
        }
        fh_buf_reset(&b->url);
        int rc = fh_buf_append(&b->url, base, base_n);
        if (rc == 0)
            rc = v->cfg.ops->build_rest_trades(&rq.req, &b->url);
        uint64_t id = 0;
        if (rc == 0) {
            const char *us = v->cfg.ops->rest_time_us_header;
            const char *const hdrs[1] = {us};
            struct fh_http_async_req hr = {.url = b->url.data,
                                           .headers = v->cfg.time_us && us ? hdrs : NULL,
                                           .n_headers = v->cfg.time_us && us ? 1 : 0};
            rc = fh_http_async_get(b->http, &hr, on_answer, q, &id);
        }
        if (rc != 0) {
            /* Not sent (no slot, a URL that cannot be built): the gap asks again later. */
            struct fh_backfill_answer a = {.job = rq.job, .not_sent = true, .status = 0};
            struct fh_backfill_emit em;
            fh_backfill_on_answer(&b->bf, &a, now, &em);
            uint64_t sup = 0;
            if (fh_ratelimit_allow(&b->rl_log, now, &sup))
                log_warn("backfill request not sent", "venue=%s error=%s suppressed=%llu", v->name,
                         fh_strerror(rc), (unsigned long long)sup);
            arm_timer(v, now + 100 * NS_PER_MS, now);
            break;
        }
        q->job = rq.job;
        q->track = rq.track;
    }
}

static void on_answer(struct fh_http_async *c, const struct fh_http_async_result *r, void *user)
{
    (void)c;
    struct bf_req *q = user;
    struct venue *v = q->v;
    struct eng_bf *b = &v->bf;
    struct fh_engine *e = v->e;
    uint64_t job = q->job;
    uint32_t track = q->track;
    q->job = 0;
    if (e->stopping || !b->on)
        return;
    int64_t now = eng_now(e);
    bool answered = r->outcome == FH_HTTP_ASYNC_OK;
    struct fh_backfill_answer a = {
        .job = job,
        .status = answered ? r->status : 0,
        .retry_after_s = fh_backfill_header_int(r->header[BF_CAPTURE_RETRY]),
        .used_weight = fh_backfill_header_int(r->header[BF_CAPTURE_USED]),
    };
    struct fh_rest_page page;
    if (b->page_pending) {
        /* The parser's buffers still hold the last page: this answer is not used (its gap
         * asks again; no failure is counted). */
        a.not_sent = true;
    } else if (answered && r->status == 200) {
        enum fh_reject rej = FH_REJ_NONE;
        size_t ci = track / v->n_ch;
        if (v->cfg.ops->parse_rest_trades(&b->parser, r->body, r->body_len, v->natives[ci], &page,
                                          &rej) == 0) {
            a.page = &page;
        } else {
            uint64_t sup = 0;
            if (fh_ratelimit_allow(&b->rl_log, now, &sup))
                log_warn("backfill page rejected", "venue=%s reason=%s len=%zu suppressed=%llu",
                         v->name, fh_reject_name(rej), r->body_len, (unsigned long long)sup);
        }
    } else if (!answered) {
        uint64_t sup = 0;
        if (fh_ratelimit_allow(&b->rl_log, now, &sup))
            log_warn("backfill request failed", "venue=%s outcome=%s error=\"%s\" suppressed=%llu",
                     v->name, fh_http_async_outcome_name(r->outcome), r->error,
                     (unsigned long long)sup);
    }
    struct fh_backfill_emit em = {0, 0};
    if (fh_backfill_on_answer(&b->bf, &a, now, &em) == 0 && a.page != NULL && em.n > 0) {
        b->page = page;
        b->page_next = em.first;
        b->page_end = em.first + em.n;
        b->page_ci = track / v->n_ch;
        b->page_rt_ns = fh_clock_realtime_ns();
        b->page_mono_ns = fh_clock_monotonic_ns();
        b->page_pending = true;
    }
    eng_bf_pump(v);
}

/* ---- the pump, the timer, the stop ----------------------------------------------------------- */

void eng_bf_pump(struct venue *v)
{
    struct eng_bf *b = &v->bf;
    if (!b->on)
        return;
    struct fh_engine *e = v->e;
    int64_t now = eng_now(e);
    for (int round = 0; round < 4; round++) {
        if (write_all(v) == FH_ENOSPACE) {
            /* The sink is full: again from the check callback, or at the latest in 1 ms. */
            b->work = true;
            arm_timer(v, now + NS_PER_MS, now);
            break;
        }
        b->work = false;
        if (e->stopping || b->page_pending || !b->fetch)
            break;
        send_requests(v, now);
        if (b->bf.ev_n == 0 && !b->page_pending)
            break; /* nothing new came out of the requests (deadlines end gaps there) */
    }
    eng_bf_publish(v, now);
}

static void bf_timer_cb(uv_timer_t *t)
{
    struct venue *v = t->data;
    v->bf.timer_due_ns = 0;
    eng_bf_pump(v);
}

void eng_bf_publish(struct venue *v, int64_t now)
{
    (void)now;
    struct eng_bf *b = &v->bf;
    if (!b->on)
        return;
    const struct fh_backfill_stats *s = &b->bf.st;
    struct fh_feed_venue_stats *st = &v->st;
    __atomic_store_n(&st->bf_requests, s->requests, __ATOMIC_RELAXED);
    __atomic_store_n(&st->bf_failures, s->failures, __ATOMIC_RELAXED);
    __atomic_store_n(&st->bf_throttled, s->throttled, __ATOMIC_RELAXED);
    __atomic_store_n(&st->bf_banned, s->banned, __ATOMIC_RELAXED);
    __atomic_store_n(&st->bf_weight, s->weight_used, __ATOMIC_RELAXED);
    uint64_t lost_seen = st->bf_records_lost; /* only this thread writes it */
    if (s->events_dropped != lost_seen) {
        /* Should not happen (every trade's records are written before the next trade): the
         * ring overwrote records nobody wrote. Their gaps are in the gap log lines only. */
        log_error("gap records lost (a bug)", "venue=%s lost=%llu total=%llu", v->name,
                  (unsigned long long)(s->events_dropped - lost_seen),
                  (unsigned long long)s->events_dropped);
        __atomic_store_n(&st->bf_records_lost, s->events_dropped, __ATOMIC_RELAXED);
    }
    gauge_set(&st->bf_open, (int64_t)fh_backfill_open(&b->bf));
    gauge_set(&st->bf_held_now, (int64_t)fh_backfill_held(&b->bf));
    int64_t oldest = fh_backfill_oldest_detected(&b->bf);
    int64_t age = oldest > 0 ? (fh_clock_realtime_ns() - oldest) / 1000000000 : 0;
    gauge_set(&st->bf_oldest_open_s, age > 0 ? age : 0);
}

void eng_bf_gap(struct venue *v, struct session *s, size_t ti, const struct fh_trade *t,
                int64_t first, int64_t n)
{
    struct eng_bf *b = &v->bf;
    if (!b->on || n <= 0)
        return;
    size_t ci = ti / v->n_ch;
    enum fh_backfill_style style =
        v->cfg.ops->caps.rest_paging == FH_REST_BY_SINCE ? FH_BACKFILL_KRAKEN_SINCE
        : track_kind(v, ti) == FH_KIND_AGG_TRADE         ? FH_BACKFILL_BINANCE_AGG
                                                         : FH_BACKFILL_BINANCE_TRADES;
    struct fh_backfill_gap g = {.track = (uint32_t)ti,
                                .style = style,
                                .symbol = v->natives[ci],
                                .first_id = first,
                                .last_id = first + n - 1,
                                .detected_ns = t->receive_time_ns,
                                .since_ns = b->last_time_ns[ti],
                                .tag = s->conn_id};
    if (fh_backfill_gap(&b->bf, &g, eng_now(v->e)) == 0 && b->bf.ev_n == 0)
        log_error("backfill refused a gap (a bug)", "venue=%s first_missing=%lld missing=%lld",
                  v->name, (long long)first, (long long)n);
    b->work = true; /* its DETECTED record, and a request to send */
}

static void http_closed(void *user)
{
    struct fh_engine *e = user;
    e->handles_open--;
    eng_maybe_finish_stop(e);
}

void eng_bf_close(struct venue *v)
{
    struct eng_bf *b = &v->bf;
    if (!b->on)
        return;
    struct fh_engine *e = v->e;
    /* No live trade comes any more: every open gap ends ("handler stopped"), and what it held
     * is written. The sink gets a few seconds to take it (shutdown may block). */
    size_t ended = fh_backfill_stop(&b->bf, eng_now(e));
    int64_t deadline = fh_clock_monotonic_ns() + BF_SHUTDOWN_MS * NS_PER_MS;
    int rc;
    while ((rc = write_all(v)) == FH_ENOSPACE && fh_clock_monotonic_ns() < deadline) {
        fh_sink_poll(sink_of(v));
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc == FH_ENOSPACE)
        log_error("backfill: the sink did not take everything at shutdown",
                  "venue=%s held_trades=%zu page_rows=%zu", v->name, fh_backfill_held(&b->bf),
                  b->page_pending ? b->page_end - b->page_next : 0);
    if (ended > 0)
        log_warn("backfill: open gaps ended by the stop", "venue=%s gaps=%zu", v->name, ended);
    eng_bf_publish(v, eng_now(e));
    b->on = false;
    if (b->timer_inited) {
        /* Closed before the loop's last run: nothing of ours follows its close. */
        uv_close((uv_handle_t *)&b->timer, NULL);
        b->timer_inited = false;
    }
    if (b->http != NULL && !b->http_closing) {
        b->http_closing = true;
        e->handles_open++;
        fh_http_async_close(b->http, http_closed, e);
        b->http = NULL;
    }
}

int eng_bf_register_metrics(struct fh_metrics *m, struct venue *v, const char *labels)
{
    struct fh_feed_venue_stats *st = &v->st;
    int rc = 0;
    static const char *const status[4] = {"detected", "filled", "partial", "unrecoverable"};
    for (int i = 0; i < 4 && rc == 0; i++) {
        char l[256];
        fh_metrics_labels(l, sizeof(l), "venue", v->name, "status", status[i], NULL);
        rc = fh_metrics_counter(m, "feedhandler_backfill_gaps_total",
                                "Gap records by status: detected when a gap is seen, then one "
                                "final record per gap (filled, partial, unrecoverable).",
                                l, &st->bf_gaps[i]);
    }
#define C(name, help, cell) \
    if (rc == 0)            \
    rc = fh_metrics_counter(m, name, help, labels, cell)
#define G(name, help, cell) \
    if (rc == 0)            \
    rc = fh_metrics_gauge(m, name, help, labels, cell)
    C("feedhandler_backfill_trades_total", "Trades fetched over REST and written (BACKFILL).",
      &st->bf_trades);
    C("feedhandler_backfill_missing_ids_total",
      "Trade ids the final gap records declare missing (partial, unrecoverable).",
      &st->bf_ids_missing);
    C("feedhandler_backfill_requests_total", "REST history pages requested.", &st->bf_requests);
    C("feedhandler_backfill_request_failures_total",
      "REST page requests without a usable answer (no answer, not 200, unusable body).",
      &st->bf_failures);
    C("feedhandler_backfill_throttled_total",
      "REST answers that said slow down: HTTP 429, Kraken EGeneral:Too many requests.",
      &st->bf_throttled);
    C("feedhandler_backfill_banned_total", "REST answers HTTP 418 (Binance IP ban).",
      &st->bf_banned);
    C("feedhandler_backfill_weight_total", "Binance request weight charged by backfill.",
      &st->bf_weight);
    C("feedhandler_backfill_held_trades_total",
      "Live trades held while their symbol's gap was filled.", &st->bf_held);
    C("feedhandler_backfill_gap_write_errors_total", "Gap records the sink could not take.",
      &st->bf_gap_write_errors);
    C("feedhandler_backfill_records_lost_total",
      "Gap records overwritten in the engine before they were written (a bug; logged).",
      &st->bf_records_lost);
    G("feedhandler_backfill_open_gaps", "Gaps being filled now.", &st->bf_open);
    G("feedhandler_backfill_oldest_open_gap_seconds",
      "Age of the oldest gap being filled (0: none).", &st->bf_oldest_open_s);
    G("feedhandler_backfill_held_trades", "Live trades held now.", &st->bf_held_now);
#undef C
#undef G
    return rc;
}
