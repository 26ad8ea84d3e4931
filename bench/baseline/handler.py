#!/usr/bin/python3
"""handler.py - the Python market-data handler (v0): Binance and Kraken v2 trades -> Kafka.

The baseline of the parallel run (issue 14) and of the benchmarks (issue 15): written the way
the handlers it stands for were written, with asyncio and websockets, the json module, Avro
via python3-avro in the Confluent wire format, and confluent-kafka. Its record is
trade_v0.avsc (com.example.marketdata.TradeEvent), next to this file. See README.md.

Run with the Debian interpreter (/usr/bin/python3: python3-websockets, python3-confluent-kafka,
python3-avro), e.g.

  /usr/bin/python3 handler.py --binance-url wss://stream.binance.com:9443 \
      --binance-symbols BTCUSDT,ETHUSDT --kraken-url wss://ws.kraken.com/v2 \
      --kraken-symbols BTC/USD,ETH/USD --bootstrap localhost:9092 --topic trades-v0 \
      --registry http://localhost:8081
"""

import argparse
import asyncio
import datetime
import io
import json
import logging
import os
import random
import signal
import ssl
import struct
import sys
import time
import urllib.error
import urllib.request

import avro.io
import avro.schema
import websockets
from confluent_kafka import KafkaException, Producer

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_FILE = os.path.join(HERE, "trade_v0.avsc")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_MS = datetime.timedelta(milliseconds=1)

log = logging.getLogger("handler")


class Stats:
    FIELDS = ("messages", "trades", "produced", "delivered", "errors", "reconnects")

    def __init__(self):
        for f in self.FIELDS:
            setattr(self, f, 0)

    def line(self):
        d = {"ts": round(time.time(), 3)}
        d.update((f, getattr(self, f)) for f in self.FIELDS)
        return json.dumps(d)


def now_ms():
    return time.time_ns() // 1_000_000


def rfc3339_to_ms(text):
    """'2026-10-06T18:14:44.947782Z' -> epoch milliseconds (truncated)."""
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return (dt - EPOCH) // ONE_MS


def register_schema(registry, subject, schema_text, attempts=5):
    """POST the schema to <registry>/subjects/<subject>/versions; returns its id."""
    url = "%s/subjects/%s/versions" % (registry.rstrip("/"), subject)
    body = json.dumps({"schema": schema_text}).encode()
    for attempt in range(1, attempts + 1):
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/vnd.schemaregistry.v1+json",
            "Accept": "application/vnd.schemaregistry.v1+json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return int(json.loads(r.read())["id"])
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:200]
            if e.code < 500:
                raise RuntimeError("schema registry refused %s: HTTP %d %s" %
                                   (subject, e.code, detail))
            err = "HTTP %d %s" % (e.code, detail)
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            err = str(e)
        log.warning("schema registry %s (attempt %d/%d): %s", url, attempt, attempts, err)
        if attempt < attempts:
            time.sleep(min(2 ** attempt * 0.25, 5))
    raise RuntimeError("schema registry unreachable: %s" % url)


class Publisher:
    """Avro (Confluent framing) -> confluent_kafka.Producer."""

    def __init__(self, args, stats):
        self.stats = stats
        self.topic = args.topic
        with open(SCHEMA_FILE) as f:
            schema_text = json.dumps(json.load(f), separators=(",", ":"))
        self.schema = avro.schema.parse(schema_text)
        self.writer = avro.io.DatumWriter(self.schema)
        self.schema_id = register_schema(args.registry, args.topic + "-value", schema_text)
        self.header = b"\x00" + struct.pack(">I", self.schema_id)
        log.info("schema %s registered as id %d (subject %s-value)", self.schema.fullname,
                 self.schema_id, args.topic)
        self.producer = Producer({
            "bootstrap.servers": args.bootstrap,
            "client.id": "marketdata-handler-v0",
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "error_cb": self._on_error,
        })
        self._errors_logged = 0

    def _on_error(self, err):
        log.warning("kafka: %s", err)

    def _on_delivery(self, err, msg):
        if err is None:
            self.stats.delivered += 1
            return
        self.stats.errors += 1
        if self._errors_logged < 20:
            self._errors_logged += 1
            log.error("delivery failed (%s): %s", msg.key(), err)

    def encode(self, trade):
        buf = io.BytesIO()
        buf.write(self.header)
        self.writer.write(trade, avro.io.BinaryEncoder(buf))
        return buf.getvalue()

    def publish(self, trade):
        value = self.encode(trade)
        key = ("%s:%s" % (trade["exchange"], trade["pair"])).encode()
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=key,
                                      on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                self.producer.poll(0.05)
        self.stats.produced += 1
        self.producer.poll(0)

    async def poll_loop(self):
        while True:
            self.producer.poll(0)
            await asyncio.sleep(0.1)

    def close(self, timeout=10.0):
        left = self.producer.flush(timeout)
        if left:
            log.error("%d message(s) not delivered after %.0f s", left, timeout)
        return left


