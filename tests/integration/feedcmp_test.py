#!/usr/bin/python3
"""feedcmp_test.py - unit-style checks of tools/feedcmp/feedcmp.py, no broker needed.

Builds small JSON-lines (feedhandler's normalized trades), feedsim truth logs and foreign-schema
JSON lines (bench/baseline's field names) in a temporary directory, runs feedcmp on them as a
process and checks its exit status and --json report:

  identical      identical sides -> exit 0
  missing/duplicate/price/side/time/outside-window
                 the right side altered one way each -> exit 1, reported with the right field
                 and the right id
  settle         one-sided trades within --settle of the window edges are not reported
  truth          a truth log against our JSON lines -> exit 0
  baseline-map   the baseline's record as JSON lines through tools/feedcmp/baseline_map.json:
                 doubles reported as rounding with the worst error, exit 0 when every double is
                 the nearest one; exit 1 when one is not
  bad-map        a map naming a field the records lack, a bad type, bad JSON -> exit 2
  filters        --venue, --symbol
  follow         --follow on growing files: interim reports with missing/duplicate/price,
                 late arrivals, duplicates of final trades, SIGTERM's final report,
                 --window-end ending a follow run
  bad-args       two rest: sides, rest: with --follow, --interval alone, a bad --from or
                 --venue, an unreadable file, a bad time -> exit 2, one line on stderr

Usage: /usr/bin/python3 tests/integration/feedcmp_test.py [-v]
Prints one line per check; exits 0 when all pass, 1 otherwise.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FH_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
FEEDCMP = os.path.join(SOURCE_DIR, "tools", "feedcmp", "feedcmp.py")
BASELINE_MAP = os.path.join(SOURCE_DIR, "tools", "feedcmp", "baseline_map.json")
PYTHON = os.environ.get("FH_PYTHON", "/usr/bin/python3")
VERBOSE = "-v" in sys.argv[1:]

T0 = 1796000000000000  # µs; trades every 10 ms from here
STEP = 10000


def trades():
    """Our normalized trades: Binance BTCUSDT ids 100..139, Kraken BTC/USD ids 500..529."""
    out = []
    seq = 0
    for i in range(40):
        seq += 1
        out.append({"venue": "binance", "symbol": "BTC-USDT", "native_symbol": "BTCUSDT",
                    "trade_id": 100 + i, "first_trade_id": None, "last_trade_id": None,
                    "kind": "TRADE", "price": "65000.%02d0000000000000000" % i,
                    "quantity": "0.001%02d000000000000" % (i + 1),
                    "side": "BUY" if i % 3 else "SELL", "order_type": "UNKNOWN",
                    "trade_time": T0 + i * STEP + 123, "event_time": T0 + i * STEP + 500,
                    "receive_time_ns": (T0 + i * STEP + 2000) * 1000, "source": "LIVE",
                    "connection_id": 1, "sequence": seq})
    for i in range(30):
        seq += 1
        # Kraken quantities with many digits: doubles cannot hold them exactly
        out.append({"venue": "kraken", "symbol": "BTC-USD", "native_symbol": "BTC/USD",
                    "trade_id": 500 + i, "first_trade_id": None, "last_trade_id": None,
                    "kind": "TRADE", "price": "85772.%d" % (i + 1),
                    "quantity": "0.1234567890123456%02d" % i,
                    "side": "SELL" if i % 2 else "BUY", "order_type": "LIMIT",
                    "trade_time": T0 + i * STEP + 5456, "event_time": None,
                    "receive_time_ns": (T0 + i * STEP + 7000) * 1000, "source": "LIVE",
                    "connection_id": 2, "sequence": seq})
    return out


def gap_record():
    return {"venue": "binance", "symbol": "BTC-USDT", "native_symbol": "BTCUSDT", "kind": "TRADE",
            "first_missing_id": 90, "last_missing_id": 91, "status": "FILLED"}


def truth_of(ts):
    out = []
    for t in ts:
        out.append({"venue": "binance" if t["venue"] == "binance" else "kraken_v2",
                    "native_symbol": t["native_symbol"], "trade_id": t["trade_id"],
                    "price": t["price"].rstrip("0").rstrip("."),
                    "quantity": t["quantity"].rstrip("0").rstrip("."),
                    "side": t["side"].lower(), "trade_time_us": t["trade_time"]})
    return out


def baseline_of(ts, ms_receive_offset=1):
    """bench/baseline's record for our trades, as its handler builds it: float(), ms."""
    out = []
    for t in ts:
        out.append({"exchange": t["venue"], "pair": t["native_symbol"], "tradeId": t["trade_id"],
                    "price": float(t["price"]), "amount": float(t["quantity"]),
                    "side": t["side"], "tradeTs": t["trade_time"] // 1000,
                    "ingestTs": t["receive_time_ns"] // 1000000 + ms_receive_offset})
    return out


def write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


class Run:
    def __init__(self, tmp, left, right, *opts):
        self.json_path = os.path.join(tmp, "report-%d.json" % id(self))
        cmd = [PYTHON, FEEDCMP, "--json", self.json_path] + list(opts) + [left, right]
        self.cmd = cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr
        self.rep = None
        if os.path.exists(self.json_path):
            with open(self.json_path) as f:
                self.rep = json.load(f)

    def group(self, venue, symbol):
        for g in self.rep["groups"]:
            if g["venue"] == venue and g["symbol"] == symbol:
                return g
        raise AssertionError("no group %s %s in %r" % (venue, symbol,
                                                        [(g["venue"], g["symbol"])
                                                         for g in self.rep["groups"]]))

    def only_problem(self, venue, symbol):
        """Every other group agrees."""
        for g in self.rep["groups"]:
            if (g["venue"], g["symbol"]) != (venue, symbol):
                assert g["agree"], "group %s %s should agree: %r" % (g["venue"], g["symbol"], g)

    def why(self):
        return "rc %d, cmd %s\nstdout:\n%s\nstderr:\n%s" % (self.rc, " ".join(self.cmd),
                                                            self.out, self.err)


RESULTS = []


def check(name, fn):
    try:
        fn()
        RESULTS.append((name, True))
        print("PASS %s" % name, flush=True)
    except AssertionError as e:
        RESULTS.append((name, False))
        print("FAIL %s: %s" % (name, str(e).splitlines()[0] if str(e) else "assertion"),
              flush=True)
        lines = str(e).splitlines()[1:]
        for line in lines if VERBOSE else lines[:40]:
            print("     " + line)


def follow_checks(tmp, base):
    """--follow on two growing JSON-lines files: trades go final while the run goes on (missing,
    duplicate and price reported in an interim report), a trade arriving after its settle margin
    is counted late, a duplicate of a long-final trade is still recognised, SIGTERM gives the
    final report; and --window-end ends a follow run by itself."""
    lpath = os.path.join(tmp, "follow-left.jsonl")
    rpath = os.path.join(tmp, "follow-right.jsonl")
    jpath = os.path.join(tmp, "follow.json")
    open(lpath, "w").close()
    open(rpath, "w").close()

    def rows(first, n):
        now = int(time.time() * 1e6)
        out = []
        for i in range(n):
            t = dict(base[i % 40], trade_id=first + i, trade_time=now + i, event_time=now + i,
                     receive_time_ns=(now + i) * 1000)
            out.append(t)
        return out

    def append(path, rs):
        with open(path, "a") as f:
            for r in rs:
                f.write(json.dumps(r) + "\n")

    def report():
        try:
            with open(jpath) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_for(what, cond, limit=60):
        deadline = time.monotonic() + limit  # a hang guard, not a timing assertion
        while time.monotonic() < deadline:
            rep = report()
            if rep is not None and cond(rep):
                return rep
            if proc.poll() is not None:
                raise AssertionError("feedcmp --follow exited %d waiting for %s: %s" %
                                     (proc.returncode, what, proc.stderr.read()))
            time.sleep(0.1)
        raise AssertionError("no report with %s within %d s: last %r" % (what, limit, report()))

    def grp(rep):
        gs = [g for g in rep["groups"] if g["venue"] == "binance"]
        return gs[0] if gs else None

    # an explicit start: the first trades are not within --settle of an automatic one
    start = str(int(time.time() * 1e6) - 60000000)
    proc = subprocess.Popen([PYTHON, FEEDCMP, "--follow", "--interval", "200ms", "--settle",
                             "300ms", "--from", "beginning", "--json", jpath,
                             "--window-start", start,
                             "jsonl:" + lpath, "jsonl:" + rpath],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def phase1():
            a = rows(1000, 500)
            b = [dict(t) for t in a if t["trade_id"] != 1100]  # missing on the right
            b.append(dict(a[200]))  # a duplicate on the right
            b[300]["price"] = "65000.3000000000000000001"  # a price off in a late decimal
            append(lpath, a)
            append(rpath, b)
            rep = wait_for("trade 1100 final and missing on the right",
                           lambda r: grp(r) and grp(r)["missing_on_right"]["count"] == 1)
            g = grp(rep)
            expect(not rep["final"], "the report with the missing trade is an interim one")
            expect(g["missing_on_right"]["first_ids"] == [1100], "missing %r" %
                   g["missing_on_right"])
            expect(g["duplicates_right"]["ids"] == [1200], "duplicate %r" % g["duplicates_right"])
            expect(g["mismatches"].get("price", {}).get("count") == 1, "price %r" %
                   g["mismatches"])
            expect(rep["verdict"] == "differ", "interim verdict differ")
        check("--follow: trades go final while it runs (missing, duplicate, price)", phase1)

        def phase2():
            # 1100 arrives on the right after its settle margin: late; 1300 comes again long
            # after it went final: still a duplicate (ids kept as runs)
            old = rows(1000, 500)
            append(rpath, [dict(old[100], trade_id=1100), dict(old[300], trade_id=1300)])
            append(lpath, rows(1500, 200))
            append(rpath, rows(1500, 200))
            rep = wait_for("the late trade and the second duplicate",
                           lambda r: grp(r) and grp(r)["late_on_right"] == 1 and
                           grp(r)["duplicates_right"]["count"] == 2)
            g = grp(rep)
            expect(g["missing_on_right"]["count"] == 0, "late trade still missing %r" %
                   g["missing_on_right"])
            expect(g["duplicates_right"]["ids"] == [1200, 1300], "dups %r" %
                   g["duplicates_right"])
            rep = wait_for("phase 2 final", lambda r: grp(r)["matched"] >= 699)
            expect(rep["follow"]["pending"] < 700, "in flight %r" % rep["follow"])
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
            expect(proc.returncode == 1, "exit %d after SIGTERM (differ): %s" %
                   (proc.returncode, err))
            rep = report()
            expect(rep["final"] and rep["follow"]["stopped_by"] == "SIGTERM" and
                   rep["follow"]["pending"] == 0, "final report %r" % rep.get("follow"))
            # 1100 came late (counted, not compared); the right has 700 - 1 + late 1100 + 2 dups
            expect(grp(rep)["matched"] == 699 and grp(rep)["late_on_right"] == 1 and
                   grp(rep)["right"] == 702,
                   "final counts %r" % grp(rep))
            expect("(final)" in out and "interim" in out, "tables: interim and final")
        check("--follow: late arrivals, duplicates of final trades, SIGTERM final report",
              phase2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    def window_end():
        a = rows(5000, 100)
        end = a[-1]["trade_time"] + 1
        p1 = os.path.join(tmp, "we-left.jsonl")
        p2 = os.path.join(tmp, "we-right.jsonl")
        with open(p1, "w") as f:
            f.writelines(json.dumps(t) + "\n" for t in a)
        with open(p2, "w") as f:
            f.writelines(json.dumps(t) + "\n" for t in a)
        p = subprocess.run([PYTHON, FEEDCMP, "--follow", "--from", "beginning", "--settle",
                            "100ms", "--window-end", str(end), "--json", "-",
                            "jsonl:" + p1, "jsonl:" + p2],
                           capture_output=True, text=True, timeout=60)
        expect(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        rep = json.loads(p.stdout.strip().splitlines()[-1])
        expect(rep["final"] and rep["totals"]["matched"] == 100, "final %r" % rep["totals"])
    check("--follow --window-end ends once both sides are past the end", window_end)


def expect(cond, msg, run=None):
    if not cond:
        raise AssertionError(msg + ("\n" + run.why() if run is not None else ""))


def main():
    tmp = tempfile.mkdtemp(prefix="feedcmp-test-")
    ok = False
    try:
        base = trades()
        left = write(os.path.join(tmp, "left.jsonl"), base + [gap_record()])
        J = "jsonl:"
        W = ["--window-start", str(T0), "--window-end", str(T0 + 40 * STEP)]

        def same():
            r = Run(tmp, J + left, J + write(os.path.join(tmp, "same.jsonl"), base), *W)
            expect(r.rc == 0, "identical sides: exit %d" % r.rc, r)
            expect(r.rep["verdict"] == "agree", "verdict %s" % r.rep["verdict"], r)
            expect(r.rep["totals"]["matched"] == 70, "matched %r" % r.rep["totals"], r)
            expect(r.rep["left"]["gap_records_skipped"] == 1, "gap record not skipped", r)
            expect("order_type" in r.rep["fields"]["compared"] and
                   "event_time" in r.rep["fields"]["compared"], "order/event time compared", r)
            expect("verdict: AGREE" in r.out, "table verdict", r)
        check("identical sides -> exit 0", same)

        def altered(name, mutate, verify, extra_opts=()):
            rows = [dict(t) for t in base]
            rows = mutate(rows)
            path = write(os.path.join(tmp, "right-%s.jsonl" % name), rows)

            def fn():
                r = Run(tmp, J + left, J + path, *(list(W) + list(extra_opts)))
                expect(r.rc == 1, "%s: exit %d, expected 1" % (name, r.rc), r)
                expect(r.rep["verdict"] == "differ", "verdict", r)
                verify(r)
            check("altered right side: %s -> exit 1, reported" % name, fn)

        def find(rows, tid):
            return next(i for i, t in enumerate(rows) if t["trade_id"] == tid)

        # a missing trade
        def drop(rows):
            del rows[find(rows, 117)]
            return rows

        def v_drop(r):
            g = r.group("binance", "BTCUSDT")
            m = g["missing_on_right"]
            expect(m["count"] == 1 and m["first_ids"] == [117] and m["ranges"] == [[117, 117]],
                   "missing_on_right %r" % m, r)
            expect(g["missing_on_left"]["count"] == 0 and not g["mismatches"], "only missing", r)
            expect(g["matched"] == 39, "matched %d" % g["matched"], r)
            r.only_problem("binance", "BTCUSDT")
        altered("missing trade", drop, v_drop)

        # a missing run: ranges
        def drop_run(rows):
            return [t for t in rows if not (510 <= t["trade_id"] <= 513 or t["trade_id"] == 520)]

        def v_drop_run(r):
            m = r.group("kraken", "BTC/USD")["missing_on_right"]
            expect(m["count"] == 5 and m["ranges"] == [[510, 513], [520, 520]],
                   "ranges %r" % m, r)
            r.only_problem("kraken", "BTC/USD")
        altered("missing id range", drop_run, v_drop_run)

        # a duplicate
        def dup(rows):
            i = find(rows, 505)
            rows.insert(i + 3, dict(rows[i]))
            return rows

        def v_dup(r):
            g = r.group("kraken", "BTC/USD")
            d = g["duplicates_right"]
            expect(d["count"] == 1 and d["ids"] == [505], "duplicates_right %r" % d, r)
            expect(g["duplicates_left"]["count"] == 0, "no left duplicates", r)
            expect(g["missing_on_left"]["count"] == 0 and g["missing_on_right"]["count"] == 0
                   and not g["mismatches"], "only the duplicate", r)
            r.only_problem("kraken", "BTC/USD")
        altered("duplicate", dup, v_dup)

        # a changed price in the last decimal place (of 18)
        def price(rows):
            t = rows[find(rows, 123)]
            t["price"] = t["price"][:-1] + "1"
            return rows

        def v_price(r):
            g = r.group("binance", "BTCUSDT")
            mm = g["mismatches"]
            expect(list(mm) == ["price"] and mm["price"]["count"] == 1, "mismatches %r" % mm, r)
            f = mm["price"]["first"][0]
            expect(f["id"] == 123 and f["left"] == "65000.230000000000000000" and
                   f["right"] == "65000.230000000000000001", "price mismatch %r" % f, r)
            r.only_problem("binance", "BTCUSDT")
        altered("price last decimal", price, v_price)

        # a changed side
        def side(rows):
            t = rows[find(rows, 521)]
            t["side"] = "BUY" if t["side"] == "SELL" else "SELL"
            return rows

        def v_side(r):
            mm = r.group("kraken", "BTC/USD")["mismatches"]
            expect(list(mm) == ["side"] and mm["side"]["count"] == 1, "mismatches %r" % mm, r)
            f = mm["side"]["first"][0]
            expect(f == {"id": 521, "left": "SELL", "right": "BUY"}, "side mismatch %r" % f, r)
            r.only_problem("kraken", "BTC/USD")
        altered("side", side, v_side)

        # a shifted trade time (1 µs)
        def shift(rows):
            rows[find(rows, 130)]["trade_time"] += 1
            return rows

        def v_shift(r):
            mm = r.group("binance", "BTCUSDT")["mismatches"]
            expect(list(mm) == ["trade_time"] and mm["trade_time"]["count"] == 1,
                   "mismatches %r" % mm, r)
            f = mm["trade_time"]["first"][0]
            want = T0 + 30 * STEP + 123
            expect(f == {"id": 130, "left": want, "right": want + 1}, "time mismatch %r" % f, r)
            r.only_problem("binance", "BTCUSDT")
        altered("shifted trade time", shift, v_shift)

        # a trade moved outside the window on the right
        def outside(rows):
            rows[find(rows, 515)]["trade_time"] = T0 + 100 * STEP
            return rows

        def v_outside(r):
            g = r.group("kraken", "BTC/USD")
            o = g["outside_window_right"]
            expect(o == [{"id": 515, "trade_time": T0 + 100 * STEP}],
                   "outside_window_right %r" % o, r)
            mm = g["mismatches"]
            expect(list(mm) == ["trade_time"] and mm["trade_time"]["first"][0]["id"] == 515,
                   "mismatches %r" % mm, r)
            r.only_problem("kraken", "BTC/USD")
        altered("trade outside the window", outside, v_outside)

        # a changed order type and a missing event time
        def order(rows):
            rows[find(rows, 507)]["order_type"] = "MARKET"
            return rows

        def v_order(r):
            mm = r.group("kraken", "BTC/USD")["mismatches"]
            expect(list(mm) == ["order_type"] and mm["order_type"]["first"][0] ==
                   {"id": 507, "left": "LIMIT", "right": "MARKET"}, "mismatches %r" % mm, r)
        altered("order type", order, v_order)

        # (c) settle: one-sided trades at the edges are not reported, inside ones are
        def settle():
            rows = [t for t in base if t["trade_id"] not in (100, 139, 120)]
            # an extra trade on the right just inside the end edge, and one outside the window
            rows.append(dict(base[39], trade_id=140, trade_time=T0 + 40 * STEP - 100))
            rows.append(dict(base[39], trade_id=141, trade_time=T0 + 400 * STEP))
            path = write(os.path.join(tmp, "right-settle.jsonl"), rows)
            r = Run(tmp, J + left, J + path, *(W + ["--settle", "10ms"]))
            g = r.group("binance", "BTCUSDT")
            expect(r.rc == 1, "settle: exit %d (id 120 is missing mid-window)" % r.rc, r)
            expect(g["missing_on_right"]["first_ids"] == [120], "missing %r" %
                   g["missing_on_right"], r)
            expect(g["missing_on_left"]["count"] == 0, "extra id 140 at the edge reported", r)
            expect(g["unsettled_missing_on_right"] == 2 and g["unsettled_missing_on_left"] == 1,
                   "unsettled counts %r" % {k: v for k, v in g.items() if "unsettled" in k}, r)
            rows2 = [t for t in rows if t["trade_id"] != 120] + [base[20]]
            path2 = write(os.path.join(tmp, "right-settle2.jsonl"), rows2)
            r2 = Run(tmp, J + left, J + path2, *(W + ["--settle", "10ms"]))
            expect(r2.rc == 0, "settle: only edge trades differ: exit %d" % r2.rc, r2)
            r3 = Run(tmp, J + left, J + path2, *W)
            expect(r3.rc == 1, "without --settle the edge trades are reported", r3)
            g3 = r3.group("binance", "BTCUSDT")
            expect(g3["missing_on_right"]["first_ids"] == [100, 139] and
                   g3["missing_on_left"]["first_ids"] == [140], "no-settle report %r" %
                   [g3["missing_on_right"], g3["missing_on_left"]], r3)
        check("trades within --settle of the window edges not reported", settle)

        def rfc3339():
            start = "2026-11-30T00:53:20Z"  # = T0
            rows = [t for t in base if t["trade_id"] != 100]
            path = write(os.path.join(tmp, "right-rfc.jsonl"), rows)
            r = Run(tmp, J + left, J + path, "--window-start", "2026-11-30T00:53:20.000124+00:00",
                    "--window-end", str(T0 + 40 * STEP))
            expect(r.rep["window"]["start_us"] == T0 + 124, "start %r" % r.rep["window"], r)
            expect(r.rc == 0, "trade 100 (at T0+123us) is before the window: exit %d" % r.rc, r)
            r2 = Run(tmp, J + left, J + path, "--window-start", start)
            expect(r2.rc == 1 and r2.group("binance", "BTCUSDT")["missing_on_right"]
                   ["first_ids"] == [100], "RFC 3339 start at T0: 100 missing", r2)
        check("window edges in RFC 3339 and us", rfc3339)

        def auto_window():
            # the right side starts later (all symbols): its first trade opens the window
            rows = [t for t in base if t["trade_time"] >= T0 + 5 * STEP]
            path = write(os.path.join(tmp, "right-late.jsonl"), rows)
            r = Run(tmp, J + left, J + path)
            expect(r.rep["window"]["start_auto"] and r.rep["window"]["start_us"] ==
                   rows[0]["trade_time"], "auto window %r" % r.rep["window"], r)
            expect(r.rc == 0, "late-starting right side with the automatic window: exit %d" %
                   r.rc, r)
            # one symbol subscribed later than the others (ccxt subscribes one by one): its
            # earlier trades are not missing, they were never asked for
            rows = [t for t in base if t["venue"] != "kraken" or t["trade_time"] >= T0 + 9 * STEP]
            path = write(os.path.join(tmp, "right-late-symbol.jsonl"), rows)
            r = Run(tmp, J + left, J + path)
            expect(r.rc == 0 and r.rep["right"]["outside_window"] == 0 and
                   r.rep["left"]["outside_window"] == 9,
                   "a symbol starting late: exit %d" % r.rc, r)
        check("automatic window: the overlap of both sides, per symbol", auto_window)

        def truth():
            tpath = write(os.path.join(tmp, "truth.ndjson"), truth_of(base) + [
                {"blast": True, "venue": "binance"}])
            r = Run(tmp, "truth:" + tpath, J + left, *W)
            expect(r.rc == 0, "truth vs our JSON lines: exit %d" % r.rc, r)
            expect("receive_time_ns" in r.rep["fields"]["right_only"] and
                   "connection_id" in r.rep["fields"]["right_only"],
                   "fields only the right has: %r" % r.rep["fields"], r)
            rows = truth_of(base)
            rows[5]["price"] = "65000.06"
            t2 = write(os.path.join(tmp, "truth2.ndjson"), rows)
            r2 = Run(tmp, "truth:" + t2, J + left, *W)
            mm = r2.group("binance", "BTCUSDT")["mismatches"]
            expect(r2.rc == 1 and mm["price"]["first"][0]["id"] == 105, "truth price %r" % mm, r2)
        check("truth log against our JSON lines", truth)

        def baseline():
            bpath = write(os.path.join(tmp, "baseline.jsonl"), baseline_of(base))
            r = Run(tmp, J + left, J + bpath, "--map", BASELINE_MAP, *W)
            expect(r.rc == 0, "baseline through the map: exit %d" % r.rc, r)
            rd = r.rep["rounding"]["right"]
            expect(r.rep["rounding"]["left"] is None and rd is not None, "rounding %r" %
                   r.rep["rounding"], r)
            expect(rd["compared"] == 140 and rd["not_nearest_double"] == 0, "rounding %r" % rd, r)
            # the Kraken quantities have 18 decimals; the worst is the largest |repr - exact|
            from decimal import Decimal
            worst = max(abs(Decimal(repr(float(t[f]))) - Decimal(t[f]))
                        for t in base for f in ("price", "quantity"))
            expect(Decimal(rd["worst_abs_error"]) == worst and worst > 0,
                   "worst error %s, expected %s" % (rd["worst_abs_error"], worst), r)
            expect(isinstance(rd["worst_abs_error_id"], int), "worst error id", r)
            expect(r.rep["trade_time_resolution_us"] == 1000, "ms trade times", r)
            expect("right rounds (doubles)" in r.out, "table says the right side rounds", r)
            flds = r.rep["fields"]
            expect("order_type" not in flds["compared"] and "event_time" in flds["left_only"]
                   and "order_type" in flds["left_only"] and "symbol" in flds["left_only"],
                   "one-sided fields %r" % flds, r)
            rt = r.rep["receive_time"]
            expect(rt["faster_at_p50"] == "left" and rt["resolution_ns"] == 1000000,
                   "receive time %r" % rt, r)
            # a double that is not the nearest one to the exact value: a price mismatch
            rows = baseline_of(base)
            import math
            rows[3]["price"] = math.nextafter(rows[3]["price"], math.inf)  # one ulp off
            b2 = write(os.path.join(tmp, "baseline2.jsonl"), rows)
            r2 = Run(tmp, J + left, J + b2, "--map", BASELINE_MAP, *W)
            mm = r2.group("binance", "BTCUSDT")["mismatches"]
            expect(r2.rc == 1 and list(mm) == ["price"] and mm["price"]["first"][0]["id"] == 103
                   and r2.rep["rounding"]["right"]["not_nearest_double"] == 1,
                   "one ulp off: %r" % mm, r2)
            # the map on the left side, truth on the right
            tpath = write(os.path.join(tmp, "truth-b.ndjson"), truth_of(base))
            r3 = Run(tmp, J + bpath, "truth:" + tpath, "--map", BASELINE_MAP, *W)
            expect(r3.rc == 0 and r3.rep["rounding"]["left"]["compared"] == 140,
                   "baseline vs truth: exit %d" % r3.rc, r3)
        check("foreign schema through the baseline map: doubles round, exit 0", baseline)

        def bad_maps():
            bpath = write(os.path.join(tmp, "baseline-b.jsonl"), baseline_of(base))
            with open(BASELINE_MAP) as f:
                good = json.load(f)
            cases = {
                "no such field": dict(good, quantity={"field": "qty", "type": "double"}),
                "wrong type": dict(good, trade_id={"field": "pair"}),
                "double on a time": dict(good, trade_time_us={"field": "tradeTs",
                                                              "type": "double"}),
                "unknown target": dict(good, colour={"const": "red"}),
                "bad enum value": dict(good, side={"field": "side", "enum": {"BUY": "B"}}),
                "missing target": {k: v for k, v in good.items() if k != "price"},
            }
            for name, m in cases.items():
                mp = os.path.join(tmp, "map-%s.json" % name.replace(" ", "-"))
                with open(mp, "w") as f:
                    json.dump(m, f)
                r = Run(tmp, J + left, J + bpath, "--map", mp, *W)
                expect(r.rc == 2, "bad map (%s): exit %d" % (name, r.rc), r)
                lines = r.err.strip().splitlines()
                expect(len(lines) == 1 and lines[0].startswith("feedcmp: error: ") and " map " in lines[0],
                       "bad map (%s): stderr %r" % (name, r.err), r)
            bad = os.path.join(tmp, "map-notjson.json")
            with open(bad, "w") as f:
                f.write("{nope")
            r = Run(tmp, J + left, J + bpath, "--map", bad)
            expect(r.rc == 2 and "not JSON" in r.err, "map not JSON", r)
            r = Run(tmp, J + left, J + bpath, *W)
            expect(r.rc == 2 and "foreign schema" in r.err, "foreign side without a map", r)
        check("bad maps -> exit 2 with one line", bad_maps)

        def filters():
            rows = [dict(t) for t in base]
            rows[find(rows, 117)]["price"] = "1"
            path = write(os.path.join(tmp, "right-filter.jsonl"), rows)
            r = Run(tmp, J + left, J + path, *(W + ["--venue", "kraken"]))
            expect(r.rc == 0 and [g["venue"] for g in r.rep["groups"]] == ["kraken"] and
                   r.rep["left"]["filtered_out"] == 40, "--venue kraken: exit %d" % r.rc, r)
            r = Run(tmp, J + left, J + path, *(W + ["--symbol", "BTC-USDT"]))
            expect(r.rc == 1 and [g["symbol"] for g in r.rep["groups"]] == ["BTCUSDT"],
                   "--symbol BTC-USDT selects BTCUSDT: exit %d" % r.rc, r)
        check("--venue and --symbol select what is compared", filters)

        def seconds_map():
            # cryptofeed's records: float seconds, ids as text, its own enums
            mp = os.path.join(SOURCE_DIR, "tools", "feedcmp", "cryptofeed_map.json")
            rows = []
            for t in base:
                if t["venue"] != "kraken":
                    continue
                tt = t["trade_time"] // 1000 * 1000  # ms, as cryptofeed's Binance gives
                rows.append({"exchange": "KRAKEN", "symbol": "BTC-USD",
                             "side": t["side"].lower(), "amount": float(t["quantity"]),
                             "price": float(t["price"]), "id": str(t["trade_id"]),
                             "type": t["order_type"].lower(),
                             "timestamp": float("%d.%06d" % divmod(tt, 1000000)),
                             "receipt_timestamp": t["receive_time_ns"] / 1e9})
            path = write(os.path.join(tmp, "cryptofeed.jsonl"), rows)
            r = Run(tmp, J + left, J + path, "--right-map", mp, "--venue", "kraken", *W)
            expect(r.rc == 0 and r.rep["totals"]["matched"] == 30 and
                   r.rep["trade_time_resolution_us"] == 1000,
                   "seconds map: exit %d" % r.rc, r)
            rows[4]["timestamp"] += 0.002
            path = write(os.path.join(tmp, "cryptofeed2.jsonl"), rows)
            r = Run(tmp, J + left, J + path, "--right-map", mp, "--venue", "kraken", *W)
            mm = r.group("kraken", "BTC/USD")["mismatches"]
            expect(r.rc == 1 and list(mm) == ["trade_time"] and
                   mm["trade_time"]["first"][0]["id"] == 504, "2 ms off: %r" % mm, r)
        check("a map with times in seconds and ids as text", seconds_map)

        follow_checks(tmp, base)

        def bad_args():
            for args in (["rest:binance:http://x", "rest:kraken:http://y"],
                         ["--follow", "rest:binance:http://x", J + left],
                         ["--interval", "5s", J + left, J + left],
                         ["--from", "yesterday", J + left, J + left],
                         ["--venue", "nyse", J + left, J + left],
                         [J + left, J + os.path.join(tmp, "nope.jsonl")],
                         ["--window-start", "yesterday", J + left, J + left],
                         ["--settle", "5 parsecs", J + left, J + left],
                         [J + left],
                         ["ftp:x", J + left]):
                p = subprocess.run([PYTHON, FEEDCMP] + args, capture_output=True, text=True,
                                   timeout=60)
                lines = p.stderr.strip().splitlines()
                expect(p.returncode == 2 and len(lines) == 1 and "error" in lines[0],
                       "%r: exit %d, stderr %r" % (args, p.returncode, p.stderr))
        check("bad arguments -> exit 2 with one line", bad_args)
        ok = all(p for _, p in RESULTS)
    finally:
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp)
    print("feedcmp_test: %d of %d checks passed" % (sum(p for _, p in RESULTS), len(RESULTS)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
