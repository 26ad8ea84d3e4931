/*
 * ws_mem.c - the WebSocket client's in-memory transport (see "internal, for unit tests and
 * benchmarks" in ws.h; the files are listed in ws_int.h).
 *
 * A slot in memory mode has no socket and no stream: received bytes are fed as if one socket
 * read had returned them and go through the exact receive path of a real connection (read
 * buffer, wslay, checks, assembly, callbacks); what the client sends is appended to a growing
 * buffer (at most FH__WS_MEM_OUT_MAX bytes) that the test reads back. Closing ends at once,
 * with on_close from the loop.
 */
#include "net/ws_int.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

int fh__ws_open_mem(struct fh_ws *ws)
{
    struct fh_url u;
    int rc = fh__ws_prepare(ws, "ws://mem.invalid/", &u, NULL, 0);
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
    fh__ws_rbuf_recycle(ws);
    if (n > ws->cfg.read_buf)
        n = ws->cfg.read_buf;
    memcpy(ws->rbuf, p, n);
    ws->rlen = n;
    ws->rt_ns = rt_ns;
    ws->mono_ns = mono_ns;
    ws->stats.bytes_in += n;
    fh__ws_process(ws);
    return n;
}

uint8_t *fh__ws_mem_reserve(struct fh_ws *ws, size_t n)
{
    if (n > FH__WS_MEM_OUT_MAX - ws->mem_out_len)
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

const uint8_t *fh__ws_mem_output(const struct fh_ws *ws, size_t *len)
{
    *len = ws->mem_out_len;
    return ws->mem_out;
}

void fh__ws_mem_output_reset(struct fh_ws *ws)
{
    ws->mem_out_len = 0;
}
