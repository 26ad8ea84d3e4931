/*
 * server.c - listeners, connections, HTTP routing and the tick (WebSocket framing: ws.c).
 *
 * A connection starts in the HTTP phase: the request head (and body, for the control API)
 * is collected in a fixed buffer and parsed with fh_http_parse_request. An upgrade request
 * on a venue port becomes a WebSocket (wslay in server mode handles masking, fragmentation,
 * UTF-8 and close/ping control frames); anything else is REST (venue ports) or the control
 * API (control port), with keep-alive.
 *
 * Layer 1 (fs_core.h): venue behaviour is reached through the registered venue modules
 * (sim->venues), the control port, faults, replay and blast through sim->hooks and the
 * connection's feeder; nothing here names a module above.
 */
#include "fs_core.h"

#include "core/clock.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

static void conn_readable(struct fh_stream *s);
static void conn_writable(struct fh_stream *s);
static void conn_closed(struct fh_stream *s, int status);
static void conn_opened(struct fh_stream *s);

static const struct fh_stream_cbs conn_cbs = {
    .on_open = conn_opened,
    .on_readable = conn_readable,
    .on_writable = conn_writable,
    .on_close = conn_closed,
};

/* ---- HTTP ---- */

void fs_http_respond(struct fs_conn *c, int status, const char *ctype, const char *extra,
                     const char *body, size_t len)
{
    char head[1024];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Server: feedsim/" FH_VERSION "\r\n%s%s\r\n",
                      status, fh_http_reason(status), ctype, len, extra != NULL ? extra : "",
                      c->http_close ? "Connection: close\r\n" : "");
    if (hl <= 0 || (size_t)hl >= sizeof(head) || fh_stream_out_space(&c->st) < (size_t)hl + len) {
        static const char err[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        fh_stream_write(&c->st, err, sizeof(err) - 1);
        c->http_close = true;
    } else {
        fh_stream_write(&c->st, head, (size_t)hl);
        fh_stream_write(&c->st, body, len);
    }
    if (c->http_close) {
        c->phase = FS_PH_CLOSING;
        fh_stream_close(&c->st, FH_STREAM_GRACEFUL);
    }
}

static void http_error(struct fs_conn *c, int status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"code\":%d,\"msg\":\"%s\"}", status, msg);
    c->http_close = true;
    fs_http_respond(c, status, "application/json", NULL, body, (size_t)n);
}

/* Over the venue's connection-attempt budget: 429, as the exchanges' edge does. */
static bool over_budget(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    struct fs_budget *b = &sim->budget[c->venue];
    if (b->cap == 0)
        return false;
    int64_t now = sim->now_ns;
    while (b->n > 0 && now - b->times[b->head] >= b->window_ns) {
        b->head = b->head + 1 == b->cap ? 0 : b->head + 1;
        b->n--;
    }
    if (b->n >= b->cap) {
        sim->conns_refused++;
        int64_t retry = (b->times[b->head] + b->window_ns - now) / 1000000000 + 1;
        char extra[64];
        snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n", (long long)retry);
        static const char body[] = "{\"code\":-1003,\"msg\":\"Too many connection attempts.\"}";
        c->http_close = true;
        log_info("connection budget exceeded", "conn=%llu venue=%s", (unsigned long long)c->id,
                 fs_venue_name(c->venue));
        fs_http_respond(c, 429, "application/json", extra, body, sizeof(body) - 1);
        return true;
    }
    size_t i = b->head + b->n;
    b->times[i >= b->cap ? i - b->cap : i] = now;
    b->n++;
    return false;
}

static bool hs_refuse(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    struct fs_hs_fault *f = &sim->hs[c->venue];
    if (f->refuse_left == 0)
        return false;
    if (f->refuse_until_ns != 0 && sim->now_ns >= f->refuse_until_ns) {
        f->refuse_left = 0;
        return false;
    }
    if (f->refuse_left > 0)
        f->refuse_left--;
    sim->conns_refused++;
    log_info("handshake refused", "conn=%llu venue=%s status=%d", (unsigned long long)c->id,
             fs_venue_name(c->venue), f->refuse_status);
    if (f->refuse_status != 0) {
        http_error(c, f->refuse_status, "handshake refused by fault injection");
    } else {
        fs_conn_drop(c, f->refuse_mode, 1000, "");
    }
    return true;
}

