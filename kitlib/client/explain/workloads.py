"""Explaining a workload's rollout with its controller's own arithmetic.

CloneSet (reference §1.6–1.8): the controller moves ``updateNum`` = min(old pods −
partition, (replicas − partition) − new pods) pods to the update revision, and in one
pass only while the pods already at the update revision that are unavailable stay under
``updateMaxUnavailable`` = maxUnavailable + (pods − replicas). So an updated pod that is
not ready holds every other pod back; ``paused`` stops updates (not scaling); partition
keeps that many pods old by design and — with ``CloneSetPartitionRollback`` off, the
default — raising it never rolls updated pods back.

Deployment (kubernetes.md §4.1): maxSurge rounds up, maxUnavailable rounds down (1 when
both are 0); new pods are added while pods < replicas + maxSurge, old ones removed while
available > replicas − maxUnavailable; ``progressDeadlineSeconds`` turns
``Progressing`` False. StatefulSets: partition, paused (Advanced StatefulSet) and their
pods. The rounding comes from ``kitlib.client.refs.progress``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kitlib.client.explain.budgets import budget_facts, pub_update_block, zero_budget_findings
from kitlib.client.explain.model import Explanation, Finding, merge_by_pod, name_list
from kitlib.client.explain.pods import pod_findings, ready_for
from kitlib.client.explain.read import (
    Reader,
    active,
    condition,
    get_or_none,
    owned_by,
    pods_selected,
)
from kitlib.client.explain.sidecars import sidecar_findings_for_pods
from kitlib.client.refs import Progress, WorkloadRef, progress

__all__ = ["explain_workload", "scaled_text"]

Obj = dict[str, Any]
REVISION_LABEL = "controller-revision-hash"
LIFECYCLE_LABEL = "lifecycle.apps.kruise.io/state"
SPECIFIED_DELETE = "apps.kruise.io/specified-delete"
#: Unavailable pods whose problems are looked into (each may cost an Events read).
MAX_PODS_EXAMINED = 10


def scaled_text(field: str, raw: Any, total: int, value: int, *, round_up: bool,
                default: str | None = None) -> str:
    """``maxUnavailable 10% of 4 rounds up to 1`` (an integer: ``maxUnavailable 2``)."""
    note = ""
    if raw is None and default is not None:
        raw, note = default, " (the default)"
    if isinstance(raw, str) and raw.endswith("%"):
        exact = float(raw[:-1]) * total / 100
        rounded = math.ceil(exact) if round_up else math.floor(exact)
        how = "is" if exact == value else f"rounds {'up' if round_up else 'down'} to"
        text = f"{field} {raw}{note} of {total} {how} {rounded}"
        if rounded != value:  # CloneSet partition: a percentage below 100% leaves one pod
            text += f", and a percentage below 100% keeps at most {value}"
        return text
    return f"{field} {value}{note}"


def _names(pods: list[Obj]) -> str:
    return name_list([p["metadata"]["name"] for p in pods])


def _be(pods: list[Obj]) -> tuple[str, str]:
    return ("is", "it is") if len(pods) == 1 else ("are", "they are")


class _Pods:
    """A workload's active pods, split the way its controller counts them."""

    def __init__(self, reader: Reader, pods: list[Obj], *, updated: Callable[[Obj], bool],
                 available: Callable[[Obj], bool]) -> None:
        self.all = pods
        self.updated = [p for p in pods if updated(p)]
        self.old = [p for p in pods if not updated(p)]
        self.unavailable = [p for p in pods if not available(p)]
        self.down = {p["metadata"]["name"] for p in self.unavailable}
        self.updated_unavailable = [p for p in self.updated if not available(p)]
        self.not_ready = {p["metadata"]["name"] for p in self.unavailable
                          if ready_for(reader, p) is None}


def explain_workload(reader: Reader, ref: WorkloadRef) -> Explanation:
    """The ``Explanation`` of one workload (``ref`` as ``kitlib.client.refs`` resolves it)."""
    obj = get_or_none(reader.cluster, ref.path)
    if obj is None:
        return Explanation(str(ref), "not found", [Finding(
            "not-found", "error", f"{ref} does not exist in namespace {ref.namespace}",
            "check the name and namespace (cluster.namespace)")])
    prog = progress(obj)
    pods = [p for p in _candidate_pods(reader, obj) if _owned(reader, obj, p)]
    findings = _observed(prog) + _conditions(obj)
    explain_kind = {"CloneSet": _cloneset, "Deployment": _deployment}.get(
        prog.kind, _statefulset)
    found, split = explain_kind(reader, obj, prog, pods)
    findings += found
    findings += _pod_problems(reader, obj, split.unavailable)
    findings += sidecar_findings_for_pods(reader, pods)
    findings += [f for f in zero_budget_findings(reader, pods)
                 if not (f.code == "pub-zero" and "pub-blocked" in {g.code for g in findings})]
    if prog.converged and not any(f.rank > 0 or f.code.startswith("partition")
                                  for f in findings):
        findings.append(_converged(prog))
    findings.sort(key=lambda f: -f.rank)
    return Explanation(str(ref), _summary(prog, findings), findings,
                       _facts(reader, prog, split, pods))


