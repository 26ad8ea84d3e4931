/*
 * test_config.c - configuration: the key table, INI file, environment, --set, checks
 * (src/app/config.c, src/sink/kafka_conf.c), and that config/feedhandler.ini and
 * docs/CONFIG.md document every key with its default.
 */
#include "testutil.h"

#include "app/config.h"
#include "venue/venue.h"
#include "core/err.h"
#include "core/log.h"
#include "sink/kafka_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* The protocol kraken.url selects (venue/registry.c). */
static bool kraken_v2(const struct fh_config *c)
{
    return fh_venue_for_section("kraken", c->kraken.url) == &fh_venue_kraken_v2;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void dump_errors(const struct fh_config_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        print_message("  error: %s\n", e->lines[i]);
}

/* True if some error line starts with prefix. */
static bool has_error(const struct fh_config_errors *e, const char *prefix)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->lines[i], prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

#define assert_error(e, prefix)                                        \
    do {                                                               \
        if (!has_error((e), (prefix))) {                               \
            dump_errors(e);                                            \
            fail_msg("expected an error starting with: %s", (prefix)); \
        }                                                              \
    } while (0)

#define assert_error_count(e, count)                                       \
    do {                                                                   \
        if ((e)->n != (size_t)(count)) {                                   \
            dump_errors(e);                                                \
            fail_msg("expected %d errors, got %zu", (int)(count), (e)->n); \
        }                                                                  \
    } while (0)

/* An empty environment, so that tests do not depend on the caller's FEEDHANDLER_* variables. */
static const char *const no_env[] = {NULL};

static void start(struct fh_config *c, struct fh_config_errors *e)
{
    assert_int_equal(fh_config_init(c), 0);
    fh_config_errors_init(e);
}

static void finish(struct fh_config *c, struct fh_config_errors *e)
{
    fh_config_release(c);
    fh_config_errors_release(e);
}

static void load_str(struct fh_config *c, struct fh_config_errors *e, const char *text)
{
    start(c, e);
    fh_config_load_string(c, "t.ini", text, e);
}

static int key_id(const char *section, const char *name)
{
    int id = fh_config_key_find(section, name);
    if (id < 0)
        fail_msg("no key %s.%s", section, name);
    return id;
}

/* The formatted value of section.name. */
static const char *fmt_key(const struct fh_config *c, const char *section, const char *name)
{
    static char buf[1024];
    fh_config_format(c, key_id(section, name), buf, sizeof(buf));
    return buf;
}

static char *write_tmp(const char *dir, const char *name, const char *text, size_t len)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    assert_non_null(path);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void rm_tmp(char *dir, char *path)
{
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* Removes every FEEDHANDLER_* variable, so that each test controls the environment. */
static int clear_feedhandler_env(void **state)
{
    (void)state;
    for (;;) {
        char name[256] = "";
        for (char **p = environ; p != NULL && *p != NULL; p++) {
            if (strncmp(*p, "FEEDHANDLER_", 12) == 0) {
                size_t n = strcspn(*p, "=");
                if (n < sizeof(name)) {
                    memcpy(name, *p, n);
                    name[n] = '\0';
                }
                break;
            }
        }
        if (name[0] == '\0')
            return 0;
        unsetenv(name);
    }
}

/* ---- defaults and the table ------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;
    start(&c, &e);
    assert_int_equal(c.log.level, FH_LOG_INFO);
    assert_int_equal(c.sink.type, FH_SINK_TYPE_STDOUT);
    assert_int_equal(c.sink.format, FH_SINK_FORMAT_JSON);
    assert_string_equal(c.sink.path, "");
    assert_string_equal(c.sink.topic, "trades");
    assert_true(c.sink.flush_timeout_ms > 0);
    assert_true(c.binance.enabled);
    assert_string_equal(c.binance.url, "wss://stream.binance.com:9443");
    assert_string_equal(c.binance.rest_url, "https://api.binance.com");
    assert_int_equal(c.binance.symbols.n, 0);
    assert_int_equal(c.binance.channels.n, 1);
    assert_string_equal(c.binance.channels.items[0], "trade");
    assert_string_equal(c.kraken.url, "wss://ws.kraken.com/v2");
    assert_string_equal(c.kraken.rest_url, "https://api.kraken.com");
    assert_true(kraken_v2(&c));
    assert_string_equal(c.tls.ca_file, "");
    assert_true(c.tls.verify);
    assert_string_equal(c.metrics.listen, "");
    assert_string_equal(c.schema_registry.url, "");
    assert_int_equal(c.kafka_n, 0);

    /* Every default parses (fh_config_init succeeded) and prints back as written in the
     * table, and comes from nowhere but the default. */
    char buf[1024];
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        fh_config_format(&c, id, buf, sizeof(buf));
        assert_string_equal(buf, fh_config_keys[id].def);
        assert_int_equal(c.origin[id].source, FH_CFG_FROM_DEFAULT);
        fh_config_format_origin(&c, id, buf, sizeof(buf));
        assert_string_equal(buf, "default");
        assert_int_equal(fh_config_key_find(fh_config_keys[id].section, fh_config_keys[id].name),
                         id);
    }
    assert_int_equal(fh_config_key_find("sink", "nope"), -1);
    assert_int_equal(fh_config_key_find("nope", "type"), -1);
    finish(&c, &e);
}

