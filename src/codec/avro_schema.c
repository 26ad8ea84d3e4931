/*
 * avro_schema.c - Parsing Canonical Form and CRC-64-AVRO fingerprints (Avro specification,
 * "Parsing Canonical Form for Schemas" and "Schema Fingerprints"), and the embedded schemas'
 * (trade, gap) fingerprints computed once.
 *
 * The canonical form is produced by one recursive walk over jsmn tokens that writes the
 * transformed schema as it goes. Named types carry the namespace their nested definitions and
 * references inherit. This is start-up code: it allocates the token array and favours
 * clarity over speed.
 */
#include "codec/avro.h"

#include "codec/gap.h"
#include "core/err.h"

/* The only translation unit that includes jsmn with this configuration: static functions,
 * strict grammar. */
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PCF_NAME_MAX  255 /* longest name or namespace we accept, in bytes */
#define PCF_DEPTH_MAX 64  /* deepest nesting of schemas */

/* ---- CRC-64-AVRO ---- */

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (FH_CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        crc64_table[i] = fp;
    }
}

uint64_t fh_crc64_avro(const void *p, size_t n)
{
    pthread_once(&crc64_once, crc64_init);
    const uint8_t *s = p;
    uint64_t fp = FH_CRC64_AVRO_EMPTY;
    for (size_t i = 0; i < n; i++)
        fp = (fp >> 8) ^ crc64_table[(fp ^ s[i]) & 0xff];
    return fp;
}

/* ---- Parsing Canonical Form ---- */

struct pcf {
    const char *js;
    const jsmntok_t *tok;
    int ntok;
    char *out;
    size_t cap;
    size_t len;
    int err; /* first error, sticky */
};

/* A decoded (unescaped) string of bounded length: names, namespaces, symbols, keys. */
struct name {
    char s[PCF_NAME_MAX + 1];
    size_t n;
};

static void emit(struct pcf *c, const char *s, size_t n)
{
    if (c->err != 0)
        return;
    /* Keep one byte for the terminating NUL. */
    if (n >= c->cap - c->len) {
        c->err = FH_ENOSPACE;
        return;
    }
    memcpy(c->out + c->len, s, n);
    c->len += n;
    c->out[c->len] = '\0';
}

static void emit_c(struct pcf *c, const char *s)
{
    emit(c, s, strlen(s));
}

static void emit_quoted(struct pcf *c, const char *s, size_t n)
{
    emit(c, "\"", 1);
    emit(c, s, n);
    emit(c, "\"", 1);
}

static int fail(struct pcf *c, int err)
{
    if (c->err == 0)
        c->err = err;
    return c->err;
}

/* Index of the token after the subtree rooted at i. A key token has size 1 (its value), so
 * counting sizes walks keys and values alike. */
static int skip(const struct pcf *c, int i)
{
    int pending = 1;
    while (pending > 0 && i < c->ntok) {
        pending += c->tok[i].size - 1;
        i++;
    }
    return i;
}

static int read_hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return FH_EPARSE;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = fh_hex_value(p[k]);
        if (h < 0)
            return FH_EPARSE;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the string token i (rule STRINGS: escapes become the characters they stand for)
 * into *nm. FH_EPARSE if it is not a string or has a bad escape, FH_ERANGE if too long. */
static int get_string(const struct pcf *c, int i, struct name *nm)
{
    if (i >= c->ntok || c->tok[i].type != JSMN_STRING)
        return FH_EPARSE;
    const char *p = c->js + c->tok[i].start, *end = c->js + c->tok[i].end;
    char tmp[4];
    nm->n = 0;
    while (p < end) {
        const char *chunk = p;
        size_t k = 1;
        if (*p == '\\') {
            if (end - p < 2)
                return FH_EPARSE;
            char e = p[1];
            p += 2;
            chunk = tmp;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                tmp[0] = e;
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u': {
                unsigned cp, lo;
                if (read_hex4(p, end, &cp) != 0)
                    return FH_EPARSE;
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                        read_hex4(p + 2, end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return FH_EPARSE;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return FH_EPARSE;
                }
                k = put_utf8(tmp, cp);
                break;
            }
            default:
                return FH_EPARSE;
            }
        } else {
            p++;
        }
        if (k > PCF_NAME_MAX - nm->n)
            return FH_ERANGE;
        memcpy(nm->s + nm->n, chunk, k);
        nm->n += k;
    }
    nm->s[nm->n] = '\0';
    return 0;
}

static bool name_is(const struct name *nm, const char *s)
{
    return nm->n == strlen(s) && memcmp(nm->s, s, nm->n) == 0;
}

/* Finds key in the object at token obj: returns the value's token index, -1 if absent,
 * or a negative FH_E* below -1 on error. A repeated key is an error: which one counts would
 * be a guess. */
