#!/usr/bin/python3
"""Cross-decodes our Avro encoding with an independent decoder (python3-avro).

Usage: avro_crossdecode.py [--schema trade|gap] SAMPLE_TOOL [N]

Runs the sample tool (tests/tools/avro_sample for trades, gap_sample for gap records), which
writes edge-value and randomized records three ways: single-object or Confluent framed Avro
from our encoder, JSON lines from our JSON encoder, and our Parsing Canonical Form of
schemas/<schema>.avsc. Then:
  - every framed record is decoded by avro.io.DatumReader with the schema parsed from
    schemas/<schema>.avsc by avro.schema, and compared field by field with its JSON line
    (decimals as decimal.Decimal, exactly; enums; nulls; integers; booleans; strings;
    arrays of records, member by member);
  - each record must be consumed exactly, framing magic and Confluent ids must match;
  - the single-object fingerprint must equal CRC-64-AVRO (implemented here from the
    specification) of python3-avro's canonical form, which must equal ours.
Exits non-zero with a message on the first mismatch.
"""

import decimal
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

import avro.io
import avro.schema

SCHEMAS = {
    # schema: (JSON-lines file the sample tool writes, the record's fields in schema order)
    "trade": ("trades.jsonl", [
        "venue", "symbol", "native_symbol", "trade_id", "first_trade_id", "last_trade_id",
        "kind", "price", "quantity", "side", "order_type", "trade_time", "event_time",
        "receive_time_ns", "source", "connection_id", "sequence",
    ]),
    "gap": ("gaps.jsonl", [
        "venue", "symbol", "native_symbol", "kind", "first_missing_id", "last_missing_id",
        "status", "reason", "missing_count", "filled_count", "missing_ranges",
        "ranges_truncated", "detected_time_ns", "reported_time_ns", "connection_id",
    ]),
}
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
CRC64_EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO as given in the Avro specification ("Schema Fingerprints")."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    fp = CRC64_EMPTY
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def apply_primitives_rule(node):
    """The specification's PRIMITIVES rule: {"type":"long"} becomes "long".

    python3-avro 1.11.1's Schema.canonical_form leaves a primitive with a logical type as
    {"type":"bytes"} / {"type":"long"} (it strips logicalType and the other attributes but
    not the object around the type), where the specification's rules (STRIP, then
    PRIMITIVES) give "bytes" / "long". Collapse such objects so that the result is the
    specification's canonical form.
    """
    if isinstance(node, dict):
        if set(node) == {"type"} and node["type"] in PRIMITIVES:
            return node["type"]
        return {k: apply_primitives_rule(v) for k, v in node.items()}
    if isinstance(node, list):
        return [apply_primitives_rule(v) for v in node]
    return node


class RawTimestampDecoder(avro.io.BinaryDecoder):
    """Returns timestamp-micros values as the raw long.

    python3-avro turns them into datetime objects, which cannot hold the full long range
    (the edge-value trades use INT64_MIN and INT64_MAX); we compare exact integers anyway.
    """

    def read_timestamp_micros_from_long(self):
        return self.read_long()


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def same(got, want):
    """Equal values of the same JSON types; objects with their members in the same order."""
    if type(got) is not type(want):
        return False
    if isinstance(got, dict):
        return list(got) == list(want) and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    return got == want


def check_value(i, name, got, want):
    if name in ("price", "quantity"):
        if not isinstance(got, decimal.Decimal):
            fail(f"record {i}: {name} decoded as {type(got).__name__}, not Decimal")
        if not isinstance(want, str):
            fail(f"record {i}: {name} in JSON is not a string: {want!r}")
        if got.as_tuple().exponent != -18:
            fail(f"record {i}: {name} decoded with exponent {got.as_tuple().exponent}")
        if got != decimal.Decimal(want):
            fail(f"record {i}: {name} Avro {got} != JSON {want}")
        return
    if not same(got, want):
        fail(f"record {i}: {name} Avro {got!r} != JSON {want!r}")


