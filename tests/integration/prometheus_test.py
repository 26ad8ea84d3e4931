#!/usr/bin/python3
"""prometheus_test.py - the operations kit against a real Prometheus (Debian's prometheus
package: /usr/bin/prometheus and /usr/bin/promtool).

Usage: prometheus_test.py FEEDHANDLER FEEDSIM CASE...

  promtool  promtool check rules deploy/prometheus/alerts.yml, promtool check config of
            deploy/prometheus/prometheus.yml, promtool test rules tests/prometheus/alerts_test.yml
            (every alert fires, with its labels and annotations, and resolves); every metric
            name in the alerts and in the Grafana dashboard (deploy/grafana/feedhandler.json)
            is documented in docs/METRICS.md, every dashboard expression parses (promtool, as
            recording rules), every runbook_url names a section of docs/METRICS.md, and the
            dashboard has its variables (datasource, instance, venue, symbol)
  scrape    feedsim -> feedhandler -> Apache Kafka (scripts/kafka-local), scraped every second
            by a Prometheus the test starts: once feedsim has stopped, the counters read
            through Prometheus' HTTP API equal what feedsim sent (its per-connection
            trades_out, logged when each connection closed), per venue, and what the handler
            produced and Kafka holds; every name in the alerts and the dashboard exists in
            what Prometheus scraped, and every dashboard expression evaluates
  alerts    the same stack with deploy/prometheus/alerts.yml loaded (a copy whose `for:`
            durations are cut to 1s; the expressions are the shipped ones): healthy, nothing
            of ours fires; the broker stopped -> FeedhandlerBrokerUnreachable and (a 1 MiB
            spool) FeedhandlerSpoolFilling fire, the broker back -> both resolve once the spool
            drained; feedsim stopped -> FeedhandlerVenueDown fires per venue, feedsim back on
            the same ports -> resolved; the handler stopped -> FeedhandlerDown, started again ->
            resolved. No trade lost, every rule evaluates without error.

Waits are bounded; nothing asserts how long anything took.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import kafka_lib as K
import engine_lib
import feedsim_lib

SOURCE_DIR = K.SOURCE_DIR
ALERTS = os.path.join(SOURCE_DIR, "deploy", "prometheus", "alerts.yml")
PROM_CONFIG = os.path.join(SOURCE_DIR, "deploy", "prometheus", "prometheus.yml")
RULE_TESTS = os.path.join(SOURCE_DIR, "tests", "prometheus", "alerts_test.yml")
DASHBOARD = os.path.join(SOURCE_DIR, "deploy", "grafana", "feedhandler.json")
METRICS_MD = os.path.join(SOURCE_DIR, "docs", "METRICS.md")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
TOPIC = "trades"
OURS = ("FeedhandlerVenueDown", "FeedhandlerBrokerUnreachable", "FeedhandlerSpoolFilling",
        "FeedhandlerDown", "FeedhandlerTradesLost")

wait_until = K.wait_until


# ---- metric names ---------------------------------------------------------------------------


def documented_names():
    """Every metric name docs/METRICS.md lists in backquotes (`..._p99_seconds` shorthands
    expanded from the name before them on the same line)."""
    names = set()
    with open(METRICS_MD) as f:
        text = f.read()
    # The metric tables only: not the dashboard and runbook sections at the end, which name
    # metrics too.
    for line in text.split("\n## Dashboard")[0].splitlines():
        if line.startswith("|"):
            prev = None
            cell = line.split("|")[1]  # the name column
            for tok in re.findall(r"`([^`]+)`", cell):
                tok = re.sub(r"\{.*\}$", "", tok.strip())
                if re.fullmatch(r"(feedhandler|process)_[a-z0-9_]+", tok):
                    names.add(tok)
                    prev = tok
                elif prev and re.fullmatch(r"\.\.\._[a-z0-9_]+", tok):
                    suffix = tok[3:]
                    parts = prev.split("_")
                    n = suffix.count("_")
                    names.add("_".join(parts[:len(parts) - n]) + suffix)
    return names


def names_in(expr):
    """Metric names an expression selects (label values and strings left out); histogram
    series are reported by their family name."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    out = set()
    for n in re.findall(r"(?<![A-Za-z0-9_:])((?:feedhandler|process)_[a-z0-9_]+|up)"
                        r"(?![A-Za-z0-9_:(])", expr):
        out.add(n)
    return out