static bool hs_delay(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    struct fs_hs_fault *f = &sim->hs[c->venue];
    if (f->delay_left == 0)
        return false;
    if (f->delay_until_ns != 0 && sim->now_ns >= f->delay_until_ns) {
        f->delay_left = 0;
        return false;
    }
    if (f->delay_left > 0)
        f->delay_left--;
    c->phase = FS_PH_WS_DELAY;
    c->delay_until_ns = sim->now_ns + f->delay_ns;
    fh_stream_set_reading(&c->st, false);
    return true;
}

/* Completes the upgrade of the request at the start of hbuf. */
static void ws_upgrade(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    struct fh_http_req req;
    int hl = fh_http_parse_request(c->hbuf, c->hlen, &req);
    struct fh_str key;
    if (hl <= 0 || fh_ws_check_upgrade(&req, &key) != 0) {
        http_error(c, 400, "bad upgrade");
        return;
    }
    int status = 400;
    fh_buf_reset(&sim->out);
    int rc = fs_conn_module(c)->upgrade(c, &req, &status, &sim->out);
    if (rc != 0) {
        c->http_close = true;
        fs_http_respond(c, status, "application/json", NULL, sim->out.data ? sim->out.data : "",
                        sim->out.len);
        return;
    }
    char accept[FH_WS_ACCEPT_LEN];
    fh_ws_accept_key(key, accept);
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    if (fh_stream_write(&c->st, resp, (size_t)n) != 0 || fs_ws_server_init(c) != 0) {
        c->phase = FS_PH_CLOSING;
        fh_stream_close(&c->st, FH_STREAM_NOW);
        return;
    }
    sim->handshakes++;
    c->phase = FS_PH_WS;
    c->opened_ns = sim->now_ns;
    c->last_rx_ns = sim->now_ns;
    c->last_data_tx_ns = sim->now_ns;
    c->last_hb_ns = sim->now_ns;
    c->pre_off = (size_t)hl;
    c->pre_len = c->hlen - (size_t)hl;
    fh_stream_set_reading(&c->st, true);
    log_info("websocket open", "conn=%llu venue=%s path=%.*s", (unsigned long long)c->id,
             fs_venue_name(c->venue), (int)(req.target.n > 200 ? 200 : req.target.n), req.target.p);
    fs_conn_module(c)->open(c);
    if (c->phase == FS_PH_WS && c->pre_len > 0)
        fs_ws_read(c);
}

