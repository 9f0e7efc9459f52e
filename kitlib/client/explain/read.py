"""Reads for ``explain``: raw JSON through the official client, nothing simulation-only.

Every list tolerates what a real cluster may not have: a kind that is not served (no
OpenKruise: no PodUnavailableBudgets, no SidecarSets) or that this user may not list
reads as empty, so an explanation says less rather than failing. Timestamps on objects
are RFC 3339; ``cluster_time`` gives the cluster's "now" on the same scale (the
simulated clock on an embedded cluster, the wall clock otherwise).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from kitlib.client.ops import discover
from kitlib.client.raw import get_json
from kitlib.model.errors import Forbidden, MethodNotAllowed, NotFound
from kitlib.model.selectors import LabelSelector

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["Reader", "active", "cluster_time", "condition", "events_for", "get_or_none", "list_items",
           "owned_by", "pods_selected", "ready_since", "selects", "timestamp"]

Obj = dict[str, Any]
KRUISE_API = "apps.kruise.io/v1alpha1"
PUB_API = "policy.kruise.io/v1alpha1"
_UNSERVED = (NotFound, Forbidden, MethodNotAllowed)


def list_items(cluster: Cluster, path: str, **query: Any) -> list[Obj]:
    """The items at ``path``; empty when the kind is not served or not readable."""
    try:
        items = get_json(cluster.api_client, path, **query).get("items")
    except _UNSERVED:
        return []
    return list(items or [])


def get_or_none(cluster: Cluster, path: str) -> Obj | None:
    """The object at ``path``, or None when it (or its kind) does not exist."""
    try:
        return get_json(cluster.api_client, path)
    except _UNSERVED:
        return None


def timestamp(text: str | None) -> float | None:
    """Unix seconds of an RFC 3339 time (None for None)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cluster_time(cluster: Cluster) -> float:
    """The cluster's current time in Unix seconds, comparable with object timestamps."""
    if not cluster.embedded:
        return cluster.now()
    status = cluster.clock()["status"]
    now = timestamp(status["now"])
    assert now is not None
    return now + float(status["seconds"]) % 1.0


def condition(obj: Obj, kind: str) -> Obj | None:
    """The status condition of type ``kind``."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or ()
                 if c.get("type") == kind), None)


def ready_since(pod: Obj) -> float | None:
    """When the pod last became Ready (None when it is not Ready)."""
    ready = condition(pod, "Ready")
    if ready is None or ready.get("status") != "True":
        return None
    return timestamp(ready.get("lastTransitionTime")) or 0.0


def active(pod: Obj) -> bool:
    """Not being deleted and not finished (what workload controllers count)."""
    return (not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))


def owned_by(pod: Obj, uid: str) -> bool:
    """Whether the object with ``uid`` is the pod's controller."""
    return any(ref.get("controller") and ref.get("uid") == uid
               for ref in pod["metadata"].get("ownerReferences") or ())


def selects(selector: Obj | None, obj: Obj) -> bool:
    """Whether a label selector (nil selects nothing) matches ``obj``'s labels."""
    if selector is None:
        return False
    return LabelSelector.from_object(selector).matches(obj["metadata"].get("labels") or {})


def pods_selected(cluster: Cluster, namespace: str, selector: Obj | None) -> list[Obj]:
    """Pods of ``namespace`` that ``selector`` matches, sorted by name."""
    if not selector:
        return []
    items = list_items(cluster, f"/api/v1/namespaces/{namespace}/pods",
                       labelSelector=str(LabelSelector.from_object(selector)) or None)
    return sorted(items, key=lambda p: p["metadata"]["name"])


def events_for(cluster: Cluster, kind: str, name: str, namespace: str | None) -> list[Obj]:
    """Events about one object, oldest first."""
    path = (f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events")
    items = list_items(cluster, path,
                       fieldSelector=f"involvedObject.kind={kind},involvedObject.name={name}")
    return sorted(items, key=_event_time)


def _event_time(event: Obj) -> float:
    text = event.get("lastTimestamp") or event.get("eventTime") or \
        (event.get("metadata") or {}).get("creationTimestamp")
    return timestamp(text) or 0.0


class Reader:
    """One explanation's reads: the cluster, its time, and what several findings share
    (nodes, budgets, SidecarSets, events), each read at most once."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.now = cluster_time(cluster)
        self._cache: dict[tuple[str, ...], Any] = {}

    def _once(self, key: tuple[str, ...], load: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def node(self, name: str) -> Obj | None:
        """The node named ``name`` (None when gone)."""
        return self._once(("node", name),
                          lambda: get_or_none(self.cluster, f"/api/v1/nodes/{name}"))

    def pdbs(self, namespace: str) -> list[Obj]:
        """PodDisruptionBudgets of ``namespace``."""
        return self._once(("pdbs", namespace), lambda: list_items(
            self.cluster, f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"))

    def pubs(self, namespace: str) -> list[Obj]:
        """PodUnavailableBudgets of ``namespace`` (empty without OpenKruise)."""
        return self._once(("pubs", namespace), lambda: list_items(
            self.cluster, f"/apis/{PUB_API}/namespaces/{namespace}/podunavailablebudgets"))

    def replicasets(self, namespace: str) -> list[Obj]:
        """ReplicaSets of ``namespace``."""
        return self._once(("replicasets", namespace), lambda: list_items(
            self.cluster, f"/apis/apps/v1/namespaces/{namespace}/replicasets"))

    def sidecarsets(self) -> list[Obj]:
        """Every SidecarSet (empty without OpenKruise)."""
        return self._once(("sidecarsets",), lambda: list_items(
            self.cluster, f"/apis/{KRUISE_API}/sidecarsets"))

    def events(self, kind: str, name: str, namespace: str | None) -> list[Obj]:
        """Events about one object, oldest first."""
        return self._once(("events", kind, name, namespace or ""),
                          lambda: events_for(self.cluster, kind, name, namespace))

    def owner(self, namespace: str, ref: Obj) -> Obj | None:
        """The object an ownerReference points at (None when it or its kind is gone)."""
        api, kind, name = ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", "")
        return self._once(("owner", api, kind, namespace, name),
                          lambda: self._get_owner(api, kind, namespace, name))

    def _get_owner(self, api: str, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            resource = discover(self.cluster, api, kind)
        except _UNSERVED:
            return None
        return get_or_none(self.cluster, resource.path(namespace, name))
