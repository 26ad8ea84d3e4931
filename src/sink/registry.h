/*
 * registry.h - the Confluent Schema Registry client used at start-up.
 *
 * The Kafka sink registers schemas/trade.avsc under each topic's subject (topic-name
 * strategy: "<topic>-value") before the engine runs, and frames every record with the id
 * the registry returns (Confluent wire format). The calls (libcurl, blocking) are:
 *
 *   POST /subjects/{subject}                               is this schema already there?
 *   POST /compatibility/subjects/{subject}/versions/latest when the subject holds other
 *                                                          versions: may we add ours?
 *   POST /subjects/{subject}/versions                      register (idempotent)
 *
 * all with Content-Type application/vnd.schemaregistry.v1+json and the body
 * {"schema": "<the schema as a JSON string>"}.
 *
 * Locality: start-up code only (it blocks for up to timeout_ms per request); any thread.
 */
#ifndef FH_SINK_REGISTRY_H
#define FH_SINK_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

struct fh_registry_config {
    const char *url;    /* base URL, e.g. http://registry:8081 (a trailing '/' is fine) */
    int64_t timeout_ms; /* per request, connection included */
};

/* Why a registration failed. */
enum fh_registry_failure {
    FH_REGISTRY_OK = 0,
    FH_REGISTRY_UNREACHABLE,  /* no answer: DNS, connection, timeout, TLS */
    FH_REGISTRY_INCOMPATIBLE, /* the subject's latest version does not accept our schema */
    FH_REGISTRY_ERROR,        /* an answer we cannot use: HTTP error, malformed reply */
};

/*
 * Finds schema (JSON text, n bytes) under subject, or registers it there, checking
 * compatibility first when the subject already holds other versions. Returns 0 with *id, or
 * a negative error: FH_EIO (unreachable), FH_ESTATE (incompatible), FH_EPARSE or FH_EIO
 * (unusable answer); *why (may be NULL) tells which, and err receives one sentence naming
 * the registry, the subject and the reason.
 */
int fh_registry_register(const struct fh_registry_config *cfg, const char *subject,
                         const char *schema, size_t n, uint32_t *id, enum fh_registry_failure *why,
                         char *err, size_t errlen);

/* Writes s[0..n) as a JSON string literal (with quotes) into out. Returns the length
 * written, or the length needed if it is >= cap (then out holds nothing useful). */
size_t fh_registry_json_string(const char *s, size_t n, char *out, size_t cap);

#endif
