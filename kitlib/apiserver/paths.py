"""Parsing Kubernetes REST paths.

``/api/v1/namespaces/{ns}/pods/{name}/status`` and
``/apis/{group}/{version}/...`` become an ``ApiPath``. Segments are split on the
raw (still percent-encoded) path and decoded one by one, so a name containing
an encoded ``/`` is seen as one (invalid) name rather than as two segments;
``segment_problem`` then refuses it (upstream's ``IsValidPathSegmentName``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["ApiPath", "parse_path", "segment_problem"]

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True, slots=True)
class ApiPath:
    group: str
    version: str
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def is_group_version(self) -> bool:
        """``/api/v1`` or ``/apis/g/v`` itself (a discovery document)."""
        return self.plural is None

    def problem(self) -> str | None:
        """Why the namespace or name in this path cannot name an object, if it cannot."""
        for what, value in (("namespace", self.namespace), ("name", self.name)):
            if value is not None:
                problem = segment_problem(value)
                if problem is not None:
                    return f"invalid resource {what} {value[:100]!r} in the path: {problem}"
        return None


def segment_problem(value: str) -> str | None:
    """Why ``value`` (a decoded path segment) cannot be a namespace or a name, if it cannot.

    Upstream's ``IsValidPathSegmentName`` (no ``.``/``..``, no ``/``/``%``), plus: not
    empty, and no control characters (a NUL would be a different name to other tools).
    """
    if value in ("", ".", ".."):
        return f"may not be {value!r}" if value else "may not be empty"
    for char in ("/", "%"):
        if char in value:
            return f"may not contain {char!r}"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "may not contain control characters"
    return None


def parse_path(raw_path: str) -> ApiPath | None:
    """The resource a path names, or None for paths outside ``/api`` and ``/apis``."""
    segments = [unquote(s) for s in raw_path.strip("/").split("/")] if raw_path.strip("/") else []
    if len(segments) >= 2 and segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    if not rest:
        return ApiPath(group, version)
    return _resource(group, version, rest)


def _resource(group: str, version: str, rest: list[str]) -> ApiPath | None:
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    else:
        namespace = None
    if len(rest) > 3:
        return None
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return ApiPath(group, version, plural, namespace, name, sub)
