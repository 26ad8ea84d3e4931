/*
 * fs_core.h - the server core of feedsim, the protocol-accurate exchange simulator.
 *
 * One process, one libuv loop thread (plus the truth-log writer thread). Every venue port
 * (Binance, Kraken WebSocket v1, Kraken WebSocket v2) serves WebSocket upgrades and REST GETs
 * on the same listener; a control port serves the fault/status API. A tick timer drives the
 * trade generator, protocol timers (pings, heartbeats, lifetimes, idle closes) and scheduled
 * faults. docs/FEEDSIM.md describes behaviour and the CLI ("Code layout" has this map too).
 *
 * Layers. Each file includes only the headers of the layers below it, and nothing calls
 * upwards by name:
 *
 *   1. core (this header): server.c (listeners, connections, HTTP, the tick, status), ws.c
 *      (WebSocket framing, wslay's callbacks, subscription names), gen.c (the trade
 *      generator), truth.c (the truth log), sim.c (venue names, clock, intervals, the module
 *      registry), symbols.c (native names), fmt.c (number, time and JSON text). Inside it,
 *      too, calls go one way: server.c -> ws.c, gen.c -> sim.c, truth.c, fmt.c (symbols.c is
 *      called by main.c only).
 *   2. venue modules, each readable alone on top of this header: binance.c + binance_rest.c
 *      (fs_binance.h), kraken.c + kraken_rest.c (fs_kraken.h).
 *   3. faults and modes: fault.c (fs_fault.h), control.c (fs_control.h; uses fault.c),
 *      replay.c (fs_replay.h), blast.c (fs_blast.h).
 *   4. main.c: the command line and the wiring.
 *
 * The core reaches the layers above only through tables they fill: a venue module is a
 * struct fs_venue_module (upgrade, open, message, tick, deliver, rest) that main.c registers
 * with fs_sim_register_venue; the faults-and-modes layer installs struct fs_hooks (tick
 * work, the control port, subscription changes, recorded channel ids) and, per connection,
 * a struct fs_feeder (blast writes the output itself). Venue modules reach that layer the
 * same way: fs_conn_subscribed() and fs_sim_replay_channel() call whatever hook is
 * installed, fs_sim_replaying() reads the core's own state.
 *
 * Names: fs_ for feedsim's cross-file functions (this is a tool, not library API), fs__ for
 * the internals shared by the two files of one venue module; file-local helpers are static.
 * Everything here runs on the loop thread unless stated otherwise.
 *
 * Bounds: connections (--max-conns), the per-connection request buffer (FS_HTTP_BUF) and out
 * buffer (--conn-buffer), WebSocket messages (--max-msg), subscriptions (1024 per
 * connection), history (--history per symbol), the truth queue (two fixed buffers) and every
 * per-tick batch are fixed at start-up.
 */
#ifndef FH_TOOLS_FS_CORE_H
#define FH_TOOLS_FS_CORE_H

#include "core/buf.h"
#include "core/decimal.h"
#include "core/log.h"
#include "net/http1.h"
#include "net/stream.h"
#include "venue/json.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <wslay/wslay.h>

/* ---- venues ---- */

enum fs_venue { FS_BINANCE = 0, FS_KRAKEN_V1 = 1, FS_KRAKEN_V2 = 2, FS_CONTROL = 3 };
#define FS_NVENUES    3 /* protocol venues (without the control port) */
#define FS_NLISTENERS 4 /* venues + control */

/* Exchanges: the trade engines. Kraken v1 and v2 are two protocols of one engine: the same
 * trades, one trade-id sequence per pair (v2 and REST show it, v1 does not). */
enum fs_exch { FS_EX_BINANCE = 0, FS_EX_KRAKEN = 1 };
#define FS_NEXCH 2

/* sim.c */
const char *fs_venue_name(int venue);        /* "binance", "kraken_v1", "kraken_v2", "control" */
int fs_venue_exch(int venue);                /* FS_EX_* of a protocol venue */
int fs_venue_parse(const char *s, int *out); /* accepts binance, kraken-v1, kraken_v1, ... */

