/*
 * buf.h - byte buffers.
 *
 * struct fh_buf grows on the heap up to a hard limit (max) set at init: every buffer in the
 * process is bounded. Growth happens during warm-up; on the hot path the capacity is already
 * there, so appends do not allocate.
 *
 * struct fh_fbuf writes into caller-owned fixed memory and never allocates; on overflow it
 * sets a sticky flag and stops writing, so a sequence of appends can be checked once.
 *
 * Both keep the contents NUL-terminated when space allows, for convenience with C strings;
 * lengths are authoritative.
 */
#ifndef FH_CORE_BUF_H
#define FH_CORE_BUF_H

#include "core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fh_buf {
    char *data; /* owned; NULL until the first reserve */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on cap */
};

/* Initialises an empty buffer that may grow to max bytes. Allocates nothing. */
void fh_buf_init(struct fh_buf *b, size_t max);
/* Frees the contents; the buffer can be reused after fh_buf_init. */
void fh_buf_release(struct fh_buf *b);
/* Ensures room for n more bytes (plus a NUL). Returns 0, FH_ENOSPACE past max, FH_ENOMEM. */
int fh_buf_reserve(struct fh_buf *b, size_t n);
int fh_buf_append(struct fh_buf *b, const void *p, size_t n);
int fh_buf_appendf(struct fh_buf *b, const char *fmt, ...) FH_PRINTF(2, 3);
/* Drops the first n bytes, moving the rest to the front. */
void fh_buf_consume(struct fh_buf *b, size_t n);

static inline void fh_buf_reset(struct fh_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

struct fh_fbuf {
    uint8_t *data; /* caller-owned */
    size_t len;
    size_t cap;
    bool overflow; /* sticky: set by the first write that did not fit */
};

static inline void fh_fbuf_init(struct fh_fbuf *b, void *mem, size_t cap)
{
    b->data = (uint8_t *)mem;
    b->len = 0;
    b->cap = cap;
    b->overflow = false;
}

static inline void fh_fbuf_put(struct fh_fbuf *b, const void *p, size_t n)
{
    if (b->overflow || n > b->cap - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void fh_fbuf_putc(struct fh_fbuf *b, uint8_t c)
{
    if (b->overflow || b->len == b->cap) {
        b->overflow = true;
        return;
    }
    b->data[b->len++] = c;
}

void fh_fbuf_putf(struct fh_fbuf *b, const char *fmt, ...) FH_PRINTF(2, 3);

/* A borrowed byte range: not owned, not NUL-terminated. */
struct fh_str {
    const char *p;
    size_t n;
};

#define FH_STR_LIT(s) ((struct fh_str){(s), sizeof(s) - 1})

static inline struct fh_str fh_str_c(const char *s)
{
    return (struct fh_str){s, s ? strlen(s) : 0};
}

static inline bool fh_str_eq(struct fh_str a, struct fh_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool fh_str_eq_c(struct fh_str a, const char *s)
{
    return fh_str_eq(a, fh_str_c(s));
}

/* ASCII case-insensitive equality with a C string (HTTP header names, tokens). */
static inline bool fh_str_ieq_c(struct fh_str a, const char *s)
{
    size_t n = strlen(s);
    if (a.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char x = a.p[i], y = s[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* ---- formatting: one set for every module ------------------------------------------------- */

/* Lower- and upper-case hexadecimal digits. */
extern const char fh_hex_lower[16];
extern const char fh_hex_upper[16];

/* The value of a hexadecimal digit (either case), or -1. */
static inline int fh_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decimal text of v at out (room for 20 bytes; no NUL). Returns its length. */
size_t fh_fmt_u64(char *out, uint64_t v);
/* The same for a signed value (room for 20 bytes with the sign). */
size_t fh_fmt_i64(char *out, int64_t v);

#endif
