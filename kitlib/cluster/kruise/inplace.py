"""In-place update of a pod: shared by CloneSet, Advanced StatefulSet and SidecarSet.

Upstream ``pkg/util/inplaceupdate`` (reference §1.10):

* ``calculate_in_place_spec`` (``defaultCalculateInPlaceUpdateSpec``): between the pod
  templates of two revisions, only container **image** replacements in ``spec`` and any
  change of ``metadata`` labels/annotations are in-place-able; anything else (env,
  command, ports, resources, an added container, init containers…) is not → ``None``.
* ``start_update`` writes what ``Update`` writes: condition ``InPlaceUpdateReady=False``
  (reason ``StartInPlaceUpdate``; ``Ready`` drops to False with it when the containers
  were ready), the annotation ``apps.kruise.io/inplace-update-state`` (revision,
  updateTimestamp, lastContainerStatuses {c: {imageID}}, updateImages…), and either the
  new images/metadata now or — with ``gracePeriodSeconds`` — the annotation
  ``apps.kruise.io/inplace-update-grace`` and nothing on the spec until the grace period
  is over.
* ``refresh_action`` (``Refresh``): finish a grace period, or, once the update is
  complete (or there never was one), set ``InPlaceUpdateReady=True`` on a pod with the
  readiness gate; the kubelet then flips ``Ready``.
* ``is_update_completed`` (``defaultCheckContainersInPlaceUpdateCompleted``): every
  recorded container's ``status.imageID`` differs from the one recorded, or its
  ``status.image`` equals the spec image.

The kubelet restarts only the containers whose image changed, so name, UID, node, IP
and the other containers survive. Pure functions over pod dicts and drafts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.podutil import condition, set_condition
from kitlib.model.objects import format_time, parse_time

__all__ = [
    "GRACE_ANNOTATION",
    "INPLACE_READY",
    "REVISION_LABEL",
    "STATE_ANNOTATION",
    "TEMPLATE_HASH_LABEL",
    "InPlaceSpec",
    "RefreshAction",
    "apply_spec",
    "calculate_in_place_spec",
    "equal_to_revision",
    "has_readiness_gate",
    "is_update_completed",
    "mark_not_ready",
    "refresh_action",
    "set_ready",
    "start_update",
    "update_state",
]

Obj = dict[str, Any]

INPLACE_READY = "InPlaceUpdateReady"
REVISION_LABEL = "controller-revision-hash"
TEMPLATE_HASH_LABEL = "pod-template-hash"
STATE_ANNOTATION = "apps.kruise.io/inplace-update-state"
GRACE_ANNOTATION = "apps.kruise.io/inplace-update-grace"


@dataclass(frozen=True)
class InPlaceSpec:
    """What an in-place update changes (upstream ``UpdateSpec``)."""

    revision: str
    container_images: dict[str, str] = field(default_factory=dict)
    #: label/annotation -> new value, or None to remove it.
    labels: dict[str, str | None] = field(default_factory=dict)
    annotations: dict[str, str | None] = field(default_factory=dict)


def _map_diff(old: dict[str, str], new: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {k: v for k, v in new.items() if old.get(k) != v}
    out.update({k: None for k in old if k not in new})
    return out


def calculate_in_place_spec(old_template: Obj, new_template: Obj,
                            revision: str) -> InPlaceSpec | None:
    """The in-place change from ``old_template`` to ``new_template``, or None if impossible."""
    old_spec = old_template.get("spec") or {}
    new_spec = new_template.get("spec") or {}
    old_containers = old_spec.get("containers") or []
    new_containers = new_spec.get("containers") or []
    if len(old_containers) != len(new_containers):
        return None
    images: dict[str, str] = {}
    for old_c, new_c in zip(old_containers, new_containers, strict=True):
        if {**old_c, "image": None} != {**new_c, "image": None}:
            return None
        if old_c.get("image") != new_c.get("image"):
            images[str(new_c.get("name"))] = str(new_c.get("image"))
    rest_old = {k: v for k, v in old_spec.items() if k != "containers"}
    rest_new = {k: v for k, v in new_spec.items() if k != "containers"}
    if rest_old != rest_new:
        return None
    old_meta, new_meta = old_template.get("metadata") or {}, new_template.get("metadata") or {}
    return InPlaceSpec(
        revision, images,
        _map_diff(old_meta.get("labels") or {}, new_meta.get("labels") or {}),
        _map_diff(old_meta.get("annotations") or {}, new_meta.get("annotations") or {}))


def equal_to_revision(pod: Obj, revision: str) -> bool:
    """Upstream ``EqualToRevisionHash``: the pod's revision label is ``revision`` or its hash."""
    label = str(((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, ""))
    if not label:
        return False
    return label == revision or label.rsplit("-", 1)[-1] == revision.rsplit("-", 1)[-1]


def has_readiness_gate(pod: Obj) -> bool:
    return any(g.get("conditionType") == INPLACE_READY
               for g in (pod.get("spec") or {}).get("readinessGates") or ())


# -- Update ------------------------------------------------------------------------------

def mark_not_ready(status_draft: Obj, now: float) -> None:
    """Step 1 of ``Update`` on a status draft: ``InPlaceUpdateReady=False``, Ready with it."""
    if not has_readiness_gate(status_draft):
        return
    set_condition(status_draft, INPLACE_READY, "False", now, reason="StartInPlaceUpdate")
    ready = condition(status_draft, "ContainersReady")
    if ready is not None and ready.get("status") == "True":
        set_condition(status_draft, "Ready", "False", now, reason="ReadinessGatesNotReady",
                      message=f'the status of pod readiness gate "{INPLACE_READY}" is not '
                              '"True", but False')


def _image_ids(pod: Obj) -> dict[str, str]:
    return {s.get("name", ""): s.get("imageID", "")
            for s in (pod.get("status") or {}).get("containerStatuses") or ()}


def start_update(draft: Obj, spec: InPlaceSpec, now: float, grace_seconds: int) -> None:
    """Step 2-3 of ``Update`` on a pod draft: the state annotation, then spec or grace."""
    ids = _image_ids(draft)
    state = {"revision": spec.revision, "updateTimestamp": format_time(now),
             "lastContainerStatuses": {c: {"imageID": ids.get(c, "")}
                                       for c in sorted(spec.container_images)},
             "updateImages": bool(spec.container_images)}
    annotations = draft["metadata"].setdefault("annotations", {})
    annotations[STATE_ANNOTATION] = json.dumps(state, separators=(",", ":"))
    if grace_seconds > 0:
        grace = {"revision": spec.revision, "containerImages": spec.container_images,
                 "labels": spec.labels, "annotations": spec.annotations,
                 "graceSeconds": grace_seconds}
        annotations[GRACE_ANNOTATION] = json.dumps(grace, separators=(",", ":"),
                                                   sort_keys=True)
        return
    apply_spec(draft, spec)


def apply_spec(draft: Obj, spec: InPlaceSpec) -> None:
    """Patch the new images and metadata onto a pod draft."""
    for c in (draft.get("spec") or {}).get("containers") or ():
        if c.get("name") in spec.container_images:
            c["image"] = spec.container_images[c["name"]]
    meta = draft["metadata"]
    for key, changes in (("labels", spec.labels), ("annotations", spec.annotations)):
        target = meta.setdefault(key, {})
        for k, v in changes.items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v


def update_state(pod: Obj) -> Obj | None:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATE_ANNOTATION)
    try:
        return dict(json.loads(raw)) if raw else None
    except (ValueError, TypeError):
        return None


