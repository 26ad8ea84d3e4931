#!/usr/bin/python3
"""backfill_test.py - REST gap backfill end to end (issue 13): feedsim with faults ->
feedhandler -> its sink, compared with feedsim's truth log by engine_compare.py.

Cases (tests/integration/backfill.cmake):
  kafka     issue 13's first must-show: 50 network cuts and omit faults over at least 100,000
            trades (Binance trade and aggTrade, Kraken v2), Kafka sink (mockbroker or Apache
            Kafka with --broker real, Avro through the registry stand-in): the trade topic
            equals feedsim's truth log exactly (each trade once, per-symbol id order, exact
            values), backfilled trades marked BACKFILL; the gap topic holds one DETECTED then
            one FILLED record per gap.
  skip      ids that never existed (feedsim kind=skip): each gap ends UNRECOVERABLE "absent
            from history" after at most two REST pages, never retried; the rest is complete.
  throttle  a tiny Binance weight limit: feedsim answers 429 + Retry-After; through a logging
            proxy no request reaches feedsim before Retry-After has passed, and every gap is
            still FILLED, the output complete.
  cli       `feedhandler backfill`: a Binance range with skipped ids ends PARTIAL (exit 1) with
            exactly the truth's trades of the range written and the skipped ids declared; a
            Kraken v2 range is FILLED (exit 0); usage errors exit 2.
  throttle_kraken  the same for Kraken's "EGeneral:Too many requests": the back-off is
            honoured, every gap filled.
  disabled  backfill.enabled = false: every gap still gets DETECTED and UNRECOVERABLE
            "backfill disabled" records, exactly the missing ids; no REST call.
  rest_down the REST proxy answers nothing (connections reset) for a while: the gaps opened
            then end UNRECOVERABLE "rest unavailable" with their exact ids, the other symbols
            trade on throughout, and gaps after it comes back are FILLED.

Usage: backfill_test.py FEEDHANDLER FEEDSIM CASE... (engine_lib.main). Nothing asserts a
wall-clock duration; waits are bounded.
"""

import collections
import http.client
import http.server
import json
import os
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_compare  # noqa: E402
import engine_lib  # noqa: E402
from engine_lib import Feedsim, Handler, handler_config, make_certs, tmpdir, wait_until  # noqa


def check(cond, msg, handler=None):
    if not cond:
        if handler is not None:
            msg += "\n--- feedhandler log tail ---\n" + handler.log_tail(60)
        raise AssertionError(msg)


class RestProxy:
    """A plain-HTTP proxy in front of feedsim's HTTPS REST: logs every request (arrival time,
    path, status, Retry-After) and can be switched down (every connection is reset)."""

    def __init__(self, port, ca):
        self.target = port
        self.ctx = ssl.create_default_context(cafile=ca)
        # (monotonic arrival, path, status, retry_after or None, answered at, Kraken said
        # "EGeneral:Too many requests")
        self.log = []
        self.down = False
        self.lock = threading.Lock()
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                t = time.monotonic()
                if proxy.down:
                    with proxy.lock:
                        proxy.log.append((t, self.path, 0, None, t, False))
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                c = http.client.HTTPSConnection("localhost", proxy.target, context=proxy.ctx,
                                                timeout=10)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() in ("x-mbx-time-unit", "accept")}
                c.request("GET", self.path, headers=hdrs)
                r = c.getresponse()
                body = r.read()
                ra = r.getheader("Retry-After")
                self.send_response(r.status)
                for k in ("Content-Type", "Retry-After", "X-MBX-USED-WEIGHT-1M"):
                    v = r.getheader(k)
                    if v is not None:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                with proxy.lock:
                    proxy.log.append((t, self.path, r.status, int(ra) if ra else None,
                                      time.monotonic(), b"Too many requests" in body))
                c.close()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False

    def requests(self, word=""):
        with self.lock:
            return [r for r in self.log if word in r[1]]


