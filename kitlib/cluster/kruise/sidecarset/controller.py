"""SidecarSetController: status, ControllerRevisions and in-place sidecar upgrades.

Upstream ``pkg/controller/sidecarset/sidecarset_processor.go::UpdateSidecarSet``.
Each reconcile of a SidecarSet:

1. reads its matched pods (the store's label index over its selector, then the
   injected-list annotation: work proportional to the pods it selects);
2. keeps a ControllerRevision ``<name>-<hash>`` of its containers in ``kruise-system``
   (created on first need) and names it in ``status.latestRevision``;
3. writes ``status`` (``matchedPods``, ``updatedPods``, ``readyPods``,
   ``updatedReadyPods``, ``observedGeneration``, ``latestRevision``) when it changed;
4. unless ``updateStrategy.type`` is ``NotUpdate`` or ``paused``: if it has hot-upgrade
   containers and some pods finished a hot upgrade (every non-empty sidecar consistent
   and ready), flips their old container back to the empty image and stops this round
   (``hotupgrade``); otherwise marks pods whose
   non-image fields changed with ``SidecarSetUpgradable=False`` (``UpdateImmutableField``)
   and leaves them alone, and upgrades the pods ``get_next_upgrade_pods`` picks: only
   the sidecar containers' images are patched (for a hot-upgrade sidecar, the image of
   the idle one of its two containers, which becomes the working one; the kubelet
   restarts just those), the
   pod hash annotations are updated and ``kruise.io/sidecarset-inplace-update-state``
   records the old ``imageID`` so completion can be detected.

Pod events wake the SidecarSets named in the pod's injected-list annotation.
A pod update refused by admission (a PodUnavailableBudget with its update gate on) is
skipped and tried again on a later reconcile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.sidecarset.admission import (
    SIDECARSETS,
    SidecarSetAdmission,
    register_sidecarset_schema,
)
from kitlib.cluster.kruise.sidecarset.hashes import (
    HASH,
    HASH_WITHOUT_IMAGE,
    INPLACE_STATE,
    UPGRADABLE,
    dumps,
    hash_of,
    hash_without_image_of,
    pod_hash_map,
)
from kitlib.cluster.kruise.sidecarset.hotupgrade import (
    empty_containers,
    find_container_to_upgrade,
    flip_do,
    is_hot,
    is_hot_upgrading_ready,
    is_in_hot_upgrading,
    sidecar_container_names,
    upgrade_hot_do,
)
from kitlib.cluster.kruise.sidecarset.injection import SidecarInjector
from kitlib.cluster.kruise.sidecarset.podstate import (
    injected_into,
    inplace_state,
    is_matched,
    is_pod_ready,
    is_state_consistent,
    pod_state,
)
from kitlib.cluster.kruise.sidecarset.upgrade import PodState, get_next_upgrade_pods
from kitlib.cluster.podutil import condition, set_condition
from kitlib.cluster.workloads.hashing import compute_hash
from kitlib.cluster.workloads.history import REVISIONS
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import format_time
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["REVISION_NAMESPACE", "SidecarSetController"]

Obj = dict[str, Any]
REVISION_NAMESPACE = "kruise-system"
_NAME_LABEL = "kruise.io/sidecarset-name"


class SidecarSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        register_sidecarset_schema()
        ctx.store.add_admission(SIDECARSETS, SidecarSetAdmission(
            lambda: list(ctx.store.iter_objects(SIDECARSETS))))
        self.injector = SidecarInjector(ctx)
        ctx.store.add_admission("pods", self.injector)
        self.runner: Runner[str] = Runner(ctx.engine, "sidecarset-controller", self.reconcile,
                                          busy=self._busy)
        #: pods each SidecarSet's last reconcile walked (its busy window, ``Runner``)
        self._walked: dict[str, int] = {}
        #: per SidecarSet: is_matched of each candidate pod (``matched_pods``)
        self._matched: _PerPod[bool] = _PerPod()
        #: per SidecarSet: the PodState of each matched pod (``_pod_states``)
        self._states: _PerPod[PodState] = _PerPod()
        ctx.store.subscribe(SIDECARSETS, self._observe_sidecarset)
        ctx.store.subscribe("pods", self._observe_pod)

    def _observe_sidecarset(self, event: WatchEvent) -> None:
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            self._matched.forget(name)
            self._states.forget(name)
            self._walked.pop(name, None)
        else:
            self.runner.enqueue(name)

    def _observe_pod(self, event: WatchEvent) -> None:
        names = set(injected_into(event.obj))
        if event.prev is not None:
            names.update(injected_into(event.prev))
        for name in sorted(names):
            self.runner.enqueue(name)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, name: str) -> Result | None:
        ss = self.store.peek(SIDECARSETS, "", name)
        if ss is None or ss["metadata"].get("deletionTimestamp"):
            return None
        pods = self.matched_pods(ss)
        self._walked[name] = len(pods)
        revision = self._ensure_revision(ss)
        states = self._pod_states(ss, pods)
        self._write_status(ss, states, revision)
        strategy = (ss.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") == "NotUpdate" or strategy.get("paused"):
            return None
        if self._flip_finished_hot_upgrades(ss, pods):
            return None
        if sum(s.updated for s in states) >= len(states):
            return None
        upgrade, blocked = get_next_upgrade_pods(strategy, states)
        by_name = {p["metadata"]["name"]: p for p in pods}
        for pod_name in blocked:
            self._set_upgradable(by_name[pod_name], name, False)
        for pod_name in upgrade:
            self._upgrade(ss, by_name[pod_name], revision)
        return None

    def _pod_states(self, ss: Obj, pods: list[Obj]) -> list[PodState]:
        """``pod_state`` of each pod, memoized per stored pod object and SidecarSet spec."""
        token = (ss["metadata"].get("generation"), hash_of(ss), hash_without_image_of(ss),
                 ss["metadata"].get("uid"))
        return self._states.values(ss["metadata"]["name"], token, pods,
                                   lambda pod: pod_state(ss, pod))

    def _busy(self, name: str) -> float:
        return self._walked.get(name, 0) * self.ctx.settings.reconcile_seconds_per_object

    def matched_pods(self, ss: Obj) -> list[Obj]:
        spec = ss.get("spec") or {}
        selector = LabelSelector.from_object(spec.get("selector"))
        candidates = self.store.select("pods", namespace=spec.get("namespace") or None,
                                       labels=selector)
        token = (ss["metadata"].get("generation"), ss["metadata"].get("uid"))
        matches = self._matched.values(ss["metadata"]["name"], token, candidates,
                                       lambda pod: is_matched(ss, pod))
        return [pod for pod, match in zip(candidates, matches, strict=True) if match]

    def _write_status(self, ss: Obj, states: list[PodState], revision: str) -> None:
        ready = [s.consistent and s.ready for s in states]
        status = {
            "observedGeneration": int(ss["metadata"].get("generation") or 0),
            "matchedPods": len(states),
            "updatedPods": sum(s.updated for s in states),
            "readyPods": sum(ready),
            "updatedReadyPods": sum(s.updated and r for s, r in zip(states, ready, strict=True)),
            "latestRevision": revision,
        }
        current = ss.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return

        def change(draft: Obj) -> None:
            draft["status"] = {**(draft.get("status") or {}), **status}
        self.store.modify(SIDECARSETS, "", ss["metadata"]["name"], change, subresource="status")

    # -- revisions ----------------------------------------------------------------------

    def _ensure_revision(self, ss: Obj) -> str:
        spec = ss.get("spec") or {}
        data = {"spec": {k: spec.get(k) for k in ("containers", "initContainers", "volumes",
                                                  "imagePullSecrets") if spec.get(k)}}
        name = f"{ss['metadata']['name']}-{compute_hash(data)}"
        if self.store.peek(REVISIONS, REVISION_NAMESPACE, name) is not None:
            return name
        if self.store.peek("namespaces", "", REVISION_NAMESPACE) is None:
            self.store.create("namespaces", {"metadata": {"name": REVISION_NAMESPACE}})
        existing = self.store.select(REVISIONS, namespace=REVISION_NAMESPACE,
                                     labels=LabelSelector.from_labels(
                                         {_NAME_LABEL: ss["metadata"]["name"]}))
        number = 1 + max((int(r.get("revision") or 0) for r in existing), default=0)
        self.store.create(REVISIONS, {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                                      "metadata": {
                                          "name": name, "namespace": REVISION_NAMESPACE,
                                          "labels": {_NAME_LABEL: ss["metadata"]["name"]},
                                          "ownerReferences": [_owner(ss)]},
                                      "data": data, "revision": number})
        self._trim_history(ss, existing)
        return name

    def _trim_history(self, ss: Obj, existing: list[Obj]) -> None:
        limit = max(1, int((ss.get("spec") or {}).get("revisionHistoryLimit") or 10))
        old = sorted(existing, key=lambda r: (int(r.get("revision") or 0),
                                              r["metadata"]["name"]))
        for rev in old[:max(0, len(old) + 1 - limit)]:
            with contextlib.suppress(errors.NotFound):
                self.store.delete(REVISIONS, REVISION_NAMESPACE, rev["metadata"]["name"])

    # -- pods ---------------------------------------------------------------------------

    def _upgrade(self, ss: Obj, pod: Obj, revision: str) -> None:
        name, now = ss["metadata"]["name"], format_time(self.ctx.now)
        sidecars = (ss.get("spec") or {}).get("containers") or ()
        statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses")
                    or ()}

        def change(draft: Obj) -> None:
            changed = self._upgrade_containers(ss, draft, sidecars)
            last = {c: {"imageID": (statuses.get(c) or {}).get("imageID", "")} for c in changed}
            annotations = draft["metadata"].setdefault("annotations", {})
            for key, value in ((HASH, hash_of(ss)), (HASH_WITHOUT_IMAGE,
                                                     hash_without_image_of(ss))):
                entries = pod_hash_map(draft, key)
                entry = entries.setdefault(name, {"sidecarSetName": name, "sidecarList": sorted(
                    c["name"] for c in sidecars)})
                entry.update(hash=value, updateTimestamp=now, controllerRevision=revision)
                annotations[key] = dumps(entries)
            state = inplace_state(draft)
            state[name] = {"revision": hash_of(ss), "updateTimestamp": now,
                           "lastContainerStatuses": last}
            annotations[INPLACE_STATE] = dumps(state)
        try:
            self.store.modify("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                              change)
        except errors.ApiError:
            return  # refused (a PodUnavailableBudget) or gone: a later reconcile retries
        self._set_upgradable(self.store.peek("pods", pod["metadata"]["namespace"],
                                             pod["metadata"]["name"]), name, True)

    @staticmethod
    def _upgrade_containers(ss: Obj, draft: Obj, sidecars: Any) -> list[str]:
        """Patch the sidecar images (upstream ``updatePodSidecarContainer``); returns the
        pod containers changed."""
        containers = {c["name"]: c for c in draft["spec"]["containers"]}
        changed: list[str] = []
        for sidecar in sidecars:
            if not is_hot(sidecar):
                c = containers.get(sidecar["name"])
                if c is not None and c.get("image") != sidecar.get("image"):
                    c["image"] = sidecar.get("image")
                    changed.append(c["name"])
                continue
            target, other = find_container_to_upgrade(
                sidecar, draft, lambda c: is_state_consistent(ss, draft, {c}))
            version = str(ss["metadata"].get("resourceVersion", ""))
            if upgrade_hot_do(draft, sidecar, target, other, version):
                changed.append(target)
        return changed

    # -- hot upgrade --------------------------------------------------------------------

    def _flip_finished_hot_upgrades(self, ss: Obj, pods: list[Obj]) -> bool:
        """Step 5 of upstream ``UpdateSidecarSet``: True when some pods were flipped."""
        if not any(is_hot(c) for c in (ss.get("spec") or {}).get("containers") or ()):
            return False
        done = [p for p in pods if _hot_upgrade_finished(ss, p)]
        for pod in done:
            self._flip(ss, pod)
        return bool(done)

    def _flip(self, ss: Obj, pod: Obj) -> None:
        name = ss["metadata"]["name"]
        statuses = {s.get("name"): s.get("imageID", "") for s in
                    (pod.get("status") or {}).get("containerStatuses") or ()}

        def change(draft: Obj) -> None:
            changed = flip_do(ss, draft)
            state = inplace_state(draft)
            entry = state.setdefault(name, {"revision": hash_of(ss), "updateTimestamp":
                                            format_time(self.ctx.now)})
            last = entry.setdefault("lastContainerStatuses", {})
            last.update({c: {"imageID": statuses.get(c, "")} for c in changed})
            draft["metadata"].setdefault("annotations", {})[INPLACE_STATE] = dumps(state)
        try:
            self.store.modify("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                              change)
        except errors.ApiError as err:
            self.ctx.events.record(pod, "Warning", "ResetContainerFailed",
                                   f"reset sidecar container image empty failed: {err}",
                                   component="sidecarset-controller")
            return
        self.ctx.events.record(pod, "Normal", "ResetContainerSucceed",
                               "reset sidecar container image empty successfully",
                               component="sidecarset-controller")

    def _set_upgradable(self, pod: Obj | None, name: str, value: bool) -> None:
        """Condition ``SidecarSetUpgradable``; its message maps SidecarSets to bools."""
        if pod is None:
            return
        current = condition(pod, UPGRADABLE) or {}
        try:
            verdicts = orjson.loads(current.get("message") or "{}")
        except orjson.JSONDecodeError:
            verdicts = {}
        if not isinstance(verdicts, dict):
            verdicts = {}
        verdicts[name] = value
        ok = all(verdicts.values())
        status = "True" if ok else "False"
        reason = "AllSidecarsetUpgradable" if ok else "UpdateImmutableField"
        message = dumps(verdicts)
        if (current.get("status"), current.get("reason"), current.get("message")) == (
                status, reason, message):
            return
        now = self.ctx.now
        self.store.modify("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                          lambda p: set_condition(p, UPGRADABLE, status, now, reason=reason,
                                                  message=message), subresource="status")


def _hot_upgrade_finished(ss: Obj, pod: Obj) -> bool:
    """A pod whose old hot container can be flipped back to the empty image."""
    if not is_in_hot_upgrading(ss, pod):
        return False
    working = sidecar_container_names(ss) - set(empty_containers(ss, pod))
    return is_state_consistent(ss, pod, working) and is_hot_upgrading_ready(
        ss, pod, is_pod_ready(pod))


def _owner(ss: Obj) -> Obj:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet",
            "name": ss["metadata"]["name"], "uid": ss["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


_T = TypeVar("_T")


class _PerPod(Generic[_T]):
    """A value computed per pod for each SidecarSet, kept while the stored pod object and
    the SidecarSet's token (the parts of its spec the value depends on) stay the same: the
    store replaces an object on every write and never mutates one, so the same object
    gives the same value. Pods not in the last call are dropped."""

    def __init__(self) -> None:
        self._by_set: dict[str, dict[tuple[str, str], tuple[Obj, Any, _T]]] = {}

    def values(self, name: str, token: Any, pods: list[Obj],
               compute: Callable[[Obj], _T]) -> list[_T]:
        memo = self._by_set.get(name, {})
        fresh: dict[tuple[str, str], tuple[Obj, Any, _T]] = {}
        out = []
        for pod in pods:
            meta = pod["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            found = memo.get(key)
            if found is None or found[0] is not pod or found[1] != token:
                found = (pod, token, compute(pod))
            fresh[key] = found
            out.append(found[2])
        self._by_set[name] = fresh
        return out

    def forget(self, name: str) -> None:
        self._by_set.pop(name, None)
