"""``PodBoard`` against an embedded cluster (stepped clock), without a browser.

One 3-node server for the module; each test deploys its own example app and watches it
through a board with a ``selector``, so tests do not see each other's pods. Every synced
trait change is checked to happen on the board's own thread — the main thread in stepped
tests, the loop's thread in the asyncio tests — never on a cache thread (``Watched``).
The asyncio tests run ``asyncio.run`` on a new thread (``on_new_loop``): the test thread
may already have a loop running (Playwright's sync API leaves one there).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import kitlib
from kitlib.widgets import PodBoard
from tests.conftest import ThreadedServer

SYNCED = ["node_count", "pod_count", "pod_states", "images", "version", "selected_pod",
          "selected_node", "filter", "match_count", "error"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kitlib.Cluster]:
    server = ThreadedServer(tmp_path_factory.mktemp("podboard"), nodes=3).start()
    try:
        with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
            yield handle
    finally:
        server.stop()


def on_new_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """``asyncio.run(main())`` on a new thread, with a loop of its own."""
    with ThreadPoolExecutor(1, thread_name_prefix="test-loop") as pool:
        return pool.submit(lambda: asyncio.run(main())).result(timeout=120)


class Watched:
    """A board whose trait changes are checked for the thread they happen on (the thread
    that made the ``Watched``), and whose sent messages are kept (``sent``)."""

    def __init__(self, board: PodBoard) -> None:
        self.board = board
        self.owner = threading.current_thread()
        self.off_main: list[str] = []
        self.sent: list[dict[str, Any]] = []
        board.observe(self._check, names=SYNCED)
        board.send = self._send  # type: ignore[method-assign]

    def _check(self, change: dict[str, Any]) -> None:
        if threading.current_thread() is not self.owner:
            self.off_main.append(f"{change['name']} on {threading.current_thread().name}")

    def _send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.sent.append(content)

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == "delta"]


@pytest.fixture
def board_for(cluster: kitlib.Cluster) -> Iterator[Any]:
    made: list[Watched] = []

    def make(app: str, **options: Any) -> Watched:
        watched = Watched(PodBoard(cluster, selector=f"app={app}", autostart=False, **options))
        made.append(watched)
        watched.board.start()
        return watched

    yield make
    for watched in made:
        watched.board.close()
        assert not watched.off_main, f"traits set off the main thread: {watched.off_main}"


def pod_keys(board: PodBoard) -> dict[str, tuple[str, int]]:
    return {key: (pod["node"], pod["slot"]) for key, pod in board._model.pods.items()}


def app_colours(board: PodBoard) -> dict[str, str]:
    """Pod key → colour of its app container's running image, as the front end draws it."""
    return {key: board.images[c["image_running"] or c["image"]]
            for key, pod in board._model.pods.items()
            for c in pod["containers"] if c["role"] == "app"}


def test_board_counts_nodes_and_pods_by_state_while_starting_and_once_ready(
        cluster: kitlib.Cluster, board_for: Any) -> None:
    cluster.deploy_example("start", replicas=4)
    watched = board_for("start")
    board = watched.board
    cluster.sleep(1)
    board.refresh()
    assert (board.node_count, board.pod_count) == (3, 4)
    assert board.pod_states["waiting"] + board.pod_states["running"] == 4, board.pod_states
    cluster.wait_converged("start", timeout=300)
    board.refresh()
    assert board.pod_states == {"waiting": 0, "running": 0, "ready": 4, "crashloop": 0,
                                "terminating": 0}
    assert board.version == watched.deltas[-1]["version"]
    roles = [[c["role"] for c in pod["containers"]] for pod in board._model.pods.values()]
    assert roles == [["app", "agent", "sidecar"]] * 4


