/*
 * ws.c - WebSocket client over fh_stream (see ws.h).
 *
 * Receive path. Socket reads land in a large read buffer (rbuf, one read per readiness
 * event, stamped with both clocks). wslay's frame parser pulls from rbuf through its recv
 * callback into its own 4 KiB window and hands back payload pieces that point into that
 * window. A data frame whose whole payload arrives in one piece is delivered from there
 * without another copy; only fragmented messages and frames cut by the window boundary are
 * copied into the message buffer. wslay keeps the window untouched between two calls of
 * wslay_frame_recv, which is what lets a refused message be held in place until resume.
 *
 * wslay checks the length encoding and the size/FIN of control frames; everything else RFC
 * 6455 requires of a client (no masked server frames, no reserved bits, known opcodes,
 * continuation rules, close payloads, UTF-8) is checked here. To name the offending frame
 * precisely when wslay only says WSLAY_ERR_PROTO, the client tracks the stream offset of the
 * current frame header and keeps the 16 bytes that preceded rbuf.
 *
 * Connection outcomes are decided once (set_outcome: the first reason wins) and reported
 * when the stream's handles are closed (or, without a stream, from the kick timer), so
 * on_close always comes from the loop and exactly once.
 */
#include "net/ws.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/utf8.h"
#include "net/http1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wslay/wslay.h>

/* Socket reads per readiness callback before yielding to other connections. */
#define READ_BUDGET 8
/* Frame header: 2 bytes, 8 of extended length, 4 of mask. */
#define FRAME_HEAD_MAX 14
/* Headers parsed from the upgrade answer. */
#define RESP_MAX_HEADERS 64
/* In-memory transport output limit (tests). */
#define MEM_OUT_MAX (16u << 20)

struct fh_ws__dns {
    uv_getaddrinfo_t req;
    struct fh_ws *ws; /* NULL once the client gave up on this request */
};

static void stream_open(struct fh_stream *s);
static void stream_readable(struct fh_stream *s);
static void stream_closed(struct fh_stream *s, int status);

static const struct fh_stream_cbs stream_cbs = {
    .on_open = stream_open,
    .on_readable = stream_readable,
    .on_writable = NULL,
    .on_close = stream_closed,
};

/* ---- names --------------------------------------------------------------------------- */

const char *fh_ws_close_reason_name(enum fh_ws_close_reason r)
{
    switch (r) {
    case FH_WS_CLOSE_LOCAL:
        return "local";
    case FH_WS_CLOSE_PEER:
        return "peer";
    case FH_WS_CLOSE_EOF:
        return "eof";
    case FH_WS_CLOSE_RESET:
        return "reset";
    case FH_WS_CLOSE_DNS:
        return "dns";
    case FH_WS_CLOSE_CONNECT:
        return "connect";
    case FH_WS_CLOSE_TLS:
        return "tls";
    case FH_WS_CLOSE_HANDSHAKE:
        return "handshake";
    case FH_WS_CLOSE_PROTOCOL:
        return "protocol";
    case FH_WS_CLOSE_TIMEOUT:
        return "timeout";
    case FH_WS_CLOSE_OVERSIZE:
        return "oversize";
    case FH_WS_CLOSE_BAD_UTF8:
        return "bad_utf8";
    case FH_WS_CLOSE_ERROR:
        return "error";
    }
    return "unknown";
}

const char *fh_ws_state_name(enum fh_ws_state s)
{
    switch (s) {
    case FH_WS_IDLE:
        return "idle";
    case FH_WS_RESOLVING:
        return "resolving";
    case FH_WS_CONNECTING:
        return "connecting";
    case FH_WS_UPGRADING:
        return "upgrading";
    case FH_WS_OPEN:
        return "open";
    case FH_WS_CLOSING:
        return "closing";
    case FH_WS_CLOSED_WAIT:
        return "closed";
    }
    return "unknown";
}

/* ---- URLs ---------------------------------------------------------------------------- */

