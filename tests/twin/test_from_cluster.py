"""``from_cluster``: a twin of a running cluster (``kitlib serve`` playing the real one).

The source is read through a read-only handle; the twin must carry its nodes (labels,
taints, capacity), the workloads, budgets and Services of the copied namespace, the image
sizes the nodes report and the readiness delay the pods showed — and rehearsing on the
twin must not touch the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

import kitlib
import kitlib.twin
from kitlib.client.ops import MERGE, request_json
from kitlib.client.raw import get_json
from kitlib.twin import Twin

if TYPE_CHECKING:
    from conftest import ThreadedServer

SOURCE = """
apiVersion: sim.kitlib.io/v1alpha1
kind: Image
metadata: {name: nginx}
spec: {image: "nginx:1.25", sizeBytes: 150000000}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      # the source's pods become ready 20 s after starting (a container-specific knob, so
      # the twin's generic one can only come from measuring the pods)
      annotations: {sim.kitlib.io/app.ready-after-seconds: "20"}
    spec:
      containers:
      - name: app
        image: "nginx:1.25"
        resources: {requests: {cpu: 250m}}
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 5}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: ops}
spec:
  nodeName: node-2
  containers:
  - {name: agent, image: "busybox:1.36", resources: {requests: {cpu: 500m, memory: 1Gi}}}
"""


def create(handle: kitlib.Cluster, path: str, body: dict[str, Any]) -> None:
    request_json(handle.api_client, "POST", path, body=body)


@pytest.fixture
def source(start_api_server: Callable[..., ThreadedServer]) -> Iterator[kitlib.Cluster]:
    """The "real" cluster, prepared with a writable handle, handed out read-only."""
    server = start_api_server(nodes=3, seed=5)
    with kitlib.connect(kubeconfig=server.kubeconfig) as admin:
        for namespace in ("shop", "ops"):
            create(admin, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": namespace}})
        request_json(admin.api_client, "PATCH", "/api/v1/nodes/node-1", content_type=MERGE,
                     body={"metadata": {"labels": {"tier": "gold"}},
                           "spec": {"taints": [{"key": "gpu", "value": "yes",
                                                "effect": "NoSchedule"}]}})
        admin.apply(SOURCE)
        admin.sleep(90)
    with kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as real:
        yield real


def items(handle: kitlib.Cluster, path: str) -> list[dict[str, Any]]:
    return list(get_json(handle.api_client, path)["items"])


def test_a_twin_carries_the_cluster_and_rehearsing_on_it_leaves_the_cluster_alone(
        source: kitlib.Cluster) -> None:
    before = {p["metadata"]["uid"]: p["spec"]["nodeName"]
              for p in items(source, "/api/v1/namespaces/shop/pods")}
    clock = source.now()
    with kitlib.twin.from_cluster(source, namespaces=("shop",), seed=2) as twin:
        assert_nodes_carried(source, twin)
        assert_objects_carried(twin)
        assert_behaviour_carried(twin)
        assert twin.notes == ["The allocatable of node-2 is lowered by the requests of 1 pod "
                              "the twin does not run."]

        node = twin.nodes_hosting({"app": "web"})[0]
        prediction = twin.rehearse_drain(node, fresh=False)
        assert prediction.converged and prediction.pods_rescheduled >= 1
        assert prediction.peak_unavailable == {"shop/deployment/web": 1}
    assert {p["metadata"]["uid"]: p["spec"]["nodeName"]
            for p in items(source, "/api/v1/namespaces/shop/pods")} == before
    assert all("unschedulable" not in n["spec"] for n in items(source, "/api/v1/nodes"))
    assert source.now() == clock


def assert_nodes_carried(source: kitlib.Cluster, twin: Twin) -> None:
    real = {n["metadata"]["name"]: n for n in items(source, "/api/v1/nodes")}
    copy = {n["metadata"]["name"]: n for n in items(twin.cluster, "/api/v1/nodes")}
    assert sorted(copy) == sorted(real) == ["node-0", "node-1", "node-2"]
    for name, node in copy.items():
        assert node["metadata"]["labels"] == real[name]["metadata"]["labels"]
        assert node["status"]["capacity"] == real[name]["status"]["capacity"]
        assert node["spec"].get("taints") == real[name]["spec"].get("taints")
    assert copy["node-1"]["metadata"]["labels"]["tier"] == "gold"
    assert copy["node-1"]["spec"]["taints"] == [{"key": "gpu", "value": "yes",
                                                 "effect": "NoSchedule"}]
    # the agent pod the twin does not run keeps its room on node-2
    assert copy["node-2"]["status"]["allocatable"]["cpu"] == "7500m"
    assert copy["node-0"]["status"]["allocatable"] == real["node-0"]["status"]["allocatable"]


def assert_objects_carried(twin: Twin) -> None:
    web = get_json(twin.cluster.api_client, "/apis/apps/v1/namespaces/shop/deployments/web")
    assert web["spec"]["replicas"] == 4 and web["status"]["availableReplicas"] == 4
    assert "kubectl.kubernetes.io/last-applied-configuration" not in web["metadata"].get(
        "annotations", {})
    pdb = get_json(twin.cluster.api_client,
                   "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web")
    assert pdb["spec"]["maxUnavailable"] == 1 and pdb["status"]["disruptionsAllowed"] == 1
    service = get_json(twin.cluster.api_client, "/api/v1/namespaces/shop/services/web")
    assert service["spec"]["ports"][0]["port"] == 80
    assert items(twin.cluster, "/api/v1/namespaces/ops/pods") == []
    assert sorted(o["kind"] for o in twin.objects if o["kind"] not in ("Node", "Image")) == [
        "Deployment", "Namespace", "PodDisruptionBudget", "Service"]


def assert_behaviour_carried(twin: Twin) -> None:
    images = {o["spec"]["image"]: o["spec"]["sizeBytes"] for o in twin.objects
              if o["kind"] == "Image"}
    assert images["docker.io/library/nginx:1.25"] == 150_000_000
    web = next(o for o in twin.objects if o["kind"] == "Deployment")
    delay = float(web["spec"]["template"]["metadata"]["annotations"][
        "sim.kitlib.io/ready-after-seconds"])
    assert 19 <= delay <= 21
    # the twin's nodes hold the images the real ones held: no pull on a first start there
    node = get_json(twin.cluster.api_client, "/api/v1/nodes/node-0")
    assert any("docker.io/library/nginx:1.25" in i["names"] for i in node["status"]["images"])
