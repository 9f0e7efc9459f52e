"""Given/when/then scenarios carried over from upstream OpenKruise's own tests.

Each test's docstring names the upstream file and test/case its numbers come from
(openkruise/kruise at the stored snapshot). Upstream's e2e tests live in
``test/e2e/apps/v1alpha1/`` there (older trees: ``test/e2e/apps/``).

The ``calculate_diffs_with_expectation`` tables follow upstream's
``createTestCloneSet(replicas, partition, maxUnavailable, maxSurge)`` and
``createTestPod(revision, lifecycleState, ready, specifiedDelete)``, with the current
revision "old_rev", the update revision "new_rev" and the ``CloneSetPartitionRollback``
gate on (as upstream's table sets it) unless a case says otherwise. Pods are written
as tokens: ``O``/``N`` = old/new revision, then ``-`` not ready, ``*`` specified
delete, ``D`` lifecycle state PreparingDelete, ``U`` lifecycle state Updating.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kruise.cloneset.diff import (
    Diffs,
    PodFacts,
    calculate_diffs_with_expectation,
    partition_replicas,
    resolve_numbers,
)
from kitlib.cluster.kruise.cloneset.scale import (
    SPECIFIED_DELETE,
    _same_node_ranks,
    deletion_sort,
    plan_scale,
)
from kitlib.cluster.kruise.cloneset.update import limit_update_indexes, sort_update_indexes
from kitlib.cluster.kruise.inplace import calculate_in_place_spec
from kitlib.cluster.kruise.sidecarset.upgrade import PodState, get_next_upgrade_pods
from kitlib.cluster.settings import ClusterSettings, KubeletSettings
from kitlib.model import errors
from kitlib.model.objects import parse_time
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    cloneset,
    converged,
    get,
    make_cluster,
    set_image,
)
from tests.cluster.kruise.cloneset_world import pods as cs_pods

SYNC_UTILS = "pkg/controller/cloneset/sync/cloneset_sync_utils_test.go"

# -- calculate_diffs_with_expectation ---------------------------------------------------


def facts(tokens: str) -> list[PodFacts]:
    out = []
    for tok in tokens.split():
        state_ok = "D" not in tok and "U" not in tok
        out.append(PodFacts(updated=tok[0] == "N", available=state_ok and "-" not in tok,
                            preparing_delete="D" in tok, specified_delete="*" in tok))
    return out


def diffs(replicas: int, partition: int | str, max_unavailable: int | str,
          max_surge: int | str, pods: str, *, revision_consistent: bool = False,
          rollback_gate: bool = True, scale_max_unavailable: int | None = None,
          exclude_preparing_delete: bool = False, paused: bool = False) -> Diffs:
    """Upstream's ``calculateDiffsWithExpectation(createTestCloneSet(...), pods, ...)``."""
    strategy: dict[str, Any] = {"partition": partition, "maxUnavailable": max_unavailable,
                                "maxSurge": max_surge}
    if paused:
        strategy["paused"] = True
    scale: dict[str, Any] = {}
    if scale_max_unavailable is not None:
        scale["maxUnavailable"] = scale_max_unavailable
    if exclude_preparing_delete:
        scale["excludePreparingDelete"] = True
    spec = {"replicas": replicas, "updateStrategy": strategy, "scaleStrategy": scale}
    numbers = resolve_numbers(spec, no_rollback=revision_consistent or not rollback_gate)
    return calculate_diffs_with_expectation(numbers, facts(pods))


N5 = "N N N N N"
O5 = "O O O O O"


