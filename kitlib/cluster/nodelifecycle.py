"""NodeLifecycleController: node health, node taints, and (through
``TaintEvictionController``) taint-based eviction — upstream's
``pkg/controller/nodelifecycle`` on the engine clock.

Every ``monitor_period`` (5 s) the controller judges nodes (``nodehealth.assess``):
a node whose Ready heartbeat and Lease have not moved for the grace period (50 s;
60 s for a node that never posted Ready) gets Ready, MemoryPressure, DiskPressure
and PIDPressure ``Unknown`` ("Kubelet stopped posting node status."), a
``NodeNotReady`` event, and its pods ``Ready=False`` (``MarkPodsNotReady``). Then,
from the Ready status it *listed* at that tick (so one tick later):

* not Ready → the node is queued for ``node.kubernetes.io/not-ready`` (Ready=False)
  or ``unreachable`` (Unknown) ``NoExecute``, added through its zone's rate limiter
  (``zonetainting``) with ``timeAdded``; the two are swapped at once if the other is
  present;
* Ready → both NoExecute taints are removed.

On every node change (not rate limited) the NoSchedule taints follow the conditions
and ``spec.unschedulable`` (``node.kubernetes.io/unschedulable:NoSchedule`` is how a
cordon shows). Zones are judged every tick: partial disruption slows or stops
tainting; if every zone is fully disrupted the controller removes all
not-ready/unreachable NoExecute taints and stops ("master disruption mode"), and on
leaving it restarts every node's grace period.

Scale: a tick looks only at nodes that changed since the last tick (a node or
Lease write) and at nodes whose grace period has run out (a heap of deadlines),
which is what upstream's full pass would act on; zone counts are kept
incrementally. The controller ticks only while nodes exist.
"""

from __future__ import annotations

import contextlib
import heapq
import math
from collections.abc import Callable
from typing import Any

from kitlib.cluster import taints as taintutil
from kitlib.cluster.context import ClusterContext
from kitlib.cluster.nodehealth import NodeHealth, assess, no_schedule_taints
from kitlib.cluster.podutil import condition, set_condition
from kitlib.cluster.tainteviction import TaintEvictionController
from kitlib.cluster.zonetainting import ZoneState, ZoneTainter, zone_rate, zone_state
from kitlib.engine.loop import Priority, Timer
from kitlib.engine.runner import Runner
from kitlib.model import errors
from kitlib.model.objects import parse_time
from kitlib.model.selectors import FieldSelector
from kitlib.store.watch import WatchEvent

__all__ = ["COMPONENT", "NodeLifecycleController", "zone_key"]

COMPONENT = "node-controller"
LEASE_NAMESPACE = "kube-node-lease"
EXCLUDE_DISRUPTION = "node.kubernetes.io/exclude-disruption"
_TAINT_KEYS = {"False": taintutil.NOT_READY, "Unknown": taintutil.UNREACHABLE}


def zone_key(node: dict[str, Any]) -> str:
    """Upstream ``GetZoneKey``: region and zone labels, ``""`` when the node has neither."""
    labels = node["metadata"].get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or \
        labels.get("failure-domain.beta.kubernetes.io/region") or ""
    zone = labels.get("topology.kubernetes.io/zone") or \
        labels.get("failure-domain.beta.kubernetes.io/zone") or ""
    return "" if not region and not zone else f"{region}:\x00:{zone}"


def _has_no_execute(node: dict[str, Any], key: str) -> bool:
    return any(t.get("key") == key and t.get("effect") == "NoExecute"
               for t in node.get("spec", {}).get("taints") or ())


