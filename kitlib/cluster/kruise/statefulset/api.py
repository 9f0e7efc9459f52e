"""Advanced StatefulSet (``apps.kruise.io/v1beta1``): schema, defaults and validation.

Defaults as upstream ``SetDefaultsStatefulSet`` (v1beta1): ``replicas`` 1,
``podManagementPolicy: OrderedReady``, ``updateStrategy.type: RollingUpdate`` with
``rollingUpdate{partition: 0, maxUnavailable: 1, podUpdatePolicy: ReCreate,
paused: false}``, ``revisionHistoryLimit`` 10. Validation keeps to what the
controller relies on: a selector matching the template labels, a known
``podUpdatePolicy`` and ``podManagementPolicy``, ``minReadySeconds`` within 0..300,
non-negative ``partition``/``replicas``.
"""

from __future__ import annotations

from typing import Any

from kitlib.model.registry import ResourceType
from kitlib.model.schema import register_schema
from kitlib.model.selectors import LabelSelector

__all__ = ["admit_advanced_statefulset"]

register_schema("apps.kruise.io/v1beta1", "StatefulSet", {
    "spec": {
        "replicas": "int", "selector": "ref:V1LabelSelector",
        "template": "ref:V1PodTemplateSpec", "serviceName": "str",
        "volumeClaimTemplates": ["object"], "podManagementPolicy": "str",
        "revisionHistoryLimit": "int", "minReadySeconds": "int",
        "reserveOrdinals": ["intstr"], "ordinals": {"start": "int"},
        "persistentVolumeClaimRetentionPolicy": "object", "lifecycle": "object",
        "volumeClaimUpdateStrategy": "object",
        "scaleStrategy": {"maxUnavailable": "intstr"},
        "updateStrategy": {
            "type": "str",
            "rollingUpdate": {
                "partition": "int", "maxUnavailable": "intstr", "podUpdatePolicy": "str",
                "paused": "bool", "minReadySeconds": "int",
                "unorderedUpdate": "object",
                "inPlaceUpdateStrategy": {"gracePeriodSeconds": "int"},
            },
        },
    },
    "status": "object",
})

POLICIES = ("ReCreate", "InPlaceIfPossible", "InPlaceOnly")


def admit_advanced_statefulset(op: str, rt: ResourceType, obj: dict[str, Any],
                               old: dict[str, Any] | None) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("partition", 0)
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("podUpdatePolicy", "ReCreate")
        rolling.setdefault("paused", False)
    problems = _problems(spec)
    if problems:
        raise rt.invalid(obj["metadata"].get("name", ""), problems)
    return obj


def _problems(spec: dict[str, Any]) -> list[str]:
    problems = []
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector:
        problems.append("spec.selector: Required value")
    elif not LabelSelector.from_object(selector).matches(labels):
        problems.append(f"spec.template.metadata.labels: Invalid value: {labels!r}: "
                        "`selector` does not match template `labels`")
    if spec["podManagementPolicy"] not in ("OrderedReady", "Parallel"):
        problems.append(f"spec.podManagementPolicy: Unsupported value: "
                        f"{spec['podManagementPolicy']!r}: supported values: \"OrderedReady\", "
                        "\"Parallel\"")
    if not isinstance(spec["replicas"], int) or spec["replicas"] < 0:
        problems.append(f"spec.replicas: Invalid value: {spec['replicas']!r}: must be greater "
                        "than or equal to 0")
    strategy = spec["updateStrategy"]
    if strategy["type"] not in ("RollingUpdate", "OnDelete"):
        problems.append(f"spec.updateStrategy.type: Unsupported value: {strategy['type']!r}: "
                        "supported values: \"OnDelete\", \"RollingUpdate\"")
    rolling = strategy.get("rollingUpdate") or {}
    if rolling.get("podUpdatePolicy", "ReCreate") not in POLICIES:
        problems.append(f"spec.updateStrategy.rollingUpdate.podUpdatePolicy: Unsupported value:"
                        f" {rolling['podUpdatePolicy']!r}: supported values: \"ReCreate\", "
                        "\"InPlaceIfPossible\", \"InPlaceOnly\"")
    if int(rolling.get("partition") or 0) < 0:
        problems.append("spec.updateStrategy.rollingUpdate.partition: Invalid value: "
                        f"{rolling['partition']}: must be greater than or equal to 0")
    ready = rolling.get("minReadySeconds", spec.get("minReadySeconds"))
    if ready is not None and not 0 <= int(ready) <= 300:
        problems.append(f"spec.updateStrategy.rollingUpdate.minReadySeconds: Invalid value: "
                        f"{ready}: must be between 0 and 300")
    return problems
