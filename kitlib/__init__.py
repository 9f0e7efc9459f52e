"""kitlib — a Jupyter control-notebook kit for cloud-native workload operations.

Notebooks import from here: ``kitlib.connect()`` starts (or connects to) a
cluster and returns a ``Cluster`` handle; errors from any cluster arrive as
the classes in ``kitlib.errors``.
"""

from kitlib.client import (
    ApplyResult,
    Cluster,
    DrainError,
    DrainEvent,
    DrainResult,
    EmbeddedOnlyError,
    EvictionResult,
    WritesNotAllowedError,
    connect,
)
from kitlib.model import errors
from kitlib.model.errors import ApiError

__version__ = "0.1.0"

__all__ = ["ApiError", "ApplyResult", "Cluster", "DrainError", "DrainEvent", "DrainResult",
           "EmbeddedOnlyError", "EvictionResult", "WritesNotAllowedError", "__version__",
           "connect", "errors"]
