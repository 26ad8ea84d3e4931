/*
 * test_avro.c - the Avro encoder, framing, Parsing Canonical Form and CRC-64-AVRO
 * (src/codec/avro.c, src/codec/avro_schema.c).
 *
 * The encoder is checked against Apache avro-c (libavro), an independent implementation fed
 * the same schema text: identical bytes for edge-value and randomized trades.
 */
#include "testutil.h"

#include "../tools/trade_gen.h"

#include "codec/avro.h"
#include "core/err.h"

#include <avro.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_TRADES 10000
#define SEED          0x5eed0fa17aULL

/* ---- avro-c as the oracle ---- */

struct oracle {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec;
    avro_writer_t writer;
    char out[32768];
    char str[FH_TG_STR_CAP + 1];
};

static struct oracle *oracle_new(void)
{
    struct oracle *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    if (avro_schema_from_json_length(fh_trade_schema_json, fh_trade_schema_json_len, &o->schema) !=
        0)
        fail_msg("avro-c rejects schemas/trade.avsc: %s", avro_strerror());
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

static avro_value_t field(struct oracle *o, const char *name)
{
    avro_value_t f = {NULL, NULL};
    if (avro_value_get_by_name(&o->rec, name, &f, NULL) != 0)
        fail_msg("avro-c has no field %s", name);
    return f;
}

static void set_string(struct oracle *o, const char *name, struct fh_str s)
{
    avro_value_t f = field(o, name);
    /* avro-c strings carry their NUL in the size; embedded NULs are kept. */
    assert_true(s.n <= FH_TG_STR_CAP);
    if (s.n > 0)
        memcpy(o->str, s.p, s.n);
    o->str[s.n] = '\0';
    assert_int_equal(avro_value_set_string_len(&f, o->str, s.n + 1), 0);
}

static void set_opt_long(struct oracle *o, const char *name, bool has, int64_t v)
{
    avro_value_t f = field(o, name), branch = {NULL, NULL};
    assert_int_equal(avro_value_set_branch(&f, has ? 1 : 0, &branch), 0);
    if (has)
        assert_int_equal(avro_value_set_long(&branch, v), 0);
    else
        assert_int_equal(avro_value_set_null(&branch), 0);
}

static void set_long(struct oracle *o, const char *name, int64_t v)
{
    avro_value_t f = field(o, name);
    assert_int_equal(avro_value_set_long(&f, v), 0);
}

static void set_enum(struct oracle *o, const char *name, int v)
{
    avro_value_t f = field(o, name);
    assert_int_equal(avro_value_set_enum(&f, v), 0);
}

static void set_decimal(struct oracle *o, const char *name, fh_decimal d)
{
    avro_value_t f = field(o, name);
    uint8_t be[16];
    size_t n = fh_decimal_to_be_bytes(d, be);
    assert_true(n >= 1 && n <= 16);
    assert_int_equal(avro_value_set_bytes(&f, be, n), 0);
}

/* Encodes t with avro-c; returns the length of o->out. */
static size_t oracle_encode(struct oracle *o, const struct fh_trade *t)
{
    avro_value_reset(&o->rec);
    set_string(o, "venue", t->venue);
    set_string(o, "symbol", t->symbol);
    set_string(o, "native_symbol", t->native_symbol);
    set_opt_long(o, "trade_id", t->has & FH_HAS_TRADE_ID, t->trade_id);
    set_opt_long(o, "first_trade_id", t->has & FH_HAS_FIRST_TRADE_ID, t->first_trade_id);
    set_opt_long(o, "last_trade_id", t->has & FH_HAS_LAST_TRADE_ID, t->last_trade_id);
    set_enum(o, "kind", (int)t->kind);
    set_decimal(o, "price", t->price);
    set_decimal(o, "quantity", t->quantity);
    set_enum(o, "side", (int)t->side);
    set_enum(o, "order_type", (int)t->order_type);
    set_long(o, "trade_time", t->trade_time_us);
    set_opt_long(o, "event_time", t->has & FH_HAS_EVENT_TIME, t->event_time_us);
    set_long(o, "receive_time_ns", t->receive_time_ns);
    set_enum(o, "source", (int)t->source);
    set_long(o, "connection_id", t->connection_id);
    set_long(o, "sequence", t->sequence);
    avro_writer_memory_set_dest(o->writer, o->out, sizeof(o->out));
    if (avro_value_write(o->writer, &o->rec) != 0)
        fail_msg("avro-c cannot write: %s", avro_strerror());
    size_t sz = 0;
    assert_int_equal(avro_value_sizeof(&o->rec, &sz), 0);
    size_t n = (size_t)avro_writer_tell(o->writer);
    assert_int_equal(sz, n);
    return n;
}

static void hexdump_diff(const char *what, int idx, const uint8_t *a, size_t na, const uint8_t *b,
                         size_t nb)
{
    size_t k = 0;
    while (k < na && k < nb && a[k] == b[k])
        k++;
    fprintf(stderr, "%s %d: lengths ours %zu avro-c %zu, first difference at byte %zu\n", what, idx,
            na, nb, k);
}

static void compare_with_oracle(struct oracle *o, const struct fh_trade *t, const char *what,
                                int idx)
{
    static uint8_t ours[32768];
    struct fh_fbuf b;
    fh_fbuf_init(&b, ours, sizeof(ours));
    assert_int_equal(fh_avro_encode_trade(&b, t), 0);
    assert_int_equal(b.len, fh_avro_trade_size(t));
    assert_true(b.len <= fh_avro_trade_max_size(t));
    size_t n = oracle_encode(o, t);
    if (n != b.len || memcmp(ours, o->out, n) != 0) {
        hexdump_diff(what, idx, ours, b.len, (const uint8_t *)o->out, n);
        fail_msg("%s trade %d: our encoding differs from avro-c's", what, idx);
    }
}

static void test_avroc_accepts_schema_and_enum_order(void **state)
{
    (void)state;
    struct oracle *o = oracle_new();
    static const struct {
        const char *field;
        int count;
    } enums[] = {{"kind", 2}, {"side", 3}, {"order_type", 3}, {"source", 4}};
    for (size_t e = 0; e < sizeof(enums) / sizeof(enums[0]); e++) {
        avro_schema_t s = avro_schema_record_field_get(o->schema, enums[e].field);
        assert_non_null(s);
        assert_true(is_avro_enum(s));
        assert_int_equal(avro_schema_enum_number_of_symbols(s), enums[e].count);
        for (int i = 0; i < enums[e].count; i++) {
            /* The schema's symbol at index i is the C name of enum value i. */
            const char *c_name = e == 0   ? fh_trade_kind_name((enum fh_trade_kind)i)
                                 : e == 1 ? fh_side_name((enum fh_side)i)
                                 : e == 2 ? fh_order_type_name((enum fh_order_type)i)
                                          : fh_source_name((enum fh_source)i);
            assert_string_equal(avro_schema_enum_get(s, i), c_name);
        }
    }
    oracle_free(o);
}

static void test_edge_trades_match_avroc(void **state)
{
    (void)state;
    struct oracle *o = oracle_new();
    static struct fh_test_trade g;
    for (int i = 0; i < FH_TG_EDGE_COUNT; i++) {
        fh_tg_edge(&g, i);
        compare_with_oracle(o, &g.t, "edge", i);
    }
    oracle_free(o);
}

static void test_random_trades_match_avroc(void **state)
{
    (void)state;
    struct oracle *o = oracle_new();
    static struct fh_test_trade g;
    uint64_t seed = SEED;
    for (int i = 0; i < RANDOM_TRADES; i++) {
        fh_tg_random(&g, &seed);
        compare_with_oracle(o, &g.t, "random", i);
    }
    oracle_free(o);
}

/* A hand-encoded record, independent of both implementations. */
static void test_known_answer(void **state)
{
    (void)state;
    struct fh_trade t = {0};
    t.venue = FH_STR_LIT("kraken");
    t.symbol = FH_STR_LIT("BTC-USD");
    t.native_symbol = FH_STR_LIT("XBT/USD");
    t.has = FH_HAS_TRADE_ID;
    t.trade_id = -1;
    t.kind = FH_KIND_AGG_TRADE;
    t.price = fh_decimal_from_units(255);   /* 2.55e-16: bytes 00 FF */
    t.quantity = fh_decimal_from_units(-1); /* bytes FF */
    t.side = FH_SIDE_SELL;
    t.order_type = FH_ORDER_LIMIT;
    t.trade_time_us = 64; /* zig-zag 128: 80 01 */
    t.receive_time_ns = 1;
    t.source = FH_SOURCE_REPLAY;
    t.connection_id = -64; /* zig-zag 127: 7F */
    t.sequence = 0;
    static const uint8_t want[] = {
        0x0c, 'k',  'r',  'a', 'k', 'e', 'n',      /* venue */
        0x0e, 'B',  'T',  'C', '-', 'U', 'S', 'D', /* symbol */
        0x0e, 'X',  'B',  'T', '/', 'U', 'S', 'D', /* native_symbol */
        0x02, 0x01,                                /* trade_id: branch 1, -1 */
        0x00, 0x00,                                /* first/last_trade_id: null */
        0x02,                                      /* kind AGG_TRADE */
        0x04, 0x00, 0xff,                          /* price: 2 bytes */
        0x02, 0xff,                                /* quantity: 1 byte */
        0x02, 0x02,                                /* side SELL, order_type LIMIT */
        0x80, 0x01,                                /* trade_time 64 */
        0x00,                                      /* event_time null */
        0x02,                                      /* receive_time_ns 1 */
        0x06,                                      /* source REPLAY */
        0x7f,                                      /* connection_id -64 */
        0x00,                                      /* sequence 0 */
    };
    uint8_t out[256];
    struct fh_fbuf b;
    fh_fbuf_init(&b, out, sizeof(out));
    assert_int_equal(fh_avro_encode_trade(&b, &t), 0);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
}

/* Every capacity below the exact size fails without writing; the exact size succeeds. */
static void check_boundaries(const struct fh_trade *t, int framing)
{
    static uint8_t mem[16384], ref[16384];
    size_t prefix = 3;
    struct fh_fbuf b;
    fh_fbuf_init(&b, ref, sizeof(ref));
    fh_fbuf_put(&b, "abc", prefix);
    int rc = framing == 0   ? fh_avro_encode_trade(&b, t)
             : framing == 1 ? fh_avro_encode_trade_confluent(&b, 7, t)
                            : fh_avro_encode_trade_single_object(&b, t);
    assert_int_equal(rc, 0);
    size_t need = b.len;
    for (size_t cap = 0; cap <= need; cap++) {
        memset(mem, 0xA5, sizeof(mem));
        size_t len0 = cap < prefix ? cap : prefix;
        memcpy(mem, "abc", len0);
        fh_fbuf_init(&b, mem, cap);
        b.len = len0;
        rc = framing == 0   ? fh_avro_encode_trade(&b, t)
             : framing == 1 ? fh_avro_encode_trade_confluent(&b, 7, t)
                            : fh_avro_encode_trade_single_object(&b, t);
        if (cap < need) {
            assert_int_equal(rc, FH_ENOSPACE);
            assert_true(b.overflow);
            assert_int_equal(b.len, len0);
            for (size_t k = len0; k < sizeof(mem); k++)
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
    static struct fh_test_trade g;
    for (int i = 0; i < 8; i++) {
        fh_tg_edge(&g, i);
        if (i == 5)
            continue; /* the 9000-byte string: covered by the sticky test below */
        for (int framing = 0; framing < 3; framing++)
            check_boundaries(&g.t, framing);
    }
    /* Overflow is sticky: a later record that would fit is refused too. */
    fh_tg_edge(&g, 5);
    uint8_t mem[512];
    struct fh_fbuf b;
    fh_fbuf_init(&b, mem, sizeof(mem));
    assert_int_equal(fh_avro_encode_trade(&b, &g.t), FH_ENOSPACE);
    assert_int_equal(b.len, 0);
    fh_tg_edge(&g, 0);
    assert_int_equal(fh_avro_encode_trade(&b, &g.t), FH_ENOSPACE);
    assert_int_equal(fh_avro_encode_trade_confluent(&b, 1, &g.t), FH_ENOSPACE);
    assert_int_equal(b.len, 0);
}

static void test_invalid_values_rejected(void **state)
{
    (void)state;
    static struct fh_test_trade g;
    uint8_t mem[1024];
    struct fh_fbuf b;
    fh_tg_edge(&g, 2);
    struct fh_trade t = g.t;
    fh_fbuf_init(&b, mem, sizeof(mem));

    t.side = (enum fh_side)3;
    assert_int_equal(fh_avro_encode_trade(&b, &t), FH_EINVAL);
    t = g.t;
    t.source = (enum fh_source) - 1;
    assert_int_equal(fh_avro_encode_trade(&b, &t), FH_EINVAL);
    t = g.t;
    t.kind = (enum fh_trade_kind)2;
    assert_int_equal(fh_avro_encode_trade(&b, &t), FH_EINVAL);
    t = g.t;
    t.order_type = (enum fh_order_type)3;
    assert_int_equal(fh_avro_encode_trade(&b, &t), FH_EINVAL);
    t = g.t;
    t.price.units += 1; /* 10^38: one digit too many */
    assert_int_equal(fh_avro_encode_trade(&b, &t), FH_ERANGE);
    t = g.t;
    t.quantity.units = -t.quantity.units - 1;
    assert_int_equal(fh_avro_encode_trade(&b, &t), FH_ERANGE);
    /* Nothing was written, and the buffer is still usable. */
    assert_int_equal(b.len, 0);
    assert_false(b.overflow);
    assert_int_equal(fh_avro_encode_trade(&b, &g.t), 0);
}

static void test_framing_headers(void **state)
{
    (void)state;
    uint8_t h[16];
    fh_avro_confluent_header(h, 0x01020304u);
    static const uint8_t conf[] = {0x00, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(h, conf, sizeof(conf));
    fh_avro_single_object_header(h, 0x0102030405060708ULL);
    static const uint8_t so[] = {0xC3, 0x01, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
    assert_memory_equal(h, so, sizeof(so));

    /* Framed encodings are the header followed by the plain body. */
    static struct fh_test_trade g;
    fh_tg_edge(&g, 4);
    uint8_t plain[512], conf_msg[512], so_msg[512];
    struct fh_fbuf b1, b2, b3;
    fh_fbuf_init(&b1, plain, sizeof(plain));
    fh_fbuf_init(&b2, conf_msg, sizeof(conf_msg));
    fh_fbuf_init(&b3, so_msg, sizeof(so_msg));
    assert_int_equal(fh_avro_encode_trade(&b1, &g.t), 0);
    assert_int_equal(fh_avro_encode_trade_confluent(&b2, 0xdeadbeefu, &g.t), 0);
    assert_int_equal(fh_avro_encode_trade_single_object(&b3, &g.t), 0);

    uint32_t id = 0;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    assert_int_equal(fh_avro_confluent_parse(conf_msg, b2.len, &id, &body, &body_len), 0);
    assert_int_equal(id, 0xdeadbeefu);
    assert_ptr_equal(body, conf_msg + 5);
    assert_int_equal(body_len, b1.len);
    assert_memory_equal(body, plain, b1.len);

    uint64_t fp = 0;
    assert_int_equal(fh_avro_single_object_parse(so_msg, b3.len, &fp, &body, &body_len), 0);
    assert_true(fp == fh_trade_schema_fingerprint());
    assert_ptr_equal(body, so_msg + 10);
    assert_int_equal(body_len, b1.len);
    assert_memory_equal(body, plain, b1.len);

    /* Wrong magic and short input are refused, outputs untouched. */
    id = 42;
    assert_int_equal(fh_avro_confluent_parse(so_msg, b3.len, &id, NULL, NULL), FH_EPARSE);
    assert_int_equal(fh_avro_confluent_parse(conf_msg, 4, &id, NULL, NULL), FH_EPARSE);
    assert_int_equal(id, 42);
    assert_int_equal(fh_avro_confluent_parse(conf_msg, 5, &id, &body, &body_len), 0);
    assert_int_equal(body_len, 0);
    fp = 42;
    assert_int_equal(fh_avro_single_object_parse(conf_msg, b2.len, &fp, NULL, NULL), FH_EPARSE);
    assert_int_equal(fh_avro_single_object_parse(so_msg, 9, &fp, NULL, NULL), FH_EPARSE);
    so_msg[1] = 0x02;
    assert_int_equal(fh_avro_single_object_parse(so_msg, b3.len, &fp, NULL, NULL), FH_EPARSE);
    assert_true(fp == 42);
}

/* ---- Parsing Canonical Form and fingerprints ---- */

struct pcf_vector {
    const char *input;
    const char *canonical;
    bool has_fp;
    int64_t fingerprint; /* as the file prints it: the CRC as a signed 64-bit integer */
};

/*
 * Test vectors 000-033 from Apache Avro, share/test/data/schema-tests.txt
 * (https://github.com/apache/avro, Apache License 2.0), verbatim except for C string
 * quoting. The file notes that Java's direct implementation cross-checks the fingerprints.
 */
static const struct pcf_vector avro_vectors[] = {
    {"\"null\"", "\"null\"", true, 7195948357588979594LL},
    {"{\"type\":\"null\"}", "\"null\"", false, 0},
    {"\"boolean\"", "\"boolean\"", true, -6970731678124411036LL},
    {"{\"type\":\"boolean\"}", "\"boolean\"", false, 0},
    {"\"int\"", "\"int\"", true, 8247732601305521295LL},
    {"{\"type\":\"int\"}", "\"int\"", false, 0},
    {"\"long\"", "\"long\"", true, -3434872931120570953LL},
    {"{\"type\":\"long\"}", "\"long\"", false, 0},
    {"\"float\"", "\"float\"", true, 5583340709985441680LL},
    {"{\"type\":\"float\"}", "\"float\"", false, 0},
    {"\"double\"", "\"double\"", true, -8181574048448539266LL},
    {"{\"type\":\"double\"}", "\"double\"", false, 0},
    {"\"bytes\"", "\"bytes\"", true, 5746618253357095269LL},
    {"{\"type\":\"bytes\"}", "\"bytes\"", false, 0},
    {"\"string\"", "\"string\"", true, -8142146995180207161LL},
    {"{\"type\":\"string\"}", "\"string\"", false, 0},
    {"[  ]", "[]", true, -1241056759729112623LL},
    {"[ \"int\"  ]", "[\"int\"]", true, -5232228896498058493LL},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]", true, 5392556393470105090LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", true, -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}", true, 5916914534497305771LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}", true, -4616218487480524110LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"Useful info\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", true, -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", true, -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", true, -4824392279771201922LL},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], \"type\":\"record\", "
     "\"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"}]}",
     true, 7843277075252814651LL},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", "
     "\"default\":\"true\"},\n"
     "            {\"order\":\"descending\",\"name\":\"f2\",\"doc\":\"Hello\",\"type\":\"int\"}],\n"
     "  \"type\":\"record\", \"name\":\"foo\"\n}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"},"
     "{\"name\":\"f2\",\"type\":\"int\"}]}",
     true, -4860222112080293046LL},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}", true, -6342190197741309591LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}", true,
     -4448647247586288245LL},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}", true, 1756455273707447556LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}", true, -3064184465700546786LL},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", true, -589620603366471059LL},
    {"{ \"values\":\"string\", \"type\":\"map\"}", "{\"type\":\"map\",\"values\":\"string\"}", true,
     -8732877298790414990LL},
    {"  {\"name\":\"PigValue\",\"type\":\"record\",\n"
     "   \"fields\":[{\"name\":\"value\", \"type\":[\"null\", \"int\", \"long\", "
     "\"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":"
     "[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     true, -1759257747318642341LL},
};

