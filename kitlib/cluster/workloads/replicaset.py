"""ReplicaSetController: a ReplicaSet keeps ``spec.replicas`` pods of its template.

Upstream's ``pkg/controller/replicaset``, reconciled by key and level-based:
each reconcile claims the active pods the selector matches (adopting orphans,
releasing pods whose labels no longer match), creates or deletes pods as
``plan_replicas`` says, and writes the status computed from the pods that
exist *after* that. Creation is synchronous in the store, so counting the
current pods is exact: a burst of events never creates a pod too many, and
no expectations bookkeeping is needed.

Pods are ``<rs>-<5 random characters>`` (``generateName``), carry the
template's labels and annotations, and a controller ownerReference with
``blockOwnerDeletion``. Events: ``SuccessfulCreate``/``SuccessfulDelete``, and
``FailedCreate`` (Warning) with a ``ReplicaFailure`` condition when the API
refuses a pod.

Routing: a pod event wakes the ReplicaSet that controls the pod (before and
after the change); an orphan pod wakes the ReplicaSets of its namespace whose
selector matches it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.podutil import controller_of
from kitlib.cluster.workloads.ownership import candidates, claim, pod_from_template
from kitlib.cluster.workloads.podorder import is_active
from kitlib.cluster.workloads.replicaset_plan import (
    available_in,
    plan_replicas,
    replicaset_status,
)
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of, uid_of
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["ReplicaSetController"]

Obj = dict[str, Any]
Key = tuple[str, str]
REPLICASETS = "replicasets.apps"
COMPONENT = "replicaset-controller"


class ReplicaSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[Key] = Runner(ctx.engine, "replicaset", self.reconcile,
                                          busy=self._busy)
        #: pods each ReplicaSet's last reconcile walked (its busy window, ``Runner``)
        self._walked: dict[Key, int] = {}
        ctx.store.subscribe(REPLICASETS, self._on_replicaset)
        ctx.store.subscribe("pods", self._on_pod)

    # -- event routing ------------------------------------------------------------------

    def _on_replicaset(self, event: WatchEvent) -> None:
        self.runner.enqueue((namespace_of(event.obj), name_of(event.obj)))

    def _on_pod(self, event: WatchEvent) -> None:
        obj, prev = event.obj, event.prev
        refs = [controller_of(o) for o in (prev, obj) if o is not None]
        for ref in refs:
            if ref is not None and ref.get("kind") == "ReplicaSet":
                self.runner.enqueue((namespace_of(obj), ref["name"]))
        if controller_of(obj) is not None or event.type == "DELETED":
            return
        relabelled = prev is None or meta_of(prev).get("labels") != meta_of(obj).get("labels")
        if relabelled or any(r is not None for r in refs):
            self._enqueue_matching(obj)

    def _enqueue_matching(self, pod: Obj) -> None:
        labels = meta_of(pod).get("labels")
        for rs in sorted(self.ctx.store.iter_objects(REPLICASETS, namespace_of(pod)),
                         key=name_of):
            if LabelSelector.from_object((rs.get("spec") or {}).get("selector")).matches(labels):
                self.runner.enqueue((namespace_of(rs), name_of(rs)))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: Key) -> Result | None:
        rs = self.ctx.store.peek(REPLICASETS, *key)
        if rs is None:
            self._walked.pop(key, None)
            return None
        selector = LabelSelector.from_object((rs.get("spec") or {}).get("selector"))
        pods = self._claimed(rs, selector)
        self._walked[key] = len(pods)
        failure = None
        if not meta_of(rs).get("deletionTimestamp"):
            failure = self._manage(rs, pods)
            pods = self._active_pods(rs, selector)
        self._write_status(rs, pods, failure)
        min_ready = float((rs.get("spec") or {}).get("minReadySeconds") or 0)
        after = available_in(pods, min_ready, self.ctx.now)
        return Result(requeue_after=after) if after is not None else None

    def _busy(self, key: Key) -> float:
        return self._walked.get(key, 0) * self.ctx.settings.reconcile_seconds_per_object

    def _claimed(self, rs: Obj, selector: LabelSelector) -> list[Obj]:
        found = [p for p in candidates(self.ctx.store, "pods", rs, selector) if is_active(p)]
        return claim(self.ctx.store, "pods", rs, selector, found)

    def _active_pods(self, rs: Obj, selector: LabelSelector) -> list[Obj]:
        uid = uid_of(rs)
        return [p for p in candidates(self.ctx.store, "pods", rs, selector)
                if is_active(p) and (controller_of(p) or {}).get("uid") == uid]

    def _manage(self, rs: Obj, pods: list[Obj]) -> tuple[str, str] | None:
        """Create or delete pods; (reason, message) of the first failure, if any."""
        replicas = int((rs.get("spec") or {}).get("replicas", 1))
        plan = plan_replicas(replicas, pods, self._related(rs, pods), self.ctx.now)
        for _ in range(plan.create):
            try:
                pod = self.ctx.store.create("pods", pod_from_template(rs))
            except errors.ApiError as exc:
                self._event(rs, "Warning", "FailedCreate", f"Error creating: {exc.message}")
                return "FailedCreate", exc.message
            self._event(rs, "Normal", "SuccessfulCreate", f"Created pod: {name_of(pod)}")
        for pod in plan.delete:
            with contextlib.suppress(errors.NotFound):
                self.ctx.store.delete("pods", namespace_of(pod), name_of(pod))
            self._event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")
        return None

    def _related(self, rs: Obj, pods: list[Obj]) -> list[Obj]:
        """Pods of every ReplicaSet of the same owner (upstream ``getIndirectlyRelatedPods``)."""
        owner = controller_of(rs)
        if owner is None:
            return pods
        siblings = [obj for key, obj in self.ctx.store.by_owner(owner["uid"])
                    if key == REPLICASETS]
        return [p for s in siblings for key, p in self.ctx.store.by_owner(uid_of(s))
                if key == "pods"]

    def _write_status(self, rs: Obj, pods: list[Obj], failure: tuple[str, str] | None) -> None:
        status = replicaset_status(rs, pods, self.ctx.now, failure=failure)
        if status == (rs.get("status") or {}):
            return

        def change(draft: Obj) -> None:
            draft["status"] = status

        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify(REPLICASETS, namespace_of(rs), name_of(rs), change,
                                  subresource="status")

    def _event(self, rs: Obj, type_: str, reason: str, message: str) -> None:
        self.ctx.events.record(rs, type_, reason, message, component=COMPONENT)
