#!/usr/bin/python3
"""bench_feedcmp.py [--trades N] [--runs R] [--follow-seconds S] [--follow-rate R] [--dir D]
- feedcmp, measured (issue 14, must-show 4). Not a test: nothing here asserts a time.

1. Batch. Two JSON-lines files of N trades each (default 5,000,000; feedhandler's normalized
   records, 8 symbols on two venues, ids consecutive per symbol, trade times 10 us apart). The
   right file is the left one with every 100-line block's order reversed (as partitions
   interleave) and 30 planted differences: 10 trades missing, 10 duplicated, 10 prices one unit
   off in the last decimal place. feedcmp compares them R times: wall time, CPU time, trades
   compared per second (both sides' trades / wall time) and the peak RSS (the child's
   ru_maxrss from wait4), as min / median / max. Every run's report must show exactly the
   planted differences, or the bench says so.

2. Follow. A writer appends the same kind of trades to two files at R trades/s each (default
   20,000/s), with trade times of now, for S seconds (default 600), planting one missing trade
   every 10 s; feedcmp --follow --interval 10s --settle 2s reads both. Every interim report
   carries feedcmp's own RSS and the trades in flight: the table shows them over time. Flat
   RSS while the trades compared grow is the claim; the final report's missing count must
   equal the planted ones (those not within the settle margin of the end).

The files go to --dir (default a temporary directory, removed at the end; about 2 GB per side
for 5 M trades).
"""

import argparse
import json
import os
import resource  # noqa: F401  (ru_maxrss units: kB on Linux)
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FEEDCMP = os.path.join(HERE, "..", "tools", "feedcmp", "feedcmp.py")
PYTHON = "/usr/bin/python3"

SYMBOLS = [("binance", "BTCUSDT", "BTC-USDT"), ("binance", "ETHUSDT", "ETH-USDT"),
           ("binance", "SOLUSDT", "SOL-USDT"), ("binance", "DOGEUSDT", "DOGE-USDT"),
           ("kraken", "BTC/USD", "BTC-USD"), ("kraken", "ETH/USD", "ETH-USD"),
           ("kraken", "SOL/USD", "SOL-USD"), ("kraken", "DOGE/USD", "DOGE-USD")]

LINE = ('{"venue":"%s","symbol":"%s","native_symbol":"%s","kind":"TRADE","trade_id":%d,'
        '"first_trade_id":null,"last_trade_id":null,"price":"%s","quantity":"%s",'
        '"side":"%s","order_type":"%s","trade_time":%d,"event_time":%d,"receive_time_ns":%d,'
        '"source":"LIVE","connection_id":%d,"sequence":%d}\n')


