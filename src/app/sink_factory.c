/*
 * sink_factory.c - the configured sink (see sink_factory.h).
 */
#include "app/sink_factory.h"

#include "core/err.h"
#include "core/log.h"
#include "obs/metrics.h"
#include "sink/kafka.h"
#include "sink/loss.h"
#include "sink/spool.h"
#include "venue/venue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum fh_spool_fsync fsync_policy(enum fh_config_spool_fsync f)
{
    switch (f) {
    case FH_CFG_FSYNC_INTERVAL:
        return FH_SPOOL_FSYNC_INTERVAL;
    case FH_CFG_FSYNC_OFF:
        return FH_SPOOL_FSYNC_OFF;
    case FH_CFG_FSYNC_BATCH:
        break;
    }
    return FH_SPOOL_FSYNC_BATCH;
}

static struct fh_sink *kafka_from_config(const struct fh_config *c, enum fh_sink_start *why,
                                         char *err, size_t errlen)
{
    struct fh_kafka_prop *props = calloc(c->kafka_n + 1, sizeof(*props));
    if (props == NULL) {
        snprintf(err, errlen, "out of memory");
        *why = FH_SINK_START_FAILED;
        return NULL;
    }
    for (size_t i = 0; i < c->kafka_n; i++) {
        props[i].name = c->kafka[i].key;
        props[i].value = c->kafka[i].value;
    }
    const char *venues[2];
    size_t nvenues = 0;
    if (c->binance.enabled)
        venues[nvenues++] = fh_venue_for_section("binance", c->binance.url)->venue;
    if (c->kraken.enabled)
        venues[nvenues++] = fh_venue_for_section("kraken", c->kraken.url)->venue;
    struct fh_spool_config spool = {
        .dir = c->spool.dir,
        .max_bytes = c->spool.max_bytes,
        .segment_bytes = c->spool.segment_bytes,
        .fsync = fsync_policy(c->spool.fsync),
        .fsync_interval_ms = c->spool.fsync_interval_ms,
        .queue_bytes = c->spool.queue_bytes,
        .inflight_max = (uint32_t)c->spool.inflight_max,
        .reserve_bytes = c->spool.reserve_bytes,
    };
    struct fh_kafka_sink_config kc = {
        .format = c->sink.format == FH_SINK_FORMAT_AVRO ? FH_SINK_AVRO : FH_SINK_JSON,
        .topic = c->sink.topic,
        .topic_per_venue = c->sink.topic_per_venue,
        .latency_profile = c->sink.profile == FH_SINK_PROFILE_LATENCY,
        .venues = venues,
        .nvenues = nvenues,
        .gap_topic = c->backfill.gap_topic,
        .props = props,
        .nprops = c->kafka_n,
        .registry_url = c->schema_registry.url,
        .registry_timeout_ms = c->schema_registry.timeout_ms,
        .spool = c->spool.dir[0] != '\0' ? &spool : NULL,
        .spill_after_ms = c->spool.spill_after_ms,
        .take_back_after_ms = c->spool.take_back_after_ms,
        .on_full = c->spool.on_full == FH_CFG_ON_FULL_STOP           ? FH_KAFKA_ON_FULL_STOP
                   : c->spool.on_full == FH_CFG_ON_FULL_BACKPRESSURE ? FH_KAFKA_ON_FULL_BACKPRESSURE
                                                                     : FH_KAFKA_ON_FULL_DROP,
        .full_grace_ms = c->spool.full_grace_ms,
    };
    if (c->schema_registry.url[0] != '\0' && kc.format == FH_SINK_JSON)
        log_warn("schema_registry.url is set but sink.format = json: the registry is not used", "");
    if (kc.spool == NULL)
        log_warn("kafka sink without a spool (spool.dir is empty): a full producer queue "
                 "pushes back on the feeds, a failed delivery is lost",
                 "");
    enum fh_kafka_start_error kwhy;
    struct fh_sink *s = fh_kafka_sink_new(&kc, &kwhy, err, errlen);
    free(props);
    switch (kwhy) {
    case FH_KAFKA_START_OK:
        *why = FH_SINK_START_OK;
        break;
    case FH_KAFKA_START_CONFIG:
        *why = FH_SINK_START_CONFIG;
        break;
    case FH_KAFKA_START_REGISTRY:
        *why = FH_SINK_START_REGISTRY;
        break;
    case FH_KAFKA_START_SPOOL:
    case FH_KAFKA_START_FAILED:
        *why = FH_SINK_START_FAILED;
        break;
    }
    return s;
}

