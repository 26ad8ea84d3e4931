/*
 * server.c - /metrics, /healthz and /readyz over libmicrohttpd on its own thread.
 *
 * The server thread only renders the registry (relaxed atomic reads of the cells) and asks
 * the ready callback; it never touches engine state otherwise.
 */
#include "obs/metrics.h"

#include "core/err.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct fh_metrics_server {
    struct MHD_Daemon *d;
    struct fh_metrics *m;
    fh_ready_fn ready;
    void *ctx;
    fh_ready_fn health;
    void *health_ctx;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    struct fh_metrics_server *s = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, 405, "text/plain", (void *)"method not allowed\n", 19,
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        struct fh_buf b;
        fh_buf_init(&b, 64u << 20);
        if (fh_metrics_render(s->m, &b) != 0 || b.data == NULL) {
            fh_buf_release(&b);
            return reply(c, 500, "text/plain", (void *)"render failed\n", 14,
                         MHD_RESPMEM_PERSISTENT);
        }
        /* MHD frees the rendered text with free() after sending it. */
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len,
                     MHD_RESPMEM_MUST_FREE);
    }
    bool health = strcmp(url, "/healthz") == 0;
    if (health || strcmp(url, "/readyz") == 0) {
        char why[256] = "ok";
        fh_ready_fn fn = health ? s->health : s->ready;
        int ok = fn ? fn(health ? s->health_ctx : s->ctx, why, sizeof(why)) : 1;
        char body[300];
        int n = snprintf(body, sizeof(body), "%s\n", why);
        return reply(c, ok ? 200 : 503, "text/plain", body, (size_t)n, MHD_RESPMEM_MUST_COPY);
    }
    return reply(c, 404, "text/plain", (void *)"not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

/* Splits "host:port" / "[v6]:port" and resolves it numerically or by name. */
static int resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *len, char *err,
                   size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
        snprintf(err, errlen, "metrics listen address %s is not host:port", listen);
        return FH_EINVAL;
    }
    size_t hl = (size_t)(colon - listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "cannot resolve metrics listen address %s: %s", listen,
                 gai_strerror(rc));
        return FH_EINVAL;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

struct fh_metrics_server *fh_metrics_server_start(const char *listen, struct fh_metrics *m,
                                                  fh_ready_fn ready, void *ctx, fh_ready_fn health,
                                                  void *health_ctx, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (resolve(listen, &ss, &sslen, err, errlen) != 0)
        return NULL;
    struct fh_metrics_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->m = m;
    s->ready = ready;
    s->ctx = ctx;
    s->health = health;
    s->health_ctx = health_ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (s->d == NULL) {
        snprintf(err, errlen, "cannot listen for metrics on %s (address in use?)", listen);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    log_info("metrics server listening", "listen=%s port=%d", listen, s->port);
    return s;
}

int fh_metrics_server_port(const struct fh_metrics_server *s)
{
    return s->port;
}

void fh_metrics_server_stop(struct fh_metrics_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
