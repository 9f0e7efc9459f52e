"""Stable short hashes for pod templates and ControllerRevisions.

Upstream computes ``pod-template-hash`` (Deployments) and ControllerRevision
names (StatefulSets) as FNV-32a over a Go ``spew`` dump of the object plus the
collision count, and renders the decimal string of that number through
``rand.SafeEncodeString``: each digit becomes one character of the alphabet
``bcdfghjklmnpqrstvwxz2456789`` (so hashes are at most 10 characters and look
like ``7c5ddbdf54``). The spew dump is not reproducible outside Go; we hash the
canonical JSON (sorted keys, no whitespace) instead, which is just as stable
and indistinguishable to clients.

Invariant: the same object and collision count always give the same hash, in
every process and on every platform.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["compute_hash", "fnv32a", "safe_encode"]

_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32a(data: bytes, value: int = _FNV_OFFSET) -> int:
    """FNV-1a, 32 bits (Go's ``hash/fnv.New32a``); ``value`` continues a running hash."""
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Upstream ``rand.SafeEncodeString``: each character picks ``alphabet[ord(c) % 27]``."""
    return "".join(_ALPHABET[ord(c) % len(_ALPHABET)] for c in text)


def compute_hash(obj: Any, collision_count: int | None = None) -> str:
    """The hash of ``obj`` (a JSON-shaped value), salted by ``collision_count`` if given."""
    value = fnv32a(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
    if collision_count is not None:
        # Upstream writes the count as 4 little-endian bytes into the hasher.
        value = fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little"), value)
    return safe_encode(str(value))