struct fh_sink *fh_sink_from_config(const struct fh_config *c, enum fh_sink_start *why, char *err,
                                    size_t errlen)
{
    enum fh_sink_start dummy;
    if (why == NULL)
        why = &dummy;
    *why = FH_SINK_START_FAILED;
    switch (c->sink.type) {
    case FH_SINK_TYPE_STDOUT:
    case FH_SINK_TYPE_FILE: {
        struct fh_stream_sink_config sc = {
            .path = c->sink.type == FH_SINK_TYPE_FILE ? c->sink.path : NULL,
            .format = c->sink.format == FH_SINK_FORMAT_AVRO ? FH_SINK_AVRO : FH_SINK_JSON,
            .buffer_bytes = (size_t)c->sink.buffer_bytes,
        };
        struct fh_sink *s = fh_stream_sink_new(&sc, err, errlen);
        if (s != NULL)
            *why = FH_SINK_START_OK;
        return s;
    }
    case FH_SINK_TYPE_KAFKA:
        return kafka_from_config(c, why, err, errlen);
    }
    snprintf(err, errlen, "unknown sink.type");
    *why = FH_SINK_START_CONFIG;
    return NULL;
}

/* ---- metrics --------------------------------------------------------------------------------- */

static double load_u64(void *cell)
{
    return (double)__atomic_load_n((const uint64_t *)cell, __ATOMIC_RELAXED);
}

static double latency_p50(void *st)
{
    return (double)fh_kafka_latency_quantile(st, 0.50) / 1e6;
}

static double latency_p99(void *st)
{
    return (double)fh_kafka_latency_quantile(st, 0.99) / 1e6;
}

static double receive_to_ack_p50(void *st)
{
    return (double)fh_kafka_receive_to_ack_quantile(st, 0.50) / 1e6;
}

static double receive_to_ack_p99(void *st)
{
    return (double)fh_kafka_receive_to_ack_quantile(st, 0.99) / 1e6;
}

static double receive_to_ack_recent_p99(void *st)
{
    return (double)fh_kafka_receive_to_ack_recent_quantile(st, 0.99) / 1e6;
}

struct series {
    const char *name;
    const char *help;
    const uint64_t *cell;
    bool gauge;
};

