/*
 * backfill_cmd.c - `feedhandler backfill`: repair a range of trade ids by hand.
 *
 * The daemon's backfill (feed/backfill.c for the decisions, net/http_async.h for the requests,
 * the venue's build_rest_trades / parse_rest_trades for the pages) run once over one range:
 * every id from --from-id to --to-id of one symbol's trade or aggregate sequence is fetched
 * from the venue's rest_url and written to the configured sink (the daemon's sink: stdout, a
 * file, or Kafka with the registry and the spool), source BACKFILL, connection id 0 (a repair
 * run) and sequence 1, 2, 3...; then one gap record says what became of the range (FILLED,
 * PARTIAL or UNRECOVERABLE with the missing ranges and why). The budgets are [backfill]'s
 * (weight share, Kraken pair spacing, 429 / 418 / Too many requests honoured), the deadline
 * backfill.deadline_ms: set it for a long range. Kraken pages by time: --since gives the
 * trade time (ns, or s with a decimal point) of a trade at or before the range, e.g. the last
 * trade before it on the topic.
 *
 * Exit status: 0 every id was written (FILLED), 1 some were not (the gap record says which)
 * or the sink failed, 2 usage or configuration, 3 the registry.
 */
#include "app/cli.h"
#include "app/config.h"
#include "app/sink_factory.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "feed/backfill.h"
#include "feed/metadata.h"
#include "model/symbols.h"
#include "net/http_async.h"
#include "sink/sink.h"
#include "venue/venue.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define BACKFILL_USAGE                                                 \
    "-c FILE --venue PROTOCOL --symbol SYMBOL --from-id A --to-id B\n" \
    "       [--kind trade|aggTrade] [--since TIME] [--set section.key=value]..."
#define MAX_SYMBOLS 65536
#define MAX_BODY    (2u << 20)

struct opts {
    const char *config, *venue, *symbol, *kind, *since;
    const char **sets;
    size_t nsets;
    int64_t from, to;
    bool have_from, have_to;
};

struct run {
    uv_loop_t loop;
    uv_timer_t timer;
    const struct fh_venue_ops *ops;
    const char *rest_url;
    struct fh_sink *sink;
    int64_t flush_ms;
    struct fh_backfill bf;
    struct fh_venue_parser parser;
    struct fh_http_async *http;
    struct fh_str symbol;
    struct fh_buf url;
    bool time_us;
    bool done, failed;
    struct fh_backfill_event final;
    int64_t seq;
    uint64_t job;
};

static int usage_error(const char *fmt, ...) FH_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "feedhandler backfill: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: feedhandler backfill %s\n", BACKFILL_USAGE);
    return FH_EXIT_USAGE;
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0)
        return false;
    *out = v;
    return true;
}

/* TIME: nanoseconds since the epoch, or seconds with a decimal point. */
static bool parse_time_ns(const char *s, int64_t *out)
{
    if (strchr(s, '.') == NULL)
        return parse_i64(s, out);
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || v < 0 || v > 9e9)
        return false;
    *out = (int64_t)(v * 1e9);
    return true;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"venue", required_argument, NULL, 'v'},  {"symbol", required_argument, NULL, 'y'},
        {"kind", required_argument, NULL, 'k'},   {"from-id", required_argument, NULL, 'f'},
        {"to-id", required_argument, NULL, 't'},  {"since", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->sets = calloc((size_t)argc + 1, sizeof(*o->sets));
    if (o->sets == NULL)
        return FH_EXIT_RUNTIME;
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:s:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 's':
            o->sets[o->nsets++] = optarg;
            break;
        case 'v':
            o->venue = optarg;
            break;
        case 'y':
            o->symbol = optarg;
            break;
        case 'k':
            o->kind = optarg;
            break;
        case 'S':
            o->since = optarg;
            break;
        case 'f':
            if (!parse_i64(optarg, &o->from))
                return usage_error("--from-id: not a trade id: %s", optarg);
            o->have_from = true;
            break;
        case 't':
            if (!parse_i64(optarg, &o->to))
                return usage_error("--to-id: not a trade id: %s", optarg);
            o->have_to = true;
            break;
        case 'h':
            printf("usage: feedhandler backfill %s\n", BACKFILL_USAGE);
            return FH_EXIT_OK;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->config == NULL || o->venue == NULL || o->symbol == NULL || !o->have_from || !o->have_to)
        return usage_error("-c, --venue, --symbol, --from-id and --to-id are required");
    if (o->from > o->to)
        return usage_error("--from-id %lld is after --to-id %lld", (long long)o->from,
                           (long long)o->to);
    if (o->kind != NULL && strcmp(o->kind, "trade") != 0 && strcmp(o->kind, "aggTrade") != 0)
        return usage_error("--kind: trade or aggTrade, not %s", o->kind);
    return -1;
}

