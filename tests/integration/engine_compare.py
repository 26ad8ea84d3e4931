#!/usr/bin/python3
"""engine_compare.py - compares feedhandler's sink output (JSON lines) with feedsim's truth log.

Independent of the C code: it reads both files with Python's json module (decimals as
decimal.Decimal, never float) and checks, per venue and native symbol:

  - order and uniqueness: trade ids strictly increase in output order (trade channel, Kraken
    v2; aggregate ids on the aggTrade channel);
  - exact values: every output trade equals the truth trade with its id (price, quantity,
    taker side, trade time in microseconds);
  - completeness: inside the window [first output id, last output id] every truth id is in
    the output, except the missing runs, which are reported (first id, count) so that the
    caller can compare them with the gaps the handler reported;
  - aggregates: each aggTrade covers truth trade ids f..l at one price, its quantity is their
    sum, consecutive aggregates cover consecutive ids;
  - Kraken v1 (no ids): the output is an in-order subsequence of the truth (matched on price,
    quantity, side and time); skipped truth trades inside the window are counted;
  - lineage: per connection id the sequence numbers are 1, 2, 3... without a hole or a
    repeat, so the sink received every trade the engine emitted; per connection and symbol
    they increase in output order (a symbol whose gap is being filled is held back, so its
    trades may come after later ones of other symbols of the connection). Backfilled trades
    (source BACKFILL) carry their venue's REST connection id and sequence.
  - gap records (JSON lines with first_missing_id, schemas/gap.avsc) are kept apart:
    load_output() returns them separately.

Usage as a script: engine_compare.py TRUTH OUTPUT [--kraken v1|v2] [--require-complete]
prints a JSON report and exits 1 on any error (or, with --require-complete, on any missing
trade).
"""

import argparse
import collections
import json
import sys
from decimal import Decimal


def load_jsonl(path):
    out = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line, parse_float=Decimal))
            except ValueError as e:
                raise AssertionError("%s:%d: not JSON (%s): %r" % (path, n, e, line[:200]))
    return out


def load_output(path):
    """(trades, gap records) of a JSON-lines sink output."""
    trades, gaps = [], []
    for o in load_jsonl(path):
        (gaps if "first_missing_id" in o else trades).append(o)
    return trades, gaps


def runs(sorted_ids):
    """Maximal runs of consecutive ids: [(first, count)]."""
    res = []
    for i in sorted_ids:
        if res and res[-1][0] + res[-1][1] == i:
            res[-1][1] += 1
        else:
            res.append([i, 1])
    return [tuple(r) for r in res]


class Report:
    def __init__(self):
        self.errors = []
        self.stats = collections.defaultdict(dict)

    def error(self, msg):
        if len(self.errors) < 200:
            self.errors.append(msg)

    def as_dict(self):
        return {"errors": self.errors, "stats": self.stats}


def truth_index(truth, venue):
    """{native_symbol: {trade_id: truth line}} for one truth venue name."""
    idx = collections.defaultdict(dict)
    for t in truth:
        if t["venue"] == venue:
            idx[t["native_symbol"]][t["trade_id"]] = t
    return idx


def same_values(o, t):
    return (Decimal(o["price"]) == Decimal(t["price"]) and
            Decimal(o["quantity"]) == Decimal(t["quantity"]) and
            o["side"].lower() == t["side"] and o["trade_time"] == t["trade_time_us"])


def check_ids(rep, key, outs, tidx):
    """Trade channel with ids. Returns the missing runs."""
    ids = [o["trade_id"] for o in outs]
    st = rep.stats[key]
    st["trades"] = len(ids)
    for a, b in zip(ids, ids[1:]):
        if b <= a:
            rep.error("%s: id %d after %d (order/duplicate)" % (key, b, a))
    for o in outs:
        t = tidx.get(o["trade_id"])
        if t is None:
            rep.error("%s: id %d not in the truth log" % (key, o["trade_id"]))
        elif not same_values(o, t):
            rep.error("%s: id %d differs: %s vs truth %s" % (key, o["trade_id"], o, t))
    if not ids:
        st["missing"] = 0
        st["missing_runs"] = []
        return []
    lo, hi = min(ids), max(ids)
    have = set(ids)
    missing = sorted(i for i in tidx if lo <= i <= hi and i not in have)
    st["first_id"], st["last_id"] = lo, hi
    st["missing"] = len(missing)
    r = runs(missing)
    st["missing_runs"] = r[:50]
    st["missing_run_count"] = len(r)
    return r


