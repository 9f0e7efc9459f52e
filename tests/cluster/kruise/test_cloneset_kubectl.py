"""kubectl and the official Python client drive a CloneSet on ``kitlib serve --nodes 3``.

Apply a 3-container CloneSet, read the printer columns, change one image with a merge patch
(a strategic merge patch is 415 for custom resources, as upstream), watch the pods restart in
place (RESTARTS goes up, the names stay), scale through the scale subresource. Upstream:
``test/e2e/apps/cloneset.go`` ("in-place update images with the same imageID" / scale cases).

Skipped when the versioned kubectl binaries (beside ``/usr/bin/kubectl``) are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.cluster.kruise.cloneset_world import CONTAINERS
from tests.conftest import ThreadedServer

pytestmark = pytest.mark.kubectl

_KUBECTL = shutil.which("kubectl")
KUBECTL_DIR = Path(os.path.realpath(_KUBECTL)).parent if _KUBECTL else Path("/usr/bin")
MANIFEST = {
    "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
    "metadata": {"name": "shop", "namespace": "default"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "shop"}},
             "template": {"metadata": {"labels": {"app": "shop"}},
                          "spec": {"containers": CONTAINERS}},
             "updateStrategy": {"type": "InPlaceIfPossible"}}}

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    s = ThreadedServer(tmp_path, nodes=3).start()
    yield s
    s.stop()
    assert list(s.server.cluster.clonesets.runner.errors) == []


@pytest.fixture
def kubectl(server: ThreadedServer, tmp_path: Path) -> Run:
    binary = KUBECTL_DIR / "kubectl.1.33"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed")

    def run(*args: str, rc: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(binary), "--kubeconfig", str(server.kubeconfig),
                               "--cache-dir", str(tmp_path / "cache"), *args],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == rc, f"kubectl {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
        return proc
    return run


def advance(kubectl: Run, tmp_path: Path, seconds: int) -> None:
    path = tmp_path / "advance.json"
    path.write_text(json.dumps({"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "ClockAdvance",
                                "metadata": {"generateName": "a-"},
                                "spec": {"seconds": seconds}}))
    kubectl("create", "-f", str(path))


def pod_rows(kubectl: Run) -> dict[str, list[str]]:
    columns = ("NAME:.metadata.name,UID:.metadata.uid,IP:.status.podIP,NODE:.spec.nodeName,"
               "RESTARTS:.status.containerStatuses[*].restartCount")
    out = kubectl("get", "pods", "-o", f"custom-columns={columns}").stdout
    return {n: r for n, r in rows(out).items() if n != "NAME"}


def rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}


def test_kubectl_applies_patches_watches_and_scales_a_cloneset(
        kubectl: Run, server: ThreadedServer, tmp_path: Path) -> None:
    path = tmp_path / "cloneset.json"
    path.write_text(json.dumps(MANIFEST))
    assert kubectl("apply", "-f", str(path)).stdout == "cloneset.apps.kruise.io/shop created\n"
    advance(kubectl, tmp_path, 30)
    table = rows(kubectl("get", "clone").stdout)
    assert table["NAME"] == ["NAME", "DESIRED", "UPDATED", "UPDATED_READY", "READY", "TOTAL",
                             "AGE"]
    assert table["shop"][1:6] == ["3", "3", "3", "3", "3"]
    before = pod_rows(kubectl)
    watch = subprocess.Popen(
        [str(KUBECTL_DIR / "kubectl.1.33"), "--kubeconfig", str(server.kubeconfig),
         "get", "pods", "-w", "--no-headers"], stdout=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)
    patch = {"spec": {"template": {"spec": {"containers": [
        *CONTAINERS[:2], {"name": "mesh", "image": "envoy:2"}]}}}}
    strategic = kubectl("patch", "clone", "shop", "-p", json.dumps(patch), rc=1)
    assert "application/strategic-merge-patch+json is not supported" in strategic.stderr
    kubectl("patch", "clone", "shop", "--type", "merge", "-p", json.dumps(patch))
    advance(kubectl, tmp_path, 30)
    after = pod_rows(kubectl)
    watch.terminate()
    watched, _ = watch.communicate(timeout=10)
    assert after.keys() == before.keys()
    for name, row in after.items():
        assert row[1:4] == before[name][1:4]   # same UID, IP and node
        assert before[name][4] == "0,0,0"
        assert row[4] == "0,1,0"               # restartCount of app, mesh, ops
    assert {line.split()[0] for line in watched.splitlines()} == set(before)
    assert any(line.split()[3] == "1" for line in watched.splitlines())
    table = rows(kubectl("get", "clone").stdout)
    assert table["shop"][1:6] == ["3", "3", "3", "3", "3"]
    assert kubectl("scale", "clone", "shop", "--replicas=5").stdout == \
        "cloneset.apps.kruise.io/shop scaled\n"
    advance(kubectl, tmp_path, 30)
    assert rows(kubectl("get", "clone").stdout)["shop"][1:6] == ["5", "5", "5", "5", "5"]


def test_the_official_python_client_reads_and_patches_a_cloneset(
        server: ThreadedServer) -> None:
    api = k8s.CustomObjectsApi(server.api_client())
    api.create_namespaced_custom_object("apps.kruise.io", "v1alpha1", "default", "clonesets",
                                        MANIFEST)
    server.call(server.server.cluster.advance, 30)
    cs = api.get_namespaced_custom_object("apps.kruise.io", "v1alpha1", "default",
                                          "clonesets", "shop")
    assert cs["status"]["updatedReadyReplicas"] == 3
    api.patch_namespaced_custom_object("apps.kruise.io", "v1alpha1", "default", "clonesets",
                                       "shop", {"spec": {"replicas": 4}})
    server.call(server.server.cluster.advance, 30)
    scale = api.get_namespaced_custom_object_scale("apps.kruise.io", "v1alpha1", "default",
                                                   "clonesets", "shop")
    assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (4, 4)
    assert scale["status"]["selector"] == "app=shop"
