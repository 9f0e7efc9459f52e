"""The PodBoard's model: raw nodes and pods in, board entries and deltas out (pure).

``BoardModel`` keeps one *entry* (a small JSON-ready dict) per node and per pod, each
derived from the raw object alone, and turns a batch of changes — the latest raw object
(or ``None``: deleted) per ``("node", name)`` / ``("pod", "namespace/name")`` key — into a
*delta*: the entries that changed (upserts) and the keys that left (removes), under a new
``version``. An object whose entry did not change produces nothing, so resyncs and status
noise never reach the browser.

Pod state buckets (``STATES``), first match wins:

* ``terminating`` — the pod has a ``deletionTimestamp`` (or phase Succeeded);
* ``crashloop`` — a container waits in ``CrashLoopBackOff``, or terminated with an error
  (``Error``, ``OOMKilled``, a non-zero exit code), or the pod's phase is Failed. Image
  pull errors (``ErrImagePull``, ``ImagePullBackOff``) are *not* here: the pod is still
  ``waiting``, and the container is flagged ``failing`` (the board marks it);
* ``waiting`` — not scheduled, or phase Pending (creating, pulling);
* ``ready`` — the Ready condition is True;
* ``running`` — running, not ready (including a container restarting in place).

Positions are stable: each pod holds a ``slot`` in its node (the lowest free one when it
arrives) for as long as it stays there, so an in-place update never moves a pod and a
replacement shows up as a new pod in a (possibly different) slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kitlib.observe.snapshot import ContainerView, pod_view
from kitlib.viz import PALETTE, image_colors

__all__ = ["STATES", "BoardModel", "assign_colors", "matches", "node_entry", "pod_entry",
           "pod_state"]

Obj = dict[str, Any]
Entry = dict[str, Any]
#: A change's key: ``("node", name)`` or ``("pod", "namespace/name")``.
Change = tuple[str, str]

STATES = ("waiting", "running", "ready", "crashloop", "terminating")

#: Node labels naming the pool, first present wins (kitlib, GKE, EKS, AKS, Karpenter).
POOL_LABELS = ("kitlib.io/pool", "cloud.google.com/gke-nodepool", "eks.amazonaws.com/nodegroup",
               "agentpool", "karpenter.sh/nodepool")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
CRASH_REASONS = frozenset({"CrashLoopBackOff", "Error", "OOMKilled", "ContainerCannotRun"})
PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
#: OpenKruise lifecycle states of a pod whose containers are being updated in place.
INPLACE_STATES = frozenset({"PreparingUpdate", "Updating"})
LIFECYCLE_LABEL = "lifecycle.apps.kruise.io/state"


# -- nodes -------------------------------------------------------------------------------------

def _first_label(labels: Mapping[str, str], names: Iterable[str]) -> str:
    return next((str(labels[n]) for n in names if labels.get(n)), "")


def node_entry(node: Obj) -> Entry:
    """A node's board entry: name, zone, pool, ready, unschedulable, taints."""
    meta, spec, status = (node.get(k) or {} for k in ("metadata", "spec", "status"))
    labels = meta.get("labels") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    taints = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
              for t in spec.get("taints") or []]
    return {"name": str(meta.get("name", "")), "zone": _first_label(labels, ZONE_LABELS),
            "pool": _first_label(labels, POOL_LABELS), "ready": ready,
            "unschedulable": bool(spec.get("unschedulable")), "taints": taints}


# -- pods --------------------------------------------------------------------------------------

def _crashing(container: ContainerView, exit_code: int) -> bool:
    if container.reason in CRASH_REASONS:
        return True
    return container.state == "terminated" and exit_code != 0


def _exit_codes(pod: Obj) -> dict[str, int]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {str(s.get("name")): int(((s.get("state") or {}).get("terminated") or {})
                                    .get("exitCode") or 0) for s in statuses}


