/*
 * ws.c - WebSocket client over fh_stream (see ws.h): the life of a connection. The upgrade
 * is in ws_handshake.c, frames in ws_frame.c, the in-memory transport in ws_mem.c (shared
 * internals: ws_int.h).
 *
 * A connection goes URL -> addresses (an IP literal, or uv_getaddrinfo) -> one stream per
 * address in turn until one connects (and completes TLS) -> the upgrade -> open -> closing.
 * Timeouts of each phase run on one deadline timer.
 *
 * Connection outcomes are decided once (fh__ws_set_outcome: the first reason wins) and
 * reported when the stream's handles are closed (or, without a stream, from the kick timer),
 * so on_close always comes from the loop and exactly once.
 */
#include "net/ws_int.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- small helpers ------------------------------------------------------------------- */

void fh__ws_seterr(struct fh_ws *ws, const char *fmt, ...)
{
    char tmp[sizeof(ws->errmsg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(ws->errmsg, tmp, sizeof(tmp));
}

bool fh__ws_set_outcome(struct fh_ws *ws, enum fh_ws_close_reason reason, int err, const char *fmt,
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

static void kick_cb(uv_timer_t *t);

static void kick_start(struct fh_ws *ws)
{
    uv_timer_start(&ws->kick, kick_cb, 0, 0);
}

void fh__ws_close_transport(struct fh_ws *ws, enum fh_stream_close_how how)
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
        fh__ws_set_outcome(ws, FH_WS_CLOSE_ERROR, rc, "cannot queue the upgrade request: %s",
                           fh_strerror(rc));
        fh__ws_close_transport(ws, FH_STREAM_NOW);
        return;
    }
    ws->stats.bytes_out += ws->req.len;
}

static void stream_readable(struct fh_stream *s)
{
    struct fh_ws *ws = s->data;
    if (ws->state == FH_WS_UPGRADING)
        fh__ws_read_upgrade(ws);
    else if (ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING)
        fh__ws_read_frames(ws);
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
            fh__ws_seterr(ws, "%s (%s)", fh_stream_errmsg(s), a);
        }
        ws->advance_on_close = false;
        if (ws->addr_next < ws->n_addrs) {
            connect_next(ws);
            return;
        }
        if (ws->last_connect_err == -ETIMEDOUT)
            fh__ws_set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT, "%s", ws->errmsg);
        else
            fh__ws_set_outcome(ws, FH_WS_CLOSE_CONNECT, ws->last_connect_err, "%s", ws->errmsg);
    }
    if (!ws->outcome_set) {
        const char *em = fh_stream_errmsg(s);
        bool tls_err = ws->use_tls && status == FH_EIO;
        switch (ws->state) {
        case FH_WS_CONNECTING:
            if (tls_err)
                fh__ws_set_outcome(ws, FH_WS_CLOSE_TLS, status, "%s", em);
            else
                fh__ws_set_outcome(ws, FH_WS_CLOSE_ERROR, status, "connect: %s",
                                   em[0] ? em : fh_strerror(status));
            break;
        case FH_WS_UPGRADING:
            if (tls_err)
                fh__ws_set_outcome(ws, FH_WS_CLOSE_TLS, status, "%s", em);
            else if (status == FH_STREAM_EOF || status == 0)
                fh__ws_set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, 0,
                                   "WebSocket upgrade: the server closed the connection without an "
                                   "answer");
            else
                fh__ws_set_outcome(ws, FH_WS_CLOSE_HANDSHAKE, status, "WebSocket upgrade: %s",
                                   em[0] ? em : fh_strerror(status));
            break;
        default:
            if (tls_err)
                fh__ws_set_outcome(ws, FH_WS_CLOSE_TLS, status, "%s", em);
            else if (status == FH_STREAM_EOF || status == 0)
                fh__ws_set_outcome(ws, FH_WS_CLOSE_EOF, 0,
                                   "the server closed the connection without a close frame%s%s",
                                   em[0] ? ": " : "", em);
            else
                fh__ws_set_outcome(ws, FH_WS_CLOSE_RESET, status, "%s",
                                   em[0] ? em : fh_strerror(status));
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
    fh__ws_frames_free(ws);
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
        fh__ws_seterr(ws, "connect to %s: %s", a, fh_strerror(rc));
    }
    if (ws->last_connect_err == -ETIMEDOUT)
        fh__ws_set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT, "%s", ws->errmsg);
    else
        fh__ws_set_outcome(ws, FH_WS_CLOSE_CONNECT, ws->last_connect_err, "%s", ws->errmsg);
    fh__ws_close_transport(ws, FH_STREAM_NOW);
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
        fh__ws_set_outcome(ws, FH_WS_CLOSE_DNS, status, "cannot resolve %s: %s", ws->host,
                           uv_strerror(status));
        uv_freeaddrinfo(res);
        fh__ws_close_transport(ws, FH_STREAM_NOW);
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
        fh__ws_set_outcome(ws, FH_WS_CLOSE_DNS, UV_EAI_NODATA,
                           "cannot resolve %s: no IPv4/IPv6 address", ws->host);
        fh__ws_close_transport(ws, FH_STREAM_NOW);
        return;
    }
    fh__ws_seterr(ws, "no address of %s answered", ws->host);
    connect_next(ws);
}

