/*
 * test_ws.c - the WebSocket client's frame layer (src/net/ws_frame.c, fed through
 * src/net/ws_mem.c). Its URL parser is tested in test_url.c.
 *
 * Frames are fed through the client's in-memory transport (fh__ws_open_mem/_mem_feed): the
 * exact receive path the sockets use (read buffer -> wslay frame parser -> checks -> message
 * assembly -> callbacks), without sockets, so every case is deterministic. What the client
 * writes back (pongs, close frames) is captured and decoded here, which also proves the
 * masking. The upgrade handshake and real sockets are in test_ws_handshake.c.
 */
#include "testutil.h"

#include "core/err.h"
#include "core/utf8.h"
#include "net/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- harness ---- */

#define MAX_MSGS 256

struct msgrec {
    uint8_t *data;
    size_t len;
    bool text;
    int64_t rt, mono;
};

struct rec {
    uv_loop_t loop;
    struct fh_ws ws;
    struct fh_ws_cbs cbs;
    struct msgrec m[MAX_MSGS];
    size_t n;
    int calls;
    int refuse_call; /* refuse the call with this index (0 = none), counted from 1 */
    int refuse_times;
    size_t n_pongs;
    uint8_t pong[125];
    size_t pong_len;
    size_t n_pings;
    bool closed;
    struct fh_ws_close_info info;
    char message[FH_WS_ERRMSG_LEN];
    char reason[126];
};

static int rec_message(struct fh_ws *ws, const struct fh_ws_msg *msg)
{
    struct rec *r = ws->data;
    r->calls++;
    if (r->refuse_call != 0 && r->calls >= r->refuse_call && r->refuse_times > 0) {
        r->refuse_times--;
        return FH_ENOSPACE;
    }
    assert_true(r->n < MAX_MSGS);
    struct msgrec *m = &r->m[r->n++];
    m->data = malloc(msg->len + 1);
    assert_non_null(m->data);
    memcpy(m->data, msg->data, msg->len);
    m->len = msg->len;
    m->text = msg->text;
    m->rt = msg->recv_realtime_ns;
    m->mono = msg->recv_monotonic_ns;
    return 0;
}

static void rec_pong(struct fh_ws *ws, const uint8_t *p, size_t n, int64_t mono)
{
    (void)mono;
    struct rec *r = ws->data;
    r->n_pongs++;
    memcpy(r->pong, p, n);
    r->pong_len = n;
}

static void rec_ping(struct fh_ws *ws, int64_t mono)
{
    (void)mono;
    ((struct rec *)ws->data)->n_pings++;
}

static void rec_close(struct fh_ws *ws, const struct fh_ws_close_info *info)
{
    struct rec *r = ws->data;
    assert_false(r->closed); /* exactly once */
    r->closed = true;
    r->info = *info;
    snprintf(r->message, sizeof(r->message), "%s", info->message);
    snprintf(r->reason, sizeof(r->reason), "%s", info->peer_reason);
    r->info.message = r->message;
    r->info.peer_reason = r->reason;
}

static void spin(struct rec *r)
{
    for (int i = 0; i < 5; i++)
        uv_run(&r->loop, UV_RUN_NOWAIT);
}

static struct rec *rec_new(size_t max_message)
{
    struct rec *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    r->cbs = (struct fh_ws_cbs){
        .on_message = rec_message,
        .on_pong = rec_pong,
        .on_ping = rec_ping,
        .on_close = rec_close,
    };
    struct fh_ws_config cfg;
    fh_ws_config_default(&cfg);
    if (max_message != 0)
        cfg.max_message = max_message;
    r->ws.data = r;
    assert_int_equal(fh_ws_init(&r->ws, &r->loop, &cfg, &r->cbs), 0);
    assert_int_equal(fh__ws_open_mem(&r->ws), 0);
    assert_int_equal(fh_ws_get_state(&r->ws), FH_WS_OPEN);
    return r;
}

static void rec_free(struct rec *r)
{
    if (!r->closed) {
        fh_ws_abort(&r->ws);
        spin(r);
    }
    assert_true(r->closed);
    assert_int_equal(fh_ws_release(&r->ws, NULL), 0);
    assert_int_equal(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&r->loop), 0);
    for (size_t i = 0; i < r->n; i++)
        free(r->m[i].data);
    free(r);
}

