/*
 * test_gap_codec.c - gap records (model/gap.c) and their encodings (src/codec/gap_avro.c,
 * gap_jsonl.c, the gap schema's fingerprint in avro_schema.c).
 *
 * Hand-encoded records pin the bytes and lines field by field; Apache avro-c (libavro), fed
 * schemas/gap.avsc, must produce the same bytes for edge-value and randomized records; every
 * error path leaves the buffer untouched.
 */
#include "testutil.h"

#include "../tools/gap_gen.h"

#include "codec/gap.h"
#include "core/err.h"

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_GAPS 5000
#define SEED        0x6a9c0dec5ULL

/* ---- avro-c as the oracle ---- */

struct oracle {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec;
    avro_writer_t writer;
    char out[FH_AVRO_GAP_MAX];
    char str[FH_GAP_REASON_MAX + 1];
};

static struct oracle *oracle_new(void)
{
    struct oracle *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    if (avro_schema_from_json_length(fh_gap_schema_json, fh_gap_schema_json_len, &o->schema) != 0)
        fail_msg("avro-c rejects schemas/gap.avsc: %s", avro_strerror());
    o->iface = avro_generic_class_from_schema(o->schema);
    assert_non_null(o->iface);
    assert_int_equal(avro_generic_value_new(o->iface, &o->rec), 0);
    o->writer = avro_writer_memory(o->out, sizeof(o->out));
    assert_non_null(o->writer);
    return o;
}

static void oracle_free(struct oracle *o)
{
    avro_writer_free(o->writer);
    avro_value_decref(&o->rec);
    avro_value_iface_decref(o->iface);
    avro_schema_decref(o->schema);
    free(o);
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f = {NULL, NULL};
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        fail_msg("avro-c has no field %s", name);
    return f;
}

static void set_string(struct oracle *o, avro_value_t *rec, const char *name, struct fh_str s)
{
    avro_value_t f = field(rec, name);
    /* avro-c strings carry their NUL in the size; embedded NULs are kept. */
    assert_true(s.n <= FH_GAP_REASON_MAX);
    if (s.n > 0)
        memcpy(o->str, s.p, s.n);
    o->str[s.n] = '\0';
    assert_int_equal(avro_value_set_string_len(&f, o->str, s.n + 1), 0);
}

static void set_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f = field(rec, name);
    assert_int_equal(avro_value_set_long(&f, v), 0);
}

static void set_enum(avro_value_t *rec, const char *name, int v)
{
    avro_value_t f = field(rec, name);
    assert_int_equal(avro_value_set_enum(&f, v), 0);
}

/* Encodes g with avro-c; returns the length of o->out. */
static size_t oracle_encode(struct oracle *o, const struct fh_gap_record *g)
{
    avro_value_t *r = &o->rec;
    avro_value_reset(r);
    set_string(o, r, "venue", g->venue);
    set_string(o, r, "symbol", g->symbol);
    set_string(o, r, "native_symbol", g->native_symbol);
    set_enum(r, "kind", (int)g->kind);
    set_long(r, "first_missing_id", g->first_missing_id);
    set_long(r, "last_missing_id", g->last_missing_id);
    set_enum(r, "status", (int)g->status);
    set_string(o, r, "reason", g->reason);
    set_long(r, "missing_count", g->missing_count);
    set_long(r, "filled_count", g->filled_count);
    avro_value_t arr = field(r, "missing_ranges");
    for (size_t i = 0; i < g->n_ranges; i++) {
        avro_value_t item = {NULL, NULL};
        assert_int_equal(avro_value_append(&arr, &item, NULL), 0);
        set_long(&item, "first", g->ranges[i].first);
        set_long(&item, "last", g->ranges[i].last);
        set_string(o, &item, "reason", g->ranges[i].reason);
    }
    avro_value_t b = field(r, "ranges_truncated");
    assert_int_equal(avro_value_set_boolean(&b, g->ranges_truncated), 0);
    set_long(r, "detected_time_ns", g->detected_time_ns);
    set_long(r, "reported_time_ns", g->reported_time_ns);
    set_long(r, "connection_id", g->connection_id);
    avro_writer_memory_set_dest(o->writer, o->out, sizeof(o->out));
    if (avro_value_write(o->writer, r) != 0)
        fail_msg("avro-c cannot write: %s", avro_strerror());
    return (size_t)avro_writer_tell(o->writer);
}

