"""A Deployment's status and conditions, as upstream's deployment controller writes them.

Pure functions over the Deployment (a dict), its ReplicaSets (``RS`` views)
and the simulated time (``sync.go`` ``calculateStatus``, ``progress.go``
``syncRolloutStatus``, ``util`` condition helpers):

* counts: ``replicas``/``updatedReplicas``/``readyReplicas``/``availableReplicas``
  add up the ReplicaSets' *status*; ``unavailableReplicas`` is their *spec*
  total minus what is available (never negative); zero counts are omitted
  (Go's ``omitempty``);
* ``Available``: True ``MinimumReplicasAvailable`` iff at least
  ``replicas − maxUnavailable`` pods are available;
* ``Progressing``: ``NewReplicaSetCreated``/``FoundNewReplicaSet`` (set when the
  new ReplicaSet is created or first found), ``ReplicaSetUpdated`` whenever
  counts move forward (refreshing ``lastUpdateTime``), ``NewReplicaSetAvailable``
  once complete, False ``ProgressDeadlineExceeded`` when ``lastUpdateTime +
  progressDeadlineSeconds`` has passed without progress, Unknown
  ``DeploymentPaused``/``DeploymentResumed``.

A condition whose status and reason are unchanged is left as it is; its
``lastTransitionTime`` moves only when its status changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kitlib.cluster.workloads.deployment_plan import RS, Rollout, is_complete
from kitlib.model.objects import format_time, meta_of, name_of, parse_time

__all__ = [
    "AVAILABLE",
    "PROGRESSING",
    "calculate_status",
    "get_condition",
    "new_condition",
    "paused_condition",
    "progress_requeue",
    "replica_failure",
    "rollout_status",
    "set_condition",
]

Obj = dict[str, Any]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"


def new_condition(type_: str, status: str, reason: str, message: str, now: float) -> Obj:
    stamp = format_time(now)
    return {"type": type_, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def get_condition(status: Obj, type_: str) -> Obj | None:
    for cond in status.get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def set_condition(status: Obj, cond: Obj) -> None:
    """Upstream ``SetDeploymentCondition``: replace unless status and reason are the same."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and \
            current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, type_: str) -> None:
    kept = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_deadline(deployment: Obj) -> bool:
    pds = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and int(pds) != 2**31 - 1


def paused_condition(deployment: Obj, status: Obj, now: float) -> bool:
    """Upstream ``checkPausedConditions``; True if ``status`` changed."""
    if not has_deadline(deployment):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT:
        return False
    paused_now = bool((deployment.get("spec") or {}).get("paused"))
    was_paused = cond is not None and cond.get("reason") == PAUSED
    if paused_now == was_paused:
        return False
    reason, message = (PAUSED, "Deployment is paused") if paused_now else \
        (RESUMED, "Deployment is resumed")
    set_condition(status, new_condition(PROGRESSING, "Unknown", reason, message, now))
    return True


