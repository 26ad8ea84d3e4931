/*
 * test_venue_fast.c - the protocols' readers without tokens (parse_fast: binance_fast.c,
 * kraken_v2_fast.c, kraken_v1_fast.c) against the general path (tokenizer + parse, parser option
 * general_only): fh_venue_parse must answer the same with and without them on every input,
 * and whatever a reader takes, the general path must accept with the same trades, field by
 * field. Inputs: the recorded corpus, messages in feedsim's shapes and their edge cases, and
 * mutations of both (every byte replaced by bytes that matter to JSON, deleted, or the
 * message cut there), on connections with the default and with tight limits (and for
 * Binance, microsecond times).
 */
#include "testutil.h"

#include "../tools/venue_same.h"
#include "core/err.h"
#include "venue/venue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNI_BASE "\xe5\xb8\x81\xe5\xae\x89"

enum { CONNS = 3 };

/* One protocol under test. */
struct venue_case {
    const struct fh_venue_ops *ops;
    const char *metadata; /* tests/data file */
    struct fh_venue_parser_opts opts[CONNS];
    const char *corpus_prefix; /* corpus files of this protocol */
    const char *const *shapes;
    size_t n_shapes;
    size_t min_fast_shapes, min_fast_corpus; /* the reader must be exercised, not only declined */
    size_t mutate_every; /* corpus lines: one in this many is mutated too (0: 499) */
};

static struct fh_symbols SYMS;
/* Per connection kind: with the fast reader (F) and the general path alone (G). */
static struct fh_venue_parser F[CONNS], G[CONNS];

struct tally {
    size_t inputs, fast; /* inputs compared; of them, taken by the fast reader */
    size_t lines;        /* corpus lines */
    size_t mutate_every; /* corpus lines: one in this many is mutated */
};

static void case_start(const struct venue_case *vc)
{
    assert_int_equal(fh_symbols_init(&SYMS, 4096), 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/data/%s",
             getenv("FH_SOURCE_DIR") ? getenv("FH_SOURCE_DIR") : ".", vc->metadata);
    size_t len;
    char *body = fh_test_read_file(path, &len);
    char err[256];
    int rc = vc->ops->parse_metadata(body, len, &SYMS, err, sizeof(err));
    free(body);
    if (rc != 0)
        fail_msg("%s: %s", path, err);
    assert_int_equal(fh_symbols_add(&SYMS, FH_STR_LIT(UNI_BASE "USDT"), FH_STR_LIT(UNI_BASE),
                                    FH_STR_LIT("USDT"), NULL),
                     0);
    for (int c = 0; c < CONNS; c++) {
        struct fh_venue_parser_opts o = vc->opts[c];
        assert_int_equal(fh_venue_parser_init(&F[c], vc->ops, &SYMS, &o), 0);
        o.general_only = true;
        assert_int_equal(fh_venue_parser_init(&G[c], vc->ops, &SYMS, &o), 0);
    }
}

static void case_stop(void)
{
    for (int c = 0; c < CONNS; c++) {
        fh_venue_parser_release(&F[c]);
        fh_venue_parser_release(&G[c]);
    }
    fh_symbols_release(&SYMS);
}

/* One input on every connection kind. */
static void compare(const char *msg, size_t len, struct tally *t)
{
    for (int c = 0; c < CONNS; c++) {
        struct fh_venue_msg f, g, direct;
        int rc_f = fh_venue_parse(&F[c], msg, len, &f);
        int rc_g = fh_venue_parse(&G[c], msg, len, &g);
        if (!venue_msg_same(rc_f, &f, rc_g, &g))
            fail_msg("conn %d: paths differ (fast path rc %d %s, general rc %d %s): %.*s", c, rc_f,
                     fh_reject_name(f.reject), rc_g, fh_reject_name(g.reject), (int)len, msg);
        /* The reader alone: when it takes a message, the general path accepted it too. */
        memset(&direct, 0, sizeof(direct));
        if (len <= F[c].opts.max_message_bytes &&
            F[c].ops->parse_fast(&F[c], msg, len, &direct) > 0) {
            t->fast++;
            if (rc_g != 0 || !venue_msg_same(0, &direct, rc_g, &g))
                fail_msg("conn %d: fast reader took what the general path gives as rc %d %s: "
                         "%.*s",
                         c, rc_g, fh_reject_name(g.reject), (int)len, msg);
        }
        t->inputs++;
    }
}

