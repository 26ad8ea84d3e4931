"""Integration tests of the feedhandler command line: the real binary, real files.

usage: cli_test.py FEEDHANDLER_BINARY VERSION CASE

Each CASE checks exit codes and output; any mismatch raises and exits non-zero. The
environment is cleared of FEEDHANDLER_* variables first, so that the caller's cannot change
the outcome (one case sets its own).
"""
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN, VERSION, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
SRC = os.environ["FH_SOURCE_DIR"]
SHIPPED = os.path.join(SRC, "config", "feedhandler.ini")
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("FEEDHANDLER_")}


def run(*args, env=None):
    e = dict(BASE_ENV)
    e.update(env or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=60)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what, out="", err=""):
    if not cond:
        raise AssertionError(f"{what}\n--- stdout:\n{out}\n--- stderr:\n{err}")


def case_version():
    rc, out, err = run("--version")
    expect(rc == 0, "--version exits 0", out, err)
    expect(out == f"feedhandler {VERSION}\n", f"--version prints 'feedhandler {VERSION}'", out, err)
    rc, out2, err = run("-V")
    expect(rc == 0 and out2 == out, "-V is --version", out2, err)


def case_help():
    rc, out, err = run("--help")
    expect(rc == 0, "--help exits 0", out, err)
    expect(err == "", "--help writes nothing on stderr", out, err)
    for needle in ("usage:", "check-config -c FILE", "config-keys", "--set", "--version",
                   "FEEDHANDLER_<SECTION>_<KEY>", "exit status", "0  success",
                   "1  runtime failure", "2  usage error"):
        expect(needle in out, f"--help mentions {needle!r}", out, err)
    for cmd in ("run", "check-config", "config-keys"):
        rc, out, err = run(cmd, "--help")
        expect(rc == 0 and out.startswith(f"usage: feedhandler {cmd}"), f"{cmd} --help", out, err)


def case_usage_errors():
    for args in (["--bogus"], ["frobnicate"], [], ["check-config"], ["check-config", "-c"],
                 ["check-config", "-c", SHIPPED, "--bogus"], ["check-config", "-c", SHIPPED, "x"],
                 ["-c", SHIPPED, "-c", SHIPPED], ["run", "--nope"], ["config-keys", "extra"]):
        rc, out, err = run(*args)
        expect(rc == 2, f"{args} exits 2 (got {rc})", out, err)
        expect(out == "", f"{args} prints nothing on stdout", out, err)
        expect("usage" in err, f"{args} prints the usage on stderr", out, err)


def case_check_ok():
    rc, out, err = run("check-config", "-c", SHIPPED)
    expect(rc == 0, "the shipped config checks OK", out, err)
    expect(out == "configuration OK\n", "prints 'configuration OK'", out, err)
    expect(err == "", "and no error", out, err)
    # Valid overrides from every source keep it OK.
    rc, out, err = run("check-config", "-c", SHIPPED, "--set", "sink.type=file",
                       "-s", "sink.path=/tmp/x.jsonl",
                       env={"FEEDHANDLER_LOG_LEVEL": "debug",
                            "FEEDHANDLER_KAFKA_BOOTSTRAP_SERVERS": "localhost:9092"})
    expect(rc == 0 and out == "configuration OK\n", "valid overrides stay OK", out, err)
    # The same key twice with --set: the last one wins; the earlier value is not checked.
    rc, out, err = run("check-config", "-c", SHIPPED, "--set", "log.level=loud",
                       "--set", "log.level=warn")
    expect(rc == 0 and out == "configuration OK\n" and err == "",
           "a repeated --set: the last one wins", out, err)
    rc, out, err = run("check-config", "-c", SHIPPED, "--set", "log.level=warn",
                       "--set", "log.level=loud")
    expect(rc == 2 and err.startswith("--set:log.level: invalid value \"loud\"") and
           err.count("\n") == 1, "a repeated --set: only the last value is checked", out, err)


BROKEN = """\
[log]
level = loud
[sink]
type = file
type = kafka
flush_timeout_ms = 5s
[bogus]
x = 1
[binance]
sybmols = BTCUSDT
symbols = BTC/USDT
channels = trade,depth
[kraken]
symbols = XBTUSD
no equals sign here
[kafka]
acks = banana
"""


def case_check_errors():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "broken.ini")
        with open(path, "w") as f:
            f.write(BROKEN)
        rc, out, err = run("check-config", "-c", path, "--set", "sink.topic=a/b",
                           env={"FEEDHANDLER_SINK_TYPO": "1"})
        expect(rc == 2, f"a broken config exits 2 (got {rc})", out, err)
        expect(out == "", "nothing on stdout", out, err)
        expected = [
            f"{path}:2: log.level: invalid value \"loud\"",
            f"{path}:5: duplicate key sink.type (first given on line 4)",
            f"{path}:6: sink.flush_timeout_ms: invalid duration \"5s\"",
            f"{path}:7: unknown section [bogus]",
            f"{path}:10: unknown key \"sybmols\" in [binance]",
            f"{path}:11: binance.symbols: \"BTC/USDT\" is not a native Binance symbol",
            f"{path}:12: binance.channels: invalid item \"depth\"",
            f"{path}:14: kraken.symbols: \"XBTUSD\" is not a native Kraken pair",
            f"{path}:15: expected 'key = value'",
            f"{path}:17: kafka.acks: ",
            "env:FEEDHANDLER_SINK_TYPO: unknown variable",
            "--set:sink.topic: invalid Kafka topic \"a/b\"",
            f"{path}:4: sink.type=file requires sink.path",
        ]
        lines = err.splitlines()
        for want in expected:
            expect(any(line.startswith(want) for line in lines), f"stderr has {want!r}", out, err)
        expect(len(lines) == len(expected), f"exactly {len(expected)} error lines", out, err)

        missing = os.path.join(d, "missing.ini")
        rc, out, err = run("check-config", "-c", missing)
        expect(rc == 2, "a missing file exits 2", out, err)
        expect(err == f"{missing}:0: cannot read the configuration file: "
                      "No such file or directory\n", "a missing file is one clear error", out, err)


