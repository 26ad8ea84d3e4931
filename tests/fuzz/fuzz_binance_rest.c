/*
 * fuzz_binance_rest.c - libFuzzer target: a Binance REST backfill body (historicalTrades,
 * trades, aggTrades, or an error body) through ops->parse_rest_trades.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_FILES: rest/binance_*.json
 * FUZZ_SEEDS_LOCAL: binance_rest.seeds
 * FUZZ_DICT: binance.dict
 */
#include "fuzz_util.h"

static struct fh_symbols syms;
static struct fh_venue_parser p_ms, p_small;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fh_symbols_init(&syms, 4096) != 0)
        abort();
    fh_fuzz_load_metadata(&fh_venue_binance, "binance_exchangeinfo.json", &syms);
    struct fh_venue_parser_opts small = {.max_trades = 3, .time_us = true};
    if (fh_venue_parser_init(&p_ms, &fh_venue_binance, &syms, NULL) != 0 ||
        fh_venue_parser_init(&p_small, &fh_venue_binance, &syms, &small) != 0)
        abort();
    return 0;
}

static void check_page(const struct fh_venue_parser *p, int rc, const struct fh_rest_page *page,
                       enum fh_reject r, const uint8_t *data, size_t size)
{
    FH_FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FH_FUZZ_CHECK(r > FH_REJ_NONE && r < FH_REJ_COUNT && page->n_trades == 0);
        return;
    }
    FH_FUZZ_CHECK(r == FH_REJ_NONE);
    FH_FUZZ_CHECK(page->n_trades <= p->opts.max_trades);
    FH_FUZZ_CHECK(fh_fuzz_within(page->error, data, size));
    FH_FUZZ_CHECK(page->cursor.n == 0);
    if (page->error.n > 0 || page->rate_limited)
        FH_FUZZ_CHECK(page->n_trades == 0);
    for (size_t i = 0; i < page->n_trades; i++) {
        fh_fuzz_check_trade(p, &page->trades[i]);
        FH_FUZZ_CHECK(page->trades[i].source == FH_SOURCE_BACKFILL);
        FH_FUZZ_CHECK(!(page->trades[i].has & FH_HAS_EVENT_TIME));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct fh_rest_page page;
    enum fh_reject r;
    int rc =
        fh_venue_binance.parse_rest_trades(&p_ms, body, size, FH_STR_LIT("BTCUSDT"), &page, &r);
    check_page(&p_ms, rc, &page, r, data, size);
    int rc_ms = rc;
    enum fh_reject r_ms = r;
    size_t n_ms = page.n_trades;
    rc = fh_venue_binance.parse_rest_trades(&p_small, body, size, FH_STR_LIT("ETHBTC"), &page, &r);
    check_page(&p_small, rc, &page, r, data, size);
    /* The second parser differs only in its row bound and time unit (and the symbol, which
     * both tables know). */
    if (rc == 0 && rc_ms == 0)
        FH_FUZZ_CHECK(page.n_trades == n_ms);
    else if (rc == 0)
        FH_FUZZ_CHECK(r_ms == FH_REJ_BAD_TIME);
    else if (rc_ms == 0)
        FH_FUZZ_CHECK(r == FH_REJ_TOO_MANY_TRADES && n_ms > 3);
    return 0;
}
