/*
 * metadata.c - symbol metadata from a file or over REST (libcurl easy, blocking, start-up
 * only; see metadata.h).
 */
#include "feed/metadata.h"

#include "core/buf.h"
#include "core/err.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_file(const char *path, struct fh_buf *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    int rc = 0;
    for (;;) {
        rc = fh_buf_reserve(out, 65536);
        if (rc != 0) {
            snprintf(err, errlen, "%s is larger than %u bytes", path, FH_METADATA_MAX);
            break;
        }
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
    }
    close(fd);
    return rc;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct fh_buf *b = ctx;
    return fh_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

static int fetch(const char *url, const struct fh_metadata_source *src, struct fh_buf *out,
                 char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return FH_ENOMEM;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, src->timeout_ms > 0 ? src->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "feedhandler/" FH_VERSION);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip: exchangeInfo is large */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (src->ca_file != NULL && src->ca_file[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, src->ca_file);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, src->verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, src->verify ? 2L : 0L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "GET %s failed: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
        return FH_EIO;
    }
    if (status != 200) {
        size_t n = out->len < 200 ? out->len : 200;
        snprintf(err, errlen, "GET %s answered HTTP %ld: %.*s", url, status, (int)n,
                 out->data ? out->data : "");
        return FH_EIO;
    }
    return 0;
}

int fh_metadata_load(const struct fh_venue_ops *ops, const struct fh_metadata_source *src,
                     struct fh_symbols *t, char *used, size_t usedlen, char *err, size_t errlen)
{
    struct fh_buf body;
    fh_buf_init(&body, FH_METADATA_MAX);
    int rc;
    if (src->file != NULL && src->file[0] != '\0') {
        snprintf(used, usedlen, "file %s", src->file);
        rc = read_file(src->file, &body, err, errlen);
    } else {
        char url[2048];
        size_t n = src->rest_url != NULL ? strlen(src->rest_url) : 0;
        while (n > 0 && src->rest_url[n - 1] == '/')
            n--;
        snprintf(url, sizeof(url), "%.*s%s", (int)n, src->rest_url ? src->rest_url : "",
                 ops->metadata_path);
        snprintf(used, usedlen, "%s", url);
        rc = fetch(url, src, &body, err, errlen);
    }
    if (rc == 0) {
        char perr[256] = "";
        rc = ops->parse_metadata(body.data ? body.data : "", body.len, t, perr, sizeof(perr));
        if (rc != 0)
            snprintf(err, errlen, "%s metadata from %s: %s", ops->name, used, perr);
        else if (perr[0] != '\0')
            snprintf(err, errlen, "%s", perr); /* a warning: the caller may log it */
        else if (errlen > 0)
            err[0] = '\0';
    }
    fh_buf_release(&body);
    return rc;
}
