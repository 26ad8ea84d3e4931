/*
 * kraken_meta.c - Kraken symbol metadata, for both adapters: the AssetPairs document and the
 * v2 instrument channel, read into a symbol table (kraken.h states the contracts). The other
 * pieces the adapters share are in kraken_common.c.
 *
 * Decisions (see also ../../../shared/protocols.md section 2):
 *
 * Symbol metadata. Canonical names come from the data, never from stripping X/Z prefixes.
 * The source is GET /0/public/AssetPairs?assetVersion=1: its result keys are the ISO-style
 * display names ("BTC/USD", the v2 names) and its base/quote are display asset names
 * ("BTC", "DOGE", "XMR"), while wsname stays the v1 name ("XBT/USD", "XDG/USD"). So for
 * kraken-v1 native = wsname, for kraken-v2 native = the key, canonical = base-quote for
 * both. The legacy document (no assetVersion: keys XXBTZUSD, base XXBT) is refused with a
 * sentence: turning XXBT into BTC would need the prefix guessing we rule out. Dark-pool
 * pairs (key ending in ".d", no wsname) are skipped; for v1 so are entries without
 * wsname (they cannot be subscribed); all skips are counted. pair_decimals / lot_decimals
 * become price / qty decimals when they are integers in 0..18 (what decimal(38,18) can
 * carry), else stay unknown (-1). The v2 instrument channel (data.pairs[]) fills a v2
 * table the same way from symbol, base, quote, price_precision, qty_precision, status.
 *
 * Pure: no I/O, no clocks, no logging. fh_kraken_parse_metadata allocates a token array for
 * the duration of the call (once, at start-up).
 */
#include "venue/kraken.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- symbol metadata -------------------------------------------------------------------- */

static void meta_err(char *err, size_t errlen, const char *fmt, ...) FH_PRINTF(3, 4);
static void meta_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A string member of object obj decoded into buf; false if absent, not a string or too
 * long (then *too_long is set). */
static bool member_str(const struct fh_json *j, int obj, const char *key, char *buf, size_t cap,
                       struct fh_str *out, bool *too_long)
{
    int v = fh_json_get(j, obj, key);
    size_t n;
    *too_long = false;
    if (!fh_json_is_str(j, v))
        return false;
    int rc = fh_json_str(j, v, buf, cap, &n);
    if (rc != 0) {
        *too_long = true;
        return false;
    }
    *out = (struct fh_str){buf, n};
    return true;
}

/* Precision member as int8 decimals when an integer in 0..18, else -1. */
static int8_t member_decimals(const struct fh_json *j, int obj, const char *key)
{
    int64_t v;
    int tok = fh_json_get(j, obj, key);
    if (tok < 0 || fh_json_i64(j, tok, &v) != 0 || v < 0 || v > FH_DECIMAL_SCALE)
        return -1;
    return (int8_t)v;
}

static void member_status(const struct fh_json *j, int obj, struct fh_symbol *e)
{
    char buf[sizeof(e->status)];
    size_t n;
    int tok = fh_json_get(j, obj, "status");
    if (fh_json_is_str(j, tok) && fh_json_str(j, tok, buf, sizeof(buf), &n) == 0)
        memcpy(e->status, buf, n + 1);
}

/* fh_symbols_add with a sentence for each failure. */
static int add_symbol(struct fh_symbols *t, struct fh_str native, struct fh_str base,
                      struct fh_str quote, struct fh_symbol **e, char *err, size_t errlen)
{
    int rc = fh_symbols_add(t, native, base, quote, e);
    switch (rc) {
    case 0:
        return 0;
    case FH_ENOSPACE:
        meta_err(err, errlen, "more Kraken pairs than the symbol table holds (%zu)", t->max);
        break;
    case FH_ESTATE:
        meta_err(err, errlen, "Kraken pair \"%.*s\" appears twice with different assets",
                 (int)native.n, native.p);
        break;
    default:
        meta_err(err, errlen, "Kraken pair \"%.*s\" has unusable names (%.*s, %.*s): %s",
                 (int)native.n, native.p, (int)base.n, base.p, (int)quote.n, quote.p,
                 fh_strerror(rc));
        break;
    }
    return rc;
}

static bool ends_with(struct fh_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.n >= n && memcmp(s.p + s.n - n, suffix, n) == 0;
}

