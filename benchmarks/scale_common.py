"""What the cluster-at-scale groups share: sizes, child processes, pod tallies, stepping.

* **Sizes.** Each group has quick sizes (CI, ``--quick``) and issue 8's full sizes;
  ``KITLIB_BENCH_SCALE`` (a positive float, default 1) multiplies the full sizes, so
  ``KITLIB_BENCH_SCALE=0.01 python -m benchmarks --only cluster_scale`` runs 1,000 pods
  instead of 100,000 (``scaled``).
* **Child processes.** Each size runs in a fresh ``python -m benchmarks.<group> --child
  JSON`` process (``run_child``) that prints one JSON object; the child reports its own
  peak RSS (``ru_maxrss`` of ``RUSAGE_SELF``), so one size never inflates the next and the
  runner's heap stays small. It has ``kitlib serve``'s GC thresholds, as the process that
  holds a notebook's embedded cluster does.
* **Tallies.** ``PodTally`` is a store subscriber on pods that keeps counts of pods by a
  small state key (which image a container has in its spec and runs, available or not),
  updating them in O(1) per committed event and recording the peak of derived gauges
  (unavailable pods) after every event: budgets are checked at every write, never by
  scanning the pods.
* **Stepping.** ``run_until`` steps the engine event by event until a predicate (O(1),
  from a tally) holds, with a simulated-time cap that raises ``BenchmarkFailed``; the
  simulated convergence time is exact, not rounded to a chunk.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from benchmarks import BenchmarkFailed, GcTimer, check
from benchmarks.harness import ROOT
from kitlib.apiserver.server import tune_gc
from kitlib.cluster.embedded import EmbeddedCluster
from kitlib.cluster.kruise.sidecarset.upgrade import normalize_image
from kitlib.cluster.podutil import is_terminating
from kitlib.store.watch import WatchEvent

__all__ = ["SCALE_ENV", "Mark", "Phase", "PodTally", "check_memory", "child_main", "clocks", "container_images",
           "peak_rss_mb", "run_child", "run_until", "scaled", "stepping"]

Obj = dict[str, Any]
SCALE_ENV = "KITLIB_BENCH_SCALE"
#: Wall seconds a child may take before it is killed (a hang guard, not a target).
CHILD_TIMEOUT_ENV = "KITLIB_BENCH_CHILD_TIMEOUT"
#: Engine events per batch of ``stepping`` (it yields between batches; ``done`` and the
#: simulated-time cap are checked after every event).
_BATCH = 20_000


def scaled(full: int, *, minimum: int = 1) -> int:
    """``full`` multiplied by ``KITLIB_BENCH_SCALE`` (default 1), at least ``minimum``."""
    raw = os.environ.get(SCALE_ENV, "1")
    try:
        factor = float(raw)
    except ValueError:
        raise BenchmarkFailed(f"{SCALE_ENV}={raw!r}: expected a positive number, "
                              "e.g. 0.01") from None
    check(factor > 0, f"{SCALE_ENV}={raw!r}: expected a positive number, e.g. 0.01")
    return max(minimum, round(full * factor))


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (10^6 bytes; Linux reports ``ru_maxrss``
    in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def run_child(group: str, params: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Run ``python -m benchmarks.<group> --child PARAMS`` and return the JSON it prints.

    A failure in the child (``BenchmarkFailed`` or any error) becomes ``BenchmarkFailed``
    here, quoting the end of its stderr.
    """
    timeout = float(os.environ.get(CHILD_TIMEOUT_ENV, timeout))
    check_memory(group, params)
    args = [sys.executable, "-m", f"benchmarks.{group}", "--child",
            orjson.dumps(params).decode()]
    try:
        done = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BenchmarkFailed(f"{group} {params}: the child process took more than "
                              f"{timeout:.0f} s of wall time ({CHILD_TIMEOUT_ENV} raises "
                              "this guard)") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-3000:]
        raise BenchmarkFailed(f"{group} {params}: child exited with {done.returncode}:\n{tail}")
    lines = done.stdout.decode().strip().splitlines()
    check(lines, f"{group} {params}: the child printed no result")
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result


#: Peak RSS per pod of the in-process groups, measured at 10,000 pods (cluster_scale:
#: 1.54 GB with its ReCreate phase): pod objects, their Events (kept as JSON) and the
#: versions in the watch history.
RSS_PER_POD_MB = 0.16


def check_memory(group: str, params: dict[str, Any]) -> None:
    """Fail at once, saying why, when a size cannot fit in this machine's available memory
    (rather than let the kernel's OOM killer end the child, or the machine, hours later)."""
    pods = int(params.get("pods") or 0) or \
        int(params.get("apps") or 0) * int(params.get("per_app") or 0)
    need = pods * RSS_PER_POD_MB
    available = _available_mb()
    if available is not None and need > available:
        raise BenchmarkFailed(
            f"{group} at {pods:,} pods needs about {need / 1024:.0f} GB of memory "
            f"({RSS_PER_POD_MB * 1000:.0f} KB per pod) and this machine has "
            f"{available / 1024:.1f} GB available: run a fraction of the full sizes with "
            f"{SCALE_ENV}=0.1 (10,000 pods)")


