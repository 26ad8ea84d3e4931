#!/usr/bin/python3
"""parallel_test.py - issue 14's parallel run: the Python baseline handler (bench/baseline) and
feedhandler on the same feedsim feed, producing to two topics of one Apache Kafka broker, each
in its own schema; feedcmp compares the topics (the baseline's through
tools/feedcmp/baseline_map.json) and must find them in agreement on every trade and on every
field the old schema carries, and say which fields only feedhandler's side has. Beside the run,
feedcmp --follow reads both topics as they grow (interim reports) and agrees in its final report
on SIGTERM.

Usage: parallel_test.py FEEDHANDLER FEEDSIM (environment as for the other integration tests:
FH_SOURCE_DIR, FH_BUILD_DIR, FH_PYTHON). Nothing asserts a wall-clock duration.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
import kafka_lib as K  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs, tmpdir, wait_until  # noqa

SRC = os.environ.get("FH_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
PYTHON = os.environ.get("FH_PYTHON", "/usr/bin/python3")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def test_parallel():
    tmp = tmpdir("parallel-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", "100", "--seed", "21"]
    new, old = "trades.new", "trades.old"
    with K.make_broker("real") as b, K.Registry() as reg, Feedsim(*args) as fs:
        b.create(new, 4)
        b.create(old, 4)
        sec = K.kafka_sections(b, new, registry=reg)
        cfg = handler_config(fs, tmp, ca, extra=sec)
        base_log = open(os.path.join(tmp, "baseline.log"), "wb")
        base = subprocess.Popen(
            [PYTHON, os.path.join(SRC, "bench", "baseline", "handler.py"),
             "--binance-url", "wss://localhost:%d" % fs.ports["binance"],
             "--kraken-url", "wss://localhost:%d/v2" % fs.ports["kraken_v2"],
             "--binance-symbols", "BTCUSDT,ETHUSD,DOGEUSD",
             "--kraken-symbols", "BTC/USDT,ETH/USD,DOGE/USD",
             "--bootstrap", b.bootstrap, "--topic", old, "--registry", reg.url,
             "--ca-file", ca, "--stats-interval", "1"],
            stdout=subprocess.DEVNULL, stderr=base_log)
        base_log.close()
        try:
            with Handler(cfg, tmp) as h:
                h.wait_ready()
                # feedcmp --follow beside the run, as in a 24 h parallel run: interim reports
                # while both handlers produce, a final one on SIGTERM (before either handler
                # stops: a stopped handler's side would rightly be missing what the other has)
                fjson = os.path.join(tmp, "follow.json")
                flog = open(os.path.join(tmp, "follow.txt"), "w")
                follow = subprocess.Popen(
                    [PYTHON, os.path.join(SRC, "tools", "feedcmp", "feedcmp.py"), "--follow",
                     "--from", "beginning", "--interval", "1s", "--settle", "2s",
                     "--registry", reg.url, "--right-map",
                     os.path.join(SRC, "tools", "feedcmp", "baseline_map.json"),
                     "--json", fjson,
                     "kafka:%s/%s" % (b.bootstrap, new), "kafka:%s/%s" % (b.bootstrap, old)],
                    stdout=flog, stderr=subprocess.STDOUT)
                flog.close()
                try:
                    wait_until(lambda: h.metric("feedhandler_trades_total") >= 3000, 120,
                               step=0.2, what="3,000 trades")
                    check(base.poll() is None, "the baseline exited")

                    def follow_matched():
                        check(follow.poll() is None, "feedcmp --follow exited %s" %
                              follow.returncode)
                        try:
                            with open(fjson) as f:
                                return json.load(f)["totals"].get("matched", 0)
                        except (OSError, ValueError):
                            return 0
                    wait_until(lambda: follow_matched() >= 1000, 120, step=0.5,
                               what="feedcmp --follow: 1,000 trades matched in a report")
                    follow.send_signal(signal.SIGTERM)
                    frc = follow.wait(timeout=120)
                finally:
                    if follow.poll() is None:
                        follow.kill()
                        follow.wait()
                with open(fjson) as f:
                    frep = json.load(f)
                check(frc == 0 and frep["final"] and frep["verdict"] == "agree",
                      "feedcmp --follow: exit %s, final %s, verdict %s (see %s)" % (
                          frc, frep["final"], frep["verdict"],
                          os.path.join(tmp, "follow.txt")))
                h.stop()
            base.send_signal(signal.SIGTERM)
            rc = base.wait(timeout=60)
            check(rc == 0, "baseline exit %s" % rc)
        finally:
            if base.poll() is None:
                base.kill()
                base.wait()
        rep_path = os.path.join(tmp, "report.json")
        p = subprocess.run(
            [PYTHON, os.path.join(SRC, "tools", "feedcmp", "feedcmp.py"), "--registry", reg.url,
             "--right-map", os.path.join(SRC, "tools", "feedcmp", "baseline_map.json"),
             "--settle", "2s", "--json", rep_path,
             "kafka:%s/%s" % (b.bootstrap, new), "kafka:%s/%s" % (b.bootstrap, old)],
            capture_output=True, text=True, timeout=300)
        with open(os.path.join(tmp, "feedcmp.txt"), "w") as f:
            f.write(p.stdout + p.stderr)
        b.stop()
    check(p.returncode == 0, "feedcmp exit %d:\n%s%s" % (p.returncode, p.stdout[-3000:],
                                                         p.stderr[-2000:]))
    with open(rep_path) as f:
        rep = json.load(f)
    t = rep["totals"]
    groups = rep["groups"]
    check(rep["verdict"] == "agree" and len(groups) == 6 and all(g["agree"] for g in groups),
          "groups: %s" % [(g.get("venue"), g.get("symbol"), g["agree"]) for g in groups])
    matched = sum(g["matched"] for g in groups)
    check(matched >= 2000, "only %d trades matched" % matched)
    # Every field the old schema carries was compared; ours alone carry the rest.
    f = rep["fields"]
    for name in ("price", "quantity", "side", "trade_time"):
        check(name in f["compared"], "%s not compared: %s" % (name, f))
    check(f["left_only"] and not f["right_only"], "fields only one side has: %s" % f)
    check(rep["rounding"]["right"] is not None, "the baseline's doubles not reported: %s" %
          rep["rounding"])
    rt = rep.get("receive_time") or {}
    print("parallel --follow: %d trades matched by the final report on SIGTERM, verdict %s" %
          (frep["totals"].get("matched", 0), frep["verdict"]))
    print("parallel: %d trades matched in 6 symbols, verdict agree; fields only feedhandler "
          "has: %s; the baseline rounds (worst abs error %s); faster at p50: %s by %s ns" % (
              matched, ", ".join(f["left_only"]),
              rep["rounding"]["right"].get("worst_abs_error"), rt.get("faster_at_p50"),
              rt.get("by_ns_at_p50")))
    return t


if __name__ == "__main__":
    engine_lib.FEEDHANDLER = sys.argv[1]
    feedsim_lib.FEEDSIM = sys.argv[2]
    t0 = time.monotonic()
    try:
        test_parallel()
        print("PASS parallel (%.1fs)" % (time.monotonic() - t0))
    except Exception:
        import traceback
        traceback.print_exc()
        print("FAIL parallel (files kept in %s)" % " ".join(engine_lib._TMPDIRS))
        sys.exit(1)
