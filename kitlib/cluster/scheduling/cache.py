"""The scheduler's cache: node facts, running tallies of what bound pods request, and
how many pods of each owner run on each node and in each zone.

Kept up to date from store events (``set_node``/``remove_node``/``observe_pod``), so a
scheduling decision never sums the pods of a node: work per event is proportional to
what changed. A pod counts against its node from the moment it is bound until it is
deleted or reaches a terminal phase (``Succeeded``/``Failed``), like the real
scheduler's cache (its informer ignores terminal pods); a terminating pod still counts.

``ordered()`` lists nodes as upstream's ``NodeTree`` does: round robin over zones (in
the order zones were first seen), each zone's nodes in the order they were added, so
that scanning a prefix of the list already covers every zone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.podutil import controller_of, is_terminal
from kitlib.cluster.scheduling.filters import NodeFacts, NodeUsage, PodFacts, least_allocated
from kitlib.cluster.scheduling.requests import pod_requests

__all__ = ["SchedulerCache"]


@dataclass(frozen=True, slots=True)
class _Placed:
    node: str
    requests: Mapping[str, int]
    nonzero_cpu: int
    nonzero_memory: int
    owner: str | None


def _placement(pod: Mapping[str, Any] | None) -> _Placed | None:
    """How ``pod`` counts against a node, or ``None`` if it does not (unbound, terminal)."""
    if pod is None or not (pod.get("spec") or {}).get("nodeName") or is_terminal(dict(pod)):
        return None
    requests = pod_requests(pod["spec"])
    owner = controller_of(dict(pod))
    return _Placed(pod["spec"]["nodeName"], requests.requests, requests.nonzero_cpu,
                   requests.nonzero_memory, owner.get("uid") if owner else None)


class SchedulerCache:
    def __init__(self) -> None:
        self.facts: dict[str, NodeFacts] = {}
        self.usage: dict[str, NodeUsage] = {}
        #: node → allocatable minus what its bound pods request ("pods": places left).
        self.free: dict[str, dict[str, int]] = {}
        self._requested: dict[str, dict[str, int]] = {}  # node → requested, "pods" included
        self._placed: dict[str, _Placed] = {}  # pod uid → placement
        self._on_node: dict[str, set[str]] = {}  # node → pod uids
        self._owner_nodes: dict[str, Counter[str]] = {}
        self._owner_zones: dict[str, Counter[str]] = {}
        self._zones: dict[str, list[str]] = {}  # zone → node names, in the order added
        self._order: list[str] | None = None

    # -- nodes ----------------------------------------------------------------------------

    def set_node(self, node: Mapping[str, Any]) -> bool:
        """Record a node's facts; True if anything the filters or scores use changed."""
        facts = NodeFacts.of(node)
        old = self.facts.get(facts.name)
        if old == facts:
            return False
        self.facts[facts.name] = facts
        self._refresh_free(facts.name)
        if old is None or old.zone != facts.zone:
            self._move_zone(facts.name, old.zone if old else None, facts.zone)
        return True

    def remove_node(self, name: str) -> None:
        old = self.facts.pop(name, None)
        self.free.pop(name, None)
        if old is not None:
            self._move_zone(name, old.zone, None)

    def _refresh_free(self, name: str) -> None:
        free = dict(self.facts[name].allocatable)
        for resource, used in self._requested.get(name, {}).items():
            free[resource] = free.get(resource, 0) - used
        self.free[name] = free

    def _move_zone(self, name: str, old: str | None, new: str | None) -> None:
        if old is not None:
            self._zones[old].remove(name)
            if not self._zones[old]:
                del self._zones[old]
        if new is not None:
            self._zones.setdefault(new, []).append(name)
        self._order = None
        for uid in sorted(self._on_node.get(name, ())):
            owner = self._placed[uid].owner
            if owner is not None:
                self._count_zone(owner, old or "", -1)
                self._count_zone(owner, new or "", +1)

    def ordered(self) -> list[str]:
        """Every node, zones interleaved (upstream ``NodeTree.list``)."""
        if self._order is None:
            zones = list(self._zones.values())
            longest = max((len(z) for z in zones), default=0)
            self._order = [z[i] for i in range(longest) for z in zones if i < len(z)]
        return self._order

    # -- pods -----------------------------------------------------------------------------

    def observe_pod(self, uid: str, pod: Mapping[str, Any] | None) -> bool:
        """Account for a pod's current state (``None`` once deleted); True if resources were
        released (the pod left a node), which may make a waiting pod schedulable."""
        new = _placement(pod)
        old = self._placed.get(uid)
        if old == new:
            return False
        if old is not None:
            self._apply(uid, old, -1)
        if new is not None:
            self._apply(uid, new, +1)
        return old is not None

    def _apply(self, uid: str, placed: _Placed, sign: int) -> None:
        usage = self.usage.setdefault(placed.node, NodeUsage())
        usage.nonzero_cpu += sign * placed.nonzero_cpu
        usage.nonzero_memory += sign * placed.nonzero_memory
        requested = self._requested.setdefault(placed.node, {})
        free = self.free.get(placed.node)
        for name, value in (*placed.requests.items(), ("pods", 1)):
            requested[name] = requested.get(name, 0) + sign * value
            if free is not None:
                free[name] = free.get(name, 0) - sign * value
        uids = self._on_node.setdefault(placed.node, set())
        if sign > 0:
            self._placed[uid] = placed
            uids.add(uid)
        else:
            del self._placed[uid]
            uids.discard(uid)
            if not uids:
                del self._on_node[placed.node]
                del self.usage[placed.node]
                del self._requested[placed.node]
        if placed.owner is not None:
            counts = self._owner_nodes.setdefault(placed.owner, Counter())
            counts[placed.node] += sign
            if counts[placed.node] <= 0:
                del counts[placed.node]
            if not counts:
                del self._owner_nodes[placed.owner]
            facts = self.facts.get(placed.node)
            self._count_zone(placed.owner, facts.zone if facts else "", sign)

    def _count_zone(self, owner: str, zone: str, sign: int) -> None:
        counts = self._owner_zones.setdefault(owner, Counter())
        counts[zone] += sign
        if counts[zone] <= 0:
            del counts[zone]
        if not counts:
            del self._owner_zones[owner]

    # -- scoring --------------------------------------------------------------------------

    def score_keys(self, pod: PodFacts, names: list[str]) -> list[tuple[int, int, int]]:
        """Each node's score key, lower is better: fewest pods of the pod's owner on the node,
        then in its zone, then the most resources left free."""
        on_node: Mapping[str, int] = {}
        in_zone: Mapping[str, int] = {}
        if pod.owner is not None:
            on_node = self._owner_nodes.get(pod.owner) or {}
            in_zone = self._owner_zones.get(pod.owner) or {}
        facts, usage = self.facts, self.usage
        keys = []
        for name in names:
            node = facts[name]
            keys.append((on_node.get(name, 0), in_zone.get(node.zone, 0),
                         -least_allocated(pod, node, usage.get(name))))
        return keys
