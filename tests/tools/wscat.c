/*
 * wscat - connects to a ws:// or wss:// URL with the engine's WebSocket client (src/net/ws.c)
 * and prints what happens, one line per event, for integration tests and debugging.
 *
 *   wscat [options] URL
 *     --ca FILE             trust the CAs in FILE ([tls] ca_file); default: the system store
 *     --no-verify           [tls] verify = false (logs the start-up warning)
 *     --send TEXT           send a text message once open (repeatable, in order)
 *     --send-size N         send a text message of N pattern bytes (repeatable)
 *     --ping TEXT           send a ping once open
 *     --header 'N: V'       extra upgrade request header (repeatable)
 *     --count N             close (1000) after N messages
 *     --hash                print the SHA-256 of each message instead of its text
 *     --refuse-every N      refuse every Nth message once (backpressure), resume 1 ms later
 *     --max-message N       max message bytes (default 1 MiB)
 *     --connect-timeout MS  --handshake-timeout MS  --close-timeout MS
 *     --deadline MS         abort after MS in total (default 30000)
 *
 * Output on stdout:
 *   open
 *   msg text|binary LEN TEXT-or-SHA256
 *   pong PAYLOAD
 *   close reason=R phase=P was_open=0|1 err=N http_status=N retry_after=N sent_code=N
 *         peer_code=N peer_reason="..." message="..."
 *   stats bytes_in=N bytes_out=N frames_in=N msgs_in=N refusals=N pings_in=N pongs_out=N
 * Exit status: 0 when the connection ended locally or by a peer close frame, 1 otherwise,
 * 2 for usage errors.
 */
#include "core/err.h"
#include "core/log.h"
#include "net/tls.h"
#include "net/url.h"
#include "net/ws.h"

#include <getopt.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 64

struct app {
    uv_loop_t loop;
    uv_timer_t deadline, resume;
    struct fh_ws ws;
    const char *sends[MAX_ITEMS];
    long send_sizes[MAX_ITEMS];
    int n_sends;
    struct fh_ws_header headers[MAX_ITEMS];
    char *header_mem[MAX_ITEMS];
    int n_headers;
    const char *ping;
    long count;
    long refuse_every;
    bool hash;
    long received;
    long calls;
    bool refused_this; /* the held message was refused once already */
    int exit_code;
};

static void print_hash(const uint8_t *p, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < mdlen; i++)
        printf("%02x", md[i]);
}

static void on_open(struct fh_ws *ws)
{
    struct app *a = ws->data;
    printf("open\n");
    fflush(stdout);
    for (int i = 0; i < a->n_sends; i++) {
        int rc;
        if (a->sends[i] != NULL) {
            rc = fh_ws_send_text(ws, a->sends[i], strlen(a->sends[i]));
        } else {
            size_t n = (size_t)a->send_sizes[i];
            char *buf = malloc(n + 1);
            if (buf == NULL)
                exit(1);
            for (size_t k = 0; k < n; k++)
                buf[k] = (char)('a' + (k * 7 + k / 26) % 26);
            rc = fh_ws_send_text(ws, buf, n);
            free(buf);
        }
        if (rc != 0)
            fprintf(stderr, "wscat: send %d: %s\n", i, fh_strerror(rc));
    }
    if (a->ping != NULL && fh_ws_ping(ws, a->ping, strlen(a->ping)) != 0)
        fprintf(stderr, "wscat: ping failed\n");
}

static void resume_cb(uv_timer_t *t)
{
    struct app *a = t->data;
    fh_ws_resume(&a->ws);
}

static int on_message(struct fh_ws *ws, const struct fh_ws_msg *m)
{
    struct app *a = ws->data;
    a->calls++;
    if (a->refuse_every > 0 && (a->received + 1) % a->refuse_every == 0 && !a->refused_this) {
        a->refused_this = true;
        uv_timer_start(&a->resume, resume_cb, 1, 0);
        return FH_ENOSPACE;
    }
    a->refused_this = false;
    a->received++;
    printf("msg %s %zu ", m->text ? "text" : "binary", m->len);
    if (a->hash || !m->text)
        print_hash(m->data, m->len);
    else
        fwrite(m->data, 1, m->len, stdout);
    printf("\n");
    if (a->count > 0 && a->received == a->count)
        fh_ws_close(ws, 1000, "done");
    return 0;
}

static void on_pong(struct fh_ws *ws, const uint8_t *p, size_t n, int64_t mono)
{
    (void)ws;
    (void)mono;
    printf("pong %.*s\n", (int)n, (const char *)p);
}

static void print_quoted(const char *key, const char *s)
{
    struct fh_logq q;
    printf(" %s=%s", key, fh_logq(&q, s));
}

static void on_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    struct app *a = ws->data;
    printf("close reason=%s phase=%s was_open=%d err=%d http_status=%d retry_after=%lld "
           "sent_code=%u peer_code=%u",
           fh_ws_close_reason_name(info->reason), fh_ws_state_name(info->phase),
           info->was_open ? 1 : 0, info->err, info->http_status, (long long)info->retry_after_s,
           info->sent_code, info->peer_code);
    print_quoted("peer_reason", info->peer_reason);
    print_quoted("message", info->message);
    printf("\n");
    const struct fh_ws_stats *st = &ws->stats;
    printf("stats bytes_in=%llu bytes_out=%llu frames_in=%llu msgs_in=%llu refusals=%llu "
           "pings_in=%llu pongs_out=%llu\n",
           (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out,
           (unsigned long long)st->frames_in, (unsigned long long)st->msgs_in,
           (unsigned long long)st->refusals, (unsigned long long)st->pings_in,
           (unsigned long long)st->pongs_out);
    fflush(stdout);
    a->exit_code = (info->reason == FH_WS_CLOSE_LOCAL || info->reason == FH_WS_CLOSE_PEER) ? 0 : 1;
    uv_close((uv_handle_t *)&a->deadline, NULL);
    uv_close((uv_handle_t *)&a->resume, NULL);
    fh_ws_release(ws, NULL);
}