def test_an_in_place_rollout_recolours_containers_but_keeps_pods_and_positions(
        cluster: kitlib.Cluster, board_for: Any) -> None:
    cluster.deploy_example("inplace", replicas=4)
    cluster.wait_converged("inplace", timeout=300)
    board = board_for("inplace").board
    before_keys, before_colours = pod_keys(board), app_colours(board)
    cluster.rollout("inplace", images={"app": "nginx:1.26"}, max_unavailable=2)
    cluster.sleep(2)
    board.refresh()
    assert any(pod["inplace"] for pod in board._model.pods.values()), "an update is under way"
    cluster.wait_converged("inplace", timeout=300)
    board.refresh()
    assert pod_keys(board) == before_keys, "same pods, same nodes, same slots"
    after_colours = app_colours(board)
    assert set(after_colours.values()) == {board.images["nginx:1.26"]}
    assert board.images["nginx:1.26"] not in before_colours.values()
    assert not any(pod["inplace"] for pod in board._model.pods.values())
    restarts = [c["restarts"] for pod in board._model.pods.values()
                for c in pod["containers"] if c["role"] == "app"]
    assert restarts == [1] * 4, "each app container restarted once, in place"


def test_a_recreate_rollout_replaces_the_pods(cluster: kitlib.Cluster, board_for: Any) -> None:
    cluster.deploy_example("recreate", replicas=3, strategy="ReCreate")
    cluster.wait_converged("recreate", timeout=300)
    board = board_for("recreate").board
    before = set(pod_keys(board))
    cluster.rollout("recreate", images={"app": "nginx:1.26"})
    cluster.wait_converged("recreate", timeout=300)
    cluster.sleep(60)  # the old pods' graceful termination ends
    board.refresh()
    assert board.pod_count == 3
    assert not before & set(pod_keys(board)), "every pod is new"


def test_selection_is_synced_and_cleared_when_the_pod_goes(cluster: kitlib.Cluster,
                                                            board_for: Any) -> None:
    cluster.deploy_example("select", replicas=2)
    cluster.wait_converged("select", timeout=300)
    board = board_for("select").board
    key = sorted(board._model.pods)[0]
    board.selected_pod = key
    board.selected_node = "node-0"
    board.refresh()
    assert (board.selected_pod, board.selected_node) == (key, "node-0")
    cluster.scale("select", 0)
    cluster.sleep(60)
    board.refresh()
    assert board.pod_count == 0
    assert board.selected_pod == "", "a pod that left cannot stay selected"
    assert board.selected_node == "node-0"


def test_a_restarted_board_forgets_pods_that_left_while_it_was_stopped(
        cluster: kitlib.Cluster, board_for: Any) -> None:
    cluster.deploy_example("restart", replicas=3)
    cluster.sleep(1)
    board = board_for("restart").board
    assert board.pod_count == 3
    board.stop()
    cluster.scale("restart", 1)
    cluster.sleep(60)
    board.start()
    board.refresh()
    assert board.pod_count == 1


def test_the_filter_counts_matching_pods(cluster: kitlib.Cluster, board_for: Any) -> None:
    cluster.deploy_example("filt", replicas=3)
    cluster.sleep(1)
    board = board_for("filt").board
    board.refresh()
    assert board.match_count == 3
    board.filter = "cloneset/filt"
    assert board.match_count == 3
    node = next(iter(board._model.pods.values()))["node"]
    board.filter = f"app=filt node:{node}"
    assert board.match_count == sum(p["node"] == node for p in board._model.pods.values())
    board.filter = "nothing-like-this"
    assert board.match_count == 0


def all_nodes_ready(board: PodBoard) -> bool:
    board.refresh()
    return all(n["ready"] and not n["unschedulable"] for n in board._model.nodes.values())


