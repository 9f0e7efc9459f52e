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

Restart, level-based
--------------------
A cluster can be rebuilt from its stored objects (``from_state``, a
``ClusterState`` from ``capture_state`` or a durable store) and one actor can be
crashed and rebuilt while the cluster runs (``restart_actor``). Both rely on the
same contract, which every actor keeps:

* An actor is built by ``_spawn`` under its own engine **owner**: every timer it
  schedules (reconcile runner, work queue, kubelet pod timers, heartbeats) and
  every store subscription it registers runs under that owner, so a crash is
  ``engine.cancel_owned(owner)`` + removing its subscriptions, admission and
  delete admission (``Store.replace_extensions``): nothing of the old instance
  runs again.
* A new instance **catches up level-based**: its optional ``resync()`` runs first
  (the kubelet marks the pods to adopt from their status; the event recorder takes
  the stored Events), then each of its subscriptions is sent a synthetic
  ``ADDED`` event per stored object of the kind — the informer's initial list — in
  a fixed order (namespaces, nodes, then the other kinds by key; objects by
  namespace/name). After ``from_state`` every subscriber and store hook (the
  garbage collector) gets them.
* Catching up writes nothing by itself: the work it queues runs at the next
  ``settle()``/``advance()``, so capturing a state right after loading it gives
  the same objects back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

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
from kitlib.cluster.state import ClusterState
from kitlib.cluster.workloads.deployment import DeploymentController
from kitlib.cluster.workloads.replicaset import ReplicaSetController
from kitlib.cluster.workloads.statefulset import StatefulSetController
from kitlib.engine.loop import Engine
from kitlib.model import errors
from kitlib.model.objects import format_time
from kitlib.model.registry import Registry, ResourceType, builtin_registry
from kitlib.store.gc import GarbageCollector
from kitlib.store.store import Extension, Store
from kitlib.store.watch import WatchEvent

__all__ = ["ClusterSettings", "EmbeddedCluster"]  # ClusterSettings re-exported

log = logging.getLogger(__name__)

#: Namespaces every cluster starts with.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: Kinds whose catch-up events go first (then every other kind, by key).
_CATCH_UP_FIRST = ("namespaces", "nodes")

A = TypeVar("A")
Subscriber = Callable[[WatchEvent], None]


@dataclass
class _Actor:
    """One running actor: how to build it again, and what it registered."""

    name: str
    attribute: str
    factory: Callable[[ClusterContext], Any]
    owner: object
    instance: Any
    extensions: list[Extension]


