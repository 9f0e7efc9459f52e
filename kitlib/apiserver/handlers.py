"""REST verbs over the store: get, list, create, update, patch, delete, deletecollection,
and the ``status`` and ``scale`` subresources.

Each handler turns an HTTP request into one store call and the store's answer
into the response body; business rules stay in the store (versioning) and in
``kitlib.cluster`` (admission, controllers). After every successful write the
cluster is ``settle``d, so zero-time consequences (a ReplicaSet for a new
Deployment, garbage collection) are visible to the next request.

Field validation follows ``?fieldValidation=``: unknown fields are always
dropped; ``Strict`` (kubectl's default) rejects them with 400, ``Warn`` (the
server default) answers with ``Warning`` headers.

Every object a write would store is at most ``MAX_NESTING_DEPTH`` deep (400), a
patch may not leave it larger than ``MAX_OBJECT_BYTES`` (413), a replica count
must fit an int32 (400, as upstream's decoder), and a list's ``resourceVersion``
and ``resourceVersionMatch`` are checked as upstream's ``ValidateListOptions``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from kitlib.apiserver.tables import table_for
from kitlib.apiserver.wire import (
    decode_body,
    joined_json_response,
    json_response,
    media_type,
    wants_table,
)
from kitlib.cluster.embedded import EmbeddedCluster
from kitlib.model import errors, patch, schema
from kitlib.model.limits import MAX_OBJECT_BYTES, check_nesting, json_size
from kitlib.model.registry import ResourceType
from kitlib.model.selectors import FieldSelector, LabelSelector
from kitlib.store.store import DeleteOptions

__all__ = ["Request", "ResourceHandlers"]

_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


@dataclass
class Request:
    """What a handler needs of an HTTP request."""

    method: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    warnings: list[str] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        value = self.query.get("dryRun")
        if value in (None, ""):
            return False
        if value != "All":
            raise errors.BadRequest(f'dryRun: Unsupported value: "{value}": supported values: '
                                    '"All"')
        return True

    def body_object(self) -> Any:
        return decode_body(self.body, self.headers.get("content-type"))


def _int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f"{name}: must be an integer, got {value!r}") from None


class ResourceHandlers:
    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    # -- reads --------------------------------------------------------------------------

    def get(self, rt: ResourceType, ns: str, name: str, req: Request) -> Response:
        obj = self.store.get(rt.key, ns, name)
        if wants_table(req.headers.get("accept")):
            return json_response(self._table(rt, [obj], req))
        return json_response(self.store.raw(rt.key, obj))

    def list_collection(self, rt: ResourceType, ns: str | None, req: Request) -> Response:
        _check_list_options(req.query)
        result = self.store.list_objects(
            rt.key, namespace=ns, labels=LabelSelector.parse(req.query.get("labelSelector")),
            fields=FieldSelector.parse(req.query.get("fieldSelector")),
            limit=_int_param(req.query, "limit"), continue_token=req.query.get("continue"))
        if wants_table(req.headers.get("accept")):
            return json_response(self._table(rt, result.items, req, result.continue_token,
                                             result.resource_version))
        meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            meta["continue"] = result.continue_token
            meta["remainingItemCount"] = result.remaining
        head = orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version,
                             "metadata": meta})[:-1] + b',"items":['
        raws = self.store.raw_many(rt.key, result.items)
        if not raws:
            return json_response(head + b"]}")
        # The body (tens of MB for 10,000 pods) is never joined: the cached bytes of the
        # items go out in slices, with the head and tail riding on the first and last item.
        raws[0] = head + raws[0]
        raws[-1] += b"]}"
        return joined_json_response(raws, b",")

    def _table(self, rt: ResourceType, objects: list[dict[str, Any]], req: Request,
               continue_token: str = "", rv: int | None = None) -> dict[str, Any]:
        return table_for(rt, objects, now=self.cluster.now,
                         resource_version=str(rv if rv is not None else
                                              self.store.resource_version),
                         include_object=req.query.get("includeObject") or "Metadata",
                         continue_token=continue_token)

    # -- writes -------------------------------------------------------------------------

    def create(self, rt: ResourceType, ns: str | None, req: Request) -> Response:
        body = self._validated(rt, req.body_object(), req)
        if rt.namespaced and ns is None:
            raise errors.MethodNotAllowed(f"{rt.key} are namespaced: POST to "
                                          f"/…/namespaces/<namespace>/{rt.plural}")
        created = self.store.create(rt.key, body, namespace=ns, dry_run=req.dry_run)
        self._settle(req)
        return json_response(created, 201, headers=_warning_headers(req))

    def update(self, rt: ResourceType, ns: str, name: str, sub: str | None,
               req: Request) -> Response:
        body = req.body_object()
        if sub == "scale":
            return self._update_scale(rt, ns, name, body, req)
        body = self._validated(rt, body, req)
        meta = _object_field(body, "metadata")
        body_name = meta.get("name")
        if body_name not in (None, name):
            raise errors.BadRequest(f"the name of the object ({body_name}) does not match the "
                                    f"name on the URL ({name})")
        meta["name"] = name
        updated = self.store.update(rt.key, body, namespace=ns, subresource=sub,
                                    dry_run=req.dry_run)
        self._settle(req)
        return json_response(updated, headers=_warning_headers(req))

    def patch(self, rt: ResourceType, ns: str, name: str, sub: str | None,
              req: Request) -> Response:
        kind = _PATCH_TYPES.get(media_type(req.headers.get("content-type")))
        if kind is None:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml" + (", application/strategic-merge-patch+json"
                                                  if rt.strategic_merge else ""))
        if kind == "strategic" and not rt.strategic_merge:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                f"application/apply-patch+yaml (strategic merge patch is not supported for "
                f"{rt.key}: use --type=merge)")
        body = req.body_object()
        if kind == "apply":
            return self._apply(rt, ns, name, body, req)
        if sub == "scale":
            return self._patch_scale(rt, ns, name, kind, body, req)
        change = self._patcher(rt, kind, body, req)
        updated = self.store.modify(rt.key, ns, name, change, subresource=sub,
                                    dry_run=req.dry_run)
        self._settle(req)
        return json_response(updated, headers=_warning_headers(req))

    def _patcher(self, rt: ResourceType, kind: str, body: Any,
                 req: Request) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(current: dict[str, Any]) -> dict[str, Any]:
            if kind == "json":
                result = patch.json_patch(current, body)
            elif kind == "merge":
                result = patch.json_merge_patch(current, body)
            else:
                if not isinstance(body, dict):
                    raise errors.BadRequest("a strategic merge patch must be a JSON object")
                result = patch.strategic_merge_patch(current, body, kind=rt.kind)
            if not isinstance(result, dict):
                raise errors.BadRequest("the patch does not leave a JSON object")
            # A decoded body is already checked (wire.decode_body); a patch result may not be.
            check_nesting(result, what=f"the patched {rt.kind}")
            _check_object_size(result)
            return self._validated(rt, result, req)
        return change

    def _apply(self, rt: ResourceType, ns: str, name: str, body: Any, req: Request) -> Response:
        """Server-side apply, simplified: create if absent, else merge the applied config.

        Field ownership (managedFields) and conflict detection are not modelled.
        """
        if not req.query.get("fieldManager"):
            raise errors.BadRequest("PATCH with application/apply-patch+yaml requires the "
                                    "fieldManager query parameter (kubectl sends "
                                    "--field-manager=kubectl)")
        if not isinstance(body, dict):
            raise errors.BadRequest("an apply patch must be an object")
        if self.store.peek(rt.key, ns if rt.namespaced else "", name) is None:
            _object_field(body, "metadata")["name"] = name
            created = self.store.create(rt.key, self._validated(rt, body, req),
                                        namespace=ns or None, dry_run=req.dry_run)
            self._settle(req)
            return json_response(created, 201)
        kind = "strategic" if rt.strategic_merge else "merge"
        _object_field(body, "metadata").pop("resourceVersion", None)
        updated = self.store.modify(rt.key, ns, name, self._patcher(rt, kind, body, req),
                                    dry_run=req.dry_run)
        self._settle(req)
        return json_response(updated)

    def delete(self, rt: ResourceType, ns: str, name: str, req: Request) -> Response:
        options = self._delete_options(req)
        result = self.store.delete(rt.key, ns, name, options)
        self._settle(req)
        return json_response(result)

    def _delete_options(self, req: Request) -> DeleteOptions:
        body: Any = None
        if req.body.strip():
            try:
                body = req.body_object()
            except errors.UnsupportedMediaType:
                body = None  # an undecodable DeleteOptions body: use the defaults
        if body is not None and not isinstance(body, dict):
            raise errors.BadRequest("DeleteOptions must be a JSON object")
        merged = dict(body or {})
        for key in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
            if key in req.query:
                merged.setdefault(key, _query_value(key, req.query[key]))
        return DeleteOptions.from_body(merged, dry_run=req.dry_run)

    def delete_collection(self, rt: ResourceType, ns: str | None, req: Request) -> Response:
        result = self.store.list_objects(rt.key, namespace=ns,
                                 labels=LabelSelector.parse(req.query.get("labelSelector")),
                                 fields=FieldSelector.parse(req.query.get("fieldSelector")))
        options = self._delete_options(req)
        deleted = []
        for obj in result.items:
            meta = obj["metadata"]
            try:
                deleted.append(self.store.delete(rt.key, meta.get("namespace", ""), meta["name"],
                                                 options))
            except errors.NotFound:
                continue
        self._settle(req)
        return json_response({"kind": rt.list_kind, "apiVersion": rt.api_version,
                              "metadata": {"resourceVersion": str(self.store.resource_version)},
                              "items": deleted})

    # -- scale --------------------------------------------------------------------------

    def get_scale(self, rt: ResourceType, ns: str, name: str) -> Response:
        return json_response(self._scale_of(rt, self.store.get(rt.key, ns, name)))

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        spec = rt.scale
        assert spec is not None
        meta = obj["metadata"]
        selector = _path_get(obj, spec.label_selector_path) if spec.label_selector_path else None
        if isinstance(selector, dict):
            selector = str(LabelSelector.from_object(selector))
        status: dict[str, Any] = {"replicas": int(_path_get(obj, spec.status_replicas_path) or 0)}
        if selector:
            status["selector"] = selector
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                  "creationTimestamp") if k in meta},
                "spec": {"replicas": int(_path_get(obj, spec.spec_replicas_path) or 0)},
                "status": status}

    def _update_scale(self, rt: ResourceType, ns: str, name: str, body: Any,
                      req: Request) -> Response:
        if not isinstance(body, dict):
            raise errors.BadRequest("a Scale must be a JSON object")
        return self._write_scale(rt, ns, name, lambda _scale: body, req)

    def _patch_scale(self, rt: ResourceType, ns: str, name: str, kind: str, body: Any,
                     req: Request) -> Response:
        def patched(scale: dict[str, Any]) -> dict[str, Any]:
            if kind == "json":
                result = patch.json_patch(scale, body)
            elif kind == "merge":
                result = patch.json_merge_patch(scale, body)
            elif isinstance(body, dict):
                result = patch.strategic_merge_patch(scale, body, kind="Scale")
            else:
                raise errors.BadRequest("a strategic merge patch must be a JSON object")
            if not isinstance(result, dict):
                raise errors.BadRequest("the patch does not leave a Scale object")
            return result
        return self._write_scale(rt, ns, name, patched, req)

    def _write_scale(self, rt: ResourceType, ns: str, name: str,
                     make: Callable[[dict[str, Any]], dict[str, Any]], req: Request) -> Response:
        assert rt.scale is not None
        path = rt.scale.spec_replicas_path

        def change(current: dict[str, Any]) -> dict[str, Any]:
            scale = make(self._scale_of(rt, current))
            replicas = _object_field(scale, "spec", create=False).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid_object("Scale", "autoscaling", name, [
                    f"spec.replicas: Invalid value: {replicas!r}: must be greater than or equal "
                    "to 0"])
            if replicas > _INT32_MAX:  # upstream's Scale.spec.replicas is an int32
                raise errors.BadRequest(f"Scale in body is invalid: spec.replicas: {replicas} "
                                        f"does not fit an int32 (at most {_INT32_MAX})")
            rv = _object_field(scale, "metadata", create=False).get("resourceVersion")
            if rv:
                current["metadata"]["resourceVersion"] = rv
            _path_set(current, path, replicas)
            return current

        updated = self.store.modify(rt.key, ns, name, change, dry_run=req.dry_run)
        self._settle(req)
        return json_response(self._scale_of(rt, updated))

    # -- helpers ------------------------------------------------------------------------

    def _validated(self, rt: ResourceType, body: Any, req: Request) -> Any:
        if not isinstance(body, dict):
            raise errors.BadRequest(f"the request body must be a JSON object describing a "
                                    f"{rt.kind}, got {type(body).__name__}")
        _check_replicas_range(rt, body)
        mode = req.query.get("fieldValidation") or "Warn"
        if mode not in ("Strict", "Warn", "Ignore"):
            raise errors.BadRequest(f'fieldValidation: Unsupported value: "{mode}": supported '
                                    'values: "Ignore", "Warn", "Strict"')
        if (body.get("apiVersion"), body.get("kind")) not in ((None, None),
                                                               (rt.api_version, rt.kind)):
            return body  # the store explains the mismatch
        probe = {**body, "apiVersion": rt.api_version, "kind": rt.kind}
        problems = schema.check(probe)
        if problems is None:
            return body
        if problems.wrong_type:
            raise errors.BadRequest(f"{rt.kind} in body is invalid: "
                                    + "; ".join(problems.wrong_type))
        if problems.unknown:
            unknown = ", ".join(f'unknown field "{p}"' for p in problems.unknown)
            if mode == "Strict":
                raise errors.BadRequest(f"strict decoding error: {unknown}")
            if mode == "Warn":
                req.warnings.extend(f'unknown field "{p}"' for p in problems.unknown)
            return schema.prune(body)
        return body

    def _settle(self, req: Request) -> None:
        if not req.dry_run:
            self.cluster.settle()


_INT32_MAX = 2**31 - 1


def _object_field(obj: dict[str, Any], key: str, *, create: bool = True) -> dict[str, Any]:
    """``obj[key]`` as an object: absent or null is ``{}`` (stored in ``obj`` if ``create``),
    anything else is 400 (before validation has looked, e.g. for a mismatched kind)."""
    value = obj.get(key)
    if value is None:
        value = {}
        if create:
            obj[key] = value
    if not isinstance(value, dict):
        raise errors.BadRequest(f"{key}: expected an object, got {type(value).__name__}")
    return value


def _check_replicas_range(rt: ResourceType, body: dict[str, Any]) -> None:
    """400 for a replica count that is not an int32, as upstream's decoder answers."""
    if rt.scale is None:
        return
    replicas = _path_get(body, rt.scale.spec_replicas_path)
    if isinstance(replicas, int) and not isinstance(replicas, bool) and \
            abs(replicas) > _INT32_MAX:
        raise errors.BadRequest(f"{rt.kind} in body is invalid: "
                                f"{rt.scale.spec_replicas_path.strip('.')}: {replicas} does not "
                                f"fit an int32 (at most {_INT32_MAX})")


