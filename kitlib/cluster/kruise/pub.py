"""PodUnavailableBudgetController: PUB status, and the checks that guard pod DELETE,
EVICT and (with its gate) in-place UPDATE.

Upstream ``pkg/controller/podunavailablebudget`` and ``pkg/control/pubcontrol``:

* pods: those of ``spec.targetRef``'s workload (its ``spec.selector``, looked up through
  the registry, so any workload kind works), else of ``spec.selector``; expected
  replicas: the workload's ``spec.replicas`` (the registry's scale path), or for a
  selector the sum of the pods' controllers' scale (``disruption.find_scale``, as for
  PDBs; an unmanaged pod counts one), or the ``pub.kruise.io/protect-total-replicas``
  annotation;
* every pod gets ``pub.kruise.io/related-pub`` (and the deprecated
  ``kruise.io/related-pub``) naming the PUB;
* ``desiredAvailable`` = expected − ceil(maxUnavailable) (≥ 0), or ceil(minAvailable);
  ``disruptedPods`` entries stay 20 s, ``unavailablePods`` 10 s, while the pod exists
  and is not being deleted; ``currentAvailable`` counts active, Running, Ready pods
  that are not in those maps, carry no ``unavailable-pod.kruise.io/`` label and whose
  in-place / sidecar update is complete; ``unavailableAllowed`` = max(current −
  desired, 0).

``validate_pod`` is upstream's ``PodUnavailableBudgetValidatePod``: it is hooked into
``Store.delete`` (DELETE, gate ``PodUnavailableBudgetDeleteGate``), the eviction
subresource (EVICT, same gate) and pod UPDATE admission when the spec changes (gate
``PodUnavailableBudgetUpdateGate``, off by default). A refusal is what the API server
answers for a denying validating webhook: 403 ``admission webhook "vpod.kb.io" denied
the request: podunavailablebudget.policy.kruise.io "<pub>" is forbidden: pub
unavailable allowed is negative``. Deliberate addition: deleting a pod whose
controller is gone or being deleted is allowed (the garbage collector's deletions,
which upstream allows once the PUB has seen its workload go).
"""

from __future__ import annotations

import contextlib
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.disruption import find_scale
from kitlib.cluster.eviction import EvictionHandler
from kitlib.cluster.pdb import ControllerRef
from kitlib.cluster.podutil import controller_of, is_ready
from kitlib.cluster.workloads.podorder import is_active
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.intstr import scaled_value
from kitlib.model.objects import annotations_of, format_time, parse_time
from kitlib.model.registry import ResourceType
from kitlib.model.schema import register_schema
from kitlib.model.selectors import LabelSelector
from kitlib.store.store import DeleteOptions
from kitlib.store.watch import WatchEvent

__all__ = ["PUBS", "PodUnavailableBudgetController", "pod_consistent"]

Obj = dict[str, Any]
PUBS = "podunavailablebudgets.policy.kruise.io"
RELATED = "pub.kruise.io/related-pub"
RELATED_OLD = "kruise.io/related-pub"
NO_PROTECT = "pub.kruise.io/no-protect"
PROTECT_OPERATIONS = "kruise.io/pub-protect-operations"
PROTECT_TOTAL = "pub.kruise.io/protect-total-replicas"
DELETION_TIMEOUT = 20.0
UPDATE_TIMEOUT = 10.0
MAX_UNAVAILABLE_PODS = 2000
_UNAVAILABLE_LABEL = "unavailable-pod.kruise.io/"
_WEBHOOK = 'admission webhook "vpod.kb.io" denied the request: '


def pod_consistent(pod: Obj) -> bool:
    """Upstream ``IsPodStateConsistent`` for PUB: no in-place (CloneSet) or sidecar
    update of the pod is still in flight — every running container runs its spec image."""
    specs = {c.get("name"): c.get("image") for c in pod.get("spec", {}).get("containers") or ()}
    from kitlib.cluster.kruise.sidecarset.upgrade import normalize_image
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        image = specs.get(status.get("name"))
        if image is not None and normalize_image(str(status.get("image", ""))) != \
                normalize_image(str(image)):
            return False
    return True


