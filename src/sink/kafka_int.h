/*
 * kafka_int.h - INTERNAL to the Kafka sink: its state and the functions its source files share.
 * Not for other modules; the sink's interface is kafka.h.
 *
 * The sink is three files:
 *   kafka_sink.c   the engine-thread state machine (its description opens the file): writing,
 *                  delivery reports, draining the spool, polling, flush and destroy
 *   kafka_start.c  start-up (producer configuration, topics, schema registration, the spool),
 *                  the topic table, the log and error callbacks, the readers of the counters
 *   kafka_loss.c   the accounting of what the sink gives up
 * Functions one file calls in another are named fh__kafka_*; everything else is static.
 *
 * Locality: as kafka.h states (start-up, then the engine thread; counters are read from any
 * thread); a function that runs on another thread says so.
 */
#ifndef FH_SINK_KAFKA_INT_H
#define FH_SINK_KAFKA_INT_H

#include "sink/kafka.h"

#include "core/log.h"
#include "sink/loss.h"
#include "sink/registry.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_TOPICS     16
#define SCRATCH_BYTES  65536
#define KEY_MAX        1024
#define HDR_BLOB_MAX   512
#define BACKOFF_MIN_NS (250 * 1000000LL)
#define BACKOFF_MAX_NS (5000 * 1000000LL)
#define STAMPS_MIN     1024
#define STAMPS_MAX     (1u << 20)

struct topic_ent {
    char *venue; /* NULL: the one topic without topic_per_venue */
    char *name;
    rd_kafka_topic_t *rkt;
    uint32_t schema_id;
};

/* The receive stamp of a record produced directly, kept until its delivery report. */
struct recv_stamp {
    uint64_t gseq;   /* 0: none */
    int64_t mono_ns; /* the trade's receive_mono_ns; 0: unknown */
};

struct kafka_sink {
    struct fh_sink base;
    struct fh_kafka_stats ks;
    rd_kafka_t *rk;
    /* A copy of the producer's configuration, for a new producer after a fatal error (with a
     * spool; NULL without). fatal_pending: the error callback saw one, kafka_poll acts on it.
     * recreated_at: delivered + gaps_delivered when the producer was last re-created
     * (UINT64_MAX: never); a fatal error with nothing delivered since then is final. */
    rd_kafka_conf_t *conf;
    bool fatal_pending;
    uint64_t recreated_at;
    struct fh_spool *spool;

    struct topic_ent topics[MAX_TOPICS];
    size_t ntopics;
    struct topic_ent *gap_te; /* the gap records' topic (in topics[], never topics[0]) */
    char *topic_base;
    bool per_venue;
    bool confluent;     /* registry framing */
    uint32_t schema_id; /* for topics created after start-up */
    struct fh_registry_config reg;

    uint64_t next_gseq;
    /* A ring of receive stamps by gseq (slot gseq & stamp_mask), allocated at start-up with
     * at least queue.buffering.max.messages slots (at most STAMPS_MAX): the receive -> ack
     * latency without an allocation or a lookup structure per record. A record whose slot a
     * younger one took before its delivery report is not measured. */
    struct recv_stamp *stamps;
    uint64_t stamp_mask;
    /* An eventfd librdkafka writes to when its main queue (delivery reports) becomes non-empty
     * (rd_kafka_queue_io_event_enable): fh_sink_wake_fd, so that an idle loop serves delivery
     * reports when they arrive, not at its next timer. -1: none. */
    int wake_fd;
    int64_t snap_ns;    /* when the last receive -> ack snapshot was taken */
    uint64_t snap_next; /* the slot it goes to next (the oldest) */
    int mode;
    uint64_t in_flight;
    uint64_t probe_limit;
    uint64_t spool_in_flight;
    int64_t spill_ns;
    int64_t take_back_ns;
    int64_t last_ack_ns;
    /* The clock delivery reports read: taken again every FH_KAFKA_DR_CLOCK_EVERY reports
     * (a clock read per report cost as much as the rest of the report). */
    int64_t dr_now_ns;
    uint32_t dr_clock_age;
    int64_t last_purge_ns;
    int64_t next_pass_ns;
    int64_t backoff_ns;
    bool failure_seen;
    bool stalled_logged;
    bool take_back_logged;
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
static inline void stat_add(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline void stat_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

/* kafka_sink.c */

extern const struct fh_sink_ops fh__kafka_ops;
void fh__kafka_destroy(struct fh_sink *base);
/* Sets ks->mode and its gauge (FH_KAFKA_MODE_*). */
void fh__kafka_set_mode(struct kafka_sink *ks, int m);
/* Makes the sink fatal (fh_sink_is_fatal): the engine stops taking trades. */
void fh__kafka_set_fatal(struct kafka_sink *ks, const char *err_name, const char *why);
/* The delivery report callback (engine thread, from rd_kafka_poll). */
void fh__kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/* The headers of a librdkafka message as the spool's blob. Returns the blob's length. */
size_t fh__kafka_message_headers(const rd_kafka_message_t *m, uint8_t *blob, size_t cap);

/* kafka_start.c: the topic table. NULL when no topic can be had (logged). */

/* The topic of a venue (hot path: a short linear scan); added on first use if unknown. */
struct topic_ent *fh__kafka_topic_for_venue(struct kafka_sink *ks, struct fh_str venue);
/* The topic of a spooled record, by name; added on first use if unknown. */
bool fh__kafka_topic_by_name_exists(const struct kafka_sink *ks, const char *name);
struct topic_ent *fh__kafka_topic_by_name(struct kafka_sink *ks, struct fh_str name);

/* kafka_loss.c: counted by reason and logged with the trade's ids; why (may be NULL: not
 * logged as a cause) and topic (may be NULL) go into the cause's log line. */

void fh__kafka_lost_trade(struct kafka_sink *ks, enum fh_loss_reason r, const struct fh_trade *t,
                          const char *why, const char *topic);
void fh__kafka_lost_record(struct kafka_sink *ks, enum fh_loss_reason r, struct fh_str key,
                           struct fh_str value, struct fh_str headers, const char *why,
                           const char *topic);
void fh__kafka_lost_message(struct kafka_sink *ks, enum fh_loss_reason r,
                            const rd_kafka_message_t *m, const char *why);
/* n records whose contents are gone; why is always logged. */
void fh__kafka_lost_count(struct kafka_sink *ks, enum fh_loss_reason r, uint64_t n,
                          const char *why);
/* fh_spool_config.on_lost (the spool's writer thread, or shutdown). */
void fh__kafka_on_spool_lost(void *ctx, const struct fh_spool_record *r, uint64_t n,
                             enum fh_spool_loss why, int err);

#endif
