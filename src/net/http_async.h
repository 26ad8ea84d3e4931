/*
 * http_async.h - non-blocking HTTP(S) GET requests on the engine's libuv loop (libcurl multi).
 *
 * The engine thread must never block, yet REST backfill and other calls after start-up need
 * HTTP. This client drives libcurl's multi interface from a libuv loop: every socket libcurl
 * wants watched gets a uv_poll handle (CURLMOPT_SOCKETFUNCTION), libcurl's one timeout is one
 * uv_timer (CURLMOPT_TIMERFUNCTION), and both call curl_multi_socket_action. DNS for host
 * names runs in libcurl's resolver thread, never on the loop. (http_client.h is the blocking
 * client for start-up, before the loop runs.)
 *
 * Bounds: the client has a fixed number of request *slots*, each with its easy handle, a reply
 * body buffer of max_body bytes and room for the captured headers, all allocated when the
 * client is created. A submission takes a free slot or fails with FH_ENOSPACE: nothing is ever
 * queued here, the caller retries later. Nothing is allocated per request beyond what libcurl
 * itself allocates (its URL copy, connection state, the resolver thread).
 *
 * Connections: HTTP/1.1, kept alive and reused through the multi handle's connection cache
 * (at most max_connections idle ones). TLS >= 1.2 with chain and host-name verification
 * against the system store or ca_file, unless insecure (the same options as http_client.h).
 * Redirects are not followed (a 3xx is an answer). Compressed replies are accepted and
 * decoded; max_body bounds the decoded body.
 *
 * Completion: exactly one callback per accepted request, on the loop thread, unless the request
 * is cancelled (fh_http_async_cancel) or the client is closed first: then its callback is never
 * called. The result's body and header values are valid only during the callback. The slot is
 * free again when the callback runs, so the callback may submit the next request (paging).
 *
 * Logging: none per request, except at debug level. Counters are plain fields (struct
 * fh_http_async_stats) for the caller to export.
 *
 * Locality: a client belongs to the thread running its loop; no call is thread-safe. The
 * stats may be read by that thread only (copy them for another thread).
 */
#ifndef FH_NET_HTTP_ASYNC_H
#define FH_NET_HTTP_ASYNC_H

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_HTTP_ASYNC_MAX_CAPTURE     4    /* response header names captured per client */
#define FH_HTTP_ASYNC_HEADER_NAME_MAX 63   /* bytes of a captured header's name */
#define FH_HTTP_ASYNC_HEADER_VAL_MAX  127  /* bytes of a captured value (longer ones are cut) */
#define FH_HTTP_ASYNC_MAX_REQ_HEADERS 8    /* extra request header lines per request */
#define FH_HTTP_ASYNC_REQ_HEADER_MAX  1024 /* bytes of all extra request header lines */

/* How a request ended. Everything but FH_HTTP_ASYNC_OK means no (complete) answer. */
enum fh_http_async_outcome {
    FH_HTTP_ASYNC_OK = 0,    /* an HTTP answer arrived, whatever its status (429 is an answer) */
    FH_HTTP_ASYNC_TIMEOUT,   /* the total or the connect timeout passed */
    FH_HTTP_ASYNC_CONNECT,   /* DNS failed, connection refused or unreachable */
    FH_HTTP_ASYNC_TLS,       /* TLS handshake or certificate / host-name verification failed */
    FH_HTTP_ASYNC_TOO_LARGE, /* the reply body is longer than max_body */
    FH_HTTP_ASYNC_TRANSFER,  /* anything else: reset, malformed answer, peer closed early */
    FH_HTTP_ASYNC_OUTCOMES
};

/* "ok", "timeout", "connect", "tls", "too_large", "transfer" (metric label values). */
const char *fh_http_async_outcome_name(enum fh_http_async_outcome o);

struct fh_http_async_config {
    size_t max_requests;        /* slots: requests in flight at once (>= 1) */
    size_t max_body;            /* reply body bytes per slot (>= 1); a longer body fails */
    size_t max_connections;     /* idle connections kept for reuse; 0: max_requests */
    int64_t timeout_ms;         /* default whole-request timeout; <= 0: 30 s */
    int64_t connect_timeout_ms; /* default connect (TCP + TLS) timeout; <= 0: 10 s */
    const char *ca_file;        /* PEM bundle; NULL or "": the system store */
    bool insecure;              /* true: no certificate or host check (explicit opt-out) */
    /* Response header names to capture (case-insensitive), e.g. "Retry-After",
     * "X-MBX-USED-WEIGHT-1M"; copied at creation. At most FH_HTTP_ASYNC_MAX_CAPTURE. */
    const char *const *capture;
    size_t n_capture;
};

