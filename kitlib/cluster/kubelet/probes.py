"""Probes, evaluated against the app's simulated health — without ticking.

Nothing is executed: the app's behaviour (``behaviour.py``) says *when* it answers
a probe, as a window ``[start, end)`` of simulated time. A probe of a container
started at ``S`` runs at ``S + initialDelaySeconds + k × periodSeconds`` (k ≥ 0), so
the moment its result flips is plain arithmetic: the first run inside (or outside)
the window, plus ``threshold − 1`` periods. The kubelet schedules exactly that
moment instead of a timer per period, which is what lets 100,000 pods carry probes.

Defaults are upstream's (``api:core/v1/types.go Probe``): initialDelaySeconds 0,
periodSeconds 10, timeoutSeconds 1, successThreshold 1 (always 1 for liveness and
startup), failureThreshold 3. The timeout plays no part: a simulated app answers at
once or not at all.

Simplification (documented in ``docs/simulation.md``): probe runs are anchored at the
container's start. Upstream's prober worker ticks from when it was created and is
also triggered right after a container starts, so its first runs land within a
period of these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Probe", "Window", "failure_streak", "startup_outcome", "success_streak"]

#: Tolerance when placing a time on the probe grid (float sums of periods).
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Window:
    """When the app answers a probe: from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: float
    end: float | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str  #: "Readiness", "Liveness" or "Startup", as in event messages
    initial_delay: float = 0.0
    period: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3
    handler: str = "httpGet"
    port: str = ""
    #: ``terminationGracePeriodSeconds`` of a liveness or startup probe (overrides the pod's).
    termination_grace: float | None = None

    @classmethod
    def of(cls, container: Mapping[str, Any], kind: str) -> Probe | None:
        """The container's ``<kind>Probe`` with defaults applied, or None."""
        spec = container.get(f"{kind.lower()}Probe")
        if not isinstance(spec, Mapping):
            return None
        success = _positive_int(spec.get("successThreshold"), 1)
        handler = next((h for h in ("httpGet", "tcpSocket", "grpc", "exec") if h in spec),
                       "httpGet")
        port = (spec.get(handler) or {}).get("port", "") if handler != "exec" else ""
        grace = spec.get("terminationGracePeriodSeconds")
        return cls(kind=kind, initial_delay=max(0.0, _number(spec.get("initialDelaySeconds"), 0)),
                   period=max(1.0, _number(spec.get("periodSeconds"), 10)),
                   success_threshold=1 if kind != "Readiness" else success,
                   failure_threshold=_positive_int(spec.get("failureThreshold"), 3),
                   handler=handler, port=str(port),
                   termination_grace=None if grace is None else float(grace))

    def run_at_or_after(self, started: float, t: float) -> float:
        """The first run of this probe at or after ``t``."""
        origin = started + self.initial_delay
        if t <= origin:
            return origin
        return origin + math.ceil((t - origin) / self.period - _EPSILON) * self.period

    def failure_message(self, pod_ip: str | None) -> str:
        """What the kubelet's ``Unhealthy`` event says after ``<Kind> probe failed: ``."""
        if self.handler == "tcpSocket":
            return f"dial tcp {pod_ip or '127.0.0.1'}:{self.port}: connect: connection refused"
        if self.handler == "grpc":
            return 'service unhealthy (responded with "NOT_SERVING")'
        if self.handler == "exec":
            return "command exited with non-zero status 1"
        return "HTTP probe failed with statuscode: 503"


def success_streak(probe: Probe, started: float, not_before: float,
                   window: Window) -> float | None:
    """When ``successThreshold`` consecutive runs at or after ``not_before`` have all
    fallen inside ``window`` (the result flips to Success); None if that never happens."""
    first = probe.run_at_or_after(started, max(not_before, window.start))
    last = first + (probe.success_threshold - 1) * probe.period
    if window.end is not None and last >= window.end - _EPSILON:
        return None
    return last


def failure_streak(probe: Probe, started: float, not_before: float,
                   window: Window) -> float | None:
    """When ``failureThreshold`` consecutive runs at or after ``not_before`` have all
    fallen outside ``window`` (the result flips to Failure); None if never."""
    need = (probe.failure_threshold - 1) * probe.period
    first = probe.run_at_or_after(started, not_before)
    passing = probe.run_at_or_after(started, max(not_before, window.start))
    if window.end is not None and passing >= window.end - _EPSILON:
        return first + need  # no run falls inside the window: every run fails
    if first + need < passing - _EPSILON:
        return first + need  # the streak completes before the first passing run
    if window.end is None:
        return None
    return probe.run_at_or_after(started, max(not_before, window.end)) + need


def startup_outcome(probe: Probe, started: float,
                    window: Window) -> tuple[float, bool] | None:
    """When a startup probe decides, and whether it succeeded (False: the container is
    killed after ``failureThreshold`` failures); None if it never decides."""
    success = success_streak(probe, started, started, window)
    failure = failure_streak(probe, started, started, window)
    if success is None and failure is None:
        return None
    if failure is None or (success is not None and success <= failure):
        assert success is not None
        return success, True
    return failure, False


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return float(default)
    return float(value)


def _positive_int(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return default
    return value