def family(name, known):
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and name[:-len(suf)] in known:
            return name[:-len(suf)]
    return name


def load_yaml(path):
    import yaml
    with open(path) as f:
        return yaml.safe_load(f)


def alert_rules():
    return [r for g in load_yaml(ALERTS)["groups"] for r in g["rules"]]


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def dashboard_exprs(d):
    """(panel title, expr) of every query of the dashboard, its variables and annotations."""
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)
            out.append(("variable " + v["name"], m.group(1) if m else q))
    for a in d["annotations"]["list"]:
        if "expr" in a:
            out.append(("annotation " + a["name"], a["expr"]))
    return out


def concrete(expr):
    """A dashboard expression as Prometheus runs it: every variable selects everything."""
    return (expr.replace("$__rate_interval", "1m").replace("$instance", ".*")
            .replace("$venue", ".*").replace("$symbol", ".*"))


def all_names():
    """{name: [where]} of every metric the alerts and the dashboard use."""
    used = {}
    for r in alert_rules():
        for n in names_in(r["expr"]):
            used.setdefault(n, []).append("alert " + r["alert"])
    for title, expr in dashboard_exprs(dashboard()):
        for n in names_in(expr):
            used.setdefault(n, []).append("panel " + title)
    return used


# ---- Prometheus -------------------------------------------------------------------------------


class Prometheus:
    """A real Prometheus in a temporary directory: scrape and evaluation every second, the
    handler's /metrics as job feedhandler, optionally rule files."""

    def __init__(self, tmp, target, rule_files=()):
        self.tmp = tmp
        self.port = engine_lib.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        cfg = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                          "evaluation_interval": "1s"},
               "rule_files": list(rule_files),
               "scrape_configs": [{"job_name": "feedhandler",
                                   "static_configs": [{"targets": [target]}]}]}
        self.config = os.path.join(tmp, "prometheus.yml")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)  # JSON is YAML
        check = subprocess.run([PROMTOOL, "check", "config", self.config], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log_path = os.path.join(tmp, "prometheus.log")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=info"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=tmp)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited %s:\n%s" % (self.proc.returncode,
                                                                     self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=5) as r:
                    return r.status == 200
            except (urllib.error.URLError, ConnectionError, OSError):
                return False
        wait_until(ready, 120, "prometheus /-/ready", step=0.2)

    def api(self, path, **params):
        url = self.url + "/api/v1/" + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=20) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
        return body

    def query(self, expr):
        """The instant vector of expr as [(labels, value)]; raises on a query error."""
        body = self.api("query", query=expr)
        if body.get("status") != "success":
            raise AssertionError("query %r: %s %s" % (expr, body.get("errorType"),
                                                     body.get("error")))
        res = body["data"]["result"]
        if body["data"]["resultType"] == "scalar":
            return [({}, float(res[1]))]
        return [(s["metric"], float(s["value"][1])) for s in res]

    def value(self, expr):
        """The single value of expr, None when it has no sample."""
        res = self.query(expr)
        assert len(res) <= 1, (expr, res)
        return res[0][1] if res else None

    def alerts(self, state=None):
        got = self.api("alerts")["data"]["alerts"]
        return [a for a in got if state is None or a["state"] == state]

    def firing(self, name, **labels):
        return [a for a in self.alerts("firing") if a["labels"].get("alertname") == name and
                all(a["labels"].get(k) == v for k, v in labels.items())]

    def active(self, name):
        """Pending or firing alerts of that name."""
        return [a for a in self.alerts() if a["labels"].get("alertname") == name]

    def wait_firing(self, name, timeout=120, **labels):
        got = wait_until(lambda: self.firing(name, **labels), timeout,
                         "alert %s %r firing" % (name, labels), step=0.5)
        print("  firing: %s" % ", ".join("%s{%s} value %s" % (
            name, ",".join("%s=%s" % kv for kv in sorted(a["labels"].items())
                           if kv[0] not in ("alertname", "job")), a["value"]) for a in got),
            flush=True)
        return got

    def wait_resolved(self, name, timeout=120):
        wait_until(lambda: not self.active(name), timeout, "alert %s resolved" % name,
                   step=0.5)
        print("  resolved: %s" % name, flush=True)

    def rule_errors(self):
        bad = []
        for g in self.api("rules")["data"]["groups"]:
            for r in g["rules"]:
                if r.get("health") not in ("ok", "unknown") or r.get("lastError"):
                    bad.append((r["name"], r.get("health"), r.get("lastError")))
        return bad

    def names(self):
        return set(self.api("label/__name__/values")["data"])

    def log_tail(self, n=40):
        return K.file_tail(self.log_path, n)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("prometheus did not stop:\n" + self.log_tail())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False


