"""What a twin is made of: loading manifests, stripping server state, filling node defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kitlib.twin
from kitlib.twin.objects import (
    DEFAULT_CAPACITY,
    complete_node,
    creation_rank,
    load,
    sanitize,
    without_daemonsets,
)

LIVE_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                 "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                 "managedFields": [{"manager": "kubectl"}], "labels": {"app": "web"},
                 "ownerReferences": [{"kind": "Thing", "name": "x", "uid": "u-0"}],
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                 "deployment.kubernetes.io/revision": "3"}},
    "spec": {"replicas": 2, "template": {"metadata": {"creationTimestamp": None,
                                                      "labels": {"app": "web"}}}},
    "status": {"replicas": 2},
}


def test_sanitize_strips_what_the_server_and_tools_set() -> None:
    assert sanitize(LIVE_DEPLOYMENT) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}}}}
    assert LIVE_DEPLOYMENT["metadata"]["uid"] == "u-1", "the input is not modified"


def test_sanitize_keeps_a_nodes_machine_and_drops_its_conditions_and_lifecycle_taints() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u"},
            "spec": {"unschedulable": True, "taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                {"key": "gpu", "value": "yes", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3"},
                       "conditions": [{"type": "Ready", "status": "Unknown"}],
                       "images": [{"names": ["nginx:1.25"], "sizeBytes": 5}],
                       "daemonEndpoints": {}}}
    assert sanitize(node) == {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "spec": {"unschedulable": True,
                 "taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]},
        "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3"},
                   "images": [{"names": ["nginx:1.25"], "sizeBytes": 5}]}}


@pytest.mark.parametrize(("cluster_ip", "kept"), [("10.96.0.7", False), ("None", True)])
def test_sanitize_lets_the_twin_allocate_service_addresses(cluster_ip: str, kept: bool) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                        "ports": [{"port": 80}]}}
    assert ("clusterIP" in sanitize(service)["spec"]) is kept


def test_a_node_manifest_without_status_gets_default_capacity_and_an_address() -> None:
    node = complete_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}, 4)
    assert node["status"]["capacity"] == node["status"]["allocatable"] == DEFAULT_CAPACITY
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "10.1.0.5"}
    declared = complete_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                              "status": {"capacity": {"cpu": "2"}}}, 0)
    assert declared["status"]["allocatable"] == {"cpu": "2"}


def test_objects_are_created_namespaces_and_images_first_workloads_last() -> None:
    kinds = [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "Node"),
             ("v1", "ConfigMap"), ("sim.kitlib.io/v1alpha1", "Image"), ("v1", "Namespace"),
             ("apps.kruise.io/v1alpha1", "SidecarSet")]
    objects = [{"apiVersion": a, "kind": k} for a, k in kinds]
    assert [o["kind"] for o in sorted(objects, key=creation_rank)] == [
        "Namespace", "Image", "Node", "SidecarSet", "Service", "ConfigMap", "Deployment"]


def test_load_reads_text_files_directories_and_lists(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("kind: B\n---\nkind: C\n")
    (tmp_path / "a.yml").write_text("kind: A\n")
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert [o["kind"] for o in load(tmp_path)] == ["A", "B", "C"]
    assert [o["kind"] for o in load(str(tmp_path / "a.yml"))] == ["A"]
    assert [o["kind"] for o in load("kind: X\n")] == ["X"]
    assert [o["kind"] for o in load([tmp_path / "a.yml", {"kind": "D"}, "kind: E\n"])] == [
        "A", "D", "E"]
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        load(str(tmp_path / "missing.yaml"))


def test_the_shop_sample_has_20_nodes_in_2_zones_and_4_apps_with_budgets() -> None:
    assert "shop" in kitlib.twin.samples()
    objects = load(kitlib.twin.sample("shop"))
    nodes = [o for o in objects if o["kind"] == "Node"]
    zones = {o["metadata"]["labels"]["topology.kubernetes.io/zone"] for o in nodes}
    assert len(nodes) == 20 and zones == {"zone-a", "zone-b"}
    budgets = {o["metadata"]["name"]: o["spec"]["maxUnavailable"] for o in objects
               if o["kind"] == "PodDisruptionBudget"}
    assert budgets == {"pay": 0, "web": "10%", "cart": 1, "catalog": 1}
    workloads = {o["metadata"]["name"]: o["kind"] for o in objects
                 if o["kind"] in ("CloneSet", "Deployment", "StatefulSet")}
    assert workloads == {"pay": "CloneSet", "web": "Deployment", "cart": "CloneSet",
                         "catalog": "StatefulSet"}
    with pytest.raises(ValueError, match="no sample 'nope'; kitlib ships shop"):
        kitlib.twin.sample("nope")


def test_daemonsets_are_left_out_with_a_note() -> None:
    objects = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "logs"}},
               {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}]
    kept, notes = without_daemonsets(objects)
    assert [o["kind"] for o in kept] == ["Deployment"]
    assert notes == ["DaemonSets are not copied (the twin runs no DaemonSet controller; on a "
                     "drain kubectl skips their pods anyway): logs."]
    assert without_daemonsets(kept) == (kept, [])