def offline_sets():
    """--set flags that make the shipped configuration run offline: symbol metadata from the
    test fixtures, exchange URLs at a closed local port (connections fail and are retried)."""
    data = os.path.join(SRC, "tests", "data")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sets = {"binance.metadata_file": os.path.join(data, "binance_exchangeinfo.json"),
            "kraken.metadata_file": os.path.join(data, "kraken_assetpairs.json"),
            "binance.url": "ws://127.0.0.1:9", "kraken.url": "ws://127.0.0.1:9/v2",
            "metrics.listen": "127.0.0.1:%d" % port}
    return [a for k, v in sets.items() for a in ("--set", "%s=%s" % (k, v))]


def catches(pid, sig):
    """True when process pid has a handler installed for sig (/proc/PID/status SigCgt)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


def run_until(args, needle, timeout=30):
    """Starts feedhandler, waits for needle on stderr, sends SIGTERM; returns (rc, err)."""
    p = subprocess.Popen([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=BASE_ENV)
    err = b""
    end = time.monotonic() + timeout
    os.set_blocking(p.stderr.fileno(), False)
    while needle.encode() not in err and time.monotonic() < end and p.poll() is None:
        select.select([p.stderr], [], [], 0.1)
        err += p.stderr.read() or b""
    # SIGTERM only once the daemon catches it: a slow start (a loaded machine, a sanitizer)
    # would otherwise die of the signal's default action (bounded wait, not a time check).
    end = time.monotonic() + 60
    while p.poll() is None and not catches(p.pid, signal.SIGTERM) and time.monotonic() < end:
        select.select([p.stderr], [], [], 0.05)
        err += p.stderr.read() or b""
    p.send_signal(signal.SIGTERM)
    try:
        out, rest = p.communicate(timeout=60)  # a hang guard, not a duration check
    except subprocess.TimeoutExpired:
        # Say where it hangs: every thread's stack, then the log so far.
        stacks = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex",
                                 "thread apply all bt"], capture_output=True, text=True,
                                check=False).stdout if shutil.which("gdb") else "(no gdb)"
        p.kill()
        out, rest = p.communicate()
        raise AssertionError("no exit 60 s after SIGTERM\n%s\n%s" %
                             (stacks, (err + rest).decode()[-4000:]))
    return p.returncode, out.decode(), (err + rest).decode()


def case_run():
    # Run mode runs the daemon until SIGTERM/SIGINT: here offline (see offline_sets), where
    # every connection attempt fails and is retried, and SIGTERM still ends it with 0.
    sets = offline_sets()
    for args in (["-c", SHIPPED, *sets], ["run", "-c", SHIPPED, *sets]):
        rc, out, err = run_until(args, 'msg="running"')
        expect(rc == 0, f"{args} exits 0 on SIGTERM (got {rc})", out, err)
        # The build's allocator serves malloc (mimalloc's override took, or the system's).
        want = "allocator=mimalloc-" if os.environ.get("FH_MALLOC") == "mimalloc" else \
            "allocator=system"
        expect(want in err, "the start-up line names the allocator in use (%s)" % want, out, err)
        expect("key=binance.symbols value=\"BTCUSDT,ETHUSDT\"" in err,
               "run mode logs the effective settings", out, err)
        expect('msg="symbol metadata loaded" venue=binance source="file ' in err,
               "run mode says where the symbol metadata came from", out, err)
        expect('msg="signal received: shutting down"' in err and 'msg="exiting" status=0' in err,
               "a clean shutdown is logged", out, err)
        expect("level=error" not in err, "no error lines", out, err)
    rc, out, err = run("-c", SHIPPED, "--set", "log.level=bogus")
    expect(rc == 2 and err.startswith("--set:log.level: invalid value"),
           "run mode with a bad config exits 2 with the error", out, err)
    rc, out, err = run_until(["-c", SHIPPED, *sets, "--set", "log.level=error"], "never", 2)
    expect(rc == 0 and "key=" not in err, "log.level=error silences the info lines", out, err)
    rc, out, err = run("-c", SHIPPED, *sets, "--set", "binance.symbols=BTCUSDT,NOSUCHPAIR")
    expect(rc == 2 and "NOSUCHPAIR is not listed" in err,
           "a symbol the exchange does not list stops start-up with exit 2", out, err)


def case_config_keys():
    rc, out, err = run("config-keys")
    expect(rc == 0 and err == "", "config-keys exits 0", out, err)
    with open(os.path.join(SRC, "docs", "CONFIG.md")) as f:
        doc = f.read().splitlines()
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    expect(len(rows) > 10, "config-keys lists the keys", out, err)
    for row in rows:
        expect(row in doc, f"docs/CONFIG.md has the row {row!r}", out, err)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    CASES[CASE]()
    print(f"cli.{CASE}: ok")
