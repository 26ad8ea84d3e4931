"""REST conformance (urllib): Binance /api/v3 and Kraken /0/public answers agree with what
the WebSocket streams delivered and with the truth log; metadata agrees with the names and
decimals the streams use; rate limits answer as documented."""

import asyncio
import calendar
import json
import time
from decimal import Decimal

import websockets

import feedsim_lib as fl
from feedsim_lib import Feedsim, http_get, http_json, recv_json, run

SYMS = "BTC-USDT,ETH-USD,DOGE-USD"


def sim(*extra):
    fs = Feedsim("--binance", 0, "--kraken-v1", 0, "--kraken-v2", 0, "--control", 0,
                 "--symbols", SYMS, "--rate", 150, "--burst", "0.3:6", "--seed", 5,
                 "--history", 5000, *extra)
    fs.args += ["--truth", fs.path("truth.ndjson")]
    return fs


def bn(fs, path, **kw):
    return http_json(fs.url("binance", path, "http"), **kw)


def kr(fs, path, venue="kraken_v2"):
    """Kraken REST with exact numbers (the time column has more digits than a double)."""
    status, headers, body = http_get(fs.url(venue, path, "http"))
    return status, headers, json.loads(body, parse_float=Decimal)


def is_multiple(value, step):
    return Decimal(value) % Decimal(step) == 0


def test_binance_rest_matches_stream_and_truth():
    with sim() as fs:
        async def stream():
            url = fs.url("binance", "/stream?streams=btcusdt@trade/btcusdt@aggTrade")
            trades, aggs = [], []
            async with websockets.connect(url) as ws:
                while len(trades) < 150 or len(aggs) < 30:
                    m = await recv_json(ws)
                    (trades if m["stream"] == "btcusdt@trade" else aggs).append(m["data"])
            return trades, aggs
        trades, aggs = run(stream())

        status, headers, info = bn(fs, "/api/v3/exchangeInfo")
        assert status == 200 and int(headers["x-mbx-used-weight-1m"]) >= 20
        by = {s["symbol"]: s for s in info["symbols"]}
        assert set(by) == {"BTCUSDT", "ETHUSD", "DOGEUSD"}
        s = by["BTCUSDT"]
        assert (s["baseAsset"], s["quoteAsset"], s["status"]) == ("BTC", "USDT", "TRADING")
        f = {x["filterType"]: x for x in s["filters"]}
        tick, step = f["PRICE_FILTER"]["tickSize"], f["LOT_SIZE"]["stepSize"]
        assert all(is_multiple(t["p"], tick) and is_multiple(t["q"], step) for t in trades)
        assert by["DOGEUSD"]["baseAsset"] == "DOGE"
        status, _, one = bn(fs, "/api/v3/exchangeInfo?symbol=ETHUSD")
        assert status == 200 and [x["symbol"] for x in one["symbols"]] == ["ETHUSD"]
        status, _, two = bn(fs, '/api/v3/exchangeInfo?symbols=["ETHUSD","DOGEUSD"]'
                            .replace('"', "%22"))
        assert status == 200 and len(two["symbols"]) == 2
        status, _, err = bn(fs, "/api/v3/exchangeInfo?symbol=NOPE")
        assert status == 400 and err["code"] == -1121

        # historicalTrades from the first streamed id (inclusive) returns what was streamed.
        first = trades[0]["t"]
        status, headers, rows = bn(fs, "/api/v3/historicalTrades?symbol=BTCUSDT&limit=1000"
                                   "&fromId=%d" % first)
        assert status == 200 and rows[0]["id"] == first
        by_id = {r["id"]: r for r in rows}
        for t in trades:
            r = by_id[t["t"]]
            assert (r["price"], r["qty"], r["time"], r["isBuyerMaker"]) == \
                (t["p"], t["q"], t["T"], t["m"]), (r, t)
            assert Decimal(r["quoteQty"]) == Decimal(t["p"]) * Decimal(t["q"])
            assert r["isBestMatch"] is True
        ids = [r["id"] for r in rows]
        assert ids == list(range(first, first + len(ids)))
        status, _, rows = bn(fs, "/api/v3/historicalTrades?symbol=BTCUSDT&limit=3&fromId=%d"
                             % first)
        assert [r["id"] for r in rows] == [first, first + 1, first + 2]
        status, _, recent = bn(fs, "/api/v3/trades?symbol=BTCUSDT&limit=5")
        assert status == 200 and len(recent) == 5
        assert [r["id"] for r in recent] == list(range(recent[0]["id"], recent[0]["id"] + 5))
        assert recent[-1]["id"] >= trades[-1]["t"]
        status, headers, rows = bn(fs, "/api/v3/trades?symbol=BTCUSDT",
                                   headers={"X-MBX-TIME-UNIT": "MICROSECOND"})
        assert rows and all(len(str(r["time"])) == 16 for r in rows)

        # aggTrades from the first streamed aggregate id.
        status, _, rows = bn(fs, "/api/v3/aggTrades?symbol=BTCUSDT&limit=1000&fromId=%d"
                             % aggs[0]["a"])
        assert status == 200 and rows[0]["a"] == aggs[0]["a"]
        by_a = {r["a"]: r for r in rows}
        for a in aggs:
            r = by_a[a["a"]]
            assert (r["p"], r["q"], r["f"], r["l"], r["T"], r["m"]) == \
                (a["p"], a["q"], a["f"], a["l"], a["T"], a["m"]), (r, a)
        start = aggs[5]["T"]
        status, _, rows = bn(fs, "/api/v3/aggTrades?symbol=BTCUSDT&startTime=%d" % start)
        assert status == 200 and rows and all(r["T"] >= start for r in rows)
        assert rows[0]["T"] == start
        status, _, err = bn(fs, "/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime=%d" % start)
        assert status == 400 and err["code"] == -1128
        status, _, err = bn(fs, "/api/v3/trades")
        assert status == 400 and err["code"] == -1102
        status, _, err = bn(fs, "/api/v3/trades?symbol=BTCUSDT&limit=x")
        assert status == 400 and err["code"] == -1100

        # The truth log has every streamed trade with the same values.
        truth = {t["trade_id"]: t for t in fs.truth()
                 if t["venue"] == "binance" and t["native_symbol"] == "BTCUSDT"}
        for t in trades:
            w = truth[t["t"]]
            assert Decimal(w["price"]) == Decimal(t["p"])
            assert Decimal(w["quantity"]) == Decimal(t["q"])
            assert w["trade_time_us"] // 1000 == t["T"]
            assert w["side"] == ("sell" if t["m"] else "buy")


