/*
 * config_doc.c - reporting the configuration: the effective value and origin of every key in
 * the log (secret-looking [kafka] values hidden), and the Markdown key table of
 * docs/CONFIG.md (feedhandler config-keys).
 */
#include "app/config_int.h"

#include "core/err.h"
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- reporting -------------------------------------------------------------------------- */

static bool kafka_secret(const char *key)
{
    static const char *const words[] = {"password", "secret",  "jaas",
                                        "token",    "ssl.key", "oauthbearer.config"};
    for (size_t i = 0; i < ARRAY_LEN(words); i++) {
        if (strstr(key, words[i]) != NULL)
            return true;
    }
    return false;
}

void fh_config_log(const struct fh_config *c)
{
    char value[1024], from[1024];
    struct fh_logq q;
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        fh_config_format(c, id, value, sizeof(value));
        fh_config_format_origin(c, id, from, sizeof(from));
        log_info("config", "key=%s.%s value=%s source=%s", fh_config_keys[id].section,
                 fh_config_keys[id].name, fh_logq(&q, value), from);
    }
    for (size_t i = 0; i < c->kafka_n; i++) {
        const struct fh_config_kv *kv = &c->kafka[i];
        if (kv->origin.source == FH_CFG_FROM_FILE)
            snprintf(from, sizeof(from), "%s:%d", c->file, kv->origin.line);
        else if (kv->origin.source == FH_CFG_FROM_ENV)
            snprintf(from, sizeof(from), "env:%s", kv->env_name ? kv->env_name : "?");
        else
            snprintf(from, sizeof(from), "--set");
        log_info("config", "key=kafka.%s value=%s source=%s", kv->key,
                 kafka_secret(kv->key) ? "\"***\"" : fh_logq(&q, kv->value), from);
    }
}

static const char *type_name(enum fh_config_type t)
{
    switch (t) {
    case FH_CFG_BOOL:
        return "bool";
    case FH_CFG_INT:
        return "integer";
    case FH_CFG_MS:
        return "duration (ms)";
    case FH_CFG_SIZE:
        return "size (bytes)";
    case FH_CFG_STRING:
        return "string";
    case FH_CFG_URL:
        return "URL";
    case FH_CFG_HOSTPORT:
        return "host:port";
    case FH_CFG_LIST:
        return "list";
    case FH_CFG_ENUM:
        return "enum";
    case FH_CFG_ENUMLIST:
        return "list of enum";
    }
    return "?";
}

size_t fh_config_key_markdown(int id, char *buf, size_t size)
{
    const struct fh_config_key *k = &fh_config_keys[id];
    char allowed[256], def[256], schemes[128];
    switch (k->type) {
    case FH_CFG_BOOL:
        snprintf(allowed, sizeof(allowed), "true, false");
        break;
    case FH_CFG_INT:
    case FH_CFG_MS:
    case FH_CFG_SIZE:
        snprintf(allowed, sizeof(allowed), "%lld..%lld", (long long)k->min, (long long)k->max);
        break;
    case FH_CFG_URL:
        cfg_schemes_text(k, schemes, sizeof(schemes));
        snprintf(allowed, sizeof(allowed), "%s URL%s", schemes, k->empty_ok ? ", or empty" : "");
        break;
    case FH_CFG_HOSTPORT:
        snprintf(allowed, sizeof(allowed), "host:port%s", k->empty_ok ? ", or empty" : "");
        break;
    case FH_CFG_ENUM:
    case FH_CFG_ENUMLIST: {
        size_t o = 0;
        allowed[0] = '\0';
        for (size_t i = 0; i < k->nvalues && o < sizeof(allowed); i++) {
            int w = snprintf(allowed + o, sizeof(allowed) - o, "%s%s", i ? ", " : "",
                             k->values[i].name);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        break;
    }
    case FH_CFG_STRING:
    case FH_CFG_LIST:
        snprintf(allowed, sizeof(allowed), "%s",
                 k->type == FH_CFG_LIST ? "comma-separated" : "text");
        break;
    }
    if (k->def[0] == '\0')
        snprintf(def, sizeof(def), "(empty)");
    else
        snprintf(def, sizeof(def), "`%s`", k->def);
    int w = snprintf(buf, size, "| `%s.%s` | %s | %s | %s | %s |", k->section, k->name,
                     type_name(k->type), def, allowed, k->doc);
    return w < 0 ? 0 : (size_t)w;
}

const char *fh_config_kafka_markdown(void)
{
    return "| `kafka.<property>` | librdkafka property | librdkafka's | any producer property "
           "librdkafka accepts | Passed to librdkafka verbatim; checked with rd_kafka_conf_set. |";
}
