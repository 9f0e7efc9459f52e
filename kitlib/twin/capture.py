"""Reading a live cluster into a twin's manifests: ``capture(real, namespaces=…)``.

It only reads (raw JSON GETs), so a read-only ``Cluster`` handle is enough. What it
copies, sanitized by ``kitlib.twin.objects.sanitize``:

* every Node (capacity, allocatable, labels, taints, ``unschedulable``, addresses, the
  images it holds); a node that is not Ready is copied as a healthy one, with a note;
* from each namespace: Deployments, StatefulSets, CloneSets, Advanced StatefulSets,
  Services, PodDisruptionBudgets, PodUnavailableBudgets — the kinds the cluster serves
  (the others are named in a note) — and the namespace itself. DaemonSets are named in a
  note and not copied: the embedded cluster has no DaemonSet controller (their pods'
  requests stay reserved, below);
* the SidecarSets (cluster-scoped) that may select pods of those namespaces; containers
  the pods run that neither their template nor a copied SidecarSet declares (a mutating
  webhook's, e.g. ``istio-proxy``) are named in a note: the twin cannot add them.

And it turns what it can read of the pods into the twin's behaviour:

* **image sizes**: each tag a node's ``status.images`` lists becomes an
  ``images.sim.kitlib.io`` ``Image`` with that ``sizeBytes`` (the largest any node
  reports); images the workloads use that no node holds keep the twin's default size
  (a note names them);
* **readiness timing**: for each workload, the median over its Ready pods of the
  ``Ready`` condition's ``lastTransitionTime`` minus its containers' last ``startedAt``
  becomes the template annotation ``sim.kitlib.io/ready-after-seconds`` (the simulated
  app answers its readiness probe from then on; the probe's own schedule still applies,
  as it did on the real pods). Templates without a readiness probe are left alone;
* **capacity taken by pods the twin does not run** (other namespaces, ``kube-system``,
  DaemonSets, Jobs, bare pods): their requests (cpu, memory, one pod slot each) are
  subtracted from their node's allocatable, so the twin has the room the real one has.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kitlib.client.ops import discover
from kitlib.client.raw import get_json, resource_path
from kitlib.model.errors import Forbidden, NotFound
from kitlib.model.quantity import int_value, milli_value
from kitlib.model.selectors import LabelSelector
from kitlib.twin.objects import (
    DAEMONSET,
    WORKLOAD_KINDS,
    sanitize,
    without_daemonsets,
    workload_key,
)
from kitlib.twin.prediction import count

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["READY_AFTER", "capture"]

READY_AFTER = "sim.kitlib.io/ready-after-seconds"
#: Namespaced kinds copied from each namespace, besides the workloads.
COPIED_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Service"), ("policy/v1", "PodDisruptionBudget"),
    ("policy.kruise.io/v1alpha1", "PodUnavailableBudget"))
SIDECARSET = ("apps.kruise.io/v1alpha1", "SidecarSet")


@dataclass
class _Capture:
    """What has been read so far, and the notes about what could not be copied."""

    real: Cluster
    namespaces: tuple[str, ...]
    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Copied workloads (sanitized) with their namespace's live pods they select.
    workloads: list[tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=list)
    unserved: list[str] = field(default_factory=list)

    def list(self, api_version: str, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """Live objects of a kind (``[]`` and a note when it is not served or not allowed)."""
        try:
            plural = discover(self.real, api_version, kind).plural
        except NotFound:
            if f"{api_version} {kind}" not in self.unserved:
                self.unserved.append(f"{api_version} {kind}")
            return []
        try:
            items = get_json(self.real.api_client,
                             resource_path(api_version, plural, namespace))["items"]
        except Forbidden:
            self.notes.append(f"This handle may not list {kind} objects ({api_version}) in "
                              f"{namespace or 'the cluster'}: none were copied.")
            return []
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return list(items)


def capture(real: Cluster, *, namespaces: tuple[str, ...] = ("default",)
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """The manifests of a twin of ``real``, and notes on what could not be copied.

    Raises:
        kitlib.errors.Forbidden: the handle may not list nodes (a twin needs them).
    """
    state = _Capture(real, namespaces)
    nodes = _nodes(state)
    pods = _pods(state)
    for namespace in namespaces:
        _namespace(state, namespace, [p for p in pods
                                      if p["metadata"]["namespace"] == namespace])
    sidecarsets = _sidecarsets(state)
    state.objects.extend(sidecarsets)
    _note_webhook_containers(state, sidecarsets)
    images = _images(state, nodes)
    _reserve(state, nodes, pods)
    if state.unserved:
        state.notes.append("The cluster does not serve " + ", ".join(state.unserved)
                           + ": none were copied.")
    return images + nodes + state.objects, state.notes


# -- nodes and pods --------------------------------------------------------------------------

def _nodes(state: _Capture) -> list[dict[str, Any]]:
    try:
        live = get_json(state.real.api_client, "/api/v1/nodes")["items"]
    except Forbidden as exc:
        raise Forbidden(f"a twin copies the cluster's nodes, and this handle may not list "
                        f"them ({exc.message}); use credentials that may get/list nodes") from exc
    not_ready = [n["metadata"]["name"] for n in live if not _condition(n, "Ready")]
    if not_ready:
        state.notes.append(f"Nodes not Ready in the cluster are healthy in the twin: "
                           f"{', '.join(not_ready)} (annotate the twin's copy with "
                           "sim.kitlib.io/down=true to rehearse with it down).")
    return [sanitize(dict(n, apiVersion="v1", kind="Node")) for n in live]


def _pods(state: _Capture) -> list[dict[str, Any]]:
    """Every pod (all namespaces when allowed, else those of the copied namespaces)."""
    try:
        return list(get_json(state.real.api_client, "/api/v1/pods")["items"])
    except Forbidden:
        state.notes.append("This handle may not list pods of every namespace: the capacity "
                           "that other namespaces' pods take is not reserved in the twin.")
    return [p for ns in state.namespaces for p in get_json(
        state.real.api_client, f"/api/v1/namespaces/{ns}/pods")["items"]]


def _sidecarsets(state: _Capture) -> list[dict[str, Any]]:
    """SidecarSets limited to no namespace or to a copied one."""
    return [sanitize(s) for s in state.list(*SIDECARSET, None)
            if (s.get("spec") or {}).get("namespace") in (None, *state.namespaces)]


def _note_webhook_containers(state: _Capture, sidecarsets: list[dict[str, Any]]) -> None:
    """Name the containers pods run that neither their template nor a copied SidecarSet
    declares (a mutating webhook's, e.g. ``istio-proxy``): the twin cannot add them."""
    injected = {c["name"] for s in sidecarsets
                for c in (s.get("spec") or {}).get("containers") or ()}
    for workload, pods in state.workloads:
        declared = {c["name"] for c in workload["spec"]["template"]["spec"]["containers"]}
        running = {c["name"] for p in pods for c in (p.get("spec") or {}).get("containers") or ()}
        extra = sorted(running - declared - injected)
        if extra:
            state.notes.append(
                f"{_key(workload, state)}: its pods run containers that neither its template "
                f"nor a copied SidecarSet declares ({', '.join(extra)}), added by a webhook "
                "the twin does not have: the twin's pods run without them.")


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or ()
                 if c.get("type") == kind and c.get("status") == "True"), None)


