/*
 * test_kafka_sink.c - the Kafka sink (src/sink/kafka_sink.c) against librdkafka's mock
 * cluster, in process: every trade delivered once with its key, headers and exact bytes;
 * a full producer queue spills into the spool and the spool drains in order; records that
 * fail after newer ones were spooled (the race) still come out in the original order; a
 * stall moves queued records to the spool; shutdown spools the rest and the next start
 * drains it; without a spool a full queue pushes back and a failed delivery is counted lost;
 * a full spool pushes back; librdkafka's logs go through our logger; the receive -> ack
 * latency counts every record with a receive stamp, directly produced or from the spool.
 *
 * What the topic holds is read back with a librdkafka consumer: the sequence header
 * identifies each trade (sequence = its index in the test).
 */
#include "testutil.h"

#include "codec/avro.h"
#include "codec/gap.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "sink/kafka.h"
#include "sink/sink.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LD(x)  __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define TOPIC  "t"
#define NPARTS 4

static void rm_rf(char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char p[4200];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
        rmdir(dir);
    }
    free(dir);
}

/* ---- the mock cluster ---------------------------------------------------------------------- */

struct cluster {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
};

static void cluster_start(struct cluster *c, int brokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(c->rk);
    c->mc = rd_kafka_mock_cluster_new(c->rk, brokers);
    assert_non_null(c->mc);
    snprintf(c->bootstrap, sizeof(c->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(c->mc));
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, TOPIC, NPARTS, brokers < 3 ? brokers : 3),
                     0);
}

static void cluster_stop(struct cluster *c)
{
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->rk);
}

static void cluster_all(struct cluster *c, bool up)
{
    for (int b = 1; b <= 3; b++) {
        if (up)
            rd_kafka_mock_broker_set_up(c->mc, b);
        else
            rd_kafka_mock_broker_set_down(c->mc, b);
    }
}

/* ---- trades ----------------------------------------------------------------------------- */

static const char *const venues[] = {"binance", "kraken", "binance"};
static const char *const symbols[] = {"BTC-USDT", "BTC-USD", "ETH-USDT"};

static void make_trade(struct fh_trade *t, int64_t i)
{
    memset(t, 0, sizeof(*t));
    int k = (int)(i % 3);
    t->venue = fh_str_c(venues[k]);
    t->symbol = fh_str_c(symbols[k]);
    t->native_symbol = fh_str_c(k == 1 ? "XBT/USD" : "BTCUSDT");
    t->trade_id = 5000 + i;
    t->has = FH_HAS_TRADE_ID;
    t->price = fh_decimal_from_units((fh_i128)(16552 + i % 97) * 1000000000000000000);
    t->quantity = fh_decimal_from_units((fh_i128)(i + 1) * 1000000000000);
    t->side = (i & 1) ? FH_SIDE_SELL : FH_SIDE_BUY;
    t->trade_time_us = 1700000000000000 + i;
    t->receive_time_ns = 1700000000000000000 + i * 1000;
    t->source = FH_SOURCE_LIVE;
    t->connection_id = 1 + k;
    t->sequence = i;
}

/* ---- the sink ----------------------------------------------------------------------------- */

struct opts {
    const char *spool_dir;
    struct fh_kafka_prop props[8];
    size_t nprops;
    int64_t spill_after_ms;
    int64_t take_back_after_ms;
    uint64_t spool_max_bytes;
};

static void prop(struct opts *o, const char *n, const char *v)
{
    o->props[o->nprops].name = n;
    o->props[o->nprops].value = v;
    o->nprops++;
}

static struct fh_sink *sink_new(struct cluster *c, struct opts *o)
{
    prop(o, "bootstrap.servers", c->bootstrap);
    struct fh_spool_config sc = {
        .dir = o->spool_dir,
        .max_bytes = o->spool_max_bytes ? o->spool_max_bytes : 256ull << 20,
        .segment_bytes = 256 * 1024,
        .fsync = FH_SPOOL_FSYNC_OFF,
        .queue_bytes = 8ull << 20,
        .inflight_max = 10000,
    };
    struct fh_kafka_sink_config kc = {
        .format = FH_SINK_AVRO,
        .topic = TOPIC,
        .props = o->props,
        .nprops = o->nprops,
        .spool = o->spool_dir ? &sc : NULL,
        .spill_after_ms = o->spill_after_ms ? o->spill_after_ms : 60000,
        .take_back_after_ms = o->take_back_after_ms ? o->take_back_after_ms : 60000,
    };
    char err[512];
    enum fh_kafka_start_error why;
    struct fh_sink *s = fh_kafka_sink_new(&kc, &why, err, sizeof(err));
    if (s == NULL)
        fail_msg("fh_kafka_sink_new: %s", err);
    assert_int_equal(why, FH_KAFKA_START_OK);
    return s;
}

