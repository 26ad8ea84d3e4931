#!/usr/bin/python3
"""feedcmp - compares two trade feeds: the parallel-run validator and completeness audit.

Usage: feedcmp [options] LEFT RIGHT

A side is one of
  jsonl:PATH              normalized JSON lines as feedhandler's stream sink writes them (gap
                          records are the lines with first_missing_id); with a field map, JSON
                          lines in a foreign schema
  truth:PATH              feedsim's truth log
  kafka:BOOTSTRAP/TOPIC   a Kafka topic, read from the beginning to the high watermarks (its own
                          consumer group, nothing committed); values in Avro with Confluent
                          framing (schema by id from --registry), Avro single-object (our
                          schemas/trade.avsc, fingerprint checked) or JSON
  rest:VENUE:BASEURL      an exchange's REST trade history (binance: historicalTrades from the
                          window's first aggTrade; kraken: public Trades, v2 ids) for the
                          window (given, or the other side's span) and every symbol the other
                          side carries; audits the other side (tools/feedcmp/rest_source.py)

With --follow both sides are read continuously (kafka: from --from, by default the end; files
are tailed): a trade goes final once both sides are --settle past its trade time, a report is
printed every --interval and a final one on SIGTERM/SIGINT; memory holds the trades in flight
and runs of ids, not the run.

Trades are matched on (venue, symbol, kind, trade id); trades without an id (Kraken v1) on
(venue, symbol, kind, trade time, price, quantity, side, occurrence), a weaker key. Prices and
quantities are compared as exact decimals; a side carrying doubles is reported as rounding.

A side's gap records (inline; --left-gaps/--right-gaps SPEC; for kafka:.../T by default T.gaps
when it exists) declare ids missing: a final record (PARTIAL, UNRECOVERABLE) its missing_ranges,
a DETECTED record its whole gap while no final record of it has come. Trades missing on a side
are split into declared (inside such a range) and silent (not, or without an id).

Exit status: 0 the sides agree, 1 they differ, 2 error. See tools/feedcmp/README.md.

Run with /usr/bin/python3 (python3-confluent-kafka and python3-avro are needed only for kafka:
sides).
"""

import argparse
import bisect
import collections
import datetime
import heapq
import io
import json
import os
import re
import signal
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal, InvalidOperation

HERE = os.path.dirname(os.path.abspath(__file__))
OUR_SCHEMA_FILE = os.path.normpath(os.path.join(HERE, "..", "..", "schemas", "trade.avsc"))
OUR_RECORD_NAME = "feedhandler.Trade"
GAP_SCHEMA_FILE = os.path.normpath(os.path.join(HERE, "..", "..", "schemas", "gap.avsc"))
GAP_RECORD_NAME = "feedhandler.Gap"

SIDES = ("BUY", "SELL", "UNKNOWN")
KINDS = ("TRADE", "AGG_TRADE")
ORDER_TYPES = ("MARKET", "LIMIT", "UNKNOWN")

# The fields of a normalized trade that a field map can fill, and what they hold.
#   kind of value: str (text), enum (one of a set), id (integer), dec (exact decimal or double),
#   time (integer, in the unit of the name)
MAP_TARGETS = {
    "venue": "str",
    "native_symbol": "str",
    "symbol": "str",
    "kind": "enum",
    "trade_id": "id",
    "price": "dec",
    "quantity": "dec",
    "side": "enum",
    "order_type": "enum",
    "trade_time_us": "time",
    "event_time_us": "time",
    "receive_time_ns": "time",
}
ENUM_VALUES = {"kind": KINDS, "side": SIDES, "order_type": ORDER_TYPES}
REQUIRED_TARGETS = ("venue", "price", "quantity", "side", "trade_time_us")
SPEC_KEYS = {"field", "type", "scale", "enum", "const", "resolution"}
SPEC_TYPES = ("double", "decimal", "string", "long", "seconds")
# "seconds": a time given as (fractional) seconds, a JSON number or text, taken exactly
SECONDS_UNIT = {"trade_time_us": 10 ** 6, "event_time_us": 10 ** 6, "receive_time_ns": 10 ** 9}

# What each compared field is called in the report.
COMPARED = ("price", "quantity", "side", "trade_time", "order_type", "event_time")

# Fields of our normalized record (schemas/trade.avsc) and of feedsim's truth log, in our names.
OUR_FIELDS = ["venue", "symbol", "native_symbol", "kind", "trade_id", "first_trade_id",
              "last_trade_id", "price", "quantity", "side", "order_type", "trade_time",
              "event_time", "receive_time_ns", "source", "connection_id", "sequence"]
TRUTH_FIELDS = ["venue", "native_symbol", "kind", "trade_id", "price", "quantity", "side",
                "trade_time"]
TARGET_TO_REPORT = {"trade_time_us": "trade_time", "event_time_us": "event_time"}


class Failure(Exception):
    """An error that ends the run with exit status 2 and a one-line message."""


# ---- small parsers ----------------------------------------------------------------------------

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
                      r"([Zz]|[+-]\d{2}:\d{2})$")


def parse_time_us(text, what):
    """RFC 3339 (any number of fraction digits, truncated to µs) or an integer of µs."""
    t = text.strip()
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    m = _RFC3339.match(t)
    if not m:
        raise Failure("%s: %r is neither RFC 3339 nor an integer of microseconds" % (what, text))
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        dt = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                               tzinfo=datetime.timezone.utc)
    except ValueError as e:
        raise Failure("%s: %r: %s" % (what, text, e))
    off = 0
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        off = sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    td = dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    us = (td.days * 86400 + td.seconds - off) * 1000000
    if frac:
        us += int((frac + "000000")[:6])
    return us


_DUR_UNITS = {"us": 1, "ms": 1000, "s": 1000000, "m": 60000000, "h": 3600000000}


def parse_duration_us(text, what):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?\s*", text)
    if not m:
        raise Failure("%s: %r is not a duration (e.g. 5s, 500ms, 2m)" % (what, text))
    return int(Decimal(m.group(1)) * _DUR_UNITS[m.group(2) or "s"])


def fmt_time_us(us):
    if us is None:
        return "-"
    try:
        dt = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
            datetime.timedelta(microseconds=us)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except OverflowError:
        return str(us)


_JSON = json.JSONDecoder(parse_float=Decimal).decode
# confluent_kafka's TIMESTAMP_CREATE_TIME (1) and TIMESTAMP_LOG_APPEND_TIME (2)
_TS_TYPES = {1: "create_time", 2: "log_append_time"}


def where_text(w):
    """Where a record came from: a text, or a (format, values...) tuple made into one only
    when it is needed (an error message)."""
    return w if isinstance(w, str) else w[0] % w[1:]


def norm_venue(v):
    v = str(v).strip().lower()
    return "kraken" if v.startswith("kraken") else v


_KRAKEN_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


def norm_symbol(venue, sym):
    """The matching form of a symbol: upper case without separators, Kraken's XBT/XDG as
    BTC/DOGE; BTCUSDT, BTC-USDT and BTC/USDT are one symbol."""
    s = str(sym).strip().upper()
    parts = re.split(r"[/\-_:]", s)
    if venue == "kraken" and len(parts) == 2:
        parts = [_KRAKEN_ALIASES.get(p, p) for p in parts]
    return "".join(parts)


def to_decimal(v, what):
    if isinstance(v, Decimal):
        return v
    if isinstance(v, bool) or v is None:
        raise Failure("%s: %r is not a decimal" % (what, v))
    if isinstance(v, float):
        return Decimal(repr(v))
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        raise Failure("%s: %r is not a decimal" % (what, v))
    if not d.is_finite():
        raise Failure("%s: %r is not a finite decimal" % (what, v))
    return d


def to_int(v, what):
    if isinstance(v, bool):
        raise Failure("%s: %r is not an integer" % (what, v))
    if isinstance(v, int):
        return v
    if isinstance(v, Decimal) and v == v.to_integral_value():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
        return int(v)
    raise Failure("%s: %r is not an integer" % (what, v))


# ---- the normalized trade ---------------------------------------------------------------------


class Trade:
    """One trade, normalized. price/quantity are Decimal (exact) or float (a double)."""

    __slots__ = ("venue", "native", "symkey", "kind", "trade_id", "price", "quantity", "side",
                 "trade_time", "order_type", "event_time", "recv_ns", "weak", "where")

    def ident(self):
        if self.trade_id is not None:
            return self.trade_id
        return "t=%d p=%s q=%s %s" % (self.trade_time, dec_text(self.price),
                                      dec_text(self.quantity), self.side)


def dec_text(v):
    if isinstance(v, float):
        return repr(v)
    return str(v)


def exact_of(v):
    """The decimal a value stands for: a double through its repr (what a reader sees)."""
    return Decimal(repr(v)) if isinstance(v, float) else v


# ---- field maps -------------------------------------------------------------------------------


