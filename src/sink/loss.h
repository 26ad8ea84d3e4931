/*
 * loss.h - the record of trades a sink could not deliver: counted by reason, logged with
 * venue, symbol and id range.
 *
 * The promise is that a trade read from an exchange is in Kafka, in the spool, or counted and
 * logged as lost. Every place that gives a trade up calls fh_loss_add() with what it knows of
 * it: the key ("venue:symbol"), the trade id (or, for protocols without ids such as Kraken
 * v1, the connection id and per-connection sequence) and a reason. Consecutive ids of one
 * key and reason are merged into one run, and a run is logged when it ends (a non-consecutive
 * id), when it is older than a second (fh_loss_tick), or at fh_loss_flush(): the log lines
 * list every lost id exactly, with a bounded number of lines per second for a burst of
 * consecutive losses and no logging per trade.
 *
 * A log line (level error, message "trades lost"):
 *   reason=spool_full venue=binance symbol=BTC-USDT id_kind=trade_id first=1001 last=1450
 *   count=450
 * where count is last - first + 1 for ids; records whose bytes could not be read carry
 * venue=- symbol=- id_kind=none and a count only.
 *
 * Thread-safe (one mutex; losses are rare and off the hot path). The counters can be read
 * with relaxed atomics from any thread.
 */
#ifndef FH_SINK_LOSS_H
#define FH_SINK_LOSS_H

#include "core/buf.h"
#include "model/trade.h"
#include "sink/sink.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum fh_loss_reason {
    FH_LOSS_SPOOL_FULL = 0,   /* the spool stayed full past its grace (spool.on_full=drop) */
    FH_LOSS_SPOOL_WRITE,      /* the spool could not write the record (disk error) */
    FH_LOSS_SPOOL_UNREADABLE, /* spooled, but unreadable when read back */
    FH_LOSS_REJECTED,         /* the broker or producer refused it for good */
    FH_LOSS_SHUTDOWN,         /* undelivered at shutdown and not spooled */
    FH_LOSS_ENCODE,           /* could not be encoded */
    FH_LOSS_REASON_COUNT,
};

const char *fh_loss_reason_name(enum fh_loss_reason r);

enum fh_loss_id_kind {
    FH_LOSS_ID_NONE = 0,  /* nothing known but the count */
    FH_LOSS_ID_TRADE = 1, /* the exchange's trade id */
    FH_LOSS_ID_SEQ = 2,   /* connection id + per-connection sequence (no trade ids) */
};

/* What is known of one lost trade. */
struct fh_loss_item {
    struct fh_str key; /* "venue:symbol", or empty */
    enum fh_loss_id_kind kind;
    int64_t id;   /* trade id or sequence */
    int64_t conn; /* connection id (FH_LOSS_ID_SEQ) */
};

#define FH_LOSS_RUNS    64
#define FH_LOSS_KEY_MAX 96

struct fh_loss_run {
    enum fh_loss_reason reason;
    enum fh_loss_id_kind kind;
    char key[FH_LOSS_KEY_MAX];
    size_t keylen;
    int64_t conn;
    int64_t first, last;
    uint64_t count;
    int64_t since_ns;
};

struct fh_loss {
    pthread_mutex_t mu;
    uint64_t by_reason[FH_LOSS_REASON_COUNT]; /* relaxed atomics */
    uint64_t *total;                          /* also added to (the sink's failed), or NULL */
    struct fh_loss_run runs[FH_LOSS_RUNS];
    int nruns;
};

void fh_loss_init(struct fh_loss *l, uint64_t *total);
void fh_loss_destroy(struct fh_loss *l);

/* Counts n lost trades (n > 1 only with FH_LOSS_ID_NONE) and merges them into the runs. */
void fh_loss_add(struct fh_loss *l, enum fh_loss_reason why, const struct fh_loss_item *it,
                 uint64_t n);

/* Logs the runs older than a second. Call now and then (the sink's poll). */
void fh_loss_tick(struct fh_loss *l, int64_t now_ns);

/* Logs every open run. */
void fh_loss_flush(struct fh_loss *l);

/* The sum over reasons. */
uint64_t fh_loss_total(const struct fh_loss *l);

/* What a trade tells of itself. */
void fh_loss_item_from_trade(struct fh_loss_item *it, const struct fh_trade *t, char *keybuf,
                             size_t keycap);

/*
 * What an encoded record tells: key "venue:symbol"; the trade id from the value (Avro in the
 * Confluent wire format or single-object encoding, or a JSON document), else the
 * connection_id and sequence headers (a blob of [u8 name length][name][u16le value
 * length][value] entries, as the Kafka sink spools them; headers may be empty).
 */
void fh_loss_item_from_record(struct fh_loss_item *it, enum fh_sink_format format,
                              struct fh_str key, struct fh_str value, struct fh_str headers);

#endif
