"""kitlib — a Jupyter control-notebook kit for cloud-native workload operations.

Notebooks import from here: ``kitlib.connect()`` starts (or connects to) a
cluster and returns a ``Cluster`` handle (operations, faults, ``explain``);
``kitlib.Recorder`` records it into DataFrames, ``kitlib.viz`` plots them and
``kitlib.twin`` rehearses on a copy; errors from any cluster arrive as the
classes in ``kitlib.errors``.
"""

from typing import TYPE_CHECKING, Any

from kitlib.client import (
    ApplyResult,
    Capabilities,
    Cluster,
    DrainError,
    DrainEvent,
    DrainResult,
    EmbeddedOnlyError,
    EvictionResult,
    Explanation,
    Finding,
    MissingCapabilityError,
    Progress,
    RolloutResult,
    WritesNotAllowedError,
    connect,
    example_app,
    example_sidecarset,
)
from kitlib.model import errors
from kitlib.model.errors import ApiError

if TYPE_CHECKING:
    from kitlib.observe import CacheWarmth, Recorder, Recording

__version__ = "0.1.0"

#: Loaded on first use: recorders bring pandas, which ``kitlib serve`` never needs.
_OBSERVE = frozenset({"CacheWarmth", "Recorder", "Recording"})


def __getattr__(name: str) -> Any:
    if name in _OBSERVE:
        from kitlib import observe
        return getattr(observe, name)
    raise AttributeError(f"module 'kitlib' has no attribute {name!r}")

__all__ = ["ApiError", "ApplyResult", "CacheWarmth", "Capabilities", "Cluster", "DrainError",
           "DrainEvent", "DrainResult", "EmbeddedOnlyError", "EvictionResult", "Explanation",
           "Finding", "MissingCapabilityError", "Progress", "Recorder", "Recording",
           "RolloutResult", "WritesNotAllowedError", "__version__", "connect", "errors",
           "example_app", "example_sidecarset"]
