"""Rehearsals: run an operation on a twin's cluster, step by step, and predict its outcome.

Each rehearsal samples every workload (``kitlib.twin.state.Tracker``) before the
operation and after every step of cluster time, and returns a ``Prediction``:

* ``drain`` runs ``kitlib.client.drain.drain`` itself (kubectl's filters, evictions
  through the Eviction API, 5 s retries of refused ones, 1 s polls), seeing the twin's
  cluster through a thin wrapper whose ``sleep`` samples after stepping. A drain whose
  remaining pods are all refused **while the twin is at rest** (every workload
  converged, for a full retry period) is stopped at once as blocked: in a cluster at
  rest, nothing will make a budget allow what it refuses now, so waiting out the
  timeout would only repeat the refusal. Once every pod is evicted, the rehearsal
  steps on until every workload has converged again.
* ``node_failure`` takes the node down (``kitlib.client.faults.fail_node``: its kubelet
  and containers stop) and steps until every pod it ran (DaemonSet pods
  aside) is gone or terminating and every workload converged again — the node
  lifecycle controller's grace period and the pods' ``tolerationSeconds`` included.
* ``rollout`` changes a workload's images and update strategy in one PATCH
  (``kitlib.client.workloads.rollout``) and steps until every workload has converged.

The convergence time is measured to the step (1 s for drains and rollouts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from kitlib.client.drain import POLL_INTERVAL, RETRY_DELAY, DrainError, DrainEvent, DrainResult
from kitlib.client.drain import drain as client_drain
from kitlib.client.faults import fail_node
from kitlib.client.raw import get_json
from kitlib.client.workloads import IntOrPercent
from kitlib.client.workloads import rollout as client_rollout
from kitlib.model.errors import NotFound
from kitlib.twin.prediction import BlockedEviction, Prediction, count
from kitlib.twin.state import PodInfo, Tracker, list_pods, pending_pod_reasons

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["drain", "node_failure", "rollout"]

Kinds = tuple[tuple[str, str], ...]
_BUDGET_REFUSAL = re.compile(r"The disruption budget (\S+) needs (\d+) healthy pods? and has "
                             r"(\d+) currently")


class _Blocked(Exception):
    """Raised from inside a drain's sleep to stop a drain that cannot progress."""


class _Stepping:
    """The twin's ``Cluster`` as an operation sees it: each ``sleep`` is followed by
    ``after_sleep()`` (which samples, and may stop the operation by raising)."""

    def __init__(self, cluster: Cluster, after_sleep: Callable[[], None]) -> None:
        self._cluster = cluster
        self._after_sleep = after_sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)

    def sleep(self, seconds: float) -> None:
        self._cluster.sleep(seconds)
        self._after_sleep()


# -- drain ---------------------------------------------------------------------------------

@dataclass
class _DrainLog:
    """What the drain reported, pod by pod: its last event and its refusals."""

    tracker: Tracker
    last: dict[str, DrainEvent] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def on_progress(self, event: DrainEvent) -> None:
        if event.pod is None:
            return
        self.last[event.pod] = event
        if event.kind == "refused":
            self.refused[event.pod] = self.refused.get(event.pod, 0) + 1

    def blocked_pods(self) -> list[DrainEvent]:
        return [e for e in self.last.values() if e.kind == "refused"]

    def check(self) -> None:
        """Raise ``_Blocked`` when every pod left is refused while the twin is at rest."""
        self.tracker.sample()
        rest = self.tracker.rest_since
        left = [e for e in self.last.values() if e.kind != "evicted"]
        if rest is None or not left or any(e.kind != "refused" or e.time < rest for e in left):
            return
        if self.tracker.cluster.now() - rest >= RETRY_DELAY + POLL_INTERVAL:
            raise _Blocked


