"""The ``kitlib`` command line against a cluster served by ``kitlib serve``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def kitlib_command() -> list[str]:
    """The installed ``kitlib`` console script (``python -m kitlib`` if there is none)."""
    script = Path(sys.executable).with_name("kitlib")
    found = str(script) if script.exists() else shutil.which("kitlib")
    return [found] if found else [sys.executable, "-m", "kitlib"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*kitlib_command(), *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``kitlib serve --kubeconfig PATH`` in a child process, with its kubeconfig."""
    kubeconfig = tmp_path / "kubeconfig"
    server = subprocess.Popen([*kitlib_command(), "serve", "--kubeconfig", str(kubeconfig)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            assert server.poll() is None, "kitlib serve exited early"
            assert time.monotonic() < deadline, "kitlib serve did not write its kubeconfig"
            time.sleep(0.02)
        yield server, kubeconfig
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        assert server.stdout is not None
        server.stdout.close()


def test_kitlib_advance_and_clock_print_the_simulated_time(
        served: tuple[subprocess.Popen[bytes], Path]) -> None:
    _, kubeconfig = served
    advanced = run("advance", "30", "--kubeconfig", str(kubeconfig))
    assert advanced.returncode == 0, advanced.stderr
    assert advanced.stdout.strip() == "advanced 30 s: 0 s -> 30 s"

    clock = run("clock", "--kubeconfig", str(kubeconfig))
    assert clock.returncode == 0, clock.stderr
    line = clock.stdout.strip()
    assert re.fullmatch(r"now \S+T\S+Z \(30 s\), mode stepped, speed 20x, \d+ events processed",
                        line), line


def test_kitlib_serve_exits_0_on_sigterm_and_removes_its_tls_directory(
        served: tuple[subprocess.Popen[bytes], Path]) -> None:
    server, kubeconfig = served
    assert len(list(kubeconfig.parent.glob("kitlib-tls-*"))) == 1
    server.send_signal(signal.SIGTERM)
    assert server.wait(15) == 0
    assert server.stdout is not None
    output = server.stdout.read().decode()
    assert "embedded cluster stopped" in output
    assert "Fatal Python error" not in output
    assert list(kubeconfig.parent.glob("kitlib-tls-*")) == [], "its TLS directory is removed"
    assert kubeconfig.exists()


def test_kitlib_serve_exits_0_on_sigterm_while_watching_stdin(tmp_path: Path) -> None:
    # Regression: a daemon thread blocked in sys.stdin.buffer.read() made interpreter
    # shutdown abort ("could not acquire lock for <stdin>"), exit status -6.
    kubeconfig = tmp_path / "kubeconfig"
    server = subprocess.Popen([*kitlib_command(), "serve", "--kubeconfig", str(kubeconfig),
                               "--exit-with-stdin"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        for stream in (server.stdin, server.stdout):
            if stream is not None:
                stream.close()


def test_client_commands_report_errors_in_one_line_without_a_traceback(
        tmp_path: Path) -> None:
    missing = run("clock", "--kubeconfig", str(tmp_path / "missing"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("kitlib clock: error: ")
    assert "Traceback" not in missing.stderr


def test_kitlib_advance_refuses_a_real_cluster_instead_of_sleeping(plain_server: Path) -> None:
    started = time.monotonic()
    result = run("advance", "3600", "--kubeconfig", str(plain_server))
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert "real cluster" in result.stderr and "Traceback" not in result.stderr
    clock = run("clock", "--kubeconfig", str(plain_server))
    assert clock.returncode == 1 and "no simulated clock" in clock.stderr
