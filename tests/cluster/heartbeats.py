"""Stand-in node heartbeats for the scheduler and node lifecycle tests.

``Heartbeats(cluster, names)`` does for each node what a kubelet's status loop does:
posts ``Ready=True`` (with the three pressure conditions ``False``) and renews the
node's Lease in ``kube-node-lease`` every 10 simulated seconds. ``stop(name)`` makes
the node go silent (and marks it ``sim.kitlib.io/down``, so that a simulated kubelet
of the cluster falls silent too); ``start(name)`` brings it back. Writes go straight
to the store, the way a kubelet would write them through the API.
"""

from __future__ import annotations

from typing import Any

from kitlib.cluster import EmbeddedCluster
from kitlib.engine.loop import Priority
from kitlib.model.objects import format_time

LEASES = "leases.coordination.k8s.io"
DOWN = "sim.kitlib.io/down"
_HEALTHY = (("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID",
             "kubelet has sufficient PID available"))


class Heartbeats:
    def __init__(self, cluster: EmbeddedCluster, names: list[str] | None = None, *,
                 interval: float = 10.0) -> None:
        self.cluster = cluster
        self.interval = interval
        self._live: dict[str, int] = {}  # name → generation of its renewal chain
        self._generation = 0
        for name in names if names is not None else [
                n["metadata"]["name"] for n in cluster.store.select("nodes")]:
            self.start(name)
        cluster.settle()

    def start(self, name: str) -> None:
        if name in self._live:
            return
        self._generation += 1
        self._live[name] = self._generation
        self._annotate(name, None)
        self.post_status(name)
        self._renew(name, self._generation)

    def stop(self, name: str) -> None:
        self._live.pop(name, None)
        self._annotate(name, "true")

    def post_status(self, name: str, ready: str = "True") -> None:
        """Post the node's conditions with a fresh ``lastHeartbeatTime``."""
        now = self.cluster.now
        stamp = format_time(now)

        def change(node: dict[str, Any]) -> None:
            old = {c["type"]: c for c in node.setdefault("status", {}).get("conditions") or ()}
            conditions = []
            for type_, status, reason, message in _HEALTHY:
                if type_ == "Ready" and ready != "True":
                    status, reason, message = ready, "KubeletNotReady", "kubelet is not ready"
                previous = old.get(type_, {})
                since = previous.get("lastTransitionTime") \
                    if previous.get("status") == status else stamp
                conditions.append({"type": type_, "status": status, "reason": reason,
                                   "message": message, "lastHeartbeatTime": stamp,
                                   "lastTransitionTime": since})
            node["status"]["conditions"] = conditions

        self.cluster.store.modify("nodes", "", name, change, subresource="status")

    def _annotate(self, name: str, value: str | None) -> None:
        def change(node: dict[str, Any]) -> None:
            annotations = node["metadata"].setdefault("annotations", {})
            if value is None:
                annotations.pop(DOWN, None)
            else:
                annotations[DOWN] = value

        self.cluster.store.modify("nodes", "", name, change)

    def _renew(self, name: str, generation: int) -> None:
        if self._live.get(name) != generation:
            return
        store, now = self.cluster.store, self.cluster.now
        renew = format_time(now).replace("Z", ".000000Z")  # a MicroTime
        if store.peek(LEASES, "kube-node-lease", name) is None:
            store.create(LEASES, {"metadata": {"name": name, "namespace": "kube-node-lease"},
                                  "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                           "renewTime": renew}})
        else:
            store.modify(LEASES, "kube-node-lease", name,
                         lambda lease: lease["spec"].__setitem__("renewTime", renew))
        self.cluster.engine.call_later(self.interval, lambda: self._renew(name, generation),
                                       priority=Priority.ACTOR, label="test heartbeat")
