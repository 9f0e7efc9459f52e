"""Helpers for CloneSet tests: a 3-node cluster with exact kubelet timing, manifests, reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.kruise.cloneset.status import is_pod_available
from kitlib.cluster.kruise.kinds import FeatureGates, KruiseSettings
from kitlib.cluster.podutil import condition, is_terminating
from kitlib.cluster.settings import KubeletSettings

Obj = dict[str, Any]
CLONESETS = "clonesets.apps.kruise.io"
CONTAINERS = [{"name": "app", "image": "shop:v1"}, {"name": "ops", "image": "agent:1"},
              {"name": "mesh", "image": "envoy:1"}]


def make_cluster(seed: int = 7, nodes: int = 3, **gates: bool) -> EmbeddedCluster:
    return EmbeddedCluster(ClusterSettings(
        seed=seed, nodes=nodes, kubelet=KubeletSettings(jitter=0),
        kruise=KruiseSettings(gates=FeatureGates(**gates))))


def cloneset(name: str = "web", replicas: int = 5, strategy: Obj | None = None,
             **spec: Any) -> Obj:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [dict(c) for c in CONTAINERS]}},
                     "updateStrategy": {"type": "InPlaceIfPossible"} if strategy is None
                     else strategy, **spec}}


def get(cluster: EmbeddedCluster, name: str = "web") -> Obj:
    return cluster.store.get(CLONESETS, "default", name)


def change(cluster: EmbeddedCluster, fn: Callable[[Obj], None], name: str = "web") -> None:
    cluster.store.modify(CLONESETS, "default", name, fn)
    cluster.settle()


def set_image(cluster: EmbeddedCluster, container: int, image: str, name: str = "web") -> None:
    def edit(cs: Obj) -> None:
        cs["spec"]["template"]["spec"]["containers"][container]["image"] = image
    change(cluster, edit, name)


def pods(cluster: EmbeddedCluster, name: str = "web") -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in cluster.store.select("pods")
            if p["metadata"]["labels"].get("app") == name and not is_terminating(p)}


def unavailable(cluster: EmbeddedCluster, name: str = "web", min_ready: float = 0) -> int:
    return sum(1 for p in pods(cluster, name).values()
               if not is_pod_available(p, min_ready, cluster.now))


def converged(cluster: EmbeddedCluster, name: str = "web") -> bool:
    cs = get(cluster, name)
    s = cs.get("status") or {}
    replicas = cs["spec"]["replicas"]
    return s.get("observedGeneration") == cs["metadata"]["generation"] and \
        s.get("updatedReadyReplicas") == s.get("replicas") == replicas and \
        s.get("currentRevision") == s.get("updateRevision") and \
        len(pods(cluster, name)) == replicas


def advance_until(cluster: EmbeddedCluster, done: Callable[[], bool], limit: float = 600,
                  every_second: Callable[[], None] | None = None) -> float:
    """Advance one second at a time until ``done``; the seconds it took."""
    start = cluster.now
    while not done():
        assert cluster.now - start < limit, f"not done after {limit} s"
        cluster.advance(1)
        if every_second is not None:
            every_second()
    return cluster.now - start


def ready_condition(pod: Obj, type_: str = "Ready") -> str | None:
    cond = condition(pod, type_)
    return None if cond is None else str(cond.get("status"))


def statuses(pod: Obj) -> dict[str, Obj]:
    return {s["name"]: s for s in pod["status"]["containerStatuses"]}
