"""Admission: the defaulting and validation the real API server applies per kind.

Each function has the store's ``Admission`` signature and is registered by
``EmbeddedCluster``. Defaults follow upstream's ``SetDefaults_*`` functions for
the fields clients read back (pods, pod templates, Deployments and the other
``apps/v1`` workloads, namespaces, secrets); validation covers what users hit in
practice, with upstream's field-error wording:

* a pod needs at least one container, each with a unique DNS-label name and an
  image;
* a running pod's spec is immutable except container images (the basis of
  in-place updates), ``activeDeadlineSeconds`` and added tolerations;
* a workload's selector must match its template's labels and is immutable;
* a secret's ``type`` is immutable.
"""

from __future__ import annotations

import base64
from typing import Any

from kitlib.model import errors
from kitlib.model.registry import ResourceType
from kitlib.model.selectors import LabelSelector
from kitlib.model.validation import dns1123_label_errors

__all__ = [
    "admit_namespace",
    "admit_pod",
    "admit_secret",
    "admit_workload",
    "default_pod_spec",
    "qos_class",
]

#: Added to every pod without them (the DefaultTolerationSeconds admission plugin).
DEFAULT_TOLERATION_SECONDS = 300
_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"


def _invalid(rt: ResourceType, obj: dict[str, Any], problems: list[str]) -> errors.Invalid:
    return rt.invalid(obj.get("metadata", {}).get("name", ""), problems)


# -- namespaces -------------------------------------------------------------------------

def admit_namespace(op: str, rt: ResourceType, obj: dict[str, Any],
                    old: dict[str, Any] | None) -> dict[str, Any]:
    if op == "CREATE":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")
    return obj


# -- secrets ----------------------------------------------------------------------------

def admit_secret(op: str, rt: ResourceType, obj: dict[str, Any],
                 old: dict[str, Any] | None) -> dict[str, Any]:
    """``stringData`` is write-only: merged into ``data`` (base64); ``type`` defaults to Opaque."""
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        obj["data"] = {**(data if isinstance(data, dict) else {}),
                       **{k: base64.b64encode(str(v).encode()).decode()
                          for k, v in string_data.items()}}
    obj["type"] = obj.get("type") or "Opaque"
    if old is not None and obj["type"] != (old.get("type") or "Opaque"):
        raise _invalid(rt, obj, [f'type: Invalid value: "{obj["type"]}": field is immutable'])
    return obj


# -- pods -------------------------------------------------------------------------------

def _pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_container(container: dict[str, Any]) -> None:
    if isinstance(container.get("image"), str):
        container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Upstream's pod spec defaults (also applied to workload templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or ():
            if isinstance(container, dict):
                _default_container(container)


def _default_tolerations(spec: dict[str, Any]) -> None:
    tolerations = spec.setdefault("tolerations", [])
    present = {(t.get("key"), t.get("effect")) for t in tolerations if isinstance(t, dict)}
    for key in (_NOT_READY, _UNREACHABLE):
        if (key, "NoExecute") not in present and (key, None) not in present:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})


