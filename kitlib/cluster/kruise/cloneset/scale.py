"""CloneSet scale: what to create and delete (reference §1.4, §1.7; upstream ``cloneset_scale.go``).

``plan_scale`` is pure: over the active pods and the ``Diffs`` it returns one
``ScalePlan`` — cancel pending deletions, or create ``create_old``/``create_new`` pods,
or delete (``delete``; pods with a ``preDelete`` hook go to ``PreparingDelete``
instead, decided by the caller with ``lifecycle.is_hooked``). An empty plan means
"not scaled", and only then does the Update step run.

Scale-down victims (``choose_pods_to_delete``): old-revision pods first (as many as
``scaleDownNumOldRevision``), each group in ``deletion_sort`` order — unassigned,
Pending < Unknown < Running, not available < available, not ready < ready, lower
``pod-deletion-cost``, higher same-node rank, shorter ready, more restarts, newer.

``new_pod_name``/``pod_labels``: pods are ``<cs>-<id>`` with a 5-character id in the
k8s alphabet, labelled ``apps.kruise.io/cloneset-instance-id``, the revision labels and
``lifecycle.apps.kruise.io/state: PreparingNormal``.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.kruise.cloneset.diff import Diffs, PodFacts
from kitlib.cluster.kruise.lifecycle import PREPARING_DELETE, state_of
from kitlib.cluster.podutil import condition, is_ready
from kitlib.cluster.workloads.podorder import DELETION_COST
from kitlib.model.objects import meta_of, name_of, parse_time

__all__ = ["INSTANCE_ID", "SPECIFIED_DELETE", "ScalePlan", "choose_pods_to_delete",
           "deletion_sort", "is_specified_delete", "new_instance_id", "plan_scale"]

Obj = dict[str, Any]
INSTANCE_ID = "apps.kruise.io/cloneset-instance-id"
SPECIFIED_DELETE = "apps.kruise.io/specified-delete"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_PHASE = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True)
class ScalePlan:
    cancel_preparing_delete: tuple[str, ...] = ()
    create_old: int = 0
    create_new: int = 0
    delete: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.cancel_preparing_delete or self.create_old or self.create_new
                    or self.delete)


def is_specified_delete(pod: Obj, pods_to_delete: Sequence[str]) -> bool:
    return SPECIFIED_DELETE in (meta_of(pod).get("labels") or {}) or \
        name_of(pod) in pods_to_delete


def new_instance_id(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(5))


def plan_scale(pods: Sequence[Obj], diffs: Diffs, *, replicas: int,
               pods_to_delete: Sequence[str], ready_now: Callable[[Obj], bool],
               is_updated: Callable[[Obj], bool], keep_preparing_delete: bool,
               sort: Callable[[list[Obj]], list[Obj]],
               facts: Sequence[PodFacts] | None = None) -> ScalePlan:
    """Upstream ``Scale`` steps 1, 3-6 (``diffs`` is step 2).

    ``facts``: the ``PodFacts`` the diffs were computed from, one per pod in order (their
    specified-delete and preparing-delete flags are then not recomputed)."""
    if facts is None:
        specified = [p for p in pods if is_specified_delete(p, pods_to_delete)]
        preparing = [p for p in pods if state_of(p) == PREPARING_DELETE]
    else:
        specified = [p for p, f in zip(pods, facts, strict=True) if f.specified_delete]
        preparing = [p for p, f in zip(pods, facts, strict=True) if f.preparing_delete]
    num_to_delete = len({name_of(p) for p in [*specified, *preparing]})
    if not keep_preparing_delete:
        gap = replicas - len(pods) + num_to_delete
        cancel = [name_of(p) for p in preparing if p not in specified][:max(gap, 0)]
        if cancel:
            return ScalePlan(cancel_preparing_delete=tuple(cancel))
    if diffs.scale_up_num > 0:
        old = min(diffs.scale_up_limit, diffs.scale_up_num_old_revision)
        return ScalePlan(create_old=old, create_new=diffs.scale_up_limit - old)
    if preparing:
        return ScalePlan(delete=tuple(name_of(p) for p in preparing))
    plain = [p for p in specified if state_of(p) != PREPARING_DELETE]
    if plain:
        victims = _ready_limited(plain, diffs.delete_ready_limit, ready_now)
        if victims:
            return ScalePlan(delete=tuple(victims))
    if diffs.scale_down_num > 0 and num_to_delete == 0:
        chosen = choose_pods_to_delete(pods, diffs.scale_down_num,
                                       diffs.scale_down_num_old_revision, is_updated, sort)
        return ScalePlan(delete=tuple(_ready_limited(chosen, diffs.delete_ready_limit,
                                                     ready_now)))
    return ScalePlan()


def _ready_limited(pods: Sequence[Obj], limit: int, ready_now: Callable[[Obj], bool]) -> list[str]:
    not_ready = [name_of(p) for p in pods if not ready_now(p)]
    ready = [name_of(p) for p in pods if ready_now(p)]
    return not_ready + ready[:max(limit, 0)]


def choose_pods_to_delete(pods: Sequence[Obj], total: int, old_diff: int,
                          is_updated: Callable[[Obj], bool],
                          sort: Callable[[list[Obj]], list[Obj]]) -> list[Obj]:
    """Upstream ``choosePodsToDelete``: ``old_diff`` old-revision pods, the rest updated."""
    old = [p for p in pods if not is_updated(p)]
    new = [p for p in pods if is_updated(p)]

    def pick(group: list[Obj], n: int) -> list[Obj]:
        return group if n >= len(group) else sort(group)[:n]
    if old_diff >= total:
        return pick(old, total)
    return pick(old, old_diff) + pick(new, total - old_diff)


# -- ActivePodsWithRanks ----------------------------------------------------------------

def deletion_sort(pods: Sequence[Obj], *, available: Callable[[Obj], bool],
                  now: float) -> list[Obj]:
    """``pods`` in upstream ``ActivePodsWithRanks`` order (deleted first come first)."""
    ranks = _same_node_ranks(pods, now)
    facts = {name_of(p): _facts(p, available, now) for p in pods}

    def cmp(a: Obj, b: Obj) -> int:
        return _compare(facts[name_of(a)], ranks[name_of(a)], facts[name_of(b)],
                        ranks[name_of(b)])
    return sorted(sorted(pods, key=name_of), key=functools.cmp_to_key(cmp))


def _facts(pod: Obj, available: Callable[[Obj], bool], now: float) -> tuple[Any, ...]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ready = condition(pod, "Ready")
    since = parse_time(ready["lastTransitionTime"]) if is_ready(pod) and ready and \
        ready.get("lastTransitionTime") else None
    try:
        cost = int((meta_of(pod).get("annotations") or {}).get(DELETION_COST, "0"))
    except ValueError:
        cost = 0
    restarts = max((int(s.get("restartCount") or 0)
                    for s in status.get("containerStatuses") or ()), default=0)
    created = meta_of(pod).get("creationTimestamp")
    return (bool(spec.get("nodeName")), _PHASE.get(status.get("phase", ""), 0),
            available(pod), is_ready(pod), cost, since, restarts,
            parse_time(created) if created else None)


def _compare(a: tuple[Any, ...], ra: int, b: tuple[Any, ...], rb: int) -> int:
    for i in range(5):  # assigned, phase, available, ready, cost: lower first
        if a[i] != b[i]:
            return -1 if a[i] < b[i] else 1
    if ra != rb:
        return -1 if ra > rb else 1
    if a[3] and b[3] and a[5] != b[5]:  # ready more recently first
        if a[5] is None or b[5] is None:  # upstream afterOrZero: a zero time sorts first
            return -1 if a[5] is None else 1
        return -1 if a[5] > b[5] else 1
    if a[6] != b[6]:
        return -1 if a[6] > b[6] else 1
    if a[7] != b[7]:
        if a[7] is None or b[7] is None:
            return -1 if a[7] is None else 1
        return -1 if a[7] > b[7] else 1
    return 0


def _same_node_ranks(pods: Sequence[Obj], now: float) -> dict[str, int]:
    """Upstream ``SameNodeRanker``: on a node with k pods, the best gets 0, the rest k-1…1."""
    by_node: dict[str, list[Obj]] = defaultdict(list)
    for p in sorted(pods, key=name_of):
        by_node[str((p.get("spec") or {}).get("nodeName", ""))].append(p)
    ranks: dict[str, int] = {}
    for node, group in by_node.items():
        if not node or len(group) == 1:
            ranks.update({name_of(p): 0 for p in group})
            continue
        ordered = _plain_order(group, now)
        for i, p in enumerate(ordered):
            ranks[name_of(p)] = len(ordered) - 1 - i
    return ranks


def _plain_order(group: list[Obj], now: float) -> list[Obj]:
    facts = {name_of(p): _facts(p, is_ready, now) for p in group}

    def cmp(a: Obj, b: Obj) -> int:
        return _compare(facts[name_of(a)], 0, facts[name_of(b)], 0)
    return sorted(group, key=functools.cmp_to_key(cmp))
