/*
 * kafka_sink.c - the Kafka sink (see kafka.h for the contract and the ordering argument): its
 * engine-thread state machine. Start-up and the topic table are in kafka_start.c, the
 * accounting of losses in kafka_loss.c, delivery reports in kafka_dr.c, the state they share
 * in kafka_int.h.
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
#include "sink/kafka_int.h"

#include "codec/avro.h"
#include "codec/gap.h"
#include "codec/jsonl.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "sink/loss.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DRAIN_PER_POLL    4096
#define PROBE_START       32
#define REPURGE_NS        (200 * 1000000LL)
#define SHUTDOWN_DRAIN_MS 5000

static const char *mode_name(int m)
{
    return m == FH_KAFKA_MODE_DIRECT     ? "direct"
           : m == FH_KAFKA_MODE_SPOOLING ? "spooling"
                                         : "draining";
}

void fh__kafka_set_mode(struct kafka_sink *ks, int m)
{
    if (m != ks->mode)
        log_debug("kafka: mode", "from=%s to=%s in_flight=%" PRIu64, mode_name(ks->mode),
                  mode_name(m), ks->in_flight);
    ks->mode = m;
    stat_set(&ks->ks.mode, (uint64_t)m);
}

/* ---- small formatting ----------------------------------------------------------------------- */

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

/* The headers of a librdkafka message as the spool's blob. Returns the blob's length. */
size_t fh__kafka_message_headers(const rd_kafka_message_t *m, uint8_t *blob, size_t cap)
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

/* ---- mode changes ---------------------------------------------------------------------------- */

