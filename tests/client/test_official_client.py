"""The official ``kubernetes`` Python client against a real embedded API server over HTTPS."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

import kitlib
from kitlib.client import from_api_exception
from kitlib.cluster.embedded import ClusterSettings
from kitlib.store.store import StoreSettings

if TYPE_CHECKING:
    from conftest import ThreadedServer

SIM = ("sim.kitlib.io", "v1alpha1")


@pytest.fixture(scope="module")
def api(api_server: ThreadedServer) -> k8s.ApiClient:
    return api_server.api_client()


@pytest.fixture(scope="module")
def v1(api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api)


@pytest.fixture
def ns(v1: k8s.CoreV1Api) -> str:
    """A fresh namespace per test, so tests sharing the server do not see each other's pods."""
    created = v1.create_namespace({"metadata": {"generateName": "t-"}})
    return str(created.metadata.name)


def pod(name: str, labels: dict[str, str] | None = None, *,
        image: str = "nginx:1.27") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def names(pods: k8s.V1PodList) -> list[str]:
    return sorted(p.metadata.name for p in pods.items)


@contextlib.contextmanager
def watching(func: Any, *args: Any,
             **kwargs: Any) -> Iterator[Generator[dict[str, Any], None, None]]:
    """``Watch().stream(...)`` whose response is closed even when the caller stops early."""
    stream = watch.Watch().stream(func, *args, **kwargs)
    try:
        yield stream
    finally:
        stream.close()


# -- create, list, selectors, paging ----------------------------------------------------

def test_a_created_pod_comes_back_with_server_filled_metadata(v1: k8s.CoreV1Api,
                                                              ns: str) -> None:
    created = v1.create_namespaced_pod(ns, pod("web", {"app": "web"}))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.namespace == ns
    assert created.status.phase == "Pending"
    read = v1.read_namespaced_pod("web", ns)
    assert read.metadata.uid == created.metadata.uid
    assert read.spec.containers[0].image == "nginx:1.27"


@pytest.mark.parametrize(("selector", "expected"), [
    ("a=b", ["p-b"]),
    ("a in (x,y)", ["p-x", "p-y"]),
    ("!a", ["p-none"]),
    ("a!=b", ["p-none", "p-x", "p-y"]),
])
def test_label_selectors_filter_the_list(v1: k8s.CoreV1Api, ns: str, selector: str,
                                         expected: list[str]) -> None:
    for name, labels in (("p-b", {"a": "b"}), ("p-x", {"a": "x"}), ("p-y", {"a": "y"}),
                         ("p-none", {})):
        v1.create_namespaced_pod(ns, pod(name, labels))
    assert names(v1.list_namespaced_pod(ns, label_selector=selector)) == expected


def test_field_selectors_on_name_and_phase_filter_the_list(v1: k8s.CoreV1Api, ns: str) -> None:
    for name in ("one", "two"):
        v1.create_namespaced_pod(ns, pod(name))
    assert names(v1.list_namespaced_pod(ns, field_selector="metadata.name=one")) == ["one"]
    assert names(v1.list_namespaced_pod(ns, field_selector="metadata.name!=one")) == ["two"]
    phases = {p.metadata.name: p.status.phase for p in v1.list_namespaced_pod(ns).items}
    for phase in ("Pending", "Running", "Succeeded"):
        expected = sorted(name for name, have in phases.items() if have == phase)
        assert names(v1.list_namespaced_pod(ns, field_selector=f"status.phase={phase}")) == \
            expected
    assert names(v1.list_namespaced_pod(
        ns, field_selector=f"metadata.name=one,status.phase={phases['one']}")) == ["one"]


