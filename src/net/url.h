/*
 * url.h - ws:// and wss:// URLs, the only kind the engine connects to itself (REST URLs go
 * to libcurl, see http_client.h).
 *
 * fh_url_parse splits a URL into what a WebSocket client needs: TLS or not, the host (a DNS
 * name or an IP literal), the port and the request target. It is strict: anything a server
 * or a resolver could read differently from us (user information, fragments, spaces,
 * control and non-ASCII bytes, malformed literals) is refused with a sentence saying why.
 * Nothing is allocated: the result points into the parsed string.
 *
 * Pure functions, any thread.
 */
#ifndef FH_NET_URL_H
#define FH_NET_URL_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed ws:// or wss:// URL. Borrowed: host and target point into the parsed string
 * (target may point to a static "/"), nothing is allocated. */
struct fh_url {
    bool tls;             /* wss:// */
    bool host_is_ip;      /* host is an IPv4 or IPv6 literal */
    struct fh_str host;   /* DNS name or IP literal; IPv6 without the brackets */
    uint16_t port;        /* explicit, or 80 (ws) / 443 (wss) */
    bool port_explicit;   /* the URL named a port */
    struct fh_str target; /* request target: path plus optional ?query; "/" if the URL has none */
};

/* Longest host name accepted (DNS names are at most 253 bytes). */
#define FH_URL_HOST_MAX 255
/* Longest URL accepted. */
#define FH_URL_MAX 65536

/*
 * Parses url (scheme case-insensitive; ws:// or wss://; host, IPv6 literal in brackets,
 * optional :port 1-65535, optional path and query). Rejects user info, fragments ('#'),
 * spaces, control and non-ASCII bytes, empty hosts, bad literals. Returns 0, or FH_EINVAL
 * with a sentence in err (if err is not NULL). Pure, any thread.
 */
int fh_url_parse(const char *url, struct fh_url *out, char *err, size_t errsz);

#endif