static void end_pass(struct kafka_sink *ks, bool failed, int64_t now)
{
    if (ks->mode != FH_KAFKA_MODE_DRAINING)
        return;
    fh_spool_drain_abort(ks->spool);
    fh__kafka_set_mode(ks, FH_KAFKA_MODE_SPOOLING);
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
    fh__kafka_set_mode(ks, FH_KAFKA_MODE_SPOOLING);
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
    fh__kafka_lost_trade(ks, FH_LOSS_SPOOL_FULL, t, NULL, NULL);
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

/* Produces (direct mode) or spools the record encoded in ks->scratch[0, vlen) with the key
 * ks->key[0, klen). t: the trade (its lineage headers, receive stamp and loss accounting), or
 * NULL for a gap record (no headers; a failure is returned, never counted as a lost trade). */
static int put_record(struct kafka_sink *ks, struct topic_ent *te, size_t klen, size_t vlen,
                      int64_t ts, const struct fh_trade *t)
{
    struct fh_sink *base = &ks->base;
    char conn[24], seq[24];
    size_t cn = 0, sn = 0;
    const char *src = "";
    if (t != NULL) {
        cn = fh_fmt_i64(conn, t->connection_id);
        sn = fh_fmt_i64(seq, t->sequence);
        src = fh_source_name(t->source);
    }
    uint64_t gseq = ks->next_gseq;

    if (ks->mode == FH_KAFKA_MODE_DIRECT) {
        if (ks->in_flight == 0)
            ks->last_ack_ns = fh_clock_monotonic_ns(); /* the stall clock starts now */
        /* Records in librdkafka may come back to the spool's front: its checkpoint must not
         * pass the oldest of them (fh_spool_set_floor). */
        if (ks->spool != NULL && ks->in_flight == ks->spool_in_flight)
            fh_spool_set_floor(ks->spool, gseq);
        rd_kafka_resp_err_t err;
        if (t != NULL)
            err = rd_kafka_producev(
                ks->rk, RD_KAFKA_V_RKT(te->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(ks->key, klen), RD_KAFKA_V_VALUE(ks->scratch, vlen),
                RD_KAFKA_V_HEADER("connection_id", conn, (ssize_t)cn),
                RD_KAFKA_V_HEADER("sequence", seq, (ssize_t)sn),
                RD_KAFKA_V_HEADER("source", src, (ssize_t)strlen(src)), RD_KAFKA_V_TIMESTAMP(ts),
                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(gseq << 1)), RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(
                ks->rk, RD_KAFKA_V_RKT(te->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(ks->key, klen), RD_KAFKA_V_VALUE(ks->scratch, vlen),
                RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(gseq << 1)),
                RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            struct recv_stamp *st = &ks->stamps[gseq & ks->stamp_mask];
            st->gseq = gseq;
            st->mono_ns = t != NULL ? t->receive_mono_ns : 0;
            ks->next_gseq++;
            ks->in_flight++;
            stat_add(&ks->ks.produced, 1);
            stat_add(t != NULL ? &base->stats.accepted : &base->stats.gaps_accepted, 1);
            return 0;
        }
        if (err == RD_KAFKA_RESP_ERR__FATAL && ks->spool != NULL) {
            /* The producer failed and is not replaced yet (kafka_poll does it): behind
             * what it holds, which comes back to the spool's front. */
            enter_spooling(ks, "producer_failed");
        } else if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (t != NULL)
                fh__kafka_lost_trade(ks, FH_LOSS_REJECTED, t, rd_kafka_err2str(err), te->name);
            return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? FH_ERANGE : FH_EIO;
        } else {
            stat_add(&ks->ks.queue_full, 1);
            if (ks->spool == NULL) {
                stat_add(&base->stats.refused, 1);
                return FH_ENOSPACE;
            }
            enter_spooling(ks, "queue_full");
        }
    }

    /* Spooling: behind everything older. */
    size_t o = 0;
    if (t != NULL) {
        o = blob_put(ks->hdr, 0, sizeof(ks->hdr), "connection_id", conn, cn);
        o = blob_put(ks->hdr, o, sizeof(ks->hdr), "sequence", seq, sn);
        o = blob_put(ks->hdr, o, sizeof(ks->hdr), "source", src, strlen(src));
    }
    struct fh_spool_record r = {
        .gseq = gseq,
        .timestamp_ms = ts,
        .topic = fh_str_c(te->name),
        .key = {ks->key, klen},
        .headers = {(const char *)ks->hdr, o},
        .value = {(const char *)ks->scratch, vlen},
    };
    int rc = fh_spool_append(ks->spool, &r);
    if (rc == FH_ENOSPACE) {
        if (t != NULL)
            return spool_full(ks, t);
        stat_add(&base->stats.refused, 1);
        return FH_ENOSPACE; /* a gap record is never dropped: the engine retries */
    }
    if (rc != 0) {
        if (t != NULL)
            fh__kafka_lost_trade(ks, FH_LOSS_SPOOL_WRITE, t, "cannot spool", te->name);
        return rc;
    }
    spool_has_room(ks);
    ks->next_gseq++;
    stat_add(&ks->ks.spooled, 1);
    stat_add(t != NULL ? &base->stats.accepted : &base->stats.gaps_accepted, 1);
    return 0;
}

static int kafka_write(struct fh_sink *base, const struct fh_trade *t)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    if (ks->closing || fh_sink_is_fatal(base))
        return FH_ESTATE;
    struct topic_ent *te = fh__kafka_topic_for_venue(ks, t->venue);
    size_t vlen, klen = t->venue.n + 1 + t->symbol.n;
    int rc = te == NULL ? FH_ENOMEM : klen > KEY_MAX ? FH_EINVAL : encode(ks, t, te, &vlen);
    if (rc != 0) {
        fh__kafka_lost_trade(ks, FH_LOSS_ENCODE, t, fh_strerror(rc), te ? te->name : NULL);
        return rc;
    }
    memcpy(ks->key, t->venue.p, t->venue.n);
    ks->key[t->venue.n] = ':';
    memcpy(ks->key + t->venue.n + 1, t->symbol.p, t->symbol.n);
    int64_t ts = t->receive_time_ns > 0 ? t->receive_time_ns / 1000000 : 0;
    return put_record(ks, te, klen, vlen, ts, t);
}

/* A gap record to the gap topic: Avro with the gap schema (Confluent framing with its
 * registry id, or single-object), or one JSON document; key venue:symbol; timestamp the
 * record's report time. */
