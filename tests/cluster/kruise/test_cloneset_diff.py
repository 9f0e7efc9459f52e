"""``calculate_diffs_with_expectation`` as a table of stories (reference §1.3, §1.6, §1.13).

Cases follow upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils_test.go``
(``TestCalculateDiffsWithExpectation``) and the worked examples of the reference."""

from __future__ import annotations

import pytest

from kitlib.cluster.kruise.cloneset.diff import (
    Diffs,
    Numbers,
    PodFacts,
    calculate_diffs_with_expectation,
    partition_replicas,
    resolve_numbers,
)

OLD = PodFacts(updated=False)
NEW = PodFacts(updated=True)
OLD_UNAVAILABLE = PodFacts(updated=False, available=False)
NEW_UNAVAILABLE = PodFacts(updated=True, available=False)
OLD_TO_DELETE = PodFacts(updated=False, specified_delete=True)
NEW_PREPARING_DELETE = PodFacts(updated=True, preparing_delete=True)

CASES = [
    ("a steady CloneSet at its revision has nothing to do",
     Numbers(5, max_unavailable=1), [NEW] * 5, Diffs()),
    ("the worked trace: 5 old pods, partition 2, maxUnavailable 1 -> move 3, one at a time",
     Numbers(5, partition=2, max_unavailable=1), [OLD] * 5,
     Diffs(update_num=3, update_max_unavailable=1)),
    ("scaling up from 3 to 5 creates 2 at the update revision",
     Numbers(5, max_unavailable=1), [NEW] * 3,
     Diffs(scale_up_num=2, scale_up_limit=2)),
    ("scaling up with partition 4 creates the missing pods at the old revision first",
     Numbers(5, partition=4, max_unavailable=1), [OLD] * 2,
     Diffs(scale_up_num=3, scale_up_num_old_revision=2, scale_up_limit=3)),
    ("scaleStrategy.maxUnavailable 1 with one unavailable pod blocks creation",
     Numbers(5, max_unavailable=1, scale_max_unavailable=1), [NEW_UNAVAILABLE, NEW],
     Diffs(scale_up_num=3, scale_up_limit=0)),
    ("scaling down from 5 to 3 deletes the 2 old pods, up to 1 + 2 surplus of them ready",
     Numbers(3, max_unavailable=1), [OLD] * 2 + [NEW] * 3,
     Diffs(scale_down_num=2, scale_down_num_old_revision=2, delete_ready_limit=3)),
    ("a specified-delete pod is not surplus; the one unavailable pod uses the budget",
     Numbers(3, max_unavailable=1), [OLD_TO_DELETE, NEW_UNAVAILABLE, NEW, NEW],
     Diffs(delete_ready_limit=1)),
    ("maxSurge 1 on an update of 3 old pods creates one new surge pod",
     Numbers(3, max_surge=1, max_unavailable=0), [OLD] * 3,
     Diffs(scale_up_num=1, scale_up_limit=1, use_surge=1, update_num=3,
           update_max_unavailable=0)),
    ("with the surge pod there, the budget to update grows by one",
     Numbers(3, max_surge=1, max_unavailable=0), [OLD] * 3 + [NEW],
     Diffs(use_surge=1, update_num=2, update_max_unavailable=1)),
    ("without the rollback gate, raising partition above the old pods does nothing",
     Numbers(5, partition=4, max_unavailable=1), [OLD] + [NEW] * 4, Diffs()),
    ("with CloneSetPartitionRollback, partition 4 rolls 3 updated pods back",
     Numbers(5, partition=4, max_unavailable=1, no_rollback=False), [OLD] + [NEW] * 4,
     Diffs(update_num=-3, update_max_unavailable=1)),
    ("a PreparingDelete pod is unavailable, not active, but still counts in the total",
     Numbers(2, max_unavailable=1), [NEW_PREPARING_DELETE, NEW, NEW],
     Diffs(scale_down_num=1, delete_ready_limit=1)),
]


@pytest.mark.parametrize(("story", "numbers", "pods", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_diffs(story: str, numbers: Numbers, pods: list[PodFacts], expected: Diffs) -> None:
    assert calculate_diffs_with_expectation(numbers, pods) == expected


@pytest.mark.parametrize(("partition", "replicas", "kept_old"), [
    (0, 5, 0), (2, 5, 2), (9, 5, 5), ("99%", 5, 4), ("100%", 10, 10), ("50%", 5, 3),
    ("20%", 3, 1), ("99%", 1, 1), (None, 4, 0)])
def test_partition_rounds_up_and_a_percent_short_of_100_keeps_one_pod_new(
        partition: int | str | None, replicas: int, kept_old: int) -> None:
    assert partition_replicas(partition, replicas) == kept_old


@pytest.mark.parametrize(("strategy", "surge", "unavailable"), [
    ({}, 0, 1),                                               # 20% of 3 rounds up
    ({"maxSurge": "30%", "maxUnavailable": "40%"}, 2, 2),     # 5: ceil(1.5), floor(2.0)
    ({"maxSurge": "30%", "maxUnavailable": "30%"}, 2, 1),     # 5: floor(1.5)
    ({"maxSurge": 2, "paused": True}, 0, 1),                  # paused forces maxSurge 0
])
def test_max_unavailable_rounds_down_only_when_max_surge_is_set(
        strategy: dict[str, object], surge: int, unavailable: int) -> None:
    replicas = 3 if not strategy or strategy.get("paused") else 5
    numbers = resolve_numbers({"replicas": replicas, "updateStrategy": strategy},
                              no_rollback=True)
    assert (numbers.max_surge, numbers.max_unavailable) == (surge, unavailable)
