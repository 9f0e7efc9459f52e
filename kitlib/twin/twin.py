"""``Twin``: an embedded cluster rebuilt from manifests, on which operations are rehearsed.

A twin is built (``build``) by starting an embedded cluster as a child process
(``kitlib.connect(nodes=…, seed=…)``), creating its objects through the API in
``kitlib.twin.objects.CREATE_ORDER`` (a Node created through the API gets a simulated
kubelet, which keeps the capacity, allocatable, labels and taints the manifest gives it
and posts the conditions itself), and then **settling**: sleeping in cluster time until
every node is Ready and every workload has converged, or failing with what is stuck.

**Repeatable rehearsals, without snapshots.** The embedded cluster cannot be
snapshotted through the API, so a twin keeps what it was built from — the sanitized
objects and the seed — and ``fork()`` rebuilds an identical twin from them: same seed,
same requests in the same order, so the same pod names on the same nodes at the same
cluster time (a stepped cluster is deterministic). Each ``rehearse_*`` runs on a fresh
fork by default, so the twin itself never changes and every rehearsal starts from the
same state; ``fresh=False`` rehearses on the twin itself instead (faster, and
cumulative: drain one node, then rehearse draining another). A fork costs one child
process and one settle (about a second or two for the 20-node sample).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from kitlib.client.connect import connect
from kitlib.client.ops import discover, request_json
from kitlib.client.raw import get_json
from kitlib.model.errors import NotFound
from kitlib.twin.objects import WORKLOAD_KINDS, complete_node, creation_rank
from kitlib.twin.rehearse import drain, node_failure, rollout
from kitlib.twin.state import list_pods, pending_pod_reasons, workload_states

if TYPE_CHECKING:
    from types import TracebackType

    from kitlib.client.cluster import Cluster
    from kitlib.client.workloads import IntOrPercent
    from kitlib.twin.prediction import Prediction

__all__ = ["Twin", "TwinNotSettledError", "build"]

#: Cluster seconds a build waits for the twin to settle, and its step.
SETTLE_TIMEOUT, SETTLE_STEP = 600.0, 5.0
#: A node annotated so is down on purpose (``docs/simulation.md``): settling does not wait
#: for it to be Ready.
DOWN = "sim.kitlib.io/down"


class TwinNotSettledError(RuntimeError):
    """The twin's workloads did not converge in time; the message says what is stuck."""


def build(objects: list[dict[str, Any]], *, seed: int = 0, nodes: int | None = None,
          notes: list[str] | None = None, settle_timeout: float = SETTLE_TIMEOUT) -> Twin:
    """Start an embedded cluster, create ``objects`` in it, settle, return the ``Twin``.

    Args:
        objects: sanitized manifests (``kitlib.twin.objects.sanitize``).
        seed: the embedded cluster's seed.
        nodes: generic nodes the cluster starts with (besides the Node objects).
        notes: what the twin could not copy, carried into ``Twin.notes``.
        settle_timeout: cluster seconds to wait for every workload to converge.

    Raises:
        TwinNotSettledError: a workload did not converge within ``settle_timeout``.
    """
    ordered = sorted((copy.deepcopy(obj) for obj in objects), key=creation_rank)
    cluster = connect(nodes=nodes or 0, seed=seed)
    try:
        _populate(cluster, ordered)
        twin = Twin(cluster, objects=ordered, seed=seed, nodes=nodes, notes=notes or [])
        twin.settle(timeout=settle_timeout)
    except BaseException:
        cluster.close()
        raise
    return twin


