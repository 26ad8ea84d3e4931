/*
 * bench_feedsim.c - how many frames per second feedsim's blast mode sustains to a trivial
 * reading client over loopback, in plain TCP and in TLS.
 *
 * The program starts feedsim (--binance 0 --blast, and --tls with a throwaway certificate
 * made here), connects with the project's own stream layer (src/net/stream.c, the transport
 * the connection engine uses), upgrades to /ws/btcusdt@trade and then only walks frame
 * headers to count frames: no JSON, no copies. Each run is a fresh connection, warmed up for
 * a moment and then measured for --seconds; the figures are min and median over --runs.
 *
 * Usage: bench_feedsim [--feedsim PATH] [--seconds S] [--runs N] [--plain-only|--tls-only]
 * PATH defaults to ../tools/feedsim next to this program's directory in the build tree.
 * The machine is shared: compare figures only within one run of this program.
 */
#include "core/clock.h"
#include "core/err.h"
#include "net/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define READ_BUF (256 * 1024)

struct reader {
    struct fh_stream st; /* first */
    uv_loop_t *loop;
    uv_timer_t timer;
    uint8_t *buf;
    bool upgraded;
    char head[4096];
    size_t head_len;
    /* frame walking */
    uint8_t hdr[14];
    size_t hlen;
    uint64_t skip;
    uint64_t frames, bytes;
    bool measuring;
    uint64_t frames0, bytes0;
    int64_t t0, t1;
    int phase; /* 0 warm-up, 1 measuring, 2 done */
    double warmup_s, measure_s;
    bool failed;
    char errmsg[200];
};

static void count(struct reader *r, const uint8_t *p, size_t n)
{
    size_t i = 0;
    r->bytes += n;
    while (i < n) {
        if (r->skip > 0) {
            size_t take = n - i < r->skip ? n - i : (size_t)r->skip;
            r->skip -= take;
            i += take;
            continue;
        }
        /* Fast path: a whole small header in the buffer. */
        if (r->hlen == 0 && n - i >= 2 && (p[i + 1] & 0x7f) < 126 && (p[i + 1] & 0x80) == 0) {
            r->skip = p[i + 1] & 0x7f;
            r->frames++;
            i += 2;
            continue;
        }
        r->hdr[r->hlen++] = p[i++];
        if (r->hlen < 2)
            continue;
        size_t len7 = r->hdr[1] & 0x7f;
        size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((r->hdr[1] & 0x80) ? 4 : 0);
        if (r->hlen < need)
            continue;
        uint64_t len = len7;
        if (len7 == 126)
            len = ((uint64_t)r->hdr[2] << 8) | r->hdr[3];
        else if (len7 == 127) {
            len = 0;
            for (int k = 0; k < 8; k++)
                len = (len << 8) | r->hdr[2 + k];
        }
        r->skip = len;
        r->frames++;
        r->hlen = 0;
    }
}

static void on_open(struct fh_stream *s)
{
    static const char req[] = "GET /ws/btcusdt@trade HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    fh_stream_write(s, req, sizeof(req) - 1);
}

static void on_readable(struct fh_stream *s)
{
    struct reader *r = (struct reader *)s;
    for (int k = 0; k < 64; k++) {
        ssize_t n = fh_stream_read(s, r->buf, READ_BUF);
        if (n <= 0)
            return;
        const uint8_t *p = r->buf;
        size_t len = (size_t)n;
        if (!r->upgraded) {
            size_t take =
                len < sizeof(r->head) - 1 - r->head_len ? len : sizeof(r->head) - 1 - r->head_len;
            memcpy(r->head + r->head_len, p, take);
            r->head_len += take;
            r->head[r->head_len] = '\0';
            char *end = strstr(r->head, "\r\n\r\n");
            if (end == NULL)
                continue;
            if (strncmp(r->head, "HTTP/1.1 101", 12) != 0) {
                snprintf(r->errmsg, sizeof(r->errmsg), "upgrade refused: %.60s", r->head);
                r->failed = true;
                fh_stream_close(s, FH_STREAM_NOW);
                return;
            }
            size_t hdr = (size_t)(end + 4 - r->head);
            size_t prev = r->head_len - take;
            r->upgraded = true;
            p += hdr - prev;
            len -= hdr - prev;
        }
        count(r, p, len);
    }
}

static void on_close(struct fh_stream *s, int status)
{
    struct reader *r = (struct reader *)s;
    if (r->phase < 2) {
        r->failed = true;
        snprintf(r->errmsg, sizeof(r->errmsg), "closed early: %d %s", status, fh_stream_errmsg(s));
    }
    uv_close((uv_handle_t *)&r->timer, NULL);
}

static const struct fh_stream_cbs cbs = {
    .on_open = on_open, .on_readable = on_readable, .on_close = on_close};

static void timer_cb(uv_timer_t *t)
{
    struct reader *r = t->data;
    if (r->phase == 0) {
        r->phase = 1;
        r->frames0 = r->frames;
        r->bytes0 = r->bytes;
        r->t0 = fh_clock_monotonic_ns();
        uv_timer_start(t, timer_cb, (uint64_t)(r->measure_s * 1000), 0);
        return;
    }
    r->phase = 2;
    r->t1 = fh_clock_monotonic_ns();
    r->frames -= r->frames0;
    r->bytes -= r->bytes0;
    fh_stream_close(&r->st, FH_STREAM_ABORT);
}

struct result {
    double fps;
    double mbps;
};

