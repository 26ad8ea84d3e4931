"""registry_lib.py - the Schema Registries the registry tests run against, behind one interface.

  standin   tests/tools/registry_standin.py (what the other Kafka tests use)
  apicurio  Apicurio Registry's Confluent-compatible API (/apis/ccompat/v7), a JVM started by
            scripts/registry-local (tools/registry/; Java 17, built by scripts/install-deps)

start(kind) returns a Registry: .url (what feedhandler's schema_registry.url takes), .call()
for one REST request, and the two set-ups the tests need that the Confluent API does not do the
same way everywhere: .preload(subject, schema) registers a schema as another producer would;
.make_incompatible(subject) makes the subject refuse a schema that adds required fields, and
.enforce_compatibility(subject) makes it accept only compatible changes (a real registry gets
compatibility BACKWARD for the subject, PUT /config/{subject}, and computes the answer; the
stand-in does not compute compatibility: it is told to refuse, or accepts every change).
"""

import json
import os
import select
import signal
import subprocess
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FH_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
PYTHON = os.environ.get("FH_PYTHON", "/usr/bin/python3")
KINDS = ("standin", "apicurio")

# What feedhandler sends (src/sink/registry.c).
CT = "application/vnd.schemaregistry.v1+json"
ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"


class Answer:
    def __init__(self, status, content_type, body, raw):
        self.status = status
        self.content_type = content_type
        self.body = body  # parsed JSON, or None when the body is not JSON
        self.raw = raw

    def __repr__(self):
        return "HTTP %d (%s) %s" % (self.status, self.content_type, self.raw[:300])


class Registry:
    kind = None

    def __init__(self, proc, url):
        self.proc = proc
        self.url = url

    def call(self, method, path, body=None, timeout=30):
        """One request as feedhandler makes it (its Content-Type and Accept headers)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": CT, "Accept": ACCEPT})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, headers, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, e.headers, e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
        return Answer(status, ctype, parsed, raw.decode("utf-8", "replace"))

    def get(self, path):
        a = self.call("GET", path)
        if a.status != 200:
            raise AssertionError("GET %s: %r" % (path, a))
        return a.body

    def preload(self, subject, schema_text):
        a = self.call("POST", "/subjects/%s/versions" % subject, {"schema": schema_text})
        if a.status != 200 or not isinstance((a.body or {}).get("id"), int):
            raise AssertionError("preloading %s: %r" % (subject, a))
        return a.body["id"]

    def make_incompatible(self, subject):
        self.enforce_compatibility(subject)

    def enforce_compatibility(self, subject):
        a = self.call("PUT", "/config/" + subject, {"compatibility": "BACKWARD"})
        assert a.status == 200 and (a.body or {}).get("compatibility") == "BACKWARD", a

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def _first_line(proc, timeout, what):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("http://"):
        proc.kill()
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        proc.wait()
        raise AssertionError("%s did not start (exit status %s):\n%s" %
                             (what, proc.returncode, err[-3000:]))
    return line


class Standin(Registry):
    kind = "standin"

    def __init__(self, *args):
        proc = subprocess.Popen([PYTHON, os.path.join(SOURCE_DIR, "tests", "tools",
                                                      "registry_standin.py")] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        Registry.__init__(self, proc, _first_line(proc, 30, "the registry stand-in"))

    def make_incompatible(self, subject):
        a = self.call("POST", "/_admin/incompatible/" + subject)
        assert a.status == 200, a

    def enforce_compatibility(self, subject):
        pass  # an unmarked subject accepts every change


class Apicurio(Registry):
    kind = "apicurio"

    def __init__(self):
        # stdin stays open: registry-local stops when it ends (or when we die).
        proc = subprocess.Popen([os.path.join(SOURCE_DIR, "scripts", "registry-local")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        Registry.__init__(self, proc, _first_line(proc, 300, "scripts/registry-local"))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # its end of input: registry-local stops the JVM
            except OSError:
                pass
        Registry.stop(self)


def start(kind):
    if kind == "standin":
        return Standin()
    if kind == "apicurio":
        return Apicurio()
    raise ValueError("no such registry: %s (%s)" % (kind, ", ".join(KINDS)))