static int kafka_write_gap(struct fh_sink *base, const struct fh_gap_record *g)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    if (ks->closing || fh_sink_is_fatal(base))
        return FH_ESTATE;
    struct topic_ent *te = ks->gap_te;
    size_t klen = g->venue.n + 1 + g->symbol.n;
    if (te == NULL || klen > KEY_MAX)
        return FH_EINVAL;
    struct fh_fbuf b;
    fh_fbuf_init(&b, ks->scratch, sizeof(ks->scratch));
    int rc;
    if (ks->base.format == FH_SINK_AVRO)
        rc = te->schema_id != 0 ? fh_avro_encode_gap_confluent(&b, te->schema_id, g)
                                : fh_avro_encode_gap_single_object(&b, g);
    else
        rc = fh_jsonl_encode_gap(&b, g);
    if (rc != 0)
        return rc;
    size_t vlen = b.len;
    if (ks->base.format == FH_SINK_JSON && vlen > 0 && ks->scratch[vlen - 1] == '\n')
        vlen--;
    memcpy(ks->key, g->venue.p, g->venue.n);
    ks->key[g->venue.n] = ':';
    memcpy(ks->key + g->venue.n + 1, g->symbol.p, g->symbol.n);
    int64_t ts = g->reported_time_ns > 0 ? g->reported_time_ns / 1000000 : 0;
    return put_record(ks, te, klen, vlen, ts, NULL);
}

/* ---- draining -------------------------------------------------------------------------------- */

/* Produces one spooled record. Returns the librdkafka error (QUEUE_FULL: try later). */
static rd_kafka_resp_err_t produce_spooled(struct kafka_sink *ks, const struct fh_spool_record *r,
                                           uint64_t token)
{
    struct topic_ent *te = fh__kafka_topic_by_name(ks, r->topic);
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
            fh__kafka_set_mode(ks, FH_KAFKA_MODE_DIRECT);
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
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            ks->failure_seen = true; /* the pass ends; the producer is replaced first */
            return;                  /* it stays at the head */
        }
        fh_spool_drain_take(ks->spool);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ks->in_flight++;
            ks->spool_in_flight++;
            stat_add(&ks->ks.produced, 1);
            continue;
        }
        fh__kafka_lost_record(ks, FH_LOSS_REJECTED, r.key, r.value, r.headers,
                              rd_kafka_err2str(err), NULL);
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

/* About once a second: a copy of the receive -> ack buckets into the window's ring (2 KiB). */
static void snapshot_receive_to_ack(struct kafka_sink *ks, int64_t now)
{
    if (now - ks->snap_ns < 1000000000LL)
        return;
    ks->snap_ns = now;
    uint64_t *slot = ks->ks.receive_to_ack_snap[ks->snap_next];
    for (int i = 0; i < FH_KAFKA_LATENCY_BUCKETS; i++)
        stat_set(&slot[i], ks->ks.receive_to_ack_us[i]); /* this thread is the only writer */
    ks->snap_next = (ks->snap_next + 1) % FH_KAFKA_WINDOW_SLOTS;
    stat_set(&ks->ks.receive_to_ack_snap_oldest, ks->snap_next);
}

static void recreate_producer(struct kafka_sink *ks, int64_t now);