static void test_key_names_are_the_contract(void **state)
{
    (void)state;
    /* Later work and tests rely on these exact names. */
    static const char *const names[][2] = {
        {"log", "level"},
        {"sink", "type"},
        {"sink", "format"},
        {"sink", "path"},
        {"sink", "topic"},
        {"sink", "flush_timeout_ms"},
        {"binance", "enabled"},
        {"binance", "url"},
        {"binance", "rest_url"},
        {"binance", "symbols"},
        {"binance", "channels"},
        {"kraken", "enabled"},
        {"kraken", "url"},
        {"kraken", "rest_url"},
        {"kraken", "symbols"},
        {"tls", "ca_file"},
        {"tls", "verify"},
        {"metrics", "listen"},
        {"metrics", "health_stall_ms"},
        {"schema_registry", "url"},
        /* The connection engine's keys. */
        {"sink", "buffer_bytes"},
        {"binance", "metadata_file"},
        {"binance", "streams_per_connection"},
        {"binance", "microseconds"},
        {"binance", "lifetime_ms"},
        {"binance", "lifetime_jitter_ms"},
        {"binance", "rotation_timeout_ms"},
        {"binance", "connect_budget"},
        {"binance", "connect_budget_window_ms"},
        {"kraken", "metadata_file"},
        {"kraken", "symbols_per_connection"},
        {"kraken", "connect_budget"},
        {"kraken", "connect_budget_window_ms"},
        {"feed", "connect_timeout_ms"},
        {"feed", "handshake_timeout_ms"},
        {"feed", "subscribe_timeout_ms"},
        {"feed", "ping_interval_ms"},
        {"feed", "pong_timeout_ms"},
        {"feed", "watchdog_ms"},
        {"feed", "max_message_bytes"},
        {"feed", "gap_list_size"},
        {"feed", "realtime_priority"},
        {"reconnect", "base_ms"},
        {"reconnect", "max_ms"},
        {"reconnect", "stable_ms"},
        {"reconnect", "throttled_ms"},
        {"reconnect", "maintenance_ms"},
        {"reconnect", "breaker_failures"},
        {"reconnect", "breaker_open_ms"},
        {"record", "dir"},
        {"record", "max_file_bytes"},
        {"record", "max_files"},
        {"record", "buffer_bytes"},
        /* The Kafka sink's keys. */
        {"sink", "topic_per_venue"},
        {"sink", "profile"},
        {"schema_registry", "timeout_ms"},
        {"spool", "dir"},
        {"spool", "max_bytes"},
        {"spool", "segment_bytes"},
        {"spool", "fsync"},
        {"spool", "fsync_interval_ms"},
        {"spool", "queue_bytes"},
        {"spool", "inflight_max"},
        {"spool", "spill_after_ms"},
        {"spool", "take_back_after_ms"},
        {"spool", "reserve_bytes"},
        {"spool", "on_full"},
        {"spool", "full_grace_ms"},
        /* REST backfill (issue 13). */
        {"backfill", "enabled"},
        {"backfill", "gap_topic"},
        {"backfill", "deadline_ms"},
        {"backfill", "max_open_gaps"},
        {"backfill", "hold_trades"},
        {"backfill", "hold_trades_per_symbol"},
        {"backfill", "page_limit"},
        {"backfill", "max_failures"},
        {"backfill", "requests"},
        {"backfill", "request_timeout_ms"},
        {"backfill", "binance_weight_limit"},
        {"backfill", "binance_weight_share_pct"},
        {"backfill", "kraken_pair_interval_ms"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        key_id(names[i][0], names[i][1]);
    assert_int_equal(FH_CONFIG_NKEYS, sizeof(names) / sizeof(names[0]));
}

/* ---- types ------------------------------------------------------------------------------ */

struct type_case {
    const char *key; /* section.key */
    const char *value;
    const char *expect; /* the formatted value after applying, or NULL: must be rejected */
};

static void run_type_cases(const struct type_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct type_case *tc = &cases[i];
        char arg[512], section[64], before[1024];
        snprintf(arg, sizeof(arg), "%s=%s", tc->key, tc->value);
        const char *dot = strchr(tc->key, '.');
        snprintf(section, sizeof(section), "%.*s", (int)(dot - tc->key), tc->key);
        struct fh_config c;
        struct fh_config_errors e;
        start(&c, &e);
        snprintf(before, sizeof(before), "%s", fmt_key(&c, section, dot + 1));
        const char *args[] = {arg};
        fh_config_load_sets(&c, args, 1, &e);
        const char *after = fmt_key(&c, section, dot + 1);
        if (tc->expect != NULL) {
            if (e.n != 0) {
                dump_errors(&e);
                fail_msg("--set %s: expected it to be accepted", arg);
            }
            if (strcmp(after, tc->expect) != 0)
                fail_msg("--set %s: value is \"%s\", expected \"%s\"", arg, after, tc->expect);
            assert_int_equal(c.origin[key_id(section, dot + 1)].source, FH_CFG_FROM_SET);
        } else {
            if (e.n != 1)
                fail_msg("--set %s: expected one error, got %zu", arg, e.n);
            char prefix[128];
            snprintf(prefix, sizeof(prefix), "--set:%s: ", tc->key);
            assert_error(&e, prefix);
            /* A rejected value is not applied. */
            assert_string_equal(after, before);
            assert_true(c.origin[key_id(section, dot + 1)].rejected);
        }
        finish(&c, &e);
    }
}

static void test_type_bool(void **state)
{
    (void)state;
    static const struct type_case cases[] = {
        {"binance.enabled", "false", "false"}, {"binance.enabled", "true", "true"},
        {"binance.enabled", "no", "false"},    {"binance.enabled", "YES", "true"},
        {"binance.enabled", "Off", "false"},   {"binance.enabled", "on", "true"},
        {"binance.enabled", "0", "false"},     {"binance.enabled", "1", "true"},
        {"tls.verify", " false ", "false"},    {"binance.enabled", "maybe", NULL},
        {"binance.enabled", "", NULL},         {"binance.enabled", "2", NULL},
        {"binance.enabled", "truee", NULL},    {"tls.verify", "nope", NULL},
    };
    run_type_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_type_duration_ms(void **state)
{
    (void)state;
    static const struct type_case cases[] = {
        {"sink.flush_timeout_ms", "0", "0"},
        {"sink.flush_timeout_ms", "600000", "600000"},
        {"sink.flush_timeout_ms", "0250", "250"},
        {"sink.flush_timeout_ms", "+5", "5"},
        {"sink.flush_timeout_ms", "-1", NULL},
        {"sink.flush_timeout_ms", "600001", NULL},
        {"sink.flush_timeout_ms", "5s", NULL},
        {"sink.flush_timeout_ms", "5ms", NULL},
        {"sink.flush_timeout_ms", "1.5", NULL},
        {"sink.flush_timeout_ms", "", NULL},
        {"sink.flush_timeout_ms", "0x10", NULL},
        {"sink.flush_timeout_ms", "99999999999999999999", NULL},
    };
    run_type_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_type_enum(void **state)
{
    (void)state;
    static const struct type_case cases[] = {
        {"sink.type", "kafka", "kafka"}, {"sink.type", "FILE", "file"},
        {"sink.format", "avro", "avro"}, {"log.level", "Debug", "debug"},
        {"log.level", "error", "error"}, {"sink.type", "kafak", NULL},
        {"sink.type", "", NULL},         {"sink.format", "protobuf", NULL},
        {"log.level", "verbose", NULL},
    };
    run_type_cases(cases, sizeof(cases) / sizeof(cases[0]));

    struct fh_config c;
    struct fh_config_errors e;
    start(&c, &e);
    const char *args[] = {"sink.type=kafak", "log.level=warn"};
    fh_config_load_sets(&c, args, 2, &e);
    assert_error(&e, "--set:sink.type: invalid value \"kafak\" (expected stdout, file or kafka)");
    assert_int_equal(c.log.level, FH_LOG_WARN);
    finish(&c, &e);
}

static void test_type_lists(void **state)
{
    (void)state;
    static const struct type_case cases[] = {
        {"binance.symbols", "BTCUSDT, ETHUSDT ,1000SATSUSDT", "BTCUSDT,ETHUSDT,1000SATSUSDT"},
        {"binance.symbols", "", ""},
        {"binance.symbols", "btcusdt", NULL},
        {"binance.symbols", "BTC/USDT", NULL},
        {"binance.symbols", "BTCUSDT,BTCUSDT", NULL},
        {"binance.symbols", "BTCUSDT,,ETHUSDT", NULL},
        {"binance.symbols", "BTCUSDT,", NULL},
        {"binance.symbols", ",BTCUSDT", NULL},
        {"kraken.symbols", "BTC/USD, XBT/EUR,ETH2.S/ETH", "BTC/USD,XBT/EUR,ETH2.S/ETH"},
        {"kraken.symbols", "BTCUSD", NULL},
        {"kraken.symbols", "BTC/", NULL},
        {"kraken.symbols", "/USD", NULL},
        {"kraken.symbols", "BTC/USD/EUR", NULL},
        {"kraken.symbols", "btc/usd", NULL},
        {"binance.channels", "trade,aggTrade", "trade,aggTrade"},
        {"binance.channels", " AGGTRADE ", "aggTrade"},
        {"binance.channels", "", ""},
        {"binance.channels", "depth", NULL},
        {"binance.channels", "trade,TRADE", NULL},
        {"binance.channels", "trade,", NULL},
    };
    run_type_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_type_url_and_address(void **state)
{
    (void)state;
    static const struct type_case cases[] = {
        {"binance.url", "ws://127.0.0.1:9000/stream", "ws://127.0.0.1:9000/stream"},
        {"binance.url", "wss://[::1]:443/x?y=1", "wss://[::1]:443/x?y=1"},
        {"kraken.url", "WSS://ws.kraken.com", "WSS://ws.kraken.com"},
        {"binance.rest_url", "http://localhost:8080", "http://localhost:8080"},
        {"schema_registry.url", "", ""},
        {"schema_registry.url", "https://sr.example:8081/", "https://sr.example:8081/"},
        {"binance.url", "", NULL},
        {"binance.url", "https://stream.binance.com", NULL},
        {"binance.url", "stream.binance.com:9443", NULL},
        {"binance.url", "wss://", NULL},
        {"binance.url", "wss://:9443", NULL},
        {"binance.url", "wss://host:0", NULL},
        {"binance.url", "wss://host:65536", NULL},
        {"binance.url", "wss://host:x", NULL},
        {"binance.url", "wss://user@host", NULL},
        {"binance.url", "wss://ho st/", NULL},
        {"binance.url", "wss://[::1/", NULL},
        {"kraken.rest_url", "wss://api.kraken.com", NULL},
        {"schema_registry.url", "ftp://x", NULL},
        {"metrics.listen", "127.0.0.1:9102", "127.0.0.1:9102"},
        {"metrics.listen", "[::1]:9102", "[::1]:9102"},
        {"metrics.listen", "localhost:65535", "localhost:65535"},
        {"metrics.listen", "", ""},
        {"metrics.listen", "localhost", NULL},
        {"metrics.listen", ":9102", NULL},
        {"metrics.listen", "host:0", NULL},
        {"metrics.listen", "host:65536", NULL},
        {"metrics.listen", "host:abc", NULL},
        {"metrics.listen", "http://host:1", NULL},
        {"metrics.listen", "a b:1", NULL},
    };
    run_type_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_type_strings(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    char *ca = write_tmp(dir, "ca.pem", "x", 1);
    char ok_ca[4200], dir_ca[4200];
    snprintf(ok_ca, sizeof(ok_ca), "tls.ca_file=%s", ca);
    snprintf(dir_ca, sizeof(dir_ca), "tls.ca_file=%s", dir);
    const struct type_case cases[] = {
        {"sink.topic", "trades.v1_x-Y", "trades.v1_x-Y"},
        {"sink.topic", "a/b", NULL},
        {"sink.topic", "", NULL},
        {"sink.topic", "..", NULL},
        {"sink.path", "/tmp/trades.jsonl", "/tmp/trades.jsonl"},
        {"sink.path", "a\tb", NULL},
        {"tls.ca_file", "", ""},
        {"tls.ca_file", "/nonexistent/ca.pem", NULL},
        {"tls.ca_file", ok_ca + strlen("tls.ca_file="), ca},
        {"tls.ca_file", dir_ca + strlen("tls.ca_file="), NULL},
    };
    run_type_cases(cases, sizeof(cases) / sizeof(cases[0]));
    rm_tmp(dir, ca);
}

static void test_parsers_int_and_size(void **state)
{
    (void)state;
    int64_t i;
    uint64_t u;
    bool b;
    assert_int_equal(fh_config_parse_int("-5", -10, 10, &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(fh_config_parse_int("11", -10, 10, &i), FH_ERANGE);
    assert_int_equal(fh_config_parse_int("9223372036854775808", INT64_MIN, INT64_MAX, &i),
                     FH_ERANGE);
    assert_int_equal(fh_config_parse_int(" 5", 0, 10, &i), FH_EINVAL);
    assert_int_equal(fh_config_parse_int("5 ", 0, 10, &i), FH_EINVAL);
    assert_int_equal(fh_config_parse_int("-", 0, 10, &i), FH_EINVAL);
    assert_int_equal(fh_config_parse_int("", 0, 10, &i), FH_EINVAL);

    assert_int_equal(fh_config_parse_size("64k", 0, UINT64_MAX, &u), 0);
    assert_int_equal(u, 65536);
    assert_int_equal(fh_config_parse_size("16M", 0, UINT64_MAX, &u), 0);
    assert_int_equal(u, 16u << 20);
    assert_int_equal(fh_config_parse_size("1g", 0, UINT64_MAX, &u), 0);
    assert_int_equal(u, 1u << 30);
    assert_int_equal(fh_config_parse_size("1000", 0, UINT64_MAX, &u), 0);
    assert_int_equal(u, 1000);
    assert_int_equal(fh_config_parse_size("2k", 0, 1024, &u), FH_ERANGE);
    assert_int_equal(fh_config_parse_size("17179869184G", 0, UINT64_MAX, &u), FH_ERANGE);
    assert_int_equal(fh_config_parse_size("k", 0, UINT64_MAX, &u), FH_EINVAL);
    assert_int_equal(fh_config_parse_size("1.5k", 0, UINT64_MAX, &u), FH_EINVAL);
    assert_int_equal(fh_config_parse_size("1kb", 0, UINT64_MAX, &u), FH_EINVAL);
    assert_int_equal(fh_config_parse_size("-1", 0, UINT64_MAX, &u), FH_EINVAL);
    assert_int_equal(fh_config_parse_size("1 k", 0, UINT64_MAX, &u), FH_EINVAL);

    assert_int_equal(fh_config_parse_bool("On", &b), 0);
    assert_true(b);
    assert_int_equal(fh_config_parse_bool("y", &b), FH_EINVAL);
}

/* ---- the file --------------------------------------------------------------------------- */

static void test_file_syntax(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;
    load_str(&c, &e,
             "\xEF\xBB\xBF; a comment\n"
             "# another comment\n"
             "\n"
             "[sink]\n"
             "  topic = spaced   ; inline comment\n"
             "path: /tmp/x#1\n"
             "[ log ]\n"
             "level=debug\r\n"
             "[sink]\n"
             "format = avro\n");
    assert_error_count(&e, 0);
    assert_string_equal(c.sink.topic, "spaced");
    assert_string_equal(c.sink.path, "/tmp/x#1");
    assert_int_equal(c.log.level, FH_LOG_DEBUG);
    assert_int_equal(c.sink.format, FH_SINK_FORMAT_AVRO);
    assert_int_equal(c.origin[FH_CFGK_sink_topic].source, FH_CFG_FROM_FILE);
    assert_int_equal(c.origin[FH_CFGK_sink_topic].line, 5);
    assert_int_equal(c.origin[FH_CFGK_log_level].line, 8);
    char buf[64];
    fh_config_format_origin(&c, FH_CFGK_sink_format, buf, sizeof(buf));
    assert_string_equal(buf, "t.ini:10");
    finish(&c, &e);
}

static void test_unknown_section_and_key(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;
    load_str(&c, &e,
             "[sink]\n"
             "type = stdout\n"
             "[bogus]\n"
             "a = 1\n"
             "b = 2\n"
             "[binance]\n"
             "sybmols = BTCUSDT\n"
             "[Sink]\n");
    assert_error(&e, "t.ini:3: unknown section [bogus] (known sections: log, sink, binance,");
    assert_error(&e, "t.ini:7: unknown key \"sybmols\" in [binance] (known keys: enabled, url, "
                     "rest_url, symbols, channels, metadata_file,");
    assert_error(&e, "t.ini:8: unknown section [Sink]");
    /* The keys of an unknown section are not reported one by one. */
    assert_error_count(&e, 3);
    finish(&c, &e);
}

static void test_syntax_errors_all_collected(void **state)
{
    (void)state;
    char line[400];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    char text[1024];
    snprintf(text, sizeof(text),
             "orphan = 1\n"             /* 1 */
             "[log]\n"                  /* 2 */
             "level = loud\n"           /* 3 */
             "just words\n"             /* 4 */
             "[sink\n"                  /* 5 */
             "[sink] junk\n"            /* 6 */
             "[sink]\n"                 /* 7 */
             "type = file\n"            /* 8 */
             "type = kafka\n"           /* 9 */
             "= value\n"                /* 10 */
             "  indented = 1\n"         /* 11: not a continuation line */
             "topic = %s\n"             /* 12 */
             "flush_timeout_ms = 5s\n", /* 13 */
             line);
    struct fh_config c;
    struct fh_config_errors e;
    load_str(&c, &e, text);
    assert_error(&e, "t.ini:1: key \"orphan\" is outside any [section]");
    assert_error(&e, "t.ini:3: log.level: invalid value \"loud\"");
    assert_error(&e, "t.ini:4: expected 'key = value'");
    assert_error(&e, "t.ini:5: section header without a closing ']'");
    assert_error(&e, "t.ini:6: unexpected text after the section header");
    assert_error(&e, "t.ini:9: duplicate key sink.type (first given on line 8)");
    assert_error(&e, "t.ini:10: missing key name");
    assert_error(&e, "t.ini:11: unknown key \"indented\" in [sink]");
    assert_error(&e, "t.ini:12: line longer than");
    assert_error(&e, "t.ini:13: sink.flush_timeout_ms: invalid duration \"5s\"");
    assert_error_count(&e, 10);
    /* The first of the duplicates is the one applied. */
    assert_int_equal(c.sink.type, FH_SINK_TYPE_FILE);
    /* In order of the lines. */
    assert_true(strncmp(e.lines[0], "t.ini:1:", 8) == 0);
    assert_true(strncmp(e.lines[9], "t.ini:13:", 9) == 0);
    finish(&c, &e);
}

static void test_file_errors(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;

    start(&c, &e);
    assert_int_equal(fh_config_load(&c, "/nonexistent/feedhandler.ini", no_env, NULL, 0, &e),
                     FH_ECONFIG);
    assert_error(&e, "/nonexistent/feedhandler.ini:0: cannot read the configuration file: No "
                     "such file or directory");
    assert_error_count(&e, 1); /* no cross-key noise about defaults */
    finish(&c, &e);

    char *dir = fh_test_tmpdir();
    start(&c, &e);
    fh_config_load_file(&c, dir, &e);
    assert_error_count(&e, 1);
    assert_non_null(strstr(e.lines[0], ":0: cannot read the configuration file: Is a directory"));
    finish(&c, &e);

    /* A NUL byte is reported at its line, and the rest of the file is still read. */
    static const char nul[] = "[sink]\ntopic = a\0b\ntype = bogus\n";
    char *path = write_tmp(dir, "nul.ini", nul, sizeof(nul) - 1);
    start(&c, &e);
    fh_config_load_file(&c, path, &e);
    char want[4200];
    snprintf(want, sizeof(want), "%s:2: NUL byte", path);
    assert_error(&e, want);
    snprintf(want, sizeof(want), "%s:3: sink.type: invalid value", path);
    assert_error(&e, want);
    finish(&c, &e);
    rm_tmp(dir, path);
}

static void test_error_limit(void **state)
{
    (void)state;
    size_t n = FH_CONFIG_MAX_ERRORS + 50;
    size_t cap = 16 + n * 16;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t o = (size_t)snprintf(text, cap, "[sink]\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "bad%zu = 1\n", i);
    struct fh_config c;
    struct fh_config_errors e;
    load_str(&c, &e, text);
    assert_int_equal(e.n, FH_CONFIG_MAX_ERRORS);
    assert_int_equal(e.dropped, 50);
    assert_true(fh_config_errors_any(&e));
    finish(&c, &e);
    free(text);
}

/* ---- environment, flags, precedence ----------------------------------------------------- */

static void test_precedence_file_env_set(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    static const char ini[] = "[log]\n"
                              "level = warn\n"
                              "[sink]\n"
                              "topic = fromfile\n"
                              "flush_timeout_ms = 1\n"
                              "[binance]\n"
                              "symbols = BTCUSDT\n"
                              "[kraken]\n"
                              "enabled = false\n"
                              "[kafka]\n"
                              "acks = 1\n";
    char *path = write_tmp(dir, "p.ini", ini, sizeof(ini) - 1);
    assert_int_equal(setenv("FEEDHANDLER_SINK_TOPIC", "fromenv", 1), 0);
    assert_int_equal(setenv("FEEDHANDLER_LOG_LEVEL", "debug", 1), 0);
    assert_int_equal(setenv("FEEDHANDLER_KAFKA_ACKS", "0", 1), 0);
    const char *sets[] = {"sink.topic=fromset", "kafka.acks=all"};

    struct fh_config c;
    struct fh_config_errors e;
    start(&c, &e);
    int rc = fh_config_load(&c, path, NULL, sets, 2, &e);
    unsetenv("FEEDHANDLER_SINK_TOPIC");
    unsetenv("FEEDHANDLER_LOG_LEVEL");
    unsetenv("FEEDHANDLER_KAFKA_ACKS");
    assert_error_count(&e, 0);
    assert_int_equal(rc, 0);

    assert_string_equal(c.sink.topic, "fromset");         /* file < env < --set */
    assert_int_equal(c.log.level, FH_LOG_DEBUG);          /* file < env */
    assert_int_equal(c.sink.flush_timeout_ms, 1);         /* file */
    assert_int_equal(c.sink.format, FH_SINK_FORMAT_JSON); /* default */
    assert_string_equal(fh_config_kafka_get(&c, "acks"), "all");

    char buf[4200], want[4200];
    fh_config_format_origin(&c, FH_CFGK_sink_topic, buf, sizeof(buf));
    assert_string_equal(buf, "--set");
    fh_config_format_origin(&c, FH_CFGK_log_level, buf, sizeof(buf));
    assert_string_equal(buf, "env:FEEDHANDLER_LOG_LEVEL");
    fh_config_format_origin(&c, FH_CFGK_sink_flush_timeout_ms, buf, sizeof(buf));
    snprintf(want, sizeof(want), "%s:5", path);
    assert_string_equal(buf, want);
    fh_config_format_origin(&c, FH_CFGK_sink_format, buf, sizeof(buf));
    assert_string_equal(buf, "default");
    finish(&c, &e);

    /* Without the higher layers the file's values stand. */
    start(&c, &e);
    assert_int_equal(fh_config_load(&c, path, no_env, NULL, 0, &e), 0);
    assert_string_equal(c.sink.topic, "fromfile");
    assert_int_equal(c.log.level, FH_LOG_WARN);
    assert_string_equal(fh_config_kafka_get(&c, "acks"), "1");
    finish(&c, &e);
    rm_tmp(dir, path);
}

static void test_env_name_mapping(void **state)
{
    (void)state;
    const char *env[] = {"PATH=/usr/bin",
                         "FEEDHANDLERX=ignored",
                         "FEEDHANDLER_SCHEMA_REGISTRY_URL= http://sr:8081 ",
                         "FEEDHANDLER_SINK_FLUSH_TIMEOUT_MS=250",
                         "FEEDHANDLER_KAFKA_BOOTSTRAP_SERVERS=broker:9092",
                         "FEEDHANDLER_KAFKA_MESSAGE_TIMEOUT_MS=3000",
                         "FEEDHANDLER_BINANCE_SYMBOLS=BTCUSDT,ETHUSDT",
                         "FEEDHANDLER_TLS_VERIFY=off",
                         NULL};
    struct fh_config c;
    struct fh_config_errors e;
    start(&c, &e);
    fh_config_load_env(&c, env, &e);
    assert_error_count(&e, 0);
    assert_string_equal(c.schema_registry.url, "http://sr:8081");
    assert_int_equal(c.sink.flush_timeout_ms, 250);
    assert_string_equal(fh_config_kafka_get(&c, "bootstrap.servers"), "broker:9092");
    assert_string_equal(fh_config_kafka_get(&c, "message.timeout.ms"), "3000");
    assert_null(fh_config_kafka_get(&c, "acks"));
    assert_int_equal(c.binance.symbols.n, 2);
    assert_false(c.tls.verify);
    char buf[256];
    fh_config_format_origin(&c, FH_CFGK_schema_registry_url, buf, sizeof(buf));
    assert_string_equal(buf, "env:FEEDHANDLER_SCHEMA_REGISTRY_URL");
    finish(&c, &e);

    /* NULL reads the process environment. */
    assert_int_equal(setenv("FEEDHANDLER_METRICS_LISTEN", "127.0.0.1:9999", 1), 0);
    start(&c, &e);
    fh_config_load_env(&c, NULL, &e);
    unsetenv("FEEDHANDLER_METRICS_LISTEN");
    assert_error_count(&e, 0);
    assert_string_equal(c.metrics.listen, "127.0.0.1:9999");
    finish(&c, &e);
}

static void test_env_errors(void **state)
{
    (void)state;
    const char *env[] = {"FEEDHANDLER_BOGUS=1",
                         "FEEDHANDLER_SINK_NOPE=1",
                         "FEEDHANDLER_sink_type=kafka",
                         "FEEDHANDLER_SINK_type=kafka",
                         "FEEDHANDLER_SINK_=x",
                         "FEEDHANDLER_KAFKA_BOGUS_PROP=1",
                         "FEEDHANDLER_KAFKA_ACKS=banana",
                         "FEEDHANDLER_SINK_TYPE=kafak",
                         NULL};
    struct fh_config c;
    struct fh_config_errors e;
    start(&c, &e);
    fh_config_load_env(&c, env, &e);
    assert_error(&e, "env:FEEDHANDLER_BOGUS: unknown variable");
    assert_error(&e, "env:FEEDHANDLER_SINK_NOPE: unknown variable: [sink] has no key \"nope\"");
    assert_error(&e, "env:FEEDHANDLER_sink_type: unknown variable");
    assert_error(&e, "env:FEEDHANDLER_SINK_type: unknown variable");
    assert_error(&e, "env:FEEDHANDLER_SINK_: unknown variable");
    assert_error(&e, "env:FEEDHANDLER_KAFKA_BOGUS_PROP: No such configuration property: "
                     "\"bogus.prop\"");
    assert_error(&e, "env:FEEDHANDLER_KAFKA_ACKS: Invalid value");
    assert_error(&e, "env:FEEDHANDLER_SINK_TYPE: invalid value \"kafak\"");
    assert_error_count(&e, 8);
    assert_int_equal(c.sink.type, FH_SINK_TYPE_STDOUT);
    assert_int_equal(c.kafka_n, 0);
    finish(&c, &e);

    /* An unknown variable in the process environment fails the whole load. */
    assert_int_equal(setenv("FEEDHANDLER_TYPO", "1", 1), 0);
    start(&c, &e);
    fh_config_load_env(&c, NULL, &e);
    unsetenv("FEEDHANDLER_TYPO");
    assert_error(&e, "env:FEEDHANDLER_TYPO: unknown variable");
    finish(&c, &e);
}

static void test_set_errors(void **state)
{
    (void)state;
    const char *sets[] = {
        "nope",           "sink.type",    "sinktype=x",         ".type=x",         "sink.=x",
        "bogus.key=1",    "sink.nope=1",  "log.level=warn",     "log.level=error", "kafka.bogus=1",
        "kafka.acks=all", "kafka.acks=1", "sink.topic= spaced "};
    struct fh_config c;
    struct fh_config_errors e;
    start(&c, &e);
    fh_config_load_sets(&c, sets, sizeof(sets) / sizeof(sets[0]), &e);
    assert_error(&e, "--set:nope: expected section.key=value");
    assert_error(&e, "--set:sink.type: expected section.key=value");
    assert_error(&e, "--set:sinktype=x: expected section.key=value");
    assert_error(&e, "--set:.type=x: expected section.key=value");
    assert_error(&e, "--set:sink.=x: expected section.key=value");
    assert_error(&e, "--set:bogus.key: unknown section [bogus]");
    assert_error(&e, "--set:sink.nope: unknown key \"nope\" in [sink]");
    assert_error(&e, "--set:kafka.bogus: No such configuration property");
    assert_error_count(&e, 8);
    assert_int_equal(c.log.level, FH_LOG_ERROR); /* the last --set of a key wins */
    assert_string_equal(fh_config_kafka_get(&c, "acks"), "1");
    assert_string_equal(c.sink.topic, "spaced");
    finish(&c, &e);
}

/* The same key given twice with --set: the last one wins, and only it is checked (it used to
 * be an error that also applied and checked the first value). */
static void test_set_twice_last_wins(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;
    const char *fixed[] = {"log.level=bogus", "sink.type=kafak",     "log.level=warn",
                           "sink.type=file",  "kafka.acks=whatever", "kafka.acks=all"};
    start(&c, &e);
    fh_config_load_sets(&c, fixed, sizeof(fixed) / sizeof(fixed[0]), &e);
    assert_error_count(&e, 0);
    assert_int_equal(c.log.level, FH_LOG_WARN);
    assert_int_equal(c.sink.type, FH_SINK_TYPE_FILE);
    assert_string_equal(fh_config_kafka_get(&c, "acks"), "all");
    char buf[64];
    fh_config_format_origin(&c, FH_CFGK_log_level, buf, sizeof(buf));
    assert_string_equal(buf, "--set");
    finish(&c, &e);

    /* A bad last value is the one error, and the earlier good value is not applied. */
    const char *broken[] = {"log.level=warn", "log.level=bogus"};
    start(&c, &e);
    fh_config_load_sets(&c, broken, 2, &e);
    assert_error(&e, "--set:log.level: invalid value \"bogus\"");
    assert_error_count(&e, 1);
    assert_int_equal(c.log.level, FH_LOG_INFO);
    finish(&c, &e);
}

/* ---- [kafka] ---------------------------------------------------------------------------- */

static void test_kafka_section(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;
    load_str(&c, &e,
             "[kafka]\n"
             "bootstrap.servers = localhost:9092\n"
             "bogus.prop = 1\n"
             "acks = banana\n"
             "linger.ms = 5\n"
             "enable.idempotence = maybe\n"
             "linger.ms = 6\n");
    assert_error(&e, "t.ini:3: kafka.bogus.prop: No such configuration property: "
                     "\"bogus.prop\"");
    assert_error(&e, "t.ini:4: kafka.acks: Invalid value");
    assert_error(&e, "t.ini:6: kafka.enable.idempotence: ");
    assert_error(&e, "t.ini:7: duplicate key kafka.linger.ms (first given on line 5)");
    assert_error_count(&e, 4);
    assert_string_equal(fh_config_kafka_get(&c, "bootstrap.servers"), "localhost:9092");
    assert_string_equal(fh_config_kafka_get(&c, "linger.ms"), "5");
    assert_null(fh_config_kafka_get(&c, "acks"));
    assert_int_equal(c.kafka_n, 2);
    finish(&c, &e);

    char err[256];
    assert_int_equal(fh_kafka_conf_check("bootstrap.servers", "a:1,b:2", err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(fh_kafka_conf_check("acks", "banana", err, sizeof(err)), FH_ECONFIG);
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    assert_int_equal(fh_kafka_conf_check("dr_msg_cb", "x", err, sizeof(err)), FH_ECONFIG);
}

/* ---- rules across keys ------------------------------------------------------------------ */

static void check_text(const char *text, struct fh_config *c, struct fh_config_errors *e)
{
    load_str(c, e, text);
    fh_config_check(c, e);
}

static void test_cross_key_rules(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;

    /* Defaults alone: both venues enabled without symbols, reported at FILE:0. */
    check_text("", &c, &e);
    assert_error(&e, "t.ini:0: binance.enabled is true but binance.symbols is empty");
    assert_error(&e, "t.ini:0: kraken.enabled is true but kraken.symbols is empty");
    assert_error_count(&e, 2);
    finish(&c, &e);

    check_text("[sink]\ntype = file\n[binance]\nsymbols =\n[kraken]\nenabled = no\n", &c, &e);
    assert_error(&e, "t.ini:2: sink.type=file requires sink.path");
    assert_error(&e, "t.ini:4: binance.enabled is true but binance.symbols is empty");
    assert_error_count(&e, 2);
    finish(&c, &e);

    check_text("[sink]\ntype = kafka\n[binance]\nsymbols = BTCUSDT\nchannels =\n"
               "[kraken]\nsymbols = BTC/USD\n",
               &c, &e);
    assert_error(&e, "t.ini:2: sink.type=kafka requires [kafka] bootstrap.servers");
    assert_error(&e, "t.ini:5: binance.enabled is true but binance.channels is empty");
    assert_error_count(&e, 2);
    finish(&c, &e);

    check_text("[binance]\nenabled = false\n[kraken]\nenabled = false\n", &c, &e);
    assert_error(&e, "t.ini:2: no venue is enabled");
    assert_error_count(&e, 1);
    finish(&c, &e);

    /* A rule is reported at the environment or flag that set its key. */
    start(&c, &e);
    fh_config_load_string(&c, "t.ini", "[binance]\nsymbols = BTCUSDT\n[kraken]\nenabled=0\n", &e);
    const char *env[] = {"FEEDHANDLER_SINK_TYPE=file", NULL};
    fh_config_load_env(&c, env, &e);
    fh_config_check(&c, &e);
    assert_error(&e, "env:FEEDHANDLER_SINK_TYPE: sink.type=file requires sink.path");
    assert_error_count(&e, 1);
    finish(&c, &e);

    start(&c, &e);
    fh_config_load_string(&c, "t.ini", "[binance]\nsymbols = BTCUSDT\n[kraken]\nenabled=0\n", &e);
    const char *sets[] = {"binance.enabled=false"};
    fh_config_load_sets(&c, sets, 1, &e);
    fh_config_check(&c, &e);
    assert_error(&e, "--set:binance.enabled: no venue is enabled");
    assert_error_count(&e, 1);
    finish(&c, &e);

    /* A key whose value was rejected is not reported again by a rule. */
    check_text("[binance]\nsymbols = btcusdt\n[kraken]\nenabled = false\n", &c, &e);
    assert_error(&e, "t.ini:2: binance.symbols: \"btcusdt\" is not a native Binance symbol");
    assert_error_count(&e, 1);
    finish(&c, &e);

    /* Satisfied rules: kafka with bootstrap.servers, file with a path. */
    check_text("[sink]\ntype = kafka\n[kafka]\nbootstrap.servers = localhost:9092\n"
               "[binance]\nsymbols = BTCUSDT\n[kraken]\nenabled = false\n",
               &c, &e);
    assert_error_count(&e, 0);
    finish(&c, &e);
    check_text(
        "[sink]\ntype = file\npath = /tmp/t.jsonl\n"
        "[binance]\nenabled = false\n[kraken]\nsymbols = XBT/USD\nurl = wss://ws.kraken.com\n",
        &c, &e);
    assert_error_count(&e, 0);
    assert_false(kraken_v2(&c));
    finish(&c, &e);
}

static void test_kraken_protocol_from_url(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        bool v2;
    } cases[] = {
        {"wss://ws.kraken.com/v2", true},
        {"wss://ws.kraken.com/v2/", true},
        {"ws://127.0.0.1:8080/v2?x=1", true},
        {"ws://127.0.0.1:8080/feed/v2", true},
        {"wss://ws.kraken.com", false},
        {"wss://ws.kraken.com/", false},
        {"wss://ws.kraken.com/v1", false},
        {"wss://ws.kraken.com/v22", false},
        {"wss://v2", false},
        {"wss://host/x?p=/v2", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fh_config c;
        struct fh_config_errors e;
        char arg[256];
        snprintf(arg, sizeof(arg), "kraken.url=%s", cases[i].url);
        const char *sets[] = {arg};
        start(&c, &e);
        fh_config_load_sets(&c, sets, 1, &e);
        assert_error_count(&e, 0);
        if (kraken_v2(&c) != cases[i].v2)
            fail_msg("%s: expected v%d", cases[i].url, cases[i].v2 ? 2 : 1);
        finish(&c, &e);
    }
}

/* ---- logging the effective configuration ------------------------------------------------ */

static struct fh_config *log_cfg;

static void emit_config(void)
{
    fh_config_log(log_cfg);
}

static void test_log_effective_settings(void **state)
{
    (void)state;
    struct fh_config c;
    struct fh_config_errors e;
    load_str(&c, &e,
             "[sink]\ntopic = mine\n[kafka]\nsasl.password = hunter2\nsasl.username = bob\n");
    assert_error_count(&e, 0);
    log_cfg = &c;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fh_log_set_level(FH_LOG_INFO);
    fh_log_set_fd(fds[1]);
    emit_config();
    fh_log_set_fd(2);
    close(fds[1]);
    char out[16384];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    assert_non_null(strstr(out, "key=sink.topic value=\"mine\" source=t.ini:2\n"));
    assert_non_null(strstr(out, "key=log.level value=\"info\" source=default\n"));
    assert_non_null(strstr(out, "key=kafka.sasl.username value=\"bob\" source=t.ini:5\n"));
    assert_non_null(strstr(out, "key=kafka.sasl.password value=\"***\""));
    assert_null(strstr(out, "hunter2"));
    /* One line per key plus one per [kafka] property. */
    size_t lines = 0;
    for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, FH_CONFIG_NKEYS + 2);
    finish(&c, &e);
}

/* ---- the shipped file and the documentation --------------------------------------------- */

static char *source_path(const char *rel)
{
    const char *src = getenv("FH_SOURCE_DIR");
    if (src == NULL)
        fail_msg("FH_SOURCE_DIR is not set");
    size_t n = strlen(src) + strlen(rel) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", src, rel);
    return p;
}

static void test_shipped_config_is_valid(void **state)
{
    (void)state;
    char *path = source_path("config/feedhandler.ini");
    struct fh_config c;
    struct fh_config_errors e;
    start(&c, &e);
    int rc = fh_config_load(&c, path, no_env, NULL, 0, &e);
    assert_error_count(&e, 0);
    assert_int_equal(rc, 0);
    /* It uses the public exchange endpoints. */
    assert_string_equal(c.binance.url, "wss://stream.binance.com:9443");
    assert_string_equal(c.kraken.url, "wss://ws.kraken.com/v2");
    finish(&c, &e);
    free(path);
}

struct ini_scan {
    char section[64];
    bool documented[FH_CONFIG_NKEYS];
    bool headers[FH_CONFIG_NKEYS];
};

static size_t trim_span(const char **p, size_t n)
{
    while (n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        n--;
    }
    while (n > 0 && ((*p)[n - 1] == ' ' || (*p)[n - 1] == '\t'))
        n--;
    return n;
}

/* Looks for "[section]" headers and "; key = default" lines. */
static void scan_ini_line(const char *line, size_t len, void *ctx)
{
    struct ini_scan *s = ctx;
    size_t n = trim_span(&line, len);
    if (n >= 2 && line[0] == '[' && line[n - 1] == ']') {
        snprintf(s->section, sizeof(s->section), "%.*s", (int)(n - 2), line + 1);
        for (int id = 0; id < FH_CONFIG_NKEYS; id++)
            s->headers[id] |= strcmp(fh_config_keys[id].section, s->section) == 0;
        return;
    }
    if (n == 0 || line[0] != ';')
        return;
    line++;
    n--;
    const char *eq = memchr(line, '=', n);
    if (eq == NULL)
        return;
    const char *name = line;
    size_t name_n = trim_span(&name, (size_t)(eq - line));
    const char *val = eq + 1;
    size_t val_n = trim_span(&val, n - (size_t)(eq + 1 - line));
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        const struct fh_config_key *k = &fh_config_keys[id];
        if (strcmp(k->section, s->section) == 0 && strlen(k->name) == name_n &&
            memcmp(k->name, name, name_n) == 0 && strlen(k->def) == val_n &&
            memcmp(k->def, val, val_n) == 0)
            s->documented[id] = true;
    }
}

static void test_ini_documents_every_key(void **state)
{
    (void)state;
    char *path = source_path("config/feedhandler.ini");
    struct ini_scan s;
    memset(&s, 0, sizeof(s));
    fh_test_each_line(path, scan_ini_line, &s);
    int missing = 0;
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        if (!s.headers[id] || !s.documented[id]) {
            print_message("config/feedhandler.ini lacks \"; %s = %s\" under [%s]\n",
                          fh_config_keys[id].name, fh_config_keys[id].def,
                          fh_config_keys[id].section);
            missing++;
        }
    }
    for (size_t i = 0; i < fh_config_nsections; i++) {
        char hdr[80];
        snprintf(hdr, sizeof(hdr), "[%s]", fh_config_sections[i].name);
        char *text = fh_test_read_file(path, NULL);
        if (strstr(text, hdr) == NULL) {
            print_message("config/feedhandler.ini lacks the section %s\n", hdr);
            missing++;
        }
        free(text);
    }
    assert_int_equal(missing, 0);
    free(path);
}

/* True if text has line as one whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    }
    return false;
}

static void test_docs_document_every_key(void **state)
{
    (void)state;
    char *path = source_path("docs/CONFIG.md");
    char *text = fh_test_read_file(path, NULL);
    char row[2048];
    int missing = 0;
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        fh_config_key_markdown(id, row, sizeof(row));
        /* The row shows the key and its default. */
        char key[128], def[256];
        snprintf(key, sizeof(key), "`%s.%s`", fh_config_keys[id].section, fh_config_keys[id].name);
        if (fh_config_keys[id].def[0] != '\0')
            snprintf(def, sizeof(def), "`%s`", fh_config_keys[id].def);
        else
            snprintf(def, sizeof(def), "(empty)");
        assert_non_null(strstr(row, key));
        assert_non_null(strstr(row, def));
        if (!has_line(text, row)) {
            print_message("docs/CONFIG.md lacks the row (regenerate the table with "
                          "`feedhandler config-keys`):\n%s\n",
                          row);
            missing++;
        }
    }
    if (!has_line(text, fh_config_kafka_markdown())) {
        print_message("docs/CONFIG.md lacks the [kafka] row:\n%s\n", fh_config_kafka_markdown());
        missing++;
    }
    for (size_t i = 0; i < fh_config_nsections; i++) {
        char sec[80];
        snprintf(sec, sizeof(sec), "`[%s]`", fh_config_sections[i].name);
        if (strstr(text, sec) == NULL) {
            print_message("docs/CONFIG.md does not say who uses %s\n", sec);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
    free(text);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_key_names_are_the_contract),
        cmocka_unit_test(test_type_bool),
        cmocka_unit_test(test_type_duration_ms),
        cmocka_unit_test(test_type_enum),
        cmocka_unit_test(test_type_lists),
        cmocka_unit_test(test_type_url_and_address),
        cmocka_unit_test(test_type_strings),
        cmocka_unit_test(test_parsers_int_and_size),
        cmocka_unit_test(test_file_syntax),
        cmocka_unit_test(test_unknown_section_and_key),
        cmocka_unit_test(test_syntax_errors_all_collected),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_error_limit),
        cmocka_unit_test(test_precedence_file_env_set),
        cmocka_unit_test(test_env_name_mapping),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_set_twice_last_wins),
        cmocka_unit_test(test_kafka_section),
        cmocka_unit_test(test_cross_key_rules),
        cmocka_unit_test(test_kraken_protocol_from_url),
        cmocka_unit_test(test_log_effective_settings),
        cmocka_unit_test(test_shipped_config_is_valid),
        cmocka_unit_test(test_ini_documents_every_key),
        cmocka_unit_test(test_docs_document_every_key),
    };
    return cmocka_run_group_tests(tests, clear_feedhandler_env, NULL);
}
