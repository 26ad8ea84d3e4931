"""Kraken conformance: python3-websockets against feedsim's Kraken WebSocket v1 and v2 ports -
status on connect, per-pair acks and errors, trade messages (checked against the truth log),
heartbeats, ping/pong, snapshots, idle and no-subscription closes (protocols.md 2.1, 2.2 and
checklist section 3)."""

import asyncio
import json
import re
import time
from decimal import Decimal

import websockets

import feedsim_lib as fl
from feedsim_lib import Feedsim, recv_json, recv_until, run, wait_closed

SYMS = "BTC-USDT,ETH-USD,DOGE-USD"
RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
V1_TIME = re.compile(r"^\d{10}\.\d{6}$")


def sim(*extra, rate=100):
    return Feedsim("--kraken-v1", 0, "--kraken-v2", 0, "--control", 0, "--symbols", SYMS,
                   "--rate", rate, "--seed", 11, *extra)


def exact(text):
    """JSON with every number as an exact Decimal (Kraken v2 numbers must not go through
    binary floats)."""
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def truth_by(fs, venue):
    out = {}
    for t in fs.truth():
        if t["venue"] == venue:
            out.setdefault(t["native_symbol"], []).append(t)
    return out


# ---------------- v1 ----------------

def test_v1_status_subscribe_and_trades_match_truth():
    fs = sim()
    fs.args += ["--truth", fs.path("truth.ndjson")]
    with fs:
        async def go():
            async with websockets.connect(fs.url("kraken_v1", "/")) as ws:
                st = exact(await ws.recv())
                assert st["event"] == "systemStatus" and st["status"] == "online"
                assert isinstance(st["connectionID"], Decimal) and st["connectionID"] > 2 ** 63
                assert st["version"]
                await ws.send(json.dumps({"event": "subscribe", "pair": ["XBT/USDT", "XDG/USD"],
                                          "subscription": {"name": "trade"}, "reqid": 42}))
                acks = {}
                for _ in range(2):
                    a, _ = await recv_until(ws, lambda m: isinstance(m, dict))
                    assert a["event"] == "subscriptionStatus" and a["status"] == "subscribed", a
                    assert a["channelName"] == "trade" and a["reqid"] == 42
                    assert a["subscription"] == {"name": "trade"}
                    acks[a["pair"]] = a["channelID"]
                assert set(acks) == {"XBT/USDT", "XDG/USD"}
                rows = {"XBT/USDT": [], "XDG/USD": []}
                multi = 0
                while min(len(v) for v in rows.values()) < 60:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    if isinstance(m, dict):
                        assert m == {"event": "heartbeat"}, m
                        continue
                    chan, trades, name, pair = m
                    assert name == "trade" and chan == acks[pair]
                    multi += len(trades) > 1
                    for r in trades:
                        assert len(r) == 6 and all(isinstance(x, str) for x in r), r
                        assert r[3] in ("b", "s") and r[4] in ("l", "m") and r[5] == ""
                        assert V1_TIME.match(r[2]), r
                        rows[pair].append(r)
                assert multi > 0, "coinciding trades should share a message"
                return rows
        rows = run(go())
        truth = truth_by(fs, "kraken_v1")
        for pair, got in rows.items():
            places = {len(r[0].split(".")[1]) for r in got}
            assert len(places) == 1, places  # fixed decimals per pair
            want = truth[pair]
            # The streamed rows are a contiguous run of the truth log, in order.
            first = next(i for i, t in enumerate(want)
                         if Decimal(t["price"]) == Decimal(got[0][0]) and
                         Decimal(t["quantity"]) == Decimal(got[0][1]) and
                         t["trade_time_us"] == int(got[0][2].replace(".", "")))
            for r, t in zip(got, want[first:]):
                assert Decimal(r[0]) == Decimal(t["price"]), (r, t)
                assert Decimal(r[1]) == Decimal(t["quantity"]), (r, t)
                assert int(r[2].replace(".", "")) == t["trade_time_us"]
                assert r[3] == t["side"][0]
            ids = [t["trade_id"] for t in want[first:first + len(got)]]
            assert ids == list(range(ids[0], ids[0] + len(ids)))


