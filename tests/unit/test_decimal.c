/*
 * test_decimal.c - exact decimal(38,18) parsing, formatting and Avro bytes (src/core/decimal.c).
 *
 * Expected values never come from the code under test: canonical text is computed here by
 * string manipulation (ref_parse moves the decimal point by shifting a digit string), and
 * expected unscaled units come from canonical text by padding the fraction to 18 digits.
 */
#include "testutil.h"

#include "core/decimal.h"

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEG    FH_DEC_ALLOW_NEG
#define EXP    FH_DEC_ALLOW_EXP
#define JSON   FH_DEC_JSON
#define NUMTOK (FH_DEC_JSON | FH_DEC_ALLOW_EXP | FH_DEC_ALLOW_NEG)

/* ---- independent helpers ------------------------------------------------------------------ */

/* splitmix64: a fixed-seed PRNG, so every run tests the same values. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(rng() % n);
}

/* Decimal text of a signed 128-bit integer, for failure messages. */
static const char *i128_str(fh_i128 v, char buf[48])
{
    char tmp[48];
    size_t n = 0;
    fh_u128 u = v < 0 ? -(fh_u128)v : (fh_u128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    size_t o = 0;
    if (v < 0)
        buf[o++] = '-';
    while (n > 0)
        buf[o++] = tmp[--n];
    buf[o] = '\0';
    return buf;
}

/* Integer value of a plain (optionally negative) digit string. */
static fh_i128 i128_of_digits(const char *s)
{
    bool neg = *s == '-';
    fh_u128 u = 0;
    for (s += neg; *s; s++)
        u = u * 10 + (fh_u128)(*s - '0');
    return neg ? -(fh_i128)u : (fh_i128)u;
}

/* Unscaled units of canonical text ("-12.5" -> -12500000000000000000): the integer digits,
 * then the fraction digits padded with zeros to 18. */
static fh_i128 units_of_canonical(const char *canon)
{
    char digits[64];
    size_t n = 0;
    const char *p = canon;
    if (*p == '-')
        digits[n++] = *p++;
    while (*p && *p != '.')
        digits[n++] = *p++;
    size_t f = 0;
    if (*p == '.') {
        for (p++; *p; p++, f++)
            digits[n++] = *p;
    }
    assert_true(f <= 18);
    for (; f < 18; f++)
        digits[n++] = '0';
    digits[n] = '\0';
    return i128_of_digits(digits);
}

/*
 * The reference model: decides by string manipulation what fh_decimal_parse must do with
 * s[0..n). Returns 0 and writes the canonical text to out (cap >= 64) for an accepted value,
 * FH_DEC_EDIGITS or FH_DEC_EPRECISION for well-formed text whose value does not fit, and
 * FH_DEC_ESYNTAX for any malformed text (the exact grammar reason is checked by the tables).
 */
static int ref_parse(const char *s, size_t n, unsigned flags, char *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') {
        if (!(flags & NEG))
            return FH_DEC_ESYNTAX;
        neg = true;
        i++;
    }
    size_t is = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t il = i - is;
    if (il == 0 || ((flags & JSON) && il > 1 && s[is] == '0'))
        return FH_DEC_ESYNTAX;
    size_t fs = i, fl = 0;
    if (i < n && s[i] == '.') {
        fs = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        fl = i - fs;
        if (fl == 0)
            return FH_DEC_ESYNTAX;
    }
    long long e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (!(flags & EXP))
            return FH_DEC_ESYNTAX;
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        size_t es = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (e < 1000000000LL)
                e = e * 10 + (s[i] - '0');
            i++;
        }
        if (i == es)
            return FH_DEC_ESYNTAX;
        if (eneg)
            e = -e;
    }
    if (i != n)
        return FH_DEC_ESYNTAX;

    /* All digits in one string; the point sits after `point` of them. */
    char *d = malloc(il + fl + 1);
    assert_non_null(d);
    memcpy(d, s + is, il);
    memcpy(d + il, s + fs, fl);
    size_t len = il + fl, a = 0, b = len;
    long long point = (long long)il + e;
    while (a < len && d[a] == '0') {
        a++;
        point--;
    }
    while (b > a && d[b - 1] == '0')
        b--;
    long long sig = (long long)(b - a);
    int rc = 0;
    if (sig == 0) {
        snprintf(out, 64, "0");
    } else if (point > 20 || sig > 38) {
        rc = FH_DEC_EDIGITS;
    } else if (sig - point > 18) {
        rc = FH_DEC_EPRECISION;
    } else {
        size_t o = 0;
        if (neg)
            out[o++] = '-';
        if (point <= 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (long long z = 0; z < -point; z++)
                out[o++] = '0';
            memcpy(out + o, d + a, (size_t)sig);
            o += (size_t)sig;
        } else if (point >= sig) {
            memcpy(out + o, d + a, (size_t)sig);
            o += (size_t)sig;
            for (long long z = 0; z < point - sig; z++)
                out[o++] = '0';
        } else {
            memcpy(out + o, d + a, (size_t)point);
            o += (size_t)point;
            out[o++] = '.';
            memcpy(out + o, d + a + point, (size_t)(sig - point));
            o += (size_t)(sig - point);
        }
        out[o] = '\0';
    }
    free(d);
    return rc;
}

/* Parses s with flags, expects success with canonical text `canon`, and checks the units
 * against units_of_canonical(canon) and the round trip through the formatted text. */
static void check_accept(const char *s, size_t n, unsigned flags, const char *canon)
{
    fh_decimal d;
    char buf[FH_DECIMAL_TEXT_MAX + 1], x[48], y[48];
    int rc = fh_decimal_parse(s, n, flags, &d);
    if (rc != 0)
        fail_msg("\"%.*s\" flags %u: rejected (%s), expected %s", (int)n, s, flags,
                 fh_decimal_strerror(rc), canon);
    fh_i128 want = units_of_canonical(canon);
    if (d.units != want)
        fail_msg("\"%.*s\": units %s, expected %s", (int)n, s, i128_str(d.units, x),
                 i128_str(want, y));
    size_t len = fh_decimal_format(d, buf);
    if (len != strlen(canon) || strcmp(buf, canon) != 0)
        fail_msg("\"%.*s\": formatted \"%s\", expected \"%s\"", (int)n, s, buf, canon);
    fh_decimal back;
    assert_int_equal(fh_decimal_parse(buf, len, NEG, &back), 0);
    assert_true(back.units == d.units);
}

