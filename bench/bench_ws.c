/*
 * bench_ws.c - the WebSocket client's receive path (src/net/ws.c).
 *
 * 1. Parse only: a buffer of server frames (Binance combined-stream trade messages, ~190
 *    bytes each; a few fragmented messages and pings mixed in) is fed through the client's
 *    in-memory transport in 256 KiB reads: read buffer -> wslay frame parser -> checks ->
 *    UTF-8 -> on_message. Per frame. Baselines in the same run: memcpy of the same bytes (the
 *    copy every read does anyway) and a bare header walk (the least any framing costs).
 * 2. Through a socket: a sender thread blasts the same frames over loopback TCP to a client
 *    connected with fh_ws_connect (upgrade included); frames/s until the last message is
 *    delivered. Baseline: the same bytes read with plain recv() into a 256 KiB buffer.
 *
 * Output: ns per frame, min and median of several runs, and the ratio to the baselines.
 */
#include "bench.h"

#include "core/err.h"
#include "net/http1.h"
#include "net/stream.h"
#include "net/ws.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NFRAMES 8192

static const char trade[] =
    "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1732795200123,\"s\":"
    "\"BTCUSDT\",\"t\":4123456789,\"p\":\"95123.45000000\",\"q\":\"0.00123000\",\"T\":"
    "1732795200122,\"m\":true,\"M\":true}}";

struct frames {
    uint8_t *buf;
    size_t len;
    uint64_t n_frames;
    uint64_t n_msgs;
};

static size_t put_frame(uint8_t *out, int fin, int op, const void *p, size_t n)
{
    size_t k = 0;
    out[k++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        out[k++] = (uint8_t)n;
    } else {
        out[k++] = 126;
        out[k++] = (uint8_t)(n >> 8);
        out[k++] = (uint8_t)n;
    }
    memcpy(out + k, p, n);
    return k + n;
}

/* NFRAMES frames: mostly single trade messages; every 64th message is sent in 3 fragments
 * and every 500th frame is a ping, as a live feed would mix them. */
static void build(struct frames *f)
{
    f->buf = malloc(NFRAMES * 256);
    f->len = 0;
    f->n_frames = 0;
    f->n_msgs = 0;
    size_t tl = sizeof(trade) - 1;
    while (f->n_frames < NFRAMES) {
        if (f->n_frames % 500 == 499) {
            f->len += put_frame(f->buf + f->len, 1, 0x9, "hb", 2);
            f->n_frames++;
        } else if (f->n_msgs % 64 == 63 && f->n_frames + 3 <= NFRAMES) {
            f->len += put_frame(f->buf + f->len, 0, 0x1, trade, 60);
            f->len += put_frame(f->buf + f->len, 0, 0x0, trade + 60, 60);
            f->len += put_frame(f->buf + f->len, 1, 0x0, trade + 120, tl - 120);
            f->n_frames += 3;
            f->n_msgs++;
        } else {
            f->len += put_frame(f->buf + f->len, 1, 0x1, trade, tl);
            f->n_frames++;
            f->n_msgs++;
        }
    }
}

/* ---- 1. parse only ---- */

struct parse_ctx {
    struct frames *f;
    uv_loop_t loop;
    struct fh_ws ws;
    uint64_t msgs;
    uint64_t bytes;
    uint8_t *copy;
};

static int count_message(struct fh_ws *ws, const struct fh_ws_msg *m)
{
    struct parse_ctx *c = ws->data;
    c->msgs++;
    c->bytes += m->len;
    return 0;
}

static void ignore_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    (void)ws;
    (void)info;
}

static const struct fh_ws_cbs parse_cbs = {.on_message = count_message, .on_close = ignore_close};

#define READ_CHUNK (256u << 10)

/* Feeds the frame buffer in READ_CHUNK pieces until iters frames went through. */
static uint64_t run_parse(void *ctx, uint64_t iters)
{
    struct parse_ctx *c = ctx;
    uint64_t rounds = iters / c->f->n_frames + 1;
    for (uint64_t r = 0; r < rounds; r++) {
        for (size_t off = 0; off < c->f->len;) {
            size_t n = c->f->len - off < READ_CHUNK ? c->f->len - off : READ_CHUNK;
            size_t took = fh__ws_mem_feed(&c->ws, c->f->buf + off, n, 1, 2);
            if (took == 0) {
                fprintf(stderr, "parse stalled: %s\n", fh_ws_errmsg(&c->ws));
                exit(1);
            }
            off += took;
        }
    }
    /* Normalise to iters frames: report per frame of the rounds actually run. */
    return c->msgs;
}

