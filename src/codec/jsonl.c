/*
 * jsonl.c - JSON-lines rendering of struct fh_trade.
 *
 * As in the Avro encoder, the bounds check is done once per record against a worst case
 * (every string byte escaped to 6 bytes, every integer 20 characters); only a buffer smaller
 * than that pays for computing the exact length, so a line that fits exactly is accepted.
 */
#include "codec/jsonl.h"

#include "codec/jsonl_int.h"
#include "core/err.h"

#include <string.h>

/* The constant text between the values, in schema order. */
#define K_VENUE  "{\"venue\":"
#define K_SYMBOL ",\"symbol\":"
#define K_NATIVE ",\"native_symbol\":"
#define K_TID    ",\"trade_id\":"
#define K_FIRST  ",\"first_trade_id\":"
#define K_LAST   ",\"last_trade_id\":"
#define K_KIND   ",\"kind\":\""
#define K_PRICE  "\",\"price\":\""
#define K_QTY    "\",\"quantity\":\""
#define K_SIDE   "\",\"side\":\""
#define K_OTYPE  "\",\"order_type\":\""
#define K_TTIME  "\",\"trade_time\":"
#define K_ETIME  ",\"event_time\":"
#define K_RTIME  ",\"receive_time_ns\":"
#define K_SOURCE ",\"source\":\""
#define K_CONN   "\",\"connection_id\":"
#define K_SEQ    ",\"sequence\":"
#define K_END    "}\n"

#define KEYS_LEN                                                                                   \
    (LIT_LEN(K_VENUE) + LIT_LEN(K_SYMBOL) + LIT_LEN(K_NATIVE) + LIT_LEN(K_TID) +                   \
     LIT_LEN(K_FIRST) + LIT_LEN(K_LAST) + LIT_LEN(K_KIND) + LIT_LEN(K_PRICE) + LIT_LEN(K_QTY) +    \
     LIT_LEN(K_SIDE) + LIT_LEN(K_OTYPE) + LIT_LEN(K_TTIME) + LIT_LEN(K_ETIME) + LIT_LEN(K_RTIME) + \
     LIT_LEN(K_SOURCE) + LIT_LEN(K_CONN) + LIT_LEN(K_SEQ) + LIT_LEN(K_END))
#define ENUM_MAX_LEN 9 /* "AGG_TRADE" */
/* Everything but the string contents: keys, 3 pairs of quotes, 8 integers (or nulls), 2
 * decimals (plus the NUL fh_decimal_format() writes after them), 4 enum symbols. */
#define FIXED_MAX \
    (KEYS_LEN + 6 + 8 * INT_MAX_LEN + 2 * (FH_DECIMAL_TEXT_MAX + 1) + 4 * ENUM_MAX_LEN)

/* Indexed by the C enum values, which are the schema's symbol indexes (see avro.c). */
static const struct fh__jsonl_sym kind_syms[] = {SYM("TRADE"), SYM("AGG_TRADE")};
static const struct fh__jsonl_sym side_syms[] = {SYM("BUY"), SYM("SELL"), SYM("UNKNOWN")};
static const struct fh__jsonl_sym otype_syms[] = {SYM("MARKET"), SYM("LIMIT"), SYM("UNKNOWN")};
static const struct fh__jsonl_sym source_syms[] = {SYM("LIVE"), SYM("SNAPSHOT"), SYM("BACKFILL"),
                                                   SYM("REPLAY")};

static const char digits2[] = "00010203040506070809"
                              "10111213141516171819"
                              "20212223242526272829"
                              "30313233343536373839"
                              "40414243444546474849"
                              "50515253545556575859"
                              "60616263646566676869"
                              "70717273747576777879"
                              "80818283848586878889"
                              "90919293949596979899";

/* Byte classes for string escaping: 0 copy, 1 backslash + itself, 2 \u00XX, 3 non-ASCII. */
static inline unsigned esc_class(uint8_t c)
{
    if (c < 0x20)
        return 2;
    if (c >= 0x80)
        return 3;
    return c == '"' || c == '\\' ? 1 : 0;
}

