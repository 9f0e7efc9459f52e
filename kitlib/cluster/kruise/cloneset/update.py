"""CloneSet update: which pods move to the target revision now (reference §1.8, §1.9).

Upstream ``cloneset_update.go``. ``plan_update`` is pure:

1. candidates — pods not at the target revision (``updateNum > 0``: target is the update
   revision; ``< 0``: roll back to the current one), not ``PreparingDelete``, and not
   waiting out an in-place grace period (unless ``Updated``);
2. ``sort_update_indexes`` — k8s ``ActivePods`` order (unassigned, Pending < Unknown <
   Running, not ready, ready shorter, more restarts, newer first), then the
   ``priorityStrategy``, then the ``scatterStrategy``, then ``PreparingUpdate`` pods first;
3. ``limit_update_indexes`` — the first ``|updateNum|``, cut where the unavailable budget
   ``updateMaxUnavailable`` runs out: unavailable pods not yet at the target are free,
   every unavailable pod already at the target consumes budget.

The controller then updates each chosen pod in place if it can, or marks it
``apps.kruise.io/specified-delete`` for the Scale step to recreate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kitlib.cluster.kruise.cloneset.diff import Diffs
from kitlib.cluster.kruise.inplace import GRACE_ANNOTATION, equal_to_revision
from kitlib.cluster.kruise.lifecycle import PREPARING_DELETE, PREPARING_UPDATE, UPDATED, state_of
from kitlib.cluster.kruise.updatesort import sort_by_priority, sort_by_scatter
from kitlib.cluster.podutil import condition, is_ready
from kitlib.model.objects import meta_of, name_of, parse_time

__all__ = ["active_key", "limit_update_indexes", "plan_update", "sort_update_indexes"]

Obj = dict[str, Any]
_PHASE = {"Pending": 0, "Unknown": 1, "Running": 2}


def plan_update(pods: Sequence[Obj], diffs: Diffs, *, update_revision: str,
                current_revision: str, strategy: Obj,
                available: Callable[[Obj], bool],
                key: Callable[[Obj], tuple[Any, ...]] | None = None,
                candidate: Callable[[Obj, int, str], bool] | None = None,
                unavailable: tuple[int, int] | None = None) -> tuple[str, list[str]]:
    """(target revision, names of the pods to move to it now, in order).

    ``key`` (default ``active_key``), ``candidate`` (default: the rule in the module
    docstring) and ``unavailable`` (the unavailable pods, and those of them at the update
    revision: counted here when not given) let the controller pass memoized versions; the
    result is the same.
    """
    if diffs.update_num == 0:
        return update_revision, []
    target = update_revision if diffs.update_num > 0 else current_revision
    if unavailable is None or target != update_revision:
        unavailable = (sum(1 for p in pods if not available(p)),
                       _target_unavailable(pods, target, available))
    if unavailable[1] >= diffs.update_max_unavailable:
        return target, []  # limit_update_indexes would stop before the first candidate
    is_candidate = candidate or _is_candidate
    indexes = [i for i, p in enumerate(pods) if is_candidate(p, diffs.update_num,
                                                              update_revision)]
    ordered = sort_update_indexes(strategy, pods, indexes, key=key)
    chosen = limit_update_indexes(pods, ordered, abs(diffs.update_num),
                                  diffs.update_max_unavailable, target, available,
                                  unavailable=unavailable)
    return target, [name_of(pods[i]) for i in chosen]


def _is_candidate(pod: Obj, update_num: int, update_revision: str) -> bool:
    if equal_to_revision(pod, update_revision) == (update_num > 0):
        return False
    if state_of(pod) == PREPARING_DELETE:
        return False
    return GRACE_ANNOTATION not in (meta_of(pod).get("annotations") or {}) or \
        state_of(pod) == UPDATED


def sort_update_indexes(strategy: Obj, pods: Sequence[Obj], indexes: list[int], *,
                        key: Callable[[Obj], tuple[Any, ...]] | None = None) -> list[int]:
    keyed = key or active_key
    ordered = sorted(indexes, key=lambda i: keyed(pods[i]))
    ordered = sort_by_priority(strategy.get("priorityStrategy"), pods, ordered)
    ordered = sort_by_scatter(strategy.get("scatterStrategy"), pods, ordered)
    return sorted(ordered, key=lambda i: state_of(pods[i]) != PREPARING_UPDATE)


def active_key(pod: Obj) -> tuple[Any, ...]:
    """k8s ``ActivePods`` order as a sort key: assigned, phase, ready, ready longer first
    (``-since``), more restarts, newer first.

    Upstream compares ready time only when both pods are ready; a key can compare it
    always, because ``since`` is 0 for a pod that is not ready and two pods whose readiness
    differs are already told apart by the element before it.
    """
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    cond = condition(pod, "Ready")
    since = parse_time(cond["lastTransitionTime"]) if is_ready(pod) and cond and \
        cond.get("lastTransitionTime") else 0.0
    restarts = max((int(s.get("restartCount") or 0)
                    for s in status.get("containerStatuses") or ()), default=0)
    created = meta_of(pod).get("creationTimestamp")
    return (bool(spec.get("nodeName")), _PHASE.get(status.get("phase", ""), 0), is_ready(pod),
            -since, -restarts, -(parse_time(created) if created else 0.0))


def _target_unavailable(pods: Sequence[Obj], target: str,
                        available: Callable[[Obj], bool]) -> int:
    return sum(1 for p in pods if not available(p) and equal_to_revision(p, target))


def limit_update_indexes(pods: Sequence[Obj], ordered: list[int], update_num: int,
                         max_unavailable: int, target: str,
                         available: Callable[[Obj], bool], *,
                         unavailable: tuple[int, int] | None = None) -> list[int]:
    """Upstream ``limitUpdateIndexes``; ``unavailable``: the unavailable pods and those of
    them at ``target``, when the caller has counted them."""
    if unavailable is None:
        unavailable = (sum(1 for p in pods if not available(p)),
                       _target_unavailable(pods, target, available))
    unavailable_now, target_unavailable = unavailable
    allowed: list[int] = []
    for i in ordered[:update_num]:
        if target_unavailable + len(allowed) >= max_unavailable:
            break
        if available(pods[i]):
            if unavailable_now >= max_unavailable:
                break
            unavailable_now += 1
        allowed.append(i)
    return allowed