/* ---- symbols ---- */

#define FS_MAX_SYMBOLS 64
#define FS_NAME_MAX    32

struct fs_symbol {
    int idx;
    char canon[FS_NAME_MAX]; /* BTC-USDT */
    char base[16], quote[16];
    /* Binance */
    char bn[FS_NAME_MAX];       /* BTCUSDT */
    char bn_lower[FS_NAME_MAX]; /* btcusdt */
    /* Kraken */
    char kr_key[FS_NAME_MAX];                     /* AssetPairs key: XXBTZUSD, XBTUSDT, XDGUSD */
    char kr_alt[FS_NAME_MAX];                     /* altname: XBTUSD */
    char kr_ws1[FS_NAME_MAX];                     /* v1 wsname: XBT/USD */
    char kr_ws2[FS_NAME_MAX];                     /* v2 symbol and assetVersion=1 key: BTC/USD */
    char kr_base_legacy[16], kr_quote_legacy[16]; /* XXBT, ZUSD */
    char kr_base_v2[16], kr_quote_v2[16];         /* BTC, USD */
    int kr_channel_id;                            /* v1 channelID of the trade channel */
    /* Per exchange: decimals of prices and quantities, start price in price units. */
    int price_dec[FS_NEXCH];
    int qty_dec[FS_NEXCH];
    int64_t start_price[FS_NEXCH];
    int kr_v1_price_places; /* fixed decimals of v1 / REST price strings (>= price_dec) */
    double quote_usd;       /* rough USD value of one quote unit (sizes realistic orders) */
};

/* Builds the symbol for a canonical BASE-QUOTE name. Returns 0 or FH_EINVAL (bad name). */
int fs_symbol_make(const char *canon, int idx, struct fs_symbol *out);

/* ---- trades ---- */

struct fs_trade {
    int64_t id;       /* per-book sequential trade id */
    int64_t agg_id;   /* Binance aggregate trade id (trades of one taker order at one price) */
    int64_t time_us;  /* trade time, Unix µs */
    int64_t price;    /* units of 10^-price_dec */
    int64_t qty;      /* units of 10^-qty_dec */
    uint16_t ns_sub;  /* ns below the µs: makes Kraken REST times unique per book */
    uint8_t side;     /* taker side: 0 buy, 1 sell */
    uint8_t ord_type; /* taker order type: 0 limit, 1 market */
    uint8_t variant;  /* Kraken v2 number rendering: FS_VAR_* bits */
};

enum {
    FS_VAR_QTY_EXP_UPPER = 1 << 0,   /* qty as 2.5E+3 */
    FS_VAR_QTY_POINT_ZERO = 1 << 1,  /* an integer qty as 40.0 */
    FS_VAR_PRICE_EXP_UPPER = 1 << 2, /* price as 8.57724E+4 */
};

/* One symbol on one exchange: its trade sequence, price process and history. */
struct fs_book {
    const struct fs_symbol *sym;
    int exch;
    uint64_t rng[4];
    int64_t next_id;
    int64_t next_agg_id;
    int64_t price;                /* current price, units */
    int64_t min_price, max_price; /* the walk stays inside */
    int64_t next_event_ns;        /* virtual time of the next taker order, since start */
    int64_t last_time_us;
    uint16_t last_ns_sub;
    int64_t skip_pending; /* ids to skip before the next trade (fault) */
    uint64_t generated;
    uint64_t skipped;
    /* History ring: the last hist_cap trades, oldest at hist_head. */
    struct fs_trade *hist;
    size_t hist_cap, hist_len, hist_head;
};

/* Trade k (0 = oldest) of the history. */
static inline const struct fs_trade *fs_hist_at(const struct fs_book *b, size_t k)
{
    size_t i = b->hist_head + k;
    if (i >= b->hist_cap)
        i -= b->hist_cap;
    return &b->hist[i];
}

