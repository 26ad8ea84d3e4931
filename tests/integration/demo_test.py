#!/usr/bin/python3
"""demo_test.py - `make demo` (scripts/demo) cannot rot: it runs, shows decoded trades and
status lines, and leaves nothing behind.

  demo_test.py kafka      the demo as `make demo` runs it (Apache Kafka when Java and the
                          cached jars are there, else the mock cluster), stopped like a
                          Ctrl-C: SIGINT to its whole process group
  demo_test.py fallback   JAVA_HOME pointing nowhere: the mock cluster, announced in exactly
                          one line; stopped with SIGTERM to the demo process alone

Each case checks: every stdout line is a decoded trade or a status line, every stderr line is
one of the demo's own (no build, broker or JVM logs); at least TRADES decoded trades with
plausible fields and STATUS status lines with a rate; the temporary directory is named once
and is gone afterwards; after the stop the demo exits 0 and no process it started (feedsim,
feedhandler, the registry stand-in, kafka-local and its JVM or the mock cluster, found by
walking /proc while it ran) is alive. It reports how long the first trade and the first status
line took, but asserts no time: the waits are bounded only so that a broken demo fails
instead of hanging.
"""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FH_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("FH_BUILD_DIR") or os.path.join(SOURCE_DIR, "build", "release")
PYTHON = os.environ.get("FH_PYTHON", "/usr/bin/python3")
DEMO = os.path.join(SOURCE_DIR, "scripts", "demo")

TRADES = 20
STATUS = 3
START_LIMIT = 400  # a JVM on a loaded 2-core machine; only against hanging
STOP_LIMIT = 150

TRADE = re.compile(r"^trade (binance|kraken) +([A-Z]+-[A-Z]+) +(buy|sell|unknown) +"
                   r"([0-9]+(?:\.[0-9]+)?) @ ([0-9]+(?:\.[0-9]+)?) +id (\d+|-) +"
                   r"\d\d:\d\d:\d\d\.\d{6} +p(\d+)@(\d+)$")
STATUS_RE = re.compile(r"^status (?:(\d+|-) trades/s \| p99 receive->ack (-|[0-9.]+ m?s) "
                       r"\(last 10 s\) \| reconnects (\d+) \| gaps (\d+) \| acked (\d+), "
                       r"decoded (\d+) \| (.+)|feedhandler starting \| decoded \d+ \| .+)$")
DEMO_LINE = re.compile(r"^demo: ")
SYMBOLS = {"BTC-USDT", "ETH-USD", "DOGE-USD"}


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


# ---- the processes the demo starts ------------------------------------------------------------


def proc_stat(pid):
    """(ppid, starttime) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(rest[1]), int(rest[19])


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def descendants(root):
    """{(pid, starttime): cmdline} of every live descendant of root."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = proc_stat(int(d))
        if st is not None:
            children.setdefault(st[0], []).append((int(d), st[1]))
    out = {}
    todo = [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            out[(pid, start)] = cmdline(pid)
            todo.append(pid)
    return out


def alive(key):
    pid, start = key
    st = proc_stat(pid)
    if st is None or st[1] != start:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def remember(seen, now):
    """Adds what is new; an exiting process's empty command line does not replace the one
    seen before."""
    for k, c in now.items():
        if c or k not in seen:
            seen[k] = c


# ---- the run ----------------------------------------------------------------------------------


def run(case):
    env = dict(os.environ)
    if case == "fallback":
        env["JAVA_HOME"] = "/nonexistent-java-for-the-demo-test"
    cmd = [PYTHON, DEMO, BUILD_DIR, "--rate", "10"]
    print("running: %s%s" % ("JAVA_HOME=%s " % env["JAVA_HOME"] if case == "fallback" else "",
                             " ".join(cmd)), flush=True)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, env=env)
    out, err = [], []
    bufs = {p.stdout.fileno(): b"", p.stderr.fileno(): b""}
    seen = {}
    first = {}

    def pump(timeout):
        fds = [fd for fd in bufs if fd is not None]
        ready, _, _ = select.select(fds, [], [], timeout)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                bufs.pop(fd)
                bufs[None] = b""
                continue
            bufs[fd] += chunk
            while b"\n" in bufs[fd]:
                line, bufs[fd] = bufs[fd].split(b"\n", 1)
                line = line.decode("utf-8", "replace")
                now = time.monotonic() - t0
                if fd == p.stdout.fileno():
                    out.append(line)
                    if line.startswith("trade ") and "trade" not in first:
                        first["trade"] = now
                    if STATUS_RE.match(line) and (STATUS_RE.match(line).group(1) or "-") != "-" \
                            and "status" not in first:
                        first["status"] = now
                else:
                    err.append(line)
        bufs.pop(None, None)

    def enough():
        trades = sum(1 for l in out if l.startswith("trade "))
        rated = sum(1 for l in out if (STATUS_RE.match(l) or [None, None])[1] not in (None, "-"))
        return trades >= TRADES and rated >= STATUS

    try:
        while not enough():
            if time.monotonic() - t0 > START_LIMIT:
                fail("no %d trades and %d status lines after %d s:\nstdout tail:\n%s\n"
                     "stderr:\n%s" % (TRADES, STATUS, START_LIMIT, "\n".join(out[-10:]),
                                      "\n".join(err)))
            if p.poll() is not None:
                pump(0.5)
                fail("the demo exited with %s before showing enough:\nstdout tail:\n%s\n"
                     "stderr:\n%s" % (p.returncode, "\n".join(out[-10:]), "\n".join(err)))
            pump(0.2)
            remember(seen, descendants(p.pid))
        remember(seen, descendants(p.pid))
        print("first decoded trade after %.1f s, first status line with a rate after %.1f s "
              "(measured, not asserted)" % (first["trade"], first["status"]), flush=True)

        # The stop: Ctrl-C (SIGINT to the foreground process group, of which the demo is the
        # leader), or SIGTERM to the demo alone.
        t1 = time.monotonic()
        if case == "kafka":
            os.killpg(p.pid, signal.SIGINT)
        else:
            p.send_signal(signal.SIGTERM)
        while p.poll() is None and time.monotonic() - t1 < STOP_LIMIT:
            pump(0.2)
            if p.poll() is None:
                remember(seen, descendants(p.pid))
        if p.poll() is None:
            fail("the demo did not exit within %d s of the signal" % STOP_LIMIT)
        while bufs:
            pump(1.0)
            if p.stdout.fileno() not in bufs and p.stderr.fileno() not in bufs:
                break
        print("stopped in %.1f s, exit status %d" % (time.monotonic() - t1, p.returncode),
              flush=True)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for key in list(seen):  # never leave anything running, even after a failure
            if alive(key):
                try:
                    os.kill(key[0], signal.SIGKILL)
                except OSError:
                    pass
    return p.returncode, out, err, seen