def _check_object_size(obj: dict[str, Any]) -> None:
    """413 when a patch would leave an object larger than ``MAX_OBJECT_BYTES``."""
    if json_size(obj, limit=MAX_OBJECT_BYTES) > MAX_OBJECT_BYTES:
        raise errors.RequestEntityTooLarge(
            f"Request entity too large: the patched object would be larger than "
            f"{MAX_OBJECT_BYTES} bytes: keep large data out of the object")


_RV_MATCHES = ("Exact", "NotOlderThan")


def _check_list_options(query: dict[str, str]) -> None:
    """Upstream's ``ValidateListOptions`` for a list (not a watch): 400/422, never ignored.

    The store serves every list from its latest state, which satisfies any
    ``NotOlderThan`` request; the options are checked so that a typo is reported.
    """
    rv = query.get("resourceVersion") or ""
    if rv and not (rv.isdigit() and rv.isascii()):
        raise errors.BadRequest(f'resourceVersion: Invalid value: "{rv[:100]}": must be a '
                                "resourceVersion this server handed out (a non-negative "
                                "integer), or empty")
    match = query.get("resourceVersionMatch") or ""
    if not match:
        return
    problems = []
    if not rv:
        problems.append("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden "
                        "unless resourceVersion is provided")
    if query.get("continue"):
        problems.append("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden "
                        "when continue is provided")
    if match not in _RV_MATCHES:
        problems.append(f'resourceVersionMatch: Unsupported value: "{match[:100]}": supported '
                        'values: "Exact", "NotOlderThan", ""')
    if problems:
        raise errors.invalid_object("ListOptions", "meta.k8s.io", "", problems)


def _warning_headers(req: Request) -> dict[str, str]:
    if not req.warnings:
        return {}
    text = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in req.warnings[:20])
    return {"Warning": text}


def _query_value(key: str, value: str) -> Any:
    if key == "gracePeriodSeconds":
        try:
            return int(value)
        except ValueError:
            raise errors.BadRequest(f"gracePeriodSeconds must be an integer, got {value!r}") from None
    if key == "orphanDependents":
        return value == "true"
    return value


def _path_get(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _path_set(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    target = obj
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