def _candidate_pods(reader: Reader, obj: Obj) -> list[Obj]:
    return pods_selected(reader.cluster, obj["metadata"]["namespace"],
                         (obj.get("spec") or {}).get("selector"))


def _owned(reader: Reader, obj: Obj, pod: Obj) -> bool:
    """Whether ``pod`` is an active pod of ``obj`` (through a ReplicaSet for a
    Deployment)."""
    if not active(pod):
        return False
    if obj.get("kind") != "Deployment":
        return owned_by(pod, obj["metadata"]["uid"])
    return any(owned_by(pod, rs["metadata"]["uid"]) for rs in _replicasets(reader, obj))


def _replicasets(reader: Reader, deployment: Obj) -> list[Obj]:
    return [rs for rs in reader.replicasets(deployment["metadata"]["namespace"])
            if owned_by(rs, deployment["metadata"]["uid"])]


# -- common ----------------------------------------------------------------------------------

def _observed(prog: Progress) -> list[Finding]:
    if prog.observed:
        return []
    return [Finding("not-observed", "waiting",
                    f"the controller has not yet acted on generation {prog.generation} of the "
                    f"spec (status is of generation {prog.observed_generation})",
                    "wait a moment; if it stays, check that the controller (kube-controller-"
                    "manager or kruise-manager) is running")]


_FAILURES = {"FailedUpdate": "failed-update", "FailedScale": "failed-scale",
             "ReplicaFailure": "replica-failure"}


def _conditions(obj: Obj) -> list[Finding]:
    found = []
    for cond in (obj.get("status") or {}).get("conditions") or ():
        kind = cond.get("type", "")
        if kind in _FAILURES and cond.get("status") == "True":
            found.append(Finding(_FAILURES[kind], "error",
                                 f"the controller reports {kind}: {cond.get('message', '')}",
                                 "fix what the message names"))
        elif kind == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            deadline = (obj.get("spec") or {}).get("progressDeadlineSeconds")
            found.append(Finding(
                "progress-deadline", "error",
                f"the rollout made no progress for progressDeadlineSeconds {deadline} s: "
                f"{cond.get('message', '')} The controller keeps trying; kubectl rollout "
                "status gives up.",
                "fix the new pods' problem listed here, or roll back (kubectl rollout undo)"))
    return found


def _pod_problems(reader: Reader, obj: Obj, unavailable: list[Obj]) -> list[Finding]:
    """Why the unavailable pods are so (the first ``MAX_PODS_EXAMINED``); pods with the
    same problem share one finding."""
    found = merge_by_pod([(f, pod["metadata"]["name"]) for pod in unavailable[:MAX_PODS_EXAMINED]
                          for f in pod_findings(reader, pod, owner=obj)])
    rest = len(unavailable) - MAX_PODS_EXAMINED
    if rest > 0:
        found.append(Finding("more-pods", "info", f"{rest} more unavailable pod"
                             f"{'s' if rest != 1 else ''} not examined (explain them one by "
                             "one)"))
    return found


def _converged(prog: Progress) -> Finding:
    revision = f" run revision {prog.update_revision} and" if prog.update_revision else ""
    return Finding("converged", "info",
                   f"nothing to do: all {prog.replicas} pods{revision} are available")


def _summary(prog: Progress, findings: list[Finding]) -> str:
    counts = (f"{prog.updated} of {prog.replicas} pods updated, {prog.available} available")
    top = findings[0] if findings else None
    if top is None or top.code == "converged":
        return f"converged ({counts}); nothing to do"
    return f"{counts}; {top.message}"


def _facts(reader: Reader, prog: Progress, split: _Pods, pods: list[Obj]) -> dict[str, Any]:
    return {"kind": prog.kind, "replicas": prog.replicas, "pods": len(pods),
            "updated": prog.updated, "ready": prog.ready, "available": prog.available,
            "updated_ready": prog.updated_ready, "max_unavailable": prog.max_unavailable,
            "max_surge": prog.max_surge, "partition": prog.partition, "paused": prog.paused,
            "update_revision": prog.update_revision,
            "current_revision": prog.current_revision,
            "unavailable_pods": [p["metadata"]["name"] for p in split.unavailable],
            "budgets": budget_facts(reader, pods)}


