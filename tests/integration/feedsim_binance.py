"""Binance conformance: python3-websockets (and a raw client where websockets cannot do it)
against feedsim's Binance port - URL forms, events, control methods, errors, keep-alive,
rate limit, stream limit and lifetime (protocols.md section 1 and checklist section 3)."""

import asyncio
import json
import re
import time
from decimal import Decimal

import websockets

import feedsim_lib as fl
from feedsim_lib import Feedsim, RawWS, recv_json, recv_until, run, wait_closed

SYMS = "BTC-USDT,ETH-USD"
TRADE_KEYS = {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
AGG_KEYS = {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}
DEC8 = re.compile(r"^\d+\.\d{8}$")


def sim(*extra):
    return Feedsim("--binance", 0, "--control", 0, "--symbols", SYMS, "--rate", 200,
                   "--burst", "0.3:6", "--seed", 7, *extra)


def check_trade(d, sym="BTCUSDT"):
    assert set(d) == TRADE_KEYS, d  # no "b"/"a" since 2024-06
    assert d["e"] == "trade" and d["s"] == sym and d["M"] is True
    assert isinstance(d["t"], int) and isinstance(d["m"], bool)
    assert DEC8.match(d["p"]) and DEC8.match(d["q"]), d
    assert d["E"] >= d["T"]


def test_raw_trade_stream():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade")) as ws:
                last = None
                for _ in range(40):
                    d = await recv_json(ws)
                    check_trade(d)
                    assert len(str(d["T"])) == 13  # milliseconds by default
                    if last is not None:
                        assert d["t"] == last + 1, (last, d)
                    last = d["t"]
        run(go())


def test_combined_trade_and_aggtrade_consistent():
    with sim() as fs:
        async def go():
            url = fs.url("binance", "/stream?streams=btcusdt@trade/btcusdt@aggTrade")
            async with websockets.connect(url) as ws:
                trades, aggs = {}, []
                while len(aggs) < 40:
                    m = await recv_json(ws)
                    assert set(m) == {"stream", "data"}
                    d = m["data"]
                    if m["stream"] == "btcusdt@trade":
                        check_trade(d)
                        trades[d["t"]] = d
                    else:
                        assert m["stream"] == "btcusdt@aggTrade"
                        assert set(d) == AGG_KEYS and d["e"] == "aggTrade", d
                        aggs.append(d)
                # Consecutive aggregate ids; f/l tile the trade-id space.
                for a, b in zip(aggs, aggs[1:]):
                    assert b["a"] == a["a"] + 1 and b["f"] == a["l"] + 1, (a, b)
                multi = 0
                for a in aggs:
                    ids = range(a["f"], a["l"] + 1)
                    if not all(i in trades for i in ids):
                        continue  # the aggregate started before we connected
                    multi += a["l"] > a["f"]
                    assert all(trades[i]["p"] == a["p"] for i in ids)
                    assert sum(Decimal(trades[i]["q"]) for i in ids) == Decimal(a["q"])
                    assert all(trades[i]["m"] == a["m"] for i in ids)
                    assert trades[a["f"]]["T"] == a["T"]
                assert multi > 0, "bursts should produce aggregates of several trades"
        run(go())


def test_time_unit():
    with sim() as fs:
        async def first(path):
            async with websockets.connect(fs.url("binance", path)) as ws:
                return await recv_json(ws)
        d = run(first("/ws/btcusdt@trade?timeUnit=MICROSECOND"))
        assert len(str(d["E"])) == 16 and len(str(d["T"])) == 16, d
        d = run(first("/ws/btcusdt@trade?timeUnit=microsecond"))
        assert len(str(d["T"])) == 16
        d = run(first("/ws/btcusdt@trade?timeUnit=MILLISECOND"))
        assert len(str(d["T"])) == 13
        m = run(first("/stream?streams=ethusd@trade&timeUnit=MICROSECOND"))
        assert m["stream"] == "ethusd@trade" and len(str(m["data"]["T"])) == 16
        try:
            run(first("/ws/btcusdt@trade?timeUnit=SECONDS"))
            raise AssertionError("bad timeUnit accepted")
        except websockets.exceptions.InvalidStatusCode as e:
            assert e.status_code == 400


async def control(ws, msg, pace=0.25):
    """Sends a control message and returns the next reply (not a market event). Paced to
    stay under 5 incoming messages per second."""
    await asyncio.sleep(pace)
    await ws.send(json.dumps(msg) if not isinstance(msg, str) else msg)
    m, _ = await recv_until(ws, lambda m: "result" in m or "error" in m)
    return m


def test_live_subscribe_list_properties():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws")) as ws:
                r = await control(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade",
                                                                         "ethusd@aggTrade"],
                                       "id": 1})
                assert r == {"result": None, "id": 1}
                r = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": "list-1"})
                assert r["id"] == "list-1"
                assert sorted(r["result"]) == ["btcusdt@trade", "ethusd@aggTrade"]
                # Raw events on /ws until combined is switched on.
                d, _ = await recv_until(ws, lambda m: m.get("e") == "trade")
                check_trade(d)
                r = await control(ws, {"method": "SET_PROPERTY", "params": ["combined", True],
                                       "id": 9223372036854775807})
                assert r == {"result": None, "id": 9223372036854775807}
                r = await control(ws, {"method": "GET_PROPERTY", "params": ["combined"],
                                       "id": None})
                assert r == {"result": True, "id": None}
                m, _ = await recv_until(ws, lambda m: "stream" in m)
                assert m["stream"] in ("btcusdt@trade", "ethusd@aggTrade")
                uid = "0f8fad5b-d9cb-469f-a165-70867728950e"  # 36 characters
                r = await control(ws, {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade",
                                                                           "ethusd@aggTrade"],
                                       "id": uid})
                assert r == {"result": None, "id": uid}
                r = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 5})
                assert r == {"result": [], "id": 5}
        run(go())


