/*
 * replay.c - --replay FILE: play a recorded session (one server message per line, e.g.
 * the corpus's sessions/ files) to the subscribers of one venue instead of generated trades.
 *
 * Binance recordings are combined-stream lines {"stream":S,"data":{...}}: a connection that
 * subscribed to S receives the line as recorded (combined) or its data object (raw). Kraken
 * v1 recordings hold the original systemStatus/subscriptionStatus lines, then channel arrays
 * [channelID, ..., channelName, pair] and heartbeats: the subscriptionStatus lines tell which
 * channelID each (channelName, pair) had, so our acks carry the recorded ids; a connection
 * subscribed to (channelName, pair) receives the arrays for it byte for byte, and every
 * subscribed connection receives the recorded heartbeats.
 *
 * Timing ("original timing"): the lines carry no receive timestamps, so time is derived from
 * the messages: Binance `E` (event time, ms), Kraken v1 the largest "seconds.micros" time
 * inside the message (trade rows, book levels). A line without a time is sent right after the
 * line before it; times never go backwards (running maximum). --replay-speed X plays X times
 * faster (0 = as fast as the clients read, in batches per tick). If a file carries no times at
 * all, lines are paced at --replay-rate lines/s. Playback starts when the first connection of
 * the venue subscribes to something, and stops at the end (or loops with --replay-loop).
 *
 * Truth log: each replayed trade gets a truth line when it is played: Binance trade (t) and
 * aggTrade (a) events with their own ids; Kraken v1 trade rows numbered per pair from 1.
 *
 * Layer 3 (fs_replay.h): plays through the core (fs_ws_send, subscriptions, the truth log).
 * The core reaches it through the hooks fs_replay_open installs; the venue modules ask the
 * core (fs_sim_replaying, fs_sim_replay_channel), never this file.
 */
#include "fs_replay.h"

#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MAX_BYTES    (256u * 1024 * 1024)
#define REPLAY_MAX_CHANNELS 4096
#define REPLAY_FAST_BATCH   2000

enum line_kind { L_SKIP = 0, L_BN_STREAM, L_KR_CHANNEL, L_KR_HEARTBEAT };

struct rline {
    uint32_t off, len;
    uint32_t data_off, data_len; /* Binance: the data object inside the line */
    int64_t t_ms;                /* derived time, ms (running maximum) */
    uint8_t kind;
    char key[FS_STREAM_NAME]; /* stream name, or "channelName|pair" */
};

struct rchan {
    char name[32];
    char pair[40];
    int id;
};

struct fs_replay {
    char *data;
    size_t len;
    struct rline *lines;
    size_t n;
    size_t next;
    int64_t t0_ms;
    int64_t start_ns; /* 0: waiting for the first subscriber */
    bool timed;
    bool finished;
    struct rchan *chans;
    size_t nchans;
    int64_t *kr_counters; /* per channel: trade rows played (truth ids) */
    uint64_t played;
};

static void replay_tick(struct fs_sim *sim, int64_t now_ns);

/* hooks.replay_channel: the recorded channelID of (channelName, pair), or -1. */
static int replay_channel(const struct fs_sim *sim, const char *channel, const char *pair)
{
    const struct fs_replay *r = sim->replay;
    if (r == NULL)
        return -1;
    for (size_t i = 0; i < r->nchans; i++) {
        if (strcmp(r->chans[i].name, channel) == 0 && strcmp(r->chans[i].pair, pair) == 0)
            return r->chans[i].id;
    }
    return -1;
}

static int64_t parse_int64(struct fh_str s)
{
    int64_t v = 0;
    for (size_t i = 0; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++)
        v = v * 10 + (s.p[i] - '0');
    return v;
}

/* "1617647603.472000" -> ms, or -1 if the text is not such a time. */
static int64_t kraken_time_ms(struct fh_str s)
{
    if (s.n < 12 || s.n > 20 || s.p[10] != '.')
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        if (i != 10 && (s.p[i] < '0' || s.p[i] > '9'))
            return -1;
    }
    int64_t sec = parse_int64((struct fh_str){s.p, 10});
    int64_t ms = 0;
    for (size_t i = 11; i < 14 && i < s.n; i++)
        ms = ms * 10 + (s.p[i] - '0');
    for (size_t i = s.n; i < 14; i++)
        ms *= 10;
    return sec * 1000 + ms;
}

