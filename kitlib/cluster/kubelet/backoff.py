"""Back-off windows as client-go's ``flowcontrol.Backoff`` keeps them for the kubelet.

Two uses, both per pod (the entries live in the pod's runtime record, so they go
away with the pod):

* **CrashLoopBackOff** (``kuberuntime_manager.go doBackOff``): key
  ``("crash", container name, container spec hash)`` — a changed spec is a fresh
  key, so an in-place image change never inherits a crash back-off. The question is
  ``in_backoff_since(key, finishedAt)``: an entry exists, has not expired, and less
  than its window has passed since the container finished.
* **Image pull back-off** (``images/image_manager.go``): key ``("image", image)``,
  asked as ``in_backoff_since_update(key)``: less than the window has passed since
  the last failure.

``next`` starts a missing or expired entry at ``initial`` and otherwise doubles it up
to ``maximum``. An entry expires when the event time is more than ``2 × maximum``
after its last update (10 minutes with the defaults): a container that ran that long
starts again at 10 s. No jitter is added (upstream adds none for these two).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["BackoffEntry", "BackoffPolicy"]


@dataclass(slots=True)
class BackoffEntry:
    window: float
    last_update: float


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial: float
    maximum: float

    def expired(self, entry: BackoffEntry, event_time: float) -> bool:
        return event_time - entry.last_update > 2 * self.maximum

    def in_backoff_since(self, entries: dict[Hashable, BackoffEntry], key: Hashable,
                         event_time: float, now: float) -> bool:
        entry = entries.get(key)
        if entry is None or self.expired(entry, event_time):
            return False
        return now - event_time < entry.window

    def in_backoff_since_update(self, entries: dict[Hashable, BackoffEntry], key: Hashable,
                                now: float) -> bool:
        entry = entries.get(key)
        if entry is None or self.expired(entry, now):
            return False
        return now - entry.last_update < entry.window

    def next(self, entries: dict[Hashable, BackoffEntry], key: Hashable, event_time: float,
             now: float) -> float:
        """Record one more failure; returns the new window."""
        entry = entries.get(key)
        if entry is None or self.expired(entry, event_time):
            entry = entries[key] = BackoffEntry(self.initial, now)
        else:
            entry.window = min(entry.window * 2, self.maximum)
            entry.last_update = now
        return entry.window

    @staticmethod
    def window(entries: dict[Hashable, BackoffEntry], key: Hashable) -> float:
        entry = entries.get(key)
        return 0.0 if entry is None else entry.window
