/*
 * fast.h - INTERNAL to src/venue: the lexing the protocols' readers without tokens share
 * (parse_fast in venue.h: binance_fast.c, kraken_v2_fast.c, kraken_v1_fast.c). Each reads one
 * message shape and declines everything else, so these accept a strict subset of JSON: strings
 * of printable ASCII without escapes, numbers in JSON grammar, true and false, no whitespace.
 * Nothing here rejects a message; false means "not this shape".
 *
 * Locality: pure functions.
 */
#ifndef FH_VENUE_FAST_H
#define FH_VENUE_FAST_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A value's lexical type; FH_FV_NONE for an absent key. */
enum fh_fv {
    FH_FV_NONE = 0,
    FH_FV_STR,   /* a string: the view is its contents */
    FH_FV_UINT,  /* an integer without sign, fraction or exponent */
    FH_FV_NUM,   /* any other JSON number */
    FH_FV_TRUE,  /* true */
    FH_FV_FALSE, /* false */
};

/* A string of printable ASCII without escapes at s[*i] == '"' (bytes 0x20..0x7e, no '\'): its
 * contents; *i after the closing quote. */
bool fh__fast_string(const char *s, size_t n, size_t *i, struct fh_str *out);

/* A string, a JSON number, true or false at s[*i], followed by ',', '}' or ']' (which *i is
 * left on). */
bool fh__fast_value(const char *s, size_t n, size_t *i, struct fh_str *out, uint8_t *type);

/* What follows an element at s[*i] (where fh__fast_value leaves it, or after a container's
 * close): ',' gives 1 (another element follows), close gives 0 (the container ended), *i past
 * either; anything else, or the end of s, gives -1. */
static inline int fh__fast_next(const char *s, size_t n, size_t *i, char close)
{
    if (*i >= n)
        return -1;
    char c = s[(*i)++];
    return c == ',' ? 1 : c == close ? 0 : -1;
}

/* A non-negative integer from its text (JSON grammar: no sign, no leading zero, no fraction
 * or exponent) that fits int64. Up to 18 digits cannot overflow, 19 are compared as text. */
bool fh__fast_u63(const char *s, size_t n, int64_t *out);

#endif