def test_error_replies_nested():
    with sim() as fs:
        cases = [
            ("{not json", 3, "Invalid JSON", None),
            ({"method": "FOO", "id": 4}, 2, "Invalid request: unknown variant `FOO`", 4),
            ({"params": [], "id": 5}, 2, "Invalid request: missing field `method`", None),
            ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": "x" * 37}, 2,
             "Invalid request: request ID must be an unsigned integer", None),
            ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1.5}, 2,
             "Invalid request: request ID must be an unsigned integer", None),
            ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"]}, 2,
             "Invalid request: request ID must be an unsigned integer", None),
            ({"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 6}, 2,
             "Invalid request: invalid stream", 6),
            ({"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 7}, 2,
             "Invalid request: invalid stream", 7),
            ({"method": "SET_PROPERTY", "params": ["nosuch", True], "id": 8}, 0,
             "Unknown property", 8),
            ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 9}, 1,
             "Invalid value type: expected Boolean", 9),
            ({"method": "SET_PROPERTY", "params": [1, True], "id": 10}, 2,
             "Invalid request: property name must be a string", 10),
            ({"method": "GET_PROPERTY", "params": ["combined", 1], "id": 11}, 2,
             "Invalid request: too many parameters", 11),
            ({"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 12}, 2,
             "Invalid request: too many parameters", 12),
        ]

        async def go():
            async with websockets.connect(fs.url("binance", "/ws")) as ws:
                for msg, code, text, rid in cases:
                    r = await control(ws, msg)
                    assert set(r) == {"error", "id"}, r
                    assert r["error"]["code"] == code, (msg, r)
                    assert r["error"]["msg"].startswith(text), (msg, r)
                    assert r["id"] == rid, (msg, r)
                    if text.endswith("invalid stream"):
                        assert r["error"]["data"] == msg["params"][0]
                # A rejected SUBSCRIBE subscribes nothing.
                r = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 13})
                assert r == {"result": [], "id": 13}
        run(go())


def test_client_ping_gets_pong():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade"),
                                          ping_interval=None) as ws:
                waiter = await ws.ping(b"are-you-there")
                await asyncio.wait_for(waiter, 20)
        run(go())


