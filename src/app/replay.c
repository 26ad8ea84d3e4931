/*
 * replay.c - `feedhandler replay`: reprocess recorded exchange messages.
 *
 * Reads a file of messages, one per line, and parses them through the same venue code as
 * the live daemon. A line is either a raw message as the exchange sent it (the format of the
 * corpus .ndjson files) or a line of the daemon's [record] files
 * ({"t":recv_ns,"c":conn,"v":protocol,"m":message}, see src/feed/record.h); recording lines
 * of other protocols than --venue are skipped and counted. With --rest the input is one REST
 * response document instead. Trades go to the configured sink (JSON lines on stdout without
 * -c) with source REPLAY. A summary on stderr ends the run: messages, trades, ignored,
 * control events, rejected by reason.
 *
 * Lineage in replayed records: sequence counts the trades of this run from 0; connection_id
 * and receive_time_ns are the recorded ones for recording lines, and 0 (unknown) for raw
 * lines, which carry neither.
 */
#include "app/cli.h"
#include "app/config.h"
#include "app/sink_factory.h"
#include "core/err.h"
#include "core/log.h"
#include "feed/record.h"
#include "sink/sink.h"
#include "venue/venue.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLAY_USAGE                                                          \
    "--venue PROTOCOL --input FILE --metadata FILE [--rest [--symbol SYM]]\n" \
    "       [--time-us] [--strict] [-c FILE [--set section.key=value]...]"

#define MAX_METADATA_BYTES (64u << 20)
#define MAX_SYMBOLS        65536

struct replay_opts {
    const char *venue;
    const char *input;
    const char *metadata;
    const char *config;
    const char *symbol;
    const char **sets;
    size_t nsets;
    bool rest;
    bool time_us;
    bool strict;
};

struct replay_stats {
    uint64_t messages;
    uint64_t trades;
    uint64_t events[FH_EV_IGNORED + 1];
    uint64_t rejected[FH_REJ_COUNT];
    uint64_t sink_failed;
    uint64_t other_venue; /* recording lines of another protocol, skipped */
    uint64_t bad_hex;     /* recording lines whose hex message does not decode */
};

static int usage_error(const char *fmt, ...) FH_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "feedhandler replay: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: feedhandler replay %s\n", REPLAY_USAGE);
    return FH_EXIT_USAGE;
}

