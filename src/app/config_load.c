/*
 * config_load.c - the configuration's sources, in the order they apply: the INI file (inih
 * driven one physical line at a time, so that every error has its FILE:LINE and all of them
 * are reported), the environment (FEEDHANDLER_<SECTION>_<KEY>), and --set.
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
#include <fcntl.h>
#include <ini.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

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
    cfg_add_error(x->e, "%s:%d: %s", x->c->file, x->lineno, msg);
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
    char *name = cfg_dup_trimmed(p + 1, (size_t)(close - p - 1));
    if (name == NULL) {
        line_error(x, "out of memory");
        return "\n";
    }
    int idx = cfg_section_find(name);
    if (idx < 0) {
        cfg_section_names(known, sizeof(known), false);
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
            cfg_section_keys(sec->name, known, sizeof(known));
            line_error(x, "unknown key \"%s\" in [%s] (known keys: %s)", name, sec->name, known);
            return 1;
        }
    }
    int prev = cfg_seen_check(&x->seen, id, name, x->lineno);
    if (prev != 0) {
        line_error(x, "duplicate key %s.%s (first given on line %d)", sec->name, name, prev);
        return 1;
    }
    snprintf(where, sizeof(where), "%s:%d", x->c->file, x->lineno);
    struct source src = {{FH_CFG_FROM_FILE, x->lineno, false}, where, NULL};
    if (sec->passthrough)
        cfg_apply_kafka(x->c, name, value, &src, x->e);
    else
        cfg_apply_key(x->c, id, value, &src, x->e);
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
        cfg_add_error(e, "%s:0: out of memory while parsing", c->file);
    else if (rc != 0)
        cfg_add_error(e, "%s:%d: syntax error", c->file, rc);
    cfg_seen_release(&x.seen);
}

void fh_config_load_string(struct fh_config *c, const char *name, const char *text,
                           struct fh_config_errors *e)
{
    if (set_file_name(c, name) != 0) {
        cfg_add_error(e, "%s:0: out of memory", name);
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
        cfg_add_error(e, "%s:0: out of memory", name);
        c->file_error = true;
        return;
    }
    int rc = read_small_file(name, &text, &len);
    if (rc == FH_ERANGE) {
        cfg_add_error(e, "%s:0: cannot read the configuration file: larger than %d bytes", name,
                      FH_CONFIG_MAX_FILE);
    } else if (rc != 0) {
        cfg_add_error(e, "%s:0: cannot read the configuration file: %s", name, fh_strerror(rc));
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
        cfg_add_error(e, "env:%.40s...: unknown variable (name too long)", entry);
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
        cfg_section_names(known, sizeof(known), true);
        cfg_add_error(e,
                      "%s: unknown variable: expected " ENV_PREFIX "<SECTION>_<KEY> with a "
                      "section among %s",
                      where, known);
        return;
    }
    const struct fh_config_section *sec = &fh_config_sections[best];
    const char *kp = rest + best_len + 1;
    size_t klen = strlen(kp);
    bool cfg_ok = klen > 0;
    for (size_t i = 0; cfg_ok && i < klen; i++) {
        unsigned char ch = (unsigned char)kp[i];
        cfg_ok = (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        /* [kafka] property names have dots where the variable has underscores. */
        key[i] = ch == '_' && sec->passthrough ? '.' : (char)tolower(ch);
    }
    key[klen] = '\0';
    int id = cfg_ok && !sec->passthrough ? fh_config_key_find(sec->name, key) : -1;
    if (!cfg_ok || (!sec->passthrough && id < 0)) {
        cfg_section_keys(sec->name, known, sizeof(known));
        cfg_add_error(e, "%s: unknown variable: [%s] has no key \"%s\" (known keys: %s)", where,
                      sec->name, cfg_ok ? key : kp,
                      sec->passthrough ? "librdkafka properties" : known);
        return;
    }
    char *value = eq != NULL ? cfg_dup_trimmed(eq + 1, strlen(eq + 1)) : strdup("");
    if (value == NULL) {
        cfg_add_error(e, "%s: out of memory", where);
        return;
    }
    struct source src = {{FH_CFG_FROM_ENV, 0, false}, where, name};
    if (sec->passthrough)
        cfg_apply_kafka(c, key, value, &src, e);
    else
        cfg_apply_key(c, id, value, &src, e);
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
        cfg_add_error(e, "--set:%s: expected section.key=value", arg);
        return;
    }
    char *lhs = strndup(arg, (size_t)(eq - arg));
    char *value = cfg_dup_trimmed(eq + 1, strlen(eq + 1));
    if (lhs == NULL || value == NULL) {
        cfg_add_error(e, "--set:%s: out of memory", arg);
        goto out;
    }
    snprintf(where, sizeof(where), "--set:%s", lhs);
    char *key = lhs + (dot - arg) + 1;
    lhs[dot - arg] = '\0';
    int si = cfg_section_find(lhs);
    if (si < 0) {
        cfg_section_names(known, sizeof(known), false);
        cfg_add_error(e, "%s: unknown section [%s] (known sections: %s)", where, lhs, known);
        goto out;
    }
    const struct fh_config_section *sec = &fh_config_sections[si];
    int id = -1;
    if (!sec->passthrough && (id = fh_config_key_find(sec->name, key)) < 0) {
        cfg_section_keys(sec->name, known, sizeof(known));
        cfg_add_error(e, "%s: unknown key \"%s\" in [%s] (known keys: %s)", where, key, sec->name,
                      known);
        goto out;
    }
    struct source src = {{FH_CFG_FROM_SET, 0, false}, where, NULL};
    if (sec->passthrough)
        cfg_apply_kafka(c, key, value, &src, e);
    else
        cfg_apply_key(c, id, value, &src, e);
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