def test_an_unsupported_field_selector_is_a_400_status(v1: k8s.CoreV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as caught:
        v1.list_namespaced_pod(ns, field_selector="spec.noSuchField=x")
    assert caught.value.status == 400
    status = orjson.loads(caught.value.body)
    assert status["kind"] == "Status"
    assert status["code"] == 400
    assert status["reason"] == "BadRequest"
    assert "field label not supported" in status["message"]
    assert isinstance(from_api_exception(caught.value), kitlib.errors.BadRequest)


def test_limit_and_continue_page_through_every_pod_exactly_once(v1: k8s.CoreV1Api,
                                                                ns: str) -> None:
    expected = [f"p{i}" for i in range(7)]
    for name in expected:
        v1.create_namespaced_pod(ns, pod(name))
    seen: list[str] = []
    rvs: set[str] = set()
    token: str | None = None
    pages = 0
    while True:
        page = v1.list_namespaced_pod(ns, limit=3, _continue=token) if token \
            else v1.list_namespaced_pod(ns, limit=3)
        pages += 1
        assert len(page.items) <= 3
        seen += [p.metadata.name for p in page.items]
        rvs.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == expected and len(seen) == len(set(seen))
    assert len(rvs) == 1, "every page reports the resourceVersion of the first"


# -- patch --------------------------------------------------------------------------------

def test_a_strategic_merge_patch_changes_one_container_image_and_adds_a_label(
        v1: k8s.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, pod("web", {"app": "web"}))
    patched = v1.patch_namespaced_pod("web", ns, {
        "metadata": {"labels": {"tier": "front"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}})
    assert patched.metadata.labels == {"app": "web", "tier": "front"}
    assert [(c.name, c.image) for c in patched.spec.containers] == [("app", "nginx:1.28")]


def test_a_merge_patch_sets_and_removes_labels(v1: k8s.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, pod("web", {"app": "web", "old": "yes"}))
    patched = v1.patch_namespaced_pod(
        "web", ns, {"metadata": {"labels": {"tier": "back", "old": None}}},
        _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"app": "web", "tier": "back"}


def test_a_json_patch_replaces_the_image_and_adds_a_label(v1: k8s.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, pod("web", {"app": "web"}))
    patched = v1.patch_namespaced_pod("web", ns, [
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.29"},
        {"op": "add", "path": "/metadata/labels/tier", "value": "mid"},
    ])
    assert patched.spec.containers[0].image == "nginx:1.29"
    assert patched.metadata.labels == {"app": "web", "tier": "mid"}
    assert v1.read_namespaced_pod("web", ns).spec.containers[0].image == "nginx:1.29"


# -- watch, delete --------------------------------------------------------------------------

def test_a_watch_from_a_list_rv_sees_added_modified_deleted_in_order(v1: k8s.CoreV1Api,
                                                                     ns: str) -> None:
    rv = v1.list_namespaced_pod(ns).metadata.resource_version
    v1.create_namespaced_pod(ns, pod("w"))
    v1.patch_namespaced_pod("w", ns, {"metadata": {"labels": {"seen": "yes"}}})
    deleted = v1.delete_namespaced_pod("w", ns, grace_period_seconds=0)
    assert deleted.metadata.name == "w"
    events = []
    with watching(v1.list_namespaced_pod, ns, resource_version=rv, timeout_seconds=5,
                  _request_timeout=10) as stream:
        for event in stream:
            obj = event["object"]
            events.append((event["type"], obj.metadata.name, int(obj.metadata.resource_version),
                           (obj.metadata.labels or {}).get("seen")))
            if event["type"] == "DELETED":
                break
    # The cluster's controllers (the scheduler, ...) may add MODIFIED events of their own.
    types = [e[0] for e in events]
    assert types[0] == "ADDED" and types[-1] == "DELETED"
    assert set(types[1:-1]) == {"MODIFIED"}
    assert {e[1] for e in events} == {"w"}
    assert [e[2] for e in events] == sorted({e[2] for e in events}), "RVs increase"
    labelled = [i for i, e in enumerate(events) if e[3] == "yes"]
    assert labelled and labelled[0] > 0 and events[labelled[0]][0] == "MODIFIED"
    assert events[-1][3] == "yes", "DELETED carries the last state"
    with pytest.raises(ApiException) as caught:
        v1.read_namespaced_pod("w", ns)
    assert caught.value.status == 404


def test_a_watch_without_rv_starts_with_the_existing_pods_then_follows(
        v1: k8s.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, pod("old"))
    events = []
    with watching(v1.list_namespaced_pod, ns, timeout_seconds=5, _request_timeout=10) as stream:
        for event in stream:
            events.append((event["type"], event["object"].metadata.name))
            if len(events) == 1:
                v1.create_namespaced_pod(ns, pod("new"))
            elif events[-1] == ("ADDED", "new"):
                break
    assert events[0] == ("ADDED", "old")
    assert [e for e in events if e[0] == "ADDED"] == [("ADDED", "old"), ("ADDED", "new")]


# -- dry run, conflicts, generateName ---------------------------------------------------------

def test_a_dry_run_create_returns_the_object_but_stores_nothing(v1: k8s.CoreV1Api,
                                                                ns: str) -> None:
    rv = v1.list_namespaced_pod(ns).metadata.resource_version
    answer = v1.create_namespaced_pod(ns, pod("ghost"), dry_run="All")
    assert answer.metadata.name == "ghost"
    listed = v1.list_namespaced_pod(ns)
    assert listed.items == []
    assert listed.metadata.resource_version == rv, "a dry run is not a write"
    with pytest.raises(ApiException) as caught:
        v1.read_namespaced_pod("ghost", ns)
    assert caught.value.status == 404


def test_replacing_with_a_stale_resource_version_is_a_409_conflict(v1: k8s.CoreV1Api,
                                                                   ns: str) -> None:
    v1.create_namespaced_pod(ns, pod("web"))
    stale = v1.read_namespaced_pod("web", ns)
    v1.patch_namespaced_pod("web", ns, {"metadata": {"labels": {"moved": "on"}}})
    stale.metadata.labels = {"mine": "yes"}
    with pytest.raises(ApiException) as caught:
        v1.replace_namespaced_pod("web", ns, stale)
    assert caught.value.status == 409
    status = orjson.loads(caught.value.body)
    assert status["reason"] == "Conflict"
    assert 'Operation cannot be fulfilled on pods "web"' in status["message"]
    error = from_api_exception(caught.value)
    assert isinstance(error, kitlib.errors.Conflict)
    assert error.code == 409
    assert v1.read_namespaced_pod("web", ns).metadata.labels == {"moved": "on"}


def test_creating_a_taken_name_is_409_already_exists(v1: k8s.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, pod("web"))
    with pytest.raises(ApiException) as caught:
        v1.create_namespaced_pod(ns, pod("web"))
    assert caught.value.status == 409
    assert isinstance(from_api_exception(caught.value), kitlib.errors.AlreadyExists)


def test_generate_name_gets_a_random_suffix(v1: k8s.CoreV1Api, ns: str) -> None:
    body = {"metadata": {"generateName": "worker-"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}}
    first, second = (v1.create_namespaced_pod(ns, body) for _ in range(2))
    for created in (first, second):
        assert created.metadata.name.startswith("worker-")
        assert len(created.metadata.name) == len("worker-") + 5
    assert first.metadata.name != second.metadata.name


# -- other APIs ------------------------------------------------------------------------------

def test_a_deployment_is_created_read_and_scaled_through_the_scale_subresource(
        api: k8s.ApiClient, ns: str) -> None:
    apps = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}})
    read = apps.read_namespaced_deployment("web", ns)
    assert read.spec.replicas == 1
    assert read.metadata.generation == 1
    scale = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    assert scale.kind == "Scale" and scale.api_version == "autoscaling/v1"
    assert scale.spec.replicas == 3
    assert scale.status.selector == "app=web"
    scaled = apps.read_namespaced_deployment("web", ns)
    assert scaled.spec.replicas == 3
    assert scaled.metadata.generation == 2
    assert apps.read_namespaced_deployment_scale("web", ns).spec.replicas == 3