def pod_state(pod: Obj, containers: Iterable[ContainerView] | None = None) -> str:
    """The pod's state bucket (one of ``STATES``; rules in the module docstring)."""
    if containers is None:
        containers = pod_view(pod, epoch=0.0, roles=None).containers
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if meta.get("deletionTimestamp") or phase == "Succeeded":
        return "terminating"
    codes = _exit_codes(pod)
    if phase == "Failed" or any(_crashing(c, codes.get(c.name, 0)) for c in containers):
        return "crashloop"
    if not (pod.get("spec") or {}).get("nodeName") or phase == "Pending":
        return "waiting"
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    return "ready" if ready else "running"


def _pod_updating(pod: Obj) -> bool:
    """OpenKruise says an in-place update is under way (lifecycle state or condition)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if (meta.get("labels") or {}).get(LIFECYCLE_LABEL) in INPLACE_STATES:
        return True
    return any(c.get("type") == "InPlaceUpdateReady" and c.get("status") == "False"
               for c in status.get("conditions") or [])


def _container_entry(c: ContainerView) -> Entry:
    return {"name": c.name, "role": c.role, "image": c.image, "image_running": c.image_running,
            "state": c.state, "reason": c.reason, "ready": c.ready, "restarts": c.restarts,
            "inplace": bool(c.image_running) and c.image_running != c.image,
            "failing": c.reason in PULL_ERRORS}


def pod_entry(pod: Obj, *, roles: Mapping[str, str] | None = None) -> Entry:
    """A pod's board entry (without its ``slot``, which ``BoardModel`` assigns)."""
    view = pod_view(pod, epoch=0.0, roles=roles)
    containers = [_container_entry(c) for c in view.containers]
    return {"key": f"{view.namespace}/{view.name}", "namespace": view.namespace,
            "name": view.name, "uid": view.uid, "node": view.node, "ip": view.ip,
            "phase": view.phase, "state": pod_state(pod, view.containers),
            "workload": view.workload, "revision": view.revision,
            "labels": dict((pod.get("metadata") or {}).get("labels") or {}),
            "deleting": view.deleting, "containers": containers,
            "inplace": _pod_updating(pod) or any(c["inplace"] for c in containers)}


# -- filtering ---------------------------------------------------------------------------------

def matches(pod: Entry, text: str) -> bool:
    """Whether a pod entry matches a filter: every whitespace-separated term must match.

    A term ``key=value`` matches a label; ``ns:NAME`` the namespace; ``node:NAME`` the node;
    any other term is a case-insensitive substring of ``namespace/name``, the workload
    (``cloneset/shop``), the node or an image. The front end applies the same rule.
    """
    return all(_term_matches(pod, term) for term in text.lower().split())


def _term_matches(pod: Entry, term: str) -> bool:
    if term.startswith("ns:"):
        return pod["namespace"].lower() == term[3:]
    if term.startswith("node:"):
        return pod["node"].lower() == term[5:]
    if "=" in term:
        key, _, value = term.partition("=")
        return any(k.lower() == key and str(v).lower() == value
                   for k, v in pod["labels"].items())
    haystack = [pod["key"], pod["workload"], pod["node"],
                *(c["image"] for c in pod["containers"])]
    return any(term in h.lower() for h in haystack)


# -- colours ----------------------------------------------------------------------------------

def assign_colors(assigned: Mapping[str, str], images: Iterable[str]) -> dict[str, str]:
    """Colours for ``images`` that never change while the board lives.

    The first images get ``kitlib.viz.image_colors`` (so the board agrees with the plots);
    an image that appears later keeps what ``assigned`` gave it or takes the first palette
    colour never given before, then one no current image uses — so a new version never
    inherits the colour of the version it replaces while both are on screen.

    Returns:
        Every image ever assigned (``assigned`` plus the new ones) → colour.
    """
    wanted = set(images)
    if not assigned:
        return image_colors(wanted)
    result = dict(assigned)
    for image in sorted(wanted - set(assigned)):
        in_use = {result[i] for i in wanted if i in result}
        fresh = [c for c in PALETTE if c not in result.values()]
        free = [c for c in PALETTE if c not in in_use]
        result[image] = (fresh or free or [PALETTE[len(result) % len(PALETTE)]])[0]
    return result


