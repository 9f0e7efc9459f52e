"""``Env``: everything a lifecycle stage may look at or act on during one pod sync.

A stage sees the stored pod (read-only), the kubelet's ``PodRuntime`` for it, the
settings, the node it runs on (through the small ``NodeServices`` protocol: image
store, puller, IP range), the image catalog and the seeded random streams; what it
does to the world outside the runtime record goes through here too (events are
collected and recorded after the sync, pulls are requested from the node). Tests
build an ``Env`` around a fake node to run one stage on given input objects.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from kitlib.cluster.kubelet.backoff import BackoffPolicy
from kitlib.cluster.kubelet.behaviour import Behaviour, resolve_behaviour
from kitlib.cluster.kubelet.containers import ContainerRuntime
from kitlib.cluster.kubelet.images import ImageCatalog, ImageInfo
from kitlib.cluster.kubelet.pods import PodRuntime
from kitlib.cluster.settings import KubeletSettings

__all__ = ["Env", "NodeServices", "pod_ref"]


class NodeServices(Protocol):
    """What a pod sync needs from the node it runs on."""

    name: str

    @property
    def host_ip(self) -> str | None: ...

    def image_present(self, info: ImageInfo) -> bool: ...

    def request_pull(self, info: ImageInfo, waiter: Hashable) -> None: ...

    def cancel_pull(self, waiter: Hashable) -> None: ...

    def allocate_ip(self) -> str | None: ...

    def release_ip(self, ip: str) -> None: ...


@dataclass
class Env:
    now: float
    pod: dict[str, Any]
    runtime: PodRuntime
    settings: KubeletSettings
    node: NodeServices
    catalog: ImageCatalog
    jitter_rng: random.Random
    ids: random.Random
    #: (type, reason, message) of the events this sync caused, in order.
    events: list[tuple[str, str, str]] = field(default_factory=list)
    #: (stage, container) of every stage fired in this sync, in order.
    trace: list[tuple[str, str]] = field(default_factory=list)
    _behaviours: dict[tuple[str, str], Behaviour] = field(default_factory=dict)

    @property
    def crash_backoff(self) -> BackoffPolicy:
        return BackoffPolicy(self.settings.crashloop_initial, self.settings.crashloop_max)

    @property
    def image_backoff(self) -> BackoffPolicy:
        return BackoffPolicy(self.settings.image_backoff_initial, self.settings.image_backoff_max)

    @property
    def deleting(self) -> bool:
        return bool(self.pod["metadata"].get("deletionTimestamp"))

    @property
    def deletion_grace(self) -> float:
        return float(self.pod["metadata"].get("deletionGracePeriodSeconds") or 0)

    @property
    def termination_grace(self) -> float:
        return float(self.pod["spec"].get("terminationGracePeriodSeconds", 30) or 0)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))

    def jittered(self, seconds: float) -> float:
        """``seconds`` ± the kubelet jitter, drawn from the seeded stream."""
        j = self.settings.jitter
        if j <= 0 or seconds <= 0:
            return seconds
        return seconds * (1 + self.jitter_rng.uniform(-j, j))

    def container_id(self) -> str:
        return f"containerd://{self.ids.getrandbits(256):064x}"

    @staticmethod
    def spec_hash(c: ContainerRuntime) -> str:
        return c.spec_hash

    def behaviour(self, c: ContainerRuntime, info: ImageInfo) -> Behaviour:
        """What the app of ``c`` does when run from ``info`` (defaults < image < pod)."""
        key = (c.name, info.ref.name)
        found = self._behaviours.get(key)
        if found is None:
            annotations = self.pod["metadata"].get("annotations") or {}
            found, _ = resolve_behaviour(defaults=self.defaults(c), image=info.behaviour,
                                         annotations=annotations, container=c.name)
            self._behaviours[key] = found
        return found

    def defaults(self, c: ContainerRuntime) -> Behaviour:
        s = self.settings
        base = Behaviour(start_seconds=s.container_start_seconds,
                         stop_seconds=s.container_stop_seconds)
        return replace(base, exit_after_seconds=0.0, exit_code=0) if c.init else base


def pod_ref(pod: dict[str, Any]) -> str:
    """``name_namespace(uid)``, as the kubelet's ``format.Pod`` writes a pod."""
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', '')}({meta.get('uid', '')})"
