/*
 * bench_venue.c - ns per message through fh_venue_parse for each protocol, over the recorded
 * corpus (../shared/corpus, or $FH_CORPUS_DIR), with symbol metadata from tests/data.
 *
 * Each row parses every message of a set in a loop: the full path the engine runs per
 * message (size and UTF-8 checks, strict tokenizing, dispatch, normalization into trades with
 * exact decimals and canonical symbols). Baseline in the same run: bare jsmn tokenizing of
 * the same messages (no validation, no normalization), the floor any jsmn-based parser pays;
 * and our tokenizer alone (fh_json_parse), which the Binance trade reader without tokens
 * (binance_fast.c) skips: a row can cost less than its tokenizing.
 *
 * Usage: bench_venue [CORPUS_DIR [SOURCE_DIR]]
 */
#include "bench.h"

#include "venue/venue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A second, private copy of jsmn for the baseline (non-strict, as lax as jsmn gets). */
#undef JSMN_H
#undef JSMN_HEADER
#undef JSMN_STRICT
#undef JSMN_PARENT_LINKS
#define JSMN_STATIC
#define jsmn_init            base_jsmn_init
#define jsmn_parse           base_jsmn_parse
#define jsmn_alloc_token     base_jsmn_alloc_token
#define jsmn_fill_token      base_jsmn_fill_token
#define jsmn_parse_primitive base_jsmn_parse_primitive
#define jsmn_parse_string    base_jsmn_parse_string
#define jsmntype_t           base_jsmntype_t
#define jsmntok_t            base_jsmntok_t
#define jsmn_parser          base_jsmn_parser
#define jsmnerr              base_jsmnerr
#define JSMN_UNDEFINED       BASE_JSMN_UNDEFINED
#define JSMN_OBJECT          BASE_JSMN_OBJECT
#define JSMN_ARRAY           BASE_JSMN_ARRAY
#define JSMN_STRING          BASE_JSMN_STRING
#define JSMN_PRIMITIVE       BASE_JSMN_PRIMITIVE
#define JSMN_ERROR_NOMEM     BASE_JSMN_ERROR_NOMEM
#define JSMN_ERROR_INVAL     BASE_JSMN_ERROR_INVAL
#define JSMN_ERROR_PART      BASE_JSMN_ERROR_PART
#include <jsmn.h>

struct msgset {
    char **msg;
    size_t *len;
    size_t n;
};

struct ctx {
    struct fh_venue_parser *p;
    struct msgset *set;
    size_t trades;
};

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "bench_venue: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Loads the lines of a file; each message gets its own exact-size allocation. */
static void load_lines(struct msgset *s, const char *path)
{
    size_t n;
    char *buf = slurp(path, &n);
    for (char *p = buf; p < buf + n;) {
        char *nl = memchr(p, '\n', (size_t)(buf + n - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(buf + n - p);
        if (l > 0) {
            s->msg = realloc(s->msg, (s->n + 1) * sizeof(*s->msg));
            s->len = realloc(s->len, (s->n + 1) * sizeof(*s->len));
            s->msg[s->n] = malloc(l);
            memcpy(s->msg[s->n], p, l);
            s->len[s->n++] = l;
        }
        p += l + 1;
    }
    free(buf);
}

static uint64_t run_parse(void *arg, uint64_t iters)
{
    struct ctx *c = arg;
    struct fh_venue_msg out;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        size_t k = i % c->set->n;
        if (fh_venue_parse(c->p, c->set->msg[k], c->set->len[k], &out) == 0)
            acc += out.n_trades;
        else
            acc += 1000000;
    }
    return acc;
}

static base_jsmntok_t base_tokens[1 << 16];

static uint64_t run_tokenize(void *arg, uint64_t iters)
{
    struct ctx *c = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        size_t k = i % c->set->n;
        acc += (uint64_t)fh_json_parse(&c->p->json, c->set->msg[k], c->set->len[k]) + c->p->json.n;
    }
    return acc;
}

static uint64_t run_jsmn(void *arg, uint64_t iters)
{
    struct ctx *c = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        size_t k = i % c->set->n;
        base_jsmn_parser jp;
        base_jsmn_init(&jp);
        acc += (uint64_t)base_jsmn_parse(&jp, c->set->msg[k], c->set->len[k], base_tokens,
                                         sizeof(base_tokens) / sizeof(base_tokens[0]));
    }
    return acc;
}

