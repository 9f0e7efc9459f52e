"""``load``: concurrent writers and watchers against a ``kitlib serve`` process.

A real ``kitlib serve`` (its own process, HTTPS, bearer token, stepped clock)
gets one namespace per writer, each with a Deployment ``web``. Writer
processes then run ``writers`` clients that create, replace, patch and delete
ConfigMaps and scale and patch their Deployment as fast as the server answers
(closed loop, no think time; the mix is ``benchmarks.load_client.MIX``), while
watcher processes run ``watchers`` clients, each watching the ConfigMaps and
the Deployments of one writer's namespace from the resourceVersion listed
before the writers started. Clients are spread over several processes (threads
within them), so a client process's GIL does not cap the load.

What is asserted (``LoadResult.problems`` must stay empty):

* every request is answered with the expected code: no 5xx, no 4xx at all
  (each writer owns its namespace, so there is nothing to conflict with);
* no lost watch event: every acknowledged write's resourceVersion appears
  exactly once, in order, with the right event type and name, at every watch
  of that kind and namespace (``check_stream``); a 410 must be followed by a
  relist that equals the acknowledged writes up to the list's resourceVersion
  (for ConfigMaps, which only the writers write, exactly; for Deployments,
  which controllers also write, the same names at no older versions); and the
  ConfigMaps that only writers write show no event that no writer made;
* at the end each namespace's ConfigMaps are exactly what the writers left;
* the server logged no traceback.

Reported: requests and writes per second, latency percentiles per verb
(p50/p90/p99/max, nearest rank, client-measured, TLS included), events
checked, resumes and relists, and the server's RSS before and after.
``--quick`` runs 6 writers and 6 watchers for 5 s; the full run 50 + 50 for
120 s. ``tests/reliability/test_load_short.py`` runs 10 + 10 for 10 s.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from benchmarks import BenchmarkFailed, Row
from benchmarks.harness import ROOT, wait_ready
from benchmarks.load_client import DEPLOYMENT, Connection

__all__ = ["LoadPlan", "LoadResult", "check_stream", "percentiles", "run", "run_load"]

#: Writes: [name, rv, event type], in resourceVersion order.
Writes = list[tuple[str, int, str]]


@dataclass(frozen=True)
class LoadPlan:
    """How much load: clients, duration, and how many processes per role share them."""

    writers: int = 50
    watchers: int = 50
    seconds: float = 120.0
    processes: int = 5
    #: Wall seconds the watchers get, after the writers stop, to catch up.
    drain_timeout: float = 60.0
    seed: int = 0


@dataclass
class LoadResult:
    plan: LoadPlan
    elapsed: float = 0.0
    requests: int = 0
    #: verb -> {"count", "p50", "p90", "p99", "max"} (seconds)
    latencies: dict[str, dict[str, float]] = field(default_factory=dict)
    streams: int = 0
    events_checked: int = 0
    resumes: int = 0
    relists: int = 0
    rss_start: int = 0
    rss_end: int = 0
    #: What the server holds at the end: objects per kind (``_COUNTED``) and its last RV.
    stored: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "throughput": self.throughput}


# -- checks (pure) -----------------------------------------------------------------------------

def percentiles(samples: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p90/p99 and the maximum of ``samples``, their count, and how many
    took over a second (``over_1s``: stalls, which percentiles hide)."""
    ordered = sorted(samples)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, int(q * n + 0.999999) - 1))]

    return {"count": n, "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99),
            "max": ordered[-1], "over_1s": sum(1 for x in ordered if x > 1.0)}


def _state_at(initial: dict[str, int], writes: Writes, rv: int) -> dict[str, int]:
    """Name -> resourceVersion after the acknowledged writes up to ``rv``."""
    state = dict(initial)
    for name, wrv, kind in writes:
        if wrv > rv:
            break
        if kind == "DELETED":
            state.pop(name, None)
        else:
            state[name] = wrv
    return state


