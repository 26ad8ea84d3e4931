/*
 * ws.h - the WebSocket client of the connection engine (RFC 6455 over TCP or TLS).
 *
 * One struct fh_ws is one client connection slot. It is initialised once (fh_ws_init: the
 * read buffer, the message buffer and the timers are set up there and kept), then connected,
 * closed and connected again as often as the owner likes: the buffers are reused across
 * reconnects, so after warm-up nothing is allocated per frame or per message. Per connection
 * attempt the client allocates only the wslay frame context, the stream's out buffer and (for
 * DNS names) one getaddrinfo request.
 *
 * Connecting (fh_ws_connect): parse the URL (url.h), resolve the host with uv_getaddrinfo (IP
 * literals skip DNS), connect to each address in turn (non-blocking, a timer per attempt)
 * until one answers, run TLS when the URL is wss:// (SNI and host-name or IP verification
 * come from the SSL_CTX made by fh_tls_client_ctx_new, see tls.h), send the HTTP/1.1 upgrade
 * request and check the answer strictly: status 101, Upgrade: websocket, Connection:
 * upgrade, the Sec-WebSocket-Accept matching our random key, no extension or subprotocol we
 * did not offer (parsed and checked with http1.h). Any other status ends the attempt with
 * FH_WS_CLOSE_HANDSHAKE and the status code (403, 429, 503...) plus Retry-After when the
 * server sent one, so the owner can back off accordingly. Then on_open.
 *
 * Receiving: frames are parsed with wslay's frame-level API. Complete messages go to
 * on_message with the receive times of the socket read that completed them. An unfragmented
 * message is delivered straight from the read path (no copy into the message buffer);
 * fragmented messages are reassembled into the message buffer (at most
 * fh_ws_config.max_message bytes). Pings are answered at once with a pong carrying the same
 * payload; pongs go to on_pong; a close frame is answered with a close frame echoing its code
 * and the connection ends with FH_WS_CLOSE_PEER. Text messages are checked for UTF-8. Every
 * protocol violation (masked server frame, reserved bits, unknown opcode, fragmented or long
 * control frame, continuation without a start, a new message inside a fragmented one, a bad
 * close payload) closes with code 1002; an oversize message with 1009; invalid UTF-8 with
 * 1007. The reason and a sentence describing it reach on_close.
 *
 * Backpressure: on_message may refuse a message by returning FH_ENOSPACE. The client then
 * stops reading the socket, keeps that message, and delivers the same message (same bytes,
 * same times) again after the owner calls fh_ws_resume(). Nothing is dropped; while paused no
 * pings are answered, so an owner should not stay paused for long.
 *
 * Sending: fh_ws_send_text/binary/ping queue one masked frame into the stream's out buffer
 * (all or nothing: FH_ENOSPACE when it does not fit; size the buffer with
 * fh_ws_config.out_cap for the largest burst, e.g. a subscription batch). The buffer is
 * written to the socket when it is writable, at the latest on the next loop iteration.
 * Masking keys come from a pool refilled with RAND_bytes (unpredictable, as RFC 6455 10.3
 * asks, and one RAND_bytes call per 1024 frames).
 *
 * Closing: fh_ws_close() sends a close frame and waits up to close_timeout_ms for the
 * server's close frame and end of stream, then closes the socket (FH_WS_CLOSE_LOCAL).
 * fh_ws_abort() drops the connection at once with a TCP reset (fault injection, shutdown
 * deadlines). During connection set-up both simply cancel the attempt.
 *
 * Callbacks and lifetime: after fh_ws_connect() returns 0 the client calls on_close exactly
 * once, from the loop (never from inside an fh_ws_* call), with a struct fh_ws_close_info
 * saying precisely why. on_open and on_message may come before it; nothing comes after it.
 * When on_close runs the slot is idle again: the owner may call fh_ws_connect() from inside
 * on_close, or later, or fh_ws_release(). Calling fh_ws_close(), fh_ws_send_*() or
 * fh_ws_resume() from inside any callback is allowed. After fh_ws_close()/fh_ws_abort() no
 * further on_message is delivered (messages still arriving are counted in
 * stats.msgs_discarded).
 *
 * Stats: struct fh_ws_stats holds plain counters written only by the engine thread,
 * cumulative since fh_ws_init (never reset; take a snapshot in on_open for per-connection
 * figures).
 *
 * Locality: a struct fh_ws belongs to the thread running its loop (the engine). No function
 * here is thread-safe, except fh_ws_close_reason_name and fh_ws_state_name (pure).
 */
