"""Helpers for the Kafka sink's end-to-end tests (tests/integration/kafka_test.py).

Real processes over loopback: tests/tools/mockbroker (librdkafka's mock cluster, N brokers,
faults on its stdin) or Apache Kafka itself (RealKafka: scripts/kafka-local's KRaft brokers),
tests/tools/registry_standin.py (a Schema Registry), and a producer:

  driver  tests/tools/sinkdrive: the configured sink, built by the daemon's own factory, fed
          with deterministic synthetic trades; its truth file lists every trade the sink
          accepted. This is what runs now.
  daemon  feedsim -> feedhandler (the real engine) -> mockbroker, with feedsim's truth log.
          Selected with --producer daemon once the engine wires [sink] type = kafka; the
          command lines come from PRODUCER_CMD / FEEDSIM_CMD (see DaemonProducer).

What the topic holds is read back by consumers we did not write: kcat (partitions, offsets,
keys, headers, sizes; Debian's kcat has no Avro deserializer) and python3-confluent-kafka,
whose values python3-avro decodes (Confluent frames with the schema fetched by id from the
registry, GET /schemas/ids/{id}; single-object frames after checking the fingerprint). The
checker compares that with the truth: every trade once, per-key order, exact values.

Waits are bounded; nothing asserts how long anything took.
"""

import collections
import io
import json
import os
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
from avro_crossdecode import RawTimestampDecoder, apply_primitives_rule, crc64_avro  # noqa: E402

