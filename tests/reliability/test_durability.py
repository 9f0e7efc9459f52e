"""``kitlib serve --data-dir``: a killed server restarts with every acknowledged write.

The end-to-end test is a short run of ``benchmarks/durability.py``: a real
``kitlib serve --data-dir`` child, rollouts of a Deployment and a CloneSet, a
ConfigMap writer and a pod watcher over HTTPS, three seeded ``kill -9``s while a
clock advance is in flight. The other tests pin the parts: what a data
directory keeps and refuses (``kitlib.store.persist``), the flush before every
response, the settings of the directory winning over the flags.
"""

from __future__ import annotations

import logging
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from benchmarks.durability import CrashPlan, run_kills
from benchmarks.load_client import Connection
from kitlib.apiserver.server import open_data_dir
from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster
from kitlib.store.persist import FORMAT_VERSION, DataDir, DataDirError

if TYPE_CHECKING:
    from conftest import ThreadedServer

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def _cluster_in(path: Path, settings: ClusterSettings | None = None
                ) -> tuple[DataDir, EmbeddedCluster]:
    """What ``kitlib serve --data-dir`` does at start: recover, or create and attach."""
    settings = settings or ClusterSettings(nodes=2)
    data, cluster = open_data_dir(path, settings)
    cluster = cluster or EmbeddedCluster(settings)
    data.attach(cluster.store, rng_states=cluster.engine.rng_states)
    return data, cluster


def _crash(data: DataDir) -> None:
    """Drop the directory as a killed process would: no flush, no checkpoint."""
    data._db.close()
    data._release()


def _objects(cluster: EmbeddedCluster) -> dict[tuple[str, str, str], str]:
    return {(rt.key, o["metadata"].get("namespace", ""), o["metadata"]["name"]):
            o["metadata"]["resourceVersion"]
            for rt in cluster.registry for o in cluster.store.iter_objects(rt.key)}


def test_three_kills_mid_rollout_lose_no_acknowledged_write_or_watch_event() -> None:
    result = run_kills(CrashPlan(seed=7, kills=3, replicas=4, nodes=3))
    assert result.problems == []
    assert result.kills == 3 and len(result.restart_seconds) == 3
    # each restart re-verified every acknowledged write so far, and the end once more
    assert result.acknowledged > 20 and result.verified >= result.acknowledged
    assert result.resumes >= 3 and result.watch_events > 0
    assert result.converged_at is not None


def test_a_recovered_cluster_has_every_flushed_object_at_its_rv_and_continues_above(
        tmp_path: Path) -> None:
    data, cluster = _cluster_in(tmp_path / "d")
    cluster.create(dict(DEPLOYMENT))
    cluster.advance(30)
    data.flush()
    before, rv, now = _objects(cluster), cluster.store.resource_version, cluster.now
    cluster.store.create("configmaps", {"metadata": {"name": "unflushed",
                                                     "namespace": "default"}})
    _crash(data)  # the ConfigMap was never flushed: nobody saw it, it is gone

    data, recovered = _cluster_in(tmp_path / "d")
    try:
        assert _objects(recovered) == before
        assert recovered.store.resource_version == rv and recovered.now == now
        assert recovered.store.create("configmaps", {"metadata": {
            "name": "after", "namespace": "default"}})["metadata"]["resourceVersion"] == \
            str(rv + 1)
        watcher = recovered.store.watch("pods", resource_version=str(rv - 10))
        assert [e.rv for _, e in watcher.drain()] == [
            e.rv for e in cluster.store.history.since(rv - 10, "pods") if e.rv <= rv]
        recovered.advance(60)
        assert recovered.store.get("deployments.apps", "default", "web")["status"][
            "availableReplicas"] == 3
    finally:
        data.close()


def _configmap(cluster: EmbeddedCluster) -> dict[str, Any]:
    return cluster.store.create("configmaps", {"metadata": {"generateName": "x-",
                                                            "namespace": "default"}})