class FieldMap:
    """A declarative map from a foreign record to a normalized trade (a JSON object, see
    README.md): {target: {"field": NAME, "type": ..., "scale": N, "enum": {...}} or
    {"const": VALUE}}."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as f:
                spec = json.loads(f.read().decode("utf-8"))
        except OSError as e:
            raise Failure("map %s: %s" % (path, e.strerror or e))
        except ValueError as e:
            raise Failure("map %s: not JSON: %s" % (path, e))
        if not isinstance(spec, dict):
            raise Failure("map %s: not a JSON object" % path)
        self.spec = {}
        for target, s in spec.items():
            if target.startswith("_"):  # comments
                continue
            where = "map %s: %s" % (path, target)
            if target not in MAP_TARGETS:
                raise Failure("%s: unknown target field (known: %s)" %
                              (where, ", ".join(MAP_TARGETS)))
            if not isinstance(s, dict):
                raise Failure("%s: not an object" % where)
            bad = set(s) - SPEC_KEYS
            if bad:
                raise Failure("%s: unknown key(s) %s" % (where, ", ".join(sorted(bad))))
            if ("field" in s) == ("const" in s):
                raise Failure("%s: needs exactly one of \"field\" and \"const\"" % where)
            kind = MAP_TARGETS[target]
            if "const" in s:
                if set(s) != {"const"}:
                    raise Failure("%s: \"const\" takes no other keys" % where)
                c = s["const"]
                if kind == "enum" and c not in ENUM_VALUES[target]:
                    raise Failure("%s: const %r is not one of %s" %
                                  (where, c, "/".join(ENUM_VALUES[target])))
                if kind in ("str",) and not isinstance(c, str):
                    raise Failure("%s: const %r is not a string" % (where, c))
                if kind in ("id", "time") and (isinstance(c, bool) or not isinstance(c, int)):
                    raise Failure("%s: const %r is not an integer" % (where, c))
                if kind == "dec":
                    raise Failure("%s: a price or quantity cannot be a constant" % where)
            else:
                if not isinstance(s["field"], str) or not s["field"]:
                    raise Failure("%s: \"field\" must be a field name" % where)
                t = s.get("type")
                if t is not None and t not in SPEC_TYPES:
                    raise Failure("%s: type %r is not one of %s" % (where, t, ", ".join(SPEC_TYPES)))
                if t == "double" and kind != "dec":
                    raise Failure("%s: type double only for price and quantity" % where)
                if t == "seconds" and kind != "time":
                    raise Failure("%s: type seconds only for times" % where)
                if t == "seconds" and "scale" in s:
                    raise Failure("%s: seconds take no scale (the unit follows the target)" %
                                  where)
                if "resolution" in s:
                    r = s["resolution"]
                    if kind != "time" or isinstance(r, bool) or not isinstance(r, int) or r < 1:
                        raise Failure("%s: resolution must be a positive integer, in the "
                                      "target's unit, and only on times" % where)
                if "scale" in s:
                    sc = s["scale"]
                    if kind != "time" or isinstance(sc, bool) or not isinstance(sc, int) or sc < 1:
                        raise Failure("%s: scale must be a positive integer, and only on times "
                                      "(it multiplies: ms to us is 1000)" % where)
                if "enum" in s:
                    e = s["enum"]
                    if kind not in ("enum", "str") or not isinstance(e, dict) or not e:
                        raise Failure("%s: enum must be a non-empty object, on text fields" % where)
                    for k, v in e.items():
                        if kind == "enum" and v not in ENUM_VALUES[target]:
                            raise Failure("%s: enum maps %r to %r, not one of %s" %
                                          (where, k, v, "/".join(ENUM_VALUES[target])))
                        if not isinstance(v, str):
                            raise Failure("%s: enum maps %r to %r, not a string" % (where, k, v))
            self.spec[target] = s
        missing = [t for t in REQUIRED_TARGETS if t not in self.spec]
        if "native_symbol" not in self.spec and "symbol" not in self.spec:
            missing.append("native_symbol")
        if missing:
            raise Failure("map %s: missing target field(s) %s" % (path, ", ".join(missing)))

    def source_fields(self):
        return {s["field"] for s in self.spec.values() if "field" in s}

    def target_fields(self):
        """The normalized fields this map gives, in the report's names."""
        out = []
        for t in self.spec:
            out.append(TARGET_TO_REPORT.get(t, t))
        return out

    # -- checking against an Avro schema --

    def check_avro(self, schema, where):
        """Raises Failure when a mapped field is not in the record schema or its type does not
        fit. Fills self.decided: {target: "double"|"decimal"|"string"|"long"|"enum"}."""
        if getattr(schema, "type", None) != "record":
            raise Failure("%s: map %s: the schema is not a record" % (where, self.path))
        fields = {f.name: f.type for f in schema.fields}
        for target, s in self.spec.items():
            if "field" not in s:
                continue
            name = s["field"]
            w = "%s: map %s: %s -> %r" % (where, self.path, target, name)
            if name not in fields:
                raise Failure("%s: no such field in %s (fields: %s)" %
                              (w, schema.fullname, ", ".join(fields)))
            ft = fields[name]
            if ft.type == "union":
                branches = [b for b in ft.schemas if b.type != "null"]
                if len(branches) != 1:
                    raise Failure("%s: union %s is not [null, T]" % (w, ft))
                ft = branches[0]
            avt, logical = ft.type, ft.get_prop("logicalType")
            kind = MAP_TARGETS[target]
            declared = s.get("type")
            if kind == "dec":
                if avt in ("double", "float"):
                    got = "double"
                elif avt in ("bytes", "fixed") and logical == "decimal":
                    got = "decimal"
                elif avt == "string":
                    got = "decimal"  # decimal text
                elif avt in ("int", "long"):
                    got = "long"
                else:
                    raise Failure("%s: %s cannot hold a %s" % (w, avt, target))
                if declared is not None and declared != got and not (
                        declared in ("decimal", "string") and got == "decimal"):
                    raise Failure("%s: map says %s, the schema has %s%s" %
                                  (w, declared, avt, " (%s)" % logical if logical else ""))
            elif kind == "time" and declared == "seconds":
                if avt not in ("int", "long", "float", "double", "string"):
                    raise Failure("%s: seconds need a number or text, the schema has %s" %
                                  (w, avt))
            elif kind in ("id", "time"):
                if avt not in ("int", "long"):
                    raise Failure("%s: map needs an integer, the schema has %s" % (w, avt))
                if declared not in (None, "long"):
                    raise Failure("%s: map says %s, the schema has %s" % (w, declared, avt))
            else:  # str, enum
                if avt == "enum":
                    if "enum" in s:
                        unmapped = [x for x in ft.symbols if x not in s["enum"]]
                        if unmapped:
                            raise Failure("%s: enum %s symbol(s) %s not in the map's enum" %
                                          (w, ft.fullname, ", ".join(unmapped)))
                        extra = [x for x in s["enum"] if x not in ft.symbols]
                        if extra:
                            raise Failure("%s: the map's enum has %s, not symbols of %s (%s)" %
                                          (w, ", ".join(extra), ft.fullname,
                                           ", ".join(ft.symbols)))
                    elif kind == "enum":
                        bad = [x for x in ft.symbols if x not in ENUM_VALUES[target]]
                        if bad:
                            raise Failure("%s: enum symbol(s) %s need an \"enum\" mapping" %
                                          (w, ", ".join(bad)))
                elif avt != "string":
                    raise Failure("%s: map needs text, the schema has %s" % (w, avt))
                if declared not in (None, "string"):
                    raise Failure("%s: map says %s, the schema has %s" % (w, declared, avt))
        self.unmapped_source = [n for n in fields if n not in self.source_fields()]

    def check_json(self, obj, where):
        """The same check against the first record of a JSON-lines side (no schema there)."""
        for target, s in self.spec.items():
            if "field" not in s:
                continue
            name = s["field"]
            w = "%s: map %s: %s -> %r" % (where, self.path, target, name)
            if name not in obj:
                raise Failure("%s: no such field in the records (fields: %s)" %
                              (w, ", ".join(obj)))
            v = obj[name]
            kind = MAP_TARGETS[target]
            declared = s.get("type")
            if v is None:
                continue
            if kind == "dec":
                if declared == "double" and not isinstance(v, (Decimal, int, float)):
                    raise Failure("%s: map says double, the record has %s" %
                                  (w, type(v).__name__))
                if isinstance(v, bool) or not isinstance(v, (str, Decimal, int, float)):
                    raise Failure("%s: %r cannot be a %s" % (w, v, target))
            elif kind == "time" and declared == "seconds":
                if isinstance(v, bool) or not isinstance(v, (int, Decimal, float, str)):
                    raise Failure("%s: seconds need a number, the record has %r" % (w, v))
                to_decimal(v, w)
            elif kind in ("id", "time"):
                # an integer, or its decimal text (JSON producers often quote ids)
                if isinstance(v, bool) or not (isinstance(v, int) or (
                        isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()))):
                    raise Failure("%s: map needs an integer, the record has %r" % (w, v))
            else:
                if not isinstance(v, str):
                    raise Failure("%s: map needs text, the record has %r" % (w, v))
                if "enum" in s and v not in s["enum"]:
                    raise Failure("%s: value %r not in the map's enum" % (w, v))
        self.unmapped_source = [n for n in obj if n not in self.source_fields()]

    # -- applying --

    def apply(self, rec, where):
        out = {}
        for target, s in self.spec.items():
            if "const" in s:
                out[target] = s["const"]
                continue
            v = rec.get(s["field"])
            if v is None:
                out[target] = None
                continue
            kind = MAP_TARGETS[target]
            w = "%s: %s" % (where, s["field"])
            if kind == "dec":
                if s.get("type") == "double" or isinstance(v, float):
                    if isinstance(v, float):
                        out[target] = v
                    else:
                        out[target] = float(to_decimal(v, w))
                else:
                    out[target] = to_decimal(v, w)
            elif kind == "time" and s.get("type") == "seconds":
                out[target] = int((to_decimal(v, w) * SECONDS_UNIT[target])
                                  .to_integral_value())
            elif kind in ("id", "time"):
                out[target] = to_int(v, w) * s.get("scale", 1)
            else:
                if "enum" in s:
                    if v not in s["enum"]:
                        raise Failure("%s: value %r not in the map's enum" % (w, v))
                    v = s["enum"][v]
                out[target] = v
        return out

    def resolution(self, target):
        """The resolution of a mapped time, in the target's unit: "resolution" when given,
        else its scale (ms -> us: 1000)."""
        s = self.spec.get(target)
        if not s or "field" not in s:
            return 1
        return s.get("resolution", s.get("scale", 1))


# ---- sources ----------------------------------------------------------------------------------


