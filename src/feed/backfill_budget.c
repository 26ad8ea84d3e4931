/*
 * backfill_budget.c - the REST budgets of backfill (see backfill.h): Binance request weight per
 * rolling minute with the server's reports, 429 / 418, Kraken spacing and back-off.
 *
 * The weight of the last minute is kept in one-second buckets (FH_BACKFILL_WINDOW_S of them, a
 * ring indexed by the second), so the bookkeeping is fixed-size whatever the request rate.
 */
#include "feed/backfill_int.h"

#define NS_PER_S INT64_C(1000000000)

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* now + d without overflow. */
static int64_t add_sat(int64_t now, int64_t d)
{
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}

static int64_t secs_ns(int64_t s)
{
    return s > INT64_MAX / NS_PER_S ? INT64_MAX : s * NS_PER_S;
}

void fh__bf_budget_init(struct fh_backfill_budget *b, const struct fh_backfill_config *c)
{
    memset(b, 0, sizeof(*b));
    b->venue = c->venue;
    b->budget = c->weight_limit * (int64_t)c->weight_share_pct / 100;
    for (size_t i = 0; i < FH_BACKFILL_WINDOW_S; i++)
        b->sec[i] = INT64_MIN;
    b->ban_next_ns = c->ban_default_ns;
}

/* A bucket charged in second s still counts at second now_s. */
static bool counts(int64_t s, int64_t now_s)
{
    return s != INT64_MIN && s <= now_s && now_s - s < FH_BACKFILL_WINDOW_S;
}

int64_t fh_backfill_budget_used(const struct fh_backfill_budget *b, int64_t now_ns)
{
    int64_t now_s = now_ns / NS_PER_S, sum = 0;
    for (size_t i = 0; i < FH_BACKFILL_WINDOW_S; i++) {
        if (counts(b->sec[i], now_s))
            sum += b->weight[i];
    }
    return sum;
}

int64_t fh_backfill_budget_ready_at(const struct fh_backfill_budget *b, int64_t now_ns, int64_t w)
{
    int64_t t = max64(now_ns, b->blocked_until_ns);
    if (b->venue == FH_BACKFILL_KRAKEN)
        return max64(t, b->kr_ip_next_ns);
    if (w > b->budget)
        return INT64_MAX;
    int64_t now_s = now_ns / NS_PER_S;
    int64_t used = fh_backfill_budget_used(b, now_ns);
    if (used + w <= b->budget)
        return t;
    /* Oldest second first: each one frees its weight FH_BACKFILL_WINDOW_S seconds later. */
    for (int64_t s = now_s - FH_BACKFILL_WINDOW_S + 1; s <= now_s; s++) {
        size_t i =
            (size_t)(((s % FH_BACKFILL_WINDOW_S) + FH_BACKFILL_WINDOW_S) % FH_BACKFILL_WINDOW_S);
        if (b->sec[i] != s)
            continue;
        used -= b->weight[i];
        if (used + w <= b->budget)
            return max64(t, secs_ns(s + FH_BACKFILL_WINDOW_S));
    }
    return max64(t, secs_ns(now_s + FH_BACKFILL_WINDOW_S));
}

static void bucket_add(struct fh_backfill_budget *b, int64_t now_ns, int64_t w)
{
    int64_t now_s = now_ns / NS_PER_S;
    size_t i = (size_t)(now_s % FH_BACKFILL_WINDOW_S);
    if (b->sec[i] != now_s) {
        b->sec[i] = now_s;
        b->weight[i] = 0;
    }
    b->weight[i] += w;
}

void fh__bf_budget_charge(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                          int64_t now_ns, int64_t w)
{
    if (b->venue == FH_BACKFILL_KRAKEN) {
        b->kr_ip_next_ns = add_sat(now_ns, c->kraken_ip_interval_ns);
        return;
    }
    bucket_add(b, now_ns, w);
}

void fh__bf_budget_report(struct fh_backfill_budget *b, int64_t now_ns, int64_t used)
{
    if (b->venue != FH_BACKFILL_BINANCE || used < 0)
        return;
    /* Someone else on the address (or a request we did not count) used weight too: the
     * rolling minute holds at least what the server says. A lower report (the server's
     * fixed minute started again) is not trusted: our own count stays. */
    int64_t own = fh_backfill_budget_used(b, now_ns);
    if (used > own)
        bucket_add(b, now_ns, used - own);
}

void fh__bf_budget_throttled(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                             int64_t now_ns, int64_t retry_after_s)
{
    int64_t d = retry_after_s >= 0 ? secs_ns(retry_after_s) : c->retry_after_default_ns;
    b->blocked_until_ns = max64(b->blocked_until_ns, add_sat(now_ns, d));
}

void fh__bf_budget_banned(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                          int64_t now_ns, int64_t retry_after_s)
{
    int64_t d;
    if (retry_after_s >= 0) {
        d = secs_ns(retry_after_s);
    } else {
        d = b->ban_next_ns;
        b->ban_next_ns =
            min64(b->ban_next_ns > INT64_MAX / 2 ? INT64_MAX : b->ban_next_ns * 2, c->ban_max_ns);
    }
    b->blocked_until_ns = max64(b->blocked_until_ns, add_sat(now_ns, d));
}

void fh__bf_budget_kraken_limited(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                                  int64_t now_ns)
{
    int64_t d = b->kr_backoff_ns == 0 ? c->kraken_backoff_base_ns : b->kr_backoff_ns * 2;
    b->kr_backoff_ns = min64(d, c->kraken_backoff_max_ns);
    b->blocked_until_ns = max64(b->blocked_until_ns, add_sat(now_ns, b->kr_backoff_ns));
}

void fh__bf_budget_ok(struct fh_backfill_budget *b, const struct fh_backfill_config *c)
{
    b->kr_backoff_ns = 0;
    b->ban_next_ns = c->ban_default_ns;
}
