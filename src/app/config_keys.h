/*
 * config_keys.h - THE table of configuration keys.
 *
 * Everything about a key comes from its one line here: the typed field of struct fh_config
 * (config.h), its default, how its value is parsed and checked, the `feedhandler config-keys`
 * listing, and the tests that keep config/feedhandler.ini and docs/CONFIG.md in step with it.
 * To add a key, add one FH_CFG_KEY line to its section (and, for a new enumeration, one
 * FH_CFG_ENUM_<name> list below, named in FH_CFG_ENUMS and FH_CFG_NEW_ENUMS), then document it in
 * the ini file and regenerate the table in docs/CONFIG.md with `feedhandler config-keys`
 * (unit.config fails until both are done).
 *
 * This is an X-include: it has no include guard. The includer defines the FH_CFG_* macros it
 * needs before including it; the others expand to nothing, and all are undefined at the end.
 *
 *   FH_CFG_SECTION_BEGIN(section, used_by, doc)    opens a section of typed keys
 *   FH_CFG_KEY(section, key, TYPE, spec, default, doc)
 *   FH_CFG_SECTION_END(section)
 *   FH_CFG_PASSTHROUGH(section, used_by, doc)      a section whose keys go to a library verbatim
 *
 * section and key are C identifiers: the value lives in struct fh_config as cfg->section.key.
 * default is the text of the value as it would be written in the file; it is parsed by the same
 * code as a configured value. TYPE and its spec (always in parentheses):
 *
 *   BOOL     ()                   true/false, yes/no, on/off, 1/0 (any case)      -> bool
 *   INT      (min, max)           decimal integer within [min, max]                -> int64_t
 *   MS       (min, max)           duration: a decimal number of milliseconds; the key's
 *                                 name ends in _ms, so no unit suffix is accepted  -> int64_t
 *   SIZE     (min, max)           bytes, with an optional k/m/g suffix (x1024^n)   -> uint64_t
 *   STRING   (check or NULL)      any text without control characters              -> char *
 *   URL      ("s1|s2", empty_ok)  scheme://host[:port][/path] with a listed scheme -> char *
 *   HOSTPORT (empty_ok)           host:port or [v6]:port, port 1..65535            -> char *
 *   LIST     (check or NULL)      comma-separated, items trimmed, none empty, no
 *                                 duplicates; check (if any) applies to each item  ->
 * fh_config_list ENUM     (C type, list)       one of the names in FH_CFG_ENUM_<list> (any case) ->
 * C type ENUMLIST (list)               comma-separated names from FH_CFG_ENUM_<list>, stored in
 * their canonical spelling               -> fh_config_list
 *
 * check functions have the type fh_config_check_fn and are defined in config.c.
 */

/* Enumerations used by ENUM and ENUMLIST keys: V(C enumerator, "spelling"). */
/* clang-format off */
#ifndef FH_CFG_ENUM_LISTS
#define FH_CFG_ENUM_LISTS
#define FH_CFG_ENUM_log_level(V) \
    V(FH_LOG_ERROR, "error") V(FH_LOG_WARN, "warn") V(FH_LOG_INFO, "info") V(FH_LOG_DEBUG, "debug")
#define FH_CFG_ENUM_sink_type(V) \
    V(FH_SINK_TYPE_STDOUT, "stdout") V(FH_SINK_TYPE_FILE, "file") V(FH_SINK_TYPE_KAFKA, "kafka")
#define FH_CFG_ENUM_sink_format(V) \
    V(FH_SINK_FORMAT_JSON, "json") V(FH_SINK_FORMAT_AVRO, "avro")
#define FH_CFG_ENUM_sink_profile(V) \
    V(FH_SINK_PROFILE_THROUGHPUT, "throughput") V(FH_SINK_PROFILE_LATENCY, "latency")
#define FH_CFG_ENUM_binance_channel(V) \
    V(FH_BINANCE_CHANNEL_TRADE, "trade") V(FH_BINANCE_CHANNEL_AGGTRADE, "aggTrade")
