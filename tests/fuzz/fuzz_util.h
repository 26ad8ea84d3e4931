/*
 * fuzz_util.h - helpers shared by the libFuzzer targets in this directory.
 *
 * Each target loads the symbol metadata its protocol needs from tests/data (FH_FUZZ_DATA_DIR,
 * set by tests/fuzz/CMakeLists.txt) once, in LLVMFuzzerInitialize, then checks the invariants
 * below on every result. A violated invariant calls FH_FUZZ_CHECK, which aborts: libFuzzer
 * saves the input as a crash artifact.
 */
#ifndef FH_FUZZ_UTIL_H
#define FH_FUZZ_UTIL_H

#include "core/decimal.h"
#include "venue/venue.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FH_FUZZ_CHECK(cond)                                                              \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* Fills t (initialised by the caller) from tests/data/<name> with ops->parse_metadata; aborts
 * on failure, since a target without symbols would only exercise the rejection paths. */
static inline void fh_fuzz_load_metadata(const struct fh_venue_ops *ops, const char *name,
                                         struct fh_symbols *t)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", FH_FUZZ_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *body = malloc((size_t)n + 1);
    if (body == NULL || fread(body, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    char err[256];
    if (ops->parse_metadata(body, (size_t)n, t, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        abort();
    }
    free(body);
}

/*
 * Prefix lengths worth parsing again for an incremental parser's consistency checks: every
 * length when the input is short, else the lengths around each line end (CR, LF) and a spread
 * of others, at most cap of them in all. Returns how many were written to out.
 */
static inline size_t fh_fuzz_prefix_points(const uint8_t *d, size_t n, size_t *out, size_t cap)
{
    size_t k = 0;
    if (n < cap) {
        for (size_t i = 0; i <= n && k < cap; i++)
            out[k++] = i;
        return k;
    }
    /* Line ends spread over the whole input (the last ones included), then the rest. */
    size_t ends = 0;
    for (size_t i = 0; i < n; i++)
        ends += d[i] == '\r' || d[i] == '\n';
    size_t step = ends / (cap / 8) + 1, seen = 0;
    for (size_t i = 0; i < n && k + 2 <= cap / 2; i++) {
        if (d[i] != '\r' && d[i] != '\n')
            continue;
        if (seen++ % step == 0 || ends - seen < 8) {
            out[k++] = i;
            out[k++] = i + 1;
        }
    }
    size_t spread = cap - k;
    for (size_t j = 0; j < spread; j++)
        out[k++] = n * j / spread;
    return k;
}

/* True if view s lies inside [base, base + n). */
static inline int fh_fuzz_within(struct fh_str s, const void *base, size_t n)
{
    const char *b = base;
    return s.n == 0 || (s.p >= b && s.n <= n && s.p - b <= (ptrdiff_t)(n - s.n));
}

/* A decimal that formats and parses back to itself. */
static inline void fh_fuzz_check_decimal(fh_decimal d)
{
    char buf[FH_DECIMAL_TEXT_MAX + 1];
    size_t n = fh_decimal_format(d, buf);
    FH_FUZZ_CHECK(n > 0 && n <= FH_DECIMAL_TEXT_MAX);
    fh_decimal back;
    FH_FUZZ_CHECK(fh_decimal_parse(buf, n, FH_DEC_ALLOW_NEG, &back) == 0);
    FH_FUZZ_CHECK(fh_decimal_eq(back, d));
}

/* Invariants of every trade a parser returns: positive exact price and quantity, a canonical
 * symbol from the table that maps the native symbol, consistent ids and enums. */
static inline void fh_fuzz_check_trade(const struct fh_venue_parser *p, const struct fh_trade *t)
{
    FH_FUZZ_CHECK(fh_str_eq_c(t->venue, p->ops->venue));
    FH_FUZZ_CHECK(t->price.units > 0 && t->quantity.units > 0);
    fh_fuzz_check_decimal(t->price);
    fh_fuzz_check_decimal(t->quantity);
    FH_FUZZ_CHECK(p->symbols != NULL);
    const struct fh_symbol *s = fh_symbols_find(p->symbols, t->native_symbol);
    FH_FUZZ_CHECK(s != NULL);
    FH_FUZZ_CHECK(t->symbol.p == s->canonical && t->symbol.n == s->canonical_len);
    /* The table index a parser may pass on to the engine names the same entry. */
    if (t->has & FH_HAS_SYMBOL_INDEX)
        FH_FUZZ_CHECK(t->symbol_index < p->symbols->n && &p->symbols->items[t->symbol_index] == s);
    FH_FUZZ_CHECK(t->kind == FH_KIND_TRADE || t->kind == FH_KIND_AGG_TRADE);
    FH_FUZZ_CHECK(t->side <= FH_SIDE_UNKNOWN && t->order_type <= FH_ORDER_UNKNOWN);
    FH_FUZZ_CHECK(t->trade_time_us >= 0);
    if (t->has & FH_HAS_EVENT_TIME)
        FH_FUZZ_CHECK(t->event_time_us >= 0);
    if (t->kind == FH_KIND_AGG_TRADE && (t->has & FH_HAS_FIRST_TRADE_ID) &&
        (t->has & FH_HAS_LAST_TRADE_ID))
        FH_FUZZ_CHECK(t->first_trade_id <= t->last_trade_id);
    FH_FUZZ_CHECK(t->receive_time_ns == 0 && t->connection_id == 0 && t->sequence == 0);
}

/* Invariants of fh_venue_parse's result for a message of size bytes at data. */
static inline void fh_fuzz_check_msg(const struct fh_venue_parser *p, int rc,
                                     const struct fh_venue_msg *m, const uint8_t *data, size_t size)
{
    FH_FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FH_FUZZ_CHECK(m->reject > FH_REJ_NONE && m->reject < FH_REJ_COUNT);
        FH_FUZZ_CHECK(m->n_trades == 0 && m->event == FH_EV_NONE);
        return;
    }
    FH_FUZZ_CHECK(m->reject == FH_REJ_NONE);
    FH_FUZZ_CHECK(m->event > FH_EV_NONE && m->event <= FH_EV_IGNORED);
    FH_FUZZ_CHECK(fh_fuzz_within(m->channel, data, size));
    FH_FUZZ_CHECK(fh_fuzz_within(m->text, data, size));
    FH_FUZZ_CHECK((m->event == FH_EV_TRADES) == (m->n_trades > 0));
    FH_FUZZ_CHECK(m->n_trades <= p->opts.max_trades);
    for (size_t i = 0; i < m->n_trades; i++) {
        const struct fh_trade *t = &m->trades[i];
        fh_fuzz_check_trade(p, t);
        FH_FUZZ_CHECK(fh_fuzz_within(t->native_symbol, data, size) ||
                      fh_fuzz_within(t->native_symbol, p->scratch, sizeof(p->scratch)));
    }
}

#endif
