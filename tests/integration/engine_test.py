#!/usr/bin/python3
"""engine_test.py FEEDHANDLER FEEDSIM TEST... - the connection engine end to end.

The real feedhandler binary against feedsim over TLS (a throwaway CA), Binance and Kraken in
one process, each Kraken protocol version; the sink's output is compared with feedsim's truth
log by engine_compare.py. One TEST per CTest test (tests/integration/engine.cmake):

  steady_v2, steady_v1   >= 100,000 trades (v1: fewer), output == truth exactly, SIGTERM
                         exits 0; v2 also records raw messages and checks the recording
  faults                 100 forced disconnects of mixed kinds; every session recovers, the
                         missing trades are exactly the reported gaps, no fd/RSS growth
  faults_v1              the same kinds against Kraken v1 (no ids): recovery, order, values
  watchdog               heartbeat-only quiet symbols outlive the watchdog without reconnects;
                         a stalled connection is replaced, detected within the watchdog
  rotation               Binance lifetimes under --time-scale: several make-before-break
                         rotations (and a serverShutdown) with zero gaps and duplicates
  hostile                malformed/oversize/bad-UTF-8 frames, wrong Sec-WebSocket-Accept,
                         wrong-host certificate, unknown CA: clean errors, counted, no crash
  peer                   Binance through a python3-websockets server replaying a corpus
                         session (an independent peer): exactly its trades come out
  backpressure           a sink that cannot keep up: reading pauses, nothing lost or doubled;
                         a running pause counts in the metric
  backpressure_stop      a pause that SIGTERM ends counts in the exit line and the metric
  binary                 a binary message from Binance is rejected and counted, not a trade
  flap                   ten network cuts, each soon after the reconnect: every reconnect
                         after a connection that streamed trades is the first attempt again
  flap_budget            healthy connections that keep dropping still meet the budget
"""

import asyncio
import collections
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_compare  # noqa: E402
import engine_lib  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs, tmpdir, wait_until  # noqa

CORPUS = os.environ.get("FH_CORPUS_DIR", "")


def check(cond, msg, handler=None):
    if not cond:
        if handler is not None:
            msg += "\n--- feedhandler log tail ---\n" + handler.log_tail(80)
        raise AssertionError(msg)


def feedsim_args(ca_cert, ca_key, *extra, kraken="v2", rate=200):
    args = ["--binance", "0", "--control", "0", "--tls", "%s,%s" % (ca_cert, ca_key),
            "--rate", str(rate), "--seed", "7"]
    args += ["--kraken-v2", "0"] if kraken == "v2" else ["--kraken-v1", "0"]
    return args + list(extra)


def compare(fs, h, kraken="v2"):
    """(report, missing runs, trades, gap records) of the handler's output against the truth."""
    truth = fs.truth()
    outs, gaps = engine_compare.load_output(h.output)
    rep, runs = engine_compare.compare(truth, outs, kraken)
    check(not rep.errors, "output differs from the truth log: %s" % rep.errors[:10], h)
    return rep, runs, outs, gaps


def final_totals(h):
    """The handler's last words per venue ("venue totals" lines, logged after the flush):
    {"binance": {...}, "kraken": {...}} with integer values."""
    res = {}
    for d in h.log_lines("venue totals"):
        label = "kraken" if d["venue"].startswith("kraken") else d["venue"]
        res[label] = {k: int(v) for k, v in d.items() if v.isdigit()}
    return res


def check_gaps_match(h, runs, venues, gaps, rep=None, outs=None):
    """Every gap the handler detected has a DETECTED gap record and exactly one final record
    (backfill is on by default), and the trades missing from the output are exactly the
    missing ranges of the final records: what backfill fetched is in the output, what it
    could not is declared. Every gap the log shows (some may be rate-limited) is one of the
    DETECTED records, exactly (first missing id and size). Returns the logged gaps."""
    totals = final_totals(h)
    for label in venues:
        det = [g for g in gaps if g["venue"] == label and g["status"] == "DETECTED"]
        fin = [g for g in gaps if g["venue"] == label and g["status"] != "DETECTED"]
        t = totals[label]
        check(t["gaps"] == len(det) == len(fin),
              "%s: %d gaps detected, %d DETECTED and %d final gap records" % (
                  label, t["gaps"], len(det), len(fin)), h)
        check(sorted((g["native_symbol"], g["kind"], g["first_missing_id"]) for g in det) ==
              sorted((g["native_symbol"], g["kind"], g["first_missing_id"]) for g in fin),
              "%s: the final records are not those of the detected gaps" % label, h)
        declared, lacking = set(), set()
        for g in fin:
            check(g["missing_count"] + g["filled_count"] ==
                  g["last_missing_id"] - g["first_missing_id"] + 1,
                  "%s: gap record counts do not add up: %s" % (label, g), h)
            if g["kind"] == "TRADE":
                for r in g["missing_ranges"]:
                    declared |= {(g["native_symbol"], i) for i in range(r["first"], r["last"] + 1)}
        for k, rs in runs.items():
            if k.startswith(label + ":"):
                sym = k.split(":")[1]
                for first, n in rs:
                    lacking |= {(sym, i) for i in range(first, first + n)}
        if outs is not None:
            present = {(o["native_symbol"], o["trade_id"]) for o in outs
                       if o["venue"] == label and o["kind"] == "TRADE"}
            check(not (present & declared),
                  "%s: trades declared missing are in the output: %s" % (
                      label, sorted(present & declared)[:10]), h)
        check(lacking <= declared,
              "%s: %d trades missing from the output without a gap record saying so: %s" % (
                  label, len(lacking - declared), sorted(lacking - declared)[:10]), h)
        if rep is not None and label == "binance":
            agg_missing = sum(v.get("missing_aggs", 0) for k, v in rep.stats.items()
                              if k.startswith("binance:") and k.endswith(":AGG_TRADE"))
            agg_declared = sum(g["missing_count"] for g in fin if g["kind"] == "AGG_TRADE")
            check(agg_missing <= agg_declared,
                  "binance: %d aggregates missing, %d declared" % (agg_missing, agg_declared), h)
    detected = {(g["venue"], g["native_symbol"], g["first_missing_id"],
                 g["last_missing_id"] - g["first_missing_id"] + 1)
                for g in gaps if g["status"] == "DETECTED"}
    logged = engine_lib.gap_lines(h)
    for venue, sym, channel, first, n in logged:
        if venue in venues:
            check((venue, sym, first, n) in detected,
                  "logged gap %s %s first=%d n=%d has no DETECTED record" % (venue, sym, first, n),
                  h)
    return logged


