"""Scheduler: binds pending pods to nodes, as kube-scheduler's default profile does.

A pod is pending when it has no ``spec.nodeName``, is not terminating or finished,
and names ``default-scheduler`` (the default). For each, the scheduler:

1. filters nodes (``scheduling.filters``: unschedulable, taints, node affinity and
   selector, resources) in a rotating order over the zone-interleaved node list,
   stopping once it has found ``numFeasibleNodesToFind`` feasible nodes (all nodes
   below 100; 5–50 % of them above, as upstream's ``percentageOfNodesToScore``);
2. scores the feasible ones — fewest pods of the same controller on the node, then
   in the node's zone, then least allocated — and breaks ties with the seeded
   ``scheduler`` random stream;
3. binds through the ``pods/binding`` subresource (``spec.nodeName`` and
   ``PodScheduled=True``) and records ``Scheduled`` "Successfully assigned ns/p to n".

A pod that fits nowhere gets ``PodScheduled=False`` reason ``Unschedulable`` with
upstream's message and a ``FailedScheduling`` Warning event. It is retried when the
cluster changes in a way that may help — a node added or changed (its facts, not
its heartbeat), or, for pods short of resources, a bound pod deleted or finished —
no sooner than its back-off (1 s doubling to 10 s per attempt), and otherwise every
``SchedulerSettings.unschedulable_retry`` seconds.

Invariants: the node facts and per-node tallies in ``SchedulerCache`` follow store
events, so a decision costs one pass over (a prefix of) the node list and never a
scan of pods; all iteration is in a deterministic order and all randomness comes
from the ``scheduler`` stream. Not modelled: preemption, pod (anti-)affinity,
topology spread constraints, host ports, volumes, multiple profiles.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.podutil import is_terminal, set_condition
from kitlib.cluster.scheduling import (
    PodFacts,
    Rejection,
    SchedulerCache,
    filter_node,
    fit_error_message,
    num_feasible_nodes_to_find,
)
from kitlib.cluster.scheduling.filters import NO_NODES, TaintKey
from kitlib.engine.loop import Priority
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.store.watch import WatchEvent

__all__ = ["SCHEDULER_NAME", "Scheduler"]

SCHEDULER_NAME = "default-scheduler"
_GATED = "Scheduling is blocked due to non-empty scheduling gates"

PodKey = tuple[str, str]


@dataclass(slots=True)
class _Waiting:
    """An unschedulable pod: how often it failed, when last, and whether resources were
    among the reasons (then a pod leaving a node may help)."""

    attempts: int
    last: float
    short_of_resources: bool


@dataclass(frozen=True, slots=True)
class _Failure:
    message: str
    short_of_resources: bool


def wants_scheduling(pod: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return (not spec.get("nodeName") and not pod["metadata"].get("deletionTimestamp")
            and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
            and not is_terminal(pod))


class Scheduler:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.scheduler
        self.cache = SchedulerCache()
        self.runner: Runner[PodKey] = Runner(ctx.engine, "scheduler", self.reconcile)
        self._rng = ctx.engine.rng_for("scheduler")
        self._next_start = 0
        self._waiting: dict[PodKey, _Waiting] = {}
        self._move_scheduled = False
        self._move_all = False
        ctx.store.subscribe("nodes", self._on_node)
        ctx.store.subscribe("pods", self._on_pod)

    # -- events ---------------------------------------------------------------------------

    def _on_node(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            self.cache.remove_node(event.obj["metadata"]["name"])
        elif self.cache.set_node(event.obj):
            self._request_move(all_pods=True)

    def _on_pod(self, event: WatchEvent) -> None:
        pod, prev = event.obj, event.prev
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        status_only = event.type == "MODIFIED" and prev is not None and \
            prev.get("spec") is pod.get("spec") and is_terminal(prev) == is_terminal(pod)
        if not status_only and self.cache.observe_pod(
                meta["uid"], None if event.type == "DELETED" else pod):
            self._request_move(all_pods=False)
        if event.type == "DELETED":
            self._waiting.pop(key, None)
        elif wants_scheduling(pod) and (prev is None or _spec_or_labels_changed(prev, pod)):
            self.runner.enqueue(key)

    def _request_move(self, *, all_pods: bool) -> None:
        """Retry waiting pods soon (coalesced into one engine event per instant)."""
        self._move_all = self._move_all or all_pods
        if not self._move_scheduled and self._waiting:
            self._move_scheduled = True
            self.ctx.engine.call_soon(self._move, priority=Priority.CONTROLLER,
                                      label="scheduler-move")

    def _move(self) -> None:
        all_pods, self._move_all, self._move_scheduled = self._move_all, False, False
        now = self.ctx.now
        for key in sorted(self._waiting):
            waiting = self._waiting[key]
            if all_pods or waiting.short_of_resources:
                self.runner.enqueue_after(key, max(0.0, waiting.last + self._backoff(
                    waiting.attempts) - now))

    def _backoff(self, attempts: int) -> float:
        s = self.settings
        return min(s.pod_max_backoff, s.pod_initial_backoff * 2 ** max(0, attempts - 1))

    # -- one pod --------------------------------------------------------------------------

    def reconcile(self, key: PodKey) -> Result | None:
        pod = self.ctx.store.peek("pods", *key)
        if pod is None or not wants_scheduling(pod):
            self._waiting.pop(key, None)
            return None
        if pod["spec"].get("schedulingGates"):
            self._set_unscheduled(pod, "SchedulingGated", _GATED)
            return None
        outcome = self._find_node(PodFacts.of(pod))
        if isinstance(outcome, str):
            self._bind(pod, key, outcome)
            return None
        return self._fail(pod, key, outcome)

    def _find_node(self, pod: PodFacts) -> str | _Failure:
        order = self.cache.ordered()
        if not order:
            return _Failure(NO_NODES, short_of_resources=False)
        feasible, rejections = self._filter(pod, order)
        if not feasible:
            return _Failure(fit_error_message(len(order), rejections,
                                              preempt_never=pod.preempt_never),
                            short_of_resources=any(not r.unresolvable for r in rejections))
        return self._select(pod, feasible)

    def _filter(self, pod: PodFacts, order: list[str]) -> tuple[list[str], list[Rejection]]:
        """Feasible nodes (up to ``numFeasibleNodesToFind``) and the rejections seen."""
        count = len(order)
        want = num_feasible_nodes_to_find(count, self.settings.percentage_of_nodes_to_score)
        start = self._next_start % count
        facts, free = self.cache.facts, self.cache.free
        tolerated: dict[TaintKey, bool] = {}
        feasible: list[str] = []
        rejections: list[Rejection] = []
        for i in range(count):
            name = order[(start + i) % count]
            rejection = filter_node(pod, facts[name], free[name], tolerated)
            if rejection is not None:
                rejections.append(rejection)
            else:
                feasible.append(name)
                if len(feasible) >= want:
                    break
        self._next_start = (start + len(feasible) + len(rejections)) % count
        return feasible, rejections

    def _select(self, pod: PodFacts, feasible: list[str]) -> str:
        if len(feasible) == 1:
            return feasible[0]
        keys = self.cache.score_keys(pod, feasible)
        best = min(keys)
        ties = [name for name, k in zip(feasible, keys, strict=True) if k == best]
        return ties[0] if len(ties) == 1 else ties[self._rng.randrange(len(ties))]

    def _bind(self, pod: dict[str, Any], key: PodKey, node: str) -> None:
        bind = self.ctx.subresource_handlers[("pods", "binding")]
        try:
            bind(key[0], key[1], {"target": {"kind": "Node", "name": node}}, {})
        except (errors.Conflict, errors.NotFound):
            return  # bound by someone else meanwhile, or gone
        self._waiting.pop(key, None)
        self.ctx.events.record(pod, "Normal", "Scheduled",
                               f"Successfully assigned {key[0]}/{key[1]} to {node}",
                               component=SCHEDULER_NAME)

    def _fail(self, pod: dict[str, Any], key: PodKey, failure: _Failure) -> Result:
        previous = self._waiting.get(key)
        self._waiting[key] = _Waiting((previous.attempts if previous else 0) + 1,
                                      self.ctx.now, failure.short_of_resources)
        self._set_unscheduled(pod, "Unschedulable", failure.message)
        self.ctx.events.record(pod, "Warning", "FailedScheduling", failure.message,
                               component=SCHEDULER_NAME)
        return Result(requeue_after=self.settings.unschedulable_retry)

    def _set_unscheduled(self, pod: dict[str, Any], reason: str, message: str) -> None:
        now = self.ctx.now

        def change(draft: dict[str, Any]) -> None:
            set_condition(draft, "PodScheduled", "False", now, reason=reason, message=message)

        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify("pods", pod["metadata"].get("namespace", ""),
                                  pod["metadata"]["name"], change, subresource="status")


def _spec_or_labels_changed(prev: dict[str, Any], pod: dict[str, Any]) -> bool:
    return prev.get("spec") != pod.get("spec") or \
        prev["metadata"].get("labels") != pod["metadata"].get("labels")