static size_t feed(struct rec *r, const void *p, size_t n)
{
    return fh__ws_mem_feed(&r->ws, p, n, 1000, 2000);
}

/* Builds a server frame (unmasked unless mask is given) into out; returns its length. */
static size_t mkframe(uint8_t *out, int fin, int rsv, int op, const void *p, size_t n,
                      const uint8_t *mask)
{
    size_t k = 0;
    out[k++] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | op);
    uint8_t mbit = mask != NULL ? 0x80 : 0;
    if (n < 126) {
        out[k++] = (uint8_t)(mbit | n);
    } else if (n < 65536) {
        out[k++] = mbit | 126;
        out[k++] = (uint8_t)(n >> 8);
        out[k++] = (uint8_t)n;
    } else {
        out[k++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            out[k++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (mask != NULL) {
        memcpy(out + k, mask, 4);
        k += 4;
    }
    const uint8_t *src = p;
    for (size_t i = 0; i < n; i++)
        out[k + i] = mask != NULL ? (uint8_t)(src[i] ^ mask[i % 4]) : src[i];
    return k + n;
}

struct cframe {
    int fin, op;
    uint8_t mask[4];
    uint8_t payload[200000];
    size_t len;
};

/* Decodes one client frame at p (must be masked). Returns bytes used. */
static size_t decode_client_frame(const uint8_t *p, size_t n, struct cframe *f)
{
    assert_true(n >= 2);
    f->fin = p[0] >> 7;
    assert_int_equal((p[0] >> 4) & 7, 0);
    f->op = p[0] & 0xf;
    assert_true(p[1] & 0x80); /* RFC 6455 5.3: client frames are masked */
    uint64_t len = p[1] & 0x7f;
    size_t k = 2;
    if (len == 126) {
        len = ((uint64_t)p[2] << 8) | p[3];
        assert_true(len >= 126);
        k = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | p[2 + i];
        assert_true(len >= 65536);
        k = 10;
    }
    memcpy(f->mask, p + k, 4);
    k += 4;
    assert_true(k + len <= n);
    assert_true(len <= sizeof(f->payload));
    for (size_t i = 0; i < len; i++)
        f->payload[i] = p[k + i] ^ f->mask[i % 4];
    f->len = len;
    return k + len;
}

/* The last frame the client wrote. */
static void last_output(struct rec *r, struct cframe *f)
{
    size_t n;
    const uint8_t *p = fh__ws_mem_output(&r->ws, &n);
    assert_true(n > 0);
    size_t off = 0;
    while (off < n)
        off += decode_client_frame(p + off, n - off, f);
    assert_int_equal(off, n);
}

static void assert_msg(struct rec *r, size_t i, const char *text)
{
    assert_true(i < r->n);
    assert_int_equal(r->m[i].len, strlen(text));
    assert_memory_equal(r->m[i].data, text, r->m[i].len);
}

/* The connection failed with reason and sent a close frame with code. */
static void assert_failed(struct rec *r, enum fh_ws_close_reason reason, uint16_t code,
                          const char *words)
{
    spin(r);
    assert_true(r->closed);
    if (r->info.reason != reason)
        fail_msg("reason %s, expected %s (%s)", fh_ws_close_reason_name(r->info.reason),
                 fh_ws_close_reason_name(reason), r->message);
    assert_int_equal(r->info.sent_code, code);
    if (strstr(r->message, words) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", r->message, words);
    struct cframe f;
    last_output(r, &f);
    assert_int_equal(f.op, 0x8);
    assert_true(f.len >= 2);
    assert_int_equal((f.payload[0] << 8) | f.payload[1], code);
}

/* ---- messages ---- */

static void test_single_messages(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    uint8_t buf[512];
    size_t n = mkframe(buf, 1, 0, 0x1, "hello", 5, NULL);
    n += mkframe(buf + n, 1, 0, 0x2, "\x00\xff\x01", 3, NULL);
    n += mkframe(buf + n, 1, 0, 0x1, "", 0, NULL);
    assert_int_equal(fh__ws_mem_feed(&r->ws, buf, n, 111, 222), n);
    assert_int_equal(r->n, 3);
    assert_msg(r, 0, "hello");
    assert_true(r->m[0].text);
    assert_int_equal(r->m[0].rt, 111);
    assert_int_equal(r->m[0].mono, 222);
    assert_int_equal(r->m[1].len, 3);
    assert_memory_equal(r->m[1].data, "\x00\xff\x01", 3);
    assert_false(r->m[1].text);
    assert_int_equal(r->m[2].len, 0);
    assert_int_equal(r->ws.stats.frames_in, 3);
    assert_int_equal(r->ws.stats.msgs_in, 3);
    assert_int_equal(r->ws.stats.bytes_in, n);
    rec_free(r);
}

/* Every frame split at every possible point still gives the same messages, each stamped with
 * the time of the read that completed it. */
static void test_byte_by_byte(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    static uint8_t buf[300000];
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)('a' + i % 26);
    size_t n = mkframe(buf, 1, 0, 0x1, "short one", 9, NULL);
    n += mkframe(buf + n, 1, 0, 0x2, big, 300, NULL);         /* 16-bit length */
    n += mkframe(buf + n, 1, 0, 0x1, big, sizeof(big), NULL); /* 64-bit length */
    n += mkframe(buf + n, 1, 0, 0x9, "pp", 2, NULL);
    n += mkframe(buf + n, 0, 0, 0x1, "frag", 4, NULL);
    n += mkframe(buf + n, 1, 0, 0x0, "ment", 4, NULL);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fh__ws_mem_feed(&r->ws, buf + i, 1, (int64_t)i, (int64_t)i + 7), 1);
    assert_false(r->closed);
    assert_int_equal(r->n, 4);
    assert_msg(r, 0, "short one");
    assert_int_equal(r->m[1].len, 300);
    assert_memory_equal(r->m[1].data, big, 300);
    assert_int_equal(r->m[2].len, sizeof(big));
    assert_memory_equal(r->m[2].data, big, sizeof(big));
    assert_msg(r, 3, "fragment");
    assert_int_equal(r->m[3].rt, (int64_t)n - 1);
    assert_int_equal(r->m[3].mono, (int64_t)n - 1 + 7);
    assert_int_equal(r->m[0].rt, 9 + 2 - 1);
    assert_int_equal(r->n_pings, 1);
    rec_free(r);
}

static void test_fragmented_with_control(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    uint8_t buf[512];
    size_t n = mkframe(buf, 0, 0, 0x1, "Hel", 3, NULL);
    n += mkframe(buf + n, 1, 0, 0x9, "ping-1", 6, NULL); /* control frames may interleave */
    n += mkframe(buf + n, 0, 0, 0x0, "lo", 2, NULL);
    n += mkframe(buf + n, 1, 0, 0xa, "pong-1", 6, NULL);
    n += mkframe(buf + n, 0, 0, 0x0, "", 0, NULL);
    n += mkframe(buf + n, 1, 0, 0x0, " world", 6, NULL);
    n += mkframe(buf + n, 1, 0, 0x2, "B", 1, NULL);
    feed(r, buf, n);
    assert_false(r->closed);
    assert_int_equal(r->n, 2);
    assert_msg(r, 0, "Hello world");
    assert_true(r->m[0].text);
    assert_msg(r, 1, "B");
    assert_false(r->m[1].text);
    /* The ping was answered with a pong carrying its payload. */
    struct cframe f;
    last_output(r, &f);
    assert_int_equal(f.op, 0xa);
    assert_true(f.fin);
    assert_int_equal(f.len, 6);
    assert_memory_equal(f.payload, "ping-1", 6);
    assert_int_equal(r->n_pongs, 1);
    assert_int_equal(r->pong_len, 6);
    assert_memory_equal(r->pong, "pong-1", 6);
    assert_int_equal(r->ws.stats.pings_in, 1);
    assert_int_equal(r->ws.stats.pongs_out, 1);
    assert_int_equal(r->ws.stats.pongs_in, 1);
    assert_int_equal(r->ws.stats.frames_in, 7);
    rec_free(r);
}

static void test_ping_empty_and_max(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    uint8_t pl[125];
    for (size_t i = 0; i < sizeof(pl); i++)
        pl[i] = (uint8_t)(i * 7);
    uint8_t buf[512];
    size_t n = mkframe(buf, 1, 0, 0x9, "", 0, NULL);
    feed(r, buf, n);
    struct cframe f;
    last_output(r, &f);
    assert_int_equal(f.op, 0xa);
    assert_int_equal(f.len, 0);
    fh__ws_mem_output_reset(&r->ws);
    n = mkframe(buf, 1, 0, 0x9, pl, sizeof(pl), NULL);
    feed(r, buf, n);
    last_output(r, &f);
    assert_int_equal(f.op, 0xa);
    assert_int_equal(f.len, sizeof(pl));
    assert_memory_equal(f.payload, pl, sizeof(pl));
    assert_false(r->closed);
    rec_free(r);
}

/* ---- closing ---- */

static void test_peer_close_echo(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    uint8_t buf[256];
    size_t n = mkframe(buf, 1, 0, 0x1, "last", 4, NULL);
    n += mkframe(buf + n, 1, 0, 0x8, "\x03\xe9going away", 12, NULL); /* 1001 */
    n += mkframe(buf + n, 1, 0, 0x1, "after close", 11, NULL);        /* ignored */
    feed(r, buf, n);
    spin(r);
    assert_true(r->closed);
    assert_int_equal(r->info.reason, FH_WS_CLOSE_PEER);
    assert_int_equal(r->info.peer_code, 1001);
    assert_string_equal(r->reason, "going away");
    assert_true(r->info.was_open);
    assert_int_equal(r->n, 1);
    struct cframe f;
    last_output(r, &f);
    assert_int_equal(f.op, 0x8);
    assert_int_equal(f.len, 2);
    assert_int_equal((f.payload[0] << 8) | f.payload[1], 1001); /* echoed */
    assert_int_equal(r->info.sent_code, 1001);
    assert_int_equal(fh_ws_get_state(&r->ws), FH_WS_IDLE);
    rec_free(r);
}

static void test_peer_close_without_code(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    uint8_t buf[16];
    size_t n = mkframe(buf, 1, 0, 0x8, "", 0, NULL);
    feed(r, buf, n);
    spin(r);
    assert_true(r->closed);
    assert_int_equal(r->info.reason, FH_WS_CLOSE_PEER);
    assert_int_equal(r->info.peer_code, 1005);
    struct cframe f;
    last_output(r, &f);
    assert_int_equal(f.op, 0x8);
    assert_int_equal(f.len, 0); /* answered without a code */
    rec_free(r);
}

static void test_local_close(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    fh_ws_close(&r->ws, 1000, "bye now");
    assert_int_equal(fh_ws_get_state(&r->ws), FH_WS_CLOSING);
    struct cframe f;
    last_output(r, &f);
    assert_int_equal(f.op, 0x8);
    assert_int_equal(f.len, 9);
    assert_memory_equal(f.payload,
                        "\x03\xe8"
                        "bye now",
                        9);
    /* Data still in flight is discarded, pings are no longer answered, and the server's
     * close completes the handshake. */
    fh__ws_mem_output_reset(&r->ws);
    uint8_t buf[64];
    size_t n = mkframe(buf, 1, 0, 0x1, "late", 4, NULL);
    n += mkframe(buf + n, 1, 0, 0x9, "p", 1, NULL);
    n += mkframe(buf + n, 1, 0, 0x8, "\x03\xe8", 2, NULL);
    feed(r, buf, n);
    spin(r);
    assert_true(r->closed);
    assert_int_equal(r->info.reason, FH_WS_CLOSE_LOCAL);
    assert_int_equal(r->info.sent_code, 1000);
    assert_int_equal(r->info.peer_code, 1000);
    assert_int_equal(r->n, 0);
    assert_int_equal(r->ws.stats.msgs_discarded, 1);
    size_t outn;
    fh__ws_mem_output(&r->ws, &outn);
    assert_int_equal(outn, 0);
    rec_free(r);
}

static void test_abort_and_send_states(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    assert_int_equal(fh_ws_ping(&r->ws, "x", 126), FH_EINVAL);
    assert_int_equal(fh_ws_send_text(&r->ws, "ok", 2), 0);
    fh_ws_abort(&r->ws);
    assert_int_equal(fh_ws_send_text(&r->ws, "no", 2), FH_ESTATE);
    assert_false(r->closed); /* on_close comes from the loop, never from inside a call */
    spin(r);
    assert_true(r->closed);
    assert_int_equal(r->info.reason, FH_WS_CLOSE_LOCAL);
    assert_int_equal(fh_ws_send_text(&r->ws, "no", 2), FH_ESTATE);
    rec_free(r);
}

/* ---- protocol errors ---- */

static void proto_case(const uint8_t *frames, size_t n, const char *words)
{
    struct rec *r = rec_new(0);
    feed(r, frames, n);
    assert_failed(r, FH_WS_CLOSE_PROTOCOL, 1002, words);
    rec_free(r);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    uint8_t buf[512];
    static const uint8_t mask[4] = {1, 2, 3, 4};
    size_t n;

    n = mkframe(buf, 1, 0, 0x1, "masked", 6, mask);
    proto_case(buf, n, "masked frame");
    n = mkframe(buf, 1, 4, 0x1, "rsv1", 4, NULL);
    proto_case(buf, n, "reserved bits set (RSV1)");
    n = mkframe(buf, 1, 1, 0x9, "", 0, NULL);
    proto_case(buf, n, "reserved bits");
    n = mkframe(buf, 1, 0, 0x3, "x", 1, NULL);
    proto_case(buf, n, "unknown opcode 0x3");
    n = mkframe(buf, 1, 0, 0xb, "", 0, NULL);
    proto_case(buf, n, "unknown opcode 0xb");
    n = mkframe(buf, 0, 0, 0x9, "frag", 4, NULL);
    proto_case(buf, n, "fragmented control frame (ping");
    uint8_t big[126] = {0};
    n = mkframe(buf, 1, 0, 0x9, big, 126, NULL);
    proto_case(buf, n, "control frame (ping) longer than 125");
    n = mkframe(buf, 1, 0, 0x8, "\x03\xe8", 2, NULL);
    buf[1] = 126; /* close with a 16-bit length field */
    proto_case(buf, 4, "control frame (close) longer than 125");
    n = mkframe(buf, 1, 0, 0x0, "cont", 4, NULL);
    proto_case(buf, n, "continuation frame without a message");
    n = mkframe(buf, 0, 0, 0x1, "a", 1, NULL);
    n += mkframe(buf + n, 1, 0, 0x2, "b", 1, NULL);
    proto_case(buf, n, "new binary frame while a fragmented message is unfinished");
    n = mkframe(buf, 1, 0, 0x8, "\x03", 1, NULL);
    proto_case(buf, n, "1-byte payload");
    /* Length 5 written in the 16-bit form: not the shortest form. */
    const uint8_t nonmin[] = {0x81, 126, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    proto_case(nonmin, sizeof(nonmin), "shortest form");
    static const unsigned bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
        uint8_t pl[2] = {(uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i]};
        n = mkframe(buf, 1, 0, 0x8, pl, 2, NULL);
        proto_case(buf, n, "invalid close code");
    }
}

/* A protocol error inside a frame header cut across two reads is still named precisely (the
 * header bytes come from the previous read). */
static void test_protocol_error_split_header(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    uint8_t buf[64];
    size_t n = mkframe(buf, 1, 0, 0x1, "ok", 2, NULL);
    size_t m = mkframe(buf + n, 0, 0, 0xa, "x", 1, NULL);
    feed(r, buf, n + 1);
    feed(r, buf + n + 1, m - 1);
    assert_failed(r, FH_WS_CLOSE_PROTOCOL, 1002, "fragmented control frame (pong");
    assert_int_equal(r->n, 1);
    rec_free(r);
}

static void test_valid_close_codes(void **state)
{
    (void)state;
    static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                    1010, 1011, 1012, 1013, 1014, 3000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct rec *r = rec_new(0);
        uint8_t buf[16];
        uint8_t pl[2] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i]};
        size_t n = mkframe(buf, 1, 0, 0x8, pl, 2, NULL);
        feed(r, buf, n);
        spin(r);
        assert_int_equal(r->info.reason, FH_WS_CLOSE_PEER);
        assert_int_equal(r->info.peer_code, good[i]);
        rec_free(r);
    }
}

