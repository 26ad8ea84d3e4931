/*
 * gap_jsonl.c - the JSON line of a gap record (see codec/gap.h).
 *
 * Rare records: the exact length is computed before writing, as in gap_avro.c. Strings are
 * escaped by the trade lines' code (jsonl_int.h), integers formatted by core/buf.h.
 */
#include "codec/gap.h"

#include "codec/jsonl_int.h"
#include "core/err.h"

#include <string.h>

/* The constant text between the values, in schema order. */
#define K_VENUE   "{\"venue\":"
#define K_SYMBOL  ",\"symbol\":"
#define K_NATIVE  ",\"native_symbol\":"
#define K_KIND    ",\"kind\":\""
#define K_FIRST   "\",\"first_missing_id\":"
#define K_LAST    ",\"last_missing_id\":"
#define K_STATUS  ",\"status\":\""
#define K_REASON  "\",\"reason\":"
#define K_MISSING ",\"missing_count\":"
#define K_FILLED  ",\"filled_count\":"
#define K_RANGES  ",\"missing_ranges\":["
#define K_TRUNC   "],\"ranges_truncated\":"
#define K_DTIME   ",\"detected_time_ns\":"
#define K_RTIME   ",\"reported_time_ns\":"
#define K_CONN    ",\"connection_id\":"
#define K_END     "}\n"
/* One range; a comma goes before every range but the first. */
#define R_FIRST  "{\"first\":"
#define R_LAST   ",\"last\":"
#define R_REASON ",\"reason\":"
#define R_END    "}"

#define KEYS_LEN                                                                     \
    (LIT_LEN(K_VENUE) + LIT_LEN(K_SYMBOL) + LIT_LEN(K_NATIVE) + LIT_LEN(K_KIND) +    \
     LIT_LEN(K_FIRST) + LIT_LEN(K_LAST) + LIT_LEN(K_STATUS) + LIT_LEN(K_REASON) +    \
     LIT_LEN(K_MISSING) + LIT_LEN(K_FILLED) + LIT_LEN(K_RANGES) + LIT_LEN(K_TRUNC) + \
     LIT_LEN(K_DTIME) + LIT_LEN(K_RTIME) + LIT_LEN(K_CONN) + LIT_LEN(K_END))
#define RANGE_KEYS_LEN (1 + LIT_LEN(R_FIRST) + LIT_LEN(R_LAST) + LIT_LEN(R_REASON) + LIT_LEN(R_END))
#define STR_MAX(n)     (2 + 6 * (n))
#define WORST_CASE                                                                              \
    (KEYS_LEN + 3 * STR_MAX(FH_GAP_NAME_MAX) + 9 /* "AGG_TRADE" */ + 13 /* "UNRECOVERABLE" */ + \
     STR_MAX(FH_GAP_REASON_MAX) + 7 * INT_MAX_LEN + 5 /* "false" */ +                           \
     FH_GAP_RANGES_MAX * (RANGE_KEYS_LEN + 2 * INT_MAX_LEN + STR_MAX(FH_GAP_REASON_MAX)))
_Static_assert(WORST_CASE <= FH_JSONL_GAP_MAX, "FH_JSONL_GAP_MAX too small");

/* Indexed by the C enum values, which are the schema's symbol indexes (see gap_avro.c). */
static const struct fh__jsonl_sym kind_syms[] = {SYM("TRADE"), SYM("AGG_TRADE")};
static const struct fh__jsonl_sym status_syms[] = {SYM("DETECTED"), SYM("FILLED"), SYM("PARTIAL"),
                                                   SYM("UNRECOVERABLE")};

static inline uint8_t *put_i64(uint8_t *p, int64_t v)
{
    return p + fh_fmt_i64((char *)p, v);
}

static inline size_t i64_len(int64_t v)
{
    char tmp[INT_MAX_LEN];
    return fh_fmt_i64(tmp, v);
}