static inline uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    char tmp[INT_MAX_LEN];
    char *end = tmp + sizeof(tmp), *q = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digits2 + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    size_t n = (size_t)(end - q);
    memcpy(p, q, n);
    return p + n;
}

static inline uint8_t *put_i64(uint8_t *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, 0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

static inline size_t u64_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static inline size_t i64_len(int64_t v)
{
    return v < 0 ? 1 + u64_len(0 - (uint64_t)v) : u64_len((uint64_t)v);
}

/* Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80), or 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/* Writes s as a quoted JSON string; at most 2 + 6 * s.n bytes. */
static uint8_t *put_str(uint8_t *p, struct fh_str str)
{
    const uint8_t *s = (const uint8_t *)str.p;
    size_t n = str.n, i = 0;
    *p++ = '"';
    while (i < n) {
        size_t run = i;
        while (run < n && esc_class(s[run]) == 0)
            run++;
        if (run > i) {
            memcpy(p, s + i, run - i);
            p += run - i;
            i = run;
            if (i == n)
                break;
        }
        uint8_t c = s[i];
        switch (esc_class(c)) {
        case 1:
            *p++ = '\\';
            *p++ = c;
            i++;
            break;
        case 2:
            p = PUT_LIT(p, "\\u00");
            *p++ = (uint8_t)fh_hex_lower[c >> 4];
            *p++ = (uint8_t)fh_hex_lower[c & 15];
            i++;
            break;
        default: {
            size_t k = utf8_seq(s + i, n - i);
            if (k == 0) {
                p = PUT_LIT(p, "\\ufffd");
                i++;
            } else {
                memcpy(p, s + i, k);
                p += k;
                i += k;
            }
            break;
        }
        }
    }
    *p++ = '"';
    return p;
}

static size_t str_len(struct fh_str str)
{
    const uint8_t *s = (const uint8_t *)str.p;
    size_t n = str.n, len = 2;
    for (size_t i = 0; i < n;) {
        switch (esc_class(s[i])) {
        case 0:
            len++;
            i++;
            break;
        case 1:
            len += 2;
            i++;
            break;
        case 2:
            len += 6;
            i++;
            break;
        default: {
            size_t k = utf8_seq(s + i, n - i);
            len += k == 0 ? 6 : k;
            i += k == 0 ? 1 : k;
            break;
        }
        }
    }
    return len;
}

/* The shared escaping for gap_jsonl.c; the trade encoder calls the static functions, which
 * the compiler may inline. */
uint8_t *fh__jsonl_put_str(uint8_t *p, struct fh_str s)
{
    return put_str(p, s);
}

size_t fh__jsonl_str_len(struct fh_str s)
{
    return str_len(s);
}

static inline uint8_t *put_opt_i64(uint8_t *p, bool has, int64_t v)
{
    if (!has)
        return PUT_LIT(p, "null");
    return put_i64(p, v);
}

static inline size_t opt_i64_len(bool has, int64_t v)
{
    return has ? i64_len(v) : 4;
}

static uint8_t *encode_line(uint8_t *p, const struct fh_trade *t)
{
    p = PUT_LIT(p, K_VENUE);
    p = put_str(p, t->venue);
    p = PUT_LIT(p, K_SYMBOL);
    p = put_str(p, t->symbol);
    p = PUT_LIT(p, K_NATIVE);
    p = put_str(p, t->native_symbol);
    p = PUT_LIT(p, K_TID);
    p = put_opt_i64(p, t->has & FH_HAS_TRADE_ID, t->trade_id);
    p = PUT_LIT(p, K_FIRST);
    p = put_opt_i64(p, t->has & FH_HAS_FIRST_TRADE_ID, t->first_trade_id);
    p = PUT_LIT(p, K_LAST);
    p = put_opt_i64(p, t->has & FH_HAS_LAST_TRADE_ID, t->last_trade_id);
    p = PUT_LIT(p, K_KIND);
    p = fh__jsonl_put_sym(p, &kind_syms[t->kind]);
    /* fh_decimal_format() writes a NUL after the text; the next literal overwrites it. */
    p = PUT_LIT(p, K_PRICE);
    p += fh_decimal_format(t->price, (char *)p);
    p = PUT_LIT(p, K_QTY);
    p += fh_decimal_format(t->quantity, (char *)p);
    p = PUT_LIT(p, K_SIDE);
    p = fh__jsonl_put_sym(p, &side_syms[t->side]);
    p = PUT_LIT(p, K_OTYPE);
    p = fh__jsonl_put_sym(p, &otype_syms[t->order_type]);
    p = PUT_LIT(p, K_TTIME);
    p = put_i64(p, t->trade_time_us);
    p = PUT_LIT(p, K_ETIME);
    p = put_opt_i64(p, t->has & FH_HAS_EVENT_TIME, t->event_time_us);
    p = PUT_LIT(p, K_RTIME);
    p = put_i64(p, t->receive_time_ns);
    p = PUT_LIT(p, K_SOURCE);
    p = fh__jsonl_put_sym(p, &source_syms[t->source]);
    p = PUT_LIT(p, K_CONN);
    p = put_i64(p, t->connection_id);
    p = PUT_LIT(p, K_SEQ);
    p = put_i64(p, t->sequence);
    p = PUT_LIT(p, K_END);
    return p;
}

/* The exact line length. Only used when the buffer is smaller than the worst case. */
static size_t line_len(const struct fh_trade *t)
{
    char dec[FH_DECIMAL_TEXT_MAX + 1];
    size_t n = KEYS_LEN;
    n += str_len(t->venue) + str_len(t->symbol) + str_len(t->native_symbol);
    n += opt_i64_len(t->has & FH_HAS_TRADE_ID, t->trade_id);
    n += opt_i64_len(t->has & FH_HAS_FIRST_TRADE_ID, t->first_trade_id);
    n += opt_i64_len(t->has & FH_HAS_LAST_TRADE_ID, t->last_trade_id);
    n += kind_syms[t->kind].n + side_syms[t->side].n + otype_syms[t->order_type].n +
         source_syms[t->source].n;
    n += fh_decimal_format(t->price, dec) + fh_decimal_format(t->quantity, dec);
    n += i64_len(t->trade_time_us) + opt_i64_len(t->has & FH_HAS_EVENT_TIME, t->event_time_us);
    n += i64_len(t->receive_time_ns) + i64_len(t->connection_id) + i64_len(t->sequence);
    return n;
}

/* Saturates instead of wrapping for absurd string lengths. */
static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t str_max(size_t n)
{
    return n > SIZE_MAX / 6 ? SIZE_MAX : 6 * n;
}

size_t fh_jsonl_trade_max_size(const struct fh_trade *t)
{
    size_t n = FIXED_MAX;
    n = add_sat(n, str_max(t->venue.n));
    n = add_sat(n, str_max(t->symbol.n));
    return add_sat(n, str_max(t->native_symbol.n));
}

int fh_jsonl_encode_trade(struct fh_fbuf *b, const struct fh_trade *t)
{
    if (b->overflow)
        return FH_ENOSPACE;
    if ((unsigned)t->kind > FH_KIND_AGG_TRADE || (unsigned)t->side > FH_SIDE_UNKNOWN ||
        (unsigned)t->order_type > FH_ORDER_UNKNOWN || (unsigned)t->source > FH_SOURCE_REPLAY)
        return FH_EINVAL;
    size_t room = b->cap - b->len;
    if (room < fh_jsonl_trade_max_size(t) && room < line_len(t)) {
        b->overflow = true;
        return FH_ENOSPACE;
    }
    uint8_t *p = encode_line(b->data + b->len, t);
    b->len = (size_t)(p - b->data);
    return 0;
}
