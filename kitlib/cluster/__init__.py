"""The embedded cluster's actors and their assembly, ``EmbeddedCluster``."""

from kitlib.cluster.embedded import EmbeddedCluster
from kitlib.cluster.settings import (
    ClusterSettings,
    KubeletSettings,
    NodeLifecycleSettings,
    NodePoolSettings,
    SchedulerSettings,
)

__all__ = [
    "ClusterSettings",
    "EmbeddedCluster",
    "KubeletSettings",
    "NodeLifecycleSettings",
    "NodePoolSettings",
    "SchedulerSettings",
]
