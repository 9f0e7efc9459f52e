"""``kitlib.connect()``: the embedded child process, its clock, and connections to any server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

import kitlib
from kitlib.client import EmbeddedOnlyError

if TYPE_CHECKING:
    from conftest import ThreadedServer


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- the embedded child --------------------------------------------------------------------

def test_connect_starts_a_stepped_child_whose_clock_moves_only_on_sleep() -> None:
    cluster = kitlib.connect()
    child = cluster._process
    assert child is not None
    try:
        assert child.process.poll() is None
        assert cluster.embedded and cluster.allow_writes
        assert cluster.mode == "stepped"
        assert cluster.api_client.configuration.host.startswith("https://127.0.0.1:")
        assert cluster.now() == 0.0
        cluster.sleep(30)
        assert cluster.now() == 30.0
        assert cluster.advance(0.5)["endSeconds"] == 30.5
    finally:
        cluster.close()
    assert child.process.returncode == 0
    assert not child.directory.exists(), "close() leaves no temporary directory behind"
    cluster.close()  # closing twice is harmless


def test_the_context_manager_closes_the_cluster() -> None:
    with kitlib.connect() as cluster:
        child = cluster._process
        assert child is not None and child.process.poll() is None
    assert child.process.returncode == 0
    assert not child.directory.exists()


def test_a_paced_cluster_sleeps_a_speed_fraction_of_wall_time() -> None:
    with kitlib.connect(mode="paced", speed=100) as cluster:
        assert cluster.mode == "paced"
        before = cluster.now()
        started = time.monotonic()
        cluster.sleep(5)
        assert time.monotonic() - started < 2.0
        assert cluster.now() - before >= 5


def test_a_paused_paced_clock_sleeps_by_exact_clock_advances(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with kitlib.connect(mode="paced", speed=100) as cluster:
        assert cluster.set_clock(paused=True)["spec"]["paused"] is True
        advances: list[float] = []
        advance = cluster.advance

        def spy(seconds: float) -> dict[str, Any]:
            advances.append(seconds)
            return advance(seconds)

        monkeypatch.setattr(cluster, "advance", spy)
        before = cluster.now()
        cluster.sleep(10)
        assert advances == [10]
        assert cluster.now() == before + 10
        cluster.set_clock(paused=False)
        assert not cluster.clock()["spec"]["paused"]


def test_a_bogus_kubeconfig_in_the_environment_is_ignored(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = tmp_path / "bogus-kubeconfig"
    bogus.write_text("this: [is not, a kubeconfig\n")
    monkeypatch.setenv("KUBECONFIG", str(bogus))
    with kitlib.connect() as cluster:
        assert cluster.embedded
        assert cluster._process is not None
        assert cluster.kubeconfig == str(cluster._process.kubeconfig)
        assert cluster.now() == 0.0


def test_the_child_dies_with_its_parent_even_when_the_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import time, kitlib
        cluster = kitlib.connect()
        cluster.now()
        print(cluster._process.process.pid, cluster._process.directory, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path)
    directory = None
    try:
        assert parent.stdout is not None
        pid_text, directory = parent.stdout.readline().split()
        child = int(pid_text)
        assert not gone(child)
        parent.kill()
        parent.wait(10)
        assert wait_gone(child, 10), f"kitlib serve (pid {child}) outlived its killed parent"
        assert not Path(directory).exists(), "the child removes the temporary directory"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
        if directory:  # in case the assertion above failed
            shutil.rmtree(directory, ignore_errors=True)


# -- connecting to servers started elsewhere ------------------------------------------------

def test_connecting_to_a_server_started_by_hand_finds_it_embedded(
        api_server: ThreadedServer) -> None:
    with kitlib.connect(kubeconfig=api_server.kubeconfig) as cluster:
        assert cluster.embedded is True
        assert cluster._process is None
        assert cluster.namespace == "default"
        assert cluster.mode == "stepped"
        before = cluster.now()
        cluster.sleep(7)
        assert cluster.now() == before + 7
    with kitlib.connect(kubeconfig=api_server.kubeconfig) as again:
        assert again.embedded, "closing a connection leaves a server it did not start running"


def test_a_server_without_the_sim_group_is_a_real_cluster_on_the_wall_clock(
        plain_server: Path) -> None:
    with kitlib.connect(kubeconfig=plain_server) as cluster:
        assert cluster.embedded is False
        assert cluster.allow_writes is False
        assert cluster.mode == "real"
        assert cluster.namespace == "prod"
        assert abs(cluster.now() - time.time()) < 5
        with pytest.raises(EmbeddedOnlyError):
            cluster.clock()
        with pytest.raises(EmbeddedOnlyError):
            cluster.advance(1)
        assert "real" in repr(cluster)


def test_closing_a_connection_to_a_real_cluster_stops_nothing(plain_server: Path) -> None:
    cluster = kitlib.connect(kubeconfig=os.fspath(plain_server), context="real")
    cluster.close()
    with kitlib.connect(kubeconfig=plain_server) as again:
        assert again.embedded is False