# ---- venues ---------------------------------------------------------------------------------


class Venue:
    name = "?"

    def __init__(self, url, symbols, publisher, stats, ssl_ctx):
        self.url = url
        self.symbols = symbols
        self.publisher = publisher
        self.stats = stats
        self.ssl_ctx = ssl_ctx if url.startswith("wss://") else None

    def stream_url(self):
        return self.url

    async def on_open(self, ws):
        pass

    def on_message(self, raw, ingest_ms):
        raise NotImplementedError

    async def run(self):
        """Connect, read, reconnect with exponential backoff and full jitter."""
        attempt = 0
        first = True
        while True:
            if not first:
                self.stats.reconnects += 1
                delay = random.uniform(0, min(30.0, 0.5 * 2 ** min(attempt, 10)))
                log.info("%s: reconnecting in %.2f s", self.name, delay)
                await asyncio.sleep(delay)
            first = False
            attempt += 1
            try:
                async with websockets.connect(self.stream_url(), ssl=self.ssl_ctx,
                                              open_timeout=10, close_timeout=2,
                                              max_size=2 ** 22, ping_interval=20,
                                              ping_timeout=20) as ws:
                    log.info("%s: connected to %s", self.name, self.url)
                    await self.on_open(ws)
                    async for raw in ws:
                        ingest = now_ms()
                        self.stats.messages += 1
                        try:
                            if self.on_message(raw, ingest):
                                attempt = 0
                        except Exception as e:  # noqa: BLE001 - one bad message, go on
                            self.stats.errors += 1
                            log.warning("%s: bad message (%s): %.200s", self.name, e, raw)
                    log.warning("%s: closed by server: %s %s", self.name, ws.close_code,
                                ws.close_reason)
            except (websockets.WebSocketException, OSError, asyncio.TimeoutError) as e:
                self.stats.errors += 1
                log.warning("%s: %s: %s", self.name, type(e).__name__, e)
            except Exception as e:  # noqa: BLE001 - never let a venue die; reconnect
                self.stats.errors += 1
                log.exception("%s: unexpected %s: %s", self.name, type(e).__name__, e)


class Binance(Venue):
    name = "binance"

    def stream_url(self):
        streams = "/".join("%s@trade" % s.lower() for s in self.symbols)
        return "%s/stream?streams=%s" % (self.url.rstrip("/"), streams)

    def on_message(self, raw, ingest_ms):
        msg = json.loads(raw)
        data = msg.get("data", msg)
        etype = data.get("e")
        if etype != "trade":
            if etype == "serverShutdown":
                log.warning("binance: server shutdown announced")
            return False
        self.stats.trades += 1
        self.publisher.publish({
            "exchange": "binance",
            "pair": data["s"],
            "tradeId": int(data["t"]),
            "price": float(data["p"]),
            "amount": float(data["q"]),
            "side": "SELL" if data["m"] else "BUY",  # m: the buyer was the maker
            "tradeTs": int(data["T"]),
            "ingestTs": ingest_ms,
        })
        return True