/* Writes trades [from, to), polling now and then; pushes back by polling. */
static void write_range(struct fh_sink *s, int64_t from, int64_t to)
{
    struct fh_trade t;
    for (int64_t i = from; i < to; i++) {
        make_trade(&t, i);
        int rc, spins = 0;
        while ((rc = fh_sink_write(s, &t)) == FH_ENOSPACE) {
            fh_sink_poll(s);
            usleep(1000);
            assert_true(spins++ < 60000);
        }
        assert_int_equal(rc, 0);
        if (i % 100 == 0)
            fh_sink_poll(s);
    }
}

/* Polls until every accepted trade is delivered and the sink is back to direct mode. */
static void pump_until_delivered(struct fh_sink *s, uint64_t n, int timeout_s)
{
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    for (int i = 0; i < timeout_s * 1000; i++) {
        fh_sink_poll(s);
        if (LD(s->stats.delivered) >= n && LD(k->in_flight) == 0 &&
            LD(k->mode) == FH_KAFKA_MODE_DIRECT)
            return;
        usleep(1000);
    }
    fail_msg("not delivered: %llu of %llu, mode %llu, in flight %llu",
             (unsigned long long)LD(s->stats.delivered), (unsigned long long)n,
             (unsigned long long)LD(k->mode), (unsigned long long)LD(k->in_flight));
}

static void pump_ms(struct fh_sink *s, int ms)
{
    for (int i = 0; i < ms; i++) {
        fh_sink_poll(s);
        usleep(1000);
    }
}

/* ---- reading the topic back ------------------------------------------------------------------ */

struct seen {
    int64_t n;       /* trades expected: sequence 0..n-1 */
    int *count;      /* deliveries per sequence */
    int64_t last[3]; /* per key: last first-delivered sequence */
    int64_t records;
    int order_errors;
};

static int64_t header_i64(rd_kafka_message_t *m, const char *name)
{
    rd_kafka_headers_t *h;
    const void *v = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &h) != 0 || rd_kafka_header_get_last(h, name, &v, &n) != 0)
        fail_msg("record without header %s", name);
    char buf[32];
    assert_true(n < sizeof(buf));
    memcpy(buf, v, n);
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