/* Serves every complete request in hbuf. Returns false once the connection left HTTP. */
static bool http_process(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    while (c->phase == FS_PH_HTTP && c->hlen > 0) {
        struct fh_http_req req;
        int rc = fh_http_parse_request(c->hbuf, c->hlen, &req);
        if (rc == 0) {
            if (c->hlen == sizeof(c->hbuf))
                http_error(c, 431, "request head too large");
            return c->phase == FS_PH_HTTP;
        }
        if (rc < 0) {
            struct fh_logq q;
            uint64_t suppressed = 0;
            if (fh_ratelimit_allow(&sim->log_rl, sim->now_ns, &suppressed))
                log_info("bad http request",
                         "conn=%llu venue=%s err=\"%s\" head=%s suppressed=%llu",
                         (unsigned long long)c->id, fs_venue_name(c->venue), fh_strerror(rc),
                         fh_logq_n(&q, c->hbuf, c->hlen < 64 ? c->hlen : 64),
                         (unsigned long long)suppressed);
            if (rc == FH_EUNSUPPORTED)
                http_error(c, 505, "HTTP version not supported");
            else if (rc == FH_ENOSPACE)
                http_error(c, 431, "too many headers");
            else
                http_error(c, 400, "malformed request");
            return false;
        }
        size_t head = (size_t)rc;
        if (req.chunked) {
            http_error(c, 501, "chunked bodies are not supported");
            return false;
        }
        size_t body = req.content_length > 0 ? (size_t)req.content_length : 0;
        if (body > sizeof(c->hbuf) - head) {
            http_error(c, 413, "body too large");
            return false;
        }
        if (c->hlen < head + body)
            return true; /* wait for the body */
        c->http_close = req.minor_version == 0
                            ? !fh_http_header_has_token(&req, "Connection", "keep-alive")
                            : fh_http_header_has_token(&req, "Connection", "close");
        c->http_deadline_ns = sim->now_ns + sim->cfg.http_idle_ns;
        if (c->venue == FS_CONTROL) {
            if (sim->hooks.control != NULL)
                sim->hooks.control(c, &req, c->hbuf + head, body);
            else
                http_error(c, 404, "no control API");
        } else {
            struct fh_str key;
            int up = fh_ws_check_upgrade(&req, &key);
            if (up == 0) {
                if (over_budget(c) || hs_refuse(c))
                    return false;
                if (hs_delay(c))
                    return false;
                ws_upgrade(c);
                return false;
            }
            if (up == FH_EUNSUPPORTED) {
                c->http_close = true;
                fs_http_respond(c, 426, "text/plain", "Sec-WebSocket-Version: 13\r\n", "", 0);
                return false;
            }
            if (up == FH_EINVAL) {
                http_error(c, 400, "invalid websocket upgrade");
                return false;
            }
            sim->rest_requests++;
            if (!fh_str_eq_c(req.method, "GET")) {
                c->http_close = true;
                fs_http_respond(c, 405, "application/json", "Allow: GET\r\n",
                                "{\"code\":-1,\"msg\":\"method not allowed\"}", 37);
            } else {
                fs_conn_module(c)->rest(c, &req);
            }
        }
        if (c->phase != FS_PH_HTTP)
            return false;
        /* Keep-alive: drop the served request, keep what follows (pipelining). */
        size_t used = head + body;
        memmove(c->hbuf, c->hbuf + used, c->hlen - used);
        c->hlen -= used;
    }
    return c->phase == FS_PH_HTTP;
}

static void http_read(struct fs_conn *c)
{
    while (c->phase == FS_PH_HTTP) {
        if (c->hlen == sizeof(c->hbuf)) {
            http_process(c);
            return;
        }
        ssize_t r = fh_stream_read(&c->st, c->hbuf + c->hlen, sizeof(c->hbuf) - c->hlen);
        if (r <= 0)
            return;
        c->hlen += (size_t)r;
        if (!http_process(c))
            return;
    }
}

/* ---- stream callbacks ---- */

static void conn_opened(struct fh_stream *s)
{
    struct fs_conn *c = (struct fs_conn *)s;
    c->sim->now_ns = fh_clock_monotonic_ns();
    c->phase = FS_PH_HTTP;
    c->http_deadline_ns = c->sim->now_ns + c->sim->cfg.handshake_timeout_ns;
}

static void conn_readable(struct fh_stream *s)
{
    struct fs_conn *c = (struct fs_conn *)s;
    c->sim->now_ns = fh_clock_monotonic_ns();
    switch (c->phase) {
    case FS_PH_HTTP:
        http_read(c);
        break;
    case FS_PH_WS:
        fs_ws_read(c);
        break;
    case FS_PH_WS_DELAY:
        fh_stream_set_reading(s, false);
        break;
    case FS_PH_CLOSING: {
        char sink[4096];
        for (int i = 0; i < 16 && fh_stream_read(s, sink, sizeof(sink)) > 0; i++)
            ;
        break;
    }
    }
}

