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
 * FH_DEC_JSON applies JSON number grammar: no leading zeros ("01"), a digit on each side of
 * the dot. Leading zeros are otherwise accepted ("007.5" is 7.5).
 *
 * Pure functions, no allocation, any thread.
 */
#ifndef FH_CORE_DECIMAL_H
#define FH_CORE_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_DECIMAL_SCALE     18
#define FH_DECIMAL_PRECISION 38
/* Longest canonical text: sign, 20 integer digits, dot, 18 fraction digits. */
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

/* Why text was rejected. 0 is success; the others are negative. */
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

/* Parses s[0..n) into *out (left untouched on error). Returns 0 or an fh_decimal_err. */
int fh_decimal_parse(const char *s, size_t n, unsigned flags, fh_decimal *out);

/* A short lower-case English name of an fh_decimal_err ("too many digits"). */
const char *fh_decimal_strerror(int err);

/* Writes the canonical text of d: minimal form, no exponent, no trailing fraction zeros,
 * no dot for integers, "0" for zero, "-" for negatives ("16552.12", "-0.5", "1").
 * buf must hold FH_DECIMAL_TEXT_MAX + 1 bytes. Returns the length (NUL written after it). */
size_t fh_decimal_format(fh_decimal d, char *buf);

/* Writes d with exactly `places` fraction digits (0..18), e.g. places 8 -> "0.35280000".
 * buf must hold FH_DECIMAL_TEXT_MAX + 1 bytes. Returns the length. */
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
 * two's-complement integer (1..16 bytes). out must hold 16 bytes. Returns the length. */
size_t fh_decimal_to_be_bytes(fh_decimal d, uint8_t out[16]);

#endif