SOURCE_DIR = os.environ.get("FH_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("FH_BUILD_DIR") or os.path.join(SOURCE_DIR, "build", "release")
PYTHON = os.environ.get("FH_PYTHON", "/usr/bin/python3")
SCHEMA_FILE = os.path.join(SOURCE_DIR, "schemas", "trade.avsc")

FIELDS = ["venue", "symbol", "native_symbol", "trade_id", "first_trade_id", "last_trade_id",
          "kind", "price", "quantity", "side", "order_type", "trade_time", "event_time",
          "receive_time_ns", "source", "connection_id", "sequence"]


def tool(name):
    return os.path.join(BUILD_DIR, "tests", name)


def file_tail(path, n=40):
    """The last n lines of a log file, "" when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


def wait_until(pred, timeout, what, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


def ini_text(sections):
    out = []
    for sec, kv in sections.items():
        out.append("[%s]" % sec)
        for k, v in kv.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            out.append("%s = %s" % (k, v))
        out.append("")
    return "\n".join(out)


# ---- the broker and the registry --------------------------------------------------------


class MockBroker:
    """tests/tools/mockbroker: N brokers on loopback; commands on stdin, one answer each."""

    def __init__(self, brokers=3):
        self.proc = subprocess.Popen([tool("mockbroker"), "-n", str(brokers)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if not line:
            self.proc.kill()
            raise AssertionError("mockbroker did not start")
        self.bootstrap = line
        self.brokers = brokers

    def cmd(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        ans = self.proc.stdout.readline().decode().strip() if ready else ""
        if ans != "ok":
            raise AssertionError("mockbroker %r: %r" % (line, ans))

    def create(self, topic, partitions=4):
        self.cmd("create %s %d" % (topic, partitions))

    def all_down(self):
        self.cmd("all down")

    def all_up(self):
        self.cmd("all up")

    def rtt_all(self, ms):
        self.cmd("all rtt %d" % ms)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        if rc != 0:
            raise AssertionError("mockbroker exited with %d" % rc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False


class RealKafka:
    """Apache Kafka itself: scripts/kafka-local --commands runs N KRaft brokers (combined
    broker+controller nodes 1..N, JVMs on loopback) for the test's lifetime. Broker faults are
    real processes stopped (SIGTERM), killed (-9) and started again; topics are created with
    python3-confluent-kafka's AdminClient. The JVMs go when this object or its process goes
    (kafka-local stops them when its stdin closes; they die with kafka-local)."""

    SCRIPT = os.path.join(SOURCE_DIR, "scripts", "kafka-local")
    START_TIMEOUT = 300  # JVM starts on a loaded 2-core machine; the jars come from the cache

    def __init__(self, brokers=1, props=None):
        self.brokers = brokers
        self.tmp = tmpdir("realkafka-")  # kept after a failure, with the brokers' logs
        self.log_path = os.path.join(self.tmp, "kafka-local.log")
        self.ports_path = os.path.join(self.tmp, "ports.json")
        cmd = [PYTHON, self.SCRIPT, "--brokers", str(brokers), "--commands",
               "--ports-file", self.ports_path, "--timeout", str(self.START_TIMEOUT),
               "--logs-to", self.tmp]
        for k, v in (props or {}).items():
            cmd += ["--set", "%s=%s" % (k, v)]
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log)
        line = self._answer(self.START_TIMEOUT + 60)
        if not line.startswith("BOOTSTRAP="):
            self._abort()
            raise AssertionError("scripts/kafka-local did not start (%r):\n%s" %
                                 (line, self.log_tail()))
        self.bootstrap = line.split("=", 1)[1]
        with open(self.ports_path) as f:
            self.info = json.load(f)
        self.seen_pids = set()
        self.started_s = time.monotonic() - t0
        print("real kafka: %d broker(s) at %s in %.1f s" % (brokers, self.bootstrap,
                                                            self.started_s), flush=True)

    def _answer(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().decode().strip() if ready else ""

    def cmd(self, line, timeout=None):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        ans = self._answer(timeout or self.START_TIMEOUT + 60)
        if not ans.startswith("ok"):
            raise AssertionError("kafka-local %r: %r\n%s" % (line, ans, self.log_tail()))
        return ans

    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 3})

    def create(self, topic, partitions=4, rf=1, config=None):
        """Creates the topic and waits until every partition has a leader and rf in-sync
        replicas."""
        from confluent_kafka.admin import NewTopic
        a = self.admin()
        fut = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=rf,
                                        config=dict(config or {}))], operation_timeout=60)
        fut[topic].result(timeout=90)

        def ready():
            t = a.list_topics(topic, timeout=10).topics.get(topic)
            if t is None or t.error is not None or len(t.partitions) != partitions:
                return False
            return all(p.leader >= 0 and len(p.isrs) == rf for p in t.partitions.values())
        wait_until(ready, 90, "topic %s: %d partitions with leaders" % (topic, partitions),
                   step=0.2)

    def pids(self):
        got = {int(k): int(v) for k, v in
               (kv.split("=") for kv in self.cmd("pids").split()[1:])}
        self.seen_pids.update(v for v in got.values() if v > 0)
        return got

    def stop_broker(self, *ids):
        """SIGTERM (a controlled shutdown), waits for the JVMs to exit."""
        self.cmd("stop " + " ".join(str(i) for i in ids))

    def kill9_broker(self, *ids):
        """kill -9, all of them at once."""
        self.cmd("kill " + " ".join(str(i) for i in ids))

    def start_broker(self, *ids):
        """Starts stopped or killed brokers again; returns when the cluster lists them."""
        self.cmd("start " + " ".join(str(i) for i in ids))
        self.pids()  # the new JVMs: stop() checks that none is left

    def all_down(self):
        """Every broker stopped (SIGTERM; the last ones cannot hand leadership over)."""
        self.stop_broker(*range(1, self.brokers + 1))

    def all_up(self):
        self.start_broker(*range(1, self.brokers + 1))

    def partitions(self, topic):
        """{partition: (leader, replicas, in-sync replicas)} from the cluster's metadata."""
        t = self.admin().list_topics(topic, timeout=10).topics[topic]
        if t.error is not None:
            raise AssertionError("topic %s: %s" % (topic, t.error))
        return {p.id: (p.leader, sorted(p.replicas), sorted(p.isrs))
                for p in t.partitions.values()}

    def topic_config(self, topic):
        """{name: value} of the topic's configuration as the cluster reports it."""
        from confluent_kafka.admin import ConfigResource
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        a = self.admin()  # kept alive until the answer came
        got = a.describe_configs([res])[res].result(timeout=30)
        return {k: e.value for k, e in got.items()}

    def batch_codecs(self, topic):
        """collections.Counter of the compression codecs of the record batches in topic's log
        segments on every broker's disk (the attributes of each batch header, Kafka's
        message format v2: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd), with the batches' record
        counts and sizes: {codec: [batches, records, bytes]}."""
        out = {}
        for nid in range(1, self.brokers + 1):
            data = os.path.join(self.info["dir"], "node-%d" % nid, "data")
            for part in sorted(os.listdir(data)):
                if not part.startswith(topic + "-"):
                    continue
                for seg in sorted(os.listdir(os.path.join(data, part))):
                    if not seg.endswith(".log"):
                        continue
                    with open(os.path.join(data, part, seg), "rb") as f:
                        buf = f.read()
                    off = 0
                    while off + 61 <= len(buf):
                        (length,) = struct.unpack(">i", buf[off + 8:off + 12])
                        if length <= 0 or off + 12 + length > len(buf) or buf[off + 16] != 2:
                            break
                        (attrs,) = struct.unpack(">h", buf[off + 21:off + 23])
                        (n,) = struct.unpack(">i", buf[off + 57:off + 61])
                        row = out.setdefault(attrs & 7, [0, 0, 0])
                        row[0] += 1
                        row[1] += n
                        row[2] += 12 + length
                        off += 12 + length
        return out

    def wait_in_sync(self, topic, timeout=180):
        """Until every partition of topic has a leader and all its replicas in sync."""
        def ok():
            try:
                parts = self.partitions(topic)
            except Exception:  # noqa: BLE001 - metadata unavailable while brokers start
                return False
            return parts and all(ld >= 0 and rep == isr for ld, rep, isr in parts.values())
        wait_until(ok, timeout, "topic %s: every replica in sync" % topic, step=0.5)

    def log_tail(self, n=40):
        return file_tail(self.log_path, n)

    def stop(self):
        """Stops every broker; kafka-local must exit 0 (no broker died by itself), and no
        broker JVM it ever started may be left running."""
        jvms = set(self.info.get("pids", {}).values()) | set(self.seen_pids)
        if self.proc.poll() is None:
            try:
                jvms |= set(self.pids().values())
            except AssertionError:
                pass
            try:
                self.proc.stdin.close()  # the end of its commands: it stops the cluster
            except OSError:
                pass
        try:
            rc = self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self._abort()
            raise AssertionError("kafka-local did not stop:\n" + self.log_tail())
        if rc != 0:
            raise AssertionError("kafka-local exited with %d:\n%s" % (rc, self.log_tail()))
        left = [pid for pid in jvms if pid > 0 and _running(pid)]
        assert not left, "broker JVMs left running after kafka-local exited: %r" % left

    def _abort(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # its JVMs die with it (PR_SET_PDEATHSIG)
                self.proc.wait()
        try:  # a kafka-local killed before its cleanup leaves its directory
            with open(self.ports_path) as f:
                import shutil
                shutil.rmtree(json.load(f)["dir"], ignore_errors=True)
        except (OSError, ValueError, KeyError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._abort()
        return False


def _running(pid):
    """True when pid is a live process (not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def make_broker(kind, mock_brokers=3, real_brokers=1):
    """The brokers a case runs against: "mock" (mockbroker) or "real" (RealKafka, one JVM
    per broker: a case asks for more only when it needs replication)."""
    if kind == "real":
        return RealKafka(real_brokers)
    return MockBroker(mock_brokers)


class Registry:
    """tests/tools/registry_standin.py."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([PYTHON, os.path.join(SOURCE_DIR, "tests", "tools",
                                                           "registry_standin.py")] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        self.url = self.proc.stdout.readline().decode().strip() if ready else ""
        if not self.url.startswith("http://"):
            self.proc.kill()
            raise AssertionError("registry stand-in did not start")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def requests(self):
        return self.get("/_admin/requests")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# ---- consumers we did not write -----------------------------------------------------------


Record = collections.namedtuple("Record", "topic partition offset key headers value timestamp")
TS_CREATE = 1  # confluent_kafka.TIMESTAMP_CREATE_TIME


def consume_python(bootstrap, topics, timeout=120):
    """Every record of the topics, from the beginning to the high watermarks, read with
    python3-confluent-kafka (librdkafka's consumer, no consumer group)."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kafka-test-%d" % os.getpid(),
                  "enable.auto.commit": False, "enable.partition.eof": False,
                  "log_level": 3})
    try:
        parts = []
        ends = {}
        for t in topics:
            md = c.list_topics(t, timeout=30).topics[t]
            if md.error is not None:
                raise AssertionError("topic %s: %s" % (t, md.error))
            for p in md.partitions:
                lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=30)
                if hi > lo:
                    ends[(t, p)] = hi
                parts.append(TopicPartition(t, p, OFFSET_BEGINNING))
        c.assign(parts)
        out = []
        pos = {}
        deadline = time.monotonic() + timeout
        while any(pos.get(k, -1) + 1 < hi for k, hi in ends.items()):
            if time.monotonic() > deadline:
                raise AssertionError("consumer timed out: %r of %r" % (pos, ends))
            for m in c.consume(num_messages=5000, timeout=1.0):
                if m.error() is not None:
                    raise AssertionError("consumer: %s" % m.error())
                hdrs = [(k, v.decode() if v is not None else None) for k, v in
                        (m.headers() or [])]
                out.append(Record(m.topic(), m.partition(), m.offset(),
                                  m.key().decode() if m.key() is not None else None, hdrs,
                                  m.value(), m.timestamp()))
                pos[(m.topic(), m.partition())] = m.offset()
        out.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return out
    finally:
        c.close()


def watermarks(bootstrap, topic):
    """{partition: high watermark} (the number of records, from offset 0)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kafka-test-wm-%d" % os.getpid(),
                  "enable.auto.commit": False, "log_level": 3})
    try:
        md = c.list_topics(topic, timeout=30).topics[topic]
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in md.partitions}
    finally:
        c.close()