static void compare_with_oracle(struct oracle *o, const struct fh_gap_record *g, const char *what,
                                int idx)
{
    static uint8_t ours[FH_AVRO_GAP_MAX + 1];
    struct fh_fbuf b;
    fh_fbuf_init(&b, ours, sizeof(ours));
    int rc = fh_avro_encode_gap(&b, g);
    if (rc != 0)
        fail_msg("%s gap %d: %s", what, idx, fh_strerror(rc));
    assert_int_equal(b.len, fh_avro_gap_size(g));
    assert_true(b.len <= FH_AVRO_GAP_MAX);
    size_t n = oracle_encode(o, g);
    if (n != b.len || memcmp(ours, o->out, n) != 0) {
        size_t k = 0;
        while (k < n && k < b.len && ours[k] == (uint8_t)o->out[k])
            k++;
        fail_msg("%s gap %d: ours %zu bytes, avro-c %zu, first difference at byte %zu", what, idx,
                 b.len, n, k);
    }
}

/* ---- a fixed record, encoded by hand ---- */

static const struct fh_gap_range fixed_ranges[] = {
    {101, 102, {"absent from history", 19}},
};

/* binance BTC-USDT, PARTIAL, ids 100..105: 101..102 absent, four filled. */
static struct fh_gap_record fixed(void)
{
    struct fh_gap_record g = {0};
    g.venue = FH_STR_LIT("binance");
    g.symbol = FH_STR_LIT("BTC-USDT");
    g.native_symbol = FH_STR_LIT("BTCUSDT");
    g.kind = FH_KIND_AGG_TRADE;
    g.first_missing_id = 100;
    g.last_missing_id = 105;
    g.status = FH_GAP_PARTIAL;
    g.reason = FH_STR_LIT("absent from history");
    g.missing_count = 2;
    g.filled_count = 4;
    g.ranges = fixed_ranges;
    g.n_ranges = 1;
    g.ranges_truncated = true;
    g.detected_time_ns = 64;  /* zig-zag 128: 80 01 */
    g.reported_time_ns = -65; /* zig-zag 129: 81 01 */
    g.connection_id = -1;     /* zig-zag 1 */
    return g;
}

#define ABSENT \
    'a', 'b', 's', 'e', 'n', 't', ' ', 'f', 'r', 'o', 'm', ' ', 'h', 'i', 's', 't', 'o', 'r', 'y'

static const uint8_t fixed_avro[] = {
    0x0e, 'b',    'i',  'n',  'a', 'n', 'c', 'e',      /* venue: length 7 */
    0x10, 'B',    'T',  'C',  '-', 'U', 'S', 'D', 'T', /* symbol: length 8 */
    0x0e, 'B',    'T',  'C',  'U', 'S', 'D', 'T',      /* native_symbol: length 7 */
    0x02,                                              /* kind AGG_TRADE (index 1) */
    0xc8, 0x01,                                        /* first_missing_id 100: zig-zag 200 */
    0xd2, 0x01,                                        /* last_missing_id 105: zig-zag 210 */
    0x04,                                              /* status PARTIAL (index 2) */
    0x26, ABSENT,                                      /* reason: length 19 */
    0x04,                                              /* missing_count 2 */
    0x08,                                              /* filled_count 4 */
    0x02,                                              /* missing_ranges: a block of 1 */
    0xca, 0x01,   0xcc, 0x01,                          /* first 101, last 102 */
    0x26, ABSENT,                                      /* reason */
    0x00,                                              /* end of the array */
    0x01,                                              /* ranges_truncated true */
    0x80, 0x01,                                        /* detected_time_ns 64 */
    0x81, 0x01,                                        /* reported_time_ns -65 */
    0x01,                                              /* connection_id -1 */
};

