"""Security of the embedded API server, and write safety on real clusters (issue 9, item 6).

The embedded server: loopback only; a new random token (256 bits) at every
start, compared with ``hmac.compare_digest``; kubeconfig and TLS key files
readable by their owner only, in directories that are not world-writable; a
401 ``Status`` for every route (discovery, openapi, health, resources, watch,
subresources, the ``sim.kitlib.io`` group) without the token, with a wrong
one, with a malformed ``Authorization`` header or basic auth; no CORS; and a
``kitlib serve`` log, at debug level and during a run with an internal error
whose message quotes the request headers, that holds neither the token nor the
TLS key.

The client: every mutating operation of the ``Cluster`` facade refuses on a
read-only handle (``allow_writes=False``, the default on a real cluster)
before any write reaches the server, and every destructive one takes
``dry_run=True``, which sends ``dryRun=All`` and changes nothing. The
read-only handle is on an embedded cluster so that the server side can be
observed; the guard is the client's and does not depend on the server
(``tests/client/test_real_cluster_mode.py`` shows the same on a stand-in real
cluster for ``apply`` and the faults).

RBAC: the manifests in ``docs/rbac/`` (``docs/rbac.md``) apply with ``kubectl apply -f``
on the embedded cluster, which **stores them but does not enforce them** — its one
token may do everything.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import pytest
import urllib3
import yaml

import kitlib
from kitlib.apiserver import app as app_module
from kitlib.apiserver.server import (
    LOG_LEVEL_ENV,
    EmbeddedServer,
    RedactingFilter,
    ServeOptions,
    serve,
)
from kitlib.apiserver.tls import make_tls, new_token, write_kubeconfig
from kitlib.cli import main as cli_main
from kitlib.client.ops import WritesNotAllowedError

if TYPE_CHECKING:
    from conftest import ThreadedServer

from tests.conftest import module_server

server = module_server(nodes=2)


class Http:
    """Raw HTTPS to a ``ThreadedServer`` with the CA of its kubeconfig and no default
    credentials: each request says what it sends."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        url = urlsplit(cluster["server"])
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        self.token: str = config["users"][0]["user"]["token"]
        self.pool = urllib3.HTTPSConnectionPool(
            url.hostname, url.port, ssl_context=ssl.create_default_context(cadata=ca),
            retries=False, timeout=urllib3.Timeout(connect=10, read=20))

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        return self.pool.request(method, path, headers=headers or {}, body=body)

    def close(self) -> None:
        self.pool.close()


@pytest.fixture(scope="module")
def http(server: ThreadedServer) -> Iterator[Http]:
    client = Http(server.kubeconfig)
    yield client
    client.close()


NS = "/api/v1/namespaces/default"
#: (method, path): every kind of route the server has.
ROUTES = [
    ("GET", "/"), ("GET", "/version"), ("GET", "/api"), ("GET", "/api/v1"), ("GET", "/apis"),
    ("GET", "/apis/apps/v1"), ("GET", "/openapi/v2"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/livez"), ("GET", "/no/such/path"),
    ("GET", f"{NS}/pods"), ("GET", "/api/v1/pods?watch=1"),
    ("GET", f"{NS}/configmaps?watch=true&resourceVersion=0"), ("GET", "/api/v1/nodes/node-0"),
    ("POST", f"{NS}/configmaps"), ("PUT", f"{NS}/configmaps/c"), ("PATCH", f"{NS}/configmaps/c"),
    ("DELETE", f"{NS}/configmaps/c"), ("DELETE", f"{NS}/configmaps"),
    ("POST", f"{NS}/pods/p/eviction"), ("GET", "/apis/apps/v1/namespaces/default/deployments/d/"
                                        "scale"),
    ("PATCH", "/api/v1/nodes/node-0/status"), ("HEAD", f"{NS}/pods"), ("OPTIONS", "/api"),
    ("GET", "/apis/sim.kitlib.io/v1alpha1"), ("GET", "/apis/sim.kitlib.io/v1alpha1/clocks"),
    ("GET", "/apis/sim.kitlib.io/v1alpha1/clocks/cluster"),
    ("PATCH", "/apis/sim.kitlib.io/v1alpha1/clocks/cluster"),
    ("POST", "/apis/sim.kitlib.io/v1alpha1/clockadvances"),
]


def _bad_credentials(token: str) -> dict[str, dict[str, str]]:
    basic = base64.b64encode(f"admin:{token}".encode()).decode()
    return {
        "no Authorization header": {},
        "a wrong token": {"Authorization": "Bearer " + "x" * len(token)},
        "the token with one character changed": {
            "Authorization": "Bearer " + token[:-1] + ("A" if token[-1] != "A" else "B")},
        "a prefix of the token": {"Authorization": f"Bearer {token[:-1]}"},
        "the token twice": {"Authorization": f"Bearer {token}{token}"},
        "Bearer without a token": {"Authorization": "Bearer"},
        "the token without a scheme": {"Authorization": token},
        "another scheme": {"Authorization": f"Token {token}"},
        "basic auth (user admin, the token as password)": {"Authorization": f"Basic {basic}"},
        "the token in another header": {"X-Auth-Token": token},
    }


# -- the embedded server -----------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com",
                                  "localhost.example.com", "", "127.0.0.1.nip.io"])
