"""The one reconcile runner every controller shares.

A controller is a function of a key: ``reconcile(key) -> Result | None``. The
runner owns everything around it, the same way for every controller:

* it schedules one engine event per queued key (priority ``CONTROLLER``), so
  reconciles interleave deterministically with kubelets and other actors;
* ``Result(requeue_after=s)`` re-adds the key after ``s`` simulated seconds;
  ``Result(requeue=True)`` re-adds it rate-limited;
* an exception is logged and retried rate-limited; ``TerminalError`` is logged
  and not retried; success ``forget``s the key's failure count;
* the last errors are kept in ``errors`` so that they are never silently lost.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .loop import Engine, Priority, Timer
from .workqueue import RateLimit, WorkQueue

__all__ = ["ReconcileError", "Result", "Runner", "TerminalError"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Result:
    requeue: bool = False
    requeue_after: float | None = None


class TerminalError(Exception):
    """A reconcile failure that retrying cannot fix (e.g. an invalid spec)."""


@dataclass(frozen=True, slots=True)
class ReconcileError:
    time: float
    controller: str
    key: str
    error: str
    terminal: bool


class Runner(Generic[K]):
    def __init__(self, engine: Engine, name: str, reconcile: Callable[[K], Result | None], *,
                 rate_limit: RateLimit | None = None, priority: int = Priority.CONTROLLER) -> None:
        self.engine = engine
        self.name = name
        self.reconcile = reconcile
        self.priority = priority
        self.queue: WorkQueue[K] = WorkQueue(engine, name=name, rate_limit=rate_limit)
        self.queue.on_ready = self._schedule
        self._scheduled: Timer | None = None
        self.errors: deque[ReconcileError] = deque(maxlen=100)
        self.reconciles = 0
        self.enabled = True

    def enqueue(self, key: K) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: K, delay: float) -> None:
        self.queue.add_after(key, delay)

    def _schedule(self) -> None:
        if self._scheduled is None and self.enabled:
            self._scheduled = self.engine.call_soon(self._process_one, priority=self.priority,
                                                    label=self.name)

    def _process_one(self) -> None:
        self._scheduled = None
        key = self.queue.get()
        if key is None:
            return
        try:
            self._handle(key)
        finally:
            self.queue.done(key)
            if len(self.queue):
                self._schedule()

    def _handle(self, key: K) -> None:
        self.reconciles += 1
        try:
            result = self.reconcile(key)
        except TerminalError as exc:
            self._record(key, exc, terminal=True)
            self.queue.forget(key)
            return
        except Exception as exc:
            self._record(key, exc, terminal=False)
            self.queue.add_rate_limited(key)
            return
        if result is not None and result.requeue_after is not None:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
        elif result is not None and result.requeue:
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)

    def _record(self, key: K, exc: Exception, *, terminal: bool) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.errors.append(ReconcileError(self.engine.now, self.name, str(key), text, terminal))
        log.warning("%s: reconcile %s failed%s: %s", self.name, key,
                    " (not retried)" if terminal else "", text,
                    exc_info=not isinstance(exc, TerminalError))

    def stop(self) -> None:
        """Stop processing (queued keys stay queued); ``start`` resumes."""
        self.enabled = False
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None

    def start(self) -> None:
        self.enabled = True
        if len(self.queue):
            self._schedule()
