"""``EmbeddedCluster``: the assembly of engine, store and the cluster's actors.

One object owns one simulated cluster: the engine (clock + seeded RNG), the
registry of served kinds, the store with its garbage collector, the admission
chain and the controllers. Tests and benchmarks drive it in-process; ``kitlib
serve`` puts the API server in front of it. Both give the same history for the
same seed and the same calls.

``settle()`` runs the zero-time work that a write causes (reconciles, garbage
collection) without moving the clock; the API server calls it after every
write, so that in stepped mode a created Deployment has its ReplicaSet before
the next request, just as on a real cluster a moment later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from kitlib.cluster.admission import (
    admit_namespace,
    admit_pod,
    admit_secret,
    admit_workload,
    pod_grace_period,
)
from kitlib.cluster.context import ClusterContext, SubresourceHandler
from kitlib.cluster.disruption import DisruptionController
from kitlib.cluster.endpoints import EndpointsController
from kitlib.cluster.events import EventRecorder
from kitlib.cluster.kruise.cloneset import CloneSetController
from kitlib.cluster.kruise.crr import ContainerRecreateRequestController
from kitlib.cluster.kruise.imagepull import ImagePullController
from kitlib.cluster.kruise.kinds import kruise_kinds
from kitlib.cluster.kruise.pub import PodUnavailableBudgetController
from kitlib.cluster.kruise.sidecarset import SidecarSetController
from kitlib.cluster.kruise.statefulset import AdvancedStatefulSetController
from kitlib.cluster.kubelet import KubeletManager
from kitlib.cluster.namespaces import NamespaceController
from kitlib.cluster.nodelifecycle import NodeLifecycleController
from kitlib.cluster.nodes import add_nodes
from kitlib.cluster.scheduler import Scheduler
from kitlib.cluster.services import ServiceAdmission
from kitlib.cluster.settings import ClusterSettings
from kitlib.cluster.workloads.deployment import DeploymentController
from kitlib.cluster.workloads.replicaset import ReplicaSetController
from kitlib.cluster.workloads.statefulset import StatefulSetController
from kitlib.engine.loop import Engine
from kitlib.model import errors
from kitlib.model.objects import format_time
from kitlib.model.registry import Registry, ResourceType, builtin_registry
from kitlib.store.gc import GarbageCollector
from kitlib.store.store import Store

__all__ = ["ClusterSettings", "EmbeddedCluster"]  # ClusterSettings re-exported

log = logging.getLogger(__name__)

#: Namespaces every cluster starts with.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class EmbeddedCluster:
    def __init__(self, settings: ClusterSettings | None = None, *,
                 registry: Registry | None = None,
                 extra_kinds: Iterable[ResourceType] = ()) -> None:
        self.settings = settings or ClusterSettings()
        self.engine = Engine(seed=self.settings.seed)
        self.registry = registry or builtin_registry()
        if self.settings.kruise.enabled:
            for rt in kruise_kinds():
                self.registry.register(rt)
        for rt in extra_kinds:
            self.registry.register(rt)
        self.store = Store(self.engine, self.registry, self.settings.store)
        self.gc = GarbageCollector(self.store, self.engine)
        self.events = EventRecorder(self.store, self.engine, self.settings.events)
        self._install_admission()
        self.context = ClusterContext(self.engine, self.store, self.registry, self.events,
                                      self.settings)
        #: POST handlers for subresources: (kind key, name) -> fn(ns, name, body, query)
        #: returning (HTTP status, body). Actors register theirs (binding, eviction).
        self.subresource_handlers: dict[tuple[str, str], SubresourceHandler] = \
            self.context.subresource_handlers
        self.subresource_handlers[("pods", "binding")] = self._bind
        self.namespaces = NamespaceController(self.store, self.engine)
        self._install_actors(self.context)
        for name in SYSTEM_NAMESPACES:
            self.store.create("namespaces", {"metadata": {"name": name}})
        if self.settings.nodes:
            add_nodes(self.context, self.settings.nodes)
        self.settle()

    def _install_actors(self, ctx: ClusterContext) -> None:
        """The cluster's components; they talk to each other only through the store."""
        self.scheduler = Scheduler(ctx)
        self.kubelets = KubeletManager(ctx)
        self.node_lifecycle = NodeLifecycleController(ctx)
        self.endpoints = EndpointsController(ctx)
        self.disruption = DisruptionController(ctx)
        self.deployments = DeploymentController(ctx)
        self.replicasets = ReplicaSetController(ctx)
        self.statefulsets = StatefulSetController(ctx)
        if ctx.settings.kruise.enabled:
            self._install_kruise(ctx)

    def _install_kruise(self, ctx: ClusterContext) -> None:
        """OpenKruise's controllers and webhooks (``ClusterSettings.kruise``)."""
        self.clonesets = CloneSetController(ctx)
        self.sidecarsets = SidecarSetController(ctx)
        self.pubs = PodUnavailableBudgetController(ctx)
        self.image_pulls = ImagePullController(ctx)
        self.container_recreates = ContainerRecreateRequestController(ctx)
        self.advanced_statefulsets = AdvancedStatefulSetController(ctx)

    def _install_admission(self) -> None:
        self.store.add_admission("namespaces", admit_namespace)
        self.store.add_admission("pods", admit_pod)
        self.store.set_deletion_policy("pods", pod_grace_period)
        self.store.add_admission("secrets", admit_secret)
        self.store.add_admission("services", ServiceAdmission(
            self.store, self.engine.rng_for("services.allocation")))
        for key in ("deployments.apps", "replicasets.apps", "statefulsets.apps",
                    "daemonsets.apps"):
            self.store.add_admission(key, admit_workload)

    # -- time ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.engine.now

    def settle(self) -> int:
        """Run all work due at the current instant; returns the number of events run."""
        ran = self.engine.run_due(max_events=self.settings.settle_limit)
        if ran >= self.settings.settle_limit:
            log.warning("settle stopped after %d zero-time events: a controller may be "
                        "fighting another one", ran)
        return ran

    def advance(self, seconds: float, *, on_chunk: Callable[[], Any] | None = None,
                chunk: int = 50_000) -> int:
        """Advance simulated time by ``seconds``, running every event due until then."""
        target = self.engine.now + seconds
        total = 0
        while True:
            ran = self.engine.run(target, max_events=chunk)
            total += ran
            if ran < chunk:
                return total
            if on_chunk is not None:
                on_chunk()

    def _bind(self, namespace: str, name: str, body: Any,
              query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``pods/binding``: what the scheduler posts to place a pod on a node."""
        target = (body or {}).get("target") or {} if isinstance(body, dict) else {}
        node = target.get("name")
        if not node or target.get("kind", "Node") != "Node":
            raise errors.BadRequest("a Binding needs target.kind Node and target.name")
        pod = self.store.get("pods", namespace, name)
        if pod["spec"].get("nodeName"):
            raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": pod '
                                  f'{name} is already assigned to node "{pod["spec"]["nodeName"]}"')
        self.store.modify("pods", namespace, name, lambda p: _bound(p, node, self.now),
                          subresource="*", admit=False)
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "code": 201}

    # -- convenience for in-process use ---------------------------------------------------

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create an object from a manifest dict (apiVersion/kind pick the kind)."""
        rt = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise LookupError(f"no kind {obj.get('kind')!r} in {obj.get('apiVersion')!r}")
        created = self.store.create(rt.key, obj)
        self.settle()
        return created


def _bound(pod: dict[str, Any], node: str, now: float) -> None:
    pod["spec"]["nodeName"] = node
    conditions = [c for c in pod.setdefault("status", {}).get("conditions", [])
                  if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": format_time(now)})
    pod["status"]["conditions"] = conditions
