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
#include "app/config.h"

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

#define ARRAY_LEN(a)        (sizeof(a) / sizeof((a)[0]))
#define FH_CONFIG_MAX_FILE  (1024 * 1024)
#define ENV_PREFIX          "FEEDHANDLER_"
#define PASSTHROUGH_SECTION "kafka"
#define ERRBUF              512

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

static int section_find(const char *name)
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

static void add_error(struct fh_config_errors *e, const char *fmt, ...) FH_PRINTF(2, 3);
static void add_error(struct fh_config_errors *e, const char *fmt, ...)
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

/* ---- values ----------------------------------------------------------------------------- */

/* A parsed value of any type; only the member of the key's type is meaningful. */
struct value {
    bool b;
    int64_t i;
    uint64_t u;
    int e;
    char *s;
    struct fh_config_list list;
};

static void list_release(struct fh_config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void value_release(struct value *v)
{
    free(v->s);
    v->s = NULL;
    list_release(&v->list);
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
static void schemes_text(const struct fh_config_key *k, char *buf, size_t size)
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
            schemes_text(k, list, sizeof(list));
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

static char *dup_trimmed(const char *s, size_t n)
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
        char *item = dup_trimmed(p, n);
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
                char *canon = strdup(ev->name); /* store the documented spelling */
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
static int parse_value(const struct fh_config_key *k, const char *s, struct value *v, char *err,
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
        list_release(&(dst));                   \
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

static void store(struct fh_config *c, int id, struct value *v)
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

/* Where a value being applied comes from, for its origin and its error messages. */
struct source {
    struct fh_config_origin origin;
    const char *where;    /* message prefix: "FILE:LINE", "env:NAME", "--set:s.k" */
    const char *env_name; /* ENV only */
};

/* Errors about a value name the key when the prefix does not (a file line, a default). */
static void value_error(struct fh_config_errors *e, const struct source *src, const char *section,
                        const char *key, const char *msg)
{
    if (src->origin.source == FH_CFG_FROM_FILE || src->origin.source == FH_CFG_FROM_DEFAULT)
        add_error(e, "%s: %s.%s: %s", src->where, section, key, msg);
    else
        add_error(e, "%s: %s", src->where, msg);
}

static void apply_key(struct fh_config *c, int id, const char *text, const struct source *src,
                      struct fh_config_errors *e)
{
    const struct fh_config_key *k = &fh_config_keys[id];
    char err[ERRBUF] = "";
    struct value v;
    memset(&v, 0, sizeof(v));
    int rc = parse_value(k, text, &v, err, sizeof(err));
    if (rc == FH_ENOMEM)
        snprintf(err, sizeof(err), "out of memory");
    if (rc != 0) {
        c->origin[id].rejected = true;
        value_error(e, src, k->section, k->name, err);
    } else {
        store(c, id, &v);
        bool rejected = c->origin[id].rejected;
        c->origin[id] = src->origin;
        c->origin[id].rejected = rejected;
    }
    value_release(&v);
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

static void apply_kafka(struct fh_config *c, const char *key, const char *value,
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

/* Names seen in one source, to report duplicates: typed keys by id, [kafka] keys by name. */
struct seen {
    int line[FH_CONFIG_NKEYS]; /* where each key was first given; 0: not yet */
    struct {
        char *name;
        int line;
    } * kafka;
    size_t kafka_n;
};

static void seen_release(struct seen *s)
{
    for (size_t i = 0; i < s->kafka_n; i++)
        free(s->kafka[i].name);
    free(s->kafka);
}

/* Returns the line where the key was seen before (or 0, and records it at line). */
static int seen_check(struct seen *s, int id, const char *kafka_key, int line)
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
static void section_keys(const char *section, char *buf, size_t size)
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

static void section_names(char *buf, size_t size, bool upper)
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

/* ---- the file --------------------------------------------------------------------------- */

struct ini_ctx {
    struct fh_config *c;
    struct fh_config_errors *e;
    const char *text;
    size_t len;
    size_t pos;
    int lineno;
    int section; /* index in fh_config_sections; NO_SECTION or BAD_SECTION */
    struct seen seen;
};

#define NO_SECTION  (-1) /* before the first header */
#define BAD_SECTION (-2) /* in an unknown or malformed section, already reported */

static void line_error(struct ini_ctx *x, const char *fmt, ...) FH_PRINTF(2, 3);
static void line_error(struct ini_ctx *x, const char *fmt, ...)
{
    char msg[ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    add_error(x->e, "%s:%d: %s", x->c->file, x->lineno, msg);
}

/* Handles a section header p[0..n) (p[0] is '['). Returns the line to give inih. */
static const char *ini_section(struct ini_ctx *x, const char *p, size_t n, char *out, size_t outsz)
{
    char known[256];
    const char *close = memchr(p, ']', n);
    x->section = BAD_SECTION;
    if (close == NULL) {
        line_error(x, "section header without a closing ']'");
        return "\n";
    }
    const char *after = close + 1;
    size_t rest = n - (size_t)(after - p);
    while (rest > 0 && isspace((unsigned char)*after)) {
        after++;
        rest--;
    }
    if (rest > 0 && *after != ';' && *after != '#') {
        line_error(x, "unexpected text after the section header");
        return "\n";
    }
    char *name = dup_trimmed(p + 1, (size_t)(close - p - 1));
    if (name == NULL) {
        line_error(x, "out of memory");
        return "\n";
    }
    int idx = section_find(name);
    if (idx < 0) {
        section_names(known, sizeof(known), false);
        line_error(x, "unknown section [%s] (known sections: %s)", name, known);
        free(name);
        return "\n";
    }
    x->section = idx;
    snprintf(out, outsz, "[%s]\n", name);
    free(name);
    return out;
}

/* inih's reader: returns the next physical line, or what inih should see in its place. */
static char *ini_read_line(char *dst, int num, void *stream)
{
    struct ini_ctx *x = stream;
    if (x->pos >= x->len)
        return NULL;
    const char *p = x->text + x->pos;
    const char *nl = memchr(p, '\n', x->len - x->pos);
    size_t n = nl != NULL ? (size_t)(nl - p) : x->len - x->pos;
    const char *give = "\n";
    x->pos += n + (nl != NULL);
    x->lineno++;
    if (x->lineno == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3; /* a UTF-8 byte order mark */
        n -= 3;
    }
    while (n > 0 && isspace((unsigned char)*p)) {
        /* Leading blanks are dropped, so inih never sees a continuation line. */
        p++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    if (memchr(p, '\0', n) != NULL) {
        line_error(x, "NUL byte in the line");
    } else if (num < 3 || n > (size_t)num - 2) {
        line_error(x,
                   "line longer than %d characters (give long values with --set or the "
                   "environment)",
                   num - 2);
    } else if (n == 0 || p[0] == ';' || p[0] == '#') {
        /* blank or comment */
    } else if (p[0] == '[') {
        give = ini_section(x, p, n, dst, (size_t)num);
    } else {
        /* A key line, as inih splits it: the first '=' or ':' ends the name, unless an
         * inline comment (';' after a blank) comes first. */
        bool split = false;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '=' || p[i] == ':') {
                split = true;
                break;
            }
            if (p[i] == ';' && i > 0 && isspace((unsigned char)p[i - 1]))
                break;
        }
        if (!split) {
            line_error(x, "expected 'key = value', a [section] header or a comment");
        } else {
            memcpy(dst, p, n);
            dst[n] = '\n';
            dst[n + 1] = '\0';
            return dst;
        }
    }
    if (give != dst)
        snprintf(dst, (size_t)num, "%s", give);
    return dst;
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    char known[256];
    char where[1024];
    (void)section; /* we track sections ourselves, with their validity */
    if (x->section == BAD_SECTION)
        return 1;
    if (x->section == NO_SECTION) {
        line_error(x, "key \"%s\" is outside any [section]", name);
        return 1;
    }
    const struct fh_config_section *sec = &fh_config_sections[x->section];
    if (name[0] == '\0') {
        line_error(x, "missing key name before '='");
        return 1;
    }
    int id = -1;
    if (!sec->passthrough) {
        id = fh_config_key_find(sec->name, name);
        if (id < 0) {
            section_keys(sec->name, known, sizeof(known));
            line_error(x, "unknown key \"%s\" in [%s] (known keys: %s)", name, sec->name, known);
            return 1;
        }
    }
    int prev = seen_check(&x->seen, id, name, x->lineno);
    if (prev != 0) {
        line_error(x, "duplicate key %s.%s (first given on line %d)", sec->name, name, prev);
        return 1;
    }
    snprintf(where, sizeof(where), "%s:%d", x->c->file, x->lineno);
    struct source src = {{FH_CFG_FROM_FILE, x->lineno, false}, where, NULL};
    if (sec->passthrough)
        apply_kafka(x->c, name, value, &src, x->e);
    else
        apply_key(x->c, id, value, &src, x->e);
    return 1;
}

static int set_file_name(struct fh_config *c, const char *name)
{
    free(c->file);
    c->file = strdup(name);
    return c->file == NULL ? FH_ENOMEM : 0;
}

static void load_text(struct fh_config *c, const char *text, size_t len, struct fh_config_errors *e)
{
    struct ini_ctx x;
    memset(&x, 0, sizeof(x));
    x.c = c;
    x.e = e;
    x.text = text;
    x.len = len;
    x.section = NO_SECTION;
    int rc = ini_parse_stream(ini_read_line, &x, ini_on_value, &x);
    /* The reader hands inih only lines it has checked, so inih should find no error; if it
     * does (a future inih being stricter), report it rather than lose it. */
    if (rc == -2)
        add_error(e, "%s:0: out of memory while parsing", c->file);
    else if (rc != 0)
        add_error(e, "%s:%d: syntax error", c->file, rc);
    seen_release(&x.seen);
}

void fh_config_load_string(struct fh_config *c, const char *name, const char *text,
                           struct fh_config_errors *e)
{
    if (set_file_name(c, name) != 0) {
        add_error(e, "%s:0: out of memory", name);
        c->file_error = true;
        return;
    }
    load_text(c, text, strlen(text), e);
}

/* Reads a whole (small) file. Returns 0, -errno, or FH_ERANGE if it is over the limit. */
static int read_small_file(const char *path, char **out, size_t *len)
{
    int rc = 0;
    char *buf = NULL;
    size_t n = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    buf = malloc(FH_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        rc = FH_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, FH_CONFIG_MAX_FILE + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > FH_CONFIG_MAX_FILE) {
            rc = FH_ERANGE;
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

void fh_config_load_file(struct fh_config *c, const char *name, struct fh_config_errors *e)
{
    char *text = NULL;
    size_t len = 0;
    if (set_file_name(c, name) != 0) {
        add_error(e, "%s:0: out of memory", name);
        c->file_error = true;
        return;
    }
    int rc = read_small_file(name, &text, &len);
    if (rc == FH_ERANGE) {
        add_error(e, "%s:0: cannot read the configuration file: larger than %d bytes", name,
                  FH_CONFIG_MAX_FILE);
    } else if (rc != 0) {
        add_error(e, "%s:0: cannot read the configuration file: %s", name, fh_strerror(rc));
    } else {
        load_text(c, text, len, e);
    }
    c->file_error = rc != 0;
    free(text);
}

/* ---- the environment -------------------------------------------------------------------- */

static void load_env_var(struct fh_config *c, const char *entry, struct fh_config_errors *e)
{
    char name[256], key[256], where[300], known[256];
    const char *eq = strchr(entry, '=');
    size_t nlen = eq != NULL ? (size_t)(eq - entry) : strlen(entry);
    if (nlen >= sizeof(name)) {
        add_error(e, "env:%.40s...: unknown variable (name too long)", entry);
        return;
    }
    memcpy(name, entry, nlen);
    name[nlen] = '\0';
    snprintf(where, sizeof(where), "env:%s", name);
    const char *rest = name + strlen(ENV_PREFIX);

    /* The longest section whose upper-case name, plus '_', starts the rest. */
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < fh_config_nsections; i++) {
        const char *s = fh_config_sections[i].name;
        size_t sl = strlen(s), j;
        for (j = 0; j < sl && rest[j] == toupper((unsigned char)s[j]); j++)
            ;
        if (j == sl && rest[sl] == '_' && sl > best_len) {
            best = (int)i;
            best_len = sl;
        }
    }
    if (best < 0) {
        section_names(known, sizeof(known), true);
        add_error(e,
                  "%s: unknown variable: expected " ENV_PREFIX "<SECTION>_<KEY> with a "
                  "section among %s",
                  where, known);
        return;
    }
    const struct fh_config_section *sec = &fh_config_sections[best];
    const char *kp = rest + best_len + 1;
    size_t klen = strlen(kp);
    bool ok = klen > 0;
    for (size_t i = 0; ok && i < klen; i++) {
        unsigned char ch = (unsigned char)kp[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        /* [kafka] property names have dots where the variable has underscores. */
        key[i] = ch == '_' && sec->passthrough ? '.' : (char)tolower(ch);
    }
    key[klen] = '\0';
    int id = ok && !sec->passthrough ? fh_config_key_find(sec->name, key) : -1;
    if (!ok || (!sec->passthrough && id < 0)) {
        section_keys(sec->name, known, sizeof(known));
        add_error(e, "%s: unknown variable: [%s] has no key \"%s\" (known keys: %s)", where,
                  sec->name, ok ? key : kp, sec->passthrough ? "librdkafka properties" : known);
        return;
    }
    char *value = eq != NULL ? dup_trimmed(eq + 1, strlen(eq + 1)) : strdup("");
    if (value == NULL) {
        add_error(e, "%s: out of memory", where);
        return;
    }
    struct source src = {{FH_CFG_FROM_ENV, 0, false}, where, name};
    if (sec->passthrough)
        apply_kafka(c, key, value, &src, e);
    else
        apply_key(c, id, value, &src, e);
    free(value);
}

void fh_config_load_env(struct fh_config *c, const char *const *envp, struct fh_config_errors *e)
{
    if (envp == NULL)
        envp = (const char *const *)environ;
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], ENV_PREFIX, strlen(ENV_PREFIX)) == 0)
            load_env_var(c, envp[i], e);
    }
}

/* ---- --set ------------------------------------------------------------------------------ */

static void load_set(struct fh_config *c, const char *arg, struct fh_config_errors *e)
{
    char known[256], where[600];
    const char *eq = strchr(arg, '=');
    const char *dot = strchr(arg, '.');
    if (eq == NULL || dot == NULL || dot > eq || dot == arg || dot + 1 == eq) {
        add_error(e, "--set:%s: expected section.key=value", arg);
        return;
    }
    char *lhs = strndup(arg, (size_t)(eq - arg));
    char *value = dup_trimmed(eq + 1, strlen(eq + 1));
    if (lhs == NULL || value == NULL) {
        add_error(e, "--set:%s: out of memory", arg);
        goto out;
    }
    snprintf(where, sizeof(where), "--set:%s", lhs);
    char *key = lhs + (dot - arg) + 1;
    lhs[dot - arg] = '\0';
    int si = section_find(lhs);
    if (si < 0) {
        section_names(known, sizeof(known), false);
        add_error(e, "%s: unknown section [%s] (known sections: %s)", where, lhs, known);
        goto out;
    }
    const struct fh_config_section *sec = &fh_config_sections[si];
    int id = -1;
    if (!sec->passthrough && (id = fh_config_key_find(sec->name, key)) < 0) {
        section_keys(sec->name, known, sizeof(known));
        add_error(e, "%s: unknown key \"%s\" in [%s] (known keys: %s)", where, key, sec->name,
                  known);
        goto out;
    }
    struct source src = {{FH_CFG_FROM_SET, 0, false}, where, NULL};
    if (sec->passthrough)
        apply_kafka(c, key, value, &src, e);
    else
        apply_key(c, id, value, &src, e);
out:
    free(lhs);
    free(value);
}

/* True if a later argument sets the same section.key as args[i] (same text before '='). */
static bool set_overridden(const char *const *args, size_t n, size_t i)
{
    const char *eq = strchr(args[i], '=');
    if (eq == NULL)
        return false;
    size_t len = (size_t)(eq - args[i]);
    for (size_t j = i + 1; j < n; j++) {
        if (strncmp(args[j], args[i], len) == 0 && args[j][len] == '=')
            return true;
    }
    return false;
}

void fh_config_load_sets(struct fh_config *c, const char *const *args, size_t n,
                         struct fh_config_errors *e)
{
    /* The last --set of a key wins, as with most command lines (a wrapper's flag may be
     * overridden by the operator's); the earlier ones are neither applied nor checked. */
    for (size_t i = 0; i < n; i++) {
        if (!set_overridden(args, n, i))
            load_set(c, args[i], e);
    }
}

/* ---- rules across keys ------------------------------------------------------------------ */

static void key_error(const struct fh_config *c, int id, struct fh_config_errors *e,
                      const char *msg)
{
    char where[1024];
    where_of(c, id, where, sizeof(where));
    add_error(e, "%s: %s", where, msg);
}

/* Of two keys involved in a rule, the one to point at: the first that was set somewhere. */
static int pick(const struct fh_config *c, int a, int b)
{
    if (c->origin[a].source == FH_CFG_FROM_DEFAULT && c->origin[b].source != FH_CFG_FROM_DEFAULT)
        return b;
    return a;
}

static bool ok(const struct fh_config *c, int id)
{
    return !c->origin[id].rejected;
}

static void check_venue(const struct fh_config *c, const char *venue, bool enabled,
                        const struct fh_config_list *symbols, int id_enabled, int id_symbols,
                        struct fh_config_errors *e)
{
    char msg[256];
    if (enabled && symbols->n == 0 && ok(c, id_enabled) && ok(c, id_symbols)) {
        snprintf(msg, sizeof(msg), "%s.enabled is true but %s.symbols is empty", venue, venue);
        key_error(c, pick(c, id_symbols, id_enabled), e, msg);
    }
}

void fh_config_check(struct fh_config *c, struct fh_config_errors *e)
{
    if (c->file_error)
        return;
    if (c->sink.type == FH_SINK_TYPE_FILE && c->sink.path[0] == '\0' && ok(c, FH_CFGK_sink_path))
        key_error(c, FH_CFGK_sink_type, e, "sink.type=file requires sink.path");
    if (c->sink.type == FH_SINK_TYPE_KAFKA && fh_config_kafka_get(c, "bootstrap.servers") == NULL &&
        fh_config_kafka_get(c, "metadata.broker.list") == NULL)
        key_error(c, FH_CFGK_sink_type, e,
                  "sink.type=kafka requires [kafka] bootstrap.servers (host:port of the brokers)");
    check_venue(c, "binance", c->binance.enabled, &c->binance.symbols, FH_CFGK_binance_enabled,
                FH_CFGK_binance_symbols, e);
    check_venue(c, "kraken", c->kraken.enabled, &c->kraken.symbols, FH_CFGK_kraken_enabled,
                FH_CFGK_kraken_symbols, e);
    if (c->binance.enabled && c->binance.channels.n == 0 && ok(c, FH_CFGK_binance_channels))
        key_error(c, FH_CFGK_binance_channels, e,
                  "binance.enabled is true but binance.channels is empty");
    if (!c->binance.enabled && !c->kraken.enabled && ok(c, FH_CFGK_binance_enabled) &&
        ok(c, FH_CFGK_kraken_enabled))
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
        int rc = parse_value(&fh_config_keys[id], fh_config_keys[id].def, &v, err, sizeof(err));
        if (rc != 0) {
            value_release(&v);
            return rc == FH_ENOMEM ? FH_ENOMEM : FH_ECONFIG;
        }
        store(c, id, &v);
        value_release(&v);
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
#define FREE_LIST(f)                          list_release(&(f))
#define FREE_ENUMLIST(f)                      list_release(&(f))
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
        schemes_text(k, schemes, sizeof(schemes));
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