static void read_topic(struct cluster *c, struct seen *s)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(NPARTS);
    int64_t hi[NPARTS], pos[NPARTS];
    for (int p = 0; p < NPARTS; p++) {
        int64_t lo;
        assert_int_equal(rd_kafka_query_watermark_offsets(rk, TOPIC, p, &lo, &hi[p], 10000), 0);
        pos[p] = lo;
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    assert_int_equal(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    s->count = calloc((size_t)s->n, sizeof(int));
    for (int k = 0; k < 3; k++)
        s->last[k] = -1;
    uint8_t want[4096];
    for (int spins = 0; spins < 30000;) {
        bool done = true;
        for (int p = 0; p < NPARTS; p++)
            done &= pos[p] >= hi[p];
        if (done)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            spins += 100;
            continue;
        }
        assert_int_equal(m->err, 0);
        pos[m->partition] = m->offset + 1;
        int64_t seq = header_i64(m, "sequence");
        assert_true(seq >= 0 && seq < s->n);
        /* Key, lineage and the exact value bytes. */
        struct fh_trade t;
        make_trade(&t, seq);
        char key[64];
        int kn = snprintf(key, sizeof(key), "%s:%s", venues[seq % 3], symbols[seq % 3]);
        assert_int_equal(m->key_len, kn);
        assert_memory_equal(m->key, key, (size_t)kn);
        assert_int_equal(header_i64(m, "connection_id"), t.connection_id);
        struct fh_fbuf b;
        fh_fbuf_init(&b, want, sizeof(want));
        assert_int_equal(fh_avro_encode_trade_single_object(&b, &t), 0);
        assert_int_equal(m->len, b.len);
        assert_memory_equal(m->payload, want, b.len);
        s->records++;
        if (s->count[seq]++ == 0) {
            int k = (int)(seq % 3);
            if (seq < s->last[k])
                s->order_errors++;
            s->last[k] = seq;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* Every trade 0..n-1 exactly once, per key in order. */
static void expect_exactly_once_in_order(struct cluster *c, int64_t n)
{
    struct seen s = {.n = n};
    read_topic(c, &s);
    int64_t missing = 0, dups = 0;
    for (int64_t i = 0; i < n; i++) {
        missing += s.count[i] == 0;
        dups += s.count[i] > 1 ? s.count[i] - 1 : 0;
    }
    if (missing || dups || s.order_errors || s.records != n)
        fail_msg("read %lld records: missing %lld, duplicates %lld, order errors %d",
                 (long long)s.records, (long long)missing, (long long)dups, s.order_errors);
    free(s.count);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_every_trade_once_with_key_headers_and_bytes(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    struct opts o = {0};
    struct fh_sink *s = sink_new(&c, &o);
    write_range(s, 0, 3000);
    assert_int_equal(fh_sink_flush(s, 30000), 0);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    assert_int_equal(LD(s->stats.accepted), 3000);
    assert_int_equal(LD(s->stats.delivered), 3000);
    assert_int_equal(LD(k->produced), 3000);
    assert_int_equal(LD(k->spooled), 0);
    assert_true(fh_kafka_latency_quantile(k, 0.5) > 0);
    assert_int_equal(fh_sink_write(s, &(struct fh_trade){0}), FH_ESTATE); /* closed */
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, 3000);
    cluster_stop(&c);
}

/* Every message of partition 0 of topic, as (key, value) copies; returns how many (<= max). */
static size_t read_partition(struct cluster *c, const char *topic, char keys[][64],
                             uint8_t vals[][2048], size_t vlens[], size_t max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test-gaps", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000), 0);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t n = 0;
    for (int spins = 0; lo + (int64_t)n < hi && spins < 300; spins++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        assert_int_equal(m->err, 0);
        assert_true(n < max && m->key_len < 64 && m->len <= 2048);
        memcpy(keys[n], m->key, m->key_len);
        keys[n][m->key_len] = '\0';
        memcpy(vals[n], m->payload, m->len);
        vlens[n++] = m->len;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* Gap records go to "<topic>.gaps" with the key venue:symbol and the gap schema's bytes, once
 * produced directly and once through the spool during an outage; they are counted apart from
 * the trades, and the trades' topic and counts are untouched by them. */
static void test_gap_records_to_the_gap_topic(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    assert_int_equal(rd_kafka_mock_topic_create(c.mc, TOPIC ".gaps", 1, 3), 0);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir, .spill_after_ms = 300};
    struct fh_sink *s = sink_new(&c, &o);
    struct fh_gap_record g = {.venue = FH_STR_LIT("kraken"),
                              .symbol = FH_STR_LIT("BTC-USD"),
                              .native_symbol = FH_STR_LIT("BTC/USD"),
                              .kind = FH_KIND_TRADE,
                              .first_missing_id = 40,
                              .last_missing_id = 49,
                              .status = FH_GAP_DETECTED,
                              .missing_count = 10,
                              .detected_time_ns = 1672515782137000000,
                              .reported_time_ns = 1672515782137000001,
                              .connection_id = 3};
    write_range(s, 0, 100);
    assert_int_equal(fh_sink_write_gap(s, &g), 0); /* direct */
    pump_until_delivered(s, 100, 30);
    cluster_all(&c, false);
    write_range(s, 100, 200);
    pump_ms(s, 600); /* the stall: spooling */
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    assert_int_equal(LD(k->mode), FH_KAFKA_MODE_SPOOLING);
    struct fh_gap_record g2 = g;
    g2.status = FH_GAP_FILLED;
    g2.missing_count = 0;
    g2.filled_count = 10;
    assert_int_equal(fh_sink_write_gap(s, &g2), 0); /* spooled */
    write_range(s, 200, 300);
    cluster_all(&c, true);
    pump_until_delivered(s, 300, 60);
    assert_int_equal(fh_sink_flush(s, 30000), 0);
    assert_int_equal(LD(s->stats.accepted), 300);
    assert_int_equal(LD(s->stats.delivered), 300);
    assert_int_equal(LD(s->stats.gaps_accepted), 2);
    assert_int_equal(LD(s->stats.gaps_delivered), 2);
    assert_int_equal(LD(s->stats.failed), 0);
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, 300);
    static char keys[8][64];
    static uint8_t vals[8][2048];
    size_t lens[8];
    assert_int_equal(read_partition(&c, TOPIC ".gaps", keys, vals, lens, 8), 2);
    const struct fh_gap_record *want[2] = {&g, &g2};
    for (int i = 0; i < 2; i++) {
        uint8_t buf[2048];
        struct fh_fbuf b;
        fh_fbuf_init(&b, buf, sizeof(buf));
        assert_int_equal(fh_avro_encode_gap_single_object(&b, want[i]), 0);
        assert_string_equal(keys[i], "kraken:BTC-USD");
        assert_int_equal(lens[i], b.len);
        assert_memory_equal(vals[i], buf, b.len);
    }
    cluster_stop(&c);
    rm_rf(dir);
}

static void test_queue_full_spills_and_drains_in_order(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir};
    prop(&o, "queue.buffering.max.messages", "100");
    struct fh_sink *s = sink_new(&c, &o);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    /* No polling while writing: the queue fills at once and the rest goes to the spool. */
    struct fh_trade t;
    for (int64_t i = 0; i < 5000; i++) {
        make_trade(&t, i);
        assert_int_equal(fh_sink_write(s, &t), 0);
    }
    assert_int_equal(LD(k->produced), 100);
    assert_int_equal(LD(k->spooled), 4900);
    assert_true(LD(k->queue_full) >= 1);
    assert_int_equal(LD(k->mode), FH_KAFKA_MODE_SPOOLING);
    pump_until_delivered(s, 5000, 60);
    assert_int_equal(LD(k->drained), 4900);
    assert_int_equal(LD(s->stats.failed), 0);
    assert_int_equal(fh_sink_flush(s, 10000), 0);
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, 5000);
    cluster_stop(&c);
    rm_rf(dir);
}

/*
 * The race: records already in librdkafka fail (here: message.timeout.ms expires while every
 * broker is down) after newer records were spooled because the queue was full. They reach
 * the spool's front, sorted by gseq, and the drain re-produces them before the newer ones:
 * every key's order is the order of writing.
 */
static void test_failures_after_newer_spooled_keep_order(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir};
    prop(&o, "queue.buffering.max.messages", "300");
    prop(&o, "message.timeout.ms", "1500");
    struct fh_sink *s = sink_new(&c, &o);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    write_range(s, 0, 200); /* delivered */
    pump_until_delivered(s, 200, 30);
    cluster_all(&c, false);
    /* 300 go into librdkafka and wait; the queue is then full: 700 more go to the spool. */
    struct fh_trade t;
    for (int64_t i = 200; i < 1200; i++) {
        make_trade(&t, i);
        assert_int_equal(fh_sink_write(s, &t), 0);
    }
    assert_int_equal(LD(k->spooled), 700);
    /* The 300 time out now, after the 700 newer ones were spooled. */
    for (int i = 0; i < 20000 && LD(k->spooled_failed) < 300; i++) {
        fh_sink_poll(s);
        usleep(1000);
    }
    assert_int_equal(LD(k->spooled_failed), 300);
    cluster_all(&c, true);
    pump_until_delivered(s, 1200, 60);
    assert_int_equal(LD(s->stats.failed), 0);
    assert_int_equal(LD(k->drained), 1000);
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, 1200);
    cluster_stop(&c);
    rm_rf(dir);
}

