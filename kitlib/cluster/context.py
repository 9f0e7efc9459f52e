"""What every actor of the embedded cluster is given: ``ClusterContext``.

Actors (scheduler, kubelets, controllers) talk to each other only through the
store, as Kubernetes components talk only through the API server; the context
holds the shared plumbing: engine (clock, RNG streams), store, registry, event
recorder, settings, and the table of subresource handlers the API server routes
``POST …/{subresource}`` to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kitlib.cluster.events import EventRecorder
from kitlib.cluster.settings import ClusterSettings
from kitlib.engine.loop import Engine
from kitlib.model.registry import Registry
from kitlib.store.store import Store

if TYPE_CHECKING:
    from kitlib.cluster.kubelet import KubeletManager

__all__ = ["ClusterContext", "SubresourceHandler"]

#: ``fn(namespace, name, body, query) -> (HTTP status, response body)``.
SubresourceHandler = Callable[[str, str, Any, dict[str, str]], tuple[int, dict[str, Any]]]


@dataclass
class ClusterContext:
    engine: Engine
    store: Store
    registry: Registry
    events: EventRecorder
    settings: ClusterSettings
    subresource_handlers: dict[tuple[str, str], SubresourceHandler] = field(
        default_factory=dict)
    #: The nodes' container runtimes, as node agents other than the kubelet (e.g.
    #: kruise-daemon) reach them through the CRI socket: set by ``KubeletManager``.
    node_runtime: KubeletManager | None = None
    #: The PodUnavailableBudget check workload controllers run themselves before updating
    #: a pod in place (kruise-manager calls it in-process, not through the webhook):
    #: ``check(pod, operation)`` returns to allow and raises ``Forbidden`` to refuse. Set by
    #: the PUB controller.
    pub_check: Callable[[dict[str, Any], str], None] | None = None

    @property
    def now(self) -> float:
        return self.engine.now