def test_after_a_clean_close_the_rng_streams_continue_exactly(tmp_path: Path) -> None:
    data, cluster = _cluster_in(tmp_path / "d")
    cluster.create(dict(DEPLOYMENT))
    cluster.advance(5)
    data.close()
    original = _configmap(cluster)
    data, recovered = _cluster_in(tmp_path / "d")
    try:
        again = _configmap(recovered)
        assert (again["metadata"]["name"], again["metadata"]["uid"]) == (
            original["metadata"]["name"], original["metadata"]["uid"])
    finally:
        data.close()


def test_after_a_crash_no_uid_or_generated_name_is_drawn_again(tmp_path: Path) -> None:
    data, cluster = _cluster_in(tmp_path / "d")
    cluster.create(dict(DEPLOYMENT))
    cluster.advance(5)
    for _ in range(20):
        _configmap(cluster)
    data.flush()
    _crash(data)  # the saved streams are those of the start, long consumed
    issued = {(e.obj["metadata"]["uid"]) for e in cluster.store.history.since(0)}
    names = {e.obj["metadata"]["name"] for e in cluster.store.history.since(0)}
    data, recovered = _cluster_in(tmp_path / "d")
    try:
        fresh = [_configmap(recovered)["metadata"] for _ in range(20)]
        assert not {m["uid"] for m in fresh} & issued
        assert not {m["name"] for m in fresh} & names
        recovered.advance(30)  # the pods the Deployment makes after the crash: new UIDs too
        uids = [o["metadata"]["uid"] for rt in recovered.registry
                for o in recovered.store.iter_objects(rt.key)]
        assert len(uids) == len(set(uids))
    finally:
        data.close()


def test_a_new_directory_is_private_and_a_second_server_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new" / "d"
    data, _ = _cluster_in(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert stat.S_IMODE((path / "store.db").stat().st_mode) == 0o600
        with pytest.raises(DataDirError, match=r"in use by another kitlib serve \(pid \d+\)"):
            DataDir(path, settings={})
    finally:
        data.close()
    DataDir(path, settings={}).close()  # closing released the lock


def test_another_format_a_file_or_a_damaged_database_is_refused_with_what_to_do(
        tmp_path: Path) -> None:
    path = tmp_path / "d"
    DataDir(path, settings={}).close()
    with sqlite3.connect(path / "store.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (orjson.dumps(99),))
    for _ in range(2):  # the refusal released the lock: the second says the same
        with pytest.raises(DataDirError, match=f"format 99; this kitlib reads format "
                           f"{FORMAT_VERSION}: use the kitlib that wrote it, or pass a new"):
            DataDir(path, settings={})
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataDirError, match="exists and is not a directory"):
        DataDir(tmp_path / "file", settings={})
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "store.db").write_bytes(b"not a database" * 100)
    with pytest.raises(DataDirError, match="is not a kitlib data directory database"):
        DataDir(tmp_path / "junk", settings={})
    with sqlite3.connect(path / "store.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'format'",
                   (orjson.dumps(FORMAT_VERSION),))
        db.execute("DELETE FROM meta WHERE key = 'rv'")
    with pytest.raises(DataDirError, match=r"damaged or incomplete \(KeyError: 'rv'\)"):
        DataDir(path, settings={})


def test_settings_this_kitlib_does_not_know_are_refused_not_guessed(tmp_path: Path) -> None:
    data, _ = _cluster_in(tmp_path / "d")
    data.close()
    with sqlite3.connect(tmp_path / "d" / "store.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'settings'",
                   (orjson.dumps({"warp_drive": True}),))
    with pytest.raises(DataDirError, match=r"cannot rebuild the cluster kept in .*warp_drive"):
        open_data_dir(tmp_path / "d", ClusterSettings())
    DataDir(tmp_path / "d", settings={}).close()  # the refusal released the lock


def test_the_directorys_settings_win_over_conflicting_ones_and_say_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data, _ = _cluster_in(tmp_path / "d", ClusterSettings(nodes=2, seed=3))
    data.close()
    with caplog.at_level(logging.WARNING, logger="kitlib.serve"):
        data, cluster = _cluster_in(tmp_path / "d", ClusterSettings(nodes=5, seed=3))
    try:
        assert cluster.settings.nodes == 2 and cluster.store.count("nodes") == 2
        assert "was created with nodes=2; that wins over 5" in caplog.text
        assert "seed" not in caplog.text.replace("(seed", "")
    finally:
        data.close()


