"""Snapshots: a running embedded cluster saved to one file and started again from it.

File format (version 1): gzip-compressed JSON (UTF-8, gzip header without a time
stamp, so the same cluster always gives the same bytes), one object::

    {"format": "kitlib-snapshot",       # what the file is
     "version": 1,                      # this format's version (SNAPSHOT_VERSION)
     "kitlib": "0.1.0",                 # the kitlib that wrote it (informative)
     "settings": {...},                 # ClusterSettings as nested JSON objects
     "state": {"resource_version": 4711,            # ClusterState (state.py)
               "now": 120.0,                         # simulated seconds
               "rng_states": {"": [3, [...], null],  # Engine RNG streams by name
                              "scheduler": [...]},
               "objects": [["pods", {...}], ...],    # (kind key, stored object)
               "history": [[4700, "MODIFIED", "pods", {...}], ...]}}

Objects are written in (kind key, namespace, name) order, so saving, loading and
saving again gives the same bytes. A reader refuses another ``format``, a newer
``version`` or settings it does not know, with a message saying what to do.

What a snapshot holds: the stored objects, the RV counter, the clock, the RNG
streams and the last ``history`` watch events (1000 by default: a watch from an RV
among them resumes after a load). What it does not hold: pending timers and the
actors' memory; a loaded cluster re-derives them level-based (``embedded.py``), so
two loads of one snapshot given the same calls have identical histories, but the
original cluster continuing after the save does not in general match them
(heartbeat phases, queue order and in-flight pulls/starts are derived anew).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.metadata
import typing
from pathlib import Path
from typing import Any

import orjson

from kitlib.cluster.embedded import EmbeddedCluster
from kitlib.cluster.settings import ClusterSettings
from kitlib.cluster.state import ClusterState

__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "SnapshotError",
    "dump_snapshot",
    "load_snapshot",
    "parse_snapshot",
    "save_snapshot",
    "settings_from_json",
    "settings_to_json",
]

SNAPSHOT_FORMAT = "kitlib-snapshot"
SNAPSHOT_VERSION = 1
#: Watch events a snapshot keeps by default.
DEFAULT_HISTORY = 1000


class SnapshotError(ValueError):
    """A file that is not a snapshot this kitlib can load (the message says why)."""


def save_snapshot(cluster: EmbeddedCluster, path: str | Path, *,
                  history: int = DEFAULT_HISTORY) -> int:
    """Write ``cluster`` to ``path`` (see the module docstring); returns the bytes written."""
    data = dump_snapshot(cluster, history=history)
    Path(path).write_bytes(data)
    return len(data)


def dump_snapshot(cluster: EmbeddedCluster, *, history: int = DEFAULT_HISTORY) -> bytes:
    """The snapshot file's bytes for ``cluster``."""
    state = cluster.capture_state(history=history)
    document = {
        "format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "kitlib": _kitlib_version(),
        "settings": settings_to_json(cluster.settings),
        "state": {"resource_version": state.resource_version, "now": state.now,
                  "rng_states": state.rng_states, "objects": state.objects,
                  "history": state.history},
    }
    return gzip.compress(orjson.dumps(document), compresslevel=6, mtime=0)


def load_snapshot(path: str | Path) -> EmbeddedCluster:
    """A running cluster started from the snapshot file at ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror or exc}") from None
    settings, state = parse_snapshot(data, source=str(path))
    return EmbeddedCluster.from_state(state, settings)


def parse_snapshot(data: bytes, *, source: str = "snapshot") -> tuple[ClusterSettings,
                                                                       ClusterState]:
    """The settings and state of a snapshot file's bytes."""
    try:
        document = orjson.loads(gzip.decompress(data))
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise SnapshotError(f"{source} is not a kitlib snapshot (a gzip'd JSON file written "
                            f"by save_snapshot / kitlib snapshot save): {exc}") from None
    if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"{source} is not a kitlib snapshot (no \"format\": "
                            f"\"{SNAPSHOT_FORMAT}\")")
    version = document.get("version")
    if not isinstance(version, int) or version > SNAPSHOT_VERSION or version < 1:
        raise SnapshotError(f"{source} has snapshot format version {version!r}, this kitlib "
                            f"({_kitlib_version()}) reads versions 1..{SNAPSHOT_VERSION}: load "
                            f"it with the kitlib that wrote it ({document.get('kitlib')})")
    raw = document.get("state") or {}
    try:
        state = ClusterState(
            objects=[(str(key), obj) for key, obj in raw["objects"]],
            resource_version=int(raw["resource_version"]), now=float(raw["now"]),
            rng_states=raw.get("rng_states"),
            history=[(int(rv), str(t), str(key), obj) for rv, t, key, obj in raw["history"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{source}: the snapshot's state is incomplete or damaged "
                            f"({type(exc).__name__}: {exc})") from None
    return settings_from_json(document.get("settings") or {}, source=source), state


# -- settings as JSON ---------------------------------------------------------------------

def settings_to_json(settings: ClusterSettings) -> dict[str, Any]:
    """``ClusterSettings`` (nested dataclasses) as JSON-shaped dicts."""
    found: dict[str, Any] = _to_json(settings)
    return found


def settings_from_json(data: dict[str, Any], *, source: str = "snapshot") -> ClusterSettings:
    """The inverse of ``settings_to_json``; missing fields take their defaults."""
    found = _from_json(ClusterSettings, data, "settings", source)
    assert isinstance(found, ClusterSettings)
    return found


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    return value


def _from_json(cls: type, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise SnapshotError(f"{source}: {where} must be an object, got {data!r:.80}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SnapshotError(f"{source}: unknown setting(s) {where}.{', '.join(unknown)}: it "
                            "was written by another kitlib version; load it with that version")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _from_json(typing.cast(type, hint), value, f"{where}.{name}", source)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _kitlib_version() -> str:
    try:
        return importlib.metadata.version("kitlib")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