/* One GET. Every pointer is read during fh_http_async_get only (libcurl copies the URL). */
struct fh_http_async_req {
    const char *url;            /* http:// or https:// (other schemes are refused) */
    const char *const *headers; /* extra "Name: value" request lines, or NULL */
    size_t n_headers;           /* <= FH_HTTP_ASYNC_MAX_REQ_HEADERS */
    int64_t timeout_ms;         /* <= 0: the client's default */
    int64_t connect_timeout_ms; /* <= 0: the client's default */
};

struct fh_http_async_result {
    uint64_t id;                        /* what fh_http_async_get returned */
    enum fh_http_async_outcome outcome; /* FH_HTTP_ASYNC_OK when an answer arrived */
    long status;                        /* the HTTP status when OK, else 0 */
    const char *body; /* NUL-terminated (the NUL is not counted); "" without an answer */
    size_t body_len;
    /* Value of config.capture[i] in the final response, NULL when absent (or no answer). A
     * header sent twice keeps its last value. */
    const char *header[FH_HTTP_ASYNC_MAX_CAPTURE];
    const char *error;   /* "" when OK; else one sentence (libcurl's text or ours) */
    int64_t elapsed_ns;  /* from fh_http_async_get to completion (monotonic) */
    bool new_connection; /* true: a connection was opened for it; false: one was reused */
};

struct fh_http_async;

/* Called once per request that was neither cancelled nor closed; r is valid during the call.
 * The callback may submit or cancel requests, and may close the client. */
typedef void (*fh_http_async_cb)(struct fh_http_async *c, const struct fh_http_async_result *r,
                                 void *user);

/* Called once from fh_http_async_close's last uv_close callback: every handle is closed and
 * the client's memory is freed; the loop may end. */
typedef void (*fh_http_async_closed_cb)(void *user);

/* Counters since creation. Failures are counted by outcome; every accepted request ends in
 * exactly one of failed[outcome] (outcome OK: answered) or cancelled, or is in flight. */
struct fh_http_async_stats {
    uint64_t requests; /* accepted submissions */
    uint64_t busy;     /* submissions refused because every slot was busy */
    uint64_t answered; /* requests that got an HTTP answer (any status) */
    uint64_t answered_4xx, answered_5xx;
    uint64_t failed[FH_HTTP_ASYNC_OUTCOMES]; /* by outcome; failed[FH_HTTP_ASYNC_OK] stays 0 */
    uint64_t cancelled;     /* cancelled in flight, by fh_http_async_cancel or close */
    uint64_t body_bytes;    /* reply body bytes received (after content decoding) */
    uint64_t connections;   /* connections opened (the rest of the answers reused one) */
    uint64_t poll_overflow; /* socket watchers allocated beyond the preallocated pool */
};

/*
 * Creates a client on loop (which it uses until closed) with every slot allocated. Returns 0
 * with *out set, FH_EINVAL / FH_ECONFIG with a sentence in err (bad configuration, libcurl
 * missing a feature), or FH_ENOMEM.
 */
int fh_http_async_new(uv_loop_t *loop, const struct fh_http_async_config *cfg,
                      struct fh_http_async **out, char *err, size_t errlen);

/*
 * Starts a GET. On success returns 0 with *id set (never 0) and cb(user) will be called once
 * from the loop, never from inside this call. Errors, nothing started and cb never called:
 * FH_ENOSPACE every slot is busy (counted in stats.busy; retry after a completion),
 * FH_EINVAL no URL or not http(s), too many or too long header lines,
 * FH_ESTATE the client is closing, FH_EIO libcurl refused the request, FH_ENOMEM.
 */
int fh_http_async_get(struct fh_http_async *c, const struct fh_http_async_req *rq,
                      fh_http_async_cb cb, void *user, uint64_t *id);

/*
 * Cancels a request in flight: its callback will not be called, its connection is closed
 * (an unfinished HTTP/1.1 exchange cannot be reused) and its slot is free when this returns.
 * Returns 0, or FH_ENOTFOUND when id is not in flight (already completed, cancelled, unknown).
 */
int fh_http_async_cancel(struct fh_http_async *c, uint64_t id);

/* Requests in flight now (0 .. max_requests). */
size_t fh_http_async_in_flight(const struct fh_http_async *c);

/* The counters (valid until the client is closed). */
const struct fh_http_async_stats *fh_http_async_stats(const struct fh_http_async *c);

/*
 * Cancels every request in flight (no callbacks), closes every connection and starts closing
 * every uv handle; closed(user) follows from the loop when the last one is closed, after which
 * c is freed. closed may be NULL. Safe to call from a completion callback; call it once.
 */
void fh_http_async_close(struct fh_http_async *c, fh_http_async_closed_cb closed, void *user);

#endif
