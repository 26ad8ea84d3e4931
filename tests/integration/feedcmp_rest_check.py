#!/usr/bin/python3
"""feedcmp_rest_check.py - tools/feedcmp/rest_source.py against a real feedsim.

Starts feedsim (Binance and Kraken v2, control port, truth log) on ephemeral loopback ports and
checks that RestHistory.trades() returns exactly the truth log's trades of a window:

  binance-exact    BTCUSDT and ETHUSD: ids, price and quantity (as decimals), side, trade time
                   (µs) equal the truth's; the window's edges lie on trades (a sweep's shared
                   time where there is one), so start is inclusive and end exclusive
  kraken-exact     the same for BTC/USDT and ETH/USD (v2 names, assetVersion=1); REST times
                   floored to µs equal the truth's (= the v2 WebSocket's) trade_time_us
  paging           25-row pages: the same trades, pages overlapping (duplicates counted)
  skip             a skip fault's ids are absent from the truth and from REST, whose ids jump
                   over exactly them
  unknown-symbol   RestError naming the symbol (Binance -1121, Kraken EQuery:Unknown asset pair)
  binance-pacing   weight_limit 60 at share 0.5 (fake wall clock and sleep): waits for the next
                   minute instead of being refused, same trades
  kraken-throttle  --kraken-rest-rate 1 --kraken-rest-burst 2 without our spacing: "Too many
                   requests" answers, backed off, every trade returned
  binance-429      --binance-weight-limit 100 with the minute's weight used up: 429 +
                   Retry-After honoured (a wait of up to a minute), every trade returned
  truncated        --history 150: the answer starts at the oldest kept trade and
                   stats["history_truncated"] says from which id
  conn-errors      a closed port: 3 retries (fake sleep), then RestError

Usage: /usr/bin/python3 tests/integration/feedcmp_rest_check.py [FEEDSIM]
(default: the feedsim found under build/, build/release first). Waits are bounded; nothing
asserts how long anything took. Prints one line per check; exits 0 when all pass, 1 otherwise.
"""

import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FH_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "feedcmp"))
sys.path.insert(0, HERE)

import feedsim_lib  # noqa: E402  (the feedsim process helper of the feedsim_*.py tests)
from feedsim_lib import Feedsim, wait_until  # noqa: E402
from rest_source import RestError, RestHistory  # noqa: E402

VERBOSE = "-v" in sys.argv[1:]
SKIP_BINANCE = 5  # ids a skip fault removes from Binance BTC-USDT
SKIP_KRAKEN = 3  # ... and from Kraken BTC-USDT

RESULTS = []  # (name, ok)


def find_feedsim():
    args = [a for a in sys.argv[1:] if a != "-v"]
    if args:
        return args[0]
    build = os.path.join(SOURCE_DIR, "build")
    preferred = os.path.join(build, "release", "tools", "feedsim")
    if os.path.isfile(preferred) and os.access(preferred, os.X_OK):
        return preferred
    out = subprocess.run(["find", build, "-name", "feedsim", "-type", "f", "-perm", "-u+x"],
                         capture_output=True, text=True).stdout.split()
    if not out:
        sys.exit("feedcmp_rest_check: no feedsim under %s; build it or pass its path" % build)
    return sorted(out)[0]


def check(name, fn):
    """Runs one check; prints PASS/FAIL and its detail line."""
    try:
        detail = fn()
        RESULTS.append((name, True))
        print("PASS %-16s %s" % (name, detail or ""), flush=True)
    except Exception as e:
        RESULTS.append((name, False))
        print("FAIL %-16s %s: %s" % (name, type(e).__name__, e), flush=True)
        if VERBOSE:
            traceback.print_exc()


# ---- feedsim helpers --------------------------------------------------------------------------


def start(*extra):
    fs = Feedsim("--binance", 0, "--kraken-v2", 0, "--control", 0, "--seed", 11, *extra)
    fs.args += ["--truth", fs.path("truth.ndjson")]
    return fs


def base(fs, venue):
    return "http://127.0.0.1:%d" % fs.ports[venue]


def generated(fs, exchange, symbol):
    for b in fs.status()["books"]:
        if b["exchange"] == exchange and b["symbol"] == symbol:
            return b
    raise AssertionError("no %s %s book in /status" % (exchange, symbol))


def wait_generated(fs, n, books):
    wait_until(lambda: all(generated(fs, e, s)["generated"] >= n for e, s in books),
               timeout=120, step=0.1, what="%d trades per book" % n)


def book(truth, venue, native):
    """One book's truth lines, ascending by id (generation order)."""
    rows = [t for t in truth if t.get("venue") == venue and t.get("native_symbol") == native]
    rows.sort(key=lambda t: t["trade_id"])
    return rows