/*
 * Further cases written from the specification's rules (no fingerprints: those follow from
 * the canonical text through the CRC checked above): namespace inheritance by nested named
 * types and references (FULLNAMES), logical types and other attributes dropped (STRIP,
 * PRIMITIVES), attribute order (ORDER), escapes (STRINGS), leading zeros (INTEGERS),
 * whitespace (WHITESPACE).
 */
static const struct pcf_vector spec_vectors[] = {
    {"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"fields\":["
     "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\",\"Y\"],"
     "\"default\":\"X\"}},"
     "{\"name\":\"e2\",\"type\":\"E\"},"
     "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"c.F\",\"size\":4}},"
     "{\"name\":\"g\",\"type\":{\"type\":\"record\",\"name\":\"G\",\"fields\":["
     "{\"name\":\"h\",\"type\":{\"type\":\"enum\",\"name\":\"H\",\"symbols\":[\"Z\"]}}]}},"
     "{\"name\":\"i\",\"type\":{\"type\":\"record\",\"name\":\"I\",\"namespace\":\"\","
     "\"fields\":[{\"name\":\"j\",\"type\":{\"type\":\"fixed\",\"name\":\"J\",\"size\":1}}]}},"
     "{\"name\":\"k\",\"type\":{\"type\":\"fixed\",\"name\":\"K\",\"size\":2,"
     "\"namespace\":\"ns\"}},"
     "{\"name\":\"l\",\"type\":[\"null\",\"c.F\",{\"type\":\"H\"}]}]}",
     "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
     "{\"name\":\"e\",\"type\":{\"name\":\"a.b.E\",\"type\":\"enum\",\"symbols\":[\"X\",\"Y\"]}},"
     "{\"name\":\"e2\",\"type\":\"a.b.E\"},"
     "{\"name\":\"f\",\"type\":{\"name\":\"c.F\",\"type\":\"fixed\",\"size\":4}},"
     "{\"name\":\"g\",\"type\":{\"name\":\"a.b.G\",\"type\":\"record\",\"fields\":["
     "{\"name\":\"h\",\"type\":{\"name\":\"a.b.H\",\"type\":\"enum\",\"symbols\":[\"Z\"]}}]}},"
     "{\"name\":\"i\",\"type\":{\"name\":\"I\",\"type\":\"record\","
     "\"fields\":[{\"name\":\"j\",\"type\":{\"name\":\"J\",\"type\":\"fixed\",\"size\":1}}]}},"
     "{\"name\":\"k\",\"type\":{\"name\":\"ns.K\",\"type\":\"fixed\",\"size\":2}},"
     "{\"name\":\"l\",\"type\":[\"null\",\"c.F\",\"a.b.H\"]}]}",
     false, 0},
    {"{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":38,\"scale\":18}", "\"bytes\"",
     false, 0},
    {"{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}", "\"long\"", false, 0},
    {"{\"size\":016,\"logicalType\":\"decimal\",\"precision\":38,\"type\":\"fixed\","
     "\"name\":\"D\",\"scale\":18}",
     "{\"name\":\"D\",\"type\":\"fixed\",\"size\":16}", false, 0},
    {" { \"values\" : { \"items\" : [ \"null\" , { \"type\" : \"map\" , \"values\" : "
     "\"string\" } ] , \"type\" : \"array\" } , \"type\" : \"map\" } ",
     "{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":[\"null\",{\"type\":\"map\","
     "\"values\":\"string\"}]}}",
     false, 0},
    {"{\"t\\u0079pe\":\"\\u0065num\",\"name\":\"\\u00e9t\\u00E9\",\"symbols\":[\"A\\u005f1\"],"
     "\"doc\":\"\\ud83d\\ude00\"}",
     NULL, false, 0}, /* a name outside [A-Za-z_][A-Za-z0-9_]*: rejected */
    {"{\"t\\u0079pe\":\"\\u0065num\",\"name\":\"\\u0045\",\"symbols\":[\"A\\u005f1\"],"
     "\"doc\":\"\\ud83d\\ude00\"}",
     "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A_1\"]}", false, 0},
    {"{\"type\":\"error\",\"name\":\"Oops\",\"fields\":[{\"name\":\"m\",\"type\":\"string\"}]}",
     "{\"name\":\"Oops\",\"type\":\"error\",\"fields\":[{\"name\":\"m\",\"type\":\"string\"}]}",
     false, 0},
};

static void check_vector(const struct pcf_vector *v, int idx)
{
    char out[4096];
    size_t n = 0;
    int rc = fh_avro_canonical_form(v->input, strlen(v->input), out, sizeof(out), &n);
    if (v->canonical == NULL) {
        if (rc != FH_EPARSE)
            fail_msg("vector %d: expected FH_EPARSE, got %d", idx, rc);
        return;
    }
    if (rc != 0)
        fail_msg("vector %d: %s", idx, fh_strerror(rc));
    if (strcmp(out, v->canonical) != 0)
        fail_msg("vector %d:\n got  %s\n want %s", idx, out, v->canonical);
    assert_int_equal(n, strlen(v->canonical));
    if (v->has_fp) {
        uint64_t fp = fh_crc64_avro(out, n);
        if ((int64_t)fp != v->fingerprint)
            fail_msg("vector %d: fingerprint %" PRId64 ", want %" PRId64, idx, (int64_t)fp,
                     v->fingerprint);
    }
}

static void test_canonical_form_avro_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(avro_vectors) / sizeof(avro_vectors[0]); i++)
        check_vector(&avro_vectors[i], (int)i);
    assert_true(fh_crc64_avro("", 0) == FH_CRC64_AVRO_EMPTY);
}