#define FH_CFG_ENUM_spool_fsync(V) \
    V(FH_CFG_FSYNC_BATCH, "batch") V(FH_CFG_FSYNC_INTERVAL, "interval") V(FH_CFG_FSYNC_OFF, "off")
#define FH_CFG_ENUM_spool_on_full(V) \
    V(FH_CFG_ON_FULL_DROP, "drop") V(FH_CFG_ON_FULL_BACKPRESSURE, "backpressure") V(FH_CFG_ON_FULL_STOP, "stop")
/* Every list above; config.c builds a table of names for each. */
#define FH_CFG_ENUMS(X) X(log_level) X(sink_type) X(sink_format) X(sink_profile) X(binance_channel) X(spool_fsync) X(spool_on_full)
/* The lists whose C type config.h declares, as enum fh_config_<list> (log_level's type,
 * enum fh_log_level, belongs to core/log.h). */
#define FH_CFG_NEW_ENUMS(X) X(sink_type) X(sink_format) X(sink_profile) X(binance_channel) X(spool_fsync) X(spool_on_full)
#endif
/* clang-format on */

#ifndef FH_CFG_SECTION_BEGIN
#define FH_CFG_SECTION_BEGIN(section, used_by, doc)
#endif
#ifndef FH_CFG_KEY
#define FH_CFG_KEY(section, key, type, spec, def, doc)
#endif
#ifndef FH_CFG_SECTION_END
#define FH_CFG_SECTION_END(section)
#endif
#ifndef FH_CFG_PASSTHROUGH
#define FH_CFG_PASSTHROUGH(section, used_by, doc)
#endif

/* clang-format off */
FH_CFG_SECTION_BEGIN(log, "logging (src/core/log.c), applied at start-up", "Log lines on stderr.")
FH_CFG_KEY(log, level, ENUM, (enum fh_log_level, log_level), "info", "Lowest level of log line written to stderr.")
FH_CFG_SECTION_END(log)

FH_CFG_SECTION_BEGIN(sink, "the sink (src/sink), with the sink work", "Where normalized trades go.")
FH_CFG_KEY(sink, type, ENUM, (enum fh_config_sink_type, sink_type), "stdout", "Destination of trades: stdout, a file (sink.path) or Kafka (sink.topic, [kafka]).")
FH_CFG_KEY(sink, format, ENUM, (enum fh_config_sink_format, sink_format), "json", "Record encoding: JSON lines or Avro (schemas/trade.avsc).")
FH_CFG_KEY(sink, path, STRING, (NULL), "", "Output file for sink.type=file (required then).")
FH_CFG_KEY(sink, topic, STRING, (check_topic), "trades", "Kafka topic for sink.type=kafka.")
FH_CFG_KEY(sink, profile, ENUM, (enum fh_config_sink_profile, sink_profile), "throughput", "Kafka producer defaults: throughput (linger.ms=5: batches of 5 ms, fewer requests, less CPU per trade) or latency (linger.ms=0 and socket.nagle.disable=true: each record is sent as soon as the producer's thread takes it, for a lower receive -> ack time at more CPU and requests per trade); a property set in [kafka] still wins.")
FH_CFG_KEY(sink, flush_timeout_ms, MS, (0, 600000), "10000", "At shutdown, how long the sink may take to deliver what it holds.")
FH_CFG_KEY(sink, topic_per_venue, BOOL, (), "false", "One Kafka topic per venue, <topic>.<venue> (trades.binance), each with its own registry subject.")
FH_CFG_KEY(sink, buffer_bytes, SIZE, (65536, 1073741824), "8388608", "Memory buffer of the stdout and file sinks; when it is full the engine stops reading the exchanges until it drains.")
FH_CFG_SECTION_END(sink)

