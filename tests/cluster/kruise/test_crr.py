"""ContainerRecreateRequest on an embedded cluster: the webhook, the manager and
kruise-daemon restart the named containers in place through the simulated kubelet
(upstream ``test/e2e/apps/containerrecreaterequest.go``,
``pkg/daemon/containerrecreate/crr_daemon_controller.go``,
``pkg/controller/containerrecreaterequest``; openkruise.md §4.2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.model import errors
from tests.cluster.timeline import Timeline, bound_pod, kubelet_cluster

CRRS = "containerrecreaterequests.apps.kruise.io"


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = kubelet_cluster()
    yield c
    assert list(c.container_recreates.manager.runner.errors) == []
    assert list(c.container_recreates.daemon.runner.errors) == []
    assert c.store.verify_integrity() == []


def three_containers(cluster: EmbeddedCluster, **spec: Any) -> Timeline:
    """web on n1: app, log and mesh started at 2, 4 and 6 s; time is 30 s."""
    timeline = Timeline(cluster, "web")
    cluster.create(bound_pod("web", [{"name": "app", "image": "shop:v1"},
                                     {"name": "log", "image": "fluentd:1"},
                                     {"name": "mesh", "image": "envoy:1"}], **spec))
    cluster.advance(30)
    return timeline


def crr(containers: list[str], name: str = "restart", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "ContainerRecreateRequest",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"podName": "web", "containers": [{"name": c} for c in containers],
                     **spec}}


def get(cluster: EmbeddedCluster, name: str = "restart") -> dict[str, Any]:
    return dict(cluster.store.get(CRRS, "default", name))


def statuses(cluster: EmbeddedCluster) -> dict[str, dict[str, Any]]:
    pod = cluster.store.get("pods", "default", "web")
    return {s["name"]: s for s in pod["status"]["containerStatuses"]}


def test_the_webhook_labels_and_fills_in_the_pod(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    pod = cluster.store.get("pods", "default", "web")
    created = cluster.store.create(CRRS, crr(["log"]))
    assert created["metadata"]["labels"] == {
        "crr.apps.kruise.io/active": "true", "crr.apps.kruise.io/node-name": "n1",
        "crr.apps.kruise.io/pod-uid": pod["metadata"]["uid"]}
    assert created["spec"]["strategy"] == {"failurePolicy": "Fail",
                                           "terminationGracePeriodSeconds": 30}
    assert created["spec"]["containers"] == [{"name": "log", "statusContext": {
        "containerID": statuses(cluster)["log"]["containerID"], "restartCount": 0}}]


@pytest.mark.parametrize(("spec", "message"), [
    ({"containers": [{"name": "nope"}]}, "container nope not found in Pod"),
    ({"containers": []}, "containers list can not be null"),
    ({"podName": "ghost"}, "no found Pod named ghost"),
    ({"activeDeadlineSeconds": 2}, "activeDeadlineSeconds can not be less than 3s"),
    ({"strategy": {"failurePolicy": "Maybe"}}, "unknown failurePolicy Maybe"),
])
def test_the_webhook_rejects(cluster: EmbeddedCluster, spec: dict[str, Any],
                             message: str) -> None:
    three_containers(cluster)
    body = crr(["log"])
    body["spec"].update(spec)
    with pytest.raises(errors.BadRequest, match=message):
        cluster.store.create(CRRS, body)


def test_a_pending_pod_cannot_be_recreated(cluster: EmbeddedCluster) -> None:
    cluster.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"containers": [{"name": "app", "image": "shop:v1"}],
                             "nodeSelector": {"pool": "none"}}})
    with pytest.raises(errors.BadRequest, match="in a pending Pod"):
        cluster.store.create(CRRS, crr(["app"]))


def test_the_spec_is_immutable(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    cluster.create(crr(["log"]))
    with pytest.raises(errors.Forbidden, match="spec of ContainerRecreateRequest is immutable"):
        cluster.store.modify(CRRS, "default", "restart",
                             lambda d: d["spec"].__setitem__("activeDeadlineSeconds", 60))


def test_only_the_named_container_restarts_in_the_same_pod(cluster: EmbeddedCluster) -> None:
    """Given web running 3 containers, when a CRR for log is created at 30 s: log is killed
    at 30 (stops in 1 s), restarted (image present) and running at 32 with restartCount 1;
    the CRR is Completed at 32; app and mesh, name, UID, node and IP untouched."""
    timeline = three_containers(cluster)
    before, pod_before = statuses(cluster), cluster.store.get("pods", "default", "web")
    cluster.create(crr(["log"]))
    assert get(cluster)["status"]["phase"] == "Recreating"
    cluster.advance(5)
    after, pod_after = statuses(cluster), cluster.store.get("pods", "default", "web")
    assert (after["app"], after["mesh"]) == (before["app"], before["mesh"])
    assert after["log"]["restartCount"] == 1
    assert after["log"]["state"] == {"running": {"startedAt": "2026-01-01T00:00:32Z"}}
    assert after["log"]["lastState"]["terminated"]["containerID"] == before["log"]["containerID"]
    assert [(pod_after["metadata"][k], pod_after["status"]["podIP"]) for k in ("uid", "name")] \
        == [(pod_before["metadata"][k], pod_before["status"]["podIP"]) for k in ("uid", "name")]
    assert (30, "Killing", "Stopping container log by ContainerRecreateRequest restart") in \
        timeline.events
    done = get(cluster)
    assert done["status"] == {
        "phase": "Completed", "completionTime": "2026-01-01T00:00:32Z", "message": "",
        "containerRecreateStates": [{"name": "log", "phase": "Succeeded", "isKilled": True}]}
    assert "crr.apps.kruise.io/active" not in done["metadata"]["labels"]


def test_ordered_recreate_kills_the_next_container_once_the_previous_one_is_back(
        cluster: EmbeddedCluster) -> None:
    timeline = three_containers(cluster)
    cluster.create(crr(["log", "mesh"], strategy={"orderedRecreate": True}))
    cluster.advance(10)
    kills = [(t, m) for t, r, m in timeline.events if r == "Killing"]
    assert kills == [(30, "Stopping container log by ContainerRecreateRequest restart"),
                     (32, "Stopping container mesh by ContainerRecreateRequest restart")]
    assert get(cluster)["status"]["completionTime"] == "2026-01-01T00:00:34Z"


def test_unordered_recreate_kills_one_container_per_pass_at_once(
        cluster: EmbeddedCluster) -> None:
    timeline = three_containers(cluster)
    cluster.create(crr(["log", "mesh"]))
    cluster.advance(10)
    assert [t for t, r, _ in timeline.events if r == "Killing"] == [30, 30]
    assert [s["restartCount"] for s in statuses(cluster).values()] == [0, 1, 1]


def test_min_started_seconds_delays_success(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    cluster.create(crr(["log"], strategy={"minStartedSeconds": 10}))
    cluster.advance(11)
    assert get(cluster)["status"]["phase"] == "Recreating"
    cluster.advance(10)
    assert get(cluster)["status"]["phase"] == "Completed"


def test_unready_grace_marks_the_pod_not_ready_before_the_kill(
        cluster: EmbeddedCluster) -> None:
    """A pod with the KruisePodReady gate goes not ready at 30 s; the kill waits the 5 s of
    unreadyGracePeriodSeconds (+0.1 s, upstream's requeue margin); the container is back at
    37.1 s and so is readiness, given back when the CRR completes."""
    timeline = three_containers(cluster, readinessGates=[{"conditionType": "KruisePodReady"}])
    cluster.store.modify("pods", "default", "web", lambda p: p["status"]["conditions"].append(
        {"type": "KruisePodReady", "status": "True"}), subresource="status")
    cluster.settle()
    cluster.create(crr(["log"], strategy={"unreadyGracePeriodSeconds": 5}))
    cluster.advance(10)
    assert [t for t, r, _ in timeline.events if r == "Killing"] == [pytest.approx(35.1)]
    assert [(round(t, 3), v) for t, v in timeline.ready()[-3:]] == [
        (30, "True"), (30, "False"), (37.1, "True")]
    assert get(cluster)["metadata"].get("finalizers") in (None, [])
    pod = cluster.store.get("pods", "default", "web")
    gate = next(c for c in pod["status"]["conditions"] if c["type"] == "KruisePodReady")
    assert (gate["status"], gate["message"]) == ("True", "")


def test_ttl_deletes_a_completed_request(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    cluster.create(crr(["log"], ttlSecondsAfterFinished=10))
    cluster.advance(11.5)
    assert cluster.store.peek(CRRS, "default", "restart") is not None
    cluster.advance(1)
    assert cluster.store.peek(CRRS, "default", "restart") is None


def test_a_deleted_pod_completes_the_request(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    cluster.store.modify("nodes", "", "n1", lambda n: n["metadata"].setdefault(
        "annotations", {}).__setitem__("sim.kitlib.io/down", "true"))
    cluster.create(crr(["log"]))
    cluster.store.delete("pods", "default", "web")
    cluster.settle()
    status = get(cluster)["status"]
    assert (status["phase"], status["message"]) == ("Completed", "pod has gone")


def test_the_active_deadline_completes_a_request_stuck_on_a_down_node(
        cluster: EmbeddedCluster) -> None:
    three_containers(cluster)
    cluster.store.modify("nodes", "", "n1", lambda n: n["metadata"].setdefault(
        "annotations", {}).__setitem__("sim.kitlib.io/down", "true"))
    cluster.create(crr(["log"], activeDeadlineSeconds=20))
    cluster.advance(19)
    assert "phase" not in (get(cluster).get("status") or {})
    cluster.advance(1)
    status = get(cluster)["status"]
    assert (status["phase"], status["completionTime"], status["message"]) == (
        "Completed", "2026-01-01T00:00:50Z", "recreating has exceeded the activeDeadlineSeconds")


def test_a_request_on_a_down_node_runs_when_the_node_is_back(cluster: EmbeddedCluster) -> None:
    three_containers(cluster)

    def down(flag: bool) -> None:
        def change(n: dict[str, Any]) -> None:
            notes = n["metadata"].setdefault("annotations", {})
            if flag:
                notes["sim.kitlib.io/down"] = "true"
            else:
                notes.pop("sim.kitlib.io/down", None)
        cluster.store.modify("nodes", "", "n1", change)
        cluster.settle()
    down(True)
    cluster.create(crr(["log"]))
    cluster.advance(10)
    assert "phase" not in (get(cluster).get("status") or {})
    down(False)
    cluster.advance(10)
    status = get(cluster)["status"]
    assert (status["phase"], status["containerRecreateStates"][0]["phase"]) == (
        "Completed", "Succeeded")
