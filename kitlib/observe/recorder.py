"""``Recorder``: samples watch caches of one namespace into a ``Recording``.

A recorder starts one ``kitlib.client.cache.WatchCache`` per kind it reads — pods,
the workload kinds the server serves (CloneSet, Advanced StatefulSet, Deployment,
StatefulSet), PodDisruptionBudgets, Services, Endpoints and Events of its namespace,
and the cluster's Nodes — all as raw dicts, never the official client's models. A
*sample* turns what the caches hold at ``cluster.now()`` into rows (``kitlib.observe.
snapshot``); a pod's rows are derived again only when its ``resourceVersion`` changed,
and no sample makes a request per pod.

Sampling:

* ``sample()`` takes one sample; ``run(duration, dt=…)`` samples at once, then after
  every ``cluster.sleep(dt)`` — exact simulated instants on a stepped embedded cluster,
  the wall clock on a real one. Samples are numbered (the ``sample`` column): two
  samples can share a time (``sample()``, a patch, then ``run()`` at the same instant
  of a stepped clock), and the number orders them;
* ``on_events=True`` also samples from a background thread after watch events,
  coalesced over ``event_interval`` wall seconds (so at most one sample per interval):
  for paced and real clusters, where things happen between ``sleep`` calls;
* disruptions are not sampled: the recorder listens to the ``Cluster`` handle
  (``add_listener``) and logs each eviction it performs (dry runs are not attempts and
  are not logged).

Connections. Each cache holds one watch open, so the recorder reads through its own
``ApiClient`` (a copy of the handle's configuration with a pool large enough for every
watch and the lists), closed by ``stop()``: the handle's pool stays free for the
notebook's own calls.

Determinism. Watch events reach the caches a moment after the server sent them. On a
stepped embedded cluster nothing changes between two ``sleep`` calls, so before each
sample the recorder *settles*: it lists each kind once (one request per kind, not per
object, sent together) and waits until the cache holds exactly those objects at those
``resourceVersion``s. Same seed and same calls therefore give identical frames. On
paced and real clusters a sample shows what the caches hold then.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pandas as pd
from kubernetes import client as k8s

from kitlib.client.cache import CacheSettings, WatchCache
from kitlib.client.cluster import Cluster, close_api_client
from kitlib.client.ops import discover
from kitlib.client.raw import get_json
from kitlib.client.refs import WORKLOAD_KINDS, resolve
from kitlib.model.errors import Forbidden, NotFound
from kitlib.observe.recording import Recording
from kitlib.observe.schema import FRAMES, typed
from kitlib.observe.snapshot import (
    PodView,
    pod_view,
    seconds,
    workload_id,
    workload_of,
    workload_row,
)
from kitlib.observe.warmth import CacheWarmth

__all__ = ["Recorder"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PULLED = re.compile(r'^Successfully pulled image "([^"]+)".*Image size: (\d+) bytes')
#: Kinds besides pods and workloads: (cache name, apiVersion, kind, plural, namespaced).
SUPPORT_KINDS = (("pdbs", "policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
                 ("services", "v1", "Service", "services", True),
                 ("endpoints", "v1", "Endpoints", "endpoints", True),
                 ("events", "v1", "Event", "events", True),
                 ("nodes", "v1", "Node", "nodes", False))
#: Polls of 2 ms while settling before the recorder lists again, and lists before it
#: gives up (a cache that never matches is logged, not fatal).
SETTLE_POLLS, SETTLE_LISTS = 250, 20
#: Threads that send the settling lists at once.
LIST_THREADS = 4
TERMINAL = ("Succeeded", "Failed")


class Recorder:
    """Records pods, containers, workloads, nodes and disruptions of one namespace.

    Use it as a context manager (``with Recorder(cluster) as rec:``), or call ``stop()``:
    both stop its watch caches and its listener. ``rec.recording`` is the ``Recording``
    so far (it can be read at any time; each read builds new frames).

    Args:
        cluster: the ``Cluster`` handle.
        namespace: the namespace to record (default: the handle's).
        workloads: the workloads to record, named as ``kitlib.client.refs.resolve``
            accepts (``"cloneset/web"``, ``"web"``); ``None`` records every workload in the
            namespace and every pod, a workload's or not. With a list, only those
            workloads' pods are recorded.
        roles: container name → ``"app"`` | ``"sidecar"`` | ``"agent"``; containers not
            named here get the default roles (``kitlib.observe.snapshot.role_of``).
        cache_model: the app containers' cache-warmth model (default ``CacheWarmth()``).
        on_events: also sample after watch events (see the module docstring).
        event_interval: event mode's coalescing window, in wall seconds.
        settings: the watch caches' tunables.
        sync_timeout: wall seconds each cache may take for its first list.

    Raises:
        TimeoutError: a cache could not list its kind within ``sync_timeout`` seconds
            (the error says which kind and why).
    """

    def __init__(self, cluster: Cluster, *, namespace: str | None = None,
                 workloads: list[str] | None = None, roles: Mapping[str, str] | None = None,
                 cache_model: CacheWarmth | None = None, on_events: bool = False,
                 event_interval: float = 0.05, settings: CacheSettings | None = None,
                 sync_timeout: float = 30.0) -> None:
        self.cluster = cluster
        self.namespace = namespace or cluster.namespace
        self.roles = dict(roles or {})
        self.warmth = cache_model or CacheWarmth()
        self.event_interval = event_interval
        self._only = None if workloads is None else {
            str(resolve(cluster, name, self.namespace)) for name in workloads}
        self._epoch = _epoch(cluster)
        self._stepped = cluster.embedded and cluster.mode == "stepped"
        self._lock = threading.RLock()
        self._rows: dict[str, list[Any]] = defaultdict(list)
        self._views: dict[str, tuple[str, PodView]] = {}
        self._uid_pod: dict[str, tuple[str, str]] = {}
        self._pulls: dict[str, Obj] = {}
        self._samples: list[float] = []
        self._stopped = threading.Event()
        self._dirty = threading.Event()
        self._sampler: threading.Thread | None = None
        kinds = self._kinds()
        self._api = _own_client(cluster, connections=len(kinds) + LIST_THREADS + 2)
        self._pool = ThreadPoolExecutor(LIST_THREADS, thread_name_prefix="kitlib-recorder")
        try:
            self._caches = self._start_caches(kinds, settings, sync_timeout)
        except BaseException:
            self._pool.shutdown()
            close_api_client(self._api)
            raise
        self._baseline_events = self._event_uids()
        cluster.add_listener(self._on_operation)
        if on_events:
            self._start_sampler()

    # -- caches ---------------------------------------------------------------------------

    def _kinds(self) -> list[tuple[str, str, str, bool]]:
        """(cache name, apiVersion, plural, namespaced) of every kind the server serves."""
        wanted = [("pods", "v1", "Pod", "pods", True)]
        wanted += [(f"workload:{k.api_version}/{k.plural}", k.api_version, k.kind, k.plural,
                    True) for k in WORKLOAD_KINDS]
        wanted += list(SUPPORT_KINDS)
        served = []
        for name, api_version, kind, plural, namespaced in wanted:
            try:
                discover(self.cluster, api_version, kind)
            except NotFound:
                log.info("the server does not serve %s %s: not recorded", api_version, kind)
                continue
            served.append((name, api_version, plural, namespaced))
        return served

    def _start_caches(self, kinds: list[tuple[str, str, str, bool]],
                      settings: CacheSettings | None, timeout: float) -> dict[str, WatchCache]:
        caches: dict[str, WatchCache] = {}
        try:
            for name, api_version, plural, namespaced in kinds:
                cache = WatchCache(self._api, api_version=api_version,
                                   plural=plural, settings=settings,
                                   namespace=self.namespace if namespaced else None)
                if name == "events":
                    cache.on_event(self._on_event_object)
                caches[name] = cache.start()
            optional = {kind[0] for kind in SUPPORT_KINDS}
            for name in list(caches):
                if not _synced(caches[name], timeout, optional=name in optional):
                    caches.pop(name).stop()
        except BaseException:
            for cache in caches.values():
                cache.stop()
            raise
        return caches

    def _cache_list(self, name: str) -> list[Obj]:
        cache = self._caches.get(name)
        return cache.list() if cache is not None else []

    def _settle(self, names: Iterable[str]) -> None:
        """On a stepped cluster, wait until each cache holds what a fresh list returns.

        The lists go out at once (one request per kind, on the recorder's small thread
        pool), so a sample waits about one round trip, not one per kind.
        """
        if not self._stepped:
            return
        caches = [(name, self._caches[name]) for name in names if name in self._caches]
        listed = list(self._pool.map(self._listed, (cache for _, cache in caches)))
        for (name, cache), versions in zip(caches, listed, strict=True):
            if not self._catch_up(cache, versions):
                log.warning("the %s cache did not catch up with the server; sampling anyway",
                            name)

    def _listed(self, cache: WatchCache) -> dict[tuple[str, str], str]:
        return _versions(get_json(self._api, cache.path)["items"])

    def _catch_up(self, cache: WatchCache, versions: dict[tuple[str, str], str]) -> bool:
        """Poll until the cache matches ``versions``; list again now and then (rarely)."""
        for _ in range(SETTLE_LISTS):
            for _ in range(SETTLE_POLLS):
                if _versions(cache.list()) == versions:
                    return True
                if self._stopped.wait(0.002):
                    return False
            versions = self._listed(cache)
        return False

    # -- sampling -------------------------------------------------------------------------

    def sample(self) -> float:
        """Take one sample at ``cluster.now()``; returns that time."""
        return self._sample(settle=True)

    def run(self, duration: float, *, dt: float = 1.0,
            until: Callable[[], bool] | None = None) -> Recording:
        """Sample now, then after each ``cluster.sleep(dt)``, for ``duration`` seconds.

        Args:
            duration: cluster seconds to record (the last sleep is shortened to end there).
            dt: the sampling interval, in cluster seconds.
            until: stop early once this returns ``True`` (checked after each sample).

        Returns:
            The ``Recording`` so far.
        """
        if dt <= 0:
            raise ValueError(f"dt must be positive, got {dt}")
        now = self.sample()
        end = now + duration
        while now < end - 1e-9 and not (until is not None and until()):
            self.cluster.sleep(min(dt, end - now))
            now = self.sample()
        return self.recording

    def _sample(self, *, settle: bool) -> float:
        with self._lock:
            if self._stopped.is_set():
                raise RuntimeError("this recorder is stopped")
            if settle:
                self._settle(n for n in self._caches if n != "events")
            now = self.cluster.now()
            self._take(now)
            return now

    def _take(self, now: float) -> None:
        """Append one sample's rows (``sample``: its number, 0 for the first)."""
        number = len(self._samples)
        views = self._pod_views()
        by_workload: dict[str, list[PodView]] = defaultdict(list)
        for view in views:
            by_workload[view.workload].append(view)
            self._rows["pods"].append((*view.pod_row(now), number))
            self._rows["containers"] += [(*row, number)
                                         for row in view.container_rows(now, self.warmth)]
        self._take_workloads(now, number, by_workload)
        self._take_nodes(now, number, views)
        self._samples.append(now)

    def _pod_views(self) -> list[PodView]:
        views: dict[str, tuple[str, PodView]] = {}
        for pod in self._cache_list("pods"):
            meta = pod.get("metadata") or {}
            uid, rv = str(meta.get("uid", "")), str(meta.get("resourceVersion", ""))
            known = self._views.get(uid)
            if known is None or known[0] != rv:
                known = (rv, pod_view(pod, epoch=self._epoch, roles=self.roles))
            views[uid] = known
            self._uid_pod[uid] = (known[1].workload, known[1].node)
        self._views = views
        return [view for _, view in views.values()
                if self._only is None or view.workload in self._only]

    def _take_workloads(self, now: float, number: int,
                        pods: Mapping[str, list[PodView]]) -> None:
        pdbs, services = self._cache_list("pdbs"), self._cache_list("services")
        endpoints = {str(e["metadata"]["name"]): e for e in self._cache_list("endpoints")}
        for name in self._caches:
            if not name.startswith("workload:"):
                continue
            for obj in self._cache_list(name):
                row = workload_row(obj, time=now, pods=pods.get(_wid(obj), []),
                                   warmth=self.warmth, pdbs=pdbs, services=services,
                                   endpoints=endpoints)
                if self._only is None or row["workload"] in self._only:
                    self._rows["workloads"].append({**row, "sample": number})

    def _take_nodes(self, now: float, number: int, views: list[PodView]) -> None:
        counts = Counter(v.node for v in views if v.node and v.phase not in TERMINAL)
        for node in self._cache_list("nodes"):
            meta, spec = node.get("metadata") or {}, node.get("spec") or {}
            labels = meta.get("labels") or {}
            conditions = {c.get("type"): c.get("status")
                          for c in (node.get("status") or {}).get("conditions") or []}
            name = str(meta.get("name", ""))
            self._rows["nodes"].append((
                now, name, conditions.get("Ready") == "True", bool(spec.get("unschedulable")),
                str(labels.get("topology.kubernetes.io/zone", "")),
                str(labels.get("kitlib.io/pool", "")), counts.get(name, 0), number))

    # -- disruptions and pulls -------------------------------------------------------------

    def _on_operation(self, what: str, details: dict[str, Any]) -> None:
        if what != "eviction" or details.get("dry_run"):
            return
        namespace = str(details.get("namespace") or self.cluster.namespace)
        if namespace != self.namespace:
            return
        name = str(details.get("pod", ""))
        with self._lock:
            workload, node = self._where(namespace, name)
            if self._only is not None and workload not in self._only:
                return
            self._rows["disruptions"].append((
                self.cluster.now(), namespace, name, node, workload,
                bool(details.get("allowed")), str(details.get("reason") or ""),
                str(details.get("source") or "evict")))

    def _where(self, namespace: str, name: str) -> tuple[str, str]:
        """(workload, node) of a pod: from the cache, else from the last sample."""
        pod = self._caches["pods"].get(namespace, name)
        if pod is not None:
            return workload_of(pod), str((pod.get("spec") or {}).get("nodeName") or "")
        seen = next((view for _, view in self._views.values() if view.name == name), None)
        return (seen.workload, seen.node) if seen is not None else ("", "")

    def _on_event_object(self, kind: str, event: Obj) -> None:
        """Keep kubelet ``Pulled`` events that report an image size (events' cache thread)."""
        if kind == "DELETED" or event.get("reason") != "Pulled":
            return
        uid = str((event.get("metadata") or {}).get("uid", ""))
        with self._lock:
            self._pulls.setdefault(uid, event)

    def _event_uids(self) -> set[str]:
        return {str(e["metadata"].get("uid", "")) for e in self._cache_list("events")}

    def _pull_rows(self) -> list[tuple[Any, ...]]:
        rows = []
        for uid, event in self._pulls.items():
            match = PULLED.match(str(event.get("message") or ""))
            target = event.get("involvedObject") or {}
            if uid in self._baseline_events or match is None or target.get("kind") != "Pod":
                continue
            pod_uid = str(target.get("uid", ""))
            workload, node = self._uid_pod.get(pod_uid, ("", ""))
            if self._only is not None and workload not in self._only:
                continue
            when = (event.get("eventTime") or event.get("lastTimestamp")
                    or event.get("firstTimestamp") or event["metadata"].get("creationTimestamp"))
            rows.append((seconds(when, self._epoch), str(target.get("namespace", "")),
                         str(target.get("name", "")), pod_uid, workload, node,
                         match.group(1), int(match.group(2))))
        return sorted(rows)

    # -- event mode -----------------------------------------------------------------------

    def _start_sampler(self) -> None:
        for name, cache in self._caches.items():
            if name != "events":
                cache.on_event(lambda kind, obj: self._dirty.set())
        self._sampler = threading.Thread(target=self._sample_on_events, daemon=True,
                                         name=f"kitlib-recorder {self.namespace}")
        self._sampler.start()

    def _sample_on_events(self) -> None:
        while not self._stopped.is_set():
            if not self._dirty.wait(0.2):
                continue
            if self._stopped.wait(self.event_interval):
                return
            self._dirty.clear()
            try:
                self._sample(settle=False)
            except Exception:
                if self._stopped.is_set():
                    return
                log.exception("recorder %s: an event-driven sample failed", self.namespace)

    # -- results and lifecycle ------------------------------------------------------------

    @property
    def samples(self) -> int:
        """How many samples were taken."""
        return len(self._samples)

    def frame(self, name: str) -> pd.DataFrame:
        """One frame recorded so far (``"workloads"``, ``"pods"``…), typed as in ``FRAMES``,
        without building the others — what a live chart reads several times a second
        (``recording`` rebuilds every frame: ~0.7 s after 60 samples of 300 pods).

        Raises:
            KeyError: ``name`` is not one of ``kitlib.observe.FRAMES`` (or is ``pulls``,
                which needs the events settled: read it from ``recording``).
        """
        if name not in FRAMES or name == "pulls":
            raise KeyError(f"no frame {name!r}; frames: "
                           + ", ".join(n for n in FRAMES if n != "pulls"))
        with self._lock:
            rows = list(self._rows[name])
        return typed(rows, FRAMES[name])

    @property
    def recording(self) -> Recording:
        """The frames recorded so far (``Recording``)."""
        with self._lock:
            if not self._stopped.is_set():
                self._settle(["events"])
            rows = {name: list(values) for name, values in self._rows.items()}
            rows["pulls"] = self._pull_rows()
            info = {"namespace": self.namespace, "samples": len(self._samples),
                    "start": self._samples[0] if self._samples else None,
                    "end": self._samples[-1] if self._samples else None,
                    "workloads": sorted(self._only) if self._only is not None else None}
        return Recording.from_frames(rows, info=info)

    def stop(self) -> None:
        """Stop sampling, the listener and every watch cache (idempotent)."""
        if self._stopped.is_set():
            return
        with self._lock:
            try:  # so that a recording read after stop() has every pull
                self._settle(["events"])
            except Exception as exc:  # the server may be gone already: stop anyway
                log.warning("recorder %s: could not settle the events cache: %s",
                            self.namespace, exc)
            self._stopped.set()
        self.cluster.remove_listener(self._on_operation)
        if self._sampler is not None:
            self._sampler.join(30)
        self._pool.shutdown()
        for cache in self._caches.values():
            cache.stop()
        close_api_client(self._api)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"<kitlib.Recorder namespace={self.namespace!r} samples={len(self._samples)} "
                f"kinds={sorted(self._caches)}>")