static int url_err(char *err, size_t errsz, const char *fmt, ...) FH_PRINTF(3, 4);
static int url_err(char *err, size_t errsz, const char *fmt, ...)
{
    if (err != NULL && errsz > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return FH_EINVAL;
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* DNS name: letters, digits, '-', '_' and non-empty dot-separated labels of <= 63 bytes. */
static bool valid_dns_name(const char *p, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-' && c != '_')
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

int fh_ws_url_parse(const char *url, struct fh_ws_url *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL)
        return url_err(err, errsz, "no URL");
    size_t n = strnlen(url, FH_WS_URL_MAX + 1);
    if (n > FH_WS_URL_MAX)
        return url_err(err, errsz, "URL longer than %d bytes", FH_WS_URL_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return url_err(err, errsz, "URL contains a space, control or non-ASCII byte");
        if (c == '#')
            return url_err(err, errsz, "URL has a fragment ('#'), not allowed in WebSocket URLs");
    }
    const char *p;
    if (n >= 5 && strncasecmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else if (n >= 6 && strncasecmp(url, "wss://", 6) == 0) {
        out->tls = true;
        p = url + 6;
    } else {
        return url_err(err, errsz, "URL scheme must be ws:// or wss://");
    }
    const char *end = url + n;
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?')
        auth_end++;
    if (memchr(p, '@', (size_t)(auth_end - p)) != NULL)
        return url_err(err, errsz, "URL has user information ('@'), not supported");
    const char *port_at = NULL;
    if (p < auth_end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (rb == NULL)
            return url_err(err, errsz, "IPv6 literal without a closing ']'");
        char tmp[64];
        size_t hl = (size_t)(rb - p - 1);
        struct in6_addr a6;
        if (hl == 0 || hl >= sizeof(tmp))
            return url_err(err, errsz, "bad IPv6 literal");
        memcpy(tmp, p + 1, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return url_err(err, errsz, "bad IPv6 literal [%s]", tmp);
        out->host = (struct fh_str){p + 1, hl};
        out->host_is_ip = true;
        if (rb + 1 < auth_end) {
            if (rb[1] != ':')
                return url_err(err, errsz, "unexpected text after the IPv6 literal");
            port_at = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        const char *hend = colon != NULL ? colon : auth_end;
        size_t hl = (size_t)(hend - p);
        if (hl == 0)
            return url_err(err, errsz, "URL has no host");
        if (hl > FH_WS_HOST_MAX)
            return url_err(err, errsz, "host name longer than %d bytes", FH_WS_HOST_MAX);
        bool numeric = true;
        for (size_t i = 0; i < hl; i++) {
            if (!(p[i] == '.' || (p[i] >= '0' && p[i] <= '9')))
                numeric = false;
        }
        char tmp[FH_WS_HOST_MAX + 1];
        memcpy(tmp, p, hl);
        tmp[hl] = '\0';
        if (numeric) {
            struct in_addr a4;
            if (inet_pton(AF_INET, tmp, &a4) != 1)
                return url_err(err, errsz, "bad IPv4 address %s", tmp);
            out->host_is_ip = true;
        } else if (!valid_dns_name(p, hl)) {
            return url_err(err, errsz, "bad host name %s", tmp);
        }
        out->host = (struct fh_str){p, hl};
        if (colon != NULL)
            port_at = colon + 1;
    }
    out->port = out->tls ? 443 : 80;
    if (port_at != NULL) {
        if (port_at == auth_end)
            return url_err(err, errsz, "empty port");
        unsigned long v = 0;
        for (const char *q = port_at; q < auth_end; q++) {
            if (*q < '0' || *q > '9')
                return url_err(err, errsz, "port is not a number");
            v = v * 10 + (unsigned long)(*q - '0');
            if (v > 65535)
                return url_err(err, errsz, "port out of range 1-65535");
        }
        if (v == 0)
            return url_err(err, errsz, "port out of range 1-65535");
        out->port = (uint16_t)v;
        out->port_explicit = true;
    }
    if (auth_end == end)
        out->target = FH_STR_LIT("/");
    else
        out->target = (struct fh_str){auth_end, (size_t)(end - auth_end)};
    return 0;
}

/* ---- small helpers ------------------------------------------------------------------- */

static void seterr(struct fh_ws *ws, const char *fmt, ...) FH_PRINTF(2, 3);
static void seterr(struct fh_ws *ws, const char *fmt, ...)
{
    char tmp[sizeof(ws->errmsg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(ws->errmsg, tmp, sizeof(tmp));
}

/*
 * Decides how the connection ends (only the first decision counts) and records the state it
 * was in. The message is formatted only for the first decision.
 */
static bool set_outcome(struct fh_ws *ws, enum fh_ws_close_reason reason, int err, const char *fmt,
                        ...) FH_PRINTF(4, 5);
static bool set_outcome(struct fh_ws *ws, enum fh_ws_close_reason reason, int err, const char *fmt,
                        ...)
{
    if (ws->outcome_set)
        return false;
    ws->outcome_set = true;
    ws->info.reason = reason;
    ws->info.phase = ws->state;
    ws->info.err = err;
    /* Through a copy: callers pass ws->errmsg itself as an argument. */
    char tmp[sizeof(ws->errmsg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(ws->errmsg, tmp, sizeof(tmp));
    return true;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(buf, size, "%s:%u", ip, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(buf, size, "[%s]:%u", ip, port);
    }
}

/* ---- output -------------------------------------------------------------------------- */

static bool can_write(const struct fh_ws *ws)
{
    if (ws->mem_mode)
        return ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING;
    return ws->stream_live && fh_stream_get_state(&ws->stream) <= FH_STREAM_OPEN;
}

/* Contiguous room for n bytes of output, or NULL. */
static uint8_t *out_reserve(struct fh_ws *ws, size_t n)
{
    if (!ws->mem_mode)
        return fh_stream_reserve(&ws->stream, n);
    if (n > MEM_OUT_MAX - ws->mem_out_len)
        return NULL;
    if (ws->mem_out_len + n > ws->mem_out_cap) {
        size_t cap = ws->mem_out_cap ? ws->mem_out_cap : 4096;
        while (cap < ws->mem_out_len + n)
            cap *= 2;
        uint8_t *p = realloc(ws->mem_out, cap);
        if (p == NULL)
            return NULL;
        ws->mem_out = p;
        ws->mem_out_cap = cap;
    }
    return ws->mem_out + ws->mem_out_len;
}

static void out_commit(struct fh_ws *ws, size_t n)
{
    if (ws->mem_mode)
        ws->mem_out_len += n;
    else
        fh_stream_commit(&ws->stream, n);
    ws->stats.bytes_out += n;
}

static ssize_t wslay_send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)flags;
    struct fh_ws *ws = user;
    /* send_frame reserved room for the whole frame, so this never runs short. */
    if (len > ws->out_room - ws->out_used)
        return -1;
    memcpy(ws->out_dst + ws->out_used, data, len);
    ws->out_used += len;
    return (ssize_t)len;
}

static int wslay_genmask_cb(uint8_t *buf, size_t len, void *user)
{
    struct fh_ws *ws = user;
    /* The pool is refilled from OpenSSL's CSPRNG: unpredictable keys (RFC 6455 10.3) at the
     * cost of one RAND_bytes call per 1024 frames. */
    if (ws->mask_pos + len > sizeof(ws->mask_pool)) {
        if (RAND_bytes(ws->mask_pool, (int)sizeof(ws->mask_pool)) != 1)
            return -1;
        ws->mask_pos = 0;
    }
    memcpy(buf, ws->mask_pool + ws->mask_pos, len);
    ws->mask_pos += len;
    return 0;
}

/* Queues one masked frame (all or nothing). */
static int send_frame(struct fh_ws *ws, uint8_t opcode, const void *p, size_t n)
{
    if (!can_write(ws) || ws->wslay == NULL)
        return FH_ESTATE;
    size_t cap = ws->mem_mode ? MEM_OUT_MAX : ws->stream.out_cap;
    if (n > cap - FRAME_HEAD_MAX)
        return FH_EINVAL;
    uint8_t *dst = out_reserve(ws, n + FRAME_HEAD_MAX);
    if (dst == NULL)
        return FH_ENOSPACE;
    ws->out_dst = dst;
    ws->out_used = 0;
    ws->out_room = n + FRAME_HEAD_MAX;
    struct wslay_frame_iocb io = {
        .fin = 1,
        .rsv = 0,
        .opcode = opcode,
        .payload_length = n,
        .mask = 1,
        .data = p,
        .data_length = n,
    };
    ssize_t r = wslay_frame_send(ws->wslay, &io);
    if (r < 0 || (size_t)r != n) {
        /* Only a mask failure (RAND_bytes) gets here; nothing was committed. */
        out_commit(ws, 0);
        return FH_EIO;
    }
    out_commit(ws, ws->out_used);
    ws->out_dst = NULL;
    ws->stats.frames_out++;
    ws->flush_wanted = true;
    return 0;
}

static bool valid_send_code(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* Queues a close frame with code (0: none) and a reason cut to fit and to stay UTF-8. */
static int send_close(struct fh_ws *ws, uint16_t code, const char *reason)
{
    uint8_t body[FH_WS_CTRL_MAX];
    size_t n = 0;
    if (code != 0) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)(code & 0xff);
        n = 2;
        size_t rl = reason != NULL ? strlen(reason) : 0;
        if (rl > sizeof(body) - 2)
            rl = sizeof(body) - 2;
        /* A cut in the middle of a UTF-8 sequence: shorten to the last complete one. */
        while (rl > 0 && !fh_utf8_check(reason, rl))
            rl--;
        if (rl > 0)
            memcpy(body + 2, reason, rl);
        n += rl;
    }
    int rc = send_frame(ws, WSLAY_CONNECTION_CLOSE, body, n);
    if (rc == 0) {
        ws->close_sent = true;
        ws->info.sent_code = code;
    }
    return rc;
}

static void kick_cb(uv_timer_t *t);

static void kick_start(struct fh_ws *ws)
{
    uv_timer_start(&ws->kick, kick_cb, 0, 0);
}

/* Ends the transport: the stream's on_close (or the kick timer) completes the connection. */
static void close_transport(struct fh_ws *ws, enum fh_stream_close_how how)
{
    uv_timer_stop(&ws->deadline);
    ws->state = FH_WS_CLOSED_WAIT;
    if (ws->stream_live) {
        if (!ws->mem_mode)
            fh_stream_close(&ws->stream, how);
        return;
    }
    ws->kick_close = true;
    kick_start(ws);
}

/* Fails an open connection: decide the outcome, send a close frame with code, close. */
static int fail_open(struct fh_ws *ws, enum fh_ws_close_reason reason, uint16_t code,
                     const char *what)
{
    set_outcome(ws, reason, 0, "%s", what);
    if (!ws->close_sent && code != 0) {
        const char *short_reason = reason == FH_WS_CLOSE_PROTOCOL   ? "protocol error"
                                   : reason == FH_WS_CLOSE_OVERSIZE ? "message too big"
                                   : reason == FH_WS_CLOSE_BAD_UTF8 ? "invalid UTF-8"
                                                                    : "";
        (void)send_close(ws, code, short_reason);
    }
    close_transport(ws, FH_STREAM_GRACEFUL);
    return 1;
}

/* ---- receive: frames and messages ---------------------------------------------------- */

static ssize_t wslay_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct fh_ws *ws = user;
    size_t avail = ws->rlen - ws->rpos;
    if (avail == 0)
        return 0; /* wslay turns this into WSLAY_ERR_WANT_READ */
    if (len > avail)
        len = avail;
    memcpy(buf, ws->rbuf + ws->rpos, len);
    ws->rpos += len;
    return (ssize_t)len;
}

/* Forgets rbuf's contents before a new read, keeping its last 16 bytes in hist. */
static void rbuf_recycle(struct fh_ws *ws)
{
    size_t n = ws->rlen;
    if (n >= sizeof(ws->hist)) {
        memcpy(ws->hist, ws->rbuf + n - sizeof(ws->hist), sizeof(ws->hist));
    } else if (n > 0) {
        memmove(ws->hist, ws->hist + n, sizeof(ws->hist) - n);
        memcpy(ws->hist + sizeof(ws->hist) - n, ws->rbuf, n);
    }
    ws->rbuf_abs += n;
    ws->rlen = ws->rpos = 0;
}

/* The stream byte at offset abs, if it is still in rbuf or hist. */
static bool peek_abs(const struct fh_ws *ws, uint64_t abs, uint8_t *b)
{
    if (abs >= ws->rbuf_abs && abs - ws->rbuf_abs < ws->rlen) {
        *b = ws->rbuf[abs - ws->rbuf_abs];
        return true;
    }
    if (abs < ws->rbuf_abs && ws->rbuf_abs - abs <= sizeof(ws->hist)) {
        *b = ws->hist[sizeof(ws->hist) - (ws->rbuf_abs - abs)];
        return true;
    }
    return false;
}

static const char *opcode_name(unsigned op)
{
    switch (op) {
    case 0x0:
        return "continuation";
    case 0x1:
        return "text";
    case 0x2:
        return "binary";
    case 0x8:
        return "close";
    case 0x9:
        return "ping";
    case 0xa:
        return "pong";
    default:
        return "reserved";
    }
}

/* wslay said WSLAY_ERR_PROTO: look at the frame header to say what was wrong. */
static int fail_wslay_proto(struct fh_ws *ws)
{
    char what[128];
    uint8_t b0, b1;
    if (peek_abs(ws, ws->frame_abs, &b0) && peek_abs(ws, ws->frame_abs + 1, &b1)) {
        unsigned op = b0 & 0xfu;
        unsigned len7 = b1 & 0x7fu;
        if ((op & 0x8u) && !(b0 & 0x80u))
            snprintf(what, sizeof(what), "fragmented control frame (%s, FIN not set)",
                     opcode_name(op));
        else if ((op & 0x8u) && len7 > 125)
            snprintf(what, sizeof(what), "control frame (%s) longer than 125 bytes",
                     opcode_name(op));
        else
            snprintf(what, sizeof(what),
                     "frame length not in its shortest form or above 2^63 (%s frame)",
                     opcode_name(op));
    } else {
        snprintf(what, sizeof(what),
                 "malformed frame header (fragmented or long control frame, or bad length)");
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "protocol error: %s", what);
    return fail_open(ws, FH_WS_CLOSE_PROTOCOL, 1002, msg);
}

static int fail_proto(struct fh_ws *ws, const char *fmt, ...) FH_PRINTF(2, 3);
static int fail_proto(struct fh_ws *ws, const char *fmt, ...)
{
    char what[160];
    int n = snprintf(what, sizeof(what), "protocol error: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what + n, sizeof(what) - (size_t)n, fmt, ap);
    va_end(ap);
    return fail_open(ws, FH_WS_CLOSE_PROTOCOL, 1002, what);
}

/*
 * Delivers a complete message. Returns 0 to go on parsing, 1 to stop (refused: held until
 * resume; or the connection is ending).
 */
static int deliver(struct fh_ws *ws, const uint8_t *data, size_t len, bool text, bool in_place)
{
    if (ws->local_close) {
        ws->stats.msgs_discarded++;
        return 0;
    }
    static const uint8_t empty[1] = {0};
    if (data == NULL)
        data = empty; /* an empty assembled message: never hand out NULL */
    if (text && !fh_utf8_check(data, len))
        return fail_open(ws, FH_WS_CLOSE_BAD_UTF8, 1007, "text message is not valid UTF-8");
    struct fh_ws_msg m = {
        .data = data,
        .len = len,
        .text = text,
        .recv_realtime_ns = ws->rt_ns,
        .recv_monotonic_ns = ws->mono_ns,
    };
    int rc = ws->cbs->on_message(ws, &m);
    if (rc == FH_ENOSPACE && ws->state == FH_WS_OPEN && !ws->local_close) {
        ws->held = m;
        ws->held_in_place = in_place;
        ws->paused = true;
        ws->stats.refusals++;
        if (!ws->mem_mode)
            fh_stream_set_reading(&ws->stream, false);
        return 1;
    }
    ws->stats.msgs_in++;
    return (ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING) ? 0 : 1;
}

static bool valid_peer_code(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int on_close_frame(struct fh_ws *ws)
{
    uint16_t code = 1005;
    size_t n = ws->ctrl_len;
    ws->close_received = true;
    if (n == 1)
        return fail_proto(ws, "close frame with a 1-byte payload");
    if (n >= 2) {
        code = (uint16_t)((ws->ctrl[0] << 8) | ws->ctrl[1]);
        if (!valid_peer_code(code))
            return fail_proto(ws, "invalid close code %u", code);
        if (!fh_utf8_check(ws->ctrl + 2, n - 2))
            return fail_open(ws, FH_WS_CLOSE_BAD_UTF8, 1007, "close reason is not valid UTF-8");
        memcpy(ws->peer_reason, ws->ctrl + 2, n - 2);
        ws->peer_reason[n - 2] = '\0';
    }
    ws->info.peer_code = code;
    if (ws->close_sent) {
        /* The answer to our close: the handshake is complete. */
        close_transport(ws, FH_STREAM_GRACEFUL);
        return 1;
    }
    struct fh_logq q;
    set_outcome(ws, FH_WS_CLOSE_PEER, 0, "server closed the connection: code %u reason %s", code,
                fh_logq(&q, ws->peer_reason));
    /* Echo the code (RFC 6455 5.5.1); a close without a code is answered without one. */
    (void)send_close(ws, code == 1005 ? 0 : code, "");
    close_transport(ws, FH_STREAM_GRACEFUL);
    return 1;
}

static int on_control(struct fh_ws *ws)
{
    switch (ws->f_opcode) {
    case WSLAY_PING: {
        ws->stats.pings_in++;
        if (!ws->close_sent) {
            int rc = send_frame(ws, WSLAY_PONG, ws->ctrl, ws->ctrl_len);
            if (rc != 0) {
                set_outcome(ws, FH_WS_CLOSE_ERROR, rc,
                            "cannot answer a ping: output buffer full (%s)", fh_strerror(rc));
                close_transport(ws, FH_STREAM_NOW);
                return 1;
            }
            ws->stats.pongs_out++;
        }
        if (ws->cbs->on_ping != NULL)
            ws->cbs->on_ping(ws, ws->mono_ns);
        break;
    }
    case WSLAY_PONG:
        ws->stats.pongs_in++;
        if (ws->cbs->on_pong != NULL)
            ws->cbs->on_pong(ws, ws->ctrl, ws->ctrl_len, ws->mono_ns);
        break;
    case WSLAY_CONNECTION_CLOSE:
        return on_close_frame(ws);
    default:
        break;
    }
    return (ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING) ? 0 : 1;
}

/* Checks a new frame header. Returns 0 or 1 (connection failed). */
static int frame_start(struct fh_ws *ws, const struct wslay_frame_iocb *io)
{
    ws->in_frame = true;
    ws->f_opcode = io->opcode;
    ws->f_fin = io->fin != 0;
    ws->f_len = io->payload_length;
    ws->f_off = 0;
    ws->stats.frames_in++;
    if (io->mask)
        return fail_proto(ws, "masked frame from the server (%s)", opcode_name(io->opcode));
    if (io->rsv != 0)
        return fail_proto(ws, "reserved bits set (RSV%s%s%s) without a negotiated extension",
                          (io->rsv & 4) ? "1" : "", (io->rsv & 2) ? "2" : "",
                          (io->rsv & 1) ? "3" : "");
    switch (io->opcode) {
    case WSLAY_CONTINUATION_FRAME:
        if (!ws->in_message)
            return fail_proto(ws, "continuation frame without a message to continue");
        if (ws->f_len > ws->cfg.max_message - ws->msg.len)
            goto oversize;
        break;
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        if (ws->in_message)
            return fail_proto(ws, "new %s frame while a fragmented message is unfinished",
                              opcode_name(io->opcode));
        if (ws->f_len > ws->cfg.max_message)
            goto oversize;
        break;
    case WSLAY_CONNECTION_CLOSE:
    case WSLAY_PING:
    case WSLAY_PONG:
        ws->ctrl_len = 0; /* wslay has checked FIN and the 125-byte limit */
        break;
    default:
        return fail_proto(ws, "unknown opcode 0x%x", io->opcode);
    }
    uint64_t head = 2 + (ws->f_len >= 126 ? (ws->f_len > 65535 ? 8 : 2) : 0);
    ws->frame_abs += head; /* now the payload's offset; its end follows in frame_done */
    return 0;
oversize : {
    char what[160];
    snprintf(what, sizeof(what), "message larger than max_message (%zu bytes): frame of %llu",
             ws->cfg.max_message, (unsigned long long)ws->f_len);
    return fail_open(ws, FH_WS_CLOSE_OVERSIZE, 1009, what);
}
}

/* Handles one payload piece from wslay. Returns 0 to go on, 1 to stop. */
static int on_piece(struct fh_ws *ws, const struct wslay_frame_iocb *io)
{
    if (!ws->in_frame) {
        if (frame_start(ws, io) != 0)
            return 1;
        /* Fast path: a whole unfragmented data message in one piece, delivered in place. */
        if (ws->f_fin && io->data_length == ws->f_len &&
            (io->opcode == WSLAY_TEXT_FRAME || io->opcode == WSLAY_BINARY_FRAME)) {
            ws->in_frame = false;
            ws->frame_abs += ws->f_len;
            return deliver(ws, io->data, io->data_length, io->opcode == WSLAY_TEXT_FRAME, true);
        }
        if (io->opcode == WSLAY_TEXT_FRAME || io->opcode == WSLAY_BINARY_FRAME) {
            ws->in_message = true;
            ws->msg_text = io->opcode == WSLAY_TEXT_FRAME;
            fh_buf_reset(&ws->msg);
        }
    }
    ws->f_off += io->data_length;
    bool done = ws->f_off == ws->f_len;
    if (wslay_is_ctrl_frame(ws->f_opcode)) {
        /* wslay guarantees <= 125 bytes in total; pieces come when a frame crosses the
         * parser's window. */
        if (io->data_length > sizeof(ws->ctrl) - ws->ctrl_len)
            return fail_proto(ws, "control frame longer than 125 bytes");
        memcpy(ws->ctrl + ws->ctrl_len, io->data, io->data_length);
        ws->ctrl_len += io->data_length;
        if (!done)
            return 0;
        ws->in_frame = false;
        ws->frame_abs += ws->f_len;
        return on_control(ws);
    }
    if (io->data_length > 0) {
        int rc = fh_buf_append(&ws->msg, io->data, io->data_length);
        if (rc != 0) {
            set_outcome(ws, FH_WS_CLOSE_ERROR, rc, "message buffer: %s", fh_strerror(rc));
            close_transport(ws, FH_STREAM_NOW);
            return 1;
        }
    }
    if (!done)
        return 0;
    ws->in_frame = false;
    ws->frame_abs += ws->f_len;
    if (!ws->f_fin)
        return 0;
    ws->in_message = false;
    return deliver(ws, (const uint8_t *)ws->msg.data, ws->msg.len, ws->msg_text, false);
}

/* Parses buffered bytes until more are needed, a message is refused or the connection ends. */
static void process(struct fh_ws *ws)
{
    while ((ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING) && !ws->paused) {
        struct wslay_frame_iocb io;
        ssize_t r = wslay_frame_recv(ws->wslay, &io);
        if (r == WSLAY_ERR_WANT_READ)
            return;
        if (r == WSLAY_ERR_PROTO) {
            fail_wslay_proto(ws);
            return;
        }
        if (r < 0) {
            set_outcome(ws, FH_WS_CLOSE_ERROR, FH_EIO, "frame parser error %zd", r);
            close_transport(ws, FH_STREAM_NOW);
            return;
        }
        if (on_piece(ws, &io) != 0)
            return;
    }
}

static void stamp(struct fh_ws *ws)
{
    ws->rt_ns = fh_clock_realtime_ns();
    ws->mono_ns = fh_clock_monotonic_ns();
}

static void maybe_flush(struct fh_ws *ws)
{
    if (ws->flush_wanted && !ws->mem_mode && ws->stream_live &&
        fh_stream_get_state(&ws->stream) == FH_STREAM_OPEN) {
        ws->flush_wanted = false;
        (void)fh_stream_flush(&ws->stream); /* errors close the stream; on_close tells */
    }
}

/* Reads and parses while data is available, within READ_BUDGET reads. */
static void read_frames(struct fh_ws *ws)
{
    for (int i = 0; i < READ_BUDGET; i++) {
        if (ws->state != FH_WS_OPEN && ws->state != FH_WS_CLOSING)
            break;
        if (ws->paused)
            break;
        if (ws->rpos < ws->rlen) {
            process(ws);
            continue;
        }
        rbuf_recycle(ws);
        ssize_t n = fh_stream_read(&ws->stream, ws->rbuf, ws->cfg.read_buf);
        if (n <= 0)
            break;
        stamp(ws);
        ws->rlen = (size_t)n;
        ws->stats.bytes_in += (uint64_t)n;
        process(ws);
    }
    maybe_flush(ws);
}

/* ---- the upgrade --------------------------------------------------------------------- */

struct resp_header {
    struct fh_str name, value;
};

static bool is_tchar(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* True if the comma-separated list v holds token (case-insensitive). */
static bool has_token(struct fh_str v, const char *token)
{
    size_t i = 0;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t s = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e > s && fh_str_ieq_c((struct fh_str){v.p + s, e - s}, token))
            return true;
    }
    return false;
}

static const struct fh_str *find_header(const struct resp_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (fh_str_ieq_c(h[i].name, name))
            return &h[i].value;
    }
    return NULL;
}

/*
 * Parses "HTTP/1.x SP ddd [SP reason]" at p (line without CRLF). Returns the status or -1.
 */
static int parse_status_line(const char *p, size_t n)
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
    }
    if (n > 12 && p[12] != ' ')
        return -1;
    for (size_t i = 13; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -1;
    }
    return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/* Parses header lines of a complete head (after the status line). Returns count or -1. */
static int parse_headers(const char *p, const char *end, struct resp_header *h, size_t max,
                         const char **bad)
{
    size_t n = 0;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || eol + 1 >= end || eol[1] != '\n') {
            *bad = "line not ended by CRLF";
            return -1;
        }
        if (eol == p)
            break; /* the blank line */
        const char *colon = p;
        while (colon < eol && is_tchar((unsigned char)*colon))
            colon++;
        if (colon == p || colon == eol || *colon != ':') {
            *bad = "malformed header line";
            return -1;
        }
        const char *v = colon + 1;
        const char *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *q = v; q < ve; q++) {
            unsigned char c = (unsigned char)*q;
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                *bad = "control byte in a header value";
                return -1;
            }
        }
        if (n == max) {
            *bad = "too many headers";
            return -1;
        }
        h[n].name = (struct fh_str){p, (size_t)(colon - p)};
        h[n].value = (struct fh_str){v, (size_t)(ve - v)};
        n++;
        p = eol + 2;
    }
    return (int)n;
}

