"""The three PATCH bodies the API server accepts, applied to objects as plain dicts.

This module owns patch *semantics* and nothing else (no content-type negotiation, no
storage, no I/O):

- ``json_merge_patch``: RFC 7386 (``application/merge-patch+json``).
- ``json_patch``: RFC 6902 (``application/json-patch+json``) through the ``jsonpatch``
  library, with failures turned into ``BadRequest`` (malformed body) or ``Invalid``
  (an operation that cannot be applied, including a failed ``test``).
- ``strategic_merge_patch``: Kubernetes strategic merge patch
  (``application/strategic-merge-patch+json``). Upstream drives it from Go struct
  tags; here a small table keyed by field name *and* position (pod spec, container,
  object metadata, ``status``) says which lists merge by which key. Lists not in the
  table are atomic. All ``$``-directives are honoured and stripped from the result.

Every function returns a new object and never mutates its arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import jsonpatch
import jsonpointer

from .errors import BadRequest, Invalid, RequestEntityTooLarge
from .limits import (
    MAX_COPY_BYTES,
    MAX_JSON_PATCH_OPERATIONS,
    MAX_NESTING_DEPTH,
    json_size,
    nesting_depth,
)

__all__ = ["json_merge_patch", "json_patch", "strategic_merge_patch"]


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (faster than ``copy.deepcopy`` for dicts/lists)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _show(value: Any, limit: int = 200) -> str:
    """A short JSON rendering of ``value`` for error messages."""
    text = json.dumps(value, separators=(",", ":"), default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# --------------------------------------------------------------------------------------


def json_merge_patch(original: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: maps merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return _copy(patch)
    target = _copy(original) if isinstance(original, dict) else {}
    return _merge_patch_into(target, patch)


def _merge_patch_into(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for name, value in patch.items():
        if value is None:
            target.pop(name, None)
        elif isinstance(value, dict):
            current = target.get(name)
            target[name] = _merge_patch_into(current if isinstance(current, dict) else {}, value)
        else:
            target[name] = _copy(value)
    return target


# --------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# --------------------------------------------------------------------------------------


def json_patch(original: Any, ops: Any) -> Any:
    """Apply an RFC 6902 operation list; the first failing operation raises.

    A body that is not a list, or an operation that is malformed (not an object, no
    ``op``/``path``/``value``, unknown ``op``, a path not starting with ``/``) raises
    ``BadRequest``. An operation that cannot be applied to this object (failed ``test``,
    missing member, index out of range) raises ``Invalid`` (422, as Kubernetes answers).

    Patch bombs are refused before they cost memory: more than
    ``MAX_JSON_PATCH_OPERATIONS`` operations is 413 (upstream's limit and message), and
    ``copy`` operations may duplicate at most ``MAX_COPY_BYTES`` of JSON in total and
    may not nest the object deeper than ``MAX_NESTING_DEPTH`` (see ``limits``).
    """
    if not isinstance(ops, list):
        raise BadRequest(
            "a JSON patch (application/json-patch+json) must be a list of operations, "
            f"got {_show(ops)}"
        )
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(ops)}: split the patch into several requests")
    document = _copy(original)
    budget = _CopyBudget()
    for index, op in enumerate(_copy(ops)):
        budget.charge(document, index, op)
        document = _apply_operation(document, index, op)
    return document


class _CopyBudget:
    """What the ``copy`` operations of one patch have duplicated so far (in JSON bytes)."""

    def __init__(self) -> None:
        self.copied = 0

    def charge(self, document: Any, index: int, op: Any) -> None:
        if not isinstance(op, dict) or op.get("op") != "copy":
            return
        source = op.get("from")
        target = op.get("path")
        if not isinstance(source, str) or not isinstance(target, str):
            return  # malformed: _apply_operation says why
        try:
            value = jsonpointer.resolve_pointer(document, source)
            target_depth = len(jsonpointer.JsonPointer(target).parts)
        except jsonpointer.JsonPointerException:
            return  # _apply_operation says why
        self.copied += json_size(value, limit=MAX_COPY_BYTES - self.copied)
        if self.copied > MAX_COPY_BYTES:
            raise RequestEntityTooLarge(_op_failure(
                index, op, f"the copy operations of this patch duplicate more than "
                f"{MAX_COPY_BYTES} bytes of JSON; copy less, or send the values themselves"))
        if target_depth + nesting_depth(value) > MAX_NESTING_DEPTH:
            raise BadRequest(_op_failure(
                index, op, f"the copy would nest the object more than {MAX_NESTING_DEPTH} "
                "levels deep"))


def _apply_operation(document: Any, index: int, op: Any) -> Any:
    if not isinstance(op, dict):
        reason = 'malformed operation: it must be an object with "op" and "path" members'
        raise BadRequest(_op_failure(index, op, reason))
    try:
        patch = jsonpatch.JsonPatch([op])
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise BadRequest(_op_failure(index, op, f"malformed operation: {exc}")) from exc
    try:
        return patch.apply(document, in_place=True, atomic=True)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise Invalid(_op_failure(index, op, _test_failure(document, op))) from exc
    except jsonpatch.InvalidJsonPatch as exc:
        raise BadRequest(_op_failure(index, op, f"malformed operation: {exc}")) from exc
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as exc:
        raise Invalid(_op_failure(index, op, _conflict_reason(document, op, exc))) from exc


def _op_failure(index: int, op: Any, reason: str) -> str:
    return f"json patch operation {index} {_show(op)} failed: {reason}"


def _conflict_reason(document: Any, op: dict[str, Any], exc: Exception) -> str:
    missing = _missing_location(document, op)
    if missing is not None:
        return missing
    reason = str(exc)
    return reason if len(reason) <= 200 else reason[:197] + "..."


def _missing_location(document: Any, op: dict[str, Any]) -> str | None:
    """Say which location the operation needs that the object lacks, if any."""
    if op.get("op") in ("move", "copy"):
        problem = _path_problem(document, str(op.get("from", "")), whole=True, hint="")
        if problem is not None:
            return f'the "from" location {problem}'
    whole = op.get("op") in ("remove", "replace")
    hint = ' (use "add" to create it)' if whole else " (add it first)"
    return _path_problem(document, str(op.get("path", "")), whole=whole, hint=hint)


def _path_problem(document: Any, path: str, *, whole: bool, hint: str) -> str | None:
    """Why ``path`` (all of it, or up to its parent) does not resolve, if it does not."""
    try:
        parts = jsonpointer.JsonPointer(path).parts
    except jsonpointer.JsonPointerException:
        return None
    absent = object()
    for depth in range(len(parts) + (1 if whole else 0)):
        prefix = jsonpointer.JsonPointer.from_parts(parts[:depth])
        value = prefix.resolve(document, absent)
        if value is absent:
            return f"{json.dumps(prefix.path)} does not exist in the object{hint}"
        if depth < len(parts) and not isinstance(value, dict | list):
            return f"{json.dumps(prefix.path)} is {_show(value)}, not an object or a list"
    return None


def _test_failure(document: Any, op: dict[str, Any]) -> str:
    path = op.get("path", "")
    missing = object()
    actual = jsonpointer.resolve_pointer(document, path, missing)
    if actual is missing:
        return f'test failed: "{path}" does not exist in the object'
    return (
        f'test failed: the value at "{path}" is {_show(actual)}, '
        f"but the patch expects {_show(op.get('value'))}"
    )


# --------------------------------------------------------------------------------------
# Strategic merge patch: which lists merge, and by which key
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ListRule:
    """How a list field merges: by ``merge_key``, as a primitive set, or (default) atomically."""

    merge_key: str | None = None
    primitive_set: bool = False


_ATOMIC: Final = _ListRule()
_SET: Final = _ListRule(primitive_set=True)

_CONTAINER_FIELDS: Final = frozenset({"containers", "initContainers", "ephemeralContainers"})
_POD_SPEC_LISTS: Final[dict[str, str]] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
}
_CONTAINER_LISTS: Final[dict[str, str]] = {
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
}
_METADATA_LISTS: Final[dict[str, _ListRule]] = {
    "ownerReferences": _ListRule(merge_key="uid"),
    "finalizers": _SET,
}
#: Lists at a fixed path from the object root; kind ``"*"`` applies to every kind.
_ROOT_LISTS: Final[dict[tuple[str, tuple[str, ...]], str]] = {
    ("*", ("status", "conditions")): "type",
    ("Service", ("spec", "ports")): "port",
    ("Node", ("status", "addresses")): "type",
}


@dataclass(frozen=True, slots=True)
class _Where:
    """The kind being patched and the field path (names only, no list indices)."""

    kind: str
    path: tuple[str, ...] = ()

    def child(self, name: str) -> _Where:
        return _Where(self.kind, (*self.path, name))

    def __str__(self) -> str:
        return ".".join(self.path) or "<root>"


def _is_pod_spec(kind: str, path: tuple[str, ...]) -> bool:
    """A PodSpec sits at a Pod's ``spec`` and at every ``template.spec`` of any kind."""
    return (kind == "Pod" and path == ("spec",)) or path[-2:] == ("template", "spec")


def _is_container(kind: str, path: tuple[str, ...]) -> bool:
    return bool(path) and path[-1] in _CONTAINER_FIELDS and _is_pod_spec(kind, path[:-1])


def _keyed(merge_key: str | None) -> _ListRule:
    return _ListRule(merge_key=merge_key) if merge_key else _ATOMIC


def _list_rule(where: _Where) -> _ListRule:
    """The merge rule for the list at ``where`` (atomic unless the table says otherwise)."""
    kind, path = where.kind, where.path
    field, parent = path[-1], path[:-1]
    if parent[-1:] == ("metadata",):
        return _METADATA_LISTS.get(field, _ATOMIC)
    if _is_pod_spec(kind, parent):
        return _keyed(_POD_SPEC_LISTS.get(field))
    if _is_container(kind, parent):
        return _keyed(_CONTAINER_LISTS.get(field))
    return _keyed(_ROOT_LISTS.get((kind, path)) or _ROOT_LISTS.get(("*", path)))


# --------------------------------------------------------------------------------------
# Strategic merge patch: directives
# --------------------------------------------------------------------------------------

_PATCH: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_ORDER_PREFIX: Final = "$setElementOrder/"
_DELETE_PREFIX: Final = "$deleteFromPrimitiveList/"
_REPLACE: Final = "replace"
_DELETE: Final = "delete"
#: Returned by ``_merge_value`` when the patch removes the field.
_ABSENT: Final = object()


def _is_directive(name: str) -> bool:
    return name in (_PATCH, _RETAIN_KEYS) or name.startswith((_ORDER_PREFIX, _DELETE_PREFIX))


def _prefixed(patch: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    """``(field, value)`` for every ``<prefix><field>`` directive in ``patch``."""
    return [(name[len(prefix):], value) for name, value in patch.items()
            if name.startswith(prefix)]


def _require_list(value: Any, where: _Where, directive: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(
            f"{where}: the strategic merge patch directive {directive!r} needs a list, "
            f"got {_show(value)}"
        )
    return value


def _bad_patch_type(where: _Where, value: Any) -> BadRequest:
    return BadRequest(
        f'{where}: unknown strategic merge patch directive "$patch": {_show(value)} '
        '(use "replace" or "delete")'
    )


# --------------------------------------------------------------------------------------
# Strategic merge patch: the merge
# --------------------------------------------------------------------------------------


def strategic_merge_patch(
    original: dict[str, Any], patch: dict[str, Any], *, kind: str
) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to an object of ``kind``.

    Maps merge recursively and ``null`` deletes; lists merge by their merge key (or as a
    set, for ``metadata.finalizers``) where Kubernetes says so, and are replaced
    otherwise. A patch element of a keyed list without its key raises ``BadRequest``.
    """
    if not isinstance(patch, dict):
        raise BadRequest(f"a strategic merge patch must be a JSON object, got {_show(patch)}")
    target = _copy(original) if isinstance(original, dict) else {}
    merged = _merge_map(target, _copy(patch), _Where(kind))
    return {} if merged is None else merged


def _merge_map(
    target: dict[str, Any], patch: dict[str, Any], where: _Where
) -> dict[str, Any] | None:
    """Merge ``patch`` into ``target`` (in place); ``None`` means "delete this map"."""
    if _PATCH not in patch:
        return _merge_fields(target, patch, where)
    directive = patch[_PATCH]
    if directive == _DELETE:
        return None
    if directive == _REPLACE:
        rest = {name: value for name, value in patch.items() if name != _PATCH}
        return _merge_fields({}, rest, where)
    raise _bad_patch_type(where, directive)


def _merge_fields(
    target: dict[str, Any], patch: dict[str, Any], where: _Where
) -> dict[str, Any]:
    _delete_from_primitive_lists(target, patch, where)
    for name, value in patch.items():
        if _is_directive(name):
            continue
        merged = _merge_value(target.get(name, _ABSENT), value, where.child(name))
        if merged is _ABSENT:
            target.pop(name, None)
        else:
            target[name] = merged
    _set_element_order(target, patch, where)
    _retain_keys(target, patch, where)
    return target


def _merge_value(current: Any, value: Any, where: _Where) -> Any:
    """The merged value of one field; ``_ABSENT`` when the patch deletes it.

    When the types differ (a map patched onto a list, a list onto a string, ...), the
    patch value wins, merged onto an empty value so that its directives are applied.
    """
    if value is None:
        return _ABSENT
    if isinstance(value, dict):
        merged = _merge_map(current if isinstance(current, dict) else {}, value, where)
        return _ABSENT if merged is None else merged
    if isinstance(value, list):
        return _merge_list(current if isinstance(current, list) else [], value, where)
    return value


def _merge_list(target: list[Any], patch: list[Any], where: _Where) -> list[Any]:
    items, replace = _split_replace_marker(patch, where)
    base = [] if replace else target
    rule = _list_rule(where)
    if rule.merge_key is not None:
        return _merge_keyed(base, items, rule.merge_key, where)
    if rule.primitive_set:
        return base + [item for i, item in enumerate(items)
                       if item not in base and item not in items[:i]]
    return _clean_elements(items, where)


def _split_replace_marker(patch: list[Any], where: _Where) -> tuple[list[Any], bool]:
    """Drop ``{"$patch": "replace"}`` elements; say whether there was one."""
    items: list[Any] = []
    replace = False
    for item in patch:
        directive = item.get(_PATCH) if isinstance(item, dict) else None
        if directive == _REPLACE:
            replace = True
        elif directive in (None, _DELETE):
            items.append(item)
        else:
            raise _bad_patch_type(where, directive)
    return items, replace


def _clean_elements(items: list[Any], where: _Where) -> list[Any]:
    """An atomic list's new value: the patch elements with their directives applied."""
    cleaned = []
    for item in items:
        if isinstance(item, dict | list):
            merged = _merge_value(_ABSENT, item, where)
            if merged is not _ABSENT:
                cleaned.append(merged)
        else:
            cleaned.append(item)
    return cleaned


def _merge_keyed(
    target: list[Any], items: list[Any], key: str, where: _Where
) -> list[Any]:
    """Merge elements by ``key``: delete, merge into the match, or append in patch order."""
    result = list(target)
    for item in items:
        _require_merge_key(item, key, where)
        if item.get(_PATCH) == _DELETE:
            result = [element for element in result if not _matches(element, key, item[key])]
        else:
            _merge_element(result, item, key, where)
    return result


def _require_merge_key(item: Any, key: str, where: _Where) -> None:
    if not isinstance(item, dict) or key not in item:
        raise BadRequest(
            f"{where}: every element of a strategic merge patch list needs its merge key "
            f"{json.dumps(key)} (got {_show(item)})"
        )


def _matches(element: Any, key: str, value: Any) -> bool:
    return isinstance(element, dict) and key in element and element[key] == value


def _merge_element(result: list[Any], item: dict[str, Any], key: str, where: _Where) -> None:
    for index, element in enumerate(result):
        if _matches(element, key, item[key]):
            merged = _merge_map(element, item, where)
            result[index] = {} if merged is None else merged
            return
    merged = _merge_map({}, item, where)
    if merged is not None:
        result.append(merged)


def _delete_from_primitive_lists(
    target: dict[str, Any], patch: dict[str, Any], where: _Where
) -> None:
    """``$deleteFromPrimitiveList/<field>: [values]`` removes those values from the list."""
    for field, values in _prefixed(patch, _DELETE_PREFIX):
        doomed = _require_list(values, where, _DELETE_PREFIX + field)
        current = target.get(field)
        if isinstance(current, list):
            target[field] = [item for item in current if item not in doomed]


def _set_element_order(target: dict[str, Any], patch: dict[str, Any], where: _Where) -> None:
    """``$setElementOrder/<field>``: listed elements first, in that order; the rest after."""
    for field, order in _prefixed(patch, _ORDER_PREFIX):
        wanted = _require_list(order, where, _ORDER_PREFIX + field)
        current = target.get(field)
        if isinstance(current, list):
            key = _list_rule(where.child(field)).merge_key
            target[field] = _ordered(current, wanted, key)


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    ranks = [_identity(entry, key) for entry in order]

    def rank(item: Any) -> int:
        identity = _identity(item, key)
        return ranks.index(identity) if identity in ranks else len(ranks)

    return sorted(items, key=rank)


def _identity(item: Any, key: str | None) -> Any:
    """What ``$setElementOrder`` compares: the merge-key value, or the item itself."""
    return item.get(key) if key is not None and isinstance(item, dict) else item


def _retain_keys(target: dict[str, Any], patch: dict[str, Any], where: _Where) -> None:
    """``$retainKeys: [names]`` drops every field of the merged map not in the list."""
    if _RETAIN_KEYS not in patch:
        return
    keep = _require_list(patch[_RETAIN_KEYS], where, _RETAIN_KEYS)
    for name in [name for name in target if name not in keep]:
        del target[name]