def drain(cluster: Cluster, kinds: Kinds, node: str, *, timeout: float = 600.0
          ) -> Prediction:
    """Rehearse ``kubectl drain node`` on ``cluster`` (see the module docstring)."""
    what = f"draining {node}"
    tracker = Tracker(cluster, kinds)
    tracker.sample()
    before, start = list_pods(cluster), cluster.now()
    log = _DrainLog(tracker)
    stepping = cast("Cluster", _Stepping(cluster, log.check))
    try:
        result = client_drain(stepping, node, timeout=timeout, on_progress=log.on_progress)
    except DrainError as exc:
        return _prediction(what, tracker, before, start, converged=False, timeout=timeout,
                           blocked=_filter_refusals(str(exc)),
                           notes=["kubectl drain refuses before evicting anything."])
    except _Blocked:
        blocked = [_blocked(cluster, e.pod or "", e.reason) for e in log.blocked_pods()]
        return _prediction(what, tracker, before, start, converged=False, timeout=timeout,
                           blocked=blocked, notes=[_blocked_note(cluster, start, log)])
    if not result.completed:
        return _prediction(what, tracker, before, start, converged=False, timeout=timeout,
                           notes=[result.reason])
    converged = _step_until_at_rest(tracker, start + timeout, step=POLL_INTERVAL)
    return _prediction(what, tracker, before, start, converged=converged, timeout=timeout,
                       notes=_drain_notes(result, log, tracker, converged))


def _drain_notes(result: DrainResult, log: _DrainLog, tracker: Tracker,
                 converged: bool) -> list[str]:
    notes = [f"The drain evicts {count(len(result.evicted), 'pod')} in {result.duration:g} s"
             + (f" ({', '.join(_short(k) for k in result.evicted)})." if result.evicted
                else ".")]
    waited = {_short(pod): n for pod, n in log.refused.items()}
    if waited:
        notes.append("Evictions refused at first and allowed once replacements were ready: "
                     + ", ".join(f"{pod} ({n}×)" for pod, n in sorted(waited.items())) + ".")
    if not converged:
        notes.append("After the drain, " + _not_converged(tracker))
    return notes


def _blocked_note(cluster: Cluster, start: float, log: _DrainLog) -> str:
    done = [e.pod for e in log.last.values() if e.kind == "evicted" and e.pod]
    return (f"The drain stops making progress after {cluster.now() - start:g} s: every workload "
            "has converged and the refusals repeat, so waiting longer does not help"
            + (f"; it evicted {', '.join(_short(p) for p in done)} first." if done else ".")
            + " The node stays cordoned.")


def _blocked(cluster: Cluster, pod: str, reason: str) -> BlockedEviction:
    """A refusal, with the budget's own numbers when a PDB refused."""
    namespace = pod.rpartition("/")[0]
    match = _BUDGET_REFUSAL.search(reason)
    if match is None:
        return BlockedEviction(_short(pod), reason)
    budget, needs, has = match.group(1), int(match.group(2)), int(match.group(3))
    try:
        pdb = get_json(cluster.api_client, f"/apis/policy/v1/namespaces/{namespace}/"
                                           f"poddisruptionbudgets/{budget}")
    except NotFound:
        return BlockedEviction(_short(pod), reason, budget)
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    rule = next((f"{k}: {spec[k]}" for k in ("maxUnavailable", "minAvailable") if k in spec), "")
    allowed = int(status.get("disruptionsAllowed") or 0)
    text = (f"PDB {budget} allows {count(allowed, 'disruption')} (it needs "
            f"{count(needs, 'healthy pod')} and has {has}; {rule})")
    return BlockedEviction(_short(pod), text, budget)


def _filter_refusals(message: str) -> list[BlockedEviction]:
    """kubectl's filter errors (``cannot drain: why: ns/a, ns/b; why: …``) per pod."""
    out: list[BlockedEviction] = []
    for part in message.removeprefix("cannot drain: ").split("; "):
        why, _, pods = part.rpartition(": ")
        out.extend(BlockedEviction(_short(p), why or message) for p in pods.split(", "))
    return out


# -- node failure --------------------------------------------------------------------------

def node_failure(cluster: Cluster, kinds: Kinds, node: str, *, timeout: float = 900.0,
                 step: float = 10.0) -> Prediction:
    """Rehearse ``node`` going down for good (see the module docstring)."""
    what = f"node {node} failing"
    tracker = Tracker(cluster, kinds)
    tracker.sample()
    before, start = list_pods(cluster), cluster.now()
    on_node = {uid for uid, p in before.items() if p.node == node and p.owner_kind != "DaemonSet"}
    fail_node(cluster, node)

    def recovered() -> bool:
        after = list_pods(cluster)
        return tracker.at_rest and all(uid not in after or after[uid].terminating
                                       for uid in on_node)

    converged = _step_until(tracker, recovered, start + timeout, step=step)
    notes = _stuck_on_node(cluster, node, on_node)
    if not converged:
        notes.append(_not_converged(tracker))
    return _prediction(what, tracker, before, start, converged=converged, timeout=timeout,
                       notes=notes)


