"""The kubelet's record of one pod (``PodRuntime``) and the pod status it reports.

``PodRuntime`` holds what a real kubelet keeps in memory and in its runtime: the
sandbox (pod IP), one ``ContainerRuntime`` per container (init containers first, in
spec order), the back-off entries, whether termination has started, and the pod's
single pending timer. It is keyed by (namespace, name) and bound to one pod UID.

``render_status`` computes the fields the kubelet owns, following
``pkg/kubelet/status/generate.go`` and ``kubelet_pods.go getPhase`` (messages
included); ``apply_status`` writes them into a status draft and leaves the others
alone — conditions owned by other actors (readiness gates, ``DisruptionTarget``) stay
first, in their order, followed by the kubelet's own (``PodReadyToStartContainers``,
``Initialized``, ``Ready``, ``ContainersReady``, ``PodScheduled``), as the kubelet's
status manager merges them. A condition keeps its ``lastTransitionTime`` while its
status does not change.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.kubelet.backoff import BackoffEntry
from kitlib.cluster.kubelet.containers import ContainerRuntime, State, container_status
from kitlib.engine.loop import Timer
from kitlib.model.objects import format_time

__all__ = ["KUBELET_CONDITIONS", "PodRuntime", "apply_status", "render_status"]

#: A condition to write: (type, status, reason, message).
Cond = tuple[str, str, str | None, str | None]
#: Pod condition types the kubelet owns (``PodConditionsByKubelet`` + sandbox readiness).
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")


@dataclass(eq=False)
class PodRuntime:
    namespace: str
    name: str
    uid: str
    node: str
    admitted_at: float
    containers: list[ContainerRuntime]
    restart_policy: str = "Always"
    host_network: bool = False
    #: Whether the pod sandbox exists, and its IP.
    sandbox: bool = False
    ip: str | None = None
    #: The last sandbox creation failed (no free IP): retried at the pod's next sync.
    sandbox_blocked: bool = False
    #: The sandbox was lost (node reboot): the next one is announced as changed.
    sandbox_changed: bool = False
    terminating: bool = False
    #: Deletion grace period last acted on, and when every container must be dead.
    deletion_grace: float | None = None
    kill_deadline: float | None = None
    #: Termination is over: the pod object is to be removed.
    finalized: bool = False
    backoffs: dict[Hashable, BackoffEntry] = field(default_factory=dict)
    timer: Timer | None = None
    #: Behaviour problems already reported (as Warning events).
    problems: frozenset[str] = frozenset()

    @classmethod
    def admit(cls, pod: dict[str, Any], now: float) -> PodRuntime:
        meta, spec = pod["metadata"], pod["spec"]
        containers = [ContainerRuntime(c["name"], True, c, since=now)
                      for c in spec.get("initContainers") or ()]
        containers += [ContainerRuntime(c["name"], False, c, since=now)
                       for c in spec.get("containers") or ()]
        return cls(meta.get("namespace", ""), meta["name"], meta["uid"], spec["nodeName"], now,
                   containers, restart_policy=spec.get("restartPolicy") or "Always",
                   host_network=bool(spec.get("hostNetwork")))

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    @property
    def init_containers(self) -> list[ContainerRuntime]:
        return [c for c in self.containers if c.init]

    @property
    def main_containers(self) -> list[ContainerRuntime]:
        return [c for c in self.containers if not c.init]

    def refresh(self, pod: dict[str, Any]) -> None:
        """Take the current container specs (only images may change on a pod)."""
        spec = pod["spec"]
        by_name = {c["name"]: c for key in ("initContainers", "containers")
                   for c in spec.get(key) or ()}
        for c in self.containers:
            c.set_spec(by_name.get(c.name, c.spec))

    def init_failed(self) -> bool:
        """An init container failed and will not be retried (restartPolicy Never)."""
        return any(c.state is State.DONE and _exit_code(c) != 0 for c in self.init_containers)

    def initialized(self) -> bool:
        return all(c.state is State.DONE and _exit_code(c) == 0 for c in self.init_containers)

    def terminal(self) -> bool:
        """Nothing of this pod will run again (phase Succeeded or Failed)."""
        if self.init_failed():
            return True
        return all(c.state is State.DONE for c in self.main_containers)

    def turn_of(self, c: ContainerRuntime) -> bool:
        """Whether the pod's sequential sync has reached ``c`` (upstream ``SyncPod`` starts
        init containers one by one, then the containers in spec order, pulling each image
        before the next container)."""
        if self.terminating or not self.sandbox or c.state is not State.WAITING:
            return False
        if any(other.state in (State.PULLING, State.CREATING) or (
                other.state is State.STOPPING and other.stop is not None
                and other.stop.why != "deletion") for other in self.containers):
            return False
        if c.init:
            pending = next((i for i in self.init_containers
                            if not (i.state is State.DONE and _exit_code(i) == 0)), None)
            return pending is c
        if not self.initialized():
            return False
        return next(m for m in self.main_containers if m.state is State.WAITING) is c


def _exit_code(c: ContainerRuntime) -> int | None:
    return c.current.exit_code if c.current is not None else None


# -- status -----------------------------------------------------------------------------

def render_status(pod: dict[str, Any], rt: PodRuntime, now: float,
                  host_ip: str | None) -> dict[str, Any]:
    """The kubelet-owned status fields of ``pod`` (conditions already merged)."""
    default = "PodInitializing" if rt.init_containers else "ContainerCreating"
    inits = [container_status(c, default) for c in rt.init_containers]
    mains = sorted((container_status(c, default) for c in rt.main_containers),
                   key=lambda s: s["name"])
    phase = _phase(rt, inits, mains)
    out: dict[str, Any] = {"phase": phase,
                           "conditions": _conditions(pod, rt, inits, mains, phase, now)}
    if host_ip:
        out["hostIP"], out["hostIPs"] = host_ip, [{"ip": host_ip}]
    if rt.ip:
        out["podIP"], out["podIPs"] = rt.ip, [{"ip": rt.ip}]
    out["startTime"] = format_time(rt.admitted_at)
    if inits:
        out["initContainerStatuses"] = inits
    out["containerStatuses"] = mains
    return out


def apply_status(draft: dict[str, Any], rendered: dict[str, Any]) -> None:
    status = draft.setdefault("status", {})
    for key, value in rendered.items():
        status[key] = value


def _phase(rt: PodRuntime, inits: list[dict[str, Any]], mains: list[dict[str, Any]]) -> str:
    """Upstream ``getPhase`` (regular init containers; no sidecars)."""
    pending_init = failed_init = 0
    for s in inits:
        state, last = s["state"], s["lastState"]
        if "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"]["exitCode"] != 0
        elif "terminated" in last:
            failed_init += last["terminated"]["exitCode"] != 0
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = 0
    for s in mains:
        state = s["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif "terminated" in s["lastState"]:
            stopped += 1
        else:
            waiting += 1
    return _phase_from(rt, pending_init, failed_init, (running, waiting, stopped, succeeded))


def _phase_from(rt: PodRuntime, pending_init: int, failed_init: int,
                counts: tuple[int, int, int, int]) -> str:
    running, waiting, stopped, succeeded = counts
    if failed_init and rt.restart_policy == "Never":
        return "Failed"
    if (pending_init and not running and not stopped) or waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if rt.finalized:  # a deleted pod whose containers all stopped is terminal
            return "Succeeded" if stopped == succeeded else "Failed"
        if rt.restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if rt.restart_policy == "Never" else "Running"
    return "Pending"


def _conditions(pod: dict[str, Any], rt: PodRuntime, inits: list[dict[str, Any]],
                mains: list[dict[str, Any]], phase: str, now: float) -> list[dict[str, Any]]:
    existing = (pod.get("status") or {}).get("conditions") or []
    by_type = {c.get("type"): c for c in existing}
    containers_ready = _containers_ready(mains, phase)
    wanted = [
        ("PodReadyToStartContainers", "True" if rt.sandbox else "False", None, None),
        _initialized(inits, mains, phase),
        _ready(pod, containers_ready, by_type),
        containers_ready,
    ]
    out = [c for c in existing if c.get("type") not in KUBELET_CONDITIONS]
    for type_, status, reason, message in wanted:
        out.append(_condition(by_type.get(type_), type_, status, reason, message, now))
    scheduled = by_type.get("PodScheduled")
    out.append(scheduled if scheduled is not None else
               _condition(None, "PodScheduled", "True", None, None, now))
    return out



def _condition(old: dict[str, Any] | None, type_: str, status: str, reason: str | None,
               message: str | None, now: float) -> dict[str, Any]:
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    cond: dict[str, Any] = {"type": type_, "status": status, "lastProbeTime": None,
                            "lastTransitionTime": since or format_time(now)}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _go_list(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def _initialized(inits: list[dict[str, Any]], mains: list[dict[str, Any]], phase: str) -> Cond:
    if not inits:
        return ("Initialized", "True", None, None)
    if phase == "Succeeded":
        return ("Initialized", "True", "PodCompleted", None)
    if any("running" in s["state"] or "terminated" in s["state"] for s in mains):
        return ("Initialized", "True", None, None)
    incomplete = [s["name"] for s in inits if "terminated" not in s["state"]
                  or s["state"]["terminated"]["exitCode"] != 0]
    if incomplete:
        return ("Initialized", "False", "ContainersNotInitialized",
                f"containers with incomplete status: {_go_list(incomplete)}")
    return ("Initialized", "True", None, None)


def _containers_ready(mains: list[dict[str, Any]], phase: str) -> Cond:
    if phase == "Succeeded":
        return ("ContainersReady", "False", "PodCompleted", None)
    if phase == "Failed":
        return ("ContainersReady", "False", "PodFailed", None)
    unready = [s["name"] for s in mains if not s["ready"]]
    if unready:
        return ("ContainersReady", "False", "ContainersNotReady",
                f"containers with unready status: {_go_list(unready)}")
    return ("ContainersReady", "True", None, None)


def _ready(pod: dict[str, Any], containers_ready: Cond,
           by_type: dict[Any, dict[str, Any]]) -> Cond:
    if containers_ready[1] != "True":
        return ("Ready", *containers_ready[1:])
    problems = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or ():
        gate_type = gate.get("conditionType")
        cond = by_type.get(gate_type)
        if cond is None:
            problems.append(f'corresponding condition of pod readiness gate "{gate_type}" does '
                            "not exist.")
        elif cond.get("status") != "True":
            problems.append(f'the status of pod readiness gate "{gate_type}" is not "True", '
                            f"but {cond.get('status')}")
    if problems:
        return ("Ready", "False", "ReadinessGatesNotReady", ", ".join(problems))
    return ("Ready", "True", None, None)