/* ---- decimal text ---- */

/* v (units at dec decimals) as an exact decimal. */
fh_decimal fs_units_dec(int64_t v, int dec);
/* Writes v with exactly places fraction digits (places >= dec). Returns the length. */
size_t fs_fmt_fixed(int64_t v, int dec, int places, char *out);
/* Minimal text ("85772.4", "1", "0.0005"). Returns the length. */
size_t fs_fmt_min(int64_t v, int dec, char *out);
/* A JSON number for Kraken v2: minimal form, Python-style exponent below 1e-4 ("4.3e-05"),
 * or, per variant bits, "2.5E+3" or "40.0". Always the exact value. Returns the length. */
size_t fs_fmt_v2(int64_t v, int dec, bool upper_exp, bool point_zero, char *out);
/* RFC 3339 UTC with 6 fraction digits: 2026-10-06T18:14:44.947782Z. Returns the length. */
size_t fs_fmt_rfc3339(int64_t time_us, char *out);
/* Kraken v1 time string "1534614057.321597". Returns the length. */
size_t fs_fmt_kr_v1_time(int64_t time_us, char *out);
/* Kraken REST time number with sub-µs digits, trailing zeros trimmed. Returns the length. */
size_t fs_fmt_kr_rest_time(int64_t time_us, uint16_t ns_sub, char *out);

/* ---- configuration ---- */

enum fs_interval {
    FS_IV_BN_PING = 0,  /* Binance server ping period (20 s) */
    FS_IV_BN_PONG,      /* Binance pong deadline (60 s) */
    FS_IV_BN_LIFETIME,  /* Binance connection lifetime (24 h) */
    FS_IV_KR_HEARTBEAT, /* Kraken heartbeat when idle (1 s) */
    FS_IV_KR_IDLE,      /* Kraken close after no client traffic (60 s) */
    FS_IV_KR_NOSUB,     /* Kraken close after no subscription (60 s) */
    FS_IV_COUNT
};

#define FS_MAX_FAULTS 64 /* --fault options, and faults scheduled at once */

struct fs_config {
    const char *host;
    int port[FS_NLISTENERS]; /* -1 = venue off, 0 = ephemeral */
    const char *tls_cert, *tls_key;
    uint64_t seed;
    char symbols[FS_MAX_SYMBOLS][FS_NAME_MAX];
    size_t nsymbols;
    double rate;       /* trades/s per symbol (average) */
    double burst_prob; /* probability that a taker order sweeps several trades */
    int burst_max;     /* most trades in one taker order */
    double time_scale;
    int64_t interval_ns[FS_IV_COUNT]; /* -1 = default x time_scale */
    const char *truth_path;
    const char *ports_file;
    size_t history;
    size_t max_conns;
    size_t conn_buf;
    size_t max_msg;
    int64_t tick_ns; /* the tick's period: a timerfd, so below a millisecond too */
    int64_t handshake_timeout_ns;
    int64_t http_idle_ns;
    int binance_weight_limit;
    bool binance_accept_unknown;
    double kraken_rest_rate;
    double kraken_rest_burst;
    int kraken_v1_snapshot;
    int kraken_v2_snapshot;
    int kraken_batch;
    const char *replay_path;
    int replay_venue; /* FS_BINANCE or FS_KRAKEN_V1 */
    double replay_speed;
    double replay_rate; /* lines/s for lines without a timestamp when no timing can be derived */
    bool replay_loop;
    bool blast;
    int64_t duration_ns;         /* exit after this long (0 = run until a signal) */
    size_t budget_n[FS_NVENUES]; /* connection attempts per window, 0 = unlimited */
    int64_t budget_window_ns[FS_NVENUES];
    const char *faults[FS_MAX_FAULTS];
    size_t nfaults;
};

/* ---- connections ---- */

#define FS_HTTP_BUF     16384 /* request head + body */
#define FS_MAX_STREAMS  1024  /* Binance streams (and Kraken replay channels) per connection */
#define FS_STREAM_NAME  64
#define FS_BN_RATE_MSGS 5

