/*
 * json_ref.c - the reference for venue/json.c's tokenizer: the two-pass reader it replaced
 * (jsmn in strict mode with parent links, then a walk over the tokens that checks what jsmn
 * lets through: separators, string contents, escapes, UTF-8, number grammar). Kept as the
 * oracle test_json and fuzz_json compare fh_json_parse with: both must accept the same inputs
 * and produce the same tokens. Not linked into the product.
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "json_ref.h"

#include "core/utf8.h"

#include <limits.h>
#include <string.h>

#define FH_JSON_MAX_DEPTH 32

/* Length of the UTF-8 sequence starting at s[0] (at most n bytes), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
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
static size_t decode_escape(const char *s, const char *end, uint32_t *cp)
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

/* Validates a string token's contents; records whether it holds escapes. */
static int check_string(struct fh_json *j, int i)
{
    const char *s = j->src + j->tok[i].start;
    const char *end = j->src + j->tok[i].end;
    bool has_esc = false;
    while (s < end) {
        /* Fast path: eight plain printable ASCII bytes (no backslash, no control byte, no
         * high bit) at a time, which is nearly all of market data. */
        while (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            uint64_t ctrl = (w - ones * 0x20) & ~w; /* bytes < 0x20 (or >= 0x80) */
            uint64_t bsl = ((w ^ (ones * 0x5c)) - ones) & ~(w ^ (ones * 0x5c)); /* == '\\' */
            if ((ctrl | bsl | w) & highs)
                break;
            s += 8;
        }
        if (s >= end)
            break;
        unsigned char c = (unsigned char)*s;
        if (c == '\\') {
            uint32_t cp;
            size_t k = decode_escape(s, end, &cp);
            if (k == 0)
                return FH_JSON_EESCAPE;
            has_esc = true;
            s += k;
        } else if (c < 0x20) {
            return FH_JSON_ECONTROL;
        } else if (c < 0x80) {
            s++;
        } else {
            size_t k = utf8_seq((const unsigned char *)s, (size_t)(end - s));
            if (k == 0)
                return FH_JSON_EUTF8;
            s += k;
        }
    }
    j->esc[i] = has_esc;
    return 0;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

static int check_primitive(const struct fh_json *j, int i)
{
    struct fh_str t = fh_json_raw(j, i);
    if ((t.n == 4 && memcmp(t.p, "true", 4) == 0) || (t.n == 5 && memcmp(t.p, "false", 5) == 0) ||
        (t.n == 4 && memcmp(t.p, "null", 4) == 0))
        return 0;
    return number_valid(t.p, t.n) ? 0 : FH_JSON_ENUMBER;
}

static size_t outer_start(const struct fh_json *j, int i)
{
    return (size_t)j->tok[i].start - (j->tok[i].type == JSMN_STRING ? 1 : 0);
}

static size_t outer_end(const struct fh_json *j, int i)
{
    return (size_t)j->tok[i].end + (j->tok[i].type == JSMN_STRING ? 1 : 0);
}

static size_t skip_ws(const struct fh_json *j, size_t p, size_t limit)
{
    while (p < limit) {
        char c = j->src[p];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p++;
    }
    return p;
}

/*
 * Validates the value at token i and everything below it. jsmn has produced the tokens in
 * document order; here the bytes between them are checked, which catches the structural
 * errors jsmn tolerates (missing or extra commas and colons). Returns the index of the next
 * token after the subtree, or a negative fh_json_err.
 */
static int check_value(struct fh_json *j, int i, int depth)
{
    if (i >= j->n)
        return FH_JSON_ESYNTAX;
    jsmntok_t *t = &j->tok[i];
    if (t->type == JSMN_STRING) {
        int rc = check_string(j, i);
        return rc < 0 ? rc : i + 1;
    }
    if (t->type == JSMN_PRIMITIVE) {
        int rc = check_primitive(j, i);
        return rc < 0 ? rc : i + 1;
    }
    if (t->type != JSMN_OBJECT && t->type != JSMN_ARRAY)
        return FH_JSON_ESYNTAX;
    if (depth >= FH_JSON_MAX_DEPTH)
        return FH_JSON_ESYNTAX;
    bool obj = t->type == JSMN_OBJECT;
    size_t close = (size_t)t->end - 1; /* position of the closing bracket */
    size_t p = (size_t)t->start + 1;
    int k = i + 1;
    for (int c = 0; c < t->size; c++) {
        p = skip_ws(j, p, close);
        if (c > 0) {
            if (p >= close || j->src[p] != ',')
                return FH_JSON_ESYNTAX;
            p = skip_ws(j, p + 1, close);
        }
        if (k >= j->n)
            return FH_JSON_ESYNTAX;
        if (obj) {
            if (j->tok[k].type != JSMN_STRING || outer_start(j, k) != p)
                return FH_JSON_ESYNTAX;
            int rc = check_string(j, k);
            if (rc < 0)
                return rc;
            p = skip_ws(j, outer_end(j, k), close);
            if (p >= close || j->src[p] != ':')
                return FH_JSON_ESYNTAX;
            p = skip_ws(j, p + 1, close);
            k++;
            if (k >= j->n)
                return FH_JSON_ESYNTAX;
        }
        if (outer_start(j, k) != p)
            return FH_JSON_ESYNTAX;
        int next = check_value(j, k, depth + 1);
        if (next < 0)
            return next;
        p = outer_end(j, k);
        k = next;
    }
    p = skip_ws(j, p, close);
    if (p != close)
        return FH_JSON_ESYNTAX;
    return k;
}

int fh_json_ref_parse(struct fh_json *j, const char *s, size_t n)
{
    j->src = s;
    j->len = n;
    j->n = 0;
    if (n > INT_MAX)
        return FH_JSON_ETOOLONG;
    jsmn_parser p;
    jsmn_init(&p);
    int r = jsmn_parse(&p, s, n, j->tok, j->cap);
    if (r == JSMN_ERROR_NOMEM)
        return FH_JSON_ETOKENS;
    if (r == JSMN_ERROR_PART)
        return FH_JSON_EPARTIAL;
    if (r < 0)
        return FH_JSON_ESYNTAX;
    if (r == 0)
        return FH_JSON_EROOT;
    j->n = r;
    if (j->tok[0].type != JSMN_OBJECT && j->tok[0].type != JSMN_ARRAY)
        return FH_JSON_EROOT;
    if (j->tok[0].end < 0)
        return FH_JSON_EPARTIAL;
    /* Only whitespace may precede the root. */
    if (skip_ws(j, 0, n) != (size_t)j->tok[0].start)
        return FH_JSON_ESYNTAX;
    int next = check_value(j, 0, 0);
    if (next < 0) {
        j->n = 0;
        return next;
    }
    if (next != r || skip_ws(j, (size_t)j->tok[0].end, n) != n) {
        j->n = 0;
        return FH_JSON_ETRAILING;
    }
    return 0;
}
