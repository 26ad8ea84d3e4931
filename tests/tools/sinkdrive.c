/*
 * sinkdrive - drives the configured sink with deterministic synthetic trades, as the engine
 * will: one thread that writes, polls, and stops writing while the sink pushes back.
 *
 * It loads a feedhandler configuration with the daemon's own code (app/config.h) and builds
 * the sink with the daemon's own factory (fh_sink_from_config), so the Kafka sink, the
 * registry and the spool run exactly as in the daemon; only the trades are synthetic.
 *
 * Usage:
 *   sinkdrive -c FILE [--set section.key=value]... [options]
 *   sinkdrive --emit-truth --count N [--start I] [--seed S]     print the truth of N trades
 *
 * Options:
 *   --rate N          trades per second (default 1000; 0: as fast as the sink takes them)
 *   --count N         stop generating after N trades (default: until SIGTERM)
 *   --start I         index of the first trade (a restart can continue a sequence)
 *   --seed S          generator seed (default 1)
 *   --truth FILE      append the JSON line of every trade the sink accepted
 *   --stats FILE      write counters as JSON every --stats-ms (atomically) and at exit
 *   --stats-ms MS     default 200
 *   --wait-drained S  after the last trade, keep serving the sink until everything is
 *                     delivered and the spool is empty, at most S seconds, then flush
 *   --drain-only      generate nothing; implies --wait-drained (default 120 s)
 *
 * Trade i is a pure function of (seed, i, the trades before it): six symbols on two venues
 * (one connection each), per-symbol trade ids and price walks, exact decimals. The truth is
 * the JSON-lines encoding of each accepted trade (codec/jsonl.h: the schema's field names).
 *
 * Signals: SIGTERM/SIGINT stop generating, flush within sink.flush_timeout_ms, exit.
 * SIGUSR1 pauses generating, SIGUSR2 resumes. SIGHUP makes the Kafka producer raise a fatal
 * error (fh_kafka_sink_inject_fatal), as librdkafka's idempotent producer does when it loses
 * its sequence state.
 *
 * Exit status: 0 nothing lost (sink failed counter 0), 1 runtime failure or losses, 2 bad
 * usage or configuration, 3 Schema Registry unreachable or incompatible (the daemon's
 * statuses, app/sink_factory.h).
 */
#include "app/config.h"
#include "app/sink_factory.h"
#include "codec/jsonl.h"
#include "core/clock.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/log.h"
#include "sink/kafka.h"
#include "sink/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- the generator ---------------------------------------------------------------------- */

struct sym {
    const char *venue, *symbol, *native;
    int64_t price; /* units of 10^-decimals */
    int decimals;
    int conn;
};

static const struct sym syms[] = {
    {"binance", "BTC-USDT", "BTCUSDT", 6512345, 2, 0},
    {"binance", "ETH-USDT", "ETHUSDT", 312055, 2, 0},
    {"binance", "SOL-USDT", "SOLUSDT", 1456789, 4, 0},
    {"kraken", "BTC-USD", "BTC/USD", 651200, 1, 1},
    {"kraken", "ETH-USD", "ETH/USD", 312010, 2, 1},
    {"kraken", "DOGE-USD", "XDG/USD", 1234567, 7, 1},
};
#define NSYMS (sizeof(syms) / sizeof(syms[0]))
#define T0_US 1700000000000000LL

struct gen {
    uint64_t seed;
    uint64_t index; /* of the next trade */
    int64_t trade_id[NSYMS];
    int64_t price[NSYMS];
    int64_t seq[2];
    struct fh_trade t; /* the current trade (index - 1) */
};

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void gen_init(struct gen *g, uint64_t seed)
{
    memset(g, 0, sizeof(*g));
    g->seed = seed;
    for (size_t k = 0; k < NSYMS; k++) {
        g->trade_id[k] = 1000000000LL * (int64_t)(k + 1);
        g->price[k] = syms[k].price;
    }
}

