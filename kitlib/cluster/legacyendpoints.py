"""``LegacyEndpoints``: one service's core ``Endpoints`` subsets, kept up to date per pod.

The content is upstream's (``pkg/controller/endpoint``): each pod's address goes under
every service port that resolves for it, in ``addresses`` when it is Ready (or the
service publishes not-ready addresses) and in ``notReadyAddresses`` otherwise;
terminating pods are left out unless ``publishNotReadyAddresses``. ``RepackSubsets``
then groups the *ports* whose address sets are identical into one subset, addresses
sorted by IP (then pod UID), and ``truncateEndpoints`` caps the object at 1000
addresses (not-ready ones dropped first, the rest shared between subsets in proportion,
rounded up) and marks it ``endpoints.kubernetes.io/over-capacity: truncated``.

Rebuilding that from all pods on every change would cost O(pods) per readiness flip,
so the structure is incremental: per port, sorted lists of ready and not-ready address
keys (binary-search insertion) and an order-independent signature of the address set.
Ports are grouped by signature and confirmed by comparing their lists, and a subset is
cut from the sorted lists directly, so ``subsets()`` costs O(ports + addresses written),
at most 1000 of them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.endpointsplan import Member, Port

__all__ = ["ENDPOINTS_CAPACITY", "LegacyEndpoints", "truncation"]

#: Upstream's ``maxCapacity`` of an Endpoints object.
ENDPOINTS_CAPACITY = 1000

Key = tuple[str, str]  #: (IP, pod UID), the order upstream sorts addresses in
_MASK = (1 << 64) - 1


@dataclass
class _PortAddresses:
    """The addresses offering one port (``None``: a headless service without ports)."""

    ready: list[Key] = field(default_factory=list)
    not_ready: list[Key] = field(default_factory=list)
    signature: int = 0

    def add(self, key: Key, ready: bool) -> None:
        bisect.insort(self.ready if ready else self.not_ready, key)
        self.signature = (self.signature + hash((key, ready))) & _MASK

    def remove(self, key: Key, ready: bool) -> None:
        keys = self.ready if ready else self.not_ready
        i = bisect.bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            del keys[i]
            self.signature = (self.signature - hash((key, ready))) & _MASK

    def __bool__(self) -> bool:
        return bool(self.ready or self.not_ready)

    def same_addresses(self, other: _PortAddresses) -> bool:
        return self.signature == other.signature and self.ready == other.ready and \
            self.not_ready == other.not_ready


@dataclass(frozen=True, slots=True)
class _Entry:
    key: Key
    ready: bool
    ports: tuple[Port | None, ...]


class LegacyEndpoints:
    def __init__(self, namespace: str, *, publish_not_ready: bool,
                 headless_without_ports: bool) -> None:
        self.namespace = namespace
        self.publish_not_ready = publish_not_ready
        self.headless_without_ports = headless_without_ports
        self._entries: dict[str, _Entry] = {}
        self._ports: dict[Port | None, _PortAddresses] = {}
        self._addresses: dict[Key, dict[str, Any]] = {}

    def set(self, pod: str, member: Member | None) -> None:
        """Record ``pod``'s current member (``None``: not an endpoint any more)."""
        old = self._entries.pop(pod, None)
        if old is not None:
            self._addresses.pop(old.key, None)
            for port in old.ports:
                self._ports[port].remove(old.key, old.ready)
                if not self._ports[port]:
                    del self._ports[port]
        if member is None or (member.terminating and not self.publish_not_ready):
            return
        entry = _Entry((member.ip, member.uid), self.publish_not_ready or member.serving,
                       (None,) if self.headless_without_ports else member.ports)
        self._entries[pod] = entry
        self._addresses[entry.key] = _address(member, self.namespace)
        for port in entry.ports:
            self._ports.setdefault(port, _PortAddresses()).add(entry.key, entry.ready)

    def subsets(self, capacity: int = ENDPOINTS_CAPACITY) -> tuple[list[dict[str, Any]], bool]:
        """The ``subsets`` (sorted as upstream) and whether they were truncated."""
        groups = self._groups()
        sizes = [(len(addrs.ready), len(addrs.not_ready)) for addrs, _ in groups]
        keep = truncation(sizes, capacity)
        out = []
        for (addrs, ports), (ready, not_ready) in zip(groups, keep, strict=True):
            subset: dict[str, Any] = {}
            if ready:
                subset["addresses"] = [self._addresses[k] for k in addrs.ready[:ready]]
            if not_ready:
                subset["notReadyAddresses"] = [self._addresses[k]
                                               for k in addrs.not_ready[:not_ready]]
            if ports:
                subset["ports"] = [_port(p) for p in sorted(ports, key=Port.sort_key)]
            out.append(subset)
        return out, keep != sizes

    def _groups(self) -> list[tuple[_PortAddresses, list[Port]]]:
        """Ports grouped by identical address sets, in a stable order."""
        groups: list[tuple[_PortAddresses, list[Port]]] = []
        for port in sorted(self._ports, key=_port_order):
            addrs = self._ports[port]
            group = next((g for g in groups if g[0].same_addresses(addrs)), None)
            if group is None:
                group = (addrs, [])
                groups.append(group)
            if port is not None:
                group[1].append(port)
        return groups


def truncation(sizes: Sequence[tuple[int, int]], capacity: int) -> list[tuple[int, int]]:
    """Upstream ``truncateEndpoints`` on counts: how many (ready, not-ready) addresses of
    each subset stay."""
    ready = sum(r for r, _ in sizes)
    not_ready = sum(n for _, n in sizes)
    if ready + not_ready <= capacity:
        return list(sizes)
    if ready > capacity:
        limit, total, ready_first = capacity, ready, True
    else:
        limit, total, ready_first = capacity - ready, not_ready, False
    can_add = limit
    out = []
    for r, n in sizes:
        count = r if ready_first else n
        keep = min(count, math.ceil(count / total * limit), can_add)
        can_add -= keep
        out.append((keep, 0) if ready_first else (r, keep))
    return out


def _port_order(port: Port | None) -> tuple[str, int, str, str]:
    return ("", -1, "", "") if port is None else port.sort_key()


def _port(port: Port) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if port.name:
        out["name"] = port.name
    out["port"] = port.port
    out["protocol"] = port.protocol
    if port.app_protocol:
        out["appProtocol"] = port.app_protocol
    return out


def _address(member: Member, namespace: str) -> dict[str, Any]:
    address: dict[str, Any] = {"ip": member.ip}
    if member.hostname:
        address["hostname"] = member.hostname
    address["nodeName"] = member.node or ""
    address["targetRef"] = {"kind": "Pod", "namespace": namespace, "name": member.pod,
                            "uid": member.uid}
    return address
