"""``kitlib status [WORKLOAD]``, ``explain TARGET``, ``capabilities``: reading, never writing.

Without a workload: a table of the namespace's workloads of every kind the server serves
(``kitlib.client.refs.WORKLOAD_KINDS``; OpenKruise kinds are skipped where absent) with
their rollout progress and whether each has converged, then one line on the nodes. With a
workload: its ``Progress`` (``kitlib.client.refs.progress``) and its pods.

``explain`` prints ``kitlib.client.explain.explain``: what the controllers will do next
and what holds them, with the numbers; ``capabilities`` prints
``kitlib.client.capabilities.capabilities``: what the cluster serves and, for what it
lacks, how to get it.
"""

from __future__ import annotations

import argparse
from typing import Any

from kitlib.cli._base import add_cluster_options, add_command, cluster_for, print_table
from kitlib.client.raw import get_json
from kitlib.client.refs import (
    WORKLOAD_KINDS,
    Progress,
    WorkloadRef,
    get_workload,
    progress,
    resolve,
)
from kitlib.model.errors import Forbidden, NotFound
from kitlib.model.selectors import LabelSelector

__all__ = ["register"]

STATUS_HELP = ("Without WORKLOAD: the namespace's workloads (every kind the server serves) "
               "with their rollout progress and whether each converged, and the nodes. With "
               "WORKLOAD: its progress, in the controller's own arithmetic, and its pods.")

REVISION_LABELS = ("controller-revision-hash", "pod-template-hash")


def _status(args: argparse.Namespace) -> int:
    with cluster_for(args) as cluster:
        if args.workload:
            ref = resolve(cluster, args.workload, args.namespace)
            _print_workload(cluster.api_client, ref, get_workload(cluster, ref))
        else:
            _print_workloads(cluster.api_client, args.namespace or cluster.namespace)
            print()
            print(_nodes_summary(cluster.api_client))
    return 0


def _workloads(api: Any, namespace: str) -> tuple[list[tuple[WorkloadRef, dict[str, Any]]],
                                                  list[str]]:
    """The namespace's workloads, and the kinds these credentials may not list."""
    found, forbidden = [], []
    for kind in WORKLOAD_KINDS:
        group = "/apis/" + kind.api_version
        try:
            items = get_json(api, f"{group}/namespaces/{namespace}/{kind.plural}")["items"]
        except NotFound:  # the server does not serve this kind (e.g. no OpenKruise)
            continue
        except Forbidden:
            forbidden.append(f"{kind.plural}.{kind.api_version.split('/')[0]}")
            continue
        for obj in sorted(items, key=lambda o: o["metadata"]["name"]):
            obj.setdefault("kind", kind.kind)
            obj.setdefault("apiVersion", kind.api_version)
            found.append((WorkloadRef(kind, obj["metadata"]["name"], namespace), obj))
    return found, forbidden


def _print_workloads(api: Any, namespace: str) -> None:
    workloads, forbidden = _workloads(api, namespace)
    if not workloads:
        print(f"no workloads in namespace {namespace}")
    else:
        rows = []
        for ref, obj in workloads:
            p = progress(obj)
            partition = None if ref.kind.kind == "Deployment" else p.partition
            rows.append((str(ref), p.replicas, p.updated, p.ready, p.available, partition,
                         p.paused, p.converged))
        print_table(("name", "replicas", "updated", "ready", "available", "partition",
                     "paused", "converged"), rows)
    if forbidden:
        print(f"not readable with these credentials: {', '.join(forbidden)}")


def _nodes_summary(api: Any) -> str:
    try:
        nodes = get_json(api, "/api/v1/nodes")["items"]
    except Forbidden:  # namespace-scoped credentials on a real cluster
        return "nodes: not readable with these credentials"
    not_ready = sorted(n["metadata"]["name"] for n in nodes if not _node_ready(n))
    cordoned = sorted(n["metadata"]["name"] for n in nodes if n["spec"].get("unschedulable"))
    line = f"nodes: {len(nodes)}, {len(nodes) - len(not_ready)} ready"
    if not_ready:
        line += f"; not ready: {', '.join(not_ready)}"
    if cordoned:
        line += f"; cordoned: {', '.join(cordoned)}"
    return line


