"""Explaining a node: can it run pods, will its pods be evicted, would a drain pass.

Ready=False/Unknown comes from the kubelet or, when it stops posting, from the node
lifecycle controller (``NodeStatusUnknown`` "Kubelet stopped posting node status"), which
then taints the node ``NoExecute`` so its pods are evicted after their
``tolerationSeconds`` (300 s by default). ``spec.unschedulable`` (cordon) only keeps new
pods away. A drain evicts through the Eviction API, so each pod's budget is checked as
``explain(pod)`` does.
"""

from __future__ import annotations

from typing import Any

from kitlib.client.explain.budgets import eviction_finding
from kitlib.client.explain.model import Explanation, Finding, merge_by_pod
from kitlib.client.explain.pods import node_problem
from kitlib.client.explain.read import Reader, active, condition, list_items

__all__ = ["explain_node"]

Obj = dict[str, Any]
PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure")


def explain_node(reader: Reader, name: str) -> Explanation:
    """The ``Explanation`` of the node ``name``."""
    node = reader.node(name)
    target = f"node/{name}"
    if node is None:
        return Explanation(target, "not found", [Finding(
            "not-found", "error", f"node {name} does not exist", "kubectl get nodes")])
    pods = [p for p in list_items(reader.cluster, "/api/v1/pods",
                                  fieldSelector=f"spec.nodeName={name}") if active(p)]
    findings = _health(node) + _pressure(node) + _cordon(node) + _taints(node)
    findings += _drain(reader, name, pods)
    if not findings:
        findings.append(Finding("healthy", "info", f"node {name} is Ready and schedulable, "
                                f"running {len(pods)} pods: nothing to do"))
    findings.sort(key=lambda f: -f.rank)
    facts = {"pods": len(pods), "unschedulable": bool(node["spec"].get("unschedulable")),
             "ready": (condition(node, "Ready") or {}).get("status"),
             "taints": [f"{t['key']}:{t['effect']}" for t in node["spec"].get("taints") or ()]}
    return Explanation(target, findings[0].message, findings, facts)


def _health(node: Obj) -> list[Finding]:
    problem = node_problem(node)
    if problem is None:
        return []
    name = node["metadata"]["name"]
    return [Finding("node-not-ready", "error",
                    f"node {name} is {problem}: no pod starts there, and once its NoExecute "
                    "taint outlasts a pod's toleration (300 s by default) the pod is evicted "
                    "and its controller replaces it elsewhere",
                    "bring the node's kubelet back (or remove the node)")]


def _pressure(node: Obj) -> list[Finding]:
    return [Finding("node-pressure", "blocked",
                    f"node {node['metadata']['name']} reports {kind}: {c.get('message', '')}",
                    "free the resource on the node")
            for kind in PRESSURES if (c := condition(node, kind) or {}).get("status") == "True"]


def _cordon(node: Obj) -> list[Finding]:
    if not node["spec"].get("unschedulable"):
        return []
    return [Finding("cordoned", "info",
                    f"node {node['metadata']['name']} is cordoned (spec.unschedulable): no new "
                    "pod is scheduled there; running pods stay",
                    "uncordon it (cluster.uncordon) when it may take pods again")]


def _taints(node: Obj) -> list[Finding]:
    found = []
    for taint in node["spec"].get("taints") or ():
        if taint.get("key") == "node.kubernetes.io/unschedulable":
            continue
        effect = taint.get("effect")
        what = ("pods without a matching toleration are evicted" if effect == "NoExecute"
                else "new pods without a matching toleration are not scheduled here")
        found.append(Finding("taint", "info",
                             f"node {node['metadata']['name']} has taint "
                             f"{taint.get('key')}:{effect}: {what}"))
    return found


def _drain(reader: Reader, name: str, pods: list[Obj]) -> list[Finding]:
    refusals = [(f, p["metadata"]["name"]) for p in pods
                if (f := eviction_finding(reader, p, refused="info")) is not None]
    return [Finding(f.code, f.severity, f"draining {name} would wait: {f.message}", f.hint)
            for f in merge_by_pod(refusals)]