static void deadline_cb(uv_timer_t *t)
{
    struct fh_ws *ws = t->data;
    char a[INET6_ADDRSTRLEN + 10] = "";
    switch (ws->state) {
    case FH_WS_RESOLVING:
        fh__ws_set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT,
                           "resolving %s timed out after %u ms", ws->host,
                           ws->cfg.connect_timeout_ms);
        fh__ws_close_transport(ws, FH_STREAM_NOW); /* finish() abandons the DNS request */
        break;
    case FH_WS_CONNECTING:
        if (ws->addr_next > 0)
            format_addr(&ws->addrs[ws->addr_next - 1], a, sizeof(a));
        ws->last_connect_err = -ETIMEDOUT;
        fh__ws_seterr(ws, "connect to %s (%s) timed out after %u ms", a[0] ? a : ws->host,
                      ws->use_tls ? "TCP and TLS handshake" : "TCP", ws->cfg.connect_timeout_ms);
        if (ws->addr_next < ws->n_addrs && ws->stream_live) {
            ws->advance_on_close = true;
            fh_stream_close(&ws->stream, FH_STREAM_NOW);
            return;
        }
        fh__ws_set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT, "%s", ws->errmsg);
        fh__ws_close_transport(ws, FH_STREAM_NOW);
        break;
    case FH_WS_UPGRADING:
        fh__ws_set_outcome(ws, FH_WS_CLOSE_TIMEOUT, -ETIMEDOUT,
                           "WebSocket upgrade: no answer within %u ms",
                           ws->cfg.handshake_timeout_ms);
        fh__ws_close_transport(ws, FH_STREAM_NOW);
        break;
    case FH_WS_CLOSING:
        /* Our close was not answered in time: the outcome (local) is already decided. */
        fh__ws_close_transport(ws, FH_STREAM_NOW);
        break;
    default:
        break;
    }
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
        fh__ws_redeliver(ws);
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
    fh_buf_init(&ws->req, FH_URL_MAX + 16384);
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

