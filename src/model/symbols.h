/*
 * symbols.h - native <-> canonical symbol mapping for one venue protocol.
 *
 * Canonical symbols are BASE-QUOTE in the exchange's ISO-style asset names (BTC-USDT,
 * DOGE-USD). They are built from exchange metadata (Binance exchangeInfo baseAsset/quoteAsset,
 * Kraken AssetPairs / v2 instrument data), never by string heuristics such as stripping
 * Kraken's X/Z prefixes (XRP, XMR and ZEC are real assets).
 *
 * A table is filled at start-up (from REST or a cached metadata file) and then only read;
 * lookups by native name are O(1) (open addressing) and do not allocate. Strings returned
 * point into the table and live as long as it does.
 *
 * Locality: filled by one thread; afterwards read-only and safe to share.
 */
#ifndef FH_MODEL_SYMBOLS_H
#define FH_MODEL_SYMBOLS_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define FH_SYMBOL_MAX 48 /* longest native or canonical name, bytes, including NUL */
#define FH_ASSET_MAX  24

struct fh_symbol {
    char native[FH_SYMBOL_MAX];    /* as the protocol names it: BTCUSDT, XBT/USD, BTC/USD */
    char canonical[FH_SYMBOL_MAX]; /* BASE-QUOTE */
    char base[FH_ASSET_MAX];
    char quote[FH_ASSET_MAX];
    uint8_t native_len;
    uint8_t canonical_len;
    int8_t price_decimals; /* from metadata, -1 if unknown */
    int8_t qty_decimals;   /* from metadata, -1 if unknown */
    char status[16];       /* exchange trading status as given ("TRADING", "online"), or "" */
};

struct fh_symbols {
    struct fh_symbol *items; /* owned */
    size_t n;
    size_t max;
    uint32_t *index; /* owned: open-addressing table of item index + 1, 0 = empty */
    size_t index_cap;
};

/* Prepares an empty table for at most max symbols. Returns 0 or FH_ENOMEM. */
int fh_symbols_init(struct fh_symbols *t, size_t max);
void fh_symbols_release(struct fh_symbols *t);

/*
 * Adds native -> BASE-QUOTE. Returns 0, FH_ENOSPACE (table full), FH_ERANGE (a name too
 * long), FH_EINVAL (empty name, or a base/quote containing '-') or FH_ESTATE if native is
 * already present with a different mapping (an identical re-add is a no-op). The new entry
 * is returned through *out if not NULL, so callers can fill decimals and status.
 */
int fh_symbols_add(struct fh_symbols *t, struct fh_str native, struct fh_str base,
                   struct fh_str quote, struct fh_symbol **out);

/* The entry for a native name, or NULL. */
const struct fh_symbol *fh_symbols_find(const struct fh_symbols *t, struct fh_str native);

#endif
