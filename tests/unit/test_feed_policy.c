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
            int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, FH_CONN_FAILED, &rng);
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
        int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, FH_CONN_FAILED, &rng);
        low += d < policy.max_ms / 10;
        high += d > policy.max_ms - policy.max_ms / 10;
    }
    assert_true(low > 30);
    assert_true(high > 30);
}

/* What a connection that ended proves: nothing if it never streamed; health if it streamed
 * and delivered live data, or streamed for stable_ms (quiet symbols); otherwise nothing yet. */
static void test_conn_outcome(void **state)
{
    (void)state;
    assert_int_equal(fh_conn_outcome(&policy, 0, false, 100 * S), FH_CONN_FAILED);
    assert_int_equal(fh_conn_outcome(&policy, 0, true, 100 * S), FH_CONN_FAILED);
    assert_int_equal(fh_conn_outcome(&policy, 100 * S, false, 105 * S), FH_CONN_STREAMED);
    assert_int_equal(fh_conn_outcome(&policy, 100 * S, true, 100 * S + 1 * MS), FH_CONN_HEALTHY);
    assert_int_equal(fh_conn_outcome(&policy, 100 * S, false, 100 * S + policy.stable_ms * MS - 1),
                     FH_CONN_STREAMED);
    assert_int_equal(fh_conn_outcome(&policy, 100 * S, false, 100 * S + policy.stable_ms * MS),
                     FH_CONN_HEALTHY);
    struct fh_retry_policy p0 = policy;
    p0.stable_ms = 0; /* every connection that streamed counts */
    assert_int_equal(fh_conn_outcome(&p0, 100 * S, false, 100 * S), FH_CONN_HEALTHY);
    assert_string_equal(fh_conn_outcome_name(FH_CONN_STREAMED), "streamed");
}

/* A healthy connection resets the attempts, however short it was; a connection that failed
 * or streamed nothing continues the doubling. */
static void test_backoff_resets_after_healthy_connection(void **state)
{
    (void)state;
    struct fh_rng rng;
    fh_rng_seed(&rng, 7);
    struct fh_backoff b;
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 8; i++)
        fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, FH_CONN_FAILED, &rng);
    assert_int_equal(b.attempt, 8);
    assert_int_equal(b.exponent, 7);
    assert_int_equal(b.ceiling_ms, policy.base_ms << 7);
    /* Streamed, but no data and shorter than stable_ms: no proof, the doubling goes on. */
    fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, FH_CONN_STREAMED, &rng);
    assert_int_equal(b.attempt, 9);
    assert_int_equal(b.ceiling_ms, policy.base_ms << 8);
    /* Subscribed and streamed trades: the next attempt is the first again. */
    int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, FH_CONN_HEALTHY, &rng);
    assert_true(d >= 0 && d <= policy.base_ms);
    assert_int_equal(b.exponent, 0);
    assert_int_equal(b.ceiling_ms, policy.base_ms);
    assert_int_equal(b.attempt, 1);
    /* If that reconnect fails, the doubling starts from there. */
    d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, FH_CONN_FAILED, &rng);
    assert_int_equal(b.ceiling_ms, 2 * policy.base_ms);
    assert_true(d <= 2 * policy.base_ms);
    /* The floors of the causes still apply after a healthy connection. */
    d = fh_backoff_next_ms(&b, &policy, FH_RETRY_MAINTENANCE, FH_CONN_HEALTHY, &rng);
    assert_true(d >= policy.maintenance_ms);
    assert_int_equal(b.exponent, 0);
}

/* The network flaps every 5 s for two minutes and every connection in between streams
 * trades: every reconnect is drawn under the first ceiling (with 60 s of stable_ms alone the
 * ceiling climbed to the 30 s cap: issue 10). */