class NodeLifecycleController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.node_lifecycle
        self.taint_eviction = TaintEvictionController(ctx)
        self.no_schedule: Runner[str] = Runner(ctx.engine, "node-lifecycle-noschedule",
                                               self._taint_no_schedule)
        self._health: dict[str, NodeHealth] = {}
        self._deadline: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []
        self._dirty: set[str] = set()
        self._removed: list[dict[str, Any]] = []
        #: node → (zone key, Ready) as counted for zone states (excluded nodes are absent).
        self._members: dict[str, tuple[str, bool]] = {}
        self._zone_of: dict[str, str] = {}
        self._zone_states: dict[str, ZoneState] = {}
        self._tainters: dict[str, ZoneTainter] = {}
        self._tainter_timers: dict[str, Timer] = {}
        self._tick: Timer | None = None
        ctx.store.subscribe("nodes", self._on_node)
        ctx.store.subscribe("leases.coordination.k8s.io", self._on_lease)

    # -- events ---------------------------------------------------------------------------

    def _on_node(self, event: WatchEvent) -> None:
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            self._forget(name)
            self._removed.append(event.obj)
        else:
            self._dirty.add(name)
            self.no_schedule.enqueue(name)
        self._ensure_ticking()

    def _on_lease(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        if event.type != "DELETED" and meta.get("namespace") == LEASE_NAMESPACE and \
                self.ctx.store.peek("nodes", "", meta["name"]) is not None:
            self._dirty.add(meta["name"])

    def _forget(self, name: str) -> None:
        for table in (self._health, self._deadline, self._members):
            table.pop(name, None)
        self._dirty.discard(name)
        zone = self._zone_of.pop(name, None)
        if zone is not None and zone in self._tainters:
            self._tainters[zone].remove(name)

    # -- the monitor tick -----------------------------------------------------------------

    def _ensure_ticking(self, *, after_tick: bool = False) -> None:
        if self._tick is not None or (not self.ctx.store.count("nodes") and not self._removed):
            return
        period = self.settings.monitor_period
        step = self.ctx.now / period
        index = math.floor(step + 1e-9) + 1 if after_tick else math.ceil(step - 1e-9)
        self._tick = self.ctx.engine.call_at(index * period, self._monitor,
                                             priority=Priority.ACTOR, label="node-monitor")

    def _monitor(self) -> None:
        """``monitorNodeHealth``: one pass over the nodes that may need action."""
        now = self.ctx.now
        for node in self._removed:
            self._node_event(node, "Normal", "RemovingNode", "Removing Node {} from Controller")
        self._removed.clear()
        names, self._dirty = self._dirty, set()
        while self._expiry and self._expiry[0][0] < now:
            deadline, name = heapq.heappop(self._expiry)
            if self._deadline.get(name) == deadline:
                names.add(name)
        for name in sorted(names):
            self._monitor_node(name, now)
        self._handle_disruption(now)
        self._tick = None  # only now: the writes above must not start a second tick
        self._ensure_ticking(after_tick=True)

    def _monitor_node(self, name: str, now: float) -> None:
        node = self.ctx.store.peek("nodes", "", name)
        if node is None:
            self._forget(name)
            return
        if name not in self._health:
            self._node_event(node, "Normal", "RegisteredNode", "Registered Node {} in Controller")
        lease = self._lease_renew(name)
        verdict = assess(node, self._health.get(name), lease, now, self.settings)
        if verdict.conditions is not None:
            node = self._write_conditions(name, verdict.conditions) or node
        self._health[name] = verdict.health
        self._track_deadline(name, verdict.health.probe + verdict.grace)
        if verdict.health.lease_renew is None and lease is not None:
            self._dirty.add(name)  # upstream counts the lease as new at the next tick
        self._track_zone(node, verdict.current == "True")
        if verdict.current is None:
            return
        self._taint_based_eviction(node, verdict.observed, now)
        if verdict.current != "True" and verdict.observed == "True":
            self._node_event(node, "Normal", "NodeNotReady", "Node {} status is now: NodeNotReady")
            self._mark_pods_not_ready(name, now)

    def _lease_renew(self, name: str) -> float | None:
        lease = self.ctx.store.peek("leases.coordination.k8s.io", LEASE_NAMESPACE, name)
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        if not renew:
            return None
        try:
            return parse_time(renew)
        except ValueError:
            return None

    def _track_deadline(self, name: str, deadline: float) -> None:
        if self._deadline.get(name) != deadline:
            self._deadline[name] = deadline
            heapq.heappush(self._expiry, (deadline, name))

    def _track_zone(self, node: dict[str, Any], ready: bool) -> None:
        name, zone = node["metadata"]["name"], zone_key(node)
        previous = self._zone_of.get(name)
        if previous is not None and previous != zone and previous in self._tainters:
            self._tainters[previous].remove(name)
        self._zone_of[name] = zone
        if EXCLUDE_DISRUPTION in (node["metadata"].get("labels") or {}):
            self._members.pop(name, None)
        else:
            self._members[name] = (zone, ready)

    # -- writes ---------------------------------------------------------------------------

    def _node_event(self, node: dict[str, Any], type_: str, reason: str, template: str) -> None:
        name = node["metadata"]["name"]
        message = template.format(name)
        if reason in ("RegisteredNode", "RemovingNode"):
            message = f"Node {name} event: {message}"  # upstream ``RecordNodeEvent``
        self.ctx.events.record(node, type_, reason, message, component=COMPONENT)

    def _write_conditions(self, name: str, conditions: list[dict[str, Any]]
                          ) -> dict[str, Any] | None:
        def change(draft: dict[str, Any]) -> None:
            draft.setdefault("status", {})["conditions"] = conditions

        try:
            return self.ctx.store.modify("nodes", "", name, change, subresource="status")
        except errors.NotFound:
            return None

    def _change_node(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify("nodes", "", name, change)

    def _mark_pods_not_ready(self, name: str, now: float) -> None:
        """``MarkPodsNotReady``: the Ready condition of every pod bound to the node → False."""
        for pod in self.ctx.store.select("pods",
                                         fields=FieldSelector.parse(f"spec.nodeName={name}")):
            ready = condition(pod, "Ready")
            if ready is None or ready.get("status") == "False":
                continue

            def change(draft: dict[str, Any], ready: dict[str, Any] = ready) -> None:
                set_condition(draft, "Ready", "False", now, reason=ready.get("reason"),
                              message=ready.get("message"))

            with contextlib.suppress(errors.NotFound):
                self.ctx.store.modify("pods", pod["metadata"]["namespace"],
                                      pod["metadata"]["name"], change, subresource="status")
                self.ctx.events.record(pod, "Warning", "NodeNotReady", "Node is not ready",
                                       component=COMPONENT)

    def _taint_no_schedule(self, name: str) -> None:
        """``doNoScheduleTaintingPass`` for one node (runs on every node change)."""
        node = self.ctx.store.peek("nodes", "", name)
        if node is None:
            return
        add, remove = no_schedule_taints(node)
        if add or remove:
            now = self.ctx.now
            self._change_node(name, lambda n: taintutil.swap_taints(n, add, remove, now))

    def _swap_no_execute(self, name: str, add: str, remove: str) -> None:
        now = self.ctx.now
        self._change_node(name, lambda n: taintutil.swap_taints(
            n, [{"key": add, "effect": "NoExecute"}], [{"key": remove, "effect": "NoExecute"}],
            now))

    # -- NoExecute taints -----------------------------------------------------------------

    def _taint_based_eviction(self, node: dict[str, Any], observed: str, now: float) -> None:
        """``processTaintBaseEviction``, from the Ready status listed at this tick."""
        name = node["metadata"]["name"]
        if observed in _TAINT_KEYS:
            other = _TAINT_KEYS["Unknown" if observed == "False" else "False"]
            if _has_no_execute(node, other):
                self._swap_no_execute(name, _TAINT_KEYS[observed], other)
            elif self._tainter(zone_key(node), now).add(name, now):
                self._drain(zone_key(node))
        elif observed == "True":
            self._mark_reachable(node)

    def _mark_reachable(self, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        gone = [{"key": k, "effect": "NoExecute"} for k in _TAINT_KEYS.values()
                if _has_no_execute(node, k)]
        if gone:
            self._change_node(name, lambda n: taintutil.remove_taints(n, gone))
        tainter = self._tainters.get(zone_key(node))
        if tainter is not None:
            tainter.remove(name)

    def _tainter(self, zone: str, now: float) -> ZoneTainter:
        tainter = self._tainters.get(zone)
        if tainter is None:
            tainter = self._tainters[zone] = ZoneTainter(self.settings.eviction_rate, now)
        return tainter

    def _drain(self, zone: str) -> None:
        """Taint what the zone's rate allows now; come back when the next token is due."""
        now = self.ctx.now
        tainter = self._tainter(zone, now)
        tainter.process(now, self._apply_no_execute)
        timer = self._tainter_timers.pop(zone, None)
        if timer is not None:
            timer.cancel()
        when = tainter.next_attempt(now)
        if when is not None:
            self._tainter_timers[zone] = self.ctx.engine.call_at(
                when, lambda: self._drain(zone), priority=Priority.ACTOR, label="node-taint")

    def _apply_no_execute(self, name: str) -> None:
        """The tainting queue's action (``doNoExecuteTaintingPass``), on current state."""
        node = self.ctx.store.peek("nodes", "", name)
        status = (condition(node, "Ready") or {}).get("status") if node else None
        if status in _TAINT_KEYS:
            other = _TAINT_KEYS["Unknown" if status == "False" else "False"]
            self._swap_no_execute(name, _TAINT_KEYS[str(status)], other)

    # -- zones ----------------------------------------------------------------------------

    def _zone_counts(self) -> dict[str, tuple[int, int]]:
        counts: dict[str, list[int]] = {}
        for zone, ready in self._members.values():
            counts.setdefault(zone, [0, 0])[0 if ready else 1] += 1
        return {zone: (c[0], c[1]) for zone, c in counts.items()}

    def _handle_disruption(self, now: float) -> None:
        """``handleDisruption``: zone states, their tainting rates, master disruption mode."""
        counts = self._zone_counts()
        new = {z: zone_state(r, n, self.settings.unhealthy_zone_threshold)
               for z, (r, n) in counts.items()}
        for zone in sorted(new):
            self._zone_states.setdefault(zone, ZoneState.INITIAL)
        for zone in sorted(self._zone_states):
            if zone not in new:
                del self._zone_states[zone]
        full = ZoneState.FULL_DISRUPTION
        all_full_now = all(s is full for s in new.values())
        all_full_before = all(s is full for s in self._zone_states.values())
        if all_full_now and all_full_before:
            return
        if all_full_now:
            self._enter_master_disruption(now)
            return
        if all_full_before:
            self._restart_grace_periods(now)
        for zone in sorted(self._zone_states):
            if all_full_before or self._zone_states[zone] is not new[zone]:
                size = sum(counts[zone])
                self._tainter(zone, now).swap_limiter(zone_rate(new[zone], size, self.settings),
                                                      now)
                self._zone_states[zone] = new[zone]
                self._drain(zone)

    def _enter_master_disruption(self, now: float) -> None:
        """Every zone lost all its nodes: assume the control plane is cut off, not the
        nodes; untaint them all and stop tainting."""
        for name in sorted(self._health):
            node = self.ctx.store.peek("nodes", "", name)
            if node is not None:
                self._mark_reachable(node)
        for zone in sorted(self._zone_states):
            self._tainter(zone, now).swap_limiter(0.0, now)
            self._zone_states[zone] = ZoneState.FULL_DISRUPTION

    def _restart_grace_periods(self, now: float) -> None:
        """Leaving master disruption mode: every node's probe time restarts now."""
        for name in sorted(self._health):
            health = self._health[name]
            self._health[name] = NodeHealth(health.ready, now, now, health.lease_renew)
            grace = self._deadline.get(name, now) - health.probe
            self._track_deadline(name, now + grace)
            self._dirty.add(name)  # upstream re-queues not-Ready nodes at every tick