def test_kraken_asset_pairs():
    with sim() as fs:
        for venue in ("kraken_v1", "kraken_v2"):
            status, _, legacy = kr(fs, "/0/public/AssetPairs", venue)
            assert status == 200 and legacy["error"] == []
            r = legacy["result"]
            assert set(r) == {"XBTUSDT", "XETHZUSD", "XDGUSD"}
            x = r["XBTUSDT"]
            assert (x["altname"], x["wsname"], x["base"], x["quote"]) == \
                ("XBTUSDT", "XBT/USDT", "XXBT", "USDT")
            assert (r["XDGUSD"]["wsname"], r["XDGUSD"]["base"], r["XDGUSD"]["quote"]) == \
                ("XDG/USD", "XXDG", "ZUSD")
            assert (r["XETHZUSD"]["altname"], r["XETHZUSD"]["base"]) == ("ETHUSD", "XETH")
            status, _, iso = kr(fs, "/0/public/AssetPairs?assetVersion=1", venue)
            r = iso["result"]
            assert set(r) == {"BTC/USDT", "ETH/USD", "DOGE/USD"}
            x = r["BTC/USDT"]
            assert (x["altname"], x["wsname"], x["base"], x["quote"]) == \
                ("XBTUSDT", "XBT/USDT", "BTC", "USDT")
            assert (r["DOGE/USD"]["base"], r["DOGE/USD"]["wsname"]) == ("DOGE", "XDG/USD")
            status, _, one = kr(fs, "/0/public/AssetPairs?pair=xbtusdt", venue)
            assert list(one["result"]) == ["XBTUSDT"]
            status, _, err = kr(fs, "/0/public/AssetPairs?pair=NOPE", venue)
            assert status == 200 and err["error"] == ["EQuery:Unknown asset pair"]


