"""The engine: event order, time, determinism, the work queue and the runner."""

from __future__ import annotations

import pytest

from kitlib.engine import Engine, PacedClock, Priority, Result, Runner, TerminalError, WorkQueue


def test_events_run_in_time_then_priority_then_schedule_order() -> None:
    engine = Engine()
    seen: list[str] = []
    engine.call_at(5, lambda: seen.append("t5-low"), priority=Priority.LOW)
    engine.call_at(5, lambda: seen.append("t5-ctrl-a"), priority=Priority.CONTROLLER)
    engine.call_at(1, lambda: seen.append("t1"))
    engine.call_at(5, lambda: seen.append("t5-ctrl-b"), priority=Priority.CONTROLLER)
    engine.run()
    assert seen == ["t1", "t5-ctrl-a", "t5-ctrl-b", "t5-low"]
    assert engine.now == 5


def test_run_until_a_time_stops_the_clock_exactly_there() -> None:
    engine = Engine()
    fired: list[float] = []
    for t in (1, 2, 3, 10):
        engine.call_at(t, lambda t=t: fired.append(t))
    assert engine.run(until=3) == 3
    assert engine.now == 3
    engine.advance(4)
    assert engine.now == 7
    assert fired == [1, 2, 3]


def test_run_until_a_predicate_stops_as_soon_as_it_holds() -> None:
    engine = Engine()
    fired: list[int] = []
    for i in range(10):
        engine.call_later(i, lambda i=i: fired.append(i))
    engine.run(until=lambda: len(fired) == 4)
    assert fired == [0, 1, 2, 3]


def test_cancelled_timers_never_fire_and_do_not_count_as_pending() -> None:
    engine = Engine()
    fired: list[str] = []
    timer = engine.call_later(1, lambda: fired.append("x"))
    engine.call_later(2, lambda: fired.append("y"))
    timer.cancel()
    assert engine.pending == 1
    engine.run()
    assert fired == ["y"]


def test_events_scheduled_in_the_past_run_now() -> None:
    engine = Engine(start=10)
    engine.call_at(3, lambda: None)
    engine.step()
    assert engine.now == 10


def test_advancing_by_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Engine().advance(-1)


def test_same_seed_gives_the_same_random_streams() -> None:
    a, b, c = Engine(seed=7), Engine(seed=7), Engine(seed=8)
    assert [a.rng.random() for _ in range(3)] == [b.rng.random() for _ in range(3)]
    assert a.rng_for("kubelet").random() == b.rng_for("kubelet").random()
    assert a.rng_for("kubelet").random() != c.rng_for("kubelet").random()


def test_named_random_streams_are_independent_of_each_other() -> None:
    engine = Engine(seed=1)
    first = engine.rng_for("scheduler").random()
    engine.rng.random()
    engine.rng_for("kubelet").random()
    alone = Engine(seed=1).rng_for("scheduler")
    alone.random()
    assert engine.rng_for("scheduler").random() == alone.random() != first


def test_a_named_stream_is_kept_and_its_state_restored() -> None:
    engine = Engine(seed=3)
    engine.rng_for("a").random()
    engine.rng.random()
    states = engine.rng_states()
    expected = (engine.rng_for("a").random(), engine.rng.random())
    restored = Engine(seed=3)
    restored.restore_rng_states(states)
    assert (restored.rng_for("a").random(), restored.rng.random()) == expected


def test_cancel_owned_drops_only_that_owners_timers() -> None:
    engine, ran = Engine(), []
    mine, other = object(), object()
    with engine.owned_by(mine):
        engine.call_later(1, lambda: engine.call_later(1, lambda: ran.append("child")))
    with engine.owned_by(other):
        engine.call_later(1, lambda: ran.append("other"))
    engine.advance(1.5)
    assert engine.cancel_owned(mine) == 1  # the child inherited its parent's owner
    engine.advance(5)
    assert ran == ["other"]


# -- work queue -----------------------------------------------------------------------

def test_a_key_added_twice_while_waiting_is_queued_once() -> None:
    queue: WorkQueue[str] = WorkQueue(Engine())
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert [queue.get(), queue.get(), queue.get()] == ["a", "b", None]


def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    queue: WorkQueue[str] = WorkQueue(Engine())
    queue.add("a")
    assert queue.get() == "a"
    queue.add("a")  # dirty while processing
    assert queue.get() is None
    queue.done("a")
    assert queue.get() == "a"


