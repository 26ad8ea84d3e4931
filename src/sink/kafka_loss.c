/*
 * kafka_loss.c - what the Kafka sink gives up. Every trade it can neither deliver nor keep
 * goes through one of fh__kafka_lost_trade, _record, _message (one record each) or _count (a
 * number of records whose contents are gone); the spool reports its own losses through
 * fh__kafka_on_spool_lost.
 *
 * Locality: the engine thread, except fh__kafka_on_spool_lost (the spool's writer thread, or
 * shutdown).
 */
#include "sink/kafka_int.h"

#include "core/clock.h"
#include "core/log.h"
#include "sink/loss.h"

#include <inttypes.h>

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

void fh__kafka_lost_trade(struct kafka_sink *ks, enum fh_loss_reason r, const struct fh_trade *t,
                          const char *why, const char *topic)
{
    char key[FH_LOSS_KEY_MAX];
    struct fh_loss_item it;
    fh_loss_item_from_trade(&it, t, key, sizeof(key));
    fh_loss_add(&ks->loss, r, &it, 1);
    if (why != NULL)
        log_lost_cause(ks, r, why, topic);
}

void fh__kafka_lost_record(struct kafka_sink *ks, enum fh_loss_reason r, struct fh_str key,
                           struct fh_str value, struct fh_str headers, const char *why,
                           const char *topic)
{
    struct fh_loss_item it;
    fh_loss_item_from_record(&it, ks->base.format, key, value, headers);
    fh_loss_add(&ks->loss, r, &it, 1);
    if (why != NULL)
        log_lost_cause(ks, r, why, topic);
}

void fh__kafka_lost_message(struct kafka_sink *ks, enum fh_loss_reason r,
                            const rd_kafka_message_t *m, const char *why)
{
    uint8_t blob[HDR_BLOB_MAX];
    size_t hn = fh__kafka_message_headers(m, blob, sizeof(blob));
    fh__kafka_lost_record(ks, r, (struct fh_str){(const char *)m->key, m->key_len},
                          (struct fh_str){(const char *)m->payload, m->len},
                          (struct fh_str){(const char *)blob, hn}, why,
                          m->rkt ? rd_kafka_topic_name(m->rkt) : NULL);
}

void fh__kafka_lost_count(struct kafka_sink *ks, enum fh_loss_reason r, uint64_t n, const char *why)
{
    struct fh_loss_item it = {.key = {"", 0}, .kind = FH_LOSS_ID_NONE};
    fh_loss_add(&ks->loss, r, &it, n);
    log_lost_cause(ks, r, why, NULL);
}

/* The spool gave records up (its writer thread, or shutdown). */
void fh__kafka_on_spool_lost(void *ctx, const struct fh_spool_record *r, uint64_t n,
                             enum fh_spool_loss why, int err)
{
    struct kafka_sink *ks = ctx;
    enum fh_loss_reason reason =
        why == FH_SPOOL_LOST_WRITE ? FH_LOSS_SPOOL_WRITE : FH_LOSS_SPOOL_UNREADABLE;
    (void)err;
    if (r != NULL && r->key.n > 0) {
        fh__kafka_lost_record(ks, reason, r->key, r->value, r->headers, NULL, NULL);
        return;
    }
    struct fh_loss_item it = {.key = {"", 0}, .kind = FH_LOSS_ID_NONE};
    fh_loss_add(&ks->loss, reason, &it, n);
}
