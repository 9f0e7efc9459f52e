"""Hostile and malformed input, case by case (issue 9, item 4).

Every case must get the right 4xx ``Status`` (kind Status, apiVersion v1,
status Failure, a reason, the HTTP code, a message that says what to fix), and
after each batch the server still serves, the store passes
``verify_integrity()``, the objects stored before the batch are unchanged and
memory has not grown without bound. The limits themselves are documented in
``kitlib.model.limits`` (body and object size, nesting depth, JSON patch size).

Request-level cases run in-process (Starlette's test client over the same ASGI
app); the connection-level ones (slowloris, a watch that is never read, a
watch whose client goes away) run against a real ``EmbeddedServer`` over plain
HTTP on loopback, with raw sockets, because only there do bytes arrive slowly.
"""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import psutil
import pytest

from kitlib.apiserver import app as app_module
from kitlib.apiserver import protocol
from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.settings import ClusterSettings
from kitlib.model.limits import (
    MAX_BODY_BYTES,
    MAX_JSON_PATCH_OPERATIONS,
    MAX_NESTING_DEPTH,
)
from kitlib.store.store import StoreSettings
from tests.reliability.appclient import app_client

TOKEN = "hostile-token"
NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
CMS = f"/api/v1/namespaces/{NS}/configmaps"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
JSON = {"Content-Type": "application/json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
#: RSS growth allowed over one hostile batch: a few request buffers, never the gigabytes
#: a patch bomb would take.
RSS_BOUND = 200 * 1024 * 1024


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    """``{"a":{"a":…leaf…}}``, ``depth`` objects deep, built as bytes (orjson would refuse)."""
    return b'{"a":' * depth + leaf + b"}" * depth


class Harness:
    """The app over a fresh cluster, with objects stored before any hostile request."""

    def __init__(self) -> None:
        self.cluster = EmbeddedCluster()
        self.http = app_client(self.cluster, TOKEN)
        for path, body in ((PODS, pod("web")), (DEPLOYMENTS, deployment("d")),
                           (CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "cm"}, "data": {"k": "v"}})):
            assert self.http.post(path, content=orjson.dumps(body), headers=JSON).status_code \
                == 201
        self.known = self.snapshot()
        self.rss = _rss()

    def snapshot(self) -> dict[str, bytes]:
        return {path: self.http.get(path).content for path in
                (f"{PODS}/web", f"{DEPLOYMENTS}/d", f"{CMS}/cm")}

    def check_unharmed(self) -> None:
        """The server serves, the store is intact, the known objects are unchanged."""
        assert self.http.get("/healthz").status_code == 200
        assert self.cluster.store.verify_integrity() == []
        assert self.snapshot() == self.known

    def check_memory(self) -> None:
        """Memory grew by less than ``RSS_BOUND`` over every hostile batch of the module."""
        gc.collect()
        assert _rss() - self.rss < RSS_BOUND


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


@pytest.fixture(scope="module")
def shared() -> Iterator[Harness]:
    h = Harness()
    with h.http:
        yield h
    h.check_memory()


@pytest.fixture
def harness(shared: Harness) -> Iterator[Harness]:
    """The module's harness, checked unharmed after every test (each test is a batch)."""
    yield shared
    shared.check_unharmed()


def status(response: Any, code: int, reason: str | None = None) -> dict[str, Any]:
    """Assert a Kubernetes ``Status`` failure with this code (and reason); return it."""
    assert response.status_code == code, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    body = dict(response.json())
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == code and body["reason"]
    if reason is not None:
        assert body["reason"] == reason
    assert len(body["message"]) > 20, body["message"]
    return body


# -- sizes ------------------------------------------------------------------------------


def test_a_body_over_3_mib_is_413_with_upstream_message(harness: Harness) -> None:
    big = b'{"a":"' + b"x" * MAX_BODY_BYTES + b'"}'
    body = status(harness.http.post(CMS, content=big, headers=JSON), 413,
                  "RequestEntityTooLarge")
    assert body["message"].startswith("Request entity too large: limit is 3145728")


