/*
 * kafka_start.c - the Kafka sink's start-up and its tables: the producer configuration (our
 * defaults under the [kafka] properties), the topic table, the log and error callbacks, schema
 * registration, opening the spool, fh_kafka_sink_new; and the readers of its counters. The
 * engine-thread state machine that runs after start-up is in kafka_sink.c, the accounting of
 * losses in kafka_loss.c; kafka_int.h holds the state they share.
 */
#include "sink/kafka_int.h"

#include "codec/avro.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "sink/loss.h"
#include "sink/registry.h"
#include "codec/gap.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

const char *const FH_KAFKA_DEFAULTS[][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"compression.type", "lz4"},
    {"linger.ms", "5"},
    {"partitioner", "murmur2_random"},
    {"message.timeout.ms", "0"},
    {"queue.buffering.max.messages", "50000"},
    {"queue.buffering.max.kbytes", "16384"},
    {"reconnect.backoff.ms", "100"},
    {"reconnect.backoff.max.ms", "1000"},
    {"client.id", "feedhandler"},
    {NULL, NULL},
};

/* No batching delay, and no Nagle delay behind a request still unanswered: a record leaves
 * as soon as the broker thread takes it (more requests, more CPU per trade; bench/README.md). */
const char *const FH_KAFKA_LATENCY[][2] = {
    {"linger.ms", "0"},
    {"socket.nagle.disable", "true"},
    {NULL, NULL},
};

/* ---- topics ---------------------------------------------------------------------------------- */

static bool topic_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Adds a topic (start-up, or the first record of an unexpected venue / a spooled topic).
 * Returns the entry or NULL (table full, out of memory, invalid name: err says why). */
static struct topic_ent *topic_add(struct kafka_sink *ks, const char *venue, size_t venue_n,
                                   const char *name, char *err, size_t errlen)
{
    if (ks->ntopics == MAX_TOPICS) {
        snprintf(err, errlen, "more than %d topics", MAX_TOPICS);
        return NULL;
    }
    struct topic_ent *te = &ks->topics[ks->ntopics];
    memset(te, 0, sizeof(*te));
    te->name = strdup(name);
    te->venue = venue ? strndup(venue, venue_n) : NULL;
    te->schema_id = ks->schema_id;
    if (te->name == NULL || (venue != NULL && te->venue == NULL)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!topic_name_ok(name)) {
        snprintf(err, errlen,
                 "invalid Kafka topic \"%s\": 1 to 249 characters of A-Z a-z 0-9 . _ -", name);
        goto fail;
    }
    if (ks->rk != NULL) {
        te->rkt = rd_kafka_topic_new(ks->rk, name, NULL);
        if (te->rkt == NULL) {
            snprintf(err, errlen, "cannot create topic handle %s: %s", name,
                     rd_kafka_err2str(rd_kafka_last_error()));
            goto fail;
        }
    }
    ks->ntopics++;
    return te;
fail:
    free(te->name);
    free(te->venue);
    memset(te, 0, sizeof(*te));
    return NULL;
}

/* The topic of a venue (hot path: a short linear scan). */
struct topic_ent *fh__kafka_topic_for_venue(struct kafka_sink *ks, struct fh_str venue)
{
    if (!ks->per_venue)
        return &ks->topics[0];
    for (size_t i = 0; i < ks->ntopics; i++) {
        const char *v = ks->topics[i].venue;
        if (v != NULL && strlen(v) == venue.n && memcmp(v, venue.p, venue.n) == 0)
            return &ks->topics[i];
    }
    char name[300], err[200];
    if (snprintf(name, sizeof(name), "%s.%.*s", ks->topic_base, (int)venue.n, venue.p) >=
        (int)sizeof(name))
        return NULL;
    struct topic_ent *te = topic_add(ks, venue.p, venue.n, name, err, sizeof(err));
    if (te == NULL)
        log_error("kafka: no topic for a venue", "topic=%s error=\"%s\"", name, err);
    else
        log_warn("kafka: topic for a venue not configured at start-up", "topic=%s registered=%s",
                 name, ks->confluent ? "no (schema id reused)" : "n/a");
    return te;
}

bool fh__kafka_topic_by_name_exists(const struct kafka_sink *ks, const char *name)
{
    for (size_t i = 0; i < ks->ntopics; i++)
        if (strcmp(ks->topics[i].name, name) == 0)
            return true;
    return false;
}