static int64_t parse_retry_after(const struct fh_str *v)
{
    if (v == NULL || v->n == 0 || v->n > 10)
        return -1;
    int64_t s = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return -1; /* an HTTP-date: not used by the venues we know */
        s = s * 10 + (v->p[i] - '0');
    }
    return s;
}

/* Checks the answer head rbuf[0..head_len). Returns 0 if it is a valid 101 for our key. */
static int check_response(struct fh_ws *ws, size_t head_len)
{
    const char *p = (const char *)ws->rbuf;
    const char *end = p + head_len;
    const char *eol = memchr(p, '\r', head_len);
    int status = eol != NULL ? parse_status_line(p, (size_t)(eol - p)) : -1;
    if (status < 0) {
        set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_EPARSE,
                    "WebSocket upgrade: malformed HTTP status line");
        return -1;
    }
    ws->info.http_status = status;
    struct resp_header h[RESP_MAX_HEADERS];
    const char *bad = NULL;
    int nh = parse_headers(eol + 2, end, h, RESP_MAX_HEADERS, &bad);
    if (status != 101) {
        if (nh >= 0)
            ws->info.retry_after_s = parse_retry_after(find_header(h, (size_t)nh, "Retry-After"));
        set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, 0, "WebSocket upgrade refused: HTTP %d%s", status,
                    ws->info.retry_after_s >= 0 ? " (with Retry-After)" : "");
        return -1;
    }
    if (nh < 0) {
        set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_EPARSE, "WebSocket upgrade: %s", bad);
        return -1;
    }
    size_t n = (size_t)nh;
    const struct fh_str *v = find_header(h, n, "Upgrade");
    const char *why = NULL;
    if (v == NULL || !has_token(*v, "websocket"))
        why = "missing Upgrade: websocket";
    else if ((v = find_header(h, n, "Connection")) == NULL || !has_token(*v, "upgrade"))
        why = "missing Connection: upgrade";
    else if ((v = find_header(h, n, "Sec-WebSocket-Accept")) == NULL)
        why = "missing Sec-WebSocket-Accept";
    else if (!fh_str_eq_c(*v, ws->accept_expected))
        why = "Sec-WebSocket-Accept does not match our key";
    else if ((v = find_header(h, n, "Sec-WebSocket-Extensions")) != NULL && v->n > 0)
        why = "server selected an extension we did not offer";
    else if ((v = find_header(h, n, "Sec-WebSocket-Protocol")) != NULL && v->n > 0)
        why = "server selected a subprotocol we did not offer";
    if (why != NULL) {
        set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_EPARSE, "WebSocket upgrade: %s", why);
        return -1;
    }
    return 0;
}

