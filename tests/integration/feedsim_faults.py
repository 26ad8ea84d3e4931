"""Every fault kind, triggered through the control API (and one from --fault), with its
observable effect checked from the client side (docs/FEEDSIM.md, "Faults")."""

import asyncio
import json
import socket
import threading
import time

import websockets

import feedsim_lib as fl
from feedsim_lib import Feedsim, RawWS, recv_json, recv_until, run, wait_closed, wait_until

SYMS = "BTC-USDT,ETH-USD"


def sim(*extra, rate=100):
    fs = Feedsim("--binance", 0, "--kraken-v1", 0, "--kraken-v2", 0, "--control", 0,
                 "--symbols", SYMS, "--rate", rate, "--burst", "0:1", "--seed", 3, *extra)
    fs.args += ["--truth", fs.path("truth.ndjson")]
    return fs


def bn_trades(ws_raw, n, timeout=20):
    out = []
    while len(out) < n:
        out.append(json.loads(ws_raw.recv_text(timeout)))
    return out


def test_drop_close_code():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade")) as b, \
                    websockets.connect(fs.url("kraken_v2", "/v2")) as k:
                await recv_json(b)
                await recv_json(k)
                body = fs.fault("kind=drop,venue=binance,code=4000,reason=test-drop")
                assert body["affected"] == 1
                assert await wait_closed(b) == (4000, "test-drop")
                assert k.open  # other venues untouched
                fs.fault("kind=drop&venue=kraken-v2&code=1012")
                assert (await wait_closed(k))[0] == 1012
        run(go())


def test_drop_reset_and_eof():
    with sim() as fs:
        c = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")
        c.recv_text()
        conn_id = max(x["id"] for x in fs.conns("binance"))
        fs.fault("kind=drop,mode=reset,conn=%d" % conn_id)
        try:
            while True:
                c.recv_frame(timeout=20)
        except ConnectionResetError:
            pass
        except fl.Closed:
            raise AssertionError("expected a reset, got a clean EOF")
        c.close()
        c = RawWS(fs.ports["kraken_v1"], "/")
        c.recv_text()
        fs.fault("kind=drop,mode=eof,venue=kraken-v1")
        try:
            while True:
                op, payload = c.recv_frame(timeout=20)
                assert op != 0x8, "EOF mode sends no close frame"
        except fl.Closed:
            pass
        c.close()


def test_stall_discard_then_resume_gap():
    with sim() as fs:
        c = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")
        before = bn_trades(c, 5)
        fs.fault("kind=stall,venue=binance")
        wait_until(lambda: fs.conns("binance")[0]["stalled"], what="stalled")
        # Drain what was already on the wire, then nothing arrives.
        last = before[-1]
        try:
            while True:
                last = json.loads(c.recv_text(timeout=1.0))
        except socket.timeout:
            pass
        # Meanwhile trades keep happening (truth), unseen by this client.
        n0 = len([t for t in fs.truth() if t["native_symbol"] == "BTCUSDT"])
        wait_until(lambda: len([t for t in fs.truth() if t["native_symbol"] == "BTCUSDT"])
                   > n0 + 20, what="trades during the stall")
        fs.control("/resume", body="venue=binance")
        after = json.loads(c.recv_text(timeout=20))
        assert after["t"] > last["t"] + 20, (last["t"], after["t"])
        truth_ids = {t["trade_id"] for t in fs.truth() if t["native_symbol"] == "BTCUSDT"}
        assert all(i in truth_ids for i in range(last["t"] + 1, after["t"]))
        c.close()


def test_stall_queue_then_resume_no_gap():
    with sim() as fs:
        c = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")
        last = bn_trades(c, 3)[-1]["t"]
        fs.fault("kind=stall,mode=queue,venue=binance,for=600ms")
        got = bn_trades(c, 150)
        ids = [last] + [t["t"] for t in got]
        assert ids == list(range(last, last + len(ids)))
        c.close()


def test_malformed_frames():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("kraken_v2", "/v2")) as ws:
                await recv_json(ws)
                fs.fault("kind=malformed,venue=kraken-v2,count=2")
                bad = 0
                while bad < 2:
                    text = await asyncio.wait_for(ws.recv(), 20)
                    try:
                        json.loads(text)
                    except json.JSONDecodeError:
                        bad += 1
                # Still open and serving.
                await ws.send(json.dumps({"method": "ping", "req_id": 1}))
                await recv_until(ws, lambda m: m.get("method") == "pong")
        run(go())


