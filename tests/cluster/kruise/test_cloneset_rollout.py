"""partition, paused, maxSurge, minReadySeconds, rollback and the in-place grace period.

Upstream: ``pkg/controller/cloneset/sync/cloneset_update_test.go``,
``test/e2e/apps/cloneset.go`` (partition, maxSurge, paused cases), kruise#261 (rollback gate),
kruise#1153 (paused forces maxSurge 0); reference §1.3, §1.8, §1.10, §1.11, §1.13.
"""

from __future__ import annotations

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kruise.inplace import GRACE_ANNOTATION
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    change,
    cloneset,
    converged,
    get,
    make_cluster,
    pods,
    ready_condition,
    set_image,
    statuses,
    unavailable,
)

Obj = dict[str, object]


def image_counts(cluster: EmbeddedCluster) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in pods(cluster).values():
        image = p["spec"]["containers"][2]["image"]
        out[image] = out.get(image, 0) + 1
    return out


def strategy(**fields: object) -> Obj:
    return {"type": "InPlaceIfPossible", **fields}


def set_strategy(cluster: EmbeddedCluster, **fields: object) -> None:
    change(cluster, lambda cs: cs["spec"]["updateStrategy"].update(fields))


def settled(cluster: EmbeddedCluster, seconds: float = 60) -> None:
    cluster.advance(seconds)