/* The same race with the default message.timeout.ms (never): a stall that lasts
 * take_back_after_ms moves the queued records to the spool, behind which the newer ones
 * already wait. */
static void test_stall_moves_queued_records_to_the_spool(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir, .spill_after_ms = 300, .take_back_after_ms = 300};
    prop(&o, "queue.buffering.max.messages", "300");
    struct fh_sink *s = sink_new(&c, &o);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    write_range(s, 0, 100);
    pump_until_delivered(s, 100, 30);
    cluster_all(&c, false);
    struct fh_trade t;
    for (int64_t i = 100; i < 600; i++) {
        make_trade(&t, i);
        assert_int_equal(fh_sink_write(s, &t), 0);
    }
    for (int i = 0; i < 20000 && LD(k->spooled_failed) < 300; i++) {
        fh_sink_poll(s);
        usleep(1000);
    }
    assert_int_equal(LD(k->spooled_failed), 300);
    assert_true(LD(k->purges) >= 1);
    /* Each record taken back may be in Kafka already (librdkafka may call it "not persisted"
     * after a broker appended it): each is a suspect. */
    assert_int_equal(LD(k->dup_suspected), 300);
    write_range(s, 600, 800); /* still spooling, behind the others */
    cluster_all(&c, true);
    pump_until_delivered(s, 800, 60);
    assert_int_equal(LD(s->stats.failed), 0);
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, 800);
    cluster_stop(&c);
    rm_rf(dir);
}

