#!/usr/bin/env python3
"""`feedhandler replay` as users run it: recordings of the daemon's [record] format, raw
lines, --strict, a file sink from a configuration, and usage errors.

Usage: replay_test.py FEEDHANDLER_BINARY   (environment: FH_SOURCE_DIR)
"""
import json
import os
import subprocess
import sys
import tempfile

BIN = sys.argv[1]
SRC = os.environ["FH_SOURCE_DIR"]
META = os.path.join(SRC, "tests/data/binance_exchangeinfo.json")

TRADE = ('{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT",'
         '"t":12345,"p":"16552.12000000","q":"0.00100000","T":1672515782135,"m":true,"M":true}}')
AGG = ('{"e":"aggTrade","E":1672515782200,"s":"ETHUSDT","a":77,"p":"1200.5","q":"2",'
       '"f":100,"l":102,"T":1672515782199,"m":false,"M":true}')


def fail(msg):
    sys.exit("FAIL: " + msg)


def run(args, expect_rc):
    p = subprocess.run([BIN, "replay"] + args, capture_output=True, timeout=120)
    if p.returncode != expect_rc:
        fail(f"replay {' '.join(args)} exited {p.returncode}, expected {expect_rc}\n"
             f"{p.stderr.decode()}")
    return p.stdout.decode(), p.stderr.decode()


def summary_value(stderr, key):
    for line in stderr.splitlines():
        if line.startswith("replay: venue="):
            for part in line.split():
                if part.startswith(key + "="):
                    return int(part.split("=", 1)[1])
    fail(f"no {key} in summary:\n{stderr}")


def main():
    with tempfile.TemporaryDirectory() as d:
        rec = os.path.join(d, "rec.ndjson")
        with open(rec, "w") as f:
            f.write('{"t":1700000000000000001,"c":7,"v":"binance","m":%s}\n' % TRADE)
            f.write('{"t":1700000000000000002,"c":8,"v":"kraken-v2","m":{"channel":"heartbeat"}}\n')
            f.write('{"t":1700000000000000003,"c":9,"v":"binance","x":"%s"}\n'
                    % AGG.encode().hex())
            f.write(AGG.replace('"a":77', '"a":78') + "\n")  # a raw line among recording lines
        out, err = run(["--venue", "binance", "--input", rec, "--metadata", META, "--strict"], 0)
        trades = [json.loads(l) for l in out.splitlines()]
        if len(trades) != 3:
            fail(f"expected 3 trades, got {len(trades)}: {out}")
        t0, t1, t2 = trades
        if (t0["connection_id"], t0["receive_time_ns"]) != (7, 1700000000000000001):
            fail(f"recorded lineage not kept: {t0}")
        if (t0["symbol"], t0["price"], t0["quantity"], t0["side"], t0["trade_id"]) != \
                ("BTC-USDT", "16552.12", "0.001", "SELL", 12345):
            fail(f"trade fields: {t0}")
        if (t1["connection_id"], t1["trade_id"], t1["kind"], t1["first_trade_id"]) != \
                (9, 77, "AGG_TRADE", 100):
            fail(f"hex-recorded message: {t1}")
        if (t2["connection_id"], t2["receive_time_ns"], t2["trade_id"]) != (0, 0, 78):
            fail(f"raw line: {t2}")
        if [t["sequence"] for t in trades] != [0, 1, 2] or {t["source"] for t in trades} != {"REPLAY"}:
            fail("sequence/source")
        if summary_value(err, "other_venue") != 1 or summary_value(err, "messages") != 3:
            fail(f"summary: {err}")

        # A rejected line: counted by reason; --strict makes it an error, without it exit 0.
        bad = os.path.join(d, "bad.ndjson")
        with open(bad, "w") as f:
            f.write(TRADE + "\n" + '{"stream":"btcusdt@trade","data":{"e":"trade"\n')
        out, err = run(["--venue", "binance", "--input", bad, "--metadata", META, "--strict"], 1)
        if "rejected bad_json=1" not in err or summary_value(err, "trades") != 1:
            fail(f"strict summary: {err}")
        run(["--venue", "binance", "--input", bad, "--metadata", META], 0)

        # The sink from a configuration: a file, JSON lines.
        path = os.path.join(d, "out.jsonl")
        cfg = os.path.join(d, "r.ini")
        with open(cfg, "w") as f:
            f.write(f"[sink]\ntype = file\npath = {path}\n[binance]\nsymbols = BTCUSDT\n"
                    "[kraken]\nenabled = false\n")
        out, _ = run(["--venue", "binance", "--input", rec, "--metadata", META, "-c", cfg], 0)
        if out != "":
            fail("file sink wrote to stdout")
        with open(path) as f:
            if len(f.read().splitlines()) != 3:
                fail("file sink content")

        # Usage errors are exit status 2 with a reason.
        for args, text in [
            (["--input", rec, "--metadata", META], "--venue is required"),
            (["--venue", "nasdaq", "--input", rec, "--metadata", META], "unknown venue"),
            (["--venue", "binance", "--input", rec], "--metadata is required"),
            (["--venue", "binance", "--input", rec, "--metadata", META, "--rest"], "--symbol"),
            (["--venue", "binance", "--input", rec, "--metadata", META, "--bogus"], "unknown option"),
        ]:
            _, err = run(args, 2)
            if text not in err:
                fail(f"usage error for {args}: {err}")
        _, err = run(["--venue", "binance", "--input", os.path.join(d, "missing"),
                      "--metadata", META], 1)
        if "cannot open" not in err:
            fail(err)
    print("replay: ok")


if __name__ == "__main__":
    main()
