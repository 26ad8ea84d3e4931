/*
 * fuzz_ws_frame.c - libFuzzer target: arbitrary server bytes after a successful WebSocket
 * handshake, through the client's real receive path (src/net/ws_frame.c over the in-memory
 * transport of src/net/ws_mem.c), compared with a reference model of RFC 6455 written here.
 *
 * Input: byte 0 options, byte 1 read size, then the bytes the server sends.
 *   options bits 0-1  max_message: 1 MiB, 125, 16 or 1 byte (one client slot each)
 *           bit 2     refuse every third message (FH_ENOSPACE), then resume
 *           bit 3     refuse it a second time when it is delivered again
 *           bit 4     close (1000 "bye") from inside the second message accepted
 *           bit 5     close (1000 "paused") instead of resuming a refused message
 *   read size: 0 = all bytes in one read, else reads of that many bytes
 *
 * The model reads the whole stream frame by frame and says what must happen, whatever the
 * read size: the messages accepted (bytes, text flag, the times of the read holding their last
 * byte), the pongs reported, the outcome and close codes, and every frame the client writes
 * back (a pong per ping, then at most one close frame). A refused message must come back with
 * the same bytes and times; on_close must come exactly once, after everything else.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines; tests/fuzz/gen-seeds writes the file):
 * FUZZ_SEEDS_ESCAPED: ws_frame.seeds
 */
#include "fuzz_util.h"

#include "core/err.h"
#include "net/ws.h"
#include "net/ws_int.h"

#include <uv.h>

#define OPT_MAX_MASK      0x03u
#define OPT_REFUSE        0x04u
#define OPT_REFUSE_TWICE  0x08u
#define OPT_LOCAL_CLOSE   0x10u
#define OPT_CLOSE_ON_HOLD 0x20u

static const size_t max_messages[4] = {1u << 20, 125, 16, 1};

static uv_loop_t loop;
static struct fh_ws slots[4];

/* ---- what the harness sees ------------------------------------------------------------ */

struct msg {
    uint8_t *data;
    size_t len;
    bool text;
    int64_t rt, mono;
};

struct frame {
    uint8_t op;
    uint8_t *data;
    size_t len;
};

/* Growing lists of messages and frames. */
struct msgs {
    struct msg *v;
    size_t n, cap;
};

struct frames {
    struct frame *v;
    size_t n, cap;
};

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 16;
    v = realloc(v, *cap * size);
    FH_FUZZ_CHECK(v != NULL);
    return v;
}

static void msgs_push(struct msgs *l, struct msg m)
{
    l->v = grow(l->v, &l->cap, l->n, sizeof(*l->v));
    l->v[l->n++] = m;
}

static void frames_push(struct frames *l, struct frame f)
{
    l->v = grow(l->v, &l->cap, l->n, sizeof(*l->v));
    l->v[l->n++] = f;
}

static void msgs_free(struct msgs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].data);
    free(l->v);
    *l = (struct msgs){0};
}

static void frames_free(struct frames *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].data);
    free(l->v);
    *l = (struct frames){0};
}

struct run {
    unsigned opt;
    /* Harness. */
    size_t presented; /* distinct messages handed to on_message */
    bool holding;     /* the message presented last was refused and is held */
    int refusals_left;
    struct msg held; /* a copy, to compare with the redelivery */
    struct msgs accepted;
    struct frames pongs;
    size_t pings_n;
    bool closed;
    struct fh_ws_close_info info;
    char peer_reason[FH_WS_CTRL_MAX + 1];
};

static struct run *cur;

static int64_t chunk_rt(size_t i)
{
    return 1000000 + (int64_t)i * 10;
}

static int64_t chunk_mono(size_t i)
{
    return 7000000 + (int64_t)i * 3;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n + 1);
    FH_FUZZ_CHECK(d != NULL);
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

