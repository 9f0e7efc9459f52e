"""Taints and tolerations: the well-known keys and upstream's matching rules.

Used by the scheduler (``TaintToleration``, ``NodeUnschedulable``), the node
lifecycle controller (which adds and removes the ``node.kubernetes.io/…`` taints)
and taint-based eviction. The rules are upstream's ``Toleration.ToleratesTaint``
(``api:core/v1/toleration.go``) and ``GetMatchingTolerations``
(``pkg/apis/core/v1/helper/helpers.go``): an empty toleration effect matches every
effect, an empty key with ``Exists`` matches every key, an empty operator means
``Equal``. Functions never mutate their arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kitlib.model.objects import format_time

__all__ = [
    "DISK_PRESSURE",
    "MEMORY_PRESSURE",
    "NETWORK_UNAVAILABLE",
    "NOT_READY",
    "PID_PRESSURE",
    "UNREACHABLE",
    "UNSCHEDULABLE",
    "add_taints",
    "find_untolerated",
    "matching_tolerations",
    "min_toleration_seconds",
    "remove_taints",
    "swap_taints",
    "tolerates",
]

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

Taint = Mapping[str, Any]
Toleration = Mapping[str, Any]


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Upstream ``Toleration.ToleratesTaint``."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def find_untolerated(taints: Iterable[Taint], tolerations: Sequence[Toleration],
                     effects: Iterable[str] = ("NoSchedule", "NoExecute")) -> Taint | None:
    """The first taint (in the node's order) with one of ``effects`` that no toleration
    tolerates, as upstream's ``FindMatchingUntoleratedTaint``."""
    wanted = tuple(effects)
    for taint in taints:
        if taint.get("effect") in wanted and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def matching_tolerations(taints: Sequence[Taint], tolerations: Sequence[Toleration]
                         ) -> tuple[bool, list[Toleration]]:
    """``(all tolerated, the first toleration used for each taint)``."""
    used: list[Toleration] = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_seconds(used: Sequence[Toleration]) -> float | None:
    """How long the used tolerations allow a pod to stay: the smallest
    ``tolerationSeconds`` (``<= 0`` → 0), or ``None`` for "forever" (none set).
    No tolerations at all means 0, as upstream's ``getMinTolerationTime``."""
    if not used:
        return 0.0
    seconds = [t["tolerationSeconds"] for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return float(max(0, min(int(s) for s in seconds)))


def _same(a: Taint, b: Taint) -> bool:
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def add_taints(node: dict[str, Any], taints: Iterable[Taint], now: float) -> None:
    """Add taints to a draft node, each stamped with ``timeAdded`` as the node lifecycle
    controller's ``SwapNodeControllerTaint`` does; one matching key and effect is
    replaced in place (upstream ``AddOrUpdateTaint``), others are appended."""
    spec = node.setdefault("spec", {})
    current = list(spec.get("taints") or ())
    for taint in taints:
        new = {k: v for k, v in taint.items() if k != "timeAdded" and v not in (None, "")}
        new["timeAdded"] = format_time(now)
        at = next((i for i, t in enumerate(current) if _same(t, new)), None)
        if at is None:
            current.append(new)
        else:
            current[at] = new
    spec["taints"] = current


def remove_taints(node: dict[str, Any], taints: Iterable[Taint]) -> None:
    """Remove taints matching key and effect from a draft node (``spec.taints`` is dropped
    when it becomes empty, as ``omitempty`` does)."""
    spec = node.setdefault("spec", {})
    gone = list(taints)
    kept = [t for t in spec.get("taints") or () if not any(_same(t, g) for g in gone)]
    if kept:
        spec["taints"] = kept
    else:
        spec.pop("taints", None)


def swap_taints(node: dict[str, Any], add: Iterable[Taint], remove: Iterable[Taint],
                now: float) -> None:
    """``SwapNodeControllerTaint`` on a draft node: add (stamped) then remove."""
    add_taints(node, add, now)
    remove_taints(node, remove)
