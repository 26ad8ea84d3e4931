/*
 * avro.c - the hand-written Avro encoder for schemas/trade.avsc and the two framings.
 *
 * Speed comes from doing the bounds check once per record: if the buffer has room for the
 * worst case (FH_AVRO_TRADE_FIXED_MAX plus the string bytes), every field is written with
 * unchecked stores; only when it has not do we compute the exact size, so a record that fits
 * exactly is still accepted. Fields are written in schema order by straight-line code, no
 * per-field dispatch.
 */
#include "codec/avro.h"

#include "codec/avro_int.h"
#include "core/err.h"

#include <string.h>

/* The encoder writes the C enum values as Avro enum indexes; these must be the positions of
 * the symbols in schemas/trade.avsc (tests/unit/test_avro.c compares the names too). */
_Static_assert(FH_KIND_TRADE == 0 && FH_KIND_AGG_TRADE == 1, "TradeKind symbol order");
_Static_assert(FH_SIDE_BUY == 0 && FH_SIDE_SELL == 1 && FH_SIDE_UNKNOWN == 2, "Side order");
_Static_assert(FH_ORDER_MARKET == 0 && FH_ORDER_LIMIT == 1 && FH_ORDER_UNKNOWN == 2,
               "OrderType symbol order");
_Static_assert(FH_SOURCE_LIVE == 0 && FH_SOURCE_SNAPSHOT == 1 && FH_SOURCE_BACKFILL == 2 &&
                   FH_SOURCE_REPLAY == 3,
               "Source symbol order");

/* 10^38 - 1, the largest unscaled magnitude of decimal(38,18). */
#define DEC_MAX_UNITS ((fh_i128)10000000000000000000ULL * (fh_i128)10000000000000000000ULL - 1)

/* A union ["null", "long"]: branch index 0 alone, or index 1 (zig-zag 2) and the long. */
static inline uint8_t *put_opt_long(uint8_t *p, unsigned has, unsigned bit, int64_t v)
{
    if (!(has & bit)) {
        *p = 0;
        return p + 1;
    }
    *p = 2;
    return fh__avro_put_long(p + 1, v);
}

static inline uint8_t *put_decimal(uint8_t *p, fh_decimal d)
{
    /* fh_decimal_to_be_bytes() may use all 16 bytes of its output, which can be more than
     * the exact size we checked for; go through a local copy. */
    uint8_t tmp[16];
    size_t n = fh_decimal_to_be_bytes(d, tmp);
    *p++ = (uint8_t)(n << 1); /* 1..16: a one-byte varint */
    memcpy(p, tmp, n);
    return p + n;
}

static inline size_t decimal_len(fh_decimal d)
{
    /* The minimal two's-complement length: the bits of the magnitude (of ~u for negatives)
     * plus a sign bit. */
    fh_u128 u = (fh_u128)(d.units < 0 ? ~d.units : d.units);
    uint64_t hi = (uint64_t)(u >> 64), lo = (uint64_t)u;
    unsigned bits =
        hi ? 128 - (unsigned)__builtin_clzll(hi) : (lo ? 64 - (unsigned)__builtin_clzll(lo) : 0);
    return 1 + (bits + 1 + 7) / 8;
}

static uint8_t *encode_body(uint8_t *p, const struct fh_trade *t)
{
    p = fh__avro_put_str(p, t->venue);
    p = fh__avro_put_str(p, t->symbol);
    p = fh__avro_put_str(p, t->native_symbol);
    p = put_opt_long(p, t->has, FH_HAS_TRADE_ID, t->trade_id);
    p = put_opt_long(p, t->has, FH_HAS_FIRST_TRADE_ID, t->first_trade_id);
    p = put_opt_long(p, t->has, FH_HAS_LAST_TRADE_ID, t->last_trade_id);
    *p++ = (uint8_t)((unsigned)t->kind << 1); /* enum index as a zig-zag int */
    p = put_decimal(p, t->price);
    p = put_decimal(p, t->quantity);
    *p++ = (uint8_t)((unsigned)t->side << 1);
    *p++ = (uint8_t)((unsigned)t->order_type << 1);
    p = fh__avro_put_long(p, t->trade_time_us);
    p = put_opt_long(p, t->has, FH_HAS_EVENT_TIME, t->event_time_us);
    p = fh__avro_put_long(p, t->receive_time_ns);
    *p++ = (uint8_t)((unsigned)t->source << 1);
    p = fh__avro_put_long(p, t->connection_id);
    p = fh__avro_put_long(p, t->sequence);
    return p;
}

static inline size_t opt_long_len(unsigned has, unsigned bit, int64_t v)
{
    return (has & bit) ? 1 + fh__avro_varint_len(fh__avro_zigzag(v)) : 1;
}

size_t fh_avro_trade_size(const struct fh_trade *t)
{
    size_t n = 0;
    n += fh__avro_varint_len((uint64_t)t->venue.n << 1) + t->venue.n;
    n += fh__avro_varint_len((uint64_t)t->symbol.n << 1) + t->symbol.n;
    n += fh__avro_varint_len((uint64_t)t->native_symbol.n << 1) + t->native_symbol.n;
    n += opt_long_len(t->has, FH_HAS_TRADE_ID, t->trade_id);
    n += opt_long_len(t->has, FH_HAS_FIRST_TRADE_ID, t->first_trade_id);
    n += opt_long_len(t->has, FH_HAS_LAST_TRADE_ID, t->last_trade_id);
    n += 1 + decimal_len(t->price) + decimal_len(t->quantity) + 2;
    n += fh__avro_varint_len(fh__avro_zigzag(t->trade_time_us));
    n += opt_long_len(t->has, FH_HAS_EVENT_TIME, t->event_time_us);
    n += fh__avro_varint_len(fh__avro_zigzag(t->receive_time_ns)) + 1;
    n += fh__avro_varint_len(fh__avro_zigzag(t->connection_id)) +
         fh__avro_varint_len(fh__avro_zigzag(t->sequence));
    return n;
}