class Side:
    """One side of the comparison: reads trades into normalized Trade objects."""

    def __init__(self, name, spec, opts, fmap):
        self.name = name
        self.spec = spec
        self.opts = opts
        self.fmap_given = fmap  # FieldMap or None
        self.fmap = None  # the map in use (foreign records only)
        self.records = 0
        self.n_trades = 0
        self.filtered = 0
        self.min_tt = self.max_tt = None
        self.doubles = False
        self.sink = None
        self.follow = False
        self.done = self.caught_up = False
        self._f = None
        self._consumer = None
        self.offsets = {}
        self.rest_stats = None
        self.natives = {}  # (venue, symkey) -> the native symbol first seen
        self._symcache = {}  # (venue, native_symbol) as in the records -> normalized
        # kafka: the record's timestamp (us) while it is decoded, and timestamp - trade time
        self._ts_us = None
        self._part = 0
        self._last_id = {}  # (partition, venue, symkey, kind) -> the highest id read
        self.out_of_order = 0
        self.ts_types = collections.Counter()
        self.broker_lag = Dist()
        self._fields_seen = 0
        self.gap_records = 0  # gap records among the trades (jsonl, or the trade topic)
        self.gaps = None  # GapLedger: the ids this side declares missing
        self.gaps_only = False  # a --left-gaps/--right-gaps source: gap records only
        self.gap_source = None  # the Side reading this side's separate gap source
        self.fields = set()
        self.unmapped = []
        self.tt_res = 1  # trade time resolution (us)
        self.recv_res = 1  # receive time resolution (ns)
        self.kind = spec.split(":", 1)[0]
        self.schema_name = None
        self.framings = collections.Counter()

    # -- records to trades --

    def _ours(self, d, where):
        """One of our normalized records. The common case (texts, integers, a symbol seen
        before) goes the short way; anything else, and every error, the careful one."""
        try:
            cached = self._symcache.get((d["venue"], d["native_symbol"]))
            tid, tt = d["trade_id"], d["trade_time"]
            if cached is None or type(tt) is not int or (tid is not None and type(tid) is not int):
                raise LookupError
            price, qty = Decimal(d["price"]), Decimal(d["quantity"])
            if not (price.is_finite() and qty.is_finite()):
                raise LookupError
            t = Trade()
            t.venue, t.native, t.symkey = cached
            t.kind = d.get("kind") or "TRADE"
            t.trade_id = tid
            t.price, t.quantity = price, qty
            side = d.get("side")
            t.side = side if side in SIDES else str(side or "UNKNOWN").upper()
            t.trade_time = tt
            ot = d.get("order_type")
            t.order_type = None if ot in (None, "UNKNOWN") else ot
            et, rn = d.get("event_time"), d.get("receive_time_ns")
            if (et is not None and type(et) is not int) or (rn is not None and type(rn) is not int):
                raise LookupError
            t.event_time, t.recv_ns = et, rn
            t.weak = tid is None
            t.where = where
        except (LookupError, TypeError, ValueError, ArithmeticError):
            return self._ours_slow(d, where_text(where))
        self._sample_fields(d)
        return t

    def _sample_fields(self, d):
        """Which of our fields the side carries: every record of the first 10,000, then one in
        a thousand (it is a report line, not worth a look at every field of every record)."""
        self._fields_seen += 1
        if self._fields_seen <= 10000 or self._fields_seen % 1000 == 0:
            for k in OUR_FIELDS:
                if d.get(k) is not None:
                    self.fields.add(k)

    def _ours_slow(self, d, where):
        t = Trade()
        venue = d.get("venue")
        if venue is None or d.get("price") is None or d.get("trade_time") is None:
            raise Failure("%s: not a trade record (needs venue, price, trade_time)" % where)
        t.venue = norm_venue(venue)
        t.native = d.get("native_symbol") or d.get("symbol")
        if t.native is None:
            raise Failure("%s: no native_symbol or symbol" % where)
        t.symkey = norm_symbol(t.venue, t.native)
        t.kind = d.get("kind") or "TRADE"
        t.trade_id = None if d.get("trade_id") is None else to_int(d["trade_id"], where + ": trade_id")
        t.price = to_decimal(d["price"], where + ": price")
        t.quantity = to_decimal(d.get("quantity"), where + ": quantity")
        t.side = str(d.get("side") or "UNKNOWN").upper()
        t.trade_time = to_int(d["trade_time"], where + ": trade_time")
        ot = d.get("order_type")
        t.order_type = None if ot in (None, "UNKNOWN") else ot
        t.event_time = None if d.get("event_time") is None else to_int(d["event_time"], where)
        t.recv_ns = None if d.get("receive_time_ns") is None else to_int(d["receive_time_ns"], where)
        t.weak = t.trade_id is None
        t.where = where
        if t.native == d.get("native_symbol") and isinstance(venue, str):
            self._symcache[(venue, t.native)] = (t.venue, t.native, t.symkey)
        self._sample_fields(d)
        return t

    def _truth(self, d, where):
        t = Trade()
        proto = str(d.get("venue", ""))
        t.venue = norm_venue(proto)
        t.native = d.get("native_symbol")
        if t.native is None or "trade_time_us" not in d or "price" not in d:
            raise Failure("%s: not a feedsim truth line" % where)
        t.symkey = norm_symbol(t.venue, t.native)
        t.kind = str(d.get("kind") or "TRADE").upper()
        # Kraken v1 has no ids on the wire: the truth's number is feedsim's, match weakly.
        t.trade_id = None if proto == "kraken_v1" or d.get("trade_id") is None else \
            to_int(d["trade_id"], where + ": trade_id")
        t.price = to_decimal(d["price"], where + ": price")
        t.quantity = to_decimal(d.get("quantity"), where + ": quantity")
        t.side = str(d.get("side") or "UNKNOWN").upper()
        t.trade_time = to_int(d["trade_time_us"], where + ": trade_time_us")
        t.order_type = t.event_time = t.recv_ns = None
        t.weak = t.trade_id is None
        t.where = where
        return t

    def _mapped(self, d, where):
        m = self.fmap.apply(d, where)
        t = Trade()
        if m.get("venue") is None or m.get("price") is None or m.get("trade_time_us") is None:
            raise Failure("%s: mapped record lacks venue, price or trade time" % where)
        t.venue = norm_venue(m["venue"])
        t.native = m.get("native_symbol") or m.get("symbol")
        if t.native is None:
            raise Failure("%s: mapped record has no symbol" % where)
        t.symkey = norm_symbol(t.venue, t.native)
        t.kind = m.get("kind") or "TRADE"
        t.trade_id = m.get("trade_id")
        t.price = m["price"]
        t.quantity = m.get("quantity")
        if t.quantity is None:
            raise Failure("%s: mapped record has no quantity" % where)
        t.side = m.get("side") or "UNKNOWN"
        t.trade_time = m["trade_time_us"]
        ot = m.get("order_type")
        t.order_type = None if ot in (None, "UNKNOWN") else ot
        t.event_time = m.get("event_time_us")
        t.recv_ns = m.get("receive_time_ns")
        t.weak = t.trade_id is None
        t.where = where
        for k, v in m.items():
            if v is not None:
                self.fields.add(TARGET_TO_REPORT.get(k, k))
        return t

    def _use_map(self, why):
        if self.fmap_given is None:
            raise Failure("%s (%s): records in a foreign schema (%s) and no --map" %
                          (self.name, self.spec, why))
        self.fmap = self.fmap_given
        self.tt_res = self.fmap.resolution("trade_time_us")
        self.recv_res = self.fmap.resolution("receive_time_ns")

    @staticmethod
    def _is_ours(d):
        return all(k in d for k in ("venue", "price", "trade_time")) and \
            ("native_symbol" in d or "symbol" in d)

    def add(self, d, where):
        """A decoded record (dict in its own field names)."""
        self.records += 1
        if "first_missing_id" in d or self.gaps_only:
            self.gap(d, where)
            return
        if self.fmap is not None:
            t = self._mapped(d, where_text(where))
        else:
            t = self._ours(d, where)
        self.emit(t)

    def gap(self, d, where):
        """A gap record (a dict with first_missing_id): its declared ids go to the ledger."""
        if "first_missing_id" not in d:
            raise Failure("%s: not a gap record (no first_missing_id) in a gap source" %
                          where_text(where))
        if not self.gaps_only:
            self.gap_records += 1
        if self.gaps is not None:
            self.gaps.add(d, where_text(where))

    def emit(self, t):
        """A normalized trade: filtered, counted, handed to the comparison."""
        o = self.opts
        if o.venues and t.venue not in o.venues:
            self.filtered += 1
            return
        if o.symbols and t.symkey not in o.symbols:
            self.filtered += 1
            return
        if o.kinds and t.kind not in o.kinds:
            self.filtered += 1
            return
        self.n_trades += 1
        if (t.venue, t.symkey) not in self.natives:
            self.natives[(t.venue, t.symkey)] = t.native
        tt = t.trade_time
        if self.min_tt is None or tt < self.min_tt:
            self.min_tt = tt
        if self.max_tt is None or tt > self.max_tt:
            self.max_tt = tt
        if not self.doubles and (isinstance(t.price, float) or isinstance(t.quantity, float)):
            self.doubles = True
        if self._ts_us is not None and o.lag_from <= self._ts_us < o.lag_to:
            self.broker_lag.add(self._ts_us - tt)
        if t.trade_id is not None:
            # order as read: within one partition (a file is one), a symbol's ids ascend
            ok = (self._part, t.venue, t.symkey, t.kind)
            last = self._last_id.get(ok)
            if last is not None and t.trade_id < last:
                self.out_of_order += 1
            else:
                self._last_id[ok] = t.trade_id
        self.sink(self.name, t)

    # -- reading: open, then poll until done (a batch run) or for ever (--follow) --

    def open(self, follow):
        """Opens the source. follow: read on past the end (a file is tailed, a topic consumed
        past its high watermarks); otherwise the source ends where it ends now."""
        self.follow = follow
        kind, _, rest = self.spec.partition(":")
        if kind in ("jsonl", "truth"):
            try:
                self._f = open(rest, "rb")
            except OSError as e:
                raise Failure("%s: cannot read %s: %s" % (self.name, rest, e.strerror or e))
            self._path = rest
            self._lineno = 0
            self._first = True
            if kind == "truth":
                self.fields = set(TRUTH_FIELDS)
        elif kind == "kafka":
            self._open_kafka(rest)
        elif kind == "rest":
            pass  # read by read_rest once the other side is known
        else:
            raise Failure("%s: unknown side %r" % (self.name, self.spec))

    def poll(self, n):
        """Reads up to n records; returns how many. Sets done (a batch source is exhausted)
        and caught_up (nothing more to read right now)."""
        if self.kind in ("jsonl", "truth"):
            return self._poll_lines(n)
        if self.kind == "kafka":
            return self._poll_kafka(n)
        self.done = self.caught_up = True
        return 0

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _poll_lines(self, n):
        f = self._f
        got = 0
        follow = self.follow
        while got < n:
            pos = f.tell() if follow else 0
            line = f.readline()
            if not line:
                self.caught_up = True
                self.done = not self.follow
                return got
            if follow and not line.endswith(b"\n"):
                f.seek(pos)  # a line still being written: read it whole next time
                self.caught_up = True
                return got
            self._lineno += 1
            got += 1
            where = ("%s:%d", self._path, self._lineno)
            try:
                d = _JSON(line.decode("utf-8"))
            except ValueError as e:
                if not line.strip():
                    continue
                raise Failure("%s: not JSON (%s)" % (where_text(where), e))
            if type(d) is not dict:
                raise Failure("%s: not a JSON object" % where_text(where))
            if self.kind == "truth":
                self.records += 1
                if d.get("blast") or "trade_time_us" not in d:
                    continue
                if self.opts.protocols and d.get("venue") not in self.opts.protocols:
                    self.filtered += 1  # feedsim logs a trade once per protocol it serves
                    continue
                self.emit(self._truth(d, where_text(where)))
                continue
            if "first_missing_id" in d or self.gaps_only:
                self.records += 1
                self.gap(d, where)
                continue
            if self._first:
                self._first = False
                if self.fmap_given is not None and (self.opts.forced_map(self.name) or
                                                    not self._is_ours(d)):
                    self._use_map("JSON lines without venue/price/trade_time")
                    self.fmap.check_json(d, "%s (%s)" % (self.name, self.spec))
                    self.unmapped = self.fmap.unmapped_source
                elif not self._is_ours(d):
                    self._use_map("JSON lines without venue/price/trade_time")
            self.add(d, where)
        self.caught_up = False
        return got

    # -- Kafka --

    def _open_kafka(self, rest, missing_ok=False):
        """Opens a topic; with missing_ok, False (and nothing open) when it does not exist."""
        if "/" not in rest:
            raise Failure("%s: kafka side must be kafka:BOOTSTRAP/TOPIC" % self.name)
        bootstrap, topic = rest.rsplit("/", 1)
        if not bootstrap or not topic:
            raise Failure("%s: kafka side must be kafka:BOOTSTRAP/TOPIC" % self.name)
        try:
            import avro.io
            import avro.schema
            from confluent_kafka import (Consumer, TopicPartition, OFFSET_BEGINNING, OFFSET_END,
                                         KafkaException)
        except ImportError as e:
            raise Failure("kafka sides need python3-confluent-kafka and python3-avro "
                          "(run with /usr/bin/python3): %s" % e)
        self._avro = (avro.io, avro.schema)
        self._kx = KafkaException
        self.by_id = {}
        self.topic = topic
        registry = self.opts.registry
        # The reader schema, checked against the map at start: the subject's latest version.
        if registry:
            latest = self._registry_get("/subjects/%s/versions/latest" %
                                        urllib.parse.quote(topic + "-value", safe=""),
                                        missing_ok=True)
            if latest is not None:
                sch = self._parse_schema(latest["schema"], "registry subject %s-value" % topic)
                self._decide_schema(sch, "subject %s-value" % topic)
        timeout_s = self.opts.kafka_timeout_us / 1e6
        group = self.opts.group or "feedcmp-%d-%d" % (os.getpid(), int(time.time()))
        try:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "%s-%s" % (group, self.name),
                          "enable.auto.commit": False, "enable.partition.eof": False,
                          "auto.offset.reset": "earliest", "log_level": 3})
        except KafkaException as e:
            raise Failure("%s: kafka consumer: %s" % (self.name, e))
        self._consumer = c
        frm = self.opts.start_at(self.name)
        try:
            if missing_ok:
                # asked of every topic: a request naming one may create it on a broker that
                # creates topics on first use
                md = c.list_topics(timeout=min(timeout_s, 30)).topics.get(topic)
                if md is None or md.error is not None or not md.partitions:
                    c.close()
                    self._consumer = None
                    return False
            md = c.list_topics(topic, timeout=min(timeout_s, 30)).topics.get(topic)
            if md is None or md.error is not None:
                raise Failure("%s: topic %s: %s" % (self.name, topic,
                                                    md.error if md is not None else "not found"))
            self._ends, parts = {}, []
            for p in sorted(md.partitions):
                lo, hi = c.get_watermark_offsets(TopicPartition(topic, p),
                                                 timeout=min(timeout_s, 30))
                self._ends[p] = hi
                parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
            if frm[0] == "end":
                for tp in parts:
                    tp.offset = OFFSET_END
            elif frm[0] == "time":
                q = [TopicPartition(topic, tp.partition, frm[1] // 1000) for tp in parts]
                got = c.offsets_for_times(q, timeout=min(timeout_s, 30))
                for tp, g in zip(parts, got):
                    # -1: nothing at or after that time (yet): start at the end
                    tp.offset = g.offset if g.offset >= 0 else OFFSET_END
            elif frm[0] == "offsets":
                for tp in parts:
                    if tp.partition in frm[1]:
                        tp.offset = frm[1][tp.partition]
                    elif "*" in frm[1]:
                        tp.offset = frm[1]["*"]
                unknown = set(frm[1]) - {tp.partition for tp in parts} - {"*"}
                if unknown:
                    raise Failure("%s: topic %s has no partition %s" %
                                  (self.name, topic, ", ".join(map(str, sorted(unknown)))))
            c.assign(parts)
            # Where reading starts, as offsets (for the end test and the report).
            self._pos = {}
            for tp in parts:
                if tp.offset >= 0:
                    self._pos[tp.partition] = tp.offset - 1
                elif tp.offset == OFFSET_END:
                    self._pos[tp.partition] = self._ends[tp.partition] - 1
            if not self.follow and frm[0] != "beginning":
                # the partitions whose start is not yet known (BEGINNING) keep -1
                pass
        except KafkaException as e:
            raise Failure("%s: kafka: %s" % (self.name, e))
        self._deadline = time.monotonic() + timeout_s
        self.offsets = {}  # partition -> [first offset read, last offset read]
        return True

    def _kafka_remaining(self):
        return any(self._pos.get(p, -1) + 1 < hi for p, hi in self._ends.items())

    def _poll_kafka(self, n):
        c = self._consumer
        if not self.follow and not self._kafka_remaining():
            self.done = self.caught_up = True
            return 0
        if not self.follow and time.monotonic() > self._deadline:
            raise Failure("%s: timed out reading %s (at %r of %r)" %
                          (self.name, self.topic, self._pos, self._ends))
        try:
            msgs = c.consume(num_messages=max(1, min(n, 5000)),
                             timeout=0.2 if self.follow else 1.0)
        except self._kx as e:
            raise Failure("%s: kafka: %s" % (self.name, e))
        got = 0
        for m in msgs:
            if m.error() is not None:
                raise Failure("%s: consumer: %s" % (self.name, m.error()))
            p, off = m.partition(), m.offset()
            self._pos[p] = off
            if not self.follow and off >= self._ends.get(p, 0):
                continue  # produced after we started: not part of this snapshot
            o = self.offsets.get(p)
            if o is None:
                self.offsets[p] = [off, off]
            else:
                o[1] = off
            got += 1
            v = m.value()
            if v is None:
                continue
            where = "%s p%d@%d" % (self.topic, p, off)
            tst, ts = m.timestamp()
            self.ts_types[_TS_TYPES.get(tst, "none")] += 1
            self._ts_us = ts * 1000 if tst in _TS_TYPES and ts >= 0 else None
            self._part = p
            self.add(self._decode(v, where), where)
        self._ts_us = None
        self.caught_up = not msgs
        if not self.follow and not self._kafka_remaining():
            self.done = self.caught_up = True
        return got

    # -- an exchange's REST history (rest:VENUE:BASEURL, a batch run only) --

    def read_rest(self, other, start_us, end_us):
        """Reads the venue's REST history for [start_us, end_us) of every symbol of that venue
        the other side has (or --symbol)."""
        rest = self.spec.split(":", 1)[1]
        raw_venue, _, base = rest.partition(":")
        venue = norm_venue(raw_venue)
        if venue not in ("binance", "kraken") or not base:
            raise Failure("%s: rest side must be rest:binance:BASEURL or rest:kraken:BASEURL" %
                          self.name)
        try:
            import rest_source
        except ImportError as e:
            raise Failure("rest sides need tools/feedcmp/rest_source.py: %s" % e)
        natives = sorted(n for (v, _k), n in other.natives.items() if v == venue)
        if not natives:
            raise Failure("%s: no %s symbols to ask for (the other side has none in the "
                          "window; name them with --symbol)" % (self.name, venue))
        src = rest_source.RestHistory(raw_venue, base, timeout_s=self.opts.rest_timeout_s,
                                      weight_share=self.opts.rest_weight_share,
                                      kraken_interval_s=self.opts.rest_kraken_interval_s)
        try:
            for native in natives:
                for d in src.trades(native, start_us, end_us):
                    self.records += 1
                    self.emit(self._ours(d, "%s %s id %s" % (self.spec, native,
                                                              d.get("trade_id"))))
        except (rest_source.RestError, ValueError) as e:
            raise Failure("%s: %s" % (self.name, e))
        self.rest_stats = src.stats
        self.done = self.caught_up = True

    def _registry_get(self, path, missing_ok=False):
        url = self.opts.registry.rstrip("/") + path
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if missing_ok and e.code == 404:
                return None
            raise Failure("registry %s: HTTP %d" % (url, e.code))
        except (OSError, ValueError) as e:
            raise Failure("registry %s: %s" % (url, e))

    def _parse_schema(self, text, what):
        try:
            return self._avro[1].parse(text)
        except Exception as e:  # noqa: BLE001 - any parse failure
            raise Failure("%s: not an Avro schema: %s" % (what, e))

    def _decide_schema(self, sch, what):
        """Ours (feedhandler.Trade) or foreign (then the map must fit it). Our gap schema
        (feedhandler.Gap) is never a trade schema: on a trade topic its records are gap
        records; a gap source takes nothing else."""
        name = getattr(sch, "fullname", None)
        if self.gaps_only:
            if name != GAP_RECORD_NAME:
                raise Failure("%s (%s): %s is %s, not feedhandler's gap schema (%s)" %
                              (self.name, self.spec, what, name, GAP_RECORD_NAME))
            self.schema_name = name
            return
        if name == GAP_RECORD_NAME:
            return
        if self.schema_name is not None:
            if name != self.schema_name:
                raise Failure("%s: records in two schemas, %s and %s" %
                              (self.name, self.schema_name, name))
            return
        self.schema_name = name
        if name == OUR_RECORD_NAME and not self.opts.forced_map(self.name):
            return
        self._use_map("%s is %s" % (what, name))
        self.fmap.check_avro(sch, "%s (%s)" % (self.name, self.spec))
        self.unmapped = self.fmap.unmapped_source

    def _our_schema(self, path=OUR_SCHEMA_FILE):
        """schemas/trade.avsc (or gap.avsc) parsed, and its CRC-64-AVRO fingerprint."""
        cache = self.__dict__.setdefault("_schema_files", {})
        if path not in cache:
            try:
                with open(path) as f:
                    text = f.read()
            except OSError as e:
                raise Failure("cannot read %s: %s" % (path, e.strerror or e))
            cache[path] = (self._parse_schema(text, path),
                           crc64_avro(canonical_form(json.loads(text)).encode()))
        return cache[path]

    def _decode(self, value, where):
        avro_io = self._avro[0]
        if value[:1] == b"\x00" and len(value) > 5:
            (sid,) = struct.unpack(">I", value[1:5])
            if sid not in self.by_id:
                if not self.opts.registry:
                    raise Failure("%s: Confluent-framed record (schema id %d) and no --registry" %
                                  (where, sid))
                got = self._registry_get("/schemas/ids/%d" % sid)
                sch = self._parse_schema(got["schema"], "registry schema id %d" % sid)
                self.by_id[sid] = sch
            sch = self.by_id[sid]
            self._decide_schema(sch, "schema id %d" % sid)
            body = value[5:]
            self.framings["confluent"] += 1
        elif value[:2] == b"\xc3\x01" and len(value) >= 10:
            (fp,) = struct.unpack("<Q", value[2:10])
            sch, ours_fp = self._our_schema()
            if fp != ours_fp:
                gsch, gap_fp = self._our_schema(GAP_SCHEMA_FILE)
                if fp != gap_fp:
                    raise Failure("%s: single-object fingerprint %016x is not schemas/trade.avsc's "
                                  "(%016x)%s" % (where, fp, ours_fp, " nor schemas/gap.avsc's"
                                                 if self.gaps_only else ""))
                sch = gsch
            self._decide_schema(sch, "single-object")
            body = value[10:]
            self.framings["single-object"] += 1
        else:
            self.framings["json"] += 1
            try:
                d = json.loads(value, parse_float=Decimal)
            except ValueError as e:
                raise Failure("%s: neither Avro framing nor JSON (%s)" % (where, e))
            if self.fmap is None and self.schema_name is None:
                self.schema_name = "json"
                if self.fmap_given is not None and (self.opts.forced_map(self.name) or
                                                    not self._is_ours(d)):
                    self._use_map("JSON records")
                    self.fmap.check_json(d, "%s (%s)" % (self.name, self.spec))
                    self.unmapped = self.fmap.unmapped_source
            return d
        bio = io.BytesIO(body)
        try:
            d = avro_io.DatumReader(sch).read(_raw_time_decoder(avro_io)(bio))
        except Exception as e:  # noqa: BLE001 - a bad record is an error
            raise Failure("%s: Avro decode failed: %s" % (where, e))
        return d


_DECODER = None


def _raw_time_decoder(avro_io):
    """python3-avro's BinaryDecoder with timestamps as raw longs (not datetimes)."""
    global _DECODER
    if _DECODER is None:
        class RawTimes(avro_io.BinaryDecoder):
            def read_timestamp_micros_from_long(self):
                return self.read_long()

            def read_timestamp_millis_from_long(self):
                return self.read_long()
        _DECODER = RawTimes
    return _DECODER


def canonical_form(node):
    """Avro Parsing Canonical Form (specification: PRIMITIVES, FULLNAMES, STRIP, ORDER,
    STRINGS, INTEGERS, WHITESPACE)."""
    def full(name, ns):
        return name if "." in name or not ns else ns + "." + name

    def walk(n, ns):
        if isinstance(n, str):
            return json.dumps(n if n in ("null", "boolean", "int", "long", "float", "double",
                                         "bytes", "string") else full(n, ns))
        if isinstance(n, list):
            return "[" + ",".join(walk(x, ns) for x in n) + "]"
        t = n["type"]
        if t in ("record", "error", "enum", "fixed"):
            name = full(n["name"], n.get("namespace", ns))
            nns = name.rsplit(".", 1)[0] if "." in name else ""
            parts = ['"name":' + json.dumps(name), '"type":' + json.dumps(t)]
            if t in ("record", "error"):
                parts.append('"fields":[' + ",".join(
                    '{"name":%s,"type":%s}' % (json.dumps(f["name"]), walk(f["type"], nns))
                    for f in n["fields"]) + "]")
            elif t == "enum":
                parts.append('"symbols":' + json.dumps(n["symbols"], separators=(",", ":")))
            else:
                parts.append('"size":%d' % n["size"])
            return "{" + ",".join(parts) + "}"
        if t == "array":
            return '{"type":"array","items":%s}' % walk(n["items"], ns)
        if t == "map":
            return '{"type":"map","values":%s}' % walk(n["values"], ns)
        return walk(t, ns)
    return walk(node, "")


CRC64_EMPTY = 0xC15D213AA4D7A795
_CRC_TABLE = []


def crc64_avro(data):
    if not _CRC_TABLE:
        for i in range(256):
            fp = i
            for _ in range(8):
                fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1))
            _CRC_TABLE.append(fp)
    fp = CRC64_EMPTY
    for b in data:
        fp = (fp >> 8) ^ _CRC_TABLE[(fp ^ b) & 0xFF]
    return fp


