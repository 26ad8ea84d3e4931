/*
 * registry.c - Confluent Schema Registry client (start-up only; see registry.h).
 *
 * One blocking request at a time through net/http_client.h: these calls happen before the
 * engine runs, so blocking is fine and keeps the code short. Replies are read into a bounded
 * buffer and parsed with the project's strict JSON layer.
 */
#include "sink/registry.h"

#include "core/err.h"
#include "core/log.h"
#include "net/http_client.h"
#include "venue/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY (1024 * 1024)

size_t fh_registry_json_string(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
#define PUT(c)            \
    do {                  \
        if (o < cap)      \
            out[o] = (c); \
        o++;              \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c == '\n') {
            PUT('\\');
            PUT('n');
        } else if (c == '\t') {
            PUT('\\');
            PUT('t');
        } else if (c == '\r') {
            PUT('\\');
            PUT('r');
        } else if (c < 0x20) {
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(fh_hex_lower[c >> 4]);
            PUT(fh_hex_lower[c & 15]);
        } else {
            PUT((char)c);
        }
    }
    PUT('"');
#undef PUT
    if (o < cap)
        out[o] = '\0';
    return o;
}

/* The parts of a registry reply we use. */
struct answer {
    long status;
    int64_t id;     /* -1 if absent */
    int64_t code;   /* error_code, -1 if absent */
    int compatible; /* is_compatible: 1, 0, or -1 if absent */
    char message[256];
};

static void parse_answer(const struct fh_buf *r, struct answer *a)
{
    a->id = -1;
    a->code = -1;
    a->compatible = -1;
    a->message[0] = '\0';
    if (r->data == NULL)
        return;
    struct fh_json j;
    if (fh_json_init(&j, 256) != 0)
        return;
    if (fh_json_parse(&j, r->data, r->len) == 0 && fh_json_type(&j, 0) == JSMN_OBJECT) {
        int t;
        int64_t v;
        bool b;
        if ((t = fh_json_get(&j, 0, "id")) >= 0 && fh_json_i64(&j, t, &v) == 0)
            a->id = v;
        if ((t = fh_json_get(&j, 0, "error_code")) >= 0 && fh_json_i64(&j, t, &v) == 0)
            a->code = v;
        if ((t = fh_json_get(&j, 0, "is_compatible")) >= 0 && fh_json_bool(&j, t, &b) == 0)
            a->compatible = b;
        size_t len;
        if ((t = fh_json_get(&j, 0, "message")) >= 0)
            fh_json_str(&j, t, a->message, sizeof(a->message), &len);
        if (a->message[0] == '\0' && (t = fh_json_get(&j, 0, "messages")) >= 0 &&
            fh_json_type(&j, t) == JSMN_ARRAY && fh_json_size(&j, t) > 0)
            fh_json_str(&j, fh_json_at(&j, t, 0), a->message, sizeof(a->message), &len);
    }
    fh_json_release(&j);
}

/* POSTs body to base + path. Returns 0 with *a filled (any HTTP status), or FH_EIO when no
 * HTTP answer came (err says why). */
static int post(const struct fh_registry_config *cfg, const char *path, const char *body,
                struct answer *a, char *err, size_t errlen)
{
    char url[2048];
    size_t blen = strlen(cfg->url);
    while (blen > 0 && cfg->url[blen - 1] == '/')
        blen--;
    if (snprintf(url, sizeof(url), "%.*s%s", (int)blen, cfg->url, path) >= (int)sizeof(url)) {
        snprintf(err, errlen, "registry URL too long");
        return FH_EINVAL;
    }
    static const char *const headers[] = {
        "Content-Type: application/vnd.schemaregistry.v1+json",
        "Accept: application/vnd.schemaregistry.v1+json, application/json"};
    struct fh_http_request rq = {.method = "POST",
                                 .url = url,
                                 .body = body,
                                 .headers = headers,
                                 .n_headers = 2,
                                 .timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000,
                                 .max_body = MAX_REPLY};
    struct fh_buf r;
    fh_buf_init(&r, MAX_REPLY);
    int ret = fh_http_fetch(&rq, &a->status, &r, err, errlen);
    if (ret == 0)
        parse_answer(&r, a);
    fh_buf_release(&r);
    return ret;
}

static int fail(enum fh_registry_failure *why, enum fh_registry_failure w, int rc)
{
    if (why != NULL)
        *why = w;
    return rc;
}

/* "HTTP 500 (error_code 50001: Error in the backend data store)" */
static void describe(const struct answer *a, char *buf, size_t n)
{
    int w = snprintf(buf, n, "HTTP %ld", a->status);
    if (w > 0 && (size_t)w < n && (a->code >= 0 || a->message[0] != '\0'))
        snprintf(buf + w, n - (size_t)w, " (error_code %lld: %s)", (long long)a->code,
                 a->message[0] ? a->message : "no message");
}

