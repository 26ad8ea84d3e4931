#!/usr/bin/python3
"""smoke.py - ccxt (bench/peers/ccxt/run_ccxt.js) end to end against feedsim and Apache Kafka.

1. install.sh (idempotent) puts ccxt and kafkajs outside the repository; NODE_PATH points there.
2. One Apache Kafka broker (tests/integration/kafka_lib.py, scripts/kafka-local), topics
   `ccxt-smoke` and `ccxt-blast` with 4 partitions.
3. Paced: feedsim (Binance and Kraken v2, --rate trades/s per symbol, truth log) -> run_ccxt.js
   for --duration seconds -> SIGTERM; then feedcmp compares the truth log with the topic through
   tools/feedcmp/ccxt_map.json, from half a second after the harness said every symbol is
   streaming (trades before ccxt subscribed are not its loss) to its last trade. Prints the
   table and one summary line (matched, missing, duplicates, rounding).
4. Blast: feedsim --blast (frames as fast as the client reads) -> run_ccxt.js on --blast-symbols
   (BTC-USDT: one Binance and one Kraken v2 connection; feedsim's blast serves only the streams
   of a connection's first subscription, and ccxt subscribes each Kraken symbol with its own
   message on one connection) for --blast-seconds after it is ready: trades/s into the topic (high watermarks), the node process's CPU seconds
   (/proc/PID/stat utime+stime, all threads) per trade, and what feedsim sent (its blast lines).

--tls serves both phases over TLS (tests/integration/feedsim_certs.sh CA, trusted by node through
NODE_EXTRA_CA_CERTS). Nothing asserts on time. Exit 0 when every phase ran (the figures are
information, feedcmp's verdict included), 1 when something did not run.

Usage: /usr/bin/python3 bench/peers/ccxt/smoke.py [--duration 20] [--rate 100]
           [--blast-seconds 20] [--symbols BTC-USDT,ETH-USD,DOGE-USD]
           [--blast-symbols BTC-USDT] [--tls] [--send await|chain]
           [--no-paced] [--no-blast] [--keep]
"""

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))

import feedsim_lib  # noqa: E402
import kafka_lib as K  # noqa: E402

FEEDSIM = os.path.join(K.BUILD_DIR, "tools", "feedsim")
FEEDCMP = os.path.join(SOURCE_DIR, "tools", "feedcmp", "feedcmp.py")
MAP = os.path.join(SOURCE_DIR, "tools", "feedcmp", "ccxt_map.json")
HARNESS = os.path.join(HERE, "run_ccxt.js")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Failure(Exception):
    pass


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def topic_count(bootstrap, topic):
    return sum(K.watermarks(bootstrap, topic).values())


