"""The ``Cluster`` handle: one object per connection, the same on every backend.

It owns the official client's ``ApiClient`` and the one time primitive of the
design (``now``/``sleep``):

* **real cluster**: wall clock; ``sleep`` sleeps;
* **embedded, stepped**: ``sleep(dt)`` advances simulated time by exactly ``dt``
  and returns once every event up to then has run;
* **embedded, paced**: ``sleep(dt)`` waits ``dt / speed`` wall seconds (until
  the simulated clock has moved ``dt``); ``now`` is the server's current paced
  time (it catches its engine up before answering), not its last tick.

Operations (apply, rollout, drain, …) build on this handle and on the official
client only, so a notebook runs unchanged against either kind of cluster.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kitlib.client import apps as _apps
from kitlib.client import capabilities as _caps
from kitlib.client import drain as _drain
from kitlib.client import explain as _explain
from kitlib.client import faults as _faults
from kitlib.client import ops as _ops
from kitlib.client import workloads as _workloads
from kitlib.client.drain import DrainEvent, DrainResult, EvictionResult
from kitlib.client.errors import translate
from kitlib.client.ops import ApplyResult, Manifest, Resource
from kitlib.client.workloads import RolloutResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from kitlib.client.capabilities import Capabilities
    from kitlib.client.connect import EmbeddedProcess
    from kitlib.client.explain import Explanation
    from kitlib.client.refs import Progress, WorkloadRef

    Workload = str | dict[str, Any] | WorkloadRef

__all__ = ["Cluster", "EmbeddedOnlyError", "close_api_client"]

SIM_GROUP, SIM_VERSION, CLOCK_NAME = "sim.kitlib.io", "v1alpha1", "cluster"
#: The shortest wall sleep of a paced ``sleep`` (a rounding remainder of a simulated second
#: must not turn into a burst of clock reads).
_MIN_WALL_SLEEP = 0.005


class EmbeddedOnlyError(RuntimeError):
    """An operation that only the embedded cluster supports was asked of a real one."""


def close_api_client(api_client: k8s.ApiClient) -> None:
    """Close an official ``ApiClient`` and, now, every idle connection it keeps.

    ``ApiClient.close()`` only empties urllib3's pool registry; from urllib3 2.3 on, the
    pools close their connections when garbage-collected, which is later (or never, while
    a response or a traceback still refers to one), so sockets to the server stay open.
    """
    pools = api_client.rest_client.pool_manager.pools
    keys = pools.keys()  # a copy taken under the container's lock (iterating it raises)
    for key in keys:
        pool = pools.get(key)
        if pool is not None:
            pool.close()
    api_client.close()


class Cluster:
    """A connection to one cluster — embedded or real — and everything a notebook does to it.

    Made by ``kitlib.connect()``. It holds the official client's ``api_client`` (use it
    with any ``kubernetes.client`` API class), the default ``namespace``, whether writes
    are allowed (``allow_writes``) and whether the cluster is ``embedded``. Time goes
    through ``now()``/``sleep()`` (see the module docstring); operations, faults,
    ``capabilities()`` and ``explain()`` are one-line methods over the modules of
    ``kitlib.client``. Close it (or use ``with``) to stop an embedded cluster it started.
    """

    def __init__(self, api_client: k8s.ApiClient, *, kubeconfig: str | None,
                 namespace: str = "default", allow_writes: bool | None = None,
                 process: EmbeddedProcess | None = None) -> None:
        self.api_client = api_client
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self._process = process
        self._custom = k8s.CustomObjectsApi(api_client)
        clock = self._read_clock(missing_ok=True)
        self.embedded = clock is not None
        self.allow_writes = self.embedded if allow_writes is None else allow_writes
        self._closed = False
        #: Discovered kinds, ``(apiVersion, kind)`` → ``Resource`` (``kitlib.client.ops``).
        self._resources: dict[tuple[str, str], Resource] = {}
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []

    # -- listeners: recorders hear about operations (evictions…) ------------------------

    def add_listener(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``callback(what, details)`` after each operation this handle performs.

        ``what`` is e.g. ``"eviction"`` (details: pod, namespace, allowed, reason, status,
        dry_run). Recorders use it to log disruptions; a callback must not raise.
        """
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Stop calling ``callback`` (no error if it was not added)."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def notify(self, what: str, details: dict[str, Any]) -> None:
        """Tell every listener that ``what`` happened (used by the operations)."""
        for callback in list(self._listeners):
            callback(what, details)

    # -- the clock ----------------------------------------------------------------------

    def _read_clock(self, *, missing_ok: bool = False) -> dict[str, Any] | None:
        try:
            result = self._custom.get_cluster_custom_object(SIM_GROUP, SIM_VERSION, "clocks",
                                                            CLOCK_NAME)
        except ApiException as exc:
            if missing_ok and exc.status in (403, 404):
                return None
            with translate():
                raise
        return cast(dict[str, Any], result)

    def clock(self) -> dict[str, Any]:
        """The embedded cluster's ``Clock`` object (mode, speed, simulated time)."""
        if not self.embedded:
            raise EmbeddedOnlyError("this is a real cluster: it has no simulated clock")
        clock = self._read_clock()
        assert clock is not None
        return clock

    @property
    def mode(self) -> str:
        """``"real"``, ``"stepped"`` or ``"paced"``."""
        return str(self.clock()["spec"]["mode"]) if self.embedded else "real"

    def now(self) -> float:
        """Seconds: simulated time on an embedded cluster, the Unix time on a real one."""
        if not self.embedded:
            return time.time()
        return float(self.clock()["status"]["seconds"])

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of cluster time pass (see the module docstring)."""
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative duration ({seconds} s)")
        if not self.embedded:
            time.sleep(seconds)
            return
        clock = self.clock()
        if clock["spec"]["mode"] == "stepped" or clock["spec"]["paused"]:
            self.advance(seconds)
        else:
            self._paced_sleep(seconds, clock)

    def advance(self, seconds: float) -> dict[str, Any]:
        """Advance a stepped (or paused) embedded clock; returns the ClockAdvance status."""
        if not self.embedded:
            raise EmbeddedOnlyError("this is a real cluster: time cannot be advanced")
        body = {"apiVersion": f"{SIM_GROUP}/{SIM_VERSION}", "kind": "ClockAdvance",
                "metadata": {"generateName": "advance-"}, "spec": {"seconds": seconds}}
        with translate():
            result = self._custom.create_cluster_custom_object(SIM_GROUP, SIM_VERSION,
                                                               "clockadvances", body)
        return cast(dict[str, Any], cast(dict[str, Any], result)["status"])

    def _paced_sleep(self, seconds: float, clock: dict[str, Any]) -> None:
        """Sleep the wall time the running clock needs to move ``seconds``, then read it.

        The server brings a paced engine to its target before it answers a clock read, so
        the read after one wall sleep normally shows the end reached and this makes two
        reads in all. If the speed changed meanwhile, the rest is slept at the new speed;
        if the clock was paused or set to stepped, the rest is advanced by hand, as ``sleep``
        does on such a clock. No polling: every wall sleep is the time still needed.
        """
        end = float(clock["status"]["seconds"]) + seconds
        while (remaining := end - float(clock["status"]["seconds"])) > 0:
            spec = clock["spec"]
            if spec["mode"] == "stepped" or spec["paused"]:
                self.advance(remaining)
                return
            time.sleep(max(remaining / float(spec["speed"]), _MIN_WALL_SLEEP))
            clock = self.clock()

    def set_clock(self, *, mode: str | None = None, speed: float | None = None,
                  paused: bool | None = None) -> dict[str, Any]:
        """Change the embedded clock's mode, speed or pause state."""
        spec = {k: v for k, v in (("mode", mode), ("speed", speed), ("paused", paused))
                if v is not None}
        if not self.embedded:
            raise EmbeddedOnlyError("this is a real cluster: it has no simulated clock")
        with translate():
            result = self._custom.patch_cluster_custom_object(
                SIM_GROUP, SIM_VERSION, "clocks", CLOCK_NAME, {"spec": spec})
        return cast(dict[str, Any], result)

    def save_snapshot(self, path: str | os.PathLike[str], *, history: int = 1000) -> int:
        """Save the embedded cluster to a snapshot file at ``path`` (gzip'd JSON, see
        ``docs/simulation.md``; ``kitlib serve --snapshot`` starts from it), keeping the
        last ``history`` watch events; returns the file's size in bytes."""
        if not self.embedded:
            raise EmbeddedOnlyError("this is a real cluster: it cannot be saved as a snapshot "
                                    "(snapshots are of embedded clusters)")
        body = {"apiVersion": f"{SIM_GROUP}/{SIM_VERSION}", "kind": "Snapshot",
                "spec": {"history": history}}
        with translate():
            result = self._custom.create_cluster_custom_object(SIM_GROUP, SIM_VERSION,
                                                               "snapshots", body)
        data = base64.b64decode(cast(dict[str, Any], result)["status"]["data"])
        Path(path).write_bytes(data)
        return len(data)

    # -- operations (``kitlib.client.ops``, ``kitlib.client.drain``) ---------------------

    def apply(self, manifest: Manifest, *, dry_run: bool = False) -> list[ApplyResult]:
        """``kubectl apply`` (client-side, three-way) of YAML text, a path, dicts."""
        return _ops.apply(self, manifest, dry_run=dry_run)

    def evict(self, pod: str, namespace: str | None = None, *,
              dry_run: bool = False) -> EvictionResult:
        """Evict ``pod`` through the Eviction API: allowed, or refused and why."""
        return _drain.evict(self, pod, namespace, dry_run=dry_run)

    def cordon(self, node: str, *, dry_run: bool = False) -> dict[str, Any]:
        """Mark ``node`` unschedulable, as ``kubectl cordon``."""
        return _drain.cordon(self, node, dry_run=dry_run)

    def uncordon(self, node: str, *, dry_run: bool = False) -> dict[str, Any]:
        """Make ``node`` schedulable again, as ``kubectl uncordon``."""
        return _drain.uncordon(self, node, dry_run=dry_run)

    def drain(self, node: str, *, ignore_daemonsets: bool = True,
              delete_emptydir_data: bool = False, force: bool = False,
              timeout: float | None = None,
              on_progress: Callable[[DrainEvent], None] | None = None,
              dry_run: bool = False) -> DrainResult:
        """Cordon ``node`` and evict its pods with ``kubectl drain`` semantics, in cluster
        time (``dry_run``: which evictions the budgets would allow now, changing nothing)."""
        return _drain.drain(self, node, ignore_daemonsets=ignore_daemonsets,
                           delete_emptydir_data=delete_emptydir_data, force=force,
                           timeout=timeout, on_progress=on_progress, dry_run=dry_run)

    # -- workload operations (``kitlib.client.workloads``, ``kitlib.client.apps``) ---------

    def rollout(self, workload: Workload, *, images: dict[str, str] | None = None,
                strategy: str | None = None, partition: int | str | None = None,
                max_unavailable: int | str | None = None, max_surge: int | str | None = None,
                paused: bool | None = None, namespace: str | None = None,
                dry_run: bool = False) -> RolloutResult:
        """Change images and update strategy of ``workload`` in one PATCH.

        ``workload`` is ``"cloneset/web"``, ``"deploy/web"``, a bare name or the object.
        ``images`` maps container (or init container) names to images; ``strategy`` is the
        kind's (CloneSet ``InPlaceIfPossible``/``InPlaceOnly``/``ReCreate``, Advanced
        StatefulSet ``RollingUpdate``/``OnDelete`` or a pod update policy, Deployment
        ``RollingUpdate``/``Recreate``, StatefulSet ``RollingUpdate``/``OnDelete``).
        A knob the kind lacks (a Deployment's partition…) raises ``kitlib.errors.Invalid``
        before anything is sent. See ``kitlib.client.workloads.rollout``.
        """
        return _workloads.rollout(self, workload, images=images, strategy=strategy,
                                  partition=partition, max_unavailable=max_unavailable,
                                  max_surge=max_surge, paused=paused, namespace=namespace,
                                  dry_run=dry_run)

    def pause(self, workload: Workload, *, namespace: str | None = None,
              dry_run: bool = False) -> RolloutResult:
        """Pause the workload's update (a native StatefulSet cannot be: an error says so)."""
        return _workloads.pause(self, workload, namespace=namespace, dry_run=dry_run)

    def resume(self, workload: Workload, *, namespace: str | None = None,
               dry_run: bool = False) -> RolloutResult:
        """Resume a paused update."""
        return _workloads.resume(self, workload, namespace=namespace, dry_run=dry_run)

    def set_partition(self, workload: Workload, partition: int | str, *,
                      namespace: str | None = None, dry_run: bool = False) -> RolloutResult:
        """Keep ``partition`` pods on the old revision (not for Deployments)."""
        return _workloads.set_partition(self, workload, partition, namespace=namespace,
                                        dry_run=dry_run)

    def scale(self, workload: Workload, replicas: int, *, namespace: str | None = None,
              dry_run: bool = False) -> dict[str, Any]:
        """Set the replica count through the ``scale`` subresource; returns the Scale."""
        return _workloads.scale(self, workload, replicas, namespace=namespace,
                                dry_run=dry_run)

    def undo(self, workload: Workload, to_revision: int | None = None, *,
             namespace: str | None = None, dry_run: bool = False) -> RolloutResult:
        """Roll back to the previous (or ``to_revision``) template, as ``kubectl rollout
        undo``; ``kitlib.errors.Invalid`` when there is no such revision."""
        return _workloads.undo(self, workload, to_revision, namespace=namespace,
                               dry_run=dry_run)

    def converged(self, workload: Workload, *, namespace: str | None = None) -> bool:
        """Whether the rollout reached its end state: status converged, no pod terminating,
        and (partition 0) every pod on the update revision."""
        return _workloads.converged(self, workload, namespace=namespace)

    def wait_for(self, condition: Callable[[], bool], *, timeout: float,
                 interval: float = 1.0, description: str = "",
                 state: Callable[[], str] | None = None) -> float:
        """Poll ``condition`` every ``interval`` cluster seconds (``sleep``) until it holds;
        returns the cluster seconds waited. After ``timeout``, ``TimeoutError`` names
        ``description`` and the last state (``state()``, when given)."""
        return _workloads.wait_for(self, condition, timeout=timeout, interval=interval,
                                   description=description, state=state)

    def wait_converged(self, workload: Workload, *, timeout: float = 600,
                       interval: float = 1.0,
                       on_progress: Callable[[Progress], None] | None = None,
                       namespace: str | None = None) -> float:
        """Wait until ``converged(workload)``, calling ``on_progress`` when progress changes;
        returns the cluster seconds waited (``TimeoutError`` says where it stood)."""
        return _workloads.wait_converged(self, workload, timeout=timeout, interval=interval,
                                         on_progress=on_progress, namespace=namespace)

    def restart_container(self, pod: str, containers: str | list[str], *,
                          namespace: str | None = None, wait: bool = False,
                          timeout: float = 300.0, dry_run: bool = False) -> dict[str, Any]:
        """Restart containers of ``pod`` in place (OpenKruise ContainerRecreateRequest);
        ``MissingCapabilityError`` where OpenKruise is not installed."""
        return _workloads.restart_container(self, pod, containers, namespace=namespace,
                                            wait=wait, timeout=timeout, dry_run=dry_run)

    def deploy_example(self, name: str = "shop", *, kind: str = "auto", dry_run: bool = False,
                       **options: Any) -> list[ApplyResult]:
        """Apply ``kitlib.client.apps.example_app(name, kind=kind, **options)``: the
        three-container example app with its Service and PDB (a CloneSet where OpenKruise
        is served, else a Deployment, with ``kind="auto"``)."""
        return _apps.deploy_example(self, name, kind=kind, dry_run=dry_run, **options)

    # -- what the cluster has, and why things happen ------------------------------------

    def capabilities(self, *, refresh: bool = False) -> Capabilities:
        """What this cluster serves (OpenKruise kinds and versions, PDBs, eviction…) and
        what is missing, with how to get it (``kitlib.client.capabilities``)."""
        return _caps.capabilities(self, refresh=refresh)

    def require(self, feature: str) -> None:
        """Raise ``MissingCapabilityError`` (saying how to get it) unless ``feature`` —
        a kind such as ``"CloneSet"``, a feature gate, ``"simulation"`` or ``"writes"`` — is
        available."""
        _caps.require(self, feature)

    def explain(self, target: str | dict[str, Any], namespace: str | None = None
                ) -> Explanation:
        """What is happening to a workload, pod, node or SidecarSet and why, with the
        controller's arithmetic and what to change (``kitlib.client.explain``)."""
        return _explain.explain(self, target, namespace)

    # -- faults (embedded clusters only) -------------------------------------------------

    @property
    def faults(self) -> _faults.Faults:
        """Every fault (``cluster.faults.crash_container(…)``, ``.flaky_image(…)``…); on a
        real cluster each raises ``EmbeddedOnlyError`` (``kitlib.client.faults``)."""
        return _faults.Faults(self)

    def fail_node(self, node: str, *, dry_run: bool = False) -> dict[str, Any]:
        """Take ``node`` down (kubelet and containers stop); the node lifecycle controller
        then marks it NotReady and evicts its pods, as on a real cluster."""
        return _faults.fail_node(self, node, dry_run=dry_run)

    def restore_node(self, node: str, *, dry_run: bool = False) -> dict[str, Any]:
        """Bring a failed ``node`` back, as after a reboot."""
        return _faults.restore_node(self, node, dry_run=dry_run)

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (the handle talks to no cluster any more)."""
        return self._closed

    def close(self) -> None:
        """Close the connection; stop the embedded cluster this handle started."""
        if self._closed:
            return
        self._closed = True
        close_api_client(self.api_client)
        if self._process is not None:
            self._process.stop()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and getattr(self, "_process", None) is not None:
            self.close()

    def __repr__(self) -> str:
        where = "embedded" if self.embedded else "real"
        server = self.api_client.configuration.host
        return f"<kitlib.Cluster {where} {server} namespace={self.namespace!r}>"