enum fs_phase {
    FS_PH_HTTP = 0, /* reading a request head */
    FS_PH_WS_DELAY, /* upgrade held back by a delay fault */
    FS_PH_WS,       /* WebSocket open */
    FS_PH_CLOSING   /* close started; input ignored */
};

struct fs_conn;

/*
 * A layer above that writes a connection's output itself (blast mode). While c->feeder is
 * set, the generator's deliveries and the venue's tick (pings, heartbeats, lifetime) skip
 * the connection, a frame that does not fit the out buffer is dropped instead of closing
 * it, and the stream's writable events go to fill.
 */
struct fs_feeder {
    /* The out buffer has room (WebSocket phase only). */
    void (*fill)(struct fs_conn *c);
    /* The connection is gone: report, then free c->feeder_data. */
    void (*closed)(struct fs_conn *c);
};

struct fs_conn {
    struct fh_stream st; /* first: the stream callbacks cast back */
    struct fs_sim *sim;
    struct fs_conn *next, *prev;
    uint64_t id;
    int venue;
    enum fs_phase phase;
    /* HTTP */
    char hbuf[FS_HTTP_BUF];
    size_t hlen;
    int64_t http_deadline_ns;
    /* WebSocket */
    wslay_event_context_ptr ws;
    size_t ws_tx_rem;        /* payload bytes of the wslay frame being copied out */
    size_t pre_off, pre_len; /* bytes after the upgrade head, fed to wslay first */
    size_t rx_budget;
    int64_t opened_ns;
    int64_t last_rx_ns;
    int64_t last_data_tx_ns;
    int64_t last_hb_ns;
    int64_t delay_until_ns;
    bool http_close; /* close after the current HTTP response */
    /* Subscriptions: names for LIST_SUBSCRIPTIONS and replay matching (lazily allocated),
     * bit masks over symbols for generated trades. */
    char (*subs)[FS_STREAM_NAME];
    uint16_t nsubs;
    uint64_t sub_trade; /* Binance <sym>@trade / Kraken trade */
    uint64_t sub_agg;   /* Binance <sym>@aggTrade */
    /* Binance state: written by binance.c only; replay.c and blast.c read combined and
     * time_us to render the same forms. The core never reads these. */
    bool combined;
    bool time_us;
    int64_t rx_times[FS_BN_RATE_MSGS];
    unsigned rx_n;
    int64_t next_ping_ns;
    int64_t pong_deadline_ns; /* 0: no ping outstanding */
    int64_t ping_first;       /* payloads (ms timestamps) of the first and last ping sent */
    int64_t ping_last;
    int64_t lifetime_end_ns;
    int64_t shutdown_close_ns;
    /* Kraken state: kraken.c only. */
    uint64_t kr_conn_id;
    int64_t nosub_since_ns; /* 0 while subscribed */
    /* Fault mechanisms: set by fault.c, carried out here (fs_ws_send, the tick) and, for
     * omit, by the venue's deliver. */
    bool stalled;
    bool stall_queue;
    int64_t stall_until_ns;
    uint64_t slow_bps;
    int64_t slow_until_ns;
    int64_t slow_last_ns;
    uint32_t omit[FS_MAX_SYMBOLS];
    uint64_t oversize_rem; /* filler bytes of an oversize frame still to write */
    /* Output written by a layer above (blast.c), or NULL. */
    const struct fs_feeder *feeder;
    void *feeder_data;
    /* Counters */
    uint64_t msgs_in, frames_out, trades_out, frames_dropped;
    char close_reason[64];
};

/* ---- truth log ---- */

struct fs_truth {
    int fd;
    bool on;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf[2];
    size_t len[2];
    size_t cap;
    int fill;    /* buffer the loop appends to */
    bool handed; /* the other buffer is with the writer */
    bool stop;
    bool write_error; /* set by the writer */
    int64_t last_kick_ns;
    uint64_t lines;
    uint64_t stalls;
};