# -- the model ---------------------------------------------------------------------------------

class BoardModel:
    """Node and pod entries, stable pod slots and the version of the last delta.

    Args:
        roles: container name → role, passed to ``kitlib.observe.snapshot.role_of``.
    """

    def __init__(self, *, roles: Mapping[str, str] | None = None) -> None:
        self.roles = dict(roles or {})
        self.nodes: dict[str, Entry] = {}
        self.pods: dict[str, Entry] = {}
        self.version = 0
        self._slots: dict[str, dict[int, str]] = {}  # node → slot → pod key

    # -- applying changes ------------------------------------------------------------------

    def apply(self, changes: Mapping[Change, Obj | None]) -> Entry | None:
        """Apply ``{(kind, key): raw object or None}``; the delta, or ``None`` if nothing
        visible changed. Nodes first, so a pod's node is known when the pod arrives."""
        delta: Entry = {"nodes": {"upsert": [], "remove": []},
                        "pods": {"upsert": [], "remove": []}}
        for (kind, key), obj in sorted(changes.items(), key=lambda item: item[0][0] != "node"):
            if kind == "node":
                self._apply_node(key, obj, delta["nodes"])
            else:
                self._apply_pod(key, obj, delta["pods"])
        if not any(delta[k][op] for k in ("nodes", "pods") for op in ("upsert", "remove")):
            return None
        delta["base"], self.version = self.version, self.version + 1
        delta["version"] = self.version
        return delta

    def _apply_node(self, name: str, obj: Obj | None, out: Entry) -> None:
        if obj is None:
            if self.nodes.pop(name, None) is not None:
                out["remove"].append(name)
            return
        entry = node_entry(obj)
        if self.nodes.get(name) != entry:
            self.nodes[name] = entry
            out["upsert"].append(entry)

    def _apply_pod(self, key: str, obj: Obj | None, out: Entry) -> None:
        old = self.pods.get(key)
        if obj is None:
            if old is not None:
                self._release(old)
                del self.pods[key]
                out["remove"].append(key)
            return
        entry = pod_entry(obj, roles=self.roles)
        if old is not None and old["uid"] == entry["uid"] and old["node"] == entry["node"]:
            entry["slot"] = old["slot"]
        else:
            if old is not None:
                self._release(old)
            entry["slot"] = self._claim(entry["node"], key)
        if old != entry:
            self.pods[key] = entry
            out["upsert"].append(entry)

    def _claim(self, node: str, key: str) -> int:
        taken = self._slots.setdefault(node, {})
        slot = next(i for i in range(len(taken) + 1) if i not in taken)
        taken[slot] = key
        return slot

    def _release(self, entry: Entry) -> None:
        taken = self._slots.get(entry["node"], {})
        if taken.get(entry["slot"]) == entry["key"]:
            del taken[entry["slot"]]

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> Entry:
        """Everything, for a view that connects: nodes, pods (by key) and the version."""
        return {"version": self.version, "nodes": sorted(self.nodes.values(),
                                                         key=lambda n: n["name"]),
                "pods": [self.pods[k] for k in sorted(self.pods)]}

    def state_counts(self) -> dict[str, int]:
        """Pods per state bucket (every bucket present, zeros included)."""
        counts = dict.fromkeys(STATES, 0)
        for pod in self.pods.values():
            counts[pod["state"]] += 1
        return counts

    def images(self) -> set[str]:
        """Every image in the board: wanted (spec) and running (status) ones."""
        return {image for pod in self.pods.values() for c in pod["containers"]
                for image in (c["image"], c["image_running"]) if image}
