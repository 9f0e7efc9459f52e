"""EndpointsController: every Service with a selector gets EndpointSlices and a legacy
Endpoints object that follow its pods' addresses and readiness, as upstream's
``endpointslice-controller`` and ``endpoints-controller`` maintain them.

What is produced (see ``endpointsplan`` for the rules of each field):

* ``discovery.k8s.io/v1 EndpointSlice``s named ``<service>-<5 chars>``, labelled
  ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io`` (plus the service's own labels), owned by the
  service (so the garbage collector removes them with it), ``addressType: IPv4``, at
  most 100 endpoints each; a service without endpoints has one empty placeholder slice;
* the core ``Endpoints`` object named after the service (``addresses`` /
  ``notReadyAddresses``), deleted when the service is.

Services without a selector and ExternalName services are left alone (their
endpoints are the user's), as upstream.

Cost: work is proportional to what changed. ``Selection`` maps a pod to the services
selecting it; a pod event marks the pod dirty in those services only (and only when a
field endpoints depend on changed). A service's sync recomputes its dirty pods and
rewrites only the slices they are in; the Endpoints object is rebuilt from the kept
members (capped at 1000 addresses, as upstream). A change to the service itself, or to
one of its slices by someone else, makes the next sync a full one that re-reads the
slices from the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.endpointsplan import (
    MAX_ENDPOINTS_PER_SLICE,
    Member,
    Port,
    Ports,
    SlicePlan,
    SliceView,
    member_of,
    plan_slices,
    slice_endpoint,
    slice_ports,
)
from kitlib.cluster.legacyendpoints import ENDPOINTS_CAPACITY, LegacyEndpoints
from kitlib.cluster.selection import ObjKey, Selection
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import labels_of
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["CONTROLLER_NAME", "MANAGED_BY_LABEL", "SERVICE_NAME_LABEL", "EndpointsController"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
ZONE_LABEL = "topology.kubernetes.io/zone"
SLICES = "endpointslices.discovery.k8s.io"


@dataclass
class _ServiceState:
    """What the controller last wrote for one service."""

    uid: str
    full: bool = True
    dirty: set[str] = field(default_factory=set)
    members: dict[str, Member] = field(default_factory=dict)
    legacy: LegacyEndpoints = field(default_factory=lambda: LegacyEndpoints(
        "", publish_not_ready=False, headless_without_ports=False))
    slices: dict[str, SliceView] = field(default_factory=dict)
    slice_of: dict[str, str] = field(default_factory=dict)


class EndpointsController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.selection = Selection()
        #: Upstream's limits, attributes so that tests can make them small.
        self.max_per_slice = MAX_ENDPOINTS_PER_SLICE
        self.endpoints_capacity = ENDPOINTS_CAPACITY
        self._states: dict[ObjKey, _ServiceState] = {}
        self._writing = 0
        self.runner: Runner[ObjKey] = Runner(ctx.engine, "endpoints-controller", self.reconcile,
                                             busy=self._busy)
        ctx.store.subscribe("services", self._observe_service)
        ctx.store.subscribe("pods", self._observe_pod)
        ctx.store.subscribe(SLICES, self._observe_slice)
        ctx.store.subscribe("endpoints", self._observe_endpoints)

    # -- events -------------------------------------------------------------------------

    def _observe_service(self, event: WatchEvent) -> None:
        svc = event.obj
        key = _key(svc)
        if event.type == "DELETED":
            self._forget(key)
            self.runner.enqueue(key)
            return
        prev = event.prev
        if prev is not None and prev.get("spec") == svc.get("spec") and \
                labels_of(prev) == labels_of(svc):
            return
        selector = _service_selector(svc)
        if selector is None:
            self._forget(key)
            return
        uid = svc["metadata"].get("uid", "")
        state = self._states.get(key)
        if state is None or state.uid != uid or self.selection.selector(key) != selector:
            pods = self.store.select("pods", namespace=key[0], labels=selector)
            self.selection.set_owner(key, selector, (p["metadata"]["name"] for p in pods))
        if state is None or state.uid != uid:
            state = self._states[key] = _ServiceState(uid)
        state.full = True
        self.runner.enqueue(key)

    def _forget(self, key: ObjKey) -> None:
        self.selection.remove_owner(key)
        self._states.pop(key, None)

    def _observe_pod(self, event: WatchEvent) -> None:
        pod, prev = event.obj, event.prev
        namespace, name = _key(pod)
        if event.type == "DELETED":
            before, after = self.selection.update_pod(namespace, name, None)
        elif prev is None or labels_of(prev) != labels_of(pod):
            before, after = self.selection.update_pod(namespace, name, labels_of(pod))
        else:
            before = after = self.selection.owners(namespace, name)
            if not after or _endpoint_facts(prev) == _endpoint_facts(pod):
                return
        for owner in sorted({*before, *after}):
            state = self._states.get(owner)
            if state is not None:
                state.dirty.add(name)
                self.runner.enqueue(owner)

    def _observe_slice(self, event: WatchEvent) -> None:
        """A managed slice changed by someone else: resync its service fully."""
        labels = labels_of(event.obj)
        if self._writing or labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME:
            return
        key = (event.namespace, labels.get(SERVICE_NAME_LABEL, ""))
        state = self._states.get(key)
        if state is not None:
            state.full = True
            self.runner.enqueue(key)

    def _observe_endpoints(self, event: WatchEvent) -> None:
        key = _key(event.obj)
        if not self._writing and key in self._states:
            self.runner.enqueue(key)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: ObjKey) -> Result | None:
        namespace, name = key
        svc = self.store.peek("services", namespace, name)
        if svc is None:
            self._delete_endpoints(namespace, name)
            return None
        state = self._states.get(key)
        if state is None or _service_selector(svc) is None:
            return None
        refresh = state.full
        changed = self._reload(svc, state) if refresh else self._refresh_dirty(svc, state)
        state.full = False
        plan = plan_slices(state.slices, state.slice_of, state.members, changed,
                           max_per_slice=self.max_per_slice, refresh=refresh)
        with self._own_writes():
            self._apply(svc, state, plan)
            self._sync_endpoints(svc, state)
        return None

    def _busy(self, key: ObjKey) -> float:
        """The busy window after a reconcile (``Runner``): the legacy Endpoints object is
        rebuilt from every member, so pod changes at later instants inside it coalesce."""
        state = self._states.get(key)
        members = len(state.members) if state is not None else 0
        return members * self.ctx.settings.reconcile_seconds_per_object

    def _reload(self, svc: dict[str, Any], state: _ServiceState) -> set[str]:
        """Full sync: every member recomputed, the slices re-read from the store."""
        key = _key(svc)
        spec = svc.get("spec") or {}
        state.dirty.clear()
        state.members = {}
        state.legacy = LegacyEndpoints(
            key[0], publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
            headless_without_ports=spec.get("clusterIP") == "None" and not spec.get("ports"))
        for pod in sorted(self.selection.members(key)):
            self._recompute(svc, state, pod)
        state.slices, state.slice_of = {}, {}
        for obj in self._stored_slices(svc, state):
            pods = [p for p in _slice_pods(obj) if p not in state.slice_of]
            name = obj["metadata"]["name"]
            state.slices[name] = SliceView(_parse_ports(obj.get("ports")), frozenset(pods))
            state.slice_of.update(dict.fromkeys(pods, name))
        return set(state.members) | set(state.slice_of)

    def _stored_slices(self, svc: dict[str, Any], state: _ServiceState) -> list[dict[str, Any]]:
        """This service's managed slices; ones owned by an older service of the same
        name are deleted."""
        namespace, name = _key(svc)
        selector = LabelSelector.from_labels({SERVICE_NAME_LABEL: name,
                                              MANAGED_BY_LABEL: CONTROLLER_NAME})
        kept = []
        for obj in self.store.select(SLICES, namespace=namespace, labels=selector):
            owners = obj["metadata"].get("ownerReferences") or ()
            if any(ref.get("uid") == state.uid for ref in owners):
                kept.append(obj)
            else:
                with self._own_writes(), contextlib.suppress(errors.NotFound):
                    self.store.delete(SLICES, namespace, obj["metadata"]["name"])
        return kept

    def _refresh_dirty(self, svc: dict[str, Any], state: _ServiceState) -> set[str]:
        changed = set()
        for pod in sorted(state.dirty):
            before = state.members.get(pod)
            if self._recompute(svc, state, pod) != before:
                changed.add(pod)
        state.dirty.clear()
        return changed

    def _recompute(self, svc: dict[str, Any], state: _ServiceState, pod: str) -> Member | None:
        namespace = svc["metadata"]["namespace"]
        obj = self.store.peek("pods", namespace, pod)
        member = None
        if obj is not None and pod in self.selection.members(_key(svc)):
            member = member_of(obj, svc, self._zone)
        if member is None:
            state.members.pop(pod, None)
        else:
            state.members[pod] = member
        state.legacy.set(pod, member)
        return member

    def _zone(self, node: str) -> str | None:
        obj = self.store.peek("nodes", "", node)
        return None if obj is None else labels_of(obj).get(ZONE_LABEL)

    # -- writes -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _own_writes(self) -> Iterator[None]:
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1

    def _apply(self, svc: dict[str, Any], state: _ServiceState, plan: SlicePlan) -> None:
        namespace = svc["metadata"]["namespace"]
        for name in sorted(plan.delete):
            with contextlib.suppress(errors.NotFound):
                self.store.delete(SLICES, namespace, name)
            self._place(state, name, None)
        for name, pods in sorted(plan.update.items()):
            ports = state.slices[name].ports
            body = _slice_body(svc, ports, pods, state.members)
            self.store.modify(SLICES, namespace, name, _refill(body))
            self._place(state, name, SliceView(ports, pods))
        for ports, pods in plan.create:
            created = self.store.create(SLICES, _slice_body(svc, ports, pods, state.members))
            self._place(state, created["metadata"]["name"], SliceView(ports, pods))

    def _place(self, state: _ServiceState, name: str, view: SliceView | None) -> None:
        old = state.slices.pop(name, None)
        for pod in old.pods if old is not None else ():
            if state.slice_of.get(pod) == name:
                del state.slice_of[pod]
        if view is not None:
            state.slices[name] = view
            state.slice_of.update(dict.fromkeys(view.pods, name))

    def _sync_endpoints(self, svc: dict[str, Any], state: _ServiceState) -> None:
        namespace, name = _key(svc)
        subsets, truncated = state.legacy.subsets(self.endpoints_capacity)
        labels = _owned_labels(svc)
        current = self.store.peek("endpoints", namespace, name)
        if current is None:
            self.store.create("endpoints", _endpoints_body(namespace, name, labels, subsets,
                                                           truncated))
        elif (current.get("subsets") or []) != subsets or labels_of(current) != labels or \
                (OVER_CAPACITY in (current["metadata"].get("annotations") or {})) != truncated:
            self.store.modify("endpoints", namespace, name,
                              lambda ep: _refill_endpoints(ep, labels, subsets, truncated))

    def _delete_endpoints(self, namespace: str, name: str) -> None:
        with self._own_writes(), contextlib.suppress(errors.NotFound):
            self.store.delete("endpoints", namespace, name)


# -- helpers ----------------------------------------------------------------------------

def _key(obj: dict[str, Any]) -> ObjKey:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def _service_selector(svc: dict[str, Any]) -> LabelSelector | None:
    spec = svc.get("spec") or {}
    selector = spec.get("selector")
    if not selector or spec.get("type") == "ExternalName":
        return None
    return LabelSelector.from_labels(selector)


def _endpoint_facts(pod: dict[str, Any]) -> tuple[Any, ...]:
    """Everything a pod's endpoints depend on, to skip pod events that change none of it."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or ()
                  if c.get("type") == "Ready"), None)
    ports = [c.get("ports") for c in (*(spec.get("containers") or ()),
                                      *(spec.get("initContainers") or ()))]
    return (meta.get("uid"), meta.get("deletionTimestamp"), status.get("podIP"),
            status.get("podIPs"), status.get("phase"), ready, spec.get("nodeName"),
            spec.get("hostname"), spec.get("subdomain"), ports)


