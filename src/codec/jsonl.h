/*
 * jsonl.h - JSON-lines rendering of struct fh_trade (stdout and file sinks).
 *
 * One JSON object per trade, newline-terminated, with the field names of schemas/trade.avsc
 * in schema order:
 *   - price, quantity: strings in canonical decimal form ("16552.12"), never JSON numbers,
 *     so no consumer rounds them through double;
 *   - trade_time, event_time: integer microseconds; receive_time_ns: integer nanoseconds;
 *   - trade_id, first_trade_id, last_trade_id, event_time: null when absent;
 *   - kind, side, order_type, source: the schema's symbol strings ("AGG_TRADE", "SELL").
 * Strings are escaped for JSON: '"' and '\' with a backslash, control characters
 * (U+0000..U+001F) as \u00XX; valid UTF-8 passes through unchanged. A byte that is not part
 * of valid UTF-8 (the parsers reject such input, so this is defence only) is written as
 * \ufffd, so the line is always valid JSON.
 *
 * Writes into caller-owned memory, never allocates; pure, any thread (one buffer per thread).
 */
#ifndef FH_CODEC_JSONL_H
#define FH_CODEC_JSONL_H

#include "core/buf.h"
#include "model/trade.h"

#include <stddef.h>

/* An upper bound of the line length of t, newline included. */
size_t fh_jsonl_trade_max_size(const struct fh_trade *t);

/*
 * Appends the JSON line of t to b. The line is written completely or not at all.
 * Returns 0, FH_ENOSPACE (nothing written, b->overflow set, also when it was already set),
 * FH_EINVAL for an enum value outside the schema's symbols.
 */
int fh_jsonl_encode_trade(struct fh_fbuf *b, const struct fh_trade *t);

#endif