# ---- steady runs ---------------------------------------------------------------------------

def steady(kraken, want, rate, record):
    if engine_lib.tsan_build():
        # ThreadSanitizer slows the handler and feedsim several times over: at the full rate
        # the sink falls behind, reading pauses, and feedsim closes the connection as a slow
        # consumer, which a steady run rightly counts as missing trades. Same checks, 2/5 load.
        want, rate = want * 2 // 5, rate * 2 // 5
    tmp = tmpdir("engine-steady-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    with Feedsim(*feedsim_args(cert, key, "--truth", truth, kraken=kraken, rate=rate)) as fs:
        extra = {}
        recdir = os.path.join(tmp, "rec")
        if record:
            os.mkdir(recdir)
            extra["record"] = {"dir": recdir, "max_file_bytes": "4m", "max_files": 1000}
        if kraken == "v2":
            # Several connections per venue: Binance 4 streams (2 symbols x 2 channels) and
            # Kraken 2 symbols per connection make 2 + 2 slots for 3 + 3 symbols.
            extra["binance"] = {"streams_per_connection": 4}
            extra["kraken"] = {"symbols_per_connection": 2}
        cfg = handler_config(fs, tmp, ca, kraken=kraken, channels="trade,aggTrade", extra=extra)
        with Handler(cfg, tmp) as h:
            h.wait_ready()

            def enough():
                check(h.alive(), "feedhandler died", h)
                return h.metric("feedhandler_trades_total") >= want
            wait_until(enough, timeout=600, step=0.2, what="%d trades" % want)
            m = h.metrics()
            check_exposition(h)
            h.stop()
        rep, runs, outs, gaps = compare(fs, h, kraken)
    total = rep.stats["total"]
    check(total["trades"] >= want, "only %d trades" % total["trades"], h)
    check(total["missing"] == 0, "trades missing in a steady run: %s" % {
        k: v for k, v in runs.items() if v}, h)
    for k, st in rep.stats.items():
        check(st.get("missing_aggs", 0) == 0, "%s: aggregate ids missing" % k, h)
        check(st.get("skipped", 0) == 0, "%s: v1 trades skipped" % k, h)
    gaps = sum(v for (n, _), v in m.items() if n == "feedhandler_gaps_total")
    check(gaps == 0, "gaps reported in a steady run", h)
    dups = sum(v for (n, _), v in m.items() if n == "feedhandler_duplicates_total")
    check(dups == 0, "duplicates in a steady run", h)
    check("level=error" not in h.log_text(), "error lines in the log", h)
    # Every trade the engine counted is in the file: the sink flushed everything on SIGTERM.
    totals = h.log_lines("venue totals")
    check(sum(int(d["trades"]) for d in totals) == len(outs),
          "venue totals disagree with the output file", h)
    if kraken == "v2":
        check(rep.stats["lineage"]["connections"] == 4, "expected 2 + 2 connections", h)
        slots = {k: int(v) for (n, lab), v in m.items() if n == "feedhandler_connection_slots"
                 for k in [dict(lab)["venue"]]}
        check(slots == {"binance": 2, "kraken": 2}, "slots: %s" % slots, h)
    if record:
        check_recording(h, recdir, totals, outs, kraken)
    print("steady %s: %d trades, %d connections" % (kraken, len(outs),
                                                  rep.stats["lineage"]["connections"]))


def check_exposition(h):
    """/metrics passes promtool's own checks (an independent parser), when it is installed."""
    import shutil
    promtool = shutil.which("promtool")
    status, text = h.get("/metrics")
    check(status == 200, "GET /metrics: %s" % status, h)
    for name in ("feedhandler_trades_total", "feedhandler_disconnects_total",
                 "feedhandler_receive_to_enqueue_seconds_bucket", "feedhandler_breaker_state"):
        check(name in text, "%s missing from /metrics" % name, h)
    if promtool is None:
        return
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True)
    check(p.returncode == 0, "promtool check metrics: %s %s" % (p.stdout, p.stderr), h)


def check_recording(h, recdir, totals, outs, kraken):
    lines = 0
    protos = set()
    files = sorted(os.listdir(recdir))
    check(len(files) > 1, "the recording did not rotate files: %s" % files, h)
    trades_in_recording = 0
    for name in files:
        with open(os.path.join(recdir, name), "rb") as f:
            for line in f:
                d = json.loads(line, parse_float=Decimal)
                check(set(d) == {"t", "c", "v", "m"}, "recording line keys: %s" % list(d), h)
                protos.add(d["v"])
                m = d["m"]
                if isinstance(m, dict) and m.get("channel") == "trade":
                    trades_in_recording += len(m["data"])
                elif isinstance(m, dict) and "stream" in m:
                    trades_in_recording += 1
                lines += 1
    rec = h.log_lines("recording totals")
    check(len(rec) == 1, "no recording totals line", h)
    check(int(rec[0]["dropped"]) == 0 and int(rec[0]["lost"]) == 0,
          "recording dropped lines in a steady run", h)
    messages = sum(int(d["messages"]) for d in totals)
    check(lines == messages == int(rec[0]["recorded"]),
          "recorded %d lines for %d messages" % (lines, messages), h)
    check(protos == {"binance", "kraken-" + kraken}, "protocols in the recording: %s" % protos)
    check(trades_in_recording == len(outs), "recording holds %d trades, output %d" % (
        trades_in_recording, len(outs)), h)


def test_steady_v2():
    steady("v2", 100000, 2500, record=True)


def test_steady_v1():
    steady("v1", 40000, 2500, record=False)


# ---- faults --------------------------------------------------------------------------------

