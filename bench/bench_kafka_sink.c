/*
 * bench_kafka_sink - what the Kafka sink costs, against librdkafka's mock cluster in the same
 * process (3 brokers, 4 partitions), next to the file sink measured in the same run.
 *
 *   1. engine-thread cost per trade: fh_sink_write (Avro + Confluent framing + producev with
 *      the payload copied) plus its share of fh_sink_poll (delivery reports), min and median
 *      over runs; the file sink's fh_sink_write (Avro single-object into its ring) as the
 *      baseline;
 *   2. compression codecs: engine ns/trade, process CPU per trade (librdkafka's threads
 *      included) and bytes sent to the brokers, for none, lz4 and zstd;
 *   3. throughput: trades/s the sink takes and delivers, as fast as it can;
 *   4. delivery latency (produce call to acknowledgement) p50/p99 at 50,000 trades/s;
 *   5. the spool: append and drain throughput (fsync off, and fsync after every batch).
 *
 * Usage: bench_kafka_sink [runs]   (default 7)
 */
#include "bench.h"

#include "codec/avro.h"
#include "core/err.h"
#include "core/log.h"
#include "sink/kafka.h"
#include "sink/sink.h"
#include "sink/spool.h"

#include <dirent.h>
#include <dlfcn.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define NTRADES 1024
#define BATCH   100000

