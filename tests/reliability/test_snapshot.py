"""Rebuilding a running cluster from its stored objects: ``Store.load``, ``from_state`` /
``capture_state``, kubelet adoption, snapshot files, and snapshots through the API."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

import kitlib
from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.settings import KubeletSettings
from kitlib.cluster.snapshot import (
    SnapshotError,
    dump_snapshot,
    load_snapshot,
    parse_snapshot,
    save_snapshot,
    settings_from_json,
    settings_to_json,
)
from kitlib.cluster.state import ClusterState
from kitlib.model import errors
from kitlib.store.store import DeleteOptions
from tests.client.test_cli_ops import kitlib_cli, one_error_line

if TYPE_CHECKING:
    from conftest import ThreadedServer

Obj = dict[str, Any]
CLONESETS = "clonesets.apps.kruise.io"
SETTINGS = ClusterSettings(seed=5, nodes=3)


def _deployment(name: str, replicas: int, image: str, **annotations: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name},
                                               "annotations": annotations},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def _cloneset(replicas: int = 4) -> Obj:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": {"name": "cs", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "cs"}},
                     "template": {"metadata": {"labels": {"app": "cs"}},
                                  "spec": {"containers": [{"name": "app", "image": "shop:1"}]}},
                     "updateStrategy": {"type": "InPlaceIfPossible", "maxUnavailable": 1}}}


def _busy_cluster() -> EmbeddedCluster:
    """Two workloads, one of them in the middle of an in-place rollout."""
    cluster = EmbeddedCluster(SETTINGS)
    cluster.create(_deployment("web", 3, "web:1"))
    cluster.create(_cloneset())
    cluster.advance(40)
    _set_image(cluster, "shop:2")
    cluster.advance(2)
    return cluster


def _set_image(cluster: EmbeddedCluster, image: str) -> None:
    def edit(cs: Obj) -> None:
        cs["spec"]["template"]["spec"]["containers"][0]["image"] = image
    cluster.store.modify(CLONESETS, "default", "cs", edit)
    cluster.settle()


def _containers(cluster: EmbeddedCluster) -> dict[str, list[tuple[Any, ...]]]:
    """Per pod: (container, ID, restarts, startedAt) of each running container."""
    return {p["metadata"]["name"]: [
        (s["name"], s.get("containerID"), s["restartCount"],
         s["state"].get("running", {}).get("startedAt"))
        for s in (p.get("status") or {}).get("containerStatuses") or ()]
        for p in cluster.store.select("pods")}


def _objects(cluster: EmbeddedCluster) -> bytes:
    return orjson.dumps(cluster.capture_state().objects)


# -- capture and rebuild --------------------------------------------------------------------

def test_a_rebuilt_cluster_holds_the_same_objects_and_writes_nothing_by_itself() -> None:
    cluster = _busy_cluster()
    state = cluster.capture_state(history=50)
    rebuilt = EmbeddedCluster.from_state(state, SETTINGS)
    assert rebuilt.store.resource_version == cluster.store.resource_version
    assert rebuilt.now == cluster.now
    assert _objects(rebuilt) == _objects(cluster)
    assert rebuilt.engine.pending > 0  # the actors' catch-up work waits for the next settle


def test_two_rebuilds_given_the_same_calls_have_the_same_history() -> None:
    cluster = _busy_cluster()
    a, b = (EmbeddedCluster.from_state(cluster.capture_state(), SETTINGS) for _ in range(2))
    for rebuilt in (a, b):
        rebuilt.advance(5)
        rebuilt.create(_deployment("api", 2, "api:1"))
        _set_image(rebuilt, "shop:3")
        rebuilt.advance(60)
    assert a.store.digest == b.store.digest
    assert _objects(a) == _objects(b)
    assert a.store.resource_version > cluster.store.resource_version


def test_the_rollout_in_flight_finishes_after_a_rebuild() -> None:
    rebuilt = EmbeddedCluster.from_state(_busy_cluster().capture_state(), SETTINGS)
    rebuilt.advance(60)
    cs = rebuilt.store.get(CLONESETS, "default", "cs")
    assert cs["status"]["updatedReadyReplicas"] == 4
    pods = [p for p in rebuilt.store.select("pods") if p["metadata"]["labels"]["app"] == "cs"]
    assert sorted(p["spec"]["containers"][0]["image"] for p in pods) == ["shop:2"] * 4


def test_the_random_streams_continue_instead_of_starting_over() -> None:
    cluster = _busy_cluster()
    rebuilt = EmbeddedCluster.from_state(cluster.capture_state(), SETTINGS)
    fresh = EmbeddedCluster.from_state(
        ClusterState(**{**vars(cluster.capture_state()), "rng_states": None}), SETTINGS)
    names = [c.store.create("configmaps", {"metadata": {"generateName": "cm-"}})["metadata"]
             ["name"] for c in (cluster, rebuilt, fresh)]
    assert names[0] == names[1] != names[2]


def test_a_watch_from_a_kept_rv_resumes_and_an_older_one_gets_410() -> None:
    cluster = _busy_cluster()
    rv = cluster.store.resource_version
    cluster.advance(3)
    expected = [(e.rv, e.type) for e in cluster.store.history.since(rv, "pods")]
    rebuilt = EmbeddedCluster.from_state(
        cluster.capture_state(history=cluster.store.resource_version - rv), SETTINGS)
    watcher = rebuilt.store.watch("pods", resource_version=str(rv))
    assert [(e.rv, kind) for kind, e in watcher.drain()] == expected
    assert expected and all(kind == "MODIFIED" for _, kind in expected)
    with pytest.raises(errors.Expired):
        rebuilt.store.watch("pods", resource_version=str(rv - 1))


# -- the kubelet adopts its pods ------------------------------------------------------------

def test_running_containers_keep_running_after_a_rebuild() -> None:
    cluster = EmbeddedCluster(SETTINGS)
    cluster.create(_deployment("web", 4, "web:1",
                               **{"sim.kitlib.io/crash-after-seconds": "400"}))
    cluster.advance(30)
    before = _containers(cluster)
    rebuilt = EmbeddedCluster.from_state(cluster.capture_state(), SETTINGS)
    rebuilt.advance(300)
    assert _containers(rebuilt) == before
    ips = sorted(p["status"]["podIP"] for p in rebuilt.store.select("pods"))
    assert len(set(ips)) == 4
    rebuilt.advance(80)  # t = 410: the apps crashed 400 s after their adopted start (not the load)
    assert all(c[2] == 1 for cs in _containers(rebuilt).values() for c in cs)


def test_a_crash_looping_container_keeps_its_back_off_and_restart_count() -> None:
    cluster = EmbeddedCluster(SETTINGS)
    cluster.create(_deployment("web", 1, "web:1", **{"sim.kitlib.io/crash-after-seconds": "2"}))
    cluster.advance(60)
    status = cluster.store.select("pods")[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    rebuilt = EmbeddedCluster.from_state(cluster.capture_state(), SETTINGS)
    for c in (cluster, rebuilt):
        c.advance(1)
    restarts = [c.store.select("pods")[0]["status"]["containerStatuses"][0]["restartCount"]
                for c in (cluster, rebuilt)]
    assert restarts[0] == restarts[1] == status["restartCount"]
    for c in (cluster, rebuilt):
        c.advance(120)
    assert [c.store.select("pods")[0]["status"]["containerStatuses"][0]["restartCount"]
            for c in (cluster, rebuilt)] == [restarts[0] + 2] * 2


def test_a_pull_in_progress_resumes_after_a_rebuild() -> None:
    settings = ClusterSettings(seed=5, nodes=1,
                               kubelet=KubeletSettings(image_pull_bandwidth=1e6))
    cluster = EmbeddedCluster(settings)
    cluster.create(_deployment("web", 1, "big:1"))
    cluster.advance(20)  # 100 MB at 1 MB/s: pulling
    pod = cluster.store.select("pods")[0]
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == \
        "ContainerCreating"
    rebuilt = EmbeddedCluster.from_state(cluster.capture_state(), settings)
    rebuilt.advance(200)
    status = rebuilt.store.select("pods")[0]["status"]["containerStatuses"][0]
    assert "running" in status["state"] and status["restartCount"] == 0


def test_a_terminating_pod_is_gone_by_its_deletion_timestamp() -> None:
    cluster = EmbeddedCluster(SETTINGS)
    cluster.create(_deployment("web", 1, "web:1", **{"sim.kitlib.io/stop-seconds": "60"}))
    cluster.advance(20)
    pod = cluster.store.select("pods")[0]
    cluster.store.delete("pods", "default", pod["metadata"]["name"],
                         DeleteOptions(grace_period_seconds=30))
    cluster.advance(10)
    rebuilt = EmbeddedCluster.from_state(cluster.capture_state(), SETTINGS)
    name = pod["metadata"]["name"]
    rebuilt.advance(19)
    assert rebuilt.store.peek("pods", "default", name) is not None
    rebuilt.advance(2)  # SIGKILLed at the end of the 30 s grace period, as without the rebuild
    assert rebuilt.store.peek("pods", "default", name) is None


# -- Store.load ------------------------------------------------------------------------------

def test_store_load_refuses_bad_states() -> None:
    state = _busy_cluster().capture_state(history=5)
    cases: list[tuple[ClusterState, str]] = [
        (ClusterState(state.objects + state.objects[:1], state.resource_version, state.now),
         "appears twice"),
        (ClusterState(state.objects, 3, state.now), "above the state's resource_version"),
        (ClusterState(state.objects, state.resource_version, state.now,
                      history=state.history[:-1]), "contiguous resourceVersions"),
        (ClusterState([("widgets.example.com", {"metadata": {"name": "w",
                                                               "resourceVersion": "1"}})],
                      state.resource_version, state.now), "does not serve the kind"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            EmbeddedCluster.from_state(bad, SETTINGS)
    cluster = EmbeddedCluster(SETTINGS)
    with pytest.raises(RuntimeError, match="empty store"):
        cluster.store.load(state.objects, resource_version=state.resource_version)


# -- snapshot files ---------------------------------------------------------------------------

def test_save_load_save_gives_the_same_bytes(tmp_path: Path) -> None:
    cluster = _busy_cluster()
    path = tmp_path / "a.snapshot"
    size = save_snapshot(cluster, path)
    assert size == path.stat().st_size
    assert dump_snapshot(load_snapshot(path)) == path.read_bytes()
    document = orjson.loads(gzip.decompress(path.read_bytes()))
    assert (document["format"], document["version"]) == ("kitlib-snapshot", 1)
    assert document["state"]["now"] == cluster.now


def test_two_loads_of_a_snapshot_given_the_same_calls_stay_identical(tmp_path: Path) -> None:
    path = tmp_path / "a.snapshot"
    save_snapshot(_busy_cluster(), path)
    a, b = load_snapshot(path), load_snapshot(path)
    for loaded in (a, b):
        loaded.advance(10)
        _set_image(loaded, "shop:3")
        loaded.advance(60)
    assert a.store.digest == b.store.digest
    assert dump_snapshot(a) == dump_snapshot(b)


def test_settings_survive_the_round_trip() -> None:
    settings = ClusterSettings(seed=9, nodes=2, kubelet=KubeletSettings(jitter=0.0))
    assert settings_from_json(orjson.loads(orjson.dumps(settings_to_json(settings)))) == settings


@pytest.mark.parametrize(("data", "message"), [
    (b"not gzip", "is not a kitlib snapshot"),
    (gzip.compress(b'{"format": "other"}'), "is not a kitlib snapshot"),
    (gzip.compress(b'{"format": "kitlib-snapshot", "version": 99, "kitlib": "9.0"}'),
     "format version 99"),
    (gzip.compress(b'{"format": "kitlib-snapshot", "version": 1, "settings": {"colour": 1},'
                   b' "state": {"objects": [], "history": [], "resource_version": 0,'
                   b' "now": 0}}'), "unknown setting"),
    (gzip.compress(b'{"format": "kitlib-snapshot", "version": 1, "state": {}}'),
     "incomplete or damaged"),
])
def test_a_file_that_is_not_a_loadable_snapshot_is_refused_with_a_reason(
        data: bytes, message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        parse_snapshot(data)


# -- through the API server -------------------------------------------------------------------

def test_a_served_cluster_saves_a_snapshot_that_serves_again(
        start_api_server: Any, tmp_path: Path) -> None:
    server: ThreadedServer = start_api_server(nodes=2, seed=4)
    with kitlib.connect(kubeconfig=str(server.kubeconfig)) as cluster:
        cluster.apply(_deployment("web", 2, "web:1"))
        cluster.sleep(30)
        path = tmp_path / "served.snapshot"
        size = cluster.save_snapshot(path)
        saved_at = cluster.now()
    assert size == path.stat().st_size > 0
    again: ThreadedServer = start_api_server(snapshot=path)
    with kitlib.connect(kubeconfig=str(again.kubeconfig)) as cluster:
        assert cluster.now() == saved_at
        cluster.sleep(10)
        assert cluster.converged("deployment/web", namespace="default")


def test_kitlib_snapshot_save_writes_the_file(api_server: ThreadedServer,
                                              tmp_path: Path) -> None:
    path = tmp_path / "cli.snapshot"
    result = kitlib_cli("snapshot", "save", str(path), kubeconfig=api_server.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"saved {path} (")
    assert load_snapshot(path).store.count("namespaces") >= 4


def test_serve_refuses_flags_the_snapshot_decides(tmp_path: Path) -> None:
    result = kitlib_cli("serve", "--snapshot", str(tmp_path / "x"), "--nodes", "3")
    assert result.returncode == 2
    assert "--nodes cannot be combined with --snapshot" in one_error_line(result, "serve")
    missing = kitlib_cli("serve", "--snapshot", str(tmp_path / "missing"))
    assert missing.returncode == 2
    assert "cannot read snapshot" in one_error_line(missing, "serve")


def test_saving_a_real_cluster_is_refused(plain_server: Path, tmp_path: Path) -> None:
    with kitlib.connect(kubeconfig=str(plain_server)) as cluster, \
            pytest.raises(kitlib.EmbeddedOnlyError, match="real cluster"):
        cluster.save_snapshot(tmp_path / "x")
