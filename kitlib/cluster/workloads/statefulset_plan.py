"""Pure plans of the StatefulSet controller: which ordinal to create, delete or fix next.

Upstream ``pkg/controller/statefulset/stateful_set_control.go``
(``updateStatefulSet``) over the set (``StsView``) and its member pods by
ordinal, without I/O:

1. every ordinal in ``[start, start + replicas)`` must have a pod; a missing one
   is created at the *current* revision if it is below the partition (pods
   below it stay untouched, even when recreated), else at the *update*
   revision; a Failed or Succeeded pod is deleted (and recreated once gone);
2. pods outside that range are *condemned* and deleted from the highest
   ordinal down;
3. RollingUpdate then deletes the highest-ordinal pod not at the update
   revision, down to the partition, one at a time (or up to
   ``maxUnavailable``); the pod comes back at the update revision through
   step 1. OnDelete stops before this step.

``OrderedReady`` (monotonic) stops at the first pod that is missing,
terminating, or not Running and available — so pods are created in order,
each ready before the next, and removed in reverse; ``Parallel`` does every
step at once. A pod being deleted keeps its name until it is gone, so the
replacement of a recreated pod always waits for the old one to disappear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.podutil import is_available, is_ready, is_terminating
from kitlib.model.errors import ApiError
from kitlib.model.intstr import scaled_value
from kitlib.model.objects import meta_of, name_of

__all__ = [
    "POD_INDEX",
    "POD_NAME",
    "REVISION_LABEL",
    "StsPlan",
    "StsView",
    "ordinal_of",
    "plan_statefulset",
    "revision_for",
    "statefulset_status",
]

Pod = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def ordinal_of(pod_name: str, set_name: str) -> int:
    """The ordinal of ``pod_name`` if it is a member of set ``set_name``, else -1."""
    match = _ORDINAL.match(pod_name)
    if match is None or match.group(1) != set_name:
        return -1
    value = int(match.group(2))
    return value if value < 2**31 else -1


@dataclass(frozen=True)
class StsView:
    """What the plan needs of a StatefulSet."""

    name: str
    replicas: int
    start: int = 0
    monotonic: bool = True
    on_delete: bool = False
    #: ``rollingUpdate.partition``; None when RollingUpdate has no ``rollingUpdate``.
    partition: int | None = 0
    #: ``rollingUpdate.maxUnavailable`` resolved, or None when not set.
    max_unavailable: int | None = None
    min_ready_seconds: float = 0.0
    #: ``status.currentReplicas`` (used only when ``rollingUpdate`` is absent).
    current_replicas: int = 0
    deleting: bool = False

    @classmethod
    def of(cls, sts: Pod) -> StsView:
        spec = sts.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("rollingUpdate")
        on_delete = strategy.get("type") == "OnDelete"
        partition = None if on_delete or rolling is None else int(rolling.get("partition") or 0)
        replicas = int(spec.get("replicas", 1))
        return cls(name=name_of(sts), replicas=replicas,
                   start=int((spec.get("ordinals") or {}).get("start") or 0),
                   monotonic=spec.get("podManagementPolicy", "OrderedReady") != "Parallel",
                   on_delete=on_delete, partition=partition,
                   max_unavailable=_max_unavailable(rolling, replicas),
                   min_ready_seconds=float(spec.get("minReadySeconds") or 0),
                   current_replicas=int((sts.get("status") or {}).get("currentReplicas") or 0),
                   deleting=bool(meta_of(sts).get("deletionTimestamp")))

    def in_range(self, ordinal: int) -> bool:
        return self.start <= ordinal < self.start + self.replicas


def _max_unavailable(rolling: Mapping[str, Any] | None, replicas: int) -> int | None:
    value = (rolling or {}).get("maxUnavailable")
    if value is None:
        return None
    try:
        return max(1, scaled_value(value, replicas, round_up=False, field="maxUnavailable"))
    except ApiError:
        return 1


def revision_for(sts: StsView, ordinal: int) -> str:
    """``"current"`` or ``"update"``: the revision a new pod of ``ordinal`` gets."""
    if sts.partition is not None:
        below = ordinal < sts.start + sts.partition
    else:
        below = not sts.on_delete and ordinal < sts.start + sts.current_replicas
    return "current" if below else "update"


@dataclass(frozen=True)
class StsPlan:
    #: Ordinals to create, with "current" or "update" (the revision to use).
    create: tuple[tuple[int, str], ...] = ()
    #: Pod names to delete, in order.
    delete: tuple[str, ...] = ()
    #: Pod names whose identity labels must be restored.
    fix_identity: tuple[str, ...] = ()


@dataclass
class _Draft:
    create: list[tuple[int, str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    fix: list[str] = field(default_factory=list)

    def done(self) -> StsPlan:
        return StsPlan(tuple(self.create), tuple(self.delete), tuple(self.fix))


def _running_ready(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def _running_available(pod: Pod, min_ready: float, now: float) -> bool:
    return _running_ready(pod) and is_available(pod, min_ready, now)


def _unavailable(pod: Pod | None, min_ready: float, now: float) -> bool:
    return pod is None or is_terminating(pod) or not _running_available(pod, min_ready, now)


def plan_statefulset(sts: StsView, pods: Mapping[int, Pod], update_revision: str,
                     now: float) -> StsPlan:
    """One reconcile's actions; ``pods`` maps ordinal → member pod (any ordinal)."""
    draft = _Draft()
    if sts.deleting:
        return draft.done()
    replicas = {o: pods.get(o) for o in range(sts.start, sts.start + sts.replicas)}
    condemned = sorted((o for o in pods if not sts.in_range(o)), reverse=True)
    first_unavailable = _first_unavailable(sts, replicas, condemned, pods, now)
    stop = _process_replicas(sts, replicas, draft, now)
    if stop:
        return draft.done()
    for ordinal in condemned:
        if _process_condemned(sts, pods[ordinal], ordinal == first_unavailable, draft, now):
            return draft.done()
    if sts.on_delete:
        return draft.done()
    _roll(sts, replicas, update_revision, draft, now)
    return draft.done()


