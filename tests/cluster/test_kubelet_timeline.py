"""Pod timelines in exact simulated time: startup from image sizes, bandwidth and start
times; CrashLoopBackOff; ImagePullBackOff; readiness gates; init containers; restart
policies; graceful deletion. (Jitter 0; 100 MB/s pulls; 1 s starts, stops and relists.)"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.store import DeleteOptions
from tests.cluster.timeline import Timeline, bound_pod, condition, image, kubelet_cluster

MB = 1_000_000


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = kubelet_cluster()
    yield c
    assert list(c.kubelets.runner.errors) == []
    assert c.store.verify_integrity() == []


def test_a_three_container_pod_starts_container_by_container(cluster: EmbeddedCluster) -> None:
    cluster.create(image("shop", "shop:v1", sizeBytes=200 * MB))
    cluster.create(image("fluentd", "fluentd:1", sizeBytes=50 * MB))
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [
        {"name": "app", "image": "shop:v1",
         "readinessProbe": {"httpGet": {"port": 80}, "periodSeconds": 5}},
        {"name": "log", "image": "fluentd:1"},
        {"name": "mesh", "image": "envoy:1"},
    ], annotations={"sim.kitlib.io/app.start-seconds": "3",
                    "sim.kitlib.io/app.ready-after-seconds": "4"}))
    cluster.advance(20)
    # app: pull 200 MB (2 s), start 3 s; log: pull 0.5 s, start 1 s; mesh: pull 1 s, start 1 s
    assert timeline.phases() == [(0.0, "Pending"), (8.5, "Running")]
    # app's readiness probe runs at 5, 10, 15: the app answers from 5 + 4 = 9
    assert timeline.ready() == [(0.0, "False"), (10.0, "True")]
    assert [(c, timeline.container(c)[-1][0]) for c in ("app", "log", "mesh")] == [
        ("app", 5.0), ("log", 6.5), ("mesh", 8.5)]
    assert timeline.events[:4] == [
        (0.0, "Pulling", 'Pulling image "shop:v1"'),
        (2.0, "Pulled", 'Successfully pulled image "shop:v1" in 2s (2s including waiting). '
                        "Image size: 200000000 bytes."),
        (5.0, "Created", "Created container: app"), (5.0, "Started", "Started container app")]
    assert (5.5, "Pulled", 'Successfully pulled image "fluentd:1" in 500ms (500ms including '
            'waiting). Image size: 50000000 bytes.') in timeline.events
    status = timeline.last()["status"]
    assert (status["podIP"], status["hostIP"], status["startTime"]) == (
        "10.244.0.2", "10.0.0.1", "2026-01-01T00:00:00Z")


def test_pods_share_the_nodes_serialized_puller_and_its_images(
        cluster: EmbeddedCluster) -> None:
    first, second = Timeline(cluster, "a"), Timeline(cluster, "b")
    cluster.create(bound_pod("a", [{"name": "app", "image": "shop:v1"}]))
    cluster.create(bound_pod("b", [{"name": "app", "image": "cart:v1"},
                                   {"name": "side", "image": "shop:v1"}]))
    cluster.advance(10)
    assert first.container("app")[-1] == (2.0, ("running", None, 0))
    assert second.container("app")[-1] == (3.0, ("running", None, 0))  # queued behind "a"
    assert (3.0, "Pulled", 'Container image "shop:v1" already present on machine') in \
        second.events
    assert (2.0, "Pulled", 'Successfully pulled image "cart:v1" in 1s (2s including waiting). '
            "Image size: 100000000 bytes.") in second.events


def test_a_container_crashing_on_start_backs_off_10_20_40_80_up_to_300_seconds(
        cluster: EmbeddedCluster) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}], annotations={
        "sim.kitlib.io/crash-on-start": "true", "sim.kitlib.io/start-seconds": "0"}))
    cluster.advance(1000)
    states = timeline.container("app")
    exits = [when for when, (state, _, _) in states if state == "terminated"]
    # the first restart follows the kubelet's relist (1 s); then the back-off doubles
    assert [b - a for a, b in itertools.pairwise(exits)] == [
        1, 10, 20, 40, 80, 160, 300, 300]
    assert states[:5] == [(0.0, ("waiting", "ContainerCreating", 0)),
                          (1.0, ("terminated", "Error", 0)), (2.0, ("terminated", "Error", 1)),
                          (3.0, ("waiting", "CrashLoopBackOff", 1)),
                          (12.0, ("terminated", "Error", 2))]
    waits = [when for when, (_, reason, _) in states if reason == "CrashLoopBackOff"]
    assert [when for when, reason, _ in timeline.events if reason == "BackOff"] == waits
    last = timeline.last()["status"]["containerStatuses"][0]
    assert last["state"]["waiting"]["message"].startswith("back-off 5m0s restarting failed "
                                                          "container=app pod=web_default(")
    assert last["lastState"]["terminated"]["finishedAt"] == "2026-01-01T00:15:12Z"  # 912 s
    assert timeline.last()["status"]["phase"] == "Running"


@pytest.mark.parametrize(("runs", "backoff"), [(590, True), (601, False)])
def test_the_crash_back_off_resets_after_ten_minutes_of_running(
        cluster: EmbeddedCluster, runs: int, backoff: bool) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}], annotations={
        "sim.kitlib.io/crash-after-seconds": str(runs)}))
    cluster.advance(2 * runs + 10)
    reasons = [reason for _, (_, reason, _) in timeline.container("app")]
    assert ("CrashLoopBackOff" in reasons) is backoff


def test_an_unpullable_image_backs_off_10_then_20_then_40_seconds(
        cluster: EmbeddedCluster) -> None:
    cluster.create(image("gone", "shop:gone", pullable=False))
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:gone"}]))
    cluster.advance(80)
    assert timeline.container("app") == [
        (0.0, ("waiting", "ContainerCreating", 0)), (1.0, ("waiting", "ErrImagePull", 0)),
        (2.0, ("waiting", "ImagePullBackOff", 0)), (12.0, ("waiting", "ErrImagePull", 0)),
        (13.0, ("waiting", "ImagePullBackOff", 0)), (33.0, ("waiting", "ErrImagePull", 0)),
        (34.0, ("waiting", "ImagePullBackOff", 0)), (74.0, ("waiting", "ErrImagePull", 0)),
        (75.0, ("waiting", "ImagePullBackOff", 0))]
    assert [when for when, reason, _ in timeline.events if reason == "Pulling"] == [
        0.0, 11.0, 32.0, 73.0]  # failures at 1, 12, 33 plus 10, 20, 40 s
    status = timeline.last()["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["message"] == 'Back-off pulling image "shop:gone"'
    assert timeline.last()["status"]["phase"] == "Pending"


def test_a_readiness_gate_holds_ready_false_with_upstreams_messages(
        cluster: EmbeddedCluster) -> None:
    gate = "example.com/lb-ready"
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}],
                             readinessGates=[{"conditionType": gate}]))
    cluster.advance(5)

    def ready() -> tuple[str, str | None, str | None]:
        pod = cluster.store.get("pods", "default", "web")
        cond = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        return cond["status"], cond.get("reason"), cond.get("message")

    def set_gate(status: str) -> None:
        def change(pod: dict[str, object]) -> None:
            conditions = [c for c in pod["status"]["conditions"]  # type: ignore[index]
                          if c["type"] != gate]
            pod["status"]["conditions"] = [{"type": gate, "status": status}, *conditions]  # type: ignore[index]
        cluster.store.modify("pods", "default", "web", change, subresource="status")
        cluster.settle()

    assert ready() == ("False", "ReadinessGatesNotReady", f'corresponding condition of pod '
                       f'readiness gate "{gate}" does not exist.')
    set_gate("False")
    assert ready() == ("False", "ReadinessGatesNotReady",
                       f'the status of pod readiness gate "{gate}" is not "True", but False')
    set_gate("True")
    assert ready() == ("True", None, None)
    types = [c["type"] for c in cluster.store.get("pods", "default", "web")["status"]["conditions"]]
    assert types == [gate, "PodReadyToStartContainers", "Initialized", "Ready",
                     "ContainersReady", "PodScheduled"]


def test_init_containers_run_in_order_before_the_containers(cluster: EmbeddedCluster) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}], initContainers=[
        {"name": "migrate", "image": "shop:v1"}, {"name": "warm", "image": "shop:v1"}],
        annotations={"sim.kitlib.io/migrate.complete-after-seconds": "5"}))
    cluster.advance(20)
    initialized = timeline.changes(lambda p: condition(p, "Initialized", "message")
                                   or condition(p, "Initialized"))
    # migrate: pull 1 s, start 1 s, runs 5 s (exits at 7), noticed 1 s later; then warm
    # starts (1 s) and completes at once (9), noticed at 10, when app starts (1 s)
    assert initialized == [(0.0, "containers with incomplete status: [migrate warm]"),
                           (7.0, "containers with incomplete status: [warm]"), (9.0, "True")]
    assert timeline.container("app") == [(0.0, ("waiting", "PodInitializing", 0)),
                                         (11.0, ("running", None, 0))]
    assert timeline.phases() == [(0.0, "Pending"), (11.0, "Running")]


@pytest.mark.parametrize(("policy", "knob", "phase", "reason"), [
    ("Never", "crash-after-seconds", "Failed", "PodFailed"),
    ("OnFailure", "complete-after-seconds", "Succeeded", "PodCompleted"),
    ("Never", "complete-after-seconds", "Succeeded", "PodCompleted"),
])
def test_finished_pods_reach_a_terminal_phase(cluster: EmbeddedCluster, policy: str, knob: str,
                                              phase: str, reason: str) -> None:
    cluster.create(bound_pod("job", [{"name": "app", "image": "shop:v1"}],
                             restartPolicy=policy, annotations={f"sim.kitlib.io/{knob}": "10"}))
    cluster.advance(30)
    status = cluster.store.get("pods", "default", "job")["status"]
    conditions = {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]}
    assert (status["phase"], conditions["Ready"], conditions["PodReadyToStartContainers"]) == (
        phase, ("False", reason), ("False", None))
    assert status["containerStatuses"][0]["restartCount"] == 0


def test_graceful_deletion_runs_prestop_then_stops_and_removes_the_pod(
        cluster: EmbeddedCluster) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [
        {"name": "app", "image": "shop:v1",
         "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 5"]}}}},
        {"name": "log", "image": "fluentd:1"}], annotations={"sim.kitlib.io/stop-seconds": "3"}))
    cluster.advance(10)
    cluster.store.delete("pods", "default", "web")
    cluster.settle()
    cluster.advance(20)
    assert timeline.deleted_at() == 18.0  # preStop 5 s + stop 3 s
    assert [(w, r, m) for w, r, m in timeline.events if r == "Killing"] == [
        (10.0, "Killing", "Stopping container app"), (10.0, "Killing", "Stopping container log")]
    final = timeline.last()["status"]
    assert final["phase"] == "Succeeded"
    assert [s["state"]["terminated"]["finishedAt"][17:19] for s in final["containerStatuses"]] \
        == ["18", "13"]


@pytest.mark.parametrize(("grace", "second_grace", "gone_after", "phase"), [
    (10, None, 10.0, "Failed"),  # the app needs 60 s: SIGKILLed at the end of the grace period
    (30, 3, 4.0, "Failed"),  # a second delete a second later shortens it to 3 s
])
def test_an_app_slower_than_its_grace_period_is_killed_at_the_deadline(
        cluster: EmbeddedCluster, grace: int, second_grace: int | None, gone_after: float,
        phase: str) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}],
                             terminationGracePeriodSeconds=grace,
                             annotations={"sim.kitlib.io/stop-seconds": "60"}))
    cluster.advance(10)
    cluster.store.delete("pods", "default", "web")
    cluster.advance(1)
    if second_grace is not None:
        cluster.store.delete("pods", "default", "web", DeleteOptions(grace_period_seconds=3))
    cluster.advance(60)
    assert timeline.deleted_at() == 10.0 + gone_after
    terminated = timeline.last()["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (timeline.last()["status"]["phase"], terminated["exitCode"]) == (phase, 137)


def test_pods_get_consecutive_ips_and_host_network_pods_the_node_ip(
        cluster: EmbeddedCluster) -> None:
    for name in ("a", "b", "c"):
        cluster.create(bound_pod(name, [{"name": "app", "image": "shop:v1"}]))
    cluster.create(bound_pod("h", [{"name": "app", "image": "shop:v1"}], hostNetwork=True))
    cluster.advance(5)
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in cluster.store.select("pods")}
    assert ips == {"a": "10.244.0.2", "b": "10.244.0.3", "c": "10.244.0.4", "h": "10.0.0.1"}
