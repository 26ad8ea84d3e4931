/*
 * ws.c - WebSocket framing on a feedsim connection: frames into the stream's out buffer,
 * wslay's server callbacks, the read step, and the subscription names the venues share.
 *
 * Output: every frame goes into the stream's bounded out buffer whole (header and payload
 * together), including the control frames wslay produces, so frames never interleave. A
 * frame that does not fit means the client is not reading fast enough: the connection is
 * closed as a slow consumer (a stalled connection instead discards or queues by policy).
 */
#include "fs_core.h"

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes read per readable event per connection, so one client cannot hold the loop. */
#define RX_BUDGET (256 * 1024)
/* Control frames wslay may queue before the client is treated as hostile. */
#define WS_MAX_QUEUED 64

/* ---- frames ---- */

size_t fs_ws_header(uint8_t *out, int opcode, uint64_t len, bool fin)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

static size_t header_len(uint64_t len)
{
    return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}

static void slow_consumer(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    uint64_t suppressed = 0;
    if (fh_ratelimit_allow(&sim->log_rl, sim->now_ns, &suppressed))
        log_warn("slow consumer, closing", "conn=%llu venue=%s pending=%zu suppressed=%llu",
                 (unsigned long long)c->id, fs_venue_name(c->venue), fh_stream_out_pending(&c->st),
                 (unsigned long long)suppressed);
    snprintf(c->close_reason, sizeof(c->close_reason), "slow consumer");
    c->phase = FS_PH_CLOSING;
    fh_stream_close(&c->st, FH_STREAM_NOW);
}

void fs_ws_pump(struct fs_conn *c)
{
    if (c->ws == NULL || !wslay_event_want_write(c->ws))
        return;
    (void)wslay_event_send(c->ws);
    if (wslay_event_get_queued_msg_count(c->ws) > WS_MAX_QUEUED) {
        snprintf(c->close_reason, sizeof(c->close_reason), "too many queued control frames");
        c->phase = FS_PH_CLOSING;
        fh_stream_close(&c->st, FH_STREAM_ABORT);
    }
}

int fs_ws_send(struct fs_conn *c, int opcode, const void *p, size_t n)
{
    if (c->phase != FS_PH_WS || !fh_stream_is_open(&c->st))
        return FH_ESTATE;
    if ((c->stalled && !c->stall_queue) || c->oversize_rem > 0) {
        c->frames_dropped++;
        return 0;
    }
    fs_ws_pump(c);
    if (c->phase != FS_PH_WS)
        return FH_ESTATE;
    size_t hl = header_len(n);
    uint8_t *dst = NULL;
    /* wslay's own frames enter the buffer whole (ws_send_cb), so ours may follow them
     * unless one is half copied (never expected; checked anyway). */
    if (c->ws_tx_rem == 0) {
        dst = fh_stream_reserve(&c->st, hl + n);
        if (dst == NULL && !c->stalled && c->slow_bps == 0) {
            /* A burst larger than the buffer within one tick: hand what we have to the
             * socket now; only a client whose socket is full too is a slow consumer. */
            if (fh_stream_flush(&c->st) != 0 || c->phase != FS_PH_WS)
                return FH_ESTATE;
            dst = fh_stream_reserve(&c->st, hl + n);
        }
    }
    if (dst == NULL) {
        if (c->stalled || c->feeder != NULL) {
            /* A stalled queue is full, or a fed (blast) connection is by design always full:
             * the frame is lost, the connection stays. */
            c->frames_dropped++;
            return 0;
        }
        slow_consumer(c);
        return FH_ENOSPACE;
    }
    fs_ws_header(dst, opcode, n, true);
    if (n > 0)
        memcpy(dst + hl, p, n);
    fh_stream_commit(&c->st, hl + n);
    c->frames_out++;
    return 0;
}

int fs_ws_send_text(struct fs_conn *c, const void *p, size_t n)
{
    int rc = fs_ws_send(c, WSLAY_TEXT_FRAME, p, n);
    if (rc == 0)
        c->last_data_tx_ns = c->sim->now_ns;
    return rc;
}

