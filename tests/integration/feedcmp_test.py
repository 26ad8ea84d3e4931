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
  gaps           gap records: missing ids split into declared (inside a range the side's own
                 gap records declare missing) and silent: UNRECOVERABLE, PARTIAL (and
                 truncated ranges), a DETECTED record without its final one, an AGG_TRADE gap
                 against TRADE ids, trades without ids; --right-gaps jsonl:; a kafka: side's
                 T.gaps topic (Avro, Confluent framing; tests/tools/mockbroker and the
                 registry stand-in, skipped when mockbroker is not built)
  follow         --follow on growing files: interim reports with missing/duplicate/price,
                 late arrivals, duplicates of final trades, SIGTERM's final report,
                 --window-end ending a follow run
  bad-args       two rest: sides, rest: with --follow, --interval alone, a bad --from or
                 --venue, an unreadable file, a bad time, a bad --right-gaps or one on a
                 truth side, a trade file as a gap source -> exit 2, one line on stderr

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
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FH_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
FEEDCMP = os.path.join(SOURCE_DIR, "tools", "feedcmp", "feedcmp.py")
BUILD_DIR = os.environ.get("FH_BUILD_DIR") or os.path.join(SOURCE_DIR, "build", "release")
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


def gap_rec(first, last, status, ranges=(), venue="binance", native="BTCUSDT",
            symbol="BTC-USDT", kind="TRADE", truncated=False, missing=None, detected=7):
    """A gap record as the stream sink writes it (docs/OPERATIONS.md, schemas/gap.avsc)."""
    if missing is None:
        missing = {"DETECTED": last - first + 1, "FILLED": 0}.get(
            status, sum(b - a + 1 for a, b in ranges))
    return {"venue": venue, "symbol": symbol, "native_symbol": native, "kind": kind,
            "first_missing_id": first, "last_missing_id": last, "status": status,
            "reason": "" if status in ("DETECTED", "FILLED") else "absent from history",
            "missing_count": missing,
            "filled_count": 0 if status in ("DETECTED", "UNRECOVERABLE") else
            last - first + 1 - missing,
            "missing_ranges": [{"first": a, "last": b, "reason": "absent from history"}
                               for a, b in ranges],
            "ranges_truncated": truncated, "detected_time_ns": detected,
            "reported_time_ns": detected + 1, "connection_id": 1}


def with_gaps(rows, drop, gaps):
    """rows without the ids in drop, each gap record placed after the trades before its
    first id (where the handler writes it)."""
    out = [dict(t) for t in rows if t["trade_id"] not in drop]
    for g in gaps:
        i = next((k for k, t in enumerate(out) if "first_missing_id" not in t and
                  t["venue"] == g["venue"] and t["trade_id"] > g["first_missing_id"]), len(out))
        out.insert(i, g)
    return out