def in_window(rows, s, e):
    return [t for t in rows if s <= t["trade_time_us"] < e]


def group_start(rows, i, reach=15):
    """An index near i where a sweep (trades sharing one time) begins, else i: a window edge
    there must take the whole sweep in or leave it out."""
    for d in range(reach):
        for j in (i + d, i - d):
            if 0 < j < len(rows) - 1 and rows[j]["trade_time_us"] == rows[j + 1]["trade_time_us"] \
                    and rows[j - 1]["trade_time_us"] < rows[j]["trade_time_us"]:
                return j
    return i


def jump(rows):
    """Index of the one id jump in a book's truth (a skip fault), else None."""
    jumps = [i for i in range(1, len(rows)) if rows[i]["trade_id"] != rows[i - 1]["trade_id"] + 1]
    if len(jumps) > 1:
        raise AssertionError("truth ids jump %d times" % len(jumps))
    return jumps[0] if jumps else None


def window(rows, around=None):
    """A [start, end) on trade times of the book, around index `around` (or its middle)."""
    mid = len(rows) // 2 if around is None else around
    si = group_start(rows, max(1, mid - 50))
    ei = group_start(rows, min(len(rows) - 2, mid + 50))
    if not si < mid < ei or rows[si]["trade_time_us"] >= rows[ei]["trade_time_us"]:
        raise AssertionError("no window around index %d of %d" % (mid, len(rows)))
    return rows[si]["trade_time_us"], rows[ei]["trade_time_us"]


# ---- comparing --------------------------------------------------------------------------------


def truth_key(t):
    return (t["trade_id"], Decimal(t["price"]), Decimal(t["quantity"]), t["side"].upper(),
            t["trade_time_us"])


def rest_key(t):
    return (t["trade_id"], Decimal(t["price"]), Decimal(t["quantity"]), t["side"], t["trade_time"])


def same(rest, truth, what):
    """REST trades equal the truth's, in ascending id order; fields in our names."""
    ids = [t["trade_id"] for t in rest]
    if ids != sorted(set(ids)):
        raise AssertionError("%s: REST ids not strictly ascending" % what)
    a, b = [rest_key(t) for t in rest], [truth_key(t) for t in truth]
    if a != b:
        extra = sorted(set(x[0] for x in a) - set(x[0] for x in b))
        missing = sorted(set(x[0] for x in b) - set(x[0] for x in a))
        diff = next(((x, y) for x, y in zip(a, b) if x != y), None)
        raise AssertionError("%s: REST %d trades, truth %d; extra ids %s, missing ids %s, "
                             "first difference %s" % (what, len(a), len(b), extra[:5],
                                                      missing[:5], diff))
    if not truth:
        raise AssertionError("%s: empty window" % what)


def fields_ok(rest, venue, native):
    for t in rest:
        assert t["venue"] == venue and t["native_symbol"] == native, t
        assert t["kind"] == "TRADE" and t["source"] == "REST", t
        assert isinstance(t["price"], str) and isinstance(t["quantity"], str), t
        assert t["side"] in ("BUY", "SELL"), t
        if venue == "binance":
            assert t["order_type"] == "UNKNOWN", t
        else:
            assert t["order_type"] in ("MARKET", "LIMIT"), t


def fetch(venue, url, native, s, e, **kw):
    h = RestHistory(venue, url, **kw)
    return list(h.trades(native, s, e)), h.stats


# ---- checks on the main feedsim ---------------------------------------------------------------


