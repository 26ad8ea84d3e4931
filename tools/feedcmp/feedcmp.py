#!/usr/bin/python3
"""feedcmp - compares two trade feeds: the parallel-run validator and completeness audit.

Usage: feedcmp [options] LEFT RIGHT

A side is one of
  jsonl:PATH              normalized JSON lines as feedhandler's stream sink writes them (gap
                          records, the lines with first_missing_id, are skipped); with a field
                          map, JSON lines in a foreign schema
  truth:PATH              feedsim's truth log
  kafka:BOOTSTRAP/TOPIC   a Kafka topic, read from the beginning to the high watermarks (its own
                          consumer group, nothing committed); values in Avro with Confluent
                          framing (schema by id from --registry), Avro single-object (our
                          schemas/trade.avsc, fingerprint checked) or JSON
  rest:VENUE:BASEURL      not implemented yet

Trades are matched on (venue, symbol, kind, trade id); trades without an id (Kraken v1) on
(venue, symbol, kind, trade time, price, quantity, side, occurrence), a weaker key. Prices and
quantities are compared as exact decimals; a side carrying doubles is reported as rounding.

Exit status: 0 the sides agree, 1 they differ, 2 error. See tools/feedcmp/README.md.

Run with /usr/bin/python3 (python3-confluent-kafka and python3-avro are needed only for kafka:
sides).
"""

import argparse
import collections
import datetime
import io
import json
import os
import re
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
SPEC_KEYS = {"field", "type", "scale", "enum", "const"}
SPEC_TYPES = ("double", "decimal", "string", "long")

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
            elif kind in ("id", "time"):
                if isinstance(v, bool) or not isinstance(v, int):
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
        s = self.spec.get(target)
        return s.get("scale", 1) if s and "field" in s else 1


# ---- sources ----------------------------------------------------------------------------------


