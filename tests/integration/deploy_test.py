"""Checks of the deployment files against the real binary and against each other.

usage: deploy_test.py FEEDHANDLER_BINARY CASE

  container_config  deploy/docker/feedhandler.ini and the ini in deploy/k8s/configmap.yaml
                    pass `feedhandler check-config`, also with every FEEDHANDLER_* override
                    that deploy/compose.yml and deploy/k8s/deployment.yaml set
  dockerfile        deploy/docker/Dockerfile agrees with the container config: the config's
                    path, the spool volume, the metrics port (EXPOSE, HEALTHCHECK), non-root
                    user, the entry point; .dockerignore keeps build/ and .git out
  compose           deploy/compose.yml parses and agrees with the image (ports, spool volume,
                    topics, resource budget); then `config -q` with Compose (the v2 plugin or
                    docker-compose 1.x), default and parallel-run profiles; 77 without Compose
  k8s               deploy/k8s parses; replicas 1, Recreate, non-root, read-only root, no
                    capabilities, 1 CPU / 1Gi, grace period above the flush timeout; the probes'
                    port is the ini's metrics port and their paths answer on the real handler
                    (started offline from the ConfigMap's ini); the kustomization lists every
                    manifest
  lint              deploy/docker/lint (hadolint) and deploy/k8s/validate (kubernetes-validate,
                    strict); 77 when they are not installed (they never download in a test)

Any mismatch raises and exits non-zero; 77 means skipped (SKIP_RETURN_CODE in deploy.cmake).
"""
import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

from engine_lib import free_port

BIN, CASE = sys.argv[1], sys.argv[2]
SRC = os.environ["FH_SOURCE_DIR"]
DEPLOY = os.path.join(SRC, "deploy")
DOCKER_INI = os.path.join(DEPLOY, "docker", "feedhandler.ini")
DOCKERFILE = os.path.join(DEPLOY, "docker", "Dockerfile")
COMPOSE = os.path.join(DEPLOY, "compose.yml")
K8S = os.path.join(DEPLOY, "k8s")
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("FEEDHANDLER_")}
SKIP = 77


def expect(cond, what, detail=""):
    if not cond:
        raise AssertionError(f"{what}\n{detail}".rstrip())


def skip(why):
    print(f"deploy.{CASE}: SKIPPED: {why}")
    sys.exit(SKIP)


def run(args, env=None, timeout=60, cwd=None):
    e = dict(BASE_ENV)
    e.update(env or {})
    return subprocess.run(args, capture_output=True, text=True, env=e, timeout=timeout, cwd=cwd)


def check_config(path, env=None, what=None):
    p = run([BIN, "check-config", "-c", path], env=env)
    expect(p.returncode == 0 and p.stdout == "configuration OK\n",
           f"check-config {what or path} (env {env or {}}) exits 0",
           f"rc={p.returncode}\n--- stdout:\n{p.stdout}\n--- stderr:\n{p.stderr}")


def ini(text):
    """The ini as {section: {key: value}} (inih's syntax is close enough to configparser's
    for these files: no duplicate keys, ; comments on their own lines)."""
    cp = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"),
                                   inline_comment_prefixes=(";",))
    cp.optionxform = str
    cp.read_string(text)
    return {s: dict(cp[s]) for s in cp.sections()}


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def k8s_docs():
    docs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            for d in load_yaml_docs(os.path.join(K8S, name)):
                expect("kind" in d and "apiVersion" in d and "metadata" in d,
                       f"{name}: every document is a Kubernetes object", str(d)[:300])
                docs[d["kind"]] = d
    return docs


def configmap_ini(docs):
    cm = docs["ConfigMap"]
    expect(list(cm["data"]) == ["feedhandler.ini"], "the ConfigMap holds feedhandler.ini only")
    return cm["data"]["feedhandler.ini"]


def listen_port(cfg):
    host, _, port = cfg["metrics"]["listen"].rpartition(":")
    expect(host == "0.0.0.0", "in a container the metrics server listens on every interface",
           cfg["metrics"]["listen"])
    return int(port)


def compose_doc():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def handler_services(doc):
    return {n: s for n, s in doc["services"].items() if n.startswith("feedhandler")}


def deployment_env(docs):
    """The Deployment's FEEDHANDLER_* variables, with a stand-in for values from the API."""
    c = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for e in c.get("env", []):
        if e["name"].startswith("FEEDHANDLER_"):
            env[e["name"]] = e.get("value", "feedhandler-6d9f7c-abcde")
    return env


