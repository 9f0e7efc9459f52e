"""Deployments on an embedded cluster (stepped time), with a stand-in kubelet that makes
every pod Ready 5 s after it is created: rolling updates within their bounds, Recreate,
pause, revisions and rollback, history cleanup, progress deadline, scaling, status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.podutil import controller_of, is_ready, is_terminating
from kitlib.model import errors
from kitlib.model.patch import json_patch
from tests.cluster.workload_kubelet import FakeKubelet

Obj = dict[str, Any]
DEPLOYMENTS = "deployments.apps"
REPLICASETS = "replicasets.apps"
REVISION = "deployment.kubernetes.io/revision"


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1.25",
               **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}},
                     **spec}}


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=7))
    yield c
    assert list(c.deployments.runner.errors) == list(c.replicasets.runner.errors) == []
    assert c.store.verify_integrity() == []


def get(cluster: EmbeddedCluster, name: str = "web") -> Obj:
    return cluster.store.get(DEPLOYMENTS, "default", name)


def set_image(cluster: EmbeddedCluster, image: str, name: str = "web") -> None:
    def change(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    cluster.store.modify(DEPLOYMENTS, "default", name, change)
    cluster.settle()


def replica_sets(cluster: EmbeddedCluster) -> dict[str, Obj]:
    """ReplicaSets by the image of their template."""
    return {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
            for rs in cluster.store.select(REPLICASETS, namespace="default")}


def pods_by_image(cluster: EmbeddedCluster) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in cluster.store.select("pods", namespace="default"):
        out.setdefault(pod["spec"]["containers"][0]["image"], []).append(pod)
    return out


def rollout_done(d: Obj) -> bool:
    """``kubectl rollout status``'s condition for a finished Deployment."""
    status = d.get("status") or {}
    replicas = d["spec"]["replicas"]
    return (d["metadata"]["generation"] <= status.get("observedGeneration", 0)
            and status.get("updatedReplicas", 0) >= replicas
            and status.get("replicas", 0) <= status.get("updatedReplicas", 0)
            and status.get("availableReplicas", 0) >= status.get("updatedReplicas", 0))


def condition(d: Obj, type_: str) -> Obj:
    return next(c for c in d["status"]["conditions"] if c["type"] == type_)


def started(cluster: EmbeddedCluster, manifest: Obj, *, seconds: float = 10) -> Obj:
    cluster.create(manifest)
    cluster.advance(seconds)
    d = get(cluster, manifest["metadata"]["name"])
    assert rollout_done(d)
    return d


# -- RollingUpdate ---------------------------------------------------------------------

def test_a_20_pod_rollout_never_exceeds_max_surge_or_max_unavailable(
        cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster, ready_after=5)
    started(cluster, deployment(replicas=20))  # maxSurge/maxUnavailable default to 25%
    totals: list[tuple[float, int, int]] = []

    def record(now: float, _label: str) -> None:
        pods = [p for p in cluster.store.select("pods") if not is_terminating(p)]
        totals.append((now, len(pods), sum(1 for p in pods if is_ready(p))))

    cluster.engine.on_event = record
    set_image(cluster, "nginx:1.26")  # at t = 10
    for _ in range(30):  # and once per simulated second
        cluster.advance(1)
        record(cluster.now, "second")
    cluster.engine.on_event = None

    assert max(total for _, total, _ in totals) == 25
    assert min(available for _, _, available in totals) == 15
    d = get(cluster)
    assert rollout_done(d)
    assert (d["status"]["updatedReplicas"], d["status"]["availableReplicas"]) == (20, 20)
    finished = min(t for t, total, available in totals if total == available == 20 and t > 10)
    assert finished == 20.0  # two waves of readiness, 5 s each
    rss = replica_sets(cluster)
    assert rss["nginx:1.25"]["spec"]["replicas"] == 0
    assert rss["nginx:1.26"]["status"]["availableReplicas"] == 20