static void check_reject(const char *s, size_t n, unsigned flags, int want)
{
    fh_decimal d = fh_decimal_from_units(12345);
    int rc = fh_decimal_parse(s, n, flags, &d);
    if (rc != want)
        fail_msg("\"%.*s\" flags %u: got %d (%s), expected %d (%s)", (int)n, s, flags, rc,
                 fh_decimal_strerror(rc), want, fh_decimal_strerror(want));
    /* The output is left untouched on error. */
    assert_true(d.units == 12345);
}

/* ---- 1. tables ---------------------------------------------------------------------------- */

struct accept_case {
    const char *text;
    unsigned flags;
    const char *canon;
    const char *units; /* the unscaled integer written out, or NULL */
};

static const struct accept_case accepts[] = {
    /* Exchange text. */
    {"16552.12000000", 0, "16552.12", "16552120000000000000000"},
    {"0.000023750", 0, "0.00002375", "23750000000000"},
    {"0.08620500", 0, "0.086205", NULL},
    {"15.8534", 0, "15.8534", NULL},
    {"58721.20000", 0, "58721.2", NULL},
    {"1617666461.465618", 0, "1617666461.465618", NULL},
    {"85772.4", NUMTOK, "85772.4", "85772400000000000000000"},
    {"40.0", NUMTOK, "40", "40000000000000000000"},
    {"1", NUMTOK, "1", "1000000000000000000"},
    {"1e-08", NUMTOK, "0.00000001", "10000000000"},
    {"2.5E+3", NUMTOK, "2500", "2500000000000000000000"},
    {"2.5e3", EXP, "2500", NULL},
    {"2.5E-3", EXP, "0.0025", NULL},
    {"123.456e1", EXP, "1234.56", NULL},
    {"123.456e-1", EXP, "12.3456", NULL},
    {"123.456e+0", EXP, "123.456", NULL},
    {"123.456e-0", EXP, "123.456", NULL},
    {"12257565262583683815", 0, "12257565262583683815", NULL},
    /* Zeros, signs, negative zero. */
    {"0", 0, "0", "0"},
    {"0", JSON, "0", "0"},
    {"0.0", 0, "0", "0"},
    {"-0", NEG, "0", "0"},
    {"-0.0", NEG, "0", "0"},
    {"-0", NUMTOK, "0", "0"},
    {"0.5", JSON, "0.5", NULL},
    {"-0.5", JSON | NEG, "-0.5", "-500000000000000000"},
    {"-16552.12", NEG, "-16552.12", NULL},
    {"1.10", 0, "1.1", NULL},
    {"10", 0, "10", NULL},
    {"100.000", 0, "100", NULL},
    /* Leading zeros outside JSON mode; long zero runs. */
    {"007.5", 0, "7.5", NULL},
    {"01", 0, "1", NULL},
    {"00", 0, "0", NULL},
    {"-00.50", NEG, "-0.5", NULL},
    {"0000000000000000000000000000000000000000001", 0, "1", "1000000000000000000"},
    {"1.0000000000000000000000", 0, "1", "1000000000000000000"},
    {"0.0000000000000000010000", 0, "0.000000000000000001", "1"},
    {"00000000000000000000000000000000000099999999999999999999.99999999999999999900000000000", 0,
     "99999999999999999999.999999999999999999", NULL},
    /* Exponents on zero and huge exponents that still give an exact value. */
    {"0e999999", EXP, "0", "0"},
    {"0.000e-9999", EXP, "0", "0"},
    {"0e99999999999999999999999999999999", EXP, "0", "0"},
    {"-0E-99999999999999999999999999999999", EXP | NEG, "0", "0"},
    {"0e5", JSON | EXP, "0", "0"},
    {"1000e-21", EXP, "0.000000000000000001", "1"},
    {"1E-0000000000000000000000000000000000018", EXP, "0.000000000000000001", "1"},
    {"1e+00000000000000000000000000000000000019", EXP, "10000000000000000000", NULL},
    {"100000000000000000000e-1", EXP, "10000000000000000000", NULL},
    {"0.00000000000000000000000000000000000000001e41", EXP, "1", NULL},
    /* Boundaries of decimal(38,18). */
    {"99999999999999999999.999999999999999999", 0, "99999999999999999999.999999999999999999",
     "99999999999999999999999999999999999999"},
    {"-99999999999999999999.999999999999999999", NEG, "-99999999999999999999.999999999999999999",
     "-99999999999999999999999999999999999999"},
    {"99999999999999999999", 0, "99999999999999999999", "99999999999999999999000000000000000000"},
    {"0.000000000000000001", 0, "0.000000000000000001", "1"},
    {"-0.000000000000000001", NEG, "-0.000000000000000001", "-1"},
    {"1e-18", EXP, "0.000000000000000001", "1"},
    {"1e19", EXP, "10000000000000000000", NULL},
    {"9.9999999999999999999999999999999999999e19", EXP, "99999999999999999999.999999999999999999",
     "99999999999999999999999999999999999999"},
    {"99999999999999999999999999999999999999e-18", EXP, "99999999999999999999.999999999999999999",
     NULL},
    {"12345678901234567890123456789012345678e-18", EXP, "12345678901234567890.123456789012345678",
     "12345678901234567890123456789012345678"},
    {"0.12345678901234567890123456789012345678e20", EXP, "12345678901234567890.123456789012345678",
     NULL},
    /* Around the 19-digit chunk boundary and 2^64. */
    {"1234567890123456789", 0, "1234567890123456789", NULL},
    {"12345678901234567890", 0, "12345678901234567890", NULL},
    {"1.234567890123456789", 0, "1.234567890123456789", NULL},
    {"12.34567890123456789", 0, "12.34567890123456789", NULL},
    {"1234567890123456789.1", 0, "1234567890123456789.1", NULL},
    {"18446744073709551615", 0, "18446744073709551615", NULL},
    {"18446744073709551616", 0, "18446744073709551616", NULL},
    {"0.18446744073709551", 0, "0.18446744073709551", "184467440737095510"},
};