def run(fs_args, cfg_extra, body, channels="trade,aggTrade", proxy_venue=None, rate=100):
    """feedsim (plain REST through a proxy for proxy_venue) -> feedhandler (file sink);
    body(fs, h, proxy) drives the faults; returns (trades, gap records, handler, proxy)."""
    tmp = tmpdir("backfill-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", str(rate), "--seed", "11", "--truth", truth]
    with Feedsim(*(args + list(fs_args))) as fs:
        proxy = None
        extra = dict(cfg_extra)
        if proxy_venue is not None:
            port = fs.ports["binance" if proxy_venue == "binance" else "kraken_v2"]
            proxy = RestProxy(port, ca).__enter__()
            sec = dict(extra.get(proxy_venue, {}))
            sec["rest_url"] = "http://127.0.0.1:%d" % proxy.port
            extra[proxy_venue] = sec
        try:
            cfg = handler_config(fs, tmp, ca, channels=channels, extra=extra)
            with Handler(cfg, tmp) as h:
                h.wait_ready()
                body(fs, h, proxy)
                h.stop()
        finally:
            if proxy is not None:
                proxy.__exit__()
        trades, gaps = engine_compare.load_output(h.output)
        rep, runs = engine_compare.compare(fs.truth(), trades, "v2")
        check(not rep.errors, "output differs from the truth log: %s" % rep.errors[:10], h)
    return trades, gaps, rep, runs, h, proxy


def finals(gaps):
    return [g for g in gaps if g["status"] != "DETECTED"]


def check_records(gaps, h):
    """One DETECTED and one final record per gap, counts adding up."""
    det = collections.Counter((g["venue"], g["native_symbol"], g["kind"], g["first_missing_id"])
                              for g in gaps if g["status"] == "DETECTED")
    fin = collections.Counter((g["venue"], g["native_symbol"], g["kind"], g["first_missing_id"])
                              for g in finals(gaps))
    check(det == fin and max(det.values(), default=1) == 1,
          "gap records: DETECTED %s, final %s" % (dict(det), dict(fin)), h)
    for g in finals(gaps):
        n = g["last_missing_id"] - g["first_missing_id"] + 1
        check(g["filled_count"] + g["missing_count"] == n, "counts: %s" % g, h)
        check(sum(r["last"] - r["first"] + 1 for r in g["missing_ranges"]) ==
              g["missing_count"] or g["ranges_truncated"], "ranges: %s" % g, h)


def wait_no_open_gaps(h, timeout=180):
    wait_until(lambda: h.metric("feedhandler_backfill_open_gaps") == 0 and
               h.metric("feedhandler_backfill_held_trades") == 0,
               timeout=timeout, step=0.1, what="every gap ended")


def check_symbol_counts(fs, h):
    """Stops the feed, then: the per-symbol trade counters (live, backfilled and held trades
    alike) add up to each venue's feedhandler_trades_total."""
    fs.stop()

    def quiet():
        a = h.metric("feedhandler_trades_total")
        time.sleep(0.5)
        return h.metric("feedhandler_trades_total") == a
    wait_until(quiet, timeout=60, step=0.1, what="the trade count to settle")
    m = h.metrics()
    for venue in ("binance", "kraken"):
        total = sum(v for (n, lab), v in m.items()
                    if n == "feedhandler_trades_total" and dict(lab)["venue"] == venue)
        per = sum(v for (n, lab), v in m.items()
                  if n == "feedhandler_symbol_trades_total" and dict(lab)["venue"] == venue)
        check(total > 0 and per == total,
              "%s: per-symbol trades add up to %s, the venue wrote %s" % (venue, per, total), h)


# ---- cases ---------------------------------------------------------------------------------

