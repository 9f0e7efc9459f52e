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
from kitlib.cluster.kruise.cloneset.scale import SPECIFIED_DELETE, deletion_sort, plan_scale
from kitlib.cluster.kruise.cloneset.status import PodCounts, calculate_status
from kitlib.cluster.kruise.cloneset.update import plan_update
from kitlib.cluster.kruise.cloneset.views import PodView, PodViews
from kitlib.cluster.kruise.lifecycle import PREPARING_DELETE, UPDATED
from kitlib.cluster.podutil import controller_of
from kitlib.cluster.workloads.history import REVISIONS, history_to_delete, sort_revisions
from kitlib.cluster.workloads.ownership import candidates, claim
from kitlib.cluster.workloads.replicaset_plan import available_in
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of, uid_of
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
        self.runner: Runner[Key] = Runner(ctx.engine, "cloneset", self.reconcile,
                                          busy=self._busy)
        #: pods each CloneSet's last reconcile walked (its busy window, ``Runner``)
        self._walked: dict[Key, int] = {}
        #: per CloneSet: what it reads of each pod, memoized per stored object (``views``)
        self._views: dict[Key, PodViews] = {}
        #: per CloneSet: ((store owners_changes, uid), names of the pods it owns, sorted)
        self._order: dict[Key, tuple[tuple[int, str], list[str]]] = {}
        #: pods without a controller, per namespace: the only ones a claim must look for
        self._orphans: dict[str, set[str]] = {}
        #: the ``PodFacts`` of the reconcile in progress, one per claimed pod
        self._facts: list[PodFacts] = []
        #: the views of the pods ``_claim_pods`` returned last, in the same order
        self._active: list[PodView] = []
        self._active_pods: list[Obj] = []
        #: the views of the pods of the reconcile in progress, by object identity
        self._by_id: dict[int, PodView] = {}
        register_cloneset_schema()
        ctx.store.add_admission(CLONESETS, admit_cloneset)
        ctx.store.subscribe(CLONESETS, self._on_cloneset)
        ctx.store.subscribe("pods", self._on_pod)

    # -- event routing ------------------------------------------------------------------

    def _on_cloneset(self, event: WatchEvent) -> None:
        self.runner.enqueue((namespace_of(event.obj), name_of(event.obj)))

    def _on_pod(self, event: WatchEvent) -> None:
        obj, prev = event.obj, event.prev
        self._track_orphan(event)
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

    def _track_orphan(self, event: WatchEvent) -> None:
        obj = event.obj
        orphans = self._orphans.setdefault(namespace_of(obj), set())
        if event.type == "DELETED" or controller_of(obj) is not None:
            orphans.discard(name_of(obj))
        else:
            orphans.add(name_of(obj))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: Key) -> Result | None:
        cs = self.ctx.store.peek(CLONESETS, *key)
        if cs is None:
            for memo in (self._walked, self._views, self._order):
                memo.pop(key, None)
            return None
        self.writer.failures = {}
        self.writer.pub_denied = False
        self._views.setdefault(key, PodViews())
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
        self._walked[key] = len(pods)
        self._write_status(cs, pods, update, current, collision)
        self._truncate_pods_to_delete(cs, pods)
        self._truncate_history(cs, revisions, pods, {name_of(update), name_of(current)})
        min_ready = float((cs.get("spec") or {}).get("minReadySeconds") or 0)
        wait = available_in(pods, min_ready, self.ctx.now)
        waits += [wait] if wait is not None else []
        if waits:
            return Result(requeue_after=min(waits))
        return Result(requeue=True) if self.writer.failures else None

    def _busy(self, key: Key) -> float:
        return self._walked.get(key, 0) * self.ctx.settings.reconcile_seconds_per_object

    def _claim(self, cs: Obj, rt_key: str) -> list[Obj]:
        selector = _selector(cs)
        return claim(self.ctx.store, rt_key, cs, selector,
                     candidates(self.ctx.store, rt_key, cs, selector))

    def _claim_pods(self, cs: Obj) -> list[Obj]:
        """The active pods ``cs`` controls after adopting and releasing (``claim``).

        Candidates are the pods the owner index lists for it plus the namespace's orphans
        its selector matches — no scan of the namespace's pods — in name order (cached
        until an ownerReference changes). When every candidate is already controlled by
        ``cs`` and matches, ``claim`` has nothing to do and is skipped."""
        key = (namespace_of(cs), name_of(cs))
        views = self._views[key]
        selector = _selector(cs)
        ns = key[0]
        order = self._owned_order(key, uid_of(cs))
        orphans = self._orphans.get(ns)
        if orphans:
            found = {name_of(p) for p in self.ctx.store.select("pods", namespace=ns,
                                                              labels=selector)
                     if name_of(p) in orphans}
            order = sorted(found.union(order)) if found else order
        objs = self.ctx.store.objects("pods", ns, order)
        text, uid = str(selector), uid_of(cs)
        listed = [views.get(name, pod) for name, pod in zip(order, objs, strict=False)] \
            if len(objs) == len(order) else [views.get(name_of(p), p) for p in objs]
        if all(v.controller_uid == uid and v.matches(selector, text) for v in listed):
            owned = objs  # nothing to adopt or release: what ``claim`` would return
        else:
            def matches(pod: Obj) -> bool:
                return views.get(name_of(pod), pod).matches(selector, text)
            owned = claim(self.ctx.store, "pods", cs, selector, objs, matches=matches)
            listed = [views.get(name_of(p), p) for p in owned]
        if len(owned) * 2 < len(views):
            views.prune({name_of(p) for p in owned})
        active = [v for v in listed if v.active]
        self._by_id = {id(v.pod): v for v in active}
        self._active = active
        self._active_pods = [v.pod for v in active]
        return self._active_pods

    def _owned_order(self, key: Key, uid: str) -> list[str]:
        """Names of the pods whose ownerReferences name ``uid``, sorted; cached until an
        ownerReference changes anywhere (``Store.owners_changes``)."""
        store = self.ctx.store
        cached = self._order.get(key)
        if cached is not None and cached[0] == (store.owners_changes, uid):
            return cached[1]
        order = sorted(store.owned_names("pods", uid, key[0]))
        self._order[key] = ((store.owners_changes, uid), order)
        return order

    def _views_of(self, cs: Obj, pods: list[Obj]) -> list[PodView]:
        """The views of ``pods``: those of the last claim when ``pods`` is what it returned."""
        if pods is self._active_pods:
            return self._active
        return [self._view(cs, p) for p in pods]

    def _view(self, cs: Obj, pod: Obj) -> PodView:
        view = self._by_id.get(id(pod))
        if view is not None and view.pod is pod:
            return view
        return self._views[(namespace_of(cs), name_of(cs))].get(name_of(pod), pod)

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
        to_delete = set((spec.get("scaleStrategy") or {}).get("podsToDelete") or [])
        update_hash = _hash(update)
        min_ready = float(spec.get("minReadySeconds") or 0)
        now = self.ctx.now
        facts = []
        for view in self._views_of(cs, pods):
            listed = view.name in to_delete
            token = (update_hash, listed)
            if min_ready > 0 or view.facts is None or view.facts[0] != token:
                view.facts = (token, PodFacts(
                    updated=view.at_revision(update_hash),
                    available=view.available(min_ready, now),
                    preparing_delete=view.state == PREPARING_DELETE,
                    specified_delete=SPECIFIED_DELETE in view.labels or listed))
            facts.append(view.facts[1])
        self._facts = facts
        return calculate_diffs_with_expectation(numbers, facts)

    def _available(self, cs: Obj, pod: Obj) -> bool:
        """``is_pod_available`` with minReadySeconds, from the pod's view."""
        min_ready = float((cs.get("spec") or {}).get("minReadySeconds") or 0)
        return self._view(cs, pod).available(min_ready, self.ctx.now)

    # -- scale --------------------------------------------------------------------------

    def _scale(self, cs: Obj, pods: list[Obj], diffs: Diffs, update: Obj, current: Obj) -> bool:
        spec = cs.get("spec") or {}
        hooks = spec.get("lifecycle") or {}
        plan = plan_scale(
            pods, diffs, replicas=int(spec.get("replicas", 1)),
            pods_to_delete=(spec.get("scaleStrategy") or {}).get("podsToDelete") or [],
            ready_now=lambda p: self._view(cs, p).available(0, self.ctx.now),
            is_updated=lambda p: self._view(cs, p).at_revision(_hash(update)),
            keep_preparing_delete=any((h or {}).get("markPodNotReady")
                                      for h in hooks.values()),
            sort=lambda group: deletion_sort(group, available=lambda p: self._available(cs, p),
                                             now=self.ctx.now),
            facts=self._facts)
        return self.writer.apply_scale(cs, plan, current, update)

    # -- update -------------------------------------------------------------------------

    def _update(self, cs: Obj, pods: list[Obj], diffs: Diffs, update: Obj, current: Obj,
                revisions: list[Obj]) -> list[float]:
        refreshed, waits = self._refresh_pods(cs, pods, name_of(update))
        strategy = (cs.get("spec") or {}).get("updateStrategy") or {}
        if refreshed or strategy.get("paused"):
            return waits
        target, names = plan_update(
            pods, diffs, update_revision=name_of(update),
            current_revision=name_of(current), strategy=strategy,
            available=lambda p: self._available(cs, p),
            key=lambda p: self._view(cs, p).active_key,
            candidate=lambda p, num, rev: self._is_candidate(cs, p, num, _hash(update)),
            unavailable=(sum(1 for f in self._facts if not f.available),
                         sum(1 for f in self._facts if not f.available and f.updated)))
        target_rev = update if target == name_of(update) else current
        views = self._views[(namespace_of(cs), name_of(cs))]
        for name in names:
            wait = self.writer.update_pod(cs, views.pod(name), target_rev, revisions)
            waits += [wait] if wait else []
            if self.writer.failures or self.writer.pub_denied:
                break
        return waits

    def _refresh_pods(self, cs: Obj, pods: list[Obj], update: str) -> tuple[bool, list[float]]:
        """``CloneSetWriter.refresh_pods`` for the pods that may have something to do: a pod
        whose stored object is unchanged since a refresh found nothing to do for this
        generation and update revision is skipped."""
        quiet = (int(meta_of(cs).get("generation") or 0), update)
        changed, waits = False, []
        for view in self._views_of(cs, pods):
            if view.quiet_for == quiet:
                continue
            pod = view.pod
            patched, wait = self.writer.refresh_pod(cs, pod, update)
            changed |= patched
            if wait:
                waits.append(wait)
            elif self.ctx.store.peek("pods", namespace_of(pod), name_of(pod)) is pod:
                view.quiet_for = quiet
        return changed, waits

    def _is_candidate(self, cs: Obj, pod: Obj, update_num: int, update_hash: str) -> bool:
        """``update._is_candidate`` from the pod's view."""
        view = self._view(cs, pod)
        if view.at_revision(update_hash) == (update_num > 0) or view.state == PREPARING_DELETE:
            return False
        return not view.has_grace or view.state == UPDATED

    # -- status and cleanup -------------------------------------------------------------

    def _write_status(self, cs: Obj, pods: list[Obj], update: Obj, current: Obj,
                      collision: int) -> None:
        status = calculate_status(
            cs, pods, update_revision=name_of(update), current_revision=name_of(current),
            collision_count=collision, now=self.ctx.now, failures=self.writer.failures,
            counts=self._counts(cs, pods, update))
        if status == (cs.get("status") or {}):
            return
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify(CLONESETS, namespace_of(cs), name_of(cs),
                                  lambda d: d.__setitem__("status", status),
                                  subresource="status")

    def _counts(self, cs: Obj, pods: list[Obj], update: Obj) -> PodCounts:
        """``count_pods`` in one pass over the pods' views."""
        min_ready = float((cs.get("spec") or {}).get("minReadySeconds") or 0)
        update_hash, now = _hash(update), self.ctx.now
        ready = available = updated = updated_ready = updated_available = 0
        for view in self._views_of(cs, pods):
            is_available = view.available(min_ready, now)
            ready += view.update_ready
            available += is_available
            if view.at_revision(update_hash):
                updated += 1
                updated_ready += view.update_ready
                updated_available += is_available
        return PodCounts(len(pods), ready, available, updated, updated_ready, updated_available)

    def _truncate_pods_to_delete(self, cs: Obj, pods: list[Obj]) -> None:
        listed = ((cs.get("spec") or {}).get("scaleStrategy") or {}).get("podsToDelete") or []
        if not listed:
            return
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
        hashes = {self._view(cs, p).revision_hash for p in pods}
        live |= {name_of(r) for r in revisions if _hash(r) in hashes}
        limit = (cs.get("spec") or {}).get("revisionHistoryLimit")
        for name in history_to_delete(limit, revisions, live):
            with contextlib.suppress(errors.NotFound):
                self.ctx.store.delete(REVISIONS, namespace_of(cs), name)


def _hash(revision: Obj) -> str:
    """The hash part of a ControllerRevision's name (what ``equal_to_revision`` compares)."""
    return name_of(revision).rsplit("-", 1)[-1]


def _selector(cs: Obj) -> LabelSelector:
    return LabelSelector.from_object((cs.get("spec") or {}).get("selector"))
