"""``explain``: what is happening to a workload, pod, node or SidecarSet, and why.

OpenKruise users ask most about rollouts that look stuck, partitions that do not move,
sidecars that do not upgrade and evictions that are refused (openkruise.md §7). ``explain``
reads what the controllers read — spec, status, pods, PodDisruptionBudgets,
PodUnavailableBudgets and SidecarSets where served, conditions and Events — through the
Kubernetes API only, and redoes the controllers' arithmetic (the rounding from
``kitlib.client.refs.progress``) to say what the controller will do next and what holds
it, with the numbers:

>>> print(explain(cluster, "cloneset/web"))  # doctest: +SKIP
cloneset/web: 1 of 4 pods updated, 3 available; container app of pod web-x cannot pull …
  [error] container app of pod web-x cannot pull example.com/web:typo: ImagePullBackOff
          (…); it still runs example.com/web:v1, so its in-place update cannot finish
      → fix the image reference example.com/web:typo (name, tag, registry, pull secret); …
  [waiting] maxUnavailable 10% of 4 rounds up to 1; web-x is not ready, so no other pod is
            updated until it is

Targets: a workload as ``kitlib.client.refs.resolve`` names it (``"cloneset/web"``,
``"deployment/x"``, bare ``"web"``), ``"pod/<name>"``, ``"node/<name>"``,
``"sidecarset/<name>"``, or the object itself (a dict). Nothing is written: budgets are
judged from their status, so explaining never evicts or updates anything. The same code
runs against a real cluster; kinds it does not serve are skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitlib.client.explain.budgets import eviction_finding
from kitlib.client.explain.model import SEVERITIES, Explanation, Finding, Severity
from kitlib.client.explain.nodes import explain_node
from kitlib.client.explain.pods import pod_findings
from kitlib.client.explain.read import Reader, get_or_none
from kitlib.client.explain.sidecars import explain_sidecarset, sidecar_findings_for_pods
from kitlib.client.explain.workloads import explain_workload
from kitlib.client.refs import resolve

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["SEVERITIES", "Explanation", "Finding", "Severity", "explain"]

_Obj = dict[str, Any]
_POD = ("pod", "pods", "po")
_NODE = ("node", "nodes", "no")
_SIDECARSET = ("sidecarset", "sidecarsets", "sidecarsets.apps.kruise.io")


def explain(cluster: Cluster, target: str | _Obj, namespace: str | None = None) -> Explanation:
    """Say what is happening to ``target`` and why, with the arithmetic.

    Args:
        cluster: the ``Cluster`` handle (embedded or real).
        target: ``"cloneset/web"``, ``"deployment/x"``, ``"web"`` (a workload by bare
            name), ``"pod/web-abc"``, ``"node/node-1"``, ``"sidecarset/mesh"``, or such an
            object as a dict.
        namespace: where to look for namespaced targets (default: the handle's namespace,
            or the object's own).

    Returns:
        An ``Explanation``: a one-sentence summary and the findings, worst first, each
        with its arithmetic and what to change. ``str()`` gives plain text; notebooks
        render it as HTML.

    Raises:
        kitlib.errors.NotFound: a bare name that names no workload.
        kitlib.errors.Invalid: an unknown kind, or a bare name that names several workloads.
    """
    reader = Reader(cluster)
    kind, name, ns = _parse(cluster, target, namespace)
    if kind in _POD:
        return _explain_pod(reader, name, ns)
    if kind in _NODE:
        return explain_node(reader, name)
    if kind in _SIDECARSET:
        return explain_sidecarset(reader, name)
    return explain_workload(reader, resolve(cluster, target, ns))


def _parse(cluster: Cluster, target: str | _Obj, namespace: str | None) -> tuple[str, str, str]:
    if isinstance(target, dict):
        meta = target.get("metadata") or {}
        return (str(target.get("kind", "")).lower(), meta.get("name", ""),
                namespace or meta.get("namespace") or cluster.namespace)
    kind, _, name = target.rpartition("/")
    return kind.lower(), name, namespace or cluster.namespace


def _explain_pod(reader: Reader, name: str, namespace: str) -> Explanation:
    target = f"pod/{name}"
    pod = get_or_none(reader.cluster, f"/api/v1/namespaces/{namespace}/pods/{name}")
    if pod is None:
        return Explanation(target, "not found", [Finding(
            "not-found", "error", f"pod {name} does not exist in namespace {namespace}",
            "check the name and namespace; a replaced pod gets a new name")])
    owner = _owner(reader, pod)
    findings = pod_findings(reader, pod, owner=owner)
    findings += sidecar_findings_for_pods(reader, [pod])
    refusal = eviction_finding(reader, pod)
    findings += [refusal] if refusal else []
    if not findings:
        findings.append(Finding("running", "info", f"pod {name} is running and ready on "
                                f"{pod['spec'].get('nodeName')}: nothing to do"))
    findings.sort(key=lambda f: -f.rank)
    facts = {"phase": (pod.get("status") or {}).get("phase"),
             "node": pod["spec"].get("nodeName"),
             "owner": f"{owner['kind']}/{owner['metadata']['name']}" if owner else None,
             "restarts": sum(int(c.get("restartCount") or 0) for c in
                             (pod.get("status") or {}).get("containerStatuses") or ())}
    return Explanation(target, findings[0].message, findings, facts)


def _owner(reader: Reader, pod: _Obj) -> _Obj | None:
    ref = next((r for r in pod["metadata"].get("ownerReferences") or ()
                if r.get("controller")), None)
    return reader.owner(pod["metadata"]["namespace"], ref) if ref else None