def test_skip():
    def body(fs, h, proxy):
        wait_until(lambda: h.metric("feedhandler_trades_total") >= 300, 60, what="trades")
        for i, (venue, sym) in enumerate([("binance", "BTC-USDT"), ("kraken-v2", "ETH-USD"),
                                          ("binance", "DOGE-USD"), ("kraken-v2", "BTC-USDT")]):
            fs.fault("kind=skip,venue=%s,symbol=%s,count=%d" % (venue, sym, 3 + i))
            time.sleep(0.7)
        fs.fault("kind=omit,venue=binance,symbol=ETH-USD,count=25")
        time.sleep(1.5)
        wait_no_open_gaps(h)
        check_symbol_counts(fs, h)
    trades, gaps, rep, runs, h, proxy = run([], {}, body, proxy_venue="binance")
    check_records(gaps, h)
    fin = finals(gaps)
    skipped = [g for g in fin if g["status"] == "UNRECOVERABLE"]
    filled = [g for g in fin if g["status"] == "FILLED"]
    # Four skips: Binance trade + aggTrade tracks (2 each), Kraken 1 each: 6 gaps, and the
    # omit: trade + aggTrade, both filled.
    check(len(skipped) == 6 and all(g["reason"] == "absent from history" and
                                    g["filled_count"] == 0 for g in skipped),
          "skip gaps: %s" % skipped, h)
    check(len(filled) == 2, "the omit's gaps: %s" % filled, h)
    # Exactly the skipped ids, and they are not in the truth log: no trade is missing.
    for g in skipped:
        if g["kind"] == "TRADE":
            check(g["missing_ranges"] == [{"first": g["first_missing_id"],
                                           "last": g["last_missing_id"],
                                           "reason": "absent from history"}], "%s" % g, h)
    check(rep.stats["total"]["missing"] == 0, "missing trades: %s" % rep.stats["total"], h)
    # One REST check each, not retried (Binance pages by id: one page proves them absent).
    bn = [g for g in skipped if g["venue"] == "binance"]
    pages = proxy.requests("historicalTrades") + proxy.requests("aggTrades")
    check(len(pages) <= len(bn) + 2, "%d Binance pages for %d absent gaps + the omit" % (
        len(pages), len(bn)), h)
    print("skip: %d absent gaps (UNRECOVERABLE), %d filled, %d Binance REST pages, %d trades" % (
        len(skipped), len(filled), len(pages), len(trades)))


def test_throttle():
    state = {}

    # feedsim allows 200 weight a minute (8 historicalTrades at 25, or 50 aggTrades at 4);
    # the handler is told 1,000 (as if the address's limit were shared with others it does
    # not see), so it runs into feedsim's 429s and must honour them, and everything must
    # still be fetched within the deadline.
    def body(fs, h, proxy):
        wait_until(lambda: h.metric("feedhandler_trades_total") >= 300, 60, what="trades")
        # Omits (29 weight each: a trade gap and an aggregate gap) until feedsim says 429;
        # feedsim counts per wall-clock minute, so a minute's boundary may reset it once.
        end = time.monotonic() + 120
        i = 0
        while not any(r[2] == 429 for r in proxy.requests()) and time.monotonic() < end:
            fs.fault("kind=omit,venue=binance,symbol=%s,count=%d" % (
                ["BTC-USDT", "ETH-USD", "DOGE-USD"][i % 3], 5 + i % 10))
            i += 1
            time.sleep(0.5)
        check(any(r[2] == 429 for r in proxy.requests()), "no 429 after %d omits" % i, h)
        wait_no_open_gaps(h, timeout=300)
        state["throttled"] = h.metric("feedhandler_backfill_throttled_total", venue="binance")
    extra = {"backfill": {"binance_weight_limit": 1000, "binance_weight_share_pct": 100,
                          "deadline_ms": 240000, "page_limit": 50, "requests": 1}}
    trades, gaps, rep, runs, h, proxy = run(["--binance-weight-limit", "200"], extra, body,
                                            proxy_venue="binance")
    check_records(gaps, h)
    fin = finals(gaps)
    check(all(g["status"] == "FILLED" for g in fin), "not all filled: %s" % [
        (g["status"], g["reason"]) for g in fin if g["status"] != "FILLED"], h)
    check(rep.stats["total"]["missing"] == 0, "missing trades: %s" % rep.stats["total"], h)
    log = proxy.requests()
    throttled = [(e[0], e[3], e[4]) for e in log if e[2] == 429]
    check(throttled and all(ra is not None for _, ra, _ in throttled), "429s: %s" % throttled, h)
    # One request at a time (backfill.requests = 1): whatever arrives after a 429 was answered
    # was sent after the handler read it. Nothing may arrive before Retry-After has passed,
    # counted from the 429's arrival (the handler counts from its receipt, later still).
    early = [(t0, ra, e[0]) for t0, ra, done in throttled for e in log
             if done <= e[0] < t0 + ra]
    check(not early, "requests before Retry-After: %s" % early[:5], h)
    bf = state["throttled"]
    check(bf >= 1 and bf <= len(throttled), "throttled counter %s, 429s %d" % (
        bf, len(throttled)), h)
    print("throttle: %d gaps filled through %d 429s (Retry-After honoured), %d REST requests" % (
        len(fin), len(throttled), len(log)))


