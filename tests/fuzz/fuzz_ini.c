/*
 * fuzz_ini.c - libFuzzer target: arbitrary bytes as the configuration file, through the
 * loader (src/app/config_load.c: fh_config_load with no environment and no --set, so the file
 * and the cross-key checks), then the effective configuration shown back (fh_config_format).
 *
 * Checked: nothing crashes or leaks; every error line starts with "FILE:LINE: " where LINE is
 * 0 (the file as a whole, or a default) or one of the file's lines, and at most
 * FH_CONFIG_MAX_ERRORS are kept; the same text through fh_config_load_string gives the same
 * errors and values; each key's origin is "default" or "FILE:LINE" of a line holding that key;
 * and the effective values, given back through --set, parse to themselves (what
 * fh_config_format writes is a value the loader reads the same).
 *
 * Seeds (tests/fuzz/make-seeds reads these lines; tests/fuzz/gen-seeds writes the file):
 * FUZZ_SEEDS_ESCAPED: ini.seeds
 * FUZZ_DICT: ini.dict
 */
#include "fuzz_util.h"

#include "app/config.h"
#include "core/log.h"

#include <ctype.h>
#include <unistd.h>

static char path[64];
static const char *const no_env[] = {NULL};

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "/tmp/fuzz_ini.%d.ini", (int)getpid());
    atexit(remove_file);
    return 0;
}

static void write_file(const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    FH_FUZZ_CHECK(f != NULL);
    FH_FUZZ_CHECK(n == 0 || fwrite(d, 1, n, f) == n);
    FH_FUZZ_CHECK(fclose(f) == 0);
}

/* The line number in "PATH:LINE: ...", or -1 if the error does not start that way. */
static long error_line(const char *line)
{
    size_t pl = strlen(path);
    if (strncmp(line, path, pl) != 0 || line[pl] != ':' || !isdigit((unsigned char)line[pl + 1]))
        return -1;
    char *end;
    long n = strtol(line + pl + 1, &end, 10);
    return end[0] == ':' && end[1] == ' ' ? n : -1;
}

/* The physical lines of d[0..n), as the loader counts them. */
static size_t count_lines(const uint8_t *d, size_t n)
{
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += d[i] == '\n';
    return lines + (n > 0 && d[n - 1] != '\n');
}

static void check_errors(const struct fh_config_errors *e, size_t lines)
{
    FH_FUZZ_CHECK(e->n <= FH_CONFIG_MAX_ERRORS);
    FH_FUZZ_CHECK(e->dropped == 0 || e->n == FH_CONFIG_MAX_ERRORS);
    for (size_t i = 0; i < e->n; i++) {
        long ln = error_line(e->lines[i]);
        if (ln < 0 || (size_t)ln > lines) {
            fprintf(stderr, "error without FILE:LINE (%zu lines): %s\n", lines, e->lines[i]);
            FH_FUZZ_CHECK(ln >= 0 && (size_t)ln <= lines);
        }
    }
}

static void same_errors(const struct fh_config_errors *a, const struct fh_config_errors *b)
{
    FH_FUZZ_CHECK(a->n == b->n && a->dropped == b->dropped);
    for (size_t i = 0; i < a->n; i++)
        FH_FUZZ_CHECK(strcmp(a->lines[i], b->lines[i]) == 0);
}

static void format(const struct fh_config *c, int id, char *buf, size_t size)
{
    fh_config_format(c, id, buf, size);
    FH_FUZZ_CHECK(memchr(buf, '\0', size) != NULL);
}

static void same_values(const struct fh_config *a, const struct fh_config *b)
{
    static char x[8192], y[8192];
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        format(a, id, x, sizeof(x));
        format(b, id, y, sizeof(y));
        if (strcmp(x, y) != 0) {
            fprintf(stderr, "%s.%s: \"%s\" then \"%s\"\n", fh_config_keys[id].section,
                    fh_config_keys[id].name, x, y);
            FH_FUZZ_CHECK(strcmp(x, y) == 0);
        }
    }
    FH_FUZZ_CHECK(a->kafka_n == b->kafka_n);
    for (size_t i = 0; i < a->kafka_n; i++) {
        const char *v = fh_config_kafka_get(b, a->kafka[i].key);
        FH_FUZZ_CHECK(v != NULL && strcmp(v, a->kafka[i].value) == 0);
    }
}

