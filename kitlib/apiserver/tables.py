"""Server-side printing: the ``meta.k8s.io/v1 Table`` that ``kubectl get`` asks for.

This module owns what ``kubectl get`` shows for every served kind: the column
definitions, the cells of each row and the Table envelope around them (its
``resourceVersion``/``continue`` and each row's ``object`` as ``includeObject``
asks: none, ``PartialObjectMetadata`` or the full object).

Built-in kinds get one printer function each, mirroring kubectl's internal
printers (``pkg/printers/internalversion/printers.go``); they are dispatched
from ``_PRINTERS`` by ``ResourceType.key``. Like the real API server, every row
carries the ``-o wide`` (priority 1) cells too: kubectl drops those columns
itself unless asked for them. Any other kind is printed from its
``ResourceType.printer_columns`` (simple JSONPaths, as CRD
``additionalPrinterColumns``) followed by ``Age``, or as ``Name, Age``.

Name is the first column everywhere except for core v1 Events, where, as
upstream, it is the last one and only shown with ``-o wide``. Where this
deliberately differs from a CRD Table: a ``[*]`` path shows all its values
joined with ``,`` (upstream shows only the first), and ``Age`` is appended
unless a column already reads ``.metadata.creationTimestamp``.

Content negotiation and watch framing are the route handlers' business; this
module is pure (``now`` is the simulated clock, in seconds since the epoch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from kitlib.model.errors import ApiError, BadRequest
from kitlib.model.objects import format_age, labels_of, meta_of, name_of, parse_time
from kitlib.model.registry import PrinterColumn, ResourceType
from kitlib.model.selectors import LabelSelector

__all__ = ["column_definitions", "row_cells", "table_for"]

_NONE = "<none>"
_UNKNOWN = "<unknown>"
_INCLUDE_OBJECT = ("None", "Metadata", "Object")


class _Col(NamedTuple):
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


RowFn = Callable[[dict[str, Any], float], list[Any]]

_NAME = _Col("Name", "string", "Name must be unique within a namespace.", 0, "name")
_AGE = _Col("Age", "string", "CreationTimestamp: when this object was created.")
_CONTAINERS = _Col("Containers", description="Names of each container in the template.",
                   priority=1)
_IMAGES = _Col("Images", description="Images referenced by each container in the template.",
               priority=1)
_SELECTOR = _Col("Selector", description="Label selector for the pods.", priority=1)


# ---------------------------------------------------------------------------
# Public API


def table_for(rt: ResourceType, objects: list[dict[str, Any]], *, now: float,
              resource_version: str, include_object: str = "Metadata",
              continue_token: str = "", with_definitions: bool = True) -> dict[str, Any]:
    """A ``meta.k8s.io/v1 Table`` of ``objects`` (one row each, in the given order)."""
    if include_object not in _INCLUDE_OBJECT:
        raise BadRequest(f"unsupported includeObject {include_object!r}: "
                         f"must be one of {', '.join(_INCLUDE_OBJECT)}")
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(rt) if with_definitions else [],
        "rows": [_row(rt, obj, now, include_object) for obj in objects],
    }


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    """The ``columnDefinitions`` of ``rt``'s Table (wide columns have priority 1)."""
    return [col.definition() for col in _columns(rt)]


def row_cells(rt: ResourceType, obj: dict[str, Any], *, now: float) -> list[Any]:
    """One row's ``cells``, in ``column_definitions(rt)`` order (wide cells included)."""
    printer = _PRINTERS.get(rt.key)
    if printer is not None:
        return printer[1](obj, now)
    return _custom_cells(rt, obj, now)


def _row(rt: ResourceType, obj: dict[str, Any], now: float, include: str) -> dict[str, Any]:
    row: dict[str, Any] = {"cells": row_cells(rt, obj, now=now)}
    if include == "Metadata":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": dict(meta_of(obj))}
    elif include == "Object":
        row["object"] = obj
    return row