def _slice_pods(obj: dict[str, Any]) -> list[str]:
    return [ref["name"] for ep in obj.get("endpoints") or ()
            if (ref := ep.get("targetRef") or {}).get("kind") == "Pod" and ref.get("name")]


def _parse_ports(ports: Any) -> Ports:
    return tuple(Port(p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP",
                      p.get("appProtocol")) for p in ports or ())


def _owned_labels(svc: dict[str, Any]) -> dict[str, str]:
    """The service's labels as its Endpoints and slices carry them (+ the headless mark)."""
    labels = dict(labels_of(svc))
    labels.pop(HEADLESS_LABEL, None)
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def _slice_body(svc: dict[str, Any], ports: Ports, pods: frozenset[str],
                members: dict[str, Member]) -> dict[str, Any]:
    meta = svc["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    labels = {k: v for k, v in _owned_labels(svc).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    labels.update({SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: CONTROLLER_NAME})
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoints = [slice_endpoint(members[p], namespace, publish_not_ready=publish)
                 for p in sorted(pods)]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": f"{name}-", "namespace": namespace, "labels": labels,
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                          "uid": meta["uid"], "controller": True,
                                          "blockOwnerDeletion": True}]},
        "addressType": "IPv4",
        "endpoints": endpoints or None,
        "ports": slice_ports(ports),
    }


def _refill(body: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A store change that gives a stored slice ``body``'s labels, endpoints and ports."""
    def change(stored: dict[str, Any]) -> None:
        stored["metadata"]["labels"] = body["metadata"]["labels"]
        stored["endpoints"] = body["endpoints"]
        stored["ports"] = body["ports"]
    return change


def _endpoints_body(namespace: str, name: str, labels: dict[str, str],
                    subsets: list[dict[str, Any]], truncated: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
                            "metadata": {"name": name, "namespace": namespace}}
    _refill_endpoints(body, labels, subsets, truncated)
    return body


def _refill_endpoints(ep: dict[str, Any], labels: dict[str, str], subsets: list[dict[str, Any]],
                      truncated: bool) -> None:
    meta = ep["metadata"]
    if labels:
        meta["labels"] = dict(labels)
    else:
        meta.pop("labels", None)
    annotations = dict(meta.get("annotations") or {})
    if truncated:
        annotations[OVER_CAPACITY] = "truncated"
    else:
        annotations.pop(OVER_CAPACITY, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if subsets:
        ep["subsets"] = subsets
    else:
        ep.pop("subsets", None)