def test_the_new_replica_set_carries_the_pod_template_hash_and_revisions(
        cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster)
    started(cluster, deployment(replicas=2))
    set_image(cluster, "nginx:1.26")
    cluster.advance(20)
    d, rss = get(cluster), replica_sets(cluster)
    new = rss["nginx:1.26"]
    pod_hash = new["metadata"]["labels"]["pod-template-hash"]
    assert new["metadata"]["name"] == f"web-{pod_hash}"
    assert new["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert new["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == pod_hash
    assert new["metadata"]["annotations"] == {
        REVISION: "2", "deployment.kubernetes.io/desired-replicas": "2",
        "deployment.kubernetes.io/max-replicas": "3"}
    assert rss["nginx:1.25"]["metadata"]["annotations"][REVISION] == "1"
    assert d["metadata"]["annotations"][REVISION] == "2"
    ref = controller_of(new)
    assert ref is not None and ref["uid"] == d["metadata"]["uid"] and ref["blockOwnerDeletion"]
    for pod in pods_by_image(cluster)["nginx:1.26"]:
        assert pod["metadata"]["labels"]["pod-template-hash"] == pod_hash
        assert pod["metadata"]["name"].startswith(f"web-{pod_hash}-")


def test_status_and_conditions_match_kubectl_rollout_status(cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster, ready_after=5)
    cluster.create(deployment(replicas=3))
    d = get(cluster)
    assert not rollout_done(d)
    new_rs = next(iter(replica_sets(cluster).values()))["metadata"]["name"]
    # NewReplicaSetCreated at creation, then ReplicaSetUpdated once its pods were counted.
    assert (condition(d, "Progressing")["reason"], condition(d, "Progressing")["message"]) == (
        "ReplicaSetUpdated", f'ReplicaSet "{new_rs}" is progressing.')
    assert condition(d, "Available") == {
        "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
        "message": "Deployment does not have minimum availability.",
        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    cluster.advance(5)
    d = get(cluster)
    assert d["status"] | {"conditions": []} == {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
        "availableReplicas": 3, "conditions": []}
    assert condition(d, "Progressing")["message"] == \
        f'ReplicaSet "{new_rs}" has successfully progressed.'
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert condition(d, "Available")["status"] == "True"
    assert rollout_done(d)


def test_scaling_changes_only_the_active_replica_set(cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster)
    started(cluster, deployment(replicas=3))
    cluster.store.modify(DEPLOYMENTS, "default", "web",
                         lambda d: d["spec"].__setitem__("replicas", 5))
    cluster.settle()
    (rs,) = replica_sets(cluster).values()
    assert rs["spec"]["replicas"] == 5
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert len(cluster.store.select("pods")) == 5
    cluster.advance(5)
    assert rollout_done(get(cluster)) and get(cluster)["status"]["availableReplicas"] == 5


def test_invalid_strategies_are_rejected_with_upstream_messages(cluster: EmbeddedCluster) -> None:
    both_zero = deployment(strategy={"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})
    with pytest.raises(errors.Invalid, match=r"spec.strategy.rollingUpdate.maxUnavailable: "
                       r"Invalid value: intstr.IntOrString\{Type:0, IntVal:0, StrVal:\"\"\}: "
                       r"may not be 0 when `maxSurge` is 0"):
        cluster.create(both_zero)
    recreate = deployment(strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})
    with pytest.raises(errors.Invalid, match="may not be specified when strategy `type` is "
                                             "'Recreate'"):
        cluster.create(recreate)


# -- Recreate --------------------------------------------------------------------------

def test_recreate_never_runs_old_and_new_pods_at_once(cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster, ready_after=5, node="node-1", terminate_after=3)
    started(cluster, deployment(replicas=4, strategy={"type": "Recreate"}))
    overlaps: list[float] = []

    def record(now: float, _label: str) -> None:
        if len(pods_by_image(cluster)) > 1:
            overlaps.append(now)

    cluster.engine.on_event = record
    set_image(cluster, "nginx:1.26")  # at t = 10: old pods terminate for 3 s
    assert {p["metadata"].get("deletionTimestamp") is not None
            for p in pods_by_image(cluster)["nginx:1.25"]} == {True}
    cluster.advance(2.9)
    assert "nginx:1.26" not in pods_by_image(cluster)
    cluster.advance(0.1)  # t = 13: the last old pod is gone, new pods are created
    assert list(pods_by_image(cluster)) == ["nginx:1.26"]
    cluster.advance(5)
    cluster.engine.on_event = None
    assert overlaps == []
    assert rollout_done(get(cluster)) and get(cluster)["status"]["availableReplicas"] == 4


# -- pause, rollback, history ------------------------------------------------------------

def test_a_paused_deployment_does_not_roll_until_resumed(cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster)
    started(cluster, deployment(replicas=2))
    cluster.store.modify(DEPLOYMENTS, "default", "web",
                         lambda d: d["spec"].__setitem__("paused", True))
    set_image(cluster, "nginx:1.26")
    cluster.advance(30)
    d = get(cluster)
    assert list(replica_sets(cluster)) == ["nginx:1.25"]
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"] == 3
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "Unknown", "DeploymentPaused", "Deployment is paused")
    assert not rollout_done(d)  # 0 of 2 replicas are updated
    cluster.store.modify(DEPLOYMENTS, "default", "web",
                         lambda d: d["spec"].__setitem__("paused", False))
    cluster.settle()
    cluster.advance(10)
    assert rollout_done(get(cluster))
    assert replica_sets(cluster)["nginx:1.25"]["spec"]["replicas"] == 0


def kubectl_undo(cluster: EmbeddedCluster, to_revision: int) -> None:
    """What ``kubectl rollout undo`` sends: the old ReplicaSet's template and annotations."""
    d = get(cluster)
    old = next(rs for rs in cluster.store.select(REPLICASETS)
               if rs["metadata"]["annotations"][REVISION] == str(to_revision))
    template = {**old["spec"]["template"]}
    labels = dict(template["metadata"]["labels"])
    del labels["pod-template-hash"]
    template["metadata"] = {**template["metadata"], "labels": labels}
    annotations = {k: v for k, v in old["metadata"]["annotations"].items()
                   if not k.startswith("deployment.kubernetes.io/")}
    annotations[REVISION] = d["metadata"]["annotations"][REVISION]
    ops = [{"op": "replace", "path": "/spec/template", "value": template},
           {"op": "replace", "path": "/metadata/annotations", "value": annotations}]
    cluster.store.modify(DEPLOYMENTS, "default", "web", lambda obj: json_patch(obj, ops))
    cluster.settle()


def test_rollback_reuses_the_old_replica_set_under_a_new_revision(
        cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster)
    started(cluster, deployment(replicas=3))
    set_image(cluster, "nginx:1.26")
    cluster.advance(20)
    kubectl_undo(cluster, to_revision=1)
    cluster.advance(20)
    rss = replica_sets(cluster)
    assert len(rss) == 2  # no new ReplicaSet: the first one is scaled back up
    assert rss["nginx:1.25"]["spec"]["replicas"] == 3
    assert rss["nginx:1.25"]["metadata"]["annotations"][REVISION] == "3"
    assert rss["nginx:1.25"]["metadata"]["annotations"][
        "deployment.kubernetes.io/revision-history"] == "1"
    assert rss["nginx:1.26"]["spec"]["replicas"] == 0
    d = get(cluster)
    assert d["metadata"]["annotations"][REVISION] == "3" and rollout_done(d)


def test_old_replica_sets_beyond_the_history_limit_are_deleted(cluster: EmbeddedCluster) -> None:
    FakeKubelet(cluster)
    started(cluster, deployment(replicas=1, revisionHistoryLimit=1))
    for version in ("1.26", "1.27", "1.28"):
        set_image(cluster, f"nginx:{version}")
        cluster.advance(20)
    assert sorted(replica_sets(cluster)) == ["nginx:1.27", "nginx:1.28"]
    assert sorted(rs["metadata"]["annotations"][REVISION]
                  for rs in replica_sets(cluster).values()) == ["3", "4"]


# -- failures --------------------------------------------------------------------------

def test_a_rollout_without_progress_exceeds_its_deadline(cluster: EmbeddedCluster) -> None:
    kubelet = FakeKubelet(cluster)
    kubelet.broken = lambda pod: pod["spec"]["containers"][0]["image"] == "nginx:broken"
    started(cluster, deployment(replicas=2, progressDeadlineSeconds=30))
    set_image(cluster, "nginx:broken")  # at t = 10
    cluster.advance(30)
    assert condition(get(cluster), "Progressing")["reason"] == "ReplicaSetUpdated"
    cluster.advance(1)  # t = 41: 30 s since the last progress at t = 10 have passed
    progressing = condition(get(cluster), "Progressing")
    new_rs = replica_sets(cluster)["nginx:broken"]["metadata"]["name"]
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{new_rs}" has timed out progressing.')
    assert progressing["lastUpdateTime"] == "2026-01-01T00:00:41Z"
    assert get(cluster)["status"]["availableReplicas"] == 2  # the old pods keep serving


def test_pods_the_api_refuses_show_as_replica_failure(cluster: EmbeddedCluster) -> None:
    def refuse(op: str, rt: Any, obj: Obj, old: Obj | None) -> Obj:
        if op == "CREATE" and obj["spec"]["containers"][0]["image"] == "nginx:forbidden":
            raise errors.Forbidden('pods "x" is forbidden: exceeded quota: pods')
        return obj

    cluster.store.add_admission("pods", refuse)
    FakeKubelet(cluster)
    started(cluster, deployment(replicas=2))
    set_image(cluster, "nginx:forbidden")
    failure = condition(get(cluster), "ReplicaFailure")
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert "exceeded quota" in failure["message"]
    rs = replica_sets(cluster)["nginx:forbidden"]
    assert [c["type"] for c in rs["status"]["conditions"]] == ["ReplicaFailure"]
    events = [e for e in cluster.store.select("events")
              if e["involvedObject"]["name"] == rs["metadata"]["name"]]
    assert {(e["type"], e["reason"]) for e in events} == {("Warning", "FailedCreate")}


def test_the_same_seed_gives_the_same_rollout(cluster: EmbeddedCluster) -> None:
    def run() -> str:
        c = EmbeddedCluster(ClusterSettings(seed=3))
        FakeKubelet(c, ready_after=5)
        started(c, deployment(replicas=6))
        set_image(c, "nginx:1.26")
        c.advance(30)
        return c.store.digest

    assert run() == run()
