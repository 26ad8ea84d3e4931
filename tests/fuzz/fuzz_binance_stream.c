/*
 * fuzz_binance_stream.c - libFuzzer target: one Binance WebSocket text message through
 * fh_venue_parse, on a millisecond and a microsecond connection and with tight limits; and
 * each of them again through the general path alone (general_only), which must give the
 * same result whether or not the trade reader without tokens (binance_fast.c) took it.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_LINES: binance*.ndjson sessions/binance*.ndjson
 * FUZZ_SEEDS_LOCAL: binance_stream.seeds
 * FUZZ_DICT: binance.dict
 */
#include "fuzz_util.h"

#include "../tools/venue_same.h"

#define UNI_BASE "\xe5\xb8\x81\xe5\xae\x89" /* a non-ASCII asset name */

static struct fh_symbols syms;
static struct fh_venue_parser p_ms, p_us, p_tight;
static struct fh_venue_parser g_ms, g_us, g_tight; /* general_only */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fh_symbols_init(&syms, 4096) != 0)
        abort();
    fh_fuzz_load_metadata(&fh_venue_binance, "binance_exchangeinfo.json", &syms);
    if (fh_symbols_add(&syms, FH_STR_LIT(UNI_BASE "USDT"), FH_STR_LIT(UNI_BASE), FH_STR_LIT("USDT"),
                       NULL) != 0)
        abort();
    struct fh_venue_parser_opts us = {.time_us = true};
    struct fh_venue_parser_opts tight = {.max_message_bytes = 512, .max_tokens = 24};
    struct fh_venue_parser_opts ms = {0};
    if (fh_venue_parser_init(&p_ms, &fh_venue_binance, &syms, &ms) != 0 ||
        fh_venue_parser_init(&p_us, &fh_venue_binance, &syms, &us) != 0 ||
        fh_venue_parser_init(&p_tight, &fh_venue_binance, &syms, &tight) != 0)
        abort();
    ms.general_only = us.general_only = tight.general_only = true;
    if (fh_venue_parser_init(&g_ms, &fh_venue_binance, &syms, &ms) != 0 ||
        fh_venue_parser_init(&g_us, &fh_venue_binance, &syms, &us) != 0 ||
        fh_venue_parser_init(&g_tight, &fh_venue_binance, &syms, &tight) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct fh_venue_msg ms, us, tight;
    int rc_ms = fh_venue_parse(&p_ms, msg, size, &ms);
    fh_fuzz_check_msg(&p_ms, rc_ms, &ms, data, size);
    FH_FUZZ_CHECK(ms.n_trades <= 1);
    struct fh_trade t_ms = ms.n_trades ? ms.trades[0] : (struct fh_trade){0};

    int rc_us = fh_venue_parse(&p_us, msg, size, &us);
    fh_fuzz_check_msg(&p_us, rc_us, &us, data, size);
    /* The time unit changes only the scaling: whatever a millisecond connection accepts, a
     * microsecond one accepts too, with the same fields and times 1000 times smaller. */
    if (rc_ms == 0) {
        FH_FUZZ_CHECK(rc_us == 0 && us.event == ms.event && us.n_trades == ms.n_trades);
        if (ms.n_trades == 1) {
            const struct fh_trade *t = &us.trades[0];
            FH_FUZZ_CHECK(t->trade_time_us * 1000 == t_ms.trade_time_us);
            FH_FUZZ_CHECK(t->event_time_us * 1000 == t_ms.event_time_us);
            FH_FUZZ_CHECK(t->trade_id == t_ms.trade_id && t->kind == t_ms.kind);
            FH_FUZZ_CHECK(fh_decimal_eq(t->price, t_ms.price));
            FH_FUZZ_CHECK(fh_decimal_eq(t->quantity, t_ms.quantity));
            FH_FUZZ_CHECK(t->side == t_ms.side && t->has == t_ms.has);
        }
    } else if (rc_us == 0) {
        FH_FUZZ_CHECK(ms.reject == FH_REJ_BAD_TIME);
    }

    /* Tight limits only ever turn an accepted message into an oversize / token rejection. */
    int rc_t = fh_venue_parse(&p_tight, msg, size, &tight);
    fh_fuzz_check_msg(&p_tight, rc_t, &tight, data, size);
    if (rc_t == 0)
        FH_FUZZ_CHECK(rc_ms == 0 && tight.event == ms.event);
    else if (rc_ms == 0)
        FH_FUZZ_CHECK(tight.reject == FH_REJ_OVERSIZE || tight.reject == FH_REJ_TOO_MANY_TOKENS);

    /* The general path alone: the same answer on each connection. */
    struct fh_venue_msg g;
    int rc_g = fh_venue_parse(&g_tight, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc_t, &tight, rc_g, &g));
    rc_g = fh_venue_parse(&g_us, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc_us, &us, rc_g, &g));
    rc_g = fh_venue_parse(&g_ms, msg, size, &g);
    FH_FUZZ_CHECK(venue_msg_same(rc_ms, &ms, rc_g, &g));
    return 0;
}
