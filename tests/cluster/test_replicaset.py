"""ReplicaSets on an embedded cluster: pods from the template, adoption and release, which
pods go first on scale-down, availability after minReadySeconds, and exact counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.workloads.podorder import DELETION_COST, deletion_order
from kitlib.model.objects import format_time
from kitlib.store import DeleteOptions
from tests.cluster.workload_kubelet import FakeKubelet

Obj = dict[str, Any]
REPLICASETS = "replicasets.apps"


def replica_set(name: str = "rs", replicas: int = 3, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "tier": "web"},
                                               "annotations": {"note": "x"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                     **spec}}


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=11))
    yield c
    assert list(c.replicasets.runner.errors) == []
    assert c.store.verify_integrity() == []


def pods(cluster: EmbeddedCluster) -> list[Obj]:
    return cluster.store.select("pods", namespace="default")


def status(cluster: EmbeddedCluster, name: str = "rs") -> Obj:
    return dict(cluster.store.get(REPLICASETS, "default", name)["status"])


def scale(cluster: EmbeddedCluster, replicas: int, name: str = "rs") -> None:
    cluster.store.modify(REPLICASETS, "default", name,
                         lambda rs: rs["spec"].__setitem__("replicas", replicas))
    cluster.settle()


def test_a_replica_set_creates_its_pods_from_the_template(cluster: EmbeddedCluster) -> None:
    rs = cluster.create(replica_set(replicas=3))
    created = pods(cluster)
    assert len(created) == 3
    for pod in created:
        meta = pod["metadata"]
        assert meta["generateName"] == "rs-" and len(meta["name"]) == len("rs-") + 5
        assert meta["labels"] == {"app": "rs", "tier": "web"}
        assert meta["annotations"] == {"note": "x"}
        assert meta["ownerReferences"] == [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
            "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    assert status(cluster) == {"replicas": 3, "fullyLabeledReplicas": 3,
                               "observedGeneration": 1}
    reasons = [e["reason"] for e in cluster.store.select("events")
               if e["involvedObject"]["kind"] == "ReplicaSet"]
    assert reasons == ["SuccessfulCreate"] * 3


def test_ready_pods_become_available_after_min_ready_seconds(cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster, ready_after=5)
    cluster.create(replica_set(replicas=2, minReadySeconds=10))
    cluster.advance(5)
    assert status(cluster) | {"readyReplicas": 2} == status(cluster)
    assert "availableReplicas" not in status(cluster)
    cluster.advance(9.9)
    assert "availableReplicas" not in status(cluster)
    cluster.advance(0.1)  # t = 15: ready since 5, for 10 s — no polling in between
    assert status(cluster)["availableReplicas"] == 2


def test_orphans_matching_the_selector_are_adopted_and_strays_released(
        cluster: EmbeddedCluster) -> None:
    orphan = {"metadata": {"name": "orphan", "labels": {"app": "rs"}},
              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    cluster.store.create("pods", orphan)
    cluster.create(replica_set(replicas=2))
    owned = {p["metadata"]["name"]: p for p in pods(cluster)}
    assert len(owned) == 2 and "orphan" in owned  # adopted, so only one pod was created
    assert owned["orphan"]["metadata"]["ownerReferences"][0]["name"] == "rs"
    cluster.store.modify("pods", "default", "orphan",
                         lambda p: p["metadata"].__setitem__("labels", {"app": "other"}))
    cluster.settle()
    released = cluster.store.get("pods", "default", "orphan")
    assert "ownerReferences" not in released["metadata"]
    assert len(pods(cluster)) == 3  # a replacement was created


def test_a_terminating_pod_no_longer_counts(cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster, node="node-1", terminate_after=30)
    cluster.create(replica_set(replicas=2))
    victim = pods(cluster)[0]["metadata"]["name"]
    cluster.store.delete("pods", "default", victim, DeleteOptions())
    cluster.settle()
    assert len(pods(cluster)) == 3  # the replacement does not wait for the grace period
    assert status(cluster)["replicas"] == 2


def test_bursts_of_events_never_create_a_pod_too_many(cluster: EmbeddedCluster) -> None:
    cluster.create(replica_set(replicas=4))
    for replicas in (6, 5, 7, 7):
        cluster.store.modify(REPLICASETS, "default", "rs",
                             lambda rs, n=replicas: rs["spec"].__setitem__("replicas", n))
    cluster.settle()
    assert len(pods(cluster)) == 7
    assert status(cluster)["replicas"] == 7


def test_scale_down_deletes_unready_pods_before_ready_ones(cluster: EmbeddedCluster) -> None:
    kubelet = FakeKubelet(cluster, ready_after=5)
    cluster.create(replica_set(replicas=2))
    cluster.advance(5)
    kubelet.broken = lambda pod: True
    scale(cluster, 4)
    fresh = {p["metadata"]["name"] for p in pods(cluster)
             if p["metadata"]["creationTimestamp"] == format_time(5)}
    cluster.advance(5)
    scale(cluster, 2)
    assert {p["metadata"]["name"] for p in pods(cluster)}.isdisjoint(fresh)
    assert status(cluster)["readyReplicas"] == 2


def pod(name: str, *, node: str = "", phase: str = "Running", ready_since: float | None = None,
        created: float = 0.0, restarts: int = 0, cost: int | None = None) -> Obj:
    conditions = [] if ready_since is None else [
        {"type": "Ready", "status": "True", "lastTransitionTime": format_time(ready_since)}]
    meta: Obj = {"name": name, "uid": name, "creationTimestamp": format_time(created)}
    if cost is not None:
        meta["annotations"] = {DELETION_COST: str(cost)}
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"restartCount": restarts}]}}


@pytest.mark.parametrize(("first", "second"), [
    (pod("unassigned", phase="Pending"), pod("assigned", node="n1", phase="Pending")),
    (pod("pending", node="n1", phase="Pending"), pod("running", node="n1")),
    (pod("unknown", node="n1", phase="Unknown"), pod("running", node="n1")),
    (pod("unready", node="n1"), pod("ready", node="n1", ready_since=0)),
    (pod("cheap", node="n1", ready_since=0, cost=-5), pod("dear", node="n1", ready_since=0)),
    (pod("briefly-ready", node="n1", ready_since=990, created=0),
     pod("long-ready", node="n1", ready_since=10, created=0)),
    (pod("crashy", node="n1", ready_since=0, restarts=3), pod("steady", node="n1",
                                                           ready_since=0)),
    (pod("young", node="n1", created=900), pod("old", node="n1", created=0)),
], ids=["unassigned-first", "pending-first", "unknown-before-running", "unready-first",
        "lower-deletion-cost-first", "shorter-ready-first", "more-restarts-first",
        "newer-first"])
def test_scale_down_order_follows_upstream(first: Obj, second: Obj) -> None:
    for pods_in in ([first, second], [second, first]):
        assert deletion_order(pods_in, pods_in, now=1000.0) == [first, second]


def test_pods_doubled_up_on_a_node_go_first() -> None:
    crowded = pod("crowded", node="n1", ready_since=0)
    alone = pod("alone", node="n2", ready_since=0)
    related = [crowded, alone, pod("sibling", node="n1", ready_since=0)]
    assert deletion_order([alone, crowded], related, now=10.0) == [crowded, alone]
