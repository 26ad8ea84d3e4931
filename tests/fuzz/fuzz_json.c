/*
 * fuzz_json.c - libFuzzer target: the single-pass strict JSON tokenizer (fh_json_parse)
 * against the two-pass reader it replaced (tests/unit/json_ref.c). Both must accept the same
 * inputs; on an accepted input they must produce the same tokens (type, bounds, size, parent)
 * and the same escape flags. Also with a token budget so small that most inputs exceed it.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_LINES: binance_*.ndjson kraken_v1_*.ndjson kraken_v2_*.ndjson
 * FUZZ_SEEDS_LOCAL: kraken_v2.seeds binance_stream.seeds
 * FUZZ_DICT: binance.dict
 */
#include "fuzz_util.h"
#include "json_ref.h"

static struct fh_json big, big_ref, small, small_ref;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fh_json_init(&big, 1 << 16) != 0 || fh_json_init(&big_ref, 1 << 16) != 0 ||
        fh_json_init(&small, 8) != 0 || fh_json_init(&small_ref, 8) != 0)
        abort();
    return 0;
}

static void compare(struct fh_json *a, struct fh_json *b, const char *s, size_t n)
{
    int ra = fh_json_parse(a, s, n);
    int rb = fh_json_ref_parse(b, s, n);
    FH_FUZZ_CHECK((ra == 0) == (rb == 0));
    if (ra != 0)
        return;
    FH_FUZZ_CHECK(a->n == b->n);
    for (int i = 0; i < a->n; i++) {
        const jsmntok_t *x = &a->tok[i], *y = &b->tok[i];
        FH_FUZZ_CHECK(x->type == y->type && x->start == y->start && x->end == y->end);
        FH_FUZZ_CHECK(x->size == y->size && x->parent == y->parent);
        FH_FUZZ_CHECK(x->type != JSMN_STRING || a->esc[i] == b->esc[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    compare(&big, &big_ref, s, size);
    compare(&small, &small_ref, s, size);
    return 0;
}
