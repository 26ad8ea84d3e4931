/*
 * main.c - feedsim command line, start-up and shutdown.
 *
 * Layer 4 (see fs_core.h): the only file that knows every layer. wire() registers the venue
 * modules with the core and installs the hooks of the fault, control and blast layers;
 * fs_replay_open installs replay's when a session is loaded.
 */
#include "fs_binance.h"
#include "fs_blast.h"
#include "fs_control.h"
#include "fs_core.h"
#include "fs_fault.h"
#include "fs_kraken.h"
#include "fs_replay.h"

#include "core/clock.h"
#include "core/err.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: feedsim [OPTIONS]\n"
    "\n"
    "A protocol-accurate Binance Spot / Kraken Spot exchange simulator for tests, benchmarks\n"
    "and offline development. Each venue listens on its own loopback port and serves\n"
    "WebSocket and REST on it. The first line on stdout is JSON with the bound ports, e.g.\n"
    "  {\"binance\":40123,\"kraken_v1\":40124,\"control\":40125,\"tls\":false,\"pid\":123}\n"
    "See docs/FEEDSIM.md for the protocol behaviour, the fault syntax and the control API.\n"
    "\n"
    "Venues (PORT 0 = ephemeral; at least one venue is required):\n"
    "  --binance PORT            Binance Spot: /ws, /ws/<stream>, /stream?streams=, /api/v3/*\n"
    "  --kraken-v1 PORT          Kraken WebSocket v1 (path /) and /0/public/* REST\n"
    "  --kraken-v2 PORT          Kraken WebSocket v2 (path /v2) and /0/public/* REST\n"
    "  --control PORT            control HTTP API (plain HTTP, always on --host)\n"
    "  --host ADDR               listen address (default 127.0.0.1)\n"
    "  --tls CERT,KEY            serve wss:// and https:// with this PEM chain and key\n"
    "  --ports-file FILE         also write the ports JSON to FILE (atomically)\n"
    "\n"
    "Trades:\n"
    "  --symbols LIST            canonical BASE-QUOTE list (default BTC-USDT,ETH-USD,DOGE-USD)\n"
    "  --seed N                  PRNG seed; same seed, same trades (default 1)\n"
    "  --rate R                  average trades/s per symbol (default 10; 0 = none)\n"
    "  --burst PROB:MAX          a taker order sweeps 2..MAX trades with probability PROB\n"
    "                            (default 0.05:8; 0:1 disables)\n"
    "  --history N               trades kept per symbol for REST and snapshots (default 10000)\n"
    "  --truth FILE              write every generated trade as NDJSON to FILE\n"
    "  --replay FILE             play a recorded session instead of generated trades\n"
    "  --replay-venue V          binance or kraken-v1 (default: from the file name)\n"
    "  --replay-speed X          X times the recorded pace; 0 = as fast as possible (default 1)\n"
    "  --replay-rate R           lines/s when the recording carries no times (default 100)\n"
    "  --replay-loop             start over at the end\n"
    "  --blast                   pre-encoded frames as fast as each client reads (benchmarks)\n"
    "\n"
    "Protocol timing and limits:\n"
    "  --time-scale X            multiply every protocol interval by X (default 1): Binance\n"
    "                            ping 20 s, pong deadline 60 s, lifetime 24 h; Kraken\n"
    "                            heartbeat 1 s, idle close 60 s, no-subscription close 60 s\n"
    "  --interval NAME=DUR       set one interval exactly (not scaled; 0 disables). NAME:\n"
    "                            binance.ping, binance.pong, binance.lifetime,\n"
    "                            kraken.heartbeat, kraken.idle, kraken.nosub\n"
    "  --binance-weight-limit N  REST weight per minute before 429 (default 6000)\n"
    "  --binance-accept-unknown  accept any well-formed stream name (no data for unknown ones)\n"
    "  --kraken-rest-rate R      Trades calls/s per pair before EGeneral:Too many requests\n"
    "                            (default 1; 0 = unlimited)\n"
    "  --kraken-rest-burst B     token bucket depth for that limit (default 15)\n"
    "  --kraken-v1-snapshot N    v1: send the last N trades after subscribing (default 0)\n"
    "  --kraken-v2-snapshot N    v2: trades in a snapshot:true snapshot (default 50)\n"
    "  --kraken-batch N          most trades in one Kraken message (default 50)\n"
    "  --conn-budget V=N/DUR     at most N WebSocket handshakes per sliding DUR on venue V,\n"
    "                            then HTTP 429 (e.g. binance=300/5m, kraken-v2=150/10m;\n"
    "                            default unlimited; repeatable)\n"
    "\n"
    "Faults (see docs/FEEDSIM.md):\n"
    "  --fault SPEC              schedule a fault, e.g. 'at=5s,venue=binance,kind=drop,code=1001'\n"
    "                            (repeatable); kinds: drop stall resume malformed oversize\n"
    "                            badutf8 skip omit refuse delay shutdown maintenance slow\n"
    "\n"
    "Resources:\n"
    "  --max-conns N             concurrent connections (default 256)\n"
    "  --conn-buffer BYTES       out buffer per connection; a client that falls further behind\n"
    "                            is disconnected as a slow consumer (default 1m)\n"
    "  --max-msg BYTES           largest client message, else close 1009 (default 64k)\n"
    "  --handshake-timeout DUR   close connections without a complete request (default 10s)\n"
    "  --tick DUR                timer period: generated trades go out once per tick\n"
    "                            (50us..1s, default 5ms; --tick-ms N is N milliseconds)\n"
    "  --duration DUR            exit after DUR (default: run until SIGTERM/SIGINT)\n"
    "  --log-level LEVEL         error, warn, info (default) or debug; logs go to stderr\n"
    "  -h, --help                this text\n"
    "  --version                 print the version\n";

