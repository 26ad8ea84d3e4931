"""The engine's WebSocket client (src/net/ws.c, driven through tests/tools/wscat) against
independent peers: python3-websockets servers (echo, fragmented messages with interleaved
pings, floods for backpressure) over plain TCP and TLS, and hostile raw asyncio servers that
answer the upgrade wrongly, send malformed, oversize, masked or non-UTF-8 frames, garbage,
or nothing at all. Each case checks the exact outcome wscat reports (reason, phase, codes,
message), the close frame the client sent back where one is due, and that wscat exits
cleanly (no sanitizer report).

usage: ws_client_test.py WSCAT CASE
"""

import asyncio
import base64
import hashlib
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SKIP = 77

logging.getLogger("websockets").setLevel(logging.CRITICAL)
logging.getLogger("asyncio").setLevel(logging.CRITICAL)

WSCAT = None
TMP = None


# ---- helpers ------------------------------------------------------------------------------

def pattern(n):
    """The text wscat --send-size N sends."""
    return "".join(chr(ord("a") + (k * 7 + k // 26) % 26) for k in range(n))


def sha(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err
        self.lines = out.splitlines()
        self.msgs = [l for l in self.lines if l.startswith("msg ")]
        self.close = {}
        self.stats = {}
        for l in self.lines:
            if l.startswith("close "):
                self.close = dict((k, v.strip('"')) for k, v in
                                  re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', l[6:]))
            if l.startswith("stats "):
                self.stats = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", l))

    def __repr__(self):
        return "rc=%s\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.out[-3000:], self.err[-3000:])


async def wscat(*args, timeout=60):
    p = await asyncio.create_subprocess_exec(
        WSCAT, *[str(a) for a in args], stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), timeout)
    r = Result(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
    # A clean exit: 0 or 1 by contract, never a signal or a sanitizer report.
    assert r.rc in (0, 1), r
    assert "Sanitizer" not in r.err and "runtime error" not in r.err, r
    assert len(r.close) > 0, r
    return r


def expect(r, reason, phase=None, words=None, rc=None, **fields):
    assert r.close.get("reason") == reason, "expected reason=%s\n%r" % (reason, r)
    if phase is not None:
        assert r.close.get("phase") == phase, "expected phase=%s\n%r" % (phase, r)
    if words is not None:
        assert words in r.close.get("message", ""), "expected %r in message\n%r" % (words, r)
    for k, v in fields.items():
        assert r.close.get(k) == str(v), "expected %s=%s\n%r" % (k, v, r)
    want_rc = rc if rc is not None else (0 if reason in ("local", "peer") else 1)
    assert r.rc == want_rc, r


def certs():
    d = os.path.join(TMP, "certs")
    if not os.path.exists(os.path.join(d, "ca.pem")):
        subprocess.run(["sh", os.path.join(HERE, "feedsim_certs.sh"), d], check=True)
    return d


def other_host_cert(d):
    """A certificate from the same CA for wrong.example only (no localhost, no IP)."""
    key, crt = os.path.join(d, "wrong.key"), os.path.join(d, "wrong.pem")
    if os.path.exists(crt):
        return crt, key
    ext = os.path.join(d, "wrong.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:wrong.example\n")
    csr = os.path.join(d, "wrong.csr")
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=wrong.example", "-keyout", key, "-out", csr],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.pem"),
                    "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "2",
                    "-extfile", ext, "-out", crt], check=True, capture_output=True)
    return crt, key


def server_ssl(cert=None, key=None):
    d = certs()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert or os.path.join(d, "server.pem"), key or os.path.join(d, "server.key"))
    return ctx


def port_of(server):
    return server.sockets[0].getsockname()[1]


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(op, payload=b"", fin=True, rsv=0, mask=None, length=None):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def client_frames(data):
    """Decodes the (masked) frames the client sent."""
    out, i = [], 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        assert b1 & 0x80, "client frame not masked"
        n, j = b1 & 0x7F, i + 2
        if n == 126:
            n, j = int.from_bytes(data[j:j + 2], "big"), j + 2
        elif n == 127:
            n, j = int.from_bytes(data[j:j + 8], "big"), j + 8
        mask, j = data[j:j + 4], j + 4
        if j + n > len(data):
            break
        out.append((b0 & 0xF, bytes(b ^ mask[k % 4] for k, b in enumerate(data[j:j + n]))))
        i = j + n
    return out


def close_code(frames):
    closes = [p for op, p in frames if op == 8]
    assert closes, "the client sent no close frame: %r" % (frames,)
    return int.from_bytes(closes[0][:2], "big") if len(closes[0]) >= 2 else None


async def read_request(reader):
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode().split("\r\n")
    hdrs = {}
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs


def good_101(hdrs):
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(hdrs["sec-websocket-key"])).encode()