/* A stall shorter than take_back_after_ms (a leader failover): new records go to the spool,
 * but what librdkafka holds stays there and is retried by the idempotent producer, never
 * purged: a purged record librdkafka had sent once may already be in the log, and producing
 * it again would deliver it twice (seen against Apache Kafka with a leader killed -9). */
static void test_short_stall_leaves_queued_records_to_librdkafka(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir, .spill_after_ms = 300, .take_back_after_ms = 600000};
    prop(&o, "queue.buffering.max.messages", "300");
    struct fh_sink *s = sink_new(&c, &o);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    write_range(s, 0, 100);
    pump_until_delivered(s, 100, 30);
    cluster_all(&c, false);
    struct fh_trade t;
    for (int64_t i = 100; i < 350; i++) { /* into librdkafka, waiting */
        make_trade(&t, i);
        assert_int_equal(fh_sink_write(s, &t), 0);
    }
    /* Stalled for well over spill_after_ms: spooling, nothing taken back. */
    for (int i = 0; i < 1500; i++) {
        fh_sink_poll(s);
        usleep(1000);
    }
    assert_int_equal(LD(k->mode), FH_KAFKA_MODE_SPOOLING);
    write_range(s, 350, 550); /* spooled, behind the 250 librdkafka keeps */
    assert_int_equal(LD(k->spooled), 200);
    assert_int_equal(LD(k->purges), 0);
    assert_int_equal(LD(k->spooled_failed), 0);
    cluster_all(&c, true);
    pump_until_delivered(s, 550, 60);
    assert_int_equal(LD(s->stats.failed), 0);
    assert_int_equal(LD(k->drained), 200);
    assert_int_equal(LD(k->purges), 0);
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, 550);
    cluster_stop(&c);
    rm_rf(dir);
}

static void test_shutdown_spools_the_rest_and_restart_drains_it(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir};
    struct fh_sink *s = sink_new(&c, &o);
    write_range(s, 0, 100);
    pump_until_delivered(s, 100, 30);
    cluster_all(&c, false);
    write_range(s, 100, 400);
    /* The deadline passes; what librdkafka holds goes to the spool, durably. */
    assert_int_equal(fh_sink_flush(s, 300), FH_SINK_FLUSH_KEPT);
    const struct fh_spool_stats *sp = fh_kafka_sink_spool_stats(s);
    assert_int_equal(LD(sp->pending), 300);
    assert_int_equal(LD(s->stats.failed), 0);
    fh_sink_free(s);

    cluster_all(&c, true);
    struct opts o2 = {.spool_dir = dir};
    s = sink_new(&c, &o2);
    sp = fh_kafka_sink_spool_stats(s);
    assert_int_equal(LD(sp->recovered), 300);
    pump_until_delivered(s, 300, 60);
    write_range(s, 400, 500); /* numbering continues after the recovered records */
    assert_int_equal(fh_sink_flush(s, 10000), 0);
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, 500);
    cluster_stop(&c);
    rm_rf(dir);
}

