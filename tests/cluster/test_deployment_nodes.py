"""Workloads end to end on 3 real simulated nodes: the scheduler binds the pods, the kubelets
pull, start and ready them, and delete them gracefully — and the rollout bounds still hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.podutil import is_ready, is_terminating
from tests.cluster.test_deployment import deployment, get, replica_sets, rollout_done, set_image
from tests.cluster.test_statefulset import stateful_set


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=21, nodes=3))
    yield c
    assert list(c.deployments.runner.errors) == list(c.statefulsets.runner.errors) == []
    assert c.store.verify_integrity() == []


def advance_until(cluster: EmbeddedCluster, done: Callable[[], bool],
                  limit: float = 600) -> None:
    start = cluster.now
    while not done() and cluster.now - start < limit:
        cluster.advance(1)
    assert done(), f"not done after {limit} s"


def test_a_20_pod_rollout_on_real_nodes_stays_within_its_bounds(
        cluster: EmbeddedCluster) -> None:
    cluster.create(deployment(replicas=20))
    advance_until(cluster, lambda: rollout_done(get(cluster)))
    running, ready = [], []

    def record(_now: float, _label: str) -> None:
        pods = [p for p in cluster.store.select("pods") if not is_terminating(p)]
        running.append(len(pods))
        ready.append(sum(1 for p in pods if is_ready(p)))

    cluster.engine.on_event = record
    set_image(cluster, "nginx:1.26")
    advance_until(cluster, lambda: rollout_done(get(cluster)))
    cluster.engine.on_event = None
    assert max(running) == 25 and min(ready) == 15
    assert get(cluster)["status"]["availableReplicas"] == 20
    assert replica_sets(cluster)["nginx:1.25"]["spec"]["replicas"] == 0
    nodes = {p["spec"]["nodeName"] for p in cluster.store.select("pods")}
    assert nodes == {"node-0", "node-1", "node-2"}


def test_recreate_on_real_nodes_waits_for_graceful_termination(
        cluster: EmbeddedCluster) -> None:
    cluster.create(deployment(replicas=3, strategy={"type": "Recreate"}))
    advance_until(cluster, lambda: rollout_done(get(cluster)))
    images: list[set[str]] = []
    cluster.engine.on_event = lambda *_: images.append(
        {p["spec"]["containers"][0]["image"] for p in cluster.store.select("pods")})
    set_image(cluster, "nginx:1.26")
    advance_until(cluster, lambda: rollout_done(get(cluster)))
    cluster.engine.on_event = None
    assert max(len(seen) for seen in images) == 1


def test_a_partitioned_statefulset_update_on_real_nodes(cluster: EmbeddedCluster) -> None:
    cluster.create(stateful_set(replicas=5))
    def sts() -> dict[str, Any]:
        return cluster.store.get("statefulsets.apps", "default", "db")

    advance_until(cluster, lambda: sts()["status"].get("readyReplicas") == 5)
    order: list[str] = []
    cluster.store.subscribe("pods", lambda ev: order.append(ev.obj["metadata"]["name"])
                            if ev.type == "ADDED" else None)

    def update(obj: dict[str, Any]) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "pg:16"
        obj["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2

    cluster.store.modify("statefulsets.apps", "default", "db", update)
    cluster.settle()
    advance_until(cluster, lambda: sts()["status"].get("updatedReplicas") == 3
                  and sts()["status"].get("readyReplicas") == 5)
    assert order == ["db-4", "db-3", "db-2"]
    assert sts()["status"]["currentReplicas"] == 2