static int on_message(struct fh_ws *ws, const struct fh_ws_msg *m)
{
    struct run *r = cur;
    FH_FUZZ_CHECK(!r->closed && m->data != NULL);
    FH_FUZZ_CHECK(m->len <= ws->cfg.max_message);
    if (r->holding) {
        /* The redelivery of the refused message: the same bytes and times. */
        FH_FUZZ_CHECK(m->len == r->held.len && m->text == r->held.text);
        FH_FUZZ_CHECK(m->len == 0 || memcmp(m->data, r->held.data, m->len) == 0);
        FH_FUZZ_CHECK(m->recv_realtime_ns == r->held.rt && m->recv_monotonic_ns == r->held.mono);
        r->holding = false;
        free(r->held.data);
        r->held.data = NULL;
    } else {
        r->presented++;
        if ((r->opt & OPT_REFUSE) && r->presented % 3 == 0)
            r->refusals_left = (r->opt & OPT_REFUSE_TWICE) ? 2 : 1;
        else
            r->refusals_left = 0;
    }
    if (r->refusals_left > 0) {
        r->refusals_left--;
        r->holding = true;
        r->held = (struct msg){dup_bytes(m->data, m->len), m->len, m->text, m->recv_realtime_ns,
                               m->recv_monotonic_ns};
        return FH_ENOSPACE;
    }
    msgs_push(&r->accepted, (struct msg){dup_bytes(m->data, m->len), m->len, m->text,
                                         m->recv_realtime_ns, m->recv_monotonic_ns});
    if ((r->opt & OPT_LOCAL_CLOSE) && r->accepted.n == 2)
        fh_ws_close(ws, 1000, "bye");
    return 0;
}

static void on_pong(struct fh_ws *ws, const uint8_t *p, size_t n, int64_t mono)
{
    (void)ws;
    (void)mono;
    struct run *r = cur;
    FH_FUZZ_CHECK(!r->closed && n <= FH_WS_CTRL_MAX && (n == 0 || p != NULL));
    frames_push(&r->pongs, (struct frame){0xa, dup_bytes(p, n), n});
}

static void on_ping(struct fh_ws *ws, int64_t mono)
{
    (void)ws;
    (void)mono;
    FH_FUZZ_CHECK(!cur->closed);
    cur->pings_n++;
}

static void on_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    (void)ws;
    struct run *r = cur;
    FH_FUZZ_CHECK(!r->closed); /* exactly once */
    r->closed = true;
    r->info = *info;
    FH_FUZZ_CHECK(info->peer_reason != NULL && info->message != NULL);
    size_t rl = strlen(info->peer_reason);
    FH_FUZZ_CHECK(rl <= FH_WS_CTRL_MAX - 2);
    memcpy(r->peer_reason, info->peer_reason, rl + 1);
    r->info.peer_reason = r->peer_reason;
    FH_FUZZ_CHECK(info->message[0] != '\0');
    r->info.message = NULL;
    FH_FUZZ_CHECK(fh_ws_get_state(ws) == FH_WS_IDLE);
}

static const struct fh_ws_cbs cbs = {
    .on_message = on_message,
    .on_pong = on_pong,
    .on_ping = on_ping,
    .on_close = on_close,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (uv_loop_init(&loop) != 0)
        abort();
    for (int i = 0; i < 4; i++) {
        struct fh_ws_config cfg;
        fh_ws_config_default(&cfg);
        cfg.max_message = max_messages[i];
        if (fh_ws_init(&slots[i], &loop, &cfg, &cbs) != 0)
            abort();
    }
    return 0;
}

/* ---- the reference model ------------------------------------------------------------- */

/* UTF-8 as RFC 3629 defines it: shortest forms only, no surrogates, nothing above U+10FFFF. */
static bool model_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i];
        size_t len;
        uint32_t min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static bool model_close_code(unsigned c)
{
    /* RFC 6455 7.4.1 and the IANA registry: 1000-1003, 1007-1014 (1004-1006 and 1015 are
     * reserved and never sent), 3000-4999 for libraries and applications. */
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

struct model {
    unsigned opt;
    size_t max_message;
    size_t read_size;
    /* Results. */
    struct msgs accepted;
    struct frames pongs; /* reported through on_pong */
    struct frames out;   /* frames the client writes */
    size_t pings_n, frames_n, discarded;
    bool decided; /* the outcome is decided by the stream (or by our close) */
    bool done;    /* the connection ends: nothing after this point is read */
    enum fh_ws_close_reason reason;
    uint16_t sent_code, peer_code;
    char peer_reason[FH_WS_CTRL_MAX];
    /* State. */
    bool close_sent, local_closed, in_message, msg_text;
    uint8_t *msg;
    size_t msg_len;
    size_t presented;
};

static void model_out(struct model *m, uint8_t op, const void *p, size_t n)
{
    frames_push(&m->out, (struct frame){op, dup_bytes(p, n), n});
}

static void model_send_close(struct model *m, uint16_t code, const char *reason)
{
    uint8_t body[FH_WS_CTRL_MAX];
    size_t n = 0;
    if (code != 0) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        n = 2 + strlen(reason);
        memcpy(body + 2, reason, n - 2);
    }
    model_out(m, 0x8, body, n);
    m->close_sent = true;
    m->sent_code = code;
}