enum {
    OPT_BINANCE = 256,
    OPT_KV1,
    OPT_KV2,
    OPT_CONTROL,
    OPT_HOST,
    OPT_TLS,
    OPT_PORTS_FILE,
    OPT_SYMBOLS,
    OPT_SEED,
    OPT_RATE,
    OPT_BURST,
    OPT_HISTORY,
    OPT_TRUTH,
    OPT_REPLAY,
    OPT_REPLAY_VENUE,
    OPT_REPLAY_SPEED,
    OPT_REPLAY_RATE,
    OPT_REPLAY_LOOP,
    OPT_BLAST,
    OPT_TIME_SCALE,
    OPT_INTERVAL,
    OPT_BN_WEIGHT,
    OPT_BN_ACCEPT,
    OPT_KR_RATE,
    OPT_KR_BURST,
    OPT_KR_V1_SNAP,
    OPT_KR_V2_SNAP,
    OPT_KR_BATCH,
    OPT_BUDGET,
    OPT_FAULT,
    OPT_MAX_CONNS,
    OPT_CONN_BUF,
    OPT_MAX_MSG,
    OPT_HS_TIMEOUT,
    OPT_TICK,
    OPT_TICK_MS,
    OPT_DURATION,
    OPT_LOG_LEVEL,
    OPT_VERSION,
};

