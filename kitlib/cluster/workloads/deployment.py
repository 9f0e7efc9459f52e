"""DeploymentController: a Deployment rolls its pods through ReplicaSets.

The controller of ``pkg/controller/deployment``, reconciled by key (level-based:
every reconcile reads the Deployment and its ReplicaSets from the store):

1. claim the ReplicaSets the selector matches (adopt orphans, release strays);
2. paused, or only ``spec.replicas`` changed → resize proportionally (``plan_scale``);
3. otherwise roll: find or create the new ReplicaSet ``<name>-<pod-template-hash>``
   (revision annotations synced), then one step of ``plan_rolling`` or
   ``plan_recreate``; once complete, delete ReplicaSets beyond
   ``revisionHistoryLimit``;
4. write ``status`` (and the revision annotation) as upstream does, and come
   back when the progress deadline would pass.

The arithmetic lives in ``deployment_plan`` and ``deployment_status`` (pure),
one reconcile's reads and writes in ``deployment_sync``; this module routes events. Its runner has a lower
priority than the ReplicaSet controller's, so at any instant ReplicaSets have
acted on (and reported) their new sizes before the Deployment looks again —
the surge and availability bounds then hold pod by pod, not just on paper.
"""

from __future__ import annotations

from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.podutil import controller_of
from kitlib.cluster.workloads.deployment_sync import DEPLOYMENTS, REPLICASETS, DeploymentSync
from kitlib.engine.loop import Priority
from kitlib.engine.runner import Result, Runner
from kitlib.model.objects import meta_of, name_of, namespace_of
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["DeploymentController"]

Obj = dict[str, Any]
Key = tuple[str, str]


class DeploymentController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[Key] = Runner(ctx.engine, "deployment", self.reconcile,
                                          priority=Priority.CONTROLLER + 1)
        ctx.store.subscribe(DEPLOYMENTS, self._on_deployment)
        ctx.store.subscribe(REPLICASETS, self._on_replicaset)
        ctx.store.subscribe("pods", self._on_pod)

    def reconcile(self, key: Key) -> Result | None:
        deployment = self.ctx.store.peek(DEPLOYMENTS, *key)
        if deployment is None:
            return None
        return DeploymentSync(self.ctx, deployment).run()

    # -- event routing ------------------------------------------------------------------

    def _on_deployment(self, event: WatchEvent) -> None:
        self.runner.enqueue((namespace_of(event.obj), name_of(event.obj)))

    def _on_replicaset(self, event: WatchEvent) -> None:
        obj, prev = event.obj, event.prev
        refs = [controller_of(o) for o in (prev, obj) if o is not None]
        for ref in refs:
            if ref is not None and ref.get("kind") == "Deployment":
                self.runner.enqueue((namespace_of(obj), ref["name"]))
        orphaned = controller_of(obj) is None and event.type != "DELETED"
        relabelled = prev is None or meta_of(prev).get("labels") != meta_of(obj).get("labels")
        if orphaned and (relabelled or any(r is not None for r in refs)):
            self._enqueue_matching(obj)

    def _enqueue_matching(self, rs: Obj) -> None:
        """An orphan ReplicaSet: every Deployment of its namespace that may adopt it."""
        labels = meta_of(rs).get("labels")
        for d in sorted(self.ctx.store.iter_objects(DEPLOYMENTS, namespace_of(rs)), key=name_of):
            selector = LabelSelector.from_object((d.get("spec") or {}).get("selector"))
            if selector.matches(labels):
                self.runner.enqueue((namespace_of(d), name_of(d)))

    def _on_pod(self, event: WatchEvent) -> None:
        """Recreate waits for old pods to be gone: their removal must wake it up."""
        if event.type != "DELETED":
            return
        ref = controller_of(event.obj)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.ctx.store.peek(REPLICASETS, namespace_of(event.obj), ref["name"])
        owner = controller_of(rs) if rs is not None else None
        if owner is None or owner.get("kind") != "Deployment":
            return
        deployment = self.ctx.store.peek(DEPLOYMENTS, namespace_of(event.obj), owner["name"])
        if deployment is not None and ((deployment.get("spec") or {}).get("strategy") or {}) \
                .get("type") == "Recreate":
            self.runner.enqueue((namespace_of(deployment), owner["name"]))
