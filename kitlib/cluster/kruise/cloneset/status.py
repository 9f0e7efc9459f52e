"""CloneSet pod predicates and status (reference §1.2; upstream ``cloneset_status.go``).

* ``is_update_ready``: Running ∧ Ready ∧ ``InPlaceUpdateReady`` absent or True.
* ``is_pod_available``: lifecycle state "" or Normal ∧ update-ready ∧ Ready for at least
  ``minReadySeconds``.
* ``calculate_status``: every field of §1.2 over the active pods; ``currentRevision``
  moves to ``updateRevision`` once ``updatedReplicas == status.replicas == spec.replicas``
  (it does not wait for readiness). Conditions are rebuilt each reconcile: ``FailedScale`` /
``FailedUpdate`` (True, with the error) while an error lasts, ``Progressing`` only with
``progressDeadlineSeconds``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from kitlib.cluster.kruise.cloneset.diff import partition_replicas
from kitlib.cluster.kruise.inplace import INPLACE_READY, equal_to_revision
from kitlib.cluster.kruise.lifecycle import NORMAL, state_of
from kitlib.cluster.podutil import condition, is_available
from kitlib.model.objects import format_time, parse_time
from kitlib.model.selectors import LabelSelector

__all__ = ["PodCounts", "calculate_status", "count_pods", "is_pod_available", "is_update_ready"]

Obj = dict[str, Any]
MAX_INT32 = 2**31 - 1


def is_update_ready(pod: Obj) -> bool:
    """Upstream ``IsPodUpdateReady(pod, 0)``."""
    if (pod.get("status") or {}).get("phase") != "Running":
        return False
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    gate = condition(pod, INPLACE_READY)
    return gate is None or gate.get("status") == "True"


def is_pod_available(pod: Obj, min_ready_seconds: float, now: float) -> bool:
    if state_of(pod) not in ("", NORMAL):
        return False
    return is_update_ready(pod) and is_available(pod, min_ready_seconds, now)


def _selector_string(cs: Obj) -> str:
    selector = (cs.get("spec") or {}).get("selector")
    return str(LabelSelector.from_object(selector)) if selector else ""


class PodCounts(NamedTuple):
    """The pod counts of a CloneSet's status (over its active pods)."""

    replicas: int
    ready: int
    available: int
    updated: int
    updated_ready: int
    updated_available: int


def count_pods(pods: Sequence[Obj], *, update_revision: str, min_ready_seconds: float,
               now: float) -> PodCounts:
    updated = [p for p in pods if equal_to_revision(p, update_revision)]
    return PodCounts(
        len(pods), sum(1 for p in pods if is_update_ready(p)),
        sum(1 for p in pods if is_pod_available(p, min_ready_seconds, now)), len(updated),
        sum(1 for p in updated if is_update_ready(p)),
        sum(1 for p in updated if is_pod_available(p, min_ready_seconds, now)))


def calculate_status(cs: Obj, pods: Sequence[Obj], *, update_revision: str,
                     current_revision: str, collision_count: int, now: float,
                     failures: Mapping[str, str] | None = None,
                     counts: PodCounts | None = None) -> Obj:
    """The CloneSet's status over its active ``pods``; ``counts``: the controller's
    memoized ``count_pods`` (computed here when not given)."""
    spec = cs.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    if counts is None:
        counts = count_pods(pods, update_revision=update_revision, now=now,
                            min_ready_seconds=float(spec.get("minReadySeconds") or 0))
    status: Obj = {
        "observedGeneration": int((cs.get("metadata") or {}).get("generation") or 0),
        "replicas": counts.replicas,
        "readyReplicas": counts.ready,
        "availableReplicas": counts.available,
        "updatedReplicas": counts.updated,
        "updatedReadyReplicas": counts.updated_ready,
        "updatedAvailableReplicas": counts.updated_available,
        "expectedUpdatedReplicas": replicas - partition_replicas(
            (spec.get("updateStrategy") or {}).get("partition"), replicas),
        "updateRevision": update_revision,
        "currentRevision": current_revision,
        "collisionCount": collision_count,
        "labelSelector": _selector_string(cs),
    }
    if status["updatedReplicas"] == status["replicas"] == replicas:
        status["currentRevision"] = update_revision
    conditions = [{"type": kind, "status": "True", "lastTransitionTime": format_time(now),
                   "message": message} for kind, message in sorted((failures or {}).items())]
    conditions += _conditions(cs, status, now)
    if conditions:
        status["conditions"] = conditions
    return status


def _conditions(cs: Obj, status: Obj, now: float) -> list[Obj]:
    deadline = (cs.get("spec") or {}).get("progressDeadlineSeconds")
    if deadline is None or int(deadline) == MAX_INT32:
        return []
    previous = next((c for c in (cs.get("status") or {}).get("conditions") or ()
                     if c.get("type") == "Progressing"), None)
    status_, reason = _progressing(cs, status, previous, int(deadline), now)
    cond = {"type": "Progressing", "status": status_, "reason": reason,
            "lastUpdateTime": format_time(now), "lastTransitionTime": format_time(now)}
    if previous is not None and previous.get("status") == status_:
        cond["lastTransitionTime"] = previous.get("lastTransitionTime")
        if previous.get("reason") == reason:
            cond["lastUpdateTime"] = previous.get("lastUpdateTime")
    message = {"CloneSetAvailable": "CloneSet is available",
               "CloneSetPaused": "CloneSet is paused",
               "ProgressPartitionAvailable": "CloneSet has been paused due to partition ready",
               "ProgressDeadlineExceeded": "CloneSet progress deadline exceeded",
               "CloneSetUpdated": "CloneSet is progressing"}[reason]
    cond["message"] = message
    return [cond]


def _progressing(cs: Obj, s: Obj, previous: Obj | None, deadline: int,
                 now: float) -> tuple[str, str]:
    replicas = int((cs.get("spec") or {}).get("replicas", 1))
    if s["currentRevision"] == s["updateRevision"] and \
            s["replicas"] == s["updatedReplicas"] == s["updatedAvailableReplicas"] == replicas:
        return "True", "CloneSetAvailable"
    if ((cs.get("spec") or {}).get("updateStrategy") or {}).get("paused"):
        return "True", "CloneSetPaused"
    if s["expectedUpdatedReplicas"] < replicas and \
            s["expectedUpdatedReplicas"] <= s["updatedAvailableReplicas"]:
        return "True", "ProgressPartitionAvailable"
    if previous is not None and previous.get("lastUpdateTime") and \
            parse_time(previous["lastUpdateTime"]) + deadline < now:
        return "False", "ProgressDeadlineExceeded"
    return "True", "CloneSetUpdated"