class Harness:
    """run_ccxt.js as a child process; its stdout lines are JSON."""

    def __init__(self, node_path, args, log_path, env_extra):
        env = dict(os.environ)
        env["NODE_PATH"] = node_path
        env.update(env_extra)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(["node", HARNESS] + args, stdout=subprocess.PIPE,
                                     stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid

    def line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        s = self.proc.stdout.readline().decode().strip()
        return json.loads(s) if s else None

    def wait_ready(self, timeout=60):
        d = self.line(timeout)
        if not d or not d.get("ready"):
            raise Failure("run_ccxt.js did not get trades on every symbol (exit %s): %r" %
                          (self.proc.poll(), d))
        return d

    def kill(self):
        """After a failure: make sure the process is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=60):
        """SIGTERM; returns its final counters."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        final = None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            d = self.line(max(0.1, end - time.monotonic()))
            if d is None:
                break
            if d.get("final"):
                final = d
        try:
            rc = self.proc.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        if rc != 0 or final is None:
            raise Failure("run_ccxt.js exited %s without final counters" % rc)
        return final


def venue_args(fs, tls):
    ws, http = ("wss", "https") if tls else ("ws", "http")
    host = "localhost" if tls else "127.0.0.1"
    b, k = fs.ports["binance"], fs.ports["kraken_v2"]
    return ["--binance-ws", "%s://%s:%d/ws" % (ws, host, b),
            "--binance-rest", "%s://%s:%d" % (http, host, b),
            "--kraken-ws", "%s://%s:%d/v2" % (ws, host, k),
            "--kraken-rest", "%s://%s:%d" % (http, host, k)]


def run_feedcmp(truth, bootstrap, topic, start_us, tmp):
    report = os.path.join(tmp, "feedcmp.json")
    cmd = ["/usr/bin/python3", FEEDCMP, "--right-map", MAP, "--window-start", str(start_us),
           "--settle", "1s", "--json", report, "truth:" + truth,
           "kafka:%s/%s" % (bootstrap, topic)]
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    if r.returncode not in (0, 1) or not os.path.exists(report):
        raise Failure("feedcmp exit %d: %s" % (r.returncode, r.stderr.decode()[-2000:]))
    print(r.stdout.decode().rstrip(), flush=True)  # the table (the JSON goes to the file)
    with open(report) as f:
        return json.load(f), " ".join(cmd)


def summarize(rep):
    s = {"verdict": rep["verdict"], "matched": 0, "truth": 0, "ccxt": 0, "missing_in_ccxt": 0,
         "extra_in_ccxt": 0, "duplicates": 0, "mismatches": 0, "unsettled": 0}
    for g in rep["groups"]:
        s["matched"] += g["matched"]
        s["truth"] += g["left"]
        s["ccxt"] += g["right"]
        s["missing_in_ccxt"] += g["missing_on_right"]["count"]
        s["extra_in_ccxt"] += g["missing_on_left"]["count"]
        s["duplicates"] += g["duplicates_right"]["count"]
        s["mismatches"] += sum(m.get("count", 0) if isinstance(m, dict) else 0
                               for m in g["mismatches"].values())
        s["unsettled"] += g["unsettled_missing_on_right"]
    r = (rep.get("rounding") or {}).get("right") or {}
    s["rounding"] = {k: r.get(k) for k in ("compared", "not_nearest_double", "worst_abs_error",
                                           "worst_rel_error", "worst_binary_abs_error")}
    return s


def paced(args, b, node_path, tmp, env, tls_args):
    truth = os.path.join(tmp, "truth.ndjson")
    topic = "ccxt-smoke"
    fsargs = ["--binance", 0, "--kraken-v2", 0, "--control", 0, "--truth", truth,
              "--rate", args.rate, "--symbols", args.symbols] + tls_args
    with feedsim_lib.Feedsim(*fsargs, name="feedsim-paced") as fs:
        h = Harness(node_path, venue_args(fs, args.tls) +
                    ["--symbols", args.symbols, "--bootstrap", b.bootstrap, "--topic", topic,
                     "--send", args.send], os.path.join(tmp, "ccxt-paced.log"), env)
        try:
            ready = h.wait_ready()
            # on a millisecond boundary: ccxt carries ms trade times, compared at that resolution
            start_us = (int(time.time() * 1e3) + 500) * 1000
            print("paced: ready %s" % json.dumps(ready), flush=True)
            time.sleep(args.duration)
            final = h.stop()
        finally:
            h.kill()
        print("paced: ccxt final %s" % json.dumps(final), flush=True)
    # feedsim stopped: the truth log is complete
    rep, cmd = run_feedcmp(truth, b.bootstrap, topic, start_us, tmp)
    s = summarize(rep)
    print("paced feedcmp: %s" % cmd, flush=True)
    print("PACED %s" % json.dumps(s), flush=True)
    return s


def blast(args, b, node_path, tmp, env, tls_args):
    truth = os.path.join(tmp, "truth-blast.ndjson")
    topic = "ccxt-blast"
    fsargs = ["--binance", 0, "--kraken-v2", 0, "--control", 0, "--truth", truth, "--blast",
              "--symbols", args.blast_symbols] + tls_args
    with feedsim_lib.Feedsim(*fsargs, name="feedsim-blast") as fs:
        h = Harness(node_path, venue_args(fs, args.tls) +
                    ["--symbols", args.blast_symbols, "--bootstrap", b.bootstrap, "--topic", topic,
                     "--send", args.send], os.path.join(tmp, "ccxt-blast.log"), env)
        try:
            ready = h.wait_ready()
            n0, c0, t0 = topic_count(b.bootstrap, topic), cpu_seconds(h.pid), time.monotonic()
            time.sleep(args.blast_seconds)
            n1, c1, t1 = topic_count(b.bootstrap, topic), cpu_seconds(h.pid), time.monotonic()
            final = h.stop(timeout=120)
        finally:
            h.kill()
    sent = 0
    with open(truth) as f:
        for line in f:
            d = json.loads(line)
            if d.get("blast"):
                sent += d["last_trade_id"] - d["first_trade_id"] + 1
    trades = n1 - n0
    s = {"seconds": round(t1 - t0, 2), "trades_in_topic": trades,
         "trades_per_s": round(trades / (t1 - t0)), "node_cpu_s": round(c1 - c0, 2),
         "cores": round((c1 - c0) / (t1 - t0), 2),
         "cpu_us_per_trade": round((c1 - c0) * 1e6 / trades, 1) if trades else None,
         "startup_ms": ready.get("startup_ms"), "feedsim_sent_total": sent,
         "ccxt_received_total": final["received"], "ccxt_acked_total": final["acked"],
         "send_errors": final["send_errors"], "id_gaps": final["id_gaps"],
         "ids_skipped": final["ids_skipped"],
         # trades ccxt parsed (the loop's plus those its cache dropped) over the whole run,
         # start-up included, and node's CPU per such trade
         "ccxt_parsed_total": final["received"] + final["ids_skipped"],
         "cpu_us_per_parsed_trade_whole_run": round(final["cpu_s"] * 1e6 / max(
             1, final["received"] + final["ids_skipped"]), 1)}
    print("blast: ccxt final %s" % json.dumps(final), flush=True)
    print("BLAST %s" % json.dumps(s), flush=True)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--blast-seconds", type=float, default=20)
    ap.add_argument("--symbols", default="BTC-USDT,ETH-USD,DOGE-USD")
    ap.add_argument("--blast-symbols", default="BTC-USDT",
                    help="symbols of the blast probe (default one: feedsim's blast serves only "
                         "the streams of a connection's first subscription, and ccxt subscribes "
                         "each Kraken symbol with its own message on one connection)")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--send", default="await", choices=("await", "chain"))
    ap.add_argument("--no-blast", action="store_true")
    ap.add_argument("--no-paced", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    feedsim_lib.FEEDSIM = FEEDSIM
    tmp = tempfile.mkdtemp(prefix="ccxt-smoke-")
    ok = False
    try:
        inst = subprocess.run(["sh", os.path.join(HERE, "install.sh")], capture_output=True,
                              timeout=900)
        if inst.returncode != 0:
            raise Failure("install.sh: %s" % inst.stderr.decode()[-2000:])
        node_path = os.path.join(inst.stdout.decode().strip().splitlines()[-1], "node_modules")
        env, tls_args = {}, []
        if args.tls:
            certs = os.path.join(tmp, "certs")
            subprocess.run(["sh", os.path.join(SOURCE_DIR, "tests", "integration",
                                               "feedsim_certs.sh"), certs], check=True)
            env["NODE_EXTRA_CA_CERTS"] = os.path.join(certs, "ca.pem")
            tls_args = ["--tls", "%s,%s" % (os.path.join(certs, "server.pem"),
                                            os.path.join(certs, "server.key"))]
        print("ccxt peer: %s, NODE_PATH=%s, %s" % (
            subprocess.run(["node", "--version"], capture_output=True).stdout.decode().strip(),
            node_path, "TLS" if args.tls else "plain ws/http"), flush=True)
        with K.make_broker("real") as b:
            b.create("ccxt-smoke", 4)
            b.create("ccxt-blast", 4)
            if not args.no_paced:
                paced(args, b, node_path, tmp, env, tls_args)
            if not args.no_blast:
                blast(args, b, node_path, tmp, env, tls_args)
        ok = True
    except (Failure, AssertionError) as e:
        print("FAILED: %s (logs in %s)" % (e, tmp), flush=True)
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