def test_throttle_kraken():
    """Kraken's "EGeneral:Too many requests" (HTTP 200, an error in the body): the handler is
    told to space nothing (kraken_pair_interval_ms 0), feedsim allows one Trades call per
    second per pair with no burst: refusals come, the handler backs off (1 s, doubling) and
    every gap is still filled."""
    state = {}

    def body(fs, h, proxy):
        wait_until(lambda: h.metric("feedhandler_trades_total") >= 300, 60, what="trades")
        for i in range(6):
            fs.fault("kind=omit,venue=kraken-v2,symbol=ETH-USD,count=%d" % (5 + i))
            time.sleep(0.3)
        wait_until(lambda: any(e[5] for e in proxy.requests()), 60, what="a refusal")
        wait_no_open_gaps(h, timeout=120)
        state["throttled"] = h.metric("feedhandler_backfill_throttled_total", venue="kraken")
    extra = {"backfill": {"kraken_pair_interval_ms": 0, "requests": 1}}
    trades, gaps, rep, runs, h, proxy = run(
        ["--kraken-rest-rate", "1", "--kraken-rest-burst", "1"], extra, body, channels="trade",
        proxy_venue="kraken")
    check_records(gaps, h)
    fin = [g for g in finals(gaps) if g["venue"] == "kraken"]
    check(len(fin) >= 6 and all(g["status"] == "FILLED" for g in fin),
          "kraken gaps: %s" % [(g["status"], g["reason"]) for g in fin], h)
    check(rep.stats["total"]["missing"] == 0, "missing trades: %s" % rep.stats["total"], h)
    log = [e for e in proxy.requests("/Trades")]
    refused = [e for e in log if e[5]]
    # One request at a time: after a refusal is answered, the next one waits the back-off
    # (at least 1 s).
    early = [(r[4], e[0]) for r in refused for e in log if r[4] <= e[0] < r[4] + 1.0]
    check(refused and not early, "refusals %d, requests inside the back-off %s" % (
        len(refused), early[:5]), h)
    check(state["throttled"] == len(refused), "throttled %s, refusals %d" % (
        state["throttled"], len(refused)), h)
    print("throttle_kraken: %d gaps filled through %d refusals (back-off honoured), %d Trades "
          "calls" % (len(fin), len(refused), len(log)))


