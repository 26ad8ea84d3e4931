#!/usr/bin/python3
"""bench_reconnect.py BUILD_DIR [DROPS] - reconnect time, server-side drop -> first trade again.

Runs feedsim over TLS and feedhandler against it (Binance and Kraken v2, three symbols each,
file sink), then DROPS times (default 100) makes feedsim drop one venue's connection (close
frame, TCP reset or FIN, alternating venues and kinds) and measures, per drop, the time from
just before the control request to the receive time (receive_time_ns, CLOCK_REALTIME, same
host) of the first trade the handler wrote from the new connection. The figure includes the
detection, the backoff delay (full jitter, reconnect.base_ms = 200 ms by default), DNS, TCP,
TLS, the upgrade, the subscription and the wait for the next trade (feedsim's rate, default
200 trades/s per symbol). Each drop comes after a stable period (reconnect.stable_ms is set
to 1 s here, drops are >= 1.5 s apart), so every drop is the first failure of its session,
as an isolated drop in production is.

Prints p50/p90/p99/max in milliseconds. Not a test: no assertion on the figures.
"""

import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs, wait_until  # noqa: E402


def first_trade_after(path, venue, conn_after, offset):
    """Scans the output from byte offset on (skipping a partial first line) for the first
    trade of venue on a connection id greater than conn_after; None if there is none yet."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    if offset > 0:
        data = data[data.find(b"\n") + 1:]
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        t = json.loads(line)
        if t["venue"] == venue and t["connection_id"] > conn_after:
            return t
    return None


def last_conn(path, venue):
    conn = 0
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 200000))
        tail = f.read().splitlines()[1:]
    for line in tail:
        try:
            t = json.loads(line)
        except ValueError:
            continue
        if t["venue"] == venue:
            conn = max(conn, t["connection_id"])
    return conn


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
    drops = int(sys.argv[2]) if len(sys.argv) > 2 else 100
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
            "reconnect": {"base_ms": 200, "max_ms": 30000, "stable_ms": 1000},
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

    def q(v, p):
        return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
    print("reconnect: server-side drop -> first trade written again, %d drops" % len(allv))
    for name, v in (("binance", sorted(samples["binance"])), ("kraken", sorted(samples["kraken"])),
                    ("all", allv)):
        print("  %-8s n=%3d  p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  max %7.1f ms  mean %7.1f ms"
              % (name, len(v), q(v, .5), q(v, .9), q(v, .99), v[-1], statistics.mean(v)))


if __name__ == "__main__":
    main()