def test_kraken_trades_match_v2_and_truth():
    with sim() as fs:
        status, _, pairs = kr(fs, "/0/public/AssetPairs")
        dec = pairs["result"]["XBTUSDT"]["pair_decimals"]

        async def stream():
            got = []
            async with websockets.connect(fs.url("kraken_v2", "/v2")) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["BTC/USDT"]}}))
                while len(got) < 120:
                    m = json.loads(await ws.recv(), parse_float=Decimal)
                    if m.get("channel") == "trade":
                        got.extend(m["data"])
            return got
        got = run(stream())
        assert all(Decimal(t["price"]) % (Decimal(1).scaleb(-dec)) == 0 for t in got)
        t0 = got[0]
        # since (ns) just before the first streamed trade: its µs, minus one.
        us = int(t0["timestamp"][20:26])
        since_s = calendar.timegm(time.strptime(t0["timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
        since_ns = (since_s * 1000000 + us) * 1000 - 1
        status, _, res = kr(fs, "/0/public/Trades?pair=XBTUSDT&since=%d" % since_ns)
        assert status == 200 and res["error"] == [], res
        rows = res["result"]["XBTUSDT"]
        assert isinstance(res["result"]["last"], str) and res["result"]["last"].isdigit()
        by_id = {r[6]: r for r in rows}
        assert rows[0][6] <= t0["trade_id"]
        for t in got:
            r = by_id[t["trade_id"]]
            assert len(r) == 7
            assert Decimal(r[0]) == Decimal(t["price"]) and Decimal(r[1]) == Decimal(t["qty"])
            assert r[3] == t["side"][0] and r[4] == t["ord_type"][0] and r[5] == ""
        # The time is a JSON number; truncated to µs it is the WebSocket timestamp.
        for t in got:
            r = by_id[t["trade_id"]]
            assert isinstance(r[2], Decimal)
            us_rest = int(r[2] * 1000000)
            assert t["timestamp"][20:26] == "%06d" % (us_rest % 1000000), (r, t)
        ids = [r[6] for r in rows]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        # Paging: since=last continues strictly after.
        last = res["result"]["last"]
        status, _, nxt = kr(fs, "/0/public/Trades?pair=XBTUSDT&since=%s" % last)
        nrows = nxt["result"]["XBTUSDT"]
        if nrows:
            assert nrows[0][6] == rows[-1][6] + 1
        # Names: altname any case, REST key, ISO name with assetVersion=1.
        for q, key in [("pair=xbtusdt&count=2", "XBTUSDT"), ("pair=XBTUSDT&count=2", "XBTUSDT"),
                       ("pair=XETHZUSD&count=2", "XETHZUSD"),
                       ("pair=BTC/USDT&assetVersion=1&count=2", "BTC/USDT"),
                       ("pair=XBTUSDT&assetVersion=1&count=2", "BTC/USDT")]:
            status, _, res = kr(fs, "/0/public/Trades?" + q)
            assert res["error"] == [] and len(res["result"][key]) == 2, (q, res)
        status, _, res = kr(fs, "/0/public/Trades?pair=NOPE")
        assert status == 200 and res == {"error": ["EQuery:Unknown asset pair"]}
        status, _, res = kr(fs, "/0/public/Trades")
        assert status == 200 and res["error"] == ["EGeneral:Invalid arguments"]
        # since in seconds.
        status, _, res = kr(fs, "/0/public/Trades?pair=XDGUSD&since=%d" % since_s)
        assert res["error"] == [] and res["result"]["XDGUSD"]
        # v2 trade ids, REST ids and the truth log's ids are one sequence.
        truth = {t["trade_id"]: t for t in fs.truth()
                 if t["venue"] == "kraken_v2" and t["native_symbol"] == "BTC/USDT"}
        for r in rows:
            w = truth[r[6]]
            assert Decimal(w["price"]) == Decimal(r[0]) and Decimal(w["quantity"]) == Decimal(r[1])
            assert int(r[2] * 1000000) == w["trade_time_us"]


def test_kraken_rest_time_digits():
    with sim() as fs:
        time.sleep(0.3)
        raw = http_get(fs.url("kraken_v1", "/0/public/Trades?pair=XBTUSDT&count=200", "http"))[2]
        text = raw.decode()
        rows = json.loads(text, parse_float=str)["result"]["XBTUSDT"]
        truth = {t["trade_id"]: t for t in fs.truth()
                 if t["venue"] == "kraken_v1" and t["native_symbol"] == "XBT/USDT"}
        sub_us = 0
        for r in rows:
            sec, frac = r[2].split(".")
            us = int(sec) * 1000000 + int((frac + "000000")[:6])
            assert us == truth[r[6]]["trade_time_us"]
            sub_us += len(frac) > 6
        assert sub_us > 0, "some times carry sub-microsecond digits"
        status, _, st = kr(fs, "/0/public/SystemStatus")
        assert st["result"]["status"] == "online"


def test_rate_limits():
    with sim("--binance-weight-limit", 100, "--kraken-rest-rate", 1,
             "--kraken-rest-burst", 3) as fs:
        seen429 = None
        weights = []
        for _ in range(20):
            status, headers, body = bn(fs, "/api/v3/trades?symbol=BTCUSDT&limit=1")
            weights.append(int(headers["x-mbx-used-weight-1m"]))
            if status == 429:
                seen429 = (headers, body)
                break
        assert seen429 is not None, weights
        headers, body = seen429
        assert body["code"] == -1003 and int(headers["retry-after"]) > 0
        assert weights[-1] > 100
        # Kraken: a burst of 3 per pair, then refused in a 200 body; other pairs unaffected.
        errors = []
        for _ in range(8):
            status, _, res = kr(fs, "/0/public/Trades?pair=XBTUSDT&count=1")
            assert status == 200
            errors.append(res["error"])
        assert errors[:3] == [[], [], []]
        assert ["EGeneral:Too many requests"] in errors[3:]
        status, _, res = kr(fs, "/0/public/Trades?pair=XETHZUSD&count=1")
        assert res["error"] == []


if __name__ == "__main__":
    fl.main(globals())
