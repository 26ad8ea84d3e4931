/*
 * http_async.c - libcurl multi on a libuv loop (see http_async.h).
 *
 * Slots: each holds one easy handle (options that never change are set once at creation)
 * and a reply (body buffer, captured headers, error text). A slot is FREE or BUSY; the id of a
 * request is (generation << 32 | slot index), and the generation changes whenever the slot is
 * freed, so a stale id is never mistaken for a later request in the same slot.
 *
 * Delivery: when a transfer ends its slot is freed before the callback runs, so the callback
 * may submit the next request into the very same slot (paging). The reply it reads stays
 * intact meanwhile: a submission only resets lengths and flags (the result holds its own
 * copies), and libcurl writes into the slot only when the loop next drives it (the timer
 * callback merely arms a uv_timer; nothing runs a transfer inside curl_multi_add_handle).
 *
 * Sockets: libcurl tells us which sockets to watch; each gets a watcher (a uv_poll handle)
 * from a preallocated pool. A watcher is released with uv_close and goes back to the pool in
 * its close callback; libcurl may meanwhile hand out the same descriptor again, which simply
 * takes another watcher. The pool covers what max_requests transfers can hold at once (a
 * connect may race two addresses, plus the resolver); beyond it watchers are allocated and
 * counted (stats.poll_overflow), because refusing one would kill the whole multi handle.
 *
 * Closing: everything libcurl owns is cleaned up synchronously; the uv handles (the timer and
 * the watchers still open) close asynchronously, and the last close callback frees the client.
 */
#include "net/http_async.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum slot_state { SLOT_FREE = 0, SLOT_BUSY };

struct reply {
    char *body; /* max_body + 1 bytes */
    size_t body_len;
    bool too_large;
    bool has[FH_HTTP_ASYNC_MAX_CAPTURE];
    char val[FH_HTTP_ASYNC_MAX_CAPTURE][FH_HTTP_ASYNC_HEADER_VAL_MAX + 1];
    char error[CURL_ERROR_SIZE];
};