static void oversize_fill(struct fs_conn *c)
{
    /* The payload is '{"pad":"xxxx...xxx"}' (the fault wrote the header and the prefix):
     * valid JSON, just too big. */
    while (c->oversize_rem > 0) {
        size_t space = fh_stream_out_space(&c->st);
        if (space == 0)
            return;
        size_t n = c->oversize_rem < space ? (size_t)c->oversize_rem : space;
        if (n > 65536)
            n = 65536;
        uint8_t *dst = fh_stream_reserve(&c->st, n);
        if (dst == NULL)
            return;
        uint64_t total = c->oversize_rem; /* bytes left, counting down to the end */
        for (size_t i = 0; i < n; i++) {
            uint64_t left = total - i;
            dst[i] = 'x';
            if (left <= 2)
                dst[i] = left == 2 ? '"' : '}';
        }
        fh_stream_commit(&c->st, n);
        c->oversize_rem -= n;
    }
    fh_stream_notify_writable(&c->st, c->feeder != NULL);
}

static void conn_writable(struct fh_stream *s)
{
    struct fs_conn *c = (struct fs_conn *)s;
    if (c->oversize_rem > 0) {
        oversize_fill(c);
        return;
    }
    if (c->feeder != NULL && c->phase == FS_PH_WS)
        c->feeder->fill(c);
    else
        fh_stream_notify_writable(s, false);
}

static void conn_closed(struct fh_stream *s, int status)
{
    struct fs_conn *c = (struct fs_conn *)s;
    struct fs_sim *sim = c->sim;
    if (c->feeder != NULL)
        c->feeder->closed(c);
    log_info("connection closed",
             "conn=%llu venue=%s status=%d reason=\"%s\" err=\"%s\" "
             "msgs_in=%llu frames_out=%llu trades_out=%llu dropped=%llu",
             (unsigned long long)c->id, fs_venue_name(c->venue), status, c->close_reason,
             fh_stream_errmsg(s), (unsigned long long)c->msgs_in, (unsigned long long)c->frames_out,
             (unsigned long long)c->trades_out, (unsigned long long)c->frames_dropped);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        sim->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    sim->nconns--;
    sim->nctl -= c->venue == FS_CONTROL;
    if (c->ws != NULL)
        wslay_event_context_free(c->ws);
    free(c->subs);
    free(c);
    if (sim->stopping && sim->nconns == 0)
        fs_server_stop(sim);
}

/* ---- listeners ---- */

static void accept_cb(uv_poll_t *h, int status, int events);

static void listener_resume(struct fs_listener *l)
{
    if (l->active && l->paused_until_ns != 0) {
        l->paused_until_ns = 0;
        uv_poll_start(&l->poll, UV_READABLE, accept_cb);
    }
}

static void accept_cb(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct fs_listener *l = h->data;
    struct fs_sim *sim = l->sim;
    if (status < 0)
        return;
    sim->now_ns = fh_clock_monotonic_ns();
    for (int i = 0; i < 64; i++) {
        int fd;
        int rc = fh_accept_tcp(l->fd, &fd);
        if (rc == -EAGAIN)
            return;
        if (rc != 0) {
            log_warn("accept failed", "venue=%s err=\"%s\"", fs_venue_name(l->venue),
                     fh_strerror(rc));
            /* Out of descriptors: stop polling for a while instead of spinning. */
            uv_poll_stop(&l->poll);
            l->paused_until_ns = sim->now_ns + 1000000000;
            return;
        }
        bool limited = l->venue != FS_CONTROL && sim->nconns - sim->nctl >= sim->cfg.max_conns;
        if (sim->stopping || limited) {
            close(fd);
            sim->conns_refused++;
            continue;
        }
        struct fs_conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->sim = sim;
        c->id = ++sim->next_conn_id;
        c->venue = l->venue;
        c->st.data = c;
        struct fh_stream_config cfg = {
            .out_cap = l->venue == FS_CONTROL ? 256 * 1024 : sim->cfg.conn_buf,
            .linger_ms = 2000,
        };
        rc = fh_stream_accept(&c->st, sim->loop, fd, l->venue == FS_CONTROL ? NULL : sim->tls,
                              &conn_cbs, &cfg);
        if (rc != 0) {
            free(c);
            continue;
        }
        c->next = sim->conns;
        if (sim->conns != NULL)
            sim->conns->prev = c;
        sim->conns = c;
        sim->nconns++;
        sim->nctl += c->venue == FS_CONTROL;
        sim->conns_accepted++;
        c->phase = FS_PH_HTTP;
        c->http_deadline_ns = sim->now_ns + sim->cfg.handshake_timeout_ns;
        log_debug("connection accepted", "conn=%llu venue=%s", (unsigned long long)c->id,
                  fs_venue_name(c->venue));
    }
}

