/*
 * binance_rest.c - Binance spot: REST backfill pages and exchangeInfo symbol metadata
 * (../shared/protocols.md section 1). Their requests are built in binance_build.c; the
 * key scanner and trade readers are the stream parser's, in binance.c.
 *
 * REST: each row of a page is told apart by its keys, "id" (historicalTrades / trades) or
 * "a" (aggTrades). An error body {"code":..,"msg":..} is not a rejection: the page carries
 * the text in error, and rate_limited for -1003. Times follow opts.time_us, as for
 * the stream (the X-MBX-TIME-UNIT header).
 *
 * exchangeInfo: symbols[] entries need string symbol, baseAsset and quoteAsset; entries the
 * table cannot hold (names too long, empty or with control characters, '-' in an asset) are
 * skipped and counted in err, which is then set although the call succeeds. Decimals come
 * from PRICE_FILTER tickSize and LOT_SIZE stepSize (-1 when absent or zero); a status longer
 * than the table's field is left empty.
 *
 * Everything here is pure. Only exchangeInfo allocates: a token array sized to the document,
 * for the duration of the call (once, at start-up).
 */
#include "venue/binance_int.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* exchangeInfo is parsed once at start-up into a token array sized to the document; this
 * bounds that allocation (the real document is a few MiB). */
#define BN_METADATA_MAX (64u << 20)
/* ... and this bounds the token array (17 bytes a token): a real exchangeInfo needs about 250
 * tokens a symbol, under a million in all, while a hostile document of brackets could ask for
 * one token per byte. */
#define BN_METADATA_MAX_TOKENS (8u << 20)

/* ---- REST backfill ---------------------------------------------------------------------- */

static enum fh_reject json_reject(int err)
{
    switch (err) {
    case FH_JSON_ETOKENS:
        return FH_REJ_TOO_MANY_TOKENS;
    case FH_JSON_EUTF8:
        return FH_REJ_UTF8;
    default:
        return FH_REJ_JSON;
    }
}

/* One row of historicalTrades / trades ({id,price,qty,quoteQty,time,isBuyerMaker,...}) or of
 * aggTrades ({a,p,q,f,l,T,m,M}), told apart by "id" versus "a". */
static enum fh_reject parse_rest_row(const struct fh_json *j, int row, bool time_us,
                                     struct fh_trade *tr)
{
    if (fh_json_type(j, row) != JSMN_OBJECT)
        return FH_REJ_UNKNOWN_MESSAGE;
    struct bn_keys k;
    if (fh__binance_scan_object(j, row, &k) != 0)
        return FH_REJ_BAD_FIELD;
    const int *v = k.v;
    bool agg = v[K_a] != 0;
    if (agg == (v[K_id] != 0))
        return FH_REJ_UNKNOWN_MESSAGE; /* neither shape, or both at once */
    memset(tr, 0, sizeof(*tr));
    struct bn_trade_keys tk;
    if (agg) {
        tk = (struct bn_trade_keys){v[K_a], v[K_p], v[K_q], v[K_T], v[K_m]};
        if (v[K_f] == 0 || v[K_l] == 0)
            return FH_REJ_MISSING_FIELD;
    } else {
        tk = (struct bn_trade_keys){v[K_id], v[K_price], v[K_qty], v[K_time], v[K_isBuyerMaker]};
    }
    if (tk.price == 0 || tk.qty == 0 || tk.time == 0 || tk.maker == 0)
        return FH_REJ_MISSING_FIELD;
    if (!fh__binance_read_id(j, tk.id, &tr->trade_id))
        return FH_REJ_BAD_FIELD;
    tr->has = FH_HAS_TRADE_ID;
    tr->kind = FH_KIND_TRADE;
    if (agg) {
        if (!fh__binance_read_id(j, v[K_f], &tr->first_trade_id) ||
            !fh__binance_read_id(j, v[K_l], &tr->last_trade_id) ||
            tr->first_trade_id > tr->last_trade_id)
            return FH_REJ_BAD_FIELD;
        tr->has |= FH_HAS_FIRST_TRADE_ID | FH_HAS_LAST_TRADE_ID;
        tr->kind = FH_KIND_AGG_TRADE;
    }
    return fh__binance_read_trade_core(j, &tk, time_us, tr);
}

static int rest_reject(struct fh_rest_page *out, enum fh_reject *reject_out, enum fh_reject r)
{
    out->n_trades = 0;
    *reject_out = r;
    return -1;
}

int fh__binance_parse_rest_trades(struct fh_venue_parser *p, const char *body, size_t len,
                                  struct fh_str symbol, struct fh_rest_page *out,
                                  enum fh_reject *reject_out)
{
    memset(out, 0, sizeof(*out));
    out->trades = p->trades;
    *reject_out = FH_REJ_NONE;
    if (len > p->opts.max_message_bytes)
        return rest_reject(out, reject_out, FH_REJ_OVERSIZE);
    if (!fh_utf8_valid(body, len))
        return rest_reject(out, reject_out, FH_REJ_UTF8);
    int rc = fh_json_parse(&p->json, body, len);
    if (rc != 0)
        return rest_reject(out, reject_out, json_reject(rc));
    const struct fh_json *j = &p->json;

