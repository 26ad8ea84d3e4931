/*
 * kafka_dr.c - the Kafka sink's delivery reports (engine thread, from rd_kafka_poll): a
 * delivered record is counted (latency, receive -> ack) and resolved in the spool if it came
 * from there; a failed one goes back to the spool (its front, or the sorted index) or is
 * counted lost. The state machine that reacts to failure_seen is in kafka_sink.c.
 */
#include "sink/kafka_int.h"

#include "core/clock.h"
#include "core/log.h"
#include "sink/loss.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <string.h>

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
        return false;
    default:
        return true;
    }
}

/* A record that came back failed from a direct produce: to the spool's front. */
static void spool_failed(struct kafka_sink *ks, const rd_kafka_message_t *m, uint64_t gseq)
{
    uint8_t blob[HDR_BLOB_MAX];
    size_t o = fh__kafka_message_headers(m, blob, sizeof(blob));
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
        fh__kafka_lost_message(ks, FH_LOSS_SPOOL_WRITE, m, "cannot spool a failed delivery");
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

void fh__kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
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

/* From the trade's receipt to this delivery report (ns), or -1 when unknown. A record produced
 * directly has its receive stamp in the ring (unless a younger record took the slot); a record
 * from the spool has only its timestamp, the receipt's realtime in ms (0: unknown). Replayed
 * trades carry the receipt time of their recording: not a latency of this run. */
static int64_t receive_to_ack_ns(const struct kafka_sink *ks, const rd_kafka_message_t *m,
                                 bool from_spool, uint64_t v, int64_t now_mono)
{
    if (!from_spool) {
        const struct recv_stamp *st = &ks->stamps[v & ks->stamp_mask];
        return st->gseq == v && st->mono_ns > 0 ? now_mono - st->mono_ns : -1;
    }
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    if (ts <= 0)
        return -1;
    rd_kafka_headers_t *hdrs = NULL;
    const void *src = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "source", &src, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        src != NULL && n == 6 && memcmp(src, "REPLAY", 6) == 0)
        return -1;
    return fh_clock_realtime_ns() - ts * 1000000; /* < 0 after a clock step: not counted */
}

static void delivered(struct kafka_sink *ks, const rd_kafka_message_t *m, bool from_spool,
                      uint64_t v)
{
    bool gap = ks->gap_te != NULL && m->rkt == ks->gap_te->rkt;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (gap) {
            stat_add(&ks->base.stats.gaps_delivered, 1);
            if (from_spool) {
                fh_spool_resolve(ks->spool, v, true);
                stat_add(&ks->ks.drained, 1);
                ks->probe_limit++;
            }
            ks->last_ack_ns = fh_clock_monotonic_ns();
            return;
        }
        stat_add(&ks->base.stats.delivered, 1);
        stat_add(&ks->base.stats.bytes, m->len);
        if (ks->dr_clock_age++ % FH_KAFKA_DR_CLOCK_EVERY == 0) {
            int64_t lat = rd_kafka_message_latency(m);
            if (lat >= 0)
                stat_add(&ks->ks.latency_us[latency_bucket((uint64_t)lat)], 1);
            ks->dr_now_ns = fh_clock_monotonic_ns();
        }
        int64_t now = ks->dr_now_ns;
        int64_t r2a = receive_to_ack_ns(ks, m, from_spool, v, now);
        if (r2a >= 0)
            stat_add(&ks->ks.receive_to_ack_us[latency_bucket((uint64_t)r2a / 1000)], 1);
        ks->last_ack_ns = now;
        if (from_spool) {
            fh_spool_resolve(ks->spool, v, true);
            stat_add(&ks->ks.drained, 1);
            ks->probe_limit++;
        }
        return;
    }
    /* A record that comes back to be produced again may be in Kafka already, whatever
     * librdkafka's status says: a batch answered "Not leader for partition" is reported not
     * persisted, yet a broker that lost leadership while waiting for acks=all had appended it
     * (Apache Kafka 4.4, the broker stopped: integration.kafka.real.outage saw 3 such records
     * twice). Every record taken back is therefore a suspect; the counter is an upper bound. */
    bool again = ks->spool != NULL && retriable(m->err);
    if (again || rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED)
        stat_add(&ks->ks.dup_suspected, 1);
    if (again) {
        if (from_spool)
            fh_spool_resolve(ks->spool, v, false);
        else
            spool_failed(ks, m, v);
        ks->failure_seen = true;
        return;
    }
    if (gap) {
        uint64_t sup = 0;
        if (fh_ratelimit_allow(&ks->rl_lost, fh_clock_monotonic_ns(), &sup))
            log_error("kafka: gap record lost", "error=\"%s\" topic=%s suppressed=%" PRIu64,
                      rd_kafka_err2str(m->err), ks->gap_te->name, sup);
        if (from_spool)
            fh_spool_resolve(ks->spool, v, true);
        return;
    }
    fh__kafka_lost_message(
        ks,
        ks->closing && m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ? FH_LOSS_SHUTDOWN
        : ks->closing && m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE  ? FH_LOSS_SHUTDOWN
                                                                   : FH_LOSS_REJECTED,
        m, rd_kafka_err2str(m->err));
    if (from_spool)
        fh_spool_resolve(ks->spool, v, true); /* given up: counted as lost, off the spool */
}