def _node_ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in node.get("status", {}).get("conditions", []))


def _print_workload(api: Any, ref: WorkloadRef, obj: dict[str, Any]) -> None:
    p = progress(obj)
    print("\n".join(_progress_lines(ref, p)))
    selector = LabelSelector.from_object(obj.get("spec", {}).get("selector"))
    pods = get_json(api, f"/api/v1/namespaces/{ref.namespace}/pods",
                    labelSelector=str(selector))["items"]
    print()
    if not pods:
        print("no pods")
        return
    print_table(("pod", "ready", "status", "restarts", "node", "ip", "revision"),
                [_pod_row(pod, p.update_revision) for pod in
                 sorted(pods, key=lambda q: q["metadata"]["name"])])


def _progress_lines(ref: WorkloadRef, p: Progress) -> list[str]:
    partition = "" if ref.kind.kind == "Deployment" else f" (partition {p.partition})"
    return [f"{ref} (namespace {ref.namespace})",
            f"  replicas {p.replicas}, updated {p.updated}/{p.target_updated}{partition}, "
            f"ready {p.ready}, available {p.available}, unavailable {p.unavailable} "
            f"(maxUnavailable {p.max_unavailable}, maxSurge {p.max_surge})",
            f"  paused {_yes(p.paused)}, spec observed {_yes(p.observed)}, revisions: update "
            f"{p.update_revision or '-'}, current {p.current_revision or '-'}",
            f"  converged: {_yes(p.converged)}"]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _pod_row(pod: dict[str, Any], update_revision: str) -> tuple[object, ...]:
    statuses = pod.get("status", {}).get("containerStatuses", [])
    ready = sum(1 for s in statuses if s.get("ready"))
    total = len(pod.get("spec", {}).get("containers", []))
    labels = pod["metadata"].get("labels", {})
    revision = next((labels[k] for k in REVISION_LABELS if k in labels), None)
    if revision and revision == update_revision:
        revision += " (updated)"
    return (pod["metadata"]["name"], f"{ready}/{total}", pod_status(pod),
            sum(int(s.get("restartCount", 0)) for s in statuses),
            pod.get("spec", {}).get("nodeName"), pod.get("status", {}).get("podIP"), revision)


def pod_status(pod: dict[str, Any]) -> str:
    """The STATUS column of ``kubectl get pods``, for the common cases."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status", {})
    for container in status.get("containerStatuses", []):
        state = container.get("state", {})
        reason = (state.get("waiting") or state.get("terminated") or {}).get("reason")
        if reason:
            return str(reason)
    return str(status.get("phase", "Unknown"))


def _explain(args: argparse.Namespace) -> int:
    from kitlib.client.explain import explain

    with cluster_for(args) as cluster:
        print(explain(cluster, args.target, args.namespace))
    return 0


def _capabilities(args: argparse.Namespace) -> int:
    from kitlib.client.capabilities import capabilities

    with cluster_for(args) as cluster:
        print(capabilities(cluster).report())
    return 0


def register(sub: Any) -> None:
    """Add ``status``, ``explain`` and ``capabilities`` to the top-level subparsers ``sub``."""
    status = add_command(sub, "status", _status,
                         help="workloads and nodes, or one workload's rollout",
                         description=STATUS_HELP)
    status.add_argument("workload", nargs="?", help='a workload: "cloneset/web", '
                        '"deployment/web" or a bare name')
    explain = add_command(sub, "explain", _explain, help="what is happening to a workload, "
                          "pod, node or SidecarSet, and why (with the arithmetic)")
    explain.add_argument("target", help='"cloneset/web", "web", "pod/web-x", "node/node-1", '
                         '"sidecarset/mesh"')
    caps = add_command(sub, "capabilities", _capabilities, help="what the cluster offers "
                       "(OpenKruise kinds, budgets, writes) and how to get what it lacks")
    for parser in (status, explain, caps):
        add_cluster_options(parser)
