"""The client layer: speaks only the Kubernetes API, to embedded and real clusters alike."""

from kitlib.client.cluster import Cluster, EmbeddedOnlyError
from kitlib.client.connect import connect
from kitlib.client.drain import (
    DrainError,
    DrainEvent,
    DrainRefusal,
    DrainResult,
    EvictionResult,
)
from kitlib.client.errors import from_api_exception, translate
from kitlib.client.ops import ApplyResult, WritesNotAllowedError

__all__ = ["ApplyResult", "Cluster", "DrainError", "DrainEvent", "DrainRefusal", "DrainResult",
           "EmbeddedOnlyError", "EvictionResult", "WritesNotAllowedError", "connect",
           "from_api_exception", "translate"]