static void test_without_spool_full_queue_pushes_back_failures_are_lost(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    cluster_all(&c, false);
    struct opts o = {0};
    prop(&o, "queue.buffering.max.messages", "10");
    prop(&o, "message.timeout.ms", "300");
    struct fh_sink *s = sink_new(&c, &o);
    struct fh_trade t;
    int64_t i = 0;
    int rc;
    for (; i < 100; i++) {
        make_trade(&t, i);
        if ((rc = fh_sink_write(s, &t)) != 0)
            break;
    }
    assert_int_equal(rc, FH_ENOSPACE); /* backpressure, nothing dropped */
    assert_int_equal(i, 10);
    assert_int_equal(LD(s->stats.refused), 1);
    pump_ms(s, 1500); /* the 10 time out: no spool, so they are counted as lost */
    assert_int_equal(LD(s->stats.failed), 10);
    assert_int_equal(fh_sink_write(s, &t), 0);
    fh_sink_flush(s, 100);
    fh_sink_free(s);
    cluster_stop(&c);
}

static void test_full_spool_pushes_back(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    cluster_all(&c, false);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir, .spool_max_bytes = 1 << 20};
    prop(&o, "queue.buffering.max.messages", "10");
    struct fh_sink *s = sink_new(&c, &o);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    struct fh_trade t;
    int rc = 0;
    int64_t i = 0;
    for (; i < 200000 && rc == 0; i++) {
        make_trade(&t, i);
        rc = fh_sink_write(s, &t);
        if (i % 64 == 0)
            fh_sink_poll(s);
    }
    assert_int_equal(rc, FH_ENOSPACE);
    assert_true(LD(k->spool_full) >= 1);
    const struct fh_spool_stats *sp = fh_kafka_sink_spool_stats(s);
    assert_true(LD(sp->disk_bytes) + LD(sp->queued_bytes) <= 1 << 20);
    int64_t accepted = (int64_t)LD(s->stats.accepted);
    cluster_all(&c, true);
    pump_until_delivered(s, (uint64_t)accepted, 60);
    assert_int_equal(fh_sink_write(s, &t), 0); /* room again: the refused trade goes in */
    assert_int_equal(fh_sink_flush(s, 10000), 0);
    fh_sink_free(s);
    expect_exactly_once_in_order(&c, accepted + 1);
    cluster_stop(&c);
    rm_rf(dir);
}

static uint64_t bucket_total(const uint64_t *b)
{
    uint64_t n = 0;
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++)
        n += LD(b[i]);
    return n;
}

/*
 * Receive -> ack: trades stamped as received AGE ago (both clocks) are counted once each with
 * at least AGE, whether produced directly (the monotonic stamp) or drained from the spool (the
 * record's realtime timestamp); trades without a monotonic stamp (produced directly) and
 * replayed trades (from the spool) are not counted. The recent window (about 10 s) holds them
 * until they age out. No bound on how long anything took.
 */
