/*
 * test_registry.c - the Schema Registry client (src/sink/registry.c) against the stand-in
 * (tests/tools/registry_standin.py, a separate process speaking HTTP): a new subject is
 * registered, a known schema is found without registering again, a subject holding other
 * versions is checked for compatibility first, an incompatible schema, an unreachable
 * registry, a failing one and a slow one are each refused with their reason; the JSON string
 * escaping round-trips.
 */
#include "testutil.h"

#include "codec/avro.h"
#include "core/err.h"
#include "sink/registry.h"
#include "venue/json.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

struct standin {
    pid_t pid;
    char url[128];
};

/* Starts the stand-in with extra arguments (NULL-terminated). */
static void standin_start(struct standin *s, const char *const *extra)
{
    const char *py = getenv("FH_PYTHON") ? getenv("FH_PYTHON") : "/usr/bin/python3";
    const char *src = getenv("FH_SOURCE_DIR");
    assert_non_null(src);
    char script[4096];
    snprintf(script, sizeof(script), "%s/tests/tools/registry_standin.py", src);
    const char *argv[16] = {py, script};
    int n = 2;
    for (; extra != NULL && *extra != NULL && n < 15; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(py, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    char c;
    while (len + 1 < sizeof(s->url) && read(fds[0], &c, 1) == 1 && c != '\n')
        s->url[len++] = c;
    s->url[len] = '\0';
    close(fds[0]);
    if (strncmp(s->url, "http://", 7) != 0)
        fail_msg("the registry stand-in did not start (%s)", s->url);
}

static void standin_stop(struct standin *s)
{
    kill(s->pid, SIGTERM);
    int st;
    waitpid(s->pid, &st, 0);
}

static int reg(const char *url, const char *subject, const char *schema, uint32_t *id,
               enum fh_registry_failure *why, char *err, size_t errlen, int64_t timeout_ms)
{
    struct fh_registry_config c = {url, timeout_ms};
    return fh_registry_register(&c, subject, schema, strlen(schema), id, why, err, errlen);
}

static char *write_tmp(const char *text)
{
    char *dir = fh_test_tmpdir();
    size_t n = strlen(dir) + 16;
    char *p = malloc(n);
    snprintf(p, n, "%s/s.avsc", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(dir);
    return p;
}

static const char other_schema[] =
    "{\"type\":\"record\",\"name\":\"Trade\",\"namespace\":\"feedhandler\",\"fields\":"
    "[{\"name\":\"venue\",\"type\":\"string\"}]}";

static void test_registers_then_finds(void **state)
{
    (void)state;
    struct standin s;
    standin_start(&s, NULL);
    char err[512];
    uint32_t id = 0, id2 = 0;
    enum fh_registry_failure why;
    assert_int_equal(
        reg(s.url, "trades-value", fh_trade_schema_json, &id, &why, err, sizeof(err), 5000), 0);
    assert_int_equal(why, FH_REGISTRY_OK);
    assert_int_equal(id, 1);
    /* Again: found by the lookup, same id. A trailing slash in the URL is fine. */
    char url[160];
    snprintf(url, sizeof(url), "%s/", s.url);
    assert_int_equal(
        reg(url, "trades-value", fh_trade_schema_json, &id2, &why, err, sizeof(err), 5000), 0);
    assert_int_equal(id2, id);
    /* Another subject with the same schema: same global id. */
    assert_int_equal(
        reg(s.url, "trades.kraken-value", fh_trade_schema_json, &id2, &why, err, sizeof(err), 5000),
        0);
    assert_int_equal(id2, id);
    standin_stop(&s);
}

static void test_other_versions_are_checked_first(void **state)
{
    (void)state;
    char *path = write_tmp(other_schema);
    char pre[4200];
    snprintf(pre, sizeof(pre), "trades-value=%s", path);
    const char *args[] = {"--preload", pre, NULL};
    struct standin s;
    standin_start(&s, args);
    char err[512];
    uint32_t id = 0;
    enum fh_registry_failure why;
    assert_int_equal(
        reg(s.url, "trades-value", fh_trade_schema_json, &id, &why, err, sizeof(err), 5000), 0);
    assert_int_equal(id, 2); /* the preloaded schema has id 1 */
    standin_stop(&s);

    /* The same, marked incompatible: refused, nothing registered. */
    const char *args2[] = {"--preload", pre, "--incompatible", "trades-value", NULL};
    standin_start(&s, args2);
    int rc = reg(s.url, "trades-value", fh_trade_schema_json, &id, &why, err, sizeof(err), 5000);
    assert_int_equal(rc, FH_ESTATE);
    assert_int_equal(why, FH_REGISTRY_INCOMPATIBLE);
    assert_non_null(strstr(err, "incompatible with the latest version of subject trades-value"));
    assert_non_null(strstr(err, "READER_FIELD_MISSING_DEFAULT_VALUE")); /* the registry's why */
    standin_stop(&s);
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

static void test_unreachable_failing_and_slow_registries(void **state)
{
    (void)state;
    char err[512];
    uint32_t id;
    enum fh_registry_failure why;
    /* Nothing listens on this port. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    assert_int_equal(reg(url, "t-value", fh_trade_schema_json, &id, &why, err, sizeof(err), 2000),
                     FH_EIO);
    assert_int_equal(why, FH_REGISTRY_UNREACHABLE);
    assert_non_null(strstr(err, "unreachable"));

    struct standin s;
    const char *fail[] = {"--fail-status", "500", NULL};
    standin_start(&s, fail);
    assert_int_equal(reg(s.url, "t-value", fh_trade_schema_json, &id, &why, err, sizeof(err), 2000),
                     FH_EIO);
    assert_int_equal(why, FH_REGISTRY_UNREACHABLE);
    assert_non_null(strstr(err, "HTTP 500"));
    standin_stop(&s);

    const char *slow[] = {"--delay-ms", "3000", NULL};
    standin_start(&s, slow);
    assert_int_equal(reg(s.url, "t-value", fh_trade_schema_json, &id, &why, err, sizeof(err), 300),
                     FH_EIO);
    assert_int_equal(why, FH_REGISTRY_UNREACHABLE);
    assert_non_null(strstr(err, "imed out")); /* curl: "Operation timed out ..." */
    standin_stop(&s);

    /* A schema the registry rejects as invalid: an error, not "unreachable". */
    standin_start(&s, NULL);
    assert_int_equal(reg(s.url, "t-value", "{not json", &id, &why, err, sizeof(err), 2000), FH_EIO);
    assert_int_equal(why, FH_REGISTRY_ERROR);
    assert_non_null(strstr(err, "HTTP 422"));
    standin_stop(&s);
}

static void test_json_string_escaping_round_trips(void **state)
{
    (void)state;
    static const char in[] = "{\"a\": \"q\\\"b\"}\n\t\r\x01\x1f end \xc3\xa9";
    char out[256], doc[300], back[256];
    size_t n = fh_registry_json_string(in, sizeof(in) - 1, out, sizeof(out));
    assert_true(n < sizeof(out));
    assert_int_equal(strlen(out), n);
    assert_int_equal(fh_registry_json_string(in, sizeof(in) - 1, NULL, 0), n);
    snprintf(doc, sizeof(doc), "{\"schema\":%s}", out);
    struct fh_json j;
    assert_int_equal(fh_json_init(&j, 16), 0);
    assert_int_equal(fh_json_parse(&j, doc, strlen(doc)), 0);
    size_t len;
    assert_int_equal(fh_json_str(&j, fh_json_get(&j, 0, "schema"), back, sizeof(back), &len), 0);
    assert_int_equal(len, sizeof(in) - 1);
    assert_memory_equal(back, in, len);
    fh_json_release(&j);
    /* Too small a buffer: the needed length, nothing past the buffer. */
    char small[4] = "zzz";
    assert_int_equal(fh_registry_json_string("abcdef", 6, small, 3), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers_then_finds),
        cmocka_unit_test(test_other_versions_are_checked_first),
        cmocka_unit_test(test_unreachable_failing_and_slow_registries),
        cmocka_unit_test(test_json_string_escaping_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