static void add_channel(struct fs_replay *r, const struct fh_json *j)
{
    int st = fh_json_get(j, 0, "status");
    int name = fh_json_get(j, 0, "channelName");
    int pair = fh_json_get(j, 0, "pair");
    int id = fh_json_get(j, 0, "channelID");
    if (!fh_json_str_eq(j, st, "subscribed") || name < 0 || pair < 0 || id < 0)
        return;
    if (r->nchans >= REPLAY_MAX_CHANNELS)
        return;
    struct rchan *c = &r->chans[r->nchans];
    int64_t v;
    if (fh_json_str(j, name, c->name, sizeof(c->name), NULL) != 0 ||
        fh_json_str(j, pair, c->pair, sizeof(c->pair), NULL) != 0 || fh_json_i64(j, id, &v) != 0)
        return;
    c->id = (int)v;
    r->nchans++;
}

static void classify(struct fs_sim *sim, struct fs_replay *r, struct rline *l)
{
    struct fh_json *j = &sim->json;
    const char *p = r->data + l->off;
    l->kind = L_SKIP;
    l->t_ms = -1;
    if (fh_json_parse(j, p, l->len) != 0)
        return;
    if (sim->cfg.replay_venue == FS_BINANCE) {
        int s = fh_json_get(j, 0, "stream");
        int d = fh_json_get(j, 0, "data");
        if (fh_json_type(j, 0) != JSMN_OBJECT || !fh_json_is_str(j, s) || d < 0)
            return;
        struct fh_str name = fh_json_raw(j, s);
        if (name.n >= FS_STREAM_NAME)
            return;
        memcpy(l->key, name.p, name.n);
        l->key[name.n] = '\0';
        l->kind = L_BN_STREAM;
        l->data_off = (uint32_t)j->tok[d].start;
        l->data_len = (uint32_t)(j->tok[d].end - j->tok[d].start);
        int e = fh_json_type(j, d) == JSMN_OBJECT ? fh_json_get(j, d, "E") : -1;
        int64_t v;
        if (e >= 0 && fh_json_i64(j, e, &v) == 0)
            l->t_ms = v;
        return;
    }
    if (fh_json_type(j, 0) == JSMN_OBJECT) {
        int ev = fh_json_get(j, 0, "event");
        if (fh_json_str_eq(j, ev, "heartbeat"))
            l->kind = L_KR_HEARTBEAT;
        else if (fh_json_str_eq(j, ev, "subscriptionStatus"))
            add_channel(r, j);
        return;
    }
    int n = fh_json_size(j, 0);
    if (n < 4)
        return;
    int name = fh_json_at(j, 0, n - 2), pair = fh_json_at(j, 0, n - 1);
    char nm[32], pr[40];
    if (fh_json_str(j, name, nm, sizeof(nm), NULL) != 0 ||
        fh_json_str(j, pair, pr, sizeof(pr), NULL) != 0)
        return;
    char key[96];
    snprintf(key, sizeof(key), "%s|%s", nm, pr);
    if (strlen(key) >= sizeof(l->key))
        return;
    memcpy(l->key, key, strlen(key) + 1);
    l->kind = L_KR_CHANNEL;
    for (int i = 1; i < j->n; i++) {
        if (j->tok[i].type != JSMN_STRING)
            continue;
        int64_t ms = kraken_time_ms(fh_json_raw(j, i));
        if (ms > l->t_ms)
            l->t_ms = ms;
    }
}