def test_a_chunked_body_over_the_limit_is_413_too(harness: Harness) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (1024 * 1024)

    status(harness.http.post(CMS, content=chunks(), headers=JSON), 413, "RequestEntityTooLarge")


def test_a_patch_may_not_grow_an_object_past_the_object_limit(harness: Harness) -> None:
    arg = "x" * (2 * 1024 * 1024)
    grow = {"spec": {"template": {"spec": {"containers": [{"name": "c", "args": [arg]}]}}}}
    assert harness.http.post(DEPLOYMENTS, content=orjson.dumps(deployment("grow")),
                             headers=JSON).status_code == 201
    assert harness.http.patch(f"{DEPLOYMENTS}/grow", content=orjson.dumps(grow),
                              headers=STRATEGIC).status_code == 200
    more = {"spec": {"template": {"spec": {"containers": [{"name": "d", "image": "x",
                                                          "args": [arg[:1_500_000]]}]}}}}
    body = status(harness.http.patch(f"{DEPLOYMENTS}/grow", content=orjson.dumps(more),
                                     headers=STRATEGIC), 413, "RequestEntityTooLarge")
    assert "patched object would be larger than" in body["message"]


# -- nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH + 1, 300, 900, 5000])
def test_deeply_nested_bodies_are_400_on_every_write(harness: Harness, depth: int) -> None:
    deep = nested(depth)
    spec = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"},"spec":' + deep + b"}"
    status(harness.http.post(PODS, content=spec, headers=JSON), 400, "BadRequest")
    for headers in (MERGE, STRATEGIC):
        body = status(harness.http.patch(f"{PODS}/web", content=b'{"spec":' + deep + b"}",
                                         headers=headers), 400, "BadRequest")
        assert "nested" in body["message"] or "depth" in body["message"]


def test_deep_yaml_is_400(harness: Harness) -> None:
    deep = b"a:\n" + b"".join(b"  " * i + b"a:\n" for i in range(1, 150)) + b"  " * 150 + b"1\n"
    status(harness.http.post(CMS, content=deep, headers={"Content-Type": "application/yaml"}),
           400, "BadRequest")


def test_nesting_at_the_limit_is_accepted(harness: Harness) -> None:
    """The limit refuses nothing a real object needs: 100 levels still decode."""
    annotations = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":' + \
        nested(MAX_NESTING_DEPTH - 2) + b"}"
    response = harness.http.post(PODS, content=annotations, headers=JSON)
    assert response.status_code == 422  # decoded; the pod has no containers


# -- patch bombs --------------------------------------------------------------------------