int fs_truth_open(struct fs_truth *t, const char *path, size_t buf_cap);
/* Room for n more bytes in the loop-side buffer, or NULL (writer behind: try later). */
char *fs_truth_reserve(struct fs_truth *t, size_t n);
void fs_truth_commit(struct fs_truth *t, size_t n);
/* Hands the filled buffer to the writer if it is idle (call on a timer and when full). */
void fs_truth_kick(struct fs_truth *t, int64_t now_ns);
/* Blocks until everything appended so far is written (control API, tests). */
void fs_truth_sync(struct fs_truth *t);
/* Writes everything, stops the writer, closes the file. */
void fs_truth_close(struct fs_truth *t);

/* ---- handshake limits (the core carries them out; fault.c and the CLI set them) ---- */

enum fs_drop_mode { FS_DROP_CLOSE = 0, FS_DROP_RESET, FS_DROP_EOF };

/* Per-venue handshake faults. */
struct fs_hs_fault {
    int64_t refuse_left; /* handshakes still to refuse; -1 = until resume/expiry */
    int refuse_status;   /* HTTP status, or 0 with a drop mode */
    enum fs_drop_mode refuse_mode;
    int64_t refuse_until_ns;
    int64_t delay_left;
    int64_t delay_ns;
    int64_t delay_until_ns;
};

/* Connection-attempt budget per venue (Binance 300 per 5 min, Kraken about 150 per 10 min
 * per IP): a sliding window over WebSocket upgrade requests. */
struct fs_budget {
    int64_t *times; /* ring of attempt times, cap entries */
    size_t cap, head, n;
    int64_t window_ns;
};

/* ---- venue modules (layer 2) ---- */

/*
 * What the core needs of a venue. binance.c fills one, kraken.c two (v1 and v2); main.c
 * registers them with fs_sim_register_venue. Every operation runs on the loop thread with
 * c->venue == the module's venue; none may free c (close it with fs_ws_close and friends).
 */
struct fs_venue_module {
    int venue; /* FS_BINANCE, FS_KRAKEN_V1 or FS_KRAKEN_V2: the port it serves */
    /* A valid WebSocket upgrade request (before the 101). Returns 0 to accept, possibly
     * setting connection state from the URL; otherwise an error with *status and a JSON
     * body (sim->out) for the refusal. */
    int (*upgrade)(struct fs_conn *c, const struct fh_http_req *req, int *status,
                   struct fh_buf *body);
    /* The WebSocket is open (101 queued): start timers, send the greeting. */
    void (*open)(struct fs_conn *c);
    /* A complete client message: text, binary, ping or pong (never close). */
    void (*message)(struct fs_conn *c, int opcode, const uint8_t *msg, size_t len);
    /* Every tick while open and not fed (c->feeder == NULL): keep-alive and timeouts. */
    void (*tick)(struct fs_conn *c, int64_t now_ns);
    /* Trades of one book of this venue's exchange generated in this tick (n >= 1). */
    void (*deliver)(struct fs_conn *c, const struct fs_book *b, const struct fs_trade *t, size_t n);
    /* A REST GET on the venue's port (methods other than GET never arrive). */
    void (*rest)(struct fs_conn *c, const struct fh_http_req *req);
};

/* ---- hooks (layer 3: faults, control, replay, blast) ---- */

/*
 * How the layer above reaches into the core's events without the core naming it. Each slot
 * is NULL until the module named installs it (from main.c); the core skips empty slots.
 */
