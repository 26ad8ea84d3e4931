/*
 * test_symbols.c - the native <-> canonical symbol table (src/model/symbols.c).
 */
#include "testutil.h"

#include "core/err.h"
#include "model/symbols.h"

#include <stdio.h>
#include <string.h>

static void test_add_and_find(void **state)
{
    (void)state;
    struct fh_symbols t;
    assert_int_equal(fh_symbols_init(&t, 4), 0);
    struct fh_symbol *e = NULL;
    assert_int_equal(
        fh_symbols_add(&t, FH_STR_LIT("XBT/USD"), FH_STR_LIT("BTC"), FH_STR_LIT("USD"), &e), 0);
    e->price_decimals = 1;
    assert_int_equal(
        fh_symbols_add(&t, FH_STR_LIT("XRP/USD"), FH_STR_LIT("XRP"), FH_STR_LIT("USD"), NULL), 0);
    const struct fh_symbol *f = fh_symbols_find(&t, FH_STR_LIT("XBT/USD"));
    assert_non_null(f);
    assert_string_equal(f->canonical, "BTC-USD");
    assert_int_equal(f->canonical_len, 7);
    assert_int_equal(f->price_decimals, 1);
    assert_string_equal(fh_symbols_find(&t, FH_STR_LIT("XRP/USD"))->canonical, "XRP-USD");
    assert_null(fh_symbols_find(&t, FH_STR_LIT("XBT/US")));
    assert_null(fh_symbols_find(&t, FH_STR_LIT("")));
    /* Same mapping again is fine; a conflicting one is refused. */
    assert_int_equal(
        fh_symbols_add(&t, FH_STR_LIT("XBT/USD"), FH_STR_LIT("BTC"), FH_STR_LIT("USD"), NULL), 0);
    assert_int_equal(
        fh_symbols_add(&t, FH_STR_LIT("XBT/USD"), FH_STR_LIT("XBT"), FH_STR_LIT("USD"), NULL),
        FH_ESTATE);
    assert_int_equal(t.n, 2);
    fh_symbols_release(&t);
}

static void test_bounds(void **state)
{
    (void)state;
    struct fh_symbols t;
    assert_int_equal(fh_symbols_init(&t, 2), 0);
    assert_int_equal(fh_symbols_add(&t, FH_STR_LIT("A"), FH_STR_LIT("A"), FH_STR_LIT("B"), NULL),
                     0);
    assert_int_equal(fh_symbols_add(&t, FH_STR_LIT("B"), FH_STR_LIT("B"), FH_STR_LIT("C"), NULL),
                     0);
    assert_int_equal(fh_symbols_add(&t, FH_STR_LIT("C"), FH_STR_LIT("C"), FH_STR_LIT("D"), NULL),
                     FH_ENOSPACE);
    assert_int_equal(fh_symbols_add(&t, FH_STR_LIT("D"), FH_STR_LIT("B-X"), FH_STR_LIT("C"), NULL),
                     FH_EINVAL);
    assert_int_equal(fh_symbols_add(&t, FH_STR_LIT("D"), FH_STR_LIT(""), FH_STR_LIT("C"), NULL),
                     FH_EINVAL);
    char longname[100];
    memset(longname, 'Z', sizeof(longname));
    struct fh_str ln = {longname, sizeof(longname)};
    assert_int_equal(fh_symbols_add(&t, ln, FH_STR_LIT("A"), FH_STR_LIT("B"), NULL), FH_ERANGE);
    assert_null(fh_symbols_find(&t, ln));
    fh_symbols_release(&t);
}

static void test_many_symbols_all_found(void **state)
{
    (void)state;
    struct fh_symbols t;
    assert_int_equal(fh_symbols_init(&t, 5000), 0);
    char n[32], b[16];
    for (int i = 0; i < 5000; i++) {
        int nl = snprintf(n, sizeof(n), "S%dUSDT", i);
        int bl = snprintf(b, sizeof(b), "S%d", i);
        assert_int_equal(fh_symbols_add(&t, (struct fh_str){n, (size_t)nl},
                                        (struct fh_str){b, (size_t)bl}, FH_STR_LIT("USDT"), NULL),
                         0);
    }
    for (int i = 0; i < 5000; i++) {
        int nl = snprintf(n, sizeof(n), "S%dUSDT", i);
        const struct fh_symbol *e = fh_symbols_find(&t, (struct fh_str){n, (size_t)nl});
        assert_non_null(e);
        char want[32];
        snprintf(want, sizeof(want), "S%d-USDT", i);
        assert_string_equal(e->canonical, want);
    }
    fh_symbols_release(&t);
}

/* A table sized for 65,536 symbols (the daemon's, per venue: 10 MB) is resident only as far
 * as it is filled, whatever the allocator (with mimalloc's calloc every page was). */
static void test_table_costs_only_what_it_holds(void **state)
{
    (void)state;
    struct fh_symbols t;
    assert_int_equal(fh_symbols_init(&t, 65536), 0);
    size_t bytes = 65536 * sizeof(t.items[0]);
    assert_int_equal(fh_test_resident_pages(t.items, bytes), 0);
    assert_int_equal(
        fh_symbols_add(&t, FH_STR_LIT("BTCUSDT"), FH_STR_LIT("BTC"), FH_STR_LIT("USDT"), NULL), 0);
    assert_true(fh_test_resident_pages(t.items, bytes) <= 2);
    fh_symbols_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_find),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_many_symbols_all_found),
        cmocka_unit_test(test_table_costs_only_what_it_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