struct topic_ent *fh__kafka_topic_by_name(struct kafka_sink *ks, struct fh_str name)
{
    for (size_t i = 0; i < ks->ntopics; i++) {
        if (fh_str_eq_c(name, ks->topics[i].name))
            return &ks->topics[i];
    }
    char buf[300], err[200];
    if (name.n >= sizeof(buf))
        return NULL;
    memcpy(buf, name.p, name.n);
    buf[name.n] = '\0';
    struct topic_ent *te = topic_add(ks, NULL, 0, buf, err, sizeof(err));
    if (te == NULL)
        log_error("kafka: cannot produce a spooled record's topic", "topic=%s error=\"%s\"", buf,
                  err);
    return te;
}

/* ---- callbacks ------------------------------------------------------------------------------- */

/* librdkafka threads: syslog levels onto ours. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum fh_log_level l = level <= 3   ? FH_LOG_ERROR
                          : level == 4 ? FH_LOG_WARN
                          : level <= 6 ? FH_LOG_INFO
                                       : FH_LOG_DEBUG;
    if (!fh_log_enabled(l))
        return;
    struct fh_logq q;
    fh_log_write(l, "librdkafka", "facility=%s text=%s", fac, fh_logq(&q, buf));
}

/* Engine thread (from rd_kafka_poll). */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka_sink *ks = opaque;
    stat_add(&ks->ks.kafka_errors, 1);
    struct fh_logq q;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        log_error("kafka producer fatal error", "error=%s reason=%s action=%s",
                  rd_kafka_err2name(orig), fh_logq(&q, why),
                  ks->conf != NULL ? "recreate" : "stop");
        if (ks->conf != NULL)
            ks->fatal_pending = true; /* kafka_poll re-creates the producer */
        else
            fh__kafka_set_fatal(ks, rd_kafka_err2name(orig), why);
        return;
    }
    uint64_t suppressed = 0;
    if (fh_ratelimit_allow(&ks->rl_err, fh_clock_monotonic_ns(), &suppressed))
        log_warn("kafka error", "error=%s reason=%s suppressed=%" PRIu64,
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), fh_logq(&q, reason), suppressed);
}