/* Each key's origin: its default, or a line of the file. */
static void check_origins(const struct fh_config *c, size_t lines)
{
    char buf[256], line[260];
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        fh_config_format_origin(c, id, buf, sizeof(buf));
        if (strcmp(buf, "default") == 0)
            continue;
        snprintf(line, sizeof(line), "%s: ", buf);
        long ln = error_line(line);
        FH_FUZZ_CHECK(ln >= 1 && (size_t)ln <= lines);
    }
}

/* The effective values as --set arguments: "section.key=value". */
static void round_trip(const struct fh_config *c)
{
    static char *args[FH_CONFIG_NKEYS + 256];
    size_t n = 0;
    static char v[8192];
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        format(c, id, v, sizeof(v));
        size_t len =
            strlen(fh_config_keys[id].section) + strlen(fh_config_keys[id].name) + strlen(v) + 3;
        args[n] = malloc(len);
        FH_FUZZ_CHECK(args[n] != NULL);
        snprintf(args[n++], len, "%s.%s=%s", fh_config_keys[id].section, fh_config_keys[id].name,
                 v);
    }
    for (size_t i = 0; i < c->kafka_n && n < sizeof(args) / sizeof(args[0]); i++) {
        size_t len = strlen(c->kafka[i].key) + strlen(c->kafka[i].value) + 8;
        args[n] = malloc(len);
        FH_FUZZ_CHECK(args[n] != NULL);
        snprintf(args[n++], len, "kafka.%s=%s", c->kafka[i].key, c->kafka[i].value);
    }
    struct fh_config back;
    struct fh_config_errors e;
    FH_FUZZ_CHECK(fh_config_init(&back) == 0);
    fh_config_errors_init(&e);
    fh_config_load_sets(&back, (const char *const *)args, n, &e);
    if (e.n > 0) {
        fprintf(stderr, "a value shown back does not load: %s\n", e.lines[0]);
        FH_FUZZ_CHECK(e.n == 0);
    }
    same_values(c, &back);
    fh_config_errors_release(&e);
    fh_config_release(&back);
    for (size_t i = 0; i < n; i++)
        free(args[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The loader refuses files over 1 MiB as a whole; the fuzzer stays well below. */
    if (size > 65536)
        return 0;
    fh_log_set_level(FH_LOG_ERROR);
    size_t lines = count_lines(data, size);
    write_file(data, size);

    struct fh_config c;
    struct fh_config_errors e;
    FH_FUZZ_CHECK(fh_config_init(&c) == 0);
    fh_config_errors_init(&e);
    int rc = fh_config_load(&c, path, no_env, NULL, 0, &e);
    FH_FUZZ_CHECK((rc == 0) == !fh_config_errors_any(&e));
    FH_FUZZ_CHECK(!c.file_error);
    check_errors(&e, lines);
    check_origins(&c, lines);

    /* The same text from memory: the same errors and values (text without NUL bytes). */
    if (memchr(data, '\0', size) == NULL) {
        char *text = malloc(size + 1);
        FH_FUZZ_CHECK(text != NULL);
        memcpy(text, data, size);
        text[size] = '\0';
        struct fh_config c2;
        struct fh_config_errors e2;
        FH_FUZZ_CHECK(fh_config_init(&c2) == 0);
        fh_config_errors_init(&e2);
        fh_config_load_string(&c2, path, text, &e2);
        fh_config_check(&c2, &e2);
        same_errors(&e, &e2);
        same_values(&c, &c2);
        fh_config_errors_release(&e2);
        fh_config_release(&c2);
        free(text);
    }

    round_trip(&c);
    fh_config_errors_release(&e);
    fh_config_release(&c);
    return 0;
}