def test_partition_99_percent_of_5_keeps_4_pods_at_the_old_revision(
        cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation, "update recreate partition=99% with
    maxUnavailable=3, maxSurge=2" (5 replicas, 4 kept old), and
    ``test/e2e/apps/v1alpha1/cloneset.go`` "CloneSet partition="99%", replicas=4, make sure
    one pod is upgraded".
    Given 5 ready replicas and partition "99%" (ceil 4.95 = 5 = replicas, a percent short
    of 100% keeps one pod new, so 4); when the mesh image changes, then 4 pods stay at
    envoy:1 and 1 goes to envoy:2: updatedReplicas 1, expectedUpdatedReplicas 1,
    updatedReadyReplicas 1, and currentRevision stays the old revision."""
    cluster.create(cloneset(strategy=strategy(partition="99%")))
    advance_until(cluster, lambda: converged(cluster))
    old_revision = get(cluster)["status"]["currentRevision"]
    set_image(cluster, 2, "envoy:2")
    settled(cluster)
    assert image_counts(cluster) == {"envoy:1": 4, "envoy:2": 1}
    status = get(cluster)["status"]
    assert (status["updatedReplicas"], status["expectedUpdatedReplicas"],
            status["updatedReadyReplicas"]) == (1, 1, 1)
    assert status["currentRevision"] == old_revision != status["updateRevision"]


def test_an_int_partition_2_of_5_follows_the_worked_trace(cluster: EmbeddedCluster) -> None:
    """Reference §1.13 worked trace; the same flow as upstream
    ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation "update partition=3 (step 1/3..3/3)", here with
    partition 2.
    Given 5 ready replicas, an int partition 2 and maxUnavailable 1; when the mesh image
    changes, then 3 pods are updated in place (same names) one at a time (at most 1
    unavailable), 2 stay old and expectedUpdatedReplicas is 3; when partition goes to 0,
    then all 5 are updated."""
    cluster.create(cloneset(strategy=strategy(partition=2, maxUnavailable=1)))
    advance_until(cluster, lambda: converged(cluster))
    names = set(pods(cluster))
    worst: list[int] = []
    cluster.engine.on_event = lambda *_: worst.append(unavailable(cluster))
    set_image(cluster, 2, "envoy:2")
    settled(cluster)
    cluster.engine.on_event = None
    assert image_counts(cluster) == {"envoy:1": 2, "envoy:2": 3}
    assert set(pods(cluster)) == names and max(worst) == 1
    assert get(cluster)["status"]["expectedUpdatedReplicas"] == 3
    set_strategy(cluster, partition=0)
    settled(cluster)
    assert image_counts(cluster) == {"envoy:2": 5} and converged(cluster)


def test_paused_stops_the_update_and_resuming_finishes_it(cluster: EmbeddedCluster) -> None:
    """Upstream ``test/e2e/apps/v1alpha1/cloneset.go`` "pods should be ready when
    paused=true" (a paused CloneSet still scales) and
    ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation "[UpdateStrategyPaused=true] scale up pods with
    maxSurge=3,maxUnavailable=0" (scaling creates pods while paused).
    Given 5 ready replicas with updateStrategy.paused; when the image changes, then no
    pod is updated; when replicas goes to 6, then 1 new pod is created at the new
    revision (5 old + 1 new); when paused is cleared, then all 6 are updated."""
    cluster.create(cloneset(strategy=strategy(paused=True)))
    advance_until(cluster, lambda: converged(cluster))
    set_image(cluster, 2, "envoy:2")
    settled(cluster)
    assert image_counts(cluster) == {"envoy:1": 5}
    change(cluster, lambda cs: cs["spec"].__setitem__("replicas", 6))
    settled(cluster)
    assert image_counts(cluster) == {"envoy:1": 5, "envoy:2": 1}  # scale is not paused
    set_strategy(cluster, paused=False)
    settled(cluster)
    assert image_counts(cluster) == {"envoy:2": 6} and converged(cluster)


def test_max_surge_with_in_place_creates_a_new_pod_then_deletes_an_old_one(
        cluster: EmbeddedCluster) -> None:
    """Reference §1.11; the surge-then-scale-down flow of upstream
    ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation "update in-place partition=3 with maxSurge (step
    1/4..4/4)", here with 3 replicas and no partition.
    Given 3 ready replicas, InPlaceIfPossible, maxSurge 1 and maxUnavailable 0; when the
    mesh image changes, then there are at most 4 pods, all 3 end at envoy:2, 2 of them
    updated in place (mesh restartCount 1) and 1 created new as the surge pod."""
    cluster.create(cloneset(replicas=3, strategy=strategy(maxSurge=1, maxUnavailable=0)))
    advance_until(cluster, lambda: converged(cluster))
    totals: list[int] = []
    cluster.engine.on_event = lambda *_: totals.append(len(pods(cluster)))
    set_image(cluster, 2, "envoy:2")
    advance_until(cluster, lambda: converged(cluster))
    cluster.engine.on_event = None
    assert max(totals) == 4
    assert image_counts(cluster) == {"envoy:2": 3}
    restarted = [p for p in pods(cluster).values() if statuses(p)["mesh"]["restartCount"] == 1]
    assert len(restarted) == 2  # one surge pod was created new, two updated in place


def test_min_ready_seconds_paces_the_rollout(cluster: EmbeddedCluster) -> None:
    """minReadySeconds 10: the next pod is updated only once the previous one has been
    ready for 10 s: 3 pods take 3 × (≈2 s restart + 10 s), seen at whole seconds."""
    cluster.create(cloneset(replicas=3, minReadySeconds=10))
    advance_until(cluster, lambda: get(cluster).get("status", {}).get(
        "availableReplicas") == 3)
    set_image(cluster, 2, "envoy:2")
    took = advance_until(cluster, lambda: get(cluster)["status"].get(
        "updatedAvailableReplicas") == 3)
    assert took == 36
    assert get(cluster)["status"]["availableReplicas"] == 3


@pytest.mark.parametrize(("gate", "after_raise"), [
    (False, {"envoy:1": 1, "envoy:2": 2}),   # kruise#261: off by default, nothing happens
    (True, {"envoy:1": 3}),                   # the 2 updated pods go back, in place
])
def test_raising_partition_rolls_back_only_with_the_rollback_gate(
        gate: bool, after_raise: dict[str, int]) -> None:
    cluster = make_cluster(CloneSetPartitionRollback=gate)
    cluster.create(cloneset(replicas=3, strategy=strategy(partition=1)))
    advance_until(cluster, lambda: converged(cluster))
    names = set(pods(cluster))
    set_image(cluster, 2, "envoy:2")
    settled(cluster)
    assert image_counts(cluster) == {"envoy:1": 1, "envoy:2": 2}
    set_strategy(cluster, partition=3)
    settled(cluster)
    assert image_counts(cluster) == after_raise
    assert set(pods(cluster)) == names
    assert get(cluster)["status"]["expectedUpdatedReplicas"] == 0
    assert list(cluster.clonesets.runner.errors) == []
    assert cluster.store.verify_integrity() == []


def test_the_grace_period_marks_not_ready_first_and_patches_the_image_later(
        cluster: EmbeddedCluster) -> None:
    """inPlaceUpdateStrategy.gracePeriodSeconds 5: InPlaceUpdateReady=False at once, the
    grace annotation holds the new image, the spec changes 5 s later."""
    cluster.create(cloneset(replicas=1, strategy=strategy(
        inPlaceUpdateStrategy={"gracePeriodSeconds": 5})))
    advance_until(cluster, lambda: converged(cluster))
    name = next(iter(pods(cluster)))
    set_image(cluster, 2, "envoy:2")
    start = cluster.now
    pod = pods(cluster)[name]
    assert ready_condition(pod, "InPlaceUpdateReady") == "False"
    assert pod["spec"]["containers"][2]["image"] == "envoy:1"
    assert GRACE_ANNOTATION in pod["metadata"]["annotations"]
    cluster.advance(4.9)
    assert pods(cluster)[name]["spec"]["containers"][2]["image"] == "envoy:1"
    cluster.advance(0.1)
    pod = pods(cluster)[name]
    assert pod["spec"]["containers"][2]["image"] == "envoy:2"
    assert GRACE_ANNOTATION not in pod["metadata"]["annotations"]
    assert cluster.now - start == 5
    advance_until(cluster, lambda: converged(cluster))
