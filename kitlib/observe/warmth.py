"""A model of an app container's local cache warmth, from its uptime.

Many services keep a local cache (in-process LRU, JIT-warmed code paths, connection
pools); a freshly started container serves misses until the cache fills again. kitlib
does not run apps, so it *models* this: the hit rate of an app container grows with the
uptime of its current instance and drops to zero when it restarts.

The point of the model is the comparison it makes visible: a recreate-style release (new
pods, or an in-place restart of the app container itself) starts every app container
cold, so the workload's hit rate dips for about ``tau`` seconds; an in-place update of a
*sidecar* restarts only the sidecar, so the app keeps its instance and its warm cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CacheWarmth"]


@dataclass(frozen=True)
class CacheWarmth:
    """Hit rate = ``floor + (1 − floor) · (1 − exp(−uptime / tau))``.

    ``uptime`` runs from the container's current start (``state.running.startedAt``), so
    any restart — in place or in a new pod — resets it; a container that is not running,
    or not ready, serves nothing and counts 0.

    Attributes:
        tau_seconds: the time constant: after ``tau`` seconds of uptime the cache is
            about 63 % warm, after ``3·tau`` about 95 %.
        floor: the hit rate of a cold cache (a shared remote tier may serve some hits).
    """

    tau_seconds: float = 120.0
    floor: float = 0.0

    def __post_init__(self) -> None:
        if not self.tau_seconds > 0:
            raise ValueError(f"tau_seconds must be positive, got {self.tau_seconds}")
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"floor must be between 0 and 1, got {self.floor}")

    def hit_rate(self, uptime: float, *, serving: bool = True) -> float:
        """The modelled hit rate after ``uptime`` seconds (0 when not ``serving``).

        Args:
            uptime: seconds since the container's current start; ``NaN`` (never started)
                counts as not serving.
            serving: whether the container is running and ready.

        Returns:
            A rate in ``[floor, 1)`` while serving, else ``0.0``.
        """
        if not serving or math.isnan(uptime):
            return 0.0
        warm = 1.0 - math.exp(-max(0.0, uptime) / self.tau_seconds)
        return self.floor + (1.0 - self.floor) * warm