static int parse_assetpairs(const struct fh_json *j, enum fh_kraken_names names,
                            struct fh_symbols *t, struct fh_kraken_meta_stats *st, char *err,
                            size_t errlen)
{
    int et = fh_json_get(j, 0, "error");
    if (et >= 0 && fh_json_type(j, et) == JSMN_ARRAY && fh_json_size(j, et) > 0) {
        struct fh_str e0 = {"", 0};
        fh__kraken_raw_str(j, et + 1, &e0);
        meta_err(err, errlen, "Kraken AssetPairs answered with an error: %.*s", (int)e0.n, e0.p);
        return FH_EINVAL;
    }
    int res = fh_json_get(j, 0, "result");
    if (res < 0 || fh_json_type(j, res) != JSMN_OBJECT) {
        meta_err(err, errlen, "Kraken AssetPairs document has no \"result\" object");
        return FH_EINVAL;
    }
    /* First pass over the keys: a document without any "BASE/QUOTE" key is the legacy
     * form, whose asset codes (XXBT, ZUSD) we would have to guess at. */
    char key[FH_SYMBOL_MAX * 2];
    size_t n_keys = (size_t)fh_json_size(j, res), n_slash = 0;
    int k = res + 1;
    for (size_t c = 0; c < n_keys; c++) {
        struct fh_str s = fh_json_raw(j, k);
        if (memchr(s.p, '/', s.n) != NULL)
            n_slash++;
        k = fh_json_skip(j, k + 1);
    }
    if (n_keys > 0 && n_slash == 0) {
        meta_err(err, errlen,
                 "Kraken AssetPairs document is in the legacy form (keys like \"%.*s\"); "
                 "request /0/public/AssetPairs?assetVersion=1, whose base and quote are "
                 "display names, instead of guessing by stripping X/Z prefixes",
                 (int)fh_json_raw(j, res + 1).n, fh_json_raw(j, res + 1).p);
        return FH_EINVAL;
    }
    st->pairs = n_keys;
    k = res + 1;
    for (size_t c = 0; c < n_keys; c++, k = fh_json_skip(j, k + 1)) {
        size_t kn;
        int v = k + 1;
        if (fh_json_str(j, k, key, sizeof(key), &kn) != 0) {
            meta_err(err, errlen, "Kraken AssetPairs has an overlong pair key");
            return FH_ERANGE;
        }
        struct fh_str ks = {key, kn};
        if (ends_with(ks, ".d")) {
            st->dark_pool++;
            continue;
        }
        if (memchr(key, '/', kn) == NULL) {
            st->legacy_key++;
            continue;
        }
        if (fh_json_type(j, v) != JSMN_OBJECT) {
            meta_err(err, errlen, "Kraken AssetPairs entry \"%s\" is not an object", key);
            return FH_EINVAL;
        }
        char bb[FH_ASSET_MAX], qb[FH_ASSET_MAX], wb[FH_SYMBOL_MAX];
        struct fh_str base, quote, ws;
        bool long_b, long_q, long_w;
        bool has_b = member_str(j, v, "base", bb, sizeof(bb), &base, &long_b);
        bool has_q = member_str(j, v, "quote", qb, sizeof(qb), &quote, &long_q);
        bool has_w = member_str(j, v, "wsname", wb, sizeof(wb), &ws, &long_w);
        if (!has_b || !has_q) {
            meta_err(err, errlen, "Kraken AssetPairs entry \"%s\" has %s base or quote", key,
                     (long_b || long_q) ? "an overlong" : "no");
            return long_b || long_q ? FH_ERANGE : FH_EINVAL;
        }
        struct fh_str native = ks;
        if (names == FH_KRAKEN_NAMES_V1) {
            if (!has_w) {
                if (long_w) {
                    meta_err(err, errlen, "Kraken AssetPairs entry \"%s\" has an overlong wsname",
                             key);
                    return FH_ERANGE;
                }
                st->no_wsname++;
                continue;
            }
            native = ws;
        }
        struct fh_symbol *e;
        size_t before = t->n;
        int rc = add_symbol(t, native, base, quote, &e, err, errlen);
        if (rc != 0)
            return rc;
        e->price_decimals = member_decimals(j, v, "pair_decimals");
        e->qty_decimals = member_decimals(j, v, "lot_decimals");
        member_status(j, v, e);
        st->added += t->n - before; /* an identical repeat adds nothing */
    }
    return 0;
}