static const char fixed_json[] =
    "{\"venue\":\"binance\",\"symbol\":\"BTC-USDT\",\"native_symbol\":\"BTCUSDT\","
    "\"kind\":\"AGG_TRADE\",\"first_missing_id\":100,\"last_missing_id\":105,"
    "\"status\":\"PARTIAL\",\"reason\":\"absent from history\",\"missing_count\":2,"
    "\"filled_count\":4,\"missing_ranges\":[{\"first\":101,\"last\":102,"
    "\"reason\":\"absent from history\"}],\"ranges_truncated\":true,"
    "\"detected_time_ns\":64,\"reported_time_ns\":-65,\"connection_id\":-1}\n";

static size_t avro_of(const struct fh_gap_record *g, uint8_t *out, size_t cap)
{
    struct fh_fbuf b;
    fh_fbuf_init(&b, out, cap);
    int rc = fh_avro_encode_gap(&b, g);
    if (rc != 0)
        fail_msg("fh_avro_encode_gap: %s", fh_strerror(rc));
    assert_int_equal(b.len, fh_avro_gap_size(g));
    return b.len;
}

static size_t json_of(const struct fh_gap_record *g, char *out, size_t cap)
{
    struct fh_fbuf b;
    fh_fbuf_init(&b, out, cap);
    int rc = fh_jsonl_encode_gap(&b, g);
    if (rc != 0)
        fail_msg("fh_jsonl_encode_gap: %s", fh_strerror(rc));
    assert_int_equal(b.len, fh_jsonl_gap_size(g));
    return b.len;
}

static void expect_json(const struct fh_gap_record *g, const char *want)
{
    static char out[FH_JSONL_GAP_MAX];
    size_t n = json_of(g, out, sizeof(out));
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("got  %.*s\nwant %s", (int)n, out, want);
}

static void test_fixed_record_avro(void **state)
{
    (void)state;
    struct fh_gap_record g = fixed();
    uint8_t out[256];
    size_t n = avro_of(&g, out, sizeof(out));
    assert_int_equal(n, sizeof(fixed_avro));
    assert_memory_equal(out, fixed_avro, sizeof(fixed_avro));
}

static void test_fixed_record_json(void **state)
{
    (void)state;
    struct fh_gap_record g = fixed();
    expect_json(&g, fixed_json);
}

/* DETECTED: empty reason, no ranges (the array is its closing 0 alone), Kraken TRADE ids. */
static void test_detected_record(void **state)
{
    (void)state;
    struct fh_gap_record g = {0};
    g.venue = FH_STR_LIT("kraken");
    g.symbol = FH_STR_LIT("BTC-USD");
    g.native_symbol = FH_STR_LIT("BTC/USD");
    g.kind = FH_KIND_TRADE;
    g.first_missing_id = 7;
    g.last_missing_id = 9;
    g.status = FH_GAP_DETECTED;
    g.missing_count = 3;
    g.detected_time_ns = 1;
    g.reported_time_ns = 1;
    g.connection_id = 2;
    static const uint8_t want[] = {
        0x0c, 'k',  'r',  'a', 'k', 'e', 'n',      /* venue */
        0x0e, 'B',  'T',  'C', '-', 'U', 'S', 'D', /* symbol */
        0x0e, 'B',  'T',  'C', '/', 'U', 'S', 'D', /* native_symbol */
        0x00,                                      /* kind TRADE */
        0x0e, 0x12,                                /* first 7, last 9 */
        0x00,                                      /* status DETECTED */
        0x00,                                      /* reason "" */
        0x06, 0x00,                                /* missing_count 3, filled_count 0 */
        0x00,                                      /* missing_ranges: empty */
        0x00,                                      /* ranges_truncated false */
        0x02, 0x02, 0x04,                          /* times 1 and 1, connection_id 2 */
    };
    uint8_t out[128];
    size_t n = avro_of(&g, out, sizeof(out));
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    expect_json(&g, "{\"venue\":\"kraken\",\"symbol\":\"BTC-USD\",\"native_symbol\":\"BTC/USD\","
                    "\"kind\":\"TRADE\",\"first_missing_id\":7,\"last_missing_id\":9,"
                    "\"status\":\"DETECTED\",\"reason\":\"\",\"missing_count\":3,"
                    "\"filled_count\":0,\"missing_ranges\":[],\"ranges_truncated\":false,"
                    "\"detected_time_ns\":1,\"reported_time_ns\":1,\"connection_id\":2}\n");
}