def test_a_json_patch_with_too_many_operations_is_413(harness: Harness) -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    body = status(harness.http.patch(f"{PODS}/web", content=orjson.dumps(ops),
                                     headers=JSON_PATCH), 413, "RequestEntityTooLarge")
    assert body["message"].startswith(
        f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got")


@pytest.mark.parametrize(("target", "seed", "into"), [
    ("/metadata/annotations", {"x": "y" * 1000}, "/metadata/annotations/c{i}"),
    ("/spec/containers/0/args", ["y" * 1000], "/spec/containers/0/args/-"),
])
def test_a_json_patch_copy_bomb_is_413_before_it_costs_memory(
        harness: Harness, target: str, seed: Any, into: str) -> None:
    """Each copy doubles the member: 40 of them would be a terabyte."""
    ops: list[dict[str, Any]] = [{"op": "add", "path": target, "value": seed}]
    ops += [{"op": "copy", "from": target, "path": into.format(i=i)} for i in range(40)]
    body = status(harness.http.patch(f"{PODS}/web", content=orjson.dumps(ops),
                                     headers=JSON_PATCH), 413, "RequestEntityTooLarge")
    assert "copy operations of this patch duplicate more than" in body["message"]


def test_a_json_patch_that_copies_a_member_into_itself_stops_at_the_depth_limit(
        harness: Harness) -> None:
    ops: list[dict[str, Any]] = [{"op": "add", "path": "/metadata/annotations",
                                  "value": {"x": {}}}]
    ops += [{"op": "copy", "from": "/metadata/annotations",
             "path": "/metadata/annotations" + "/x" * (i + 1)} for i in range(40)]
    body = status(harness.http.patch(f"{PODS}/web", content=orjson.dumps(ops),
                                     headers=JSON_PATCH), 400, "BadRequest")
    assert "levels deep" in body["message"]


def test_a_strategic_merge_on_a_long_list_is_answered(harness: Harness) -> None:
    containers = [{"name": f"c{i}", "image": "x", "$patch": "delete" if i % 2 else "merge"}
                  for i in range(5000)]
    patch = {"spec": {"template": {"spec": {"containers": containers}}}}
    response = harness.http.patch(f"{DEPLOYMENTS}/d", content=orjson.dumps(patch),
                                  headers=STRATEGIC)
    status(response, 400)


def test_a_huge_merge_patch_fan_out_is_refused_by_validation(harness: Harness) -> None:
    labels = {f"k{i}": {"x": i} for i in range(20_000)}
    status(harness.http.patch(f"{PODS}/web", content=orjson.dumps({"metadata": {
        "labels": labels}}), headers=MERGE), 400, "BadRequest")


# -- wrong shapes the fuzz found -----------------------------------------------------------


def test_a_null_metadata_on_update_and_apply_is_not_a_500(harness: Harness) -> None:
    """Found by the fuzz: ``"metadata": null`` on PUT was a 500 (TypeError)."""
    body = {**deployment("d"), "metadata": None}
    for method, headers, query in (("PUT", JSON, ""),
                                   ("PATCH", {"Content-Type": "application/apply-patch+yaml"},
                                    "?fieldManager=fuzz")):
        response = harness.http.request(method, f"{DEPLOYMENTS}/nd{query}",
                                        content=orjson.dumps(body), headers=headers)
        assert response.status_code in (201, 404), response.text
    status(harness.http.put(f"{DEPLOYMENTS}/d", content=orjson.dumps(
        {**deployment("d"), "kind": "Service", "metadata": "x"}), headers=JSON), 400)


@pytest.mark.parametrize(("content_type", "patch"), [
    ("application/json-patch+json", [{"op": "replace", "path": "", "value": 1}]),
    ("application/merge-patch+json", [1]), ("application/strategic-merge-patch+json", [1]),
    ("application/merge-patch+json", {"spec": [1]}),
    ("application/merge-patch+json", {"metadata": "x", "spec": {"replicas": 2}}),
    ("application/merge-patch+json", {"spec": {"replicas": 2**31}}),
])
def test_a_scale_patch_of_the_wrong_shape_is_400(harness: Harness, content_type: str,
                                                 patch: Any) -> None:
    status(harness.http.patch(f"{DEPLOYMENTS}/d/scale", content=orjson.dumps(patch),
                              headers={"Content-Type": content_type}), 400, "BadRequest")


def test_a_replica_count_beyond_int32_is_400_as_upstream(harness: Harness) -> None:
    body = status(harness.http.post(DEPLOYMENTS, content=orjson.dumps(
        {**deployment("huge"), "spec": {**deployment("huge")["spec"], "replicas": 2**31}}),
        headers=JSON), 400, "BadRequest")
    assert "does not fit an int32" in body["message"]


# -- names and paths ----------------------------------------------------------------------


HOSTILE_SEGMENTS = ["..%2F..%2Fsecrets", "%2e%2e", "%2e", "a%00b", "a%2Fb", "%25", "a%0Ab"]


@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "POST"])
def test_path_traversal_in_names_is_404(harness: Harness, segment: str, method: str) -> None:
    body = status(harness.http.request(method, f"{PODS}/{segment}", content=orjson.dumps(
        pod("web")), headers=MERGE if method == "PATCH" else JSON), 404, "NotFound")
    assert "in the path" in body["message"]