def case_container_config():
    check_config(DOCKER_INI)
    with open(DOCKER_INI) as f:
        cfg = ini(f.read())
    expect(cfg["sink"]["type"] == "kafka" and cfg["kafka"]["bootstrap.servers"] == "redpanda:9092"
           and cfg["schema_registry"]["url"] == "http://redpanda:8081",
           "the container config produces to the compose stack's Redpanda and its registry")
    expect(cfg["spool"]["dir"] == "/var/lib/feedhandler/spool", "the spool is in the volume")
    listen_port(cfg)
    # Every override the compose file sets, for each handler service.
    for name, svc in handler_services(compose_doc()).items():
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()
               if k.startswith("FEEDHANDLER_")}
        check_config(DOCKER_INI, env, f"{DOCKER_INI} as compose service {name}")
    docs = k8s_docs()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "feedhandler.ini")
        with open(path, "w") as f:
            f.write(configmap_ini(docs))
        check_config(path, what="deploy/k8s/configmap.yaml's feedhandler.ini")
        check_config(path, deployment_env(docs), "the ConfigMap's ini with the Deployment's env")


def dockerfile_instructions():
    """(stage, INSTRUCTION, arguments) of every instruction, continuation lines joined."""
    out, stage, cur = [], None, ""
    with open(DOCKERFILE) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if cur and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur += line
            word, _, rest = cur.strip().partition(" ")
            word = word.upper()
            if word == "FROM":
                m = re.search(r"\bAS\s+(\S+)", rest, re.I)
                stage = m.group(1) if m else None
            out.append((stage, word, rest.strip()))
            cur = ""
    return out


def case_dockerfile():
    ins = dockerfile_instructions()
    stages = [s for s, w, a in ins if w == "FROM"]
    expect(stages == ["build", "feedcmp", "runtime"],
           "stages build, feedcmp, runtime (the default, last)", str(stages))
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for s, w, a in ins if w == "ARG" and "=" in a}
    expect(re.fullmatch(r"debian:12\.\d+-slim", args.get("DEBIAN_IMAGE", "")),
           "the base image is Debian 12 slim, pinned to a point release", str(args))
    rt = [(w, a) for s, w, a in ins if s == "runtime"]

    def one(word):
        found = [a for w, a in rt if w == word]
        expect(len(found) == 1, f"the runtime stage has one {word}", str(found))
        return found[0]

    with open(DOCKER_INI) as f:
        cfg = ini(f.read())
    port = listen_port(cfg)
    expect(one("EXPOSE") == str(port), f"EXPOSE {port}, the ini's metrics port")
    hc = one("HEALTHCHECK")
    expect(f'"http://127.0.0.1:{port}/healthz"' in hc and '"--fail"' in hc and '"--max-time"' in hc,
           "HEALTHCHECK asks /healthz on the metrics port with curl --fail --max-time", hc)
    expect(one("VOLUME") == f'["{cfg["spool"]["dir"]}"]', "VOLUME is the ini's spool.dir")
    expect(one("USER") == "10001:10001", "the runtime runs as uid 10001")
    expect(one("STOPSIGNAL") == "SIGTERM", "STOPSIGNAL SIGTERM")
    expect(one("ENTRYPOINT") == '["/usr/bin/feedhandler"]', "ENTRYPOINT is the daemon")
    expect(one("CMD") == '["run", "-c", "/etc/feedhandler/feedhandler.ini"]', "CMD runs the ini")
    copies = [a for w, a in rt if w == "COPY"]
    expect("deploy/docker/feedhandler.ini /etc/feedhandler/feedhandler.ini" in copies,
           "the container config is copied to the path CMD names", str(copies))
    expect("--from=build /feedhandler /usr/bin/feedhandler" in copies,
           "the stripped daemon comes from the build stage", str(copies))
    install = " ".join(a for w, a in rt if w == "RUN")
    expect("--no-install-recommends" in install and "rm -rf /var/lib/apt/lists/*" in install,
           "the runtime's apt-get installs no recommends and leaves no lists", install)
    expect("install -d -o 10001 -g 10001" in install and cfg["spool"]["dir"] in install,
           "the spool directory exists, owned by the user, before VOLUME", install)
    # Every shared library the daemon needs comes from a package the runtime stage installs
    # (the daemon built here is the same program: same libraries, same Debian release).
    p = run(["objdump", "-p", BIN]) if shutil.which("objdump") else None
    if p is not None and p.returncode == 0:
        pkgs = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", install))
        for lib in re.findall(r"NEEDED\s+(\S+)", p.stdout):
            # libc (the base image has it) and the sanitizer builds' runtimes (make test
            # SANITIZE=1 / TSAN=1 run this test on their instrumented binary).
            if lib.startswith(("libc.so", "libm.so", "ld-linux", "libasan", "libubsan",
                               "libtsan", "liblsan", "libgcc_s", "libstdc++")):
                continue
            q = run(["dpkg", "-S", lib])
            owners = {ln.split(":")[0] for ln in q.stdout.splitlines()
                      if "-dev" not in ln.split(":")[0]}
            expect(owners & pkgs, f"{lib} comes from a package the runtime installs",
                   f"owners {owners}; runtime packages {sorted(pkgs)}")
    build = " ".join(a for s, w, a in ins if s == "build" and w == "RUN")
    expect("--target feedhandler" in build and "strip" in build,
           "the build stage compiles the feedhandler target and strips it", build)
    with open(os.path.join(SRC, ".dockerignore")) as f:
        ignored = {ln.strip() for ln in f if ln.strip() and not ln.startswith("#")}
    for must in (".git", "build"):
        expect(must in ignored, f".dockerignore excludes {must}", str(sorted(ignored)))