def test_the_custom_objects_api_reads_and_advances_the_sim_clock(api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    clock = custom.get_cluster_custom_object(*SIM, "clocks", "cluster")
    assert clock["kind"] == "Clock" and clock["spec"]["mode"] == "stepped"
    start = clock["status"]["seconds"]
    listed = custom.list_cluster_custom_object(*SIM, "clocks")
    assert [c["metadata"]["name"] for c in listed["items"]] == ["cluster"]
    advance = custom.create_cluster_custom_object(*SIM, "clockadvances", {
        "apiVersion": "sim.kitlib.io/v1alpha1", "kind": "ClockAdvance",
        "metadata": {"generateName": "advance-"}, "spec": {"seconds": 30}})
    assert advance["status"]["startSeconds"] == start
    assert advance["status"]["endSeconds"] == start + 30
    assert custom.get_cluster_custom_object(*SIM, "clocks", "cluster")["status"]["seconds"] == \
        start + 30
    speed = custom.patch_cluster_custom_object(*SIM, "clocks", "cluster", {"spec": {"speed": 50}})
    assert speed["spec"]["speed"] == 50
    with pytest.raises(ApiException) as caught:
        custom.get_cluster_custom_object(*SIM, "clocks", "other")
    assert caught.value.status == 404


def test_keep_alive_requests_are_not_delayed_by_nagle(v1: k8s.CoreV1Api, ns: str) -> None:
    # Without TCP_NODELAY on the server's sockets every request on a kept-alive connection
    # waited ~40 ms for a delayed ACK; the fastest of ten shows it whatever the load.
    fastest = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        v1.read_namespace(ns)
        fastest = min(fastest, time.perf_counter() - start)
    assert fastest < 0.03


# -- 410 Expired and the relist pattern ------------------------------------------------------

def watch_with_relist(list_func: Any, *args: Any, resource_version: str,
                      **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Watch from ``resource_version``; on 410 Expired, list again and watch from the list's RV.

    Yields ``("RELIST", list)`` after each relist and ``(type, object)`` for every event: the
    list-then-watch loop of an informer, reduced to what a test needs.
    """
    rv = resource_version
    while True:
        try:
            with watching(list_func, *args, resource_version=rv, timeout_seconds=5,
                          _request_timeout=10) as stream:
                for event in stream:
                    rv = event["object"].metadata.resource_version
                    yield event["type"], event["object"]
            return
        except ApiException as exc:
            if exc.status != 410:
                raise
        listed = list_func(*args)
        rv = listed.metadata.resource_version
        yield "RELIST", listed


@pytest.fixture
def short_history(start_api_server: Any) -> ThreadedServer:
    server: ThreadedServer = start_api_server(
        cluster_settings=ClusterSettings(store=StoreSettings(history_size=5)))
    return server


def once_watched(server: ThreadedServer, action: Any) -> threading.Thread:
    """Run ``action`` in a thread as soon as the server has a watch open."""
    store = server.server.cluster.store

    def run() -> None:
        deadline = time.monotonic() + 10
        while server.call(store.watcher_count) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=run, name="write-once-watched")
    thread.start()
    return thread


def test_a_watch_from_an_expired_rv_gets_410_and_recovers_by_relisting(
        short_history: ThreadedServer) -> None:
    v1 = k8s.CoreV1Api(short_history.api_client())
    old_rv = v1.list_namespaced_pod("default").metadata.resource_version
    for i in range(12):
        v1.create_namespaced_pod("default", pod(f"p{i}"))

    # On the wire: HTTP 200 whose only event is an ERROR carrying a 410 Expired Status.
    raw = v1.list_namespaced_pod("default", watch=True, resource_version=old_rv,
                                 _preload_content=False, _request_timeout=10)
    try:
        assert raw.status == 200
        lines = raw.data.splitlines()
    finally:
        raw.release_conn()
    assert len(lines) == 1
    event = orjson.loads(lines[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert "too old resource version" in event["object"]["message"]

    # The official client retries once at the same RV, then raises ApiException(410).
    with pytest.raises(ApiException) as caught, \
            watching(v1.list_namespaced_pod, "default", resource_version=old_rv,
                     _request_timeout=10) as stream:
        next(stream)
    assert caught.value.status == 410

    # The relist pattern: list again, watch from the new RV, and see what happens next. The
    # writes wait for the new watch to be open: with a history of 5 events, writing before it
    # could expire the relisted RV as well.
    def write() -> None:
        v1.create_namespaced_pod("default", pod("after"))
        v1.delete_namespaced_pod("p0", "default", grace_period_seconds=0)

    seen: list[tuple[str, str]] = []
    relisted: list[list[str]] = []
    writer: threading.Thread | None = None
    try:
        for kind, obj in watch_with_relist(v1.list_namespaced_pod, "default",
                                           resource_version=old_rv):
            if kind == "RELIST":
                relisted.append(names(obj))
                writer = writer or once_watched(short_history, write)
                continue
            seen.append((kind, obj.metadata.name))
            if (kind, obj.metadata.name) == ("DELETED", "p0"):
                break
    finally:
        if writer is not None:
            writer.join(10)
    assert relisted == [sorted(f"p{i}" for i in range(12))]
    added = seen.index(("ADDED", "after"))
    assert seen[-1] == ("DELETED", "p0") and added < len(seen) - 1
    assert {kind for kind, _ in seen} <= {"ADDED", "MODIFIED", "DELETED"}
