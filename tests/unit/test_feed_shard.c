/*
 * test_feed_shard.c - spreading symbols over connections (src/feed/shard.c): the fewest
 * slots within the limit, balanced sizes, every symbol exactly once, in order.
 */
#include "testutil.h"

#include "feed/shard.h"

static void test_shard_count(void **state)
{
    (void)state;
    assert_int_equal(fh_shard_count(0, 10), 0);
    assert_int_equal(fh_shard_count(1, 10), 1);
    assert_int_equal(fh_shard_count(10, 10), 1);
    assert_int_equal(fh_shard_count(11, 10), 2);
    assert_int_equal(fh_shard_count(1024, 1024), 1);
    assert_int_equal(fh_shard_count(1025, 1024), 2);
    assert_int_equal(fh_shard_count(5, 0), 5); /* per 0 counts as 1 */
}

/* For many (n, per): the slots cover 0..n-1 exactly once in order, none exceeds per, and
 * their sizes differ by at most one. */
static void test_shard_ranges_partition_balanced(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 300; n++) {
        for (size_t per = 1; per <= 40; per++) {
            size_t slots = fh_shard_count(n, per);
            size_t next = 0, lo = (size_t)-1, hi = 0;
            for (size_t i = 0; i < slots; i++) {
                size_t first, count;
                fh_shard_range(n, slots, i, &first, &count);
                assert_int_equal(first, next);
                assert_true(count >= 1 && count <= per);
                lo = count < lo ? count : lo;
                hi = count > hi ? count : hi;
                next = first + count;
            }
            assert_int_equal(next, n);
            if (slots > 0)
                assert_true(hi - lo <= 1);
        }
    }
    size_t first, count;
    fh_shard_range(10, 2, 5, &first, &count); /* out of range: empty */
    assert_int_equal(count, 0);
    /* 1000 Binance symbols with two channels at 200 streams per connection: 100 symbols per
     * slot, 10 slots of 100. */
    assert_int_equal(fh_shard_count(1000, 200 / 2), 10);
    fh_shard_range(1000, 10, 9, &first, &count);
    assert_int_equal(first, 900);
    assert_int_equal(count, 100);
    /* 7 over 3 slots: 3, 2, 2 (the larger first). */
    fh_shard_range(7, 3, 0, &first, &count);
    assert_int_equal(count, 3);
    fh_shard_range(7, 3, 2, &first, &count);
    assert_int_equal(first, 5);
    assert_int_equal(count, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_count),
        cmocka_unit_test(test_shard_ranges_partition_balanced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