int fs_replay_open(struct fs_sim *sim)
{
    const char *path = sim->cfg.replay_path;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        log_error("cannot open replay file", "path=%s err=\"%s\"", path, strerror(errno));
        return -errno;
    }
    struct fs_replay *r = calloc(1, sizeof(*r));
    int rc = FH_ENOMEM;
    if (r == NULL)
        goto fail;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz < 0 || (unsigned long)sz > REPLAY_MAX_BYTES) {
        log_error("replay file too large", "path=%s bytes=%ld max=%u", path, sz, REPLAY_MAX_BYTES);
        rc = FH_ERANGE;
        goto fail;
    }
    r->len = (size_t)sz;
    r->data = malloc(r->len + 1);
    r->chans = calloc(REPLAY_MAX_CHANNELS, sizeof(*r->chans));
    if (r->data == NULL || r->chans == NULL || fread(r->data, 1, r->len, f) != r->len)
        goto fail;
    r->data[r->len] = '\0';
    size_t cap = 1;
    for (size_t i = 0; i < r->len; i++)
        cap += r->data[i] == '\n';
    r->lines = calloc(cap, sizeof(*r->lines));
    if (r->lines == NULL)
        goto fail;
    int64_t last_t = -1;
    size_t timed = 0;
    for (size_t off = 0; off < r->len;) {
        char *nl = memchr(r->data + off, '\n', r->len - off);
        size_t end = nl != NULL ? (size_t)(nl - r->data) : r->len;
        if (end > off) {
            struct rline *l = &r->lines[r->n];
            l->off = (uint32_t)off;
            l->len = (uint32_t)(end - off);
            classify(sim, r, l);
            if (l->kind != L_SKIP) {
                if (l->t_ms >= 0)
                    timed++;
                if (l->t_ms < last_t)
                    l->t_ms = last_t;
                last_t = l->t_ms;
                r->n++;
            }
        }
        off = end + 1;
    }
    r->timed = timed > 0;
    if (!r->timed) {
        double rate = sim->cfg.replay_rate > 0 ? sim->cfg.replay_rate : 100;
        for (size_t i = 0; i < r->n; i++)
            r->lines[i].t_ms = (int64_t)((double)i * 1000.0 / rate);
    } else {
        /* Lines before the first timed one play at the start. */
        int64_t first = -1;
        for (size_t i = 0; i < r->n && first < 0; i++)
            first = r->lines[i].t_ms;
        for (size_t i = 0; i < r->n && r->lines[i].t_ms < 0; i++)
            r->lines[i].t_ms = first;
    }
    r->t0_ms = r->n > 0 ? r->lines[0].t_ms : 0;
    r->kr_counters = calloc(REPLAY_MAX_CHANNELS + 1, sizeof(*r->kr_counters));
    if (r->kr_counters == NULL)
        goto fail;
    fclose(f);
    sim->replay = r;
    sim->hooks.after_gen = replay_tick;
    sim->hooks.replay_channel = replay_channel;
    log_info("replay loaded", "path=%s venue=%s lines=%zu channels=%zu timed=%s", path,
             fs_venue_name(sim->cfg.replay_venue), r->n, r->nchans, r->timed ? "yes" : "no");
    return 0;
fail:
    fclose(f);
    if (r != NULL) {
        free(r->data);
        free(r->lines);
        free(r->chans);
        free(r);
    }
    if (rc == FH_ENOMEM)
        log_error("cannot load replay file", "path=%s", path);
    return rc;
}

void fs_replay_close(struct fs_sim *sim)
{
    struct fs_replay *r = sim->replay;
    if (r == NULL)
        return;
    free(r->data);
    free(r->lines);
    free(r->chans);
    free(r->kr_counters);
    free(r);
    sim->replay = NULL;
    sim->hooks.after_gen = NULL;
    sim->hooks.replay_channel = NULL;
}

static void truth_line(struct fs_sim *sim, int venue, struct fh_str sym, int64_t id,
                       struct fh_str px, struct fh_str qty, bool sell, int64_t time_us)
{
    if (!sim->truth.on)
        return;
    char *p = fs_truth_reserve(&sim->truth, 512);
    if (p == NULL) {
        sim->truth.stalls++;
        return;
    }
    int n = snprintf(p, 512,
                     "{\"venue\":\"%s\",\"native_symbol\":\"%.*s\",\"trade_id\":%lld,\"price\":"
                     "\"%.*s\",\"quantity\":\"%.*s\",\"side\":\"%s\",\"trade_time_us\":%lld}\n",
                     fs_venue_name(venue), (int)(sym.n > 40 ? 40 : sym.n), sym.p, (long long)id,
                     (int)(px.n > 48 ? 48 : px.n), px.p, (int)(qty.n > 48 ? 48 : qty.n), qty.p,
                     sell ? "sell" : "buy", (long long)time_us);
    if (n > 0 && n < 512)
        fs_truth_commit(&sim->truth, (size_t)n);
}

static void truth_binance(struct fs_sim *sim, const char *p, size_t n)
{
    struct fh_json *j = &sim->json;
    if (fh_json_parse(j, p, n) != 0 || fh_json_type(j, 0) != JSMN_OBJECT)
        return;
    int e = fh_json_get(j, 0, "e");
    bool agg = fh_json_str_eq(j, e, "aggTrade");
    if (!agg && !fh_json_str_eq(j, e, "trade"))
        return;
    int id = fh_json_get(j, 0, agg ? "a" : "t"), s = fh_json_get(j, 0, "s");
    int px = fh_json_get(j, 0, "p"), q = fh_json_get(j, 0, "q"), t = fh_json_get(j, 0, "T");
    int m = fh_json_get(j, 0, "m");
    int64_t idv, tv;
    bool mv = false;
    if (id < 0 || s < 0 || px < 0 || q < 0 || t < 0 || fh_json_i64(j, id, &idv) != 0 ||
        fh_json_i64(j, t, &tv) != 0)
        return;
    if (m >= 0)
        fh_json_bool(j, m, &mv);
    truth_line(sim, FS_BINANCE, fh_json_raw(j, s), idv, fh_json_raw(j, px), fh_json_raw(j, q), mv,
               tv * 1000);
}

