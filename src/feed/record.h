/*
 * record.h - recording of raw exchange messages to rotating NDJSON files, off the engine
 * thread.
 *
 * Format: one line per WebSocket message, in the order the engine received them:
 *
 *   {"t":<receive_time_ns>,"c":<connection_id>,"v":"<protocol>","m":<message>}
 *
 * where <protocol> is the venue protocol name (binance, kraken-v1, kraken-v2: the names
 * `feedhandler replay --venue` takes) and <message> is the message text verbatim. A message
 * that cannot be embedded verbatim (not valid JSON, or containing a CR or LF byte) is written
 * as "x":"<hex of its bytes>" instead of "m", so every byte the exchange sent is kept and
 * every line stays one JSON object. "m" or "x" is always the last member, so a reader can
 * take the message as the bytes between `"m":` and the final `}` without a JSON parser.
 *
 * Files are named <dir>/feedhandler-<UTC start time>-<pid>-<NNNNNN>.ndjson, so their names
 * sort by time; a file is closed at a line boundary once it would exceed max_file_bytes (a
 * single longer line gets a file of its own), and when more than max_files recording files
 * exist in dir the oldest are deleted (including those of earlier runs).
 *
 * The engine copies each line into a bounded ring (no allocation, no syscall); a writer
 * thread drains the ring in large write(2) calls. When the ring is full the line is dropped
 * and counted: recording never blocks or slows the feed. Write errors are logged
 * (rate-limited) and the lines lost to them counted.
 *
 * Locality: fh_recorder_put and fh_recorder_poll on the engine thread; the stats may be read
 * from any thread (relaxed atomics).
 */
#ifndef FH_FEED_RECORD_H
#define FH_FEED_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fh_recorder_config {
    const char *dir;         /* must exist */
    uint64_t max_file_bytes; /* > 0 */
    uint32_t max_files;      /* >= 1 */
    size_t buffer_bytes;     /* ring capacity, >= 64 KiB */
};

struct fh_recorder_stats {
    uint64_t recorded;     /* lines queued (engine) */
    uint64_t dropped;      /* lines refused because the ring was full (engine) */
    uint64_t lost;         /* lines lost to write errors (writer) */
    uint64_t bytes;        /* bytes written (writer) */
    uint64_t files;        /* files opened (writer) */
    uint64_t write_errors; /* failed writes/opens (writer) */
};

struct fh_recorder;

/* Creates the recorder and starts its writer thread. Returns NULL with a sentence in err. */
struct fh_recorder *fh_recorder_new(const struct fh_recorder_config *cfg, char *err, size_t errlen);
/*
 * Queues one message. proto: the protocol name; json_ok: the message is valid JSON (the
 * venue parser did not reject it for size, UTF-8, JSON syntax or token count). Returns true
 * if queued, false if dropped (ring full; counted).
 */
bool fh_recorder_put(struct fh_recorder *r, int64_t recv_ns, int64_t conn_id, const char *proto,
                     const char *msg, size_t len, bool json_ok);
/* Wakes the writer if it sleeps and there is data. Once per loop iteration. */
void fh_recorder_poll(struct fh_recorder *r);
/* Writes everything queued, stops the writer, closes the file, frees. NULL is fine. */
void fh_recorder_free(struct fh_recorder *r);
/* The same, and *final (if not NULL) receives the counters once everything is written. */
void fh_recorder_close(struct fh_recorder *r, struct fh_recorder_stats *final);
/* A snapshot of the counters. */
void fh_recorder_stats(const struct fh_recorder *r, struct fh_recorder_stats *out);
/* Direct pointers to the counters (for metric registration; they live as long as r). */
const struct fh_recorder_stats *fh_recorder_stats_ptr(const struct fh_recorder *r);

/*
 * Reading a recording back (replay). Splits one line into its parts; msg points into line.
 * For an "x" line the message is hex: decode it with fh_record_hex_decode. Returns 0, or
 * FH_EPARSE if the line is not a recording line (then it may be a raw message line).
 */
struct fh_record_line {
    int64_t recv_ns;
    int64_t conn_id;
    const char *proto; /* points into line, proto_len bytes */
    size_t proto_len;
    const char *msg; /* the message (or its hex) */
    size_t msg_len;
    bool hex;
};
int fh_record_parse_line(const char *line, size_t len, struct fh_record_line *out);
/* Decodes hex into out (cap >= len / 2). Returns the byte count or FH_EPARSE. */
long fh_record_hex_decode(const char *hex, size_t len, char *out, size_t cap);

#endif