class Side:
    """One side of the comparison: reads trades into normalized Trade objects."""

    def __init__(self, name, spec, opts, fmap):
        self.name = name
        self.spec = spec
        self.opts = opts
        self.fmap_given = fmap  # FieldMap or None
        self.fmap = None  # the map in use (foreign records only)
        self.trades = []
        self.records = 0
        self.gap_records = 0
        self.fields = set()
        self.unmapped = []
        self.tt_res = 1  # trade time resolution (us)
        self.recv_res = 1  # receive time resolution (ns)
        self.kind = spec.split(":", 1)[0]
        self.schema_name = None
        self.framings = collections.Counter()

    # -- records to trades --

    def _ours(self, d, where):
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
        for k in OUR_FIELDS:
            if d.get(k) is not None:
                self.fields.add(k)
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
        if "first_missing_id" in d:
            self.gap_records += 1
            return
        if self.fmap is not None:
            t = self._mapped(d, where)
        else:
            t = self._ours(d, where)
        self.trades.append(t)

    # -- reading --

    def read(self):
        kind, _, rest = self.spec.partition(":")
        if kind == "jsonl":
            self._read_jsonl(rest)
        elif kind == "truth":
            self._read_truth(rest)
        elif kind == "kafka":
            self._read_kafka(rest)
        else:
            raise Failure("%s: unknown side %r" % (self.name, self.spec))

    def _lines(self, path):
        try:
            f = open(path, "rb")
        except OSError as e:
            raise Failure("%s: cannot read %s: %s" % (self.name, path, e.strerror or e))
        with f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                where = "%s:%d" % (path, n)
                try:
                    d = json.loads(line, parse_float=Decimal)
                except ValueError as e:
                    raise Failure("%s: not JSON (%s)" % (where, e))
                if not isinstance(d, dict):
                    raise Failure("%s: not a JSON object" % where)
                yield d, where

    def _read_jsonl(self, path):
        first = True
        for d, where in self._lines(path):
            if "first_missing_id" in d:
                self.records += 1
                self.gap_records += 1
                continue
            if first:
                first = False
                if self.fmap_given is not None and (self.opts.forced_map(self.name) or
                                                    not self._is_ours(d)):
                    self._use_map("JSON lines without venue/price/trade_time")
                    self.fmap.check_json(d, "%s (%s)" % (self.name, self.spec))
                    self.unmapped = self.fmap.unmapped_source
                elif not self._is_ours(d):
                    self._use_map("JSON lines without venue/price/trade_time")
            self.add(d, where)

    def _read_truth(self, path):
        for d, where in self._lines(path):
            self.records += 1
            if d.get("blast") or "trade_time_us" not in d:
                continue
            self.trades.append(self._truth(d, where))
        self.fields = set(TRUTH_FIELDS)

    # -- Kafka --

    def _read_kafka(self, rest):
        if "/" not in rest:
            raise Failure("%s: kafka side must be kafka:BOOTSTRAP/TOPIC" % self.name)
        bootstrap, topic = rest.rsplit("/", 1)
        if not bootstrap or not topic:
            raise Failure("%s: kafka side must be kafka:BOOTSTRAP/TOPIC" % self.name)
        try:
            import avro.io
            import avro.schema
            from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING, KafkaException
        except ImportError as e:
            raise Failure("kafka sides need python3-confluent-kafka and python3-avro "
                          "(run with /usr/bin/python3): %s" % e)
        self._avro = (avro.io, avro.schema)
        self.by_id = {}
        registry = self.opts.registry
        # The reader schema, checked against the map at start: the subject's latest version.
        if registry:
            latest = self._registry_get("/subjects/%s/versions/latest" %
                                        urllib.parse.quote(topic + "-value", safe=""),
                                        missing_ok=True)
            if latest is not None:
                sch = self._parse_schema(latest["schema"], "registry subject %s-value" % topic)
                self._decide_schema(sch, "subject %s-value" % topic)
        elif self.fmap_given is not None and self.opts.forced_map(self.name):
            pass  # checked against the first record's writer schema
        timeout_s = self.opts.kafka_timeout_us / 1e6
        group = self.opts.group or "feedcmp-%d-%d" % (os.getpid(), int(time.time()))
        try:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "%s-%s" % (group, self.name),
                          "enable.auto.commit": False, "enable.partition.eof": False,
                          "auto.offset.reset": "earliest", "log_level": 3})
        except KafkaException as e:
            raise Failure("%s: kafka consumer: %s" % (self.name, e))
        try:
            md = c.list_topics(topic, timeout=min(timeout_s, 30)).topics.get(topic)
            if md is None or md.error is not None:
                raise Failure("%s: topic %s: %s" % (self.name, topic,
                                                    md.error if md is not None else "not found"))
            ends, parts = {}, []
            for p in md.partitions:
                lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=min(timeout_s, 30))
                if hi > lo:
                    ends[p] = hi
                parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
            c.assign(parts)
            pos = {}
            deadline = time.monotonic() + timeout_s
            while any(pos.get(p, -1) + 1 < hi for p, hi in ends.items()):
                if time.monotonic() > deadline:
                    raise Failure("%s: timed out reading %s (at %r of %r)" %
                                  (self.name, topic, pos, ends))
                for m in c.consume(num_messages=5000, timeout=1.0):
                    if m.error() is not None:
                        raise Failure("%s: consumer: %s" % (self.name, m.error()))
                    p, off = m.partition(), m.offset()
                    pos[p] = off
                    if off >= ends.get(p, 0):
                        continue  # produced after we started: not part of this snapshot
                    v = m.value()
                    if v is None:
                        continue
                    where = "%s p%d@%d" % (topic, p, off)
                    self.add(self._decode(v, where), where)
        except KafkaException as e:
            raise Failure("%s: kafka: %s" % (self.name, e))
        finally:
            c.close()

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
        """Ours (feedhandler.Trade) or foreign (then the map must fit it)."""
        name = getattr(sch, "fullname", None)
        if self.schema_name is not None:
            if name != self.schema_name:
                raise Failure("%s: records in two schemas, %s and %s" %
                              (self.name, self.schema_name, name))
            return
        self.schema_name = name
        if name in (OUR_RECORD_NAME, "feedhandler.Gap") and not self.opts.forced_map(self.name):
            return
        self._use_map("%s is %s" % (what, name))
        self.fmap.check_avro(sch, "%s (%s)" % (self.name, self.spec))
        self.unmapped = self.fmap.unmapped_source

    def _our_schema(self):
        if not hasattr(self, "_ours_sch"):
            try:
                with open(OUR_SCHEMA_FILE) as f:
                    text = f.read()
            except OSError as e:
                raise Failure("cannot read %s: %s" % (OUR_SCHEMA_FILE, e.strerror or e))
            self._ours_sch = self._parse_schema(text, OUR_SCHEMA_FILE)
            self._ours_fp = crc64_avro(canonical_form(json.loads(text)).encode())
        return self._ours_sch, self._ours_fp

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
                raise Failure("%s: single-object fingerprint %016x is not schemas/trade.avsc's "
                              "(%016x)" % (where, fp, ours_fp))
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


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


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


