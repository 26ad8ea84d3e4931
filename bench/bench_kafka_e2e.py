#!/usr/bin/python3
"""bench_kafka_e2e.py BUILD_DIR [--base BASE_BUILD_DIR] [--runs N] [--seconds S]

End to end into Kafka: feedsim -> feedhandler ([sink] type = kafka, Avro in the Confluent
wire format with the registry stand-in, producer defaults, no spool) -> brokers, Binance and
Kraken v2 over TLS in one handler process. Two brokers, measured in the same run so that
they can be compared as a ratio on this noisy shared machine:

  mock   tests/tools/mockbroker (librdkafka's mock cluster, 3 brokers in one process)
  real   Apache Kafka 4.4 (scripts/kafka-local, one KRaft broker in a JVM on the same cores)

Two loads per broker: "blast" (feedsim --blast: as fast as the handler takes them; the
producer's full queue pushes back on the feeds, so the figure is what the sink delivers) and
"rate" (50,000 trades/s offered: 6 books at 8,333/s); "5k" (5,000 trades/s offered);
"spread" (50,000/s with feedsim --tick 100us: a frame or two at a time instead of a 5 ms burst).
Reported per measurement: trades acknowledged by the broker per second
(feedhandler_sink_delivered_total over the window), the handler's CPU per trade (the whole
process, and its engine thread alone), receive -> enqueued p99 and p99.9 over the window (the
upper bound of the histogram bucket holding it), the engine thread's involuntary context
switches per second (preempted by another thread), and the receive -> ack p99 over the last
10 s (feedhandler_kafka_receive_to_ack_recent_p99_seconds; the warm-up is at least 12 s less
the window, so that it leaves out the start-up). Each topic is fresh (4 partitions).

--profiles throughput,latency measures each sink.profile (labels instead of builds).
--base BUILD runs the same measurements with a second build (interleaved, same brokers) and
reports BUILD / BASE ratios. --variant LABEL:SECTION.KEY=VALUE[;...] measures the build
a second time with those settings (e.g. realtime:feed.realtime_priority=10), interleaved, as
its own label (repeatable). --runs N repeats everything N times: min and median of each
figure. Not a test: nothing is asserted.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import engine_lib  # noqa: E402
import feedsim_lib  # noqa: E402
import kafka_lib as K  # noqa: E402
# The receive -> ack gauge's reach (RECENT_S) and the histogram's quantiles, as the report reads
# them.
from bench_peers import RECENT_S, hist_quantile_bound  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
LOADS = {"blast": ["--blast"], "rate": ["--rate", "8333"], "5k": ["--rate", "833"],
         "spread": ["--rate", "8333", "--tick", "100us"]}


def cpu_s(pid, tid=None):
    """utime + stime of the process (all threads), or of one thread (the engine: the main)."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def preempted(pid):
    """Involuntary context switches of the engine thread so far."""
    with open("/proc/%d/task/%d/status" % (pid, pid)) as f:
        return int(next(ln for ln in f if ln.startswith("nonvoluntary_ctxt_switches:"))
                   .split()[1])


def sample(h):
    m = h.metrics()

    def g(name):
        return sum(v for (n, _), v in m.items() if n == name)
    return {"t": time.monotonic(), "delivered": g("feedhandler_sink_delivered_total"),
            "cpu": cpu_s(h.proc.pid), "eng": cpu_s(h.proc.pid, h.proc.pid),
            "p99": g("feedhandler_kafka_receive_to_ack_recent_p99_seconds"), "m": m,
            "nvcsw": preempted(h.proc.pid)}


def enq_us(a, b, q):
    """receive -> enqueued quantile q between samples a and b: its bucket's bound, in µs."""
    v = hist_quantile_bound(a["m"], b["m"], "feedhandler_receive_to_enqueue_seconds", q)
    return float("nan") if v is None else v * 1e6


def parse_variant(text):
    """LABEL:SECTION.KEY=VALUE[;SECTION.KEY=VALUE...] -> (label, {section: {key: value}})."""
    label, _, rest = text.partition(":")
    settings = {}
    for item in filter(None, rest.split(";")):
        name, eq, value = item.partition("=")
        sec, dot, key = name.partition(".")
        if not (label and eq and dot and sec and key):
            raise ValueError("--variant %r: LABEL:SECTION.KEY=VALUE[;...]" % text)
        settings.setdefault(sec, {})[key] = value
    return label, settings