def compose_tool():
    """The Compose command: the v2 plugin, else docker-compose 1.x; None without either."""
    if shutil.which("docker"):
        p = run(["docker", "compose", "version"])
        if p.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def case_compose():
    doc = compose_doc()
    svcs = doc["services"]
    with open(DOCKER_INI) as f:
        cfg = ini(f.read())
    port = listen_port(cfg)
    for name in ("redpanda", "topics", "feedhandler", "prometheus", "grafana",
                 "feedhandler-a", "feedhandler-b", "feedcmp"):
        expect(name in svcs, f"compose has the service {name}")
    expect(svcs["feedhandler"]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
           and svcs["feedhandler"]["build"]["context"] == "..",
           "feedhandler is built from deploy/docker/Dockerfile with the repository as context")
    # The ini's addresses are the services' names and ports.
    expect(cfg["kafka"]["bootstrap.servers"] == "redpanda:9092" and
           any("internal://redpanda:9092" in a for a in svcs["redpanda"]["command"]),
           "the ini's broker is Redpanda's advertised internal listener")
    expect(any("internal://0.0.0.0:8081" in a for a in svcs["redpanda"]["command"]),
           "Redpanda serves its Schema Registry on 8081, the ini's registry")
    topics = svcs["topics"]["command"][0]
    for name, svc in handler_services(doc).items():
        expect(name == "feedhandler" or svc.get("profiles") == ["parallel-run"],
               f"{name} is in the parallel-run profile")
        limits = svc["deploy"]["resources"]["limits"]
        expect(float(limits["cpus"]) == 1.0 and limits["memory"] == "1g",
               f"{name}: the plan's budget, 1 CPU and 1 GB", str(limits))
        expect(any(str(v).endswith(":" + cfg["spool"]["dir"]) for v in svc["volumes"]),
               f"{name}: a volume on the ini's spool.dir", str(svc["volumes"]))
        expect(any(str(p).endswith(f":{port}") for p in svc["ports"]),
               f"{name}: publishes the metrics port {port}", str(svc["ports"]))
        expect(svc["depends_on"]["redpanda"]["condition"] == "service_healthy" and
               svc["depends_on"]["topics"]["condition"] == "service_completed_successfully",
               f"{name} starts once Redpanda is healthy and the topics exist")
        topic = (svc.get("environment") or {}).get("FEEDHANDLER_SINK_TOPIC", cfg["sink"]["topic"])
        for t in (topic, topic + ".gaps"):
            expect(re.search(r"\b%s\b(?!\.)" % re.escape(t), topics),
                   f"{name}'s topic {t} is created by the topics service", topics)
    vols = [str(v).split(":")[0] for s in handler_services(doc).values() for v in s["volumes"]]
    expect(len(vols) == len(set(vols)), "each handler has a spool volume of its own", str(vols))
    cmp_args = svcs["feedcmp"]["command"]
    expect("--follow" in cmp_args and "kafka:redpanda:9092/trades.a" in cmp_args and
           "kafka:redpanda:9092/trades.b" in cmp_args,
           "feedcmp --follow compares trades.a and trades.b", str(cmp_args))
    with open(os.path.join(DEPLOY, "prometheus", "prometheus-compose.yml")) as f:
        prom = yaml.safe_load(f)
    targets = {t for j in prom["scrape_configs"] for sc in j["static_configs"]
               for t in sc["targets"]}
    for name in handler_services(doc):
        expect(f"{name}:{port}" in targets, f"Prometheus scrapes {name}:{port}", str(targets))
    expect([j["job_name"] for j in prom["scrape_configs"]
            if "feedhandler:%d" % port in j["static_configs"][0]["targets"]] == ["feedhandler"],
           "the main handler's job is feedhandler (the alerts select job=\"feedhandler\")")

    tool = compose_tool()
    if tool is None:
        skip("static checks passed; neither `docker compose` (v2 plugin) nor docker-compose "
             "is installed, so `config` was not run (Debian 12: apt-get install docker-compose)")
    env = {"FH_OLD_VERSION": "0.1.0", "FH_NEW_VERSION": "0.2.0"}
    for extra in ([], ["--profile", "parallel-run"]):
        p = run([*tool, "-f", COMPOSE, *extra, "config", "-q"], env=env)
        expect(p.returncode == 0 and p.stderr.strip() == "",
               f"{' '.join(tool)} {' '.join(extra)} config -q validates deploy/compose.yml",
               f"rc={p.returncode}\n{p.stdout}\n{p.stderr}")
    p = run([*tool, "-f", COMPOSE, "--profile", "parallel-run", "config"], env=env)
    expect(p.returncode == 0, "config renders", p.stderr)
    rendered = yaml.safe_load(p.stdout)["services"]
    expect(rendered["feedhandler-a"]["image"] == "feedhandler:0.1.0" and
           rendered["feedhandler-b"]["image"] == "feedhandler:0.2.0",
           "FH_OLD_VERSION and FH_NEW_VERSION choose the parallel run's images")
    expect(os.path.realpath(rendered["feedhandler"]["build"]["context"]) == os.path.realpath(SRC),
           "the build context is the repository's root", rendered["feedhandler"]["build"])
    print(f"deploy.compose: {' '.join(tool)} config ok (default and parallel-run)")