# ---- comparison -------------------------------------------------------------------------------


def id_ranges(ids, limit):
    """Runs of consecutive integer ids: [[first, last], ...] (at most limit)."""
    out = []
    for i in sorted(x for x in ids if isinstance(x, int)):
        if out and out[-1][1] + 1 == i:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out[:limit], len(out)


def sort_ids(ids):
    return sorted(ids, key=lambda x: (0, x, "") if isinstance(x, int) else (1, 0, str(x)))


def id_sort_key(x):
    return (0, x, "") if isinstance(x, int) else (1, 0, str(x))


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


class IdSet:
    """A set of integer ids kept as sorted disjoint runs [lo, hi]: a feed's consecutive ids
    cost one run, so memory grows with the holes, not with the trades. Past `cap` runs the
    lowest run is forgotten (its ids counted in `forgotten`)."""

    __slots__ = ("lo", "hi", "n", "cap", "forgotten")

    def __init__(self, cap=100000):
        self.lo, self.hi = [], []
        self.n = 0
        self.cap = cap
        self.forgotten = 0

    def __len__(self):
        return self.n

    def __contains__(self, x):
        lo = self.lo
        if not lo:
            return False
        if x > self.hi[-1]:
            return False
        i = bisect.bisect_right(lo, x) - 1
        return i >= 0 and x <= self.hi[i]

    def add(self, x):
        """Adds x; False when it was there."""
        lo, hi = self.lo, self.hi
        if lo and x > hi[-1]:  # the common case: the next id
            i = len(lo) - 1
        else:
            i = bisect.bisect_right(lo, x) - 1
            if i >= 0 and x <= hi[i]:
                return False
        self.n += 1
        join_l = i >= 0 and hi[i] + 1 == x
        join_r = i + 1 < len(lo) and lo[i + 1] - 1 == x
        if join_l and join_r:
            hi[i] = hi[i + 1]
            del lo[i + 1], hi[i + 1]
        elif join_l:
            hi[i] = x
        elif join_r:
            lo[i + 1] = x
        else:
            lo.insert(i + 1, x)
            hi.insert(i + 1, x)
            if len(lo) > self.cap:
                k = hi[0] - lo[0] + 1
                self.forgotten += k
                self.n -= k
                del lo[0], hi[0]
        return True

    def discard(self, x):
        """Removes x; False when it was not there."""
        lo, hi = self.lo, self.hi
        i = bisect.bisect_right(lo, x) - 1
        if i < 0 or x > hi[i]:
            return False
        self.n -= 1
        if lo[i] == hi[i]:
            del lo[i], hi[i]
        elif x == lo[i]:
            lo[i] += 1
        elif x == hi[i]:
            hi[i] -= 1
        else:
            lo.insert(i + 1, x + 1)
            hi.insert(i + 1, hi[i])
            hi[i] = x - 1
        return True

    def runs(self, limit):
        return [[a, b] for a, b in zip(self.lo[:limit], self.hi[:limit])]

    def first(self, limit):
        out = []
        for a, b in zip(self.lo, self.hi):
            for x in range(a, min(b, a + limit - len(out) - 1) + 1):
                out.append(x)
            if len(out) >= limit:
                break
        return out


class RangeSet:
    """Integer ids as sorted disjoint, non-adjacent runs [lo, hi], added a range at a time (a
    gap's declared ranges may hold millions of ids: never one at a time)."""

    __slots__ = ("lo", "hi")

    def __init__(self):
        self.lo, self.hi = [], []

    def add(self, a, b):
        lo, hi = self.lo, self.hi
        i = bisect.bisect_left(hi, a - 1)  # the first run that reaches a (or touches it)
        j = bisect.bisect_right(lo, b + 1)  # the runs from i up to j overlap or touch [a, b]
        if i < j:
            a, b = min(a, lo[i]), max(b, hi[j - 1])
        lo[i:j] = [a]
        hi[i:j] = [b]

    def __contains__(self, x):
        i = bisect.bisect_right(self.lo, x) - 1
        return i >= 0 and x <= self.hi[i]

    def size(self):
        return sum(b - a + 1 for a, b in zip(self.lo, self.hi))

    def copy(self):
        c = RangeSet()
        c.lo, c.hi = list(self.lo), list(self.hi)
        return c


def split_declared(missing, declared, limit):
    """Missing ids (an IdSet) against declared ranges (a RangeSet or None): (how many are
    declared, the first `limit` runs of the others, how many runs the others make)."""
    n_decl, silent, n_silent_runs = 0, [], 0
    dlo, dhi = (declared.lo, declared.hi) if declared is not None else ([], [])
    j = 0
    for a, b in zip(missing.lo, missing.hi):
        while j < len(dlo) and dhi[j] < a:
            j += 1
        x = a  # the first id of [a, b] not looked at yet
        k = j
        while x <= b:
            if k < len(dlo) and dlo[k] <= b:
                if dlo[k] > x:  # silent ids before the declared range
                    n_silent_runs += 1
                    if len(silent) < limit:
                        silent.append([x, dlo[k] - 1])
                top = min(b, dhi[k])
                n_decl += top - max(x, dlo[k]) + 1
                x = top + 1
                k += 1
            else:
                n_silent_runs += 1
                if len(silent) < limit:
                    silent.append([x, b])
                x = b + 1
    return n_decl, silent, n_silent_runs


GAP_FINAL = ("PARTIAL", "UNRECOVERABLE")
GAP_STATUSES = ("DETECTED", "FILLED") + GAP_FINAL