static const struct option options[] = {
    {"binance", required_argument, NULL, OPT_BINANCE},
    {"kraken-v1", required_argument, NULL, OPT_KV1},
    {"kraken-v2", required_argument, NULL, OPT_KV2},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"host", required_argument, NULL, OPT_HOST},
    {"tls", required_argument, NULL, OPT_TLS},
    {"ports-file", required_argument, NULL, OPT_PORTS_FILE},
    {"symbols", required_argument, NULL, OPT_SYMBOLS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"rate", required_argument, NULL, OPT_RATE},
    {"burst", required_argument, NULL, OPT_BURST},
    {"history", required_argument, NULL, OPT_HISTORY},
    {"truth", required_argument, NULL, OPT_TRUTH},
    {"replay", required_argument, NULL, OPT_REPLAY},
    {"replay-venue", required_argument, NULL, OPT_REPLAY_VENUE},
    {"replay-speed", required_argument, NULL, OPT_REPLAY_SPEED},
    {"replay-rate", required_argument, NULL, OPT_REPLAY_RATE},
    {"replay-loop", no_argument, NULL, OPT_REPLAY_LOOP},
    {"blast", no_argument, NULL, OPT_BLAST},
    {"time-scale", required_argument, NULL, OPT_TIME_SCALE},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"binance-weight-limit", required_argument, NULL, OPT_BN_WEIGHT},
    {"binance-accept-unknown", no_argument, NULL, OPT_BN_ACCEPT},
    {"kraken-rest-rate", required_argument, NULL, OPT_KR_RATE},
    {"kraken-rest-burst", required_argument, NULL, OPT_KR_BURST},
    {"kraken-v1-snapshot", required_argument, NULL, OPT_KR_V1_SNAP},
    {"kraken-v2-snapshot", required_argument, NULL, OPT_KR_V2_SNAP},
    {"kraken-batch", required_argument, NULL, OPT_KR_BATCH},
    {"conn-budget", required_argument, NULL, OPT_BUDGET},
    {"fault", required_argument, NULL, OPT_FAULT},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"conn-buffer", required_argument, NULL, OPT_CONN_BUF},
    {"max-msg", required_argument, NULL, OPT_MAX_MSG},
    {"handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT},
    {"tick", required_argument, NULL, OPT_TICK},
    {"tick-ms", required_argument, NULL, OPT_TICK_MS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int fail(const char *fmt, ...) FH_PRINTF(1, 2);

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "feedsim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'feedsim --help'.\n");
    va_end(ap);
    return 2;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || s[0] == '-')
        return false;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mul = 1024ULL * 1024 * 1024, end++;
    if (*end != '\0' || v > hi / mul || v * mul < lo)
        return false;
    *out = (size_t)(v * mul);
    return true;
}

static bool parse_port(const char *s, int *out)
{
    int64_t v;
    if (!parse_i64(s, 0, 65535, &v))
        return false;
    *out = (int)v;
    return true;
}

static int parse_interval(struct fs_config *cfg, const char *arg)
{
    static const char *names[FS_IV_COUNT] = {"binance.ping",     "binance.pong", "binance.lifetime",
                                             "kraken.heartbeat", "kraken.idle",  "kraken.nosub"};
    const char *eq = strchr(arg, '=');
    if (eq == NULL)
        return -1;
    for (int i = 0; i < FS_IV_COUNT; i++) {
        if (strlen(names[i]) == (size_t)(eq - arg) &&
            memcmp(names[i], arg, (size_t)(eq - arg)) == 0)
            return fs_parse_duration(eq + 1, &cfg->interval_ns[i]) == 0 ? 0 : -1;
    }
    return -1;
}

static int parse_symbols(struct fs_config *cfg, const char *arg)
{
    cfg->nsymbols = 0;
    const char *p = arg;
    while (*p != '\0') {
        const char *e = strchr(p, ',');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n >= FS_NAME_MAX || cfg->nsymbols >= FS_MAX_SYMBOLS)
            return -1;
        memcpy(cfg->symbols[cfg->nsymbols], p, n);
        cfg->symbols[cfg->nsymbols][n] = '\0';
        cfg->nsymbols++;
        p += n;
        if (*p == ',')
            p++;
    }
    return cfg->nsymbols > 0 ? 0 : -1;
}