/* ---- limits and UTF-8 ---- */

static void test_oversize(void **state)
{
    (void)state;
    static uint8_t payload[3000];
    memset(payload, 'x', sizeof(payload));
    uint8_t buf[8000];

    /* Exactly the limit is fine, one more byte is not. */
    struct rec *r = rec_new(1000);
    size_t n = mkframe(buf, 1, 0, 0x1, payload, 1000, NULL);
    feed(r, buf, n);
    assert_int_equal(r->n, 1);
    assert_false(r->closed);
    n = mkframe(buf, 1, 0, 0x1, payload, 1001, NULL);
    feed(r, buf, n);
    assert_failed(r, FH_WS_CLOSE_OVERSIZE, 1009, "larger than max_message (1000 bytes)");
    rec_free(r);

    /* Fragments that add up past the limit. */
    r = rec_new(1000);
    n = mkframe(buf, 0, 0, 0x2, payload, 600, NULL);
    n += mkframe(buf + n, 0, 0, 0x0, payload, 400, NULL);
    n += mkframe(buf + n, 1, 0, 0x0, payload, 1, NULL);
    feed(r, buf, n);
    assert_int_equal(r->n, 0);
    assert_failed(r, FH_WS_CLOSE_OVERSIZE, 1009, "max_message");
    rec_free(r);

    /* A header announcing 2^40 bytes fails at once, before any payload. */
    r = rec_new(1000);
    const uint8_t huge[] = {0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0, 'x'};
    feed(r, huge, sizeof(huge));
    assert_failed(r, FH_WS_CLOSE_OVERSIZE, 1009, "frame of 1099511627776");
    rec_free(r);
}

