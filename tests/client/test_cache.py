"""The watch-backed cache against a real ``kitlib serve`` over HTTPS."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client as k8s

from kitlib.client.cache import CacheSettings, WatchCache, nodes_frame, pods_frame
from kitlib.client.raw import get_json
from kitlib.cluster.embedded import ClusterSettings
from kitlib.model.errors import NotFound
from kitlib.store.store import StoreSettings

if TYPE_CHECKING:
    from conftest import ThreadedServer


@pytest.fixture(scope="module")
def api(api_server: ThreadedServer) -> k8s.ApiClient:
    return api_server.api_client()


@pytest.fixture(scope="module")
def v1(api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api)


@pytest.fixture
def ns(v1: k8s.CoreV1Api) -> str:
    created = v1.create_namespace({"metadata": {"generateName": "cache-"}})
    return str(created.metadata.name)


@pytest.fixture
def caches() -> Iterator[Callable[..., WatchCache]]:
    """Start ``WatchCache``s; every one is stopped (and its thread joined) afterwards."""
    started: list[WatchCache] = []

    def start(api: k8s.ApiClient, **options: Any) -> WatchCache:
        options.setdefault("api_version", "v1")
        options.setdefault("plural", "pods")
        cache = WatchCache(api, **options)
        started.append(cache)
        return cache

    yield start
    for cache in started:
        cache.stop()


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def snapshot(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for o in objects}


def fresh_list(api: k8s.ApiClient, ns: str, **query: Any) -> dict[tuple[str, str], str]:
    return snapshot(get_json(api, f"/api/v1/namespaces/{ns}/pods", **query)["items"])


def converges(cache: WatchCache, api: k8s.ApiClient, ns: str, **query: Any) -> None:
    wait_until(lambda: snapshot(cache.list()) == fresh_list(api, ns, **query))


# -- list, then watch --------------------------------------------------------------------

def test_the_cache_converges_to_a_fresh_list_after_creates_updates_and_deletes(
        api: k8s.ApiClient, v1: k8s.CoreV1Api, ns: str,
        caches: Callable[..., WatchCache]) -> None:
    for i in range(3):
        v1.create_namespaced_pod(ns, pod(f"before-{i}"))
    cache = caches(api, namespace=ns)
    events: list[tuple[str, str]] = []
    cache.on_event(lambda kind, obj: events.append((kind, obj["metadata"]["name"])))
    cache.start()
    assert cache.wait_synced(10)
    assert sorted(o["metadata"]["name"] for o in cache.list()) == [f"before-{i}" for i in
                                                                   range(3)]
    for i in range(3):
        v1.create_namespaced_pod(ns, pod(f"after-{i}"))
    v1.patch_namespaced_pod("before-0", ns, {"metadata": {"labels": {"tier": "web"}}})
    v1.delete_namespaced_pod("before-1", ns, grace_period_seconds=0)
    v1.delete_namespaced_pod("after-2", ns, grace_period_seconds=0)
    converges(cache, api, ns)
    assert cache.get(ns, "before-1") is None
    labelled = cache.get(ns, "before-0")
    assert labelled is not None and labelled["metadata"]["labels"] == {"tier": "web"}
    assert int(cache.resource_version) >= int(labelled["metadata"]["resourceVersion"])
    assert events[:3] == [("ADDED", f"before-{i}") for i in range(3)]
    assert ("DELETED", "before-1") in events and ("DELETED", "after-2") in events
    assert cache.relists == 0 and cache.last_error is None


def test_a_label_selector_keeps_only_matching_objects(
        api: k8s.ApiClient, v1: k8s.CoreV1Api, ns: str,
        caches: Callable[..., WatchCache]) -> None:
    cache = caches(api, namespace=ns, label_selector="app=web").start()
    assert cache.wait_synced(10)
    v1.create_namespaced_pod(ns, pod("web", {"app": "web"}))
    v1.create_namespaced_pod(ns, pod("db", {"app": "db"}))
    converges(cache, api, ns, labelSelector="app=web")
    assert [o["metadata"]["name"] for o in cache.list()] == ["web"]


def test_a_list_of_many_pages_reads_every_object_once(
        api_server: ThreadedServer, api: k8s.ApiClient,
        caches: Callable[..., WatchCache]) -> None:
    store = api_server.server.cluster.store

    def populate() -> None:  # in-process, on the server's loop: 1,200 API calls would be slow
        store.create("namespaces", {"metadata": {"name": "many"}})
        for i in range(1200):
            store.create("pods", {**pod(""), "metadata": {"name": f"p{i:04d}",
                                                          "namespace": "many"}})

    api_server.call(populate, timeout=60)
    cache = caches(api, namespace="many", settings=CacheSettings(page_size=500)).start()
    assert cache.wait_synced(30)
    assert list(cache.frame()["name"]) == [f"p{i:04d}" for i in range(1200)]
    converges(cache, api, "many")


def test_a_cluster_scoped_kind_is_keyed_by_name_alone(
        api: k8s.ApiClient, v1: k8s.CoreV1Api, ns: str,
        caches: Callable[..., WatchCache]) -> None:
    cache = caches(api, plural="namespaces").start()
    assert cache.wait_synced(10)
    found = cache.get(None, ns)
    assert found is not None and found["metadata"]["name"] == ns
    assert cache.get("", ns) is found


# -- relist, reconnect, failures -----------------------------------------------------------

def test_a_compacted_history_is_survived_by_relisting(
        start_api_server: Callable[..., ThreadedServer],
        caches: Callable[..., WatchCache]) -> None:
    server = start_api_server(
        cluster_settings=ClusterSettings(store=StoreSettings(history_size=5)))
    api = server.api_client()
    v1 = k8s.CoreV1Api(api)
    v1.create_namespaced_pod("default", pod("first"))
    cache = caches(api, namespace="default")

    # The handler runs on the cache's thread between the first list and its watch: twelve
    # writes there push the list's RV out of a five-event history, so the watch gets 410.
    def flood(kind: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == "first" and cache.relists == 0 and kind == "ADDED":
            for i in range(12):
                v1.create_namespaced_pod("default", pod(f"p{i}"))

    cache.on_event(flood)
    cache.start()
    assert cache.wait_synced(10)
    wait_until(lambda: cache.relists >= 1)
    converges(cache, api, "default")
    assert len(cache.list()) == 13
    v1.delete_namespaced_pod("p0", "default", grace_period_seconds=0)
    converges(cache, api, "default")


def test_the_cache_reconnects_when_the_server_ends_the_stream(
        api: k8s.ApiClient, v1: k8s.CoreV1Api, ns: str,
        caches: Callable[..., WatchCache]) -> None:
    settings = CacheSettings(watch_timeout=1, backoff_initial=0.05, backoff_max=0.2)
    cache = caches(api, namespace=ns, settings=settings).start()
    assert cache.wait_synced(10)
    wait_until(lambda: cache.watches >= 3)
    v1.create_namespaced_pod(ns, pod("late"))
    converges(cache, api, ns)
    assert cache.get(ns, "late") is not None
    assert cache.relists == 0


def test_a_failing_list_is_retried_and_reported_not_raised(
        api: k8s.ApiClient, caches: Callable[..., WatchCache]) -> None:
    settings = CacheSettings(backoff_initial=0.01, backoff_max=0.05)
    cache = caches(api, plural="nosuchthings", settings=settings).start()
    assert not cache.wait_synced(0.3)
    assert isinstance(cache.last_error, NotFound)


def test_a_failing_handler_is_skipped_and_the_cache_goes_on(
        api: k8s.ApiClient, v1: k8s.CoreV1Api, ns: str,
        caches: Callable[..., WatchCache], caplog: pytest.LogCaptureFixture) -> None:
    cache = caches(api, namespace=ns)
    seen: list[str] = []

    @cache.on_event
    def broken(kind: str, obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    cache.on_event(lambda kind, obj: seen.append(obj["metadata"]["name"]))
    cache.start()
    assert cache.wait_synced(10)
    v1.create_namespaced_pod(ns, pod("x"))
    wait_until(lambda: "x" in seen)
    assert "handler bug" in caplog.text


def test_stop_ends_an_idle_watch_and_joins_the_thread(
        api: k8s.ApiClient, ns: str) -> None:
    before = set(threading.enumerate())
    cache = WatchCache(api, api_version="v1", plural="pods", namespace=ns).start()
    assert cache.wait_synced(10)
    wait_until(lambda: cache.watches >= 1)
    started = time.monotonic()
    cache.stop()
    assert time.monotonic() - started < 5, "stop() waited for the watch to time out"
    assert set(threading.enumerate()) <= before


# -- DataFrames ------------------------------------------------------------------------------

def test_frame_takes_paths_or_functions_as_columns(
        api: k8s.ApiClient, v1: k8s.CoreV1Api, ns: str,
        caches: Callable[..., WatchCache]) -> None:
    v1.create_namespaced_pod(ns, pod("a", {"app": "web"}))
    cache = caches(api, namespace=ns).start()
    assert cache.wait_synced(10)
    frame = cache.frame(columns={"name": "metadata.name", "app": "metadata.labels.app",
                                 "missing": "status.no.such",
                                 "containers": lambda o: len(o["spec"]["containers"])})
    assert records(frame) == [{"name": "a", "app": "web", "missing": None,
                                         "containers": 1}]
    assert list(cache.frame(["metadata.name"]).columns) == ["metadata.name"]
    assert list(cache.frame().columns) == ["namespace", "name", "uid", "resource_version",
                                           "created"]


def records(frame: Any) -> list[dict[str, Any]]:
    """Rows as dicts, missing values as ``None`` (pandas shows them as NaN in string columns)."""
    rows: list[dict[str, Any]] = frame.astype(object).where(frame.notna(), None).to_dict(
        "records")
    return rows


RUNNING = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "web:2"},
                                                  {"name": "mesh", "image": "envoy:1"}]},
    "status": {"phase": "Running", "podIP": "10.0.0.7",
               "conditions": [{"type": "Ready", "status": "True"}],
               "containerStatuses": [{"name": "app", "restartCount": 2},
                                     {"name": "mesh", "restartCount": 1}]},
}
PENDING = {"metadata": {"name": "web-2", "namespace": "prod"},
           "spec": {"containers": [{"name": "app", "image": "web:2"}]},
           "status": {"phase": "Pending"}}


def test_pods_frame_has_one_row_per_pod_with_its_state() -> None:
    assert records(pods_frame([RUNNING, PENDING])) == [
        {"name": "web-1", "namespace": "prod", "node": "node-1", "phase": "Running",
         "ready": True, "restarts": 3, "ip": "10.0.0.7", "images": "web:2,envoy:1"},
        {"name": "web-2", "namespace": "prod", "node": None, "phase": "Pending",
         "ready": False, "restarts": 0, "ip": None, "images": "web:2"},
    ]
    assert list(pods_frame([]).columns) == ["name", "namespace", "node", "phase", "ready",
                                            "restarts", "ip", "images"]


def test_nodes_frame_has_readiness_schedulability_and_allocatable() -> None:
    node = {"metadata": {"name": "n1"},
            "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}],
                       "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}}
    assert records(nodes_frame([node])) == [
        {"name": "n1", "ready": False, "unschedulable": True, "taints": 1, "cpu": "4",
         "memory": "16Gi", "pods": "110"}]
