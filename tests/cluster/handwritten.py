"""Pods and owners written by hand, the way the scheduler and a kubelet would leave them.

The Service, PodDisruptionBudget and eviction tests play scheduler and kubelet
themselves so that they depend on nothing but the store: pods are created already
bound to a node that has no Node object (so no simulated kubelet or node controller
touches them) and get their IP, phase and Ready condition written directly. Their
owner is a ``CloneSet``-like custom kind with a ``scale`` subresource and no
controller, so nothing else creates or deletes pods behind the test's back.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.kruise.kinds import KruiseSettings
from kitlib.cluster.podutil import set_condition
from kitlib.model import errors
from kitlib.model.registry import ResourceType, ScaleSpec, Subresource
from kitlib.store import DeleteOptions

Obj = dict[str, Any]

#: A workload kind nothing reconciles: pods owned by it exist only as the test writes them.
CLONESET = ResourceType(
    "apps.kruise.io", "v1alpha1", "CloneSet", "clonesets", True, "cloneset",
    subresources=(Subresource("status"),
                  Subresource("scale", group="autoscaling", version="v1", kind="Scale")),
    scale=ScaleSpec(), strategic_merge=False, unconditional_update=False)
PDBS = "poddisruptionbudgets.policy"
SLICES = "endpointslices.discovery.k8s.io"


def new_cluster(seed: int = 0) -> EmbeddedCluster:
    # Without OpenKruise: its CloneSet controller would reconcile this stand-in kind.
    return EmbeddedCluster(ClusterSettings(seed=seed, kruise=KruiseSettings(enabled=False)),
                           extra_kinds=[CLONESET])


def cloneset(cluster: EmbeddedCluster, name: str, replicas: int) -> Obj:
    return cluster.create({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
                           "metadata": {"name": name}, "spec": {"replicas": replicas}})


def owner_ref(owner: Obj) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def pod(cluster: EmbeddedCluster, name: str, *, labels: dict[str, str],
        owner: Obj | None = None, node: str = "n1", ip: str | None = None,
        ready: bool = True, ports: list[dict[str, Any]] | None = None,
        phase: str = "Running", **spec: Any) -> Obj:
    """A pod bound to ``node`` and, unless ``ip`` is ``""``, running with that IP."""
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    if ports:
        container["ports"] = ports
    cluster.store.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                                  "spec": {"containers": [container], "nodeName": node,
                                           **spec}})
    if ip != "":
        run(cluster, name, ip=ip or f"10.244.0.{_next_ip(cluster)}", ready=ready, phase=phase)
    cluster.settle()
    return cluster.store.get("pods", "default", name)


def _next_ip(cluster: EmbeddedCluster) -> int:
    return cluster.store.count("pods") + 1


def run(cluster: EmbeddedCluster, name: str, *, ip: str, ready: bool = True,
        phase: str = "Running") -> None:
    def change(draft: Obj) -> None:
        status = draft.setdefault("status", {})
        status.update(phase=phase, podIP=ip, podIPs=[{"ip": ip}], hostIP="10.0.0.1")
        for type_ in ("Initialized", "ContainersReady", "Ready"):
            set_condition(draft, type_, "True" if ready or type_ == "Initialized" else "False",
                          cluster.now)
    cluster.store.modify("pods", "default", name, change, subresource="status")
    cluster.settle()


def set_ready(cluster: EmbeddedCluster, name: str, ready: bool) -> None:
    def change(draft: Obj) -> None:
        for type_ in ("ContainersReady", "Ready"):
            set_condition(draft, type_, "True" if ready else "False", cluster.now)
    cluster.store.modify("pods", "default", name, change, subresource="status")
    cluster.settle()


def delete(cluster: EmbeddedCluster, name: str) -> None:
    """Start a graceful deletion (the pod gets a deletionTimestamp)."""
    cluster.store.delete("pods", "default", name)
    cluster.settle()


def remove(cluster: EmbeddedCluster, name: str) -> None:
    """What the kubelet does once the containers stopped: the final delete."""
    with contextlib.suppress(errors.NotFound):
        cluster.store.delete("pods", "default", name, DeleteOptions(grace_period_seconds=0))
    cluster.settle()


def pdb(cluster: EmbeddedCluster, name: str, *, labels: dict[str, str] | None = None,
        **spec: Any) -> Obj:
    """A policy/v1 PodDisruptionBudget selecting ``labels`` (default ``app: <name>``)."""
    selector = {"matchLabels": labels if labels is not None else {"app": name}}
    cluster.create({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                    "metadata": {"name": name}, "spec": {"selector": selector, **spec}})
    return cluster.store.get(PDBS, "default", name)


def pdb_status(cluster: EmbeddedCluster, name: str) -> dict[str, Any]:
    return dict(cluster.store.get(PDBS, "default", name).get("status") or {})


def events(cluster: EmbeddedCluster, reason: str) -> list[Obj]:
    return [e for e in cluster.store.select("events") if e["reason"] == reason]
