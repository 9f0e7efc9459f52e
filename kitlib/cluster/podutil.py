"""Reading and writing pod (and other) status the way every actor needs to.

Conditions follow Kubernetes: ``lastTransitionTime`` changes only when the
status flips. Readiness and availability are computed from the conditions as
upstream's ``podutil.IsPodReady``/``IsPodAvailable`` do.
"""

from __future__ import annotations

from typing import Any

from kitlib.model.objects import format_time, parse_time

__all__ = [
    "condition",
    "controller_of",
    "is_available",
    "is_ready",
    "is_terminal",
    "is_terminating",
    "set_condition",
]


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return None


def set_condition(obj: dict[str, Any], type_: str, status: str, now: float, *,
                  reason: str | None = None, message: str | None = None,
                  probe_time: bool = False) -> bool:
    """Set a condition on a draft object; returns True if anything changed."""
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") == type_:
            before = dict(cond)
            if cond.get("status") != status:
                cond["lastTransitionTime"] = format_time(now)
            cond["status"] = status
            _set_or_drop(cond, "reason", reason)
            _set_or_drop(cond, "message", message)
            return cond != before
    new = {"type": type_, "status": status, "lastProbeTime": None,
           "lastTransitionTime": format_time(now)}
    if not probe_time:
        new["lastProbeTime"] = None
    _set_or_drop(new, "reason", reason)
    _set_or_drop(new, "message", message)
    conditions.append(new)
    return True


def _set_or_drop(cond: dict[str, Any], key: str, value: str | None) -> None:
    if value:
        cond[key] = value
    else:
        cond.pop(key, None)


def is_ready(pod: dict[str, Any]) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_available(pod: dict[str, Any], min_ready_seconds: float, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream ``IsPodAvailable``)."""
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = cond.get("lastTransitionTime")
    return since is not None and parse_time(since) + min_ready_seconds <= now


def is_terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_terminating(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None
