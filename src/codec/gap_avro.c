/*
 * gap_avro.c - the Avro encoder for schemas/gap.avsc.
 *
 * Gap records are rare (a few per gap), so unlike the trade encoder this one computes the
 * exact size before every record rather than trying a worst case first.
 */
#include "codec/gap.h"

#include "codec/avro_int.h"
#include "core/err.h"

#include <string.h>

/* The encoder writes C enum values as Avro enum indexes: they must be the schema's order
 * (tests/unit/test_gap_codec.c compares the names too). */
_Static_assert(FH_GAP_DETECTED == 0 && FH_GAP_FILLED == 1 && FH_GAP_PARTIAL == 2 &&
                   FH_GAP_UNRECOVERABLE == 3,
               "GapStatus symbol order");
_Static_assert(FH_KIND_TRADE == 0 && FH_KIND_AGG_TRADE == 1, "GapKind symbol order");

static inline size_t long_len(int64_t v)
{
    return fh__avro_varint_len(fh__avro_zigzag(v));
}

size_t fh_avro_gap_size(const struct fh_gap_record *g)
{
    size_t n = fh__avro_str_len(g->venue) + fh__avro_str_len(g->symbol) +
               fh__avro_str_len(g->native_symbol);
    n += 1 + long_len(g->first_missing_id) + long_len(g->last_missing_id) + 1;
    n += fh__avro_str_len(g->reason) + long_len(g->missing_count) + long_len(g->filled_count);
    if (g->n_ranges > 0) {
        n += long_len((int64_t)g->n_ranges);
        for (size_t i = 0; i < g->n_ranges; i++) {
            const struct fh_gap_range *r = &g->ranges[i];
            n += long_len(r->first) + long_len(r->last) + fh__avro_str_len(r->reason);
        }
    }
    n += 1 + 1; /* the array's closing 0, ranges_truncated */
    n += long_len(g->detected_time_ns) + long_len(g->reported_time_ns) + long_len(g->connection_id);
    return n;
}

static uint8_t *encode_body(uint8_t *p, const struct fh_gap_record *g)
{
    p = fh__avro_put_str(p, g->venue);
    p = fh__avro_put_str(p, g->symbol);
    p = fh__avro_put_str(p, g->native_symbol);
    *p++ = (uint8_t)((unsigned)g->kind << 1); /* enum index as a zig-zag int */
    p = fh__avro_put_long(p, g->first_missing_id);
    p = fh__avro_put_long(p, g->last_missing_id);
    *p++ = (uint8_t)((unsigned)g->status << 1);
    p = fh__avro_put_str(p, g->reason);
    p = fh__avro_put_long(p, g->missing_count);
    p = fh__avro_put_long(p, g->filled_count);
    /* An array is a sequence of blocks (a count, then the items) ended by a count of 0. */
    if (g->n_ranges > 0) {
        p = fh__avro_put_long(p, (int64_t)g->n_ranges);
        for (size_t i = 0; i < g->n_ranges; i++) {
            p = fh__avro_put_long(p, g->ranges[i].first);
            p = fh__avro_put_long(p, g->ranges[i].last);
            p = fh__avro_put_str(p, g->ranges[i].reason);
        }
    }
    *p++ = 0;
    *p++ = g->ranges_truncated ? 1 : 0;
    p = fh__avro_put_long(p, g->detected_time_ns);
    p = fh__avro_put_long(p, g->reported_time_ns);
    p = fh__avro_put_long(p, g->connection_id);
    return p;
}

static int encode_framed(struct fh_fbuf *b, const uint8_t *hdr, size_t hdr_len,
                         const struct fh_gap_record *g)
{
    if (b->overflow)
        return FH_ENOSPACE;
    int rc = fh_gap_record_check(g);
    if (rc != 0)
        return rc;
    size_t room = b->cap - b->len, need = fh_avro_gap_size(g);
    if (room < hdr_len || room - hdr_len < need) {
        b->overflow = true;
        return FH_ENOSPACE;
    }
    uint8_t *p = b->data + b->len;
    if (hdr_len > 0) {
        memcpy(p, hdr, hdr_len);
        p += hdr_len;
    }
    p = encode_body(p, g);
    b->len = (size_t)(p - b->data);
    return 0;
}

int fh_avro_encode_gap(struct fh_fbuf *b, const struct fh_gap_record *g)
{
    return encode_framed(b, NULL, 0, g);
}

int fh_avro_encode_gap_confluent(struct fh_fbuf *b, uint32_t schema_id,
                                 const struct fh_gap_record *g)
{
    uint8_t hdr[FH_AVRO_CONFLUENT_HEADER_LEN];
    fh_avro_confluent_header(hdr, schema_id);
    return encode_framed(b, hdr, sizeof(hdr), g);
}

int fh_avro_encode_gap_single_object(struct fh_fbuf *b, const struct fh_gap_record *g)
{
    uint8_t hdr[FH_AVRO_SINGLE_OBJECT_HEADER_LEN];
    fh_avro_single_object_header(hdr, fh_gap_schema_fingerprint());
    return encode_framed(b, hdr, sizeof(hdr), g);
}
