"""An ``EmbeddedServer`` on an asyncio loop in a background thread, for benchmarks.

The store is only ever touched from the loop's thread: bulk in-process writes
go through ``ServerThread.call`` (a plain function run on the loop) or
``ServerThread.run`` (a coroutine run on the loop). Clients (the official
client, kubectl, watcher processes) are separate processes that talk to the
server over HTTPS through the kubeconfig it writes, as in real use; this
process plays the ``kitlib serve`` process, so it gets its GC settings
(``kitlib.apiserver.server.tune_gc``) while a ``ServerThread`` is open.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from benchmarks import check
from kitlib.apiserver.server import EmbeddedServer, ServeOptions, tune_gc
from kitlib.cluster.embedded import ClusterSettings
from kitlib.store.store import StoreSettings

__all__ = ["ROOT", "ServerThread", "wait_ready"]

T = TypeVar("T")
#: The repository root (the working directory of benchmark client processes).
ROOT = Path(__file__).resolve().parent.parent


class ServerThread:
    """``with ServerThread() as srv:`` — a running HTTPS API server and its kubeconfig."""

    def __init__(self, *, history_size: int = 100_000) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="kitlib-bench-"))
        self.kubeconfig = self.directory / "kubeconfig"
        settings = ClusterSettings(seed=0, store=StoreSettings(history_size=history_size))
        self.server = EmbeddedServer(ServeOptions(kubeconfig=self.kubeconfig,
                                                  cluster_settings=settings))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="kitlib-bench-server",
                                        daemon=True)
        self._gc_thresholds: tuple[int, int, int] | None = None

    @property
    def cluster(self) -> Any:
        return self.server.cluster

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._gc_thresholds = tune_gc()
        self._thread.start()
        try:
            self.run(self.server.start(), timeout=60)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 600) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 600) -> T:
        """Run ``fn(*args)`` on the server's loop thread (atomic w.r.t. requests)."""
        async def invoke() -> T:
            return fn(*args)
        return self.run(invoke(), timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self.run(self.server.stop(), timeout=30)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(30)
        if not self.loop.is_running():
            self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        if self._gc_thresholds is not None:
            gc.set_threshold(*self._gc_thresholds)
            self._gc_thresholds = None

    def thread_time(self) -> float:
        """CPU seconds used so far by the server's loop thread."""
        return self.call(time.thread_time)


def wait_ready(child: subprocess.Popen[str], *, timeout: float) -> None:
    """Wait for a client process's first stdout line to be ``ready`` (raises
    ``BenchmarkFailed`` after ``timeout`` wall seconds or on anything else)."""
    line: list[str] = []

    def read() -> None:
        assert child.stdout is not None
        line.append(child.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    check(line and line[0].strip() == "ready",
          f"a client process did not get ready: {line!r} (exit code {child.poll()})")
