#!/usr/bin/python3
"""bench_peers.py [--quick] [--runs N] [--seconds S] [--loads L,...] [--handlers H,...]
              [--report FILE] - feedhandler side by side with the handlers a user would pick
instead, through one real Apache Kafka broker (issue 15). Not a test: nothing is asserted.

Handlers (each in its own process, its CPU measured alone from /proc/PID/stat, all threads):
  feedhandler  ours: Avro, Confluent framing + the registry stand-in, acks=all, idempotent,
               lz4 (config defaults), TLS to feedsim
  feedhandler-latency  the same with sink.profile = latency (linger.ms 0, Nagle off)
  feedhandler-rt  ours with [feed] realtime_priority = 10 (the engine thread on SCHED_FIFO;
               needs root or CAP_SYS_NICE), at 50k and 50k-spread only
  baseline     bench/baseline/handler.py: the Python asyncio handler this project replaces
               (Avro + registry, confluent-kafka acks=all, idempotent, linger 5 ms, lz4), TLS
  cryptofeed   cryptofeed from PyPI, unmodified, its Kafka backend (bench/peers/cryptofeed)
  ccxt         ccxt.pro watchTrades from npm, unmodified, kafkajs (bench/peers/ccxt), TLS
A peer that is not installed (bench/peers/*/install.sh) is reported as such and skipped.

Loads (feedsim, Binance trade streams and Kraken v2, 3 books each): "5k", "50k" and "500k"
trades/s offered in total (paced), "blast" (as fast as the handler reads), "5k-cuts" (5k, and
every venue connection reset 3 times in the window: trades lost per cut; ours runs with its
REST backfill and reconnect defaults there, as at 500k, which only ours and the baseline run;
feedcmp checks ours there, lost trades split into declared by its gap records and silent),
"5k-faults" (5k and the engine issue's fault mix, once each on every venue connection: a reset,
a 1 s stall that discards the stream, 40 trades per book left out; trades lost per fault),
"blast-mock" (blast into librdkafka's mock cluster instead of Apache Kafka:
ours only), "blast-plain" and "50k-plain" (no TLS: ours and the baseline), "50k-spread" and
"5k-spread" (ours only: 50k and 5k with feedsim's timer at 100 µs instead of 5 ms, so that
each connection's trades arrive a few at a time, as an exchange sends them, instead of in 5 ms
bursts), "50k-tick1" (not
in the default list: the same with a 1 ms timer). Per measurement,
after a
warm-up: trades acknowledged by the broker per second (the topic's watermarks), CPU per
trade and cores used, the peak RSS (VmHWM), and on one clock - the broker's, the topic has
message.timestamp.type = LogAppendTime - exchange trade time -> broker append p50/p99/max
(ms resolution). After it, feedcmp compares the topic with feedsim's truth log (paced loads):
trades lost, duplicated, out of order, and values that are not exact (doubles, worst error).
RSS is sampled every 0.5 s through the window. The report opens with the issue's targets, each
marked met or not from this run's medians.

Figures: min / median / max over --runs (interleaved: every handler once per run). Writes
bench/results/REPORT.md (or --report) and, when python3-matplotlib is there, PNG plots beside
it. --quick: one run of 8 s at 5k, feedhandler and the baseline only (under 3 minutes).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
import kafka_lib as K  # noqa: E402

PYTHON = "/usr/bin/python3"
FEEDCMP = os.path.join(SRC, "tools", "feedcmp", "feedcmp.py")
PEERS_DIR = os.environ.get("FH_PEERS_DIR") or os.path.expanduser("~/.cache/feedhandler/peers")
CLK = os.sysconf("SC_CLK_TCK")
BOOKS = 6
LOADS = {"5k": ["--rate", str(5000 // BOOKS)], "50k": ["--rate", str(50000 // BOOKS)],
         "500k": ["--rate", str(500000 // BOOKS)], "blast": ["--blast"],
         "5k-cuts": ["--rate", str(5000 // BOOKS)], "5k-faults": ["--rate", str(5000 // BOOKS)],
         "blast-mock": ["--blast"],
         "50k-plain": ["--rate", str(50000 // BOOKS)], "blast-plain": ["--blast"],
         "50k-tick1": ["--rate", str(50000 // BOOKS), "--tick-ms", "1"],
         "50k-spread": ["--rate", str(50000 // BOOKS), "--tick", "100us"],
         "5k-spread": ["--rate", str(5000 // BOOKS), "--tick", "100us"]}
OURS_ONLY = ("50k-spread", "5k-spread", "50k-tick1")  # loads about ours alone: the peers are not run there
AS_SHIPPED = ("500k",)  # loads where ours runs with its backfill and reconnect defaults
CUTS = 3  # network cuts in a "-cuts" load's window: every venue connection reset at once
# The faults of a load's window, at even intervals, each on every venue connection at once
# (feedsim's control API): "-cuts" resets them; "-faults" is the engine issue's mix - a reset,
# a stall that silently loses a second of the stream, and trades the stream leaves out
FAULTS = {"5k-cuts": ["kind=drop,mode=reset"] * CUTS,
          "5k-faults": ["kind=drop,mode=reset", "kind=stall,mode=discard,for=1s",
                        "kind=omit,count=40"]}
RT_LOADS = ("50k", "50k-spread")  # the loads feedhandler-rt runs (the receive -> enqueued tail)
MOCK_ONLY = ("feedhandler", "feedhandler-latency")  # handlers measured into the mock cluster
# without TLS, ours and the baseline: what TLS costs each (the peers add nothing to that);
# the same at 500k, past where every peer already collapsed at 50k
PLAIN_ONLY = ("feedhandler", "feedhandler-latency", "baseline")
RSS_EVERY_S = 0.5
RECENT_S = 12  # ours: its recent receive -> ack gauge covers the last 10 to 11 s, and 1 s more
BINANCE_SYMBOLS = "BTCUSDT,ETHUSD,DOGEUSD"
KRAKEN_SYMBOLS = "BTC/USDT,ETH/USD,DOGE/USD"
CANONICAL = "BTC-USDT,ETH-USD,DOGE-USD"


def url(ctx, port, path="", rest=False):
    """A feedsim endpoint as the handler is to reach it: TLS unless the load is "-plain"."""
    scheme = ("http" if rest else "ws") + ("" if ctx["plain"] else "s")
    return "%s://localhost:%d%s" % (scheme, ctx["fs"].ports[port], path)


def truth_end_us(path, tail=1 << 20):
    """The latest trade time among the truth log's last lines: how far feedsim's schedule got
    before it stopped (it stops after the handler). At 500k, feedsim runs behind its own
    schedule (trade times are scheduled times), so this can be well before the handler's stop
    in wall-clock time. None if the log has no trade line there."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - tail))
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    best = None
    for line in lines:
        try:
            t = json.loads(line).get("trade_time_us")
        except ValueError:
            continue
        if isinstance(t, int) and (best is None or t > best):
            best = t
    return best


