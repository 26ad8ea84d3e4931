/*
 * kraken_common.c - what the Kraken WebSocket v1 and v2 adapters share: time conversions,
 * side and order-type codes, request helpers and the REST public Trades parser. The symbol
 * metadata parsers (AssetPairs and the v2 instrument channel) are in kraken_meta.c.
 *
 * Decisions (see also ../../../shared/protocols.md section 2):
 *
 * Times. Every Kraken time becomes microseconds since the epoch with integer arithmetic
 * only, from the exact text; nothing goes through double, timegm or mktime.
 *   - v1 WebSocket "sec.micro" strings and REST number tokens share one parser
 *     (fh_kraken_epoch_us). Kraken's WebSocket sends six fraction digits, REST seven
 *     (1762795433.9717445, printed from a double, so the seventh digit is noise). A fraction
 *     with fewer than six digits is exact (".5" is 500000 µs); digits beyond the sixth are
 *     truncated toward -inf (times are never negative, so truncation is the floor). Floor
 *     is the one rule that agrees with the nanosecond "last" cursor (floor(ns / 1000)), keeps
 *     the order of times, and maps v1, v2 and REST renderings of one instant to one value.
 *     No fraction ("1617666461") is whole seconds. REST tokens may carry an exponent.
 *   - v2 RFC 3339 timestamps (fh_kraken_rfc3339_us): 0..9 fraction digits, beyond µs
 *     truncated for the same reasons (a message with a nanosecond time is not lost, and the
 *     µs contract keeps the floor of the instant). Offsets: "Z"/"z" and any numeric
 *     "+hh:mm"/"-hh:mm" (hh <= 23, mm <= 59), converted exactly; Kraken sends "Z". Leap
 *     seconds (":60") are rejected: Unix time has no representation for them.
 *   - Every time must lie in [1970-01-01T00:00:00Z, 9999-12-31T23:59:59.999999Z].
 *
 * Empty trade arrays (v1 [id,[],"trade",pair], v2 "data":[]) are accepted as FH_EV_TRADES
 * with zero trades: they are well-formed trade-channel messages (an empty v2 snapshot for an
 * idle pair is real), and the caller's loop over trades handles zero naturally. The v1 pair
 * is still looked up, so an unknown pair is rejected as for any trade message.
 *
 * REST public Trades. The result key is whatever Kraken calls the pair (XXBTZUSD, XBTUSDT,
 * BTC/USD) and is not compared with the request: the caller says which native symbol it
 * asked for. Rows have 7 elements (the last is trade_id) or, in older answers, 6 (no id).
 * Errors arrive with HTTP 200 in "error"; entries starting with 'W' are warnings and do not
 * stop the page from being read.
 */
#include "venue/kraken.h"

#include "core/err.h"
#include "venue/fast.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- times ------------------------------------------------------------------------------ */

int64_t fh_kraken_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's days_from_civil: eras of 400 years, March-based years so that the
     * leap day is the last day of the year. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int fh_kraken_epoch_us(const char *s, size_t n, unsigned flags, int64_t *out)
{
    size_t i = 0;
    while (i < n && is_digit(s[i]))
        i++;
    size_t int_len = i;
    if (int_len == 0 || (int_len > 1 && s[0] == '0'))
        return FH_EINVAL;
    size_t frac_start = 0, frac_len = 0;
    if (i < n && s[i] == '.') {
        frac_start = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        frac_len = i - frac_start;
        if (frac_len == 0)
            return FH_EINVAL;
    }
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (!(flags & FH_KRAKEN_TIME_EXP))
            return FH_EINVAL;
        i++;
        bool neg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        size_t d0 = i;
        while (i < n && is_digit(s[i])) {
            if (exp < 1000000) /* saturate: any larger exponent behaves the same */
                exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (i == d0)
            return FH_EINVAL;
        if (neg)
            exp = -exp;
    }
    if (i != n)
        return FH_EINVAL;
    if ((uint64_t)n > (uint64_t)INT64_MAX / 4)
        return FH_ERANGE;

    /* value * 10^6 = D * 10^shift, D being the integer written by all mantissa digits.
     * floor() of that keeps the first (digits + shift) digits of D when shift < 0. */
    int64_t shift = exp + 6 - (int64_t)frac_len;
    int64_t total = (int64_t)(int_len + frac_len);
    int64_t keep = shift >= 0 ? total : total + shift;
    const uint64_t max = (uint64_t)FH_KRAKEN_MAX_TIME_US;
    uint64_t acc = 0;
    for (int64_t k = 0; k < keep; k++) {
        char c = k < (int64_t)int_len ? s[k] : s[frac_start + (size_t)(k - (int64_t)int_len)];
        uint64_t d = (uint64_t)(c - '0');
        if (acc > (max - d) / 10)
            return FH_ERANGE;
        acc = acc * 10 + d;
    }
    for (int64_t k = 0; k < shift && acc != 0; k++) {
        if (acc > max / 10)
            return FH_ERANGE;
        acc *= 10;
    }
    *out = (int64_t)acc;
    return 0;
}

