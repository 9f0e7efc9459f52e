"""SidecarSet injection at pod creation and in-place sidecar upgrades across apps
(upstream ``test/e2e/apps/sidecarset.go``: injection, in-place upgrade with partition and
maxUnavailable, "non-image change is not upgraded")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.settings import ClusterSettings, KubeletSettings
from kitlib.model import errors

SS = "sidecarsets.apps.kruise.io"
APPS = ("cart", "shop", "users")


def sidecarset(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet",
            "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"mesh": "on"}}, "containers": [container],
                     **spec}}


def deployment(name: str, replicas: int = 3) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "mesh": "on"}},
                                  "spec": {"containers": [{"name": "app",
                                                           "image": f"{name}:1"}]}}}}


def new_cluster(seed: int = 7) -> EmbeddedCluster:
    return EmbeddedCluster(ClusterSettings(seed=seed, nodes=3,
                                           kubelet=KubeletSettings(jitter=0)))


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = new_cluster()
    yield c
    assert list(c.sidecarsets.runner.errors) == []
    assert c.store.verify_integrity() == []


def mesh_and_logs(cluster: EmbeddedCluster, **strategy: Any) -> None:
    cluster.create(sidecarset("mesh", {"name": "envoy", "image": "envoy:1"},
                              updateStrategy=strategy))
    cluster.create(sidecarset("logs", {"name": "fluentd", "image": "fluentd:1",
                                       "podInjectPolicy": "AfterAppContainer",
                                       "volumeMounts": [{"name": "varlog",
                                                         "mountPath": "/var/log"}]},
                              volumes=[{"name": "varlog", "emptyDir": {}}]))
    for app in APPS:
        cluster.create(deployment(app))
    cluster.advance(30)


def pods(cluster: EmbeddedCluster) -> list[dict[str, Any]]:
    return cluster.store.select("pods", namespace="default")


def status_of(cluster: EmbeddedCluster, name: str) -> dict[str, Any]:
    return cluster.store.get(SS, "", name)["status"]


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in pod["status"]["containerStatuses"] if s["name"] == name)


def set_image(cluster: EmbeddedCluster, name: str, image: str) -> None:
    cluster.store.modify(SS, "", name, lambda s: s["spec"]["containers"][0].__setitem__(
        "image", image))
    cluster.settle()


def test_new_pods_of_every_app_get_the_sidecars_in_order(cluster: EmbeddedCluster) -> None:
    mesh_and_logs(cluster)
    assert len(pods(cluster)) == 9
    for pod in pods(cluster):
        spec, annotations = pod["spec"], pod["metadata"]["annotations"]
        assert [c["name"] for c in spec["containers"]] == ["envoy", "app", "fluentd"]
        assert spec["containers"][0]["env"] == [{"name": "IS_INJECTED", "value": "true"}]
        assert spec["volumes"] == [{"name": "varlog", "emptyDir": {}}]
        assert annotations["kruise.io/sidecarset-injected-list"] == "logs,mesh"
        hashes = orjson.loads(annotations["kruise.io/sidecarset-hash"])
        mesh = cluster.store.get(SS, "", "mesh")
        assert hashes["mesh"] == {
            "hash": mesh["metadata"]["annotations"]["kruise.io/sidecarset-hash"],
            "sidecarSetName": "mesh", "sidecarList": ["envoy"],
            "updateTimestamp": "2026-01-01T00:00:00Z",
            "controllerRevision": mesh["status"]["latestRevision"]}
    assert status_of(cluster, "mesh") | {"latestRevision": ""} == {
        "observedGeneration": 1, "matchedPods": 9, "updatedPods": 9, "readyPods": 9,
        "updatedReadyPods": 9, "latestRevision": ""}


def test_pods_created_before_the_sidecarset_are_neither_injected_nor_counted(
        cluster: EmbeddedCluster) -> None:
    cluster.create(deployment("old", 2))
    cluster.advance(10)
    mesh_and_logs(cluster)
    old = [p for p in pods(cluster) if p["metadata"]["labels"]["app"] == "old"]
    assert [[c["name"] for c in p["spec"]["containers"]] for p in old] == [["app"], ["app"]]
    assert status_of(cluster, "mesh")["matchedPods"] == 9


def test_image_upgrade_with_partition_and_max_unavailable_keeps_app_containers_running(
        cluster: EmbeddedCluster) -> None:
    """Given 9 pods of 3 apps, mesh partition 3 and maxUnavailable 2: envoy:2 reaches 6
    pods, at most 2 restarting at a time; app and fluentd containers never restart."""
    mesh_and_logs(cluster, partition=3, maxUnavailable=2)
    before = {p["metadata"]["name"]: (p["metadata"]["uid"], container(p, "app"))
              for p in pods(cluster)}
    set_image(cluster, "mesh", "envoy:2")
    seen_updated = []
    for _ in range(30):
        cluster.advance(1)
        busy = [p for p in pods(cluster) if p["spec"]["containers"][0]["image"] == "envoy:2"
                and not container(p, "envoy")["ready"]]
        assert len(busy) <= 2
        seen_updated.append(status_of(cluster, "mesh")["updatedPods"])
    assert seen_updated[0] == 2 and seen_updated[-1] == 6
    assert status_of(cluster, "mesh") | {"latestRevision": ""} == {
        "observedGeneration": 2, "matchedPods": 9, "updatedPods": 6, "readyPods": 9,
        "updatedReadyPods": 6, "latestRevision": ""}
    upgraded = [p for p in pods(cluster) if container(p, "envoy")["restartCount"] == 1]
    assert len(upgraded) == 6
    for pod in pods(cluster):
        uid, app = before[pod["metadata"]["name"]]
        assert pod["metadata"]["uid"] == uid
        assert container(pod, "app") == app  # same startedAt, restartCount 0
        assert container(pod, "fluentd")["restartCount"] == 0
    state = orjson.loads(upgraded[0]["metadata"]["annotations"][
        "kruise.io/sidecarset-inplace-update-state"])
    assert list(state["mesh"]["lastContainerStatuses"]) == ["envoy"]


def test_a_non_image_change_leaves_running_pods_alone_and_says_so(
        cluster: EmbeddedCluster) -> None:
    mesh_and_logs(cluster)
    cluster.store.modify(SS, "", "mesh", lambda s: s["spec"]["containers"][0].__setitem__(
        "env", [{"name": "LEVEL", "value": "debug"}]))
    cluster.settle()
    cluster.advance(30)
    assert status_of(cluster, "mesh")["updatedPods"] == 0
    for pod in pods(cluster):
        assert container(pod, "envoy")["restartCount"] == 0
        cond = next(c for c in pod["status"]["conditions"]
                    if c["type"] == "SidecarSetUpgradable")
        assert (cond["status"], cond["reason"], cond["message"]) == (
            "False", "UpdateImmutableField", '{"mesh":false}')


def test_not_update_and_paused_stop_the_rollout(cluster: EmbeddedCluster) -> None:
    mesh_and_logs(cluster, type="NotUpdate")
    set_image(cluster, "mesh", "envoy:2")
    cluster.advance(20)
    assert status_of(cluster, "mesh")["updatedPods"] == 0


def test_validation_rejects_partition_with_selector_and_colliding_containers(
        cluster: EmbeddedCluster) -> None:
    with pytest.raises(errors.Invalid, match="partition and selector"):
        cluster.create(sidecarset("a", {"name": "x", "image": "x:1"}, updateStrategy={
            "partition": 1, "selector": {"matchLabels": {"a": "b"}}}))
    cluster.create(sidecarset("b", {"name": "x", "image": "x:1"}))
    with pytest.raises(errors.Invalid, match="container x already exist in b"):
        cluster.create(sidecarset("c", {"name": "x", "image": "x:1"}))


def test_defaults_and_hash_annotations_are_set_at_admission(cluster: EmbeddedCluster) -> None:
    ss = cluster.create(sidecarset("a", {"name": "x", "image": "x:1"}))
    c = ss["spec"]["containers"][0]
    assert (c["podInjectPolicy"], c["upgradeStrategy"], c["shareVolumePolicy"]) == (
        "BeforeAppContainer", {"upgradeType": "ColdUpgrade"}, {"type": "disabled"})
    assert ss["spec"]["updateStrategy"] == {"type": "RollingUpdate", "partition": 0,
                                            "maxUnavailable": 1}
    annotations = ss["metadata"]["annotations"]
    other = cluster.store.modify(SS, "", "a", lambda s: s["spec"]["containers"][0].__setitem__(
        "image", "x:2"))["metadata"]["annotations"]
    assert other["kruise.io/sidecarset-hash"] != annotations["kruise.io/sidecarset-hash"]
    assert other["kruise.io/sidecarset-hash-without-image"] == \
        annotations["kruise.io/sidecarset-hash-without-image"]


def test_same_seed_same_history() -> None:
    digests = []
    for _ in range(2):
        c = new_cluster(seed=3)
        mesh_and_logs(c, maxUnavailable="50%")
        set_image(c, "mesh", "envoy:2")
        c.advance(30)
        digests.append(c.store.digest)
    assert digests[0] == digests[1]
