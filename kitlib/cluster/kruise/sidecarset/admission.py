"""SidecarSet admission: defaults, validation and the hash annotations.

Defaults as upstream ``SetDefaultsSidecarSet``: containers ``podInjectPolicy``
``BeforeAppContainer``, ``upgradeStrategy.upgradeType`` ``ColdUpgrade``,
``shareVolumePolicy.type`` ``disabled``; initContainers ``podInjectPolicy``
``AfterAppContainer``; ``updateStrategy`` ``{type: RollingUpdate, maxUnavailable: 1,
partition: 0}``; ``revisionHistoryLimit`` 10; ``patchPodMetadata[].patchPolicy``
``Retain``. Validation follows ``sidecarset_create_update_handler.go``: a non-empty
selector, partition and selector not both set, non-negative int-or-percent values,
on update no new container name and no ``upgradeType`` change
(``validateSidecarContainerConflict``), and no container or volume name shared with another SidecarSet whose selector and
namespace overlap. As upstream, ``hotUpgradeEmptyImage`` is not checked: a
``HotUpgrade`` container without it is accepted, and the pods it would be injected into
are then refused because their ``X-2`` container has no image. The mutating step then sets ``kruise.io/sidecarset-hash`` and
``…-hash-without-image`` on the SidecarSet (``SetHashSidecarSet``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kitlib.cluster.kruise.sidecarset.hashes import HASH, HASH_WITHOUT_IMAGE, sidecarset_hashes
from kitlib.model.registry import ResourceType
from kitlib.model.schema import register_schema

__all__ = ["SIDECARSETS", "SidecarSetAdmission", "register_sidecarset_schema"]

SIDECARSETS = "sidecarsets.apps.kruise.io"
Obj = dict[str, Any]
_INJECT_POLICIES = ("BeforeAppContainer", "AfterAppContainer")
_SIDECAR_EXTRAS = {"podInjectPolicy": "str", "upgradeStrategy": {
    "upgradeType": "str", "hotUpgradeEmptyImage": "str"},
    "shareVolumePolicy": {"type": "str"}, "transferEnv": ["object"]}


def register_sidecarset_schema() -> None:
    register_schema("apps.kruise.io/v1alpha1", "SidecarSet", {
        "spec": {
            "selector": "ref:V1LabelSelector", "namespace": "str",
            "namespaceSelector": "ref:V1LabelSelector",
            "containers": ["object"], "initContainers": ["object"], "volumes": ["object"],
            "imagePullSecrets": ["object"],
            "updateStrategy": {"type": "str", "partition": "intstr", "maxUnavailable": "intstr",
                               "selector": "ref:V1LabelSelector", "paused": "bool",
                               "priorityStrategy": "object", "scatterStrategy": "object"},
            "injectionStrategy": {"paused": "bool", "revision": "object"},
            "revisionHistoryLimit": "int", "patchPodMetadata": ["object"],
        },
        "status": "object",
    })


def set_defaults(ss: Obj) -> None:
    spec = ss.setdefault("spec", {})
    for c in spec.get("containers") or ():
        c.setdefault("podInjectPolicy", "BeforeAppContainer")
        c.setdefault("upgradeStrategy", {}).setdefault("upgradeType", "ColdUpgrade")
        c.setdefault("shareVolumePolicy", {}).setdefault("type", "disabled")
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    for c in spec.get("initContainers") or ():
        c.setdefault("podInjectPolicy", "AfterAppContainer")
        c.setdefault("upgradeStrategy", {}).setdefault("upgradeType", "ColdUpgrade")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    strategy.setdefault("partition", 0)
    strategy.setdefault("maxUnavailable", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    for patch in spec.get("patchPodMetadata") or ():
        patch.setdefault("patchPolicy", "Retain")


class SidecarSetAdmission:
    """The SidecarSet webhook: ``fn(op, rt, obj, old)`` for ``store.add_admission``."""

    def __init__(self, others: Callable[[], list[Obj]]) -> None:
        self.others = others

    def __call__(self, op: str, rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        if op not in ("CREATE", "UPDATE"):
            return obj
        set_defaults(obj)
        problems = spec_errors(obj.get("spec") or {})
        if old is not None:
            problems += _update_errors(obj, old)
        problems += self._collisions(obj)
        if problems:
            raise rt.invalid(obj["metadata"].get("name") or "", problems)
        full, without_image = sidecarset_hashes(obj["spec"])
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[HASH], annotations[HASH_WITHOUT_IMAGE] = full, without_image
        return obj

    def _collisions(self, ss: Obj) -> list[str]:
        name = ss["metadata"].get("name")
        spec = ss.get("spec") or {}
        out: list[str] = []
        for other in sorted(self.others(), key=lambda o: o["metadata"]["name"]):
            if other["metadata"]["name"] == name or not _overlap(spec, other.get("spec") or {}):
                continue
            out += _name_collisions(spec, other)
        return out


def spec_errors(spec: Obj) -> list[str]:
    out: list[str] = []
    selector = spec.get("selector")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        out.append("spec.selector: Required value: no selector defined for SidecarSet")
    if not spec.get("containers") and not spec.get("initContainers"):
        out.append("spec.containers: Required value: no containers defined for SidecarSet")
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") not in ("RollingUpdate", "NotUpdate"):
        out.append(f'spec.updateStrategy.type: Unsupported value: "{strategy.get("type")}": '
                   'supported values: "NotUpdate", "RollingUpdate"')
    for field in ("partition", "maxUnavailable"):
        out += _int_or_percent(strategy.get(field), f"spec.updateStrategy.{field}")
    if strategy.get("selector") and strategy.get("partition") not in (None, 0, "0", "0%"):
        out.append("spec.updateStrategy: Invalid value: partition and selector cannot be set "
                   "at the same time")
    for i, c in enumerate(spec.get("containers") or ()):
        out += _container_errors(c, f"spec.containers[{i}]")
    names = [c.get("name") for c in spec.get("containers") or ()]
    dup = sorted({n for n in names if names.count(n) > 1 and n})
    out += [f'spec.containers: Duplicate value: "{n}"' for n in dup]
    return out


def _container_errors(c: Obj, path: str) -> list[str]:
    out = []
    if not c.get("name"):
        out.append(f"{path}.name: Required value")
    if not c.get("image"):
        out.append(f"{path}.image: Required value")
    if c.get("podInjectPolicy") not in _INJECT_POLICIES:
        out.append(f'{path}.podInjectPolicy: Unsupported value: "{c.get("podInjectPolicy")}": '
                   'supported values: "BeforeAppContainer", "AfterAppContainer"')
    upgrade = c.get("upgradeStrategy") or {}
    if upgrade.get("upgradeType") not in ("ColdUpgrade", "HotUpgrade"):
        out.append(f'{path}.upgradeStrategy.upgradeType: Unsupported value: '
                   f'"{upgrade.get("upgradeType")}"')
    if (c.get("shareVolumePolicy") or {}).get("type") not in ("enabled", "disabled"):
        out.append(f"{path}.shareVolumePolicy.type: Unsupported value")
    return out


def _int_or_percent(value: Any, path: str) -> list[str]:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return []
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return []
    if isinstance(value, str) and value.isdigit():
        return []
    return [f"{path}: Invalid value: {value!r}: must be a non-negative integer or a "
            "percentage"]


def _update_errors(new: Obj, old: Obj) -> list[str]:
    """Upstream ``validateSidecarContainerConflict``: on update every container must
    already exist (by name) and keep its ``upgradeType``."""
    before = {c.get("name"): (c.get("upgradeStrategy") or {}).get("upgradeType")
              for c in (old.get("spec") or {}).get("containers") or ()}
    out = []
    for c in (new.get("spec") or {}).get("containers") or ():
        name, kind = c.get("name"), (c.get("upgradeStrategy") or {}).get("upgradeType")
        if name not in before:
            out.append(f'spec.containers.name: Invalid value: "{name}": container {name} '
                       "is not found")
        elif before[name] and before[name] != kind:
            out.append(f'spec.containers.upgradeStrategy.upgradeType: Invalid value: "{name}": '
                       f"container {name} upgradeType is immutable")
    return out


def _overlap(a: Obj, b: Obj) -> bool:
    """Whether some pod could match both SidecarSets (upstream ``IsSelectorOverlapping``
    on matchLabels, and overlapping namespaces)."""
    if a.get("namespace") and b.get("namespace") and a["namespace"] != b["namespace"]:
        return False
    la = (a.get("selector") or {}).get("matchLabels") or {}
    lb = (b.get("selector") or {}).get("matchLabels") or {}
    return all(lb[k] == v for k, v in la.items() if k in lb)


def _name_collisions(spec: Obj, other: Obj) -> list[str]:
    other_name = other["metadata"]["name"]
    ospec = other.get("spec") or {}
    theirs = {c.get("name") for c in (*(ospec.get("containers") or ()),
                                      *(ospec.get("initContainers") or ()))}
    out = [f"spec.containers.name: Invalid value: \"{c.get('name')}\": container "
           f"{c.get('name')} already exist in {other_name}"
           for c in (*(spec.get("containers") or ()), *(spec.get("initContainers") or ()))
           if c.get("name") in theirs]
    volumes = {v.get("name"): v for v in ospec.get("volumes") or ()}
    out += [f"spec.volumes.name: Invalid value: \"{v.get('name')}\": volume {v.get('name')} "
            f"is in conflict with sidecarset {other_name}"
            for v in spec.get("volumes") or ()
            if v.get("name") in volumes and volumes[v.get("name")] != v]
    return out
