#!/usr/bin/python3
"""smoke.py - cryptofeed (the peer) against feedsim and a real Apache Kafka broker.

Run with Debian's interpreter (python3-confluent-kafka for reading the topic and for feedcmp):

  /usr/bin/python3 bench/peers/cryptofeed/smoke.py [--duration 20] [--rate 100]
      [--probe-rate 1700] [--probe-duration 20] [--no-paced] [--no-blast] [--keep]
      [--harness-arg=--acks=1 ...]

1. install.sh (idempotent) gives the venv; a throwaway CA and localhost certificate
   (tests/integration/feedsim_certs.sh); one Apache Kafka broker (tests/integration/kafka_lib,
   scripts/kafka-local), each topic created with 4 partitions.
2. Paced correctness: feedsim over TLS (Binance and Kraken v1 - the protocol cryptofeed 2.4.1
   speaks), --rate trades/s per symbol, truth log; run_cryptofeed.py for --duration seconds,
   SIGTERM; feedsim stopped (truth log flushed). Then
   * feedcmp truth vs the topic through tools/feedcmp/cryptofeed_map.json (its result, or the
     one-line error while feedcmp cannot read that map: see README.md);
   * this script's own check of the topic against the truth: Binance records are aggregates
     (aggTrade), matched to the truth's trades grouped the way feedsim aggregates them
     (consecutive ids of one symbol with one time, price and side) on (symbol, time in ms,
     price, summed quantity, side, occurrence), plus the aggregate ids' continuity; Kraken v1
     records carry no id and are matched on (symbol, time in us, price, quantity, side,
     occurrence). Prices and quantities are doubles: a match needs the nearest double of the
     truth's decimal; the worst error against the exact decimal is reported. Window per venue
     and symbol: from the first to the last trade the topic holds.
3. Throughput, Binance only (same symbols), twice: a rate probe (feedsim paced at --probe-rate
   per symbol) and feedsim --blast. The topic's high watermarks, the harness's received count
   and the process's CPU (/proc/PID/stat utime+stime, all threads) are sampled --warmup seconds
   after the first record and --probe-duration seconds later: acknowledged and received
   trades/s, CPU per acknowledged and per received trade, RSS, and the trades the harness
   received that never reached the topic (queued when it stopped).

Prints the results; no assertion on time or rate. Exit 0 when both phases ran (and the
correctness check found nothing lost, duplicated or wrong inside the window), 1 otherwise.
"""

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))

import feedsim_lib as FL  # noqa: E402
import kafka_lib as K  # noqa: E402

PYTHON = "/usr/bin/python3"
SYMBOLS = "BTC-USDT,ETH-USD,DOGE-USD"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Failure(Exception):
    pass