FH_CFG_SECTION_BEGIN(binance, "the Binance venue and the connection engine (src/venue, src/feed, src/net), with the connection-engine work", "Binance spot.")
FH_CFG_KEY(binance, enabled, BOOL, (), "true", "Subscribe to Binance spot trades.")
FH_CFG_KEY(binance, url, URL, ("ws|wss", false), "wss://stream.binance.com:9443", "WebSocket base URL of the market-data streams.")
FH_CFG_KEY(binance, rest_url, URL, ("http|https", false), "https://api.binance.com", "REST base URL (exchange metadata, trade backfill).")
FH_CFG_KEY(binance, symbols, LIST, (fh_binance_check_symbol), "", "Native Binance symbols, e.g. BTCUSDT,ETHUSDT (upper-case, no slash); required when enabled.")
FH_CFG_KEY(binance, channels, ENUMLIST, (binance_channel), "trade", "Trade streams to subscribe: trade and/or aggTrade.")
FH_CFG_KEY(binance, metadata_file, STRING, (check_readable_file), "", "Symbol metadata from this file (a saved exchangeInfo answer) instead of rest_url; empty: fetch it at start-up.")
FH_CFG_KEY(binance, streams_per_connection, INT, (1, 1024), "200", "Most streams (symbols x channels) per connection; more symbols open more connections (Binance allows 1024; the URL must stay under 8 KiB).")
FH_CFG_KEY(binance, microseconds, BOOL, (), "true", "Ask for microsecond times (timeUnit=MICROSECOND); false: millisecond times.")
FH_CFG_KEY(binance, lifetime_ms, MS, (0, 86400000), "84600000", "Replace a connection at this age, make-before-break, before Binance cuts it at 24 h; 0: never.")
FH_CFG_KEY(binance, lifetime_jitter_ms, MS, (0, 86400000), "600000", "Replace connections up to this much earlier, at random, so they do not all rotate at once.")
FH_CFG_KEY(binance, rotation_timeout_ms, MS, (100, 3600000), "60000", "Longest overlap of a connection and its replacement; then the old one is closed regardless.")
FH_CFG_KEY(binance, connect_budget, INT, (1, 100000), "300", "Most connection attempts per connect_budget_window_ms (Binance: 300 per 5 minutes per IP).")
FH_CFG_KEY(binance, connect_budget_window_ms, MS, (1000, 86400000), "300000", "Window of the connection budget.")
FH_CFG_SECTION_END(binance)

FH_CFG_SECTION_BEGIN(kraken, "the Kraken venue and the connection engine (src/venue, src/feed, src/net), with the connection-engine work", "Kraken spot.")
FH_CFG_KEY(kraken, enabled, BOOL, (), "true", "Subscribe to Kraken spot trades.")
FH_CFG_KEY(kraken, url, URL, ("ws|wss", false), "wss://ws.kraken.com/v2", "WebSocket URL; a path ending in /v2 selects protocol v2, any other path v1.")
FH_CFG_KEY(kraken, rest_url, URL, ("http|https", false), "https://api.kraken.com", "REST base URL (asset pairs, trade backfill).")
FH_CFG_KEY(kraken, symbols, LIST, (fh_kraken_check_symbol), "", "Native Kraken pairs for the protocol in use: BTC/USD on v2, XBT/USD on v1; required when enabled.")
FH_CFG_KEY(kraken, metadata_file, STRING, (check_readable_file), "", "Symbol metadata from this file (a saved AssetPairs answer) instead of rest_url; empty: fetch it at start-up.")
FH_CFG_KEY(kraken, symbols_per_connection, INT, (1, 1000), "50", "Most symbols per connection; more symbols open more connections.")
FH_CFG_KEY(kraken, connect_budget, INT, (1, 100000), "150", "Most connection attempts per connect_budget_window_ms (Kraken: about 150 per 10 minutes per IP).")
FH_CFG_KEY(kraken, connect_budget_window_ms, MS, (1000, 86400000), "600000", "Window of the connection budget.")
FH_CFG_SECTION_END(kraken)

