"""ImagePullJob and NodeImage: field schemas, defaults, validation and image names.

Defaults are upstream's (``apis/apps/v1alpha1/imagepulljob_types.go`` and the
defaulting webhook ``SetDefaultsImagePullJob``): ``parallelism`` 1,
``pullPolicy{timeoutSeconds: 600, backoffLimit: 3}``, ``completionPolicy.type: Always``,
``imagePullPolicy: IfNotPresent``. A NodeImage keys its images by the *familiar* name
(``nginx``, ``foo/bar``, ``example.com/shop``) and lists their tags, as kruise's
``NormalizeImageRefToNameTag`` does.
"""

from __future__ import annotations

from typing import Any

from kitlib.cluster.kubelet.images import parse_reference
from kitlib.model.registry import ResourceType
from kitlib.model.schema import register_schema

__all__ = ["admit_image_pull_job", "image_name_tag"]

API_VERSION = "apps.kruise.io/v1alpha1"

_SELECTOR = {"names": ["str"], "matchLabels": {"*": "str"},
             "matchExpressions": [{"key": "str", "operator": "str", "values": ["str"]}]}

register_schema(API_VERSION, "ImagePullJob", {
    "spec": {
        "image": "str", "pullSecrets": ["str"], "selector": _SELECTOR,
        "podSelector": "ref:V1LabelSelector", "parallelism": "intstr",
        "pullPolicy": {"timeoutSeconds": "int", "backoffLimit": "int"},
        "completionPolicy": {"type": "str", "activeDeadlineSeconds": "int",
                             "ttlSecondsAfterFinished": "int"},
        "imagePullPolicy": "str", "sandboxConfig": "object",
    },
    "status": "object",
})
register_schema(API_VERSION, "NodeImage", {"spec": "object", "status": "object"})


def image_name_tag(image: str) -> tuple[str, str] | None:
    """(familiar repository name, tag or digest) of an image reference, or None."""
    ref = parse_reference(image)
    if ref is None:
        return None
    path = ref.path
    if ref.domain == "docker.io":
        name = path[len("library/"):] if path.startswith("library/") and \
            path.count("/") == 1 else path
    else:
        name = ref.repository
    return name, (ref.digest or ref.tag or "latest")


def admit_image_pull_job(op: str, rt: ResourceType, obj: dict[str, Any],
                         old: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then validation (the store's ``Admission`` signature)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    pull = spec.setdefault("pullPolicy", {})
    pull.setdefault("timeoutSeconds", 600)
    pull.setdefault("backoffLimit", 3)
    spec.setdefault("completionPolicy", {}).setdefault("type", "Always")
    spec.setdefault("imagePullPolicy", "IfNotPresent")
    problems = _problems(spec)
    if old is not None and (old.get("spec") or {}).get("image") != spec.get("image"):
        problems.append("spec.image: Forbidden: image can not be changed")
    if problems:
        raise rt.invalid(obj["metadata"].get("name", ""), problems)
    return obj


def _problems(spec: dict[str, Any]) -> list[str]:
    problems = []
    image = spec.get("image")
    if not image:
        problems.append("spec.image: Required value: image can not be empty")
    elif not isinstance(image, str) or image_name_tag(image) is None:
        problems.append(f"spec.image: Invalid value: {image!r}: invalid image reference")
    if spec.get("selector") and spec.get("podSelector"):
        problems.append("spec: Invalid value: can not set both selector and podSelector")
    selector = spec.get("selector") or {}
    if selector.get("names") and (selector.get("matchLabels") or
                                  selector.get("matchExpressions")):
        problems.append("spec.selector: Invalid value: can not set both names and "
                        "labelSelector in this spec.selector")
    completion = spec["completionPolicy"]
    if completion["type"] not in ("Always", "Never"):
        problems.append(f"spec.completionPolicy.type: Unsupported value: "
                        f"{completion['type']!r}: supported values: \"Always\", \"Never\"")
    elif completion["type"] == "Never" and (completion.get("activeDeadlineSeconds") is not None
                                            or completion.get("ttlSecondsAfterFinished")
                                            is not None):
        problems.append("spec.completionPolicy: Invalid value: activeDeadlineSeconds and "
                        "ttlSecondsAfterFinished can only work with Always CompletionPolicyType")
    if spec["imagePullPolicy"] not in ("IfNotPresent", "Always"):
        problems.append(f"spec.imagePullPolicy: Unsupported value: {spec['imagePullPolicy']!r}"
                        ': supported values: "Always", "IfNotPresent"')
    for field in ("timeoutSeconds", "backoffLimit"):
        value = spec["pullPolicy"][field]
        if not isinstance(value, int) or value < 0 or (field == "timeoutSeconds" and value == 0):
            problems.append(f"spec.pullPolicy.{field}: Invalid value: {value!r}")
    return problems