static void truth_kraken(struct fs_sim *sim, struct fs_replay *r, const char *p, size_t n)
{
    struct fh_json *j = &sim->json;
    if (fh_json_parse(j, p, n) != 0 || fh_json_type(j, 0) != JSMN_ARRAY)
        return;
    int sz = fh_json_size(j, 0);
    if (sz != 4 || !fh_json_str_eq(j, fh_json_at(j, 0, 2), "trade"))
        return;
    int pair = fh_json_at(j, 0, 3), rows = fh_json_at(j, 0, 1);
    struct fh_str pr = fh_json_raw(j, pair);
    char pname[40];
    snprintf(pname, sizeof(pname), "%.*s", (int)(pr.n > 39 ? 39 : pr.n), pr.p);
    size_t ci = REPLAY_MAX_CHANNELS;
    for (size_t i = 0; i < r->nchans; i++) {
        if (strcmp(r->chans[i].name, "trade") == 0 && strcmp(r->chans[i].pair, pname) == 0)
            ci = i;
    }
    for (int k = 0; k < fh_json_size(j, rows); k++) {
        int row = fh_json_at(j, rows, k);
        if (fh_json_type(j, row) != JSMN_ARRAY || fh_json_size(j, row) < 4)
            continue;
        struct fh_str ts = fh_json_raw(j, fh_json_at(j, row, 2));
        const char *dot = memchr(ts.p, '.', ts.n);
        int64_t us = 0;
        if (dot != NULL) {
            us = parse_int64((struct fh_str){ts.p, (size_t)(dot - ts.p)}) * 1000000;
            int64_t frac = 0;
            size_t fl = ts.n - (size_t)(dot - ts.p) - 1;
            for (size_t i = 0; i < 6; i++)
                frac = frac * 10 + (i < fl ? dot[1 + i] - '0' : 0);
            us += frac;
        }
        bool sell = fh_json_str_eq(j, fh_json_at(j, row, 3), "s");
        truth_line(sim, FS_KRAKEN_V1, pr, ++r->kr_counters[ci],
                   fh_json_raw(j, fh_json_at(j, row, 0)), fh_json_raw(j, fh_json_at(j, row, 1)),
                   sell, us);
    }
}

static void play(struct fs_sim *sim, struct fs_replay *r, const struct rline *l)
{
    const char *p = r->data + l->off;
    for (struct fs_conn *c = sim->conns; c != NULL; c = c->next) {
        if (c->phase != FS_PH_WS || c->venue != sim->cfg.replay_venue || c->nsubs == 0)
            continue;
        if (l->kind == L_KR_HEARTBEAT) {
            fs_ws_send(c, WSLAY_TEXT_FRAME, p, l->len);
            continue;
        }
        if (fs_sub_find(c, l->key) < 0)
            continue;
        if (l->kind == L_BN_STREAM && !c->combined)
            fs_ws_send_text(c, p + l->data_off, l->data_len);
        else
            fs_ws_send_text(c, p, l->len);
    }
    if (l->kind == L_BN_STREAM)
        truth_binance(sim, p + l->data_off, l->data_len);
    else if (l->kind == L_KR_CHANNEL)
        truth_kraken(sim, r, p, l->len);
    r->played++;
}

/* hooks.after_gen: plays the lines due (installed only while a session is loaded). */
static void replay_tick(struct fs_sim *sim, int64_t now_ns)
{
    struct fs_replay *r = sim->replay;
    if (r->finished || r->n == 0)
        return;
    if (r->start_ns == 0) {
        for (struct fs_conn *c = sim->conns; c != NULL; c = c->next) {
            if (c->phase == FS_PH_WS && c->venue == sim->cfg.replay_venue && c->nsubs > 0) {
                r->start_ns = now_ns;
                log_info("replay started", "lines=%zu", r->n);
                break;
            }
        }
        if (r->start_ns == 0)
            return;
    }
    double speed = sim->cfg.replay_speed;
    int64_t due_ms =
        speed > 0 ? (int64_t)((double)(now_ns - r->start_ns) / 1e6 * speed) : INT64_MAX;
    size_t budget = speed > 0 ? SIZE_MAX : REPLAY_FAST_BATCH;
    while (r->next < r->n && budget-- > 0 && r->lines[r->next].t_ms - r->t0_ms <= due_ms)
        play(sim, r, &r->lines[r->next++]);
    if (r->next == r->n) {
        if (sim->cfg.replay_loop) {
            r->next = 0;
            r->start_ns = now_ns;
        } else {
            r->finished = true;
            log_info("replay finished", "played=%llu", (unsigned long long)r->played);
        }
    }
}
