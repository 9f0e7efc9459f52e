"""ImagePullJob / NodeImage on an embedded cluster: the job hands its tag to each node's
NodeImage, kruise-daemon pulls it into the simulated kubelet's image store with the
kubelet's own puller (same time, same failures), and a later in-place image change
finds it "already present on machine" (upstream ``test/e2e/apps/pullimages.go``,
``pkg/daemon/imagepuller``; openkruise.md §4.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kubelet.images import parse_reference
from kitlib.model import errors
from tests.cluster.timeline import Timeline, bound_pod, image, kubelet_cluster

JOBS, NODE_IMAGES = "imagepulljobs.apps.kruise.io", "nodeimages.apps.kruise.io"


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = kubelet_cluster(nodes=3)
    yield c
    assert list(c.image_pulls.jobs.runner.errors) == []
    assert list(c.image_pulls.daemon.runner.errors) == []
    assert c.store.verify_integrity() == []


def job(name: str = "pull-v2", image_ref: str = "shop:v2", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "ImagePullJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"image": image_ref, **spec}}


def job_status(cluster: EmbeddedCluster, name: str = "pull-v2") -> dict[str, Any]:
    return dict(cluster.store.get(JOBS, "default", name).get("status") or {})


def tag_status(cluster: EmbeddedCluster, node: str, name: str = "shop") -> dict[str, Any]:
    [tag] = cluster.store.get(NODE_IMAGES, "", node)["status"]["imageStatuses"][name]["tags"]
    return dict(tag)


def on_node(cluster: EmbeddedCluster, node: str, ref: str) -> bool:
    info = cluster.kubelets.catalog.resolve(ref)
    assert info is not None
    return cluster.kubelets.agents[node].images.present(info)


def test_defaults_are_upstreams(cluster: EmbeddedCluster) -> None:
    created = cluster.create(job())
    assert created["spec"] == {
        "image": "shop:v2", "parallelism": 1, "imagePullPolicy": "IfNotPresent",
        "pullPolicy": {"timeoutSeconds": 600, "backoffLimit": 3},
        "completionPolicy": {"type": "Always"}}


def test_selector_and_pod_selector_are_exclusive(cluster: EmbeddedCluster) -> None:
    with pytest.raises(errors.Invalid, match="can not set both selector and podSelector"):
        cluster.create(job(selector={"names": ["n1"]},
                           podSelector={"matchLabels": {"app": "web"}}))


def test_parallelism_one_pulls_node_after_node_and_completes(cluster: EmbeddedCluster) -> None:
    """Given 3 nodes without shop:v2 (100 MB, 100 MB/s): one pull of 1 s per node, one
    node at a time, so the job completes at 3 s."""
    cluster.create(job())
    assert job_status(cluster)["active"] == 1
    assert cluster.store.get(NODE_IMAGES, "", "n1")["spec"]["images"]["shop"]["tags"][0][
        "tag"] == "v2"
    assert cluster.store.peek(NODE_IMAGES, "", "n2") is None
    cluster.advance(1.5)
    assert tag_status(cluster, "n1")["phase"] == "Succeeded"
    assert tag_status(cluster, "n2")["phase"] == "Pulling"
    assert job_status(cluster)["message"] == "job is running, progress 33.3%"
    cluster.advance(1.5)
    assert job_status(cluster) == {
        "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:03Z",
        "desired": 3, "active": 0, "succeeded": 3, "failed": 0, "failedNodes": [],
        "message": "job has completed"}
    assert all(on_node(cluster, n, "shop:v2") for n in ("n1", "n2", "n3"))
    digest = parse_reference("shop:v2")
    assert digest is not None
    assert tag_status(cluster, "n3") == {
        "tag": "v2", "phase": "Succeeded", "progress": 100, "imageID": digest.image_id,
        "startTime": "2026-01-01T00:00:02Z", "completionTime": "2026-01-01T00:00:03Z"}
    node_image = cluster.store.get(NODE_IMAGES, "", "n3")["status"]
    assert (node_image["desired"], node_image["succeeded"], node_image["pulling"]) == (1, 1, 0)


def test_a_node_selector_picks_nodes_by_name(cluster: EmbeddedCluster) -> None:
    cluster.create(job(parallelism=2, selector={"names": ["n2", "n3"]}))
    cluster.advance(1.5)
    assert job_status(cluster)["succeeded"] == 2
    assert cluster.store.peek(NODE_IMAGES, "", "n1") is None
    assert not on_node(cluster, "n1", "shop:v2")


def test_a_pod_selector_picks_the_nodes_of_matching_pods(cluster: EmbeddedCluster) -> None:
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}], node="n2")
                   | {"metadata": {"name": "web", "namespace": "default",
                                   "labels": {"app": "web"}}})
    cluster.create(job(podSelector={"matchLabels": {"app": "web"}}))
    cluster.advance(5)
    assert job_status(cluster)["desired"] == 1
    assert (on_node(cluster, "n1", "shop:v2"), on_node(cluster, "n2", "shop:v2")) == (False, True)


def test_an_image_already_there_costs_nothing_the_second_time(
        cluster: EmbeddedCluster) -> None:
    """Bytes are pulled once per node: a second job for the same image on the same nodes
    completes at once, without a pull."""
    cluster.create(job(parallelism=3))
    cluster.advance(5)
    assert job_status(cluster)["completionTime"] == "2026-01-01T00:00:01Z"
    cluster.create(job("again", parallelism=3))
    assert job_status(cluster, "again")["completionTime"] == "2026-01-01T00:00:05Z"
    assert tag_status(cluster, "n1")["completionTime"] == "2026-01-01T00:00:01Z"


def test_an_unpullable_image_fails_after_the_backoff_limit(cluster: EmbeddedCluster) -> None:
    """Each attempt fails after the registry's answer (1 s); backoffLimit 2 means 3
    attempts, so the node's tag fails at 3 s and the job completes with it failed."""
    cluster.create(image("broken", "shop:v9", pullable=False))
    cluster.create(job(image_ref="shop:v9", pullPolicy={"backoffLimit": 2},
                       selector={"names": ["n1"]}))
    cluster.advance(2.5)
    assert tag_status(cluster, "n1")["phase"] == "Pulling"
    cluster.advance(1)
    tag = tag_status(cluster, "n1")
    assert (tag["phase"], tag["completionTime"]) == ("Failed", "2026-01-01T00:00:03Z")
    assert "not found" in tag["message"]
    status = job_status(cluster)
    assert (status["failed"], status["failedNodes"], status["message"]) == (
        1, ["n1"], "job has completed")


