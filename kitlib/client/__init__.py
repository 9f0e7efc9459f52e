"""The client layer: speaks only the Kubernetes API, to embedded and real clusters alike."""

from kitlib.client.apps import example_app, example_sidecarset
from kitlib.client.capabilities import Capabilities
from kitlib.client.cluster import Cluster, EmbeddedOnlyError
from kitlib.client.connect import connect
from kitlib.client.drain import (
    DrainError,
    DrainEvent,
    DrainRefusal,
    DrainResult,
    EvictionResult,
)
from kitlib.client.errors import MissingCapabilityError, from_api_exception, translate
from kitlib.client.explain import Explanation, Finding
from kitlib.client.ops import ApplyResult, WritesNotAllowedError
from kitlib.client.refs import Progress
from kitlib.client.workloads import RolloutResult

__all__ = ["ApplyResult", "Capabilities", "Cluster", "DrainError", "DrainEvent", "DrainRefusal", "DrainResult",
           "EmbeddedOnlyError", "EvictionResult", "Explanation", "Finding",
           "MissingCapabilityError", "Progress", "RolloutResult", "WritesNotAllowedError", "connect", "example_app",
           "example_sidecarset", "from_api_exception", "translate"]
