/*
 * fuzz_ws_handshake.c - libFuzzer target: the server's answer to the WebSocket client's
 * upgrade request, through the response parser and fh_ws_check_answer (src/net/http1.c) and
 * through the client's real upgrade path (src/net/ws_handshake.c) over a socketpair.
 *
 * Input: byte 0 read size (0 = the whole answer in one write, else writes of that many
 * bytes), then the answer. Every "{ACCEPT}" in it becomes the Sec-WebSocket-Accept that
 * matches the key of the request the client sent, so the fuzzer can reach an open
 * connection; after the answer the server shuts its side down.
 *
 * Checked, on the answer alone: the parser's results lie in the input and follow the grammar
 * (token names, trimmed values, a head ending at the first blank line); any prefix of a
 * complete head is "more needed", a complete head reads the same whatever follows it, and a
 * prefix rejected stays rejected. On the client: it opens exactly when the first head within
 * max_response_head is a valid 101 for its key, and otherwise ends with FH_WS_CLOSE_HANDSHAKE
 * and the status (Retry-After from a complete non-101 head), whatever the write sizes;
 * on_close comes exactly once.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines; tests/fuzz/gen-seeds writes the file):
 * FUZZ_SEEDS_ESCAPED: ws_handshake.seeds
 * FUZZ_DICT: http.dict
 */
#include "http_fuzz.h"

#include "net/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define HEAD_LIMIT  1024 /* the client's max_response_head */
#define PLACEHOLDER "{ACCEPT}"

static uv_loop_t loop;
static struct fh_ws ws;

struct run {
    bool opened, closed;
    size_t msgs;
    struct fh_ws_close_info info;
};

static struct run *cur;

static void on_open(struct fh_ws *w)
{
    (void)w;
    FH_FUZZ_CHECK(!cur->opened && !cur->closed);
    cur->opened = true;
}

static int on_message(struct fh_ws *w, const struct fh_ws_msg *m)
{
    (void)w;
    FH_FUZZ_CHECK(cur->opened && !cur->closed && m->data != NULL);
    cur->msgs++;
    return 0;
}

static void on_close(struct fh_ws *w, const struct fh_ws_close_info *info)
{
    FH_FUZZ_CHECK(!cur->closed);
    FH_FUZZ_CHECK(fh_ws_get_state(w) == FH_WS_IDLE);
    FH_FUZZ_CHECK(info->message != NULL && info->message[0] != '\0');
    cur->closed = true;
    cur->info = *info;
    cur->info.message = NULL;
    cur->info.peer_reason = NULL;
}

static const struct fh_ws_cbs cbs = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&loop) != 0)
        abort();
    struct fh_ws_config cfg;
    fh_ws_config_default(&cfg);
    cfg.max_response_head = HEAD_LIMIT;
    cfg.max_message = 4096;
    if (fh_ws_init(&ws, &loop, &cfg, &cbs) != 0)
        abort();
    return 0;
}

/* ---- the client ------------------------------------------------------------------------ */

static void spin_once(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* Runs the loop until the client has read total bytes or has finished. */
static void until_read(struct run *r, uint64_t base, size_t total)
{
    for (int i = 0; i < 1000 && !r->closed && ws.stats.bytes_in - base < total; i++)
        spin_once();
}

/* Reads the upgrade request at the peer; returns the Sec-WebSocket-Accept it calls for. */
static void read_request(struct run *r, int peer, char accept[FH_WS_ACCEPT_LEN])
{
    static char req[8192];
    size_t n = 0;
    struct fh_http_req hr;
    for (int i = 0; i < 1000; i++) {
        FH_FUZZ_CHECK(!r->closed);
        spin_once();
        ssize_t got = recv(peer, req + n, sizeof(req) - n, MSG_DONTWAIT);
        if (got > 0)
            n += (size_t)got;
        int rc = fh_http_parse_request(req, n, &hr);
        FH_FUZZ_CHECK(rc >= 0);
        if (rc > 0) {
            struct fh_str key;
            FH_FUZZ_CHECK(fh_ws_check_upgrade(&hr, &key) == 0);
            FH_FUZZ_CHECK(fh_ws_accept_key(key, accept) == 0);
            return;
        }
    }
    FH_FUZZ_CHECK(!"no upgrade request");
}

/* The answer with every placeholder replaced; *len receives its length. */
static char *substitute(const uint8_t *d, size_t n, const char *accept, size_t *len)
{
    size_t ph = strlen(PLACEHOLDER), al = strlen(accept);
    char *out = malloc(n / ph * al + n + 1);
    FH_FUZZ_CHECK(out != NULL);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (n - i >= ph && memcmp(d + i, PLACEHOLDER, ph) == 0) {
            memcpy(out + o, accept, al);
            o += al;
            i += ph;
        } else {
            out[o++] = (char)d[i++];
        }
    }
    *len = o;
    return out;
}

