"""StatefulSets on an embedded cluster (stepped time; pods become Ready 5 s after they are
created, and a deleted pod takes 3 s to go): ordered creation and removal, ControllerRevisions,
partitioned rolling updates from the highest ordinal down, OnDelete, Parallel, rollback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.workloads.statefulset_plan import StsView, plan_statefulset
from kitlib.model.objects import format_time
from kitlib.store import DeleteOptions
from tests.cluster.workload_kubelet import FakeKubelet

Obj = dict[str, Any]
STATEFULSETS = "statefulsets.apps"
REVISIONS = "controllerrevisions.apps"


def stateful_set(name: str = "db", replicas: int = 3, image: str = "pg:15", **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "db", "image": image}]}},
                     **spec}}


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=5))
    FakeKubelet(c, ready_after=5, node="node-1", terminate_after=3)
    yield c
    assert list(c.statefulsets.runner.errors) == []
    assert c.store.verify_integrity() == []


class PodLog:
    """Pod creations and removals, in order, with their simulated time."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.entries: list[tuple[float, str, str]] = []
        cluster.store.subscribe("pods", lambda ev: self.entries.append(
            (cluster.now, ev.type, ev.obj["metadata"]["name"]))
            if ev.type in ("ADDED", "DELETED") else None)

    def of(self, kind: str) -> list[tuple[float, str]]:
        return [(t, name) for t, type_, name in self.entries if type_ == kind]


def get(cluster: EmbeddedCluster, name: str = "db") -> Obj:
    return cluster.store.get(STATEFULSETS, "default", name)


def set_spec(cluster: EmbeddedCluster, **changes: Any) -> None:
    def change(sts: Obj) -> None:
        for key, value in changes.items():
            if key == "image":
                sts["spec"]["template"]["spec"]["containers"][0]["image"] = value
            elif key == "partition":
                sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = value
            else:
                sts["spec"][key] = value
    cluster.store.modify(STATEFULSETS, "default", "db", change)
    cluster.settle()


def images(cluster: EmbeddedCluster) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
            for p in cluster.store.select("pods", namespace="default")}


def rollout_done(sts: Obj) -> bool:
    """``kubectl rollout status sts/x`` for a RollingUpdate with a partition."""
    status, spec = sts.get("status") or {}, sts["spec"]
    if not status.get("observedGeneration") or \
            status["observedGeneration"] < sts["metadata"]["generation"]:
        return False
    if status.get("readyReplicas", 0) < spec["replicas"]:
        return False
    partition = spec["updateStrategy"]["rollingUpdate"]["partition"]
    return status.get("updatedReplicas", 0) >= spec["replicas"] - partition


def test_ordered_ready_creates_pods_one_after_another(cluster: EmbeddedCluster) -> None:
    log = PodLog(cluster)
    cluster.create(stateful_set(replicas=3))
    cluster.advance(20)
    assert log.of("ADDED") == [(0.0, "db-0"), (5.0, "db-1"), (10.0, "db-2")]
    pod = cluster.store.get("pods", "default", "db-2")
    revision = get(cluster)["status"]["updateRevision"]
    assert pod["metadata"]["labels"] == {
        "app": "db", "controller-revision-hash": revision,
        "statefulset.kubernetes.io/pod-name": "db-2", "apps.kubernetes.io/pod-index": "2"}
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-2", "db")
    assert get(cluster)["status"] == {
        "observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
        "updatedReplicas": 3, "currentRevision": revision, "updateRevision": revision,
        "collisionCount": 0, "availableReplicas": 3}
    messages = sorted(e["message"] for e in cluster.store.select("events")
                      if e["involvedObject"]["kind"] == "StatefulSet")
    assert messages == [f"create Pod db-{i} in StatefulSet db successful" for i in range(3)]


def test_a_controller_revision_records_the_template(cluster: EmbeddedCluster) -> None:
    sts = cluster.create(stateful_set())
    (revision,) = cluster.store.select(REVISIONS)
    template = get(cluster)["spec"]["template"]
    pod_hash = revision["metadata"]["labels"]["controller.kubernetes.io/hash"]
    assert revision["metadata"]["name"] == f"db-{pod_hash}"
    assert revision["revision"] == 1
    assert revision["data"] == {"spec": {"template": {**template, "$patch": "replace"}}}
    assert revision["metadata"]["ownerReferences"][0]["uid"] == sts["metadata"]["uid"]


def test_scale_down_removes_the_highest_ordinal_first_one_at_a_time(
        cluster: EmbeddedCluster) -> None:
    cluster.create(stateful_set(replicas=4))
    cluster.advance(20)
    log = PodLog(cluster)
    set_spec(cluster, replicas=1)  # at t = 20; each pod takes 3 s to go
    cluster.advance(10)
    assert log.of("DELETED") == [(23.0, "db-3"), (26.0, "db-2"), (29.0, "db-1")]
    assert get(cluster)["status"]["replicas"] == 1


