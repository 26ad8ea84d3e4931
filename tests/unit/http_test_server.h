/*
 * http_test_server.h - a small HTTP/1.1 server on loopback for the HTTP client tests.
 *
 * One thread serves every connection with poll(2), in plain TCP or in TLS (OpenSSL, blocking
 * on the accepted socket, which a test's traffic never makes wait for long). One behaviour per
 * path:
 *   /ok        200 "hello", Retry-After: 7, x-mbx-used-weight-1m: 42 (lower case), and
 *              X-Echo: <the request's X-Test header> when it has one
 *   /throttle  429 "slow down" with Retry-After: 3
 *   /size/N    200 with N bytes of fh_hts_pattern_at(0..N-1)
 *   /hold      held until hold_target requests are held at once, then all answered "held"
 *   /hang      never answered
 *   /short     a Content-Length of 100, 3 bytes, then the connection closes
 *   other      404
 * Bytes that do not start with "GET " (a TLS ClientHello on the plain server) get a plain 400
 * and the connection closes. The counters let a test see what the client did on the wire.
 */
#ifndef FH_HTTP_TEST_SERVER_H
#define FH_HTTP_TEST_SERVER_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_HTS_CONNS 32

struct fh_hts_conn {
    int fd;
    SSL *ssl;
    char in[4096];
    size_t len;
    bool held;
};

struct fh_hts {
    int listen_fd, wake[2];
    uint16_t port;
    pthread_t thread;
    SSL_CTX *tls;           /* NULL: plain HTTP */
    atomic_int hold_target; /* set by a test while the server runs */
    struct fh_hts_conn conns[FH_HTS_CONNS];
    atomic_int accepted;   /* connections accepted (with TLS: handshake completed) */
    atomic_int tls_failed; /* TLS handshakes that failed */
    atomic_int closed;     /* connections that ended */
    atomic_int requests;   /* requests read */
    atomic_int held_max;   /* most /hold requests held at once */
    int held_now;
};

/* Starts serving on 127.0.0.1 (ephemeral port: sv->port); tls is borrowed, NULL for plain. */
void fh_hts_start(struct fh_hts *sv, SSL_CTX *tls, int hold_target);
void fh_hts_stop(struct fh_hts *sv);
char fh_hts_pattern_at(size_t i);

#endif