/* Every status: its enum index in the Avro byte after last_missing_id, its symbol in JSON. */
static void test_every_status(void **state)
{
    (void)state;
    static const char *const names[] = {"DETECTED", "FILLED", "PARTIAL", "UNRECOVERABLE"};
    const size_t status_at = 8 + 9 + 8 + 1 + 2 + 2; /* the three strings, kind, two ids */
    for (int s = 0; s < 4; s++) {
        struct fh_gap_record g = fixed();
        g.status = (enum fh_gap_status)s;
        assert_string_equal(fh_gap_status_name(g.status), names[s]);
        uint8_t out[256];
        size_t n = avro_of(&g, out, sizeof(out));
        assert_int_equal(n, sizeof(fixed_avro));
        assert_int_equal(out[status_at], 2 * s);
        out[status_at] = fixed_avro[status_at];
        assert_memory_equal(out, fixed_avro, sizeof(fixed_avro));
        char line[1024], want[64];
        size_t len = json_of(&g, line, sizeof(line));
        snprintf(want, sizeof(want), ",\"status\":\"%s\",", names[s]);
        assert_non_null(memmem(line, len, want, strlen(want)));
    }
    assert_string_equal(fh_gap_status_name((enum fh_gap_status)4), "DETECTED");
}

/* Many ranges: one block with their count, in order; in JSON comma-separated objects. */
static void test_many_ranges(void **state)
{
    (void)state;
    struct fh_gap_range r[FH_GAP_RANGES_MAX];
    for (int i = 0; i < FH_GAP_RANGES_MAX; i++)
        r[i] = (struct fh_gap_range){2 * i, 2 * i, FH_STR_LIT("")};
    r[1].reason = FH_STR_LIT("rest unavailable");
    struct fh_gap_record g = {0};
    g.first_missing_id = 0;
    g.last_missing_id = 2 * FH_GAP_RANGES_MAX;
    g.status = FH_GAP_UNRECOVERABLE;
    g.ranges = r;
    g.n_ranges = FH_GAP_RANGES_MAX;
    uint8_t out[1024];
    size_t n = avro_of(&g, out, sizeof(out));
    /* 3 empty strings, kind, first 0, last 64 (2 bytes), status, reason, 2 counts. */
    size_t at = 3 + 1 + 1 + 2 + 1 + 1 + 2;
    assert_int_equal(out[at], 2 * FH_GAP_RANGES_MAX); /* the block count, 32: zig-zag 64 */
    at++;
    assert_int_equal(out[at], 0x00); /* range 0: first 0 */
    assert_int_equal(out[at + 1], 0x00);
    assert_int_equal(out[at + 2], 0x00);
    at += 3;
    static const uint8_t r1[] = {0x04, 0x04, 0x20, 'r', 'e', 's', 't', ' ', 'u', 'n',
                                 'a',  'v',  'a',  'i', 'l', 'a', 'b', 'l', 'e'};
    assert_memory_equal(out + at, r1, sizeof(r1));
    at += sizeof(r1);
    for (int i = 2; i < FH_GAP_RANGES_MAX; i++) {
        uint8_t z = (uint8_t)(4 * i); /* zig-zag of 2i, one byte up to 62 */
        if (4 * i < 128) {
            assert_int_equal(out[at], z);
            assert_int_equal(out[at + 1], z);
            assert_int_equal(out[at + 2], 0x00);
            at += 3;
        } else {
            assert_int_equal(out[at], (uint8_t)(0x80 | (4 * i & 0x7f)));
            assert_int_equal(out[at + 1], 0x01);
            at += 5;
        }
    }
    assert_int_equal(out[at], 0x00); /* end of the array */
    assert_int_equal(n, at + 1 + 1 + 3);

    static char line[4096];
    size_t len = json_of(&g, line, sizeof(line));
    line[len] = '\0';
    assert_non_null(strstr(line, "\"missing_ranges\":[{\"first\":0,\"last\":0,\"reason\":\"\"},"
                                 "{\"first\":2,\"last\":2,\"reason\":\"rest unavailable\"},"
                                 "{\"first\":4,\"last\":4,\"reason\":\"\"},"));
    assert_non_null(
        strstr(line, "{\"first\":62,\"last\":62,\"reason\":\"\"}],\"ranges_truncated\""));
}