static void become_open(struct fh_ws *ws, size_t head_len)
{
    uv_timer_stop(&ws->deadline);
    ws->state = FH_WS_OPEN;
    ws->was_open = true;
    ws->rpos = head_len;
    ws->frame_abs = head_len;
    ws->stats.connects++;
    if (ws->cbs->on_open != NULL)
        ws->cbs->on_open(ws);
    if (ws->state != FH_WS_OPEN)
        return;
    read_frames(ws); /* frames sent right behind the 101, then the socket */
}

static void read_upgrade(struct fh_ws *ws)
{
    size_t limit = ws->cfg.max_response_head;
    for (;;) {
        if (ws->rlen >= limit) {
            const uint8_t *eol = memchr(ws->rbuf, '\r', ws->rlen);
            if (eol != NULL) {
                int st = parse_status_line((const char *)ws->rbuf, (size_t)(eol - ws->rbuf));
                ws->info.http_status = st > 0 ? st : 0;
            }
            set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_ENOSPACE,
                        "WebSocket upgrade: answer head larger than %zu bytes", limit);
            close_transport(ws, FH_STREAM_NOW);
            return;
        }
        ssize_t n = fh_stream_read(&ws->stream, ws->rbuf + ws->rlen, limit - ws->rlen);
        if (n <= 0)
            return;
        stamp(ws);
        size_t old = ws->rlen;
        ws->rlen += (size_t)n;
        ws->stats.bytes_in += (uint64_t)n;
        /* Garbage instead of HTTP fails at once instead of at the timeout. */
        size_t cmp = ws->rlen < 5 ? ws->rlen : 5;
        if (memcmp(ws->rbuf, "HTTP/", cmp) != 0) {
            set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_EPARSE,
                        "WebSocket upgrade: the answer is not HTTP");
            close_transport(ws, FH_STREAM_NOW);
            return;
        }
        size_t from = old >= 3 ? old - 3 : 0;
        const uint8_t *hit = NULL;
        for (size_t i = from; i + 4 <= ws->rlen; i++) {
            if (ws->rbuf[i] == '\r' && memcmp(ws->rbuf + i, "\r\n\r\n", 4) == 0) {
                hit = ws->rbuf + i;
                break;
            }
        }
        if (hit == NULL)
            continue;
        size_t head_len = (size_t)(hit - ws->rbuf) + 4;
        if (check_response(ws, head_len) != 0) {
            close_transport(ws, FH_STREAM_NOW);
            return;
        }
        become_open(ws, head_len);
        return;
    }
}

