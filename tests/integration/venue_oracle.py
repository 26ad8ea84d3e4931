#!/usr/bin/env python3
"""An independent oracle for the venue parsers.

For every file of the recorded corpus (../shared/corpus, including sessions/ and rest/) it
computes, with Python's json and decimal modules only, the normalized trades each message must
yield, runs `feedhandler replay --strict` on the same file, and compares the two field by field.
It shares no code with the C parsers: the only common inputs are the corpus files and the
symbol-metadata fixtures in tests/data (exchangeInfo / AssetPairs documents).

Usage: venue_oracle.py FEEDHANDLER_BINARY   (environment: FH_CORPUS_DIR, FH_SOURCE_DIR)
"""
import datetime
import decimal
import json
import os
import subprocess
import sys
from decimal import Decimal

decimal.getcontext().prec = 80
CORPUS = os.environ["FH_CORPUS_DIR"]
SRC = os.environ["FH_SOURCE_DIR"]
BINANCE_META = os.path.join(SRC, "tests/data/binance_exchangeinfo.json")
KRAKEN_META = os.path.join(SRC, "tests/data/kraken_assetpairs.json")
SCALE = Decimal(10) ** 18
LIMIT = Decimal(10) ** 38


def canon_decimal(d):
    """Canonical text: no exponent, no trailing fraction zeros, "0" for zero."""
    if d == 0:
        return "0"
    t = format(d.normalize(), "f")
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    return t


def binance_symbols():
    with open(BINANCE_META, encoding="utf-8") as f:
        doc = json.load(f)
    return {s["symbol"]: f'{s["baseAsset"]}-{s["quoteAsset"]}' for s in doc["symbols"]}


def kraken_symbols():
    with open(KRAKEN_META, encoding="utf-8") as f:
        doc = json.load(f)
    v1, v2 = {}, {}
    for key, p in doc["result"].items():
        canon = f'{p["base"]}-{p["quote"]}'
        v2[key] = canon
        if p.get("wsname"):
            v1[p["wsname"]] = canon
    return v1, v2


def trade(venue, symbol, native, price, qty, side, order_type, trade_time, kind="TRADE",
          trade_id=None, first=None, last=None, event_time=None):
    return {
        "venue": venue, "symbol": symbol, "native_symbol": native, "trade_id": trade_id,
        "first_trade_id": first, "last_trade_id": last, "kind": kind,
        "price": Decimal(price), "quantity": Decimal(qty), "side": side,
        "order_type": order_type, "trade_time": trade_time, "event_time": event_time,
        "source": "REPLAY", "connection_id": 0, "receive_time_ns": 0,
    }


def binance_event(ev, syms, time_mult=1000):
    if not isinstance(ev, dict):
        return []
    e = ev.get("e")
    if e == "trade":
        return [trade("binance", syms[ev["s"]], ev["s"], ev["p"], ev["q"],
                      "SELL" if ev["m"] else "BUY", "UNKNOWN", ev["T"] * time_mult,
                      trade_id=ev["t"], event_time=ev["E"] * time_mult)]
    if e == "aggTrade":
        return [trade("binance", syms[ev["s"]], ev["s"], ev["p"], ev["q"],
                      "SELL" if ev["m"] else "BUY", "UNKNOWN", ev["T"] * time_mult,
                      kind="AGG_TRADE", trade_id=ev["a"], first=ev["f"], last=ev["l"],
                      event_time=ev["E"] * time_mult)]
    return []


def binance_line(obj, syms):
    if isinstance(obj, dict) and "stream" in obj and "data" in obj:
        return binance_event(obj["data"], syms)
    return binance_event(obj, syms)


def kraken_v1_time(text):
    us = Decimal(text) * 1000000
    assert us == us.to_integral_value(), text
    return int(us)


SIDE = {"b": "BUY", "s": "SELL", "buy": "BUY", "sell": "SELL"}
ORDER = {"l": "LIMIT", "m": "MARKET", "limit": "LIMIT", "market": "MARKET"}


def kraken_v1_line(obj, syms):
    if not (isinstance(obj, list) and len(obj) >= 4 and obj[-2] == "trade"):
        return []
    native = obj[-1]
    return [trade("kraken", syms[native], native, r[0], r[1], SIDE[r[3]], ORDER[r[4]],
                  kraken_v1_time(r[2])) for r in obj[1]]


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def rfc3339_us(text):
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    dt = dt.replace(tzinfo=datetime.timezone.utc)
    return (dt - EPOCH) // datetime.timedelta(microseconds=1)


def kraken_v2_line(obj, syms):
    if not (isinstance(obj, dict) and obj.get("channel") == "trade"):
        return []
    return [trade("kraken", syms[d["symbol"]], d["symbol"], d["price"], d["qty"],
                  SIDE[d["side"]], ORDER[d["ord_type"]], rfc3339_us(d["timestamp"]),
                  trade_id=d["trade_id"]) for d in obj["data"]]


