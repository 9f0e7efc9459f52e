"""``rollout``, ``pause``/``resume`` and ``set_partition`` over HTTP against ``kitlib serve``.

One 3-node server for the module; each test uses its own workload names.
"""

from __future__ import annotations

from typing import Any

import pytest

import kitlib
from kitlib.client.raw import get_json
from kitlib.client.refs import progress, resolve
from tests.conftest import ThreadedServer, module_server

server = module_server(nodes=3)


@pytest.fixture(scope="module")
def cluster(connected: kitlib.Cluster) -> kitlib.Cluster:
    return connected


def pods(cluster: kitlib.Cluster, app: str) -> list[dict[str, Any]]:
    items = get_json(cluster.api_client, "/api/v1/namespaces/default/pods",
                     labelSelector=f"app={app}")["items"]
    return sorted((p for p in items if not p["metadata"].get("deletionTimestamp")),
                  key=lambda p: p["metadata"]["name"])


def image_of(pod: dict[str, Any], container: str = "app") -> str:
    return next(c["image"] for c in pod["spec"]["containers"] if c["name"] == container)


def restarts(pod: dict[str, Any]) -> dict[str, int]:
    return {s["name"]: s["restartCount"] for s in pod["status"]["containerStatuses"]}


def deploy(cluster: kitlib.Cluster, name: str, **options: Any) -> list[dict[str, Any]]:
    cluster.deploy_example(name, **options)
    cluster.wait_converged(name, timeout=300)
    return pods(cluster, name)


def statefulset(name: str, *, kruise: bool, replicas: int = 3) -> dict[str, Any]:
    return {"apiVersion": "apps.kruise.io/v1beta1" if kruise else "apps/v1",
            "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                         "containers": [{"name": "app", "image": "nginx:1.25"},
                                        {"name": "agent", "image": "busybox:1.36"}]}}}}


# -- CloneSet ------------------------------------------------------------------------------

def test_an_in_place_rollout_of_one_container_keeps_every_pod(cluster: kitlib.Cluster) -> None:
    before = deploy(cluster, "inplace")
    result = cluster.rollout("cloneset/inplace", images={"app": "nginx:1.26"})
    assert result.changed and str(result.ref) == "cloneset/inplace"
    assert result.generation == result.object["metadata"]["generation"] == 2
    containers = result.patch["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "nginx:1.26"), ("agent", "busybox:1.36"),
        ("mesh-proxy", "nginxinc/nginx-unprivileged:1.25")]
    assert set(result.patch["metadata"]) == {"resourceVersion"}, "a precondition"

    cluster.wait_converged("inplace", timeout=300)
    after = pods(cluster, "inplace")
    assert [(p["metadata"]["uid"], p["spec"]["nodeName"], p["status"]["podIP"]) for p in after] \
        == [(p["metadata"]["uid"], p["spec"]["nodeName"], p["status"]["podIP"]) for p in before]
    assert {image_of(p) for p in after} == {"nginx:1.26"}
    assert all(restarts(p) == {"app": 1, "agent": 0, "mesh-proxy": 0} for p in after)


def test_a_recreate_rollout_replaces_every_pod(cluster: kitlib.Cluster) -> None:
    before = deploy(cluster, "recreate")
    result = cluster.rollout("recreate", images={"agent": "busybox:1.37"}, strategy="ReCreate")
    assert result.object["spec"]["updateStrategy"]["type"] == "ReCreate"
    cluster.wait_converged("recreate", timeout=300)
    after = pods(cluster, "recreate")
    assert len(after) == 6
    assert not {p["metadata"]["uid"] for p in after} & {p["metadata"]["uid"] for p in before}
    assert {image_of(p, "agent") for p in after} == {"busybox:1.37"}