/* ---- stream callbacks ---------------------------------------------------------------- */

static void deadline_cb(uv_timer_t *t);

static void stream_open(struct fh_stream *s)
{
    struct fh_ws *ws = s->data;
    if (ws->state != FH_WS_CONNECTING)
        return;
    ws->state = FH_WS_UPGRADING;
    ws->rlen = ws->rpos = 0;
    ws->rbuf_abs = 0;
    memset(ws->hist, 0, sizeof(ws->hist));
    uv_timer_start(&ws->deadline, deadline_cb, ws->cfg.handshake_timeout_ms, 0);
    int rc = fh_stream_write(&ws->stream, ws->req.data, ws->req.len);
    if (rc != 0) {
        set_outcome(ws, FH_WS_CLOSE_ERROR, rc, "cannot queue the upgrade request: %s",
                    fh_strerror(rc));
        close_transport(ws, FH_STREAM_NOW);
        return;
    }
    ws->stats.bytes_out += ws->req.len;
}

static void stream_readable(struct fh_stream *s)
{
    struct fh_ws *ws = s->data;
    if (ws->state == FH_WS_UPGRADING)
        read_upgrade(ws);
    else if (ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING)
        read_frames(ws);
}

static void finish(struct fh_ws *ws);
static void connect_next(struct fh_ws *ws);

static bool is_errno(int status)
{
    return status < 0 && status > FH_EBASE;
}

static void stream_closed(struct fh_stream *s, int status)
{
    struct fh_ws *ws = s->data;
    ws->stream_live = false;
    if (!ws->outcome_set && ws->state == FH_WS_CONNECTING &&
        (ws->advance_on_close || is_errno(status))) {
        /* Connect failure (refused, unreachable, reset, timeout): try the next address. */
        if (!ws->advance_on_close) {
            char a[INET6_ADDRSTRLEN + 10] = "?";
            if (ws->addr_next > 0 && ws->n_addrs > 0)
                format_addr(&ws->addrs[ws->addr_next - 1], a, sizeof(a));
            ws->last_connect_err = status;
            seterr(ws, "%s (%s)", fh_stream_errmsg(s), a);
        }
        ws->advance_on_close = false;
        if (ws->addr_next < ws->n_addrs) {
            connect_next(ws);
            return;
        }
        if (ws->last_connect_err == -ETIMEDOUT)
            set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT, "%s", ws->errmsg);
        else
            set_outcome(ws, FH_WS_CLOSE_CONNECT, ws->last_connect_err, "%s", ws->errmsg);
    }
    if (!ws->outcome_set) {
        const char *em = fh_stream_errmsg(s);
        bool tls_err = ws->use_tls && status == FH_EIO;
        switch (ws->state) {
        case FH_WS_CONNECTING:
            if (tls_err)
                set_outcome(ws, FH_WS_CLOSE_TLS, status, "%s", em);
            else
                set_outcome(ws, FH_WS_CLOSE_ERROR, status, "connect: %s",
                            em[0] ? em : fh_strerror(status));
            break;
        case FH_WS_UPGRADING:
            if (tls_err)
                set_outcome(ws, FH_WS_CLOSE_TLS, status, "%s", em);
            else if (status == FH_STREAM_EOF || status == 0)
                set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, 0,
                            "WebSocket upgrade: the server closed the connection without an "
                            "answer");
            else
                set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, status, "WebSocket upgrade: %s",
                            em[0] ? em : fh_strerror(status));
            break;
        default:
            if (tls_err)
                set_outcome(ws, FH_WS_CLOSE_TLS, status, "%s", em);
            else if (status == FH_STREAM_EOF || status == 0)
                set_outcome(ws, FH_WS_CLOSE_EOF, 0,
                            "the server closed the connection without a close frame%s%s",
                            em[0] ? ": " : "", em);
            else
                set_outcome(ws, FH_WS_CLOSE_RESET, status, "%s", em[0] ? em : fh_strerror(status));
            break;
        }
    }
    finish(ws);
}