def settled_watermarks(bootstrap, topic, pause=0.3, tries=40):
    """The high watermarks once two reads pause seconds apart agree (what a killed producer
    had sent is appended by then)."""
    prev = None
    for _ in range(tries):
        cur = watermarks(bootstrap, topic)
        if cur == prev:
            return cur
        prev = cur
        time.sleep(pause)
    raise AssertionError("the high watermarks of %s still move: %r" % (topic, prev))


def split_duplicates(rep, ends):
    """Sorts check()'s duplicates by where their two deliveries lie against the partitions'
    ends at a moment (ends: {partition: high watermark}): (across it, both before it, both
    after it), each a list of truth indices."""
    across, before, after = [], [], []
    for i, first, again in rep.dup_at:
        if again[1] < ends.get(again[0], 0):
            before.append(i)
        elif first[1] < ends.get(first[0], 0):
            across.append(i)
        else:
            after.append(i)
    return across, before, after


def consume_kcat(bootstrap, topic):
    """(partition, offset, key, headers, size) of every record, read with kcat."""
    fmt = "%p\\t%o\\t%k\\t%h\\t%S\\n"
    res = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-f", fmt], capture_output=True, timeout=120)
    if res.returncode != 0:
        raise AssertionError("kcat failed: %s" % res.stderr.decode()[-2000:])
    out = []
    for line in res.stdout.decode().splitlines():
        p, o, k, h, s = line.split("\t")
        out.append((int(p), int(o), k, h, int(s)))
    out.sort()
    return out