static int find_key(const struct pcf *c, int obj, const char *key)
{
    int found = -1;
    int i = obj + 1;
    for (int k = 0; k < c->tok[obj].size; k++) {
        struct name nm;
        int rc = get_string(c, i, &nm);
        if (rc == FH_ERANGE) {
            /* Too long to be one of our keys. */
        } else if (rc != 0) {
            return FH_EPARSE;
        } else if (name_is(&nm, key)) {
            if (found >= 0)
                return FH_EPARSE;
            found = i + 1;
        }
        if (i + 1 >= c->ntok)
            return FH_EPARSE;
        i = skip(c, i + 1);
    }
    return found;
}

/* Names and symbols are [A-Za-z_][A-Za-z0-9_]*, full names such names joined by dots. Checking
 * them also means the canonical form is valid JSON without escaping anything. */
static bool valid_name(const struct name *nm, bool dotted)
{
    size_t start = 0;
    if (nm->n == 0)
        return false;
    for (size_t k = 0; k <= nm->n; k++) {
        if (k == nm->n || nm->s[k] == '.') {
            if (k == start || (!dotted && k < nm->n))
                return false;
            start = k + 1;
            continue;
        }
        char ch = nm->s[k];
        bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
        bool digit = ch >= '0' && ch <= '9';
        if (!alpha && !(digit && k > start))
            return false;
    }
    return true;
}

static bool is_primitive(const struct name *nm)
{
    static const char *const prims[] = {"null",  "boolean", "int",   "long",
                                        "float", "double",  "bytes", "string"};
    for (size_t k = 0; k < sizeof(prims) / sizeof(prims[0]); k++) {
        if (name_is(nm, prims[k]))
            return true;
    }
    return false;
}

/* Rule FULLNAMES: a name without a dot lives in the enclosing namespace (if any). */
static void emit_fullname(struct pcf *c, const struct name *nm, const struct name *ns)
{
    emit(c, "\"", 1);
    if (memchr(nm->s, '.', nm->n) == NULL && ns->n > 0) {
        emit(c, ns->s, ns->n);
        emit(c, ".", 1);
    }
    emit(c, nm->s, nm->n);
    emit(c, "\"", 1);
}

static int emit_schema(struct pcf *c, int i, const struct name *ns, int depth);

/* "fields":[{"name":..,"type":..},...] of a record. */
static int emit_fields(struct pcf *c, int arr, const struct name *ns, int depth)
{
    if (c->tok[arr].type != JSMN_ARRAY)
        return fail(c, FH_EPARSE);
    emit_c(c, ",\"fields\":[");
    int i = arr + 1;
    for (int k = 0; k < c->tok[arr].size; k++) {
        if (i >= c->ntok || c->tok[i].type != JSMN_OBJECT)
            return fail(c, FH_EPARSE);
        int vn = find_key(c, i, "name"), vt = find_key(c, i, "type");
        if (vn < 0 || vt < 0)
            return fail(c, vn < -1 ? vn : vt < -1 ? vt : FH_EPARSE);
        struct name fname;
        int rc = get_string(c, vn, &fname);
        if (rc == 0 && !valid_name(&fname, false))
            rc = FH_EPARSE;
        if (rc != 0)
            return fail(c, rc);
        emit_c(c, k > 0 ? ",{\"name\":" : "{\"name\":");
        emit_quoted(c, fname.s, fname.n);
        emit_c(c, ",\"type\":");
        rc = emit_schema(c, vt, ns, depth + 1);
        if (rc != 0)
            return rc;
        emit(c, "}", 1);
        i = skip(c, i);
    }
    emit(c, "]", 1);
    return c->err;
}

static int emit_symbols(struct pcf *c, int arr)
{
    if (c->tok[arr].type != JSMN_ARRAY)
        return fail(c, FH_EPARSE);
    emit_c(c, ",\"symbols\":[");
    int i = arr + 1;
    for (int k = 0; k < c->tok[arr].size; k++) {
        struct name sym;
        int rc = get_string(c, i, &sym);
        if (rc == 0 && !valid_name(&sym, false))
            rc = FH_EPARSE;
        if (rc != 0)
            return fail(c, rc);
        if (k > 0)
            emit(c, ",", 1);
        emit_quoted(c, sym.s, sym.n);
        i++;
    }
    emit(c, "]", 1);
    return c->err;
}

/* Rule INTEGERS: the size without leading zeros. */
static int emit_size(struct pcf *c, int v)
{
    const jsmntok_t *t = &c->tok[v];
    if (t->type != JSMN_PRIMITIVE || t->end <= t->start)
        return fail(c, FH_EPARSE);
    const char *p = c->js + t->start, *end = c->js + t->end;
    for (const char *q = p; q < end; q++) {
        if (*q < '0' || *q > '9')
            return fail(c, FH_EPARSE);
    }
    while (end - p > 1 && *p == '0')
        p++;
    emit_c(c, ",\"size\":");
    emit(c, p, (size_t)(end - p));
    return c->err;
}

