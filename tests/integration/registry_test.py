#!/usr/bin/python3
"""registry_test.py - feedhandler and a Schema Registry end to end, against the stand-in or a real
registry: feedsim -> feedhandler (the daemon) -> mockbroker, the registry of --registry.

Usage: registry_test.py [--registry standin|apicurio] CASE...

  incompatible  the subject holds another producer's schema and the registry refuses ours:
                exit status 3, one clear line, nothing registered
  unreachable   the registry is gone: exit status 3, "unreachable"
  existing      our schema is already a version of the subject: found, not registered again;
                every record is framed with that version's id and decodes with the schema the
                registry serves for it
  readback      a fresh registry: registered once; the topic read back (python3-confluent-kafka,
                schemas fetched from the registry by id) is exactly feedsim's truth

The same cases run against the stand-in in kafka_test.py (registry_incompatible,
registry_unreachable, registry_existing, readback), where the stand-in's request log shows
which calls were made; here they are checked by their outcome, which any registry shows.
registry_lib.py says how each registry is started and told to refuse a schema.
"""

import argparse
import json
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kafka_lib as K  # noqa: E402
import registry_lib as R  # noqa: E402
from registry_conformance import OTHER, TRADE  # noqa: E402

REGISTRY = "standin"
TOPIC = "trades"
SUBJECT = TOPIC + "-value"

# How feedhandler learns that the registry refuses its schema (src/sink/registry.c). The
# stand-in answers a lookup of a schema the subject lacks with 40403, as Confluent documents:
# feedhandler asks POST /compatibility/... and refuses on is_compatible false. Apicurio answers
# 40401 there (registry_conformance.py, KNOWN_DIFFERENCES): feedhandler registers, and refuses
# on the 409.
REFUSAL = {
    "standin": "is incompatible with the latest version of subject " + SUBJECT,
    "apicurio": "is incompatible with subject " + SUBJECT,
}


def start():
    return R.start(REGISTRY)


def refused(tmp, sec, what):
    with K.make_producer("daemon", tmp, sec, name="refused") as p:
        p.start(rate=0, count=10)
        rc = p.wait(60)
        log = p.log_text()
    assert rc == 3, "exit status %s, expected 3:\n%s" % (rc, log[-2000:])
    assert what in log, "%r not in the log:\n%s" % (what, log[-2000:])
    return [line for line in log.splitlines() if what in line][0]


def produce_and_read(tmp, b, reg, count):
    with K.make_producer("daemon", tmp, K.kafka_sections(b, TOPIC, registry=reg)) as p:
        p.start(rate=0, count=count, wait_drained=60)
        rc = p.wait(120)
        assert rc == 0, "producer exited %s:\n%s" % (rc, p.log_tail())
        truth = p.truth()
        log = p.log_text()
    records = K.consume_python(b.bootstrap, [TOPIC])
    dec = K.Decoder(reg.url)
    rep = K.check(truth, records, dec, complete="window")
    assert not rep.errors, rep.summary()
    assert rep.duplicates == 0, rep.summary()
    assert not rep.missing, "%s; first missing %r" % (rep.summary(), rep.missing[:5])
    assert rep.distinct == rep.expected > 0, rep.summary()
    assert dec.framings["confluent"] == len(records), dec.framings
    return log, rep, dec


# ---- cases -----------------------------------------------------------------------------------


def test_incompatible():
    tmp = K.tmpdir("registry-incompatible-")
    with K.MockBroker(1) as b, start() as reg:
        reg.preload(SUBJECT, OTHER)
        reg.make_incompatible(SUBJECT)
        line = refused(tmp, K.kafka_sections(b, TOPIC, registry=reg), REFUSAL[REGISTRY])
        assert "refusing to start" in line, line
        assert reg.get("/subjects/%s/versions" % SUBJECT) == [1]
        b.stop()
    print("incompatible (%s):" % REGISTRY, line)


def test_unreachable():
    tmp = K.tmpdir("registry-unreachable-")
    with K.MockBroker(1) as b:
        with start() as reg:
            url = reg.url
        port = int(url.split(":")[2].split("/")[0])
        s = socket.socket()
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the registry at %s still answers" % url
        s.close()
        line = refused(tmp, K.kafka_sections(b, TOPIC, registry=url), " unreachable: ")
        b.stop()
    print("unreachable (%s):" % REGISTRY, line)


def test_existing():
    tmp = K.tmpdir("registry-existing-")
    with K.MockBroker(1) as b, start() as reg:
        b.create(TOPIC, 2)
        reg.preload(SUBJECT, OTHER)
        ours = reg.preload(SUBJECT, TRADE)
        log, rep, dec = produce_and_read(tmp, b, reg, 500)
        assert "schema found in the registry" in log, log[-2000:]
        assert 'msg="schema registered" subject=%s ' % SUBJECT not in log, log[-2000:]
        assert reg.get("/subjects/%s/versions" % SUBJECT) == [1, 2]
        # The gap records' schema under its own subject, beside the trades'.
        assert reg.get("/subjects/%s.gaps-value/versions" % TOPIC) == [1]
        assert reg.get("/subjects/%s/versions/2" % SUBJECT)["id"] == ours
        assert set(dec.by_id) == {ours}, dec.by_id.keys()
        b.stop()
    print("existing (%s): id %d;" % (REGISTRY, ours), rep.summary())


def test_readback():
    tmp = K.tmpdir("registry-readback-")
    with K.MockBroker(3) as b, start() as reg:
        b.create(TOPIC, 4)
        log, rep, dec = produce_and_read(tmp, b, reg, 3000)
        assert 'msg="schema registered" subject=%s ' % SUBJECT in log, log[-2000:]
        assert reg.get("/subjects/%s/versions" % SUBJECT) == [1]
        gap = reg.get("/subjects/%s.gaps-value/versions/1" % TOPIC)
        assert json.loads(gap["schema"])["name"] == "Gap", gap
        sid = reg.get("/subjects/%s/versions/1" % SUBJECT)["id"]
        assert set(dec.by_id) == {sid}, dec.by_id.keys()
        b.stop()
    print("readback (%s): id %d;" % (REGISTRY, sid), rep.summary(), dict(dec.framings))


def main():
    global REGISTRY
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", choices=R.KINDS, default="standin")
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    REGISTRY = args.registry
    return K.run_cases(args.cases, globals())


if __name__ == "__main__":
    sys.exit(main())
