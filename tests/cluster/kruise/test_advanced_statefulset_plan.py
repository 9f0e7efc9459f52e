"""The Advanced StatefulSet plan as tables (upstream
``pkg/controller/statefulset/stateful_set_control.go``: ``sortPodsToUpdate``,
``rollingUpdateStatefulsetPods``, reserveOrdinals and scaleStrategy.maxUnavailable;
``stateful_set_control_test.go``)."""

from __future__ import annotations

from typing import Any

import pytest

from kitlib.cluster.kruise.statefulset.plan import AstsView, plan_advanced_statefulset

NOW = 1000.0


def pod(ordinal: int, revision: str = "old", healthy: bool = True) -> dict[str, Any]:
    name = f"web-{ordinal}"
    return {"metadata": {"name": name, "labels": {
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": name,
                "apps.kubernetes.io/pod-index": str(ordinal)}},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if healthy else "False",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def view(**over: Any) -> AstsView:
    return AstsView(**{"name": "web", "replicas": 4, "monotonic": False, **over})


@pytest.mark.parametrize(("over", "pods", "in_place", "delete"), [
    # partition 2 of 4: only the two highest ordinals, one at a time
    ({"partition": 2}, [pod(i) for i in range(4)], ["web-3"], []),
    # maxUnavailable 2 with Parallel: two at once
    ({"max_unavailable": 2}, [pod(i) for i in range(4)], ["web-3", "web-2"], []),
    # one pod already unhealthy uses one of the two slots — but it may itself be updated
    ({"max_unavailable": 2}, [pod(0), pod(1, healthy=False), pod(2), pod(3)],
     ["web-3", "web-1"], []),
    # updated pods count towards the partition budget first
    ({"partition": 2, "max_unavailable": 4}, [pod(0), pod(1), pod(2), pod(3, "new")],
     ["web-2"], []),
    # ReCreate deletes instead
    ({"policy": "ReCreate"}, [pod(i) for i in range(4)], [], ["web-3"]),
    # paused: nothing
    ({"paused": True}, [pod(i) for i in range(4)], [], []),
])
def test_the_update_picks(over: dict[str, Any], pods: list[dict[str, Any]],
                          in_place: list[str], delete: list[str]) -> None:
    sts = view(**{"policy": "InPlaceIfPossible", **over})
    by_ordinal = dict(enumerate(pods))
    ok = {p["metadata"]["name"]: True for p in pods}
    plan = plan_advanced_statefulset(sts, by_ordinal, "new", ok, NOW)
    assert (plan.in_place, plan.delete) == (in_place, delete)


def test_in_place_only_never_recreates() -> None:
    plan = plan_advanced_statefulset(view(policy="InPlaceOnly"), {3: pod(3)}, "new",
                                     {"web-3": False}, NOW)
    assert (plan.in_place, plan.delete, plan.blocked) == ([], [], ["web-3"])


def test_reserved_ordinals_are_skipped_and_their_pods_condemned() -> None:
    sts = view(replicas=3, reserve=frozenset({1}))
    assert sts.ordinals() == [0, 2, 3]
    plan = plan_advanced_statefulset(sts, {0: pod(0, "new"), 1: pod(1, "new")}, "new", {}, NOW)
    assert (plan.create, plan.delete) == ([(2, "update"), (3, "update")], ["web-1"])


def test_partition_makes_new_low_ordinals_at_the_current_revision() -> None:
    plan = plan_advanced_statefulset(view(replicas=3, partition=2), {}, "new", {}, NOW)
    assert plan.create == [(0, "current"), (1, "current"), (2, "update")]


def test_scale_max_unavailable_limits_parallel_creation() -> None:
    plan = plan_advanced_statefulset(view(replicas=5, scale_max_unavailable=2),
                                     {0: pod(0, "new", healthy=False)}, "new", {}, NOW)
    assert [o for o, _ in plan.create] == [1]


def test_ordered_ready_creates_one_and_waits() -> None:
    plan = plan_advanced_statefulset(view(monotonic=True), {}, "new", {}, NOW)
    assert plan.create == [(0, "update")]