static int one_run(uint16_t port, SSL_CTX *tls, double seconds, struct result *out)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct reader *r = calloc(1, sizeof(*r));
    r->buf = malloc(READ_BUF);
    r->loop = &loop;
    r->warmup_s = 0.3;
    r->measure_s = seconds;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct fh_stream_config cfg = {.out_cap = 4096, .linger_ms = 100};
    uv_timer_init(&loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, timer_cb, (uint64_t)(r->warmup_s * 1000), 0);
    int rc = fh_stream_connect(&r->st, &loop, (struct sockaddr *)&sa, sizeof(sa), tls, "127.0.0.1",
                               &cbs, &cfg);
    if (rc != 0) {
        fprintf(stderr, "connect: %s\n", fh_strerror(rc));
        uv_close((uv_handle_t *)&r->timer, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    int ret = 0;
    if (rc != 0 || r->failed) {
        fprintf(stderr, "run failed: %s\n", r->errmsg);
        ret = -1;
    } else {
        double dt = (double)(r->t1 - r->t0) / 1e9;
        out->fps = (double)r->frames / dt;
        out->mbps = (double)r->bytes / dt / 1e6;
    }
    free(r->buf);
    free(r);
    return ret;
}

/* ---- feedsim process ---- */

static pid_t start_feedsim(const char *path, const char *cert, const char *key, uint16_t *port)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    /* posix_spawn wants mutable strings. */
    static char args[8][PATH_MAX * 2 + 2];
    const char *src[8] = {path, "--binance", "0", "--blast", "--log-level", "warn", NULL, NULL};
    int a = 6;
    char tlsarg[PATH_MAX * 2 + 2];
    if (cert != NULL) {
        snprintf(tlsarg, sizeof(tlsarg), "%s,%s", cert, key);
        src[a++] = "--tls";
        src[a++] = tlsarg;
    }
    char *argv[9];
    for (int i = 0; i < a; i++) {
        snprintf(args[i], sizeof(args[i]), "%s", src[i]);
        argv[i] = args[i];
    }
    argv[a] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        fprintf(stderr, "cannot start %s: %s\n", path, strerror(rc));
        close(fds[0]);
        return -1;
    }
    char line[512];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t k = read(fds[0], line + n, 1);
        if (k <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(fds[0]);
    const char *p = strstr(line, "\"binance\":");
    if (p == NULL) {
        fprintf(stderr, "feedsim did not report its port: '%s'\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *port = (uint16_t)strtol(p + 10, NULL, 10);
    return pid;
}

static void stop_feedsim(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ---- a throwaway certificate ---- */

static X509 *make_cert(const char *dir, char *cert_path, char *key_path, size_t cap)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, key, EVP_sha256());
    snprintf(cert_path, cap, "%s/cert.pem", dir);
    snprintf(key_path, cap, "%s/key.pem", dir);
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key_path, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    EVP_PKEY_free(key);
    return x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_mode(const char *feedsim, const char *label, const char *cert, const char *key,
                      SSL_CTX *tls, double seconds, int runs)
{
    uint16_t port;
    pid_t pid = start_feedsim(feedsim, cert, key, &port);
    if (pid < 0)
        return -1;
    double fps[64], mbps[64];
    int ok = 0;
    for (int i = 0; i < runs && i < 64; i++) {
        struct result res;
        if (one_run(port, tls, seconds, &res) != 0)
            break;
        fps[ok] = res.fps;
        mbps[ok] = res.mbps;
        ok++;
    }
    stop_feedsim(pid);
    if (ok == 0)
        return -1;
    qsort(fps, (size_t)ok, sizeof(double), cmp_double);
    qsort(mbps, (size_t)ok, sizeof(double), cmp_double);
    printf("feedsim blast %-6s frames/s  min %12.0f  median %12.0f   MB/s min %7.1f median "
           "%7.1f   (%d runs x %.1f s)\n",
           label, fps[0], fps[ok / 2], mbps[0], mbps[ok / 2], ok, seconds);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    char self[PATH_MAX];
    char feedsim[PATH_MAX] = "";
    double seconds = 1.0;
    int runs = 5;
    bool plain = true, tls = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--feedsim") == 0 && i + 1 < argc)
            snprintf(feedsim, sizeof(feedsim), "%s", argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--plain-only") == 0)
            tls = false;
        else if (strcmp(argv[i], "--tls-only") == 0)
            plain = false;
        else {
            fprintf(stderr,
                    "usage: %s [--feedsim PATH] [--seconds S] [--runs N] "
                    "[--plain-only|--tls-only]\n",
                    argv[0]);
            return 2;
        }
    }
    if (seconds <= 0 || runs < 1)
        return 2;
    if (feedsim[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
            return 1;
        self[n] = '\0';
        snprintf(feedsim, sizeof(feedsim), "%s/../tools/feedsim", dirname(self));
    }
    if (access(feedsim, X_OK) != 0) {
        fprintf(stderr, "feedsim not found at %s (use --feedsim PATH)\n", feedsim);
        return 1;
    }
    int rc = 0;
    if (plain && bench_mode(feedsim, "plain", NULL, NULL, NULL, seconds, runs) != 0)
        rc = 1;
    if (tls) {
        char dir[] = "/tmp/bench_feedsim.XXXXXX";
        if (mkdtemp(dir) == NULL)
            return 1;
        char cert[PATH_MAX], key[PATH_MAX];
        X509 *x = make_cert(dir, cert, key, sizeof(cert));
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), x);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (bench_mode(feedsim, "tls", cert, key, ctx, seconds, runs) != 0)
            rc = 1;
        SSL_CTX_free(ctx);
        X509_free(x);
        unlink(cert);
        unlink(key);
        rmdir(dir);
    }
    return rc;
}