/* Strings are escaped exactly as in the trade lines (jsonl.h). */
static void test_json_escapes(void **state)
{
    (void)state;
    struct fh_gap_record g = fixed();
    static const char venue[] = "a\"b\\c\x01\n\xc3\xa9\xff";
    g.venue = (struct fh_str){venue, sizeof(venue) - 1};
    g.reason = (struct fh_str){"r\0s", 3};
    g.n_ranges = 0;
    g.first_missing_id = INT64_MIN;
    g.last_missing_id = INT64_MAX;
    expect_json(&g,
                "{\"venue\":\"a\\\"b\\\\c\\u0001\\u000a\xc3\xa9\\ufffd\",\"symbol\":\"BTC-USDT\","
                "\"native_symbol\":\"BTCUSDT\",\"kind\":\"AGG_TRADE\","
                "\"first_missing_id\":-9223372036854775808,"
                "\"last_missing_id\":9223372036854775807,\"status\":\"PARTIAL\","
                "\"reason\":\"r\\u0000s\",\"missing_count\":2,\"filled_count\":4,"
                "\"missing_ranges\":[],\"ranges_truncated\":true,\"detected_time_ns\":64,"
                "\"reported_time_ns\":-65,\"connection_id\":-1}\n");
}

/* ---- avro-c and jsmn on many records ---- */

static void test_schema_matches_c_enums(void **state)
{
    (void)state;
    struct oracle *o = oracle_new();
    avro_schema_t s = avro_schema_record_field_get(o->schema, "status");
    assert_true(is_avro_enum(s));
    assert_int_equal(avro_schema_enum_number_of_symbols(s), 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(avro_schema_enum_get(s, i), fh_gap_status_name((enum fh_gap_status)i));
    s = avro_schema_record_field_get(o->schema, "kind");
    assert_true(is_avro_enum(s));
    assert_int_equal(avro_schema_enum_number_of_symbols(s), 2);
    for (int i = 0; i < 2; i++)
        assert_string_equal(avro_schema_enum_get(s, i), fh_trade_kind_name((enum fh_trade_kind)i));
    oracle_free(o);
}

/* A JSON line is one strict JSON object with 15 members, ending in a newline. */
static void check_json_line(const struct fh_gap_record *g, const char *what, int idx)
{
    static char line[FH_JSONL_GAP_MAX];
    static jsmntok_t tok[512];
    size_t n = json_of(g, line, sizeof(line));
    assert_true(n <= FH_JSONL_GAP_MAX);
    if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1) != NULL)
        fail_msg("%s gap %d: not one line", what, idx);
    jsmn_parser p;
    jsmn_init(&p);
    int k = jsmn_parse(&p, line, n - 1, tok, sizeof(tok) / sizeof(tok[0]));
    if (k <= 0 || tok[0].type != JSMN_OBJECT || tok[0].size != 15 || tok[0].end != (int)n - 1)
        fail_msg("%s gap %d: not a JSON object of 15 members (%d): %.*s", what, idx, k, (int)n,
                 line);
    /* 1 object, 15 keys, 15 values, and per range an object, 3 keys and 3 values. */
    assert_int_equal(k, 31 + 7 * (int)g->n_ranges);
}

static void test_edge_records(void **state)
{
    (void)state;
    struct oracle *o = oracle_new();
    static struct fh_test_gap t;
    for (int i = 0; i < FH_GG_EDGE_COUNT; i++) {
        fh_gg_edge(&t, i);
        compare_with_oracle(o, &t.g, "edge", i);
        check_json_line(&t.g, "edge", i);
    }
    /* Records 1 and 2 reach every Avro bound; record 3 the JSON one, as computed. */
    fh_gg_edge(&t, 1);
    assert_int_equal(fh_avro_gap_size(&t.g), FH_AVRO_GAP_MAX);
    fh_gg_edge(&t, 2);
    assert_int_equal(fh_avro_gap_size(&t.g), FH_AVRO_GAP_MAX); /* zig-zag INT64_MAX: 10 bytes */
    fh_gg_edge(&t, 3);
    size_t json_max = fh_jsonl_gap_size(&t.g);
    assert_true(json_max <= FH_JSONL_GAP_MAX);
    assert_true(json_max > FH_JSONL_GAP_MAX - 16); /* the bound is not slack */
    oracle_free(o);
}