def test_a_partition_holds_that_many_pods_on_the_old_revision(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "canary")
    cluster.rollout("canary", images={"app": "nginx:1.26"}, partition=2)
    cluster.wait_converged("canary", timeout=300)
    assert sorted(image_of(p) for p in pods(cluster, "canary")) == ["nginx:1.25"] * 2 + [
        "nginx:1.26"] * 4
    cluster.sleep(60)
    assert sorted(image_of(p) for p in pods(cluster, "canary")).count("nginx:1.25") == 2

    result = cluster.set_partition("canary", "50%")
    assert result.object["spec"]["updateStrategy"]["partition"] == "50%"
    assert result.changed and result.generation == 3
    cluster.set_partition("canary", 0)
    cluster.wait_converged("canary", timeout=300)
    assert {image_of(p) for p in pods(cluster, "canary")} == {"nginx:1.26"}


def test_pause_stops_progress_and_resume_continues(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "paced", ready_after_seconds=10)
    cluster.rollout("paced", images={"app": "nginx:1.26"})
    cluster.sleep(3)
    paused = cluster.pause("paced")
    assert paused.object["spec"]["updateStrategy"]["paused"] is True
    cluster.sleep(60)
    held = sorted(image_of(p) for p in pods(cluster, "paced"))
    assert held.count("nginx:1.26") == 2, "the first batch (maxUnavailable 20% of 6) only"
    assert not cluster.converged("paced")
    cluster.sleep(60)
    assert sorted(image_of(p) for p in pods(cluster, "paced")) == held

    cluster.resume("paced")
    waited = cluster.wait_converged("paced", timeout=300)
    assert waited > 10
    assert {image_of(p) for p in pods(cluster, "paced")} == {"nginx:1.26"}


def test_max_unavailable_max_surge_and_strategy_go_into_one_patch(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "knobs", replicas=2)
    result = cluster.rollout("knobs", strategy="InPlaceOnly", max_unavailable="50%",
                             max_surge=0, paused=False)
    assert result.patch == {"spec": {"updateStrategy": {
        "type": "InPlaceOnly", "maxUnavailable": "50%", "maxSurge": 0, "paused": False}}}
    strategy = result.object["spec"]["updateStrategy"]
    assert (strategy["type"], strategy["maxUnavailable"]) == ("InPlaceOnly", "50%")
    again = cluster.rollout("knobs", strategy="InPlaceOnly")
    assert not again.changed and again.generation == result.generation


# -- Deployment ----------------------------------------------------------------------------

def test_a_deployment_rolls_out_with_a_strategic_patch_pauses_and_resumes(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "web", kind="Deployment", replicas=4)
    result = cluster.rollout("deploy/web", images={"mesh-proxy": "nginxinc/nginx-unprivileged:1.26"},
                             max_unavailable=1, max_surge=1, paused=True)
    assert result.patch == {"spec": {
        "strategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}, "paused": True,
        "template": {"spec": {"containers": [
            {"name": "mesh-proxy", "image": "nginxinc/nginx-unprivileged:1.26"}]}}}}
    assert [c["name"] for c in result.object["spec"]["template"]["spec"]["containers"]] == [
        "app", "agent", "mesh-proxy"]
    cluster.sleep(60)
    assert {image_of(p, "mesh-proxy") for p in pods(cluster, "web")} == {
        "nginxinc/nginx-unprivileged:1.25"}, "paused: nothing rolled"
    cluster.resume("deploy/web")
    cluster.wait_converged("deploy/web", timeout=300)
    assert {image_of(p, "mesh-proxy") for p in pods(cluster, "web")} == {
        "nginxinc/nginx-unprivileged:1.26"}

    recreate = cluster.rollout("deploy/web", strategy="Recreate")
    assert recreate.object["spec"]["strategy"] == {"type": "Recreate"}


# -- StatefulSets --------------------------------------------------------------------------

