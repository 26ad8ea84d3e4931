/*
 * log.h - logfmt lines on stderr.
 *
 * Every line is one write(2) of the form
 *   ts=2026-11-28T12:00:00.123456Z level=info msg="connected" venue=binance conn=3
 * msg is quoted and escaped here; the key=value fields after it come from the caller's
 * printf format (checked by the compiler). Quote untrusted text with fh_logq().
 * The level is checked before anything is formatted, so a disabled debug line costs a load
 * and a branch. Never log per message on the hot path: count in a metric instead, and use
 * struct fh_ratelimit for lines caused by bad input.
 *
 * Locality: any thread. Each line is formatted on the caller's stack and written with one
 * write(2), so lines from different threads do not interleave.
 */
#ifndef FH_CORE_LOG_H
#define FH_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_PRINTF(fmt_idx, first_arg) __attribute__((format(printf, fmt_idx, first_arg)))

enum fh_log_level { FH_LOG_ERROR = 0, FH_LOG_WARN = 1, FH_LOG_INFO = 2, FH_LOG_DEBUG = 3 };

/* Current threshold; lines above it are skipped. Read with relaxed atomics. */
extern int fh__log_level;

void fh_log_set_level(enum fh_log_level level);
enum fh_log_level fh_log_get_level(void);
/* Parses "error", "warn", "info" or "debug". Returns 0 or FH_EINVAL. */
int fh_log_level_parse(const char *s, enum fh_log_level *out);
const char *fh_log_level_name(enum fh_log_level level);
/* Redirects output (default 2, stderr). For tests. */
void fh_log_set_fd(int fd);

void fh_log_write(enum fh_log_level level, const char *msg, const char *fmt, ...) FH_PRINTF(3, 4);

static inline bool fh_log_enabled(enum fh_log_level level)
{
    return (int)level <= __atomic_load_n(&fh__log_level, __ATOMIC_RELAXED);
}

#define FH_LOG_AT(level, msg, ...)                 \
    do {                                           \
        if (fh_log_enabled(level))                 \
            fh_log_write(level, msg, __VA_ARGS__); \
    } while (0)

/* Usage: log_info("connected", "venue=%s conn=%d", venue, id); log_info("ready", ""); */
#define log_error(msg, ...) FH_LOG_AT(FH_LOG_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...)  FH_LOG_AT(FH_LOG_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...)  FH_LOG_AT(FH_LOG_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...) FH_LOG_AT(FH_LOG_DEBUG, msg, __VA_ARGS__)

/* A quoted, escaped, length-capped copy of untrusted text for a logfmt field value. */
struct fh_logq {
    char buf[256];
};
/* Returns q->buf holding "s" with quotes, backslashes and control bytes escaped; NULL gives
 * the bare word null. Text longer than the buffer is cut and marked with "...". */
const char *fh_logq(struct fh_logq *q, const char *s);
/* The same for a pointer and length (s need not be NUL-terminated). */
const char *fh_logq_n(struct fh_logq *q, const char *s, size_t n);

/*
 * A token-bucket limit for log lines caused by outside input (malformed frames, hostile
 * servers). Owned by one thread. Allows `burst` lines per `interval_ns`; the rest are counted
 * and reported in the next allowed line through *suppressed.
 */
struct fh_ratelimit {
    int64_t interval_ns;
    uint32_t burst;
    uint32_t used;
    uint64_t suppressed;
    int64_t window_start_ns;
};

void fh_ratelimit_init(struct fh_ratelimit *rl, uint32_t burst, int64_t interval_ns);
/* Returns true if a line may be written now; then *suppressed (if not NULL) receives how many
 * lines were dropped since the last allowed one, and the count restarts. */
bool fh_ratelimit_allow(struct fh_ratelimit *rl, int64_t now_ns, uint64_t *suppressed);

#endif
