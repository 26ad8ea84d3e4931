/*
 * config.h - the daemon's configuration: one INI file, then FEEDHANDLER_* environment
 * variables, then --set section.key=value flags, each overriding the one before.
 *
 * Every key is declared once, in config_keys.h; this header turns that table into the typed
 * struct fh_config. docs/CONFIG.md describes the syntax and every key.
 *
 * Errors are collected, not returned one by one: every load function appends one line per
 * problem to a struct fh_config_errors, in the form "FILE:LINE: message",
 * "env:FEEDHANDLER_X: message" or "--set:section.key: message", and goes on. A value that
 * fails its check is not applied, so the key keeps its previous (lower-precedence) value.
 *
 * Locality: start-up code on one thread. Nothing here is thread-safe, and the environment
 * functions read the process environment.
 */
#ifndef FH_APP_CONFIG_H
#define FH_APP_CONFIG_H

#include "core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enumerations of ENUM keys (the spellings are in config_keys.h): enum fh_config_sink_type
 * (FH_SINK_TYPE_STDOUT, ...), enum fh_config_sink_format, enum fh_config_binance_channel. */
#define FH_CFG_ENUMERATOR(e, s) e,
#include "app/config_keys.h"
/* clang-format off */
#define FH_CFG_DECLARE_ENUM(list) enum fh_config_##list { FH_CFG_ENUM_##list(FH_CFG_ENUMERATOR) };
/* clang-format on */
FH_CFG_NEW_ENUMS(FH_CFG_DECLARE_ENUM)

/* A list value. Items are owned, trimmed, non-empty and distinct. */
struct fh_config_list {
    char **items;
    size_t n;
};

/* Where a key's current value came from. */
enum fh_config_source {
    FH_CFG_FROM_DEFAULT = 0,
    FH_CFG_FROM_FILE, /* line is the file's line number */
    FH_CFG_FROM_ENV,
    FH_CFG_FROM_SET,
};

struct fh_config_origin {
    enum fh_config_source source;
    int line;      /* FH_CFG_FROM_FILE only */
    bool rejected; /* some source gave an invalid value: skip cross-key checks on this key */
};

/* One [kafka] property, passed to librdkafka verbatim. */
struct fh_config_kv {
    char *key;   /* owned */
    char *value; /* owned */
    struct fh_config_origin origin;
    char *env_name; /* owned; the variable it came from when origin.source is ENV, else NULL */
};

/* Identifiers of the keys: FH_CFGK_<section>_<key>, indexes of fh_config_keys[]. */
enum fh_config_key_id {
#define FH_CFG_KEY(sec, key, type, spec, def, doc) FH_CFGK_##sec##_##key,
#include "app/config_keys.h"
    FH_CONFIG_NKEYS
};

/* The C type of each kind of key. */
#define FH_CFG_FIELD_BOOL(k, spec)     bool k;
#define FH_CFG_FIELD_INT(k, spec)      int64_t k;
#define FH_CFG_FIELD_MS(k, spec)       int64_t k;
#define FH_CFG_FIELD_SIZE(k, spec)     uint64_t k;
#define FH_CFG_FIELD_STRING(k, spec)   char *k;
#define FH_CFG_FIELD_URL(k, spec)      char *k;
#define FH_CFG_FIELD_HOSTPORT(k, spec) char *k;
#define FH_CFG_FIELD_LIST(k, spec)     struct fh_config_list k;
#define FH_CFG_FIELD_ENUMLIST(k, spec) struct fh_config_list k;
#define FH_CFG_ENUM_CTYPE(ctype, list) ctype
#define FH_CFG_FIELD_ENUM(k, spec)     FH_CFG_ENUM_CTYPE spec k;

/*
 * The configuration. Fill it with fh_config_init(), load sources into it, free it with
 * fh_config_release(). Strings are owned by the struct and never NULL ("" when empty).
 * Example: cfg.sink.type, cfg.binance.symbols.items[i], cfg.sink.flush_timeout_ms.
 */
struct fh_config {
#define FH_CFG_SECTION_BEGIN(sec, used_by, doc)    struct fh_config_##sec {
#define FH_CFG_KEY(sec, key, type, spec, def, doc) FH_CFG_FIELD_##type(key, spec)
#define FH_CFG_SECTION_END(sec) \
    }                           \
    sec;
#include "app/config_keys.h"

    /* [kafka]: librdkafka properties in order of first appearance. */
    struct fh_config_kv *kafka;
    size_t kafka_n;
    size_t kafka_cap;

    struct fh_config_origin origin[FH_CONFIG_NKEYS];
    char *file;      /* owned; the configuration file's name as given, for messages */
    bool file_error; /* the file could not be read: cross-key checks would only add noise */
};

/* Kinds of keys (see config_keys.h). */
enum fh_config_type {
    FH_CFG_BOOL,
    FH_CFG_INT,
    FH_CFG_MS,
    FH_CFG_SIZE,
    FH_CFG_STRING,
    FH_CFG_URL,
    FH_CFG_HOSTPORT,
    FH_CFG_LIST,
    FH_CFG_ENUM,
    FH_CFG_ENUMLIST,
};

