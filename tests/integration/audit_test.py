#!/usr/bin/python3
"""audit_test.py - issue 14, must-show 3: a topic audited against the exchange's REST history.

feedhandler (backfill off, so what the stream lost stays lost) produces feedsim's Binance and
Kraken v2 trades into a topic of one Apache Kafka broker. Then feedsim

  omits  5 Binance BTCUSDT trades and 4 Kraken ETH/USD trades from the streams (they exist in
         REST and the truth log: the topic lacks them), and
  skips  3 Binance ETHUSD ids and 2 Kraken BTC/USDT ids (they never existed anywhere).

feedcmp kafka:BOOTSTRAP/TOPIC rest:VENUE:URL then must find, per venue:
  - for a window before the faults: agreement (exit 0) on every trade of every symbol;
  - for the topic's whole span: exit 1, the omitted trades missing on the topic's side as one
    run of exactly that many ids, each in feedsim's truth log, and nothing else missing; the
    skipped ids absent on both sides (the venue's own gap), none of them in the truth log.

Usage: audit_test.py FEEDHANDLER FEEDSIM (environment as for the other integration tests).
Nothing asserts a wall-clock duration.
"""

import json
import os
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
FEEDCMP = os.path.join(SRC, "tools", "feedcmp", "feedcmp.py")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def feedcmp(tmp, name, *args):
    rep_path = os.path.join(tmp, name + ".json")
    p = subprocess.run([PYTHON, FEEDCMP, "--json", rep_path] + list(args),
                       capture_output=True, text=True, timeout=600)
    with open(os.path.join(tmp, name + ".txt"), "w") as f:
        f.write(p.stdout + p.stderr)
    rep = None
    if os.path.exists(rep_path):
        with open(rep_path) as f:
            rep = json.load(f)
    return p.returncode, rep, p.stdout + p.stderr


def group(rep, symbol):
    for g in rep["groups"]:
        if g["symbol"] == symbol:
            return g
    raise AssertionError("no group %s in %s" % (symbol, [g["symbol"] for g in rep["groups"]]))


def test_audit():
    tmp = tmpdir("audit-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", "40", "--seed", "31", "--history", "100000",
            "--truth", truth]
    topic = "trades.audit"
    with K.make_broker("real") as b, K.Registry() as reg, Feedsim(*args) as fs:
        b.create(topic, 4)
        cfg = handler_config(fs, tmp, ca, extra=K.kafka_sections(b, topic, registry=reg))
        cfg["backfill"] = {"enabled": False}
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            wait_until(lambda: h.metric("feedhandler_trades_total") >= 800, 120, step=0.2,
                       what="800 trades")
            clean_end = int(time.time() * 1e6)  # trades before this are before any fault
            faults = [("omit", "binance", "BTC-USDT", 5), ("omit", "kraken-v2", "ETH-USD", 4),
                      ("skip", "binance", "ETH-USD", 3), ("skip", "kraken-v2", "BTC-USDT", 2)]
            for kind, venue, sym, n in faults:
                fs.fault("kind=%s,venue=%s,symbol=%s,count=%d" % (kind, venue, sym, n))
            # the faults are spent once each book has traded on past them
            done = h.metric("feedhandler_trades_total") + 800
            wait_until(lambda: h.metric("feedhandler_trades_total") >= done, 120, step=0.2,
                       what="800 more trades")
            h.stop()
        tlines = fs.truth()
        urls = {"binance": "https://localhost:%d" % fs.ports["binance"],
                "kraken": "https://localhost:%d" % fs.ports["kraken_v2"]}
        # feedsim's REST over TLS with the test CA: urllib honours SSL_CERT_FILE
        os.environ["SSL_CERT_FILE"] = ca
        src = "kafka:%s/%s" % (b.bootstrap, topic)
        common = ["--registry", reg.url, "--settle", "1s", "--rest-kraken-interval", "200ms"]
        results = {}
        for venue in ("binance", "kraken"):
            rc, rep, out = feedcmp(tmp, "clean-" + venue, *(common + [
                "--venue", venue, "--window-end", str(clean_end), src,
                "rest:%s:%s" % (venue, urls[venue])]))
            check(rc == 0 and rep["verdict"] == "agree" and len(rep["groups"]) == 3,
                  "%s before the faults: exit %d\n%s" % (venue, rc, out[-3000:]))
            m = rep["totals"]["matched"]
            check(m >= 200, "%s before the faults: only %d matched" % (venue, m))
            rc, rep, out = feedcmp(tmp, "full-" + venue, *(common + [
                "--venue", venue, src, "rest:%s:%s" % (venue, urls[venue])]))
            check(rc == 1 and rep["verdict"] == "differ", "%s with the faults: exit %d\n%s" %
                  (venue, rc, out[-3000:]))
            results[venue] = (m, rep)
        b.stop()
    truth_ids = {}
    for t in tlines:
        if "trade_id" in t:
            truth_ids.setdefault((t["venue"], t["native_symbol"]), set()).add(t["trade_id"])
    expect = {"binance": {"omit": ("BTCUSDT", 5), "skip": ("ETHUSD", 3)},
              "kraken": {"omit": ("ETH/USD", 4), "skip": ("BTC/USDT", 2)}}
    for venue, (m_clean, rep) in results.items():
        tv = "binance" if venue == "binance" else "kraken_v2"
        osym, on = expect[venue]["omit"]
        ssym, sn = expect[venue]["skip"]
        g = group(rep, osym)
        miss = g["missing_on_left"]
        check(miss["count"] == on and len(miss["ranges"]) == 1 and
              miss["ranges"][0][1] - miss["ranges"][0][0] + 1 == on,
              "%s %s: omitted trades reported %r" % (venue, osym, miss))
        a, z = miss["ranges"][0]
        check(all(i in truth_ids[(tv, osym)] for i in range(a, z + 1)),
              "%s %s: the missing ids %d-%d are not all in the truth log" % (venue, osym, a, z))
        t = rep["totals"]
        check(t["missing_on_left"] == on and t.get("missing_on_right", 0) == 0 and
              not t.get("duplicates_left") and not any(k.startswith("mismatch_") for k in t),
              "%s: differences beyond the omitted trades: %r" % (venue, t))
        s = group(rep, ssym)["absent_on_both"]
        check(s["count"] == sn and len(s["ranges"]) == 1,
              "%s %s: skipped ids absent on both %r" % (venue, ssym, s))
        a, z = s["ranges"][0]
        check(not any(i in truth_ids[(tv, ssym)] for i in range(a, z + 1)),
              "%s %s: skipped ids %d-%d are in the truth log" % (venue, ssym, a, z))
        check(t.get("absent_on_both") == sn, "%s: other ids absent on both: %r" % (venue, t))
        rs = rep["right"].get("rest") or {}
        print("audit %s: before the faults %d trades agree; with them %d matched, omitted %s "
              "ids %s missing on the topic, skipped %s ids %s absent on both; REST %d "
              "requests, throttled %d" % (venue, m_clean, t["matched"], osym, miss["ranges"],
                                          ssym, s["ranges"], rs.get("requests", 0),
                                          rs.get("throttled", 0)))


if __name__ == "__main__":
    engine_lib.FEEDHANDLER = sys.argv[1]
    feedsim_lib.FEEDSIM = sys.argv[2]
    t0 = time.monotonic()
    try:
        test_audit()
        print("PASS audit (%.1fs)" % (time.monotonic() - t0))
    except Exception:
        import traceback
        traceback.print_exc()
        print("FAIL audit (files kept in %s)" % " ".join(engine_lib._TMPDIRS))
        sys.exit(1)
