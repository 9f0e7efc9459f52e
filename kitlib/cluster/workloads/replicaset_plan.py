"""Pure plans of the ReplicaSet controller: how many pods to create or which to delete,
and the status to report.

Upstream ``pkg/controller/replicaset/replica_set.go`` (``manageReplicas``,
``calculateStatus``) over the *active* pods the ReplicaSet controls (not
finished, not being deleted — a pod on its way out never counts):

* fewer than ``spec.replicas`` → create the difference, at most
  ``BURST_REPLICAS`` per reconcile;
* more → delete the surplus, chosen by ``podorder.deletion_order``;
* status: ``replicas`` (active pods), ``fullyLabeledReplicas`` (carrying every
  template label), ``readyReplicas``, ``availableReplicas`` (ready for
  ``minReadySeconds``), ``observedGeneration``, and a ``ReplicaFailure``
  condition while pods cannot be created or deleted.

``available_in`` says when the next ready pod becomes available, so that the
controller looks again exactly then instead of polling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.podutil import condition, is_available, is_ready
from kitlib.cluster.workloads.podorder import deletion_order
from kitlib.model.objects import format_time, meta_of, parse_time

__all__ = ["BURST_REPLICAS", "ReplicaPlan", "available_in", "plan_replicas",
           "replicaset_status"]

Obj = dict[str, Any]

#: Upstream ``BurstReplicas``: pods created or deleted by one reconcile at most.
BURST_REPLICAS = 500


@dataclass(frozen=True)
class ReplicaPlan:
    create: int = 0
    delete: tuple[Obj, ...] = ()


def plan_replicas(replicas: int, active: Sequence[Obj], related: Sequence[Obj],
                  now: float) -> ReplicaPlan:
    """Pods to create, or the pods to delete (first to go first)."""
    diff = len(active) - replicas
    if diff < 0:
        return ReplicaPlan(create=min(-diff, BURST_REPLICAS))
    if diff > 0:
        order = deletion_order(active, related, now)
        return ReplicaPlan(delete=tuple(order[:min(diff, BURST_REPLICAS)]))
    return ReplicaPlan()


def replicaset_status(rs: Obj, active: Sequence[Obj], now: float, *,
                      failure: tuple[str, str] | None) -> Obj:
    """The status to write; ``failure`` is (reason, message) of a failed create/delete."""
    spec = rs.get("spec") or {}
    min_ready = float(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    labelled = sum(1 for p in active if _has_labels(p, template_labels))
    ready = [p for p in active if is_ready(p)]
    available = sum(1 for p in ready if is_available(p, min_ready, now))
    status: Obj = {"replicas": len(active)}
    for key, value in (("fullyLabeledReplicas", labelled), ("readyReplicas", len(ready)),
                       ("availableReplicas", available),
                       ("observedGeneration", int(meta_of(rs).get("generation") or 0))):
        if value:
            status[key] = value
    conditions = _conditions(rs, failure, now)
    if conditions:
        status["conditions"] = conditions
    return status


def _has_labels(pod: Obj, labels: dict[str, str]) -> bool:
    own = meta_of(pod).get("labels") or {}
    return all(own.get(k) == v for k, v in labels.items())


def _conditions(rs: Obj, failure: tuple[str, str] | None, now: float) -> list[Obj]:
    current = [dict(c) for c in (rs.get("status") or {}).get("conditions") or ()]
    has_failure = any(c.get("type") == "ReplicaFailure" for c in current)
    if failure is None:
        return [c for c in current if c.get("type") != "ReplicaFailure"]
    if has_failure:
        return current
    return [*current, {"type": "ReplicaFailure", "status": "True",
                       "lastTransitionTime": format_time(now), "reason": failure[0],
                       "message": failure[1]}]


def available_in(active: Sequence[Obj], min_ready_seconds: float, now: float) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod becomes available."""
    if min_ready_seconds <= 0:
        return None
    waits = []
    for pod in active:
        cond = condition(pod, "Ready")
        if cond is None or cond.get("status") != "True" or not cond.get("lastTransitionTime"):
            continue
        remaining = parse_time(cond["lastTransitionTime"]) + min_ready_seconds - now
        if remaining > 0:
            waits.append(remaining)
    return min(waits) if waits else None
