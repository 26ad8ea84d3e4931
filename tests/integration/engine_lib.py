"""Helpers for the connection-engine integration tests (tests/integration/engine_test.py).

A test starts feedsim (tools/feedsim, through feedsim_lib.Feedsim) over TLS with a throwaway
CA, writes a feedhandler configuration pointing at it, runs the real feedhandler binary with
a file sink, drives faults through feedsim's control API, reads the handler's /metrics and
/readyz, stops it with SIGTERM (it must exit 0) and compares the sink's output with feedsim's
truth log (engine_compare.py). Nothing asserts wall-clock durations; waits are bounded.
"""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import feedsim_lib
from feedsim_lib import wait_until  # noqa: F401  (re-exported for the tests)

HERE = os.path.dirname(os.path.abspath(__file__))
FEEDHANDLER = None  # set by the test runner


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tsan_build():
    """True when FEEDHANDLER is the ThreadSanitizer build (make test TSAN=1), which runs
    several times slower than the others."""
    try:
        with open(os.path.join(os.path.dirname(FEEDHANDLER), "CMakeCache.txt")) as f:
            return "FH_TSAN:BOOL=ON" in f.read()
    except OSError:
        return False


def make_certs(dirname):
    """A throwaway CA and a localhost/127.0.0.1 server certificate (feedsim_certs.sh)."""
    if not os.path.exists(os.path.join(dirname, "ca.pem")):
        subprocess.run(["sh", os.path.join(HERE, "feedsim_certs.sh"), dirname], check=True)
    return (os.path.join(dirname, "ca.pem"), os.path.join(dirname, "server.pem"),
            os.path.join(dirname, "server.key"))


def ini_text(sections):
    lines = []
    for sec, kv in sections.items():
        lines.append("[%s]" % sec)
        for k, v in kv.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            lines.append("%s = %s" % (k, v))
        lines.append("")
    return "\n".join(lines)


def handler_config(fs, tmp, ca, kraken="v2", binance=True, kraken_on=True,
                   binance_symbols="BTCUSDT,ETHUSD,DOGEUSD",
                   kraken_symbols="BTC/USDT,ETH/USD,DOGE/USD", channels="trade", extra=None):
    """A configuration for feedsim's default symbols (BTC-USDT, ETH-USD, DOGE-USD)."""
    out = os.path.join(tmp, "trades.jsonl")
    cfg = {
        "log": {"level": "info"},
        "sink": {"type": "file", "path": out, "buffer_bytes": "1m", "flush_timeout_ms": 20000},
        "binance": {"enabled": binance},
        "kraken": {"enabled": kraken_on},
        "tls": {"ca_file": ca},
        "metrics": {"listen": "127.0.0.1:%d" % free_port()},
        "reconnect": {"base_ms": 50, "max_ms": 1000, "throttled_ms": 300,
                      "maintenance_ms": 500},
    }
    if binance:
        port = fs.ports["binance"]
        cfg["binance"].update({"url": "wss://localhost:%d" % port,
                               "rest_url": "https://localhost:%d" % port,
                               "symbols": binance_symbols, "channels": channels})
    if kraken_on:
        name = "kraken_v2" if kraken == "v2" else "kraken_v1"
        port = fs.ports[name]
        path = "/v2" if kraken == "v2" else "/"
        syms = kraken_symbols if kraken == "v2" else kraken_symbols.replace("BTC/", "XBT/") \
            .replace("DOGE/", "XDG/")
        cfg["kraken"].update({"url": "wss://localhost:%d%s" % (port, path),
                              "rest_url": "https://localhost:%d" % port, "symbols": syms})
    for sec, kv in (extra or {}).items():
        cfg.setdefault(sec, {}).update(kv)
    return cfg