def test_a_non_loopback_host_is_refused_before_anything_is_made(host: str) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        EmbeddedServer(ServeOptions(host=host))


def test_kitlib_serve_has_no_option_to_listen_elsewhere(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["serve", "--host", "0.0.0.0"])
    assert info.value.code == 2
    assert "--host" in capsys.readouterr().err


def test_the_server_listens_on_loopback_with_a_new_256_bit_token_each_start(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    first, second = start_api_server(), start_api_server()
    assert first.server.socket.getsockname()[0] == "127.0.0.1"
    tokens = [yaml.safe_load(s.kubeconfig.read_text())["users"][0]["user"]["token"]
              for s in (first, second)]
    assert tokens[0] != tokens[1]
    for token in tokens:
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 32
    assert len({new_token() for _ in range(100)}) == 100


def test_the_token_is_compared_in_constant_time(http: Http,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = app_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app_module.hmac, "compare_digest", spy)
    assert http.request("GET", "/version", {"Authorization": "Bearer wrong"}).status == 401
    assert http.request("GET", "/version", {"Authorization": f"Bearer {http.token}"}
                        ).status == 200
    assert calls == [(b"wrong", http.token.encode()), (http.token.encode(),
                                                        http.token.encode())]


def test_every_route_answers_401_status_to_missing_wrong_or_malformed_credentials(
        http: Http) -> None:
    failures = []
    for what, headers in _bad_credentials(http.token).items():
        for method, path in ROUTES:
            response = http.request(method, path, {**headers, "Content-Type": "application/json"},
                                    body=b"{}" if method in ("POST", "PUT", "PATCH") else None)
            if response.status != 401:
                failures.append(f"{what}: {method} {path} -> {response.status}")
                continue
            if method != "HEAD":
                status = orjson.loads(response.data)
                if (status["kind"], status["code"], status["reason"], status["message"]) != (
                        "Status", 401, "Unauthorized", "Unauthorized"):
                    failures.append(f"{what}: {method} {path} -> {status}")
            assert http.token not in response.data.decode()
    assert failures == []


def test_the_right_token_passes_with_either_case_of_the_scheme(http: Http) -> None:
    for scheme in ("Bearer", "bearer"):
        assert http.request("GET", "/api", {"Authorization": f"{scheme} {http.token}"}
                            ).status == 200


def test_kubectl_with_a_wrong_token_says_unauthorized(server: ThreadedServer,
                                                      tmp_path: Path) -> None:
    kubectl = "/usr/bin/kubectl"
    if not os.access(kubectl, os.X_OK):
        pytest.skip("kubectl is not installed on this machine")
    config = yaml.safe_load(server.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "wrong-token"
    wrong = tmp_path / "kubeconfig"
    wrong.write_text(yaml.safe_dump(config))
    # kubectl's words for a 401; where it decodes the Status body (not in discovery, which
    # reads it raw — so real clusters get the same generic text there) it quotes the reason.
    for args, reason in ((["get", "--raw", f"{NS}/pods"], "(Unauthorized)"),
                         (["get", "pods"], ""), (["get", "pods", "-w", "--request-timeout=5s"], ""),
                         (["version"], ""), (["api-resources"], "")):
        proc = subprocess.run([kubectl, f"--kubeconfig={wrong}", *args], capture_output=True,
                              text=True, timeout=60, check=False)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 1, (args, proc.stderr)
        assert last.startswith("error: You must be logged in to the server") and reason in last


def test_cors_is_closed(http: Http) -> None:
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE",
              "Access-Control-Request-Headers": "authorization"}
    auth = {"Authorization": f"Bearer {http.token}"}
    answers = [http.request("OPTIONS", f"{NS}/pods", origin),
               http.request("OPTIONS", f"{NS}/pods", {**origin, **auth}),
               http.request("GET", f"{NS}/pods", {**origin, **auth}),
               http.request("GET", "/version", {"Origin": "null", **auth}),
               http.request("DELETE", f"{NS}/pods/x", {**origin, **auth})]
    assert [a.status for a in answers] == [401, 405, 200, 200, 404]
    for answer in answers:
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
        assert "*" not in answer.headers.get("Vary", "")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_kubeconfig_is_0600_in_private_directories_even_with_a_permissive_umask(
        tmp_path: Path) -> None:
    path = tmp_path / "made" / "by" / "kitlib" / "kubeconfig"
    previous = os.umask(0)
    try:
        write_kubeconfig(path, server="https://127.0.0.1:1", token="t", ca_pem=None)
    finally:
        os.umask(previous)
    assert _mode(path) == 0o600
    for directory in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert _mode(directory) == 0o700
    path.chmod(0o644)  # an existing, wider file is replaced by a new 0600 one
    write_kubeconfig(path, server="https://127.0.0.1:1", token="t2", ca_pem=None)
    assert _mode(path) == 0o600 and "t2" in path.read_text()


def test_kubeconfig_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "attacker-readable"
    path = tmp_path / "kubeconfig"
    (tmp_path / f".kubeconfig.tmp-{os.getpid()}").symlink_to(target)
    write_kubeconfig(path, server="https://127.0.0.1:1", token="secret", ca_pem=None)
    assert not target.exists() and _mode(path) == 0o600


def test_tls_key_and_certificate_are_private_and_removed_at_stop(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    started = start_api_server()
    tls = started.server.tls
    assert tls is not None
    assert _mode(tls.directory) == 0o700
    assert _mode(tls.key_file) == 0o600 and _mode(tls.cert_file) == 0o600
    assert _mode(started.kubeconfig) == 0o600
    started.stop()
    assert not tls.directory.exists()
    material = make_tls()
    try:
        assert _mode(material.key_file) == 0o600
    finally:
        for item in (material.key_file, material.cert_file):
            item.unlink()
        material.directory.rmdir()


#: ``kitlib serve`` at debug level, with a fault whose exception message quotes the request
#: headers (so the token), and a copy of its TLS key for the test to look for.
_FAULTY_SERVE = """
import sys
from pathlib import Path
from kitlib.apiserver import server
from kitlib.apiserver.handlers import ResourceHandlers

make_tls = server.make_tls

def keep_a_copy():
    tls = make_tls()
    Path(sys.argv[2]).write_bytes(tls.key_file.read_bytes())
    return tls

def broken(self, rt, ns, req):
    raise RuntimeError(f"injected fault, headers: {req.headers}")

server.make_tls = keep_a_copy
ResourceHandlers.list_collection = broken
sys.exit(server.serve(server.ServeOptions(kubeconfig=Path(sys.argv[1]), exit_with_stdin=True,
                                          log_level="debug")))
"""


def test_the_server_log_at_debug_level_holds_no_token_or_key_even_with_errors(
        tmp_path: Path) -> None:
    kubeconfig, key_copy, log = tmp_path / "kubeconfig", tmp_path / "key", tmp_path / "log"
    with log.open("wb") as stderr:
        child = subprocess.Popen([sys.executable, "-c", _FAULTY_SERVE, str(kubeconfig),
                                  str(key_copy)], stdin=subprocess.PIPE, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while not kubeconfig.exists():
            assert child.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        http = Http(kubeconfig)
        token = http.token
        answers = [http.request("GET", f"{NS}/configmaps", {"Authorization": f"Bearer {token}"}),
                   http.request("GET", "/api", {"Authorization": f"Bearer {token}x"}),
                   http.request("POST", f"{NS}/configmaps", {"Authorization": f"Bearer {token}",
                                                             "Content-Type": "application/json"},
                                body=b"{not json"),
                   http.request("GET", "/api", {"Authorization": f"Basic {token}"})]
        http.close()
        assert [a.status for a in answers] == [500, 401, 400, 401]
        assert token not in answers[0].data.decode()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" in text and "injected fault" in text, text  # the error was logged
    assert "Using selector" in text, text  # asyncio's DEBUG line: the level was debug
    key_body = "".join(line for line in key_copy.read_text().splitlines()
                       if "-----" not in line)
    assert token not in text and token[:16] not in text
    assert key_body[:40] not in text and "PRIVATE KEY" not in text


def test_the_redacting_filter_covers_message_arguments_and_tracebacks() -> None:
    secret = new_token()
    try:
        raise RuntimeError(f"Authorization: Bearer {secret}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s", (secret,),
                                   sys.exc_info())
    assert RedactingFilter([secret]).filter(record)
    shown = logging.Formatter().format(record)
    assert secret not in shown and shown.count("<redacted>") == 2


# -- the client on a read-only handle ----------------------------------------------------------

class MethodSpy:
    """Every (method, path?query) request that reaches a ``ThreadedServer``'s app."""

    def __init__(self, started: ThreadedServer) -> None:
        self.app = started.server.app
        assert self.app is not None
        self.inner = self.app.asgi
        self.seen: list[tuple[str, str]] = []
        self.app.asgi = self  # type: ignore[assignment]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode()
            self.seen.append((scope["method"], scope["path"] + (f"?{query}" if query else "")))
        await self.inner(scope, receive, send)

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.seen if m not in ("GET", "HEAD")]


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                           "containers": [{"name": "app", "image": "nginx:1.25"}]}}}}