static void test_bad_utf8(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct rec *r = rec_new(0);
    size_t n = mkframe(buf, 1, 0, 0x1, "ok \xc3\xa9", 5, NULL);
    n += mkframe(buf + n, 1, 0, 0x2, "\xff\xfe", 2, NULL); /* binary: anything goes */
    n += mkframe(buf + n, 1, 0, 0x1, "bad \xc3\x28", 6, NULL);
    feed(r, buf, n);
    assert_int_equal(r->n, 2);
    assert_failed(r, FH_WS_CLOSE_BAD_UTF8, 1007, "not valid UTF-8");
    rec_free(r);

    /* A sequence cut between fragments is valid once assembled. */
    r = rec_new(0);
    n = mkframe(buf, 0, 0, 0x1, "\xe2\x82", 2, NULL);
    n += mkframe(buf + n, 1, 0, 0x0, "\xac", 1, NULL);
    feed(r, buf, n);
    assert_int_equal(r->n, 1);
    assert_msg(r, 0, "\xe2\x82\xac");
    /* ... but not when the message ends inside it. */
    n = mkframe(buf, 0, 0, 0x1, "\xe2\x82", 2, NULL);
    n += mkframe(buf + n, 1, 0, 0x0, "", 0, NULL);
    feed(r, buf, n);
    assert_failed(r, FH_WS_CLOSE_BAD_UTF8, 1007, "UTF-8");
    rec_free(r);

    /* Surrogates in a close reason. */
    r = rec_new(0);
    n = mkframe(buf, 1, 0, 0x8, "\x03\xe8\xed\xa0\x80", 5, NULL);
    feed(r, buf, n);
    assert_failed(r, FH_WS_CLOSE_BAD_UTF8, 1007, "close reason");
    rec_free(r);
}

