"""Disruption budgets: what a PodDisruptionBudget or a PodUnavailableBudget allows now.

The eviction check is upstream's (``pkg/registry/core/pod/storage/eviction.go``): a
Pending, finished or deleting pod is evicted without a budget; several PDBs on one pod
refuse every eviction; one PDB refuses when ``disruptionsAllowed`` is 0 (unless the pod
is not ready and the budget is healthy anyway, or its ``unhealthyPodEvictionPolicy`` is
``AlwaysAllow``), with the message kubectl shows ("needs N healthy pods and has M
currently"). A PodUnavailableBudget (OpenKruise) also guards
DELETE and — with ``PodUnavailableBudgetUpdateGate`` — in-place updates: it refuses to
make a ready pod unavailable when ``unavailableAllowed`` is 0. All of it is read from the
budgets' status, so explaining never evicts anything.
"""

from __future__ import annotations

from typing import Any

from kitlib.client.explain.model import Finding, Severity
from kitlib.client.explain.read import Reader, ready_since, selects

__all__ = ["budget_facts", "eviction_finding", "pdb_text", "pub_text", "pub_update_block",
           "pubs_of", "zero_budget_findings"]

Obj = dict[str, Any]


def pdb_text(pdb: Obj) -> str:
    """``PDB web allows 0 disruptions (needs 3 healthy, has 3)``."""
    s = pdb.get("status") or {}
    allowed = int(s.get("disruptionsAllowed") or 0)
    return (f"PDB {pdb['metadata']['name']} allows {allowed} "
            f"disruption{'' if allowed == 1 else 's'} (needs {s.get('desiredHealthy', 0)} "
            f"healthy, has {s.get('currentHealthy', 0)})")


def pub_text(pub: Obj) -> str:
    """``PodUnavailableBudget web allows 0 unavailable pods (desires 4 available, has 4)``."""
    s = pub.get("status") or {}
    allowed = int(s.get("unavailableAllowed") or 0)
    return (f"PodUnavailableBudget {pub['metadata']['name']} allows {allowed} unavailable "
            f"pod{'' if allowed == 1 else 's'} (desires {s.get('desiredAvailable', 0)} "
            f"available, has {s.get('currentAvailable', 0)})")


def _pdb_hint(pdb: Obj) -> str:
    return (f"wait until more pods are healthy, or loosen PDB {pdb['metadata']['name']} "
            "(raise maxUnavailable or lower minAvailable); a budget that never allows a "
            "disruption blocks every drain")


def _pub_hint(pub: Obj) -> str:
    return (f"wait until more pods are available, or loosen PodUnavailableBudget "
            f"{pub['metadata']['name']} (raise maxUnavailable or lower minAvailable)")


def pdbs_of(reader: Reader, pod: Obj) -> list[Obj]:
    """The PDBs whose selector matches ``pod``."""
    return [p for p in reader.pdbs(pod["metadata"]["namespace"])
            if selects((p.get("spec") or {}).get("selector"), pod)]


def pubs_of(reader: Reader, pod: Obj) -> list[Obj]:
    """The PodUnavailableBudgets protecting ``pod`` (its related-pub annotation, or the
    selector)."""
    related = (pod["metadata"].get("annotations") or {}).get("pub.kruise.io/related-pub")
    return [p for p in reader.pubs(pod["metadata"]["namespace"])
            if p["metadata"]["name"] == related
            or selects((p.get("spec") or {}).get("selector"), pod)]


