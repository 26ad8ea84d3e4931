/*
 * decimal.h - exact decimal numbers, decimal(38,18).
 *
 * A value is an unscaled signed 128-bit integer u with the fixed scale 18: value = u * 10^-18,
 * |u| <= 10^38 - 1. That is the Avro logical type decimal(precision 38, scale 18) every price
 * and quantity is written as. Text is converted digit by digit, never through double, and a
 * number that cannot be held exactly is rejected with a reason instead of rounded.
 *
 * Accepted text (FH_DEC_* flags widen it):
 *   [-] digits [ . digits ] [ (e|E) [+|-] digits ]
 * e.g. "16552.12000000", "0.000023750", "85772.4", "40.0", "1", "1e-08", "2.5E+3".
 * Without FH_DEC_ALLOW_EXP an exponent is rejected; without FH_DEC_ALLOW_NEG a sign is.
 * A leading '+' is never accepted (the exponent may carry '+' or '-'). A digit is required on
 * each side of the dot in every mode: ".5" and "1." are rejected, the exchanges never send them.
 * FH_DEC_JSON applies JSON number grammar: no leading zeros ("01", "-00"; "0", "0.5" and
 * "-0.5" are fine). Leading zeros are otherwise accepted ("007.5" is 7.5).
 *
 * Exactness: zeros are never significant. Any number of leading zeros, trailing fraction zeros
 * and any exponent are accepted as long as the value itself fits: "1.0000000000000000000000",
 * "0e999999", "0.000e-9999" and "1000e-21" are exact. Exponent digits are read with
 * saturation, so no exponent text can overflow. "-0" and "-0.0" parse to 0 (there is no
 * negative zero; it formats as "0").
 *
 * When several things are wrong, the reason returned is the first that applies, in this order:
 *   1. FH_DEC_EEMPTY      n == 0
 *   2. FH_DEC_ESPACE      any whitespace byte (' ', \t, \n, \v, \f, \r) anywhere
 *   3. FH_DEC_ENAN        after an optional '+'/'-', the text starts with "nan", "snan" or
 *                         "inf" in any case ("NaN", "-Infinity", "inf")
 *   4. FH_DEC_ESIGN       a leading '+', or a leading '-' without FH_DEC_ALLOW_NEG
 *   5. FH_DEC_EDOTS       more than one '.' anywhere
 *   6. the grammar, left to right:
 *      FH_DEC_ESYNTAX     no digit where one is required ("-", ".", ".5", "-.5", "1.", "1.e5",
 *                         "1e", "1e+", "abc", "--1") or a JSON leading zero ("01")
 *      FH_DEC_EEXPONENT   'e'/'E' after the mantissa without FH_DEC_ALLOW_EXP ("1e5", "1e")
 *      FH_DEC_ETRAILING   anything after a complete number ("1x", "1e5.3", "1-")
 *   7. FH_DEC_EDIGITS     more than 38 significant digits (first to last non-zero digit), or
 *                         |value| >= 10^20 ("1e20", "1e999999999999999999")
 *   8. FH_DEC_EPRECISION  a non-zero digit beyond 18 decimal places ("1e-19", "1e-99999")
 *
 * Pure functions, no allocation, no floating point, any thread.
 */
#ifndef FH_CORE_DECIMAL_H
#define FH_CORE_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_DECIMAL_SCALE     18
#define FH_DECIMAL_PRECISION 38
/* Longest canonical text is 40 characters (sign, 20 integer digits, dot, 18 fraction digits);
 * the constant keeps one spare. */
#define FH_DECIMAL_TEXT_MAX 41

typedef __int128 fh_i128;
typedef unsigned __int128 fh_u128;

typedef struct fh_decimal {
    fh_i128 units; /* value * 10^18 */
} fh_decimal;