/* The input, then every byte replaced by each of a few that matter, deleted, or cut there. */
static void compare_mutations(const char *msg, size_t len, struct tally *t)
{
    static const char subst[] = {'"', '\\', ' ', '0', '1', '9', '-', '.',  'e',  'E',
                                 ',', ':',  '}', '{', ']', 't', 'x', '\0', 0x7f, (char)0xc3};
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    compare(msg, len, t);
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof(subst); k++) {
            if (msg[i] == subst[k])
                continue;
            memcpy(buf, msg, len);
            buf[i] = subst[k];
            compare(buf, len, t);
        }
        memcpy(buf, msg, i);
        memcpy(buf + i, msg + i + 1, len - i - 1);
        compare(buf, len - 1, t);
        compare(msg, i, t);
    }
    free(buf);
}

/* feedsim's shapes (tools/feedsim/binance.c), edge cases the fast reader must leave to the
 * general path or take exactly. */
static const char *const BINANCE_SHAPES[] = {
    "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1700000000123,\"s\":"
    "\"BTCUSDT\",\"t\":12345,\"p\":\"43000.12000000\",\"q\":\"0.00100000\",\"T\":1700000000122,"
    "\"m\":true,\"M\":true}}",
    "{\"e\":\"trade\",\"E\":1700000000123,\"s\":\"BTCUSDT\",\"t\":12345,\"p\":\"43000.12\","
    "\"q\":\"0.001\",\"T\":1700000000122,\"m\":false,\"M\":true}",
    "{\"stream\":\"ethusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":1700000000123,\"s\":"
    "\"ETHUSDT\",\"a\":77,\"p\":\"2200.5\",\"q\":\"1.25\",\"f\":100,\"l\":104,\"T\":1700000000122,"
    "\"m\":false,\"M\":true}}",
    /* the older trade event: buyer and seller order ids, keys read only for duplicates */
    "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1592591955766,\"s\":"
    "\"BTCUSDT\",\"t\":343719861,\"p\":\"9302.00000000\",\"q\":\"0.00101900\",\"b\":2517144287,"
    "\"a\":2517144235,\"T\":1592591955765,\"m\":false,\"M\":true,\"X\":\"x\"}}",
    "{\"e\":\"aggTrade\",\"E\":1700000000123,\"s\":\"ETHUSDT\",\"a\":0,\"p\":\"2200.5\",\"q\":"
    "\"1.25\",\"f\":9223372036854775807,\"l\":9223372036854775807,\"T\":0,\"m\":true}",
    /* microsecond times at the scaling limit, and beyond it */
    "{\"e\":\"trade\",\"E\":9223372036854775,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\","
    "\"T\":9223372036854776,\"m\":true}",
    /* f > l; an id past int64; a leading zero; a negative id */
    "{\"e\":\"aggTrade\",\"E\":1,\"s\":\"ETHUSDT\",\"a\":1,\"p\":\"1\",\"q\":\"1\",\"f\":5,\"l\":4,"
    "\"T\":1,\"m\":true}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":9223372036854775808,\"p\":\"1\",\"q\":"
    "\"1\",\"T\":1,\"m\":true}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":012,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":"
    "true}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":-12,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":"
    "true}",
    /* a key twice; an unknown key with every kind of value; zero price; escapes */
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"p\":\"2\",\"q\":\"1\","
    "\"T\":1,\"m\":true}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true,"
    "\"X\":null,\"Y\":[1],\"Z\":{\"a\":1},\"W\":1.5e3}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"0.000\",\"q\":\"1\",\"T\":1,\"m\":"
    "true}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTC\\u0055SDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,"
    "\"m\":true}",
    /* a stream that is not the symbol's, an unknown symbol, a non-ASCII one */
    "{\"stream\":\"ethusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,"
    "\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}}",
    "{\"stream\":\"BTCUSDT@trade\",\"data\":{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,"
    "\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}}",
    "{\"stream\":\"nosuchusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1,\"s\":\"NOSUCHUSDT\","
    "\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"" UNI_BASE "USDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,"
    "\"m\":true}",
    /* whitespace, an extra envelope key, a trade on an aggTrade stream, a trailing byte */
    "{\"stream\": \"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,"
    "\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}}",
    "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,"
    "\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true},\"x\":1}",
    "{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,"
    "\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}"
    "\n",
    /* missing fields, wrong types */
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}",
    "{\"e\":\"trade\",\"E\":\"1\",\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":"
    "true}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":1,\"q\":\"1\",\"T\":1,\"m\":1}",
};