def test_rate_limited_retries_back_off_exponentially_on_the_engine_clock() -> None:
    engine = Engine()
    queue: WorkQueue[str] = WorkQueue(engine)
    delays = [queue.add_rate_limited("a") for _ in range(4)]
    assert delays == [0.005, 0.01, 0.02, 0.04]
    assert queue.num_requeues("a") == 4
    queue.forget("a")
    assert queue.add_rate_limited("a") == 0.005


def test_add_after_fires_at_the_earliest_requested_time() -> None:
    engine = Engine()
    queue: WorkQueue[str] = WorkQueue(engine)
    queue.add_after("a", 10)
    queue.add_after("a", 4)
    queue.add_after("a", 7)
    engine.run(until=3.9)
    assert len(queue) == 0
    engine.run(until=4)
    assert queue.get() == "a"
    engine.run(until=20)
    assert queue.get() is None


# -- runner ---------------------------------------------------------------------------

def test_the_runner_reconciles_each_queued_key_once() -> None:
    engine = Engine()
    seen: list[str] = []
    runner: Runner[str] = Runner(engine, "test", lambda key: seen.append(key) or None)
    for key in ("a", "b", "a"):
        runner.enqueue(key)
    engine.run()
    assert seen == ["a", "b"]


def test_a_failing_reconcile_is_retried_with_backoff_and_recorded() -> None:
    engine = Engine()
    attempts: list[float] = []

    def reconcile(key: str) -> None:
        attempts.append(engine.now)
        if len(attempts) < 3:
            raise RuntimeError("transient")

    runner: Runner[str] = Runner(engine, "flaky", reconcile)
    runner.enqueue("k")
    engine.run()
    assert attempts == [0, 0.005, 0.015]
    assert [e.error for e in runner.errors] == ["RuntimeError: transient"] * 2
    assert runner.queue.num_requeues("k") == 0


def test_a_terminal_error_is_recorded_and_not_retried() -> None:
    engine = Engine()
    calls: list[str] = []

    def reconcile(key: str) -> None:
        calls.append(key)
        raise TerminalError("spec is invalid")

    runner: Runner[str] = Runner(engine, "strict", reconcile)
    runner.enqueue("k")
    engine.run()
    assert calls == ["k"]
    assert runner.errors[-1].terminal


def test_requeue_after_brings_the_key_back_at_that_simulated_time() -> None:
    engine = Engine()
    times: list[float] = []

    def reconcile(key: str) -> Result | None:
        times.append(engine.now)
        return Result(requeue_after=30) if len(times) < 3 else None

    runner: Runner[str] = Runner(engine, "poll", reconcile)
    runner.enqueue("k")
    engine.run()
    assert times == [0, 30, 60]


def test_a_key_enqueued_during_its_own_reconcile_runs_again_afterwards() -> None:
    engine = Engine()
    runs: list[int] = []
    runner: Runner[str]

    def reconcile(key: str) -> None:
        runs.append(1)
        if len(runs) == 1:
            runner.enqueue(key)  # e.g. its own write triggered a watch event

    runner = Runner(engine, "self", reconcile)
    runner.enqueue("k")
    engine.run()
    assert len(runs) == 2


# -- paced mode -------------------------------------------------------------------------

class FakeWall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_paced_clock_follows_the_wall_clock_times_speed() -> None:
    engine, wall = Engine(), FakeWall()
    fired: list[float] = []
    engine.call_at(10, lambda: fired.append(engine.now))
    paced = PacedClock(engine, wall=wall, speed=20)
    wall.t += 0.4  # 8 simulated seconds
    paced.pump()
    assert engine.now == pytest.approx(8) and fired == []
    wall.t += 0.1
    result = paced.pump()
    assert fired == [10] and result.events == 1


def test_changing_speed_or_pausing_never_makes_time_jump() -> None:
    engine, wall = Engine(), FakeWall()
    paced = PacedClock(engine, wall=wall, speed=10)
    wall.t += 1
    paced.pump()
    assert engine.now == pytest.approx(10)
    paced.speed = 100
    assert paced.target() == pytest.approx(10)
    wall.t += 1
    assert paced.target() == pytest.approx(110)
    paced.pause()
    wall.t += 5
    assert paced.target() == pytest.approx(110)
    paced.resume()
    wall.t += 0.5
    assert paced.target() == pytest.approx(160)


def test_paced_pump_says_how_long_to_sleep_until_the_next_event() -> None:
    engine, wall = Engine(), FakeWall()
    engine.call_at(2, lambda: None)
    paced = PacedClock(engine, wall=wall, speed=20)
    result = paced.pump()
    assert result.idle == pytest.approx(0.1)
