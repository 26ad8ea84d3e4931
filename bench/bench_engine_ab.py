#!/usr/bin/python3
"""bench_engine_ab.py BUILD_A BUILD_B [RUNS] [SECONDS] - engine CPU per trade, two builds in one
run (A and B alternately, RUNS times each), against the same feedsim (B's).

For each run: feedsim --blast sends pre-encoded trade frames (Binance and Kraken v2, TLS) as
fast as the handler reads them; the handler's file sink writes JSON lines to /dev/null.
Measured over SECONDS after a warm-up: the engine thread's CPU (utime+stime) per trade, and
trades/s. Prints every run, then min and median per build and the ratio B/A of the medians.
The machine is shared and noisy: compare only within one run, never across runs. Not a test.

Typical use: a worktree of the base commit built beside the current tree:
  git worktree add /tmp/base BASE && cmake -S /tmp/base -B /tmp/base/build && \
  cmake --build /tmp/base/build --target feedhandler
  python3 bench/bench_engine_ab.py /tmp/base/build build/release 7 8
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import bench_e2e  # noqa: E402
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs  # noqa: E402


def one(build, tmp, seconds, tag):
    engine_lib.FEEDHANDLER = os.path.join(build, "feedhandler")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--blast"]
    with Feedsim(*args) as fs:
        cfg = handler_config(fs, tmp, ca, extra={
            "log": {"level": "warn"},
            "sink": {"path": "/dev/null", "buffer_bytes": "8m"}})
        with Handler(cfg, tmp, name=tag) as h:
            h.wait_ready()
            time.sleep(2.0)  # warm-up
            a = bench_e2e.sample(h)
            time.sleep(seconds)
            b = bench_e2e.sample(h)
            h.stop()
    n = b["trades"] - a["trades"]
    return (b["engine"] - a["engine"]) / n * 1e6, n / (b["t"] - a["t"])


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    build_a, build_b = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 8
    feedsim_lib.FEEDSIM = os.path.join(build_b, "tools", "feedsim")
    tmp = engine_lib.tmpdir("bench-ab-")
    res = {"A": [], "B": []}
    for i in range(runs):
        for key, build in (("A", build_a), ("B", build_b)):
            us, rate = one(build, tmp, seconds, "%s%d" % (key, i))
            res[key].append(us)
            print("run %d %s (%s): engine %.3f us/trade, %.0f trades/s" % (i + 1, key, build, us,
                                                                           rate), flush=True)
    for key, build in (("A", build_a), ("B", build_b)):
        v = res[key]
        print("%s %s: engine CPU per trade min %.3f us, median %.3f us" %
              (key, build, min(v), statistics.median(v)))
    print("B/A median ratio %.3f, min ratio %.3f" %
          (statistics.median(res["B"]) / statistics.median(res["A"]),
           min(res["B"]) / min(res["A"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
