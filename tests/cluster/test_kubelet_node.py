"""The node half of the simulated kubelet: the Lease every 10 s, node status only when it
changed or every 5 minutes, images in the status, and node faults from annotations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster, KubeletSettings
from kitlib.cluster.nodes import make_node
from kitlib.store.watch import WatchEvent

LEASES = "leases.coordination.k8s.io"


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=3, kubelet=KubeletSettings(jitter=0.0)))
    c.store.create("nodes", make_node("n1", index=0))
    c.settle()
    yield c
    assert c.store.verify_integrity() == []


def lease(cluster: EmbeddedCluster) -> dict[str, Any]:
    return cluster.store.get(LEASES, "kube-node-lease", "n1")


def conditions(cluster: EmbeddedCluster) -> dict[str, dict[str, Any]]:
    node = cluster.store.get("nodes", "", "n1")
    return {c["type"]: c for c in node["status"]["conditions"]}


def annotate(cluster: EmbeddedCluster, **annotations: str | None) -> None:
    def change(node: dict[str, Any]) -> None:
        current = node["metadata"].setdefault("annotations", {})
        for key, value in annotations.items():
            name = "sim.kitlib.io/" + key.replace("_", "-")
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
    cluster.store.modify("nodes", "", "n1", change)
    cluster.settle()


def heartbeats(cluster: EmbeddedCluster) -> list[float]:
    """Simulated times at which the kubelet posted node status (Ready's heartbeat moved)."""
    seen: list[float] = []

    def on_node(event: WatchEvent) -> None:
        before = {c["type"]: c for c in (event.prev or {}).get("status", {}).get("conditions", [])}
        after = {c["type"]: c for c in event.obj.get("status", {}).get("conditions", [])}
        if after.get("Ready", {}).get("lastHeartbeatTime") != \
                before.get("Ready", {}).get("lastHeartbeatTime"):
            seen.append(cluster.now)
    cluster.store.subscribe("nodes", on_node)
    return seen


def test_a_new_node_gets_a_lease_owned_by_it_and_renewed_every_10_seconds(
        cluster: EmbeddedCluster) -> None:
    node = cluster.store.get("nodes", "", "n1")
    assert lease(cluster)["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": node["metadata"]["uid"]}]
    assert lease(cluster)["spec"] == {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                                      "renewTime": "2026-01-01T00:00:00.000000Z"}
    cluster.advance(25)
    assert lease(cluster)["spec"]["renewTime"] == "2026-01-01T00:00:20.000000Z"


def test_the_node_reports_healthy_conditions_with_upstreams_reasons(
        cluster: EmbeddedCluster) -> None:
    found = {t: (c["status"], c["reason"], c["message"]) for t, c in conditions(cluster).items()}
    assert found == {
        "MemoryPressure": ("False", "KubeletHasSufficientMemory",
                           "kubelet has sufficient memory available"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available"),
        "Ready": ("True", "KubeletReady", "kubelet is posting ready status")}
    events = {e["reason"]: e["message"] for e in cluster.store.select("events")
              if e["source"]["component"] == "kubelet"}
    assert events["NodeReady"] == "Node n1 status is now: NodeReady"


def test_node_status_is_posted_only_on_change_or_every_five_minutes(
        cluster: EmbeddedCluster) -> None:
    posts = heartbeats(cluster)
    cluster.advance(610)
    assert posts == [300.0, 600.0]
    assert conditions(cluster)["Ready"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert conditions(cluster)["Ready"]["lastHeartbeatTime"] == "2026-01-01T00:10:00Z"


def test_pulled_images_appear_in_the_node_status_at_the_next_update(
        cluster: EmbeddedCluster) -> None:
    posts = heartbeats(cluster)
    cluster.store.create("pods", {"metadata": {"name": "p"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "app", "image": "nginx:1.25"}]}})
    cluster.advance(15)
    assert posts == [10.0]
    [entry] = cluster.store.get("nodes", "", "n1")["status"]["images"]
    assert entry["names"][1] == "docker.io/library/nginx:1.25"
    assert entry["sizeBytes"] == 100_000_000


@pytest.mark.parametrize(("fault", "kind", "status", "reason", "event"), [
    ("memory_pressure", "MemoryPressure", "True", "KubeletHasInsufficientMemory",
     "NodeHasInsufficientMemory"),
    ("disk_pressure", "DiskPressure", "True", "KubeletHasDiskPressure", "NodeHasDiskPressure"),
    ("pid_pressure", "PIDPressure", "True", "KubeletHasInsufficientPID",
     "NodeHasInsufficientPID"),
    ("not_ready", "Ready", "False", "KubeletNotReady", "NodeNotReady"),
])
def test_condition_faults_are_posted_at_once_and_cleared_by_removing_them(
        cluster: EmbeddedCluster, fault: str, kind: str, status: str, reason: str,
        event: str) -> None:
    cluster.advance(3)
    annotate(cluster, **{fault: "true"})
    condition = conditions(cluster)[kind]
    assert (condition["status"], condition["reason"], condition["lastTransitionTime"]) == (
        status, reason, "2026-01-01T00:00:03Z")
    assert any(e["reason"] == event for e in cluster.store.select("events"))
    annotate(cluster, **{fault: None})
    assert conditions(cluster)[kind]["reason"].startswith("Kubelet")
    assert conditions(cluster)[kind]["status"] != status


def test_a_down_node_stops_renewing_its_lease_and_resumes_when_back(
        cluster: EmbeddedCluster) -> None:
    cluster.advance(12)
    annotate(cluster, down="true")
    posts = heartbeats(cluster)
    cluster.advance(30)
    assert lease(cluster)["spec"]["renewTime"] == "2026-01-01T00:00:10.000000Z"
    assert posts == []
    annotate(cluster, down=None)
    assert lease(cluster)["spec"]["renewTime"] == "2026-01-01T00:00:42.000000Z"
    assert posts == [42.0]
    cluster.advance(10)
    assert lease(cluster)["spec"]["renewTime"] == "2026-01-01T00:00:52.000000Z"


def test_a_node_created_down_never_reports_until_it_comes_up(cluster: EmbeddedCluster) -> None:
    node = make_node("n2", index=1)
    node["metadata"]["annotations"]["sim.kitlib.io/down"] = "true"
    cluster.store.create("nodes", node)
    cluster.advance(30)
    assert cluster.store.peek(LEASES, "kube-node-lease", "n2") is None
    assert "conditions" not in cluster.store.get("nodes", "", "n2")["status"]


def test_a_deleted_node_leaves_no_heartbeat_behind(cluster: EmbeddedCluster) -> None:
    cluster.store.delete("nodes", "", "n1")
    cluster.advance(30)
    assert cluster.store.peek(LEASES, "kube-node-lease", "n1") is None
    assert "n1" not in cluster.kubelets.agents