def _relist_problems(label: str, listed: dict[str, int], expected: dict[str, int], rv: int, *,
                     exact: bool) -> list[str]:
    if exact and listed != expected:
        return [f"{label}: the relist at RV {rv} is not what the writers wrote: "
                f"{sorted(set(listed.items()) ^ set(expected.items()))[:5]}"]
    if listed.keys() != expected.keys():
        return [f"{label}: the relist at RV {rv} has names {sorted(listed)[:5]}, the writers' "
                f"{sorted(expected)[:5]}"]
    stale = [n for n, v in listed.items() if not expected[n] <= v <= rv]
    return [f"{label}: the relist at RV {rv} shows {stale[:5]} at an impossible version"] \
        if stale else []


def check_stream(stream: dict[str, Any], writes: Writes, initial: dict[str, int], *,
                 exact: bool) -> tuple[int, list[str]]:
    """Check one watch against the acknowledged writes of its kind and namespace.

    ``stream["segments"]`` is what ``load_client.Stream`` recorded: the first
    starts at the watch's RV, each later one at a relist after a 410 (its items
    ``{name: rv}``). Every write either falls between the last event before a
    relist and that relist (the list then covers it, and must match the writes
    up to its RV) or appears exactly once as an event, in RV order, with its
    type and name. ``exact``: only the writers write this kind, so an event no
    writer made is a problem too. Returns (writes checked, problems).
    """
    label = f"{stream['namespace']}/{stream['kind']}"
    problems: list[str] = []
    seen: dict[int, tuple[str, str]] = {}
    covered: list[tuple[int, int]] = []
    last = int(stream["segments"][0]["start"])
    for segment in stream["segments"]:
        if segment["relist"] is not None:
            rv = int(segment["start"])
            if rv < last:
                problems.append(f"{label}: a relist at RV {rv} went back from {last}")
            covered.append((last, rv))
            problems += _relist_problems(label, segment["relist"],
                                         _state_at(initial, writes, rv), rv, exact=exact)
            last = max(last, rv)
        for kind, rv, name in segment["events"]:
            if rv <= last:
                problems.append(f"{label}: {kind} {name} at RV {rv} came after RV {last} "
                                "(duplicated or out of order)")
                continue
            seen[rv] = (kind, name)
            last = rv
    checked = 0
    for name, rv, kind in writes:
        if any(after < rv <= upto for after, upto in covered):
            continue
        checked += 1
        if seen.get(rv) != (kind, name):
            got = seen.get(rv)
            problems.append(f"{label}: the write {kind} {name} at RV {rv} was "
                            + ("never delivered" if got is None else f"delivered as {got}"))
    if exact:
        phantom = sorted(set(seen) - {rv for _, rv, _ in writes})
        if phantom:
            problems.append(f"{label}: events no writer made at RVs {phantom[:5]}")
    return checked, problems


# -- the run -----------------------------------------------------------------------------------