class Raw:
    """A raw TCP server: answer(hdrs) gives the bytes sent after the request (None: say
    nothing); afterwards it records what the client sends until EOF."""

    def __init__(self, answer, then_close=False, tls=None, speak=True):
        self.answer, self.then_close, self.tls, self.speak = answer, then_close, tls, speak
        self.received = []

    async def handle(self, reader, writer):
        data = b""
        try:
            if self.speak:
                _, hdrs = await read_request(reader)
                out = self.answer(hdrs)
                if out is not None:
                    writer.write(out)
                    await writer.drain()
                if self.then_close:
                    writer.close()
                    return
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), 10)
                if not chunk:
                    break
                data += chunk
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.received.append(data)
            writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = port_of(self.server)
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()


async def raw_case(answer, *args, **kw):
    async with Raw(answer) as srv:
        r = await wscat(*args, "ws://127.0.0.1:%d/x" % srv.port, **kw)
        for _ in range(100):
            if srv.received:
                break
            await asyncio.sleep(0.05)
        return r, (client_frames(srv.received[0]) if srv.received else [])


# ---- echo and large/fragmented messages ----------------------------------------------------

async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)


async def echo_case(tls, host):
    big = 1000000
    ctx = server_ssl() if tls else None
    async with websockets.serve(echo, host, 0, ssl=ctx, max_size=None) as server:
        port = port_of(server)
        hostpart = "[%s]" % host if ":" in host else host
        args = ["--hash", "--send", "hello", "--send-size", big, "--ping", "are-you-there",
                "--count", 2]
        if tls:
            args += ["--ca", os.path.join(certs(), "ca.pem")]
        r = await wscat(*args, "%s://%s:%d/echo" % ("wss" if tls else "ws", hostpart, port))
    expect(r, "local", peer_code=1000, sent_code=1000)
    assert r.msgs == ["msg text 5 " + sha("hello"), "msg text %d %s" % (big, sha(pattern(big)))], r
    assert "pong are-you-there" in r.lines, r
    return r


async def case_plain_echo():
    await echo_case(False, "127.0.0.1")


async def case_tls_echo():
    await echo_case(True, "localhost")
    await echo_case(True, "127.0.0.1")


async def case_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        print("skip: no IPv6 loopback")
        return SKIP
    await echo_case(False, "::1")


async def fragmented_case(tls):
    parts = [pattern(200000), "é" * 50000, pattern(300001)]
    pongs = []

    async def handler(ws, path=None):
        async def frags():
            for i, p in enumerate(parts):
                yield p
                if i == 0:
                    # A ping between two fragments of one message: answered at once.
                    pongs.append(await ws.ping(b"mid-message"))
        await ws.send(frags())
        await ws.send(b"\x00\x01binary")
        await ws.wait_closed()

    ctx = server_ssl() if tls else None
    async with websockets.serve(handler, "127.0.0.1", 0, ssl=ctx, max_size=None) as server:
        args = ["--hash", "--count", 2]
        if tls:
            args += ["--ca", os.path.join(certs(), "ca.pem")]
        r = await wscat(*args, "%s://localhost:%d/" % ("wss" if tls else "ws", port_of(server)))
        await asyncio.wait_for(pongs[0], 5)  # the server got our pong
    whole = "".join(parts).encode()
    expect(r, "local")
    assert r.msgs == ["msg text %d %s" % (len(whole), sha(whole)),
                      "msg binary 8 " + sha(b"\x00\x01binary")], r
    assert r.stats["pings_in"] >= 1 and r.stats["pongs_out"] >= 1, r


