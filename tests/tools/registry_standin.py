#!/usr/bin/python3
"""registry_standin.py - a small Confluent Schema Registry stand-in for tests (stdlib only).

Implements what feedhandler calls and what test consumers need:

  POST /subjects/{subject}                                 look a schema up in a subject
  POST /subjects/{subject}/versions                        register (idempotent)
  POST /compatibility/subjects/{subject}/versions/latest   compatibility check
  GET  /schemas/ids/{id}                                   a schema by id
  GET  /subjects, GET /subjects/{subject}/versions, GET /subjects/{subject}/versions/latest

with the registry's JSON error bodies ({"error_code": 40401, "message": ...}). Schemas are
compared as parsed JSON, ids are global (one id per distinct schema), versions per subject.
Only Avro: a request's schemaType must be absent or AVRO, and the schema must parse as Avro
(with python3-avro where it is installed, else as JSON); otherwise 422, error_code 42201.
tests/integration/registry_conformance.py checks these answers against Confluent's documented
REST API (and against a real registry, Apicurio's Confluent-compatible API).

Compatibility is not computed: every change is compatible unless the subject was marked
incompatible (--incompatible SUBJECT, or POST /_admin/incompatible/SUBJECT), which is how
tests drive the refusal path. Other test controls:

  --preload SUBJECT=FILE   register FILE's schema under SUBJECT first (so the subject
                           already holds another version)
  --fail-status CODE       answer every registry request with HTTP CODE
  --delay-ms MS            wait MS before every answer
  GET /_admin/requests     the requests seen so far, as [[method, path], ...]

Usage: registry_standin.py [--port N] [options]; binds 127.0.0.1 (port 0: any free port) and
prints its base URL (http://127.0.0.1:PORT) as the first line on stdout. Exits on SIGTERM or
SIGINT.
"""
import argparse
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CT = "application/vnd.schemaregistry.v1+json"

try:
    import avro.schema as avro_schema  # python3-avro: Debian's interpreter has it
except ImportError:  # pragma: no cover - then only JSON is checked
    avro_schema = None


def valid_schema(text):
    try:
        json.loads(text)
        if avro_schema is not None:
            avro_schema.parse(text)
        return True
    except Exception:  # noqa: BLE001 - ValueError, avro's SchemaParseException, ...
        return False


def version_number(text, count):
    """A version path element: (number, None), or (None, (status, error_code, message))."""
    if text == "latest":
        return (count, None) if count else (None, (404, 40402, "Version latest not found."))
    if not text.isdigit() or not 1 <= int(text) <= 2 ** 31 - 1:
        return None, (422, 42202, "The specified version '%s' is not a valid version id. "
                      "Allowed values are between [1, 2^31-1] and the string \"latest\"" % text)
    if int(text) > count:
        return None, (404, 40402, "Version %s not found." % text)
    return int(text), None


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.schemas = []  # id - 1 -> schema text
        self.ids = {}  # normalized schema -> id
        self.subjects = {}  # subject -> [id of version 1, id of version 2, ...]
        self.incompatible = set()
        self.requests = []

    @staticmethod
    def normalize(text):
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))

    def id_for(self, text):
        key = self.normalize(text)
        if key not in self.ids:
            self.schemas.append(text)
            self.ids[key] = len(self.schemas)
        return self.ids[key]

    def find(self, subject, text):
        """(id, version) of text in subject, or None."""
        key = self.normalize(text)
        sid = self.ids.get(key)
        versions = self.subjects.get(subject, [])
        if sid is not None and sid in versions:
            return sid, versions.index(sid) + 1
        return None

    def register(self, subject, text):
        found = self.find(subject, text)
        if found:
            return found[0]
        if subject in self.incompatible and self.subjects.get(subject):
            return None
        sid = self.id_for(text)
        self.subjects.setdefault(subject, []).append(sid)
        return sid