int fh_sink_register_kafka_metrics(struct fh_metrics *m, const struct fh_sink *s)
{
    const struct fh_kafka_stats *k = fh_kafka_sink_stats(s);
    if (k == NULL)
        return 0;
    const struct series ks[] = {
        {"feedhandler_kafka_produced_total", "Records handed to the Kafka producer.", &k->produced,
         false},
        {"feedhandler_kafka_spooled_total",
         "Records written to the disk spool instead of being produced.", &k->spooled, false},
        {"feedhandler_kafka_spooled_failed_total",
         "Records that came back from the producer (failed, purged) and went to the spool.",
         &k->spooled_failed, false},
        {"feedhandler_kafka_drained_total", "Spooled records delivered to Kafka.", &k->drained,
         false},
        {"feedhandler_kafka_queue_full_total", "Times the producer's queue was full.",
         &k->queue_full, false},
        {"feedhandler_kafka_spool_full_total",
         "Writes refused because the spool was full (flow control on the feeds).", &k->spool_full,
         false},
        {"feedhandler_kafka_purges_total",
         "Times the records queued in the producer were moved to the spool.", &k->purges, false},
        {"feedhandler_kafka_duplicates_suspected_total",
         "Records produced again that may already be in Kafka (at-least-once windows).",
         &k->dup_suspected, false},
        {"feedhandler_kafka_drain_passes_total", "Spool drain passes started.", &k->passes, false},
        {"feedhandler_kafka_drain_passes_failed_total", "Spool drain passes ended by a failure.",
         &k->passes_failed, false},
        {"feedhandler_kafka_errors_total", "Producer error events (connection losses, ...).",
         &k->kafka_errors, false},
        {"feedhandler_kafka_producer_recreated_total",
         "Producers replaced after a fatal error (their records taken back into the spool).",
         &k->recreated, false},
        {"feedhandler_kafka_in_flight", "Records in the producer awaiting a delivery report.",
         &k->in_flight, true},
        {"feedhandler_kafka_mode", "Sink mode: 0 direct, 1 spooling, 2 draining the spool.",
         &k->mode, true},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(ks) / sizeof(ks[0]); i++) {
        rc = ks[i].gauge
                 ? fh_metrics_gauge_fn(m, ks[i].name, ks[i].help, "", load_u64, (void *)ks[i].cell)
                 : fh_metrics_counter(m, ks[i].name, ks[i].help, "", ks[i].cell);
    }
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "feedhandler_kafka_delivery_latency_p50_seconds",
                                 "Median produce-to-acknowledgement latency (bucket bound).", "",
                                 latency_p50, (void *)k);
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "feedhandler_kafka_delivery_latency_p99_seconds",
                                 "99th percentile produce-to-acknowledgement latency (bucket "
                                 "bound).",
                                 "", latency_p99, (void *)k);
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "feedhandler_kafka_receive_to_ack_p50_seconds",
                                 "Median latency from a trade's receipt to the acknowledgement "
                                 "of its record (bucket bound).",
                                 "", receive_to_ack_p50, (void *)k);
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "feedhandler_kafka_receive_to_ack_p99_seconds",
                                 "99th percentile latency from a trade's receipt to the "
                                 "acknowledgement of its record (bucket bound).",
                                 "", receive_to_ack_p99, (void *)k);
    if (rc == 0)
        rc = fh_metrics_gauge_fn(m, "feedhandler_kafka_receive_to_ack_recent_p99_seconds",
                                 "99th percentile latency from a trade's receipt to the "
                                 "acknowledgement of its record, over the last 10 to 11 s "
                                 "(bucket bound; 0: none acknowledged).",
                                 "", receive_to_ack_recent_p99, (void *)k);
    const uint64_t *lost = fh_kafka_sink_lost_by_reason(s);
    for (int i = 0; rc == 0 && lost != NULL && i < FH_LOSS_REASON_COUNT; i++) {
        char label[64];
        snprintf(label, sizeof(label), "reason=\"%s\"",
                 fh_loss_reason_name((enum fh_loss_reason)i));
        rc = fh_metrics_counter(m, "feedhandler_trades_lost_total",
                                "Trades given up by the Kafka sink, by reason (each also logged "
                                "as \"trades lost\" with venue, symbol and ids).",
                                label, &lost[i]);
    }
    const struct fh_spool_stats *sp = fh_kafka_sink_spool_stats(s);
    if (sp == NULL || rc != 0)
        return rc;
    const struct series ss[] = {
        {"feedhandler_spool_written_total", "Records written to spool segments.", &sp->written,
         false},
        {"feedhandler_spool_written_bytes_total", "Bytes written to spool segments.",
         &sp->bytes_written, false},
        {"feedhandler_spool_fsyncs_total", "fsync calls of the spool.", &sp->fsyncs, false},
        {"feedhandler_spool_write_errors_total",
         "Failed spool writes (the records are held in memory and retried).", &sp->write_errors,
         false},
        {"feedhandler_spool_read_errors_total", "Failed spool reads (retried).", &sp->read_errors,
         false},
        {"feedhandler_spool_fsync_errors_total", "Failed spool fdatasync calls.", &sp->fsync_errors,
         false},
        {"feedhandler_spool_lost_total",
         "Spooled records given up because they could not be written in time (also in "
         "feedhandler_trades_lost_total).",
         &sp->lost, false},
        {"feedhandler_spool_blocked", "1 while spool writes fail and records wait in memory.",
         &sp->blocked, true},
        {"feedhandler_spool_bound_bytes",
         "The spool's bound in force: spool.max_bytes, or less when the filesystem's free space "
         "(less spool.reserve_bytes) is smaller.",
         &sp->limit_bytes, true},
        {"feedhandler_spool_fs_free_bytes", "Free space of the spool's filesystem.",
         &sp->fs_free_bytes, true},
        {"feedhandler_spool_recovered_total", "Records found in the spool at start-up.",
         &sp->recovered, false},
        {"feedhandler_spool_truncated_segments_total",
         "Spool segments cut at a torn or corrupt record.", &sp->truncated_segments, false},
        {"feedhandler_spool_truncated_bytes_total",
         "Bytes dropped by cutting torn or corrupt spool tails.", &sp->truncated_bytes, false},
        {"feedhandler_spool_corrupt_records_total", "Spooled records unreadable (lost).",
         &sp->corrupt_records, false},
        {"feedhandler_spool_bytes", "Bytes in spool segment files.", &sp->disk_bytes, true},
        {"feedhandler_spool_records", "Records in the spool not yet delivered.", &sp->pending,
         true},
        {"feedhandler_spool_queued_bytes", "Bytes waiting for the spool writer thread.",
         &sp->queued_bytes, true},
    };
    for (size_t i = 0; rc == 0 && i < sizeof(ss) / sizeof(ss[0]); i++) {
        rc = ss[i].gauge
                 ? fh_metrics_gauge_fn(m, ss[i].name, ss[i].help, "", load_u64, (void *)ss[i].cell)
                 : fh_metrics_counter(m, ss[i].name, ss[i].help, "", ss[i].cell);
    }
    return rc;
}
