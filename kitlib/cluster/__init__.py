"""The embedded cluster's actors and their assembly, ``EmbeddedCluster``."""

from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster

__all__ = ["ClusterSettings", "EmbeddedCluster"]
