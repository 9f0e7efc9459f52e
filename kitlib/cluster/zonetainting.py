"""Rate-limited NoExecute tainting per zone, and zone disruption states.

The node lifecycle controller does not taint every silent node at once: each zone
has a queue (upstream ``RateLimitedTimedQueue``) drained through a token bucket
(``flowcontrol.NewTokenBucketRateLimiter``, burst 1, starting full) whose rate
depends on the zone's state (``ComputeZoneState``):

* ``Normal`` → ``eviction_rate`` (0.1 node/s);
* ``PartialDisruption`` (more than 2 not-Ready nodes and at least
  ``unhealthy_zone_threshold`` of them) → ``secondary_eviction_rate`` (0.01/s) if the
  zone has more than ``large_cluster_size_threshold`` nodes, else 0 (tainting stops);
* ``FullDisruption`` (no Ready node) → ``eviction_rate`` — unless every zone is fully
  disrupted, which the controller handles itself ("master disruption mode").

A queue remembers a node after tainting it (set semantics) until ``remove``: marking
a node again is a no-op, as upstream. Everything runs on the engine's clock; instead
of polling every 100 ms like upstream, the owner asks ``next_attempt`` when to try
again.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from enum import Enum

from kitlib.cluster.settings import NodeLifecycleSettings

__all__ = ["TokenBucket", "ZoneState", "ZoneTainter", "zone_rate", "zone_state"]

_EPSILON = 1e-9


class ZoneState(Enum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


def zone_state(ready: int, not_ready: int, threshold: float) -> ZoneState:
    """Upstream ``ComputeZoneState`` from the zone's Ready and not-Ready node counts."""
    if ready == 0 and not_ready > 0:
        return ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= threshold:
        return ZoneState.PARTIAL_DISRUPTION
    return ZoneState.NORMAL


def zone_rate(state: ZoneState, zone_size: int, settings: NodeLifecycleSettings) -> float:
    """Tainting rate (nodes per second) for a zone in ``state`` (``setLimiterInZone``)."""
    if state is ZoneState.PARTIAL_DISRUPTION:
        return settings.secondary_eviction_rate \
            if zone_size > settings.large_cluster_size_threshold else 0.0
    return settings.eviction_rate


class TokenBucket:
    """A token bucket of ``qps`` tokens per second holding at most ``burst``; starts full.
    ``qps <= 0`` never accepts (upstream's ``NeverRateLimiter``)."""

    def __init__(self, qps: float, now: float, burst: int = 1) -> None:
        self.qps = max(0.0, qps)
        self.burst = burst
        self._tokens = float(burst) if self.qps > 0 else 0.0
        self._last = now

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = max(self._last, now)

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        self._refill(now)
        if self._tokens + _EPSILON >= 1.0:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def next_token(self, now: float) -> float | None:
        """When the next token is available (``None``: never)."""
        if self.qps <= 0:
            return None
        self._refill(now)
        return now + max(0.0, 1.0 - self._tokens) / self.qps


class ZoneTainter:
    """One zone's queue of nodes waiting for their NoExecute taint."""

    def __init__(self, qps: float, now: float) -> None:
        self.limiter = TokenBucket(qps, now)
        self._heap: list[tuple[float, int, str]] = []
        self._queued: set[str] = set()
        self._members: set[str] = set()
        self._seq = 0

    def add(self, name: str, now: float) -> bool:
        """Queue ``name`` unless it is queued or was processed since its last ``remove``."""
        if name in self._members:
            return False
        self._members.add(name)
        self._queued.add(name)
        self._seq += 1
        heapq.heappush(self._heap, (now, self._seq, name))
        return True

    def remove(self, name: str) -> None:
        """Forget ``name`` (dequeued if still waiting) so that it can be added again."""
        self._members.discard(name)
        self._queued.discard(name)

    def __len__(self) -> int:
        return len(self._queued)

    def swap_limiter(self, qps: float, now: float) -> None:
        """Change the rate; a new bucket starts drained if the old one was (``SwapLimiter``)."""
        if abs(self.limiter.qps - max(0.0, qps)) < _EPSILON:
            return
        saturated = not self.limiter.try_accept(now)
        self.limiter = TokenBucket(qps, now)
        if saturated and qps > 0:
            self.limiter.try_accept(now)

    def process(self, now: float, taint: Callable[[str], None]) -> None:
        """Taint queued nodes while the bucket has tokens (upstream ``Try``)."""
        while self._queued:
            while self._heap[0][2] not in self._queued:
                heapq.heappop(self._heap)
            if not self.limiter.try_accept(now):
                return
            _, _, name = heapq.heappop(self._heap)
            self._queued.discard(name)
            taint(name)

    def next_attempt(self, now: float) -> float | None:
        """When ``process`` may make progress again (``None``: nothing to do, or never)."""
        return self.limiter.next_token(now) if self._queued else None