def _populate(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    namespaces: set[str] = set()
    node_index = 0
    for obj in objects:
        resource = discover(cluster, obj["apiVersion"], obj["kind"])
        namespace = None
        if resource.namespaced:
            namespace = obj["metadata"].setdefault("namespace", cluster.namespace)
            if namespace not in namespaces:
                _ensure_namespace(cluster, namespace)
                namespaces.add(namespace)
        if obj["kind"] == "Namespace":
            _ensure_namespace(cluster, obj["metadata"]["name"], obj)
            namespaces.add(obj["metadata"]["name"])
            continue
        if obj["kind"] == "Node":
            complete_node(obj, node_index)
            node_index += 1
        request_json(cluster.api_client, "POST", resource.path(namespace), body=obj)


def _ensure_namespace(cluster: Cluster, name: str, obj: dict[str, Any] | None = None) -> None:
    try:
        get_json(cluster.api_client, f"/api/v1/namespaces/{name}")
    except NotFound:
        body = obj or {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        request_json(cluster.api_client, "POST", "/api/v1/namespaces", body=body)


class Twin:
    """An embedded cluster rebuilt from manifests or from a real cluster.

    Made by ``kitlib.twin.from_manifests`` or ``kitlib.twin.from_cluster`` (or ``fork``);
    it owns its embedded cluster (``cluster``), which ``close()`` — or leaving a
    ``with`` block — stops.

    Attributes:
        cluster: the twin's ``Cluster`` handle (stepped clock, writes allowed).
        seed: the seed it was built with.
        notes: what could not be copied into the twin, in sentences.
    """

    def __init__(self, cluster: Cluster, *, objects: list[dict[str, Any]], seed: int,
                 nodes: int | None, notes: list[str]) -> None:
        self.cluster = cluster
        self.seed = seed
        self.notes = list(notes)
        self._objects = objects
        self._generic_nodes = nodes
        present = {(o.get("apiVersion"), o.get("kind")) for o in objects}
        #: The workload kinds the twin holds (the ones a settle waits for).
        self.kinds = tuple(k for k in WORKLOAD_KINDS if k in present)

    # -- what it is made of ------------------------------------------------------------

    @property
    def objects(self) -> list[dict[str, Any]]:
        """Copies of the manifests the twin was built from, in creation order."""
        return copy.deepcopy(self._objects)

    def manifests(self) -> str:
        """The twin's objects as one multi-document YAML text (``from_manifests`` reads it)."""
        return yaml.safe_dump_all(self.objects, sort_keys=False)

    def placement(self) -> dict[str, list[str]]:
        """Node → names of the pods bound to it (default namespace: bare names), sorted."""
        out: dict[str, list[str]] = {}
        for pod in sorted(list_pods(self.cluster).values(), key=lambda p: p.key):
            if pod.node and not pod.terminating:
                out.setdefault(pod.node, []).append(pod.key)
        return dict(sorted(out.items()))

    def nodes_hosting(self, selector: Mapping[str, str]) -> list[str]:
        """Nodes running a pod whose labels include ``selector`` (e.g. ``{"app": "pay"}``)."""
        found = {p.node for p in list_pods(self.cluster).values()
                 if p.node and not p.terminating
                 and all(p.labels.get(k) == v for k, v in selector.items())}
        return sorted(found)

    # -- settling ----------------------------------------------------------------------

    def settle(self, *, timeout: float = SETTLE_TIMEOUT, step: float = SETTLE_STEP) -> float:
        """Sleep until every node is Ready (but those annotated down) and every workload
        converged.

        Args:
            timeout: cluster seconds to wait at most.
            step: cluster seconds slept between checks.

        Returns:
            The cluster seconds it took.

        Raises:
            TwinNotSettledError: with the workloads that did not converge and why their
                pods are not running.
        """
        start = self.cluster.now()
        while True:
            waiting = self._not_settled()
            now = self.cluster.now()
            if not waiting:
                return now - start
            if now - start + step > timeout:
                raise TwinNotSettledError(
                    f"the twin did not settle within {timeout:g} s of cluster time: "
                    + "; ".join(waiting + pending_pod_reasons(self.cluster))
                    + ". Check the nodes' capacity, taints and the images in the manifests.")
            self.cluster.sleep(step)

    def _not_settled(self) -> list[str]:
        nodes = get_json(self.cluster.api_client, "/api/v1/nodes")["items"]
        not_ready = [n["metadata"]["name"] for n in nodes if not _ready(n)
                     and (n["metadata"].get("annotations") or {}).get(DOWN) != "true"]
        waiting = [f"node {', '.join(not_ready)} not Ready"] if not_ready else []
        states = workload_states(self.cluster, self.kinds)
        return waiting + [s.describe() for s in states.values() if not s.converged]

    # -- rehearsals --------------------------------------------------------------------

    def fork(self) -> Twin:
        """A new twin rebuilt from the same objects and seed: the same state as this one
        had when built (see the module docstring)."""
        return build(self._objects, seed=self.seed, nodes=self._generic_nodes,
                     notes=self.notes)

    def rehearse_drain(self, node: str, *, timeout: float = 600.0,
                       fresh: bool = True) -> Prediction:
        """Rehearse ``kubectl drain node`` (``kitlib.twin.rehearse.drain``).

        Args:
            node: the node to drain.
            timeout: cluster seconds to wait for the drain and the workloads at most.
            fresh: rehearse on a fresh fork (``False``: on this twin itself).
        """
        return self._rehearse(
            lambda twin: drain(twin.cluster, twin.kinds, node, timeout=timeout),
            fresh=fresh)

    def rehearse_node_failure(self, node: str, *, timeout: float = 900.0, step: float = 10.0,
                              fresh: bool = True) -> Prediction:
        """Rehearse ``node`` going down for good (``kitlib.twin.rehearse.node_failure``).

        Args:
            node: the node that fails.
            timeout: cluster seconds to wait for the workloads to recover at most.
            step: cluster seconds between samples.
            fresh: rehearse on a fresh fork (``False``: on this twin itself).
        """
        return self._rehearse(
            lambda twin: node_failure(twin.cluster, twin.kinds, node, timeout=timeout,
                                      step=step),
            fresh=fresh)

    def rehearse_rollout(self, workload: str, *, images: Mapping[str, str],
                         strategy: str | None = None, partition: IntOrPercent | None = None,
                         max_unavailable: IntOrPercent | None = None,
                         max_surge: IntOrPercent | None = None, timeout: float = 600.0,
                         fresh: bool = True) -> Prediction:
        """Rehearse a rollout (``kitlib.client.workloads.rollout``; ``rehearse.rollout``).

        Args:
            workload: ``"cloneset/cart"``, ``"deployment/web"`` or a bare name.
            images: container name → new image.
            strategy: the update strategy, per kind (e.g. ``"ReCreate"`` for a CloneSet).
            partition: pods to keep on the old revision.
            max_unavailable: the update's unavailability budget.
            max_surge: extra pods allowed during the update.
            timeout: cluster seconds to wait for convergence at most.
            fresh: rehearse on a fresh fork (``False``: on this twin itself).
        """
        return self._rehearse(
            lambda twin: rollout(twin.cluster, twin.kinds, workload, images=images,
                                 strategy=strategy, partition=partition,
                                 max_unavailable=max_unavailable, max_surge=max_surge,
                                 timeout=timeout),
            fresh=fresh)

    def _rehearse(self, run: Callable[[Twin], Prediction], *, fresh: bool) -> Prediction:
        if not fresh:
            return run(self)
        with self.fork() as twin:
            return run(twin)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the twin's embedded cluster."""
        self.cluster.close()

    def __enter__(self) -> Twin:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<kitlib.twin.Twin seed={self.seed} objects={len(self._objects)} "
                f"{self.cluster.api_client.configuration.host}>")


def _ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())
