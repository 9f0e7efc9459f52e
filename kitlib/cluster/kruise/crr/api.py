"""ContainerRecreateRequest: schema, the webhook, labels and pod readiness helpers.

The webhook (upstream ``pkg/webhook/containerrecreaterequest/mutating``) on CREATE:
``podName`` and ``containers`` required, ``activeDeadlineSeconds`` ≥ 3,
non-negative grace periods, ``strategy.failurePolicy`` defaults to ``Fail``; the pod
must exist, be active and bound; the labels ``crr.apps.kruise.io/pod-uid``,
``crr.apps.kruise.io/node-name`` and ``crr.apps.kruise.io/active: "true"`` are set,
``strategy.terminationGracePeriodSeconds`` defaults to the pod's, and each container
gets its ``preStop`` (and ``ports`` for an httpGet preStop) and a ``statusContext``
(``containerID``, ``restartCount``) copied from the pod. On UPDATE the spec, the two
identity labels and a set ``unready-acquired`` annotation are immutable.

``KruisePodReady`` (``pkg/util/podreadiness``): a pod that has this readiness gate is
made not ready by adding a ``{userAgent, key}`` message to the condition's JSON list
(status False), and ready again when the list is empty.
"""

from __future__ import annotations

import json
from typing import Any

from kitlib.model import errors
from kitlib.model.objects import format_time
from kitlib.model.registry import ResourceType
from kitlib.model.schema import register_schema
from kitlib.store.store import Admission, Op, Store

__all__ = ["ACTIVE", "CRRS", "NODE_NAME", "POD_UID", "SYNC_STATUSES", "UNREADY_ACQUIRED",
           "crr_admission", "set_pod_not_ready"]

CRRS = "containerrecreaterequests.apps.kruise.io"
POD_UID = "crr.apps.kruise.io/pod-uid"
NODE_NAME = "crr.apps.kruise.io/node-name"
ACTIVE = "crr.apps.kruise.io/active"
SYNC_STATUSES = "crr.apps.kruise.io/sync-container-statuses"
UNREADY_ACQUIRED = "crr.apps.kruise.io/unready-acquired"
KRUISE_POD_READY = "KruisePodReady"
MIN_DEADLINE_SECONDS = 3

register_schema("apps.kruise.io/v1alpha1", "ContainerRecreateRequest", {
    "spec": {
        "podName": "str",
        "containers": [{"name": "str", "preStop": "object", "ports": ["ref:V1ContainerPort"],
                        "statusContext": {"containerID": "str", "restartCount": "int"}}],
        "strategy": {"failurePolicy": "str", "orderedRecreate": "bool",
                     "forceRecreate": "bool", "terminationGracePeriodSeconds": "int",
                     "unreadyGracePeriodSeconds": "int", "minStartedSeconds": "int"},
        "activeDeadlineSeconds": "int", "ttlSecondsAfterFinished": "int",
    },
    "status": "object",
})

def crr_admission(store: Store) -> Admission:
    def admit(op: Op, rt: ResourceType, obj: dict[str, Any],
              old: dict[str, Any] | None) -> dict[str, Any]:
        if old is not None:
            _check_update(obj, old)
            return obj
        _default(store, obj)
        return obj
    return admit


def _bad(message: str) -> errors.ApiError:
    return errors.BadRequest(f"admission webhook \"mcontainerrecreaterequest.kb.io\" "
                             f"denied the request: {message}")


def _check_update(obj: dict[str, Any], old: dict[str, Any]) -> None:
    def forbid(message: str) -> None:
        raise errors.Forbidden(f"admission webhook \"mcontainerrecreaterequest.kb.io\" "
                               f"denied the request: {message}")
    if obj.get("spec") != old.get("spec"):
        forbid("spec of ContainerRecreateRequest is immutable")
    labels, old_labels = obj["metadata"].get("labels") or {}, old["metadata"].get("labels") or {}
    for key in (POD_UID, NODE_NAME):
        if labels.get(key) != old_labels.get(key):
            forbid(f"not allowed to update immutable label {key}")
    notes, old_notes = (obj["metadata"].get("annotations") or {},
                        old["metadata"].get("annotations") or {})
    if old_notes.get(UNREADY_ACQUIRED) and notes.get(UNREADY_ACQUIRED) != \
            old_notes[UNREADY_ACQUIRED]:
        forbid(f"not allowed to update immutable annotation {UNREADY_ACQUIRED}")