@pytest.fixture
def read_only(start_api_server: Callable[..., ThreadedServer]
              ) -> Iterator[tuple[Any, MethodSpy, ThreadedServer]]:
    started = start_api_server(nodes=2)
    with kitlib.connect(kubeconfig=started.kubeconfig) as writer:
        writer.apply(DEPLOYMENT)
        writer.deploy_example("shop", replicas=2)
        writer.sleep(60)
        writer.rollout("deploy/web", images={"app": "nginx:1.26"})  # a revision to undo
        writer.sleep(60)
    spy = MethodSpy(started)
    with kitlib.connect(kubeconfig=started.kubeconfig, allow_writes=False) as cluster:
        yield cluster, spy, started


def _operations(cluster: Any, pod: str, node: str, dry_run: bool
                ) -> dict[str, Callable[[], object]]:
    return {
        "apply": lambda: cluster.apply({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"],
                                                               "replicas": 3}}, dry_run=dry_run),
        "evict": lambda: cluster.evict(pod, dry_run=dry_run),
        "cordon": lambda: cluster.cordon(node, dry_run=dry_run),
        "uncordon": lambda: cluster.uncordon(node, dry_run=dry_run),
        "drain": lambda: cluster.drain(node, dry_run=dry_run, timeout=30),
        "rollout": lambda: cluster.rollout("deploy/web", images={"app": "nginx:1.27"},
                                           dry_run=dry_run),
        "pause": lambda: cluster.pause("deploy/web", dry_run=dry_run),
        "resume": lambda: cluster.resume("deploy/web", dry_run=dry_run),
        "set_partition": lambda: cluster.set_partition("cloneset/shop", 1, dry_run=dry_run),
        "scale": lambda: cluster.scale("deploy/web", 5, dry_run=dry_run),
        "undo": lambda: cluster.undo("deploy/web", dry_run=dry_run),
        "restart_container": lambda: cluster.restart_container(pod, "app", dry_run=dry_run),
        "deploy_example": lambda: cluster.deploy_example("other", replicas=1, dry_run=dry_run),
        "fail_node": lambda: cluster.fail_node(node, dry_run=dry_run),
        "restore_node": lambda: cluster.restore_node(node, dry_run=dry_run),
    }