class _Server:
    """``kitlib serve`` as a child process (exits when our pipe to its stdin closes)."""

    def __init__(self, directory: Path) -> None:
        self.kubeconfig = directory / "kubeconfig"
        self.log = directory / "server.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kitlib", "serve", "--kubeconfig", str(self.kubeconfig),
                 "--exit-with-stdin"], cwd=ROOT, stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while not self.kubeconfig.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchmarkFailed(f"kitlib serve did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def stop(self) -> str:
        """Stop the server; returns its log."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text()


def _setup(kubeconfig: Path, writers: int) -> tuple[int, dict[str, dict[str, int]]]:
    """One namespace and Deployment per writer; returns the start RV and the initial
    state of every (namespace/kind) stream."""
    api = Connection(kubeconfig)
    try:
        for i in range(writers):
            ns = f"load-{i}"
            _expect(api.request("POST", "/api/v1/namespaces",
                                {"metadata": {"name": ns}}), 201)
            _expect(api.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments",
                                _deployment()), 201)
        _status, listed = api.request("GET", "/api/v1/namespaces")
        start = int(listed["metadata"]["resourceVersion"])
        initial: dict[str, dict[str, int]] = {}
        for i in range(writers):
            for kind, group in (("configmaps", "/api/v1"), ("deployments", "/apis/apps/v1")):
                _, items = api.request("GET", f"{group}/namespaces/load-{i}/{kind}")
                initial[f"load-{i}/{kind}"] = {o["metadata"]["name"]: int(
                    o["metadata"]["resourceVersion"]) for o in items["items"]}
        return start, initial
    finally:
        api.close()


def _deployment() -> dict[str, Any]:
    labels = {"app": DEPLOYMENT}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": DEPLOYMENT},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": "nginx:1.27"}]}}}}


def _expect(answer: tuple[int, dict[str, Any]], code: int) -> dict[str, Any]:
    status, body = answer
    if status != code:
        raise BenchmarkFailed(f"setup: expected {code}, got {status}: {body.get('message')}")
    return body


class _Clients:
    """The client processes of one role, started from spec files in ``directory``."""

    def __init__(self, directory: Path, role: str, groups: list[list[int]],
                 common: dict[str, Any]) -> None:
        self.outputs: list[Path] = []
        self.children: list[subprocess.Popen[str]] = []
        for n, indices in enumerate(groups):
            spec, out = directory / f"{role}-{n}.json", directory / f"{role}-{n}.out.json"
            spec.write_bytes(orjson.dumps({**common, "role": role, "indices": indices,
                                           "out": str(out)}))
            self.outputs.append(out)
            self.children.append(subprocess.Popen(
                [sys.executable, "-m", "benchmarks.load_client", str(spec)], cwd=ROOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))

    def wait_ready(self, timeout: float = 60) -> None:
        for child in self.children:
            wait_ready(child, timeout=timeout)

    def send(self, line: str) -> None:
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write(line + "\n")
            child.stdin.flush()

    def results(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        for child in self.children:
            code = child.wait(timeout=max(1.0, deadline - time.monotonic()))
            if code != 0:
                raise BenchmarkFailed(f"a client process exited with {code}")
        return [orjson.loads(out.read_bytes()) for out in self.outputs]

    def kill(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()


def _split(n: int, parts: int) -> list[list[int]]:
    parts = max(1, min(parts, n))
    return [list(range(n))[i::parts] for i in range(parts)]


def run_load(plan: LoadPlan) -> LoadResult:
    """Run ``plan`` against a fresh ``kitlib serve``; the result lists every problem."""
    if plan.watchers > plan.writers:
        raise ValueError("each watcher watches one writer's namespace: watchers <= writers")
    result = LoadResult(plan)
    with tempfile.TemporaryDirectory(prefix="kitlib-load-") as tmp:
        directory = Path(tmp)
        server = _Server(directory)
        roles: list[_Clients] = []
        try:
            start, initial = _setup(server.kubeconfig, plan.writers)
            common = {"kubeconfig": str(server.kubeconfig), "seconds": plan.seconds,
                      "seed": plan.seed, "start_rv": start, "drain_timeout": plan.drain_timeout}
            watchers = _Clients(directory, "watch", _split(plan.watchers, plan.processes),
                                common)
            roles.append(watchers)
            watchers.wait_ready()
            writers = _Clients(directory, "write", _split(plan.writers, plan.processes), common)
            roles.append(writers)
            writers.wait_ready()
            result.rss_start = server.rss()
            writers.send("go")
            written = writers.results(plan.seconds + 120)
            watchers.send("stop " + orjson.dumps(_targets(written)).decode())
            watched = watchers.results(plan.drain_timeout + 60)
            result.rss_end = server.rss()
            _final_state(server.kubeconfig, written, initial, result)
            result.stored = _stored(server.kubeconfig)
        finally:
            for role in roles:
                role.kill()
            log = server.stop()
        _summarize(result, written, watched, initial)
        if "Traceback" in log or "internal error" in log:
            result.problems.append(f"the server logged an error: {log[-2000:]}")
    return result


def _writes_by_stream(written: list[dict[str, Any]]) -> dict[str, Writes]:
    by_stream: dict[str, Writes] = {}
    for process in written:
        for writer in process["writers"]:
            for kind, name, rv, event in writer["writes"]:
                by_stream.setdefault(f"{writer['namespace']}/{kind}", []).append(
                    (name, int(rv), event))
    for writes in by_stream.values():
        writes.sort(key=lambda w: w[1])
    return by_stream


def _targets(written: list[dict[str, Any]]) -> dict[str, int]:
    return {key: writes[-1][1] for key, writes in _writes_by_stream(written).items() if writes}


def _final_state(kubeconfig: Path, written: list[dict[str, Any]],
                 initial: dict[str, dict[str, int]], result: LoadResult) -> None:
    """Each namespace's ConfigMaps are exactly what its writer left."""
    by_stream = _writes_by_stream(written)
    api = Connection(kubeconfig)
    try:
        for key, start in initial.items():
            ns, kind = key.split("/")
            if kind != "configmaps":
                continue
            _, listed = api.request("GET", f"/api/v1/namespaces/{ns}/configmaps")
            got = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"])
                   for o in listed["items"]}
            expected = _state_at(start, by_stream.get(key, []), sys.maxsize)
            if got != expected:
                result.problems.append(f"{key}: the stored ConfigMaps differ from the writes: "
                                       f"{sorted(set(got.items()) ^ set(expected.items()))[:5]}")
    finally:
        api.close()