# ---- decoding --------------------------------------------------------------------------------


class Decoder:
    """Decodes record values: Confluent (schema by id from the registry), Avro single-object
    (fingerprint checked against schemas/trade.avsc) or JSON."""

    def __init__(self, registry_url=None):
        self.registry_url = registry_url
        self.by_id = {}
        with open(SCHEMA_FILE) as f:
            self.local = avro.schema.parse(f.read())
        pcf = json.dumps(apply_primitives_rule(json.loads(self.local.canonical_form)),
                         separators=(",", ":"), ensure_ascii=False).encode()
        self.fingerprint = crc64_avro(pcf)
        self.framings = collections.Counter()

    def schema_for(self, sid):
        if sid not in self.by_id:
            if self.registry_url is None:
                raise AssertionError("Confluent frame with id %d but no registry" % sid)
            with urllib.request.urlopen("%s/schemas/ids/%d" % (self.registry_url, sid),
                                        timeout=10) as r:
                self.by_id[sid] = avro.schema.parse(json.loads(r.read())["schema"])
        return self.by_id[sid]

    def decode(self, value):
        if value[:1] == b"\x00" and len(value) > 5:
            (sid,) = struct.unpack(">I", value[1:5])
            schema, body = self.schema_for(sid), value[5:]
            self.framings["confluent"] += 1
        elif value[:2] == b"\xc3\x01":
            (fp,) = struct.unpack("<Q", value[2:10])
            if fp != self.fingerprint:
                raise AssertionError("single-object fingerprint %016x, schema %016x" %
                                     (fp, self.fingerprint))
            schema, body = self.local, value[10:]
            self.framings["single-object"] += 1
        else:
            self.framings["json"] += 1
            return json.loads(value, parse_float=Decimal)
        bio = io.BytesIO(body)
        datum = avro.io.DatumReader(schema).read(RawTimestampDecoder(bio))
        if bio.tell() != len(body):
            raise AssertionError("decoder consumed %d of %d bytes" % (bio.tell(), len(body)))
        return datum


# ---- the truth and the check -------------------------------------------------------------


def load_jsonl(path):
    out = []
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line, parse_float=Decimal))
    return out


def _exchange(venue):
    return "kraken" if venue.startswith("kraken") else venue