def _default(store: Store, obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    labels = obj["metadata"].setdefault("labels", {})
    if not spec.get("podName"):
        raise _bad("podName can not be empty")
    strategy = spec.setdefault("strategy", {})
    labels[ACTIVE] = "true"
    if not spec.get("containers"):
        raise _bad("containers list can not be null")
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and deadline < MIN_DEADLINE_SECONDS:
        raise _bad(f"activeDeadlineSeconds can not be less than {MIN_DEADLINE_SECONDS}s")
    for field in ("terminationGracePeriodSeconds", "unreadyGracePeriodSeconds"):
        if strategy.get(field) is not None and strategy[field] < 0:
            raise _bad(f"{field} must be non-negative integer")
    policy = strategy.setdefault("failurePolicy", "Fail") or "Fail"
    strategy["failurePolicy"] = policy
    if policy not in ("Fail", "Ignore"):
        raise _bad(f"unknown failurePolicy {policy}")
    pod = store.peek("pods", obj["metadata"].get("namespace", ""), spec["podName"])
    if pod is None:
        raise _bad(f"no found Pod named {spec['podName']}")
    if pod["metadata"].get("deletionTimestamp") or \
            (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        raise _bad("not allowed to recreate containers in an inactive Pod")
    if not (pod.get("spec") or {}).get("nodeName"):
        raise _bad("not allowed to recreate containers in a pending Pod")
    _inject_pod(obj, pod)


def _inject_pod(obj: dict[str, Any], pod: dict[str, Any]) -> None:
    labels, spec = obj["metadata"]["labels"], obj["spec"]
    labels[NODE_NAME] = pod["spec"]["nodeName"]
    labels[POD_UID] = pod["metadata"]["uid"]
    if spec["strategy"].get("terminationGracePeriodSeconds") is None:
        spec["strategy"]["terminationGracePeriodSeconds"] = \
            pod["spec"].get("terminationGracePeriodSeconds", 30)
    seen: set[str] = set()
    containers = {c["name"]: c for c in pod["spec"].get("containers") or ()}
    statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or ()}
    for c in spec["containers"]:
        name = c.get("name", "")
        if name in seen:
            raise _bad(f"can not recreate {name} multi times")
        seen.add(name)
        if c.get("preStop") or c.get("ports") or c.get("statusContext"):
            raise _bad("preStop, ports, statusContext in container are ready-only fields")
        if name not in containers:
            raise _bad(f"container {name} not found in Pod")
        status = statuses.get(name)
        if status is None:
            raise _bad(f"not found {name} containerStatus in Pod Status")
        if not status.get("containerID"):
            raise _bad(f"no containerID in {name} containerStatus, maybe the container has "
                       "not been initialized")
        pre_stop = (containers[name].get("lifecycle") or {}).get("preStop")
        if pre_stop:
            c["preStop"] = {k: v for k, v in pre_stop.items()
                            if k in ("exec", "httpGet", "tcpSocket")}
            if pre_stop.get("httpGet") and containers[name].get("ports"):
                c["ports"] = containers[name]["ports"]
        c["statusContext"] = {"containerID": status["containerID"],
                              "restartCount": status.get("restartCount", 0)}


# -- KruisePodReady ----------------------------------------------------------------------

def has_readiness_gate(pod: dict[str, Any]) -> bool:
    return any(g.get("conditionType") == KRUISE_POD_READY
               for g in (pod.get("spec") or {}).get("readinessGates") or ())


def set_pod_not_ready(draft: dict[str, Any], key: str, not_ready: bool, now: float) -> None:
    """Add (``not_ready``) or remove the CRR's message in ``KruisePodReady``."""
    conditions = draft.setdefault("status", {}).setdefault("conditions", [])
    cond = next((c for c in conditions if c.get("type") == KRUISE_POD_READY), None)
    messages = json.loads(cond.get("message") or "[]") if cond else []
    entry = {"userAgent": "ContainerRecreateRequest", "key": key}
    if not_ready and entry not in messages:
        messages = sorted([*messages, entry], key=lambda m: (m["userAgent"], m["key"]))
    elif not not_ready:
        messages = [m for m in messages if m != entry]
    status = "False" if messages else "True"
    message = json.dumps(messages, separators=(",", ":")) if messages else ""
    if cond is None:
        conditions.append({"type": KRUISE_POD_READY, "status": status, "message": message,
                           "lastTransitionTime": format_time(now)})
    elif (cond.get("status"), cond.get("message") or "") != (status, message):
        cond.update(status=status, message=message, lastTransitionTime=format_time(now))
