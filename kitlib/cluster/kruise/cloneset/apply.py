"""CloneSetWriter: the thin apply step of the CloneSet controller — every store write.

Creates revisions and pods, deletes pods (or moves them to ``PreparingDelete`` when a
``preDelete`` hook holds them), refreshes pods' in-place and lifecycle state, and
updates one pod in place or marks it ``apps.kruise.io/specified-delete`` for recreate.
Events as upstream: ``SuccessfulCreate`` "succeed to create pod x", ``SuccessfulDelete``
"succeed to delete pod x", ``SuccessfulUpdatePodInPlace`` "successfully update pod x
in-place(revision y)", ``SuccessfulUpdatePodReCreate``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise import inplace
from kitlib.cluster.kruise.cloneset.revisions import revision_labels, revision_template
from kitlib.cluster.kruise.cloneset.scale import (
    INSTANCE_ID,
    SPECIFIED_DELETE,
    ScalePlan,
    new_instance_id,
)
from kitlib.cluster.kruise.lifecycle import (
    NORMAL,
    PREPARING_DELETE,
    PREPARING_NORMAL,
    PREPARING_UPDATE,
    UPDATED,
    UPDATING,
    is_all_hooked,
    is_hooked,
    set_state,
    state_of,
)
from kitlib.cluster.podutil import condition
from kitlib.cluster.workloads.history import update_revision
from kitlib.cluster.workloads.ownership import pod_from_template
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of

__all__ = ["CloneSetWriter"]

Obj = dict[str, Any]
COMPONENT = "cloneset-controller"


#: How soon a pod update that a PodUnavailableBudget refused is tried again (upstream: 1 s).
PUB_RETRY_SECONDS = 1.0


class CloneSetWriter:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.rng = ctx.engine.rng_for("cloneset-controller")
        #: ``FailedScale`` / ``FailedUpdate`` -> message, for the current reconcile.
        self.failures: dict[str, str] = {}
        #: Set when a PodUnavailableBudget refused a pod update: stop updating, retry in 1 s.
        self.pub_denied = False
        #: Pod writes so far (the controller re-reads its pods only after one).
        self.writes = 0

    # -- revisions ----------------------------------------------------------------------

    def update_revision(self, cs: Obj, revisions: list[Obj], collision: int) -> tuple[Obj, int]:
        return update_revision(self.ctx.store, cs, revisions, collision)

    # -- scale --------------------------------------------------------------------------

    def apply_scale(self, cs: Obj, plan: ScalePlan, current: Obj, update: Obj) -> bool:
        """Carry out ``plan``; True if anything was written (the reconcile "scaled")."""
        changed = False
        for name in plan.cancel_preparing_delete:
            changed |= self._modify_pod(cs, name, lambda d: set_state(d, PREPARING_NORMAL,
                                                                      self.ctx.now))
        for i in range(plan.create_old + plan.create_new):
            if not self._create_pod(cs, current if i < plan.create_old else update):
                return True
            changed = True
        hook = ((cs.get("spec") or {}).get("lifecycle") or {}).get("preDelete")
        for name in plan.delete:
            changed |= self._delete_pod(cs, name, hook)
        return changed

    def _create_pod(self, cs: Obj, revision: Obj) -> bool:
        template = revision_template(cs, revision)
        instance = self._free_id(cs)
        name = f"{name_of(cs)}-{instance}"
        pod = pod_from_template({**cs, "spec": {**cs["spec"], "template": template}}, name=name)
        short = self.ctx.settings.kruise.gates.CloneSetShortHash
        pod["metadata"].setdefault("labels", {}).update(
            {INSTANCE_ID: instance, **revision_labels(name_of(revision), short=short)})
        set_state(pod, PREPARING_NORMAL, self.ctx.now)
        gates = pod["spec"].setdefault("readinessGates", [])
        if not any(g.get("conditionType") == inplace.INPLACE_READY for g in gates):
            gates.append({"conditionType": inplace.INPLACE_READY})
        try:
            self.ctx.store.create("pods", pod)
            self.writes += 1
        except errors.ApiError as exc:
            self._event(cs, "Warning", "FailedCreate", f"failed to create pod: {exc.message}")
            self.failures["FailedScale"] = exc.message
            return False
        self._event(cs, "Normal", "SuccessfulCreate", f"succeed to create pod {name}")
        return True

    def _free_id(self, cs: Obj) -> str:
        while True:
            instance = new_instance_id(self.rng)
            if self.ctx.store.peek("pods", namespace_of(cs), f"{name_of(cs)}-{instance}") is None:
                return instance

    def _delete_pod(self, cs: Obj, name: str, hook: Obj | None) -> bool:
        pod = self.ctx.store.peek("pods", namespace_of(cs), name)
        if pod is None:
            return False
        if is_hooked(pod, hook):
            if state_of(pod) == PREPARING_DELETE:
                return False
            return self._modify_pod(cs, name, lambda d: set_state(d, PREPARING_DELETE,
                                                                  self.ctx.now))
        try:
            self.ctx.store.delete("pods", namespace_of(cs), name)
        except errors.NotFound:
            return True
        except errors.ApiError as exc:  # e.g. a PodUnavailableBudget refusing the DELETE
            self._event(cs, "Warning", "FailedDelete",
                        f"failed to delete pod {name}: {exc.message}")
            self.failures["FailedScale"] = exc.message
            return False
        self.writes += 1
        self._event(cs, "Normal", "SuccessfulDelete", f"succeed to delete pod {name}")
        return True

    # -- refresh (update step 1) --------------------------------------------------------

    def refresh_pods(self, cs: Obj, pods: list[Obj], update: str) -> tuple[bool, list[float]]:
        """In-place ``Refresh`` and lifecycle transitions of every pod; (patched any, waits)."""
        changed, waits = False, []
        for pod in pods:
            patched, wait = self.refresh_pod(cs, pod, update)
            changed |= patched
            waits += [wait] if wait else []
        return changed, waits

    def refresh_pod(self, cs: Obj, pod: Obj, update: str) -> tuple[bool, float | None]:
        """Upstream ``refreshPodState`` + ``fixPodTemplateHashLabel``: only a lifecycle or
        hash-label change counts as "patched" (the in-place ``Refresh`` writes do not)."""
        action = inplace.refresh_action(pod, self.ctx.now)
        name, patched = name_of(pod), False
        if action.kind == "wait":
            return False, action.wait_seconds
        if action.kind == "set_ready":
            self._modify_pod(cs, name, lambda d: inplace.set_ready(d, self.ctx.now), status=True)
        elif action.kind in ("drop_grace", "apply_grace"):
            spec = action.spec

            def finish(draft: Obj) -> None:
                draft["metadata"]["annotations"].pop(inplace.GRACE_ANNOTATION, None)
                if spec is not None:
                    inplace.apply_spec(draft, spec)
            self._modify_pod(cs, name, finish)
        current = self.ctx.store.peek("pods", namespace_of(pod), name) or pod
        state = _next_state(cs, current, update)
        if state is not None:
            patched |= self._modify_pod(cs, name, lambda d: set_state(d, state, self.ctx.now))
        if inplace.TEMPLATE_HASH_LABEL not in (meta_of(current).get("labels") or {}):
            label = (meta_of(current).get("labels") or {}).get(inplace.REVISION_LABEL, "")
            patched |= self._modify_pod(cs, name, lambda d: d["metadata"]["labels"].__setitem__(
                inplace.TEMPLATE_HASH_LABEL, str(label).rsplit("-", 1)[-1]))
        return patched, None

    # -- update one pod -----------------------------------------------------------------

    def update_pod(self, cs: Obj, pod: Obj, target: Obj, revisions: list[Obj]) -> float | None:
        """Upstream ``updatePod``: in place if possible, else mark for recreate.

        With ``PodUnavailableBudgetUpdateGate`` the PUB is asked first, as upstream's
        controller does before every pod update; a refusal stops this round (retry in 1 s).
        """
        if self.ctx.settings.kruise.gates.PodUnavailableBudgetUpdateGate and \
                self.ctx.pub_check is not None:
            try:
                self.ctx.pub_check(pod, "UPDATE")
            except errors.Forbidden:
                self.pub_denied = True
                return PUB_RETRY_SECONDS
        strategy = (cs.get("spec") or {}).get("updateStrategy") or {}
        kind = strategy.get("type", "ReCreate")
        if kind in ("InPlaceIfPossible", "InPlaceOnly"):
            spec = self._in_place_spec(cs, pod, target, revisions)
            if spec is not None:
                return self._in_place(cs, pod, spec, strategy)
            if kind == "InPlaceOnly":
                self.failures["FailedUpdate"] = (f"find Pod {name_of(pod)} update strategy is "
                                                 "InPlaceOnly but can not update in-place")
                return None
        if SPECIFIED_DELETE not in (meta_of(pod).get("labels") or {}):
            self._modify_pod(cs, name_of(pod), lambda d: d["metadata"].setdefault(
                "labels", {}).__setitem__(SPECIFIED_DELETE, "true"))
            self._event(cs, "Normal", "SuccessfulUpdatePodReCreate",
                        f"successfully patch pod {name_of(pod)} specified-delete for update"
                        f"(revision {name_of(target)})")
        return None

    def _in_place_spec(self, cs: Obj, pod: Obj, target: Obj,
                       revisions: list[Obj]) -> inplace.InPlaceSpec | None:
        old = next((r for r in revisions if inplace.equal_to_revision(pod, name_of(r))), None)
        if old is None:
            return None
        return inplace.calculate_in_place_spec(revision_template(cs, old),
                                               revision_template(cs, target), name_of(target))

    def _in_place(self, cs: Obj, pod: Obj, spec: inplace.InPlaceSpec,
                  strategy: Obj) -> float | None:
        hook = ((cs.get("spec") or {}).get("lifecycle") or {}).get("inPlaceUpdate")
        state, name = state_of(pod), name_of(pod)
        if state in ("", PREPARING_NORMAL, NORMAL, UPDATED):
            if state == UPDATED or is_hooked(pod, hook):
                handler = hook if state == UPDATED else None
                self._modify_pod(cs, name, lambda d: _prepare_update(d, handler, self.ctx.now))
                return None
        elif (state == PREPARING_UPDATE and is_hooked(pod, hook)) or state not in (PREPARING_UPDATE, UPDATING):
            return None
        grace = int((strategy.get("inPlaceUpdateStrategy") or {}).get("gracePeriodSeconds") or 0)
        self._modify_pod(cs, name, lambda d: inplace.mark_not_ready(d, self.ctx.now),
                         status=True)
        short = self.ctx.settings.kruise.gates.CloneSetShortHash

        def change(draft: Obj) -> None:
            draft["metadata"].setdefault("labels", {}).update(
                revision_labels(spec.revision, short=short))
            set_state(draft, UPDATING, self.ctx.now)
            inplace.start_update(draft, spec, self.ctx.now, grace)
        self._modify_pod(cs, name, change)
        self._event(cs, "Normal", "SuccessfulUpdatePodInPlace",
                    f"successfully update pod {name} in-place(revision {spec.revision})")
        return float(grace) if grace > 0 else None

    # -- helpers ------------------------------------------------------------------------

    def _modify_pod(self, cs: Obj, name: str, change: Callable[[Obj], None], *,
                    status: bool = False) -> bool:
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            before = self.ctx.store.peek("pods", namespace_of(cs), name)
            after = self.ctx.store.modify("pods", namespace_of(cs), name, change,
                                          subresource="status" if status else None)
            self.writes += after is not before
            return after is not before
        return False

    def _event(self, cs: Obj, type_: str, reason: str, message: str) -> None:
        self.ctx.events.record(cs, type_, reason, message, component=COMPONENT)


def _next_state(cs: Obj, pod: Obj, update: str) -> str | None:
    """Lifecycle transitions of ``refreshPodState`` (reference §1.8)."""
    hooks = (cs.get("spec") or {}).get("lifecycle") or {}
    in_place = hooks.get("inPlaceUpdate")
    state = state_of(pod)
    if state == PREPARING_NORMAL:
        pre_normal = hooks.get("preNormal")
        if pre_normal:
            return NORMAL if is_all_hooked(pod, pre_normal) else None
        scheduled = condition(pod, "PodScheduled")
        return NORMAL if scheduled and scheduled.get("status") == "True" else None
    if state == PREPARING_UPDATE and inplace.equal_to_revision(pod, update):
        return UPDATED if in_place and not is_all_hooked(pod, in_place) else NORMAL
    if state == UPDATING and inplace.is_update_completed(pod):
        return UPDATED if in_place and not is_all_hooked(pod, in_place) else NORMAL
    if state == UPDATED and (not in_place or is_all_hooked(pod, in_place)):
        return NORMAL
    return None


def _prepare_update(draft: Obj, handler: Obj | None, now: float) -> None:
    """``PreparingUpdate``; from ``Updated`` the hook's labels and finalizers go back on
    (upstream ``UpdatePodLifecycleWithHandler``)."""
    set_state(draft, PREPARING_UPDATE, now)
    if not handler:
        return
    meta = draft["metadata"]
    meta.setdefault("labels", {}).update(handler.get("labelsHandler") or {})
    finalizers = meta.setdefault("finalizers", [])
    finalizers += [f for f in handler.get("finalizersHandler") or [] if f not in finalizers]
    if not finalizers:
        meta.pop("finalizers")