def test_v1_errors():
    with sim() as fs:
        async def ask(ws, msg):
            await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
            m, _ = await recv_until(ws, lambda m: isinstance(m, dict) and
                                    m.get("event") != "heartbeat")
            return m

        async def go():
            async with websockets.connect(fs.url("kraken_v1", "/")) as ws:
                await recv_json(ws)
                sub = {"name": "trade"}
                m = await ask(ws, {"event": "subscribe", "pair": ["BTC/USD"],
                                   "subscription": sub, "reqid": 1})
                assert m["status"] == "error" and m["errorMessage"] == "Pair(s) not found"
                assert m["pair"] == "BTC/USD" and m["reqid"] == 1
                m = await ask(ws, {"event": "subscribe", "pair": ["XBTUSDT"],
                                   "subscription": sub})
                assert m["errorMessage"].startswith("Currency pair not in ISO 4217-A3 format")
                m = await ask(ws, {"event": "subscribe", "pair": "XBT/USDT",
                                   "subscription": sub})
                assert m["errorMessage"] == "Pair field must be an array"
                m = await ask(ws, {"event": "subscribe", "pair": ["XBT/USDT"],
                                   "subscription": "trade"})
                assert m["errorMessage"] == "Subscription field must be an object"
                m = await ask(ws, {"event": "subscribe", "pair": ["XBT/USDT"],
                                   "subscription": {"name": "nosuch"}})
                assert m["errorMessage"] == "Subscription name invalid"
                m = await ask(ws, {"event": "subscribe", "pair": ["XBT/USDT"],
                                   "subscription": {"name": "trade", "depth": 10}})
                assert m["errorMessage"] == "Subscription depth not supported"
                m = await ask(ws, {"pair": ["XBT/USDT"], "reqid": 1})
                assert m == {"errorMessage": "Event(s) not found", "event": "subscriptionStatus",
                             "reqid": 1, "status": "error"}
                m = await ask(ws, {"event": "nosuch", "reqid": 2})
                assert m["errorMessage"] == "Event(s) not found" and m["reqid"] == 2
                m = await ask(ws, "{broken")
                assert m == {"errorMessage": "Malformed request", "event": "error"}
                m = await ask(ws, {"event": "unsubscribe", "pair": ["XBT/USDT"],
                                   "subscription": sub})
                assert m["errorMessage"] == "Subscription Not Found"
                m = await ask(ws, {"event": "subscribe", "pair": ["XBT/USDT"],
                                   "subscription": sub})
                assert m["status"] == "subscribed"
                m = await ask(ws, {"event": "subscribe", "pair": ["XBT/USDT"],
                                   "subscription": sub})
                assert m["errorMessage"] == "Already subscribed"
                m = await ask(ws, {"event": "unsubscribe", "pair": ["XBT/USDT"],
                                   "subscription": sub, "reqid": 9})
                assert m["status"] == "unsubscribed" and m["reqid"] == 9
                assert m["channelName"] == "trade" and m["pair"] == "XBT/USDT"
        run(go())


