"""Faults as data: node down and back, slow pulls, knobs changed on a running pod,
mistyped knobs — and the same seed giving the same history, faults included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from tests.cluster.timeline import Timeline, bound_pod, image, kubelet_cluster

LEASES = "leases.coordination.k8s.io"


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = kubelet_cluster()
    yield c
    assert list(c.kubelets.runner.errors) == []
    assert c.store.verify_integrity() == []


def annotate(cluster: EmbeddedCluster, kind: str, name: str, key: str,
             value: str | None) -> None:
    def change(obj: dict[str, Any]) -> None:
        annotations = obj["metadata"].setdefault("annotations", {})
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value
    cluster.store.modify(kind, "default" if kind == "pods" else "", name, change)
    cluster.settle()


def containers(cluster: EmbeddedCluster, name: str) -> list[dict[str, Any]]:
    return list(cluster.store.get("pods", "default", name)["status"]["containerStatuses"])


def test_a_down_node_freezes_its_pods_and_its_lease(cluster: EmbeddedCluster) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}],
                             annotations={"sim.kitlib.io/crash-after-seconds": "20"}))
    cluster.advance(10)
    frozen = containers(cluster, "web")
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/down", "true")
    cluster.advance(40)  # the app would have crashed at 22 s
    assert containers(cluster, "web") == frozen
    assert timeline.events[-1][0] == 2.0
    lease = cluster.store.get(LEASES, "kube-node-lease", "n1")
    assert lease["spec"]["renewTime"] == "2026-01-01T00:00:10.000000Z"


def test_pods_deleted_on_a_down_node_stay_terminating_until_it_comes_back(
        cluster: EmbeddedCluster) -> None:
    gone = Timeline(cluster, "gone")
    cluster.create(bound_pod("gone", [{"name": "app", "image": "shop:v1"}]))
    cluster.advance(10)
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/down", "true")
    cluster.store.delete("pods", "default", "gone")
    cluster.advance(30)
    assert cluster.store.get("pods", "default", "gone")["metadata"]["deletionTimestamp"]
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/down", None)
    assert gone.deleted_at() == 40.0


def test_a_node_back_from_down_restarts_its_pods_as_after_a_reboot(
        cluster: EmbeddedCluster) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}]))
    cluster.advance(10)
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/down", "true")
    cluster.advance(30)
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/down", None)
    cluster.advance(10)
    [status] = containers(cluster, "web")
    assert status["restartCount"] == 1
    assert status["state"] == {"running": {"startedAt": "2026-01-01T00:00:41Z"}}
    assert status["lastState"]["terminated"] | {"containerID": ""} == {
        "exitCode": 255, "reason": "Unknown", "startedAt": "2026-01-01T00:00:02Z",
        "finishedAt": "2026-01-01T00:00:10Z", "containerID": ""}
    assert (40.0, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.") \
        in timeline.events
    ips = timeline.changes(lambda p: (p.get("status") or {}).get("podIP"))
    assert ips == [(0.0, "10.244.0.2"), (40.0, "10.244.0.3")]


def test_a_pod_bound_to_a_down_node_starts_when_the_node_comes_back(
        cluster: EmbeddedCluster) -> None:
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/down", "true")
    timeline = Timeline(cluster, "late")
    cluster.create(bound_pod("late", [{"name": "app", "image": "shop:v1"}]))
    cluster.advance(20)
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/down", None)
    cluster.advance(5)
    assert timeline.phases() == [(0.0, "Pending"), (22.0, "Running")]


def test_a_slow_node_pulls_at_its_annotated_bandwidth(cluster: EmbeddedCluster) -> None:
    annotate(cluster, "nodes", "n1", "sim.kitlib.io/pull-bandwidth", "10e6")
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}]))
    cluster.advance(20)
    assert timeline.phases() == [(0.0, "Pending"), (11.0, "Running")]  # 100 MB at 10 MB/s


def test_a_knob_set_on_a_running_pod_acts_from_that_moment(cluster: EmbeddedCluster) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}]))
    cluster.advance(100)
    annotate(cluster, "pods", "web", "sim.kitlib.io/crash-after-seconds", "5")
    cluster.advance(1)
    assert timeline.container("app")[1:3] == [(2.0, ("running", None, 0)),
                                              (100.0, ("terminated", "Error", 0))]


def test_an_images_behaviour_makes_every_container_of_it_misbehave(
        cluster: EmbeddedCluster) -> None:
    cluster.create(image("v2", "shop:v2", behavior={"livenessFailsAfterSeconds": 10}))
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v2", "livenessProbe": {
        "httpGet": {"port": 80}, "periodSeconds": 5, "failureThreshold": 2}}]))
    cluster.advance(20)
    # started at 2 s, hangs at 12 s: probes at 12 and 17 fail, killed (1 s), restarted (1 s)
    assert timeline.container("app") == [
        (0.0, ("waiting", "ContainerCreating", 0)), (2.0, ("running", None, 0)),
        (18.0, ("terminated", "Error", 0)), (19.0, ("running", None, 1))]
    assert [(w, r) for w, r, _ in timeline.events if r in ("Unhealthy", "Killing")] == [
        (17.0, "Unhealthy"), (17.0, "Unhealthy"), (17.0, "Killing")]


def test_a_mistyped_knob_is_reported_once_as_a_warning_event(cluster: EmbeddedCluster) -> None:
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}], annotations={
        "sim.kitlib.io/ready-after-second": "5"}))
    cluster.advance(30)
    warnings = [e for e in cluster.store.select("events")
                if e["reason"] == "InvalidSimulationAnnotation"]
    assert [(w["type"], w["count"]) for w in warnings] == [("Warning", 1)]
    assert warnings[0]["message"].startswith(
        "sim.kitlib.io/ready-after-second: unknown knob 'ready-after-second' (known: ")


def run_faulty_cluster(seed: int) -> str:
    cluster = kubelet_cluster(seed=seed, nodes=2, jitter=0.1)
    cluster.create(image("flaky", "shop:*", pullFailureRate=0.3))
    for i in range(6):
        cluster.create(bound_pod(f"p{i}", [{"name": "app", "image": f"shop:v{i}"},
                                           {"name": "side", "image": "envoy:1"}],
                                 node=f"n{i % 2 + 1}",
                                 annotations={"sim.kitlib.io/side.crash-after-seconds": "30"}))
    cluster.advance(60)
    annotate(cluster, "nodes", "n2", "sim.kitlib.io/down", "true")
    cluster.advance(30)
    annotate(cluster, "nodes", "n2", "sim.kitlib.io/down", None)
    cluster.store.delete("pods", "default", "p0")
    cluster.advance(120)
    assert list(cluster.kubelets.runner.errors) == []
    return cluster.store.digest


def test_the_same_seed_gives_the_same_history_faults_and_jitter_included() -> None:
    assert run_faulty_cluster(5) == run_faulty_cluster(5) != run_faulty_cluster(6)