static void defaults(struct fs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    for (int i = 0; i < FS_NLISTENERS; i++)
        cfg->port[i] = -1;
    cfg->seed = 1;
    parse_symbols(cfg, "BTC-USDT,ETH-USD,DOGE-USD");
    cfg->rate = 10;
    cfg->burst_prob = 0.05;
    cfg->burst_max = 8;
    cfg->time_scale = 1;
    for (int i = 0; i < FS_IV_COUNT; i++)
        cfg->interval_ns[i] = -1;
    cfg->history = 10000;
    cfg->max_conns = 256;
    cfg->conn_buf = 1024 * 1024;
    cfg->max_msg = 64 * 1024;
    cfg->tick_ns = 5000000;
    cfg->handshake_timeout_ns = 10000000000LL;
    cfg->http_idle_ns = 60000000000LL;
    cfg->binance_weight_limit = 6000;
    cfg->kraken_rest_rate = 1;
    cfg->kraken_rest_burst = 15;
    cfg->kraken_v1_snapshot = 0;
    cfg->kraken_v2_snapshot = 50;
    cfg->kraken_batch = 50;
    cfg->replay_venue = -1;
    cfg->replay_speed = 1;
    cfg->replay_rate = 100;
}

static int parse_args(int argc, char **argv, struct fs_config *cfg)
{
    int opt;
    int64_t v;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        const char *a = optarg;
        switch (opt) {
        case OPT_BINANCE:
        case OPT_KV1:
        case OPT_KV2:
        case OPT_CONTROL:
            if (!parse_port(a, &cfg->port[opt - OPT_BINANCE]))
                return fail("bad port '%s'", a);
            break;
        case OPT_HOST:
            cfg->host = a;
            break;
        case OPT_TLS: {
            static char cert[4096];
            const char *comma = strchr(a, ',');
            if (comma == NULL || comma == a || comma[1] == '\0' ||
                (size_t)(comma - a) >= sizeof(cert))
                return fail("--tls wants CERT,KEY, got '%s'", a);
            memcpy(cert, a, (size_t)(comma - a));
            cert[comma - a] = '\0';
            cfg->tls_cert = cert;
            cfg->tls_key = comma + 1;
            break;
        }
        case OPT_PORTS_FILE:
            cfg->ports_file = a;
            break;
        case OPT_SYMBOLS:
            if (parse_symbols(cfg, a) != 0)
                return fail("bad --symbols '%s'", a);
            break;
        case OPT_SEED:
            if (!parse_i64(a, 0, INT64_MAX, &v))
                return fail("bad --seed '%s'", a);
            cfg->seed = (uint64_t)v;
            break;
        case OPT_RATE:
            if (!parse_double(a, 0, 1e7, &cfg->rate))
                return fail("bad --rate '%s'", a);
            break;
        case OPT_BURST: {
            char *colon = strchr(a, ':');
            char *end;
            if (colon == NULL)
                return fail("--burst wants PROB:MAX, got '%s'", a);
            cfg->burst_prob = strtod(a, &end);
            long mx = strtol(colon + 1, &end, 10);
            if (*end != '\0' || cfg->burst_prob < 0 || cfg->burst_prob > 1 || mx < 1 || mx > 64)
                return fail("--burst wants PROB (0..1):MAX (1..64), got '%s'", a);
            cfg->burst_max = (int)mx;
            break;
        }
        case OPT_HISTORY:
            if (!parse_size(a, 64, 10000000, &cfg->history))
                return fail("bad --history '%s' (64..10000000)", a);
            break;
        case OPT_TRUTH:
            cfg->truth_path = a;
            break;
        case OPT_REPLAY:
            cfg->replay_path = a;
            break;
        case OPT_REPLAY_VENUE:
            if (fs_venue_parse(a, &cfg->replay_venue) != 0 || cfg->replay_venue == FS_KRAKEN_V2)
                return fail("bad --replay-venue '%s' (binance or kraken-v1)", a);
            break;
        case OPT_REPLAY_SPEED:
            if (!parse_double(a, 0, 1e6, &cfg->replay_speed))
                return fail("bad --replay-speed '%s'", a);
            break;
        case OPT_REPLAY_RATE:
            if (!parse_double(a, 0.001, 1e7, &cfg->replay_rate))
                return fail("bad --replay-rate '%s'", a);
            break;
        case OPT_REPLAY_LOOP:
            cfg->replay_loop = true;
            break;
        case OPT_BLAST:
            cfg->blast = true;
            break;
        case OPT_TIME_SCALE:
            if (!parse_double(a, 1e-9, 1e6, &cfg->time_scale))
                return fail("bad --time-scale '%s'", a);
            break;
        case OPT_INTERVAL:
            if (parse_interval(cfg, a) != 0)
                return fail("bad --interval '%s' (NAME=DURATION, see --help)", a);
            break;
        case OPT_BN_WEIGHT:
            if (!parse_i64(a, 1, 100000000, &v))
                return fail("bad --binance-weight-limit '%s'", a);
            cfg->binance_weight_limit = (int)v;
            break;
        case OPT_BN_ACCEPT:
            cfg->binance_accept_unknown = true;
            break;
        case OPT_KR_RATE:
            if (!parse_double(a, 0, 1e6, &cfg->kraken_rest_rate))
                return fail("bad --kraken-rest-rate '%s'", a);
            break;
        case OPT_KR_BURST:
            if (!parse_double(a, 1, 1e6, &cfg->kraken_rest_burst))
                return fail("bad --kraken-rest-burst '%s'", a);
            break;
        case OPT_KR_V1_SNAP:
        case OPT_KR_V2_SNAP:
        case OPT_KR_BATCH:
            if (!parse_i64(a, opt == OPT_KR_BATCH ? 1 : 0, 256, &v))
                return fail("bad value '%s' (0..256)", a);
            if (opt == OPT_KR_V1_SNAP)
                cfg->kraken_v1_snapshot = (int)v;
            else if (opt == OPT_KR_V2_SNAP)
                cfg->kraken_v2_snapshot = (int)v;
            else
                cfg->kraken_batch = (int)v;
            break;
        case OPT_BUDGET: {
            char vname[16];
            const char *eq = strchr(a, '=');
            const char *slash = eq != NULL ? strchr(eq, '/') : NULL;
            int ven;
            int64_t n;
            char num[24];
            if (eq == NULL || slash == NULL || (size_t)(eq - a) >= sizeof(vname) ||
                (size_t)(slash - eq - 1) >= sizeof(num))
                return fail("--conn-budget wants VENUE=N/DURATION, got '%s'", a);
            memcpy(vname, a, (size_t)(eq - a));
            vname[eq - a] = '\0';
            memcpy(num, eq + 1, (size_t)(slash - eq - 1));
            num[slash - eq - 1] = '\0';
            if (fs_venue_parse(vname, &ven) != 0 || !parse_i64(num, 1, 1000000, &n) ||
                fs_parse_duration(slash + 1, &cfg->budget_window_ns[ven]) != 0 ||
                cfg->budget_window_ns[ven] == 0)
                return fail("bad --conn-budget '%s'", a);
            cfg->budget_n[ven] = (size_t)n;
            break;
        }
        case OPT_FAULT:
            if (cfg->nfaults >= FS_MAX_FAULTS)
                return fail("too many --fault options (max 64)");
            cfg->faults[cfg->nfaults++] = a;
            break;
        case OPT_MAX_CONNS:
            if (!parse_size(a, 1, 100000, &cfg->max_conns))
                return fail("bad --max-conns '%s'", a);
            break;
        case OPT_CONN_BUF:
            if (!parse_size(a, 16384, 1024UL * 1024 * 1024, &cfg->conn_buf))
                return fail("bad --conn-buffer '%s' (16k..1g)", a);
            break;
        case OPT_MAX_MSG:
            if (!parse_size(a, 1024, 64UL * 1024 * 1024, &cfg->max_msg))
                return fail("bad --max-msg '%s' (1k..64m)", a);
            break;
        case OPT_HS_TIMEOUT:
            if (fs_parse_duration(a, &cfg->handshake_timeout_ns) != 0 ||
                cfg->handshake_timeout_ns == 0)
                return fail("bad --handshake-timeout '%s'", a);
            break;
        case OPT_TICK:
            if (fs_parse_duration(a, &cfg->tick_ns) != 0 || cfg->tick_ns < 50000 ||
                cfg->tick_ns > 1000000000)
                return fail("bad --tick '%s' (50us..1s)", a);
            break;
        case OPT_TICK_MS:
            if (!parse_i64(a, 1, 1000, &v))
                return fail("bad --tick-ms '%s' (1..1000)", a);
            cfg->tick_ns = v * 1000000;
            break;
        case OPT_DURATION:
            if (fs_parse_duration(a, &cfg->duration_ns) != 0)
                return fail("bad --duration '%s'", a);
            break;
        case OPT_LOG_LEVEL: {
            enum fh_log_level lvl;
            if (fh_log_level_parse(a, &lvl) != 0)
                return fail("bad --log-level '%s'", a);
            fh_log_set_level(lvl);
            break;
        }
        case OPT_VERSION:
            printf("feedsim %s\n", FH_VERSION);
            exit(0);
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            return fail("unknown option");
        }
    }
    if (optind < argc)
        return fail("unexpected argument '%s'", argv[optind]);
    if (cfg->port[FS_BINANCE] < 0 && cfg->port[FS_KRAKEN_V1] < 0 && cfg->port[FS_KRAKEN_V2] < 0)
        return fail("no venue: give --binance, --kraken-v1 and/or --kraken-v2");
    if (cfg->replay_path != NULL) {
        if (cfg->replay_venue < 0) {
            const char *base = strrchr(cfg->replay_path, '/');
            base = base != NULL ? base + 1 : cfg->replay_path;
            if (strncmp(base, "kraken_v1", 9) == 0)
                cfg->replay_venue = FS_KRAKEN_V1;
            else if (strncmp(base, "binance", 7) == 0)
                cfg->replay_venue = FS_BINANCE;
            else
                return fail("cannot tell the venue of '%s': give --replay-venue", cfg->replay_path);
        }
        if (cfg->port[cfg->replay_venue] < 0)
            return fail("--replay for %s needs that venue's port",
                        fs_venue_name(cfg->replay_venue));
        if (cfg->blast)
            return fail("--replay and --blast exclude each other");
    }
    return 0;
}