def test_an_advanced_statefulset_updates_in_place_above_its_partition(
        cluster: kitlib.Cluster) -> None:
    cluster.apply(statefulset("db", kruise=True))
    cluster.wait_converged("asts/db", timeout=300)
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(cluster, "db")}
    result = cluster.rollout("asts/db", images={"app": "nginx:1.26"}, strategy="InPlaceIfPossible",
                             partition=1)
    rolling = result.object["spec"]["updateStrategy"]["rollingUpdate"]
    assert (rolling["podUpdatePolicy"], rolling["partition"]) == ("InPlaceIfPossible", 1)
    cluster.wait_converged("asts/db", timeout=300)
    after = pods(cluster, "db")
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in after} == before
    assert [image_of(p) for p in after] == ["nginx:1.25", "nginx:1.26", "nginx:1.26"]

    paused = cluster.pause("asts/db")
    assert paused.object["spec"]["updateStrategy"]["rollingUpdate"]["paused"] is True
    cluster.set_partition("asts/db", 0)
    cluster.sleep(60)
    assert image_of(pods(cluster, "db")[0]) == "nginx:1.25", "paused"
    cluster.resume("asts/db")
    cluster.wait_converged("asts/db", timeout=300)
    assert {image_of(p) for p in pods(cluster, "db")} == {"nginx:1.26"}


def test_a_statefulset_rolls_init_containers_down_to_its_partition(
        cluster: kitlib.Cluster) -> None:
    cluster.apply(statefulset("kv", kruise=False))
    cluster.wait_converged("sts/kv", timeout=300)
    result = cluster.rollout("sts/kv", images={"init": "busybox:1.37"}, partition=2)
    assert result.patch == {"spec": {
        "updateStrategy": {"rollingUpdate": {"partition": 2}},
        "template": {"spec": {"initContainers": [{"name": "init", "image": "busybox:1.37"}]}}}}
    cluster.wait_converged("sts/kv", timeout=300)
    assert [p["spec"]["initContainers"][0]["image"] for p in pods(cluster, "kv")] == [
        "busybox:1.36", "busybox:1.36", "busybox:1.37"]
    on_delete = cluster.rollout("sts/kv", strategy="OnDelete")
    assert on_delete.object["spec"]["updateStrategy"] == {"type": "OnDelete"}


# -- refusals ------------------------------------------------------------------------------

@pytest.mark.parametrize(("workload", "options", "message"), [
    ("deploy/refuse-d", {"partition": 2},
     "Deployments have no partition; use pause/resume .* or a CloneSet"),
    ("deploy/refuse-d", {"strategy": "InPlaceIfPossible"},
     'strategy "InPlaceIfPossible" is not one of RollingUpdate, Recreate'),
    ("cloneset/refuse-c", {"strategy": "RollingUpdate"},
     'strategy "RollingUpdate" is not one of ReCreate, InPlaceIfPossible, InPlaceOnly'),
    ("cloneset/refuse-c", {"partition": "half"}, "partition 'half' must be a non-negative"),
    ("cloneset/refuse-c", {"images": {"nginx": "nginx:2"}},
     "cloneset/refuse-c has no container 'nginx'; its containers are app, agent, mesh-proxy"),
    ("sts/refuse-s", {"paused": True}, "cannot be paused; hold its rollout with set_partition"),
    ("sts/refuse-s", {"max_surge": 1}, "StatefulSets have no maxSurge"),
    ("sts/refuse-s", {"partition": "10%"}, "StatefulSets take no percentage"),
    ("sts/refuse-s", {"images": {"x": "y"}},
     r"its containers are app, agent \(init containers: init\)"),
    ("asts/refuse-a", {"strategy": "OnDelete", "partition": 1},
     "with the OnDelete strategy pods are updated only when deleted, so partition would do "
     'nothing; pass strategy="RollingUpdate" with them'),
    ("sts/refuse-s", {"strategy": "OnDelete", "max_unavailable": 1},
     "so maxUnavailable would do nothing"),
])
def test_a_knob_the_kind_lacks_is_refused_before_anything_is_sent(
        cluster: kitlib.Cluster, workload: str, options: dict[str, Any], message: str) -> None:
    ensure_refusal_targets(cluster)
    before = get_json(cluster.api_client, cluster_path(cluster, workload))
    with pytest.raises(kitlib.errors.Invalid, match=message):
        cluster.rollout(workload, **options)
    after = get_json(cluster.api_client, cluster_path(cluster, workload))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_a_recreate_deployment_has_no_surge(cluster: kitlib.Cluster) -> None:
    ensure_refusal_targets(cluster)
    with pytest.raises(kitlib.errors.Invalid, match='a Recreate Deployment has no maxSurge; '
                       'pass strategy="RollingUpdate"'):
        cluster.rollout("deploy/refuse-d", strategy="Recreate", max_surge=1)
    with pytest.raises(ValueError, match="rollout needs something to change"):
        cluster.rollout("deploy/refuse-d")