static uint64_t run_memcpy(void *ctx, uint64_t iters)
{
    struct parse_ctx *c = ctx;
    uint64_t rounds = iters / c->f->n_frames + 1;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        for (size_t off = 0; off < c->f->len; off += READ_CHUNK) {
            size_t n = c->f->len - off < READ_CHUNK ? c->f->len - off : READ_CHUNK;
            memcpy(c->copy, c->f->buf + off, n);
            sum += c->copy[n / 2];
        }
    }
    return sum;
}

/* The least any framing costs: decode each header and skip the payload. */
static uint64_t run_walk(void *ctx, uint64_t iters)
{
    struct parse_ctx *c = ctx;
    uint64_t rounds = iters / c->f->n_frames + 1;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        const uint8_t *p = c->f->buf, *end = p + c->f->len;
        while (p < end) {
            size_t n = p[1] & 0x7f;
            size_t h = 2;
            if (n == 126) {
                n = ((size_t)p[2] << 8) | p[3];
                h = 4;
            }
            sum += p[h] + (p[0] & 0xf);
            p += h + n;
        }
    }
    return sum;
}

/* fh_bench_run divides by iters; these functions run whole rounds of n_frames, so iters is
 * chosen as a multiple of n_frames minus one round (rounds = iters / n + 1). */
static uint64_t iters_for(const struct frames *f, uint64_t rounds)
{
    return f->n_frames * rounds - 1;
}

/* ---- 2. through a socket ---- */

struct sender {
    int listen_fd;
    uint16_t port;
    const struct frames *f;
    uint64_t rounds;
    bool websocket; /* answer an upgrade first */
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    int fd = -1;
    for (;;) {
        fd = accept(s->listen_fd, NULL, NULL);
        if (fd >= 0)
            break;
    }
    if (s->websocket) {
        char req[4096];
        size_t n = 0;
        struct fh_http_req hr;
        for (;;) {
            ssize_t r = recv(fd, req + n, sizeof(req) - n, 0);
            if (r <= 0)
                goto out;
            n += (size_t)r;
            if (fh_http_parse_request(req, n, &hr) > 0)
                break;
        }
        struct fh_str key;
        char acc[FH_WS_ACCEPT_LEN];
        if (fh_ws_check_upgrade(&hr, &key) != 0 || fh_ws_accept_key(key, acc) != 0)
            goto out;
        char resp[256];
        int rl = snprintf(resp, sizeof(resp),
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                          acc);
        if (send(fd, resp, (size_t)rl, MSG_NOSIGNAL) != rl)
            goto out;
    }
    for (uint64_t r = 0; r < s->rounds; r++) {
        size_t off = 0;
        while (off < s->f->len) {
            ssize_t w = send(fd, s->f->buf + off, s->f->len - off, MSG_NOSIGNAL);
            if (w <= 0)
                goto out;
            off += (size_t)w;
        }
    }
    /* The client closes (WebSocket: its close frame, answered with ours) when it has
     * everything; then wait for its EOF. */
    char sink[4096];
    if (recv(fd, sink, sizeof(sink), 0) > 0 && s->websocket)
        (void)send(fd, "\x88\x02\x03\xe8", 4, MSG_NOSIGNAL);
    while (recv(fd, sink, sizeof(sink), 0) > 0) {
    }
out:
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void start_sender(struct sender *s, pthread_t *th)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->listen_fd, (struct sockaddr *)&sa, len) != 0 || listen(s->listen_fd, 4) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&sa, &len) != 0) {
        perror("listen");
        exit(1);
    }
    s->port = ntohs(sa.sin_port);
    pthread_create(th, NULL, sender_main, s);
}

struct sock_ctx {
    struct frames *f;
    uint64_t target_msgs;
    uint64_t msgs;
    bool closed;
};

static int sock_message(struct fh_ws *ws, const struct fh_ws_msg *m)
{
    struct sock_ctx *c = ws->data;
    (void)m;
    if (++c->msgs == c->target_msgs)
        fh_ws_close(ws, 1000, NULL);
    return 0;
}

static void sock_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    struct sock_ctx *c = ws->data;
    c->closed = true;
    if (info->reason != FH_WS_CLOSE_LOCAL)
        fprintf(stderr, "socket bench: %s: %s\n", fh_ws_close_reason_name(info->reason),
                info->message);
}

static const struct fh_ws_cbs sock_cbs = {.on_message = sock_message, .on_close = sock_close};

