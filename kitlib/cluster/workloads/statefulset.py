"""StatefulSetController: pods with stable names ``<set>-<ordinal>``, updated in order.

Upstream's ``pkg/controller/statefulset``, reconciled by key and level-based:

1. claim the ControllerRevisions and the member pods (``<set>-<n>``) the
   selector matches;
2. find or make the update revision (``history.resolve_revisions``): a new
   ``ControllerRevision`` when the template changed, the old one renumbered on
   a rollback;
3. act on ``plan_statefulset``: create missing pods (labels
   ``controller-revision-hash``, ``statefulset.kubernetes.io/pod-name``,
   ``apps.kubernetes.io/pod-index``; ``hostname``/``subdomain`` set), delete
   condemned, failed or outdated ones — pods are *recreated*, never changed in
   place, and a replacement waits until the old pod is gone;
4. write the status (current/update revision and their replica counts) and
   drop revisions beyond ``revisionHistoryLimit``.

Events as upstream: ``SuccessfulCreate`` "create Pod web-0 in StatefulSet web
successful", ``SuccessfulDelete``, ``FailedCreate``.
"""

from __future__ import annotations

from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.podutil import controller_of
from kitlib.cluster.workloads.history import (
    REVISIONS,
    sort_revisions,
)
from kitlib.cluster.workloads.replicaset_plan import available_in
from kitlib.cluster.workloads.statefulset_base import StatefulSetBase, set_selector
from kitlib.cluster.workloads.statefulset_plan import (
    StsPlan,
    StsView,
    ordinal_of,
    plan_statefulset,
    statefulset_status,
)
from kitlib.engine.runner import Result, Runner
from kitlib.model.objects import meta_of, name_of, namespace_of
from kitlib.store.watch import WatchEvent

__all__ = ["StatefulSetController"]

Obj = dict[str, Any]
Key = tuple[str, str]
STATEFULSETS = "statefulsets.apps"
COMPONENT = "statefulset-controller"


class StatefulSetController(StatefulSetBase):
    set_key = STATEFULSETS
    component = COMPONENT

    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[Key] = Runner(ctx.engine, "statefulset", self.reconcile)
        ctx.store.subscribe(STATEFULSETS, self._on_statefulset)
        ctx.store.subscribe("pods", self._on_pod)

    # -- event routing ------------------------------------------------------------------

    def _on_statefulset(self, event: WatchEvent) -> None:
        self.runner.enqueue((namespace_of(event.obj), name_of(event.obj)))

    def _on_pod(self, event: WatchEvent) -> None:
        obj, prev = event.obj, event.prev
        refs = [controller_of(o) for o in (prev, obj) if o is not None]
        for ref in refs:
            if ref is not None and ref.get("kind") == "StatefulSet":
                self.runner.enqueue((namespace_of(obj), ref["name"]))
        if controller_of(obj) is not None or event.type == "DELETED":
            return
        relabelled = prev is None or meta_of(prev).get("labels") != meta_of(obj).get("labels")
        if relabelled or any(r is not None for r in refs):
            for sts in sorted(self.ctx.store.iter_objects(STATEFULSETS, namespace_of(obj)),
                              key=name_of):
                if set_selector(sts).matches(meta_of(obj).get("labels")) and \
                        ordinal_of(name_of(obj), name_of(sts)) >= 0:
                    self.runner.enqueue((namespace_of(sts), name_of(sts)))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: Key) -> Result | None:
        sts = self.ctx.store.peek(STATEFULSETS, *key)
        if sts is None:
            return None
        revisions = sort_revisions(self._claim(sts, REVISIONS))
        collision = int((sts.get("status") or {}).get("collisionCount") or 0)
        update, collision = self._update_revision(sts, revisions, collision)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if name_of(r) == current_name), update)
        pods = self._pods(sts)
        plan = plan_statefulset(StsView.of(sts), pods, name_of(update), self.ctx.now)
        failed = self._apply(sts, plan, current, update)
        after = self._pods(sts)
        self._write_status(sts, statefulset_status(
            sts, after, current=name_of(current), update=name_of(update),
            collision_count=collision, now=self.ctx.now))
        self._truncate(sts, revisions, pods, {name_of(current), name_of(update)})
        if failed:
            return Result(requeue=True)
        wait = available_in(list(after.values()), StsView.of(sts).min_ready_seconds,
                            self.ctx.now)
        return Result(requeue_after=wait) if wait is not None else None

    # -- revisions ----------------------------------------------------------------------

    # -- pods ---------------------------------------------------------------------------

    def _apply(self, sts: Obj, plan: StsPlan, current: Obj, update: Obj) -> bool:
        """Carry out ``plan``; True if a pod could not be created."""
        for ordinal, which in plan.create:
            revision = current if which == "current" else update
            if not self._create_pod(sts, ordinal, revision):
                return True
        for name in plan.delete:
            self._delete_pod(sts, name)
        for name in plan.fix_identity:
            self._fix_identity(sts, name)
        return False