static void model_fail(struct model *m, enum fh_ws_close_reason reason, uint16_t code)
{
    static const char *const words[] = {
        [FH_WS_CLOSE_PROTOCOL] = "protocol error",
        [FH_WS_CLOSE_OVERSIZE] = "message too big",
        [FH_WS_CLOSE_BAD_UTF8] = "invalid UTF-8",
    };
    if (!m->decided) {
        m->decided = true;
        m->reason = reason;
    }
    if (!m->close_sent)
        model_send_close(m, code, words[reason]);
    m->done = true;
}

static void model_local_close(struct model *m, const char *reason)
{
    m->local_closed = true;
    if (!m->decided) {
        m->decided = true;
        m->reason = FH_WS_CLOSE_LOCAL;
    }
    model_send_close(m, 1000, reason);
}

/* A complete data message whose last byte is at stream offset last. */
static void model_deliver(struct model *m, bool text, size_t last)
{
    if (m->local_closed) {
        m->discarded++;
        return;
    }
    if (text && !model_utf8(m->msg, m->msg_len)) {
        model_fail(m, FH_WS_CLOSE_BAD_UTF8, 1007);
        return;
    }
    size_t chunk = m->read_size ? last / m->read_size : 0;
    m->presented++;
    if ((m->opt & OPT_REFUSE) && m->presented % 3 == 0 && (m->opt & OPT_CLOSE_ON_HOLD)) {
        m->discarded++;
        model_local_close(m, "paused");
        return;
    }
    msgs_push(&m->accepted, (struct msg){dup_bytes(m->msg, m->msg_len), m->msg_len, text,
                                         chunk_rt(chunk), chunk_mono(chunk)});
    if ((m->opt & OPT_LOCAL_CLOSE) && m->accepted.n == 2)
        model_local_close(m, "bye");
}

static void model_control(struct model *m, uint8_t op, const uint8_t *p, size_t n)
{
    if (op == 0x9) {
        m->pings_n++;
        if (!m->close_sent)
            model_out(m, 0xa, p, n);
        return;
    }
    if (op == 0xa) {
        frames_push(&m->pongs, (struct frame){0xa, dup_bytes(p, n), n});
        return;
    }
    /* Close (RFC 6455 5.5.1, 7.1.5, 7.4). */
    uint16_t code = 1005;
    if (n == 1) {
        model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
        return;
    }
    if (n >= 2) {
        code = (uint16_t)(p[0] << 8 | p[1]);
        if (!model_close_code(code)) {
            model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
            return;
        }
        if (!model_utf8(p + 2, n - 2)) {
            model_fail(m, FH_WS_CLOSE_BAD_UTF8, 1007);
            return;
        }
        memcpy(m->peer_reason, p + 2, n - 2);
    }
    m->peer_code = code;
    if (!m->close_sent) {
        m->decided = true;
        m->reason = FH_WS_CLOSE_PEER;
        model_send_close(m, code == 1005 ? 0 : code, "");
    }
    m->done = true;
}

