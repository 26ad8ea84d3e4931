/*
 * fuzz_kraken_v1.c - libFuzzer target: one Kraken WebSocket v1 text message through
 * fh_venue_parse, with the fixture's v1 table, without a table, and with tight limits; each
 * again through the general path alone (general_only), which must give the same result
 * whether or not the trade reader without tokens (kraken_v1_fast.c) took it.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_LINES: kraken_v1_trade.ndjson kraken_v1_control.ndjson kraken_v1_other.ndjson
 * FUZZ_SEEDS_LINES: sessions/kraken_v1_*.ndjson
 * FUZZ_SEEDS_LOCAL: kraken_v1.seeds
 * FUZZ_DICT: kraken.dict
 */
#include "kraken_fuzz.h"

#include "../tools/venue_same.h"

static struct fh_symbols syms;
static struct fh_venue_parser p_full, p_bare, p_tight;
static struct fh_venue_parser g_full, g_bare, g_tight; /* general_only */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fh_symbols_init(&syms, 256) != 0)
        abort();
    fh_fuzz_load_metadata(&fh_venue_kraken_v1, "kraken_assetpairs.json", &syms);
    if (fh_symbols_add(&syms, FH_STR_LIT("\xc3\x84PFEL/\xe2\x82\xac"), FH_STR_LIT("\xc3\x84PFEL"),
                       FH_STR_LIT("\xe2\x82\xac"), NULL) != 0)
        abort();
    struct fh_venue_parser_opts tight = {
        .max_message_bytes = 512, .max_tokens = 40, .max_trades = 2};
    struct fh_venue_parser_opts full = {0};
    if (fh_venue_parser_init(&p_full, &fh_venue_kraken_v1, &syms, &full) != 0 ||
        fh_venue_parser_init(&p_bare, &fh_venue_kraken_v1, NULL, &full) != 0 ||
        fh_venue_parser_init(&p_tight, &fh_venue_kraken_v1, &syms, &tight) != 0)
        abort();
    full.general_only = tight.general_only = true;
    if (fh_venue_parser_init(&g_full, &fh_venue_kraken_v1, &syms, &full) != 0 ||
        fh_venue_parser_init(&g_bare, &fh_venue_kraken_v1, NULL, &full) != 0 ||
        fh_venue_parser_init(&g_tight, &fh_venue_kraken_v1, &syms, &tight) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct fh_venue_msg full, bare, tight;
    int rc = fh_venue_parse(&p_full, msg, size, &full);
    fh_kraken_fuzz_check_msg(&p_full, rc, &full, data, size);
    for (size_t i = 0; i < full.n_trades; i++) {
        FH_FUZZ_CHECK((full.trades[i].has & ~(unsigned)FH_HAS_SYMBOL_INDEX) == 0);
        FH_FUZZ_CHECK(full.trades[i].source == FH_SOURCE_LIVE);
        FH_FUZZ_CHECK(full.trades[i].native_symbol.n == full.symbol.n);
    }
    FH_FUZZ_CHECK(!full.snapshot);
    enum fh_event ev = full.event;

    /* Without symbols only a trade message changes: it becomes an unknown-symbol rejection
     * (or stays rejected for the same reason as before). */
    int rc_b = fh_venue_parse(&p_bare, msg, size, &bare);
    fh_kraken_fuzz_check_msg(&p_bare, rc_b, &bare, data, size);
    if (rc == 0 && ev != FH_EV_TRADES)
        FH_FUZZ_CHECK(rc_b == 0 && bare.event == ev);
    if (rc_b == 0)
        FH_FUZZ_CHECK(rc == 0 && bare.event == ev && bare.n_trades == 0);

    /* Tight limits only ever turn an accepted message into a size, token or count reject. */
    int rc_t = fh_venue_parse(&p_tight, msg, size, &tight);
    fh_kraken_fuzz_check_msg(&p_tight, rc_t, &tight, data, size);
    if (rc_t == 0)
        FH_FUZZ_CHECK(rc == 0 && tight.event == ev);
    else if (rc == 0)
        FH_FUZZ_CHECK(tight.reject == FH_REJ_OVERSIZE || tight.reject == FH_REJ_TOO_MANY_TOKENS ||
                      tight.reject == FH_REJ_TOO_MANY_TRADES);

    /* The general path alone: the same answer with the table, without it, and tight. */
    struct fh_venue_msg g;
    int rc_g = fh_venue_parse(&g_full, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc, &full, rc_g, &g));
    rc_g = fh_venue_parse(&g_bare, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc_b, &bare, rc_g, &g));
    rc_g = fh_venue_parse(&g_tight, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc_t, &tight, rc_g, &g));
    return 0;
}
