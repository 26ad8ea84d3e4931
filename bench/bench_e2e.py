#!/usr/bin/python3
"""bench_e2e.py BUILD_DIR [SECONDS] - end to end: feedsim -> feedhandler -> sink.

Two runs, each over TLS with a throwaway CA, Binance and Kraken v2 in one handler process:

1. Throughput: feedsim --blast sends pre-encoded trade frames as fast as the handler reads
   them; the handler parses, checks ids, stamps lineage and encodes JSON lines into the file
   sink, whose writer thread writes to /dev/null. Reported: trades/s (from
   feedhandler_trades_total over the measuring window), CPU per trade of the whole process and
   of the engine thread alone (utime+stime from /proc/PID/stat and /proc/PID/task/PID/stat,
   the kernel's getrusage figures), RSS.
2. Latency at a fixed rate: feedsim generates trades at 50,000 trades/s in total (six books);
   reported: the achieved rate, the frame-received -> enqueued-in-sink latency quantiles from
   the handler's own histogram (feedhandler_receive_to_enqueue_seconds: upper bounds of the
   1-2.5-5 buckets, delta over the window), CPU per trade and RSS.

Not a test: no assertion on the figures; run it on an idle machine.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(path):
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def sample(h):
    pid = h.proc.pid
    m = h.metrics()
    trades = sum(v for (n, _), v in m.items() if n == "feedhandler_trades_total")
    hist = {}
    for (n, lab), v in m.items():
        if n == "feedhandler_receive_to_enqueue_seconds_bucket":
            le = dict(lab)["le"]
            hist[le] = hist.get(le, 0) + v
    return {"t": time.monotonic(), "trades": trades, "proc": cpu_s("/proc/%d/stat" % pid),
            "engine": cpu_s("/proc/%d/task/%d/stat" % (pid, pid)), "rss": h.rss_kb(),
            "hist": hist}


def quantile(hist_a, hist_b, q):
    """Upper bound of the bucket holding quantile q of the observations between a and b."""
    items = sorted(((float("inf") if le == "+Inf" else float(le)), hist_b[le] - hist_a.get(le, 0))
                   for le in hist_b)
    total = items[-1][1]
    if total <= 0:
        return float("nan")
    for le, cum in items:
        if cum >= q * total:
            return le
    return float("inf")


def report(name, a, b):
    dt = b["t"] - a["t"]
    n = b["trades"] - a["trades"]
    print("%s: %.0f trades in %.1f s = %.0f trades/s" % (name, n, dt, n / dt))
    if n > 0:
        print("  CPU per trade: process %.2f us, engine thread %.2f us; CPU use: process %.0f%%, "
              "engine %.0f%%" % ((b["proc"] - a["proc"]) / n * 1e6,
                                 (b["engine"] - a["engine"]) / n * 1e6,
                                 (b["proc"] - a["proc"]) / dt * 100,
                                 (b["engine"] - a["engine"]) / dt * 100))
    if b["hist"]:
        print("  frame received -> enqueued: p50 <= %.1f us, p99 <= %.1f us, p99.9 <= %.1f us "
              "(bucket bounds)" % (quantile(a["hist"], b["hist"], 0.5) * 1e6,
                                   quantile(a["hist"], b["hist"], 0.99) * 1e6,
                                   quantile(a["hist"], b["hist"], 0.999) * 1e6))
    print("  RSS %.1f MB" % (b["rss"] / 1024))


def run(build, tmp, seconds, fs_args, name, tag):
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key)] + fs_args
    with Feedsim(*args) as fs:
        cfg = handler_config(fs, tmp, ca, extra={
            "log": {"level": "warn"},
            "sink": {"path": "/dev/null", "buffer_bytes": "8m"}})
        with Handler(cfg, tmp, name=tag) as h:
            h.wait_ready()
            time.sleep(2.0)  # warm-up
            a = sample(h)
            time.sleep(seconds)
            b = sample(h)
            h.stop()
    report(name, a, b)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    engine_lib.FEEDHANDLER = os.path.join(build, "feedhandler")
    feedsim_lib.FEEDSIM = os.path.join(build, "tools", "feedsim")
    tmp = engine_lib.tmpdir("bench-e2e-")
    run(build, tmp, seconds, ["--blast"], "throughput (feedsim --blast)", "blast")
    # 50,000 trades/s in total: 3 symbols x 2 exchanges at 8333/s each.
    run(build, tmp, seconds, ["--rate", "8333"], "fixed rate (50,000 trades/s offered)",
        "rate")
    # The same with feedsim's tick at 1 ms instead of 5 ms: smaller bursts per socket read.
    run(build, tmp, seconds, ["--rate", "8333", "--tick-ms", "1"],
        "fixed rate, 1 ms simulator tick", "rate1")
    # And at 100 us: about one frame per connection and socket read, as an exchange sends them.
    run(build, tmp, seconds, ["--rate", "8333", "--tick", "100us"],
        "fixed rate, 100 us simulator tick", "rate01")


if __name__ == "__main__":
    main()