static fh_decimal units(int64_t v, int decimals)
{
    fh_i128 u = v;
    for (int d = decimals; d < FH_DECIMAL_SCALE; d++)
        u *= 10;
    return fh_decimal_from_units(u);
}

/* Generates trade g->index into g->t and advances. */
static void gen_next(struct gen *g)
{
    uint64_t i = g->index++;
    uint64_t r = mix(g->seed * 0x100000001B3ULL ^ i);
    size_t k = (size_t)(r % NSYMS);
    const struct sym *s = &syms[k];
    struct fh_trade *t = &g->t;
    memset(t, 0, sizeof(*t));
    t->venue = fh_str_c(s->venue);
    t->symbol = fh_str_c(s->symbol);
    t->native_symbol = fh_str_c(s->native);
    t->trade_id = ++g->trade_id[k];
    t->has = FH_HAS_TRADE_ID;
    int64_t step = (int64_t)((r >> 8) % 21) - 10;
    if (g->price[k] + step > 0)
        g->price[k] += step;
    t->price = units(g->price[k], s->decimals);
    t->quantity = units(1 + (int64_t)((r >> 16) % 5000000), 8);
    t->side = (r >> 40) & 1 ? FH_SIDE_SELL : FH_SIDE_BUY;
    t->kind = FH_KIND_TRADE;
    t->trade_time_us = T0_US + (int64_t)i * 1000;
    if (s->conn == 0) {
        t->has |= FH_HAS_EVENT_TIME;
        t->event_time_us = t->trade_time_us + 3;
        t->order_type = FH_ORDER_UNKNOWN;
    } else {
        t->order_type = (r >> 41) & 1 ? FH_ORDER_LIMIT : FH_ORDER_MARKET;
    }
    t->receive_time_ns = t->trade_time_us * 1000 + 1500000;
    t->source = FH_SOURCE_LIVE;
    t->connection_id = s->conn + 1;
    t->sequence = ++g->seq[s->conn];
}

/* ---- output files ------------------------------------------------------------------------ */

struct truth {
    int fd;
    char buf[1 << 16];
    size_t len;
};

static void truth_flush(struct truth *tr)
{
    size_t off = 0;
    while (tr->fd >= 0 && off < tr->len) {
        ssize_t w = write(tr->fd, tr->buf + off, tr->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "sinkdrive: cannot write the truth file: %s\n", strerror(errno));
            exit(1);
        }
        off += (size_t)w;
    }
    tr->len = 0;
}

