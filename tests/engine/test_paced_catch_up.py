"""``PacedClock.catch_up``: a clock read between two pump ticks sees the paced target."""

from __future__ import annotations

import pytest

from kitlib.engine import Engine, PacedClock


class FakeWall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_read_between_pump_ticks_is_brought_to_the_target_not_the_last_event() -> None:
    engine, wall = Engine(), FakeWall()
    fired: list[float] = []
    for when in (1.0, 3.0, 30.0):
        engine.call_at(when, lambda: fired.append(engine.now))
    paced = PacedClock(engine, wall=wall, speed=20)
    paced.pump()
    wall.t += 0.05  # the pump sleeps (up to MAX_IDLE); 1 simulated second passes
    wall.t += 0.15  # …and 3 more
    assert engine.now == 0.0  # what a read saw before catching up: the last tick
    assert paced.catch_up()
    assert fired == [1.0, 3.0] and engine.now == pytest.approx(4.0)
    wall.t += 0.1
    assert paced.catch_up() and engine.now == pytest.approx(6.0) and fired == [1.0, 3.0]


def test_catching_up_in_slices_never_passes_an_event_not_yet_run() -> None:
    engine, wall = Engine(), FakeWall()
    for when in (1.0, 2.0, 3.0):
        engine.call_at(when, lambda: None)
    paced = PacedClock(engine, wall=wall, speed=10)
    wall.t += 1  # target 10
    until = paced.target()
    assert not paced.catch_up(until, max_events=2)
    assert engine.now == 2.0 and engine.next_time() == 3.0
    wall.t += 1  # the wall moved on meanwhile; the slices still end at the target taken
    assert paced.catch_up(until, max_events=2)
    assert engine.now == until == pytest.approx(10.0)


def test_an_event_due_exactly_at_the_target_runs_before_the_read() -> None:
    engine, wall = Engine(), FakeWall()
    fired: list[float] = []
    engine.call_at(5.0, lambda: fired.append(engine.now))
    paced = PacedClock(engine, wall=wall, speed=20)
    wall.t += 0.25
    assert paced.catch_up() and fired == [5.0] and engine.now == 5.0


def test_catch_up_never_runs_ahead_of_the_wall_clock() -> None:
    engine, wall = Engine(), FakeWall()
    paced = PacedClock(engine, wall=wall, speed=20)
    wall.t += 0.5
    assert paced.catch_up(until=1_000.0)
    assert engine.now == pytest.approx(10.0)


def test_a_paused_clock_catches_up_to_where_it_was_paused_and_stays() -> None:
    engine, wall = Engine(), FakeWall()
    paced = PacedClock(engine, wall=wall, speed=20)
    wall.t += 0.5
    paced.pause()  # anchored at 10 s; the engine, not pumped since, is still at 0
    wall.t += 10
    assert paced.catch_up() and engine.now == pytest.approx(10.0)
    assert paced.catch_up() and engine.now == pytest.approx(10.0)


def test_catch_up_leaves_the_engine_alone_when_it_is_already_there() -> None:
    engine, wall = Engine(), FakeWall()
    ran: list[float] = []
    paced = PacedClock(engine, wall=wall, speed=20, paused=True)
    engine.call_soon(lambda: ran.append(engine.now))  # zero-time work: the pump's, not ours
    assert paced.catch_up() and ran == [] and engine.now == 0.0
