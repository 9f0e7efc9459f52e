"""Every tunable of the embedded cluster, in documented dataclasses.

Defaults are Kubernetes' defaults where Kubernetes has one (cited beside each);
the rest are plausible values for a laptop-sized simulation. Notebook
parameters map onto these (``ClusterSettings(kubelet=KubeletSettings(...))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kitlib.cluster.events import EventSettings
from kitlib.store.store import StoreSettings

__all__ = [
    "ClusterSettings",
    "KubeletSettings",
    "NodeLifecycleSettings",
    "NodePoolSettings",
    "SchedulerSettings",
]


@dataclass(frozen=True)
class NodePoolSettings:
    """The nodes ``kitlib serve --nodes N`` creates."""

    #: Zones the nodes are spread over (round robin), as ``topology.kubernetes.io/zone``.
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")
    #: Pool label (``kitlib.io/pool``) of the created nodes.
    pool: str = "default"
    cpu: str = "8"
    memory: str = "32Gi"
    #: kubelet ``maxPods`` default.
    pods: int = 110
    #: Name prefix: nodes are ``<prefix>-0``, ``<prefix>-1``, …
    name_prefix: str = "node"


@dataclass(frozen=True)
class KubeletSettings:
    #: ``nodeStatusUpdateFrequency`` (10 s) — also the Lease renew interval (40 s × 0.25).
    node_status_update_frequency: float = 10.0
    #: ``nodeLeaseDurationSeconds``.
    lease_duration_seconds: int = 40
    #: Bytes per second a node pulls images at (shared by concurrent pulls).
    image_pull_bandwidth: float = 100e6
    #: Size of an image with no ``kitlib.io/image-size`` declared.
    default_image_size: int = 100_000_000
    #: Seconds from "image present" to "container running" (create + start).
    container_start_seconds: float = 1.0
    #: Relative ± jitter applied to every delay, drawn from the seeded RNG.
    jitter: float = 0.1
    #: CrashLoopBackOff: initial and maximum back-off, reset after 2 × max of running.
    crashloop_initial: float = 10.0
    crashloop_max: float = 300.0
    #: Image pull back-off (``ImagePullBackOff``).
    image_backoff_initial: float = 10.0
    image_backoff_max: float = 300.0


@dataclass(frozen=True)
class NodeLifecycleSettings:
    #: ``--node-monitor-period``.
    monitor_period: float = 5.0
    #: ``--node-monitor-grace-period`` (50 s from 1.32).
    monitor_grace_period: float = 50.0
    #: ``--node-startup-grace-period``.
    startup_grace_period: float = 60.0
    #: ``--node-eviction-rate`` (nodes per second per zone that get NoExecute taints).
    eviction_rate: float = 0.1


@dataclass(frozen=True)
class SchedulerSettings:
    #: Seconds between retries of unschedulable pods when nothing changed (upstream 5 min max).
    unschedulable_retry: float = 60.0


@dataclass(frozen=True)
class ClusterSettings:
    """Everything tunable about an embedded cluster (notebook parameters map onto this)."""

    seed: int = 0
    #: Nodes created at start (``kitlib serve --nodes N``), shaped by ``node_pool``.
    nodes: int = 0
    node_pool: NodePoolSettings = field(default_factory=NodePoolSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    kubelet: KubeletSettings = field(default_factory=KubeletSettings)
    node_lifecycle: NodeLifecycleSettings = field(default_factory=NodeLifecycleSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    events: EventSettings = field(default_factory=EventSettings)
    #: Zero-time events processed by one ``settle()`` before it gives up (a runaway loop guard).
    settle_limit: int = 1_000_000