/* Common part of connect: URL, request, key, parser. Leaves the slot idle on error. */
int fh__ws_prepare(struct fh_ws *ws, const char *url, struct fh_url *u,
                   const struct fh_ws_header *headers, size_t n_headers)
{
    char err[160];
    if (!ws->initialised || ws->state != FH_WS_IDLE)
        return FH_ESTATE;
    if (fh_url_parse(url, u, err, sizeof(err)) != 0) {
        fh__ws_seterr(ws, "bad URL: %s", err);
        return FH_EINVAL;
    }
    int rc = fh__ws_handshake_prepare(ws, u, headers, n_headers);
    if (rc != 0)
        return rc;
    memcpy(ws->host, u->host.p, u->host.n);
    ws->host[u->host.n] = '\0';
    ws->port = u->port;
    ws->host_is_ip = u->host_is_ip;
    ws->use_tls = u->tls;
    rc = fh__ws_frames_init(ws);
    if (rc != 0) {
        fh__ws_seterr(ws, "out of memory");
        return rc;
    }

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

int fh_ws_connect(struct fh_ws *ws, const char *url, SSL_CTX *tls,
                  const struct fh_ws_header *headers, size_t n_headers)
{
    struct fh_url u;
    int rc = fh__ws_prepare(ws, url, &u, headers, n_headers);
    if (rc != 0)
        return rc;
    if (u.tls && tls == NULL) {
        fh__ws_frames_free(ws);
        fh__ws_seterr(ws, "wss:// URL without a TLS context");
        return FH_EINVAL;
    }
    ws->tls = tls;
    if (ws->host_is_ip) {
        if (literal_addr(ws) != 0) {
            fh__ws_frames_free(ws);
            fh__ws_seterr(ws, "bad IP literal %s", ws->host);
            return FH_EINVAL;
        }
        connect_next(ws);
        return 0;
    }
    struct fh_ws__dns *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        fh__ws_frames_free(ws);
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
        fh__ws_set_outcome(ws, FH_WS_CLOSE_DNS, rc, "cannot resolve %s: %s", ws->host,
                           uv_strerror(rc));
        fh__ws_close_transport(ws, FH_STREAM_NOW);
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
    struct fh_url u;
    int rc = fh__ws_prepare(ws, url, &u, NULL, 0);
    if (rc != 0)
        return rc;
    if (u.tls && tls == NULL) {
        fh__ws_frames_free(ws);
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
    struct fh_url u;
    int rc = fh__ws_prepare(ws, url, &u, headers, n_headers);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    if (u.tls) {
        fh__ws_frames_free(ws);
        close(fd);
        fh__ws_seterr(ws, "fh_ws_connect_fd supports ws:// only");
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
        fh__ws_frames_free(ws);
        fh__ws_seterr(ws, "cannot use the socket: %s", fh_strerror(rc));
        return rc;
    }
    ws->stream_live = true;
    ws->state = FH_WS_CONNECTING;
    uv_timer_start(&ws->deadline, deadline_cb, ws->cfg.connect_timeout_ms, 0);
    return 0;
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
        fh__ws_set_outcome(ws, FH_WS_CLOSE_LOCAL, 0, "closed by us while %s",
                           fh_ws_state_name(ws->state));
        fh__ws_close_transport(ws, FH_STREAM_NOW);
        return;
    case FH_WS_OPEN:
        break;
    }
    ws->local_close = true;
    drop_held(ws);
    if (code != 0 && !fh__ws_valid_close_code(code))
        code = 1000;
    fh__ws_set_outcome(ws, FH_WS_CLOSE_LOCAL, 0, "closed by us (code %u)", code);
    if (ws->close_received) {
        fh__ws_close_transport(ws, FH_STREAM_GRACEFUL);
        return;
    }
    if (fh__ws_send_close(ws, code, reason) != 0) {
        fh__ws_close_transport(ws, FH_STREAM_GRACEFUL);
        return;
    }
    ws->state = FH_WS_CLOSING;
    fh__ws_maybe_flush(ws);
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
    fh__ws_set_outcome(ws, FH_WS_CLOSE_LOCAL, 0, "aborted by us while %s",
                       fh_ws_state_name(ws->state));
    if (ws->state == FH_WS_CLOSED_WAIT) {
        if (ws->stream_live && !ws->mem_mode)
            fh_stream_close(&ws->stream, FH_STREAM_ABORT);
        return;
    }
    fh__ws_close_transport(ws, FH_STREAM_ABORT);
}

void fh_ws_resume(struct fh_ws *ws)
{
    if (!ws->paused || ws->resume_pending)
        return;
    ws->resume_pending = true;
    kick_start(ws);
}