class Group:
    def __init__(self, venue, symkey, kind):
        self.venue, self.symkey, self.kind = venue, symkey, kind
        self.natives = {"left": None, "right": None}
        self.count = {"left": 0, "right": 0}
        self.matched = 0
        self.missing = {"left": [], "right": []}  # ids missing on that side
        self.missing_times = {"left": [], "right": []}
        self.unsettled = {"left": 0, "right": 0}
        self.dups = {"left": collections.Counter(), "right": collections.Counter()}
        self.mism = collections.defaultdict(list)
        self.outside = {"left": [], "right": []}  # (id, time): copy outside the window
        self.recv = []
        self.weak = False


def compare(left, right, opts):
    limit = opts.max_list
    rounds = {"left": RoundStats(), "right": RoundStats()}
    sides = {"left": left, "right": right}
    idx = {}
    tres = max(left.tt_res, right.tt_res)
    for name, side in sides.items():
        d = {}
        occ = collections.Counter()  # trades without an id: occurrence among equal weak keys
        for t in side.trades:
            if t.weak:
                base = (t.venue, t.symkey, t.kind, t.trade_time // tres, exact_of(t.price),
                        exact_of(t.quantity), t.side)
                key = (t.venue, t.symkey, t.kind, ("w",) + base[3:] + (occ[base],))
                occ[base] += 1
            else:
                key = (t.venue, t.symkey, t.kind, t.trade_id)
            d.setdefault(key, []).append(t)
        idx[name] = d

    # The window: explicit edges, or the overlap of the two sides' trade times.
    def span(side):
        ts = [t.trade_time for t in side.trades]
        return (min(ts), max(ts)) if ts else None
    sl, sr = span(left), span(right)
    spans = [s for s in (sl, sr) if s]
    auto_start = opts.window_start is None
    auto_end = opts.window_end is None
    start = opts.window_start if not auto_start else (max(s[0] for s in spans) if spans else 0)
    end = opts.window_end if not auto_end else (min(s[1] for s in spans) + 1 if spans else 0)
    settle = opts.settle_us

    def inside(t):
        return start <= t.trade_time < end

    def settled(t):
        return start + settle <= t.trade_time < end - settle

    rres = max(left.recv_res, right.recv_res)
    groups = {}
    outside_count = {"left": 0, "right": 0}

    def group(t):
        k = (t.venue, t.symkey, t.kind)
        g = groups.get(k)
        if g is None:
            g = groups[k] = Group(*k)
        return g

    for key in set(idx["left"]) | set(idx["right"]):
        ls, rs = idx["left"].get(key), idx["right"].get(key)
        lin = ls is not None and inside(ls[0])
        rin = rs is not None and inside(rs[0])
        if not lin and not rin:
            for n, recs in (("left", ls), ("right", rs)):
                if recs:
                    outside_count[n] += len(recs)
            continue
        any_t = (ls or rs)[0]
        g = group(any_t)
        g.weak = g.weak or any_t.weak
        for n, recs in (("left", ls), ("right", rs)):
            if recs:
                g.natives[n] = g.natives[n] or recs[0].native
                g.count[n] += len(recs) if inside(recs[0]) else 0
                if len(recs) > 1:
                    g.dups[n][recs[0].ident()] += len(recs) - 1
        if ls and rs:
            g.matched += 1
            lt, rt = ls[0], rs[0]
            ident = lt.ident()
            if not compare_dec(lt.price, rt.price, ident, rounds):
                g.mism["price"].append((ident, dec_text(lt.price), dec_text(rt.price)))
            if not compare_dec(lt.quantity, rt.quantity, ident, rounds):
                g.mism["quantity"].append((ident, dec_text(lt.quantity), dec_text(rt.quantity)))
            if lt.side != rt.side:
                g.mism["side"].append((ident, lt.side, rt.side))
            if lt.trade_time // tres != rt.trade_time // tres:
                g.mism["trade_time"].append((ident, lt.trade_time, rt.trade_time))
                if not lin:
                    g.outside["left"].append((ident, lt.trade_time))
                if not rin:
                    g.outside["right"].append((ident, rt.trade_time))
            if lt.order_type is not None and rt.order_type is not None and \
                    lt.order_type != rt.order_type:
                g.mism["order_type"].append((ident, lt.order_type, rt.order_type))
            if lt.event_time is not None and rt.event_time is not None and \
                    lt.event_time != rt.event_time:
                g.mism["event_time"].append((ident, lt.event_time, rt.event_time))
            if lt.recv_ns is not None and rt.recv_ns is not None:
                g.recv.append(rt.recv_ns - lt.recv_ns)
        else:
            n_has, n_lacks = ("left", "right") if ls else ("right", "left")
            t = (ls or rs)[0]
            if settled(t):
                g.missing[n_lacks].append(t.ident())
                g.missing_times[n_lacks].append(t.trade_time)
            else:
                g.unsettled[n_lacks] += 1

    # ---- the report ----
    differ = False
    out_groups = []
    all_recv = []
    totals = collections.Counter()
    for k in sorted(groups):
        g = groups[k]
        gd = {"venue": g.venue, "symbol": g.natives["left"] or g.natives["right"],
              "symbol_key": g.symkey, "kind": g.kind,
              "key": "weak (trade time, price, quantity, side, occurrence)" if g.weak
              else "trade id",
              "left": g.count["left"], "right": g.count["right"], "matched": g.matched}
        if g.natives["left"] and g.natives["right"] and g.natives["left"] != g.natives["right"]:
            gd["symbol_left"], gd["symbol_right"] = g.natives["left"], g.natives["right"]
        for n in ("left", "right"):
            ids = sort_ids(g.missing[n])
            ranges, nranges = id_ranges(ids, limit)
            gd["missing_on_" + n] = {"count": len(ids), "first_ids": ids[:limit],
                                     "ranges": ranges, "range_count": nranges}
            if ids:
                mt = g.missing_times[n]
                gd["missing_on_" + n]["trade_time_from"] = min(mt)
                gd["missing_on_" + n]["trade_time_to"] = max(mt)
            dups = g.dups[n]
            dids = sort_ids(dups)
            gd["duplicates_" + n] = {"count": sum(dups.values()), "ids": dids[:limit],
                                     "copies": {str(i): dups[i] + 1 for i in dids[:limit]}}
            gd["unsettled_missing_on_" + n] = g.unsettled[n]
            gd["outside_window_" + n] = [{"id": i, "trade_time": t}
                                         for i, t in g.outside[n][:limit]]
            totals["missing_on_" + n] += len(ids)
            totals["duplicates_" + n] += sum(dups.values())
            totals["unsettled_missing_on_" + n] += g.unsettled[n]
            totals[n] += g.count[n]
        totals["matched"] += g.matched
        mm = {}
        for f in COMPARED:
            lst = g.mism.get(f)
            if lst:
                lst.sort(key=lambda x: (0, x[0], "") if isinstance(x[0], int) else (1, 0, str(x[0])))
                mm[f] = {"count": len(lst),
                         "first": [{"id": i, "left": a, "right": b} for i, a, b in lst[:limit]]}
                totals["mismatch_" + f] += len(lst)
        gd["mismatches"] = mm
        if g.recv:
            gd["receive_time"] = recv_stats(g.recv, rres)
            all_recv.extend(g.recv)
        if mm or any(gd["missing_on_" + n]["count"] or gd["duplicates_" + n]["count"]
                     for n in ("left", "right")):
            differ = True
            gd["agree"] = False
        else:
            gd["agree"] = True
        out_groups.append(gd)

    compared_fields = ["venue", "symbol", "kind", "trade_id", "price", "quantity", "side",
                       "trade_time"]
    lf, rf = fields_of(left), fields_of(right)
    for f in ("order_type", "event_time"):
        if f in lf and f in rf:
            compared_fields.append(f)
    if "receive_time_ns" in lf and "receive_time_ns" in rf:
        compared_fields.append("receive_time_ns (difference only)")
    rep = {
        "verdict": "differ" if differ else "agree",
        "left": side_info(left, outside_count["left"]),
        "right": side_info(right, outside_count["right"]),
        "window": {"start_us": start, "end_us": end, "start": fmt_time_us(start),
                   "end": fmt_time_us(end), "start_auto": auto_start, "end_auto": auto_end,
                   "settle_us": settle, "end_exclusive": True},
        "fields": {"compared": compared_fields,
                   "left_only": sorted(lf - rf), "right_only": sorted(rf - lf),
                   "left_unmapped_source_fields": left.unmapped,
                   "right_unmapped_source_fields": right.unmapped},
        "rounding": {n: (rounds[n].as_dict() if rounds[n].compared else None)
                     for n in ("left", "right")},
        "trade_time_resolution_us": tres,
        "groups": out_groups,
        "totals": dict(totals),
    }
    if all_recv:
        rep["receive_time"] = recv_stats(all_recv, rres)
    if not out_groups:
        rep["note"] = "no trades in the window on either side"
    return rep


