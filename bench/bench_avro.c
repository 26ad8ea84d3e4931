/*
 * bench_avro - nanoseconds per trade for our Avro encoder (with the Confluent header) and
 * our JSON-lines encoder, next to Apache avro-c's generic-value encoder as the baseline,
 * all measured in the same run over the same realistic mix of trades.
 *
 * Usage: bench_avro [runs]   (default 9 runs; min and median are reported)
 */
#include "bench.h"

#include "codec/avro.h"
#include "codec/jsonl.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTRADES   1024 /* a power of two: the loops index with & (NTRADES - 1) */
#define SCHEMA_ID 42

struct mix {
    struct fh_trade t[NTRADES];
};

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* What the feeds deliver: mostly Binance spot trades (ids, event time, no order type),
 * Kraken v2 (ids, order type) and v1 (no id), prices with 2-8 decimals, small quantities. */
static void make_mix(struct mix *m)
{
    static const struct {
        const char *venue, *symbol, *native;
        int64_t price; /* mantissa with `decimals` fraction digits */
        int decimals;
    } syms[] = {
        {"binance", "BTC-USDT", "BTCUSDT", 1655212, 2},
        {"binance", "ETH-USDT", "ETHUSDT", 120145, 2},
        {"binance", "DOGE-USDT", "DOGEUSDT", 7123, 5},
        {"kraken", "BTC-USD", "XBT/USD", 1655010, 1},
        {"kraken", "ETH-EUR", "ETH/EUR", 113055, 2},
    };
    uint64_t s = 12345;
    int64_t now_us = 1700000000000000LL;
    for (int i = 0; i < NTRADES; i++) {
        struct fh_trade *t = &m->t[i];
        memset(t, 0, sizeof(*t));
        unsigned k = (unsigned)(rng(&s) % 8);
        k = k < 4 ? 0 : k - 4; /* half of the trades are BTC-USDT on Binance */
        t->venue = fh_str_c(syms[k].venue);
        t->symbol = fh_str_c(syms[k].symbol);
        t->native_symbol = fh_str_c(syms[k].native);
        now_us += (int64_t)(rng(&s) % 2000);
        bool binance = k < 3;
        t->trade_time_us = now_us;
        t->receive_time_ns = now_us * 1000 + 1500000 + (int64_t)(rng(&s) % 1000000);
        if (binance) {
            t->has = FH_HAS_TRADE_ID | FH_HAS_EVENT_TIME;
            t->trade_id = 3300000000LL + i;
            t->event_time_us = now_us + 3;
            t->order_type = FH_ORDER_UNKNOWN;
        } else {
            t->has = (i % 3) ? FH_HAS_TRADE_ID : 0;
            t->trade_id = 81000000LL + i;
            t->order_type = (i & 1) ? FH_ORDER_LIMIT : FH_ORDER_MARKET;
        }
        /* Price moves by cents; quantity 0.00001 .. 2 with 5-8 decimals. */
        fh_i128 step = 1;
        for (int d = syms[k].decimals; d < FH_DECIMAL_SCALE; d++)
            step *= 10;
        t->price = fh_decimal_from_units((syms[k].price + (int64_t)(rng(&s) % 1000)) * step);
        t->quantity = fh_decimal_from_units((fh_i128)(1 + rng(&s) % 200000) * 10000000000000LL);
        t->side = (rng(&s) & 1) ? FH_SIDE_BUY : FH_SIDE_SELL;
        t->kind = FH_KIND_TRADE;
        t->source = FH_SOURCE_LIVE;
        t->connection_id = 1 + (int64_t)k;
        t->sequence = i;
    }
}

static struct mix g_mix;
static uint8_t g_out[1 << 16];

static uint64_t run_ours(void *ctx, uint64_t iters)
{
    const struct mix *m = ctx;
    uint64_t total = 0;
    struct fh_fbuf b;
    for (uint64_t i = 0; i < iters; i++) {
        fh_fbuf_init(&b, g_out, sizeof(g_out));
        if (fh_avro_encode_trade_confluent(&b, SCHEMA_ID, &m->t[i & (NTRADES - 1)]) != 0)
            abort();
        total += b.len + g_out[b.len - 1];
    }
    return total;
}

static uint64_t run_jsonl(void *ctx, uint64_t iters)
{
    const struct mix *m = ctx;
    uint64_t total = 0;
    struct fh_fbuf b;
    for (uint64_t i = 0; i < iters; i++) {
        fh_fbuf_init(&b, g_out, sizeof(g_out));
        if (fh_jsonl_encode_trade(&b, &m->t[i & (NTRADES - 1)]) != 0)
            abort();
        total += b.len + g_out[b.len - 2];
    }
    return total;
}

/* avro-c: the generic value API, fields addressed by index (its fastest path), and
 * avro_value_write into memory, the Confluent header copied in front. */
struct avroc {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec;
    avro_writer_t w;
    const struct mix *m;
};

static void set_str(avro_value_t *rec, size_t idx, struct fh_str s)
{
    avro_value_t f;
    avro_value_get_by_index(rec, idx, &f, NULL);
    /* The mix's strings are C literals, so s.p[s.n] is their NUL, which avro-c wants. */
    avro_value_set_string_len(&f, s.p, s.n + 1);
}

static void set_opt(avro_value_t *rec, size_t idx, bool has, int64_t v)
{
    avro_value_t f, br;
    avro_value_get_by_index(rec, idx, &f, NULL);
    avro_value_set_branch(&f, has ? 1 : 0, &br);
    if (has)
        avro_value_set_long(&br, v);
    else
        avro_value_set_null(&br);
}