@pytest.mark.parametrize("namespace", ["..%2Fkube-system", "", "%2e%2e"])
def test_path_traversal_in_namespaces_is_404(harness: Harness, namespace: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        status(harness.http.request(method, f"/api/v1/namespaces/{namespace}/pods",
                                    content=orjson.dumps(pod("x")), headers=JSON), 404)


def test_a_very_long_name_is_404_on_read_and_422_on_create(harness: Harness) -> None:
    name = "a" * 5000
    status(harness.http.get(f"{PODS}/{name}"), 404, "NotFound")
    body = status(harness.http.post(PODS, content=orjson.dumps(pod(name)), headers=JSON), 422)
    assert "metadata.name" in body["message"]


@pytest.mark.parametrize("meta", [
    {"name": "Web_1"}, {"name": "a\u0000b"}, {"name": "../x"},
    {"name": "ok", "labels": {"k": "bad value!"}}, {"name": "ok", "labels": {"bad key!": "v"}},
    {"name": "ok", "labels": {"k": "v" * 64}}, {"name": "ok", "annotations": {"k": "v" * 300_000}},
])
def test_invalid_names_and_label_values_are_422(harness: Harness,
                                                meta: dict[str, Any]) -> None:
    body = {**pod("x"), "metadata": meta}
    status(harness.http.post(PODS, content=orjson.dumps(body), headers=JSON), 422, "Invalid")


@pytest.mark.parametrize("path", ["/apis/nope.example.com/v1/things", "/apis/apps/v9/deployments",
                                  "/api/v2/pods", "/apis/apps/v1/nothings",
                                  f"{PODS}/web/nosuchsubresource", "/apis//v1/x"])
def test_unknown_groups_versions_and_kinds_are_404(harness: Harness, path: str) -> None:
    status(harness.http.get(path), 404, "NotFound")
    status(harness.http.post(path, content=orjson.dumps(pod("x")), headers=JSON), 404)


# -- content types and bodies ------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data",
                                          "application/x-www-form-urlencoded"])
def test_a_wrong_content_type_is_415(harness: Harness, content_type: str) -> None:
    body = status(harness.http.post(PODS, content=orjson.dumps(pod("x")),
                                    headers={"Content-Type": content_type}), 415)
    assert "application/json" in body["message"]


def test_a_patch_with_a_non_patch_content_type_is_415(harness: Harness) -> None:
    status(harness.http.patch(f"{PODS}/web", content=b"{}", headers=JSON), 415)


@pytest.mark.parametrize("raw", [b"\xff\xfe", b'{"a": NaN}', b"{", b"[1,]", b'{"a":1e400}'])
def test_malformed_json_is_400(harness: Harness, raw: bytes) -> None:
    body = status(harness.http.post(PODS, content=raw, headers=JSON), 400, "BadRequest")
    assert "not valid JSON" in body["message"]


def test_yaml_keys_are_converted_like_upstream(harness: Harness) -> None:
    """Non-string keys become strings and timestamps stay strings (sigs.k8s.io/yaml)."""
    doc = (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: yk, annotations: {null: x}}\n"
           b"data: {1: one, true: 'yes', when: 2024-01-01}\n")
    created = harness.http.post(CMS, content=doc, headers={"Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    assert created.json()["data"] == {"1": "one", "true": "yes", "when": "2024-01-01"}
    status(harness.http.post(CMS, content=b"data: {? [a]: b}\n",
                             headers={"Content-Type": "application/yaml"}), 400)


# -- query parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(("query", "code"), [
    ("limit=abc", 400), ("continue=garbage", 400), ("resourceVersion=abc", 400),
    ("resourceVersion=-1", 400), ("resourceVersionMatch=Exact", 422),
    ("resourceVersion=1&resourceVersionMatch=Sometimes", 422), ("labelSelector=a%3D%3D%3Db", 400),
    ("labelSelector=!!!", 400), ("labelSelector=" + "k" * 64 + "%3Dv", 400),
    ("labelSelector=a+in+(b+c)", 400), ("fieldSelector=spec.unknown%3Dx", 400),
    ("fieldSelector=metadata.name", 400), ("watch=true&timeoutSeconds=nan", 400),
    ("watch=true&timeoutSeconds=1e999", 400), ("watch=true&resourceVersion=abc", 400),
    ("dryRun=Some", 400), ("fieldValidation=Loose", 400),
])
def test_bad_query_parameters_are_4xx(harness: Harness, query: str, code: int) -> None:
    if "dryRun" in query or "fieldValidation" in query:
        response = harness.http.post(f"{PODS}?{query}", content=orjson.dumps(pod("q")),
                                     headers=JSON)
    else:
        response = harness.http.get(f"{PODS}?{query}")
    status(response, code)


