#include "core/buf.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void fh_buf_init(struct fh_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void fh_buf_release(struct fh_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int fh_buf_reserve(struct fh_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return FH_ENOSPACE;
    size_t need = b->len + n + 1; /* +1 keeps room for a terminating NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return FH_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fh_buf_append(struct fh_buf *b, const void *p, size_t n)
{
    int rc = fh_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int fh_buf_appendf(struct fh_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return FH_EINVAL;
    int rc = fh_buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void fh_buf_consume(struct fh_buf *b, size_t n)
{
    if (n >= b->len) {
        fh_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void fh_fbuf_putf(struct fh_fbuf *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf((char *)b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        b->overflow = true;
        return;
    }
    b->len += (size_t)n;
}

/* ---- formatting ------------------------------------------------------------------------------ */

const char fh_hex_lower[16] = "0123456789abcdef";
const char fh_hex_upper[16] = "0123456789ABCDEF";

/* "00" to "99": two digits per division (the sink formats two lineage headers per record). */
static const char digit_pairs[201] = "0001020304050607080910111213141516171819"
                                     "2021222324252627282930313233343536373839"
                                     "4041424344454647484950515253545556575859"
                                     "6061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

size_t fh_fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    memcpy(out, tmp + i, sizeof(tmp) - i);
    return sizeof(tmp) - i;
}

size_t fh_fmt_i64(char *out, int64_t v)
{
    if (v >= 0)
        return fh_fmt_u64(out, (uint64_t)v);
    out[0] = '-';
    return 1 + fh_fmt_u64(out + 1, (uint64_t)0 - (uint64_t)v);
}
