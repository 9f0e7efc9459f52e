"""The resource registry: every kind the embedded cluster serves, described once.

The API server's routes and discovery documents, the store's per-kind rules
(generation tracking, status subresource, selectable fields) and the table
printer for custom kinds are all generated from these entries, so registering a
kind is all it takes to serve it.

A ``ResourceType`` is identified by its ``key``: the plural plus the group
(``pods``, ``deployments.apps``, ``clonesets.apps.kruise.io``) — the same string
Kubernetes uses in error messages (``deployments.apps "web" not found``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import Invalid, NotFound, invalid_object

__all__ = [
    "ALL_VERBS",
    "PrinterColumn",
    "Registry",
    "ResourceType",
    "ScaleSpec",
    "Subresource",
    "builtin_registry",
]

ALL_VERBS: tuple[str, ...] = (
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
)
_SUB_VERBS = ("get", "patch", "update")


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """A column of server-side ``kubectl get`` output, as in a CRD's additionalPrinterColumns."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""
    format: str = ""


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """Where a kind keeps what the ``scale`` subresource reads and writes."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = ".status.labelSelector"


@dataclass(frozen=True, slots=True)
class Subresource:
    """A subresource as discovery lists it (``pods/eviction`` is ``policy/v1 Eviction``)."""

    name: str
    verbs: tuple[str, ...] = _SUB_VERBS
    group: str | None = None
    version: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    #: ``metadata.generation`` is bumped on ``spec`` changes (types with a spec/status split).
    tracks_generation: bool = True
    #: Strategic merge patch is accepted (built-in kinds); custom kinds answer 415.
    strategic_merge: bool = True
    #: Extra ``fieldSelector`` fields beyond ``metadata.name`` and ``metadata.namespace``.
    selectable_fields: tuple[str, ...] = ()
    #: Columns for ``kubectl get`` of kinds without a hand-written table printer.
    printer_columns: tuple[PrinterColumn, ...] = ()
    scale: ScaleSpec | None = None
    #: False for kinds answered by a handler rather than the store (e.g. the clock).
    stored: bool = True
    #: How ``metadata.name`` is validated: "subdomain", "label" (DNS-1123 label) or "path".
    name_rule: str = "subdomain"
    #: A create drops the body's ``status`` (kinds with a status subresource, except nodes).
    create_drops_status: bool = True
    #: An update without ``metadata.resourceVersion`` is allowed (built-ins); CRs need one.
    unconditional_update: bool = True

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return self.group, self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return self.subresource("status") is not None

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def supports_field(self, field_path: str) -> bool:
        return field_path in ("metadata.name", "metadata.namespace") or (
            field_path in self.selectable_fields
        )

    def qualified(self, name: str) -> str:
        """``pods "web-0"`` / ``deployments.apps "web"``, as upstream messages say it."""
        return f'{self.key} "{name}"'

    def invalid(self, name: str, problems: list[str]) -> Invalid:
        """422 for an object of this kind failing validation (see ``errors.invalid_object``)."""
        return invalid_object(self.kind, self.group, name, problems)


class Registry:
    """All served kinds, indexed every way a request or a manifest names them."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        self._by_key: dict[str, ResourceType] = {}
        for rt in types:
            self.register(rt)

    def register(self, rt: ResourceType) -> ResourceType:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._by_kind[(rt.api_version, rt.kind)] = rt
        self._by_key.setdefault(rt.key, rt)
        return rt

    def unregister_group(self, group: str) -> None:
        """Stop serving every kind of ``group`` (e.g. to behave like a cluster without it)."""
        for path in [p for p in self._by_path if p[0] == group]:
            rt = self._by_path.pop(path)
            self._by_kind.pop((rt.api_version, rt.kind), None)
            if self._by_key.get(rt.key) is rt:
                del self._by_key[rt.key]

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._by_path.values())

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def get(self, key: str) -> ResourceType:
        try:
            return self._by_key[key]
        except KeyError:
            raise NotFound(f"the server doesn't have a resource type {key!r}") from None

    def find(self, name: str) -> ResourceType | None:
        """Resolve what a user types: plural, singular, kind, short name or ``plural.group``."""
        lowered = name.lower()
        if lowered in self._by_key:
            return self._by_key[lowered]
        for rt in self._by_path.values():
            if lowered in (rt.plural, rt.singular, rt.kind.lower(), *rt.short_names):
                return rt
        return None

    def group_versions(self) -> dict[str, list[str]]:
        """``{group: [versions...]}`` in registration order (core group is ``""``)."""
        out: dict[str, list[str]] = {}
        for rt in self._by_path.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._by_path.values() if rt.group_version == (group, version)]


