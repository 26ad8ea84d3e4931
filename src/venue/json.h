/*
 * json.h - strict JSON tokenizing for exchange messages.
 *
 * fh_json_parse() splits a message into jsmn-layout tokens (jsmntok_t: type, bounds, size,
 * parent) without allocating, in one pass that also checks, so that a message we act on is
 * exactly one valid JSON value:
 *   - structure: one top-level object or array, nothing after it but whitespace; a ':' after
 *     every key and a ',' between siblings (no missing or trailing commas);
 *   - strings: no raw control characters, only valid escapes, \u escapes with paired
 *     surrogates, and valid UTF-8 (no overlong forms, no encoded surrogates, <= U+10FFFF);
 *   - primitives: true, false, null, or a number in JSON grammar.
 * Numbers keep their exact text, so prices can be converted with fh_decimal_parse.
 *
 * The token array is allocated once (fh_json_init) with a fixed capacity: a message with more
 * tokens is rejected, never grows memory. Tokens are addressed by index; 0 is the root.
 *
 * Locality: a struct fh_json belongs to one thread. The parsed message must outlive its use.
 */
#ifndef FH_VENUE_JSON_H
#define FH_VENUE_JSON_H

#define JSMN_HEADER
#define JSMN_STRICT
/* The token layout with parent links: every token names its container (or, for an object's
 * value, its key), as jsmn's own parser sets them in tests/unit/json_ref.c. */
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "core/buf.h"
#include "core/decimal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fh_json_err {
    FH_JSON_OK = 0,
    FH_JSON_ETOKENS = -1,   /* more tokens than the configured capacity */
    FH_JSON_ESYNTAX = -2,   /* malformed structure */
    FH_JSON_EPARTIAL = -3,  /* truncated: more bytes expected */
    FH_JSON_EUTF8 = -4,     /* invalid UTF-8 in a string */
    FH_JSON_EESCAPE = -5,   /* invalid escape or unpaired surrogate */
    FH_JSON_ENUMBER = -6,   /* a primitive that is not a valid JSON number or literal */
    FH_JSON_ETRAILING = -7, /* bytes after the top-level value */
    FH_JSON_ECONTROL = -8,  /* raw control character inside a string */
    FH_JSON_EROOT = -9,     /* the top-level value is not an object or array, or input empty */
    FH_JSON_ETOOLONG = -10  /* input longer than INT_MAX */
};

struct fh_json {
    jsmntok_t *tok; /* owned, cap entries */
    uint8_t *esc;   /* owned: esc[i] != 0 if string token i contains a backslash */
    uint32_t cap;
    int n;           /* tokens in the last parsed message */
    const char *src; /* the last parsed message (borrowed) */
    size_t len;
};

/* Allocates room for max_tokens tokens. Returns 0 or FH_ENOMEM. */
int fh_json_init(struct fh_json *j, uint32_t max_tokens);
void fh_json_release(struct fh_json *j);

/* Tokenizes and validates s[0..n). Returns 0 or an fh_json_err. */
int fh_json_parse(struct fh_json *j, const char *s, size_t n);
/* A short reason code for metrics and logs ("json_syntax", "json_utf8", ...). */
const char *fh_json_strerror(int err);

static inline jsmntype_t fh_json_type(const struct fh_json *j, int i)
{
    return j->tok[i].type;
}

/* Number of children: keys of an object, elements of an array. */
static inline int fh_json_size(const struct fh_json *j, int i)
{
    return j->tok[i].size;
}

/* The raw text of token i: a string's contents without quotes (escapes not decoded), or a
 * primitive's text, or the whole text of an object/array. */
static inline struct fh_str fh_json_raw(const struct fh_json *j, int i)
{
    struct fh_str s = {j->src + j->tok[i].start, (size_t)(j->tok[i].end - j->tok[i].start)};
    return s;
}

/* The index of the first token after the subtree rooted at i (n if none). */
int fh_json_skip(const struct fh_json *j, int i);

/* Value index for key in object obj, or -1. Keys are compared after decoding escapes. */
int fh_json_get(const struct fh_json *j, int obj, const char *key);
/* Element k of array arr, or -1. */
int fh_json_at(const struct fh_json *j, int arr, int k);

/* True if token i is a string equal to lit (after decoding escapes). */
bool fh_json_str_eq(const struct fh_json *j, int i, const char *lit);
static inline bool fh_json_is_str(const struct fh_json *j, int i)
{
    return i >= 0 && j->tok[i].type == JSMN_STRING;
}
static inline bool fh_json_is_null(const struct fh_json *j, int i)
{
    return i >= 0 && j->tok[i].type == JSMN_PRIMITIVE && j->src[j->tok[i].start] == 'n';
}
/* True if token i is a number primitive. */
bool fh_json_is_number(const struct fh_json *j, int i);

/* Decodes string token i into dst (cap bytes, NUL-terminated). Returns 0, FH_EINVAL if i is not
 * a string, or FH_ENOSPACE. *len receives the decoded length. */
int fh_json_str(const struct fh_json *j, int i, char *dst, size_t cap, size_t *len);
/* A string token as a borrowed view when it has no escapes (the common case); otherwise
 * decodes into scratch (cap bytes). Returns 0, FH_EINVAL (not a string) or FH_ENOSPACE. */
int fh_json_str_view(const struct fh_json *j, int i, char *scratch, size_t cap, struct fh_str *out);

/* Integer primitive (no fraction, no exponent) into int64 / uint64, exactly; FH_EINVAL if the
 * token is not such a number, FH_ERANGE if it does not fit. */
int fh_json_i64(const struct fh_json *j, int i, int64_t *out);
int fh_json_u64(const struct fh_json *j, int i, uint64_t *out);
/* true/false primitive. Returns 0 or FH_EINVAL. */
int fh_json_bool(const struct fh_json *j, int i, bool *out);
/* A decimal from a string token ("0.001") or a number token (85772.4, 1e-08). flags as in
 * fh_decimal_parse; number tokens always get FH_DEC_JSON | FH_DEC_ALLOW_EXP added. Returns 0,
 * FH_EINVAL (wrong token type) or an fh_decimal_err. */
int fh_json_decimal(const struct fh_json *j, int i, unsigned flags, fh_decimal *out);

/* Strict UTF-8 check of s[0..n): fh_utf8_check from core/utf8.h, kept under this name for
 * the venue code. */
bool fh_utf8_valid(const char *s, size_t n);

#endif
