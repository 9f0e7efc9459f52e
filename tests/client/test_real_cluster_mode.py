"""Real-cluster mode: capability detection on a real-looking server, read-only handles,
namespace scoping, credentials that never show, and errors mapped to the same classes
with and without OpenKruise.

The "real" cluster is a stub API server (plain HTTP, bearer token) that serves discovery
for a partial OpenKruise, refuses to show ``kruise-system`` (403) and refuses writes in
the namespace (403) — a namespace-scoped user — and has no ``sim.kitlib.io`` group.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import kitlib
from kitlib.client import EmbeddedOnlyError, faults
from kitlib.client.capabilities import capabilities, preferred_workload_kind, require
from kitlib.client.errors import INSTALL_KRUISE, MissingCapabilityError
from kitlib.client.ops import WritesNotAllowedError, request_json
from kitlib.client.raw import get_json
from kitlib.model import errors

if TYPE_CHECKING:
    from conftest import ThreadedServer

TOKEN = "s3cr3t-bearer-token-do-not-print"


def _status(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Failure", "reason": reason, "code": code,
                         "message": message}, status_code=code)


def _resources(*names: str) -> dict[str, Any]:
    return {"resources": [{"name": n, "kind": n.title(), "namespaced": True} for n in names]}


DISCOVERY: dict[str, Any] = {
    "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.2"},
    "/apis": {"groups": [
        {"name": g, "versions": [{"version": v} for v in vs]} for g, vs in (
            ("apps", ["v1"]), ("policy", ["v1"]), ("discovery.k8s.io", ["v1"]),
            ("apps.kruise.io", ["v1beta1", "v1alpha1"]))]},
    "/api/v1": _resources("pods", "pods/eviction", "endpoints", "nodes"),
    "/apis/apps.kruise.io/v1beta1": _resources("clonesets", "statefulsets"),
    "/apis/apps.kruise.io/v1alpha1": _resources("clonesets", "sidecarsets"),
    "/apis/policy/v1": _resources("poddisruptionbudgets"),
    "/apis/discovery.k8s.io/v1": _resources("endpointslices"),
}
MANAGER = "/apis/apps/v1/namespaces/kruise-system/deployments/kruise-controller-manager"


class RealStub:
    """A stand-in real cluster; ``manager`` is what kruise-system shows (None: 403)."""

    def __init__(self) -> None:
        self.manager: dict[str, Any] | None = None
        self.discovery = dict(DISCOVERY)
        self.authorizations: set[str] = set()
        self.methods: list[str] = []

    def handle(self, request: Request) -> JSONResponse:
        self.methods.append(request.method)
        self.authorizations.add(request.headers.get("authorization", ""))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        path = request.url.path
        if request.method == "GET" and path in self.discovery:
            return JSONResponse(self.discovery[path])
        if path == MANAGER:
            return (JSONResponse(self.manager) if self.manager is not None else _status(
                403, "Forbidden", 'deployments.apps "kruise-controller-manager" is forbidden: '
                'User "alice" cannot get resource "deployments" in API group "apps" in the '
                'namespace "kruise-system"'))
        if request.method != "GET":
            return _status(403, "Forbidden", f"User \"alice\" cannot {request.method} {path}")
        return _status(404, "NotFound", "the server could not find the requested resource")


def _kubeconfig(path: Path, server: str, token: str, namespace: str | None) -> Path:
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": context}]}))
    return path


@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[RealStub, Path]]:
    stub = RealStub()
    app = Starlette(routes=[Route("/{path:path}", stub.handle,
                                  methods=["GET", "POST", "PATCH", "PUT", "DELETE"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="real-stub")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the stub did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield stub, _kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}", TOKEN,
                                "team-a")
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


# -- a real cluster ----------------------------------------------------------------------------

def test_a_real_cluster_is_read_only_and_scoped_to_its_context_namespace(
        real: tuple[RealStub, Path]) -> None:
    with kitlib.connect(kubeconfig=real[1]) as cluster:
        assert not cluster.embedded and not cluster.allow_writes
        assert cluster.namespace == "team-a"
        caps = capabilities(cluster)
    assert caps.namespace == "team-a" and caps.server_version == "v1.30.2"
    assert caps.clock_mode == "real" and not caps.embedded


def test_capabilities_of_a_real_cluster_with_a_partial_openkruise(
        real: tuple[RealStub, Path]) -> None:
    with kitlib.connect(kubeconfig=real[1]) as cluster:
        caps = capabilities(cluster)
        assert caps.kruise
        assert caps.kinds["CloneSet"].versions == ("v1beta1", "v1alpha1")
        assert caps.kinds["AdvancedStatefulSet"].api_version == "apps.kruise.io/v1beta1"
        assert {"SidecarSet", "PodDisruptionBudget", "Eviction", "Endpoints",
                "EndpointSlice"} <= caps.kinds.keys()
        assert "kruise-system" in caps.kruise_manager_note
        assert caps.kruise_manager_version is None and caps.feature_gates is None
        assert caps.server_accepts_writes is False
        missing = {m.feature.split(" (")[0]: m for m in caps.missing()}
        assert {"simulation", "ContainerRecreateRequest", "ImagePullJob",
                "PodUnavailableBudget", "writes", "write permission"} == missing.keys()
        assert "upgrade OpenKruise" in missing["ContainerRecreateRequest"].remedy
        assert "allow_writes=True" in missing["writes"].remedy
        require(cluster, "CloneSet")
        with pytest.raises(MissingCapabilityError, match="upgrade OpenKruise") as info:
            require(cluster, "ContainerRecreateRequest")
        assert info.value.feature == "ContainerRecreateRequest"
        with pytest.raises(MissingCapabilityError, match="embedded"):
            require(cluster, "simulation")


def test_the_kruise_manager_version_and_gates_are_read_where_readable(
        real: tuple[RealStub, Path]) -> None:
    stub, kubeconfig = real
    stub.manager = {"spec": {"template": {"spec": {"containers": [{
        "name": "manager", "image": "openkruise/kruise-manager:v1.8.0",
        "args": ["--enable-leader-election",
                 "--feature-gates=CloneSetPartitionRollback=true,Bogus=false"]}]}}}}
    with kitlib.connect(kubeconfig=kubeconfig) as cluster:
        caps = capabilities(cluster)
    assert caps.kruise_manager_version == "v1.8.0"
    assert "kruise-manager v1.8.0" in caps.report()
    assert caps.feature_gates == {"CloneSetPartitionRollback": True,
                                  "PodUnavailableBudgetUpdateGate": False,
                                  "PreDownloadImageForInPlaceUpdate": False}
    gates = [m for m in caps.missing() if m.feature.startswith("feature gate")]
    assert [m.feature for m in gates] == ["feature gate PodUnavailableBudgetUpdateGate",
                                          "feature gate PreDownloadImageForInPlaceUpdate"]
    assert "featureGates" in gates[0].remedy


def test_an_old_cluster_without_policy_v1_or_kruise_says_what_that_means(
        real: tuple[RealStub, Path]) -> None:
    stub, kubeconfig = real
    stub.discovery["/apis"] = {"groups": [{"name": "policy", "versions": [{"version": "v1beta1"}]}]}
    stub.discovery["/apis/policy/v1beta1"] = _resources("poddisruptionbudgets")
    with kitlib.connect(kubeconfig=kubeconfig) as cluster:
        caps = capabilities(cluster)
        assert "PodDisruptionBudget" not in caps.kinds and not caps.kruise
        missing = {m.feature: m for m in caps.missing()}
        assert missing["OpenKruise"].remedy == INSTALL_KRUISE
        assert "1.21 or later" in missing["PodDisruptionBudget (policy/v1)"].remedy
        assert "drains are not held back" in missing["PodDisruptionBudget (policy/v1)"].meaning
        with pytest.raises(MissingCapabilityError, match="PodDisruptionBudget"):
            require(cluster, "pdb")
        assert preferred_workload_kind(cluster) == "Deployment"


def test_faults_on_a_real_cluster_raise_embedded_only_before_anything_is_sent(
        real: tuple[RealStub, Path]) -> None:
    with kitlib.connect(kubeconfig=real[1], allow_writes=True) as cluster:
        calls: list[Callable[[], object]] = [
            lambda: faults.fail_node(cluster, "n1"),
            lambda: faults.restore_node(cluster, "n1", dry_run=True),
            lambda: faults.set_node_condition(cluster, "n1", "disk-pressure"),
            lambda: faults.slow_image_pulls(cluster, "n1", 1e6),
            lambda: faults.flaky_image(cluster, "nginx:1", fail=True),
            lambda: faults.crash_container(cluster, "web", "app"),
            lambda: faults.make_unready(cluster, "web"),
        ]
        for call in calls:
            with pytest.raises(EmbeddedOnlyError, match=r"real cluster.*twin"):
                call()
    assert set(real[0].methods) == {"GET"}


def test_the_token_never_shows_in_repr_report_errors_or_logs(
        real: tuple[RealStub, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stub, kubeconfig = real
    caplog.set_level(logging.DEBUG)
    with kitlib.connect(kubeconfig=kubeconfig) as cluster:
        caps = capabilities(cluster)
        shown = [repr(cluster), caps.report(), caps._repr_html_(), repr(caps)]
        for call in (lambda: get_json(cluster.api_client, "/api/v1/namespaces/x/pods/y"),
                     lambda: require(cluster, "PodUnavailableBudget"),
                     lambda: faults.fail_node(cluster, "n1"),
                     lambda: request_json(cluster.api_client, "POST", "/api/v1/x", body={})):
            with pytest.raises(Exception) as info:  # any error: its text is checked
                call()
            shown += [str(info.value), repr(info.value), str(info.value.__cause__)]
    wrong = _kubeconfig(tmp_path / "wrong", cluster.api_client.configuration.host,
                        "wrong-token-also-secret", None)
    with pytest.raises(errors.Unauthorized) as unauthorized:
        kitlib.connect(kubeconfig=wrong)
    shown += [str(unauthorized.value), repr(unauthorized.value),
              str(unauthorized.value.__cause__), caplog.text]
    assert f"Bearer {TOKEN}" in stub.authorizations, "the stub did see the token"
    for text in shown:
        assert TOKEN not in text and "wrong-token-also-secret" not in text


# -- an embedded cluster: read-only handles, namespaces, the child's log -----------------------

def test_a_read_only_handle_refuses_writes_and_faults_but_accepts_dry_run(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server(nodes=1)
    with kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as cluster:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        with pytest.raises(WritesNotAllowedError, match="allow_writes=True"):
            cluster.apply(cm)
        for fault in (faults.fail_node, faults.restore_node, faults.clear_node_faults):
            with pytest.raises(WritesNotAllowedError, match="read-only"):
                fault(cluster, "node-0")
            fault(cluster, "node-0", dry_run=True)
        with pytest.raises(WritesNotAllowedError):
            faults.flaky_image(cluster, "nginx:1.25", fail=True)
        assert faults.fail_node(cluster, "node-0", dry_run=True)["metadata"]["annotations"][
            "sim.kitlib.io/down"] == "true"
        faults.flaky_image(cluster, "nginx:1.25", fail=True, dry_run=True)
        cluster.apply(cm, dry_run=True)
        node = get_json(cluster.api_client, "/api/v1/nodes/node-0")
        assert "sim.kitlib.io/down" not in node["metadata"].get("annotations", {})
        assert get_json(cluster.api_client, "/apis/sim.kitlib.io/v1alpha1/images")["items"] == []
        caps = capabilities(cluster)
        assert not caps.allow_writes and caps.server_accepts_writes is True
        assert any(m.feature == "writes" for m in caps.missing())
        with pytest.raises(MissingCapabilityError, match="read-only"):
            require(cluster, "writes")
        cluster.allow_writes = True
        require(cluster, "writes")
        assert capabilities(cluster).allow_writes


def test_operations_default_to_the_context_namespace(
        start_api_server: Callable[..., ThreadedServer], tmp_path: Path) -> None:
    server = start_api_server()
    config = yaml.safe_load(server.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = "team-a"
    scoped = tmp_path / "scoped"
    scoped.write_text(yaml.safe_dump(config))
    with kitlib.connect(kubeconfig=scoped) as cluster:
        assert cluster.namespace == "team-a"
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        [result] = cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "settings"}})
        assert result.namespace == "team-a"
        get_json(cluster.api_client, "/api/v1/namespaces/team-a/configmaps/settings")
        with pytest.raises(errors.NotFound):
            get_json(cluster.api_client, "/api/v1/namespaces/default/configmaps/settings")
        assert capabilities(cluster).namespace == "team-a"
    with kitlib.connect(kubeconfig=scoped, namespace="other") as cluster:
        assert cluster.namespace == "other"


def test_connect_passes_kruise_and_gates_to_the_child_whose_log_holds_no_token() -> None:
    with kitlib.connect(kruise=False) as cluster:
        assert cluster._process is not None
        token = cluster.api_client.configuration.api_key["BearerToken"].split()[-1]
        caps = capabilities(cluster)
        assert not caps.kruise
        shown = [repr(cluster), caps.report(), caps._repr_html_(),
                 cluster._process.log_path.read_text()]
    assert all(token not in text for text in shown)
    with pytest.raises(RuntimeError, match="NoSuchGate"):
        kitlib.connect(feature_gates="NoSuchGate=true")


def test_a_wrong_token_for_kitlib_serve_is_unauthorized_and_never_quoted(
        start_api_server: Callable[..., ThreadedServer], tmp_path: Path) -> None:
    server = start_api_server()
    config = yaml.safe_load(server.kubeconfig.read_text())
    right = config["users"][0]["user"]["token"]
    config["users"][0]["user"]["token"] = "wrong-token-also-secret"
    wrong = tmp_path / "wrong"
    wrong.write_text(yaml.safe_dump(config))
    with pytest.raises(errors.Unauthorized) as info:
        kitlib.connect(kubeconfig=wrong)
    for text in (str(info.value), repr(info.value), str(info.value.__cause__)):
        assert right not in text and "wrong-token-also-secret" not in text


def test_kruise_flags_are_refused_for_a_running_server(plain_server: Path) -> None:
    with pytest.raises(ValueError, match="only to an embedded cluster that connect"):
        kitlib.connect(kubeconfig=plain_server, kruise=False)


# -- the same errors with and without OpenKruise ----------------------------------------------

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "nginx:1.25"}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
"""


