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

import contextlib
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.podutil import controller_of
from kitlib.cluster.workloads.history import (
    apply_revision,
    history_to_delete,
    new_revision,
    resolve_revisions,
    revision_data,
    sort_revisions,
)
from kitlib.cluster.workloads.ownership import candidates, claim, pod_from_template
from kitlib.cluster.workloads.replicaset_plan import available_in
from kitlib.cluster.workloads.statefulset_plan import (
    POD_INDEX,
    POD_NAME,
    REVISION_LABEL,
    StsPlan,
    StsView,
    ordinal_of,
    plan_statefulset,
    statefulset_status,
)
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["StatefulSetController"]

Obj = dict[str, Any]
Key = tuple[str, str]
STATEFULSETS = "statefulsets.apps"
REVISIONS = "controllerrevisions.apps"
COMPONENT = "statefulset-controller"


class StatefulSetController:
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
                if _selector(sts).matches(meta_of(obj).get("labels")) and \
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

    def _claim(self, sts: Obj, rt_key: str) -> list[Obj]:
        selector = _selector(sts)
        found = candidates(self.ctx.store, rt_key, sts, selector)
        member = None if rt_key == REVISIONS else (
            lambda p: ordinal_of(name_of(p), name_of(sts)) >= 0)
        return claim(self.ctx.store, rt_key, sts, selector, found, member=member)

    def _pods(self, sts: Obj) -> dict[int, Obj]:
        return {ordinal_of(name_of(p), name_of(sts)): p for p in self._claim(sts, "pods")}

    # -- revisions ----------------------------------------------------------------------

    def _update_revision(self, sts: Obj, revisions: list[Obj],
                         collision: int) -> tuple[Obj, int]:
        choice = resolve_revisions(sts, revisions)
        if choice.update is not None and choice.renumber is None:
            return choice.update, collision
        if choice.update is not None:
            number = choice.renumber
            return self.ctx.store.modify(REVISIONS, namespace_of(sts), name_of(choice.update),
                                         lambda r: r.__setitem__("revision", number)), collision
        assert choice.create is not None
        return self._create_revision(sts, choice.create, collision)

    def _create_revision(self, sts: Obj, number: int, collision: int) -> tuple[Obj, int]:
        """Upstream ``CreateControllerRevision``: a name collision bumps the count."""
        data = revision_data(sts)
        while True:
            body = new_revision(sts, data, number, collision)
            try:
                return self.ctx.store.create(REVISIONS, body), collision
            except errors.AlreadyExists:
                existing = self.ctx.store.peek(REVISIONS, namespace_of(sts),
                                               body["metadata"]["name"])
                if existing is not None and existing.get("data") == data:
                    return existing, collision
                collision += 1

    def _truncate(self, sts: Obj, revisions: list[Obj], pods: dict[int, Obj],
                  live: set[str]) -> None:
        live |= {str((meta_of(p).get("labels") or {}).get(REVISION_LABEL, ""))
                 for p in pods.values()}
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        for name in history_to_delete(limit, revisions, live):
            with contextlib.suppress(errors.NotFound):
                self.ctx.store.delete(REVISIONS, namespace_of(sts), name)

    # -- pods ---------------------------------------------------------------------------

    def _apply(self, sts: Obj, plan: StsPlan, current: Obj, update: Obj) -> bool:
        """Carry out ``plan``; True if a pod could not be created."""
        for ordinal, which in plan.create:
            revision = current if which == "current" else update
            if not self._create_pod(sts, ordinal, revision):
                return True
        for name in plan.delete:
            with contextlib.suppress(errors.NotFound):
                self.ctx.store.delete("pods", namespace_of(sts), name)
            self._event(sts, "Normal", "SuccessfulDelete",
                        f"delete Pod {name} in StatefulSet {name_of(sts)} successful")
        for name in plan.fix_identity:
            self._fix_identity(sts, name)
        return False

    def _create_pod(self, sts: Obj, ordinal: int, revision: Obj) -> bool:
        name = f"{name_of(sts)}-{ordinal}"
        pod = pod_from_template(apply_revision(sts, revision), name=name)
        pod["metadata"].setdefault("labels", {}).update({
            REVISION_LABEL: name_of(revision), POD_NAME: name, POD_INDEX: str(ordinal)})
        pod["spec"]["hostname"] = name
        if (sts.get("spec") or {}).get("serviceName"):
            pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
        try:
            self.ctx.store.create("pods", pod)
        except errors.ApiError as exc:
            self._event(sts, "Warning", "FailedCreate",
                        f"create Pod {name} in StatefulSet {name_of(sts)} failed error: "
                        f"{exc.message}")
            return False
        self._event(sts, "Normal", "SuccessfulCreate",
                    f"create Pod {name} in StatefulSet {name_of(sts)} successful")
        return True

    def _fix_identity(self, sts: Obj, name: str) -> None:
        ordinal = ordinal_of(name, name_of(sts))

        def change(draft: Obj) -> None:
            draft["metadata"].setdefault("labels", {}).update({POD_NAME: name,
                                                               POD_INDEX: str(ordinal)})

        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify("pods", namespace_of(sts), name, change)
            self._event(sts, "Normal", "SuccessfulUpdate",
                        f"update Pod {name} in StatefulSet {name_of(sts)} successful")

    def _write_status(self, sts: Obj, status: Obj) -> None:
        if status == (sts.get("status") or {}):
            return
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify(STATEFULSETS, namespace_of(sts), name_of(sts),
                                  lambda d: d.__setitem__("status", status),
                                  subresource="status")

    def _event(self, sts: Obj, type_: str, reason: str, message: str) -> None:
        self.ctx.events.record(sts, type_, reason, message, component=COMPONENT)


def _selector(sts: Obj) -> LabelSelector:
    return LabelSelector.from_object((sts.get("spec") or {}).get("selector"))