struct slot {
    struct fh_http_async *c;
    CURL *easy;
    enum slot_state state;
    uint32_t index, gen;
    struct reply *reply;
    fh_http_async_cb cb;
    void *user;
    int64_t start_ns;
    char curl_err[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
    struct curl_slist hdr_nodes[FH_HTTP_ASYNC_MAX_REQ_HEADERS];
    char hdr_text[FH_HTTP_ASYNC_REQ_HEADER_MAX];
};

struct watcher {
    uv_poll_t poll;
    struct fh_http_async *c;
    struct watcher *next; /* the pool's free list, or the list of open heap watchers */
    curl_socket_t fd;
    bool heap; /* allocated beyond the pool */
};

struct fh_http_async {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct slot *slots;
    size_t n_slots, in_flight;
    struct reply *replies; /* one per slot */
    char *bodies;
    size_t max_body;
    struct watcher *watchers, *free_watchers, *heap_watchers;
    size_t n_watchers;
    size_t handles_open; /* the timer and watchers not yet closed */
    int64_t timeout_ms, connect_timeout_ms;
    char *ca_file;
    bool insecure;
    bool closing;
    size_t n_capture;
    char capture[FH_HTTP_ASYNC_MAX_CAPTURE][FH_HTTP_ASYNC_HEADER_NAME_MAX + 1];
    size_t capture_len[FH_HTTP_ASYNC_MAX_CAPTURE];
    fh_http_async_closed_cb closed;
    void *closed_user;
    struct fh_http_async_stats stats;
};

static void client_destroy(struct fh_http_async *c);

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *fh_http_async_outcome_name(enum fh_http_async_outcome o)
{
    static const char *const names[FH_HTTP_ASYNC_OUTCOMES] = {"ok",  "timeout",   "connect",
                                                              "tls", "too_large", "transfer"};
    return (unsigned)o < FH_HTTP_ASYNC_OUTCOMES ? names[o] : "unknown";
}

/* ---- libcurl's data callbacks (never call the user from here) ----------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct slot *s = arg;
    struct reply *r = s->reply;
    size_t n = size * nmemb;
    if (n > s->c->max_body - r->body_len) {
        r->too_large = true;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    return n;
}

/* Captures the configured headers of the final response: a status line (a 100 Continue, or
 * any response before the last) starts the capture over. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct slot *s = arg;
    struct fh_http_async *c = s->c;
    struct reply *r = s->reply;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        memset(r->has, 0, sizeof(r->has));
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (colon == NULL)
        return n;
    size_t name_len = (size_t)(colon - p);
    for (size_t i = 0; i < c->n_capture; i++) {
        if (name_len != c->capture_len[i] || strncasecmp(p, c->capture[i], name_len) != 0)
            continue;
        const char *v = colon + 1, *end = p + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t vlen = (size_t)(end - v);
        if (vlen > FH_HTTP_ASYNC_HEADER_VAL_MAX)
            vlen = FH_HTTP_ASYNC_HEADER_VAL_MAX;
        memcpy(r->val[i], v, vlen);
        r->val[i][vlen] = '\0';
        r->has[i] = true;
    }
    return n;
}

/* ---- completion --------------------------------------------------------------------------- */

static enum fh_http_async_outcome classify(CURLcode rc, const struct reply *r)
{
    switch (rc) {
    case CURLE_OK:
        return FH_HTTP_ASYNC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return FH_HTTP_ASYNC_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return FH_HTTP_ASYNC_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return FH_HTTP_ASYNC_TLS;
    case CURLE_WRITE_ERROR:
        return r->too_large ? FH_HTTP_ASYNC_TOO_LARGE : FH_HTTP_ASYNC_TRANSFER;
    default:
        return FH_HTTP_ASYNC_TRANSFER;
    }
}

static uint64_t slot_id(const struct slot *s)
{
    return (uint64_t)s->gen << 32 | s->index;
}

static void slot_free(struct fh_http_async *c, struct slot *s)
{
    curl_multi_remove_handle(c->multi, s->easy);
    s->state = SLOT_FREE;
    s->gen = s->gen == UINT32_MAX ? 1 : s->gen + 1;
    s->cb = NULL;
    s->user = NULL;
    c->in_flight--;
}

static void finish(struct fh_http_async *c, struct slot *s, CURLcode rc)
{
    struct fh_http_async_result res;
    memset(&res, 0, sizeof(res));
    res.id = slot_id(s);
    res.elapsed_ns = fh_clock_monotonic_ns() - s->start_ns;
    res.outcome = classify(rc, s->reply);
    long conns = 0;
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &conns);
    res.new_connection = conns > 0;
    c->stats.connections += (uint64_t)(conns > 0 ? conns : 0);
    c->stats.body_bytes += s->reply->body_len;

    struct reply *r = s->reply;
    if (res.outcome == FH_HTTP_ASYNC_OK) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &res.status);
        r->error[0] = '\0';
        c->stats.answered++;
        if (res.status >= 400 && res.status < 500)
            c->stats.answered_4xx++;
        else if (res.status >= 500)
            c->stats.answered_5xx++;
        for (size_t i = 0; i < c->n_capture; i++)
            res.header[i] = r->has[i] ? r->val[i] : NULL;
    } else {
        if (res.outcome == FH_HTTP_ASYNC_TOO_LARGE)
            snprintf(r->error, sizeof(r->error), "reply body larger than %zu bytes", c->max_body);
        else
            snprintf(r->error, sizeof(r->error), "%s",
                     s->curl_err[0] ? s->curl_err : curl_easy_strerror(rc));
        c->stats.failed[res.outcome]++;
        r->body_len = 0;
        log_debug("http request failed", "outcome=%s", fh_http_async_outcome_name(res.outcome));
    }
    r->body[r->body_len] = '\0';
    res.body = r->body;
    res.body_len = r->body_len;
    res.error = r->error;

    fh_http_async_cb cb = s->cb;
    void *user = s->user;
    slot_free(c, s);
    cb(c, &res, user);
}

