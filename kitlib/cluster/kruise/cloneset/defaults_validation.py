"""CloneSet admission: upstream's defaults and validating webhook (reference §1.1).

Defaults (``SetDefaultsCloneSet``): the pod template's defaults (as for every workload),
replicas 1, revisionHistoryLimit 10, updateStrategy
type ``ReCreate``, partition 0, maxUnavailable ``"20%"``, maxSurge 0, and
``inPlaceUpdateStrategy: {}`` for the InPlace* types. Validation
(``pkg/webhook/cloneset/validating``): selector required and matching the template's
labels, restartPolicy ``Always``, int-or-percent values, "maxUnavailable and maxSurge
should not both be less than 1", maxSurge forbidden with ``InPlaceOnly``, immutable
fields, and ``InPlaceOnly``'s rule that a template update may only replace container
images. Denials read like the webhook's: ``admission webhook "vcloneset.kb.io" denied
the request: …``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from kitlib.cluster.admission import default_pod_spec, pod_spec_errors
from kitlib.model import errors
from kitlib.model.intstr import scaled_value
from kitlib.model.registry import ResourceType
from kitlib.model.schema import register_schema
from kitlib.model.selectors import LabelSelector

__all__ = ["admit_cloneset", "register_cloneset_schema"]

Obj = dict[str, Any]
_TYPES = ("ReCreate", "InPlaceIfPossible", "InPlaceOnly")
_MUTABLE = {"replicas", "template", "lifecycle", "scaleStrategy", "updateStrategy",
            "minReadySeconds", "progressDeadlineSeconds", "volumeClaimTemplates",
            "revisionHistoryLimit"}


def register_cloneset_schema() -> None:
    register_schema("apps.kruise.io/v1alpha1", "CloneSet", {
        "spec": {
            "replicas": "int", "selector": "ref:V1LabelSelector",
            "template": "ref:V1PodTemplateSpec", "volumeClaimTemplates": ["object"],
            "scaleStrategy": {"podsToDelete": ["str"], "maxUnavailable": "intstr",
                              "disablePVCReuse": "bool", "excludePreparingDelete": "bool"},
            "updateStrategy": {
                "type": "str", "partition": "intstr", "maxUnavailable": "intstr",
                "maxSurge": "intstr", "paused": "bool", "priorityStrategy": "object",
                "scatterStrategy": ["object"],
                "inPlaceUpdateStrategy": {"gracePeriodSeconds": "int"}},
            "minReadySeconds": "int", "revisionHistoryLimit": "int",
            "progressDeadlineSeconds": "int", "lifecycle": "object",
        },
        "status": "object",
    })


def set_defaults(spec: Obj) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "ReCreate")
    strategy.setdefault("partition", 0)
    strategy.setdefault("maxUnavailable", "20%")
    strategy.setdefault("maxSurge", 0)
    if strategy["type"] in ("InPlaceIfPossible", "InPlaceOnly"):
        strategy.setdefault("inPlaceUpdateStrategy", {})
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def _intstr(value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, str) and not value.endswith("%"):
        problems.append(f'{path}: Invalid value: "{value}": a valid percent string must be a '
                        "numeric string followed by an ending '%' (e.g. '1%',  or '93%')")
    elif isinstance(value, int) and value < 0:
        problems.append(f"{path}: Invalid value: {value}: must be greater than or equal to 0")


def _spec_problems(spec: Obj) -> list[str]:
    problems: list[str] = []
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        problems.append("spec.selector: Required value")
    elif not LabelSelector.from_object(selector).matches(labels):
        problems.append("spec.template.metadata.labels: Invalid value: "
                        f"{labels}: `selector` does not match template `labels`")
    if int(spec.get("replicas", 1)) < 0:
        problems.append("spec.replicas: Invalid value: "
                        f"{spec.get('replicas')}: must be greater than or equal to 0")
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    problems += pod_spec_errors(pod_spec, "spec.template.spec")
    if pod_spec.get("restartPolicy") not in (None, "", "Always"):
        problems.append(f'spec.template.spec.restartPolicy: Unsupported value: '
                        f'"{pod_spec["restartPolicy"]}": supported values: "Always"')
    if pod_spec.get("activeDeadlineSeconds") is not None:
        problems.append("spec.template.spec.activeDeadlineSeconds: Forbidden: "
                        "activeDeadlineSeconds in CloneSet is not Supported")
    return problems + _strategy_problems(spec)


def _strategy_problems(spec: Obj) -> list[str]:
    problems: list[str] = []
    strategy = spec.get("updateStrategy") or {}
    path = "spec.updateStrategy"
    if strategy.get("type") not in _TYPES:
        problems.append(f'{path}.type: Unsupported value: "{strategy.get("type")}": supported '
                        'values: "ReCreate", "InPlaceIfPossible", "InPlaceOnly"')
    for key in ("partition", "maxUnavailable", "maxSurge"):
        _intstr(strategy.get(key), f"{path}.{key}", problems)
    _intstr((spec.get("scaleStrategy") or {}).get("maxUnavailable"),
            "spec.scaleStrategy.maxUnavailable", problems)
    if problems:
        return problems
    replicas = int(spec.get("replicas", 1))
    unavailable = scaled_value(strategy.get("maxUnavailable"), replicas, round_up=True)
    surge = scaled_value(strategy.get("maxSurge"), replicas, round_up=True)
    if strategy.get("type") == "InPlaceOnly" and surge > 0:
        problems.append(f"{path}.maxSurge: Invalid value: {strategy.get('maxSurge')!r}: "
                        "can not use maxSurge with strategy type InPlaceOnly")
    if replicas > 0 and unavailable < 1 and surge < 1:
        problems.append(f"{path}.maxUnavailable: Invalid value: "
                        f"{strategy.get('maxUnavailable')!r}: maxUnavailable and maxSurge "
                        "should not both be less than 1")
    priority = strategy.get("priorityStrategy") or {}
    if priority.get("weightPriority") and priority.get("orderPriority"):
        problems.append(f"{path}.priorityStrategy: Invalid value: {priority}: "
                        "only one of weightPriority and orderPriority can be used")
    return problems


def _update_problems(spec: Obj, old_spec: Obj) -> list[str]:
    problems = [f"spec: Forbidden: updates to cloneset spec for fields other than {_fields()} "
                "are forbidden"
                for key in sorted(set(spec) | set(old_spec))
                if key not in _MUTABLE and spec.get(key) != old_spec.get(key)][:1]
    strategy = spec.get("updateStrategy") or {}
    old_t, new_t = old_spec.get("template") or {}, spec.get("template") or {}
    if strategy.get("type") == "InPlaceOnly" and old_t.get("spec") != new_t.get("spec"):
        found = _non_image_patch(old_t.get("spec") or {}, new_t.get("spec") or {})
        if found:
            problems.append("spec: Forbidden: only allowed to update images in spec for "
                            f"InPlaceOnly, but found {found}")
    return problems


_IMAGE_PATH = re.compile(r"^/containers/([0-9]+)/image$")


def _non_image_patch(old: Any, new: Any) -> str | None:
    """Upstream ``ValidateCloneSetUpdate``: the first JSON-patch operation between the old
    and new template specs that is not a ``replace`` of ``/containers/N/image``, as
    ``"<op> <path>"`` (patch as gomodules ``jsonpatch.CreatePatch`` builds it; object keys
    are walked in sorted order where Go's map order is unspecified)."""
    for op, path in _patch(old, new, ""):
        if op != "replace" or not _IMAGE_PATH.match(path):
            return f"{op} {path}"
    return None


def _patch(a: Any, b: Any, path: str) -> list[tuple[str, str]]:
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        ops: list[tuple[str, str]] = []
        for key in sorted(b):
            sub = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
            ops += [("add", sub)] if key not in a else _patch(a[key], b[key], sub)
        ops += [("remove", f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}")
                for key in sorted(a) if key not in b]
        return ops
    if isinstance(a, list) and isinstance(b, list):
        n = min(len(a), len(b))
        ops = [("remove", f"{path}/{i}") for i in range(len(a) - 1, n - 1, -1)]
        ops += [("add", f"{path}/{i}") for i in range(n, len(b))]
        for i in range(n):
            ops += _patch(a[i], b[i], f"{path}/{i}")
        return ops
    return [("add", path)] if a is None else [("replace", path)]


def _fields() -> str:
    return ("'replicas', 'template', 'lifecycle', 'scaleStrategy', 'updateStrategy', "
            "'minReadySeconds', 'progressDeadlineSeconds', 'volumeClaimTemplates' and "
            "'revisionHistoryLimit'")


def admit_cloneset(op: Literal["CREATE", "UPDATE", "DELETE"], rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise _denied(["spec: Required value"])
    set_defaults(spec)
    problems = _spec_problems(spec)
    if old is not None:
        problems += _update_problems(spec, old.get("spec") or {})
    if problems:
        raise _denied(problems)
    return obj


def _denied(problems: list[str]) -> errors.Invalid:
    body = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
    return errors.Invalid(f'admission webhook "vcloneset.kb.io" denied the request: {body}')
