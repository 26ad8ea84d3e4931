/*
 * venue.h - one interface over the exchange protocols (Binance spot, Kraken v1, Kraken v2).
 *
 * Each protocol is a `const struct fh_venue_ops` table (binance.c, kraken_v1.c, kraken_v2.c)
 * in a NULL-terminated registry. Everything here is pure: no sockets, no clocks, no logging.
 * Time is passed in; output goes to caller-visible structures. That makes every function
 * unit-testable and fuzzable, and usable for live feeds, backfill and replay alike.
 *
 * Parsing: fh_venue_parse() turns one complete WebSocket text message into one event
 * (struct fh_venue_msg): trades, a control event, or a rejection with a reason. A message is
 * accepted or rejected as a whole: when any trade in it is invalid, no trade of it is
 * returned. Trades point into the message (native symbol) and into the parser's symbol table
 * (canonical symbol), so they must be consumed before the next call.
 *
 * Locality: a struct fh_venue_parser belongs to one thread (the engine, or a replay loop).
 */
#ifndef FH_VENUE_VENUE_H
#define FH_VENUE_VENUE_H

#include "core/buf.h"
#include "model/symbols.h"
#include "model/trade.h"
#include "venue/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fh_protocol { FH_PROTO_BINANCE = 0, FH_PROTO_KRAKEN_V1 = 1, FH_PROTO_KRAKEN_V2 = 2 };

/* How REST trade history pages (build_rest_trades): not at all, by trade id (Binance fromId),
 * or by a time cursor (Kraken since / last). */
enum fh_rest_paging { FH_REST_NONE = 0, FH_REST_BY_ID = 1, FH_REST_BY_SINCE = 2 };

/* What a message was. */
enum fh_event {
    FH_EV_NONE = 0,
    FH_EV_TRADES,          /* trades[0..n_trades) */
    FH_EV_HEARTBEAT,       /* liveness only (Kraken heartbeat) */
    FH_EV_PONG,            /* application-level pong (Kraken); req_id if given */
    FH_EV_STATUS,          /* exchange engine status (Kraken systemStatus / status channel) */
    FH_EV_SUBSCRIBED,      /* Kraken: a subscription acknowledged, per symbol (symbol, channel) */
    FH_EV_UNSUBSCRIBED,    /* Kraken: an unsubscription acknowledged, per symbol */
    FH_EV_REQUEST_ERROR,   /* a request was refused: req_id / symbol if known, text */
    FH_EV_ERROR,           /* a server error not tied to a request */
    FH_EV_RESULT,          /* Binance: a reply {"result":..,"id":..}; text holds the raw result
                              ("null" for a successful SUBSCRIBE/UNSUBSCRIBE/SET_PROPERTY); the
                              session matches it to its request by req_id */
    FH_EV_SERVER_SHUTDOWN, /* the server announced it will disconnect (Binance serverShutdown) */
    FH_EV_IGNORED          /* a valid message of a channel we do not consume (depth, book...) */
};

/* Why a message was rejected. Names (fh_reject_name) are metric label values. */
enum fh_reject {
    FH_REJ_NONE = 0,
    FH_REJ_OVERSIZE,        /* longer than max_message_bytes */
    FH_REJ_UTF8,            /* not valid UTF-8 */
    FH_REJ_JSON,            /* malformed JSON */
    FH_REJ_TOO_MANY_TOKENS, /* more JSON tokens than the parser holds */
    FH_REJ_UNKNOWN_MESSAGE, /* valid JSON that matches no message type of the protocol */
    FH_REJ_MISSING_FIELD,   /* a required field is absent */
    FH_REJ_BAD_FIELD,       /* a field has the wrong type or an invalid value */
    FH_REJ_BAD_PRICE,       /* price is not an exact positive decimal(38,18) */
    FH_REJ_BAD_QUANTITY,    /* quantity is not an exact positive decimal(38,18) */
    FH_REJ_BAD_TIME,        /* a time field is malformed or out of range */
    FH_REJ_UNKNOWN_SYMBOL,  /* symbol not in the metadata table */
    FH_REJ_TOO_MANY_TRADES, /* more trades in one message than the parser's bound */
    FH_REJ_BINARY_FRAME,    /* a binary WebSocket message: the protocols are JSON text (the
                               engine rejects it before parsing) */
    FH_REJ_COUNT
};
const char *fh_reject_name(enum fh_reject r);

/* Exchange engine status (Kraken). */
enum fh_system_status {
    FH_STATUS_UNKNOWN = 0,
    FH_STATUS_ONLINE,
    FH_STATUS_MAINTENANCE,
    FH_STATUS_CANCEL_ONLY,
    FH_STATUS_POST_ONLY,
    FH_STATUS_LIMIT_ONLY
};