def test_a_pull_longer_than_the_timeout_fails(cluster: EmbeddedCluster) -> None:
    cluster.create(image("huge", "shop:big", sizeBytes=10_000_000_000))  # 100 s
    cluster.create(job(image_ref="shop:big", selector={"names": ["n1"]},
                       pullPolicy={"timeoutSeconds": 10, "backoffLimit": 0}))
    cluster.advance(11)
    tag = tag_status(cluster, "n1")
    assert (tag["phase"], tag["message"]) == ("Failed", "pull image timeout after 10s")


def test_ttl_deletes_a_finished_job(cluster: EmbeddedCluster) -> None:
    cluster.create(job(parallelism=3, completionPolicy={"ttlSecondsAfterFinished": 10}))
    cluster.advance(10.5)
    assert cluster.store.peek(JOBS, "default", "pull-v2") is not None
    cluster.advance(1)
    assert cluster.store.peek(JOBS, "default", "pull-v2") is None
    assert "shop" not in (cluster.store.get(NODE_IMAGES, "", "n1")["spec"].get("images") or {})


def test_a_never_job_pulls_on_nodes_that_join_later(cluster: EmbeddedCluster) -> None:
    from kitlib.cluster.nodes import make_node
    cluster.create(job(parallelism=3, completionPolicy={"type": "Never"}))
    cluster.advance(5)
    assert job_status(cluster)["succeeded"] == 3
    cluster.store.create("nodes", make_node("n4", index=3))
    cluster.advance(5)
    status = job_status(cluster)
    assert (status["desired"], status["succeeded"], status.get("completionTime")) == (4, 4, None)
    assert on_node(cluster, "n4", "shop:v2")


def test_pre_download_makes_an_in_place_update_start_without_pulling(
        cluster: EmbeddedCluster) -> None:
    """Given web running shop:v1 on n1 and shop:v2 pre-downloaded on every node, when its
    image is patched to shop:v2 at 30 s: killed at 30 (stops in 1 s), image already
    present at 31, created and started 1 s later — no pull time at all (without the pre-download the
    30 MB tag layer would take 0.3 s)."""
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}]))
    cluster.create(job(parallelism=3))
    cluster.advance(30 - cluster.now)
    assert job_status(cluster)["succeeded"] == 3
    cluster.store.modify("pods", "default", "web",
                         lambda p: p["spec"]["containers"][0].__setitem__("image", "shop:v2"))
    cluster.settle()
    cluster.advance(10)
    events = [(t, reason, message) for t, reason, message in timeline.events if t >= 30]
    assert events == [
        (30, "Killing", "Container app definition changed, will be restarted"),
        (31, "Pulled", 'Container image "shop:v2" already present on machine'),
        (32, "Created", "Created container: app"),
        (32, "Started", "Started container app")]
    assert timeline.container("app")[-1] == (32, ("running", None, 1))


def test_without_pre_download_the_same_update_pulls_the_tag_layer(
        cluster: EmbeddedCluster) -> None:
    """The control case: the 30 MB tag layer of shop:v2 takes 0.3 s at 100 MB/s."""
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"}]))
    cluster.advance(30)
    cluster.store.modify("pods", "default", "web",
                         lambda p: p["spec"]["containers"][0].__setitem__("image", "shop:v2"))
    cluster.settle()
    cluster.advance(10)
    pulls = [(round(t, 3), reason) for t, reason, _ in timeline.events
             if t >= 30 and reason.startswith("Pull")]
    assert pulls == [(31, "Pulling"), (31.3, "Pulled")]
    assert timeline.container("app")[-1] == (pytest.approx(32.3), ("running", None, 1))


def annotate(cluster: EmbeddedCluster, node: str, down: bool) -> None:
    def change(n: dict[str, Any]) -> None:
        notes = n["metadata"].setdefault("annotations", {})
        if down:
            notes["sim.kitlib.io/down"] = "true"
        else:
            notes.pop("sim.kitlib.io/down", None)
    cluster.store.modify("nodes", "", node, change)
    cluster.settle()


def test_a_pull_lost_with_its_node_starts_again_when_the_node_is_back(
        cluster: EmbeddedCluster) -> None:
    cluster.create(job(selector={"names": ["n1"]}))
    cluster.advance(0.5)
    annotate(cluster, "n1", down=True)
    cluster.advance(4.5)
    assert tag_status(cluster, "n1")["phase"] == "Pulling"
    assert not on_node(cluster, "n1", "shop:v2")
    annotate(cluster, "n1", down=False)
    cluster.advance(1.5)
    tag = tag_status(cluster, "n1")
    assert (tag["phase"], tag["completionTime"]) == ("Succeeded", "2026-01-01T00:00:06Z")
