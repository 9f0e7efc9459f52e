"""Events: what happened, recorded as core/v1 ``Event`` objects like real components do.

``EventRecorder.record(obj, "Normal", "Scheduled", "Successfully assigned …")``
writes an Event whose ``involvedObject`` points at ``obj``. A repeat of the same
(object, type, reason, message) within the aggregation window bumps ``count``
and ``lastTimestamp`` instead of creating a new object, as client-go's event
correlator does. Event names are ``<object name>.<16 hex digits>`` from a seeded
stream. Events expire after ``ttl`` (the API server's default is one hour).

Recording can be switched off (``enabled=False``) for very large simulations.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from kitlib.engine.loop import Engine, Priority
from kitlib.model import errors
from kitlib.model.objects import format_time, object_ref, parse_time
from kitlib.store.store import Store

__all__ = ["EventRecorder", "EventSettings"]


@dataclass(frozen=True)
class EventSettings:
    enabled: bool = True
    #: Seconds an Event is kept after its last occurrence.
    ttl: float = 3600.0
    #: Repeats within this many seconds update the existing Event.
    aggregate_window: float = 600.0


class EventRecorder:
    def __init__(self, store: Store, engine: Engine, settings: EventSettings | None = None) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings or EventSettings()
        self._rng = engine.rng_for("events.names")
        self._recent: dict[tuple[str, str, str, str], tuple[str, str, float]] = {}
        self._alive: dict[tuple[str, str], float] = {}  # (namespace, name) -> last occurrence
        self._expiry_scheduled = False

    def record(self, obj: dict[str, Any], type_: str, reason: str, message: str, *,
               component: str, host: str | None = None) -> None:
        if not self.settings.enabled:
            return
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid", ""), type_, reason, message)
        now = self.engine.now
        seen = self._recent.get(key)
        if seen is not None and now - seen[2] <= self.settings.aggregate_window and \
                self._bump(seen[0], seen[1]):
            self._recent[key] = (seen[0], seen[1], now)
            self._alive[(seen[0], seen[1])] = now
            return
        name = f"{meta.get('name', 'object')}.{self._rng.getrandbits(64):016x}"
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": object_ref(obj), "reason": reason, "message": message,
            "type": type_, "source": source, "count": 1,
            "firstTimestamp": format_time(now), "lastTimestamp": format_time(now),
            "reportingComponent": component, "reportingInstance": host or component,
        }
        try:
            self.store.create("events", event)
        except errors.ApiError:
            return  # e.g. the namespace is being deleted: events are best effort
        self._recent[key] = (namespace, name, now)
        self._alive[(namespace, name)] = now
        self._schedule_expiry()

    def _bump(self, namespace: str, name: str) -> bool:
        def change(ev: dict[str, Any]) -> None:
            ev["count"] = int(ev.get("count") or 1) + 1
            ev["lastTimestamp"] = format_time(self.engine.now)
        try:
            self.store.modify("events", namespace, name, change)
        except errors.NotFound:
            return False
        return True

    def _schedule_expiry(self) -> None:
        if not self._expiry_scheduled:
            self._expiry_scheduled = True
            with self.engine.owned_by(None):  # the recorder's, not the recording actor's
                self.engine.call_later(self.settings.ttl / 4, self._expire,
                                       priority=Priority.LOW, label="event-ttl")

    def resync(self) -> None:
        """After the cluster was rebuilt from stored objects: take the stored Events as
        recorded (aggregation of repeats, expiry after ``ttl``), as if this recorder had
        written them."""
        for event in sorted(self.store.iter_objects("events"),
                            key=lambda e: (e["metadata"].get("namespace", ""),
                                           e["metadata"]["name"])):
            meta = event["metadata"]
            ref = (meta.get("namespace", ""), meta["name"])
            last = parse_time(event.get("lastTimestamp") or meta.get("creationTimestamp")
                              or format_time(self.engine.now))
            self._alive[ref] = last
            key = ((event.get("involvedObject") or {}).get("uid", ""), event.get("type", ""),
                   event.get("reason", ""), event.get("message", ""))
            self._recent[key] = (*ref, last)
        if self._alive:
            self._schedule_expiry()

    def _expire(self) -> None:
        self._expiry_scheduled = False
        cutoff = self.engine.now - self.settings.ttl
        self._recent = {k: v for k, v in self._recent.items() if v[2] >= cutoff}
        stale = [ref for ref, last in self._alive.items() if last < cutoff]
        for namespace, name in stale:
            del self._alive[(namespace, name)]
            with contextlib.suppress(errors.NotFound):
                self.store.delete("events", namespace, name)
        if self._alive:
            self._schedule_expiry()