class Handler:
    """A running feedhandler. Use as a context manager; stop() sends SIGTERM and checks 0."""

    def __init__(self, cfg, tmp, name="feedhandler", expect_exit=0, wrap=()):
        self.wrap = list(wrap)  # a command line the handler runs under (setpriv, prlimit)
        self.cfg = cfg
        self.tmp = tmp
        self.name = name
        self.expect_exit = expect_exit
        self.ini = os.path.join(tmp, name + ".ini")
        self.log_path = os.path.join(tmp, name + ".log")
        with open(self.ini, "w") as f:
            f.write(ini_text(cfg))
        self.proc = None
        self.rc = None

    @property
    def output(self):
        return self.cfg["sink"]["path"]

    @property
    def metrics_url(self):
        return "http://%s" % self.cfg["metrics"]["listen"]

    def __enter__(self):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.wrap + [FEEDHANDLER, "-c", self.ini],
                                     stdout=subprocess.DEVNULL, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.proc is not None:
            if exc_type is None:
                self.stop()
            else:
                self.proc.kill()
                self.proc.wait()
        return False

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("feedhandler did not exit after SIGTERM:\n" + self.log_tail())
        if self.rc != self.expect_exit:
            raise AssertionError("feedhandler exited with %s:\n%s" % (self.rc, self.log_tail()))
        return self.rc

    def wait_exit(self, timeout=60):
        self.rc = self.proc.wait(timeout=timeout)
        return self.rc

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_lines(self, msg):
        return [parse_logfmt(l) for l in self.log_text().splitlines()
                if ('msg="%s"' % msg) in l]

    # ---- /metrics and /readyz ----

    def get(self, path):
        try:
            with urllib.request.urlopen(self.metrics_url + path, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None, ""

    def ready(self):
        return self.get("/readyz")[0] == 200

    def wait_ready(self, timeout=60):
        def ok():
            if not self.alive():
                raise AssertionError("feedhandler exited:\n" + self.log_tail())
            return self.ready()
        wait_until(ok, timeout=timeout, step=0.02, what="feedhandler /readyz")

    def metrics(self):
        """The parsed exposition; {} while the server is not up yet (the handler must live)."""
        status, text = self.get("/metrics")
        if status is None:
            if not self.alive():
                raise AssertionError("feedhandler exited:\n" + self.log_tail())
            return {}
        assert status == 200, "GET /metrics failed: %s" % status
        return parse_metrics(text)

    def metric(self, name, **labels):
        """Sum of the samples of name whose labels include the given ones."""
        total = 0.0
        for (n, lab), v in self.metrics().items():
            if n == name and all(dict(lab).get(k) == str(val) for k, val in labels.items()):
                total += v
        return total

    # ---- process resources ----

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def sanitized(self):
        """True for an AddressSanitizer or ThreadSanitizer build, where RSS says nothing
        about leaks: ASan's quarantine holds freed memory on purpose (LeakSanitizer checks
        leaks at exit instead), and TSan adds shadow memory for every page first touched, so
        a table that fills lazily (backfill's hold pool, core/mem.h) grows RSS several times
        its own size."""
        with open("/proc/%d/maps" % self.proc.pid) as f:
            maps = f.read()
        return "libasan" in maps or "libtsan" in maps

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line):
    d = {}
    for k, v in _KV.findall(line):
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        d[k] = v
    return d


def gap_lines(handler):
    """The handler's "trade gap" log lines as (venue, symbol, channel, first, count)."""
    res = []
    for d in handler.log_lines("trade gap"):
        res.append((d["venue"], d["symbol"], d["channel"], int(d["first_missing"]),
                    int(d["missing"])))
    return res


def first_trade_after(path, venue, conn_after, offset=0, live_only=False):
    """The first trade of venue in the sink's JSON-lines output, from byte offset on (a partial
    first line skipped), on a connection id greater than conn_after (and with source LIVE if
    live_only); None if there is none yet. Incomplete last lines are left for the next call."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    if offset > 0:
        data = data[data.find(b"\n") + 1:]
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        t = json.loads(line)
        if "first_missing_id" in t:
            continue  # a gap record
        if t["venue"] == venue and t["connection_id"] > conn_after and \
                (not live_only or t["source"] == "LIVE"):
            return t
    return None


def last_conn(path, venue):
    """The highest connection id of venue in the last 200 kB of the output (0: none)."""
    conn = 0
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 200000))
        tail = f.read().splitlines()[1:]
    for line in tail:
        try:
            t = json.loads(line)
        except ValueError:
            continue
        if t["venue"] == venue:
            conn = max(conn, t["connection_id"])
    return conn


def fetch_to_file(url, path, ca):
    import ssl
    ctx = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen(url, context=ctx, timeout=20) as r, open(path, "wb") as f:
        f.write(r.read())
    return path


def main(test_globals):
    """engine_test.py FEEDHANDLER FEEDSIM TEST"""
    global FEEDHANDLER
    import sys
    import traceback
    if len(sys.argv) < 4:
        print("usage: %s FEEDHANDLER FEEDSIM TEST..." % sys.argv[0])
        sys.exit(2)
    FEEDHANDLER = sys.argv[1]
    feedsim_lib.FEEDSIM = sys.argv[2]
    failed = []
    for name in sys.argv[3:]:
        fn = test_globals.get("test_" + name)
        if fn is None:
            print("no such test: %s" % name)
            sys.exit(2)
        t0 = time.monotonic()
        try:
            fn()
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
            import shutil
            for d in _TMPDIRS:
                shutil.rmtree(d, ignore_errors=True)
        except Exception:
            failed.append(name)
            print("FAIL %s (files kept in %s)" % (name, " ".join(_TMPDIRS)), flush=True)
            traceback.print_exc()
        del _TMPDIRS[:]
    sys.exit(1 if failed else 0)


_TMPDIRS = []


class Feedsim(feedsim_lib.Feedsim):
    """feedsim_lib.Feedsim whose temporary directory goes when the test passes."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        _TMPDIRS.append(self.tmp)


def tmpdir(prefix):
    """A temporary directory, removed when the test passes (kept for inspection if not)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _TMPDIRS.append(d)
    return d
