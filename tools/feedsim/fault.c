/*
 * fault.c - fault injection: parsing "kind=...,key=value" specs, applying them to
 * connections, books and handshakes, and running scheduled faults and their expiries.
 * The syntax and every kind are documented in docs/FEEDSIM.md.
 *
 * Layer 3 (fs_fault.h): sets the core's fault mechanisms (stall, slow, omit, oversize,
 * handshake refuse/delay, skip) and calls the venue modules for the two venue-specific kinds
 * (Binance serverShutdown, Kraken status); the core reaches it only through the tick hook
 * installed by fs_fault_install.
 */
#include "fs_fault.h"

#include "fs_binance.h"
#include "fs_kraken.h"

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_names[FS_F_COUNT] = {
    "drop", "stall",  "resume", "malformed", "oversize",    "badutf8", "skip",
    "omit", "refuse", "delay",  "shutdown",  "maintenance", "slow",
};

int fs_parse_duration(const char *s, int64_t *ns)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return FH_EINVAL;
    double mul = 1e9;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mul = 1e9;
    else if (strcmp(end, "ms") == 0)
        mul = 1e6;
    else if (strcmp(end, "us") == 0)
        mul = 1e3;
    else if (strcmp(end, "m") == 0)
        mul = 60e9;
    else if (strcmp(end, "h") == 0)
        mul = 3600e9;
    else
        return FH_EINVAL;
    double r = v * mul;
    if (r > 9e18)
        return FH_EINVAL;
    *ns = (int64_t)r;
    return 0;
}

static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi)
        return FH_EINVAL;
    *out = v;
    return 0;
}

