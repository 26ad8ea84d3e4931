/*
 * config_int.h - internals shared by the configuration's files; not for other modules (they
 * use app/config.h):
 *   config.c        the key tables, errors, applying values, rules across keys, life cycle
 *   config_value.c  parsing and checking one value of a key's type
 *   config_load.c   the sources: the INI file, the environment, --set
 *   config_doc.c    reporting: the effective configuration, the Markdown key table
 */
#ifndef FH_APP_CONFIG_INT_H
#define FH_APP_CONFIG_INT_H

#include "app/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a)        (sizeof(a) / sizeof((a)[0]))
#define FH_CONFIG_MAX_FILE  (1024 * 1024)
#define ENV_PREFIX          "FEEDHANDLER_"
#define PASSTHROUGH_SECTION "kafka"
#define ERRBUF              512

/* A parsed value of any type; only the member of the key's type is meaningful. */
struct value {
    bool b;
    int64_t i;
    uint64_t u;
    int e;
    char *s;
    struct fh_config_list list;
};

/* Where a value being applied comes from, for its origin and its error messages. */
struct source {
    struct fh_config_origin origin;
    const char *where;    /* message prefix: "FILE:LINE", "env:NAME", "--set:s.k" */
    const char *env_name; /* ENV only */
};

/* Names seen in one source, to report duplicates: typed keys by id, [kafka] keys by name. */
struct seen {
    int line[FH_CONFIG_NKEYS]; /* where each key was first given; 0: not yet */
    struct {
        char *name;
        int line;
    } * kafka;
    size_t kafka_n;
};

/* ---- across the configuration's files ------------------------------------------------------- */

void cfg_add_error(struct fh_config_errors *e, const char *fmt, ...) FH_PRINTF(2, 3);
void cfg_apply_kafka(struct fh_config *c, const char *key, const char *value,
                     const struct source *src, struct fh_config_errors *e);
void cfg_apply_key(struct fh_config *c, int id, const char *text, const struct source *src,
                   struct fh_config_errors *e);
char *cfg_dup_trimmed(const char *s, size_t n);
void cfg_list_release(struct fh_config_list *l);
bool cfg_ok(const struct fh_config *c, int id);
int cfg_parse_value(const struct fh_config_key *k, const char *s, struct value *v, char *err,
                    size_t errsz);
void cfg_schemes_text(const struct fh_config_key *k, char *buf, size_t size);
int cfg_section_find(const char *name);
void cfg_section_keys(const char *section, char *buf, size_t size);
void cfg_section_names(char *buf, size_t size, bool upper);
int cfg_seen_check(struct seen *s, int id, const char *kafka_key, int line);
void cfg_seen_release(struct seen *s);
void cfg_store(struct fh_config *c, int id, struct value *v);
void cfg_value_release(struct value *v);

#endif
