"""CloneSet scale: pod naming and labels, podsToDelete, scaleStrategy.maxUnavailable, the
scale-down preference order and the preDelete hook.

Upstream: ``pkg/controller/cloneset/sync/cloneset_scale_test.go``,
``pkg/controller/cloneset/utils/pod_sorter_test.go``, ``test/e2e/apps/v1alpha1/cloneset.go``
(scale / specified delete / lifecycle cases); reference §1.4, §1.7.
"""

from __future__ import annotations

from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kruise.cloneset.scale import deletion_sort
from kitlib.cluster.kruise.cloneset.status import is_pod_available
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    change,
    cloneset,
    converged,
    get,
    make_cluster,
    pods,
    unavailable,
)

Obj = dict[str, Any]


def test_created_pods_carry_upstreams_name_labels_and_readiness_gate(
        cluster: EmbeddedCluster) -> None:
    cluster.create(cloneset(replicas=2))
    advance_until(cluster, lambda: converged(cluster))
    revision = get(cluster)["status"]["updateRevision"]
    assert revision.startswith("web-")
    for name, pod in pods(cluster).items():
        labels = pod["metadata"]["labels"]
        instance = labels["apps.kruise.io/cloneset-instance-id"]
        assert name == f"web-{instance}" and len(instance) == 5
        assert set(instance) <= set("bcdfghjklmnpqrstvwxz2456789")
        assert labels["controller-revision-hash"] == revision
        assert labels["pod-template-hash"] == revision.rsplit("-", 1)[1]
        assert labels["lifecycle.apps.kruise.io/state"] == "Normal"
        assert pod["spec"]["readinessGates"] == [{"conditionType": "InPlaceUpdateReady"}]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "CloneSet"
    revisions = cluster.store.select("controllerrevisions.apps")
    assert [r["metadata"]["name"] for r in revisions] == [revision]


def test_the_short_hash_gate_puts_only_the_hash_in_the_revision_label() -> None:
    cluster = make_cluster(CloneSetShortHash=True)
    cluster.create(cloneset(replicas=1))
    advance_until(cluster, lambda: converged(cluster))
    revision = get(cluster)["status"]["updateRevision"]
    pod = next(iter(pods(cluster).values()))
    assert pod["metadata"]["labels"]["controller-revision-hash"] == revision.rsplit("-", 1)[1]


def test_pods_to_delete_replaces_the_named_pod_and_is_truncated(
        cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation, "specified delete 1 pod (all ready) (step
    1/3..3/3)", with the pod named in scaleStrategy.podsToDelete (upstream
    ``isSpecifiedDelete`` treats the list like the specified-delete label).
    Given 3 ready replicas; when the second pod's name is put in podsToDelete, then that
    pod is deleted, a replacement brings the count back to 3, podsToDelete is truncated
    to [] and the CloneSet converges."""
    cluster.create(cloneset(replicas=3))
    advance_until(cluster, lambda: converged(cluster))
    victim = sorted(pods(cluster))[1]
    change(cluster, lambda cs: cs["spec"].setdefault("scaleStrategy", {}).__setitem__(
        "podsToDelete", [victim]))
    assert victim not in pods(cluster)
    assert len(pods(cluster)) == 3
    assert get(cluster)["spec"]["scaleStrategy"]["podsToDelete"] == []
    advance_until(cluster, lambda: converged(cluster))


def test_scale_strategy_max_unavailable_1_creates_one_pod_at_a_time(
        cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation, "increase replicas 3 to 6 with scale
    maxUnavailable = 2, not ready pod = 1" (scaleUpLimit = maxUnavailable - not-ready
    pods), here with scaleStrategy.maxUnavailable 1.
    Given 1 ready replica and scaleStrategy.maxUnavailable 1; when replicas goes to 4,
    then only 1 pod is created at first (2 pods) and at no instant is more than 1 pod
    unavailable until all 4 are ready."""
    cluster.create(cloneset(replicas=1, scaleStrategy={"maxUnavailable": 1}))
    advance_until(cluster, lambda: converged(cluster))
    worst: list[int] = []
    cluster.engine.on_event = lambda *_: worst.append(unavailable(cluster))
    change(cluster, lambda cs: cs["spec"].__setitem__("replicas", 4))
    assert len(pods(cluster)) == 2
    advance_until(cluster, lambda: converged(cluster))
    cluster.engine.on_event = None
    assert max(worst) == 1