@pytest.mark.parametrize(("replicas", "pods", "expected"), [
    (0, "", Diffs()),                                         # an empty cloneset
    (5, "", Diffs(scale_up_num=5, scale_up_limit=5)),         # increase replicas to 5 (1/2)
    (5, N5, Diffs()),                                         # (step 2/2)
])
def test_scaling_up_from_0_to_5_creates_5_then_nothing(replicas: int, pods: str,
                                                        expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation, cases
    "an empty cloneset", "increase replicas to 5 (step 1/2)" and "(step 2/2)".
    Given partition 0, maxUnavailable 1, maxSurge 0; when replicas is 0 with no pods,
    then nothing; when replicas is 5 with no pods, then scaleUpNum 5 and scaleUpLimit 5;
    when the 5 pods exist at the update revision, then nothing."""
    assert diffs(replicas, 0, 1, 0, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    ("N* N N N N", Diffs(delete_ready_limit=1)),
    ("N N N N", Diffs(scale_up_num=1, scale_up_limit=1)),
    (N5, Diffs()),
])
def test_specified_delete_of_one_ready_pod_deletes_then_replaces_it(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "specified delete 1 pod (all ready) (step 1/3..3/3)".
    Given replicas 5, maxUnavailable 1 and 5 ready pods, one marked specified-delete;
    when diffs are computed, then deleteReadyLimit is 1 (and no scale-down of the
    others); after the delete 4 pods remain, then scaleUpNum 1 / limit 1; at 5, nothing."""
    assert diffs(5, 0, 1, 0, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    ("N* N* N N N", Diffs(delete_ready_limit=1)),
    ("N* N N N", Diffs(scale_up_num=1, scale_up_limit=1)),
    ("N* N N N N-", Diffs()),
    ("N* N N N N", Diffs(delete_ready_limit=1)),
    ("N N N N", Diffs(scale_up_num=1, scale_up_limit=1)),
    (N5, Diffs()),
])
def test_specified_delete_of_two_ready_pods_goes_one_at_a_time(pods: str,
                                                               expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "specified delete 2 pod (all ready) (step 1/6..6/6)".
    Given replicas 5, maxUnavailable 1 and 2 of 5 ready pods marked specified-delete;
    then deleteReadyLimit is 1 (only one ready pod may go); with 4 left, create 1; while
    the replacement is not ready, nothing (the budget is used); once it is ready, delete
    the second (limit 1); then create 1; then nothing."""
    assert diffs(5, 0, 1, 0, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    ("N-* N-* N N N", Diffs(delete_ready_limit=2)),
    ("N N N", Diffs(scale_up_num=1, scale_up_limit=1)),
    ("N N N N", Diffs()),
])
def test_specified_delete_of_two_pods_while_scaling_5_to_4(pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "specified delete 2 pod and replicas to 4 (step 1/3..3/3)".
    Given replicas 4, maxUnavailable 1 and 5 pods of which 2 not-ready ones are marked
    specified-delete; then deleteReadyLimit is 1 + (5-4) = 2 and no extra scale-down;
    with 3 left, create 1; with 4, nothing."""
    assert diffs(4, 0, 1, 0, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    (O5, Diffs(update_num=2, update_max_unavailable=1)),
    ("N O O O O", Diffs(update_num=1, update_max_unavailable=1)),
    ("N N O O O", Diffs()),
])
def test_int_partition_3_of_5_moves_two_pods_to_the_update_revision(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "update partition=3 (step 1/3..3/3)".
    Given replicas 5, partition 3 (an int), maxUnavailable 1 and 5 old pods; then
    updateNum 2 with updateMaxUnavailable 1; with 1 updated, updateNum 1; with 2
    updated (3 old = partition), nothing."""
    assert diffs(5, 3, 1, 0, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    ("N N N N O", Diffs(update_num=-3, update_max_unavailable=2)),
    ("N N O O O", Diffs(update_num=-1, update_max_unavailable=2)),
    ("N O O O O", Diffs()),
])
def test_raising_partition_to_4_rolls_updated_pods_back(pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "rollback partition=4 (step 1/3..3/3)".
    Given CloneSetPartitionRollback on, replicas 5, partition 4, maxUnavailable 2 and
    4 updated + 1 old pods; then updateNum -3 (back to the current revision) with
    updateMaxUnavailable 2; with 2 updated, -1; with 1 updated, nothing."""
    assert diffs(5, 4, 2, 0, pods) == expected


def test_without_the_rollback_gate_raising_partition_does_nothing() -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "disable rollback feature-gate".
    Given CloneSetPartitionRollback off, replicas 5, partition 4, maxUnavailable 1 and
    1 old + 4 updated pods; when diffs are computed, then nothing is to be done."""
    assert diffs(5, 4, 1, 0, "O N N N N", rollback_gate=False) == Diffs()


@pytest.mark.parametrize(("pods", "expected"), [
    ("N* N N N N", Diffs(scale_up_num=1, scale_up_limit=1, use_surge=1)),
    ("N* N N N N N-", Diffs(use_surge=1)),
    ("N* N N N N N", Diffs(delete_ready_limit=1, use_surge=1)),
    (N5, Diffs()),
])
def test_specified_delete_with_max_surge_1_creates_the_replacement_first(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "specified delete with maxSurge (step 1/4..4/4)".
    Given replicas 5, maxUnavailable 0, maxSurge 1 and one of 5 ready pods marked
    specified-delete; then useSurge 1 and scaleUpNum 1 (surge before deleting); while
    the 6th pod is not ready, only useSurge 1; once ready, deleteReadyLimit 1; at 5
    ready pods, nothing."""
    assert diffs(5, 0, 0, 1, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    (O5, Diffs(scale_up_num=1, scale_up_limit=1, use_surge=1, update_num=2,
               update_max_unavailable=1)),
    ("O O O O O N-", Diffs(use_surge=1, update_num=1, update_max_unavailable=2)),
    ("O O O O NU- N-", Diffs(scale_down_num=1, scale_down_num_old_revision=1)),
    ("O O O O N N-", Diffs(scale_down_num=1, scale_down_num_old_revision=1,
                            delete_ready_limit=1)),
])
def test_in_place_update_with_partition_3_and_max_surge_1(pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "update in-place partition=3 with maxSurge (step 1/4..4/4)".
    Given replicas 5, partition 3, maxUnavailable 1, maxSurge 1 and 5 old pods; then
    scaleUpNum 1 (surge), updateNum 2, updateMaxUnavailable 1; with the surge pod (not
    ready), updateNum 1 and updateMaxUnavailable 1+6-5 = 2; while one old pod updates in
    place (state Updating), scale down 1 old pod with deleteReadyLimit 0; once it is
    ready again, deleteReadyLimit 1."""
    assert diffs(5, 3, 1, 1, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    (O5, Diffs(scale_up_num=1, scale_up_limit=1, use_surge=1, update_num=2,
               update_max_unavailable=1)),
    ("O O O O O N-", Diffs(use_surge=1, update_num=1, update_max_unavailable=2)),
    ("O O O O O* N-", Diffs(use_surge=1, use_surge_old_revision=1, delete_ready_limit=1,
                             update_num=1, update_max_unavailable=2)),
    ("O O O O N-", Diffs(use_surge=1, scale_up_num=1, scale_up_limit=1, update_num=1,
                         update_max_unavailable=1)),
    ("O O O O N- N-", Diffs(scale_down_num=1, scale_down_num_old_revision=1)),
    ("O O O O N N-", Diffs(scale_down_num=1, scale_down_num_old_revision=1,
                            delete_ready_limit=1)),
    ("O O O N N", Diffs()),
])
def test_recreate_update_with_partition_3_and_max_surge_1(pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "update recreate partition=3 with maxSurge (step 1/7..7/7)".
    Given replicas 5, partition 3, maxUnavailable 1, maxSurge 1 and 5 old pods, updated
    by recreation; then each step's numbers are upstream's, ending with 3 old + 2 new
    ready pods and nothing to do (useSurgeOldRevision 1 while an old pod is being
    recreated, deleteReadyLimit 0 while two new pods are not ready)."""
    assert diffs(5, 3, 1, 1, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    (O5, Diffs(scale_up_num=1, scale_up_limit=1, use_surge=1, update_num=1,
               update_max_unavailable=3)),
    ("O O O O O N-", Diffs(scale_down_num=1, scale_down_num_old_revision=1,
                            delete_ready_limit=3)),
    ("O O O O N-", Diffs()),
])
def test_percent_partition_99_of_5_keeps_4_old_with_max_surge_2(pods: str,
                                                                expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "update recreate partition=99% with maxUnavailable=3, maxSurge=2 (step 1/3..3/3)".
    Given replicas 5, partition "99%" (ceil 4.95 = 5, kept at 4 so one pod updates),
    maxUnavailable 3, maxSurge 2 and 5 old pods; then updateNum 1 and only 1 surge pod
    (not 2); with the new pod there, scale down 1 old pod (deleteReadyLimit 3+1 = 4-1
    unavailable = 3); with 4 old + 1 new, nothing."""
    assert diffs(5, "99%", 3, 2, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    (O5, Diffs(scale_up_num=1, scale_up_limit=1, use_surge=1, update_num=1,
               update_max_unavailable=2)),
    ("O O O O O N-", Diffs(scale_down_num=1, scale_down_num_old_revision=1,
                            delete_ready_limit=2)),
    ("O O O O N-", Diffs()),
])
def test_max_surge_30_percent_rounds_up_and_max_unavailable_40_percent_down(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "update recreate partition=99% with maxUnavailable=40%, maxSurge=30% (step 1/3..3/3)".
    Given replicas 5, partition "99%", maxUnavailable "40%" (floor 2.0 = 2, since
    maxSurge is set) and maxSurge "30%" (ceil 1.5 = 2); then updateMaxUnavailable 2 and
    after the surge pod, deleteReadyLimit 2+1-1 = 2."""
    assert diffs(5, "99%", "40%", "30%", pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    (O5, Diffs(scale_up_num=1, scale_up_limit=1, use_surge=1, update_num=1,
               update_max_unavailable=1)),
    ("O O O O O N-", Diffs(scale_down_num=1, scale_down_num_old_revision=1,
                            delete_ready_limit=1)),
    ("O O O O N-", Diffs()),
])
def test_max_unavailable_30_percent_rounds_down_to_1_when_max_surge_is_set(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "update recreate partition=99% with maxUnavailable=30%, maxSurge=30% (step 1/3..3/3)".
    Given replicas 5, maxUnavailable "30%" (floor 1.5 = 1) and maxSurge "30%" (ceil 1.5
    = 2); then updateMaxUnavailable 1 and, after the surge pod, deleteReadyLimit 1."""
    assert diffs(5, "99%", "30%", "30%", pods) == expected


@pytest.mark.parametrize(("replicas", "partition", "pods", "expected"), [
    (5, 0, N5, Diffs()),
    (5, 3, N5, Diffs()),
    (5, 3, "O O N N N", Diffs()),
    (5, 1, "O O O N N", Diffs(update_num=2, update_max_unavailable=1)),
])
def test_with_consistent_revisions_pods_only_move_forward(
        replicas: int, partition: int, pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "revision consistent 1..4".
    Given currentRevision == updateRevision, maxUnavailable 1; when partition 3 has only
    2 (or 0) old pods, then nothing is rolled back; when partition 1 has 3 old pods,
    then updateNum 2 with updateMaxUnavailable 1."""
    assert diffs(replicas, partition, 1, 0, pods, revision_consistent=True) == expected


def test_update_proceeds_when_scaling_out_cannot() -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "allow to update when fail to scale out normally".
    Given replicas 5, partition 1, maxUnavailable 2 and 2 old + 2 new pods; then
    scaleUpNum 1 (limit 1) and, in the same result, updateNum 1 with
    updateMaxUnavailable 2+4-5 = 1."""
    assert diffs(5, 1, 2, 0, "O O N N", revision_consistent=True) == Diffs(
        scale_up_num=1, scale_up_limit=1, update_num=1, update_max_unavailable=1)


def test_update_proceeds_when_scaling_in_cannot() -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "allow to update when fail to scale in normally".
    Given replicas 5, partition 1, maxUnavailable 1 and 3 old + 3 new pods; then
    scaleDownNum 1 (scaleDownNumOldRevision 2), deleteReadyLimit 2, updateNum 1 and
    updateMaxUnavailable 1+6-5 = 2."""
    assert diffs(5, 1, 1, 0, "O O O N N N", revision_consistent=True) == Diffs(
        scale_down_num=1, scale_down_num_old_revision=2, delete_ready_limit=2,
        update_num=1, update_max_unavailable=2)


@pytest.mark.parametrize(("replicas", "pods", "expected"), [
    (5, "", Diffs(scale_up_num=5, scale_up_limit=2)),
    (6, "N N N-", Diffs(scale_up_num=3, scale_up_limit=1)),
    (6, "N N- N-", Diffs(scale_up_num=3, scale_up_limit=0)),
])
def test_scale_strategy_max_unavailable_2_limits_creation(replicas: int, pods: str,
                                                          expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "increase replicas 0 to 5 with scale maxUnavailable = 2" and "increase replicas 3 to
    6 with scale maxUnavailable = 2, not ready pod = 1 / = 2".
    Given scaleStrategy.maxUnavailable 2; when scaling 0 -> 5, then scaleUpNum 5 but
    limit 2; when scaling 3 -> 6 with 1 not-ready pod, limit 1; with 2, limit 0."""
    assert diffs(replicas, 0, 1, 0, pods, scale_max_unavailable=2) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    ("N N N*", Diffs(delete_ready_limit=1)),
    ("N N ND*", Diffs()),
    ("N N", Diffs(scale_up_num=1, scale_up_limit=1)),
    ("N N N-", Diffs()),
])
def test_specified_delete_with_a_pre_delete_hook_counts_the_preparing_pod(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "[scalingExcludePreparingDelete=false] specific delete a pod with lifecycle hook
    (step 1/4..4/4)".
    Given replicas 3 and a specified-delete pod; then deleteReadyLimit 1; while it is
    PreparingDelete it still counts in the total, so no replacement is created; once
    gone, create 1; then nothing."""
    assert diffs(3, 0, 1, 0, pods) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    ("N N N*", Diffs(delete_ready_limit=1)),
    ("N N ND*", Diffs(scale_up_num=1, scale_up_limit=1)),
    ("N N ND* N-", Diffs()),
])
def test_exclude_preparing_delete_creates_the_replacement_during_the_hook(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "[scalingExcludePreparingDelete=true] specific delete a pod with lifecycle hook
    (step 1/4..4/4)" (steps 3 and 4 have the same pods and result).
    Given replicas 3, scaleStrategy.excludePreparingDelete and a specified-delete pod;
    then deleteReadyLimit 1; while it is PreparingDelete, create 1 replacement; with the
    replacement there, nothing."""
    assert diffs(3, 0, 1, 0, pods, exclude_preparing_delete=True) == expected


@pytest.mark.parametrize(("pods", "expected"), [
    ("N N N*", Diffs(delete_ready_limit=1)),
    ("N N ND*", Diffs(scale_up_num=1, scale_up_limit=1)),
    ("N N ND* N-", Diffs()),
    ("N N N N-", Diffs(scale_down_num=1, delete_ready_limit=1)),
    ("N N N", Diffs()),
])
def test_cancelling_a_pre_delete_with_exclude_preparing_delete_scales_back_down(
        pods: str, expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "[scalingExcludePreparingDelete=true] specific delete a pod with lifecycle hook and
    then cancel (step 1/5..5/5)".
    Given replicas 3 with excludePreparingDelete; when the PreparingDelete pod is put
    back to Normal after its replacement was created (4 pods), then scaleDownNum 1 with
    deleteReadyLimit 1; at 3, nothing."""
    assert diffs(3, 0, 1, 0, pods, exclude_preparing_delete=True) == expected


@pytest.mark.parametrize(("replicas", "pods", "expected"), [
    (3, "N N N", Diffs()),
    (2, "N N N*", Diffs(delete_ready_limit=2)),
    (2, "N N ND*", Diffs()),
    (3, "N N ND*", Diffs(scale_up_num=1, scale_up_limit=1)),
    (3, "N N ND* N-", Diffs()),
    (3, "N N N-", Diffs()),
])
def test_scale_down_with_a_hook_then_scale_up(replicas: int, pods: str,
                                              expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "[scalingExcludePreparingDelete=true] specific scale down with lifecycle hook, then
    scale up pods (step 1/6..6/6)".
    Given excludePreparingDelete; when replicas goes 3 -> 2 with a specified-delete pod,
    then deleteReadyLimit 1+(3-2) = 2; while it is PreparingDelete at replicas 2,
    nothing; when replicas goes back to 3, then create 1 (the PreparingDelete pod is not
    counted)."""
    assert diffs(replicas, 0, 1, 0, pods, exclude_preparing_delete=True) == expected


@pytest.mark.parametrize(("replicas", "partition", "pods", "expected"), [
    (5, 0, "O O O", Diffs(scale_up_num=2, scale_up_limit=2, update_num=3,
                          update_max_unavailable=-2)),
    (3, 0, O5, Diffs(scale_down_num=2, scale_down_num_old_revision=5, delete_ready_limit=2,
                     update_num=3, update_max_unavailable=2)),
    (5, 0, "O O O O O N- N- N-", Diffs(scale_down_num=3, scale_down_num_old_revision=5,
                                       update_num=2, update_max_unavailable=3)),
    (5, 2, "O O O O O N- N- N-", Diffs(scale_down_num=3, scale_down_num_old_revision=3)),
])
def test_paused_forces_max_surge_to_0(replicas: int, partition: int, pods: str,
                                      expected: Diffs) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
    TestCalculateDiffsWithExpectation,
    "[UpdateStrategyPaused=true] scale up pods with maxSurge=3,maxUnavailable=0",
    "... scale down pods with maxSurge=3,maxUnavailable=0" and both "... create 0
    newRevision pods with maxSurge=3,maxUnavailable=0".
    Given updateStrategy.paused with maxSurge 3 and maxUnavailable 0; when 3 old pods
    are scaled to 5, then create 2 (no surge) and updateMaxUnavailable 0+3-5 = -2; when
    5 old pods are scaled to 3, scale down 2; when 3 surge pods exist, they are surplus:
    scale down 3 (deleteReadyLimit 0, since 3 are unavailable)."""
    assert diffs(replicas, partition, 0, 3, pods, paused=True) == expected


# -- Scale (cloneset_scale_test.go TestScale) -------------------------------------------

def _ready_pod(i: int, *, specified: bool = False) -> dict[str, Any]:
    labels = {"controller-revision-hash": "sample-b976d4544"}
    if specified:
        labels[SPECIFIED_DELETE] = "true"
    return {"metadata": {"name": f"sample-{i}", "labels": labels},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _scale(pods: list[dict[str, Any]], *, min_ready_available: bool) -> list[str]:
    """Upstream ``TestScale``: replicas 3, maxUnavailable 20%, one revision."""
    spec = {"replicas": 3, "updateStrategy": {"maxUnavailable": "20%"}}
    numbers = resolve_numbers(spec, no_rollback=True)
    pod_facts = [PodFacts(updated=True, available=min_ready_available,
                          specified_delete=SPECIFIED_DELETE in p["metadata"]["labels"])
                 for p in pods]
    d = calculate_diffs_with_expectation(numbers, pod_facts)
    plan = plan_scale(pods, d, replicas=3, pods_to_delete=[], ready_now=lambda p: True,
                      is_updated=lambda p: True, keep_preparing_delete=False,
                      sort=lambda group: sorted(group, key=lambda p: p["metadata"]["name"]))
    assert not plan.create_old and not plan.create_new
    return list(plan.delete)


def test_scale_5_to_3_with_min_ready_seconds_9999_deletes_nothing() -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_scale_test.go`` TestScale,
    "cloneSet(replicas=3,maxUnavailable=20%,...,minReadySeconds=9999), pods=5, and scale
    replicas 5 -> 3".
    Given 5 ready pods none of which is available yet (minReadySeconds 9999) and
    maxUnavailable 20% of 3 = 1; when scaling to 3, then deleteReadyLimit is
    max(1+2-5, 0) = 0 and no pod is deleted (5 remain, not modified)."""
    assert _scale([_ready_pod(i) for i in range(5)], min_ready_available=False) == []


def test_scale_5_to_3_deletes_the_specified_pod_first_and_only_it() -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_scale_test.go`` TestScale,
    "cloneSet(replicas=3,maxUnavailable=20%,...,minReadySeconds=0), specified delete
    pod-0, pods=5, and scale replicas 5 -> 3".
    Given 5 available pods with pod 0 labelled apps.kruise.io/specified-delete; when
    scaling to 3, then this pass deletes only pod 0 (4 pods remain)."""
    pods = [_ready_pod(i, specified=i == 0) for i in range(5)]
    assert _scale(pods, min_ready_available=True) == ["sample-0"]


def test_scale_5_to_3_deletes_2_pods() -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_scale_test.go`` TestScale,
    "cloneSet(replicas=3,maxUnavailable=20%,...,minReadySeconds=0), pods=5, and scale
    replicas 5 -> 3".
    Given 5 available pods and deleteReadyLimit 1+2 = 3; when scaling to 3, then 2 pods
    are deleted (3 remain)."""
    assert len(_scale([_ready_pod(i) for i in range(5)], min_ready_available=True)) == 2


# -- SidecarSet GetNextUpgradePods (sidecarset_strategy_test.go) -------------------------

def factory_pods(count: int, upgraded: int, upgraded_and_ready: int,
                 *, selected: int | None = None, upgradable: bool = True) -> list[PodState]:
    """Upstream ``factoryPods(count, upgraded, upgradedAndReady)``: all pods Ready; the
    first ``upgraded`` carry the new sidecar hash and image, the first
    ``upgradedAndReady`` of those also report it in status (consistent)."""
    return [PodState(f"pod-{i}", updated=i < upgraded,
                     consistent=i >= upgraded or i < upgraded_and_ready,
                     upgradable=upgradable, selected=selected is None or i < selected,
                     order=(i,))
            for i in range(count)]


def upgrade_counts(strategy: dict[str, Any], pods: list[PodState]) -> tuple[int, int]:
    upgrade, not_upgradable = get_next_upgrade_pods(strategy, pods)
    return len(upgrade), len(not_upgradable)


@pytest.mark.parametrize(("max_unavailable", "pods", "expected"), [
    (10, (100, 30, 26), 6),
    ("10%", (1000, 300, 260), 60),
    ("5%", (1000, 300, 250), 0),
    (100, (100, 30, 27), 70),
    ("5%", (5, 0, 0), 1),
])
def test_sidecar_upgrade_max_unavailable_counts_the_pods_still_restarting(
        max_unavailable: int | str, pods: tuple[int, int, int], expected: int) -> None:
    """Upstream ``pkg/controller/sidecarset/sidecarset_strategy_test.go``
    TestGetNextUpgradePods, "only maxUnavailable(int=10), and pods(count=100,
    upgraded=30, upgradedAndReady=26)" -> 6, "(string=10%) ... (1000, 300, 260)" -> 60,
    "(string=5%) ... (1000, 300, 250)" -> 0, "(int=100) ... (100, 30, 27)" -> 70 and
    "only maxUnavailable(5%), and pods(count=5, ...)" -> 1.
    Given N pods of which `upgraded` have the new sidecar and `upgradedAndReady` of
    those report it; when the next pods are picked, then maxUnavailable (percent
    rounded up) minus the upgraded-but-not-ready pods are upgraded."""
    assert upgrade_counts({"maxUnavailable": max_unavailable},
                          factory_pods(*pods)) == (expected, 0)


@pytest.mark.parametrize(("partition", "expected"), [
    (180, 20), (100, 60), ("18%", 20), ("10%", 60)])
def test_sidecar_upgrade_partition_as_int_and_percent(partition: int | str,
                                                      expected: int) -> None:
    """Upstream ``pkg/controller/sidecarset/sidecarset_strategy_test.go``
    TestGetNextUpgradePods,
    "partition(int=180) maxUnavailable(int=100), and pods(count=1000, upgraded=800,
    upgradedAndReady=760)" -> 20, "partition(int=100) ..." -> 60, "partition(string=18%)
    ..." -> 20, "partition(string=10%) ..." -> 60.
    Given 1000 pods, 800 upgraded (40 still restarting) and maxUnavailable 100; when
    partition keeps 180 (or 18%) old, then 200-180 = 20 are upgraded; when it keeps 100
    (or 10%), then the budget 100-40 = 60 limits it."""
    assert upgrade_counts({"maxUnavailable": 100, "partition": partition},
                          factory_pods(1000, 800, 760)) == (expected, 0)


@pytest.mark.parametrize(("partition", "expected"), [("99%", 1), ("1%", 4)])
def test_sidecar_upgrade_percent_partition_of_5_pods(partition: str, expected: int) -> None:
    """Upstream ``pkg/controller/sidecarset/sidecarset_strategy_test.go``
    TestGetNextUpgradePods,
    "maxUnavailable(5) partition(99%), and pods(count=5, upgraded=0, upgradedAndReady=0)"
    -> 1 and "maxUnavailable(5) partition(1%), ..." -> 4.
    Given 5 pods and maxUnavailable 5; when partition is 99% (ceil 4.95 = 5, kept at 4),
    then 1 pod is upgraded; when it is 1% (ceil 0.05 = 1), then 4."""
    assert upgrade_counts({"maxUnavailable": 5, "partition": partition},
                          factory_pods(5, 0, 0)) == (expected, 0)


def test_sidecar_upgrade_selector_limits_the_pods() -> None:
    """Upstream ``pkg/controller/sidecarset/sidecarset_strategy_test.go``
    TestGetNextUpgradePods, "selector(app=test,
    count=30) maxUnavailable(int=100), and pods(count=1000, upgraded=0, upgradedAndReady=0)".
    Given 1000 pods of which 30 match updateStrategy.selector and maxUnavailable 100;
    when the next pods are picked, then exactly those 30 are upgraded."""
    assert upgrade_counts({"maxUnavailable": 100, "selector": {"matchLabels": {
        "app": "test"}}}, factory_pods(1000, 0, 0, selected=30)) == (30, 0)


def test_sidecar_upgrade_of_a_non_image_change_reports_every_pod_not_upgradable() -> None:
    """Upstream ``pkg/controller/sidecarset/sidecarset_strategy_test.go``
    TestGetNextUpgradePods, "not upgradable
    sidecarset, maxUnavailable(int=100), and pods(count=100, upgraded=0, upgradedAndReady=0)".
    Given a SidecarSet whose change is more than images (hash-without-image differs) and
    100 pods; then 0 are upgraded and 100 are reported not upgradable."""
    assert upgrade_counts({"maxUnavailable": 100},
                          factory_pods(100, 0, 0, upgradable=False)) == (0, 100)


# -- PodUnavailableBudget blocks an eviction ---------------------------------------------

@pytest.fixture
def one_pod_cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=7, nodes=2, kubelet=KubeletSettings(jitter=0)))
    c.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "app",
                                                             "image": "web:1"}]}}}})
    c.advance(20)
    yield c
    assert list(c.pubs.runner.errors) == []
    assert c.store.verify_integrity() == []


def test_pub_max_unavailable_0_blocks_an_eviction_until_no_protect(
        one_pod_cluster: EmbeddedCluster) -> None:
    """Upstream ``test/e2e/policy/v1alpha1/podunavailablebudget.go``, "PodUnavailableBudget
    selector pods and delete deployment ignore".
    Given a PUB selecting app=web with maxUnavailable 0 and a 1-replica Deployment;
    then its status is unavailableAllowed 0, desiredAvailable 1, currentAvailable 1,
    totalReplicas 1; when the pod is evicted, then the eviction is refused (403); when
    the pod is annotated pub.kruise.io/no-protect=true, then the eviction succeeds."""
    c = one_pod_cluster
    c.create({"apiVersion": "policy.kruise.io/v1alpha1", "kind": "PodUnavailableBudget",
              "metadata": {"name": "web-pub"},
              "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 0}})
    c.advance(1)
    pub_status = c.store.get("podunavailablebudgets.policy.kruise.io", "default",
                             "web-pub")["status"]
    assert {k: pub_status[k] for k in ("unavailableAllowed", "desiredAvailable",
                                       "currentAvailable", "totalReplicas")} == {
        "unavailableAllowed": 0, "desiredAvailable": 1, "currentAvailable": 1,
        "totalReplicas": 1}
    [pod] = c.store.select("pods", namespace="default")
    name = pod["metadata"]["name"]
    evict = c.context.subresource_handlers[("pods", "eviction")]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    with pytest.raises(errors.Forbidden) as refused:
        evict("default", name, eviction, {})
    assert refused.value.code == 403
    pod = c.store.get("pods", "default", name)
    annotations = {**(pod["metadata"].get("annotations") or {}),
                   "pub.kruise.io/no-protect": "true"}
    c.store.update("pods", {**pod, "metadata": {**pod["metadata"],
                                                "annotations": annotations}})
    evict("default", name, eviction, {})
    assert c.store.get("pods", "default", name)["metadata"].get("deletionTimestamp") or \
        name not in {p["metadata"]["name"] for p in c.store.select("pods",
                                                                   namespace="default")}


# -- in-place update spec (pkg/util/inplaceupdate/inplace_update_test.go) ----------------

def _template(image: str, *, labels: dict[str, str] | None = None,
              env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c1", "image": image}
    if env is not None:
        c["env"] = env
    return {"metadata": {"labels": labels or {}}, "spec": {"containers": [c]}}


def test_an_image_change_is_in_place_and_an_added_env_is_not() -> None:
    """Upstream ``pkg/util/inplaceupdate/inplace_update_test.go``
    TestCalculateInPlaceUpdateSpec, cases #2 (image foo1 -> foo2), #4 (labels {k: v} ->
    {k: v, k1: v1} with the image change) and the last one (image changed and an env
    var added -> nil).
    Given a template with container c1 at foo1; when only the image becomes foo2, then
    the in-place spec is {c1: foo2}; when a label k1=v1 is added too, then the metadata
    patch adds k1=v1; when an env var is also added, then there is no in-place spec
    (InPlaceIfPossible recreates the pod)."""
    spec = calculate_in_place_spec(_template("foo1"), _template("foo2"), "new-revision")
    assert spec is not None and spec.container_images == {"c1": "foo2"}
    assert spec.revision == "new-revision" and spec.labels == {}
    spec = calculate_in_place_spec(_template("foo1", labels={"k": "v"}),
                                   _template("foo2", labels={"k": "v", "k1": "v1"}), "r")
    assert spec is not None and spec.labels == {"k1": "v1"}
    assert calculate_in_place_spec(_template("foo1"), _template(
        "foo2", env=[{"name": "k", "value": "v"}]), "r") is None


# -- CloneSet e2e: partition 99% of 4 ---------------------------------------------------

def test_partition_99_percent_of_4_with_max_unavailable_50_percent_updates_one_pod() -> None:
    """Upstream ``test/e2e/apps/v1alpha1/cloneset.go``, "CloneSet partition="99%",
    replicas=4, make sure one pod is upgraded".
    Given 4 ready replicas, InPlaceIfPossible, maxUnavailable "50%", partition "99%";
    when the image changes, then exactly 1 pod is updated (in place: same names), also
    after another 10 s, with updatedReadyReplicas 1 and expectedUpdatedReplicas 1."""
    cluster = make_cluster()
    cluster.create(cloneset(replicas=4, strategy={
        "type": "InPlaceIfPossible", "maxUnavailable": "50%", "partition": "99%"}))
    advance_until(cluster, lambda: converged(cluster))
    names = set(cs_pods(cluster))
    set_image(cluster, 2, "envoy:2")
    cluster.advance(30)
    status = get(cluster)["status"]
    assert (status["updatedReplicas"], status["updatedReadyReplicas"],
            status["expectedUpdatedReplicas"]) == (1, 1, 1)
    cluster.advance(10)
    assert get(cluster)["status"]["updatedReplicas"] == 1
    assert set(cs_pods(cluster)) == names
    assert list(cluster.clonesets.runner.errors) == []


# -- SidecarSet e2e (test/e2e/apps/v1alpha1/sidecarset.go) -------------------------------

SIDECARSETS = "sidecarsets.apps.kruise.io"


def _sidecar_cluster(sidecarset_spec: dict[str, Any], replicas: int) -> EmbeddedCluster:
    c = EmbeddedCluster(ClusterSettings(seed=11, nodes=2, kubelet=KubeletSettings(jitter=0)))
    c.create({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet",
              "metadata": {"name": "test-sidecarset"},
              "spec": {"selector": {"matchLabels": {"app": "sidecar"}}, **sidecarset_spec}})
    c.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "main"},
              "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "sidecar"}},
                       "template": {"metadata": {"labels": {"app": "sidecar"}},
                                    "spec": {"containers": [{"name": "main",
                                                             "image": "busybox:1"}]}}}})
    c.advance(30)
    return c


def _sidecar_status(c: EmbeddedCluster) -> tuple[int, int, int, int]:
    s = c.store.get(SIDECARSETS, "", "test-sidecarset")["status"]
    return s["matchedPods"], s["updatedPods"], s["updatedReadyPods"], s["readyPods"]


def _modify_sidecarset(c: EmbeddedCluster, fn: Any) -> None:
    c.store.modify(SIDECARSETS, "", "test-sidecarset", fn)
    c.settle()


def test_sidecarset_injects_before_and_after_the_app_container() -> None:
    """Upstream ``test/e2e/apps/v1alpha1/sidecarset.go``, "sidecarSet inject pod sidecar
    container" (base SidecarSet: nginx-sidecar BeforeAppContainer, busybox-sidecar
    AfterAppContainer).
    Given that SidecarSet and a Deployment with container "main"; when its pods are
    created, then each has 1 + 2 containers in the order nginx-sidecar, main,
    busybox-sidecar."""
    c = _sidecar_cluster({"containers": [
        {"name": "nginx-sidecar", "image": "nginx:1", "podInjectPolicy": "BeforeAppContainer"},
        {"name": "busybox-sidecar", "image": "busybox:1",
         "podInjectPolicy": "AfterAppContainer"}]}, replicas=1)
    [pod] = c.store.select("pods", namespace="default")
    assert [x["name"] for x in pod["spec"]["containers"]] == [
        "nginx-sidecar", "main", "busybox-sidecar"]
    assert list(c.sidecarsets.runner.errors) == []


def test_sidecarset_partition_50_percent_of_2_upgrades_one_pod_in_place() -> None:
    """Upstream ``test/e2e/apps/v1alpha1/sidecarset.go``, "sidecarSet upgrade cold sidecar
    container image, and maxUnavailable".
    Given a RollingUpdate SidecarSet and 4 pods; when the sidecar image becomes one that
    cannot be pulled with maxUnavailable "50%", then matched 4, updated 2, updatedReady 0,
    ready 2: the upgrade stops at 2 broken pods; when the image is then fixed, every pod
    (the broken ones included) is upgraded: 4/4/4/4."""
    c = _sidecar_cluster({"containers": [{"name": "nginx-sidecar", "image": "nginx:1"}],
                          "updateStrategy": {"type": "RollingUpdate"}}, replicas=2)
    assert _sidecar_status(c) == (2, 2, 2, 2)
    uids = {p["metadata"]["uid"] for p in c.store.select("pods", namespace="default")}

    def upgrade(s: dict[str, Any]) -> None:
        s["spec"]["containers"][0]["image"] = "nginx:2"
        s["spec"]["updateStrategy"]["partition"] = "50%"
    _modify_sidecarset(c, upgrade)
    c.advance(30)
    assert _sidecar_status(c) == (2, 1, 1, 2)
    _modify_sidecarset(c, lambda s: s["spec"]["updateStrategy"].pop("partition"))
    c.advance(30)
    assert _sidecar_status(c) == (2, 2, 2, 2)
    assert {p["metadata"]["uid"] for p in c.store.select("pods", namespace="default")} == uids
    assert list(c.sidecarsets.runner.errors) == []


def test_sidecarset_max_unavailable_50_percent_stops_at_2_broken_pods_then_recovers() -> None:
    """Upstream ``test/e2e/apps/v1alpha1/sidecarset.go``, "sidecarSet upgrade cold sidecar
    container image, and maxUnavailable" (its first half).
    Given a RollingUpdate SidecarSet and 4 pods; when the sidecar image becomes one that
    cannot be pulled with maxUnavailable "50%", then matched 4, updated 2, updatedReady 0,
    ready 2: the upgrade stops at 2 broken pods.
    (Upstream's second half — fixing the image then reaches 4/4/4/4 — is not asserted:
    our SidecarSet leaves the 2 broken pods out of the next upgrade because it treats a
    not-ready, not-consistent sidecar as "being upgraded", where upstream's
    ``IsSidecarSetUpgradable`` only does so when the sidecar's status is Ready.)"""
    c = _sidecar_cluster({"containers": [{"name": "nginx-sidecar", "image": "nginx:1"}],
                          "updateStrategy": {"type": "RollingUpdate"}}, replicas=4)
    c.create({"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image",
              "metadata": {"name": "invalid"},
              "spec": {"image": "nginx:invalid", "pullable": False}})

    def broken(s: dict[str, Any]) -> None:
        s["spec"]["containers"][0]["image"] = "nginx:invalid"
        s["spec"]["updateStrategy"]["maxUnavailable"] = "50%"
    _modify_sidecarset(c, broken)
    c.advance(60)
    assert _sidecar_status(c) == (4, 2, 0, 2)
    c.advance(60)
    assert _sidecar_status(c) == (4, 2, 0, 2)

    def fixed(s: dict[str, Any]) -> None:
        s["spec"]["containers"][0]["image"] = "nginx:2"
    _modify_sidecarset(c, fixed)
    c.advance(300)
    assert _sidecar_status(c) == (4, 4, 4, 4)
    assert list(c.sidecarsets.runner.errors) == []


# -- scale-down order (pkg/controller/cloneset/utils/pod_sorter_test.go) -----------------

_NOW, _THEN = "2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"


def _sort_pod(name: str, node: str, phase: str, ready: bool, restarts: int = 0,
              ready_since: str | None = None, created: str | None = None,
              cost: str | None = None) -> dict[str, Any]:
    """Upstream ``TestSortingActivePods``'s ``pod(...)`` helper (a zero time is absent)."""
    status: dict[str, Any] = {"phase": phase}
    if ready:
        cond: dict[str, Any] = {"type": "Ready", "status": "True"}
        if ready_since:
            cond["lastTransitionTime"] = ready_since
        status["conditions"] = [cond]
        status["containerStatuses"] = [{"name": "c", "restartCount": restarts}]
    meta: dict[str, Any] = {"name": name, "labels": {},
                            "annotations": {} if cost is None else {
                                "controller.kubernetes.io/pod-deletion-cost": cost}}
    if created:
        meta["creationTimestamp"] = created
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


_UNSCHEDULED = _sort_pod("unscheduled", "", "Pending", False)
_PENDING = _sort_pod("pending", "node", "Pending", False)
_UNKNOWN = _sort_pod("unknown-phase", "node", "Unknown", False)
_NOT_READY = _sort_pod("not-ready", "node", "Running", False)
_READY_NO_LTT = _sort_pod("ready-no-last-transition-time", "node", "Running", True)
_READY_NOW = _sort_pod("ready-now", "node", "Running", True, 0, _NOW, _NOW)
_READY_THEN = _sort_pod("ready-then", "node", "Running", True, 0, _THEN, _THEN)
_HIGH_RESTARTS = _sort_pod("ready-high-restarts", "node", "Running", True, 9001, _NOW, _NOW)
_CREATED_THEN = _sort_pod("ready-now-created-then", "node", "Running", True, 0, _NOW, _THEN)
_LOW_COST = _sort_pod("low-deletion-cost", "node", "Running", True, 0, _NOW, _THEN, "10")
_HIGH_COST = _sort_pod("high-deletion-cost", "node", "Running", True, 0, _NOW, _THEN, "100")


@pytest.mark.parametrize(("lesser", "greater"), [
    (_UNSCHEDULED, _PENDING), (_PENDING, _UNKNOWN), (_UNKNOWN, _NOT_READY),
    (_NOT_READY, _READY_NO_LTT), (_READY_NO_LTT, _READY_NOW), (_READY_NOW, _READY_THEN),
    (_HIGH_RESTARTS, _READY_NOW), (_READY_NOW, _CREATED_THEN), (_LOW_COST, _HIGH_COST),
], ids=lambda p: p["metadata"]["name"])
def test_scale_down_order_deletes_the_lesser_pod_first(lesser: dict[str, Any],
                                                        greater: dict[str, Any]) -> None:
    """Upstream ``pkg/controller/cloneset/utils/pod_sorter_test.go`` TestSortingActivePods,
    its ``inequalityTests`` (each pair "lesser, greater").
    Given two pods of one CloneSet on the same node (or one unscheduled); when scaling
    down picks victims in ``ActivePodsWithRanks`` order, then the lesser one comes first
    in either input order: unscheduled < Pending < Unknown < not ready < ready without a
    transition time < ready now < ready a month ago; 9001 restarts < 0; created now <
    created then; deletion cost 10 < 100."""
    for pair in ([lesser, greater], [greater, lesser]):
        order = deletion_sort(pair, available=lambda p: True, now=0.0)
        assert [p["metadata"]["name"] for p in order] == [lesser["metadata"]["name"],
                                                          greater["metadata"]["name"]]


def test_same_node_ranker_ranks_doubled_up_pods() -> None:
    """Upstream ``pkg/controller/cloneset/utils/pod_sorter_test.go`` TestSameNodeRanker.
    Given pods 0..10 where node a has 0, 4, 10; node b has 3, 6; node c has 5; node d has
    7, 8, 9; and 1, 2 are unscheduled (all otherwise equal); then the ranks are 0: 2,
    4: 1, 3: 1, 7: 2, 8: 1 and every other pod 0 (a higher rank is deleted first).
    (Upstream breaks ties between equal pods by their input order, we by name: the pods
    are named p00..p10 so that both orders agree.)"""
    nodes = {0: "a", 1: "", 2: "", 3: "b", 4: "a", 5: "c", 6: "b", 7: "d", 8: "d", 9: "d",
             10: "a"}
    pods = [{"metadata": {"name": f"p{i:02}", "labels": {}, "annotations": {}},
             "spec": {"nodeName": node}, "status": {}} for i, node in nodes.items()]
    ranks = _same_node_ranks(pods, 0.0)
    assert {k: v for k, v in ranks.items() if v} == {
        "p00": 2, "p04": 1, "p03": 1, "p07": 2, "p08": 1}


def test_scale_max_unavailable_1_with_min_ready_seconds_10_paces_creation() -> None:
    """Upstream ``test/e2e/apps/v1alpha1/cloneset.go``, "scales with minReadySeconds and
    scaleStrategy".
    Given a new CloneSet of 4 replicas with minReadySeconds 10 and
    scaleStrategy.maxUnavailable 1; when it scales up from 0, then pods are created one
    at a time, each between 10 s and 10 s + 2 s after the previous pod became Ready."""
    cluster = make_cluster()
    cluster.create(cloneset(replicas=4, minReadySeconds=10,
                            scaleStrategy={"maxUnavailable": 1}))
    advance_until(cluster, lambda: converged(cluster) and all(
        p["status"].get("conditions") for p in cs_pods(cluster).values()))
    cluster.advance(15)
    made = sorted(cs_pods(cluster).values(),
                  key=lambda p: parse_time(p["metadata"]["creationTimestamp"]))
    assert len(made) == 4
    for before, after in pairwise(made):
        ready = next(c for c in before["status"]["conditions"] if c["type"] == "Ready")
        gap = parse_time(after["metadata"]["creationTimestamp"]) - parse_time(
            ready["lastTransitionTime"])
        assert 10 <= gap <= 12
    assert list(cluster.clonesets.runner.errors) == []


# -- partition as int and percent (pkg/util/tools_test.go) -------------------------------

@pytest.mark.parametrize(("replicas", "partition", "expected"), [
    (0, "99%", 0), (10, None, 0), (9, "99%", 8), (10, "90%", 9), (10, "1%", 1),
    (99, "99%", 98), (99, "100%", 99), (99, "0%", 0), (1, "100%", 1), (1, None, 0),
    (1, "1%", 1), (10, 1, 1), (10, 0, 0), (10, 10, 10), (9, "0.01%", 1),
    (999, "99.99%", 998),
])
def test_partition_replicas_as_int_and_percent(replicas: int, partition: int | str | None,
                                               expected: int) -> None:
    """Upstream ``pkg/util/tools_test.go`` TestCalculatePartitionReplicas, every case with
    a legal partition ("replicas=nil" cases taken as replicas 1, upstream's default).
    Given replicas and a partition; then the pods kept at the old revision are: an int
    as is (capped at replicas); a percent rounded up, but one less than replicas when a
    percent short of 100% would keep them all (99% of 9 -> 8, 99% of 99 -> 98, 100% of
    99 -> 99); decimal percents too (0.01% of 9 -> 1, 99.99% of 999 -> 998)."""
    assert partition_replicas(partition, replicas) == expected


def test_a_decimal_percent_partition_is_accepted_and_resolved() -> None:
    """Upstream ``pkg/util/tools_test.go`` TestCalculatePartitionReplicas,
    "replicas=9, partition=0.01%, expected=1, err==nil" (the CloneSet webhook validates
    partition with the same ``GetScaledValueFromIntOrPercent``).
    Given a CloneSet of 9 replicas with partition "0.01%"; when it is created and its
    image changes, then expectedUpdatedReplicas is 8 and 8 pods are updated, 1 kept."""
    cluster = make_cluster()
    cluster.create(cloneset(replicas=9, strategy={"type": "InPlaceIfPossible",
                                                  "partition": "0.01%"}))
    advance_until(cluster, lambda: converged(cluster))
    set_image(cluster, 2, "envoy:2")
    cluster.advance(60)
    status = get(cluster)["status"]
    assert (status["expectedUpdatedReplicas"], status["updatedReplicas"]) == (8, 8)
    assert list(cluster.clonesets.runner.errors) == []


# -- update count (cloneset_update_test.go TestCalculateUpdateCount) ---------------------

def _update_pod(ready: bool, revision: str) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}]} if ready else {}
    return {"metadata": {"name": "", "labels": {"controller-revision-hash": revision}},
            "status": status}


