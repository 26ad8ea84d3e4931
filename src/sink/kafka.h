/*
 * kafka.h - the Kafka sink: trades to Kafka/Redpanda through librdkafka, with a Schema
 * Registry (or Avro single-object encoding), a durable disk spool, and backpressure.
 *
 * Records. Value: Avro (Confluent wire format with the registry's id, or single-object
 * encoding without a registry) or a JSON line without its newline ([sink] format). Key:
 * "venue:symbol" (canonical symbol), so one symbol's trades stay on one partition and in
 * order. Headers: connection_id and sequence (decimal text) and source (LIVE, SNAPSHOT,
 * BACKFILL, REPLAY): the lineage of the record. Timestamp: the trade's receive time (ms).
 * Topic: cfg.topic, or "<topic>.<venue>" with topic_per_venue.
 *
 * Producer defaults (any [kafka] property overrides them; see FH_KAFKA_DEFAULTS):
 * enable.idempotence=true, acks=all, compression.type=lz4, linger.ms=5,
 * partitioner=murmur2_random (the Java producer's partition for a key),
 * message.timeout.ms=0 (never time out: outages are the spool's job, which keeps per-key
 * order; a finite timeout lets librdkafka deliver newer records of a partition after older
 * ones timed out), bounded queues (queue.buffering.max.messages=50000,
 * queue.buffering.max.kbytes=16384), reconnect.backoff.max.ms=1000.
 *
 * Flow. In the direct mode fh_sink_write() encodes and hands the record to librdkafka
 * (copied; no allocation of ours, no syscall, no lock). With a spool, the sink switches to
 * spooling when librdkafka's queue is full, when a delivery fails with a retriable error, or
 * when no delivery report has arrived for spill_after_ms while records wait. While spooling,
 * every new record goes to the spool, behind the older ones; the records librdkafka holds
 * stay there and are retried by its idempotent producer (a leader failover delivers them
 * exactly once). Only when the stall lasts take_back_after_ms are they purged into the
 * spool, so that a crash during a long outage does not lose them: records librdkafka had
 * sent once then come back "possibly persisted" and may be delivered twice (counted in
 * dup_suspected). A record that fails takes everything queued behind it back at once.
 * When nothing of the sink's is in flight any more, a drain pass re-produces the spool in
 * gseq order (the sink's produce sequence number), starting slowly; the first failure ends
 * the pass and another starts after a backoff. When a pass has handed out everything, the
 * sink produces directly again. Without a spool, a full queue is backpressure
 * (FH_ENOSPACE) and a failed delivery is counted as lost.
 *
 * A fatal producer error (librdkafka's idempotent producer lost its sequence state, e.g.
 * OUT_OF_ORDER_SEQUENCE_NUMBER after a cluster failure) leaves that producer unusable. With a
 * spool the sink takes everything it holds back into the spool (each a suspect), replaces it
 * with a new producer of the same configuration and drains the spool as after an outage: the
 * feeds never stop. A second fatal error before any delivery, or a take-back that does not
 * complete, makes the sink fatal (fh_sink_is_fatal), as a fatal error does without a spool.
 *
 * Per-key order: a record is handed to librdkafka only when every older record of the sink
 * is delivered, in flight in front of it, or in the spool in front of it; records come back
 * from librdkafka (purged or failed) only together with everything queued behind them, and go
 * to the spool's front, sorted by gseq; a drain pass starts only when nothing is in flight.
 * So the order of first delivery equals the order of fh_sink_write() for every key.
 *
 * Threads: fh_sink_write/poll/flush/free on the engine thread; delivery reports are served
 * by fh_sink_poll() (rd_kafka_poll with timeout 0: never blocks). librdkafka's log lines go
 * through core/log.h from librdkafka's threads. Counters: any thread, relaxed atomics.
 */
#ifndef FH_SINK_KAFKA_H
#define FH_SINK_KAFKA_H

#include "sink/sink.h"
#include "sink/spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The producer defaults as name, value pairs, NULL-terminated; [kafka] overrides them. */
extern const char *const FH_KAFKA_DEFAULTS[][2];
/* The latency profile's producer properties, over the defaults ({NULL, NULL} ends it); a
 * property given in [kafka] still replaces them. */
