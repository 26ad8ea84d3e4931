/*
 * venue_same.h - whether two parses of one message gave the same result: the check that a
 * protocol's parse_fast (venue.h) answers exactly what the general path answers. Used by
 * unit.binance_fast and fuzz_binance_stream. Views are compared by their bytes; the rest of
 * a trade as memory (both paths zero a trade before filling it, padding included).
 */
#ifndef FH_TESTS_VENUE_SAME_H
#define FH_TESTS_VENUE_SAME_H

#include "venue/venue.h"

#include <stdbool.h>
#include <string.h>

static inline bool venue_str_same(struct fh_str a, struct fh_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Trades field by field: views by their bytes (a decoded one lies in each parser's own
 * scratch), the rest as memory. */
static inline bool venue_trade_same(const struct fh_trade *a, const struct fh_trade *b)
{
    if (!venue_str_same(a->venue, b->venue) || !venue_str_same(a->symbol, b->symbol) ||
        !venue_str_same(a->native_symbol, b->native_symbol))
        return false;
    struct fh_trade x, y;
    memcpy(&x, a, sizeof(x)); /* memcpy: padding as it is */
    memcpy(&y, b, sizeof(y));
    const struct fh_str none = {NULL, 0};
    memcpy(&x.venue, &none, sizeof(none));
    memcpy(&y.venue, &none, sizeof(none));
    memcpy(&x.symbol, &none, sizeof(none));
    memcpy(&y.symbol, &none, sizeof(none));
    memcpy(&x.native_symbol, &none, sizeof(none));
    memcpy(&y.native_symbol, &none, sizeof(none));
    return memcmp(&x, &y, sizeof(x)) == 0;
}

static inline bool venue_msg_same(int rc_a, const struct fh_venue_msg *a, int rc_b,
                                  const struct fh_venue_msg *b)
{
    if (rc_a != rc_b || a->event != b->event || a->reject != b->reject ||
        a->n_trades != b->n_trades || a->req_id != b->req_id || a->has_req_id != b->has_req_id ||
        !venue_str_same(a->symbol, b->symbol) || !venue_str_same(a->channel, b->channel) ||
        !venue_str_same(a->text, b->text) || a->status != b->status ||
        a->server_connection_id != b->server_connection_id || a->snapshot != b->snapshot)
        return false;
    for (size_t i = 0; i < a->n_trades; i++) {
        if (!venue_trade_same(&a->trades[i], &b->trades[i]))
            return false;
    }
    return true;
}

#endif
