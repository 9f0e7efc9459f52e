"""AdvancedStatefulSetController: OpenKruise's StatefulSet (``apps.kruise.io/v1beta1``)
with in-place update (OpenKruise §4.3).

Reconciled by key, level-based, like the native controller
(``kitlib.cluster.workloads.statefulset``), whose revision history and claiming it
reuses: claim the ControllerRevisions and member pods, find or make the update
revision, refresh the in-place state of every pod (``kruise.inplace``: finish a grace
period, set ``InPlaceUpdateReady=True`` once the containers run the new images), act
on ``plan.plan_advanced_statefulset`` — create (with the ``InPlaceUpdateReady``
readiness gate under an in-place policy), delete, or update in place: the revision
label, ``InPlaceUpdateReady=False`` and the new images, which the kubelet applies by
restarting only those containers, so the pod keeps its name, UID, node and IP — then
write the status (``updatedReadyReplicas``, ``updatedAvailableReplicas``,
``labelSelector``…) and trim the history. Work per reconcile is proportional to the
set's pods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.inplace import (
    GRACE_ANNOTATION,
    INPLACE_READY,
    InPlaceSpec,
    apply_spec,
    calculate_in_place_spec,
    mark_not_ready,
    refresh_action,
    set_ready,
    start_update,
)
from kitlib.cluster.kruise.statefulset.api import admit_advanced_statefulset
from kitlib.cluster.kruise.statefulset.plan import (
    AstsPlan,
    AstsView,
    plan_advanced_statefulset,
    revision_of,
)
from kitlib.cluster.kruise.statefulset.status import advanced_status
from kitlib.cluster.podutil import controller_of
from kitlib.cluster.workloads.history import REVISIONS, apply_revision, sort_revisions
from kitlib.cluster.workloads.replicaset_plan import available_in
from kitlib.cluster.workloads.statefulset_base import StatefulSetBase, set_selector
from kitlib.cluster.workloads.statefulset_plan import (
    REVISION_LABEL,
    ordinal_of,
)
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of
from kitlib.store.watch import WatchEvent

__all__ = ["AdvancedStatefulSetController"]

Obj = dict[str, Any]
Key = tuple[str, str]
ASTS = "statefulsets.apps.kruise.io"
API_VERSION = "apps.kruise.io/v1beta1"
COMPONENT = "statefulset-controller"


def _mine(ref: Obj | None) -> bool:
    return ref is not None and ref.get("kind") == "StatefulSet" and \
        ref.get("apiVersion") == API_VERSION


class AdvancedStatefulSetController(StatefulSetBase):
    set_key = ASTS
    component = COMPONENT

    def _revision_of(self, pod: Obj) -> str:
        return revision_of(pod)

    def _decorate_pod(self, sts: Obj, pod: Obj) -> None:
        if AstsView.of(sts).policy != "ReCreate":
            gates = pod["spec"].setdefault("readinessGates", [])
            if all(g.get("conditionType") != INPLACE_READY for g in gates):
                gates.append({"conditionType": INPLACE_READY})

    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        ctx.store.add_admission(ASTS, admit_advanced_statefulset)
        self.runner: Runner[Key] = Runner(ctx.engine, "advanced-statefulset", self.reconcile)
        ctx.store.subscribe(ASTS, self._on_set)
        ctx.store.subscribe("pods", self._on_pod)

    def _on_set(self, event: WatchEvent) -> None:
        self.runner.enqueue((namespace_of(event.obj), name_of(event.obj)))

    def _on_pod(self, event: WatchEvent) -> None:
        obj, prev = event.obj, event.prev
        refs = [controller_of(o) for o in (prev, obj) if o is not None]
        for ref in refs:
            if ref is not None and _mine(ref):
                self.runner.enqueue((namespace_of(obj), ref["name"]))
        if controller_of(obj) is not None or event.type == "DELETED":
            return
        if prev is None or meta_of(prev).get("labels") != meta_of(obj).get("labels"):
            for sts in sorted(self.ctx.store.iter_objects(ASTS, namespace_of(obj)),
                              key=name_of):
                if set_selector(sts).matches(meta_of(obj).get("labels")) and \
                        ordinal_of(name_of(obj), name_of(sts)) >= 0:
                    self.runner.enqueue((namespace_of(sts), name_of(sts)))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: Key) -> Result | None:
        sts = self.ctx.store.peek(ASTS, *key)
        if sts is None:
            return None
        revisions = sort_revisions(self._claim(sts, REVISIONS))
        collision = int((sts.get("status") or {}).get("collisionCount") or 0)
        update, collision = self._update_revision(sts, revisions, collision)
        revisions = sort_revisions([*(r for r in revisions if name_of(r) != name_of(update)),
                                    update])
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if name_of(r) == current_name), update)
        pods = self._pods(sts)
        waits = self._refresh(pods)
        pods = self._pods(sts)
        view = AstsView.of(sts)
        plan = plan_advanced_statefulset(view, pods, name_of(update),
                                         self._in_place_ok(sts, pods, revisions, update),
                                         self.ctx.now)
        failed = self._apply(sts, plan, current, update, revisions)
        after = self._pods(sts)
        self._write_status(sts, advanced_status(
            sts, after, current=name_of(current), update=name_of(update),
            collision_count=collision, selector=str(set_selector(sts)), now=self.ctx.now))
        self._truncate(sts, revisions, after, {name_of(current), name_of(update)})
        if failed:
            return Result(requeue=True)
        wait = available_in(list(after.values()), view.min_ready_seconds, self.ctx.now)
        waits += [wait] if wait is not None else []
        return Result(requeue_after=min(waits)) if waits else None

    # -- revisions ----------------------------------------------------------------------

    # -- in place -----------------------------------------------------------------------

    def _in_place_ok(self, sts: Obj, pods: dict[int, Obj], revisions: list[Obj],
                     update: Obj) -> dict[str, bool]:
        by_name = {name_of(r): r for r in revisions}
        new = apply_revision(sts, update)["spec"]["template"]
        out = {}
        for pod in pods.values():
            old = by_name.get(revision_of(pod))
            if old is None or name_of(old) == name_of(update):
                continue
            template = apply_revision(sts, old)["spec"]["template"]
            out[name_of(pod)] = calculate_in_place_spec(template, new, name_of(update)) \
                is not None
        return out

    def _refresh(self, pods: dict[int, Obj]) -> list[float]:
        """Upstream ``Refresh`` of every pod; the seconds until a grace period ends."""
        waits = []
        for _, pod in sorted(pods.items()):
            action = refresh_action(pod, self.ctx.now)
            ns, name = namespace_of(pod), name_of(pod)
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                if action.kind == "set_ready":
                    self.ctx.store.modify("pods", ns, name,
                                          lambda d: set_ready(d, self.ctx.now),
                                          subresource="status")
                elif action.kind in ("apply_grace", "drop_grace"):
                    self.ctx.store.modify("pods", ns, name, _ender(action.spec))
                elif action.kind == "wait":
                    waits.append(action.wait_seconds)
        return waits

    def _update_in_place(self, sts: Obj, name: str, revisions: list[Obj],
                         update: Obj) -> None:
        pod = self.ctx.store.peek("pods", namespace_of(sts), name)
        old = next((r for r in revisions if pod and name_of(r) == revision_of(pod)), None)
        if pod is None or old is None:
            return
        spec = calculate_in_place_spec(apply_revision(sts, old)["spec"]["template"],
                                       apply_revision(sts, update)["spec"]["template"],
                                       name_of(update))
        assert spec is not None
        rolling = ((sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {})
        grace = int((rolling.get("inPlaceUpdateStrategy") or {}).get("gracePeriodSeconds") or 0)
        now, ns = self.ctx.now, namespace_of(sts)
        self.ctx.store.modify("pods", ns, name, lambda d: mark_not_ready(d, now),
                              subresource="status")

        def change(draft: Obj) -> None:
            draft["metadata"].setdefault("labels", {})[REVISION_LABEL] = name_of(update)
            start_update(draft, spec, now, grace)
        self.ctx.store.modify("pods", ns, name, change)
        self._event(sts, "Normal", "SuccessfulUpdatePodInPlace",
                    f"successfully update pod {name} in-place(revision {name_of(update)})")

    # -- pods ---------------------------------------------------------------------------

    def _apply(self, sts: Obj, plan: AstsPlan, current: Obj, update: Obj,
               revisions: list[Obj]) -> bool:
        for ordinal, which in plan.create:
            if not self._create_pod(sts, ordinal, current if which == "current" else update):
                return True
        for name in plan.delete:
            self._delete_pod(sts, name)
        for name in plan.in_place:
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                self._update_in_place(sts, name, revisions, update)
        for name in plan.fix_identity:
            self._fix_identity(sts, name)
        return False

def _ender(spec: InPlaceSpec | None) -> Callable[[Obj], None]:
    """End a grace period on a pod draft: apply its spec (if still due), drop the note."""
    def change(draft: Obj) -> None:
        if spec is not None:
            apply_spec(draft, spec)
        (draft["metadata"].get("annotations") or {}).pop(GRACE_ANNOTATION, None)
    return change

