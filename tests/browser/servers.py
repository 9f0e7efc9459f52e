"""JupyterLab and Voila servers on loopback for the real-browser tests.

Each server runs in its own process group with a private Jupyter environment (a temporary
``HOME``, config, data and runtime directories, and a kernelspec ``kitlib-test`` whose
``argv`` is this interpreter), so the kernel the notebook gets is the venv's Python and
nothing is read from or written to the developer's own Jupyter settings. JupyterLab's
news, update checks and extension manager are switched off: the servers never reach the
network. ``stop()`` shuts kernels down through the REST API, then ends the server's
process group and every process the server started (kernels run in their own sessions),
by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = ["KERNEL_NAME", "JupyterEnv", "Server", "free_port", "start_lab", "start_voila"]

#: The kernelspec every test notebook names: this interpreter, whatever ``python3`` is.
KERNEL_NAME = "kitlib-test"

#: JupyterLab user settings that keep the UI quiet and offline.
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
    # every cell stays in the DOM (no virtual scrolling), so outputs can be found
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass(frozen=True)
class JupyterEnv:
    """A private Jupyter environment under ``root`` (see the module docstring)."""

    root: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def settings(self) -> Path:
        return self.root / "lab-settings"

    @classmethod
    def create(cls, root: Path) -> JupyterEnv:
        env = cls(root)
        for sub in ("home", "config", "data", "runtime", "workspaces", "notebooks"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        spec_dir = root / "data" / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                         "{connection_file}"],
                "display_name": "kitlib test (venv Python)", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        for name, values in _LAB_SETTINGS.items():
            path = env.settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        return env

    def environ(self) -> dict[str, str]:
        """The server processes' environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        env.update(HOME=str(self.root / "home"), JUPYTER_CONFIG_DIR=str(self.root / "config"),
                   JUPYTER_DATA_DIR=str(self.root / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.root / "runtime"),
                   JUPYTER_PATH=str(self.root / "data"), JUPYTER_PLATFORM_DIRS="1",
                   PYDEVD_DISABLE_FILE_VALIDATION="1", PYTHONUNBUFFERED="1")
        # the kernel imports the working tree's kitlib, as the tests do
        repo = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
        return env


@dataclass
class Server:
    """A started server process: its base URL, token (may be empty) and log file.

    ``kernels_api``: the server has Jupyter's REST API (``api/kernels``; Voila has not).
    """

    name: str
    process: subprocess.Popen[bytes]
    url: str
    token: str
    log: Path
    kernels_api: bool = False
    _children: dict[int, psutil.Process] = field(default_factory=dict)

    def wait_ready(self, path: str, *, timeout: float = 60.0) -> None:
        """Poll ``GET url+path`` until it answers 200 (``RuntimeError`` with the log tail)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            with contextlib.suppress(OSError):
                if self.get(path, timeout=2.0) == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")

    def get(self, path: str, *, timeout: float = 10.0) -> int:
        request = urllib.request.Request(self.url + path, headers=self._auth())
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        return ""

    def shutdown_kernels(self) -> None:
        """Shut down every kernel the server runs (Jupyter's REST API; best effort)."""
        if not self.kernels_api:
            return
        with contextlib.suppress(OSError, ValueError):
            request = urllib.request.Request(self.url + "api/kernels", headers=self._auth())
            with urllib.request.urlopen(request, timeout=5) as response:
                kernels = json.loads(response.read())
            for kernel in kernels:
                delete = urllib.request.Request(self.url + f"api/kernels/{kernel['id']}",
                                                method="DELETE", headers=self._auth())
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(delete, timeout=15).close()

    def stop(self) -> None:
        """Shut its kernels down, stop the server, then anything it started that is still
        running (by pid)."""
        self.remember_children()
        if self.process.poll() is None:
            self.shutdown_kernels()
            self._end_group()
        _terminate(list(self._children.values()))

    def _end_group(self) -> None:
        """SIGTERM the server's process group; SIGKILL it if it is still there in 15 s."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def remember_children(self) -> None:
        """Record the processes the server runs now (kernels and what they started)."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self._children.setdefault(child.pid, child)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_lab(env: JupyterEnv, *, logs: Path) -> Server:
    """Start JupyterLab on 127.0.0.1 serving ``env.notebooks`` and wait until it answers."""
    port, token = free_port(), secrets.token_hex(16)
    args = ["-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={env.notebooks}",
            "--ServerApp.open_browser=False", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={env.settings}",
            f"--LabApp.workspaces_dir={env.root / 'workspaces'}",
            "--LabApp.extension_manager=readonly", "--ServerApp.allow_root=True",
            "--ServerApp.terminals_enabled=False"]
    return _spawn("jupyterlab", args, env, port=port, token=token, logs=logs,
                  ready="api/status", kernels_api=True)


def start_voila(env: JupyterEnv, notebook: Path, *, logs: Path) -> Server:
    """Start Voila on 127.0.0.1 for ``notebook`` and wait until its static files answer
    (the notebook itself runs per page request)."""
    port = free_port()
    args = ["-m", "voila", str(notebook), "--no-browser", "--Voila.ip=127.0.0.1",
            f"--port={port}", "--show_tracebacks=True"]
    return _spawn("voila", args, env, port=port, token="", logs=logs,
                  ready="voila/static/voila.js")


def _spawn(name: str, args: list[str], env: JupyterEnv, *, port: int, token: str,
           logs: Path, ready: str, kernels_api: bool = False) -> Server:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([sys.executable, *args], cwd=env.notebooks,
                                   env=env.environ(), stdin=subprocess.DEVNULL, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, process, f"http://127.0.0.1:{port}/", token, log, kernels_api)
    try:
        server.wait_ready(ready)
    except BaseException:
        server.stop()
        raise
    return server


def _terminate(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()  # psutil checks the pid was not reused
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