int fs_conn_write_raw(struct fs_conn *c, const void *p, size_t n)
{
    if (!fh_stream_is_open(&c->st))
        return FH_ESTATE;
    fs_ws_pump(c);
    if (c->ws_tx_rem != 0)
        return FH_ENOSPACE;
    return fh_stream_write(&c->st, p, n);
}

void fs_ws_close(struct fs_conn *c, int code, const char *reason)
{
    if (c->phase == FS_PH_CLOSING || fh_stream_get_state(&c->st) >= FH_STREAM_CLOSING_FLUSH)
        return;
    snprintf(c->close_reason, sizeof(c->close_reason), "%d %s", code, reason);
    c->stalled = false;
    fh_stream_set_write_paused(&c->st, false);
    fh_stream_notify_writable(&c->st, false);
    uint8_t payload[125];
    size_t rl = strlen(reason);
    if (rl > sizeof(payload) - 2)
        rl = sizeof(payload) - 2;
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    memcpy(payload + 2, reason, rl);
    uint8_t *dst = NULL;
    /* Frames wslay still queues (pongs) are dropped: the connection is closing. */
    if (c->oversize_rem == 0 && c->ws_tx_rem == 0)
        dst = fh_stream_reserve(&c->st, 2 + 2 + rl);
    c->phase = FS_PH_CLOSING;
    if (dst == NULL) {
        fh_stream_close(&c->st, FH_STREAM_NOW);
        return;
    }
    fs_ws_header(dst, WSLAY_CONNECTION_CLOSE, 2 + rl, true);
    memcpy(dst + 2, payload, 2 + rl);
    fh_stream_commit(&c->st, 4 + rl);
    fh_stream_close(&c->st, FH_STREAM_GRACEFUL);
}

void fs_conn_drop(struct fs_conn *c, enum fs_drop_mode mode, int code, const char *reason)
{
    switch (mode) {
    case FS_DROP_CLOSE:
        if (c->phase == FS_PH_WS) {
            fs_ws_close(c, code, reason);
            return;
        }
        c->phase = FS_PH_CLOSING;
        fh_stream_close(&c->st, FH_STREAM_GRACEFUL);
        return;
    case FS_DROP_RESET:
        snprintf(c->close_reason, sizeof(c->close_reason), "reset");
        c->phase = FS_PH_CLOSING;
        fh_stream_close(&c->st, FH_STREAM_ABORT);
        return;
    case FS_DROP_EOF:
        snprintf(c->close_reason, sizeof(c->close_reason), "eof");
        c->phase = FS_PH_CLOSING;
        c->stalled = false;
        fh_stream_set_write_paused(&c->st, false);
        fh_stream_close(&c->st, FH_STREAM_GRACEFUL);
        return;
    }
}