#ifndef FH_NET_WS_H
#define FH_NET_WS_H

#include "core/buf.h"
#include "net/stream.h"
#include "net/url.h"

#include <openssl/ssl.h>
#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- configuration ------------------------------------------------------------------- */

/* Limits and timeouts of one client slot, fixed at fh_ws_init. */
struct fh_ws_config {
    size_t max_message;            /* largest message accepted, bytes (default 1 MiB);
                                      larger: close 1009, FH_WS_CLOSE_OVERSIZE */
    size_t read_buf;               /* socket read buffer, bytes (default 256 KiB, >= 4096) */
    size_t out_cap;                /* stream out buffer, bytes (default 64 KiB); the
                                      upgrade request must fit (it is enlarged if not) */
    size_t max_response_head;      /* largest HTTP answer head accepted (default 8 KiB) */
    uint32_t connect_timeout_ms;   /* DNS, and each TCP connect + TLS handshake attempt
                                      (default 10000) */
    uint32_t handshake_timeout_ms; /* from the upgrade request to the 101 (default 10000) */
    uint32_t close_timeout_ms;     /* how long to wait for the peer's close (default 3000) */
};

/* Fills c with the defaults above. */
void fh_ws_config_default(struct fh_ws_config *c);

/* One extra request header for the upgrade (e.g. User-Agent, Origin). Names must be HTTP
 * tokens and values free of CR, LF and NUL; fh_ws_connect copies them. */
struct fh_ws_header {
    const char *name;
    const char *value;
};

/* ---- callbacks ----------------------------------------------------------------------- */

/* A complete message. data/len are valid only during the callback. */
struct fh_ws_msg {
    const uint8_t *data;
    size_t len;
    bool text;                 /* text (UTF-8 checked) or binary */
    int64_t recv_realtime_ns;  /* CLOCK_REALTIME of the socket read that completed it */
    int64_t recv_monotonic_ns; /* CLOCK_MONOTONIC of the same read */
};

/* Why a connection ended (names from fh_ws_close_reason_name are metric label values). */
enum fh_ws_close_reason {
    FH_WS_CLOSE_LOCAL = 0, /* fh_ws_close/fh_ws_abort; peer_code holds the server's echo */
    FH_WS_CLOSE_PEER,      /* the server sent a close frame: peer_code, peer_reason */
    FH_WS_CLOSE_EOF,       /* TCP FIN or TLS EOF without a close frame (after open) */
    FH_WS_CLOSE_RESET,     /* socket error after open: ECONNRESET, EPIPE... (err) */
    FH_WS_CLOSE_DNS,       /* name resolution failed (err: a UV_E* code) */
    FH_WS_CLOSE_CONNECT,   /* TCP connect failed on every address (err: -errno of the last) */
    FH_WS_CLOSE_TLS,       /* TLS failure: handshake, certificate, host name, bad record
                              (err FH_EIO; message has OpenSSL's verify result or error) */
    FH_WS_CLOSE_HANDSHAKE, /* the upgrade failed: http_status != 101, or a bad 101 answer
                              (http_status 101 or 0 with message saying what was wrong), or
                              the server closed before answering */
    FH_WS_CLOSE_PROTOCOL,  /* the server broke RFC 6455: we sent 1002 */
    FH_WS_CLOSE_TIMEOUT,   /* DNS, connect + TLS or the upgrade did not finish in time
                              (phase says which; err -ETIMEDOUT). An unanswered close of
                              ours stays FH_WS_CLOSE_LOCAL. */
    FH_WS_CLOSE_OVERSIZE,  /* a message over max_message: we sent 1009 */
    FH_WS_CLOSE_BAD_UTF8,  /* invalid UTF-8 in a text message or close reason: we sent 1007 */
    FH_WS_CLOSE_ERROR      /* a local failure: out of memory, out buffer full (err) */
};

