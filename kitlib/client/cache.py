"""A watch-backed cache of one kind: list, then watch, in a background thread.

``WatchCache`` is kitlib's informer. For one kind (``api_version`` + ``plural``,
optionally one namespace and a label selector) it

1. LISTs through ``kitlib.client.raw.get_json`` (raw bytes + ``orjson``, paged
   with ``limit``/``continue``; every page shares the first page's RV);
2. WATCHes from the list's ``resourceVersion`` with ``allowWatchBookmarks=true``
   over a raw streaming request on the official ``ApiClient``'s pool, parsing
   each newline-delimited event with ``orjson`` — never the client's model
   deserialization (about a millisecond a pod);
3. applies ``ADDED``/``MODIFIED``/``DELETED`` to a dict keyed by
   ``(namespace, name)`` (``""`` for cluster-scoped kinds) and tracks the last
   RV, bookmarks included;
4. on 410 Expired (an ``ERROR`` event with code 410, or HTTP 410) lists again;
   when a stream ends (``timeoutSeconds``) or fails it watches again from the
   last RV, after a capped exponential backoff. The backoff returns to its
   first step after any stream that delivered an event (a bookmark counts).

Invariants: after ``wait_synced()`` the contents are a list at some RV plus
every later event up to ``resource_version``, so they converge to what a fresh
list returns. A relist replaces the contents and tells handlers the
difference (``DELETED`` for what vanished, ``ADDED``/``MODIFIED`` for the rest),
so a handler sees one consistent story across relists. Handlers run on the
cache's thread, after the contents changed; one that raises is logged and
skipped. Returned objects are shared with the cache: treat them as read-only.

Waiting between retries is wall time on the stop event, not ``cluster.sleep``:
it waits for a server, not for the simulation, and ``stop()`` ends it at once.
There is no jitter (no ambient randomness); one cache per kind needs none.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kitlib.client.errors import from_api_exception
from kitlib.client.raw import get_json, loads, resource_path
from kitlib.model.errors import from_status

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CacheSettings", "WatchCache", "nodes_frame", "pods_frame"]

log = logging.getLogger(__name__)

Key = tuple[str, str]
Handler = Callable[[str, dict[str, Any]], None]
Column = str | Callable[[dict[str, Any]], Any]
Objects = list[dict[str, Any]]

#: ``frame()``'s default columns: dotted paths into each object.
DEFAULT_COLUMNS: dict[str, Column] = {
    "namespace": "metadata.namespace", "name": "metadata.name", "uid": "metadata.uid",
    "resource_version": "metadata.resourceVersion", "created": "metadata.creationTimestamp",
}


@dataclass(frozen=True)
class CacheSettings:
    """Tunables of a ``WatchCache`` (seconds are wall seconds).

    ``page_size``: ``limit`` of each LIST page (client-go's 500; ``None``: one page).
    ``watch_timeout``: the ``timeoutSeconds`` asked of each watch; the server ends the
    stream then and the cache watches again from its last RV.
    ``backoff_initial``/``backoff_max``: the first wait after a failure and its cap; it
    doubles on each failure in a row. ``connect_timeout``: for every request;
    ``list_timeout``: the whole of one LIST page.
    """

    page_size: int | None = 500
    watch_timeout: float = 300.0
    backoff_initial: float = 0.2
    backoff_max: float = 30.0
    connect_timeout: float = 10.0
    list_timeout: float = 120.0


class _Relist(Exception):
    """The watch's RV is too old (410 Expired): list again."""


class WatchCache:
    """An informer-like cache of one kind; ``start()`` it, ``wait_synced()``, read, ``stop()``.

    ``api_client`` is the official client's ``ApiClient`` (``cluster.api_client``);
    ``namespace=None`` covers every namespace (or a cluster-scoped kind).
    """

    def __init__(self, api_client: k8s.ApiClient, *, api_version: str, plural: str,
                 namespace: str | None = None, label_selector: str | None = None,
                 settings: CacheSettings | None = None) -> None:
        self.api_client = api_client
        self.path = resource_path(api_version, plural, namespace)
        self.label_selector = label_selector
        self.settings = settings or CacheSettings()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._handlers: list[Handler] = []
        self._rv = ""
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._thread: threading.Thread | None = None
        #: Lists after the first (410 Expired), watches opened, and the last failure.
        self.relists = 0
        self.watches = 0
        self.last_error: BaseException | None = None

    # -- reading ---------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or ``None``; ``namespace`` is ``None`` or ``""`` for cluster-scoped."""
        with self._lock:
            return self._objects.get((namespace or "", name))

    def list(self) -> Objects:
        """Every object, ordered by (namespace, name)."""
        with self._lock:
            return [self._objects[k] for k in sorted(self._objects)]

    @property
    def resource_version(self) -> str:
        """The RV the contents are at: the list's, then each event's or bookmark's."""
        return self._rv

    def frame(self, columns: Mapping[str, Column] | Sequence[str] | None = None
              ) -> pd.DataFrame:
        """A DataFrame, one row per object: ``columns`` maps names to dotted paths or
        functions of the object (a sequence of paths names each column by its path)."""
        return objects_frame(self.list(), columns=columns)

    def on_event(self, handler: Handler) -> Handler:
        """Call ``handler(type, obj)`` on the cache's thread after each change (a decorator)."""
        self._handlers.append(handler)
        return handler

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until the first list is in; ``False`` if ``timeout`` passed first."""
        return self._synced.wait(timeout)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> WatchCache:
        if self._thread is not None:
            raise RuntimeError("this cache was already started")
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"kitlib-cache {self.path}")
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread (cutting an open watch short) and join it."""
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            _shutdown(response)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the cache thread for {self.path} did not stop")

    def __enter__(self) -> WatchCache:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.settings.backoff_initial
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                delivered = self._watch()
            except _Relist:
                need_list, delivered = True, True
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("cache %s: %s; retrying in %.1f s", self.path, exc, delay)
                self.last_error, delivered = exc, False
            if delivered:
                delay = self.settings.backoff_initial
                continue
            self._stop.wait(delay)
            delay = min(delay * 2, self.settings.backoff_max)

    def _relist(self) -> None:
        items, rv = self._list_all()
        new = {_key(obj): obj for obj in items}
        with self._lock:
            old, self._objects, self._rv = self._objects, new, rv
        if self._synced.is_set():
            self.relists += 1
        self._synced.set()
        for key, obj in old.items():
            if key not in new:
                self._notify("DELETED", obj)
        for key, obj in new.items():
            before = old.get(key)
            if before is None:
                self._notify("ADDED", obj)
            elif _rv_of(before) != _rv_of(obj):
                self._notify("MODIFIED", obj)

    def _list_all(self) -> tuple[Objects, str]:
        items: Objects = []
        token: str | None = None
        rv = ""
        timeout = (self.settings.connect_timeout, self.settings.list_timeout)
        while True:
            page = get_json(self.api_client, self.path, labelSelector=self.label_selector,
                            limit=self.settings.page_size, _request_timeout=timeout,
                            **{"continue": token})
            items += page.get("items") or []
            meta = page.get("metadata") or {}
            rv = rv or str(meta.get("resourceVersion") or "")
            token = meta.get("continue") or None
            if not token:
                return items, rv

    def _watch(self) -> bool:
        """One watch from the current RV; ``True`` if it delivered any event."""
        response = self._open_watch()
        delivered, clean = False, False
        try:
            for line in _lines(response):
                self._apply(loads(line))
                delivered = True
            clean = not self._stop.is_set()  # a stream cut by stop() is not reusable
        finally:
            with self._lock:
                self._response = None
            _release(response, clean=clean)
        return delivered

    def _open_watch(self) -> urllib3.BaseHTTPResponse:
        query = [("watch", "true"), ("allowWatchBookmarks", "true"),
                 ("resourceVersion", self._rv),
                 ("timeoutSeconds", str(max(1, round(self.settings.watch_timeout))))]
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        method, url, headers, body, _ = self.api_client.param_serialize(
            method="GET", resource_path=self.path, query_params=query,
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        read_timeout = self.settings.watch_timeout + self.settings.connect_timeout + 30
        rest = self.api_client.call_api(method, url, header_params=headers, body=body,
                                        _request_timeout=(self.settings.connect_timeout,
                                                          read_timeout))
        response: urllib3.BaseHTTPResponse = rest.response
        if rest.status != 200:
            data = response.read()
            _release(response, clean=True)
            if rest.status == 410:
                raise _Relist()
            raise from_api_exception(ApiException(status=rest.status, reason=rest.reason,
                                                  body=data.decode("utf-8", "replace")))
        with self._lock:
            self._response = response
        if self._stop.is_set():  # stop() ran before the response was visible to it
            _shutdown(response)
        self.watches += 1
        return response

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:  # Expired (or Gone): the RV left the history
                raise _Relist()
            raise from_status(obj, code=int(obj.get("code") or 500))
        rv = _rv_of(obj)
        if kind == "BOOKMARK":
            self._rv = rv or self._rv
            return
        key = _key(obj)
        with self._lock:
            if kind == "DELETED":
                self._objects.pop(key, None)
            else:
                self._objects[key] = obj
            self._rv = rv or self._rv
        self._notify(str(kind), obj)

    def _notify(self, kind: str, obj: dict[str, Any]) -> None:
        for handler in self._handlers:
            try:
                handler(kind, obj)
            except Exception:
                log.exception("cache %s: handler %r failed on %s", self.path, handler, kind)

    def __repr__(self) -> str:
        return (f"<kitlib.WatchCache {self.path} objects={len(self._objects)} "
                f"rv={self._rv!r} synced={self._synced.is_set()}>")


# -- the stream ----------------------------------------------------------------------------

def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Newline-delimited events as they arrive (``read1``: no waiting for a full buffer)."""
    pending = b""
    while True:
        data = response.read1(1 << 16)
        if not data:
            if pending.strip():
                raise urllib3.exceptions.ProtocolError("the watch ended inside an event")
            return
        pending += data
        if b"\n" not in data:
            continue
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line


def _shutdown(response: urllib3.BaseHTTPResponse) -> None:
    """Cut a blocked read short from another thread (it then sees the end of the stream)."""
    with contextlib.suppress(AttributeError, ValueError, RuntimeError, OSError):
        response.shutdown()


def _release(response: urllib3.BaseHTTPResponse, *, clean: bool) -> None:
    """Give the connection back: reusable after a complete body, closed otherwise."""
    if not clean:
        response.close()
    response.release_conn()


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _rv_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


# -- DataFrames ------------------------------------------------------------------------------

def dig(obj: Any, path: str) -> Any:
    """``dig(pod, "status.podIP")``: ``None`` where any step is missing."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def objects_frame(objects: Iterable[dict[str, Any]], *,
                  columns: Mapping[str, Column] | Sequence[str] | None = None
                  ) -> pd.DataFrame:
    """One row per object; see ``WatchCache.frame``."""
    import pandas as pd

    if columns is None:
        columns = DEFAULT_COLUMNS
    elif not isinstance(columns, Mapping):
        columns = {path: path for path in columns}
    getters = {name: (lambda o, p=col: dig(o, p)) if isinstance(col, str) else col
               for name, col in columns.items()}
    rows = [{name: get(obj) for name, get in getters.items()} for obj in objects]
    return pd.DataFrame(rows, columns=list(getters))


def _pod_row(pod: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = (pod.get(k) or {} for k in ("metadata", "spec", "status"))
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    restarts = sum(int(c.get("restartCount") or 0)
                   for c in status.get("containerStatuses") or [])
    return {"name": meta.get("name"), "namespace": meta.get("namespace"),
            "node": spec.get("nodeName"), "phase": status.get("phase"),
            "ready": conditions.get("Ready") == "True", "restarts": restarts,
            "ip": status.get("podIP"),
            "images": ",".join(str(c.get("image")) for c in spec.get("containers") or [])}


POD_COLUMNS = ("name", "namespace", "node", "phase", "ready", "restarts", "ip", "images")


def pods_frame(objects: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per pod: name, namespace, node, phase, ready (the Ready condition),
    restarts (summed over containers), ip, images (the containers' images joined by ``,``)."""
    import pandas as pd

    return pd.DataFrame([_pod_row(p) for p in objects], columns=list(POD_COLUMNS))


def _node_row(node: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = (node.get(k) or {} for k in ("metadata", "spec", "status"))
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    allocatable = status.get("allocatable") or {}
    return {"name": meta.get("name"), "ready": conditions.get("Ready") == "True",
            "unschedulable": bool(spec.get("unschedulable")),
            "taints": len(spec.get("taints") or []), "cpu": allocatable.get("cpu"),
            "memory": allocatable.get("memory"), "pods": allocatable.get("pods")}


NODE_COLUMNS = ("name", "ready", "unschedulable", "taints", "cpu", "memory", "pods")


def nodes_frame(objects: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per node: name, ready, unschedulable, taints (a count), and allocatable
    cpu, memory and pods as the API gives them (quantity strings)."""
    import pandas as pd

    return pd.DataFrame([_node_row(n) for n in objects], columns=list(NODE_COLUMNS))