static struct fh_trade trades[NTRADES];
static char bootstrap[256];

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The trade mix of bench_avro: mostly Binance, some Kraken, realistic prices. */
static void make_mix(void)
{
    static const struct {
        const char *venue, *symbol, *native;
        int64_t price;
        int decimals;
    } syms[] = {
        {"binance", "BTC-USDT", "BTCUSDT", 6551212, 2},
        {"binance", "ETH-USDT", "ETHUSDT", 312045, 2},
        {"binance", "DOGE-USDT", "DOGEUSDT", 7123, 5},
        {"kraken", "BTC-USD", "XBT/USD", 655010, 1},
        {"kraken", "ETH-EUR", "ETH/EUR", 283055, 2},
    };
    uint64_t s = 12345;
    int64_t now = 1700000000000000LL;
    for (int i = 0; i < NTRADES; i++) {
        struct fh_trade *t = &trades[i];
        memset(t, 0, sizeof(*t));
        unsigned k = (unsigned)(rng(&s) % 8);
        k = k < 4 ? 0 : k - 3;
        t->venue = fh_str_c(syms[k].venue);
        t->symbol = fh_str_c(syms[k].symbol);
        t->native_symbol = fh_str_c(syms[k].native);
        now += (int64_t)(rng(&s) % 2000);
        t->trade_time_us = now;
        t->receive_time_ns = now * 1000 + 1500000;
        t->has = FH_HAS_TRADE_ID | (k < 3 ? FH_HAS_EVENT_TIME : 0);
        t->trade_id = 3300000000LL + i;
        t->event_time_us = now + 3;
        t->order_type = k < 3 ? FH_ORDER_UNKNOWN : FH_ORDER_LIMIT;
        fh_i128 step = 1;
        for (int d = syms[k].decimals; d < FH_DECIMAL_SCALE; d++)
            step *= 10;
        t->price = fh_decimal_from_units((syms[k].price + (int64_t)(rng(&s) % 1000)) * step);
        t->quantity = fh_decimal_from_units((fh_i128)(1 + rng(&s) % 200000) * 10000000000000LL);
        t->side = (rng(&s) & 1) ? FH_SIDE_BUY : FH_SIDE_SELL;
        t->source = FH_SOURCE_LIVE;
        t->connection_id = 1 + k / 3;
        t->sequence = i;
    }
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static struct fh_sink *kafka(const char *compression, bool big_queue, char *err, size_t n)
{
    struct fh_kafka_prop props[] = {
        {"bootstrap.servers", bootstrap},
        {"compression.type", compression},
        {"queue.buffering.max.messages", big_queue ? "2000000" : "50000"},
        {"queue.buffering.max.kbytes", big_queue ? "2000000" : "16384"},
    };
    struct fh_kafka_sink_config kc = {
        .format = FH_SINK_AVRO,
        .topic = "bench",
        .props = props,
        .nprops = 4,
        .fixed_schema_id = 1,
    };
    return fh_kafka_sink_new(&kc, NULL, err, n);
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes n trades, polling every 64; returns the calling thread's CPU ns per trade (on a
 * two-core machine shared with librdkafka's threads and the mock brokers, wall time would
 * mostly measure waiting for a core). Pushback is waited out (and counted: it is the
 * engine's time too). *wall_ns receives wall-clock ns per trade. */
static double write_n_cpu(struct fh_sink *s, uint64_t n, uint64_t *cursor, double *wall_ns)
{
    int64_t c0 = thread_cpu_ns(), t0 = fh_clock_monotonic_ns();
    for (uint64_t i = 0; i < n; i++) {
        const struct fh_trade *t = &trades[(*cursor)++ & (NTRADES - 1)];
        while (fh_sink_write(s, t) == FH_ENOSPACE)
            fh_sink_poll(s);
        if ((i & 63) == 0)
            fh_sink_poll(s);
    }
    if (wall_ns != NULL)
        *wall_ns = (double)(fh_clock_monotonic_ns() - t0) / (double)n;
    return (double)(thread_cpu_ns() - c0) / (double)n;
}

/* Writes n trades, polling every 64; returns wall-clock ns per trade. */
static double write_n(struct fh_sink *s, uint64_t n, uint64_t *cursor)
{
    int64_t t0 = fh_clock_monotonic_ns();
    for (uint64_t i = 0; i < n; i++) {
        const struct fh_trade *t = &trades[(*cursor)++ & (NTRADES - 1)];
        while (fh_sink_write(s, t) == FH_ENOSPACE)
            fh_sink_poll(s);
        if ((i & 63) == 0)
            fh_sink_poll(s);
    }
    return (double)(fh_clock_monotonic_ns() - t0) / (double)n;
}

static void wait_delivered(struct fh_sink *s)
{
    uint64_t want = __atomic_load_n(&s->stats.accepted, __ATOMIC_RELAXED);
    while (__atomic_load_n(&s->stats.delivered, __ATOMIC_RELAXED) +
               __atomic_load_n(&s->stats.failed, __ATOMIC_RELAXED) <
           want) {
        fh_sink_poll(s);
        usleep(200);
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct fh_bench_result summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    struct fh_bench_result r = {v[0], v[n / 2]};
    return r;
}

/* ---- 1. engine-thread cost -------------------------------------------------------------- */

static struct fh_bench_result bench_kafka(const char *codec, int runs, double *cpu_per_trade,
                                          double *wall_median)
{
    char err[512];
    struct fh_sink *s = kafka(codec, true, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "kafka sink: %s\n", err);
        exit(1);
    }
    double v[64], w[64];
    uint64_t cur = 0;
    write_n(s, BATCH / 10, &cur); /* warm-up: connections, metadata, allocations */
    wait_delivered(s);
    double cpu = 0;
    for (int r = 0; r < runs; r++) {
        double c0 = cpu_s();
        v[r] = write_n_cpu(s, BATCH, &cur, &w[r]);
        wait_delivered(s);
        cpu += cpu_s() - c0;
    }
    *cpu_per_trade = cpu / ((double)runs * BATCH) * 1e9;
    *wall_median = summarize(w, runs).median_ns;
    fh_sink_flush(s, 10000);
    fh_sink_free(s);
    return summarize(v, runs);
}

static struct fh_bench_result bench_file(int runs)
{
    char err[256];
    struct fh_stream_sink_config sc = {
        .path = "/dev/null", .format = FH_SINK_AVRO, .buffer_bytes = 64u << 20};
    struct fh_sink *s = fh_stream_sink_new(&sc, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "file sink: %s\n", err);
        exit(1);
    }
    double v[64];
    uint64_t cur = 0;
    write_n(s, BATCH / 10, &cur);
    fh_sink_flush(s, 10000);
    for (int r = 0; r < runs; r++) {
        v[r] = write_n_cpu(s, BATCH, &cur, NULL);
        fh_sink_flush(s, 10000);
    }
    fh_sink_free(s);
    return summarize(v, runs);
}

/* ---- 2. bytes on the wire per codec (a plain producer: librdkafka's own statistics) ------- */

static int64_t last_txbytes = -1;

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    (void)opaque;
    /* Top level: "tx_bytes", everything sent to the brokers (compressed batches, request
     * headers included). */
    const char *p = strstr(json, "\"tx_bytes\":");
    if (p != NULL)
        last_txbytes = strtoll(p + 11, NULL, 10);
    return 0;
}