static void kafka_poll(struct fh_sink *base)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    ks->dr_clock_age = 0; /* the first report of this poll reads the clock */
    rd_kafka_poll(ks->rk, 0);
    publish_gauges(ks);
    int64_t now = fh_clock_monotonic_ns();
    if (ks->fatal_pending && !ks->closing) {
        recreate_producer(ks, now);
        now = fh_clock_monotonic_ns();
    }
    if (ks->spool != NULL && fh_sink_is_fatal(base))
        return; /* a dead producer drains nothing; the flush takes back what it holds */
    snapshot_receive_to_ack(ks, now);
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
    /* A stall: new records go to the spool; what librdkafka holds stays there, retried by
     * the idempotent producer (sequence numbers: a failover delivers it exactly once). Only a
     * long stall takes it back into the spool: a purged record librdkafka had sent once
     * comes back "possibly persisted", and producing it again may deliver it twice. */
    int64_t quiet = now - ks->last_ack_ns;
    bool stalled = ks->in_flight > 0 && quiet >= ks->spill_ns;
    if (stalled) {
        if (!ks->stalled_logged)
            log_warn("kafka: no delivery report for a while, new records go to the spool",
                     "in_flight=%" PRIu64 " spill_after_ms=%lld", ks->in_flight,
                     (long long)(ks->spill_ns / 1000000));
        ks->stalled_logged = true;
        enter_spooling(ks, "stalled");
        end_pass(ks, true, now);
        if (quiet >= ks->take_back_ns && now - ks->last_purge_ns >= REPURGE_NS) {
            if (!ks->take_back_logged)
                log_warn("kafka: still no delivery report, taking queued records back into "
                         "the spool",
                         "in_flight=%" PRIu64 " take_back_after_ms=%lld", ks->in_flight,
                         (long long)(ks->take_back_ns / 1000000));
            ks->take_back_logged = true;
            purge_queued(ks, now);
        }
    } else {
        ks->stalled_logged = false;
        ks->take_back_logged = false;
    }
    if (ks->mode == FH_KAFKA_MODE_SPOOLING && !ks->closing && ks->in_flight == 0 &&
        now >= ks->next_pass_ns) {
        fh__kafka_set_mode(ks, FH_KAFKA_MODE_DRAINING);
        ks->probe_limit = PROBE_START;
        stat_add(&ks->ks.passes, 1);
        fh_spool_drain_begin(ks->spool);
    }
    if (ks->mode == FH_KAFKA_MODE_DRAINING)
        drain_some(ks);
    publish_gauges(ks);
}

/* ---- a fatal producer error ------------------------------------------------------------------ */

/* Serves delivery reports until nothing is in flight or the deadline (monotonic ns). */
static void wait_in_flight(struct kafka_sink *ks, int64_t deadline)
{
    while (ks->in_flight > 0) {
        int64_t left = (deadline - fh_clock_monotonic_ns()) / 1000000;
        if (left <= 0)
            break;
        ks->dr_clock_age = 0;
        rd_kafka_poll(ks->rk, left < 20 ? (int)left : 20);
    }
}

void fh__kafka_set_fatal(struct kafka_sink *ks, const char *err_name, const char *why)
{
    /* The message may be cut: the whole reason is in the sink's log lines. */
    snprintf(ks->base.fatal_msg, sizeof(ks->base.fatal_msg), "Kafka producer failed: %s: %.100s",
             err_name, why);
    __atomic_store_n(&ks->base.fatal, 1, __ATOMIC_RELEASE);
}

/* The fatal error's reason for the log, and why the sink gives up. */
static void give_up(struct kafka_sink *ks, const char *why)
{
    char reason[512] = "";
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(ks->rk, reason, sizeof(reason));
    struct fh_logq q;
    log_error("kafka: cannot replace the failed producer, stopping", "why=%s error=%s",
              fh_logq(&q, why), rd_kafka_err2name(orig));
    fh__kafka_set_fatal(ks, rd_kafka_err2name(orig), reason[0] != '\0' ? reason : why);
}

/* A fatal error left the producer unusable (with a spool: ks->conf). Everything it holds comes
 * back to the spool's front (each record a suspect: it may have been written), the producer is
 * destroyed and a new one with the same configuration takes its place; the spool then drains
 * as after an outage, in gseq order. A fatal error again before anything was delivered, or
 * records that do not come back, end it: the sink is fatal. Engine thread. */
static uint64_t delivered_total(struct kafka_sink *ks)
{
    return __atomic_load_n(&ks->base.stats.delivered, __ATOMIC_RELAXED) +
           __atomic_load_n(&ks->base.stats.gaps_delivered, __ATOMIC_RELAXED);
}

