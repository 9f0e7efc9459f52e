"""Pod IPs of one node, from its ``spec.podCIDR``, handed out as CNI host-local IPAM does.

The first address is the network, the second the bridge gateway, the last the
broadcast address; pods get the others, **next-fit**: each allocation continues
after the previous one and wraps at the end of the range, so a released address is
reused only after the range has gone round (a new pod rarely gets the IP a deleted
one just had, as on a real node). Deterministic: no randomness is involved.

A node without a ``podCIDR`` gets a fallback ``/24`` from ``172.16.0.0/12`` (the
kubelet manager numbers them in the order the nodes appear).
"""

from __future__ import annotations

import ipaddress

__all__ = ["PodIPAllocator", "fallback_cidr"]

_FALLBACK = ipaddress.IPv4Network("172.16.0.0/12")


def fallback_cidr(index: int) -> str:
    subnets = _FALLBACK.num_addresses // 256
    return f"{_FALLBACK[(index % subnets) * 256]}/24"


class PodIPAllocator:
    def __init__(self, cidr: str) -> None:
        network = ipaddress.ip_network(cidr, strict=False)
        self.cidr = str(network)
        self._base = int(network.network_address)
        self._first = 2
        self._last = max(self._first, network.num_addresses - 2)
        self._next = self._first
        self._used: set[int] = set()

    @property
    def capacity(self) -> int:
        return self._last - self._first + 1

    @property
    def in_use(self) -> int:
        return len(self._used)

    def allocate(self) -> str | None:
        """The next free address, or None when the range is exhausted."""
        if len(self._used) >= self.capacity:
            return None
        offset = self._next
        while offset in self._used:
            offset = self._first if offset >= self._last else offset + 1
        self._used.add(offset)
        self._next = self._first if offset >= self._last else offset + 1
        return str(ipaddress.ip_address(self._base + offset))

    def reserve(self, ip: str) -> None:
        """Mark ``ip`` as taken (a pod adopted with its IP after a kubelet restart)."""
        try:
            offset = int(ipaddress.ip_address(ip)) - self._base
        except ValueError:
            return
        if self._first <= offset <= self._last:
            self._used.add(offset)

    def release(self, ip: str) -> None:
        try:
            offset = int(ipaddress.ip_address(ip)) - self._base
        except ValueError:
            return
        self._used.discard(offset)