def _available(pod: Obj) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return (is_active(pod) and (pod.get("status") or {}).get("phase") == "Running"
            and is_ready(pod) and pod_consistent(pod)
            and not any(k.startswith(_UNAVAILABLE_LABEL) for k in labels))


class PodUnavailableBudgetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.gates = ctx.settings.kruise.gates
        register_schema("policy.kruise.io/v1alpha1", "PodUnavailableBudget", {
            "spec": {"selector": "ref:V1LabelSelector", "targetRef": {
                "apiVersion": "str", "kind": "str", "name": "str"},
                "maxUnavailable": "intstr", "minAvailable": "intstr"},
            "status": "object"})
        self.runner: Runner[tuple[str, str]] = Runner(ctx.engine, "pub-controller",
                                                      self.reconcile)
        ctx.store.add_admission(PUBS, _admit_pub)
        ctx.store.subscribe(PUBS, self._observe_pub)
        ctx.store.subscribe("pods", self._observe_pod)
        ctx.store.add_delete_admission("pods", self._check_delete)
        ctx.store.add_admission("pods", self._check_update)
        ctx.pub_check = self._check_for_controller
        eviction = ctx.subresource_handlers.get(("pods", "eviction"))
        if isinstance(eviction, EvictionHandler):
            eviction.admission.append(self._check_evict)

    # -- events -------------------------------------------------------------------------

    def _observe_pub(self, event: WatchEvent) -> None:
        if event.type != "DELETED":
            self.runner.enqueue((event.namespace, event.obj["metadata"]["name"]))

    def _observe_pod(self, event: WatchEvent) -> None:
        for pod in (event.obj, event.prev):
            if pod is None:
                continue
            for pub in self.pubs_of(pod):
                self.runner.enqueue((event.namespace, pub["metadata"]["name"]))

    def pubs_of(self, pod: Obj) -> list[Obj]:
        """The PUBs of the pod's namespace that select it (few per namespace)."""
        namespace = pod["metadata"].get("namespace", "")
        return [pub for pub in self.store.select(PUBS, namespace=namespace)
                if self._selects(pub, pod)]

    def _selects(self, pub: Obj, pod: Obj) -> bool:
        spec = pub.get("spec") or {}
        if spec.get("targetRef"):
            workload = self._workload(pub)
            if workload is None:
                return False
            selector = (workload.get("spec") or {}).get("selector")
        else:
            selector = spec.get("selector")
        if not selector:
            return False
        return LabelSelector.from_object(selector).matches(pod["metadata"].get("labels") or {})

    def _workload(self, pub: Obj) -> Obj | None:
        ref = (pub.get("spec") or {}).get("targetRef") or {}
        rt = self.ctx.registry.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            return None
        return self.store.peek(rt.key, pub["metadata"]["namespace"], ref.get("name", ""))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: tuple[str, str]) -> Result | None:
        pub = self.store.peek(PUBS, *key)
        if pub is None:
            return None
        pods = self._pods(pub)
        for pod in pods:
            self._relate(pod, key[1])
        expected = self._expected(pub, pods)
        status, recheck = next_status(pub, pods, expected, self.ctx.now)
        if {k: v for k, v in (pub.get("status") or {}).items()} != status:
            with contextlib.suppress(errors.NotFound):
                self.store.modify(PUBS, *key, lambda p: p.__setitem__("status", status),
                                  subresource="status")
        return Result(requeue_after=recheck) if recheck is not None else None

    def _pods(self, pub: Obj) -> list[Obj]:
        spec = pub.get("spec") or {}
        if spec.get("targetRef"):
            workload = self._workload(pub)
            selector = None if workload is None else (workload.get("spec") or {}).get(
                "selector")
        else:
            selector = spec.get("selector")
        if not selector:
            return []
        return [p for p in self.store.select("pods", namespace=pub["metadata"]["namespace"],
                                             labels=LabelSelector.from_object(selector))
                if is_active(p)]

    def _relate(self, pod: Obj, pub: str) -> None:
        annotations = annotations_of(pod)
        if annotations.get(RELATED) == pub and annotations.get(RELATED_OLD) == pub:
            return

        def change(draft: Obj) -> None:
            meta = draft["metadata"].setdefault("annotations", {})
            meta[RELATED] = meta[RELATED_OLD] = pub
        with contextlib.suppress(errors.ApiError):
            self.store.modify("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                              change)

    def _expected(self, pub: Obj, pods: list[Obj]) -> int:
        override = annotations_of(pub).get(PROTECT_TOTAL)
        if override and override.isdigit():
            return int(override)
        if (pub.get("spec") or {}).get("targetRef"):
            workload = self._workload(pub)
            return 0 if workload is None else _replicas(self.ctx, workload)
        scales: dict[str, int] = {}
        for pod in pods:
            ref = controller_of(pod)
            if ref is None:
                scales[pod["metadata"]["uid"]] = 1
                continue
            found = find_scale(self.ctx, ControllerRef(ref.get("apiVersion", ""), ref.get(
                "kind", ""), ref.get("name", ""), ref.get("uid", "")),
                pod["metadata"]["namespace"])
            if found is not None:
                scales[found[0]] = found[1]
        return sum(scales.values())

    # -- admission ----------------------------------------------------------------------

    def _check_delete(self, pod: Obj, options: DeleteOptions) -> None:
        if self.gates.PodUnavailableBudgetDeleteGate and is_active(pod) and \
                not self._owner_going(pod):
            self.validate_pod(pod, "DELETE", dry_run=options.dry_run)

    def _check_evict(self, pod: Obj, options: DeleteOptions) -> None:
        if self.gates.PodUnavailableBudgetDeleteGate and is_active(pod):
            self.validate_pod(pod, "EVICT", dry_run=options.dry_run)

    def _check_update(self, op: str, rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        if op == "UPDATE" and old is not None and self.gates.PodUnavailableBudgetUpdateGate \
                and is_active(old) and _spec_changed(old, obj):
            self.validate_pod(old, "UPDATE", dry_run=False)
        return obj

    def _check_for_controller(self, pod: Obj, operation: str) -> None:
        """What the CloneSet controller asks before updating a pod (with the update gate)."""
        if self.gates.PodUnavailableBudgetUpdateGate and is_active(pod):
            self.validate_pod(pod, operation, dry_run=False)

    def _owner_going(self, pod: Obj) -> bool:
        ref = controller_of(pod)
        if ref is None:
            return self.store.peek("namespaces", "", pod["metadata"]["namespace"]) is None
        found = self.store.by_uid(ref.get("uid", ""))
        return found is None or bool(found[1]["metadata"].get("deletionTimestamp"))

    def validate_pod(self, pod: Obj, operation: str, *, dry_run: bool) -> None:
        """Upstream ``PodUnavailableBudgetValidatePod``: returns to allow, raises to refuse."""
        if annotations_of(pod).get(NO_PROTECT) == "true":
            return
        if not ((pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)
                and pod_consistent(pod)):
            return
        pubs = self.pubs_of(pod)
        if not pubs:
            return
        pub = pubs[0]
        status = pub.get("status") or {}
        name = pod["metadata"]["name"]
        if int(status.get("desiredAvailable") or 0) == 0 or not _protects(pub, operation) or \
                name in (status.get("disruptedPods") or {}) or \
                name in (status.get("unavailablePods") or {}):
            return
        self._check_and_decrement(pub, name, operation, dry_run)

    def _check_and_decrement(self, pub: Obj, pod: str, operation: str, dry_run: bool) -> None:
        status = pub.get("status") or {}
        pub_name = pub["metadata"]["name"]
        if int(status.get("unavailableAllowed") or 0) <= 0:
            raise _denied(pub_name, "pub unavailable allowed is negative")
        if len(status.get("disruptedPods") or {}) + len(status.get("unavailablePods") or {}) \
                > MAX_UNAVAILABLE_PODS:
            raise _denied(pub_name, "DisruptedPods and UnavailablePods map too big - too many "
                                    "unavailable not confirmed by PUB controller")
        if dry_run:
            return
        field = "unavailablePods" if operation == "UPDATE" else "disruptedPods"
        now = format_time(self.ctx.now)

        def change(draft: Obj) -> None:
            new = draft.setdefault("status", {})
            new["unavailableAllowed"] = int(new.get("unavailableAllowed") or 0) - 1
            new[field] = {**(new.get(field) or {}), pod: now}
        self.store.modify(PUBS, pub["metadata"]["namespace"], pub_name, change,
                          subresource="status")


def next_status(pub: Obj, pods: list[Obj], expected: int,
                now: float) -> tuple[Obj, float | None]:
    """The PUB status for these pods, and in how many seconds an entry expires."""
    spec, status = pub.get("spec") or {}, pub.get("status") or {}
    by_name = {p["metadata"]["name"]: p for p in pods}
    recheck: list[float] = []
    kept: dict[str, dict[str, str]] = {}
    for field, timeout in (("disruptedPods", DELETION_TIMEOUT),
                           ("unavailablePods", UPDATE_TIMEOUT)):
        kept[field] = {}
        for name, stamp in sorted((status.get(field) or {}).items()):
            left = parse_time(stamp) + timeout - now
            if name in by_name and left > 0:
                kept[field][name] = stamp
                recheck.append(left)
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected,
                                                 round_up=True, field="maxUnavailable"))
    else:
        desired = scaled_value(spec.get("minAvailable"), expected, round_up=True,
                               field="minAvailable")
    skipped = set(kept["disruptedPods"]) | set(kept["unavailablePods"])
    current = sum(1 for p in pods if p["metadata"]["name"] not in skipped and _available(p))
    out: Obj = {"observedGeneration": int(pub["metadata"].get("generation") or 0),
           "totalReplicas": expected, "desiredAvailable": desired,
           "currentAvailable": current, "unavailableAllowed": max(current - desired, 0)}
    for field in ("disruptedPods", "unavailablePods"):
        if kept[field]:
            out[field] = kept[field]
    return out, (min(recheck) if recheck else None)


