/*
 * metadata.c - symbol metadata from a file or over REST (net/http_client.h: blocking,
 * start-up only; see metadata.h).
 */
#include "feed/metadata.h"

#include "core/buf.h"
#include "core/err.h"
#include "net/http_client.h"

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

static int fetch(const char *url, const struct fh_metadata_source *src, struct fh_buf *out,
                 char *err, size_t errlen)
{
    struct fh_http_request rq = {.method = "GET",
                                 .url = url,
                                 .timeout_ms = src->timeout_ms,
                                 .ca_file = src->ca_file,
                                 .insecure = !src->verify,
                                 .max_body = FH_METADATA_MAX};
    long status = 0;
    int rc = fh_http_fetch(&rq, &status, out, err, errlen);
    if (rc != 0)
        return rc;
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
