/*
 * kafka_sink.c - the Kafka sink (see kafka.h for the contract and the ordering argument).
 *
 * Engine-thread state machine:
 *
 *   DIRECT    fh_sink_write() produces. A full librdkafka queue, a retriable delivery
 *             failure, or a stall (records waiting, no delivery report for spill_after_ms)
 *             -> SPOOLING. On a failure or a stall the records still queued in librdkafka
 *             are purged: their delivery reports bring them back, and they go to the
 *             spool's front (sorted by gseq), so nothing queued behind a failed record can
 *             be delivered before it.
 *   SPOOLING  fh_sink_write() appends to the spool. When nothing of ours is in flight and
 *             the backoff has passed, a drain pass starts (DRAINING).
 *   DRAINING  new records still go to the spool; fh_sink_poll() re-produces spooled records
 *             in order, a slowly growing number at a time. A failure ends the pass
 *             (SPOOLING, with a backoff); when the pass has handed out everything, DIRECT.
 *
 * msg_opaque of each produced message: (gseq << 1) for a record produced directly,
 * (token << 1) | 1 for a record re-produced from the spool (the token resolves it there).
 */
#include "sink/kafka.h"

#include "codec/avro.h"
#include "codec/jsonl.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "sink/loss.h"
#include "sink/registry.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOPICS        16
#define SCRATCH_BYTES     65536
#define KEY_MAX           1024
#define HDR_BLOB_MAX      512
#define DRAIN_PER_POLL    4096
#define PROBE_START       32
#define BACKOFF_MIN_NS    (250 * 1000000LL)
#define BACKOFF_MAX_NS    (5000 * 1000000LL)
#define REPURGE_NS        (200 * 1000000LL)
#define SHUTDOWN_DRAIN_MS 5000

const char *const FH_KAFKA_DEFAULTS[][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"compression.type", "lz4"},
    {"linger.ms", "5"},
    {"message.timeout.ms", "0"},
    {"queue.buffering.max.messages", "50000"},
    {"queue.buffering.max.kbytes", "16384"},
    {"reconnect.backoff.ms", "100"},
    {"reconnect.backoff.max.ms", "1000"},
    {"client.id", "feedhandler"},
    {NULL, NULL},
};

struct topic_ent {
    char *venue; /* NULL: the one topic without topic_per_venue */
    char *name;
    rd_kafka_topic_t *rkt;
    uint32_t schema_id;
};

struct kafka_sink {
    struct fh_sink base;
    struct fh_kafka_stats ks;
    rd_kafka_t *rk;
    struct fh_spool *spool;

    struct topic_ent topics[MAX_TOPICS];
    size_t ntopics;
    char *topic_base;
    bool per_venue;
    bool confluent;     /* registry framing */
    uint32_t schema_id; /* for topics created after start-up */
    struct fh_registry_config reg;

    uint64_t next_gseq;
    int mode;
    uint64_t in_flight;
    uint64_t probe_limit;
    uint64_t spool_in_flight;
    int64_t spill_ns;
    int64_t last_ack_ns;
    int64_t last_purge_ns;
    int64_t next_pass_ns;
    int64_t backoff_ns;
    bool failure_seen;
    bool stalled_logged;
    bool spool_full_logged;
    bool closing;
    bool flushed;

    /* The spool refusing records: since when, and what then (spool.on_full). */
    int64_t full_since_ns;
    enum fh_kafka_on_full on_full;
    int64_t full_grace_ns;
    bool dropping;
    struct fh_loss loss;
    int64_t last_loss_tick_ns;

    struct fh_ratelimit rl_lost;
    struct fh_ratelimit rl_err;

    char key[KEY_MAX];
    uint8_t hdr[HDR_BLOB_MAX];
    uint8_t scratch[SCRATCH_BYTES];
};

/* Every counter of this sink has one writer, the engine thread (delivery reports are served
 * there too), so a relaxed load and store suffices: readers on other threads see whole
 * values, and no locked instruction is spent per trade. */
