"""``PodBoard``: the cluster drawn live on a canvas, pod by pod and container by container.

The Python half keeps the board's model (``kitlib.widgets._board_model``) fed by two
``WatchCache``s (pods, nodes); the front end (``widgets/podboard.js``) draws it. Data flow:

1. the caches' handlers, on their threads, only ``put`` raw objects into a ``DeltaFeed``;
2. on the kernel's asyncio loop a task (``DeltaFeed.pump``) — or, in stepped mode and
   tests, an explicit ``refresh()`` — takes the pending changes, turns them into one
   *delta* (upserts/removes of nodes and pods under a new ``version``), updates the synced
   summary traits and sends the delta to the views, at most ``max_rate`` times a second;
3. a view that connects asks for a snapshot with the custom message
   ``{"type": "snapshot?"}`` and gets ``{"type": "snapshot", version, nodes, pods, images}``;
   deltas are ``{"type": "delta", base, version, nodes: {upsert, remove}, pods: {upsert,
   remove}, images}``; a view whose version is not a delta's ``base`` asks for a snapshot.

No trait is ever set from a cache thread. Errors raised while applying changes or
answering a view are logged and shown in the board (the ``error`` trait, drawn as a red
banner), never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from kitlib.client.cache import WatchCache
from kitlib.widgets._board_model import STATES, BoardModel, assign_colors, matches
from kitlib.widgets.feed import DeltaFeed, loop_or_none, settle

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["MAX_RATE_LIMIT", "PodBoard", "frontend_file"]

log = logging.getLogger(__name__)

#: The highest ``max_rate`` a board accepts (deltas per second).
MAX_RATE_LIMIT = 60.0


def frontend_file(name: str) -> Path:
    """A front-end file: ``kitlib/widgets/static`` (a link to the top-level ``widgets/``
    folder in a checkout, the packaged copy in a wheel)."""
    path = Path(__file__).resolve().parent / "static" / name
    if not path.is_file():
        raise FileNotFoundError(f"kitlib's front-end file {name} is missing at {path}")
    return path


def _key(kind: str, obj: dict[str, Any]) -> str:
    """A node's name, or a pod's ``namespace/name``."""
    meta = obj.get("metadata") or {}
    if kind == "node":
        return str(meta.get("name", ""))
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class PodBoard(anywidget.AnyWidget):
    """Nodes and pods of a cluster on one canvas, updated live from watch caches.

    Nodes are equal boxes grouped by pool and zone (cordoned ones hatched, NotReady ones
    greyed); each pod is a cell split into its containers (app wide, sidecars and agents
    narrow), coloured by image (``images`` is the legend) and outlined by state. Click a
    pod or node to select it; type in the filter box to highlight pods.

    Args:
        cluster: The ``kitlib.Cluster`` handle.
        namespace: Pods of this namespace; ``None``: the handle's; ``"*"``: all.
        selector: A label selector for the pods (``"app=shop"``).
        roles: Container name → ``"app"`` | ``"sidecar"`` | ``"agent"`` (default: the first
            container is the app, ``*proxy*``/``*envoy*``/``*mesh*``/``*sidecar*`` are
            sidecars, the rest agents — as in ``kitlib.observe``).
        max_rate: Deltas sent per second at most (0 < max_rate ≤ 60).
        autostart: Start the caches (and, on a running asyncio loop, live updates) now.
        **kwargs: Passed to ``anywidget.AnyWidget`` (layout…).

    Raises:
        ValueError: ``max_rate`` out of range.
    """

    _esm = frontend_file("podboard.js")
    _css = frontend_file("podboard.css")

    node_count = traitlets.Int(0, help="Nodes on the board.").tag(sync=True)
    pod_count = traitlets.Int(0, help="Pods on the board.").tag(sync=True)
    pod_states = traitlets.Dict(help="Pods per state bucket.").tag(sync=True)
    images = traitlets.Dict(help="The legend: image → colour.").tag(sync=True)
    version = traitlets.Int(0, help="Version of the last delta.").tag(sync=True)
    selected_pod = traitlets.Unicode("", help="The selected pod, namespace/name.").tag(sync=True)
    selected_node = traitlets.Unicode("", help="The selected node.").tag(sync=True)
    filter = traitlets.Unicode("", help="Filter text (see _board_model.matches)."
                               ).tag(sync=True)
    match_count = traitlets.Int(0, help="Pods matching the filter.").tag(sync=True)
    error = traitlets.Unicode("", help="The last error, shown in the board.").tag(sync=True)

    def __init__(self, cluster: Cluster, *, namespace: str | None = None,
                 selector: str | None = None, roles: Mapping[str, str] | None = None,
                 max_rate: float = 10.0, autostart: bool = True, **kwargs: Any) -> None:
        self._caches: list[WatchCache] = []  # before anything can fail: close() reads them
        self._task: asyncio.Task[None] | None = None
        if not 0 < max_rate <= MAX_RATE_LIMIT:
            raise ValueError(f"max_rate must be in (0, {MAX_RATE_LIMIT:g}], got {max_rate}")
        super().__init__(**kwargs)
        self.pod_states = dict.fromkeys(STATES, 0)
        self.cluster = cluster
        self.namespace = cluster.namespace if namespace is None else namespace
        self.selector = selector
        self.max_rate = float(max_rate)
        #: Deltas sent to the views so far.
        self.deltas_sent = 0
        self._model = BoardModel(roles=roles)
        self._colors: dict[str, str] = {}
        self._feed: DeltaFeed[tuple[str, str]] = DeltaFeed()
        self.on_msg(self._on_view_message)
        self.observe(self._on_filter, "filter")
        if autostart:
            self.start()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Whether a task on the asyncio loop applies changes as they come."""
        return self._task is not None and not self._task.done()

    def start(self, *, timeout: float = 30.0) -> PodBoard:
        """Start the caches, show their contents, and go live on a running asyncio loop.

        Raises:
            TimeoutError: A cache could not list within ``timeout`` seconds.
        """
        if self._caches:
            return self
        loop = loop_or_none()
        self._feed = DeltaFeed(loop)  # wakes the loop running now, if any
        pods_ns = None if self.namespace == "*" else self.namespace
        api = self.cluster.api_client
        self._caches = [
            self._watch(WatchCache(api, api_version="v1", plural="nodes"), "node"),
            self._watch(WatchCache(api, api_version="v1", plural="pods", namespace=pods_ns,
                                   label_selector=self.selector), "pod")]
        for cache in self._caches:
            cache.start()
        for cache in self._caches:
            if not cache.wait_synced(timeout):
                self.stop()
                raise TimeoutError(f"could not list {cache.path} within {timeout:g} s: "
                                   f"{cache.last_error}")
        self._forget_missing()
        self._apply_pending()
        if loop is not None:
            self._task = loop.create_task(
                self._feed.pump(self._apply_pending, max_rate=self.max_rate,
                                on_error=self._show_error))
        return self

    def _forget_missing(self) -> None:
        """After a restart, drop what left the cluster while the board was stopped."""
        for cache, kind in zip(self._caches, ("node", "pod"), strict=True):
            present = {_key(kind, obj) for obj in cache.list()}
            known = self._model.nodes if kind == "node" else self._model.pods
            for key in set(known) - present:
                self._feed.put((kind, key), None)

    def _watch(self, cache: WatchCache, kind: str) -> WatchCache:
        feed = self._feed

        def enqueue(event: str, obj: dict[str, Any]) -> None:  # runs on the cache thread
            feed.put((kind, _key(kind, obj)), None if event == "DELETED" else obj)

        cache.on_event(enqueue)
        return cache

    def stop(self) -> None:
        """Stop live updates and the caches (the board keeps showing what it has)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        caches, self._caches = self._caches, []
        for cache in caches:
            cache.stop()

    def close(self) -> None:
        """Stop, then close the widget (its views disappear)."""
        self.stop()
        super().close()

    def __enter__(self) -> PodBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- applying changes --------------------------------------------------------------------

    def refresh(self, *, settle_caches: bool | None = None) -> int:
        """Apply pending changes now, on this thread; returns the board's ``version``.

        Args:
            settle_caches: First wait until the caches hold what the server lists (default:
                on a stepped embedded cluster, where events of the last ``cluster.sleep``
                may still be in flight).
        """
        if settle_caches is None:
            settle_caches = self.cluster.embedded and self.cluster.mode == "stepped"
        if settle_caches:
            for cache in self._caches:
                if not settle(cache):
                    log.warning("%s did not catch up with the server", cache)
        self._apply_pending()
        return self.version

    def _apply_pending(self) -> None:
        delta = self._model.apply(self._feed.take())
        if delta is None:
            return
        with self.hold_sync():
            self._update_summary()
        delta["images"] = self.images
        self.send({"type": "delta", **delta})
        self.deltas_sent += 1

    def _update_summary(self) -> None:
        model = self._model
        self.node_count, self.pod_count = len(model.nodes), len(model.pods)
        self.pod_states = model.state_counts()
        images = model.images()
        if images != set(self.images):
            self._colors = assign_colors(self._colors, images)
            self.images = {image: self._colors[image] for image in sorted(images)}
        if self.selected_pod and self.selected_pod not in model.pods:
            self.selected_pod = ""
        if self.selected_node and self.selected_node not in model.nodes:
            self.selected_node = ""
        self.match_count = self._count_matches()
        self.version = model.version

    def _count_matches(self) -> int:
        if not self.filter.strip():
            return len(self._model.pods)
        return sum(matches(pod, self.filter) for pod in self._model.pods.values())

    def _on_filter(self, _change: dict[str, Any]) -> None:
        self.match_count = self._count_matches()

    def _show_error(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}"

    # -- talking to views --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole board as sent to a view that connects (``type: "snapshot"``)."""
        return {"type": "snapshot", **self._model.snapshot(), "images": self.images}

    def _on_view_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        try:
            if isinstance(content, dict) and content.get("type") == "snapshot?":
                self.send(self.snapshot())
        except Exception as exc:
            log.exception("the PodBoard could not answer its view")
            self._show_error(exc)

    def __repr__(self) -> str:
        return (f"<kitlib.PodBoard namespace={self.namespace!r} nodes={self.node_count} "
                f"pods={self.pod_count} version={self.version} live={self.live}>")