def test_oversize_frame():
    with sim(rate=20) as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade"),
                                          max_size=None) as ws:
                await recv_json(ws)
                fs.fault("kind=oversize,venue=binance,bytes=3m")
                while True:
                    text = await asyncio.wait_for(ws.recv(), 20)
                    if len(text) > 100000:
                        break
                assert len(text) == 3 * 1024 * 1024
                assert json.loads(text)["pad"].startswith("xxx")
                # Normal frames follow.
                assert (await recv_json(ws))["e"] == "trade"

            # A client with a 1 MiB limit fails the connection (it sends 1009); feedsim, in the
            # middle of the frame, cannot answer with a close frame and resets the connection.
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade"),
                                          close_timeout=1) as ws:
                await recv_json(ws)
                fs.fault("kind=oversize,venue=binance,bytes=2m")
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 20)
                except websockets.exceptions.ConnectionClosed as e:
                    assert e.sent is not None and e.sent.code == 1009, e
        run(go())
        wait_until(lambda: not fs.conns("binance"), what="the refused connection gone")


def test_bad_utf8_frame():
    with sim() as fs:
        c = RawWS(fs.ports["binance"], "/ws/ethusd@trade")
        c.recv_text()
        fs.fault("kind=badutf8,venue=binance")
        while True:
            payload = c.recv_text(timeout=20)
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                break
        c.close()

        async def go():
            async with websockets.connect(fs.url("kraken_v2", "/v2")) as ws:
                await recv_json(ws)
                fs.fault("kind=badutf8,venue=kraken-v2")
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 20)
                except websockets.exceptions.ConnectionClosed as e:
                    return e.sent.code if e.sent is not None else None
        assert run(go()) == 1007  # the client refuses invalid UTF-8 in a text frame


def test_skip_trade_ids_real_gap():
    with sim() as fs:
        c = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")
        first = bn_trades(c, 3)
        fs.fault("kind=skip,venue=binance,symbol=BTC-USDT,count=5")
        got = first + bn_trades(c, 30)
        ids = [t["t"] for t in got]
        jumps = [(a, b) for a, b in zip(ids, ids[1:]) if b != a + 1]
        assert len(jumps) == 1 and jumps[0][1] == jumps[0][0] + 6, jumps
        a, b = jumps[0]
        # The skipped ids exist nowhere: not in the truth log, not in REST.
        truth_ids = {t["trade_id"] for t in fs.truth() if t["native_symbol"] == "BTCUSDT"}
        assert a in truth_ids and b in truth_ids
        assert not any(i in truth_ids for i in range(a + 1, b))
        _, _, rows = fl.http_json(fs.url("binance", "/api/v3/historicalTrades?symbol=BTCUSDT"
                                         "&fromId=%d&limit=10" % a, "http"))
        assert [r["id"] for r in rows][:2] == [a, b]
        c.close()


def test_omit_trades_recoverable():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("kraken_v2", "/v2")) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["BTC/USDT"]}}))
                await recv_until(ws, lambda m: m.get("method") == "subscribe")
                ids = []
                while len(ids) < 3:
                    m = await recv_json(ws)
                    if m.get("channel") == "trade":
                        ids += [t["trade_id"] for t in m["data"]]
                conn = [x for x in fs.conns("kraken_v2") if x["subs"]][0]["id"]
                fs.fault("kind=omit,conn=%d,symbol=BTC-USDT,count=4" % conn)
                while len(ids) < 30:
                    m = await recv_json(ws)
                    if m.get("channel") == "trade":
                        ids += [t["trade_id"] for t in m["data"]]
                return ids
        ids = run(go())
        jumps = [(a, b) for a, b in zip(ids, ids[1:]) if b != a + 1]
        assert len(jumps) == 1 and jumps[0][1] == jumps[0][0] + 5, jumps
        a, b = jumps[0]
        # The omitted trades happened: REST has them (a backfill recovers them).
        _, _, res = fl.http_json(fs.url("kraken_v2", "/0/public/Trades?pair=XBTUSDT", "http"))
        rest_ids = {r[6] for r in res["result"]["XBTUSDT"]}
        assert all(i in rest_ids for i in range(a, b + 1))


def test_refuse_handshakes():
    with sim() as fs:
        fs.fault("kind=refuse,venue=binance,count=1,status=503")
        c = RawWS(fs.ports["binance"], handshake=False)
        assert c.handshake("/ws/btcusdt@trade") == 503
        c.close()
        c = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")  # only one was refused
        assert c.status == 101
        c.close()
        fs.fault("kind=refuse,venue=kraken-v1,mode=reset")
        for _ in range(2):
            c = RawWS(fs.ports["kraken_v1"], handshake=False)
            try:
                c.handshake("/")
                raise AssertionError("handshake should have been reset")
            except (ConnectionResetError, fl.Closed):
                pass
            c.close()
        fs.control("/resume", body="venue=kraken-v1")
        c = RawWS(fs.ports["kraken_v1"], "/")
        assert c.status == 101
        c.close()


