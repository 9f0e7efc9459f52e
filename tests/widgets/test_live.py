"""Live charts: they gain points as the recorder samples, at a bounded rate.

One 2-node server for the module (stepped clock), one CloneSet ``live`` and one recorder.
A fake wall clock (``Tick``) makes the rate limit exact; the asyncio tests run their own
loop (``run_on_own_loop``), as a kernel does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

import kitlib
from kitlib.observe import Recorder, Recording
from kitlib.widgets.live import LiveCapacity, LiveConvergence, workloads_frame
from tests.conftest import ThreadedServer

T = TypeVar("T")


def run_on_own_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` on a new thread: a loop of its own, whatever loop the test
    thread may already have running (Playwright's sync API leaves one there)."""
    with ThreadPoolExecutor(1, thread_name_prefix="test-loop") as pool:
        return pool.submit(lambda: asyncio.run(main())).result(timeout=120)


class Tick:
    """A wall clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kitlib.Cluster]:
    server = ThreadedServer(tmp_path_factory.mktemp("live"), nodes=2).start()
    try:
        with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
            handle.deploy_example("live", replicas=3)
            handle.wait_converged("live", timeout=300)
            yield handle
    finally:
        server.stop()


@pytest.fixture
def recorder(cluster: kitlib.Cluster) -> Iterator[Recorder]:
    with Recorder(cluster, workloads=["cloneset/live"]) as rec:
        yield rec


def lengths(chart: LiveConvergence | LiveCapacity) -> list[int]:
    return [len(trace.x) for trace in chart.figure.data]


def test_the_convergence_chart_gains_a_point_per_sample(cluster: kitlib.Cluster,
                                                        recorder: Recorder) -> None:
    tick = Tick()
    chart = LiveConvergence(recorder, workload="cloneset/live", clock=tick)
    assert lengths(chart) == [], "nothing recorded yet: an empty figure that says so"
    recorder.sample()
    assert chart.update()
    assert [t.name for t in chart.figure.data][:5] == [
        "desired", "updated", "ready", "available", "unavailable"]
    assert set(lengths(chart)) == {1}
    assert chart.figure.layout.title.text == "Convergence of cloneset/live"
    for _ in range(3):
        cluster.sleep(2)
        recorder.sample()
        tick.now += 1.0
        chart.update()
    assert set(lengths(chart)) == {4}
    assert list(chart.figure.data[0].y) == [3, 3, 3, 3]
    # what a view made later (Voila, a reloaded page) starts from
    assert [len(trace["x"]) for trace in chart.figure._widget_data] == [4] * 6
    chart.close()


def test_the_capacity_chart_gains_points_too(cluster: kitlib.Cluster,
                                             recorder: Recorder) -> None:
    tick = Tick()
    chart = LiveCapacity(recorder, workloads=["live"], clock=tick)
    for _ in range(2):
        recorder.sample()
        cluster.sleep(1)
    tick.now += 1
    chart.update()
    assert lengths(chart) == [2, 2], "capacity and cache hit rate"
    assert chart.figure.data[0].name == "cloneset/live"
    chart.close()


def test_a_burst_of_updates_is_coalesced(recorder: Recorder) -> None:
    tick = Tick()
    chart = LiveConvergence(recorder, workload="live", max_rate=2.0, clock=tick)
    recorder.sample()
    applied = [chart.update() for _ in range(10)]
    assert applied == [True] + [False] * 9
    assert (chart.requested, chart.applied, chart.pending) == (10, 1, True)
    tick.now += 0.5
    assert chart.update(), "the interval has passed"
    assert (chart.applied, chart.pending) == (2, False)
    assert not chart.flush(), "nothing pending"
    assert chart.update(force=True) and chart.applied == 3
    chart.close()


def test_on_a_running_loop_a_timer_applies_the_coalesced_update(recorder: Recorder) -> None:
    async def burst() -> LiveConvergence:
        chart = LiveConvergence(recorder, workload="live", max_rate=10.0)
        recorder.sample()
        for _ in range(10):
            chart.update()
        assert chart.applied == 1 and chart.pending
        await asyncio.sleep(0.3)
        return chart

    chart = run_on_own_loop(burst)
    assert (chart.applied, chart.pending) == (2, False), "one timer, one more redraw"
    assert set(lengths(chart)) == {1}
    chart.close()


def test_start_follows_the_recorder_on_the_loop(cluster: kitlib.Cluster,
                                                recorder: Recorder) -> None:
    async def follow() -> LiveConvergence:
        chart = LiveConvergence(recorder, workload="live", max_rate=20.0)
        chart.start()
        for _ in range(3):
            recorder.sample()
            cluster.sleep(1)
            await asyncio.sleep(0.15)
        chart.stop()
        return chart

    chart = run_on_own_loop(follow)
    assert set(lengths(chart)) == {3}
    chart.close()


def test_show_switches_the_workload(cluster: kitlib.Cluster, recorder: Recorder) -> None:
    chart = LiveConvergence(recorder, workload="nothing")
    recorder.sample()
    chart.update(force=True)
    assert lengths(chart) == [] and "no samples for 'nothing'" in str(
        chart.figure.layout.annotations[0].text)
    chart.show("cloneset/live")
    assert set(lengths(chart)) == {1}
    chart.close()


class FailingRecorder:
    """A recorder whose recording cannot be read after the first time."""

    samples = 0

    def __init__(self) -> None:
        self.reads = 0

    @property
    def recording(self) -> Recording:
        self.reads += 1
        if self.reads > 1:
            raise RuntimeError("the recorder is gone")
        return Recording.from_frames({})


def test_an_update_error_lands_in_the_chart_output() -> None:
    chart = LiveConvergence(FailingRecorder(), workload="x")  # type: ignore[arg-type]
    chart.update()
    text = "".join(o.get("text", "") for o in chart.output.outputs)
    assert "chart update failed: RuntimeError: the recorder is gone" in text
    chart.close()


def test_max_rate_must_be_positive(recorder: Recorder) -> None:
    with pytest.raises(ValueError, match="max_rate"):
        LiveCapacity(recorder, max_rate=0)


def test_the_workloads_frame_equals_the_recordings(cluster: kitlib.Cluster,
                                                  recorder: Recorder) -> None:
    recorder.sample()
    cluster.sleep(1)
    recorder.sample()
    assert workloads_frame(recorder).equals(recorder.recording.workloads)
