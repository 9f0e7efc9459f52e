"""Faults (``kitlib.client.faults``) against ``kitlib serve`` with nodes: each has its
effect on the simulated kubelets and controllers, and its undo undoes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

import kitlib
from kitlib.client import faults
from kitlib.client.raw import get_json
from kitlib.cluster.settings import ClusterSettings, KubeletSettings
from kitlib.model import errors

if TYPE_CHECKING:
    from conftest import ThreadedServer

IMAGES = "/apis/sim.kitlib.io/v1alpha1/images"
APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute,
         tolerationSeconds: 30}
      containers:
      - name: app
        image: "nginx:1.25"
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 5}
      - {name: log, image: "fluentd:1"}
"""


@pytest.fixture
def cluster(start_api_server: Callable[..., ThreadedServer]) -> Iterator[kitlib.Cluster]:
    settings = ClusterSettings(nodes=3, kubelet=KubeletSettings(jitter=0))
    with kitlib.connect(kubeconfig=start_api_server(cluster_settings=settings).kubeconfig
                        ) as handle:
        yield handle


def pods(cluster: kitlib.Cluster) -> list[dict[str, Any]]:
    return list(get_json(cluster.api_client, "/api/v1/namespaces/default/pods")["items"])


def pod(cluster: kitlib.Cluster, name: str) -> dict[str, Any]:
    return get_json(cluster.api_client, f"/api/v1/namespaces/default/pods/{name}")


def container(obj: dict[str, Any], name: str = "app") -> dict[str, Any]:
    return next(c for c in obj["status"]["containerStatuses"] if c["name"] == name)


def conditions(cluster: kitlib.Cluster, node: str) -> dict[str, str]:
    obj = get_json(cluster.api_client, f"/api/v1/nodes/{node}")
    return {c["type"]: c["status"] for c in obj["status"]["conditions"]}


def taints(cluster: kitlib.Cluster, node: str) -> set[str]:
    obj = get_json(cluster.api_client, f"/api/v1/nodes/{node}")
    return {f"{t['key']}:{t['effect']}" for t in obj["spec"].get("taints") or []}


def deploy(cluster: kitlib.Cluster) -> list[dict[str, Any]]:
    cluster.apply(APP)
    cluster.sleep(30)
    running = pods(cluster)
    assert len(running) == 3 and all(container(p)["ready"] for p in running)
    return running


def single_pod(cluster: kitlib.Cluster, name: str, image: str, node: str = "node-0") -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                   "spec": {"nodeName": node, "containers": [{"name": "app", "image": image}]}})


# -- nodes -------------------------------------------------------------------------------------