static void stat_add(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static void stat_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static const char *mode_name(int m)
{
    return m == FH_KAFKA_MODE_DIRECT     ? "direct"
           : m == FH_KAFKA_MODE_SPOOLING ? "spooling"
                                         : "draining";
}

static void set_mode(struct kafka_sink *ks, int m)
{
    if (m != ks->mode)
        log_debug("kafka: mode", "from=%s to=%s in_flight=%" PRIu64, mode_name(ks->mode),
                  mode_name(m), ks->in_flight);
    ks->mode = m;
    stat_set(&ks->ks.mode, (uint64_t)m);
}

/* ---- small formatting ----------------------------------------------------------------------- */

/* Writes v in decimal into out (at least 21 bytes); returns the length. */
static size_t fmt_i64(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t o = 0;
    if (v < 0)
        out[o++] = '-';
    while (n > 0)
        out[o++] = tmp[--n];
    return o;
}

/* Header blob for the spool: repeated [u8 name length][name][u16 value length LE][value]. */
static size_t blob_put(uint8_t *b, size_t o, size_t cap, const char *name, const void *val,
                       size_t vn)
{
    size_t nn = strlen(name);
    if (o == SIZE_MAX || nn > 255 || vn > 65535 || o + 3 + nn + vn > cap)
        return SIZE_MAX;
    b[o++] = (uint8_t)nn;
    memcpy(b + o, name, nn);
    o += nn;
    b[o++] = (uint8_t)vn;
    b[o++] = (uint8_t)(vn >> 8);
    if (vn > 0)
        memcpy(b + o, val, vn);
    return o + vn;
}

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
static struct topic_ent *topic_for_venue(struct kafka_sink *ks, struct fh_str venue)
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

static struct topic_ent *topic_by_name(struct kafka_sink *ks, struct fh_str name)
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
        /* The message may be cut: the whole reason is in the log line below. */
        snprintf(ks->base.fatal_msg, sizeof(ks->base.fatal_msg),
                 "Kafka producer failed: %s: %.100s", rd_kafka_err2name(orig), why);
        __atomic_store_n(&ks->base.fatal, 1, __ATOMIC_RELEASE);
        log_error("kafka producer fatal error", "error=%s reason=%s", rd_kafka_err2name(orig),
                  fh_logq(&q, why));
        return;
    }
    uint64_t suppressed = 0;
    if (fh_ratelimit_allow(&ks->rl_err, fh_clock_monotonic_ns(), &suppressed))
        log_warn("kafka error", "error=%s reason=%s suppressed=%" PRIu64,
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), fh_logq(&q, reason), suppressed);
}

/* Errors after which the same record may succeed later: it goes to the spool. */
static bool retriable(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR__FATAL:
        return false;
    default:
        return true;
    }
}

/* Losses. Every trade given up goes through one of these three: counted by reason (the sink's
 * failed counter is their sum) and logged by sink/loss.c with venue, symbol and ids. */
static void log_lost_cause(struct kafka_sink *ks, enum fh_loss_reason r, const char *why,
                           const char *topic)
{
    uint64_t suppressed = 0;
    if (fh_ratelimit_allow(&ks->rl_lost, fh_clock_monotonic_ns(), &suppressed))
        log_error("kafka: trade lost", "reason=%s cause=\"%s\" topic=%s suppressed=%" PRIu64,
                  fh_loss_reason_name(r), why, topic ? topic : "-", suppressed);
}

static void lost_trade(struct kafka_sink *ks, enum fh_loss_reason r, const struct fh_trade *t,
                       const char *why, const char *topic)
{
    char key[FH_LOSS_KEY_MAX];
    struct fh_loss_item it;
    fh_loss_item_from_trade(&it, t, key, sizeof(key));
    fh_loss_add(&ks->loss, r, &it, 1);
    if (why != NULL)
        log_lost_cause(ks, r, why, topic);
}

/* The headers of a librdkafka message as the spool's blob. Returns the blob's length. */
static size_t message_headers(const rd_kafka_message_t *m, uint8_t *blob, size_t cap)
{
    size_t o = 0;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             i++)
            o = blob_put(blob, o, cap, name, val, val ? size : 0);
    }
    return o == SIZE_MAX ? 0 : o;
}

static void lost_record(struct kafka_sink *ks, enum fh_loss_reason r, struct fh_str key,
                        struct fh_str value, struct fh_str headers, const char *why,
                        const char *topic)
{
    struct fh_loss_item it;
    fh_loss_item_from_record(&it, ks->base.format, key, value, headers);
    fh_loss_add(&ks->loss, r, &it, 1);
    if (why != NULL)
        log_lost_cause(ks, r, why, topic);
}

static void lost_message(struct kafka_sink *ks, enum fh_loss_reason r, const rd_kafka_message_t *m,
                         const char *why)
{
    uint8_t blob[HDR_BLOB_MAX];
    size_t hn = message_headers(m, blob, sizeof(blob));
    lost_record(ks, r, (struct fh_str){(const char *)m->key, m->key_len},
                (struct fh_str){(const char *)m->payload, m->len},
                (struct fh_str){(const char *)blob, hn}, why,
                m->rkt ? rd_kafka_topic_name(m->rkt) : NULL);
}

static void lost_count(struct kafka_sink *ks, enum fh_loss_reason r, uint64_t n, const char *why)
{
    struct fh_loss_item it = {.key = {"", 0}, .kind = FH_LOSS_ID_NONE};
    fh_loss_add(&ks->loss, r, &it, n);
    log_lost_cause(ks, r, why, NULL);
}

