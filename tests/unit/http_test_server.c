/*
 * http_test_server.c - the loopback HTTP/1.1 test server (see http_test_server.h).
 */
#include "http_test_server.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void send_all(struct fh_hts_conn *k, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = k->ssl != NULL ? SSL_write(k->ssl, p, (int)n) : send(k->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client went away (a body it refused, a cancel) */
        p += w;
        n -= (size_t)w;
    }
}

static void respond(struct fh_hts_conn *k, int status, const char *extra, const char *body,
                    size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n%s\r\n",
                     status, len, extra);
    send_all(k, head, (size_t)n);
    send_all(k, body, len);
}

char fh_hts_pattern_at(size_t i)
{
    return (char)('a' + (i * 7 + i / 26) % 26);
}

static void conn_close(struct fh_hts *sv, struct fh_hts_conn *k)
{
    if (k->held)
        sv->held_now--;
    SSL_free(k->ssl);
    k->ssl = NULL;
    close(k->fd);
    k->fd = -1;
    k->len = 0;
    k->held = false;
    atomic_fetch_add(&sv->closed, 1);
}

static void answer_held(struct fh_hts *sv)
{
    for (int i = 0; i < FH_HTS_CONNS; i++) {
        struct fh_hts_conn *k = &sv->conns[i];
        if (k->fd >= 0 && k->held) {
            k->held = false;
            respond(k, 200, "", "held", 4);
        }
    }
    sv->held_now = 0;
}

/* Serves one request line; returns false when the connection must close. */
static bool serve(struct fh_hts *sv, struct fh_hts_conn *k, const char *req)
{
    char path[256] = "";
    if (sscanf(req, "GET %255s HTTP/1.1", path) != 1)
        return false;
    atomic_fetch_add(&sv->requests, 1);
    if (strcmp(path, "/ok") == 0) {
        char extra[256] = "Retry-After: 7\r\nx-mbx-used-weight-1m: 42\r\n";
        const char *t = strstr(req, "\r\nX-Test: ");
        if (t != NULL) {
            t += 10;
            size_t l = strcspn(t, "\r");
            size_t off = strlen(extra);
            snprintf(extra + off, sizeof(extra) - off, "X-Echo: %.*s\r\n", (int)l, t);
        }
        respond(k, 200, extra, "hello", 5);
    } else if (strcmp(path, "/throttle") == 0) {
        respond(k, 429, "Retry-After: 3\r\n", "slow down", 9);
    } else if (strncmp(path, "/size/", 6) == 0) {
        size_t n = strtoul(path + 6, NULL, 10);
        char *b = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            b[i] = fh_hts_pattern_at(i);
        respond(k, 200, "", b, n);
        free(b);
    } else if (strcmp(path, "/hold") == 0) {
        k->held = true;
        if (++sv->held_now > atomic_load(&sv->held_max))
            atomic_store(&sv->held_max, sv->held_now);
        if (sv->held_now >= sv->hold_target)
            answer_held(sv);
    } else if (strcmp(path, "/hang") == 0) {
        /* never answered */
    } else if (strcmp(path, "/short") == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
        send_all(k, r, strlen(r));
        return false;
    } else {
        respond(k, 404, "", "", 0);
    }
    return true;
}

static void conn_readable(struct fh_hts *sv, struct fh_hts_conn *k)
{
    int cap = (int)(sizeof(k->in) - 1 - k->len);
    ssize_t r = k->ssl != NULL ? SSL_read(k->ssl, k->in + k->len, cap)
                               : recv(k->fd, k->in + k->len, (size_t)cap, 0);
    if (r <= 0) {
        conn_close(sv, k);
        return;
    }
    k->len += (size_t)r;
    k->in[k->len] = '\0';
    if (k->len >= 4 && memcmp(k->in, "GET ", 4) != 0) {
        /* Not HTTP (a TLS ClientHello): answer in plain text and hang up, as servers do. */
        const char *bad = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
        send_all(k, bad, strlen(bad));
        conn_close(sv, k);
        return;
    }
    char *end;
    while ((end = strstr(k->in, "\r\n\r\n")) != NULL) {
        *end = '\0';
        bool keep = serve(sv, k, k->in);
        size_t used = (size_t)(end + 4 - k->in);
        memmove(k->in, k->in + used, k->len - used + 1);
        k->len -= used;
        if (!keep) {
            conn_close(sv, k);
            return;
        }
    }
}

/* Accepts a connection (and, with TLS, completes its handshake: blocking, bounded by a
 * receive timeout so that a client that never finishes cannot stall the server). */
static void accept_one(struct fh_hts *sv)
{
    int fd = accept(sv->listen_fd, NULL, NULL);
    if (fd < 0)
        return;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL *ssl = NULL;
    if (sv->tls != NULL) {
        ssl = SSL_new(sv->tls);
        if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
            SSL_free(ssl);
            close(fd);
            atomic_fetch_add(&sv->tls_failed, 1);
            return;
        }
    }
    for (int i = 0; i < FH_HTS_CONNS; i++) {
        if (sv->conns[i].fd < 0) {
            sv->conns[i].fd = fd;
            sv->conns[i].ssl = ssl;
            atomic_fetch_add(&sv->accepted, 1);
            return;
        }
    }
    SSL_free(ssl);
    close(fd);
}

static void *server_main(void *arg)
{
    struct fh_hts *sv = arg;
    for (;;) {
        struct pollfd p[FH_HTS_CONNS + 2];
        int idx[FH_HTS_CONNS + 2];
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = sv->wake[0], .events = POLLIN};
        p[n++] = (struct pollfd){.fd = sv->listen_fd, .events = POLLIN};
        for (int i = 0; i < FH_HTS_CONNS; i++) {
            if (sv->conns[i].fd >= 0) {
                idx[n] = i;
                p[n++] = (struct pollfd){.fd = sv->conns[i].fd, .events = POLLIN};
            }
        }
        if (poll(p, n, -1) < 0)
            continue;
        if (p[0].revents)
            return NULL;
        if (p[1].revents & POLLIN)
            accept_one(sv);
        for (nfds_t j = 2; j < n; j++)
            if (p[j].revents && sv->conns[idx[j]].fd >= 0)
                conn_readable(sv, &sv->conns[idx[j]]);
    }
}

void fh_hts_start(struct fh_hts *sv, SSL_CTX *tls, int hold_target)
{
    memset(sv, 0, sizeof(*sv));
    for (int i = 0; i < FH_HTS_CONNS; i++)
        sv->conns[i].fd = -1;
    sv->hold_target = hold_target;
    sv->tls = tls;
    sv->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(sv->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(sv->listen_fd, 64), 0);
    assert_int_equal(getsockname(sv->listen_fd, (struct sockaddr *)&a, &al), 0);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(pipe(sv->wake), 0);
    assert_int_equal(pthread_create(&sv->thread, NULL, server_main, sv), 0);
}

void fh_hts_stop(struct fh_hts *sv)
{
    assert_int_equal(write(sv->wake[1], "x", 1), 1);
    pthread_join(sv->thread, NULL);
    for (int i = 0; i < FH_HTS_CONNS; i++)
        if (sv->conns[i].fd >= 0) {
            SSL_free(sv->conns[i].ssl);
            close(sv->conns[i].fd);
        }
    close(sv->listen_fd);
    close(sv->wake[0]);
    close(sv->wake[1]);
}