size_t fh_jsonl_gap_size(const struct fh_gap_record *g)
{
    size_t n = KEYS_LEN;
    n += fh__jsonl_str_len(g->venue) + fh__jsonl_str_len(g->symbol) +
         fh__jsonl_str_len(g->native_symbol) + fh__jsonl_str_len(g->reason);
    n += kind_syms[g->kind].n + status_syms[g->status].n;
    n += i64_len(g->first_missing_id) + i64_len(g->last_missing_id);
    n += i64_len(g->missing_count) + i64_len(g->filled_count);
    for (size_t i = 0; i < g->n_ranges; i++) {
        const struct fh_gap_range *r = &g->ranges[i];
        n += RANGE_KEYS_LEN - (i == 0 ? 1 : 0);
        n += i64_len(r->first) + i64_len(r->last) + fh__jsonl_str_len(r->reason);
    }
    n += g->ranges_truncated ? 4 : 5;
    n += i64_len(g->detected_time_ns) + i64_len(g->reported_time_ns) + i64_len(g->connection_id);
    return n;
}

static uint8_t *encode_line(uint8_t *p, const struct fh_gap_record *g)
{
    p = PUT_LIT(p, K_VENUE);
    p = fh__jsonl_put_str(p, g->venue);
    p = PUT_LIT(p, K_SYMBOL);
    p = fh__jsonl_put_str(p, g->symbol);
    p = PUT_LIT(p, K_NATIVE);
    p = fh__jsonl_put_str(p, g->native_symbol);
    p = PUT_LIT(p, K_KIND);
    p = fh__jsonl_put_sym(p, &kind_syms[g->kind]);
    p = PUT_LIT(p, K_FIRST);
    p = put_i64(p, g->first_missing_id);
    p = PUT_LIT(p, K_LAST);
    p = put_i64(p, g->last_missing_id);
    p = PUT_LIT(p, K_STATUS);
    p = fh__jsonl_put_sym(p, &status_syms[g->status]);
    p = PUT_LIT(p, K_REASON);
    p = fh__jsonl_put_str(p, g->reason);
    p = PUT_LIT(p, K_MISSING);
    p = put_i64(p, g->missing_count);
    p = PUT_LIT(p, K_FILLED);
    p = put_i64(p, g->filled_count);
    p = PUT_LIT(p, K_RANGES);
    for (size_t i = 0; i < g->n_ranges; i++) {
        const struct fh_gap_range *r = &g->ranges[i];
        if (i > 0)
            *p++ = ',';
        p = PUT_LIT(p, R_FIRST);
        p = put_i64(p, r->first);
        p = PUT_LIT(p, R_LAST);
        p = put_i64(p, r->last);
        p = PUT_LIT(p, R_REASON);
        p = fh__jsonl_put_str(p, r->reason);
        p = PUT_LIT(p, R_END);
    }
    p = PUT_LIT(p, K_TRUNC);
    p = g->ranges_truncated ? PUT_LIT(p, "true") : PUT_LIT(p, "false");
    p = PUT_LIT(p, K_DTIME);
    p = put_i64(p, g->detected_time_ns);
    p = PUT_LIT(p, K_RTIME);
    p = put_i64(p, g->reported_time_ns);
    p = PUT_LIT(p, K_CONN);
    p = put_i64(p, g->connection_id);
    p = PUT_LIT(p, K_END);
    return p;
}

int fh_jsonl_encode_gap(struct fh_fbuf *b, const struct fh_gap_record *g)
{
    if (b->overflow)
        return FH_ENOSPACE;
    int rc = fh_gap_record_check(g);
    if (rc != 0)
        return rc;
    if (b->cap - b->len < fh_jsonl_gap_size(g)) {
        b->overflow = true;
        return FH_ENOSPACE;
    }
    uint8_t *p = encode_line(b->data + b->len, g);
    b->len = (size_t)(p - b->data);
    return 0;
}
