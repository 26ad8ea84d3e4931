/*
 * stream.c - non-blocking TCP/TLS byte stream on a uv_poll handle (see stream.h).
 *
 * The poll handle is level-triggered: the events requested always mirror what the stream is
 * waiting for (update_poll), so a callback that leaves data unread is simply called again.
 * OpenSSL runs on the non-blocking socket itself; its WANT_READ / WANT_WRITE answers decide
 * which readiness we wait for, including the cross cases (a read that needs the socket
 * writable, a write that needs it readable).
 */
#include "net/stream.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes handed to one SSL_write: several TLS records, few calls. */
#define TLS_WRITE_CHUNK (256 * 1024)
/* How often on_readable is re-invoked while TLS still holds decrypted bytes the owner left. */
#define TLS_PENDING_REDELIVERIES 16

static void poll_cb(uv_poll_t *h, int status, int events);
static void update_poll(struct fh_stream *s);
static void finish(struct fh_stream *s, bool reset);

static void set_status(struct fh_stream *s, int status)
{
    if (s->status == 0)
        s->status = status;
}

static void fail_errno(struct fh_stream *s, int err, const char *what)
{
    if (s->errmsg[0] == '\0')
        snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, strerror(err));
    set_status(s, -err);
    finish(s, false);
}

static void fail_tls(struct fh_stream *s, const char *what)
{
    if (s->errmsg[0] == '\0') {
        unsigned long e = ERR_peek_last_error();
        char detail[120] = "";
        if (e != 0)
            ERR_error_string_n(e, detail, sizeof(detail));
        long vr = s->ssl != NULL ? SSL_get_verify_result(s->ssl) : X509_V_OK;
        if (vr != X509_V_OK)
            snprintf(s->errmsg, sizeof(s->errmsg), "%s: certificate verification failed: %s", what,
                     X509_verify_cert_error_string(vr));
        else if (detail[0] != '\0')
            snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, detail);
        else
            snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what,
                     errno != 0 ? strerror(errno) : "connection closed");
    }
    ERR_clear_error();
    set_status(s, FH_EIO);
    finish(s, false);
}

static void handle_closed(uv_handle_t *h)
{
    struct fh_stream *s = h->data;
    if (--s->handles_open > 0)
        return;
    free(s->out);
    s->out = NULL;
    s->cbs->on_close(s, s->status);
}

static void finish(struct fh_stream *s, bool reset)
{
    if (s->state == FH_STREAM_CLOSED)
        return;
    s->state = FH_STREAM_CLOSED;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->poll, handle_closed);
    uv_close((uv_handle_t *)&s->timer, handle_closed);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (s->ssl != NULL) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    /* uv_close has removed the fd from the poller, so it can be closed now. */
    close(s->fd);
    s->fd = -1;
}

static void linger_cb(uv_timer_t *t)
{
    struct fh_stream *s = t->data;
    finish(s, false);
}

static size_t pending(const struct fh_stream *s)
{
    return s->out_tail - s->out_head;
}

/* Writes up to max buffered bytes. Returns 0, or a negative code after failing the stream. */
static int do_flush(struct fh_stream *s, size_t max)
{
    while (pending(s) > 0 && max > 0) {
        size_t n = pending(s);
        if (n > max)
            n = max;
        if (s->ssl == NULL) {
            ssize_t r = send(s->fd, s->out + s->out_head, n, MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                int e = errno;
                fail_errno(s, e, "send");
                return -e;
            }
            s->out_head += (size_t)r;
            s->bytes_out += (uint64_t)r;
            max -= (size_t)r;
            if ((size_t)r < n)
                break; /* the socket buffer is full */
            continue;
        }
        /* OpenSSL requires a retried write to repeat the same length (the buffer may move:
         * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
        if (s->tls_retry_len != 0)
            n = s->tls_retry_len;
        else if (n > TLS_WRITE_CHUNK)
            n = TLS_WRITE_CHUNK;
        ERR_clear_error();
        int r = SSL_write(s->ssl, s->out + s->out_head, (int)n);
        if (r > 0) {
            s->tls_retry_len = 0;
            s->out_head += (size_t)r;
            s->bytes_out += (uint64_t)r;
            max = (size_t)r >= max ? 0 : max - (size_t)r;
            continue;
        }
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) {
            s->tls_retry_len = n;
            break;
        }
        if (e == SSL_ERROR_WANT_READ) {
            s->tls_retry_len = n;
            s->tls_write_wants_read = true;
            break;
        }
        if (e == SSL_ERROR_SYSCALL && errno != 0) {
            int en = errno;
            fail_errno(s, en, "SSL_write");
            return -en;
        }
        fail_tls(s, "SSL_write");
        return FH_EIO;
    }
    if (s->out_head == s->out_tail)
        s->out_head = s->out_tail = 0;
    return 0;
}

static void begin_drain(struct fh_stream *s)
{
    if (s->ssl != NULL) {
        ERR_clear_error();
        (void)SSL_shutdown(s->ssl); /* best effort close_notify */
        ERR_clear_error();
    }
    (void)shutdown(s->fd, SHUT_WR);
    if (s->eof_seen) {
        finish(s, false);
        return;
    }
    s->state = FH_STREAM_CLOSING_DRAIN;
    update_poll(s);
}

