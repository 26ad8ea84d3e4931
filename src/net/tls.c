/*
 * tls.c - OpenSSL contexts (see tls.h).
 */
#include "net/tls.h"

#include "core/err.h"
#include "core/log.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* Appends OpenSSL's most recent error, if any, to a message. */
static void ssl_err(char *err, size_t errsz, const char *what, const char *arg)
{
    char detail[160] = "";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    if (err != NULL && errsz > 0)
        snprintf(err, errsz, "%s%s%s%s%s", what, arg != NULL ? " " : "", arg != NULL ? arg : "",
                 detail[0] ? ": " : "", detail);
}

/* Counts the certificates a trust store holds (an empty CA file loads "successfully"). */
static int store_count(SSL_CTX *ctx)
{
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_OBJECT) *objs = st != NULL ? X509_STORE_get0_objects(st) : NULL;
    return objs != NULL ? sk_X509_OBJECT_num(objs) : 0;
}

int fh_tls_client_ctx_new(const struct fh_tls_config *cfg, SSL_CTX **out, char *err, size_t errsz)
{
    *out = NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_err(err, errsz, "SSL_CTX_new failed", NULL);
        return FH_ENOMEM;
    }
    int rc = FH_ECONFIG;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        ssl_err(err, errsz, "cannot require TLS 1.2", NULL);
        goto fail;
    }
    /* Renegotiation is never needed for a market-data stream and only widens the surface. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* Read ahead: one read() takes whatever the socket holds, up to FH_TLS_READ_BUFFER, instead
     * of two per record (its 5-byte header, then its body). Whole records that wait in
     * OpenSSL's buffer are served by the stream (tls_pending in stream.c), not by the socket;
     * the rest of a record still arriving waits for it. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, FH_TLS_READ_BUFFER);
    static const unsigned char alpn[] = "\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
        ssl_err(err, errsz, "cannot set ALPN", NULL);
        goto fail;
    }
    const char *ca = cfg->ca_file != NULL && cfg->ca_file[0] != '\0' ? cfg->ca_file : NULL;
    if (ca != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            ssl_err(err, errsz, "cannot load [tls] ca_file", ca);
            goto fail;
        }
        if (store_count(ctx) == 0) {
            if (err != NULL)
                snprintf(err, errsz, "[tls] ca_file %s holds no certificate", ca);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        ssl_err(err, errsz, "cannot load the system trust store", NULL);
        goto fail;
    }
    if (cfg->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        log_warn("TLS certificate verification is disabled",
                 "key=tls.verify value=false effect=\"any server certificate and host name is "
                 "accepted; use only for local tests\"");
    }
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return rc;
}

int fh_tls_server_ctx_new(const char *cert_file, const char *key_file, SSL_CTX **out, char *err,
                          size_t errsz)
{
    *out = NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_err(err, errsz, "SSL_CTX_new failed", NULL);
        return FH_ENOMEM;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errsz, "cannot load certificate/key", cert_file);
        SSL_CTX_free(ctx);
        return FH_ECONFIG;
    }
    *out = ctx;
    return 0;
}