def _grace(pod: Obj) -> Obj | None:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(GRACE_ANNOTATION)
    try:
        return dict(json.loads(raw)) if raw else None
    except (ValueError, TypeError):
        return None


# -- completion and Refresh --------------------------------------------------------------

def _normal_image(image: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if image.startswith(prefix):
            image = image[len(prefix):]
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"


def is_update_completed(pod: Obj) -> bool:
    """Upstream ``DefaultCheckInPlaceUpdateCompleted`` (no grace pending, containers done)."""
    if _grace(pod) is not None:
        return False
    state = update_state(pod)
    if state is None:
        return True
    spec_images = {c.get("name"): str(c.get("image", ""))
                   for c in (pod.get("spec") or {}).get("containers") or ()}
    last = dict(state.get("lastContainerStatuses") or {})
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        name = status.get("name")
        if name not in last:
            continue
        if last[name].get("imageID") == status.get("imageID", "") and \
                _normal_image(str(status.get("image", ""))) != \
                _normal_image(spec_images.get(name, "")):
            return False
        del last[name]
    return not last


@dataclass(frozen=True)
class RefreshAction:
    """What ``Refresh`` does to a pod now: one of ``kind``."""

    #: "none", "drop_grace", "wait", "apply_grace", "set_ready"
    kind: str
    wait_seconds: float = 0.0
    spec: InPlaceSpec | None = None


def refresh_action(pod: Obj, now: float) -> RefreshAction:
    """Upstream ``Refresh``: the next step of ``pod``'s in-place update at ``now``."""
    grace = _grace(pod)
    if grace is not None:
        return _grace_action(pod, grace, now)
    if not is_update_completed(pod):
        return RefreshAction("none")
    cond = condition(pod, INPLACE_READY)
    if has_readiness_gate(pod) and (cond is None or cond.get("status") != "True"):
        return RefreshAction("set_ready")
    return RefreshAction("none")


def _grace_action(pod: Obj, grace: Obj, now: float) -> RefreshAction:
    if not equal_to_revision(pod, str(grace.get("revision", ""))):
        return RefreshAction("drop_grace")
    state = update_state(pod) or {}
    started = parse_time(state["updateTimestamp"]) if state.get("updateTimestamp") else now
    remaining = started + float(grace.get("graceSeconds") or 0) - now
    if remaining > 0:
        return RefreshAction("wait", wait_seconds=float(math.ceil(remaining)))
    spec = InPlaceSpec(str(grace.get("revision", "")), dict(grace.get("containerImages") or {}),
                       dict(grace.get("labels") or {}), dict(grace.get("annotations") or {}))
    return RefreshAction("apply_grace", spec=spec)


def set_ready(status_draft: Obj, now: float) -> None:
    """``InPlaceUpdateReady=True`` on a status draft."""
    set_condition(status_draft, INPLACE_READY, "True", now)