static int64_t wire_bytes(const char *codec, uint64_t n, double *cpu_ns)
{
    double c0 = cpu_s();
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    rd_kafka_conf_set(conf, "compression.type", codec, err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "statistics.interval.ms", "100", err, sizeof(err));
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", err, sizeof(err));
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    uint8_t buf[1024];
    uint64_t seed = 777;
    int64_t ids[NTRADES] = {0};
    for (uint64_t i = 0; i < n; i++) {
        struct fh_fbuf b;
        fh_fbuf_init(&b, buf, sizeof(buf));
        /* A stream that does not repeat (ids, times, prices and sizes move on), so that the
         * codecs see what a feed looks like, not a loop of 1024 records. */
        struct fh_trade tv = trades[i & (NTRADES - 1)];
        const struct fh_trade *t = &tv;
        int64_t step = (int64_t)(rng(&seed) % 3);
        tv.trade_id += (int64_t)(i / NTRADES) * NTRADES + (ids[i & (NTRADES - 1)] += step);
        tv.trade_time_us += (int64_t)i * 311;
        tv.event_time_us = tv.trade_time_us + 3;
        tv.receive_time_ns = tv.trade_time_us * 1000 + (int64_t)(rng(&seed) % 3000000);
        tv.price = fh_decimal_from_units(tv.price.units +
                                         (fh_i128)(rng(&seed) % 2001) * 10000000000000000LL);
        tv.quantity = fh_decimal_from_units((fh_i128)(1 + rng(&seed) % 20000000) * 10000000000LL);
        tv.sequence = (int64_t)i;
        fh_avro_encode_trade_confluent(&b, 1, t);
        char key[64], seq[24];
        int kn = snprintf(key, sizeof(key), "%.*s:%.*s", (int)t->venue.n, t->venue.p,
                          (int)t->symbol.n, t->symbol.p);
        int sn = snprintf(seq, sizeof(seq), "%lld", (long long)t->sequence);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("wire"), RD_KAFKA_V_KEY(key, (size_t)kn),
                                 RD_KAFKA_V_VALUE(buf, b.len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_HEADER("connection_id", "1", 1),
                                 RD_KAFKA_V_HEADER("sequence", seq, (ssize_t)sn),
                                 RD_KAFKA_V_HEADER("source", "LIVE", 4),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    }
    rd_kafka_flush(rk, 60000);
    *cpu_ns = (cpu_s() - c0) / (double)n * 1e9;
    last_txbytes = -1;
    for (int i = 0; i < 50 && last_txbytes < 0; i++)
        rd_kafka_poll(rk, 50);
    int64_t tx = last_txbytes;
    rd_kafka_destroy(rk);
    return tx;
}

/* ---- 2a. the codecs alone -------------------------------------------------------------------- */

/* The CPU librdkafka's threads spend compressing, measured without them: the same kind of
 * batch (keys, header names and values, Confluent-framed Avro of a non-repeating stream)
 * compressed by liblz4 and libzstd (level 3, librdkafka's default), the libraries librdkafka
 * itself uses, loaded at run time (Debian ships no -dev package for them in our list). */
typedef int (*lz4_fn)(const char *, char *, int, int);
typedef size_t (*zstd_fn)(void *, size_t, const void *, size_t, int);

static void bench_codecs(void)
{
    void *l = dlopen("liblz4.so.1", RTLD_NOW), *z = dlopen("libzstd.so.1", RTLD_NOW);
    lz4_fn lz4 = l ? (lz4_fn)(uintptr_t)dlsym(l, "LZ4_compress_default") : NULL;
    zstd_fn zstd = z ? (zstd_fn)(uintptr_t)dlsym(z, "ZSTD_compress") : NULL;
    if (lz4 == NULL || zstd == NULL) {
        printf("codecs: liblz4.so.1 / libzstd.so.1 not loadable, skipped\n");
        return;
    }
    const size_t cap = 32u << 20, batch = 32768;
    char *buf = malloc(cap), *out = malloc(1u << 20);
    size_t len = 0;
    uint64_t n = 0, seed = 99;
    while (len + 1024 < cap) {
        struct fh_trade t = trades[n & (NTRADES - 1)];
        t.trade_id += (int64_t)n;
        t.trade_time_us += (int64_t)n * 311;
        t.receive_time_ns = t.trade_time_us * 1000 + (int64_t)(rng(&seed) % 3000000);
        t.quantity = fh_decimal_from_units((fh_i128)(1 + rng(&seed) % 20000000) * 10000000000LL);
        t.sequence = (int64_t)n;
        len += (size_t)snprintf(buf + len, 200, "%.*s:%.*sconnection_id%lldsequence%llusourceLIVE",
                                (int)t.venue.n, t.venue.p, (int)t.symbol.n, t.symbol.p,
                                (long long)t.connection_id, (unsigned long long)n);
        struct fh_fbuf b;
        fh_fbuf_init(&b, buf + len, 512);
        fh_avro_encode_trade_confluent(&b, 1, &t);
        len += b.len;
        n++;
    }
    for (int algo = 0; algo < 2; algo++) {
        double best = 1e18;
        size_t outsz = 0;
        for (int r = 0; r < 5; r++) {
            int64_t c0 = thread_cpu_ns();
            outsz = 0;
            for (size_t off = 0; off + batch <= len; off += batch)
                outsz += algo == 0 ? (size_t)lz4(buf + off, out, (int)batch, 1 << 20)
                                   : zstd(out, 1u << 20, buf + off, batch, 3);
            double d = (double)(thread_cpu_ns() - c0);
            best = d < best ? d : best;
        }
        double used = (double)((len / batch) * batch), per = used / (double)len * (double)n;
        printf("%-44s %6.1f ns/trade (min of 5)   ratio %.2f: %5.1f of %5.1f bytes/trade\n",
               algo == 0 ? "codec alone: lz4, 32 KiB batches"
                         : "codec alone: zstd -3, 32 KiB batches",
               best / per, used / (double)outsz, (double)outsz / per, (double)len / (double)n);
    }
    free(buf);
    free(out);
    dlclose(l);
    dlclose(z);
}

/* ---- 2b. copying the payload or not -------------------------------------------------------- */

/* rd_kafka_producev's cost on the calling thread with RD_KAFKA_MSG_F_COPY (librdkafka copies
 * the value into the message's own allocation) and without it (the value is referenced; a
 * zero-copy scheme would need a bounded pool of buffers released from the delivery report),
 * and with no headers (each header is an allocation of its own, the list two more). The
 * value here is one static buffer, never changed, so all are safe to measure. */
static void bench_copy(int runs)
{
    static uint8_t value[96];
    memset(value, 0x5a, sizeof(value));
    static const struct {
        bool copy, headers;
        const char *name;
    } modes[] = {
        {true, true, "rd_kafka_producev, value copied (F_COPY)"},
        {false, true, "rd_kafka_producev, value referenced"},
        {true, false, "rd_kafka_producev, value copied, no headers"},
    };
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        bool copy = modes[m].copy;
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
        rd_kafka_conf_set(conf, "compression.type", "lz4", err, sizeof(err));
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", err, sizeof(err));
        rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "2000000", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "wire", NULL);
        double v[64];
        for (int r = -1; r < runs; r++) {
            int64_t c0 = thread_cpu_ns();
            for (int i = 0; i < BATCH; i++) {
                if (modes[m].headers)
                    rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt),
                                      RD_KAFKA_V_MSGFLAGS(copy ? RD_KAFKA_MSG_F_COPY : 0),
                                      RD_KAFKA_V_KEY("binance:BTC-USDT", 16),
                                      RD_KAFKA_V_VALUE(value, sizeof(value)),
                                      RD_KAFKA_V_HEADER("connection_id", "1", 1),
                                      RD_KAFKA_V_HEADER("sequence", "123456", 6),
                                      RD_KAFKA_V_HEADER("source", "LIVE", 4), RD_KAFKA_V_END);
                else
                    rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt),
                                      RD_KAFKA_V_MSGFLAGS(copy ? RD_KAFKA_MSG_F_COPY : 0),
                                      RD_KAFKA_V_KEY("binance:BTC-USDT", 16),
                                      RD_KAFKA_V_VALUE(value, sizeof(value)), RD_KAFKA_V_END);
                if ((i & 63) == 0)
                    rd_kafka_poll(rk, 0);
            }
            if (r >= 0)
                v[r] = (double)(thread_cpu_ns() - c0) / BATCH;
            rd_kafka_flush(rk, 60000);
        }
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        fh_bench_report(modes[m].name, summarize(v, runs));
    }
}

