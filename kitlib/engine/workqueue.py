"""A work queue with client-go's rules, on the engine's clock.

* **Dedupe**: a key added while already waiting is queued once.
* **Never the same key twice at once**: a key being processed is not handed out
  again until ``done``.
* **Dirty while processing**: a key added during processing is re-queued by
  ``done``, so no change is missed.
* **Rate-limited retries**: ``add_rate_limited`` waits ``base * 2**failures``
  (5 ms doubling up to 1000 s, client-go's per-item default) on the engine clock;
  ``forget`` resets the count. client-go's overall token bucket (10 qps, burst
  100) is not modelled: reconciles cost simulated time only through the
  runner's busy windows (``runner.py``).
* **Requeue after**: ``add_after`` schedules the add on the engine clock.

``on_ready`` is called whenever the queue goes from empty to non-empty, which is
how the reconcile runner knows to schedule work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .loop import Engine, Priority, Timer

__all__ = ["RateLimit", "WorkQueue"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Per-item exponential backoff for failed reconciles."""

    base: float = 0.005
    cap: float = 1000.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.base * (2 ** min(failures, 64)))


class WorkQueue(Generic[K]):
    def __init__(self, engine: Engine, *, name: str = "",
                 rate_limit: RateLimit | None = None) -> None:
        self.engine = engine
        self.name = name
        self.rate_limit = rate_limit or RateLimit()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._waiting: dict[K, Timer] = {}
        self.on_ready: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        if len(self._queue) == 1 and self.on_ready is not None:
            self.on_ready()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` simulated seconds (the earliest request wins)."""
        if delay <= 0:
            self.add(key)
            return
        when = self.engine.now + delay
        existing = self._waiting.get(key)
        if existing is not None and not existing.cancelled:
            if existing.when <= when:
                return
            existing.cancel()
        self._waiting[key] = self.engine.call_at(
            when, lambda: self._fire(key), priority=Priority.CONTROLLER,
            label=f"requeue {self.name}")

    def _fire(self, key: K) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = self.rate_limit.delay(failures)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)

    def get(self) -> K | None:
        """The next key to process, or ``None`` when the queue is empty."""
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            if len(self._queue) == 1 and self.on_ready is not None:
                self.on_ready()

    def is_processing(self, key: K) -> bool:
        return key in self._processing