def test_delay_handshake():
    with sim() as fs:
        fs.fault("kind=delay,venue=kraken-v1,delay=1500ms,count=1")
        result = {}

        def connect():
            c = RawWS(fs.ports["kraken_v1"], "/")
            result["status"] = c.status
            result["first"] = json.loads(c.recv_text())
            c.close()
        th = threading.Thread(target=connect)
        th.start()
        # Observable: the connection sits in the ws_delay phase, then completes.
        wait_until(lambda: any(x["phase"] == "ws_delay" for x in fs.conns("kraken_v1")),
                   what="a delayed handshake")
        th.join(30)
        assert result["status"] == 101 and result["first"]["event"] == "systemStatus"


def test_binance_server_shutdown():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade")) as raw, \
                    websockets.connect(fs.url("binance", "/stream?streams=btcusdt@trade")) as comb:
                await recv_json(raw)
                await recv_json(comb)
                fs.fault("kind=shutdown,venue=binance,after=300ms")
                m, _ = await recv_until(raw, lambda m: m.get("e") == "serverShutdown")
                assert isinstance(m["E"], int)
                m, _ = await recv_until(comb, lambda m: m.get("stream") == "!serverShutdown")
                assert m["data"]["e"] == "serverShutdown"
                assert (await wait_closed(raw))[0] == 1001
                assert (await wait_closed(comb))[0] == 1001
        run(go())


def test_kraken_maintenance():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("kraken_v1", "/")) as v1, \
                    websockets.connect(fs.url("kraken_v2", "/v2")) as v2:
                await recv_json(v1)
                await recv_json(v2)
                fs.fault("kind=maintenance,venue=kraken")
                m, _ = await recv_until(v1, lambda m: m.get("event") == "systemStatus")
                assert m["status"] == "maintenance"
                m, _ = await recv_until(v2, lambda m: m.get("channel") == "status")
                assert m["data"][0]["system"] == "maintenance"
                _, _, st = fl.http_json(fs.url("kraken_v1", "/0/public/SystemStatus", "http"))
                assert st["result"]["status"] == "maintenance"
                # No matching: the Kraken engine generates nothing (Binance carries on).
                n0 = len([t for t in fs.truth() if t["venue"] == "kraken_v2"])
                b0 = len([t for t in fs.truth() if t["venue"] == "binance"])
                wait_until(lambda: len([t for t in fs.truth() if t["venue"] == "binance"])
                           > b0 + 30, what="binance trades")
                assert len([t for t in fs.truth() if t["venue"] == "kraken_v2"]) == n0
                fs.control("/resume", body="venue=kraken")
                m, _ = await recv_until(v1, lambda m: m.get("event") == "systemStatus")
                assert m["status"] == "online"
                wait_until(lambda: len([t for t in fs.truth() if t["venue"] == "kraken_v2"])
                           > n0, what="kraken trades again")
        run(go())


def test_slow_sending():
    with sim(rate=300) as fs:
        c = RawWS(fs.ports["binance"], "/stream?streams=btcusdt@trade/ethusd@trade")
        c.recv_text()
        stop = threading.Event()

        def drain():
            while not stop.is_set():
                try:
                    c.recv_frame(timeout=0.2)
                except (socket.timeout, fl.Closed, OSError):
                    pass
        reader = threading.Thread(target=drain)
        reader.start()
        try:
            fs.fault("kind=slow,venue=binance,bps=2000")
            # Though the client reads, frames pile up in the server's buffer.
            wait_until(lambda: fs.conns("binance")[0]["pending"] > 20000, what="pending bytes")
            assert fs.conns("binance")[0]["slow_bps"] == 2000
            fs.control("/resume")
            wait_until(lambda: fs.conns("binance")[0]["pending"] < 20000, what="drained")
        finally:
            stop.set()
            reader.join()
        c.close()


def test_scheduled_fault_from_cli():
    with sim("--fault", "at=1500ms,venue=binance,kind=drop,code=4001,reason=scheduled") as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade")) as ws:
                return await wait_closed(ws)
        assert run(go()) == (4001, "scheduled")


def test_connection_budget():
    with sim("--conn-budget", "binance=3/1h") as fs:
        for _ in range(3):
            c = RawWS(fs.ports["binance"], "/ws")
            assert c.status == 101
            c.close()
        c = RawWS(fs.ports["binance"], handshake=False)
        assert c.handshake("/ws") == 429
        assert b"Retry-After: " in c.head
        c.close()
        # REST is not a connection attempt in this sense, and Kraken has no budget here.
        assert fl.http_get(fs.url("binance", "/api/v3/ping", "http"))[0] == 200
        assert RawWS(fs.ports["kraken_v2"], "/v2").status == 101


def test_bad_fault_specs():
    with sim() as fs:
        for spec in ["kind=nosuch", "venue=binance", "kind=drop,code=99", "kind=skip,symbol=X-Y",
                     "kind=drop,bogus=1", "kind=stall,for=5parsecs"]:
            status, body = fs.control("/fault", body=spec)
            assert status == 400 and body["ok"] is False and body["error"], (spec, body)
        status, body = fs.control("/nosuch", method="GET")
        assert status == 404


if __name__ == "__main__":
    fl.main(globals())