def fast_alerts(tmp):
    """A copy of deploy/prometheus/alerts.yml whose every `for:` is 1s, so that a test sees
    each alert fire within seconds. Only the `for:` lines are rewritten (textually): the
    expressions, labels and annotations stay exactly the shipped ones, which is checked by
    comparing the two files parsed."""
    with open(ALERTS) as f:
        text = f.read()
    fast, n = re.subn(r"(?m)^(\s+for:\s*)\S+\s*$", r"\g<1>1s", text)
    assert n == text.count("\n        for:"), n
    path = os.path.join(tmp, "alerts-fast.yml")
    with open(path, "w") as f:
        f.write(fast)
    shipped, copied = alert_rules(), [r for g in load_yaml(path)["groups"] for r in g["rules"]]
    assert len(shipped) == len(copied)
    for a, b in zip(shipped, copied):
        assert {k: v for k, v in a.items() if k != "for"} == \
            {k: v for k, v in b.items() if k != "for"}, (a, b)
        assert b.get("for", "1s") == "1s" and ("for" in a) == ("for" in b), (a, b)
    return path


# ---- the stack ----------------------------------------------------------------------------------


class Stack:
    """feedsim (Binance and Kraken v2 over TLS) -> feedhandler ([sink] type = kafka, a spool,
    /metrics on a free port) -> one Apache Kafka broker, and a Prometheus scraping the
    handler."""

    RATE = 50  # trades/s per symbol: 6 books, about 300 trades/s

    def __init__(self, tmp, spool=None, rule_files=(), extra=None):
        self.tmp = tmp
        self.broker = K.RealKafka(1)
        self.broker.create(TOPIC, 4)
        self.ca, self.cert, self.key = engine_lib.make_certs(os.path.join(tmp, "certs"))
        self.fs = None
        self.fs_runs = 0
        self.fs_logs = []
        self.start_feedsim()
        sec = K.kafka_sections(self.broker, TOPIC, spool_dir=os.path.join(tmp, "spool"),
                               spool=spool, fmt="avro")
        for k, v in (extra or {}).items():
            sec.setdefault(k, {}).update(v)
        self.cfg = engine_lib.handler_config(self.fs, tmp, self.ca, extra=sec)
        self.handler_runs = 0
        self.handler = None
        self.start_handler()
        self.prom = Prometheus(tmp, self.cfg["metrics"]["listen"], rule_files)

    def start_feedsim(self, ports=None):
        """feedsim; with ports, on the same venue ports as before (a venue that comes back)."""
        p = ports or {"binance": 0, "kraken_v2": 0}
        self.fs = feedsim_lib.Feedsim(
            "--binance", p["binance"], "--kraken-v2", p["kraken_v2"], "--control", 0,
            "--tls", "%s,%s" % (self.cert, self.key), "--rate", self.RATE,
            "--kraken-v2-snapshot", 0, name="feedsim%d" % self.fs_runs)
        self.fs.__enter__()
        self.fs_runs += 1
        K.TMPDIRS.append(self.fs.tmp)
        self.fs_logs.append(self.fs.log_path)
        return self.fs

    def stop_feedsim(self):
        """SIGTERM (close frames, exit 0); returns {venue: trades sent} from its log lines
        `connection closed ... trades_out=N dropped=N`, one per connection."""
        self.fs.stop(check=True)
        sent = {}
        with open(self.fs.log_path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                if 'msg="connection closed"' not in line:
                    continue
                d = engine_lib.parse_logfmt(line)
                if d["venue"] == "control":
                    continue
                assert d["dropped"] == "0", "feedsim dropped frames: " + line
                v = "kraken" if d["venue"].startswith("kraken") else d["venue"]
                sent[v] = sent.get(v, 0) + int(d["trades_out"])
        return sent

    def start_handler(self):
        self.handler = engine_lib.Handler(self.cfg, self.tmp,
                                          name="feedhandler%d" % self.handler_runs)
        self.handler.__enter__()
        self.handler_runs += 1
        self.handler.wait_ready(120)

    def close(self, failed):
        for what in (self.handler.proc if self.handler is not None else None,
                     self.prom.proc if hasattr(self, "prom") else None):
            if what is not None and what.poll() is None:
                what.kill()
                what.wait()
        if self.fs is not None and self.fs.proc is not None:
            self.fs.stop(check=False)
        if self.broker is None:
            return
        if failed:
            logs = [self.handler.log_path] if self.handler is not None else []
            if hasattr(self, "prom"):
                logs.append(self.prom.log_path)
            for p in logs + self.fs_logs:
                print("---- tail of %s" % p)
                try:
                    with open(p, "rb") as f:
                        print("\n".join(f.read().decode("utf-8", "replace").splitlines()[-25:]))
                except OSError:
                    pass
        try:
            self.broker.stop()
        except AssertionError:
            if not failed:
                raise


def run_stack(tmp, body, **kw):
    st = Stack.__new__(Stack)
    st.handler = st.fs = st.broker = None
    st.fs_logs = []
    ok = False
    try:
        st.__init__(tmp, **kw)
    except BaseException:
        st.close(failed=True)
        raise
    try:
        body(st)
        ok = True
    finally:
        st.close(failed=not ok)


# ---- cases ------------------------------------------------------------------------------------


def test_promtool():
    for cmd in (["check", "rules", ALERTS], ["check", "config", PROM_CONFIG],
                ["test", "rules", RULE_TESTS]):
        res = subprocess.run([PROMTOOL] + cmd, capture_output=True, text=True)
        print("promtool %s: %s" % (" ".join(cmd[:2]), (res.stdout + res.stderr).strip()
                                   .splitlines()[-1]), flush=True)
        assert res.returncode == 0, "promtool %s:\n%s%s" % (" ".join(cmd), res.stdout,
                                                            res.stderr)

    # Every alert is covered by a unit test, and each names its runbook section.
    rules = alert_rules()
    tests = load_yaml(RULE_TESTS)["tests"]
    tested = {t["alertname"] for g in tests for t in g.get("alert_rule_test", [])
              if t.get("exp_alerts")}
    missing = {r["alert"] for r in rules} - tested
    assert not missing, "alerts without a unit test that fires them: %s" % sorted(missing)
    with open(METRICS_MD) as f:
        md = f.read()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"(?m)^#+ (.*)$", md)}
    for r in rules:
        assert r["labels"]["severity"] in ("critical", "warning"), r
        for k in ("summary", "description", "runbook_url"):
            assert r["annotations"].get(k), (r["alert"], k)
        url = r["annotations"]["runbook_url"]
        assert url.startswith("docs/METRICS.md#"), url
        assert url.split("#", 1)[1] == r["alert"].lower(), url
        assert url.split("#", 1)[1] in anchors, "no section %s in docs/METRICS.md" % url

    # Every metric name used is documented.
    docs = documented_names()
    used = all_names()
    undocumented = {family(n, docs): w for n, w in used.items()
                    if family(n, docs) not in docs | {"up"}}
    assert not undocumented, "metric names not in docs/METRICS.md: %r" % undocumented

    # The dashboard: importable shape, its variables, and every expression parses.
    d = dashboard()
    assert d["schemaVersion"] >= 36 and d["uid"] and d["title"], d.get("schemaVersion")
    var = {v["name"]: v for v in d["templating"]["list"]}
    assert var["datasource"]["type"] == "datasource" and \
        var["datasource"]["query"] == "prometheus", var["datasource"]
    for v in ("instance", "venue", "symbol"):
        assert var[v]["type"] == "query", var[v]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    n_queries = 0
    for p in d["panels"]:
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
        n_queries += len(p["targets"])
    exprs = dashboard_exprs(d)
    rules_file = os.path.join(K.tmpdir("prometheus-promtool-"), "dashboard-rules.yml")
    with open(rules_file, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": [
            {"record": "dashboard:expr_%d" % i, "expr": concrete(e)}
            for i, (_, e) in enumerate(exprs)]}]}, f, indent=1)
    res = subprocess.run([PROMTOOL, "check", "rules", rules_file], capture_output=True,
                         text=True)
    assert res.returncode == 0, "dashboard expressions:\n" + res.stdout + res.stderr
    print("dashboard: %d panels, %d queries, %d expressions parse; %d metric names, all "
          "documented" % (len(d["panels"]), n_queries, len(exprs), len(used)))


