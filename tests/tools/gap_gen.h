/*
 * gap_gen.h - deterministic random and edge-value gap records for the gap codec tests and
 * the cross-decoding tool (header-only, test code only; builds on trade_gen.h).
 *
 * A struct fh_test_gap owns the storage its record's strings and ranges point into, so a
 * record stays valid until the next generate call on the same object. Generated records
 * always pass fh_gap_record_check(): every string within its bound, ranges inside the gap.
 */
#ifndef FH_TESTS_GAP_GEN_H
#define FH_TESTS_GAP_GEN_H

#include "trade_gen.h"

#include "model/gap.h"

#include <stdint.h>
#include <string.h>

struct fh_test_gap {
    struct fh_gap_record g;
    struct fh_gap_range ranges[FH_GAP_RANGES_MAX];
    char names[3][FH_GAP_NAME_MAX];
    char reason[FH_GAP_REASON_MAX];
    char range_reasons[FH_GAP_RANGES_MAX][FH_GAP_REASON_MAX];
};

/* A random string of at most max bytes: a common value, a short or a longest-possible random
 * UTF-8 string (fh_tg_utf8 may overshoot the length it is asked for by 3 bytes). */
static inline struct fh_str fh_gg_str(uint64_t *s, char *buf, size_t max)
{
    static const char *const common[] = {"binance",
                                         "kraken",
                                         "BTC-USDT",
                                         "BTC/USD",
                                         "",
                                         "absent from history",
                                         "rest budget exhausted",
                                         "hold buffer full"};
    static char tmp[FH_TG_STR_CAP];
    uint64_t r = fh_tg_next(s) % 8;
    size_t n;
    if (r < 4) {
        const char *c = common[fh_tg_next(s) % 8];
        n = strlen(c);
        memcpy(buf, c, n);
        return (struct fh_str){buf, n};
    }
    n = fh_tg_utf8(s, tmp, r < 7 ? (size_t)(fh_tg_next(s) % 24) : max - 3);
    if (n > max) /* cut at a byte: still within the bound, UTF-8 or not does not matter here */
        n = max;
    memcpy(buf, tmp, n);
    return (struct fh_str){buf, n};
}

/* A uniformly random offset in 0..span. */
static inline uint64_t fh_gg_offset(uint64_t *s, uint64_t span)
{
    uint64_t r = fh_tg_next(s);
    return span == UINT64_MAX ? r : r % (span + 1);
}

/* A random record: any kind and status, 0..FH_GAP_RANGES_MAX ranges inside the gap. */
static inline void fh_gg_random(struct fh_test_gap *t, uint64_t *s)
{
    struct fh_gap_record *g = &t->g;
    memset(g, 0, sizeof(*g));
    g->venue = fh_gg_str(s, t->names[0], FH_GAP_NAME_MAX);
    g->symbol = fh_gg_str(s, t->names[1], FH_GAP_NAME_MAX);
    g->native_symbol = fh_gg_str(s, t->names[2], FH_GAP_NAME_MAX);
    g->kind = (enum fh_trade_kind)(fh_tg_next(s) % 2);
    g->status = (enum fh_gap_status)(fh_tg_next(s) % 4);
    int64_t a = fh_tg_long(s), b = fh_tg_long(s);
    if (fh_tg_next(s) % 2) /* often a small gap */
        b = a > INT64_MAX - 1000 ? a : a + (int64_t)(fh_tg_next(s) % 1000);
    g->first_missing_id = a < b ? a : b;
    g->last_missing_id = a < b ? b : a;
    g->reason = fh_gg_str(s, t->reason, FH_GAP_REASON_MAX);
    g->missing_count = fh_tg_long(s) & INT64_MAX;
    g->filled_count = fh_tg_long(s) & INT64_MAX;
    uint64_t r = fh_tg_next(s) % 8;
    g->n_ranges = r < 3 ? 0 : r < 6 ? 1 + r % 3 : (size_t)(fh_tg_next(s) % (FH_GAP_RANGES_MAX + 1));
    uint64_t span = (uint64_t)g->last_missing_id - (uint64_t)g->first_missing_id;
    for (size_t i = 0; i < g->n_ranges; i++) {
        uint64_t x = fh_gg_offset(s, span), y = fh_gg_offset(s, span);
        struct fh_gap_range *rg = &t->ranges[i];
        rg->first = (int64_t)((uint64_t)g->first_missing_id + (x < y ? x : y));
        rg->last = (int64_t)((uint64_t)g->first_missing_id + (x < y ? y : x));
        rg->reason = fh_gg_str(s, t->range_reasons[i], FH_GAP_REASON_MAX);
    }
    g->ranges = g->n_ranges > 0 ? t->ranges : NULL;
    g->ranges_truncated = fh_tg_next(s) % 2;
    g->detected_time_ns = fh_tg_long(s);
    g->reported_time_ns = fh_tg_long(s);
    g->connection_id = fh_tg_long(s);
}

/* Fills a string of exactly n bytes with c. */
static inline struct fh_str fh_gg_fill(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    return (struct fh_str){buf, n};
}

/* Number of edge-value records fh_gg_edge() produces. */
#define FH_GG_EDGE_COUNT 4

/*
 * Edge-value record i: 0 every string empty, every number 0, no ranges; 1 and 2 every bound
 * reached (longest strings, most ranges) with INT64_MIN (1) and INT64_MAX (2) in every
 * number that may hold it; 3 strings of control characters and NULs (6 bytes each in JSON)
 * at their bounds with the longest integers: the largest JSON line.
 */
static inline void fh_gg_edge(struct fh_test_gap *t, int i)
{
    struct fh_gap_record *g = &t->g;
    memset(g, 0, sizeof(*g));
    g->ranges = t->ranges;
    if (i == 0) {
        g->ranges = NULL;
        return;
    }
    char c = i == 3 ? '\x01' : 'a' + (char)i;
    int64_t v = i == 2 ? INT64_MAX : INT64_MIN;
    g->venue = fh_gg_fill(t->names[0], c, FH_GAP_NAME_MAX);
    g->symbol = fh_gg_fill(t->names[1], c, FH_GAP_NAME_MAX);
    g->native_symbol = fh_gg_fill(t->names[2], c, FH_GAP_NAME_MAX);
    g->kind = FH_KIND_AGG_TRADE;
    g->status = FH_GAP_UNRECOVERABLE;
    g->first_missing_id = v;
    g->last_missing_id = v;
    g->reason = fh_gg_fill(t->reason, c, FH_GAP_REASON_MAX);
    g->missing_count = INT64_MAX;
    g->filled_count = INT64_MAX;
    g->n_ranges = FH_GAP_RANGES_MAX;
    for (size_t k = 0; k < FH_GAP_RANGES_MAX; k++) {
        t->ranges[k].first = v;
        t->ranges[k].last = v;
        t->ranges[k].reason = fh_gg_fill(t->range_reasons[k], i == 3 ? '\0' : c, FH_GAP_REASON_MAX);
    }
    g->ranges_truncated = i != 2; /* "false" is the longer JSON */
    if (i == 3)
        g->ranges_truncated = false;
    g->detected_time_ns = v;
    g->reported_time_ns = v;
    g->connection_id = v;
}

#endif
