"""DisruptionController: PodDisruptionBudget status, as upstream's ``disruption`` controller
keeps it; it also installs the eviction subresource (``eviction.py``) and the PDB
admission (``pdb.admit_pdb``).

For each PDB (``trySync``, the rules in ``pdb.py``): the matching pods, the expected
count from their owners' scale (``ReplicaSet`` → its Deployment's ``spec.replicas``,
else the ReplicaSet's; ``StatefulSet``; any other kind through the registry's ``scale``
description, so custom workloads with a ``/scale`` subresource work too), the pending
``disruptedPods`` (the eviction API records them; entries go when the pod is seen
terminating or gone, or after two minutes, with a recheck scheduled for that moment),
``currentHealthy`` and ``disruptionsAllowed``; the status is written only when it
changed. A failure (no controller found for a pod, a kind without a scale subresource)
writes ``disruptionsAllowed: 0`` with condition reason ``SyncFailed``. Events:
``NoPods``, ``UnmanagedPods``, ``CalculateExpectedPodCountFailed``, ``NotDeleted`` and
``MultiplePodDisruptionBudgets``, worded as upstream.

Also as upstream: a pod that got ``DisruptionTarget=True`` but is still not being
deleted two minutes later has the condition reset to ``False``.

Cost: a ``Selection`` maps pods to the PDBs selecting them, and per PDB a ``_Tally``
keeps the counts a sync needs (healthy pods, pods per controller), updated from pod
events. A sync then costs O(controllers + disrupted entries), not O(pods). Only pod
events that change what a PDB counts (labels, readiness, deletion, owner) wake PDBs.

Deliberate difference: a pod matching several PDBs wakes all of them (upstream wakes
only the first one it finds); the warning event names the first by name.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.eviction import EvictionHandler
from kitlib.cluster.pdb import (
    ControllerRef,
    PodFacts,
    SyncError,
    admit_pdb,
    desired_healthy,
    facts_of,
    fail_safe_status,
    filter_disrupted,
    go_selector,
    next_status,
    pdb_selector,
)
from kitlib.cluster.podutil import condition, controller_of, is_terminal, set_condition
from kitlib.cluster.selection import ObjKey, Selection
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import labels_of, parse_time
from kitlib.store.watch import WatchEvent

__all__ = ["STALE_DISRUPTION_TIMEOUT", "DisruptionController"]

PDBS = "poddisruptionbudgets.policy"
#: Upstream ``stalePodDisruptionTimeout``.
STALE_DISRUPTION_TIMEOUT = 120.0
_COMPONENT = "controllermanager"
_UNMANAGED = ("Pods selected by this PodDisruptionBudget (selector: {}) were found to be "
              "unmanaged. As a result, the status of the PDB cannot be calculated correctly, "
              "which may result in undefined behavior. To account for these pods please set "
              '".spec.minAvailable" field of the PDB to an integer value.')


@dataclass
class _Tally:
    """Counts over one PDB's member pods, kept up to date from pod events."""

    healthy: int = 0
    controllers: dict[ControllerRef, set[str]] = field(default_factory=dict)
    unmanaged: set[str] = field(default_factory=set)

    def add(self, pod: str, facts: PodFacts) -> None:
        self.healthy += facts.healthy
        if facts.controller is None:
            self.unmanaged.add(pod)
        else:
            self.controllers.setdefault(facts.controller, set()).add(pod)

    def remove(self, pod: str, facts: PodFacts) -> None:
        self.healthy -= facts.healthy
        if facts.controller is None:
            self.unmanaged.discard(pod)
            return
        pods = self.controllers.get(facts.controller)
        if pods is not None:
            pods.discard(pod)
            if not pods:
                del self.controllers[facts.controller]


