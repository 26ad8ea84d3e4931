#include "core/log.h"

#include "core/buf.h"

#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int fh__log_level = FH_LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void fh_log_set_level(enum fh_log_level level)
{
    __atomic_store_n(&fh__log_level, (int)level, __ATOMIC_RELAXED);
}

enum fh_log_level fh_log_get_level(void)
{
    return (enum fh_log_level)__atomic_load_n(&fh__log_level, __ATOMIC_RELAXED);
}

int fh_log_level_parse(const char *s, enum fh_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum fh_log_level)i;
            return 0;
        }
    }
    return FH_EINVAL;
}

const char *fh_log_level_name(enum fh_log_level level)
{
    if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
        return level_names[level];
    return "unknown";
}

void fh_log_set_fd(int fd)
{
    __atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED);
}

/* Appends the escaped form of s[0..n) inside double quotes to dst (capacity cap, which must
 * be at least 8). Returns the number of bytes written, excluding the terminating NUL. */
static size_t quote_into(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    const size_t limit = cap - 6; /* room for a 4-byte escape... and the closing quote + NUL */
    dst[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 4 >= limit) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = fh_hex_lower[c >> 4];
            dst[o++] = fh_hex_lower[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return o;
}

const char *fh_logq_n(struct fh_logq *q, const char *s, size_t n)
{
    if (s == NULL) {
        memcpy(q->buf, "null", 5);
        return q->buf;
    }
    quote_into(q->buf, sizeof(q->buf), s, n);
    return q->buf;
}

const char *fh_logq(struct fh_logq *q, const char *s)
{
    return fh_logq_n(q, s, s ? strlen(s) : 0);
}

void fh_log_write(enum fh_log_level level, const char *msg, const char *fmt, ...)
{
    char line[2048];
    size_t o = 0;
    int saved_errno = errno;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    o += strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    int w = snprintf(line + o, sizeof(line) - o, ".%06ldZ level=%s msg=", ts.tv_nsec / 1000,
                     fh_log_level_name(level));
    if (w > 0)
        o += (size_t)w;
    o += quote_into(line + o, 512, msg, strlen(msg));

    if (fmt[0] != '\0') {
        line[o++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        w = vsnprintf(line + o, sizeof(line) - o - 1, fmt, ap);
        va_end(ap);
        if (w > 0)
            o += (size_t)w < sizeof(line) - o - 1 ? (size_t)w : sizeof(line) - o - 2;
    }
    line[o++] = '\n';

    int fd = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
    ssize_t r;
    do {
        r = write(fd, line, o);
    } while (r < 0 && errno == EINTR);
    errno = saved_errno;
}

void fh_ratelimit_init(struct fh_ratelimit *rl, uint32_t burst, int64_t interval_ns)
{
    memset(rl, 0, sizeof(*rl));
    rl->burst = burst;
    rl->interval_ns = interval_ns;
    rl->window_start_ns = INT64_MIN;
}

bool fh_ratelimit_allow(struct fh_ratelimit *rl, int64_t now_ns, uint64_t *suppressed)
{
    if (rl->window_start_ns == INT64_MIN || now_ns - rl->window_start_ns >= rl->interval_ns) {
        rl->window_start_ns = now_ns;
        rl->used = 0;
    }
    if (rl->used >= rl->burst) {
        rl->suppressed++;
        return false;
    }
    rl->used++;
    if (suppressed != NULL)
        *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return true;
}