/* Delivers every finished transfer; stops as soon as a callback closed the client. */
static void check_done(struct fh_http_async *c)
{
    CURLMsg *m;
    int left;
    while (!c->closing && (m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        struct slot *s = (struct slot *)priv;
        if (s == NULL || s->state != SLOT_BUSY)
            continue;
        finish(c, s, m->data.result);
    }
}

/* ---- the loop side: sockets and the timer -------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct watcher *w = h->data;
    struct fh_http_async *c = w->c;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->multi, w->fd, flags, &running);
    check_done(c);
}

static void on_timer(uv_timer_t *t)
{
    struct fh_http_async *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static void handle_closed(struct fh_http_async *c)
{
    if (--c->handles_open > 0 || !c->closing)
        return;
    fh_http_async_closed_cb closed = c->closed;
    void *user = c->closed_user;
    client_destroy(c);
    if (closed != NULL)
        closed(user);
}

static void on_watcher_closed(uv_handle_t *h)
{
    struct watcher *w = h->data;
    struct fh_http_async *c = w->c;
    if (w->heap) {
        struct watcher **pp = &c->heap_watchers;
        while (*pp != w)
            pp = &(*pp)->next;
        *pp = w->next;
        free(w);
    } else {
        w->next = c->free_watchers;
        c->free_watchers = w;
    }
    handle_closed(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void watcher_release(struct fh_http_async *c, struct watcher *w)
{
    uv_poll_stop(&w->poll);
    if (!c->closing)
        curl_multi_assign(c->multi, w->fd, NULL);
    w->fd = CURL_SOCKET_BAD;
    uv_close((uv_handle_t *)&w->poll, on_watcher_closed);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct fh_http_async *c = userp;
    struct watcher *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w != NULL)
            watcher_release(c, w);
        return 0;
    }
    if (w == NULL) {
        w = c->free_watchers;
        if (w != NULL) {
            if (uv_poll_init_socket(c->loop, &w->poll, fd) != 0)
                return -1; /* libcurl fails the multi handle: nothing better to do */
            c->free_watchers = w->next;
        } else {
            w = calloc(1, sizeof(*w));
            if (w == NULL || uv_poll_init_socket(c->loop, &w->poll, fd) != 0) {
                free(w);
                return -1;
            }
            w->heap = true;
            w->next = c->heap_watchers;
            c->heap_watchers = w;
            c->stats.poll_overflow++;
        }
        w->c = c;
        w->fd = fd;
        w->poll.data = w;
        c->handles_open++;
        curl_multi_assign(c->multi, fd, w);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&w->poll, ev, on_poll);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct fh_http_async *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- set-up -------------------------------------------------------------------------------- */

static int slot_setup(struct fh_http_async *c, struct slot *s, char *err, size_t errlen)
{
    s->easy = curl_easy_init();
    if (s->easy == NULL) {
        snprintf(err, errlen, "out of memory (curl_easy_init)");
        return FH_ENOMEM;
    }
    CURL *e = s->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                           \
    do {                                        \
        if (rc == CURLE_OK)                     \
            rc = curl_easy_setopt(e, opt, val); \
    } while (0)
    SET(CURLOPT_PRIVATE, (char *)s);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, s);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, s);
    SET(CURLOPT_ERRORBUFFER, s->curl_err);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_USERAGENT, "feedhandler/" FH_VERSION);
    SET(CURLOPT_ACCEPT_ENCODING, ""); /* whatever this libcurl decodes (gzip) */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (c->ca_file != NULL)
        SET(CURLOPT_CAINFO, c->ca_file);
#undef SET
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl refused an option: %s", curl_easy_strerror(rc));
        return FH_ECONFIG;
    }
    return 0;
}

static int check_config(const struct fh_http_async_config *cfg, char *err, size_t errlen)
{
    if (cfg->max_requests < 1 || cfg->max_requests > 4096) {
        snprintf(err, errlen, "max_requests must be between 1 and 4096 (is %zu)",
                 cfg->max_requests);
        return FH_EINVAL;
    }
    if (cfg->max_body < 1 || cfg->max_body > ((size_t)1 << 30)) {
        snprintf(err, errlen, "max_body must be between 1 byte and 1 GiB (is %zu)", cfg->max_body);
        return FH_EINVAL;
    }
    if (cfg->n_capture > FH_HTTP_ASYNC_MAX_CAPTURE) {
        snprintf(err, errlen, "at most %d response headers can be captured (asked for %zu)",
                 FH_HTTP_ASYNC_MAX_CAPTURE, cfg->n_capture);
        return FH_EINVAL;
    }
    for (size_t i = 0; i < cfg->n_capture; i++) {
        const char *n = cfg->capture[i];
        size_t len = n != NULL ? strlen(n) : 0;
        if (len == 0 || len > FH_HTTP_ASYNC_HEADER_NAME_MAX || strpbrk(n, ": \t\r\n") != NULL) {
            snprintf(err, errlen, "captured header name %zu is empty, too long or not a token", i);
            return FH_EINVAL;
        }
    }
    return 0;
}