static void start_graceful(struct fh_stream *s)
{
    if (s->state >= FH_STREAM_CLOSING_FLUSH)
        return;
    if (s->state != FH_STREAM_OPEN) {
        finish(s, false);
        return;
    }
    s->state = FH_STREAM_CLOSING_FLUSH;
    uv_timer_start(&s->timer, linger_cb, s->linger_ms, 0);
    if (do_flush(s, SIZE_MAX) < 0)
        return;
    if (pending(s) == 0)
        begin_drain(s);
    else
        update_poll(s);
}

static void drain(struct fh_stream *s)
{
    char buf[4096];
    /* Raw reads even under TLS: whatever the peer still sends is discarded. Bounded so one
     * chatty peer cannot hold the loop. */
    for (int i = 0; i < 64; i++) {
        ssize_t r = recv(s->fd, buf, sizeof(buf), 0);
        if (r > 0)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        finish(s, false); /* EOF or error: either way we are done */
        return;
    }
}

static void peer_eof(struct fh_stream *s)
{
    s->eof_seen = true;
    set_status(s, FH_STREAM_EOF);
    start_graceful(s);
}

static void update_poll(struct fh_stream *s)
{
    int ev = 0;
    bool have = pending(s) > 0;
    switch (s->state) {
    case FH_STREAM_CONNECTING:
        ev = UV_WRITABLE;
        break;
    case FH_STREAM_HANDSHAKING:
        if (s->ssl == NULL)
            ev = UV_WRITABLE;
        else
            ev = s->tls_hs_wants_write ? UV_WRITABLE : UV_READABLE;
        break;
    case FH_STREAM_OPEN:
        if (s->tls_read_wants_write)
            ev |= UV_WRITABLE;
        else if (s->reading)
            ev |= UV_READABLE;
        if (!s->write_paused) {
            if (have)
                ev |= s->tls_write_wants_read ? UV_READABLE : UV_WRITABLE;
            if (s->notify_writable)
                ev |= UV_WRITABLE;
        }
        break;
    case FH_STREAM_CLOSING_FLUSH:
        if (have)
            ev = s->tls_write_wants_read ? UV_READABLE : UV_WRITABLE;
        break;
    case FH_STREAM_CLOSING_DRAIN:
        ev = UV_READABLE;
        break;
    case FH_STREAM_CLOSED:
        return;
    }
    if (ev == s->poll_events)
        return;
    s->poll_events = ev;
    int rc = ev != 0 ? uv_poll_start(&s->poll, ev, poll_cb) : uv_poll_stop(&s->poll);
    if (rc != 0)
        fail_errno(s, -rc, "uv_poll_start");
}

/* OpenSSL holds bytes that no poll event will announce: decrypted, or whole records read
 * ahead. Not a part of a record (SSL_has_pending counts those too): after SSL_read asked for
 * more, only the socket can complete it, and serving it again would spin until it does. */
static bool tls_pending(const struct fh_stream *s)
{
    return s->state == FH_STREAM_OPEN && s->reading && s->ssl != NULL && !s->tls_read_starved &&
           SSL_has_pending(s->ssl);
}

static void pending_cb(uv_timer_t *t);

static void call_readable(struct fh_stream *s)
{
    int again = 0;
    do {
        s->cbs->on_readable(s);
    } while (tls_pending(s) && ++again < TLS_PENDING_REDELIVERIES);
    /* Decrypted bytes the socket will not signal: come back on the next loop iteration (the
     * timer is free while the stream is open; it only serves the linger of a close). */
    if (tls_pending(s))
        uv_timer_start(&s->timer, pending_cb, 0, 0);
}

static void pending_cb(uv_timer_t *t)
{
    struct fh_stream *s = t->data;
    if (tls_pending(s)) {
        call_readable(s);
        if (s->state != FH_STREAM_CLOSED)
            update_poll(s);
    }
}

