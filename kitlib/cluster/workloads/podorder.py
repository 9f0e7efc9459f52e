"""Which pods a ReplicaSet deletes first when it scales down.

Upstream's ``ActivePodsWithRanks`` ordering (``pkg/controller/controller_utils.go``),
with the default feature gates (``PodDeletionCost`` and ``LogarithmicScaleDown``
on). Pods that sort first are deleted first:

1. unassigned < assigned (no ``spec.nodeName``);
2. phase Pending < Unknown < Running;
3. not ready < ready;
4. lower ``controller.kubernetes.io/pod-deletion-cost`` annotation < higher;
5. doubled up < not: more active pods of the same owner family on its node first;
6. ready for a shorter time < longer (in powers-of-two buckets of age, ties by UID);
7. more container restarts < fewer;
8. newer < older (same log buckets, ties by UID).

The sort is stable over pods sorted by name, so the result is deterministic.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from kitlib.cluster.podutil import condition, is_ready, is_terminal, is_terminating
from kitlib.model.objects import meta_of, name_of, parse_time

__all__ = ["DELETION_COST", "deletion_order", "is_active"]

Pod = dict[str, Any]

#: Annotation that ranks pods for deletion (lower cost goes first).
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def is_active(pod: Pod) -> bool:
    """Upstream ``IsPodActive``: not finished and not being deleted."""
    return not is_terminal(pod) and not is_terminating(pod)


def deletion_order(pods: Iterable[Pod], related: Iterable[Pod], now: float) -> list[Pod]:
    """``pods`` sorted so that the ones to delete first come first.

    ``related`` are the pods of every ReplicaSet of the same owner (for the
    doubled-up rank); ``now`` is the current simulated time.
    """
    on_node = Counter((p.get("spec") or {}).get("nodeName", "") for p in related
                      if is_active(p))
    facts = [_Facts(p, on_node, now) for p in sorted(pods, key=name_of)]
    facts.sort(key=functools.cmp_to_key(_compare))
    return [f.pod for f in facts]


class _Facts:
    __slots__ = ("assigned", "cost", "created", "now", "phase", "pod", "rank", "ready",
                 "ready_since", "restarts", "uid")

    def __init__(self, pod: Pod, on_node: Counter[str], now: float) -> None:
        self.pod = pod
        node = (pod.get("spec") or {}).get("nodeName", "")
        self.assigned = bool(node)
        self.phase = _PHASE_ORDINAL.get((pod.get("status") or {}).get("phase", ""), 0)
        self.ready = is_ready(pod)
        self.cost = _deletion_cost(pod)
        self.rank = on_node.get(node, 0)
        cond = condition(pod, "Ready")
        since = (cond or {}).get("lastTransitionTime")
        self.ready_since = parse_time(since) if self.ready and since else None
        self.restarts = _max_restarts(pod)
        self.created = parse_time(meta_of(pod)["creationTimestamp"])
        self.uid = str(meta_of(pod).get("uid", ""))
        self.now = now


def _compare(a: _Facts, b: _Facts) -> int:
    """Negative when ``a`` should be deleted before ``b``."""
    for left, right in ((a.assigned, b.assigned), (a.phase, b.phase), (a.ready, b.ready),
                        (a.cost, b.cost), (b.rank, a.rank)):
        if left != right:
            return -1 if left < right else 1
    if a.ready and b.ready and a.ready_since != b.ready_since:
        return _by_age(a.ready_since, b.ready_since, a, b)
    if a.restarts != b.restarts:
        return -1 if a.restarts > b.restarts else 1
    if a.created != b.created:
        return _by_age(a.created, b.created, a, b)
    return 0


def _by_age(t1: float | None, t2: float | None, a: _Facts, b: _Facts) -> int:
    """Newer first, compared in log2 buckets of age (nanoseconds), ties broken by UID."""
    if t1 is None or t2 is None:  # upstream afterOrZero: a zero time sorts first
        return -1 if t1 is None else 1
    diff = _log_bucket(a.now - t1) - _log_bucket(a.now - t2)
    if diff == 0:
        return -1 if a.uid < b.uid else (1 if a.uid > b.uid else 0)
    return -1 if diff < 0 else 1


def _log_bucket(age_seconds: float) -> int:
    nanos = age_seconds * 1e9
    return int(math.log2(nanos)) if nanos > 0 else -1


def _deletion_cost(pod: Pod) -> int:
    raw = (meta_of(pod).get("annotations") or {}).get(DELETION_COST)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _max_restarts(pod: Pod) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)
