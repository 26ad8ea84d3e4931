"""TLS: with --tls CERT,KEY every venue serves wss:// and https:// (a throwaway CA and server
certificate from feedsim_certs.sh); clients verify the chain and the host name (localhost
and 127.0.0.1); plain or untrusted clients fail without harming the server."""

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess

import websockets

import feedsim_lib as fl
from feedsim_lib import Feedsim, RawWS, http_json, recv_json, recv_until, run

HERE = os.path.dirname(os.path.abspath(__file__))


def certs(dirname):
    subprocess.run(["sh", os.path.join(HERE, "feedsim_certs.sh"), dirname], check=True)
    return (os.path.join(dirname, "ca.pem"), os.path.join(dirname, "server.pem"),
            os.path.join(dirname, "server.key"))


def test_wss_and_https_all_venues():
    fs = Feedsim("--binance", 0, "--kraken-v1", 0, "--kraken-v2", 0, "--control", 0,
                 "--rate", 100)
    ca, cert, key = certs(fs.path("certs"))
    fs.args += ["--tls", "%s,%s" % (cert, key)]
    ctx = ssl.create_default_context(cafile=ca)
    with fs:
        assert fs.ports["tls"] is True

        async def go(host):
            def url(venue, path):
                return "wss://%s:%d%s" % (host, fs.ports[venue], path)
            async with websockets.connect(url("binance", "/ws/btcusdt@trade"), ssl=ctx) as ws:
                last = None
                for _ in range(20):
                    d = await recv_json(ws)
                    assert d["e"] == "trade"
                    assert last is None or d["t"] == last + 1
                    last = d["t"]
            async with websockets.connect(url("kraken_v1", "/"), ssl=ctx) as ws:
                assert (await recv_json(ws))["event"] == "systemStatus"
                await ws.send(json.dumps({"event": "subscribe", "pair": ["XBT/USDT"],
                                          "subscription": {"name": "trade"}}))
                await recv_until(ws, lambda m: isinstance(m, list))
            async with websockets.connect(url("kraken_v2", "/v2"), ssl=ctx) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"method": "subscribe", "params": {
                    "channel": "trade", "symbol": ["BTC/USDT"], "snapshot": True}}))
                m, _ = await recv_until(ws, lambda m: m.get("channel") == "trade")
                assert m["type"] == "snapshot"
                waiter = await ws.ping(b"tls-ping")
                await asyncio.wait_for(waiter, 20)
        run(go("localhost"))
        run(go("127.0.0.1"))

        status, _, info = http_json("https://localhost:%d/api/v3/exchangeInfo"
                                    % fs.ports["binance"], context=ctx)
        assert status == 200 and info["symbols"]
        status, _, pairs = http_json("https://127.0.0.1:%d/0/public/AssetPairs"
                                     % fs.ports["kraken_v2"], context=ctx)
        assert status == 200 and "XBTUSDT" in pairs["result"]
        # The control API stays plain HTTP on loopback.
        assert fs.status()["connections"] >= 0


def test_bad_clients_on_tls_ports():
    fs = Feedsim("--binance", 0, "--control", 0, "--rate", 50)
    ca, cert, key = certs(fs.path("certs"))
    fs.args += ["--tls", "%s,%s" % (cert, key)]
    with fs:
        # Plain HTTP/WebSocket on a TLS port: the TLS handshake fails, the connection closes.
        c = RawWS(fs.ports["binance"], handshake=False, timeout=10)
        try:
            c.handshake("/ws/btcusdt@trade")
            raise AssertionError("plain handshake on a TLS port succeeded")
        except (fl.Closed, ConnectionResetError, socket.timeout):
            pass
        c.close()
        # A client that does not trust the CA refuses the server.
        untrusting = ssl.create_default_context()

        async def untrusted():
            async with websockets.connect("wss://localhost:%d/ws/btcusdt@trade"
                                          % fs.ports["binance"], ssl=untrusting):
                pass
        try:
            run(untrusted())
            raise AssertionError("untrusted certificate accepted")
        except ssl.SSLCertVerificationError:
            pass
        # A name the certificate does not cover is refused too.
        ctx = ssl.create_default_context(cafile=ca)
        s = socket.create_connection(("127.0.0.1", fs.ports["binance"]), timeout=10)
        try:
            ctx.wrap_socket(s, server_hostname="feed.example.com")
            raise AssertionError("wrong host name accepted")
        except ssl.SSLCertVerificationError:
            pass
        finally:
            s.close()
        # A TLS client that vanishes mid-handshake.
        s = socket.create_connection(("127.0.0.1", fs.ports["binance"]), timeout=10)
        s.sendall(b"\x16\x03\x01\x00\xff\x01\x00\x00\xfb\x03\x03" + os.urandom(40))
        s.close()
        # Still serving.
        c = RawWS(fs.ports["binance"], "/ws/btcusdt@trade", tls_context=ctx, host="localhost")
        assert json.loads(c.recv_text())["e"] == "trade"
        c.close()


def test_bad_tls_files_fail_start():
    fs = Feedsim("--binance", 0, "--tls", "/nonexistent.pem,/nonexistent.key", expect_exit=1)
    try:
        fs.__enter__()
        raise AssertionError("started without a certificate")
    except AssertionError as e:
        assert "did not start" in str(e), e
        assert "cannot load TLS certificate" in fs.log_text()
    shutil.rmtree(fs.tmp, ignore_errors=True)


if __name__ == "__main__":
    fl.main(globals())
