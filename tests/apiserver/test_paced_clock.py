"""Paced mode: whatever reports the simulated time reports the paced target, not the time of
the pump's last tick (``SimClock.catch_up``). The app tests inject a fake wall clock and run no
pump at all, so without the catch-up every read would show the start time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import kitlib
from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.cluster import ClusterSettings, EmbeddedCluster
from tests.conftest import ThreadedServer

TOKEN = "test-token"
CLOCK = "/apis/sim.kitlib.io/v1alpha1/clocks/cluster"
MERGE = {"Content-Type": "application/merge-patch+json"}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
       "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}


class FakeWall:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


class Paced:
    """An API server app over a one-node cluster, its clock paced against ``wall``."""

    def __init__(self, http: TestClient, cluster: EmbeddedCluster, wall: FakeWall) -> None:
        self.http, self.cluster, self.wall = http, cluster, wall

    def seconds(self) -> float:
        response = self.http.get(CLOCK)
        assert response.status_code == 200, response.text
        return float(response.json()["status"]["seconds"])


def _app(mode: str) -> Callable[[], Iterator[Paced]]:
    def fixture() -> Iterator[Paced]:
        cluster, wall = EmbeddedCluster(ClusterSettings(nodes=1)), FakeWall()
        clock = SimClock.create(cluster, mode=mode, speed=20, wall=wall)
        app = ApiServerApp(cluster, clock, token=TOKEN)
        with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            yield Paced(http, cluster, wall)
    return fixture


paced = pytest.fixture(_app("paced"))
stepped = pytest.fixture(_app("stepped"))


def test_a_clock_read_between_pump_ticks_is_the_paced_target(paced: Paced) -> None:
    fired: list[float] = []
    paced.cluster.engine.call_at(3.0, lambda: fired.append(paced.cluster.engine.now))
    assert paced.seconds() == 0.0
    paced.wall.t += 0.2  # less than one MAX_IDLE: the pump may not have run since
    assert paced.seconds() == pytest.approx(4.0)
    assert fired == [3.0]  # the event due on the way ran, at its own time
    paced.wall.t += 1.0
    assert paced.seconds() == pytest.approx(24.0)


def test_the_cluster_a_read_shows_is_the_cluster_at_that_time(paced: Paced) -> None:
    created = paced.http.post("/api/v1/namespaces/default/pods", json=POD)
    assert created.status_code == 201, created.text
    paced.wall.t += 5.0  # 100 simulated seconds: scheduled, pulled, started
    assert paced.seconds() == pytest.approx(100.0)
    pod = paced.http.get("/api/v1/namespaces/default/pods/web").json()
    assert pod["status"]["phase"] == "Running"


def test_a_table_list_and_a_clock_change_report_the_target_too(paced: Paced) -> None:
    paced.wall.t += 0.5
    table = paced.http.get(CLOCK, headers={"Accept": "application/json;as=Table;v=v1;"
                                                     "g=meta.k8s.io"}).json()
    assert table["rows"][0]["cells"][2] == pytest.approx(10.0)  # Name, Now, Seconds
    paced.wall.t += 0.5
    listed = paced.http.get("/apis/sim.kitlib.io/v1alpha1/clocks").json()
    assert listed["items"][0]["status"]["seconds"] == pytest.approx(20.0)
    paced.wall.t += 0.5
    changed = paced.http.patch(CLOCK, json={"spec": {"speed": 40}}, headers=MERGE).json()
    assert changed["status"]["seconds"] == pytest.approx(30.0)


def test_a_paused_clock_reads_and_advances_from_where_it_was_paused(paced: Paced) -> None:
    paced.wall.t += 0.5
    paused = paced.http.patch(CLOCK, json={"spec": {"paused": True}}, headers=MERGE).json()
    assert paused["spec"]["paused"] is True
    paced.wall.t += 10.0
    assert paced.seconds() == pytest.approx(10.0)
    advanced = paced.http.post("/apis/sim.kitlib.io/v1alpha1/clockadvances",
                               json={"kind": "ClockAdvance", "spec": {"seconds": 5}}).json()
    assert advanced["status"]["startSeconds"] == pytest.approx(10.0)
    assert advanced["status"]["endSeconds"] == pytest.approx(15.0)


def test_a_snapshot_is_taken_at_the_paced_target(paced: Paced) -> None:
    paced.wall.t += 0.75
    snapshot = paced.http.post("/apis/sim.kitlib.io/v1alpha1/snapshots",
                               json={"kind": "Snapshot", "spec": {"history": 0}}).json()
    assert snapshot["status"]["seconds"] == pytest.approx(15.0)


def test_a_stepped_clock_read_runs_nothing_and_never_moves(stepped: Paced) -> None:
    ran: list[float] = []
    stepped.cluster.engine.call_soon(lambda: ran.append(0.0))
    stepped.wall.t += 10.0
    before = stepped.cluster.engine.events_processed
    assert stepped.seconds() == 0.0
    assert ran == [] and stepped.cluster.engine.events_processed == before



# -- a real server, real wall clock ------------------------------------------------------

def test_two_reads_a_wall_second_apart_differ_by_speed_seconds(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    """The server reads ``time.monotonic`` (one clock for every process here), so each read's
    time lies between ``speed ×`` the monotonic times taken around its request: exact
    bounds, not a timing claim. A read of the last tick could be 5 s below the lower one."""
    server = start_api_server(mode="paced", speed=20)
    with kitlib.connect(kubeconfig=server.kubeconfig) as cluster:
        first, (a0, b0) = _read_between(cluster)
        time.sleep(1.0)
        second, (a1, b1) = _read_between(cluster)
    assert 20 * (a1 - b0) - 1e-6 <= second - first <= 20 * (b1 - a0) + 1e-6
    assert second - first == pytest.approx(20.0, abs=10.0)  # hang guard: generous


def _read_between(cluster: Any) -> tuple[float, tuple[float, float]]:
    before = time.monotonic()
    seconds = cluster.now()
    return seconds, (before, time.monotonic())
