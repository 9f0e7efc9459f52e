"""``durability``: ``kitlib serve --data-dir`` killed with SIGKILL mid-rollout, and restarted.

``run_kills(plan)`` drives a real ``kitlib serve --data-dir DIR`` child process
over HTTPS: a Deployment and a CloneSet roll out a new image per round (patched
with the official ``kubernetes`` client), a writer thread creates and patches
ConfigMaps without pause, a watcher thread follows every pod event, and a clock
advance is in flight when the server is killed (``kill -9`` after a wall delay
drawn from ``random.Random(plan.seed)``). The server is restarted on the same
DIR each time. Checked (each failure is a line in ``problems``):

* every acknowledged write (the HTTP answer arrived: kind, name, RV) is in the
  restarted server's history at the same RV, with the same object version;
* the RV counter continues above everything a client saw before the kill;
* the watcher resumes from its last RV after each restart (or gets 410 and
  relists), its RVs only grow, and its cache equals a final list of the pods;
* the rollouts converge (every replica updated and ready).

``tests/reliability/test_durability.py`` runs a short plan; ``python -m
benchmarks durability`` a longer one, and the write-cost and recovery-time
measurements of ``--data-dir`` (``measure_write_cost``, ``measure_recovery``).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import urllib3

from benchmarks import Row, check
from benchmarks.load_client import Connection

__all__ = ["CrashPlan", "CrashResult", "measure_recovery", "measure_write_cost", "run",
           "run_kills"]

NS = "default"
_KINDS = {"configmaps": "/api/v1", "deployments": "/apis/apps/v1",
          "clonesets": "/apis/apps.kruise.io/v1alpha1"}
MERGE = "application/merge-patch+json"


@dataclass(frozen=True)
class CrashPlan:
    seed: int = 0
    #: SIGKILLs (each followed by a restart on the same directory).
    kills: int = 3
    nodes: int = 4
    replicas: int = 6
    #: Simulated seconds per ClockAdvance while a kill is pending.
    advance: float = 4.0
    #: The wall delay before each kill is drawn from this range (seconds).
    kill_after: tuple[float, float] = (0.1, 1.0)
    #: Give up on convergence after this many simulated seconds.
    converge_within: float = 900.0


@dataclass
class CrashResult:
    kills: int = 0
    acknowledged: int = 0
    #: Acknowledged writes found at their RV after restarts (summed over restarts).
    verified: int = 0
    watch_events: int = 0
    resumes: int = 0
    relists: int = 0
    #: Wall seconds from the kill to the restarted server writing its kubeconfig.
    restart_seconds: list[float] = field(default_factory=list)
    converged_at: float | None = None
    final_rv: int = 0
    db_bytes: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the server process --------------------------------------------------------------------

class Server:
    """``kitlib serve --data-dir`` as a child process, restarted on the same directory."""

    def __init__(self, work: Path, *, nodes: int, seed: int) -> None:
        self.work = work
        self.data_dir = work / "data"
        self.kubeconfig = work / "kubeconfig"
        self.log = work / "serve.log"
        self.args = [sys.executable, "-m", "kitlib", "serve", "--data-dir", str(self.data_dir),
                     "--kubeconfig", str(self.kubeconfig), "--nodes", str(nodes),
                     "--seed", str(seed)]
        self.child: subprocess.Popen[bytes] | None = None
        self.generation = 0

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for the kubeconfig; returns the wall seconds it took."""
        self.kubeconfig.unlink(missing_ok=True)
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.child = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stderr=log,
                                          stdout=log)
        while not self.kubeconfig.exists():
            if self.child.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"kitlib serve did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)
        self.generation += 1
        return time.monotonic() - started

    def connect(self, read_timeout: float = 30.0) -> Connection:
        return Connection(self.kubeconfig, read_timeout=read_timeout)

    def kill(self) -> None:
        assert self.child is not None
        self.child.send_signal(signal.SIGKILL)
        self.child.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.child is None or self.child.poll() is not None:
            return self.child.returncode if self.child else 0
        self.child.send_signal(signal.SIGTERM)
        try:
            return self.child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