class DisruptionController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.selection = Selection()
        self._facts: dict[ObjKey, PodFacts] = {}
        self._tallies: dict[ObjKey, _Tally] = {}
        self.runner: Runner[ObjKey] = Runner(ctx.engine, "disruption-controller", self.reconcile)
        self.stale: Runner[ObjKey] = Runner(ctx.engine, "disruption-stale-pods",
                                            self.reconcile_stale_pod)
        self.multiple: Runner[ObjKey] = Runner(ctx.engine, "disruption-multiple-pdbs",
                                               self.warn_multiple)
        ctx.store.add_admission(PDBS, admit_pdb)
        ctx.store.subscribe(PDBS, self._observe_pdb)
        ctx.store.subscribe("pods", self._observe_pod)
        self.eviction = EvictionHandler(ctx)
        ctx.subresource_handlers[("pods", "eviction")] = self.eviction

    # -- events -------------------------------------------------------------------------

    def _observe_pdb(self, event: WatchEvent) -> None:
        pdb = event.obj
        key = (event.namespace, pdb["metadata"]["name"])
        prev_spec = (event.prev or {}).get("spec")
        if event.type == "DELETED":
            self._drop_pdb(key)
        elif event.prev is None or prev_spec != pdb.get("spec") or \
                event.prev["metadata"].get("uid") != pdb["metadata"].get("uid"):
            self._track_pdb(key, pdb)
        self.runner.enqueue(key)

    def _track_pdb(self, key: ObjKey, pdb: dict[str, Any]) -> None:
        self._drop_pdb(key)
        try:
            selector = pdb_selector(pdb)
        except SyncError:
            return  # the sync reports it
        pods = self.store.select("pods", namespace=key[0], labels=selector)
        self.selection.set_owner(key, selector, (p["metadata"]["name"] for p in pods))
        tally = self._tallies[key] = _Tally()
        for pod in pods:
            pod_key = (key[0], pod["metadata"]["name"])
            facts = self._facts.setdefault(pod_key, facts_of(pod))
            tally.add(pod_key[1], facts)

    def _drop_pdb(self, key: ObjKey) -> None:
        self._tallies.pop(key, None)
        for pod in self.selection.remove_owner(key):
            if not self.selection.owners(key[0], pod):
                self._facts.pop((key[0], pod), None)

    def _observe_pod(self, event: WatchEvent) -> None:
        pod, prev = event.obj, event.prev
        key = (event.namespace, pod["metadata"]["name"])
        if event.type == "DELETED":
            before, after = self.selection.update_pod(*key, None)
        else:
            self._check_stale_condition(key, pod)
            if prev is None or labels_of(prev) != labels_of(pod):
                before, after = self.selection.update_pod(*key, labels_of(pod))
            else:
                before = after = self.selection.owners(*key)
        if not before and not after:
            return
        old = self._facts.get(key)
        new = None if event.type == "DELETED" else facts_of(pod)
        if before == after and old == new:
            return
        self._retally(key, before, after, old, new)
        if len(after) > 1 and (before != after or prev is None):
            self.multiple.enqueue(key)

    def _retally(self, key: ObjKey, before: tuple[ObjKey, ...], after: tuple[ObjKey, ...],
                 old: PodFacts | None, new: PodFacts | None) -> None:
        for owner in before:
            if old is not None and owner in self._tallies:
                self._tallies[owner].remove(key[1], old)
        for owner in after:
            if new is not None and owner in self._tallies:
                self._tallies[owner].add(key[1], new)
        if after and new is not None:
            self._facts[key] = new
        else:
            self._facts.pop(key, None)
        for owner in sorted({*before, *after}):
            self.runner.enqueue(owner)

    # -- the PDB sync -------------------------------------------------------------------

    def reconcile(self, key: ObjKey) -> Result | None:
        pdb = self.store.peek(PDBS, *key)
        if pdb is None:
            return None
        try:
            recheck = self._sync(key, pdb)
        except SyncError as exc:
            self._write_status(key, fail_safe_status(pdb, str(exc), self.ctx.now))
            return None
        if recheck is not None:
            return Result(requeue_after=max(0.0, recheck - self.ctx.now))
        return None

    def _sync(self, key: ObjKey, pdb: dict[str, Any]) -> float | None:
        """Upstream ``trySync``; returns when the PDB must be looked at again, if ever."""
        try:
            pdb_selector(pdb)
        except SyncError as exc:
            self._event(pdb, "Warning", "NoPods", f"Failed to get pods: {exc}")
            raise
        members = self.selection.members(key)
        tally = self._tallies.get(key) or _Tally()
        if not members:
            self._event(pdb, "Normal", "NoPods", "No matching pods found")
        expected, desired = self._expected_and_desired(key, pdb, tally, len(members))
        disrupted, expired, recheck = filter_disrupted(
            (pdb.get("status") or {}).get("disruptedPods") or {},
            lambda pod: self._facts.get((key[0], pod)) if pod in members else None,
            self.ctx.now)
        for pod in expired:
            self._pod_event(key[0], pod, "Warning", "NotDeleted", "Pod was expected by PDB "
                            f"{key[0]}/{key[0]} to be deleted but it wasn't")
        healthy = tally.healthy - sum(1 for pod in disrupted
                                      if self._facts[(key[0], pod)].healthy)
        status = next_status(pdb, expected=expected, desired=desired, healthy=healthy,
                             disrupted=disrupted, now=self.ctx.now)
        if status is not None:
            self._write_status(key, status)
        return recheck

    def _expected_and_desired(self, key: ObjKey, pdb: dict[str, Any], tally: _Tally,
                              pods: int) -> tuple[int, int]:
        """Upstream ``getExpectedPodCount`` with its events."""
        scaled: list[bool] = []

        def expected_scale() -> int:
            scaled.append(True)
            return self._expected_scale(key, tally)
        try:
            counts = desired_healthy(pdb.get("spec") or {}, pods, expected_scale)
        except SyncError as exc:
            self._event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                        f"Failed to calculate the number of expected pods: {exc}")
            raise
        if scaled and tally.unmanaged:
            self._event(pdb, "Warning", "UnmanagedPods", _UNMANAGED.format(
                go_selector((pdb.get("spec") or {}).get("selector"))))
        return counts

    def _expected_scale(self, key: ObjKey, tally: _Tally) -> int:
        """Upstream ``getExpectedScale``: the sum of the pods' controllers' scale."""
        scales: dict[str, int] = {}
        for ref in sorted(tally.controllers):
            found = find_scale(self.ctx, ref, key[0])
            if found is None:
                raise SyncError(f'found no controllers for pod "{min(tally.controllers[ref])}"')
            scales[found[0]] = found[1]
        return sum(scales.values())

    def _write_status(self, key: ObjKey, status: dict[str, Any]) -> None:
        def change(pdb: dict[str, Any]) -> None:
            pdb["status"] = status
        with contextlib.suppress(errors.NotFound):
            self.store.modify(PDBS, *key, change, subresource="status")

    # -- pods matching several PDBs -----------------------------------------------------

    def warn_multiple(self, key: ObjKey) -> Result | None:
        pod = self.store.peek("pods", *key)
        owners = self.selection.owners(*key)
        if pod is not None and len(owners) > 1:
            message = (f'Pod "{key[0]}"/"{key[1]}" matches multiple PodDisruptionBudgets.  '
                       f'Chose "{owners[0][1]}" arbitrarily.')
            self.ctx.events.record(pod, "Warning", "MultiplePodDisruptionBudgets", message,
                                   component=_COMPONENT)
        return None

    # -- stale DisruptionTarget conditions ----------------------------------------------

    def _check_stale_condition(self, key: ObjKey, pod: dict[str, Any]) -> None:
        wait = _stale_condition_wait(pod, self.ctx.now)
        if wait is not None:
            self.stale.enqueue_after(key, wait)

    def reconcile_stale_pod(self, key: ObjKey) -> Result | None:
        pod = self.store.peek("pods", *key)
        if pod is None:
            return None
        wait = _stale_condition_wait(pod, self.ctx.now)
        if wait is None:
            return None
        if wait > 0:
            return Result(requeue_after=wait)
        self.store.modify("pods", *key, lambda p: set_condition(
            p, "DisruptionTarget", "False", self.ctx.now), subresource="status")
        return None

    # -- events -------------------------------------------------------------------------

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.ctx.events.record(obj, type_, reason, message, component=_COMPONENT)

    def _pod_event(self, namespace: str, pod: str, type_: str, reason: str,
                   message: str) -> None:
        obj = self.store.peek("pods", namespace, pod)
        if obj is not None:
            self._event(obj, type_, reason, message)


