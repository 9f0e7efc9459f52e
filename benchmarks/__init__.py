"""kitlib's benchmarks: timing claims live here, not in unit tests.

``python -m benchmarks`` runs every scenario group and prints one table; see
``docs/performance.md`` for what each scenario measures and the numbers on a
reference machine. Every benchmark checks the end state of what it timed (all
objects listed, every watch event received once and in order, ...) and raises
``BenchmarkFailed`` when it is wrong: a fast wrong answer is a failure.

Each scenario group is a module with ``run(quick: bool) -> list[Row]``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "GROUPS",
    "BenchmarkFailed",
    "GcTimer",
    "Row",
    "best_and_median",
    "check",
    "machine_info",
]

#: Scenario groups, in run order: name -> module (``benchmarks.<name>``).
GROUPS = ("store_create", "list_pods_api", "cache_sync", "watch_throughput", "kubectl_get_pods",
          "podboard_browser", "load",
          # the cluster at scale (issue 8's scenario rows; KITLIB_BENCH_SCALE shrinks them)
          "cluster_scale", "sidecarset_scale", "drain_pdb", "watch_rollout", "notebook_suite",
          "idle_rss",
          # kitlib serve --data-dir: write cost, recovery time, kill -9 mid-rollout
          "durability")


class BenchmarkFailed(AssertionError):
    """What a benchmark timed did not end in the expected state."""


def check(condition: object, message: str) -> None:
    """Fail loudly (also under ``python -O``) when ``condition`` is false."""
    if not condition:
        raise BenchmarkFailed(message)


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    size: int
    #: Wall seconds of the timed part (the best run when repeated).
    seconds: float | None
    rate: float | None = None
    unit: str = ""
    #: Human-readable target, e.g. ``<= 0.3 s``; empty when the scenario has none.
    target: str = ""
    met: bool | None = None
    note: str = ""
    skipped: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GcTimer:
    """``with GcTimer() as t:`` — wall seconds this process spent in cyclic GC (``t.seconds``)
    and the number of collections (``t.collections``), in any thread."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def best_and_median(samples: Sequence[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or _cpu_model(),
    }
    with contextlib.suppress(AttributeError):  # not Linux
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, AttributeError):
        info["loadavg_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    for dist in ("kitlib", "kubernetes", "orjson", "uvicorn", "starlette", "urllib3"):
        info[f"{dist}_version"] = _version(dist)
    return info


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