FH_CFG_SECTION_BEGIN(feed, "the connection engine (src/feed, src/net), with the connection-engine work", "Connections: timeouts and liveness.")
FH_CFG_KEY(feed, connect_timeout_ms, MS, (100, 600000), "10000", "Longest DNS lookup, and TCP connect plus TLS handshake per address.")
FH_CFG_KEY(feed, handshake_timeout_ms, MS, (100, 600000), "10000", "Longest wait for the WebSocket upgrade answer.")
FH_CFG_KEY(feed, subscribe_timeout_ms, MS, (100, 600000), "10000", "Longest wait for every subscription to be acknowledged (Kraken).")
FH_CFG_KEY(feed, ping_interval_ms, MS, (0, 3600000), "10000", "Send a ping after this long without receiving anything (WebSocket ping on Binance, application ping on Kraken); 0: never.")
FH_CFG_KEY(feed, pong_timeout_ms, MS, (100, 600000), "10000", "Reconnect when a ping is not answered within this time.")
FH_CFG_KEY(feed, watchdog_ms, MS, (100, 3600000), "30000", "Reconnect a connection that received nothing at all (no trade, heartbeat, ping or pong) for this long.")
FH_CFG_KEY(feed, max_message_bytes, SIZE, (4096, 67108864), "1048576", "Largest WebSocket message accepted; a larger one closes the connection (1009).")
FH_CFG_KEY(feed, gap_list_size, INT, (1, 1000000), "4096", "Trade-id gaps kept in memory for backfill; the oldest are dropped (and counted) beyond it.")
FH_CFG_KEY(feed, realtime_priority, INT, (0, 99), "0", "SCHED_FIFO priority (1-99) of the engine thread, set once start-up is done, so that other threads and processes on its core do not delay a frame; the engine's own later threads and librdkafka's keep the normal scheduler. Needs CAP_SYS_NICE or LimitRTPRIO= at least this; 0: the normal scheduler.")
FH_CFG_SECTION_END(feed)

FH_CFG_SECTION_BEGIN(backfill, "the connection engine's REST backfill (src/feed/backfill.c, engine_backfill.c), with the completeness work", "REST backfill of trade-id gaps, and gap records.")
FH_CFG_KEY(backfill, enabled, BOOL, (), "true", "Fetch every detected trade-id gap (Binance, Kraken v2) from the exchange's REST trade history and write the trades (source BACKFILL) in id order; false: nothing is fetched, and every gap still gets its gap records, DETECTED then UNRECOVERABLE \"backfill disabled\" with its ids.")
FH_CFG_KEY(backfill, gap_topic, STRING, (NULL), "", "Kafka topic of the gap records (schemas/gap.avsc, key venue:symbol); empty: the trade topic's name followed by .gaps. The stream sinks write gap records into their output, between the trades.")
FH_CFG_KEY(backfill, deadline_ms, MS, (1000, 86400000), "120000", "A gap ends at most this long after its detection: what is not fetched by then is declared missing (rest budget exhausted, or rest unavailable).")
FH_CFG_KEY(backfill, max_open_gaps, INT, (1, 100000), "256", "Gaps being filled at once per venue; a gap beyond it is declared unrecoverable at once (too many open gaps).")
FH_CFG_KEY(backfill, hold_trades, INT, (16, 10000000), "200000", "Live trades held per venue while their symbols' gaps are filled (about 200 bytes each); when it is full the gaps of the symbol that needs more end (hold buffer full) and its trades flow again.")
FH_CFG_KEY(backfill, hold_trades_per_symbol, INT, (16, 10000000), "50000", "Live trades held per symbol and channel while its gap is filled.")
FH_CFG_KEY(backfill, page_limit, INT, (1, 1000), "1000", "Trades asked per REST page.")
FH_CFG_KEY(backfill, max_failures, INT, (1, 1000), "5", "Failed REST answers in a row (no answer, not 200, an unusable body) before a gap's unfetched ids are declared missing (rest unavailable).")
FH_CFG_KEY(backfill, requests, INT, (1, 64), "4", "REST requests in flight per venue.")
FH_CFG_KEY(backfill, request_timeout_ms, MS, (100, 600000), "10000", "Longest wait for one REST page (connection included).")
FH_CFG_KEY(backfill, binance_weight_limit, INT, (1, 1000000), "6000", "Binance REQUEST_WEIGHT per minute of the address (6,000 on api.binance.com).")
FH_CFG_KEY(backfill, binance_weight_share_pct, INT, (1, 100), "50", "Share of binance_weight_limit backfill may use (historicalTrades costs 25, aggTrades 4); the rest is left to the address's other users. An X-MBX-USED-WEIGHT-1M above our own count is respected.")
FH_CFG_KEY(backfill, kraken_pair_interval_ms, MS, (0, 60000), "1000", "Least time between two Trades calls for one Kraken pair; EGeneral:Too many requests backs off further (1 s doubling to 60 s).")
FH_CFG_SECTION_END(backfill)