/* Bytes with an optional k/m/g suffix (powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return FH_EINVAL;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mul = 1024ULL * 1024 * 1024, end++;
    if (*end != '\0' || v > (1ULL << 40))
        return FH_EINVAL;
    *out = v * mul;
    return 0;
}

int fs_fault_parse(const struct fs_sim *sim, const char *spec, struct fs_fault *f, char *errbuf,
                   size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->kind = FS_F_COUNT;
    f->at_ns = -1;
    f->venue_mask = (1 << FS_BINANCE) | (1 << FS_KRAKEN_V1) | (1 << FS_KRAKEN_V2);
    f->symbol = -1;
    f->code = -1;
    f->mode = FS_DROP_CLOSE;
    char buf[512];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(errbuf, errlen, "fault spec too long");
        return FH_EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",&", &save); kv != NULL; kv = strtok_r(NULL, ",&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            snprintf(errbuf, errlen, "expected key=value, got '%s'", kv);
            return FH_EINVAL;
        }
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        int64_t n = 0;
        int rc = 0;
        if (strcmp(k, "kind") == 0) {
            for (int i = 0; i < FS_F_COUNT; i++) {
                if (strcmp(v, kind_names[i]) == 0)
                    f->kind = (enum fs_fault_kind)i;
            }
            rc = f->kind == FS_F_COUNT ? FH_EINVAL : 0;
        } else if (strcmp(k, "at") == 0) {
            rc = fs_parse_duration(v, &f->at_ns);
        } else if (strcmp(k, "for") == 0) {
            rc = fs_parse_duration(v, &f->for_ns);
        } else if (strcmp(k, "venue") == 0) {
            int ven;
            if (strcmp(v, "all") == 0)
                f->venue_mask = 7;
            else if (strcmp(v, "kraken") == 0)
                f->venue_mask = (1 << FS_KRAKEN_V1) | (1 << FS_KRAKEN_V2);
            else if ((rc = fs_venue_parse(v, &ven)) == 0)
                f->venue_mask = 1 << ven;
        } else if (strcmp(k, "conn") == 0) {
            rc = parse_int(v, 1, INT64_MAX, &n);
            f->conn_id = (uint64_t)n;
        } else if (strcmp(k, "symbol") == 0) {
            rc = FH_EINVAL;
            for (size_t i = 0; i < sim->nsyms; i++) {
                if (strcmp(v, sim->syms[i].canon) == 0) {
                    f->symbol = (int)i;
                    rc = 0;
                }
            }
        } else if (strcmp(k, "count") == 0) {
            rc = parse_int(v, 1, 1000000000, &f->count);
        } else if (strcmp(k, "code") == 0) {
            rc = parse_int(v, 1000, 4999, &n);
            f->code = (int)n;
        } else if (strcmp(k, "status") == 0) {
            rc = parse_int(v, 100, 599, &n);
            f->code = (int)n;
        } else if (strcmp(k, "mode") == 0) {
            if (strcmp(v, "close") == 0)
                f->mode = FS_DROP_CLOSE;
            else if (strcmp(v, "reset") == 0)
                f->mode = FS_DROP_RESET;
            else if (strcmp(v, "eof") == 0)
                f->mode = FS_DROP_EOF;
            else if (strcmp(v, "queue") == 0)
                f->queue = true;
            else if (strcmp(v, "discard") == 0)
                f->queue = false;
            else
                rc = FH_EINVAL;
        } else if (strcmp(k, "reason") == 0) {
            snprintf(f->reason, sizeof(f->reason), "%s", v);
        } else if (strcmp(k, "delay") == 0 || strcmp(k, "after") == 0) {
            rc = fs_parse_duration(v, &f->delay_ns);
        } else if (strcmp(k, "bytes") == 0 || strcmp(k, "bps") == 0) {
            rc = parse_bytes(v, &f->bytes);
        } else {
            snprintf(errbuf, errlen, "unknown key '%s'", k);
            return FH_EINVAL;
        }
        if (rc != 0) {
            snprintf(errbuf, errlen, "bad value for %s: '%s'", k, v);
            return FH_EINVAL;
        }
    }
    if (f->kind == FS_F_COUNT) {
        snprintf(errbuf, errlen,
                 "kind= is required (drop, stall, resume, malformed, oversize, "
                 "badutf8, skip, omit, refuse, delay, shutdown, maintenance, slow)");
        return FH_EINVAL;
    }
    if (f->kind == FS_F_OVERSIZE && f->bytes != 0 && f->bytes < 16) {
        snprintf(errbuf, errlen, "oversize needs bytes >= 16");
        return FH_EINVAL;
    }
    return 0;
}

static bool matches(const struct fs_fault *f, const struct fs_conn *c)
{
    if (c->venue == FS_CONTROL || (f->venue_mask & (1 << c->venue)) == 0)
        return false;
    if (f->conn_id != 0)
        return c->id == f->conn_id && c->phase != FS_PH_CLOSING;
    return c->phase == FS_PH_WS;
}

static void malformed(struct fs_conn *c, int64_t count)
{
    static const char *bodies[FS_NVENUES] = {
        "{\"e\":\"trade\",\"E\":1700000000000,\"s\":\"BTCUSDT\",\"t\":",
        "[336,[[\"65000.10000\",\"0.1",
        "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"BTC/USD\",\"price\":",
    };
    const char *m = bodies[c->venue];
    for (int64_t i = 0; i < count && c->phase == FS_PH_WS; i++)
        fs_ws_send(c, WSLAY_TEXT_FRAME, m, strlen(m));
}

static void bad_utf8(struct fs_conn *c, int64_t count)
{
    static const char payload[] = "{\"e\":\"trade\",\"s\":\"BTC\xff\xfe\xc3\x28USDT\"}";
    uint8_t frame[64];
    size_t hl = fs_ws_header(frame, WSLAY_TEXT_FRAME, sizeof(payload) - 1, true);
    memcpy(frame + hl, payload, sizeof(payload) - 1);
    for (int64_t i = 0; i < count; i++) {
        if (fs_conn_write_raw(c, frame, hl + sizeof(payload) - 1) != 0)
            return;
        c->frames_out++;
    }
}

static void oversize(struct fs_conn *c, uint64_t bytes)
{
    static const char prefix[] = "{\"pad\":\"";
    if (c->oversize_rem > 0)
        return;
    uint8_t head[10 + sizeof(prefix)];
    size_t hl = fs_ws_header(head, WSLAY_TEXT_FRAME, bytes, true);
    memcpy(head + hl, prefix, sizeof(prefix) - 1);
    if (fs_conn_write_raw(c, head, hl + sizeof(prefix) - 1) != 0)
        return;
    c->frames_out++;
    c->oversize_rem = bytes - (sizeof(prefix) - 1);
    fh_stream_notify_writable(&c->st, true);
}

static void set_maintenance(struct fs_sim *sim, bool on, int64_t until_ns, int close_code)
{
    bool was = sim->kr_maintenance;
    sim->kr_maintenance = on;
    sim->faults->kr_maint_until_ns = on ? until_ns : 0;
    if (was && !on)
        fs_gen_resync(sim, FS_EX_KRAKEN, sim->now_ns);
    if (was == on)
        return;
    log_info(on ? "kraken maintenance" : "kraken online", "");
    for (struct fs_conn *c = sim->conns; c != NULL; c = c->next) {
        if (c->phase != FS_PH_WS || (c->venue != FS_KRAKEN_V1 && c->venue != FS_KRAKEN_V2))
            continue;
        fs_kr_push_status(c);
        if (on && close_code > 0)
            fs_ws_close(c, close_code, "Maintenance");
    }
}

static void resume(struct fs_sim *sim, const struct fs_fault *f, int *n)
{
    for (struct fs_conn *c = sim->conns; c != NULL; c = c->next) {
        if (!matches(f, c))
            continue;
        if (c->stalled || c->slow_bps != 0)
            (*n)++;
        c->stalled = false;
        c->stall_until_ns = 0;
        c->slow_bps = 0;
        fh_stream_set_write_paused(&c->st, false);
    }
    for (int v = 0; v < FS_NVENUES; v++) {
        if (f->venue_mask & (1 << v)) {
            memset(&sim->hs[v], 0, sizeof(sim->hs[v]));
        }
    }
    if ((f->venue_mask & ((1 << FS_KRAKEN_V1) | (1 << FS_KRAKEN_V2))) && sim->kr_maintenance) {
        set_maintenance(sim, false, 0, 0);
        (*n)++;
    }
}

int fs_fault_apply(struct fs_sim *sim, const struct fs_fault *f)
{
    int64_t now = sim->now_ns;
    int n = 0;
    int64_t count = f->count > 0 ? f->count : 1;
    int64_t until = f->for_ns > 0 ? now + f->for_ns : 0;
    log_info("fault", "kind=%s venues=%d conn=%llu count=%lld", kind_names[f->kind], f->venue_mask,
             (unsigned long long)f->conn_id, (long long)f->count);
    switch (f->kind) {
    case FS_F_SKIP:
    case FS_F_MAINTENANCE:
    case FS_F_REFUSE:
    case FS_F_DELAY:
    case FS_F_RESUME:
        break;
    default: {
        struct fs_conn *next;
        for (struct fs_conn *c = sim->conns; c != NULL; c = next) {
            next = c->next;
            if (!matches(f, c))
                continue;
            n++;
            switch (f->kind) {
            case FS_F_DROP:
                fs_conn_drop(c, f->mode, f->code > 0 ? f->code : 1001,
                             f->reason[0] ? f->reason : "Dropped by fault injection");
                break;
            case FS_F_STALL:
                /* Discard mode lets what is already buffered go out and sends nothing new;
                 * queue mode holds everything, old and new, until the resume. */
                c->stalled = true;
                c->stall_queue = f->queue;
                c->stall_until_ns = until;
                if (f->queue)
                    fh_stream_set_write_paused(&c->st, true);
                break;
            case FS_F_SLOW:
                c->slow_bps = f->bytes > 0 ? f->bytes : 1000;
                c->slow_until_ns = until;
                c->slow_last_ns = now;
                fh_stream_set_write_paused(&c->st, true);
                break;
            case FS_F_MALFORMED:
                malformed(c, count);
                break;
            case FS_F_BADUTF8:
                bad_utf8(c, count);
                break;
            case FS_F_OVERSIZE:
                oversize(c, f->bytes > 0 ? f->bytes : 2 * 1024 * 1024);
                break;
            case FS_F_OMIT:
                for (size_t s = 0; s < sim->nsyms; s++) {
                    if (f->symbol < 0 || (int)s == f->symbol)
                        c->omit[s] += (uint32_t)count;
                }
                break;
            case FS_F_SHUTDOWN:
                if (c->venue == FS_BINANCE)
                    fs_bn_server_shutdown(c, f->delay_ns > 0 ? f->delay_ns : 1000000000);
                else
                    n--;
                break;
            default:
                break;
            }
        }
        return n;
    }
    }
    switch (f->kind) {
    case FS_F_SKIP:
        for (int e = 0; e < FS_NEXCH; e++) {
            bool hit = e == FS_EX_BINANCE ? (f->venue_mask & (1 << FS_BINANCE)) != 0
                                          : (f->venue_mask & 6) != 0;
            if (!hit || !sim->exch_on[e])
                continue;
            for (size_t s = 0; s < sim->nsyms; s++) {
                if (f->symbol >= 0 && (int)s != f->symbol)
                    continue;
                sim->books[e][s].skip_pending += count;
                n++;
            }
        }
        break;
    case FS_F_MAINTENANCE:
        if (f->venue_mask & 6) {
            set_maintenance(sim, true, until, f->code > 0 ? f->code : 0);
            n = 1;
        }
        break;
    case FS_F_REFUSE:
    case FS_F_DELAY:
        for (int v = 0; v < FS_NVENUES; v++) {
            if ((f->venue_mask & (1 << v)) == 0)
                continue;
            struct fs_hs_fault *h = &sim->hs[v];
            if (f->kind == FS_F_REFUSE) {
                h->refuse_left = f->count > 0 ? f->count : -1;
                h->refuse_mode = f->mode;
                h->refuse_status = f->mode != FS_DROP_CLOSE ? 0 : (f->code > 0 ? f->code : 503);
                h->refuse_until_ns = until;
            } else {
                h->delay_left = f->count > 0 ? f->count : -1;
                h->delay_ns = f->delay_ns > 0 ? f->delay_ns : 2000000000;
                h->delay_until_ns = until;
            }
            n++;
        }
        break;
    case FS_F_RESUME:
        resume(sim, f, &n);
        break;
    default:
        break;
    }
    return n;
}

