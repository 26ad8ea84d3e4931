/*
 * fuzz_binance_metadata.c - libFuzzer target: an exchangeInfo document through
 * ops->parse_metadata, into a small table (to reach "table full") and a large one.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_DATA: binance_exchangeinfo.json
 * FUZZ_SEEDS_LOCAL: binance_metadata.seeds
 * FUZZ_DICT: binance.dict
 */
#include "fuzz_util.h"

static void check_table(const struct fh_symbols *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct fh_symbol *s = &t->items[i];
        FH_FUZZ_CHECK(s->native_len > 0 && s->native_len < FH_SYMBOL_MAX);
        FH_FUZZ_CHECK(memchr(s->status, '\0', sizeof(s->status)) != NULL);
        char want[FH_SYMBOL_MAX];
        int n = snprintf(want, sizeof(want), "%s-%s", s->base, s->quote);
        FH_FUZZ_CHECK(n == s->canonical_len && memcmp(want, s->canonical, (size_t)n) == 0);
        FH_FUZZ_CHECK(s->price_decimals >= -1 && s->price_decimals <= FH_DECIMAL_SCALE);
        FH_FUZZ_CHECK(s->qty_decimals >= -1 && s->qty_decimals <= FH_DECIMAL_SCALE);
        struct fh_str native = {s->native, s->native_len};
        FH_FUZZ_CHECK(fh_symbols_find(t, native) == s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {2, 512};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        struct fh_symbols t;
        if (fh_symbols_init(&t, caps[c]) != 0)
            abort();
        char err[128];
        memset(err, 'x', sizeof(err));
        int rc = fh_venue_binance.parse_metadata((const char *)data, size, &t, err, sizeof(err));
        FH_FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FH_FUZZ_CHECK(rc <= 0);
        if (rc == 0)
            FH_FUZZ_CHECK(t.n > 0);
        else
            FH_FUZZ_CHECK(err[0] != '\0');
        check_table(&t);
        fh_symbols_release(&t);
    }
    return 0;
}