def normalize(d):
    """A trade from the driver's truth (JSON lines), feedsim's truth log, or a decoded record,
    as (identity, comparable values)."""
    if "trade_time_us" in d:  # feedsim's truth log
        ident = (_exchange(d["venue"]), d["native_symbol"], d.get("trade_id"))
        vals = {"price": Decimal(str(d["price"])), "quantity": Decimal(str(d["quantity"])),
                "side": d["side"].upper(), "trade_time": d["trade_time_us"]}
        return ident, vals, None
    vals = {}
    for k in FIELDS:
        v = d.get(k)
        if k in ("price", "quantity"):
            v = Decimal(str(v))
        vals[k] = v
    ident = (d["venue"], d["native_symbol"], d["trade_id"])
    if d["trade_id"] is None:
        ident = (d["venue"], d["native_symbol"], d["trade_time"], str(vals["price"]),
                 str(vals["quantity"]), d["side"])
    return ident, vals, "%s:%s" % (d["venue"], d["symbol"])


class Report:
    def __init__(self):
        self.errors = []
        self.consumed = 0
        self.distinct = 0
        self.duplicates = 0
        self.missing = []
        self.per_key = collections.Counter()
        self.where = {}  # ident -> [(partition, offset, headers)] of the first deliveries
        self.dup_detail = []  # (ident, first delivery, repeated delivery), the first few
        self.dup_at = []  # (truth index, first delivery, repeated delivery) of every duplicate

    def error(self, msg):
        if len(self.errors) < 50:
            self.errors.append(msg)

    def summary(self):
        return ("consumed %d, distinct %d, duplicates %d, missing %d, errors %d%s%s" %
                (self.consumed, self.distinct, self.duplicates, len(self.missing),
                 len(self.errors), (": " + "; ".join(self.errors[:5])) if self.errors else "",
                 ("; duplicated (first, again): " + "; ".join(
                     "%r %r %r" % d for d in self.dup_detail)) if self.dup_detail else ""))


def check(truth, records, decoder, complete=True):
    """Compares what the consumers read (records in partition order) with the truth.

    - every record decodes, its key is venue:symbol and its headers carry its lineage;
    - every record is a truth trade with exactly its values;
    - per key, first deliveries come in truth order (re-deliveries are counted as
      duplicates, not as order errors: at-least-once);
    - complete=True: every truth trade was delivered; complete="window": every truth trade of
      a delivered key between its first and last delivered trade (the daemon subscribes late
      and stops early; feedsim's truth holds more); the missing ones are listed.
    rep.expected is the number of distinct trades the consumers should have read.
    """
    rep = Report()
    tindex = {}
    for i, t in enumerate(truth):
        ident, vals, _ = normalize(t)
        tindex[ident] = (i, vals)
    seen = collections.Counter()
    last = {}
    span = {}  # key -> [first truth index, last truth index] delivered
    for r in records:
        rep.consumed += 1
        try:
            d = decoder.decode(r.value)
        except Exception as e:  # noqa: BLE001 - any decode failure is a test failure
            rep.error("p%d@%d: cannot decode: %s" % (r.partition, r.offset, e))
            continue
        ident, vals, key = normalize(d)
        if key is not None and r.key != key:
            rep.error("p%d@%d: key %r, expected %r" % (r.partition, r.offset, r.key, key))
        hdrs = dict(r.headers)
        want_h = {"connection_id": str(d["connection_id"]), "sequence": str(d["sequence"]),
                  "source": d["source"]}
        if hdrs != want_h:
            rep.error("p%d@%d: headers %r, expected %r" % (r.partition, r.offset, hdrs, want_h))
        if ident not in tindex:
            rep.error("p%d@%d: not in the truth: %r" % (r.partition, r.offset, ident))
            continue
        i, tvals = tindex[ident]
        for k, v in tvals.items():
            if vals.get(k) != v:
                rep.error("%r: %s is %r, truth %r" % (ident, k, vals.get(k), v))
        seen[ident] += 1
        at = (r.partition, r.offset, hdrs.get("source"), hdrs.get("connection_id"),
              hdrs.get("sequence"))
        if seen[ident] > 1:
            rep.duplicates += 1
            rep.dup_at.append((i, rep.where.get(ident), at))
            if len(rep.dup_detail) < 8:
                rep.dup_detail.append((ident, rep.where.get(ident), at))
            continue
        rep.where[ident] = at
        kk = (ident[0], ident[1])
        rep.per_key[kk] += 1
        if kk in last and i < last[kk]:
            rep.error("%s: order: truth #%d after truth #%d" % (kk, i, last[kk]))
        last[kk] = max(i, last.get(kk, -1))
        sp = span.setdefault(kk, [i, i])
        sp[0], sp[1] = min(sp[0], i), max(sp[1], i)
    rep.distinct = len(seen)
    expected = []
    for i, t in enumerate(truth):
        ident = normalize(t)[0]
        sp = span.get((ident[0], ident[1]))
        if complete is True or (sp is not None and sp[0] <= i <= sp[1]):
            expected.append(ident)
    rep.expected = len(expected)
    if complete:
        rep.missing = [x for x in expected if x not in seen]
    return rep