def test_server_ping_and_pong_deadline():
    # time-scale 0.02: a ping every 400 ms, close 1.2 s after an unanswered one. (Pongs count
    # toward the 5 messages/s limit, so pings must stay well under 5/s.)
    with sim("--time-scale", "0.02") as fs:
        # A client that answers every ping outlives many deadlines.
        answering = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")
        assert answering.status == 101
        answered = 0
        while answered < 12:
            op, payload = answering.recv_frame(timeout=20)
            assert op != 0x8, fl.close_info(payload)
            if op == 0x9:
                assert payload.isdigit()  # a copy of it must come back in the pong
                answering.send_frame(0xA, payload)
                answered += 1
        answering.close()
        # A client that never answers is closed with 1008.
        silent = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")
        pings = 0
        code = None
        end = time.monotonic() + 30
        while code is None and time.monotonic() < end:
            op, payload = silent.recv_frame(timeout=20)
            if op == 0x9:
                pings += 1
            elif op == 0x8:
                code, reason = fl.close_info(payload)
        assert pings >= 1
        assert (code, reason) == (1008, "Pong timeout"), (code, reason)
        silent.close()
        # An unsolicited (empty) pong is not an answer.
        unsolicited = RawWS(fs.ports["binance"], "/ws/btcusdt@trade")
        code = None
        while code is None:
            op, payload = unsolicited.recv_frame(timeout=20)
            if op == 0x9:
                unsolicited.send_frame(0xA, b"")
            elif op == 0x8:
                code, _ = fl.close_info(payload)
        assert code == 1008
        unsolicited.close()


def test_rate_limit_closes_1008():
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws")) as ws:
                for i in range(6):
                    await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
                return await wait_closed(ws)
        assert run(go()) == (1008, "Too many requests")
        # Pings count too.
        c = RawWS(fs.ports["binance"], "/ws")
        for i in range(6):
            c.send_frame(0x9, b"p%d" % i)
        assert c.recv_close() == (1008, "Too many requests")
        c.close()
        # Five in a second are fine.
        async def five():
            async with websockets.connect(fs.url("binance", "/ws")) as ws:
                for i in range(5):
                    await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
                for i in range(5):
                    assert (await recv_json(ws))["id"] == i
                await asyncio.sleep(1.2)
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 99}))
                assert (await recv_json(ws))["id"] == 99
        run(five())


def test_stream_limit_1024():
    with sim("--binance-accept-unknown") as fs:
        names = ["s%04dusdt@trade" % i for i in range(1024)]

        async def go():
            async with websockets.connect(fs.url("binance", "/ws")) as ws:
                r = await control(ws, {"method": "SUBSCRIBE", "params": names, "id": 1})
                assert r == {"result": None, "id": 1}
                r = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
                assert len(r["result"]) == 1024
                r = await control(ws, {"method": "SUBSCRIBE", "params": ["one@more"], "id": 3})
                assert r["error"]["code"] == 2 and "too many streams" in r["error"]["msg"]
                r = await control(ws, {"method": "SUBSCRIBE", "params": [names[0]], "id": 4})
                assert r == {"result": None, "id": 4}  # already subscribed: still fine
        run(go())
        short = ["a%d@trade" % i for i in range(1025)]
        path = "/stream?streams=" + "/".join(short)
        c = RawWS(fs.ports["binance"], handshake=False)
        assert c.handshake(path) == 400
        c.close()


def test_lifetime_close_under_time_scale():
    # 24 h x 0.00005 = 4.32 s. Pings are off so only the lifetime can end the connection.
    with sim("--time-scale", "0.00005", "--interval", "binance.ping=0") as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/btcusdt@trade"),
                                          ping_interval=None) as ws:
                got = 0
                try:
                    while True:
                        check_trade(await recv_json(ws, timeout=30))
                        got += 1
                except websockets.exceptions.ConnectionClosed:
                    pass
                assert got > 0
                return ws.close_code, ws.close_reason
        assert run(go()) == (1001, "Connection lifetime exceeded")


def test_ws_counter_path_then_subscribe():
    # ccxt's form: /ws/<its connection counter>, then SUBSCRIBE
    with sim() as fs:
        async def go():
            async with websockets.connect(fs.url("binance", "/ws/0")) as ws:
                r = await control(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"],
                                       "id": 1})
                assert r == {"result": None, "id": 1}
                d, _ = await recv_until(ws, lambda m: m.get("e") == "trade")
                check_trade(d)
        run(go())


def test_bad_urls():
    with sim() as fs:
        # /ws/0: a segment naming no stream (ccxt's connection counter) is accepted and
        # streams nothing until SUBSCRIBE, as production does (protocols.md 1.2)
        for path, status in [("/ws/btcusdt@trades", 400), ("/ws/nosuch@trade", 400),
                             ("/foo", 404), ("/stream?streams=btcusdt@trade/", 101),
                             ("/ws/0", 101), ("/ws/1/btcusdt@trade", 101),
                             ("/stream?streams=0", 400)]:
            c = RawWS(fs.ports["binance"], handshake=False)
            assert c.handshake(path) == status, path
            c.close()


if __name__ == "__main__":
    fl.main(globals())
