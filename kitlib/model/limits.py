"""Size and shape limits on what a client may send, and the cheap checks that enforce them.

The API server answers hostile input with a 4xx ``Status`` instead of spending
unbounded memory, stack or time on it. The limits, and why each value:

- ``MAX_BODY_BYTES`` (3 MiB): upstream's ``MaxRequestBodyBytes``; a larger body is
  413 ``RequestEntityTooLarge`` with upstream's message (``body_too_large``).
- ``MAX_OBJECT_BYTES`` (3 MiB): a patch may not leave an object larger than a body
  could be (upstream stops such objects at etcd's request limit). Without it a
  client grows one object by 3 MiB per merge patch, forever.
- ``MAX_JSON_PATCH_OPERATIONS`` (10,000): upstream's ``maxJSONPatchOperations``.
- ``MAX_COPY_BYTES`` (3 MiB): the JSON size a JSON patch may duplicate with
  ``copy`` operations in total. ``copy`` is the one amplifying operation: copying a
  member into itself doubles it, and 30 such operations turn 1 KiB into 1 TiB.
- ``MAX_NESTING_DEPTH`` (100 levels): not an upstream number (Go's decoder allows
  10,000). orjson writes at most 255 levels and the API wraps stored objects in a
  few more (lists, watch events, Tables); the patch and validation code recurses
  once per level. The deepest built-in object (a pod template's affinity terms)
  is about 15 levels deep, so 100 leaves room for custom resources.

The checks walk values iteratively (never recursing, so they are safe on any
input) and stop as soon as a limit is passed.
"""

from __future__ import annotations

from typing import Any

from .errors import BadRequest, RequestEntityTooLarge

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_COPY_BYTES",
    "MAX_JSON_PATCH_OPERATIONS",
    "MAX_NESTING_DEPTH",
    "MAX_OBJECT_BYTES",
    "body_too_large",
    "check_nesting",
    "json_size",
    "nesting_depth",
]

MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_OBJECT_BYTES = 3 * 1024 * 1024
MAX_JSON_PATCH_OPERATIONS = 10_000
MAX_COPY_BYTES = 3 * 1024 * 1024
MAX_NESTING_DEPTH = 100


def body_too_large(detail: str = "") -> RequestEntityTooLarge:
    """Upstream's 413 (``Request entity too large: limit is 3145728``), plus what was seen."""
    extra = f" ({detail})" if detail else ""
    return RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY_BYTES}{extra}: "
                                 "send a smaller object (split it, or keep large data out of "
                                 "the API)")


def nesting_depth(value: Any, *, limit: int = MAX_NESTING_DEPTH) -> int:
    """How many objects/lists deep ``value`` goes (a scalar is 0), counting at most to
    ``limit + 1``: the walk stops at the first level past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


def check_nesting(value: Any, *, what: str = "the request body",
                  limit: int = MAX_NESTING_DEPTH) -> None:
    """400 ``BadRequest`` when ``value`` is nested more than ``limit`` levels deep."""
    if nesting_depth(value, limit=limit) > limit:
        raise BadRequest(f"{what} is nested more than {limit} levels deep (objects within "
                         f"objects or lists); flatten it to at most {limit} levels")


def json_size(value: Any, *, limit: int) -> int:
    """The approximate size of ``value`` as compact JSON, counting at most to ``limit + 1``.

    Strings count their length plus quotes, other scalars a few bytes, containers
    their brackets and separators; keys count like strings.
    """
    size = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            size += 2 + 2 * len(item)
            for key, child in item.items():
                size += len(key) + 2
                stack.append(child)
        elif isinstance(item, list):
            size += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, str):
            size += len(item) + 2
        else:
            size += 5
        if size > limit:
            return size
    return size
