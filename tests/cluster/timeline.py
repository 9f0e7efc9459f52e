"""Record what happened to a pod, in simulated time, for scenario tests.

``Timeline(cluster, "web")`` keeps every version of the pod that was written (from the
store's watch feed) with the simulated time it was written at; its methods give the
moments a field changed: ``phases()``, ``ready()``, ``container("app")`` (state, reason
and restart count), so a test can assert a whole timeline as one list of tuples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kitlib.cluster import ClusterSettings, EmbeddedCluster, KubeletSettings
from kitlib.cluster.nodes import make_node
from kitlib.store.watch import WatchEvent

Obj = dict[str, Any]


def kubelet_cluster(seed: int = 1, nodes: int = 1, **kubelet: Any) -> EmbeddedCluster:
    """A cluster with ``nodes`` nodes (``n1``, ``n2``…) and no kubelet jitter."""
    cluster = EmbeddedCluster(ClusterSettings(
        seed=seed, kubelet=KubeletSettings(**{"jitter": 0.0, **kubelet})))
    for i in range(nodes):
        cluster.store.create("nodes", make_node(f"n{i + 1}", index=i))
    cluster.settle()
    return cluster


def bound_pod(name: str, containers: list[Obj], *, node: str = "n1",
              annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    """A pod already bound to ``node`` (as the scheduler would leave it)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": annotations or {}},
            "spec": {"nodeName": node, "containers": containers, **spec}}


def image(name: str, ref: str, **spec: Any) -> Obj:
    return {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image",
            "metadata": {"name": name}, "spec": {"image": ref, **spec}}


class Timeline:
    def __init__(self, cluster: EmbeddedCluster, name: str, namespace: str = "default") -> None:
        self.cluster = cluster
        self.key = (namespace, name)
        self.versions: list[tuple[float, str, Obj]] = []
        #: (time, reason, message) of every event the kubelet recorded about the pod.
        self.events: list[tuple[float, str, str]] = []
        cluster.store.subscribe("pods", self._on_pod)
        cluster.store.subscribe("events", self._on_event)

    def _on_pod(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        if (meta.get("namespace"), meta["name"]) == self.key:
            self.versions.append((self.cluster.now, event.type, event.obj))

    def _on_event(self, event: WatchEvent) -> None:
        ev, involved = event.obj, event.obj["involvedObject"]
        repeated = event.prev is not None and ev["count"] > event.prev["count"]
        if (involved.get("namespace"), involved["name"]) == self.key and \
                ev["source"]["component"] == "kubelet" and (event.type == "ADDED" or repeated):
            self.events.append((self.cluster.now, ev["reason"], ev["message"]))

    def changes(self, read: Callable[[Obj], Any]) -> list[tuple[float, Any]]:
        """(time, value) whenever ``read(pod)`` changed (None values are skipped)."""
        out: list[tuple[float, Any]] = []
        for when, _, obj in self.versions:
            value = read(obj)
            if value is not None and (not out or out[-1][1] != value):
                out.append((when, value))
        return out

    def phases(self) -> list[tuple[float, Any]]:
        return self.changes(lambda p: (p.get("status") or {}).get("phase"))

    def ready(self) -> list[tuple[float, Any]]:
        return self.changes(lambda p: condition(p, "Ready"))

    def container(self, name: str) -> list[tuple[float, Any]]:
        """(time, (state, reason, restartCount)) whenever one of them changed."""
        def read(pod: Obj) -> Any:
            status = container_status(pod, name)
            if status is None:
                return None
            [(state, detail)] = status["state"].items()
            return state, detail.get("reason"), status["restartCount"]
        return self.changes(read)

    def deleted_at(self) -> float | None:
        return next((when for when, kind, _ in self.versions if kind == "DELETED"), None)

    def last(self) -> Obj:
        return self.versions[-1][2]


def condition(pod: Obj, type_: str, field: str = "status") -> str | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond["type"] == type_:
            return cond.get(field)  # type: ignore[no-any-return]
    return None


def container_status(pod: Obj, name: str) -> Obj | None:
    status = pod.get("status") or {}
    for entry in (*status.get("initContainerStatuses", ()), *status.get("containerStatuses", ())):
        if entry["name"] == name:
            return dict(entry)
    return None