async def case_fragmented_plain():
    await fragmented_case(False)


async def case_fragmented_tls():
    await fragmented_case(True)


async def case_backpressure():
    n = 3000

    async def handler(ws, path=None):
        for i in range(n):
            await ws.send("n=%d" % i)
        await ws.wait_closed()

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        r = await wscat("--refuse-every", 7, "--count", n, "ws://127.0.0.1:%d/" % port_of(server))
    expect(r, "local")
    assert r.msgs == ["msg text %d n=%d" % (len("n=%d" % i), i) for i in range(n)], r
    assert r.stats["refusals"] == n // 7, r
    assert r.stats["msgs_in"] == n, r


# ---- hostile servers ---------------------------------------------------------------------

async def case_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = await wscat("ws://127.0.0.1:%d/" % port)
    expect(r, "connect", "connecting", "Connection refused")


async def case_wrong_accept():
    def answer(h):
        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    r, _ = await raw_case(answer)
    expect(r, "handshake", "upgrading", "Sec-WebSocket-Accept does not match", http_status=101)


async def case_http_status():
    for status, extra, retry in ((403, "", -1), (429, "Retry-After: 7\r\n", 7),
                                 (503, "Retry-After: 120\r\n", 120)):
        def answer(h, status=status, extra=extra):
            return ("HTTP/1.1 %d Nope\r\n%sContent-Length: 5\r\n\r\nnope!" % (status, extra)).encode()
        r, _ = await raw_case(answer)
        expect(r, "handshake", "upgrading", "HTTP %d" % status, http_status=status,
               retry_after=retry)


async def case_oversize():
    def answer(h):
        return good_101(h) + frame(2, b"x" * 65536, length=2000000)
    r, sent = await raw_case(answer, "--max-message", 1048576)
    expect(r, "oversize", "open", "larger than max_message", sent_code=1009)
    assert close_code(sent) == 1009, sent

    def answer2(h):
        return (good_101(h) + frame(1, b"a" * 600000, fin=False) +
                frame(0, b"b" * 600000, fin=True))
    r, sent = await raw_case(answer2, "--max-message", 1048576)
    expect(r, "oversize", "open", "max_message", sent_code=1009)
    assert close_code(sent) == 1009, sent


MALFORMED = [
    ("reserved bits", frame(1, "x", rsv=4), "reserved bits set (RSV1)"),
    ("unknown opcode", frame(3, "x"), "unknown opcode 0x3"),
    ("long control frame", frame(9, b"p" * 126), "control frame (ping) longer than 125"),
    ("fragmented control frame", frame(9, "p", fin=False), "fragmented control frame (ping"),
    ("non-minimal length", bytes([0x81, 126, 0, 3]) + b"abc", "shortest form"),
    ("continuation without start", frame(0, "x"), "continuation frame without a message"),
    ("new message inside a fragmented one", frame(1, "a", fin=False) + frame(1, "b"),
     "new text frame while a fragmented message is unfinished"),
    ("1-byte close payload", frame(8, b"\x03"), "1-byte payload"),
    ("reserved close code", frame(8, (1005).to_bytes(2, "big")), "invalid close code 1005"),
    ("masked frame", frame(1, "hello", mask=b"\x01\x02\x03\x04"), "masked frame"),
]


async def case_malformed():
    for name, data, words in MALFORMED:
        r, sent = await raw_case(lambda h, data=data: good_101(h) + frame(1, "ok") + data)
        try:
            expect(r, "protocol", "open", words, sent_code=1002)
            assert r.msgs == ["msg text 2 ok"], r
            assert close_code(sent) == 1002, sent
        except AssertionError:
            print("case failed: %s" % name)
            raise


async def case_masked_frame():
    r, sent = await raw_case(lambda h: good_101(h) + frame(1, "hello", mask=b"\xaa\xbb\xcc\xdd"))
    expect(r, "protocol", "open", "masked frame from the server", sent_code=1002)
    assert close_code(sent) == 1002


async def case_bad_utf8():
    r, sent = await raw_case(lambda h: good_101(h) + frame(1, b"caf\xc3") + frame(1, "never"))
    expect(r, "bad_utf8", "open", "not valid UTF-8", sent_code=1007)
    assert r.msgs == [], r
    assert close_code(sent) == 1007


