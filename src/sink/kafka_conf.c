#include "sink/kafka_conf.h"

#include "core/err.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

/* librdkafka ends some of its messages with a newline; our messages are one line each. */
static void trim_trailing_space(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

int fh_kafka_conf_check(const char *name, const char *value, char *errstr, size_t errstr_size)
{
    char msg[512] = "";
    int rc = 0;

    /* A fresh configuration per property: each check sees librdkafka's defaults only, so the
     * result does not depend on which properties were checked before. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL) {
        rc = FH_ENOMEM;
        snprintf(msg, sizeof(msg), "out of memory");
        goto out;
    }
    if (rd_kafka_conf_set(conf, name, value, msg, sizeof(msg)) != RD_KAFKA_CONF_OK) {
        rc = FH_ECONFIG;
        trim_trailing_space(msg);
        if (msg[0] == '\0')
            snprintf(msg, sizeof(msg), "rejected by librdkafka");
    }
    rd_kafka_conf_destroy(conf);
out:
    if (errstr_size > 0)
        snprintf(errstr, errstr_size, "%s", rc == 0 ? "" : msg);
    return rc;
}