# -- one namespace ---------------------------------------------------------------------------

def _namespace(state: _Capture, namespace: str, pods: list[dict[str, Any]]) -> None:
    if namespace != "default":
        state.objects.append({"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": namespace}})
    for api_version, kind in COPIED_KINDS:
        state.objects.extend(sanitize(o) for o in state.list(api_version, kind, namespace))
    state.notes.extend(without_daemonsets(state.list(*DAEMONSET, namespace))[1])
    claimed: set[str] = set()
    for api_version, kind in WORKLOAD_KINDS:
        for live in state.list(api_version, kind, namespace):
            workload = sanitize(live)
            own = _selected(workload, pods, claimed)
            _apply_readiness(state, workload, own)
            if (workload.get("spec") or {}).get("volumeClaimTemplates"):
                state.notes.append(f"{_key(workload, state)}: volumeClaimTemplates are not "
                                   "simulated (no PersistentVolumeClaims in the twin).")
            state.objects.append(workload)
            state.workloads.append((workload, own))
    strays = sorted(p["metadata"]["name"] for p in pods if p["metadata"]["uid"] not in claimed
                    and not _terminal(p) and _owner_kind(p) != "DaemonSet")
    if strays:
        state.notes.append(f"Pods in {namespace} that no copied workload owns are not copied "
                           f"(their requests stay reserved on their nodes): {', '.join(strays)}.")


def _selected(workload: dict[str, Any], pods: list[dict[str, Any]],
              claimed: set[str]) -> list[dict[str, Any]]:
    selector = LabelSelector.from_object((workload.get("spec") or {}).get("selector"))
    own = [p for p in pods if selector.matches(p["metadata"].get("labels"))
           and p["metadata"]["uid"] not in claimed]
    claimed.update(p["metadata"]["uid"] for p in own)
    return own


