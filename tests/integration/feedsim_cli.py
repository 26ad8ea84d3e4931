"""The command line (help, errors, ports file, --duration), determinism from --seed, and
blast mode (valid frames, consecutive ids, the truth-log summary)."""

import asyncio
import json
import os
import subprocess

import websockets

import feedsim_lib as fl
from feedsim_lib import Feedsim, recv_json, run


def cli(*args):
    p = subprocess.run([fl.FEEDSIM] + [str(a) for a in args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_help_version_and_errors():
    rc, out, _ = cli("--help")
    assert rc == 0
    for opt in ("--binance", "--kraken-v1", "--kraken-v2", "--control", "--tls", "--seed",
                "--symbols", "--rate", "--burst", "--truth", "--replay", "--blast",
                "--time-scale", "--interval", "--fault", "--ports-file", "--tick",
                "docs/FEEDSIM.md"):
        assert opt in out, opt
    rc, out, _ = cli("--version")
    assert rc == 0 and out.startswith("feedsim ")
    for args in (["--binance", "x"], ["--rate", "1"], ["--binance", "0", "--nosuch"],
                 ["--binance", "0", "--time-scale", "0"], ["--binance", "0", "extra"],
                 ["--binance", "0", "--burst", "2:5"], ["--binance", "0", "--interval", "x=1s"],
                 ["--binance", "0", "--tick", "10us"], ["--binance", "0", "--tick", "2s"],
                 ["--binance", "0", "--tick", "5"], ["--binance", "0", "--tick-ms", "0"]):
        rc, _, err = cli(*args)
        assert rc == 2 and "feedsim:" in err, (args, rc, err)
    rc, _, err = cli("--binance", 0, "--symbols", "BTCUSDT")
    assert rc == 1 and "bad symbol" in err
    rc, _, err = cli("--binance", 0, "--fault", "kind=nope")
    assert rc == 1 and "bad --fault" in err


def test_ports_file_and_duration():
    fs = Feedsim("--binance", 0, "--kraken-v2", 0, "--duration", "1s")
    fs.args += ["--ports-file", fs.path("ports.json")]
    with fs:
        with open(fs.path("ports.json")) as f:
            assert json.load(f) == fs.ports
        assert set(fs.ports) == {"binance", "kraken_v2", "tls", "pid"}
        fs.proc.wait(timeout=30)  # exits by itself, cleanly (checked on exit)


def sequences(seed, *extra):
    fs = Feedsim("--binance", 0, "--kraken-v2", 0, "--control", 0, "--rate", 400,
                 "--seed", seed, "--symbols", "BTC-USDT,DOGE-USD", *extra)
    fs.args += ["--truth", fs.path("truth.ndjson")]
    with fs:
        fl.wait_until(lambda: len(fs.truth()) > 600, what="trades")
        seq = {}
        for t in fs.truth():
            key = (t["venue"], t["native_symbol"])
            seq.setdefault(key, []).append((t["trade_id"], t["price"], t["quantity"], t["side"]))
        return {k: v[:100] for k, v in seq.items()}


def test_same_seed_same_trades():
    a, b, c = sequences(42), sequences(42), sequences(43)
    assert set(a) == {("binance", "BTCUSDT"), ("binance", "DOGEUSD"),
                      ("kraken_v2", "BTC/USDT"), ("kraken_v2", "DOGE/USD")}
    assert all(len(v) == 100 for v in a.values())
    assert a == b
    assert all(a[k] != c[k] for k in a)
    # The trades follow the seed's schedule, not the timer: a 100 µs tick (a timerfd) or a
    # 1 ms one sends the same trades as the default 5 ms, in smaller bursts.
    assert sequences(42, "--tick", "100us") == a
    assert sequences(42, "--tick-ms", "1") == a


def test_blast_binance_and_kraken():
    fs = Feedsim("--binance", 0, "--kraken-v1", 0, "--kraken-v2", 0, "--control", 0, "--blast")
    fs.args += ["--truth", fs.path("truth.ndjson")]
    with fs:
        async def go():
            n = 30000
            # After reading, the clients leave with a short close timeout: their receive queue
            # is full of blast frames nobody reads, so the close handshake cannot finish.
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade"),
                                          close_timeout=0.2) as ws:
                prev = None
                for _ in range(n):
                    d = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    assert d["e"] == "trade" and d["s"] == "BTCUSDT"
                    assert prev is None or d["t"] == prev + 1
                    prev = d["t"]
            url = fs.url("binance", "/stream?streams=ethusd@aggTrade/btcusdt@trade")
            async with websockets.connect(url, close_timeout=0.2) as ws:
                last = {}
                for _ in range(2000):
                    m = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    d = m["data"]
                    i = d["a"] if d["e"] == "aggTrade" else d["t"]
                    if d["e"] == "aggTrade":
                        assert d["f"] == d["l"] == d["a"]
                    assert m["stream"] not in last or i == last[m["stream"]] + 1
                    last[m["stream"]] = i
                assert len(last) == 2
            async with websockets.connect(fs.url("kraken_v2", "/v2"), close_timeout=0.2) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["BTC/USDT"]}}))
                prev = None
                seen = 0
                while seen < 2000:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    if m.get("channel") != "trade":
                        continue
                    for t in m["data"]:
                        assert prev is None or t["trade_id"] == prev + 1
                        prev = t["trade_id"]
                        seen += 1
            async with websockets.connect(fs.url("kraken_v1", "/"), close_timeout=0.2) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"event": "subscribe", "pair": ["XDG/USD"],
                                          "subscription": {"name": "trade"}}))
                rows = 0
                while rows < 2000:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    if isinstance(m, list):
                        assert m[2] == "trade" and m[3] == "XDG/USD" and len(m[1][0]) == 6
                        rows += 1
        run(go())
        fl.wait_until(lambda: len(fs.conns()) == 0, what="blast connections closed")
        summaries = [t for t in fs.truth() if t.get("blast")]
        bn = [s for s in summaries if s["venue"] == "binance" and s["stream"] == "trade"]
        assert bn and bn[0]["frames"] >= 30000
        assert all(s["last_trade_id"] - s["first_trade_id"] + 1 == s["frames"] for s in summaries)


if __name__ == "__main__":
    fl.main(globals())
