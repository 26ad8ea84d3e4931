/*
 * config_value.c - one value of a key's type: parsed from text (booleans, integers, durations,
 * sizes with suffixes, URLs, host:port, lists, enumerations), checked against the key's
 * bounds and check function, stored into struct fh_config, and shown back as text.
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

/* ---- values ----------------------------------------------------------------------------- */

void cfg_list_release(struct fh_config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void cfg_value_release(struct value *v)
{
    free(v->s);
    v->s = NULL;
    cfg_list_release(&v->list);
}

static bool has_control_char(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            return true;
    }
    return false;
}

int fh_config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return FH_EINVAL;
}

int fh_config_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    /* strtoll would skip leading blanks and accept a bare sign; the file syntax does not. */
    const char *d = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    if (!isdigit((unsigned char)d[0]))
        return FH_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0')
        return FH_EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return FH_ERANGE;
    *out = v;
    return 0;
}

int fh_config_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return FH_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        return FH_EINVAL;
    }
    if (shift != 0 && end[1] != '\0')
        return FH_EINVAL;
    if (errno == ERANGE || v > (UINT64_MAX >> shift))
        return FH_ERANGE;
    v <<= shift;
    if (v < min || v > max)
        return FH_ERANGE;
    *out = v;
    return 0;
}

/* Checks a port number in [s, s+n). */
static bool port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Checks "host[:port]" (port_required: "host:port") in [s, s+n); IPv6 hosts in brackets.
 * Returns NULL or the reason it is wrong. */
static const char *authority_problem(const char *s, size_t n, bool port_required)
{
    const char *host_end;
    if (n == 0)
        return "no host";
    if (memchr(s, '@', n) != NULL)
        return "user information (user@host) is not supported";
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL || close == s + 1)
            return "unterminated or empty [IPv6] host";
        host_end = close + 1;
    } else {
        host_end = memchr(s, ':', n);
        if (host_end == NULL)
            host_end = s + n;
        if (host_end == s)
            return "no host";
    }
    size_t rest = n - (size_t)(host_end - s);
    if (rest == 0)
        return port_required ? "no port (expected host:port)" : NULL;
    if (*host_end != ':' || !port_ok(host_end + 1, rest - 1))
        return "invalid port (expected 1..65535)";
    return NULL;
}

/* Writes k->schemes ("ws|wss") as "ws:// or wss://". */
void cfg_schemes_text(const struct fh_config_key *k, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (const char *p = k->schemes; *p != '\0' && o < size;) {
        size_t n = strcspn(p, "|");
        int w = snprintf(buf + o, size - o, "%s%.*s://", o ? " or " : "", (int)n, p);
        if (w < 0)
            break;
        o += (size_t)w;
        p += n + (p[n] == '|');
    }
}

static int check_url(const struct fh_config_key *k, const char *s, char *err, size_t errsz)
{
    const char *sep = strstr(s, "://");
    const char *why = NULL;
    if (sep == NULL || sep == s) {
        why = "no scheme (expected scheme://host...)";
    } else {
        /* The scheme must be one of k->schemes, a '|'-separated list. */
        size_t slen = (size_t)(sep - s);
        bool known = false;
        for (const char *p = k->schemes; *p != '\0' && !known;) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            known = n == slen && strncasecmp(p, s, n) == 0;
            p += n + (bar ? 1 : 0);
        }
        if (!known) {
            char list[128];
            cfg_schemes_text(k, list, sizeof(list));
            snprintf(err, errsz, "invalid URL \"%s\": expected %s", s, list);
            return FH_EINVAL;
        }
        const char *host = sep + 3;
        size_t hlen = strcspn(host, "/?#");
        if (strpbrk(s, " \t") != NULL)
            why = "contains blanks";
        else
            why = authority_problem(host, hlen, false);
    }
    if (why != NULL) {
        snprintf(err, errsz, "invalid URL \"%s\": %s", s, why);
        return FH_EINVAL;
    }
    return 0;
}

static const struct fh_config_enum_value *enum_find(const struct fh_config_key *k, const char *s)
{
    for (size_t i = 0; i < k->nvalues; i++) {
        if (strcasecmp(k->values[i].name, s) == 0)
            return &k->values[i];
    }
    return NULL;
}

/* Writes "a, b or c" from k's names. */
static void enum_names(const struct fh_config_key *k, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < k->nvalues && o < size; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == k->nvalues ? " or " : ", ");
        int w = snprintf(buf + o, size - o, "%s%s", sep, k->values[i].name);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