def trade_line(i, t0_us, price_bump=0):
    """The i-th trade of the stream: symbol i % 8, its id, price and times."""
    k = i % len(SYMBOLS)
    venue, native, sym = SYMBOLS[k]
    tid = 1000000 + i // len(SYMBOLS)
    cents = 6500000 + (i * 7919) % 100000 + price_bump
    price = "%d.%02d000000" % (cents // 100, cents % 100)
    qty = "0.%08d" % (1 + (i * 104729) % 99999999)
    tt = t0_us + i * 10
    return LINE % (venue, sym, native, tid, price, qty, "BUY" if i % 3 else "SELL",
                   "LIMIT" if venue == "kraken" else "UNKNOWN", tt, tt + 300,
                   (tt + 900) * 1000, 1 + k // 4, i + 1)


def plant(n):
    """Indexes of the planted differences, spread over the run."""
    step = n // 31
    idx = [step * (j + 1) for j in range(30)]
    return set(idx[0:10]), set(idx[10:20]), set(idx[20:30])


def write_files(d, n):
    t0 = int(time.time() * 1e6) - n * 10 - 3600 * 1000000
    missing, dup, price = plant(n)
    lp, rp = os.path.join(d, "left.jsonl"), os.path.join(d, "right.jsonl")
    with open(lp, "w") as lf, open(rp, "w") as rf:
        block = []
        for i in range(n):
            line = trade_line(i, t0)
            lf.write(line)
            if i in missing:
                pass
            elif i in price:
                block.append(trade_line(i, t0, price_bump=1))
            else:
                block.append(line)
                if i in dup:
                    block.append(line)
            if len(block) >= 100:
                rf.writelines(reversed(block))
                block = []
        rf.writelines(reversed(block))
    return lp, rp


def run_batch(lp, rp, d):
    rep_path = os.path.join(d, "batch.json")
    t0 = time.monotonic()
    p = subprocess.Popen([PYTHON, FEEDCMP, "--json", rep_path, "jsonl:" + lp, "jsonl:" + rp],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    rc = os.waitstatus_to_exitcode(status)
    with open(rep_path) as f:
        rep = json.load(f)
    return {"rc": rc, "err": err, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
            "rss_mb": ru.ru_maxrss / 1024.0, "rep": rep}


def check_batch(rep, n):
    t = rep["totals"]
    want = {"missing_on_right": 10, "duplicates_right": 10, "mismatch_price": 10,
            "matched": n - 10, "missing_on_left": 0, "duplicates_left": 0}
    bad = {k: (t.get(k, 0), v) for k, v in want.items() if t.get(k, 0) != v}
    return "planted differences found exactly" if not bad else "WRONG: %r" % bad


def mmm(v):
    return "%s / %s / %s" % tuple(fmt(x) for x in (min(v), statistics.median(v), max(v)))


def fmt(x):
    return "%.0f" % x if x >= 100 else "%.2f" % x


def follow(d, rate, seconds):
    lp, rp = os.path.join(d, "fl.jsonl"), os.path.join(d, "fr.jsonl")
    open(lp, "w").close()
    open(rp, "w").close()
    jp = os.path.join(d, "follow.json")
    log = open(os.path.join(d, "follow.txt"), "w")
    p = subprocess.Popen([PYTHON, FEEDCMP, "--follow", "--from", "beginning", "--interval",
                          "10s", "--settle", "2s", "--json", jp, "jsonl:" + lp, "jsonl:" + rp],
                         stdout=log, stderr=subprocess.STDOUT)
    rows = []
    planted = 0
    i = 0
    start = time.monotonic()
    next_missing = start + 10
    last_seen = None
    lf, rf = open(lp, "a"), open(rp, "a")
    try:
        while time.monotonic() - start < seconds:
            now = time.monotonic()
            due = int((now - start) * rate)
            t_now = int(time.time() * 1e6)
            lines_l, lines_r = [], []
            while i < due:
                line = trade_line(i, t_now - i * 10)  # trade time: now
                lines_l.append(line)
                if now >= next_missing:
                    planted += 1
                    next_missing += 10
                else:
                    lines_r.append(line)
                i += 1
            lf.writelines(lines_l)
            rf.writelines(lines_r)
            lf.flush()
            rf.flush()
            try:
                with open(jp) as f:
                    rep = json.load(f)
                stamp = (rep["totals"].get("matched", 0), rep["follow"]["rss_kb"])
                if stamp != last_seen:
                    last_seen = stamp
                    rows.append((now - start, rep["totals"].get("matched", 0),
                                 rep["follow"]["pending"], rep["follow"]["rss_kb"] / 1024.0,
                                 rep["totals"].get("missing_on_right", 0)))
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
    finally:
        lf.close()
        rf.close()
        time.sleep(3)  # let feedcmp read the tail
        p.send_signal(signal.SIGTERM)
        _, status, ru = os.wait4(p.pid, 0)
        log.close()
    with open(jp) as f:
        final = json.load(f)
    return rows, final, i, planted, ru.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trades", type=int, default=5000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--follow-seconds", type=float, default=600)
    ap.add_argument("--follow-rate", type=int, default=20000)
    ap.add_argument("--dir")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-follow", action="store_true")
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="bench-feedcmp-")
    os.makedirs(d, exist_ok=True)
    try:
        print("bench_feedcmp on %s, python %s" % (os.uname().nodename, sys.version.split()[0]))
        if not a.skip_batch:
            t0 = time.monotonic()
            lp, rp = write_files(d, a.trades)
            print("batch: %d trades per side written in %.0f s (%.0f MB per side)" % (
                a.trades, time.monotonic() - t0, os.path.getsize(lp) / 1e6))
            res = []
            for r in range(a.runs):
                x = run_batch(lp, rp, d)
                print("  run %d: exit %d, wall %.1f s, cpu %.1f s, %.0f trades/s, peak RSS "
                      "%.0f MB; %s" % (r + 1, x["rc"], x["wall"], x["cpu"],
                                       2 * a.trades / x["wall"], x["rss_mb"],
                                       check_batch(x["rep"], a.trades)))
                if x["err"]:
                    print("    stderr: %s" % x["err"].strip()[:500])
                res.append(x)
            print("batch, %d trades per side, %d runs (min / median / max):" %
                  (a.trades, a.runs))
            print("  wall s              %s" % mmm([x["wall"] for x in res]))
            print("  trades compared/s   %s  (both sides' trades / wall)" %
                  mmm([2 * a.trades / x["wall"] for x in res]))
            print("  cpu us per trade    %s" % mmm([x["cpu"] * 1e6 / (2 * a.trades) for x in res]))
            print("  peak RSS MB         %s" % mmm([x["rss_mb"] for x in res]))
        if not a.skip_follow:
            rows, final, n, planted, peak, rc = follow(d, a.follow_rate, a.follow_seconds)
            print("follow: %d trades per side at %d/s for %.0f s, %d missing planted; "
                  "exit %d" % (n, a.follow_rate, a.follow_seconds, planted, rc))
            print("  %8s %12s %10s %8s %8s" % ("t s", "matched", "in flight", "RSS MB",
                                                "missing"))
            last = -60
            for t, m, pend, rss, miss in rows:
                if t - last >= 30 or (t, m, pend, rss, miss) == rows[-1]:
                    print("  %8.0f %12d %10d %8.1f %8d" % (t, m, pend, rss, miss))
                    last = t
            rss = [r[3] for r in rows if r[1] > 0]
            if rss:
                half = rss[len(rss) // 2:]
                print("  RSS after the first report %.1f MB, over the second half %.1f-%.1f "
                      "MB; peak (ru_maxrss) %.1f MB" % (rss[0], min(half), max(half), peak))
            t = final["totals"]
            print("  final: matched %d, missing on the right %d (planted %d; the last may be "
                  "within the settle margin: unsettled %d), verdict %s" % (
                      t.get("matched", 0), t.get("missing_on_right", 0), planted,
                      t.get("unsettled_missing_on_right", 0), final["verdict"]))
    finally:
        if not a.dir:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
