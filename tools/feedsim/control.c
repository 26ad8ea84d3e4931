/*
 * control.c - the control HTTP API on --control PORT (loopback, plain HTTP).
 *
 *   GET  /status                 connections, subscriptions, counters, books (JSON)
 *   POST /fault?kind=...&...     apply a fault now (same keys as --fault, without at=);
 *                                the spec may also be the request body ("kind=drop,venue=...")
 *   POST /resume[?venue=...]     shorthand for kind=resume
 *   POST /truth/flush            write the truth log to disk before answering
 *   POST /shutdown               graceful exit, as SIGTERM
 * GET is accepted for the POST endpoints too, for curl convenience.
 *
 * Layer 3 (fs_control.h): the core hands control-port requests to the hook installed by
 * fs_control_install; faults go through fault.c (fs_fault.h), the rest through the core.
 */
#include "fs_control.h"

#include "fs_fault.h"

#include "core/err.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void reply(struct fs_conn *c, int status, const struct fh_buf *b)
{
    fs_http_respond(c, status, "application/json", NULL, b->data ? b->data : "", b->len);
}

static void reply_error(struct fs_conn *c, int status, const char *msg)
{
    struct fh_buf *b = &c->sim->out;
    fh_buf_reset(b);
    fh_buf_append(b, "{\"ok\":false,\"error\":", 20);
    fs_json_str(b, msg, strlen(msg));
    fh_buf_append(b, "}", 1);
    reply(c, status, b);
}

static void fault(struct fs_conn *c, const struct fh_http_req *req, const char *body,
                  size_t body_len, const char *forced_kind)
{
    struct fs_sim *sim = c->sim;
    char spec[600];
    size_t n = 0;
    if (forced_kind != NULL)
        n = (size_t)snprintf(spec, sizeof(spec), "kind=%s", forced_kind);
    char part[512];
    size_t plen;
    struct fh_str srcs[2] = {req->query, {body, body_len}};
    for (int i = 0; i < 2; i++) {
        if (srcs[i].n == 0)
            continue;
        if (fh_http_pct_decode(srcs[i], true, part, sizeof(part), &plen) != 0 ||
            n + plen + 2 >= sizeof(spec)) {
            reply_error(c, 400, "fault spec too long or badly encoded");
            return;
        }
        while (plen > 0 && (part[plen - 1] == '\n' || part[plen - 1] == '\r'))
            part[--plen] = '\0';
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s%s", n > 0 ? "," : "", part);
    }
    struct fs_fault f;
    char err[160];
    if (fs_fault_parse(sim, spec, &f, err, sizeof(err)) != 0) {
        reply_error(c, 400, err);
        return;
    }
    if (f.at_ns > 0) {
        f.at_ns += sim->now_ns - sim->start_mono_ns;
        if (fs_fault_schedule(sim, &f) != 0) {
            reply_error(c, 400, "too many scheduled faults");
            return;
        }
        struct fh_buf *b = &sim->out;
        fh_buf_reset(b);
        fh_buf_appendf(b, "{\"ok\":true,\"scheduled\":true}");
        reply(c, 200, b);
        return;
    }
    int affected = fs_fault_apply(sim, &f);
    struct fh_buf *b = &sim->out;
    fh_buf_reset(b);
    fh_buf_appendf(b, "{\"ok\":true,\"affected\":%d}", affected);
    reply(c, 200, b);
}

/* hooks.control: one complete request on the control port. */
static void control_request(struct fs_conn *c, const struct fh_http_req *req, const char *body,
                            size_t body_len)
{
    struct fs_sim *sim = c->sim;
    struct fh_buf *b = &sim->out;
    bool get = fh_str_eq_c(req->method, "GET"), post = fh_str_eq_c(req->method, "POST");
    if (!get && !post) {
        reply_error(c, 405, "use GET or POST");
        return;
    }
    if (fh_str_eq_c(req->path, "/status")) {
        fh_buf_reset(b);
        fs_server_status(sim, b);
        reply(c, 200, b);
    } else if (fh_str_eq_c(req->path, "/fault")) {
        fault(c, req, body, body_len, NULL);
    } else if (fh_str_eq_c(req->path, "/resume")) {
        fault(c, req, body, body_len, "resume");
    } else if (fh_str_eq_c(req->path, "/truth/flush")) {
        fs_truth_sync(&sim->truth);
        fh_buf_reset(b);
        fh_buf_appendf(b, "{\"ok\":true,\"lines\":%llu}", (unsigned long long)sim->truth.lines);
        reply(c, 200, b);
    } else if (fh_str_eq_c(req->path, "/shutdown")) {
        fh_buf_reset(b);
        fh_buf_appendf(b, "{\"ok\":true}");
        c->http_close = true;
        reply(c, 200, b);
        fs_server_shutdown(sim, false);
    } else {
        reply_error(c, 404, "unknown endpoint: see docs/FEEDSIM.md");
    }
}

void fs_control_install(struct fs_sim *sim)
{
    sim->hooks.control = control_request;
}
