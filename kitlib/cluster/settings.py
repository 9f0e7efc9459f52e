"""Every tunable of the embedded cluster, in documented dataclasses.

Defaults are Kubernetes' defaults where Kubernetes has one (cited beside each);
the rest are plausible values for a laptop-sized simulation. Notebook
parameters map onto these (``ClusterSettings(kubelet=KubeletSettings(...))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kitlib.cluster.events import EventSettings
from kitlib.cluster.kruise.kinds import KruiseSettings
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
    #: ``ephemeral-storage`` capacity of each node.
    ephemeral_storage: str = "100Gi"


@dataclass(frozen=True)
class KubeletSettings:
    #: ``nodeStatusUpdateFrequency`` (10 s) — also the Lease renew interval (40 s × 0.25).
    node_status_update_frequency: float = 10.0
    #: ``nodeLeaseDurationSeconds``.
    lease_duration_seconds: int = 40
    #: Bytes per second a node pulls images at (one pull at a time: ``serializeImagePulls``;
    #: a node annotation ``sim.kitlib.io/pull-bandwidth`` overrides it per node).
    image_pull_bandwidth: float = 100e6
    #: Size of an image no ``Image`` object (``images.sim.kitlib.io``) describes.
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
    #: ``nodeStatusReportFrequency``: node status is posted when it changed, or this often.
    node_status_report_frequency: float = 300.0
    #: Seconds an app needs to stop after SIGTERM (the ``stop-seconds`` knob's default).
    container_stop_seconds: float = 1.0
    #: PLEG relist period: the kubelet notices an exited container (and re-syncs a pod
    #: whose image pull failed) this long after it happened.
    relist_seconds: float = 1.0
    #: How long a failing image pull takes to fail (the registry's answer).
    image_pull_failure_seconds: float = 1.0


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
    #: ``--secondary-node-eviction-rate``: the rate in a partially disrupted large zone.
    secondary_eviction_rate: float = 0.01
    #: ``--large-cluster-size-threshold``: a zone larger than this keeps tainting (at the
    #: secondary rate) when partially disrupted; a smaller one stops.
    large_cluster_size_threshold: int = 50
    #: ``--unhealthy-zone-threshold``: share of not-Ready nodes (more than 2) that makes a
    #: zone partially disrupted.
    unhealthy_zone_threshold: float = 0.55


@dataclass(frozen=True)
class SchedulerSettings:
    #: Seconds between retries of unschedulable pods when nothing changed (upstream 5 min max).
    unschedulable_retry: float = 60.0
    #: Back-off of a pod that failed to schedule, before a cluster change may retry it:
    #: ``initial × 2^(attempts-1)`` up to ``max`` (``podInitialBackoffSeconds`` 1,
    #: ``podMaxBackoffSeconds`` 10).
    pod_initial_backoff: float = 1.0
    pod_max_backoff: float = 10.0
    #: ``percentageOfNodesToScore``: 0 is upstream's adaptive default (50 % minus 1 % per
    #: 125 nodes, at least 5 %, and never fewer than 100 nodes).
    percentage_of_nodes_to_score: int = 0


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
    #: OpenKruise kinds and feature gates (``enabled=False``: a cluster without OpenKruise).
    kruise: KruiseSettings = field(default_factory=KruiseSettings)
    #: Zero-time events processed by one ``settle()`` before it gives up (a runaway loop guard).
    settle_limit: int = 1_000_000
    #: Simulated seconds a controller stays busy per object its reconcile walked (the pods of
    #: a CloneSet, of a SidecarSet, behind a Service or a budget): events for that key at a
    #: later instant inside the window are handled together by one reconcile at its end, as a
    #: real controller's queue coalesces them while its worker is busy. A Go controller that
    #: lists N pods from its informer cache (copying each) and walks them spends on the order
    #: of 10 µs per pod: a 100,000-pod CloneSet's window is 1 s, a 100-pod one's 1 ms. 0
    #: reacts to every instant (``kitlib.engine.runner``).
    reconcile_seconds_per_object: float = 1e-5
