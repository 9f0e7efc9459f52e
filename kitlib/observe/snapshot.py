"""Pure functions from raw API objects (plain dicts) to the rows of a recording.

Nothing here does I/O or reads a clock: the recorder passes the sample's time and the
objects its watch caches hold. A pod's rows are derived once per ``resourceVersion``
(``PodView``) and reused by every later sample until the pod changes, so a sample costs
a pass over the pods, not a re-parse of each.

Conventions:

* a workload is named kubectl-style, ``"cloneset/web"`` (``kitlib.client.refs``);
  a pod belongs to the workload its controller ``ownerReference`` names; a Deployment's
  pod (owned by a ReplicaSet ``<deployment>-<pod-template-hash>``) to the Deployment;
* container roles (``role_of``): an explicit ``roles`` mapping wins; else a container
  named like ``*proxy*``, ``*envoy*``, ``*mesh*`` or ``*sidecar*`` is a ``"sidecar"``,
  the first other container of the pod is the ``"app"``, the rest are ``"agent"``s;
* timestamps become cluster seconds: ``unix(timestamp) − epoch``, where ``epoch`` is
  the Unix time of cluster time 0 (0 on a real cluster, whose clock is Unix time).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kitlib.client.refs import WORKLOAD_KINDS, progress
from kitlib.model.selectors import LabelSelector
from kitlib.observe.warmth import CacheWarmth

__all__ = ["ContainerView", "PodView", "pod_view", "role_of", "seconds", "short_image",
           "workload_id", "workload_of", "workload_row"]

Obj = dict[str, Any]
SIDECAR_NAME = re.compile(r"proxy|envoy|mesh|sidecar", re.IGNORECASE)
NAN = float("nan")


def seconds(timestamp: str | None, epoch: float) -> float:
    """An RFC 3339 timestamp as cluster seconds (``NaN`` when absent or unreadable)."""
    if not timestamp:
        return NAN
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() - epoch
    except ValueError:
        return NAN


def role_of(name: str, *, first_other: bool, roles: Mapping[str, str] | None) -> str:
    """The role of container ``name`` (see the module docstring)."""
    if roles and name in roles:
        return roles[name]
    if SIDECAR_NAME.search(name):
        return "sidecar"
    return "app" if first_other else "agent"


def workload_id(kind: str, api_version: str, name: str) -> str:
    """``"cloneset/web"`` for a workload kind, ``""`` for anything else."""
    for known in WORKLOAD_KINDS:
        if (known.kind, known.api_version.split("/")[0]) == (kind, api_version.split("/")[0]):
            return f"{known.aliases[0]}/{name}"
    return ""


def workload_of(pod: Obj) -> str:
    """The workload a pod belongs to (``""`` if none), from its controller reference."""
    meta = pod.get("metadata") or {}
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner is None:
        return ""
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    if kind == "ReplicaSet":
        template_hash = (meta.get("labels") or {}).get("pod-template-hash", "")
        suffix = f"-{template_hash}"
        if template_hash and name.endswith(suffix):
            return f"deployment/{name[:-len(suffix)]}"
        return ""
    return workload_id(kind, str(owner.get("apiVersion", "")), name)


@dataclass(frozen=True)
class ContainerView:
    """One container of a pod as it stands (time-independent)."""

    name: str
    role: str
    image: str
    image_running: str
    state: str
    reason: str
    ready: bool
    restarts: int
    started_at: float

    @property
    def serving(self) -> bool:
        return self.state == "running" and self.ready

    def row(self, time: float, warmth: CacheWarmth) -> tuple[Any, ...]:
        hit = warmth.hit_rate(time - self.started_at, serving=self.serving) \
            if self.role == "app" else NAN
        return (self.name, self.role, self.image, self.state, self.reason, self.ready,
                self.restarts, self.started_at, hit, self.image_running)


@dataclass(frozen=True)
class PodView:
    """One pod as it stands: its ``pods`` row (without time) and its containers."""

    namespace: str
    name: str
    uid: str
    workload: str
    node: str
    ip: str
    phase: str
    ready: bool
    deleting: bool
    revision: str
    containers: tuple[ContainerView, ...]

    def pod_row(self, time: float) -> tuple[Any, ...]:
        return (time, self.namespace, self.name, self.uid, self.workload, self.node, self.ip,
                self.phase, self.ready, self.deleting, self.revision)

    def container_rows(self, time: float, warmth: CacheWarmth) -> list[tuple[Any, ...]]:
        head = (time, self.namespace, self.name, self.uid, self.workload)
        return [head + c.row(time, warmth) for c in self.containers]

    def hit_rate(self, time: float, warmth: CacheWarmth) -> float:
        """The mean modelled hit rate of the pod's app containers (0 if it has none)."""
        rates = [warmth.hit_rate(time - c.started_at, serving=c.serving)
                 for c in self.containers if c.role == "app"]
        return sum(rates) / len(rates) if rates else 0.0


def pod_view(pod: Obj, *, epoch: float, roles: Mapping[str, str] | None) -> PodView:
    """The ``PodView`` of a raw pod."""
    meta, spec, status = (pod.get(k) or {} for k in ("metadata", "spec", "status"))
    labels = meta.get("labels") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return PodView(
        namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")), workload=workload_of(pod),
        node=str(spec.get("nodeName") or ""), ip=str(status.get("podIP") or ""),
        phase=str(status.get("phase") or ""), ready=conditions.get("Ready") == "True",
        deleting=bool(meta.get("deletionTimestamp")),
        revision=str(labels.get("controller-revision-hash")
                     or labels.get("pod-template-hash") or ""),
        containers=_containers(spec, status, epoch=epoch, roles=roles))