static int parse_opts(int argc, char **argv, struct replay_opts *o)
{
    static const struct option longopts[] = {
        {"venue", required_argument, NULL, 'v'},
        {"input", required_argument, NULL, 'i'},
        {"metadata", required_argument, NULL, 'm'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"rest", no_argument, NULL, 'r'},
        {"symbol", required_argument, NULL, 'y'},
        {"time-us", no_argument, NULL, 'u'},
        {"strict", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->sets = calloc((size_t)argc + 1, sizeof(*o->sets));
    if (o->sets == NULL)
        return FH_EXIT_RUNTIME;
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":v:i:m:c:s:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'v':
            o->venue = optarg;
            break;
        case 'i':
            o->input = optarg;
            break;
        case 'm':
            o->metadata = optarg;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 's':
            o->sets[o->nsets++] = optarg;
            break;
        case 'r':
            o->rest = true;
            break;
        case 'y':
            o->symbol = optarg;
            break;
        case 'u':
            o->time_us = true;
            break;
        case 'S':
            o->strict = true;
            break;
        case 'h':
            printf("usage: feedhandler replay %s\n", REPLAY_USAGE);
            return FH_EXIT_OK;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->venue == NULL)
        return usage_error("%s", "--venue is required");
    if (o->input == NULL)
        return usage_error("%s", "--input is required");
    if (o->metadata == NULL)
        return usage_error("%s", "--metadata is required: canonical symbols come from the "
                                 "exchange's metadata (exchangeInfo / AssetPairs)");
    if (o->nsets > 0 && o->config == NULL)
        return usage_error("%s", "--set needs -c FILE");
    return -1;
}

/* Reads a whole file (bounded) into a malloc'd, NUL-terminated buffer. */
static char *slurp(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct fh_buf b;
    fh_buf_init(&b, max);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (fh_buf_append(&b, chunk, n) != 0) {
            snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
            fh_buf_release(&b);
            fclose(f);
            return NULL;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read %s", path);
        fh_buf_release(&b);
        return NULL;
    }
    if (fh_buf_reserve(&b, 0) != 0) {
        fh_buf_release(&b);
        return NULL;
    }
    b.data[b.len] = '\0';
    *len = b.len;
    return b.data;
}

/* Writes one trade, waiting while the sink pushes back (replay is a batch job). */
static int emit(struct fh_sink *sink, struct fh_trade *t, int64_t conn, int64_t recv_ns,
                struct replay_stats *st)
{
    t->source = FH_SOURCE_REPLAY;
    t->connection_id = conn;
    t->sequence = (int64_t)st->trades;
    t->receive_time_ns = recv_ns;
    int rc;
    while ((rc = fh_sink_write(sink, t)) == FH_ENOSPACE) {
        fh_sink_poll(sink);
        if (fh_sink_is_fatal(sink))
            return FH_EIO;
        usleep(200);
    }
    if (rc != 0) {
        st->sink_failed++;
        return rc;
    }
    st->trades++;
    return 0;
}

static const char *event_name(enum fh_event e)
{
    static const char *const names[] = {"none",   "trades",     "heartbeat",       "pong",
                                        "status", "subscribed", "unsubscribed",    "request_error",
                                        "error",  "result",     "server_shutdown", "ignored"};
    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "unknown";
}

static void summary(const struct replay_opts *o, const struct replay_stats *st)
{
    uint64_t rejected = 0;
    for (int r = 0; r < FH_REJ_COUNT; r++)
        rejected += st->rejected[r];
    fprintf(stderr,
            "replay: venue=%s input=%s messages=%llu trades=%llu ignored=%llu rejected=%llu "
            "sink_failed=%llu other_venue=%llu bad_hex=%llu\n",
            o->venue, o->input, (unsigned long long)st->messages, (unsigned long long)st->trades,
            (unsigned long long)st->events[FH_EV_IGNORED], (unsigned long long)rejected,
            (unsigned long long)st->sink_failed, (unsigned long long)st->other_venue,
            (unsigned long long)st->bad_hex);
    for (int e = FH_EV_HEARTBEAT; e < FH_EV_IGNORED; e++) {
        if (st->events[e] > 0)
            fprintf(stderr, "replay: event %s=%llu\n", event_name((enum fh_event)e),
                    (unsigned long long)st->events[e]);
    }
    for (int r = 1; r < FH_REJ_COUNT; r++) {
        if (st->rejected[r] > 0)
            fprintf(stderr, "replay: rejected %s=%llu\n", fh_reject_name((enum fh_reject)r),
                    (unsigned long long)st->rejected[r]);
    }
}

static struct fh_sink *make_sink(const struct replay_opts *o, int *exit_status, char *err,
                                 size_t errlen)
{
    *exit_status = FH_EXIT_RUNTIME;
    if (o->config == NULL) {
        struct fh_stream_sink_config sc = {
            .path = NULL, .format = FH_SINK_JSON, .buffer_bytes = 4u << 20};
        return fh_stream_sink_new(&sc, err, errlen);
    }
    struct fh_config cfg;
    struct fh_config_errors errs;
    fh_config_errors_init(&errs);
    struct fh_sink *sink = NULL;
    if (fh_config_init(&cfg) != 0) {
        snprintf(err, errlen, "cannot set configuration defaults");
        goto out;
    }
    fh_config_load(&cfg, o->config, NULL, o->sets, o->nsets, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.lines[i]);
    if (fh_config_errors_any(&errs)) {
        snprintf(err, errlen, "invalid configuration %s", o->config);
        *exit_status = FH_EXIT_USAGE;
        goto out;
    }
    fh_log_set_level(cfg.log.level);
    /* The same sink the daemon builds: stdout, a file, or Kafka with registry and spool. */
    enum fh_sink_start why = FH_SINK_START_FAILED;
    sink = fh_sink_from_config(&cfg, &why, err, errlen);
    if (sink == NULL)
        *exit_status = (int)why;
out:
    fh_config_errors_release(&errs);
    fh_config_release(&cfg);
    return sink;
}

static void handle_message(struct fh_venue_parser *p, struct fh_sink *sink, const char *msg,
                           size_t len, int64_t conn, int64_t recv_ns, struct replay_stats *st)
{
    struct fh_venue_msg out;
    st->messages++;
    if (fh_venue_parse(p, msg, len, &out) != 0) {
        st->rejected[out.reject]++;
        return;
    }
    st->events[out.event]++;
    for (size_t i = 0; i < out.n_trades; i++)
        emit(sink, &out.trades[i], conn, recv_ns, st);
}

/* One input line: a recording line of our protocol, of another one (skipped), or a raw
 * message. hexbuf holds decoded "x" messages (as large as the longest line). */
static void handle_line(const struct replay_opts *o, struct fh_venue_parser *p,
                        struct fh_sink *sink, const char *line, size_t len, char *hexbuf,
                        struct replay_stats *st)
{
    struct fh_record_line rec;
    if (len > 5 && memcmp(line, "{\"t\":", 5) == 0 && fh_record_parse_line(line, len, &rec) == 0) {
        if (rec.proto_len != strlen(o->venue) || memcmp(rec.proto, o->venue, rec.proto_len) != 0) {
            st->other_venue++;
            return;
        }
        const char *msg = rec.msg;
        size_t n = rec.msg_len;
        if (rec.hex) {
            long k = fh_record_hex_decode(rec.msg, rec.msg_len, hexbuf, len);
            if (k < 0) {
                st->bad_hex++;
                return;
            }
            msg = hexbuf;
            n = (size_t)k;
        }
        handle_message(p, sink, msg, n, rec.conn_id, rec.recv_ns, st);
        return;
    }
    handle_message(p, sink, line, len, 0, 0, st);
}

static void handle_rest(const struct replay_opts *o, struct fh_venue_parser *p,
                        struct fh_sink *sink, const char *body, size_t len, struct replay_stats *st)
{
    struct fh_rest_page page;
    enum fh_reject rej = FH_REJ_NONE;
    memset(&page, 0, sizeof(page));
    st->messages++;
    struct fh_str sym = fh_str_c(o->symbol);
    if (p->ops->parse_rest_trades(p, body, len, sym, &page, &rej) != 0) {
        st->rejected[rej == FH_REJ_NONE ? FH_REJ_UNKNOWN_MESSAGE : rej]++;
        return;
    }
    st->events[FH_EV_TRADES]++;
    if (page.error.n > 0)
        fprintf(stderr, "replay: exchange error in the response: %.*s\n", (int)page.error.n,
                page.error.p);
    for (size_t i = 0; i < page.n_trades; i++)
        emit(sink, &page.trades[i], 0, 0, st);
}

int fh_cmd_replay(int argc, char **argv)
{
    struct replay_opts o;
    struct replay_stats st;
    struct fh_symbols symbols;
    struct fh_venue_parser parser;
    struct fh_sink *sink = NULL;
    char *meta = NULL, *input = NULL, *hexbuf = NULL;
    char err[512] = "";
    bool have_symbols = false, have_parser = false;
    memset(&st, 0, sizeof(st));
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        goto out;
    rc = FH_EXIT_RUNTIME;
    const struct fh_venue_ops *ops = fh_venue_find(o.venue);
    if (ops == NULL) {
        char names[256];
        size_t n = 0;
        for (size_t i = 0; fh_venues[i] != NULL && n < sizeof(names); i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                                  fh_venues[i]->name);
        rc = usage_error("unknown venue '%s' (protocols: %s)", o.venue, names);
        goto out;
    }
    if (o.rest && !ops->caps.rest_rows_carry_symbol && o.symbol == NULL) {
        rc = usage_error("--rest with %s needs --symbol (rows carry no symbol)", ops->name);
        goto out;
    }
    size_t meta_len = 0, input_len = 0;
    meta = slurp(o.metadata, MAX_METADATA_BYTES, &meta_len, err, sizeof(err));
    if (meta == NULL)
        goto fail;
    if (fh_symbols_init(&symbols, MAX_SYMBOLS) != 0) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail;
    }
    have_symbols = true;
    if (ops->parse_metadata(meta, meta_len, &symbols, err, sizeof(err)) != 0)
        goto fail;
    log_info("symbol metadata loaded", "venue=%s source=file path=%s symbols=%zu", ops->name,
             o.metadata, symbols.n);
    struct fh_venue_parser_opts popts = {.time_us = o.time_us,
                                         .max_message_bytes = 64u << 20,
                                         .max_tokens = 1u << 22,
                                         .max_trades = 1u << 16};
    if (fh_venue_parser_init(&parser, ops, &symbols, &popts) != 0) {
        snprintf(err, sizeof(err), "out of memory for the parser");
        goto fail;
    }
    have_parser = true;
    int sink_status = FH_EXIT_RUNTIME;
    sink = make_sink(&o, &sink_status, err, sizeof(err));
    if (sink == NULL) {
        fprintf(stderr, "feedhandler replay: %s\n", err);
        rc = sink_status;
        goto out;
    }
    input = slurp(o.input, 1ull << 36, &input_len, err, sizeof(err));
    if (input == NULL)
        goto fail;
    if (o.rest) {
        handle_rest(&o, &parser, sink, input, input_len, &st);
    } else {
        hexbuf = malloc(input_len + 1);
        if (hexbuf == NULL) {
            snprintf(err, sizeof(err), "out of memory");
            goto fail;
        }
        char *p = input, *end = input + input_len;
        while (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            size_t len = n;
            if (len > 0 && p[len - 1] == '\r')
                len--;
            if (len > 0)
                handle_line(&o, &parser, sink, p, len, hexbuf, &st);
            p += n + (nl ? 1 : 0);
        }
    }
    fh_sink_poll(sink);
    int frc = fh_sink_flush(sink, 60000);
    if (frc != 0 && frc != FH_SINK_FLUSH_KEPT) {
        snprintf(err, sizeof(err), "the sink did not deliver everything: %s",
                 sink->fatal ? sink->fatal_msg : "timeout");
        goto fail;
    }
    summary(&o, &st);
    rc = FH_EXIT_OK;
    if (o.strict) {
        for (int r = 1; r < FH_REJ_COUNT; r++) {
            if (st.rejected[r] > 0)
                rc = FH_EXIT_RUNTIME;
        }
        if (st.sink_failed > 0 || st.bad_hex > 0)
            rc = FH_EXIT_RUNTIME;
    }
    goto out;
fail:
    fprintf(stderr, "feedhandler replay: %s\n", err);
    rc = FH_EXIT_RUNTIME;
out:
    fh_sink_free(sink);
    if (have_parser)
        fh_venue_parser_release(&parser);
    if (have_symbols)
        fh_symbols_release(&symbols);
    free(meta);
    free(input);
    free(hexbuf);
    free(o.sets);
    return rc;
}