/* A named type (record, error, enum, fixed): its full name and the namespace nested
 * definitions inherit, from "name", "namespace" and the enclosing namespace. */
static int named_type(struct pcf *c, int obj, const struct name *type, const struct name *ns,
                      int depth)
{
    int vn = find_key(c, obj, "name"), vns = find_key(c, obj, "namespace");
    if (vn < -1 || vns < -1)
        return fail(c, vn < -1 ? vn : vns);
    if (vn < 0)
        return fail(c, FH_EPARSE);
    struct name nm, inner;
    int rc = get_string(c, vn, &nm);
    if (rc == 0 && !valid_name(&nm, true))
        rc = FH_EPARSE;
    if (rc != 0)
        return fail(c, rc);
    const char *dot = NULL;
    for (size_t k = 0; k < nm.n; k++) {
        if (nm.s[k] == '.')
            dot = nm.s + k;
    }
    if (dot != NULL) {
        /* A dotted name is already full; its namespace is what precedes the last dot. */
        inner.n = (size_t)(dot - nm.s);
        memcpy(inner.s, nm.s, inner.n);
        inner.s[inner.n] = '\0';
    } else if (vns >= 0) {
        rc = get_string(c, vns, &inner); /* "" means the null namespace */
        if (rc == 0 && inner.n > 0 && !valid_name(&inner, true))
            rc = FH_EPARSE;
        if (rc != 0)
            return fail(c, rc);
    } else {
        inner = *ns;
    }
    emit_c(c, "{\"name\":");
    emit_fullname(c, &nm, &inner);
    emit_c(c, ",\"type\":");
    emit_quoted(c, type->s, type->n);
    if (name_is(type, "record") || name_is(type, "error")) {
        int vf = find_key(c, obj, "fields");
        if (vf < 0)
            return fail(c, vf < -1 ? vf : FH_EPARSE);
        rc = emit_fields(c, vf, &inner, depth);
    } else if (name_is(type, "enum")) {
        int vs = find_key(c, obj, "symbols");
        if (vs < 0)
            return fail(c, vs < -1 ? vs : FH_EPARSE);
        rc = emit_symbols(c, vs);
    } else {
        int vs = find_key(c, obj, "size");
        if (vs < 0)
            return fail(c, vs < -1 ? vs : FH_EPARSE);
        rc = emit_size(c, vs);
    }
    if (rc != 0)
        return rc;
    emit(c, "}", 1);
    return c->err;
}

/* array and map: {"type":"array","items":S} / {"type":"map","values":S}. */
static int container_type(struct pcf *c, int obj, const char *kind, const char *key,
                          const struct name *ns, int depth)
{
    int v = find_key(c, obj, key);
    if (v < 0)
        return fail(c, v < -1 ? v : FH_EPARSE);
    emit_c(c, "{\"type\":\"");
    emit_c(c, kind);
    emit_c(c, "\",\"");
    emit_c(c, key);
    emit_c(c, "\":");
    int rc = emit_schema(c, v, ns, depth + 1);
    if (rc != 0)
        return rc;
    emit(c, "}", 1);
    return c->err;
}

static int emit_schema(struct pcf *c, int i, const struct name *ns, int depth)
{
    if (depth > PCF_DEPTH_MAX)
        return fail(c, FH_ERANGE);
    if (i >= c->ntok)
        return fail(c, FH_EPARSE);
    const jsmntok_t *t = &c->tok[i];
    struct name nm;
    int rc;
    switch (t->type) {
    case JSMN_STRING:
        /* A primitive type name, or a reference to a named type (rule FULLNAMES). */
        rc = get_string(c, i, &nm);
        if (rc != 0)
            return fail(c, rc);
        if (is_primitive(&nm))
            emit_quoted(c, nm.s, nm.n);
        else if (valid_name(&nm, true))
            emit_fullname(c, &nm, ns);
        else
            return fail(c, FH_EPARSE);
        return c->err;
    case JSMN_ARRAY: {
        /* A union: its branches in order. */
        emit(c, "[", 1);
        int j = i + 1;
        for (int k = 0; k < t->size; k++) {
            if (k > 0)
                emit(c, ",", 1);
            rc = emit_schema(c, j, ns, depth + 1);
            if (rc != 0)
                return rc;
            j = skip(c, j);
        }
        emit(c, "]", 1);
        return c->err;
    }
    case JSMN_OBJECT: {
        int vt = find_key(c, i, "type");
        if (vt < 0)
            return fail(c, vt < -1 ? vt : FH_EPARSE);
        rc = get_string(c, vt, &nm); /* a non-string "type" is not a schema */
        if (rc != 0)
            return fail(c, rc);
        /* Rules PRIMITIVES and STRIP: {"type":"long","logicalType":...} is "long". */
        if (is_primitive(&nm)) {
            emit_quoted(c, nm.s, nm.n);
            return c->err;
        }
        if (name_is(&nm, "record") || name_is(&nm, "error") || name_is(&nm, "enum") ||
            name_is(&nm, "fixed"))
            return named_type(c, i, &nm, ns, depth);
        if (name_is(&nm, "array"))
            return container_type(c, i, "array", "items", ns, depth);
        if (name_is(&nm, "map"))
            return container_type(c, i, "map", "values", ns, depth);
        /* {"type":"SomeNamedType"}: a reference written as an object. */
        if (!valid_name(&nm, true))
            return fail(c, FH_EPARSE);
        emit_fullname(c, &nm, ns);
        return c->err;
    }
    default:
        return fail(c, FH_EPARSE);
    }
}