def test_scaling_down_deletes_old_revision_pods_first(cluster: EmbeddedCluster) -> None:
    """partition 2 keeps 2 old pods; scaling 4 → 2 deletes old ones first (choosePodsToDelete
    takes scaleDownNumOldRevision from the not-updated pods)."""
    cluster.create(cloneset(replicas=4, strategy={"type": "InPlaceIfPossible",
                                                  "partition": 2}))
    advance_until(cluster, lambda: converged(cluster))
    change(cluster, lambda cs: cs["spec"]["template"]["spec"]["containers"][2].__setitem__(
        "image", "envoy:2"))
    cluster.advance(30)
    updated = {n for n, p in pods(cluster).items()
               if p["spec"]["containers"][2]["image"] == "envoy:2"}
    assert len(updated) == 2
    change(cluster, lambda cs: cs["spec"].update(
        {"replicas": 2, "updateStrategy": {**cs["spec"]["updateStrategy"], "partition": 0}}))
    cluster.advance(30)
    assert set(pods(cluster)) == updated


def _pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True,
         ready_at: str = "2026-01-01T00:00:10Z", cost: int | None = None,
         restarts: int = 0, created: str = "2026-01-01T00:00:00Z") -> Obj:
    annotations = {} if cost is None else {
        "controller.kubernetes.io/pod-deletion-cost": str(cost)}
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": ready_at}]
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "annotations": annotations, "labels": {}},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"name": "app", "restartCount": restarts}]}}


@pytest.mark.parametrize(("story", "pods_", "first"), [
    ("an unassigned pod goes before an assigned one",
     [_pod("a"), _pod("b", node="")], "b"),
    ("a Pending pod goes before a Running one",
     [_pod("a"), _pod("b", phase="Pending", ready=False)], "b"),
    ("a not-ready pod goes before a ready one", [_pod("a"), _pod("b", ready=False)], "b"),
    ("a lower deletion cost goes first",
     [_pod("a", node="n1", cost=5), _pod("b", node="n2", cost=-1)], "b"),
    ("a doubled-up pod goes before one alone on its node",
     [_pod("a", node="n1"), _pod("b", node="n2", created="2026-01-01T00:00:01Z"),
      _pod("c", node="n2")], "b"),
    ("ready more recently goes first",
     [_pod("a", node="n1"), _pod("b", node="n2", ready_at="2026-01-01T00:00:20Z")], "b"),
    ("more restarts go first", [_pod("a", node="n1"), _pod("b", node="n2", restarts=3)], "b"),
    ("the newer pod goes first",
     [_pod("a", node="n1"), _pod("b", node="n2", created="2026-01-01T00:00:05Z")], "b"),
])
def test_scale_down_preference_order(story: str, pods_: list[Obj], first: str) -> None:
    """The orderings of upstream ``pkg/controller/cloneset/utils/pod_sorter_test.go``
    TestSortingActivePods and TestSameNodeRanker, with our own pods (upstream's own pairs
    are in ``test_upstream_scenarios.py``).
    Given two or three pods that differ in one respect; when the scale-down order is
    taken, then the pod named in the story comes first."""
    order = deletion_sort(pods_, available=lambda p: is_pod_available(p, 0, 100.0),
                          now=100.0)
    assert order[0]["metadata"]["name"] == first


def test_a_pre_delete_hook_holds_the_pod_in_preparing_delete(cluster: EmbeddedCluster) -> None:
    """lifecycle.preDelete.labelsHandler: a pod with the label is not deleted on scale-down
    but moves to PreparingDelete; removing the label lets the controller delete it."""
    hook = {"preDelete": {"labelsHandler": {"example.com/unready-blocker": "true"}}}
    body = cloneset(replicas=2, lifecycle=hook)
    body["spec"]["template"]["metadata"]["labels"]["example.com/unready-blocker"] = "true"
    cluster.create(body)
    advance_until(cluster, lambda: converged(cluster))
    change(cluster, lambda cs: cs["spec"].__setitem__("replicas", 1))
    states = sorted(p["metadata"]["labels"]["lifecycle.apps.kruise.io/state"]
                    for p in pods(cluster).values())
    assert states == ["Normal", "PreparingDelete"]
    assert get(cluster)["status"]["replicas"] == 2
    held = next(n for n, p in pods(cluster).items()
                if p["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "PreparingDelete")
    cluster.store.modify("pods", "default", held, lambda p: p["metadata"]["labels"].pop(
        "example.com/unready-blocker"))
    cluster.settle()
    assert held not in pods(cluster)
    assert get(cluster)["status"]["replicas"] == 1