static void set_long(avro_value_t *rec, size_t idx, int64_t v)
{
    avro_value_t f;
    avro_value_get_by_index(rec, idx, &f, NULL);
    avro_value_set_long(&f, v);
}

static void set_enum(avro_value_t *rec, size_t idx, int v)
{
    avro_value_t f;
    avro_value_get_by_index(rec, idx, &f, NULL);
    avro_value_set_enum(&f, v);
}

static void set_dec(avro_value_t *rec, size_t idx, fh_decimal d)
{
    avro_value_t f;
    uint8_t be[16];
    size_t n = fh_decimal_to_be_bytes(d, be);
    avro_value_get_by_index(rec, idx, &f, NULL);
    avro_value_set_bytes(&f, be, n);
}

static uint64_t run_avroc(void *ctx, uint64_t iters)
{
    struct avroc *a = ctx;
    uint64_t total = 0;
    for (uint64_t i = 0; i < iters; i++) {
        const struct fh_trade *t = &a->m->t[i & (NTRADES - 1)];
        avro_value_t *r = &a->rec;
        set_str(r, 0, t->venue);
        set_str(r, 1, t->symbol);
        set_str(r, 2, t->native_symbol);
        set_opt(r, 3, t->has & FH_HAS_TRADE_ID, t->trade_id);
        set_opt(r, 4, t->has & FH_HAS_FIRST_TRADE_ID, t->first_trade_id);
        set_opt(r, 5, t->has & FH_HAS_LAST_TRADE_ID, t->last_trade_id);
        set_enum(r, 6, (int)t->kind);
        set_dec(r, 7, t->price);
        set_dec(r, 8, t->quantity);
        set_enum(r, 9, (int)t->side);
        set_enum(r, 10, (int)t->order_type);
        set_long(r, 11, t->trade_time_us);
        set_opt(r, 12, t->has & FH_HAS_EVENT_TIME, t->event_time_us);
        set_long(r, 13, t->receive_time_ns);
        set_enum(r, 14, (int)t->source);
        set_long(r, 15, t->connection_id);
        set_long(r, 16, t->sequence);
        fh_avro_confluent_header(g_out, SCHEMA_ID);
        avro_writer_memory_set_dest(a->w, (const char *)g_out + 5, sizeof(g_out) - 5);
        if (avro_value_write(a->w, r) != 0)
            abort();
        total += (uint64_t)avro_writer_tell(a->w) + 5;
    }
    return total;
}

/* Checks once that both encoders produce the same bytes for every trade of the mix, so the
 * comparison is like for like. */
static void check_same_bytes(struct avroc *a)
{
    static uint8_t ours[1024];
    static struct mix one;
    const struct mix *keep = a->m;
    for (int i = 0; i < NTRADES; i++) {
        struct fh_fbuf b;
        fh_fbuf_init(&b, ours, sizeof(ours));
        if (fh_avro_encode_trade_confluent(&b, SCHEMA_ID, &keep->t[i]) != 0)
            abort();
        one.t[0] = keep->t[i];
        a->m = &one;
        uint64_t n = run_avroc(a, 1); /* encodes one.t[0] into g_out */
        a->m = keep;
        if (n != b.len || memcmp(ours, g_out, b.len) != 0) {
            fprintf(stderr, "bench_avro: encoders disagree on trade %d\n", i);
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 9;
    if (runs < 7)
        runs = 7;
    if (fh_codec_init() != 0)
        return 1;
    make_mix(&g_mix);

    struct avroc a = {.m = &g_mix};
    if (avro_schema_from_json_length(fh_trade_schema_json, fh_trade_schema_json_len, &a.schema) !=
        0) {
        fprintf(stderr, "avro-c: %s\n", avro_strerror());
        return 1;
    }
    a.iface = avro_generic_class_from_schema(a.schema);
    avro_generic_value_new(a.iface, &a.rec);
    a.w = avro_writer_memory((const char *)g_out, sizeof(g_out));
    check_same_bytes(&a);

    size_t avro_bytes = 0, json_bytes = 0;
    for (int i = 0; i < NTRADES; i++) {
        avro_bytes += fh_avro_trade_size(&g_mix.t[i]) + FH_AVRO_CONFLUENT_HEADER_LEN;
        struct fh_fbuf b;
        fh_fbuf_init(&b, g_out, sizeof(g_out));
        fh_jsonl_encode_trade(&b, &g_mix.t[i]);
        json_bytes += b.len;
    }
    printf("mix: %d trades, %.1f Avro bytes (Confluent framed), %.1f JSON bytes per trade; "
           "%d runs\n",
           NTRADES, (double)avro_bytes / NTRADES, (double)json_bytes / NTRADES, runs);

    struct fh_bench_result base = fh_bench_run(run_avroc, &a, 200000, runs);
    struct fh_bench_result ours = fh_bench_run(run_ours, &g_mix, 2000000, runs);
    struct fh_bench_result json = fh_bench_run(run_jsonl, &g_mix, 1000000, runs);
    fh_bench_report("avro-c generic value + avro_value_write", base);
    fh_bench_report_ratio("fh_avro_encode_trade_confluent", ours, base, "avro-c");
    fh_bench_report_ratio("fh_jsonl_encode_trade", json, base, "avro-c");

    avro_writer_free(a.w);
    avro_value_decref(&a.rec);
    avro_value_iface_decref(a.iface);
    avro_schema_decref(a.schema);
    return 0;
}