def test_a_partitioned_update_touches_only_ordinals_at_or_above_the_partition(
        cluster: EmbeddedCluster) -> None:
    cluster.create(stateful_set(replicas=5))
    cluster.advance(25)
    old = get(cluster)["status"]["currentRevision"]
    log = PodLog(cluster)
    set_spec(cluster, image="pg:16", partition=2)  # at t = 25
    cluster.advance(40)
    # Each pod: deleted, gone 3 s later and recreated at once, Ready 5 s after that.
    assert log.of("ADDED") == [(28.0, "db-4"), (36.0, "db-3"), (44.0, "db-2")]
    assert [name for _, name in log.of("DELETED")] == ["db-4", "db-3", "db-2"]
    assert images(cluster) == {"db-0": "pg:15", "db-1": "pg:15", "db-2": "pg:16",
                               "db-3": "pg:16", "db-4": "pg:16"}
    status = get(cluster)["status"]
    assert (status["currentRevision"], status["currentReplicas"], status["updatedReplicas"]) \
        == (old, 2, 3)
    assert status["updateRevision"] != old
    assert rollout_done(get(cluster))


def test_pods_below_the_partition_are_recreated_at_the_current_revision(
        cluster: EmbeddedCluster) -> None:
    cluster.create(stateful_set(replicas=3))
    cluster.advance(15)
    set_spec(cluster, image="pg:16", partition=3)  # nothing to update
    cluster.store.delete("pods", "default", "db-1", DeleteOptions())
    cluster.settle()
    cluster.advance(10)
    assert images(cluster) == {"db-0": "pg:15", "db-1": "pg:15", "db-2": "pg:15"}
    set_spec(cluster, partition=0)  # now the rolling update proceeds
    cluster.advance(30)
    assert set(images(cluster).values()) == {"pg:16"}
    status = get(cluster)["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert status["currentReplicas"] == status["updatedReplicas"] == 3


def test_on_delete_updates_a_pod_only_when_it_is_deleted(cluster: EmbeddedCluster) -> None:
    cluster.create(stateful_set(replicas=2, updateStrategy={"type": "OnDelete"}))
    cluster.advance(10)
    set_spec(cluster, image="pg:16")
    cluster.advance(30)
    assert set(images(cluster).values()) == {"pg:15"}
    cluster.store.delete("pods", "default", "db-0", DeleteOptions())
    cluster.settle()
    cluster.advance(10)
    assert images(cluster) == {"db-0": "pg:16", "db-1": "pg:15"}
    assert get(cluster)["status"]["updatedReplicas"] == 1


def test_parallel_creates_every_pod_at_once(cluster: EmbeddedCluster) -> None:
    log = PodLog(cluster)
    cluster.create(stateful_set(replicas=3, podManagementPolicy="Parallel"))
    assert log.of("ADDED") == [(0.0, "db-0"), (0.0, "db-1"), (0.0, "db-2")]


def test_rolling_back_renumbers_the_old_revision(cluster: EmbeddedCluster) -> None:
    cluster.create(stateful_set(replicas=2))
    cluster.advance(10)
    first = get(cluster)["status"]["updateRevision"]
    set_spec(cluster, image="pg:16")
    cluster.advance(30)
    set_spec(cluster, image="pg:15")  # what kubectl rollout undo amounts to
    cluster.advance(30)
    revisions = {r["metadata"]["name"]: r["revision"] for r in cluster.store.select(REVISIONS)}
    assert revisions[first] == 3 and len(revisions) == 2
    assert get(cluster)["status"]["updateRevision"] == first
    assert set(images(cluster).values()) == {"pg:15"}


def test_unused_revisions_beyond_the_history_limit_are_deleted(cluster: EmbeddedCluster) -> None:
    cluster.create(stateful_set(replicas=1, revisionHistoryLimit=1))
    for image in ("pg:16", "pg:17", "pg:18"):
        set_spec(cluster, image=image)
        cluster.advance(20)
    assert sorted(r["revision"] for r in cluster.store.select(REVISIONS)) == [3, 4]


def ready_pod(name: str, revision: str) -> Obj:
    return {"metadata": {"name": name, "labels": {
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": name,
                "apps.kubernetes.io/pod-index": name.rsplit("-", 1)[1]}},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": format_time(0)}]}}


def test_the_plan_waits_for_an_unready_predecessor() -> None:
    view = StsView("db", replicas=3)
    pods = {0: ready_pod("db-0", "r1"), 1: {**ready_pod("db-1", "r1"), "status": {
        "phase": "Running"}}}
    assert plan_statefulset(view, pods, "r1", now=10.0).create == ()
    pods[1] = ready_pod("db-1", "r1")
    assert plan_statefulset(view, pods, "r1", now=10.0).create == ((2, "update"),)


def test_the_plan_deletes_the_highest_outdated_ordinal_above_the_partition() -> None:
    view = StsView("db", replicas=4, partition=1)
    pods = {i: ready_pod(f"db-{i}", "old") for i in range(4)}
    assert plan_statefulset(view, pods, "new", now=0.0).delete == ("db-3",)
    pods[3] = ready_pod("db-3", "new")
    assert plan_statefulset(view, pods, "new", now=0.0).delete == ("db-2",)
    pods.update({2: ready_pod("db-2", "new"), 1: ready_pod("db-1", "new")})
    assert plan_statefulset(view, pods, "new", now=0.0).delete == ()