/* Exactly n digits at s into *v. */
static bool fixed_digits(const char *s, size_t n, unsigned *v)
{
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    *v = x;
    return true;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 29;
    return dim[m - 1];
}

int fh_kraken_rfc3339_us(const char *s, size_t n, int64_t *out)
{
    unsigned y, mo, d, h, mi, se;
    /* YYYY-MM-DDThh:mm:ss is 19 bytes; a zone takes at least one more. */
    if (n < 20 || !fixed_digits(s, 4, &y) || s[4] != '-' || !fixed_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !fixed_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !fixed_digits(s + 11, 2, &h) || s[13] != ':' || !fixed_digits(s + 14, 2, &mi) ||
        s[16] != ':' || !fixed_digits(s + 17, 2, &se))
        return FH_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
        return FH_EINVAL;
    size_t i = 19;
    int64_t frac_us = 0;
    if (s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        size_t nf = i - f0;
        if (nf == 0 || nf > 9)
            return FH_EINVAL;
        for (size_t k = 0; k < 6; k++)
            frac_us = frac_us * 10 + (k < nf ? s[f0 + k] - '0' : 0);
    }
    int64_t offset_min = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        unsigned oh, om;
        if (n - i != 6 || !fixed_digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !fixed_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return FH_EINVAL;
        offset_min = (int64_t)oh * 60 + om;
        if (s[i] == '-')
            offset_min = -offset_min;
        i += 6;
    } else {
        return FH_EINVAL;
    }
    if (i != n)
        return FH_EINVAL;
    int64_t days = fh_kraken_days_from_civil(y, mo, d);
    int64_t sec = ((days * 24 + h) * 60 + mi) * 60 + se - offset_min * 60;
    /* |sec| < 4e11 here, so the multiplication cannot overflow. */
    int64_t us = sec * 1000000 + frac_us;
    if (us < 0 || us > FH_KRAKEN_MAX_TIME_US)
        return FH_ERANGE;
    *out = us;
    return 0;
}

/* ---- codes ------------------------------------------------------------------------------ */

int fh_kraken_side(struct fh_str s, enum fh_side *out)
{
    if (fh_str_eq_c(s, "b") || fh_str_eq_c(s, "buy"))
        *out = FH_SIDE_BUY;
    else if (fh_str_eq_c(s, "s") || fh_str_eq_c(s, "sell"))
        *out = FH_SIDE_SELL;
    else
        return FH_EINVAL;
    return 0;
}

int fh_kraken_order_type(struct fh_str s, enum fh_order_type *out)
{
    if (fh_str_eq_c(s, "l") || fh_str_eq_c(s, "limit"))
        *out = FH_ORDER_LIMIT;
    else if (fh_str_eq_c(s, "m") || fh_str_eq_c(s, "market"))
        *out = FH_ORDER_MARKET;
    else
        return FH_EINVAL;
    return 0;
}