/* ---- 3. and 4. throughput and latency ------------------------------------------------------- */

static void bench_throughput_and_latency(void)
{
    char err[512];
    struct fh_sink *s = kafka("lz4", false, err, sizeof(err));
    uint64_t cur = 0;
    write_n(s, 20000, &cur);
    wait_delivered(s);
    uint64_t d0 = __atomic_load_n(&s->stats.delivered, __ATOMIC_RELAXED);
    int64_t t0 = fh_clock_monotonic_ns();
    while (fh_clock_monotonic_ns() - t0 < 3000000000LL)
        write_n(s, 10000, &cur);
    wait_delivered(s);
    double secs = (double)(fh_clock_monotonic_ns() - t0) / 1e9;
    uint64_t d = __atomic_load_n(&s->stats.delivered, __ATOMIC_RELAXED) - d0;
    printf("%-44s %9.0f trades/s (encode + produce + acknowledged by the mock brokers, "
           "acks=all, lz4)\n",
           "kafka sink throughput", (double)d / secs);
    fh_sink_flush(s, 10000);
    fh_sink_free(s);

    /* Latency: a fresh sink paced at 50,000 trades/s for 4 s. */
    s = kafka("lz4", false, err, sizeof(err));
    write_n(s, 1000, &cur);
    wait_delivered(s);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    uint64_t base[FH_KAFKA_LATENCY_BUCKETS];
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++)
        base[i] = k->latency_us[i];
    const uint64_t rate = 50000;
    t0 = fh_clock_monotonic_ns();
    uint64_t sent = 0;
    while (sent < rate * 4) {
        uint64_t due = (uint64_t)((double)(fh_clock_monotonic_ns() - t0) * 1e-9 * (double)rate);
        while (sent < due) {
            while (fh_sink_write(s, &trades[cur++ & (NTRADES - 1)]) == FH_ENOSPACE)
                fh_sink_poll(s);
            sent++;
        }
        fh_sink_poll(s);
        usleep(100);
    }
    wait_delivered(s);
    struct fh_kafka_stats diff;
    memset(&diff, 0, sizeof(diff));
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++)
        diff.latency_us[i] = k->latency_us[i] - base[i];
    printf("%-44s p50 <= %llu us   p99 <= %llu us   (produce call to acknowledgement, "
           "linger.ms=5, bucket bounds)\n",
           "kafka delivery latency at 50000 trades/s",
           (unsigned long long)fh_kafka_latency_quantile(&diff, 0.50),
           (unsigned long long)fh_kafka_latency_quantile(&diff, 0.99));
    fh_sink_flush(s, 10000);
    fh_sink_free(s);
}