class GapLedger:
    """One side's gap records (feedhandler's schemas/gap.avsc, as a dict) and the ids they
    declare missing, per (venue, symbol key, kind), normalized as trades are.

    A final record (PARTIAL, UNRECOVERABLE) declares its missing_ranges; FILLED declares
    nothing. A DETECTED record declares its whole gap [first_missing_id, last_missing_id] for
    as long as no final record of the same gap has been read (paired, as docs/OPERATIONS.md
    says, by venue, symbol, kind, first and last id and detected_time_ns): a gap whose final
    record never came (the handler was killed) was still declared when it was seen."""

    def __init__(self, opts):
        self.opts = opts
        self.sources = []  # where the records come from, for the report
        self.records = 0
        self.filtered = 0
        self.status = collections.Counter()
        self.truncated = 0
        self.final = {}  # (venue, symkey, kind) -> RangeSet of final records' ranges
        self.final_ids = 0  # the sum of final records' range sizes
        self.final_missing = 0  # the sum of final records' missing_count
        self.open = {}  # (venue, symkey, kind) -> {(first, last, detected_time): missing_count}
        self.closed = set()  # (venue, symkey, kind, first, last, detected_time) of final records

    def add(self, d, where):
        self.records += 1
        w = "%s: gap record" % where

        def need(k):
            if d.get(k) is None:
                raise Failure("%s: no %s" % (w, k))
            return d[k]
        venue = norm_venue(need("venue"))
        native = d.get("native_symbol") or need("symbol")
        symkey = norm_symbol(venue, native)
        kind = str(d.get("kind") or "TRADE").upper()
        status = str(need("status")).upper()
        if status not in GAP_STATUSES:
            raise Failure("%s: status %r is not one of %s" % (w, status, ", ".join(GAP_STATUSES)))
        first = to_int(need("first_missing_id"), w + ": first_missing_id")
        last = to_int(need("last_missing_id"), w + ": last_missing_id")
        if last < first:
            raise Failure("%s: last_missing_id %d < first_missing_id %d" % (w, last, first))
        dt = d.get("detected_time_ns")
        o = self.opts
        if (o.venues and venue not in o.venues) or (o.symbols and symkey not in o.symbols) or \
                (o.kinds and kind not in o.kinds):
            self.filtered += 1
            return
        self.status[status] += 1
        gk = (venue, symkey, kind)
        gap = (first, last, dt)
        if status == "DETECTED":
            if gk + gap not in self.closed:  # a final record read first leaves nothing open
                self.open.setdefault(gk, {})[gap] = (
                    to_int(d["missing_count"], w + ": missing_count")
                    if d.get("missing_count") is not None else last - first + 1)
            return
        self.closed.add(gk + gap)
        op = self.open.get(gk)
        if op is not None:
            op.pop(gap, None)
            if not op:
                del self.open[gk]
        if status == "FILLED":
            return
        if d.get("ranges_truncated"):
            self.truncated += 1
        if d.get("missing_count") is not None:
            self.final_missing += to_int(d["missing_count"], w + ": missing_count")
        rs = self.final.get(gk)
        if rs is None:
            rs = self.final[gk] = RangeSet()
        for r in d.get("missing_ranges") or ():
            if not isinstance(r, dict):
                raise Failure("%s: missing_ranges holds %r, not {first, last, reason}" % (w, r))
            a = to_int(r.get("first"), w + ": missing_ranges.first")
            b = to_int(r.get("last"), w + ": missing_ranges.last")
            if b < a:
                raise Failure("%s: missing range %d-%d is backwards" % (w, a, b))
            rs.add(a, b)
            self.final_ids += b - a + 1

    def declared(self, gk):
        """The ids declared missing for (venue, symkey, kind): a RangeSet, or None."""
        rs = self.final.get(gk)
        op = self.open.get(gk)
        if not op:
            return rs
        rs = rs.copy() if rs is not None else RangeSet()
        for first, last, _dt in op:
            rs.add(first, last)
        return rs

    def info(self):
        detected_only = sum(len(v) for v in self.open.values())
        open_ids = sum(last - first + 1 for v in self.open.values() for first, last, _ in v)
        return {"sources": self.sources, "records": self.records, "filtered_out": self.filtered,
                "by_status": {s: self.status[s] for s in GAP_STATUSES},
                "detected_only": detected_only, "ranges_truncated_records": self.truncated,
                # the sum of the declared ranges' sizes (a truncated last range counts whole)
                "declared_ids": self.final_ids + open_ids,
                # the records' own exact missing_count, summed the same way
                "declared_missing_count": self.final_missing +
                sum(c for v in self.open.values() for c in v.values())}


