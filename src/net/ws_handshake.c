/*
 * ws_handshake.c - the WebSocket client's opening handshake (RFC 6455 section 4.1; see ws.h,
 * the files are listed in ws_int.h).
 *
 * The upgrade request is rendered once per connect into ws->req, with a fresh random key.
 * The answer is read into the read buffer until its blank line, within max_response_head
 * bytes, parsed with the project's HTTP/1.1 parser (http1.h) and checked strictly with
 * fh_ws_check_answer; any other status is reported with its code and Retry-After. Frames
 * the server sent behind the 101 in the same read are handed to the frame layer.
 */
#include "net/ws_int.h"

#include "core/err.h"
#include "net/http1.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

/* ---- the request ---------------------------------------------------------------- */

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
    if (!fh_http_is_token(fh_str_c(h->name)) || !fh_http_is_field_value(fh_str_c(h->value)))
        return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (fh_str_ieq_c(fh_str_c(h->name), reserved[i]))
            return false;
    }
    return true;
}

int fh__ws_handshake_prepare(struct fh_ws *ws, const struct fh_url *u,
                             const struct fh_ws_header *headers, size_t n_headers)
{
    for (size_t i = 0; i < n_headers; i++) {
        if (!valid_header(&headers[i])) {
            fh__ws_seterr(ws, "bad or reserved extra header %s",
                          headers[i].name != NULL ? headers[i].name : "(null)");
            return FH_EINVAL;
        }
    }

    unsigned char raw[16];
    char key[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        fh__ws_seterr(ws, "RAND_bytes failed");
        return FH_EIO;
    }
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    if (fh_ws_accept_key((struct fh_str){key, 24}, ws->accept_expected) != 0) {
        fh__ws_seterr(ws, "cannot compute Sec-WebSocket-Accept");
        return FH_EIO;
    }

    struct fh_buf *r = &ws->req;
    fh_buf_reset(r);
    bool v6 = memchr(u->host.p, ':', u->host.n) != NULL;
    bool default_port = u->port == (u->tls ? 443 : 80);
    int rc = fh_buf_appendf(r, "GET %s%.*s HTTP/1.1\r\nHost: %s%.*s%s",
                            u->target.p[0] == '?' ? "/" : "", (int)u->target.n, u->target.p,
                            v6 ? "[" : "", (int)u->host.n, u->host.p, v6 ? "]" : "");
    if (rc == 0 && !default_port)
        rc = fh_buf_appendf(r, ":%u", u->port);
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
        fh__ws_seterr(ws, "upgrade request too large: %s", fh_strerror(rc));
        return rc;
    }
    return 0;
}

/* ---- the answer ------------------------------------------------------------------ */

/* Checks the answer head rbuf[0..head_len). Returns 0 if it is a valid 101 for our key. */
static int check_response(struct fh_ws *ws, size_t head_len)
{
    struct fh_http_resp resp;
    int rc = fh_http_parse_response((const char *)ws->rbuf, head_len, &resp);
    if (resp.status < 0) {
        fh__ws_set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_EPARSE,
                           "WebSocket upgrade: malformed HTTP status line");
        return -1;
    }
    ws->info.http_status = resp.status;
    if (resp.status != 101) {
        /* Retry-After only from a head that parsed in full. */
        if (rc > 0)
            ws->info.retry_after_s =
                fh_http_retry_after_s(fh_http_resp_header(&resp, "Retry-After"));
        fh__ws_set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, 0, "WebSocket upgrade refused: HTTP %d%s",
                           resp.status, ws->info.retry_after_s >= 0 ? " (with Retry-After)" : "");
        return -1;
    }
    /* rc is the head length here: the caller found the blank line that ends it. */
    const char *why = resp.error;
    if (rc <= 0 || fh_ws_check_answer(&resp, ws->accept_expected, &why) != 0) {
        fh__ws_set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_EPARSE, "WebSocket upgrade: %s",
                           why != NULL ? why : "incomplete answer head");
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
    fh__ws_read_frames(ws); /* frames sent right behind the 101, then the socket */
}

/*
 * Reads the answer into rbuf up to max_response_head bytes. Anything but "HTTP/" at the start
 * fails at once; otherwise the head is checked once its blank line (CRLFCRLF) has arrived.
 * Frames the server sent right behind it stay in rbuf for the frame layer.
 */
void fh__ws_read_upgrade(struct fh_ws *ws)
{
    size_t limit = ws->cfg.max_response_head;
    for (;;) {
        if (ws->rlen >= limit) {
            const uint8_t *eol = memchr(ws->rbuf, '\r', ws->rlen);
            if (eol != NULL) {
                int st = fh_http_parse_status_line((const char *)ws->rbuf, (size_t)(eol - ws->rbuf),
                                                   NULL, NULL);
                ws->info.http_status = st > 0 ? st : 0;
            }
            fh__ws_set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_ENOSPACE,
                               "WebSocket upgrade: answer head larger than %zu bytes", limit);
            fh__ws_close_transport(ws, FH_STREAM_NOW);
            return;
        }
        ssize_t n = fh_stream_read(&ws->stream, ws->rbuf + ws->rlen, limit - ws->rlen);
        if (n <= 0)
            return;
        fh__ws_stamp(ws);
        size_t old = ws->rlen;
        ws->rlen += (size_t)n;
        ws->stats.bytes_in += (uint64_t)n;
        /* Garbage instead of HTTP fails at once instead of at the timeout. */
        size_t cmp = ws->rlen < 5 ? ws->rlen : 5;
        if (memcmp(ws->rbuf, "HTTP/", cmp) != 0) {
            fh__ws_set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, FH_EPARSE,
                               "WebSocket upgrade: the answer is not HTTP");
            fh__ws_close_transport(ws, FH_STREAM_NOW);
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
            fh__ws_close_transport(ws, FH_STREAM_NOW);
            return;
        }
        become_open(ws, head_len);
        return;
    }
}
