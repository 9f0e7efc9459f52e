"""CloneSetController: CloneSet scale and update, in place or by recreate (reference §1).

Upstream ``pkg/controller/cloneset``, reconciled by key and level-based. Each reconcile
is the list of named steps of ``doReconcile`` (§1.5):

1. ``_claim_pods`` — active pods the CloneSet controls or its selector matches;
2. ``_revisions`` — the update revision (a ControllerRevision of ``spec.template``) and
   the current one (``status.currentRevision``);
3. ``_scale`` (``scale.plan_scale``) — and only if it changed nothing, ``_update``
   (refresh every pod's in-place/lifecycle state, then ``update.plan_update``): never
   scale and update in one reconcile;
4. ``_write_status`` (``status.calculate_status``), ``_truncate_pods_to_delete``,
   ``_truncate_history``; requeue for ``minReadySeconds`` and in-place grace periods.

Writes live in ``apply.py``; every decision is a pure function of its own module.
Work per reconcile is proportional to the CloneSet's own pods (owner + label indexes).
"""

from __future__ import annotations

import contextlib
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.cloneset.apply import CloneSetWriter
from kitlib.cluster.kruise.cloneset.defaults_validation import (
    admit_cloneset,
    register_cloneset_schema,
)
from kitlib.cluster.kruise.cloneset.diff import (
    Diffs,
    PodFacts,
    calculate_diffs_with_expectation,
    resolve_numbers,
)
from kitlib.cluster.kruise.cloneset.scale import (
    deletion_sort,
    is_specified_delete,
    plan_scale,
)
from kitlib.cluster.kruise.cloneset.status import (
    calculate_status,
    is_pod_available,
)
from kitlib.cluster.kruise.cloneset.update import plan_update
from kitlib.cluster.kruise.inplace import equal_to_revision
from kitlib.cluster.kruise.lifecycle import PREPARING_DELETE, state_of
from kitlib.cluster.podutil import controller_of
from kitlib.cluster.workloads.history import REVISIONS, history_to_delete, sort_revisions
from kitlib.cluster.workloads.ownership import candidates, claim
from kitlib.cluster.workloads.podorder import is_active
from kitlib.cluster.workloads.replicaset_plan import available_in
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["CloneSetController"]

Obj = dict[str, Any]
Key = tuple[str, str]
CLONESETS = "clonesets.apps.kruise.io"


class CloneSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.writer = CloneSetWriter(ctx)
        self.runner: Runner[Key] = Runner(ctx.engine, "cloneset", self.reconcile)
        self._availability: dict[tuple[str, str], bool] = {}
        register_cloneset_schema()
        ctx.store.add_admission(CLONESETS, admit_cloneset)
        ctx.store.subscribe(CLONESETS, self._on_cloneset)
        ctx.store.subscribe("pods", self._on_pod)

    # -- event routing ------------------------------------------------------------------

    def _on_cloneset(self, event: WatchEvent) -> None:
        self.runner.enqueue((namespace_of(event.obj), name_of(event.obj)))

    def _on_pod(self, event: WatchEvent) -> None:
        obj, prev = event.obj, event.prev
        refs = [controller_of(o) for o in (prev, obj) if o is not None]
        for ref in refs:
            if ref is not None and ref.get("kind") == "CloneSet" and \
                    str(ref.get("apiVersion", "")).startswith("apps.kruise.io/"):
                self.runner.enqueue((namespace_of(obj), ref["name"]))
        if controller_of(obj) is not None or event.type == "DELETED":
            return
        for cs in sorted(self.ctx.store.iter_objects(CLONESETS, namespace_of(obj)),
                         key=name_of):
            if _selector(cs).matches(meta_of(obj).get("labels")):
                self.runner.enqueue((namespace_of(cs), name_of(cs)))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: Key) -> Result | None:
        cs = self.ctx.store.peek(CLONESETS, *key)
        if cs is None:
            return None
        self._availability = {}
        self.writer.failures = {}
        self.writer.pub_denied = False
        pods = self._claim_pods(cs)
        revisions = sort_revisions(self._claim(cs, REVISIONS))
        update, current, collision = self._revisions(cs, revisions)
        waits: list[float] = []
        if not meta_of(cs).get("deletionTimestamp"):
            writes = self.writer.writes
            diffs = self._diffs(cs, pods, update, current)
            if not self._scale(cs, pods, diffs, update, current):
                waits += self._update(cs, pods, diffs, update, current, revisions)
            if self.writer.writes != writes:
                pods = self._claim_pods(cs)
        self._write_status(cs, pods, update, current, collision)
        self._truncate_pods_to_delete(cs, pods)
        self._truncate_history(cs, revisions, pods, {name_of(update), name_of(current)})
        min_ready = float((cs.get("spec") or {}).get("minReadySeconds") or 0)
        wait = available_in(pods, min_ready, self.ctx.now)
        waits += [wait] if wait is not None else []
        if waits:
            return Result(requeue_after=min(waits))
        return Result(requeue=True) if self.writer.failures else None

    def _claim(self, cs: Obj, rt_key: str) -> list[Obj]:
        selector = _selector(cs)
        return claim(self.ctx.store, rt_key, cs, selector,
                     candidates(self.ctx.store, rt_key, cs, selector))

    def _claim_pods(self, cs: Obj) -> list[Obj]:
        return [p for p in self._claim(cs, "pods") if is_active(p)]

    def _revisions(self, cs: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        collision = int((cs.get("status") or {}).get("collisionCount") or 0)
        update, collision = self.writer.update_revision(cs, revisions, collision)
        current_name = (cs.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if name_of(r) == current_name), update)
        return update, current, collision

    def _diffs(self, cs: Obj, pods: list[Obj], update: Obj, current: Obj) -> Diffs:
        spec = cs.get("spec") or {}
        gates = self.ctx.settings.kruise.gates
        numbers = resolve_numbers(spec, no_rollback=name_of(current) == name_of(update)
                                  or not gates.CloneSetPartitionRollback)
        to_delete = (spec.get("scaleStrategy") or {}).get("podsToDelete") or []
        facts = [PodFacts(updated=equal_to_revision(p, name_of(update)),
                          available=self._available(cs, p),
                          preparing_delete=state_of(p) == PREPARING_DELETE,
                          specified_delete=is_specified_delete(p, to_delete)) for p in pods]
        return calculate_diffs_with_expectation(numbers, facts)

    def _available(self, cs: Obj, pod: Obj) -> bool:
        """``is_pod_available`` with minReadySeconds, memoized for this reconcile."""
        key = (name_of(pod), str(meta_of(pod).get("resourceVersion", "")))
        found = self._availability.get(key)
        if found is None:
            min_ready = float((cs.get("spec") or {}).get("minReadySeconds") or 0)
            found = self._availability[key] = is_pod_available(pod, min_ready, self.ctx.now)
        return found

    # -- scale --------------------------------------------------------------------------

    def _scale(self, cs: Obj, pods: list[Obj], diffs: Diffs, update: Obj, current: Obj) -> bool:
        spec = cs.get("spec") or {}
        hooks = spec.get("lifecycle") or {}
        plan = plan_scale(
            pods, diffs, replicas=int(spec.get("replicas", 1)),
            pods_to_delete=(spec.get("scaleStrategy") or {}).get("podsToDelete") or [],
            ready_now=lambda p: is_pod_available(p, 0, self.ctx.now),
            is_updated=lambda p: equal_to_revision(p, name_of(update)),
            keep_preparing_delete=any((h or {}).get("markPodNotReady")
                                      for h in hooks.values()),
            sort=lambda group: deletion_sort(group, available=lambda p: self._available(cs, p),
                                             now=self.ctx.now))
        return self.writer.apply_scale(cs, plan, current, update)

    # -- update -------------------------------------------------------------------------

    def _update(self, cs: Obj, pods: list[Obj], diffs: Diffs, update: Obj, current: Obj,
                revisions: list[Obj]) -> list[float]:
        refreshed, waits = self.writer.refresh_pods(cs, pods, name_of(update))
        strategy = (cs.get("spec") or {}).get("updateStrategy") or {}
        if refreshed or strategy.get("paused"):
            return waits
        target, names = plan_update(
            pods, diffs, update_revision=name_of(update),
            current_revision=name_of(current), strategy=strategy,
            available=lambda p: self._available(cs, p))
        target_rev = update if target == name_of(update) else current
        by_name = {name_of(p): p for p in pods}
        for name in names:
            wait = self.writer.update_pod(cs, by_name[name], target_rev, revisions)
            waits += [wait] if wait else []
            if self.writer.failures or self.writer.pub_denied:
                break
        return waits

    # -- status and cleanup -------------------------------------------------------------

    def _write_status(self, cs: Obj, pods: list[Obj], update: Obj, current: Obj,
                      collision: int) -> None:
        status = calculate_status(cs, pods, update_revision=name_of(update),
                                  current_revision=name_of(current),
                                  collision_count=collision, now=self.ctx.now,
                                  failures=self.writer.failures)
        if status == (cs.get("status") or {}):
            return
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify(CLONESETS, namespace_of(cs), name_of(cs),
                                  lambda d: d.__setitem__("status", status),
                                  subresource="status")

    def _truncate_pods_to_delete(self, cs: Obj, pods: list[Obj]) -> None:
        listed = ((cs.get("spec") or {}).get("scaleStrategy") or {}).get("podsToDelete") or []
        alive = {name_of(p) for p in pods}
        kept = [n for n in listed if n in alive]
        if kept == listed:
            return

        def change(draft: Obj) -> None:
            draft["spec"]["scaleStrategy"]["podsToDelete"] = kept

        with contextlib.suppress(errors.NotFound, errors.Conflict, errors.Invalid):
            self.ctx.store.modify(CLONESETS, namespace_of(cs), name_of(cs), change)

    def _truncate_history(self, cs: Obj, revisions: list[Obj], pods: list[Obj],
                          live: set[str]) -> None:
        live |= {name_of(r) for r in revisions
                 if any(equal_to_revision(p, name_of(r)) for p in pods)}
        limit = (cs.get("spec") or {}).get("revisionHistoryLimit")
        for name in history_to_delete(limit, revisions, live):
            with contextlib.suppress(errors.NotFound):
                self.ctx.store.delete(REVISIONS, namespace_of(cs), name)


def _selector(cs: Obj) -> LabelSelector:
    return LabelSelector.from_object((cs.get("spec") or {}).get("selector"))
