"""The API server answers bad input with the right ``Status``, never a 500 or a hang."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.cluster import EmbeddedCluster

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
       "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}


@pytest.fixture
def http() -> Iterator[TestClient]:
    cluster = EmbeddedCluster()
    clock = SimClock.create(cluster, mode="stepped", speed=20, wall=time.monotonic)
    app = ApiServerApp(cluster, clock, token=TOKEN)
    with TestClient(app, headers=AUTH) as client:
        yield client


def _status(response: Any, code: int, reason: str | None = None) -> dict[str, Any]:
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == code
    if reason is not None:
        assert body["reason"] == reason
    return dict(body)


def _post(http: TestClient, path: str, body: Any, **kw: Any) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return http.post(path, content=content, headers={"Content-Type": "application/json"}, **kw)


def test_requests_without_the_token_are_401(http: TestClient) -> None:
    body = _status(http.get("/api/v1/pods", headers={"Authorization": ""}), 401, "Unauthorized")
    # Upstream's exact message: kubectl shows "You must be logged in to the server (Unauthorized)".
    assert body["message"] == "Unauthorized"
    _status(http.get("/version", headers={"Authorization": "Bearer wrong"}), 401)


def test_malformed_json_is_400_with_the_parse_error(http: TestClient) -> None:
    body = _status(_post(http, "/api/v1/namespaces/default/pods", b'{"kind": "Pod",'), 400,
                   "BadRequest")
    assert "not valid JSON" in body["message"]


def test_a_wrong_kind_for_the_endpoint_is_400(http: TestClient) -> None:
    wrong = {**POD, "kind": "Service"}
    body = _status(_post(http, "/api/v1/namespaces/default/pods", wrong), 400)
    assert "kind 'Service'" in body["message"] and "serves v1 Pod" in body["message"]
    _status(_post(http, "/api/v1/namespaces/default/pods", {**POD, "apiVersion": "v2"}), 400)


def test_a_missing_name_is_422_invalid(http: TestClient) -> None:
    body = _status(_post(http, "/api/v1/namespaces/default/pods",
                         {**POD, "metadata": {}}), 422, "Invalid")
    assert "metadata.name: Required value" in body["message"]


def test_an_invalid_dns_name_is_422_with_the_rule(http: TestClient) -> None:
    body = _status(_post(http, "/api/v1/namespaces/default/pods",
                         {**POD, "metadata": {"name": "Web_1"}}), 422, "Invalid")
    assert 'Pod "Web_1" is invalid' in body["message"]
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_unknown_fields_are_rejected_when_strict(http: TestClient) -> None:
    typo = {**POD, "spec": {"containers": [{"name": "app", "imagee": "x", "image": "y"}]}}
    body = _status(_post(http, "/api/v1/namespaces/default/pods?fieldValidation=Strict", typo),
                   400, "BadRequest")
    assert body["message"] == ('strict decoding error: unknown field '
                               '"spec.containers[0].imagee"')


def test_unknown_fields_are_dropped_with_a_warning_by_default(http: TestClient) -> None:
    typo = {**POD, "spec": {"containers": [{"name": "app", "imagee": "x", "image": "y"}]}}
    response = _post(http, "/api/v1/namespaces/default/pods", typo)
    assert response.status_code == 201
    assert "imagee" not in response.json()["spec"]["containers"][0]
    assert 'unknown field \\"spec.containers[0].imagee\\"' in response.headers["warning"]


def test_wrong_types_are_400_naming_the_field(http: TestClient) -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": "three"}}
    body = _status(_post(http, "/apis/apps/v1/namespaces/default/deployments", deploy), 400)
    assert "spec.replicas" in body["message"]


def test_patching_an_immutable_pod_field_is_422(http: TestClient) -> None:
    assert _post(http, "/api/v1/namespaces/default/pods", POD).status_code == 201
    response = http.patch("/api/v1/namespaces/default/pods/web",
                          content=b'{"spec":{"restartPolicy":"Never"}}',
                          headers={"Content-Type": "application/strategic-merge-patch+json"})
    body = _status(response, 422, "Invalid")
    assert "pod updates may not change fields other than" in body["message"]


def test_patching_a_container_image_is_allowed(http: TestClient) -> None:
    _post(http, "/api/v1/namespaces/default/pods", POD)
    response = http.patch("/api/v1/namespaces/default/pods/web",
                          content=b'{"spec":{"containers":[{"name":"app","image":"nginx:1.26"}]}}',
                          headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert response.status_code == 200
    assert response.json()["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_strategic_merge_on_a_custom_kind_is_415(http: TestClient) -> None:
    response = http.patch("/apis/sim.kitlib.io/v1alpha1/clocks/cluster", content=b"{}",
                          headers={"Content-Type": "application/strategic-merge-patch+json"})
    _status(response, 415, "UnsupportedMediaType")


def test_an_unknown_path_is_404_not_500(http: TestClient) -> None:
    _status(http.get("/api/v1/widgets"), 404, "NotFound")
    _status(http.get("/apis/nope.example.com/v1"), 404)
    _status(http.get("/nowhere"), 404)


def test_a_missing_object_is_404_with_details(http: TestClient) -> None:
    body = _status(http.get("/apis/apps/v1/namespaces/default/deployments/web"), 404)
    assert body["message"] == 'deployments.apps "web" not found'
    assert body["details"] == {"name": "web", "kind": "deployments", "group": "apps"}


def test_a_huge_body_is_413(http: TestClient) -> None:
    big = b'{"a":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    _status(_post(http, "/api/v1/namespaces/default/configmaps", big), 413,
            "RequestEntityTooLarge")


def test_deeply_nested_json_is_400(http: TestClient) -> None:
    nested = b"[" * 5000 + b"]" * 5000
    _status(_post(http, "/api/v1/namespaces/default/configmaps", nested), 400)


def test_yaml_aliases_are_refused(http: TestClient) -> None:
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    response = http.post("/api/v1/namespaces/default/configmaps", content=bomb,
                          headers={"Content-Type": "application/yaml"})
    body = _status(response, 400)
    assert "aliases" in body["message"]


def test_a_name_with_an_encoded_slash_is_not_a_path_traversal(http: TestClient) -> None:
    _status(http.get("/api/v1/namespaces/default/pods/..%2F..%2Fsecrets"), 404)


def test_an_unsupported_field_selector_is_400(http: TestClient) -> None:
    body = _status(http.get("/api/v1/pods?fieldSelector=spec.image%3Dx"), 400)
    assert body["message"].startswith("field label not supported: spec.image")


def test_a_stale_update_is_409_conflict(http: TestClient) -> None:
    created = _post(http, "/api/v1/namespaces/default/configmaps",
                    {"metadata": {"name": "c"}, "data": {"a": "1"}}).json()
    http.put("/api/v1/namespaces/default/configmaps/c",
             content=orjson.dumps({**created, "data": {"a": "2"}}))
    response = http.put("/api/v1/namespaces/default/configmaps/c",
                        content=orjson.dumps({**created, "data": {"a": "3"}}))
    body = _status(response, 409, "Conflict")
    assert "the object has been modified" in body["message"]


def test_send_initial_events_without_its_companions_is_422(http: TestClient) -> None:
    response = http.get("/api/v1/pods?watch=1&sendInitialEvents=true")
    _status(response, 422, "Invalid")


def test_discovery_lists_eviction_and_scale_subresources(http: TestClient) -> None:
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core["pods/eviction"] == {"name": "pods/eviction", "singularName": "",
                                     "namespaced": True, "kind": "Eviction",
                                     "verbs": ["create"], "group": "policy", "version": "v1"}
    apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["group"] == "autoscaling"
    groups = [g["name"] for g in http.get("/apis").json()["groups"]]
    assert {"apps", "policy", "sim.kitlib.io"} <= set(groups)


def test_openapi_v2_is_an_empty_protobuf_document(http: TestClient) -> None:
    response = http.get("/openapi/v2")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"].startswith("application/com.github.proto-openapi")


def test_get_with_a_table_accept_header_returns_a_table(http: TestClient) -> None:
    _post(http, "/api/v1/namespaces/default/pods", POD)
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = http.get("/api/v1/namespaces/default/pods", headers={"Accept": accept}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name", "Ready", "Status", "Restarts", "Age"]
    assert table["rows"][0]["cells"][:3] == ["web", "0/1", "Pending"]


def test_the_clock_advances_through_a_clock_advance(http: TestClient) -> None:
    advance = {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "ClockAdvance",
               "spec": {"seconds": 90}}
    response = _post(http, "/apis/sim.kitlib.io/v1alpha1/clockadvances", advance)
    assert response.status_code == 201
    assert response.json()["status"]["to"] == "2026-01-01T00:01:30Z"
    clock = http.get("/apis/sim.kitlib.io/v1alpha1/clocks/cluster").json()
    assert clock["status"]["seconds"] == 90


def test_a_negative_advance_is_422(http: TestClient) -> None:
    advance = {"kind": "ClockAdvance", "spec": {"seconds": -5}}
    _status(_post(http, "/apis/sim.kitlib.io/v1alpha1/clockadvances", advance), 422)