def cpu_seconds(pid):
    """utime + stime of the whole process (every thread), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class Harness:
    """run_cryptofeed.py in the venv, its stderr to a log, its counters line from stdout."""

    def __init__(self, venv, tmp, name, args):
        self.log = os.path.join(tmp, name + ".log")
        self.out = os.path.join(tmp, name + ".out")
        cmd = [os.path.join(venv, "bin", "python"), os.path.join(HERE, "run_cryptofeed.py")] + args
        with open(os.path.join(tmp, name + ".cmd"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        self.proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL,
                                     stdout=open(self.out, "wb"), stderr=open(self.log, "wb"))
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM; returns (exit status, counters dict or None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        stats = None
        with open(self.out, errors="replace") as f:
            for line in f:
                if line.startswith("{") and '"total"' in line:
                    try:
                        stats = json.loads(line)
                    except ValueError:
                        pass
        return rc, stats

    def received(self):
        """(time, trades received) from the last --stats-interval line, or None."""
        last = None
        with open(self.out, errors="replace") as f:
            for line in f:
                if line.startswith('{"t"') and line.endswith("\n"):
                    d = json.loads(line)
                    last = (d["t"], d["received"])
        return last


def hw_sum(bootstrap, topic, tries=20):
    """Records in the topic (sum of high watermarks); retried while leadership settles."""
    from confluent_kafka import KafkaException
    for i in range(tries):
        try:
            return sum(K.watermarks(bootstrap, topic).values())
        except KafkaException:
            if i == tries - 1:
                raise
            time.sleep(0.5)


# ---- the smoke's own check --------------------------------------------------------------------

CANON = {"XBT": "BTC", "XDG": "DOGE"}


def canon(native):
    """BTCUSDT / XBT/USDT / BTC-USDT -> BTCUSDT"""
    s = native.replace("/", "").replace("-", "").upper()
    for k, v in CANON.items():
        if s.startswith(k):
            s = v + s[len(k):]
        if s.endswith(k):
            s = s[:-len(k)] + v
    return s


def load_truth(path):
    """{("binance"|"kraken", SYMKEY): [aggregate-or-trade dicts in order]}; Binance trades are
    grouped into the aggregates feedsim sends (consecutive, same time, price and side)."""
    out = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            if d.get("blast"):
                continue
            v = d["venue"]
            if v == "binance":
                k = ("binance", canon(d["native_symbol"]))
                g = out[k]
                p, q = Decimal(d["price"]), Decimal(d["quantity"])
                if g and g[-1]["t_us"] == d["trade_time_us"] and g[-1]["price"] == p and \
                        g[-1]["side"] == d["side"] and g[-1]["last"] + 1 == d["trade_id"]:
                    g[-1]["qty"] += q
                    g[-1]["last"] = d["trade_id"]
                else:
                    g.append({"t_us": d["trade_time_us"], "price": p, "qty": q, "side": d["side"],
                              "first": d["trade_id"], "last": d["trade_id"]})
            elif v == "kraken_v1":
                out[("kraken", canon(d["native_symbol"]))].append(
                    {"t_us": d["trade_time_us"], "price": Decimal(d["price"]),
                     "qty": Decimal(d["quantity"]), "side": d["side"]})
    return out


def key_time(venue, t_us):
    return t_us // 1000 if venue == "binance" else t_us  # Binance T is in ms


def check(records, truth):
    """Returns (summary dict, problems)."""
    problems = []
    got = collections.defaultdict(list)
    for r in records:
        venue = r["exchange"].lower()
        ts = Decimal(repr(r["timestamp"]))  # float seconds
        t = int((ts * (1000 if venue == "binance" else 1000000)).to_integral_value())
        got[(venue, canon(r["symbol"]))].append(
            {"t": t, "price": r["price"], "qty": r["amount"], "side": r["side"], "id": r["id"]})
    s = {"records": len(records), "matched": 0, "missing": 0, "unexpected": 0, "duplicates": 0,
         "agg_id_gaps": 0, "worst_abs": Decimal(0), "worst_rel": Decimal(0), "not_nearest": 0,
         "worst_bin_rel": Decimal(0),
         "by_venue": {}}
    for key in sorted(set(got) | {k for k in truth if k in got}):
        venue, sym = key
        recs = got.get(key, [])
        if not recs:
            continue
        lo, hi = min(r["t"] for r in recs), max(r["t"] for r in recs)
        expect = collections.Counter()
        exact = {}
        for tr in truth.get(key, []):
            t = key_time(venue, tr["t_us"])
            if lo <= t <= hi:
                k = (t, float(tr["price"]), float(tr["qty"]), tr["side"])
                expect[k] += 1
                exact[k] = (tr["price"], tr["qty"])
        seen = collections.Counter()
        matched = dup = unexpected = 0
        for r in recs:
            k = (r["t"], float(r["price"]), float(r["qty"]), r["side"])
            seen[k] += 1
            if seen[k] <= expect.get(k, 0):
                matched += 1
                ep, eq = exact[k]
                for val, ex in ((r["price"], ep), (r["qty"], eq)):
                    err = abs(Decimal(repr(float(val))) - ex)  # as printed (shortest repr)
                    if err > s["worst_abs"]:
                        s["worst_abs"] = err
                    if ex and err / ex > s["worst_rel"]:
                        s["worst_rel"] = err / ex
                    berr = abs(Decimal(float(val)) - ex)  # the binary value itself
                    if ex and berr / ex > s["worst_bin_rel"]:
                        s["worst_bin_rel"] = berr / ex
                    if float(val) != float(ex):
                        s["not_nearest"] += 1
            elif expect.get(k, 0) > 0:
                dup += 1
            else:
                unexpected += 1
                if unexpected <= 3:
                    problems.append("%s %s: not in the truth: %r" % (venue, sym, r))
        missing = sum(max(0, n - seen[k]) for k, n in expect.items())
        if missing:
            firsts = sorted(k for k, n in expect.items() if seen[k] < n)[:3]
            problems.append("%s %s: %d truth trade(s) missing in the window, first %s" %
                            (venue, sym, missing, firsts))
        gaps = 0
        if venue == "binance":
            ids = sorted(int(r["id"]) for r in recs)
            gaps = sum(b - a - 1 for a, b in zip(ids, ids[1:]) if b > a + 1)
            if gaps:
                problems.append("binance %s: %d aggregate id(s) missing" % (sym, gaps))
        v = s["by_venue"].setdefault(venue, {"records": 0, "matched": 0, "missing": 0,
                                             "duplicates": 0, "unexpected": 0})
        for name, n in (("records", len(recs)), ("matched", matched), ("missing", missing),
                        ("duplicates", dup), ("unexpected", unexpected)):
            v[name] += n
        s["matched"] += matched
        s["missing"] += missing
        s["duplicates"] += dup
        s["unexpected"] += unexpected
        s["agg_id_gaps"] += gaps
    if s["duplicates"]:
        problems.append("%d duplicate record(s)" % s["duplicates"])
    if s["not_nearest"]:
        problems.append("%d value(s) not the nearest double of the truth" % s["not_nearest"])
    return s, problems


# ---- phases -----------------------------------------------------------------------------------


def harness_args(ports, ca, bootstrap, topic, kraken=True, extra=()):
    a = ["--binance-url", "wss://localhost:%d" % ports["binance"],
         "--rest-binance", "https://localhost:%d" % ports["binance"],
         "--symbols", SYMBOLS, "--bootstrap", bootstrap, "--topic", topic, "--ca-file", ca]
    if kraken:
        a += ["--kraken-url", "wss://localhost:%d/" % ports["kraken_v1"],
              "--rest-kraken", "https://localhost:%d" % ports["kraken_v1"]]
    return a + list(extra)


def wait_first(bootstrap, topic, h, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not h.alive():
            raise Failure("run_cryptofeed.py exited early (%s):\n%s" % (h.proc.returncode,
                                                                       tail(h.log)))
        if hw_sum(bootstrap, topic) > 0:
            return
        time.sleep(0.5)
    raise Failure("no record in %s after %d s:\n%s" % (topic, timeout, tail(h.log)))


def correctness(args, tmp, venv, ca, pem, key, broker):
    topic = "cryptofeed-paced"
    broker.create(topic, 4)
    truth = os.path.join(tmp, "truth.ndjson")
    with FL.Feedsim("--binance", 0, "--kraken-v1", 0, "--control", 0, "--tls", "%s,%s" % (pem, key),
                    "--symbols", SYMBOLS, "--rate", args.rate, "--truth", truth) as fs:
        h = Harness(venv, tmp, "paced", harness_args(fs.ports, ca, broker.bootstrap, topic,
                                                     extra=args.harness_arg))
        try:
            t0 = time.monotonic()
            wait_first(broker.bootstrap, topic, h)
            while time.monotonic() - t0 < args.duration:
                if not h.alive():
                    raise Failure("run_cryptofeed.py exited early:\n%s" % tail(h.log))
                time.sleep(0.2)
        finally:
            rc, stats = h.stop()
    # feedsim stopped: truth flushed
    raw = [r.value for r in K.consume_python(broker.bootstrap, [topic])]
    with open(os.path.join(tmp, "records.jsonl"), "wb") as f:
        for v in raw:
            f.write(v + b"\n")
    recs = [json.loads(v) for v in raw]
    print("paced: %d trades/s per symbol and venue, %s, %.0f s: harness exit %s, received %s, "
          "topic holds %d" % (args.rate, SYMBOLS, args.duration, rc,
                              stats and stats["received"], len(recs)), flush=True)
    ok = True
    if stats and stats["total"] != len(recs):
        print("  the topic holds %d of the %d trades the harness received (lost when it stopped)"
              % (len(recs), stats["total"]))

    # feedcmp, through the map
    cmd = [PYTHON, os.path.join(SOURCE_DIR, "tools", "feedcmp", "feedcmp.py"), "--right-map",
           os.path.join(SOURCE_DIR, "tools", "feedcmp", "cryptofeed_map.json"),
           "--settle", "2s", "--json", os.path.join(tmp, "feedcmp.json"),
           "truth:" + truth, "kafka:%s/%s" % (broker.bootstrap, topic)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    print("feedcmp (exit %d):" % p.returncode)
    text = (p.stdout + p.stderr).strip()
    for line in text.splitlines()[:60]:
        print("  " + line)
    if p.returncode == 2:
        print("  -> feedcmp cannot read cryptofeed's records yet (see README.md: what the map "
              "needs); the smoke's own check follows")

    # the smoke's own check
    s, problems = check(recs, load_truth(truth))
    for pr in problems[:20]:
        print("  " + pr)
    print("own check: %d records, %d matched, %d missing, %d duplicates, %d not in truth, "
          "%d aggregate-id gaps; doubles: %d not the nearest double of the truth, worst error as "
          "printed (repr) abs %s rel %.3g, of the binary value rel %.3g; by venue %s" %
          (s["records"], s["matched"], s["missing"], s["duplicates"], s["unexpected"],
           s["agg_id_gaps"], s["not_nearest"], s["worst_abs"], s["worst_rel"],
           s["worst_bin_rel"], json.dumps(s["by_venue"])), flush=True)
    if problems or rc not in (0, None) or not s["matched"]:
        ok = False
    return ok


def measure(args, broker, topic, h):
    t_start = time.monotonic()
    wait_first(broker.bootstrap, topic, h)
    first_s = time.monotonic() - t_start
    while time.monotonic() - t_start < args.warmup:
        time.sleep(0.2)
    m = {"first_s": first_s, "rss_max": 0.0, "early": False}
    m["c1"], m["w1"], m["t1"], m["r1"] = (cpu_seconds(h.pid), hw_sum(broker.bootstrap, topic),
                                          time.monotonic(), h.received())
    while time.monotonic() - m["t1"] < args.probe_duration:
        if not h.alive():
            raise Failure("run_cryptofeed.py exited during the run:\n%s" % tail(h.log))
        m["rss_max"] = max(m["rss_max"], rss_mb(h.pid))
        if m["rss_max"] > args.rss_limit_mb:
            m["early"] = True
            break
        time.sleep(0.5)
    m["c2"], m["w2"], m["t2"], m["r2"] = (cpu_seconds(h.pid), hw_sum(broker.bootstrap, topic),
                                          time.monotonic(), h.received())
    m["rss_end"] = rss_mb(h.pid)
    m["rss_max"] = max(m["rss_max"], m["rss_end"])
    return m


def throughput(args, tmp, venv, ca, pem, key, broker, name, label, feedsim_args):
    """One Binance-only run; prints acknowledged and received trades/s and CPU per trade."""
    topic = "cryptofeed-" + name
    broker.create(topic, 4)
    with FL.Feedsim("--binance", 0, "--control", 0, "--tls", "%s,%s" % (pem, key),
                    "--symbols", SYMBOLS, "--truth", os.path.join(tmp, name + "-truth.ndjson"),
                    *feedsim_args) as fs:
        h = Harness(venv, tmp, name, harness_args(fs.ports, ca, broker.bootstrap, topic,
                                                  kraken=False,
                                                  extra=["--stats-interval", "1"] +
                                                  args.harness_arg))
        try:
            m = measure(args, broker, topic, h)
        finally:
            rc, stats = h.stop(timeout=120)
    final = hw_sum(broker.bootstrap, topic)
    dt, dw, dc = m["t2"] - m["t1"], m["w2"] - m["w1"], m["c2"] - m["c1"]
    print("%s (Binance aggTrade, %s, TLS, real broker): first record in the topic %.1f s after "
          "start; over %.1f s after %.0f s:%s" % (label, SYMBOLS, m["first_s"], dt, args.warmup,
                                                  " (stopped early: RSS past --rss-limit-mb)"
                                                  if m["early"] else ""))
    print("  acknowledged in the topic: %d = %.0f trades/s; process CPU %.2f s = %.2f cores "
          "= %s us per acknowledged trade" %
          (dw, dw / dt, dc, dc / dt, ("%.1f" % (1e6 * dc / dw)) if dw else "inf"))
    if m["r1"] and m["r2"]:
        dr = m["r2"][1] - m["r1"][1]
        print("  received by cryptofeed (websocket -> Trade -> callbacks): %d = %.0f trades/s, "
              "%s us CPU per received trade" % (dr, dr / dt,
                                                ("%.1f" % (1e6 * dc / dr)) if dr else "inf"))
    print("  RSS %.0f MB at the end of the measurement (max %.0f)" % (m["rss_end"], m["rss_max"]))
    if stats:
        print("  in all: received %d in %.0f s, the topic holds %d (%d never produced: queued "
              "in cryptofeed's backend when it stopped); exit %s" %
              (stats["total"], stats["ran_s"], final, stats["total"] - final, rc), flush=True)
    else:
        print("  harness exit %s, no counters line:\n%s" % (rc, tail(h.log)), flush=True)
    return dw > 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="paced run, seconds")
    ap.add_argument("--rate", type=int, default=100, help="paced: trades/s per symbol and venue")
    ap.add_argument("--probe-duration", type=float, default=20.0,
                    help="blast and rate probe: seconds measured")
    ap.add_argument("--warmup", type=float, default=3.0,
                    help="blast and rate probe: seconds after the first record before measuring")
    ap.add_argument("--probe-rate", type=int, default=1700,
                    help="rate probe: paced trades/s per symbol (3 symbols, Binance only; "
                    "0 = no probe)")
    ap.add_argument("--rss-limit-mb", type=float, default=4096,
                    help="stop measuring early when the harness grows past this")
    ap.add_argument("--no-blast", action="store_true")
    ap.add_argument("--no-paced", action="store_true")
    ap.add_argument("--harness-arg", action="append", default=[],
                    help="extra argument for run_cryptofeed.py (repeatable), e.g. "
                    "--harness-arg=--acks=1")
    ap.add_argument("--build-dir", default=os.path.join(SOURCE_DIR, "build", "release"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    FL.FEEDSIM = os.path.join(args.build_dir, "tools", "feedsim")
    if not os.access(FL.FEEDSIM, os.X_OK):
        print("cryptofeed smoke: FAILED: %s is not built" % FL.FEEDSIM)
        return 1
    tmp = tempfile.mkdtemp(prefix="cryptofeed-smoke-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ok = False
    try:
        venv = subprocess.run(["sh", os.path.join(HERE, "install.sh")], check=True,
                              stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
        ver = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                              "from importlib.metadata import version as v; "
                              "print(v('cryptofeed'), v('aiokafka'), v('websockets'), "
                              "v('uvloop'))"], capture_output=True, text=True).stdout.split()
        print("cryptofeed %s, aiokafka %s, websockets %s, uvloop %s (venv %s)" %
              (*ver, venv), flush=True)
        subprocess.run(["sh", os.path.join(SOURCE_DIR, "tests", "integration",
                                           "feedsim_certs.sh"), tmp], check=True)
        ca, pem, key = (os.path.join(tmp, n) for n in ("ca.pem", "server.pem", "server.key"))
        with K.make_broker("real") as broker:
            ok = True
            if not args.no_paced:
                ok = correctness(args, tmp, venv, ca, pem, key, broker) and ok
            if args.probe_rate > 0:
                ok = throughput(args, tmp, venv, ca, pem, key, broker, "probe",
                                "rate probe at %d trades/s offered" % (3 * args.probe_rate),
                                ["--rate", str(args.probe_rate)]) and ok
            if not args.no_blast:
                ok = throughput(args, tmp, venv, ca, pem, key, broker, "blast", "blast",
                                ["--blast"]) and ok
        print("cryptofeed smoke: %s" % ("OK" if ok else "FAILED (see above)"), flush=True)
    except Failure as e:
        print("cryptofeed smoke: FAILED: %s" % e, flush=True)
        ok = False
    except Exception:  # noqa: BLE001 - report, clean up, exit 1
        traceback.print_exc()
        print("cryptofeed smoke: FAILED: unexpected error", flush=True)
        ok = False
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("logs kept in %s" % tmp, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
