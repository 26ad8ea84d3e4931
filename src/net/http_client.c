#include "net/http_client.h"

#include "core/err.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sinkctx {
    struct fh_buf *body;
    size_t max;
    bool too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct sinkctx *s = arg;
    size_t n = size * nmemb;
    if (s->body->len + n > s->max) {
        s->too_big = true;
        return 0;
    }
    return fh_buf_append(s->body, p, n) == 0 ? n : 0;
}

int fh_http_fetch(const struct fh_http_request *rq, long *status, struct fh_buf *body, char *err,
                  size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
        return FH_EIO;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return FH_ENOMEM;
    }
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; i < rq->n_headers; i++) {
        struct curl_slist *h = curl_slist_append(hdrs, rq->headers[i]);
        if (h == NULL) {
            curl_slist_free_all(hdrs);
            curl_easy_cleanup(c);
            snprintf(err, errlen, "out of memory");
            return FH_ENOMEM;
        }
        hdrs = h;
    }
    struct sinkctx sc = {body, rq->max_body ? rq->max_body : (1u << 20), false};
    char cerr[CURL_ERROR_SIZE] = "";
    long timeout = rq->timeout_ms > 0 ? (long)rq->timeout_ms : 30000L;
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    if (rq->method != NULL && strcmp(rq->method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
    if (hdrs != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sc);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "feedhandler/" FH_VERSION);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip: exchangeInfo is large */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (rq->ca_file != NULL && rq->ca_file[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, rq->insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, rq->insecure ? 0L : 2L);
    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        if (sc.too_big)
            snprintf(err, errlen, "%s %s: reply larger than %zu bytes",
                     rq->method ? rq->method : "GET", rq->url, sc.max);
        else
            snprintf(err, errlen, "%s %s failed: %s", rq->method ? rq->method : "GET", rq->url,
                     cerr[0] ? cerr : curl_easy_strerror(rc));
        ret = FH_EIO;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return ret;
}