static void truth_add(struct truth *tr, const struct fh_trade *t)
{
    if (tr->fd < 0)
        return;
    if (sizeof(tr->buf) - tr->len < 4096)
        truth_flush(tr);
    struct fh_fbuf b;
    fh_fbuf_init(&b, tr->buf + tr->len, sizeof(tr->buf) - tr->len);
    if (fh_jsonl_encode_trade(&b, t) == 0)
        tr->len += b.len;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

#define LD(x) ((unsigned long long)__atomic_load_n(&(x), __ATOMIC_RELAXED))

struct run {
    struct fh_sink *sink;
    struct gen g;
    uint64_t generated; /* accepted by the sink in this run */
    uint64_t refused_writes;
    uint64_t write_errors;
    long max_rss_kb;
    int64_t start_ns;
    bool paused;
    bool done;
};

static void write_stats(const char *path, struct run *r)
{
    if (path == NULL)
        return;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    const struct fh_sink_stats *b = &r->sink->stats;
    long rss = rss_kb();
    if (rss > r->max_rss_kb)
        r->max_rss_kb = rss;
    fprintf(f,
            "{\"next_index\": %llu, \"generated\": %llu, \"paused\": %s, \"done\": %s, "
            "\"elapsed_s\": %.3f, \"rss_kb\": %ld, \"max_rss_kb\": %ld,\n"
            " \"accepted\": %llu, \"refused\": %llu, \"delivered\": %llu, \"failed\": %llu, "
            "\"bytes\": %llu, \"buffered_bytes\": %llu",
            (unsigned long long)r->g.index, (unsigned long long)r->generated,
            r->paused ? "true" : "false", r->done ? "true" : "false",
            (double)(fh_clock_monotonic_ns() - r->start_ns) / 1e9, rss, r->max_rss_kb,
            LD(b->accepted), LD(b->refused), LD(b->delivered), LD(b->failed), LD(b->bytes),
            LD(b->buffered_bytes));
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(r->sink);
    if (k != NULL)
        fprintf(f,
                ",\n \"kafka\": {\"produced\": %llu, \"spooled\": %llu, \"spooled_failed\": %llu, "
                "\"drained\": %llu, \"queue_full\": %llu, \"spool_full\": %llu, \"purges\": "
                "%llu, \"dup_suspected\": %llu, \"passes\": %llu, \"passes_failed\": %llu, "
                "\"kafka_errors\": %llu, \"recreated\": %llu, \"in_flight\": %llu, "
                "\"mode\": %llu, \"latency_p50_us\": %llu, \"latency_p99_us\": %llu}",
                LD(k->produced), LD(k->spooled), LD(k->spooled_failed), LD(k->drained),
                LD(k->queue_full), LD(k->spool_full), LD(k->purges), LD(k->dup_suspected),
                LD(k->passes), LD(k->passes_failed), LD(k->kafka_errors), LD(k->recreated),
                LD(k->in_flight), LD(k->mode),
                (unsigned long long)fh_kafka_latency_quantile(k, 0.5),
                (unsigned long long)fh_kafka_latency_quantile(k, 0.99));
    const struct fh_spool_stats *s = fh_kafka_sink_spool_stats(r->sink);
    if (s != NULL)
        fprintf(f,
                ",\n \"spool\": {\"appended\": %llu, \"appended_front\": %llu, \"refused\": %llu, "
                "\"written\": %llu, \"bytes_written\": %llu, \"fed\": %llu, \"done\": %llu, "
                "\"retried\": %llu, \"fsyncs\": %llu, \"checkpoints\": %llu, "
                "\"segments_deleted\": %llu, \"recovered\": %llu, \"recovered_suspect\": %llu, "
                "\"truncated_segments\": %llu, \"truncated_bytes\": %llu, \"corrupt_records\": "
                "%llu, \"disk_bytes\": %llu, \"pending\": %llu, \"queued_bytes\": %llu}",
                LD(s->appended), LD(s->appended_front), LD(s->refused), LD(s->written),
                LD(s->bytes_written), LD(s->fed), LD(s->done), LD(s->retried), LD(s->fsyncs),
                LD(s->checkpoints), LD(s->segments_deleted), LD(s->recovered),
                LD(s->recovered_suspect), LD(s->truncated_segments), LD(s->truncated_bytes),
                LD(s->corrupt_records), LD(s->disk_bytes), LD(s->pending), LD(s->queued_bytes));
    fprintf(f, "}\n");
    if (fclose(f) == 0)
        rename(tmp, path);
}

/* Everything handed to the sink is delivered and nothing waits in a spool. */
static bool all_delivered(const struct fh_sink *s)
{
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    if (k == NULL)
        return LD(s->stats.delivered) + LD(s->stats.failed) >= LD(s->stats.accepted);
    const struct fh_spool_stats *sp = fh_kafka_sink_spool_stats(s);
    return LD(k->in_flight) == 0 && LD(k->mode) == FH_KAFKA_MODE_DIRECT &&
           (sp == NULL || LD(sp->pending) == 0);
}

/* ---- main ----------------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag, pause_flag, fatal_flag;

static void on_fatal(int sig)
{
    (void)sig;
    fatal_flag = 1;
}

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_pause(int sig)
{
    pause_flag = sig == SIGUSR1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sinkdrive -c FILE [--set section.key=value]... [--rate N] [--count N] "
               "[--start I]\n"
               "                 [--seed S] [--truth FILE] [--stats FILE] [--stats-ms MS]\n"
               "                 [--wait-drained SECONDS] [--drain-only]\n"
               "       sinkdrive --emit-truth --count N [--start I] [--seed S]\n"
               "exit status: 0 nothing lost, 1 runtime failure or losses, 2 usage or "
               "configuration, 3 Schema Registry unreachable or incompatible\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"set", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'r'},     {"count", required_argument, NULL, 'n'},
        {"start", required_argument, NULL, 'S'},    {"seed", required_argument, NULL, 'e'},
        {"truth", required_argument, NULL, 't'},    {"stats", required_argument, NULL, 'j'},
        {"stats-ms", required_argument, NULL, 'm'}, {"wait-drained", required_argument, NULL, 'w'},
        {"drain-only", no_argument, NULL, 'd'},     {"emit-truth", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *truth_path = NULL, *stats_path = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
    size_t nsets = 0;
    uint64_t rate = 1000, count = 0, start = 0, seed = 1, stats_ms = 200, wait_s = 0;
    bool drain_only = false, emit = false, have_count = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        uint64_t *target = NULL;
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sets[nsets++] = optarg;
            break;
        case 'r':
            target = &rate;
            break;
        case 'n':
            target = &count;
            have_count = true;
            break;
        case 'S':
            target = &start;
            break;
        case 'e':
            target = &seed;
            break;
        case 't':
            truth_path = optarg;
            break;
        case 'j':
            stats_path = optarg;
            break;
        case 'm':
            target = &stats_ms;
            break;
        case 'w':
            target = &wait_s;
            break;
        case 'd':
            drain_only = true;
            break;
        case 'E':
            emit = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (target != NULL && parse_u64(optarg, target) != 0) {
            fprintf(stderr, "sinkdrive: invalid number '%s'\n", optarg);
            return 2;
        }
    }

    struct run r;
    memset(&r, 0, sizeof(r));
    gen_init(&r.g, seed);
    for (uint64_t i = 0; i < start; i++)
        gen_next(&r.g);

    if (emit) {
        if (!have_count) {
            usage(stderr);
            return 2;
        }
        struct truth *tr = calloc(1, sizeof(*tr));
        tr->fd = 1;
        for (uint64_t i = 0; i < count; i++) {
            gen_next(&r.g);
            truth_add(tr, &r.g.t);
        }
        truth_flush(tr);
        free(tr);
        free(sets);
        return 0;
    }
    if (config == NULL || optind < argc) {
        usage(stderr);
        free(sets);
        return 2;
    }

    struct fh_config cfg;
    struct fh_config_errors errs;
    fh_config_errors_init(&errs);
    if (fh_config_init(&cfg) != 0) {
        fprintf(stderr, "sinkdrive: cannot set the defaults\n");
        return 1;
    }
    fh_config_load(&cfg, config, NULL, sets, nsets, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.lines[i]);
    bool bad = fh_config_errors_any(&errs);
    fh_config_errors_release(&errs);
    if (bad) {
        fh_config_release(&cfg);
        free(sets);
        return 2;
    }
    fh_log_set_level(cfg.log.level);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_pause;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = on_fatal;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    enum fh_sink_start why;
    r.sink = fh_sink_from_config(&cfg, &why, err, sizeof(err));
    if (r.sink == NULL) {
        log_error("cannot start the sink", "error=\"%s\" exit_status=%d", err, (int)why);
        fprintf(stderr, "sinkdrive: %s\n", err);
        fh_config_release(&cfg);
        free(sets);
        return (int)why;
    }
    struct truth *tr = calloc(1, sizeof(*tr));
    tr->fd = -1;
    if (truth_path != NULL) {
        tr->fd = open(truth_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (tr->fd < 0) {
            fprintf(stderr, "sinkdrive: cannot open %s: %s\n", truth_path, strerror(errno));
            return 1;
        }
    }
    if (drain_only && wait_s == 0)
        wait_s = 120;
    log_info("sinkdrive started", "rate=%llu count=%llu start=%llu seed=%llu sink=%s",
             (unsigned long long)rate, (unsigned long long)count, (unsigned long long)start,
             (unsigned long long)seed, r.sink->ops->name);

    r.start_ns = fh_clock_monotonic_ns();
    int64_t last_stats = 0, last_flush = 0, wait_until = 0;
    bool have_trade = false;
    while (!stop_flag) {
        int64_t now = fh_clock_monotonic_ns();
        r.paused = pause_flag != 0;
        if (fatal_flag) {
            fatal_flag = 0;
            int frc = fh_kafka_sink_inject_fatal(r.sink, "injected by sinkdrive (SIGHUP)");
            log_warn("sinkdrive: fatal producer error injected", "ok=%s", frc == 0 ? "yes" : "no");
        }
        fh_sink_poll(r.sink);
        bool generating = !drain_only && !r.paused && (count == 0 || r.generated < count);
        uint64_t target = r.generated + 1000;
        if (rate > 0) {
            uint64_t due = (uint64_t)((double)(now - r.start_ns) / 1e9 * (double)rate);
            target = due < target ? due : target;
        }
        bool pushed_back = false;
        int burst = 0;
        while (generating && r.generated < target && (count == 0 || r.generated < count)) {
            if (!have_trade) {
                gen_next(&r.g);
                have_trade = true;
            }
            int rc = fh_sink_write(r.sink, &r.g.t);
            if (rc == FH_ENOSPACE) {
                r.refused_writes++;
                pushed_back = true;
                break;
            }
            have_trade = false;
            if (rc != 0) {
                r.write_errors++;
                if (fh_sink_is_fatal(r.sink))
                    break; /* it takes nothing more: the loop below ends the run */
                continue;  /* counted as failed by the sink */
            }
            truth_add(tr, &r.g.t);
            r.generated++;
            if (++burst % 256 == 0)
                fh_sink_poll(r.sink);
        }
        if (fh_sink_is_fatal(r.sink)) {
            log_error("sink failed", "error=\"%s\"", r.sink->fatal_msg);
            break;
        }
        bool finished = drain_only || (count > 0 && r.generated >= count);
        if (finished) {
            if (wait_s == 0)
                break;
            if (wait_until == 0)
                wait_until = now + (int64_t)wait_s * 1000000000LL;
            if (all_delivered(r.sink)) {
                log_info("sinkdrive: everything delivered", "");
                break;
            }
            if (now >= wait_until) {
                log_warn("sinkdrive: gave up waiting for the sink to deliver everything", "");
                break;
            }
        }
        if (now - last_flush >= 10000000) {
            truth_flush(tr);
            last_flush = now;
        }
        if (now - last_stats >= (int64_t)stats_ms * 1000000) {
            write_stats(stats_path, &r);
            last_stats = now;
        }
        if (pushed_back || !generating || rate > 0) {
            struct timespec ts = {0, pushed_back ? 1000000 : 500000};
            nanosleep(&ts, NULL);
        }
    }
    truth_flush(tr);
    log_info("sinkdrive stopping", "generated=%llu signal=%s", (unsigned long long)r.generated,
             stop_flag ? "yes" : "no");
    int frc = fh_sink_flush(r.sink, cfg.sink.flush_timeout_ms);
    r.done = true;
    uint64_t failed = LD(r.sink->stats.failed);
    bool fatal = fh_sink_is_fatal(r.sink);
    write_stats(stats_path, &r);
    log_info("sinkdrive done", "flush=%s failed=%llu generated=%llu",
             frc == 0                    ? "complete"
             : frc == FH_SINK_FLUSH_KEPT ? "rest kept in the spool"
                                         : fh_strerror(frc),
             (unsigned long long)failed, (unsigned long long)r.generated);
    fh_sink_free(r.sink);
    if (tr->fd >= 0)
        close(tr->fd);
    free(tr);
    free(sets);
    fh_config_release(&cfg);
    return failed == 0 && !fatal ? 0 : 1;
}