/* The spool gave records up (its writer thread, or shutdown). */
static void on_spool_lost(void *ctx, const struct fh_spool_record *r, uint64_t n,
                          enum fh_spool_loss why, int err)
{
    struct kafka_sink *ks = ctx;
    enum fh_loss_reason reason =
        why == FH_SPOOL_LOST_WRITE ? FH_LOSS_SPOOL_WRITE : FH_LOSS_SPOOL_UNREADABLE;
    (void)err;
    if (r != NULL && r->key.n > 0) {
        lost_record(ks, reason, r->key, r->value, r->headers, NULL, NULL);
        return;
    }
    struct fh_loss_item it = {.key = {"", 0}, .kind = FH_LOSS_ID_NONE};
    fh_loss_add(&ks->loss, reason, &it, n);
}

/* A record that came back failed from a direct produce: to the spool's front. */
static void spool_failed(struct kafka_sink *ks, const rd_kafka_message_t *m, uint64_t gseq)
{
    uint8_t blob[HDR_BLOB_MAX];
    size_t o = message_headers(m, blob, sizeof(blob));
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct fh_spool_record r = {
        .gseq = gseq,
        .timestamp_ms = ts > 0 ? ts : 0,
        .topic = fh_str_c(topic),
        .key = {(const char *)m->key, m->key_len},
        .headers = {(const char *)blob, o},
        .value = {(const char *)m->payload, m->len},
    };
    if (fh_spool_append_front(ks->spool, &r) != 0) {
        lost_message(ks, FH_LOSS_SPOOL_WRITE, m, "cannot spool a failed delivery");
        return;
    }
    stat_add(&ks->ks.spooled_failed, 1);
}

/* Eighth powers of two: bucket 8 * lg + f holds x = lat + 1 in
 * [(8 + f) << (lg - 3), (9 + f) << (lg - 3)) for lg >= 3; small values get buckets 0..23. */
static unsigned latency_bucket(uint64_t lat_us)
{
    uint64_t x = lat_us + 1;
    unsigned lg = 63 - (unsigned)__builtin_clzll(x);
    unsigned f = lg >= 3 ? (unsigned)((x >> (lg - 3)) & 7) : (unsigned)(x & 7);
    unsigned b = lg * 8 + f;
    return b < FH_KAFKA_LATENCY_BUCKETS ? b : FH_KAFKA_LATENCY_BUCKETS - 1;
}

/* Delivery reports: engine thread, from rd_kafka_poll. */
static void delivered(struct kafka_sink *ks, const rd_kafka_message_t *m, bool from_spool,
                      uint64_t v);

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct kafka_sink *ks = opaque;
    uintptr_t tag = (uintptr_t)m->_private;
    bool from_spool = (tag & 1) != 0;
    ks->in_flight--;
    if (from_spool)
        ks->spool_in_flight--;
    delivered(ks, m, from_spool, (uint64_t)(tag >> 1));
    /* The last record produced directly is resolved (to the spool's front if it failed):
     * nothing more can come back. */
    if (!from_spool && ks->spool != NULL && ks->in_flight == ks->spool_in_flight)
        fh_spool_set_floor(ks->spool, UINT64_MAX);
}

static void delivered(struct kafka_sink *ks, const rd_kafka_message_t *m, bool from_spool,
                      uint64_t v)
{
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        stat_add(&ks->base.stats.delivered, 1);
        stat_add(&ks->base.stats.bytes, m->len);
        int64_t lat = rd_kafka_message_latency(m);
        if (lat >= 0)
            stat_add(&ks->ks.latency_us[latency_bucket((uint64_t)lat)], 1);
        ks->last_ack_ns = fh_clock_monotonic_ns();
        if (from_spool) {
            fh_spool_resolve(ks->spool, v, true);
            stat_add(&ks->ks.drained, 1);
            ks->probe_limit++;
        }
        return;
    }
    if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED)
        stat_add(&ks->ks.dup_suspected, 1);
    if (ks->spool != NULL && retriable(m->err)) {
        if (from_spool)
            fh_spool_resolve(ks->spool, v, false);
        else
            spool_failed(ks, m, v);
        ks->failure_seen = true;
        return;
    }
    lost_message(ks,
                 ks->closing && m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ? FH_LOSS_SHUTDOWN
                 : ks->closing && m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE  ? FH_LOSS_SHUTDOWN
                                                                            : FH_LOSS_REJECTED,
                 m, rd_kafka_err2str(m->err));
    if (from_spool)
        fh_spool_resolve(ks->spool, v, true); /* given up: counted as lost, off the spool */
}

/* ---- mode changes ---------------------------------------------------------------------------- */