FH_CFG_SECTION_BEGIN(reconnect, "the connection engine (src/feed), with the connection-engine work", "Reconnect policy: backoff and circuit breaker.")
FH_CFG_KEY(reconnect, base_ms, MS, (1, 600000), "200", "Ceiling of the first reconnect delay; doubles per failed attempt (full jitter: the delay is uniform below the ceiling).")
FH_CFG_KEY(reconnect, max_ms, MS, (1, 3600000), "30000", "Cap of the reconnect delay ceiling.")
FH_CFG_KEY(reconnect, stable_ms, MS, (0, 86400000), "60000", "A connection that stayed subscribed this long resets the backoff even if it delivered no trade (quiet symbols); one that delivered a live trade resets it at once.")
FH_CFG_KEY(reconnect, throttled_ms, MS, (0, 3600000), "60000", "Least delay after the exchange refused a handshake with HTTP 429, 403 or 418.")
FH_CFG_KEY(reconnect, maintenance_ms, MS, (0, 3600000), "5000", "Least delay between attempts while or after the exchange reports maintenance.")
FH_CFG_KEY(reconnect, breaker_failures, INT, (1, 1000000), "10", "Consecutive failed attempts of a venue that open its circuit breaker.")
FH_CFG_KEY(reconnect, breaker_open_ms, MS, (1, 3600000), "30000", "How long an open breaker blocks attempts before one probe is allowed.")
FH_CFG_SECTION_END(reconnect)

FH_CFG_SECTION_BEGIN(record, "the connection engine's recorder (src/feed/record.c), with the connection-engine work", "Recording of raw exchange messages.")
FH_CFG_KEY(record, dir, STRING, (NULL), "", "Directory for recordings of every raw message (NDJSON, readable by feedhandler replay); empty: no recording.")
FH_CFG_KEY(record, max_file_bytes, SIZE, (4096, 1099511627776), "268435456", "A recording file is closed, at a line boundary, once it would grow beyond this.")
FH_CFG_KEY(record, max_files, INT, (1, 1000000), "16", "Recording files kept in the directory; the oldest are deleted.")
FH_CFG_KEY(record, buffer_bytes, SIZE, (65536, 1073741824), "8388608", "Memory buffer of the recorder; when it is full messages are not recorded (counted), the feed never waits.")
FH_CFG_SECTION_END(record)

FH_CFG_SECTION_BEGIN(tls, "TLS client connections (src/net), with the connection-engine work", "TLS to the exchanges.")
FH_CFG_KEY(tls, ca_file, STRING, (check_readable_file), "", "PEM file of CA certificates to trust; empty: the system store.")
FH_CFG_KEY(tls, verify, BOOL, (), "true", "Verify server certificates and host names; false only for local tests.")
FH_CFG_SECTION_END(tls)

FH_CFG_SECTION_BEGIN(metrics, "the metrics and health server (src/obs), with the metrics work", "Prometheus metrics and health checks.")
FH_CFG_KEY(metrics, listen, HOSTPORT, (true), "", "host:port of the /metrics, /healthz and /readyz server; empty disables it.")
FH_CFG_KEY(metrics, health_stall_ms, MS, (1000, 3600000), "10000", "/healthz answers 503 when the engine's event loop has not run its timers for this long (a stuck loop); also the shortest sensible liveness-probe failure window.")
FH_CFG_SECTION_END(metrics)

