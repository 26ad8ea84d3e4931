/*
 * fuzz_kraken_v2.c - libFuzzer target: one Kraken WebSocket v2 text message through
 * fh_venue_parse (the fixture's v2 table, and tight limits), each again through the general
 * path alone (general_only), which must give the same result whether or not the trade reader
 * without tokens (kraken_v2_fast.c) took it; and through the instrument channel reader into a
 * small and a large table.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_LINES: kraken_v2_*.ndjson
 * FUZZ_SEEDS_LOCAL: kraken_v2.seeds
 * FUZZ_DICT: kraken.dict
 */
#include "kraken_fuzz.h"

#include "../tools/venue_same.h"

static struct fh_symbols syms;
static struct fh_venue_parser p_full, p_tight;
static struct fh_venue_parser g_full, g_tight; /* general_only */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fh_symbols_init(&syms, 256) != 0)
        abort();
    fh_fuzz_load_metadata(&fh_venue_kraken_v2, "kraken_assetpairs.json", &syms);
    if (fh_symbols_add(&syms, FH_STR_LIT("\xc3\x84PFEL/\xe2\x82\xac"), FH_STR_LIT("\xc3\x84PFEL"),
                       FH_STR_LIT("\xe2\x82\xac"), NULL) != 0)
        abort();
    struct fh_venue_parser_opts tight = {
        .max_message_bytes = 768, .max_tokens = 64, .max_trades = 2};
    struct fh_venue_parser_opts full = {0};
    if (fh_venue_parser_init(&p_full, &fh_venue_kraken_v2, &syms, &full) != 0 ||
        fh_venue_parser_init(&p_tight, &fh_venue_kraken_v2, &syms, &tight) != 0)
        abort();
    full.general_only = tight.general_only = true;
    if (fh_venue_parser_init(&g_full, &fh_venue_kraken_v2, &syms, &full) != 0 ||
        fh_venue_parser_init(&g_tight, &fh_venue_kraken_v2, &syms, &tight) != 0)
        abort();
    return 0;
}

static void instrument(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {1, 64};
    for (size_t c = 0; c < 2; c++) {
        struct fh_symbols t;
        if (fh_symbols_init(&t, caps[c]) != 0)
            abort();
        char err[96];
        memset(err, 'x', sizeof(err));
        size_t added = 99;
        int rc = fh_kraken_v2_parse_instrument(&p_tight, (const char *)data, size, &t, &added, err,
                                               sizeof(err));
        FH_FUZZ_CHECK(rc <= 0);
        FH_FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL || rc == 0);
        if (rc == 0)
            FH_FUZZ_CHECK(added <= t.n);
        else
            FH_FUZZ_CHECK(err[0] != 'x' && err[0] != '\0');
        fh_kraken_fuzz_check_table(&t);
        fh_symbols_release(&t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct fh_venue_msg full, tight;
    int rc = fh_venue_parse(&p_full, msg, size, &full);
    fh_kraken_fuzz_check_msg(&p_full, rc, &full, data, size);
    for (size_t i = 0; i < full.n_trades; i++) {
        const struct fh_trade *t = &full.trades[i];
        FH_FUZZ_CHECK((t->has & ~(unsigned)FH_HAS_SYMBOL_INDEX) == FH_HAS_TRADE_ID);
        FH_FUZZ_CHECK(t->source == (full.snapshot ? FH_SOURCE_SNAPSHOT : FH_SOURCE_LIVE));
    }
    enum fh_event ev = full.event;
    bool snap = full.snapshot;
    size_t n = full.n_trades;

    int rc_t = fh_venue_parse(&p_tight, msg, size, &tight);
    fh_kraken_fuzz_check_msg(&p_tight, rc_t, &tight, data, size);
    if (rc_t == 0)
        FH_FUZZ_CHECK(rc == 0 && tight.event == ev && tight.snapshot == snap &&
                      tight.n_trades == n);
    else if (rc == 0)
        FH_FUZZ_CHECK(tight.reject == FH_REJ_OVERSIZE || tight.reject == FH_REJ_TOO_MANY_TOKENS ||
                      tight.reject == FH_REJ_TOO_MANY_TRADES);

    /* The general path alone: the same answer with both limits. */
    struct fh_venue_msg g;
    int rc_g = fh_venue_parse(&g_full, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc, &full, rc_g, &g));
    rc_g = fh_venue_parse(&g_tight, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc_t, &tight, rc_g, &g));

    instrument(data, size);
    return 0;
}