/* How far a connection got. */
enum fh_ws_state {
    FH_WS_IDLE = 0,   /* not connected: fh_ws_connect allowed */
    FH_WS_RESOLVING,  /* uv_getaddrinfo running */
    FH_WS_CONNECTING, /* TCP connect and TLS handshake */
    FH_WS_UPGRADING,  /* upgrade request sent, waiting for the 101 */
    FH_WS_OPEN,       /* messages flow */
    FH_WS_CLOSING,    /* our close frame sent, waiting for the server's */
    FH_WS_CLOSED_WAIT /* outcome decided, socket closing; on_close follows */
};

struct fh_ws_close_info {
    enum fh_ws_close_reason reason;
    enum fh_ws_state phase;  /* the state the connection was in when the outcome was decided */
    bool was_open;           /* on_open had been called: messages may have been delivered */
    int err;                 /* -errno, UV_E* or FH_E* where one applies, else 0 */
    int http_status;         /* FH_WS_CLOSE_HANDSHAKE: the answer's status, 0 if none */
    int64_t retry_after_s;   /* HANDSHAKE: Retry-After in seconds when sent (delta form), else -1 */
    uint16_t sent_code;      /* close code we sent (1000, 1002, 1007, 1009...), 0 if none */
    uint16_t peer_code;      /* close code the server sent, 1005 if its close frame had no code,
                                0 if it sent none */
    const char *peer_reason; /* the server's close reason (UTF-8, <= 123 bytes), "" if none */
    const char *message;     /* one sentence for the log, e.g. "TLS handshake: certificate
                                verification failed: hostname mismatch" */
};

struct fh_ws;

struct fh_ws_cbs {
    /* The upgrade succeeded. Optional. */
    void (*on_open)(struct fh_ws *ws);
    /* A complete message. Return 0 when consumed, FH_ENOSPACE to refuse it: then reading
     * stops and the same message is delivered again after fh_ws_resume(). Any other return
     * counts as consumed. Required. */
    int (*on_message)(struct fh_ws *ws, const struct fh_ws_msg *msg);
    /* A pong arrived (payload valid during the call). Optional. */
    void (*on_pong)(struct fh_ws *ws, const uint8_t *payload, size_t len, int64_t mono_ns);
    /* A ping arrived (the pong is already queued). For liveness accounting. Optional. */
    void (*on_ping)(struct fh_ws *ws, int64_t mono_ns);
    /* The connection ended (see the top of this file). info and its strings are valid only
     * during the call. Required. */
    void (*on_close)(struct fh_ws *ws, const struct fh_ws_close_info *info);
};

/* Counters, cumulative since fh_ws_init. Written by the engine thread only. */
struct fh_ws_stats {
    uint64_t bytes_in, bytes_out;   /* application bytes read/queued (upgrade included; under
                                       TLS these are plaintext bytes) */
    uint64_t frames_in, frames_out; /* all frames, control included */
    uint64_t msgs_in;               /* data messages delivered (a redelivery counts once) */
    uint64_t msgs_out;              /* data frames sent */
    uint64_t msgs_discarded;        /* data messages dropped after fh_ws_close/abort */
    uint64_t refusals;              /* on_message returned FH_ENOSPACE */
    uint64_t pings_in, pongs_in, pings_out, pongs_out;
    uint64_t connects; /* upgrades completed (on_open calls) */
};

/* ---- the client ---------------------------------------------------------------------- */

/* Internal state below; read it only through the functions. The struct is public so the
 * owner can embed it. */
struct fh_ws__dns;

#define FH_WS_MAX_ADDRS  8
#define FH_WS_ERRMSG_LEN 256
#define FH_WS_CTRL_MAX   125
#define FH_WS_MASK_POOL  4096

struct fh_ws {
    void *data; /* the owner's pointer, untouched by the client */
    struct fh_ws_stats stats;

    /* Internal. */
    uv_loop_t *loop;
    const struct fh_ws_cbs *cbs;
    struct fh_ws_config cfg;
    enum fh_ws_state state;
    bool initialised;
    bool stream_live; /* stream set up; its on_close is pending */
    bool mem_mode;    /* in-memory transport (tests, benchmarks) */
    bool was_open;
    bool outcome_set; /* close_info decided */
    bool paused;      /* a refused message is held */
    bool kick_close;  /* the kick timer must deliver on_close */
    bool in_frame;    /* parsing inside a frame's payload */
    bool in_message;  /* a fragmented data message is being assembled */
    bool msg_text;    /* opcode of the message being assembled */
    bool close_sent;
    bool close_received;
    bool local_close;      /* fh_ws_close/abort was called */
    bool resume_pending;   /* fh_ws_resume called; the kick timer redelivers */
    bool advance_on_close; /* the stream was closed to try the next address */
    bool flush_wanted;     /* frames were queued while reading: flush at the end */
    uv_timer_t deadline;   /* connect/handshake/close timeouts */
    uv_timer_t kick;       /* deferred work: redelivery, on_close without a stream */
    int handles_open;
    void (*on_released)(struct fh_ws *ws);