static void end_pass(struct kafka_sink *ks, bool failed, int64_t now)
{
    if (ks->mode != FH_KAFKA_MODE_DRAINING)
        return;
    fh_spool_drain_abort(ks->spool);
    set_mode(ks, FH_KAFKA_MODE_SPOOLING);
    if (failed) {
        stat_add(&ks->ks.passes_failed, 1);
        ks->next_pass_ns = now + ks->backoff_ns;
        ks->backoff_ns = ks->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : ks->backoff_ns * 2;
    }
}

static void enter_spooling(struct kafka_sink *ks, const char *reason)
{
    if (ks->mode != FH_KAFKA_MODE_DIRECT)
        return;
    set_mode(ks, FH_KAFKA_MODE_SPOOLING);
    ks->spool_full_logged = false;
    log_warn("kafka: spooling to disk", "reason=%s in_flight=%" PRIu64, reason, ks->in_flight);
}

/* Moves what waits in librdkafka's queues (not yet sent) back to us: the delivery reports
 * (ERR__PURGE_QUEUE) put the records in the spool's front. */
static void purge_queued(struct kafka_sink *ks, int64_t now)
{
    ks->last_purge_ns = now;
    stat_add(&ks->ks.purges, 1);
    rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING);
}

/* ---- writing --------------------------------------------------------------------------------- */

static int encode(struct kafka_sink *ks, const struct fh_trade *t, const struct topic_ent *te,
                  size_t *len)
{
    struct fh_fbuf b;
    fh_fbuf_init(&b, ks->scratch, sizeof(ks->scratch));
    int rc;
    if (ks->base.format == FH_SINK_AVRO)
        rc = ks->confluent ? fh_avro_encode_trade_confluent(&b, te->schema_id, t)
                           : fh_avro_encode_trade_single_object(&b, t);
    else
        rc = fh_jsonl_encode_trade(&b, t);
    if (rc != 0)
        return rc;
    *len = b.len;
    if (ks->base.format == FH_SINK_JSON && b.len > 0 && ks->scratch[b.len - 1] == '\n')
        (*len)--; /* one JSON document per record */
    return 0;
}

static const char *on_full_name(enum fh_kafka_on_full p)
{
    return p == FH_KAFKA_ON_FULL_DROP   ? "drop"
           : p == FH_KAFKA_ON_FULL_STOP ? "stop"
                                        : "backpressure";
}

/* The spool refused a record: backpressure for full_grace, then what spool.on_full says. */
static int spool_full(struct kafka_sink *ks, const struct fh_trade *t)
{
    int64_t now = fh_clock_monotonic_ns();
    const struct fh_spool_stats *ss = fh_spool_stats(ks->spool);
    if (ks->full_since_ns == 0) {
        ks->full_since_ns = now;
        log_warn("kafka: spool full, pushing back on the feeds",
                 "spool_bytes=%" PRIu64 " bound_bytes=%" PRIu64 " queued_bytes=%" PRIu64
                 " writes_failing=%s on_full=%s grace_ms=%lld",
                 __atomic_load_n(&ss->disk_bytes, __ATOMIC_RELAXED),
                 __atomic_load_n(&ss->limit_bytes, __ATOMIC_RELAXED),
                 __atomic_load_n(&ss->queued_bytes, __ATOMIC_RELAXED),
                 __atomic_load_n(&ss->blocked, __ATOMIC_RELAXED) ? "yes" : "no",
                 on_full_name(ks->on_full), (long long)(ks->full_grace_ns / 1000000));
    }
    if (ks->on_full == FH_KAFKA_ON_FULL_BACKPRESSURE ||
        now - ks->full_since_ns < ks->full_grace_ns) {
        stat_add(&ks->base.stats.refused, 1);
        stat_add(&ks->ks.spool_full, 1);
        return FH_ENOSPACE;
    }
    if (ks->on_full == FH_KAFKA_ON_FULL_STOP) {
        snprintf(ks->base.fatal_msg, sizeof(ks->base.fatal_msg),
                 "the spool stayed full for %lld ms (spool.on_full = stop)",
                 (long long)((now - ks->full_since_ns) / 1000000));
        __atomic_store_n(&ks->base.fatal, 1, __ATOMIC_RELEASE);
        stat_add(&ks->base.stats.refused, 1);
        return FH_ENOSPACE;
    }
    if (!ks->dropping) {
        ks->dropping = true;
        log_error("kafka: spool full past its grace: new trades are dropped, counted and logged "
                  "until it has room",
                  "full_ms=%lld on_full=drop", (long long)((now - ks->full_since_ns) / 1000000));
    }
    lost_trade(ks, FH_LOSS_SPOOL_FULL, t, NULL, NULL);
    return 0;
}

