/*
 * stream.h - a non-blocking TCP or TLS byte stream on a libuv poll handle.
 *
 * One struct fh_stream is one connection, either accepted by a server (fh_stream_accept) or
 * opened by a client (fh_stream_connect), carried in plain TCP or in TLS (OpenSSL on the same
 * non-blocking socket). It is the transport under the WebSocket client of the connection
 * engine and under the feedsim exchange simulator.
 *
 * Reading is pulled: when bytes may be available the stream calls cbs->on_readable and the
 * owner calls fh_stream_read() into its own buffer until it returns 0 ("nothing more now").
 * An owner may stop early (to bound the work done per callback) or pause reading
 * (fh_stream_set_reading); the stream calls on_readable again, while reading is on, as long
 * as the socket or the TLS layer still holds data.
 *
 * Writing is buffered: fh_stream_write() copies into an out buffer whose capacity is fixed
 * when the stream is set up (all-or-nothing, FH_ENOSPACE when it does not fit), or
 * fh_stream_reserve()/fh_stream_commit() let the owner render straight into it. The buffer is
 * flushed when the socket is writable (the next loop iteration) or at once with
 * fh_stream_flush(). Nothing is allocated per read or write after set-up.
 *
 * Lifetime: after a successful fh_stream_accept/connect the stream calls cbs->on_close
 * exactly once, from a libuv close callback (never from inside another stream callback or an
 * fh_stream_* call). Until then the struct must stay where it is; in on_close the owner may
 * free it. If accept/connect fails it returns an error, closes the fd and calls nothing.
 *
 * Closing: fh_stream_close(s, FH_STREAM_GRACEFUL) flushes what is buffered, sends a TLS
 * close_notify, shuts down the write side and reads (discarding) until the peer's EOF or
 * until the linger time passes, so the peer receives everything before the socket goes away.
 * FH_STREAM_ABORT closes at once with a TCP reset (SO_LINGER 0); FH_STREAM_NOW closes at once
 * without flushing and without forcing a reset. A peer EOF or an I/O error starts a close by
 * itself (graceful for EOF, immediate for errors); on_close reports why.
 *
 * The process must ignore SIGPIPE (OpenSSL writes to the socket with write(2)).
 *
 * Locality: a stream belongs to the thread running its loop; no call is thread-safe.
 */
#ifndef FH_NET_STREAM_H
#define FH_NET_STREAM_H

#include <openssl/ssl.h>
#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* on_close status for a peer that closed its side cleanly (TCP FIN, or TLS close_notify). */
#define FH_STREAM_EOF 1

enum fh_stream_close_how {
    FH_STREAM_GRACEFUL = 0, /* flush, close_notify, FIN, wait for the peer's EOF (linger) */
    FH_STREAM_NOW = 1,      /* close the socket now; buffered output is discarded */
    FH_STREAM_ABORT = 2     /* close with a TCP reset (RST) */
};

enum fh_stream_state {
    FH_STREAM_CONNECTING = 0, /* client: TCP connect in progress */
    FH_STREAM_HANDSHAKING,    /* TLS handshake in progress (or server accept not yet reported) */
    FH_STREAM_OPEN,
    FH_STREAM_CLOSING_FLUSH, /* graceful close: writing what is buffered */
    FH_STREAM_CLOSING_DRAIN, /* graceful close: write side shut, waiting for the peer's EOF */
    FH_STREAM_CLOSED         /* handles closing; on_close follows */
};

struct fh_stream;

struct fh_stream_cbs {
    /* Connected (and, with TLS, handshake done). Optional. */
    void (*on_open)(struct fh_stream *s);
    /* Bytes may be readable: call fh_stream_read(). Required. */
    void (*on_readable)(struct fh_stream *s);
    /* The socket is writable and the out buffer holds at most half its capacity; only
     * called while fh_stream_notify_writable(s, true) is set. A producer that has nothing
     * to add must turn the notification off, or it is called on every loop iteration.
     * Optional. */
    void (*on_writable)(struct fh_stream *s);
    /* Final callback; status 0 (closed locally without error), FH_STREAM_EOF (the peer
     * closed), or a negative -errno / FH_E* code (fh_stream_errmsg has details). Required. */
    void (*on_close)(struct fh_stream *s, int status);
};

struct fh_stream_config {
    size_t out_cap;     /* out buffer bytes, allocated once (>= 1024) */
    uint32_t linger_ms; /* graceful close: longest wait for the flush and the peer's EOF */
};

struct fh_stream {
    void *data; /* the owner's pointer, untouched by the stream */

    /* Internal state below; read it only through the functions. */
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t timer;
    const struct fh_stream_cbs *cbs;
    int fd;
    SSL *ssl;
    enum fh_stream_state state;
    int poll_events;      /* events currently requested from the poll handle */
    int handles_open;     /* poll and timer handles not yet closed */
    int status;           /* the on_close status once decided */
    bool reading;         /* owner wants on_readable */
    bool write_paused;    /* owner paused flushing */
    bool notify_writable; /* owner wants on_writable */
    bool server;          /* accepted (true) or connected (false) */
    bool eof_seen;        /* peer EOF read; a graceful close follows */
    bool tls_read_wants_write;
    bool tls_write_wants_read;
    bool tls_hs_wants_write;
    /* SSL_read wanted socket bytes: what OpenSSL holds is part of a record, which only the
     * socket (a poll event) can complete. */
    bool tls_read_starved;
    bool sock_short; /* the socket's last read returned less than asked (or nothing) */
    bool drained;    /* after the last fh_stream_read: see fh_stream_drained */
    uint8_t *out;    /* owned, out_cap bytes */
    size_t out_head, out_tail, out_cap;
    size_t tls_retry_len; /* length of an SSL_write to be retried, 0 if none */
    uint32_t linger_ms;
    uint64_t bytes_in, bytes_out;
    uint64_t empty_reads; /* fh_stream_read calls that found nothing (EAGAIN) */
    char errmsg[160];
};

