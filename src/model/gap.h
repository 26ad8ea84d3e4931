/*
 * gap.h - a gap record: a run of trade ids that did not arrive live, and what became of it
 * (issue 13). The contract with consumers of the gap topic.
 *
 * Field names and meanings match schemas/gap.avsc and the JSON-lines output exactly; the
 * schema's docs are the reference, this header only adds what C needs. A record is a plain
 * value: its strings and its ranges are borrowed views that must stay valid until it is
 * encoded. Nothing here allocates.
 *
 * Bounds. Strings and the number of ranges are bounded so that an encoded record has a fixed
 * worst-case size (codec/avro.h FH_AVRO_GAP_MAX, codec/jsonl.h FH_JSONL_GAP_MAX): a sink can
 * keep one static buffer per topic and never see FH_ENOSPACE.
 */
#ifndef FH_MODEL_GAP_H
#define FH_MODEL_GAP_H

#include "core/buf.h"
#include "model/trade.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_GAP_NAME_MAX   64 /* bytes of venue, symbol, native_symbol (symbols.h: 47) */
#define FH_GAP_REASON_MAX 96 /* bytes of a reason ("absent from history": 19) */
#define FH_GAP_RANGES_MAX 32 /* ranges per record (backfill keeps FH_BACKFILL_MAX_RANGES) */

/* Symbols in schema order; the Avro enum index is the C value. */
enum fh_gap_status {
    FH_GAP_DETECTED = 0,
    FH_GAP_FILLED = 1,
    FH_GAP_PARTIAL = 2,
    FH_GAP_UNRECOVERABLE = 3
};

/* Ids first..last (inclusive) missing for good, and why. */
struct fh_gap_range {
    int64_t first, last;
    struct fh_str reason;
};

struct fh_gap_record {
    struct fh_str venue;         /* "binance", "kraken" */
    struct fh_str symbol;        /* canonical BASE-QUOTE */
    struct fh_str native_symbol; /* as the exchange names it */
    enum fh_trade_kind kind;     /* the id sequence: TRADE ids or AGG_TRADE (aggregate) ids */
    int64_t first_missing_id;    /* inclusive */
    int64_t last_missing_id;     /* inclusive, >= first_missing_id */
    enum fh_gap_status status;
    struct fh_str reason; /* "" for DETECTED and FILLED */
    int64_t missing_count;
    int64_t filled_count;
    const struct fh_gap_range *ranges; /* n_ranges entries (NULL if 0); borrowed */
    size_t n_ranges;
    bool ranges_truncated;
    int64_t detected_time_ns; /* CLOCK_REALTIME, ns since the epoch */
    int64_t reported_time_ns; /* CLOCK_REALTIME, ns since the epoch */
    int64_t connection_id;    /* 0: no connection (a repair run) */
};

/* "DETECTED", "FILLED", "PARTIAL", "UNRECOVERABLE" (the schema's GapStatus symbols);
 * "DETECTED" for a value outside the enum. */
const char *fh_gap_status_name(enum fh_gap_status s);

/*
 * Checks what both encoders need before writing anything:
 *   FH_EINVAL  kind or status outside the schema's symbols; first_missing_id >
 *              last_missing_id; a negative count; ranges NULL with n_ranges > 0; a range with
 *              first > last or outside [first_missing_id, last_missing_id]; a string view
 *              with a NULL pointer and a non-zero length;
 *   FH_ERANGE  a string longer than its bound (FH_GAP_NAME_MAX, FH_GAP_REASON_MAX), more
 *              than FH_GAP_RANGES_MAX ranges.
 * The status's rules (reason empty for DETECTED/FILLED, ranges present for PARTIAL and
 * UNRECOVERABLE, the counts adding up) are the producer's (feed/backfill.c) and are not
 * checked: a record that breaks them is still encoded as given.
 * Returns 0 or the first error found. Pure, any thread.
 */
int fh_gap_record_check(const struct fh_gap_record *g);

#endif