static void spool_has_room(struct kafka_sink *ks)
{
    if (ks->full_since_ns == 0)
        return;
    log_info("kafka: spool has room again", "full_ms=%lld dropped=%" PRIu64,
             (long long)((fh_clock_monotonic_ns() - ks->full_since_ns) / 1000000),
             __atomic_load_n(&ks->loss.by_reason[FH_LOSS_SPOOL_FULL], __ATOMIC_RELAXED));
    ks->full_since_ns = 0;
    ks->dropping = false;
}

static int kafka_write(struct fh_sink *base, const struct fh_trade *t)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    if (ks->closing || fh_sink_is_fatal(base))
        return FH_ESTATE;
    struct topic_ent *te = topic_for_venue(ks, t->venue);
    size_t vlen, klen = t->venue.n + 1 + t->symbol.n;
    int rc = te == NULL ? FH_ENOMEM : klen > KEY_MAX ? FH_EINVAL : encode(ks, t, te, &vlen);
    if (rc != 0) {
        lost_trade(ks, FH_LOSS_ENCODE, t, fh_strerror(rc), te ? te->name : NULL);
        return rc;
    }
    memcpy(ks->key, t->venue.p, t->venue.n);
    ks->key[t->venue.n] = ':';
    memcpy(ks->key + t->venue.n + 1, t->symbol.p, t->symbol.n);
    char conn[24], seq[24];
    size_t cn = fmt_i64(conn, t->connection_id), sn = fmt_i64(seq, t->sequence);
    const char *src = fh_source_name(t->source);
    int64_t ts = t->receive_time_ns > 0 ? t->receive_time_ns / 1000000 : 0;
    uint64_t gseq = ks->next_gseq;

    if (ks->mode == FH_KAFKA_MODE_DIRECT) {
        if (ks->in_flight == 0)
            ks->last_ack_ns = fh_clock_monotonic_ns(); /* the stall clock starts now */
        /* Records in librdkafka may come back to the spool's front: its checkpoint must not
         * pass the oldest of them (fh_spool_set_floor). */
        if (ks->spool != NULL && ks->in_flight == ks->spool_in_flight)
            fh_spool_set_floor(ks->spool, gseq);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            ks->rk, RD_KAFKA_V_RKT(te->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(ks->key, klen), RD_KAFKA_V_VALUE(ks->scratch, vlen),
            RD_KAFKA_V_HEADER("connection_id", conn, (ssize_t)cn),
            RD_KAFKA_V_HEADER("sequence", seq, (ssize_t)sn),
            RD_KAFKA_V_HEADER("source", src, (ssize_t)strlen(src)), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(gseq << 1)), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ks->next_gseq++;
            ks->in_flight++;
            stat_add(&ks->ks.produced, 1);
            stat_add(&base->stats.accepted, 1);
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            lost_trade(ks, FH_LOSS_REJECTED, t, rd_kafka_err2str(err), te->name);
            return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? FH_ERANGE : FH_EIO;
        }
        stat_add(&ks->ks.queue_full, 1);
        if (ks->spool == NULL) {
            stat_add(&base->stats.refused, 1);
            return FH_ENOSPACE;
        }
        enter_spooling(ks, "queue_full");
    }

    /* Spooling: behind everything older. */
    size_t o = blob_put(ks->hdr, 0, sizeof(ks->hdr), "connection_id", conn, cn);
    o = blob_put(ks->hdr, o, sizeof(ks->hdr), "sequence", seq, sn);
    o = blob_put(ks->hdr, o, sizeof(ks->hdr), "source", src, strlen(src));
    struct fh_spool_record r = {
        .gseq = gseq,
        .timestamp_ms = ts,
        .topic = fh_str_c(te->name),
        .key = {ks->key, klen},
        .headers = {(const char *)ks->hdr, o},
        .value = {(const char *)ks->scratch, vlen},
    };
    rc = fh_spool_append(ks->spool, &r);
    if (rc == FH_ENOSPACE)
        return spool_full(ks, t);
    if (rc != 0) {
        lost_trade(ks, FH_LOSS_SPOOL_WRITE, t, "cannot spool", te->name);
        return rc;
    }
    spool_has_room(ks);
    ks->next_gseq++;
    stat_add(&ks->ks.spooled, 1);
    stat_add(&base->stats.accepted, 1);
    return 0;
}

/* ---- draining -------------------------------------------------------------------------------- */