def _shop_pod(cluster: Any) -> tuple[str, str]:
    from kitlib.client.raw import get_json

    pods = get_json(cluster.api_client, "/api/v1/namespaces/default/pods?labelSelector=app=shop")
    pod = pods["items"][0]
    return pod["metadata"]["name"], pod["spec"]["nodeName"]


def test_every_mutating_operation_refuses_on_a_read_only_handle_and_sends_no_write(
        read_only: tuple[Any, MethodSpy, ThreadedServer]) -> None:
    cluster, spy, started = read_only
    pod, node = _shop_pod(cluster)
    rv = started.call(lambda: started.server.cluster.store.resource_version)
    refused = []
    for name, operation in _operations(cluster, pod, node, dry_run=False).items():
        with pytest.raises(WritesNotAllowedError, match="read-only") as info:
            operation()
        assert "allow_writes=True" in str(info.value) and "dry_run=True" in str(info.value)
        refused.append(name)
    assert spy.writes() == []
    assert started.call(lambda: started.server.cluster.store.resource_version) == rv
    assert len(refused) == 15


def test_every_destructive_operation_takes_dry_run_and_changes_nothing(
        read_only: tuple[Any, MethodSpy, ThreadedServer]) -> None:
    cluster, spy, started = read_only
    pod, node = _shop_pod(cluster)
    store = started.server.cluster.store
    rv = started.call(lambda: store.resource_version)
    operations = _operations(cluster, pod, node, dry_run=True)
    del operations["uncordon"], operations["resume"]  # not destructive; checked as writes
    for operation in operations.values():
        operation()
    writes = spy.writes()
    assert writes, "a dry run still asks the server"
    assert all("dryRun=All" in path for _, path in writes), writes
    assert started.call(lambda: store.resource_version) == rv