enum fh_decimal_flags {
    FH_DEC_ALLOW_NEG = 1 << 0, /* a leading '-' is allowed */
    FH_DEC_ALLOW_EXP = 1 << 1, /* an exponent part is allowed */
    FH_DEC_JSON = 1 << 2       /* JSON number grammar (implies nothing else) */
};

/* Why text was rejected. 0 is success; the others are negative. See the precedence above. */
enum fh_decimal_err {
    FH_DEC_OK = 0,
    FH_DEC_EEMPTY = -1,     /* empty text */
    FH_DEC_ESIGN = -2,      /* a sign where none is allowed, or '+' */
    FH_DEC_ENAN = -3,       /* NaN, Infinity and the like */
    FH_DEC_ESPACE = -4,     /* whitespace anywhere */
    FH_DEC_EDOTS = -5,      /* more than one dot */
    FH_DEC_EDIGITS = -6,    /* more than 38 significant digits, or |value| >= 10^20 */
    FH_DEC_EPRECISION = -7, /* a non-zero digit beyond 18 decimal places */
    FH_DEC_ETRAILING = -8,  /* garbage after a valid number */
    FH_DEC_ESYNTAX = -9,    /* anything else malformed: "-", ".", "1.", "1e", "01" in JSON */
    FH_DEC_EEXPONENT = -10, /* an exponent where none is allowed */
};

/* Parses s[0..n) into *out (left untouched on error). s need not be NUL-terminated and is
 * never read outside [0, n); s may be NULL when n is 0. Returns 0 or an fh_decimal_err.
 * Cost is linear in n with no division and no allocation. */
int fh_decimal_parse(const char *s, size_t n, unsigned flags, fh_decimal *out);

/* A short lower-case English name of an fh_decimal_err ("too many digits"); a static string,
 * "unknown decimal error" for a value that is not one. */
const char *fh_decimal_strerror(int err);

/* Writes the canonical text of d: minimal form, no exponent, no trailing fraction zeros,
 * no dot for integers, "0" for zero, "-" for negatives ("16552.12", "-0.5", "1").
 * fh_decimal_parse() of that text (with FH_DEC_ALLOW_NEG) gives d back.
 * buf must hold FH_DECIMAL_TEXT_MAX + 1 bytes. Returns the length (NUL written after it).
 * If d is out of range (|units| > 10^38 - 1, only possible through fh_decimal_from_units),
 * writes "" and returns 0. */
size_t fh_decimal_format(fh_decimal d, char *buf);

/* Writes d with exactly `places` fraction digits (0..18), e.g. places 8 -> "0.35280000",
 * places 0 -> "12" (no dot). Never rounds: if d has a non-zero digit beyond `places`
 * (16552.125 with places 2), or places > 18, or d is out of range, writes "" and returns 0.
 * buf must hold FH_DECIMAL_TEXT_MAX + 1 bytes. Returns the length (NUL written after it). */
size_t fh_decimal_format_fixed(fh_decimal d, unsigned places, char *buf);

static inline bool fh_decimal_eq(fh_decimal a, fh_decimal b)
{
    return a.units == b.units;
}

static inline int fh_decimal_cmp(fh_decimal a, fh_decimal b)
{
    return (a.units > b.units) - (a.units < b.units);
}

static inline fh_decimal fh_decimal_from_units(fh_i128 units)
{
    fh_decimal d = {units};
    return d;
}

/* The largest unscaled magnitude, 10^38 - 1. */
fh_i128 fh_decimal_max_units(void);

/* Writes the Avro decimal bytes of d: the unscaled value as a minimal-length big-endian
 * two's-complement integer (1..16 bytes), as Java's BigInteger.toByteArray() does:
 * 0 -> 00, 127 -> 7f, 128 -> 00 80, -1 -> ff, -128 -> 80, -129 -> ff 7f. +-(10^38 - 1) take
 * 16 bytes. Defined for every fh_i128, in range or not. out must hold 16 bytes. Returns the
 * length. */
size_t fh_decimal_to_be_bytes(fh_decimal d, uint8_t out[16]);

#endif