/* ---- connection life ----------------------------------------------------------------- */

/* Completes a connection: resets the slot to idle and calls on_close (last). */
static void finish(struct fh_ws *ws)
{
    uv_timer_stop(&ws->deadline);
    if (ws->dns != NULL) {
        ws->dns->ws = NULL;
        (void)uv_cancel((uv_req_t *)&ws->dns->req);
        ws->dns = NULL;
    }
    if (ws->wslay != NULL) {
        wslay_frame_context_free(ws->wslay);
        ws->wslay = NULL;
    }
    if (ws->paused)
        ws->stats.msgs_discarded++;
    /* Copies: the owner may reconnect from on_close, which reuses the slot's buffers. */
    struct fh_ws_close_info info = ws->info;
    char message[FH_WS_ERRMSG_LEN];
    char reason[FH_WS_CTRL_MAX];
    memcpy(message, ws->errmsg, sizeof(message));
    memcpy(reason, ws->peer_reason, sizeof(reason));
    info.message = message;
    info.peer_reason = reason;
    info.was_open = ws->was_open;
    ws->state = FH_WS_IDLE;
    ws->mem_mode = false;
    ws->paused = ws->resume_pending = ws->kick_close = false;
    ws->in_frame = ws->in_message = false;
    ws->rlen = ws->rpos = 0;
    fh_buf_reset(&ws->msg);
    ws->cbs->on_close(ws, &info);
}

static void connect_next(struct fh_ws *ws)
{
    while (ws->addr_next < ws->n_addrs) {
        int i = ws->addr_next++;
        struct fh_stream_config scfg = {
            .out_cap = ws->cfg.out_cap,
            .linger_ms = ws->cfg.close_timeout_ms,
        };
        if (scfg.out_cap < ws->req.len + 1024)
            scfg.out_cap = ws->req.len + 1024;
        ws->stream.data = ws;
        ws->state = FH_WS_CONNECTING;
        int rc = fh_stream_connect(&ws->stream, ws->loop, (struct sockaddr *)&ws->addrs[i],
                                   ws->addr_lens[i], ws->use_tls ? ws->tls : NULL, ws->host,
                                   &stream_cbs, &scfg);
        if (rc == 0) {
            ws->stream_live = true;
            uv_timer_start(&ws->deadline, deadline_cb, ws->cfg.connect_timeout_ms, 0);
            return;
        }
        char a[INET6_ADDRSTRLEN + 10];
        format_addr(&ws->addrs[i], a, sizeof(a));
        ws->last_connect_err = rc;
        seterr(ws, "connect to %s: %s", a, fh_strerror(rc));
    }
    if (ws->last_connect_err == -ETIMEDOUT)
        set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT, "%s", ws->errmsg);
    else
        set_outcome(ws, FH_WS_CLOSE_CONNECT, ws->last_connect_err, "%s", ws->errmsg);
    close_transport(ws, FH_STREAM_NOW);
}

static void dns_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct fh_ws__dns *d = req->data;
    struct fh_ws *ws = d->ws;
    free(d);
    if (ws == NULL) { /* abandoned (timeout or close) */
        uv_freeaddrinfo(res);
        return;
    }
    ws->dns = NULL;
    if (status != 0) {
        set_outcome(ws, FH_WS_CLOSE_DNS, status, "cannot resolve %s: %s", ws->host,
                    uv_strerror(status));
        uv_freeaddrinfo(res);
        close_transport(ws, FH_STREAM_NOW);
        return;
    }
    ws->n_addrs = 0;
    for (struct addrinfo *a = res; a != NULL && ws->n_addrs < FH_WS_MAX_ADDRS; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            a->ai_addrlen > sizeof(ws->addrs[0]))
            continue;
        memcpy(&ws->addrs[ws->n_addrs], a->ai_addr, a->ai_addrlen);
        ws->addr_lens[ws->n_addrs] = (socklen_t)a->ai_addrlen;
        ws->n_addrs++;
    }
    uv_freeaddrinfo(res);
    if (ws->n_addrs == 0) {
        set_outcome(ws, FH_WS_CLOSE_DNS, UV_EAI_NODATA, "cannot resolve %s: no IPv4/IPv6 address",
                    ws->host);
        close_transport(ws, FH_STREAM_NOW);
        return;
    }
    seterr(ws, "no address of %s answered", ws->host);
    connect_next(ws);
}

static void deadline_cb(uv_timer_t *t)
{
    struct fh_ws *ws = t->data;
    char a[INET6_ADDRSTRLEN + 10] = "";
    switch (ws->state) {
    case FH_WS_RESOLVING:
        set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT, "resolving %s timed out after %u ms",
                    ws->host, ws->cfg.connect_timeout_ms);
        close_transport(ws, FH_STREAM_NOW); /* finish() abandons the DNS request */
        break;
    case FH_WS_CONNECTING:
        if (ws->addr_next > 0)
            format_addr(&ws->addrs[ws->addr_next - 1], a, sizeof(a));
        ws->last_connect_err = -ETIMEDOUT;
        seterr(ws, "connect to %s (%s) timed out after %u ms", a[0] ? a : ws->host,
               ws->use_tls ? "TCP and TLS handshake" : "TCP", ws->cfg.connect_timeout_ms);
        if (ws->addr_next < ws->n_addrs && ws->stream_live) {
            ws->advance_on_close = true;
            fh_stream_close(&ws->stream, FH_STREAM_NOW);
            return;
        }
        set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT, "%s", ws->errmsg);
        close_transport(ws, FH_STREAM_NOW);
        break;
    case FH_WS_UPGRADING:
        set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT,
                    "WebSocket upgrade: no answer within %u ms", ws->cfg.handshake_timeout_ms);
        close_transport(ws, FH_STREAM_NOW);
        break;
    case FH_WS_CLOSING:
        /* Our close was not answered in time: the outcome (local) is already decided. */
        close_transport(ws, FH_STREAM_NOW);
        break;
    default:
        break;
    }
}

static void redeliver(struct fh_ws *ws)
{
    ws->resume_pending = false;
    if (!ws->paused)
        return;
    /* Not paused during the call, so a close or resume from inside it sees a plain state. */
    ws->paused = false;
    struct fh_ws_msg m = ws->held;
    int rc = ws->cbs->on_message(ws, &m);
    if (rc == FH_ENOSPACE && ws->state == FH_WS_OPEN && !ws->local_close) {
        ws->paused = true;
        ws->stats.refusals++;
        return;
    }
    ws->stats.msgs_in++;
    if (ws->state != FH_WS_OPEN && ws->state != FH_WS_CLOSING)
        return;
    if (!ws->mem_mode)
        fh_stream_set_reading(&ws->stream, true);
    if (ws->mem_mode) {
        process(ws);
        return;
    }
    /* Bytes left in rbuf first, then the socket (and any TLS data the poll cannot see). */
    read_frames(ws);
}

static void kick_cb(uv_timer_t *t)
{
    struct fh_ws *ws = t->data;
    if (ws->kick_close) {
        ws->kick_close = false;
        finish(ws);
        return;
    }
    if (ws->resume_pending)
        redeliver(ws);
}

/* ---- public API ---------------------------------------------------------------------- */

void fh_ws_config_default(struct fh_ws_config *c)
{
    c->max_message = 1u << 20;
    c->read_buf = 256u << 10;
    c->out_cap = 64u << 10;
    c->max_response_head = 8u << 10;
    c->connect_timeout_ms = 10000;
    c->handshake_timeout_ms = 10000;
    c->close_timeout_ms = 3000;
}