static void test_backoff_flapping_network_stays_at_first_ceiling(void **state)
{
    (void)state;
    struct fh_rng rng;
    fh_rng_seed(&rng, 11);
    struct fh_backoff b;
    memset(&b, 0, sizeof(b));
    int64_t now = 1000 * S, worst = 0;
    for (int cut = 0; cut < 24; cut++) {
        int64_t streaming_since = now + 150 * MS; /* connected, subscribed */
        now += 5 * S;                             /* trades flowed, then the cut */
        enum fh_conn_outcome o = fh_conn_outcome(&policy, streaming_since, true, now);
        assert_int_equal(o, FH_CONN_HEALTHY);
        int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, o, &rng);
        assert_int_equal(b.exponent, 0);
        assert_true(d >= 0 && d <= policy.base_ms);
        worst = d > worst ? d : worst;
        now += d * MS;
    }
    assert_true(worst <= policy.base_ms);
}

/*
 * Storms stay throttled. A server that accepts, subscribes and drops every connection before
 * any trade is retried ever more slowly (the doubling runs to max_ms); one that sends a trade
 * and then drops, every time, is retried within base_ms each time, and the connection budget
 * bounds it: never more than `limit` attempts in a window (simulated for an hour).
 */
static void test_backoff_storms_stay_bounded(void **state)
{
    (void)state;
    struct fh_rng rng;
    fh_rng_seed(&rng, 5);
    /* Accept, subscribe, drop at once, no data: ten minutes of it. */
    struct fh_backoff b;
    memset(&b, 0, sizeof(b));
    int64_t now = 0;
    int attempts = 0;
    while (now < 600 * S) {
        attempts++;
        int64_t since = now + 20 * MS; /* subscribed */
        now = since + 1 * MS;          /* dropped before any trade */
        enum fh_conn_outcome o = fh_conn_outcome(&policy, since, false, now);
        assert_int_equal(o, FH_CONN_STREAMED);
        now += fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, o, &rng) * MS;
    }
    assert_int_equal(b.ceiling_ms, policy.max_ms);
    assert_true(attempts < 80); /* 600 s / 15 s mean delay at the cap, plus the ramp */

    /* One trade, then a drop, forever: healthy every time; the budget holds the line. */
    struct fh_budget budget;
    assert_int_equal(fh_budget_init(&budget, 300, 300 * S), 0); /* Binance */
    static int64_t times[4000];
    size_t n = 0;
    memset(&b, 0, sizeof(b));
    now = 0;
    while (now < 3600 * S && n < 4000) {
        int64_t wait = fh_budget_take(&budget, now);
        if (wait > 0) {
            now += wait;
            continue;
        }
        times[n++] = now;
        int64_t since = now + 20 * MS;
        now = since + 5 * MS;
        enum fh_conn_outcome o = fh_conn_outcome(&policy, since, true, now);
        assert_int_equal(o, FH_CONN_HEALTHY);
        int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_FAILURE, o, &rng);
        assert_true(d <= policy.base_ms);
        now += d * MS;
    }
    for (size_t i = 0; i < n; i++) {
        size_t in_window = 0;
        for (size_t j = i; j < n && times[j] < times[i] + 300 * S; j++)
            in_window++;
        assert_true(in_window <= 300);
    }
    assert_true(n <= 12 * 300); /* an hour holds twelve windows */
    assert_true(budget.denied > 0);
    fh_budget_release(&budget);
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
        int64_t d = fh_backoff_next_ms(&b, &policy, FH_RETRY_THROTTLED, FH_CONN_FAILED, &rng);
        assert_true(d >= policy.throttled_ms);
        assert_true(d <= policy.throttled_ms + policy.throttled_ms / 4);
    }
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 50; i++)
        assert_true(fh_backoff_next_ms(&b, &policy, FH_RETRY_MAINTENANCE, FH_CONN_FAILED, &rng) >=
                    policy.maintenance_ms);
    assert_true(b.attempt > 0);
    assert_int_equal(
        fh_backoff_next_ms(&b, &policy, FH_RETRY_SERVER_ROTATE, FH_CONN_STREAMED, &rng), 0);
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
        cmocka_unit_test(test_conn_outcome),
        cmocka_unit_test(test_backoff_resets_after_healthy_connection),
        cmocka_unit_test(test_backoff_flapping_network_stays_at_first_ceiling),
        cmocka_unit_test(test_backoff_storms_stay_bounded),
        cmocka_unit_test(test_backoff_causes),
        cmocka_unit_test(test_budget_rolling_window),
        cmocka_unit_test(test_breaker_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
