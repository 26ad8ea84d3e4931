/*
 * config.c - loading and checking the configuration (see config.h and docs/CONFIG.md).
 *
 * The INI syntax is inih's. inih's handler is not told the line number (Debian builds it
 * without INI_HANDLER_LINENO), so we feed inih through ini_parse_stream with our own reader
 * that hands over exactly one physical line per call and counts them: the handler then runs
 * for the line the reader returned last. The reader also recognises section headers and
 * malformed lines itself, because inih reports only the first syntax error and we report all.
 * Lines it has dealt with reach inih as empty lines.
 */
#include "app/config_int.h"

#include "core/err.h"
#include "core/log.h"
#include "sink/kafka_conf.h"
#include "venue/venue.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* ---- checks referenced by the key table ------------------------------------------------ */

static int check_topic(const char *s, char *err, size_t errsz)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        snprintf(err, errsz, "invalid Kafka topic \"%s\": 1 to 249 characters, not . or ..", s);
        return FH_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-') {
            snprintf(err, errsz,
                     "invalid Kafka topic \"%s\": only letters, digits, '.', '_' and '-'", s);
            return FH_EINVAL;
        }
    }
    return 0;
}

static int check_readable_file(const char *s, char *err, size_t errsz)
{
    struct stat st;
    if (s[0] == '\0')
        return 0;
    if (stat(s, &st) != 0 || access(s, R_OK) != 0) {
        snprintf(err, errsz, "cannot read \"%s\": %s", s, strerror(errno));
        return FH_EINVAL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "\"%s\" is not a regular file", s);
        return FH_EINVAL;
    }
    return 0;
}

/* ---- the tables ------------------------------------------------------------------------- */

#define ENUM_ROW(e, s) {s, (int)(e)},
#define ENUM_TABLE(list) \
    static const struct fh_config_enum_value values_##list[] = {FH_CFG_ENUM_##list(ENUM_ROW)};
#include "app/config_keys.h"
FH_CFG_ENUMS(ENUM_TABLE)

#define SPEC_BOOL()
#define SPEC_INT(lo, hi)      .min = (lo), .max = (hi),
#define SPEC_MS(lo, hi)       .min = (lo), .max = (hi),
#define SPEC_SIZE(lo, hi)     .min = (lo), .max = (hi),
#define SPEC_STRING(fn)       .check = (fn),
#define SPEC_URL(sch, eo)     .schemes = (sch), .empty_ok = (eo),
#define SPEC_HOSTPORT(eo)     .empty_ok = (eo),
#define SPEC_LIST(fn)         .check = (fn),
#define SPEC_ENUM(ctype, lst) .values = values_##lst, .nvalues = ARRAY_LEN(values_##lst),
#define SPEC_ENUMLIST(lst)    .values = values_##lst, .nvalues = ARRAY_LEN(values_##lst),