static int check_values(const struct fh_trade *t)
{
    /* Unsigned comparisons also catch negative values stored in the enums. */
    if ((unsigned)t->kind > FH_KIND_AGG_TRADE || (unsigned)t->side > FH_SIDE_UNKNOWN ||
        (unsigned)t->order_type > FH_ORDER_UNKNOWN || (unsigned)t->source > FH_SOURCE_REPLAY)
        return FH_EINVAL;
    if (t->price.units > DEC_MAX_UNITS || t->price.units < -DEC_MAX_UNITS ||
        t->quantity.units > DEC_MAX_UNITS || t->quantity.units < -DEC_MAX_UNITS)
        return FH_ERANGE;
    return 0;
}

/* True if `room` bytes surely hold hdr_len plus the worst case of t; written so that huge
 * string lengths cannot wrap the sum. */
static inline bool fits_worst_case(size_t room, size_t hdr_len, const struct fh_trade *t)
{
    size_t need = FH_AVRO_TRADE_FIXED_MAX + hdr_len;
    if (room < need)
        return false;
    room -= need;
    if (room < t->venue.n)
        return false;
    room -= t->venue.n;
    if (room < t->symbol.n)
        return false;
    room -= t->symbol.n;
    return room >= t->native_symbol.n;
}

/* The one path behind the three public encoders: checks, header, body. */
static inline int encode_framed(struct fh_fbuf *b, const uint8_t *hdr, size_t hdr_len,
                                const struct fh_trade *t)
{
    if (b->overflow)
        return FH_ENOSPACE;
    int rc = check_values(t);
    if (rc != 0)
        return rc;
    size_t room = b->cap - b->len;
    if (!fits_worst_case(room, hdr_len, t)) {
        size_t exact = fh_avro_trade_size(t);
        if (room < hdr_len || room - hdr_len < exact) {
            b->overflow = true;
            return FH_ENOSPACE;
        }
    }
    uint8_t *p = b->data + b->len;
    if (hdr_len > 0) {
        memcpy(p, hdr, hdr_len);
        p += hdr_len;
    }
    p = encode_body(p, t);
    b->len = (size_t)(p - b->data);
    return 0;
}

int fh_avro_encode_trade(struct fh_fbuf *b, const struct fh_trade *t)
{
    return encode_framed(b, NULL, 0, t);
}

int fh_avro_encode_trade_confluent(struct fh_fbuf *b, uint32_t schema_id, const struct fh_trade *t)
{
    uint8_t hdr[FH_AVRO_CONFLUENT_HEADER_LEN];
    fh_avro_confluent_header(hdr, schema_id);
    return encode_framed(b, hdr, sizeof(hdr), t);
}

int fh_avro_encode_trade_single_object(struct fh_fbuf *b, const struct fh_trade *t)
{
    uint8_t hdr[FH_AVRO_SINGLE_OBJECT_HEADER_LEN];
    fh_avro_single_object_header(hdr, fh_trade_schema_fingerprint());
    return encode_framed(b, hdr, sizeof(hdr), t);
}

void fh_avro_confluent_header(uint8_t out[FH_AVRO_CONFLUENT_HEADER_LEN], uint32_t schema_id)
{
    out[0] = FH_AVRO_CONFLUENT_MAGIC;
    out[1] = (uint8_t)(schema_id >> 24);
    out[2] = (uint8_t)(schema_id >> 16);
    out[3] = (uint8_t)(schema_id >> 8);
    out[4] = (uint8_t)schema_id;
}

void fh_avro_single_object_header(uint8_t out[FH_AVRO_SINGLE_OBJECT_HEADER_LEN],
                                  uint64_t fingerprint)
{
    out[0] = 0xC3;
    out[1] = 0x01;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(fingerprint >> (8 * i));
}

int fh_avro_confluent_parse(const void *msg, size_t n, uint32_t *schema_id, const uint8_t **body,
                            size_t *body_len)
{
    const uint8_t *p = msg;
    if (n < FH_AVRO_CONFLUENT_HEADER_LEN || p[0] != FH_AVRO_CONFLUENT_MAGIC)
        return FH_EPARSE;
    if (schema_id != NULL)
        *schema_id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if (body != NULL)
        *body = p + FH_AVRO_CONFLUENT_HEADER_LEN;
    if (body_len != NULL)
        *body_len = n - FH_AVRO_CONFLUENT_HEADER_LEN;
    return 0;
}

int fh_avro_single_object_parse(const void *msg, size_t n, uint64_t *fingerprint,
                                const uint8_t **body, size_t *body_len)
{
    const uint8_t *p = msg;
    if (n < FH_AVRO_SINGLE_OBJECT_HEADER_LEN || p[0] != 0xC3 || p[1] != 0x01)
        return FH_EPARSE;
    if (fingerprint != NULL) {
        uint64_t fp = 0;
        for (int i = 7; i >= 0; i--)
            fp = fp << 8 | p[2 + i];
        *fingerprint = fp;
    }
    if (body != NULL)
        *body = p + FH_AVRO_SINGLE_OBJECT_HEADER_LEN;
    if (body_len != NULL)
        *body_len = n - FH_AVRO_SINGLE_OBJECT_HEADER_LEN;
    return 0;
}
