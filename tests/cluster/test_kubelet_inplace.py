"""Patching a running pod's container image restarts only that container, in place: the
basis of every in-place upgrade. Driven through the API server's strategic merge PATCH,
as ``kubectl patch`` and the official client send it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.cluster import EmbeddedCluster
from tests.cluster.timeline import Timeline, bound_pod, image, kubelet_cluster

POD_PATH = "/api/v1/namespaces/default/pods/web"


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = kubelet_cluster()
    yield c
    assert list(c.kubelets.runner.errors) == []
    assert c.store.verify_integrity() == []


def patch_image(cluster: EmbeddedCluster, container: str, new_image: str) -> None:
    clock = SimClock.create(cluster, mode="stepped", speed=1, wall=time.monotonic)
    body = {"spec": {"containers": [{"name": container, "image": new_image}]}}
    with TestClient(ApiServerApp(cluster, clock, token=None)) as http:
        answer = http.patch(POD_PATH, content=orjson.dumps(body), headers={
            "Content-Type": "application/strategic-merge-patch+json"})
        assert answer.status_code == 200, answer.text


def statuses(cluster: EmbeddedCluster) -> dict[str, dict[str, Any]]:
    pod = cluster.store.get("pods", "default", "web")
    return {s["name"]: s for s in pod["status"]["containerStatuses"]}


def three_containers(cluster: EmbeddedCluster) -> Timeline:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"},
                                     {"name": "log", "image": "fluentd:1"},
                                     {"name": "mesh", "image": "envoy:1"}]))
    cluster.advance(30)  # started at 2, 4 and 6 s
    return timeline


def test_patching_one_image_restarts_only_that_container(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    before = statuses(cluster)
    pod_before = cluster.store.get("pods", "default", "web")
    patch_image(cluster, "log", "fluentd:2")
    cluster.advance(30)
    after = statuses(cluster)
    assert (after["app"], after["mesh"]) == (before["app"], before["mesh"])
    digest = hashlib.sha256(b"docker.io/library/fluentd:2").hexdigest()
    assert after["log"] == {
        "name": "log", "state": {"running": {"startedAt": "2026-01-01T00:00:32Z"}},
        "lastState": {"terminated": {
            "exitCode": 0, "reason": "Completed", "startedAt": "2026-01-01T00:00:04Z",
            "finishedAt": "2026-01-01T00:00:31Z", "containerID": before["log"]["containerID"]}},
        "ready": True, "restartCount": 1, "image": "docker.io/library/fluentd:2",
        "imageID": f"docker.io/library/fluentd@sha256:{digest}",
        "containerID": after["log"]["containerID"], "started": True}
    assert after["log"]["containerID"] != before["log"]["containerID"]
    pod_after = cluster.store.get("pods", "default", "web")
    assert (pod_after["metadata"]["uid"], pod_after["status"]["podIP"]) == (
        pod_before["metadata"]["uid"], pod_before["status"]["podIP"])


def test_the_restart_kills_pulls_only_the_missing_layer_and_starts(
        cluster: EmbeddedCluster) -> None:
    timeline = three_containers(cluster)
    patch_image(cluster, "log", "fluentd:2")
    cluster.advance(30)
    assert [e for e in timeline.events if e[0] >= 30] == [
        (30.0, "Killing", "Container log definition changed, will be restarted"),
        (31.0, "Pulling", 'Pulling image "fluentd:2"'),
        # fluentd:1 left the repository's 70 MB base layer: 30 MB at 100 MB/s
        (31.3, "Pulled", 'Successfully pulled image "fluentd:2" in 300ms (300ms including '
                         "waiting). Image size: 100000000 bytes."),
        (32.3, "Created", "Created container: log"), (32.3, "Started", "Started container log")]
    assert timeline.ready()[-2:] == [(30.0, "False"), (32.3, "True")]
    assert timeline.container("log")[-3:] == [(4.0, ("running", None, 0)),
                                              (31.0, ("terminated", "Completed", 0)),
                                              (32.3, ("running", None, 1))]
    assert timeline.phases() == [(0.0, "Pending"), (6.0, "Running")]


def test_readiness_must_pass_again_after_an_in_place_restart(cluster: EmbeddedCluster) -> None:
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [
        {"name": "app", "image": "shop:v1", "readinessProbe": {"httpGet": {"port": 80}}},
        {"name": "log", "image": "fluentd:1"}],
        annotations={"sim.kitlib.io/app.ready-after-seconds": "15"}))
    cluster.advance(40)
    patch_image(cluster, "app", "shop:v2")
    cluster.advance(60)
    # v1 started at 2 s (probes 2, 12, 22: ready at 22); killed at 40, dead at 41, v2 pulled
    # by 41.3 and started at 42.3 (probes 42.3, 52.3, 62.3: ready at 62.3)
    assert timeline.ready() == [(0.0, "False"), (22.0, "True"), (40.0, "False"),
                                (62.3, "True")]


def test_a_new_image_does_not_inherit_the_old_ones_crash_back_off(
        cluster: EmbeddedCluster) -> None:
    cluster.create(image("broken", "shop:v1", behavior={"crashOnStart": True,
                                                        "startSeconds": 0}))
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}]))
    cluster.advance(40)  # crashed at 1, 2, 12 and 32 s: backing off 40 s until 72 s
    assert statuses(cluster)["app"]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    patch_image(cluster, "app", "shop:v2")
    cluster.advance(100)
    # the back-off ends at once: pull the new image (its tag layer, 0.3 s), start it (1 s)
    assert timeline.container("app")[-3:] == [(33.0, ("waiting", "CrashLoopBackOff", 3)),
                                              (40.0, ("terminated", "Error", 3)),
                                              (41.3, ("running", None, 4))]


def test_only_image_changes_are_accepted_on_a_running_pod(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    clock = SimClock.create(cluster, mode="stepped", speed=1, wall=time.monotonic)
    body = {"spec": {"containers": [{"name": "log", "args": ["-v"]}]}}
    with TestClient(ApiServerApp(cluster, clock, token=None)) as http:
        answer = http.patch(POD_PATH, content=orjson.dumps(body), headers={
            "Content-Type": "application/strategic-merge-patch+json"})
    assert answer.status_code == 422
    assert statuses(cluster)["log"]["restartCount"] == 0