/* ---- backpressure ---- */

static void test_refuse_and_resume(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    r->refuse_call = 2;
    r->refuse_times = 2; /* refused at delivery and at the first redelivery */
    uint8_t buf[512];
    size_t n = mkframe(buf, 1, 0, 0x1, "one", 3, NULL);
    n += mkframe(buf + n, 1, 0, 0x1, "two", 3, NULL);
    n += mkframe(buf + n, 0, 0, 0x1, "thr", 3, NULL);
    n += mkframe(buf + n, 1, 0, 0x0, "ee", 2, NULL);
    assert_int_equal(fh__ws_mem_feed(&r->ws, buf, n, 5, 6), n);
    assert_int_equal(r->n, 1);
    assert_true(fh_ws_is_paused(&r->ws));
    /* Paused: nothing more is taken in. */
    assert_int_equal(fh__ws_mem_feed(&r->ws, buf, n, 7, 8), 0);
    spin(r);
    assert_int_equal(r->n, 1); /* no resume, no redelivery */
    fh_ws_resume(&r->ws);
    assert_int_equal(r->n, 1); /* redelivery comes from the loop */
    spin(r);
    assert_int_equal(r->n, 1); /* refused again */
    assert_true(fh_ws_is_paused(&r->ws));
    fh_ws_resume(&r->ws);
    spin(r);
    assert_false(fh_ws_is_paused(&r->ws));
    assert_int_equal(r->n, 3);
    assert_msg(r, 1, "two");
    assert_int_equal(r->m[1].rt, 5); /* the same message, with its original times */
    assert_int_equal(r->m[1].mono, 6);
    assert_msg(r, 2, "three");
    assert_int_equal(r->ws.stats.refusals, 2);
    assert_int_equal(r->ws.stats.msgs_in, 3);

    /* A fragmented (assembled) message is held the same way. */
    r->refuse_call = r->calls + 1;
    r->refuse_times = 1;
    n = mkframe(buf, 0, 0, 0x1, "fo", 2, NULL);
    n += mkframe(buf + n, 1, 0, 0x0, "ur", 2, NULL);
    n += mkframe(buf + n, 1, 0, 0x1, "five", 4, NULL);
    feed(r, buf, n);
    assert_int_equal(r->n, 3);
    fh_ws_resume(&r->ws);
    spin(r);
    assert_int_equal(r->n, 5);
    assert_msg(r, 3, "four");
    assert_msg(r, 4, "five");
    assert_false(r->closed);
    rec_free(r);
}

