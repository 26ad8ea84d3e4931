"""Helpers for the feedsim integration tests (tests/integration/feedsim_*.py).

Every test starts feedsim as a real process on ephemeral loopback ports (the first stdout
line is JSON with the bound ports), talks to it with independent clients - python3-websockets
(Debian 12: 10.4), urllib, and a small raw-socket WebSocket client for what websockets will
not do (unanswered pings, unmasked frames, broken frames) - and stops it with SIGTERM,
failing if it did not exit cleanly (a crash or a sanitizer report is a failure).

Waits are bounded (every receive has a timeout) but nothing asserts how long anything took.
"""

import asyncio
import base64
import json
import os
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

FEEDSIM = None  # path, set by main()


class Feedsim:
    """A running feedsim. Use as a context manager."""

    def __init__(self, *args, name="feedsim", expect_exit=0):
        self.args = [str(a) for a in args]
        self.name = name
        self.expect_exit = expect_exit
        self.tmp = tempfile.mkdtemp(prefix="feedsim-test-")
        self.log_path = os.path.join(self.tmp, "feedsim.log")
        self.proc = None
        self.ports = {}

    def path(self, name):
        return os.path.join(self.tmp, name)

    def __enter__(self):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([FEEDSIM] + self.args, stdout=subprocess.PIPE,
                                     stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("feedsim did not start: " + self.log_tail())
        self.ports = json.loads(line)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop(check=exc_type is None)
        if exc_type is None:
            shutil.rmtree(self.tmp, ignore_errors=True)  # kept after a failure, for its log
        return False

    def alive(self):
        return self.proc.poll() is None

    def stop(self, check=True):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            if check:
                raise AssertionError("feedsim did not exit after SIGTERM: " + self.log_tail())
        self.proc.stdout.close()
        self.proc = None
        if check and rc != self.expect_exit:
            raise AssertionError("feedsim exited with %d: %s" % (rc, self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # ---- control API ----

    def control(self, path, body=None, method="POST"):
        url = "http://127.0.0.1:%d%s" % (self.ports["control"], path)
        data = body.encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def fault(self, spec):
        status, body = self.control("/fault", body=spec)
        assert status == 200 and body["ok"], (spec, status, body)
        return body

    def status(self):
        return self.control("/status", method="GET")[1]

    def conns(self, venue=None):
        """Venue connections (the control connection asking is left out)."""
        return [c for c in self.status()["conns"]
                if c["venue"] != "control" and (venue is None or c["venue"] == venue)]

    def truth(self):
        """All truth-log lines so far (flushed first; complete once feedsim has exited)."""
        if self.proc is not None:
            self.control("/truth/flush")
        with open(self.truth_path) as f:
            return [json.loads(l) for l in f if l.strip()]

    @property
    def truth_path(self):
        i = self.args.index("--truth")
        return self.args[i + 1]

    def url(self, venue, path, scheme="ws"):
        return "%s://127.0.0.1:%d%s" % (scheme, self.ports[venue], path)


def wait_until(pred, timeout=20.0, step=0.02, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


# ---- HTTP ----

def http_get(url, headers=None, context=None, timeout=20):
    """Returns (status, headers dict (lower-case keys), body bytes)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def http_json(url, **kw):
    status, headers, body = http_get(url, **kw)
    return status, headers, json.loads(body)


# ---- a raw WebSocket client ----

class Closed(Exception):
    pass


class RawWS:
    """A minimal blocking WebSocket client over a socket, for frames websockets refuses to send
    or hides (unanswered pings, unmasked frames, bad opcodes). Server frames are unmasked."""

    def __init__(self, port, path="/", tls_context=None, host="127.0.0.1", handshake=True,
                 timeout=20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        self.timeout = timeout
        self.status = None
        self.head = b""
        if handshake:
            self.handshake(path)

    def handshake(self, path, extra=b""):
        key = base64.b64encode(os.urandom(16))
        req = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
               b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n")
        self.sock.sendall(req)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head
        self.status = int(head.split(b" ")[1])
        return self.status

    def _fill(self, timeout=None):
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        data = self.sock.recv(65536)
        if not data:
            raise Closed("eof")
        self.buf += data

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        m = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, m | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, m | 126, n)
        else:
            head = struct.pack("!BBQ", b0, m | 127, n)
        if mask:
            key = os.urandom(4)
            head += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + payload)

    def send_text(self, text):
        self.send_frame(0x1, text)

    def recv_frame(self, timeout=None):
        """Returns (opcode, payload). Raises Closed on EOF, socket.timeout on timeout."""
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                n = b1 & 0x7F
                off = 2
                if n == 126:
                    if len(self.buf) >= 4:
                        n = struct.unpack("!H", self.buf[2:4])[0]
                        off = 4
                    else:
                        n = None
                elif n == 127:
                    if len(self.buf) >= 10:
                        n = struct.unpack("!Q", self.buf[2:10])[0]
                        off = 10
                    else:
                        n = None
                if n is not None and len(self.buf) >= off + n:
                    payload = self.buf[off:off + n]
                    self.buf = self.buf[off + n:]
                    assert b1 & 0x80 == 0, "server frames must not be masked"
                    return b0 & 0x0F, payload
            self._fill(timeout)

    def recv_text(self, timeout=None, answer_pings=True):
        while True:
            op, payload = self.recv_frame(timeout)
            if op == 0x9 and answer_pings:
                self.send_frame(0xA, payload)
                continue
            if op == 0x8:
                raise Closed(close_info(payload))
            if op in (0x1, 0x2):
                return payload

    def recv_json(self, timeout=None):
        return json.loads(self.recv_text(timeout))

    def recv_close(self, timeout=20, answer_pings=True):
        """Reads until a close frame; returns (code, reason)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no close frame")
            op, payload = self.recv_frame(left)
            if op == 0x9 and answer_pings:
                self.send_frame(0xA, payload)
            if op == 0x8:
                return close_info(payload)

    def expect_eof(self, timeout=20):
        """Reads (discarding) until the server closes the TCP connection."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self._fill(end - time.monotonic())
                self.buf = b""
            except Closed:
                return True
            except ConnectionResetError:
                return True
        raise AssertionError("connection not closed")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def close_info(payload):
    if len(payload) >= 2:
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")
    return None, ""


# ---- websockets ----

def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def recv_json(ws, timeout=20):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout=20, limit=100000):
    """Receives JSON messages until pred(msg) is true; returns (msg, skipped list)."""
    skipped = []
    end = time.monotonic() + timeout
    for _ in range(limit):
        left = end - time.monotonic()
        if left <= 0:
            break
        m = json.loads(await asyncio.wait_for(ws.recv(), left))
        if pred(m):
            return m, skipped
        skipped.append(m)
    raise AssertionError("expected message not received; last: %r" % skipped[-3:])


async def wait_closed(ws, timeout=30):
    """Drains messages until the server closes; returns (code, reason)."""
    import websockets
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            await asyncio.wait_for(ws.recv(), end - time.monotonic())
    except websockets.exceptions.ConnectionClosed:
        return ws.close_code, ws.close_reason
    raise AssertionError("connection was not closed")


# ---- test runner ----

def main(test_globals):
    global FEEDSIM
    if len(sys.argv) < 2:
        print("usage: %s FEEDSIM [TEST...]" % sys.argv[0])
        sys.exit(2)
    FEEDSIM = sys.argv[1]
    only = set(sys.argv[2:])
    tests = [(n, f) for n, f in test_globals.items() if n.startswith("test_") and callable(f)]
    failed = []
    for name, fn in tests:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        try:
            fn()
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception:
            failed.append(name)
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
    if failed:
        print("FAILED: " + ", ".join(failed))
        sys.exit(1)
    print("all %d tests passed" % len(tests))