/* ---- tick ---- */

static void conn_tick(struct fs_conn *c, int64_t now)
{
    switch (c->phase) {
    case FS_PH_HTTP:
        if (now >= c->http_deadline_ns) {
            snprintf(c->close_reason, sizeof(c->close_reason), "http timeout");
            c->phase = FS_PH_CLOSING;
            fh_stream_close(&c->st, FH_STREAM_NOW);
        }
        return;
    case FS_PH_WS_DELAY:
        if (now >= c->delay_until_ns) {
            fh_stream_set_reading(&c->st, true);
            ws_upgrade(c);
        }
        return;
    case FS_PH_CLOSING:
        return;
    case FS_PH_WS:
        break;
    }
    if (c->stalled && c->stall_until_ns != 0 && now >= c->stall_until_ns) {
        c->stalled = false;
        c->stall_until_ns = 0;
        fh_stream_set_write_paused(&c->st, c->slow_bps != 0);
    }
    if (c->slow_bps != 0) {
        if (c->slow_until_ns != 0 && now >= c->slow_until_ns) {
            c->slow_bps = 0;
            fh_stream_set_write_paused(&c->st, c->stalled);
        } else if (!c->stalled) {
            int64_t dt = now - c->slow_last_ns;
            uint64_t budget = (uint64_t)((double)c->slow_bps * (double)dt / 1e9);
            if (budget > 0) {
                c->slow_last_ns = now;
                fh_stream_flush_limit(&c->st, budget);
            }
        }
    }
    if (c->phase != FS_PH_WS || c->feeder != NULL)
        return;
    fs_conn_module(c)->tick(c, now);
}

static void tick_cb(uv_poll_t *t, int status, int events)
{
    (void)events;
    struct fs_sim *sim = t->data;
    uint64_t expirations;
    /* One tick however many periods passed: the generator catches up by its schedule. */
    if (status < 0 || read(sim->tick_fd, &expirations, sizeof(expirations)) < 0)
        return;
    int64_t now = fh_clock_monotonic_ns();
    sim->now_ns = now;
    if (sim->hooks.before_gen != NULL)
        sim->hooks.before_gen(sim, now);
    fs_gen_tick(sim, now);
    if (sim->hooks.after_gen != NULL)
        sim->hooks.after_gen(sim, now);
    struct fs_conn *next;
    for (struct fs_conn *c = sim->conns; c != NULL; c = next) {
        next = c->next;
        conn_tick(c, now);
    }
    for (int i = 0; i < FS_NLISTENERS; i++) {
        struct fs_listener *l = &sim->lst[i];
        if (l->paused_until_ns != 0 && now >= l->paused_until_ns)
            listener_resume(l);
    }
    if (now - sim->truth.last_kick_ns >= 50000000)
        fs_truth_kick(&sim->truth, now);
    if (sim->cfg.duration_ns > 0 && now - sim->start_mono_ns >= sim->cfg.duration_ns &&
        !sim->stopping) {
        log_info("duration reached", "");
        fs_server_shutdown(sim, false);
    }
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct fs_sim *sim = h->data;
    log_info("signal", "signal=%d", signum);
    fs_server_shutdown(sim, sim->stopping);
}

void fs_server_shutdown(struct fs_sim *sim, bool force)
{
    if (force) {
        log_warn("closing all connections now", "connections=%zu", sim->nconns);
        for (struct fs_conn *c = sim->conns; c != NULL; c = c->next)
            fh_stream_close(&c->st, FH_STREAM_NOW);
        fs_server_stop(sim);
        return;
    }
    if (sim->stopping)
        return;
    log_info("shutting down", "connections=%zu", sim->nconns);
    sim->stopping = true;
    for (struct fs_conn *c = sim->conns; c != NULL; c = c->next) {
        if (c->phase == FS_PH_WS)
            fs_ws_close(c, 1001, "Server shutting down");
        else if (c->phase != FS_PH_CLOSING) {
            c->phase = FS_PH_CLOSING;
            fh_stream_close(&c->st, FH_STREAM_GRACEFUL);
        }
    }
    fs_server_stop(sim);
}

