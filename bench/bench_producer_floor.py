#!/usr/bin/python3
"""bench_producer_floor.py [--brokers mock,real] [--lingers 5,1,0] [--rate N] [--seconds S]
[--runs N] - what librdkafka itself takes from produce() to the delivery report on this
machine, with no feed, no TLS, no parsing and no handler around it: the floor under
feedhandler's receive -> ack latency (issue 15). Not a test: nothing is asserted.

A bare producer (python3-confluent-kafka on the system's librdkafka, the same library
feedhandler links) produces 120-byte records with 6 keys at --rate records/s, in 100 Hz
ticks like a feed's bursts, with feedhandler's producer settings (idempotent, acks=all, lz4)
and each --lingers value, to librdkafka's mock cluster (3 brokers, tests/tools/mockbroker)
and to the real Apache Kafka broker (scripts/kafka-local). Reported per broker and linger:
the delivery reports' own latency (Message.latency(): produce call -> report) p50 / p99 /
max over the last three quarters of the run, min / median over --runs.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import kafka_lib as K  # noqa: E402


def run_once(bootstrap, topic, linger, rate, seconds):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "compression.type": "lz4", "linger.ms": linger, "log_level": 3})
    lats = []

    def dr(err, msg):
        if err is None:
            lats.append(msg.latency())
    payload = b"x" * 120
    per_tick = max(1, rate // 100)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() < t0 + seconds:
        for _ in range(per_tick):
            p.produce(topic, payload, key=b"k%d" % (n % 6), on_delivery=dr)
            n += 1
        p.poll(0)
        nxt = t0 + n / rate
        while time.monotonic() < nxt:
            p.poll(max(0.0, nxt - time.monotonic()))
    p.flush(30)
    steady = sorted(lats[len(lats) // 4:])
    if not steady:
        return None

    def q(f):
        return steady[int(f * (len(steady) - 1))] * 1e3
    return {"p50": q(0.5), "p99": q(0.99), "max": steady[-1] * 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers", default="mock,real")
    ap.add_argument("--lingers", default="5,1,0")
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    res = {}
    i = 0
    for bname in args.brokers.split(","):
        with (K.MockBroker(3) if bname == "mock" else K.RealKafka(1)) as broker:
            for run in range(args.runs):
                for linger in args.lingers.split(","):
                    i += 1
                    topic = "floor%d" % i
                    broker.create(topic, 4)
                    r = run_once(broker.bootstrap, topic, linger, args.rate, args.seconds)
                    res.setdefault((bname, linger), []).append(r)
                    print("run %d %-4s linger.ms %-3s %s" % (run + 1, bname, linger, r),
                          flush=True)
            if bname == "real":
                broker.stop()
    print("\nproduce -> delivery report at %d records/s, min / median of %d runs (ms):" % (
        args.rate, args.runs))
    for (bname, linger), rs in sorted(res.items()):
        rs = [r for r in rs if r]
        cols = ["%s %.2f / %.2f" % (k, min(r[k] for r in rs), statistics.median(r[k] for r in rs))
                for k in ("p50", "p99", "max")]
        print("  %-4s linger.ms %-3s %s" % (bname, linger, "; ".join(cols)))
    K.cleanup_tmpdirs()


if __name__ == "__main__":
    main()