def _wid(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return workload_id(str(obj.get("kind", "")), str(obj.get("apiVersion", "")),
                       str(meta.get("name", "")))


def _own_client(cluster: Cluster, *, connections: int) -> k8s.ApiClient:
    """A new ``ApiClient`` with the handle's configuration and ``connections`` pooled."""
    configuration = copy.deepcopy(cluster.api_client.configuration)
    configuration.connection_pool_maxsize = connections
    return k8s.ApiClient(configuration)


def _versions(objects: list[Obj]) -> dict[tuple[str, str], str]:
    return {(str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"])):
            str(o["metadata"].get("resourceVersion", "")) for o in objects}


def _synced(cache: WatchCache, timeout: float, *, optional: bool) -> bool:
    """Wait for a cache's first list; ``False`` for an optional kind the user may not read."""
    for _ in range(max(1, round(timeout / 0.05))):
        if cache.wait_synced(0.05):
            return True
        if optional and isinstance(cache.last_error, Forbidden):
            log.warning("cannot list %s (%s): not recorded", cache.path, cache.last_error)
            return False
    cache.stop()
    raise TimeoutError(f"could not list {cache.path} within {timeout:g} s"
                       + (f": {cache.last_error}" if cache.last_error else "")
                       + "; check the server is reachable and that you may list this kind")


def _epoch(cluster: Cluster) -> float:
    """The Unix time of cluster time 0 (the embedded clock's origin; 0 for a real cluster)."""
    if not cluster.embedded:
        return 0.0
    status = cluster.clock()["status"]
    origin = datetime.fromisoformat(str(status["now"]).replace("Z", "+00:00")).timestamp()
    return origin - float(status["seconds"])