static void test_receive_to_ack_latency(void **state)
{
    (void)state;
    enum { N = 600, DIRECT = 100, AGE_US = 1000000 };
    struct cluster c;
    cluster_start(&c, 3);
    char *dir = fh_test_tmpdir();
    struct opts o = {.spool_dir = dir};
    prop(&o, "queue.buffering.max.messages", "100");
    struct fh_sink *s = sink_new(&c, &o);
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    assert_int_equal(fh_kafka_receive_to_ack_quantile(k, 0.99), 0); /* none yet */
    struct fh_trade t;
    uint64_t expect = 0;
    for (int64_t i = 0; i < N; i++) {
        make_trade(&t, i);
        t.receive_time_ns = fh_clock_realtime_ns() - AGE_US * 1000LL;
        t.receive_mono_ns = fh_clock_monotonic_ns() - AGE_US * 1000LL;
        if (i % 10 == 1 && i < DIRECT)
            t.receive_mono_ns = 0; /* no monotonic stamp: not measured */
        else if (i % 10 == 1)
            t.source = FH_SOURCE_REPLAY; /* spooled, with the recording's receipt time */
        else
            expect++;
        assert_int_equal(fh_sink_write(s, &t), 0); /* no polling: the queue fills, spools */
    }
    assert_int_equal(LD(k->produced), DIRECT);
    assert_int_equal(LD(k->spooled), N - DIRECT);
    pump_until_delivered(s, N, 60);
    assert_int_equal(LD(k->drained), N - DIRECT);
    assert_int_equal(bucket_total(k->receive_to_ack_us), expect);
    /* produce -> ack: a sample, the first report of each poll and one in
     * FH_KAFKA_DR_CLOCK_EVERY after it */
    assert_true(bucket_total(k->latency_us) >= N / FH_KAFKA_DR_CLOCK_EVERY);
    assert_true(bucket_total(k->latency_us) <= N);
    /* Bucket bounds are upper bounds, so even the smallest is at least the age. */
    assert_true(fh_kafka_receive_to_ack_quantile(k, 0.0) >= AGE_US);
    assert_true(fh_kafka_receive_to_ack_quantile(k, 0.99) >=
                fh_kafka_receive_to_ack_quantile(k, 0.50));
    /* The recent window holds them too (the sink is younger than the window)... */
    assert_true(fh_kafka_receive_to_ack_recent_quantile(k, 0.0) >= AGE_US);
    /* ...until they age out of it (the window moves on while the sink is polled); what was
     * counted since start stays. */
    for (int i = 0; fh_kafka_receive_to_ack_recent_quantile(k, 0.99) != 0; i++) {
        assert_true(i < 120000); /* bounded: not a timing assertion */
        pump_ms(s, 1);
    }
    assert_int_equal(bucket_total(k->receive_to_ack_us), expect);
    assert_true(fh_kafka_receive_to_ack_quantile(k, 0.0) >= AGE_US);
    /* New acknowledgements show in the window again. */
    make_trade(&t, N);
    t.receive_mono_ns = fh_clock_monotonic_ns() - 2 * AGE_US * 1000LL;
    assert_int_equal(fh_sink_write(s, &t), 0);
    pump_until_delivered(s, N + 1, 60);
    assert_true(fh_kafka_receive_to_ack_recent_quantile(k, 0.5) >= 2 * AGE_US);
    assert_int_equal(fh_sink_flush(s, 10000), 0);
    fh_sink_free(s);
    cluster_stop(&c);
    rm_rf(dir);
}

/* The wake descriptor becomes readable when a delivery report arrives, without any poll (an
 * idle loop wakes up for it); fh_sink_wake clears it and serves the report. */
static void test_wake_fd_signals_delivery_reports(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    struct opts o = {0};
    prop(&o, "linger.ms", "0");
    struct fh_sink *s = sink_new(&c, &o);
    int fd = fh_sink_wake_fd(s);
    assert_true(fd >= 0);
    struct fh_trade t;
    for (int64_t i = 0; i < 3; i++) {
        make_trade(&t, i);
        assert_int_equal(fh_sink_write(s, &t), 0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 60000), 1); /* bounded: not a timing assertion */
        int spins = 0;
        while (fh_sink_wake(s), LD(s->stats.delivered) < (uint64_t)i + 1) {
            assert_true(spins++ < 60000); /* the report may follow the wake-up a little later */
            poll(&p, 1, 1);
        }
    }
    assert_int_equal(fh_sink_flush(s, 10000), 0);
    fh_sink_free(s);
    cluster_stop(&c);
}

static void test_bad_property_is_a_configuration_error(void **state)
{
    (void)state;
    struct fh_kafka_prop props[] = {{"bootstrap.servers", "127.0.0.1:1"}, {"acks", "banana"}};
    struct fh_kafka_sink_config kc = {
        .format = FH_SINK_AVRO, .topic = TOPIC, .props = props, .nprops = 2};
    char err[512];
    enum fh_kafka_start_error why;
    assert_null(fh_kafka_sink_new(&kc, &why, err, sizeof(err)));
    assert_int_equal(why, FH_KAFKA_START_CONFIG);
    assert_non_null(strstr(err, "acks"));
    kc.nprops = 1;
    kc.topic = "no spaces allowed";
    assert_null(fh_kafka_sink_new(&kc, &why, err, sizeof(err)));
    assert_int_equal(why, FH_KAFKA_START_CONFIG);
    assert_non_null(strstr(err, "invalid Kafka topic"));
}