def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def probe_statuses(ini_path, paths):
    """Starts the handler offline on ini_path (stdout sink, fixtures for the symbol metadata,
    exchange URLs at a closed port) and returns {path: HTTP status} from its metrics server."""
    data = os.path.join(SRC, "tests", "data")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"sink.type": "stdout", "sink.format": "json", "schema_registry.url": "",
                "spool.dir": os.path.join(tmp, "spool"),
                "binance.symbols": "BTCUSDT", "kraken.symbols": "BTC/USD",
                "binance.metadata_file": os.path.join(data, "binance_exchangeinfo.json"),
                "kraken.metadata_file": os.path.join(data, "kraken_assetpairs.json"),
                "binance.url": "ws://127.0.0.1:9", "kraken.url": "ws://127.0.0.1:9/v2",
                "binance.rest_url": "http://127.0.0.1:9", "kraken.rest_url": "http://127.0.0.1:9",
                "metrics.listen": "127.0.0.1:%d" % port}
        args = [BIN, "run", "-c", ini_path]
        for k, v in sets.items():
            args += ["--set", f"{k}={v}"]
        log = open(os.path.join(tmp, "log"), "w+")
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=BASE_ENV)
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                expect(p.poll() is None, "the handler keeps running offline",
                       open(log.name).read()[-3000:])
                try:
                    if http_status(f"http://127.0.0.1:{port}/healthz") == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            out = {path: http_status(f"http://127.0.0.1:{port}{path}") for path in paths}
            out["/no-such-path"] = http_status(f"http://127.0.0.1:{port}/no-such-path")
            return out
        finally:
            p.terminate()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()


