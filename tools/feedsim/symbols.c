/*
 * symbols.c - the native names and decimals of a canonical symbol on each venue.
 *
 * One canonical BASE-QUOTE symbol is rendered the way each exchange names it: Binance joins
 * the ISO-style asset codes (BTCUSDT); Kraken has four names per pair (AssetPairs key
 * XXBTZUSD, altname XBTUSD, v1 wsname XBT/USD, v2 symbol BTC/USD) built from its legacy asset
 * codes (XXBT, ZUSD), its v1 codes (XBT, XDG) and ISO codes (BTC, DOGE). Assets not in the
 * table keep their canonical code everywhere. Decimals follow the price magnitude, close to
 * what the exchanges list.
 */
#include "fs_core.h"

#include "core/err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct asset {
    const char *canon;
    const char *legacy; /* Kraken REST asset code */
    const char *v1;     /* Kraken v1 / altname asset code */
    double usd;         /* rough price in USD */
};

static const struct asset assets[] = {
    {"BTC", "XXBT", "XBT", 65000.0},  {"DOGE", "XXDG", "XDG", 0.15},
    {"ETH", "XETH", "ETH", 3500.0},   {"LTC", "XLTC", "LTC", 80.0},
    {"XRP", "XXRP", "XRP", 0.6},      {"XMR", "XXMR", "XMR", 160.0},
    {"XLM", "XXLM", "XLM", 0.11},     {"ZEC", "XZEC", "ZEC", 30.0},
    {"ETC", "XETC", "ETC", 25.0},     {"USD", "ZUSD", "USD", 1.0},
    {"EUR", "ZEUR", "EUR", 1.08},     {"GBP", "ZGBP", "GBP", 1.27},
    {"JPY", "ZJPY", "JPY", 0.0067},   {"CAD", "ZCAD", "CAD", 0.73},
    {"AUD", "ZAUD", "AUD", 0.66},     {"USDT", "USDT", "USDT", 1.0},
    {"USDC", "USDC", "USDC", 1.0},    {"SOL", "SOL", "SOL", 150.0},
    {"ADA", "ADA", "ADA", 0.45},      {"DOT", "DOT", "DOT", 7.0},
    {"MATIC", "MATIC", "MATIC", 0.7}, {"LINK", "LINK", "LINK", 15.0},
    {"AVAX", "AVAX", "AVAX", 35.0},   {"BNB", "BNB", "BNB", 600.0},
    {"CHF", "CHF", "CHF", 1.1},
};

/* Pairs whose AssetPairs key does not follow the rule below. */
static const struct {
    const char *canon;
    const char *key;
} key_overrides[] = {
    {"DOGE-USD", "XDGUSD"},
    {"DOGE-USDT", "XDGUSDT"},
    {"DOGE-EUR", "XDGEUR"},
    {"USDT-USD", "USDTZUSD"},
};

static const struct asset *find_asset(const char *canon)
{
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
        if (strcmp(assets[i].canon, canon) == 0)
            return &assets[i];
    }
    return NULL;
}

static bool valid_asset(const char *s, size_t n)
{
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    }
    return true;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int64_t pow10i(int n)
{
    int64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

/* A legacy code carries Kraken's X/Z prefix when it differs from the v1 code (XXBT vs XBT;
 * USDT is the same in both and has none). */
static bool prefixed(const struct asset *a)
{
    return strcmp(a->legacy, a->v1) != 0;
}

int fs_symbol_make(const char *canon, int idx, struct fs_symbol *out)
{
    memset(out, 0, sizeof(*out));
    const char *dash = strchr(canon, '-');
    if (dash == NULL || strchr(dash + 1, '-') != NULL)
        return FH_EINVAL;
    size_t bl = (size_t)(dash - canon), ql = strlen(dash + 1);
    if (!valid_asset(canon, bl) || !valid_asset(dash + 1, ql))
        return FH_EINVAL;
    out->idx = idx;
    memcpy(out->base, canon, bl);
    memcpy(out->quote, dash + 1, ql);
    snprintf(out->canon, sizeof(out->canon), "%s-%s", out->base, out->quote);

    struct asset ub = {out->base, out->base, out->base, 10.0};
    struct asset uq = {out->quote, out->quote, out->quote, 1.0};
    const struct asset *b = find_asset(out->base), *q = find_asset(out->quote);
    if (b == NULL)
        b = &ub;
    if (q == NULL)
        q = &uq;

    snprintf(out->bn, sizeof(out->bn), "%s%s", out->base, out->quote);
    for (size_t i = 0; out->bn[i] != '\0'; i++) {
        char ch = out->bn[i];
        out->bn_lower[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    snprintf(out->kr_alt, sizeof(out->kr_alt), "%s%s", b->v1, q->v1);
    snprintf(out->kr_ws1, sizeof(out->kr_ws1), "%s/%s", b->v1, q->v1);
    snprintf(out->kr_ws2, sizeof(out->kr_ws2), "%s/%s", out->base, out->quote);
    snprintf(out->kr_base_legacy, sizeof(out->kr_base_legacy), "%s", b->legacy);
    snprintf(out->kr_quote_legacy, sizeof(out->kr_quote_legacy), "%s", q->legacy);
    snprintf(out->kr_base_v2, sizeof(out->kr_base_v2), "%s", out->base);
    snprintf(out->kr_quote_v2, sizeof(out->kr_quote_v2), "%s", out->quote);
    if (prefixed(b) && prefixed(q))
        snprintf(out->kr_key, sizeof(out->kr_key), "%s%s", b->legacy, q->legacy);
    else
        snprintf(out->kr_key, sizeof(out->kr_key), "%s", out->kr_alt);
    for (size_t i = 0; i < sizeof(key_overrides) / sizeof(key_overrides[0]); i++) {
        if (strcmp(key_overrides[i].canon, out->canon) == 0)
            snprintf(out->kr_key, sizeof(out->kr_key), "%s", key_overrides[i].key);
    }
    out->kr_channel_id = 336 + 17 * idx;

    double px = b->usd / q->usd;
    out->quote_usd = q->usd;
    int mag = (int)floor(log10(px));
    out->price_dec[FS_EX_BINANCE] = clampi(6 - mag, 2, 8);
    out->qty_dec[FS_EX_BINANCE] = clampi(mag + 1, 0, 8);
    out->price_dec[FS_EX_KRAKEN] = clampi(5 - mag, 1, 10);
    out->qty_dec[FS_EX_KRAKEN] = 8;
    out->kr_v1_price_places = out->price_dec[FS_EX_KRAKEN] < 5 ? 5 : out->price_dec[FS_EX_KRAKEN];
    for (int e = 0; e < FS_NEXCH; e++) {
        int64_t units = (int64_t)llround(px * (double)pow10i(out->price_dec[e]));
        out->start_price[e] = units < 1000 ? 1000 : units;
    }
    return 0;
}