int fh_registry_register(const struct fh_registry_config *cfg, const char *subject,
                         const char *schema, size_t n, uint32_t *id, enum fh_registry_failure *why,
                         char *err, size_t errlen)
{
    char path[600], what[400], ioerr[300];
    struct answer a;
    int rc;
    if (why != NULL)
        *why = FH_REGISTRY_OK;
    /* The body: {"schema": "<escaped schema>"}. */
    size_t need = fh_registry_json_string(schema, n, NULL, 0);
    char *body = malloc(need + 16);
    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        return fail(why, FH_REGISTRY_ERROR, FH_ENOMEM);
    }
    memcpy(body, "{\"schema\":", 10);
    fh_registry_json_string(schema, n, body + 10, need + 1);
    memcpy(body + 10 + need, "}", 2);

    /* 1. Already registered under this subject? */
    snprintf(path, sizeof(path), "/subjects/%s", subject);
    memset(&a, 0, sizeof(a));
    if ((rc = post(cfg, path, body, &a, ioerr, sizeof(ioerr))) != 0) {
        snprintf(err, errlen, "Schema Registry %s unreachable: %s", cfg->url, ioerr);
        rc = fail(why, FH_REGISTRY_UNREACHABLE, rc);
        goto out;
    }
    if (a.status == 200 && a.id >= 0 && a.id <= UINT32_MAX) {
        *id = (uint32_t)a.id;
        log_info("schema found in the registry", "subject=%s id=%lld url=%s", subject,
                 (long long)a.id, cfg->url);
        goto out;
    }
    bool other_versions;
    if (a.status == 404 && a.code == 40403) {
        other_versions = true; /* the subject exists, without our schema */
    } else if (a.status == 404) {
        other_versions = false; /* 40401: no such subject yet */
    } else {
        describe(&a, what, sizeof(what));
        snprintf(err, errlen, "Schema Registry %s: looking up subject %s failed: %s", cfg->url,
                 subject, what);
        rc = fail(why, a.status >= 500 ? FH_REGISTRY_UNREACHABLE : FH_REGISTRY_ERROR, FH_EIO);
        goto out;
    }

    /* 2. The subject holds other versions: would ours be accepted? */
    if (other_versions) {
        snprintf(path, sizeof(path), "/compatibility/subjects/%s/versions/latest", subject);
        memset(&a, 0, sizeof(a));
        if ((rc = post(cfg, path, body, &a, ioerr, sizeof(ioerr))) != 0) {
            snprintf(err, errlen, "Schema Registry %s unreachable: %s", cfg->url, ioerr);
            rc = fail(why, FH_REGISTRY_UNREACHABLE, rc);
            goto out;
        }
        if (a.status == 200 && a.compatible == 0) {
            snprintf(err, errlen,
                     "Schema Registry %s: schemas/trade.avsc is incompatible with the latest "
                     "version of subject %s%s%s; refusing to start",
                     cfg->url, subject, a.message[0] ? ": " : "", a.message);
            rc = fail(why, FH_REGISTRY_INCOMPATIBLE, FH_ESTATE);
            goto out;
        }
        if (a.status != 200 || a.compatible != 1) {
            describe(&a, what, sizeof(what));
            snprintf(err, errlen,
                     "Schema Registry %s: compatibility check for subject %s "
                     "failed: %s",
                     cfg->url, subject, what);
            rc = fail(why, a.status >= 500 ? FH_REGISTRY_UNREACHABLE : FH_REGISTRY_ERROR, FH_EIO);
            goto out;
        }
    }

    /* 3. Register (returns the existing id if another process just did). */
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    memset(&a, 0, sizeof(a));
    if ((rc = post(cfg, path, body, &a, ioerr, sizeof(ioerr))) != 0) {
        snprintf(err, errlen, "Schema Registry %s unreachable: %s", cfg->url, ioerr);
        rc = fail(why, FH_REGISTRY_UNREACHABLE, rc);
        goto out;
    }
    if (a.status == 409) {
        snprintf(err, errlen,
                 "Schema Registry %s: schemas/trade.avsc is incompatible with subject %s%s%s; "
                 "refusing to start",
                 cfg->url, subject, a.message[0] ? ": " : "", a.message);
        rc = fail(why, FH_REGISTRY_INCOMPATIBLE, FH_ESTATE);
        goto out;
    }
    if (a.status != 200 || a.id < 0 || a.id > UINT32_MAX) {
        describe(&a, what, sizeof(what));
        snprintf(err, errlen, "Schema Registry %s: registering under subject %s failed: %s",
                 cfg->url, subject, what);
        rc = fail(why, a.status >= 500 ? FH_REGISTRY_UNREACHABLE : FH_REGISTRY_ERROR,
                  a.status == 200 ? FH_EPARSE : FH_EIO);
        goto out;
    }
    *id = (uint32_t)a.id;
    log_info("schema registered", "subject=%s id=%lld url=%s", subject, (long long)a.id, cfg->url);
out:
    free(body);
    return rc;
}
