"""``explain`` on nodes (and on pods whose node fails), on a real ``kitlib serve``.

A cluster of its own (node faults would disturb the other explain tests): two nodes, a
Deployment of four pods under a PDB that allows no disruption.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import kitlib
from kitlib.client.explain import explain
from kitlib.client.ops import MERGE, request_json
from kitlib.client.raw import get_json
from tests.conftest import ThreadedServer

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 4
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: app, image: "example.com/api:v1"}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: api}
spec: {maxUnavailable: 0, selector: {matchLabels: {app: api}}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kitlib.Cluster]:
    server = ThreadedServer(tmp_path_factory.mktemp("explain-nodes"), nodes=2).start()
    try:
        with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
            handle.apply(APP)
            handle.sleep(20)
            yield handle
    finally:
        server.stop()


def pods_on(cluster: kitlib.Cluster, node: str) -> list[dict[str, Any]]:
    return [p for p in get_json(cluster.api_client, "/api/v1/namespaces/default/pods")["items"]
            if p["spec"].get("nodeName") == node]


def annotate(cluster: kitlib.Cluster, node: str, key: str, value: str | None) -> None:
    request_json(cluster.api_client, "PATCH", f"/api/v1/nodes/{node}",
                 body={"metadata": {"annotations": {key: value}}}, content_type=MERGE)


def test_a_drain_would_wait_on_a_budget_that_allows_nothing(cluster: kitlib.Cluster) -> None:
    result = explain(cluster, "node/node-0")
    print(result)
    names = sorted(p["metadata"]["name"] for p in pods_on(cluster, "node-0"))
    pods = f"pod {names[0]}" if len(names) == 1 else f"{len(names)} pods ({', '.join(names)})"
    assert result.codes == ["eviction-refused"] and result.severity == "info"
    assert result.findings[0].message == (f"draining node-0 would wait: eviction of {pods} "
                                          "refused: PDB api allows 0 disruptions (needs 4 "
                                          "healthy, has 4)")
    assert result.facts["pods"] == len(pods_on(cluster, "node-0"))


def test_a_cordoned_node_takes_no_new_pods(cluster: kitlib.Cluster) -> None:
    cluster.cordon("node-1")
    try:
        result = explain(cluster, "node/node-1")
        print(result)
        found = result.finding("cordoned")
        assert found is not None and found.message == (
            "node node-1 is cordoned (spec.unschedulable): no new pod is scheduled there; "
            "running pods stay")
        assert result.facts["unschedulable"] is True
    finally:
        cluster.uncordon("node-1")


def test_a_node_that_went_down_is_not_ready_and_so_are_its_pods(
        cluster: kitlib.Cluster) -> None:
    annotate(cluster, "node-1", "sim.kitlib.io/down", "true")
    try:
        cluster.sleep(60)
        result = explain(cluster, "node/node-1")
        print(result)
        assert result.codes[0] == "node-not-ready" and result.severity == "error"
        assert result.findings[0].message.startswith(
            "node node-1 is Unknown (NodeStatusUnknown: Kubelet stopped posting node status.)")
        assert any(f.code == "taint" and "NoExecute" in f.message for f in result.findings)
        pod = pods_on(cluster, "node-1")[0]["metadata"]["name"]
        on_pod = explain(cluster, f"pod/{pod}")
        print(on_pod)
        assert on_pod.codes[0] == "node-not-ready"
        assert on_pod.findings[0].message.startswith(f"pod {pod} runs on node-1, which is "
                                                     "Unknown (NodeStatusUnknown")
        doomed = pods_on(cluster, "node-1")[1]["metadata"]["name"]
        request_json(cluster.api_client, "DELETE", f"/api/v1/namespaces/default/pods/{doomed}")
        cluster.sleep(5)
        stuck = explain(cluster, f"pod/{doomed}")
        print(stuck)
        assert stuck.codes[0] == "terminating" and stuck.severity == "blocked"
        assert stuck.findings[0].message.startswith(
            f"pod {doomed} is Terminating on node-1, which is Unknown (NodeStatusUnknown: "
            "Kubelet stopped posting node status.): it stays until the node's kubelet comes "
            "back to confirm the deletion")
    finally:
        annotate(cluster, "node-1", "sim.kitlib.io/down", None)
        cluster.sleep(30)
    healthy = explain(cluster, "node/node-1")
    assert "node-not-ready" not in healthy.codes
