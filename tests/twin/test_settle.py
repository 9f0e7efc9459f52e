"""Building a twin waits for its workloads, and says plainly what keeps one from converging."""

from __future__ import annotations

import pytest

import kitlib.twin
from kitlib.twin import TwinNotSettledError

TOO_BIG = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  replicas: 1
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers: [{name: app, image: "nginx:1.25", resources: {requests: {cpu: "100"}}}]
"""


def test_a_workload_that_cannot_run_fails_the_build_with_the_schedulers_reason() -> None:
    with pytest.raises(TwinNotSettledError) as caught:
        kitlib.twin.from_manifests(TOO_BIG, nodes=1, settle_timeout=20)
    message = str(caught.value)
    assert message.startswith("the twin did not settle within 20 s of cluster time: "
                              "deployment/big has 0 of 1 pods available")
    assert "is Pending: 0/1 nodes are available: 1 Insufficient cpu." in message


def test_a_pod_without_a_controller_blocks_a_drain_as_kubectl_would() -> None:
    lonely = ('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely"}, '
              '"spec": {"nodeName": "node-0", "containers": [{"name": "a", "image": "x:1"}]}}')
    with kitlib.twin.from_manifests(lonely + "\n", nodes=1) as twin:
        prediction = twin.rehearse_drain("node-0", fresh=False)
    assert str(prediction).startswith(
        "Draining node-0 blocks: pod lonely cannot be evicted: cannot delete Pods that declare "
        "no controller (use --force to override).")
    assert prediction.notes == ("kubectl drain refuses before evicting anything.",)
