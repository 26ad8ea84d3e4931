/*
 * decimal.c - exact decimal(38,18) parsing, formatting and Avro bytes.
 *
 * Parsing is one forward pass that checks the grammar and accumulates the integer and the
 * fraction digits into two uint64_t as it goes (eight digits at a time where it can). The
 * shapes exchanges send (at most 19 integer and 18 fraction digits, no exponent or a small
 * one) finish with one 64x64->128 multiplication. Everything else goes through build(), which
 * works from the significant digits alone (first to last non-zero digit), so zeros on either
 * side never count against the 38-digit budget and any exponent is handled exactly. There is
 * no division and no floating point in parsing. Errors take a separate, cold pass (classify)
 * that applies the precedence documented in decimal.h, which keeps the hot pass free of it.
 *
 * Formatting splits the unscaled value at 10^19 (one 128/64 division) and writes each half
 * as 19 zero-padded digits.
 */
#include "core/decimal.h"

#include <string.h>

#define P19 10000000000000000000ULL /* 10^19, the largest power of ten in a uint64_t */

/* An exponent magnitude is saturated here while it is read (10 * EXP_CAP + 9 still fits in an
 * int64_t, so reading cannot overflow). Any larger exponent gives the same verdict as this
 * one: the digit counts it is combined with are bounded by the length of a string in memory,
 * which is far below 10^17. */
#define EXP_CAP 100000000000000000LL /* 10^17 */

static const uint64_t pow10_u64[20] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL,
                                       10000000000000ULL,
                                       100000000000000ULL,
                                       1000000000000000ULL,
                                       10000000000000000ULL,
                                       100000000000000000ULL,
                                       1000000000000000000ULL,
                                       10000000000000000000ULL};

static inline bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

fh_i128 fh_decimal_max_units(void)
{
    return (fh_i128)((fh_u128)P19 * P19 - 1);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static bool starts_with_ci(const char *s, size_t n, const char *word)
{
    size_t wl = strlen(word);
    if (n < wl)
        return false;
    for (size_t i = 0; i < wl; i++) {
        if ((s[i] | 0x20) != word[i])
            return false;
    }
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Names what is wrong with text the fast pass rejected, in the precedence order documented in
 * decimal.h. Called only on failure, so it favours clarity over speed. */
static int classify(const char *s, size_t n, unsigned flags)
{
    if (n == 0)
        return FH_DEC_EEMPTY;
    size_t dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_space(s[i]))
            return FH_DEC_ESPACE;
        dots += s[i] == '.';
    }
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (starts_with_ci(s + i, n - i, "nan") || starts_with_ci(s + i, n - i, "snan") ||
        starts_with_ci(s + i, n - i, "inf"))
        return FH_DEC_ENAN;
    if (s[0] == '+' || (s[0] == '-' && !(flags & FH_DEC_ALLOW_NEG)))
        return FH_DEC_ESIGN;
    if (dots > 1)
        return FH_DEC_EDOTS;

    size_t start = i;
    while (i < n && is_digit(s[i]))
        i++;
    if (i == start)
        return FH_DEC_ESYNTAX;
    if ((flags & FH_DEC_JSON) && i - start > 1 && s[start] == '0')
        return FH_DEC_ESYNTAX;
    if (i < n && s[i] == '.') {
        start = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start)
            return FH_DEC_ESYNTAX;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (!(flags & FH_DEC_ALLOW_EXP))
            return FH_DEC_EEXPONENT;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        start = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start)
            return FH_DEC_ESYNTAX;
    }
    if (i < n)
        return FH_DEC_ETRAILING;
    /* Not reached: the fast pass accepts everything that gets this far. */
    return FH_DEC_ESYNTAX;
}

/* Accumulates the digits in p[0..len) (at most 19, no dot) into a uint64_t. */
static inline uint64_t acc_u64(const char *p, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    return v;
}

/* Accumulates `count` (<= 19) logical digits starting at physical position p, skipping the one
 * dot that may lie among them. */
static inline uint64_t acc_chunk(const char *p, size_t count, const char *dot)
{
    if (dot != NULL && p <= dot && dot < p + count) {
        size_t before = (size_t)(dot - p);
        uint64_t hi = acc_u64(p, before);
        return hi * pow10_u64[count - before] + acc_u64(dot + 1, count - before);
    }
    return acc_u64(p, count);
}

