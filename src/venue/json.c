#include "venue/json.h"
#include "venue/json_int.h"

#include "core/err.h"
#include "core/utf8.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Exchange messages nest a handful of levels; deeper input is hostile. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FH_JSON_LITTLE_ENDIAN 1
#else
#define FH_JSON_LITTLE_ENDIAN 0
#endif
#define FH_JSON_MAX_DEPTH 32

int fh_json_init(struct fh_json *j, uint32_t max_tokens)
{
    memset(j, 0, sizeof(*j));
    if (max_tokens == 0)
        return FH_EINVAL;
    j->tok = calloc(max_tokens, sizeof(*j->tok));
    j->esc = calloc(max_tokens, 1);
    if (j->tok == NULL || j->esc == NULL) {
        fh_json_release(j);
        return FH_ENOMEM;
    }
    j->cap = max_tokens;
    return 0;
}

void fh_json_release(struct fh_json *j)
{
    free(j->tok);
    free(j->esc);
    memset(j, 0, sizeof(*j));
}

const char *fh_json_strerror(int err)
{
    switch (err) {
    case FH_JSON_OK:
        return "ok";
    case FH_JSON_ETOKENS:
        return "json_too_many_tokens";
    case FH_JSON_ESYNTAX:
        return "json_syntax";
    case FH_JSON_EPARTIAL:
        return "json_truncated";
    case FH_JSON_EUTF8:
        return "json_utf8";
    case FH_JSON_EESCAPE:
        return "json_escape";
    case FH_JSON_ENUMBER:
        return "json_bad_primitive";
    case FH_JSON_ETRAILING:
        return "json_trailing_data";
    case FH_JSON_ECONTROL:
        return "json_control_char";
    case FH_JSON_EROOT:
        return "json_not_object_or_array";
    case FH_JSON_ETOOLONG:
        return "json_too_long";
    default:
        return "json_unknown";
    }
}

/* Length of the UTF-8 sequence starting at s[0] (at most n bytes), or 0 if invalid. */
size_t fh__json_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2)
        return 0; /* continuation byte or overlong 2-byte lead */
    if (c < 0xe0) {
        return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    }
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* UTF-16 surrogate */
        return 3;
    }
    if (c < 0xf5) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xf4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

bool fh_utf8_valid(const char *s, size_t n)
{
    return fh_utf8_check(s, n);
}