int fs_fault_schedule(struct fs_sim *sim, const struct fs_fault *f)
{
    struct fs_faults *fs = sim->faults;
    if (fs->nsched >= FS_MAX_FAULTS)
        return FH_ENOSPACE;
    fs->sched[fs->nsched++] = *f;
    return 0;
}

/* hooks.before_gen: scheduled faults and expiries. */
static void faults_tick(struct fs_sim *sim, int64_t now_ns)
{
    struct fs_faults *fs = sim->faults;
    int64_t elapsed = now_ns - sim->start_mono_ns;
    for (size_t i = 0; i < fs->nsched; i++) {
        struct fs_fault *f = &fs->sched[i];
        if (f->done || elapsed < (f->at_ns > 0 ? f->at_ns : 0))
            continue;
        f->done = true;
        int n = fs_fault_apply(sim, f);
        log_info("scheduled fault applied", "index=%zu kind=%s affected=%d", i, kind_names[f->kind],
                 n);
    }
    if (sim->kr_maintenance && fs->kr_maint_until_ns != 0 && now_ns >= fs->kr_maint_until_ns)
        set_maintenance(sim, false, 0, 0);
}

void fs_fault_install(struct fs_sim *sim, struct fs_faults *f)
{
    memset(f, 0, sizeof(*f));
    sim->faults = f;
    sim->hooks.before_gen = faults_tick;
}