def gap_checks(tmp, base, left, W):
    """Gap records: missing ids split into declared (inside a range the side's own gap records
    declare missing) and silent."""
    J = "jsonl:"

    def run(name, drop, gaps, *extra):
        path = write(os.path.join(tmp, "right-gaps-%s.jsonl" % name), with_gaps(base, drop, gaps))
        return Run(tmp, J + left, J + path, *(list(W) + list(extra)))

    def miss(r, venue="binance", symbol="BTCUSDT"):
        m = r.group(venue, symbol)["missing_on_right"]
        return m["count"], m["declared"], m["silent"]

    def unrecoverable():
        # 105-107 declared missing for good; 112 missing with no record at all
        r = run("unrec", {105, 106, 107, 112},
                [gap_rec(105, 107, "DETECTED"), gap_rec(105, 107, "UNRECOVERABLE", [(105, 107)])])
        expect(r.rc == 1, "exit %d (declared or not, missing is a difference)" % r.rc, r)
        m = r.group("binance", "BTCUSDT")["missing_on_right"]
        expect((m["count"], m["declared"], m["silent"]) == (4, 3, 1) and
               m["silent_ranges"] == [[112, 112]] and m["ranges"] == [[105, 107], [112, 112]],
               "missing_on_right %r" % m, r)
        t = r.rep["totals"]
        expect(t["missing_on_right_declared"] == 3 and t["missing_on_right_silent"] == 1 and
               t["missing_on_right"] == 4 and t["missing_on_left_silent"] == 0,
               "totals %r" % t, r)
        gi = r.rep["right"]["gaps"]
        expect(gi["records"] == 2 and gi["declared_ids"] == 3 and gi["detected_only"] == 0 and
               gi["by_status"]["UNRECOVERABLE"] == 1 and gi["sources"] == ["inline"] and
               r.rep["right"]["gap_records_skipped"] == 2, "right gaps %r" % gi, r)
        expect(r.rep["left"]["gaps"]["declared_ids"] == 0, "left declares nothing (FILLED)", r)
        expect("4 missing on right (declared 3, silent 1)" in r.out and
               "missing on right: 4, declared 3, silent 1" in r.out and "silent-R" in r.out,
               "table", r)
        r.only_problem("binance", "BTCUSDT")
        # the same records from a separate file (--right-gaps jsonl:PATH)
        gpath = write(os.path.join(tmp, "gaps-unrec.jsonl"),
                      [gap_rec(105, 107, "UNRECOVERABLE", [(105, 107)])])
        tpath = write(os.path.join(tmp, "right-nogaps.jsonl"),
                      with_gaps(base, {105, 106, 107, 112}, []))
        r2 = Run(tmp, J + left, J + tpath, "--right-gaps", J + gpath, *W)
        expect(miss(r2) == (4, 3, 1) and r2.rep["right"]["gaps"]["sources"] ==
               ["inline", J + gpath] and r2.rep["right"]["gaps"]["source_records"] == 1,
               "--right-gaps jsonl: %r %r" % (miss(r2), r2.rep["right"]["gaps"]), r2)
        r3 = Run(tmp, J + left, J + tpath, *W)
        expect(miss(r3) == (4, 0, 4), "no gap records: all silent %r" % (miss(r3),), r3)
    check("gaps: UNRECOVERABLE 105-107 declared, 112 silent", unrecoverable)

    def partial():
        # PARTIAL: only its ranges are declared; 124 is inside the gap but the record says it
        # was filled, so its absence is silent
        g1 = gap_rec(118, 125, "PARTIAL", [(120, 121)])
        # truncated ranges: the last one is widened to the gap's end and covers written ids
        g2 = gap_rec(128, 137, "PARTIAL", [(129, 129), (131, 137)], truncated=True, missing=3)
        r = run("partial", {120, 121, 124, 129, 131, 133}, [g1, g2])
        m = r.group("binance", "BTCUSDT")["missing_on_right"]
        expect((m["count"], m["declared"], m["silent"]) == (6, 5, 1) and
               m["silent_ranges"] == [[124, 124]], "missing_on_right %r" % m, r)
        gi = r.rep["right"]["gaps"]
        expect(gi["declared_ids"] == 10 and gi["declared_missing_count"] == 5 and
               gi["ranges_truncated_records"] == 1 and gi["by_status"]["PARTIAL"] == 2,
               "right gaps %r" % gi, r)
        expect(r.group("binance", "BTCUSDT")["declared_by_right"] ==
               {"ids": 10, "ranges": [[120, 121], [129, 129], [131, 137]]},
               "declared_by_right %r" % r.group("binance", "BTCUSDT")["declared_by_right"], r)
    check("gaps: PARTIAL declares its ranges only; truncated ranges", partial)

    def detected():
        gaps = [gap_rec(105, 107, "DETECTED"),  # never finalized: declared by DETECTED
                gap_rec(110, 112, "DETECTED"), gap_rec(110, 112, "FILLED"),  # 111 lost after all
                gap_rec(115, 116, "DETECTED", detected=9),
                gap_rec(115, 116, "UNRECOVERABLE", [(115, 115)], detected=9),
                # another gap 130-131, told apart by its detected time: still open
                gap_rec(130, 131, "DETECTED", detected=11),
                gap_rec(130, 131, "FILLED", detected=12)]
        r = run("detected", {105, 106, 107, 111, 115, 116, 130}, gaps)
        m = r.group("binance", "BTCUSDT")["missing_on_right"]
        expect((m["count"], m["declared"], m["silent"]) == (7, 5, 2) and
               m["silent_ranges"] == [[111, 111], [116, 116]], "missing_on_right %r" % m, r)
        gi = r.rep["right"]["gaps"]
        expect(gi["detected_only"] == 2 and gi["by_status"]["DETECTED"] == 4 and
               gi["by_status"]["FILLED"] == 2 and gi["declared_ids"] == 3 + 1 + 2,
               "right gaps %r" % gi, r)
    check("gaps: a DETECTED record without its final one declares the whole gap", detected)

    def kinds():
        # an AGG_TRADE gap declares aggregate ids, not the TRADE ids of the same symbol; a
        # Kraken record names the pair XBT/USD, the trades BTC/USD: one symbol
        gaps = [gap_rec(105, 107, "UNRECOVERABLE", [(105, 107)], kind="AGG_TRADE"),
                gap_rec(510, 511, "UNRECOVERABLE", [(510, 511)], venue="kraken",
                        native="XBT/USD", symbol="BTC-USD")]
        r = run("kinds", {105, 106, 107, 510, 511}, gaps)
        expect(miss(r) == (3, 0, 3), "binance TRADE: %r" % (miss(r),), r)
        expect(miss(r, "kraken", "BTC/USD") == (2, 2, 0), "kraken: %r" %
               (miss(r, "kraken", "BTC/USD"),), r)
        expect(r.rep["right"]["gaps"]["declared_ids"] == 5, "declared %r" %
               r.rep["right"]["gaps"], r)
        # --venue filters gap records as it filters trades
        r2 = run("kinds2", {105, 106, 107, 510, 511}, gaps, "--venue", "kraken")
        expect(r2.rep["right"]["gaps"]["declared_ids"] == 2 and
               r2.rep["right"]["gaps"]["filtered_out"] == 1, "--venue kraken %r" %
               r2.rep["right"]["gaps"], r2)
    check("gaps: an AGG_TRADE gap declares no TRADE ids; symbols normalized", kinds)

    def weak():
        # trades without ids (Kraken v1) cannot be declared: silent, whatever the records say
        rows = [dict(t, trade_id=None) for t in base if t["venue"] == "kraken"]
        lpath = write(os.path.join(tmp, "weak-left.jsonl"), rows)
        right = rows[:5] + rows[6:] + [gap_rec(0, 10 ** 6, "UNRECOVERABLE", [(0, 10 ** 6)],
                                               venue="kraken", native="BTC/USD",
                                               symbol="BTC-USD")]
        rpath = write(os.path.join(tmp, "weak-right.jsonl"), right)
        r = Run(tmp, J + lpath, J + rpath, *W)
        m = r.group("kraken", "BTC/USD")["missing_on_right"]
        expect((m["count"], m["declared"], m["silent"]) == (1, 0, 1), "weak %r" % m, r)
    check("gaps: trades without ids are silent", weak)