/* ---- start-up -------------------------------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                    size_t errlen)
{
    char msg[512] = "";
    if (rd_kafka_conf_set(conf, name, value, msg, sizeof(msg)) == RD_KAFKA_CONF_OK)
        return 0;
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    snprintf(err, errlen, "[kafka] %s = %s: %s", name, value, msg);
    return FH_ECONFIG;
}

static bool prop_given(const struct fh_kafka_sink_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nprops; i++) {
        if (strcmp(cfg->props[i].name, name) == 0)
            return true;
    }
    return false;
}

static rd_kafka_conf_t *build_conf(const struct fh_kafka_sink_config *cfg, struct kafka_sink *ks,
                                   char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; FH_KAFKA_DEFAULTS[i][0] != NULL; i++) {
        if (!prop_given(cfg, FH_KAFKA_DEFAULTS[i][0]) &&
            conf_set(conf, FH_KAFKA_DEFAULTS[i][0], FH_KAFKA_DEFAULTS[i][1], err, errlen) != 0)
            goto fail;
    }
    /* The profile's properties replace the defaults they name. */
    for (size_t i = 0; cfg->latency_profile && FH_KAFKA_LATENCY[i][0] != NULL; i++) {
        if (!prop_given(cfg, FH_KAFKA_LATENCY[i][0]) &&
            conf_set(conf, FH_KAFKA_LATENCY[i][0], FH_KAFKA_LATENCY[i][1], err, errlen) != 0)
            goto fail;
    }
    for (size_t i = 0; i < cfg->nprops; i++) {
        if (conf_set(conf, cfg->props[i].name, cfg->props[i].value, err, errlen) != 0)
            goto fail;
    }
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_dr_msg_cb(conf, fh__kafka_on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static uint64_t conf_u64(rd_kafka_conf_t *conf, const char *name, uint64_t def)
{
    char buf[64];
    size_t n = sizeof(buf);
    if (rd_kafka_conf_get(conf, name, buf, &n) != RD_KAFKA_CONF_OK)
        return def;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    return *end == '\0' ? (uint64_t)v : def;
}

static int register_topics(struct kafka_sink *ks, char *err, size_t errlen,
                           enum fh_kafka_start_error *why)
{
    for (size_t i = 0; i < ks->ntopics; i++) {
        char subject[300], msg[512];
        snprintf(subject, sizeof(subject), "%s-value", ks->topics[i].name);
        enum fh_registry_failure f;
        uint32_t id;
        bool gap = &ks->topics[i] == ks->gap_te;
        int rc = fh_registry_register(
            &ks->reg, subject, gap ? fh_gap_schema_json : fh_trade_schema_json,
            gap ? fh_gap_schema_json_len : fh_trade_schema_json_len, &id, &f, msg, sizeof(msg));
        if (rc != 0) {
            snprintf(err, errlen, "%s", msg);
            *why = FH_KAFKA_START_REGISTRY;
            return rc;
        }
        ks->topics[i].schema_id = id;
        if (i == 0)
            ks->schema_id = id;
        if (gap)
            log_info("kafka: gap records", "topic=%s subject=%s schema_id=%u", ks->topics[i].name,
                     subject, id);
    }
    return 0;
}

struct fh_sink *fh_kafka_sink_new(const struct fh_kafka_sink_config *cfg,
                                  enum fh_kafka_start_error *why, char *err, size_t errlen)
{
    enum fh_kafka_start_error dummy;
    if (why == NULL)
        why = &dummy;
    *why = FH_KAFKA_START_FAILED;
    struct kafka_sink *ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ks->base.ops = &fh__kafka_ops;
    ks->base.format = cfg->format;
    fh_loss_init(&ks->loss, &ks->base.stats.failed);
    ks->on_full = cfg->on_full;
    ks->full_grace_ns = (cfg->full_grace_ms > 0 ? cfg->full_grace_ms : 10000) * 1000000LL;
    ks->per_venue = cfg->topic_per_venue;
    ks->topic_base = strdup(cfg->topic ? cfg->topic : "trades");
    ks->spill_ns = (cfg->spill_after_ms > 0 ? cfg->spill_after_ms : 3000) * 1000000;
    ks->take_back_ns = (cfg->take_back_after_ms > 0 ? cfg->take_back_after_ms : 60000) * 1000000;
    if (ks->take_back_ns < ks->spill_ns)
        ks->take_back_ns = ks->spill_ns;
    ks->backoff_ns = BACKOFF_MIN_NS;
    ks->next_gseq = 1;
    ks->wake_fd = -1;
    fh_ratelimit_init(&ks->rl_lost, 5, 60LL * 1000000000LL);
    fh_ratelimit_init(&ks->rl_err, 10, 60LL * 1000000000LL);
    rd_kafka_conf_t *conf = NULL;
    if (ks->topic_base == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (fh_codec_init() != 0) {
        snprintf(err, errlen, "cannot compute the schema fingerprint (a build defect)");
        goto fail;
    }

    /* Topics (no handles yet: the producer comes last). */
    *why = FH_KAFKA_START_CONFIG;
    if (!ks->per_venue) {
        if (topic_add(ks, NULL, 0, ks->topic_base, err, errlen) == NULL)
            goto fail;
    } else {
        for (size_t i = 0; i < cfg->nvenues; i++) {
            char name[300];
            snprintf(name, sizeof(name), "%s.%s", ks->topic_base, cfg->venues[i]);
            if (topic_add(ks, cfg->venues[i], strlen(cfg->venues[i]), name, err, errlen) == NULL)
                goto fail;
        }
    }
    {
        char gname[300];
        if (cfg->gap_topic != NULL && cfg->gap_topic[0] != '\0')
            snprintf(gname, sizeof(gname), "%s", cfg->gap_topic);
        else
            snprintf(gname, sizeof(gname), "%s.gaps", ks->topic_base);
        if (fh__kafka_topic_by_name_exists(ks, gname)) {
            snprintf(err, errlen, "the gap topic %s is a trade topic", gname);
            goto fail;
        }
        ks->gap_te = topic_add(ks, NULL, 0, gname, err, errlen);
        if (ks->gap_te == NULL)
            goto fail;
        ks->gap_te->schema_id = 0;
    }
    conf = build_conf(cfg, ks, err, errlen);
    if (conf == NULL)
        goto fail;

    /* The registry first: refusing to start should not wait for anything else. */
    ks->confluent = cfg->registry_url != NULL && cfg->registry_url[0] != '\0';
    if (ks->confluent && cfg->format == FH_SINK_AVRO) {
        ks->reg.url = cfg->registry_url;
        ks->reg.timeout_ms = cfg->registry_timeout_ms;
        if (register_topics(ks, err, errlen, why) != 0)
            goto fail;
    } else if (cfg->fixed_schema_id != 0 && cfg->format == FH_SINK_AVRO) {
        ks->confluent = true;
        ks->schema_id = cfg->fixed_schema_id;
        for (size_t i = 0; i < ks->ntopics; i++)
            ks->topics[i].schema_id = cfg->fixed_schema_id;
        ks->gap_te->schema_id = 0; /* no id for the gap schema: single-object encoding */
    } else {
        ks->confluent = false;
    }

    if (cfg->spool != NULL) {
        struct fh_spool_config sc = *cfg->spool;
        sc.front_hint = (uint32_t)conf_u64(conf, "queue.buffering.max.messages", 100000);
        sc.on_lost = fh__kafka_on_spool_lost;
        sc.on_lost_ctx = ks;
        if (sc.write_grace_ms <= 0)
            sc.write_grace_ms = ks->full_grace_ns / 1000000;
        if (sc.reserve_bytes == 0) {
            /* Room for what the producer can hand back at once (records take about twice
             * their payload in the spool), the checkpoint and new segment files. */
            sc.reserve_bytes =
                2 * conf_u64(conf, "queue.buffering.max.kbytes", 16384) * 1024 + (1u << 20);
        }
        char serr[400];
        if (fh_spool_open(&sc, &ks->spool, serr, sizeof(serr)) != 0) {
            snprintf(err, errlen, "%s", serr);
            *why = FH_KAFKA_START_SPOOL;
            goto fail;
        }
        ks->next_gseq = fh_spool_next_gseq(ks->spool);
        const struct fh_spool_stats *ss = fh_spool_stats(ks->spool);
        uint64_t pending = __atomic_load_n(&ss->pending, __ATOMIC_RELAXED);
        if (pending > 0) {
            fh__kafka_set_mode(ks, FH_KAFKA_MODE_SPOOLING);
            log_warn("kafka: spool left by a previous run, draining it first",
                     "dir=%s records=%" PRIu64 " maybe_already_delivered=%" PRIu64
                     " truncated_segments=%" PRIu64,
                     sc.dir, pending, __atomic_load_n(&ss->recovered_suspect, __ATOMIC_RELAXED),
                     __atomic_load_n(&ss->truncated_segments, __ATOMIC_RELAXED));
            stat_add(&ks->ks.dup_suspected,
                     __atomic_load_n(&ss->recovered_suspect, __ATOMIC_RELAXED));
        }
    }

    *why = FH_KAFKA_START_FAILED;
    uint64_t want = conf_u64(conf, "queue.buffering.max.messages", 100000), slots = STAMPS_MIN;
    while (slots < want && slots < STAMPS_MAX)
        slots *= 2;
    ks->stamps = calloc(slots, sizeof(*ks->stamps));
    if (ks->stamps == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    ks->stamp_mask = slots - 1;
    /* What the profile and [kafka] made of the batching, for the start-up line. */
    uint64_t linger_ms = conf_u64(conf, "linger.ms", 5);
    char nagle[8] = "?";
    size_t nagle_n = sizeof(nagle);
    rd_kafka_conf_get(conf, "socket.nagle.disable", nagle, &nagle_n);
    char kerr[512];
    /* With a spool a fatal error replaces the producer: keep its configuration for that. */
    if (ks->spool != NULL && (ks->conf = rd_kafka_conf_dup(conf)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (ks->rk == NULL) {
        snprintf(err, errlen, "cannot create the Kafka producer: %s", kerr);
        *why = FH_KAFKA_START_CONFIG;
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    ks->recreated_at = UINT64_MAX;
    /* Without it delivery reports wait for the loop's next iteration (its timer when idle). */
    ks->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ks->wake_fd >= 0) {
        static const uint64_t one = 1;
        rd_kafka_queue_t *q = rd_kafka_queue_get_main(ks->rk);
        rd_kafka_queue_io_event_enable(q, ks->wake_fd, &one, sizeof(one));
        rd_kafka_queue_destroy(q);
    } else {
        log_warn("kafka: no eventfd: delivery reports are served at the loop's pace", "errno=%d",
                 errno);
    }
    for (size_t i = 0; i < ks->ntopics; i++) {
        ks->topics[i].rkt = rd_kafka_topic_new(ks->rk, ks->topics[i].name, NULL);
        if (ks->topics[i].rkt == NULL) {
            snprintf(err, errlen, "cannot create topic handle %s: %s", ks->topics[i].name,
                     rd_kafka_err2str(rd_kafka_last_error()));
            goto fail;
        }
    }
    char framing[64];
    if (cfg->format == FH_SINK_JSON)
        snprintf(framing, sizeof(framing), "json");
    else if (ks->confluent)
        snprintf(framing, sizeof(framing), "confluent schema_id=%u", ks->schema_id);
    else
        snprintf(framing, sizeof(framing), "avro-single-object fingerprint=%016" PRIx64,
                 fh_trade_schema_fingerprint());
    if (cfg->format == FH_SINK_AVRO && !ks->confluent)
        log_info("kafka: no schema registry configured: Avro single-object encoding", "");
    else if (cfg->format == FH_SINK_AVRO && !ks->reg.url)
        log_info("kafka: no schema registry, fixed schema id: Confluent wire format",
                 "schema_id=%u", ks->schema_id);
    log_info("kafka sink ready",
             "topic=%s%s encoding=\"%s\" spool=%s profile=%s linger_ms=%" PRIu64
             " nagle_disable=%s",
             ks->topic_base, ks->per_venue ? ".<venue>" : "", framing,
             cfg->spool ? cfg->spool->dir : "off", cfg->latency_profile ? "latency" : "throughput",
             linger_ms, nagle);
    *why = FH_KAFKA_START_OK;
    return &ks->base;
fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    fh__kafka_destroy(&ks->base);
    return NULL;
}

/* ---- counters -------------------------------------------------------------------------------- */

const struct fh_kafka_stats *fh_kafka_sink_stats(const struct fh_sink *s)
{
    return s != NULL && s->ops == &fh__kafka_ops ? &((const struct kafka_sink *)s)->ks : NULL;
}

const uint64_t *fh_kafka_sink_lost_by_reason(const struct fh_sink *s)
{
    return s != NULL && s->ops == &fh__kafka_ops ? ((const struct kafka_sink *)s)->loss.by_reason
                                                 : NULL;
}

int fh_kafka_sink_inject_fatal(struct fh_sink *s, const char *reason)
{
    if (s == NULL || s->ops != &fh__kafka_ops)
        return -1;
    struct kafka_sink *ks = (struct kafka_sink *)s;
    return rd_kafka_test_fatal_error(ks->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                     reason) == RD_KAFKA_RESP_ERR_NO_ERROR
               ? 0
               : -1;
}

const struct fh_spool_stats *fh_kafka_sink_spool_stats(const struct fh_sink *s)
{
    if (s == NULL || s->ops != &fh__kafka_ops)
        return NULL;
    const struct kafka_sink *ks = (const struct kafka_sink *)s;
    return ks->spool ? fh_spool_stats(ks->spool) : NULL;
}

/* Inverts latency_bucket (kafka_sink.c); c: the counts of a private copy. */
static uint64_t counts_quantile(const uint64_t *c, double q)
{
    uint64_t total = 0;
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++)
        total += c[i];
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++) {
        acc += c[i];
        if (acc <= want)
            continue;
        unsigned lg = i / 8, f = i % 8;
        if (lg < 3)
            return f > 0 ? (uint64_t)f - 1 : 0;       /* x < 8: exact, f == x */
        return (((uint64_t)(9 + f)) << (lg - 3)) - 2; /* largest lat with x in the bucket */
    }
    return UINT64_MAX;
}

static uint64_t bucket_quantile(const uint64_t *buckets, double q)
{
    uint64_t c[FH_KAFKA_LATENCY_BUCKETS];
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++)
        c[i] = __atomic_load_n(&buckets[i], __ATOMIC_RELAXED);
    return counts_quantile(c, q);
}

uint64_t fh_kafka_latency_quantile(const struct fh_kafka_stats *st, double q)
{
    return bucket_quantile(st->latency_us, q);
}

uint64_t fh_kafka_receive_to_ack_quantile(const struct fh_kafka_stats *st, double q)
{
    return bucket_quantile(st->receive_to_ack_us, q);
}

uint64_t fh_kafka_receive_to_ack_recent_quantile(const struct fh_kafka_stats *st, double q)
{
    uint64_t o = __atomic_load_n(&st->receive_to_ack_snap_oldest, __ATOMIC_RELAXED);
    const uint64_t *old = st->receive_to_ack_snap[o % FH_KAFKA_WINDOW_SLOTS];
    uint64_t c[FH_KAFKA_LATENCY_BUCKETS];
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++)
        c[i] = __atomic_load_n(&old[i], __ATOMIC_RELAXED);
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++) {
        /* Read after the copy: never older than it, but the slot may be rewritten meanwhile. */
        uint64_t now = __atomic_load_n(&st->receive_to_ack_us[i], __ATOMIC_RELAXED);
        c[i] = now > c[i] ? now - c[i] : 0;
    }
    return counts_quantile(c, q);
}