static void test_close_while_paused(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    r->refuse_call = 1;
    r->refuse_times = 1;
    uint8_t buf[64];
    size_t n = mkframe(buf, 1, 0, 0x1, "held", 4, NULL);
    feed(r, buf, n);
    assert_true(fh_ws_is_paused(&r->ws));
    fh_ws_abort(&r->ws);
    spin(r);
    assert_true(r->closed);
    assert_int_equal(r->n, 0);
    assert_int_equal(r->ws.stats.msgs_discarded, 1);
    rec_free(r);
}

/* ---- sending and masking ---- */

static void test_masking(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31 + 7);
    assert_int_equal(fh_ws_send_text(&r->ws, "hello", 5), 0);
    assert_int_equal(fh_ws_send_binary(&r->ws, big, 300), 0);
    assert_int_equal(fh_ws_send_binary(&r->ws, big, sizeof(big)), 0);
    assert_int_equal(fh_ws_ping(&r->ws, "hb", 2), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(fh_ws_send_text(&r->ws, "", 0), 0);
    size_t n;
    const uint8_t *p = fh__ws_mem_output(&r->ws, &n);
    static struct cframe f;
    uint8_t masks[12][4];
    size_t off = decode_client_frame(p, n, &f);
    assert_int_equal(f.op, 0x1);
    assert_true(f.fin);
    assert_int_equal(f.len, 5);
    assert_memory_equal(f.payload, "hello", 5);
    memcpy(masks[0], f.mask, 4);
    off += decode_client_frame(p + off, n - off, &f);
    assert_int_equal(f.op, 0x2);
    assert_int_equal(f.len, 300);
    assert_memory_equal(f.payload, big, 300);
    memcpy(masks[1], f.mask, 4);
    off += decode_client_frame(p + off, n - off, &f);
    assert_int_equal(f.len, sizeof(big));
    assert_memory_equal(f.payload, big, sizeof(big));
    memcpy(masks[2], f.mask, 4);
    off += decode_client_frame(p + off, n - off, &f);
    assert_int_equal(f.op, 0x9);
    assert_memory_equal(f.payload, "hb", 2);
    memcpy(masks[3], f.mask, 4);
    for (int i = 0; i < 8; i++) {
        off += decode_client_frame(p + off, n - off, &f);
        assert_int_equal(f.len, 0);
        memcpy(masks[4 + i], f.mask, 4);
    }
    assert_int_equal(off, n);
    /* Fresh keys per frame: 12 random 32-bit keys are all equal with probability 2^-352. */
    bool differ = false;
    for (int i = 1; i < 12; i++)
        differ |= memcmp(masks[i], masks[0], 4) != 0;
    assert_true(differ);
    assert_int_equal(r->ws.stats.frames_out, 12);
    assert_int_equal(r->ws.stats.msgs_out, 11);
    assert_int_equal(r->ws.stats.pings_out, 1);
    rec_free(r);
}