static void test_random_records(void **state)
{
    (void)state;
    struct oracle *o = oracle_new();
    static struct fh_test_gap t;
    uint64_t seed = SEED;
    for (int i = 0; i < RANDOM_GAPS; i++) {
        fh_gg_random(&t, &seed);
        compare_with_oracle(o, &t.g, "random", i);
        check_json_line(&t.g, "random", i);
    }
    oracle_free(o);
}

/* ---- framing and fingerprint ---- */

static void test_framings(void **state)
{
    (void)state;
    struct fh_gap_record g = fixed();
    uint8_t conf[256], so[256];
    struct fh_fbuf b;
    fh_fbuf_init(&b, conf, sizeof(conf));
    assert_int_equal(fh_avro_encode_gap_confluent(&b, 0x01020304u, &g), 0);
    static const uint8_t conf_hdr[] = {0x00, 0x01, 0x02, 0x03, 0x04};
    assert_int_equal(b.len, sizeof(conf_hdr) + sizeof(fixed_avro));
    assert_memory_equal(conf, conf_hdr, sizeof(conf_hdr));
    assert_memory_equal(conf + 5, fixed_avro, sizeof(fixed_avro));

    fh_fbuf_init(&b, so, sizeof(so));
    assert_int_equal(fh_avro_encode_gap_single_object(&b, &g), 0);
    assert_int_equal(b.len, 10 + sizeof(fixed_avro));
    uint64_t fp = 0;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    assert_int_equal(fh_avro_single_object_parse(so, b.len, &fp, &body, &body_len), 0);
    assert_true(fp == fh_gap_schema_fingerprint());
    assert_int_equal(body_len, sizeof(fixed_avro));
    assert_memory_equal(body, fixed_avro, sizeof(fixed_avro));
    /* The header's bytes: C3 01 and the fingerprint little-endian. */
    assert_int_equal(so[0], 0xC3);
    assert_int_equal(so[1], 0x01);
    for (int i = 0; i < 8; i++)
        assert_int_equal(so[2 + i], (uint8_t)(fp >> (8 * i)));
}

static void test_gap_schema_fingerprint(void **state)
{
    (void)state;
    assert_int_equal(fh_codec_init(), 0);
    size_t n = 0;
    const char *pcf = fh_gap_schema_canonical(&n);
    assert_int_equal(n, strlen(pcf));
    assert_true(n > 0);
    assert_true(fh_gap_schema_fingerprint() == fh_crc64_avro(pcf, n));
    assert_true(fh_gap_schema_fingerprint() != fh_trade_schema_fingerprint());
    assert_true(strncmp(pcf, "{\"name\":\"feedhandler.Gap\",\"type\":\"record\",", 42) == 0);
    assert_non_null(strstr(pcf, "{\"name\":\"missing_ranges\",\"type\":{\"type\":\"array\","
                                "\"items\":{\"name\":\"feedhandler.GapRange\",\"type\":\"record\","
                                "\"fields\":[{\"name\":\"first\",\"type\":\"long\"},"));
    assert_non_null(strstr(pcf, "{\"name\":\"feedhandler.GapStatus\",\"type\":\"enum\",\"symbols\":"
                                "[\"DETECTED\",\"FILLED\",\"PARTIAL\",\"UNRECOVERABLE\"]}"));
    assert_null(strstr(pcf, "doc"));
    assert_null(strstr(pcf, "default"));
    /* Re-canonicalizing is the identity, and avro-c reads the form as the same schema. */
    char again[8192];
    size_t n2 = 0;
    assert_int_equal(fh_avro_canonical_form(pcf, n, again, sizeof(again), &n2), 0);
    assert_string_equal(again, pcf);
    avro_schema_t a, b;
    assert_int_equal(avro_schema_from_json_length(pcf, n, &a), 0);
    assert_int_equal(avro_schema_from_json_length(fh_gap_schema_json, fh_gap_schema_json_len, &b),
                     0);
    assert_true(avro_schema_equal(a, b));
    avro_schema_decref(a);
    avro_schema_decref(b);
}