enum fh_system_status fh_kraken_status(struct fh_str s)
{
    if (fh_str_eq_c(s, "online"))
        return FH_STATUS_ONLINE;
    if (fh_str_eq_c(s, "maintenance"))
        return FH_STATUS_MAINTENANCE;
    if (fh_str_eq_c(s, "cancel_only"))
        return FH_STATUS_CANCEL_ONLY;
    if (fh_str_eq_c(s, "post_only"))
        return FH_STATUS_POST_ONLY;
    if (fh_str_eq_c(s, "limit_only"))
        return FH_STATUS_LIMIT_ONLY;
    return FH_STATUS_UNKNOWN;
}

/* ---- request helpers -------------------------------------------------------------------- */

void fh__kraken_buf_cut(struct fh_buf *b, size_t len)
{
    b->len = len;
    if (b->data != NULL)
        b->data[len] = '\0';
}

bool fh_kraken_symbol_ok(struct fh_str s)
{
    if (s.p == NULL || s.n == 0 || s.n >= FH_SYMBOL_MAX || memchr(s.p, '/', s.n) == NULL)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            return false;
    }
    return fh_utf8_valid(s.p, s.n);
}

int fh_kraken_append_symbols(const struct fh_sub_spec *spec, struct fh_buf *out)
{
    if (spec == NULL || spec->symbols == NULL || spec->n_symbols == 0)
        return FH_EINVAL;
    for (size_t i = 0; i < spec->n_symbols; i++) {
        if (!fh_kraken_symbol_ok(spec->symbols[i]))
            return FH_EINVAL;
    }
    size_t start = out->len;
    int rc = fh_buf_append(out, "[", 1);
    for (size_t i = 0; rc == 0 && i < spec->n_symbols; i++) {
        if (i > 0)
            rc = fh_buf_append(out, ",", 1);
        if (rc == 0)
            rc = fh_buf_append(out, "\"", 1);
        if (rc == 0)
            rc = fh_buf_append(out, spec->symbols[i].p, spec->symbols[i].n);
        if (rc == 0)
            rc = fh_buf_append(out, "\"", 1);
    }
    if (rc == 0)
        rc = fh_buf_append(out, "]", 1);
    if (rc != 0)
        fh__kraken_buf_cut(out, start);
    return rc;
}

