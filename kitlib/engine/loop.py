"""The discrete-event engine: one clock, one event heap, one seeded RNG.

Invariants:

* ``now`` only moves forward, and only inside ``step``/``run``/``advance``.
* Events run in ``(time, priority, seq)`` order: earlier time first, then lower
  priority number, then the order they were scheduled in. Nothing else (no
  wall clock, no hash order, no ambient randomness) influences the order, so the
  same seed and the same calls give the same history.
* All randomness comes from ``rng`` or from ``rng_for(name)``: independent,
  named streams derived from the seed, so a new consumer does not shift the
  numbers an existing one draws. The engine keeps the streams it hands out
  (``rng_for`` twice with one name is one stream, continued), so that their
  state can be captured and restored (``rng_states``/``restore_rng_states``)
  when a cluster is rebuilt from a snapshot.
* Timers are **owned**: a timer belongs to the owner current when it was
  scheduled (``owned_by``), and an event runs under its timer's owner, so the
  work an actor schedules stays its own. ``cancel_owned`` drops every pending
  timer of one owner: how a crashed controller's in-flight work disappears.

The engine does not know about real time; ``PacedClock`` (``paced.py``) maps a
wall clock that its caller injects onto ``advance``.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["Engine", "Priority", "Timer"]

log = logging.getLogger(__name__)


class Priority:
    """Conventional priorities (lower runs first at the same instant)."""

    STORE = 0  #: bookkeeping the store schedules (garbage collection)
    ACTOR = 20  #: kubelets, node lifecycle, faults
    CONTROLLER = 30  #: reconcile runners: after the actors of an instant, so their events batch
    LOW = 100


@dataclass(slots=True)
class Timer:
    """A scheduled callback; ``cancel()`` makes the engine skip it."""

    when: float
    fn: Callable[[], object] | None
    label: str = ""
    #: Who scheduled it (``Engine.owned_by``); None: nobody in particular.
    owner: object | None = None

    def cancel(self) -> None:
        self.fn = None

    @property
    def cancelled(self) -> bool:
        return self.fn is None


class Engine:
    def __init__(self, *, seed: int = 0, start: float = 0.0) -> None:
        self.seed = seed
        self._now = float(start)
        self._heap: list[tuple[float, int, int, Timer]] = []
        self._seq = 0
        self.rng = random.Random(seed)
        self._streams: dict[str, random.Random] = {}
        #: The owner new timers get (``owned_by``) and events run under.
        self.owner: object | None = None
        self.events_processed = 0
        #: Called after each event with (time, label); used by tracing and tests.
        self.on_event: Callable[[float, str], None] | None = None

    # -- time ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._now

    def rng_for(self, name: str) -> random.Random:
        """The random stream for ``name``, derived from the engine's seed: independent of
        every other stream, and the same (continued) stream for every call with ``name``."""
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = random.Random(f"{self.seed}:{name}")
        return stream

    def rng_states(self) -> dict[str, Any]:
        """The state of ``rng`` (key ``""``) and of every named stream, JSON-shaped."""
        states = {"": _json_state(self.rng)}
        for name in sorted(self._streams):
            states[name] = _json_state(self._streams[name])
        return states

    def restore_rng_states(self, states: dict[str, Any]) -> None:
        """Put ``rng`` and the named streams into the given states (``rng_states``' output);
        streams not named there stay as they are (fresh from the seed if never used)."""
        for name, state in states.items():
            stream = self.rng if name == "" else self.rng_for(name)
            version, internal, gauss = state
            stream.setstate((int(version), tuple(int(x) for x in internal), gauss))

    # -- owners ---------------------------------------------------------------------------

    @contextmanager
    def owned_by(self, owner: object | None) -> Iterator[None]:
        """Timers scheduled inside the block belong to ``owner``."""
        before, self.owner = self.owner, owner
        try:
            yield
        finally:
            self.owner = before

    def cancel_owned(self, owner: object) -> int:
        """Cancel every pending timer of ``owner``; returns how many there were."""
        count = 0
        for entry in self._heap:
            timer = entry[3]
            if timer.owner is owner and timer.fn is not None:
                timer.cancel()
                count += 1
        return count

    # -- scheduling ---------------------------------------------------------------------

    def call_at(self, when: float, fn: Callable[[], object], *,
                priority: int = Priority.ACTOR, label: str = "") -> Timer:
        when = max(float(when), self._now)
        timer = Timer(when, fn, label, self.owner)
        self._seq += 1
        heapq.heappush(self._heap, (when, priority, self._seq, timer))
        return timer

    def call_later(self, delay: float, fn: Callable[[], object], *,
                   priority: int = Priority.ACTOR, label: str = "") -> Timer:
        return self.call_at(self._now + max(0.0, delay), fn, priority=priority, label=label)

    def call_soon(self, fn: Callable[[], object], *, priority: int = Priority.ACTOR,
                  label: str = "") -> Timer:
        return self.call_at(self._now, fn, priority=priority, label=label)

    def next_time(self) -> float | None:
        """When the next live event is due, or ``None`` when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0][3].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    @property
    def pending(self) -> int:
        return sum(1 for entry in self._heap if not entry[3].cancelled)

    # -- running ------------------------------------------------------------------------

    def step(self) -> bool:
        """Run the next event (moving ``now`` to its time). False when none is left."""
        heap = self._heap
        while heap:
            when, _prio, _seq, timer = heapq.heappop(heap)
            fn = timer.fn
            if fn is None:
                continue
            timer.fn = None
            self._now = when
            before, self.owner = self.owner, timer.owner
            try:
                fn()
            finally:
                self.owner = before
            self.events_processed += 1
            if self.on_event is not None:
                self.on_event(when, timer.label)
            return True
        return False

    def run(self, until: float | Callable[[], bool] | None = None, *,
            max_events: int | None = None) -> int:
        """Run events until a time, until a predicate holds, or until none is left.

        With a time, ``now`` ends exactly at that time (even if no event was due).
        Returns the number of events run.
        """
        if until is None or callable(until):
            return self._run_while(until, max_events)
        return self._run_to(float(until), max_events)

    def advance(self, seconds: float, *, max_events: int | None = None) -> int:
        """Move the clock forward by ``seconds``, running every event due until then."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative duration ({seconds} s)")
        return self._run_to(self._now + seconds, max_events)

    def run_due(self, *, max_events: int | None = None) -> int:
        """Run every event due at the current instant (zero-time work such as reconciles)."""
        return self._run_to(self._now, max_events)

    def _run_to(self, target: float, max_events: int | None) -> int:
        count = 0
        while max_events is None or count < max_events:
            nxt = self.next_time()
            if nxt is None or nxt > target:
                self._now = max(self._now, target)
                return count
            self.step()
            count += 1
        return count

    def _run_while(self, predicate: Callable[[], bool] | None, max_events: int | None) -> int:
        count = 0
        while max_events is None or count < max_events:
            if predicate is not None and predicate():
                break
            if not self.step():
                break
            count += 1
        return count


def _json_state(stream: random.Random) -> list[Any]:
    version, internal, gauss = stream.getstate()
    return [version, list(internal), gauss]
