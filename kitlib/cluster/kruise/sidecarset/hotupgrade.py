"""SidecarSet hot upgrade: the two-container swap (upstream
``pkg/control/sidecarcontrol/util_hotupgrade.go``, ``pkg/webhook/pod/mutating/
sidecarset_hotupgrade.go``, ``pkg/controller/sidecarset/sidecarset_hotupgrade.go``).

A sidecar container ``X`` with ``upgradeStrategy.upgradeType: HotUpgrade`` lives in a pod
as two containers: ``X-1`` and ``X-2``. At injection ``X-1`` runs the real image and
``X-2`` the ``hotUpgradeEmptyImage``; the pod annotation
``kruise.io/sidecarset-working-hotupgrade-container`` (JSON ``{X: X-1}``) names the
working one, and ``version.sidecarset.kruise.io/<c>`` / ``versionalt.sidecarset.kruise.io/
<c>`` (read by the containers' ``SIDECARSET_VERSION`` / ``SIDECARSET_VERSION_ALT`` env
through ``fieldRef``) are ``"1"``/``"0"`` for ``X-1`` and ``"0"``/``"1"`` for ``X-2``.

An upgrade patches the image of one of the two — the one carrying the empty image, else
the not-ready one, else the older (not working) one — makes it the working container and
sets its version to the SidecarSet's ``resourceVersion``. Once every non-empty sidecar
container is consistent and ready, the controller *flips* the other container back to
the empty image (its version ``"0"``) without touching the pod's SidecarSet hash. The
kubelet restarts only the container whose image changed: the app never restarts.

All functions are pure over plain dicts; the ``…_do`` ones edit a private draft.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from kitlib.model.objects import annotations_of

__all__ = [
    "VERSION_ALT_ENV", "VERSION_ENV", "WORKING", "empty_containers", "find_container_to_upgrade",
    "flip_do", "hot_container_names", "hot_upgrade_containers", "is_hot",
    "is_hot_upgrading_ready", "is_in_hot_upgrading", "pod_hot_containers",
    "sidecar_container_names", "upgrade_hot_do", "version_alt_key", "version_key",
    "working_map",
]

Obj = dict[str, Any]
WORKING = "kruise.io/sidecarset-working-hotupgrade-container"
VERSION_ENV = "SIDECARSET_VERSION"
VERSION_ALT_ENV = "SIDECARSET_VERSION_ALT"


def version_key(container: str) -> str:
    return f"version.sidecarset.kruise.io/{container}"


def version_alt_key(container: str) -> str:
    return f"versionalt.sidecarset.kruise.io/{container}"


def is_hot(sidecar: Obj) -> bool:
    return (sidecar.get("upgradeStrategy") or {}).get("upgradeType") == "HotUpgrade"


def empty_image(sidecar: Obj) -> str:
    return str((sidecar.get("upgradeStrategy") or {}).get("hotUpgradeEmptyImage") or "")


def hot_container_names(name: str) -> tuple[str, str]:
    return f"{name}-1", f"{name}-2"


def sidecar_container_names(ss: Obj) -> set[str]:
    """Upstream ``GetSidecarContainersInPod``: the pod container names of a SidecarSet."""
    out: set[str] = set()
    for c in (ss.get("spec") or {}).get("containers") or ():
        out.update(hot_container_names(c["name"]) if is_hot(c) else (c["name"],))
    return out


def working_map(pod: Obj) -> dict[str, str]:
    text = annotations_of(pod).get(WORKING)
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def pod_hot_containers(name: str, pod: Obj) -> tuple[str, str]:
    """``(working, other)`` for sidecar ``name`` (``GetPodHotUpgradeContainers``): the other
    is the empty container, or during a hot upgrade the older one."""
    one, two = hot_container_names(name)
    return (one, two) if working_map(pod).get(name) == one else (two, one)


def empty_containers(ss: Obj, pod: Obj) -> dict[str, str]:
    """``{other container: hotUpgradeEmptyImage}`` for every hot sidecar of ``ss``."""
    return {pod_hot_containers(c["name"], pod)[1]: empty_image(c)
            for c in (ss.get("spec") or {}).get("containers") or () if is_hot(c)}


def hot_upgrade_containers(built: Obj, sidecar: Obj) -> tuple[list[Obj], dict[str, str]]:
    """Injection (``injectHotUpgradeContainers``): ``[X-1, X-2]`` from the injected form
    ``built`` of sidecar ``X``, and the annotations to add (the caller merges the working
    map into the pod's)."""
    one, two = hot_container_names(sidecar["name"])
    first = {**orjson.loads(orjson.dumps(built)), "name": one}
    second = {**orjson.loads(orjson.dumps(built)), "name": two, "image": empty_image(sidecar)}
    for c in (first, second):
        c["env"] = [*(c.get("env") or []), _field_env(VERSION_ENV, version_key(c["name"])),
                    _field_env(VERSION_ALT_ENV, version_alt_key(c["name"]))]
    annotations = {version_key(one): "1", version_alt_key(one): "0",
                   version_key(two): "0", version_alt_key(two): "1"}
    return [first, second], annotations


def _field_env(name: str, annotation: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": f"metadata.annotations['{annotation}']"}}}


def find_container_to_upgrade(sidecar: Obj, pod: Obj,
                              consistent: Callable[[str], bool]) -> tuple[str, str]:
    """``(container to upgrade, other)`` (``findContainerToHotUpgrade``): the one with the
    empty image; else the one not ready (or not consistent) while the other is; else the
    older one."""
    one, two = hot_container_names(sidecar["name"])
    images = {c["name"]: c.get("image") for c in pod["spec"]["containers"]}
    if images.get(one) == empty_image(sidecar):
        return one, two
    if images.get(two) == empty_image(sidecar):
        return two, one
    ready = {s.get("name"): bool(s.get("ready"))
             for s in (pod.get("status") or {}).get("containerStatuses") or ()}
    one_ok = ready.get(one, False) and consistent(one)
    two_ok = ready.get(two, False) and consistent(two)
    if one_ok and not two_ok:
        return two, one
    if two_ok and not one_ok:
        return one, two
    working, older = pod_hot_containers(sidecar["name"], pod)
    return older, working


def upgrade_hot_do(draft: Obj, sidecar: Obj, target: str, other: str, version: str) -> bool:
    """Patch ``target`` to the sidecar's image, make it working and record versions.
    False (no change) when the other container already runs that image."""
    containers = {c["name"]: c for c in draft["spec"]["containers"]}
    if containers[other].get("image") == sidecar.get("image"):
        return False
    containers[target]["image"] = sidecar.get("image")
    annotations = draft["metadata"].setdefault("annotations", {})
    working = working_map(draft)
    working[sidecar["name"]] = target
    annotations[WORKING] = orjson.dumps(working, option=orjson.OPT_SORT_KEYS).decode()
    annotations[version_key(target)] = version
    annotations[version_alt_key(target)] = annotations.get(version_key(other), "")
    annotations[version_alt_key(other)] = version
    return True


def is_in_hot_upgrading(ss: Obj, pod: Obj) -> bool:
    """Some hot sidecar's other container does not carry the empty image
    (``isPodSidecarInHotUpgrading``)."""
    images = {c["name"]: c.get("image") for c in pod["spec"]["containers"]}
    return any(images.get(name) != image for name, image in empty_containers(ss, pod).items())


def is_hot_upgrading_ready(ss: Obj, pod: Obj, running_and_ready: bool) -> bool:
    """``isHotUpgradingReady``: the pod is running and ready, or every container but the
    empty ones reports ready."""
    if running_and_ready:
        return True
    empty = empty_containers(ss, pod)
    return all(s.get("ready") for s in (pod.get("status") or {}).get("containerStatuses") or ()
               if s.get("name") not in empty)


def flip_do(ss: Obj, draft: Obj) -> list[str]:
    """``flipPodSidecarContainerDo``: reset every other container that is not empty to
    the empty image, its version to ``"0"`` and its partner's alt version to ``"0"``;
    returns the containers changed."""
    containers = {c["name"]: c for c in draft["spec"]["containers"]}
    annotations = draft["metadata"].setdefault("annotations", {})
    changed: list[str] = []
    for sidecar in (ss.get("spec") or {}).get("containers") or ():
        if not is_hot(sidecar):
            continue
        working, other = pod_hot_containers(sidecar["name"], draft)
        if containers[other].get("image") == empty_image(sidecar):
            continue
        containers[other]["image"] = empty_image(sidecar)
        changed.append(other)
        annotations[version_key(other)] = "0"
        annotations[version_alt_key(working)] = "0"
    return changed