def main_checks(path):
    feedsim_lib.FEEDSIM = path
    syms = [("BTC-USDT", "BTCUSDT", "BTC/USDT"), ("ETH-USD", "ETHUSD", "ETH/USD")]
    books = [(e, c) for c, _, _ in syms for e in ("binance", "kraken")]
    with start("--symbols", "BTC-USDT,ETH-USD", "--rate", 40, "--burst", "0.3:6",
               "--history", 20000) as fs:
        wait_generated(fs, 80, books)
        fs.fault("kind=skip,venue=binance,symbol=BTC-USDT,count=%d" % SKIP_BINANCE)
        fs.fault("kind=skip,venue=kraken-v2,symbol=BTC-USDT,count=%d" % SKIP_KRAKEN)
        wait_generated(fs, 220, books)
        truth = fs.truth()
        bn_url, kr_url = base(fs, "binance"), base(fs, "kraken_v2")
        plan = []  # (venue, url, native, truth venue, rows, start, end, jump index)
        for canon, bn, kr in syms:
            for venue, url, native, tv in (("binance", bn_url, bn, "binance"),
                                           ("kraken", kr_url, kr, "kraken_v2")):
                rows = book(truth, tv, native)
                j = jump(rows)
                if (j is not None) != (canon == "BTC-USDT"):
                    raise AssertionError("%s %s: skip jump at %s" % (venue, native, j))
                s, e = window(rows, j)
                plan.append((venue, url, native, tv, rows, s, e, j))
        got = {}

        def exact(which):
            out = []
            for venue, url, native, tv, rows, s, e, _ in plan:
                if venue != which:
                    continue
                rest, st = fetch(venue, url, native, s, e)
                fields_ok(rest, venue, native)
                same(rest, in_window(rows, s, e), "%s %s" % (venue, native))
                got[(venue, native)] = rest
                if st["throttled"] or st["history_truncated"]:
                    raise AssertionError("%s %s: unexpected stats %s" % (venue, native, st))
                first_t = min(t["trade_time"] for t in rest)
                if first_t != s:
                    raise AssertionError("the trade at the window's start is missing")
                out.append("%s %d trades (%d at the start time) req=%d" % (
                    native, len(rest), sum(t["trade_time"] == s for t in rest), st["requests"]))
            return "; ".join(out)

        check("binance-exact", lambda: exact("binance"))
        check("kraken-exact", lambda: exact("kraken"))

        def paging():
            out = []
            for venue, url, native, tv, rows, s, e, _ in plan:
                if native not in ("BTCUSDT", "BTC/USDT"):
                    continue
                rest, st = fetch(venue, url, native, s, e, page_limit=25)
                same(rest, in_window(rows, s, e), "%s %s (25-row pages)" % (venue, native))
                if st["pages"] < 3:
                    raise AssertionError("%s: only %d pages" % (venue, st["pages"]))
                out.append("%s pages=%d duplicates=%d" % (native, st["pages"], st["duplicates"]))
            return "; ".join(out)

        check("paging", paging)

        def skip():
            out = []
            for venue, url, native, tv, rows, s, e, j in plan:
                if j is None:
                    continue
                lo, hi = rows[j - 1]["trade_id"], rows[j]["trade_id"]
                skipped = set(range(lo + 1, hi))
                n = SKIP_BINANCE if venue == "binance" else SKIP_KRAKEN
                if len(skipped) != n:
                    raise AssertionError("%s: truth jumps %d..%d, not %d ids" % (venue, lo, hi, n))
                if any(t["trade_id"] in skipped for t in truth if t["venue"] == tv):
                    raise AssertionError("%s: skipped ids in the truth" % venue)
                rest = got.get((venue, native))
                if rest is None:
                    raise AssertionError("%s: no REST result (exact check failed)" % venue)
                ids = [t["trade_id"] for t in rest]
                if skipped & set(ids) or lo not in ids or ids[ids.index(lo) + 1] != hi:
                    raise AssertionError("%s: REST ids around the skip: %s" %
                                         (venue, ids[max(0, j - 3):j + 3]))
                book_ = generated(fs, "binance" if venue == "binance" else "kraken", "BTC-USDT")
                if book_["skipped"] != n:
                    raise AssertionError("%s: /status skipped %s" % (venue, book_["skipped"]))
                out.append("%s ids %d..%d absent (REST %d -> %d)" % (native, lo + 1, hi - 1,
                                                                     lo, hi))
            return "; ".join(out)

        check("skip", skip)

        def unknown():
            msgs = []
            for venue, url, native in (("binance", bn_url, "NOPEUSDT"),
                                       ("kraken", kr_url, "NOPE/USD")):
                try:
                    fetch(venue, url, native, 10 ** 15, 10 ** 15 + 1)
                except RestError as e:
                    msg = str(e)
                    if native not in msg or ("-1121" if venue == "binance" else
                                             "Unknown asset pair") not in msg:
                        raise AssertionError("unclear message: %s" % msg)
                    msgs.append(msg)
                    continue
                raise AssertionError("%s %s: no RestError" % (venue, native))
            return " | ".join(msgs)

        check("unknown-symbol", unknown)

        def pacing():
            skew = [0.0]
            sleeps = []

            def fake_sleep(s):
                sleeps.append(s)
                skew[0] += s

            venue, url, native, tv, rows, s, e, _ = plan[0]
            rest, st = fetch(venue, url, native, s, e, page_limit=25, weight_limit=60,
                             weight_share=0.5, sleep=fake_sleep,
                             wall=lambda: time.time() + skew[0])
            same(rest, in_window(rows, s, e), "binance pacing")
            if st["throttled"] or not sleeps or st["waited_s"] <= 0:
                raise AssertionError("no pacing wait, or refused: %s" % st)
            return "%d waits for the next minute over %d requests, throttled=0" % (
                len(sleeps), st["requests"])

        check("binance-pacing", pacing)