static void test_parse_accepts_exchange_text_and_boundaries(void **state)
{
    (void)state;
    char x[48], y[48];
    for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
        const struct accept_case *c = &accepts[i];
        check_accept(c->text, strlen(c->text), c->flags, c->canon);
        if (c->units != NULL) {
            fh_decimal d;
            assert_int_equal(fh_decimal_parse(c->text, strlen(c->text), c->flags, &d), 0);
            fh_i128 want = i128_of_digits(c->units);
            if (d.units != want)
                fail_msg("\"%s\": units %s, expected %s", c->text, i128_str(d.units, x),
                         i128_str(want, y));
        }
    }
}

struct reject_case {
    const char *text;
    unsigned flags;
    int err;
};

static const struct reject_case rejects[] = {
    {"", 0, FH_DEC_EEMPTY},
    {"", NUMTOK, FH_DEC_EEMPTY},
    /* Signs. */
    {"-1", 0, FH_DEC_ESIGN},
    {"-1", EXP | JSON, FH_DEC_ESIGN},
    {"+1", 0, FH_DEC_ESIGN},
    {"+1", NEG, FH_DEC_ESIGN},
    {"+1", NUMTOK, FH_DEC_ESIGN},
    {"+0", NEG, FH_DEC_ESIGN},
    {"-", 0, FH_DEC_ESIGN},
    {"+", NEG, FH_DEC_ESIGN},
    {"+-1", NEG, FH_DEC_ESIGN},
    {"+1.2.3", NEG, FH_DEC_ESIGN},
    /* NaN and infinities, any case, with or without a sign. */
    {"nan", 0, FH_DEC_ENAN},
    {"NaN", NUMTOK, FH_DEC_ENAN},
    {"NAN", 0, FH_DEC_ENAN},
    {"-nan", NEG, FH_DEC_ENAN},
    {"-nan", 0, FH_DEC_ENAN},
    {"+nan", 0, FH_DEC_ENAN},
    {"sNaN", 0, FH_DEC_ENAN},
    {"nan(123)", 0, FH_DEC_ENAN},
    {"inf", 0, FH_DEC_ENAN},
    {"INF", NUMTOK, FH_DEC_ENAN},
    {"-inf", NEG, FH_DEC_ENAN},
    {"+inf", NEG, FH_DEC_ENAN},
    {"Infinity", NUMTOK, FH_DEC_ENAN},
    {"-Infinity", NUMTOK, FH_DEC_ENAN},
    {"infinity", 0, FH_DEC_ENAN},
    /* Whitespace anywhere, before any other reason. */
    {" ", 0, FH_DEC_ESPACE},
    {" 1", 0, FH_DEC_ESPACE},
    {"1 ", 0, FH_DEC_ESPACE},
    {"1 2", 0, FH_DEC_ESPACE},
    {"1. 5", 0, FH_DEC_ESPACE},
    {"\t1", 0, FH_DEC_ESPACE},
    {"1\n", 0, FH_DEC_ESPACE},
    {"1\r", 0, FH_DEC_ESPACE},
    {"1\v", 0, FH_DEC_ESPACE},
    {"1\f", 0, FH_DEC_ESPACE},
    {"- 1", NEG, FH_DEC_ESPACE},
    {"1e 5", EXP, FH_DEC_ESPACE},
    {" nan", 0, FH_DEC_ESPACE},
    {"+1 ", 0, FH_DEC_ESPACE},
    {"1.2.3 ", 0, FH_DEC_ESPACE},
    /* Dots. */
    {"1.2.3", 0, FH_DEC_EDOTS},
    {"1..2", 0, FH_DEC_EDOTS},
    {"..", 0, FH_DEC_EDOTS},
    {"-1.2.3", NEG, FH_DEC_EDOTS},
    {"1.2e3.4", EXP, FH_DEC_EDOTS},
    {"1.2x.", 0, FH_DEC_EDOTS},
    /* Magnitude and significant digits. */
    {"100000000000000000000", 0, FH_DEC_EDIGITS},
    {"-100000000000000000000", NEG, FH_DEC_EDIGITS},
    {"123456789012345678901", 0, FH_DEC_EDIGITS},
    {"999999999999999999999.999999999999999999", 0, FH_DEC_EDIGITS},
    {"-999999999999999999999.999999999999999999", NEG, FH_DEC_EDIGITS},
    {"99999999999999999999.9999999999999999999", 0, FH_DEC_EDIGITS},
    {"0.1234567890123456789012345678901234567890", 0, FH_DEC_EDIGITS},
    {"100000000000000000000.0", 0, FH_DEC_EDIGITS},
    {"1e20", EXP, FH_DEC_EDIGITS},
    {"1E+20", NUMTOK, FH_DEC_EDIGITS},
    {"10e19", EXP, FH_DEC_EDIGITS},
    {"0.1e21", EXP, FH_DEC_EDIGITS},
    {"1e999999999999999999", EXP, FH_DEC_EDIGITS},
    {"-1e999999999999999999", NUMTOK, FH_DEC_EDIGITS},
    {"1e99999999999999999999999999999999999999999999999999", EXP, FH_DEC_EDIGITS},
    {"9.99999999999999999999999999999999999999e19", EXP, FH_DEC_EDIGITS},
    /* Precision: a non-zero digit beyond 18 places. */
    {"0.0000000000000000001", 0, FH_DEC_EPRECISION},
    {"0.00000000000000000010000", 0, FH_DEC_EPRECISION},
    {"-0.0000000000000000001", NEG, FH_DEC_EPRECISION},
    {"1.0000000000000000001", 0, FH_DEC_EPRECISION},
    {"1e-19", EXP, FH_DEC_EPRECISION},
    {"1e-99999", EXP, FH_DEC_EPRECISION},
    {"1e-999999999999999999999999", EXP, FH_DEC_EPRECISION},
    {"0.1e-18", EXP, FH_DEC_EPRECISION},
    {"123e-20", EXP, FH_DEC_EPRECISION},
    {"5E-324", NUMTOK, FH_DEC_EPRECISION},
    /* Trailing garbage. */
    {"1x", 0, FH_DEC_ETRAILING},
    {"1.5x", 0, FH_DEC_ETRAILING},
    {"1-", NEG, FH_DEC_ETRAILING},
    {"1+1", 0, FH_DEC_ETRAILING},
    {"0x10", 0, FH_DEC_ETRAILING},
    {"1e5x", EXP, FH_DEC_ETRAILING},
    {"1e5.3", EXP, FH_DEC_ETRAILING},
    {"1e5e5", EXP, FH_DEC_ETRAILING},
    {"1e-5-", EXP, FH_DEC_ETRAILING},
    {"1,5", 0, FH_DEC_ETRAILING},
    {"1\"", 0, FH_DEC_ETRAILING},
    {"1ee5", 0, FH_DEC_EEXPONENT},
    /* Exponents where none is allowed, and incomplete exponents. */
    {"1e5", 0, FH_DEC_EEXPONENT},
    {"1E5", NEG | JSON, FH_DEC_EEXPONENT},
    {"1e", 0, FH_DEC_EEXPONENT},
    {"1.5e-3", NEG, FH_DEC_EEXPONENT},
    {"1e", EXP, FH_DEC_ESYNTAX},
    {"1e+", EXP, FH_DEC_ESYNTAX},
    {"1e-", EXP, FH_DEC_ESYNTAX},
    {"1E+-5", EXP, FH_DEC_ESYNTAX},
    {"1ex", EXP, FH_DEC_ESYNTAX},
    /* Missing digits, JSON leading zeros and other malformed text. */
    {"-", NEG, FH_DEC_ESYNTAX},
    {".", 0, FH_DEC_ESYNTAX},
    {"1.", 0, FH_DEC_ESYNTAX},
    {".5", 0, FH_DEC_ESYNTAX},
    {"-.5", NEG, FH_DEC_ESYNTAX},
    {"1.e5", EXP, FH_DEC_ESYNTAX},
    {"1.e5", 0, FH_DEC_ESYNTAX},
    {"e5", EXP, FH_DEC_ESYNTAX},
    {"abc", 0, FH_DEC_ESYNTAX},
    {"--1", NEG, FH_DEC_ESYNTAX},
    {"-+1", NEG, FH_DEC_ESYNTAX},
    {"01", JSON, FH_DEC_ESYNTAX},
    {"-01", JSON | NEG, FH_DEC_ESYNTAX},
    {"00", JSON, FH_DEC_ESYNTAX},
    {"00.5", JSON, FH_DEC_ESYNTAX},
    {"-00", NUMTOK, FH_DEC_ESYNTAX},
    {"0123e5", NUMTOK, FH_DEC_ESYNTAX},
    {"in", 0, FH_DEC_ESYNTAX},
    {"na", 0, FH_DEC_ESYNTAX},
    {"\xc2\xbd", 0, FH_DEC_ESYNTAX},
};