/* Produces one spooled record. Returns the librdkafka error (QUEUE_FULL: try later). */
static rd_kafka_resp_err_t produce_spooled(struct kafka_sink *ks, const struct fh_spool_record *r,
                                           uint64_t token)
{
    struct topic_ent *te = topic_by_name(ks, r->topic);
    if (te == NULL)
        return RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    rd_kafka_vu_t vu[6 + 16];
    char names[16][256];
    size_t n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_RKT;
    vu[n++].u.rkt = te->rkt;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = (void *)r->key.p;
    vu[n++].u.mem.size = r->key.n;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)r->value.p;
    vu[n++].u.mem.size = r->value.n;
    vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[n++].u.i64 = r->timestamp_ms;
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = (void *)(uintptr_t)((token << 1) | 1);
    const uint8_t *b = (const uint8_t *)r->headers.p;
    size_t o = 0, h = 0;
    while (o < r->headers.n && h < 16) {
        size_t nn = b[o];
        if (o + 1 + nn + 2 > r->headers.n)
            break;
        memcpy(names[h], b + o + 1, nn);
        names[h][nn] = '\0';
        size_t vn = (size_t)b[o + 1 + nn] | ((size_t)b[o + 2 + nn] << 8);
        if (o + 3 + nn + vn > r->headers.n)
            break;
        vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
        vu[n].u.header.name = names[h];
        vu[n].u.header.val = b + o + 3 + nn;
        vu[n++].u.header.size = (ssize_t)vn;
        o += 3 + nn + vn;
        h++;
    }
    rd_kafka_error_t *e = rd_kafka_produceva(ks->rk, vu, n);
    if (e == NULL)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    rd_kafka_error_destroy(e);
    return code;
}

static void drain_some(struct kafka_sink *ks)
{
    for (int i = 0; i < DRAIN_PER_POLL; i++) {
        if (ks->spool_in_flight >= ks->probe_limit)
            return;
        struct fh_spool_record r;
        uint64_t token;
        int rc = fh_spool_drain_peek(ks->spool, &r, &token);
        if (rc == FH_SPOOL_WAIT)
            return;
        if (rc == FH_SPOOL_COMPLETE || rc == FH_SPOOL_IDLE) {
            set_mode(ks, FH_KAFKA_MODE_DIRECT);
            ks->backoff_ns = BACKOFF_MIN_NS;
            log_info("kafka: spool drained, producing directly", "in_flight=%" PRIu64,
                     ks->in_flight);
            return;
        }
        if (ks->in_flight == 0)
            ks->last_ack_ns = fh_clock_monotonic_ns();
        rd_kafka_resp_err_t err = produce_spooled(ks, &r, token);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            stat_add(&ks->ks.queue_full, 1);
            return; /* it stays at the head: again at the next poll */
        }
        fh_spool_drain_take(ks->spool);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ks->in_flight++;
            ks->spool_in_flight++;
            stat_add(&ks->ks.produced, 1);
            continue;
        }
        lost_record(ks, FH_LOSS_REJECTED, r.key, r.value, r.headers, rd_kafka_err2str(err), NULL);
        fh_spool_resolve(ks->spool, token, true);
    }
}

/* ---- polling --------------------------------------------------------------------------------- */

static void publish_gauges(struct kafka_sink *ks)
{
    stat_set(&ks->ks.in_flight, ks->in_flight);
    if (ks->spool != NULL) {
        const struct fh_spool_stats *ss = fh_spool_stats(ks->spool);
        stat_set(&ks->base.stats.buffered_bytes,
                 __atomic_load_n(&ss->queued_bytes, __ATOMIC_RELAXED));
    }
}

static void kafka_poll(struct fh_sink *base)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    rd_kafka_poll(ks->rk, 0);
    publish_gauges(ks);
    int64_t now = fh_clock_monotonic_ns();
    if (now - ks->last_loss_tick_ns >= 250000000LL) {
        ks->last_loss_tick_ns = now;
        fh_loss_tick(&ks->loss, now);
    }
    if (ks->spool == NULL)
        return;
    if (ks->failure_seen) {
        /* A record came back: everything queued behind it must come back too. */
        ks->failure_seen = false;
        if (ks->mode == FH_KAFKA_MODE_DIRECT)
            enter_spooling(ks, "delivery_failed");
        end_pass(ks, true, now);
        if (ks->in_flight > 0 && now - ks->last_purge_ns >= REPURGE_NS)
            purge_queued(ks, now);
    }
    bool stalled = ks->in_flight > 0 && now - ks->last_ack_ns >= ks->spill_ns;
    if (stalled && now - ks->last_purge_ns >= (ks->mode == FH_KAFKA_MODE_DIRECT ? 0 : REPURGE_NS)) {
        if (!ks->stalled_logged)
            log_warn("kafka: no delivery report for a while, moving queued records to the spool",
                     "in_flight=%" PRIu64 " spill_after_ms=%lld", ks->in_flight,
                     (long long)(ks->spill_ns / 1000000));
        ks->stalled_logged = true;
        enter_spooling(ks, "stalled");
        end_pass(ks, true, now);
        purge_queued(ks, now);
    } else if (!stalled) {
        ks->stalled_logged = false;
    }
    if (ks->mode == FH_KAFKA_MODE_SPOOLING && !ks->closing && ks->in_flight == 0 &&
        now >= ks->next_pass_ns) {
        set_mode(ks, FH_KAFKA_MODE_DRAINING);
        ks->probe_limit = PROBE_START;
        stat_add(&ks->ks.passes, 1);
        fh_spool_drain_begin(ks->spool);
    }
    if (ks->mode == FH_KAFKA_MODE_DRAINING)
        drain_some(ks);
    publish_gauges(ks);
}