/* feedsim's shape (tools/feedsim/kraken.c) and the recorded one, edge cases. */
#define KT(sym, price, id, ts)                                                          \
    "{\"symbol\":\"" sym "\",\"side\":\"sell\",\"price\":" price ",\"qty\":0.01919415," \
    "\"ord_type\":\"market\",\"trade_id\":" id ",\"timestamp\":\"" ts "\"}"
#define KTS "2024-05-27T12:33:10.826003Z"
static const char *const KRAKEN_V2_SHAPES[] = {
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "68466.9", "70635251",
                                                               KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"snapshot\",\"data\":[" KT(
        "BTC/USD", "68466.9", "1", KTS) "," KT("ETH/USD", "2.5E+3", "2", KTS) "," KT("BTC/USD", "1",
                                                                                     "3", KTS) "]}",
    /* the other spellings of side and order type, a decimal string, a repeated key (the last
     * counts), unknown keys with simple values (taken); with other values (declined) */
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"BTC/USD\",\"side\":\"b\","
    "\"price\":\"68466.90\",\"qty\":1e-08,\"ord_type\":\"l\",\"trade_id\":0,\"timestamp\":\"" KTS
    "\",\"qty\":2,\"w\":-0.5,\"v\":true,\"u\":\"x\"}]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"BTC/USD\",\"side\":\"b\","
    "\"price\":\"68466.90\",\"qty\":1e-08,\"ord_type\":\"l\",\"trade_id\":0,\"timestamp\":\"" KTS
    "\",\"x\":null,\"y\":[1],\"z\":{\"a\":1}}]}",
    /* a negative, fractional or huge id; zero and negative prices; an unknown symbol; escapes */
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "1", "-1", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "1", "1.0", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "1",
                                                               "9223372036854775808", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "0", "1", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "-1", "1", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("NO/SUCH", "1", "1", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC\\/USD", "1", "1", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT(UNI_BASE "USDT", "1", "1", KTS) "]}",
    /* bad times, an empty list, another type, whitespace, a key after the list, missing
     * fields */
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "1", "1",
                                                               "2024-02-30T00:00:00Z") "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[]}",
    "{\"channel\":\"trade\",\"type\":\"other\",\"data\":[" KT("BTC/USD", "1", "1", KTS) "]}",
    "{\"channel\":\"trade\", \"type\":\"update\",\"data\":[" KT("BTC/USD", "1", "1", KTS) "]}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[" KT("BTC/USD", "1", "1", KTS) "],"
                                                                                         "\"x\":1}",
    "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"BTC/USD\",\"side\":\"buy\","
    "\"price\":1,\"qty\":1,\"trade_id\":1,\"timestamp\":\"" KTS "\"}]}",
};

/* feedsim's shape (tools/feedsim/kraken.c) and the recorded one, edge cases. */
#define K1(price, vol, time, side, type) \
    "[\"" price "\",\"" vol "\",\"" time "\",\"" side "\",\"" type "\",\"\"]"
