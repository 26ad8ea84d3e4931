/*
 * blast.c - --blast: pre-encoded trade frames, sent as fast as the client reads.
 *
 * When a connection subscribes, each of its trade streams gets a ring of TEMPLATES complete
 * frames (WebSocket header + the venue's exact message format) rendered once with fixed-width
 * placeholder fields. Filling the out buffer is then memcpy + patching the fields: the trade
 * id (kept as a decimal counter that is incremented in place), and the event/trade times,
 * formatted once per fill. Frames stay valid and ids stay consecutive per stream; streams
 * are served round robin. The generator does not run in blast mode.
 *
 * Truth log: no line per frame (that would be the bottleneck); when the connection closes,
 * one summary line per stream: {"blast":true,"venue":..,"native_symbol":..,
 * "first_trade_id":..,"last_trade_id":..,"frames":..}. The prices and quantities cycle
 * through the templates, so trade id k carries template (k - first) mod TEMPLATES.
 *
 * Layer 3 (fs_blast.h): the subscription hook installed by fs_blast_install starts a blast
 * on a connection by setting its feeder, through which the core then asks for output and
 * reports the close. Frames are written through the core only.
 */
#include "fs_blast.h"

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATES    16
#define MAX_FIELDS   6
#define FRAME_MAX    512
#define FILL_CHUNK   (256 * 1024)
#define MAX_BSTREAMS (2 * FS_MAX_SYMBOLS)

enum field_kind { F_ID = 0, F_MS, F_US, F_RFC, F_V1T };

struct field {
    uint8_t kind;
    uint16_t off;
    uint8_t width;
};

struct tmpl {
    uint8_t frame[FRAME_MAX];
    uint16_t len;
    uint8_t nfields;
    struct field fields[MAX_FIELDS];
};

struct bstream {
    const struct fs_book *book;
    bool agg;
    int64_t first_id, next_id;
    char id[24]; /* next_id in decimal, width id_w */
    int id_w;
    uint64_t frames;
    struct tmpl t[TEMPLATES];
};

struct fs_blast {
    size_t n;
    size_t rr;
    uint64_t frames;
    struct bstream s[];
};

/* A small builder that records where the patchable fields are. */
struct tb {
    char buf[FRAME_MAX];
    size_t len;
    struct field fields[MAX_FIELDS];
    uint8_t nf;
};

static void tb_lit(struct tb *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n < sizeof(b->buf)) {
        memcpy(b->buf + b->len, s, n);
        b->len += n;
    }
}

static void tb_field(struct tb *b, enum field_kind k, int width)
{
    if (b->nf < MAX_FIELDS && b->len + (size_t)width < sizeof(b->buf)) {
        b->fields[b->nf++] = (struct field){(uint8_t)k, (uint16_t)b->len, (uint8_t)width};
        memset(b->buf + b->len, '0', (size_t)width);
        b->len += (size_t)width;
    }
}

static int time_width(enum field_kind k)
{
    switch (k) {
    case F_MS:
        return 13;
    case F_US:
        return 16;
    case F_RFC:
        return 27;
    case F_V1T:
        return 17;
    default:
        return 0;
    }
}

