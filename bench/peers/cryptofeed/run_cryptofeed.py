"""run_cryptofeed.py - cryptofeed (unmodified, from PyPI) as a user would run it: a FeedHandler
with Binance spot and Kraken trades, produced to Kafka by cryptofeed's own Kafka backend.

Run it with the interpreter of the venv that install.sh made (not the repository's python):

  VENV=$(sh bench/peers/cryptofeed/install.sh)
  $VENV/bin/python bench/peers/cryptofeed/run_cryptofeed.py \
      --binance-url wss://localhost:PORT --rest-binance https://localhost:PORT \
      --kraken-url wss://localhost:PORT_V1/ --rest-kraken https://localhost:PORT_V1 \
      --ca-file ca.pem --symbols BTC-USDT,ETH-USD --bootstrap 127.0.0.1:9092 --topic trades-cf

How it is pointed at feedsim, without touching the installed package: the harness subclasses
cryptofeed's Binance and Kraken feeds and overrides their class attributes
`websocket_endpoints` (cryptofeed.connection.WebsocketEndpoint: the address, and the options
passed to websockets' connect(), where an ssl.SSLContext trusting --ca-file goes) and
`rest_endpoints` (RestEndpoint with the same Routes as upstream: the symbol lists come from
/api/v3/exchangeInfo and /0/public/AssetPairs of feedsim). cryptofeed fetches those lists with
`requests`, which does not take an SSLContext; REQUESTS_CA_BUNDLE (set here from --ca-file)
makes it trust the test CA. cryptofeed 2.4.1 only accepts wss:// websocket addresses
(WSAsyncConn raises "Invalid address, must be a wss address"), so feedsim must serve TLS.

Protocols cryptofeed 2.4.1 speaks: Binance combined streams `/stream?streams=<sym>@aggTrade/...`
(its TRADES channel is `aggTrade`: aggregate trades, the aggregate id as the trade id); Kraken
WebSocket **v1** (`{"event":"subscribe","pair":["XBT/USD"],"subscription":{"name":"trade"}}`,
trades without ids) - so --kraken-url must be feedsim's --kraken-v1 port, path `/`.

Kafka: a TradeKafka (cryptofeed.backends.kafka) whose topic() is overridden to return --topic
(upstream writes to "trades-<EXCHANGE>-<SYMBOL>", one topic per pair); every other keyword goes
to aiokafka's AIOKafkaProducer (acks, enable_idempotence, compression_type, linger_ms). Values
are cryptofeed's default JSON (yapic.json), key b"trades" on every record.

Stops on SIGINT/SIGTERM (cryptofeed's own handlers) or after --duration seconds; then prints
one JSON line of counters to stdout: trades received per exchange (a counting callback beside
the Kafka one; what reached the topic is for the reader of the topic to say).
"""