int fh_ws_init(struct fh_ws *ws, uv_loop_t *loop, const struct fh_ws_config *cfg,
               const struct fh_ws_cbs *cbs)
{
    void *owner = ws->data;
    memset(ws, 0, sizeof(*ws));
    ws->data = owner;
    if (loop == NULL || cbs == NULL || cbs->on_message == NULL || cbs->on_close == NULL)
        return FH_EINVAL;
    if (cfg != NULL)
        ws->cfg = *cfg;
    else
        fh_ws_config_default(&ws->cfg);
    struct fh_ws_config *c = &ws->cfg;
    if (c->read_buf < 4096)
        c->read_buf = 4096;
    if (c->max_message == 0)
        c->max_message = 1;
    if (c->out_cap < 1024)
        c->out_cap = 1024;
    if (c->max_response_head < 256)
        c->max_response_head = 256;
    if (c->max_response_head > c->read_buf)
        c->max_response_head = c->read_buf;
    ws->rbuf = malloc(c->read_buf);
    if (ws->rbuf == NULL)
        return FH_ENOMEM;
    ws->loop = loop;
    ws->cbs = cbs;
    fh_buf_init(&ws->msg, c->max_message);
    fh_buf_init(&ws->req, FH_WS_URL_MAX + 16384);
    ws->mask_pos = sizeof(ws->mask_pool); /* empty: filled on first use */
    (void)uv_timer_init(loop, &ws->deadline);
    (void)uv_timer_init(loop, &ws->kick);
    ws->deadline.data = ws;
    ws->kick.data = ws;
    ws->handles_open = 2;
    ws->initialised = true;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct fh_ws *ws = h->data;
    if (--ws->handles_open == 0 && ws->on_released != NULL)
        ws->on_released(ws);
}

int fh_ws_release(struct fh_ws *ws, void (*on_released)(struct fh_ws *ws))
{
    if (!ws->initialised || ws->state != FH_WS_IDLE)
        return FH_ESTATE;
    ws->initialised = false;
    free(ws->rbuf);
    ws->rbuf = NULL;
    free(ws->mem_out);
    ws->mem_out = NULL;
    ws->mem_out_len = ws->mem_out_cap = 0;
    fh_buf_release(&ws->msg);
    fh_buf_release(&ws->req);
    ws->on_released = on_released;
    uv_close((uv_handle_t *)&ws->deadline, timer_closed);
    uv_close((uv_handle_t *)&ws->kick, timer_closed);
    return 0;
}

static bool valid_header(const struct fh_ws_header *h)
{
    static const char *const reserved[] = {
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Content-Length",
        "Transfer-Encoding",
    };
    if (h->name == NULL || h->value == NULL || h->name[0] == '\0')
        return false;
    for (const char *p = h->name; *p; p++) {
        if (!is_tchar((unsigned char)*p))
            return false;
    }
    for (const char *p = h->value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (fh_str_ieq_c(fh_str_c(h->name), reserved[i]))
            return false;
    }
    return true;
}

/* Common part of connect: URL, request, key, parser. Leaves the slot idle on error. */
static int prepare(struct fh_ws *ws, const char *url, struct fh_ws_url *u,
                   const struct fh_ws_header *headers, size_t n_headers)
{
    char err[160];
    if (!ws->initialised || ws->state != FH_WS_IDLE)
        return FH_ESTATE;
    if (fh_ws_url_parse(url, u, err, sizeof(err)) != 0) {
        seterr(ws, "bad URL: %s", err);
        return FH_EINVAL;
    }
    for (size_t i = 0; i < n_headers; i++) {
        if (!valid_header(&headers[i])) {
            seterr(ws, "bad or reserved extra header %s",
                   headers[i].name != NULL ? headers[i].name : "(null)");
            return FH_EINVAL;
        }
    }
    memcpy(ws->host, u->host.p, u->host.n);
    ws->host[u->host.n] = '\0';
    ws->port = u->port;
    ws->host_is_ip = u->host_is_ip;
    ws->use_tls = u->tls;

    unsigned char raw[16];
    char key[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        seterr(ws, "RAND_bytes failed");
        return FH_EIO;
    }
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    if (fh_ws_accept_key((struct fh_str){key, 24}, ws->accept_expected) != 0) {
        seterr(ws, "cannot compute Sec-WebSocket-Accept");
        return FH_EIO;
    }

    struct fh_buf *r = &ws->req;
    fh_buf_reset(r);
    bool v6 = memchr(ws->host, ':', u->host.n) != NULL;
    bool default_port = ws->port == (ws->use_tls ? 443 : 80);
    int rc =
        fh_buf_appendf(r, "GET %s%.*s HTTP/1.1\r\nHost: %s%s%s", u->target.p[0] == '?' ? "/" : "",
                       (int)u->target.n, u->target.p, v6 ? "[" : "", ws->host, v6 ? "]" : "");
    if (rc == 0 && !default_port)
        rc = fh_buf_appendf(r, ":%u", ws->port);
    if (rc == 0)
        rc = fh_buf_appendf(r,
                            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                            key);
    for (size_t i = 0; rc == 0 && i < n_headers; i++)
        rc = fh_buf_appendf(r, "%s: %s\r\n", headers[i].name, headers[i].value);
    if (rc == 0)
        rc = fh_buf_append(r, "\r\n", 2);
    if (rc != 0) {
        seterr(ws, "upgrade request too large: %s", fh_strerror(rc));
        return rc;
    }

    struct wslay_frame_callbacks wcb = {
        .send_callback = wslay_send_cb,
        .recv_callback = wslay_recv_cb,
        .genmask_callback = wslay_genmask_cb,
    };
    wslay_frame_context_ptr ctx;
    if (wslay_frame_context_init(&ctx, &wcb, ws) != 0) {
        seterr(ws, "out of memory");
        return FH_ENOMEM;
    }
    ws->wslay = ctx;

    /* Fresh per-connection state. */
    ws->outcome_set = false;
    memset(&ws->info, 0, sizeof(ws->info));
    ws->info.retry_after_s = -1;
    ws->errmsg[0] = '\0';
    ws->peer_reason[0] = '\0';
    ws->was_open = ws->close_sent = ws->close_received = ws->local_close = false;
    ws->advance_on_close = ws->flush_wanted = false;
    ws->in_frame = ws->in_message = ws->paused = ws->resume_pending = false;
    ws->n_addrs = ws->addr_next = 0;
    ws->last_connect_err = 0;
    ws->rlen = ws->rpos = 0;
    ws->rbuf_abs = ws->frame_abs = 0;
    memset(ws->hist, 0, sizeof(ws->hist));
    fh_buf_reset(&ws->msg);
    return 0;
}

static int literal_addr(struct fh_ws *ws)
{
    struct sockaddr_storage *ss = &ws->addrs[0];
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ws->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(ws->port);
        ws->addr_lens[0] = sizeof(*a4);
    } else if (inet_pton(AF_INET6, ws->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(ws->port);
        ws->addr_lens[0] = sizeof(*a6);
    } else {
        return FH_EINVAL;
    }
    ws->n_addrs = 1;
    return 0;
}

static void drop_parser(struct fh_ws *ws)
{
    if (ws->wslay != NULL) {
        wslay_frame_context_free(ws->wslay);
        ws->wslay = NULL;
    }
}