static void bench_set(const char *name, const struct fh_venue_ops *ops,
                      const struct fh_symbols *syms, struct msgset *set)
{
    struct fh_venue_parser p;
    if (fh_venue_parser_init(&p, ops, syms, NULL) != 0)
        exit(1);
    struct ctx c = {&p, set, 0};
    /* Every message must parse: a benchmark of rejections would measure the wrong path. */
    struct fh_venue_msg out;
    size_t trades = 0;
    for (size_t k = 0; k < set->n; k++) {
        if (fh_venue_parse(&p, set->msg[k], set->len[k], &out) != 0) {
            fprintf(stderr, "bench_venue: %s message %zu rejected (%s)\n", name, k,
                    fh_reject_name(out.reject));
            exit(1);
        }
        trades += out.n_trades;
    }
    uint64_t iters = set->n < 20000 ? 200000 : set->n * 10;
    struct fh_bench_result base = fh_bench_run(run_jsmn, &c, iters, 9);
    struct fh_bench_result r = fh_bench_run(run_parse, &c, iters, 9);
    struct fh_bench_result tok = fh_bench_run(run_tokenize, &c, iters, 9);
    char label[96];
    snprintf(label, sizeof(label), "%s (%zu msgs, %.2f trades/msg)", name, set->n,
             (double)trades / (double)set->n);
    printf("%-44s min %9.1f ns/msg  median %9.1f ns/msg   (bare jsmn: median %.1f ns, "
           "%.2fx; our tokenizer alone %.1f ns)\n",
           label, r.min_ns, r.median_ns, base.median_ns, r.median_ns / base.median_ns,
           tok.median_ns);
    fh_venue_parser_release(&p);
}

static void load_meta(const struct fh_venue_ops *ops, const char *path, struct fh_symbols *t)
{
    size_t n;
    char *doc = slurp(path, &n);
    char err[256];
    if (fh_symbols_init(t, 8192) != 0 || ops->parse_metadata(doc, n, t, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_venue: metadata %s: %s\n", path, err);
        exit(1);
    }
    free(doc);
}

int main(int argc, char **argv)
{
    const char *corpus = argc > 1 ? argv[1] : getenv("FH_CORPUS_DIR");
    const char *src = argc > 2 ? argv[2] : getenv("FH_SOURCE_DIR");
    if (corpus == NULL)
        corpus = "../shared/corpus";
    if (src == NULL)
        src = ".";
    char path[4096];
    struct fh_symbols bsym, k1sym, k2sym;
    snprintf(path, sizeof(path), "%s/tests/data/binance_exchangeinfo.json", src);
    load_meta(&fh_venue_binance, path, &bsym);
    snprintf(path, sizeof(path), "%s/tests/data/kraken_assetpairs.json", src);
    load_meta(&fh_venue_kraken_v1, path, &k1sym);
    load_meta(&fh_venue_kraken_v2, path, &k2sym);

    struct msgset b_agg = {0}, b_other = {0}, k1_trade = {0}, k1_other = {0}, k2_trade = {0};
    snprintf(path, sizeof(path), "%s/binance_combined_aggtrade.ndjson", corpus);
    load_lines(&b_agg, path);
    snprintf(path, sizeof(path), "%s/binance_other.ndjson", corpus);
    load_lines(&b_other, path);
    snprintf(path, sizeof(path), "%s/kraken_v1_trade.ndjson", corpus);
    load_lines(&k1_trade, path);
    snprintf(path, sizeof(path), "%s/kraken_v1_other.ndjson", corpus);
    load_lines(&k1_other, path);
    snprintf(path, sizeof(path), "%s/kraken_v2_trade.reflowed.ndjson", corpus);
    load_lines(&k2_trade, path);

    printf("venue parsers over the corpus (%s); 9 runs each\n", corpus);
    bench_set("binance aggTrade", &fh_venue_binance, &bsym, &b_agg);
    bench_set("binance other streams (ignored)", &fh_venue_binance, &bsym, &b_other);
    bench_set("kraken-v1 trade", &fh_venue_kraken_v1, &k1sym, &k1_trade);
    bench_set("kraken-v1 other channels (ignored)", &fh_venue_kraken_v1, &k1sym, &k1_other);
    bench_set("kraken-v2 trade", &fh_venue_kraken_v2, &k2sym, &k2_trade);
    return 0;
}
