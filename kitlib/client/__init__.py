"""The client layer: speaks only the Kubernetes API, to embedded and real clusters alike."""

from kitlib.client.cluster import Cluster, EmbeddedOnlyError
from kitlib.client.connect import connect
from kitlib.client.errors import from_api_exception, translate

__all__ = ["Cluster", "EmbeddedOnlyError", "connect", "from_api_exception", "translate"]
