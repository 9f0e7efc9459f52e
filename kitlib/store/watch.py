"""Watch events, the bounded history they are replayed from, and watchers.

Every committed write is one ``WatchEvent`` with a resourceVersion one higher
than the previous write's, so the history is a contiguous run of RVs and "can
this watch start at RV n?" is a comparison with the oldest kept event.

A ``Watcher`` is filtered at emit time (namespace, label and field selectors,
as the real watch cache does): an object that starts matching is sent as
``ADDED``, one that stops matching as ``DELETED``. Events are buffered in the
watcher and handed out by ``drain``; the buffer is bounded, and a watcher that
falls too far behind is closed (its client re-watches from the last RV it saw,
as with a real API server).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from kitlib.model.selectors import FieldSelector, LabelSelector

__all__ = ["History", "WatchEvent", "Watcher", "dumps_exact"]


def dumps_exact(obj: Any) -> bytes:
    """``obj`` as JSON in a bytes object of exactly its size, for JSON that is kept.

    orjson returns its output buffer as it grew, which keeps several KiB allocated even
    for a small object (a 650-byte Event costs ~8 KiB); the history and the stored
    objects' JSON would hold that for every version. Copying costs far less than
    the encoding itself."""
    return bytes(memoryview(orjson.dumps(obj)))


class WatchEvent:
    """One committed write. ``obj`` is the stored (shared, read-only) object.

    An event the history has kept for a while (``History.HOT`` newer events) is
    **compacted**: it keeps ``prev`` only as JSON, and ``obj`` too once a newer version of
    its object exists (``supersede``) or at once for a kind the store keeps as JSON only
    (``StoreSettings.json_kinds``). The dicts take several times the memory of their JSON,
    and a superseded version is held by nothing else. ``obj``/``prev`` of a compacted event
    decode the JSON on each access (an equal, private copy, not the stored object): only a
    watch replaying the history or a snapshot reads them. The latest version of an object
    is never lost: it is the stored object itself (for a JSON-only kind, the stored JSON).
    """

    __slots__ = ("_obj", "_old", "_prev", "_prev_raw", "_raw", "_superseded", "rt_key", "rv",
                 "type")

    def __init__(self, rv: int, type_: str, rt_key: str, obj: dict[str, Any],
                 prev: dict[str, Any] | None, *, prev_raw: bytes | None = None,
                 json_only: bool = False) -> None:
        self.rv = rv
        self.type = type_
        self.rt_key = rt_key
        self._obj: dict[str, Any] | None = obj
        self._prev = prev
        #: ``prev`` as JSON when the caller has it already (the previous event's ``raw``)
        self._prev_raw = prev_raw
        self._raw: bytes | None = None
        self._old = False
        #: the store keeps this kind as JSON only: ``obj`` goes with compaction even while
        #: it is the latest version (see ``StoreSettings.json_kinds``)
        self._superseded = type_ == "DELETED" or json_only

    @property
    def obj(self) -> dict[str, Any]:
        obj = self._obj
        if obj is not None:
            return obj
        decoded: dict[str, Any] = orjson.loads(self.raw)
        return decoded

    @property
    def prev(self) -> dict[str, Any] | None:
        if self._prev is not None or self._prev_raw is None:
            return self._prev
        decoded: dict[str, Any] = orjson.loads(self._prev_raw)
        return decoded

    @property
    def raw(self) -> bytes:
        """The object as JSON, serialized once and shared by every watcher."""
        if self._raw is None:
            self._raw = dumps_exact(self._obj)
        return self._raw

    def compact(self) -> None:
        """The history has kept this event for a while: keep ``prev`` as JSON only, and
        ``obj`` too once superseded (see the class docstring)."""
        self._old = True
        if self._prev is not None:
            if self._prev_raw is None:
                self._prev_raw = dumps_exact(self._prev)
            self._prev = None
        if self._superseded:
            self._drop_obj()

    def forget_prev(self) -> None:
        """The history no longer holds this event: ``prev`` is only for replays."""
        self._prev = self._prev_raw = None

    def supersede(self) -> None:
        """A newer version of this event's object was committed (or it was deleted)."""
        self._superseded = True
        if self._old:
            self._drop_obj()

    def _drop_obj(self) -> None:
        if self._obj is not None:
            self.raw  # noqa: B018 - serialize before dropping the dict
            self._obj = None

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace") or "")

    def __repr__(self) -> str:
        meta = self.obj.get("metadata", {})
        return f"<{self.type} {self.rt_key} {meta.get('namespace', '')}/{meta.get('name')} rv={self.rv}>"


