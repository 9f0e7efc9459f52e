"""Nodes of the embedded cluster: Node objects shaped as a real kubelet registers them.

``make_node`` builds one Node; ``add_nodes(ctx, n)`` creates ``n`` of them from the
cluster's ``NodePoolSettings`` (``ClusterSettings(nodes=n)`` and ``kitlib serve
--nodes n`` call it at start). A created node has labels (hostname, os, arch, zone
round robin over the pool's zones, the ``kitlib.io/pool`` label), capacity and
allocatable, ``nodeInfo``, addresses and a ``podCIDR`` — but **no conditions**: the
Ready condition and the Lease in ``kube-node-lease`` are the simulated kubelet's to
post, as on a real cluster, so a fresh node is not Ready until its kubelet reports.

Addressing (stable for a node's index, so the same seed gives the same cluster):

* InternalIP ``10.0.x.y`` from ``10.0.0.0/16`` (``y`` in 1–254);
* ``podCIDR``: the index-th ``/24`` of the pod network ``10.128.0.0/9``, counted from
  ``10.244.0.0/24`` (so node 0 has ``10.244.0.0/24``, node 1 ``10.244.1.0/24``…) and
  wrapping to ``10.128.0.0/24`` after ``10.255.255.0/24``: room for 32,768 nodes,
  clear of the node and Service ranges (``10.96.0.0/12``).

Allocatable equals capacity (no system reservations are modelled).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.settings import NodePoolSettings

__all__ = ["KUBELET_VERSION", "add_nodes", "make_node", "node_ip", "pod_cidr"]

#: ``nodeInfo.kubeletVersion``, matching the version the API server reports.
KUBELET_VERSION = "v1.31.0-kitlib"
POD_NETWORK = ipaddress.IPv4Network("10.128.0.0/9")
_FIRST_POD_SUBNET = (int(ipaddress.IPv4Address("10.244.0.0")) - int(POD_NETWORK[0])) // 256
_POD_SUBNETS = POD_NETWORK.num_addresses // 256
_HOSTS_PER_NODE_SUBNET = 254


def pod_cidr(index: int) -> str:
    """The ``podCIDR`` of the node with this index."""
    subnet = (_FIRST_POD_SUBNET + index) % _POD_SUBNETS
    if not 0 <= index < _POD_SUBNETS:
        raise ValueError(f"node index {index} is outside the pod network {POD_NETWORK}")
    return f"{POD_NETWORK[subnet * 256]}/24"


def node_ip(index: int) -> str:
    """The InternalIP of the node with this index (``10.0.x.y``)."""
    x, y = divmod(index, _HOSTS_PER_NODE_SUBNET)
    if not 0 <= x < 256:
        raise ValueError(f"node index {index} is outside the node network 10.0.0.0/16")
    return f"10.0.{x}.{y + 1}"


def _ids(name: str) -> dict[str, str]:
    """Machine and boot identities, derived from the name (stable, no randomness drawn)."""
    digest = hashlib.blake2b(name.encode(), digest_size=48).digest()
    return {"machineID": digest[:16].hex(),
            "systemUUID": str(uuid.UUID(bytes=digest[16:32], version=4)),
            "bootID": str(uuid.UUID(bytes=digest[32:48], version=4))}


def _resources(pool: NodePoolSettings) -> dict[str, str]:
    return {"cpu": pool.cpu, "ephemeral-storage": pool.ephemeral_storage,
            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": pool.memory,
            "pods": str(pool.pods)}


def make_node(name: str, *, index: int, zone: str | None = None,
              pool: NodePoolSettings | None = None,
              labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Node as its kubelet registers it (no conditions yet). ``index`` is its address
    slot (InternalIP, podCIDR); ``zone`` defaults to the pool's zones round robin by
    ``index``; ``labels`` are added to the standard ones."""
    pool = pool or NodePoolSettings()
    if zone is None and pool.zones:
        zone = pool.zones[index % len(pool.zones)]
    node_labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
                   "kubernetes.io/os": "linux", "kitlib.io/pool": pool.pool}
    if zone:
        node_labels["topology.kubernetes.io/zone"] = zone
    node_labels.update(labels or {})
    cidr = pod_cidr(index)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": node_labels, "annotations": {
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "capacity": _resources(pool), "allocatable": _resources(pool),
            "addresses": [{"type": "InternalIP", "address": node_ip(index)},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {**_ids(name), "architecture": "amd64", "operatingSystem": "linux",
                         "kernelVersion": "6.8.0-kitlib", "osImage": "kitlib simulated node",
                         "containerRuntimeVersion": "containerd://1.7.22-kitlib",
                         "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": KUBELET_VERSION},
        },
    }


def _next_index(ctx: ClusterContext, prefix: str) -> int:
    """One past the highest index among existing ``<prefix>-<n>`` nodes."""
    pattern = re.compile(re.escape(prefix) + r"-(\d+)")
    taken = [int(m.group(1)) for node in ctx.store.iter_objects("nodes")
             if (m := pattern.fullmatch(node["metadata"]["name"]))]
    return max(taken, default=-1) + 1


def _next_slot(ctx: ClusterContext) -> int:
    """One past the highest address slot (``podCIDR`` index) any existing node uses."""
    slots = [_slot_of(node) for node in ctx.store.iter_objects("nodes")]
    return max((s for s in slots if s is not None), default=-1) + 1


def _slot_of(node: dict[str, Any]) -> int | None:
    try:
        network = ipaddress.IPv4Network((node.get("spec") or {}).get("podCIDR") or "")
    except ValueError:
        return None
    if network.prefixlen != 24 or not network.subnet_of(POD_NETWORK):
        return None
    subnet = (int(network[0]) - int(POD_NETWORK[0])) // 256
    return (subnet - _FIRST_POD_SUBNET) % _POD_SUBNETS


def add_nodes(ctx: ClusterContext, count: int, *,
              pool: NodePoolSettings | None = None) -> list[str]:
    """Create ``count`` nodes of ``pool`` (default: the cluster's ``node_pool``), numbered
    after the pool's existing ones and addressed after every existing node; returns
    their names. Their kubelets bring them to Ready."""
    pool = pool or ctx.settings.node_pool
    first, slot = _next_index(ctx, pool.name_prefix), _next_slot(ctx)
    names = []
    for i in range(count):
        index = first + i
        zone = pool.zones[index % len(pool.zones)] if pool.zones else None
        node = make_node(f"{pool.name_prefix}-{index}", index=slot + i, zone=zone, pool=pool)
        names.append(ctx.store.create("nodes", node)["metadata"]["name"])
    return names