/* Appends s percent-encoded: RFC 3986 unreserved characters pass, every other byte is %XX. */
static int append_pct(struct fh_buf *out, struct fh_str s)
{
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        char enc[3] = {'%', fh_hex_upper[c >> 4], fh_hex_upper[c & 15]};
        int rc = plain ? fh_buf_append(out, &s.p[i], 1) : fh_buf_append(out, enc, 3);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int fh_kraken_build_rest_trades(const struct fh_rest_req *req, bool v2, struct fh_buf *out)
{
    if (req == NULL || req->symbol.p == NULL || req->symbol.n == 0 ||
        req->symbol.n >= FH_SYMBOL_MAX || req->limit > 1000 || (req->since.n > 0 && !req->since.p))
        return FH_EINVAL;
    size_t start = out->len;
    int rc = fh_buf_appendf(out, "/0/public/Trades?pair=");
    if (rc == 0)
        rc = append_pct(out, req->symbol);
    if (rc == 0 && req->since.n > 0) {
        rc = fh_buf_appendf(out, "&since=");
        if (rc == 0)
            rc = append_pct(out, req->since);
    }
    if (rc == 0 && req->limit > 0)
        rc = fh_buf_appendf(out, "&count=%u", req->limit);
    if (rc == 0 && v2)
        rc = fh_buf_appendf(out, "&assetVersion=1");
    if (rc != 0)
        fh__kraken_buf_cut(out, start);
    return rc;
}

/* ---- token helpers ---------------------------------------------------------------------- */

bool fh__kraken_raw_str(const struct fh_json *j, int tok, struct fh_str *out)
{
    if (!fh_json_is_str(j, tok))
        return false;
    *out = fh_json_raw(j, tok);
    return true;
}

struct fh_str fh__kraken_key(const struct fh_json *j, int tok, char *buf, size_t cap)
{
    if (!j->esc[tok])
        return fh_json_raw(j, tok);
    size_t n;
    if (fh_json_str(j, tok, buf, cap, &n) != 0)
        return (struct fh_str){buf, 0};
    return (struct fh_str){buf, n};
}

int fh__kraken_symbol(const struct fh_venue_parser *p, int tok, struct fh_str *native,
                      struct fh_str *canonical, uint32_t *index, enum fh_reject *rej)
{
    const struct fh_json *j = &p->json;
    if (!fh_json_is_str(j, tok)) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    char buf[FH_SYMBOL_MAX];
    struct fh_str s = fh__kraken_key(j, tok, buf, sizeof(buf));
    const struct fh_symbol *e =
        (p->symbols != NULL && s.n > 0) ? fh_symbols_find(p->symbols, s) : NULL;
    if (e == NULL) {
        *rej = FH_REJ_UNKNOWN_SYMBOL;
        return -1;
    }
    /* A decoded name lives in buf, which dies here; the table holds the same bytes. */
    *native = j->esc[tok] ? (struct fh_str){e->native, e->native_len} : s;
    *canonical = (struct fh_str){e->canonical, e->canonical_len};
    *index = (uint32_t)(e - p->symbols->items);
    return 0;
}

int fh__kraken_decimal(const struct fh_json *j, int tok, enum fh_reject bad, fh_decimal *out,
                       enum fh_reject *rej)
{
    int rc = fh_json_decimal(j, tok, 0, out);
    if (rc == FH_EINVAL) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    if (rc != 0 || out->units <= 0) {
        *rej = bad;
        return -1;
    }
    return 0;
}

bool fh__kraken_fast_positive(struct fh_str v, uint8_t type, fh_decimal *out)
{
    unsigned flags;
    if (type == FH_FV_STR)
        flags = 0;
    else if (type == FH_FV_UINT || type == FH_FV_NUM)
        flags = FH_DEC_JSON | FH_DEC_ALLOW_EXP; /* what fh_json_decimal adds for numbers */
    else
        return false;
    return fh_decimal_parse(v.p, v.n, flags, out) == 0 && out->units > 0;
}

int fh__kraken_epoch_tok(const struct fh_json *j, int tok, int64_t *us, enum fh_reject *rej)
{
    struct fh_str t = fh_json_raw(j, tok);
    int rc;
    if (fh_json_is_str(j, tok))
        rc = j->esc[tok] ? FH_EINVAL : fh_kraken_epoch_us(t.p, t.n, 0, us);
    else if (fh_json_is_number(j, tok))
        rc = fh_kraken_epoch_us(t.p, t.n, FH_KRAKEN_TIME_EXP, us);
    else {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    if (rc != 0) {
        *rej = FH_REJ_BAD_TIME;
        return -1;
    }
    return 0;
}

int fh__kraken_req_id(const struct fh_json *j, int tok, struct fh_venue_msg *out)
{
    if (tok < 0)
        return 0;
    if (fh_json_i64(j, tok, &out->req_id) != 0) {
        out->req_id = 0;
        out->reject = FH_REJ_BAD_FIELD;
        return -1;
    }
    out->has_req_id = true;
    return 0;
}

int fh__kraken_tokenize(struct fh_venue_parser *p, const char *msg, size_t len, enum fh_reject *rej)
{
    if (len > p->opts.max_message_bytes) {
        *rej = FH_REJ_OVERSIZE;
        return -1;
    }
    if (!fh_utf8_valid(msg, len)) {
        *rej = FH_REJ_UTF8;
        return -1;
    }
    int rc = fh_json_parse(&p->json, msg, len);
    if (rc != 0) {
        *rej = rc == FH_JSON_ETOKENS ? FH_REJ_TOO_MANY_TOKENS
               : rc == FH_JSON_EUTF8 ? FH_REJ_UTF8
                                     : FH_REJ_JSON;
        return -1;
    }
    return 0;
}

/* ---- REST public Trades ----------------------------------------------------------------- */

/* One row [price, volume, time, side, type, misc(, trade_id)] into t. */
static int rest_row(const struct fh_json *j, int row, struct fh_trade *t, enum fh_reject *rej)
{
    if (fh_json_type(j, row) != JSMN_ARRAY) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    int m = fh_json_size(j, row);
    if (m < 6) {
        *rej = FH_REJ_MISSING_FIELD;
        return -1;
    }
    int e[7];
    int k = row + 1;
    for (int c = 0; c < m && c < 7; c++) {
        e[c] = k;
        k = fh_json_skip(j, k);
    }
    if (fh__kraken_decimal(j, e[0], FH_REJ_BAD_PRICE, &t->price, rej) != 0 ||
        fh__kraken_decimal(j, e[1], FH_REJ_BAD_QUANTITY, &t->quantity, rej) != 0 ||
        fh__kraken_epoch_tok(j, e[2], &t->trade_time_us, rej) != 0)
        return -1;
    struct fh_str side, type;
    if (!fh__kraken_raw_str(j, e[3], &side) || fh_kraken_side(side, &t->side) != 0 ||
        !fh__kraken_raw_str(j, e[4], &type) || fh_kraken_order_type(type, &t->order_type) != 0) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    if (m >= 7) {
        if (fh_json_i64(j, e[6], &t->trade_id) != 0 || t->trade_id < 0) {
            *rej = FH_REJ_BAD_FIELD;
            return -1;
        }
        t->has |= FH_HAS_TRADE_ID;
    }
    return 0;
}

/* Reads the "error" array: sets out->error to the first entry that is not a warning. */
static int rest_errors(const struct fh_json *j, int arr, struct fh_rest_page *out,
                       enum fh_reject *rej)
{
    if (fh_json_type(j, arr) != JSMN_ARRAY) {
        *rej = FH_REJ_BAD_FIELD;
        return -1;
    }
    int k = arr + 1;
    for (int c = 0; c < fh_json_size(j, arr); c++, k = fh_json_skip(j, k)) {
        struct fh_str s;
        if (!fh__kraken_raw_str(j, k, &s)) {
            *rej = FH_REJ_BAD_FIELD;
            return -1;
        }
        if (s.n > 0 && s.p[0] == 'W')
            continue; /* a warning ("WGeneral:..."): the result is still valid */
        if (out->error.n == 0 && s.n > 0)
            out->error = s;
        if (fh_str_eq_c(s, "EGeneral:Too many requests"))
            out->rate_limited = true;
    }
    return 0;
}

int fh_kraken_parse_rest_trades(struct fh_venue_parser *p, const char *body, size_t len,
                                struct fh_str symbol, struct fh_rest_page *out,
                                enum fh_reject *reject)
{
    memset(out, 0, sizeof(*out));
    out->trades = p->trades;
    *reject = FH_REJ_NONE;
    if (fh__kraken_tokenize(p, body, len, reject) != 0)
        return -1;
    const struct fh_json *j = &p->json;
    enum fh_reject rej = FH_REJ_NONE;
    if (fh_json_type(j, 0) != JSMN_OBJECT) {
        rej = FH_REJ_UNKNOWN_MESSAGE;
        goto fail;
    }
    int err_tok = -1, res_tok = -1;
    char kb[16];
    int k = 1;
    for (int c = 0; c < fh_json_size(j, 0); c++) {
        struct fh_str key = fh__kraken_key(j, k, kb, sizeof(kb));
        if (fh_str_eq_c(key, "error"))
            err_tok = k + 1;
        else if (fh_str_eq_c(key, "result"))
            res_tok = k + 1;
        k = fh_json_skip(j, k + 1);
    }
    if (err_tok < 0) {
        rej = FH_REJ_MISSING_FIELD;
        goto fail;
    }
    if (rest_errors(j, err_tok, out, &rej) != 0)
        goto fail;
    if (out->error.n > 0)
        return 0; /* an answer, not a malformed page: the caller backs off or gives up */
    if (res_tok < 0) {
        rej = FH_REJ_MISSING_FIELD;
        goto fail;
    }
    if (fh_json_type(j, res_tok) != JSMN_OBJECT) {
        rej = FH_REJ_BAD_FIELD;
        goto fail;
    }
    int rows = -1, last = -1;
    k = res_tok + 1;
    for (int c = 0; c < fh_json_size(j, res_tok); c++) {
        struct fh_str key = fh__kraken_key(j, k, kb, sizeof(kb));
        int v = k + 1;
        if (fh_str_eq_c(key, "last")) {
            last = v;
        } else if (fh_json_type(j, v) == JSMN_ARRAY) {
            if (rows >= 0) { /* we ask for one pair; two would be a different answer */
                rej = FH_REJ_BAD_FIELD;
                goto fail;
            }
            rows = v;
        }
        k = fh_json_skip(j, v);
    }
    if (rows < 0 || last < 0) {
        rej = FH_REJ_MISSING_FIELD;
        goto fail;
    }
    /* "last" is a string of nanoseconds; an integer token is taken as the same cursor. */
    if (fh_json_is_str(j, last) ? j->esc[last] != 0 : fh_json_u64(j, last, &(uint64_t){0}) != 0) {
        rej = FH_REJ_BAD_FIELD;
        goto fail;
    }
    out->cursor = fh_json_raw(j, last);

    const struct fh_symbol *e =
        (p->symbols != NULL && symbol.n > 0) ? fh_symbols_find(p->symbols, symbol) : NULL;
    if (e == NULL) {
        rej = FH_REJ_UNKNOWN_SYMBOL;
        goto fail;
    }
    size_t n = (size_t)fh_json_size(j, rows);
    if (n > p->opts.max_trades) {
        rej = FH_REJ_TOO_MANY_TRADES;
        goto fail;
    }
    k = rows + 1;
    for (size_t i = 0; i < n; i++) {
        struct fh_trade *t = &p->trades[i];
        *t = (struct fh_trade){
            .venue = fh_str_c(p->ops->venue),
            .symbol = {e->canonical, e->canonical_len},
            .native_symbol = {e->native, e->native_len},
            .kind = FH_KIND_TRADE,
            .source = FH_SOURCE_BACKFILL,
        };
        if (rest_row(j, k, t, &rej) != 0)
            goto fail;
        k = fh_json_skip(j, k);
    }
    out->n_trades = n;
    return 0;
fail:
    *reject = rej;
    out->n_trades = 0;
    out->cursor = (struct fh_str){NULL, 0};
    out->error = (struct fh_str){NULL, 0};
    out->rate_limited = false;
    return -1;
}

/* ---- configuration -------------------------------------------------------------------- */

static bool kraken_upper_alnum(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Kraken pairs are BASE/QUOTE on both protocols (BTC/USD on v2, XBT/USD on v1). */
int fh_kraken_check_symbol(const char *s, char *err, size_t errsz)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL) {
        snprintf(err, errsz,
                 "\"%s\" is not a native Kraken pair: it needs a slash (e.g. BTC/USD on v2, "
                 "XBT/USD on v1)",
                 s);
        return FH_EINVAL;
    }
    bool ok = slash != s && slash[1] != '\0' && strchr(slash + 1, '/') == NULL;
    for (const char *p = s; ok && *p != '\0'; p++)
        ok = p == slash || kraken_upper_alnum((unsigned char)*p) || *p == '.';
    if (!ok) {
        snprintf(err, errsz,
                 "\"%s\" is not a native Kraken pair: BASE/QUOTE in upper-case letters and "
                 "digits (e.g. BTC/USD)",
                 s);
        return FH_EINVAL;
    }
    return 0;
}
