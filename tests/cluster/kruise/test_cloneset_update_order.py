"""Which pods a CloneSet updates first, and how many at once (pure, no cluster).

Upstream: ``pkg/controller/cloneset/sync/cloneset_update_test.go`` (limitUpdateIndexes),
``pkg/util/updatesort/priority_sort_test.go``, ``scatter_sort_test.go``; reference §1.8, §1.9.
"""

from __future__ import annotations

from typing import Any

import pytest

from kitlib.cluster.kruise.cloneset.diff import Diffs
from kitlib.cluster.kruise.cloneset.update import limit_update_indexes, plan_update
from kitlib.cluster.kruise.updatesort import sort_by_priority, sort_by_scatter

Obj = dict[str, Any]
OLD, NEW = "cs-old", "cs-new"


def pod(name: str, revision: str = OLD, ready: bool = True, **labels: str) -> Obj:
    return {"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"controller-revision-hash": revision, **labels}},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": "2026-01-01T00:00:05Z"}]}}


def available(p: Obj) -> bool:
    return bool(p["status"]["conditions"][0]["status"] == "True")


def names(pods: list[Obj], indexes: list[int]) -> list[str]:
    return [pods[i]["metadata"]["name"] for i in indexes]


def test_weight_priority_updates_the_heaviest_pods_first() -> None:
    pods = [pod("a"), pod("b", tier="db"), pod("c", zone="x"), pod("d", tier="db", zone="x")]
    strategy = {"weightPriority": [
        {"weight": 50, "matchSelector": {"matchLabels": {"tier": "db"}}},
        {"weight": 30, "matchSelector": {"matchLabels": {"zone": "x"}}}]}
    assert names(pods, sort_by_priority(strategy, pods, [0, 1, 2, 3])) == ["d", "b", "c", "a"]


def test_order_priority_takes_keys_in_order_and_higher_numbers_first() -> None:
    pods = [pod("a"), pod("b", order="sts-2"), pod("c", order="sts-10"), pod("d", other="1")]
    strategy = {"orderPriority": [{"orderedKey": "order"}, {"orderedKey": "other"}]}
    assert names(pods, sort_by_priority(strategy, pods, [0, 1, 2, 3])) == ["c", "b", "d", "a"]


def test_scatter_spreads_matching_pods_through_the_order() -> None:
    pods = [pod(f"p{i}", **({"zone": "a"} if i < 3 else {})) for i in range(6)]
    order = sort_by_scatter([{"key": "zone", "value": "a"}], pods, list(range(6)))
    zones = ["a" if i < 3 else "-" for i in order]
    # 2 matched + 3 unmatched after holding the last match back: 2 groups of 1 + 2 (1.5 → 2)
    assert zones == ["a", "-", "-", "a", "-", "a"]


@pytest.mark.parametrize(("story", "pods", "update_num", "max_unavailable", "expected"), [
    ("with all pods available, maxUnavailable 2 allows 2",
     [pod("a"), pod("b"), pod("c")], 3, 2, ["a", "b"]),
    ("an unavailable old pod is updated for free",
     [pod("a", ready=False), pod("b"), pod("c")], 3, 1, ["a"]),
    ("an unavailable pod already at the target uses up the budget",
     [pod("a", NEW, ready=False), pod("b"), pod("c")], 2, 1, []),
    ("update_num caps the count", [pod("a"), pod("b"), pod("c")], 1, 3, ["a"]),
])
def test_limit_update_indexes(story: str, pods: list[Obj], update_num: int,
                              max_unavailable: int, expected: list[str]) -> None:
    candidates = [i for i, p in enumerate(pods)
                  if p["metadata"]["labels"]["controller-revision-hash"] != NEW]
    chosen = limit_update_indexes(pods, candidates, update_num, max_unavailable, NEW, available)
    assert names(pods, chosen) == expected


def test_plan_update_puts_not_ready_pods_first() -> None:
    pods = [pod("a"), pod("b", ready=False), pod("c")]
    target, chosen = plan_update(pods, Diffs(update_num=3, update_max_unavailable=1),
                                 update_revision=NEW, current_revision=OLD, strategy={},
                                 available=available)
    assert (target, chosen) == (NEW, ["b"])
