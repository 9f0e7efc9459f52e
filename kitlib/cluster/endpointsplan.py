"""What a Service's EndpointSlices and Endpoints should contain: pure functions, no I/O.

Upstream sources: ``pkg/controller/endpointslice`` (``podToEndpoint``,
``getEndpointPorts``, the reconciler) and ``pkg/controller/endpoint`` (``syncService``,
``RepackSubsets``, ``truncateEndpoints``).

* ``member_of(pod, service, zone)``: a pod as an endpoint of a service: its IPv4
  address, node and zone, readiness (``serving``), ``terminating`` and the service's
  ports resolved against the pod (``targetPort`` numbers as they are, names looked up
  in the pod's container ports with the same protocol; a port that does not resolve is
  left out). ``None`` for a pod without an IPv4 address or in a terminal phase.
* ``slice_endpoint``/``slice_ports``: the EndpointSlice forms. ``ready`` is ``serving``
  and not ``terminating`` (or always, with ``publishNotReadyAddresses``); terminating
  pods stay in slices with ``serving`` mirroring their readiness.
* ``plan_slices``: which slices to create, rewrite and delete after some members
  changed. Endpoints are grouped by their resolved ports (one port list per slice) and
  at most ``max_per_slice`` (upstream's ``maxEndpointsPerSlice``, 100) go in a slice. A
  member whose ports did not change stays in its slice; new ones fill slices being
  rewritten anyway, then other slices with room, then new slices. Emptied slices are
  deleted, except that a service with no endpoints keeps one empty *placeholder* slice.

The legacy ``Endpoints`` object is built by ``legacyendpoints.LegacyEndpoints`` from the
same members.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.podutil import is_ready, is_terminal, is_terminating

__all__ = [
    "MAX_ENDPOINTS_PER_SLICE",
    "Member",
    "Port",
    "Ports",
    "SlicePlan",
    "SliceView",
    "member_of",
    "plan_slices",
    "resolve_ports",
    "slice_endpoint",
    "slice_ports",
]

#: Upstream's ``--max-endpoints-per-slice`` default.
MAX_ENDPOINTS_PER_SLICE = 100


@dataclass(frozen=True, slots=True)
class Port:
    """A service port resolved against one pod."""

    name: str
    port: int
    protocol: str
    app_protocol: str | None = None

    def sort_key(self) -> tuple[str, int, str, str]:
        return self.name, self.port, self.protocol, self.app_protocol or ""


Ports = tuple[Port, ...]


@dataclass(frozen=True, slots=True)
class Member:
    """One pod as an endpoint of one service."""

    pod: str
    uid: str
    ip: str
    node: str | None
    zone: str | None
    hostname: str | None
    serving: bool
    terminating: bool
    ports: Ports


# -- members ---------------------------------------------------------------------------

def member_of(pod: dict[str, Any], service: dict[str, Any],
              zone_of: Callable[[str], str | None]) -> Member | None:
    status = pod.get("status") or {}
    ip = _ipv4(status)
    if ip is None or is_terminal(pod):
        return None
    meta, spec = pod["metadata"], pod.get("spec") or {}
    node = spec.get("nodeName") or None
    hostname = spec.get("hostname") or None
    if spec.get("subdomain") != service["metadata"]["name"]:
        hostname = None
    return Member(pod=meta["name"], uid=meta.get("uid", ""), ip=ip, node=node,
                  zone=zone_of(node) if node else None, hostname=hostname,
                  serving=is_ready(pod), terminating=is_terminating(pod),
                  ports=resolve_ports(pod, service))


def _ipv4(status: dict[str, Any]) -> str | None:
    candidates = [entry.get("ip") for entry in status.get("podIPs") or ()]
    candidates.append(status.get("podIP"))
    return next((ip for ip in candidates if ip and ":" not in ip), None)


def resolve_ports(pod: dict[str, Any], service: dict[str, Any]) -> Ports:
    """The service's ports that resolve for ``pod`` (upstream ``podutil.FindPort``)."""
    out = []
    for sp in (service.get("spec") or {}).get("ports") or ():
        protocol = sp.get("protocol") or "TCP"
        number = _target_port(pod, sp.get("targetPort", sp.get("port")), protocol)
        if number is not None:
            out.append(Port(sp.get("name") or "", number, protocol, sp.get("appProtocol")))
    return tuple(out)


def _target_port(pod: dict[str, Any], target: Any, protocol: str) -> int | None:
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or ()), *sidecars]:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


# -- EndpointSlice forms -----------------------------------------------------------------

