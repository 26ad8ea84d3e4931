/*
 * test_venue_registry.c - the protocol registry (src/venue/registry.c) and the descriptors the
 * engine and the application rely on instead of testing which protocol they run: every
 * protocol is complete, its symbol example passes its own check, and a configuration section
 * plus URL selects the right protocol.
 */
#include "testutil.h"

#include "core/err.h"
#include "venue/venue.h"

#include <string.h>

static void test_every_protocol_is_described(void **state)
{
    (void)state;
    size_t n = 0;
    for (size_t i = 0; fh_venues[i] != NULL; i++, n++) {
        const struct fh_venue_ops *o = fh_venues[i];
        char err[256];
        assert_non_null(o->name);
        assert_non_null(o->venue);
        assert_non_null(o->section);
        assert_non_null(o->parse);
        assert_non_null(o->build_url);
        assert_non_null(o->build_subscribe);
        assert_non_null(o->check_symbol);
        assert_non_null(o->caps.symbol_example);
        assert_true((o->caps.channels & FH_CH_TRADE) != 0);
        /* The example is a valid native symbol of the protocol. */
        assert_int_equal(o->check_symbol(o->caps.symbol_example, err, sizeof(err)), 0);
        assert_ptr_equal(fh_venue_find(o->name), o);
        /* Liveness needs one of the two pings. */
        if (!o->caps.ws_ping) {
            struct fh_buf b;
            fh_buf_init(&b, 65536);
            assert_int_equal(o->build_ping(7, &b), 0);
            assert_true(b.len > 0);
            fh_buf_release(&b);
        }
        /* A protocol that subscribes by message acknowledges it; by URL it needs none. */
        if (o->caps.subscribe_in_url) {
            struct fh_buf b;
            fh_buf_init(&b, 65536);
            struct fh_str sym = fh_str_c(o->caps.symbol_example);
            struct fh_sub_spec spec = {.symbols = &sym, .n_symbols = 1, .channels = FH_CH_TRADE};
            assert_int_equal(o->build_url("wss://example.com", &spec, &b), 0);
            assert_non_null(memmem(b.data, b.len, "stream", 6));
            fh_buf_release(&b);
        }
    }
    assert_true(n >= 3);
}

static void test_section_and_url_select_the_protocol(void **state)
{
    (void)state;
    assert_ptr_equal(fh_venue_for_section("binance", "wss://stream.binance.com:9443"),
                     &fh_venue_binance);
    assert_ptr_equal(fh_venue_for_section("kraken", "wss://ws.kraken.com/v2"), &fh_venue_kraken_v2);
    assert_ptr_equal(fh_venue_for_section("kraken", "wss://ws.kraken.com/v2/"),
                     &fh_venue_kraken_v2);
    assert_ptr_equal(fh_venue_for_section("kraken", "wss://ws.kraken.com"), &fh_venue_kraken_v1);
    assert_ptr_equal(fh_venue_for_section("kraken", "wss://ws.kraken.com/v22"),
                     &fh_venue_kraken_v1);
    assert_ptr_equal(fh_venue_for_section("kraken", "wss://host/x?p=/v2"), &fh_venue_kraken_v1);
    assert_null(fh_venue_for_section("coinbase", "wss://x"));
}

static void test_symbol_checks(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(fh_binance_check_symbol("BTCUSDT", err, sizeof(err)), 0);
    assert_int_equal(fh_binance_check_symbol("BTC/USDT", err, sizeof(err)), FH_EINVAL);
    assert_non_null(strstr(err, "no slash"));
    assert_int_equal(fh_binance_check_symbol("btcusdt", err, sizeof(err)), FH_EINVAL);
    assert_int_equal(fh_kraken_check_symbol("XBT/USD", err, sizeof(err)), 0);
    assert_int_equal(fh_kraken_check_symbol("BTCUSD", err, sizeof(err)), FH_EINVAL);
    assert_int_equal(fh_kraken_check_symbol("BTC/USD/X", err, sizeof(err)), FH_EINVAL);
    assert_int_equal(fh_kraken_check_symbol("/USD", err, sizeof(err)), FH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_protocol_is_described),
        cmocka_unit_test(test_section_and_url_select_the_protocol),
        cmocka_unit_test(test_symbol_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
