/*
 * kraken_v1_fast.c - the Kraken v1 trade message read in one pass, without tokens.
 *
 * [321,[["58721.20000","0.02798644","1617666461.465618","s","m",""],...],"trade","XBT/USD"]
 * is nearly every message of a Kraken v1 trade feed. This reader takes exactly that layout
 * (a channel id, the rows, "trade", the pair; one row or more, each of five elements or more)
 * in the lexing of fast.h (no whitespace, no escapes, no nested values in a row), and declines
 * anything else, or any row the general path would refuse, to the general path
 * (fh_json_parse, then v1_parse), which gives the verdict: it never rejects. It answers what
 * v1_parse answers, with the same readers (fh_decimal_parse with the flags fh_json_decimal
 * uses, fh_kraken_epoch_us with the flags fh__kraken_epoch_tok uses, fh_kraken_side,
 * fh_kraken_order_type, fh__fast_u63 for what fh_json_i64 reads, the symbol table). Elements
 * after the fifth (misc) are read as values and ignored, as v1_parse ignores them.
 * unit.venue_fast and fuzz_kraken_v1 compare the two paths on every input.
 */
#include "venue/fast.h"
#include "venue/kraken.h"

#include <limits.h>
#include <string.h>

enum { ROW_READ = 5 }; /* price, volume, time, side, type */

/* fh__kraken_epoch_tok: a string without exponent, a number with one allowed. */
static bool epoch(struct fh_str v, uint8_t type, int64_t *us)
{
    unsigned flags;
    if (type == FH_FV_STR)
        flags = 0;
    else if (type == FH_FV_UINT || type == FH_FV_NUM)
        flags = FH_KRAKEN_TIME_EXP;
    else
        return false;
    return fh_kraken_epoch_us(v.p, v.n, flags, us) == 0;
}

/* A row at s[*i] == '[', up to and including its ']', into t; *elems: its element count. */
static bool trade_row(const char *s, size_t n, size_t *i, struct fh_trade *t, size_t *elems)
{
    struct fh_str v[ROW_READ];
    uint8_t type[ROW_READ];
    size_t k = *i + 1, m = 0;
    for (;;) {
        struct fh_str x;
        uint8_t xt;
        if (!fh__fast_value(s, n, &k, &x, &xt))
            return false;
        if (m < ROW_READ) {
            v[m] = x;
            type[m] = xt;
        }
        m++;
        int more = fh__fast_next(s, n, &k, ']');
        if (more < 0)
            return false;
        if (more == 0)
            break;
    }
    if (m < ROW_READ || !fh__kraken_fast_positive(v[0], type[0], &t->price) ||
        !fh__kraken_fast_positive(v[1], type[1], &t->quantity) ||
        !epoch(v[2], type[2], &t->trade_time_us) || type[3] != FH_FV_STR ||
        fh_kraken_side(v[3], &t->side) != 0 || type[4] != FH_FV_STR ||
        fh_kraken_order_type(v[4], &t->order_type) != 0)
        return false;
    *i = k;
    *elems = m;
    return true;
}

int fh__kraken_v1_parse_fast(struct fh_venue_parser *p, const char *msg, size_t len,
                             struct fh_venue_msg *out)
{
    static const char tail[] = ",\"trade\","; /* between the rows and the pair */
    const size_t tn = sizeof(tail) - 1;
    if (len > INT_MAX || len < 2 || msg[0] != '[')
        return 0;
    size_t i = 1;
    struct fh_str id;
    uint8_t type;
    int64_t channel_id;
    if (!fh__fast_value(msg, len, &i, &id, &type) || type != FH_FV_UINT ||
        !fh__fast_u63(id.p, id.n, &channel_id) || msg[i] != ',' || len - i < 3 || msg[i + 1] != '[')
        return 0;
    i += 2;
    /* Tokens: the message, the id, the rows' array, "trade" and the pair; each row with its
     * elements. */
    size_t tokens = 5, n = 0;
    for (;;) {
        if (i >= len || msg[i] != '[' || n >= p->opts.max_trades)
            return 0;
        struct fh_trade *t = &p->trades[n];
        *t = (struct fh_trade){.kind = FH_KIND_TRADE, .source = FH_SOURCE_LIVE};
        size_t elems;
        if (!trade_row(msg, len, &i, t, &elems))
            return 0;
        tokens += 1 + elems;
        n++;
        int more = fh__fast_next(msg, len, &i, ']');
        if (more < 0)
            return 0;
        if (more == 0)
            break;
    }
    if (len - i < tn + 3 || memcmp(msg + i, tail, tn) != 0)
        return 0;
    struct fh_str channel = {msg + i + 2, 5}; /* "trade" */
    i += tn;
    struct fh_str pair;
    if (msg[i] != '"' || !fh__fast_string(msg, len, &i, &pair) || i + 1 != len || msg[i] != ']' ||
        tokens > p->json.cap)
        return 0;
    const struct fh_symbol *e =
        (p->symbols != NULL && pair.n > 0) ? fh_symbols_find(p->symbols, pair) : NULL;
    if (e == NULL)
        return 0;
    struct fh_str venue = fh_str_c(p->ops->venue);
    struct fh_str canonical = {e->canonical, e->canonical_len};
    uint32_t index = (uint32_t)(e - p->symbols->items);
    for (size_t k = 0; k < n; k++) {
        struct fh_trade *t = &p->trades[k];
        t->venue = venue;
        t->symbol = canonical;
        t->native_symbol = pair; /* no escapes: the native name is the text itself */
        t->symbol_index = index;
        t->has = FH_HAS_SYMBOL_INDEX;
    }
    out->event = FH_EV_TRADES;
    out->trades = p->trades;
    out->n_trades = n;
    out->channel = channel;
    out->symbol = pair;
    return 1;
}