# ---- rate limits ------------------------------------------------------------------------------


def limit_checks(path):
    feedsim_lib.FEEDSIM = path
    with start("--symbols", "BTC-USDT", "--rate", 40, "--burst", "0.3:6", "--history", 20000,
               "--binance-weight-limit", 100, "--kraken-rest-rate", 1,
               "--kraken-rest-burst", 2) as fs:
        wait_generated(fs, 120, [("binance", "BTC-USDT"), ("kraken", "BTC-USDT")])
        truth = fs.truth()

        def whole(tv, native):
            rows = book(truth, tv, native)
            return rows, rows[0]["trade_time_us"], rows[-1]["trade_time_us"]

        def kraken():
            rows, s, e = whole("kraken_v2", "BTC/USDT")
            rest, st = fetch("kraken", base(fs, "kraken_v2"), "BTC/USDT", s, e, page_limit=25,
                             kraken_interval_s=0)
            same(rest, in_window(rows, s, e), "kraken throttled")
            if st["throttled"] < 1:
                raise AssertionError("never refused: %s" % st)
            return "%d trades, pages=%d throttled=%d waited=%.0fs" % (
                len(rest), st["pages"], st["throttled"], st["waited_s"])

        check("kraken-throttle", kraken)

        def binance():
            rows, s, e = whole("binance", "BTCUSDT")
            url = base(fs, "binance")
            for attempt in range(3):
                # Use the minute's weight up (exchangeInfo costs 20) until feedsim says 429.
                for _ in range(10):
                    try:
                        urllib.request.urlopen(url + "/api/v3/exchangeInfo", timeout=20).read()
                    except urllib.error.HTTPError as err:
                        if err.code == 429:
                            break
                        raise
                else:
                    raise AssertionError("feedsim never answered 429")
                rest, st = fetch("binance", url, "BTCUSDT", s, e)
                same(rest, in_window(rows, s, e), "binance after 429")
                if st["throttled"] >= 1:
                    return "%d trades after %d x 429, waited %.0fs (Retry-After)" % (
                        len(rest), st["throttled"], st["waited_s"])
                # The minute turned between the 429 and our first request: again.
            raise AssertionError("no 429 in 3 attempts")

        check("binance-429", binance)


def truncation_check(path):
    feedsim_lib.FEEDSIM = path
    with start("--symbols", "BTC-USDT", "--rate", 50, "--history", 150) as fs:
        wait_generated(fs, 260, [("binance", "BTC-USDT")])
        truth = fs.truth()

        def truncated():
            rows = book(truth, "binance", "BTCUSDT")
            s, e = rows[0]["trade_time_us"], rows[-1]["trade_time_us"]
            rest, st = fetch("binance", base(fs, "binance"), "BTCUSDT", s, e)
            tr = st["history_truncated"]
            if not tr or tr[0]["got"] <= tr[0]["asked"] or tr[0]["symbol"] != "BTCUSDT":
                raise AssertionError("not reported: %s" % st)
            got = tr[0]["got"]
            if got <= rows[0]["trade_id"]:
                raise AssertionError("nothing was missing? %s" % tr)
            want = [t for t in in_window(rows, s, e) if t["trade_id"] >= got]
            same(rest, want, "binance truncated")
            return "history_truncated %s; %d of the window's %d trades returned" % (
                tr, len(rest), len(in_window(rows, s, e)))

        check("truncated", truncated)


def conn_check():
    def closed_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        h = RestHistory("binance", "http://127.0.0.1:%d" % port, sleep=lambda _: None)
        try:
            list(h.trades("BTCUSDT", 10 ** 15, 10 ** 15 + 1))
        except RestError as e:
            st = h.stats
            if st["retries"] != 3 or st["requests"] != 4:
                raise AssertionError("retries %s requests %s" % (st["retries"], st["requests"]))
            return str(e)
        raise AssertionError("no RestError")

    check("conn-errors", closed_port)


def main():
    path = find_feedsim()
    for part in (lambda: main_checks(path), lambda: limit_checks(path),
                 lambda: truncation_check(path), conn_check):
        try:
            part()
        except Exception as e:  # feedsim would not start or stop cleanly, a bad truth log...
            RESULTS.append(("setup", False))
            print("FAIL %-16s %s: %s" % ("setup", type(e).__name__, e), flush=True)
            if VERBOSE:
                traceback.print_exc()
    failed = [n for n, ok in RESULTS if not ok]
    print("%d checks, %d failed%s" % (len(RESULTS), len(failed),
                                      (": " + ", ".join(failed)) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