    if (fh_json_type(j, 0) == JSMN_OBJECT) {
        /* An error body: {"code":-1121,"msg":"Invalid symbol."}. */
        struct bn_keys k;
        if (fh__binance_scan_object(j, 0, &k) != 0)
            return rest_reject(out, reject_out, FH_REJ_BAD_FIELD);
        if (k.v[K_code] == 0 || k.v[K_msg] == 0)
            return rest_reject(out, reject_out, FH_REJ_UNKNOWN_MESSAGE);
        int64_t code;
        if (fh_json_i64(j, k.v[K_code], &code) != 0 || fh_json_type(j, k.v[K_msg]) != JSMN_STRING)
            return rest_reject(out, reject_out, FH_REJ_BAD_FIELD);
        out->error = fh_json_raw(j, k.v[K_msg]);
        out->rate_limited = code == -1003; /* TOO_MANY_REQUESTS */
        return 0;
    }

    size_t n = (size_t)j->tok[0].size;
    if (n > p->opts.max_trades)
        return rest_reject(out, reject_out, FH_REJ_TOO_MANY_TRADES);
    const struct fh_symbol *sym = find_symbol(p, symbol);
    if (sym == NULL)
        return rest_reject(out, reject_out, FH_REJ_UNKNOWN_SYMBOL);
    int row = 1;
    for (size_t i = 0; i < n; i++) {
        struct fh_trade *tr = &p->trades[i];
        enum fh_reject r = parse_rest_row(j, row, p->opts.time_us, tr);
        if (r != FH_REJ_NONE)
            return rest_reject(out, reject_out, r);
        tr->venue = BN_VENUE;
        tr->symbol = canonical_of(sym);
        tr->native_symbol = symbol;
        tr->source = FH_SOURCE_BACKFILL;
        row = fh_json_skip(j, row);
    }
    out->n_trades = n;
    return 0;
}

/* ---- exchangeInfo ----------------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) FH_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The number of JSON tokens jsmn will produce for a valid document: strings, primitives,
 * objects and arrays. For invalid input the count is merely some number <= n; the parse
 * then fails on its own. */
static size_t count_tokens(const char *s, size_t n)
{
    size_t count = 0;
    bool in_str = false, in_prim = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            in_prim = false;
            count++;
            break;
        case '{':
        case '[':
            in_prim = false;
            count++;
            break;
        case '}':
        case ']':
        case ',':
        case ':':
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            in_prim = false;
            break;
        default:
            if (!in_prim)
                count++;
            in_prim = true;
        }
    }
    return count;
}

/* Fraction digits of a filter step ("0.00001000" -> 5, "1.00000000" -> 0); -1 when the text
 * is not a positive decimal (a disabled filter has "0.00000000"). */
static int step_decimals(const struct fh_json *j, int i)
{
    fh_decimal d;
    if (fh_json_type(j, i) != JSMN_STRING || fh_json_decimal(j, i, 0, &d) != 0 || d.units <= 0)
        return -1;
    int places = FH_DECIMAL_SCALE;
    fh_i128 u = d.units;
    while (places > 0 && u % 10 == 0) {
        u /= 10;
        places--;
    }
    return places;
}

/* price_decimals / qty_decimals from PRICE_FILTER tickSize and LOT_SIZE stepSize. */
static void read_filters(const struct fh_json *j, int filters, struct fh_symbol *e)
{
    if (filters < 0 || fh_json_type(j, filters) != JSMN_ARRAY)
        return;
    int f = filters + 1;
    for (int c = 0; c < j->tok[filters].size; c++) {
        int type = fh_json_get(j, f, "filterType");
        if (fh_json_str_eq(j, type, "PRICE_FILTER")) {
            int ts = fh_json_get(j, f, "tickSize");
            if (ts >= 0)
                e->price_decimals = (int8_t)step_decimals(j, ts);
        } else if (fh_json_str_eq(j, type, "LOT_SIZE")) {
            int ss = fh_json_get(j, f, "stepSize");
            if (ss >= 0)
                e->qty_decimals = (int8_t)step_decimals(j, ss);
        }
        f = fh_json_skip(j, f);
    }
}

/* True if s has no control character: names end up in C strings, log lines and Kafka keys,
 * and a decoded \u0000 would cut the canonical name short of its length. */
static bool printable_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* Adds one symbols[] entry. Returns 0, 1 if the entry cannot be represented in the table
 * (a name too long, empty or with a control character, or an asset containing '-': skipped
 * and counted), or a negative code with err filled. */