def check_aggs(rep, key, outs, tidx):
    st = rep.stats[key]
    st["aggs"] = len(outs)
    prev = None
    missing_aggs = 0
    for o in outs:
        a, f, l = o["trade_id"], o["first_trade_id"], o["last_trade_id"]
        if f is None or l is None or f > l:
            rep.error("%s: agg %s has bad range %s..%s" % (key, a, f, l))
            continue
        covered = [tidx.get(i) for i in range(f, l + 1)]
        if any(c is None for c in covered):
            rep.error("%s: agg %d covers ids missing from the truth log" % (key, a))
            continue
        if any(Decimal(c["price"]) != Decimal(o["price"]) for c in covered):
            rep.error("%s: agg %d price differs from its trades" % (key, a))
        if sum(Decimal(c["quantity"]) for c in covered) != Decimal(o["quantity"]):
            rep.error("%s: agg %d quantity is not the sum of its trades" % (key, a))
        if covered[0]["side"] != o["side"].lower():
            rep.error("%s: agg %d side differs" % (key, a))
        if prev is not None:
            if a <= prev[0]:
                rep.error("%s: agg id %d after %d (order/duplicate)" % (key, a, prev[0]))
            elif a == prev[0] + 1 and f != prev[2] + 1:
                rep.error("%s: agg %d starts at %d, previous ended at %d" % (key, a, f, prev[2]))
            elif a > prev[0] + 1:
                missing_aggs += a - prev[0] - 1
        prev = (a, f, l)
    st["missing_aggs"] = missing_aggs
    return missing_aggs


def check_v1(rep, key, outs, truth_list):
    """Kraken v1: output must be an in-order subsequence of the truth."""
    st = rep.stats[key]
    st["trades"] = len(outs)
    j = 0
    first = None
    skipped = 0
    for o in outs:
        while j < len(truth_list) and not same_values(o, truth_list[j]):
            if first is not None:
                skipped += 1
            j += 1
        if j == len(truth_list):
            rep.error("%s: output trade %s not found in order in the truth log" % (key, o))
            return
        if first is None:
            first = j
        j += 1
    st["skipped"] = skipped


def check_lineage(rep, outs):
    seqs = collections.defaultdict(list)
    last = {}
    for o in outs:
        c, s = o["connection_id"], o["sequence"]
        seqs[c].append(s)
        k = (c, o["venue"], o["native_symbol"], o["kind"])
        if k in last and s <= last[k]:
            rep.error("connection %s, %s: sequence %s after %s" % (c, k[1:], s, last[k]))
        last[k] = s
    for c, lst in seqs.items():
        if sorted(lst) != list(range(1, len(lst) + 1)):
            have = set(lst)
            holes = [i for i in range(1, max(lst) + 1) if i not in have][:5]
            rep.error("connection %s: %d sequence numbers, not 1..%d (holes %s, repeats %d)" %
                      (c, len(lst), len(lst), holes, len(lst) - len(have)))
    rep.stats["lineage"]["connections"] = len(seqs)


def compare(truth, outs, kraken="v2"):
    rep = Report()
    check_lineage(rep, outs)
    by = collections.defaultdict(list)
    for o in outs:
        by[(o["venue"], o["native_symbol"], o["kind"])].append(o)
    bn = truth_index(truth, "binance")
    kr_name = "kraken_" + kraken
    kr = truth_index(truth, kr_name)
    kr_list = collections.defaultdict(list)
    for t in truth:
        if t["venue"] == kr_name:
            kr_list[t["native_symbol"]].append(t)
    all_runs = {}
    for (venue, sym, kind), lst in sorted(by.items()):
        key = "%s:%s:%s" % (venue, sym, kind)
        if venue == "binance" and kind == "TRADE":
            all_runs[key] = check_ids(rep, key, lst, bn.get(sym, {}))
        elif venue == "binance" and kind == "AGG_TRADE":
            check_aggs(rep, key, lst, bn.get(sym, {}))
        elif venue == "kraken" and kraken == "v2":
            all_runs[key] = check_ids(rep, key, lst, kr.get(sym, {}))
        elif venue == "kraken" and kraken == "v1":
            check_v1(rep, key, lst, kr_list.get(sym, []))
        else:
            rep.error("unexpected output group %s" % key)
    rep.stats["total"]["trades"] = len(outs)
    rep.stats["total"]["missing"] = sum(c for r in all_runs.values() for _, c in r)
    rep.stats["total"]["missing_runs"] = sum(len(r) for r in all_runs.values())
    return rep, all_runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("truth")
    ap.add_argument("output")
    ap.add_argument("--kraken", default="v2", choices=["v1", "v2"])
    ap.add_argument("--require-complete", action="store_true")
    a = ap.parse_args()
    rep, _ = compare(load_jsonl(a.truth), load_output(a.output)[0], a.kraken)
    json.dump(rep.as_dict(), sys.stdout, indent=1, default=str)
    print()
    bad = rep.errors or (a.require_complete and rep.stats["total"]["missing"] > 0)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