/* Writes t, waiting while the sink pushes back (a one-shot command may block). */
static int write_trade(struct run *r, struct fh_trade *t)
{
    int64_t deadline = fh_clock_monotonic_ns() + r->flush_ms * 1000000;
    int rc;
    while ((rc = fh_sink_write(r->sink, t)) == FH_ENOSPACE && fh_clock_monotonic_ns() < deadline) {
        fh_sink_poll(r->sink);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return rc;
}

static void pump(struct run *r);

static void on_timer(uv_timer_t *t)
{
    pump(t->data);
}

static void on_answer(struct fh_http_async *c, const struct fh_http_async_result *res, void *user)
{
    (void)c;
    struct run *r = user;
    int64_t now = fh_clock_monotonic_ns();
    struct fh_backfill_answer a = {
        .job = r->job,
        .status = res->outcome == FH_HTTP_ASYNC_OK ? res->status : 0,
        .retry_after_s = fh_backfill_header_int(res->header[0]),
        .used_weight = fh_backfill_header_int(res->header[1]),
    };
    r->job = 0;
    struct fh_rest_page page;
    enum fh_reject rej = FH_REJ_NONE;
    if (res->outcome == FH_HTTP_ASYNC_OK && res->status == 200) {
        if (r->ops->parse_rest_trades(&r->parser, res->body, res->body_len, r->symbol, &page,
                                      &rej) == 0)
            a.page = &page;
        else
            log_warn("backfill: page rejected", "reason=%s", fh_reject_name(rej));
    } else {
        log_warn("backfill: request failed", "outcome=%s status=%ld error=\"%s\"",
                 fh_http_async_outcome_name(res->outcome), res->status, res->error);
    }
    struct fh_backfill_emit em = {0, 0};
    if (fh_backfill_on_answer(&r->bf, &a, now, &em) == 0 && a.page != NULL) {
        int64_t rt = fh_clock_realtime_ns();
        for (size_t i = em.first; i < em.first + em.n; i++) {
            struct fh_trade *t = &page.trades[i];
            t->receive_time_ns = rt;
            t->receive_mono_ns = now;
            t->connection_id = 0;
            t->sequence = r->seq + 1;
            int rc = write_trade(r, t);
            if (rc == 0) {
                r->seq++;
            } else {
                log_error("backfill: the sink did not take a trade", "id=%lld error=%s",
                          (long long)t->trade_id, fh_strerror(rc));
                r->failed = true;
            }
        }
    }
    pump(r);
}

static void pump(struct run *r)
{
    struct fh_backfill_event ev;
    while (fh_backfill_next_event(&r->bf, &ev)) {
        if (ev.status != FH_BACKFILL_DETECTED) {
            r->final = ev;
            r->done = true;
        }
    }
    if (r->done || r->failed) {
        uv_stop(&r->loop);
        return;
    }
    if (r->job != 0)
        return; /* one page at a time */
    int64_t now = fh_clock_monotonic_ns(), wake = 0;
    struct fh_backfill_request rq;
    enum fh_backfill_next nx = fh_backfill_next_request(&r->bf, now, &rq, &wake);
    if (nx == FH_BACKFILL_WAIT) {
        int64_t ms = (wake - now) / 1000000 + 1;
        uv_timer_start(&r->timer, on_timer, (uint64_t)(ms > 0 ? ms : 1), 0);
        return;
    }
    if (nx != FH_BACKFILL_SEND) {
        /* IDLE: the gap ended; its final event is queued. */
        while (fh_backfill_next_event(&r->bf, &ev)) {
            if (ev.status != FH_BACKFILL_DETECTED) {
                r->final = ev;
                r->done = true;
            }
        }
        r->failed |= !r->done;
        uv_stop(&r->loop);
        return;
    }
    fh_buf_reset(&r->url);
    size_t n = strlen(r->rest_url);
    while (n > 0 && r->rest_url[n - 1] == '/')
        n--;
    int rc = fh_buf_append(&r->url, r->rest_url, n);
    if (rc == 0)
        rc = r->ops->build_rest_trades(&rq.req, &r->url);
    const char *hdr[1] = {r->ops->rest_time_us_header};
    bool us = r->time_us && hdr[0] != NULL;
    struct fh_http_async_req hr = {
        .url = r->url.data, .headers = us ? hdr : NULL, .n_headers = us ? 1 : 0};
    uint64_t id = 0;
    if (rc == 0)
        rc = fh_http_async_get(r->http, &hr, on_answer, r, &id);
    if (rc != 0) {
        log_error("backfill: cannot send the request", "error=%s", fh_strerror(rc));
        r->failed = true;
        uv_stop(&r->loop);
        return;
    }
    r->job = rq.job;
}

static void write_record(struct run *r, const struct fh_symbol *sym, enum fh_trade_kind kind,
                         const char *venue)
{
    struct fh_gap_range rr[FH_BACKFILL_MAX_RANGES];
    struct fh_gap_record g = {.venue = fh_str_c(venue),
                              .symbol = {sym->canonical, sym->canonical_len},
                              .native_symbol = r->symbol,
                              .kind = kind,
                              .reported_time_ns = fh_clock_realtime_ns()};
    fh_backfill_event_record(&r->final, rr, &g);
    g.connection_id = 0; /* a repair run */
    int64_t deadline = fh_clock_monotonic_ns() + r->flush_ms * 1000000;
    int rc;
    while ((rc = fh_sink_write_gap(r->sink, &g)) == FH_ENOSPACE &&
           fh_clock_monotonic_ns() < deadline) {
        fh_sink_poll(r->sink);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc != 0 && rc != FH_EUNSUPPORTED) {
        log_error("backfill: the gap record was not written", "error=%s", fh_strerror(rc));
        r->failed = true;
    }
}

static void http_closed(void *user)
{
    (void)user;
}

static int run_backfill(const struct opts *o, const struct fh_config *cfg)
{
    int status = FH_EXIT_RUNTIME;
    struct run r;
    memset(&r, 0, sizeof(r));
    r.ops = fh_venue_find(o->venue);
    if (r.ops == NULL || !r.ops->caps.trade_ids || r.ops->caps.rest_paging == FH_REST_NONE)
        return usage_error("--venue: binance or kraken-v2 (a protocol with trade ids and REST "
                           "history), not %s",
                           o->venue);
    bool binance = strcmp(r.ops->section, "binance") == 0;
    bool agg = o->kind != NULL && strcmp(o->kind, "aggTrade") == 0;
    if (agg && r.ops->caps.rest_paging != FH_REST_BY_ID)
        return usage_error("--kind aggTrade is Binance's");
    int64_t since = 0;
    if (r.ops->caps.rest_paging == FH_REST_BY_SINCE &&
        (o->since == NULL || !parse_time_ns(o->since, &since)))
        return usage_error("--since TIME is required for %s (a trade time at or before the "
                           "range: ns, or seconds with a decimal point)",
                           r.ops->name);
    r.rest_url = binance ? cfg->binance.rest_url : cfg->kraken.rest_url;
    r.time_us = binance && cfg->binance.microseconds;
    r.flush_ms = cfg->sink.flush_timeout_ms;

    struct fh_symbols syms;
    if (fh_symbols_init(&syms, MAX_SYMBOLS) != 0)
        return FH_EXIT_RUNTIME;
    char used[2048], err[512];
    struct fh_metadata_source src = {.file = binance ? cfg->binance.metadata_file
                                                     : cfg->kraken.metadata_file,
                                     .rest_url = r.rest_url,
                                     .ca_file = cfg->tls.ca_file,
                                     .verify = cfg->tls.verify,
                                     .timeout_ms = 30000};
    if (fh_metadata_load(r.ops, &src, &syms, used, sizeof(used), err, sizeof(err)) != 0) {
        log_error("cannot load symbol metadata", "source=\"%s\" error=\"%s\"", used, err);
        fh_symbols_release(&syms);
        return FH_EXIT_RUNTIME;
    }
    const struct fh_symbol *sym = fh_symbols_find(&syms, fh_str_c(o->symbol));
    if (sym == NULL) {
        fh_symbols_release(&syms);
        return usage_error("%s is not listed by %s (native names such as %s)", o->symbol,
                           r.ops->name, r.ops->caps.symbol_example);
    }
    r.symbol = (struct fh_str){sym->native, sym->native_len};

    enum fh_sink_start why = FH_SINK_START_FAILED;
    r.sink = fh_sink_from_config(cfg, &why, err, sizeof(err));
    if (r.sink == NULL) {
        log_error("cannot create the sink", "error=\"%s\"", err);
        fh_symbols_release(&syms);
        return (int)why;
    }
    struct fh_backfill_config bc;
    fh_backfill_config_default(&bc, binance ? FH_BACKFILL_BINANCE : FH_BACKFILL_KRAKEN);
    bc.max_tracks = bc.max_jobs = 1;
    bc.hold_capacity = bc.hold_per_track = 16;
    bc.page_limit = (unsigned)cfg->backfill.page_limit;
    bc.deadline_ns = cfg->backfill.deadline_ms * 1000000;
    bc.max_failures = (unsigned)cfg->backfill.max_failures;
    bc.weight_limit = cfg->backfill.binance_weight_limit;
    bc.weight_share_pct = (unsigned)cfg->backfill.binance_weight_share_pct;
    bc.kraken_pair_interval_ns = cfg->backfill.kraken_pair_interval_ms * 1000000; /* 0: none */
    struct fh_venue_parser_opts po = {.max_message_bytes = MAX_BODY,
                                      .max_tokens = 1u << 17,
                                      .max_trades = bc.page_limit,
                                      .time_us = r.time_us};
    static const char *const capture[] = {"Retry-After", "X-MBX-USED-WEIGHT-1M"};
    struct fh_http_async_config hc = {.max_requests = 1,
                                      .max_body = MAX_BODY,
                                      .timeout_ms = cfg->backfill.request_timeout_ms,
                                      .connect_timeout_ms = cfg->backfill.request_timeout_ms,
                                      .ca_file = cfg->tls.ca_file[0] ? cfg->tls.ca_file : NULL,
                                      .insecure = !cfg->tls.verify,
                                      .capture = capture,
                                      .n_capture = 2};
    bool bf = false, parser = false, loop = false;
    if (fh_backfill_init(&r.bf, &bc) != 0 ||
        !(bf = true, fh_venue_parser_init(&r.parser, r.ops, &syms, &po) == 0) ||
        !(parser = true, uv_loop_init(&r.loop) == 0) ||
        !(loop = true, fh_http_async_new(&r.loop, &hc, &r.http, err, sizeof(err)) == 0)) {
        log_error("backfill: cannot set up", "error=\"%s\"", err);
        goto out;
    }
    fh_buf_init(&r.url, 8192);
    uv_timer_init(&r.loop, &r.timer);
    r.timer.data = &r;
    struct fh_backfill_gap g = {.track = 0,
                                .style = !binance ? FH_BACKFILL_KRAKEN_SINCE
                                         : agg    ? FH_BACKFILL_BINANCE_AGG
                                                  : FH_BACKFILL_BINANCE_TRADES,
                                .symbol = r.symbol,
                                .first_id = o->from,
                                .last_id = o->to,
                                .detected_ns = fh_clock_realtime_ns(),
                                .since_ns = since};
    log_info("backfill: fetching", "venue=%s symbol=%s kind=%s from_id=%lld to_id=%lld rest_url=%s",
             r.ops->name, o->symbol, agg ? "aggTrade" : "trade", (long long)o->from,
             (long long)o->to, r.rest_url);
    if (fh_backfill_gap(&r.bf, &g, fh_clock_monotonic_ns()) == 0) {
        log_error("backfill: the range was refused", "");
        goto out;
    }
    pump(&r);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (r.done) {
        write_record(&r, sym, agg ? FH_KIND_AGG_TRADE : FH_KIND_TRADE, r.ops->venue);
        const struct fh_backfill_event *ev = &r.final;
        log_info("backfill: done",
                 "status=%s reason=\"%s\" filled=%lld missing=%lld ranges=%zu requests=%llu "
                 "throttled=%llu",
                 fh_backfill_status_name(ev->status), ev->reason, (long long)ev->filled,
                 (long long)ev->missing, ev->n_ranges, (unsigned long long)r.bf.st.requests,
                 (unsigned long long)r.bf.st.throttled);
    }
    int frc = fh_sink_flush(r.sink, r.flush_ms);
    if (frc != 0 && frc != FH_SINK_FLUSH_KEPT) {
        log_error("sink flush incomplete", "error=\"%s\"", fh_strerror(frc));
        r.failed = true;
    }
    status =
        r.done && !r.failed && r.final.status == FH_BACKFILL_FILLED ? FH_EXIT_OK : FH_EXIT_RUNTIME;
out:
    if (r.http != NULL) {
        fh_http_async_close(r.http, http_closed, NULL);
        uv_close((uv_handle_t *)&r.timer, NULL);
        uv_run(&r.loop, UV_RUN_DEFAULT);
    }
    if (loop)
        uv_loop_close(&r.loop);
    if (parser)
        fh_venue_parser_release(&r.parser);
    if (bf)
        fh_backfill_release(&r.bf);
    fh_buf_release(&r.url);
    fh_sink_free(r.sink);
    fh_symbols_release(&syms);
    return status;
}

int fh_cmd_backfill(int argc, char **argv)
{
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) {
        free(o.sets);
        return rc;
    }
    struct fh_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    rc = fh_cli_load_config(&cfg, o.config, o.sets, o.nsets);
    if (rc == FH_EXIT_OK) {
        fh_log_set_level(cfg.log.level);
        rc = run_backfill(&o, &cfg);
    }
    fh_config_release(&cfg);
    free(o.sets);
    return rc;
}