# -- CloneSet --------------------------------------------------------------------------------

def _cloneset(reader: Reader, cs: Obj, prog: Progress, pods: list[Obj]
              ) -> tuple[list[Finding], _Pods]:
    spec = cs.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    min_ready = float(spec.get("minReadySeconds") or 0)
    revision = prog.update_revision

    def updated(pod: Obj) -> bool:
        label = (pod["metadata"].get("labels") or {}).get(REVISION_LABEL, "")
        return label == revision or label.rsplit("-", 1)[-1] == revision.rsplit("-", 1)[-1]

    def available(pod: Obj) -> bool:
        labels = pod["metadata"].get("labels") or {}
        in_place = condition(pod, "InPlaceUpdateReady")
        since = ready_for(reader, pod)
        return (labels.get(LIFECYCLE_LABEL, "Normal") in ("", "Normal")
                and (pod.get("status") or {}).get("phase") == "Running"
                and (in_place is None or in_place.get("status") == "True")
                and since is not None and since >= min_ready)

    split = _Pods(reader, pods, updated=updated, available=available)
    wanted_new = prog.replicas - prog.partition
    update_num = min(max(len(split.old) - prog.partition, 0),
                     max(wanted_new - len(split.updated), 0))
    found = _partition_findings(prog, split, strategy.get("partition"), cs)
    if update_num > 0 and prog.paused:
        found.append(Finding(
            "paused", "blocked",
            f"updateStrategy.paused is true: {update_num} more pod(s) should move to revision "
            f"{revision}, but no pod is updated until it is resumed (scaling still happens)",
            "set spec.updateStrategy.paused to false (cluster.resume)"))
    elif update_num > 0:
        budget = prog.max_unavailable + len(pods) - prog.replicas
        found += _cloneset_budget(reader, prog, split, strategy, budget, update_num)
    return found, split


def _partition_findings(prog: Progress, split: _Pods, raw: Any, obj: Obj) -> list[Finding]:
    found = []
    if prog.partition and len(split.old) >= prog.partition and \
            len(split.updated) >= prog.replicas - prog.partition:
        text = scaled_text("partition", raw, prog.replicas, prog.partition, round_up=True)
        found.append(Finding(
            "partition", "info",
            f"{text} keeps {prog.partition} pod{'s' if prog.partition != 1 else ''} on the "
            f"old revision by design ({len(split.updated)} of {prog.replicas} updated)",
            "lower the partition (cluster.set_partition) to update more pods"))
    if len(split.updated) > prog.replicas - prog.partition and \
            prog.current_revision != prog.update_revision and obj.get("kind") == "CloneSet":
        found.append(Finding(
            "partition-no-rollback", "info",
            f"raising partition does not roll pods back unless CloneSetPartitionRollback is "
            f"on: partition {prog.partition} asks for {prog.partition} old pods, "
            f"{len(split.old)} are old, and the {len(split.updated)} updated pods stay updated",
            "to roll pods back, restore the old template (cluster.undo), or run kruise-"
            "manager with --feature-gates=CloneSetPartitionRollback=true"))
    return found


def _cloneset_budget(reader: Reader, prog: Progress, split: _Pods, strategy: Obj,
                     budget: int, update_num: int) -> list[Finding]:
    text = scaled_text("maxUnavailable", strategy.get("maxUnavailable"), prog.replicas,
                       prog.max_unavailable, round_up=prog.max_surge == 0, default="20%")
    surge = len(split.all) - prog.replicas
    if surge > 0:
        text += f" (+{surge} surge pod{'s' if surge != 1 else ''} = {budget})"
    chosen = _limit_update(split, budget, update_num)
    taken_down = [p for p in chosen if p["metadata"]["name"] not in split.down]
    in_flight = split.updated_unavailable + [p for p in chosen
                                             if p["metadata"]["name"] in split.down]
    holders = in_flight if not taken_down and len(in_flight) >= budget else \
        split.unavailable if not chosen else []
    if holders:
        verb, pronoun = _be(holders)
        state = "not ready" if any(p["metadata"]["name"] in split.not_ready
                                   for p in holders) else "not yet available"
        return [Finding("max-unavailable", "waiting",
                        f"{text}; {_names(holders)} {verb} {state}, so no other pod is updated "
                        f"until {pronoun}",
                        "fix or wait for the pods named; raise maxUnavailable to update more "
                        "pods at once")]
    return _pub_update(reader, split) or [Finding(
        "updating", "waiting",
        f"{text}: {len(split.updated)} of {prog.replicas - prog.partition} pods updated; the "
        f"controller takes {_names(taken_down) or 'no available pod'} down next")]