/* ---- wslay callbacks ---- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    struct fs_conn *c = user;
    if (c->phase != FS_PH_WS) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (c->pre_len > 0) {
        size_t n = len < c->pre_len ? len : c->pre_len;
        memcpy(buf, c->hbuf + c->pre_off, n);
        c->pre_off += n;
        c->pre_len -= n;
        return (ssize_t)n;
    }
    if (c->rx_budget == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > c->rx_budget)
        len = c->rx_budget;
    ssize_t r = fh_stream_read(&c->st, buf, len);
    if (r > 0) {
        c->rx_budget -= (size_t)r;
        return r;
    }
    wslay_event_set_error(ctx, r == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* wslay hands a frame header in one call and then its payload. The header is accepted only
 * when header and payload fit together, so a frame is never split around our own frames. A
 * connection stalled in discard mode swallows wslay's frames too: nothing is sent. */
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    (void)flags;
    struct fs_conn *c = user;
    if (len == 0)
        return 0;
    bool discard = c->stalled && !c->stall_queue;
    if (c->ws_tx_rem == 0) {
        uint64_t plen = data[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126 && len >= 4) {
            plen = ((uint64_t)data[2] << 8) | data[3];
            hl = 4;
        } else if (plen == 127 && len >= 10) {
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | data[2 + i];
            hl = 10;
        }
        if (len < hl) {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        if (!discard) {
            if (c->oversize_rem > 0 || fh_stream_reserve(&c->st, len + plen) == NULL) {
                wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
                return -1;
            }
            fh_stream_write(&c->st, data, len);
        }
        c->ws_tx_rem = plen;
        return (ssize_t)len;
    }
    size_t n = len < c->ws_tx_rem ? len : c->ws_tx_rem;
    if (!discard && fh_stream_write(&c->st, data, n) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->ws_tx_rem -= n;
    return (ssize_t)n;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ctx;
    struct fs_conn *c = user;
    if (c->phase != FS_PH_WS)
        return;
    c->msgs_in++;
    c->last_rx_ns = c->sim->now_ns;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE)
        return;
    fs_conn_module(c)->message(c, arg->opcode, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

int fs_ws_server_init(struct fs_conn *c)
{
    if (wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0)
        return FH_ENOMEM;
    wslay_event_config_set_max_recv_msg_length(c->ws, c->sim->cfg.max_msg);
    return 0;
}

void fs_ws_read(struct fs_conn *c)
{
    c->rx_budget = RX_BUDGET;
    int rc = wslay_event_recv(c->ws);
    if (c->phase != FS_PH_WS)
        return;
    if (!fh_stream_is_open(&c->st)) {
        c->phase = FS_PH_CLOSING; /* the client went away (EOF or error) */
        return;
    }
    if (rc != 0) {
        /* A frame-level protocol error (an oversize or fragmented control frame, a bad
         * length): wslay queued a close frame without a status code; send 1002 instead. */
        fs_ws_close(c, WSLAY_CODE_PROTOCOL_ERROR, "Protocol error");
        return;
    }
    fs_ws_pump(c);
    if (c->phase != FS_PH_WS)
        return;
    if (!wslay_event_get_read_enabled(c->ws) || wslay_event_get_close_received(c->ws)) {
        /* The client closed, or broke the protocol (wslay queued the close frame: 1002 for
         * unmasked frames, 1007 for bad UTF-8, 1009 for oversize messages). */
        int sent = wslay_event_get_status_code_sent(c->ws);
        int recv = wslay_event_get_status_code_received(c->ws);
        snprintf(c->close_reason, sizeof(c->close_reason), "ws close sent=%d received=%d", sent,
                 recv);
        c->phase = FS_PH_CLOSING;
        /* In the middle of an oversize frame no close frame can follow: reset instead of
         * pushing the rest of a frame the client has refused. */
        fh_stream_close(&c->st, c->oversize_rem > 0 ? FH_STREAM_ABORT : FH_STREAM_GRACEFUL);
    }
}

/* ---- subscriptions ---- */

void fs_conn_subscribed(struct fs_conn *c)
{
    if (c->sim->hooks.subscribed != NULL)
        c->sim->hooks.subscribed(c);
}

int fs_sub_find(const struct fs_conn *c, const char *name)
{
    for (uint16_t i = 0; i < c->nsubs; i++) {
        if (strcmp(c->subs[i], name) == 0)
            return i;
    }
    return -1;
}

int fs_sub_add(struct fs_conn *c, const char *name)
{
    if (fs_sub_find(c, name) >= 0)
        return 0;
    if (c->nsubs >= FS_MAX_STREAMS)
        return FH_ENOSPACE;
    if (strlen(name) >= FS_STREAM_NAME)
        return FH_ERANGE;
    if (c->subs == NULL) {
        c->subs = calloc(FS_MAX_STREAMS, sizeof(*c->subs));
        if (c->subs == NULL)
            return FH_ENOMEM;
    }
    snprintf(c->subs[c->nsubs], FS_STREAM_NAME, "%s", name);
    c->nsubs++;
    return 0;
}

void fs_sub_remove(struct fs_conn *c, int i)
{
    if (i < 0 || i >= c->nsubs)
        return;
    memmove(c->subs[i], c->subs[i + 1], (size_t)(c->nsubs - i - 1) * sizeof(c->subs[0]));
    c->nsubs--;
}
