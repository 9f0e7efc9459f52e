"""The scheduler's filters and its failure message, as pure functions of precomputed facts.

``NodeFacts`` holds what filtering needs from a Node (computed once per node change,
not per pod); ``PodFacts`` what it needs from a pod (once per attempt). ``filter_node``
runs upstream's default filter plugins in upstream's order and stops at the first
that rejects, with upstream's reasons:

1. ``NodeUnschedulable``: ``spec.unschedulable`` → "node(s) were unschedulable",
   unless the pod tolerates ``node.kubernetes.io/unschedulable:NoSchedule``;
2. ``TaintToleration``: the first NoSchedule/NoExecute taint the pod does not
   tolerate → "node(s) had untolerated taint {key: value}". A node without
   ``Ready=True`` that the node lifecycle controller has not tainted yet is treated
   as carrying ``node.kubernetes.io/not-ready:NoSchedule``, so nothing lands on a
   node whose kubelet never reported;
3. ``NodeAffinity``: "node(s) didn't match Pod's node affinity/selector";
4. ``NodeResourcesFit``: "Too many pods", "Insufficient cpu", "Insufficient memory", …
   (all that apply), against allocatable minus what bound pods already request.

The first three are *unresolvable* (preemption cannot help); resource shortages are
not. ``fit_error_message`` renders upstream's ``FitError`` (kube-scheduler 1.31):
reasons counted per node and sorted as strings (``sort.Strings`` of "N reason"), then
the preemption post-filter's verdict. Preemption itself is not modelled: a node short
of resources reports "No preemption victims found for incoming pod".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from kitlib.cluster import taints as taintutil
from kitlib.cluster.podutil import condition, controller_of
from kitlib.cluster.scheduling.affinity import RequiredNodeAffinity
from kitlib.cluster.scheduling.requests import node_allocatable, pod_requests

__all__ = [
    "NO_NODES",
    "NodeFacts",
    "NodeUsage",
    "PodFacts",
    "Rejection",
    "filter_node",
    "fit_error_message",
    "least_allocated",
    "num_feasible_nodes_to_find",
]

ZONE_LABEL = "topology.kubernetes.io/zone"
NO_NODES = "no nodes available to schedule pods"
_UNSCHEDULABLE_TAINT = {"key": taintutil.UNSCHEDULABLE, "effect": "NoSchedule"}
_NOT_READY_TAINTS = (taintutil.NOT_READY, taintutil.UNREACHABLE)

TaintKey = tuple[str, str, str]  #: (key, value, effect)


class Rejection(NamedTuple):
    reasons: tuple[str, ...]
    #: True when preemption could not help (every filter but resource fit).
    unresolvable: bool


UNSCHEDULABLE = Rejection(("node(s) were unschedulable",), True)
AFFINITY = Rejection(("node(s) didn't match Pod's node affinity/selector",), True)


@dataclass(frozen=True, slots=True)
class NodeFacts:
    name: str
    zone: str
    labels: Mapping[str, str]
    allocatable: Mapping[str, int]
    unschedulable: bool
    #: NoSchedule/NoExecute taints in the node's order (an implied not-ready one first).
    taints: tuple[TaintKey, ...]

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> NodeFacts:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        spec = node.get("spec") or {}
        taints = [(str(t.get("key") or ""), str(t.get("value") or ""), str(t.get("effect")))
                  for t in spec.get("taints") or ()
                  if t.get("effect") in ("NoSchedule", "NoExecute")]
        ready = (condition(dict(node), "Ready") or {}).get("status") == "True"
        if not ready and not any(t[0] in _NOT_READY_TAINTS for t in taints):
            taints.insert(0, (taintutil.NOT_READY, "", "NoSchedule"))
        return cls(str(meta.get("name") or ""), str(labels.get(ZONE_LABEL) or ""), labels,
                   node_allocatable(node), bool(spec.get("unschedulable")), tuple(taints))


@dataclass(slots=True)
class NodeUsage:
    """What the pods bound to a node request (for scoring), kept as a running tally."""

    nonzero_cpu: int = 0
    nonzero_memory: int = 0


@dataclass(frozen=True, slots=True)
class PodFacts:
    requests: Mapping[str, int]
    nonzero_cpu: int
    nonzero_memory: int
    tolerations: tuple[Mapping[str, Any], ...]
    tolerates_unschedulable: bool
    affinity: RequiredNodeAffinity | None
    #: UID of the controlling owner (pods of one owner are spread), if any.
    owner: str | None
    preempt_never: bool

    @classmethod
    def of(cls, pod: Mapping[str, Any]) -> PodFacts:
        spec = pod.get("spec") or {}
        tolerations = tuple(t for t in spec.get("tolerations") or () if isinstance(t, dict))
        requests = pod_requests(spec)
        owner = controller_of(dict(pod))
        return cls(requests.requests, requests.nonzero_cpu, requests.nonzero_memory,
                   tolerations,
                   any(taintutil.tolerates(t, _UNSCHEDULABLE_TAINT) for t in tolerations),
                   RequiredNodeAffinity.of(spec), owner.get("uid") if owner else None,
                   spec.get("preemptionPolicy") == "Never")


def _untolerated(pod: PodFacts, node: NodeFacts, tolerated: dict[TaintKey, bool]
                 ) -> TaintKey | None:
    for taint in node.taints:
        ok = tolerated.get(taint)
        if ok is None:
            as_dict = {"key": taint[0], "value": taint[1], "effect": taint[2]}
            ok = tolerated[taint] = any(taintutil.tolerates(t, as_dict)
                                        for t in pod.tolerations)
        if not ok:
            return taint
    return None


def _fits(pod: PodFacts, free: Mapping[str, int]) -> Rejection | None:
    reasons = []
    if free.get("pods", 0) < 1:
        reasons.append("Too many pods")
    for name, wanted in pod.requests.items():
        if wanted > free.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Rejection(tuple(reasons), False) if reasons else None


def filter_node(pod: PodFacts, node: NodeFacts, free: Mapping[str, int],
                tolerated: dict[TaintKey, bool]) -> Rejection | None:
    """Why ``pod`` cannot go to ``node``, or ``None`` if it can. ``free`` is what the node
    has left (allocatable minus what bound pods request, ``pods`` included);
    ``tolerated`` caches the pod's verdict per taint across the nodes of one attempt."""
    if node.unschedulable and not pod.tolerates_unschedulable:
        return UNSCHEDULABLE
    if node.taints:
        taint = _untolerated(pod, node, tolerated)
        if taint is not None:
            return Rejection((f"node(s) had untolerated taint {{{taint[0]}: {taint[1]}}}",), True)
    if pod.affinity is not None and not pod.affinity.matches(node.labels, node.name):
        return AFFINITY
    return _fits(pod, free)


