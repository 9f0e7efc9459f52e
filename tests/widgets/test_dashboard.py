"""The Dashboard on the embedded cluster: stepped (panels drive it) and paced (a loop task).

The stepped tests share one 3-node server and one dashboard over the CloneSet ``shop``;
the paced test starts its own server with a fast paced clock and runs the dashboard on a
loop of its own (as in a kernel, where a loop is running).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator

import pytest

import kitlib
from kitlib.widgets.dashboard import Dashboard
from kitlib.widgets.panels import WRITES_TOOLTIP
from tests.conftest import ThreadedServer, module_server
from tests.widgets.test_live import run_on_own_loop

server = module_server(nodes=3)


@pytest.fixture(scope="module")
def cluster(server: ThreadedServer) -> Iterator[kitlib.Cluster]:
    with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
        handle.deploy_example("shop", replicas=4)
        handle.wait_converged("shop", timeout=300)
        yield handle


@pytest.fixture(scope="module")
def dashboard(cluster: kitlib.Cluster) -> Iterator[Dashboard]:
    with Dashboard(cluster, workloads=["cloneset/shop"], autostart=False) as dash:
        yield dash


def pod_uids(dash: Dashboard) -> dict[str, str]:
    return {pod["key"]: pod["uid"] for pod in dash.board.snapshot()["pods"]}


def points(dash: Dashboard) -> int:
    lengths = {len(trace.x) for trace in dash.convergence.figure.data}
    assert len(lengths) == 1
    return lengths.pop()


def test_the_dashboard_shows_the_board_panels_and_charts(dashboard: Dashboard) -> None:
    assert not dashboard.live, "not started: the panels drive it"
    assert (dashboard.board.node_count, dashboard.board.pod_count) == (3, 4)
    assert dashboard.recorder.samples == 1 and points(dashboard) == 1
    assert dashboard.rollout.picker.value == "cloneset/shop"
    assert dashboard.clock is not None and len(dashboard.panels) == 4
    assert "cloneset/shop" in dashboard.explanation.value
    assert "_repr_mimebundle_" in dir(dashboard)
    assert dashboard.board in dashboard.children[2].children


def test_a_clock_step_samples_refreshes_the_board_and_extends_the_charts(
        cluster: kitlib.Cluster, dashboard: Dashboard) -> None:
    assert dashboard.clock is not None
    samples, version = dashboard.recorder.samples, dashboard.board.version
    start = cluster.now()
    dashboard.clock.step_size.value = 4
    dashboard.clock.step_button.click()
    assert cluster.now() == pytest.approx(start + 4)
    assert dashboard.recorder.samples == samples + 1
    dashboard.convergence.flush()
    assert points(dashboard) == samples + 1
    assert dashboard.board.version >= version
    assert f"t = {start + 4:.1f} s" in dashboard.status.value


def test_an_in_place_rollout_from_the_panel_keeps_the_pods(cluster: kitlib.Cluster,
                                                           dashboard: Dashboard) -> None:
    board, panel = dashboard.board, dashboard.rollout
    pods_before = pod_uids(dashboard)
    panel.images["app"].value = "nginx:1.26"
    panel.apply_button.click()
    assert "applied" in panel.status.value
    assert dashboard.clock is not None
    for _ in range(30):
        if cluster.converged("cloneset/shop"):
            break
        dashboard.clock.step_button.click()
    assert cluster.converged("cloneset/shop")
    assert pod_uids(dashboard) == pods_before, "same pods: updated in place"
    assert "nginx:1.26" in board.images and board.pod_count == 4
    dashboard.convergence.flush()
    updated = dashboard.convergence.figure.data[1]
    assert updated.name == "updated" and updated.y[-1] == 4


def test_a_rollout_from_a_cell_then_tick_refreshes_the_form_and_the_explanation(
        cluster: kitlib.Cluster, dashboard: Dashboard) -> None:
    dashboard.explain("cloneset/shop")
    before = cluster.explain("cloneset/shop").facts["update_revision"]
    assert before in dashboard.explanation.value
    cluster.rollout("cloneset/shop", images={"app": "nginx:1.27"})
    cluster.wait_converged("cloneset/shop", timeout=120)
    dashboard.tick()
    after = cluster.explain("cloneset/shop").facts["update_revision"]
    assert after != before and after in dashboard.explanation.value
    assert dashboard.rollout.images["app"].value == "nginx:1.27"


def test_selecting_a_pod_explains_it_and_evicts_it(dashboard: Dashboard) -> None:
    pod = sorted(pod_uids(dashboard))[0]
    dashboard.board.selected_pod = pod
    assert f"pod/{pod.split('/')[1]}" in dashboard.explanation.value
    dashboard.eviction.evict_button.click()
    last = dashboard.eviction.last
    assert last is not None
    assert ("evicted" if last.allowed else "refused") in dashboard.eviction.result.value
    dashboard.board.selected_node = "node-1"
    assert "node/node-1" in dashboard.explanation.value
    assert dashboard.nodes.picker.value == "node-1"


def test_a_read_only_dashboard_disables_the_actions(server: ThreadedServer) -> None:
    with kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as read_only, \
            Dashboard(read_only, workloads=["cloneset/shop"], autostart=False) as dash:
        buttons = [b for panel in dash.panels for b in panel.destructive]
        assert buttons and all(b.disabled and b.tooltip == WRITES_TOOLTIP for b in buttons)


def test_close_stops_the_recorder_and_the_board(cluster: kitlib.Cluster) -> None:
    before = set(threading.enumerate())
    dash = Dashboard(cluster, autostart=False)
    assert set(threading.enumerate()) - before, "caches run on threads"
    dash.close()
    with pytest.raises(RuntimeError, match="stopped"):
        dash.recorder.sample()
    assert not dash.board.live
    leaked = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not leaked


def test_dt_must_be_positive(cluster: kitlib.Cluster) -> None:
    with pytest.raises(ValueError, match="dt"):
        Dashboard(cluster, dt=0)


def test_on_a_paced_cluster_a_loop_task_samples_every_dt(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    server = ThreadedServer(tmp_path_factory.mktemp("paced"), nodes=2, mode="paced",
                            speed=100.0).start()
    try:
        with kitlib.connect(kubeconfig=server.kubeconfig) as cluster:
            cluster.deploy_example("web", replicas=2)

            async def run() -> tuple[list[float], int, bool]:
                dash = Dashboard(cluster, dt=5.0)
                assert dash.live
                await asyncio.sleep(1.5)
                times = sorted(set(dash.recorder.recording.workloads["time"]))
                shown = dash.convergence.applied
                dash.close()
                await asyncio.sleep(0)
                return times, shown, dash.live

            times, shown, live = run_on_own_loop(run)
    finally:
        server.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) >= 5, "150 cluster seconds at dt = 5 s, one tick per 0.1 s at most"
    assert min(gaps) >= 5.0, "never more often than dt"
    assert shown >= 2 and not live
