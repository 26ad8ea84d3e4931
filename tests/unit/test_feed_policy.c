/*
 * test_feed_policy.c - reconnect policy as data (src/feed/policy.c): backoff with full
 * jitter, the connection budget and the circuit breaker.
 */
#include "testutil.h"

#include "core/err.h"
#include "feed/policy.h"

#include <string.h>

#define MS INT64_C(1000000)
#define S  INT64_C(1000000000)

static const struct fh_retry_policy policy = {
    .base_ms = 100,
    .max_ms = 30000,
    .stable_ms = 60000,
    .throttled_ms = 60000,
    .maintenance_ms = 5000,
};

/* The ceiling doubles per failed attempt up to the cap; every delay lies in [0, ceiling],
 * and over many draws the delays spread over the whole range (full jitter, not equal or
 * decorrelated jitter). */
static void test_backoff_full_jitter_within_doubling_ceiling(void **state)
{
    (void)state;
    struct fh_rng rng;
    fh_rng_seed(&rng, 42);
    for (int trial = 0; trial < 200; trial++) {
        struct fh_backoff b;
        memset(&b, 0, sizeof(b));
        int64_t ceiling = policy.base_ms;
        for (int i = 0; i < 20; i++) {
            int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, 1 * S, &rng);
            assert_true(d >= 0);
            assert_true(d <= ceiling);
            ceiling = ceiling * 2 > policy.max_ms ? policy.max_ms : ceiling * 2;
        }
    }
    /* Spread at the cap: some draws in the lowest and in the highest tenth. */
    struct fh_backoff b;
    memset(&b, 0, sizeof(b));
    b.attempt = 30;
    int low = 0, high = 0;
    for (int i = 0; i < 1000; i++) {
        b.attempt = 30;
        int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, 1 * S, &rng);
        low += d < policy.max_ms / 10;
        high += d > policy.max_ms - policy.max_ms / 10;
    }
    assert_true(low > 30);
    assert_true(high > 30);
}

/* A connection that streamed for stable_ms resets the attempts; a shorter one does not. */
static void test_backoff_resets_after_stable_period(void **state)
{
    (void)state;
    struct fh_rng rng;
    fh_rng_seed(&rng, 7);
    struct fh_backoff b;
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 8; i++)
        fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, 0, &rng);
    assert_int_equal(b.attempt, 8);
    fh_backoff_streaming(&b, 100 * S);
    fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, 100 * S + (policy.stable_ms - 1) * MS, &rng);
    assert_int_equal(b.attempt, 9);
    fh_backoff_streaming(&b, 200 * S);
    int64_t d =
        fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, 200 * S + policy.stable_ms * MS, &rng);
    assert_int_equal(b.attempt, 1);
    assert_true(d <= policy.base_ms);
}

/* Throttled handshakes (429/403) wait at least throttled_ms; after maintenance attempts are
 * at least maintenance_ms apart; a server-requested rotation goes at once and resets. */
static void test_backoff_causes(void **state)
{
    (void)state;
    struct fh_rng rng;
    fh_rng_seed(&rng, 1);
    struct fh_backoff b;
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 50; i++) {
        int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_THROTTLED, 0, &rng);
        assert_true(d >= policy.throttled_ms);
        assert_true(d <= policy.throttled_ms + policy.throttled_ms / 4);
    }
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 50; i++)
        assert_true(fh_backoff_next_ms(&b, &policy, FH_RETRY_MAINTENANCE, 0, &rng) >=
                    policy.maintenance_ms);
    assert_true(b.attempt > 0);
    assert_int_equal(fh_backoff_next_ms(&b, &policy, FH_RETRY_SERVER_ROTATE, 0, &rng), 0);
    assert_int_equal(b.attempt, 0);
}

/* The budget allows `limit` attempts at once; then each token returns one window after it
 * was spent, so no rolling window ever holds more than limit attempts (the exchanges' rule,
 * checked by brute force over an hour of greedy use). */