def _failing_calls(cluster: kitlib.Cluster) -> dict[str, type[errors.ApiError]]:
    """The class each failing call raised, by name of the call."""
    api = cluster.api_client
    cm = get_json(api, "/api/v1/namespaces/default/configmaps/c")
    stale = {**cm, "metadata": {**cm["metadata"], "resourceVersion": "1"}}
    pod = get_json(api, "/api/v1/namespaces/default/pods", labelSelector="app=web")["items"][0]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": pod["metadata"]["name"], "namespace": "default"}}
    calls: dict[str, Callable[[], object]] = {
        "404": lambda: get_json(api, "/api/v1/namespaces/default/pods/absent"),
        "409": lambda: request_json(api, "PUT", "/api/v1/namespaces/default/configmaps/c",
                                    body=stale),
        "422": lambda: request_json(api, "POST", "/apis/apps/v1/namespaces/default/deployments",
                                    body={"apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": {"name": "bad"}, "spec": {}}),
        "429": lambda: request_json(
            api, "POST", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/eviction",
            body=eviction),
    }
    raised: dict[str, type[errors.ApiError]] = {}
    for name, call in calls.items():
        with pytest.raises(errors.ApiError) as info:
            call()
        raised[name] = type(info.value)
    return raised


@pytest.mark.parametrize("kruise", [True, False])
def test_the_same_failing_calls_raise_the_same_classes_with_and_without_kruise(
        start_api_server: Callable[..., ThreadedServer], kruise: bool) -> None:
    server = start_api_server(nodes=1, kruise=kruise)
    with kitlib.connect(kubeconfig=server.kubeconfig) as cluster:
        assert capabilities(cluster).kruise is kruise
        cluster.apply(APP)
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                       "data": {"a": "1"}})
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                       "data": {"a": "2"}})
        cluster.sleep(30)
        assert _failing_calls(cluster) == {"404": errors.NotFound, "409": errors.Conflict,
                                           "422": errors.Invalid, "429": errors.TooManyRequests}


def test_without_kruise_the_helm_hint_is_what_require_says(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server(kruise=False)
    with kitlib.connect(kubeconfig=server.kubeconfig) as cluster, \
            pytest.raises(MissingCapabilityError) as info:
        require(cluster, "CloneSet")
    assert INSTALL_KRUISE in str(info.value) and info.value.feature == "CloneSet"
