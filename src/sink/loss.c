/*
 * loss.c - counted, logged loss of trades (see loss.h).
 */
#include "sink/loss.h"

#include "core/clock.h"
#include "core/log.h"

#include <inttypes.h>
#include <string.h>

#define RUN_AGE_NS 1000000000LL

static const char *const REASONS[FH_LOSS_REASON_COUNT] = {
    "spool_full", "spool_write", "spool_unreadable", "rejected", "shutdown", "encode",
};

const char *fh_loss_reason_name(enum fh_loss_reason r)
{
    return (unsigned)r < FH_LOSS_REASON_COUNT ? REASONS[r] : "unknown";
}

void fh_loss_init(struct fh_loss *l, uint64_t *total)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    l->total = total;
}

void fh_loss_destroy(struct fh_loss *l)
{
    fh_loss_flush(l);
    pthread_mutex_destroy(&l->mu);
}

static void log_run(const struct fh_loss_run *r)
{
    struct fh_str key = {r->key, r->keylen};
    const char *colon = memchr(key.p, ':', key.n);
    struct fh_str venue = colon ? (struct fh_str){key.p, (size_t)(colon - key.p)} : key;
    struct fh_str symbol = colon ? (struct fh_str){colon + 1, key.n - (size_t)(colon - key.p) - 1}
                                 : (struct fh_str){"", 0};
    if (venue.n == 0)
        venue = fh_str_c("-");
    if (symbol.n == 0)
        symbol = fh_str_c("-");
    if (r->kind == FH_LOSS_ID_TRADE)
        log_error("trades lost",
                  "reason=%s venue=%.*s symbol=%.*s id_kind=trade_id first=%" PRId64
                  " last=%" PRId64 " count=%" PRIu64,
                  fh_loss_reason_name(r->reason), (int)venue.n, venue.p, (int)symbol.n, symbol.p,
                  r->first, r->last, r->count);
    else if (r->kind == FH_LOSS_ID_SEQ)
        log_error("trades lost",
                  "reason=%s venue=%.*s symbol=%.*s id_kind=sequence conn=%" PRId64
                  " first=%" PRId64 " last=%" PRId64 " count=%" PRIu64,
                  fh_loss_reason_name(r->reason), (int)venue.n, venue.p, (int)symbol.n, symbol.p,
                  r->conn, r->first, r->last, r->count);
    else
        log_error("trades lost", "reason=%s venue=%.*s symbol=%.*s id_kind=none count=%" PRIu64,
                  fh_loss_reason_name(r->reason), (int)venue.n, venue.p, (int)symbol.n, symbol.p,
                  r->count);
}

/* Under mu. */
static void drop_run(struct fh_loss *l, int i)
{
    log_run(&l->runs[i]);
    l->runs[i] = l->runs[--l->nruns];
}

void fh_loss_add(struct fh_loss *l, enum fh_loss_reason why, const struct fh_loss_item *it,
                 uint64_t n)
{
    if (n == 0)
        return;
    if ((unsigned)why >= FH_LOSS_REASON_COUNT)
        why = FH_LOSS_REJECTED;
    __atomic_fetch_add(&l->by_reason[why], n, __ATOMIC_RELAXED);
    if (l->total != NULL)
        __atomic_fetch_add(l->total, n, __ATOMIC_RELAXED);
    size_t kn = it->key.n < FH_LOSS_KEY_MAX ? it->key.n : FH_LOSS_KEY_MAX;
    enum fh_loss_id_kind kind = n == 1 ? it->kind : FH_LOSS_ID_NONE;
    pthread_mutex_lock(&l->mu);
    int i;
    for (i = 0; i < l->nruns; i++) {
        struct fh_loss_run *r = &l->runs[i];
        if (r->reason == why && r->keylen == kn && memcmp(r->key, it->key.p, kn) == 0 &&
            r->kind == kind && (kind != FH_LOSS_ID_SEQ || r->conn == it->conn))
            break;
    }
    if (i < l->nruns) {
        struct fh_loss_run *r = &l->runs[i];
        if (kind == FH_LOSS_ID_NONE || it->id == r->last + 1) {
            r->last = it->id;
            r->count += n;
            pthread_mutex_unlock(&l->mu);
            return;
        }
        drop_run(l, i); /* not consecutive: that run is over */
    }
    if (l->nruns == FH_LOSS_RUNS) {
        int oldest = 0;
        for (int j = 1; j < l->nruns; j++)
            if (l->runs[j].since_ns < l->runs[oldest].since_ns)
                oldest = j;
        drop_run(l, oldest);
    }
    struct fh_loss_run *r = &l->runs[l->nruns++];
    r->reason = why;
    r->kind = kind;
    memcpy(r->key, it->key.p, kn);
    r->keylen = kn;
    r->conn = it->conn;
    r->first = r->last = it->id;
    r->count = n;
    r->since_ns = fh_clock_monotonic_ns();
    pthread_mutex_unlock(&l->mu);
}

void fh_loss_tick(struct fh_loss *l, int64_t now_ns)
{
    if (__atomic_load_n(&l->nruns, __ATOMIC_RELAXED) == 0)
        return;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->nruns;) {
        if (now_ns - l->runs[i].since_ns >= RUN_AGE_NS)
            drop_run(l, i);
        else
            i++;
    }
    pthread_mutex_unlock(&l->mu);
}