static void render(const struct fs_conn *c, struct bstream *bs, int k, struct tb *b)
{
    const struct fs_book *bk = bs->book;
    const struct fs_symbol *s = bk->sym;
    int e = bk->exch;
    /* Prices and quantities vary per template around the start price. */
    int64_t price = s->start_price[e] + (k % 7) - 3;
    int64_t qty = 1 + (int64_t)(k * 37 % 1000);
    bool sell = (k & 1) != 0;
    char px[64], q[64];
    b->len = 0;
    b->nf = 0;
    if (c->venue == FS_BINANCE) {
        enum field_kind tk = c->time_us ? F_US : F_MS;
        fs_fmt_fixed(price, s->price_dec[e], 8, px);
        fs_fmt_fixed(qty, s->qty_dec[e], 8, q);
        if (c->combined) {
            tb_lit(b, "{\"stream\":\"");
            tb_lit(b, s->bn_lower);
            tb_lit(b, bs->agg ? "@aggTrade\",\"data\":" : "@trade\",\"data\":");
        }
        tb_lit(b, bs->agg ? "{\"e\":\"aggTrade\",\"E\":" : "{\"e\":\"trade\",\"E\":");
        tb_field(b, tk, time_width(tk));
        tb_lit(b, ",\"s\":\"");
        tb_lit(b, s->bn);
        tb_lit(b, bs->agg ? "\",\"a\":" : "\",\"t\":");
        tb_field(b, F_ID, bs->id_w);
        tb_lit(b, ",\"p\":\"");
        tb_lit(b, px);
        tb_lit(b, "\",\"q\":\"");
        tb_lit(b, q);
        if (bs->agg) {
            tb_lit(b, "\",\"f\":");
            tb_field(b, F_ID, bs->id_w);
            tb_lit(b, ",\"l\":");
            tb_field(b, F_ID, bs->id_w);
            tb_lit(b, ",\"T\":");
        } else {
            tb_lit(b, "\",\"T\":");
        }
        tb_field(b, tk, time_width(tk));
        tb_lit(b, sell ? ",\"m\":true,\"M\":true}" : ",\"m\":false,\"M\":true}");
        if (c->combined)
            tb_lit(b, "}");
    } else if (c->venue == FS_KRAKEN_V2) {
        fs_fmt_v2(price, s->price_dec[e], false, false, px);
        fs_fmt_v2(qty, s->qty_dec[e], false, false, q);
        tb_lit(b, "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"");
        tb_lit(b, s->kr_ws2);
        tb_lit(b, sell ? "\",\"side\":\"sell\",\"price\":" : "\",\"side\":\"buy\",\"price\":");
        tb_lit(b, px);
        tb_lit(b, ",\"qty\":");
        tb_lit(b, q);
        tb_lit(b, ",\"ord_type\":\"limit\",\"trade_id\":");
        tb_field(b, F_ID, bs->id_w);
        tb_lit(b, ",\"timestamp\":\"");
        tb_field(b, F_RFC, time_width(F_RFC));
        tb_lit(b, "\"}]}");
    } else {
        char ch[16];
        snprintf(ch, sizeof(ch), "[%d,[[\"", s->kr_channel_id);
        fs_fmt_fixed(price, s->price_dec[e], s->kr_v1_price_places, px);
        fs_fmt_fixed(qty, s->qty_dec[e], 8, q);
        tb_lit(b, ch);
        tb_lit(b, px);
        tb_lit(b, "\",\"");
        tb_lit(b, q);
        tb_lit(b, "\",\"");
        tb_field(b, F_V1T, time_width(F_V1T));
        tb_lit(b,
               sell ? "\",\"s\",\"l\",\"\"]],\"trade\",\"" : "\",\"b\",\"l\",\"\"]],\"trade\",\"");
        tb_lit(b, s->kr_ws1);
        tb_lit(b, "\"]");
    }
}

static void build_templates(const struct fs_conn *c, struct bstream *bs)
{
    struct tb b;
    for (int k = 0; k < TEMPLATES; k++) {
        render(c, bs, k, &b);
        struct tmpl *t = &bs->t[k];
        size_t hl = fs_ws_header(t->frame, WSLAY_TEXT_FRAME, b.len, true);
        memcpy(t->frame + hl, b.buf, b.len);
        t->len = (uint16_t)(hl + b.len);
        t->nfields = b.nf;
        for (int i = 0; i < b.nf; i++) {
            t->fields[i] = b.fields[i];
            t->fields[i].off = (uint16_t)(t->fields[i].off + hl);
        }
    }
}

static void set_id(struct bstream *bs, int64_t id)
{
    bs->id_w = snprintf(bs->id, sizeof(bs->id), "%lld", (long long)id);
}

/* Increments the decimal counter in place; returns false when it needs one more digit. */
static bool inc_id(struct bstream *bs)
{
    bs->next_id++;
    for (int i = bs->id_w - 1; i >= 0; i--) {
        if (bs->id[i] != '9') {
            bs->id[i]++;
            return true;
        }
        bs->id[i] = '0';
    }
    return false;
}

static void blast_fill(struct fs_conn *c);
static void blast_closed(struct fs_conn *c);

static const struct fs_feeder blast_feeder = {
    .fill = blast_fill,
    .closed = blast_closed,
};

static int blast_start(struct fs_conn *c)
{
    struct fs_sim *sim = c->sim;
    if (c->feeder != NULL)
        return 0;
    int e = fs_venue_exch(c->venue);
    size_t n = 0;
    for (size_t i = 0; i < sim->nsyms; i++) {
        n += (c->sub_trade >> i) & 1;
        n += (c->sub_agg >> i) & 1;
    }
    if (n == 0 || n > MAX_BSTREAMS)
        return FH_EINVAL;
    struct fs_blast *bl = calloc(1, sizeof(*bl) + n * sizeof(struct bstream));
    if (bl == NULL)
        return FH_ENOMEM;
    for (size_t i = 0; i < sim->nsyms; i++) {
        for (int agg = 0; agg < 2; agg++) {
            uint64_t m = agg ? c->sub_agg : c->sub_trade;
            if (((m >> i) & 1) == 0)
                continue;
            struct bstream *bs = &bl->s[bl->n++];
            bs->book = &sim->books[e][i];
            bs->agg = agg != 0;
            bs->first_id = bs->next_id = bs->book->next_id;
            set_id(bs, bs->next_id);
            build_templates(c, bs);
        }
    }
    c->feeder = &blast_feeder;
    c->feeder_data = bl;
    log_info("blast started", "conn=%llu streams=%zu", (unsigned long long)c->id, bl->n);
    fh_stream_notify_writable(&c->st, true);
    return 0;
}

struct times {
    char ms[24], us[24], rfc[40], v1t[32];
};

static void patch(uint8_t *dst, const struct tmpl *t, const struct bstream *bs,
                  const struct times *tm)
{
    for (int i = 0; i < t->nfields; i++) {
        const struct field *f = &t->fields[i];
        const char *src;
        switch (f->kind) {
        case F_ID:
            src = bs->id;
            break;
        case F_MS:
            src = tm->ms;
            break;
        case F_US:
            src = tm->us;
            break;
        case F_RFC:
            src = tm->rfc;
            break;
        default:
            src = tm->v1t;
            break;
        }
        memcpy(dst + f->off, src, f->width);
    }
}

/* feeder.fill: as many frames as the out buffer takes. */
static void blast_fill(struct fs_conn *c)
{
    struct fs_blast *bl = c->feeder_data;
    struct fs_sim *sim = c->sim;
    if (bl == NULL || c->phase != FS_PH_WS)
        return;
    /* wslay's queued control frames (pongs) go first. */
    fs_ws_pump(c);
    if (c->phase != FS_PH_WS || (c->stalled && !c->stall_queue) || c->oversize_rem > 0)
        return;
    struct times tm;
    int64_t us = fs_real_us(sim, sim->now_ns);
    snprintf(tm.ms, sizeof(tm.ms), "%013lld", (long long)(us / 1000));
    snprintf(tm.us, sizeof(tm.us), "%016lld", (long long)us);
    fs_fmt_rfc3339(us, tm.rfc);
    fs_fmt_kr_v1_time(us, tm.v1t);
    for (;;) {
        size_t space = fh_stream_out_space(&c->st);
        if (space < FRAME_MAX)
            return;
        size_t want = space < FILL_CHUNK ? space : FILL_CHUNK;
        uint8_t *dst = fh_stream_reserve(&c->st, want);
        if (dst == NULL)
            return;
        size_t used = 0;
        while (used + FRAME_MAX <= want) {
            struct bstream *bs = &bl->s[bl->rr];
            bl->rr = bl->rr + 1 == bl->n ? 0 : bl->rr + 1;
            const struct tmpl *t = &bs->t[bs->frames % TEMPLATES];
            memcpy(dst + used, t->frame, t->len);
            patch(dst + used, t, bs, &tm);
            used += t->len;
            bs->frames++;
            bl->frames++;
            c->frames_out++;
            c->trades_out++;
            if (!inc_id(bs)) {
                /* One more digit: re-render the templates at the new width. */
                set_id(bs, bs->next_id);
                build_templates(c, bs);
            }
        }
        fh_stream_commit(&c->st, used);
    }
}

static void blast_summary(struct fs_conn *c)
{
    struct fs_blast *bl = c->feeder_data;
    struct fs_sim *sim = c->sim;
    for (size_t i = 0; i < bl->n; i++) {
        struct bstream *bs = &bl->s[i];
        char *p = fs_truth_reserve(&sim->truth, 320);
        if (p == NULL)
            break;
        const char *native = c->venue == FS_BINANCE     ? bs->book->sym->bn
                             : c->venue == FS_KRAKEN_V1 ? bs->book->sym->kr_ws1
                                                        : bs->book->sym->kr_ws2;
        int n = snprintf(p, 320,
                         "{\"blast\":true,\"venue\":\"%s\",\"native_symbol\":\"%s\","
                         "\"stream\":\"%s\",\"conn\":%llu,\"first_trade_id\":%lld,"
                         "\"last_trade_id\":%lld,\"frames\":%llu}\n",
                         fs_venue_name(c->venue), native, bs->agg ? "aggTrade" : "trade",
                         (unsigned long long)c->id, (long long)bs->first_id,
                         (long long)bs->next_id - 1, (unsigned long long)bs->frames);
        if (n > 0 && n < 320)
            fs_truth_commit(&sim->truth, (size_t)n);
    }
    log_info("blast finished", "conn=%llu frames=%llu", (unsigned long long)c->id,
             (unsigned long long)bl->frames);
}

/* feeder.closed: the truth summary, then the blast state. */
static void blast_closed(struct fs_conn *c)
{
    blast_summary(c);
    free(c->feeder_data);
    c->feeder_data = NULL;
    c->feeder = NULL;
}

/* hooks.subscribed: the first trade subscription of a connection starts its blast. */
static void blast_subscribed(struct fs_conn *c)
{
    if (c->feeder == NULL && (c->sub_trade | c->sub_agg) != 0)
        blast_start(c);
}

void fs_blast_install(struct fs_sim *sim)
{
    sim->hooks.subscribed = blast_subscribed;
}