def kcat_matches(kcat_rows, records):
    """kcat and the Python consumer read the same records (partition, offset, key, headers,
    size)."""
    mine = sorted((r.partition, r.offset, r.key,
                   ",".join("%s=%s" % (k, v) for k, v in r.headers), len(r.value))
                  for r in records)
    if mine != kcat_rows:
        for a, b in zip(mine, kcat_rows):
            if a != b:
                raise AssertionError("kcat and the Python consumer differ: %r vs %r" % (b, a))
        raise AssertionError("kcat read %d records, the Python consumer %d" %
                             (len(kcat_rows), len(mine)))


# ---- producers -----------------------------------------------------------------------------


def kafka_sections(broker, topic, registry=None, spool_dir=None, spool=None, kafka=None,
                   sink=None, fmt="avro"):
    """The [sink], [kafka], [schema_registry] and [spool] sections of a test configuration."""
    sec = {
        "sink": dict({"type": "kafka", "format": fmt, "topic": topic,
                      "flush_timeout_ms": 10000}, **(sink or {})),
        "kafka": dict({"bootstrap.servers": broker.bootstrap}, **(kafka or {})),
    }
    if registry is not None:
        sec["schema_registry"] = {"url": registry if isinstance(registry, str)
                                  else registry.url, "timeout_ms": 3000}
    if spool_dir is not None:
        sec["spool"] = dict({"dir": spool_dir, "fsync": "batch", "spill_after_ms": 1000},
                            **(spool or {}))
    return sec