def _stuck_on_node(cluster: Cluster, node: str, uids: set[str]) -> list[str]:
    stuck = [p for uid, p in list_pods(cluster).items() if uid in uids and p.terminating]
    if not stuck:
        return []
    note = (f"{count(len(stuck), 'pod')} stay Terminating on {node} while it is down "
            f"({', '.join(sorted(p.key for p in stuck))})")
    stateful = sorted(p.key for p in stuck if p.owner_kind == "StatefulSet")
    if stateful:
        note += (f"; a StatefulSet replaces a pod only once it is gone, so "
                 f"{', '.join(stateful)} {'is' if len(stateful) == 1 else 'are'} not "
                 "replaced until the node comes back or the pod is force-deleted")
    return [note + "."]


# -- rollout -------------------------------------------------------------------------------

def rollout(cluster: Cluster, kinds: Kinds, workload: str, *, images: Mapping[str, str],
            strategy: str | None = None, partition: IntOrPercent | None = None,
            max_unavailable: IntOrPercent | None = None,
            max_surge: IntOrPercent | None = None, timeout: float = 600.0,
            step: float = 1.0) -> Prediction:
    """Rehearse rolling ``workload`` out (``kitlib.client.workloads.rollout``'s knobs)."""
    tracker = Tracker(cluster, kinds)
    tracker.sample()
    before, start = list_pods(cluster), cluster.now()
    result = client_rollout(cluster, workload, images=dict(images), strategy=strategy,
                            partition=partition, max_unavailable=max_unavailable,
                            max_surge=max_surge)
    what = f"rolling {result.ref} out to " + ", ".join(f"{c}={i}" for c, i in images.items())
    converged = _step_until_at_rest(tracker, start + timeout, step=step)
    notes = [] if converged else [_not_converged(tracker)]
    return _prediction(what, tracker, before, start, converged=converged, timeout=timeout,
                       notes=notes)


# -- stepping and the prediction -----------------------------------------------------------

def _step_until(tracker: Tracker, done: Callable[[], bool], deadline: float, *,
                step: float) -> bool:
    """Sleep ``step`` at a time, sampling, until ``done()``; False at ``deadline``."""
    cluster = tracker.cluster
    while True:
        tracker.sample()
        if done():
            return True
        if cluster.now() + step > deadline:
            return False
        cluster.sleep(step)


def _step_until_at_rest(tracker: Tracker, deadline: float, *, step: float) -> bool:
    return _step_until(tracker, lambda: tracker.at_rest, deadline, step=step)


def _not_converged(tracker: Tracker) -> str:
    """Which workloads have not converged, and why their pods do not run, as a sentence."""
    return "; ".join(tracker.unconverged() + pending_pod_reasons(tracker.cluster)) + "."


def _prediction(what: str, tracker: Tracker, before: dict[str, PodInfo], start: float, *,
                converged: bool, timeout: float, blocked: list[BlockedEviction] | None = None,
                notes: list[str]) -> Prediction:
    cluster = tracker.cluster
    after = list_pods(cluster)
    rescheduled = sum(1 for uid, pod in before.items() if pod.owner_kind != "DaemonSet"
                      and (uid not in after or after[uid].terminating))
    return Prediction(what=what, converged=converged,
                      convergence_time=round(cluster.now() - start, 3) if converged else None,
                      blocked_evictions=tuple(blocked or ()),
                      peak_unavailable=dict(tracker.peak), budgets=dict(tracker.budgets),
                      pods_rescheduled=rescheduled, notes=tuple(notes), timeout=timeout)


def _short(pod: str) -> str:
    """``default/x`` → ``x`` (a twin's handle works in ``default``); others keep theirs."""
    return pod.removeprefix("default/")