def slice_endpoint(member: Member, namespace: str, *, publish_not_ready: bool) -> dict[str, Any]:
    ready = publish_not_ready or (member.serving and not member.terminating)
    endpoint: dict[str, Any] = {
        "addresses": [member.ip],
        "conditions": {"ready": ready, "serving": member.serving,
                       "terminating": member.terminating},
    }
    if member.hostname:
        endpoint["hostname"] = member.hostname
    endpoint["targetRef"] = _pod_ref(member, namespace)
    if member.node:
        endpoint["nodeName"] = member.node
    if member.zone:
        endpoint["zone"] = member.zone
    return endpoint


def slice_ports(ports: Ports) -> list[dict[str, Any]] | None:
    """A slice's ``ports`` (``null`` when empty, as a stored empty list reads back)."""
    if not ports:
        return None
    return [_port(p) for p in ports]


def _port(port: Port) -> dict[str, Any]:
    out: dict[str, Any] = {"name": port.name}
    out["port"] = port.port
    out["protocol"] = port.protocol
    if port.app_protocol:
        out["appProtocol"] = port.app_protocol
    return out


def _pod_ref(member: Member, namespace: str) -> dict[str, str]:
    return {"kind": "Pod", "namespace": namespace, "name": member.pod, "uid": member.uid}


# -- slice placement ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SliceView:
    """An existing slice as the plan sees it: its port list and member pods."""

    ports: Ports
    pods: frozenset[str]


@dataclass(frozen=True, slots=True)
class SlicePlan:
    #: Existing slices to rewrite, with their pods afterwards.
    update: dict[str, frozenset[str]]
    #: New slices: (ports, pods), in creation order.
    create: tuple[tuple[Ports, frozenset[str]], ...]
    delete: frozenset[str]


def plan_slices(slices: Mapping[str, SliceView], slice_of: Mapping[str, str],
                members: Mapping[str, Member], changed: Iterable[str], *,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
                refresh: bool = False) -> SlicePlan:
    """Place the ``changed`` pods (their member may be new, different or gone).

    ``slice_of`` maps each pod in a slice to that slice; ``refresh`` rewrites every
    slice that stays (after the service itself changed)."""
    touched: dict[str, set[str]] = {}

    def content(name: str) -> set[str]:
        if name not in touched:
            touched[name] = set(slices[name].pods)
        return touched[name]

    pending: dict[Ports, list[str]] = {}
    for pod in sorted(set(changed)):
        member, current = members.get(pod), slice_of.get(pod)
        if current is not None:
            content(current).discard(pod)
            if member is not None and member.ports == slices[current].ports:
                touched[current].add(pod)
                continue
        if member is not None:
            pending.setdefault(member.ports, []).append(pod)
    create = _fill(slices, touched, content, pending, max_per_slice)
    if refresh:
        for name in slices:
            content(name)
    return _finish(slices, touched, create)


def _fill(slices: Mapping[str, SliceView], touched: dict[str, set[str]],
          content: Callable[[str], set[str]], pending: dict[Ports, list[str]],
          max_per_slice: int) -> list[tuple[Ports, frozenset[str]]]:
    create: list[tuple[Ports, frozenset[str]]] = []
    for ports in sorted(pending, key=lambda ps: [p.sort_key() for p in ps]):
        pods = pending[ports]
        candidates = sorted((n for n, view in slices.items() if view.ports == ports),
                            key=lambda n: (n not in touched, n))
        for name in candidates:
            size = len(touched[name]) if name in touched else len(slices[name].pods)
            room = max_per_slice - size
            if room > 0:
                content(name).update(pods[:room])
                pods = pods[room:]
            if not pods:
                break
        create.extend((ports, frozenset(pods[i:i + max_per_slice]))
                      for i in range(0, len(pods), max_per_slice))
    return create


def _finish(slices: Mapping[str, SliceView], touched: dict[str, set[str]],
            create: list[tuple[Ports, frozenset[str]]]) -> SlicePlan:
    delete = {name for name, view in slices.items()
              if not touched.get(name, view.pods)}
    if len(delete) == len(slices) and not create:
        # No endpoints at all: keep (or make) one empty placeholder slice.
        keep = next((n for n in sorted(delete)
                     if not slices[n].pods and not slices[n].ports), None)
        if keep is None:
            create.append(((), frozenset()))
        else:
            delete.discard(keep)
    update = {name: frozenset(pods) for name, pods in touched.items() if name not in delete}
    return SlicePlan(update, tuple(create), frozenset(delete))
