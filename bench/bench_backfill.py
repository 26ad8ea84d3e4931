#!/usr/bin/python3
"""bench_backfill.py [BUILD] [--gaps N] [--share PCT] [--runs R] [--seconds S] - REST backfill, measured
(issue 13, must-show 4). Not a test: nothing here asserts a time.

1. Fill time. feedsim (Binance trade+aggTrade and Kraken v2 over TLS, 200 trades/s per symbol)
   omits a run of trades every 0.25 s on a rotating symbol and venue, and cuts every
   connection now and then; the handler (file sink) fills each gap from feedsim's REST. Per
   gap, from its gap records: fill time = the final record's reported_time_ns - the DETECTED
   record's detected_time_ns (detection to the last backfilled and held trade written). p50,
   p99 and max per venue, and how many gaps ended otherwise than FILLED. About 90 Binance gaps
   a minute need more weight than the default share (50 % of 6,000): --share 100 shows the
   fill time without that wait.

2. Cost when idle. feedsim --blast (no gaps) into the handler with backfill.enabled = false
   and = true, alternately R times each: the engine thread's CPU per trade (utime+stime of the
   thread) over S seconds after a warm-up. min and median of each, and the ratio true/false
   of the medians: the same run, the same machine, so only the ratio means anything.
"""

import argparse
import collections
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import bench_e2e  # noqa: E402
import engine_compare  # noqa: E402
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs, wait_until  # noqa: E402


def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


def fill_times(build, tmp, n_gaps, share):
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", "200", "--history", "100000"]
    syms = ["BTC-USDT", "ETH-USD", "DOGE-USD"]
    with Feedsim(*args) as fs:
        cfg = handler_config(fs, tmp, ca, channels="trade,aggTrade", extra={
            "log": {"level": "warn"}, "backfill": {"binance_weight_share_pct": share}})
        with Handler(cfg, tmp, name="fill") as h:
            h.wait_ready()
            for i in range(n_gaps):
                venue = "binance" if i % 2 == 0 else "kraken-v2"
                fs.fault("kind=omit,venue=%s,symbol=%s,count=%d" % (venue, syms[i % 3],
                                                                   3 + i % 30))
                if i % 25 == 24:
                    fs.fault("kind=drop,venue=all,mode=reset")
                time.sleep(0.25)
            wait_until(lambda: h.metric("feedhandler_backfill_open_gaps") == 0, 300,
                       step=0.1, what="every gap ended")
            h.stop()
        trades, gaps = engine_compare.load_output(h.output)
    detected = {}
    res = collections.defaultdict(list)
    other = collections.Counter()
    for g in gaps:
        k = (g["venue"], g["native_symbol"], g["kind"], g["first_missing_id"])
        if g["status"] == "DETECTED":
            detected[k] = g["detected_time_ns"]
        elif g["status"] == "FILLED":
            res[g["venue"]].append((g["reported_time_ns"] - detected[k]) / 1e6)
        else:
            other[(g["venue"], g["status"], g["reason"])] += 1
    for venue, v in sorted(res.items()):
        print("fill time %-8s %4d gaps: p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms" % (
            venue, len(v), q(v, 0.5), q(v, 0.99), max(v)), flush=True)
    print("gaps not filled: %s" % (dict(other) or "none"))
    return res


def idle_cost(build, tmp, runs, seconds):
    res = {"false": [], "true": []}
    for i in range(runs):
        for on in ("false", "true"):
            ca, cert, key = make_certs(os.path.join(tmp, "certs"))
            args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
                    "%s,%s" % (cert, key), "--blast"]
            with Feedsim(*args) as fs:
                cfg = handler_config(fs, tmp, ca, extra={
                    "log": {"level": "warn"}, "backfill": {"enabled": on},
                    "sink": {"path": "/dev/null", "buffer_bytes": "8m"}})
                with Handler(cfg, tmp, name="idle-%s-%d" % (on, i)) as h:
                    h.wait_ready()
                    time.sleep(2.0)
                    a = bench_e2e.sample(h)
                    time.sleep(seconds)
                    b = bench_e2e.sample(h)
                    gaps = h.metric("feedhandler_gaps_total")
                    h.stop()
            n = b["trades"] - a["trades"]
            us = (b["engine"] - a["engine"]) / n * 1e6
            res[on].append(us)
            print("run %d backfill.enabled=%-5s engine %.3f us/trade, %.0f trades/s, gaps %d" % (
                i + 1, on, us, n / (b["t"] - a["t"]), gaps), flush=True)
    for on in ("false", "true"):
        v = res[on]
        print("backfill.enabled=%-5s engine CPU per trade min %.3f us, median %.3f us" % (
            on, min(v), statistics.median(v)))
    print("enabled/disabled median ratio %.3f, min ratio %.3f" % (
        statistics.median(res["true"]) / statistics.median(res["false"]),
        min(res["true"]) / min(res["false"])))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(HERE, "..", "build", "release"))
    ap.add_argument("--gaps", type=int, default=200)
    ap.add_argument("--share", type=int, default=50, help="backfill.binance_weight_share_pct")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--skip-fill", action="store_true")
    ap.add_argument("--skip-idle", action="store_true")
    a = ap.parse_args()
    engine_lib.FEEDHANDLER = os.path.join(a.build, "feedhandler")
    feedsim_lib.FEEDSIM = os.path.join(a.build, "tools", "feedsim")
    tmp = engine_lib.tmpdir("bench-backfill-")
    if not a.skip_fill:
        fill_times(a.build, tmp, a.gaps, a.share)
    if not a.skip_idle:
        idle_cost(a.build, tmp, a.runs, a.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