static void model_run(struct model *m, const uint8_t *d, size_t n)
{
    size_t o = 0;
    while (!m->done) {
        if (n - o < 2)
            return;
        bool fin = d[o] & 0x80, mask = d[o + 1] & 0x80;
        unsigned rsv = (d[o] >> 4) & 7, op = d[o] & 0xf, len7 = d[o + 1] & 0x7f;
        bool ctrl = op & 0x8;
        /* Control frames: FIN set and at most 125 bytes (5.5), known from the first two. */
        if (ctrl && (len7 > 125 || !fin)) {
            model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
            return;
        }
        size_t p = o + 2;
        uint64_t len = len7;
        if (len7 >= 126) {
            size_t k = len7 == 126 ? 2 : 8;
            if (n - p < k)
                return;
            len = 0;
            for (size_t i = 0; i < k; i++)
                len = len << 8 | d[p + i];
            p += k;
            /* The shortest form only, and the 64-bit form's top bit clear (5.2). */
            if ((k == 2 && len < 126) || (k == 8 && (len < 65536 || (len >> 63)))) {
                model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
                return;
            }
        }
        if (mask) {
            if (n - p < 4)
                return;
            p += 4;
        }
        /* The client judges a frame once its header and a first payload byte are in. */
        if (len > 0 && p >= n)
            return;
        m->frames_n++;
        if (mask || rsv != 0) {
            model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
            return;
        }
        if (op == 0x0) {
            if (!m->in_message) {
                model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
                return;
            }
            if (len > m->max_message - m->msg_len) {
                model_fail(m, FH_WS_CLOSE_OVERSIZE, 1009);
                return;
            }
        } else if (op == 0x1 || op == 0x2) {
            if (m->in_message) {
                model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
                return;
            }
            if (len > m->max_message) {
                model_fail(m, FH_WS_CLOSE_OVERSIZE, 1009);
                return;
            }
        } else if (!ctrl || op > 0xa) {
            model_fail(m, FH_WS_CLOSE_PROTOCOL, 1002);
            return;
        }
        if (len > n - p)
            return; /* the rest of the payload never comes */
        const uint8_t *pay = d + p;
        size_t end = p + (size_t)len; /* the completing byte is at end - 1 */
        o = end;
        if (ctrl) {
            model_control(m, (uint8_t)op, pay, (size_t)len);
            continue;
        }
        if (op != 0x0) {
            m->msg_text = op == 0x1;
            m->msg_len = 0;
        }
        memcpy(m->msg + m->msg_len, pay, (size_t)len);
        m->msg_len += (size_t)len;
        m->in_message = !fin;
        if (fin)
            model_deliver(m, m->msg_text, end - 1);
    }
}

/* ---- checks ------------------------------------------------------------------------------ */

/* Decodes the client's output: masked control frames, FIN set, no reserved bits. */
static void decode_output(const uint8_t *p, size_t n, struct frames *out)
{
    size_t k = 0;
    while (k < n) {
        FH_FUZZ_CHECK(n - k >= 6);
        FH_FUZZ_CHECK((p[k] & 0xf0) == 0x80 && (p[k + 1] & 0x80));
        uint8_t op = p[k] & 0xf;
        size_t len = p[k + 1] & 0x7f;
        FH_FUZZ_CHECK(len <= FH_WS_CTRL_MAX);
        const uint8_t *mk = p + k + 2;
        k += 6;
        FH_FUZZ_CHECK(n - k >= len);
        uint8_t *d = malloc(len + 1);
        FH_FUZZ_CHECK(d != NULL);
        for (size_t i = 0; i < len; i++)
            d[i] = p[k + i] ^ mk[i % 4];
        frames_push(out, (struct frame){op, d, len});
        k += len;
    }
}

static void check_frames(const struct frames *a, const struct frames *b)
{
    FH_FUZZ_CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct frame *x = &a->v[i], *y = &b->v[i];
        FH_FUZZ_CHECK(x->op == y->op && x->len == y->len);
        FH_FUZZ_CHECK(x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
    }
}

static void spin(void)
{
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
}

static bool reading(const struct fh_ws *ws)
{
    return ws->state == FH_WS_OPEN || ws->state == FH_WS_CLOSING;
}

/*
 * After a read: deliver a held message again (or close instead), until the client can read.
 * A close while paused leaves bytes the client holds (its read buffer, the frame parser's
 * window) unparsed until the server's next bytes arrive; parsing them here stands for that.
 */
static void settle(struct run *r, struct fh_ws *ws, size_t n)
{
    for (size_t guard = 0; !r->closed && reading(ws); guard++) {
        FH_FUZZ_CHECK(guard <= 2 * n + 8);
        if (!fh_ws_is_paused(ws)) {
            FH_FUZZ_CHECK(!r->holding && ws->rpos == ws->rlen);
            return;
        }
        FH_FUZZ_CHECK(r->holding);
        if (r->opt & OPT_CLOSE_ON_HOLD) {
            fh_ws_close(ws, 1000, "paused");
            FH_FUZZ_CHECK(!fh_ws_is_paused(ws));
            r->holding = false;
            free(r->held.data);
            r->held.data = NULL;
            fh__ws_process(ws);
        } else {
            fh_ws_resume(ws);
            spin();
        }
    }
}

