"""The node half of one simulated kubelet: heartbeats, node status, images, pod IPs.

Per node (``NodeAgent``), from the moment its Node object appears:

* **Lease** ``kube-node-lease/<node>`` (owned by the Node, so it goes with it):
  ``holderIdentity``, ``leaseDurationSeconds`` (40) and ``renewTime`` (MicroTime),
  renewed every ``node_status_update_frequency`` (10 s) by **one timer per node**.
* **Node status**, on the same tick but only **posted when it changed or every
  ``node_status_report_frequency``** (5 min), as with ``nodeStatusReportFrequency``:
  the conditions ``MemoryPressure``, ``DiskPressure``, ``PIDPressure`` and ``Ready``
  with upstream's reasons and messages (``lastHeartbeatTime`` bumped on every post,
  ``lastTransitionTime`` only on a flip; other condition types are left alone), and
  ``status.images`` from the node's image store. Flips are also recorded as events
  (``NodeReady``, ``NodeHasSufficientMemory``…), as the kubelet does.
* The **image store and puller** (``puller.py``) and the **pod IP range**
  (``ips.py``) the node's pods use (``NodeServices`` for ``Env``).

Faults come from the node's annotations (``behaviour.node_faults``). ``down`` stops
everything here — no Lease renewal, no status — until the annotation goes; the
pods' side of "down" and "back" is the manager's (``KubeletManager``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kubelet.behaviour import node_faults
from kitlib.cluster.kubelet.images import ImageCatalog, ImageInfo, parse_reference
from kitlib.cluster.kubelet.ips import PodIPAllocator, fallback_cidr
from kitlib.cluster.kubelet.puller import ImagePuller, NodeImages, PullOutcome
from kitlib.engine.loop import Priority, Timer
from kitlib.model import errors
from kitlib.model.objects import DEFAULT_EPOCH, format_time

__all__ = ["LEASES", "LEASE_NAMESPACE", "NodeAgent", "micro_time"]

LEASES = "leases.coordination.k8s.io"
LEASE_NAMESPACE = "kube-node-lease"

#: (type, healthy status, healthy reason, healthy message, faulty reason, faulty message)
_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available", "KubeletHasInsufficientMemory",
     "kubelet has insufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
     "KubeletHasDiskPressure", "kubelet has disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available",
     "KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status", "KubeletNotReady",
     "container runtime network not ready: NetworkReady=false "
     "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not "
     "initialized"),
)
#: Event reasons for a condition's status (``recordNodeStatusEvent``).
_EVENTS = {("MemoryPressure", "False"): "NodeHasSufficientMemory",
           ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
           ("DiskPressure", "False"): "NodeHasNoDiskPressure",
           ("DiskPressure", "True"): "NodeHasDiskPressure",
           ("PIDPressure", "False"): "NodeHasSufficientPID",
           ("PIDPressure", "True"): "NodeHasInsufficientPID",
           ("Ready", "True"): "NodeReady", ("Ready", "False"): "NodeNotReady"}

Cond = tuple[str, str, str, str]


def micro_time(seconds: float) -> str:
    """``metav1.MicroTime`` (RFC 3339 with microseconds), as Lease ``renewTime`` is written."""
    return (DEFAULT_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeAgent:
    def __init__(self, ctx: ClusterContext, node: dict[str, Any], *, catalog: ImageCatalog,
                 cidr_index: int, rng: random.Random,
                 on_pull_done: Callable[[Hashable, PullOutcome, float], None]) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.kubelet
        self.name: str = node["metadata"]["name"]
        self.uid: str = node["metadata"]["uid"]
        self.faults = node_faults(node["metadata"].get("annotations"))
        self.images = NodeImages()
        self._preload(node, catalog)
        self.puller = ImagePuller(ctx.engine, self.images, bandwidth=self._bandwidth,
                                  failure_seconds=self.settings.image_pull_failure_seconds,
                                  jitter=self.settings.jitter, rng=rng, on_done=on_pull_done,
                                  label=f"image-pull/{self.name}")
        spec = node.get("spec") or {}
        self.ips = PodIPAllocator(spec.get("podCIDR") or fallback_cidr(cidr_index))
        self._host_ip = _internal_ip(node)
        #: Keys of the pods this kubelet keeps a runtime for.
        self.pods: set[tuple[str, str]] = set()
        self.down_since: float | None = None
        #: When the node last went down (set when it comes back).
        self.last_down: float | None = None
        self._timer: Timer | None = None
        self._last_report = -float("inf")
        self._posted_images = -1

    # -- NodeServices -------------------------------------------------------------------

    @property
    def host_ip(self) -> str | None:
        return self._host_ip

    def image_present(self, info: ImageInfo) -> bool:
        return self.images.present(info)

    def request_pull(self, info: ImageInfo, waiter: Hashable) -> None:
        self.puller.request(info, waiter)

    def cancel_pull(self, waiter: Hashable) -> None:
        self.puller.cancel(waiter)

    def allocate_ip(self) -> str | None:
        return self.ips.allocate()

    def release_ip(self, ip: str) -> None:
        self.ips.release(ip)

    # -- life ---------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def start(self, *, resume: bool = False) -> None:
        """Start heartbeats: at once for a new node; with ``resume`` (a node a kubelet
        reported on before this one, after a restart) at the next settle, so that
        rebuilding a cluster writes nothing by itself."""
        if self.faults.down:
            self.down_since = self.ctx.now
        elif resume:
            self._timer = self.ctx.engine.call_soon(lambda: self._heartbeat(force=True),
                                                    priority=Priority.ACTOR,
                                                    label="kubelet-heartbeat")
        else:
            self._heartbeat(force=True)

    def stop(self) -> None:
        """The node is gone: stop every timer and pull."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self.puller.reset()

    def update(self, node: dict[str, Any]) -> str | None:
        """Take the node's current faults; returns "down", "back", or None."""
        self._host_ip = _internal_ip(node) or self._host_ip
        faults = node_faults(node["metadata"].get("annotations"))
        if faults == self.faults:
            return None
        before, self.faults = self.faults, faults
        if faults.down and not before.down:
            self.stop()
            self.down_since = self.ctx.now
            return "down"
        if before.down and not faults.down:
            self.last_down, self.down_since = self.down_since, None
            self._heartbeat(force=True)
            return "back"
        if not faults.down:
            self._post_status(force=True)
        return None

    def _bandwidth(self) -> float:
        return self.faults.pull_bandwidth or self.settings.image_pull_bandwidth

    def _preload(self, node: dict[str, Any], catalog: ImageCatalog) -> None:
        """Images the Node object says are already on the node."""
        for entry in (node.get("status") or {}).get("images") or ():
            names = [n for n in entry.get("names") or () if "@" not in n]
            info = catalog.resolve(names[0]) if names and parse_reference(names[0]) else None
            if info is not None:
                self.images.add(info)

    # -- heartbeats ---------------------------------------------------------------------

    def _heartbeat(self, force: bool = False) -> None:
        self._timer = None
        if self.down:
            return
        self._renew_lease()
        self._post_status(force=force)
        self._timer = self.ctx.engine.call_later(
            self.settings.node_status_update_frequency, self._heartbeat,
            priority=Priority.ACTOR, label="kubelet-heartbeat")

    def _renew_lease(self) -> None:
        store, now = self.ctx.store, micro_time(self.ctx.now)
        if store.peek(LEASES, LEASE_NAMESPACE, self.name) is None:
            store.create(LEASES, self._lease(now))
            return

        def renew(lease: dict[str, Any]) -> None:
            lease.setdefault("spec", {}).update(
                holderIdentity=self.name,
                leaseDurationSeconds=self.settings.lease_duration_seconds, renewTime=now)
        store.modify(LEASES, LEASE_NAMESPACE, self.name, renew)

    def _lease(self, now: str) -> dict[str, Any]:
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE,
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                                  "name": self.name, "uid": self.uid}]},
                "spec": {"holderIdentity": self.name,
                         "leaseDurationSeconds": self.settings.lease_duration_seconds,
                         "renewTime": now}}

    def desired_conditions(self) -> list[Cond]:
        flags = {"MemoryPressure": self.faults.memory_pressure,
                 "DiskPressure": self.faults.disk_pressure,
                 "PIDPressure": self.faults.pid_pressure, "Ready": self.faults.not_ready}
        out = []
        for type_, good, reason, message, bad_reason, bad_message in _CONDITIONS:
            if flags[type_]:
                out.append((type_, "True" if good == "False" else "False", bad_reason,
                            bad_message))
            else:
                out.append((type_, good, reason, message))
        return out

    def _post_status(self, *, force: bool) -> None:
        node = self.ctx.store.peek("nodes", "", self.name)
        if node is None:
            return
        wanted = self.desired_conditions()
        current = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or ()}
        flipped = [c for c in wanted if (current.get(c[0]) or {}).get("status") != c[1]]
        due = self.ctx.now - self._last_report >= self.settings.node_status_report_frequency
        if not (force or flipped or due or self.images.version != self._posted_images):
            return
        version = self.images.version
        try:
            self.ctx.store.modify("nodes", "", self.name,
                                  lambda n: self._apply(n, wanted), subresource="status")
        except errors.NotFound:
            return
        self._last_report, self._posted_images = self.ctx.now, version
        for type_, status, _, _ in flipped:
            reason = _EVENTS[(type_, status)]
            self.ctx.events.record(node, "Normal", reason,
                                   f"Node {self.name} status is now: {reason}",
                                   component="kubelet", host=self.name)

    def _apply(self, node: dict[str, Any], wanted: list[Cond]) -> None:
        status = node.setdefault("status", {})
        now = format_time(self.ctx.now)
        by_type = {c[0]: c for c in wanted}
        merged = []
        for cond in status.get("conditions") or ():
            mine = by_type.pop(cond.get("type"), None)
            merged.append(cond if mine is None else _node_condition(cond, mine, now))
        merged += [_node_condition(None, c, now) for c in wanted if c[0] in by_type]
        status["conditions"] = merged
        images = self.images.status_images()
        if images:
            status["images"] = images
        else:
            status.pop("images", None)


def _node_condition(old: dict[str, Any] | None, cond: Cond, now: str) -> dict[str, Any]:
    type_, status, reason, message = cond
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    return {"type": type_, "status": status, "lastHeartbeatTime": now,
            "lastTransitionTime": since or now, "reason": reason, "message": message}


def _internal_ip(node: dict[str, Any]) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None