def fields_of(side):
    return set(side.fields)


def recv_stats(diffs, res_ns):
    s = sorted(diffs)
    p50, p99 = percentile(s, 50), percentile(s, 99)
    faster = "left" if p50 > 0 else "right" if p50 < 0 else "neither"
    return {"pairs": len(s), "right_minus_left_ns": {"p50": p50, "p99": p99, "p1": percentile(s, 1),
                                                     "min": s[0], "max": s[-1]},
            "faster_at_p50": faster, "by_ns_at_p50": abs(p50), "resolution_ns": res_ns}


def side_info(side, outside):
    d = {"source": side.spec, "records": side.records, "gap_records_skipped": side.gap_records,
         "trades": len(side.trades), "outside_window": outside,
         "map": side.fmap.path if side.fmap else None, "fields": sorted(side.fields),
         "trade_time_resolution_us": side.tt_res, "receive_time_resolution_ns": side.recv_res,
         "carries_doubles": any(isinstance(t.price, float) or isinstance(t.quantity, float)
                               for t in side.trades[:1000])}
    if side.schema_name:
        d["schema"] = side.schema_name
    if side.framings:
        d["framings"] = dict(side.framings)
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
    w("feedcmp: LEFT %s (%d trades)  RIGHT %s (%d trades)\n" %
      (rep["left"]["source"], rep["left"]["trades"], rep["right"]["source"],
       rep["right"]["trades"]))
    win = rep["window"]
    w("window %s .. %s%s, settle %s us\n" % (
        win["start"], win["end"],
        " (auto: %s)" % ", ".join(n for n, a in (("start", win["start_auto"]),
                                                  ("end", win["end_auto"])) if a)
        if win["start_auto"] or win["end_auto"] else "", win["settle_us"]))
    hdr = ("venue", "symbol", "kind", "left", "right", "matched", "miss-L", "miss-R", "dup-L",
           "dup-R", "mismatch", "unsettled")
    rows = [hdr]
    for g in rep["groups"]:
        mm = sum(v["count"] for v in g["mismatches"].values())
        rows.append((g["venue"], g["symbol"] + (" (weak key)" if g["key"] != "trade id" else ""),
                     g["kind"], g["left"], g["right"], g["matched"],
                     g["missing_on_left"]["count"], g["missing_on_right"]["count"],
                     g["duplicates_left"]["count"], g["duplicates_right"]["count"], mm,
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
                w("  %s: %d missing on %s, ranges %s%s\n" % (
                    label, m["count"], n, ", ".join(
                        "%s" % a if a == b else "%s-%s" % (a, b) for a, b in m["ranges"]) or
                    ", ".join(str(i) for i in m["first_ids"]),
                    " ..." if m["range_count"] > len(m["ranges"]) else ""))
            dd = g["duplicates_" + n]
            if dd["count"]:
                w("  %s: %d duplicate(s) on %s: ids %s\n" %
                  (label, dd["count"], n, ", ".join(str(i) for i in dd["ids"])))
            for o in g["outside_window_" + n]:
                w("  %s: id %s on %s is outside the window (trade time %s)\n" %
                  (label, o["id"], n, fmt_time_us(o["trade_time"])))
        for f, v in g["mismatches"].items():
            ex = v["first"][0]
            w("  %s: %d %s mismatch(es), first id %s: left %s, right %s\n" %
              (label, v["count"], f, ex["id"], ex["left"], ex["right"]))
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
    p.add_argument("--settle", metavar="DUR", default="0s",
                   help="margin at both window edges where one-sided trades are not reported")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON ('-': stdout)")
    p.add_argument("--follow", action="store_true", help="not implemented yet")
    p.add_argument("--interval", metavar="DUR", help="not implemented yet")
    p.add_argument("--group", metavar="ID", help="Kafka consumer group prefix")
    p.add_argument("--kafka-timeout", metavar="DUR", default="120s",
                   help="bound on reading a topic (default 120s)")
    p.add_argument("--max-list", metavar="N", type=int, default=20,
                   help="ids listed per item in the report (default 20)")
    a = p.parse_args(argv)
    if a.follow or a.interval:
        raise Failure("--follow/--interval: not implemented yet")
    for s in (a.left, a.right):
        kind = s.split(":", 1)[0]
        if kind == "rest":
            raise Failure("rest: sides: not implemented yet")
        if kind not in ("jsonl", "truth", "kafka") or ":" not in s or not s.split(":", 1)[1]:
            raise Failure("side %r: expected jsonl:PATH, truth:PATH, kafka:BOOTSTRAP/TOPIC "
                          "or rest:VENUE:BASEURL" % s)
        if kind == "kafka" and not a.registry:
            pass  # only needed for Confluent framing; checked when a framed record comes
    a.window_start = None if a.window_start is None else parse_time_us(a.window_start,
                                                                        "--window-start")
    a.window_end = None if a.window_end is None else parse_time_us(a.window_end, "--window-end")
    if a.window_start is not None and a.window_end is not None and a.window_end <= a.window_start:
        raise Failure("--window-end must be after --window-start")
    a.settle_us = parse_duration_us(a.settle, "--settle")
    a.kafka_timeout_us = parse_duration_us(a.kafka_timeout, "--kafka-timeout")
    if a.max_list < 1:
        raise Failure("--max-list must be at least 1")
    forced = {"left": a.left_map is not None, "right": a.right_map is not None}
    a.forced_map = lambda name: forced[name]
    return a


def main(argv=None):
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
        shared = FieldMap(opts.map) if opts.map else None
        lmap = FieldMap(opts.left_map) if opts.left_map else shared
        rmap = FieldMap(opts.right_map) if opts.right_map else shared
        for name, spec, m in (("left", opts.left, lmap), ("right", opts.right, rmap)):
            if spec.startswith("truth:") and m is not None and opts.forced_map(name):
                raise Failure("--%s-map: a truth: side has a fixed format" % name)
        left = Side("left", opts.left, opts, lmap)
        right = Side("right", opts.right, opts, rmap)
        left.read()
        right.read()
        rep = compare(left, right, opts)
        if opts.json:
            text = json.dumps(rep, indent=1, default=str) + "\n"
            if opts.json == "-":
                sys.stdout.write(text)
            else:
                try:
                    with open(opts.json, "w") as f:
                        f.write(text)
                except OSError as e:
                    raise Failure("--json %s: %s" % (opts.json, e.strerror or e))
        if opts.json != "-":
            print_table(rep, sys.stdout)
        sys.stdout.flush()
        return 1 if rep["verdict"] == "differ" else 0
    except Failure as e:
        sys.stderr.write("feedcmp: error: %s\n" % e)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("feedcmp: error: interrupted\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
