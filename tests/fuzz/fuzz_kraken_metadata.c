/*
 * fuzz_kraken_metadata.c - libFuzzer target: an AssetPairs document (or a cached v2
 * instrument message) through the kraken-v1 and kraken-v2 parse_metadata, into a small
 * table (to reach "table full") and a large one.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_DATA: kraken_assetpairs.json
 * FUZZ_SEEDS_LOCAL: kraken_metadata.seeds
 * FUZZ_DICT: kraken.dict
 */
#include "kraken_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {2, 512};
    const struct fh_venue_ops *ops[] = {&fh_venue_kraken_v1, &fh_venue_kraken_v2};
    for (size_t o = 0; o < 2; o++) {
        for (size_t c = 0; c < 2; c++) {
            struct fh_symbols t;
            if (fh_symbols_init(&t, caps[c]) != 0)
                abort();
            char err[128];
            memset(err, 'x', sizeof(err));
            int rc = ops[o]->parse_metadata((const char *)data, size, &t, err, sizeof(err));
            FH_FUZZ_CHECK(rc <= 0);
            if (rc != 0)
                FH_FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
            fh_kraken_fuzz_check_table(&t);
            if (rc == 0 && c == 1)
                FH_FUZZ_CHECK(t.n <= caps[c]);
            fh_symbols_release(&t);
        }
    }
    return 0;
}