def eviction_finding(reader: Reader, pod: Obj, *, refused: Severity = "blocked"
                     ) -> Finding | None:
    """What evicting ``pod`` now would meet: a refusal (``refused`` severity), or None
    when it would be allowed."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Pending", "Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
        return None
    name = pod["metadata"]["name"]
    pdbs = pdbs_of(reader, pod)
    if len(pdbs) > 1:
        names = ", ".join(p["metadata"]["name"] for p in pdbs)
        return Finding("eviction-refused", "error",
                       f"eviction of pod {name} refused: it matches {len(pdbs)} "
                       f"PodDisruptionBudgets ({names}), which the Eviction API does not "
                       "support", "make the PDBs' selectors disjoint")
    for pdb in pdbs:
        finding = _pdb_refusal(pdb, pod, refused)
        if finding is not None:
            return finding
    return _pub_refusal(reader, pod, refused)


def _pdb_refusal(pdb: Obj, pod: Obj, refused: Severity) -> Finding | None:
    s = pdb.get("status") or {}
    healthy, desired = int(s.get("currentHealthy") or 0), int(s.get("desiredHealthy") or 0)
    always = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
    if ready_since(pod) is None and (always or healthy >= desired > 0):
        return None
    if int(s.get("disruptionsAllowed") or 0) > 0:
        return None
    return Finding("eviction-refused", refused,
                   f"eviction of pod {pod['metadata']['name']} refused: {pdb_text(pdb)}",
                   _pdb_hint(pdb))


def _pub_refusal(reader: Reader, pod: Obj, refused: Severity) -> Finding | None:
    if ready_since(pod) is None:
        return None
    for pub in pubs_of(reader, pod)[:1]:
        if _pub_at_zero(pub):
            return Finding("eviction-refused", refused,
                           f"eviction or deletion of pod {pod['metadata']['name']} refused: "
                           f"{pub_text(pub)}", _pub_hint(pub))
    return None


def zero_budget_findings(reader: Reader, pods: list[Obj]) -> list[Finding]:
    """Budgets over ``pods`` that allow no disruption now (one finding per budget)."""
    found: dict[str, Finding] = {}
    for pod in pods:
        for pdb in pdbs_of(reader, pod):
            if int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) <= 0:
                found.setdefault("pdb/" + pdb["metadata"]["name"], Finding(
                    "pdb-zero", "info", f"evictions refused: {pdb_text(pdb)}; drains of "
                    "nodes running these pods wait", _pdb_hint(pdb)))
        for pub in pubs_of(reader, pod):
            if _pub_at_zero(pub):
                found.setdefault("pub/" + pub["metadata"]["name"], Finding(
                    "pub-zero", "info", f"deletions and evictions refused: {pub_text(pub)}",
                    _pub_hint(pub)))
    return list(found.values())


def budget_facts(reader: Reader, pods: list[Obj]) -> dict[str, Any]:
    """The budgets over ``pods``, by kind and name, with their status numbers."""
    facts: dict[str, Any] = {}
    for pod in pods:
        for pdb in pdbs_of(reader, pod):
            facts.setdefault(f"pdb/{pdb['metadata']['name']}", dict(pdb.get("status") or {}))
        for pub in pubs_of(reader, pod):
            facts.setdefault(f"pub/{pub['metadata']['name']}", dict(pub.get("status") or {}))
    for value in facts.values():
        value.pop("conditions", None)
    return facts


def _pub_at_zero(pub: Obj) -> bool:
    s = pub.get("status") or {}
    return int(s.get("desiredAvailable") or 0) > 0 and int(s.get("unavailableAllowed") or 0) <= 0


def pub_update_block(reader: Reader, pods: list[Obj], what: str) -> Finding | None:
    """The refusal a PodUnavailableBudget at zero gives to the next pod of ``pods`` that
    ``what`` (``"the rollout"``, ``"the SidecarSet mesh"``) would take down, or None."""
    for pod in pods:
        for pub in pubs_of(reader, pod)[:1]:
            if _pub_at_zero(pub):
                return Finding(
                    "pub-blocked", "blocked",
                    f"update refused: {pub_text(pub)}, so {what} cannot take another pod "
                    "down (a PodUnavailableBudget guards deletions, and in-place updates "
                    "when kruise-manager runs with PodUnavailableBudgetUpdateGate)",
                    f"loosen PodUnavailableBudget {pub['metadata']['name']} (raise "
                    "maxUnavailable or lower minAvailable) or wait until more pods are "
                    "available")
    return None