def check(case, rc, out, err, seen):
    if rc != 0:
        fail("exit status %s after the stop:\n%s" % (rc, "\n".join(err)))

    # Quiet: only trades and status lines on stdout, only the demo's own lines on stderr.
    stray = [l for l in out if not TRADE.match(l) and not STATUS_RE.match(l)]
    if stray:
        fail("stdout lines that are neither trades nor status lines:\n" + "\n".join(stray[:10]))
    stray = [l for l in err if not DEMO_LINE.match(l)]
    if stray:
        fail("stderr lines that are not the demo's:\n" + "\n".join(stray[:10]))
    trades = [TRADE.match(l) for l in out if l.startswith("trade ")]
    bad = [m.group(0) for m in trades if m.group(2) not in SYMBOLS]
    if bad:
        fail("trades of unexpected symbols: %s" % bad[:5])
    venues = {m.group(1) for m in trades}
    print("%d decoded trades (%s), %d status lines" %
          (len(trades), ", ".join(sorted(venues)), sum(1 for l in out if l.startswith("status "))),
          flush=True)
    rated = [STATUS_RE.match(l) for l in out if STATUS_RE.match(l) and STATUS_RE.match(l).group(1)]
    print("last status line: " + rated[-1].group(0), flush=True)

    # The temporary directory: named once, gone.
    dirs = [re.search(r"logs and data in (\S+)", l) for l in err]
    dirs = [m.group(1) for m in dirs if m]
    if len(dirs) != 1:
        fail("the temporary directory is named %d times:\n%s" % (len(dirs), "\n".join(err)))
    if os.path.exists(dirs[0]):
        listing = subprocess.run(["ls", "-laR", dirs[0]], capture_output=True, text=True).stdout
        shutil.rmtree(dirs[0], ignore_errors=True)
        fail("%s is still there after the demo exited:\n%s" % (dirs[0], listing[:3000]))

    # The broker: Apache Kafka when it can run here, else the mock cluster, said in one line.
    fallback = [l for l in err if "mock cluster instead" in l]
    real = any("kafka.Kafka" in c for c in seen.values())
    if case == "fallback":
        if len(fallback) != 1 or "java" not in fallback[0].lower():
            fail("expected one line announcing the mock cluster for want of Java:\n" +
                 "\n".join(err))
        if real:
            fail("a Kafka JVM ran although JAVA_HOME points nowhere")
    elif fallback:
        print("note: this machine cannot run Apache Kafka, the demo used the mock cluster: " +
              fallback[0], flush=True)
    elif not real:
        fail("no Kafka JVM (kafka.Kafka) among the demo's processes:\n" +
             "\n".join(sorted(seen.values())))
    if len(fallback) > 1:
        fail("the fallback is announced %d times" % len(fallback))

    # Every process it started has exited.
    kinds = {
        "feedsim": "tools/feedsim",
        "feedhandler": "/feedhandler -c",
        "registry stand-in": "registry_standin.py",
        "broker": "mockbroker" if (fallback or case == "fallback") else "kafka.Kafka",
    }
    if not fallback and case != "fallback":
        kinds["kafka-local"] = "scripts/kafka-local"
    for kind, needle in kinds.items():
        if not any(needle in c for c in seen.values()):
            fail("never saw the %s (%r) among the demo's processes:\n%s" %
                 (kind, needle, "\n".join(sorted(seen.values()))))
    time.sleep(0.5)  # a process the demo reaped a moment ago is gone from /proc by now
    left = [(k, c) for k, c in seen.items() if alive(k)]
    if left:
        fail("processes left behind:\n" + "\n".join("%d %s" % (k[0], c) for k, c in left))
    print("%d processes started by the demo, none left" % len(seen), flush=True)


def main():
    case = sys.argv[1] if len(sys.argv) > 1 else "kafka"
    if case not in ("kafka", "fallback"):
        fail("usage: demo_test.py kafka|fallback")
    for f in ("feedhandler", "tools/feedsim", "tests/mockbroker"):
        if not os.access(os.path.join(BUILD_DIR, f), os.X_OK):
            fail("%s/%s is not built" % (BUILD_DIR, f))
    rc, out, err, seen = run(case)
    check(case, rc, out, err, seen)
    print("PASS demo %s" % case, flush=True)


if __name__ == "__main__":
    main()