def measure(build, broker, reg, load, seconds, tmp, topic, profile="throughput", props=None,
            settings=None):
    feedsim_lib.FEEDSIM = os.path.join(build, "tools", "feedsim")
    engine_lib.FEEDHANDLER = os.path.join(build, "feedhandler")
    broker.create(topic, 4)
    ca, cert, key = engine_lib.make_certs(os.path.join(tmp, "certs"))
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key)] + LOADS[load]
    with engine_lib.Feedsim(*args) as fs:
        extra = K.kafka_sections(broker, topic, registry=reg)
        extra["log"] = {"level": "warn"}
        extra["sink"]["profile"] = profile
        extra["kafka"].update(props or {})
        for sec, kv in (settings or {}).items():
            extra.setdefault(sec, {}).update(kv)
        cfg = engine_lib.handler_config(fs, tmp, ca, extra=extra)
        with engine_lib.Handler(cfg, tmp, name=topic) as h:
            h.wait_ready()
            # Warm-up: the producer's connections and first batches, and long enough that the
            # receive -> ack gauge (the last 10 to 11 s) leaves out the start-up when it is read
            # at the window's end (bench_peers.py does the same; bench/README.md).
            time.sleep(max(3.0, RECENT_S - seconds))
            a = sample(h)
            time.sleep(seconds)
            b = sample(h)
            h.stop()
    n = b["delivered"] - a["delivered"]
    dt = b["t"] - a["t"]
    return {"acked/s": n / dt, "cpu_us": (b["cpu"] - a["cpu"]) / n * 1e6 if n else float("nan"),
            "eng_us": (b["eng"] - a["eng"]) / n * 1e6 if n else float("nan"),
            "p99_ms": b["p99"] * 1e3, "enq99_us": enq_us(a, b, 0.99),
            "enq999_us": enq_us(a, b, 0.999), "nvcsw/s": (b["nvcsw"] - a["nvcsw"]) / dt}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--base")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--loads", default="blast,rate")
    ap.add_argument("--profiles", default="throughput",
                    help="sink.profile values to measure (throughput,latency): each is a label")
    ap.add_argument("--kafka", action="append", default=[], metavar="PROPERTY=VALUE",
                    help="a [kafka] property for every handler (repeatable)")
    ap.add_argument("--variant", action="append", default=[],
                    metavar="LABEL:SECTION.KEY=VALUE[;...]",
                    help="the build again with these settings, as its own label (repeatable)")
    args = ap.parse_args()
    try:
        variants = [parse_variant(v) for v in args.variant]
    except ValueError as e:
        ap.error(str(e))
    props = dict(kv.split("=", 1) for kv in args.kafka)
    builds = [("build", os.path.abspath(args.build))]
    if args.base:
        builds.append(("base", os.path.abspath(args.base)))
    profiles = args.profiles.split(",")
    if len(profiles) > 1 or profiles != ["throughput"]:
        if args.base or variants:
            ap.error("--profiles excludes --base and --variant")
        builds = [(p, builds[0][1], p, {}) for p in profiles]
    else:
        builds = [(label, b, "throughput", {}) for label, b in builds]
    if variants:
        if args.base:
            ap.error("--base and --variant exclude each other")
        builds += [(label, builds[0][1], "throughput", st) for label, st in variants]
    loads = args.loads.split(",")
    tmp = engine_lib.tmpdir("bench-kafka-e2e-")
    results = {}  # (label, broker, load) -> [measurement]
    with K.MockBroker(3) as mock, K.RealKafka(1) as real, K.Registry() as reg:
        i = 0
        for run in range(args.runs):
            for bname, broker in (("mock", mock), ("real", real)):
                for load in loads:
                    for label, build, profile, settings in builds:
                        i += 1
                        m = measure(build, broker, reg, load, args.seconds, tmp, "bench%d" % i,
                                    profile, props, settings)
                        results.setdefault((label, bname, load), []).append(m)
                        print("run %d %-5s %-4s %-5s: %9.0f acked/s, %6.2f us CPU/trade "
                              "(engine thread %5.2f), receive->enqueued p99 %g us p99.9 %g us, "
                              "%.0f preempted/s, p99 receive->ack %7.1f ms" % (
                                  run + 1, label, bname, load, m["acked/s"], m["cpu_us"],
                                  m["eng_us"], m["enq99_us"], m["enq999_us"], m["nvcsw/s"],
                                  m["p99_ms"]), flush=True)
        real.stop()
    print("\nmin / median of %d runs (%s):" % (
        args.runs, ", ".join(label for label, _, _, _ in builds)))
    for (label, bname, load), ms in sorted(results.items()):
        cols = []
        for k in ("acked/s", "cpu_us", "eng_us", "enq99_us", "enq999_us", "nvcsw/s", "p99_ms"):
            v = [m[k] for m in ms]
            cols.append("%s %.4g / %.4g" % (k, min(v), statistics.median(v)))
        print("  %-5s %-4s %-5s %s" % (label, bname, load, "; ".join(cols)))

    def ratio(a, b, k):
        r = [x[k] / y[k] for x, y in zip(results[a], results[b]) if y[k]]
        return "min %.3f, median %.3f" % (min(r), statistics.median(r)) if r else "n/a"
    print("\nratios, per run:")
    for label, _, _, _ in builds:
        for load in loads:
            print("  %s %s: real/mock acked/s %s; CPU/trade %s" % (
                label, load, ratio((label, "real", load), (label, "mock", load), "acked/s"),
                ratio((label, "real", load), (label, "mock", load), "cpu_us")))
    for label, _ in variants:
        for bname in ("mock", "real"):
            for load in loads:
                print("  %s/build %s %s: acked/s %s; CPU/trade %s; engine thread %s; "
                      "preempted/s %s" % (
                          label, bname, load,
                          ratio((label, bname, load), ("build", bname, load), "acked/s"),
                          ratio((label, bname, load), ("build", bname, load), "cpu_us"),
                          ratio((label, bname, load), ("build", bname, load), "eng_us"),
                          ratio((label, bname, load), ("build", bname, load), "nvcsw/s")))
    if args.base:
        for bname in ("mock", "real"):
            for load in loads:
                print("  build/base %s %s: acked/s %s; CPU/trade %s; engine thread %s; "
                      "p99 %s" % (
                          bname, load,
                          ratio(("build", bname, load), ("base", bname, load), "acked/s"),
                          ratio(("build", bname, load), ("base", bname, load), "cpu_us"),
                          ratio(("build", bname, load), ("base", bname, load), "eng_us"),
                          ratio(("build", bname, load), ("base", bname, load), "p99_ms")))
    K.cleanup_tmpdirs()


if __name__ == "__main__":
    main()