/* The result of parsing one message. Views point into the message or the parser. */
struct fh_venue_msg {
    enum fh_event event;
    enum fh_reject reject; /* set when fh_venue_parse returns < 0 */
    struct fh_trade *trades;
    size_t n_trades;
    int64_t req_id; /* valid if has_req_id */
    bool has_req_id;
    struct fh_str symbol;  /* native symbol of an ack/error, if any */
    struct fh_str channel; /* channel or stream name where the protocol gives one */
    struct fh_str text;    /* error text, raw JSON string contents */
    enum fh_system_status status;
    uint64_t server_connection_id; /* Kraken connection id (may exceed INT64_MAX) */
    bool snapshot;                 /* Kraken v2 trade snapshot (trades have source SNAPSHOT) */
};

/* Channels a connection carries (bit set). Kraken has only trades. */
enum fh_channel { FH_CH_TRADE = 1 << 0, FH_CH_AGG_TRADE = 1 << 1 };

/* Options fixed per connection. */
struct fh_venue_parser_opts {
    size_t max_message_bytes; /* messages longer than this are rejected (FH_REJ_OVERSIZE) */
    uint32_t max_tokens;      /* JSON token capacity */
    size_t max_trades;        /* most trades accepted in one message */
    bool time_us;             /* the connection asked for microsecond times (Binance
                               * timeUnit=MICROSECOND) */
    bool general_only;        /* never the protocol's parse_fast: for the tests and fuzzers
                               * that compare the two paths */
};
#define FH_VENUE_DEFAULT_MAX_MESSAGE (1u << 20)
#define FH_VENUE_DEFAULT_MAX_TOKENS  (1u << 16)
#define FH_VENUE_DEFAULT_MAX_TRADES  4096u

struct fh_venue_ops;

struct fh_venue_parser {
    const struct fh_venue_ops *ops;
    const struct fh_symbols *symbols; /* borrowed; NULL: every symbol is unknown */
    struct fh_venue_parser_opts opts;
    struct fh_json json;
    struct fh_trade *trades; /* owned, opts.max_trades entries */
    char scratch[512];       /* decoded strings that contained escapes */
};

/* Allocates the parser's bounded buffers. opts may be NULL for defaults. Returns 0 or
 * FH_ENOMEM / FH_EINVAL. */
int fh_venue_parser_init(struct fh_venue_parser *p, const struct fh_venue_ops *ops,
                         const struct fh_symbols *symbols, const struct fh_venue_parser_opts *opts);
void fh_venue_parser_release(struct fh_venue_parser *p);

/*
 * Parses one complete text message. Checks size and UTF-8, tokenizes, dispatches to the
 * protocol. Returns 0 with out->event set, or -1 with out->reject set (the message is
 * dropped as a whole). Trades get venue, symbols, ids, kind, price, quantity, side,
 * order_type, times and source (LIVE, or SNAPSHOT for a Kraken v2 snapshot); the caller
 * stamps receive times, connection id and sequence.
 */
int fh_venue_parse(struct fh_venue_parser *p, const char *msg, size_t len,
                   struct fh_venue_msg *out);

/* fh_venue_parse for a message already known to be valid UTF-8 (a WebSocket text message:
 * the client checks it before handing it over): every check but that pass. */
int fh_venue_parse_utf8(struct fh_venue_parser *p, const char *msg, size_t len,
                        struct fh_venue_msg *out);

/* What to subscribe to on one connection. */
struct fh_sub_spec {
    const struct fh_str *symbols; /* native names, as configured (BTCUSDT, XBT/USD, BTC/USD) */
    size_t n_symbols;
    unsigned channels; /* enum fh_channel bits; Kraken: FH_CH_TRADE */
    bool snapshot;     /* Kraken v2: ask for the trade snapshot (after a reconnect) */
    bool time_us;      /* Binance: timeUnit=MICROSECOND */
    int64_t req_id;    /* request id to put in the message */
};

/* A page request for backfill over REST. */
struct fh_rest_req {
    struct fh_str symbol; /* native REST symbol (BTCUSDT; Kraken altname or wsname) */
    int64_t from_id;      /* Binance: first trade/aggregate id wanted (inclusive) */
    struct fh_str since;  /* Kraken: opaque cursor ("last" of the previous page) or seconds */
    unsigned limit;       /* rows per page (Binance <= 1000, Kraken count <= 1000) */
    bool aggregate;       /* Binance: aggTrades instead of historicalTrades */
};

/* One parsed REST page. */
struct fh_rest_page {
    struct fh_trade *trades; /* the parser's trade buffer */
    size_t n_trades;
    struct fh_str cursor; /* Kraken "last"; empty when the protocol has none */
    struct fh_str error;  /* exchange error text (Kraken "error" array), if any */
    bool rate_limited;    /* the exchange said slow down (Kraken EGeneral:Too many requests) */
};

/*
 * What the connection engine and the application need to know of a protocol, so that they
 * never test which protocol it is: a new venue is a folder of src/venue with its ops table.
 */