def _stale_condition_wait(pod: dict[str, Any], now: float) -> float | None:
    """Upstream ``nonTerminatingPodHasStaleDisruptionCondition``: seconds until a
    ``DisruptionTarget=True`` condition on a pod that is not being deleted is stale."""
    if pod["metadata"].get("deletionTimestamp") or is_terminal(pod):
        return None
    cond = condition(pod, "DisruptionTarget")
    if cond is None or cond.get("status") != "True" or \
            cond.get("reason") == "TerminationByKubelet":
        return None
    try:
        since = parse_time(str(cond.get("lastTransitionTime")))
    except ValueError:
        since = now
    return max(0.0, since + STALE_DISRUPTION_TIMEOUT - now)


# -- finding a controller's scale -------------------------------------------------------

def find_scale(ctx: ClusterContext, ref: ControllerRef, namespace: str) -> tuple[str, int] | None:
    """Upstream's finders, tried in order: ``(uid, replicas)`` of the object whose scale
    counts for pods controlled by ``ref``, or ``None`` if none is found."""
    group = ref.api_version.rpartition("/")[0]
    if ref.kind == "ReplicaSet" and group in ("apps", "extensions"):
        rs = _owned(ctx, "replicasets.apps", namespace, ref)
        if rs is not None:
            owner = controller_of(rs)
            if owner is None or owner.get("kind") != "Deployment":
                return ref.uid, _replicas(rs)
            dep_ref = ControllerRef(str(owner.get("apiVersion", "")), "Deployment",
                                    str(owner.get("name", "")), str(owner.get("uid", "")))
            if dep_ref.api_version.rpartition("/")[0] in ("apps", "extensions"):
                deployment = _owned(ctx, "deployments.apps", namespace, dep_ref)
                if deployment is not None:
                    return dep_ref.uid, _replicas(deployment)
    if ref.kind == "StatefulSet" and group == "apps":
        sts = _owned(ctx, "statefulsets.apps", namespace, ref)
        if sts is not None:
            return ref.uid, _replicas(sts)
    return _generic_scale(ctx, ref, namespace)


def _generic_scale(ctx: ClusterContext, ref: ControllerRef,
                   namespace: str) -> tuple[str, int] | None:
    """Upstream ``getScaleController``: any kind with a ``scale`` subresource."""
    rt = ctx.registry.by_kind(ref.api_version, ref.kind)
    if rt is None:
        raise SyncError(f'no matches for kind "{ref.kind}" in version "{ref.api_version}"')
    if rt.scale is None:
        raise SyncError(f"{rt.key} does not implement the scale subresource")
    obj = _owned(ctx, rt.key, namespace, ref)
    if obj is None:
        return None
    value: Any = obj
    for part in rt.scale.spec_replicas_path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return ref.uid, int(value or 0)


def _owned(ctx: ClusterContext, rt_key: str, namespace: str,
           ref: ControllerRef) -> dict[str, Any] | None:
    """The object ``ref`` names, if it exists with that UID."""
    obj = ctx.store.peek(rt_key, namespace, ref.name)
    if obj is None or obj["metadata"].get("uid") != ref.uid:
        return None
    return obj


def _replicas(obj: dict[str, Any]) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)
