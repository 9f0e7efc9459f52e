"""Operations on the ``Cluster`` handle: ``apply``, and the plumbing every write shares.

``apply`` is kubectl's *client-side* apply, so a notebook's manifests behave as they
would under ``kubectl apply -f``:

* the object is created when absent, with the manifest stored in the annotation
  ``kubectl.kubernetes.io/last-applied-configuration``;
* otherwise a **three-way** patch is computed from that annotation (*original*), the
  manifest (*modified*) and the live object (*current*): every field of the manifest
  that the live object does not already hold is set, and every field the previous
  apply set but the manifest no longer has is removed (``null``). Fields the server or
  controllers added (defaults, status, other writers' fields) are left alone;
* the patch is a strategic merge patch for built-in kinds and a JSON merge patch for
  custom kinds (CloneSet…), which have no strategic metadata. Lists are replaced as a
  whole when they changed (``$patch: replace`` for lists of objects under a strategic
  patch), so an element removed from the manifest is removed from the cluster;
* an empty patch reports ``unchanged`` and sends nothing.

Kinds are resolved to REST paths through discovery (``/api/v1``, ``/apis/g/v``), cached
per ``Cluster``, so any kind the server serves works, on a real cluster too. Every
mutating operation checks ``cluster.allow_writes`` first and takes ``dry_run=True``
(server-side ``dryRun=All``: validated and admitted, never stored).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kitlib.client.errors import from_api_exception
from kitlib.client.raw import get_json, loads
from kitlib.model.errors import NotFound

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["ApplyResult", "Resource", "WritesNotAllowedError", "apply", "discover",
           "load_manifest", "request_json", "require_writes"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
#: API groups whose kinds are built in (strategic merge patch); everything else is custom.
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
    "node.k8s.io", "certificates.k8s.io", "admissionregistration.k8s.io", "events.k8s.io",
})

#: A one-line string ending so is a file to read (anything else is YAML text).
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
Manifest = str | Path | dict[str, Any] | Iterable[dict[str, Any]]


class WritesNotAllowedError(PermissionError):
    """A mutating operation was asked of a read-only ``Cluster`` handle."""


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did to one object: ``created``, ``configured`` or ``unchanged``."""

    kind: str
    name: str
    namespace: str | None
    action: str


@dataclass(frozen=True)
class Resource:
    """A discovered kind: where its objects live in the REST API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = (f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}")
        # a namespaced kind without a namespace: the all-namespaces collection
        parts = [base] + ([f"namespaces/{namespace}"] if self.namespaced and namespace else [])
        parts += [self.plural] + ([name] if name else [])
        return "/".join(parts)


# -- shared plumbing -----------------------------------------------------------------------

def require_writes(cluster: Cluster, what: str) -> None:
    """Refuse ``what`` unless the handle allows writes, saying how to allow them."""
    if not cluster.allow_writes:
        raise WritesNotAllowedError(
            f"{what} changes the cluster, and this handle is read-only "
            f"({cluster.api_client.configuration.host}); connect with "
            "kitlib.connect(..., allow_writes=True) or set cluster.allow_writes = True "
            "to allow it (or pass dry_run=True to only check it)")


def request_json(api_client: k8s.ApiClient, method: str, path: str, *,
                 body: Any = None, content_type: str = "application/json",
                 query: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send ``method path`` with a JSON ``body`` and return the parsed reply (or raise)."""
    params = [(k, v) for k, v in (query or {}).items() if v is not None]
    headers = {"Accept": "application/json", "Content-Type": content_type}
    method, url, headers, data, _ = api_client.param_serialize(
        method=method, resource_path=path, query_params=params, header_params=headers,
        body=body, auth_settings=["BearerToken"])
    response = api_client.call_api(method, url, header_params=headers, body=data)
    raw = response.read()
    if not 200 <= response.status < 300:
        raise from_api_exception(ApiException(status=response.status, reason=response.reason,
                                              body=raw.decode("utf-8", "replace")))
    parsed = loads(raw) if raw else {}
    return parsed if isinstance(parsed, dict) else {}


def discover(cluster: Cluster, api_version: str, kind: str) -> Resource:
    """The REST resource serving ``kind`` in ``api_version`` (discovery, cached per handle)."""
    cache: dict[tuple[str, str], Resource] = cluster._resources
    key = (api_version, kind)
    if key not in cache:
        group_path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            listing = get_json(cluster.api_client, group_path)
        except NotFound:
            raise NotFound(f"the server does not serve {api_version} (no {group_path})",
                           details={"group": api_version}) from None
        for entry in listing.get("resources", []):
            if "/" not in entry["name"]:
                found = Resource(api_version, entry["kind"], entry["name"],
                                 bool(entry.get("namespaced")))
                cache.setdefault((api_version, found.kind), found)
        if key not in cache:
            raise NotFound(f'no kind "{kind}" is served in version "{api_version}"',
                           details={"kind": kind})
    return cache[key]


# -- apply ---------------------------------------------------------------------------------

