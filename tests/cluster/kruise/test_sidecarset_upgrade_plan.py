"""The SidecarSet upgrade decision as tables (upstream
``pkg/controller/sidecarset/sidecarset_strategy_test.go``: ``TestGetNextUpgradePods``,
``TestCalculateUpgradeCount``-style cases, and ``CalculatePartitionReplicas``)."""

from __future__ import annotations

import pytest

from kitlib.cluster.kruise.sidecarset.upgrade import (
    PodState,
    calculate_partition,
    get_next_upgrade_pods,
    normalize_image,
)


@pytest.mark.parametrize(("partition", "replicas", "expected"), [
    (None, 5, 0), (2, 5, 2), (9, 5, 5), ("20%", 3, 1), ("99%", 5, 4), ("100%", 10, 10),
    ("50%", 5, 3), ("99%", 1, 1), ("0%", 4, 0)])
def test_partition_rounds_up_and_keeps_one_pod_below_100_percent(
        partition: object, replicas: int, expected: int) -> None:
    assert calculate_partition(partition, replicas) == expected


def pods(n: int, **kw: bool) -> list[PodState]:
    return [PodState(f"p{i}", order=(i,), **kw) for i in range(n)]


@pytest.mark.parametrize(("strategy", "expected"), [
    ({"maxUnavailable": 1}, ["p0"]),
    ({"maxUnavailable": 2}, ["p0", "p1"]),
    ({"maxUnavailable": "50%"}, ["p0", "p1", "p2"]),
    ({"maxUnavailable": 10, "partition": 4}, ["p0", "p1"]),
    ({"maxUnavailable": 10, "partition": "50%"}, ["p0", "p1", "p2"]),
    ({"maxUnavailable": 0}, []),
    ({"maxUnavailable": 3, "partition": 6}, []),
])
def test_ready_pods_are_upgraded_within_max_unavailable_and_partition(
        strategy: dict[str, object], expected: list[str]) -> None:
    assert get_next_upgrade_pods(strategy, pods(6)) == (expected, [])


def test_not_ready_candidates_do_not_use_the_budget() -> None:
    """Given two not-ready and two ready pods and maxUnavailable 1, then both not-ready
    pods and one ready pod are upgraded."""
    states = [PodState("a", ready=False, order=(0,)), PodState("b", ready=False, order=(1,)),
              PodState("c", order=(2,)), PodState("d", order=(3,))]
    assert get_next_upgrade_pods({"maxUnavailable": 1}, states) == (["a", "b", "c"], [])


def test_updated_pods_still_restarting_use_the_budget() -> None:
    states = [PodState("a", updated=True, consistent=False), *pods(3)]
    assert get_next_upgrade_pods({"maxUnavailable": 2}, states) == (["p0"], [])


def test_pods_with_non_image_changes_are_reported_and_left_alone() -> None:
    states = [PodState("a", upgradable=False), PodState("b", order=(1,))]
    assert get_next_upgrade_pods({"maxUnavailable": 5}, states) == (["b"], ["a"])


def test_update_selector_and_priority_pick_the_order() -> None:
    states = [PodState("a", selected=False), PodState("b", order=(0,)),
              PodState("c", order=(1,), labels={"test-key": "foo"})]
    strategy = {"maxUnavailable": 1, "priorityStrategy": {"weightPriority": [
        {"weight": 50, "matchSelector": {"matchLabels": {"test-key": "foo"}}}]}}
    assert get_next_upgrade_pods(strategy, states) == (["c"], [])


def test_order_priority_puts_the_higher_ordered_key_value_first() -> None:
    """Given 20 pods labelled key1=5 except pod-17 (10) and pod-18 (20), 10 of them
    updated, 2 of those consistent, and maxUnavailable 10 with an orderPriority on key1,
    when the next pods are chosen, then they are pod-18, pod-17 (upstream
    ``pkg/controller/sidecarset/sidecarset_strategy_test.go``, "with order priority
    strategy")."""
    values = {17: "10", 18: "20"}
    states = [PodState(f"pod-{i}", updated=i < 10, consistent=not 2 <= i < 10,
                       order=(-i,), labels={"key1": values.get(i, "5")}) for i in range(20)]
    strategy = {"maxUnavailable": 10,
                "priorityStrategy": {"orderPriority": [{"orderedKey": "key1"}]}}
    assert get_next_upgrade_pods(strategy, states) == (["pod-18", "pod-17"], [])


@pytest.mark.parametrize(("image", "normal"), [
    ("envoy", "docker.io/library/envoy:latest"), ("envoy:2", "docker.io/library/envoy:2"),
    ("istio/proxy:1", "docker.io/istio/proxy:1"), ("quay.io/a/b:1", "quay.io/a/b:1")])
def test_images_compare_as_the_runtime_reports_them(image: str, normal: str) -> None:
    assert normalize_image(image) == normal