def _available_mb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child_main(measure: Callable[..., dict[str, Any]]) -> int:
    """Entry point of a group's child: ``--child JSON`` → ``print(json(measure(**params)))``.

    The child gets ``kitlib serve``'s GC thresholds (``tune_gc``): notebooks and
    ``kitlib.connect()`` run the embedded cluster in such a process. The result gains
    ``peak_rss_mb`` and ``gc_seconds`` (time in the cyclic collector, all phases)."""
    check(len(sys.argv) == 3 and sys.argv[1] == "--child",
          f"usage: python -m {measure.__module__} --child JSON")
    params = orjson.loads(sys.argv[2])
    tune_gc()
    with GcTimer() as gc_time:
        result = measure(**params)
    result["peak_rss_mb"] = peak_rss_mb()
    result["gc_seconds"] = gc_time.seconds
    print(orjson.dumps(result).decode(), flush=True)
    return 0


def container_images(pod: Obj, container: str) -> tuple[str, str]:
    """(spec image, running image — normalized as the runtime reports it, or "") of
    ``container`` in ``pod``."""
    spec = ""
    for c in pod["spec"]["containers"]:
        if c["name"] == container:
            spec = normalize_image(c["image"])
            break
    running = ""
    for s in (pod.get("status") or {}).get("containerStatuses") or ():
        if s.get("name") == container:
            if "running" in (s.get("state") or {}):
                running = normalize_image(str(s.get("image", "")))
            break
    return spec, running


#: A pod's state as a tally counts it: a small tuple (images, flags).
Key = tuple[Any, ...]
Gauge = Callable[[Counter[Key]], int]


@dataclass
class PodTally:
    """Pods counted by ``classify(pod) -> key`` (None: not counted; terminating pods never
    are), kept up to date by a store subscriber in O(1) per event.

    ``gauges`` are functions of the counts evaluated after every event that changed a
    count; ``peaks`` holds each gauge's maximum since ``reset_peaks``. A gauge must be
    cheap (it reads a handful of counters).
    """

    classify: Callable[[Obj], Key | None]
    gauges: dict[str, Gauge] = field(default_factory=dict)
    counts: Counter[Key] = field(default_factory=Counter)
    peaks: dict[str, int] = field(default_factory=dict)
    events: int = 0
    _state: dict[str, Key] = field(default_factory=dict)

    def attach(self, cluster: EmbeddedCluster) -> PodTally:
        cluster.store.subscribe("pods", self.on_event)
        return self

    def on_event(self, event: WatchEvent) -> None:
        self.events += 1
        obj = event.obj
        uid = obj["metadata"]["uid"]
        new = None if event.type == "DELETED" or is_terminating(obj) else self.classify(obj)
        old = self._state.get(uid)
        if old == new:
            return
        if old is not None:
            self.counts[old] -= 1
        if new is None:
            self._state.pop(uid, None)
        else:
            self._state[uid] = new
            self.counts[new] += 1
        for name, gauge in self.gauges.items():
            value = gauge(self.counts)
            if value > self.peaks.get(name, -1):
                self.peaks[name] = value

    def reset_peaks(self) -> None:
        self.peaks = {name: gauge(self.counts) for name, gauge in self.gauges.items()}

    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Phase:
    """Wall seconds, CPU seconds of this process, simulated seconds and engine events of
    one timed phase (the CPU time is the steadier number on a shared machine)."""

    wall: float
    cpu: float
    simulated: float
    events: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall if self.wall > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"wall": self.wall, "cpu": self.cpu, "simulated": self.simulated,
                "events": self.events, "events_per_wall_second": self.events_per_second}


@dataclass(frozen=True)
class Mark:
    """Where a phase started: wall clock (``time.perf_counter``), process CPU time,
    simulated time, engine events."""

    wall: float
    cpu: float
    simulated: float
    events: int

    @classmethod
    def take(cls, cluster: EmbeddedCluster, *, wall: float | None = None,
             cpu: float | None = None) -> Mark:
        return cls(time.perf_counter() if wall is None else wall,
                   time.process_time() if cpu is None else cpu, cluster.engine.now,
                   cluster.engine.events_processed)

    def phase(self, cluster: EmbeddedCluster) -> Phase:
        """The phase from this mark until now."""
        return Phase(time.perf_counter() - self.wall, time.process_time() - self.cpu,
                     cluster.engine.now - self.simulated,
                     cluster.engine.events_processed - self.events)


def stepping(cluster: EmbeddedCluster, done: Callable[[], bool], *, cap: float, what: str,
             batch: int = _BATCH) -> Iterator[None]:
    """Step the engine until ``done()`` (checked after every event), yielding after every
    ``batch`` events; fail after ``cap`` simulated seconds or when nothing is left to run."""
    engine = cluster.engine
    sim0 = engine.now
    deadline = sim0 + cap

    def stop() -> bool:
        return done() or engine.now > deadline

    while not done():
        if engine.now > deadline:
            raise BenchmarkFailed(f"{what}: not done after {cap:g} simulated seconds")
        if engine.run(stop, max_events=batch) == 0 and not done():
            raise BenchmarkFailed(f"{what}: the cluster went idle before it was done "
                                  f"(at {engine.now - sim0:g} simulated seconds)")
        yield


def run_until(cluster: EmbeddedCluster, done: Callable[[], bool], *, cap: float,
              what: str, started: tuple[float, float] | None = None) -> Phase:
    """``stepping`` to the end; the phase from ``started`` (``clocks()`` taken when it
    began, if before this call) until ``done()``, simulated time exact to the event."""
    wall, cpu = started if started is not None else clocks()
    mark = Mark.take(cluster, wall=wall, cpu=cpu)
    for _ in stepping(cluster, done, cap=cap, what=what):
        pass
    return mark.phase(cluster)


def clocks() -> tuple[float, float]:
    """(wall clock, process CPU time) now: where a phase that starts before its cluster
    or before its first write begins."""
    return time.perf_counter(), time.process_time()