class History:
    """The last ``capacity`` events, addressable by resourceVersion."""

    #: The newest events keep their objects; older ones are compacted to their JSON.
    HOT = 2048

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._events: list[WatchEvent] = []
        self._start = 0  # index of the oldest kept event (trimmed lazily)

    def append(self, event: WatchEvent) -> None:
        events = self._events
        events.append(event)
        if len(events) - self._start > self.HOT:
            events[-1 - self.HOT].compact()
        if len(events) - self._start > self.capacity:
            # out of the window: no watch replays it, so nothing needs its previous version
            # (it may live on as its object's latest event)
            events[self._start].forget_prev()
            self._start += 1
            # compact in amortized O(1): dropping a sixteenth at a time keeps at most
            # 1/16 more events alive than the capacity (not twice as many)
            if self._start >= max(1, self.capacity // 16):
                del self._events[: self._start]
                self._start = 0

    @property
    def oldest_rv(self) -> int | None:
        return self._events[self._start].rv if len(self._events) > self._start else None

    def can_serve(self, rv: int, current: int) -> bool:
        """True if every event after ``rv`` is still kept."""
        oldest = self.oldest_rv
        if oldest is None:
            return rv >= current
        return rv >= oldest - 1

    def since(self, rv: int, rt_key: str | None = None) -> list[WatchEvent]:
        start = bisect.bisect_right(self._events, rv, lo=self._start, key=lambda e: e.rv)
        events = self._events[start:]
        return events if rt_key is None else [e for e in events if e.rt_key == rt_key]

    def __len__(self) -> int:
        return len(self._events) - self._start


class Watcher:
    """A filtered subscription to one kind's events."""

    def __init__(self, rt_key: str, *, namespace: str | None = None,
                 labels: LabelSelector | None = None, fields: FieldSelector | None = None,
                 max_buffer: int = 200_000) -> None:
        self.rt_key = rt_key
        self.namespace = namespace or None
        self.labels = labels or LabelSelector()
        self.fields = fields or FieldSelector()
        self.max_buffer = max_buffer
        self.buffer: deque[tuple[str, WatchEvent]] = deque()
        self.closed = False
        self.close_reason = ""
        #: Called (with no arguments) when events arrive; the API server wakes its stream.
        self.notify: Callable[[], None] | None = None
        self._on_close: Callable[[Watcher], None] | None = None

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if not self.labels.is_everything and not self.labels.matches(meta.get("labels")):
            return False
        return self.fields.is_everything or self.fields.matches(obj)

    def offer(self, event: WatchEvent) -> None:
        """Deliver ``event`` if it concerns this watcher (selector transitions included)."""
        if self.closed:
            return
        now = self.matches(event.obj) if event.type != "DELETED" else False
        before = self.matches(event.prev) if event.prev is not None else False
        if event.type == "DELETED":
            kind = "DELETED" if self.matches(event.obj) else None
        elif now:
            kind = "MODIFIED" if before else "ADDED"
        else:
            kind = "DELETED" if before else None
        if kind is not None:
            self._push(kind, event)

    def push_initial(self, event: WatchEvent) -> None:
        self._push("ADDED", event)

    def _push(self, kind: str, event: WatchEvent) -> None:
        if len(self.buffer) >= self.max_buffer:
            self.close("watcher fell too far behind; re-watch from the last resourceVersion seen")
            return
        self.buffer.append((kind, event))
        if self.notify is not None:
            self.notify()

    def drain(self, limit: int | None = None) -> list[tuple[str, WatchEvent]]:
        """Take buffered events (oldest first)."""
        if limit is None or limit >= len(self.buffer):
            items = list(self.buffer)
            self.buffer.clear()
            return items
        return [self.buffer.popleft() for _ in range(limit)]

    def close(self, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if self._on_close is not None:
            self._on_close(self)
        if self.notify is not None:
            self.notify()