def _histogram(reasons: Sequence[str]) -> str:
    return ", ".join(sorted(f"{n} {reason}" for reason, n in Counter(reasons).items()))


def fit_error_message(num_nodes: int, rejections: Sequence[Rejection], *,
                      preempt_never: bool = False) -> str:
    """``0/5 nodes are available: 2 node(s) were unschedulable, 3 Insufficient cpu.
    preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling,
    3 No preemption victims found for incoming pod.``"""
    message = f"0/{num_nodes} nodes are available:"
    reasons = [r for rejection in rejections for r in rejection.reasons]
    if reasons:
        message += f" {_histogram(reasons)}."
    if preempt_never:
        return f"{message} preemption: not eligible due to preemptionPolicy=Never."
    verdicts = ["Preemption is not helpful for scheduling" if r.unresolvable
                else "No preemption victims found for incoming pod" for r in rejections]
    return (f"{message} preemption: 0/{num_nodes} nodes are available: "
            f"{_histogram(verdicts)}.")


def num_feasible_nodes_to_find(num_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes to look for before scoring (``numFeasibleNodesToFind``)."""
    if num_nodes < 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(5, 50 - num_nodes // 125)
    return max(100, num_nodes * min(percentage, 100) // 100)


def least_allocated(pod: PodFacts, node: NodeFacts, usage: NodeUsage | None) -> int:
    """Upstream's ``LeastAllocated`` score (0–100): the mean share of cpu and memory left
    free after placing the pod, counting pods without requests at 100m / 200Mi."""
    total = 0
    for resource, wanted, used in (
            ("cpu", pod.nonzero_cpu, usage.nonzero_cpu if usage else 0),
            ("memory", pod.nonzero_memory, usage.nonzero_memory if usage else 0)):
        capacity = node.allocatable.get(resource, 0)
        requested = used + wanted
        if capacity > 0 and requested <= capacity:
            total += (capacity - requested) * 100 // capacity
    return total // 2