def test_disabled():
    """backfill.enabled = false: nothing is fetched, and every gap still gets DETECTED and
    UNRECOVERABLE "backfill disabled" records whose ranges are exactly the missing trades."""
    def body(fs, h, proxy):
        wait_until(lambda: h.metric("feedhandler_trades_total") >= 300, 60, what="trades")
        for i, (venue, sym) in enumerate([("binance", "BTC-USDT"), ("kraken-v2", "ETH-USD"),
                                          ("binance", "DOGE-USD")]):
            fs.fault("kind=omit,venue=%s,symbol=%s,count=%d" % (venue, sym, 7 + i))
            time.sleep(0.5)
        fs.fault("kind=drop,venue=all,mode=reset")
        wait_until(lambda: h.metric("feedhandler_connects_total") >= 4, 60, what="reconnects")
        time.sleep(1.0)
    trades, gaps, rep, runs, h, proxy = run([], {"backfill": {"enabled": False}}, body,
                                            proxy_venue="binance")
    check_records(gaps, h)
    fin = finals(gaps)
    check(fin and all(g["status"] == "UNRECOVERABLE" and g["reason"] == "backfill disabled"
                      for g in fin), "final records: %s" % fin, h)
    declared = {(g["venue"], g["native_symbol"], i) for g in fin if g["kind"] == "TRADE"
                for r in g["missing_ranges"] for i in range(r["first"], r["last"] + 1)}
    lacking = {(k.split(":")[0], k.split(":")[1], i) for k, rs in runs.items()
               for first, n in rs for i in range(first, first + n)}
    check(declared == lacking and lacking, "declared %d, missing %d" % (
        len(declared), len(lacking)), h)
    check(not proxy.requests("Trades"), "REST history was asked for", h)
    check(all(o["source"] != "BACKFILL" for o in trades), "backfilled trades", h)
    print("disabled: %d gaps recorded UNRECOVERABLE (backfill disabled), %d ids declared, "
          "no REST call" % (len(fin), len(declared)))


def test_rest_down():
    state = {}

    def body(fs, h, proxy):
        wait_until(lambda: h.metric("feedhandler_trades_total") >= 300, 60, what="trades")
        proxy.down = True
        t_down = time.time_ns()
        before = h.metric("feedhandler_trades_total", venue="binance")
        fs.fault("kind=omit,venue=kraken-v2,symbol=ETH-USD,count=20")
        time.sleep(0.5)
        fs.fault("kind=omit,venue=kraken-v2,symbol=BTC-USDT,count=7")
        # The gaps end as unavailable (max_failures answers that failed, or the deadline).
        wait_until(lambda: h.metric("feedhandler_backfill_gaps_total", venue="kraken",
                                    status="unrecoverable") >= 2, 120,
                   what="the gaps declared unrecoverable")
        # Binance trades on meanwhile (REST stays down until it has).
        wait_until(lambda: h.metric("feedhandler_trades_total", venue="binance") > before + 100,
                   60, what="binance trades while Kraken's REST is down")
        state["window"] = (t_down, time.time_ns())
        proxy.down = False
        fs.fault("kind=omit,venue=kraken-v2,symbol=DOGE-USD,count=9")
        time.sleep(1.0)
        wait_no_open_gaps(h)
    extra = {"backfill": {"max_failures": 3, "deadline_ms": 20000}}
    trades, gaps, rep, runs, h, proxy = run([], extra, body, channels="trade",
                                            proxy_venue="kraken")
    check_records(gaps, h)
    fin = [g for g in finals(gaps) if g["venue"] == "kraken"]
    down = [g for g in fin if g["status"] == "UNRECOVERABLE"]
    up = [g for g in fin if g["status"] == "FILLED"]
    check(sorted(g["missing_count"] for g in down) == [7, 20] and
          all(g["reason"] == "rest unavailable" for g in down), "down: %s" % down, h)
    check([g["filled_count"] for g in up] == [9], "after: %s" % up, h)
    # The declared ids are exactly the trades missing from the output.
    declared = {(g["native_symbol"], i) for g in down for r in g["missing_ranges"]
                for i in range(r["first"], r["last"] + 1)}
    lacking = {(k.split(":")[1], i) for k, rs in runs.items() if k.startswith("kraken:")
               for first, n in rs for i in range(first, first + n)}
    check(declared == lacking, "declared %d, missing %d" % (len(declared), len(lacking)), h)
    # Every other symbol kept trading while REST was down (live trades inside the window).
    t0, t1 = state["window"]
    live = collections.Counter(o["native_symbol"] for o in trades
                               if o["source"] == "LIVE" and t0 <= o["receive_time_ns"] <= t1)
    for sym in ("BTCUSDT", "ETHUSD", "DOGEUSD", "DOGE/USD"):
        check(live[sym] > 0, "%s had no live trade while REST was down: %s" % (sym, live), h)
    print("rest_down: %d gaps unrecoverable (%d ids, rest unavailable), %d filled after; live "
          "trades while down %s" % (len(down), len(declared), len(up), dict(live)))