def _key(workload: dict[str, Any], state: _Capture) -> str:
    meta = workload["metadata"]
    return workload_key(workload["kind"], workload["apiVersion"], meta["name"],
                        meta["namespace"], state.real.namespace)


def _owner_kind(pod: dict[str, Any]) -> str:
    return next((str(ref.get("kind")) for ref in pod["metadata"].get("ownerReferences") or ()
                 if ref.get("controller")), "")


def _terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


# -- readiness timing ------------------------------------------------------------------------

def _apply_readiness(state: _Capture, workload: dict[str, Any],
                     pods: list[dict[str, Any]]) -> None:
    template = workload["spec"]["template"]
    if not any(c.get("readinessProbe") for c in template["spec"].get("containers") or ()):
        return
    delays = [d for d in (_ready_delay(p) for p in pods) if d is not None]
    if not delays:
        state.notes.append(f"{_key(workload, state)}: no Ready pod to measure its readiness "
                           "delay; the twin's pods are ready at their first probe.")
        return
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[READY_AFTER] = f"{statistics.median(delays):g}"


def _ready_delay(pod: dict[str, Any]) -> float | None:
    """Seconds from the pod's last container start to its Ready transition."""
    ready = _condition(pod, "Ready")
    starts = [((cs.get("state") or {}).get("running") or {}).get("startedAt")
              for cs in (pod.get("status") or {}).get("containerStatuses") or ()]
    if ready is None or not starts or not all(starts):
        return None
    delay = _seconds(ready["lastTransitionTime"]) - max(_seconds(str(s)) for s in starts)
    return delay if delay >= 0 else None


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


# -- images ----------------------------------------------------------------------------------

def _images(state: _Capture, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sizes: dict[str, int] = {}
    for node in nodes:
        for entry in (node.get("status") or {}).get("images") or ():
            for name in entry.get("names") or ():
                if "@" not in name and entry.get("sizeBytes") is not None:
                    sizes[name] = max(sizes.get(name, 0), int(entry["sizeBytes"]))
    unknown = sorted(set(_used_images(state)) - {_short_name(n) for n in sizes} - set(sizes))
    if unknown:
        state.notes.append("No node holds these images, so their sizes are unknown and the "
                           f"twin uses its default (100 MB): {', '.join(unknown)}.")
    return [{"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image",
             "metadata": {"name": _image_object_name(name)},
             "spec": {"image": name, "sizeBytes": size}} for name, size in sorted(sizes.items())]


def _used_images(state: _Capture) -> Iterable[str]:
    for workload, _ in state.workloads:
        for container in workload["spec"]["template"]["spec"].get("containers") or ():
            yield container["image"]


def _short_name(name: str) -> str:
    """``docker.io/library/nginx:1.25`` → ``nginx:1.25`` (how manifests usually say it)."""
    return name.removeprefix("docker.io/").removeprefix("library/")


def _image_object_name(reference: str) -> str:
    name = re.sub(r"[^a-z0-9.-]+", "-", reference.lower()).strip("-.")
    return name[:253] or "image"


# -- capacity the twin does not use ----------------------------------------------------------

def _reserve(state: _Capture, nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
    copied = {p["metadata"]["uid"] for _, own in state.workloads for p in own}
    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and pod["metadata"]["uid"] not in copied and not _terminal(pod):
            by_node.setdefault(node, []).append(pod)
    for node in nodes:
        held = by_node.get(node["metadata"]["name"], [])
        if held:
            _subtract(node["status"], held)
    if by_node:
        total = sum(len(pods) for pods in by_node.values())
        state.notes.append(f"The allocatable of {', '.join(sorted(by_node))} is lowered by "
                           f"the requests of {count(total, 'pod')} the twin does not run.")


def _subtract(status: dict[str, Any], pods: list[dict[str, Any]]) -> None:
    allocatable = dict(status.get("allocatable") or status.get("capacity") or {})
    cpu = sum(_request(p, "cpu", milli_value) for p in pods)
    memory = sum(_request(p, "memory", int_value) for p in pods)
    if "cpu" in allocatable:
        allocatable["cpu"] = f"{max(0, milli_value(allocatable['cpu']) - cpu)}m"
    if "memory" in allocatable:
        allocatable["memory"] = str(max(0, int_value(allocatable["memory"]) - memory))
    if "pods" in allocatable:
        allocatable["pods"] = str(max(0, int_value(allocatable["pods"]) - len(pods)))
    status["allocatable"] = allocatable


def _request(pod: dict[str, Any], resource: str, value: Any) -> int:
    return sum(int(value(q)) for c in (pod.get("spec") or {}).get("containers") or ()
               if (q := ((c.get("resources") or {}).get("requests") or {}).get(resource))
               is not None)
