"""What the native and the Advanced StatefulSet controllers share.

Both keep pods named ``<set>-<ordinal>`` and a ``ControllerRevision`` history,
and differ only in how a pod reaches its update revision (recreate, or in
place for the Advanced one). This base class owns the common steps: claiming
pods and revisions, finding or making the update revision, trimming the history, creating pods with their
identity labels, repairing identity labels, status writes and events.
Subclasses name their kind (``set_key``) and may decorate new pods.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.workloads.history import (
    REVISIONS,
    apply_revision,
    history_to_delete,
    update_revision,
)
from kitlib.cluster.workloads.ownership import candidates, claim, pod_from_template
from kitlib.cluster.workloads.statefulset_plan import (
    POD_INDEX,
    POD_NAME,
    REVISION_LABEL,
    ordinal_of,
)
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of
from kitlib.model.selectors import LabelSelector

__all__ = ["REVISIONS", "StatefulSetBase", "set_selector"]

Obj = dict[str, Any]


def set_selector(sts: Obj) -> LabelSelector:
    return LabelSelector.from_object((sts.get("spec") or {}).get("selector"))


class StatefulSetBase:
    #: The kind key of the set (``statefulsets.apps`` or ``statefulsets.apps.kruise.io``).
    set_key: ClassVar[str]
    component: ClassVar[str] = "statefulset-controller"

    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx

    # -- claiming ---------------------------------------------------------------------

    def _claim(self, sts: Obj, rt_key: str) -> list[Obj]:
        selector = set_selector(sts)
        found = candidates(self.ctx.store, rt_key, sts, selector)
        member = None if rt_key == REVISIONS else (
            lambda p: ordinal_of(name_of(p), name_of(sts)) >= 0)
        return claim(self.ctx.store, rt_key, sts, selector, found, member=member)

    def _pods(self, sts: Obj) -> dict[int, Obj]:
        return {ordinal_of(name_of(p), name_of(sts)): p for p in self._claim(sts, "pods")}

    # -- revisions --------------------------------------------------------------------

    def _update_revision(self, sts: Obj, revisions: list[Obj],
                         collision: int) -> tuple[Obj, int]:
        return update_revision(self.ctx.store, sts, revisions, collision)

    def _revision_of(self, pod: Obj) -> str:
        return str((meta_of(pod).get("labels") or {}).get(REVISION_LABEL, ""))

    def _truncate(self, sts: Obj, revisions: list[Obj], pods: dict[int, Obj],
                  live: set[str]) -> None:
        live |= {self._revision_of(p) for p in pods.values()}
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        for name in history_to_delete(limit, revisions, live):
            with contextlib.suppress(errors.NotFound):
                self.ctx.store.delete(REVISIONS, namespace_of(sts), name)

    # -- pods -------------------------------------------------------------------------

    def _decorate_pod(self, sts: Obj, pod: Obj) -> None:
        """Subclasses add what their kind puts on new pods (e.g. readiness gates)."""

    def _create_pod(self, sts: Obj, ordinal: int, revision: Obj) -> bool:
        name = f"{name_of(sts)}-{ordinal}"
        pod = pod_from_template(apply_revision(sts, revision), name=name)
        pod["metadata"].setdefault("labels", {}).update({
            REVISION_LABEL: name_of(revision), POD_NAME: name, POD_INDEX: str(ordinal)})
        pod["spec"]["hostname"] = name
        if (sts.get("spec") or {}).get("serviceName"):
            pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
        self._decorate_pod(sts, pod)
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

    def _delete_pod(self, sts: Obj, name: str) -> None:
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.delete("pods", namespace_of(sts), name)
        self._event(sts, "Normal", "SuccessfulDelete",
                    f"delete Pod {name} in StatefulSet {name_of(sts)} successful")

    # -- status and events --------------------------------------------------------------

    def _write_status(self, sts: Obj, status: Obj) -> None:
        if status == (sts.get("status") or {}):
            return
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify(self.set_key, namespace_of(sts), name_of(sts),
                                  lambda d: d.__setitem__("status", status),
                                  subresource="status")

    def _event(self, sts: Obj, type_: str, reason: str, message: str) -> None:
        self.ctx.events.record(sts, type_, reason, message, component=self.component)