/* Reads 4 hex digits at s; returns the code unit or -1. */
static long hex4(const char *s)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = fh_hex_value(s[k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * Decodes one escape sequence at s[0] == '\\' (end bounds the string). Returns the number of
 * input bytes consumed and stores the code point in *cp, or 0 if the escape is invalid.
 */
size_t fh__json_decode_escape(const char *s, const char *end, uint32_t *cp)
{
    if (end - s < 2)
        return 0;
    switch (s[1]) {
    case '"':
        *cp = '"';
        return 2;
    case '\\':
        *cp = '\\';
        return 2;
    case '/':
        *cp = '/';
        return 2;
    case 'b':
        *cp = '\b';
        return 2;
    case 'f':
        *cp = '\f';
        return 2;
    case 'n':
        *cp = '\n';
        return 2;
    case 'r':
        *cp = '\r';
        return 2;
    case 't':
        *cp = '\t';
        return 2;
    case 'u':
        break;
    default:
        return 0;
    }
    if (end - s < 6)
        return 0;
    long hi = hex4(s + 2);
    if (hi < 0)
        return 0;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return 0; /* a low surrogate cannot come first */
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = (uint32_t)hi;
        return 6;
    }
    /* A high surrogate must be followed by \u and a low surrogate. */
    if (end - s < 12 || s[6] != '\\' || s[7] != 'u')
        return 0;
    long lo = hex4(s + 8);
    if (lo < 0xdc00 || lo > 0xdfff)
        return 0;
    *cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
    return 12;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * The tokenizer: one left-to-right pass that builds jsmn's token layout and checks strict JSON
 * as it goes, so that a message is read once (jsmn followed by a second, validating walk over
 * its tokens cost twice the bytes; bench/README.md "JSON"). tests/unit/json_ref.c keeps that
 * two-pass reader as the oracle the unit test and fuzz_json compare this one with.
 */
struct scan {
    const char *s;
    size_t n;
    jsmntok_t *tok;
    uint8_t *esc;
    int cap;
    int ntok;
};

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* A byte that may end a primitive: whitespace, ',', ']' or '}'. */
static inline bool is_delim(char c)
{
    return is_ws(c) || c == ',' || c == ']' || c == '}';
}

static inline __attribute__((always_inline)) int new_token(struct scan *sc, jsmntype_t type,
                                                           int start, int parent)
{
    if (sc->ntok >= sc->cap)
        return FH_JSON_ETOKENS;
    jsmntok_t *t = &sc->tok[sc->ntok];
    t->type = type;
    t->start = start;
    t->end = -1;
    t->size = 0;
    t->parent = parent;
    return sc->ntok++;
}

/* A string starting at the quote at *p: one token (contents without the quotes), its escapes,
 * control bytes and UTF-8 checked. Leaves *p after the closing quote. Returns the token or a
 * negative fh_json_err. */
static inline __attribute__((always_inline)) int scan_string(struct scan *sc, size_t *pp,
                                                             int parent)
{
    const char *s = sc->s, *end = sc->s + sc->n;
    const char *q = s + *pp + 1;
    int i = new_token(sc, JSMN_STRING, (int)(q - s), parent);
    if (i < 0)
        return i;
    bool has_esc = false;
    for (;;) {
        /* Fast path: eight plain printable ASCII bytes (no quote, no backslash, no control
         * byte, no high bit) at a time, which is nearly all of market data. */
        while (end - q >= 8) {
            uint64_t w;
            memcpy(&w, q, 8);
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            uint64_t ctrl = (w - ones * 0x20) & ~w; /* bytes < 0x20 (or >= 0x80) */
            uint64_t bsl = ((w ^ (ones * 0x5c)) - ones) & ~(w ^ (ones * 0x5c)); /* == '\\' */
            uint64_t quo = ((w ^ (ones * 0x22)) - ones) & ~(w ^ (ones * 0x22)); /* == '"' */
            uint64_t hit = (ctrl | bsl | quo | w) & highs;
            if (hit != 0) {
                /* The lowest flagged byte is a true one (a borrow only runs upwards from a
                 * flagged byte): go straight to it. */
                q += FH_JSON_LITTLE_ENDIAN ? (size_t)__builtin_ctzll(hit) >> 3 : 0;
                break;
            }
            q += 8;
        }
        if (q >= end)
            return FH_JSON_EPARTIAL;
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            break;
        } else if (c == '\\') {
            uint32_t cp;
            size_t k = fh__json_decode_escape(q, end, &cp);
            if (k == 0)
                return end - q < 2 ? FH_JSON_EPARTIAL : FH_JSON_EESCAPE;
            has_esc = true;
            q += k;
        } else if (c < 0x20) {
            return FH_JSON_ECONTROL;
        } else if (c < 0x80) {
            q++;
        } else {
            size_t k = fh__json_utf8_seq((const unsigned char *)q, (size_t)(end - q));
            if (k == 0)
                return FH_JSON_EUTF8;
            q += k;
        }
    }
    sc->tok[i].end = (int)(q - s);
    sc->esc[i] = has_esc;
    *pp = (size_t)(q - s) + 1;
    return i;
}

/* A primitive at *p: true, false, null, or a number in JSON grammar
 * (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), followed by a delimiter (strict jsmn's
 * rule: the input may not end in a primitive). Leaves *p after it. Returns the token or a
 * negative fh_json_err. */
static inline __attribute__((always_inline)) int scan_primitive(struct scan *sc, size_t *pp,
                                                                int parent)
{
    const char *s = sc->s;
    size_t n = sc->n, p = *pp, b = p;
    char c = s[p];
    if (c == 't' || c == 'f' || c == 'n') {
        const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t ln = c == 'f' ? 5 : 4;
        if (n - p < ln)
            return memcmp(s + p, lit, n - p) == 0 ? FH_JSON_EPARTIAL : FH_JSON_ENUMBER;
        if (memcmp(s + p, lit, ln) != 0)
            return FH_JSON_ENUMBER;
        p += ln;
    } else {
        if (s[p] == '-')
            p++;
        if (p < n && s[p] == '0') {
            p++;
        } else if (p < n && s[p] >= '1' && s[p] <= '9') {
            while (p < n && s[p] >= '0' && s[p] <= '9')
                p++;
        } else {
            return p >= n ? FH_JSON_EPARTIAL : FH_JSON_ENUMBER;
        }
        if (p < n && s[p] == '.') {
            size_t d = ++p;
            while (p < n && s[p] >= '0' && s[p] <= '9')
                p++;
            if (p == d)
                return p >= n ? FH_JSON_EPARTIAL : FH_JSON_ENUMBER;
        }
        if (p < n && (s[p] == 'e' || s[p] == 'E')) {
            p++;
            if (p < n && (s[p] == '+' || s[p] == '-'))
                p++;
            size_t d = p;
            while (p < n && s[p] >= '0' && s[p] <= '9')
                p++;
            if (p == d)
                return p >= n ? FH_JSON_EPARTIAL : FH_JSON_ENUMBER;
        }
    }
    if (p >= n)
        return FH_JSON_EPARTIAL;
    if (!is_delim(s[p]))
        return FH_JSON_ENUMBER;
    int i = new_token(sc, JSMN_PRIMITIVE, (int)b, parent);
    if (i < 0)
        return i;
    sc->tok[i].end = (int)p;
    *pp = p;
    return i;
}

/* Skips whitespace at p; on the end of the input, fails with FH_JSON_EPARTIAL. */
#define SKIP_WS_OR_PARTIAL()         \
    do {                             \
        while (p < n && is_ws(s[p])) \
            p++;                     \
        if (p >= n) {                \
            rc = FH_JSON_EPARTIAL;   \
            goto fail;               \
        }                            \
    } while (0)

/*
 * The grammar as direct jumps between four places (a value, what follows a value, a key, the
 * close of a container) rather than one loop dispatching on a state: every transition is a
 * predictable branch, not one shared indirect jump (bench/README.md "JSON").
 */
int fh_json_parse(struct fh_json *j, const char *s, size_t n)
{
    j->src = s;
    j->len = n;
    j->n = 0;
    if (n > INT_MAX)
        return FH_JSON_ETOOLONG;
    struct scan sc = {s, n, j->tok, j->esc, j->cap > INT_MAX ? INT_MAX : (int)j->cap, 0};
    size_t p = 0;
    while (p < n && is_ws(s[p]))
        p++;
    if (p >= n)
        return FH_JSON_EROOT;
    if (s[p] != '{' && s[p] != '[')
        return s[p] == '"' || s[p] == '-' || (s[p] >= '0' && s[p] <= '9') || s[p] == 't' ||
                       s[p] == 'f' || s[p] == 'n'
                   ? FH_JSON_EROOT
                   : FH_JSON_ESYNTAX;
    int stack[FH_JSON_MAX_DEPTH]; /* the open containers */
    int depth = 0;
    int top = -1;    /* the innermost open container */
    int parent = -1; /* the next value's parent: the key before it, or the array it is in */
    int rc;
    char c;

value:
    SKIP_WS_OR_PARTIAL();
    c = s[p];
    if (c == '{' || c == '[') {
        if (depth >= FH_JSON_MAX_DEPTH) {
            rc = FH_JSON_ESYNTAX;
            goto fail;
        }
        bool obj = c == '{';
        rc = new_token(&sc, obj ? JSMN_OBJECT : JSMN_ARRAY, (int)p, parent);
        if (rc < 0)
            goto fail;
        stack[depth++] = top = rc;
        p++;
        SKIP_WS_OR_PARTIAL();
        c = s[p];
        if (c == (obj ? '}' : ']'))
            goto close;
        if (obj)
            goto key;
        parent = top;
        sc.tok[top].size++;
        goto value;
    }
    if (c == '"')
        rc = scan_string(&sc, &p, parent);
    else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n')
        rc = scan_primitive(&sc, &p, parent);
    else
        rc = FH_JSON_ESYNTAX;
    if (rc < 0)
        goto fail;

next: /* after a value: ',' or the container's closing bracket */
    SKIP_WS_OR_PARTIAL();
    c = s[p];
    if (c == ',') {
        p++;
        if (sc.tok[top].type == JSMN_OBJECT) {
            SKIP_WS_OR_PARTIAL();
            c = s[p];
            goto key;
        }
        parent = top;
        sc.tok[top].size++;
        goto value;
    }
    if (c != '}' && c != ']') {
        rc = FH_JSON_ESYNTAX;
        goto fail;
    }

close: /* c is '}' or ']' at p */
    if (c != (sc.tok[top].type == JSMN_OBJECT ? '}' : ']')) {
        rc = FH_JSON_ESYNTAX;
        goto fail;
    }
    sc.tok[top].end = (int)++p;
    if (--depth > 0) {
        top = stack[depth - 1];
        goto next;
    }
    while (p < n && is_ws(s[p]))
        p++;
    if (p != n)
        return FH_JSON_ETRAILING;
    j->n = sc.ntok;
    return 0;

key: /* c is the first byte of a key at p (not whitespace) */
    if (c != '"') {
        rc = FH_JSON_ESYNTAX;
        goto fail;
    }
    rc = scan_string(&sc, &p, top);
    if (rc < 0)
        goto fail;
    sc.tok[rc].size = 1;
    sc.tok[top].size++;
    parent = rc;
    SKIP_WS_OR_PARTIAL();
    if (s[p] != ':') {
        rc = FH_JSON_ESYNTAX;
        goto fail;
    }
    p++;
    goto value;

fail:
    return rc;
}

#undef SKIP_WS_OR_PARTIAL

int fh_json_skip(const struct fh_json *j, int i)
{
    if (j->tok[i].type == JSMN_STRING || j->tok[i].type == JSMN_PRIMITIVE)
        return i + 1;
    int end = j->tok[i].end;
    int k = i + 1;
    while (k < j->n && j->tok[k].start < end)
        k++;
    return k;
}

int fh_json_str(const struct fh_json *j, int i, char *dst, size_t cap, size_t *len)
{
    if (i < 0 || j->tok[i].type != JSMN_STRING || cap == 0)
        return FH_EINVAL;
    const char *s = j->src + j->tok[i].start;
    const char *end = j->src + j->tok[i].end;
    size_t o = 0;
    while (s < end) {
        char u[4];
        size_t un;
        if (*s == '\\') {
            uint32_t cp = 0;
            size_t k = fh__json_decode_escape(s, end, &cp);
            if (k == 0)
                return FH_EINVAL; /* cannot happen after fh_json_parse */
            s += k;
            un = utf8_put(cp, u);
        } else {
            u[0] = *s++;
            un = 1;
        }
        if (un >= cap - o)
            return FH_ENOSPACE;
        memcpy(dst + o, u, un);
        o += un;
    }
    dst[o] = '\0';
    if (len != NULL)
        *len = o;
    return 0;
}

int fh_json_str_view(const struct fh_json *j, int i, char *scratch, size_t cap, struct fh_str *out)
{
    if (i < 0 || j->tok[i].type != JSMN_STRING)
        return FH_EINVAL;
    if (!j->esc[i]) {
        *out = fh_json_raw(j, i);
        return 0;
    }
    size_t n;
    int rc = fh_json_str(j, i, scratch, cap, &n);
    if (rc != 0)
        return rc;
    out->p = scratch;
    out->n = n;
    return 0;
}

bool fh_json_str_eq(const struct fh_json *j, int i, const char *lit)
{
    if (i < 0 || j->tok[i].type != JSMN_STRING)
        return false;
    size_t ln = strlen(lit);
    if (!j->esc[i]) {
        struct fh_str t = fh_json_raw(j, i);
        return t.n == ln && memcmp(t.p, lit, ln) == 0;
    }
    char buf[256];
    size_t n;
    if (fh_json_str(j, i, buf, sizeof(buf), &n) != 0)
        return false;
    return n == ln && memcmp(buf, lit, ln) == 0;
}

int fh_json_get(const struct fh_json *j, int obj, const char *key)
{
    if (obj < 0 || j->tok[obj].type != JSMN_OBJECT)
        return -1;
    int k = obj + 1;
    for (int c = 0; c < j->tok[obj].size; c++) {
        if (fh_json_str_eq(j, k, key))
            return k + 1;
        k = fh_json_skip(j, k + 1);
    }
    return -1;
}

int fh_json_at(const struct fh_json *j, int arr, int idx)
{
    if (arr < 0 || j->tok[arr].type != JSMN_ARRAY || idx < 0 || idx >= j->tok[arr].size)
        return -1;
    int k = arr + 1;
    for (int c = 0; c < idx; c++)
        k = fh_json_skip(j, k);
    return k;
}

bool fh_json_is_number(const struct fh_json *j, int i)
{
    if (i < 0 || j->tok[i].type != JSMN_PRIMITIVE)
        return false;
    char c = j->src[j->tok[i].start];
    return c == '-' || (c >= '0' && c <= '9');
}

/* Parses the magnitude of an integer token's digits into *out; FH_ERANGE past limit. */
static int digits_u64(struct fh_str t, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t k = 0; k < t.n; k++) {
        char c = t.p[k];
        if (c < '0' || c > '9')
            return FH_EINVAL;
        uint64_t d = (uint64_t)(c - '0');
        if (v > (limit - d) / 10)
            return FH_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int fh_json_i64(const struct fh_json *j, int i, int64_t *out)
{
    if (!fh_json_is_number(j, i))
        return FH_EINVAL;
    struct fh_str t = fh_json_raw(j, i);
    bool neg = t.p[0] == '-';
    if (neg) {
        t.p++;
        t.n--;
    }
    uint64_t mag;
    int rc = digits_u64(t, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &mag);
    if (rc != 0)
        return rc;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

int fh_json_u64(const struct fh_json *j, int i, uint64_t *out)
{
    if (!fh_json_is_number(j, i))
        return FH_EINVAL;
    struct fh_str t = fh_json_raw(j, i);
    if (t.p[0] == '-')
        return FH_ERANGE;
    return digits_u64(t, UINT64_MAX, out);
}

int fh_json_bool(const struct fh_json *j, int i, bool *out)
{
    if (i < 0 || j->tok[i].type != JSMN_PRIMITIVE)
        return FH_EINVAL;
    char c = j->src[j->tok[i].start];
    if (c == 't' || c == 'f') {
        *out = c == 't';
        return 0;
    }
    return FH_EINVAL;
}

int fh_json_decimal(const struct fh_json *j, int i, unsigned flags, fh_decimal *out)
{
    if (i < 0)
        return FH_EINVAL;
    struct fh_str t = fh_json_raw(j, i);
    if (j->tok[i].type == JSMN_STRING) {
        if (j->esc[i])
            return FH_DEC_ETRAILING; /* no decimal text needs an escape */
        return fh_decimal_parse(t.p, t.n, flags, out);
    }
    if (fh_json_is_number(j, i))
        return fh_decimal_parse(t.p, t.n, flags | FH_DEC_JSON | FH_DEC_ALLOW_EXP, out);
    return FH_EINVAL;
}