extern const char *const FH_KAFKA_LATENCY[][2];

struct fh_kafka_prop {
    const char *name;
    const char *value;
};

/* What the sink does when the spool stays full (refusing records) past full_grace_ms. */
enum fh_kafka_on_full {
    FH_KAFKA_ON_FULL_DROP = 0,         /* drop new trades, each counted and logged (default) */
    FH_KAFKA_ON_FULL_BACKPRESSURE = 1, /* keep pushing back on the feeds, however long */
    FH_KAFKA_ON_FULL_STOP = 2,         /* fail the sink: the daemon stops (exit status 1) */
};

struct fh_kafka_sink_config {
    enum fh_sink_format format;
    const char *topic;    /* the topic, or the prefix with topic_per_venue */
    bool topic_per_venue; /* topic "<topic>.<venue>", subject "<topic>.<venue>-value" */
    /* The latency profile (sink.profile = latency): FH_KAFKA_LATENCY over FH_KAFKA_DEFAULTS. */
    bool latency_profile;
    /* The venues expected: their topics are created and their subjects registered at
     * start-up. A record of another venue gets its topic on first use. */
    const char *const *venues;
    size_t nvenues;
    /* The gap records' topic (fh_sink_write_gap; subject "<gap_topic>-value", schema
     * schemas/gap.avsc); NULL or "": "<topic>.gaps". */
    const char *gap_topic;
    const struct fh_kafka_prop *props; /* [kafka], verbatim, after the defaults */
    size_t nprops;
    const char *registry_url; /* NULL or "": no registry, Avro single-object encoding */
    int64_t registry_timeout_ms;
    /* Without a registry: nonzero frames records in the Confluent wire format with this
     * schema id, as if a registry had returned it (benchmarks; not a configuration key). */
    uint32_t fixed_schema_id;
    const struct fh_spool_config *spool; /* NULL: no spool */
    int64_t spill_after_ms;              /* stall detection, with a spool (default 3000) */
    int64_t take_back_after_ms;    /* stalled this long: purge librdkafka's queue (default 60000) */
    enum fh_kafka_on_full on_full; /* with a spool */
    int64_t full_grace_ms; /* how long the spool may refuse before on_full (default 10000) */
};

/* Why the sink could not start. */
enum fh_kafka_start_error {
    FH_KAFKA_START_OK = 0,
    FH_KAFKA_START_FAILED,   /* out of memory, a thread, librdkafka refused to start */
    FH_KAFKA_START_CONFIG,   /* a property librdkafka rejects, a bad topic */
    FH_KAFKA_START_REGISTRY, /* the registry is unreachable or refuses our schema */
    FH_KAFKA_START_SPOOL,    /* the spool directory cannot be used */
};

#define FH_KAFKA_LATENCY_BUCKETS 256
#define FH_KAFKA_WINDOW_SLOTS    11 /* the recent receive -> ack window: 10 to 11 s */
/* Delivery reports read the clock once per this many (and first in each poll): a report's
 * receive -> ack figure is short by at most the time the reports before it in the same poll
 * took (tens of µs), against the histogram's 12 % bucket resolution. The produce -> ack
 * latency (rd_kafka_message_latency, which reads the clock itself) is taken on those reports
 * only: every report at low rates, one in this many under load, where a clock read per report
 * was 3.6 % of the engine thread (bench/README.md "Clock reads"). */
#define FH_KAFKA_DR_CLOCK_EVERY 32

/* Counters and gauges of the Kafka sink, besides struct fh_sink_stats (accepted, refused,
 * delivered, failed = lost, bytes). Relaxed atomics. */
