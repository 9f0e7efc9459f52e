"""Watch streams: newline-delimited JSON events over a chunked HTTP response.

* ``resourceVersion`` unset or ``0``: synthetic ``ADDED`` events for the current
  objects, then changes; ``n``: every change after ``n``; too old: one ``ERROR``
  event carrying a 410 ``Expired`` Status (HTTP 200, as the real watch cache).
* ``sendInitialEvents=true`` (the watch-list protocol of client-go ≥ 1.35 and
  kubectl with WatchListClient) is implemented exactly: the initial ``ADDED``
  events are followed by a ``BOOKMARK`` annotated
  ``k8s.io/initial-events-end: "true"``. It requires
  ``resourceVersionMatch=NotOlderThan`` and ``allowWatchBookmarks=true`` (422
  otherwise, as upstream).
* ``allowWatchBookmarks``: a ``BOOKMARK`` with the current RV is sent when the
  stream has been idle for ``BOOKMARK_INTERVAL`` wall seconds.
* With a Table Accept header each event's object is a one-row Table (column
  definitions in the first one only), as ``kubectl get -w`` expects.
* The stream ends after ``timeoutSeconds`` (default 30–60 minutes, like the
  real server), when the client goes away, or when the watcher is closed for
  falling too far behind; clients then re-watch from the last RV they saw.

Each object is serialized once per version and shared by every watcher.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from kitlib.apiserver.tables import table_for
from kitlib.model import errors
from kitlib.model.registry import ResourceType
from kitlib.model.selectors import FieldSelector, LabelSelector
from kitlib.store.store import Store
from kitlib.store.watch import Watcher, WatchEvent

__all__ = ["WatchOptions", "open_watch", "stream_events"]

BOOKMARK_INTERVAL = 10.0
_PREFIXES = {kind: b'{"type":"' + kind.encode() + b'","object":'
             for kind in ("ADDED", "MODIFIED", "DELETED")}
DEFAULT_TIMEOUT = 1800.0
_BATCH = 2000


class WatchOptions:
    def __init__(self, query: dict[str, str], *, table: bool) -> None:
        self.rv = query.get("resourceVersion") or None
        self.bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        self.initial_events = query.get("sendInitialEvents") in ("true", "1")
        self.rv_match = query.get("resourceVersionMatch") or ""
        self.labels = LabelSelector.parse(query.get("labelSelector"))
        self.fields = FieldSelector.parse(query.get("fieldSelector"))
        self.timeout = _timeout(query.get("timeoutSeconds"))
        self.table = table
        self.include_object = query.get("includeObject") or "Metadata"
        self._validate()

    def _validate(self) -> None:
        if self.initial_events:
            if self.rv_match != "NotOlderThan":
                raise errors.Invalid("sendInitialEvents: Forbidden: sendInitialEvents requires "
                                     "resourceVersionMatch=NotOlderThan")
            if not self.bookmarks:
                raise errors.Invalid("allowWatchBookmarks: Forbidden: sendInitialEvents "
                                     "requires allowWatchBookmarks=true")
        elif self.rv_match:
            raise errors.Invalid("resourceVersionMatch: Forbidden: resourceVersionMatch is "
                                 "forbidden for watch unless sendInitialEvents is provided")


def _timeout(value: str | None) -> float:
    if value in (None, ""):
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise errors.BadRequest(f"timeoutSeconds must be a number of seconds, got "
                                f"{value[:100]!r}")
    return DEFAULT_TIMEOUT if seconds <= 0 else seconds


def open_watch(store: Store, rt: ResourceType, namespace: str | None,
               options: WatchOptions) -> tuple[Watcher | None, errors.ApiError | None]:
    """Start the store watch; a too-old RV is returned as an error to stream, not raised."""
    rv = None if options.initial_events else options.rv
    try:
        watcher = store.watch(rt.key, namespace=namespace, labels=options.labels,
                              fields=options.fields, resource_version=rv)
    except errors.Expired as exc:
        return None, exc
    return watcher, None


async def stream_events(store: Store, rt: ResourceType, watcher: Watcher | None,
                        error: errors.ApiError | None, options: WatchOptions,
                        now: Any) -> AsyncIterator[bytes]:
    """The response body of one watch."""
    encoder = _Encoder(rt, options, now)
    if watcher is None:
        assert error is not None
        yield encoder.error(error)
        return
    wake = asyncio.Event()
    watcher.notify = wake.set
    deadline = time.monotonic() + options.timeout
    try:
        if options.initial_events:
            yield encoder.batch(watcher.drain()) + encoder.bookmark(store.resource_version,
                                                                   initial_end=True)
        async for chunk in _follow(store, watcher, wake, encoder, options, deadline):
            yield chunk
    finally:
        watcher.notify = None
        watcher.close("client gone")


async def _follow(store: Store, watcher: Watcher, wake: asyncio.Event, encoder: _Encoder,
                  options: WatchOptions, deadline: float) -> AsyncIterator[bytes]:
    while True:
        items = watcher.drain(_BATCH)
        if items:
            yield encoder.batch(items)
            continue
        if watcher.closed:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        wake.clear()
        try:
            await asyncio.wait_for(wake.wait(), timeout=min(BOOKMARK_INTERVAL, remaining))
        except TimeoutError:
            if options.bookmarks and not watcher.buffer:
                yield encoder.bookmark(store.resource_version)


class _Encoder:
    def __init__(self, rt: ResourceType, options: WatchOptions, now: Any) -> None:
        self.rt = rt
        self.options = options
        self.now = now
        self._definitions_sent = False

    def batch(self, items: list[tuple[str, WatchEvent]]) -> bytes:
        if self.options.table:
            return b"".join(self.event(kind, ev) for kind, ev in items)
        # JSON: one join over (prefix, cached object bytes, suffix) per event, no per-event
        # concatenation copies of the object.
        parts: list[bytes] = []
        for kind, ev in items:
            prefix = _PREFIXES.get(kind) or b'{"type":"' + kind.encode() + b'","object":'
            raw = ev.raw
            if kind != ev.type and kind == "DELETED":
                raw = orjson.dumps(ev.obj)
            parts += (prefix, raw, b"}\n")
        return b"".join(parts)

    def event(self, kind: str, ev: WatchEvent) -> bytes:
        if self.options.table:
            table = table_for(self.rt, [ev.obj], now=self.now(), resource_version=str(ev.rv),
                              include_object=self.options.include_object,
                              with_definitions=not self._definitions_sent)
            self._definitions_sent = True
            return orjson.dumps({"type": kind, "object": table}) + b"\n"
        raw = ev.raw
        if kind != ev.type and kind == "DELETED":
            raw = orjson.dumps(ev.obj)
        return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"

    def bookmark(self, rv: int, *, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": meta}
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    def error(self, error: errors.ApiError) -> bytes:
        return orjson.dumps({"type": "ERROR", "object": error.to_status()}) + b"\n"
