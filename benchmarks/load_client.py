"""The client side of ``load``: writer and watcher processes.

``python -m benchmarks.load_client SPEC.json`` runs the writers or the watchers
named in the spec, each in its own thread with its own HTTPS connection (raw
urllib3 with the kubeconfig's CA and bearer token, so that a client costs
little CPU and the server is what is measured). Several such processes share
the clients, so the GIL of one Python process does not cap the load.

Protocol with the parent (``benchmarks.load``), one line each way on
stdin/stdout:

* the child prints ``ready`` once its connections are open (watchers: every
  watch has answered 200);
* writers wait for ``go`` on stdin, write for ``seconds``, then write their
  results and exit;
* watchers read until ``stop <json>`` arrives on stdin — the highest
  acknowledged resourceVersion per stream — and each stream has reached it (or
  ``drain_timeout`` passed), then write their results and exit.

**Writer mix** (``MIX``, weights out of 100, drawn from ``random.Random(seed +
index)``): create a ConfigMap 25, replace one (PUT with its resourceVersion) 15,
merge-patch one 20, delete one 10, scale the namespace's Deployment through
its ``scale`` subresource 15, merge-patch the Deployment's annotations 15.
Each writer owns one namespace, so no write can conflict with another
client's; every response code other than the one expected is an error.

**Watchers** each watch ConfigMaps and Deployments in one writer's namespace
(two streams) from the resourceVersion the parent listed before the writers
started, so nothing is missed while connecting. A stream that ends is resumed
from the last resourceVersion seen; a ``410 Expired`` is answered with a list
and a watch from the list's resourceVersion — a new *segment*, whose list the
parent checks against the acknowledged writes (``benchmarks.load.check_stream``).
"""

from __future__ import annotations

import base64
import random
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3
import yaml

__all__ = ["MIX", "Connection", "main"]

#: Operation -> weight (out of 100); see the module docstring.
MIX: dict[str, int] = {"create": 25, "replace": 15, "patch": 20, "delete": 10,
                       "scale": 15, "patch-deployment": 15}
#: What each operation's request is answered with when it succeeds.
EXPECTED_STATUS = {"create": 201, "replace": 200, "patch": 200, "delete": 200, "scale": 200,
                   "patch-deployment": 200}
DEPLOYMENT = "web"
#: Read timeout of a watch: a stream idle that long is resumed from its last RV (short, so
#: that a stream already at its target notices the stop soon).
WATCH_IDLE = 2.0
MERGE = "application/merge-patch+json"


