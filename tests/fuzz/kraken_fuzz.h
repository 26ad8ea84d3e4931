/*
 * kraken_fuzz.h - what the Kraken libFuzzer targets share on top of fuzz_util.h.
 *
 * fh_fuzz_check_msg (fuzz_util.h) assumes two things the Kraken parsers do differently, by
 * design (see src/venue/kraken_common.c): an empty trade array is an FH_EV_TRADES event
 * with zero trades, and a native symbol that arrived with JSON escapes is a view of the
 * symbol table's copy (the decoded bytes), not of the message. This check is the same
 * otherwise.
 */
#ifndef FH_KRAKEN_FUZZ_H
#define FH_KRAKEN_FUZZ_H

#include "fuzz_util.h"

#include "venue/kraken.h"

/* s is a view of the message, of the parser's scratch, or of a table entry's native name. */
static inline int fh_kraken_fuzz_view_ok(const struct fh_venue_parser *p, struct fh_str s,
                                         const uint8_t *data, size_t size)
{
    if (fh_fuzz_within(s, data, size) || fh_fuzz_within(s, p->scratch, sizeof(p->scratch)))
        return 1;
    const struct fh_symbol *e = p->symbols ? fh_symbols_find(p->symbols, s) : NULL;
    return e != NULL && s.p == e->native && s.n == e->native_len;
}

static inline void fh_kraken_fuzz_check_msg(const struct fh_venue_parser *p, int rc,
                                            const struct fh_venue_msg *m, const uint8_t *data,
                                            size_t size)
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
    FH_FUZZ_CHECK(fh_kraken_fuzz_view_ok(p, m->symbol, data, size));
    FH_FUZZ_CHECK(m->n_trades == 0 || m->event == FH_EV_TRADES);
    FH_FUZZ_CHECK(m->n_trades <= p->opts.max_trades);
    FH_FUZZ_CHECK(!m->snapshot || m->event == FH_EV_TRADES);
    for (size_t i = 0; i < m->n_trades; i++) {
        const struct fh_trade *t = &m->trades[i];
        fh_fuzz_check_trade(p, t);
        FH_FUZZ_CHECK(fh_kraken_fuzz_view_ok(p, t->native_symbol, data, size));
        FH_FUZZ_CHECK(t->kind == FH_KIND_TRADE);
        FH_FUZZ_CHECK(t->side != FH_SIDE_UNKNOWN && t->order_type != FH_ORDER_UNKNOWN);
        FH_FUZZ_CHECK(t->trade_time_us <= FH_KRAKEN_MAX_TIME_US);
        FH_FUZZ_CHECK(!(t->has & ~(unsigned)(FH_HAS_TRADE_ID | FH_HAS_SYMBOL_INDEX)));
        if (t->has & FH_HAS_TRADE_ID)
            FH_FUZZ_CHECK(t->trade_id >= 0);
    }
}

/* Invariants of a symbol table a Kraken metadata parser filled. */
static inline void fh_kraken_fuzz_check_table(const struct fh_symbols *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct fh_symbol *s = &t->items[i];
        FH_FUZZ_CHECK(s->native_len > 0 && s->native_len < FH_SYMBOL_MAX);
        FH_FUZZ_CHECK(memchr(s->status, '\0', sizeof(s->status)) != NULL);
        char want[FH_SYMBOL_MAX];
        int n = snprintf(want, sizeof(want), "%s-%s", s->base, s->quote);
        FH_FUZZ_CHECK(n == s->canonical_len && memcmp(want, s->canonical, (size_t)n) == 0);
        FH_FUZZ_CHECK(s->price_decimals >= -1 && s->price_decimals <= FH_DECIMAL_SCALE);
        FH_FUZZ_CHECK(s->qty_decimals >= -1 && s->qty_decimals <= FH_DECIMAL_SCALE);
        struct fh_str native = {s->native, s->native_len};
        FH_FUZZ_CHECK(fh_symbols_find(t, native) == s);
    }
}

#endif