static void recreate_producer(struct kafka_sink *ks, int64_t now)
{
    ks->fatal_pending = false;
    if (ks->recreated_at == delivered_total(ks)) {
        give_up(ks, "failed again before delivering anything");
        return;
    }
    enter_spooling(ks, "producer_failed");
    end_pass(ks, true, now);
    rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    stat_add(&ks->ks.purges, 1);
    wait_in_flight(ks, now + SHUTDOWN_DRAIN_MS * 1000000LL);
    if (ks->in_flight > 0) {
        give_up(ks, "records still in the failed producer");
        return;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(ks->conf);
    char kerr[512] = "out of memory";
    rd_kafka_t *rk =
        conf != NULL ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr)) : NULL;
    if (rk == NULL) {
        if (conf != NULL)
            rd_kafka_conf_destroy(conf);
        give_up(ks, kerr);
        return;
    }
    for (size_t i = 0; i < ks->ntopics; i++) {
        if (ks->topics[i].rkt != NULL)
            rd_kafka_topic_destroy(ks->topics[i].rkt);
        ks->topics[i].rkt = NULL;
    }
    rd_kafka_destroy(ks->rk);
    ks->rk = rk;
    if (ks->wake_fd >= 0) {
        static const uint64_t one = 1;
        rd_kafka_queue_t *q = rd_kafka_queue_get_main(rk);
        rd_kafka_queue_io_event_enable(q, ks->wake_fd, &one, sizeof(one));
        rd_kafka_queue_destroy(q);
    }
    for (size_t i = 0; i < ks->ntopics; i++) {
        ks->topics[i].rkt = rd_kafka_topic_new(rk, ks->topics[i].name, NULL);
        if (ks->topics[i].rkt == NULL) {
            give_up(ks, "cannot create a topic handle");
            return;
        }
    }
    /* Counted after the old producer's last delivery reports (wait_in_flight serves them):
     * only what the new producer delivers moves the count past this mark. */
    ks->recreated_at = delivered_total(ks);
    ks->next_pass_ns = 0; /* the drain starts at once */
    stat_add(&ks->ks.recreated, 1);
    log_warn("kafka: producer re-created after a fatal error; the spool drains",
             "recreated=%" PRIu64 " spool_pending=%" PRIu64,
             __atomic_load_n(&ks->ks.recreated, __ATOMIC_RELAXED),
             __atomic_load_n(&fh_spool_stats(ks->spool)->pending, __ATOMIC_RELAXED));
}

/* ---- flush and destroy ----------------------------------------------------------------------- */

/* Takes back everything still in librdkafka: to the spool (or counted lost). */
static void take_back_all(struct kafka_sink *ks)
{
    if (ks->in_flight == 0)
        return;
    rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    stat_add(&ks->ks.purges, 1);
    wait_in_flight(ks, fh_clock_monotonic_ns() + SHUTDOWN_DRAIN_MS * 1000000LL);
    if (ks->in_flight > 0) {
        fh__kafka_lost_count(ks, FH_LOSS_SHUTDOWN, ks->in_flight,
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
                fh__kafka_lost_count(ks, FH_LOSS_SHUTDOWN, ks->in_flight,
                                     "undelivered at shutdown");
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

void fh__kafka_destroy(struct fh_sink *base)
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
                fh__kafka_lost_count(ks, FH_LOSS_SHUTDOWN, ks->in_flight,
                                     "undelivered at shutdown");
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
    if (ks->conf != NULL)
        rd_kafka_conf_destroy(ks->conf);
    if (ks->wake_fd >= 0)
        close(ks->wake_fd);
    free(ks->topic_base);
    free(ks->stamps);
    free(ks);
}

static int kafka_wake_fd(struct fh_sink *base)
{
    return ((struct kafka_sink *)base)->wake_fd;
}

/* The eventfd was readable: one read resets it (librdkafka writes again when its queue next
 * becomes non-empty after a poll), then the delivery reports are served. */
static void kafka_wake(struct fh_sink *base)
{
    struct kafka_sink *ks = (struct kafka_sink *)base;
    uint64_t v;
    if (ks->wake_fd >= 0 && read(ks->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_debug("kafka: eventfd read failed", "errno=%d", errno);
    kafka_poll(base);
}

const struct fh_sink_ops fh__kafka_ops = {
    .name = "kafka",
    .write = kafka_write,
    .poll = kafka_poll,
    .flush = kafka_flush,
    .destroy = fh__kafka_destroy,
    .wake_fd = kafka_wake_fd,
    .wake = kafka_wake,
    .write_gap = kafka_write_gap,
};