def fault_plan(kraken):
    """100 forced disconnects of mixed kinds: (venue, [control specs])."""
    kv = "kraken_" + kraken
    kinds = [
        lambda v: ["kind=drop,venue=%s,code=1000" % v],
        lambda v: ["kind=drop,venue=%s,code=1001" % v],
        lambda v: ["kind=drop,venue=%s,code=1011" % v],
        lambda v: ["kind=drop,venue=%s,code=4000" % v],
        lambda v: ["kind=drop,venue=%s,mode=reset" % v],
        lambda v: ["kind=drop,venue=%s,mode=eof" % v],
        lambda v: ["kind=stall,venue=%s" % v],
        lambda v: ["kind=refuse,venue=%s,count=1,status=503" % v,
                   "kind=drop,venue=%s,code=1001" % v],
        lambda v: ["kind=refuse,venue=%s,count=1,status=429" % v,
                   "kind=drop,venue=%s,mode=reset" % v],
        lambda v: ["kind=refuse,venue=%s,count=1,mode=reset" % v,
                   "kind=drop,venue=%s,mode=eof" % v],
        lambda v: ["kind=delay,venue=%s,count=1,delay=300ms" % v,
                   "kind=drop,venue=%s,code=1001" % v],
    ]
    plan = []
    i = 0
    while len(plan) < 100:
        venue = "binance" if i % 2 == 0 else kv
        k = kinds[(i // 2) % len(kinds)]
        plan.append((venue, k(venue)))
        i += 1
        if i % 17 == 0:
            plan.append(("binance", ["kind=shutdown,venue=binance,after=200ms"]))
        if i % 23 == 0 and kraken == "v2":
            plan.append((kv, ["kind=maintenance,venue=%s,for=300ms,code=1001" % kv]))
    return plan[:100]


def run_faults(kraken, n_faults):
    tmp = tmpdir("engine-faults-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    with Feedsim(*feedsim_args(cert, key, "--truth", truth, kraken=kraken, rate=100)) as fs:
        # stable_ms 0: every connection that streamed resets the backoff, even one a fault
        # drops before its first trade, so 100 drops in a row are each retried within base_ms;
        # the maintenance floor (kept for a minute after Kraken maintenance) is short too.
        extra = {"feed": {"ping_interval_ms": 100, "pong_timeout_ms": 300,
                          "watchdog_ms": 3000},
                 "reconnect": {"stable_ms": 0, "maintenance_ms": 100}}
        cfg = handler_config(fs, tmp, ca, kraken=kraken, extra=extra)
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            base_fd = base_rss = None
            counts = {"binance": 0, "kraken": 0}
            plan = fault_plan(kraken)[:n_faults]
            for i, (venue, specs) in enumerate(plan):
                label = "binance" if venue == "binance" else "kraken"
                before = h.metric("feedhandler_connects_total", venue=label)
                for spec in specs:
                    fs.fault(spec)
                counts[label] += 1

                def recovered():
                    check(h.alive(), "feedhandler died during fault %d %s" % (i, specs), h)
                    return (h.metric("feedhandler_connects_total", venue=label) > before and
                            h.ready())
                tf = time.monotonic()
                wait_until(recovered, timeout=60, step=0.02,
                           what="recovery from fault %d %s" % (i, specs))
                if os.environ.get("FH_ENGINE_TEST_VERBOSE"):
                    print("fault %d %s: %.2f s" % (i, specs, time.monotonic() - tf))
                if i == 9:
                    time.sleep(0.5)
                    base_fd, base_rss = h.fd_count(), h.rss_kb()
            time.sleep(0.5)
            end_fd, end_rss = h.fd_count(), h.rss_kb()
            sanitized = h.sanitized()
            m = h.metrics()
            h.stop()
        rep, runs, outs, gaps = compare(fs, h, kraken)
    # Backfill's HTTP client keeps up to backfill.requests (4) connections per venue open for
    # reuse, opened when the first gaps are filled: bounded, not a leak.
    keep_alive = 4 * (1 if kraken == "v1" else 2)
    check(end_fd <= base_fd + keep_alive,
          "fd count grew: %d -> %d" % (base_fd, end_fd), h)
    check(sanitized or end_rss - base_rss < max(4096, base_rss // 10),
          "RSS grew: %d kB -> %d kB" % (base_rss, end_rss), h)

    def mval(name, **labels):
        return sum(v for (n, lab), v in m.items()
                   if n == name and all(dict(lab).get(k) == val for k, val in labels.items()))
    disconnects = mval("feedhandler_disconnects_total") - mval(
        "feedhandler_disconnects_total", reason="rotated")
    check(disconnects >= n_faults - plan_count(plan, "shutdown"),
          "only %d disconnects for %d faults" % (disconnects, n_faults), h)
    check(mval("feedhandler_duplicates_total", reason="live") == 0, "live duplicates", h)
    venues = ["binance"] if kraken == "v1" else ["binance", "kraken"]
    logged = check_gaps_match(h, runs, venues, gaps, rep, outs)
    if kraken == "v2":
        check(len(h.log_lines("exchange not trading (maintenance)")) >= 1 and
              len(h.log_lines("exchange online again")) >= 1,
              "maintenance status was not seen", h)
    reasons = {dict(lab)["reason"]: int(v) for (n, lab), v in m.items()
               if n == "feedhandler_disconnects_total" and v > 0}
    statuses = collections.Counter(g["status"] for g in gaps)
    print("faults %s: %d faults, %d disconnects %s, %d trades (%d backfilled), %d gaps logged, "
          "gap records %s, fd %d->%d, rss %d->%d kB" % (
              kraken, n_faults, disconnects, reasons, len(outs),
              sum(1 for o in outs if o["source"] == "BACKFILL"), len(logged), dict(statuses),
              base_fd, end_fd, base_rss, end_rss))


def plan_count(plan, word):
    return sum(1 for _, specs in plan if any(word in s for s in specs))


def test_faults():
    run_faults("v2", 100)


def test_faults_v1():
    run_faults("v1", 30)


# ---- a flapping network --------------------------------------------------------------------

def cut_after_each_reconnect(fs, h, cuts, venues, pause=0.3):
    """cuts times: wait until every venue in venues (labels) streams live trades on a new
    connection, let them flow for pause seconds, then cut every connection at once (feedsim
    venue=all, alternating close frames, TCP resets and FINs, as a network cut looks)."""
    kinds = ["code=1001", "mode=reset", "mode=eof", "code=1011"]
    before = {v: 0 for v in venues}
    offset = 0
    for i in range(cuts + 1):
        for v in venues:
            def streaming(v=v):
                check(h.alive(), "feedhandler died", h)
                if not os.path.exists(h.output):
                    return False
                t = engine_lib.first_trade_after(h.output, v, before[v], offset, live_only=True)
                if t is not None:
                    before[v] = t["connection_id"]
                return t is not None
            wait_until(streaming, timeout=60, step=0.02,
                       what="live %s trades on a new connection (cut %d)" % (v, i))
        if i == cuts:
            break
        time.sleep(pause)
        offset = os.path.getsize(h.output)
        fs.fault("kind=drop,venue=all,%s" % kinds[i % len(kinds)])


def reconnect_lines(h, venue):
    return [d for d in h.log_lines("reconnect scheduled") if d["venue"] == venue]


def test_flap():
    """Ten network cuts, each a few hundred ms after the connections came back and streamed:
    each connection proved the venue healthy, so every reconnect is the first attempt again
    (drawn under reconnect.base_ms), with the default stable_ms of 60 s. Not a timing test: the
    handler's own log of its backoff decisions is checked, and the connection counts."""
    tmp = tmpdir("engine-flap-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    cuts, base = 10, 200
    with Feedsim(*feedsim_args(cert, key, "--truth", truth, kraken="v2", rate=100)) as fs:
        cfg = handler_config(fs, tmp, ca, extra={
            "log": {"level": "debug"},
            "reconnect": {"base_ms": base, "max_ms": 30000, "stable_ms": 60000}})
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            cut_after_each_reconnect(fs, h, cuts, ["binance", "kraken"])
            m = h.metrics()
            h.stop()
        rep, runs, outs, gaps = compare(fs, h, "v2")

    def mval(name, **labels):
        return sum(v for (n, lab), v in m.items()
                   if n == name and all(dict(lab).get(k) == val for k, val in labels.items()))
    for venue in ("binance", "kraken"):
        lines = reconnect_lines(h, venue)
        check(len(lines) == cuts, "%s: %d reconnects scheduled for %d cuts" % (
            venue, len(lines), cuts), h)
        for d in lines:
            check(d["outcome"] == "healthy" and d["attempt"] == "0" and
                  int(d["ceiling_ms"]) == base and 0 <= int(d["delay_ms"]) <= base,
                  "%s: a reconnect after a healthy connection backed off: %s" % (venue, d), h)
        for name in ("feedhandler_connect_attempts_total", "feedhandler_connects_total"):
            check(mval(name, venue=venue) == cuts + 1, "%s: %s = %d for %d cuts" % (
                venue, name, mval(name, venue=venue), cuts), h)
        check(mval("feedhandler_connect_budget_denied_total", venue=venue) == 0,
              "%s: the budget was touched" % venue, h)
    closes = [d for d in h.log_lines("connection closed") if d["reason"] != "shutdown"]
    check(len(closes) == 2 * cuts and all(d["outcome"] == "healthy" for d in closes),
          "close lines: %s" % [(d["venue"], d["outcome"]) for d in closes], h)
    # What the cuts cost is reported as gaps, exactly.
    check_gaps_match(h, runs, ["binance", "kraken"], gaps, rep, outs)
    print("flap: %d cuts per venue, every reconnect at attempt 0, %d trades, %d missing" % (
        cuts, len(outs), rep.stats["total"]["missing"]))


def test_flap_budget():
    """Healthy connections that keep dropping are not a licence to reconnect without bound:
    with a budget of 3 connection attempts per 20 s, the third cut in a row waits for a token
    (counted and logged) before the fourth connection, and no window holds more than 3."""
    tmp = tmpdir("engine-flap-budget-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    window_ms = 20000
    with Feedsim(*feedsim_args(cert, key, kraken="v2", rate=100)) as fs:
        cfg = handler_config(fs, tmp, ca, kraken_on=False, extra={
            "log": {"level": "debug"},
            "binance": {"connect_budget": 3, "connect_budget_window_ms": window_ms},
            "reconnect": {"base_ms": 200, "max_ms": 30000, "stable_ms": 60000}})
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            cut_after_each_reconnect(fs, h, 2, ["binance"])
            check(h.metric("feedhandler_connect_attempts_total") == 3, "3 attempts so far", h)
            t_cut = time.monotonic()
            fs.fault("kind=drop,venue=binance,mode=reset")
            wait_until(lambda: h.metric("feedhandler_connect_budget_denied_total") >= 1,
                       timeout=60, step=0.02, what="the budget to deny the fourth attempt")
            # Unless the host stalled for the whole window, no fourth attempt went out.
            if time.monotonic() - t_cut < window_ms / 1000.0 / 2:
                check(h.metric("feedhandler_connect_attempts_total") == 3,
                      "a fourth attempt inside the budget window", h)
            wait_until(lambda: h.metric("feedhandler_connects_total") == 4, timeout=120,
                       step=0.1, what="the fourth connection once a token returned")
            wait_until(h.ready, timeout=60, what="ready again")
            h.stop()
    lines = reconnect_lines(h, "binance")
    check(len(lines) == 3 and all(d["outcome"] == "healthy" and d["attempt"] == "0"
                                  for d in lines), "reconnects: %s" % lines, h)
    check(len(h.log_lines("connection budget exhausted, waiting")) >= 1,
          "the budget wait was not logged", h)
    print("flap_budget: 3 cuts, budget 3 per %d ms, fourth connection after the wait" % window_ms)


# ---- liveness ------------------------------------------------------------------------------

def test_watchdog():
    tmp = tmpdir("engine-watchdog-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    # No trades at all: Kraken sends heartbeats (1 s x 0.2), Binance only pings (20 s x 0.2).
    args = feedsim_args(cert, key, "--time-scale", "0.2", kraken="v2", rate=0)
    with Feedsim(*args) as fs:
        watchdog = 1500
        extra = {"feed": {"ping_interval_ms": 400, "pong_timeout_ms": 800,
                          "watchdog_ms": watchdog}}
        cfg = handler_config(fs, tmp, ca, extra=extra)
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            # Quiet for several watchdog periods: heartbeats and pongs keep both alive.
            t_end = time.monotonic() + 4 * watchdog / 1000.0
            while time.monotonic() < t_end:
                check(h.ready(), "not ready while quiet", h)
                time.sleep(0.1)
            check(h.metric("feedhandler_disconnects_total") == 0,
                  "a quiet connection was reconnected", h)
            check(h.metric("feedhandler_connects_total") == 2, "extra connections", h)
            # Now a stalled connection (Kraken stops sending anything, heartbeats included).
            fs.fault("kind=stall,venue=kraken_v2")
            wait_until(lambda: h.metric("feedhandler_connects_total", venue="kraken") == 2,
                       timeout=60, what="the stalled connection to be replaced")
            wait_until(h.ready, timeout=60, what="ready again")
            closes = [d for d in h.log_lines("connection closed") if d["venue"] == "kraken"]
            check(len(closes) == 1 and closes[0]["reason"] in ("watchdog", "pong_timeout"),
                  "the stall was not detected by liveness: %s" % closes, h)
            # Detected within the watchdog period, by the engine's own measure of the silence.
            # Detected within the watchdog period by design (the engine checks every
            # watchdog/8 and closes once the silence would reach the period by the next
            # check); the engine's own measure, with room for a late timer on a loaded host.
            check(int(closes[0]["idle_ms"]) < 2 * watchdog,
                  "stall detected after %s ms of silence" % closes[0]["idle_ms"], h)
            check(h.metric("feedhandler_disconnects_total", venue="binance") == 0,
                  "binance reconnected", h)
            # And a stall with pings disabled is caught by the watchdog alone.
            h.stop()
        cfg2 = handler_config(fs, tmp, ca, binance=False,
                              extra={"feed": {"ping_interval_ms": 0, "watchdog_ms": watchdog}})
        with Handler(cfg2, tmp, name="nopings") as h2:
            h2.wait_ready()
            fs.fault("kind=stall,venue=kraken_v2")
            wait_until(lambda: h2.metric("feedhandler_disconnects_total", reason="watchdog") == 1,
                       timeout=60, what="the watchdog to fire")
            wait_until(h2.ready, timeout=60, what="ready again")
            closes = h2.log_lines("connection closed")
            check(closes[0]["reason"] == "watchdog" and int(closes[0]["idle_ms"]) < 2 * watchdog,
                  "watchdog late: %s" % closes, h2)
            h2.stop()


def test_scheme_case():
    """URL schemes are case-insensitive (RFC 3986), and the configuration accepts WSS://: the
    engine must then still connect over TLS (it compared "wss://" case-sensitively and
    connected without TLS)."""
    tmp = tmpdir("engine-scheme-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    with Feedsim(*feedsim_args(cert, key, kraken="v2")) as fs:
        cfg = handler_config(fs, tmp, ca)
        for sec in ("binance", "kraken"):
            cfg[sec]["url"] = cfg[sec]["url"].replace("wss://", "WSS://")
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            wait_until(lambda: h.metric("feedhandler_trades_total", venue="binance") > 0 and
                       h.metric("feedhandler_trades_total", venue="kraken") > 0,
                       timeout=60, what="trades from both venues over WSS://")
            h.stop()


# ---- rotation ------------------------------------------------------------------------------

def test_rotation():
    tmp = tmpdir("engine-rotation-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    # Binance's 24 h lifetime scaled to 17 s; pings kept at their real pace.
    args = feedsim_args(cert, key, "--truth", truth, "--time-scale", "0.0002",
                        "--interval", "binance.ping=20s", "--interval", "binance.pong=60s",
                        "--interval", "kraken.heartbeat=1s", "--interval", "kraken.idle=60s",
                        "--interval", "kraken.nosub=60s", rate=300)
    with Feedsim(*args) as fs:
        extra = {"binance": {"lifetime_ms": 4000, "lifetime_jitter_ms": 1000,
                             "rotation_timeout_ms": 10000}}
        cfg = handler_config(fs, tmp, ca, kraken_on=False, channels="trade,aggTrade",
                             extra=extra)
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            wait_until(lambda: h.metric("feedhandler_rotations_total") >= 3, timeout=120,
                       step=0.1, what="three rotations")
            fs.fault("kind=shutdown,venue=binance,after=500ms")
            wait_until(lambda: h.metric("feedhandler_rotations_total") >= 4, timeout=60,
                       step=0.1, what="a rotation on serverShutdown")
            m = h.metrics()
            h.stop()
        rep, runs, outs, gaps = compare(fs, h, "v2")

    def mval(name, **labels):
        return sum(v for (n, lab), v in m.items()
                   if n == name and all(dict(lab).get(k) == val for k, val in labels.items()))
    check(rep.stats["total"]["missing"] == 0, "trades lost across rotations: %s" % runs, h)
    for k, st in rep.stats.items():
        check(st.get("missing_aggs", 0) == 0, "%s: aggregates lost across rotations" % k, h)
    check(mval("feedhandler_gaps_total") == 0, "gaps across rotations", h)
    check(mval("feedhandler_duplicates_total", reason="live") == 0, "duplicates emitted", h)
    check(mval("feedhandler_duplicates_total", reason="rotation") > 0,
          "no overlap was deduplicated (were the connections really overlapping?)", h)
    completes = h.log_lines("rotation complete")
    check(len(completes) >= 4 and all(d["timed_out"] == "false" for d in completes),
          "rotations did not complete by catching up: %s" % completes, h)
    check(any("server_shutdown" in l for l in h.log_text().splitlines()
              if 'msg="replacing connection"' in l), "serverShutdown did not rotate", h)
    check(rep.stats["lineage"]["connections"] >= 5, "too few connections", h)
    print("rotation: %d rotations, %d trades" % (len(completes), len(outs)))


# ---- hostile servers -----------------------------------------------------------------------

def wrong_accept_server(port_holder, stop):
    """Answers every upgrade with 101 and a wrong Sec-WebSocket-Accept."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    port_holder.append(srv.getsockname()[1])
    while not stop.is_set():
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        try:
            c.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
                      b"\r\n")
            time.sleep(0.05)
        except OSError:
            pass
        finally:
            c.close()
    srv.close()


def make_cert(dirname, ca_dir, san):
    """A server certificate signed by the CA in ca_dir for the given subjectAltName."""
    os.makedirs(dirname, exist_ok=True)
    key, csr, crt = (os.path.join(dirname, n) for n in ("s.key", "s.csr", "s.crt"))
    ext = os.path.join(dirname, "ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=%s\n" % san)
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=elsewhere", "-keyout", key, "-out", csr],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA",
                    os.path.join(ca_dir, "ca.pem"), "-CAkey", os.path.join(ca_dir, "ca.key"),
                    "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt],
                   check=True, capture_output=True)
    pem = os.path.join(dirname, "chain.pem")
    with open(pem, "w") as f:
        f.write(open(crt).read() + open(os.path.join(ca_dir, "ca.pem")).read())
    return pem, key


def test_hostile():
    tmp = tmpdir("engine-hostile-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    with Feedsim(*feedsim_args(cert, key, kraken="v2", rate=50)) as fs:
        cfg = handler_config(fs, tmp, ca, extra={"feed": {"max_message_bytes": "64k"}})
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            steps = [
                ("kind=malformed,venue=kraken_v2,count=3", "feedhandler_rejected_messages_total",
                 {"venue": "kraken", "reason": "bad_json"}, 3),
                ("kind=malformed,venue=binance,count=2", "feedhandler_rejected_messages_total",
                 {"venue": "binance", "reason": "bad_json"}, 2),
                ("kind=badutf8,venue=binance", "feedhandler_disconnects_total",
                 {"venue": "binance", "reason": "bad_utf8"}, 1),
                ("kind=oversize,venue=kraken_v2,bytes=1m", "feedhandler_disconnects_total",
                 {"venue": "kraken", "reason": "oversize"}, 1),
            ]
            for spec, name, labels, n in steps:
                fs.fault(spec)
                wait_until(lambda: h.metric(name, **labels) >= n, timeout=60,
                           what="%s to be counted" % spec)
                wait_until(h.ready, timeout=60, what="recovery after %s" % spec)
            check(h.alive(), "feedhandler died", h)
            h.stop()
        # TLS: a certificate for another host, then an unknown CA. Metadata from files, so
        # only the WebSocket connections meet the bad certificates.
        bn_meta = engine_lib.fetch_to_file(
            "https://localhost:%d/api/v3/exchangeInfo" % fs.ports["binance"],
            os.path.join(tmp, "bn.json"), ca)
    wrong_host_pem, wrong_host_key = make_cert(os.path.join(tmp, "wronghost"),
                                               os.path.join(tmp, "certs"),
                                               "DNS:wrong.example")
    other_ca = os.path.join(tmp, "other-ca")
    make_certs(other_ca)
    for pem, pkey, trust, what in ((wrong_host_pem, wrong_host_key, ca, "wrong host"),
                                   (cert, key, os.path.join(other_ca, "ca.pem"), "unknown CA")):
        with Feedsim(*feedsim_args(pem, pkey, kraken="v2", rate=50)) as fs:
            cfg = handler_config(fs, tmp, trust, kraken_on=False, extra={
                "binance": {"metadata_file": bn_meta},
                "reconnect": {"breaker_failures": 3, "breaker_open_ms": 300}})
            with Handler(cfg, tmp, name="tls") as h:
                wait_until(lambda: h.metric("feedhandler_disconnects_total",
                                            reason="tls") >= 4, timeout=60,
                           what="TLS failures (%s) to be counted" % what)
                check(h.metric("feedhandler_breaker_trips_total") >= 1,
                      "the breaker did not open on repeated TLS failures", h)
                check(not h.ready(), "ready without a valid certificate", h)
                closes = h.log_lines("connection closed")
                check(all(d["reason"] == "tls" for d in closes), "other failures", h)
                # Never opened: nothing received, so no silence to measure.
                check(all(d["idle_ms"] == "-" for d in closes),
                      "idle_ms of connections that never opened: %s" % [
                          d["idle_ms"] for d in closes], h)
                check(any("verif" in d["detail"] or "certificate" in d["detail"]
                          for d in closes), "no certificate error message: %s" % closes[:2], h)
                h.stop()
    # A server answering the upgrade with a wrong Sec-WebSocket-Accept.
    ports, stop = [], threading.Event()
    t = threading.Thread(target=wrong_accept_server, args=(ports, stop), daemon=True)
    t.start()
    wait_until(lambda: ports, what="the wrong-accept server")
    cfg = {"log": {"level": "info"},
           "sink": {"type": "file", "path": os.path.join(tmp, "wa.jsonl")},
           "binance": {"url": "ws://127.0.0.1:%d" % ports[0], "symbols": "BTCUSDT",
                       "metadata_file": bn_meta},
           "kraken": {"enabled": False},
           "metrics": {"listen": "127.0.0.1:%d" % engine_lib.free_port()},
           "reconnect": {"base_ms": 20, "max_ms": 200}}
    try:
        with Handler(cfg, tmp, name="wrongaccept") as h:
            wait_until(lambda: h.metric("feedhandler_disconnects_total",
                                        reason="handshake") >= 3, timeout=60,
                       what="wrong accept to be counted")
            check(h.alive() and not h.ready(), "state after wrong accepts", h)
            check("Sec-WebSocket-Accept" in h.log_text(), "no clear message", h)
            closes = h.log_lines("connection closed")
            check(closes and all(d["idle_ms"] == "-" for d in closes),
                  "idle_ms of upgrades that failed: %s" % [d["idle_ms"] for d in closes], h)
            h.stop()
    finally:
        stop.set()
        t.join()


# ---- an independent peer: python3-websockets replaying corpus lines ------------------------

PEER_SESSION = "sessions/binance_2021-04-04_combined_depth-kline-aggTrade_BTCUSDT-ETHUSDT-DOTUSDT.ndjson"


def test_peer():
    """Binance through a python3-websockets server that replays a recorded session (depth,
    kline and aggTrade streams of three symbols, 2021, millisecond times) to whatever
    connects: the trades out are exactly the recording's aggTrade events, in order."""
    import websockets
    tmp = tmpdir("engine-peer-")
    path = os.path.join(CORPUS, PEER_SESSION)
    lines = [l.strip() for l in open(path, encoding="utf-8") if l.strip()]
    msgs = [json.loads(l) for l in lines]
    want = [m["data"] for m in msgs if m.get("stream", "").endswith("@aggTrade")]
    symbols = sorted({t["s"] for t in want})
    meta = os.path.join(tmp, "exchangeInfo.json")
    with open(meta, "w") as f:
        json.dump({"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [],
                   "symbols": [{"symbol": s, "status": "TRADING", "baseAsset": s[:-4],
                                "quoteAsset": "USDT", "baseAssetPrecision": 8,
                                "quoteAssetPrecision": 8, "filters": []} for s in symbols]}, f)
    paths = []

    async def serve(ws, path=None):
        paths.append(path if path is not None else ws.path)
        for l in lines:
            await ws.send(l)
        await ws.wait_closed()

    port_box, ready = [], threading.Event()
    loop = asyncio.new_event_loop()
    stop_fut = loop.create_future()

    def run_server():
        asyncio.set_event_loop(loop)

        async def main():
            async with websockets.serve(serve, "127.0.0.1", 0) as srv:
                port_box.append(srv.sockets[0].getsockname()[1])
                ready.set()
                await stop_fut
        loop.run_until_complete(main())
    th = threading.Thread(target=run_server, daemon=True)
    th.start()
    ready.wait(30)
    cfg = {"log": {"level": "info"},
           "sink": {"type": "file", "path": os.path.join(tmp, "peer.jsonl")},
           "binance": {"url": "ws://127.0.0.1:%d" % port_box[0], "symbols": ",".join(symbols),
                       "channels": "aggTrade", "microseconds": False, "metadata_file": meta},
           "kraken": {"enabled": False},
           "metrics": {"listen": "127.0.0.1:%d" % engine_lib.free_port()}}
    try:
        with Handler(cfg, tmp, name="peer") as h:
            wait_until(lambda: h.metric("feedhandler_messages_total") >= len(lines),
                       timeout=60, what="every corpus line")
            h.stop()
    finally:
        loop.call_soon_threadsafe(stop_fut.set_result, None)
        th.join(30)
    outs = engine_compare.load_output(os.path.join(tmp, "peer.jsonl"))[0]
    check(len(paths) == 1 and paths[0].startswith("/stream?streams=") and
          sorted(paths[0].split("=", 1)[1].split("/")) ==
          sorted(s.lower() + "@aggTrade" for s in symbols), "URL: %s" % paths)
    check(len(outs) == len(want), "%d trades out, %d in the recording" % (len(outs), len(want)),
          h)
    for o, t in zip(outs, want):
        check(o["native_symbol"] == t["s"] and o["kind"] == "AGG_TRADE" and
              o["trade_id"] == t["a"] and o["first_trade_id"] == t["f"] and
              o["last_trade_id"] == t["l"] and Decimal(o["price"]) == Decimal(t["p"]) and
              Decimal(o["quantity"]) == Decimal(t["q"]) and
              o["side"] == ("SELL" if t["m"] else "BUY") and o["trade_time"] == t["T"] * 1000 and
              o["event_time"] == t["E"] * 1000 and o["symbol"] == t["s"][:-4] + "-USDT",
              "trade differs: %s vs %s" % (o, t), h)
    check(h.metric is not None and "level=error" not in h.log_text(), "errors logged", h)
    print("peer: %d corpus lines, %d trades" % (len(lines), len(outs)))


def peer_server(handler_fn):
    """A python3-websockets server on 127.0.0.1 running handler_fn(ws) per connection, in a
    thread: returns (port, stop)."""
    import websockets
    port_box, ready = [], threading.Event()
    loop = asyncio.new_event_loop()
    stop_fut = loop.create_future()

    async def serve(ws, path=None):
        await handler_fn(ws)

    def run_server():
        asyncio.set_event_loop(loop)

        async def main():
            async with websockets.serve(serve, "127.0.0.1", 0) as srv:
                port_box.append(srv.sockets[0].getsockname()[1])
                ready.set()
                await stop_fut
        loop.run_until_complete(main())
    th = threading.Thread(target=run_server, daemon=True)
    th.start()
    ready.wait(30)

    def stop():
        loop.call_soon_threadsafe(stop_fut.set_result, None)
        th.join(30)
    return port_box[0], stop


def binance_meta(tmp, symbols):
    meta = os.path.join(tmp, "exchangeInfo.json")
    with open(meta, "w") as f:
        json.dump({"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [],
                   "symbols": [{"symbol": s, "status": "TRADING", "baseAsset": s[:-4],
                                "quoteAsset": "USDT", "baseAssetPrecision": 8,
                                "quoteAssetPrecision": 8, "filters": []} for s in symbols]}, f)
    return meta


def test_binary():
    """Binance sends text frames only. A binary message, even one holding a valid trade, is
    rejected and counted (reason binary_frame) with a log line, never written as a trade; the
    trade it held is a reported gap; the recording keeps its bytes (hex, not verbatim)."""
    tmp = tmpdir("engine-binary-")

    def trade(i):
        return json.dumps({"stream": "btcusdt@trade", "data": {
            "e": "trade", "E": 1592591955766 + i, "s": "BTCUSDT", "t": i,
            "p": "9302.00000000", "q": "0.00101900", "T": 1592591955765 + i, "m": False,
            "M": True}})

    async def serve(ws):
        await ws.send(trade(1))
        await ws.send(trade(2).encode())  # the same JSON, as a binary message
        await ws.send(trade(3))
        await ws.wait_closed()
    port, stop = peer_server(serve)
    recdir = os.path.join(tmp, "rec")
    os.mkdir(recdir)
    cfg = {"log": {"level": "info"},
           "sink": {"type": "file", "path": os.path.join(tmp, "binary.jsonl")},
           "binance": {"url": "ws://127.0.0.1:%d" % port, "symbols": "BTCUSDT",
                       "channels": "trade", "microseconds": False,
                       "metadata_file": binance_meta(tmp, ["BTCUSDT"])},
           "kraken": {"enabled": False},
           "record": {"dir": recdir},
           "metrics": {"listen": "127.0.0.1:%d" % engine_lib.free_port()}}
    try:
        with Handler(cfg, tmp, name="binary") as h:
            wait_until(lambda: h.metric("feedhandler_messages_total") >= 3, timeout=60,
                       what="three messages")
            wait_until(lambda: h.metric("feedhandler_trades_total") >= 2, timeout=60,
                       what="the text trades")
            rejected = h.metric("feedhandler_rejected_messages_total", reason="binary_frame")
            h.stop()
    finally:
        stop()
    outs = engine_compare.load_output(os.path.join(tmp, "binary.jsonl"))[0]
    check([o["trade_id"] for o in outs] == [1, 3], "trades out: %s" % outs, h)
    check(rejected == 1, "binary messages counted: %s" % rejected, h)
    lines = [d for d in h.log_lines("message rejected") if d["reason"] == "binary_frame"]
    check(len(lines) == 1 and lines[0]["venue"] == "binance", "log: %s" % lines, h)
    check(engine_lib.gap_lines(h) == [("binance", "BTCUSDT", "trade", 2, 1)],
          "gap: %s" % engine_lib.gap_lines(h), h)
    recorded = [json.loads(l) for name in sorted(os.listdir(recdir))
                for l in open(os.path.join(recdir, name), encoding="utf-8")]
    check(len(recorded) == 3 and "x" in recorded[1] and
          bytes.fromhex(recorded[1]["x"]) == trade(2).encode() and
          "m" in recorded[0] and "m" in recorded[2], "recording: %s" % recorded, h)
    print("binary: 1 binary message rejected and counted, trades %s written" %
          [o["trade_id"] for o in outs])


# ---- backpressure --------------------------------------------------------------------------

def test_backpressure():
    """A sink that cannot keep up (a FIFO read slowly, then not at all for longer than the
    watchdog, then fast): reading pauses and resumes, nothing is written twice or lost, and
    our own pause never looks like a stalled server."""
    tmp = tmpdir("engine-bp-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    fifo = os.path.join(tmp, "sink.fifo")
    os.mkfifo(fifo)
    got = bytearray()
    phase = {"mode": "slow"}

    def reader():
        fd = os.open(fifo, os.O_RDONLY)
        while True:
            if phase["mode"] == "stop":
                time.sleep(0.01)
                continue
            chunk = os.read(fd, 4096 if phase["mode"] == "slow" else 1 << 20)
            if not chunk:
                break
            got.extend(chunk)
            if phase["mode"] == "slow":
                time.sleep(0.05)
        os.close(fd)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    watchdog = 1000
    with Feedsim(*feedsim_args(cert, key, "--truth", truth, kraken="v2", rate=100)) as fs:
        cfg = handler_config(fs, tmp, ca, extra={
            "sink": {"path": fifo, "buffer_bytes": "64k"},
            "feed": {"ping_interval_ms": 300, "pong_timeout_ms": 500,
                     "watchdog_ms": watchdog}})
        with Handler(cfg, tmp) as h:
            h.wait_ready(timeout=60)
            wait_until(lambda: h.metric("feedhandler_backpressure_pauses_total") >= 3,
                       timeout=120, step=0.1, what="backpressure pauses")
            phase["mode"] = "stop"
            # Once the pipe and the sink's ring are full, reading pauses; from then on the
            # pause lasts three watchdog periods by construction (the bound below is two).
            wait_until(lambda: h.metric("feedhandler_backpressure_paused") == 1, timeout=60,
                       step=0.05, what="the pause to start")
            during0 = h.metric("feedhandler_backpressure_seconds_total")
            # The gauge holds 1 for the whole episode, not only between the sink's retries
            # (every millisecond reading resumes to offer the held message again).
            samples = []
            end = time.monotonic() + 3 * watchdog / 1000.0
            while time.monotonic() < end:
                samples.append(h.metric("feedhandler_backpressure_paused"))
                time.sleep(0.005)
            check(all(v == 1 for v in samples), "not paused in %d of %d scrapes" % (
                sum(1 for v in samples if v != 1), len(samples)), h)
            # The running pause counts at a scrape, not only once it has ended.
            during1 = h.metric("feedhandler_backpressure_seconds_total")
            check(during1 - during0 >= 2 * watchdog / 1000.0,
                  "a running pause of %.1f s counted %.3f s" % (3 * watchdog / 1000.0,
                                                               during1 - during0), h)
            phase["mode"] = "fast"
            wait_until(lambda: h.metric("feedhandler_backpressure_paused") == 0, timeout=60,
                       what="the pause to end")
            wait_until(h.ready, timeout=60, what="ready after the pause")
            time.sleep(0.5)
            m = h.metrics()
            h.stop()
        th.join(60)
        out = os.path.join(tmp, "bp.jsonl")
        with open(out, "wb") as f:
            f.write(bytes(got))
        h.cfg["sink"]["path"] = out
        rep, runs, outs, gaps = compare(fs, h, "v2")

    def mval(name, **labels):
        return sum(v for (n, lab), v in m.items()
                   if n == name and all(dict(lab).get(k) == val for k, val in labels.items()))
    check(mval("feedhandler_duplicates_total", reason="live") == 0, "duplicates", h)
    check(mval("feedhandler_sink_refused_total") > 0, "the sink never refused", h)
    check(mval("feedhandler_backpressure_seconds_total") >= 2 * watchdog / 1000.0,
          "the long pause was not accounted", h)
    for reason in ("watchdog", "pong_timeout"):
        check(mval("feedhandler_disconnects_total", reason=reason) == 0,
              "our own pause was taken for a stalled server (%s)" % reason, h)
    # Whatever an exchange sent while we were not reading and dropped us for would be a
    # reported gap; nothing else may be missing (and with no disconnect, nothing at all).
    check_gaps_match(h, runs, ["binance", "kraken"], gaps, rep, outs)
    if mval("feedhandler_disconnects_total") == 0:
        check(rep.stats["total"]["missing"] == 0, "trades lost under backpressure", h)
    totals = h.log_lines("venue totals")
    check(sum(int(d["trades"]) for d in totals) == len(outs),
          "trades written != trades counted", h)
    print("backpressure: %d pauses, %.1f s paused, %d trades, %d missing" % (
        mval("feedhandler_backpressure_pauses_total"),
        mval("feedhandler_backpressure_seconds_total"), len(outs), rep.stats["total"]["missing"]))


def test_backpressure_stop():
    """A pause still running at SIGTERM counts in full: the sink (a FIFO nobody reads) pushes
    back, the handler is stopped while paused, the FIFO is then drained so the flush can end;
    the exit line's paused_ms covers the pause up to the stop (it said 0: issue 10)."""
    tmp = tmpdir("engine-bp-stop-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    fifo = os.path.join(tmp, "sink.fifo")
    os.mkfifo(fifo)
    phase = {"read": False}
    got = [0]

    def reader():
        fd = os.open(fifo, os.O_RDONLY)
        while True:
            if not phase["read"]:
                time.sleep(0.01)
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            got[0] += len(chunk)
        os.close(fd)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    paused_s = 2.0
    with Feedsim(*feedsim_args(cert, key, kraken="v2", rate=200)) as fs:
        cfg = handler_config(fs, tmp, ca, extra={"sink": {"path": fifo, "buffer_bytes": "64k"}})
        with Handler(cfg, tmp) as h:
            wait_until(lambda: h.metric("feedhandler_backpressure_paused") == 1, timeout=60,
                       step=0.05, what="the pause to start")
            time.sleep(paused_s)
            check(h.metric("feedhandler_backpressure_paused") == 1, "not paused", h)
            check(h.metric("feedhandler_backpressure_seconds_total") >= paused_s * 0.75,
                  "the running pause is not in the metric", h)
            check(h.metric("feedhandler_backpressure_pauses_total") == 1, "one pause", h)
            h.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: "engine stopped" in h.log_text(), timeout=60,
                       what="the engine to stop")
            phase["read"] = True
            check(h.wait_exit(60) == 0, "exit status %s" % h.rc, h)
        th.join(60)
    totals = h.log_lines("backpressure totals")
    check(len(totals) == 1 and int(totals[0]["pauses"]) == 1 and
          int(totals[0]["paused_ms"]) >= paused_s * 1000,
          "the exit line does not count the pause that SIGTERM ended: %s" % totals, h)
    print("backpressure_stop: paused_ms=%s at exit, %d bytes flushed after the stop" % (
        totals[0]["paused_ms"], got[0]))


if __name__ == "__main__":
    engine_lib.main(globals())