_STATUS = Subresource("status")


_SCALE = Subresource("scale", group="autoscaling", version="v1", kind="Scale")
#: Built-in workloads keep their selector as a LabelSelector in ``spec.selector``.
_BUILTIN_SCALE = ScaleSpec(label_selector_path=".spec.selector")


def builtin_registry() -> Registry:
    """The Kubernetes kinds every embedded cluster serves."""
    core = [
        ResourceType("", "v1", "Namespace", "namespaces", False, "namespace", ("ns",),
                     subresources=(_STATUS, Subresource("finalize", ("update",))),
                     tracks_generation=False, name_rule="label", create_drops_status=False, selectable_fields=("status.phase",)),
        ResourceType("", "v1", "Node", "nodes", False, "node", ("no",),
                     subresources=(_STATUS,), tracks_generation=False, create_drops_status=False,
                     selectable_fields=("spec.unschedulable",)),
        ResourceType("", "v1", "Pod", "pods", True, "pod", ("po",), ("all",),
                     subresources=(
                         _STATUS,
                         Subresource("eviction", ("create",), "policy", "v1", "Eviction"),
                         Subresource("binding", ("create",), "", "v1", "Binding"),
                     ),
                     tracks_generation=False,
                     selectable_fields=(
                         "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                         "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                         "status.podIP", "status.nominatedNodeName",
                     )),
        ResourceType("", "v1", "Service", "services", True, "service", ("svc",), ("all",),
                     subresources=(_STATUS,), tracks_generation=False, name_rule="label"),
        ResourceType("", "v1", "Endpoints", "endpoints", True, "endpoints", ("ep",),
                     tracks_generation=False),
        ResourceType("", "v1", "ConfigMap", "configmaps", True, "configmap", ("cm",),
                     tracks_generation=False),
        ResourceType("", "v1", "Secret", "secrets", True, "secret", (),
                     tracks_generation=False, selectable_fields=("type",)),
        ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, "serviceaccount",
                     ("sa",), tracks_generation=False),
        ResourceType("", "v1", "Event", "events", True, "event", ("ev",),
                     tracks_generation=False,
                     selectable_fields=(
                         "involvedObject.kind", "involvedObject.namespace",
                         "involvedObject.name", "involvedObject.uid",
                         "involvedObject.apiVersion", "involvedObject.resourceVersion",
                         "involvedObject.fieldPath", "reason", "reportingComponent",
                         "source", "type",
                     )),
    ]
    apps = [
        ResourceType("apps", "v1", "Deployment", "deployments", True, "deployment",
                     ("deploy",), ("all",), subresources=(_STATUS, _SCALE), scale=_BUILTIN_SCALE),
        ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, "replicaset", ("rs",),
                     ("all",), subresources=(_STATUS, _SCALE), scale=_BUILTIN_SCALE,
                     selectable_fields=("status.replicas",)),
        ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, "statefulset",
                     ("sts",), ("all",), subresources=(_STATUS, _SCALE), scale=_BUILTIN_SCALE),
        ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, "daemonset", ("ds",),
                     ("all",), subresources=(_STATUS,)),
        ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", True,
                     "controllerrevision", tracks_generation=False),
    ]
    others = [
        ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True,
                     "poddisruptionbudget", ("pdb",), subresources=(_STATUS,)),
        ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True, "lease",
                     tracks_generation=False),
        ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True,
                     "endpointslice", tracks_generation=False),
    ]
    return Registry([*core, *apps, *others, *_rbac()])


def _rbac() -> list[ResourceType]:
    """RBAC kinds, **stored, not enforced**: the embedded cluster keeps Roles and bindings
    (so ``kubectl apply`` of the manifests in ``docs/rbac/`` works and they can be read
    back) but authorizes every request that carries its token (``docs/rbac.md``)."""
    group = "rbac.authorization.k8s.io"
    return [
        ResourceType(group, "v1", "Role", "roles", True, "role", tracks_generation=False,
                     name_rule="path"),
        ResourceType(group, "v1", "RoleBinding", "rolebindings", True, "rolebinding",
                     tracks_generation=False, name_rule="path"),
        ResourceType(group, "v1", "ClusterRole", "clusterroles", False, "clusterrole",
                     tracks_generation=False, name_rule="path"),
        ResourceType(group, "v1", "ClusterRoleBinding", "clusterrolebindings", False,
                     "clusterrolebinding", tracks_generation=False, name_rule="path"),
    ]