int fh_avro_canonical_form(const char *json, size_t n, char *out, size_t cap, size_t *out_len)
{
    if (json == NULL || out == NULL || cap == 0 || n > INT_MAX)
        return FH_EINVAL;
    struct name root_ns = {.s = "", .n = 0};
    struct pcf c = {.js = json, .out = out, .cap = cap};
    jsmn_parser jp;
    jsmn_init(&jp);
    int ntok = jsmn_parse(&jp, json, n, NULL, 0);
    if (ntok <= 0)
        return FH_EPARSE;
    jsmntok_t *tok = calloc((size_t)ntok, sizeof(*tok));
    if (tok == NULL)
        return FH_ENOMEM;
    c.tok = tok;
    c.ntok = ntok;
    jsmn_init(&jp);
    int rc = FH_EPARSE;
    if (jsmn_parse(&jp, json, n, tok, (unsigned)ntok) != ntok)
        goto out;
    /* Exactly one value: the root's subtree must cover every token. */
    if (skip(&c, 0) != ntok)
        goto out;
    out[0] = '\0';
    rc = emit_schema(&c, 0, &root_ns, 0);
    if (rc == 0)
        rc = c.err;
    if (rc == 0 && out_len != NULL)
        *out_len = c.len;
out:
    free(tok);
    return rc;
}

/* ---- the embedded schemas, once each ---- */

/* A schema compiled into the library, its canonical form and fingerprint. The trade schema's
 * form is about 1.3 KB, the gap schema's 1.1 KB; 8 KB leaves room to grow. */
struct schema_once {
    const char *json;
    const size_t *json_len;
    char pcf[8192];
    size_t pcf_len;
    uint64_t fp;
    int rc;
};

static struct schema_once trade_schema = {.json = fh_trade_schema_json,
                                          .json_len = &fh_trade_schema_json_len};
static struct schema_once gap_schema = {.json = fh_gap_schema_json,
                                        .json_len = &fh_gap_schema_json_len};
static pthread_once_t trade_once = PTHREAD_ONCE_INIT;
static pthread_once_t gap_once = PTHREAD_ONCE_INIT;

static void schema_compute(struct schema_once *s)
{
    s->rc = fh_avro_canonical_form(s->json, *s->json_len, s->pcf, sizeof(s->pcf), &s->pcf_len);
    if (s->rc != 0) {
        s->pcf[0] = '\0';
        s->pcf_len = 0;
        return;
    }
    s->fp = fh_crc64_avro(s->pcf, s->pcf_len);
}

static void trade_schema_init(void)
{
    schema_compute(&trade_schema);
}

static void gap_schema_init(void)
{
    schema_compute(&gap_schema);
}

static const char *schema_canonical(const struct schema_once *s, size_t *len)
{
    if (len != NULL)
        *len = s->pcf_len;
    return s->pcf;
}

int fh_codec_init(void)
{
    pthread_once(&trade_once, trade_schema_init);
    pthread_once(&gap_once, gap_schema_init);
    return trade_schema.rc != 0 ? trade_schema.rc : gap_schema.rc;
}

uint64_t fh_trade_schema_fingerprint(void)
{
    pthread_once(&trade_once, trade_schema_init);
    return trade_schema.fp;
}

const char *fh_trade_schema_canonical(size_t *len)
{
    pthread_once(&trade_once, trade_schema_init);
    return schema_canonical(&trade_schema, len);
}

uint64_t fh_gap_schema_fingerprint(void)
{
    pthread_once(&gap_once, gap_schema_init);
    return gap_schema.fp;
}

const char *fh_gap_schema_canonical(size_t *len)
{
    pthread_once(&gap_once, gap_schema_init);
    return schema_canonical(&gap_schema, len);
}
