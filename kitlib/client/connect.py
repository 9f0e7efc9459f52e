"""``connect()``: a ``Cluster`` handle over the official client, for any API server.

* ``connect()`` with no arguments starts an **embedded cluster** in a child
  process (``python -m kitlib serve``) and connects to it. It never picks up a
  real cluster by default, even when ``KUBECONFIG`` is set. The child exits
  with its parent: it watches its stdin (closed when the parent dies, however
  it dies) and, on Linux, also gets ``PR_SET_PDEATHSIG``.
* ``connect(kubeconfig=..., context=...)`` connects to any API server. If that
  server answers the ``sim.kitlib.io`` group it is an embedded cluster (e.g. one
  started by hand with ``kitlib serve``) and the simulated clock is used;
  otherwise it is a real cluster and time is the wall clock.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kubernetes import config as kube_config

from kitlib.client.cluster import Cluster, close_api_client

__all__ = ["EmbeddedProcess", "connect"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class EmbeddedProcess:
    """A ``kitlib serve`` child process and the files it owns."""

    process: subprocess.Popen[bytes]
    directory: Path
    log: IO[bytes]
    #: Whether it serves the OpenKruise kinds (``kitlib serve`` without ``--no-kruise``).
    kruise: bool = True
    #: The OpenKruise feature gates it was started with (``--feature-gates``).
    feature_gates: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def log_path(self) -> Path:
        return self.directory / "serve.log"

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the server to exit (closing its stdin), then insist if it does not."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        return self.process.returncode


def start_embedded(*, mode: str, speed: float, seed: int, timeout: float, nodes: int = 0,
                   kruise: bool = True, feature_gates: str = "") -> EmbeddedProcess:
    """Start ``python -m kitlib serve`` in a temporary directory and wait for its kubeconfig."""
    directory = Path(tempfile.mkdtemp(prefix="kitlib-"))
    log = open(directory / "serve.log", "wb")  # noqa: SIM115 - owned by EmbeddedProcess
    args = [sys.executable, "-m", "kitlib", "serve", "--port", "0",
            "--kubeconfig", str(directory / "kubeconfig"), "--mode", mode,
            "--speed", str(speed), "--seed", str(seed), "--nodes", str(nodes), "--exit-with-stdin",
            "--owned-dir", str(directory)]
    args += ([] if kruise else ["--no-kruise"]) + (
        ["--feature-gates", feature_gates] if feature_gates else [])
    process = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    child = EmbeddedProcess(process, directory, log, kruise=kruise, feature_gates=feature_gates)
    _wait_ready(child, timeout)
    return child


def _wait_ready(child: EmbeddedProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not child.kubeconfig.exists():
        if child.process.poll() is not None or time.monotonic() > deadline:
            output = child.log_path.read_text(errors="replace")[-2000:]
            child.stop()
            raise RuntimeError("the embedded cluster did not start "
                               f"(exit code {child.process.returncode}); its log says:\n{output}")
        time.sleep(0.02)


def connect(kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None, *,
            mode: str = "stepped", speed: float = 20.0, seed: int = 0, nodes: int = 0,
            namespace: str | None = None, allow_writes: bool | None = None,
            kruise: bool = True, feature_gates: str = "", startup_timeout: float = 60.0
            ) -> Cluster:
    """Connect to a cluster and return its ``Cluster`` handle.

    Args:
        kubeconfig: path of a kubeconfig; with neither this nor ``context``, an
            embedded cluster is started (``mode``, ``speed`` and ``seed`` apply to it).
        context: kubeconfig context (default: the current one).
        mode: ``"stepped"`` (time moves only on ``sleep``) or ``"paced"`` (``speed``
            × wall clock), for a started embedded cluster.
        nodes: nodes the started embedded cluster has (each with a simulated kubelet).
        namespace: default namespace for operations (default: the context's, else
            ``default``): every namespaced operation without an explicit namespace acts
            there, never cluster-wide.
        allow_writes: whether mutating operations are allowed; defaults to True on
            embedded clusters and False on real ones.
        kruise: whether the started embedded cluster serves the OpenKruise kinds
            (False: it behaves like a plain Kubernetes cluster; ``kitlib serve --no-kruise``).
        feature_gates: OpenKruise feature gates of the started embedded cluster, in
            kruise-manager's syntax (``"CloneSetPartitionRollback=true"``).
        startup_timeout: wall seconds to wait for a started embedded cluster.

    Returns:
        The handle; close it (or use ``with``) to release the connection and stop a
        started embedded cluster.

    Raises:
        RuntimeError: the embedded cluster did not start (e.g. an unknown feature gate);
            the message quotes its log.
        ValueError: ``kruise`` or ``feature_gates`` given for a server that is already
            running (they only apply to a started embedded cluster).
        kitlib.errors.Unauthorized: the server refused the credentials (the message never
            quotes them).
    """
    if kubeconfig is None and context is None:
        child = start_embedded(mode=mode, speed=speed, seed=seed, nodes=nodes,
                               kruise=kruise, feature_gates=feature_gates,
                               timeout=startup_timeout)
        try:
            return _handle(str(child.kubeconfig), None, namespace, allow_writes, child)
        except BaseException:
            child.stop()
            raise
    if not kruise or feature_gates:
        raise ValueError("kruise and feature_gates apply only to an embedded cluster that "
                         "connect() starts (no kubeconfig or context); a running server keeps "
                         "the flags it was started with")
    path = str(Path(kubeconfig).expanduser()) if kubeconfig is not None else None
    return _handle(path, context, namespace, allow_writes, None)


def _handle(path: str | None, context: str | None, namespace: str | None,
            allow_writes: bool | None, child: EmbeddedProcess | None) -> Cluster:
    api_client = kube_config.new_client_from_config(config_file=path, context=context)
    ns = namespace or _context_namespace(path, context) or "default"
    try:
        return Cluster(api_client, kubeconfig=path, namespace=ns, allow_writes=allow_writes,
                       process=child)
    except BaseException:  # e.g. the server is unreachable: do not leak the client's pool
        close_api_client(api_client)
        raise


def _context_namespace(path: str | None, context: str | None) -> str | None:
    with contextlib.suppress(Exception):
        contexts, active = kube_config.list_kube_config_contexts(config_file=path)
        chosen: dict[str, Any] = next((c for c in contexts if c["name"] == context), active) \
            if context else active
        return str(chosen.get("context", {}).get("namespace") or "") or None
    return None