static void test_budget_rolling_window(void **state)
{
    (void)state;
    struct fh_budget b;
    assert_int_equal(fh_budget_init(&b, 0, S), FH_EINVAL);
    assert_int_equal(fh_budget_init(&b, 300, 300 * S), 0); /* Binance: 300 per 5 minutes */
    int64_t now = 1000 * S;
    assert_int_equal(fh_budget_available(&b, now), 300);
    for (int i = 0; i < 300; i++)
        assert_int_equal(fh_budget_take(&b, now + i * MS), 0);
    int64_t wait = fh_budget_take(&b, now + 300 * MS);
    assert_int_equal(wait, 300 * S - 300 * MS); /* the first token returns at now + 300 s */
    assert_int_equal(b.denied, 1);
    assert_true(fh_budget_take(&b, now + 300 * S - 1) > 0);
    assert_int_equal(fh_budget_take(&b, now + 300 * S), 0);
    assert_int_equal(fh_budget_available(&b, now + 300 * S), 0);
    assert_int_equal(fh_budget_available(&b, now + 300 * S + 10 * MS), 10);
    fh_budget_release(&b);

    assert_int_equal(fh_budget_init(&b, 150, 600 * S), 0); /* Kraken: 150 per 10 minutes */
    static int64_t times[4000];
    size_t n = 0;
    int64_t t = 0;
    struct fh_rng rng;
    fh_rng_seed(&rng, 3);
    while (t < 3600 * S && n < 4000) {
        int64_t w = fh_budget_take(&b, t);
        if (w == 0) {
            times[n++] = t;
            t += fh_rng_upto(&rng, 2 * S); /* attempts as fast as a failing peer allows */
        } else {
            assert_true(w > 0);
            t += w;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t in_window = 0;
        for (size_t j = i; j < n && times[j] < times[i] + 600 * S; j++)
            in_window++;
        assert_true(in_window <= 150);
    }
    assert_true(n >= 6 * 150 - 1); /* and it does use the whole budget */
    fh_budget_release(&b);
}

/* closed -> open after `threshold` consecutive failures -> half-open after open_ns with a
 * single probe -> closed on success, open again on failure. */
static void test_breaker_states(void **state)
{
    (void)state;
    struct fh_breaker b;
    fh_breaker_init(&b, 3, 10 * S);
    assert_int_equal(b.state, FH_BREAKER_CLOSED);
    assert_int_equal(fh_breaker_allow(&b, 0), 0);
    fh_breaker_failure(&b, 1 * S);
    fh_breaker_failure(&b, 2 * S);
    assert_int_equal(b.state, FH_BREAKER_CLOSED);
    fh_breaker_success(&b); /* a success in between: the count starts over */
    fh_breaker_failure(&b, 3 * S);
    fh_breaker_failure(&b, 4 * S);
    assert_int_equal(b.state, FH_BREAKER_CLOSED);
    fh_breaker_failure(&b, 5 * S);
    assert_int_equal(b.state, FH_BREAKER_OPEN);
    assert_int_equal(b.trips, 1);
    assert_int_equal(fh_breaker_allow(&b, 6 * S), 9 * S);
    /* After open_ns: one probe goes, a second asker waits. */
    assert_int_equal(fh_breaker_allow(&b, 15 * S), 0);
    assert_int_equal(b.state, FH_BREAKER_HALF_OPEN);
    assert_true(fh_breaker_allow(&b, 15 * S) > 0);
    fh_breaker_failure(&b, 16 * S);
    assert_int_equal(b.state, FH_BREAKER_OPEN);
    assert_int_equal(b.trips, 2);
    assert_true(fh_breaker_allow(&b, 20 * S) > 0);
    assert_int_equal(fh_breaker_allow(&b, 26 * S), 0);
    /* A cancelled probe frees the slot for the next one. */
    fh_breaker_cancel(&b);
    assert_int_equal(fh_breaker_allow(&b, 26 * S), 0);
    fh_breaker_success(&b);
    assert_int_equal(b.state, FH_BREAKER_CLOSED);
    assert_string_equal(fh_breaker_state_name(FH_BREAKER_HALF_OPEN), "half_open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_full_jitter_within_doubling_ceiling),
        cmocka_unit_test(test_backoff_resets_after_stable_period),
        cmocka_unit_test(test_backoff_causes),
        cmocka_unit_test(test_budget_rolling_window),
        cmocka_unit_test(test_breaker_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