def test_v1_ping_heartbeat_idle_and_nosub():
    # No trades; time-scale 0.025: heartbeat every 25 ms, idle and no-subscription closes
    # after 1.5 s.
    with sim("--time-scale", "0.025", rate=0) as fs:
        async def go():
            async with websockets.connect(fs.url("kraken_v1", "/")) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"event": "ping", "reqid": 42}))
                assert await recv_json(ws) == {"event": "pong", "reqid": 42}
                await ws.send(json.dumps({"event": "ping"}))
                assert await recv_json(ws) == {"event": "pong"}
                # No heartbeat before a subscription.
                try:
                    m = await asyncio.wait_for(ws.recv(), 0.5)
                    raise AssertionError("unexpected %r" % m)
                except asyncio.TimeoutError:
                    pass
                await ws.send(json.dumps({"event": "subscribe", "pair": ["ETH/USD"],
                                          "subscription": {"name": "trade"}}))
                assert (await recv_json(ws))["status"] == "subscribed"
                for _ in range(3):
                    assert await recv_json(ws) == {"event": "heartbeat"}
                # Silence from the client: closed for idleness.
                return await wait_closed(ws)
        assert run(go()) == (1000, "Idle timeout")

        async def nosub():
            async with websockets.connect(fs.url("kraken_v1", "/")) as ws:
                await recv_json(ws)
                # Keep pinging (not idle) but never subscribe.
                for _ in range(200):
                    try:
                        await ws.send(json.dumps({"event": "ping"}))
                        m = await recv_json(ws, timeout=5)
                    except websockets.exceptions.ConnectionClosed:
                        return ws.close_code, ws.close_reason
                    assert m == {"event": "pong"}
                    await asyncio.sleep(0.05)
                raise AssertionError("not closed")
        assert run(nosub()) == (1000, "No subscriptions")

        async def pinging_survives():
            async with websockets.connect(fs.url("kraken_v1", "/")) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"event": "subscribe", "pair": ["ETH/USD"],
                                          "subscription": {"name": "trade"}}))
                await recv_json(ws)
                # Twice the idle limit, with a ping every 0.3 s: still open.
                end = time.monotonic() + 3
                while time.monotonic() < end:
                    await ws.send(json.dumps({"event": "ping"}))
                    await recv_until(ws, lambda m: m.get("event") == "pong")
                    await asyncio.sleep(0.3)
                assert ws.open
        run(pinging_survives())


def test_v1_snapshot_option():
    with sim("--kraken-v1-snapshot", 20) as fs:
        time.sleep(0.5)

        async def go():
            async with websockets.connect(fs.url("kraken_v1", "/")) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"event": "subscribe", "pair": ["XBT/USDT"],
                                          "subscription": {"name": "trade"}}))
                assert (await recv_json(ws))["status"] == "subscribed"
                m = await recv_json(ws)
                assert isinstance(m, list) and len(m[1]) == 20, m
        run(go())


# ---------------- v2 ----------------

def test_v2_status_subscribe_snapshot_and_updates():
    fs = sim()
    fs.args += ["--truth", fs.path("truth.ndjson")]
    with fs:
        time.sleep(1.0)  # let history build up for the snapshot

        async def go():
            async with websockets.connect(fs.url("kraken_v2", "/v2")) as ws:
                st = exact(await ws.recv())
                assert st["channel"] == "status" and st["type"] == "update"
                d = st["data"][0]
                assert d["api_version"] == "v2" and d["system"] == "online"
                assert d["connection_id"] > 2 ** 63
                await ws.send(json.dumps({"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["BTC/USDT", "DOGE/USD"], "snapshot": True},
                    "req_id": 7}))
                snaps, updates, raw = {}, {}, []
                acks = 0
                while acks < 2 or len(snaps) < 2 or min(len(updates.get(s, []))
                                                         for s in snaps) < 80:
                    text = await asyncio.wait_for(ws.recv(), 20)
                    m = exact(text)
                    if m.get("method") == "subscribe":
                        assert m["success"] is True and m["req_id"] == 7
                        assert m["result"]["channel"] == "trade" and m["result"]["snapshot"]
                        assert RFC3339_US.match(m["time_in"]) and RFC3339_US.match(m["time_out"])
                        acks += 1
                        continue
                    if m.get("channel") == "heartbeat":
                        continue
                    assert m["channel"] == "trade", m
                    raw.append(text)
                    for t in m["data"]:
                        assert set(t) == {"symbol", "side", "price", "qty", "ord_type",
                                          "trade_id", "timestamp"}
                        assert t["side"] in ("buy", "sell")
                        assert t["ord_type"] in ("limit", "market")
                        assert isinstance(t["price"], Decimal) and isinstance(t["qty"], Decimal)
                        assert RFC3339_US.match(t["timestamp"])
                        box = snaps if m["type"] == "snapshot" else updates
                        box.setdefault(t["symbol"], []).append(t)
                return snaps, updates, raw
        snaps, updates, raw = run(go())
        truth = {}
        for t in fs.truth():
            if t["venue"] == "kraken_v2":
                truth[(t["native_symbol"], t["trade_id"])] = t
        for sym in ("BTC/USDT", "DOGE/USD"):
            s, u = snaps[sym], updates[sym]
            assert 0 < len(s) <= 50
            ids = [int(t["trade_id"]) for t in s + u]
            assert ids == list(range(ids[0], ids[0] + len(ids))), "ids must be consecutive"
            for t in s + u:
                w = truth[(sym, int(t["trade_id"]))]
                assert t["price"] == Decimal(w["price"]) and t["qty"] == Decimal(w["quantity"])
                assert t["side"] == w["side"]
        # Numbers are JSON numbers, sometimes in exponent form, always exact (checked above).
        assert any(re.search(r'"(qty|price)":\d+(\.\d+)?[eE][-+]\d+', r) for r in raw)


