"""App behaviour and node faults, as data: annotations and ``Image`` objects.

A simulated container runs no code; what its app does is described by **knobs**,
read in this order (a later source overrides an earlier one, knob by knob):

1. the kubelet's defaults (``KubeletSettings``; init containers complete at once);
2. ``spec.behavior`` of the ``Image`` object describing the container's image (what
   a *version* does: "v2 crashes after 30 s");
3. pod annotations ``sim.kitlib.io/<knob>`` (usually set in a workload's template);
4. per-container pod annotations ``sim.kitlib.io/<container>.<knob>``.

Knobs (seconds are plain numbers, measured from the container instance's start):

================================  =====================================================
``start-seconds``                 create + start of a container (image already present)
``ready-after-seconds``           the app answers readiness/startup probes from then on
``unready-after-seconds``         ... and stops answering readiness probes from then on
``crash-after-seconds``           the app exits by itself (exit code 1 unless ``exit-code``)
``complete-after-seconds``        the app exits by itself (exit code 0 unless ``exit-code``)
``crash-on-start``                ``"true"`` (every container) or container names: exits at once
``exit-code``                     the code of those exits
``liveness-fails-after-seconds``  the app hangs: liveness and readiness probes fail from then
``stop-seconds``                  time the app needs to stop after SIGTERM
``prestop-seconds``               time the ``preStop`` hook takes (default: read from the hook)
================================  =====================================================

``crash-after``, ``complete-after`` and ``crash-on-start`` are one setting (when the
app exits by itself): the most specific source wins. Probes see behaviour only through
probes: without a readiness probe a container is ready as soon as it has started, as on
a real cluster. Knobs are re-read whenever the pod changes; a changed knob takes effect
from that moment (never retroactively).

Node faults are node annotations: ``sim.kitlib.io/down`` (the node's kubelet and
containers stop: no heartbeats, no status, frozen pods), ``…/pull-bandwidth`` (bytes
per second, e.g. ``"10e6"``), ``…/not-ready`` and ``…/memory-pressure``,
``…/disk-pressure``, ``…/pid-pressure`` (the conditions the kubelet posts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from kitlib.cluster.kubelet.probes import Window

__all__ = [
    "KNOBS",
    "PREFIX",
    "Behaviour",
    "NodeFaults",
    "annotation_problems",
    "image_behaviour_problems",
    "node_faults",
    "resolve_behaviour",
]

PREFIX = "sim.kitlib.io/"


@dataclass(frozen=True, slots=True)
class Behaviour:
    start_seconds: float = 1.0
    ready_after_seconds: float = 0.0
    unready_after_seconds: float | None = None
    exit_after_seconds: float | None = None
    exit_code: int = 1
    liveness_fails_after_seconds: float | None = None
    stop_seconds: float = 1.0
    prestop_seconds: float | None = None

    def health(self, started: float) -> Window:
        """When the app answers readiness and startup probes."""
        ends = [started + s for s in (self.unready_after_seconds,
                                      self.liveness_fails_after_seconds) if s is not None]
        return Window(started + self.ready_after_seconds, min(ends) if ends else None)

    def liveness(self, started: float) -> Window:
        """When the app answers liveness probes."""
        fails = self.liveness_fails_after_seconds
        return Window(-math.inf, None if fails is None else started + fails)


@dataclass(frozen=True, slots=True)
class _Knob:
    field: str
    camel: str  #: the key in an Image's ``spec.behavior``
    parse: Callable[[Any], Any]
    exit_code: int | None = None  #: for the "exits by itself" knobs: their default code


def _seconds(value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ValueError("must be a number of seconds, at least 0")
    return number


def _exit_code(value: Any) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 0 <= int(text) <= 255:
        raise ValueError("must be an exit code from 0 to 255")
    return int(text)


def _true(value: Any) -> float:
    if value is True or str(value).strip().lower() == "true":
        return 0.0
    raise ValueError('must be "true" (or, on the pod, a comma-separated list of containers)')


#: Every knob: annotation name -> where it goes.
KNOBS: dict[str, _Knob] = {
    "start-seconds": _Knob("start_seconds", "startSeconds", _seconds),
    "ready-after-seconds": _Knob("ready_after_seconds", "readyAfterSeconds", _seconds),
    "unready-after-seconds": _Knob("unready_after_seconds", "unreadyAfterSeconds", _seconds),
    "crash-after-seconds": _Knob("exit_after_seconds", "crashAfterSeconds", _seconds, 1),
    "complete-after-seconds": _Knob("exit_after_seconds", "completeAfterSeconds", _seconds, 0),
    "crash-on-start": _Knob("exit_after_seconds", "crashOnStart", _true, 1),
    "exit-code": _Knob("exit_code", "exitCode", _exit_code),
    "liveness-fails-after-seconds": _Knob("liveness_fails_after_seconds",
                                          "livenessFailsAfterSeconds", _seconds),
    "stop-seconds": _Knob("stop_seconds", "stopSeconds", _seconds),
    "prestop-seconds": _Knob("prestop_seconds", "prestopSeconds", _seconds),
}
_BY_CAMEL = {knob.camel: name for name, knob in KNOBS.items()}


def resolve_behaviour(*, defaults: Behaviour, image: Mapping[str, Any],
                      annotations: Mapping[str, str], container: str
                      ) -> tuple[Behaviour, list[str]]:
    """The behaviour of ``container`` and the problems found in the pod's annotations."""
    chosen: dict[str, tuple[str, Any]] = {}  # field -> (knob name, value)
    problems: list[str] = []
    for camel, raw in sorted(image.items()):
        name = _BY_CAMEL.get(camel)
        if name is not None and (camel != "crashOnStart" or raw is True):
            _choose(chosen, name, raw, problems, where=f"Image spec.behavior.{camel}")
    for key, raw in sorted(annotations.items()):
        if key.startswith(PREFIX) and "." not in key[len(PREFIX):]:
            _pod_knob(chosen, key[len(PREFIX):], raw, container, problems)
    for key, raw in sorted(annotations.items()):
        if key.startswith(PREFIX + container + "."):
            _choose(chosen, key[len(PREFIX) + len(container) + 1:], raw, problems,
                    where=key)
    return _build(defaults, chosen), problems


