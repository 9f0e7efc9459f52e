"""Why a SidecarSet's sidecars do (or do not) upgrade in running pods (reference §2.4).

A pod is updated for a SidecarSet when the hash recorded in its
``kruise.io/sidecarset-hash`` annotation equals the SidecarSet's. Only images are ever
changed in a running pod: when the SidecarSet's hash *without images* differs from the
pod's, some other field changed, the pod is "not upgradable" (condition
``SidecarSetUpgradable=False``) and keeps its old sidecar until it is recreated. The
others are upgraded unless the SidecarSet is paused or ``NotUpdate``, ``partition``
keeps that many pods old, at most ``maxUnavailable`` (default 1) upgraded pods may be
not ready or not yet running their new image at once, and a PodUnavailableBudget at zero
refuses the in-place update.
"""

from __future__ import annotations

from typing import Any

import orjson

from kitlib.client.explain.budgets import pub_update_block
from kitlib.client.explain.model import Explanation, Finding, name_list
from kitlib.client.explain.pods import same_image
from kitlib.client.explain.read import (
    KRUISE_API,
    Reader,
    get_or_none,
    list_items,
    ready_since,
    selects,
)
from kitlib.model.intstr import scaled_value

__all__ = ["explain_sidecarset", "sidecar_findings_for_pods", "sidecarset_findings"]

Obj = dict[str, Any]
HASH = "kruise.io/sidecarset-hash"
HASH_WITHOUT_IMAGE = "kruise.io/sidecarset-hash-without-image"
INJECTED = "kruise.io/sidecarset-injected-list"


def _pod_hash(pod: Obj, annotation: str, sidecarset: str) -> str | None:
    text = (pod["metadata"].get("annotations") or {}).get(annotation)
    try:
        entry = orjson.loads(text).get(sidecarset) if text else None
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return entry.get("hash") if isinstance(entry, dict) else None


def injected(pod: Obj) -> list[str]:
    """The SidecarSets injected into ``pod``."""
    text = (pod["metadata"].get("annotations") or {}).get(INJECTED, "")
    return [name for name in text.split(",") if name]


def sidecar_findings_for_pods(reader: Reader, pods: list[Obj]) -> list[Finding]:
    """Findings of every SidecarSet injected into ``pods``, about those pods."""
    names = {name for pod in pods for name in injected(pod)}
    found: list[Finding] = []
    for ss in reader.sidecarsets():
        if ss["metadata"]["name"] in names:
            found += sidecarset_findings(reader, ss, [
                p for p in pods if ss["metadata"]["name"] in injected(p)])
    return found


def explain_sidecarset(reader: Reader, name: str) -> Explanation:
    """The ``Explanation`` of the SidecarSet ``name`` over all the pods it was injected
    into."""
    ss = get_or_none(reader.cluster, f"/apis/{KRUISE_API}/sidecarsets/{name}")
    target = f"sidecarset/{name}"
    if ss is None:
        return Explanation(target, "not found", [Finding(
            "not-found", "error", f"SidecarSet {name} does not exist (or OpenKruise is not "
            "installed)", "check the name; kubectl get sidecarsets")])
    spec = ss.get("spec") or {}
    path = f"/api/v1/namespaces/{spec['namespace']}/pods" if spec.get("namespace") \
        else "/api/v1/pods"
    pods = [p for p in list_items(reader.cluster, path)
            if selects(spec.get("selector"), p) and name in injected(p)]
    findings = sidecarset_findings(reader, ss, pods) or [Finding(
        "converged", "info", f"nothing to do: all {len(pods)} pods run the SidecarSet's "
        "current sidecars")]
    findings.sort(key=lambda f: -f.rank)
    status = ss.get("status") or {}
    facts = {k: status.get(k, 0) for k in ("matchedPods", "updatedPods", "readyPods",
                                            "updatedReadyPods")}
    summary = (f"{facts['updatedPods']} of {facts['matchedPods']} pods have the current "
               f"sidecars; {findings[0].message}")
    return Explanation(target, summary, findings, facts)


