#!/usr/bin/python3
"""registry_conformance.py - does a Schema Registry answer as Confluent's REST API documents, for
every call feedhandler makes and every call our test consumers make?

Usage: registry_conformance.py [--registry standin|apicurio] [--url URL]

  --registry standin   tests/tools/registry_standin.py (default): must conform in every check
  --registry apicurio  Apicurio Registry's Confluent-compatible API (scripts/registry-local):
                       must conform except for the differences listed in KNOWN_DIFFERENCES
                       below, each with what it means for feedhandler; a listed difference
                       that no longer shows fails too, so the list stays true
  --url URL            a registry already running at URL (for example a real Confluent Schema
                       Registry): must conform in every check; it must be empty of our
                       subjects (conf-*) and have compatibility checks enabled

The calls (src/sink/registry.c, tests/integration/kafka_lib.py Decoder, kafka_test.py):
  POST /subjects/{subject}                               is the schema there? (feedhandler)
  POST /compatibility/subjects/{subject}/versions/latest may we add it? (feedhandler)
  POST /subjects/{subject}/versions                      register (feedhandler)
  GET  /schemas/ids/{id}                                 a record's schema (consumers)
  GET  /subjects, /subjects/{subject}/versions[/{version}] (tests)
and what feedhandler reads from the answers: the status; "id"; "error_code" (40403 on a lookup
means "the subject exists without this schema": then feedhandler asks about compatibility;
anything else on a 404 means "no such subject"); "is_compatible"; "message", or "messages"[0].
Every request carries feedhandler's headers (Content-Type application/vnd.schemaregistry.v1+json,
Accept application/vnd.schemaregistry.v1+json, application/json) and a body with "schema" and no
"schemaType" (absent means AVRO).

The expected answers come from Confluent's documentation (each check cites its page):
  [API]      https://docs.confluent.io/platform/current/schema-registry/develop/api.html
             (content types: responses are application/vnd.schemaregistry.v1+json; errors are
             {"error_code": int, "message": string}; schemaType: absent means AVRO; the
             compatibility types, BACKWARD the default)
  [LOOKUP]   https://docs.confluent.io/cloud/current/ccloud/look-up-schema-under-subject/
             (200: subject, id, version, schema; 404: 40401 subject not found, 40403 schema not
             found)
  [REGISTER] https://docs.confluent.io/cloud/current/ccloud/register/
             (200: {"id"}; the same schema under another subject gets the same id;
             409: incompatible; 422: 42201 invalid schema or schema type)
  [COMPAT]   https://docs.confluent.io/cloud/current/ccloud/test-compatibility-by-subject-name/
             (200: {"is_compatible": bool, "messages": [...] optional}; 404: 40401 subject not
             found, 40402 version not found; 422: 42201 invalid schema, 42202 invalid version)
  [BYID]     https://docs.confluent.io/cloud/current/ccloud/get-schema/
             (200: {"schema", "schemaType" optional, "references" optional}; 404: 40403)
  [VERSIONS] https://docs.confluent.io/cloud/current/ccloud/subjects-v-1/ (list versions; get a
             version: subject, id, version, schema; 404: 40401, 40402; 422: 42202)
"""

import argparse
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import registry_lib as R  # noqa: E402

with open(os.path.join(R.SOURCE_DIR, "schemas", "trade.avsc")) as _f:
    TRADE = _f.read()  # byte for byte what feedhandler sends
# Another producer's schema for the same subject: the trade's required fields are missing, so
# under BACKWARD (the trade reading this one's data) the trade is incompatible with it.
OTHER = ('{"type":"record","name":"Trade","namespace":"feedhandler","fields":'
         '[{"name":"venue","type":"string"},{"name":"px","type":"double"}]}')
