"""Naming workloads, and reading their rollout progress the same way for every kind.

A notebook names a workload as kubectl does — ``"cloneset/web"``, ``"deployment/web"``,
``"clone/web"``, ``"asts/db"`` — or by bare name (``"web"``), which is looked up among the
workload kinds the server serves (OpenKruise first: a CloneSet and a Deployment of one
name is ambiguous and says so). A workload object (a dict) names itself.

``progress(obj)`` turns a Deployment, StatefulSet, CloneSet or Advanced StatefulSet into
one ``Progress`` record with the controller's own arithmetic: maxUnavailable and
maxSurge scaled against ``spec.replicas`` with the kind's rounding (a Deployment rounds
maxUnavailable down and maxSurge up and takes 1 when both are 0; a CloneSet rounds
maxUnavailable up unless maxSurge is set; a partition percentage rounds up, with the
``99% of N`` rule), so the recorders, ``converged`` and ``explain`` agree with each other
and with the controllers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kitlib.client.raw import get_json
from kitlib.model.errors import Invalid, NotFound
from kitlib.model.intstr import scaled_value

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["WORKLOAD_KINDS", "Progress", "WorkloadKind", "WorkloadRef", "get_workload",
           "partition_replicas", "progress", "resolve"]


@dataclass(frozen=True)
class WorkloadKind:
    """A workload kind: where it lives and what kubectl calls it."""

    kind: str
    api_version: str
    plural: str
    aliases: tuple[str, ...]

    @property
    def kruise(self) -> bool:
        return self.api_version.startswith("apps.kruise.io/")


#: Workload kinds in lookup order for bare names (OpenKruise kinds first).
WORKLOAD_KINDS: tuple[WorkloadKind, ...] = (
    WorkloadKind("CloneSet", "apps.kruise.io/v1alpha1", "clonesets",
                 ("cloneset", "clonesets", "clone", "clonesets.apps.kruise.io")),
    WorkloadKind("StatefulSet", "apps.kruise.io/v1beta1", "statefulsets",
                 ("asts", "statefulsets.apps.kruise.io", "advancedstatefulset")),
    WorkloadKind("Deployment", "apps/v1", "deployments",
                 ("deployment", "deployments", "deploy", "deployments.apps")),
    WorkloadKind("StatefulSet", "apps/v1", "statefulsets",
                 ("statefulset", "statefulsets", "sts", "statefulsets.apps")),
)


@dataclass(frozen=True)
class WorkloadRef:
    """One workload: its kind and where its objects are in the REST API."""

    kind: WorkloadKind
    name: str
    namespace: str

    @property
    def path(self) -> str:
        return (f"/apis/{self.kind.api_version}/namespaces/{self.namespace}/"
                f"{self.kind.plural}/{self.name}")

    def __str__(self) -> str:
        prefix = self.kind.aliases[0]
        return f"{prefix}/{self.name}"


def _kind_by_alias(alias: str) -> WorkloadKind:
    for kind in WORKLOAD_KINDS:
        if alias.lower() in kind.aliases:
            return kind
    known = ", ".join(k.aliases[0] for k in WORKLOAD_KINDS)
    raise Invalid(f'"{alias}" is not a workload kind; use one of {known} '
                  '(e.g. "cloneset/web")')


def resolve(cluster: Cluster, workload: str | dict[str, Any] | WorkloadRef,
            namespace: str | None = None) -> WorkloadRef:
    """The ``WorkloadRef`` that ``workload`` names (see the module docstring)."""
    if isinstance(workload, WorkloadRef):
        return workload
    if isinstance(workload, dict):
        meta = workload.get("metadata", {})
        for kind in WORKLOAD_KINDS:
            if (kind.kind, kind.api_version) == (workload.get("kind"),
                                                 workload.get("apiVersion")):
                return WorkloadRef(kind, meta["name"],
                                   meta.get("namespace") or namespace or cluster.namespace)
        raise Invalid(f"{workload.get('apiVersion')} {workload.get('kind')} is not a workload "
                      "kind kitlib rolls out (CloneSet, Advanced StatefulSet, Deployment, "
                      "StatefulSet)")
    ns = namespace or cluster.namespace
    if "/" in workload:
        alias, _, name = workload.partition("/")
        return WorkloadRef(_kind_by_alias(alias), name, ns)
    found: list[WorkloadRef] = []
    for kind in WORKLOAD_KINDS:
        ref = WorkloadRef(kind, workload, ns)
        try:
            get_json(cluster.api_client, ref.path)
        except NotFound:
            continue
        found.append(ref)
    if not found:
        raise NotFound(f'no workload named "{workload}" in namespace "{ns}" (looked for '
                       + ", ".join(k.aliases[0] for k in WORKLOAD_KINDS) + ")",
                       details={"name": workload})
    if len(found) > 1:
        raise Invalid(f'"{workload}" names {len(found)} workloads in namespace "{ns}": '
                      + ", ".join(str(r) for r in found) + "; say which, e.g. "
                      f'"{found[0]}"')
    return found[0]


def get_workload(cluster: Cluster, ref: WorkloadRef) -> dict[str, Any]:
    """The live workload object (``kitlib.errors.NotFound`` when it is gone)."""
    return get_json(cluster.api_client, ref.path)


@dataclass(frozen=True)
class Progress:
    """Where a workload's rollout stands, in one shape for every kind.

    ``max_unavailable``/``max_surge``/``partition`` are already scaled to pod counts with
    the kind's rounding. ``updated`` counts pods on the update revision; ``target_updated``
    is how many should be (``replicas - partition``).
    """

    kind: str
    name: str
    namespace: str
    generation: int
    observed_generation: int
    replicas: int
    current_replicas: int
    updated: int
    ready: int
    available: int
    updated_ready: int
    max_unavailable: int
    max_surge: int
    partition: int
    paused: bool
    update_revision: str
    current_revision: str

    @property
    def unavailable(self) -> int:
        """Desired pods that are not available (never negative)."""
        return max(0, self.replicas - self.available)

    @property
    def target_updated(self) -> int:
        return max(0, self.replicas - self.partition)

    @property
    def observed(self) -> bool:
        """Whether the controller has seen the latest spec."""
        return self.observed_generation >= self.generation

    @property
    def converged(self) -> bool:
        """Spec observed, the wanted number of pods updated, every desired pod available,
        and no surplus pods left (the end state of a rollout, honouring partition)."""
        return (self.observed and self.updated >= self.target_updated
                and self.available >= self.replicas and self.current_replicas == self.replicas
                and (self.updated_ready >= self.target_updated or self.kind == "Deployment"))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def progress(obj: dict[str, Any]) -> Progress:
    """The ``Progress`` of a workload object (any of ``WORKLOAD_KINDS``)."""
    spec, status = obj.get("spec", {}), obj.get("status", {}) or {}
    meta = obj.get("metadata", {})
    replicas = _int(spec.get("replicas", 1))
    kind, api_version = obj.get("kind", ""), obj.get("apiVersion", "")
    if kind == "Deployment":
        fields = _deployment(spec, status, replicas)
    elif kind == "CloneSet":
        fields = _cloneset(spec, status, replicas)
    elif kind == "StatefulSet":
        fields = _statefulset(spec, status, replicas, kruise=api_version.startswith("apps.kruise"))
    else:
        raise Invalid(f"{api_version} {kind} is not a workload kind")
    return Progress(
        kind=kind, name=meta.get("name", ""), namespace=meta.get("namespace", ""),
        generation=_int(meta.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        replicas=replicas, current_replicas=_int(status.get("replicas")),
        ready=_int(status.get("readyReplicas")),
        update_revision=str(status.get("updateRevision", "")),
        current_revision=str(status.get("currentRevision", "")), **fields)


def _deployment(spec: dict[str, Any], status: dict[str, Any], replicas: int) -> dict[str, Any]:
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    if strategy.get("type") == "Recreate":
        surge, unavailable = 0, replicas
    else:
        surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas,
                                   round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
    updated = _int(status.get("updatedReplicas"))
    return {"updated": updated, "available": _int(status.get("availableReplicas")),
            "updated_ready": updated, "max_unavailable": unavailable, "max_surge": surge,
            "partition": 0, "paused": bool(spec.get("paused"))}


def _cloneset(spec: dict[str, Any], status: dict[str, Any], replicas: int) -> dict[str, Any]:
    strategy = spec.get("updateStrategy") or {}
    paused = bool(strategy.get("paused"))
    surge = 0 if paused else scaled_value(strategy.get("maxSurge"), replicas, round_up=True)
    unavailable = scaled_value(strategy.get("maxUnavailable", "20%"), replicas,
                               round_up=surge == 0)
    return {"updated": _int(status.get("updatedReplicas")),
            "available": _int(status.get("availableReplicas")),
            "updated_ready": _int(status.get("updatedReadyReplicas")),
            "max_unavailable": unavailable, "max_surge": surge,
            "partition": partition_replicas(strategy.get("partition"), replicas),
            "paused": paused}


def _statefulset(spec: dict[str, Any], status: dict[str, Any], replicas: int, *,
                 kruise: bool) -> dict[str, Any]:
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    partition = _int(rolling.get("partition"))
    if strategy.get("type") == "OnDelete":
        partition = replicas
    unavailable = scaled_value(rolling.get("maxUnavailable", 1), replicas, round_up=False) or 1
    updated = _int(status.get("updatedReplicas"))
    return {"updated": updated, "available": _int(status.get("availableReplicas")),
            "updated_ready": _int(status.get("updatedReadyReplicas", updated)) if kruise
            else updated,
            "max_unavailable": unavailable, "max_surge": 0,
            "partition": min(partition, replicas), "paused": bool(rolling.get("paused"))}


def partition_replicas(partition: int | str | None, replicas: int) -> int:
    """A CloneSet partition as a pod count: percent rounds up, ``99%`` of N is N−1 (N>1),
    clamped to ``[0, replicas]``."""
    if partition is None:
        return 0
    value = scaled_value(partition, replicas, round_up=True, field="partition")
    if (isinstance(partition, str) and partition.endswith("%") and partition != "100%"
            and value == replicas and replicas > 1):
        value = replicas - 1
    return max(0, min(value, replicas))