#define K1T "1617666461.465618"
#define K1A K1("58721.20000", "0.02798644", K1T, "s", "m")
#define K1B K1("1", "2", "1617666461", "b", "l")
#define K1C K1("0.5", "1e-08", "1617666461.4", "b", "l")
static const char *const KRAKEN_V1_SHAPES[] = {
    "[321,[" K1A "],\"trade\",\"XBT/USD\"]",
    "[321,[" K1A "," K1B "," K1C "],\"trade\",\"XBT/USD\"]",
    /* numbers in place of strings, the long spellings, extra elements of every simple kind
     * (taken), and of other kinds (declined); only five elements */
    "[0,[[58721.2,2.5E+3,1617666461.465618,\"buy\",\"limit\",\"\",1,true,-0.5]],\"trade\","
    "\"XBT/USD\"]",
    "[1,[[\"1\",\"1\",\"" K1T "\",\"b\",\"l\",null]],\"trade\",\"XBT/USD\"]",
    "[1,[[\"1\",\"1\",\"" K1T "\",\"b\",\"l\",[1]]],\"trade\",\"XBT/USD\"]",
    "[1,[[\"1\",\"1\",\"" K1T "\",\"b\",\"l\"]],\"trade\",\"XBT/USD\"]",
    /* four elements, zero and negative values, bad sides, types and times, a time with an
     * exponent as a string and as a number */
    "[1,[[\"1\",\"1\",\"" K1T "\",\"b\"]],\"trade\",\"XBT/USD\"]",
    "[1,[" K1A ",[\"1\",\"1\",\"" K1T "\",\"b\"]],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("0", "1", K1T, "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("1", "-1", K1T, "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("1", "1", K1T, "x", "l") "],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("1", "1", K1T, "b", "q") "],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("1", "1", "-1", "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("1", "1", "1.6e9", "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[1,[[\"1\",\"1\",1.6e9,\"b\",\"l\",\"\"]],\"trade\",\"XBT/USD\"]",
    /* the channel id: negative, fractional, huge, a string */
    "[-1,[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[1.5,[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[9223372036854775808,[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[\"1\",[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"XBT/USD\"]",
    /* the pair: unknown, escaped, the v2 name; no rows; another channel; whitespace; a fifth
     * element */
    "[1,[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"NO/SUCH\"]",
    "[1,[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"XBT\\/USD\"]",
    "[1,[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"BTC/USD\"]",
    "[1,[],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("1", "1", K1T, "b", "l") "],\"spread\",\"XBT/USD\"]",
    "[1, [" K1("1", "1", K1T, "b", "l") "],\"trade\",\"XBT/USD\"]",
    "[1,[" K1("1", "1", K1T, "b", "l") "],\"trade\",\"XBT/USD\",1]",
};

static const struct venue_case BINANCE = {
    .ops = &fh_venue_binance,
    .metadata = "binance_exchangeinfo.json",
    .opts = {{0}, {.time_us = true}, {.max_tokens = 24, .max_message_bytes = 512}},
    .corpus_prefix = "binance",
    .shapes = BINANCE_SHAPES,
    .n_shapes = sizeof(BINANCE_SHAPES) / sizeof(BINANCE_SHAPES[0]),
    /* the first five shapes on every connection kind but the tight one (a combined trade is
     * 25 tokens); the recorded aggTrade and trade lines */
    .min_fast_shapes = 12,
    .min_fast_corpus = 3000,
};

static const struct venue_case KRAKEN_V2 = {
    .ops = &fh_venue_kraken_v2,
    .metadata = "kraken_assetpairs.json",
    .opts = {{0}, {.max_trades = 2}, {.max_tokens = 24, .max_message_bytes = 512}},
    .corpus_prefix = "kraken_v2",
    .shapes = KRAKEN_V2_SHAPES,
    .n_shapes = sizeof(KRAKEN_V2_SHAPES) / sizeof(KRAKEN_V2_SHAPES[0]),
    /* the first three shapes (the three-trade one not on the max_trades = 2 connection, the
     * one-trade ones also on the tight one); the two recorded trade messages */
    .min_fast_shapes = 7,
    .min_fast_corpus = 2,
};

