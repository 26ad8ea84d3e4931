#!/usr/bin/python3
"""smoke.py - the baseline handler end to end, against the project's own tools.

Starts, in a temporary directory: a throwaway CA and localhost certificate
(tests/integration/feedsim_certs.sh), feedsim over TLS (Binance and Kraken v2, default symbols
BTC-USDT, ETH-USD, DOGE-USD, with a truth log), librdkafka's mock cluster
(build/release/tests/mockbroker), the Schema Registry stand-in (tests/tools/registry_standin.py)
and handler.py. After --duration seconds it stops the handler with SIGTERM (it must exit 0),
stops feedsim (which flushes the truth log), reads the whole topic back with
confluent_kafka.Consumer, decodes every value (Confluent framing, the schema fetched by id from
the registry) and compares it with the truth by (exchange, pair, tradeId):

  * every record is a trade of the truth, once, under the key "exchange:pair", in id order per key;
  * price and amount equal the truth's decimals as floats, side, tradeTs = trade time in ms;
  * per pair, no truth id between the first and the last one received is missing;
  * every pair got trades; the handler's final counters: produced = delivered = records,
    no errors, no reconnects.

Prints one summary line; exit 0 when all holds, 1 otherwise. Every process it starts is stopped
before it exits; the temporary directory (with every log) is removed on success and kept (and
named) on failure or with --keep.

Usage: /usr/bin/python3 bench/baseline/smoke.py [--duration 20] [--rate 50] [--keep]
"""

import argparse
import collections
import io
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

import avro.io
import avro.schema
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
PYTHON = "/usr/bin/python3"
TOPIC = "trades-baseline"
BINANCE = ["BTCUSDT", "ETHUSD", "DOGEUSD"]
KRAKEN = ["BTC/USDT", "ETH/USD", "DOGE/USD"]


class Failure(Exception):
    pass


def read_line(proc, what, timeout=30):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line:
        raise Failure("%s did not start (exit %s)" % (what, proc.poll()))
    return line


class Procs:
    """Every process started, stopped in reverse order (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.procs = []

    def start(self, name, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append((name, p))
        return p

    def stop(self, p, timeout=30):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None

    def stop_all(self):
        for _, p in reversed(self.procs):
            self.stop(p, timeout=15)
            for f in (p.stdin, p.stdout):
                if f is not None:
                    f.close()


def consume(bootstrap, topic, timeout=120):
    """Every record of the topic, from the beginning to the high watermarks."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "baseline-smoke-%d" % os.getpid(),
                  "enable.auto.commit": False, "log_level": 3})
    try:
        md = c.list_topics(topic, timeout=30).topics[topic]
        if md.error is not None:
            raise Failure("topic %s: %s" % (topic, md.error))
        ends, parts = {}, []
        for p in md.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if hi > lo:
                ends[p] = hi
            parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        c.assign(parts)
        out, pos = [], {}
        deadline = time.monotonic() + timeout
        while any(pos.get(p, -1) + 1 < hi for p, hi in ends.items()):
            if time.monotonic() > deadline:
                raise Failure("consumer timed out at %r of %r" % (pos, ends))
            for m in c.consume(num_messages=5000, timeout=1.0):
                if m.error() is not None:
                    raise Failure("consumer: %s" % m.error())
                out.append((m.partition(), m.offset(), m.key(), m.value()))
                pos[m.partition()] = m.offset()
        out.sort(key=lambda r: (r[0], r[1]))
        return out
    finally:
        c.close()


def registry_get(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())