class KrakenV2(Venue):
    name = "kraken"

    async def on_open(self, ws):
        await ws.send(json.dumps({"method": "subscribe", "req_id": 1, "params": {
            "channel": "trade", "symbol": self.symbols, "snapshot": False}}))

    def on_message(self, raw, ingest_ms):
        msg = json.loads(raw)
        channel = msg.get("channel")
        if channel == "trade" and msg.get("type") in ("update", "snapshot"):
            for t in msg["data"]:
                self.stats.trades += 1
                self.publisher.publish({
                    "exchange": "kraken",
                    "pair": t["symbol"],
                    "tradeId": int(t["trade_id"]),
                    "price": float(t["price"]),
                    "amount": float(t["qty"]),
                    "side": "BUY" if t["side"] == "buy" else "SELL",
                    "tradeTs": rfc3339_to_ms(t["timestamp"]),
                    "ingestTs": ingest_ms,
                })
            return True
        if msg.get("method") == "subscribe":
            if msg.get("success"):
                log.info("kraken: subscribed %s", msg.get("result", {}).get("symbol"))
            else:
                self.stats.errors += 1
                log.error("kraken: subscribe failed: %s", msg.get("error"))
        elif channel == "status":
            for d in msg.get("data", []):
                log.info("kraken: system %s", d.get("system"))
        return False


# ---- main -----------------------------------------------------------------------------------


def symbols(text):
    return [s.strip() for s in text.split(",") if s.strip()]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Binance and Kraken v2 trades -> Avro -> Kafka")
    ap.add_argument("--binance-url", help="e.g. wss://stream.binance.com:9443 (omit: no Binance)")
    ap.add_argument("--kraken-url", help="e.g. wss://ws.kraken.com/v2 (omit: no Kraken)")
    ap.add_argument("--binance-symbols", type=symbols, default=symbols("BTCUSDT,ETHUSDT"))
    ap.add_argument("--kraken-symbols", type=symbols, default=symbols("BTC/USD,ETH/USD"))
    ap.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers host:port")
    ap.add_argument("--topic", default="marketdata.trades.v0")
    ap.add_argument("--registry", required=True, help="Schema Registry base URL")
    ap.add_argument("--ca-file", help="trust this CA (PEM) for wss://, else the system store")
    ap.add_argument("--stats-interval", type=float, default=10.0,
                    help="seconds between JSON counter lines on stderr (0: none)")
    ap.add_argument("--duration", type=float, help="stop after this many seconds")
    args = ap.parse_args(argv)
    if not args.binance_url and not args.kraken_url:
        ap.error("give --binance-url and/or --kraken-url")
    return args


async def stats_loop(stats, interval):
    while True:
        await asyncio.sleep(interval)
        print(stats.line(), file=sys.stderr, flush=True)


async def run(args, publisher, stats):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    ssl_ctx = ssl.create_default_context(cafile=args.ca_file)
    venues = []
    if args.binance_url:
        venues.append(Binance(args.binance_url, args.binance_symbols, publisher, stats, ssl_ctx))
    if args.kraken_url:
        venues.append(KrakenV2(args.kraken_url, args.kraken_symbols, publisher, stats, ssl_ctx))

    tasks = [asyncio.create_task(v.run(), name=v.name) for v in venues]
    tasks.append(asyncio.create_task(publisher.poll_loop(), name="poll"))
    if args.stats_interval and args.stats_interval > 0:
        tasks.append(asyncio.create_task(stats_loop(stats, args.stats_interval), name="stats"))

    try:
        await asyncio.wait_for(stop.wait(), timeout=args.duration)
        log.info("signal received, stopping")
    except asyncio.TimeoutError:
        log.info("duration reached, stopping")
    for t in tasks:
        t.cancel()  # the venues' `async with` closes their sockets
    await asyncio.gather(*tasks, return_exceptions=True)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    args = parse_args(argv)
    stats = Stats()
    try:
        publisher = Publisher(args, stats)
    except (RuntimeError, KafkaException, OSError) as e:
        log.error("%s", e)
        return 2
    asyncio.run(run(args, publisher, stats))
    left = publisher.close(10.0)
    print(stats.line(), file=sys.stderr, flush=True)
    log.info("stopped: %d produced, %d delivered, %d undelivered", stats.produced,
             stats.delivered, left)
    return 0


if __name__ == "__main__":
    sys.exit(main())
