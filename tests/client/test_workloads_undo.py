"""``undo`` (``kubectl rollout undo`` semantics) and ``scale`` over HTTP against ``kitlib serve``."""

from __future__ import annotations

from typing import Any

import pytest

import kitlib
from kitlib.client.raw import get_json
from kitlib.client.refs import resolve
from tests.conftest import module_server

server = module_server(nodes=3)


@pytest.fixture(scope="module")
def cluster(connected: kitlib.Cluster) -> kitlib.Cluster:
    return connected


def app_images(cluster: kitlib.Cluster, app: str) -> list[str]:
    items = get_json(cluster.api_client, "/api/v1/namespaces/default/pods",
                     labelSelector=f"app={app}")["items"]
    return sorted(next(c["image"] for c in p["spec"]["containers"] if c["name"] == "app")
                  for p in items if not p["metadata"].get("deletionTimestamp"))


def live(cluster: kitlib.Cluster, workload: str) -> dict[str, Any]:
    return get_json(cluster.api_client, resolve(cluster, workload).path)


def roll_twice(cluster: kitlib.Cluster, workload: str) -> None:
    """Revisions 1 (nginx:1.25), 2 (nginx:1.26) and 3 (nginx:1.27), converged on 3."""
    for image in ("nginx:1.26", "nginx:1.27"):
        cluster.rollout(workload, images={"app": image})
        cluster.wait_converged(workload, timeout=300)


@pytest.mark.parametrize(("name", "kind"), [("undo-d", "Deployment"), ("undo-c", "CloneSet")])
def test_undo_brings_the_previous_image_back(cluster: kitlib.Cluster, name: str,
                                             kind: str) -> None:
    cluster.deploy_example(name, kind=kind, replicas=3)
    cluster.wait_converged(name, timeout=300)
    roll_twice(cluster, name)
    assert app_images(cluster, name) == ["nginx:1.27"] * 3

    result = cluster.undo(name)
    assert result.changed
    assert result.patch[0]["op"] == "add" and result.patch[0]["path"] == "/spec/template"
    assert "pod-template-hash" not in result.patch[0]["value"]["metadata"]["labels"]
    cluster.wait_converged(name, timeout=300)
    assert app_images(cluster, name) == ["nginx:1.26"] * 3

    cluster.undo(name, to_revision=1)
    cluster.wait_converged(name, timeout=300)
    assert app_images(cluster, name) == ["nginx:1.25"] * 3


def statefulset(name: str, api_version: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 2, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "app", "image": "nginx:1.25"}]}}}}


@pytest.mark.parametrize(("workload", "api_version"), [
    ("sts/undo-s", "apps/v1"), ("asts/undo-a", "apps.kruise.io/v1beta1")])
def test_undo_and_scale_of_statefulsets_use_their_controller_revisions(
        cluster: kitlib.Cluster, workload: str, api_version: str) -> None:
    name = workload.split("/")[1]
    cluster.apply(statefulset(name, api_version))
    cluster.wait_converged(workload, timeout=300)
    cluster.rollout(workload, images={"app": "nginx:1.26"})
    cluster.wait_converged(workload, timeout=300)
    cluster.undo(workload)
    cluster.wait_converged(workload, timeout=300)
    assert app_images(cluster, name) == ["nginx:1.25"] * 2
    cluster.scale(workload, 3)
    cluster.wait_converged(workload, timeout=300)
    assert app_images(cluster, name) == ["nginx:1.25"] * 3


def test_undo_says_when_there_is_nothing_to_go_back_to(cluster: kitlib.Cluster) -> None:
    cluster.deploy_example("undo-new", kind="CloneSet", replicas=1)
    cluster.deploy_example("undo-new-d", kind="Deployment", replicas=1)
    cluster.sleep(5)
    with pytest.raises(kitlib.errors.Invalid, match="cloneset/undo-new: no previous revision to "
                       r"roll back to \(only revision 1 exists\)"):
        cluster.undo("undo-new")
    with pytest.raises(kitlib.errors.Invalid, match=r"unable to find revision 7 in the history "
                       r"\(has 1\)"):
        cluster.undo("deploy/undo-new-d", to_revision=7)
    cluster.pause("deploy/undo-new-d")
    with pytest.raises(kitlib.errors.Invalid, match="cannot roll back a paused Deployment; "
                       "resume it first"):
        cluster.undo("deploy/undo-new-d")


def test_a_dry_run_undo_changes_nothing(cluster: kitlib.Cluster) -> None:
    cluster.deploy_example("undo-dry", kind="CloneSet", replicas=1)
    cluster.wait_converged("undo-dry", timeout=300)
    cluster.rollout("undo-dry", images={"app": "nginx:1.26"})
    cluster.wait_converged("undo-dry", timeout=300)
    before = live(cluster, "undo-dry")
    result = cluster.undo("undo-dry", dry_run=True)
    assert result.changed
    assert result.object["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert live(cluster, "undo-dry")["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]


# -- scale -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind"), [("scale-d", "Deployment"), ("scale-c", "CloneSet")])
def test_scale_goes_through_the_scale_subresource(cluster: kitlib.Cluster, name: str,
                                                  kind: str) -> None:
    cluster.deploy_example(name, kind=kind, replicas=2)
    cluster.wait_converged(name, timeout=300)
    dry = cluster.scale(name, 5, dry_run=True)
    assert dry["kind"] == "Scale" and dry["spec"] == {"replicas": 5}
    assert live(cluster, name)["spec"]["replicas"] == 2
    scaled = cluster.scale(name, 4)
    assert scaled["spec"]["replicas"] == 4 and scaled["status"]["selector"] == f"app={name}"
    cluster.wait_converged(name, timeout=300)
    assert len(app_images(cluster, name)) == 4
    with pytest.raises(ValueError, match="replicas must be a non-negative integer"):
        cluster.scale(name, -1)
