#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

const char *fh_test_corpus_dir(void)
{
    const char *d = getenv("FH_CORPUS_DIR");
    struct stat st;
    if (d == NULL || stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fail_msg("corpus directory not found (FH_CORPUS_DIR=%s)", d ? d : "(unset)");
    }
    return d;
}

char *fh_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

char *fh_test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/fhtest.XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (d == NULL)
        fail_msg("mkdtemp failed");
    return strdup(d);
}

void fh_test_each_line(const char *path, void (*fn)(const char *line, size_t len, void *ctx),
                       void *ctx)
{
    size_t n;
    char *buf = fh_test_read_file(path, &n);
    char *p = buf, *end = buf + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        fn(p, len, ctx);
        p += len + (nl ? 1 : 0);
        if (nl && p[-1] == '\r')
            p++;
    }
    free(buf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t fh_test_each_file(const char *dir, const char *suffix,
                         void (*fn)(const char *path, void *ctx), void *ctx)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open directory %s", dir);
    char **names = NULL;
    size_t count = 0, visited = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (count + 1) * sizeof(*names));
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof(*names), cmp_str);
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            visited += fh_test_each_file(path, suffix, fn, ctx);
        } else if (S_ISREG(st.st_mode)) {
            size_t nl = strlen(names[i]), sl = suffix ? strlen(suffix) : 0;
            if (suffix == NULL || (nl >= sl && strcmp(names[i] + nl - sl, suffix) == 0)) {
                fn(path, ctx);
                visited++;
            }
        }
        free(names[i]);
    }
    free(names);
    return visited;
}

/* Pages of [p, p + bytes) resident in memory (mincore). */
size_t fh_test_resident_pages(const void *p, size_t bytes)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)(pg - 1);
    size_t n = ((uintptr_t)p + bytes - start + pg - 1) / pg;
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore((void *)start, n * pg, vec), 0);
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    free(vec);
    return r;
}