async def case_garbage_after_handshake():
    r, sent = await raw_case(lambda h: good_101(h) + b"garbage that is no frame at all")
    expect(r, "protocol", "open", "protocol error", sent_code=1002)
    assert close_code(sent) == 1002


async def case_garbage_instead_of_http():
    r, _ = await raw_case(lambda h: b"SSH-2.0-OpenSSH_9.2p1\r\n")
    expect(r, "handshake", "upgrading", "not HTTP", http_status=0)


async def case_silence():
    r, _ = await raw_case(lambda h: None, "--handshake-timeout", 300)
    expect(r, "timeout", "upgrading", "no answer within 300 ms")


async def case_silence_tls():
    # TCP is accepted, TLS never answered: the connect/TLS timer fires.
    async with Raw(None, speak=False) as srv:
        r = await wscat("--ca", os.path.join(certs(), "ca.pem"), "--connect-timeout", 300,
                        "wss://127.0.0.1:%d/" % srv.port)
    expect(r, "timeout", "connecting", "timed out after 300 ms")
    assert "TLS" in r.close["message"], r


async def case_eof_no_close():
    async with Raw(lambda h: good_101(h) + frame(1, "last words"), then_close=True) as srv:
        r = await wscat("ws://127.0.0.1:%d/" % srv.port)
    expect(r, "eof", "open", "without a close frame")
    assert r.msgs == ["msg text 10 last words"], r


async def case_peer_close():
    r, sent = await raw_case(lambda h: good_101(h) + frame(8, (1001).to_bytes(2, "big") + b"bye"))
    expect(r, "peer", "open", "code 1001", peer_code=1001, peer_reason="bye", sent_code=1001)
    assert close_code(sent) == 1001


# ---- TLS verification ------------------------------------------------------------------------

async def tls_case(ctx, *args, host="localhost"):
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=ctx) as server:
        return await wscat(*args, "--send", "hi", "--count", 1,
                           "wss://%s:%d/" % (host, port_of(server)))


async def case_tls_wrong_host():
    d = certs()
    crt, key = other_host_cert(d)
    ca = os.path.join(d, "ca.pem")
    r = await tls_case(server_ssl(crt, key), "--ca", ca)
    expect(r, "tls", "connecting", "certificate verification failed: hostname mismatch")
    r = await tls_case(server_ssl(crt, key), "--ca", ca, host="127.0.0.1")
    expect(r, "tls", "connecting", "certificate verification failed: IP address mismatch")


async def case_tls_unknown_ca():
    d = certs()
    leaf_only = server_ssl(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    # The system store does not know the throwaway CA: a server sending only its leaf...
    r = await tls_case(leaf_only)
    expect(r, "tls", "connecting",
           "certificate verification failed: unable to get local issuer certificate")
    # ... or the whole chain up to that (self-signed) CA.
    r = await tls_case(server_ssl())
    expect(r, "tls", "connecting",
           "certificate verification failed: self-signed certificate in certificate chain")
    # Another CA file does not help either.
    other = os.path.join(TMP, "other-ca")
    subprocess.run(["sh", os.path.join(HERE, "feedsim_certs.sh"), other], check=True)
    r = await tls_case(leaf_only, "--ca", os.path.join(other, "ca.pem"))
    expect(r, "tls", "connecting", "unable to get local issuer certificate")


async def case_tls_no_verify():
    d = certs()
    crt, key = other_host_cert(d)
    r = await tls_case(server_ssl(crt, key), "--no-verify")
    expect(r, "local")
    assert r.msgs == ["msg text 2 hi"], r
    assert "level=warn" in r.err and "verification is disabled" in r.err, r
    assert "tls.verify" in r.err, r


# ---- main ----------------------------------------------------------------------------------

def main():
    global WSCAT, TMP
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    WSCAT = sys.argv[1]
    fn = globals().get("case_" + sys.argv[2])
    if fn is None:
        print("unknown case %s" % sys.argv[2])
        return 2
    TMP = tempfile.mkdtemp(prefix="fh-ws-")
    try:
        rc = asyncio.run(fn())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    if rc == SKIP:
        return SKIP
    print("ok: %s" % sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
