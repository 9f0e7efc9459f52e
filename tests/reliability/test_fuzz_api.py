"""Property-based fuzzing of the API server against what it serves (issue 9, item 4).

The resources come from the server's own discovery documents (``/api/v1``,
``/apis``, ``/apis/<group>/<version>``); hypothesis then sends requests built from
them with hostile parts — names and namespaces with ``../``, ``%2F``, NUL,
control characters or 5,000 characters; wrong types in every well-known field;
random JSON, YAML and bytes; JSON patches of random operations; wrong content
types; garbage in every query parameter the server reads.

The property, for every request: never a 5xx, and every 4xx is a Kubernetes
``Status`` (kind Status, apiVersion v1, status Failure, the HTTP code, a reason
and a message). After each test the store passes ``verify_integrity()`` and the
objects stored beforehand in namespace ``known`` are byte-identical.

Determinism and budget: ``derandomize=True`` (the same examples on every run),
``KITLIB_FUZZ_EXAMPLES`` examples per property (default 120: a few seconds each).
The longer campaign runs 7,000 per property (21,000 requests, about 4 minutes):
``KITLIB_FUZZ_EXAMPLES=7000 KITLIB_FUZZ_REPORT=counts.jsonl pytest tests/reliability/
test_fuzz_api.py`` appends the count of answers by HTTP code to ``counts.jsonl``.

What the fuzz does not send: writes to cluster-scoped kinds and to the
``sim.kitlib.io`` group (a random ``DELETE /api/v1/namespaces`` or clock advance is
legitimate and would remove or age the known objects), watches that last (every
generated watch gets ``timeoutSeconds`` below a second), and integers beyond ±5
in generated objects: a valid Deployment with ten thousand replicas is accepted
and its pods are all created within the request (see the report: not a
validation bug, but an unbounded request).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kitlib.cluster import EmbeddedCluster
from tests.reliability.appclient import app_client

TOKEN = "fuzz-token"
EXAMPLES = int(os.environ.get("KITLIB_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
KNOWN = "known"


@dataclass(frozen=True)
class Resource:
    """One served resource, as discovery describes it."""

    prefix: str  # /api/v1 or /apis/<group>/<version>
    plural: str
    kind: str
    namespaced: bool
    api_version: str

    def path(self, namespace: str | None, name: str | None, sub: str | None) -> str:
        parts = [self.prefix]
        if self.namespaced and namespace is not None:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
            if sub is not None:
                parts.append(sub)
        return "/".join(parts)


class Target:
    """The app over a cluster with known objects, and what its discovery serves."""

    def __init__(self) -> None:
        self.cluster = EmbeddedCluster()
        self.http = app_client(self.cluster, TOKEN)
        self.resources = self._discover()
        self.writable = [r for r in self.resources
                         if r.namespaced and not r.prefix.startswith("/apis/sim.")]
        self._store_known()
        self.known = self._known_bytes()
        self.counts: dict[int, int] = {}

    def _discover(self) -> list[Resource]:
        prefixes = ["/api/v1"]
        for group in self.http.get("/apis").json()["groups"]:
            prefixes += [f"/apis/{v['groupVersion']}" for v in group["versions"]]
        found = []
        for prefix in prefixes:
            doc = self.http.get(prefix).json()
            for res in doc["resources"]:
                if "/" not in res["name"]:
                    found.append(Resource(prefix, res["name"], res["kind"], res["namespaced"],
                                          doc["groupVersion"]))
        return found

    def _store_known(self) -> None:
        for namespace in (KNOWN, *FUZZ_NAMESPACES):
            self.cluster.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": namespace}})
        for i in range(3):
            self.cluster.store.create("configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}"},
                "data": {"k": str(i)}}, namespace=KNOWN)
        self.cluster.settle()

    def _known_bytes(self) -> bytes:
        """The known objects, exactly (the list's own resourceVersion moves on)."""
        listed = self.http.get(f"/api/v1/namespaces/{KNOWN}/configmaps").json()
        return orjson.dumps(listed["items"])

    def send(self, method: str, path: str, query: dict[str, str], body: bytes,
             content_type: str | None) -> None:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        url = path + ("?" + urlencode(query) if query else "")
        response = self.http.request(method, url, content=body or None, headers=headers)
        self.counts[response.status_code] = self.counts.get(response.status_code, 0) + 1
        check_answer(response, method, url)

    def check_unharmed(self) -> None:
        assert self.http.get("/healthz").status_code == 200
        assert self.cluster.store.verify_integrity() == []
        assert self._known_bytes() == self.known


def check_answer(response: Any, method: str, url: str) -> None:
    """Never a 5xx; every 4xx a well-formed ``Status`` that says something."""
    where = f"{method} {url[:300]} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code < 400 or method == "HEAD":  # a HEAD answer has no body
        return
    assert response.headers["content-type"] == "application/json", where
    status = response.json()
    assert status["kind"] == "Status" and status["apiVersion"] == "v1", where
    assert status["status"] == "Failure" and status["code"] == response.status_code, where
    assert status["reason"] and len(status["message"]) >= 10, where


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    t = Target()
    with t.http:
        yield t
    t.check_unharmed()
    report = os.environ.get("KITLIB_FUZZ_REPORT")
    if report:  # the campaign's figures: requests sent, by HTTP status code
        with open(report, "ab") as out:
            out.write(orjson.dumps({"examples": EXAMPLES, "by_code": t.counts},
                                   option=orjson.OPT_NON_STR_KEYS) + b"\n")


# -- strategies ----------------------------------------------------------------------------

FUZZ_NAMESPACES = ("fuzz", "fuzz-a", "web", "x1")
HOSTILE_TEXT = ["../", "..", ".", "%2F", "%2e%2e", "%00", "\x00", "/", "a/b", "\n", "%", "~",
                "a" * 5000, "é", "\u202e", " ", "", "known", "fuzz-a", "web", "-", "A_b"]
segments = st.one_of(
    st.sampled_from(FUZZ_NAMESPACES),
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=30),
).filter(lambda s: s != KNOWN)
#: Mostly a namespace that exists, so that most requests reach the handlers.
namespaces = st.one_of(st.sampled_from(FUZZ_NAMESPACES), st.sampled_from(FUZZ_NAMESPACES),
                       st.sampled_from(FUZZ_NAMESPACES), segments)
