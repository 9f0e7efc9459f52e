"""The Deployment controller's arithmetic, as tables: fenceposts, rolling steps, Recreate,
proportional scaling, and the revision annotations (no cluster, no I/O)."""

from __future__ import annotations

import pytest

from kitlib.cluster.workloads.deployment_plan import (
    RS,
    Rollout,
    ScaleTo,
    find_active_or_latest,
    new_rs_replicas,
    plan_recreate,
    plan_rolling,
    plan_scale,
    resolve_fenceposts,
)
from kitlib.cluster.workloads.hashing import compute_hash, safe_encode
from kitlib.cluster.workloads.revisions import (
    REVISION,
    REVISION_HISTORY,
    equal_ignore_hash,
    new_rs_annotations,
)


def rolling(replicas: int, surge: int, unavailable: int, status_replicas: int = 0) -> Rollout:
    return Rollout(replicas, True, surge, unavailable, status_replicas)


def rs(name: str, replicas: int, available: int = 0, *, created: float = 0.0,
       max_replicas: int | None = None, desired: int | None = None) -> RS:
    return RS(name, replicas, available, available, replicas, created, 1, desired, max_replicas)


@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), [
    ("25%", "25%", 20, (5, 5)),
    ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable rounds down
    ("30%", "30%", 3, (1, 0)),
    (0, 0, 10, (0, 1)),  # both zero: one may be unavailable
    ("0%", "0%", 3, (0, 1)),
    (2, "10%", 5, (2, 0)),
    (7, 7, 5, (7, 7)),  # integers are not clamped
], ids=["quarter-of-20", "quarter-of-10", "30pc-of-3", "zero-zero", "zero-pc", "int-and-pc",
        "above-total"])