def case_k8s():
    docs = k8s_docs()
    for kind in ("ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"):
        expect(kind in docs, f"deploy/k8s has a {kind}")
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    manifests = sorted(n for n in os.listdir(K8S)
                       if n.endswith(".yaml") and n != "kustomization.yaml")
    expect(sorted(kust["resources"]) == manifests, "the kustomization lists every manifest",
           f"{kust['resources']} vs {manifests}")
    text = configmap_ini(docs)
    cfg = ini(text)
    port = listen_port(cfg)
    dep = docs["Deployment"]["spec"]
    pod = dep["template"]["spec"]
    expect(dep["replicas"] == 1, "one replica (two would be duplicate producers)")
    expect(dep["strategy"]["type"] == "Recreate", "strategy Recreate: never two versions at once")
    flush_s = int(cfg["sink"].get("flush_timeout_ms", "10000")) / 1000
    expect(pod["terminationGracePeriodSeconds"] > flush_s + 10,
           "the grace period exceeds the flush timeout with room for the close handshakes")
    sc = pod["securityContext"]
    expect(sc["runAsNonRoot"] and sc["runAsUser"] == 10001 and sc["fsGroup"] == 10001 and
           sc["seccompProfile"]["type"] == "RuntimeDefault", "pod security context", str(sc))
    expect(len(pod["containers"]) == 1, "one container")
    c = pod["containers"][0]
    csc = c["securityContext"]
    expect(csc["readOnlyRootFilesystem"] and csc["allowPrivilegeEscalation"] is False and
           csc["capabilities"]["drop"] == ["ALL"], "container security context", str(csc))
    res = c["resources"]
    expect(res["requests"] == res["limits"] == {"cpu": "1", "memory": "1Gi"},
           "requests = limits = 1 CPU, 1Gi", str(res))
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expect(ports == {"metrics": port}, f"the container port is the ini's metrics port {port}",
           str(ports))
    svc_ports = docs["Service"]["spec"]["ports"]
    expect([(p["port"], p["targetPort"]) for p in svc_ports] == [(port, "metrics")],
           "the Service exposes the metrics port", str(svc_ports))
    expect(docs["Service"]["spec"]["selector"] == dep["selector"]["matchLabels"],
           "the Service selects the Deployment's pods")
    probes = {}
    for name in ("startupProbe", "livenessProbe", "readinessProbe"):
        pr = c[name]["httpGet"]
        expect(pr["port"] in ("metrics", port), f"{name} asks the metrics port", str(pr))
        probes[name] = pr["path"]
    expect(probes["livenessProbe"] == "/healthz" and probes["readinessProbe"] == "/readyz",
           "liveness on /healthz, readiness on /readyz", str(probes))
    # Mounts: the config where args say, the spool's directory on the claim.
    args = c["args"]
    conf = args[args.index("-c") + 1]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    expect(os.path.join(mounts["config"], "feedhandler.ini") == conf and
           vols["config"]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"],
           "the ConfigMap is mounted where -c points", f"{mounts} {args}")
    expect(cfg["spool"]["dir"].startswith(mounts["spool"].rstrip("/") + "/") and
           vols["spool"]["persistentVolumeClaim"]["claimName"] ==
           docs["PersistentVolumeClaim"]["metadata"]["name"],
           "spool.dir lies on the PersistentVolumeClaim", f"{mounts} {cfg['spool']['dir']}")
    expect(docs["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteOnce"],
           "the spool's claim is ReadWriteOnce")
    # The probes' paths are served by the real handler, from this ini.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "feedhandler.ini")
        with open(path, "w") as f:
            f.write(text)
        got = probe_statuses(path, sorted(set(probes.values())))
    expect(got.pop("/no-such-path") == 404, "an unknown path is 404 (the check means something)")
    expect(got["/healthz"] == 200, "/healthz answers 200 while the loop runs", str(got))
    for p_, st in got.items():
        expect(st in (200, 503), f"the probe path {p_} is served (200 or 503, not {st})")
    if shutil.which("kubectl"):
        p = run(["kubectl", "kustomize", K8S])
        expect(p.returncode == 0, "kubectl kustomize deploy/k8s builds", p.stderr)
        kinds = sorted(d["kind"] for d in yaml.safe_load_all(p.stdout) if d)
        expect(kinds == sorted(docs), "kustomize yields the four objects", str(kinds))
    print(f"deploy.k8s: probes {got}")


def case_lint():
    skipped = []
    for tool in (os.path.join(DEPLOY, "docker", "lint"), os.path.join(K8S, "validate")):
        p = run(["sh", tool], timeout=120)
        if p.returncode == SKIP:
            skipped.append(p.stderr.strip())
            continue
        expect(p.returncode == 0, f"{os.path.relpath(tool, SRC)} passes",
               f"rc={p.returncode}\n{p.stdout}\n{p.stderr}")
        print(p.stdout.strip())
    if skipped:
        skip("; ".join(skipped))


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    CASES[CASE]()
    print(f"deploy.{CASE}: ok")
