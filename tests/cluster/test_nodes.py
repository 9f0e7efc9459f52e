"""Nodes: ``ClusterSettings(nodes=N)`` / ``kitlib serve --nodes N`` create Node objects
shaped as a real kubelet registers them, spread over zones, each with its own addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from kitlib.apiserver.discovery import version_info
from kitlib.cli import _parser
from kitlib.cluster import ClusterSettings, EmbeddedCluster, NodePoolSettings
from kitlib.cluster.nodes import add_nodes, make_node, node_ip, pod_cidr
from tests.conftest import ThreadedServer


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=3, nodes=5))
    yield c
    assert c.store.verify_integrity() == []


def nodes(cluster: EmbeddedCluster) -> dict[str, dict[str, Any]]:
    return {n["metadata"]["name"]: n for n in cluster.store.select("nodes")}


def test_a_cluster_with_nodes_starts_with_them_spread_round_robin_over_zones(
        cluster: EmbeddedCluster) -> None:
    zones = {name: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for name, n in nodes(cluster).items()}
    assert zones == {"node-0": "zone-a", "node-1": "zone-b", "node-2": "zone-c",
                     "node-3": "zone-a", "node-4": "zone-b"}


def test_a_node_carries_the_labels_a_kubelet_registers(cluster: EmbeddedCluster) -> None:
    labels = nodes(cluster)["node-2"]["metadata"]["labels"]
    assert labels == {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                      "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "node-2",
                      "kubernetes.io/os": "linux", "kitlib.io/pool": "default",
                      "topology.kubernetes.io/zone": "zone-c"}


def test_a_node_reports_capacity_allocatable_and_a_kubelet_of_the_served_version(
        cluster: EmbeddedCluster) -> None:
    status = nodes(cluster)["node-0"]["status"]
    expected = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi",
                "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
    assert status["capacity"] == status["allocatable"] == expected
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == version_info()["gitVersion"] == "v1.31.0-kitlib"
    assert (info["operatingSystem"], info["architecture"]) == ("linux", "amd64")
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert {"machineID", "systemUUID", "bootID", "kernelVersion", "osImage"} <= set(info)


def test_every_node_has_its_own_internal_ip_hostname_and_pod_cidr(
        cluster: EmbeddedCluster) -> None:
    seen = {name: (n["status"]["addresses"], n["spec"]["podCIDR"])
            for name, n in nodes(cluster).items()}
    assert seen["node-0"] == ([{"type": "InternalIP", "address": "10.0.0.1"},
                               {"type": "Hostname", "address": "node-0"}], "10.244.0.0/24")
    assert seen["node-4"][1] == "10.244.4.0/24"
    assert len({cidr for _, cidr in seen.values()}) == 5
    assert all(n["spec"]["podCIDRs"] == [n["spec"]["podCIDR"]] for n in nodes(cluster).values())


def test_a_fresh_node_has_no_conditions_until_its_kubelet_reports() -> None:
    node = make_node("n", index=0)
    assert "conditions" not in node["status"]


def test_added_nodes_are_numbered_and_addressed_after_the_existing_ones(
        cluster: EmbeddedCluster) -> None:
    assert add_nodes(cluster.context, 2) == ["node-5", "node-6"]
    gpu = NodePoolSettings(pool="gpu", name_prefix="gpu", zones=("zone-x",), cpu="64")
    assert add_nodes(cluster.context, 1, pool=gpu) == ["gpu-0"]
    cluster.settle()
    made = nodes(cluster)
    assert made["node-6"]["spec"]["podCIDR"] == "10.244.6.0/24"
    assert made["gpu-0"]["spec"]["podCIDR"] == "10.244.7.0/24"
    assert made["gpu-0"]["metadata"]["labels"]["kitlib.io/pool"] == "gpu"
    assert made["gpu-0"]["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-x"
    assert made["gpu-0"]["status"]["capacity"]["cpu"] == "64"


def test_pod_cidrs_fill_the_pod_network_from_10_244_and_wrap_around() -> None:
    network = ipaddress.IPv4Network("10.128.0.0/9")
    assert [pod_cidr(i) for i in (0, 255, 256, 3071, 3072, 32767)] == [
        "10.244.0.0/24", "10.244.255.0/24", "10.245.0.0/24", "10.255.255.0/24",
        "10.128.0.0/24", "10.243.255.0/24"]
    assert all(ipaddress.IPv4Network(pod_cidr(i)).subnet_of(network) for i in (0, 9999))
    assert [node_ip(i) for i in (0, 253, 254, 10_000)] == [
        "10.0.0.1", "10.0.0.254", "10.0.1.1", "10.0.39.95"]
    with pytest.raises(ValueError):
        pod_cidr(32768)


def test_kitlib_serve_takes_a_node_count() -> None:
    args = _parser().parse_args(["serve", "--nodes", "3"])
    assert args.nodes == 3
    assert _parser().parse_args(["serve"]).nodes == 0


def test_an_api_server_started_with_nodes_lists_them(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server(nodes=3)
    listed = k8s.CoreV1Api(server.api_client()).list_node()
    assert [n.metadata.name for n in listed.items] == ["node-0", "node-1", "node-2"]
    assert listed.items[1].spec.pod_cidr == "10.244.1.0/24"
