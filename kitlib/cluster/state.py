"""``ClusterState``: everything needed to rebuild a running embedded cluster.

A cluster is its stored objects plus the few counters that make its future
deterministic: the store's resourceVersion counter, the engine clock and the
engine's named RNG streams. Nothing else is kept: controllers, kubelets and the
scheduler hold only caches of the store, which they rebuild *level-based* when
a cluster is built from a state (``EmbeddedCluster.from_state``) — the same
restart every real Kubernetes component must survive.

``ClusterSettings`` (seed, nodes, kruise, feature gates...) are not part of the
state: they travel beside it (a snapshot file holds both, see ``snapshot.py``).

Contract for the producers of a state (``EmbeddedCluster.capture_state``, the
durable store):

* ``objects`` are the stored objects with their server-owned metadata
  (``uid``, ``resourceVersion``, ``creationTimestamp``, ``generation``...), in
  any order; the kind key is the registry key (``"pods"``,
  ``"clonesets.apps.kruise.io"``). Kinds the rebuilt cluster does not serve are
  an error (``ValueError`` naming the kind), not silently dropped.
* ``resource_version`` is the last committed RV (the next write gets ``+1``); it
  must be at least every object's ``metadata.resourceVersion``.
* ``now`` is the engine clock in simulated seconds.
* ``rng_states`` maps ``Engine.rng_for`` stream names (and ``""`` for
  ``Engine.rng``) to ``random.Random.getstate()`` values, JSON-shaped (lists);
  ``None`` gives fresh streams from the seed.
* ``history`` holds recent watch events ``(rv, type, kind key, object)``, oldest
  first, with contiguous RVs ending at ``resource_version``; a watch from an RV
  inside it resumes after the restart instead of getting 410 ``Expired``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClusterState", "HistoryEntry", "StoredObject"]

#: ``(kind key, stored object)``.
StoredObject = tuple[str, dict[str, Any]]
#: ``(rv, event type, kind key, object)`` of one watch event.
HistoryEntry = tuple[int, str, str, dict[str, Any]]


@dataclass
class ClusterState:
    """The stored objects and counters of a cluster (see the module docstring)."""

    #: ``(kind key, stored object)``, any order.
    objects: list[StoredObject]
    #: The store's RV counter: the next write gets ``resource_version + 1``.
    resource_version: int
    #: The engine clock (simulated seconds).
    now: float
    #: Engine RNG streams by name (``""``: ``Engine.rng``); None: fresh streams from the seed.
    rng_states: dict[str, Any] | None = None
    #: Recent watch events ``(rv, type, kind key, object)``, oldest first.
    history: list[HistoryEntry] = field(default_factory=list)