static void deadline_cb(uv_timer_t *t)
{
    struct app *a = t->data;
    fprintf(stderr, "wscat: deadline reached, aborting\n");
    fh_ws_abort(&a->ws);
}

static void usage(void)
{
    fprintf(stderr, "usage: wscat [--ca FILE] [--no-verify] [--send TEXT] [--send-size N] "
                    "[--ping TEXT] [--header 'N: V'] [--count N] [--hash] [--refuse-every N] "
                    "[--max-message N] [--connect-timeout MS] [--handshake-timeout MS] "
                    "[--close-timeout MS] [--deadline MS] URL\n");
    exit(2);
}

static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ca", required_argument, NULL, 'a'},
        {"no-verify", no_argument, NULL, 'k'},
        {"send", required_argument, NULL, 's'},
        {"send-size", required_argument, NULL, 'S'},
        {"ping", required_argument, NULL, 'p'},
        {"header", required_argument, NULL, 'H'},
        {"count", required_argument, NULL, 'c'},
        {"hash", no_argument, NULL, 'h'},
        {"refuse-every", required_argument, NULL, 'r'},
        {"max-message", required_argument, NULL, 'm'},
        {"connect-timeout", required_argument, NULL, 'C'},
        {"handshake-timeout", required_argument, NULL, 'T'},
        {"close-timeout", required_argument, NULL, 'X'},
        {"deadline", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    static struct app a;
    struct fh_tls_config tc = {.ca_file = NULL, .verify = true};
    struct fh_ws_config cfg;
    fh_ws_config_default(&cfg);
    long deadline_ms = 30000;
    int c;
    signal(SIGPIPE, SIG_IGN);
    fh_log_set_level(FH_LOG_WARN);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            tc.ca_file = optarg;
            break;
        case 'k':
            tc.verify = false;
            break;
        case 's':
        case 'S':
            if (a.n_sends == MAX_ITEMS)
                usage();
            a.sends[a.n_sends] = c == 's' ? optarg : NULL;
            a.send_sizes[a.n_sends] = c == 'S' ? num(optarg) : 0;
            a.n_sends++;
            break;
        case 'p':
            a.ping = optarg;
            break;
        case 'H': {
            char *colon = strchr(optarg, ':');
            if (colon == NULL || a.n_headers == MAX_ITEMS)
                usage();
            char *copy = strdup(optarg);
            if (copy == NULL)
                return 1;
            copy[colon - optarg] = '\0';
            char *v = copy + (colon - optarg) + 1;
            while (*v == ' ')
                v++;
            a.header_mem[a.n_headers] = copy;
            a.headers[a.n_headers++] = (struct fh_ws_header){copy, v};
            break;
        }
        case 'c':
            a.count = num(optarg);
            break;
        case 'h':
            a.hash = true;
            break;
        case 'r':
            a.refuse_every = num(optarg);
            break;
        case 'm':
            cfg.max_message = (size_t)num(optarg);
            break;
        case 'C':
            cfg.connect_timeout_ms = (uint32_t)num(optarg);
            break;
        case 'T':
            cfg.handshake_timeout_ms = (uint32_t)num(optarg);
            break;
        case 'X':
            cfg.close_timeout_ms = (uint32_t)num(optarg);
            break;
        case 'd':
            deadline_ms = num(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1)
        usage();
    /* Room for the largest message to send (fh_ws_send_* is all or nothing). */
    for (int i = 0; i < a.n_sends; i++) {
        size_t n = a.sends[i] != NULL ? strlen(a.sends[i]) : (size_t)a.send_sizes[i];
        if (cfg.out_cap < n + 1024)
            cfg.out_cap = n + 1024;
    }
    const char *url = argv[optind];

    SSL_CTX *tls = NULL;
    char err[256];
    struct fh_url u;
    if (fh_url_parse(url, &u, err, sizeof(err)) != 0) {
        fprintf(stderr, "wscat: %s\n", err);
        return 2;
    }
    if (u.tls && fh_tls_client_ctx_new(&tc, &tls, err, sizeof(err)) != 0) {
        fprintf(stderr, "wscat: %s\n", err);
        return 2;
    }
    static const struct fh_ws_cbs cbs = {
        .on_open = on_open,
        .on_message = on_message,
        .on_pong = on_pong,
        .on_close = on_close,
    };
    uv_loop_init(&a.loop);
    a.exit_code = 1;
    a.ws.data = &a;
    if (fh_ws_init(&a.ws, &a.loop, &cfg, &cbs) != 0)
        return 1;
    uv_timer_init(&a.loop, &a.deadline);
    uv_timer_init(&a.loop, &a.resume);
    a.deadline.data = &a;
    a.resume.data = &a;
    uv_timer_start(&a.deadline, deadline_cb, (uint64_t)deadline_ms, 0);
    int rc = fh_ws_connect(&a.ws, url, tls, a.headers, (size_t)a.n_headers);
    if (rc != 0) {
        fprintf(stderr, "wscat: %s: %s\n", fh_strerror(rc), fh_ws_errmsg(&a.ws));
        uv_close((uv_handle_t *)&a.deadline, NULL);
        uv_close((uv_handle_t *)&a.resume, NULL);
        fh_ws_release(&a.ws, NULL);
        a.exit_code = 2;
    }
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    SSL_CTX_free(tls);
    for (int i = 0; i < a.n_headers; i++)
        free(a.header_mem[i]);
    return a.exit_code;
}