static void test_parse_rejects_with_documented_reason(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++)
        check_reject(rejects[i].text, strlen(rejects[i].text), rejects[i].flags, rejects[i].err);
    /* Bytes after n are never read: "1.5" followed by garbage is fine with n = 3. */
    check_accept("1.5xyz", 3, 0, "1.5");
    check_accept("2.5e3 ", 5, EXP, "2500");
    /* Embedded NUL is garbage, not a terminator. */
    check_reject("1\0", 2, 0, FH_DEC_ETRAILING);
    check_reject("1.\0"
                 "5",
                 4, 0, FH_DEC_ESYNTAX);
    /* NULL with n == 0 is just empty text. */
    check_reject(NULL, 0, 0, FH_DEC_EEMPTY);
}

/* Long runs of zeros and exponents that cancel: digit counts far beyond 38 are fine as long as
 * the significant digits fit, and the exponent arithmetic does not overflow. */
static void test_parse_long_zero_runs_and_cancelling_exponents_are_exact(void **state)
{
    (void)state;
    enum { Z = 5000 };
    char *s = malloc(2 * Z + 64);
    assert_non_null(s);

    /* 0.<Z zeros>1e<Z+1> == 1 */
    size_t n = 0;
    memcpy(s + n, "0.", 2), n += 2;
    memset(s + n, '0', Z), n += Z;
    n += (size_t)snprintf(s + n, 64, "1e%d", Z + 1);
    check_accept(s, n, EXP, "1");
    /* The same with one more zero is 10^-1; with Z+19 it would need 19 places. */
    n = 0;
    memcpy(s + n, "0.", 2), n += 2;
    memset(s + n, '0', Z), n += Z;
    n += (size_t)snprintf(s + n, 64, "1e%d", Z - 17);
    check_accept(s, n, EXP, "0.000000000000000001");
    n = 0;
    memcpy(s + n, "0.", 2), n += 2;
    memset(s + n, '0', Z), n += Z;
    n += (size_t)snprintf(s + n, 64, "1e%d", Z - 18);
    check_reject(s, n, EXP, FH_DEC_EPRECISION);

    /* 1<Z zeros>e-<Z> == 1; 1<Z zeros> alone is too big. */
    n = 0;
    s[n++] = '1';
    memset(s + n, '0', Z), n += Z;
    check_reject(s, n, 0, FH_DEC_EDIGITS);
    n += (size_t)snprintf(s + n, 64, "e-%d", Z);
    check_accept(s, n, EXP, "1");

    /* <Z zeros>7.<Z zeros> == 7, and the same with a negative sign. */
    n = 0;
    s[n++] = '-';
    memset(s + n, '0', Z), n += Z;
    s[n++] = '7';
    s[n++] = '.';
    memset(s + n, '0', Z), n += Z;
    check_accept(s, n, NEG, "-7");
    check_accept(s + 1, n - 1, 0, "7");
    free(s);
}