def test_fenceposts_round_surge_up_and_unavailable_down(surge: object, unavailable: object,
                                                        desired: int,
                                                        expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize(("olds", "new", "expected"), [
    ([rs("old", 20)], None, 5),  # a new ReplicaSet starts with the surge
    ([rs("old", 15)], rs("new", 5), 10),
    ([rs("old", 20)], rs("new", 5), 5),  # 25 planned already: no more
    ([rs("old", 2)], rs("new", 18), 20),  # never above spec.replicas
], ids=["creation", "room-for-5", "at-max-total", "capped-at-replicas"])
def test_the_new_replica_set_grows_within_max_surge(olds: list[RS], new: RS | None,
                                                    expected: int) -> None:
    all_rss = [*olds, *([new] if new else [])]
    assert new_rs_replicas(rolling(20, 5, 5), all_rss, new) == expected


@pytest.mark.parametrize(("new", "olds", "expected"), [
    # Surge first: the new ReplicaSet takes what maxSurge leaves.
    (rs("new", 5), [rs("old", 15, 15)], (ScaleTo("new", 10),)),
    # 25 planned, 5 new pods unavailable: old may lose available − minAvailable = 5.
    (rs("new", 5), [rs("old", 20, 20)], (ScaleTo("old", 15),)),
    # Nothing new is available yet: no old pod may go.
    (rs("new", 10), [rs("old", 15, 15)], ()),
    # Five new pods became available: five old ones may go.
    (rs("new", 10, 5), [rs("old", 15, 15)], (ScaleTo("old", 10),)),
    # The 8 unavailable old pods go first (budget 25 − 15 = 10), then 2 of the 17
    # available ones, which leaves exactly minAvailable = 15.
    (rs("new", 5, 5), [rs("old", 20, 12)], (ScaleTo("old", 10),)),
    # Oldest ReplicaSet first.
    (rs("new", 20, 20), [rs("b", 3, 3, created=2.0), rs("a", 2, 2, created=1.0)],
     (ScaleTo("a", 0), ScaleTo("b", 0))),
    # A new ReplicaSet above spec.replicas is scaled down to it.
    (rs("new", 22, 22), [], (ScaleTo("new", 20),)),
    (rs("new", 20, 20), [], ()),
], ids=["scale-up", "scale-down-after-surge", "wait-for-new-pods", "replace-available",
        "unhealthy-first", "oldest-first", "new-too-big", "done"])
def test_a_rolling_step_never_breaks_either_bound(new: RS, olds: list[RS],
                                                  expected: tuple[ScaleTo, ...]) -> None:
    assert plan_rolling(rolling(20, 5, 5), new, olds) == expected


def test_recreate_scales_old_down_then_waits_for_their_pods_then_creates() -> None:
    d = Rollout(4, rolling=False)
    assert plan_recreate(d, None, [rs("old", 4, 4)], old_pods=4).scales == (ScaleTo("old", 0),)
    assert plan_recreate(d, None, [rs("old", 0)], old_pods=2).waiting
    assert plan_recreate(d, None, [rs("old", 0)], old_pods=0).create_new
    assert plan_recreate(d, rs("new", 0), [rs("old", 0)], old_pods=0).scales == (
        ScaleTo("new", 4),)


def test_proportional_scaling_spreads_new_replicas_by_size() -> None:
    """Kubernetes' documented example: 10 replicas (maxSurge 3) mid-rollout with 8 old and 5
    new pods, scaled to 15: 3 go to the old ReplicaSet and 2 to the new one."""
    d = rolling(15, 3, 2, status_replicas=13)
    old = rs("old", 8, 8, created=1.0, max_replicas=13, desired=10)
    new = rs("new", 5, 0, created=2.0, max_replicas=13, desired=10)
    assert plan_scale(d, new, [old]) == (ScaleTo("old", 11), ScaleTo("new", 7))


def test_scaling_with_one_active_replica_set_resizes_only_that_one() -> None:
    d = rolling(7, 2, 1)
    assert plan_scale(d, rs("new", 3, 3), [rs("old", 0)]) == (ScaleTo("new", 7),)
    assert find_active_or_latest(None, [rs("a", 0, created=1), rs("b", 0, created=2)]) == \
        rs("b", 0, created=2)


def test_a_saturated_new_replica_set_scales_every_old_one_to_zero() -> None:
    d = rolling(3, 1, 0)
    new = rs("new", 3, 3, desired=3)
    assert plan_scale(d, new, [rs("old", 2, 2)]) == (ScaleTo("old", 0),)


def test_pod_template_hashes_use_the_safe_alphabet_and_the_collision_count() -> None:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]}}
    digest = compute_hash(template)
    assert 1 <= len(digest) <= 10 and set(digest) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert digest == compute_hash(dict(reversed(list(template.items()))))  # key order
    assert compute_hash(template, 1) != digest
    assert safe_encode("0123456789") == "456789bcdf"  # digits map as in Go


def test_templates_compare_without_their_hash_label_and_nulls() -> None:
    deployed = {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                "spec": {"containers": []}}
    stored = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
              "spec": {"containers": []}}
    assert equal_ignore_hash(deployed, stored)
    assert not equal_ignore_hash(deployed, {**stored, "spec": {"containers": [{}]}})


def test_a_reused_replica_set_gets_the_next_revision_and_keeps_its_old_one() -> None:
    deployment = {"metadata": {"annotations": {"kubernetes.io/change-cause": "v1",
                                               REVISION: "2"}}}
    notes = new_rs_annotations(deployment, {REVISION: "1"}, 3, exists=True, desired=3,
                               max_replicas=4)
    assert notes == {REVISION: "3", REVISION_HISTORY: "1", "kubernetes.io/change-cause": "v1"}
    fresh = new_rs_annotations(deployment, {}, 1, exists=False, desired=3, max_replicas=4)
    assert fresh == {REVISION: "1", "kubernetes.io/change-cause": "v1",
                     "deployment.kubernetes.io/desired-replicas": "3",
                     "deployment.kubernetes.io/max-replicas": "4"}