def kafka_gap_checks(tmp, base, left, W):
    """A kafka: side's gap records on its gap topic (T.gaps, read by default when it exists),
    Avro in the Confluent framing with schemas/gap.avsc from the registry: not a foreign trade
    schema. The broker is tests/tools/mockbroker (built), the registry its stand-in."""
    if not os.path.exists(os.path.join(BUILD_DIR, "tests", "mockbroker")):
        print("SKIP gaps: kafka gap topic (no %s/tests/mockbroker: build first)" % BUILD_DIR)
        return
    sys.path.insert(0, HERE)
    import io
    import struct
    import avro.io
    import avro.schema
    import kafka_lib as K
    from confluent_kafka import Producer

    def fn():
        with K.MockBroker(1) as b, K.Registry() as reg:
            with open(os.path.join(SOURCE_DIR, "schemas", "gap.avsc")) as f:
                text = f.read()
            req = urllib.request.Request(
                reg.url + "/subjects/trades.gaps-value/versions",
                data=json.dumps({"schema": text}).encode(), method="POST",
                headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                sid = json.loads(resp.read())["id"]
            writer = avro.io.DatumWriter(avro.schema.parse(text))

            def confluent(d):
                buf = io.BytesIO()
                buf.write(b"\x00" + struct.pack(">I", sid))
                writer.write(d, avro.io.BinaryEncoder(buf))
                return buf.getvalue()
            drop = {105, 106, 107, 112}
            for topic in ("trades", "trades.gaps", "other"):
                b.create(topic, 1)
            p = Producer({"bootstrap.servers": b.bootstrap})
            for t in base:
                if t["trade_id"] not in drop:
                    for topic in ("trades", "other"):  # JSON values (our field names)
                        p.produce(topic, json.dumps(t).encode())
            p.produce("trades.gaps", confluent(gap_rec(105, 107, "DETECTED")))
            p.produce("trades.gaps", confluent(gap_rec(105, 107, "UNRECOVERABLE", [(105, 107)])))
            expect(p.flush(30) == 0, "producer did not flush")
            del p  # before the broker goes
            opts = ["--registry", reg.url, "--kafka-timeout", "60s"] + list(W)
            r = Run(tmp, "jsonl:" + left, "kafka:%s/trades" % b.bootstrap, *opts)
            m = r.group("binance", "BTCUSDT")["missing_on_right"]
            gi = r.rep["right"]["gaps"]
            expect(r.rc == 1 and (m["count"], m["declared"], m["silent"]) == (4, 3, 1),
                   "kafka side, T.gaps by default: %r" % m, r)
            expect(gi["sources"] == ["inline", "kafka:%s/trades.gaps" % b.bootstrap] and
                   gi["source_records"] == 2 and gi["declared_ids"] == 3 and
                   r.rep["right"]["schema"] == "json", "right gaps %r" % gi, r)
            # no T.gaps topic: nothing declared, and the report says so
            r2 = Run(tmp, "jsonl:" + left, "kafka:%s/other" % b.bootstrap, *opts)
            gi = r2.rep["right"]["gaps"]
            expect(r2.rc == 1 and r2.group("binance", "BTCUSDT")["missing_on_right"]["silent"]
                   == 4 and gi["sources"][1].startswith("none (") and gi["records"] == 0,
                   "no gap topic: %r" % gi, r2)
            # the gap topic named for another topic, and --right-gaps none
            r3 = Run(tmp, "jsonl:" + left, "kafka:%s/other" % b.bootstrap, "--right-gaps",
                     "kafka:%s/trades.gaps" % b.bootstrap, *opts)
            expect(r3.group("binance", "BTCUSDT")["missing_on_right"]["declared"] == 3,
                   "--right-gaps kafka: %r" % r3.rep["right"]["gaps"], r3)
            r4 = Run(tmp, "jsonl:" + left, "kafka:%s/trades" % b.bootstrap, "--right-gaps",
                     "none", *opts)
            expect(r4.group("binance", "BTCUSDT")["missing_on_right"]["declared"] == 0 and
                   r4.rep["right"]["gaps"]["sources"] == ["inline"],
                   "--right-gaps none: %r" % r4.rep["right"]["gaps"], r4)
            # a trade topic named as a gap source: an error, not trades taken for gaps
            r5 = Run(tmp, "jsonl:" + left, "kafka:%s/trades" % b.bootstrap, "--right-gaps",
                     "kafka:%s/other" % b.bootstrap, *opts)
            expect(r5.rc == 2 and "not a gap record" in r5.err, "trades as gaps", r5)
    check("gaps: a kafka: side's gap topic (Avro, Confluent framing) read by default", fn)


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

        gap_checks(tmp, base, left, W)
        kafka_gap_checks(tmp, base, left, W)

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
                         ["ftp:x", J + left],
                         ["--left-gaps", "none", "truth:" + left, J + left],
                         ["--right-gaps", "ftp:x", J + left, J + left],
                         ["--right-gaps", "kafka:nobroker", J + left, J + left],
                         ["--right-gaps", J + left, J + left, J + left]):
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
