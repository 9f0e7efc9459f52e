"""The scheduler's parts: resource arithmetic (``requests``), node affinity
(``affinity``), filters and failure messages (``filters``) and the cache of node facts
and running tallies (``cache``). The actor that binds pods is ``kitlib.cluster.scheduler``.
"""

from kitlib.cluster.scheduling.cache import SchedulerCache
from kitlib.cluster.scheduling.filters import (
    NodeFacts,
    PodFacts,
    Rejection,
    filter_node,
    fit_error_message,
    num_feasible_nodes_to_find,
)

__all__ = [
    "NodeFacts",
    "PodFacts",
    "Rejection",
    "SchedulerCache",
    "filter_node",
    "fit_error_message",
    "num_feasible_nodes_to_find",
]
