#!/usr/bin/python3
"""bench_reconnect.py BUILD_DIR [DROPS] | BUILD_DIR --flap [--every S] [--duration S]

Reconnect time, server-side drop -> first trade again. Runs feedsim over TLS and feedhandler
against it (Binance and Kraken v2, three symbols each, file sink).

Default mode: DROPS times (default 100) makes feedsim drop one venue's connection (close
frame, TCP reset or FIN, alternating venues and kinds) and measures, per drop, the time from
just before the control request to the receive time (receive_time_ns, CLOCK_REALTIME, same
host) of the first trade the handler wrote from the new connection. The figure includes the
detection, the backoff delay (full jitter, reconnect.base_ms = 200 ms by default), DNS, TCP,
TLS, the upgrade, the subscription and the wait for the next trade (feedsim's rate, default
200 trades/s per symbol). Drops are >= 1.5 s apart, each after the connection streamed.

--flap: a flapping network with the handler's DEFAULT [reconnect] settings (base 200 ms, cap
30 s, stable_ms 60 s, the venues' default connection budgets). Every --every seconds (5) for
--duration seconds (120) every connection of both venues is cut at once (close frame, TCP
reset, FIN, close 1011 in turn). Per venue: time from the cut to the first trade written from
a new connection (p50/p99/max), connection attempts against the budget (the most attempts in
any budget window, from the handler's log), budget denials, and the share of trades lost to
the cuts (reported as gaps). A venue not back by the next cut keeps its first cut's start
time (the later cut finds nothing of it to cut). --feedhandler PATH runs another binary (an
older build, for a before/after comparison).

Not a test: no assertion on the figures.
"""

import argparse
import datetime
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs, wait_until  # noqa: E402


first_trade_after = engine_lib.first_trade_after
last_conn = engine_lib.last_conn


def q(v, p):
    """Nearest-rank quantile of a sorted list."""
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def log_time(d):
    """A log line's ts (RFC 3339, UTC) in seconds."""
    ts = d["ts"].rstrip("Z")
    return datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp()