def check(records, truth, registry, stats):
    """Returns (summary dict, list of problems)."""
    problems = []
    schemas = {}
    latest = registry_get(registry, "/subjects/%s-value/versions/latest" % TOPIC)
    seen = {}
    last_id = {}
    per_pair = collections.Counter()
    mismatches = collections.Counter()
    unknown = dups = 0
    for part, off, key, value in records:
        if value[:1] != b"\x00" or len(value) < 6:
            problems.append("p%d@%d: not a Confluent frame" % (part, off))
            continue
        (sid,) = struct.unpack(">I", value[1:5])
        if sid != latest["id"]:
            problems.append("p%d@%d: schema id %d, registered %d" % (part, off, sid,
                                                                     latest["id"]))
        if sid not in schemas:
            schemas[sid] = avro.schema.parse(registry_get(registry, "/schemas/ids/%d" %
                                                          sid)["schema"])
        body = io.BytesIO(value[5:])
        r = avro.io.DatumReader(schemas[sid]).read(avro.io.BinaryDecoder(body))
        if body.tell() != len(value) - 5:
            problems.append("p%d@%d: %d trailing bytes" % (part, off,
                                                           len(value) - 5 - body.tell()))
        ident = (r["exchange"], r["pair"], r["tradeId"])
        if key != ("%s:%s" % (r["exchange"], r["pair"])).encode():
            problems.append("p%d@%d: key %r for %s:%s" % (part, off, key, r["exchange"],
                                                          r["pair"]))
        if ident in seen:
            dups += 1
            if dups <= 5:
                problems.append("duplicate %s (p%d@%d and p%d@%d)" % (ident, *seen[ident],
                                                                      part, off))
            continue
        seen[ident] = (part, off)
        k = (r["exchange"], r["pair"])
        if k in last_id and r["tradeId"] <= last_id[k]:
            problems.append("%s:%s: id %d after %d (p%d@%d)" % (*k, r["tradeId"], last_id[k],
                                                                part, off))
        last_id[k] = r["tradeId"]
        t = truth.get(ident)
        if t is None:
            unknown += 1
            if unknown <= 5:
                problems.append("not in the truth log: %s" % (ident,))
            continue
        per_pair[k] += 1
        want = {"price": float(t["price"]), "amount": float(t["quantity"]),
                "side": t["side"].upper(), "tradeTs": t["trade_time_us"] // 1000}
        for f, v in want.items():
            if r[f] != v:
                mismatches[f] += 1
                if sum(mismatches.values()) <= 10:
                    problems.append("%s %s: %r, truth %r" % (ident, f, r[f], v))
        if not r["tradeTs"] - 1000 <= r["ingestTs"] <= r["tradeTs"] + 60000:
            mismatches["ingestTs"] += 1
            if sum(mismatches.values()) <= 10:
                problems.append("%s ingestTs %d, tradeTs %d" % (ident, r["ingestTs"],
                                                                r["tradeTs"]))

    # completeness between the first and the last id received, per pair
    ids = collections.defaultdict(set)
    for (ex, pair, tid) in seen:
        ids[(ex, pair)].add(tid)
    missing = 0
    truth_ids = collections.defaultdict(list)
    for (ex, pair, tid) in truth:
        truth_ids[(ex, pair)].append(tid)
    for k, got in ids.items():
        lo, hi = min(got), max(got)
        lost = [i for i in truth_ids.get(k, []) if lo <= i <= hi and i not in got]
        if lost:
            missing += len(lost)
            problems.append("%s:%s: %d truth trade(s) missing between %d and %d, first %s" %
                            (*k, len(lost), lo, hi, sorted(lost)[:5]))
    for pair in [("binance", s) for s in BINANCE] + [("kraken", s) for s in KRAKEN]:
        if per_pair[pair] == 0:
            problems.append("%s:%s: no trades" % pair)

    if stats is None:
        problems.append("no final counters line from the handler")
    else:
        if not stats["produced"] == stats["delivered"] == len(records):
            problems.append("handler produced %d, delivered %d, topic holds %d" %
                            (stats["produced"], stats["delivered"], len(records)))
        if stats["errors"] or stats["reconnects"]:
            problems.append("handler errors %d, reconnects %d" % (stats["errors"],
                                                                  stats["reconnects"]))
    summary = {"records": len(records), "compared": sum(per_pair.values()),
               "binance": sum(v for (ex, _), v in per_pair.items() if ex == "binance"),
               "kraken": sum(v for (ex, _), v in per_pair.items() if ex == "kraken"),
               "pairs": len(per_pair), "mismatches": sum(mismatches.values()),
               "by_field": dict(mismatches), "missing": missing, "duplicates": dups,
               "unknown": unknown}
    return summary, problems


def load_truth(path):
    out = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            if d["venue"] not in ("binance", "kraken_v2"):
                continue
            ex = "kraken" if d["venue"].startswith("kraken") else d["venue"]
            out[(ex, d["native_symbol"], d["trade_id"])] = d
    return out


def last_stats(log_path):
    stats = None
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("{"):
                try:
                    stats = json.loads(line)
                except ValueError:
                    pass
    return stats


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def run(args, tmp, procs):
    build = args.build_dir
    feedsim = os.path.join(build, "tools", "feedsim")
    mockbroker = os.path.join(build, "tests", "mockbroker")
    for exe in (feedsim, mockbroker):
        if not os.access(exe, os.X_OK):
            raise Failure("%s is not built (build the project first)" % exe)

    subprocess.run(["sh", os.path.join(SOURCE_DIR, "tests", "integration", "feedsim_certs.sh"),
                    tmp], check=True)
    ca, pem, key = (os.path.join(tmp, n) for n in ("ca.pem", "server.pem", "server.key"))
    truth_path = os.path.join(tmp, "truth.ndjson")

    fs = procs.start("feedsim", [feedsim, "--binance", "0", "--kraken-v2", "0", "--control", "0",
                                 "--tls", "%s,%s" % (pem, key), "--rate", str(args.rate),
                                 "--truth", truth_path,
                                 "--ports-file", os.path.join(tmp, "ports.json")],
                     stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "feedsim.log"), "wb"))
    ports = json.loads(read_line(fs, "feedsim"))

    mb = procs.start("mockbroker", [mockbroker, "-n", "1"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE,
                     stderr=open(os.path.join(tmp, "mockbroker.log"), "wb"))
    bootstrap = read_line(mb, "mockbroker")
    mb.stdin.write(("create %s 4\n" % TOPIC).encode())
    mb.stdin.flush()
    ans = read_line(mb, "mockbroker create")
    if ans != "ok":
        raise Failure("mockbroker create: %r" % ans)

    reg = procs.start("registry", [PYTHON, os.path.join(SOURCE_DIR, "tests", "tools",
                                                        "registry_standin.py")],
                      stdout=subprocess.PIPE,
                      stderr=open(os.path.join(tmp, "registry.log"), "wb"))
    registry = read_line(reg, "registry stand-in")

    handler_log = os.path.join(tmp, "handler.log")
    cmd = [PYTHON, os.path.join(HERE, "handler.py"),
           "--binance-url", "wss://localhost:%d" % ports["binance"],
           "--kraken-url", "wss://localhost:%d/v2" % ports["kraken_v2"],
           "--binance-symbols", ",".join(BINANCE), "--kraken-symbols", ",".join(KRAKEN),
           "--bootstrap", bootstrap, "--topic", TOPIC, "--registry", registry,
           "--ca-file", ca, "--stats-interval", "5"]
    with open(os.path.join(tmp, "handler.cmd"), "w") as f:
        f.write(" ".join(cmd) + "\n")
    h = procs.start("handler", cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=open(handler_log, "wb"))
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        if h.poll() is not None:
            raise Failure("handler exited early with %d:\n%s" % (h.returncode, tail(handler_log)))
        time.sleep(0.2)
    rc = procs.stop(h, timeout=40)
    if rc != 0:
        raise Failure("handler exited with %s after SIGTERM:\n%s" % (rc, tail(handler_log)))

    rc = procs.stop(fs)  # flushes the truth log
    if rc != 0:
        raise Failure("feedsim exited with %s" % rc)
    truth = load_truth(truth_path)
    records = consume(bootstrap, TOPIC)
    return check(records, truth, registry, last_stats(handler_log))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds the handler runs")
    ap.add_argument("--rate", type=float, default=50, help="feedsim trades/s per symbol")
    ap.add_argument("--build-dir", default=os.path.join(SOURCE_DIR, "build", "release"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="baseline-smoke-")
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still cleans up (finally)
    ok = False
    try:
        summary, problems = run(args, tmp, procs)
        ok = not problems
        for p in problems[:30]:
            print("  " + p, file=sys.stderr)
        print("baseline smoke: %s: %d trades compared (binance %d, kraken %d, %d pairs) of %d "
              "records; %d mismatches %s, %d missing, %d duplicates, %d not in truth" %
              ("OK" if ok else "FAILED", summary["compared"], summary["binance"],
               summary["kraken"], summary["pairs"], summary["records"], summary["mismatches"],
               json.dumps(summary["by_field"]), summary["missing"], summary["duplicates"],
               summary["unknown"]), flush=True)
    except Failure as e:
        print("baseline smoke: FAILED: %s" % e, flush=True)
    except Exception:  # noqa: BLE001 - report, clean up, exit 1
        traceback.print_exc()
        print("baseline smoke: FAILED: unexpected error", flush=True)
    finally:
        procs.stop_all()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("logs kept in %s" % tmp, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