def _containers(spec: Obj, status: Obj, *, epoch: float,
                roles: Mapping[str, str] | None) -> tuple[ContainerView, ...]:
    statuses = {s.get("name"): s for s in status.get("containerStatuses") or []}
    views, app_taken = [], False
    for container in spec.get("containers") or []:
        name = str(container.get("name", ""))
        role = role_of(name, first_other=not app_taken, roles=roles)
        app_taken = app_taken or role == "app"
        views.append(_container(name, role, str(container.get("image", "")),
                                statuses.get(name) or {}, epoch))
    return tuple(views)


def _container(name: str, role: str, image: str, status: Obj, epoch: float) -> ContainerView:
    state = status.get("state") or {}
    which = next((k for k in ("running", "waiting", "terminated") if k in state), "unknown")
    detail = state.get(which) or {}
    started = seconds(detail.get("startedAt"), epoch) if which == "running" else NAN
    return ContainerView(name=name, role=role, image=image,
                         image_running=short_image(str(status.get("image") or "")), state=which,
                         reason=str(detail.get("reason") or ""),
                         ready=bool(status.get("ready")),
                         restarts=int(status.get("restartCount") or 0), started_at=started)


def short_image(reference: str) -> str:
    """An image reference as written in a pod spec: containerd's ``docker.io/library/``
    (or ``docker.io/``) prefix removed, so ``status.image`` compares with ``spec.image``."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix):]
    return reference


# -- workloads ---------------------------------------------------------------------------------

def workload_row(obj: Obj, *, time: float, pods: Iterable[PodView], warmth: CacheWarmth,
                 pdbs: Iterable[Obj], services: Iterable[Obj],
                 endpoints: Mapping[str, Obj]) -> dict[str, Any]:
    """One ``workloads`` row: ``progress`` plus budget, endpoints, capacity and warmth.

    Args:
        obj: the workload object.
        time: the sample's time.
        pods: the workload's pods (as ``PodView``s).
        warmth: the cache-warmth model.
        pdbs: the namespace's PodDisruptionBudgets.
        services: the namespace's Services.
        endpoints: the namespace's Endpoints by name.
    """
    p = progress(obj)
    meta = obj.get("metadata") or {}
    labels = ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get(
        "labels") or {}
    live = [v for v in pods if not v.deleting]
    # every pod of the workload, terminating ones too: the Endpoints object says whether an
    # address still serves, and on a clock that runs while the caches are read, the pods
    # cache may already show a pod terminating that the Endpoints cache still lists
    ready_endpoints = _ready_endpoints(labels, {v.name for v in pods}, services, endpoints)
    serving = ready_endpoints if not math.isnan(ready_endpoints) else float(p.ready)
    return {
        "time": time, "workload": workload_id(p.kind, str(obj.get("apiVersion", "")),
                                              str(meta.get("name", ""))),
        "kind": p.kind, "replicas": p.replicas, "updated": p.updated, "ready": p.ready,
        "available": p.available, "unavailable": p.unavailable,
        "max_unavailable": p.max_unavailable, "partition": p.partition, "paused": p.paused,
        "pdb_disruptions_allowed": _disruptions_allowed(labels, pdbs),
        "ready_endpoints": ready_endpoints,
        "capacity": serving / p.replicas if p.replicas else NAN,
        "cache_hit_rate": _workload_hit_rate(live, p.replicas, time, warmth),
        "generation": p.generation, "observed_generation": p.observed_generation,
        "converged": p.converged, "update_revision": p.update_revision,
    }


def _disruptions_allowed(labels: Mapping[str, str], pdbs: Iterable[Obj]) -> float:
    """The smallest ``disruptionsAllowed`` of the PDBs selecting the template's labels."""
    allowed = [float((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs
               if labels and LabelSelector.from_object(
                   (pdb.get("spec") or {}).get("selector")).matches(labels)]
    return min(allowed) if allowed else NAN


def _ready_endpoints(labels: Mapping[str, str], pod_names: set[str], services: Iterable[Obj],
                     endpoints: Mapping[str, Obj]) -> float:
    """Ready addresses of the workload's pods behind its busiest Service (NaN: no Service)."""
    counts = []
    for service in services:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector or not labels or not LabelSelector.from_labels(selector).matches(labels):
            continue
        name = (service.get("metadata") or {}).get("name", "")
        subsets = (endpoints.get(name) or {}).get("subsets") or []
        counts.append(sum(1 for subset in subsets for address in subset.get("addresses") or []
                          if (address.get("targetRef") or {}).get("name") in pod_names))
    return float(max(counts)) if counts else NAN


def _workload_hit_rate(pods: list[PodView], replicas: int, time: float,
                       warmth: CacheWarmth) -> float:
    """Mean over the desired pods: the best ``replicas`` pods count, missing ones count 0."""
    if replicas <= 0:
        return NAN
    rates = sorted((v.hit_rate(time, warmth) for v in pods), reverse=True)[:replicas]
    return sum(rates) / replicas