const struct fh_config_key fh_config_keys[FH_CONFIG_NKEYS] = {
#define FH_CFG_KEY(s_, k_, t_, sp_, d_, doc_) \
    [FH_CFGK_##s_##_##k_] = {                 \
        .section = #s_, .name = #k_, .type = FH_CFG_##t_, .def = d_, .doc = doc_, SPEC_##t_ sp_},
#include "app/config_keys.h"
};

const struct fh_config_section fh_config_sections[] = {
#define FH_CFG_SECTION_BEGIN(s_, used_, doc_) {#s_, used_, doc_, false},
#define FH_CFG_PASSTHROUGH(s_, used_, doc_)   {#s_, used_, doc_, true},
#include "app/config_keys.h"
};
const size_t fh_config_nsections = ARRAY_LEN(fh_config_sections);

int fh_config_key_find(const char *section, const char *name)
{
    for (int i = 0; i < FH_CONFIG_NKEYS; i++) {
        if (strcmp(fh_config_keys[i].section, section) == 0 &&
            strcmp(fh_config_keys[i].name, name) == 0)
            return i;
    }
    return -1;
}

int cfg_section_find(const char *name)
{
    for (size_t i = 0; i < fh_config_nsections; i++) {
        if (strcmp(fh_config_sections[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* ---- errors ----------------------------------------------------------------------------- */

void fh_config_errors_init(struct fh_config_errors *e)
{
    memset(e, 0, sizeof(*e));
}

void fh_config_errors_release(struct fh_config_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->lines[i]);
    free(e->lines);
    memset(e, 0, sizeof(*e));
}

void cfg_add_error(struct fh_config_errors *e, const char *fmt, ...) FH_PRINTF(2, 3);
void cfg_add_error(struct fh_config_errors *e, const char *fmt, ...)
{
    if (e->n >= FH_CONFIG_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    if (e->lines == NULL) {
        e->lines = calloc(FH_CONFIG_MAX_ERRORS, sizeof(*e->lines));
        if (e->lines == NULL) {
            e->dropped++;
            return;
        }
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *line = strdup(buf);
    if (line == NULL) {
        e->dropped++;
        return;
    }
    e->lines[e->n++] = line;
}

/* ---- where a value came from ------------------------------------------------------------ */

static void env_name_of(const char *section, const char *key, char *buf, size_t size)
{
    int w = snprintf(buf, size, ENV_PREFIX "%s_%s", section, key);
    for (int i = 0; w > 0 && i < w && (size_t)i < size; i++) {
        char ch = buf[i];
        buf[i] = ch == '.' ? '_' : (char)toupper((unsigned char)ch);
    }
}

/* The message prefix for key id's current value: FILE:LINE, env:NAME, --set:s.k or FILE:0. */
static void where_of(const struct fh_config *c, int id, char *buf, size_t size)
{
    const struct fh_config_key *k = &fh_config_keys[id];
    const struct fh_config_origin *o = &c->origin[id];
    char env[128];
    switch (o->source) {
    case FH_CFG_FROM_FILE:
        snprintf(buf, size, "%s:%d", c->file, o->line);
        break;
    case FH_CFG_FROM_ENV:
        env_name_of(k->section, k->name, env, sizeof(env));
        snprintf(buf, size, "env:%s", env);
        break;
    case FH_CFG_FROM_SET:
        snprintf(buf, size, "--set:%s.%s", k->section, k->name);
        break;
    case FH_CFG_FROM_DEFAULT:
        snprintf(buf, size, "%s:0", c->file != NULL ? c->file : "(defaults)");
        break;
    }
}

void fh_config_format_origin(const struct fh_config *c, int id, char *buf, size_t size)
{
    if (c->origin[id].source == FH_CFG_FROM_DEFAULT)
        snprintf(buf, size, "default");
    else if (c->origin[id].source == FH_CFG_FROM_SET)
        snprintf(buf, size, "--set");
    else
        where_of(c, id, buf, size);
}

/* ---- applying values -------------------------------------------------------------------- */

/* Errors about a value name the key when the prefix does not (a file line, a default). */
static void value_error(struct fh_config_errors *e, const struct source *src, const char *section,
                        const char *key, const char *msg)
{
    if (src->origin.source == FH_CFG_FROM_FILE || src->origin.source == FH_CFG_FROM_DEFAULT)
        cfg_add_error(e, "%s: %s.%s: %s", src->where, section, key, msg);
    else
        cfg_add_error(e, "%s: %s", src->where, msg);
}

void cfg_apply_key(struct fh_config *c, int id, const char *text, const struct source *src,
                   struct fh_config_errors *e)
{
    const struct fh_config_key *k = &fh_config_keys[id];
    char err[ERRBUF] = "";
    struct value v;
    memset(&v, 0, sizeof(v));
    int rc = cfg_parse_value(k, text, &v, err, sizeof(err));
    if (rc == FH_ENOMEM)
        snprintf(err, sizeof(err), "out of memory");
    if (rc != 0) {
        c->origin[id].rejected = true;
        value_error(e, src, k->section, k->name, err);
    } else {
        cfg_store(c, id, &v);
        bool rejected = c->origin[id].rejected;
        c->origin[id] = src->origin;
        c->origin[id].rejected = rejected;
    }
    cfg_value_release(&v);
}

static struct fh_config_kv *kafka_find(const struct fh_config *c, const char *key)
{
    for (size_t i = 0; i < c->kafka_n; i++) {
        if (strcmp(c->kafka[i].key, key) == 0)
            return &c->kafka[i];
    }
    return NULL;
}

const char *fh_config_kafka_get(const struct fh_config *c, const char *key)
{
    const struct fh_config_kv *kv = kafka_find(c, key);
    return kv != NULL ? kv->value : NULL;
}

void cfg_apply_kafka(struct fh_config *c, const char *key, const char *value,
                     const struct source *src, struct fh_config_errors *e)
{
    char err[ERRBUF];
    if (fh_kafka_conf_check(key, value, err, sizeof(err)) != 0) {
        value_error(e, src, PASSTHROUGH_SECTION, key, err);
        return;
    }
    struct fh_config_kv *kv = kafka_find(c, key);
    if (kv == NULL) {
        if (c->kafka_n == c->kafka_cap) {
            size_t cap = c->kafka_cap ? c->kafka_cap * 2 : 8;
            struct fh_config_kv *p = realloc(c->kafka, cap * sizeof(*p));
            if (p == NULL)
                goto oom;
            c->kafka = p;
            c->kafka_cap = cap;
        }
        kv = &c->kafka[c->kafka_n];
        memset(kv, 0, sizeof(*kv));
        if ((kv->key = strdup(key)) == NULL)
            goto oom;
        c->kafka_n++;
    }
    char *val = strdup(value);
    char *env = src->env_name != NULL ? strdup(src->env_name) : NULL;
    if (val == NULL || (src->env_name != NULL && env == NULL)) {
        free(val);
        free(env);
        goto oom;
    }
    free(kv->value);
    free(kv->env_name);
    kv->value = val;
    kv->env_name = env;
    kv->origin = src->origin;
    return;
oom:
    value_error(e, src, PASSTHROUGH_SECTION, key, "out of memory");
}

void cfg_seen_release(struct seen *s)
{
    for (size_t i = 0; i < s->kafka_n; i++)
        free(s->kafka[i].name);
    free(s->kafka);
}

/* Returns the line where the key was seen before (or 0, and records it at line). */
int cfg_seen_check(struct seen *s, int id, const char *kafka_key, int line)
{
    if (id >= 0) {
        int prev = s->line[id];
        if (prev == 0)
            s->line[id] = line;
        return prev;
    }
    for (size_t i = 0; i < s->kafka_n; i++) {
        if (strcmp(s->kafka[i].name, kafka_key) == 0)
            return s->kafka[i].line;
    }
    void *p = realloc(s->kafka, (s->kafka_n + 1) * sizeof(*s->kafka));
    if (p == NULL)
        return 0; /* losing duplicate detection is better than losing the value */
    s->kafka = p;
    if ((s->kafka[s->kafka_n].name = strdup(kafka_key)) != NULL)
        s->kafka[s->kafka_n++].line = line;
    return 0;
}

/* Lists the keys of a section, for "unknown key" messages. */
void cfg_section_keys(const char *section, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < FH_CONFIG_NKEYS && o < size; i++) {
        if (strcmp(fh_config_keys[i].section, section) != 0)
            continue;
        int w = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", fh_config_keys[i].name);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

void cfg_section_names(char *buf, size_t size, bool upper)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < fh_config_nsections && o < size; i++) {
        int w = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", fh_config_sections[i].name);
        if (w < 0)
            break;
        for (size_t j = o; upper && j < o + (size_t)w && j < size; j++)
            buf[j] = (char)toupper((unsigned char)buf[j]);
        o += (size_t)w;
    }
}

/* ---- rules across keys ------------------------------------------------------------------ */

static void key_error(const struct fh_config *c, int id, struct fh_config_errors *e,
                      const char *msg)
{
    char where[1024];
    where_of(c, id, where, sizeof(where));
    cfg_add_error(e, "%s: %s", where, msg);
}

/* Of two keys involved in a rule, the one to point at: the first that was set somewhere. */
static int pick(const struct fh_config *c, int a, int b)
{
    if (c->origin[a].source == FH_CFG_FROM_DEFAULT && c->origin[b].source != FH_CFG_FROM_DEFAULT)
        return b;
    return a;
}

bool cfg_ok(const struct fh_config *c, int id)
{
    return !c->origin[id].rejected;
}

static void check_venue(const struct fh_config *c, const char *venue, bool enabled,
                        const struct fh_config_list *symbols, int id_enabled, int id_symbols,
                        struct fh_config_errors *e)
{
    char msg[256];
    if (enabled && symbols->n == 0 && cfg_ok(c, id_enabled) && cfg_ok(c, id_symbols)) {
        snprintf(msg, sizeof(msg), "%s.enabled is true but %s.symbols is empty", venue, venue);
        key_error(c, pick(c, id_symbols, id_enabled), e, msg);
    }
}

void fh_config_check(struct fh_config *c, struct fh_config_errors *e)
{
    if (c->file_error)
        return;
    if (c->sink.type == FH_SINK_TYPE_FILE && c->sink.path[0] == '\0' &&
        cfg_ok(c, FH_CFGK_sink_path))
        key_error(c, FH_CFGK_sink_type, e, "sink.type=file requires sink.path");
    if (c->sink.type == FH_SINK_TYPE_KAFKA && fh_config_kafka_get(c, "bootstrap.servers") == NULL &&
        fh_config_kafka_get(c, "metadata.broker.list") == NULL)
        key_error(c, FH_CFGK_sink_type, e,
                  "sink.type=kafka requires [kafka] bootstrap.servers (host:port of the brokers)");
    check_venue(c, "binance", c->binance.enabled, &c->binance.symbols, FH_CFGK_binance_enabled,
                FH_CFGK_binance_symbols, e);
    check_venue(c, "kraken", c->kraken.enabled, &c->kraken.symbols, FH_CFGK_kraken_enabled,
                FH_CFGK_kraken_symbols, e);
    if (c->binance.enabled && c->binance.channels.n == 0 && cfg_ok(c, FH_CFGK_binance_channels))
        key_error(c, FH_CFGK_binance_channels, e,
                  "binance.enabled is true but binance.channels is empty");
    if (!c->binance.enabled && !c->kraken.enabled && cfg_ok(c, FH_CFGK_binance_enabled) &&
        cfg_ok(c, FH_CFGK_kraken_enabled))
        key_error(c, pick(c, FH_CFGK_binance_enabled, FH_CFGK_kraken_enabled), e,
                  "no venue is enabled: set binance.enabled or kraken.enabled to true");
}

/* ---- life cycle ------------------------------------------------------------------------- */

int fh_config_init(struct fh_config *c)
{
    char err[ERRBUF];
    memset(c, 0, sizeof(*c));
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        struct value v;
        memset(&v, 0, sizeof(v));
        /* Defaults go through the same parser as configured values; unit.config checks that
         * every default parses. */
        int rc = cfg_parse_value(&fh_config_keys[id], fh_config_keys[id].def, &v, err, sizeof(err));
        if (rc != 0) {
            cfg_value_release(&v);
            return rc == FH_ENOMEM ? FH_ENOMEM : FH_ECONFIG;
        }
        cfg_store(c, id, &v);
        cfg_value_release(&v);
    }
    return 0;
}

void fh_config_release(struct fh_config *c)
{
#define FREE_BOOL(f)
#define FREE_INT(f)
#define FREE_MS(f)
#define FREE_SIZE(f)
#define FREE_ENUM(f)
#define FREE_STRING(f)                        free(f)
#define FREE_URL(f)                           free(f)
#define FREE_HOSTPORT(f)                      free(f)
#define FREE_LIST(f)                          cfg_list_release(&(f))
#define FREE_ENUMLIST(f)                      cfg_list_release(&(f))
#define FH_CFG_KEY(s_, k_, t_, sp_, d_, doc_) FREE_##t_(c->s_.k_);
#include "app/config_keys.h"
    for (size_t i = 0; i < c->kafka_n; i++) {
        free(c->kafka[i].key);
        free(c->kafka[i].value);
        free(c->kafka[i].env_name);
    }
    free(c->kafka);
    free(c->file);
    memset(c, 0, sizeof(*c));
}

int fh_config_load(struct fh_config *c, const char *file, const char *const *envp,
                   const char *const *sets, size_t nsets, struct fh_config_errors *e)
{
    size_t before = e->n + e->dropped;
    fh_config_load_file(c, file, e);
    if (!c->file_error) {
        fh_config_load_env(c, envp, e);
        fh_config_load_sets(c, sets, nsets, e);
        fh_config_check(c, e);
    }
    return e->n + e->dropped == before ? 0 : FH_ECONFIG;
}