static int parse_instrument(const struct fh_json *j, struct fh_symbols *t, size_t *added, char *err,
                            size_t errlen)
{
    *added = 0;
    int ch = fh_json_get(j, 0, "channel");
    int data = fh_json_get(j, 0, "data");
    int pairs = fh_json_get(j, data, "pairs");
    if (!fh_json_str_eq(j, ch, "instrument") || pairs < 0 || fh_json_type(j, pairs) != JSMN_ARRAY) {
        meta_err(err, errlen, "not a Kraken v2 instrument message with data.pairs[]");
        return FH_EINVAL;
    }
    int k = pairs + 1;
    for (int c = 0; c < fh_json_size(j, pairs); c++, k = fh_json_skip(j, k)) {
        char sb[FH_SYMBOL_MAX], bb[FH_ASSET_MAX], qb[FH_ASSET_MAX];
        struct fh_str sym, base, quote;
        bool l1, l2, l3;
        if (fh_json_type(j, k) != JSMN_OBJECT ||
            !member_str(j, k, "symbol", sb, sizeof(sb), &sym, &l1) ||
            !member_str(j, k, "base", bb, sizeof(bb), &base, &l2) ||
            !member_str(j, k, "quote", qb, sizeof(qb), &quote, &l3)) {
            meta_err(err, errlen, "Kraken instrument pair %d lacks a usable symbol, base or quote",
                     c);
            return FH_EINVAL;
        }
        struct fh_symbol *e;
        size_t before = t->n;
        int rc = add_symbol(t, sym, base, quote, &e, err, errlen);
        if (rc != 0)
            return rc;
        e->price_decimals = member_decimals(j, k, "price_precision");
        e->qty_decimals = member_decimals(j, k, "qty_precision");
        member_status(j, k, e);
        *added += t->n - before; /* an identical repeat adds nothing */
    }
    return 0;
}

/* Bodies above this are not metadata: AssetPairs is about 1 MB today. */
#define FH_KRAKEN_META_MAX (64u << 20)

int fh_kraken_parse_metadata(const char *body, size_t len, enum fh_kraken_names names,
                             struct fh_symbols *t, struct fh_kraken_meta_stats *stats, char *err,
                             size_t errlen)
{
    struct fh_kraken_meta_stats st = {0};
    struct fh_json j;
    memset(&j, 0, sizeof(j));
    int rc;
    if (names != FH_KRAKEN_NAMES_V1 && names != FH_KRAKEN_NAMES_V2) {
        meta_err(err, errlen, "unknown Kraken naming");
        return FH_EINVAL;
    }
    if (len > FH_KRAKEN_META_MAX) {
        meta_err(err, errlen, "Kraken metadata document is too large (%zu bytes, at most %u)", len,
                 FH_KRAKEN_META_MAX);
        return FH_ERANGE;
    }
    /* Every token takes at least two bytes of text ("1," or "[]"), so len / 2 + 2 tokens
     * always suffice and the tokenizer never runs out. */
    rc = fh_json_init(&j, (uint32_t)(len / 2 + 2));
    if (rc != 0) {
        meta_err(err, errlen, "no memory for the Kraken metadata document");
        return rc;
    }
    rc = fh_json_parse(&j, body, len);
    if (rc != 0) {
        meta_err(err, errlen, "Kraken metadata document is not valid JSON (%s)",
                 fh_json_strerror(rc));
        rc = FH_EPARSE;
        goto out;
    }
    if (fh_json_type(&j, 0) != JSMN_OBJECT) {
        meta_err(err, errlen, "Kraken metadata document is not a JSON object");
        rc = FH_EINVAL;
        goto out;
    }
    if (fh_json_get(&j, 0, "channel") >= 0) {
        if (names != FH_KRAKEN_NAMES_V2) {
            meta_err(err, errlen,
                     "the v2 instrument channel names v2 symbols; kraken-v1 needs "
                     "AssetPairs (wsname)");
            rc = FH_EINVAL;
            goto out;
        }
        rc = parse_instrument(&j, t, &st.added, err, errlen);
        st.pairs = st.added;
    } else {
        rc = parse_assetpairs(&j, names, t, &st, err, errlen);
    }
out:
    fh_json_release(&j);
    if (stats != NULL)
        *stats = st;
    return rc;
}

int fh_kraken_v2_parse_instrument(struct fh_venue_parser *p, const char *msg, size_t len,
                                  struct fh_symbols *t, size_t *added, char *err, size_t errlen)
{
    size_t dummy;
    if (added == NULL)
        added = &dummy;
    *added = 0;
    enum fh_reject rej = FH_REJ_NONE;
    if (fh__kraken_tokenize(p, msg, len, &rej) != 0) {
        meta_err(err, errlen, "Kraken instrument message rejected: %s", fh_reject_name(rej));
        return FH_EPARSE;
    }
    if (fh_json_type(&p->json, 0) != JSMN_OBJECT) {
        meta_err(err, errlen, "not a Kraken v2 instrument message with data.pairs[]");
        return FH_EINVAL;
    }
    return parse_instrument(&p->json, t, added, err, errlen);
}
