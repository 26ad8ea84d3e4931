/*
 * test_binance_fast.c - the Binance trade reader without tokens (binance_fast.c) against the
 * general path (tokenizer + binance_parse, parser option general_only): on every message the
 * fast reader accepts, the two must give the same trade byte for byte, and fh_venue_parse
 * must answer the same with and without it on every input. Inputs: the recorded corpus,
 * messages in feedsim's shapes and their edge cases, and mutations of both (every byte
 * replaced by bytes that matter to JSON, deleted, or the message cut there), on millisecond
 * and microsecond connections, with the default and with tight limits.
 */
#include "testutil.h"

#include "../tools/venue_same.h"
#include "core/err.h"
#include "venue/binance_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNI_BASE "\xe5\xb8\x81\xe5\xae\x89"

static struct fh_symbols SYMS;
enum { CONNS = 4 };
/* Per connection kind: with the fast reader (F) and the general path alone (G). */
static struct fh_venue_parser F[CONNS], G[CONNS];
static const struct fh_venue_parser_opts OPTS[CONNS] = {
    {0},
    {.time_us = true},
    {.max_tokens = 24, .max_message_bytes = 512}, /* at a trade's token count */
    {.max_trades = 0},                            /* the default (4096) */
};

struct tally {
    size_t inputs, fast; /* inputs compared; of them, taken by the fast reader */
    size_t lines;        /* corpus lines */
};

static int group_setup(void **state)
{
    (void)state;
    if (fh_symbols_init(&SYMS, 4096) != 0)
        return -1;
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/data/binance_exchangeinfo.json",
             getenv("FH_SOURCE_DIR") ? getenv("FH_SOURCE_DIR") : ".");
    size_t len;
    char *body = fh_test_read_file(path, &len);
    char err[256];
    int rc = fh_venue_binance.parse_metadata(body, len, &SYMS, err, sizeof(err));
    free(body);
    if (rc != 0 || fh_symbols_add(&SYMS, FH_STR_LIT(UNI_BASE "USDT"), FH_STR_LIT(UNI_BASE),
                                  FH_STR_LIT("USDT"), NULL) != 0)
        return -1;
    for (int c = 0; c < CONNS; c++) {
        struct fh_venue_parser_opts o = OPTS[c];
        if (fh_venue_parser_init(&F[c], &fh_venue_binance, &SYMS, &o) != 0)
            return -1;
        o.general_only = true;
        if (fh_venue_parser_init(&G[c], &fh_venue_binance, &SYMS, &o) != 0)
            return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int c = 0; c < CONNS; c++) {
        fh_venue_parser_release(&F[c]);
        fh_venue_parser_release(&G[c]);
    }
    fh_symbols_release(&SYMS);
    return 0;
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
        if (fh__binance_parse_fast(&F[c], msg, len, &direct) > 0) {
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
static const char *const SHAPES[] = {
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

static void test_shapes(void **state)
{
    (void)state;
    struct tally t = {0};
    for (size_t i = 0; i < sizeof(SHAPES) / sizeof(SHAPES[0]); i++)
        compare_mutations(SHAPES[i], strlen(SHAPES[i]), &t);
    /* The reader must be exercised, not only declined: the first five shapes are taken on
     * every connection kind but the tight one (a combined trade is 25 tokens). */
    assert_true(t.fast >= 12);
    print_message("shapes: %zu comparisons, %zu taken by the fast reader\n", t.inputs, t.fast);
}

static void corpus_line(const char *line, size_t len, void *ctx)
{
    struct tally *t = ctx;
    if (len == 0)
        return;
    /* Every line as it is; every 499th line mutated too (the corpus has 54,000). */
    if (t->lines++ % 499 == 0)
        compare_mutations(line, len, t);
    else
        compare(line, len, t);
}

static void corpus_file(const char *path, void *ctx)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, "binance", 7) == 0)
        fh_test_each_line(path, corpus_line, ctx);
}

static void test_corpus(void **state)
{
    (void)state;
    struct tally t = {0};
    size_t files = fh_test_each_file(fh_test_corpus_dir(), ".ndjson", corpus_file, &t);
    assert_true(files > 0);
    /* The recorded aggTrade and trade lines are in the shape the reader takes. */
    assert_true(t.fast >= 3000);
    print_message("corpus: %zu files, %zu comparisons, %zu taken by the fast reader\n", files,
                  t.inputs, t.fast);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