def _first_unavailable(sts: StsView, replicas: Mapping[int, Pod | None], condemned: list[int],
                       pods: Mapping[int, Pod], now: float) -> int | None:
    for ordinal, pod in replicas.items():
        if _unavailable(pod, sts.min_ready_seconds, now):
            return ordinal
    for ordinal in reversed(condemned):
        if _unavailable(pods[ordinal], sts.min_ready_seconds, now):
            return ordinal
    return None


def _process_replicas(sts: StsView, replicas: Mapping[int, Pod | None], draft: _Draft,
                      now: float) -> bool:
    """Upstream ``processReplica`` for each ordinal in range; True to stop this round."""
    for ordinal, pod in replicas.items():
        if pod is None:
            draft.create.append((ordinal, revision_for(sts, ordinal)))
            if sts.monotonic:
                return True
            continue
        if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            if not is_terminating(pod):
                draft.delete.append(name_of(pod))
            if sts.monotonic:
                return True
            continue
        if sts.monotonic and (is_terminating(pod) or not _running_available(
                pod, sts.min_ready_seconds, now)):
            return True
        labels = meta_of(pod).get("labels") or {}
        if labels.get(POD_NAME) != name_of(pod) or labels.get(POD_INDEX) != str(ordinal):
            draft.fix.append(name_of(pod))
    return False


def _process_condemned(sts: StsView, pod: Pod, first_unavailable: bool, draft: _Draft,
                       now: float) -> bool:
    """Upstream ``processCondemned``; True to stop this round."""
    if is_terminating(pod):
        return sts.monotonic
    if sts.monotonic and not first_unavailable and not _running_available(
            pod, sts.min_ready_seconds, now):
        return True
    draft.delete.append(name_of(pod))
    return sts.monotonic


def _roll(sts: StsView, replicas: Mapping[int, Pod | None], update_revision: str,
          draft: _Draft, now: float) -> None:
    """Delete outdated pods from the highest ordinal down to the partition."""
    floor = sts.start + (sts.partition or 0)
    ordinals = sorted(replicas, reverse=True)
    if sts.max_unavailable is None:  # one at a time, waiting for each
        for ordinal in (o for o in ordinals if o >= floor):
            pod = replicas[ordinal]
            if pod is not None and not is_terminating(pod) and _revision(pod) != update_revision:
                draft.delete.append(name_of(pod))
                return
            if _unavailable(pod, sts.min_ready_seconds, now):
                return
        return
    unavailable = sum(1 for o in ordinals if _unavailable(replicas[o], sts.min_ready_seconds,
                                                          now))
    budget = sts.max_unavailable - unavailable
    for ordinal in (o for o in ordinals if o >= floor):
        pod = replicas[ordinal]
        if budget <= 0:
            return
        if pod is not None and not is_terminating(pod) and _revision(pod) != update_revision:
            draft.delete.append(name_of(pod))
            budget -= 1


def _revision(pod: Pod) -> str:
    return str((meta_of(pod).get("labels") or {}).get(REVISION_LABEL, ""))


def statefulset_status(sts: Pod, pods: Mapping[int, Pod], *, current: str, update: str,
                       collision_count: int, now: float) -> Pod:
    """The status upstream writes (``updateStatus`` then ``completeRollingUpdate``)."""
    view = StsView.of(sts)
    members = list(pods.values())
    ready = [p for p in members if _running_ready(p)]
    live = [p for p in members if not is_terminating(p)]
    counts = {
        "replicas": len(members),
        "ready": len(ready),
        "available": sum(1 for p in ready if _running_available(p, view.min_ready_seconds,
                                                                 now)),
        "current": sum(1 for p in live if _revision(p) == current),
        "updated": sum(1 for p in live if _revision(p) == update),
    }
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get(
        "type", "RollingUpdate") == "RollingUpdate"
    if rolling and counts["updated"] == counts["replicas"] == counts["ready"]:
        counts["current"], current = counts["updated"], update
    status: Pod = {}
    generation = int(meta_of(sts).get("generation") or 0)
    if generation:
        status["observedGeneration"] = generation
    status["replicas"] = counts["replicas"]
    for key, count in (("readyReplicas", counts["ready"]), ("currentReplicas", counts["current"]),
                       ("updatedReplicas", counts["updated"])):
        if count:
            status[key] = count
    status.update(currentRevision=current, updateRevision=update,
                  collisionCount=collision_count, availableReplicas=counts["available"])
    return status
