"""Fixtures shared by every test directory.

``ThreadedServer`` runs a real ``EmbeddedServer`` (HTTPS, token, kubeconfig) on
its own asyncio loop in a background thread, so tests can talk to it with the
official ``kubernetes`` client exactly as a notebook would, without a child
process. Stopping it joins the thread and checks that nothing it started is
left running. ``plain_server`` stands in for a real (non-kitlib) API server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from kubernetes import client as k8s
from kubernetes import config as kube_config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kitlib.apiserver.server import EmbeddedServer, ServeOptions
from kitlib.client.cluster import close_api_client


class ThreadedServer:
    """An ``EmbeddedServer`` served from a background thread with its own event loop."""

    def __init__(self, directory: Path, **options: Any) -> None:
        self.kubeconfig = directory / "kubeconfig"
        self.server = EmbeddedServer(ServeOptions(kubeconfig=self.kubeconfig, **options))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._threads_before: set[threading.Thread] = set()
        self._thread = threading.Thread(target=self._run, name=f"kitlib-test-server-"
                                        f"{self.server.port}")
        self._clients: list[k8s.ApiClient] = []

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 30.0) -> ThreadedServer:
        self._threads_before = set(threading.enumerate())
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the embedded API server did not start")
        if self._error is not None:
            self._thread.join(timeout)
            raise RuntimeError("the embedded API server failed to start") from self._error
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await self.server.stop()
            return
        self._ready.set()
        try:
            await self.server.wait()
        finally:
            await self.server.stop()

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        """Run ``fn(*args)`` on the server's event loop (where the cluster may be touched)."""
        assert self._loop is not None

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def api_client(self) -> k8s.ApiClient:
        """A new official ``ApiClient`` for this server (closed when the server stops)."""
        api = kube_config.new_client_from_config(config_file=str(self.kubeconfig))
        self._clients.append(api)
        return api

    def stop(self, timeout: float = 15.0) -> None:
        for api in self._clients:
            close_api_client(api)
        self._clients.clear()
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.server.request_stop)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the embedded API server thread did not stop"
        leaked = [t for t in threading.enumerate()
                  if t not in self._threads_before and t.is_alive()]
        assert not leaked, f"threads left running by the embedded API server: {leaked}"


@pytest.fixture
def start_api_server(tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Callable[..., ThreadedServer]]:
    """Start ``ThreadedServer``s with the given ``ServeOptions``; all are stopped afterwards."""
    started: list[ThreadedServer] = []

    def start(**options: Any) -> ThreadedServer:
        server = ThreadedServer(tmp_path_factory.mktemp("apiserver"), **options)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


def module_server(**options: Any) -> Any:
    """A module-scoped fixture serving a ``ThreadedServer`` with these ``ServeOptions``
    (``server = module_server(nodes=3)`` at a test module's top level)."""
    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
        started = ThreadedServer(tmp_path_factory.mktemp("server"), **options).start()
        yield started
        started.stop()
    return server


@pytest.fixture(scope="module")
def connected(server: ThreadedServer) -> Iterator[Any]:
    """A ``kitlib.Cluster`` handle on the module's ``server`` fixture (closed afterwards)."""
    import kitlib

    with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
        yield handle


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """One default embedded API server (stepped clock) shared by a test module."""
    server = ThreadedServer(tmp_path_factory.mktemp("apiserver")).start()
    yield server
    server.stop()


def _not_found(_: Request) -> JSONResponse:
    return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Failure", "reason": "NotFound", "code": 404,
                         "message": "the server could not find the requested resource"},
                        status_code=404)


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[Path]:
    """A stand-in for a real API server: plain HTTP, and 404 for everything (no sim group)."""
    app = Starlette(routes=[Route("/{path:path}", _not_found)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="plain-server")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the stub did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "real",
        "clusters": [{"name": "real", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "real", "user": {"token": "t"}}],
        "contexts": [{"name": "real", "context": {"cluster": "real", "user": "real",
                                                  "namespace": "prod"}}]}))
    try:
        yield kubeconfig
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()