static int write_ports(struct fs_sim *sim)
{
    char line[512];
    size_t o = 0;
    o += (size_t)snprintf(line + o, sizeof(line) - o, "{");
    for (int i = 0; i < FS_NLISTENERS; i++) {
        if (!sim->lst[i].active)
            continue;
        o += (size_t)snprintf(line + o, sizeof(line) - o, "\"%s\":%u,", fs_venue_name(i),
                              sim->lst[i].port);
    }
    o += (size_t)snprintf(line + o, sizeof(line) - o, "\"tls\":%s,\"pid\":%d}\n",
                          sim->tls != NULL ? "true" : "false", (int)getpid());
    /* The file first: whoever reads the stdout line may look for the file at once. */
    if (sim->cfg.ports_file != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", sim->cfg.ports_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL)
            return -errno;
        fputs(line, f);
        if (fclose(f) != 0 || rename(tmp, sim->cfg.ports_file) != 0)
            return -errno;
    }
    fputs(line, stdout);
    fflush(stdout);
    return 0;
}

int fs_server_start(struct fs_sim *sim)
{
    for (int i = 0; i < FS_NLISTENERS; i++) {
        struct fs_listener *l = &sim->lst[i];
        l->sim = sim;
        l->venue = i;
        if (sim->cfg.port[i] < 0)
            continue;
        int rc = fh_listen_tcp(sim->cfg.host, (uint16_t)sim->cfg.port[i], 128, &l->fd, &l->port);
        if (rc != 0) {
            log_error("cannot listen", "venue=%s host=%s port=%d err=\"%s\"", fs_venue_name(i),
                      sim->cfg.host, sim->cfg.port[i], fh_strerror(rc));
            return rc;
        }
        uv_poll_init(sim->loop, &l->poll, l->fd);
        l->poll.data = l;
        uv_poll_start(&l->poll, UV_READABLE, accept_cb);
        l->active = true;
        log_info("listening", "venue=%s addr=%s:%u tls=%s", fs_venue_name(i), sim->cfg.host,
                 l->port, i != FS_CONTROL && sim->tls != NULL ? "yes" : "no");
    }
    /* A timerfd rather than a libuv timer, whose resolution is a millisecond: --tick 100us
     * spreads a paced feed like an exchange's instead of in 1 ms bursts. */
    sim->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (sim->tick_fd < 0) {
        int e = errno;
        log_error("cannot create the tick timer", "err=\"%s\"", strerror(e));
        return -e;
    }
    struct itimerspec its = {
        .it_interval = {(time_t)(sim->cfg.tick_ns / 1000000000),
                        (long)(sim->cfg.tick_ns % 1000000000)},
    };
    its.it_value = its.it_interval;
    if (timerfd_settime(sim->tick_fd, 0, &its, NULL) != 0) {
        int e = errno;
        log_error("cannot start the tick timer", "err=\"%s\"", strerror(e));
        close(sim->tick_fd);
        sim->tick_fd = -1;
        return -e;
    }
    uv_poll_init(sim->loop, &sim->tick, sim->tick_fd);
    sim->tick.data = sim;
    uv_poll_start(&sim->tick, UV_READABLE, tick_cb);
    uv_signal_init(sim->loop, &sim->sig_term);
    uv_signal_init(sim->loop, &sim->sig_int);
    sim->sig_term.data = sim;
    sim->sig_int.data = sim;
    uv_signal_start(&sim->sig_term, signal_cb, SIGTERM);
    uv_signal_start(&sim->sig_int, signal_cb, SIGINT);
    int rc = write_ports(sim);
    if (rc != 0)
        log_error("cannot write the ports file", "path=%s err=\"%s\"", sim->cfg.ports_file,
                  fh_strerror(rc));
    return rc;
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void tick_closed(uv_handle_t *h)
{
    struct fs_sim *sim = h->data;
    close(sim->tick_fd);
    sim->tick_fd = -1;
}

void fs_server_stop(struct fs_sim *sim)
{
    sim->stopping = true;
    for (int i = 0; i < FS_NLISTENERS; i++) {
        struct fs_listener *l = &sim->lst[i];
        if (!l->active)
            continue;
        l->active = false;
        uv_close((uv_handle_t *)&l->poll, NULL);
        close(l->fd);
    }
    if (sim->nconns > 0)
        return; /* the tick keeps running protocol timers until the last one closes */
    if (sim->tick.loop == NULL)
        return; /* never started */
    if (!uv_is_closing((uv_handle_t *)&sim->tick))
        uv_close((uv_handle_t *)&sim->tick, tick_closed);
    close_handle((uv_handle_t *)&sim->sig_term);
    close_handle((uv_handle_t *)&sim->sig_int);
}

void fs_server_status(struct fs_sim *sim, struct fh_buf *b)
{
    int64_t now = sim->now_ns;
    fh_buf_appendf(b,
                   "{\"uptime_ms\":%lld,\"connections\":%zu,\"accepted\":%llu,"
                   "\"refused\":%llu,\"handshakes\":%llu,\"rest_requests\":%llu,"
                   "\"truth_lines\":%llu,\"kraken_status\":\"%s\",\"conns\":[",
                   (long long)((now - sim->start_mono_ns) / 1000000), sim->nconns,
                   (unsigned long long)sim->conns_accepted, (unsigned long long)sim->conns_refused,
                   (unsigned long long)sim->handshakes, (unsigned long long)sim->rest_requests,
                   (unsigned long long)sim->truth.lines,
                   sim->kr_maintenance ? "maintenance" : "online");
    static const char *phases[] = {"http", "ws_delay", "ws", "closing"};
    bool first = true;
    for (struct fs_conn *c = sim->conns; c != NULL; c = c->next) {
        fh_buf_appendf(b,
                       "%s{\"id\":%llu,\"venue\":\"%s\",\"phase\":\"%s\",\"stalled\":%s,"
                       "\"slow_bps\":%llu,\"msgs_in\":%llu,\"frames_out\":%llu,"
                       "\"trades_out\":%llu,\"dropped\":%llu,\"pending\":%zu,\"subs\":[",
                       first ? "" : ",", (unsigned long long)c->id, fs_venue_name(c->venue),
                       phases[c->phase], c->stalled ? "true" : "false",
                       (unsigned long long)c->slow_bps, (unsigned long long)c->msgs_in,
                       (unsigned long long)c->frames_out, (unsigned long long)c->trades_out,
                       (unsigned long long)c->frames_dropped, fh_stream_out_pending(&c->st));
        for (uint16_t i = 0; i < c->nsubs; i++) {
            if (i > 0)
                fh_buf_append(b, ",", 1);
            fs_json_str(b, c->subs[i], strlen(c->subs[i]));
        }
        fh_buf_append(b, "]}", 2);
        first = false;
    }
    fh_buf_append(b, "],\"books\":[", 11);
    first = true;
    for (int e = 0; e < FS_NEXCH; e++) {
        if (!sim->exch_on[e])
            continue;
        for (size_t i = 0; i < sim->nsyms; i++) {
            const struct fs_book *bk = &sim->books[e][i];
            fh_buf_appendf(b,
                           "%s{\"exchange\":\"%s\",\"symbol\":\"%s\",\"generated\":%llu,"
                           "\"skipped\":%llu,\"next_trade_id\":%lld,\"history\":%zu}",
                           first ? "" : ",", e == FS_EX_BINANCE ? "binance" : "kraken",
                           bk->sym->canon, (unsigned long long)bk->generated,
                           (unsigned long long)bk->skipped, (long long)bk->next_id, bk->hist_len);
            first = false;
        }
    }
    fh_buf_append(b, "]}", 2);
}