static void test_strerror_names_every_reason(void **state)
{
    (void)state;
    static const int errs[] = {FH_DEC_EEMPTY,  FH_DEC_ESIGN,    FH_DEC_ENAN,       FH_DEC_ESPACE,
                               FH_DEC_EDOTS,   FH_DEC_EDIGITS,  FH_DEC_EPRECISION, FH_DEC_ETRAILING,
                               FH_DEC_ESYNTAX, FH_DEC_EEXPONENT};
    const char *unknown = fh_decimal_strerror(-1000);
    assert_non_null(unknown);
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        const char *name = fh_decimal_strerror(errs[i]);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_string_not_equal(name, unknown);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(name, fh_decimal_strerror(errs[j]));
    }
    assert_string_not_equal(fh_decimal_strerror(0), unknown);
}

/* ---- 2. corpus ---------------------------------------------------------------------------- */

struct corpus_stats {
    jsmntok_t *toks;
    size_t ntoks;
    size_t strings;      /* string tokens checked */
    size_t numbers;      /* number tokens checked */
    size_t fractional;   /* number tokens with a dot or an exponent */
    size_t out_of_range; /* well-formed values outside decimal(38,18), all reported */
};

/* ^-?[0-9]+(\.[0-9]+)?$ */
static bool is_plain_decimal(const char *s, size_t n)
{
    size_t i = s[0] == '-' ? 1 : 0, d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d)
        return false;
    if (i == n)
        return true;
    if (s[i++] != '.')
        return false;
    d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i > d && i == n;
}

static void check_corpus_value(const char *s, size_t n, unsigned flags, struct corpus_stats *st)
{
    char canon[64];
    int want = ref_parse(s, n, flags, canon);
    if (want != 0) {
        /* Only a value that does not fit may be rejected, and with the matching reason. */
        fh_decimal d;
        int rc = fh_decimal_parse(s, n, flags, &d);
        if (want == FH_DEC_ESYNTAX || rc != want)
            fail_msg("corpus value \"%.*s\": got %s, reference says %s", (int)n, s,
                     fh_decimal_strerror(rc), fh_decimal_strerror(want));
        if (st->out_of_range++ < 20)
            printf("  out of decimal(38,18) range (%s): %.*s\n", fh_decimal_strerror(rc), (int)n,
                   s);
        return;
    }
    check_accept(s, n, flags, canon);
}

static void check_json(const char *js, size_t len, struct corpus_stats *st)
{
    if (len == 0)
        return;
    if (st->ntoks < len / 2 + 16) {
        st->ntoks = len / 2 + 16;
        st->toks = realloc(st->toks, st->ntoks * sizeof(*st->toks));
        assert_non_null(st->toks);
    }
    jsmn_parser p;
    jsmn_init(&p);
    int r = jsmn_parse(&p, js, len, st->toks, (unsigned)st->ntoks);
    if (r < 0)
        fail_msg("jsmn error %d on: %.*s", r, (int)(len > 200 ? 200 : len), js);
    for (int i = 0; i < r; i++) {
        const jsmntok_t *t = &st->toks[i];
        const char *s = js + t->start;
        size_t n = (size_t)(t->end - t->start);
        if (t->type == JSMN_STRING && n > 0 && is_plain_decimal(s, n)) {
            check_corpus_value(s, n, s[0] == '-' ? NEG : 0, st);
            st->strings++;
        } else if (t->type == JSMN_PRIMITIVE && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
            check_corpus_value(s, n, NUMTOK, st);
            st->numbers++;
            if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
                st->fractional++;
        }
    }
}

static void corpus_line(const char *line, size_t len, void *ctx)
{
    check_json(line, len, ctx);
}

static void corpus_ndjson(const char *path, void *ctx)
{
    fh_test_each_line(path, corpus_line, ctx);
}

static void corpus_json(const char *path, void *ctx)
{
    size_t len;
    char *buf = fh_test_read_file(path, &len);
    check_json(buf, len, ctx);
    free(buf);
}

static void test_corpus_prices_and_quantities_round_trip(void **state)
{
    (void)state;
    const char *dir = fh_test_corpus_dir();
    struct corpus_stats st = {0};
    size_t files = fh_test_each_file(dir, ".ndjson", corpus_ndjson, &st);
    files += fh_test_each_file(dir, ".json", corpus_json, &st);
    free(st.toks);
    printf("  corpus: %zu files, %zu decimal strings, %zu number tokens (%zu with a fraction "
           "or exponent), %zu out of range\n",
           files, st.strings, st.numbers, st.fractional, st.out_of_range);
    assert_true(files >= 30);
    assert_true(st.strings > 100000);
    assert_true(st.numbers > 10000);
    assert_true(st.fractional > 500);
}

/* ---- 3. properties ------------------------------------------------------------------------ */

/* Canonical text of an unscaled integer given as digits (no leading zeros, may be "0"). */
static void canon_of_unit_digits(const char *digits, bool neg, char *out)
{
    size_t len = strlen(digits), o = 0;
    if (neg && strcmp(digits, "0") != 0)
        out[o++] = '-';
    char padded[64];
    size_t pl = 0;
    for (size_t z = len; z < 19; z++)
        padded[pl++] = '0'; /* at least one integer digit */
    memcpy(padded + pl, digits, len);
    pl += len;
    size_t il = pl - 18;
    memcpy(out + o, padded, il);
    o += il;
    size_t fl = 18;
    while (fl > 0 && padded[il + fl - 1] == '0')
        fl--;
    if (fl > 0) {
        out[o++] = '.';
        memcpy(out + o, padded + il, fl);
        o += fl;
    }
    out[o] = '\0';
}