struct fh_config_enum_value {
    const char *name;
    int value;
};

/* Checks one STRING value or LIST item. Returns 0, or FH_EINVAL with a sentence in err. */
typedef int (*fh_config_check_fn)(const char *s, char *err, size_t errsz);

/* One row of the key table. */
struct fh_config_key {
    const char *section;
    const char *name;
    enum fh_config_type type;
    const char *def; /* default, as text */
    const char *doc;
    int64_t min, max;                          /* INT, MS, SIZE */
    const struct fh_config_enum_value *values; /* ENUM, ENUMLIST */
    size_t nvalues;
    const char *schemes;      /* URL: "ws|wss" */
    bool empty_ok;            /* URL, HOSTPORT: "" is allowed (and means "none") */
    fh_config_check_fn check; /* STRING, LIST: NULL for none */
};

extern const struct fh_config_key fh_config_keys[FH_CONFIG_NKEYS];

struct fh_config_section {
    const char *name;
    const char *used_by;
    const char *doc;
    bool passthrough; /* keys are not in the table but go verbatim to a library ([kafka]) */
};

extern const struct fh_config_section fh_config_sections[];
extern const size_t fh_config_nsections;

/* Returns the key's id, or -1 if section.name is not a key. */
int fh_config_key_find(const char *section, const char *name);

/* Errors collected while loading; at most FH_CONFIG_MAX_ERRORS lines are kept. */
#define FH_CONFIG_MAX_ERRORS 200
struct fh_config_errors {
    char **lines; /* owned */
    size_t n;
    size_t dropped; /* errors past the limit, or lost to allocation failure */
};

void fh_config_errors_init(struct fh_config_errors *e);
void fh_config_errors_release(struct fh_config_errors *e);
static inline bool fh_config_errors_any(const struct fh_config_errors *e)
{
    return e->n > 0 || e->dropped > 0;
}

/* Sets every key to its default. Returns 0 or FH_ENOMEM (then release c). */
int fh_config_init(struct fh_config *c);
/* Frees everything c owns. Safe on a zeroed struct and after a failed init. */
void fh_config_release(struct fh_config *c);

/* Loads an INI file. name is used in messages as given. A file that cannot be read is one
 * error ("FILE:0: cannot read ..."). Call at most once per config, before the other layers. */
void fh_config_load_file(struct fh_config *c, const char *name, struct fh_config_errors *e);
/* The same for INI text in memory (tests); name is used in messages. */
void fh_config_load_string(struct fh_config *c, const char *name, const char *text,
                           struct fh_config_errors *e);
/* Applies FEEDHANDLER_<SECTION>_<KEY> variables from envp (NULL: the process environment).
 * Any other FEEDHANDLER_* variable is an error. */
void fh_config_load_env(struct fh_config *c, const char *const *envp, struct fh_config_errors *e);
/* Applies "section.key=value" arguments (the --set flags), in order. Of several for one
 * key the last wins: only it is applied and checked. */
void fh_config_load_sets(struct fh_config *c, const char *const *args, size_t n,
                         struct fh_config_errors *e);
/* Checks rules that involve several keys. Call after all sources are loaded. */
void fh_config_check(struct fh_config *c, struct fh_config_errors *e);

/* All of the above in order: file, environment (envp as for fh_config_load_env), sets,
 * cross-key checks. Returns 0 if there were no errors, FH_ECONFIG otherwise. */
int fh_config_load(struct fh_config *c, const char *file, const char *const *envp,
                   const char *const *sets, size_t nsets, struct fh_config_errors *e);

/* Writes the value of key id as it would be written in the file (lists joined with ","). */
void fh_config_format(const struct fh_config *c, int id, char *buf, size_t size);
/* Writes where key id's value came from: "default", "FILE:LINE", "env:NAME" or "--set". */
void fh_config_format_origin(const struct fh_config *c, int id, char *buf, size_t size);

/* The value of a [kafka] property, or NULL if it is not set. */
const char *fh_config_kafka_get(const struct fh_config *c, const char *key);

/* Logs the effective configuration, one info line per key (secret-looking [kafka] values are
 * shown as "***"). */
void fh_config_log(const struct fh_config *c);

/* Writes the Markdown row that documents key id (used by `feedhandler config-keys` and by the
 * test that keeps docs/CONFIG.md current). Returns the length, or a value >= size if cut. */
size_t fh_config_key_markdown(int id, char *buf, size_t size);
/* The row documenting the [kafka] passthrough section. */
const char *fh_config_kafka_markdown(void);

/* Value parsers, exposed for tests. Each returns 0, FH_EINVAL (malformed) or FH_ERANGE. */
int fh_config_parse_bool(const char *s, bool *out);
int fh_config_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* Bytes with an optional suffix k, m or g (any case): x1024, x1024^2, x1024^3. */
int fh_config_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
