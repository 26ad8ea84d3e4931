/*
 * feedsim_unit.c - unit tests of feedsim's pure parts: exact number and time text per venue
 * (fmt.c), native symbol names (symbols.c) and fault specs (fault.c). Registered as
 * unit.feedsim by tests/integration/feedsim.cmake.
 */
#include "fs_core.h"
#include "fs_fault.h"

#include "core/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void test_v2_numbers(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        int dec;
        bool upper, point_zero;
        const char *want;
    } cases[] = {
        {857724, 1, false, false, "85772.4"},
        {43721, 8, false, false, "0.00043721"},
        {1000, 8, false, false, "1e-05"}, /* below 1e-4: Python-style exponent */
        {4372, 8, false, false, "4.372e-05"},
        {1, 8, false, false, "1e-08"},
        {250000000000, 8, true, false, "2.5E+3"},
        {857724, 1, true, false, "8.57724E+4"},
        {43000000, 8, true, false, "4.3E-1"},
        {4000000000, 8, false, true, "40.0"}, /* an integer with a trailing .0 */
        {4050000000, 8, false, true, "40.5"}, /* not an integer: unchanged */
        {100000000, 8, false, false, "1"},
        {0, 8, false, false, "0"},
        {150000, 6, false, false, "0.15"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        size_t n = fs_fmt_v2(cases[i].v, cases[i].dec, cases[i].upper, cases[i].point_zero, out);
        assert_int_equal(n, strlen(out));
        assert_string_equal(out, cases[i].want);
    }
}

/* Whatever form is chosen, the JSON number is exactly the value. */
static void test_v2_numbers_exact(void **state)
{
    (void)state;
    uint64_t rng[4];
    fs_rand_seed(rng, 99);
    for (int i = 0; i < 20000; i++) {
        int dec = (int)(fs_rand64(rng) % 11);
        int64_t v = (int64_t)(fs_rand64(rng) % 100000000000ULL) >> (fs_rand64(rng) % 36);
        bool upper = fs_rand64(rng) & 1, pz = fs_rand64(rng) & 1;
        char out[64];
        size_t n = fs_fmt_v2(v, dec, upper, pz, out);
        fh_decimal d;
        assert_int_equal(fh_decimal_parse(out, n, FH_DEC_JSON | FH_DEC_ALLOW_EXP, &d), 0);
        assert_true(fh_decimal_eq(d, fs_units_dec(v, dec)));
    }
}

static void test_fixed_and_times(void **state)
{
    (void)state;
    char out[64];
    fs_fmt_fixed(3528, 4, 8, out);
    assert_string_equal(out, "0.35280000");
    fs_fmt_fixed(554120, 1, 5, out);
    assert_string_equal(out, "55412.00000");
    fs_fmt_min(1200, 2, out);
    assert_string_equal(out, "12");
    fs_fmt_rfc3339(1759774484947782LL, out);
    assert_string_equal(out, "2025-10-06T18:14:44.947782Z");
    fs_fmt_rfc3339(1759774485000000LL, out);
    assert_string_equal(out, "2025-10-06T18:14:45.000000Z");
    fs_fmt_kr_v1_time(1534614057321597LL, out);
    assert_string_equal(out, "1534614057.321597");
    fs_fmt_kr_v1_time(1534614057000001LL, out);
    assert_string_equal(out, "1534614057.000001");
    fs_fmt_kr_rest_time(1688669597827736LL, 900, out);
    assert_string_equal(out, "1688669597.8277369");
    fs_fmt_kr_rest_time(1688669597827736LL, 0, out);
    assert_string_equal(out, "1688669597.827736");
    fs_fmt_kr_rest_time(1688669597000000LL, 0, out);
    assert_string_equal(out, "1688669597.0");
    fs_fmt_kr_rest_time(1688669597000000LL, 1, out);
    assert_string_equal(out, "1688669597.000000001");
}

