/*
 * mockbroker - an N-broker Kafka cluster on loopback, for tests (librdkafka's mock cluster,
 * rdkafka_mock.h).
 *
 * Usage: mockbroker [-n BROKERS]   (default 3 brokers)
 *
 * The first line on stdout is the bootstrap list (host:port,host:port,...), flushed at once,
 * so a test can read it and start its clients. Then commands are read from stdin, one per
 * line, and each is answered with one line on stdout, "ok" or "error <reason>":
 *
 *   down ID                  take broker ID (1..N) down: its connections close, new ones fail
 *   up ID                    bring broker ID back up
 *   rtt ID MS                delay every response of broker ID by MS milliseconds (0: none)
 *   create TOPIC PARTS [RF]  create a topic with PARTS partitions (replication factor RF)
 *   leader TOPIC PART ID     move the leadership of one partition to broker ID (-1: none)
 *   all down | all up        every broker at once
 *   all rtt MS               the same delay on every broker
 *   ping                     answers ok (a test can wait until the tool is responsive)
 *   quit                     exit
 *
 * Topics that clients use without creating them are created on first use with the mock
 * cluster's default partition count (librdkafka 2.0.2: 4). The cluster serves what producers and
 * consumers need: Metadata, Produce (with idempotence), Fetch, ListOffsets, consumer groups and
 * offset commits, so kcat and python3-confluent-kafka can read what our producer wrote.
 *
 * Exits 0 on SIGTERM, SIGINT, "quit" or end of stdin.
 */
#include "core/log.h"

#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void reply(const char *fmt, ...) FH_PRINTF(1, 2);
static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void reply_err(rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        reply("ok");
    else
        reply("error %s", rd_kafka_err2str(err));
}

/* Splits line into at most max words (in place). Returns the number of words. */
static int split(char *line, char **argv, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r\n", &save); w != NULL && n < max;
         w = strtok_r(NULL, " \t\r\n", &save))
        argv[n++] = w;
    return n;
}

/* Applies fn to broker id, or to every broker for "all". */
static rd_kafka_resp_err_t
each_broker(rd_kafka_mock_cluster_t *mc, int nbrokers, long id,
            rd_kafka_resp_err_t (*fn)(rd_kafka_mock_cluster_t *, int32_t, int), int arg)
{
    if (id >= 1)
        return fn(mc, (int32_t)id, arg);
    for (int b = 1; b <= nbrokers; b++) {
        rd_kafka_resp_err_t err = fn(mc, b, arg);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            return err;
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t set_down(rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
    (void)unused;
    return rd_kafka_mock_broker_set_down(mc, id);
}

static rd_kafka_resp_err_t set_up(rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
    (void)unused;
    return rd_kafka_mock_broker_set_up(mc, id);
}

static rd_kafka_resp_err_t set_rtt(rd_kafka_mock_cluster_t *mc, int32_t id, int ms)
{
    return rd_kafka_mock_broker_set_rtt(mc, id, ms);
}

/* Parses a broker id or "all" (returned as 0). Returns -1 on error (already answered). */
static long broker_arg(const char *s, int nbrokers)
{
    long id;
    if (strcmp(s, "all") == 0)
        return 0;
    if (parse_int(s, 1, nbrokers, &id) != 0) {
        reply("error broker id must be 1..%d or all", nbrokers);
        return -1;
    }
    return id;
}

/* Runs one command line. Returns false on quit. */
static bool command(rd_kafka_mock_cluster_t *mc, int nbrokers, char *line)
{
    char *argv[8];
    int argc = split(line, argv, 8);
    long id, v, parts, rf;
    if (argc == 0)
        return true;
    const char *cmd = argv[0];
    /* "all down", "all up", "all rtt MS" read as "down all", ... */
    if (strcmp(cmd, "all") == 0 && argc >= 2) {
        argv[0] = argv[1];
        argv[1] = (char *)"all";
        cmd = argv[0];
    }
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
        reply("ok");
        return false;
    }
    if (strcmp(cmd, "ping") == 0) {
        reply("ok");
    } else if ((strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) && argc == 2) {
        if ((id = broker_arg(argv[1], nbrokers)) >= 0)
            reply_err(each_broker(mc, nbrokers, id, cmd[0] == 'd' ? set_down : set_up, 0));
    } else if (strcmp(cmd, "rtt") == 0 && argc == 3) {
        if ((id = broker_arg(argv[1], nbrokers)) < 0)
            return true;
        if (parse_int(argv[2], 0, 3600000, &v) != 0)
            reply("error rtt must be 0..3600000 ms");
        else
            reply_err(each_broker(mc, nbrokers, id, set_rtt, (int)v));
    } else if (strcmp(cmd, "create") == 0 && (argc == 3 || argc == 4)) {
        rf = nbrokers < 3 ? nbrokers : 3;
        if (parse_int(argv[2], 1, 10000, &parts) != 0 ||
            (argc == 4 && parse_int(argv[3], 1, nbrokers, &rf) != 0))
            reply("error usage: create TOPIC PARTITIONS [REPLICATION_FACTOR]");
        else
            reply_err(rd_kafka_mock_topic_create(mc, argv[1], (int)parts, (int)rf));
    } else if (strcmp(cmd, "leader") == 0 && argc == 4) {
        if (parse_int(argv[2], 0, 10000, &parts) != 0 || parse_int(argv[3], -1, nbrokers, &id))
            reply("error usage: leader TOPIC PARTITION BROKER_ID");
        else
            reply_err(rd_kafka_mock_partition_set_leader(mc, argv[1], (int32_t)parts, (int32_t)id));
    } else {
        reply("error unknown command (down ID, up ID, rtt ID MS, create TOPIC PARTS [RF], "
              "leader TOPIC PART ID, all down|up|rtt MS, ping, quit)");
    }
    return true;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mockbroker [-n BROKERS]\n");
}

int main(int argc, char **argv)
{
    long nbrokers = 3;
    int ch;
    while ((ch = getopt(argc, argv, "n:h")) != -1) {
        switch (ch) {
        case 'n':
            if (parse_int(optarg, 1, 64, &nbrokers) != 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The mock cluster lives inside a client instance; a producer without brokers is the
     * cheapest one. */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mockbroker: %s\n", errstr);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "mockbroker: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)nbrokers);
    if (mc == NULL) {
        fprintf(stderr, "mockbroker: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    char line[1024];
    size_t used = 0;
    bool running = true;
    while (running && !stop_requested) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        int n = poll(&pfd, 1, 500);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        ssize_t r = read(0, line + used, sizeof(line) - 1 - used);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            break; /* end of stdin */
        }
        used += (size_t)r;
        line[used] = '\0';
        char *nl;
        while (running && (nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            running = command(mc, (int)nbrokers, line);
            size_t rest = used - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest);
            used = rest;
            line[used] = '\0';
        }
        if (used == sizeof(line) - 1) {
            reply("error line too long");
            used = 0;
        }
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
