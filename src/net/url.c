/*
 * url.c - ws:// and wss:// URLs (see url.h).
 */
#include "net/url.h"

#include "core/err.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int url_err(char *err, size_t errsz, const char *fmt, ...) FH_PRINTF(3, 4);
static int url_err(char *err, size_t errsz, const char *fmt, ...)
{
    if (err != NULL && errsz > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return FH_EINVAL;
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* DNS name: letters, digits, '-', '_' and non-empty dot-separated labels of <= 63 bytes. */
static bool valid_dns_name(const char *p, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-' && c != '_')
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

int fh_url_parse(const char *url, struct fh_url *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL)
        return url_err(err, errsz, "no URL");
    size_t n = strnlen(url, FH_URL_MAX + 1);
    if (n > FH_URL_MAX)
        return url_err(err, errsz, "URL longer than %d bytes", FH_URL_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return url_err(err, errsz, "URL contains a space, control or non-ASCII byte");
        if (c == '#')
            return url_err(err, errsz, "URL has a fragment ('#'), not allowed in WebSocket URLs");
    }
    const char *p;
    if (n >= 5 && strncasecmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else if (n >= 6 && strncasecmp(url, "wss://", 6) == 0) {
        out->tls = true;
        p = url + 6;
    } else {
        return url_err(err, errsz, "URL scheme must be ws:// or wss://");
    }
    const char *end = url + n;
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?')
        auth_end++;
    if (memchr(p, '@', (size_t)(auth_end - p)) != NULL)
        return url_err(err, errsz, "URL has user information ('@'), not supported");
    const char *port_at = NULL;
    if (p < auth_end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (rb == NULL)
            return url_err(err, errsz, "IPv6 literal without a closing ']'");
        char tmp[64];
        size_t hl = (size_t)(rb - p - 1);
        struct in6_addr a6;
        if (hl == 0 || hl >= sizeof(tmp))
            return url_err(err, errsz, "bad IPv6 literal");
        memcpy(tmp, p + 1, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return url_err(err, errsz, "bad IPv6 literal [%s]", tmp);
        out->host = (struct fh_str){p + 1, hl};
        out->host_is_ip = true;
        if (rb + 1 < auth_end) {
            if (rb[1] != ':')
                return url_err(err, errsz, "unexpected text after the IPv6 literal");
            port_at = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        const char *hend = colon != NULL ? colon : auth_end;
        size_t hl = (size_t)(hend - p);
        if (hl == 0)
            return url_err(err, errsz, "URL has no host");
        if (hl > FH_URL_HOST_MAX)
            return url_err(err, errsz, "host name longer than %d bytes", FH_URL_HOST_MAX);
        bool numeric = true;
        for (size_t i = 0; i < hl; i++) {
            if (!(p[i] == '.' || (p[i] >= '0' && p[i] <= '9')))
                numeric = false;
        }
        char tmp[FH_URL_HOST_MAX + 1];
        memcpy(tmp, p, hl);
        tmp[hl] = '\0';
        if (numeric) {
            struct in_addr a4;
            if (inet_pton(AF_INET, tmp, &a4) != 1)
                return url_err(err, errsz, "bad IPv4 address %s", tmp);
            out->host_is_ip = true;
        } else if (!valid_dns_name(p, hl)) {
            return url_err(err, errsz, "bad host name %s", tmp);
        }
        out->host = (struct fh_str){p, hl};
        if (colon != NULL)
            port_at = colon + 1;
    }
    out->port = out->tls ? 443 : 80;
    if (port_at != NULL) {
        if (port_at == auth_end)
            return url_err(err, errsz, "empty port");
        unsigned long v = 0;
        for (const char *q = port_at; q < auth_end; q++) {
            if (*q < '0' || *q > '9')
                return url_err(err, errsz, "port is not a number");
            v = v * 10 + (unsigned long)(*q - '0');
            if (v > 65535)
                return url_err(err, errsz, "port out of range 1-65535");
        }
        if (v == 0)
            return url_err(err, errsz, "port out of range 1-65535");
        out->port = (uint16_t)v;
        out->port_explicit = true;
    }
    if (auth_end == end)
        out->target = FH_STR_LIT("/");
    else
        out->target = (struct fh_str){auth_end, (size_t)(end - auth_end)};
    return 0;
}