struct fs_hooks {
    /* fault.c: scheduled faults and expiries, every tick before the generator. */
    void (*before_gen)(struct fs_sim *sim, int64_t now_ns);
    /* replay.c: the recorded lines due, every tick after the generator. */
    void (*after_gen)(struct fs_sim *sim, int64_t now_ns);
    /* control.c: a complete request on the control port. */
    void (*control)(struct fs_conn *c, const struct fh_http_req *req, const char *body,
                    size_t body_len);
    /* blast.c: a venue connection's trade subscriptions were set (see fs_conn_subscribed). */
    void (*subscribed)(struct fs_conn *c);
    /* replay.c: the recorded channelID of (channelName, pair) in a Kraken v1 session, or -1. */
    int (*replay_channel)(const struct fs_sim *sim, const char *channel, const char *pair);
};

/* ---- the simulator ---- */

struct fs_listener {
    struct fs_sim *sim;
    int venue;
    int fd;
    uint16_t port;
    uv_poll_t poll;
    bool active;
    int64_t paused_until_ns; /* accept paused after EMFILE */
};

struct fs_replay;
struct fs_faults;

struct fs_sim {
    uv_loop_t *loop;
    struct fs_config cfg;
    SSL_CTX *tls;
    struct fs_listener lst[FS_NLISTENERS];
    struct fs_symbol syms[FS_MAX_SYMBOLS];
    size_t nsyms;
    struct fs_book books[FS_NEXCH][FS_MAX_SYMBOLS];
    bool exch_on[FS_NEXCH];
    bool venue_on[FS_NLISTENERS];
    /* The layers above: venue modules by venue, hooks, and their state (opaque here). */
    const struct fs_venue_module *venues[FS_NVENUES];
    struct fs_hooks hooks;
    struct fs_faults *faults; /* fault.c: the schedule */
    struct fs_replay *replay; /* replay.c: the loaded session, or NULL */
    struct fs_conn *conns;
    size_t nconns;
    size_t nctl; /* control connections among them (not limited by --max-conns) */
    uint64_t next_conn_id;
    uint64_t conn_rng[4];
    uv_poll_t tick; /* on tick_fd, a periodic timerfd */
    int tick_fd;    /* open from fs_server_start until the tick handle's close callback */
    uv_signal_t sig_term, sig_int;
    int64_t start_mono_ns;
    int64_t start_real_us;
    int64_t now_ns; /* monotonic, updated every tick and callback */
    struct fs_truth truth;
    struct fh_json json;
    struct fh_buf out;      /* response / message rendering scratch */
    struct fs_trade *batch; /* per-tick generated trades of one book */
    size_t batch_cap;
    /* Handshake limits per venue (set by fault.c and the CLI, applied by server.c). */
    struct fs_hs_fault hs[FS_NVENUES];
    struct fs_budget budget[FS_NVENUES];
    /* Kraken exchange status: set by fault.c (maintenance); the generator pauses Kraken,
     * kraken.c and kraken_rest.c report it, /status shows it. */
    bool kr_maintenance;
    /* REST rate limits: binance_rest.c and kraken_rest.c only. */
    int64_t bn_weight_window; /* minute index */
    int bn_weight_used;
    double kr_tokens[FS_MAX_SYMBOLS];
    int64_t kr_tokens_ns[FS_MAX_SYMBOLS];
    bool stopping;
    int exit_code;
    struct fh_ratelimit log_rl;
    /* Counters */
    uint64_t conns_accepted, conns_refused, handshakes, rest_requests;
};

/* ---- the simulator object (sim.c) ---- */

/* Realtime µs for a monotonic instant (the simulator's clock for event times). */
int64_t fs_real_us(const struct fs_sim *sim, int64_t mono_ns);
/* An interval, scaled or overridden (ns); 0 means disabled. */
int64_t fs_interval(const struct fs_sim *sim, enum fs_interval iv);
/* Registers a venue module for m->venue (main.c, before fs_server_start). The module must
 * outlive the simulator. */
void fs_sim_register_venue(struct fs_sim *sim, const struct fs_venue_module *m);
/* Whether a recorded session is played to venue's subscribers instead of generated trades
 * (--replay loaded, see replay.c). */
bool fs_sim_replaying(const struct fs_sim *sim, int venue);
/* The recorded Kraken v1 channelID of (channelName, pair) in the replayed session, or -1
 * (through hooks.replay_channel). */