small_ints = st.integers(min_value=-5, max_value=5)
json_scalars = st.one_of(st.none(), st.booleans(), small_ints, st.sampled_from([2**63, -2**63, 1e300]),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=20)
WELL_KNOWN = [("metadata",), ("metadata", "name"), ("metadata", "namespace"),
              ("metadata", "labels"), ("metadata", "annotations"), ("metadata", "finalizers"),
              ("metadata", "ownerReferences"), ("metadata", "resourceVersion"),
              ("metadata", "generateName"), ("metadata", "uid"), ("metadata", "deletionTimestamp"),
              ("metadata", "creationTimestamp"), ("metadata", "labels", "app"), ("spec",),
              ("status",), ("spec", "replicas"), ("spec", "selector"), ("spec", "template"),
              ("spec", "containers"), ("spec", "template", "spec", "containers"), ("data",),
              ("kind",), ("apiVersion",), ("spec", "updateStrategy"), ("spec", "strategy")]


@st.composite
def objects(draw: st.DrawFn, resource: Resource) -> dict[str, Any]:
    """A plausible object of ``resource`` with one or more well-known fields set wrong."""
    name = draw(segments)
    obj: dict[str, Any] = {"apiVersion": resource.api_version, "kind": resource.kind,
                           "metadata": {"name": name, "labels": {"app": "fuzz"}},
                           "spec": {"replicas": 1, "containers": [{"name": "c", "image": "x"}]},
                           "data": {"k": "v"}}
    for path in draw(st.lists(st.sampled_from(WELL_KNOWN), max_size=3)):
        _set(obj, path, draw(json_values))
    return obj


def _set(obj: Any, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(obj, dict):
            return
        obj = obj.setdefault(key, {})
    if isinstance(obj, dict):
        obj[path[-1]] = value


pointers = st.one_of(st.sampled_from(["", "/", "/metadata", "/metadata/labels/app", "/spec",
                                      "/spec/containers/0", "/spec/containers/-", "/data/k",
                                      "/metadata/name", "/kind", "/status", "/x/y/z", "~1",
                                      "/spec/containers/99999999999999999999"]),
                     st.text(max_size=20))
json_patches = st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
     "path": pointers},
    optional={"value": json_values, "from": pointers}), max_size=6)
CONTENT_TYPES = ["application/json", "application/yaml", "application/merge-patch+json",
                 "application/json-patch+json", "application/strategic-merge-patch+json",
                 "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf",
                 "text/plain", "application/x-www-form-urlencoded", ";;", "application/json; x"]