def live_names_check(prom):
    """Every name the alerts and the dashboard use exists in what Prometheus scraped (the
    recording metrics only with record.dir)."""
    have = prom.names()
    used = all_names()
    absent = {}
    for n, where in used.items():
        f = family(n, {x for x in have if x + "_bucket" in have})
        if n in have or f in have:
            continue
        absent[n] = where
    optional = {n for n in absent if n.startswith("feedhandler_recording") or
                n == "feedhandler_recorded_messages_total"}
    missing = set(absent) - optional
    assert not missing, "names not scraped: %r" % {n: absent[n] for n in missing}


def test_scrape():
    tmp = K.tmpdir("prometheus-scrape-")

    def body(st):
        prom, h = st.prom, st.handler
        wait_until(lambda: prom.value('up{job="feedhandler"}') == 1, 60, "the target up",
                   step=0.5)
        wait_until(lambda: (prom.value("sum(feedhandler_trades_total)") or 0) >= 1500, 120,
                   "1500 trades seen by Prometheus", step=0.5)
        sent = st.stop_feedsim()
        total = sum(sent.values())
        print("feedsim sent %d trades %r" % (total, sent), flush=True)
        assert total >= 1500 and set(sent) == {"binance", "kraken"}, sent

        def settled():
            got = {
                "trades": prom.value("sum(feedhandler_trades_total)"),
                "binance": prom.value('sum(feedhandler_trades_total{venue="binance"})'),
                "kraken": prom.value('sum(feedhandler_trades_total{venue="kraken"})'),
                "accepted": prom.value('sum(feedhandler_sink_accepted_total{sink="kafka"})'),
                "delivered": prom.value('sum(feedhandler_sink_delivered_total{sink="kafka"})'),
                "produced": prom.value("sum(feedhandler_kafka_produced_total)"),
            }
            settled.last = got
            want = {"trades": total, "binance": sent["binance"], "kraken": sent["kraken"],
                    "accepted": total, "delivered": total, "produced": total}
            return got == want
        settled.last = None
        try:
            wait_until(settled, 90, "Prometheus' counters to equal what feedsim sent",
                       step=0.5)
        except AssertionError:
            raise AssertionError("sent %d %r; Prometheus has %r" % (total, sent, settled.last))
        print("through Prometheus: %r" % settled.last, flush=True)
        # The handler's own /metrics says the same, and Kafka holds exactly that many.
        assert h.metric("feedhandler_trades_total") == total
        assert h.metric("feedhandler_kafka_produced_total") == total
        for n in ("feedhandler_trades_lost_total", "feedhandler_sink_failed_total",
                  "feedhandler_kafka_spooled_total", "feedhandler_rejected_messages_total",
                  "feedhandler_duplicates_total", "feedhandler_gaps_total"):
            assert prom.value("sum(%s)" % n) == 0, (n, prom.value("sum(%s)" % n))
        in_kafka = sum(K.watermarks(st.broker.bootstrap, TOPIC).values())
        assert in_kafka == total, "Kafka holds %d records, feedsim sent %d" % (in_kafka, total)

        live_names_check(prom)
        n = 0
        for title, expr in dashboard_exprs(dashboard()):
            prom.query(concrete(expr))  # raises on an error
            n += 1
        # The panels that must show something in a healthy run.
        for expr in ('sum by (venue) (rate(feedhandler_trades_total[1m]))',
                     'histogram_quantile(0.99, sum by (le, venue) '
                     '(rate(feedhandler_receive_to_enqueue_seconds_bucket[1m])))',
                     'rate(process_cpu_seconds_total{job="feedhandler"}[1m])'):
            assert prom.query(expr), expr
        assert prom.query("feedhandler_symbol_trades_total")
        print("%d dashboard expressions evaluate" % n)
        h.stop()
        st.prom.stop()

    run_stack(tmp, body)