static void check_msgs(const struct msgs *a, const struct msgs *b)
{
    FH_FUZZ_CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct msg *x = &a->v[i], *y = &b->v[i];
        FH_FUZZ_CHECK(x->len == y->len && x->text == y->text);
        FH_FUZZ_CHECK(x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
        FH_FUZZ_CHECK(x->rt == y->rt && x->mono == y->mono);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct run run = {0};
    struct model model = {0};
    struct run *r = &run;
    struct model *m = &model;
    unsigned opt = data[0];
    size_t read_size = data[1];
    const uint8_t *d = data + 2;
    size_t n = size - 2;
    struct fh_ws *ws = &slots[opt & OPT_MAX_MASK];
    r->opt = m->opt = opt;
    m->max_message = max_messages[opt & OPT_MAX_MASK];
    m->read_size = read_size;
    m->msg = malloc(n + 1);
    FH_FUZZ_CHECK(m->msg != NULL);
    model_run(m, d, n);

    cur = r;
    struct fh_ws_stats before = ws->stats;
    fh__ws_mem_output_reset(ws);
    FH_FUZZ_CHECK(fh__ws_open_mem(ws) == 0);
    size_t off = 0, chunk = 0;
    while (off < n && !r->closed && reading(ws)) {
        size_t want = read_size ? read_size : n;
        if (want > n - off)
            want = n - off;
        size_t got = fh__ws_mem_feed(ws, d + off, want, chunk_rt(chunk), chunk_mono(chunk));
        FH_FUZZ_CHECK(got == want);
        off += got;
        chunk++;
        settle(r, ws, n);
    }
    spin();
    if (!r->closed) {
        /* The stream ended before the connection did: the model must agree. */
        FH_FUZZ_CHECK(!m->done);
        fh_ws_abort(ws);
        spin();
    }
    FH_FUZZ_CHECK(r->closed && fh_ws_get_state(ws) == FH_WS_IDLE);
    FH_FUZZ_CHECK(!r->holding);

    /* Outcome. */
    enum fh_ws_close_reason want_reason = m->decided ? m->reason : FH_WS_CLOSE_LOCAL;
    FH_FUZZ_CHECK(r->info.reason == want_reason);
    FH_FUZZ_CHECK(r->info.was_open);
    FH_FUZZ_CHECK(r->info.sent_code == m->sent_code);
    FH_FUZZ_CHECK(r->info.peer_code == m->peer_code);
    FH_FUZZ_CHECK(strcmp(r->peer_reason, m->peer_code == 0 ? "" : m->peer_reason) == 0);

    /* Messages, pongs, pings. */
    check_msgs(&r->accepted, &m->accepted);
    check_frames(&r->pongs, &m->pongs);
    FH_FUZZ_CHECK(r->pings_n == m->pings_n);

    /* What the client wrote: a pong per ping answered, then at most one close frame. */
    size_t out_len;
    const uint8_t *out = fh__ws_mem_output(ws, &out_len);
    struct frames written = {0};
    decode_output(out, out_len, &written);
    check_frames(&written, &m->out);

    /* Counters. */
    const struct fh_ws_stats *s = &ws->stats;
    FH_FUZZ_CHECK(s->msgs_in - before.msgs_in == m->accepted.n);
    FH_FUZZ_CHECK(s->msgs_discarded - before.msgs_discarded == m->discarded);
    FH_FUZZ_CHECK(s->pings_in - before.pings_in == m->pings_n);
    FH_FUZZ_CHECK(s->pongs_in - before.pongs_in == m->pongs.n);
    FH_FUZZ_CHECK(s->frames_in - before.frames_in == m->frames_n);
    FH_FUZZ_CHECK(s->bytes_in - before.bytes_in == off);
    FH_FUZZ_CHECK(s->bytes_out - before.bytes_out == out_len);

    frames_free(&written);
    msgs_free(&r->accepted);
    frames_free(&r->pongs);
    msgs_free(&m->accepted);
    frames_free(&m->pongs);
    frames_free(&m->out);
    free(m->msg);
    cur = NULL;
    return 0;
}