def test_v2_errors_ping_heartbeat():
    with sim("--time-scale", "0.05", rate=0) as fs:
        async def ask(ws, msg):
            await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
            m, _ = await recv_until(ws, lambda m: m.get("channel") != "heartbeat")
            return m

        async def go():
            async with websockets.connect(fs.url("kraken_v2", "/v2")) as ws:
                await recv_json(ws)
                m = await ask(ws, {"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["XBT/USD"]}, "req_id": 3})
                assert m["error"] == "Currency pair not supported XBT/USD", m
                assert m["success"] is False and m["symbol"] == "XBT/USD" and m["req_id"] == 3
                assert m["method"] == "subscribe" and "result" not in m
                m = await ask(ws, {"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["XDG/USD"]}})
                assert m["error"] == "Currency pair not supported XDG/USD"
                m = await ask(ws, {"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["BTCUSDT"]}})
                assert m["error"] == "Currency pair not in ISO 4217-A3 format BTCUSDT"
                m = await ask(ws, {"method": "subscribe", "params": {
                    "channel": "nosuch", "symbol": ["BTC/USDT"]}})
                assert m["error"] == "Subscription name invalid"
                m = await ask(ws, {"method": "nosuch", "req_id": 4})
                assert m["success"] is False and m["req_id"] == 4
                m = await ask(ws, "{broken")
                assert m["success"] is False and m["error"] == "Malformed request"
                m = await ask(ws, {"method": "ping", "req_id": 101})
                assert m["method"] == "pong" and m["req_id"] == 101
                assert RFC3339_US.match(m["time_in"]) and RFC3339_US.match(m["time_out"])
                m = await ask(ws, {"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["ETH/USD"]}, "req_id": 5})
                assert m["success"] is True and m["result"] == {
                    "channel": "trade", "snapshot": False, "symbol": "ETH/USD"}
                m = await ask(ws, {"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["ETH/USD"]}})
                assert m["error"] == "Already subscribed"
                for _ in range(3):
                    assert await recv_json(ws) == {"channel": "heartbeat"}
                m = await ask(ws, {"method": "unsubscribe", "params": {
                    "channel": "trade", "symbol": ["ETH/USD"]}, "req_id": 6})
                assert m["success"] is True and m["result"] == {
                    "channel": "trade", "symbol": "ETH/USD"}
                m = await ask(ws, {"method": "unsubscribe", "params": {
                    "channel": "trade", "symbol": ["ETH/USD"]}})
                assert m["error"] == "Subscription Not Found"
                # Nothing left subscribed and the client goes quiet: closed.
                return await wait_closed(ws)
        code, reason = run(go())
        assert code == 1000 and reason in ("Idle timeout", "No subscriptions")


def test_wrong_paths():
    with sim() as fs:
        for venue, path, status in [("kraken_v1", "/v2", 404), ("kraken_v2", "/", 404),
                                    ("kraken_v2", "/v2", 101), ("kraken_v1", "/", 101)]:
            c = fl.RawWS(fs.ports[venue], handshake=False)
            assert c.handshake(path) == status, (venue, path)
            c.close()


if __name__ == "__main__":
    fl.main(globals())