/* ---- flush and destroy ----------------------------------------------------------------------- */

/* Serves delivery reports until nothing is in flight or the deadline (monotonic ns). */
static void wait_in_flight(struct kafka_sink *ks, int64_t deadline)
{
    while (ks->in_flight > 0) {
        int64_t left = (deadline - fh_clock_monotonic_ns()) / 1000000;
        if (left <= 0)
            break;
        rd_kafka_poll(ks->rk, left < 20 ? (int)left : 20);
    }
}

/* Takes back everything still in librdkafka: to the spool (or counted lost). */
static void take_back_all(struct kafka_sink *ks)
{
    if (ks->in_flight == 0)
        return;
    rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    stat_add(&ks->ks.purges, 1);
    wait_in_flight(ks, fh_clock_monotonic_ns() + SHUTDOWN_DRAIN_MS * 1000000LL);
    if (ks->in_flight > 0) {
        lost_count(ks, FH_LOSS_SHUTDOWN, ks->in_flight,
                   "no delivery report after purging at shutdown");
        ks->in_flight = 0;
    }
}

static int kafka_flush(struct fh_sink *base, int64_t timeout_ms)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    int64_t start = fh_clock_monotonic_ns();
    int64_t deadline = start + timeout_ms * 1000000;
    ks->closing = true;
    /* A pass hands out no more; what it took stays in flight and is waited for. */
    if (ks->spool != NULL)
        end_pass(ks, false, start);
    wait_in_flight(ks, deadline);
    bool all_delivered = ks->in_flight == 0;
    uint64_t left = ks->in_flight;
    if (!all_delivered) {
        if (ks->spool == NULL) {
            rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            wait_in_flight(ks, fh_clock_monotonic_ns() + SHUTDOWN_DRAIN_MS * 1000000LL);
            if (ks->in_flight > 0) {
                lost_count(ks, FH_LOSS_SHUTDOWN, ks->in_flight, "undelivered at shutdown");
                ks->in_flight = 0;
            }
        } else {
            take_back_all(ks);
        }
    }
    uint64_t lost_before = fh_loss_total(&ks->loss);
    int rc = all_delivered ? 0 : -ETIMEDOUT;
    if (ks->spool != NULL) {
        int64_t sync_ms = (deadline - fh_clock_monotonic_ns()) / 1000000;
        fh_spool_sync(ks->spool, sync_ms < 5000 ? 5000 : sync_ms);
        /* The writer writes what is queued (or gives it up, counted), truncates what failed
         * writes left and checkpoints: after this the counters are final. */
        fh_spool_shutdown(ks->spool);
        if (fh_loss_total(&ks->loss) != lost_before)
            rc = FH_EIO; /* some of the rest could not be kept */
        else if (!fh_spool_empty(ks->spool))
            rc = FH_SINK_FLUSH_KEPT; /* durable on disk: the next run drains it */
        else
            rc = 0;
    }
    ks->flushed = true;
    fh_loss_flush(&ks->loss);
    publish_gauges(ks);
    const struct fh_spool_stats *ss = ks->spool ? fh_spool_stats(ks->spool) : NULL;
    char by[256];
    size_t o = 0;
    for (int i = 0; i < FH_LOSS_REASON_COUNT; i++) {
        int w = snprintf(by + o, sizeof(by) - o, " lost_%s=%" PRIu64,
                         fh_loss_reason_name((enum fh_loss_reason)i),
                         __atomic_load_n(&ks->loss.by_reason[i], __ATOMIC_RELAXED));
        if (w > 0 && (size_t)w < sizeof(by) - o)
            o += (size_t)w;
    }
    log_info("kafka: flushed",
             "delivered_all=%s left_at_deadline=%" PRIu64 " delivered=%" PRIu64
             " spool_pending=%" PRIu64 " lost=%" PRIu64 "%s",
             rc == 0 ? "yes" : (rc == FH_SINK_FLUSH_KEPT ? "no, rest spooled" : "no"), left,
             __atomic_load_n(&base->stats.delivered, __ATOMIC_RELAXED),
             ss ? __atomic_load_n(&ss->pending, __ATOMIC_RELAXED) : 0, fh_loss_total(&ks->loss),
             by);
    return rc;
}