def _default_service_account_and_priority(spec: dict[str, Any]) -> None:
    """What the ServiceAccount and Priority admission plugins set on every new pod."""
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    if not spec.get("priorityClassName"):  # no PriorityClasses here: no global default
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def qos_class(spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        any_set = any_set or bool(requests) or bool(limits)
        for r in ("cpu", "memory"):
            if r not in limits or str(requests.get(r, limits[r])) != str(limits[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def pod_spec_errors(spec: Any, path: str) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{path}: Required value"]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [f"{path}.containers: Required value: a pod needs at least one container"]
    problems: list[str] = []
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or ()):
            problems += _container_errors(c, f"{path}.{key}[{i}]", seen)
    return problems


def _container_errors(c: Any, where: str, seen: set[str]) -> list[str]:
    if not isinstance(c, dict):
        return [f"{where}: Invalid value: a container must be an object"]
    problems = []
    name = c.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.name: Required value")
    else:
        problems += [f'{where}.name: Invalid value: "{name}": {e}'
                     for e in dns1123_label_errors(name)]
        if name in seen:
            problems.append(f'{where}.name: Duplicate value: "{name}"')
        seen.add(name)
    image = c.get("image")
    if not isinstance(image, str) or not image.strip():
        problems.append(f"{where}.image: Required value")
    return problems


def admit_pod(op: str, rt: ResourceType, obj: dict[str, Any],
              old: dict[str, Any] | None) -> dict[str, Any]:
    spec = obj.get("spec")
    if op == "CREATE":
        problems = pod_spec_errors(spec, "spec")
        if problems:
            raise _invalid(rt, obj, problems)
        assert isinstance(spec, dict)
        default_pod_spec(spec)
        _default_tolerations(spec)
        _default_service_account_and_priority(spec)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
        return obj
    assert old is not None
    problems = pod_spec_errors(spec, "spec") or _pod_update_errors(old.get("spec", {}), spec)
    if problems:
        raise _invalid(rt, obj, problems)
    return obj


def _mutable_view(spec: dict[str, Any]) -> dict[str, Any]:
    """The pod spec with the fields that may change on a running pod blanked out."""
    view = dict(spec)
    for key in ("initContainers", "containers"):
        view[key] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(key) or ()]
    view.pop("activeDeadlineSeconds", None)
    view.pop("tolerations", None)
    view.pop("terminationGracePeriodSeconds", None)
    return view


def _pod_update_errors(old: dict[str, Any], new: Any) -> list[str]:
    if not isinstance(new, dict):
        return ["spec: Required value"]
    default_pod_spec(new)
    if _mutable_view(old) != _mutable_view(new):
        return ["spec: Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing "
                "tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 "
                "if it was previously negative); to change anything else, delete the pod and "
                "let its workload recreate it"]
    old_tol = old.get("tolerations") or []
    if any(t not in (new.get("tolerations") or []) for t in old_tol):
        return ["spec.tolerations: Forbidden: existing toleration can not be modified except "
                "its tolerationSeconds"]
    return []


# -- apps/v1 workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet) ------------------

def admit_workload(op: str, rt: ResourceType, obj: dict[str, Any],
                   old: dict[str, Any] | None) -> dict[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise _invalid(rt, obj, ["spec: Required value"])
    _default_workload(rt, spec)
    problems = _workload_errors(spec)
    if rt.kind == "Deployment":
        problems += _deployment_strategy_errors(spec.get("strategy") or {})
    if old is not None and old.get("spec", {}).get("selector") != spec.get("selector"):
        problems.append(f"spec.selector: Invalid value: {spec.get('selector')}: field is "
                        "immutable")
    if problems:
        raise _invalid(rt, obj, problems)
    return obj


def _default_workload(rt: ResourceType, spec: dict[str, Any]) -> None:
    if rt.kind != "DaemonSet":
        spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if rt.kind == "Deployment":
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("progressDeadlineSeconds", 600)
    elif rt.kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"partition": 0})
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def _workload_errors(spec: dict[str, Any]) -> list[str]:
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels")
                                              or selector.get("matchExpressions")):
        return ["spec.selector: Required value: give spec.selector.matchLabels matching "
                "spec.template.metadata.labels"]
    template = spec.get("template")
    if not isinstance(template, dict):
        return ["spec.template: Required value"]
    labels = (template.get("metadata") or {}).get("labels") or {}
    problems = pod_spec_errors(template.get("spec"), "spec.template.spec")
    try:
        matches = LabelSelector.from_object(selector).matches(labels)
    except errors.ApiError as exc:
        return [f"spec.selector: Invalid value: {exc.message}"]
    if not matches:
        problems.append(f"spec.template.metadata.labels: Invalid value: {labels}: `selector` "
                        "does not match template `labels`")
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)
                                 or replicas < 0):
        problems.append(f"spec.replicas: Invalid value: {replicas!r}: must be greater than or "
                        "equal to 0")
    return problems


def _int_or_string(value: Any) -> str:
    """How Go prints an ``intstr.IntOrString`` in a field error (``%#v``)."""
    if isinstance(value, str):
        return f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:"{value}"}}'
    return f'intstr.IntOrString{{Type:0, IntVal:{value}, StrVal:""}}'


def _int_or_percent_value(value: Any) -> int:
    """Upstream ``getIntOrPercentValue``: the number, or the number before ``%``."""
    text = str(value).removesuffix("%") if isinstance(value, str) else value
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def _deployment_strategy_errors(strategy: dict[str, Any]) -> list[str]:
    """Upstream ``ValidateDeploymentStrategy`` / ``ValidateRollingUpdateDeployment``."""
    rolling = strategy.get("rollingUpdate")
    path = "spec.strategy.rollingUpdate"
    if strategy.get("type") == "Recreate":
        return [f"{path}: Forbidden: may not be specified when strategy `type` is "
                "'Recreate'"] if rolling is not None else []
    if not isinstance(rolling, dict):
        return []
    problems = []
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    for field, value in (("maxUnavailable", unavailable), ("maxSurge", surge)):
        if _int_or_percent_value(value) < 0:
            problems.append(f"{path}.{field}: Invalid value: {_int_or_string(value)}: must be "
                            "greater than or equal to 0")
    if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
        problems.append(f"{path}.maxUnavailable: Invalid value: {_int_or_string(unavailable)}: "
                        "may not be 0 when `maxSurge` is 0")
    if isinstance(unavailable, str) and _int_or_percent_value(unavailable) > 100:
        problems.append(f"{path}.maxUnavailable: Invalid value: {_int_or_string(unavailable)}: "
                        "must not be greater than 100%")
    return problems


def pod_grace_period(pod: dict[str, Any], options: Any) -> int:
    """Upstream ``podStrategy.CheckGracefulDelete``: how long a deleted pod may terminate.

    An unscheduled or finished pod goes at once; otherwise the grace period is the
    request's, else the pod's ``terminationGracePeriodSeconds`` (30). The kubelet
    then stops the containers and removes the pod with a delete of grace 0.
    """
    phase = (pod.get("status") or {}).get("phase")
    if not (pod.get("spec") or {}).get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    requested = getattr(options, "grace_period_seconds", None)
    if requested is not None:
        return max(0, int(requested))
    return max(0, int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)))