def max_in_window(times, window_s):
    best, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def flap(build, every, duration, feedhandler):
    engine_lib.FEEDHANDLER = feedhandler or os.path.join(build, "feedhandler")
    feedsim_lib.FEEDSIM = os.path.join(build, "tools", "feedsim")
    tmp = engine_lib.tmpdir("bench-flap-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", "200"]
    kinds = ["code=1001", "mode=reset", "mode=eof", "code=1011"]
    venues = ("binance", "kraken")
    samples = {v: [] for v in venues}
    with Feedsim(*args) as fs:
        cfg = handler_config(fs, tmp, ca, extra={"log": {"level": "debug"},
                                                 "sink": {"buffer_bytes": "8m"}})
        del cfg["reconnect"]  # the shipped defaults, not the tests' fast ones
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            out = h.output
            n_cuts = int(duration // every)
            t_start = time.monotonic()
            pending = {}  # venue -> (t0 realtime ns, conn before, offset)
            cut = 0
            while cut < n_cuts or pending:
                if cut < n_cuts and time.monotonic() >= t_start + (cut + 1) * every:
                    offset = os.path.getsize(out)
                    conns = {v: last_conn(out, v) for v in venues}
                    t0 = time.time_ns()
                    fs.fault("kind=drop,venue=all,%s" % kinds[cut % len(kinds)])
                    for v in venues:
                        if v not in pending:
                            pending[v] = (t0, conns[v], offset)
                    cut += 1
                for v, (t0, before, offset) in list(pending.items()):
                    t = first_trade_after(out, v, before, offset)
                    if t is not None:
                        samples[v].append((t["receive_time_ns"] - t0) / 1e6)
                        del pending[v]
                if not h.alive():
                    raise SystemExit("feedhandler died:\n" + h.log_tail())
                if time.monotonic() > t_start + duration + 120:
                    raise SystemExit("no recovery within 120 s of the last cut: %s" % pending)
                time.sleep(0.005)
            m = h.metrics()
            h.stop()
    eff = {d["key"]: d["value"] for d in h.log_lines("config")}

    def mval(name, **labels):
        return sum(val for (n, lab), val in m.items()
                   if n == name and all(dict(lab).get(k) == x for k, x in labels.items()))
    print("reconnect under a flapping network: every connection cut every %g s for %g s "
          "(%d cuts), default [reconnect] (base_ms %s, max_ms %s, stable_ms %s)" % (
              every, duration, n_cuts, eff.get("reconnect.base_ms"),
              eff.get("reconnect.max_ms"), eff.get("reconnect.stable_ms")))
    print("time from the cut to the first trade from a new connection:")
    for v in venues:
        x = sorted(samples[v])
        print("  %-8s n=%3d  p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  max %7.1f ms  "
              "mean %7.1f ms" % (v, len(x), q(x, .5), q(x, .9), q(x, .99), x[-1],
                                 statistics.mean(x)))
    print("connection attempts against the budget:")
    connecting = [d for d in h.log_lines("connecting")]
    for v in venues:
        budget = int(eff["%s.connect_budget" % v])
        window_ms = int(eff["%s.connect_budget_window_ms" % v])
        times = sorted(log_time(d) for d in connecting if d["venue"] == v)
        sched = [d for d in h.log_lines("reconnect scheduled") if d["venue"] == v]
        attempts = int(mval("feedhandler_connect_attempts_total", venue=v))
        print("  %-8s attempts %3d (connects %d), most in any %d s window %d, budget %d per "
              "%d s, denied %d; reconnect ceilings %s ms" % (
                  v, attempts, mval("feedhandler_connects_total", venue=v), window_ms // 1000,
                  max_in_window(times, window_ms / 1000.0), budget, window_ms // 1000,
                  mval("feedhandler_connect_budget_denied_total", venue=v),
                  sorted({int(d["ceiling_ms"]) for d in sched if "ceiling_ms" in d})))
    print("trades lost to the cuts (reported as gaps):")
    for v in venues:
        tr = mval("feedhandler_trades_total", venue=v)
        miss = mval("feedhandler_missing_trades_total", venue=v)
        print("  %-8s written %d, missing %d (%.2f %%), gaps %d" % (
            v, tr, miss, 100.0 * miss / max(1, tr + miss),
            mval("feedhandler_gaps_total", venue=v)))


def drops_mode(build, drops):
    engine_lib.FEEDHANDLER = os.path.join(build, "feedhandler")
    feedsim_lib.FEEDSIM = os.path.join(build, "tools", "feedsim")
    tmp = engine_lib.tmpdir("bench-reconnect-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", "200"]
    kinds = ["code=1001", "mode=reset", "mode=eof", "code=1011"]
    samples = {"binance": [], "kraken": []}
    with Feedsim(*args) as fs:
        cfg = handler_config(fs, tmp, ca, extra={
            "reconnect": {"base_ms": 200, "max_ms": 30000},
            "log": {"level": "warn"}, "sink": {"buffer_bytes": "8m"}})
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            out = h.output
            for i in range(drops):
                venue = "binance" if i % 2 == 0 else "kraken"
                fsv = "binance" if venue == "binance" else "kraken_v2"
                time.sleep(1.5)
                wait_until(h.ready, timeout=60, what="ready")
                before = last_conn(out, venue)
                offset = os.path.getsize(out)
                t0 = time.time_ns()
                fs.fault("kind=drop,venue=%s,%s" % (fsv, kinds[(i // 2) % len(kinds)]))
                box = []

                def got():
                    t = first_trade_after(out, venue, before, offset)
                    if t is not None:
                        box.append(t)
                    return t is not None
                wait_until(got, timeout=120, step=0.01, what="the first trade after drop %d" % i)
                samples[venue].append((box[0]["receive_time_ns"] - t0) / 1e6)
            h.stop()
    allv = sorted(samples["binance"] + samples["kraken"])
    print("reconnect: server-side drop -> first trade written again, %d drops" % len(allv))
    for name, v in (("binance", sorted(samples["binance"])), ("kraken", sorted(samples["kraken"])),
                    ("all", allv)):
        print("  %-8s n=%3d  p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  max %7.1f ms  mean %7.1f ms"
              % (name, len(v), q(v, .5), q(v, .9), q(v, .99), v[-1], statistics.mean(v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", default="build/release")
    ap.add_argument("drops", nargs="?", type=int, default=100)
    ap.add_argument("--flap", action="store_true", help="cut every connection periodically")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between cuts (--flap)")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of cuts (--flap)")
    ap.add_argument("--feedhandler", help="the feedhandler binary (default BUILD/feedhandler)")
    a = ap.parse_args()
    if a.flap:
        flap(a.build, a.every, a.duration, a.feedhandler)
    else:
        drops_mode(a.build, a.drops)
    for d in engine_lib._TMPDIRS:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