class Connection:
    """One keep-alive HTTPS connection to the API server, authenticated by the kubeconfig."""

    def __init__(self, kubeconfig: Path, *, read_timeout: float = 60.0) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        url = urlsplit(cluster["server"])
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        context = ssl.create_default_context(cadata=ca)
        self.token = config["users"][0]["user"]["token"]
        self.headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        self.pool = urllib3.HTTPSConnectionPool(
            url.hostname, url.port, maxsize=1, block=True, ssl_context=context,
            timeout=urllib3.Timeout(connect=10.0, read=read_timeout), retries=False)

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        """Send one request; returns the status and the decoded JSON body."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = content_type
        response = self.pool.request(method, path, body=data, headers=headers)
        return response.status, orjson.loads(response.data) if response.data else {}

    def stream(self, path: str) -> urllib3.BaseHTTPResponse:
        return self.pool.request("GET", path, headers=self.headers, preload_content=False,
                                 timeout=urllib3.Timeout(connect=10.0, read=WATCH_IDLE))

    def close(self) -> None:
        self.pool.close()


# -- writers -----------------------------------------------------------------------------------

@dataclass
class Writer:
    """One writing client: its namespace, its ConfigMaps, and what it recorded."""

    index: int
    namespace: str
    connection: Connection
    rng: random.Random
    replicas: int = 1
    configmaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: int = 0
    #: verb -> latencies (seconds) of its successful requests
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: acknowledged writes: [kind, name, rv, event type]
    writes: list[list[Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, seconds: float) -> None:
        ops, weights = list(MIX), list(MIX.values())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(self.errors) < 20:
            op = self.rng.choices(ops, weights)[0]
            if op in ("replace", "patch", "delete") and not self.configmaps:
                op = "create"
            try:
                self.do(op)
            except Exception as exc:  # a broken connection is an error to report, not a crash
                self.errors.append(f"{op}: {type(exc).__name__}: {exc}"[:300])

    def do(self, op: str) -> None:
        base = f"/api/v1/namespaces/{self.namespace}/configmaps"
        deployment = f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{DEPLOYMENT}"
        if op == "create":
            name = f"cm-{self.index}-{self.created}"
            self.created += 1
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "labels": {"writer": str(self.index)}},
                    "data": {"n": "0"}}
            self.send(op, "configmaps", "ADDED", "POST", base, body)
        elif op == "replace":
            obj = self.configmaps[self.pick()]
            obj = {**obj, "data": {"n": str(int(obj["data"]["n"]) + 1)}}
            self.send(op, "configmaps", "MODIFIED", "PUT", f"{base}/{obj['metadata']['name']}",
                      obj)
        elif op == "patch":
            name = self.pick()
            n = int(self.configmaps[name]["data"]["n"]) + 1
            self.send(op, "configmaps", "MODIFIED", "PATCH", f"{base}/{name}",
                      {"data": {"n": str(n)}}, content_type=MERGE)
        elif op == "delete":
            self.send(op, "configmaps", "DELETED", "DELETE", f"{base}/{self.pick()}")
        elif op == "scale":
            self.replicas = (self.replicas + 1) % 3
            self.send(op, "deployments", "MODIFIED", "PATCH", f"{deployment}/scale",
                      {"spec": {"replicas": self.replicas}}, content_type=MERGE)
        else:
            self.send(op, "deployments", "MODIFIED", "PATCH", deployment,
                      {"metadata": {"annotations": {"load/n": str(len(self.writes))}}},
                      content_type=MERGE)

    def pick(self) -> str:
        return self.rng.choice(sorted(self.configmaps))

    def send(self, op: str, kind: str, event: str, method: str, path: str, body: Any = None,
             *, content_type: str = "application/json") -> None:
        started = time.perf_counter()
        status, result = self.connection.request(method, path, body, content_type=content_type)
        elapsed = time.perf_counter() - started
        if status != EXPECTED_STATUS[op]:
            self.errors.append(f"{op} {method} {path}: {status} {result.get('reason')}: "
                               f"{result.get('message')}"[:300])
            return
        self.latencies.setdefault(op, []).append(elapsed)
        meta = result["metadata"]
        if kind == "configmaps":
            if event == "DELETED":
                self.configmaps.pop(meta["name"])
            else:
                self.configmaps[meta["name"]] = result
        self.writes.append([kind, meta.get("name", DEPLOYMENT), int(meta["resourceVersion"]),
                            event])


# -- watchers ----------------------------------------------------------------------------------

@dataclass
class Stream:
    """One watch (a kind in a namespace), kept open across stream ends and 410s."""

    kind: str
    namespace: str
    connection: Connection
    rv: int
    #: {"start": rv, "relist": {name: rv} | None, "events": [[type, rv, name], ...]}
    segments: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0
    errors: list[str] = field(default_factory=list)
    target: int | None = None
    response: urllib3.BaseHTTPResponse | None = None

    @property
    def path(self) -> str:
        group = "/api/v1" if self.kind == "configmaps" else "/apis/apps/v1"
        return f"{group}/namespaces/{self.namespace}/{self.kind}"

    def open(self) -> None:
        if not self.segments:
            self.segments.append({"start": self.rv, "relist": None, "events": []})
        response = self.connection.stream(f"{self.path}?watch=1&resourceVersion={self.rv}"
                                          f"&allowWatchBookmarks=true&timeoutSeconds=600")
        if response.status != 200:
            raise RuntimeError(f"watch {self.path} answered {response.status}")
        self.response = response

    def done(self) -> bool:
        return self.target is not None and self.rv >= self.target

    def follow(self, deadline: list[float]) -> None:
        """Read until the target is reached (or the drain deadline passes)."""
        expired = False
        while not self.done() and time.monotonic() < deadline[0] and len(self.errors) < 20:
            try:
                if expired:
                    self.relist()
                if self.response is None:
                    self.open()
                expired = self.read()
            except urllib3.exceptions.ReadTimeoutError:
                expired = False  # idle: resume from the last RV (as client-go re-watches)
            except Exception as exc:
                self.errors.append(f"{self.path}: {type(exc).__name__}: {exc}"[:300])
                expired = False
            self.release()
            if not self.done():
                self.resumes += 1

    def read(self) -> bool:
        """Read events until the target or the stream's end; True after a 410."""
        assert self.response is not None
        buffer = b""
        for chunk in self.response.stream(None, decode_content=False):
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                if line and self.handle(orjson.loads(line)):
                    return True
            if self.done():
                return False
        return False

    def handle(self, event: dict[str, Any]) -> bool:
        """Record one event; True for a 410 (the caller relists, then watches again)."""
        kind, obj = event["type"], event["object"]
        if kind == "ERROR":
            if obj.get("code") != 410:
                raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
            return True
        rv = int(obj["metadata"]["resourceVersion"])
        if kind != "BOOKMARK":
            self.segments[-1]["events"].append([kind, rv, obj["metadata"]["name"]])
        self.rv = max(self.rv, rv)
        return False

    def relist(self) -> None:
        status, listed = self.connection.request("GET", self.path)
        if status != 200:
            raise RuntimeError(f"relist of {self.path} answered {status}")
        self.rv = int(listed["metadata"]["resourceVersion"])
        items = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"])
                 for o in listed["items"]}
        self.segments.append({"start": self.rv, "relist": items, "events": []})

    def release(self) -> None:
        """Give the connection back closed: a watch is never read to its end, so the
        connection cannot be reused (the pool reconnects)."""
        if self.response is not None:
            self.response.close()
            self.response.release_conn()
            self.response = None

    def result(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "segments": self.segments,
                "resumes": self.resumes, "errors": self.errors, "final_rv": self.rv}


