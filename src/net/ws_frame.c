/*
 * ws_frame.c - the WebSocket client's frame layer (see ws.h; the files are listed in
 * ws_int.h).
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
 * Send path. Frames are written by wslay straight into room reserved in the stream's out
 * buffer (or the in-memory transport's), masked with keys from a pool refilled with
 * RAND_bytes.
 */
#include "net/ws_int.h"

#include "core/err.h"
#include "core/utf8.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wslay/wslay.h>

/* Socket reads per readiness callback before yielding to other connections. */
#define READ_BUDGET 8
/* Frame header: 2 bytes, 8 of extended length, 4 of mask. */
#define FRAME_HEAD_MAX 14

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
    if (ws->mem_mode)
        return fh__ws_mem_reserve(ws, n);
    return fh_stream_reserve(&ws->stream, n);
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
    size_t cap = ws->mem_mode ? FH__WS_MEM_OUT_MAX : ws->stream.out_cap;
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

bool fh__ws_valid_close_code(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int fh__ws_send_close(struct fh_ws *ws, uint16_t code, const char *reason)
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

/* Fails an open connection: decide the outcome, send a close frame with code, close. */
static int fail_open(struct fh_ws *ws, enum fh_ws_close_reason reason, uint16_t code,
                     const char *what)
{
    fh__ws_set_outcome(ws, reason, 0, "%s", what);
    if (!ws->close_sent && code != 0) {
        const char *short_reason = reason == FH_WS_CLOSE_PROTOCOL   ? "protocol error"
                                   : reason == FH_WS_CLOSE_OVERSIZE ? "message too big"
                                   : reason == FH_WS_CLOSE_BAD_UTF8 ? "invalid UTF-8"
                                                                    : "";
        (void)fh__ws_send_close(ws, code, short_reason);
    }
    fh__ws_close_transport(ws, FH_STREAM_GRACEFUL);
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

void fh__ws_rbuf_recycle(struct fh_ws *ws)
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

static int on_close_frame(struct fh_ws *ws)
{
    uint16_t code = 1005;
    size_t n = ws->ctrl_len;
    ws->close_received = true;
    if (n == 1)
        return fail_proto(ws, "close frame with a 1-byte payload");
    if (n >= 2) {
        code = (uint16_t)((ws->ctrl[0] << 8) | ws->ctrl[1]);
        if (!fh__ws_valid_close_code(code))
            return fail_proto(ws, "invalid close code %u", code);
        if (!fh_utf8_check(ws->ctrl + 2, n - 2))
            return fail_open(ws, FH_WS_CLOSE_BAD_UTF8, 1007, "close reason is not valid UTF-8");
        memcpy(ws->peer_reason, ws->ctrl + 2, n - 2);
        ws->peer_reason[n - 2] = '\0';
    }
    ws->info.peer_code = code;
    if (ws->close_sent) {
        /* The answer to our close: the handshake is complete. */
        fh__ws_close_transport(ws, FH_STREAM_GRACEFUL);
        return 1;
    }
    struct fh_logq q;
    fh__ws_set_outcome(ws, FH_WS_CLOSE_PEER, 0, "server closed the connection: code %u reason %s",
                       code, fh_logq(&q, ws->peer_reason));
    /* Echo the code (RFC 6455 5.5.1); a close without a code is answered without one. */
    (void)fh__ws_send_close(ws, code == 1005 ? 0 : code, "");
    fh__ws_close_transport(ws, FH_STREAM_GRACEFUL);
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
                fh__ws_set_outcome(ws, FH_WS_CLOSE_ERROR, rc,
                                   "cannot answer a ping: output buffer full (%s)",
                                   fh_strerror(rc));
                fh__ws_close_transport(ws, FH_STREAM_NOW);
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
            fh__ws_set_outcome(ws, FH_WS_CLOSE_ERROR, rc, "message buffer: %s", fh_strerror(rc));
            fh__ws_close_transport(ws, FH_STREAM_NOW);
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

void fh__ws_process(struct fh_ws *ws)
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
            fh__ws_set_outcome(ws, FH_WS_CLOSE_ERROR, FH_EIO, "frame parser error %zd", r);
            fh__ws_close_transport(ws, FH_STREAM_NOW);
            return;
        }
        if (on_piece(ws, &io) != 0)
            return;
    }
}

void fh__ws_maybe_flush(struct fh_ws *ws)
{
    if (ws->flush_wanted && !ws->mem_mode && ws->stream_live &&
        fh_stream_get_state(&ws->stream) == FH_STREAM_OPEN) {
        ws->flush_wanted = false;
        (void)fh_stream_flush(&ws->stream); /* errors close the stream; on_close tells */
    }
}

void fh__ws_read_frames(struct fh_ws *ws)
{
    /* What the client holds first: wslay may have taken frames out of rbuf in an earlier read
     * (behind a message refused until resume) even when rpos has reached rlen. */
    if ((ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING) && !ws->paused)
        fh__ws_process(ws);
    for (int i = 0; i < READ_BUDGET; i++) {
        if (ws->state != FH_WS_OPEN && ws->state != FH_WS_CLOSING)
            break;
        if (ws->paused)
            break;
        if (ws->rpos < ws->rlen) {
            fh__ws_process(ws);
            continue;
        }
        fh__ws_rbuf_recycle(ws);
        ssize_t n = fh_stream_read(&ws->stream, ws->rbuf, ws->cfg.read_buf);
        if (n <= 0)
            break;
        fh__ws_stamp(ws);
        ws->rlen = (size_t)n;
        ws->stats.bytes_in += (uint64_t)n;
        fh__ws_process(ws);
        /* A short read emptied the socket: another would most likely find nothing (a system
         * call per wake-up at a frame or two per wake-up). The poll reports what comes. */
        if (fh_stream_drained(&ws->stream) && ws->rpos >= ws->rlen)
            break;
    }
    fh__ws_maybe_flush(ws);
}

/* ---- redelivery ---------------------------------------------------------------------- */

void fh__ws_redeliver(struct fh_ws *ws)
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
        fh__ws_process(ws);
        return;
    }
    /* Bytes left in rbuf first, then the socket (and any TLS data the poll cannot see). */
    fh__ws_read_frames(ws);
}

/* ---- the frame parser and the send functions ---------------------------------------- */

int fh__ws_frames_init(struct fh_ws *ws)
{
    struct wslay_frame_callbacks wcb = {
        .send_callback = wslay_send_cb,
        .recv_callback = wslay_recv_cb,
        .genmask_callback = wslay_genmask_cb,
    };
    wslay_frame_context_ptr ctx;
    if (wslay_frame_context_init(&ctx, &wcb, ws) != 0)
        return FH_ENOMEM;
    ws->wslay = ctx;
    return 0;
}

void fh__ws_frames_free(struct fh_ws *ws)
{
    if (ws->wslay != NULL) {
        wslay_frame_context_free(ws->wslay);
        ws->wslay = NULL;
    }
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