def test_a_negative_limit_means_no_limit_as_upstream(harness: Harness) -> None:
    """Upstream does not validate ``limit``: zero or negative means "no pagination"."""
    everything = harness.http.get(PODS).json()["items"]
    listed = harness.http.get(f"{PODS}?limit=-1")
    assert listed.status_code == 200
    assert listed.json()["items"] == everything and "continue" not in listed.json()["metadata"]


# -- slow and vanishing clients (a real server on loopback) --------------------------------


@pytest.fixture
def plain(start_api_server: Callable[..., Any]) -> Any:
    return start_api_server(insecure_http=True, cluster_settings=ClusterSettings(
        store=StoreSettings(watcher_buffer=500)))


def _connect(server: Any) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server.port), timeout=20)


def _request(server: Any, path: str, *, extra: str = "") -> bytes:
    token = server.server.token
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"{extra}\r\n").encode()


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _healthy(server: Any) -> bool:
    with _connect(server) as sock:
        sock.sendall(_request(server, "/healthz", extra="Connection: close\r\n"))
        return _read_all(sock).startswith(b"HTTP/1.1 200")


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached (hang guard)"
        time.sleep(0.05)


def test_slowloris_headers_get_408_and_the_server_keeps_serving(
        plain: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "HEADER_TIMEOUT", 1.0)
    with _connect(plain) as slow:
        request = _request(plain, "/healthz")
        start = time.monotonic()
        sent = 0
        try:
            for byte in request:  # one byte every 0.1 s: never a complete header block
                slow.sendall(bytes([byte]))
                sent += 1
                if sent % 5 == 0:
                    assert _healthy(plain)  # others are served meanwhile
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(slow)
    assert time.monotonic() - start < 10
    assert sent < len(request), "the slow request was allowed to finish"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert orjson.loads(body)["reason"] == "Timeout" and orjson.loads(body)["code"] == 408
    assert _healthy(plain)


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000,  # > 16 KiB, unfinished
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
])
def test_unparsable_requests_get_a_400_status(plain: Any, request_bytes: bytes) -> None:
    with _connect(plain) as sock:
        sock.sendall(request_bytes)
        answer = _read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:200]
    assert orjson.loads(body)["kind"] == "Status" and orjson.loads(body)["code"] == 400
    assert _healthy(plain)


def test_a_stalled_body_gets_408(plain: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "BODY_TIMEOUT", 1.0)
    token = plain.server.token
    with _connect(plain) as slow:
        slow.sendall((f"POST {CMS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").encode())
        answer = _read_all(slow)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert "send it without pauses" in orjson.loads(body)["message"]
    assert _healthy(plain)


def test_a_watch_that_is_never_read_is_closed_and_memory_stays_bounded(plain: Any) -> None:
    store = plain.server.cluster.store
    rss = _rss()
    with _connect(plain) as lazy:
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.sendall(_request(plain, f"{CMS}?watch=true"))
        _wait_for(lambda: store.watcher_count() == 1)

        def write_many() -> None:
            for i in range(3000):
                store.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": f"cm{i}"},
                                            "data": {"blob": "x" * 2000}}, namespace=NS)

        plain.call(write_many, timeout=60)
        # The watcher fell more than its buffer (500 events) behind: it was closed and
        # forgotten, although its client is still connected and reads nothing.
        _wait_for(lambda: plain.call(store.watcher_count) == 0)
        assert _healthy(plain)
    gc.collect()
    assert _rss() - rss < RSS_BOUND


def test_an_abandoned_watch_is_forgotten(plain: Any) -> None:
    store = plain.server.cluster.store
    for _ in range(3):
        with _connect(plain) as gone:
            gone.sendall(_request(plain, f"{CMS}?watch=true&allowWatchBookmarks=true"))
            _wait_for(lambda: plain.call(store.watcher_count) == 1)
            assert gone.recv(100).startswith(b"HTTP/1.1 200")
        _wait_for(lambda: plain.call(store.watcher_count) == 0)
    assert _healthy(plain)