    struct fh_stream stream;
    SSL_CTX *tls;
    struct fh_ws__dns *dns; /* pending resolution, orphaned on cancel */
    struct sockaddr_storage addrs[FH_WS_MAX_ADDRS];
    socklen_t addr_lens[FH_WS_MAX_ADDRS];
    int n_addrs, addr_next;
    int last_connect_err;
    char host[FH_URL_HOST_MAX + 1];
    uint16_t port;
    bool host_is_ip;
    bool use_tls;

    struct fh_buf req;        /* the upgrade request, rendered at connect */
    char accept_expected[32]; /* Sec-WebSocket-Accept we require */

    uint8_t *rbuf;          /* read buffer (cfg.read_buf bytes) */
    size_t rlen, rpos;      /* bytes in rbuf, bytes handed to the parser */
    int64_t rt_ns, mono_ns; /* receive times of the last read */
    uint8_t hist[16];       /* the 16 stream bytes before rbuf[0], for error messages */
    uint64_t rbuf_abs;      /* stream offset of rbuf[0] (after the HTTP head) */
    uint64_t frame_abs;     /* stream offset of the current/next frame header */

    void *wslay; /* wslay_frame_context_ptr */
    uint8_t f_opcode;
    bool f_fin;
    uint64_t f_len, f_off; /* current frame: payload length, bytes seen */
    struct fh_buf msg;     /* fragmented-message assembly (max cfg.max_message) */
    uint8_t ctrl[FH_WS_CTRL_MAX];
    size_t ctrl_len;

    struct fh_ws_msg held; /* the refused message while paused */
    bool held_in_place;    /* held.data points into the parser's buffer */

    uint8_t mask_pool[FH_WS_MASK_POOL];
    size_t mask_pos;

    uint8_t *out_dst; /* frame being written: reserved space, used, room */
    size_t out_used, out_room;

    uint8_t *mem_out; /* in-memory transport: what the client wrote */
    size_t mem_out_len, mem_out_cap;

    struct fh_ws_close_info info;
    char errmsg[FH_WS_ERRMSG_LEN];
    char peer_reason[FH_WS_CTRL_MAX];
};

/*
 * Prepares a slot on loop: copies cfg (NULL: defaults) and cbs (must outlive the slot),
 * allocates the read buffer, initialises two timers. Returns 0, FH_EINVAL or FH_ENOMEM
 * (then nothing needs releasing).
 */
int fh_ws_init(struct fh_ws *ws, uv_loop_t *loop, const struct fh_ws_config *cfg,
               const struct fh_ws_cbs *cbs);

/*
 * Frees the slot. Only in FH_WS_IDLE (before any connect, or after on_close). The timers are
 * closed asynchronously: the struct must stay valid until on_released(ws) is called from the
 * loop (on_released may be NULL if the owner runs the loop until it has no handles left
 * before freeing). Returns 0 or FH_ESTATE.
 */
int fh_ws_release(struct fh_ws *ws, void (*on_released)(struct fh_ws *ws));

/*
 * Starts a connection to url (ws:// or wss://). tls is required for wss:// (borrowed; must
 * outlive the connection) and ignored for ws://. headers[0..n_headers) are added to the
 * upgrade request (copied). Only in FH_WS_IDLE.
 * Returns 0 (the outcome arrives through on_open / on_close), or without any callback:
 * FH_ESTATE (not idle), FH_EINVAL (bad URL, missing tls, bad header; ws->errmsg says why),
 * FH_ENOMEM.
 */
int fh_ws_connect(struct fh_ws *ws, const char *url, SSL_CTX *tls,
                  const struct fh_ws_header *headers, size_t n_headers);