/*
 * Builds the value from the digit layout the grammar pass found: `ip` holds int_len integer
 * digits, then (if frac_len > 0) a dot and frac_len fraction digits; exp is the saturated
 * exponent. The logical digit sequence is the integer digits followed by the fraction digits;
 * logical index k sits at physical ip[k + (k >= int_len)].
 */
static int build(const char *ip, size_t int_len, size_t frac_len, int64_t exp, bool neg,
                 fh_decimal *out)
{
    size_t total = int_len + frac_len;
    const char *dot = frac_len ? ip + int_len : NULL;

    size_t lz = 0;
    while (lz < int_len && ip[lz] == '0')
        lz++;
    if (lz == int_len) {
        while (lz < total && ip[lz + 1] == '0')
            lz++;
    }
    if (lz == total) {
        out->units = 0; /* all zeros, whatever the sign and the exponent */
        return FH_DEC_OK;
    }
    /* The last digit is non-zero unless only integer digits end the number. */
    size_t tz = 0;
    while (ip[total - 1 - tz + (total - 1 - tz >= int_len)] == '0')
        tz++;

    size_t len = total - lz - tz; /* significant digits, 1.. */
    if (len > FH_DECIMAL_PRECISION)
        return FH_DEC_EDIGITS;
    /* value = S * 10^q, S the significant digits as an integer. */
    int64_t q = exp - (int64_t)frac_len + (int64_t)tz;
    if ((int64_t)len + q > FH_DECIMAL_PRECISION - FH_DECIMAL_SCALE)
        return FH_DEC_EDIGITS;
    if (q < -FH_DECIMAL_SCALE)
        return FH_DEC_EPRECISION;
    unsigned shift = (unsigned)(q + FH_DECIMAL_SCALE); /* units = S * 10^shift, <= 38 - len */

    const char *p = ip + lz + (lz >= int_len);
    fh_u128 units;
    if (len <= 19) {
        uint64_t v = acc_chunk(p, len, dot);
        if (shift <= 19) {
            units = (fh_u128)v * pow10_u64[shift];
        } else {
            units = (fh_u128)v * pow10_u64[shift - 19] * P19;
        }
    } else {
        size_t hi_len = len - 19;
        uint64_t hi = acc_chunk(p, hi_len, dot);
        const char *lo_p = p + hi_len + (dot != NULL && p <= dot && dot <= p + hi_len);
        uint64_t lo = acc_chunk(lo_p, 19, dot);
        /* shift <= 38 - len < 19 here. */
        units = ((fh_u128)hi * P19 + lo) * pow10_u64[shift];
    }
    out->units = neg ? -(fh_i128)units : (fh_i128)units;
    return FH_DEC_OK;
}

/* True if the 8 bytes of w (loaded little-endian) are all ASCII digits. */
static inline bool swar_is_8_digits(uint64_t w)
{
    /* A byte above '9' sets its top bit in the sum, one below '0' in the difference; with
     * all eight bytes digits neither operation carries between bytes. */
    uint64_t bad = (w + 0x4646464646464646ULL) | (w - 0x3030303030303030ULL);
    return (bad & 0x8080808080808080ULL) == 0;
}

/* The value of 8 ASCII digits loaded little-endian (first digit in the lowest byte): pairs,
 * then quads, then the octet, each step one multiplication. */