def load_manifest(manifest: Manifest) -> list[dict[str, Any]]:
    """Objects from YAML text (multi-document), a file path, a dict or a list of dicts."""
    if isinstance(manifest, dict):
        return list(_items(manifest))
    if isinstance(manifest, Path) or (isinstance(manifest, str) and "\n" not in manifest
                                      and manifest.endswith(MANIFEST_SUFFIXES)):
        manifest = Path(manifest).read_text()  # a missing file: FileNotFoundError
    if isinstance(manifest, str):
        docs = [doc for doc in yaml.safe_load_all(manifest) if doc]
        return [item for doc in docs for item in _items(doc)]
    return [item for doc in manifest for item in _items(doc)]


def _items(doc: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ValueError(f"a manifest document must be a mapping, not {type(doc).__name__}")
    if doc.get("kind", "").endswith("List") and "items" in doc:
        yield from doc["items"]
    else:
        yield doc


def apply(cluster: Cluster, manifest: Manifest, *, dry_run: bool = False
          ) -> list[ApplyResult]:
    """Create or three-way-patch every object of ``manifest`` (see the module docstring)."""
    if not dry_run:
        require_writes(cluster, "apply")
    return [_apply_one(cluster, obj, dry_run=dry_run) for obj in load_manifest(manifest)]


def _apply_one(cluster: Cluster, obj: dict[str, Any], *, dry_run: bool) -> ApplyResult:
    for field in ("apiVersion", "kind"):
        if not obj.get(field):
            raise ValueError(f"an object to apply has no {field}: {str(obj)[:200]}")
    name = obj.get("metadata", {}).get("name")
    if not name:
        raise ValueError(f"a {obj['kind']} to apply has no metadata.name")
    resource = discover(cluster, obj["apiVersion"], obj["kind"])
    namespace = (obj["metadata"].get("namespace") or cluster.namespace
                 if resource.namespaced else None)
    modified = _with_last_applied(obj, namespace)
    query = {"dryRun": "All" if dry_run else None}
    try:
        current = get_json(cluster.api_client, resource.path(namespace, name))
    except NotFound:
        request_json(cluster.api_client, "POST", resource.path(namespace), body=modified,
                     query=query)
        return ApplyResult(obj["kind"], name, namespace, "created")
    original = _last_applied(current)
    strategic = resource.group in BUILTIN_GROUPS
    patch = three_way_patch(original, modified, current, strategic=strategic)
    if not patch:
        return ApplyResult(obj["kind"], name, namespace, "unchanged")
    request_json(cluster.api_client, "PATCH", resource.path(namespace, name), body=patch,
                 content_type=STRATEGIC if strategic else MERGE, query=query)
    return ApplyResult(obj["kind"], name, namespace, "configured")


def _with_last_applied(obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    """The manifest as sent: namespace filled in, and itself in the annotation."""
    modified = orjson.loads(orjson.dumps(obj))
    metadata = modified.setdefault("metadata", {})
    if namespace:
        metadata["namespace"] = namespace
    annotations = metadata.setdefault("annotations", {})
    annotations.pop(LAST_APPLIED, None)
    if not annotations:
        metadata.pop("annotations")
    recorded = orjson.dumps(modified, option=orjson.OPT_SORT_KEYS).decode()
    metadata.setdefault("annotations", {})[LAST_APPLIED] = recorded
    return dict(modified)


def _last_applied(current: dict[str, Any]) -> dict[str, Any]:
    text = current.get("metadata", {}).get("annotations", {}).get(LAST_APPLIED)
    if not text:
        return {}
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def three_way_patch(original: dict[str, Any], modified: dict[str, Any],
                    current: dict[str, Any], *, strategic: bool) -> dict[str, Any]:
    """The patch taking ``current`` to hold ``modified``, minus what ``original`` set."""
    patch: dict[str, Any] = {}
    for key, value in modified.items():
        live = current.get(key)
        if isinstance(value, dict) and isinstance(live, dict):
            before = original.get(key)
            sub = three_way_patch(before if isinstance(before, dict) else {}, value, live,
                                  strategic=strategic)
            if sub:
                patch[key] = sub
        elif key not in current or not _holds(live, value):
            patch[key] = _replacement(value, strategic=strategic)
    for key in original:
        if key not in modified and key in current:
            patch[key] = None
    return patch


def _replacement(value: Any, *, strategic: bool) -> Any:
    """``value`` as a patch sets it whole (lists of objects replace under strategic merge)."""
    if strategic and isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return [*value, {"$patch": "replace"}]
    return value


def _holds(live: Any, wanted: Any) -> bool:
    """Whether ``live`` already holds ``wanted`` (extra fields set by the server allowed)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(
            k in live and _holds(live[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (isinstance(live, list) and len(live) == len(wanted)
                and all(_holds(a, b) for a, b in zip(live, wanted, strict=True)))
    if isinstance(wanted, bool) or isinstance(live, bool):
        return live is wanted
    return bool(live == wanted)