/* ---- errors ---- */

enum { ENC_PLAIN, ENC_CONFLUENT, ENC_SINGLE, ENC_JSON, ENC_COUNT };

static int encode_with(int how, struct fh_fbuf *b, const struct fh_gap_record *g)
{
    switch (how) {
    case ENC_PLAIN:
        return fh_avro_encode_gap(b, g);
    case ENC_CONFLUENT:
        return fh_avro_encode_gap_confluent(b, 7, g);
    case ENC_SINGLE:
        return fh_avro_encode_gap_single_object(b, g);
    default:
        return fh_jsonl_encode_gap(b, g);
    }
}

/* Every encoder refuses g with want, writing nothing and leaving the buffer usable. */
static void expect_refused(const struct fh_gap_record *g, int want, int line)
{
    assert_int_equal(fh_gap_record_check(g), want);
    for (int how = 0; how < ENC_COUNT; how++) {
        uint8_t mem[FH_JSONL_GAP_MAX];
        memset(mem, 0xA5, sizeof(mem));
        struct fh_fbuf b;
        fh_fbuf_init(&b, mem, sizeof(mem));
        int rc = encode_with(how, &b, g);
        if (rc != want)
            fail_msg("line %d, encoder %d: got %d, want %d", line, how, rc, want);
        assert_int_equal(b.len, 0);
        assert_false(b.overflow);
        assert_int_equal(mem[0], 0xA5);
    }
}
#define REFUSED(g, want) expect_refused(&(g), (want), __LINE__)

static void test_invalid_records(void **state)
{
    (void)state;
    static char big[FH_GAP_REASON_MAX + 1];
    memset(big, 'x', sizeof(big));
    struct fh_gap_range r[FH_GAP_RANGES_MAX + 1];
    for (int i = 0; i <= FH_GAP_RANGES_MAX; i++)
        r[i] = (struct fh_gap_range){100, 105, FH_STR_LIT("absent from history")};
    const struct fh_gap_record ok = fixed();
    struct fh_gap_record g;

    /* At the bounds: accepted. */
    g = ok;
    g.venue = (struct fh_str){big, FH_GAP_NAME_MAX};
    g.symbol = g.native_symbol = g.venue;
    g.reason = (struct fh_str){big, FH_GAP_REASON_MAX};
    g.ranges = r;
    g.n_ranges = FH_GAP_RANGES_MAX;
    r[0].reason = g.reason;
    assert_int_equal(fh_gap_record_check(&g), 0);
    uint8_t out[FH_AVRO_GAP_MAX];
    avro_of(&g, out, sizeof(out));

    /* Strings one byte too long, too many ranges: FH_ERANGE. */
    g = ok;
    g.venue = (struct fh_str){big, FH_GAP_NAME_MAX + 1};
    REFUSED(g, FH_ERANGE);
    g = ok;
    g.symbol = (struct fh_str){big, FH_GAP_NAME_MAX + 1};
    REFUSED(g, FH_ERANGE);
    g = ok;
    g.native_symbol = (struct fh_str){big, FH_GAP_NAME_MAX + 1};
    REFUSED(g, FH_ERANGE);
    g = ok;
    g.reason = (struct fh_str){big, FH_GAP_REASON_MAX + 1};
    REFUSED(g, FH_ERANGE);
    g = ok;
    g.ranges = r;
    g.n_ranges = FH_GAP_RANGES_MAX + 1;
    REFUSED(g, FH_ERANGE);
    g = ok;
    g.ranges = r;
    g.n_ranges = 2;
    r[1].reason = (struct fh_str){big, FH_GAP_REASON_MAX + 1};
    REFUSED(g, FH_ERANGE);
    r[1].reason = FH_STR_LIT("absent from history");

    /* Values outside the schema or the record's own rules: FH_EINVAL. */
    g = ok;
    g.status = (enum fh_gap_status)4;
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.status = (enum fh_gap_status) - 1;
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.kind = (enum fh_trade_kind)2;
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.first_missing_id = 106;
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.missing_count = -1;
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.filled_count = -1;
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.ranges = NULL;
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.venue = (struct fh_str){NULL, 1};
    REFUSED(g, FH_EINVAL);
    g = ok;
    g.ranges = r;
    g.n_ranges = 2;
    r[1] = (struct fh_gap_range){104, 103, FH_STR_LIT("")}; /* first > last */
    REFUSED(g, FH_EINVAL);
    r[1] = (struct fh_gap_range){99, 100, FH_STR_LIT("")}; /* starts before the gap */
    REFUSED(g, FH_EINVAL);
    r[1] = (struct fh_gap_range){105, 106, FH_STR_LIT("")}; /* ends after it */
    REFUSED(g, FH_EINVAL);
    r[1] = (struct fh_gap_range){105, 105, (struct fh_str){NULL, 2}};
    REFUSED(g, FH_EINVAL);
    r[1] = (struct fh_gap_range){105, 105, FH_STR_LIT("")};
    assert_int_equal(fh_gap_record_check(&g), 0);
}

