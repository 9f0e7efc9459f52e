"""Paced mode: the engine follows a wall clock at ``speed`` × real time.

The wall clock is injected (the engine layer never reads real time itself): the
API server passes ``time.monotonic``; tests pass a fake. The mapping is kept as
an anchor ``(wall0, sim0)``: simulated target = ``sim0 + (wall - wall0) * speed``.
Changing the speed or pausing re-anchors at the current instant, so simulated
time never jumps.

``pump`` runs every event due up to the target (bounded by ``max_events`` so a
caller can stay responsive) and says how long, in wall seconds, it may sleep
before the next event is due. Between two pumps ``engine.now`` stands still (up
to ``MAX_IDLE × speed`` simulated seconds behind the target), so whoever reports
the time to a client first calls ``catch_up``: it runs the events due by the
target and then moves ``now`` to it, so a clock read is never stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .loop import Engine

__all__ = ["PacedClock", "PumpResult"]

#: Upper bound for one sleep, so speed changes and new events are noticed quickly.
MAX_IDLE = 0.25


@dataclass(frozen=True, slots=True)
class PumpResult:
    events: int
    idle: float  #: wall seconds until the next event is due (≤ MAX_IDLE), 0 if behind


class PacedClock:
    def __init__(self, engine: Engine, *, wall: Callable[[], float], speed: float = 20.0,
                 paused: bool = False) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.engine = engine
        self._wall = wall
        self._speed = float(speed)
        self._paused = paused
        self._anchor_wall = wall()
        self._anchor_sim = engine.now

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError(f"speed must be positive, got {value}")
        self._reanchor()
        self._speed = float(value)

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        if not self._paused:
            self._reanchor()
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._anchor_sim = max(self.engine.now, self._anchor_sim)
            self._anchor_wall = self._wall()
            self._paused = False

    def sync(self) -> None:
        """Re-anchor at the engine's current time (after time was moved by hand)."""
        self._anchor_sim = self.engine.now
        self._anchor_wall = self._wall()

    def target(self) -> float:
        """The simulated time the engine should have reached by now."""
        if self._paused:
            return self._anchor_sim
        return self._anchor_sim + (self._wall() - self._anchor_wall) * self._speed

    def _reanchor(self) -> None:
        self._anchor_sim = max(self.engine.now, self.target())
        self._anchor_wall = self._wall()

    def catch_up(self, until: float | None = None, *, max_events: int | None = 10_000) -> bool:
        """Run the events due by ``until`` and end ``now`` exactly there; True once it is.

        ``until`` defaults to ``target()``; a caller that catches up in slices (to stay
        responsive) takes ``target()`` once and passes it to every slice, so that a busy
        engine still finishes. It is capped at ``target()``: time never runs ahead of the
        wall clock. ``Engine.run(until)`` runs every event up to and including ``until``
        before moving ``now`` there, and after ``max_events`` it stops with ``now`` at the
        last event run (False): ``now`` never passes an event that has not run. Nothing
        happens when ``now`` is already there (zero-time work due at ``now`` is left to
        the pump).
        """
        target = self.target()
        until = target if until is None else min(until, target)
        if until > self.engine.now:
            self.engine.run(until, max_events=max_events)
        return self.engine.now >= until

    def pump(self, *, max_events: int | None = 10_000) -> PumpResult:
        target = self.target()
        ran = self.engine.run(target, max_events=max_events)
        if self.engine.now < target:
            return PumpResult(ran, 0.0)  # behind: more events are due right away
        nxt = self.engine.next_time()
        if self._paused or nxt is None:
            return PumpResult(ran, MAX_IDLE)
        return PumpResult(ran, min(MAX_IDLE, max(0.0, (nxt - target) / self._speed)))