static inline uint64_t swar_8_digits(uint64_t w)
{
    w -= 0x3030303030303030ULL;
    w = (w * 10) + (w >> 8);
    w = (((w & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
         (((w >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >>
        32;
    return w & 0xffffffffu;
}

/* Scans the digits at p (up to end) and accumulates them onto *v, eight at a time where the
 * bytes are there to load. The sum wraps modulo 2^64 past 19 digits; callers check the count
 * (the returned pointer minus p) before trusting it. */
static inline const char *scan_digits(const char *p, const char *end, uint64_t *v)
{
    uint64_t x = *v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (!swar_is_8_digits(w))
            break;
        x = x * 100000000 + swar_8_digits(w);
        p += 8;
    }
#endif
    while (p < end && is_digit(*p)) {
        x = x * 10 + (uint64_t)(*p - '0');
        p++;
    }
    *v = x;
    return p;
}

/*
 * One pass over the text checks the grammar and accumulates the integer and fraction digits
 * as it goes. The common exchange shapes (at most 19 integer and 18 fraction digits, no
 * exponent) are finished right there: units = int * 10^18 + frac * 10^(18 - frac_len), one
 * 64x64->128 multiplication. Anything longer, and any exponent that does not reduce to a
 * small shift, is handed to build(), which works from the significant digits.
 */
int fh_decimal_parse(const char *s, size_t n, unsigned flags, fh_decimal *out)
{
    if (n == 0)
        return FH_DEC_EEMPTY; /* before any pointer arithmetic: s may be NULL */
    const char *p = s, *end = s + n;
    bool neg = false;
    if (*p == '-') {
        if (!(flags & FH_DEC_ALLOW_NEG))
            goto bad;
        neg = true;
        p++;
    }
    const char *ip = p;
    uint64_t iv = 0;
    p = scan_digits(p, end, &iv);
    size_t int_len = (size_t)(p - ip);
    if (int_len == 0 || ((flags & FH_DEC_JSON) && int_len > 1 && ip[0] == '0'))
        goto bad;
    uint64_t fv = 0;
    size_t frac_len = 0;
    if (p < end && *p == '.') {
        const char *fp = ++p;
        p = scan_digits(p, end, &fv);
        frac_len = (size_t)(p - fp);
        if (frac_len == 0)
            goto bad;
    }
    if (p == end) {
        if (int_len > 19 || frac_len > FH_DECIMAL_SCALE)
            return build(ip, int_len, frac_len, 0, neg, out);
        /* iv < 10^19 and fv < 10^frac_len: the sum is below 10^37 + 10^18. */
        fh_u128 u =
            (fh_u128)iv * pow10_u64[FH_DECIMAL_SCALE] + fv * pow10_u64[FH_DECIMAL_SCALE - frac_len];
        out->units = neg ? -(fh_i128)u : (fh_i128)u;
        return FH_DEC_OK;
    }

    if ((*p | 0x20) != 'e' || !(flags & FH_DEC_ALLOW_EXP))
        goto bad;
    p++;
    bool eneg = false;
    if (p < end && (*p == '+' || *p == '-')) {
        eneg = *p == '-';
        p++;
    }
    const char *ep = p;
    int64_t exp = 0;
    while (p < end && is_digit(*p)) {
        if (exp < EXP_CAP)
            exp = exp * 10 + (*p - '0');
        p++;
    }
    if (p == ep || p != end)
        goto bad;
    if (exp > EXP_CAP)
        exp = EXP_CAP;
    if (eneg)
        exp = -exp;
    if (int_len + frac_len <= 19) {
        /* Kraken's "1e-08": the whole mantissa is one uint64_t m, and units = m * 10^shift
         * when 0 <= shift <= 19 (then m * 10^shift < 10^38). */
        int64_t shift = FH_DECIMAL_SCALE - (int64_t)frac_len + exp;
        if (shift >= 0 && shift <= 19) {
            uint64_t m = iv * pow10_u64[frac_len] + fv;
            fh_u128 u = (fh_u128)m * pow10_u64[shift];
            out->units = neg ? -(fh_i128)u : (fh_i128)u;
            return FH_DEC_OK;
        }
    }
    return build(ip, int_len, frac_len, exp, neg, out);
bad:
    return classify(s, n, flags);
}

const char *fh_decimal_strerror(int err)
{
    switch (err) {
    case FH_DEC_OK:
        return "ok";
    case FH_DEC_EEMPTY:
        return "empty";
    case FH_DEC_ESIGN:
        return "sign not allowed";
    case FH_DEC_ENAN:
        return "not a number";
    case FH_DEC_ESPACE:
        return "whitespace";
    case FH_DEC_EDOTS:
        return "more than one dot";
    case FH_DEC_EDIGITS:
        return "too many digits";
    case FH_DEC_EPRECISION:
        return "more than 18 decimal places";
    case FH_DEC_ETRAILING:
        return "trailing garbage";
    case FH_DEC_ESYNTAX:
        return "malformed number";
    case FH_DEC_EEXPONENT:
        return "exponent not allowed";
    default:
        return "unknown decimal error";
    }
}

/* ---- formatting --------------------------------------------------------------------------- */

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* Writes v (< 10^8) as exactly 8 digits. The halves and quarters are independent, so the
 * divisions (multiplications by reciprocals) overlap instead of forming one long chain. */
static inline void put8(char *dst, uint32_t v)
{
    uint32_t hi = v / 10000, lo = v % 10000;
    memcpy(dst, digit_pairs + 2 * (hi / 100), 2);
    memcpy(dst + 2, digit_pairs + 2 * (hi % 100), 2);
    memcpy(dst + 4, digit_pairs + 2 * (lo / 100), 2);
    memcpy(dst + 6, digit_pairs + 2 * (lo % 100), 2);
}

/* Writes v (< 10^19) as exactly 19 digits, zero-padded: 3 + 8 + 8. */
static inline void put19(char *dst, uint64_t v)
{
    uint64_t top = v / 10000000000000000ULL, rest = v % 10000000000000000ULL;
    dst[0] = (char)('0' + top / 100);
    memcpy(dst + 1, digit_pairs + 2 * (top % 100), 2);
    put8(dst + 3, (uint32_t)(rest / 100000000));
    put8(dst + 11, (uint32_t)(rest % 100000000));
}

/* u / 10^19 and u % 10^19 for u < 10^38, so that the quotient fits in 64 bits. */
static inline uint64_t divmod_p19(fh_u128 u, uint64_t *rem)
{
    uint64_t hi = (uint64_t)(u >> 64), lo = (uint64_t)u;
    if (hi == 0) {
        *rem = lo % P19;
        return lo / P19;
    }
    /* One 128/64 division (a call to __udivti3, which takes its 64-bit-divisor path). */
    uint64_t q = (uint64_t)(u / P19);
    *rem = (uint64_t)(u - (fh_u128)q * P19);
    return q;
}

/* Splits |d| into its 38 zero-padded digits (20 integer, 18 fraction). Returns false if d is
 * out of range. */
static bool digits38(fh_decimal d, char dig[38], bool *neg)
{
    fh_i128 max = fh_decimal_max_units();
    if (d.units > max || d.units < -max)
        return false;
    *neg = d.units < 0;
    fh_u128 u = (fh_u128)(*neg ? -d.units : d.units);
    uint64_t low, top = divmod_p19(u, &low);
    put19(dig, top);
    put19(dig + 19, low);
    return true;
}

/* Writes the sign and the integer part (at least one digit). Returns the length. */
static size_t put_int(char *buf, const char dig[38], bool neg)
{
    size_t n = 0, i = 0;
    if (neg)
        buf[n++] = '-';
    while (i < 19 && dig[i] == '0')
        i++;
    memcpy(buf + n, dig + i, 20 - i);
    return n + 20 - i;
}

size_t fh_decimal_format(fh_decimal d, char *buf)
{
    char dig[38];
    bool neg;
    if (!digits38(d, dig, &neg)) {
        buf[0] = '\0';
        return 0;
    }
    size_t flen = 18;
    while (flen > 0 && dig[20 + flen - 1] == '0')
        flen--;
    size_t n = put_int(buf, dig, neg);
    if (flen > 0) {
        buf[n++] = '.';
        memcpy(buf + n, dig + 20, flen);
        n += flen;
    }
    buf[n] = '\0';
    return n;
}

size_t fh_decimal_format_fixed(fh_decimal d, unsigned places, char *buf)
{
    char dig[38];
    bool neg;
    buf[0] = '\0';
    if (places > FH_DECIMAL_SCALE || !digits38(d, dig, &neg))
        return 0;
    for (unsigned i = places; i < FH_DECIMAL_SCALE; i++) {
        if (dig[20 + i] != '0')
            return 0; /* would need rounding */
    }
    size_t n = put_int(buf, dig, neg);
    if (places > 0) {
        buf[n++] = '.';
        memcpy(buf + n, dig + 20, places);
        n += places;
    }
    buf[n] = '\0';
    return n;
}

/* ---- Avro bytes --------------------------------------------------------------------------- */

static inline void put_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

size_t fh_decimal_to_be_bytes(fh_decimal d, uint8_t out[16])
{
    fh_u128 v = (fh_u128)d.units;
    /* The bits that differ from the sign bit: the value for v >= 0, its complement below. */
    fh_u128 m = d.units < 0 ? ~v : v;
    uint64_t mhi = (uint64_t)(m >> 64), mlo = (uint64_t)m;
    unsigned bits = mhi ? 128u - (unsigned)__builtin_clzll(mhi)
                        : (mlo ? 64u - (unsigned)__builtin_clzll(mlo) : 0u);
    /* Those bits plus one sign bit, rounded up to whole bytes. */
    size_t len = bits / 8 + 1;
    uint8_t be[16];
    put_be64(be, (uint64_t)(v >> 64));
    put_be64(be + 8, (uint64_t)v);
    memcpy(out, be + 16 - len, len);
    return len;
}