class Dist:
    """A distribution of integers (receive-time differences, ns): exact counts of each value
    up to 65,536 distinct values, then log buckets (2^-7 relative width: quantiles within
    0.8%) so memory stays bounded on a long run."""

    EXACT_MAX = 65536

    def __init__(self):
        self.exact = collections.Counter()
        self.buckets = None
        self.n = 0
        self.lo = self.hi = None

    @staticmethod
    def _bucket(v):
        a = abs(v)
        if a < 256:
            return v
        e = a.bit_length() - 8
        b = (a >> e) << e  # keep the top 8 bits
        return b if v > 0 else -b

    def add(self, v):
        self.n += 1
        if self.lo is None or v < self.lo:
            self.lo = v
        if self.hi is None or v > self.hi:
            self.hi = v
        if self.buckets is None:
            self.exact[v] += 1
            if len(self.exact) > self.EXACT_MAX:
                self._to_buckets()
        else:
            self.buckets[self._bucket(v)] += 1

    def _to_buckets(self):
        self.buckets = collections.Counter()
        for k, c in self.exact.items():
            self.buckets[self._bucket(k)] += c
        self.exact = None

    def merge(self, other):
        src = other.exact if other.exact is not None else other.buckets
        self.n += other.n
        self.lo = other.lo if self.lo is None or (other.lo is not None and other.lo < self.lo) \
            else self.lo
        self.hi = other.hi if self.hi is None or (other.hi is not None and other.hi > self.hi) \
            else self.hi
        if self.buckets is None and other.exact is not None:
            self.exact.update(src)
            if len(self.exact) > self.EXACT_MAX:
                self._to_buckets()
            return
        if self.buckets is None:
            self._to_buckets()
        for k, c in src.items():
            self.buckets[self._bucket(k)] += c

    def quantile(self, q):
        src = self.exact if self.exact is not None else self.buckets
        k = max(0, min(self.n - 1, int(-(-q * self.n // 100)) - 1))
        seen = 0
        for v in sorted(src):
            seen += src[v]
            if seen > k:
                return v
        return self.hi


class RoundStats:
    """A side carrying doubles, compared with the other side's exact decimals."""

    def __init__(self):
        self.compared = 0
        self.not_nearest = 0
        self.inexact_repr = 0
        self.worst_abs = Decimal(0)
        self.worst_abs_at = None
        self.worst_rel = Decimal(0)
        self.worst_rel_at = None
        self.worst_binary_abs = Decimal(0)

    def add(self, dbl, exact, ident):
        self.compared += 1
        via_repr = Decimal(repr(dbl))
        err = abs(via_repr - exact)
        if err:
            self.inexact_repr += 1
        if err > self.worst_abs or self.worst_abs_at is None:
            self.worst_abs, self.worst_abs_at = err, ident
        rel = err / abs(exact) if exact else (Decimal(0) if not err else Decimal("Infinity"))
        if rel > self.worst_rel or self.worst_rel_at is None:
            self.worst_rel, self.worst_rel_at = rel, ident
        berr = abs(Decimal(dbl) - exact)
        if berr > self.worst_binary_abs:
            self.worst_binary_abs = berr
        nearest = float(exact) == dbl
        if not nearest:
            self.not_nearest += 1
        return nearest

    def as_dict(self):
        return {"compared": self.compared, "not_nearest_double": self.not_nearest,
                "repr_differs_from_exact": self.inexact_repr,
                "worst_abs_error": str(self.worst_abs), "worst_abs_error_id": self.worst_abs_at,
                "worst_rel_error": "%.3e" % self.worst_rel if self.worst_rel.is_finite()
                else "inf",
                "worst_rel_error_id": self.worst_rel_at,
                "worst_binary_abs_error": "%.3e" % self.worst_binary_abs}


def compare_dec(a, b, ident, rounds):
    """(equal, left text, right text); doubles against exact decimals go through rounds."""
    fa, fb = isinstance(a, float), isinstance(b, float)
    if fa and fb:
        return a == b
    if fa:
        return rounds["left"].add(a, b, ident)
    if fb:
        return rounds["right"].add(b, a, ident)
    return a == b


class Examples:
    """A count and the `limit` examples with the smallest ids."""

    __slots__ = ("count", "items", "limit")

    def __init__(self, limit):
        self.count = 0
        self.items = []
        self.limit = limit

    def add(self, ident, *rest):
        self.count += 1
        self.items.append((id_sort_key(ident), ident) + rest)
        if len(self.items) > 4 * self.limit:
            self.items.sort(key=lambda x: x[0])
            del self.items[self.limit:]

    def first(self):
        self.items.sort(key=lambda x: x[0])
        return [x[1:] for x in self.items[:self.limit]]


class Group:
    """What one (venue, symbol, kind) has come to: counts, missing, duplicates, mismatches."""

    def __init__(self, venue, symkey, kind, limit):
        self.venue, self.symkey, self.kind = venue, symkey, kind
        self.natives = {"left": None, "right": None}
        self.count = {"left": 0, "right": 0}
        self.matched = 0
        # ids missing on that side (runs); weak keys as a count and the first ones
        self.missing = {"left": IdSet(), "right": IdSet()}
        self.missing_weak = {"left": Examples(limit), "right": Examples(limit)}
        self.missing_tt = {"left": [None, None], "right": [None, None]}
        self.unsettled = {"left": 0, "right": 0}
        self.late = {"left": 0, "right": 0}
        self.dups = {"left": Examples(limit), "right": Examples(limit)}
        self.dup_copies = {"left": collections.Counter(), "right": collections.Counter()}
        self.mism = {}  # field -> Examples of (ident, left, right)
        self.outside = {"left": Examples(limit), "right": Examples(limit)}
        self.recv = Dist()
        self.weak = False
        self.limit = limit

    def add_missing(self, lacks, t):
        if t.trade_id is not None:
            self.missing[lacks].add(t.trade_id)
        else:
            self.missing_weak[lacks].add(t.ident())
        mt = self.missing_tt[lacks]
        if mt[0] is None or t.trade_time < mt[0]:
            mt[0] = t.trade_time
        if mt[1] is None or t.trade_time > mt[1]:
            mt[1] = t.trade_time

    def missing_count(self, n):
        return len(self.missing[n]) + self.missing[n].forgotten + self.missing_weak[n].count

    def add_dup(self, n, ident, copies):
        self.dups[n].count += copies
        c = self.dup_copies[n]
        if ident in c or len(c) < 10 * self.limit:
            c[ident] += copies
            if ident not in [x[1] for x in self.dups[n].items]:
                self.dups[n].items.append((id_sort_key(ident), ident))
                if len(self.dups[n].items) > 4 * self.limit:
                    self.dups[n].items.sort(key=lambda x: x[0])
                    for x in self.dups[n].items[self.limit:]:
                        c.pop(x[1], None)
                    del self.dups[n].items[self.limit:]

    def mismatch(self, field, ident, a, b):
        e = self.mism.get(field)
        if e is None:
            e = self.mism[field] = Examples(self.limit)
        e.add(ident, a, b)


OTHER = {"left": "right", "right": "left"}
SIDE_IX = {"left": 0, "right": 1}


class Comparer:
    """Matches the two sides' trades as they arrive.

    A trade waits in `pending` until its copy from the other side comes (then both are
    compared and dropped, their ids kept as runs in `seen` to recognise later duplicates) or
    until it is final: at the end of a batch run, or in --follow once both sides are `settle`
    past its trade time (then it is missing on the other side). Memory is the trades in flight,
    not the run: what is kept of the past is counts, id runs and a few examples."""

    def __init__(self, opts, key_tres, follow):
        self.opts = opts
        self.limit = opts.max_list
        self.follow = follow
        self.key_tres = key_tres
        self.start, self.end = opts.window_start, opts.window_end
        self.settle = opts.settle_us
        self.pending = {}  # key -> [left trade, right trade, left copies, right copies]
        self.heap = []  # (trade time, seq, key): the order in which pending trades go final
        self.seq = 0
        self.seen = {}  # (venue, symkey, kind) -> (IdSet left, IdSet right)
        self.groups = {}
        self.occ = {"left": collections.Counter(), "right": collections.Counter()}
        self.rounds = {"left": RoundStats(), "right": RoundStats()}
        self.outside_count = {"left": 0, "right": 0}
        self.forced = 0
        self.first_tt = {}  # (venue, symkey, kind) -> [first trade time left, right]
        self.tres = 1
        self.sides = None

    # -- the window --

    def window(self, final):
        """(start, end): explicit edges, or the overlap of the sides' trade times (end None
        while following: the window is open)."""
        spans = [(s.min_tt, s.max_tt) for s in self.sides if s.min_tt is not None]
        start = self.start if self.start is not None else (
            max(a for a, _ in spans) if spans else 0)
        if self.end is not None:
            end = self.end
        elif self.follow and not final:
            end = None
        elif self.follow:
            end = min(self.frontier(s) for s in self.sides) + 1
        else:
            end = min(b for _, b in spans) + 1 if spans else 0
        return start, end

    def frontier(self, side):
        """How far a side has come in trade time: its latest trade, or, while it has nothing
        more to read, now less the settle margin (a quiet feed has everything up to now)."""
        f = side.max_tt if side.max_tt is not None else -1
        if self.follow and side.caught_up:
            f = max(f, int(time.time() * 1e6) - self.settle)
        return f

    # -- adding --

    def group(self, t):
        k = (t.venue, t.symkey, t.kind)
        g = self.groups.get(k)
        if g is None:
            g = self.groups[k] = Group(t.venue, t.symkey, t.kind, self.limit)
        return g

    def add(self, name, t):
        ix = SIDE_IX[name]
        gk = (t.venue, t.symkey, t.kind)
        ft = self.first_tt.get(gk)
        if ft is None:
            ft = self.first_tt[gk] = [None, None]
        if ft[ix] is None or t.trade_time < ft[ix]:
            ft[ix] = t.trade_time
        if t.weak:
            base = (t.venue, t.symkey, t.kind, t.trade_time // self.key_tres, exact_of(t.price),
                    exact_of(t.quantity), t.side)
            occ = self.occ[name]
            key = base + (occ[base],)
            occ[base] += 1
        else:
            base = None
            key = (t.venue, t.symkey, t.kind, t.trade_id)
        e = self.pending.get(key)
        if e is not None:
            if e[ix] is None:
                e[ix] = t
                e[2 + ix] = 1
                del self.pending[key]
                self._resolve(e, key)
            else:
                e[2 + ix] += 1
            return
        if not t.weak:
            gk = key[:3]
            seen = self.seen.get(gk)
            if seen is not None and t.trade_id in seen[ix]:
                # a later copy of a trade already resolved: a duplicate
                if self._inside(t):
                    g = self.group(t)
                    g.count[name] += 1
                    g.add_dup(name, t.trade_id, 1)
                else:
                    self.outside_count[name] += 1
                return
            g = self.groups.get(gk)
            if g is not None and g.missing[name].discard(t.trade_id):
                # reported missing on this side, and here it comes: late (--follow)
                g.late[name] += 1
                g.count[name] += 1
                seen[ix].add(t.trade_id)
                return
        e = [None, None, 0, 0]
        e[ix] = t
        e[2 + ix] = 1
        self.pending[key] = e
        if self.follow:
            self.seq += 1
            heapq.heappush(self.heap, (t.trade_time, self.seq, key))

    def _inside(self, t):
        if self.start is not None and t.trade_time < self.start:
            return False
        if self.end is not None and t.trade_time >= self.end:
            return False
        return True

    def _seen(self, key, ix, tid):
        gk = key[:3]
        s = self.seen.get(gk)
        if s is None:
            s = self.seen[gk] = (IdSet(), IdSet())
        s[ix].add(tid)

    def _resolve(self, e, key):
        """Both sides have the trade: compare."""
        lt, rt = e[0], e[1]
        if not lt.weak:
            self._seen(key, 0, lt.trade_id)
            self._seen(key, 1, lt.trade_id)
        lin, rin = self._inside(lt), self._inside(rt)
        if not lin and not rin:
            self.outside_count["left"] += e[2]
            self.outside_count["right"] += e[3]
            return
        g = self.group(lt)
        g.weak = g.weak or lt.weak
        for n, t, c, inside in (("left", lt, e[2], lin), ("right", rt, e[3], rin)):
            g.natives[n] = g.natives[n] or t.native
            g.count[n] += c if inside else 0
            if c > 1:
                g.add_dup(n, t.ident(), c - 1)
        g.matched += 1
        ident = lt.ident()
        rounds = self.rounds
        if not compare_dec(lt.price, rt.price, ident, rounds):
            g.mismatch("price", ident, dec_text(lt.price), dec_text(rt.price))
        if not compare_dec(lt.quantity, rt.quantity, ident, rounds):
            g.mismatch("quantity", ident, dec_text(lt.quantity), dec_text(rt.quantity))
        if lt.side != rt.side:
            g.mismatch("side", ident, lt.side, rt.side)
        tres = max(self.sides[0].tt_res, self.sides[1].tt_res)
        if lt.trade_time // tres != rt.trade_time // tres:
            g.mismatch("trade_time", ident, lt.trade_time, rt.trade_time)
            if not lin:
                g.outside["left"].add(ident, lt.trade_time)
            if not rin:
                g.outside["right"].add(ident, rt.trade_time)
        if lt.order_type is not None and rt.order_type is not None and \
                lt.order_type != rt.order_type:
            g.mismatch("order_type", ident, lt.order_type, rt.order_type)
        if lt.event_time is not None and rt.event_time is not None and \
                lt.event_time != rt.event_time:
            g.mismatch("event_time", ident, lt.event_time, rt.event_time)
        if lt.recv_ns is not None and rt.recv_ns is not None:
            g.recv.add(rt.recv_ns - lt.recv_ns)

    def _final(self, e, key, start, end):
        """A trade only one side has, and final: missing on the other side (or not reported:
        outside the window, or within the settle margin of an edge)."""
        n = "left" if e[0] is not None else "right"
        ix = SIDE_IX[n]
        t, c = e[ix], e[2 + ix]
        if not t.weak:
            self._seen(key, ix, t.trade_id)
        tt = t.trade_time
        if tt < start or (end is not None and tt >= end):
            self.outside_count[n] += c
            return
        if self.start is None:
            # an automatic start is per symbol too: a handler that subscribes its symbols one
            # after another is not missing what came before it asked for a symbol
            ft = self.first_tt.get(key[:3])
            other = ft[1 - ix] if ft is not None else None
            if other is not None and other > start:
                start = other
            if tt < start:
                self.outside_count[n] += c
                return
        g = self.group(t)
        g.weak = g.weak or t.weak
        g.natives[n] = g.natives[n] or t.native
        g.count[n] += c
        if c > 1:
            g.add_dup(n, t.ident(), c - 1)
        if start + self.settle <= tt and (end is None or tt < end - self.settle):
            g.add_missing(OTHER[n], t)
        else:
            g.unsettled[OTHER[n]] += 1

    def advance(self):
        """--follow: makes final every pending trade both sides are `settle` past."""
        if any(s.min_tt is None and not s.caught_up for s in self.sides):
            return
        water = min(self.frontier(s) for s in self.sides) - self.settle
        start, _ = self.window(False)
        heap, pending = self.heap, self.pending
        cap = self.opts.max_pending
        while heap and (heap[0][0] < water or len(heap) > cap):
            tt, _, key = heapq.heappop(heap)
            if tt >= water:
                self.forced += 1
            e = pending.pop(key, None)
            if e is not None:
                self._final(e, key, start, self.end)
            if len(key) == 8:  # a weak key: its occurrence counters are done with
                base = key[:7]
                for occ in self.occ.values():
                    occ.pop(base, None)
        return water

    def finish(self):
        """The end of the run: every pending trade is final."""
        start, end = self.window(True)
        for key, e in self.pending.items():
            self._final(e, key, start, end)
        self.pending = {}
        self.heap = []
        return start, end

    # -- the report --

    def report(self, left, right, final, start, end):
        limit = self.limit
        self.tres = max(left.tt_res, right.tt_res)
        self.rres = max(left.recv_res, right.recv_res)
        differ = False
        out_groups = []
        all_recv = Dist()
        totals = collections.Counter()
        in_flight = {"left": 0, "right": 0}
        for e in self.pending.values():
            in_flight["left" if e[0] is not None else "right"] += 1
        for k in sorted(self.groups):
            g = self.groups[k]
            gd = {"venue": g.venue, "symbol": g.natives["left"] or g.natives["right"],
                  "symbol_key": g.symkey, "kind": g.kind,
                  "key": "weak (trade time, price, quantity, side, occurrence)" if g.weak
                  else "trade id",
                  "left": g.count["left"], "right": g.count["right"], "matched": g.matched}
            if g.natives["left"] and g.natives["right"] and \
                    g.natives["left"] != g.natives["right"]:
                gd["symbol_left"], gd["symbol_right"] = g.natives["left"], g.natives["right"]
            bad = False
            for n, side in (("left", left), ("right", right)):
                ms = g.missing[n]
                cnt = g.missing_count(n)
                first = ms.first(limit) if len(ms) else [x[0] for x in g.missing_weak[n].first()]
                md = {"count": cnt, "first_ids": first, "ranges": ms.runs(limit),
                      "range_count": len(ms.lo)}
                if ms.forgotten:
                    md["ranges_forgotten_ids"] = ms.forgotten
                # declared: inside a range this side's gap records declare missing; silent: the
                # rest (trades without ids and forgotten runs cannot be declared: silent)
                decl = side.gaps.declared(k) if side.gaps is not None else None
                n_decl, silent, n_silent = split_declared(ms, decl, limit)
                md["declared"], md["silent"] = n_decl, cnt - n_decl
                md["silent_ranges"], md["silent_range_count"] = silent, n_silent
                gd["declared_by_" + n] = {"ids": decl.size() if decl is not None else 0,
                                          "ranges": [[a, b] for a, b in
                                                     zip(decl.lo[:limit], decl.hi[:limit])]
                                          if decl is not None else []}
                totals["missing_on_%s_declared" % n] += n_decl
                totals["missing_on_%s_silent" % n] += cnt - n_decl
                if cnt:
                    md["trade_time_from"], md["trade_time_to"] = g.missing_tt[n]
                gd["missing_on_" + n] = md
                dd = g.dups[n]
                dids = [x[0] for x in dd.first()]
                gd["duplicates_" + n] = {"count": dd.count, "ids": dids,
                                         "copies": {str(i): g.dup_copies[n][i] + 1 for i in dids}}
                gd["unsettled_missing_on_" + n] = g.unsettled[n]
                gd["late_on_" + n] = g.late[n]
                gd["outside_window_" + n] = [{"id": i, "trade_time": tt}
                                             for i, tt in g.outside[n].first()]
                totals["missing_on_" + n] += cnt
                totals["duplicates_" + n] += dd.count
                totals["unsettled_missing_on_" + n] += g.unsettled[n]
                totals["late_on_" + n] += g.late[n]
                totals[n] += g.count[n]
                bad = bad or cnt or dd.count or g.late[n]
            totals["matched"] += g.matched
            if not g.weak:
                holes, nh = absent_on_both(self.seen.get(k), limit)
                gd["absent_on_both"] = {"count": nh, "ranges": holes}
                totals["absent_on_both"] += nh
            mm = {}
            for f in COMPARED:
                ex = g.mism.get(f)
                if ex is not None and ex.count:
                    mm[f] = {"count": ex.count,
                             "first": [{"id": i, "left": a, "right": b} for i, a, b in ex.first()]}
                    totals["mismatch_" + f] += ex.count
            gd["mismatches"] = mm
            if g.recv.n:
                gd["receive_time"] = recv_stats(g.recv, self.rres)
                all_recv.merge(g.recv)
            gd["agree"] = not (mm or bad)
            differ = differ or not gd["agree"]
            out_groups.append(gd)

        compared_fields = ["venue", "symbol", "kind", "trade_id", "price", "quantity", "side",
                           "trade_time"]
        lf, rf = set(left.fields), set(right.fields)
        for f in ("order_type", "event_time"):
            if f in lf and f in rf:
                compared_fields.append(f)
        if "receive_time_ns" in lf and "receive_time_ns" in rf:
            compared_fields.append("receive_time_ns (difference only)")
        rep = {
            "verdict": "differ" if differ else "agree",
            "final": final,
            "left": side_info(left, self.outside_count["left"], in_flight["left"]),
            "right": side_info(right, self.outside_count["right"], in_flight["right"]),
            "window": {"start_us": start, "end_us": end, "start": fmt_time_us(start),
                       "end": fmt_time_us(end) if end is not None else "open",
                       "start_auto": self.start is None, "end_auto": self.end is None,
                       "settle_us": self.settle, "end_exclusive": True},
            "fields": {"compared": compared_fields,
                       "left_only": sorted(lf - rf), "right_only": sorted(rf - lf),
                       "left_unmapped_source_fields": left.unmapped,
                       "right_unmapped_source_fields": right.unmapped},
            "rounding": {n: (self.rounds[n].as_dict() if self.rounds[n].compared else None)
                         for n in ("left", "right")},
            "trade_time_resolution_us": self.tres,
            "groups": out_groups,
            "totals": dict(totals),
        }
        if self.follow:
            rep["follow"] = {"in_flight": in_flight, "forced_final": self.forced,
                             "pending": len(self.pending), "heap": len(self.heap)}
        if all_recv.n:
            rep["receive_time"] = recv_stats(all_recv, self.rres)
        if not out_groups:
            rep["note"] = "no trades in the window on either side"
        return rep


def absent_on_both(seen, limit):
    """Ids inside the span of a group that neither side has (the venue's own sequence skips
    them, or both lost them): (first `limit` ranges, count). Not a difference between the
    sides; against an exchange's REST history it is the venue's gap."""
    if seen is None:
        return [], 0
    runs = sorted(list(zip(seen[0].lo, seen[0].hi)) + list(zip(seen[1].lo, seen[1].hi)))
    out, n, hi = [], 0, None
    for a, b in runs:
        if hi is not None and a > hi + 1:
            n += a - hi - 1
            if len(out) < limit:
                out.append([hi + 1, a - 1])
        hi = b if hi is None else max(hi, b)
    return out, n


def recv_stats(dist, res_ns):
    p50, p99 = dist.quantile(50), dist.quantile(99)
    faster = "left" if p50 > 0 else "right" if p50 < 0 else "neither"
    return {"pairs": dist.n, "right_minus_left_ns": {"p50": p50, "p99": p99,
                                                     "p1": dist.quantile(1),
                                                     "min": dist.lo, "max": dist.hi},
            "faster_at_p50": faster, "by_ns_at_p50": abs(p50), "resolution_ns": res_ns,
            "exact": dist.exact is not None}


def side_info(side, outside, in_flight=0):
    d = {"source": side.spec, "records": side.records, "gap_records_skipped": side.gap_records,
         "trades": side.n_trades, "outside_window": outside, "in_flight": in_flight,
         "filtered_out": side.filtered, "out_of_order": side.out_of_order,
         "map": side.fmap.path if side.fmap else None, "fields": sorted(side.fields),
         "trade_time_resolution_us": side.tt_res, "receive_time_resolution_ns": side.recv_res,
         "carries_doubles": side.doubles}
    if side.gaps is not None:
        # where this side's gap records came from, what they were, what they declare
        d["gaps"] = side.gaps.info()
        d["gaps"]["inline_records"] = side.gap_records
        if side.gap_source is not None:
            d["gaps"]["source_records"] = side.gap_source.records
    if side.schema_name:
        d["schema"] = side.schema_name
    if side.framings:
        d["framings"] = dict(side.framings)
    if side.offsets:
        d["offsets"] = {str(p): {"first": a, "last": b} for p, (a, b) in
                        sorted(side.offsets.items())}
    if side.rest_stats is not None:
        d["rest"] = side.rest_stats
    if side.broker_lag.n:
        # the record's Kafka timestamp less its trade time, over every trade read: with the
        # topic's message.timestamp.type = LogAppendTime, exchange -> broker on one clock
        lag = side.broker_lag
        d["timestamp_minus_trade_time_us"] = {
            "timestamp_types": dict(side.ts_types), "trades": lag.n, "p50": lag.quantile(50),
            "p99": lag.quantile(99), "min": lag.lo, "max": lag.hi, "resolution_us": 1000}
    return d


# ---- the table --------------------------------------------------------------------------------


def fmt_ns(ns):
    a = abs(ns)
    if a >= 1000000:
        return "%.3f ms" % (ns / 1e6)
    if a >= 1000:
        return "%.1f us" % (ns / 1e3)
    return "%d ns" % ns


def print_table(rep, out):
    w = out.write
    if rep.get("follow"):
        w("feedcmp report at %s (%s)\n" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "final" if rep["final"] else "interim; %d trades in flight" %
            rep["follow"]["pending"]))
    w("feedcmp: LEFT %s (%d trades)  RIGHT %s (%d trades)\n" %
      (rep["left"]["source"], rep["left"]["trades"], rep["right"]["source"],
       rep["right"]["trades"]))
    win = rep["window"]
    w("window %s .. %s%s, settle %s us\n" % (
        win["start"], win["end"],
        " (auto: %s)" % ", ".join(n for n, a in (("start", win["start_auto"]),
                                                  ("end", win["end_auto"])) if a)
        if win["start_auto"] or win["end_auto"] else "", win["settle_us"]))
    hdr = ("venue", "symbol", "kind", "left", "right", "matched", "miss-L", "miss-R",
           "silent-L", "silent-R", "dup-L", "dup-R", "mismatch", "late", "unsettled")
    rows = [hdr]
    for g in rep["groups"]:
        mm = sum(v["count"] for v in g["mismatches"].values())
        rows.append((g["venue"], g["symbol"] + (" (weak key)" if g["key"] != "trade id" else ""),
                     g["kind"], g["left"], g["right"], g["matched"],
                     g["missing_on_left"]["count"], g["missing_on_right"]["count"],
                     g["missing_on_left"]["silent"], g["missing_on_right"]["silent"],
                     g["duplicates_left"]["count"], g["duplicates_right"]["count"], mm,
                     g["late_on_left"] + g["late_on_right"],
                     g["unsettled_missing_on_left"] + g["unsettled_missing_on_right"]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(hdr))]
    for r in rows:
        w("  ".join(str(c).ljust(widths[i]) if i < 3 else str(c).rjust(widths[i])
                    for i, c in enumerate(r)) + "\n")
    for g in rep["groups"]:
        label = "%s %s %s" % (g["venue"], g["symbol"], g["kind"])
        for n in ("left", "right"):
            m = g["missing_on_" + n]
            if m["count"]:
                w("  %s: %d missing on %s (declared %d, silent %d), ranges %s%s\n" % (
                    label, m["count"], n, m["declared"], m["silent"], ", ".join(
                        "%s" % a if a == b else "%s-%s" % (a, b) for a, b in m["ranges"]) or
                    ", ".join(str(i) for i in m["first_ids"]),
                    " ..." if m["range_count"] > len(m["ranges"]) else ""))
                if m["silent"] and m["declared"] and m["silent_ranges"]:
                    w("  %s: silent on %s: %s%s\n" % (
                        label, n, ", ".join("%s" % a if a == b else "%s-%s" % (a, b)
                                            for a, b in m["silent_ranges"]),
                        " ..." if m["silent_range_count"] > len(m["silent_ranges"]) else ""))
            if g["late_on_" + n]:
                w("  %s: %d trade(s) reached %s after the settle margin (reported missing "
                  "before; fields not compared)\n" % (label, g["late_on_" + n], n))
            dd = g["duplicates_" + n]
            if dd["count"]:
                w("  %s: %d duplicate(s) on %s: ids %s\n" %
                  (label, dd["count"], n, ", ".join(str(i) for i in dd["ids"])))
            for o in g["outside_window_" + n]:
                w("  %s: id %s on %s is outside the window (trade time %s)\n" %
                  (label, o["id"], n, fmt_time_us(o["trade_time"])))
        ab = g.get("absent_on_both")
        if ab and ab["count"]:
            w("  %s: %d id(s) absent on both sides (not a difference): %s%s\n" % (
                label, ab["count"], ", ".join("%s" % a if a == b else "%s-%s" % (a, b)
                                              for a, b in ab["ranges"]),
                " ..." if ab["count"] > sum(b - a + 1 for a, b in ab["ranges"]) else ""))
        for f, v in g["mismatches"].items():
            ex = v["first"][0]
            w("  %s: %d %s mismatch(es), first id %s: left %s, right %s\n" %
              (label, v["count"], f, ex["id"], ex["left"], ex["right"]))
    t = rep["totals"]
    for n in ("left", "right"):
        gi = rep[n].get("gaps")
        if gi is not None and (gi["records"] or gi["sources"] != ["inline"]):
            bs = gi["by_status"]
            w("%s gap records: %d from %s (%s; %d detected only), %d ids declared missing\n" % (
                n, gi["records"], ", ".join(gi["sources"]) or "nowhere",
                ", ".join("%s %d" % (s, bs[s]) for s in GAP_STATUSES), gi["detected_only"],
                gi["declared_ids"]))
        if t.get("missing_on_" + n):
            w("missing on %s: %d, declared %d, silent %d\n" % (
                n, t["missing_on_" + n], t["missing_on_%s_declared" % n],
                t["missing_on_%s_silent" % n]))
    fl = rep["fields"]
    w("fields compared: %s\n" % ", ".join(fl["compared"]))
    if fl["left_only"]:
        w("only left has: %s\n" % ", ".join(fl["left_only"]))
    if fl["right_only"]:
        w("only right has: %s\n" % ", ".join(fl["right_only"]))
    for n in ("left", "right"):
        if rep[n]["trade_time_resolution_us"] > 1:
            w("%s carries trade times to %d us (compared at that resolution)\n" %
              (n, rep[n]["trade_time_resolution_us"]))
        r = rep["rounding"][n]
        if r:
            w("%s rounds (doubles): %d values, %d not the nearest double, worst abs error %s "
              "(id %s), worst rel error %s (id %s), worst binary error %s\n" %
              (n, r["compared"], r["not_nearest_double"], r["worst_abs_error"],
               r["worst_abs_error_id"], r["worst_rel_error"], r["worst_rel_error_id"],
               r["worst_binary_abs_error"]))
    for n in ("left", "right"):
        rs = rep[n].get("rest")
        if rs:
            w("%s (REST): %d requests, %d rows, throttled %d, waited %.1f s%s\n" % (
                n, rs.get("requests", 0), rs.get("rows", 0), rs.get("throttled", 0),
                rs.get("waited_s", 0), "; HISTORY TRUNCATED: %s" % rs["history_truncated"]
                if rs.get("history_truncated") else ""))
    rt = rep.get("receive_time")
    if rt:
        d = rt["right_minus_left_ns"]
        w("receive time right-left: p50 %s, p99 %s over %d trades (resolution %s): %s\n" %
          (fmt_ns(d["p50"]), fmt_ns(d["p99"]), rt["pairs"], fmt_ns(rt["resolution_ns"]),
           "%s faster by %s at p50" % (rt["faster_at_p50"], fmt_ns(rt["by_ns_at_p50"]))
           if rt["faster_at_p50"] != "neither" else "same at p50"))
    if rep.get("note"):
        w("note: %s\n" % rep["note"])
    w("verdict: %s\n" % rep["verdict"].upper())


# ---- main -------------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise Failure(message)


def parse_start(text, what):
    """Where a kafka: side starts: beginning, end, time:TIME (RFC 3339 or us: the first offset
    at or after it, by record timestamp) or offset:N / offsets:P=N,P=N (N for every partition or
    per partition)."""
    t = text.strip()
    if t in ("beginning", "end"):
        return (t,)
    if t.startswith("time:"):
        return ("time", parse_time_us(t[5:], what))
    if t.startswith("offset:") and re.fullmatch(r"\d+", t[7:]):
        return ("offsets", {"*": int(t[7:])})
    if t.startswith("offsets:"):
        out = {}
        for part in t[8:].split(","):
            m = re.fullmatch(r"\s*(\d+)\s*=\s*(\d+)\s*", part)
            if not m:
                raise Failure("%s: %r: expected offsets:PARTITION=OFFSET,..." % (what, text))
            out[int(m.group(1))] = int(m.group(2))
        return ("offsets", out)
    raise Failure("%s: %r: expected beginning, end, time:TIME, offset:N or offsets:P=N,..." %
                  (what, text))


def parse_args(argv):
    p = Parser(prog="feedcmp", description="Compares two trade feeds (see README.md).")
    p.add_argument("left", metavar="LEFT")
    p.add_argument("right", metavar="RIGHT")
    p.add_argument("--registry", metavar="URL", help="Schema Registry for Confluent framing")
    p.add_argument("--map", metavar="FILE", help="field map for any side in a foreign schema")
    p.add_argument("--left-map", metavar="FILE", help="field map for the left side (forced)")
    p.add_argument("--right-map", metavar="FILE", help="field map for the right side (forced)")
    p.add_argument("--window-start", metavar="TIME", help="trade time, RFC 3339 or us")
    p.add_argument("--window-end", metavar="TIME", help="trade time, RFC 3339 or us (exclusive)")
    p.add_argument("--settle", metavar="DUR", default=None,
                   help="margin at both window edges where one-sided trades are not reported "
                        "(0s; 10s with --follow)")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON ('-': stdout)")
    p.add_argument("--follow", action="store_true",
                   help="read both sides continuously; a report every --interval and a final "
                        "one on SIGTERM/SIGINT")
    p.add_argument("--interval", metavar="DUR", default=None,
                   help="--follow: time between reports (default 60s)")
    p.add_argument("--from", dest="from_", metavar="POS", default=None,
                   help="where kafka: sides start: beginning (default), end (default with "
                        "--follow), time:TIME, offset:N, offsets:P=N,...")
    p.add_argument("--left-from", metavar="POS", help="--from for the left side")
    p.add_argument("--right-from", metavar="POS", help="--from for the right side")
    for n in ("left", "right"):
        p.add_argument("--%s-gaps" % n, metavar="SPEC",
                       help="where the %s side's gap records are: kafka:BOOTSTRAP/TOPIC, "
                            "jsonl:PATH or none (default: inline; for a kafka: side on topic "
                            "T, also T.gaps when it exists)" % n)
    p.add_argument("--venue", action="append", default=[], metavar="VENUE",
                   help="compare only this venue (repeatable; binance, kraken)")
    p.add_argument("--symbol", action="append", default=[], metavar="SYMBOL",
                   help="compare only this symbol (repeatable; BTCUSDT, BTC-USDT and BTC/USDT "
                        "are one)")
    p.add_argument("--protocol", action="append", default=[], metavar="P",
                   help="truth: sides: only lines of this protocol (binance, kraken_v1, "
                        "kraken_v2; repeatable): feedsim logs each Kraken trade once per "
                        "protocol port it serves")
    p.add_argument("--max-pending", metavar="N", type=int, default=2000000,
                   help="--follow: trades in flight kept at most (default 2000000); past it "
                        "the oldest go final early")
    p.add_argument("--group", metavar="ID", help="Kafka consumer group prefix")
    p.add_argument("--kafka-timeout", metavar="DUR", default="120s",
                   help="bound on reading a topic (default 120s)")
    p.add_argument("--rest-timeout", metavar="DUR", default="10s",
                   help="rest: sides: bound on one request (default 10s)")
    p.add_argument("--rest-weight-share", metavar="PCT", type=int, default=50,
                   help="rest:binance: share of the request-weight limit to use (default 50)")
    p.add_argument("--rest-kraken-interval", metavar="DUR", default="1s",
                   help="rest:kraken: spacing of Trades calls per pair (default 1s)")
    p.add_argument("--lag-from", metavar="TIME", default=None,
                   help="kafka: sides: only records whose Kafka timestamp is at or after TIME "
                        "count in the timestamp - trade time figures (a benchmark's window)")
    p.add_argument("--lag-to", metavar="TIME", default=None,
                   help="... and before TIME")
    p.add_argument("--max-list", metavar="N", type=int, default=20,
                   help="ids listed per item in the report (default 20)")
    a = p.parse_args(argv)
    kinds = []
    for s in (a.left, a.right):
        kind = s.split(":", 1)[0]
        if kind not in ("jsonl", "truth", "kafka", "rest") or ":" not in s or \
                not s.split(":", 1)[1]:
            raise Failure("side %r: expected jsonl:PATH, truth:PATH, kafka:BOOTSTRAP/TOPIC "
                          "or rest:VENUE:BASEURL" % s)
        kinds.append(kind)
    if kinds.count("rest") == 2:
        raise Failure("rest: on both sides: one side must be a feed to audit")
    if "rest" in kinds and a.follow:
        raise Failure("rest: sides are a window of history: not with --follow")
    if a.interval is not None and not a.follow:
        raise Failure("--interval needs --follow")
    a.window_start = None if a.window_start is None else parse_time_us(a.window_start,
                                                                        "--window-start")
    a.window_end = None if a.window_end is None else parse_time_us(a.window_end, "--window-end")
    if a.window_start is not None and a.window_end is not None and a.window_end <= a.window_start:
        raise Failure("--window-end must be after --window-start")
    a.lag_from = -(1 << 62) if a.lag_from is None else parse_time_us(a.lag_from, "--lag-from")
    a.lag_to = (1 << 62) if a.lag_to is None else parse_time_us(a.lag_to, "--lag-to")
    a.settle_us = parse_duration_us(a.settle if a.settle is not None else
                                    ("10s" if a.follow else "0s"), "--settle")
    a.interval_us = parse_duration_us(a.interval or "60s", "--interval")
    if a.interval_us < 100000:
        raise Failure("--interval must be at least 100ms")
    a.kafka_timeout_us = parse_duration_us(a.kafka_timeout, "--kafka-timeout")
    a.rest_timeout_s = parse_duration_us(a.rest_timeout, "--rest-timeout") / 1e6
    a.rest_kraken_interval_s = parse_duration_us(a.rest_kraken_interval,
                                                 "--rest-kraken-interval") / 1e6
    if not 1 <= a.rest_weight_share <= 100:
        raise Failure("--rest-weight-share must be 1..100")
    a.rest_weight_share = a.rest_weight_share / 100.0
    if a.max_list < 1:
        raise Failure("--max-list must be at least 1")
    if a.max_pending < 1000:
        raise Failure("--max-pending must be at least 1000")
    starts = {}
    default = ("end",) if a.follow else ("beginning",)
    shared_from = parse_start(a.from_, "--from") if a.from_ else default
    for name, v in (("left", a.left_from), ("right", a.right_from)):
        starts[name] = parse_start(v, "--%s-from" % name) if v else shared_from
    for name in ("left", "right"):
        # a gap source is small: read from the beginning, or from the side's time:T (a gap
        # record is stamped when it is made, after the trades it is about)
        starts[name + "-gaps"] = starts[name] if starts[name][0] == "time" else ("beginning",)
    a.start_at = lambda name: starts[name]
    a.venues = {norm_venue(v) for x in a.venue for v in x.split(",") if v.strip()}
    for v in a.venues:
        if v not in ("binance", "kraken"):
            raise Failure("--venue %s: expected binance or kraken" % v)
    a.protocols = {v.strip() for x in a.protocol for v in x.split(",") if v.strip()}
    for v in a.protocols:
        if v not in ("binance", "kraken_v1", "kraken_v2"):
            raise Failure("--protocol %s: expected binance, kraken_v1 or kraken_v2" % v)
    syms = [x for y in a.symbol for x in y.split(",") if x.strip()]
    # a symbol key for every venue (Kraken's XBT is BTC): matched against either
    a.symbols = {norm_symbol(v, x) for x in syms for v in ("binance", "kraken")}
    forced = {"left": a.left_map is not None, "right": a.right_map is not None,
              "left-gaps": False, "right-gaps": False}
    for name, spec, g in (("left", a.left, a.left_gaps), ("right", a.right, a.right_gaps)):
        if g is None:
            continue
        kind = spec.split(":", 1)[0]
        if kind not in ("jsonl", "kafka"):
            raise Failure("--%s-gaps: a %s side has no gap records" % (name, kind))
        gk, _, rest = g.partition(":")
        if g != "none" and not ((gk == "jsonl" and rest) or
                                (gk == "kafka" and "/" in rest and rest.rsplit("/", 1)[0] and
                                 rest.rsplit("/", 1)[1])):
            raise Failure("--%s-gaps %r: expected kafka:BOOTSTRAP/TOPIC, jsonl:PATH or none" %
                          (name, g))
    a.forced_map = lambda name: forced[name]
    # an exchange's REST history has trades, not aggregates: audit what it can answer for
    a.kinds = {"TRADE"} if "rest" in kinds else None
    return a


def rss_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Output:
    """Where reports go: the table on stdout, the JSON to --json (rewritten whole each time,
    through a temporary file, so a reader never sees half a report)."""

    def __init__(self, opts):
        self.opts = opts

    def __call__(self, rep):
        opts = self.opts
        if opts.json:
            if opts.json == "-":
                sys.stdout.write(json.dumps(rep, default=str,
                                            indent=None if opts.follow else 1) + "\n")
            else:
                tmp = opts.json + ".tmp"
                try:
                    with open(tmp, "w") as f:
                        f.write(json.dumps(rep, indent=1, default=str) + "\n")
                    os.replace(tmp, opts.json)
                except OSError as e:
                    raise Failure("--json %s: %s" % (opts.json, e.strerror or e))
        if opts.json != "-":
            print_table(rep, sys.stdout)
        sys.stdout.flush()


def open_gaps(side, given, opts):
    """A side's gap records go to its GapLedger: those among its trades (inline: JSON lines, or
    a trade topic carrying them), and those of a separate source: `given` (--left-gaps or
    --right-gaps: kafka:BOOTSTRAP/TOPIC, jsonl:PATH, none) or, for a kafka: side on topic T,
    T.gaps when that topic exists. Returns the Side reading the separate source, or None."""
    if side.kind not in ("jsonl", "kafka"):
        return None  # truth and rest: nothing declared
    side.gaps = led = GapLedger(opts)
    led.sources.append("inline")
    spec, missing_ok = given, False
    if given == "none":
        return None
    if given is None:
        if side.kind != "kafka":
            return None
        spec, missing_ok = side.spec + ".gaps", True
    gs = Side(side.name + "-gaps", spec, opts, None)
    gs.gaps_only = True
    gs.gaps = led
    if gs.kind == "kafka":
        gs.follow = side.follow
        if not gs._open_kafka(spec.split(":", 1)[1], missing_ok=missing_ok):
            led.sources.append("none (%s does not exist)" % spec)
            return None
    else:
        gs.open(side.follow)
    led.sources.append(spec)
    side.gap_source = gs
    return gs


def read_gaps(gap_sides):
    """A batch run: every gap record of the separate sources (up to their ends now)."""
    for gs in gap_sides:
        if gs.kind == "kafka":  # its bound starts now, not when it was opened
            gs._deadline = time.monotonic() + gs.opts.kafka_timeout_us / 1e6
        while not gs.done:
            gs.poll(5000)


def run_batch(cmp, left, right, opts, out):
    rest = [s for s in (left, right) if s.kind == "rest"]
    if rest:
        rs = rest[0]
        other = right if rs is left else left
        while not other.done:
            other.poll(5000)
        start = opts.window_start if opts.window_start is not None else other.min_tt
        end = opts.window_end if opts.window_end is not None else (
            other.max_tt + 1 if other.max_tt is not None else None)
        if start is None or end is None:
            raise Failure("%s has no trades to take a window from: give --window-start and "
                          "--window-end" % other.spec)
        cmp.start, cmp.end = start, end
        rs.read_rest(other, start, end)
    else:
        # Both sides in step (the one behind in trade time reads next), so trades meet their
        # copies soon and few wait.
        while not (left.done and right.done):
            if left.done:
                side = right
            elif right.done:
                side = left
            else:
                lf = left.max_tt if left.max_tt is not None else -1
                rf = right.max_tt if right.max_tt is not None else -1
                side = left if lf <= rf else right
            side.poll(5000)
    read_gaps(opts.gap_sides)
    start, end = cmp.finish()
    rep = cmp.report(left, right, True, start, end)
    out(rep)
    return rep


def run_follow(cmp, left, right, opts, out):
    stop = []

    def on_signal(signum, _frame):
        stop.append(signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    interval = opts.interval_us / 1e6
    next_report = time.monotonic() + interval
    files_only = left.kind != "kafka" and right.kind != "kafka"
    while not stop:
        n = left.poll(5000)
        n += right.poll(5000)
        for gs in opts.gap_sides:
            n += gs.poll(5000)
        water = cmp.advance()
        if opts.window_end is not None and water is not None and water >= opts.window_end:
            break  # both sides are past the window's end: nothing more can change
        now = time.monotonic()
        if now >= next_report:
            start, end = cmp.window(False)
            rep = cmp.report(left, right, False, start, end)
            rep["follow"]["rss_kb"] = rss_kb()
            out(rep)
            next_report = now + interval
        if n == 0 and files_only:
            time.sleep(0.1)
    for gs in opts.gap_sides:
        gs.poll(5000)  # what has come by now
    start, end = cmp.finish()
    rep = cmp.report(left, right, True, start, end)
    rep["follow"]["rss_kb"] = rss_kb()
    if stop:
        rep["follow"]["stopped_by"] = signal.Signals(stop[0]).name
    out(rep)
    return rep


def main(argv=None):
    left = right = None
    gap_sides = []
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
        shared = FieldMap(opts.map) if opts.map else None
        lmap = FieldMap(opts.left_map) if opts.left_map else shared
        rmap = FieldMap(opts.right_map) if opts.right_map else shared
        for name, spec, m in (("left", opts.left, lmap), ("right", opts.right, rmap)):
            if spec.split(":", 1)[0] in ("truth", "rest") and m is not None and \
                    opts.forced_map(name):
                raise Failure("--%s-map: a %s side has a fixed format" %
                              (name, spec.split(":", 1)[0]))
        left = Side("left", opts.left, opts, lmap)
        right = Side("right", opts.right, opts, rmap)
        # weak keys (no trade id) group trade times at the coarsest resolution a map may give
        key_tres = max([m.resolution("trade_time_us") for m in (lmap, rmap) if m] + [1])
        cmp = Comparer(opts, key_tres, opts.follow)
        cmp.sides = (left, right)
        left.sink = right.sink = cmp.add
        left.open(opts.follow)
        right.open(opts.follow)
        for s, given in ((left, opts.left_gaps), (right, opts.right_gaps)):
            gs = open_gaps(s, given, opts)
            if gs is not None:
                gap_sides.append(gs)
        opts.gap_sides = gap_sides
        out = Output(opts)
        if opts.follow:
            rep = run_follow(cmp, left, right, opts, out)
        else:
            rep = run_batch(cmp, left, right, opts, out)
        return 1 if rep["verdict"] == "differ" else 0
    except Failure as e:
        sys.stderr.write("feedcmp: error: %s\n" % e)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("feedcmp: error: interrupted\n")
        return 2
    finally:
        for s in [left, right] + gap_sides:
            if s is not None:
                s.close()


if __name__ == "__main__":
    sys.exit(main())
