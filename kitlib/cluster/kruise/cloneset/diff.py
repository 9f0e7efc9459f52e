"""The core arithmetic of a CloneSet: ``calculate_diffs_with_expectation`` (reference §1.3, §1.6).

Upstream ``pkg/controller/cloneset/sync/cloneset_sync_utils.go``. Given the spec's
numbers (already resolved against ``replicas`` with upstream's rounding by
``resolve_numbers``) and one ``PodFacts`` per active pod, it says how many pods to
create or delete (and how many of those at the old revision), how many to move to
the update revision (or back, with ``CloneSetPartitionRollback``) and the budgets for
deleting ready pods and for updating. Pure and table-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.kruise.partition import partition_replicas
from kitlib.model.intstr import scaled_value

__all__ = ["Diffs", "Numbers", "PodFacts", "calculate_diffs_with_expectation",
           "partition_replicas", "resolve_numbers"]

MAX_INT32 = 2**31 - 1


@dataclass(frozen=True)
class PodFacts:
    """What the arithmetic needs to know of one active pod."""

    updated: bool
    available: bool = True
    preparing_delete: bool = False
    specified_delete: bool = False


@dataclass(frozen=True)
class Numbers:
    """The spec's numbers, resolved against ``replicas``."""

    replicas: int
    partition: int = 0
    max_surge: int = 0
    max_unavailable: int = 1
    scale_max_unavailable: int = MAX_INT32
    #: currentRevision == updateRevision or the CloneSetPartitionRollback gate is off.
    no_rollback: bool = True
    exclude_preparing_delete: bool = False


@dataclass(frozen=True)
class Diffs:
    scale_up_num: int = 0
    scale_up_num_old_revision: int = 0
    scale_up_limit: int = 0
    scale_down_num: int = 0
    scale_down_num_old_revision: int = 0
    delete_ready_limit: int = 0
    use_surge: int = 0
    use_surge_old_revision: int = 0
    update_num: int = 0
    update_max_unavailable: int = 0


def resolve_numbers(spec: dict[str, Any], *, no_rollback: bool) -> Numbers:
    """The ``Numbers`` of a CloneSet spec (v1alpha1 field names)."""
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("updateStrategy") or {}
    scale = spec.get("scaleStrategy") or {}
    surge = 0 if strategy.get("paused") else scaled_value(
        strategy.get("maxSurge"), replicas, round_up=True, field="maxSurge")
    unavailable = scaled_value(strategy.get("maxUnavailable", "20%"), replicas,
                               round_up=surge == 0, field="maxUnavailable")
    scale_unavailable = scaled_value(scale.get("maxUnavailable"), replicas, round_up=True,
                                     default=MAX_INT32, field="maxUnavailable")
    return Numbers(replicas, partition_replicas(strategy.get("partition"), replicas), surge,
                   unavailable, scale_unavailable, no_rollback,
                   bool(scale.get("excludePreparingDelete")))


@dataclass
class _Counts:
    active: list[int]
    pre_deleting: list[int]
    to_delete: list[int]
    unavailable: list[int]
    count: list[int]


def _count(pods: Sequence[PodFacts]) -> _Counts:
    c = _Counts([0, 0], [0, 0], [0, 0], [0, 0], [0, 0])
    for pod in pods:
        b = 1 if pod.updated else 0
        c.count[b] += 1
        if pod.preparing_delete:
            c.pre_deleting[b] += 1
            continue
        c.active[b] += 1
        if pod.specified_delete:
            c.to_delete[b] += 1
        elif not pod.available:
            c.unavailable[b] += 1
    return c


def _surge(n: Numbers, c: _Counts, old_diff: int, new_diff: int,
           total_unavailable: int) -> tuple[int, int]:
    to_delete = sum(c.to_delete)
    scale_surge = scale_old_surge = 0
    if to_delete > 0:
        scale_surge = min(max(total_unavailable + to_delete - n.max_unavailable, 0), to_delete)
        if scale_surge > c.to_delete[1]:
            scale_old_surge = scale_surge - c.to_delete[1]
    update_surge = update_old_surge = 0
    if (old_diff > 0 > new_diff) or (old_diff < 0 < new_diff):
        if abs(old_diff) <= abs(new_diff):
            update_surge = abs(old_diff)
            update_old_surge = update_surge if old_diff < 0 else 0
        else:
            update_surge = abs(new_diff)
            update_old_surge = update_surge if new_diff > 0 else 0
    if scale_surge >= update_surge:
        use = min(n.max_surge, scale_surge)
        return use, min(use, scale_old_surge)
    use = min(n.max_surge, update_surge)
    return use, min(use, update_old_surge)


def calculate_diffs_with_expectation(n: Numbers, pods: Sequence[PodFacts]) -> Diffs:
    c = _count(pods)
    old_diff = c.active[0] - n.partition
    new_diff = c.active[1] - (n.replicas - n.partition)
    total_unavailable = sum(c.pre_deleting) + sum(c.unavailable)
    if n.no_rollback:
        old_diff, new_diff = max(old_diff, 0), min(new_diff, 0)
    use_surge = use_surge_old = 0
    if n.max_surge > 0:
        use_surge, use_surge_old = _surge(n, c, old_diff, new_diff, total_unavailable)
    cur_total, cur_old = len(pods), c.count[0]
    if n.exclude_preparing_delete:
        cur_total -= sum(c.pre_deleting)
        cur_old -= c.pre_deleting[0]
    exp_total, exp_old = n.replicas + use_surge, n.partition + use_surge_old
    to_delete = sum(c.to_delete)
    out: dict[str, int] = {"use_surge": use_surge, "use_surge_old_revision": use_surge_old}
    if exp_total - cur_total > 0:
        out["scale_up_num"] = exp_total - cur_total
        out["scale_up_num_old_revision"] = max(exp_old - cur_old, 0)
        out["scale_up_limit"] = min(out["scale_up_num"],
                                    max(n.scale_max_unavailable - total_unavailable, 0))
    if cur_total - to_delete - exp_total > 0:
        out["scale_down_num"] = cur_total - to_delete - exp_total
        out["scale_down_num_old_revision"] = max(cur_old - c.to_delete[0] - exp_old, 0)
    if to_delete > 0 or out.get("scale_down_num", 0) > 0:
        out["delete_ready_limit"] = max(
            n.max_unavailable + (len(pods) - n.replicas) - total_unavailable, 0)
    update_num = old_diff if abs(old_diff) <= abs(new_diff) else -new_diff
    out["update_num"] = update_num
    if update_num != 0:
        out["update_max_unavailable"] = n.max_unavailable + len(pods) - n.replicas
    return Diffs(**out)