static void open_ready(struct fh_stream *s)
{
    s->state = FH_STREAM_OPEN;
    if (s->cbs->on_open != NULL)
        s->cbs->on_open(s);
    if (s->state != FH_STREAM_OPEN)
        return;
    if (pending(s) > 0 && !s->write_paused && do_flush(s, SIZE_MAX) < 0)
        return;
    if (tls_pending(s))
        call_readable(s);
}

static void do_handshake(struct fh_stream *s)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(s->ssl);
    if (r == 1) {
        s->tls_hs_wants_write = false;
        open_ready(s);
        return;
    }
    int e = SSL_get_error(s->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        s->tls_hs_wants_write = false;
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        s->tls_hs_wants_write = true;
        return;
    }
    fail_tls(s, "TLS handshake");
}

static void connect_ready(struct fh_stream *s)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        fail_errno(s, err, "connect");
        return;
    }
    if (s->ssl != NULL) {
        s->state = FH_STREAM_HANDSHAKING;
        do_handshake(s);
    } else {
        open_ready(s);
    }
}

static void open_events(struct fh_stream *s, int events)
{
    bool deliver = false;
    if (events & UV_READABLE) {
        if (s->tls_write_wants_read) {
            s->tls_write_wants_read = false;
            if (do_flush(s, SIZE_MAX) < 0)
                return;
        }
        if (s->reading && !s->tls_read_wants_write)
            deliver = true;
    }
    if (events & UV_WRITABLE) {
        if (s->tls_read_wants_write) {
            s->tls_read_wants_write = false;
            if (s->reading)
                deliver = true;
        }
        if (!s->write_paused && !s->tls_write_wants_read && do_flush(s, SIZE_MAX) < 0)
            return;
        if (s->notify_writable && !s->write_paused && s->cbs->on_writable != NULL &&
            pending(s) <= s->out_cap / 2) {
            s->cbs->on_writable(s);
            if (s->state != FH_STREAM_OPEN)
                return;
        }
    }
    if (deliver)
        call_readable(s);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct fh_stream *s = h->data;
    if (s->state == FH_STREAM_CLOSED)
        return;
    if (status < 0) {
        /* libuv reports POLLERR as UV_EBADF and stops the handle; the socket knows the real
         * error (ECONNRESET, ECONNREFUSED...). */
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0)
            err = -status;
        fail_errno(s, err, s->state == FH_STREAM_CONNECTING ? "connect" : "socket");
        return;
    }
    switch (s->state) {
    case FH_STREAM_CONNECTING:
        connect_ready(s);
        break;
    case FH_STREAM_HANDSHAKING:
        if (s->ssl != NULL)
            do_handshake(s);
        else
            open_ready(s);
        break;
    case FH_STREAM_OPEN:
        open_events(s, events);
        break;
    case FH_STREAM_CLOSING_FLUSH:
        if (events & UV_READABLE)
            s->tls_write_wants_read = false;
        if (do_flush(s, SIZE_MAX) < 0)
            return;
        if (pending(s) == 0)
            begin_drain(s);
        break;
    case FH_STREAM_CLOSING_DRAIN:
        drain(s);
        break;
    case FH_STREAM_CLOSED:
        return;
    }
    if (s->state != FH_STREAM_CLOSED)
        update_poll(s);
}

static int set_nonblock_nodelay(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int one = 1;
    /* Not fatal for non-TCP sockets (socketpairs in tests). */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

/* The socket BIO's reads, seen from OpenSSL's side: a read that returned less than OpenSSL
 * asked for (with read-ahead, the free space of its buffer) emptied the socket. */
static long socket_bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
                          int ret, size_t *processed)
{
    (void)argp;
    (void)argi;
    (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        struct fh_stream *s = (struct fh_stream *)BIO_get_callback_arg(b);
        s->sock_short = ret <= 0 || processed == NULL || *processed < len;
    }
    return ret; /* 1 for the call before the read: go on */
}

