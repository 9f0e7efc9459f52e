"""Running the embedded API server: uvicorn over HTTPS on loopback, plus the clock.

``EmbeddedServer`` binds ``127.0.0.1`` (loopback only; anything else is refused),
makes fresh TLS material and a random token, serves ``ApiServerApp`` with
uvicorn on the current asyncio loop, paces the engine in paced mode, and writes
the kubeconfig once it is listening (so a file on disk means "ready").

``serve(options)`` is what ``kitlib serve`` runs: it blocks until SIGINT or
SIGTERM (or, with ``exit_with_stdin``, until its parent closes our stdin — how
``kitlib.connect()`` makes sure no server outlives its kernel), then shuts
down cleanly and removes its TLS directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.apiserver.tls import TlsMaterial, make_tls, new_token, write_kubeconfig
from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster
from kitlib.cluster.kruise.kinds import KruiseSettings, parse_feature_gates

__all__ = ["SERVER_GC_THRESHOLDS", "EmbeddedServer", "ServeOptions", "serve", "tune_gc"]

log = logging.getLogger("kitlib.serve")


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    kubeconfig: Path | None = None
    mode: str = "stepped"
    speed: float = 20.0
    seed: int = 0
    #: Nodes created at start (``ClusterSettings(nodes=N)``; ``kitlib serve --nodes N``).
    nodes: int = 0
    #: Serve the OpenKruise kinds (False: behave like a cluster without OpenKruise).
    kruise: bool = True
    #: OpenKruise feature gates, e.g. "CloneSetPartitionRollback=true" (upstream defaults otherwise).
    feature_gates: str = ""
    #: Serve plain HTTP (tests of the HTTP layer only; kubectl sends no token over HTTP).
    insecure_http: bool = False
    token: str | None = None
    exit_with_stdin: bool = False
    #: A directory the server removes when it exits after having served (the temporary
    #: directory ``kitlib.connect()`` made for it, so that nothing is left behind even when
    #: the parent was killed and could not clean up).
    owned_dir: Path | None = None
    cluster_settings: ClusterSettings | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"the embedded API server listens on loopback only (127.0.0.1), "
                         f"not on {host!r}")


class _Uvicorn(uvicorn.Server):
    """uvicorn, minus its signal handling: ``serve()`` owns SIGINT/SIGTERM so that it can
    clean up (TLS directory) and exit 0 instead of re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedServer:
    def __init__(self, options: ServeOptions, cluster: EmbeddedCluster | None = None) -> None:
        _check_loopback(options.host)
        self.options = options
        settings = options.cluster_settings or ClusterSettings(
            seed=options.seed, nodes=options.nodes, kruise=KruiseSettings(
                enabled=options.kruise, gates=parse_feature_gates(options.feature_gates)))
        self.cluster = cluster or EmbeddedCluster(settings)
        self.token = options.token or new_token()
        self.tls: TlsMaterial | None = None if options.insecure_http else make_tls()
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
        # without it Nagle + delayed ACKs add ~40 ms to every keep-alive request.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((options.host, options.port))
        self.port = self.socket.getsockname()[1]
        self._uvicorn: _Uvicorn | None = None
        self._stop_requested = False
        self._tasks: list[asyncio.Task[None]] = []
        self.clock: SimClock | None = None
        self.app: ApiServerApp | None = None

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{self.options.host}:{self.port}"

    async def start(self) -> None:
        self.clock = SimClock.create(self.cluster, mode=self.options.mode,
                                     speed=self.options.speed, wall=time.monotonic)
        self.app = ApiServerApp(self.cluster, self.clock, token=self.token)
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off",
            ssl_certfile=str(self.tls.cert_file) if self.tls else None,
            ssl_keyfile=str(self.tls.key_file) if self.tls else None,
            timeout_keep_alive=30, timeout_graceful_shutdown=2)
        self._uvicorn = _Uvicorn(config)
        self._uvicorn.should_exit = self._stop_requested  # a signal that came during start
        self._tasks.append(asyncio.create_task(self._uvicorn.serve(sockets=[self.socket])))
        self._tasks.append(asyncio.create_task(self._pace()))
        while not self._uvicorn.started:
            if self._tasks[0].done():
                self._tasks[0].result()  # surface the startup error
            await asyncio.sleep(0.01)
        if self.options.kubeconfig is not None:
            write_kubeconfig(self.options.kubeconfig, server=self.url, token=self.token,
                             ca_pem=self.tls.ca_pem if self.tls else None)

    async def _pace(self) -> None:
        assert self.clock is not None
        while True:
            if self.clock.running:
                result = self.clock.paced.pump(max_events=5_000)
                await asyncio.sleep(result.idle)
            else:
                await asyncio.sleep(0.1)

    async def wait(self) -> None:
        """Return when the server stops (signal, ``stop()``, or an error)."""
        await self._tasks[0]

    def request_stop(self) -> None:
        self._stop_requested = True
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    async def stop(self) -> None:
        self.request_stop()
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.close()
        if self.tls is not None:
            shutil.rmtree(self.tls.directory, ignore_errors=True)


async def _serve(options: ServeOptions) -> int:
    server = EmbeddedServer(options)
    # Before start(): once the kubeconfig exists a SIGTERM must already mean a clean exit.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.request_stop)
    if options.exit_with_stdin:
        _exit_when_stdin_closes(loop, server)
    await server.start()
    mode = options.mode if options.mode == "stepped" else f"paced at {options.speed:g}x"
    log.warning("kitlib: embedded cluster (seed %d, %s) serving on %s%s", options.seed, mode,
                server.url, f"; kubeconfig: {options.kubeconfig}" if options.kubeconfig else "")
    try:
        await server.wait()
    finally:
        await server.stop()
        if options.owned_dir is not None:
            shutil.rmtree(options.owned_dir, ignore_errors=True)
    log.warning("kitlib: embedded cluster stopped")
    return 0


def _exit_when_stdin_closes(loop: asyncio.AbstractEventLoop, server: EmbeddedServer) -> None:
    def watch() -> None:
        # os.read on the descriptor, not sys.stdin.buffer: a daemon thread blocked inside the
        # buffered reader holds its lock, and interpreter shutdown (after SIGTERM) then aborts
        # with "could not acquire lock for <stdin> at interpreter shutdown".
        with contextlib.suppress(Exception):
            while os.read(sys.stdin.fileno(), 1024):
                pass
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(server.request_stop)

    threading.Thread(target=watch, name="kitlib-parent-watch", daemon=True).start()


#: Cyclic-GC thresholds of a process that hosts the API server (CPython's: 700, 10, 10).
SERVER_GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> tuple[int, int, int]:
    """Give this process the GC thresholds of a server; returns the previous ones.

    The store holds hundreds of thousands of long-lived, acyclic containers.
    With CPython's default thresholds a young collection runs every 700
    allocations, so the objects of a request in flight (the rows of a Table, a
    burst of writes) are promoted, and full collections that traverse the
    whole store follow; with these, bulk writes spend little time in the
    collector (measured in ``benchmarks/``, see ``docs/performance.md``). Young
    cycles are still collected, every 50,000 net allocations. ``kitlib serve``
    calls this; an in-process ``EmbeddedServer`` leaves the host's GC alone.
    """
    previous = gc.get_threshold()
    gc.set_threshold(*SERVER_GC_THRESHOLDS)
    return previous


def serve(options: ServeOptions) -> int:
    """Run until SIGINT/SIGTERM, then shut down cleanly (exit status 0)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    tune_gc()
    return asyncio.run(_serve(options))