# -- RBAC manifests ----------------------------------------------------------------------------

RBAC = Path(__file__).resolve().parents[2] / "docs" / "rbac"


def test_the_rbac_manifests_apply_on_the_embedded_cluster_where_they_are_stored_not_enforced(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    """``kubectl apply -f docs/rbac/`` works on the embedded cluster, which stores the Roles,
    ClusterRoles and bindings and serves them back — but does not enforce them: its one
    bearer token may still do what the reader Role does not grant (docs/rbac.md)."""
    kubectl = "/usr/bin/kubectl"
    if not os.access(kubectl, os.X_OK):
        pytest.skip("kubectl is not installed on this machine")
    started = start_api_server()

    def run(*args: str) -> str:
        proc = subprocess.run([kubectl, f"--kubeconfig={started.kubeconfig}", *args],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, (args, proc.stderr)
        return proc.stdout

    run("create", "namespace", "kruise-system")
    applied = run("apply", "-f", str(RBAC))
    assert applied.count("created") == 11, applied
    assert run("apply", "-f", str(RBAC)).count("unchanged") == 11
    roles = run("get", "roles,rolebindings", "-A", "-o", "name").split()
    assert sorted(roles) == sorted([
        "role.rbac.authorization.k8s.io/kitlib-reader",
        "role.rbac.authorization.k8s.io/kitlib-operator",
        "role.rbac.authorization.k8s.io/kitlib-kruise-manager-reader",
        "rolebinding.rbac.authorization.k8s.io/kitlib-reader",
        "rolebinding.rbac.authorization.k8s.io/kitlib-operator",
        "rolebinding.rbac.authorization.k8s.io/kitlib-kruise-manager-reader"])
    stored = yaml.safe_load(run("get", "clusterrole", "kitlib-node-operator", "-o", "yaml"))
    assert {"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]} in stored["rules"]
    assert "kitlib-cluster-reader" in run("get", "clusterrolebindings")
    # Not enforced: nothing above grants deleting a Role, and the token still may.
    run("delete", "role", "kitlib-operator")


def test_a_log_level_that_would_log_headers_is_refused_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(LOG_LEVEL_ENV, "trace")  # uvicorn's trace level logs request headers
    assert serve(ServeOptions()) == 2
    assert capsys.readouterr().err == (
        "kitlib serve: error: log level 'trace' is not one of critical, error, warning, info, "
        "debug (check $KITLIB_LOG_LEVEL)\n")
    with pytest.raises(ValueError, match="log level"):
        EmbeddedServer(ServeOptions(log_level="trace"))