def test_cli():
    import subprocess
    tmp = tmpdir("backfill-cli-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", "50", "--seed", "5", "--truth", truth]
    with Feedsim(*args) as fs:
        # The skip after a few trades, so that the skipped ids lie inside the history.
        wait_until(lambda: sum(1 for x in fs.truth() if x["native_symbol"] == "BTCUSDT") >= 20,
                   60, what="the first trades")
        fs.fault("kind=skip,venue=binance,symbol=BTC-USDT,count=4")

        def enough():
            t = fs.truth()
            return sum(1 for x in t if x["native_symbol"] == "BTCUSDT") >= 150 and \
                sum(1 for x in t if x["native_symbol"] == "ETH/USD") >= 60
        wait_until(enough, 60, what="history")
        t = fs.truth()
        bn = [x for x in t if x["venue"] == "binance" and x["native_symbol"] == "BTCUSDT"]
        kr = [x for x in t if x["venue"] == "kraken_v2" and x["native_symbol"] == "ETH/USD"]
        out = os.path.join(tmp, "out.jsonl")
        ini = os.path.join(tmp, "cli.ini")
        with open(ini, "w") as f:
            f.write(engine_lib.ini_text({
                "sink": {"type": "file", "path": out},
                "binance": {"rest_url": "https://localhost:%d" % fs.ports["binance"],
                            "symbols": "BTCUSDT"},
                "kraken": {"url": "wss://localhost:%d/v2" % fs.ports["kraken_v2"],
                           "rest_url": "https://localhost:%d" % fs.ports["kraken_v2"],
                           "symbols": "ETH/USD"},
                "tls": {"ca_file": ca}}))

        def cli(*a):
            p = subprocess.run([engine_lib.FEEDHANDLER, "backfill", "-c", ini, *a],
                               capture_output=True, text=True, timeout=120)
            return p.returncode, p.stderr

        def written():
            trades, gaps = engine_compare.load_output(out)
            os.unlink(out)
            return trades, gaps
        # Binance: the whole history so far, 4 ids of which never existed.
        a, b = bn[0]["trade_id"], bn[-1]["trade_id"]
        rc, err = cli("--venue", "binance", "--symbol", "BTCUSDT", "--from-id", str(a),
                      "--to-id", str(b))
        trades, gaps = written()
        check(rc == 1, "binance: exit %d\n%s" % (rc, err))
        want = [x["trade_id"] for x in bn]
        check([o["trade_id"] for o in trades] == want,
              "binance: %d trades written, %d in the truth" % (len(trades), len(want)))
        rep, _ = engine_compare.compare(t, trades, "v2")
        check(not rep.errors, "binance: %s" % rep.errors[:5])
        check(all(o["source"] == "BACKFILL" and o["connection_id"] == 0 for o in trades) and
              [o["sequence"] for o in trades] == list(range(1, len(trades) + 1)),
              "binance: lineage")
        absent = sorted(set(range(a, b + 1)) - set(want))
        check(len(absent) == 4 and len(gaps) == 1 and gaps[0]["status"] == "PARTIAL" and
              gaps[0]["missing_ranges"] == [{"first": absent[0], "last": absent[-1],
                                             "reason": "absent from history"}] and
              gaps[0]["filled_count"] == len(want), "binance gap record: %s" % gaps)
        # Kraken v2: a range inside the history, from the time of the trade before it.
        sel = kr[10:50]
        rc, err = cli("--venue", "kraken-v2", "--symbol", "ETH/USD", "--from-id",
                      str(sel[0]["trade_id"]), "--to-id", str(sel[-1]["trade_id"]), "--since",
                      str(kr[9]["trade_time_us"] * 1000))
        trades, gaps = written()
        check(rc == 0, "kraken: exit %d\n%s" % (rc, err))
        check([o["trade_id"] for o in trades] == [x["trade_id"] for x in sel], "kraken ids")
        rep, _ = engine_compare.compare(t, trades, "v2")
        check(not rep.errors, "kraken: %s" % rep.errors[:5])
        check(len(gaps) == 1 and gaps[0]["status"] == "FILLED" and
              gaps[0]["filled_count"] == len(sel), "kraken gap record: %s" % gaps)
        rc, err = cli("--venue", "kraken-v2", "--symbol", "ETH/USD", "--from-id", "5",
                      "--to-id", "9")
        check(rc == 2 and "--since" in err, "kraken without --since: %d %s" % (rc, err))
        rc, err = cli("--venue", "binance", "--symbol", "NOPE", "--from-id", "9", "--to-id", "5")
        check(rc == 2, "from > to: %d %s" % (rc, err))
    print("cli: binance %d trades + 4 absent ids (PARTIAL, exit 1); kraken %d trades (FILLED)" % (
        len(want), len(sel)))


