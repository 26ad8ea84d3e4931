"""--replay: recorded sessions from the corpus ($FH_CORPUS_DIR/sessions) are played to
subscribers byte for byte, in order, with the recorded Kraken channel ids, and their trades
reach the truth log."""

import asyncio
import json
import os
import shutil

import websockets

import feedsim_lib as fl
from feedsim_lib import Feedsim, recv_json, run

SESSIONS = os.path.join(os.environ.get("FH_CORPUS_DIR", ""), "sessions")
BN = os.path.join(SESSIONS, "binance_2021-10-11_combined_depth-bookTicker-kline-aggTrade_4pairs"
                  ".ndjson")
KR = os.path.join(SESSIONS, "kraken_v1_2021-04-17_trade_10pairs.ndjson")


def lines(path):
    with open(path, "rb") as f:
        return [l.rstrip(b"\n") for l in f if l.strip()]


def test_binance_combined_byte_for_byte():
    recorded = lines(BN)
    streams = sorted({json.loads(l)["stream"] for l in recorded})
    fs = Feedsim("--binance", 0, "--control", 0, "--replay", BN, "--replay-speed", 0)
    fs.args += ["--truth", fs.path("truth.ndjson")]
    with fs:
        async def go():
            url = fs.url("binance", "/stream?streams=" + "/".join(streams))
            got = []
            async with websockets.connect(url, max_size=None) as ws:
                while len(got) < len(recorded):
                    got.append((await asyncio.wait_for(ws.recv(), 20)).encode())
            return got
        got = run(go())
        assert got == recorded
        truth = fs.truth()
        aggs = [json.loads(l)["data"] for l in recorded if b"@aggTrade" in l.split(b",")[0]]
        assert [t["trade_id"] for t in truth] == [a["a"] for a in aggs]
        assert all(t["price"] == a["p"] and t["quantity"] == a["q"] and
                   t["trade_time_us"] == a["T"] * 1000 for t, a in zip(truth, aggs))


def test_binance_raw_stream_timed():
    recorded = lines(BN)
    want = []
    for l in recorded:
        m = json.loads(l)
        if m["stream"] == "nknusdt@aggTrade":
            # The raw form is the data object exactly as it sits in the recorded line.
            want.append(l[l.index(b'"data":') + 7:-1])
    # 30 s of recorded time at 60x.
    with Feedsim("--binance", 0, "--control", 0, "--replay", BN, "--replay-speed", 60) as fs:
        async def go():
            got = []
            async with websockets.connect(fs.url("binance", "/ws/nknusdt@aggTrade")) as ws:
                while len(got) < len(want):
                    got.append((await asyncio.wait_for(ws.recv(), 20)).encode())
            return got
        assert run(go()) == want


def test_kraken_v1_session():
    recorded = lines(KR)
    subs = [json.loads(l) for l in recorded if b'"subscriptionStatus"' in l]
    pairs = [s["pair"] for s in subs]
    played = [l for l in recorded if not l.startswith(b'{"c') or b"heartbeat" in l]
    played = [l for l in played if b'"systemStatus"' not in l and b'"subscriptionStatus"' not in l]
    fs = Feedsim("--kraken-v1", 0, "--control", 0, "--replay", KR, "--replay-speed", 0)
    fs.args += ["--truth", fs.path("truth.ndjson")]
    with fs:
        async def go():
            async with websockets.connect(fs.url("kraken_v1", "/")) as ws:
                assert (await recv_json(ws))["event"] == "systemStatus"
                await ws.send(json.dumps({"event": "subscribe", "pair": pairs,
                                          "subscription": {"name": "trade"}}))
                acks = [await recv_json(ws) for _ in pairs]
                got = []
                while len(got) < len(played):
                    got.append((await asyncio.wait_for(ws.recv(), 20)).encode())
                return acks, got
        acks, got = run(go())
        ids = {s["pair"]: s["channelID"] for s in subs}
        assert all(a["status"] == "subscribed" and a["channelID"] == ids[a["pair"]] for a in acks)
        assert got == played
        rows = [r for l in played if l.startswith(b"[") for r in json.loads(l)[1]]
        truth = fs.truth()
        assert len(truth) == len(rows)
        assert all(t["venue"] == "kraken_v1" for t in truth)
        assert [(t["price"], t["quantity"]) for t in truth] == [(r[0], r[1]) for r in rows]


def test_replay_errors():
    for args, why in [(("--binance", 0, "--replay", "/nonexistent.ndjson"), "no replay file"),
                      (("--kraken-v1", 0, "--replay", BN), "a Binance recording, no Binance")]:
        fs = Feedsim(*args)
        try:
            fs.__enter__()
            raise AssertionError("started with " + why)
        except AssertionError as e:
            assert "did not start" in str(e), e
        shutil.rmtree(fs.tmp, ignore_errors=True)


if __name__ == "__main__":
    fl.main(globals())