def _replicas(ctx: ClusterContext, workload: Obj) -> int:
    value: Any = workload
    rt = ctx.registry.by_kind(workload.get("apiVersion", ""), workload.get("kind", ""))
    path = rt.scale.spec_replicas_path if rt is not None and rt.scale else ".spec.replicas"
    for part in path.strip(".").split("."):
        value = (value or {}).get(part) if isinstance(value, dict) else None
    return 1 if value is None else int(value)


def _protects(pub: Obj, operation: str) -> bool:
    value = annotations_of(pub).get(PROTECT_OPERATIONS)
    return not value or operation in value.split(",")


def _spec_changed(old: Obj, new: Obj) -> bool:
    return old.get("spec") != new.get("spec")


def _denied(pub: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'{_WEBHOOK}podunavailablebudget.policy.kruise.io "{pub}" is '
                            f"forbidden: {why}")


def _admit_pub(op: str, rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
    """Upstream's PUB validating webhook: a selector or a targetRef (not both), and one
    of maxUnavailable / minAvailable."""
    if op not in ("CREATE", "UPDATE"):
        return obj
    spec = obj.get("spec") or {}
    problems = []
    if bool(spec.get("selector")) == bool(spec.get("targetRef")):
        problems.append("spec: Invalid value: selector and targetRef are mutually exclusive, "
                        "and one of them is required")
    if (spec.get("maxUnavailable") is None) == (spec.get("minAvailable") is None):
        problems.append("spec: Invalid value: maxUnavailable and minAvailable are mutually "
                        "exclusive, and one of them is required")
    if problems:
        raise rt.invalid(obj["metadata"].get("name") or "", problems)
    return obj
