"""Parsing Kubernetes REST paths.

``/api/v1/namespaces/{ns}/pods/{name}/status`` and
``/apis/{group}/{version}/...`` become an ``ApiPath``. Segments are split on the
raw (still percent-encoded) path and decoded one by one, so a name containing
an encoded ``/`` is seen as one (invalid) name rather than as two segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["ApiPath", "parse_path"]

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