static SSL_CTX *load_tls(const struct fs_config *cfg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char err[256];
        ERR_error_string_n(ERR_get_error(), err, sizeof(err));
        log_error("cannot load TLS certificate/key", "cert=%s key=%s err=\"%s\"", cfg->tls_cert,
                  cfg->tls_key, err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The layers above the core: the venue modules, then the hooks of the fault, control and
 * blast layers (the fault layer's state lives in faults, caller memory). */
static void wire(struct fs_sim *sim, struct fs_faults *faults)
{
    static const struct fs_venue_module *const modules[] = {
        &fs_binance_module,
        &fs_kraken_v1_module,
        &fs_kraken_v2_module,
        NULL,
    };
    for (size_t i = 0; modules[i] != NULL; i++)
        fs_sim_register_venue(sim, modules[i]);
    fs_fault_install(sim, faults);
    fs_control_install(sim);
    if (sim->cfg.blast)
        fs_blast_install(sim);
}

static int setup(struct fs_sim *sim)
{
    struct fs_config *cfg = &sim->cfg;
    for (size_t i = 0; i < cfg->nsymbols; i++) {
        if (fs_symbol_make(cfg->symbols[i], (int)i, &sim->syms[i]) != 0) {
            log_error("bad symbol (want BASE-QUOTE, e.g. BTC-USDT)", "symbol=%s", cfg->symbols[i]);
            return FH_ECONFIG;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(sim->syms[k].canon, sim->syms[i].canon) == 0) {
                log_error("duplicate symbol", "symbol=%s", cfg->symbols[i]);
                return FH_ECONFIG;
            }
        }
    }
    sim->nsyms = cfg->nsymbols;
    for (int v = 0; v < FS_NLISTENERS; v++)
        sim->venue_on[v] = cfg->port[v] >= 0;
    sim->exch_on[FS_EX_BINANCE] = sim->venue_on[FS_BINANCE];
    sim->exch_on[FS_EX_KRAKEN] = sim->venue_on[FS_KRAKEN_V1] || sim->venue_on[FS_KRAKEN_V2];
    for (size_t i = 0; i < cfg->nfaults; i++) {
        char err[160];
        struct fs_fault f;
        if (fs_fault_parse(sim, cfg->faults[i], &f, err, sizeof(err)) != 0) {
            log_error("bad --fault", "spec=\"%s\" err=\"%s\"", cfg->faults[i], err);
            return FH_ECONFIG;
        }
        if (f.at_ns < 0)
            f.at_ns = 0;
        int rc = fs_fault_schedule(sim, &f);
        if (rc != 0)
            return rc;
    }
    if (cfg->tls_cert != NULL) {
        sim->tls = load_tls(cfg);
        if (sim->tls == NULL)
            return FH_ECONFIG;
    }
    for (int v = 0; v < FS_NVENUES; v++) {
        if (cfg->budget_n[v] == 0)
            continue;
        sim->budget[v].cap = cfg->budget_n[v];
        sim->budget[v].window_ns = cfg->budget_window_ns[v];
        sim->budget[v].times = calloc(cfg->budget_n[v], sizeof(int64_t));
        if (sim->budget[v].times == NULL)
            return FH_ENOMEM;
    }
    int rc = fh_json_init(&sim->json, 65536);
    if (rc != 0)
        return rc;
    fh_buf_init(&sim->out, 16 * 1024 * 1024);
    rc = fh_buf_reserve(&sim->out, 64 * 1024);
    if (rc != 0)
        return rc;
    fh_ratelimit_init(&sim->log_rl, 10, 1000000000);
    fs_rand_seed(sim->conn_rng, cfg->seed ^ 0x6b72616b656eULL);
    sim->start_mono_ns = fh_clock_monotonic_ns();
    sim->start_real_us = fh_clock_realtime_ns() / 1000;
    sim->now_ns = sim->start_mono_ns;
    rc = fs_gen_init(sim);
    if (rc != 0)
        return rc;
    if (cfg->truth_path != NULL) {
        rc = fs_truth_open(&sim->truth, cfg->truth_path, 4 * 1024 * 1024);
        if (rc != 0) {
            log_error("cannot open the truth log", "path=%s err=\"%s\"", cfg->truth_path,
                      fh_strerror(rc));
            return rc;
        }
    }
    if (cfg->replay_path != NULL) {
        rc = fs_replay_open(sim);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static struct fs_sim sim;
    static struct fs_faults faults;
    defaults(&sim.cfg);
    int rc = parse_args(argc, argv, &sim.cfg);
    if (rc != 0)
        return rc;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return 1;
    sim.loop = &loop;
    int exit_code = 0;
    wire(&sim, &faults);
    rc = setup(&sim);
    if (rc == 0)
        rc = fs_server_start(&sim);
    if (rc != 0) {
        exit_code = 1;
        fs_server_stop(&sim);
    } else {
        log_info("feedsim started", "symbols=%zu rate=%g seed=%llu time_scale=%g blast=%s",
                 sim.nsyms, sim.cfg.rate, (unsigned long long)sim.cfg.seed, sim.cfg.time_scale,
                 sim.cfg.blast ? "yes" : "no");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Anything still open (after a failed start) is closed here. */
    uv_walk(&loop, walk_close, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    fs_truth_close(&sim.truth);
    fs_replay_close(&sim);
    fs_gen_release(&sim);
    fh_json_release(&sim.json);
    fh_buf_release(&sim.out);
    for (int v = 0; v < FS_NVENUES; v++)
        free(sim.budget[v].times);
    if (sim.tls != NULL)
        SSL_CTX_free(sim.tls);
    log_info("feedsim stopped", "exit=%d", exit_code);
    return exit_code;
}