class DriverProducer:
    """tests/tools/sinkdrive (or PRODUCER_CMD with the same options)."""

    supports_pause = True
    windowed = False

    def __init__(self, tmp, sections, name="producer"):
        self.tmp = tmp
        self.name = name
        self.ini = os.path.join(tmp, name + ".ini")
        self.truth_path = os.path.join(tmp, name + ".truth.jsonl")
        self.stats_path = os.path.join(tmp, name + ".stats.json")
        self.log_path = os.path.join(tmp, name + ".log")
        cfg = {"log": {"level": "info"},
               "binance": {"enabled": True, "symbols": "BTCUSDT,ETHUSDT,SOLUSDT"},
               "kraken": {"enabled": True, "symbols": "BTC/USD,ETH/USD,XDG/USD"}}
        cfg.update(sections)
        with open(self.ini, "w") as f:
            f.write(ini_text(cfg))
        self.proc = None
        self.rc = None
        self.runs = 0

    def start(self, rate=1000, count=None, start=0, drain_only=False, wait_drained=None,
              extra=()):
        template = os.environ.get("PRODUCER_CMD") or tool("sinkdrive") + " -c {config}"
        cmd = shlex.split(template.format(config=self.ini))
        cmd += ["--truth", self.truth_path, "--stats", self.stats_path, "--stats-ms", "100",
                "--rate", str(rate), "--start", str(start)]
        if count is not None:
            cmd += ["--count", str(count)]
        if drain_only:
            cmd += ["--drain-only"]
        if wait_drained is not None:
            cmd += ["--wait-drained", str(wait_drained)]
        cmd += list(extra)
        if os.path.exists(self.stats_path):
            os.unlink(self.stats_path)
        log = open(self.log_path, "ab")
        log.write(("---- run %d: %s\n" % (self.runs, " ".join(cmd))).encode())
        log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.runs += 1
        self.rc = None
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stats(self):
        try:
            with open(self.stats_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def wait_stats(self, pred, timeout, what):
        def ok():
            s = self.stats()
            if not self.alive() and not pred(s):
                raise AssertionError("producer exited (%s) while waiting for %s:\n%s" %
                                     (self.proc.poll(), what, self.log_tail()))
            return s if s and pred(s) else None
        return wait_until(ok, timeout, what)

    def pause(self):
        self.proc.send_signal(signal.SIGUSR1)

    def resume(self):
        self.proc.send_signal(signal.SIGUSR2)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.rc = self.proc.wait(timeout=30)

    def wait(self, timeout):
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("producer did not exit:\n" + self.log_tail())
        return self.rc

    def truth(self):
        return load_jsonl(self.truth_path)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        return False


class DaemonProducer(DriverProducer):
    """feedsim -> feedhandler (the engine) -> mockbroker, for when the daemon produces to
    Kafka ([sink] type = kafka through app/sink_factory.h). Not runnable before that.

    feedsim runs over TLS with a throwaway CA (feedsim_lib, engine_lib.make_certs) and writes
    its truth log; feedhandler gets engine_lib.handler_config() plus the test's [sink],
    [kafka], [schema_registry] and [spool] sections. Overrides: FEEDSIM (path of feedsim),
    PRODUCER_CMD (feedhandler's command line, {config} filled in). Counters come from the
    handler's /metrics (feedhandler_sink_*, feedhandler_kafka_*, feedhandler_spool_*).

    Differences from the driver, handled by the cases: the trades come from feedsim (rate is
    per symbol), `count` means "until that many are delivered, then SIGTERM", the truth is
    feedsim's (more trades than the handler read: completeness is checked per key between
    the first and last delivered trade), and pause/drain_only are not available
    (supports_pause False: kill9 then accepts losses bounded by the producer's memory).
    """

    supports_pause = False
    windowed = True

    @property
    def proc(self):
        """The running handler's process (wait_stats reports its exit)."""
        return self.handler.proc if self.handler is not None else None
    RATE_PER_SYMBOL = 200  # feedsim's 6 books (3 symbols x 2 venues): about 1200 trades/s
    MAX_COUNT = 5000       # "count" trades delivered is capped: the feed's pace is fixed

    def __init__(self, tmp, sections, name="daemon", rate_per_symbol=None):
        if rate_per_symbol is not None:
            self.RATE_PER_SYMBOL = rate_per_symbol
        import engine_lib
        import feedsim_lib
        self.engine_lib = engine_lib
        self.tmp = tmp
        self.name = name
        self.sections = sections
        feedsim_lib.FEEDSIM = os.environ.get("FEEDSIM") or os.path.join(BUILD_DIR, "tools",
                                                                         "feedsim")
        engine_lib.FEEDHANDLER = os.path.join(BUILD_DIR, "feedhandler")
        self.ca, cert, key = engine_lib.make_certs(os.path.join(tmp, "certs"))
        self.fs = feedsim_lib.Feedsim("--binance", 0, "--kraken-v2", 0, "--control", 0,
                                      "--tls", "%s,%s" % (cert, key), "--truth",
                                      os.path.join(tmp, "truth.ndjson"), "--rate",
                                      self.RATE_PER_SYMBOL)
        self.fs.__enter__()
        self.handler = None
        self.count = None
        self.last_stats = {}
        self.max_rss_kb = 0
        self.runs = 0
        self.rc = None

    def start(self, rate=1000, count=None, start=0, drain_only=False, wait_drained=None,
              extra=()):
        if drain_only:
            # A restart: the handler drains its spool first; the feed goes on meanwhile.
            pass
        cfg = self.engine_lib.handler_config(self.fs, self.tmp, self.ca, extra=self.sections)
        self.handler = self.engine_lib.Handler(cfg, self.tmp, name="%s%d" % (self.name,
                                                                             self.runs))
        template = os.environ.get("PRODUCER_CMD")
        if template:
            self.engine_lib.FEEDHANDLER = shlex.split(template.format(config=self.handler.ini))[0]
        self.handler.__enter__()
        self.count = None if count is None else min(count, self.MAX_COUNT)
        self.wait_drained = wait_drained
        self.drain_only = drain_only
        self.runs += 1
        return self

    def alive(self):
        return self.handler is not None and self.handler.alive()

    def stats(self):
        """The handler's counters from /metrics; after it exited, the last ones seen (the
        final flush is then only in its log)."""
        if not self.alive():
            return dict(self.last_stats, done=True) if self.last_stats else {}
        try:
            m = self.handler.metrics()
        except AssertionError:
            return dict(self.last_stats, done=True) if self.last_stats else {}
        if not m:
            return self.last_stats

        def g(name):
            return int(sum(v for (n, _), v in m.items() if n == name))

        lost = {}
        for (n, lab), v in m.items():
            if n == "feedhandler_trades_lost_total":
                lost[dict(lab).get("reason")] = int(v)
        try:
            self.max_rss_kb = max(self.max_rss_kb, self.handler.rss_kb())
        except OSError:
            pass
        self.last_stats = {
            "accepted": g("feedhandler_sink_accepted_total"),
            "refused": g("feedhandler_sink_refused_total"),
            "delivered": g("feedhandler_sink_delivered_total"),
            "failed": g("feedhandler_sink_failed_total"),
            "paused": False, "done": False, "max_rss_kb": self.max_rss_kb,
            "lost": lost,
            "backpressure_paused": g("feedhandler_backpressure_paused"),
            "kafka": {k: g("feedhandler_kafka_%s" % n) for k, n in [
                ("produced", "produced_total"), ("spooled", "spooled_total"),
                ("spooled_failed", "spooled_failed_total"), ("drained", "drained_total"),
                ("queue_full", "queue_full_total"), ("spool_full", "spool_full_total"),
                ("purges", "purges_total"), ("dup_suspected", "duplicates_suspected_total"),
                ("passes", "drain_passes_total"), ("in_flight", "in_flight"),
                ("mode", "mode"), ("recreated", "producer_recreated_total")]},
            "spool": {"pending": g("feedhandler_spool_records"),
                      "disk_bytes": g("feedhandler_spool_bytes"),
                      "queued_bytes": g("feedhandler_spool_queued_bytes"),
                      "recovered": g("feedhandler_spool_recovered_total"),
                      "recovered_suspect": g("feedhandler_kafka_duplicates_suspected_total"),
                      "truncated_segments": g("feedhandler_spool_truncated_segments_total"),
                      "truncated_bytes": g("feedhandler_spool_truncated_bytes_total"),
                      "bound_bytes": g("feedhandler_spool_bound_bytes"),
                      "blocked": g("feedhandler_spool_blocked"),
                      "write_errors": g("feedhandler_spool_write_errors_total"),
                      "lost": g("feedhandler_spool_lost_total")},
        }
        return self.last_stats

    def wait(self, timeout):
        """With a count: until that many trades are delivered (with wait_drained) or taken by
        the sink (without), then SIGTERM; otherwise until the handler exits by itself. A live
        feed never stops: what SIGTERM's flush cannot deliver is spooled, and per-key order
        puts it after the last delivered trade of its key, outside the checked window."""
        if self.count is not None and self.alive():
            what = "delivered" if self.wait_drained is not None else "accepted"

            def delivered():
                if not self.alive():
                    return True  # exited by itself (a refused start): nothing to wait for
                st = self.stats()
                if self.drain_only:  # a restart: until the spool it found is drained
                    return st and st["spool"]["recovered"] > 0 and st["spool"]["pending"] == 0
                if self.wait_drained is not None:  # and nothing left in the spool
                    return st and st[what] >= self.count and st["spool"]["pending"] == 0 \
                        and st["kafka"]["mode"] == 0
                return st and st[what] >= self.count
            wait_until(delivered, timeout, "the daemon: %d trades %s" % (self.count, what))
            if self.alive():
                self.handler.proc.send_signal(signal.SIGTERM)
        self.rc = self.handler.wait_exit(timeout)
        return self.rc

    def signal(self, sig):
        self.handler.proc.send_signal(sig)

    def kill9(self):
        self.handler.proc.kill()
        self.rc = self.handler.proc.wait(timeout=30)

    def pause(self):
        raise NotImplementedError("the daemon cannot pause its feeds from a test")

    resume = pause

    def truth(self):
        return self.fs.truth()

    def log_text(self):
        return self.handler.log_text()

    def __exit__(self, *exc):
        if self.alive():
            self.handler.proc.kill()
            self.handler.proc.wait()
        self.fs.stop(check=False)
        return False


def make_producer(kind, tmp, sections, name="producer", **kw):
    if kind == "driver":
        return DriverProducer(tmp, sections, name)
    return DaemonProducer(tmp, sections, name, **kw)


def spool_segments(spool_dir):
    return sorted(f for f in os.listdir(spool_dir) if re.fullmatch(r"[mf]-[0-9a-f]{16}\.seg", f))


TMPDIRS = []


def run_cases(names, scope):
    """Runs test_NAME from scope for each name: PASS/FAIL lines, a failed case's files kept
    (and named), the others removed. Returns the exit status: 0, 1 (a case failed) or 2 (no
    such case)."""
    import traceback
    failed = []
    for name in names:
        fn = scope.get("test_" + name)
        if fn is None:
            print("no such case: %s" % name)
            return 2
        t0 = time.monotonic()
        try:
            fn()
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
            cleanup_tmpdirs()  # kept after a failure, for its logs
        except Exception:  # noqa: BLE001 - any failure of a case is reported, the next runs
            failed.append(name)
            print("FAIL %s (files kept: %s)" % (name, " ".join(TMPDIRS)), flush=True)
            traceback.print_exc()
            TMPDIRS.clear()
    return 1 if failed else 0


def tmpdir(prefix):
    """A fresh directory; cleanup_tmpdirs() removes them (the runner does, after a pass)."""
    d = tempfile.mkdtemp(prefix=prefix)
    TMPDIRS.append(d)
    return d


def cleanup_tmpdirs():
    import shutil
    while TMPDIRS:
        shutil.rmtree(TMPDIRS.pop(), ignore_errors=True)
