"""What a SidecarSet sees of one pod: injected, updated, upgradable, ready, consistent.

* matched (upstream ``getMatchingPods``): active, its ``kruise.io/sidecarset-injected-list``
  names the SidecarSet and it has every sidecar container (for a hot-upgrade sidecar
  ``X``: an entry in the working-container annotation and both ``X-1`` and ``X-2``);
* ready (``IsPodReady``): phase Running and condition Ready True, and every hot-upgrade
  "other" container carries its ``hotUpgradeEmptyImage`` (a hot upgrade in flight makes
  the pod count as not ready);
* consistent (``IsPodStateConsistent``): every container has a status and, for each
  sidecar container recorded in ``kruise.io/sidecarset-inplace-update-state``, the
  running instance is the new one — its ``imageID`` changed, or its ``status.image`` is
  the spec image;
* upgrading (``IsSidecarSetUpgradable``'s second result): some sidecar container is
  ready but not consistent — an earlier upgrade is in flight, the pod waits.
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
from kitlib.cluster.kruise.sidecarset.hotupgrade import (
    empty_containers,
    hot_container_names,
    is_hot,
    sidecar_container_names,
    working_map,
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
    "is_sidecarset_pod_ready",
    "is_state_consistent",
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
    working = working_map(pod)
    for c in (ss.get("spec") or {}).get("containers") or ():
        if not is_hot(c) and c.get("name") not in names:
            return False
        if is_hot(c) and (c["name"] not in working or
                          not names.issuperset(hot_container_names(c["name"]))):
            return False
    return True


def is_pod_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def is_sidecarset_pod_ready(ss: Obj, pod: Obj) -> bool:
    """Upstream ``commonControl.IsPodReady``: empty hot containers carry the empty image,
    and the pod is running and ready."""
    images = {c.get("name"): c.get("image") for c in pod.get("spec", {}).get("containers")
              or ()}
    if any(images.get(name) != image for name, image in empty_containers(ss, pod).items()):
        return False
    return is_pod_ready(pod)


def inplace_state(pod: Obj) -> dict[str, Obj]:
    text = annotations_of(pod).get(INPLACE_STATE)
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def is_consistent(ss: Obj, pod: Obj, containers: set[str] | None = None) -> bool:
    """``containers`` limits the check to those pod containers (default: all recorded)."""
    recorded = (inplace_state(pod).get(ss["metadata"]["name"]) or {}).get(
        "lastContainerStatuses") or {}
    if containers is not None:
        recorded = {k: v for k, v in recorded.items() if k in containers}
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


def is_state_consistent(ss: Obj, pod: Obj, containers: set[str]) -> bool:
    """Upstream ``IsPodStateConsistent(pod, containers)``: every container has a status
    and the given ones finished their in-place update."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    if len(pod.get("spec", {}).get("containers") or ()) != len(statuses):
        return False
    return is_consistent(ss, pod, containers)


def is_upgrading(ss: Obj, pod: Obj) -> bool:
    """A sidecar container is ready but not consistent (``IsSidecarSetUpgradable``)."""
    ready = {s.get("name"): bool(s.get("ready"))
             for s in (pod.get("status") or {}).get("containerStatuses") or ()}
    return any(ready.get(name) and not is_state_consistent(ss, pod, {name})
               for name in sorted(sidecar_container_names(ss)))


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
        ready=is_sidecarset_pod_ready(ss, pod),
        consistent=is_state_consistent(ss, pod, sidecar_container_names(ss)),
        upgrading=is_upgrading(ss, pod),
        upgradable=pod_recorded_hash(pod, name, HASH_WITHOUT_IMAGE) == hash_without_image_of(ss),
        selected=selector is None or LabelSelector.from_object(selector).matches(labels),
        order=active_order(pod),
        labels=labels)