static const struct venue_case KRAKEN_V1 = {
    .ops = &fh_venue_kraken_v1,
    .metadata = "kraken_assetpairs.json",
    .opts = {{0}, {.max_trades = 2}, {.max_tokens = 12, .max_message_bytes = 512}},
    .corpus_prefix = "kraken_v1",
    .shapes = KRAKEN_V1_SHAPES,
    .n_shapes = sizeof(KRAKEN_V1_SHAPES) / sizeof(KRAKEN_V1_SHAPES[0]),
    /* the first four shapes and the five-element one (the three-row one not on the
     * max_trades = 2 connection, none on the tight one); the recorded trade messages */
    .min_fast_shapes = 11,
    .min_fast_corpus = 20,
    /* 18,900 lines, nearly all other channels, which the reader declines at their second
     * element; the trade shapes' mutations are in KRAKEN_V1_SHAPES (and a thread sanitizer
     * build runs this test too) */
    .mutate_every = 4999,
};

static void run_shapes(const struct venue_case *vc)
{
    case_start(vc);
    struct tally t = {0};
    for (size_t i = 0; i < vc->n_shapes; i++)
        compare_mutations(vc->shapes[i], strlen(vc->shapes[i]), &t);
    print_message("%s shapes: %zu comparisons, %zu taken by the fast reader\n", vc->ops->name,
                  t.inputs, t.fast);
    assert_true(t.fast >= vc->min_fast_shapes);
    case_stop();
}

struct corpus_walk {
    const struct venue_case *vc;
    struct tally t;
};

static void corpus_line(const char *line, size_t len, void *ctx)
{
    struct tally *t = ctx;
    if (len == 0)
        return;
    /* Every line as it is; one in mutate_every mutated too (Binance has 54,000 lines). */
    if (t->lines++ % t->mutate_every == 0)
        compare_mutations(line, len, t);
    else
        compare(line, len, t);
}

static void corpus_file(const char *path, void *ctx)
{
    struct corpus_walk *w = ctx;
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, w->vc->corpus_prefix, strlen(w->vc->corpus_prefix)) == 0)
        fh_test_each_line(path, corpus_line, &w->t);
}

static void run_corpus(const struct venue_case *vc)
{
    case_start(vc);
    struct corpus_walk w = {vc, {0}};
    w.t.mutate_every = vc->mutate_every != 0 ? vc->mutate_every : 499;
    size_t files = fh_test_each_file(fh_test_corpus_dir(), ".ndjson", corpus_file, &w);
    print_message("%s corpus: %zu comparisons, %zu taken by the fast reader\n", vc->ops->name,
                  w.t.inputs, w.t.fast);
    assert_true(files > 0);
    assert_true(w.t.fast >= vc->min_fast_corpus);
    case_stop();
}

static void test_binance_shapes(void **state)
{
    (void)state;
    run_shapes(&BINANCE);
}

static void test_binance_corpus(void **state)
{
    (void)state;
    run_corpus(&BINANCE);
}

static void test_kraken_v2_shapes(void **state)
{
    (void)state;
    run_shapes(&KRAKEN_V2);
}

static void test_kraken_v2_corpus(void **state)
{
    (void)state;
    run_corpus(&KRAKEN_V2);
}

static void test_kraken_v1_shapes(void **state)
{
    (void)state;
    run_shapes(&KRAKEN_V1);
}

static void test_kraken_v1_corpus(void **state)
{
    (void)state;
    run_corpus(&KRAKEN_V1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binance_shapes),   cmocka_unit_test(test_binance_corpus),
        cmocka_unit_test(test_kraken_v2_shapes), cmocka_unit_test(test_kraken_v2_corpus),
        cmocka_unit_test(test_kraken_v1_shapes), cmocka_unit_test(test_kraken_v1_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
