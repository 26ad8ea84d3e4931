/*
 * fuzz_kraken_rest.c - libFuzzer target: a Kraken REST public Trades body (a page, or an
 * error body) through ops->parse_rest_trades, for kraken-v1 and kraken-v2 naming and with a
 * small row bound.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_FILES: rest/kraken_*.json
 * FUZZ_SEEDS_LOCAL: kraken_rest.seeds
 * FUZZ_DICT: kraken.dict
 */
#include "kraken_fuzz.h"

static struct fh_symbols syms1, syms2;
static struct fh_venue_parser p1, p2, p_small;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fh_symbols_init(&syms1, 256) != 0 || fh_symbols_init(&syms2, 256) != 0)
        abort();
    fh_fuzz_load_metadata(&fh_venue_kraken_v1, "kraken_assetpairs.json", &syms1);
    fh_fuzz_load_metadata(&fh_venue_kraken_v2, "kraken_assetpairs.json", &syms2);
    struct fh_venue_parser_opts small = {.max_trades = 3};
    if (fh_venue_parser_init(&p1, &fh_venue_kraken_v1, &syms1, NULL) != 0 ||
        fh_venue_parser_init(&p2, &fh_venue_kraken_v2, &syms2, NULL) != 0 ||
        fh_venue_parser_init(&p_small, &fh_venue_kraken_v1, &syms1, &small) != 0)
        abort();
    return 0;
}

struct page_sum {
    int rc;
    enum fh_reject r;
    size_t n;
    bool rate_limited;
    struct fh_str cursor, error;
    int64_t first_time, last_id;
};

static struct page_sum check_page(const struct fh_venue_parser *p, int rc,
                                  const struct fh_rest_page *page, enum fh_reject r,
                                  const uint8_t *data, size_t size)
{
    struct page_sum s = {.rc = rc, .r = r};
    FH_FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FH_FUZZ_CHECK(r > FH_REJ_NONE && r < FH_REJ_COUNT && page->n_trades == 0);
        FH_FUZZ_CHECK(page->cursor.n == 0 && page->error.n == 0 && !page->rate_limited);
        return s;
    }
    FH_FUZZ_CHECK(r == FH_REJ_NONE);
    FH_FUZZ_CHECK(page->n_trades <= p->opts.max_trades);
    FH_FUZZ_CHECK(fh_fuzz_within(page->error, data, size));
    FH_FUZZ_CHECK(fh_fuzz_within(page->cursor, data, size));
    if (page->rate_limited)
        FH_FUZZ_CHECK(page->error.n > 0);
    if (page->error.n > 0)
        FH_FUZZ_CHECK(page->n_trades == 0 && page->cursor.n == 0);
    for (size_t i = 0; i < page->n_trades; i++) {
        const struct fh_trade *t = &page->trades[i];
        fh_fuzz_check_trade(p, t);
        FH_FUZZ_CHECK(t->source == FH_SOURCE_BACKFILL && t->kind == FH_KIND_TRADE);
        FH_FUZZ_CHECK(t->trade_time_us <= FH_KRAKEN_MAX_TIME_US);
        FH_FUZZ_CHECK(!(t->has & ~(unsigned)FH_HAS_TRADE_ID));
        FH_FUZZ_CHECK(!(t->has & FH_HAS_TRADE_ID) || t->trade_id >= 0);
        /* Native names are the table's: the caller's text is not kept. */
        FH_FUZZ_CHECK(fh_symbols_find(p->symbols, t->native_symbol)->native == t->native_symbol.p);
    }
    s.n = page->n_trades;
    s.rate_limited = page->rate_limited;
    s.cursor = page->cursor;
    s.error = page->error;
    if (s.n > 0) {
        s.first_time = page->trades[0].trade_time_us;
        s.last_id = page->trades[s.n - 1].trade_id;
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct fh_rest_page page;
    enum fh_reject r;
    int rc =
        fh_venue_kraken_v1.parse_rest_trades(&p1, body, size, FH_STR_LIT("XBT/USD"), &page, &r);
    struct page_sum a = check_page(&p1, rc, &page, r, data, size);
    if (rc == 0)
        for (size_t i = 0; i < page.n_trades; i++)
            FH_FUZZ_CHECK(fh_str_eq_c(page.trades[i].symbol, "BTC-USD"));

    /* The v2 table names the same pair BTC/USD: the page reads the same. */
    rc = fh_venue_kraken_v2.parse_rest_trades(&p2, body, size, FH_STR_LIT("BTC/USD"), &page, &r);
    struct page_sum b = check_page(&p2, rc, &page, r, data, size);
    FH_FUZZ_CHECK(a.rc == b.rc && a.r == b.r && a.n == b.n && a.rate_limited == b.rate_limited);
    FH_FUZZ_CHECK(fh_str_eq(a.cursor, b.cursor) && fh_str_eq(a.error, b.error));
    FH_FUZZ_CHECK(a.first_time == b.first_time && a.last_id == b.last_id);

    /* An unknown symbol rejects exactly the pages that would have had rows to name. */
    rc = fh_venue_kraken_v1.parse_rest_trades(&p1, body, size, FH_STR_LIT("BTC/USD"), &page, &r);
    check_page(&p1, rc, &page, r, data, size);
    if (a.rc == 0 && a.error.n == 0)
        FH_FUZZ_CHECK(rc == -1 && r == FH_REJ_UNKNOWN_SYMBOL);

    rc = fh_venue_kraken_v1.parse_rest_trades(&p_small, body, size, FH_STR_LIT("XDG/USD"), &page,
                                              &r);
    check_page(&p_small, rc, &page, r, data, size);
    if (rc == 0)
        FH_FUZZ_CHECK(a.rc == 0 && page.n_trades == a.n);
    else if (a.rc == 0)
        FH_FUZZ_CHECK(r == FH_REJ_TOO_MANY_TRADES && a.n > 3);
    return 0;
}
