/*
 * testutil.h - helpers shared by the unit tests.
 */
#ifndef FH_TESTUTIL_H
#define FH_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The recorded corpus directory (../shared/corpus), from $FH_CORPUS_DIR. Fails the test if it
 * is not set or does not exist: the corpus is part of every CI run. */
const char *fh_test_corpus_dir(void);

/* Reads a whole file into a malloc'd NUL-terminated buffer; fails the test on error. */
char *fh_test_read_file(const char *path, size_t *len);

/* Pages of [p, p + bytes) resident in memory (mincore). */
size_t fh_test_resident_pages(const void *p, size_t bytes);

/* Creates a fresh temporary directory; returns its malloc'd path. */
char *fh_test_tmpdir(void);

/* Calls fn(line, len, ctx) for every line of path (without the newline). */
void fh_test_each_line(const char *path, void (*fn)(const char *line, size_t len, void *ctx),
                       void *ctx);

/* Calls fn(path, ctx) for every regular file under dir (recursively) whose name ends with
 * suffix (NULL: every file), in sorted order. Returns the number of files visited. */
size_t fh_test_each_file(const char *dir, const char *suffix,
                         void (*fn)(const char *path, void *ctx), void *ctx);

#endif