import argparse
import asyncio
import collections
import json
import os
import ssl
import sys
import time


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binance-url", help="Binance websocket base, e.g. wss://localhost:PORT "
                    "(cryptofeed appends /stream?streams=...); omit to run without Binance")
    ap.add_argument("--kraken-url", help="Kraken v1 websocket address, e.g. wss://localhost:PORT/ "
                    "(feedsim --kraken-v1); omit to run without Kraken")
    ap.add_argument("--rest-binance", help="Binance REST base for /api/v3/exchangeInfo "
                    "(default: --binance-url with https://)")
    ap.add_argument("--rest-kraken", help="Kraken REST base for /0/public/AssetPairs "
                    "(default: --kraken-url's scheme and host with https://)")
    ap.add_argument("--symbols", default="BTC-USDT,ETH-USD,DOGE-USD",
                    help="cryptofeed symbols BASE-QUOTE, comma-separated, for both exchanges")
    ap.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    ap.add_argument("--topic", required=True, help="the one topic every trade goes to")
    ap.add_argument("--duration", type=float, default=0, help="seconds, then stop (0: until a signal)")
    ap.add_argument("--ca-file", help="PEM CA to trust (feedsim's test CA); also exported as "
                    "REQUESTS_CA_BUNDLE for cryptofeed's REST symbol fetch")
    ap.add_argument("--acks", default="all", help="aiokafka acks: 0, 1 or all (default all)")
    ap.add_argument("--idempotence", choices=("on", "off"), default="on",
                    help="aiokafka enable_idempotence (default on)")
    ap.add_argument("--compression", default="lz4", help="aiokafka compression_type: none, gzip, "
                    "snappy, lz4, zstd (default lz4)")
    ap.add_argument("--linger-ms", type=int, default=0, help="aiokafka linger_ms (default 0)")
    ap.add_argument("--numeric-type", choices=("float", "str"), default="float",
                    help="KafkaCallback numeric_type: float (cryptofeed's default) or str "
                    "(exact decimal text)")
    ap.add_argument("--stats-interval", type=float, default=0,
                    help="print {\"t\":..,\"received\":..} to stdout every this many seconds "
                    "(0: only the final line)")
    ap.add_argument("--log-file", default=os.devnull,
                    help="cryptofeed's log file (its default is ./feedhandler.log)")
    ap.add_argument("--log-level", default="WARNING")
    ap.add_argument("--no-uvloop", action="store_true", help="plain asyncio loop")
    a = ap.parse_args(argv)
    if not a.binance_url and not a.kraken_url:
        ap.error("give --binance-url and/or --kraken-url")
    for u in (a.binance_url, a.kraken_url):
        if u and not u.startswith("wss://"):
            ap.error("%s: cryptofeed 2.4.1 only connects to wss:// addresses" % u)
    if a.binance_url and not a.rest_binance:
        a.rest_binance = "https://" + a.binance_url[len("wss://"):].split("/", 1)[0]
    if a.kraken_url and not a.rest_kraken:
        a.rest_kraken = "https://" + a.kraken_url[len("wss://"):].split("/", 1)[0]
    a.rest_binance = a.rest_binance.rstrip("/") if a.rest_binance else None
    a.rest_kraken = a.rest_kraken.rstrip("/") if a.rest_kraken else None
    a.symbols = [s.strip() for s in a.symbols.split(",") if s.strip()]
    a.acks = a.acks if a.acks == "all" else int(a.acks)
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    ws_options = {}
    if args.ca_file:
        # websockets: an SSLContext through the endpoint's options; requests (symbol lists):
        # its CA-bundle variable. SSL_CERT_FILE alone would do for websockets and aiohttp
        # (OpenSSL's default verify paths) but requests reads certifi's bundle instead.
        ws_options["ssl"] = ssl.create_default_context(cafile=args.ca_file)
        os.environ["REQUESTS_CA_BUNDLE"] = args.ca_file

    from cryptofeed import FeedHandler
    from cryptofeed.backends.kafka import TradeKafka
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.defines import TRADES
    from cryptofeed.exchanges import Binance, Kraken

    # the same Routes as upstream, on feedsim's addresses
    class SimBinance(Binance):
        websocket_endpoints = [WebsocketEndpoint(args.binance_url or "wss://unused",
                                                 options=dict(ws_options))]
        rest_endpoints = [RestEndpoint(args.rest_binance or "https://unused",
                                       routes=Routes('/api/v3/exchangeInfo',
                                                     l2book='/api/v3/depth?symbol={}&limit={}',
                                                     authentication='/api/v3/userDataStream'))]

    class SimKraken(Kraken):
        websocket_endpoints = [WebsocketEndpoint(args.kraken_url or "wss://unused", limit=20,
                                                 options=dict(ws_options))]
        rest_endpoints = [RestEndpoint(args.rest_kraken or "https://unused",
                                       routes=Routes('/0/public/AssetPairs'))]

    class OneTopicTradeKafka(TradeKafka):
        """cryptofeed's trade backend, writing every trade to one topic."""

        def __init__(self, topic, **kw):
            super().__init__(**kw)
            self.the_topic = topic

        def topic(self, data):
            return self.the_topic

    config = {"uvloop": not args.no_uvloop,
              "log": {"filename": args.log_file, "level": args.log_level}}
    fh = FeedHandler(config=config)  # installs uvloop's event loop policy (config uvloop)
    # FeedHandler.run() takes asyncio.get_event_loop(); uvloop >= 0.22's policy no longer creates
    # a loop there ("There is no current event loop in thread 'MainThread'"), so a script must
    # set one first (a uvloop loop: the policy is in place).
    asyncio.set_event_loop(asyncio.new_event_loop())

    producer = dict(bootstrap_servers=args.bootstrap, client_id="cryptofeed-peer", acks=args.acks,
                    enable_idempotence=args.idempotence == "on", linger_ms=args.linger_ms)
    if args.compression != "none":
        producer["compression_type"] = args.compression
    kafka = OneTopicTradeKafka(args.topic, numeric_type=float if args.numeric_type == "float"
                               else str, **producer)

    received = collections.Counter()
    first = {}

    async def count(trade, receipt_timestamp):
        received[trade.exchange] += 1
        if trade.exchange not in first:
            first[trade.exchange] = time.time()

    callbacks = {TRADES: [kafka, count]}
    if args.binance_url:
        fh.add_feed(SimBinance(symbols=args.symbols, channels=[TRADES], callbacks=callbacks,
                               config=config))
    if args.kraken_url:
        fh.add_feed(SimKraken(symbols=args.symbols, channels=[TRADES], callbacks=callbacks,
                              config=config))

    t0 = time.time()
    loop = asyncio.get_event_loop()
    if args.stats_interval > 0:
        def stats():
            print(json.dumps({"t": round(time.time(), 3), "received": sum(received.values())}),
                  flush=True)
            loop.call_later(args.stats_interval, stats)
        loop.call_later(args.stats_interval, stats)
    if args.duration > 0:
        def stop():
            raise SystemExit  # what cryptofeed's own signal handler does
        loop.call_later(args.duration, stop)
    fh.run()
    print(json.dumps({"received": dict(received), "total": sum(received.values()),
                      "first_trade_after_s": {k: round(v - t0, 3) for k, v in first.items()},
                      "ran_s": round(time.time() - t0, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