/*
 * Takes over an accepted socket fd (made non-blocking here, TCP_NODELAY set) and starts
 * serving it, with TLS if tls is not NULL (SSL_accept on the socket). on_open follows from
 * the loop once the stream is usable. Returns 0, or a negative code after closing fd.
 */
int fh_stream_accept(struct fh_stream *s, uv_loop_t *loop, int fd, SSL_CTX *tls,
                     const struct fh_stream_cbs *cbs, const struct fh_stream_config *cfg);

/*
 * Opens a client connection to sa. With tls, host (a DNS name or an IP literal) is sent as
 * SNI when it is a name and checked against the peer certificate when the context verifies
 * peers (SSL_VERIFY_PEER). Returns 0 or a negative code; connection errors arrive later
 * through on_close.
 */
int fh_stream_connect(struct fh_stream *s, uv_loop_t *loop, const struct sockaddr *sa,
                      socklen_t salen, SSL_CTX *tls, const char *host,
                      const struct fh_stream_cbs *cbs, const struct fh_stream_config *cfg);

/* Reads up to cap bytes. Returns the count (> 0), 0 if nothing is available now, or a
 * negative code once the stream cannot be read any more (EOF or error: a close has started
 * and on_close will tell). */
ssize_t fh_stream_read(struct fh_stream *s, void *buf, size_t cap);

/* True when the last fh_stream_read left nothing to read now: the socket gave fewer bytes
 * than asked, and OpenSSL holds none of them. Another read would most likely find the socket
 * empty (a system call for EAGAIN); the poll (level-triggered) reports what arrives after. */
static inline bool fh_stream_drained(const struct fh_stream *s)
{
    return s->drained;
}

/* fh_stream_read calls that found nothing to read (for tests and benchmarks). */
static inline uint64_t fh_stream_empty_reads(const struct fh_stream *s)
{
    return s->empty_reads;
}

/* Queues n bytes (all or nothing). Returns 0, FH_ENOSPACE if they do not fit in the free
 * space of the out buffer, or FH_ESTATE once the stream is closing. Writes queued while
 * connecting are sent when the stream opens. */
int fh_stream_write(struct fh_stream *s, const void *p, size_t n);

/* Returns a pointer to n contiguous free bytes at the end of the out buffer (compacting it if
 * needed), or NULL if they are not available or the stream is closing. Follow with
 * fh_stream_commit(s, used) with used <= n before any other call on s. */
uint8_t *fh_stream_reserve(struct fh_stream *s, size_t n);
void fh_stream_commit(struct fh_stream *s, size_t used);

/* Bytes queued and not yet written to the socket; free bytes in the out buffer. */
size_t fh_stream_out_pending(const struct fh_stream *s);
size_t fh_stream_out_space(const struct fh_stream *s);

/* Writes buffered bytes now as far as the socket takes them (ignores a write pause when max
 * is given: fh_stream_flush_limit writes at most max bytes). Returns 0 or a negative code if
 * the stream failed (a close has started). */
int fh_stream_flush(struct fh_stream *s);
int fh_stream_flush_limit(struct fh_stream *s, size_t max);

/* Enables or disables on_readable (enabled initially). */
void fh_stream_set_reading(struct fh_stream *s, bool on);
/* Stops or restarts flushing the out buffer to the socket (for slow or stalled senders). */
void fh_stream_set_write_paused(struct fh_stream *s, bool paused);
/* Enables on_writable notifications (for producers that refill the buffer). */
void fh_stream_notify_writable(struct fh_stream *s, bool on);

/* Starts closing (see the top of this file). Safe to call in any state and more than once;
 * a later FH_STREAM_ABORT or FH_STREAM_NOW overrides a graceful close in progress. */
void fh_stream_close(struct fh_stream *s, enum fh_stream_close_how how);

static inline enum fh_stream_state fh_stream_get_state(const struct fh_stream *s)
{
    return s->state;
}
static inline bool fh_stream_is_open(const struct fh_stream *s)
{
    return s->state == FH_STREAM_OPEN;
}
/* A human-readable description of the last error ("" if none). */
static inline const char *fh_stream_errmsg(const struct fh_stream *s)
{
    return s->errmsg;
}

/*
 * Creates a non-blocking listening TCP socket on host (an IPv4 or IPv6 literal) and port
 * (0 = ephemeral) with SO_REUSEADDR. *fd_out receives the socket, *port_out the bound port.
 * Returns 0 or -errno / FH_EINVAL.
 */
int fh_listen_tcp(const char *host, uint16_t port, int backlog, int *fd_out, uint16_t *port_out);

/* Accepts one connection from a listening socket made by fh_listen_tcp. Returns 0 with
 * *fd_out set (non-blocking, close-on-exec), -EAGAIN when none is pending, or -errno. */
int fh_accept_tcp(int listen_fd, int *fd_out);

#endif