void fh_loss_flush(struct fh_loss *l)
{
    pthread_mutex_lock(&l->mu);
    while (l->nruns > 0)
        drop_run(l, l->nruns - 1);
    pthread_mutex_unlock(&l->mu);
}

uint64_t fh_loss_total(const struct fh_loss *l)
{
    uint64_t t = 0;
    for (int i = 0; i < FH_LOSS_REASON_COUNT; i++)
        t += __atomic_load_n(&l->by_reason[i], __ATOMIC_RELAXED);
    return t;
}

void fh_loss_item_from_trade(struct fh_loss_item *it, const struct fh_trade *t, char *keybuf,
                             size_t keycap)
{
    size_t n = 0;
    if (t->venue.n + 1 + t->symbol.n <= keycap) {
        memcpy(keybuf, t->venue.p, t->venue.n);
        keybuf[t->venue.n] = ':';
        memcpy(keybuf + t->venue.n + 1, t->symbol.p, t->symbol.n);
        n = t->venue.n + 1 + t->symbol.n;
    }
    it->key = (struct fh_str){keybuf, n};
    it->conn = t->connection_id;
    if (t->has & FH_HAS_TRADE_ID) {
        it->kind = FH_LOSS_ID_TRADE;
        it->id = t->trade_id;
    } else {
        it->kind = FH_LOSS_ID_SEQ;
        it->id = t->sequence;
    }
}

/* ---- reading ids back from encoded records ----------------------------------------------------
 */

static bool varint(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return true;
        }
    }
    return false;
}

/* The trade id of an Avro record (fields venue, symbol, native_symbol, trade_id). */
static bool avro_trade_id(const uint8_t *p, const uint8_t *end, int64_t *id)
{
    for (int i = 0; i < 3; i++) {
        int64_t n;
        if (!varint(&p, end, &n) || n < 0 || n > end - p)
            return false;
        p += n;
    }
    int64_t branch;
    if (!varint(&p, end, &branch) || branch != 1)
        return false;
    return varint(&p, end, id);
}

static bool json_trade_id(const char *p, size_t n, int64_t *id)
{
    static const char K[] = "\"trade_id\":";
    size_t kl = sizeof(K) - 1;
    for (size_t i = 0; i + kl < n; i++) {
        if (memcmp(p + i, K, kl) != 0)
            continue;
        size_t j = i + kl;
        while (j < n && p[j] == ' ')
            j++;
        bool neg = j < n && p[j] == '-';
        j += neg;
        if (j >= n || p[j] < '0' || p[j] > '9')
            return false;
        int64_t v = 0;
        while (j < n && p[j] >= '0' && p[j] <= '9' && v < INT64_MAX / 10)
            v = v * 10 + (p[j++] - '0');
        *id = neg ? -v : v;
        return true;
    }
    return false;
}

static bool header_i64(struct fh_str blob, const char *name, int64_t *out)
{
    const uint8_t *b = (const uint8_t *)blob.p;
    size_t o = 0, nl = strlen(name);
    while (o + 1 <= blob.n) {
        size_t nn = b[o];
        if (o + 1 + nn + 2 > blob.n)
            return false;
        size_t vn = (size_t)b[o + 1 + nn] | ((size_t)b[o + 2 + nn] << 8);
        if (o + 3 + nn + vn > blob.n)
            return false;
        if (nn == nl && memcmp(b + o + 1, name, nl) == 0) {
            const char *v = (const char *)b + o + 3 + nn;
            int64_t x = 0;
            bool neg = vn > 0 && v[0] == '-';
            size_t i = neg;
            if (i >= vn)
                return false;
            for (; i < vn; i++) {
                if (v[i] < '0' || v[i] > '9' || x > INT64_MAX / 10)
                    return false;
                x = x * 10 + (v[i] - '0');
            }
            *out = neg ? -x : x;
            return true;
        }
        o += 3 + nn + vn;
    }
    return false;
}

void fh_loss_item_from_record(struct fh_loss_item *it, enum fh_sink_format format,
                              struct fh_str key, struct fh_str value, struct fh_str headers)
{
    it->key = key;
    it->kind = FH_LOSS_ID_NONE;
    it->id = 0;
    it->conn = 0;
    const uint8_t *v = (const uint8_t *)value.p, *end = v + value.n;
    int64_t id;
    bool ok = false;
    if (format == FH_SINK_AVRO) {
        if (value.n >= 5 && v[0] == 0)
            ok = avro_trade_id(v + 5, end, &id); /* Confluent: magic 0, schema id */
        else if (value.n >= 10 && v[0] == 0xC3 && v[1] == 0x01)
            ok = avro_trade_id(v + 10, end, &id); /* single object: C3 01, fingerprint */
    } else {
        ok = json_trade_id(value.p, value.n, &id);
    }
    if (ok) {
        it->kind = FH_LOSS_ID_TRADE;
        it->id = id;
        return;
    }
    int64_t conn, seq;
    if (header_i64(headers, "connection_id", &conn) && header_i64(headers, "sequence", &seq)) {
        it->kind = FH_LOSS_ID_SEQ;
        it->conn = conn;
        it->id = seq;
    }
}
