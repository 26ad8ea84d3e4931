/*
 * test_http_async_tls.c - the non-blocking HTTP client (src/net/http_async.c) over TLS.
 *
 * The loopback server of http_test_server.h serves TLS with a throwaway self-signed
 * certificate made here (CN and subjectAltName DNS:localhost only, written to a temporary
 * ca_file). Cases: verified by name with the ca_file, and the connection reused for a second
 * request; the system store does not trust it; the certificate does not name the host asked
 * for (127.0.0.1); the explicit insecure opt-out accepts both.
 */
#include "testutil.h"

#include "core/err.h"
#include "http_test_server.h"
#include "net/http_async.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    bool guard_fired;
    EVP_PKEY *key;
    X509 *cert;
    SSL_CTX *server_tls;
    char *dir;
    char ca_file[512];
    struct fh_hts srv;
    struct fh_http_async *c;
    int closed_calls;
    int done;
    struct {
        enum fh_http_async_outcome outcome;
        long status;
        char body[16];
        char error[300];
        bool new_connection;
    } rec[4];
    int chain_left;
    char url[128];
};

/* A self-signed certificate for DNS:localhost, its key in a server context, and the
 * certificate alone in dir/ca.pem for the client. */
static void tls_make(struct fx *f)
{
    f->key = EVP_EC_gen("P-256");
    assert_non_null(f->key);
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, f->key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, f->key, EVP_sha256()) > 0);
    f->cert = x;
    f->server_tls = SSL_CTX_new(TLS_server_method());
    assert_non_null(f->server_tls);
    assert_int_equal(SSL_CTX_use_certificate(f->server_tls, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(f->server_tls, f->key), 1);
    f->dir = fh_test_tmpdir();
    snprintf(f->ca_file, sizeof(f->ca_file), "%s/ca.pem", f->dir);
    FILE *fp = fopen(f->ca_file, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    assert_int_equal(fclose(fp), 0);
}

static void on_guard(uv_timer_t *t)
{
    struct fx *f = t->data;
    f->guard_fired = true;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;
    uv_timer_start(&f->guard, on_guard, 60000, 0); /* turns a hang into a failure */
    tls_make(f);
    fh_hts_start(&f->srv, f->server_tls, 1);
    *state = f;
    return 0;
}

static void on_closed(void *user)
{
    struct fx *f = user;
    f->closed_calls++;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->c != NULL)
        fh_http_async_close(f->c, on_closed, f);
    uv_close((uv_handle_t *)&f->guard, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->closed_calls, f->c != NULL ? 1 : 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    fh_hts_stop(&f->srv);
    SSL_CTX_free(f->server_tls);
    X509_free(f->cert);
    EVP_PKEY_free(f->key);
    unlink(f->ca_file);
    rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void make_client(struct fx *f, bool with_ca, bool insecure)
{
    struct fh_http_async_config cfg = {.max_requests = 1,
                                       .max_body = 1024,
                                       .timeout_ms = 20000,
                                       .ca_file = with_ca ? f->ca_file : NULL,
                                       .insecure = insecure};
    char err[256] = "";
    assert_int_equal(fh_http_async_new(&f->loop, &cfg, &f->c, err, sizeof(err)), 0);
}

/* Records the result and, while chain_left > 0, submits the same URL again from here. */
static void on_done(struct fh_http_async *c, const struct fh_http_async_result *r, void *user)
{
    struct fx *f = user;
    int n = f->done++;
    f->rec[n].outcome = r->outcome;
    f->rec[n].status = r->status;
    f->rec[n].new_connection = r->new_connection;
    snprintf(f->rec[n].body, sizeof(f->rec[n].body), "%s", r->body);
    snprintf(f->rec[n].error, sizeof(f->rec[n].error), "%s", r->error);
    if (f->chain_left > 0) {
        f->chain_left--;
        struct fh_http_async_req rq = {.url = f->url};
        uint64_t id;
        assert_int_equal(fh_http_async_get(c, &rq, on_done, f, &id), 0);
    }
}

static void fetch(struct fx *f, const char *host, int n)
{
    snprintf(f->url, sizeof(f->url), "https://%s:%u/ok", host, f->srv.port);
    f->chain_left = n - 1;
    struct fh_http_async_req rq = {.url = f->url};
    uint64_t id;
    assert_int_equal(fh_http_async_get(f->c, &rq, on_done, f, &id), 0);
    while (f->done < n && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_false(f->guard_fired);
}

/* Verified against the ca_file by name; the second request reuses the TLS connection. */
static void test_verified_and_reused(void **state)
{
    struct fx *f = *state;
    make_client(f, true, false);
    fetch(f, "localhost", 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->rec[i].outcome, FH_HTTP_ASYNC_OK);
        assert_int_equal(f->rec[i].status, 200);
        assert_string_equal(f->rec[i].body, "hello");
    }
    assert_true(f->rec[0].new_connection);
    assert_false(f->rec[1].new_connection);
    assert_int_equal(atomic_load(&f->srv.accepted), 1);
    assert_int_equal(atomic_load(&f->srv.requests), 2);
}

/* Without the ca_file the system store does not know the certificate. */
static void test_untrusted_certificate(void **state)
{
    struct fx *f = *state;
    make_client(f, false, false);
    fetch(f, "localhost", 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_TLS);
    assert_true(strstr(f->rec[0].error, "certificate") != NULL);
    assert_int_equal(atomic_load(&f->srv.requests), 0);
    assert_int_equal(fh_http_async_stats(f->c)->failed[FH_HTTP_ASYNC_TLS], 1);
}

/* Trusted certificate, but it does not name 127.0.0.1. */
static void test_host_mismatch(void **state)
{
    struct fx *f = *state;
    make_client(f, true, false);
    fetch(f, "127.0.0.1", 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_TLS);
    assert_int_equal(atomic_load(&f->srv.requests), 0);
}

/* The explicit opt-out: neither trust nor name is checked. */
static void test_insecure_opt_out(void **state)
{
    struct fx *f = *state;
    make_client(f, false, true);
    fetch(f, "127.0.0.1", 1);
    assert_int_equal(f->rec[0].outcome, FH_HTTP_ASYNC_OK);
    assert_int_equal(f->rec[0].status, 200);
}

int main(void)
{
    /* The server's OpenSSL writes with write(2): a client that rejected the certificate must
     * not kill the test with SIGPIPE (the daemon ignores it too, src/app/run.c). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verified_and_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_opt_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
