"""Reading a twin's state: workloads, their convergence and unavailability, and pods.

``workload_states`` lists every workload of the given kinds (all namespaces, one raw
LIST per kind) and reduces each to a ``WorkloadState`` through
``kitlib.client.refs.progress`` — the same arithmetic the recorders and ``explain`` use.

``Tracker`` samples them after every step of an operation: the peak unavailability per
workload, and since when the whole twin has been **at rest** (every workload
converged), which is how a rehearsal tells that a refused eviction will never be
allowed: nothing changes in a cluster at rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kitlib.client.ops import discover
from kitlib.client.raw import get_json, resource_path
from kitlib.client.refs import progress
from kitlib.twin.objects import workload_key

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["PodInfo", "Tracker", "WorkloadState", "list_pods", "pending_pod_reasons",
           "workload_states"]


@dataclass(frozen=True)
class WorkloadState:
    """One workload at one moment: desired, available, its budget, converged or not."""

    key: str
    replicas: int
    available: int
    updated: int
    budget: int
    converged: bool

    @property
    def unavailable(self) -> int:
        return max(0, self.replicas - self.available)

    def describe(self) -> str:
        return (f"{self.key} has {self.available} of {self.replicas} pods available and "
                f"{self.updated} updated")


def workload_states(cluster: Cluster, kinds: Iterable[tuple[str, str]]
                    ) -> dict[str, WorkloadState]:
    """Every workload of ``kinds`` (``(apiVersion, kind)``), keyed as predictions name them."""
    states: dict[str, WorkloadState] = {}
    for api_version, kind in kinds:
        plural = discover(cluster, api_version, kind).plural
        for obj in get_json(cluster.api_client, resource_path(api_version, plural))["items"]:
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            state = _state(obj, cluster.namespace)
            states[state.key] = state
    return states


def _state(obj: dict[str, Any], default_namespace: str) -> WorkloadState:
    meta = obj["metadata"]
    p = progress(obj)
    return WorkloadState(workload_key(obj["kind"], obj["apiVersion"], meta["name"],
                                      meta["namespace"], default_namespace),
                         p.replicas, p.available, p.updated, p.max_unavailable, p.converged)


@dataclass(frozen=True)
class PodInfo:
    """A pod as a rehearsal remembers it: where it runs and who owns it."""

    key: str
    uid: str
    node: str
    owner_kind: str
    terminating: bool
    labels: dict[str, str]


def list_pods(cluster: Cluster) -> dict[str, PodInfo]:
    """Every pod of the cluster, by UID."""
    pods = get_json(cluster.api_client, "/api/v1/pods")["items"]
    return {p["metadata"]["uid"]: _pod_info(p, cluster.namespace) for p in pods}


def _pod_info(pod: dict[str, Any], default_namespace: str) -> PodInfo:
    meta = pod["metadata"]
    owner = next((ref.get("kind", "") for ref in meta.get("ownerReferences") or ()
                  if ref.get("controller")), "")
    key = meta["name"] if meta["namespace"] == default_namespace else \
        f"{meta['namespace']}/{meta['name']}"
    return PodInfo(key, meta["uid"], (pod.get("spec") or {}).get("nodeName", ""), owner,
                   bool(meta.get("deletionTimestamp")), dict(meta.get("labels") or {}))


def pending_pod_reasons(cluster: Cluster, *, limit: int = 5) -> list[str]:
    """Why pods are not running yet, in sentences (the scheduler's or kubelet's words)."""
    reasons: list[str] = []
    for pod in get_json(cluster.api_client, "/api/v1/pods")["items"]:
        reason = _pod_problem(pod)
        if reason:
            reasons.append(f"pod {_pod_info(pod, cluster.namespace).key} {reason}")
    return reasons[:limit] + ([f"(and {len(reasons) - limit} more)"]
                              if len(reasons) > limit else [])


def _pod_problem(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for cond in status.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"is Pending: {cond.get('message', cond.get('reason', ''))}"
    for cs in status.get("containerStatuses") or ():
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            return (f"waits: container {cs.get('name')} is {waiting['reason']}"
                    + (f" ({waiting['message']})" if waiting.get("message") else ""))
    return ""


@dataclass
class Tracker:
    """Samples workload states after every step of a rehearsed operation."""

    cluster: Cluster
    kinds: tuple[tuple[str, str], ...]
    peak: dict[str, int] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=dict)
    states: dict[str, WorkloadState] = field(default_factory=dict)
    #: Cluster time since which every sample found every workload converged.
    rest_since: float | None = None

    def sample(self) -> dict[str, WorkloadState]:
        self.states = workload_states(self.cluster, self.kinds)
        for key, state in self.states.items():
            self.peak[key] = max(self.peak.get(key, 0), state.unavailable)
            self.budgets.setdefault(key, state.budget)
        if not self.at_rest:
            self.rest_since = None
        elif self.rest_since is None:
            self.rest_since = self.cluster.now()
        return self.states

    @property
    def at_rest(self) -> bool:
        return all(s.converged for s in self.states.values())

    def unconverged(self) -> list[str]:
        return [s.describe() for s in self.states.values() if not s.converged]