static void test_canonical_form_spec_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(spec_vectors) / sizeof(spec_vectors[0]); i++)
        check_vector(&spec_vectors[i], 100 + (int)i);
}

static void test_canonical_form_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{",
        "{\"type\":\"record\",\"name\":\"R\"}",                 /* no fields */
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":\"A\"}", /* symbols not an array */
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",      /* size not digits */
        "{\"type\":3}",                                         /* type not a string */
        "{\"name\":\"x\"}",                                     /* no type */
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"type\":\"int\"}]}", /* no name */
        "{\"type\":\"enum\",\"type\":\"enum\",\"name\":\"E\",\"symbols\":[]}",  /* repeated key */
        "\"not-a-name\"",
        "\"a..b\"",
        "{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}",
        "\"int\" \"long\"", /* two values */
        "true",
        "[\"int\",}",
    };
    char out[256];
    size_t n;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = fh_avro_canonical_form(bad[i], strlen(bad[i]), out, sizeof(out), &n);
        if (rc == 0)
            fail_msg("accepted bad schema %zu: %s -> %s", i, bad[i], out);
        assert_int_equal(rc, FH_EPARSE);
    }
    /* An output buffer one byte short (the NUL) is refused, never overrun. */
    const char *s = avro_vectors[19].input;
    size_t want = strlen(avro_vectors[19].canonical);
    char small[64];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(fh_avro_canonical_form(s, strlen(s), small, want, &n), FH_ENOSPACE);
    assert_int_equal(small[want], 'Z');
    assert_int_equal(fh_avro_canonical_form(s, strlen(s), small, want + 1, &n), 0);
    assert_int_equal(n, want);
    /* Nesting deeper than the limit is refused rather than recursing without bound. */
    char deep[1024];
    size_t k = 0;
    for (int d = 0; d < 100; d++)
        deep[k++] = '[';
    deep[k++] = '"';
    deep[k++] = 'x';
    deep[k++] = '"';
    for (int d = 0; d < 100; d++)
        deep[k++] = ']';
    assert_int_equal(fh_avro_canonical_form(deep, k, out, sizeof(out), &n), FH_ERANGE);
}