def main():
    args = sys.argv[1:]
    which = "trade"
    if len(args) >= 2 and args[0] == "--schema":
        which = args[1]
        args = args[2:]
    if len(args) not in (1, 2) or which not in SCHEMAS:
        fail("usage: avro_crossdecode.py [--schema trade|gap] SAMPLE_TOOL [N]")
    jsonl_name, fields = SCHEMAS[which]
    tool = args[0]
    count = args[1] if len(args) == 2 else "2000"
    source_dir = os.environ.get("FH_SOURCE_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(source_dir, "schemas", which + ".avsc"), "rb") as f:
        schema = avro.schema.parse(f.read().decode("utf-8"))

    with tempfile.TemporaryDirectory(prefix="fh-avro-") as out:
        res = subprocess.run([tool, out, count], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            fail(f"{tool} exited {res.returncode}: {res.stderr}")
        info = dict(line.split(" ", 1) for line in res.stdout.splitlines())
        tool_fp = int(info["fingerprint"], 16)
        with open(os.path.join(out, "canonical.txt"), "rb") as f:
            our_pcf = f.read()
        with open(os.path.join(out, "records.bin"), "rb") as f:
            records = f.read()
        with open(os.path.join(out, jsonl_name), "rb") as f:
            lines = f.read().split(b"\n")

    # Fingerprint: python3-avro's canonical form (corrected, see above) against ours.
    py_pcf = json.dumps(apply_primitives_rule(json.loads(schema.canonical_form)),
                        separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if py_pcf != our_pcf:
        fail(f"canonical forms differ:\n ours   {our_pcf!r}\n python {py_pcf!r}")
    fp = crc64_avro(py_pcf)
    if fp != tool_fp:
        fail(f"fingerprint: ours 0x{tool_fp:016x}, CRC-64-AVRO of python's form 0x{fp:016x}")
    if crc64_avro(b"") != CRC64_EMPTY:
        fail("crc64_avro self-check")

    if lines[-1] != b"":
        fail(f"{jsonl_name} does not end with a newline")
    lines = lines[:-1]
    reader = avro.io.DatumReader(schema)
    pos = 0
    i = 0
    framings = {"S": 0, "C": 0}
    while pos < len(records):
        if i >= len(lines):
            fail("more Avro records than JSON lines")
        kind = chr(records[pos])
        (length,) = struct.unpack(">I", records[pos + 1:pos + 5])
        msg = records[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(msg) != length:
            fail(f"record {i}: truncated records.bin")
        if kind == "S":
            if msg[:2] != b"\xc3\x01":
                fail(f"record {i}: single-object magic {msg[:2].hex()}")
            (rec_fp,) = struct.unpack("<Q", msg[2:10])
            if rec_fp != fp:
                fail(f"record {i}: single-object fingerprint 0x{rec_fp:016x} != 0x{fp:016x}")
            body = msg[10:]
        elif kind == "C":
            if msg[0] != 0:
                fail(f"record {i}: Confluent magic {msg[0]}")
            (schema_id,) = struct.unpack(">I", msg[1:5])
            if schema_id != (i * 2654435761) % 2**32:
                fail(f"record {i}: Confluent schema id {schema_id}")
            body = msg[5:]
        else:
            fail(f"record {i}: unknown framing {kind!r}")
        framings[kind] += 1

        bio = io.BytesIO(body)
        datum = reader.read(RawTimestampDecoder(bio))
        if bio.tell() != len(body):
            fail(f"record {i}: decoder consumed {bio.tell()} of {len(body)} bytes")
        want = json.loads(lines[i].decode("utf-8"))
        if list(want.keys()) != fields:
            fail(f"record {i}: JSON fields {list(want.keys())}")
        if list(datum.keys()) != fields:
            fail(f"record {i}: Avro fields {list(datum.keys())}")
        for name in fields:
            check_value(i, name, datum[name], want[name])
        i += 1
    if i != len(lines) or i != int(info["records"]):
        fail(f"{i} Avro records, {len(lines)} JSON lines, tool wrote {info['records']}")
    if framings["S"] == 0 or framings["C"] == 0:
        fail("both framings must occur")
    print(f"ok: {i} {which} records decoded by python3-avro {avro.__version__} "
          f"({framings['S']} single-object, {framings['C']} Confluent); "
          f"fingerprint 0x{fp:016x}")


if __name__ == "__main__":
    main()