class EmbeddedCluster:
    def __init__(self, settings: ClusterSettings | None = None, *,
                 registry: Registry | None = None,
                 extra_kinds: Iterable[ResourceType] = ()) -> None:
        self._assemble(settings, registry, extra_kinds)
        for name in SYSTEM_NAMESPACES:
            self.store.create("namespaces", {"metadata": {"name": name}})
        if self.settings.nodes:
            add_nodes(self.context, self.settings.nodes)
        self.settle()

    def _assemble(self, settings: ClusterSettings | None, registry: Registry | None,
                  extra_kinds: Iterable[ResourceType], *, start: float = 0.0,
                  rng_states: dict[str, Any] | None = None) -> None:
        """Engine, registry, store, admission and actors, over an empty store."""
        self.settings = settings or ClusterSettings()
        self.engine = Engine(seed=self.settings.seed, start=start)
        if rng_states:
            self.engine.restore_rng_states(rng_states)
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
        #: The running actors by name (``restart_actor``), in the order they were built.
        self.actors: dict[str, _Actor] = {}
        self.namespaces = self._spawn("namespaces", "namespaces",
                                      lambda ctx: NamespaceController(ctx.store, ctx.engine))
        self._install_actors(self.context)

    def _install_actors(self, ctx: ClusterContext) -> None:
        """The cluster's components; they talk to each other only through the store."""
        self.scheduler = self._spawn("scheduler", "scheduler", Scheduler)
        self.kubelets = self._spawn("kubelet", "kubelets", KubeletManager)
        self.node_lifecycle = self._spawn("node-lifecycle", "node_lifecycle",
                                          NodeLifecycleController)
        self.endpoints = self._spawn("endpoints", "endpoints", EndpointsController)
        self.disruption = self._spawn("disruption", "disruption", DisruptionController)
        self.deployments = self._spawn("deployment", "deployments", DeploymentController)
        self.replicasets = self._spawn("replicaset", "replicasets", ReplicaSetController)
        self.statefulsets = self._spawn("statefulset", "statefulsets", StatefulSetController)
        if ctx.settings.kruise.enabled:
            self._install_kruise(ctx)

    def _install_kruise(self, ctx: ClusterContext) -> None:
        """OpenKruise's controllers and webhooks (``ClusterSettings.kruise``)."""
        self.clonesets = self._spawn("cloneset", "clonesets", CloneSetController)
        self.sidecarsets = self._spawn("sidecarset", "sidecarsets", SidecarSetController)
        self.pubs = self._spawn("pub", "pubs", PodUnavailableBudgetController)
        self.image_pulls = self._spawn("imagepull", "image_pulls", ImagePullController)
        self.container_recreates = self._spawn("containerrecreaterequest",
                                               "container_recreates",
                                               ContainerRecreateRequestController)
        self.advanced_statefulsets = self._spawn("advanced-statefulset",
                                                 "advanced_statefulsets",
                                                 AdvancedStatefulSetController)

    # -- actors: build, crash, catch up ---------------------------------------------------

    def _spawn(self, name: str, attribute: str, factory: Callable[[ClusterContext], A]) -> A:
        """Build an actor under its own engine owner and record what it registered; its
        subscriptions run under that owner (see the module docstring)."""
        owner = object()
        before = _counts(self.store.extensions())
        with self.engine.owned_by(owner):
            instance = factory(self.context)
        added = _added(self.store.extensions(), before)
        subscriptions = [ext for ext in added if ext[0] == "subscribers"]
        owned: list[Extension] = []
        for _table, key, fn in subscriptions:
            wrapped = _owned(self.engine, owner, fn)
            self.store.subscribe(key, wrapped)
            owned.append(("subscribers", key, wrapped))
        self.store.replace_extensions(subscriptions, owned)
        extensions = [ext for ext in added if ext[0] != "subscribers"] + owned
        self.actors[name] = _Actor(name, attribute, factory, owner, instance, extensions)
        return instance

    def restart_actor(self, name: str) -> Any:
        """Crash one actor and start a new instance of it, which catches up level-based.

        The crash loses everything the actor held in memory: its queues, expectations,
        caches and pending timers (``engine.cancel_owned``); its subscriptions and
        webhooks are removed (the new instance's take their places in the admission
        chain). The new instance then sees the world as an informer's initial list
        would show it. Runs at the current simulated instant, also from inside an
        engine event; returns the new instance. Names: ``actors`` (``"scheduler"``,
        ``"kubelet"``, ``"cloneset"``, ``"pub"``, ``"disruption"``...).
        """
        old = self.actors.get(name)
        if old is None:
            raise KeyError(f"no actor {name!r}: choose one of {', '.join(self.actors)}")
        self.engine.cancel_owned(old.owner)
        instance = self._spawn(name, old.attribute, old.factory)
        new = self.actors[name]
        self.store.replace_extensions(old.extensions, new.extensions)
        setattr(self, old.attribute, instance)
        self._catch_up([new], hooks=False)
        return instance

    def _catch_up(self, actors: list[_Actor], *, hooks: bool) -> None:
        """``resync()`` each actor, then send its subscriptions (and, with ``hooks``, the
        store's hooks) a synthetic ADDED event per stored object."""
        subscribers: dict[str, list[Subscriber]] = {}
        for actor in actors:
            resync = getattr(actor.instance, "resync", None)
            if callable(resync):
                with self.engine.owned_by(actor.owner):
                    resync()
            for table, key, fn in actor.extensions:
                if table == "subscribers":
                    subscribers.setdefault(key, []).append(fn)
        keys = [k for k in _CATCH_UP_FIRST if k in self.registry]
        keys += sorted(rt.key for rt in self.registry if rt.key not in _CATCH_UP_FIRST)
        for key in keys:
            fns = subscribers.get(key, []) + (list(self.store.hooks) if hooks else [])
            if not fns:
                continue
            for obj in self.store.select(key):
                event = WatchEvent(int(obj["metadata"]["resourceVersion"]), "ADDED", key, obj,
                                   None)
                for fn in fns:
                    fn(event)

    # -- state: capture, rebuild ----------------------------------------------------------

    @classmethod
    def from_state(cls, state: ClusterState, settings: ClusterSettings | None = None, *,
                   registry: Registry | None = None,
                   extra_kinds: Iterable[ResourceType] = ()) -> EmbeddedCluster:
        """A running cluster rebuilt from stored objects (``ClusterState``): the clock,
        RV counter and RNG streams continue where they were; every actor catches up
        level-based (kubelets adopt their pods: running containers keep running).

        ``settings`` must be those the state was captured with (a snapshot file holds
        both). The cluster takes ownership of the state's objects (do not load one
        ``ClusterState`` twice; capture it again). Nothing runs until the next
        ``settle()``/``advance()``. ``store.digest`` covers the writes after the load.
        """
        cluster = cls.__new__(cls)
        cluster._assemble(settings, registry, extra_kinds, start=state.now,
                          rng_states=state.rng_states)
        cluster.store.load(state.objects, resource_version=state.resource_version,
                           history=state.history)
        cluster.events.resync()
        cluster._catch_up(list(cluster.actors.values()), hooks=True)
        return cluster

    def capture_state(self, *, history: int = 0) -> ClusterState:
        """The stored objects and counters (``ClusterState``), as private copies, with the
        last ``history`` watch events (0: none, so watches from an older RV get 410 after a
        rebuild). Pending timers are not part of it: a rebuilt cluster derives them again."""
        objects: list[tuple[str, dict[str, Any]]] = []
        for key in sorted(rt.key for rt in self.registry):
            objects += [(key, orjson.loads(raw))
                        for raw in self.store.raw_many(key, self.store.select(key))]
        events = self.store.history.since(self.store.resource_version - history) \
            if history > 0 else []
        return ClusterState(
            objects=objects, resource_version=self.store.resource_version, now=self.engine.now,
            rng_states=self.engine.rng_states(),
            history=[(e.rv, e.type, e.rt_key, orjson.loads(e.raw)) for e in events])

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


def _owned(engine: Engine, owner: object, fn: Subscriber) -> Subscriber:
    """``fn`` running under ``owner`` (the timers it schedules are the actor's)."""
    def run(event: WatchEvent) -> None:
        before, engine.owner = engine.owner, owner
        try:
            fn(event)
        finally:
            engine.owner = before
    return run


def _counts(extensions: list[Extension]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for table, key, _fn in extensions:
        counts[(table, key)] = counts.get((table, key), 0) + 1
    return counts


def _added(extensions: list[Extension], before: dict[tuple[str, str], int]) -> list[Extension]:
    """The extensions registered since ``before`` was counted (they are appended, and the
    same function may be registered twice, e.g. a webhook by two instances of an actor)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for ext in extensions:
        index = seen[ext[:2]] = seen.get(ext[:2], 0) + 1
        if index > before.get(ext[:2], 0):
            out.append(ext)
    return out