static int add_symbol(const struct fh_json *j, int el, int idx, struct fh_symbols *t, char *err,
                      size_t errlen)
{
    if (fh_json_type(j, el) != JSMN_OBJECT) {
        set_err(err, errlen, "exchangeInfo: symbols[%d] is not an object", idx);
        return FH_EPARSE;
    }
    int si = fh_json_get(j, el, "symbol"), bi = fh_json_get(j, el, "baseAsset");
    int qi = fh_json_get(j, el, "quoteAsset");
    if (!fh_json_is_str(j, si) || !fh_json_is_str(j, bi) || !fh_json_is_str(j, qi)) {
        set_err(err, errlen,
                "exchangeInfo: symbols[%d] lacks a string symbol, baseAsset or quoteAsset", idx);
        return FH_EPARSE;
    }
    char native[FH_SYMBOL_MAX], base[FH_ASSET_MAX], quote[FH_ASSET_MAX];
    size_t nn, bn, qn;
    if (fh_json_str(j, si, native, sizeof(native), &nn) != 0 ||
        fh_json_str(j, bi, base, sizeof(base), &bn) != 0 ||
        fh_json_str(j, qi, quote, sizeof(quote), &qn) != 0)
        return 1;
    if (!printable_name(native, nn) || !printable_name(base, bn) || !printable_name(quote, qn))
        return 1;
    struct fh_str ns = {native, nn}, bs = {base, bn}, qs = {quote, qn};
    struct fh_symbol *e = NULL;
    int rc = fh_symbols_add(t, ns, bs, qs, &e);
    if (rc == FH_ERANGE || rc == FH_EINVAL)
        return 1;
    if (rc == FH_ENOSPACE) {
        set_err(err, errlen, "exchangeInfo: more than %zu symbols, the table is full", t->max);
        return rc;
    }
    if (rc != 0) {
        set_err(err, errlen, "exchangeInfo: symbol %.*s listed twice with different assets",
                (int)nn, native);
        return rc;
    }
    int st = fh_json_get(j, el, "status");
    e->status[0] = '\0';
    if (fh_json_is_str(j, st) && fh_json_str(j, st, e->status, sizeof(e->status), NULL) != 0)
        e->status[0] = '\0'; /* longer than any documented status: leave it unknown */
    read_filters(j, fh_json_get(j, el, "filters"), e);
    return 0;
}

/*
 * exchangeInfo -> symbols. The token array is allocated here, sized to the document (a real
 * exchangeInfo holds thousands of symbols and hundreds of thousands of tokens, far beyond a
 * stream parser's bound), and freed before returning: this runs once at start-up.
 * Entries that cannot be represented (see add_symbol) are skipped; if any were, err names
 * how many even though the call succeeds, so the caller can log it.
 */
int fh__binance_parse_metadata(const char *body, size_t len, struct fh_symbols *t, char *err,
                               size_t errlen)
{
    set_err(err, errlen, "%s", "");
    if (len > BN_METADATA_MAX) {
        set_err(err, errlen, "exchangeInfo: document of %zu bytes exceeds the %u byte limit", len,
                BN_METADATA_MAX);
        return FH_ERANGE;
    }
    if (body == NULL || len == 0 || t == NULL) {
        set_err(err, errlen, "exchangeInfo: empty document");
        return FH_EINVAL;
    }
    size_t ntok = count_tokens(body, len) + 1;
    if (ntok > BN_METADATA_MAX_TOKENS) {
        set_err(err, errlen, "exchangeInfo: document of %zu JSON tokens exceeds the %u limit", ntok,
                BN_METADATA_MAX_TOKENS);
        return FH_ERANGE;
    }
    struct fh_json j;
    int rc = fh_json_init(&j, (uint32_t)ntok);
    if (rc != 0) {
        set_err(err, errlen, "exchangeInfo: out of memory for the token array");
        return rc;
    }
    rc = fh_json_parse(&j, body, len);
    if (rc != 0) {
        set_err(err, errlen, "exchangeInfo: invalid JSON (%s)", fh_json_strerror(rc));
        rc = FH_EPARSE;
        goto out;
    }
    if (fh_json_type(&j, 0) != JSMN_OBJECT) {
        set_err(err, errlen, "exchangeInfo: the document is not an object");
        rc = FH_EPARSE;
        goto out;
    }
    int syms = fh_json_get(&j, 0, "symbols");
    if (syms < 0 || fh_json_type(&j, syms) != JSMN_ARRAY) {
        int msg = fh_json_get(&j, 0, "msg");
        struct fh_str m = fh_json_is_str(&j, msg) ? fh_json_raw(&j, msg) : FH_STR_LIT("");
        set_err(err, errlen, "exchangeInfo: no symbols array%s%.*s", m.n ? "; error: " : "",
                (int)m.n, m.p);
        rc = FH_EPARSE;
        goto out;
    }
    size_t added = 0, skipped = 0;
    int el = syms + 1;
    for (int c = 0; c < j.tok[syms].size; c++) {
        rc = add_symbol(&j, el, c, t, err, errlen);
        if (rc < 0)
            goto out;
        if (rc == 1)
            skipped++;
        else
            added++;
        el = fh_json_skip(&j, el);
    }
    rc = 0;
    if (added == 0) {
        set_err(err, errlen, "exchangeInfo: no usable symbols");
        rc = FH_EPARSE;
    } else if (skipped > 0) {
        set_err(err, errlen, "exchangeInfo: skipped %zu symbols whose names do not fit the table",
                skipped);
    }
out:
    fh_json_release(&j);
    return rc;
}