/*
 * As fh_ws_connect, but over an already connected socket fd (plain, no TLS, no DNS): for tests
 * with socketpairs and for sockets connected elsewhere. Takes ownership of fd (closed on
 * every path). The URL gives Host and the request target.
 */
int fh_ws_connect_fd(struct fh_ws *ws, int fd, const char *url, const struct fh_ws_header *headers,
                     size_t n_headers);

/* Sends one text / binary message as a single masked frame (text is not checked: the owner
 * sends its own JSON). Only when FH_WS_OPEN. Returns 0, FH_ENOSPACE (does not fit in the out
 * buffer now: retry later), FH_EINVAL (n > out_cap - 14: can never fit), FH_ESTATE. */
int fh_ws_send_text(struct fh_ws *ws, const void *p, size_t n);
int fh_ws_send_binary(struct fh_ws *ws, const void *p, size_t n);
/* Sends a ping (n <= 125, else FH_EINVAL). Same returns. */
int fh_ws_ping(struct fh_ws *ws, const void *p, size_t n);

/*
 * Starts closing with code (1000 normal, 1001 going away, 4000-4999 private; 0 sends a close
 * frame without a code) and an optional reason (<= 123 bytes, cut if longer). Open: sends
 * the close frame and waits up to close_timeout_ms for the server's close. Before open:
 * cancels the attempt. on_close then reports FH_WS_CLOSE_LOCAL (unless another outcome was
 * already decided). Safe in any state and more than once; idle: no-op.
 */
void fh_ws_close(struct fh_ws *ws, uint16_t code, const char *reason);

/* Drops the connection at once with a TCP reset, no close frame. on_close follows
 * (FH_WS_CLOSE_LOCAL unless already decided). Idle: no-op. */
void fh_ws_abort(struct fh_ws *ws);

/* After on_message refused a message: delivers it again (from the loop, not from inside this
 * call) and resumes reading. No-op when nothing is held. */
void fh_ws_resume(struct fh_ws *ws);

static inline enum fh_ws_state fh_ws_get_state(const struct fh_ws *ws)
{
    return ws->state;
}
static inline bool fh_ws_is_open(const struct fh_ws *ws)
{
    return ws->state == FH_WS_OPEN;
}
/* True while a refused message is held (between FH_ENOSPACE and its redelivery). */
static inline bool fh_ws_is_paused(const struct fh_ws *ws)
{
    return ws->paused;
}
/* The last error sentence ("" if none); also passed to on_close as info->message. */
static inline const char *fh_ws_errmsg(const struct fh_ws *ws)
{
    return ws->errmsg;
}

/* Short names: "local", "peer", "eof", "reset", "dns", "connect", "tls", "handshake",
 * "protocol", "timeout", "oversize", "bad_utf8", "error". */
const char *fh_ws_close_reason_name(enum fh_ws_close_reason r);
/* "idle", "resolving", "connecting", "upgrading", "open", "closing", "closed". */
const char *fh_ws_state_name(enum fh_ws_state s);

/* ---- internal, for unit tests and benchmarks ----------------------------------------- */

/*
 * Puts an idle slot straight into FH_WS_OPEN over an in-memory transport: no socket; bytes
 * the client would send are appended to a buffer (fh__ws_mem_output), closing ends at once
 * (on_close from the loop). Returns 0, FH_ESTATE or FH_ENOMEM.
 */
int fh__ws_open_mem(struct fh_ws *ws);
/* Feeds received bytes as one socket read with the given times and parses them. Returns the
 * number of bytes taken: n (at most read_buf), or 0 while a refused message is held, bytes
 * of an earlier feed are unparsed, or the connection is not open. */
size_t fh__ws_mem_feed(struct fh_ws *ws, const void *p, size_t n, int64_t rt_ns, int64_t mono_ns);
/* As fh_ws_connect, but with the address list given instead of resolved (tests of the
 * next-address logic). n <= FH_WS_MAX_ADDRS. */
int fh__ws_connect_addrs(struct fh_ws *ws, const char *url, SSL_CTX *tls,
                         const struct sockaddr_storage *addrs, const socklen_t *lens, int n);
/* What the client has written so far in memory mode; fh__ws_mem_output_reset empties it. */
const uint8_t *fh__ws_mem_output(const struct fh_ws *ws, size_t *len);
void fh__ws_mem_output_reset(struct fh_ws *ws);

#endif