FH_CFG_SECTION_BEGIN(schema_registry, "the Kafka sink's Avro framing (src/sink), with the sink work", "Confluent Schema Registry.")
FH_CFG_KEY(schema_registry, url, URL, ("http|https", true), "", "Schema Registry base URL; empty: none (Avro single-object encoding).")
FH_CFG_KEY(schema_registry, timeout_ms, MS, (100, 600000), "5000", "Longest wait for each registry request at start-up (connection included).")
FH_CFG_SECTION_END(schema_registry)

FH_CFG_SECTION_BEGIN(spool, "the Kafka sink's disk spool (src/sink/spool.c), with the sink work", "Disk spool of the Kafka sink: records the broker cannot take now.")
FH_CFG_KEY(spool, dir, STRING, (NULL), "", "Spool directory (created if missing; one process at a time); empty: no spool: a full producer queue pushes back on the feeds and a failed delivery is lost.")
FH_CFG_KEY(spool, max_bytes, SIZE, (1048576, 1099511627776), "1073741824", "Disk budget; when it is used up the sink pushes back on the feeds (records coming back from the producer may exceed it by the producer's queue size). The filesystem's free space less reserve_bytes bounds it too, checked at start-up (a warning when max_bytes is larger) and while running.")
FH_CFG_KEY(spool, reserve_bytes, SIZE, (0, 1099511627776), "0", "Free space the spool leaves on its filesystem for records coming back from the producer, the checkpoint and new segment files; 0: twice queue.buffering.max.kbytes plus 1 MiB.")
FH_CFG_KEY(spool, on_full, ENUM, (enum fh_config_spool_on_full, spool_on_full), "drop", "When the spool has refused records for full_grace_ms (disk budget or filesystem full, or writes failing): drop (new trades are dropped, each counted in feedhandler_trades_lost_total and logged with venue, symbol and ids, until it has room), backpressure (keep the feeds paused however long) or stop (the daemon stops with exit status 1).")
FH_CFG_KEY(spool, full_grace_ms, MS, (100, 86400000), "10000", "How long the spool may refuse records (the feeds are paused meanwhile and the drain frees space) before on_full applies; also how long records that cannot be written are held in memory and retried before they are given up and counted as lost.")
FH_CFG_KEY(spool, segment_bytes, SIZE, (65536, 1073741824), "16777216", "Size at which a spool segment file is closed; finished segments are deleted whole.")
FH_CFG_KEY(spool, fsync, ENUM, (enum fh_config_spool_fsync, spool_fsync), "batch", "When spooled data is made durable: batch (after every write batch), interval (every fsync_interval_ms) or off (survives a process crash, not a power loss).")
FH_CFG_KEY(spool, fsync_interval_ms, MS, (1, 600000), "1000", "Period of fsync for spool.fsync=interval.")
FH_CFG_KEY(spool, queue_bytes, SIZE, (4194304, 1073741824), "8388608", "Memory between the engine and the spool writer thread; when it is full the sink pushes back on the feeds.")
FH_CFG_KEY(spool, inflight_max, INT, (1, 10000000), "10000", "Most spooled records handed to the producer at once while draining; a crash while draining delivers at most inflight_max + 2048 records twice.")
FH_CFG_KEY(spool, spill_after_ms, MS, (100, 3600000), "3000", "When records wait in the producer and no delivery report came for this long, new records go to the spool, behind the ones librdkafka keeps retrying.")
FH_CFG_KEY(spool, take_back_after_ms, MS, (100, 86400000), "60000", "When no delivery report came for this long, the records still queued in librdkafka are taken back into the spool, so that a crash during a long outage does not lose them; records librdkafka had already sent may then be delivered twice (counted as suspects). Longer than a leader failover, so that a failover delivers every record exactly once.")
FH_CFG_SECTION_END(spool)

FH_CFG_PASSTHROUGH(kafka, "the Kafka sink (src/sink), with the sink work", "librdkafka producer properties, passed verbatim and checked by librdkafka.")
/* clang-format on */

#undef FH_CFG_SECTION_BEGIN
#undef FH_CFG_KEY
#undef FH_CFG_SECTION_END
#undef FH_CFG_PASSTHROUGH