/* What the client must conclude from answer a[0..n) followed by the end of the stream. */
struct expect {
    bool open;
    int http_status;
    int64_t retry_after_s;
};

static struct expect expected(const char *a, size_t n, const char *accept)
{
    struct expect e = {.open = false, .http_status = 0, .retry_after_s = -1};
    size_t cmp = n < 5 ? n : 5;
    if (memcmp(a, "HTTP/", cmp) != 0)
        return e; /* not HTTP */
    size_t seen = n < HEAD_LIMIT ? n : HEAD_LIMIT;
    size_t blank = fh_http_fuzz_find_blank(a, seen);
    if (blank == seen) {
        /* Too large (the status from the first line, if it is one), or no answer at all. */
        const char *eol = memchr(a, '\r', seen);
        if (n >= HEAD_LIMIT && eol != NULL) {
            int st = fh_http_parse_status_line(a, (size_t)(eol - a), NULL, NULL);
            e.http_status = st > 0 ? st : 0;
        }
        return e;
    }
    static struct fh_http_resp resp;
    int rc = fh_http_parse_response(a, blank + 4, &resp);
    if (resp.status < 0)
        return e;
    e.http_status = resp.status;
    if (resp.status != 101) {
        if (rc > 0)
            e.retry_after_s = fh_http_retry_after_s(fh_http_resp_header(&resp, "Retry-After"));
        return e;
    }
    e.open = rc > 0 && fh_ws_check_answer(&resp, accept, NULL) == 0;
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t wsize = data[0];
    struct run run = {0};
    struct run *r = &run;
    cur = r;

    int sv[2];
    FH_FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int peer = sv[1];
    FH_FUZZ_CHECK(fcntl(peer, F_SETFL, O_NONBLOCK) == 0);
    uint64_t base = ws.stats.bytes_in;
    FH_FUZZ_CHECK(fh_ws_connect_fd(&ws, sv[0], "ws://fuzz.invalid/stream?x=1", NULL, 0) == 0);
    char accept[FH_WS_ACCEPT_LEN];
    read_request(r, peer, accept);

    size_t n;
    char *a = substitute(data + 1, size - 1, accept, &n);
    fh_http_fuzz_check_response(a, n, accept);
    struct expect e = expected(a, n, accept);

    size_t sent = 0;
    while (sent < n && !r->closed) {
        size_t k = wsize ? wsize : n;
        if (k > n - sent)
            k = n - sent;
        ssize_t w = send(peer, a + sent, k, MSG_NOSIGNAL);
        if (w <= 0) {
            FH_FUZZ_CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
            break;
        }
        sent += (size_t)w;
        until_read(r, base, sent);
    }
    shutdown(peer, SHUT_WR);
    for (int i = 0; i < 10000 && !r->closed; i++)
        spin_once();
    FH_FUZZ_CHECK(r->closed);
    close(peer);

    FH_FUZZ_CHECK(r->opened == e.open && r->info.was_open == e.open);
    if (!e.open) {
        FH_FUZZ_CHECK(r->info.reason == FH_WS_CLOSE_HANDSHAKE);
        FH_FUZZ_CHECK(r->info.phase == FH_WS_UPGRADING);
        FH_FUZZ_CHECK(r->info.http_status == e.http_status);
        FH_FUZZ_CHECK(r->info.retry_after_s == e.retry_after_s);
        FH_FUZZ_CHECK(r->msgs == 0);
    } else {
        enum fh_ws_close_reason why = r->info.reason;
        FH_FUZZ_CHECK(why == FH_WS_CLOSE_EOF || why == FH_WS_CLOSE_PROTOCOL ||
                      why == FH_WS_CLOSE_OVERSIZE || why == FH_WS_CLOSE_BAD_UTF8 ||
                      why == FH_WS_CLOSE_PEER);
        /* Nothing behind the head: the server's end of stream ends the connection. */
        if (fh_http_fuzz_find_blank(a, n) + 4 == n)
            FH_FUZZ_CHECK(why == FH_WS_CLOSE_EOF && r->msgs == 0);
    }
    free(a);
    cur = NULL;
    return 0;
}