@contextlib.contextmanager
def official_client(kubeconfig: Path) -> Iterator[Any]:
    """An official ``kubernetes`` ApiClient for the kubeconfig, closed afterwards."""
    from kubernetes import config as kube_config

    api = kube_config.new_client_from_config(str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


# -- clients ---------------------------------------------------------------------------------

@dataclass
class Ack:
    kind: str
    name: str
    rv: int


class Acks:
    """Acknowledged writes, shared by the threads that make them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Ack] = []

    def add(self, kind: str, obj: dict[str, Any]) -> int:
        rv = int(obj["metadata"]["resourceVersion"])
        with self.lock:
            self.items.append(Ack(kind, obj["metadata"]["name"], rv))
        return rv

    def snapshot(self) -> list[Ack]:
        with self.lock:
            return list(self.items)


class ConfigMapWriter(threading.Thread):
    """Creates ConfigMaps and patches earlier ones, without pause, across restarts."""

    def __init__(self, server: Server, acks: Acks) -> None:
        super().__init__(name="durability-writer", daemon=True)
        self.server, self.acks = server, acks
        self.stop = threading.Event()
        self.count = 0
        self.errors = 0

    def run(self) -> None:
        conn: Connection | None = None
        while not self.stop.is_set():
            try:
                conn = conn or self.server.connect(read_timeout=10.0)
                self._write(conn)
            except Exception:  # the server was killed: this write is not acknowledged
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    def _write(self, conn: Connection) -> None:
        i = self.count
        self.count += 1
        base = f"/api/v1/namespaces/{NS}/configmaps"
        if i % 3 == 2:
            status, body = conn.request("PATCH", f"{base}/cm-{i - 2}",
                                        {"data": {"patched": str(i)}}, content_type=MERGE)
            expected = (200, 404)  # 404: its create was not acknowledged (killed)
        else:
            status, body = conn.request("POST", base, {"metadata": {"name": f"cm-{i}"},
                                                       "data": {"i": str(i)}})
            expected = (201, 409)  # 409: created, but the answer was lost with the server
        if status in (200, 201):
            self.acks.add("configmaps", body)
        elif status not in expected:
            raise RuntimeError(f"unexpected {status}: {body}")


class PodWatcher(threading.Thread):
    """Follows every pod event across restarts: resumes from its last RV, relists on 410."""

    def __init__(self, server: Server, rv: int, pods: dict[str, int]) -> None:
        super().__init__(name="durability-watcher", daemon=True)
        self.server = server
        self.rv = rv
        self.cache = dict(pods)
        self.stop_at: int | None = None
        self.events = self.resumes = self.relists = 0
        self.problems: list[str] = []
        self.done = threading.Event()
        self._broken = False

    def run(self) -> None:
        try:
            while not self.done.is_set():
                try:
                    self._follow()
                except urllib3.exceptions.ReadTimeoutError:
                    pass  # idle: watch again from the same RV
                except (urllib3.exceptions.HTTPError, OSError):
                    self._broken = True  # the server went away: resume from the last RV
                    time.sleep(0.05)
        finally:
            self.done.set()

    def _follow(self) -> None:
        conn = self.server.connect()
        try:
            response = conn.stream(f"/api/v1/pods?watch=1&resourceVersion={self.rv}"
                                   "&allowWatchBookmarks=true")
            if response.status == 200 and self._broken:
                self.resumes += 1
                self._broken = False
            for event in _lines(response):
                if self._reached(event):
                    self.done.set()
                    return
                self._apply(conn, event)
        finally:
            conn.close()

    def _reached(self, event: dict[str, Any]) -> bool:
        """True at the first event past ``stop_at``: the cache is then the state at it."""
        if self.stop_at is None or event["type"] == "ERROR":
            return False
        return int(event["object"]["metadata"]["resourceVersion"]) > self.stop_at

    def _apply(self, conn: Connection, event: dict[str, Any]) -> None:
        obj = event["object"]
        if event["type"] == "ERROR":
            if obj.get("code") != 410:
                self.problems.append(f"watch error {obj}")
                return
            self.relists += 1
            status, listed = conn.request("GET", "/api/v1/pods")
            if status != 200:
                raise urllib3.exceptions.HTTPError(f"relist answered {status}")
            self.cache = {_key(p): int(p["metadata"]["resourceVersion"])
                          for p in listed["items"]}
            self.rv = int(listed["metadata"]["resourceVersion"])
            raise urllib3.exceptions.HTTPError("relisted")  # watch again from the list's RV
        rv = int(obj["metadata"]["resourceVersion"])
        if event["type"] == "BOOKMARK":
            self.rv = max(self.rv, rv)
            return
        if rv <= self.rv:
            self.problems.append(f"pod event at RV {rv} after RV {self.rv} (out of order)")
        self.rv = rv
        self.events += 1
        if event["type"] == "DELETED":
            self.cache.pop(_key(obj), None)
        else:
            self.cache[_key(obj)] = rv


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[dict[str, Any]]:
    buffer = b""
    try:
        for chunk in response.stream(65536):
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                if line.strip():
                    yield orjson.loads(line)
    finally:
        response.release_conn()


class Advancer(threading.Thread):
    """Advances the clock again and again until the server goes away (or ``stop``)."""

    def __init__(self, server: Server, seconds: float) -> None:
        super().__init__(name="durability-advancer", daemon=True)
        self.server, self.seconds = server, seconds
        self.stop = threading.Event()

    def run(self) -> None:
        conn = self.server.connect()
        try:
            while not self.stop.is_set():
                advance(conn, self.seconds)
        except (urllib3.exceptions.HTTPError, OSError):
            pass  # killed
        finally:
            conn.close()


def advance(conn: Connection, seconds: float) -> None:
    status, body = conn.request("POST", "/apis/sim.kitlib.io/v1alpha1/clockadvances",
                                {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "ClockAdvance",
                                 "spec": {"seconds": seconds}})
    if status != 201:
        raise RuntimeError(f"clock advance answered {status}: {body}")


# -- the scenario ----------------------------------------------------------------------------

def _labels(app: str) -> dict[str, Any]:
    return {"matchLabels": {"app": app}}


def _template(app: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def _create_workloads(api: Any, acks: Acks, replicas: int) -> None:
    from kubernetes import client as k8s

    apps = k8s.AppsV1Api(api)
    manifest: Any = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": _labels("web"),
                 "template": _template("web", "nginx:v0")}}
    created = apps.create_namespaced_deployment(NS, manifest)
    acks.add("deployments", api.sanitize_for_serialization(created))
    cloneset = k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        "apps.kruise.io", "v1alpha1", NS, "clonesets", {
            "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": {"name": "cs"},
            "spec": {"replicas": replicas, "selector": _labels("cs"),
                     "template": _template("cs", "nginx:v0"),
                     "updateStrategy": {"type": "ReCreate", "maxUnavailable": 2}}})
    acks.add("clonesets", typing.cast(dict[str, Any], cloneset))


def _roll(api: Any, acks: Acks, image: str) -> None:
    from kubernetes import client as k8s

    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    patched = k8s.AppsV1Api(api).patch_namespaced_deployment("web", NS, patch)
    acks.add("deployments", api.sanitize_for_serialization(patched))
    acks.add("clonesets", typing.cast(dict[str, Any], k8s.CustomObjectsApi(
        api).patch_namespaced_custom_object("apps.kruise.io", "v1alpha1", NS, "clonesets", "cs",
                                            patch)))


def verify_acknowledged(conn: Connection, acks: list[Ack]) -> tuple[int, list[str]]:
    """Every acknowledged write is in the server's history at its RV: replays each kind's
    watch from just before the oldest one. Returns (writes verified, problems)."""
    problems: list[str] = []
    verified = 0
    for kind, prefix in _KINDS.items():
        mine = [a for a in acks if a.kind == kind]
        if not mine:
            continue
        start, last = min(a.rv for a in mine) - 1, max(a.rv for a in mine)
        seen: dict[int, str] = {}
        response = conn.stream(f"{prefix}/{kind}?watch=1&resourceVersion={start}")
        with contextlib.suppress(urllib3.exceptions.ReadTimeoutError):
            for event in _lines(response):
                obj = event["object"]
                if event["type"] == "ERROR":
                    problems.append(f"{kind}: history from RV {start} refused: {obj}")
                    break
                rv = int(obj["metadata"]["resourceVersion"])
                seen[rv] = obj["metadata"]["name"]
                if rv >= last:
                    break
        for ack in mine:
            if seen.get(ack.rv) != ack.name:
                problems.append(f"acknowledged {kind} {ack.name} at RV {ack.rv} is missing "
                                f"after the restart (found {seen.get(ack.rv)!r} there)")
            else:
                verified += 1
    return verified, problems


def _rolled_out(conn: Connection, replicas: int, image: str) -> bool:
    _, deployment = conn.request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    _, cloneset = conn.request("GET", f"/apis/apps.kruise.io/v1alpha1/namespaces/{NS}/clonesets/cs")
    _, pods = conn.request("GET", f"/api/v1/namespaces/{NS}/pods")
    images = [p["spec"]["containers"][0]["image"] for p in pods["items"]]
    d, c = deployment.get("status", {}), cloneset.get("status", {})
    return (d.get("updatedReplicas") == d.get("availableReplicas") == d.get("replicas")
            == replicas and c.get("updatedReadyReplicas") == c.get("replicas") == replicas
            and c.get("observedGeneration") == cloneset["metadata"]["generation"]
            and len(images) == 2 * replicas and set(images) == {image})


def run_kills(plan: CrashPlan, work: Path | None = None) -> CrashResult:
    """The scenario of the module docstring; a fresh temporary directory unless ``work``."""
    owned = work is None
    work = Path(tempfile.mkdtemp(prefix="kitlib-durability-")) if work is None else work
    server = Server(work, nodes=plan.nodes, seed=plan.seed)
    try:
        return _scenario(plan, server)
    finally:
        server.stop()
        if owned:
            shutil.rmtree(work, ignore_errors=True)


def _scenario(plan: CrashPlan, server: Server) -> CrashResult:
    rng = random.Random(plan.seed)
    result, acks = CrashResult(), Acks()
    server.start()
    with official_client(server.kubeconfig) as api:
        _create_workloads(api, acks, plan.replicas)
    conn = server.connect()
    advance(conn, 30.0)
    _, pods = conn.request("GET", "/api/v1/pods")
    conn.close()
    watcher = PodWatcher(server, int(pods["metadata"]["resourceVersion"]),
                         {_key(p): int(p["metadata"]["resourceVersion"]) for p in pods["items"]})
    writer = ConfigMapWriter(server, acks)
    watcher.start()
    writer.start()
    try:
        image = "nginx:v0"
        for round_ in range(plan.kills):
            image = f"nginx:v{round_ + 1}"
            _kill_round(plan, server, rng, result, acks, image, watcher)
        _converge(plan, server, result, image)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    _check_watch(server, watcher, result)
    conn = server.connect()
    verified, problems = verify_acknowledged(conn, acks.snapshot())
    conn.close()
    result.verified += verified
    result.problems += problems
    result.acknowledged = len(acks.snapshot())
    result.db_bytes = sum(f.stat().st_size for f in server.data_dir.glob("store.db*"))
    return result


def _kill_round(plan: CrashPlan, server: Server, rng: random.Random, result: CrashResult,
                acks: Acks, image: str, watcher: PodWatcher) -> None:
    with official_client(server.kubeconfig) as api:
        _roll(api, acks, image)
    advancer = Advancer(server, plan.advance)
    advancer.start()
    time.sleep(rng.uniform(*plan.kill_after))
    server.kill()
    seen_before = max(max(a.rv for a in acks.snapshot()), watcher.rv)
    advancer.join(timeout=30)
    result.kills += 1
    result.restart_seconds.append(server.start())
    conn = server.connect()
    try:
        verified, problems = verify_acknowledged(conn, acks.snapshot())
        result.verified += verified
        result.problems += problems
        status, body = conn.request("POST", f"/api/v1/namespaces/{NS}/configmaps",
                                    {"metadata": {"generateName": "probe-"}})
        rv = int(body["metadata"]["resourceVersion"]) if status == 201 else 0
        if rv <= seen_before:
            result.problems.append(f"after restart {result.kills} a write got RV {rv}, not "
                                   f"above {seen_before} (acknowledged before the kill)")
    finally:
        conn.close()


def _converge(plan: CrashPlan, server: Server, result: CrashResult, image: str) -> None:
    conn = server.connect()
    try:
        elapsed = 0.0
        while elapsed < plan.converge_within:
            if _rolled_out(conn, plan.replicas, image):
                _, clock = conn.request("GET", "/apis/sim.kitlib.io/v1alpha1/clocks/cluster")
                result.converged_at = float(clock["status"]["seconds"])
                return
            advance(conn, 10.0)
            elapsed += 10.0
        result.problems.append(f"the rollouts to {image} did not converge within "
                               f"{plan.converge_within:g} simulated seconds")
    finally:
        conn.close()


def _check_watch(server: Server, watcher: PodWatcher, result: CrashResult) -> None:
    conn = server.connect()
    _, pods = conn.request("GET", "/api/v1/pods")
    listed = {_key(p): int(p["metadata"]["resourceVersion"]) for p in pods["items"]}
    watcher.stop_at = int(pods["metadata"]["resourceVersion"])
    # A pod event after the list's RV: the watcher stops there, with the state at that RV.
    status, _ = conn.request("POST", f"/api/v1/namespaces/{NS}/pods", {
        "metadata": {"name": "sentinel"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    conn.close()
    check(status == 201, f"sentinel pod: {status}")
    if not watcher.done.wait(60):
        result.problems.append(f"the watcher did not reach RV {watcher.stop_at} (at {watcher.rv})")
    watcher.join(timeout=10)
    result.watch_events, result.resumes, result.relists = (watcher.events, watcher.resumes,
                                                           watcher.relists)
    result.final_rv = watcher.stop_at
    result.problems += watcher.problems
    if watcher.cache != listed:
        lost = sorted(set(listed.items()) ^ set(watcher.cache.items()))[:5]
        result.problems.append(f"the watch cache differs from a list of the pods: {lost}")


# -- cost and recovery measurements ------------------------------------------------------------

def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_write_cost(n: int, *, flush_every: int = 1) -> dict[str, float]:
    """Seconds to create ``n`` pods in-process (``store_create``) without and with a data
    directory flushed every ``flush_every`` creates (1: as the API server, per request);
    CPU seconds too, since the machine may be shared."""
    from benchmarks.objects import pod
    from kitlib.cluster.embedded import EmbeddedCluster
    from kitlib.store.persist import DataDir

    out: dict[str, float] = {}
    for label in ("memory", "data_dir"):
        cluster = EmbeddedCluster()
        manifests = [pod(i) for i in range(n)]
        with tempfile.TemporaryDirectory() as tmp:
            data = None
            if label == "data_dir":
                data = DataDir(Path(tmp) / "d", settings={})
                data.attach(cluster.store, rng_states=cluster.engine.rng_states)
            flush = data.flush if data is not None else (lambda: None)
            cpu, wall = time.process_time(), time.perf_counter()
            for i, manifest in enumerate(manifests):
                cluster.store.create("pods", manifest)
                if (i + 1) % flush_every == 0:
                    flush()
            flush()
            out[f"{label}_seconds"] = time.perf_counter() - wall
            out[f"{label}_cpu_seconds"] = time.process_time() - cpu
            if data is not None:
                out["wal_bytes"] = data.size()  # database + WAL while running
                data.close()  # checkpoints the WAL into the database
                out["db_bytes"] = data.size()
        check(cluster.store.count("pods") == n, "pods missing")
    return out


def measure_recovery(n: int) -> dict[str, float]:
    """Seconds to open a data directory holding ``n`` pods and rebuild the cluster from it
    (``open_data_dir``: read + parse + ``EmbeddedCluster.from_state``)."""
    from benchmarks.objects import pod
    from kitlib.apiserver.server import open_data_dir
    from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d"
        settings = ClusterSettings()
        data, _ = open_data_dir(path, settings)
        cluster = EmbeddedCluster(settings)
        data.attach(cluster.store, rng_states=cluster.engine.rng_states)
        for i in range(n):
            cluster.store.create("pods", pod(i))
            if i % 1000 == 999:
                data.flush()
        rv = cluster.store.resource_version
        data.close()
        size = sum(f.stat().st_size for f in path.glob("store.db*"))
        start, cpu = time.perf_counter(), time.process_time()
        data, rebuilt = open_data_dir(path, settings)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        check(rebuilt is not None and rebuilt.store.count("pods") == n
              and rebuilt.store.resource_version == rv, "recovery lost pods")
        data.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "db_bytes": size}


def run(quick: bool) -> list[Row]:
    n = 1_000 if quick else 10_000
    cost = measure_write_cost(n)
    rows = [Row("store_create without --data-dir", n, cost["memory_seconds"],
                n / cost["memory_seconds"], "pods/s",
                note=f"CPU {cost['memory_cpu_seconds']:.2f} s"),
            Row("store_create with --data-dir (flush per create)", n, cost["data_dir_seconds"],
                n / cost["data_dir_seconds"], "pods/s",
                note=f"CPU {cost['data_dir_cpu_seconds']:.2f} s; "
                f"DB {cost['db_bytes'] / 1e6:.1f} MB",
                extra=cost)]
    for size in ((1_000,) if quick else (10_000, 100_000)):
        found = measure_recovery(size)
        rows.append(Row("recovery from --data-dir", size, found["seconds"], size /
                        found["seconds"], "objects/s",
                        note=f"CPU {found['cpu_seconds']:.2f} s; DB {found['db_bytes'] / 1e6:.1f} "
                        "MB", extra=found))
    plan = CrashPlan(kills=3) if quick else CrashPlan(kills=10, seed=1)
    start = time.perf_counter()
    crash = run_kills(plan)
    check(crash.problems == [], f"durability problems: {crash.problems}")
    rows.append(Row("kill -9 mid-rollout, restart, verify", plan.kills,
                    time.perf_counter() - start, None,
                    note=f"{crash.verified} acknowledged-write checks passed, "
                    f"{crash.watch_events} pod events, {crash.resumes} watch resumes, "
                    f"{crash.relists} relists", extra=crash.as_dict()))
    return rows