/* Common set-up. On failure closes fd and releases everything. */
static int setup(struct fh_stream *s, uv_loop_t *loop, int fd, SSL_CTX *tls,
                 const struct fh_stream_cbs *cbs, const struct fh_stream_config *cfg, bool server)
{
    void *owner = s->data;
    memset(s, 0, sizeof(*s));
    s->data = owner;
    s->fd = fd;
    s->loop = loop;
    s->cbs = cbs;
    s->server = server;
    s->reading = true;
    s->linger_ms = cfg->linger_ms;
    s->out_cap = cfg->out_cap < 1024 ? 1024 : cfg->out_cap;
    int rc = 0;
    if (cbs == NULL || cbs->on_readable == NULL || cbs->on_close == NULL) {
        rc = FH_EINVAL;
        goto fail;
    }
    rc = set_nonblock_nodelay(fd);
    if (rc != 0)
        goto fail;
    s->out = malloc(s->out_cap);
    if (s->out == NULL) {
        rc = FH_ENOMEM;
        goto fail;
    }
    if (tls != NULL) {
        s->ssl = SSL_new(tls);
        if (s->ssl == NULL || SSL_set_fd(s->ssl, fd) != 1) {
            rc = FH_ENOMEM;
            goto fail;
        }
        SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        BIO *rbio = SSL_get_rbio(s->ssl);
        BIO_set_callback_arg(rbio, (char *)s);
        BIO_set_callback_ex(rbio, socket_bio_cb);
    }
    rc = uv_poll_init(loop, &s->poll, fd);
    if (rc != 0)
        goto fail;
    s->poll.data = s;
    /* uv_timer_init cannot fail on Unix (it only links the handle into the loop). */
    (void)uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->handles_open = 2;
    return 0;
fail:
    if (s->ssl != NULL)
        SSL_free(s->ssl);
    s->ssl = NULL;
    free(s->out);
    s->out = NULL;
    close(fd);
    s->fd = -1;
    s->state = FH_STREAM_CLOSED;
    return rc;
}

int fh_stream_accept(struct fh_stream *s, uv_loop_t *loop, int fd, SSL_CTX *tls,
                     const struct fh_stream_cbs *cbs, const struct fh_stream_config *cfg)
{
    int rc = setup(s, loop, fd, tls, cbs, cfg, true);
    if (rc != 0)
        return rc;
    if (s->ssl != NULL)
        SSL_set_accept_state(s->ssl);
    s->state = FH_STREAM_HANDSHAKING;
    update_poll(s);
    return 0;
}

static bool is_ip_literal(const char *host)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

int fh_stream_connect(struct fh_stream *s, uv_loop_t *loop, const struct sockaddr *sa,
                      socklen_t salen, SSL_CTX *tls, const char *host,
                      const struct fh_stream_cbs *cbs, const struct fh_stream_config *cfg)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = setup(s, loop, fd, tls, cbs, cfg, false);
    if (rc != 0)
        return rc;
    if (s->ssl != NULL) {
        SSL_set_connect_state(s->ssl);
        if (host != NULL && host[0] != '\0') {
            int ok;
            if (is_ip_literal(host)) {
                ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), host);
            } else {
                ok = SSL_set_tlsext_host_name(s->ssl, host) == 1 && SSL_set1_host(s->ssl, host);
            }
            if (!ok) {
                snprintf(s->errmsg, sizeof(s->errmsg), "TLS: cannot set host %s", host);
                set_status(s, FH_EINVAL);
                finish(s, false);
                return 0; /* on_close reports it */
            }
        }
    }
    s->state = FH_STREAM_CONNECTING;
    if (connect(fd, sa, salen) != 0 && errno != EINPROGRESS) {
        int e = errno;
        fail_errno(s, e, "connect");
        return 0; /* reported through on_close, like any connection error */
    }
    update_poll(s);
    return 0;
}

ssize_t fh_stream_read(struct fh_stream *s, void *buf, size_t cap)
{
    if (s->state != FH_STREAM_OPEN)
        return s->state < FH_STREAM_OPEN ? 0 : FH_ESTATE;
    if (cap == 0)
        return 0;
    if (s->ssl == NULL) {
        for (;;) {
            ssize_t r = recv(s->fd, buf, cap, 0);
            if (r > 0) {
                s->bytes_in += (uint64_t)r;
                s->drained = (size_t)r < cap;
                return r;
            }
            if (r == 0) {
                peer_eof(s);
                return FH_ESTATE;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                s->drained = true;
                s->empty_reads++;
                return 0;
            }
            int e = errno;
            fail_errno(s, e, "recv");
            return -e;
        }
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(s->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0) {
        s->tls_read_starved = false;
        s->bytes_in += (uint64_t)r;
        /* Whole records left in OpenSSL's buffer count as pending too: read them first. */
        s->drained = s->sock_short && !SSL_has_pending(s->ssl);
        return r;
    }
    int e = SSL_get_error(s->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        s->tls_read_starved = true;
        s->drained = true;
        s->empty_reads++;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        s->tls_read_wants_write = true;
        update_poll(s);
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        peer_eof(s);
        return FH_ESTATE;
    case SSL_ERROR_SYSCALL:
        if (errno != 0) {
            int en = errno;
            fail_errno(s, en, "SSL_read");
            return -en;
        }
        /* EOF without close_notify: the peer went away; report it as EOF. */
        snprintf(s->errmsg, sizeof(s->errmsg), "TLS: peer closed without close_notify");
        peer_eof(s);
        return FH_ESTATE;
    default:
        /* OpenSSL 3 reports an EOF without close_notify as SSL_ERROR_SSL with this reason. */
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            snprintf(s->errmsg, sizeof(s->errmsg), "TLS: peer closed without close_notify");
            peer_eof(s);
            return FH_ESTATE;
        }
        fail_tls(s, "SSL_read");
        return FH_EIO;
    }
}