struct fh_venue_caps {
    /* The URL names the streams (combined streams): no subscribe message, streaming as soon
     * as the WebSocket is open; per_connection counts streams (symbol x channel). Otherwise a
     * subscribe message per connection, acknowledged per symbol (FH_EV_SUBSCRIBED). */
    bool subscribe_in_url;
    /* Trades carry the exchange's ids: gaps are detected and duplicates dropped by id. */
    bool trade_ids;
    /* Liveness by WebSocket ping frames; otherwise by build_ping messages (FH_EV_PONG). */
    bool ws_ping;
    /* The server ends connections after a lifetime (24 h): make-before-break rotation. */
    bool rotation;
    /* A resubscription can ask for the latest trades again (fh_sub_spec.snapshot): the
     * overlap with what was received is deduplicated by id and nothing in it is lost. */
    bool snapshot_on_resubscribe;
    /* enum fh_channel bits the protocol offers; a protocol with FH_CH_TRADE alone always
     * subscribes to it whatever is configured. */
    unsigned channels;
    /* REST trade pages name their symbol (otherwise the caller must say which it asked). */
    bool rest_rows_carry_symbol;
    /* How the REST trade history pages; backfill needs ids as well (trade_ids). */
    enum fh_rest_paging rest_paging;
    /* A native symbol, for messages ("BTCUSDT", "BTC/USD"). */
    const char *symbol_example;
};

struct fh_venue_ops {
    const char *name;    /* "binance", "kraken-v1", "kraken-v2" (config and replay --venue) */
    const char *venue;   /* fh_trade.venue: "binance", "kraken" */
    const char *section; /* its configuration section ("binance", "kraken") */
    /* Protocols sharing a section are told apart by the end of the URL's path ("/v2");
     * NULL: the section's protocol when no other one's suffix matches. */
    const char *url_path_suffix;
    enum fh_protocol protocol;
    struct fh_venue_caps caps;

    /* Checks the syntax of a configured native symbol. Returns 0, or FH_EINVAL with a
     * sentence in err. */
    int (*check_symbol)(const char *s, char *err, size_t errlen);

    /* Parses a validated JSON document (p->json holds its tokens; msg is the text). */
    int (*parse)(struct fh_venue_parser *p, const char *msg, size_t len, struct fh_venue_msg *out);
    /* Optional, tried first on a message whose size and UTF-8 passed: the protocol's common
     * trade message read without tokens. 1 when out holds exactly what tokenizing and parse
     * would give; 0 (out untouched) for anything else, which then takes the general path.
     * Never rejects. p->json is not updated. */
    int (*parse_fast)(struct fh_venue_parser *p, const char *msg, size_t len,
                      struct fh_venue_msg *out);

    /* Appends the WebSocket URL for a connection carrying spec to out, given the configured
     * base URL (wss://stream.binance.com:9443, wss://ws.kraken.com/v2). */
    int (*build_url)(const char *base_url, const struct fh_sub_spec *spec, struct fh_buf *out);
    /* Appends the subscribe / unsubscribe request text. FH_EUNSUPPORTED when not needed. */
    int (*build_subscribe)(const struct fh_sub_spec *spec, struct fh_buf *out);
    int (*build_unsubscribe)(const struct fh_sub_spec *spec, struct fh_buf *out);
    /* Appends an application-level ping; FH_EUNSUPPORTED where the protocol uses WebSocket
     * pings (Binance). */
    int (*build_ping)(int64_t req_id, struct fh_buf *out);

    /* Appends the REST path and query of a backfill page request. */
    int (*build_rest_trades)(const struct fh_rest_req *req, struct fh_buf *out);
    /* The request header line that asks REST for microsecond times, to send when the
     * parser's time_us is set (Binance: X-MBX-TIME-UNIT); NULL: none needed. */
    const char *rest_time_us_header;
    /* Parses a backfill page body. Trades get source BACKFILL. Same result convention as
     * fh_venue_parse (0, or -1 with *reject set). */
    int (*parse_rest_trades)(struct fh_venue_parser *p, const char *body, size_t len,
                             struct fh_str symbol, struct fh_rest_page *out,
                             enum fh_reject *reject);

    /* REST path of the symbol metadata (exchangeInfo, AssetPairs). */
    const char *metadata_path;
    /* Fills t from a metadata document. Returns 0, or a negative code with a sentence in
     * err. */
    int (*parse_metadata)(const char *body, size_t len, struct fh_symbols *t, char *err,
                          size_t errlen);
};

extern const struct fh_venue_ops fh_venue_binance;
extern const struct fh_venue_ops fh_venue_kraken_v1;
extern const struct fh_venue_ops fh_venue_kraken_v2;
/* NULL-terminated registry of every protocol. */
extern const struct fh_venue_ops *const fh_venues[];

/* The protocol named name ("binance", "kraken-v1", "kraken-v2"), or NULL. */
const struct fh_venue_ops *fh_venue_find(const char *name);

/* The protocol of configuration section `section` for a connection to url (Kraken's v1 and
 * v2 share a section: a URL whose path ends in /v2 is v2), or NULL. */
const struct fh_venue_ops *fh_venue_for_section(const char *section, const char *url);

/* The syntax checks of configured symbols, for the configuration key table. */
int fh_binance_check_symbol(const char *s, char *err, size_t errlen);
int fh_kraken_check_symbol(const char *s, char *err, size_t errlen);

#endif
