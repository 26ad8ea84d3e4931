/*
 * sink_factory.h - builds the configured sink from struct fh_config: the one place where
 * [sink], [kafka], [schema_registry] and [spool] become a struct fh_sink. The daemon and the
 * test driver (tests/tools/sinkdrive.c) both call it, so what the tests exercise is what the
 * daemon runs.
 *
 * Locality: start-up code on the thread that will own the sink (it blocks: Schema Registry
 * requests, spool recovery).
 */
#ifndef FH_APP_SINK_FACTORY_H
#define FH_APP_SINK_FACTORY_H

#include "app/config.h"
#include "sink/sink.h"

#include <stddef.h>

struct fh_metrics;

/* Why no sink was built. The values are the process exit statuses the daemon uses (they
 * match FH_EXIT_RUNTIME and FH_EXIT_USAGE of app/cli.h; 3 is the registry's own status,
 * documented in docs/CONFIG.md and docs/OPERATIONS.md). */
enum fh_sink_start {
    FH_SINK_START_OK = 0,
    FH_SINK_START_FAILED = 1,   /* out of memory, the spool directory unusable, ... */
    FH_SINK_START_CONFIG = 2,   /* the configuration does not make a sink (a bad property) */
    FH_SINK_START_REGISTRY = 3, /* Schema Registry unreachable, or our schema incompatible */
};

/*
 * Builds the sink cfg->sink.type asks for: stdout or file (stream_sink.c), or Kafka
 * (kafka_start.c: [kafka] properties over the producer defaults, the registry if
 * schema_registry.url is set, the spool if spool.dir is set; topics for the enabled venues).
 * Returns the sink, or NULL with *why (may be NULL) and one sentence in err.
 */
struct fh_sink *fh_sink_from_config(const struct fh_config *cfg, enum fh_sink_start *why, char *err,
                                    size_t errlen);

/*
 * Registers the sink's counters with a metrics registry: for a Kafka sink the producer and
 * spool counters (feedhandler_kafka_*, feedhandler_spool_*) and the delivery-latency
 * quantiles; nothing for other sinks (their generic counters are the daemon's to register).
 * Returns 0 or the registry's error. The sink must outlive the registry's use of it.
 */
int fh_sink_register_kafka_metrics(struct fh_metrics *m, const struct fh_sink *s);

#endif
