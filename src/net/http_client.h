/*
 * http_client.h - one blocking HTTP(S) request, for start-up work only.
 *
 * Symbol metadata (exchangeInfo, AssetPairs) and Schema Registry registration happen before
 * the engine loop runs, so a blocking request keeps them simple. This is the one place that
 * includes libcurl; nothing on the engine thread may call it once the loop runs.
 *
 * TLS: TLS >= 1.2, peer and host verification unless verify is false, the system store or
 * ca_file. The reply body goes into a bounded buffer (max_body bytes).
 *
 * Locality: any thread; libcurl is initialised once, thread-safely.
 */
#ifndef FH_NET_HTTP_CLIENT_H
#define FH_NET_HTTP_CLIENT_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fh_http_request {
    const char *method;         /* "GET" or "POST" */
    const char *url;            /* http:// or https:// */
    const char *body;           /* POST body (NUL-terminated), or NULL */
    const char *const *headers; /* "Name: value" lines, or NULL */
    size_t n_headers;
    int64_t timeout_ms;  /* whole request, and connect; <= 0: 30 s */
    const char *ca_file; /* NULL or "": the system store */
    bool insecure;       /* true: no certificate or host check (explicit opt-out) */
    size_t max_body;     /* reply bytes accepted; a longer reply is an error */
};

/*
 * Performs the request. Returns 0 when an HTTP answer arrived (any status: *status and body
 * hold it; body must be initialised by the caller, it is appended to), or FH_EIO / FH_ENOMEM
 * with one sentence in err (no answer: DNS, connect, TLS, timeout, reply too large).
 */
int fh_http_fetch(const struct fh_http_request *rq, long *status, struct fh_buf *body, char *err,
                  size_t errlen);

#endif