/* Every capacity below the exact size fails without writing; the exact size succeeds. */
static void check_boundaries(const struct fh_gap_record *g, int how)
{
    static uint8_t mem[FH_JSONL_GAP_MAX + 16], ref[FH_JSONL_GAP_MAX + 16];
    size_t prefix = 3;
    struct fh_fbuf b;
    fh_fbuf_init(&b, ref, sizeof(ref));
    fh_fbuf_put(&b, "abc", prefix);
    assert_int_equal(encode_with(how, &b, g), 0);
    size_t need = b.len;
    for (size_t cap = 0; cap <= need; cap++) {
        memset(mem, 0xA5, need + 1);
        size_t len0 = cap < prefix ? cap : prefix;
        memcpy(mem, "abc", len0);
        fh_fbuf_init(&b, mem, cap);
        b.len = len0;
        int rc = encode_with(how, &b, g);
        if (cap < need) {
            assert_int_equal(rc, FH_ENOSPACE);
            assert_true(b.overflow);
            assert_int_equal(b.len, len0);
            for (size_t k = len0; k <= need; k++)
                assert_int_equal(mem[k], 0xA5);
        } else {
            assert_int_equal(rc, 0);
            assert_false(b.overflow);
            assert_int_equal(b.len, need);
            assert_memory_equal(mem, ref, need);
            assert_int_equal(mem[need], 0xA5);
        }
    }
}

static void test_buffer_too_small(void **state)
{
    (void)state;
    struct fh_gap_record g = fixed();
    static struct fh_test_gap t;
    for (int how = 0; how < ENC_COUNT; how++) {
        check_boundaries(&g, how);
        fh_gg_edge(&t, 0);
        check_boundaries(&t.g, how);
    }
    /* The largest records fit their bounds exactly. */
    fh_gg_edge(&t, 1);
    check_boundaries(&t.g, ENC_PLAIN);
    fh_gg_edge(&t, 3);
    check_boundaries(&t.g, ENC_JSON);
    /* Overflow is sticky: a later record that would fit is refused too. */
    uint8_t mem[16];
    struct fh_fbuf b;
    fh_fbuf_init(&b, mem, sizeof(mem));
    for (int how = 0; how < ENC_COUNT; how++)
        assert_int_equal(encode_with(how, &b, &g), FH_ENOSPACE);
    fh_gg_edge(&t, 0);
    b.cap = sizeof(mem);
    assert_int_equal(fh_avro_encode_gap(&b, &t.g), FH_ENOSPACE);
    assert_int_equal(b.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_record_avro),
        cmocka_unit_test(test_fixed_record_json),
        cmocka_unit_test(test_detected_record),
        cmocka_unit_test(test_every_status),
        cmocka_unit_test(test_many_ranges),
        cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_schema_matches_c_enums),
        cmocka_unit_test(test_edge_records),
        cmocka_unit_test(test_random_records),
        cmocka_unit_test(test_framings),
        cmocka_unit_test(test_gap_schema_fingerprint),
        cmocka_unit_test(test_invalid_records),
        cmocka_unit_test(test_buffer_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