# The trade plus an optional field: BACKWARD compatible with the trade.
_t = json.loads(TRADE)
_t["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
TRADE2 = json.dumps(_t)

# Differences of Apicurio Registry 2.4.2.Final's /apis/ccompat/v7 from the documented API, found
# by this test, and what each means for us. The keys are check names (see Checks.expect).
KNOWN_DIFFERENCES = {
    "apicurio": {
        "content_type":
            "answers are application/json, not application/vnd.schemaregistry.v1+json: harmless, "
            "feedhandler accepts both (its Accept header) and reads the body only",
        "lookup.schema_not_found.error_code":
            "a lookup of a schema the subject lacks answers 40401 (subject not found) where "
            "[LOOKUP] says 40403: feedhandler then skips the compatibility question and "
            "registers straight away; an incompatible schema is still refused, by the 409 of "
            "the registration (exit status 3, message 'is incompatible with subject ...')",
        "register.incompatible.error_code":
            "the 409 of an incompatible registration has error_code 0, not 409: harmless, "
            "feedhandler looks at the HTTP status",
        "compat.no_subject.error_code":
            "a compatibility check against a subject that does not exist answers 40402 "
            "(version not found), not 40401: harmless, feedhandler asks only about a subject "
            "that a lookup found",
        "version.no_subject.error_code":
            "GET /subjects/{subject}/versions/{version} of a subject that does not exist "
            "answers 40402, not 40401: not a call feedhandler makes",
        "version.invalid.status":
            "an invalid version ('first') answers 404 40401, not 422 42202: not a call "
            "feedhandler makes",
        "version.invalid.error_code": "(as version.invalid.status)",
    },
}


class Checks:
    def __init__(self, reg):
        self.reg = reg
        self.failed = {}  # check name -> first detail
        self.passed = set()
        self.ct_seen = {}

    def expect(self, name, cond, detail):
        if cond:
            self.passed.add(name)
        else:
            self.failed.setdefault(name, detail)
        return cond

    def call(self, method, path, body=None):
        a = self.reg.call(method, path, body)
        # [API] "Content Types": the registry answers in its own content type.
        ok = a.content_type == R.CT
        self.expect("content_type", ok, "%s %s: Content-Type %r" % (method, path, a.content_type))
        self.ct_seen[a.content_type] = self.ct_seen.get(a.content_type, 0) + 1
        return a

    def error(self, name, a, status, code):
        """An error answer: [API] "Errors": {"error_code": int, "message": string}."""
        self.expect(name + ".status", a.status == status, "expected HTTP %d: %r" % (status, a))
        body = a.body if isinstance(a.body, dict) else {}
        self.expect(name + ".body", isinstance(body.get("error_code"), int) and
                    isinstance(body.get("message"), str), "error body: %r" % a)
        self.expect(name + ".error_code", body.get("error_code") == code,
                    "expected error_code %d: %r" % (code, a))

    def avro_type(self, name, body):
        """[API]: schemaType absent means AVRO."""
        st = body.get("schemaType", "AVRO") if isinstance(body, dict) else None
        self.expect(name + ".schemaType", st == "AVRO", "schemaType %r in %r" % (st, body))

    def same_schema(self, name, text, expected):
        try:
            ok = json.loads(text) == json.loads(expected)
        except (TypeError, ValueError):
            ok = False
        self.expect(name + ".schema", ok, "schema %r is not the one registered" % (text,))


def run(c):
    """The checks, in the order feedhandler meets them. Subjects are conf-*-value."""
    s = "conf-a-value"
    # ---- feedhandler's first start: the subject does not exist --------------------------------
    # [LOOKUP] 404, error_code 40401.
    a = c.call("POST", "/subjects/" + s, {"schema": TRADE})
    c.error("lookup.no_subject", a, 404, 40401)
    # [REGISTER] 200 {"id": N}.
    a = c.call("POST", "/subjects/%s/versions" % s, {"schema": TRADE})
    c.expect("register.new.status", a.status == 200, repr(a))
    tid = (a.body or {}).get("id") if isinstance(a.body, dict) else None
    c.expect("register.new.id", isinstance(tid, int) and not isinstance(tid, bool) and
             0 < tid < 2 ** 31, "id: %r" % a)
    # Registering it again is idempotent: same id, no new version ([REGISTER]: "If the same
    # schema is registered ... the same identifier will be returned").
    a = c.call("POST", "/subjects/%s/versions" % s, {"schema": TRADE})
    c.expect("register.again.id", a.status == 200 and (a.body or {}).get("id") == tid, repr(a))
    # schemaType "AVRO" said explicitly is the same as absent ([API]).
    a = c.call("POST", "/subjects/%s/versions" % s, {"schema": TRADE, "schemaType": "AVRO"})
    c.expect("register.explicit_avro.id", a.status == 200 and (a.body or {}).get("id") == tid,
             repr(a))
    a = c.call("GET", "/subjects/%s/versions" % s)
    c.expect("versions.after_reregister", a.status == 200 and a.body == [1], repr(a))

    # ---- the next start: the schema is there ----------------------------------------------------
    # [LOOKUP] 200 {"subject", "id", "version", "schema"}.
    a = c.call("POST", "/subjects/" + s, {"schema": TRADE})
    b = a.body if isinstance(a.body, dict) else {}
    c.expect("lookup.found.status", a.status == 200, repr(a))
    c.expect("lookup.found.fields", b.get("subject") == s and b.get("id") == tid and
             b.get("version") == 1 and isinstance(b.get("schema"), str), repr(a))
    c.avro_type("lookup.found", b)
    c.same_schema("lookup.found", b.get("schema"), TRADE)

    # ---- consumers: the schema of a record's id --------------------------------------------------
    # [BYID] 200 {"schema": ...}; 404 40403.
    a = c.call("GET", "/schemas/ids/%s" % tid)
    b = a.body if isinstance(a.body, dict) else {}
    c.expect("by_id.status", a.status == 200, repr(a))
    c.avro_type("by_id", b)
    c.same_schema("by_id", b.get("schema"), TRADE)
    c.error("by_id.missing", c.call("GET", "/schemas/ids/%d" % 999999), 404, 40403)

    # The same schema under another subject: the same id ([REGISTER]).
    a = c.call("POST", "/subjects/conf-b-value/versions", {"schema": TRADE})
    c.expect("register.other_subject.id", a.status == 200 and (a.body or {}).get("id") == tid,
             repr(a))

    # ---- a subject another producer registered first, compatibility enforced ------------------
    s = "conf-c-value"
    c.reg.preload(s, OTHER)
    c.reg.make_incompatible(s)
    # [LOOKUP] the subject exists without our schema: 404, error_code 40403.
    c.error("lookup.schema_not_found", c.call("POST", "/subjects/" + s, {"schema": TRADE}),
            404, 40403)
    # [COMPAT] 200 {"is_compatible": false} (and optional "messages": strings).
    a = c.call("POST", "/compatibility/subjects/%s/versions/latest" % s, {"schema": TRADE})
    b = a.body if isinstance(a.body, dict) else {}
    c.expect("compat.incompatible.status", a.status == 200, repr(a))
    c.expect("compat.incompatible.is_compatible", b.get("is_compatible") is False, repr(a))
    msgs = b.get("messages", [])
    c.expect("compat.incompatible.messages", isinstance(msgs, list) and
             all(isinstance(m, str) for m in msgs), repr(a))
    # [REGISTER] 409 ([API] "Errors": error_code 409 for an incompatible schema).
    c.error("register.incompatible", c.call("POST", "/subjects/%s/versions" % s,
                                            {"schema": TRADE}), 409, 409)
    a = c.call("GET", "/subjects/%s/versions" % s)
    c.expect("versions.after_refusal", a.status == 200 and a.body == [1], repr(a))

    # ---- a compatible change -------------------------------------------------------------------
    s = "conf-d-value"
    c.reg.preload(s, TRADE)
    c.reg.enforce_compatibility(s)  # BACKWARD: an added optional field is compatible
    a = c.call("POST", "/compatibility/subjects/%s/versions/latest" % s, {"schema": TRADE2})
    c.expect("compat.compatible", a.status == 200 and isinstance(a.body, dict) and
             a.body.get("is_compatible") is True, repr(a))
    a = c.call("POST", "/subjects/%s/versions" % s, {"schema": TRADE2})
    id2 = (a.body or {}).get("id") if isinstance(a.body, dict) else None
    c.expect("register.second_version", a.status == 200 and isinstance(id2, int) and
             id2 != tid, repr(a))
    # [COMPAT] against a given version; 40402 for a version that does not exist, 40401 for a
    # subject that does not exist.
    a = c.call("POST", "/compatibility/subjects/%s/versions/1" % s, {"schema": TRADE2})
    c.expect("compat.version_1", a.status == 200 and isinstance(a.body, dict) and
             a.body.get("is_compatible") is True, repr(a))
    c.error("compat.no_version", c.call("POST", "/compatibility/subjects/%s/versions/99" % s,
                                        {"schema": TRADE2}), 404, 40402)
    c.error("compat.no_subject", c.call(
        "POST", "/compatibility/subjects/conf-none-value/versions/latest", {"schema": TRADE}),
        404, 40401)

    # ---- what the tests read back ([VERSIONS]) ---------------------------------------------------
    a = c.call("GET", "/subjects/%s/versions" % s)
    c.expect("versions.list", a.status == 200 and a.body == [1, 2], repr(a))
    for v, want_id, want_schema in (("latest", id2, TRADE2), ("2", id2, TRADE2), ("1", tid, TRADE)):
        a = c.call("GET", "/subjects/%s/versions/%s" % (s, v))
        b = a.body if isinstance(a.body, dict) else {}
        c.expect("version.get.fields", a.status == 200 and b.get("subject") == s and
                 b.get("version") == (1 if v == "1" else 2) and b.get("id") == want_id, repr(a))
        c.avro_type("version.get", b)
        c.same_schema("version.get", b.get("schema"), want_schema)
    c.error("version.missing", c.call("GET", "/subjects/%s/versions/99" % s), 404, 40402)
    c.error("version.invalid", c.call("GET", "/subjects/%s/versions/first" % s), 422, 42202)
    c.error("version.no_subject", c.call("GET", "/subjects/conf-none-value/versions/1"),
            404, 40401)
    c.error("versions.no_subject", c.call("GET", "/subjects/conf-none-value/versions"),
            404, 40401)
    a = c.call("GET", "/subjects")
    c.expect("subjects.list", a.status == 200 and isinstance(a.body, list) and
             {"conf-a-value", "conf-b-value", "conf-c-value", "conf-d-value"} <= set(a.body),
             repr(a))

    # ---- invalid schemas: 422, error_code 42201 ([REGISTER]) ---------------------------------
    s = "conf-e-value"
    c.error("invalid.not_json", c.call("POST", "/subjects/%s/versions" % s,
                                       {"schema": "{\"type\": \"record\", "}), 422, 42201)
    c.error("invalid.not_avro", c.call("POST", "/subjects/%s/versions" % s,
                                       {"schema": "{\"type\": \"no-such-type\"}"}), 422, 42201)
    c.error("invalid.wrong_type", c.call("POST", "/subjects/%s/versions" % s,
                                         {"schema": TRADE, "schemaType": "PROTOBUF"}), 422, 42201)
    a = c.call("GET", "/subjects")
    c.expect("invalid.not_registered", a.status == 200 and isinstance(a.body, list) and
             s not in a.body, repr(a))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--registry", choices=R.KINDS, default="standin")
    ap.add_argument("--url", help="a registry already running here (no differences allowed)")
    args = ap.parse_args()
    t0 = time.monotonic()
    if args.url:
        reg = R.Registry(None, args.url.rstrip("/"))
        known = {}
        name = args.url
    else:
        reg = R.start(args.registry)
        known = KNOWN_DIFFERENCES.get(args.registry, {})
        name = args.registry
    c = Checks(reg)
    try:
        run(c)
    except Exception:  # noqa: BLE001 - a registry that breaks the run fails it
        traceback.print_exc()
        c.failed.setdefault("run", "the checks stopped early (above)")
    finally:
        if not args.url:
            reg.stop()

    bad = {k: v for k, v in c.failed.items() if k not in known}
    gone = sorted(k for k in known if k not in c.failed)
    for k in sorted(c.passed - set(c.failed)):
        print("ok    %s" % k)
    for k in sorted(c.failed):
        if k in known:
            print("known %s: %s\n      (%s)" % (k, c.failed[k], known[k]))
        else:
            print("FAIL  %s: %s" % (k, c.failed[k]))
    for k in gone:
        print("FAIL  %s: listed as a known difference of %s but it conforms now: remove it "
              "from KNOWN_DIFFERENCES" % (k, name))
    print("Content-Types seen: %s" % json.dumps(c.ct_seen, sort_keys=True))
    n_ok = len(c.passed - set(c.failed))
    print("registry_conformance (%s, %.1fs): %d checks conform, %d known differences, "
          "%d failed" % (name, time.monotonic() - t0, n_ok, len(c.failed) - len(bad),
                         len(bad) + len(gone)))
    return 1 if bad or gone else 0


if __name__ == "__main__":
    sys.exit(main())