/* The trade schema's form: what the rules imply for it, and the fingerprint is its CRC. */
static void test_trade_schema_fingerprint(void **state)
{
    (void)state;
    assert_int_equal(fh_codec_init(), 0);
    size_t n = 0;
    const char *pcf = fh_trade_schema_canonical(&n);
    assert_int_equal(n, strlen(pcf));
    assert_true(fh_trade_schema_fingerprint() == fh_crc64_avro(pcf, n));
    assert_true(strncmp(pcf, "{\"name\":\"feedhandler.Trade\",\"type\":\"record\",", 44) == 0);
    assert_non_null(strstr(pcf, "{\"name\":\"price\",\"type\":\"bytes\"}"));
    assert_non_null(strstr(pcf, "{\"name\":\"trade_time\",\"type\":\"long\"}"));
    assert_non_null(strstr(pcf, "{\"name\":\"event_time\",\"type\":[\"null\",\"long\"]}"));
    assert_non_null(strstr(pcf, "{\"name\":\"feedhandler.Side\",\"type\":\"enum\",\"symbols\":"
                                "[\"BUY\",\"SELL\",\"UNKNOWN\"]}"));
    assert_null(strstr(pcf, "doc"));
    assert_null(strstr(pcf, "default"));
    assert_null(strstr(pcf, "logicalType"));
    assert_null(strchr(pcf, ' '));
    /* Re-canonicalizing the canonical form is the identity. */
    char again[8192];
    size_t n2 = 0;
    assert_int_equal(fh_avro_canonical_form(pcf, n, again, sizeof(again), &n2), 0);
    assert_string_equal(again, pcf);
    /* And avro-c reads the canonical form as the same schema. */
    avro_schema_t a, b;
    assert_int_equal(avro_schema_from_json_length(pcf, n, &a), 0);
    assert_int_equal(
        avro_schema_from_json_length(fh_trade_schema_json, fh_trade_schema_json_len, &b), 0);
    assert_true(avro_schema_equal(a, b));
    avro_schema_decref(a);
    avro_schema_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avroc_accepts_schema_and_enum_order),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_edge_trades_match_avroc),
        cmocka_unit_test(test_random_trades_match_avroc),
        cmocka_unit_test(test_buffer_too_small),
        cmocka_unit_test(test_invalid_values_rejected),
        cmocka_unit_test(test_framing_headers),
        cmocka_unit_test(test_canonical_form_avro_vectors),
        cmocka_unit_test(test_canonical_form_spec_rules),
        cmocka_unit_test(test_canonical_form_errors),
        cmocka_unit_test(test_trade_schema_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
