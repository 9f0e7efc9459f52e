"""Node health as the node lifecycle controller judges it: pure functions, no I/O.

``assess`` is upstream's ``tryUpdateNodeHealth``
(``pkg/controller/nodelifecycle/node_lifecycle_controller.go``), run for a node at a
monitor tick:

* the *probe time* is the controller's own clock at the tick where it first saw a
  new Ready ``lastHeartbeatTime`` or a newer Lease ``renewTime`` (so it moves in
  monitor-period steps); a node that never posted Ready is probed from its creation;
* the grace period is ``node_startup_grace_period`` (60 s) until the node has a
  Ready condition, ``node_monitor_grace_period`` (50 s) after;
* past ``probe + grace`` the Ready, MemoryPressure, DiskPressure and PIDPressure
  conditions become ``Unknown`` / ``NodeStatusUnknown`` / "Kubelet stopped posting
  node status." (missing ones are added as ``NodeStatusNeverUpdated`` / "Kubelet
  never posted node status."), written only if Ready itself changed.

Upstream quirks kept on purpose: a new Ready heartbeat resets the remembered lease, so
the next tick counts the (unchanged) lease as new once more.

``no_schedule_taints`` is ``doNoScheduleTaintingPass``: the NoSchedule taints a node's
conditions and ``spec.unschedulable`` call for, as (to add, to remove).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kitlib.cluster import taints as taintutil
from kitlib.cluster.settings import NodeLifecycleSettings
from kitlib.model.objects import format_time, parse_time

__all__ = ["Assessment", "NodeHealth", "assess", "no_schedule_taints"]

#: Conditions a silent node has set to Unknown (never NetworkUnavailable: the control
#: plane owns that one).
_SILENT_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
#: ``nodeConditionToTaintKeyStatusMap``.
_CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": taintutil.NOT_READY, "Unknown": taintutil.UNREACHABLE},
    "MemoryPressure": {"True": taintutil.MEMORY_PRESSURE},
    "DiskPressure": {"True": taintutil.DISK_PRESSURE},
    "NetworkUnavailable": {"True": taintutil.NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": taintutil.PID_PRESSURE},
}
_CONDITION_TAINT_KEYS = frozenset(k for m in _CONDITION_TAINTS.values() for k in m.values())


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """What the controller remembers of a node between ticks (upstream ``nodeHealthData``)."""

    #: The Ready condition last seen (``None`` if the node had none).
    ready: Mapping[str, Any] | None
    probe: float
    ready_transition: float
    #: ``spec.renewTime`` of the Lease last seen (seconds), if any.
    lease_renew: float | None


@dataclass(frozen=True, slots=True)
class Assessment:
    health: NodeHealth
    grace: float
    #: Ready status as listed at the tick ("Unknown" for a node that never posted one).
    observed: str
    #: Ready status after this tick's update, ``None`` if the node still has none.
    current: str | None
    #: The conditions to write with a status update, or ``None`` for no write.
    conditions: list[dict[str, Any]] | None


def _find(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def _tracked(saved: NodeHealth | None, ready: Mapping[str, Any], now: float) -> NodeHealth:
    """The remembered health after seeing ``ready`` (upstream's heartbeat comparison)."""
    if saved is None or saved.ready is None:
        return NodeHealth(ready, now, now, None)
    if saved.ready.get("lastHeartbeatTime") == ready.get("lastHeartbeatTime"):
        return saved
    transition = now if saved.ready.get("lastTransitionTime") != ready.get(
        "lastTransitionTime") else saved.ready_transition
    return NodeHealth(ready, now, transition, None)


def _silenced(node: Mapping[str, Any], now: float) -> list[dict[str, Any]]:
    created = node["metadata"].get("creationTimestamp")
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or ()]
    for type_ in _SILENT_CONDITIONS:
        cond = next((c for c in conditions if c.get("type") == type_), None)
        if cond is None:
            conditions.append({"type": type_, "status": "Unknown", "lastHeartbeatTime": created,
                               "lastTransitionTime": format_time(now),
                               "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status."})
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason="NodeStatusUnknown",
                        message="Kubelet stopped posting node status.",
                        lastTransitionTime=format_time(now))
    return conditions


def assess(node: Mapping[str, Any], saved: NodeHealth | None, lease_renew: float | None,
           now: float, settings: NodeLifecycleSettings) -> Assessment:
    """Upstream ``tryUpdateNodeHealth`` for one node at one monitor tick."""
    conditions = (node.get("status") or {}).get("conditions") or ()
    current = _find(conditions, "Ready")
    if current is None:
        created = node["metadata"].get("creationTimestamp")
        observed: Mapping[str, Any] = {"type": "Ready", "status": "Unknown",
                                       "lastHeartbeatTime": created,
                                       "lastTransitionTime": created}
        grace = settings.startup_grace_period
        born = parse_time(created) if created else now
        health = replace(saved, ready=None) if saved else NodeHealth(None, born, born, None)
    else:
        observed, grace = current, settings.monitor_grace_period
        health = _tracked(saved, current, now)
    saved_lease = saved.lease_renew if saved else None
    if lease_renew is not None and (saved_lease is None or saved_lease < lease_renew):
        health = replace(health, lease_renew=lease_renew, probe=now)
    if now > health.probe + grace:
        updated = _silenced(node, now)
        ready_after = _find(updated, "Ready")
        if ready_after != observed:
            health = NodeHealth(ready_after, health.probe, now, lease_renew)
            return Assessment(health, grace, str(observed["status"]), "Unknown", updated)
    return Assessment(health, grace, str(observed["status"]),
                      None if current is None else str(current.get("status")), None)


def no_schedule_taints(node: Mapping[str, Any]) -> tuple[list[dict[str, str]],
                                                         list[dict[str, str]]]:
    """(taints to add, taints to remove) so that the node's condition and unschedulable
    NoSchedule taints match its status and spec."""
    wanted = []
    for cond in (node.get("status") or {}).get("conditions") or ():
        key = _CONDITION_TAINTS.get(cond.get("type", ""), {}).get(cond.get("status", ""))
        if key:
            wanted.append({"key": key, "effect": "NoSchedule"})
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": taintutil.UNSCHEDULABLE, "effect": "NoSchedule"})
    have = [t for t in (node.get("spec") or {}).get("taints") or ()
            if t.get("effect") == "NoSchedule" and (
                t.get("key") == taintutil.UNSCHEDULABLE or t.get("key") in _CONDITION_TAINT_KEYS)]
    have_keys = {t["key"] for t in have}
    wanted_keys = {t["key"] for t in wanted}
    return ([t for t in wanted if t["key"] not in have_keys],
            [{"key": t["key"], "effect": "NoSchedule"} for t in have
             if t["key"] not in wanted_keys])