def calculate_status(deployment: Obj, rollout: Rollout, all_rss: Sequence[RS], new: RS | None,
                     prev: Obj, now: float) -> Obj:
    """Upstream ``calculateStatus``: counts, and the Available condition."""
    available = sum(r.available for r in all_rss)
    counts = {
        "observedGeneration": int(meta_of(deployment).get("generation") or 0),
        "replicas": sum(r.actual for r in all_rss),
        "updatedReplicas": new.actual if new is not None else 0,
        "readyReplicas": sum(r.ready for r in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, sum(r.replicas for r in all_rss) - available),
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if prev.get("conditions"):
        status["conditions"] = [dict(c) for c in prev["conditions"]]
    if prev.get("collisionCount") is not None:
        status["collisionCount"] = prev["collisionCount"]
    if available >= rollout.min_available:
        cond = new_condition(AVAILABLE, "True", "MinimumReplicasAvailable",
                             "Deployment has minimum availability.", now)
    else:
        cond = new_condition(AVAILABLE, "False", "MinimumReplicasUnavailable",
                             "Deployment does not have minimum availability.", now)
    set_condition(status, cond)
    return status


def _made_progress(prev: Obj, new: Obj) -> bool:
    """Upstream ``DeploymentProgressing``: any count moved forward."""
    def n(status: Obj, key: str) -> int:
        return int(status.get(key) or 0)
    old_old = n(prev, "replicas") - n(prev, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (n(new, "updatedReplicas") > n(prev, "updatedReplicas") or new_old < old_old
            or n(new, "readyReplicas") > n(prev, "readyReplicas")
            or n(new, "availableReplicas") > n(prev, "availableReplicas"))


def _timed_out(deployment: Obj, status: Obj, now: float) -> bool:
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    deadline = int(deployment["spec"]["progressDeadlineSeconds"])
    return parse_time(cond["lastUpdateTime"]) + deadline < now


def _subject(deployment: Obj, new_name: str | None) -> str:
    return f'ReplicaSet "{new_name}"' if new_name else f'Deployment "{name_of(deployment)}"'


def rollout_status(deployment: Obj, rollout: Rollout, all_rss: Sequence[RS], new: RS | None,
                   prev: Obj, now: float, failure: Obj | None) -> Obj:
    """Upstream ``syncRolloutStatus``: ``calculate_status`` plus progress tracking."""
    status = calculate_status(deployment, rollout, all_rss, new, prev, now)
    if not has_deadline(deployment):
        remove_condition(status, PROGRESSING)
    current = get_condition(prev, PROGRESSING)
    done_before = current is not None and current.get("reason") == NEW_RS_AVAILABLE and \
        int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
    if has_deadline(deployment) and not done_before:
        _track_progress(deployment, rollout, status, prev, new, now)
    if failure is not None:
        set_condition(status, failure)
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def _track_progress(deployment: Obj, rollout: Rollout, status: Obj, prev: Obj,
                    new: RS | None, now: float) -> None:
    subject = _subject(deployment, new.name if new is not None else None)
    generation = int(meta_of(deployment).get("generation") or 0)
    if is_complete(rollout.replicas, generation, status):
        set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                            f"{subject} has successfully progressed.", now))
    elif _made_progress(prev, status):
        cond = new_condition(PROGRESSING, "True", "ReplicaSetUpdated",
                             f"{subject} is progressing.", now)
        current = get_condition(prev, PROGRESSING)
        if current is not None and current.get("status") == "True":
            cond["lastTransitionTime"] = current.get("lastTransitionTime")
        remove_condition(status, PROGRESSING)
        status.setdefault("conditions", []).append(cond)
    elif _timed_out(deployment, status, now):
        set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                            f"{subject} has timed out progressing.", now))


def replica_failure(new: Obj | None, all_rss: Sequence[Obj]) -> Obj | None:
    """A ReplicaSet's ReplicaFailure condition as a Deployment condition (the new one's first)."""
    for group in ([new] if new is not None else [], all_rss):
        for rs in group:
            for cond in (rs.get("status") or {}).get("conditions") or ():
                if cond.get("type") == REPLICA_FAILURE:
                    stamp = cond.get("lastTransitionTime")
                    return {"type": REPLICA_FAILURE, "status": cond.get("status"),
                            "lastUpdateTime": stamp, "lastTransitionTime": stamp,
                            "reason": cond.get("reason"), "message": cond.get("message")}
    return None


def progress_requeue(deployment: Obj, rollout: Rollout, status: Obj, now: float) -> float | None:
    """Upstream ``requeueStuckDeployment``: when to look again for a progress timeout."""
    cond = get_condition(status, PROGRESSING)
    if not has_deadline(deployment) or cond is None:
        return None
    generation = int(meta_of(deployment).get("generation") or 0)
    if is_complete(rollout.replicas, generation, status) or cond.get("reason") == TIMED_OUT:
        return None
    deadline = int(deployment["spec"]["progressDeadlineSeconds"])
    after = parse_time(cond["lastUpdateTime"]) + deadline - now
    # Upstream adds a second against clock skew; it also makes the check land past the deadline.
    return max(after, 0.0) + 1.0
