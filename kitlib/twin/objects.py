"""The objects a twin is made of: which kinds, in which order, stripped of server state.

A twin is rebuilt from a list of plain manifests (dicts). They come from files
(``load``) or from a live cluster (``kitlib.twin.capture``), and both pass through
``sanitize``, which removes what a server or a controller set and another cluster must
set for itself:

* every object: ``status``, ``metadata.uid``/``resourceVersion``/``generation``/
  ``creationTimestamp``/``managedFields``/``selfLink``/``ownerReferences``/
  ``finalizers``/``deletionTimestamp``, the annotations
  ``kubectl.kubernetes.io/last-applied-configuration`` and
  ``deployment.kubernetes.io/revision``, and a template's ``creationTimestamp``;
* a Node keeps the part of its status that describes the machine (``capacity``,
  ``allocatable``, ``addresses``, ``nodeInfo``, ``images`` — the images a node holds
  are preloaded by the twin's kubelet) and loses its conditions (its simulated kubelet
  posts them) and the ``node.kubernetes.io/*`` taints the node lifecycle controller
  manages (``not-ready``, ``unreachable``…); a Node without ``capacity`` gets
  ``DEFAULT_CAPACITY``, without ``allocatable`` its capacity, without addresses an
  InternalIP from ``10.1.0.0/16``;
* a Service loses its ``clusterIP``/``clusterIPs`` (unless headless): addresses are
  the twin's to allocate.

``CREATE_ORDER`` fixes the order of creation: namespaces, images (before nodes, so a
node's preloaded images have their sizes), nodes, SidecarSets (before pods, so they
are injected), budgets, Services, other kinds, workloads last.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kitlib.client.ops import MANIFEST_SUFFIXES, Manifest, load_manifest

__all__ = ["CREATE_ORDER", "DAEMONSET", "DEFAULT_CAPACITY", "WORKLOAD_KINDS", "Source",
           "complete_node", "creation_rank", "load", "sanitize", "without_daemonsets",
           "workload_key"]

#: A twin's source: YAML text, a file or directory path, dicts, or a list of those.
Source = Manifest | Iterable[str | Path | dict[str, Any]]

#: ``(apiVersion, kind)`` of the workload kinds a twin runs and waits for. DaemonSets are
#: not among them: the embedded cluster has no DaemonSet controller (``without_daemonsets``).
WORKLOAD_KINDS: tuple[tuple[str, str], ...] = (
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
    ("apps.kruise.io/v1alpha1", "CloneSet"), ("apps.kruise.io/v1beta1", "StatefulSet"),
)
DAEMONSET = ("apps/v1", "DaemonSet")

#: Kinds in creation order; anything else goes between Services and workloads.
CREATE_ORDER: tuple[str, ...] = ("Namespace", "Image", "Node", "SidecarSet",
                                 "PodDisruptionBudget", "PodUnavailableBudget", "Service")

#: The capacity of a Node manifest that declares none.
DEFAULT_CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110"}

_METADATA_SET_BY_SERVER = ("uid", "resourceVersion", "generation", "creationTimestamp",
                           "managedFields", "selfLink", "ownerReferences", "finalizers",
                           "deletionTimestamp", "deletionGracePeriodSeconds")
_ANNOTATIONS_SET_BY_TOOLS = ("kubectl.kubernetes.io/last-applied-configuration",
                             "deployment.kubernetes.io/revision")
_NODE_STATUS_KEPT = ("capacity", "allocatable", "addresses", "nodeInfo", "images")
_LIFECYCLE_TAINTS = "node.kubernetes.io/"
_TWIN_NODE_NETWORK = ipaddress.IPv4Network("10.1.0.0/16")


def load(source: Source) -> list[dict[str, Any]]:
    """Objects from YAML text, a file, a directory (its ``*.yaml``/``*.yml``/``*.json``
    files in name order), dicts, or a list of any of these.

    Raises:
        FileNotFoundError: a named file does not exist.
        ValueError: a document is not a mapping.
    """
    if isinstance(source, dict) or (isinstance(source, str) and not _names_a_file(source)):
        return load_manifest(source)
    if isinstance(source, str | Path):
        return _load_path(Path(source))
    return [obj for item in source for obj in load(item)]


def _names_a_file(text: str) -> bool:
    return "\n" not in text and (text.endswith(MANIFEST_SUFFIXES) or Path(text).exists())


def _load_path(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        files = sorted((f for f in path.iterdir() if f.name.endswith(MANIFEST_SUFFIXES)),
                       key=lambda f: f.name)
        return [obj for f in files for obj in load_manifest(f.read_text())]
    if not path.exists():
        raise FileNotFoundError(f"no manifest file or directory {str(path)!r}")
    return load_manifest(path.read_text())


def creation_rank(obj: dict[str, Any]) -> int:
    """Where ``obj`` comes in ``CREATE_ORDER`` (workloads last)."""
    if (obj.get("apiVersion"), obj.get("kind")) in WORKLOAD_KINDS:
        return len(CREATE_ORDER) + 1
    kind = obj.get("kind", "")
    return CREATE_ORDER.index(kind) if kind in CREATE_ORDER else len(CREATE_ORDER)


def without_daemonsets(objects: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """``objects`` minus DaemonSets, and a note naming those left out: the embedded cluster
    runs no DaemonSet controller, so a twin could not run their pods."""
    kept = [o for o in objects if (o.get("apiVersion"), o.get("kind")) != DAEMONSET]
    names = sorted(o["metadata"]["name"] for o in objects if o not in kept)
    if not names:
        return kept, []
    return kept, [f"DaemonSets are not copied (the twin runs no DaemonSet controller; on a "
                  f"drain kubectl skips their pods anyway): {', '.join(names)}."]


def workload_key(kind: str, api_version: str, name: str, namespace: str,
                 default_namespace: str = "default") -> str:
    """How a prediction names a workload: ``cloneset/pay`` (``ns/…`` outside the default)."""
    alias = {"CloneSet": "cloneset", "Deployment": "deployment"}.get(
        kind, "asts" if api_version.startswith("apps.kruise.io") else "statefulset")
    key = f"{alias}/{name}"
    return key if namespace == default_namespace else f"{namespace}/{key}"


def sanitize(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without the fields a server or controller set (module docstring)."""
    out = copy.deepcopy(obj)
    metadata = out.setdefault("metadata", {})
    for field in _METADATA_SET_BY_SERVER:
        metadata.pop(field, None)
    annotations = metadata.get("annotations") or {}
    for annotation in _ANNOTATIONS_SET_BY_TOOLS:
        annotations.pop(annotation, None)
    if not annotations:
        metadata.pop("annotations", None)
    template = (out.get("spec") or {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        template["metadata"].pop("creationTimestamp", None)
    if out.get("kind") == "Node":
        return _sanitize_node(out)
    out.pop("status", None)
    if out.get("kind") == "Service":
        _sanitize_service(out)
    return out


def _sanitize_node(node: dict[str, Any]) -> dict[str, Any]:
    status = node.get("status") or {}
    node["status"] = {k: status[k] for k in _NODE_STATUS_KEPT if k in status}
    spec = node.get("spec") or {}
    taints = [t for t in spec.get("taints") or () if not t.get("key", "").startswith(
        _LIFECYCLE_TAINTS)]
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)
    node["spec"] = spec
    return node


def _sanitize_service(service: dict[str, Any]) -> None:
    spec = service.get("spec") or {}
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)


def complete_node(node: dict[str, Any], index: int) -> dict[str, Any]:
    """``node`` with the defaults of the module docstring filled in (``index``: the node's
    place among the twin's nodes, which picks its InternalIP)."""
    status = node.setdefault("status", {})
    status.setdefault("capacity", dict(DEFAULT_CAPACITY))
    status.setdefault("allocatable", dict(status["capacity"]))
    if not status.get("addresses"):
        address = _TWIN_NODE_NETWORK[index + 1]
        status["addresses"] = [{"type": "InternalIP", "address": str(address)},
                               {"type": "Hostname", "address": node["metadata"]["name"]}]
    return node