def test_cordoned_and_failed_nodes_are_flagged(cluster: kitlib.Cluster, board_for: Any) -> None:
    board = board_for("none").board
    assert {n["name"]: (n["ready"], n["unschedulable"]) for n in board._model.nodes.values()} \
        == {f"node-{i}": (True, False) for i in range(3)}
    cluster.cordon("node-1")
    cluster.fail_node("node-2")
    try:
        cluster.sleep(60)
        board.refresh()
        nodes = board._model.nodes
        assert nodes["node-1"]["unschedulable"] and nodes["node-1"]["ready"]
        assert any("unschedulable" in t for t in nodes["node-1"]["taints"])
        assert not nodes["node-2"]["ready"]
    finally:
        cluster.uncordon("node-1")
        cluster.restore_node("node-2")
        cluster.wait_for(lambda: all_nodes_ready(board), timeout=120, interval=5)


def test_many_cache_events_make_one_delta_per_refresh(cluster: kitlib.Cluster,
                                                      board_for: Any) -> None:
    watched = board_for("burst")
    board = watched.board
    events, sent = board._feed.events, len(watched.deltas)
    cluster.deploy_example("burst", replicas=8)
    cluster.wait_converged("burst", timeout=300)
    board.refresh()
    assert board._feed.events - events > 8 * 3, "the pods changed many times"
    assert len(watched.deltas) == sent + 1, "…and the view got one delta"
    delta = watched.deltas[-1]
    assert len(delta["pods"]["upsert"]) == 8 and delta["base"] == delta["version"] - 1
    assert board.refresh() == delta["version"] and len(watched.deltas) == sent + 1, \
        "nothing new: no delta"


def test_a_view_gets_a_snapshot_when_it_asks(cluster: kitlib.Cluster, board_for: Any) -> None:
    cluster.deploy_example("snap", replicas=2)
    cluster.sleep(1)
    watched = board_for("snap")
    watched.board._handle_custom_msg({"type": "snapshot?"}, [])
    snapshot = watched.sent[-1]
    assert snapshot["type"] == "snapshot" and snapshot["version"] == watched.board.version
    assert len(snapshot["nodes"]) == 3 and len(snapshot["pods"]) == 2
    assert snapshot["images"] == watched.board.images
    assert {p["slot"] for p in snapshot["pods"] if p["node"] == snapshot["pods"][0]["node"]} \
        <= {0, 1}


def test_live_updates_run_on_the_asyncio_loop_at_a_bounded_rate(cluster: kitlib.Cluster
                                                                ) -> None:
    async def main() -> tuple[Watched, int]:
        watched = Watched(PodBoard(cluster, selector="app=live", max_rate=20, autostart=False))
        watched.board.start()
        assert watched.board.live
        await asyncio.to_thread(cluster.deploy_example, "live", replicas=3)
        await asyncio.to_thread(cluster.wait_converged, "live", timeout=300)
        loop = asyncio.get_running_loop()
        start = loop.time()
        while watched.board.pod_states.get("ready") != 3 and loop.time() - start < 20:
            await asyncio.sleep(0.02)
        watched.board.close()
        return watched, len(watched.deltas)

    watched, deltas = on_new_loop(main)
    assert watched.board.pod_states["ready"] == 3
    assert not watched.off_main
    assert 1 <= deltas < watched.board._feed.events


def test_an_error_while_applying_changes_is_shown(cluster: kitlib.Cluster,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> PodBoard:
        board = PodBoard(cluster, selector="app=broken")
        monkeypatch.setattr(board._model, "apply", lambda changes: 1 / 0)
        board._feed.put(("pod", "x/y"), None)
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not board.error and loop.time() - start < 5:
            await asyncio.sleep(0.01)
        board.close()
        return board

    board = on_new_loop(main)
    assert board.error.startswith("ZeroDivisionError")


def test_max_rate_is_bounded(cluster: kitlib.Cluster) -> None:
    for rate in (0, -1, 61):
        with pytest.raises(ValueError, match="max_rate"):
            PodBoard(cluster, max_rate=rate, autostart=False)


def test_all_namespaces_and_closing_leaves_no_threads(cluster: kitlib.Cluster) -> None:
    before = set(threading.enumerate())
    with PodBoard(cluster, namespace="*") as board:
        assert board.node_count == 3
        assert board.namespace == "*"
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]