def test_kafka():
    run_kafka("mock")


def test_kafka_real():
    run_kafka("real")


def run_kafka(broker):
    import kafka_lib as K
    tsan = engine_lib.tsan_build()
    # ThreadSanitizer slows everything several times over: the same faults over fewer trades.
    want, rate, cuts = (20000, 120, 20) if tsan else (100000, 500, 50)
    tmp = tmpdir("backfill-kafka-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    truth = os.path.join(tmp, "truth.ndjson")
    topic, gap_topic = "trades", "trades.gaps"
    # feedsim keeps enough history for the whole run (Binance and Kraken keep all of it); a
    # trade older than feedsim's history would be "absent from history", rightly.
    args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
            "%s,%s" % (cert, key), "--rate", str(rate), "--seed", "13", "--truth", truth,
            "--history", "200000"]
    stats = {}
    with K.make_broker(broker) as b, K.Registry() as reg, Feedsim(*args) as fs:
        # 16 partitions: the mock cluster keeps at most 5 MB per partition.
        b.create(topic, 16)
        b.create(gap_topic, 2)
        sec = K.kafka_sections(b, topic, registry=reg, spool_dir=os.path.join(tmp, "spool"))
        sec["binance"] = {"channels": "trade,aggTrade"}
        # feedsim's whole weight limit (6,000 a minute) for backfill: 50 cuts in 40 s ask for
        # about 87 weight each (3 historicalTrades, 3 aggTrades).
        sec["backfill"] = {"binance_weight_share_pct": 100}
        cfg = handler_config(fs, tmp, ca, channels="trade,aggTrade", extra=sec)
        with Handler(cfg, tmp) as h:
            h.wait_ready()
            kinds = ["code=1001", "mode=reset", "mode=eof", "code=1011"]
            syms = ["BTC-USDT", "ETH-USD", "DOGE-USD"]
            # feedhandler_trades_total counts Binance's aggregates too (about 0.9 per Binance
            # trade): 1.5 times want records make want trades.
            per_cut = max(1, want * 3 // 2 // cuts)
            for i in range(cuts):
                goal = (i + 1) * per_cut
                wait_until(lambda: h.metric("feedhandler_trades_total") >= goal, 300, step=0.1,
                           what="%d trades (cut %d)" % (goal, i))
                # An omit on one venue, and every connection cut at once, a network cut.
                venue = "binance" if i % 2 == 0 else "kraken-v2"
                fs.fault("kind=omit,venue=%s,symbol=%s,count=%d" % (venue, syms[i % 3],
                                                                   5 + i % 20))
                time.sleep(0.05)
                fs.fault("kind=drop,venue=all,%s" % kinds[i % len(kinds)])
            wait_until(lambda: h.metric("feedhandler_trades_total") >= (cuts + 1) * per_cut, 300,
                       step=0.1, what="trades after the last cut")
            wait_no_open_gaps(h, timeout=300)
            for name in ("feedhandler_gaps_total", "feedhandler_backfill_trades_total",
                         "feedhandler_backfill_requests_total"):
                stats[name] = h.metric(name)
            h.stop()
        records = K.consume_python(b.bootstrap, [topic, gap_topic])
        dec = K.Decoder(reg.url)
        trades, gaps = [], []
        for r in records:
            d = dec.decode(r.value)
            d["_at"] = (r.partition, r.offset)
            (gaps if r.topic == gap_topic else trades).append(d)
            hdrs = dict(r.headers)
            if r.topic == topic:
                check(hdrs.get("source") == d["source"] and r.key == "%s:%s" % (
                    d["venue"], d["symbol"]), "key/headers of %r" % (d,), h)
            else:
                check(r.key == "%s:%s" % (d["venue"], d["symbol"]) and not hdrs,
                      "gap record key/headers: %r %r" % (r.key, hdrs), h)
        check(dec.framings["confluent"] == len(records), "framings %s" % dec.framings, h)
        with open(os.path.join(tmp, "topic.jsonl"), "w") as f:  # kept when the test fails
            for d in trades + gaps:
                f.write(json.dumps(d, default=str) + "\n")
        rep, runs = engine_compare.compare(fs.truth(), trades, "v2")
        b.stop()
    check(not rep.errors, "topic differs from the truth log: %s" % rep.errors[:10], h)
    n_trades = sum(1 for o in trades if o["kind"] == "TRADE")
    check(n_trades >= want, "only %d trades on the topic" % n_trades, h)
    check(rep.stats["total"]["missing"] == 0, "missing: %s" % rep.stats["total"], h)
    aggs_missing = sum(v.get("missing_aggs", 0) for v in rep.stats.values())
    check(aggs_missing == 0, "aggregates missing: %d" % aggs_missing, h)
    # The gap topic: per gap, DETECTED then FILLED (one partition per key: in that order).
    by_gap = collections.defaultdict(list)
    for g in sorted(gaps, key=lambda g: g["_at"]):
        by_gap[(g["venue"], g["native_symbol"], g["kind"], g["first_missing_id"])].append(
            g["status"])
    bad = {k: v for k, v in by_gap.items() if v != ["DETECTED", "FILLED"]}
    check(not bad, "gaps not DETECTED then FILLED: %s" % list(bad.items())[:5], h)
    check(len(by_gap) == stats["feedhandler_gaps_total"] and len(by_gap) >= cuts,
          "%d gaps on the topic, %d detected, %d cuts" % (
              len(by_gap), stats["feedhandler_gaps_total"], cuts), h)
    # Filled trades are marked BACKFILL, and only they.
    ids = {(o["venue"], o["native_symbol"], o["kind"], o["trade_id"]): o["source"]
           for o in trades}
    filled = 0
    for (venue, sym, kind, first), _ in by_gap.items():
        g = next(x for x in gaps if (x["venue"], x["native_symbol"], x["kind"],
                                     x["first_missing_id"]) == (venue, sym, kind, first)
                 and x["status"] == "FILLED")
        for i in range(g["first_missing_id"], g["last_missing_id"] + 1):
            check(ids.get((venue, sym, kind, i)) == "BACKFILL",
                  "%s %s %s id %d: %s" % (venue, sym, kind, i, ids.get((venue, sym, kind, i))), h)
            filled += 1
    backfilled = sum(1 for v in ids.values() if v == "BACKFILL")
    check(backfilled == filled == stats["feedhandler_backfill_trades_total"],
          "BACKFILL trades %d, ids in filled gaps %d, metric %s" % (
              backfilled, filled, stats["feedhandler_backfill_trades_total"]), h)
    print("kafka (%s): %d trades and %d aggregates on the topic, equal to the truth; %d cuts, "
          "%d gaps DETECTED then FILLED, %d trades BACKFILL in %d REST pages" % (
              broker, n_trades, len(trades) - n_trades, cuts, len(by_gap), backfilled,
              stats["feedhandler_backfill_requests_total"]))


if __name__ == "__main__":
    engine_lib.main(globals())
