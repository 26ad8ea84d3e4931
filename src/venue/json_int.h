/*
 * json_int.h - venue/json.c's byte-level helpers, shared with the reader it replaced
 * (tests/unit/json_ref.c, the oracle the tokenizer is compared with).
 */
#ifndef FH_VENUE_JSON_INT_H
#define FH_VENUE_JSON_INT_H

#include <stddef.h>
#include <stdint.h>

/* Length of the strict UTF-8 sequence starting at s[0] (at most n bytes), or 0 if invalid
 * (overlong, surrogate, above U+10FFFF, truncated). */
size_t fh__json_utf8_seq(const unsigned char *s, size_t n);
/* Decodes one escape sequence at s[0] == '\\' (end bounds the input). Returns the bytes it
 * takes and stores the code point in *cp (a surrogate pair as one), or 0 if it is invalid. */
size_t fh__json_decode_escape(const char *s, const char *end, uint32_t *cp);

#endif
