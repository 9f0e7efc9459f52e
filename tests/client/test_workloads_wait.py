"""``converged``, ``wait_for``, ``wait_converged`` and ``restart_container`` over HTTP, on a
server with OpenKruise and on one without (``ServeOptions(kruise=False)``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

import kitlib
from kitlib.client.errors import INSTALL_KRUISE
from kitlib.client.raw import get_json
from kitlib.client.refs import Progress, progress, resolve
from tests.conftest import ThreadedServer, module_server

server = module_server(nodes=3)


@pytest.fixture(scope="module")
def cluster(connected: kitlib.Cluster) -> kitlib.Cluster:
    return connected


def pods(cluster: kitlib.Cluster, app: str) -> list[dict[str, Any]]:
    return sorted(get_json(cluster.api_client, "/api/v1/namespaces/default/pods",
                           labelSelector=f"app={app}")["items"],
                  key=lambda p: p["metadata"]["name"])


def statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in pod["status"]["containerStatuses"]}


# -- wait_for --------------------------------------------------------------------------------

def test_wait_for_returns_the_cluster_seconds_waited(cluster: kitlib.Cluster) -> None:
    start = cluster.now()
    assert cluster.wait_for(lambda: True, timeout=10) == 0
    assert cluster.wait_for(lambda: cluster.now() >= start + 7, timeout=60, interval=2) == 8
    assert cluster.now() == start + 8


def test_wait_for_times_out_naming_what_it_waited_for(cluster: kitlib.Cluster) -> None:
    start = cluster.now()
    with pytest.raises(TimeoutError, match="timed out after 5 s waiting for the sky to fall; "
                       "last state: the condition was still false"):
        cluster.wait_for(lambda: False, timeout=5, interval=2, description="the sky to fall")
    assert cluster.now() == start + 5
    with pytest.raises(TimeoutError, match="waiting for never; last state: sky still up"):
        cluster.wait_for(never, timeout=1, state=lambda: "sky still up")


def never() -> bool:
    return False


def test_wait_converged_reports_progress_and_the_last_state_on_timeout(
        cluster: kitlib.Cluster) -> None:
    cluster.deploy_example("waited", replicas=4, ready_after_seconds=10)
    seen: list[Progress] = []
    waited = cluster.wait_converged("waited", timeout=300, on_progress=seen.append)
    assert 10 < waited < 60
    assert seen[0].ready < 4 and seen[-1].ready == 4
    assert all(a != b for a, b in itertools.pairwise(seen)), "only changes"

    cluster.rollout("waited", images={"app": "nginx:1.26"}, paused=True)
    with pytest.raises(TimeoutError, match=r"waiting for cloneset/waited to converge; last "
                       r"state: 0/4 updated, 4 ready, 4/4 available \(maxUnavailable 1\), "
                       r"4 pods, paused"):
        cluster.wait_converged("waited", timeout=20)


# -- converged -------------------------------------------------------------------------------

def test_converged_waits_for_terminating_pods_that_status_no_longer_counts(
        cluster: kitlib.Cluster) -> None:
    cluster.deploy_example("shrink", kind="Deployment", replicas=3, sim={"stop-seconds": 20})
    cluster.wait_converged("deploy/shrink", timeout=300)
    cluster.scale("deploy/shrink", 1)
    obj = get_json(cluster.api_client, resolve(cluster, "deploy/shrink").path)
    assert progress(obj).converged, "the status counts only the remaining pod"
    assert len([p for p in pods(cluster, "shrink") if p["metadata"].get("deletionTimestamp")]) == 2
    assert not cluster.converged("deploy/shrink")
    assert 15 < cluster.wait_converged("deploy/shrink", timeout=60) <= 25


def test_converged_needs_every_pod_on_the_update_revision(cluster: kitlib.Cluster) -> None:
    cluster.deploy_example("partial", replicas=3)
    cluster.wait_converged("partial", timeout=300)
    cluster.rollout("partial", images={"app": "nginx:1.26"}, partition=1)
    cluster.wait_converged("partial", timeout=300)
    assert cluster.converged("partial"), "partition 1 keeps one pod old by design"
    cluster.set_partition("partial", 0)
    assert not cluster.converged("partial")
    cluster.wait_converged("partial", timeout=300)
    assert cluster.converged("cloneset/partial")


# -- restart_container -----------------------------------------------------------------------

def test_restart_container_restarts_exactly_that_container(cluster: kitlib.Cluster) -> None:
    cluster.deploy_example("crr", replicas=2)
    cluster.wait_converged("crr", timeout=300)
    pod = pods(cluster, "crr")[0]
    name, before = pod["metadata"]["name"], statuses(pod)
    request = cluster.restart_container(name, "agent", wait=True, timeout=60)
    assert request["kind"] == "ContainerRecreateRequest"
    assert request["spec"]["podName"] == name
    assert request["status"]["phase"] == "Completed"
    assert [s["phase"] for s in request["status"]["containerRecreateStates"]] == ["Succeeded"]

    after_pod = next(p for p in pods(cluster, "crr") if p["metadata"]["name"] == name)
    after = statuses(after_pod)
    assert after_pod["metadata"]["uid"] == pod["metadata"]["uid"]
    assert after_pod["status"]["podIP"] == pod["status"]["podIP"]
    assert after["agent"]["restartCount"] == before["agent"]["restartCount"] + 1
    assert after["agent"]["containerID"] != before["agent"]["containerID"]
    assert (after["app"], after["mesh-proxy"]) == (before["app"], before["mesh-proxy"])


def test_restart_container_without_waiting_returns_the_request(cluster: kitlib.Cluster) -> None:
    cluster.deploy_example("crr-nowait", replicas=1)
    cluster.wait_converged("crr-nowait", timeout=300)
    name = pods(cluster, "crr-nowait")[0]["metadata"]["name"]
    dry = cluster.restart_container(name, ["app", "mesh-proxy"], dry_run=True)
    assert [c["name"] for c in dry["spec"]["containers"]] == ["app", "mesh-proxy"]
    listed = get_json(cluster.api_client,
                      "/apis/apps.kruise.io/v1alpha1/namespaces/default/containerrecreaterequests")
    assert not [c for c in listed["items"] if c["spec"]["podName"] == name], "dry run"
    request = cluster.restart_container(name, ["app", "mesh-proxy"])
    assert request["metadata"]["name"].startswith(f"{name}-")
    assert (request.get("status") or {}).get("phase") != "Completed"
    cluster.sleep(20)
    path = ("/apis/apps.kruise.io/v1alpha1/namespaces/default/containerrecreaterequests/"
            + request["metadata"]["name"])
    assert get_json(cluster.api_client, path)["status"]["phase"] == "Completed"
    after = statuses(pods(cluster, "crr-nowait")[0])
    assert {c: s["restartCount"] for c, s in after.items()} == {
        "agent": 0, "app": 1, "mesh-proxy": 1}
    with pytest.raises(kitlib.errors.Invalid, match=f"pod default/{name} has no container "
                       "'log'; its containers are app, agent, mesh-proxy"):
        cluster.restart_container(name, "log")


def test_a_read_only_handle_refuses_restart_container(server: ThreadedServer) -> None:
    with kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as reader, \
            pytest.raises(kitlib.WritesNotAllowedError, match="restart_container changes"):
        reader.restart_container("any", "app")


# -- a cluster without OpenKruise ------------------------------------------------------------

def test_without_kruise_restart_container_says_what_is_missing_and_the_fallback(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    plain = start_api_server(nodes=2, kruise=False)
    with kitlib.connect(kubeconfig=plain.kubeconfig) as cluster:
        manifests = kitlib.example_app("plain", kind="auto", cluster=cluster, replicas=2)
        assert [m["kind"] for m in manifests] == ["Deployment", "Service",
                                                  "PodDisruptionBudget"]
        assert manifests[0]["spec"]["strategy"] == {"type": "RollingUpdate"}
        cluster.deploy_example("plain", replicas=2)
        cluster.wait_converged("plain", timeout=300)
        pod = pods(cluster, "plain")[0]["metadata"]["name"]
        with pytest.raises(kitlib.MissingCapabilityError) as caught:
            cluster.restart_container(pod, "app")
    assert caught.value.feature == "ContainerRecreateRequest"
    message = str(caught.value)
    assert "OpenKruise is missing" in message and INSTALL_KRUISE in message
    assert f"delete the pod (cluster.evict('{pod}', 'default')" in message