def test_history_beyond_the_tail_is_pruned_but_live_objects_stay(tmp_path: Path) -> None:
    from kitlib.store.store import StoreSettings

    settings = ClusterSettings(store=StoreSettings(history_size=40))
    data, cluster = _cluster_in(tmp_path / "d", settings)
    for i in range(100):
        cluster.store.create("configmaps", {"metadata": {"name": f"c{i}",
                                                         "namespace": "default"}})
        data.flush()
    rv = cluster.store.resource_version
    data.close()
    with sqlite3.connect(tmp_path / "d" / "store.db") as db:
        history_from = orjson.loads(db.execute(
            "SELECT value FROM meta WHERE key = 'history_from'").fetchone()[0])
        kept = db.execute("SELECT count(*) FROM events WHERE rv > ?",
                          (history_from,)).fetchone()
    assert rv - 40 - 10 <= history_from <= rv - 40 and kept[0] == rv - history_from
    data, recovered = _cluster_in(tmp_path / "d", settings)
    try:
        assert recovered.store.count("configmaps") == 100
        assert recovered.store.history.oldest_rv == rv - 40 + 1  # the store's own bound
    finally:
        data.close()


def test_a_new_cluster_whose_history_was_trimmed_is_written_whole(tmp_path: Path) -> None:
    from kitlib.store.store import StoreSettings

    settings = ClusterSettings(nodes=3, store=StoreSettings(history_size=5))
    data, cluster = _cluster_in(tmp_path / "d", settings)
    assert cluster.store.history.oldest_rv != 1  # the first events are gone from memory
    before, rv = _objects(cluster), cluster.store.resource_version
    _crash(data)
    data, recovered = _cluster_in(tmp_path / "d", settings)
    try:
        assert _objects(recovered) == before and recovered.store.resource_version == rv
    finally:
        data.close()


def _conn(server: ThreadedServer) -> Connection:
    return Connection(server.kubeconfig)


def test_a_clean_restart_of_the_server_keeps_everything(
        start_api_server: Callable[..., ThreadedServer], tmp_path: Path) -> None:
    first = start_api_server(data_dir=tmp_path / "d", nodes=1)
    conn = _conn(first)
    status, created = conn.request("POST", "/api/v1/namespaces/default/configmaps",
                                   {"metadata": {"name": "kept"}, "data": {"a": "1"}})
    conn.close()
    assert status == 201
    first.stop()
    second = start_api_server(data_dir=tmp_path / "d")
    conn = _conn(second)
    try:
        status, got = conn.request("GET", "/api/v1/namespaces/default/configmaps/kept")
        assert status == 200 and got == created
    finally:
        conn.close()


def test_a_write_the_directory_cannot_keep_is_answered_503_not_acknowledged(
        start_api_server: Callable[..., ThreadedServer], tmp_path: Path) -> None:
    server = start_api_server(data_dir=tmp_path / "d")
    data = server.server.data
    assert data is not None
    server.call(data._db.close)  # the disk is gone
    conn = _conn(server)
    try:
        status, body = conn.request("POST", "/api/v1/namespaces/default/configmaps",
                                    {"metadata": {"name": "lost"}})
        assert status == 503 and body["kind"] == "Status" and body["code"] == 503
        assert "could not write to its data directory" in body["message"]
        status, _ = conn.request("GET", "/api/v1/namespaces")
        assert status == 503  # and nothing more is answered from a state it cannot keep
    finally:
        conn.close()


def test_without_a_data_dir_nothing_is_flushed(api_server: ThreadedServer) -> None:
    assert api_server.server.data is None
    assert api_server.server.app is not None and api_server.server.app.flush is None


def test_kitlib_serve_refuses_a_directory_in_use_with_a_clear_message(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "d", settings={})
    try:
        done = subprocess.run([sys.executable, "-m", "kitlib", "serve", "--data-dir",
                               str(tmp_path / "d")], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    finally:
        data.close()
    assert done.returncode == 2
    assert "kitlib serve: error: --data-dir" in done.stderr and "in use" in done.stderr
    assert "Traceback" not in done.stderr