def proc_cpu_s(pid, tid=None):
    """utime + stime of process pid (all threads), or of its thread tid alone."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def scrape(url):
    """The handler's parsed /metrics, or {} when it does not answer."""
    import urllib.request
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            return engine_lib.parse_metrics(r.read().decode())
    except OSError:
        return {}


def hist_quantile_bound(a, b, name, q):
    """The upper bound (seconds) of the histogram bucket holding quantile q of the
    observations made between scrapes a and b (every label set summed), or None."""
    def cum(m):
        c = {}
        for (n, lab), v in m.items():
            if n == name + "_bucket":
                le = dict(lab)["le"]
                c[le] = c.get(le, 0) + v
        return c
    ca, cb = cum(a), cum(b)
    les = sorted(cb, key=lambda x: float("inf") if x == "+Inf" else float(x))
    if not les:
        return None
    total = cb[les[-1]] - ca.get(les[-1], 0)
    if total <= 0:
        return None
    for le in les:
        if cb[le] - ca.get(le, 0) >= q * total:
            return float("inf") if le == "+Inf" else float(le)
    return None


def first_append_s(bootstrap, topic):
    """The topic's earliest record timestamp (LogAppendTime), in seconds since the epoch."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-first-%d" % os.getpid(),
                  "enable.auto.commit": False, "log_level": 3})
    try:
        md = c.list_topics(topic, timeout=30).topics[topic]
        c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        first, left, deadline = None, set(md.partitions), time.monotonic() + 30
        while left and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            if m.partition() in left:
                left.discard(m.partition())
                ts = m.timestamp()[1] / 1000.0
                first = ts if first is None else min(first, ts)
                c.pause([TopicPartition(topic, m.partition())])
        return first
    finally:
        c.close()


def first_streaming_s(log_path):
    """When ours logged its first "streaming" (a connection's subscriptions acknowledged: the
    exchange answered), seconds since the epoch, or None."""
    with open(log_path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace")
            if 'msg="streaming"' in line:
                ts = engine_lib.parse_logfmt(line)["ts"]
                d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
                return d.replace(tzinfo=datetime.timezone.utc).timestamp()
    return None


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class Acked:
    """The records in a topic (sum of its high watermarks), from one long-lived consumer: a
    poll costs a metadata round trip, not a client's start-up, so the measuring process stays
    light beside the handler it measures."""

    def __init__(self, bootstrap, topic):
        from confluent_kafka import Consumer, TopicPartition
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-wm-%d" %
                           os.getpid(), "enable.auto.commit": False, "log_level": 3})
        md = self.c.list_topics(topic, timeout=30).topics[topic]
        self.tps = [TopicPartition(topic, p) for p in md.partitions]

    def __call__(self):
        from confluent_kafka import KafkaException
        for attempt in range(20):
            try:
                return sum(self.c.get_watermark_offsets(tp, timeout=10, cached=False)[1]
                           for tp in self.tps)
            except KafkaException:
                time.sleep(0.25)  # a leader not known yet: ask again
        raise RuntimeError("cannot read the watermarks")

    def close(self):
        self.c.close()


# ---- the handlers ---------------------------------------------------------------------------


class Run:
    """One handler process against one feedsim and one topic."""

    def __init__(self, name, cmd, env=None, cwd=None, log=None, metrics_url=None):
        self.name = name
        self.metrics_url = metrics_url  # ours: its /metrics (own figures beside the common ones)
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})), cwd=cwd)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Handler:
    """What a handler needs: how to start it, and how feedcmp reads its topic."""
    name = None
    fmap = None  # feedcmp --right-map for its records (None: ours)
    # more feedcmp options (what of its output the truth log can judge; feedsim logs each
    # Kraken trade once per protocol port)
    compare_args = ["--protocol", "binance,kraken_v2"]
    registry = False

    def available(self):
        return None  # None: can run; else why not

    def start(self, ctx):
        raise NotImplementedError


class Ours(Handler):
    name = "feedhandler"
    registry = True
    profile = "throughput"  # sink.profile
    settings = {}  # more configuration: {section: {key: value}}

    def __init__(self, build):
        self.binary = os.path.join(build, "feedhandler")

    def available(self):
        return None if os.access(self.binary, os.X_OK) else "no %s (make)" % self.binary

    def start(self, ctx):
        fs = ctx["fs"]
        extra = K.kafka_sections(ctx["broker"], ctx["topic"], registry=ctx["registry"])
        extra["log"] = {"level": "info"}  # start-up lines only: "streaming" dates the answer
        cfg = engine_lib.handler_config(fs, ctx["tmp"], ctx["ca"], extra=extra,
                                        binance_symbols=BINANCE_SYMBOLS,
                                        kraken_symbols=KRAKEN_SYMBOLS)
        if ctx["plain"]:
            for sec in ("binance", "kraken"):
                for k in ("url", "rest_url"):
                    cfg[sec][k] = cfg[sec][k].replace("wss://", "ws://").replace("https://",
                                                                               "http://")
        if ctx["as_shipped"]:
            # under network cuts and past what the machine carries (where feedsim, like an
            # exchange, drops a client that reads too slowly), the product as shipped: its
            # reconnect delays and its REST backfill of what a lost connection missed
            cfg.pop("reconnect", None)
        else:
            cfg["backfill"] = {"enabled": False}  # the same work as the peers: the stream only
        cfg["sink"]["profile"] = self.profile
        for sec, kv in self.settings.items():
            cfg.setdefault(sec, {}).update(kv)
        ini = os.path.join(ctx["tmp"], ctx["topic"] + ".ini")
        with open(ini, "w") as f:
            f.write(engine_lib.ini_text(cfg))
        return Run(self.name, [self.binary, "-c", ini],
                   log=os.path.join(ctx["tmp"], ctx["topic"] + ".log"),
                   metrics_url="http://" + cfg["metrics"]["listen"])


class OursLatency(Ours):
    """Ours with sink.profile = latency (linger.ms 0, Nagle off)."""
    name = "feedhandler-latency"
    profile = "latency"


class OursRealtime(Ours):
    """Ours with the engine thread on SCHED_FIFO ([feed] realtime_priority)."""
    name = "feedhandler-rt"
    settings = {"feed": {"realtime_priority": 10}}

    def available(self):
        why = super().available()
        if why is None and os.geteuid() != 0:
            return "SCHED_FIFO needs root (or CAP_SYS_NICE)"
        return why


class Baseline(Handler):
    name = "baseline"
    fmap = os.path.join(SRC, "tools", "feedcmp", "baseline_map.json")
    registry = True

    def start(self, ctx):
        return Run(self.name, [
            PYTHON, os.path.join(SRC, "bench", "baseline", "handler.py"),
            "--binance-url", url(ctx, "binance"),
            "--kraken-url", url(ctx, "kraken_v2", "/v2"),
            "--binance-symbols", BINANCE_SYMBOLS, "--kraken-symbols", KRAKEN_SYMBOLS,
            "--bootstrap", ctx["broker"].bootstrap, "--topic", ctx["topic"],
            "--registry", ctx["registry"].url, "--ca-file", ctx["ca"]],
            log=os.path.join(ctx["tmp"], ctx["topic"] + ".log"))


class Cryptofeed(Handler):
    name = "cryptofeed"
    # its Binance channel is aggTrade: aggregates, which feedsim's truth log (trades) lacks
    compare_args = ["--venue", "kraken", "--protocol", "kraken_v1"]
    fmap = os.path.join(SRC, "tools", "feedcmp", "cryptofeed_map.json")
    venv = os.path.join(PEERS_DIR, "cryptofeed-venv")
    script = os.path.join(SRC, "bench", "peers", "cryptofeed", "run_cryptofeed.py")

    def available(self):
        if not os.path.exists(self.script):
            return "bench/peers/cryptofeed is not there"
        if not os.access(os.path.join(self.venv, "bin", "python"), os.X_OK):
            return "not installed (bench/peers/cryptofeed/install.sh)"
        return None

    def start(self, ctx):
        return Run(self.name, [
            os.path.join(self.venv, "bin", "python"), self.script,
            "--binance-url", url(ctx, "binance"),
            "--rest-binance", url(ctx, "binance", rest=True),
            # cryptofeed 2.4.1 speaks Kraken WebSocket v1
            "--kraken-url", url(ctx, "kraken_v1", "/"),
            "--rest-kraken", url(ctx, "kraken_v1", rest=True),
            "--ca-file", ctx["ca"],
            "--symbols", CANONICAL, "--bootstrap", ctx["broker"].bootstrap,
            "--topic", ctx["topic"]],
            log=os.path.join(ctx["tmp"], ctx["topic"] + ".log"))


class Ccxt(Handler):
    name = "ccxt"
    fmap = os.path.join(SRC, "tools", "feedcmp", "ccxt_map.json")
    home = os.path.join(PEERS_DIR, "ccxt")
    script = os.path.join(SRC, "bench", "peers", "ccxt", "run_ccxt.js")

    def available(self):
        if not os.path.exists(self.script):
            return "bench/peers/ccxt is not there"
        if not os.path.isdir(os.path.join(self.home, "node_modules", "ccxt")):
            return "not installed (bench/peers/ccxt/install.sh)"
        if shutil.which("node") is None:
            return "no node"
        return None

    def start(self, ctx):
        return Run(self.name, [
            "node", self.script,
            "--binance-ws", url(ctx, "binance", "/ws"),
            "--binance-rest", url(ctx, "binance", rest=True),
            "--kraken-ws", url(ctx, "kraken_v2", "/v2"),
            "--kraken-rest", url(ctx, "kraken_v2", rest=True),
            "--symbols", CANONICAL, "--bootstrap", ctx["broker"].bootstrap,
            "--topic", ctx["topic"]],
            env={"NODE_EXTRA_CA_CERTS": ctx["ca"],
                 "NODE_PATH": os.path.join(self.home, "node_modules")},
            log=os.path.join(ctx["tmp"], ctx["topic"] + ".log"))


# ---- one measurement ------------------------------------------------------------------------


def measure(handler, load, seconds, warmup, broker, registry, tmp, topic):
    ca, cert, key = engine_lib.make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, topic + ".truth.ndjson")
    mock = isinstance(broker, K.MockBroker)
    if mock:
        broker.create(topic, 4)  # the mock cluster keeps CreateTime: no latency from it
    else:
        broker.create(topic, 4, config={"message.timestamp.type": "LogAppendTime"})
    faults = FAULTS.get(load, [])
    plain = load.endswith("-plain")
    args = ["--binance", "0", "--kraken-v1", "0", "--kraken-v2", "0", "--control", "0"] + (
        [] if plain else ["--tls", "%s,%s" % (cert, key)]) + [
        "--seed", "7", "--truth", truth] + LOADS[load]
    out = {"handler": handler.name, "load": load}
    lag_from = lag_to = stopped_us = None
    with engine_lib.Feedsim(*args) as fs:
        ctx = {"fs": fs, "broker": broker, "registry": registry, "tmp": tmp, "topic": topic,
               "ca": ca, "plain": plain,
               "as_shipped": bool(faults) or load in AS_SHIPPED}
        acked = Acked(broker.bootstrap, topic)
        t_start = time.monotonic()
        r = handler.start(ctx)
        try:
            # start-up: until the first trade is acknowledged (bounded)
            first = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and r.alive():
                if acked() > 0:
                    first = time.monotonic() - t_start
                    break
                time.sleep(0.05)
            out["startup_s"] = first
            if first is None:
                out["error"] = "no trade acknowledged within 120 s (exit %s; log %s)" % (
                    r.proc.poll(), r.log.name)
                return out
            own = r.metrics_url is not None
            # Ours reports receive -> ack p99 over its last 10 to 11 s (the recent gauge): the
            # window must not reach back to the start-up (the producer's first connection, its
            # idempotent set-up), which an 8 s window after a 2 s warm-up did (36.9 ms against
            # 7.2 ms with a 15 s window, 5k-spread). Ours warms up that much longer.
            time.sleep(max(warmup, RECENT_S - seconds) if own else warmup)
            pid = r.proc.pid
            a_m = scrape(r.metrics_url) if own else {}
            a_n, a_cpu, a_t = acked(), proc_cpu_s(pid), time.monotonic()
            a_eng = proc_cpu_s(pid, pid) if own else 0  # ours: the engine is the main thread
            lag_from = int(time.time() * 1e6)
            # the window: RSS sampled every RSS_EVERY_S; the load's faults at even intervals
            cut_at = [a_t + seconds * (k + 1) / (len(faults) + 1) for k in range(len(faults))]
            rss, cut_conns = [], 0
            while True:
                now = time.monotonic()
                if now >= a_t + seconds:
                    break
                rss.append((round(now - a_t, 2), (proc_status_kb(pid, "VmRSS") or 0) / 1024.0))
                if cut_at and now >= cut_at[0]:
                    cut_at.pop(0)
                    cut_conns += fs.fault(faults[len(faults) - len(cut_at) - 1])["affected"]
                time.sleep(min(RSS_EVERY_S, max(0.0, a_t + seconds - now)))
            out["rss_series"] = rss
            if faults:
                out.update({"cuts": len(faults), "cut_connections": cut_conns})
            b_n, b_cpu, b_t = acked(), proc_cpu_s(pid), time.monotonic()
            b_eng = proc_cpu_s(pid, pid) if own else 0
            lag_to = int(time.time() * 1e6)
            n, dt = b_n - a_n, b_t - a_t
            out.update({"acked_per_s": n / dt, "cpu_us_per_trade": (b_cpu - a_cpu) / n * 1e6
                        if n else None, "cores": (b_cpu - a_cpu) / dt,
                        "rss_mb": (proc_status_kb(pid, "VmHWM") or 0) / 1024.0})
            if own:
                b_m = scrape(r.metrics_url)
                q = hist_quantile_bound(a_m, b_m, "feedhandler_receive_to_enqueue_seconds", 0.99)
                ack = [v for (k, _), v in b_m.items()
                       if k == "feedhandler_kafka_receive_to_ack_recent_p99_seconds"]
                def total(name):
                    return sum(v for (k, _), v in b_m.items() if k == name)
                out.update({"gap_ids": total("feedhandler_missing_trades_total"),
                            "declared_missing": total("feedhandler_backfill_missing_ids_total")})
                out.update({"engine_us_per_trade": (b_eng - a_eng) / n * 1e6 if n else None,
                            "enqueue_p99_le_us": q * 1e6 if q is not None else None,
                            "receive_to_ack_p99_ms": ack[0] * 1e3 if ack else None})
        finally:
            stopped_us = int(time.time() * 1e6)
            out["exit"] = r.stop()
            if out["exit"] not in (0, -signal.SIGTERM):  # a handler that died: say how
                out["log_tail"] = K.file_tail(r.log.name, 12)
            acked.close()
    if r.metrics_url is not None and out.get("startup_s") is not None and not mock:
        # ours: from the exchange's answer (its first connection streaming) to the first
        # record appended, both on this machine's clock
        st, fa = first_streaming_s(r.log.name), first_append_s(broker.bootstrap, topic)
        if st is not None and fa is not None:
            out["answer_to_first_ms"] = (fa - st) * 1e3
    if load.startswith("blast"):
        return out  # blast frames carry no per-trade truth lines
    if load in AS_SHIPPED and r.metrics_url is None:
        return out  # millions of truth lines per run: checked for ours only (its gap records)
    rep_path = os.path.join(tmp, topic + ".feedcmp.json")
    # Correctness over the whole run up to the handler's stop: a trade sent before it must be
    # in the topic (a handler flushes what it has on SIGTERM); latency over the records
    # appended during the measured window. The window ends at the handler's stop in trade
    # time, or where feedsim's schedule had got to if that is earlier: a feedsim behind its
    # schedule (500k on a loaded host) sends trades with times before the stop after it, and
    # the 2 s settle margin must count back from what was sent, not from the wall clock (one
    # run of 2026-12-07 otherwise showed the stream's tail at the stop as "silent" losses).
    end_us = stopped_us
    generated_to = truth_end_us(truth)
    if generated_to is not None and generated_to < end_us:
        end_us = generated_to
        out["window_end_behind_s"] = (stopped_us - generated_to) / 1e6
    cmd = [PYTHON, FEEDCMP, "--json", rep_path, "--settle", "2s", "--kafka-timeout", "600s",
           "--window-end", str(end_us), "--lag-from", str(lag_from), "--lag-to", str(lag_to)]
    if handler.registry:
        cmd += ["--registry", registry.url]
    if handler.fmap:
        cmd += ["--right-map", handler.fmap]
    cmd += handler.compare_args
    p = subprocess.run(cmd + ["truth:" + truth, "kafka:%s/%s" % (broker.bootstrap, topic)],
                       capture_output=True, text=True, timeout=1200)
    if p.returncode == 2 or not os.path.exists(rep_path):
        out["feedcmp_error"] = (p.stderr or p.stdout).strip()[-500:]
        return out
    with open(rep_path) as f:
        rep = json.load(f)
    t = rep["totals"]
    rinfo = rep["right"]
    rnd = rep["rounding"]["right"]
    # lost = declared (inside the ids the handler's own gap records declare missing, its
    # T.gaps topic) + silent (lost without a record: the promise broken)
    out.update({"matched": t.get("matched", 0), "lost": t.get("missing_on_right", 0),
                "lost_declared": t.get("missing_on_right_declared", 0),
                "lost_silent": t.get("missing_on_right_silent", t.get("missing_on_right", 0)),
                "duplicated": t.get("duplicates_right", 0),
                "out_of_order": rinfo.get("out_of_order", 0),
                "mismatched": sum(v for k, v in t.items() if k.startswith("mismatch_")),
                "inexact": None if rnd is None else {
                    "values": rnd["compared"], "not_nearest_double": rnd["not_nearest_double"],
                    "repr_differs": rnd.get("repr_differs_from_exact"),
                    "worst_abs_error": rnd["worst_abs_error"],
                    "worst_rel_error": rnd["worst_rel_error"],
                    "worst_binary_abs_error": rnd.get("worst_binary_abs_error")},
                "verdict": rep["verdict"]})
    lag = rinfo.get("timestamp_minus_trade_time_us")
    if lag:
        out["latency_ms"] = {"p50": lag["p50"] / 1000.0, "p99": lag["p99"] / 1000.0,
                             "max": lag["max"] / 1000.0,
                             "timestamps": lag["timestamp_types"]}
    return out


# ---- the report -----------------------------------------------------------------------------


def inexact_text(x):
    """A handler's prices and quantities as doubles, against the exact decimals: how many, how
    many are not the nearest double or differ after the shortest repr (what a consumer prints),
    and the worst error of each kind."""
    text = "%d values as doubles" % x["values"]
    if x.get("not_nearest_double"):
        text += ", %d not the nearest double" % x["not_nearest_double"]
    if x.get("repr_differs") == 0:
        text += ", all exact after the shortest repr"
    elif x.get("repr_differs") is not None:
        text += ", %d differ after the shortest repr (worst %s)" % (x["repr_differs"],
                                                                    x["worst_abs_error"])
    else:
        text += ", worst after repr %s" % x["worst_abs_error"]
    if x.get("worst_binary_abs_error") is not None:
        text += ", the double itself off by up to %s" % x["worst_binary_abs_error"]
    return text


def mmm(vals, fmt="%.3g"):
    v = [x for x in vals if x is not None]
    if not v:
        return "-"
    return " / ".join(fmt % x for x in (min(v), statistics.median(v), max(v)))


def med(vals):
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None


def versions():
    out = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(),
                                             platform.platform())}
    try:
        out["python"] = subprocess.run([PYTHON, "--version"], capture_output=True,
                                       text=True).stdout.strip()
        out["node"] = subprocess.run(["node", "--version"], capture_output=True,
                                     text=True).stdout.strip()
    except OSError:
        pass
    return out


LOAD_TEXT = {
    "5k": "5,000 trades/s offered in total (paced), TLS, one Apache Kafka broker.",
    "50k": "50,000 trades/s offered in total (paced), TLS, one Apache Kafka broker.",
    "500k": "500,000 trades/s asked of feedsim (paced): more than it generates over TLS on this "
            "machine beside a handler and a broker, so this is what the three reach together. "
            "feedsim, like an exchange, drops a client whose unsent frames pile up; "
            "feedhandler runs as shipped here, with its REST backfill of what a dropped "
            "connection missed. Ours and the baseline only. feedcmp checks ours (millions of "
            "truth lines per run, minutes each): every trade it lost must lie in the ids its "
            "gap records declare missing (its trades.gaps topic); the baseline's losses are not "
            "counted here.",
    "blast": "feedsim --blast: as fast as the handler reads, TLS, one Apache Kafka broker.",
    "5k-cuts": "5k, and %d times in the window every venue connection is reset (TCP RST) at "
               "once. feedhandler runs as shipped here: its reconnect delays and its REST backfill "
               "of the trades a cut lost (in the loads within capacity backfill is off, the same "
               "work as the peers)." % CUTS,
    "5k-faults": "5k, and the engine issue's fault mix on every venue connection at once, at even "
                 "intervals in the window: a TCP reset; a stall of 1 s in which feedsim sends "
                 "nothing and discards what it would have sent (no close: a handler sees a gap, "
                 "or nothing); 40 trades per book left out of the stream (still in REST and the "
                 "truth log). feedhandler runs as shipped, as under cuts.",
    "50k-plain": "50k without TLS (ws:// and http:// to feedsim): ours and the baseline.",
    "blast-plain": "blast without TLS (ws:// and http:// to feedsim): ours and the baseline.",
    "50k-tick1": "50k with feedsim's timer at 1 ms (--tick-ms 1) instead of 5 ms: each "
                 "connection's trades come in bursts a fifth the size, so receive -> enqueued "
                 "shows less of a frame's wait behind the frames read with it.",
    "50k-spread": "50k with feedsim's timer at 100 µs (--tick 100us) instead of 5 ms: each "
                  "connection gets its trades a few at a time, as an exchange sends them as they "
                  "happen, instead of one 5 ms burst per tick; ours only. receive -> enqueued "
                  "then shows what a frame waits for in the handler itself, and the CPU per "
                  "trade what a wake-up per frame or two costs.",
    "5k-spread": "5k with feedsim's timer at 100 µs, as 50k-spread: ours only, both profiles. "
                 "The frame -> broker ack latency of a feed that sends trades as they happen.",
    "blast-mock": "feedsim --blast into librdkafka's mock cluster (tests/tools/mockbroker, 3 "
                  "brokers in one process) instead of Apache Kafka: ours only, the lighter broker "
                  "the throughput target names. No LogAppendTime there: no latency or start-up "
                  "from the broker.",
}


def targets(by):
    """The issue's targets, each met or not, from this run's medians."""
    def fig(load, h, key):
        return med([m.get(key) for m in by.get((load, h), [])])

    def row(what, value, fmt, ok):
        shown = "not measured" if value is None else fmt % value
        verdict = "-" if value is None else ("met" if ok(value) else "not met")
        return "| %s | %s | %s |" % (what, shown, verdict)

    out = ["## Targets (issue 15)", "",
           "Medians over the runs of this report, ours with the throughput profile unless named.",
           "", "| target | measured | |", "|---|---|---|"]
    for what, load, h, key, fmt, bound, at_most in (
            ("engine-thread CPU <= 1.0 µs per trade (blast, Apache Kafka)", "blast",
             "feedhandler", "engine_us_per_trade", "%.2f µs", 1.0, True),
            ("whole process <= 1.5 µs per trade (blast, Apache Kafka)", "blast", "feedhandler",
             "cpu_us_per_trade", "%.2f µs", 1.5, True),
            (">= 600,000 trades/s into the mock cluster with TLS (median; best run in the "
             "load's table)", "blast-mock", "feedhandler", "acked_per_s", "%.0f /s", 600000,
             False),
            (">= 300,000 trades/s into Apache Kafka", "blast", "feedhandler", "acked_per_s",
             "%.0f /s", 300000, False),
            ("receive -> enqueued p99 <= 20 µs at 50,000/s, feedsim's 5 ms bursts (bucket "
             "bound)", "50k", "feedhandler", "enqueue_p99_le_us", "<= %.0f µs", 20, True),
            ("receive -> enqueued p99 <= 20 µs at 50,000/s, arrivals spread at 100 µs (bucket "
             "bound)", "50k-spread", "feedhandler", "enqueue_p99_le_us", "<= %.0f µs", 20, True),
            ("the same, 5 ms bursts, the engine thread on SCHED_FIFO (feedhandler-rt)", "50k",
             "feedhandler-rt", "enqueue_p99_le_us", "<= %.0f µs", 20, True),
            ("the same, spread at 100 µs, the engine thread on SCHED_FIFO (feedhandler-rt)",
             "50k-spread", "feedhandler-rt", "enqueue_p99_le_us", "<= %.0f µs", 20, True),
            ("RSS <= 64 MB at 50,000/s (VmHWM)", "50k", "feedhandler", "rss_mb", "%.0f MB", 64,
             True),
            ("frame -> broker ack p99 <= 2 ms at 5,000/s, latency profile", "5k",
             "feedhandler-latency", "receive_to_ack_p99_ms", "%.1f ms", 2, True),
            ("frame -> broker ack p99 <= 10 ms at 5,000/s, default profile", "5k", "feedhandler",
             "receive_to_ack_p99_ms", "%.1f ms", 10, True),
            ("the same, latency profile, arrivals spread at 100 µs", "5k-spread",
             "feedhandler-latency", "receive_to_ack_p99_ms", "%.1f ms", 2, True),
            ("the same, default profile, arrivals spread at 100 µs", "5k-spread", "feedhandler",
             "receive_to_ack_p99_ms", "%.1f ms", 10, True)):
        out.append(row(what, fig(load, h, key), fmt,
                       lambda v, b=bound, le=at_most: v <= b if le else v >= b))
    starts = [m.get("answer_to_first_ms") for (ld, h), ms in by.items()
              if h.startswith("feedhandler") for m in ms if m.get("answer_to_first_ms")]
    out.append(row("start-up: exchange answered -> first trade appended <= 100 ms (median; "
                   "worst: %s)" % ("%.0f ms" % max(starts) if starts else "-"),
                   statistics.median(starts) if starts else None, "%.0f ms",
                   lambda v: v <= 100))
    for peer in ("baseline", "cryptofeed"):
        for load in ("5k", "50k", "blast"):
            o, p = fig(load, "feedhandler", "cpu_us_per_trade"), fig(load, peer,
                                                                      "cpu_us_per_trade")
            what = ">= 50x less CPU per trade than %s, %s (aim)" % (peer, load)
            pa, oa = fig(load, peer, "acked_per_s"), fig(load, "feedhandler", "acked_per_s")
            if pa is not None and oa and pa < oa / 100:
                # Its CPU spread over (almost) no trades is no per-trade figure: no verdict.
                out.append("| %s | %s acknowledged %.3g trades/s, under 1 %% of ours: no ratio "
                           "(see the load) | - |" % (what, peer, pa))
                continue
            out.append(row(what, p / o if o and p else None, "%.1fx", lambda v: v >= 50))
    def within(ld):  # paced, and no more than the machine carries
        return not ld.startswith("blast") and ld not in AS_SHIPPED
    bad = [(ld, m.get("lost", 0), m.get("duplicated", 0)) for (ld, h), ms in by.items()
           if h.startswith("feedhandler") and within(ld) for m in ms
           if m.get("lost") or m.get("duplicated") or m.get("feedcmp_error")]
    checked = sum(1 for (ld, h), ms in by.items() if h.startswith("feedhandler")
                  and within(ld) for m in ms if "lost" in m)
    out.append("| ours: zero lost or duplicated trades in every paced run within the machine's "
               "capacity, cuts included (feedcmp) | %d runs checked, %d with a loss or duplicate "
               "| %s |" % (checked, len(bad), "met" if checked and not bad else "not met"))
    for ld in AS_SHIPPED:
        ms = [m for (l2, h), v in by.items() if l2 == ld and h == "feedhandler" for m in v]
        if ms:
            out.append("| ours at %s, past capacity: feedsim drops the slow client; trade ids in "
                       "the gaps ours detected, and of them declared missing in its final gap "
                       "records (medians) | %.0f, %.0f | see the load |" % (
                           ld, med([m.get("gap_ids") for m in ms]) or 0,
                           med([m.get("declared_missing") for m in ms]) or 0))
            chk = [m for m in ms if "lost" in m]
            silent = sum(m.get("lost_silent", 0) for m in chk)
            out.append("| ours at %s: no trade lost without a record (feedcmp: every trade "
                       "missing from the topic lies in a range its gap records declare) | %d "
                       "runs checked, %d trades missing, %d of them silent | %s |" % (
                           ld, len(chk), sum(m.get("lost", 0) for m in chk), silent,
                           "met" if chk and not silent and len(chk) == len(ms) else "not met"))
    return out + [""]


def lost_text(ms):
    """Trades lost over the runs; where some lie in ranges the handler's gap records declare
    missing, how many did not (silent)."""
    lost = sum(m.get("lost", 0) for m in ms)
    if not any(m.get("lost_declared") for m in ms):
        return str(lost)
    return "%d (%d silent)" % (lost, sum(m.get("lost_silent", 0) for m in ms))


def write_report(path, results, skipped, args, started):
    by = {}
    for m in results:
        by.setdefault((m["load"], m["handler"]), []).append(m)
    lines = ["# Benchmarks: feedhandler beside its peers", "",
             "Generated by `%s` on %s (UTC), %d run(s) of %.0f s after a %.0f s warm-up per "
             "measurement (ours: at least %.0f s, so that its receive -> ack p99 over the last "
             "10 to 11 s leaves out its start-up); figures are min / median / max over the runs. One Apache Kafka broker "
             "(scripts/kafka-local), feedsim and each handler share this machine's cores: read "
             "the ratios, not the absolute numbers." % (
                 " ".join(["bench/bench_peers.py"] + sys.argv[1:]),
                 started.strftime("%Y-%m-%d %H:%M"), args.runs, args.seconds, args.warmup,
                 max(args.warmup, RECENT_S - args.seconds)), ""]
    for k, v in versions().items():
        lines.append("- %s: %s" % (k, v))
    for name, why in skipped:
        lines.append("- %s: not run: %s" % (name, why))
    lines.append("")
    lines += targets(by)
    for load in args.loads:
        blast = load.startswith("blast") or load in AS_SHIPPED  # no feedcmp (500k: ours only)
        lines += ["## Load %s" % load, "", LOAD_TEXT.get(load, ""), "",
                  "| handler | acked trades/s | CPU µs/trade | cores | RSS MB | start-up s | "
                  "trade -> broker p50 / p99 ms (medians) | lost | dup | out of order | inexact |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        ours = by.get((load, "feedhandler"), [])
        for (ld, h), ms in sorted(by.items(), key=lambda x: (
                not x[0][1].startswith("feedhandler"), x[0][1])):
            if ld != load:
                continue
            errs = [m.get("error") or m.get("feedcmp_error") for m in ms
                    if m.get("error") or m.get("feedcmp_error")]
            errs += ["run %s: exited with status %s before its stop: %s" % (
                m.get("run"), m["exit"], m.get("log_tail", "")[-600:]) for m in ms
                if m.get("exit") not in (None, 0, -signal.SIGTERM)]
            lat = [m["latency_ms"] for m in ms if m.get("latency_ms")]
            inex = [m["inexact"] for m in ms if m.get("inexact")]
            checked = not blast or any("lost" in m for m in ms)  # feedcmp ran
            row = [h, mmm([m.get("acked_per_s") for m in ms], "%.0f"),
                   mmm([m.get("cpu_us_per_trade") for m in ms], "%.2f"),
                   mmm([m.get("cores") for m in ms], "%.2f"),
                   mmm([m.get("rss_mb") for m in ms], "%.0f"),
                   mmm([m.get("startup_s") for m in ms], "%.2f"),
                   "%.1f / %.1f" % (med([x["p50"] for x in lat]), med([x["p99"] for x in lat]))
                   if lat else "-",
                   "-" if not checked else lost_text(ms),
                   "-" if not checked else str(sum(m.get("duplicated", 0) for m in ms)),
                   "-" if not checked else str(sum(m.get("out_of_order", 0) for m in ms)),
                   "exact" if not inex and checked and not errs else
                   (inexact_text(inex[-1]) if inex else "-")]
            lines.append("| " + " | ".join(row) + " |")
            for e in errs:
                lines.append("| | error: %s |||||||||| " % e.replace("|", "/").replace("\n", " "))
        own = [(h, ms) for (ld, h), ms in sorted(by.items())
               if ld == load and any(m.get("engine_us_per_trade") is not None for m in ms)]
        if own:
            lines += ["", "feedhandler's own figures (its threads and its /metrics):", "",
                      "| handler | engine thread CPU µs/trade | receive -> enqueued p99 "
                      "(bucket bound) µs | receive -> broker ack p99, last 10 s, ms | "
                      "exchange answered -> first record appended, ms |",
                      "|---|---|---|---|---|"]
            for h, ms in own:
                lines.append("| %s | %s | %s | %s | %s |" % (
                    h, mmm([m.get("engine_us_per_trade") for m in ms], "%.2f"),
                    mmm([m.get("enqueue_p99_le_us") for m in ms], "%.0f"),
                    mmm([m.get("receive_to_ack_p99_ms") for m in ms], "%.2f"),
                    mmm([m.get("answer_to_first_ms") for m in ms], "%.0f")))
        gaps = [(h, ms) for (ld, h), ms in sorted(by.items()) if ld == load and
                (ld in AS_SHIPPED or ld in FAULTS) and h.startswith("feedhandler")]
        if gaps:
            lines += ["", "What ours recorded itself (its /metrics at the window's end, summed "
                      "over runs): trade ids in the gaps it detected %s; of them declared missing "
                      "in final gap records (the rest were backfilled) %s. A feedcmp loss "
                      "count, where there is one, also counts what was still unread in the "
                      "sockets at the stop." % (
                          ", ".join("%s %d" % (h, sum(m.get("gap_ids", 0) for m in ms))
                                    for h, ms in gaps),
                          ", ".join("%s %d" % (h, sum(m.get("declared_missing", 0) for m in ms))
                                    for h, ms in gaps))]
        cut = [(h, ms) for (ld, h), ms in sorted(by.items())
               if ld == load and any(m.get("cuts") for m in ms)]
        if cut:
            lines += ["", "Under faults (%s, on every venue connection, per run):" % "; ".join(
                      FAULTS[load]), "", "| handler | trades lost per fault (min / median / max) "
                      "| connections hit per run | duplicated |", "|---|---|---|---|"]
            for h, ms in cut:
                lines.append("| %s | %s | %s | %s |" % (
                    h, mmm([m["lost"] / m["cuts"] if "lost" in m else None for m in ms], "%.1f"),
                    mmm([m.get("cut_connections") for m in ms], "%.0f"),
                    sum(m.get("duplicated", 0) for m in ms)))
        if ours:
            oc, oa = med([m.get("cpu_us_per_trade") for m in ours]), \
                med([m.get("acked_per_s") for m in ours])
            for (ld, h), ms in sorted(by.items()):
                if ld != load or h.startswith("feedhandler"):
                    continue
                pc, pa = med([m.get("cpu_us_per_trade") for m in ms]), \
                    med([m.get("acked_per_s") for m in ms])
                if oc and pc:
                    lines.append("")
                    lines.append("- %s: CPU per trade %.1fx ours; acked trades/s ours / %s "
                                 "%.1fx (medians)" % (h, pc / oc, h, oa / pa if pa else 0))
        lines.append("")
    lines += ["Columns: acked trades/s = records added to the topic per second (its "
              "watermarks) over the measured window; CPU = the handler process's utime+stime "
              "(all threads) per acked trade; cores = CPU seconds per second; RSS = VmHWM; "
              "start-up = handler start to the first acknowledged trade (includes connecting "
              "and subscribing); trade -> broker = the record's LogAppendTime less its trade "
              "time (feedsim's clock = the broker's clock, ms resolution); lost / dup / out of "
              "order / inexact = feedcmp against feedsim's truth log from the handler's first "
              "trade to its SIGTERM (settle 2 s; paced loads only): a trade sent before the "
              "stop and never produced is lost.", ""]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(results, f, indent=1, default=str)
    plot(path, by, args.loads)


def plot(path, by, loads):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    handlers = sorted({h for _, h in by}, key=lambda h: (h != "feedhandler", h))

    def color(h):  # one colour per handler in every plot and panel
        return "C%d" % handlers.index(h)
    for key, label, fname in (("acked_per_s", "acked trades/s (median)", "throughput.png"),
                              ("cpu_us_per_trade", "CPU µs per trade (median, log)",
                               "cpu_per_trade.png")):
        fig, ax = plt.subplots(figsize=(8, 4))
        w = 0.8 / max(1, len(handlers))
        for i, h in enumerate(handlers):
            ys = [med([m.get(key) for m in by.get((ld, h), [])]) or 0 for ld in loads]
            ax.bar([x + i * w for x in range(len(loads))], ys, w, label=h, color=color(h))
        ax.set_xticks([x + w * (len(handlers) - 1) / 2 for x in range(len(loads))])
        ax.set_xticklabels(loads)
        ax.set_ylabel(label)
        if key == "cpu_us_per_trade":
            ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(os.path.dirname(path), fname), dpi=90)
        plt.close(fig)
    # trade -> broker append p50 / p99 per handler, one panel per paced load
    paced = [ld for ld in loads if any(m.get("latency_ms") for (l2, _), ms in by.items()
                                       if l2 == ld for m in ms)]
    if paced:
        fig, axes = plt.subplots(1, len(paced), figsize=(3.6 * len(paced), 4), squeeze=False)
        for ax, ld in zip(axes[0], paced):
            hs = [h for h in handlers if any(m.get("latency_ms") for m in by.get((ld, h), []))]
            for k, (q, off) in enumerate((("p50", -0.2), ("p99", 0.2))):
                ys = [med([m["latency_ms"][q] for m in by[(ld, h)] if m.get("latency_ms")])
                      for h in hs]
                ax.bar([i + off for i in range(len(hs))], [max(y, 0.1) for y in ys], 0.4,
                       label=q)
            ax.set_yscale("log")
            ax.set_title(ld)
            ax.set_xticks(list(range(len(hs))))
            ax.set_xticklabels(hs, rotation=30, ha="right", fontsize=8)
            ax.set_ylabel("trade -> broker ms (median of runs)")
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(os.path.dirname(path), "latency.png"), dpi=90)
        plt.close(fig)
    # RSS over the measured window, the first run of each handler, one panel per load
    fig, axes = plt.subplots(1, len(loads), figsize=(3.6 * len(loads), 4), squeeze=False)
    for ax, ld in zip(axes[0], loads):
        for h in handlers:
            ms = [m for m in by.get((ld, h), []) if m.get("rss_series")]
            if ms:
                xs, ys = zip(*ms[0]["rss_series"])
                ax.plot(xs, ys, label=h, color=color(h))
        ax.set_title(ld)
        ax.set_xlabel("s into the window")
        ax.set_ylabel("RSS MB")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(os.path.dirname(path), "rss_over_time.png"), dpi=90)
    plt.close(fig)


def warm_up(broker):
    """A fresh broker answers its first idempotent producer slowly (700 ms more to the first
    append, seen only in the first measurement of a run): one such producer before any handler
    runs keeps that out of the first handler's start-up."""
    from confluent_kafka import Producer
    broker.create("bench-warm-up", 4)
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                  "acks": "all", "log_level": 3})
    for k in range(100):
        p.produce("bench-warm-up", key=str(k % 7), value=b"x")
    p.flush(60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build", "release"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--loads",
                    default="5k,50k,500k,blast,5k-cuts,5k-faults,blast-mock,blast-plain,5k-spread,"
                    "50k-spread")
    ap.add_argument("--handlers",
                    default="feedhandler,feedhandler-latency,feedhandler-rt,baseline,cryptofeed,"
                    "ccxt")
    ap.add_argument("--report", default=os.path.join(HERE, "results", "REPORT.md"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.seconds, args.loads = 1, 8, "5k"
        args.handlers = "feedhandler,baseline"
    args.loads = args.loads.split(",")
    feedsim_lib.FEEDSIM = os.path.join(args.build, "tools", "feedsim")
    K.BUILD_DIR = args.build  # tests/mockbroker for the "-mock" loads
    engine_lib.FEEDHANDLER = os.path.join(args.build, "feedhandler")
    table = {"feedhandler": Ours(args.build), "feedhandler-latency": OursLatency(args.build),
             "feedhandler-rt": OursRealtime(args.build),
             "baseline": Baseline(),
             "cryptofeed": Cryptofeed(), "ccxt": Ccxt()}
    handlers, skipped = [], []
    for name in args.handlers.split(","):
        h = table[name]
        why = h.available()
        if why:
            skipped.append((name, why))
            print("%s: not run: %s" % (name, why), flush=True)
        else:
            handlers.append(h)
    started = datetime.datetime.now(datetime.timezone.utc)
    tmp = engine_lib.tmpdir("bench-peers-")
    results = []
    mock = K.MockBroker(3) if any(ld.endswith("-mock") for ld in args.loads) else None
    with K.RealKafka(1) as broker, K.Registry() as registry:
        warm_up(broker)
        i = 0
        for run in range(args.runs):
            for load in args.loads:
                for h in handlers:
                    into = broker
                    if (load.endswith("-plain") or load in AS_SHIPPED) and \
                            h.name not in PLAIN_ONLY:
                        continue
                    if load.endswith("-mock"):
                        if h.name not in MOCK_ONLY:
                            continue
                        into = mock
                    if load in OURS_ONLY and not h.name.startswith("feedhandler"):
                        continue
                    if h.name == "feedhandler-rt" and load not in RT_LOADS:
                        continue
                    i += 1
                    m = measure(h, load, args.seconds, args.warmup, into, registry, tmp,
                                "bench%d" % i)
                    m["run"] = run + 1
                    results.append(m)
                    print("run %d %-5s %-11s %s" % (run + 1, load, h.name, json.dumps(
                        {k: v for k, v in m.items() if k not in ("handler", "load", "run", "rss_series")},
                        default=str)), flush=True)
        broker.stop()
    if mock is not None:
        mock.stop()
    write_report(args.report, results, skipped, args, started)
    print("wrote %s" % args.report)
    K.cleanup_tmpdirs()


if __name__ == "__main__":
    main()