/* Sends the log to the file dir/log (path receives its name); returns its descriptor. */
static int log_to_file(const char *dir, char *path, size_t n)
{
    snprintf(path, n, "%s/log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    fh_log_set_fd(fd);
    return fd;
}

/* Starts a sink (no broker needed) and returns its start-up log (to free). */
static char *start_log(bool latency, const struct fh_kafka_prop *extra)
{
    char *dir = fh_test_tmpdir();
    char path[4200];
    int fd = log_to_file(dir, path, sizeof(path));
    struct fh_kafka_prop props[2] = {{"bootstrap.servers", "127.0.0.1:9"}};
    if (extra != NULL)
        props[1] = *extra;
    struct fh_kafka_sink_config kc = {.format = FH_SINK_AVRO,
                                      .topic = TOPIC,
                                      .props = props,
                                      .nprops = extra != NULL ? 2 : 1,
                                      .latency_profile = latency};
    char err[512];
    struct fh_sink *s = fh_kafka_sink_new(&kc, NULL, err, sizeof(err));
    if (s == NULL)
        fail_msg("fh_kafka_sink_new: %s", err);
    fh_sink_free(s);
    fh_log_set_fd(2);
    close(fd);
    char *text = fh_test_read_file(path, NULL);
    rm_rf(dir);
    return text;
}

/* sink.profile = latency: no linger, no Nagle; the throughput default lingers 5 ms; a
 * property given in [kafka] wins over either. */
static void test_latency_profile_sets_the_producer(void **state)
{
    (void)state;
    char *t = start_log(false, NULL);
    assert_non_null(strstr(t, "profile=throughput linger_ms=5 nagle_disable=false"));
    free(t);
    t = start_log(true, NULL);
    assert_non_null(strstr(t, "profile=latency linger_ms=0 nagle_disable=true"));
    free(t);
    struct fh_kafka_prop linger = {"linger.ms", "2"};
    t = start_log(true, &linger);
    assert_non_null(strstr(t, "profile=latency linger_ms=2 nagle_disable=true"));
    free(t);
}

static void test_librdkafka_logs_through_our_logger(void **state)
{
    (void)state;
    char *dir = fh_test_tmpdir();
    char path[4200];
    int fd = log_to_file(dir, path, sizeof(path));
    /* A port nothing listens on: librdkafka logs the failed connection. */
    struct fh_kafka_prop props[] = {{"bootstrap.servers", "127.0.0.1:9"}};
    struct fh_kafka_sink_config kc = {
        .format = FH_SINK_AVRO, .topic = TOPIC, .props = props, .nprops = 1};
    char err[512];
    struct fh_sink *s = fh_kafka_sink_new(&kc, NULL, err, sizeof(err));
    assert_non_null(s);
    struct fh_trade t;
    make_trade(&t, 0);
    assert_int_equal(fh_sink_write(s, &t), 0);
    pump_ms(s, 1500);
    fh_sink_flush(s, 100);
    fh_sink_free(s);
    fh_log_set_fd(2);
    close(fd);
    char *text = fh_test_read_file(path, NULL);
    assert_non_null(strstr(text, "msg=\"librdkafka\""));
    assert_non_null(strstr(text, "level=error msg=\"librdkafka\" facility=FAIL"));
    assert_non_null(strstr(text, "msg=\"kafka: trade lost\"")); /* no spool: counted */
    free(text);
    rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_trade_once_with_key_headers_and_bytes),
        cmocka_unit_test(test_gap_records_to_the_gap_topic),
        cmocka_unit_test(test_queue_full_spills_and_drains_in_order),
        cmocka_unit_test(test_failures_after_newer_spooled_keep_order),
        cmocka_unit_test(test_stall_moves_queued_records_to_the_spool),
        cmocka_unit_test(test_short_stall_leaves_queued_records_to_librdkafka),
        cmocka_unit_test(test_shutdown_spools_the_rest_and_restart_drains_it),
        cmocka_unit_test(test_without_spool_full_queue_pushes_back_failures_are_lost),
        cmocka_unit_test(test_full_spool_pushes_back),
        cmocka_unit_test(test_receive_to_ack_latency),
        cmocka_unit_test(test_wake_fd_signals_delivery_reports),
        cmocka_unit_test(test_bad_property_is_a_configuration_error),
        cmocka_unit_test(test_librdkafka_logs_through_our_logger),
        cmocka_unit_test(test_latency_profile_sets_the_producer),
    };
    if (getenv("FH_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("FH_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
