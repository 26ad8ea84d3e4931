/*
 * ws_int.h - internals shared by the files of the WebSocket client (not for its users; the
 * API is ws.h).
 *
 * ws.c           connection life: URL to address, DNS, connect, stream callbacks, timers,
 *                outcomes and on_close, close/abort/resume
 * ws_handshake.c the HTTP/1.1 upgrade: request, answer read and checked through http1.h
 * ws_frame.c     the frame layer (wslay): sending, receiving, message assembly, redelivery
 * ws_mem.c       the in-memory transport for tests and benchmarks
 *
 * All of it runs on the thread of the slot's loop (the engine).
 */
#ifndef FH_NET_WS_INT_H
#define FH_NET_WS_INT_H

#include "core/clock.h"
#include "core/log.h"
#include "net/url.h"
#include "net/ws.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* In-memory transport output limit (tests). */
#define FH__WS_MEM_OUT_MAX (16u << 20)

/* ---- ws.c ---- */

/* Sets ws->errmsg (without deciding an outcome). */
void fh__ws_seterr(struct fh_ws *ws, const char *fmt, ...) FH_PRINTF(2, 3);

/*
 * Decides how the connection ends (only the first decision counts) and records the state it
 * was in. The message is formatted only for the first decision. Returns true if this call
 * decided.
 */
bool fh__ws_set_outcome(struct fh_ws *ws, enum fh_ws_close_reason reason, int err, const char *fmt,
                        ...) FH_PRINTF(4, 5);

/* Ends the transport: the stream's on_close (or the kick timer) completes the connection. */
void fh__ws_close_transport(struct fh_ws *ws, enum fh_stream_close_how how);

/* Common part of every connect: URL, upgrade request and key, frame parser, fresh
 * per-connection state. Leaves the slot idle on error (ws->errmsg says why). */
int fh__ws_prepare(struct fh_ws *ws, const char *url, struct fh_url *u,
                   const struct fh_ws_header *headers, size_t n_headers);

/* ---- ws_handshake.c ---- */

/* Checks the extra headers, draws a key and renders the upgrade request into ws->req and
 * the answer expected into ws->accept_expected. Returns 0, FH_EINVAL, FH_EIO or
 * FH_ENOSPACE, with ws->errmsg set. */
int fh__ws_handshake_prepare(struct fh_ws *ws, const struct fh_url *u,
                             const struct fh_ws_header *headers, size_t n_headers);

/* FH_WS_UPGRADING and the socket is readable: reads and checks the answer, then opens. */
void fh__ws_read_upgrade(struct fh_ws *ws);

/* ---- ws_frame.c ---- */

/* Creates / frees the wslay frame context of a connection (ws->wslay). */
int fh__ws_frames_init(struct fh_ws *ws);
void fh__ws_frames_free(struct fh_ws *ws);

/* Close codes that may appear on the wire (RFC 6455 7.4). */
bool fh__ws_valid_close_code(unsigned code);

/* Queues a close frame with code (0: none) and a reason cut to fit and to stay UTF-8. */
int fh__ws_send_close(struct fh_ws *ws, uint16_t code, const char *reason);

/* Flushes frames queued while reading, when the stream is open. */
void fh__ws_maybe_flush(struct fh_ws *ws);

/* Forgets the read buffer's contents before a new read, keeping its last 16 bytes. */
void fh__ws_rbuf_recycle(struct fh_ws *ws);

/* Parses buffered bytes until more are needed, a message is refused or the connection
 * ends. */
void fh__ws_process(struct fh_ws *ws);

/* Reads and parses while data is available, within a budget of reads. */
void fh__ws_read_frames(struct fh_ws *ws);

/* The kick timer after fh_ws_resume: delivers the held message again, then reads on. */
void fh__ws_redeliver(struct fh_ws *ws);

/* Stamps the receive times of a socket read. */
static inline void fh__ws_stamp(struct fh_ws *ws)
{
    ws->rt_ns = fh_clock_realtime_ns();
    ws->mono_ns = fh_clock_monotonic_ns();
}

/* ---- ws_mem.c ---- */

/* Contiguous room for n bytes of output in memory mode, or NULL. */
uint8_t *fh__ws_mem_reserve(struct fh_ws *ws, size_t n);

#endif