static int client_alloc(struct fh_http_async *c, const struct fh_http_async_config *cfg)
{
    size_t n = cfg->max_requests;
    c->slots = calloc(n, sizeof(*c->slots));
    c->replies = calloc(n, sizeof(*c->replies));
    c->bodies = malloc(n * (cfg->max_body + 1));
    c->n_watchers = 3 * n + 2;
    c->watchers = calloc(c->n_watchers, sizeof(*c->watchers));
    if (cfg->ca_file != NULL && cfg->ca_file[0] != '\0')
        c->ca_file = strdup(cfg->ca_file);
    if (c->slots == NULL || c->replies == NULL || c->bodies == NULL || c->watchers == NULL ||
        (cfg->ca_file != NULL && cfg->ca_file[0] != '\0' && c->ca_file == NULL))
        return FH_ENOMEM;
    for (size_t i = 0; i < n; i++)
        c->replies[i].body = c->bodies + i * (cfg->max_body + 1);
    for (size_t i = 0; i < c->n_watchers; i++) {
        c->watchers[i].next = i + 1 < c->n_watchers ? &c->watchers[i + 1] : NULL;
        c->watchers[i].fd = CURL_SOCKET_BAD;
    }
    c->free_watchers = &c->watchers[0];
    return 0;
}

static void client_destroy(struct fh_http_async *c)
{
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    for (size_t i = 0; c->slots != NULL && i < c->n_slots; i++)
        if (c->slots[i].easy != NULL)
            curl_easy_cleanup(c->slots[i].easy);
    free(c->slots);
    free(c->replies);
    free(c->bodies);
    free(c->watchers);
    free(c->ca_file);
    free(c);
}

int fh_http_async_new(uv_loop_t *loop, const struct fh_http_async_config *cfg,
                      struct fh_http_async **out, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
        return FH_ECONFIG;
    }
    int rc = check_config(cfg, err, errlen);
    if (rc != 0)
        return rc;
    /* A libcurl without asynchronous DNS would resolve host names on the loop thread. */
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    if ((vi->features & CURL_VERSION_ASYNCHDNS) == 0) {
        snprintf(err, errlen, "libcurl %s resolves host names synchronously", vi->version);
        return FH_ECONFIG;
    }
    struct fh_http_async *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    c->loop = loop;
    c->max_body = cfg->max_body;
    c->insecure = cfg->insecure;
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
    c->n_capture = cfg->n_capture;
    for (size_t i = 0; i < cfg->n_capture; i++) {
        c->capture_len[i] = strlen(cfg->capture[i]);
        memcpy(c->capture[i], cfg->capture[i], c->capture_len[i] + 1);
    }
    if (client_alloc(c, cfg) != 0) {
        client_destroy(c);
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    c->n_slots = cfg->max_requests;
    for (size_t i = 0; i < c->n_slots; i++) {
        struct slot *s = &c->slots[i];
        s->c = c;
        s->index = (uint32_t)i;
        s->gen = 1;
        s->reply = &c->replies[i];
        rc = slot_setup(c, s, err, errlen);
        if (rc != 0) {
            client_destroy(c);
            return rc;
        }
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        client_destroy(c);
        snprintf(err, errlen, "out of memory (curl_multi_init)");
        return FH_ENOMEM;
    }
    long maxconn = (long)(cfg->max_connections > 0 ? cfg->max_connections : cfg->max_requests);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, maxconn);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 1;
    *out = c;
    return 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