def binance_rest(doc, native, syms):
    out = []
    for r in doc:
        if "a" in r:
            out.append(trade("binance", syms[native], native, r["p"], r["q"],
                             "SELL" if r["m"] else "BUY", "UNKNOWN", r["T"] * 1000,
                             kind="AGG_TRADE", trade_id=r["a"], first=r["f"], last=r["l"]))
        else:
            out.append(trade("binance", syms[native], native, r["price"], r["qty"],
                             "SELL" if r["isBuyerMaker"] else "BUY", "UNKNOWN",
                             r["time"] * 1000, trade_id=r["id"]))
    return out


def kraken_rest(doc, native, syms):
    out = []
    for key, rows in doc["result"].items():
        if key == "last":
            continue
        for r in rows:
            # Times carry sub-microsecond digits; the handler truncates toward -inf.
            us = int((Decimal(str(r[2])) * 1000000).to_integral_value(rounding=decimal.ROUND_FLOOR))
            out.append(trade("kraken", syms[native], native, r[0], r[1], SIDE[r[3]],
                             ORDER[r[4]], us, trade_id=r[6] if len(r) > 6 else None))
    return out


def run_replay(binary, venue, path, meta, extra):
    cmd = [binary, "replay", "--venue", venue, "--input", path, "--metadata", meta,
           "--strict"] + extra
    p = subprocess.run(cmd, capture_output=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stderr.decode()}")
    lines = p.stdout.decode("utf-8").splitlines()
    return [json.loads(l) for l in lines], p.stderr.decode()


def compare(path, got, want):
    if len(got) != len(want):
        sys.exit(f"FAIL {path}: {len(got)} trades from the handler, oracle expects {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        for k, v in w.items():
            gv = g.get(k, "<missing>")
            if isinstance(v, Decimal):
                ok = isinstance(gv, str) and Decimal(gv) == v and gv == canon_decimal(v)
            else:
                ok = gv == v
            if not ok:
                sys.exit(f"FAIL {path} trade {i} field {k}: handler {gv!r}, oracle {v!r}")
        if g.get("sequence") != i:
            sys.exit(f"FAIL {path} trade {i}: sequence {g.get('sequence')!r}")
        extra = set(g) - set(w) - {"sequence"}
        if extra:
            sys.exit(f"FAIL {path}: unexpected fields {sorted(extra)}")


def main():
    binary = sys.argv[1]
    bsyms = binance_symbols()
    k1syms, k2syms = kraken_symbols()
    parse = lambda line: json.loads(line, parse_float=Decimal)
    jobs = []
    for root, _, files in os.walk(CORPUS):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, CORPUS)
            if rel.startswith("rest/"):
                if name.startswith("binance_"):
                    jobs.append((path, "binance", BINANCE_META, ["--rest", "--symbol", "BTCUSDT"],
                                 lambda doc: binance_rest(doc, "BTCUSDT", bsyms), True))
                elif name.startswith("kraken_"):
                    jobs.append((path, "kraken-v1", KRAKEN_META,
                                 ["--rest", "--symbol", "XBT/USDT"],
                                 lambda doc: kraken_rest(doc, "XBT/USDT", k1syms), True))
                continue
            if not name.endswith(".ndjson"):
                continue
            if name.startswith("binance"):
                jobs.append((path, "binance", BINANCE_META, [],
                             lambda o: binance_line(o, bsyms), False))
            elif name.startswith("kraken_v1"):
                jobs.append((path, "kraken-v1", KRAKEN_META, [],
                             lambda o: kraken_v1_line(o, k1syms), False))
            elif name.startswith("kraken_v2"):
                jobs.append((path, "kraken-v2", KRAKEN_META, [],
                             lambda o: kraken_v2_line(o, k2syms), False))
    total_files = total_trades = 0
    for path, venue, meta, extra, fn, whole in jobs:
        with open(path, encoding="utf-8") as f:
            if whole:
                want = fn(json.load(f, parse_float=Decimal))
            else:
                want = []
                for line in f:
                    line = line.rstrip("\r\n")
                    if line:
                        want.extend(fn(parse(line)))
        got, summary = run_replay(binary, venue, path, meta, extra)
        compare(path, got, want)
        total_files += 1
        total_trades += len(want)
        line = next((l for l in summary.splitlines() if l.startswith("replay: venue=")), "")
        print(f"ok {os.path.relpath(path, CORPUS)}: {len(want)} trades; {line}")
    # The corpus holds 35 message files with 7,967 trades (SOURCES.md); fewer means files were
    # not found or not checked, and the test must not pass vacuously.
    if total_files < 35 or total_trades < 7900:
        sys.exit(f"FAIL: only {total_files} files / {total_trades} trades checked")
    print(f"oracle: {total_files} files, {total_trades} trades equal, field by field")


if __name__ == "__main__":
    main()
