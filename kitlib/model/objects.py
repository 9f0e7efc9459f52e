"""Objects in Kubernetes JSON shape: typed dicts and the helpers every layer uses.

Objects stay plain ``dict``s on every hot path (no parallel class hierarchy);
the ``TypedDict``s document the shape for readers and type checkers. Helpers
never mutate their argument unless their name says so (``set_…``).

Simulated time is a float of seconds since the cluster's epoch; ``format_time``
renders it as the RFC 3339 string (second precision, ``Z``) found on the wire.
"""

from __future__ import annotations

import functools
import random
from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired, TypedDict

__all__ = [
    "DEFAULT_EPOCH",
    "KubeObject",
    "ObjectMeta",
    "OwnerReference",
    "annotations_of",
    "format_age",
    "format_time",
    "generated_name",
    "labels_of",
    "meta_of",
    "name_of",
    "namespace_of",
    "object_ref",
    "owner_uids",
    "parse_time",
    "uid_of",
]

#: Simulated time 0 of an embedded cluster (timestamps on the wire are epoch + now).
DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
#: The characters of ``generateName`` suffixes (upstream's ``utilrand``: no vowels, 0, 1 or 3).
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class OwnerReference(TypedDict):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: NotRequired[bool]
    blockOwnerDeletion: NotRequired[bool]


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]


class KubeObject(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: dict[str, Any]
    status: dict[str, Any]


def meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: dict[str, Any]) -> str:
    return str(meta_of(obj).get("name") or "")


def namespace_of(obj: dict[str, Any]) -> str:
    return str(meta_of(obj).get("namespace") or "")


def uid_of(obj: dict[str, Any]) -> str:
    return str(meta_of(obj).get("uid") or "")


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return meta_of(obj).get("labels") or {}


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return meta_of(obj).get("annotations") or {}


def owner_uids(obj: dict[str, Any]) -> list[str]:
    return [ref["uid"] for ref in meta_of(obj).get("ownerReferences") or () if ref.get("uid")]


def object_ref(obj: dict[str, Any]) -> dict[str, Any]:
    """An ``ObjectReference`` to ``obj`` (as Events' ``involvedObject`` carry)."""
    meta = meta_of(obj)
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""),
           "name": meta.get("name", ""), "uid": meta.get("uid", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def generated_name(prefix: str, rng: random.Random) -> str:
    """A name for ``metadata.generateName: prefix``: the prefix (cut to 58 characters) and
    5 random characters, as the API server makes it."""
    return prefix[:58] + "".join(rng.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))


def format_time(seconds: float, epoch: datetime = DEFAULT_EPOCH) -> str:
    """RFC 3339 at second precision, as ``metav1.Time`` serializes."""
    return _format_time(int(seconds), epoch)


@functools.lru_cache(maxsize=1024)
def _format_time(seconds: int, epoch: datetime) -> str:
    # Cached: every write stamps the current (simulated) second, mostly the same one.
    return (epoch + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, epoch: datetime = DEFAULT_EPOCH) -> float:
    """Inverse of ``format_time``: seconds since ``epoch``."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed - epoch).total_seconds()


def format_age(seconds: float) -> str:
    """A duration the way kubectl prints ages (``45s``, ``12m``, ``3h5m``, ``4d``)."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m{rem}s" if rem else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rem = minutes % 60
        return f"{hours}h{rem}m" if rem else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        rem = hours % 24
        return f"{days}d{rem}h" if rem else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        rem = days % 365
        return f"{years}y{rem}d" if rem else f"{years}y"
    return f"{years}y"