struct fh_kafka_stats {
    uint64_t produced;       /* records handed to librdkafka (direct and from the spool) */
    uint64_t spooled;        /* records written to the spool instead of produced */
    uint64_t spooled_failed; /* records that came back from librdkafka and went to the spool */
    uint64_t drained;        /* spooled records delivered */
    uint64_t queue_full;     /* librdkafka queue-full events */
    uint64_t spool_full;     /* writes refused because the spool was full */
    uint64_t purges;         /* times the records queued in librdkafka were moved to the spool */
    uint64_t dup_suspected;  /* records produced again that may already be in Kafka */
    uint64_t passes;         /* drain passes started */
    uint64_t passes_failed;  /* drain passes ended by a failure */
    uint64_t kafka_errors;   /* librdkafka error events (connection losses, ...) */
    uint64_t recreated;      /* producers re-created after a fatal error (with a spool) */
    uint64_t in_flight;      /* gauge: records in librdkafka awaiting a delivery report */
    uint64_t mode;           /* gauge: 0 direct, 1 spooling, 2 draining */
    /* Delivery latency (produce call to delivery report) in microseconds, on a log-linear
     * ladder of 8 buckets per power of two (12.5% resolution); see
     * fh_kafka_latency_quantile(). A sample: the reports that read the clock
     * (FH_KAFKA_DR_CLOCK_EVERY). */
    uint64_t latency_us[FH_KAFKA_LATENCY_BUCKETS];
    /* Receive -> acknowledgement latency in microseconds, same ladder: from the trade's
     * receipt by the handler (the socket read that completed its frame) to the delivery
     * report of its record. Records produced directly use the trade's CLOCK_MONOTONIC receive
     * stamp; records that went through the spool only have their Kafka timestamp left (the
     * receipt's CLOCK_REALTIME in milliseconds). Trades without a receive stamp (replayed ones)
     * are not counted. See fh_kafka_receive_to_ack_quantile(). */
    uint64_t receive_to_ack_us[FH_KAFKA_LATENCY_BUCKETS];
    /* Copies of receive_to_ack_us taken about once a second (the engine thread, from
     * fh_sink_poll), a ring whose oldest slot is receive_to_ack_snap_oldest: the difference
     * with it is the last FH_KAFKA_WINDOW_SLOTS - 1 to FH_KAFKA_WINDOW_SLOTS seconds. */
    uint64_t receive_to_ack_snap[FH_KAFKA_WINDOW_SLOTS][FH_KAFKA_LATENCY_BUCKETS];
    uint64_t receive_to_ack_snap_oldest;
};

enum { FH_KAFKA_MODE_DIRECT = 0, FH_KAFKA_MODE_SPOOLING = 1, FH_KAFKA_MODE_DRAINING = 2 };

/*
 * Creates the Kafka sink: builds the producer configuration (defaults, then cfg->props),
 * opens and recovers the spool (if any; a spool left by a previous run is drained first),
 * registers the schema with the registry (if any) and creates the producer. Blocks (registry
 * requests, spool recovery): start-up only. Returns the sink, or NULL with *why and one
 * sentence in err.
 */
struct fh_sink *fh_kafka_sink_new(const struct fh_kafka_sink_config *cfg,
                                  enum fh_kafka_start_error *why, char *err, size_t errlen);

/* The Kafka counters of s, or NULL if s is not a Kafka sink. */
const struct fh_kafka_stats *fh_kafka_sink_stats(const struct fh_sink *s);
/* The sink's losses by reason (sink/loss.h), or NULL if s is not a Kafka sink. */
const uint64_t *fh_kafka_sink_lost_by_reason(const struct fh_sink *s);

/* Tests: makes librdkafka raise a fatal error on s's producer, as its idempotent producer
 * does when it loses its sequence state (rd_kafka_test_fatal_error). 0, or -1 if s is not a
 * Kafka sink or librdkafka refused. */
int fh_kafka_sink_inject_fatal(struct fh_sink *s, const char *reason);

/* The spool's counters, or NULL (not a Kafka sink, or no spool). */
const struct fh_spool_stats *fh_kafka_sink_spool_stats(const struct fh_sink *s);

/* The upper bound (µs) of the bucket holding the q-quantile (0..1) of the delivery
 * latencies counted in st; 0 if none. */
uint64_t fh_kafka_latency_quantile(const struct fh_kafka_stats *st, double q);
/* The same for the receive -> acknowledgement latencies (receive_to_ack_us), since start. */
uint64_t fh_kafka_receive_to_ack_quantile(const struct fh_kafka_stats *st, double q);
/* The same over the recent window only (see receive_to_ack_snap; since start while the sink
 * is younger than the window); 0 if nothing was acknowledged in it. */
uint64_t fh_kafka_receive_to_ack_recent_quantile(const struct fh_kafka_stats *st, double q);

#endif
