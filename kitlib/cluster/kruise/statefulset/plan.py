"""Pure plans of the Advanced StatefulSet (``apps.kruise.io/v1beta1``) controller.

Native StatefulSet semantics (``kitlib.cluster.workloads.statefulset_plan``) plus
upstream kruise's ``pkg/controller/statefulset/stateful_set_control.go``:

* the set's ordinals are the first ``replicas`` ordinals from ``ordinals.start`` that
  are not in ``reserveOrdinals``; a pod of any other ordinal is condemned;
* scale: a missing ordinal is created at the *current* revision when fewer than
  ``partition`` pods would stay old (the lowest ordinals), else at the *update*
  revision; ``OrderedReady`` goes one pod at a time, ``Parallel`` at once but, with
  ``scaleStrategy.maxUnavailable``, creates only while fewer pods are unavailable;
* update (``rollingUpdateStatefulsetPods``), unless ``OnDelete`` or ``paused``: the
  ``replicas - partition`` highest ordinals are to be updated (pods already updated or
  terminating count first); ``maxUnavailable`` (int or percent of replicas rounded
  down, at least 1; 1 unless ``Parallel``) bounds the unhealthy pods, an unhealthy
  pod already counted may still be updated; an outdated pod is updated **in place**
  when ``podUpdatePolicy`` is ``InPlaceIfPossible``/``InPlaceOnly`` and only images
  and metadata changed, else deleted and recreated (``InPlaceOnly`` never recreates);
  ``OrderedReady`` waits for each updated pod to be healthy before the next.

Healthy = Running, Ready and available for ``minReadySeconds``, not terminating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.podutil import is_available, is_ready, is_terminating
from kitlib.cluster.workloads.statefulset_plan import POD_INDEX, POD_NAME, REVISION_LABEL
from kitlib.model.errors import ApiError
from kitlib.model.intstr import scaled_value
from kitlib.model.objects import meta_of, name_of

__all__ = ["AstsPlan", "AstsView", "healthy", "plan_advanced_statefulset", "revision_of"]

Pod = dict[str, Any]


@dataclass(frozen=True)
class AstsView:
    name: str
    replicas: int
    start: int = 0
    monotonic: bool = True
    on_delete: bool = False
    partition: int = 0
    max_unavailable: int = 1
    policy: str = "ReCreate"
    paused: bool = False
    min_ready_seconds: float = 0.0
    reserve: frozenset[int] = frozenset()
    scale_max_unavailable: int | None = None
    deleting: bool = False

    @classmethod
    def of(cls, sts: Pod) -> AstsView:
        spec = sts.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        replicas = int(spec.get("replicas", 1))
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        scale = (spec.get("scaleStrategy") or {}).get("maxUnavailable")
        return cls(
            name=name_of(sts), replicas=replicas,
            start=int((spec.get("ordinals") or {}).get("start") or 0), monotonic=monotonic,
            on_delete=strategy.get("type") == "OnDelete",
            partition=int(rolling.get("partition") or 0),
            max_unavailable=1 if monotonic else _at_least_one(rolling.get("maxUnavailable", 1),
                                                              replicas),
            policy=str(rolling.get("podUpdatePolicy") or "ReCreate"),
            paused=bool(rolling.get("paused")),
            min_ready_seconds=float(rolling.get("minReadySeconds",
                                                spec.get("minReadySeconds")) or 0),
            reserve=frozenset(int(o) for o in spec.get("reserveOrdinals") or ()
                              if isinstance(o, int)),
            scale_max_unavailable=None if scale is None or monotonic else
            _at_least_one(scale, replicas),
            deleting=bool(meta_of(sts).get("deletionTimestamp")))

    def ordinals(self) -> list[int]:
        out: list[int] = []
        ordinal = self.start
        while len(out) < self.replicas:
            if ordinal not in self.reserve:
                out.append(ordinal)
            ordinal += 1
        return out


def _at_least_one(value: Any, total: int) -> int:
    try:
        return max(1, scaled_value(value, total, round_up=False, field="maxUnavailable"))
    except ApiError:
        return 1


@dataclass
class AstsPlan:
    #: (ordinal, "current" | "update") to create.
    create: list[tuple[int, str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    #: Pods to update in place to the update revision.
    in_place: list[str] = field(default_factory=list)
    fix_identity: list[str] = field(default_factory=list)
    #: InPlaceOnly pods whose change cannot be done in place (left alone).
    blocked: list[str] = field(default_factory=list)


def revision_of(pod: Pod) -> str:
    return str((meta_of(pod).get("labels") or {}).get(REVISION_LABEL, ""))


def healthy(pod: Pod | None, min_ready: float, now: float) -> bool:
    return pod is not None and not is_terminating(pod) and \
        (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod) and \
        is_available(pod, min_ready, now)


def plan_advanced_statefulset(sts: AstsView, pods: Mapping[int, Pod], update_revision: str,
                              in_place_ok: Mapping[str, bool], now: float) -> AstsPlan:
    """One reconcile's actions; ``pods`` maps ordinal → member pod; ``in_place_ok`` says
    for each outdated pod whether its change to the update revision fits in place."""
    plan = AstsPlan()
    if sts.deleting:
        return plan
    wanted = sts.ordinals()
    replicas = {o: pods.get(o) for o in wanted}
    if _scale(sts, replicas, plan, now):
        return plan
    for ordinal in sorted((o for o in pods if o not in replicas), reverse=True):
        pod = pods[ordinal]
        if is_terminating(pod):
            if sts.monotonic:
                return plan
            continue
        plan.delete.append(name_of(pod))
        if sts.monotonic:
            return plan
    if not (sts.on_delete or sts.paused):
        _update(sts, replicas, update_revision, in_place_ok, plan, now)
    return plan


def _scale(sts: AstsView, replicas: Mapping[int, Pod | None], plan: AstsPlan,
           now: float) -> bool:
    """Create missing and replace failed pods; True to stop this round."""
    old_slots = set(list(replicas)[:sts.partition])
    budget = None
    if sts.scale_max_unavailable is not None:
        unhealthy = sum(1 for p in replicas.values()
                        if p is not None and not healthy(p, sts.min_ready_seconds, now))
        budget = max(sts.scale_max_unavailable - unhealthy, 0)
    for ordinal, pod in replicas.items():
        if pod is None:
            if budget is not None:
                if budget <= 0:
                    continue
                budget -= 1
            plan.create.append((ordinal, "current" if ordinal in old_slots else "update"))
            if sts.monotonic:
                return True
            continue
        if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            if not is_terminating(pod):
                plan.delete.append(name_of(pod))
            if sts.monotonic:
                return True
            continue
        if sts.monotonic and not healthy(pod, sts.min_ready_seconds, now):
            return True
        labels = meta_of(pod).get("labels") or {}
        if labels.get(POD_NAME) != name_of(pod) or labels.get(POD_INDEX) != str(ordinal):
            plan.fix_identity.append(name_of(pod))
    return False


def _update(sts: AstsView, replicas: Mapping[int, Pod | None], update_revision: str,
            in_place_ok: Mapping[str, bool], plan: AstsPlan, now: float) -> None:
    existing = [(o, p) for o, p in sorted(replicas.items(), reverse=True) if p is not None]
    done = [(o, p) for o, p in existing if is_terminating(p) or revision_of(p) == update_revision]
    waiting = [(o, p) for o, p in existing if (o, p) not in done]
    budget = max(sts.replicas - sts.partition, 0)
    targets = done if len(done) >= budget else done + waiting[:budget - len(done)]
    targets.sort(key=lambda t: -t[0])
    unavailable = {name_of(p) for _, p in existing
                   if not healthy(p, sts.min_ready_seconds, now)}
    for _, pod in targets:
        name = name_of(pod)
        if len(unavailable) >= sts.max_unavailable and name not in unavailable:
            continue
        if revision_of(pod) != update_revision and not is_terminating(pod):
            if sts.policy != "ReCreate" and in_place_ok.get(name, False):
                plan.in_place.append(name)
            elif sts.policy == "InPlaceOnly":
                plan.blocked.append(name)
                continue
            else:
                plan.delete.append(name)
            unavailable.add(name)
            if sts.monotonic:
                return
            continue
        if sts.monotonic and not healthy(pod, sts.min_ready_seconds, now):
            return
