"""Advanced StatefulSet (``apps.kruise.io/v1beta1``) on an embedded cluster: native
StatefulSet ordering plus in-place update, partition, maxUnavailable with Parallel,
paused and reserveOrdinals (upstream ``test/e2e/apps/statefulset.go``,
``pkg/controller/statefulset/stateful_set_control_test.go``; openkruise.md §4.3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.model import errors
from tests.cluster.timeline import kubelet_cluster

ASTS = "statefulsets.apps.kruise.io"


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = kubelet_cluster(nodes=2)
    yield c
    assert list(c.advanced_statefulsets.runner.errors) == []
    assert c.store.verify_integrity() == []


def asts(replicas: int = 3, policy: str = "InPlaceIfPossible", **spec: Any) -> dict[str, Any]:
    rolling = {"podUpdatePolicy": policy, **spec.pop("rolling", {})}
    return {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": "web",
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [
                                      {"name": "app", "image": "shop:v1"},
                                      {"name": "log", "image": "fluentd:1"}]}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
                     **spec}}


def pods(cluster: EmbeddedCluster) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in cluster.store.select("pods", namespace="default")}


def images(cluster: EmbeddedCluster) -> dict[str, str]:
    return {n: p["spec"]["containers"][0]["image"] for n, p in sorted(pods(cluster).items())}


def status(cluster: EmbeddedCluster) -> dict[str, Any]:
    return dict(cluster.store.get(ASTS, "default", "web").get("status") or {})


def set_image(cluster: EmbeddedCluster, image: str, container: int = 0) -> None:
    cluster.store.modify(ASTS, "default", "web", lambda d: d["spec"]["template"]["spec"][
        "containers"][container].__setitem__("image", image))
    cluster.settle()


def test_ordered_ready_creates_pods_one_after_the_other(cluster: EmbeddedCluster) -> None:
    cluster.create(asts())
    assert sorted(pods(cluster)) == ["web-0"]
    cluster.advance(60)
    assert sorted(pods(cluster)) == ["web-0", "web-1", "web-2"]
    s = status(cluster)
    assert (s["replicas"], s["readyReplicas"], s["availableReplicas"], s["updatedReplicas"],
            s["updatedReadyReplicas"], s["updatedAvailableReplicas"]) == (3, 3, 3, 3, 3, 3)
    assert s["currentRevision"] == s["updateRevision"]
    assert s["labelSelector"] == "app=web"


def test_an_image_change_updates_in_place_from_the_highest_ordinal(
        cluster: EmbeddedCluster) -> None:
    """One pod at a time from web-2 down, each once the previous is ready again: for web-2
    the kill (1 s), the 30 MB tag layer (0.3 s) and the start (1 s) take 2.3 s; web-1, on
    the same node, finds shop:v2 present and takes 2 s."""
    cluster.create(asts())
    cluster.advance(60)
    before = pods(cluster)
    updates: list[tuple[float, str]] = []
    cluster.store.subscribe("events", lambda e: updates.append(
        (round(cluster.now, 3), e.obj["message"].split()[3]))
        if e.type == "ADDED" and e.obj["reason"] == "SuccessfulUpdatePodInPlace" else None)
    set_image(cluster, "shop:v2")
    assert images(cluster) == {"web-0": "shop:v1", "web-1": "shop:v1", "web-2": "shop:v2"}
    cluster.advance(60)
    after = pods(cluster)
    assert images(cluster) == {f"web-{i}": "shop:v2" for i in range(3)}
    assert updates == [(60, "web-2"), (62.3, "web-1"), (64.3, "web-0")]
    nodes = {n: p["spec"]["nodeName"] for n, p in after.items()}
    assert nodes["web-1"] == nodes["web-2"] != nodes["web-0"]
    for name in after:
        assert (after[name]["metadata"]["uid"], after[name]["status"]["podIP"]) == (
            before[name]["metadata"]["uid"], before[name]["status"]["podIP"])
        restarts = {c["name"]: c["restartCount"] for c in after[name]["status"][
            "containerStatuses"]}
        assert restarts == {"app": 1, "log": 0}
    s = status(cluster)
    assert (s["updatedReplicas"], s["updatedReadyReplicas"], s["currentRevision"]) == (
        3, 3, s["updateRevision"])


def test_partition_keeps_the_lowest_ordinals_old(cluster: EmbeddedCluster) -> None:
    cluster.create(asts(rolling={"partition": 2}))
    cluster.advance(60)
    set_image(cluster, "shop:v2")
    cluster.advance(60)
    assert images(cluster) == {"web-0": "shop:v1", "web-1": "shop:v1", "web-2": "shop:v2"}
    s = status(cluster)
    assert (s["updatedReplicas"], s["currentReplicas"]) == (1, 2)
    assert s["currentRevision"] != s["updateRevision"]


def test_a_non_image_change_recreates_under_in_place_if_possible(
        cluster: EmbeddedCluster) -> None:
    cluster.create(asts(replicas=1))
    cluster.advance(30)
    uid = pods(cluster)["web-0"]["metadata"]["uid"]
    cluster.store.modify(ASTS, "default", "web", lambda d: d["spec"]["template"]["spec"][
        "containers"][0].__setitem__("env", [{"name": "A", "value": "1"}]))
    cluster.settle()
    cluster.advance(30)
    assert pods(cluster)["web-0"]["metadata"]["uid"] != uid


def test_in_place_only_leaves_a_non_image_change_alone(cluster: EmbeddedCluster) -> None:
    cluster.create(asts(replicas=1, policy="InPlaceOnly"))
    cluster.advance(30)
    uid = pods(cluster)["web-0"]["metadata"]["uid"]
    cluster.store.modify(ASTS, "default", "web", lambda d: d["spec"]["template"]["spec"][
        "containers"][0].__setitem__("env", [{"name": "A", "value": "1"}]))
    cluster.settle()
    cluster.advance(30)
    assert pods(cluster)["web-0"]["metadata"]["uid"] == uid
    assert status(cluster)["updatedReplicas"] == 0


def test_recreate_is_the_default_policy(cluster: EmbeddedCluster) -> None:
    body = asts(replicas=1)
    del body["spec"]["updateStrategy"]
    created = cluster.create(body)
    assert created["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "partition": 0, "maxUnavailable": 1, "podUpdatePolicy": "ReCreate", "paused": False}}
    cluster.advance(30)
    uid = pods(cluster)["web-0"]["metadata"]["uid"]
    set_image(cluster, "shop:v2")
    cluster.advance(30)
    assert pods(cluster)["web-0"]["metadata"]["uid"] != uid


def test_parallel_max_unavailable_updates_that_many_at_once(cluster: EmbeddedCluster) -> None:
    cluster.create(asts(replicas=4, podManagementPolicy="Parallel",
                        rolling={"maxUnavailable": "50%"}))
    cluster.advance(30)
    set_image(cluster, "shop:v2")
    assert images(cluster) == {"web-0": "shop:v1", "web-1": "shop:v1", "web-2": "shop:v2",
                               "web-3": "shop:v2"}


def test_paused_stops_the_update(cluster: EmbeddedCluster) -> None:
    cluster.create(asts(rolling={"paused": True}))
    cluster.advance(60)
    set_image(cluster, "shop:v2")
    cluster.advance(60)
    assert set(images(cluster).values()) == {"shop:v1"}


def test_reserve_ordinals_skips_them(cluster: EmbeddedCluster) -> None:
    cluster.create(asts(reserveOrdinals=[1]))
    cluster.advance(60)
    assert sorted(pods(cluster)) == ["web-0", "web-2", "web-3"]


def test_the_selector_must_match_the_template(cluster: EmbeddedCluster) -> None:
    body = asts()
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(errors.Invalid, match="`selector` does not match template `labels`"):
        cluster.create(body)