def sidecarset_findings(reader: Reader, ss: Obj, pods: list[Obj]) -> list[Finding]:
    """Why ``pods`` (into which ``ss`` was injected) do or do not get its sidecars."""
    name = ss["metadata"]["name"]
    annotations = ss["metadata"].get("annotations") or {}
    current = annotations.get(HASH)
    if not current:
        return []
    updated = [p for p in pods if _pod_hash(p, HASH, name) == current]
    old = [p for p in pods if _pod_hash(p, HASH, name) != current]
    same_fields = annotations.get(HASH_WITHOUT_IMAGE)
    frozen = [p for p in old if _pod_hash(p, HASH_WITHOUT_IMAGE, name) != same_fields]
    upgradable = [p for p in old if _pod_hash(p, HASH_WITHOUT_IMAGE, name) == same_fields]
    found = [_immutable(name, frozen)] if frozen else []
    if upgradable:
        found.append(_next_step(reader, ss, updated, upgradable))
    return found


def _immutable(name: str, pods: list[Obj]) -> Finding:
    listed = name_list([p["metadata"]["name"] for p in pods])
    return Finding(
        "sidecar-not-upgradable", "blocked",
        f"the SidecarSet {name} changed a field other than image, so running pods are not "
        f"upgraded: {len(pods)} pod{'s' if len(pods) != 1 else ''} ({listed}) "
        f"keep{'s' if len(pods) == 1 else ''} the old sidecar (condition "
        "SidecarSetUpgradable=False)",
        "recreate those pods to get the new sidecar (delete them, or roll out their "
        "workload with a recreate); change only images to upgrade in place")


def _next_step(reader: Reader, ss: Obj, updated: list[Obj], upgradable: list[Obj]
               ) -> Finding:
    """What happens next to the pods that only need new images (upstream
    ``GetNextUpgradePods``/``calculateUpgradeCount``)."""
    name = ss["metadata"]["name"]
    strategy = (ss.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type") == "NotUpdate":
        return Finding("sidecar-not-update", "info",
                       f"updateStrategy.type NotUpdate: the SidecarSet {name} upgrades no "
                       f"running pod by design ({len(upgradable)} keep the old sidecar)",
                       "set updateStrategy.type to RollingUpdate to upgrade them")
    if strategy.get("paused"):
        return Finding("sidecar-paused", "blocked",
                       f"the SidecarSet {name} is paused: {len(upgradable)} pod(s) keep the old "
                       "sidecar until it is resumed",
                       "set spec.updateStrategy.paused to false")
    matched = int((ss.get("status") or {}).get("matchedPods") or
                  len(updated) + len(upgradable))
    waiting = matched - int((ss.get("status") or {}).get("updatedPods") or 0)
    partition = scaled_value(strategy.get("partition"), matched, round_up=True)
    if partition and waiting <= partition:
        return Finding("sidecar-partition", "info",
                       f"partition {strategy['partition']} keeps {partition} pod(s) on the "
                       f"old sidecar of {name} by design", "lower updateStrategy.partition")
    budget = scaled_value(strategy.get("maxUnavailable"), matched, round_up=True, default=1)
    busy = [p for p in updated if not _sidecar_ready(p, ss)]
    if len(busy) >= budget:
        return Finding("sidecar-max-unavailable", "waiting",
                       f"maxUnavailable {budget} of the SidecarSet {name}: "
                       f"{name_list([p['metadata']['name'] for p in busy])} "
                       f"{'is' if len(busy) == 1 else 'are'} upgrading or not ready, so no "
                       "other pod is upgraded until then")
    return pub_update_block(reader, upgradable, f"the SidecarSet {name}") or Finding(
        "sidecar-upgrading", "waiting",
        f"the SidecarSet {name} is upgrading: {len(upgradable)} pod(s) still run the old "
        f"sidecar, up to {budget} at a time")


def _sidecar_ready(pod: Obj, ss: Obj) -> bool:
    """Ready, and every sidecar container already runs its spec image."""
    if ready_since(pod) is None:
        return False
    names = {c.get("name") for c in (ss.get("spec") or {}).get("containers") or ()}
    spec = {c["name"]: c.get("image", "") for c in pod["spec"]["containers"]}
    return all(same_image(s.get("image", ""), spec.get(s["name"], ""))
               for s in (pod.get("status") or {}).get("containerStatuses") or ()
               if s["name"] in names or s["name"].rsplit("-", 1)[0] in names)
