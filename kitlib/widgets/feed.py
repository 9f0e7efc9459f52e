"""The thread → asyncio hand-off every live widget uses.

Watch caches call their handlers on a background thread, but a widget's traits may only
be set on the kernel's thread (ipykernel 7 breaks otherwise). ``DeltaFeed`` is the
bridge: handlers ``put`` the latest object per key into a lock-protected dict — later
events for the same key replace earlier ones, so a burst of events coalesces into one
change per key — and nothing else. The widget takes the pending changes either

* explicitly, with ``take()`` (stepped mode, tests: ``board.refresh()``), or
* from ``pump``, a task on the running asyncio loop that wakes when something is put and
  calls the widget's ``apply`` at most ``max_rate`` times a second.

``settle`` waits until a cache holds what a fresh list returns (useful on a stepped
cluster right after ``cluster.sleep``: the watch events are still in flight).

Invariants: ``put`` never blocks on the widget and never touches a trait; ``apply`` runs
only on the loop's thread (or the caller's, for ``take``); a failing ``apply`` is reported
through ``on_error`` and the pump keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from kitlib.client.cache import WatchCache
from kitlib.client.raw import get_json

__all__ = ["DeltaFeed", "loop_or_none", "settle"]

log = logging.getLogger(__name__)

#: Marks a key whose object was deleted.
DELETED: Any = None


K = TypeVar("K", bound=Hashable)


class DeltaFeed(Generic[K]):
    """Latest object per key, put from any thread, taken (all at once) by the widget.

    Args:
        loop: The asyncio loop to wake when something is put (``None``: nobody is woken;
            the owner calls ``take`` itself).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: dict[K, Any] = {}
        self._loop = loop
        self._wake: asyncio.Event | None = None
        #: Objects put since the feed was made (before coalescing).
        self.events = 0

    def put(self, key: K, obj: Any) -> None:
        """Record the latest state of ``key`` (``DELETED`` for gone); safe from any thread."""
        with self._lock:
            self._pending[key] = obj
            self.events += 1
        self._notify()

    def take(self) -> dict[K, Any]:
        """Every pending change (latest per key), emptying the feed."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wake.set)

    async def pump(self, apply: Callable[[], None], *, max_rate: float,
                   on_error: Callable[[BaseException], None]) -> None:
        """Call ``apply`` when changes are pending, at most ``max_rate`` times a second.

        Runs until cancelled, on the loop given to the constructor.
        """
        self._wake = asyncio.Event()
        if len(self):
            self._wake.set()
        interval = 1.0 / max_rate
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                apply()
            except Exception as exc:  # shown by the widget, never lost
                log.exception("a live widget update failed")
                on_error(exc)
            await asyncio.sleep(interval)


def loop_or_none() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop of this thread (the kernel's, in Jupyter), or ``None``."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _versions(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(str(o["metadata"].get("namespace") or ""), str(o["metadata"]["name"])):
            str(o["metadata"].get("resourceVersion") or "") for o in objects}


def settle(cache: WatchCache, *, timeout: float = 10.0, poll: float = 0.002) -> bool:
    """Wait until ``cache`` holds exactly what a fresh list returns; ``False`` on timeout.

    Lists once more every second of waiting (the server may have moved on meanwhile).
    """
    cache.wait_synced(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = get_json(cache.api_client, cache.path,
                         labelSelector=cache.label_selector)["items"]
        wanted, relist_at = _versions(items), time.monotonic() + 1.0
        while time.monotonic() < min(relist_at, deadline):
            if _versions(cache.list()) == wanted:
                return True
            time.sleep(poll)
    return False
