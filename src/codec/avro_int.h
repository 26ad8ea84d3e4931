/*
 * avro_int.h - the Avro primitives shared by the trade and gap encoders (avro.c, avro_gap.c):
 * zig-zag varints and strings, written with unchecked stores after the caller has checked the
 * room. Not part of the public interface.
 */
#ifndef FH_CODEC_AVRO_INT_H
#define FH_CODEC_AVRO_INT_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t fh__avro_zigzag(int64_t v)
{
    /* Shifting the unsigned value avoids the implementation-defined right shift of a
     * negative number. */
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}

/* Bytes of the varint of u: 1 for 0..127, up to 10. */
static inline size_t fh__avro_varint_len(uint64_t u)
{
    unsigned bits = 64 - (unsigned)__builtin_clzll(u | 1);
    return (bits + 6) / 7;
}

static inline uint8_t *fh__avro_put_varint(uint8_t *p, uint64_t u)
{
    /* Most values are either tiny (lengths, branch indexes) or 8-9 bytes (timestamps), so
     * the loop predicts well; the first byte is peeled off for the tiny case. */
    if (u < 0x80) {
        *p = (uint8_t)u;
        return p + 1;
    }
    do {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    } while (u >= 0x80);
    *p++ = (uint8_t)u;
    return p;
}

static inline uint8_t *fh__avro_put_long(uint8_t *p, int64_t v)
{
    return fh__avro_put_varint(p, fh__avro_zigzag(v));
}

static inline uint8_t *fh__avro_put_str(uint8_t *p, struct fh_str s)
{
    p = fh__avro_put_varint(p, (uint64_t)s.n << 1); /* zig-zag of a non-negative length */
    if (s.n > 0)
        memcpy(p, s.p, s.n);
    return p + s.n;
}

/* Bytes of s as an Avro string: its length as a varint, then its bytes. */
static inline size_t fh__avro_str_len(struct fh_str s)
{
    return fh__avro_varint_len((uint64_t)s.n << 1) + s.n;
}

#endif