static void test_random_units_format_then_parse_back(void **state)
{
    (void)state;
    rng_state = 1;
    char digits[40], want[64], buf[FH_DECIMAL_TEXT_MAX + 1];
    for (int i = 0; i < 1000000; i++) {
        unsigned len = 1 + rnd(38);
        fh_u128 u = 0;
        for (unsigned k = 0; k < len; k++) {
            digits[k] = (char)('0' + (k == 0 && len > 1 ? 1 + rnd(9) : rnd(10)));
            u = u * 10 + (fh_u128)(digits[k] - '0');
        }
        digits[len] = '\0';
        bool neg = rng() & 1;
        fh_decimal d = fh_decimal_from_units(neg ? -(fh_i128)u : (fh_i128)u);
        canon_of_unit_digits(digits, neg, want);

        size_t n = fh_decimal_format(d, buf);
        if (n != strlen(want) || strcmp(buf, want) != 0)
            fail_msg("units %s%s: formatted \"%s\", expected \"%s\"", neg ? "-" : "", digits, buf,
                     want);
        fh_decimal back;
        assert_int_equal(fh_decimal_parse(buf, n, NEG, &back), 0);
        assert_true(back.units == d.units);
    }
}

/* Appends c to a text being built. */
#define PUT(c) (txt[tn++] = (c))

/* Random text for a random in-range value, in many equivalent spellings: leading zeros,
 * trailing zeros, exponents that move the point either way, exponent signs and leading zeros.
 * The canonical text comes from the chosen digits, not from the spelling. */
static void test_random_text_parses_to_generator_canonical(void **state)
{
    (void)state;
    rng_state = 2;
    char txt[256], want[64], g[48];
    for (int i = 0; i < 1000000; i++) {
        /* The value: ni significant integer digits, nf fraction digits (last non-zero). */
        unsigned ni = rnd(21), nf = rnd(19);
        char idig[24], fdig[24];
        for (unsigned k = 0; k < ni; k++)
            idig[k] = (char)('0' + (k == 0 ? 1 + rnd(9) : rnd(10)));
        for (unsigned k = 0; k < nf; k++)
            fdig[k] = (char)('0' + (k == nf - 1 ? 1 + rnd(9) : rnd(10)));
        bool neg = rnd(2);
        bool zero = ni == 0 && nf == 0;
        size_t o = 0;
        if (neg && !zero)
            want[o++] = '-';
        if (ni == 0)
            want[o++] = '0';
        memcpy(want + o, idig, ni), o += ni;
        if (nf > 0) {
            want[o++] = '.';
            memcpy(want + o, fdig, nf), o += nf;
        }
        want[o] = '\0';

        /* The significant digit string g and its point position: value = 0.g * 10^point. */
        size_t gl = 0;
        memcpy(g, idig, ni), gl = ni;
        memcpy(g + gl, fdig, nf), gl += nf;
        long point = (long)ni;
        size_t ga = 0;
        while (ga < gl && g[ga] == '0') {
            ga++;
            point--;
        }

        unsigned flags = neg ? NEG : (rnd(2) ? NEG : 0);
        bool json = rnd(2);
        unsigned lead = json ? 0 : rnd(4), trail = rnd(4);
        long k = rnd(3) == 0 ? 0 : (long)rnd(51) - 25; /* exponent */
        bool use_exp = k != 0 || rnd(2);
        size_t tn = 0;
        if (neg)
            PUT('-');
        /* The mantissa: the digits with the point at point - k. */
        long mp = point - k;
        const char *sd = g + ga;
        long sl = (long)(gl - ga);
        for (unsigned z = 0; z < lead; z++)
            PUT('0');
        bool has_frac;
        if (sl == 0) {
            PUT('0');
            has_frac = false;
        } else if (mp <= 0) {
            PUT('0');
            PUT('.');
            for (long z = 0; z < -mp; z++)
                PUT('0');
            memcpy(txt + tn, sd, (size_t)sl), tn += (size_t)sl;
            has_frac = true;
        } else if (mp >= sl) {
            memcpy(txt + tn, sd, (size_t)sl), tn += (size_t)sl;
            for (long z = 0; z < mp - sl; z++)
                PUT('0');
            has_frac = false;
        } else {
            memcpy(txt + tn, sd, (size_t)mp), tn += (size_t)mp;
            PUT('.');
            memcpy(txt + tn, sd + mp, (size_t)(sl - mp)), tn += (size_t)(sl - mp);
            has_frac = true;
        }
        if (trail > 0 && !has_frac)
            PUT('.');
        for (unsigned z = 0; z < trail; z++)
            PUT('0');
        if (use_exp) {
            flags |= EXP;
            PUT(rnd(2) ? 'e' : 'E');
            if (k < 0)
                PUT('-');
            else if (rnd(2))
                PUT(k == 0 && rnd(2) ? '-' : '+');
            for (unsigned z = rnd(3); z > 0; z--)
                PUT('0');
            tn += (size_t)snprintf(txt + tn, sizeof(txt) - tn, "%ld", k < 0 ? -k : k);
        } else if (rnd(2)) {
            flags |= EXP; /* allowed but not used */
        }
        if (json)
            flags |= JSON;
        txt[tn] = '\0';
        check_accept(txt, tn, flags, want);
    }
}

/* Random byte strings from a small alphabet: never a crash, never an out-of-bounds read
 * (each string is copied into an exact-size heap block for ASan), and the verdict matches the
 * reference model: accepted values round-trip to its canonical text, out-of-range values get
 * its reason, and malformed text gets a grammar reason. */
