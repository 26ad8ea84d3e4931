/*
 * policy.c - backoff with full jitter, connection budget (GCRA) and circuit breaker.
 */
#include "feed/policy.h"

#include "core/err.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS INT64_C(1000000)

void fh_rng_seed(struct fh_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t fh_rng_next(struct fh_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int64_t fh_rng_upto(struct fh_rng *r, int64_t n)
{
    if (n <= 0)
        return 0;
    /* The modulo bias is below 2^-40 for the ranges used here (at most hours in ms). */
    return (int64_t)(fh_rng_next(r) % ((uint64_t)n + 1));
}

/* ---- backoff ------------------------------------------------------------------------------ */

const char *fh_conn_outcome_name(enum fh_conn_outcome o)
{
    switch (o) {
    case FH_CONN_FAILED:
        return "failed";
    case FH_CONN_STREAMED:
        return "streamed";
    case FH_CONN_HEALTHY:
        return "healthy";
    }
    return "unknown";
}

enum fh_conn_outcome fh_conn_outcome(const struct fh_retry_policy *p, int64_t streaming_since_ns,
                                     bool got_data, int64_t now_ns)
{
    if (streaming_since_ns == 0)
        return FH_CONN_FAILED;
    if (got_data || now_ns - streaming_since_ns >= p->stable_ms * NS_PER_MS)
        return FH_CONN_HEALTHY;
    return FH_CONN_STREAMED;
}

int64_t fh_backoff_next_ms(struct fh_backoff *b, const struct fh_retry_policy *p,
                           enum fh_retry_cause cause, enum fh_conn_outcome outcome,
                           struct fh_rng *rng)
{
    if (outcome == FH_CONN_HEALTHY)
        b->attempt = 0;
    if (cause == FH_RETRY_SERVER_ROTATE) {
        /* The server ended a healthy connection on purpose: reconnect at once, and do not
         * count it against the backoff. */
        b->attempt = 0;
        b->exponent = 0;
        b->ceiling_ms = 0;
        return 0;
    }
    int64_t ceiling = p->base_ms > 0 ? p->base_ms : 1;
    for (uint32_t i = 0; i < b->attempt && ceiling < p->max_ms; i++)
        ceiling *= 2;
    if (ceiling > p->max_ms)
        ceiling = p->max_ms;
    b->exponent = b->attempt;
    b->ceiling_ms = ceiling;
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    int64_t delay = fh_rng_upto(rng, ceiling);
    if (cause == FH_RETRY_THROTTLED && delay < p->throttled_ms)
        delay = p->throttled_ms + fh_rng_upto(rng, p->throttled_ms / 4);
    if (cause == FH_RETRY_MAINTENANCE && delay < p->maintenance_ms)
        delay = p->maintenance_ms;
    return delay;
}

/* ---- budget ------------------------------------------------------------------------------- */

int fh_budget_init(struct fh_budget *b, uint32_t limit, int64_t window_ns)
{
    memset(b, 0, sizeof(*b));
    if (limit == 0 || window_ns <= 0)
        return FH_EINVAL;
    b->times = calloc(limit, sizeof(*b->times));
    if (b->times == NULL)
        return FH_ENOMEM;
    b->limit = limit;
    b->window_ns = window_ns;
    return 0;
}

void fh_budget_release(struct fh_budget *b)
{
    free(b->times);
    b->times = NULL;
    b->n = 0;
}

/* Returns the tokens spent at or before now - window. */
static void refill(struct fh_budget *b, int64_t now_ns)
{
    while (b->n > 0 && b->times[b->head] <= now_ns - b->window_ns) {
        b->head = (b->head + 1) % b->limit;
        b->n--;
    }
}

int64_t fh_budget_take(struct fh_budget *b, int64_t now_ns)
{
    refill(b, now_ns);
    if (b->n == b->limit) {
        b->denied++;
        return b->times[b->head] + b->window_ns - now_ns;
    }
    b->times[(b->head + b->n) % b->limit] = now_ns;
    b->n++;
    b->taken++;
    return 0;
}

uint32_t fh_budget_available(struct fh_budget *b, int64_t now_ns)
{
    refill(b, now_ns);
    return b->limit - b->n;
}

/* ---- breaker ------------------------------------------------------------------------------ */

const char *fh_breaker_state_name(enum fh_breaker_state s)
{
    switch (s) {
    case FH_BREAKER_CLOSED:
        return "closed";
    case FH_BREAKER_OPEN:
        return "open";
    case FH_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

void fh_breaker_init(struct fh_breaker *b, uint32_t threshold, int64_t open_ns)
{
    b->state = FH_BREAKER_CLOSED;
    b->threshold = threshold > 0 ? threshold : 1;
    b->open_ns = open_ns > 0 ? open_ns : 1;
    b->failures = 0;
    b->opened_at_ns = 0;
    b->probe_out = false;
    b->trips = 0;
}

int64_t fh_breaker_allow(struct fh_breaker *b, int64_t now_ns)
{
    switch (b->state) {
    case FH_BREAKER_CLOSED:
        return 0;
    case FH_BREAKER_OPEN: {
        int64_t left = b->opened_at_ns + b->open_ns - now_ns;
        if (left > 0)
            return left;
        b->state = FH_BREAKER_HALF_OPEN;
        b->probe_out = true;
        return 0;
    }
    case FH_BREAKER_HALF_OPEN:
        if (b->probe_out)
            return b->open_ns;
        b->probe_out = true;
        return 0;
    }
    return 0;
}

void fh_breaker_success(struct fh_breaker *b)
{
    b->state = FH_BREAKER_CLOSED;
    b->failures = 0;
    b->probe_out = false;
}

static void trip(struct fh_breaker *b, int64_t now_ns)
{
    b->state = FH_BREAKER_OPEN;
    b->opened_at_ns = now_ns;
    b->probe_out = false;
    b->trips++;
}

void fh_breaker_failure(struct fh_breaker *b, int64_t now_ns)
{
    if (b->failures < UINT32_MAX)
        b->failures++;
    if (b->state == FH_BREAKER_HALF_OPEN ||
        (b->state == FH_BREAKER_CLOSED && b->failures >= b->threshold))
        trip(b, now_ns);
}

void fh_breaker_cancel(struct fh_breaker *b)
{
    if (b->state == FH_BREAKER_HALF_OPEN)
        b->probe_out = false;
}