#: Kinds whose object counts the result reports (what the server's memory holds).
_COUNTED = {"configmaps": "/api/v1/configmaps", "events": "/api/v1/events",
            "pods": "/api/v1/pods", "replicasets": "/apis/apps/v1/replicasets"}


def _stored(kubeconfig: Path) -> dict[str, int]:
    """Objects per kind in ``_COUNTED`` (one-item pages: the server counts the rest) and
    ``resourceVersion``, the number of writes the server committed in all."""
    api = Connection(kubeconfig)
    try:
        counts = {}
        for kind, path in _COUNTED.items():
            listed = _expect(api.request("GET", f"{path}?limit=1"), 200)
            meta = listed["metadata"]
            counts[kind] = len(listed["items"]) + int(meta.get("remainingItemCount") or 0)
        counts["resourceVersion"] = int(meta["resourceVersion"])
        return counts
    finally:
        api.close()


def _summarize(result: LoadResult, written: list[dict[str, Any]],
               watched: list[dict[str, Any]], initial: dict[str, dict[str, int]]) -> None:
    latencies: dict[str, list[float]] = {}
    for process in written:
        result.elapsed = max(result.elapsed, process["elapsed"])
        for writer in process["writers"]:
            result.problems += [f"writer {writer['index']}: {e}" for e in writer["errors"]]
            for verb, samples in writer["latencies"].items():
                latencies.setdefault(verb, []).extend(samples)
    result.requests = sum(len(s) for s in latencies.values())
    result.latencies = {verb: percentiles(s) for verb, s in sorted(latencies.items())}
    by_stream = _writes_by_stream(written)
    for process in watched:
        for stream in process["streams"]:
            key = f"{stream['namespace']}/{stream['kind']}"
            result.problems += [f"watch {key}: {e}" for e in stream["errors"]]
            checked, problems = check_stream(stream, by_stream.get(key, []), initial[key],
                                             exact=stream["kind"] == "configmaps")
            result.streams += 1
            result.events_checked += checked
            result.problems += problems
            result.resumes += stream["resumes"]
            result.relists += sum(1 for s in stream["segments"] if s["relist"] is not None)


# -- the benchmark group -----------------------------------------------------------------------

QUICK = LoadPlan(writers=6, watchers=6, seconds=5.0, processes=2, drain_timeout=30.0)
FULL = LoadPlan()


def run(quick: bool) -> list[Row]:
    plan = QUICK if quick else FULL
    result = run_load(plan)
    if result.problems:
        raise BenchmarkFailed(f"{len(result.problems)} problems under load; first: "
                              + "; ".join(result.problems[:5]))
    label = f"{plan.writers} writers + {plan.watchers} watchers, {plan.seconds:g} s"
    rows = [Row(f"load: {label}", result.requests, result.elapsed, result.throughput,
                "requests/s", note=f"{result.events_checked:,} events checked over "
                f"{result.streams} watches, {result.relists} relists, {result.resumes} resumes; "
                f"server RSS {result.rss_start / 2**20:.0f} -> {result.rss_end / 2**20:.0f} MiB "
                f"holding {_counts(result.stored)}; no 5xx/4xx, no event lost",
                extra=result.as_dict())]
    for verb, p in result.latencies.items():
        rows.append(Row(f"load: {verb} latency p50", int(p["count"]), p["p50"],
                        note=f"p90 {p['p90'] * 1e3:.1f} ms, p99 {p['p99'] * 1e3:.1f} ms, "
                        f"max {p['max'] * 1e3:.1f} ms, {p['over_1s']:.0f} over 1 s", extra=p))
    return rows


def _counts(stored: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in stored.items() if kind in _COUNTED)