def test_alerts():
    tmp = K.tmpdir("prometheus-alerts-")
    rules = fast_alerts(tmp)
    # A 1 MiB spool (the least spool.max_bytes) fills within seconds at about 300 trades/s
    # (about 190 bytes a record); on_full = backpressure keeps every trade (the feeds pause).
    spool = {"max_bytes": "1m", "segment_bytes": "64k", "on_full": "backpressure",
             "full_grace_ms": 1000}
    # The breaker would hold reconnects back for 30 s once feedsim is gone: keep it short.
    extra = {"reconnect": {"breaker_open_ms": 500}}

    def healthy(prom):
        def ok():
            up = prom.value('up{job="feedhandler"}') == 1
            flowing = (prom.value("sum(rate(feedhandler_trades_total[5s]))") or 0) > 0
            mode = prom.value("max(feedhandler_kafka_mode)") == 0
            ours = [a["labels"]["alertname"] for a in prom.alerts()
                    if a["labels"]["alertname"] in OURS]
            return up and flowing and mode and not ours
        wait_until(ok, 120, "a healthy state (target up, trades flowing, Kafka direct, none "
                   "of %s pending or firing)" % ", ".join(OURS), step=0.5)
        # and it stays so for a few evaluations
        time.sleep(3)
        assert ok(), prom.alerts()

    def body(st):
        prom = st.prom
        healthy(prom)
        print("healthy: alerts %r" % sorted({a["labels"]["alertname"]
                                             for a in prom.alerts()}), flush=True)

        # The broker down: spooling, the spool filling.
        print("broker stopped", flush=True)
        st.broker.stop_broker(1)
        prom.wait_firing("FeedhandlerBrokerUnreachable", severity="critical")
        prom.wait_firing("FeedhandlerSpoolFilling", severity="warning")
        a = prom.firing("FeedhandlerSpoolFilling", severity="warning")[0]
        assert float(a["value"]) > 0.5, a
        assert a["annotations"]["runbook_url"] == "docs/METRICS.md#feedhandlerspoolfilling"
        print("broker started", flush=True)
        st.broker.start_broker(1)
        prom.wait_resolved("FeedhandlerBrokerUnreachable", timeout=240)
        prom.wait_resolved("FeedhandlerSpoolFilling", timeout=120)
        assert prom.value("max(feedhandler_spool_bytes / feedhandler_spool_bound_bytes)") \
            <= 0.5
        healthy(prom)

        # The venue down: feedsim stopped, then back on the same ports.
        ports = dict(st.fs.ports)
        print("feedsim stopped", flush=True)
        st.stop_feedsim()
        for venue in ("binance", "kraken"):
            got = prom.wait_firing("FeedhandlerVenueDown", venue=venue)
            assert got[0]["labels"]["severity"] == "critical", got
        print("feedsim started again on ports %r" % ports, flush=True)
        st.start_feedsim(ports)
        prom.wait_resolved("FeedhandlerVenueDown")
        assert st.handler.ready() or wait_until(st.handler.ready, 60, "/readyz")

        # The handler down, then started again.
        print("feedhandler stopped", flush=True)
        st.handler.stop()
        prom.wait_firing("FeedhandlerDown", severity="critical")
        print("feedhandler started again", flush=True)
        st.start_handler()
        prom.wait_resolved("FeedhandlerDown")

        # No trade was lost in all this, and every rule evaluated cleanly.
        assert not prom.active("FeedhandlerTradesLost"), prom.active("FeedhandlerTradesLost")
        lost = prom.value("sum(feedhandler_trades_lost_total)")
        assert lost == 0, lost
        assert not prom.rule_errors(), prom.rule_errors()
        st.handler.stop()
        st.fs.stop(check=True)
        prom.stop()

    run_stack(tmp, body, spool=spool, rule_files=[rules], extra=extra)


def main():
    if len(sys.argv) < 4:
        print("usage: %s FEEDHANDLER FEEDSIM CASE..." % sys.argv[0])
        return 2
    engine_lib.FEEDHANDLER = sys.argv[1]
    feedsim_lib.FEEDSIM = sys.argv[2]
    for tool in (PROMETHEUS, PROMTOOL):
        if not os.access(tool, os.X_OK):
            print("%s is missing: Debian's prometheus package (scripts/install-deps)" % tool)
            return 1
    return K.run_cases(sys.argv[3:], globals())


if __name__ == "__main__":
    sys.exit(main())
