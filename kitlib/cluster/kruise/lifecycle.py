"""OpenKruise pod lifecycle: the state label and the hooks that hold a pod in a state.

Upstream ``apis/apps/pub/lifecycle.go`` and ``pkg/util/lifecycle``. A pod of a
Kruise workload carries ``lifecycle.apps.kruise.io/state``:

``PreparingNormal → Normal → (PreparingUpdate) → Updating → (Updated) → Normal``,
and ``→ PreparingDelete → deleted``; every change also stamps
``lifecycle.apps.kruise.io/timestamp``.

A hook (``spec.lifecycle.preDelete`` / ``inPlaceUpdate`` / ``preNormal``) is
``{labelsHandler: {k: v}, finalizersHandler: [f], markPodNotReady: bool}``. A pod is
*hooked* when any handler label (with its value) or finalizer is present on it
(``IsPodHooked``) and *all-hooked* when every one is (``IsPodAllHooked``). Pure
functions; the callers write.
"""

from __future__ import annotations

from typing import Any

from kitlib.model.objects import format_time

__all__ = [
    "LIFECYCLE_STATE",
    "LIFECYCLE_TIMESTAMP",
    "NORMAL",
    "PREPARING_DELETE",
    "PREPARING_NORMAL",
    "PREPARING_UPDATE",
    "UPDATED",
    "UPDATING",
    "is_all_hooked",
    "is_hooked",
    "set_state",
    "state_of",
]

Obj = dict[str, Any]

LIFECYCLE_STATE = "lifecycle.apps.kruise.io/state"
LIFECYCLE_TIMESTAMP = "lifecycle.apps.kruise.io/timestamp"
PREPARING_NORMAL = "PreparingNormal"
NORMAL = "Normal"
PREPARING_UPDATE = "PreparingUpdate"
UPDATING = "Updating"
UPDATED = "Updated"
PREPARING_DELETE = "PreparingDelete"


def state_of(pod: Obj) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(LIFECYCLE_STATE, ""))


def set_state(draft: Obj, state: str, now: float) -> None:
    """Write ``state`` and its timestamp onto a pod draft."""
    meta = draft.setdefault("metadata", {})
    meta.setdefault("labels", {})[LIFECYCLE_STATE] = state
    meta.setdefault("annotations", {})[LIFECYCLE_TIMESTAMP] = format_time(now)


def _present(pod: Obj, hook: Obj | None) -> tuple[int, int]:
    """(handlers present on ``pod``, handlers in ``hook``)."""
    if not hook:
        return 0, 0
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    finalizers = set(meta.get("finalizers") or ())
    wanted = hook.get("labelsHandler") or {}
    fins = hook.get("finalizersHandler") or []
    present = sum(1 for k, v in wanted.items() if labels.get(k) == v)
    present += sum(1 for f in fins if f in finalizers)
    return present, len(wanted) + len(fins)


def is_hooked(pod: Obj, hook: Obj | None) -> bool:
    """Upstream ``IsPodHooked``: some handler label or finalizer is on the pod."""
    return _present(pod, hook)[0] > 0


def is_all_hooked(pod: Obj, hook: Obj | None) -> bool:
    """Upstream ``IsPodAllHooked``: every handler is on the pod (and there is one)."""
    present, total = _present(pod, hook)
    return total > 0 and present == total
