/*
 * jsonl_int.h - the JSON string escaping of jsonl.c, shared with the gap record's JSON lines
 * (gap_jsonl.c) so that every line the handler writes escapes strings the same way (see
 * jsonl.h). Not part of the public interface.
 */
#ifndef FH_CODEC_JSONL_INT_H
#define FH_CODEC_JSONL_INT_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Building blocks of both encoders' lines: a literal's length and copy, and an enum's
 * symbols indexed by the C enum values (the schemas' symbol indexes). */
#define LIT_LEN(s)    (sizeof(s) - 1)
#define PUT_LIT(p, s) (memcpy((p), (s), LIT_LEN(s)), (p) + LIT_LEN(s))
#define INT_MAX_LEN   20 /* "-9223372036854775808" */

struct fh__jsonl_sym {
    const char *s;
    size_t n;
};
#define SYM(x)        \
    {                 \
        x, LIT_LEN(x) \
    }

static inline uint8_t *fh__jsonl_put_sym(uint8_t *p, const struct fh__jsonl_sym *s)
{
    memcpy(p, s->s, s->n);
    return p + s->n;
}

/* Writes s as a quoted JSON string at p (room for 2 + 6 * s.n bytes); returns the end. */
uint8_t *fh__jsonl_put_str(uint8_t *p, struct fh_str s);

/* The exact length fh__jsonl_put_str() writes for s. */
size_t fh__jsonl_str_len(struct fh_str s);

#endif
