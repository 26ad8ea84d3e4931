/*
 * kafka_conf.h - checks librdkafka configuration properties without creating a client.
 *
 * The [kafka] section of the configuration is passed to librdkafka verbatim, so librdkafka is
 * the only judge of its names and values. This module asks it, one property at a time, on a
 * scratch rd_kafka_conf_t, so that a typo is reported at start-up (and by check-config) with
 * librdkafka's own words instead of failing later inside the sink.
 *
 * Locality: any thread; no shared state.
 */
#ifndef FH_SINK_KAFKA_CONF_H
#define FH_SINK_KAFKA_CONF_H

#include <stddef.h>

/*
 * Returns 0 if librdkafka accepts name=value for a producer configuration. Otherwise returns
 * FH_ECONFIG (unknown property, bad value, or a property that cannot be set from text, such as
 * a callback) or FH_ENOMEM, and writes librdkafka's explanation, without a trailing newline,
 * to errstr (always NUL-terminated when errstr_size > 0).
 */
int fh_kafka_conf_check(const char *name, const char *value, char *errstr, size_t errstr_size);

#endif