static void test_random_bytes_are_rejected_or_round_trip(void **state)
{
    (void)state;
    rng_state = 3;
    static const char alpha[] = "0123456789.-+eE nN";
    size_t accepted = 0;
    int seen[16] = {0};
    for (int i = 0; i < 1000000; i++) {
        size_t n = rnd(4) == 0 ? rnd(40) : rnd(12);
        char *s = malloc(n + 1);
        assert_non_null(s);
        bool space = false;
        for (size_t k = 0; k < n; k++) {
            /* Digits are favoured so that many strings are valid numbers; an occasional
             * arbitrary byte probes the eight-at-a-time digit check. */
            unsigned r = rnd(16);
            if (r < 8)
                s[k] = (char)('0' + rnd(10));
            else if (r < 15)
                s[k] = alpha[rnd(sizeof(alpha) - 1)];
            else
                s[k] = (char)rnd(256); /* any byte, including NUL and >= 0x80 */
            space |= s[k] == ' ' || (s[k] >= '\t' && s[k] <= '\r');
        }
        unsigned flags = rnd(8);
        char canon[64];
        int want = ref_parse(s, n, flags, canon);
        fh_decimal d = fh_decimal_from_units(777);
        int rc = fh_decimal_parse(s, n, flags, &d);
        assert_true(rc <= 0 && rc >= FH_DEC_EEXPONENT);
        seen[-rc]++;
        if (want == 0) {
            if (rc != 0)
                fail_msg("\"%.*s\" flags %u: rejected (%s), reference accepts %s", (int)n, s, flags,
                         fh_decimal_strerror(rc), canon);
            check_accept(s, n, flags, canon);
            accepted++;
        } else if (want == FH_DEC_ESYNTAX) {
            if (rc == 0 || rc == FH_DEC_EDIGITS || rc == FH_DEC_EPRECISION)
                fail_msg("\"%.*s\" flags %u: got %s, reference says malformed", (int)n, s, flags,
                         fh_decimal_strerror(rc));
            assert_true(d.units == 777);
        } else if (rc != want) {
            fail_msg("\"%.*s\" flags %u: got %s, reference says %s", (int)n, s, flags,
                     fh_decimal_strerror(rc), fh_decimal_strerror(want));
        }
        if (n == 0)
            assert_int_equal(rc, FH_DEC_EEMPTY);
        else if (space)
            assert_int_equal(rc, FH_DEC_ESPACE);
        free(s);
    }
    printf("  random bytes: %zu accepted of 1000000\n", accepted);
    assert_true(accepted > 50000);
    /* Every reason the alphabet can produce was produced at least once. */
    for (int e = 0; e <= -FH_DEC_EEXPONENT; e++) {
        if (e == -FH_DEC_ENAN)
            continue; /* "nan" needs an 'a' */
        if (seen[e] == 0)
            fail_msg("reason %s never produced", fh_decimal_strerror(-e));
    }
}

/* ---- 4. Avro bytes ------------------------------------------------------------------------ */

static fh_i128 decode_be(const uint8_t *b, size_t len)
{
    fh_u128 v = (b[0] & 0x80) ? ~(fh_u128)0 : 0; /* sign extension */
    for (size_t i = 0; i < len; i++)
        v = (v << 8) | b[i];
    return (fh_i128)v;
}

static void check_be(fh_i128 v)
{
    uint8_t out[16];
    char x[48];
    size_t len = fh_decimal_to_be_bytes(fh_decimal_from_units(v), out);
    if (len < 1 || len > 16)
        fail_msg("%s: length %zu", i128_str(v, x), len);
    if (decode_be(out, len) != v)
        fail_msg("%s: bytes do not decode back", i128_str(v, x));
    /* Minimal: the first byte is not a redundant sign extension of the second. */
    if (len > 1 && ((out[0] == 0x00 && !(out[1] & 0x80)) || (out[0] == 0xff && (out[1] & 0x80))))
        fail_msg("%s: %zu bytes, not minimal", i128_str(v, x), len);
}

static void test_be_bytes_edge_values(void **state)
{
    (void)state;
    fh_i128 max = fh_decimal_max_units();
    fh_i128 i128_max = (fh_i128)(~(fh_u128)0 >> 1);
    struct {
        fh_i128 v;
        const char *hex;
    } cases[] = {
        {0, "00"},
        {1, "01"},
        {127, "7f"},
        {128, "0080"},
        {255, "00ff"},
        {256, "0100"},
        {32767, "7fff"},
        {32768, "008000"},
        {-1, "ff"},
        {-127, "81"},
        {-128, "80"},
        {-129, "ff7f"},
        {-256, "ff00"},
        {-32768, "8000"},
        {-32769, "ff7fff"},
        {(fh_i128)1 << 63, "008000000000000000"},
        {-((fh_i128)1 << 63), "8000000000000000"},
        {max, "4b3b4ca85a86c47a098a223fffffffff"},
        {-max, "b4c4b357a5793b85f675ddc000000001"},
        {i128_max, "7fffffffffffffffffffffffffffffff"},
        {-i128_max - 1, "80000000000000000000000000000000"},
    };
    char x[48];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t out[16];
        char hex[40];
        size_t len = fh_decimal_to_be_bytes(fh_decimal_from_units(cases[i].v), out);
        for (size_t k = 0; k < len; k++)
            snprintf(hex + 2 * k, 3, "%02x", out[k]);
        hex[2 * len] = '\0';
        if (strcmp(hex, cases[i].hex) != 0)
            fail_msg("%s: bytes %s, expected %s", i128_str(cases[i].v, x), hex, cases[i].hex);
        check_be(cases[i].v);
    }
    /* 10^38 - 1, the largest decimal(38,18), is below 2^127, so 16 bytes always suffice. */
    assert_true((fh_u128)max < ((fh_u128)1 << 127));
    assert_true(max == units_of_canonical("99999999999999999999.999999999999999999"));
}

static void test_be_bytes_random_values_decode_back_minimal(void **state)
{
    (void)state;
    rng_state = 4;
    for (int i = 0; i < 300000; i++) {
        unsigned bits = rnd(128);
        fh_u128 u = ((fh_u128)rng() << 64) | rng();
        u = bits == 0 ? 0 : u >> (128 - bits);
        fh_i128 v = (fh_i128)u;
        check_be(v);
        check_be(-v);
        check_be(~v);
    }
    /* Every power of two and its neighbours. */
    for (unsigned b = 0; b < 127; b++) {
        fh_i128 p = (fh_i128)1 << b;
        check_be(p);
        check_be(p - 1);
        check_be(p + 1);
        check_be(-p);
        check_be(-p - 1);
        check_be(-p + 1);
    }
}