int fs_sim_replay_channel(const struct fs_sim *sim, const char *channel, const char *pair);

/* ---- server (server.c) ---- */

int fs_server_start(struct fs_sim *sim);
/* Graceful shutdown (close frames 1001, then exit when the last connection is gone); with
 * force, connections are closed at once. */
void fs_server_shutdown(struct fs_sim *sim, bool force);
void fs_server_stop(struct fs_sim *sim);
/* HTTP response with a JSON (or text) body and optional extra header lines ("K: v\r\n"). */
void fs_http_respond(struct fs_conn *c, int status, const char *ctype, const char *extra,
                     const char *body, size_t len);
/* Status as JSON into out. */
void fs_server_status(struct fs_sim *sim, struct fh_buf *out);

/* The venue module of a venue connection (never the control port). */
static inline const struct fs_venue_module *fs_conn_module(const struct fs_conn *c)
{
    return c->sim->venues[c->venue];
}

/* ---- WebSocket framing (ws.c) ---- */

/* The server side of a connection's WebSocket, after the 101 response: wslay's context with
 * feedsim's callbacks and the --max-msg limit. Returns 0 or FH_ENOMEM. */
int fs_ws_server_init(struct fs_conn *c);
/* Reads and handles the client's frames, within a budget per call. */
void fs_ws_read(struct fs_conn *c);
/* Moves frames wslay queued (pongs, close replies) into the out buffer. */
void fs_ws_pump(struct fs_conn *c);
/* Sends one WebSocket frame (text 0x1, binary 0x2, close 0x8, ping 0x9). Applies the stall
 * policy; a frame that does not fit closes the connection as a slow consumer. Returns 0 if
 * queued or deliberately discarded, FH_ESTATE/FH_ENOSPACE otherwise. */
int fs_ws_send(struct fs_conn *c, int opcode, const void *p, size_t n);
/* Sends a data message (counts for heartbeats). */
int fs_ws_send_text(struct fs_conn *c, const void *p, size_t n);
/* Close frame (code, reason), then a graceful TCP close. */
void fs_ws_close(struct fs_conn *c, int code, const char *reason);
/* Drops the connection: FS_DROP_CLOSE (close frame code), RESET (RST), EOF (FIN only). */
void fs_conn_drop(struct fs_conn *c, enum fs_drop_mode mode, int code, const char *reason);
/* A venue connection's trade subscriptions were set (from the URL or a subscribe request):
 * lets an installed hook (blast) take the connection over. Venue modules call it. */
void fs_conn_subscribed(struct fs_conn *c);
/* Writes raw bytes (fault injection of broken frames). */
int fs_conn_write_raw(struct fs_conn *c, const void *p, size_t n);
/* Writes the header of an unmasked server frame; returns its length (2, 4 or 10). */
size_t fs_ws_header(uint8_t *out, int opcode, uint64_t len, bool fin);
/* Subscription names (shared by the venues). */
int fs_sub_find(const struct fs_conn *c, const char *name);
int fs_sub_add(struct fs_conn *c, const char *name);
void fs_sub_remove(struct fs_conn *c, int i);

/* ---- generator (gen.c) ---- */

/* xoshiro256** and its seeding (also the connection-id source of kraken.c). */
uint64_t fs_rand64(uint64_t s[4]);
void fs_rand_seed(uint64_t s[4], uint64_t seed);

int fs_gen_init(struct fs_sim *sim);
void fs_gen_release(struct fs_sim *sim);
/* Generates the trades due by now and hands them to the venue modules (deliver). */
void fs_gen_tick(struct fs_sim *sim, int64_t now_ns);
/* Restarts the virtual clock of an exchange (after maintenance). */
void fs_gen_resync(struct fs_sim *sim, int exch, int64_t now_ns);

/* JSON text helpers (json string escaping into an fh_buf). */
void fs_json_str(struct fh_buf *b, const char *s, size_t n);

#endif