@pytest.mark.parametrize(("strategy", "replicas", "old", "ready", "expected"), [
    ({}, 3, [0, 1, 2], "RRR", 1),
    ({}, 3, [0, 1, 2], "R-R", 0),
    ({}, 3, [0, 1, 2], "-RR", 1),
    ({}, 10, [0, 1, 2, 3, 4, 5, 6, 7, 8], "-RRRRRRR-R", 1),
    ({"partition": 2, "maxUnavailable": 3}, 3, [0, 1], "-RR", 0),
    ({"partition": 2, "maxUnavailable": 3}, 8, [0, 1, 2, 3, 4, 5, 6], "RRRRRRRR", 3),
    ({"partition": 0, "maxUnavailable": 2}, 5, [0, 1, 2, 3, 4], "-----", 2),
    ({"partition": 0, "maxUnavailable": 2}, 5, [0, 1, 2], "-----", 0),
    ({"partition": 0, "maxUnavailable": 2}, 5, [0, 1, 2], "---R-", 1),
    ({"partition": 0, "maxUnavailable": 2, "maxSurge": 1}, 5, [0, 1, 2, 3, 4], "------", 2),
    ({"partition": 0, "maxUnavailable": 2, "maxSurge": 1}, 5, [0, 1, 2, 3], "----R-", 2),
    ({"partition": 0, "maxUnavailable": 2, "maxSurge": 1}, 5, [0, 1, 2], "----R-", 1),
    ({"partition": 0, "maxUnavailable": 2, "maxSurge": 1}, 5, [0, 1, 2], "------", 0),
    ({"partition": 7, "maxUnavailable": 3}, 8, [0, 1, 2], "RRR-----", 3),
    ({"maxUnavailable": 2, "maxSurge": 1}, 4, [0, 1], "RRRRR", 1),
    ({"maxUnavailable": 2, "maxSurge": 1}, 4, [0, 1, 2, 3], "RRRRRR", 2),
])
def test_update_count_respects_max_unavailable_across_revisions(
        strategy: dict[str, Any], replicas: int, old: list[int], ready: str,
        expected: int) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_update_test.go``
    TestCalculateUpdateCount, all 16 cases (Recreate policy; rollback gate on; "R" a
    ready pod, "-" a pod with no status; ``old`` the current-revision indexes).
    Given the pods and strategy; when the diffs are computed and ``limitUpdateIndexes``
    caps the candidates (the old pods, or the new ones when rolling back), then this many
    pods are updated now: e.g. 3 ready old pods with the default maxUnavailable 20% of 3
    -> 1; one of them not ready -> 0 (the budget is used); 5 unready old pods,
    maxUnavailable 2 -> 2; partition 7 of 8 rolls 3 unready new pods back with
    maxUnavailable 3 -> 3; maxUnavailable 2 with maxSurge 1 and 2 surplus pods -> 2."""
    pods = [_update_pod(r == "R", "current" if i in old else "updated")
            for i, r in enumerate(ready)]
    spec = {"replicas": replicas, "updateStrategy": {"type": "ReCreate", **strategy}}
    numbers = resolve_numbers(spec, no_rollback=False)
    facts_ = [PodFacts(updated=i not in old, available=r == "R") for i, r in enumerate(ready)]
    d = calculate_diffs_with_expectation(numbers, facts_)
    if d.update_num > 0:
        wait, target = old, "updated"
    elif d.update_num < 0:
        wait, target = [i for i in range(len(pods)) if i not in old], "current"
    else:
        wait, target = [], ""
    chosen = limit_update_indexes(pods, wait, abs(d.update_num), d.update_max_unavailable,
                                  target, lambda p: bool(p["status"]))
    assert len(chosen) == expected


def test_update_order_puts_pending_and_not_ready_pods_first() -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_update_test.go``
    TestSortUpdateIndexes.
    Given pods 0 Pending+Ready, 1 Pending, 2 Pending, 3 Running+Ready, 4 Running and
    candidates [0, 1, 3, 4]; when the update order is taken, then it is [1, 0, 4, 3]
    (Pending before Running, not ready before ready)."""
    def p(phase: str, ready: bool) -> dict[str, Any]:
        conditions = [{"type": "Ready", "status": "True"}] if ready else []
        return {"metadata": {"name": "", "labels": {}},
                "status": {"phase": phase, "conditions": conditions}}
    pods = [p("Pending", True), p("Pending", False), p("Pending", False),
            p("Running", True), p("Running", False)]
    assert sort_update_indexes({"type": "ReCreate"}, pods, [0, 1, 3, 4]) == [1, 0, 4, 3]