# -- the process -------------------------------------------------------------------------------

def _writers(spec: dict[str, Any]) -> dict[str, Any]:
    kubeconfig = Path(spec["kubeconfig"])
    writers = [Writer(i, f"load-{i}", Connection(kubeconfig), random.Random(spec["seed"] + i))
               for i in spec["indices"]]
    for w in writers:  # open the connection now, so that "go" starts every writer at once
        w.connection.request("GET", f"/api/v1/namespaces/{w.namespace}")
    _say("ready")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")
    threads = [threading.Thread(target=w.run, args=(spec["seconds"],), name=f"writer-{w.index}")
               for w in writers]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    for w in writers:
        w.connection.close()
    return {"elapsed": elapsed, "writers": [
        {"index": w.index, "namespace": w.namespace, "latencies": w.latencies,
         "writes": w.writes, "errors": w.errors} for w in writers]}


def _watchers(spec: dict[str, Any]) -> dict[str, Any]:
    kubeconfig = Path(spec["kubeconfig"])
    streams = [Stream(kind, f"load-{i}", Connection(kubeconfig), int(spec["start_rv"]))
               for i in spec["indices"] for kind in ("configmaps", "deployments")]
    for s in streams:
        s.open()
    _say("ready")
    deadline = [float("inf")]
    threads = [threading.Thread(target=s.follow, args=(deadline,),
                                name=f"watch-{s.namespace}-{s.kind}") for s in streams]
    for t in threads:
        t.start()
    line = sys.stdin.readline().split(" ", 1)
    if line[0] != "stop":
        raise SystemExit("expected 'stop <targets>' on stdin")
    targets = orjson.loads(line[1])
    for s in streams:
        s.target = int(targets.get(f"{s.namespace}/{s.kind}", s.rv))
    deadline[0] = time.monotonic() + float(spec["drain_timeout"])
    for t in threads:
        t.join()
    for s in streams:
        s.release()
        s.connection.close()
    return {"streams": [s.result() for s in streams]}


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    spec = orjson.loads(Path(argv[0]).read_bytes())
    result = _writers(spec) if spec["role"] == "write" else _watchers(spec)
    out = Path(spec["out"])
    with tempfile.NamedTemporaryFile(dir=out.parent, delete=False) as handle:
        handle.write(orjson.dumps(result))
    Path(handle.name).replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
