/*
 * trade.h - the normalized trade: the contract with every consumer.
 *
 * Field names and meanings match schemas/trade.avsc and the JSON-lines output exactly. A
 * trade is a plain value: string fields are borrowed views (struct fh_str) that stay valid
 * only as long as the message or symbol table they point into, so a sink must encode the
 * trade before the next message is parsed. Nothing here allocates.
 */
#ifndef FH_MODEL_TRADE_H
#define FH_MODEL_TRADE_H

#include "core/buf.h"
#include "core/decimal.h"

#include <stdint.h>

/* Symbols in schema order; the Avro enum index is the C value. */
enum fh_trade_kind { FH_KIND_TRADE = 0, FH_KIND_AGG_TRADE = 1 };
enum fh_side { FH_SIDE_BUY = 0, FH_SIDE_SELL = 1, FH_SIDE_UNKNOWN = 2 };
enum fh_order_type { FH_ORDER_MARKET = 0, FH_ORDER_LIMIT = 1, FH_ORDER_UNKNOWN = 2 };
enum fh_source {
    FH_SOURCE_LIVE = 0,
    FH_SOURCE_SNAPSHOT = 1,
    FH_SOURCE_BACKFILL = 2,
    FH_SOURCE_REPLAY = 3
};

/* Bits of fh_trade.has: which nullable fields are present. */
enum fh_trade_has {
    FH_HAS_TRADE_ID = 1 << 0,
    FH_HAS_FIRST_TRADE_ID = 1 << 1,
    FH_HAS_LAST_TRADE_ID = 1 << 2,
    FH_HAS_EVENT_TIME = 1 << 3,
    /* Not part of the contract: symbol_index is set (the parser found the symbol there). */
    FH_HAS_SYMBOL_INDEX = 1 << 4
};

struct fh_trade {
    struct fh_str venue;         /* "binance", "kraken" */
    struct fh_str symbol;        /* canonical BASE-QUOTE, e.g. "BTC-USDT" */
    struct fh_str native_symbol; /* as the exchange sent it, e.g. "BTCUSDT", "XBT/USD" */
    int64_t trade_id;            /* valid if has & FH_HAS_TRADE_ID */
    int64_t first_trade_id;      /* aggregate trades: first covered id (FH_HAS_FIRST_TRADE_ID) */
    int64_t last_trade_id;       /* aggregate trades: last covered id (FH_HAS_LAST_TRADE_ID) */
    enum fh_trade_kind kind;
    fh_decimal price;
    fh_decimal quantity;
    enum fh_side side; /* taker side */
    enum fh_order_type order_type;
    int64_t trade_time_us;   /* exchange trade time, microseconds since the epoch */
    int64_t event_time_us;   /* exchange event time (FH_HAS_EVENT_TIME) */
    int64_t receive_time_ns; /* local CLOCK_REALTIME when the frame was read */
    enum fh_source source;
    int64_t connection_id; /* which connection delivered it (lineage) */
    int64_t sequence;      /* per-connection trade counter (lineage) */
    unsigned has;          /* enum fh_trade_has bits */
    /* Not part of the contract: CLOCK_MONOTONIC receive stamp for latency metrics only. */
    int64_t receive_mono_ns;
    /* Not part of the contract: the symbol's index in the parser's metadata table, valid
     * with FH_HAS_SYMBOL_INDEX, so the engine does not look the symbol up again. */
    uint32_t symbol_index;
};

/* Upper-case enum symbol names exactly as in schemas/trade.avsc ("AGG_TRADE", "SELL"). */
const char *fh_trade_kind_name(enum fh_trade_kind k);
const char *fh_side_name(enum fh_side s);
const char *fh_order_type_name(enum fh_order_type t);
const char *fh_source_name(enum fh_source s);

#endif
