/*
 * json_ref.c - the reference for venue/json.c's tokenizer: the two-pass reader it replaced
 * (jsmn in strict mode with parent links, then a walk over the tokens that checks what jsmn
 * lets through: separators, string contents, escapes, UTF-8, number grammar). Kept as the
 * oracle test_json and fuzz_json compare fh_json_parse with: both must accept the same inputs
 * and produce the same tokens. The two share only the decoding of one escape and the length
 * of one UTF-8 sequence (venue/json_int.h), which unit.json checks through its cases of bad
 * escapes and UTF-8. Not linked into the product.
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "json_ref.h"
#include "venue/json_int.h"

#include <limits.h>
#include <string.h>

#define FH_JSON_MAX_DEPTH 32

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
            size_t k = fh__json_decode_escape(s, end, &cp);
            if (k == 0)
                return FH_JSON_EESCAPE;
            has_esc = true;
            s += k;
        } else if (c < 0x20) {
            return FH_JSON_ECONTROL;
        } else if (c < 0x80) {
            s++;
        } else {
            size_t k = fh__json_utf8_seq((const unsigned char *)s, (size_t)(end - s));
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