int fh_ws_connect(struct fh_ws *ws, const char *url, SSL_CTX *tls,
                  const struct fh_ws_header *headers, size_t n_headers)
{
    struct fh_ws_url u;
    int rc = prepare(ws, url, &u, headers, n_headers);
    if (rc != 0)
        return rc;
    if (u.tls && tls == NULL) {
        drop_parser(ws);
        seterr(ws, "wss:// URL without a TLS context");
        return FH_EINVAL;
    }
    ws->tls = tls;
    if (ws->host_is_ip) {
        if (literal_addr(ws) != 0) {
            drop_parser(ws);
            seterr(ws, "bad IP literal %s", ws->host);
            return FH_EINVAL;
        }
        connect_next(ws);
        return 0;
    }
    struct fh_ws__dns *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drop_parser(ws);
        return FH_ENOMEM;
    }
    d->ws = ws;
    d->req.data = d;
    char port[8];
    snprintf(port, sizeof(port), "%u", ws->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    ws->state = FH_WS_RESOLVING;
    rc = uv_getaddrinfo(ws->loop, &d->req, dns_cb, ws->host, port, &hints);
    if (rc != 0) {
        free(d);
        set_outcome(ws, FH_WS_CLOSE_DNS, rc, "cannot resolve %s: %s", ws->host, uv_strerror(rc));
        close_transport(ws, FH_STREAM_NOW);
        return 0;
    }
    ws->dns = d;
    uv_timer_start(&ws->deadline, deadline_cb, ws->cfg.connect_timeout_ms, 0);
    return 0;
}

int fh__ws_connect_addrs(struct fh_ws *ws, const char *url, SSL_CTX *tls,
                         const struct sockaddr_storage *addrs, const socklen_t *lens, int n)
{
    if (n < 1 || n > FH_WS_MAX_ADDRS)
        return FH_EINVAL;
    struct fh_ws_url u;
    int rc = prepare(ws, url, &u, NULL, 0);
    if (rc != 0)
        return rc;
    if (u.tls && tls == NULL) {
        drop_parser(ws);
        return FH_EINVAL;
    }
    ws->tls = tls;
    for (int i = 0; i < n; i++) {
        ws->addrs[i] = addrs[i];
        ws->addr_lens[i] = lens[i];
    }
    ws->n_addrs = n;
    connect_next(ws);
    return 0;
}

int fh_ws_connect_fd(struct fh_ws *ws, int fd, const char *url, const struct fh_ws_header *headers,
                     size_t n_headers)
{
    struct fh_ws_url u;
    int rc = prepare(ws, url, &u, headers, n_headers);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    if (u.tls) {
        drop_parser(ws);
        close(fd);
        seterr(ws, "fh_ws_connect_fd supports ws:// only");
        return FH_EINVAL;
    }
    ws->tls = NULL;
    struct fh_stream_config scfg = {
        .out_cap = ws->cfg.out_cap,
        .linger_ms = ws->cfg.close_timeout_ms,
    };
    if (scfg.out_cap < ws->req.len + 1024)
        scfg.out_cap = ws->req.len + 1024;
    ws->stream.data = ws;
    /* The accept path of the stream takes over a connected fd; without TLS it is the same
     * byte stream as a client's. */
    rc = fh_stream_accept(&ws->stream, ws->loop, fd, NULL, &stream_cbs, &scfg);
    if (rc != 0) {
        drop_parser(ws);
        seterr(ws, "cannot use the socket: %s", fh_strerror(rc));
        return rc;
    }
    ws->stream_live = true;
    ws->state = FH_WS_CONNECTING;
    uv_timer_start(&ws->deadline, deadline_cb, ws->cfg.connect_timeout_ms, 0);
    return 0;
}

int fh_ws_send_text(struct fh_ws *ws, const void *p, size_t n)
{
    if (ws->state != FH_WS_OPEN)
        return FH_ESTATE;
    int rc = send_frame(ws, WSLAY_TEXT_FRAME, p, n);
    if (rc == 0)
        ws->stats.msgs_out++;
    return rc;
}

int fh_ws_send_binary(struct fh_ws *ws, const void *p, size_t n)
{
    if (ws->state != FH_WS_OPEN)
        return FH_ESTATE;
    int rc = send_frame(ws, WSLAY_BINARY_FRAME, p, n);
    if (rc == 0)
        ws->stats.msgs_out++;
    return rc;
}

int fh_ws_ping(struct fh_ws *ws, const void *p, size_t n)
{
    if (ws->state != FH_WS_OPEN)
        return FH_ESTATE;
    if (n > FH_WS_CTRL_MAX)
        return FH_EINVAL;
    int rc = send_frame(ws, WSLAY_PING, p, n);
    if (rc == 0)
        ws->stats.pings_out++;
    return rc;
}

static void drop_held(struct fh_ws *ws)
{
    if (!ws->paused)
        return;
    ws->paused = false;
    ws->resume_pending = false;
    ws->stats.msgs_discarded++;
    if (!ws->mem_mode && ws->stream_live)
        fh_stream_set_reading(&ws->stream, true);
}

void fh_ws_close(struct fh_ws *ws, uint16_t code, const char *reason)
{
    switch (ws->state) {
    case FH_WS_IDLE:
    case FH_WS_CLOSING:
    case FH_WS_CLOSED_WAIT:
        return;
    case FH_WS_RESOLVING:
    case FH_WS_CONNECTING:
    case FH_WS_UPGRADING:
        ws->local_close = true;
        set_outcome(ws, FH_WS_CLOSE_LOCAL, 0, "closed by us while %s", fh_ws_state_name(ws->state));
        close_transport(ws, FH_STREAM_NOW);
        return;
    case FH_WS_OPEN:
        break;
    }
    ws->local_close = true;
    drop_held(ws);
    if (code != 0 && !valid_send_code(code))
        code = 1000;
    set_outcome(ws, FH_WS_CLOSE_LOCAL, 0, "closed by us (code %u)", code);
    if (ws->close_received) {
        close_transport(ws, FH_STREAM_GRACEFUL);
        return;
    }
    if (send_close(ws, code, reason) != 0) {
        close_transport(ws, FH_STREAM_GRACEFUL);
        return;
    }
    ws->state = FH_WS_CLOSING;
    maybe_flush(ws);
    if (ws->mem_mode)
        return; /* the test feeds the server's answer */
    uv_timer_start(&ws->deadline, deadline_cb, ws->cfg.close_timeout_ms, 0);
}

void fh_ws_abort(struct fh_ws *ws)
{
    if (ws->state == FH_WS_IDLE)
        return;
    ws->local_close = true;
    drop_held(ws);
    set_outcome(ws, FH_WS_CLOSE_LOCAL, 0, "aborted by us while %s", fh_ws_state_name(ws->state));
    if (ws->state == FH_WS_CLOSED_WAIT) {
        if (ws->stream_live && !ws->mem_mode)
            fh_stream_close(&ws->stream, FH_STREAM_ABORT);
        return;
    }
    close_transport(ws, FH_STREAM_ABORT);
}

void fh_ws_resume(struct fh_ws *ws)
{
    if (!ws->paused || ws->resume_pending)
        return;
    ws->resume_pending = true;
    kick_start(ws);
}

/* ---- in-memory transport ------------------------------------------------------------- */

int fh__ws_open_mem(struct fh_ws *ws)
{
    struct fh_ws_url u;
    int rc = prepare(ws, "ws://mem.invalid/", &u, NULL, 0);
    if (rc != 0)
        return rc;
    ws->mem_mode = true;
    ws->stream_live = false;
    ws->state = FH_WS_OPEN;
    ws->was_open = true;
    return 0;
}

size_t fh__ws_mem_feed(struct fh_ws *ws, const void *p, size_t n, int64_t rt_ns, int64_t mono_ns)
{
    if (!ws->mem_mode || (ws->state != FH_WS_OPEN && ws->state != FH_WS_CLOSING) || ws->paused ||
        ws->rpos < ws->rlen)
        return 0;
    rbuf_recycle(ws);
    if (n > ws->cfg.read_buf)
        n = ws->cfg.read_buf;
    memcpy(ws->rbuf, p, n);
    ws->rlen = n;
    ws->rt_ns = rt_ns;
    ws->mono_ns = mono_ns;
    ws->stats.bytes_in += n;
    process(ws);
    return n;
}

const uint8_t *fh__ws_mem_output(const struct fh_ws *ws, size_t *len)
{
    *len = ws->mem_out_len;
    return ws->mem_out;
}

void fh__ws_mem_output_reset(struct fh_ws *ws)
{
    ws->mem_out_len = 0;
}