/* ---- 5. the spool ---------------------------------------------------------------------------- */

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[4200];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static void bench_spool(enum fh_spool_fsync policy, const char *name)
{
    char dir[] = "/tmp/fh-bench-spool-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return;
    struct fh_spool_config c = {
        .dir = dir,
        .max_bytes = 4ull << 30,
        .segment_bytes = 16u << 20,
        .fsync = policy,
        .queue_bytes = 8u << 20,
        .inflight_max = 10000,
    };
    struct fh_spool *sp;
    char err[256];
    if (fh_spool_open(&c, &sp, err, sizeof(err)) != 0) {
        fprintf(stderr, "spool: %s\n", err);
        return;
    }
    uint8_t vals[NTRADES][256];
    size_t lens[NTRADES];
    char keys[NTRADES][48];
    for (int i = 0; i < NTRADES; i++) {
        struct fh_fbuf b;
        fh_fbuf_init(&b, vals[i], sizeof(vals[i]));
        fh_avro_encode_trade_confluent(&b, 1, &trades[i]);
        lens[i] = b.len;
        snprintf(keys[i], sizeof(keys[i]), "%.*s:%.*s", (int)trades[i].venue.n, trades[i].venue.p,
                 (int)trades[i].symbol.n, trades[i].symbol.p);
    }
    static const uint8_t hdr[] = "\x0d"
                                 "connection_id\x01\x00"
                                 "1\x08"
                                 "sequence\x06\x00"
                                 "123456\x06"
                                 "source\x04\x00LIVE";
    const uint64_t n = 500000;
    int64_t t0 = fh_clock_monotonic_ns();
    for (uint64_t i = 0; i < n; i++) {
        int k = (int)(i & (NTRADES - 1));
        struct fh_spool_record r = {
            .gseq = i + 1,
            .timestamp_ms = 1700000000000,
            .topic = FH_STR_LIT("trades"),
            .key = fh_str_c(keys[k]),
            .headers = {(const char *)hdr, sizeof(hdr) - 1},
            .value = {(const char *)vals[k], lens[k]},
        };
        while (fh_spool_append(sp, &r) == FH_ENOSPACE)
            usleep(50);
    }
    fh_spool_sync(sp, 600000);
    double wsecs = (double)(fh_clock_monotonic_ns() - t0) / 1e9;
    const struct fh_spool_stats *st = fh_spool_stats(sp);
    double mb = (double)__atomic_load_n(&st->bytes_written, __ATOMIC_RELAXED) / 1048576.0;
    uint64_t fsyncs = __atomic_load_n(&st->fsyncs, __ATOMIC_RELAXED);

    t0 = fh_clock_monotonic_ns();
    fh_spool_drain_begin(sp);
    uint64_t got = 0;
    for (;;) {
        struct fh_spool_record r;
        uint64_t tok;
        int rc = fh_spool_drain_peek(sp, &r, &tok);
        if (rc == FH_SPOOL_COMPLETE || rc == FH_SPOOL_IDLE)
            break;
        if (rc == FH_SPOOL_WAIT)
            continue;
        fh_spool_resolve(sp, fh_spool_drain_take(sp), true);
        got++;
    }
    double dsecs = (double)(fh_clock_monotonic_ns() - t0) / 1e9;
    printf("%-44s append %8.0f records/s %6.1f MB/s (%llu fsyncs)   drain %8.0f records/s "
           "%6.1f MB/s\n",
           name, (double)n / wsecs, mb / wsecs, (unsigned long long)fsyncs, (double)got / dsecs,
           mb / dsecs);
    fh_spool_close(sp);
    rm_rf(dir);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 7;
    if (runs < 1 || runs > 64)
        runs = 7;
    fh_log_set_level(FH_LOG_WARN);
    make_mix();

    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 3);
    snprintf(bootstrap, sizeof(bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(mc));
    rd_kafka_mock_topic_create(mc, "bench", 4, 3);
    rd_kafka_mock_topic_create(mc, "wire", 4, 3);

    printf("bench_kafka_sink: %d runs of %d trades, librdkafka %s mock cluster (3 brokers, "
           "in process), acks=all, idempotence\n\n",
           runs, BATCH, rd_kafka_version_str());
    printf("engine-thread CPU per trade (CLOCK_THREAD_CPUTIME_ID), min and median over runs:\n");
    struct fh_bench_result file = bench_file(runs);
    fh_bench_report("file sink write (Avro single-object)", file);
    const char *codecs[] = {"lz4", "zstd", "none"};
    for (int i = 0; i < 3; i++) {
        double cpu, wall;
        struct fh_bench_result r = bench_kafka(codecs[i], runs, &cpu, &wall);
        char name[96];
        snprintf(name, sizeof(name), "kafka sink write+poll (Confluent, %s)", codecs[i]);
        printf("%-44s min %9.1f ns/op   median %9.1f ns/op   %.2fx the file sink (median)\n"
               "%-44s wall %6.0f ns/trade, process CPU (all threads, mock brokers included) "
               "%6.0f ns/trade\n",
               name, r.min_ns, r.median_ns, r.median_ns / file.median_ns, "", wall, cpu);
    }
    printf("\n");
    const uint64_t nwire = 200000;
    for (int i = 0; i < 3; i++) {
        double cpu;
        int64_t tx = wire_bytes(codecs[i], nwire, &cpu);
        printf("bytes to the brokers, %-22s %8.1f bytes/trade   process CPU %6.0f ns/trade "
               "(plain producer, all threads)\n",
               codecs[i], tx < 0 ? -1.0 : (double)tx / (double)nwire, cpu);
    }
    bench_codecs();
    printf("\nplain producer, calling-thread CPU per call (3 headers, 96-byte value):\n");
    bench_copy(runs);
    printf("\n");
    bench_throughput_and_latency();
    printf("\n");
    bench_spool(FH_SPOOL_FSYNC_OFF, "spool (fsync off)");
    bench_spool(FH_SPOOL_FSYNC_BATCH, "spool (fsync after every batch)");
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    return 0;
}