char *cfg_dup_trimmed(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

static int parse_list(const struct fh_config_key *k, const char *s, struct fh_config_list *out,
                      char *err, size_t errsz)
{
    char names[128];
    int rc = 0;
    if (s[0] == '\0')
        return 0;
    size_t cap = 1;
    for (const char *p = s; *p != '\0'; p++)
        cap += *p == ',';
    out->items = calloc(cap, sizeof(*out->items));
    if (out->items == NULL)
        return FH_ENOMEM;
    for (const char *p = s;;) {
        size_t n = strcspn(p, ",");
        char *item = cfg_dup_trimmed(p, n);
        if (item == NULL)
            return FH_ENOMEM;
        if (item[0] == '\0') {
            snprintf(err, errsz, "empty item in list \"%s\" (two commas, or a comma at an end)", s);
            rc = FH_EINVAL;
        } else if (k->type == FH_CFG_ENUMLIST) {
            const struct fh_config_enum_value *ev = enum_find(k, item);
            if (ev == NULL) {
                enum_names(k, names, sizeof(names));
                snprintf(err, errsz, "invalid item \"%s\" (expected %s)", item, names);
                rc = FH_EINVAL;
            } else {
                char *canon = strdup(ev->name); /* cfg_store the documented spelling */
                free(item);
                item = canon;
                if (item == NULL)
                    return FH_ENOMEM;
            }
        } else if (k->check != NULL) {
            rc = k->check(item, err, errsz);
        }
        for (size_t i = 0; rc == 0 && i < out->n; i++) {
            if (strcmp(out->items[i], item) == 0) {
                snprintf(err, errsz, "duplicate item \"%s\" in list", item);
                rc = FH_EINVAL;
            }
        }
        if (rc != 0) {
            free(item);
            return rc;
        }
        out->items[out->n++] = item;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return 0;
}

/* Parses text as a value of key k into v (which the caller releases). On error, err says why
 * in a sentence that does not name the key. */
int cfg_parse_value(const struct fh_config_key *k, const char *s, struct value *v, char *err,
                    size_t errsz)
{
    char names[128];
    int rc;
    if (has_control_char(s)) {
        snprintf(err, errsz, "the value contains a control character");
        return FH_EINVAL;
    }
    switch (k->type) {
    case FH_CFG_BOOL:
        if (fh_config_parse_bool(s, &v->b) != 0) {
            snprintf(err, errsz,
                     "invalid boolean \"%s\" (expected true/false, yes/no, on/off or 1/0)", s);
            return FH_EINVAL;
        }
        return 0;
    case FH_CFG_INT:
    case FH_CFG_MS:
        rc = fh_config_parse_int(s, k->min, k->max, &v->i);
        if (rc == FH_EINVAL && k->type == FH_CFG_MS)
            snprintf(err, errsz,
                     "invalid duration \"%s\" (a whole number of milliseconds, without a unit)", s);
        else if (rc == FH_EINVAL)
            snprintf(err, errsz, "invalid integer \"%s\"", s);
        else if (rc != 0)
            snprintf(err, errsz, "%s is out of range %lld..%lld", s, (long long)k->min,
                     (long long)k->max);
        return rc;
    case FH_CFG_SIZE:
        rc = fh_config_parse_size(s, (uint64_t)k->min, (uint64_t)k->max, &v->u);
        if (rc == FH_EINVAL)
            snprintf(err, errsz, "invalid size \"%s\" (bytes, optionally with k, m or g)", s);
        else if (rc != 0)
            snprintf(err, errsz, "%s is out of range %lld..%lld bytes", s, (long long)k->min,
                     (long long)k->max);
        return rc;
    case FH_CFG_STRING:
        if (k->check != NULL && (rc = k->check(s, err, errsz)) != 0)
            return rc;
        break;
    case FH_CFG_URL:
        if (!(s[0] == '\0' && k->empty_ok) && (rc = check_url(k, s, err, errsz)) != 0)
            return rc;
        break;
    case FH_CFG_HOSTPORT:
        if (!(s[0] == '\0' && k->empty_ok)) {
            const char *why = strpbrk(s, " \t/") != NULL ? "unexpected character"
                                                         : authority_problem(s, strlen(s), true);
            if (why != NULL) {
                snprintf(err, errsz, "invalid address \"%s\": %s", s, why);
                return FH_EINVAL;
            }
        }
        break;
    case FH_CFG_LIST:
    case FH_CFG_ENUMLIST:
        return parse_list(k, s, &v->list, err, errsz);
    case FH_CFG_ENUM: {
        const struct fh_config_enum_value *ev = enum_find(k, s);
        if (ev == NULL) {
            enum_names(k, names, sizeof(names));
            snprintf(err, errsz, "invalid value \"%s\" (expected %s)", s, names);
            return FH_EINVAL;
        }
        v->e = ev->value;
        return 0;
    }
    }
    v->s = strdup(s);
    return v->s == NULL ? FH_ENOMEM : 0;
}

/* Moving a parsed value into, and a view of it out of, the typed field. Strings and lists are
 * handed over (the struct value gives up ownership); views borrow. */
#define STORE_BOOL(dst, v) (dst) = (v)->b
#define STORE_INT(dst, v)  (dst) = (v)->i
#define STORE_MS(dst, v)   (dst) = (v)->i
#define STORE_SIZE(dst, v) (dst) = (v)->u
#define STORE_ENUM(dst, v) (dst) = (v)->e
#define STORE_STR(dst, v) \
    do {                  \
        free(dst);        \
        (dst) = (v)->s;   \
        (v)->s = NULL;    \
    } while (0)
#define STORE_STRING(dst, v)   STORE_STR(dst, v)
#define STORE_URL(dst, v)      STORE_STR(dst, v)
#define STORE_HOSTPORT(dst, v) STORE_STR(dst, v)
#define STORE_LST(dst, v)                       \
    do {                                        \
        cfg_list_release(&(dst));               \
        (dst) = (v)->list;                      \
        (v)->list = (struct fh_config_list){0}; \
    } while (0)
#define STORE_LIST(dst, v)     STORE_LST(dst, v)
#define STORE_ENUMLIST(dst, v) STORE_LST(dst, v)

#define VIEW_BOOL(src, v)     (v)->b = (src)
#define VIEW_INT(src, v)      (v)->i = (src)
#define VIEW_MS(src, v)       (v)->i = (src)
#define VIEW_SIZE(src, v)     (v)->u = (src)
#define VIEW_ENUM(src, v)     (v)->e = (int)(src)
#define VIEW_STRING(src, v)   (v)->s = (src)
#define VIEW_URL(src, v)      (v)->s = (src)
#define VIEW_HOSTPORT(src, v) (v)->s = (src)
#define VIEW_LIST(src, v)     (v)->list = (src)
#define VIEW_ENUMLIST(src, v) (v)->list = (src)

void cfg_store(struct fh_config *c, int id, struct value *v)
{
    switch ((enum fh_config_key_id)id) {
#define FH_CFG_KEY(s_, k_, t_, sp_, d_, doc_) \
    case FH_CFGK_##s_##_##k_:                 \
        STORE_##t_(c->s_.k_, v);              \
        break;
#include "app/config_keys.h"
    case FH_CONFIG_NKEYS:
        break;
    }
}

/* Fills v with borrowed views of key id's current value; do not release v. */
static void view(const struct fh_config *c, int id, struct value *v)
{
    memset(v, 0, sizeof(*v));
    switch ((enum fh_config_key_id)id) {
#define FH_CFG_KEY(s_, k_, t_, sp_, d_, doc_) \
    case FH_CFGK_##s_##_##k_:                 \
        VIEW_##t_(c->s_.k_, v);               \
        break;
#include "app/config_keys.h"
    case FH_CONFIG_NKEYS:
        break;
    }
}

void fh_config_format(const struct fh_config *c, int id, char *buf, size_t size)
{
    const struct fh_config_key *k = &fh_config_keys[id];
    struct value v;
    view(c, id, &v);
    buf[0] = '\0';
    switch (k->type) {
    case FH_CFG_BOOL:
        snprintf(buf, size, "%s", v.b ? "true" : "false");
        break;
    case FH_CFG_INT:
    case FH_CFG_MS:
        snprintf(buf, size, "%lld", (long long)v.i);
        break;
    case FH_CFG_SIZE:
        snprintf(buf, size, "%llu", (unsigned long long)v.u);
        break;
    case FH_CFG_STRING:
    case FH_CFG_URL:
    case FH_CFG_HOSTPORT:
        snprintf(buf, size, "%s", v.s != NULL ? v.s : "");
        break;
    case FH_CFG_LIST:
    case FH_CFG_ENUMLIST: {
        size_t o = 0;
        for (size_t i = 0; i < v.list.n && o < size; i++) {
            int w = snprintf(buf + o, size - o, "%s%s", i ? "," : "", v.list.items[i]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        break;
    }
    case FH_CFG_ENUM:
        for (size_t i = 0; i < k->nvalues; i++) {
            if (k->values[i].value == v.e)
                snprintf(buf, size, "%s", k->values[i].name);
        }
        break;
    }
}
