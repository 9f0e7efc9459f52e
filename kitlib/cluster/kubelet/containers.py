"""What the simulated container runtime knows about one container of a pod.

A ``ContainerRuntime`` is the kubelet's record of a container name in a pod: its
lifecycle ``State``, the current (or most recent) ``Instance`` the runtime ran, the one
before it (``lastState``), the restart count, the probe results (``started``,
``ready``) and the waiting reason the last sync reported (``CrashLoopBackOff``,
``ErrImagePull``…). The lifecycle stages (``stages.py``) are the only code that moves
a record from one state to another, always through ``enter`` (which stamps ``since``,
the anchor of every stage delay).

``container_status`` renders a record as a ``containerStatuses[]`` entry exactly as
the kubelet's ``convertToAPIContainerStatuses`` does: running instances show
``running``; a waiting reason wins over a terminated instance (which moves to
``lastState``, as in ``CrashLoopBackOff``); otherwise the last instance's
``terminated``; a container never created shows the default waiting reason
(``ContainerCreating``, or ``PodInitializing`` in a pod with init containers).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from kitlib.cluster.kubelet.behaviour import Behaviour
from kitlib.cluster.kubelet.images import ImageInfo
from kitlib.cluster.kubelet.probes import Probe
from kitlib.model.objects import format_time

__all__ = [
    "ContainerRuntime",
    "Instance",
    "State",
    "StopPlan",
    "container_status",
    "go_duration",
    "spec_hash",
]


class State(enum.Enum):
    WAITING = "waiting"  #: needs (re)starting; waits for its turn in the pod's sync
    PULLING = "pulling"  #: waiting for the node's image puller
    PULL_ERROR = "pull-error"  #: ErrImagePull, until the kubelet's next look
    PULL_BACKOFF = "pull-backoff"  #: ImagePullBackOff, until the image back-off ends
    BLOCKED = "blocked"  #: ErrImageNeverPull / InvalidImageName: retried at the periodic sync
    CREATING = "creating"  #: create + start in progress
    RUNNING = "running"
    STOPPING = "stopping"  #: killed, stops after ``StopPlan.after``
    EXITED = "exited"  #: terminated; the kubelet has not acted on it yet
    CRASH_BACKOFF = "crash-backoff"  #: CrashLoopBackOff until the back-off ends
    DONE = "done"  #: terminated and will not run again



@dataclass(slots=True)
class Instance:
    """One container the runtime created and started."""

    container_id: str
    info: ImageInfo
    spec_hash: str
    started_at: float
    behaviour: Behaviour
    #: When ``behaviour`` was last changed (a knob never acts before this moment).
    behaviour_since: float
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None

    def terminate(self, now: float, exit_code: int, reason: str | None = None) -> None:
        self.finished_at = now
        self.exit_code = exit_code
        self.reason = reason or ("Completed" if exit_code == 0 else "Error")

    def terminated(self) -> dict[str, Any]:
        return {"terminated": {"exitCode": self.exit_code, "reason": self.reason,
                               "startedAt": format_time(self.started_at),
                               "finishedAt": format_time(self.finished_at or self.started_at),
                               "containerID": self.container_id}}


@dataclass(frozen=True, slots=True)
class StopPlan:
    """A kill in progress: why, how long it takes, and what follows."""

    why: str  #: "deletion", "definition" (spec changed) or "probe"
    after: float  #: seconds after the kill until the container is dead
    exit_code: int
    then: State  #: DONE (pod deleted), WAITING (restart now) or EXITED (restart policy)


@dataclass(eq=False)
class ContainerRuntime:
    name: str
    init: bool
    spec: dict[str, Any]
    state: State = State.WAITING
    since: float = 0.0
    current: Instance | None = None
    previous: Instance | None = None
    restart_count: int = 0
    waiting: tuple[str, str] | None = None
    started: bool = False
    ready: bool = False
    #: When ``started``/``ready`` last changed: probe runs before it are already counted.
    probe_flip: float = 0.0
    stop: StopPlan | None = None
    #: Seconds the kubelet takes to notice an ``EXITED`` container (0 after its own kill).
    notice_after: float = 0.0
    #: The spec hash when the container last left ``WAITING`` (a later change restarts it).
    attempt_hash: str = ""
    #: A pull the node's puller has answered (consumed by the "image-pulled" stage).
    pull: tuple[Any, float] | None = None
    #: Jitter drawn for the stages of the current state (cleared by ``enter``).
    draws: dict[str, float] = field(default_factory=dict)
    #: Parsed probes and the spec hash, kept until the spec changes.
    _derived: dict[str, Any] = field(default_factory=dict)

    def set_spec(self, spec: dict[str, Any]) -> None:
        """Take the container's current spec (a no-op when its content is unchanged)."""
        if spec is not self.spec and spec != self.spec:
            self.spec = spec
            self._derived.clear()

    def probe(self, kind: str) -> Probe | None:
        if kind not in self._derived:
            self._derived[kind] = Probe.of(self.spec, kind)
        found: Probe | None = self._derived[kind]
        return found

    @property
    def spec_hash(self) -> str:
        if "hash" not in self._derived:
            self._derived["hash"] = spec_hash(self.spec)
        return str(self._derived["hash"])

    def enter(self, state: State, now: float) -> None:
        self.state = state
        self.since = now
        self.draws.clear()

    def start_instance(self, instance: Instance) -> None:
        if self.current is not None:
            self.previous = self.current
            self.restart_count += 1
        self.current = instance
        self.waiting = None


def spec_hash(container: dict[str, Any]) -> str:
    """A stable hash of a container's spec (what ``containerChanged`` compares);
    ``resources`` are left out, as upstream leaves them to in-place resize."""
    relevant = {k: v for k, v in container.items() if k != "resources"}
    return hashlib.blake2b(orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS),
                           digest_size=8).hexdigest()


def container_status(c: ContainerRuntime, default_reason: str) -> dict[str, Any]:
    state, last = _states(c, default_reason)
    current = c.current
    status: dict[str, Any] = {
        "name": c.name, "state": state, "lastState": last,
        "ready": c.ready and c.state is State.RUNNING,
        "restartCount": c.restart_count,
        "image": current.info.ref.name if current else c.spec.get("image", ""),
        "imageID": current.info.ref.image_id if current else "",
    }
    if current is not None:
        status["containerID"] = current.container_id
    status["started"] = c.started and c.state in (State.RUNNING, State.STOPPING)
    return status


def _states(c: ContainerRuntime, default_reason: str) -> tuple[dict[str, Any], dict[str, Any]]:
    current, previous = c.current, c.previous
    if c.state in (State.RUNNING, State.STOPPING) and current is not None:
        return ({"running": {"startedAt": format_time(current.started_at)}},
                previous.terminated() if previous else {})
    if c.waiting is not None:
        reason, message = c.waiting
        waiting = {"reason": reason, "message": message} if message else {"reason": reason}
        if current is not None and current.finished_at is not None:
            return {"waiting": waiting}, current.terminated()
        return {"waiting": waiting}, {}
    if current is not None and current.finished_at is not None:
        return current.terminated(), previous.terminated() if previous else {}
    return {"waiting": {"reason": default_reason}}, {}


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` prints it, to the millisecond."""
    ms = int(seconds * 1000 + 1e-6)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, frac = divmod(rest, 1000)
    text = f"{secs}" + (f".{frac:03d}".rstrip("0") if frac else "") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text
