"""The Advanced StatefulSet's status, as upstream kruise writes it: the native fields
plus ``updatedReadyReplicas``, ``updatedAvailableReplicas`` and ``labelSelector``;
the current revision becomes the update revision once every replica is updated and
ready (``completeRollingUpdate``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kitlib.cluster.kruise.statefulset.plan import AstsView, healthy, revision_of
from kitlib.cluster.podutil import is_ready, is_terminating
from kitlib.model.objects import meta_of

__all__ = ["advanced_status"]

Obj = dict[str, Any]


def advanced_status(sts: Obj, pods: Mapping[int, Obj], *, current: str, update: str,
                    collision_count: int, selector: str, now: float) -> Obj:
    view = AstsView.of(sts)
    members = list(pods.values())
    ready = [p for p in members if (p.get("status") or {}).get("phase") == "Running"
             and is_ready(p)]
    live = [p for p in members if not is_terminating(p)]
    updated = [p for p in live if revision_of(p) == update]
    counts = {
        "replicas": len(members),
        "readyReplicas": len(ready),
        "availableReplicas": sum(1 for p in members if healthy(p, view.min_ready_seconds, now)),
        "currentReplicas": sum(1 for p in live if revision_of(p) == current),
        "updatedReplicas": len(updated),
        "updatedReadyReplicas": sum(1 for p in updated if p in ready),
        "updatedAvailableReplicas": sum(1 for p in updated
                                        if healthy(p, view.min_ready_seconds, now)),
    }
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get(
        "type", "RollingUpdate") == "RollingUpdate"
    if rolling and counts["updatedReplicas"] == counts["replicas"] == counts["readyReplicas"]:
        counts["currentReplicas"], current = counts["updatedReplicas"], update
    status: Obj = {}
    generation = int(meta_of(sts).get("generation") or 0)
    if generation:
        status["observedGeneration"] = generation
    status.update(counts)
    status.update(currentRevision=current, updateRevision=update,
                  collisionCount=collision_count, labelSelector=selector)
    return status