class Handler(BaseHTTPRequestHandler):
    registry = None
    fail_status = None
    delay_ms = 0
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests read stdout
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", CT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, {"error_code": code, "message": message})

    def body_schema(self):
        """The request's schema text, or None when it is not a valid Avro schema."""
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            doc = json.loads(raw)
            text = doc["schema"]
            if doc.get("schemaType", "AVRO") != "AVRO" or not isinstance(text, str):
                return None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return text if valid_schema(text) else None

    def handle_any(self, method):
        reg = self.registry
        path = self.path.split("?", 1)[0]
        with reg.lock:
            reg.requests.append([method, path])
        if path == "/_admin/requests" and method == "GET":
            with reg.lock:
                return self.reply(200, list(reg.requests))
        m = re.fullmatch(r"/_admin/(incompatible|compatible)/([^/]+)", path)
        if m and method == "POST":
            with reg.lock:
                if m.group(1) == "incompatible":
                    reg.incompatible.add(m.group(2))
                else:
                    reg.incompatible.discard(m.group(2))
            return self.reply(200, {})
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000.0)
        if self.fail_status:
            return self.error(self.fail_status, self.fail_status * 100 + 1, "injected failure")
        if method == "GET":
            return self.handle_get(path)
        text = self.body_schema()
        if text is None:
            return self.error(422, 42201, "Invalid schema")
        m = re.fullmatch(r"/subjects/([^/]+)/versions", path)
        if m:
            with reg.lock:
                sid = reg.register(m.group(1), text)
            if sid is None:
                return self.error(409, 409, "Schema being registered is incompatible with an "
                                  "earlier schema for subject \"%s\"" % m.group(1))
            return self.reply(200, {"id": sid})
        m = re.fullmatch(r"/subjects/([^/]+)", path)
        if m:
            subject = m.group(1)
            with reg.lock:
                if subject not in reg.subjects:
                    return self.error(404, 40401, "Subject '%s' not found." % subject)
                found = reg.find(subject, text)
            if not found:
                return self.error(404, 40403, "Schema not found")
            return self.reply(200, {"subject": subject, "id": found[0], "version": found[1],
                                    "schema": text})
        m = re.fullmatch(r"/compatibility/subjects/([^/]+)/versions/([^/]+)", path)
        if m:
            subject = m.group(1)
            with reg.lock:
                if not reg.subjects.get(subject):
                    return self.error(404, 40401, "Subject '%s' not found." % subject)
                _, bad = version_number(m.group(2), len(reg.subjects[subject]))
                if bad:
                    return self.error(*bad)
                ok = subject not in reg.incompatible or reg.find(subject, text) is not None
            body = {"is_compatible": ok}
            if not ok:
                body["messages"] = ["READER_FIELD_MISSING_DEFAULT_VALUE (stand-in: subject "
                                    "marked incompatible)"]
            return self.reply(200, body)
        return self.error(404, 404, "HTTP 404 Not Found")

    def handle_get(self, path):
        reg = self.registry
        with reg.lock:
            m = re.fullmatch(r"/schemas/ids/(\d+)", path)
            if m:
                i = int(m.group(1))
                if 1 <= i <= len(reg.schemas):
                    return self.reply(200, {"schema": reg.schemas[i - 1]})
                return self.error(404, 40403, "Schema %d not found" % i)
            if path == "/subjects":
                return self.reply(200, sorted(reg.subjects))
            m = re.fullmatch(r"/subjects/([^/]+)/versions(?:/([^/]+))?", path)
            if m:
                versions = reg.subjects.get(m.group(1))
                if not versions:
                    return self.error(404, 40401, "Subject '%s' not found." % m.group(1))
                if m.group(2) is None:
                    return self.reply(200, list(range(1, len(versions) + 1)))
                v, bad = version_number(m.group(2), len(versions))
                if bad:
                    return self.error(*bad)
                sid = versions[v - 1]
                return self.reply(200, {"subject": m.group(1), "version": v, "id": sid,
                                        "schema": reg.schemas[sid - 1]})
        return self.error(404, 404, "HTTP 404 Not Found")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--incompatible", action="append", default=[], metavar="SUBJECT")
    ap.add_argument("--preload", action="append", default=[], metavar="SUBJECT=FILE")
    ap.add_argument("--fail-status", type=int, default=None)
    ap.add_argument("--delay-ms", type=int, default=0)
    args = ap.parse_args()

    reg = Registry()
    for item in args.preload:
        subject, _, path = item.partition("=")
        with open(path) as f:
            reg.register(subject, f.read())
    reg.incompatible.update(args.incompatible)
    Handler.registry = reg
    Handler.fail_status = args.fail_status
    Handler.delay_ms = args.delay_ms

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("http://127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