static void kafka_destroy(struct fh_sink *base)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    ks->closing = true;
    if (ks->rk != NULL) {
        if (ks->spool != NULL)
            end_pass(ks, false, fh_clock_monotonic_ns());
        if (ks->in_flight > 0 && ks->spool == NULL) {
            rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            wait_in_flight(ks, fh_clock_monotonic_ns() + SHUTDOWN_DRAIN_MS * 1000000LL);
            if (ks->in_flight > 0)
                lost_count(ks, FH_LOSS_SHUTDOWN, ks->in_flight, "undelivered at shutdown");
        } else {
            take_back_all(ks);
        }
    }
    fh_spool_close(ks->spool); /* writes what the purge sent back, then the checkpoint */
    ks->spool = NULL;
    fh_loss_destroy(&ks->loss);
    for (size_t i = 0; i < ks->ntopics; i++) {
        if (ks->topics[i].rkt != NULL)
            rd_kafka_topic_destroy(ks->topics[i].rkt);
        free(ks->topics[i].name);
        free(ks->topics[i].venue);
    }
    if (ks->rk != NULL)
        rd_kafka_destroy(ks->rk);
    free(ks->topic_base);
    free(ks);
}

static const struct fh_sink_ops kafka_ops = {
    .name = "kafka",
    .write = kafka_write,
    .poll = kafka_poll,
    .flush = kafka_flush,
    .destroy = kafka_destroy,
};

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
    for (size_t i = 0; i < cfg->nprops; i++) {
        if (conf_set(conf, cfg->props[i].name, cfg->props[i].value, err, errlen) != 0)
            goto fail;
    }
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
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
        int rc = fh_registry_register(&ks->reg, subject, fh_trade_schema_json,
                                      fh_trade_schema_json_len, &id, &f, msg, sizeof(msg));
        if (rc != 0) {
            snprintf(err, errlen, "%s", msg);
            *why = FH_KAFKA_START_REGISTRY;
            return rc;
        }
        ks->topics[i].schema_id = id;
        if (i == 0)
            ks->schema_id = id;
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
    ks->base.ops = &kafka_ops;
    ks->base.format = cfg->format;
    fh_loss_init(&ks->loss, &ks->base.stats.failed);
    ks->on_full = cfg->on_full;
    ks->full_grace_ns = (cfg->full_grace_ms > 0 ? cfg->full_grace_ms : 10000) * 1000000LL;
    ks->per_venue = cfg->topic_per_venue;
    ks->topic_base = strdup(cfg->topic ? cfg->topic : "trades");
    ks->spill_ns = (cfg->spill_after_ms > 0 ? cfg->spill_after_ms : 3000) * 1000000;
    ks->backoff_ns = BACKOFF_MIN_NS;
    ks->next_gseq = 1;
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
    } else {
        ks->confluent = false;
    }

    if (cfg->spool != NULL) {
        struct fh_spool_config sc = *cfg->spool;
        sc.front_hint = (uint32_t)conf_u64(conf, "queue.buffering.max.messages", 100000);
        sc.on_lost = on_spool_lost;
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
            set_mode(ks, FH_KAFKA_MODE_SPOOLING);
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
    char kerr[512];
    ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (ks->rk == NULL) {
        snprintf(err, errlen, "cannot create the Kafka producer: %s", kerr);
        *why = FH_KAFKA_START_CONFIG;
        goto fail;
    }
    conf = NULL; /* owned by rk now */
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
    log_info("kafka sink ready", "topic=%s%s encoding=\"%s\" spool=%s", ks->topic_base,
             ks->per_venue ? ".<venue>" : "", framing, cfg->spool ? cfg->spool->dir : "off");
    *why = FH_KAFKA_START_OK;
    return &ks->base;
fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    kafka_destroy(&ks->base);
    return NULL;
}

const struct fh_kafka_stats *fh_kafka_sink_stats(const struct fh_sink *s)
{
    return s != NULL && s->ops == &kafka_ops ? &((const struct kafka_sink *)s)->ks : NULL;
}

const uint64_t *fh_kafka_sink_lost_by_reason(const struct fh_sink *s)
{
    return s != NULL && s->ops == &kafka_ops ? ((const struct kafka_sink *)s)->loss.by_reason
                                             : NULL;
}

const struct fh_spool_stats *fh_kafka_sink_spool_stats(const struct fh_sink *s)
{
    if (s == NULL || s->ops != &kafka_ops)
        return NULL;
    const struct kafka_sink *ks = (const struct kafka_sink *)s;
    return ks->spool ? fh_spool_stats(ks->spool) : NULL;
}

uint64_t fh_kafka_latency_quantile(const struct fh_kafka_stats *st, double q)
{
    uint64_t total = 0, c[FH_KAFKA_LATENCY_BUCKETS];
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++) {
        c[i] = __atomic_load_n(&st->latency_us[i], __ATOMIC_RELAXED);
        total += c[i];
    }
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