static uint64_t run_socket_ws(void *ctx, uint64_t iters)
{
    struct sock_ctx *c = ctx;
    uint64_t rounds = iters / c->f->n_frames + 1;
    struct sender s = {.f = c->f, .rounds = rounds, .websocket = true};
    pthread_t th;
    start_sender(&s, &th);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fh_ws ws;
    struct fh_ws_config cfg;
    fh_ws_config_default(&cfg);
    cfg.close_timeout_ms = 100;
    ws.data = c;
    c->msgs = 0;
    c->closed = false;
    c->target_msgs = rounds * c->f->n_msgs;
    fh_ws_init(&ws, &loop, &cfg, &sock_cbs);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", s.port);
    if (fh_ws_connect(&ws, url, NULL, NULL, 0) != 0)
        exit(1);
    while (!c->closed)
        uv_run(&loop, UV_RUN_ONCE);
    fh_ws_release(&ws, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    pthread_join(th, NULL);
    close(s.listen_fd);
    if (c->msgs != c->target_msgs) {
        fprintf(stderr, "socket bench: %llu of %llu messages\n", (unsigned long long)c->msgs,
                (unsigned long long)c->target_msgs);
        exit(1);
    }
    return c->msgs;
}

static uint64_t run_socket_raw(void *ctx, uint64_t iters)
{
    struct sock_ctx *c = ctx;
    uint64_t rounds = iters / c->f->n_frames + 1;
    struct sender s = {.f = c->f, .rounds = rounds, .websocket = false};
    pthread_t th;
    start_sender(&s, &th);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(s.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        exit(1);
    static uint8_t buf[READ_CHUNK];
    uint64_t want = rounds * c->f->len, got = 0, sum = 0;
    while (got < want) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            exit(1);
        got += (uint64_t)r;
        sum += buf[0];
    }
    close(fd);
    pthread_join(th, NULL);
    close(s.listen_fd);
    return sum;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static struct frames f;
    build(&f);
    printf("bench_ws: %llu frames (%llu messages, %zu bytes) per round, %zu-byte trade "
           "messages\n",
           (unsigned long long)f.n_frames, (unsigned long long)f.n_msgs, f.len, sizeof(trade) - 1);

    static struct parse_ctx pc;
    pc.f = &f;
    pc.copy = malloc(READ_CHUNK);
    uv_loop_init(&pc.loop);
    pc.ws.data = &pc;
    if (fh_ws_init(&pc.ws, &pc.loop, NULL, &parse_cbs) != 0 || fh__ws_open_mem(&pc.ws) != 0)
        return 1;
    uint64_t it = iters_for(&f, 100); /* ~820k frames per run */
    struct fh_bench_result base_copy = fh_bench_run(run_memcpy, &pc, it, 9);
    struct fh_bench_result base_walk = fh_bench_run(run_walk, &pc, it, 9);
    uint64_t before = pc.msgs;
    struct fh_bench_result parse = fh_bench_run(run_parse, &pc, it, 9);
    fh_bench_report("baseline: memcpy of the frame bytes", base_copy);
    fh_bench_report("baseline: bare header walk", base_walk);
    fh_bench_report("ws receive path (in memory), per frame", parse);
    printf("%-44s %.2fx the memcpy baseline, %.2fx the header walk (median)\n", "",
           parse.median_ns / base_copy.median_ns, parse.median_ns / base_walk.median_ns);
    printf("%-44s %.1f M frames/s (median)\n", "", 1e3 / parse.median_ns);
    if ((pc.msgs - before) % f.n_msgs != 0 || fh_ws_get_state(&pc.ws) != FH_WS_OPEN) {
        fprintf(stderr, "messages lost in the parse bench\n");
        return 1;
    }
    fh_ws_abort(&pc.ws);
    uv_run(&pc.loop, UV_RUN_NOWAIT);
    fh_ws_release(&pc.ws, NULL);
    uv_run(&pc.loop, UV_RUN_DEFAULT);
    uv_loop_close(&pc.loop);

    static struct sock_ctx sc;
    sc.f = &f;
    it = iters_for(&f, 250); /* ~2M frames per run */
    struct fh_bench_result raw = fh_bench_run(run_socket_raw, &sc, it, 5);
    struct fh_bench_result sock = fh_bench_run(run_socket_ws, &sc, it, 5);
    fh_bench_report("baseline: plain TCP recv of the same bytes", raw);
    fh_bench_report("ws client over loopback TCP, per frame", sock);
    printf("%-44s %.1f M frames/s (median), %.2fx the plain-recv time\n", "", 1e3 / sock.median_ns,
           sock.median_ns / raw.median_ns);
    free(pc.copy);
    free(f.buf);
    return 0;
}
