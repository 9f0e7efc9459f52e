"""What a SidecarSet sees of one pod: injected, updated, upgradable, ready, consistent.

* matched (upstream ``getMatchingPods``): active, its ``kruise.io/sidecarset-injected-list``
  names the SidecarSet and it has every sidecar container;
* ready (``IsPodReady``): phase Running and condition Ready True;
* consistent (``IsPodStateConsistent``): for each sidecar container recorded in
  ``kruise.io/sidecarset-inplace-update-state``, the running instance is the new one —
  its ``imageID`` changed, or its ``status.image`` is the spec image.
"""

from __future__ import annotations

from typing import Any

import orjson

from kitlib.cluster.kruise.sidecarset.hashes import (
    HASH_WITHOUT_IMAGE,
    INJECTED_LIST,
    INPLACE_STATE,
    hash_of,
    hash_without_image_of,
    pod_recorded_hash,
)
from kitlib.cluster.kruise.sidecarset.upgrade import PodState, normalize_image
from kitlib.cluster.podutil import condition, is_ready
from kitlib.cluster.workloads.podorder import is_active
from kitlib.model.objects import annotations_of, parse_time
from kitlib.model.selectors import LabelSelector

__all__ = [
    "active_order",
    "injected_into",
    "inplace_state",
    "is_consistent",
    "is_matched",
    "is_pod_ready",
    "pod_state",
]

Obj = dict[str, Any]
_PHASE = {"Pending": 0, "Unknown": 1, "Running": 2}


def injected_into(pod: Obj) -> list[str]:
    text = annotations_of(pod).get(INJECTED_LIST, "")
    return [n for n in text.split(",") if n]


def is_matched(ss: Obj, pod: Obj) -> bool:
    if not is_active(pod) or ss["metadata"]["name"] not in injected_into(pod):
        return False
    names = {c.get("name") for c in pod.get("spec", {}).get("containers") or ()}
    return all(c.get("name") in names for c in (ss.get("spec") or {}).get("containers") or ())


def is_pod_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def inplace_state(pod: Obj) -> dict[str, Obj]:
    text = annotations_of(pod).get(INPLACE_STATE)
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def is_consistent(ss: Obj, pod: Obj) -> bool:
    recorded = (inplace_state(pod).get(ss["metadata"]["name"]) or {}).get(
        "lastContainerStatuses") or {}
    if not recorded:
        return True
    specs = {c.get("name"): c for c in pod.get("spec", {}).get("containers") or ()}
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses")
                or ()}
    for name, last in recorded.items():
        status = statuses.get(name)
        if status is None or name not in specs:
            return False
        if status.get("imageID") == (last or {}).get("imageID") and normalize_image(
                str(status.get("image", ""))) != normalize_image(str(specs[name].get("image"))):
            return False
    return True


def active_order(pod: Obj) -> tuple[Any, ...]:
    """Upstream ``controller.ActivePods.Less`` as a sort key (smaller first)."""
    status = pod.get("status") or {}
    ready = is_ready(pod)
    since = condition(pod, "Ready") or {}
    ready_at = parse_time(since["lastTransitionTime"]) if ready and \
        since.get("lastTransitionTime") else 0.0
    restarts = max((int(s.get("restartCount") or 0) for s in status.get("containerStatuses")
                    or ()), default=0)
    created = parse_time(pod["metadata"]["creationTimestamp"])
    return (bool(pod.get("spec", {}).get("nodeName")), _PHASE.get(status.get("phase", ""), 0),
            ready, -ready_at, -restarts, -created)


def pod_state(ss: Obj, pod: Obj) -> PodState:
    name = ss["metadata"]["name"]
    spec = ss.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    labels = pod["metadata"].get("labels") or {}
    selector = strategy.get("selector")
    return PodState(
        name=pod["metadata"]["name"],
        updated=pod_recorded_hash(pod, name) == hash_of(ss),
        ready=is_pod_ready(pod),
        consistent=is_consistent(ss, pod),
        upgradable=pod_recorded_hash(pod, name, HASH_WITHOUT_IMAGE) == hash_without_image_of(ss),
        selected=selector is None or LabelSelector.from_object(selector).matches(labels),
        order=active_order(pod),
        weight=_weight(strategy.get("priorityStrategy") or {}, labels))


def _weight(priority: Obj, labels: dict[str, str]) -> int:
    return sum(int(term.get("weight") or 0) for term in priority.get("weightPriority") or ()
               if LabelSelector.from_object(term.get("matchSelector")).matches(labels))