static bool writable_state(const struct fh_stream *s)
{
    return s->state <= FH_STREAM_OPEN;
}

static void compact(struct fh_stream *s)
{
    if (s->out_head == 0)
        return;
    size_t n = pending(s);
    memmove(s->out, s->out + s->out_head, n);
    s->out_head = 0;
    s->out_tail = n;
}

uint8_t *fh_stream_reserve(struct fh_stream *s, size_t n)
{
    if (!writable_state(s) || n > s->out_cap - pending(s))
        return NULL;
    if (n > s->out_cap - s->out_tail)
        compact(s);
    return s->out + s->out_tail;
}

void fh_stream_commit(struct fh_stream *s, size_t used)
{
    if (!writable_state(s) || used == 0)
        return;
    if (used > s->out_cap - s->out_tail)
        used = s->out_cap - s->out_tail; /* contract violation; never run past the buffer */
    s->out_tail += used;
    if (s->state == FH_STREAM_OPEN)
        update_poll(s);
}

int fh_stream_write(struct fh_stream *s, const void *p, size_t n)
{
    if (!writable_state(s))
        return FH_ESTATE;
    uint8_t *dst = fh_stream_reserve(s, n);
    if (dst == NULL)
        return FH_ENOSPACE;
    if (n > 0)
        memcpy(dst, p, n);
    fh_stream_commit(s, n);
    return 0;
}

size_t fh_stream_out_pending(const struct fh_stream *s)
{
    return s->out != NULL ? pending(s) : 0;
}

size_t fh_stream_out_space(const struct fh_stream *s)
{
    return s->out != NULL && writable_state(s) ? s->out_cap - pending(s) : 0;
}

int fh_stream_flush_limit(struct fh_stream *s, size_t max)
{
    if (s->state != FH_STREAM_OPEN && s->state != FH_STREAM_CLOSING_FLUSH)
        return s->state == FH_STREAM_CLOSED ? FH_ESTATE : 0;
    int rc = do_flush(s, max);
    if (rc != 0)
        return rc;
    if (s->state == FH_STREAM_CLOSING_FLUSH && pending(s) == 0)
        begin_drain(s);
    else
        update_poll(s);
    return 0;
}

int fh_stream_flush(struct fh_stream *s)
{
    if (s->write_paused && s->state == FH_STREAM_OPEN)
        return 0;
    return fh_stream_flush_limit(s, SIZE_MAX);
}

void fh_stream_set_reading(struct fh_stream *s, bool on)
{
    s->reading = on;
    if (s->state != FH_STREAM_CLOSED)
        update_poll(s);
    /* TLS may hold decrypted bytes that no poll event will announce. */
    if (tls_pending(s))
        uv_timer_start(&s->timer, pending_cb, 0, 0);
}

void fh_stream_set_write_paused(struct fh_stream *s, bool paused)
{
    s->write_paused = paused;
    if (s->state != FH_STREAM_CLOSED)
        update_poll(s);
}

void fh_stream_notify_writable(struct fh_stream *s, bool on)
{
    s->notify_writable = on;
    if (s->state != FH_STREAM_CLOSED)
        update_poll(s);
}

void fh_stream_close(struct fh_stream *s, enum fh_stream_close_how how)
{
    if (s->state == FH_STREAM_CLOSED)
        return;
    switch (how) {
    case FH_STREAM_ABORT:
        finish(s, true);
        break;
    case FH_STREAM_NOW:
        finish(s, false);
        break;
    case FH_STREAM_GRACEFUL:
        start_graceful(s);
        break;
    }
}

int fh_listen_tcp(const char *host, uint16_t port, int backlog, int *fd_out, uint16_t *port_out)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof(*v6);
    } else {
        return FH_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    *fd_out = fd;
    *port_out = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
    return 0;
}

int fh_accept_tcp(int listen_fd, int *fd_out)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            *fd_out = fd;
            return 0;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EWOULDBLOCK)
            return -EAGAIN;
        return -errno;
    }
}
