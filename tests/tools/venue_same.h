/*
 * venue_same.h - whether two parses of one message gave the same result: the check that a
 * protocol's parse_fast (venue.h) answers exactly what the general path answers. Used by
 * unit.venue_fast, fuzz_binance_stream and fuzz_kraken_v2. Views are compared by their bytes,
 * trades field by field.
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

/* Trades field by field (views by their bytes: a decoded one lies in each parser's own
 * scratch). A new field in struct fh_trade must be compared here (x86-64 size). */
#if defined(__x86_64__)
_Static_assert(sizeof(struct fh_trade) == 192, "venue_trade_same: compare the new field");
#endif
static inline bool venue_trade_same(const struct fh_trade *a, const struct fh_trade *b)
{
    return venue_str_same(a->venue, b->venue) && venue_str_same(a->symbol, b->symbol) &&
           venue_str_same(a->native_symbol, b->native_symbol) && a->trade_id == b->trade_id &&
           a->first_trade_id == b->first_trade_id && a->last_trade_id == b->last_trade_id &&
           a->kind == b->kind && a->price.units == b->price.units &&
           a->quantity.units == b->quantity.units && a->side == b->side &&
           a->order_type == b->order_type && a->trade_time_us == b->trade_time_us &&
           a->event_time_us == b->event_time_us && a->receive_time_ns == b->receive_time_ns &&
           a->source == b->source && a->connection_id == b->connection_id &&
           a->sequence == b->sequence && a->has == b->has &&
           a->receive_mono_ns == b->receive_mono_ns && a->symbol_index == b->symbol_index;
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
