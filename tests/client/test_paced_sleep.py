"""``Cluster.sleep`` on a running paced clock: one wall sleep of the time still needed, then a
read (the server's reads are never stale), with no polling. A fake server clock and a fake
``time`` stand in for the server and the wall clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client as k8s

import kitlib
import kitlib.client.cluster as cluster_module
from kitlib.client.cluster import Cluster, close_api_client
from tests.conftest import ThreadedServer


class FakeServerClock:
    """A paced clock as the server reports it: the target, ``speed ×`` the fake wall."""

    def __init__(self, speed: float) -> None:
        self.wall, self.speed, self.paused = 0.0, speed, False
        self.anchor_wall, self.anchor_sim = 0.0, 0.0
        self.reads = 0
        self.slept: list[float] = []
        self.advanced: list[float] = []
        #: Called with the fake wall time after each sleep (to change the clock meanwhile).
        self.during_sleep: Callable[[float], None] = lambda wall: None

    def target(self) -> float:
        if self.paused:
            return self.anchor_sim
        return self.anchor_sim + (self.wall - self.anchor_wall) * self.speed

    def reanchor(self, wall: float) -> None:
        saved, self.wall = self.wall, wall
        self.anchor_sim, self.anchor_wall = self.target(), wall
        self.wall = saved

    def read(self) -> dict[str, Any]:
        self.reads += 1
        return {"spec": {"mode": "paced", "speed": self.speed, "paused": self.paused},
                "status": {"seconds": self.target()}}

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.during_sleep(self.wall + seconds / 2)
        self.wall += seconds

    def advance(self, seconds: float) -> dict[str, Any]:
        self.advanced.append(seconds)
        self.anchor_sim += seconds
        return {}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeServerClock, Cluster]]:
    server = FakeServerClock(speed=20)
    monkeypatch.setattr(Cluster, "_read_clock",
                        lambda self, *, missing_ok=False: server.read())
    monkeypatch.setattr(cluster_module, "time", SimpleNamespace(sleep=server.sleep))
    api = k8s.ApiClient()
    handle = Cluster(api, kubeconfig=None)
    monkeypatch.setattr(handle, "advance", server.advance)
    server.reads = 0
    yield server, handle
    close_api_client(api)


def test_a_paced_sleep_is_one_wall_sleep_and_two_reads(
        fake: tuple[FakeServerClock, Cluster]) -> None:
    server, cluster = fake
    cluster.sleep(2)
    assert server.slept == [pytest.approx(0.1)] and server.reads == 2
    assert server.target() == pytest.approx(2.0)


def test_a_speed_change_during_the_sleep_sleeps_the_rest_at_the_new_speed(
        fake: tuple[FakeServerClock, Cluster]) -> None:
    server, cluster = fake

    def slow_down(wall: float) -> None:  # at 1 simulated second: speed 20 → 10
        if server.speed == 20:
            server.reanchor(wall)
            server.speed = 10

    server.during_sleep = slow_down
    cluster.sleep(2)
    assert server.slept == [pytest.approx(0.1), pytest.approx(0.05)] and server.reads == 3
    assert server.target() == pytest.approx(2.0)


def test_a_pause_during_the_sleep_advances_the_rest_by_hand(
        fake: tuple[FakeServerClock, Cluster]) -> None:
    server, cluster = fake

    def pause(wall: float) -> None:
        server.reanchor(wall)
        server.paused = True

    server.during_sleep = pause
    cluster.sleep(2)
    assert server.slept == [pytest.approx(0.1)] and server.advanced == [pytest.approx(1.0)]
    assert server.target() == pytest.approx(2.0)


def test_a_stale_read_costs_a_short_sleep_not_a_burst_of_reads(
        fake: tuple[FakeServerClock, Cluster]) -> None:
    server, cluster = fake
    server.speed = 1e9  # 2 s in 2 ns: the first remainder would be 0 wall seconds
    cluster.sleep(2)
    assert server.reads == 2 and server.slept == [cluster_module._MIN_WALL_SLEEP]


# -- a real server -------------------------------------------------------------------------

def test_a_live_sleep_reads_the_clock_twice_and_ends_past_its_end(
        start_api_server: Callable[..., ThreadedServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the server caught up on reads, a read after the wall sleep could still show
    the last tick (up to 5 s behind at speed 20), and the sleep polled until the next one."""
    server = start_api_server(mode="paced", speed=20)
    with kitlib.connect(kubeconfig=server.kubeconfig) as cluster:
        reads: list[float] = []
        read = cluster._read_clock

        def counted(*, missing_ok: bool = False) -> dict[str, Any] | None:
            clock = read(missing_ok=missing_ok)
            assert clock is not None
            reads.append(float(clock["status"]["seconds"]))
            return clock

        monkeypatch.setattr(cluster, "_read_clock", counted)
        for _ in range(3):
            reads.clear()
            cluster.sleep(2)
            assert len(reads) == 2, reads
            assert reads[1] - reads[0] >= 2.0