def _limit_update(split: _Pods, budget: int, update_num: int) -> list[Obj]:
    """The old pods upstream's ``limitUpdateIndexes`` lets the controller update now
    (unavailable ones first: they cost no budget)."""
    unavailable, busy = len(split.unavailable), len(split.updated_unavailable)
    chosen: list[Obj] = []
    ordered = sorted(split.old, key=lambda p: p["metadata"]["name"] not in split.down)
    for pod in ordered[:update_num]:
        if busy + len(chosen) >= budget:
            break
        if pod["metadata"]["name"] not in split.down:
            if unavailable >= budget:
                break
            unavailable += 1
        chosen.append(pod)
    return chosen


def _pub_update(reader: Reader, split: _Pods) -> list[Finding]:
    """A PUB at zero while the update budget has room: the next update is refused."""
    marked = [p for p in split.old if SPECIFIED_DELETE in (p["metadata"].get("labels") or {})]
    what = "the rollout" + (f" (which marked {_names(marked)} for recreate, "
                            f"{SPECIFIED_DELETE})" if marked else "")
    blocked = pub_update_block(reader, split.old, what)
    return [blocked] if blocked else []


# -- Deployment ------------------------------------------------------------------------------

def _deployment(reader: Reader, dep: Obj, prog: Progress, pods: list[Obj]
                ) -> tuple[list[Finding], _Pods]:
    spec = dep.get("spec") or {}
    min_ready = float(spec.get("minReadySeconds") or 0)
    new_rs = max(_replicasets(reader, dep), default=None, key=lambda rs: int(
        (rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0)))
    new_uid = new_rs["metadata"]["uid"] if new_rs else ""

    def available(pod: Obj) -> bool:
        since = ready_for(reader, pod)
        return since is not None and since >= min_ready

    split = _Pods(reader, pods, updated=lambda p: owned_by(p, new_uid), available=available)
    if prog.updated >= prog.replicas and len(pods) <= prog.replicas:
        return [], split
    if prog.paused:
        return [Finding("paused", "blocked",
                        f"spec.paused is true: {prog.replicas - prog.updated} pod(s) still run "
                        "the old template and nothing is rolled out until it is resumed",
                        "set spec.paused to false (cluster.resume)")], split
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        return [Finding("recreate", "waiting",
                        f"strategy Recreate: every old pod is deleted before new ones start; "
                        f"{prog.updated} of {prog.replicas} new pods so far, "
                        f"{len(pods) - len(split.unavailable)} available")], split
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    text = (scaled_text("maxSurge", rolling.get("maxSurge"), prog.replicas, prog.max_surge,
                        round_up=True, default="25%") + " and " +
            scaled_text("maxUnavailable", rolling.get("maxUnavailable"), prog.replicas,
                        prog.max_unavailable, round_up=False, default="25%"))
    available_now = len(pods) - len(split.unavailable)
    floor = prog.replicas - prog.max_unavailable
    if len(pods) >= prog.replicas + prog.max_surge and available_now <= floor and \
            split.updated_unavailable:
        verb = _be(split.updated_unavailable)[0]
        return [Finding("max-unavailable", "waiting",
                        f"{text}: {len(pods)} pods exist (at most {prog.replicas + prog.max_surge})"
                        f" and {available_now} are available (at least {floor} must be), so no "
                        f"pod is added or removed until {_names(split.updated_unavailable)} "
                        f"{verb} available", "fix or wait for the new pods named")], split
    return [Finding("updating", "waiting",
                    f"{text}: {prog.updated} of {prog.replicas} pods updated, "
                    f"{available_now} available")], split


# -- StatefulSet -----------------------------------------------------------------------------

def _statefulset(reader: Reader, sts: Obj, prog: Progress, pods: list[Obj]
                 ) -> tuple[list[Finding], _Pods]:
    revision = prog.update_revision
    min_ready = float((sts.get("spec") or {}).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        since = ready_for(reader, pod)
        return since is not None and since >= min_ready

    split = _Pods(reader, pods, available=available, updated=lambda p: (
        p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision)
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    found = _partition_findings(prog, split, rolling.get("partition"), sts)
    if prog.paused and len(split.updated) < prog.target_updated:
        found.append(Finding("paused", "blocked", "rollingUpdate.paused is true: no pod is "
                             "updated until it is resumed",
                             "set spec.updateStrategy.rollingUpdate.paused to false"))
    return found, split