def ensure_refusal_targets(cluster: kitlib.Cluster) -> None:
    cluster.apply([*kitlib.example_app("refuse-d", kind="Deployment", replicas=1),
                   *kitlib.example_app("refuse-c", replicas=1),
                   statefulset("refuse-s", kruise=False, replicas=1),
                   statefulset("refuse-a", kruise=True, replicas=1)])


def cluster_path(cluster: kitlib.Cluster, workload: str) -> str:
    return resolve(cluster, workload).path


# -- dry run, read-only --------------------------------------------------------------------

def test_a_dry_run_rollout_shows_the_result_and_stores_nothing(
        server: ThreadedServer, cluster: kitlib.Cluster) -> None:
    ensure_refusal_targets(cluster)
    before = get_json(cluster.api_client, cluster_path(cluster, "cloneset/refuse-c"))
    with kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as reader:
        result = reader.rollout("cloneset/refuse-c", images={"app": "nginx:1.26"},
                                strategy="ReCreate", dry_run=True)
        assert result.changed
        assert result.object["spec"]["updateStrategy"]["type"] == "ReCreate"
        assert image_of(result.object["spec"]["template"]) == "nginx:1.26"
        for operation in (lambda: reader.pause("refuse-c", dry_run=True),
                          lambda: reader.set_partition("refuse-c", 1, dry_run=True),
                          lambda: reader.resume("deploy/refuse-d", dry_run=True)):
            operation()
    after = get_json(cluster.api_client, cluster_path(cluster, "cloneset/refuse-c"))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert progress(after).partition == 0 and not progress(after).paused


def test_a_read_only_handle_refuses_every_workload_write(server: ThreadedServer,
                                                       cluster: kitlib.Cluster) -> None:
    ensure_refusal_targets(cluster)
    with kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as reader:
        for operation in (lambda: reader.rollout("refuse-c", images={"app": "nginx:1.26"}),
                          lambda: reader.pause("refuse-c"), lambda: reader.resume("refuse-c"),
                          lambda: reader.set_partition("refuse-c", 1),
                          lambda: reader.scale("refuse-c", 2), lambda: reader.undo("refuse-c"),
                          lambda: reader.deploy_example("refuse-x")):
            with pytest.raises(kitlib.WritesNotAllowedError, match="allow_writes=True"):
                operation()


def test_listeners_hear_every_workload_operation(cluster: kitlib.Cluster) -> None:
    ensure_refusal_targets(cluster)
    heard: list[tuple[str, dict[str, Any]]] = []

    def listen(what: str, details: dict[str, Any]) -> None:
        heard.append((what, details))

    cluster.add_listener(listen)
    try:
        cluster.pause("refuse-c", dry_run=True)
        cluster.scale("deploy/refuse-d", 1)
    finally:
        cluster.remove_listener(listen)
    assert [(what, d["workload"], d["dry_run"]) for what, d in heard] == [
        ("rollout", "cloneset/refuse-c", True), ("scale", "deployment/refuse-d", False)]
    assert heard[0][1]["patch"] == {"spec": {"updateStrategy": {"paused": True}}}
    assert heard[0][1]["changed"] and heard[1][1]["replicas"] == 1