/* ---- 5. fixed places ---------------------------------------------------------------------- */

static void test_format_fixed_pads_and_never_rounds(void **state)
{
    (void)state;
    struct {
        const char *value;
        unsigned places;
        const char *want; /* "" when the call must fail */
    } cases[] = {
        {"0.3528", 8, "0.35280000"},
        {"0.3528", 4, "0.3528"},
        {"0.3528", 3, ""},
        {"16552.12", 2, "16552.12"},
        {"16552.12", 1, ""},
        {"16552.125", 2, ""},
        {"1", 0, "1"},
        {"1", 1, "1.0"},
        {"1.5", 0, ""},
        {"-0.5", 1, "-0.5"},
        {"-0.5", 3, "-0.500"},
        {"-0.5", 0, ""},
        {"-12", 0, "-12"},
        {"0", 0, "0"},
        {"0", 18, "0.000000000000000000"},
        {"0.000000000000000001", 18, "0.000000000000000001"},
        {"0.000000000000000001", 17, ""},
        {"99999999999999999999.999999999999999999", 18, "99999999999999999999.999999999999999999"},
        {"-99999999999999999999.999999999999999999", 18,
         "-99999999999999999999.999999999999999999"},
        {"-99999999999999999999", 0, "-99999999999999999999"},
        {"1", 19, ""},
        {"0", 100, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fh_decimal d = fh_decimal_from_units(units_of_canonical(cases[i].value));
        char buf[FH_DECIMAL_TEXT_MAX + 1];
        memset(buf, 'x', sizeof(buf));
        size_t n = fh_decimal_format_fixed(d, cases[i].places, buf);
        if (n != strlen(cases[i].want) || strcmp(buf, cases[i].want) != 0)
            fail_msg("%s places %u: \"%s\" (%zu), expected \"%s\"", cases[i].value, cases[i].places,
                     buf, n, cases[i].want);
    }

    /* Random values: padded canonical text when the places suffice, failure otherwise. */
    rng_state = 5;
    for (int i = 0; i < 200000; i++) {
        char digits[40], canon[64], want[64], buf[FH_DECIMAL_TEXT_MAX + 1];
        unsigned len = 1 + rnd(38);
        for (unsigned k = 0; k < len; k++)
            digits[k] = (char)('0' + (k == 0 && len > 1 ? 1 + rnd(9) : rnd(10)));
        /* Trailing zeros make short fractions common. */
        for (unsigned k = len - rnd(len < 18 ? len : 18); k < len; k++)
            digits[k] = '0';
        if (digits[0] == '0')
            len = 1;
        digits[len] = '\0';
        bool neg = rnd(2);
        canon_of_unit_digits(digits, neg, canon);
        unsigned places = rnd(20);
        const char *dot = strchr(canon, '.');
        size_t fl = dot ? strlen(dot + 1) : 0;
        if (places > 18 || fl > places) {
            want[0] = '\0';
        } else {
            size_t o = strlen(canon);
            memcpy(want, canon, o);
            if (places > 0 && fl == 0)
                want[o++] = '.';
            for (size_t z = fl; z < places; z++)
                want[o++] = '0';
            want[o] = '\0';
        }
        fh_decimal d = fh_decimal_from_units(units_of_canonical(canon));
        size_t n = fh_decimal_format_fixed(d, places, buf);
        if (n != strlen(want) || strcmp(buf, want) != 0)
            fail_msg("%s places %u: \"%s\", expected \"%s\"", canon, places, buf, want);
    }
}

static void test_format_refuses_out_of_range_units(void **state)
{
    (void)state;
    fh_i128 max = fh_decimal_max_units();
    char buf[FH_DECIMAL_TEXT_MAX + 1];
    fh_i128 bad[] = {max + 1, -max - 1, (fh_i128)(~(fh_u128)0 >> 1),
                     -(fh_i128)(~(fh_u128)0 >> 1) - 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(buf, 'x', sizeof(buf));
        assert_int_equal(fh_decimal_format(fh_decimal_from_units(bad[i]), buf), 0);
        assert_string_equal(buf, "");
        memset(buf, 'x', sizeof(buf));
        assert_int_equal(fh_decimal_format_fixed(fh_decimal_from_units(bad[i]), 18, buf), 0);
        assert_string_equal(buf, "");
    }
    /* The extremes in range are the longest texts: sign, 20 digits, dot, 18 digits. */
    size_t n = fh_decimal_format(fh_decimal_from_units(-max), buf);
    assert_int_equal(n, 1 + 20 + 1 + 18);
    assert_true(n <= FH_DECIMAL_TEXT_MAX);
    assert_string_equal(buf, "-99999999999999999999.999999999999999999");
    n = fh_decimal_format_fixed(fh_decimal_from_units(-max), 18, buf);
    assert_int_equal(n, 1 + 20 + 1 + 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_exchange_text_and_boundaries),
        cmocka_unit_test(test_parse_rejects_with_documented_reason),
        cmocka_unit_test(test_parse_long_zero_runs_and_cancelling_exponents_are_exact),
        cmocka_unit_test(test_strerror_names_every_reason),
        cmocka_unit_test(test_corpus_prices_and_quantities_round_trip),
        cmocka_unit_test(test_random_units_format_then_parse_back),
        cmocka_unit_test(test_random_text_parses_to_generator_canonical),
        cmocka_unit_test(test_random_bytes_are_rejected_or_round_trip),
        cmocka_unit_test(test_be_bytes_edge_values),
        cmocka_unit_test(test_be_bytes_random_values_decode_back_minimal),
        cmocka_unit_test(test_format_fixed_pads_and_never_rounds),
        cmocka_unit_test(test_format_refuses_out_of_range_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
