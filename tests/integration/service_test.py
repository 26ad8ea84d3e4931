"""The daemon as a systemd service, end to end (tests/integration/service.cmake).

The real feedhandler runs against feedsim over TLS with $NOTIFY_SOCKET pointing at a datagram
socket of this test, in the role of systemd (Type=notify, WatchdogSec=): it must send READY=1
once every venue streams (when /readyz says 200), WATCHDOG=1 about twice per $WATCHDOG_USEC,
none while it is stopped with SIGSTOP (so systemd's watchdog would restart it), again after
SIGCONT, and STOPPING=1 on SIGTERM before it exits 0. The per-symbol metrics add up to the
per-venue trade counts once the feed is quiet. No wall-clock durations are asserted: waits
are bounded, and "no watchdog ping while stopped" holds however slow the machine is.

    service_test.py FEEDHANDLER FEEDSIM TEST
"""

import os
import signal
import socket
import sys
import time

import engine_lib
from engine_lib import Feedsim, Handler, handler_config, make_certs, tmpdir, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def check(cond, what, h=None):
    if not cond:
        raise AssertionError(what + ("\n--- log tail ---\n" + h.log_tail() if h else ""))


class Manager:
    """A NOTIFY_SOCKET listener: collects the datagrams (one notification each)."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.msgs = []

    def poll(self, timeout=0.0):
        """Reads what arrived (waiting up to timeout for the first); returns the new ones."""
        new = []
        if timeout > 0:
            self.sock.settimeout(timeout)
        else:
            self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(4096)
                new.append(dict(kv.split("=", 1) for kv in data.decode().split("\n") if kv))
                self.sock.setblocking(False)
        except (BlockingIOError, socket.timeout):
            pass
        self.msgs += new
        return new

    def wait_for(self, key, timeout, h):
        def got():
            check(h.alive(), "feedhandler exited", h)
            self.poll(0.1)
            return any(key in m for m in self.msgs)
        wait_until(got, timeout=timeout, step=0.05, what="%s from feedhandler" % key)
        return [m for m in self.msgs if key in m]


def test_notify():
    tmp = tmpdir("service-notify-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    fs_args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
               "%s,%s" % (cert, key), "--rate", "200", "--seed", "7"]
    mgr = Manager(tmp)
    os.environ["NOTIFY_SOCKET"] = mgr.path
    os.environ["WATCHDOG_USEC"] = "1000000"  # WatchdogSec=1s: a ping about every 500 ms
    os.environ.pop("WATCHDOG_PID", None)
    try:
        with Feedsim(*fs_args) as fs:
            notify_run(fs, tmp, ca, mgr)
    finally:
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            os.environ.pop(k, None)
        mgr.sock.close()


def notify_run(fs, tmp, ca, mgr):
    cfg = handler_config(fs, tmp, ca, channels="trade")
    with Handler(cfg, tmp) as h:
        ready = mgr.wait_for("READY", 120, h)
        check(len(ready) == 1 and ready[0]["READY"] == "1", "READY: %s" % ready, h)
        # READY is sent when /readyz holds: every slot streams.
        check(h.get("/readyz")[0] == 200, "READY=1 sent but /readyz is not 200", h)
        check(h.get("/healthz") == (200, "ok\n"), "/healthz: %s" % (h.get("/healthz"),), h)
        check(any("STATUS" in m and m["STATUS"].startswith("streaming") for m in ready),
              "READY without a streaming STATUS: %s" % ready, h)
        check(h.log_lines("service ready"), "no 'service ready' log line", h)

        def pings():
            return sum(1 for m in mgr.msgs if m.get("WATCHDOG") == "1")
        base = pings()
        wait_until(lambda: mgr.poll(0.2) is not None and pings() >= base + 3, timeout=60,
                   step=0.05, what="three watchdog pings")

        # A stopped loop sends nothing: systemd's WatchdogSec= would restart it.
        os.kill(h.proc.pid, signal.SIGSTOP)
        try:
            mgr.poll(0.5)  # what was sent before the stop took effect
            mgr.msgs.clear()
            mgr.poll(2.5)  # more than two periods; a stopped process cannot send
            check(mgr.msgs == [], "notifications while stopped: %s" % mgr.msgs, h)
        finally:
            os.kill(h.proc.pid, signal.SIGCONT)
        mgr.wait_for("WATCHDOG", 60, h)

        # Per-symbol metrics: once the feed is quiet they add up to the venue counts.
        fs.stop()

        def quiet():
            a = h.metric("feedhandler_trades_total")
            time.sleep(0.5)
            return a > 0 and h.metric("feedhandler_trades_total") == a
        wait_until(quiet, timeout=60, step=0.1, what="the trade count to settle")
        m = h.metrics()
        for venue in ("binance", "kraken"):
            total = sum(v for (n, lab), v in m.items()
                        if n == "feedhandler_trades_total" and dict(lab)["venue"] == venue)
            per = {dict(lab)["symbol"]: v for (n, lab), v in m.items()
                   if n == "feedhandler_symbol_trades_total" and dict(lab)["venue"] == venue}
            check(set(per) == {"BTC-USDT", "ETH-USD", "DOGE-USD"},
                  "%s: symbol series %s" % (venue, sorted(per)), h)
            check(total > 0 and sum(per.values()) == total,
                  "%s: per-symbol trades %s do not add up to %s" % (venue, per, total), h)
            last = {dict(lab)["symbol"]: v for (n, lab), v in m.items()
                    if n == "feedhandler_symbol_last_trade_seconds" and
                    dict(lab)["venue"] == venue}
            now = time.time()
            for sym, t in last.items():
                check(per[sym] == 0 or 0 < t <= now,
                      "%s %s: last trade time %s (now %s)" % (venue, sym, t, now), h)
        mgr.msgs.clear()
        h.stop()
    mgr.poll(1.0)
    stopping = [m for m in mgr.msgs if "STOPPING" in m]
    check(len(stopping) == 1, "STOPPING=1 not sent once at SIGTERM: %s" % mgr.msgs, h)
    check(not any("READY" in m for m in mgr.msgs), "READY sent again: %s" % mgr.msgs, h)


def test_bad_notify_socket():
    """A malformed $NOTIFY_SOCKET is a configuration error (exit 2), not a silent no-op."""
    tmp = tmpdir("service-bad-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    fs_args = ["--binance", "0", "--control", "0", "--tls", "%s,%s" % (cert, key)]
    os.environ["NOTIFY_SOCKET"] = "relative/notify.sock"
    try:
        with Feedsim(*fs_args) as fs:
            cfg = handler_config(fs, tmp, ca, kraken_on=False, channels="trade")
            h = Handler(cfg, tmp, expect_exit=2)
            with h:
                rc = h.wait_exit(60)
                h.proc = None
            check(rc == 2, "exit status %s, expected 2" % rc, h)
            check("NOTIFY_SOCKET=relative/notify.sock" in h.log_text(),
                  "the error does not name NOTIFY_SOCKET", h)
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)


# [feed] realtime_priority: the engine thread alone on SCHED_FIFO.

def sched_of(pid, tid):
    """(policy, rt_priority) of one thread, from /proc (stat fields 41 and 40)."""
    with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is stat's field 3 (state): field n is fields[n - 3].
    return int(fields[38]), int(fields[37])


def has_cap_sys_nice():
    with open("/proc/self/status") as f:
        eff = int(next(ln for ln in f if ln.startswith("CapEff:")).split()[1], 16)
    return bool(eff & (1 << 23))  # CAP_SYS_NICE


def realtime_run(wrap, expect_exit=0):
    """A handler with realtime_priority = 10 (under wrap); returns (exit status, the Handler,
    (pid, {tid: (policy, priority)}) of its threads while it streamed)."""
    tmp = tmpdir("service-rt-")
    ca, cert, key = make_certs(os.path.join(tmp, "certs"))
    fs_args = ["--binance", "0", "--kraken-v2", "0", "--control", "0", "--tls",
               "%s,%s" % (cert, key), "--rate", "200", "--seed", "3"]
    with Feedsim(*fs_args) as fs:
        cfg = handler_config(fs, tmp, ca, extra={"feed": {"realtime_priority": 10}})
        h = Handler(cfg, tmp, expect_exit=expect_exit, wrap=wrap)
        with h:
            if expect_exit != 0:
                rc = h.wait_exit(60)
                h.proc = None
                return rc, h, None
            h.wait_ready(120)
            wait_until(lambda: h.metric("feedhandler_trades_total") >= 50, timeout=60,
                       step=0.1, what="trades")
            pid = h.proc.pid
            sched = {int(t): sched_of(pid, int(t)) for t in os.listdir("/proc/%d/task" % pid)}
            h.stop()
    return 0, h, (pid, sched)


def check_realtime(h, threads):
    SCHED_OTHER, SCHED_FIFO = 0, 1
    pid, sched = threads
    # The engine thread is the process's main thread: its tid is the pid.
    check(sched.get(pid) == (SCHED_FIFO, 10),
          "the engine thread is %s, not SCHED_FIFO 10: %s" % (sched.get(pid), sched), h)
    others = {t: v for t, v in sched.items() if t != pid}
    # Threads started before (the file writer, the metrics server) and after (libuv's pool for
    # the address lookups of the connections) the switch keep the normal scheduler.
    check(len(others) >= 2, "fewer threads than expected: %s (pid %s)" % (sched, pid), h)
    check(all(v[0] == SCHED_OTHER for v in others.values()),
          "threads other than the engine's left the normal scheduler: %s" % sched, h)
    check(h.log_lines("engine thread on SCHED_FIFO"), "no log line for the switch", h)


def test_realtime():
    """The engine thread on SCHED_FIFO at the configured priority, every other thread not."""
    if not has_cap_sys_nice():
        print("SKIP: needs CAP_SYS_NICE (CI runs as root)")
        sys.exit(77)
    _, h, sched = realtime_run([])
    check_realtime(h, sched)


def test_realtime_denied():
    """Without CAP_SYS_NICE and with RLIMIT_RTPRIO 0 the start fails (2) and says why.
    (An RLIMIT_RTPRIO of at least the priority, systemd's LimitRTPRIO=, would do instead of
    the capability; raising that hard limit needs CAP_SYS_RESOURCE, which CI's container
    lacks.)"""
    drop = ["setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice"] \
        if has_cap_sys_nice() else []
    rc, h, _ = realtime_run(["prlimit", "--rtprio=0:0"] + drop, expect_exit=2)
    check(rc == 2, "exit status %s, expected 2" % rc, h)
    text = h.log_text()
    check("cannot put the engine thread on SCHED_FIFO" in text and "LimitRTPRIO" in text,
          "the error does not say what is missing", h)
    check(not h.log_lines("running"), "the engine ran without its priority", h)

if __name__ == "__main__":
    engine_lib.main(globals())
