"""kitlib's fast read path: raw JSON over the official client's connection pool.

The official client turns every object into pydantic models (about a
millisecond per pod); lists of thousands of pods must not pay that on the hot
path. ``get_json`` asks the same ``ApiClient`` (same TLS, token, pool) for the
bytes and parses them with ``orjson`` into plain dicts.

Large bodies are parsed with the cyclic garbage collector paused: parsing a
list of 10,000 pods makes hundreds of thousands of containers, and every 700
of them CPython would otherwise run a collection, some of which traverse the
growing (acyclic, all reachable) result again and again. Before the collector
is resumed, the fresh result is moved into its oldest generation (see
``_promote_to_oldest``): otherwise the first young collection after the parse
traverses all of it at once, and the middle one soon does again, which cost as
much as the parse itself (``benchmarks/list_pods_api.py``,
``docs/performance.md``). What callers get is unchanged: plain dicts and lists.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import orjson
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kitlib.client.errors import from_api_exception

__all__ = ["get_json", "loads", "resource_path"]

#: Bodies at least this large are parsed with the cyclic GC paused.
GC_PAUSE_BYTES = 1 << 20


class _GcPause:
    """Pause the cyclic GC (re-entrant and thread-safe among kitlib's callers).

    When the last pause ends, what was allocated meanwhile is promoted to the
    oldest generation and the collector is resumed, only if it was enabled when
    the first pause began: a program that disabled it keeps it off.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                _promote_to_oldest()
                if self._resume:
                    gc.enable()


def _promote_to_oldest() -> None:
    """Move every object the collector tracks into its oldest generation.

    ``gc.freeze()`` then ``gc.unfreeze()``: two constant-time list moves that
    also reset the young generation's allocation count (CPython 3.11-3.13). A
    parse result then waits for the next full collection, as any long-lived
    data does, instead of being traversed by the next young and middle
    collections first. The price: cyclic garbage that was young at that moment
    is reclaimed at the next full collection rather than the next young one.
    Skipped when the program has frozen objects itself (``gc.freeze()`` before
    forking, say): unfreezing would hand them back to the collector.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


_gc_pause = _GcPause()


def loads(data: bytes) -> Any:
    """``orjson.loads``, with the cyclic GC paused for bodies over ``GC_PAUSE_BYTES``."""
    if len(data) < GC_PAUSE_BYTES:
        return orjson.loads(data)
    with _gc_pause:
        return orjson.loads(data)


def resource_path(api_version: str, plural: str, namespace: str | None = None,
                  name: str | None = None) -> str:
    """``/api/v1/namespaces/ns/pods/x`` or ``/apis/apps/v1/deployments``."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    parts = [base]
    if namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
    return "/".join(parts)


def get_json(api_client: k8s.ApiClient, path: str, **query: Any) -> dict[str, Any]:
    """GET ``path`` and return the parsed JSON body (errors as ``kitlib.errors``).

    ``query`` holds the query parameters (``None``s dropped), except ``_request_timeout``:
    as on the official client's methods, total seconds or ``(connect, read)``.
    """
    request_timeout = query.pop("_request_timeout", None)
    params = [(k, v) for k, v in query.items() if v is not None]
    method, url, headers, body, _ = api_client.param_serialize(
        method="GET", resource_path=path, query_params=params,
        header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
    response = api_client.call_api(method, url, header_params=headers, body=body,
                                   _request_timeout=request_timeout)
    data = response.read()
    if not 200 <= response.status < 300:
        raise from_api_exception(ApiException(status=response.status, reason=response.reason,
                                              body=data.decode("utf-8", "replace")))
    parsed = loads(data)
    if not isinstance(parsed, dict):
        raise ValueError(f"GET {path} did not return a JSON object")
    return parsed