def annotation_problems(annotations: Mapping[str, str], containers: list[str]) -> list[str]:
    """Everything wrong with a pod's ``sim.kitlib.io/`` annotations: unknown knobs, bad
    values, and per-container annotations naming a container the pod does not have."""
    if not any(key.startswith(PREFIX) for key in annotations):
        return []
    problems: set[str] = set()
    for container in containers:
        problems.update(resolve_behaviour(defaults=Behaviour(), image={},
                                          annotations=annotations, container=container)[1])
    for key in annotations:
        name = key[len(PREFIX):] if key.startswith(PREFIX) else ""
        if "." in name and name.split(".", 1)[0] not in containers:
            problems.add(f"{key}: the pod has no container {name.split('.', 1)[0]!r}")
    return sorted(problems)


def _pod_knob(chosen: dict[str, tuple[str, Any]], name: str, raw: str, container: str,
              problems: list[str]) -> None:
    if name == "crash-on-start" and str(raw).strip().lower() not in ("true", "false"):
        names = {n.strip() for n in str(raw).split(",")}
        if container in names:
            _choose(chosen, name, "true", problems, where=PREFIX + name)
        return
    _choose(chosen, name, raw, problems, where=PREFIX + name)


def _choose(chosen: dict[str, tuple[str, Any]], name: str, raw: Any, problems: list[str], *,
            where: str) -> None:
    knob = KNOBS.get(name)
    if knob is None:
        problems.append(f"{where}: unknown knob {name!r} (known: {', '.join(KNOBS)})")
        return
    if name == "crash-on-start" and str(raw).strip().lower() == "false":
        return
    try:
        chosen[knob.field] = (name, knob.parse(raw))
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: invalid value {raw!r}: {exc}")


def _build(defaults: Behaviour, chosen: dict[str, tuple[str, Any]]) -> Behaviour:
    values = {field: value for field, (_, value) in chosen.items()}
    exit_knob = chosen.get("exit_after_seconds")
    if "exit_code" not in values and exit_knob is not None:
        values["exit_code"] = KNOBS[exit_knob[0]].exit_code
    return replace(defaults, **values)


def image_behaviour_problems(behavior: Any) -> list[str]:
    """Validation of an ``Image``'s ``spec.behavior`` (used by its admission)."""
    if behavior is None:
        return []
    if not isinstance(behavior, Mapping):
        return ["spec.behavior: Invalid value: must be an object"]
    problems = []
    for camel, raw in sorted(behavior.items()):
        name = _BY_CAMEL.get(camel)
        if name is None:
            problems.append(f"spec.behavior.{camel}: Unsupported value: known fields are "
                            f"{', '.join(sorted(_BY_CAMEL))}")
            continue
        if camel == "crashOnStart":
            if not isinstance(raw, bool):
                problems.append(f"spec.behavior.{camel}: Invalid value: {raw!r}: must be a "
                                "boolean")
            continue
        try:
            KNOBS[name].parse(raw)
        except (TypeError, ValueError) as exc:
            problems.append(f"spec.behavior.{camel}: Invalid value: {raw!r}: {exc}")
    return problems


# -- node faults ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NodeFaults:
    down: bool = False
    not_ready: bool = False
    memory_pressure: bool = False
    disk_pressure: bool = False
    pid_pressure: bool = False
    #: Bytes per second this node pulls images at (None: ``KubeletSettings``).
    pull_bandwidth: float | None = None


_NODE_FLAGS = {"down": "down", "not-ready": "not_ready", "memory-pressure": "memory_pressure",
               "disk-pressure": "disk_pressure", "pid-pressure": "pid_pressure"}


def node_faults(annotations: Mapping[str, str] | None) -> NodeFaults:
    """The faults a node's annotations ask for (unparseable values are ignored)."""
    if not annotations:
        return NodeFaults()
    flags = {field: str(annotations.get(PREFIX + name, "")).strip().lower() == "true"
             for name, field in _NODE_FLAGS.items()}
    return NodeFaults(**flags, pull_bandwidth=_bandwidth(annotations.get(
        PREFIX + "pull-bandwidth")))


def _bandwidth(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None