def test_a_failed_node_goes_unknown_its_pods_are_evicted_and_restore_brings_it_back(
        cluster: kitlib.Cluster) -> None:
    victim = deploy(cluster)[0]
    node = victim["spec"]["nodeName"]
    faults.fail_node(cluster, node)
    cluster.sleep(20)
    assert conditions(cluster, node)["Ready"] == "True", "within the grace period"
    cluster.sleep(40)
    assert conditions(cluster, node)["Ready"] == "Unknown"
    assert "node.kubernetes.io/unreachable:NoExecute" in taints(cluster, node)
    cluster.sleep(60)  # past the pods' tolerationSeconds (30)
    assert pod(cluster, victim["metadata"]["name"])["metadata"].get("deletionTimestamp")
    live = [p for p in pods(cluster) if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == 3 and all(p["spec"]["nodeName"] != node for p in live)
    assert all(container(p)["ready"] for p in live), "replaced on the other nodes"

    faults.restore_node(cluster, node)
    cluster.sleep(15)
    assert conditions(cluster, node)["Ready"] == "True"
    assert not taints(cluster, node)
    with pytest.raises(errors.NotFound):
        pod(cluster, victim["metadata"]["name"])


def test_node_conditions_are_posted_and_cleared(cluster: kitlib.Cluster) -> None:
    posted = {"not-ready": ("Ready", "False"), "memory-pressure": ("MemoryPressure", "True"),
              "disk-pressure": ("DiskPressure", "True"), "pid-pressure": ("PIDPressure", "True")}
    for condition, (kind, status) in posted.items():
        faults.set_node_condition(cluster, "node-1", condition)
        cluster.sleep(11)
        assert conditions(cluster, "node-1")[kind] == status
        faults.set_node_condition(cluster, "node-1", condition, on=False)
        cluster.sleep(11)
        assert conditions(cluster, "node-1") == {"Ready": "True", "MemoryPressure": "False",
                                                 "DiskPressure": "False", "PIDPressure": "False"}
    with pytest.raises(ValueError, match="unknown node condition 'on-fire'; known: not-ready"):
        faults.set_node_condition(cluster, "node-1", "on-fire")


def test_clear_node_faults_removes_every_node_annotation(cluster: kitlib.Cluster) -> None:
    faults.fail_node(cluster, "node-2")
    faults.set_node_condition(cluster, "node-2", "disk-pressure")
    faults.slow_image_pulls(cluster, "node-2", 1e6)
    annotations = faults.clear_node_faults(cluster, "node-2")["metadata"].get("annotations", {})
    assert not [k for k in annotations if k.startswith("sim.kitlib.io/")]


def test_slow_image_pulls_make_a_node_pull_at_the_given_rate(cluster: kitlib.Cluster) -> None:
    faults.slow_image_pulls(cluster, "node-0", 10e6)  # 100 MB image: 10 s instead of 1 s
    single_pod(cluster, "slow", "example.com/big:v1", node="node-0")
    single_pod(cluster, "fast", "example.com/big:v1", node="node-1")
    cluster.sleep(5)
    assert "running" in container(pod(cluster, "fast"))["state"]
    assert "waiting" in container(pod(cluster, "slow"))["state"]
    cluster.sleep(7)
    assert "running" in container(pod(cluster, "slow"))["state"]
    node = faults.slow_image_pulls(cluster, "node-0", None)
    assert "sim.kitlib.io/pull-bandwidth" not in node["metadata"].get("annotations", {})
    with pytest.raises(ValueError, match="positive"):
        faults.slow_image_pulls(cluster, "node-0", 0)


# -- containers --------------------------------------------------------------------------------

def test_a_crashed_container_restarts_with_its_exit_code_until_healed(
        cluster: kitlib.Cluster) -> None:
    name = deploy(cluster)[0]["metadata"]["name"]
    faults.crash_container(cluster, name, "app", after_seconds=5, exit_code=3)
    cluster.sleep(2)  # the instance has run longer than 5 s: it exits at once
    status = container(pod(cluster, name))
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    cluster.sleep(60)
    assert container(pod(cluster, name))["restartCount"] >= 3
    assert container(pod(cluster, name), "log")["restartCount"] == 0, "only that container"
    faults.heal_container(cluster, name, "app")
    cluster.sleep(300)
    healed = container(pod(cluster, name))
    cluster.sleep(120)
    assert container(pod(cluster, name))["restartCount"] == healed["restartCount"]
    assert "running" in container(pod(cluster, name))["state"]
    with pytest.raises(ValueError, match="has no container 'db' \\(it has: app, log\\)"):
        faults.crash_container(cluster, name, "db")


def test_make_unready_fails_readiness_and_make_ready_restores_it(
        cluster: kitlib.Cluster) -> None:
    name = deploy(cluster)[0]["metadata"]["name"]
    faults.make_unready(cluster, name, container="app")
    cluster.sleep(20)  # failureThreshold 3 × periodSeconds 5
    unready = pod(cluster, name)
    assert not container(unready)["ready"] and "running" in container(unready)["state"]
    assert container(unready)["restartCount"] == 0, "unready, not dead"
    assert {c["type"]: c["status"] for c in unready["status"]["conditions"]}["Ready"] == "False"
    faults.make_ready(cluster, name, container="app")
    cluster.sleep(10)
    assert container(pod(cluster, name))["ready"]
    with pytest.raises(ValueError, match=r"log of pod .* no readinessProbe"):
        faults.make_unready(cluster, name)


# -- images ------------------------------------------------------------------------------------

def test_a_flaky_image_gives_err_image_pull_then_recovers(cluster: kitlib.Cluster) -> None:
    image = faults.flaky_image(cluster, "example.com/shop:v2", fail=True)
    assert image["spec"] == {"image": "example.com/shop:v2", "pullable": False}
    single_pod(cluster, "shop", "example.com/shop:v2")
    cluster.sleep(3)
    waiting = container(pod(cluster, "shop"))["state"]["waiting"]
    assert waiting["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert faults.restore_image(cluster, "example.com/shop:v2") is None
    assert get_json(cluster.api_client, IMAGES)["items"] == []
    cluster.sleep(60)
    assert "running" in container(pod(cluster, "shop"))["state"]


def test_flaky_image_keeps_and_restores_what_an_image_object_said(
        cluster: kitlib.Cluster) -> None:
    cluster.apply([
        {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image", "metadata": {"name": "shop"},
         "spec": {"image": "docker.io/library/shop:v1", "sizeBytes": 5000000,
                  "pullFailureRate": 0.1}},
        {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image", "metadata": {"name": "app"},
         "spec": {"image": "example.com/app:*", "sizeBytes": 7000000}}])
    faults.flaky_image(cluster, "shop:v1", fail=True)
    patched = faults.flaky_image(cluster, "shop:v1", failure_rate=0.5)
    assert patched["metadata"]["name"] == "shop"
    assert patched["spec"]["pullFailureRate"] == 0.5 and patched["spec"]["pullable"]
    restored = faults.restore_image(cluster, "shop:v1")
    assert restored is not None
    assert restored["spec"] == {"image": "docker.io/library/shop:v1", "sizeBytes": 5000000,
                                "pullFailureRate": 0.1}
    assert faults.PREVIOUS not in (restored["metadata"].get("annotations") or {})
    assert faults.restore_image(cluster, "shop:v1") is None, "nothing left to undo"

    created = faults.flaky_image(cluster, "example.com/app:v3", failure_rate=1.0)
    assert created["spec"]["sizeBytes"] == 7000000, "copied from the repository's object"
    assert created["spec"]["image"] == "example.com/app:v3"
    faults.restore_image(cluster, "example.com/app:v3")
    assert {i["metadata"]["name"] for i in get_json(cluster.api_client, IMAGES)["items"]} == {
        "shop", "app"}
    with pytest.raises(ValueError, match="either fail=True or failure_rate"):
        faults.flaky_image(cluster, "x:1")
    with pytest.raises(ValueError, match="between 0 and 1"):
        faults.flaky_image(cluster, "x:1", failure_rate=2)


@pytest.mark.parametrize(("image", "reference", "repository"), [
    ("nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx"),
    ("nginx:1.25", "docker.io/library/nginx:1.25", "docker.io/library/nginx"),
    ("me/app:v1", "docker.io/me/app:v1", "docker.io/me/app"),
    ("localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app"),
    ("example.com/a/b@sha256:" + "0" * 64, "example.com/a/b@sha256:" + "0" * 64,
     "example.com/a/b"),
])
def test_image_references_are_normalized_as_containerd_names_them(
        image: str, reference: str, repository: str) -> None:
    assert faults.normalize_image(image) == (reference, repository)