QUERY_KEYS = ["limit", "continue", "resourceVersion", "resourceVersionMatch", "labelSelector",
              "fieldSelector", "dryRun", "fieldValidation", "fieldManager", "propagationPolicy",
              "gracePeriodSeconds", "orphanDependents", "includeObject", "timeoutSeconds",
              "allowWatchBookmarks", "sendInitialEvents", "watch", "force"]
QUERY_VALUES = st.one_of(st.sampled_from(["-1", "0", "1", "abc", "true", "All", "Strict",
                                          "a=b", "a in (", "!!", "metadata.name=x", "foo=bar",
                                          "NotOlderThan", "Exact", "Table", "Object", "1e999",
                                          "nan", "Orphan", "Foreground", "eyJydiI6MX0"]),
                         st.text(max_size=30))


@st.composite
def bodies(draw: st.DrawFn, resource: Resource) -> tuple[bytes, str | None]:
    """A body and its content type: an object, random JSON, a JSON patch, YAML or bytes."""
    kind = draw(st.sampled_from(["object", "object", "json", "patch", "yaml", "bytes", "none"]))
    content_type = draw(st.one_of(st.none(), st.sampled_from(CONTENT_TYPES)))
    if kind == "object":
        body = orjson.dumps(draw(objects(resource)))
    elif kind == "json":
        body = orjson.dumps(draw(json_values))
    elif kind == "patch":
        body = orjson.dumps(draw(json_patches))
    elif kind == "yaml":
        body = draw(st.text(max_size=200)).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = b""
    return body, content_type


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), QUERY_VALUES, max_size=4))
    if query.get("watch") in ("true", "1"):
        query["timeoutSeconds"] = "0.05"  # a successful watch ends at once
    return query


def _sendable(text: str) -> bool:
    """Whether a segment can go on the request line unquoted (HTTP clients refuse the rest)."""
    return text.isascii() and text.isprintable() and not any(c in text for c in " ?#")


def _path(resource: Resource, namespace: str, name: str | None, sub: str | None,
          raw: bool) -> str:
    """The URL path; ``raw`` keeps the segments as drawn, otherwise they are quoted."""
    encode = (lambda s: s) if raw else (lambda s: quote(s, safe=""))
    return resource.path(encode(namespace), None if name is None else encode(name), sub)


# -- properties -----------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_writes_with_hostile_bodies_get_2xx_or_a_4xx_status(target: Target,
                                                            data: st.DataObject) -> None:
    resource = data.draw(st.sampled_from(target.writable))
    method = data.draw(st.sampled_from(["POST", "PUT", "PATCH", "PATCH", "DELETE"]))
    name = None if method == "POST" else data.draw(segments)
    sub = data.draw(st.one_of(st.none(), st.sampled_from(["status", "scale", "eviction"])))
    body, content_type = data.draw(bodies(resource))
    path = _path(resource, data.draw(namespaces), name, sub if name else None, raw=False)
    target.send(method, path, data.draw(queries()), body, content_type)


@FUZZ
@given(data=st.data())
def test_reads_with_hostile_paths_and_queries_get_2xx_or_a_4xx_status(
        target: Target, data: st.DataObject) -> None:
    resource = data.draw(st.sampled_from(target.resources))
    name = data.draw(st.one_of(st.none(), segments))
    sub = data.draw(st.one_of(st.none(), st.sampled_from(["status", "scale", "x", ""])))
    namespace = data.draw(st.one_of(namespaces, st.just(KNOWN)))
    raw = data.draw(st.booleans()) and _sendable((name or "") + namespace)
    path = _path(resource, namespace, name, sub, raw=raw)
    method = data.draw(st.sampled_from(["GET", "GET", "HEAD", "OPTIONS"]))
    target.send(method, path, data.draw(queries()), b"", None)


@FUZZ
@given(path=st.one_of(st.text(max_size=80).map(lambda s: "/" + quote(s, safe="/")),
                      st.sampled_from(["/api", "/apis", "/apis/apps", "/api/v2", "/apis//v1",
                                       "/apis/nope.example.com/v1/things", "/version",
                                       "/openapi/v2", "/api/v1/namespaces//pods"])),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "TRACE", "FOO"]))
def test_unknown_paths_and_methods_get_a_status(target: Target, path: str, method: str) -> None:
    if method != "GET" and path.startswith("/api") and KNOWN in path:
        return  # a write to a known object would be legitimate
    target.send(method, path, {}, b"{}" if method in ("POST", "PUT", "PATCH") else b"",
                "application/json")
