/*
 * tls.h - OpenSSL client contexts for the exchange connections.
 *
 * One SSL_CTX per process (or per distinct [tls] configuration) is shared by every
 * connection. It enforces TLS >= 1.2 and, unless verification is explicitly turned off,
 * verifies the certificate chain against the system trust store (or [tls] ca_file) and the
 * server's name: fh_stream_connect (stream.h) sets SNI and the expected host name for DNS
 * names, and the expected IP address for IP literals, on every connection made with it.
 * ALPN offers http/1.1 (what the WebSocket upgrade needs). It reads ahead: a connection's
 * read() takes up to FH_TLS_READ_BUFFER bytes, several records at a time under load.
 *
 * Errors: certificate and host problems surface on the connection as
 * FH_WS_CLOSE_TLS with the verification result in the message, e.g.
 * "TLS handshake: certificate verification failed: unable to get local issuer certificate"
 * or "... : hostname mismatch".
 *
 * Locality: build the context at start-up; afterwards it is only read (OpenSSL contexts may
 * be shared between threads once configured).
 */
#ifndef FH_NET_TLS_H
#define FH_NET_TLS_H

#include <openssl/ssl.h>

#include <stdbool.h>
#include <stddef.h>

/* Bytes OpenSSL reads from the socket at once per connection (read-ahead buffer). */
#define FH_TLS_READ_BUFFER (256 * 1024)

/* The [tls] section, as plain values (the app layer fills it from struct fh_config). */
struct fh_tls_config {
    const char *ca_file; /* PEM bundle of trusted CAs; NULL or "": the system store */
    bool verify;         /* verify chain and host name; false only for local tests */
};

/*
 * Creates a client context from cfg. With verify = false it logs a warning (the key name and
 * that any server will be trusted) and verifies nothing. Returns 0 with *out set (free it
 * with SSL_CTX_free), FH_ECONFIG with a sentence in err (unreadable or empty CA file, no
 * system store), or FH_ENOMEM.
 */
int fh_tls_client_ctx_new(const struct fh_tls_config *cfg, SSL_CTX **out, char *err, size_t errsz);

/*
 * Creates a server context from a PEM certificate chain and key (tests and tools only:
 * python-free TLS servers in unit tests). Returns 0, FH_ECONFIG with err, or FH_ENOMEM.
 */
int fh_tls_server_ctx_new(const char *cert_file, const char *key_file, SSL_CTX **out, char *err,
                          size_t errsz);

#endif