def _columns(rt: ResourceType) -> tuple[_Col, ...]:
    printer = _PRINTERS.get(rt.key)
    if printer is not None:
        return printer[0]
    return _custom_columns(rt)


# ---------------------------------------------------------------------------
# Shared formatting


def _age(now: float, timestamp: Any) -> str:
    """kubectl's ``translateTimestampSince``: ``<unknown>`` for a missing time."""
    when = _time(timestamp)
    return _UNKNOWN if when is None else format_age(now - when)


def _time(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return parse_time(timestamp)
    except ValueError:
        return None


def _created(obj: dict[str, Any], now: float) -> str:
    return _age(now, meta_of(obj).get("creationTimestamp"))


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _or_none(text: str) -> str:
    return text or _NONE


def _format_labels(labels: Mapping[str, Any] | None) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` pairs, ``<none>`` when empty."""
    return _or_none(",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())))


def _selector_string(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector in string form, requirements sorted by key (``""`` selects all)."""
    try:
        compiled = LabelSelector.from_object(selector or {})
    except ApiError:
        return "<error>"
    reqs = sorted(compiled.requirements, key=lambda r: r.key)
    parts = []
    for req in reqs:
        if req.op in ("in", "notin"):
            parts.append(f"{req.key} {req.op} ({','.join(sorted(req.values))})")
        else:
            parts.append(str(req))
    return ",".join(parts)


def _format_selector(selector: Mapping[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: as ``_selector_string`` but ``<none>`` when empty."""
    return _or_none(_selector_string(selector))


def _template_containers(obj: Mapping[str, Any]) -> list[str]:
    """Wide ``Containers`` and ``Images`` cells of a workload's pod template."""
    pod_spec = (_spec(obj).get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    return [",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers)]


def _int_or_string(value: Any) -> str:
    """``IntOrString.String()``, or ``N/A`` when unset (PDB columns)."""
    if value is None:
        return "N/A"
    return str(value)


def _list_with_more(items: list[str], count: int, limit: int = 3) -> str:
    """``a,b,c + N more...`` as kubectl shortens long lists; ``<unset>`` when empty."""
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _host_port(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------
# Pods


@dataclass(slots=True)
class _PodTally:
    """What the pod printer accumulates over container statuses."""

    reason: str
    ready: int = 0
    total: int = 0
    restarts: int = 0
    last_restart: float | None = None
    sidecar_restarts: int = 0
    sidecar_last_restart: float | None = None


def _later(current: float | None, status: Mapping[str, Any]) -> float | None:
    """The later of ``current`` and the container's last termination (``finishedAt``)."""
    finished = _time(((status.get("lastState") or {}).get("terminated") or {})
                     .get("finishedAt"))
    if finished is None:
        return current
    return finished if current is None or finished > current else current


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    if _int(terminated.get("signal")):
        return f"{prefix}Signal:{_int(terminated.get('signal'))}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _has_condition(status: Mapping[str, Any], type_: str) -> bool:
    for cond in status.get("conditions") or ():
        if cond.get("type") == type_:
            return cond.get("status") == "True"
    return False


def _pod_base_reason(status: Mapping[str, Any]) -> str:
    reason = str(status.get("reason") or status.get("phase") or "")
    for cond in status.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    return reason


def _sidecars(spec: Mapping[str, Any]) -> set[str]:
    """Names of restartable init containers (``restartPolicy: Always``)."""
    return {str(c.get("name")) for c in spec.get("initContainers") or ()
            if c.get("restartPolicy") == "Always"}


def _init_pass(spec: Mapping[str, Any], status: Mapping[str, Any], tally: _PodTally) -> bool:
    """Walk init container statuses; True while the pod is still initializing."""
    sidecars = _sidecars(spec)
    n_init = len(spec.get("initContainers") or ())
    for i, cs in enumerate(status.get("initContainerStatuses") or ()):
        tally.restarts += _int(cs.get("restartCount"))
        tally.last_restart = _later(tally.last_restart, cs)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            tally.sidecar_restarts += _int(cs.get("restartCount"))
            tally.sidecar_last_restart = _later(tally.sidecar_last_restart, cs)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            tally.ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            tally.reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            tally.reason = f"Init:{waiting['reason']}"
        else:
            tally.reason = f"Init:{i}/{n_init}"
        return True
    return False


def _containers_pass(status: Mapping[str, Any], tally: _PodTally) -> None:
    """Walk app container statuses (last first, so the first one's reason wins)."""
    tally.restarts, tally.last_restart = tally.sidecar_restarts, tally.sidecar_last_restart
    has_running, error_reason = False, ""
    for cs in reversed(status.get("containerStatuses") or []):
        tally.restarts += _int(cs.get("restartCount"))
        tally.last_restart = _later(tally.last_restart, cs)
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            tally.reason = str(waiting["reason"])
        elif terminated is not None:
            tally.reason = _terminated_reason(terminated)
            if _int(terminated.get("exitCode")):
                error_reason = tally.reason
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
            tally.ready += 1
    if tally.reason == "Completed":
        if has_running and _has_condition(status, "Ready"):
            tally.reason = "Running"
        elif error_reason:
            tally.reason = error_reason
        elif has_running:
            tally.reason = "NotReady"


def _pod_tally(obj: dict[str, Any]) -> _PodTally:
    spec, status = _spec(obj), _status(obj)
    tally = _PodTally(_pod_base_reason(status))
    tally.total = len(spec.get("containers") or ()) + len(_sidecars(spec))
    initializing = _init_pass(spec, status, tally)
    if not initializing or _has_condition(status, "Initialized"):
        _containers_pass(status, tally)
    if meta_of(obj).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            tally.reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            tally.reason = "Terminating"
    return tally


def _pod_readiness_gates(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    gates = spec.get("readinessGates") or []
    if not gates:
        return _NONE
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    true = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{true}/{len(gates)}"


def _pod_ip(status: Mapping[str, Any]) -> str:
    ips = status.get("podIPs") or []
    return _or_none(str((ips[0] or {}).get("ip") or "") if ips else str(status.get("podIP") or ""))


def _print_pod(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    tally = _pod_tally(obj)
    restarts = str(tally.restarts)
    if tally.restarts and tally.last_restart is not None:
        restarts = f"{tally.restarts} ({format_age(now - tally.last_restart)} ago)"
    return [name_of(obj), f"{tally.ready}/{tally.total}", tally.reason, restarts,
            _created(obj, now), _pod_ip(status), _or_none(str(spec.get("nodeName") or "")),
            _or_none(str(status.get("nominatedNodeName") or "")),
            _pod_readiness_gates(spec, status)]


_POD_COLUMNS = (
    _NAME,
    _Col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    _Col("Status", description="The aggregate status of the containers in this pod."),
    _Col("Restarts", description="The number of times the containers in this pod have been "
                                 "restarted and when the last container in this pod has "
                                 "restarted."),
    _AGE,
    _Col("IP", description="IP address allocated to the pod.", priority=1),
    _Col("Node", description="The node this pod is bound to.", priority=1),
    _Col("Nominated Node", description="The node the scheduler nominated for preemption.",
         priority=1),
    _Col("Readiness Gates", description="Readiness gates that are true / all gates.",
         priority=1),
)


# ---------------------------------------------------------------------------
# Nodes


def _node_status(obj: Mapping[str, Any]) -> str:
    ready = [c for c in _status(obj).get("conditions") or () if c.get("type") == "Ready"]
    parts = []
    if ready:
        parts.append("Ready" if ready[-1].get("status") == "True" else "NotReady")
    else:
        parts.append("Unknown")
    if _spec(obj).get("unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def _node_roles(obj: dict[str, Any]) -> str:
    roles: set[str] = set()
    for key, value in labels_of(obj).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return _or_none(",".join(sorted(roles)))


def _node_address(obj: Mapping[str, Any], type_: str) -> str:
    for addr in _status(obj).get("addresses") or ():
        if addr.get("type") == type_:
            return str(addr.get("address", ""))
    return _NONE


def _print_node(obj: dict[str, Any], now: float) -> list[Any]:
    info = _status(obj).get("nodeInfo") or {}
    return [name_of(obj), _node_status(obj), _node_roles(obj), _created(obj, now),
            str(info.get("kubeletVersion") or ""),
            _node_address(obj, "InternalIP"), _node_address(obj, "ExternalIP"),
            str(info.get("osImage") or _UNKNOWN), str(info.get("kernelVersion") or _UNKNOWN),
            str(info.get("containerRuntimeVersion") or _UNKNOWN)]


_NODE_COLUMNS = (
    _NAME,
    _Col("Status", description="The status of the node"),
    _Col("Roles", description="The roles of the node"),
    _AGE,
    _Col("Version", description="Kubelet Version reported by the node."),
    _Col("Internal-IP", description="The node's first InternalIP address.", priority=1),
    _Col("External-IP", description="The node's first ExternalIP address.", priority=1),
    _Col("OS-Image", description="OS Image reported by the node.", priority=1),
    _Col("Kernel-Version", description="Kernel Version reported by the node.", priority=1),
    _Col("Container-Runtime", description="Container runtime version reported by the node.",
         priority=1),
)


# ---------------------------------------------------------------------------
# Core kinds: namespaces, services, endpoints, configmaps, secrets, SAs, events


def _print_namespace(obj: dict[str, Any], now: float) -> list[Any]:
    phase = _status(obj).get("phase") or (
        "Terminating" if meta_of(obj).get("deletionTimestamp") else "Active")
    return [name_of(obj), str(phase), _created(obj, now)]


def _service_external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    svc_type = spec.get("type") or "ClusterIP"
    external = [str(ip) for ip in spec.get("externalIPs") or ()]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or _NONE
    if svc_type == "ExternalName":
        return str(spec.get("externalName") or "")
    if svc_type == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or ()
        lb = sorted({str(i.get("ip") or i.get("hostname")) for i in ingress
                     if i.get("ip") or i.get("hostname")})
        lb_text = ",".join(lb)
        if external:
            return ",".join([*lb, *external])
        # kubectl clips to 16 characters unless -o wide; the server prints wide.
        return lb_text or "<pending>"
    return _UNKNOWN


def _service_ports(spec: Mapping[str, Any]) -> str:
    pieces = []
    for port in spec.get("ports") or ():
        proto = port.get("protocol") or "TCP"
        if _int(port.get("nodePort")) > 0:
            pieces.append(f"{port.get('port')}:{port.get('nodePort')}/{proto}")
        else:
            pieces.append(f"{port.get('port')}/{proto}")
    return _or_none(",".join(pieces))


def _print_service(obj: dict[str, Any], now: float) -> list[Any]:
    spec = _spec(obj)
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [name_of(obj), str(spec.get("type") or "ClusterIP"),
            str(cluster_ips[0]) if cluster_ips else _NONE,
            _service_external_ip(spec, _status(obj)), _service_ports(spec), _created(obj, now),
            _format_labels(spec.get("selector"))]


def _format_endpoints(obj: Mapping[str, Any]) -> str:
    subsets = obj.get("subsets") or []
    if not subsets:
        return _NONE
    items: list[str] = []
    for subset in subsets:
        addresses = [str(a.get("ip", "")) for a in subset.get("addresses") or ()]
        ports = subset.get("ports") or []
        if not ports:
            items.extend(addresses)
        for port in ports:
            items.extend(_host_port(ip, port.get("port")) for ip in addresses)
    text = ",".join(items[:3])
    return f"{text} + {len(items) - 3} more..." if len(items) > 3 else text


def _print_endpoints(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), _format_endpoints(obj), _created(obj, now)]


def _slice_ports(obj: Mapping[str, Any]) -> str:
    ports = obj.get("ports") or []
    names = []
    for port in ports:
        if port.get("port") is not None:
            names.append(str(port["port"]))
        elif port.get("name") is not None:
            names.append(str(port["name"]))
        else:
            names.append("*")
    return _list_with_more(names, len(names))


def _slice_endpoints(obj: Mapping[str, Any]) -> str:
    addresses = [str(a) for ep in obj.get("endpoints") or () for a in ep.get("addresses") or ()]
    return _list_with_more(addresses, len(addresses))


def _print_endpointslice(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), str(obj.get("addressType") or ""), _slice_ports(obj),
            _slice_endpoints(obj), _created(obj, now)]


def _print_configmap(obj: dict[str, Any], now: float) -> list[Any]:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [name_of(obj), count, _created(obj, now)]


def _print_secret(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), str(obj.get("type") or "Opaque"), len(obj.get("data") or {}),
            _created(obj, now)]


def _print_serviceaccount(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), len(obj.get("secrets") or ()), _created(obj, now)]


def _event_source(obj: Mapping[str, Any]) -> str:
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else str(component)


def _event_times(obj: Mapping[str, Any], now: float) -> tuple[str, str, int]:
    """Last seen, first seen and count, as the core v1 event printer derives them."""
    first = obj.get("firstTimestamp") or obj.get("eventTime")
    first_seen = _age(now, first)
    last_seen = _age(now, obj["lastTimestamp"]) if obj.get("lastTimestamp") else first_seen
    count = _int(obj.get("count"))
    series = obj.get("series")
    if series:
        last_seen = _age(now, series.get("lastObservedTime"))
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    return last_seen, first_seen, count


def _print_event(obj: dict[str, Any], now: float) -> list[Any]:
    last_seen, first_seen, count = _event_times(obj, now)
    involved = obj.get("involvedObject") or {}
    target = str(involved.get("kind") or "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    return [last_seen, str(obj.get("type") or ""), str(obj.get("reason") or ""), target,
            str(involved.get("fieldPath") or ""), _event_source(obj),
            str(obj.get("message") or "").strip(), first_seen, count, name_of(obj)]


_EVENT_COLUMNS = (
    _Col("Last Seen", description="The time at which the most recent occurrence was recorded."),
    _Col("Type", description="Type of this event (Normal, Warning)."),
    _Col("Reason", description="Short, machine understandable reason for the event."),
    _Col("Object", description="The object that this event is about."),
    _Col("Subobject", description="The field of the object this event is about.", priority=1),
    _Col("Source", description="The component reporting this event.", priority=1),
    _Col("Message", description="A human-readable description of the event."),
    _Col("First Seen", description="The time at which the event was first recorded.",
         priority=1),
    _Col("Count", description="The number of times this event has occurred.", priority=1),
    _NAME._replace(priority=1),
)


# ---------------------------------------------------------------------------
# Workloads


def _print_deployment(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    ready = f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}"
    return [name_of(obj), ready, _int(status.get("updatedReplicas")),
            _int(status.get("availableReplicas")), _created(obj, now),
            *_template_containers(obj), _selector_string(spec.get("selector"))]


def _print_replicaset(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    return [name_of(obj), _int(spec.get("replicas"), 1), _int(status.get("replicas")),
            _int(status.get("readyReplicas")), _created(obj, now),
            *_template_containers(obj), _format_selector(spec.get("selector"))]


def _print_statefulset(obj: dict[str, Any], now: float) -> list[Any]:
    ready = f"{_int(_status(obj).get('readyReplicas'))}/{_int(_spec(obj).get('replicas'), 1)}"
    return [name_of(obj), ready, _created(obj, now), *_template_containers(obj)]


def _print_daemonset(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    counts = [_int(status.get(field)) for field in (
        "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
        "updatedNumberScheduled", "numberAvailable")]
    return [name_of(obj), *counts, _format_labels(node_selector), _created(obj, now),
            *_template_containers(obj), _format_selector(spec.get("selector"))]


def _controller_of(obj: dict[str, Any]) -> str:
    for ref in meta_of(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            api_version = str(ref.get("apiVersion") or "")
            group = api_version.split("/")[0] if "/" in api_version else ""
            kind = f"{ref.get('kind')}.{group}" if group else str(ref.get("kind"))
            return f"{kind.lower()}/{ref.get('name')}"
    return _NONE


def _print_controllerrevision(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), _controller_of(obj), _int(obj.get("revision")), _created(obj, now)]


def _print_pdb(obj: dict[str, Any], now: float) -> list[Any]:
    spec = _spec(obj)
    return [name_of(obj), _int_or_string(spec.get("minAvailable")),
            _int_or_string(spec.get("maxUnavailable")),
            _int(_status(obj).get("disruptionsAllowed")), _created(obj, now)]


def _print_lease(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), str(_spec(obj).get("holderIdentity") or ""), _created(obj, now)]


_INT_DESIRED = _Col("Desired", "integer", "Number of desired pods.")
_INT_CURRENT = _Col("Current", "integer", "Number of pods created.")
_INT_READY = _Col("Ready", "integer", "Number of ready pods.")
_READY_OF = _Col("Ready", description="Number of the pod with ready state")

_PRINTERS: dict[str, tuple[tuple[_Col, ...], RowFn]] = {
    "pods": (_POD_COLUMNS, _print_pod),
    "nodes": (_NODE_COLUMNS, _print_node),
    "namespaces": ((_NAME, _Col("Status", description="The status of the namespace"), _AGE),
                   _print_namespace),
    "services": ((
        _NAME,
        _Col("Type", description="How the Service is exposed."),
        _Col("Cluster-IP", description="The IP address of the service."),
        _Col("External-IP", description="External IPs or load-balancer ingress points."),
        _Col("Port(s)", description="The ports that are exposed by this service."),
        _AGE,
        _SELECTOR._replace(description="Route service traffic to pods with these labels."),
    ), _print_service),
    "endpoints": ((_NAME, _Col("Endpoints", description="Addresses and ports of the endpoints."),
                   _AGE), _print_endpoints),
    "endpointslices.discovery.k8s.io": ((
        _NAME,
        _Col("AddressType", description="The type of address carried by this EndpointSlice."),
        _Col("Ports", description="Network ports exposed by each endpoint."),
        _Col("Endpoints", description="Addresses of the endpoints in this slice."),
        _AGE,
    ), _print_endpointslice),
    "configmaps": ((_NAME, _Col("Data", description="Number of data keys."), _AGE),
                   _print_configmap),
    "secrets": ((_NAME, _Col("Type", description="Used to facilitate programmatic handling."),
                 _Col("Data", description="Number of data keys."), _AGE), _print_secret),
    "serviceaccounts": ((_NAME, _Col("Secrets", description="Number of secrets."), _AGE),
                        _print_serviceaccount),
    "events": (_EVENT_COLUMNS, _print_event),
    "deployments.apps": ((
        _NAME, _READY_OF,
        _Col("Up-to-date", description="Total number of pods with the desired template."),
        _Col("Available", description="Total number of available pods."),
        _AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), _print_deployment),
    "replicasets.apps": ((_NAME, _INT_DESIRED, _INT_CURRENT, _INT_READY, _AGE, _CONTAINERS,
                          _IMAGES, _SELECTOR), _print_replicaset),
    "statefulsets.apps": ((_NAME, _READY_OF, _AGE, _CONTAINERS, _IMAGES), _print_statefulset),
    "daemonsets.apps": ((
        _NAME,
        _Col("Desired", "integer", "Number of nodes that should run the daemon pod."),
        _Col("Current", "integer", "Number of nodes running at least one daemon pod."),
        _Col("Ready", "integer", "Number of nodes with a ready daemon pod."),
        _Col("Up-to-date", "integer", "Number of nodes running the updated daemon pod."),
        _Col("Available", "integer", "Number of nodes with an available daemon pod."),
        _Col("Node Selector", description="Node labels the daemon pods are restricted to."),
        _AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), _print_daemonset),
    "controllerrevisions.apps": ((
        _NAME,
        _Col("Controller", description="Controller of the object"),
        _Col("Revision", description="The revision number of the state."),
        _AGE,
    ), _print_controllerrevision),
    "poddisruptionbudgets.policy": ((
        _NAME,
        _Col("Min Available", description="The minimum number of pods that must be available."),
        _Col("Max Unavailable",
             description="The maximum number of pods that may be unavailable."),
        _Col("Allowed Disruptions", "integer",
             "Calculated number of pods that may be disrupted at this time."),
        _AGE,
    ), _print_pdb),
    "leases.coordination.k8s.io": ((
        _NAME, _Col("Holder", description="The current holder of the lease."), _AGE,
    ), _print_lease),
}


# ---------------------------------------------------------------------------
# Other kinds: printer columns (CRD additionalPrinterColumns) + Age

_JSONPATH_STEP = re.compile(
    r"\.((?:\\.|[^.\[\\])+)"      # .name (dots escaped as \.)
    r"|\[(\*|-?\d+)\]"            # [*] or [n]
    r"|\['([^']*)'\]"             # ['key.with.dots']
)


def _jsonpath(obj: Any, path: str) -> list[Any]:
    """Values at a simple JSONPath (``.a.b``, ``[n]``, ``[*]``); ``[]`` if none or unsupported."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    path = path.removeprefix("$")
    values, pos = [obj], 0
    while pos < len(path):
        match = _JSONPATH_STEP.match(path, pos)
        if match is None:
            return []
        values = list(_step(values, *match.groups()))
        pos = match.end()
    return values


def _step(values: Iterable[Any], name: str | None, index: str | None,
          quoted: str | None) -> Iterable[Any]:
    key = quoted if quoted is not None else (name.replace("\\.", ".") if name else None)
    for value in values:
        if key is not None:
            if isinstance(value, dict) and key in value:
                yield value[key]
        elif index == "*":
            if isinstance(value, list):
                yield from value
            elif isinstance(value, dict):
                yield from value.values()
        elif isinstance(value, list) and index is not None:
            i = int(index)
            if -len(value) <= i < len(value):
                yield value[i]


def _text(value: Any) -> str:
    """A JSON value as a string cell (scalars bare, objects and lists as compact JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def _typed_cell(type_: str, value: Any, now: float) -> Any:
    """``cellForJSONValue``: the value as the column's type, or None if it is not one."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "integer" and number:
        return int(value)
    if type_ == "number" and number:
        return value
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        when = _time(value)
        return "<invalid>" if when is None else format_age(now - when)
    return None


def _custom_cell(col: PrinterColumn, obj: dict[str, Any], now: float) -> Any:
    values = [v for v in _jsonpath(obj, col.json_path) if v is not None]
    if not values:
        return None
    if col.type == "string":
        return ",".join(_text(v) for v in values)
    return _typed_cell(col.type, values[0], now)


_CRD_COLUMN = "Custom resource definition column (in JSONPath format):"


def _has_age(rt: ResourceType) -> bool:
    return any(c.json_path.strip().strip("{}").removeprefix("$") == ".metadata.creationTimestamp"
               for c in rt.printer_columns)


def _custom_columns(rt: ResourceType) -> tuple[_Col, ...]:
    cols = [_NAME]
    for c in rt.printer_columns:
        desc = c.description or f"{_CRD_COLUMN} {c.json_path}"
        cols.append(_Col(c.name, c.type, desc, c.priority, c.format))
    if not _has_age(rt):
        cols.append(_AGE._replace(type="date"))
    return tuple(cols)


def _custom_cells(rt: ResourceType, obj: dict[str, Any], now: float) -> list[Any]:
    cells: list[Any] = [name_of(obj)]
    cells.extend(_custom_cell(c, obj, now) for c in rt.printer_columns)
    if not _has_age(rt):
        cells.append(_created(obj, now))
    return cells
