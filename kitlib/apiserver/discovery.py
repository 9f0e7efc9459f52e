"""Discovery documents, generated from the registry.

Legacy (unaggregated) discovery only: ``/api``, ``/apis``, ``/api/v1`` and
``/apis/{group}/{version}``, answered as plain ``application/json``, which every
kubectl version and the Python client accept (reference §6.2–6.3, §10). Also
``/version`` and the OpenAPI answers kubectl's validation needs: ``/openapi/v2``
is an empty protobuf document (zero bytes), which every kubectl version parses
as "no schemas" and then relies on the server's own ``fieldValidation``.
"""

from __future__ import annotations

from typing import Any

from kitlib.model.registry import Registry, ResourceType

__all__ = [
    "OPENAPI_V2_CONTENT_TYPE",
    "api_versions",
    "group_list",
    "resource_list",
    "version_info",
]

#: What kube-openapi answers ``/openapi/v2`` with when the client asks for protobuf (kubectl
#: asks for the deprecated ``…spec.v2@v1.0+protobuf``, but ``@`` is not valid in a media type:
#: client-go's ``mime.ParseMediaType`` rejects it, so the reply uses the ``.v1.0`` spelling).
OPENAPI_V2_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

#: The Kubernetes version the embedded API server presents itself as.
KUBE_MAJOR, KUBE_MINOR = "1", "31"


def version_info() -> dict[str, Any]:
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": f"v{KUBE_MAJOR}.{KUBE_MINOR}.0-kitlib",
        "gitCommit": "kitlib",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "python",
        "compiler": "kitlib",
        "platform": "linux/amd64",
    }


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "127.0.0.1"}]}


def group_list(registry: Registry) -> dict[str, Any]:
    groups = []
    for group, versions in registry.group_versions().items():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    kinds = registry.resources_in(group, version)
    if not kinds:
        return None
    resources: list[dict[str, Any]] = []
    for rt in kinds:
        resources.append(_resource_entry(rt))
        resources.extend(_subresource_entry(rt, sub) for sub in rt.subresources)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular,
                             "namespaced": rt.namespaced, "kind": rt.kind,
                             "verbs": list(rt.verbs)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _subresource_entry(rt: ResourceType, sub: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f"{rt.plural}/{sub.name}", "singularName": "",
                             "namespaced": rt.namespaced, "kind": sub.kind or rt.kind,
                             "verbs": list(sub.verbs)}
    if sub.group is not None:
        entry["group"] = sub.group
    if sub.version is not None:
        entry["version"] = sub.version
    return entry