/* Thousands of frames through one connection: the masking pool refills, messages keep
 * their order, output decodes. */
static void test_many_frames(void **state)
{
    (void)state;
    struct rec *r = rec_new(0);
    for (int i = 0; i < 3000; i++) {
        char t[32];
        int len = snprintf(t, sizeof(t), "msg %d", i);
        assert_int_equal(fh_ws_send_text(&r->ws, t, (size_t)len), 0);
    }
    size_t n;
    const uint8_t *p = fh__ws_mem_output(&r->ws, &n);
    static struct cframe f;
    size_t off = 0;
    for (int i = 0; i < 3000; i++) {
        char t[32];
        int len = snprintf(t, sizeof(t), "msg %d", i);
        off += decode_client_frame(p + off, n - off, &f);
        assert_int_equal(f.len, (size_t)len);
        assert_memory_equal(f.payload, t, f.len);
    }
    rec_free(r);
}

/* ---- UTF-8 validator (src/core/utf8.c) ---- */

static void test_utf8(void **state)
{
    (void)state;
    assert_true(fh_utf8_check(NULL, 0));
    assert_true(fh_utf8_check("plain ascii that is longer than sixteen bytes", 45));
    assert_true(fh_utf8_check("\xc2\x80\xdf\xbf", 4));
    assert_true(fh_utf8_check("\xe0\xa0\x80\xef\xbf\xbf\xed\x9f\xbf", 9));
    assert_true(fh_utf8_check("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8));
    assert_false(fh_utf8_check("\x80", 1));             /* stray continuation */
    assert_false(fh_utf8_check("\xc0\xaf", 2));         /* overlong */
    assert_false(fh_utf8_check("\xc1\xbf", 2));         /* overlong */
    assert_false(fh_utf8_check("\xe0\x9f\xbf", 3));     /* overlong */
    assert_false(fh_utf8_check("\xf0\x8f\xbf\xbf", 4)); /* overlong */
    assert_false(fh_utf8_check("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(fh_utf8_check("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(fh_utf8_check("\xf5\x80\x80\x80", 4));
    assert_false(fh_utf8_check("\xff", 1));
    assert_false(fh_utf8_check("\xe2\x82", 2)); /* truncated */
    assert_false(fh_utf8_check("\xe2\x28\xac", 3));
    /* An error after a long ASCII run (fast path boundary). */
    char s[64];
    memset(s, 'a', sizeof(s));
    for (size_t i = 0; i < sizeof(s); i++) {
        memset(s, 'a', sizeof(s));
        s[i] = (char)0x80;
        assert_false(fh_utf8_check(s, sizeof(s)));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_messages),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_fragmented_with_control),
        cmocka_unit_test(test_ping_empty_and_max),
        cmocka_unit_test(test_peer_close_echo),
        cmocka_unit_test(test_peer_close_without_code),
        cmocka_unit_test(test_local_close),
        cmocka_unit_test(test_abort_and_send_states),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_protocol_error_split_header),
        cmocka_unit_test(test_valid_close_codes),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_refuse_and_resume),
        cmocka_unit_test(test_close_while_paused),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_many_frames),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