static bool url_scheme_ok(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* Builds the request's header list in the slot's own nodes and text: no allocation. */
static int slot_headers(struct slot *s, const struct fh_http_async_req *rq)
{
    if (rq->n_headers > FH_HTTP_ASYNC_MAX_REQ_HEADERS)
        return FH_EINVAL;
    size_t off = 0;
    for (size_t i = 0; i < rq->n_headers; i++) {
        const char *h = rq->headers[i];
        size_t len = h != NULL ? strlen(h) : 0;
        if (len == 0 || len + 1 > sizeof(s->hdr_text) - off || strpbrk(h, "\r\n") != NULL)
            return FH_EINVAL;
        memcpy(s->hdr_text + off, h, len + 1);
        s->hdr_nodes[i].data = s->hdr_text + off;
        s->hdr_nodes[i].next = i + 1 < rq->n_headers ? &s->hdr_nodes[i + 1] : NULL;
        off += len + 1;
    }
    return 0;
}

int fh_http_async_get(struct fh_http_async *c, const struct fh_http_async_req *rq,
                      fh_http_async_cb cb, void *user, uint64_t *id)
{
    if (c->closing)
        return FH_ESTATE;
    if (rq == NULL || rq->url == NULL || !url_scheme_ok(rq->url) || cb == NULL)
        return FH_EINVAL;
    if (c->in_flight == c->n_slots) {
        c->stats.busy++;
        return FH_ENOSPACE;
    }
    struct slot *s = NULL;
    for (size_t i = 0; i < c->n_slots && s == NULL; i++)
        if (c->slots[i].state == SLOT_FREE)
            s = &c->slots[i];
    if (slot_headers(s, rq) != 0)
        return FH_EINVAL;
    CURL *e = s->easy;
    int64_t total = rq->timeout_ms > 0 ? rq->timeout_ms : c->timeout_ms;
    int64_t conn = rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : c->connect_timeout_ms;
    CURLcode rc = curl_easy_setopt(e, CURLOPT_URL, rq->url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->n_headers ? s->hdr_nodes : NULL);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)total);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)conn);
    if (rc != CURLE_OK)
        return rc == CURLE_OUT_OF_MEMORY ? FH_ENOMEM : FH_EINVAL;
    struct reply *r = s->reply;
    r->body_len = 0;
    r->too_large = false;
    memset(r->has, 0, sizeof(r->has));
    s->curl_err[0] = '\0';
    s->start_ns = fh_clock_monotonic_ns();
    s->cb = cb;
    s->user = user;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return FH_EIO;
    s->state = SLOT_BUSY;
    c->in_flight++;
    c->stats.requests++;
    *id = slot_id(s);
    return 0;
}

static struct slot *slot_of(struct fh_http_async *c, uint64_t id)
{
    uint32_t index = (uint32_t)(id & 0xffffffffu);
    uint32_t gen = (uint32_t)(id >> 32);
    if (index >= c->n_slots)
        return NULL;
    struct slot *s = &c->slots[index];
    return s->state == SLOT_BUSY && s->gen == gen ? s : NULL;
}

int fh_http_async_cancel(struct fh_http_async *c, uint64_t id)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL)
        return FH_ENOTFOUND;
    /* Removing an unfinished transfer makes libcurl close its connection (and tell on_socket
     * to stop watching it); a pending completion message of the handle is dropped too. */
    slot_free(c, s);
    c->stats.cancelled++;
    return 0;
}

size_t fh_http_async_in_flight(const struct fh_http_async *c)
{
    return c->in_flight;
}

const struct fh_http_async_stats *fh_http_async_stats(const struct fh_http_async *c)
{
    return &c->stats;
}

void fh_http_async_close(struct fh_http_async *c, fh_http_async_closed_cb closed, void *user)
{
    if (c->closing)
        return;
    c->closing = true;
    c->closed = closed;
    c->closed_user = user;
    for (size_t i = 0; i < c->n_slots; i++) {
        if (c->slots[i].state == SLOT_BUSY) {
            slot_free(c, &c->slots[i]);
            c->stats.cancelled++;
        }
    }
    /* Closes the cached connections; libcurl may still report sockets to stop watching. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    /* Whatever watcher is still open (libcurl did not say REMOVE for it) closes now. */
    for (size_t i = 0; i < c->n_watchers; i++) {
        struct watcher *w = &c->watchers[i];
        if (w->fd != CURL_SOCKET_BAD)
            watcher_release(c, w);
    }
    for (struct watcher *w = c->heap_watchers; w != NULL; w = w->next)
        if (w->fd != CURL_SOCKET_BAD)
            watcher_release(c, w);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
