"""Running the embedded API server: uvicorn over HTTPS on loopback, plus the clock.

``EmbeddedServer`` binds ``127.0.0.1`` (loopback only; anything else is refused),
makes fresh TLS material and a random token, serves ``ApiServerApp`` with
uvicorn on the current asyncio loop, paces the engine in paced mode, and writes
the kubeconfig once it is listening (so a file on disk means "ready").

``serve(options)`` is what ``kitlib serve`` runs: it blocks until SIGINT or
SIGTERM (or, with ``exit_with_stdin``, until its parent closes our stdin — how
``kitlib.connect()`` makes sure no server outlives its kernel), then shuts
down cleanly and removes its TLS directory. Its log (stderr; level from
``ServeOptions.log_level`` or ``$KITLIB_LOG_LEVEL``) goes through handlers that
redact the bearer token (``RedactingFilter``); the TLS key is never logged.
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
from kitlib.apiserver.protocol import GuardedH11Protocol
from kitlib.apiserver.simapi import CATCH_UP_SLICE, SimClock
from kitlib.apiserver.tls import TlsMaterial, make_tls, new_token, write_kubeconfig
from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster
from kitlib.cluster.kruise.kinds import KruiseSettings, parse_feature_gates
from kitlib.cluster.snapshot import load_snapshot, settings_from_json, settings_to_json
from kitlib.cluster.state import ClusterState
from kitlib.model import errors
from kitlib.store.persist import DataDir, DataDirError

__all__ = ["LOG_LEVELS", "LOG_LEVEL_ENV", "SERVER_GC_THRESHOLDS", "EmbeddedServer", "RedactingFilter",
           "ServeOptions", "open_data_dir", "serve", "tune_gc"]

log = logging.getLogger("kitlib.serve")
#: The environment variable ``kitlib serve`` (and so ``kitlib.connect()``'s child) reads its
#: log level from when ``ServeOptions.log_level`` is not given.
LOG_LEVEL_ENV = "KITLIB_LOG_LEVEL"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


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
    #: Keep the store in this directory (``kitlib serve --data-dir``): a restarted server
    #: continues from it. None: in memory only. See ``kitlib.store.persist``.
    data_dir: Path | None = None
    #: Start from this snapshot file (``kitlib serve --snapshot``, ``kitlib.cluster.snapshot``):
    #: its settings replace seed/nodes/kruise/feature_gates. Not with ``data_dir``.
    snapshot: Path | None = None
    #: Log level of ``serve()`` and uvicorn: critical, error, warning, info or debug (None:
    #: ``$KITLIB_LOG_LEVEL``, else warning). uvicorn's ``trace`` level, which logs request
    #: headers and so the bearer token, is refused.
    log_level: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def resolved_log_level(self) -> str:
        """The log level to use, checked (``ValueError`` names the levels accepted)."""
        level = (self.log_level or os.environ.get(LOG_LEVEL_ENV) or "warning").lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
        return level


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
        options.resolved_log_level()  # a wrong level fails here, before anything is made
        self.options = options
        settings = options.cluster_settings or ClusterSettings(
            seed=options.seed, nodes=options.nodes, kruise=KruiseSettings(
                enabled=options.kruise, gates=parse_feature_gates(options.feature_gates)))
        #: The open data directory (``options.data_dir``), or None.
        self.data: DataDir | None = None
        if options.data_dir is not None and cluster is None:
            self.data, cluster = open_data_dir(options.data_dir, settings)
        if options.snapshot is not None and cluster is None and self.data is None:
            cluster = load_snapshot(options.snapshot)
        self.cluster = cluster or EmbeddedCluster(settings)
        if self.data is not None:
            self.data.attach(self.cluster.store, rng_states=self.cluster.engine.rng_states)
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
        self.app = ApiServerApp(self.cluster, self.clock, token=self.token,
                                flush=self.data.flush if self.data is not None else None)
        config = uvicorn.Config(
            self.app, log_level=self.options.resolved_log_level(), access_log=False,
            lifespan="off", log_config=None,  # uvicorn logs through the root handlers
            ssl_certfile=str(self.tls.cert_file) if self.tls else None,
            ssl_keyfile=str(self.tls.key_file) if self.tls else None,
            timeout_keep_alive=30, timeout_graceful_shutdown=2,
            http=GuardedH11Protocol)  # slow clients: a deadline for request headers
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
        """Pump the paced engine: run what is due, then sleep until the next event (at most
        ``MAX_IDLE``). Clock reads between two pumps catch up by themselves
        (``SimClock.catch_up``), so this sleep never makes a client see a stale time."""
        assert self.clock is not None
        while True:
            if self.clock.running:
                result = self.clock.paced.pump(max_events=CATCH_UP_SLICE)
                if self.data is not None:  # bounds what a crash can take back
                    with contextlib.suppress(errors.ServiceUnavailable):
                        self.data.flush()
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
        if self.data is not None:
            with contextlib.suppress(errors.ServiceUnavailable):
                self.data.close()
            self.data = None
        if self.tls is not None:
            shutil.rmtree(self.tls.directory, ignore_errors=True)


class RedactingFilter(logging.Filter):
    """A handler filter that replaces secrets in every record it lets through.

    The message, its arguments and the exception text (formatted here, before any
    formatter sees it) are redacted, so no log line or traceback carries the bearer
    token even when an exception message quotes a request header.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _redact_logs(token: str) -> None:
    """Redact ``token`` in everything the root logger's handlers (uvicorn's too) write."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter([token]))


async def _serve(options: ServeOptions) -> int:
    server = EmbeddedServer(options)
    _redact_logs(server.token)
    # Before start(): once the kubeconfig exists a SIGTERM must already mean a clean exit.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.request_stop)
    if options.exit_with_stdin:
        _exit_when_stdin_closes(loop, server)
    await server.start()
    mode = options.mode if options.mode == "stepped" else f"paced at {options.speed:g}x"
    log.warning("kitlib: embedded cluster (seed %d, %s) serving on %s%s",
                server.cluster.settings.seed, mode,
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


def open_data_dir(path: Path, settings: ClusterSettings
                  ) -> tuple[DataDir, EmbeddedCluster | None]:
    """Open (or create, mode 0700) ``path`` and rebuild the cluster it holds (None: a new
    directory, which keeps ``settings``). The directory's own settings win over
    ``settings``; the differences are logged (stderr under ``kitlib serve``)."""
    data = DataDir(path, settings=settings_to_json(settings))
    try:
        found = data.recovered
        if found is None:
            return data, None
        stored = settings_from_json(found.settings, source=str(path))
        _warn_overridden(path, settings_to_json(settings), found.settings)
        state = ClusterState(objects=found.objects, resource_version=found.resource_version,
                             now=found.now, rng_states=found.rng_states or None,
                             history=found.history)
        cluster = EmbeddedCluster.from_state(state, stored)
    except ValueError as exc:  # SnapshotError (its settings) included
        data.close()
        raise DataDirError(f"cannot rebuild the cluster kept in {path}: {exc}") from None
    except BaseException:
        data.close()
        raise
    log.warning("kitlib: recovered %d objects at resourceVersion %d (simulated time %.1f s) "
                "from %s", len(found.objects), found.resource_version, found.now, path)
    return data, cluster


def _warn_overridden(path: Path, wanted: dict[str, object], stored: dict[str, object],
                     prefix: str = "") -> None:
    for key in sorted(set(wanted) | set(stored)):
        mine, theirs = wanted.get(key), stored.get(key)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            _warn_overridden(path, mine, theirs, f"{prefix}{key}.")
        elif mine != theirs:
            log.warning("kitlib: %s was created with %s%s=%r; that wins over %r", path, prefix,
                        key, theirs, mine)


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
    """Run until SIGINT/SIGTERM, then shut down cleanly (exit status 0; 2 for a bad log
    level, said in one line)."""
    try:
        level = options.resolved_log_level()
    except ValueError as exc:
        print(f"kitlib serve: error: {exc} (check ${LOG_LEVEL_ENV})", file=sys.stderr)
        return 2
    logging.basicConfig(level=level.upper(), format="%(message)s")
    tune_gc()
    return asyncio.run(_serve(options))
