"""Real kubectl drives Deployments and StatefulSets on the embedded API server.

``rollout status`` returns when the rollout is done, ``rollout history`` lists the
revisions, ``rollout undo`` (client-side: it reads ReplicaSets or ControllerRevisions and
patches the template back) restores the previous template, ``scale`` resizes. The server runs
in paced mode (50× wall clock), once with the workload tests' stand-in kubelet (pods Ready 5 s
after creation: only the workload controllers are involved) and once with 3 real nodes
(scheduler and simulated kubelets included).

Skipped when the versioned kubectl binaries (beside ``/usr/bin/kubectl``) are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.workload_kubelet import FakeKubelet
from tests.conftest import ThreadedServer

pytestmark = pytest.mark.kubectl

_KUBECTL = shutil.which("kubectl")
KUBECTL_DIR = Path(os.path.realpath(_KUBECTL)).parent if _KUBECTL else Path("/usr/bin")
VERSIONS = ("1.27", "1.33")

Kubectl = Callable[..., str]


@pytest.fixture(params=[(v, nodes) for v in VERSIONS for nodes in (0, 3)],
                ids=[f"kubectl{v}-{'3-nodes' if n else 'stand-in-kubelet'}"
                     for v in VERSIONS for n in (0, 3)])
def kubectl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kubectl]:
    version, nodes = request.param
    binary = KUBECTL_DIR / f"kubectl.{version}"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed")
    server = ThreadedServer(tmp_path, mode="paced", speed=50.0, nodes=nodes)
    if not nodes:
        FakeKubelet(server.server.cluster, ready_after=5, node="node-1", terminate_after=2)
    server.start()

    def run(*args: str) -> str:
        proc = subprocess.run([str(binary), "--kubeconfig", str(server.kubeconfig),
                               "--cache-dir", str(tmp_path / "cache"), *args],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
        return proc.stdout

    try:
        yield run
    finally:
        server.stop()
    assert list(server.server.cluster.deployments.runner.errors) == []
    assert list(server.server.cluster.statefulsets.runner.errors) == []


def test_deployment_rollout_status_history_undo_and_scale(kubectl: Kubectl) -> None:
    assert "created" in kubectl("create", "deployment", "web", "--image=nginx:1.25",
                                "--replicas=3")
    assert 'deployment "web" successfully rolled out' in kubectl(
        "rollout", "status", "deployment/web", "--timeout=50s")
    kubectl("set", "image", "deployment/web", "nginx=nginx:1.26")
    kubectl("annotate", "deployment/web", "kubernetes.io/change-cause=nginx 1.26")
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web",
                                                "--timeout=50s")
    history = kubectl("rollout", "history", "deployment/web")
    assert [line.split(None, 1) for line in history.splitlines()[2:4]] == [
        ["1", "<none>"], ["2", "nginx 1.26"]]
    assert "rolled back" in kubectl("rollout", "undo", "deployment/web")
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web",
                                                "--timeout=50s")
    image_and_revision = kubectl(
        "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} "
        "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}")
    assert image_and_revision == "nginx:1.25 3"
    assert "scaled" in kubectl("scale", "deployment/web", "--replicas=5")
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web",
                                                "--timeout=50s")
    ready = kubectl("get", "deployment", "web", "-o",
                    "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}")
    assert ready == "5/5"
    replica_sets = kubectl("get", "rs", "-o", "jsonpath={.items[*].spec.replicas}")
    assert sorted(replica_sets.split()) == ["0", "5"]


def test_statefulset_rollout_status_history_and_undo(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "db.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 3\n"
        "  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n"
        "    metadata: {labels: {app: db}}\n"
        "    spec: {containers: [{name: db, image: 'pg:15'}]}\n")
    kubectl("apply", "-f", str(manifest))
    assert "partitioned roll out complete: 3 new pods have been updated" in kubectl(
        "rollout", "status", "sts/db", "--timeout=50s")
    kubectl("set", "image", "sts/db", "db=pg:16")
    kubectl("rollout", "status", "sts/db", "--timeout=50s")
    assert kubectl("get", "pods", "-o", "jsonpath={.items[*].spec.containers[0].image}") == \
        "pg:16 pg:16 pg:16"
    assert [line.split()[0] for line in
            kubectl("rollout", "history", "sts/db").splitlines()[2:4]] == ["1", "2"]
    assert "rolled back" in kubectl("rollout", "undo", "sts/db")
    kubectl("rollout", "status", "sts/db", "--timeout=50s")
    assert kubectl("get", "pods", "-o", "jsonpath={.items[*].spec.containers[0].image}") == \
        "pg:15 pg:15 pg:15"