static void test_symbol_names(void **state)
{
    (void)state;
    struct fs_symbol s;
    assert_int_equal(fs_symbol_make("BTC-USDT", 0, &s), 0);
    assert_string_equal(s.bn, "BTCUSDT");
    assert_string_equal(s.bn_lower, "btcusdt");
    assert_string_equal(s.kr_key, "XBTUSDT");
    assert_string_equal(s.kr_alt, "XBTUSDT");
    assert_string_equal(s.kr_ws1, "XBT/USDT");
    assert_string_equal(s.kr_ws2, "BTC/USDT");
    assert_string_equal(s.kr_base_legacy, "XXBT");
    assert_string_equal(s.kr_quote_legacy, "USDT");
    assert_int_equal(s.price_dec[FS_EX_BINANCE], 2);
    assert_int_equal(s.qty_dec[FS_EX_BINANCE], 5);
    assert_int_equal(s.price_dec[FS_EX_KRAKEN], 1);

    assert_int_equal(fs_symbol_make("BTC-USD", 1, &s), 0);
    assert_string_equal(s.kr_key, "XXBTZUSD");
    assert_string_equal(s.kr_alt, "XBTUSD");
    assert_string_equal(s.kr_ws1, "XBT/USD");
    assert_int_equal(fs_symbol_make("ETH-USD", 1, &s), 0);
    assert_string_equal(s.kr_key, "XETHZUSD");
    assert_string_equal(s.kr_alt, "ETHUSD");
    assert_string_equal(s.kr_ws1, "ETH/USD");
    assert_int_equal(fs_symbol_make("DOGE-USD", 2, &s), 0);
    assert_string_equal(s.bn, "DOGEUSD");
    assert_string_equal(s.kr_key, "XDGUSD");
    assert_string_equal(s.kr_ws1, "XDG/USD");
    assert_string_equal(s.kr_ws2, "DOGE/USD");
    assert_string_equal(s.kr_base_legacy, "XXDG");
    assert_int_equal(fs_symbol_make("ETH-BTC", 3, &s), 0);
    assert_string_equal(s.kr_key, "XETHXXBT");
    assert_string_equal(s.kr_ws1, "ETH/XBT");
    assert_int_equal(fs_symbol_make("SOL-USD", 4, &s), 0);
    assert_string_equal(s.kr_key, "SOLUSD");
    /* XRP really starts with X: its legacy code has another X, its name keeps it. */
    assert_int_equal(fs_symbol_make("XRP-EUR", 5, &s), 0);
    assert_string_equal(s.kr_key, "XXRPZEUR");
    assert_string_equal(s.kr_ws2, "XRP/EUR");
    assert_string_equal(s.kr_ws1, "XRP/EUR");
    /* Unknown assets keep their codes. */
    assert_int_equal(fs_symbol_make("FOO-BAR", 6, &s), 0);
    assert_string_equal(s.kr_ws1, "FOO/BAR");
    assert_string_equal(s.kr_key, "FOOBAR");

    static const char *bad[] = {"BTCUSDT", "BTC-",     "-USD",           "BTC-USD-X",
                                "btc-usd", "B TC-USD", "ABCDEFGHIJK-USD"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fs_symbol_make(bad[i], 0, &s), FH_EINVAL);
}

static struct fs_sim test_sim;

static int setup_sim(void **state)
{
    (void)state;
    memset(&test_sim, 0, sizeof(test_sim));
    fs_symbol_make("BTC-USDT", 0, &test_sim.syms[0]);
    fs_symbol_make("ETH-USD", 1, &test_sim.syms[1]);
    test_sim.nsyms = 2;
    return 0;
}

static void test_fault_specs(void **state)
{
    (void)state;
    struct fs_fault f;
    char err[160];
    assert_int_equal(
        fs_fault_parse(&test_sim, "at=5s,venue=binance,kind=drop,code=1001", &f, err, sizeof(err)),
        0);
    assert_int_equal(f.kind, FS_F_DROP);
    assert_int_equal(f.at_ns, 5000000000LL);
    assert_int_equal(f.venue_mask, 1 << FS_BINANCE);
    assert_int_equal(f.code, 1001);
    assert_int_equal(fs_fault_parse(&test_sim, "kind=skip&venue=kraken&symbol=ETH-USD&count=7", &f,
                                    err, sizeof(err)),
                     0);
    assert_int_equal(f.kind, FS_F_SKIP);
    assert_int_equal(f.venue_mask, (1 << FS_KRAKEN_V1) | (1 << FS_KRAKEN_V2));
    assert_int_equal(f.symbol, 1);
    assert_int_equal(f.count, 7);
    assert_int_equal(
        fs_fault_parse(&test_sim, "kind=stall,mode=queue,for=250ms,conn=12", &f, err, sizeof(err)),
        0);
    assert_true(f.queue);
    assert_int_equal(f.for_ns, 250000000);
    assert_int_equal(f.conn_id, 12);
    assert_int_equal(
        fs_fault_parse(&test_sim, "kind=slow,bps=2k,venue=kraken-v2", &f, err, sizeof(err)), 0);
    assert_int_equal(f.bytes, 2048);
    assert_int_equal(f.venue_mask, 1 << FS_KRAKEN_V2);
    assert_int_equal(
        fs_fault_parse(&test_sim, "kind=refuse,mode=reset,count=2", &f, err, sizeof(err)), 0);
    assert_int_equal(f.mode, FS_DROP_RESET);

    static const char *bad[] = {"",
                                "kind=",
                                "kind=explode",
                                "venue=binance",
                                "kind=drop,code=999",
                                "kind=drop,code=5000",
                                "kind=drop,x=1",
                                "kind=skip,symbol=DOGE-USD",
                                "kind=stall,for=1y",
                                "kind=drop,venue=ftx",
                                "kind=oversize,bytes=3",
                                "kind=drop,noeq"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(fs_fault_parse(&test_sim, bad[i], &f, err, sizeof(err)), FH_EINVAL);
        assert_true(err[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_numbers),
        cmocka_unit_test(test_v2_numbers_exact),
        cmocka_unit_test(test_fixed_and_times),
        cmocka_unit_test(test_symbol_names),
        cmocka_unit_test_setup(test_fault_specs, setup_sim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
