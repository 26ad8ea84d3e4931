/*
 * test_json.c - strict JSON tokenizing (src/venue/json.c).
 */
#include "json_ref.h"
#include "testutil.h"

#include "core/err.h"
#include "venue/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct fh_json J;

static int setup(void **state)
{
    (void)state;
    return fh_json_init(&J, 256);
}

static int teardown(void **state)
{
    (void)state;
    fh_json_release(&J);
    return 0;
}

static int parse(const char *s)
{
    return fh_json_parse(&J, s, strlen(s));
}

static void test_accepts_valid_documents(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{}",
        "[]",
        " \t\r\n{ } \n",
        "{\"a\":1}",
        "{\"a\" : [1, 2.5, -0, 0e1, 1E+2, -1.5e-8] , \"b\":{}}",
        "[true,false,null,\"x\"]",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}",
        "{\"u\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "[[[[[[[[[[1]]]]]]]]]]",
        "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"p\":\"1.0\"}}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int rc = parse(ok[i]);
        if (rc != 0)
            fail_msg("rejected valid %s: %s", ok[i], fh_json_strerror(rc));
    }
}

struct bad {
    const char *text;
    int err;
};

static void test_rejects_what_strict_json_forbids(void **state)
{
    (void)state;
    static const struct bad bad[] = {
        {"", FH_JSON_EROOT},
        {"   ", FH_JSON_EROOT},
        {"1", FH_JSON_EROOT},
        {"\"x\"", FH_JSON_EROOT},
        {"[1 2]", FH_JSON_ESYNTAX},
        {"[1,]", FH_JSON_ESYNTAX},
        {"[,1]", FH_JSON_ESYNTAX},
        {"{\"a\":1,}", FH_JSON_ESYNTAX},
        {"{\"a\" 1}", FH_JSON_ESYNTAX},
        {"{\"a\":1 \"b\":2}", FH_JSON_ESYNTAX},
        {"{\"a\"::1}", FH_JSON_ESYNTAX},
        {"{1:2}", FH_JSON_ESYNTAX},
        {"{\"a\":1}}", FH_JSON_ETRAILING},
        {"{\"a\":1} {}", FH_JSON_ETRAILING},
        {"{\"a\":1} x", FH_JSON_ETRAILING},
        {"{\"a\":tru}", FH_JSON_ENUMBER},
        {"{\"a\":nulll}", FH_JSON_ENUMBER},
        {"{\"a\":01}", FH_JSON_ENUMBER},
        {"{\"a\":1.}", FH_JSON_ENUMBER},
        {"{\"a\":.5}", FH_JSON_ESYNTAX},
        {"{\"a\":1e}", FH_JSON_ENUMBER},
        {"{\"a\":--1}", FH_JSON_ENUMBER},
        {"{\"a\":1-2}", FH_JSON_ENUMBER},
        {"{\"a\":\"x\\q\"}", FH_JSON_EESCAPE},
        {"{\"a\":\"\\ud83d\"}", FH_JSON_EESCAPE},
        {"{\"a\":\"\\ude00\"}", FH_JSON_EESCAPE},
        {"{\"a\":\"\\ud83d\\u0041\"}", FH_JSON_EESCAPE},
        {"{\"a\":\"tab\there\"}", FH_JSON_ECONTROL},
        {"{\"a\":\"\xc3\"}", FH_JSON_EUTF8},
        {"{\"a\":\"\xc0\xaf\"}", FH_JSON_EUTF8},         /* overlong '/' */
        {"{\"a\":\"\xed\xa0\x80\"}", FH_JSON_EUTF8},     /* encoded surrogate */
        {"{\"a\":\"\xf4\x90\x80\x80\"}", FH_JSON_EUTF8}, /* above U+10FFFF */
        {"{\"a\":\"\xff\"}", FH_JSON_EUTF8},
        {"{\"a\":[1,2}", FH_JSON_ESYNTAX},
        {"{\"a\":[1,2]", FH_JSON_EPARTIAL},
        {"{\"a\":\"abc", FH_JSON_EPARTIAL},
    };
    size_t wrong = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i].text);
        if (rc != bad[i].err) {
            print_message("case %zu %s: got %s, want %s\n", i, bad[i].text, fh_json_strerror(rc),
                          fh_json_strerror(bad[i].err));
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

static void test_depth_and_token_limits(void **state)
{
    (void)state;
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    /* 100 levels fit in 256 tokens but exceed the depth limit. */
    assert_int_equal(fh_json_parse(&J, deep, 200), FH_JSON_ESYNTAX);

    char many[1024];
    size_t o = 0;
    many[o++] = '[';
    for (int i = 0; i < 300; i++) {
        many[o++] = '1';
        many[o++] = ',';
    }
    many[o - 1] = ']';
    assert_int_equal(fh_json_parse(&J, many, o), FH_JSON_ETOKENS);
}

static void test_lookup_and_values(void **state)
{
    (void)state;
    const char *m = "{\"e\":\"trade\",\"nested\":{\"e\":\"inner\",\"arr\":[1,[2,3],{\"x\":4}]},"
                    "\"t\":9223372036854775807,\"n\":-9223372036854775808,\"big\":"
                    "18239578009413566319,\"m\":true,\"f\":1.5,\"\\u0070\":\"0.001\","
                    "\"q\":1e-08,\"k\":\"caf\\u00e9\"}";
    assert_int_equal(parse(m), 0);
    int e = fh_json_get(&J, 0, "e");
    assert_true(fh_json_str_eq(&J, e, "trade"));
    int nested = fh_json_get(&J, 0, "nested");
    assert_true(fh_json_str_eq(&J, fh_json_get(&J, nested, "e"), "inner"));
    int arr = fh_json_get(&J, nested, "arr");
    assert_int_equal(fh_json_size(&J, arr), 3);
    int third = fh_json_at(&J, arr, 2);
    int64_t v;
    assert_int_equal(fh_json_i64(&J, fh_json_get(&J, third, "x"), &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(fh_json_at(&J, arr, 3), -1);

    assert_int_equal(fh_json_i64(&J, fh_json_get(&J, 0, "t"), &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(fh_json_i64(&J, fh_json_get(&J, 0, "n"), &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(fh_json_i64(&J, fh_json_get(&J, 0, "big"), &v), FH_ERANGE);
    uint64_t u;
    assert_int_equal(fh_json_u64(&J, fh_json_get(&J, 0, "big"), &u), 0);
    assert_true(u == 18239578009413566319ULL);
    assert_int_equal(fh_json_i64(&J, fh_json_get(&J, 0, "f"), &v), FH_EINVAL);
    assert_int_equal(fh_json_i64(&J, fh_json_get(&J, 0, "e"), &v), FH_EINVAL);

    bool b;
    assert_int_equal(fh_json_bool(&J, fh_json_get(&J, 0, "m"), &b), 0);
    assert_true(b);
    assert_int_equal(fh_json_bool(&J, fh_json_get(&J, 0, "t"), &b), FH_EINVAL);

    /* An escaped key is found by its decoded name. */
    assert_true(fh_json_get(&J, 0, "p") > 0);
    assert_int_equal(fh_json_get(&J, 0, "missing"), -1);
    assert_int_equal(fh_json_get(&J, arr, "e"), -1); /* not an object */

    char buf[32];
    size_t n;
    assert_int_equal(fh_json_str(&J, fh_json_get(&J, 0, "k"), buf, sizeof(buf), &n), 0);
    assert_string_equal(buf, "caf\xc3\xa9");
    assert_int_equal(fh_json_str(&J, fh_json_get(&J, 0, "k"), buf, 4, &n), FH_ENOSPACE);
    struct fh_str view;
    assert_int_equal(fh_json_str_view(&J, e, buf, sizeof(buf), &view), 0);
    assert_ptr_equal(view.p, m + 6); /* no escapes: a view into the message */
}

static void test_decimals_from_strings_and_numbers(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"s\":\"16552.12000000\",\"n\":85772.4,\"x\":2.5E+3,\"bad\":\"1e-8\","
                           "\"esc\":\"\\u0031\",\"b\":true}"),
                     0);
    fh_decimal d;
    char txt[FH_DECIMAL_TEXT_MAX + 1];
    assert_int_equal(fh_json_decimal(&J, fh_json_get(&J, 0, "s"), 0, &d), 0);
    fh_decimal_format(d, txt);
    assert_string_equal(txt, "16552.12");
    assert_int_equal(fh_json_decimal(&J, fh_json_get(&J, 0, "n"), 0, &d), 0);
    fh_decimal_format(d, txt);
    assert_string_equal(txt, "85772.4");
    assert_int_equal(fh_json_decimal(&J, fh_json_get(&J, 0, "x"), 0, &d), 0);
    fh_decimal_format(d, txt);
    assert_string_equal(txt, "2500");
    /* Exponents are JSON number syntax, not exchange string syntax. */
    assert_true(fh_json_decimal(&J, fh_json_get(&J, 0, "bad"), 0, &d) < 0);
    assert_true(fh_json_decimal(&J, fh_json_get(&J, 0, "esc"), 0, &d) < 0);
    assert_int_equal(fh_json_decimal(&J, fh_json_get(&J, 0, "b"), 0, &d), FH_EINVAL);
}

static void test_utf8_validator(void **state)
{
    (void)state;
    assert_true(fh_utf8_valid("plain ascii text, long enough for the fast path", 47));
    assert_true(fh_utf8_valid("\xe2\x82\xac\xf0\x9f\x98\x80", 7));
    assert_false(fh_utf8_valid("abcdefgh\x80", 9));
    assert_false(fh_utf8_valid("\xe2\x82", 2));
    assert_false(fh_utf8_valid("\xe0\x80\xaf", 3));
}

/* Every line of the recorded corpus is valid JSON and must tokenize (large token budget). */
static size_t corpus_lines;
static struct fh_json BIG;

static void corpus_line(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    if (len == 0)
        return;
    int rc = fh_json_parse(&BIG, line, len);
    if (rc != 0)
        fail_msg("corpus line rejected (%s): %.200s", fh_json_strerror(rc), line);
    corpus_lines++;
}

static void corpus_file(const char *path, void *ctx)
{
    (void)ctx;
    fh_test_each_line(path, corpus_line, NULL);
}

static void corpus_rest_file(const char *path, void *ctx)
{
    (void)ctx;
    size_t n;
    char *buf = fh_test_read_file(path, &n);
    int rc = fh_json_parse(&BIG, buf, n);
    if (rc != 0)
        fail_msg("%s rejected: %s", path, fh_json_strerror(rc));
    free(buf);
}

static void test_corpus_is_accepted(void **state)
{
    (void)state;
    assert_int_equal(fh_json_init(&BIG, 1 << 20), 0);
    const char *dir = fh_test_corpus_dir();
    char rest[4096];
    snprintf(rest, sizeof(rest), "%s/rest", dir);
    fh_test_each_file(dir, ".ndjson", corpus_file, NULL);
    assert_int_equal(fh_test_each_file(rest, ".json", corpus_rest_file, NULL), 4);
    fh_json_release(&BIG);
    print_message("corpus lines tokenized: %zu\n", corpus_lines);
    assert_true(corpus_lines > 50000);
}

/*
 * The single-pass tokenizer against the two-pass reader it replaced (json_ref.c): the same
 * verdict (accepted or not) on every input, and for an accepted one the same tokens (type,
 * bounds, size, parent) and escape flags. Inputs: hand-written edge cases, every corpus line,
 * and mutants of a sample of corpus lines (every prefix, bytes replaced by the characters
 * that matter to the grammar, bytes deleted). fuzz_json runs the same comparison under
 * libFuzzer. Error codes may differ: the old reader named jsmn's first complaint.
 */
static struct fh_json REF;
static size_t diff_inputs, diff_accepted;

static void same_as_reference(const char *s, size_t n)
{
    int a = fh_json_parse(&BIG, s, n);
    int b = fh_json_ref_parse(&REF, s, n);
    diff_inputs++;
    if ((a == 0) != (b == 0))
        fail_msg("verdicts differ (new %s, reference %s) on %zu bytes: %.*s", fh_json_strerror(a),
                 fh_json_strerror(b), n, (int)(n < 300 ? n : 300), s);
    if (a != 0)
        return;
    diff_accepted++;
    assert_int_equal(BIG.n, REF.n);
    for (int i = 0; i < BIG.n; i++) {
        const jsmntok_t *x = &BIG.tok[i], *y = &REF.tok[i];
        if (x->type != y->type || x->start != y->start || x->end != y->end || x->size != y->size ||
            x->parent != y->parent || (x->type == JSMN_STRING && BIG.esc[i] != REF.esc[i]))
            fail_msg("token %d differs (type %d/%d start %d/%d end %d/%d size %d/%d parent "
                     "%d/%d) in: %.*s",
                     i, x->type, y->type, x->start, y->start, x->end, y->end, x->size, y->size,
                     x->parent, y->parent, (int)(n < 300 ? n : 300), s);
    }
}

static void mutants(const char *s, size_t n)
{
    static const char subst[] = {'"', '\\', ',', ':', '{', '}', '[',    ']',    ' ',    '0',
                                 '-', '.',  'e', 'u', 'n', 't', '\x01', '\x80', '\xc3', '\xff'};
    char *m = malloc(n + 1);
    assert_non_null(m);
    for (size_t k = 0; k <= n; k++)
        same_as_reference(s, k);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < sizeof(subst); c++) {
            memcpy(m, s, n);
            m[i] = subst[c];
            same_as_reference(m, n);
        }
        memcpy(m, s, i);
        memcpy(m + i, s + i + 1, n - i - 1);
        same_as_reference(m, n - 1);
    }
    free(m);
}

static size_t diff_lines;

static void diff_line(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    same_as_reference(line, len);
    if (len > 0 && len < 600 && diff_lines++ % 97 == 0)
        mutants(line, len);
}

static void diff_file(const char *path, void *ctx)
{
    (void)ctx;
    fh_test_each_line(path, diff_line, NULL);
}

static void test_matches_the_reference(void **state)
{
    (void)state;
    assert_int_equal(fh_json_init(&BIG, 4096), 0);
    assert_int_equal(fh_json_init(&REF, 4096), 0);
    static const char *const edge[] = {
        "{}",
        "[]",
        " {} ",
        "[[]]",
        "[{}]",
        "{\"a\":{}}",
        "{\"a\":[]}",
        "[1,[2,[3]],{\"b\":4}]",
        "{\"a\":\"\\\"\",\"b\":\"\\u00e9\\ud83d\\ude00\"}",
        "[true,false,null]",
        "[-0,0.5,1e5,-2E-3]",
        "[\"\xe2\x82\xac\"]",
        "{\"\":\"\"}",
        "[1 ]",
        "[1\n,\t2\r]",
        "[\"abcdefghijklmnop\"]",
        "[\"abcdefg\\\\hijklmnop\"]",
        "[1",
        "[\"a",
        "{\"a\"",
        "{\"a\":",
        "[tru",
        "[-",
        "[1.",
        "[1e",
        "[1e+",
        "{\"a\":1,\"a\":2}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "[}",
        "{]",
        "[1]]",
        "{\"a\":1}{",
        "[\"\\u0000\"]",
        "[\"\\/\"]",
        "[0x1]",
        "[+1]",
        "[.1]",
        "[1.e1]",
        "[Infinity]",
        "[NaN]",
        "{\"a\" : 1 , \"b\" : [ 1 , 2 ] }"};
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        same_as_reference(edge[i], strlen(edge[i]));
        mutants(edge[i], strlen(edge[i]));
    }
    fh_test_each_file(fh_test_corpus_dir(), ".ndjson", diff_file, NULL);
    print_message("compared with the reference: %zu inputs, %zu accepted\n", diff_inputs,
                  diff_accepted);
    assert_true(diff_lines > 50000);
    assert_true(diff_accepted > 60000 && diff_inputs - diff_accepted > 100000);
    fh_json_release(&REF);
    fh_json_release(&BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_valid_documents),
        cmocka_unit_test(test_rejects_what_strict_json_forbids),
        cmocka_unit_test(test_depth_and_token_limits),
        cmocka_unit_test(test_lookup_and_values),
        cmocka_unit_test(test_decimals_from_strings_and_numbers),
        cmocka_unit_test(test_utf8_validator),
        cmocka_unit_test(test_corpus_is_accepted),
        cmocka_unit_test(test_matches_the_reference),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
