"""Pure plans of the Deployment controller: how many replicas each ReplicaSet gets.

Every function here is upstream's arithmetic (``pkg/controller/deployment``:
``rolling.go``, ``recreate.go``, ``sync.go``, ``util/deployment_util.go``) over
small frozen views (``Rollout`` for the Deployment, ``RS`` for a ReplicaSet),
without I/O, so it is tested as tables. A plan is a tuple of ``ScaleTo``: the
ReplicaSets to resize, in the order to resize them. The controller applies
one plan per reconcile and lets the resulting events bring it back, as
upstream returns after each step.

Invariants (the reason for the order of the steps):

* RollingUpdate never plans more than ``replicas + maxSurge`` replicas in all
  ReplicaSets together, and never scales old ReplicaSets below what keeps
  ``replicas − maxUnavailable`` pods available (unhealthy old pods are removed
  first, within the same budget);
* Recreate scales every old ReplicaSet to 0 and only creates the new one when
  no old pod is left;
* a change of ``spec.replicas`` alone is a *scaling event*: replicas are spread
  over the active ReplicaSets in proportion to their size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.workloads.revisions import DESIRED_REPLICAS, MAX_REPLICAS, revision_of
from kitlib.model.errors import ApiError
from kitlib.model.intstr import scaled_value
from kitlib.model.objects import annotations_of, meta_of, name_of, parse_time

__all__ = [
    "RS",
    "Rollout",
    "ScaleTo",
    "find_active_or_latest",
    "is_complete",
    "new_rs_replicas",
    "plan_recreate",
    "plan_rolling",
    "plan_scale",
    "resolve_fenceposts",
]

Obj = dict[str, Any]


@dataclass(frozen=True)
class ScaleTo:
    name: str
    replicas: int


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """Upstream ``ResolveFenceposts``: surge rounds up, unavailable down; never both 0."""
    surge = scaled_value(max_surge, desired, round_up=True, field="maxSurge")
    unavailable = scaled_value(max_unavailable, desired, round_up=False,
                               field="maxUnavailable")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class Rollout:
    """What the plans need of a Deployment."""

    replicas: int
    rolling: bool = True
    max_surge: int = 0
    max_unavailable: int = 0
    #: ``status.replicas`` (proportional scaling falls back on it).
    status_replicas: int = 0

    @classmethod
    def of(cls, deployment: Obj) -> Rollout:
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        surge = unavailable = 0
        if rolling:
            params = strategy.get("rollingUpdate") or {}
            try:
                surge, unavailable = resolve_fenceposts(params.get("maxSurge", "25%"),
                                                        params.get("maxUnavailable", "25%"),
                                                        replicas)
            except ApiError:
                surge, unavailable = 0, 1
            unavailable = min(unavailable, replicas)  # upstream MaxUnavailable()
        status = deployment.get("status") or {}
        return cls(replicas, rolling, surge, unavailable, int(status.get("replicas") or 0))

    @property
    def max_total(self) -> int:
        return self.replicas + self.max_surge

    @property
    def min_available(self) -> int:
        return self.replicas - self.max_unavailable


@dataclass(frozen=True)
class RS:
    """What the plans need of a ReplicaSet."""

    name: str
    replicas: int
    available: int = 0
    ready: int = 0
    actual: int = 0  #: status.replicas
    created: float = 0.0
    revision: int = 0
    desired: int | None = None  #: desired-replicas annotation
    max_replicas: int | None = None  #: max-replicas annotation

    @classmethod
    def of(cls, rs: Obj) -> RS:
        status = rs.get("status") or {}
        notes = annotations_of(rs)
        return cls(name_of(rs), int((rs.get("spec") or {}).get("replicas", 1)),
                   int(status.get("availableReplicas") or 0),
                   int(status.get("readyReplicas") or 0), int(status.get("replicas") or 0),
                   parse_time(meta_of(rs)["creationTimestamp"]), revision_of(rs),
                   _int_or_none(notes.get(DESIRED_REPLICAS)),
                   _int_or_none(notes.get(MAX_REPLICAS)))

    @property
    def age_key(self) -> tuple[float, str]:
        """Upstream ``ReplicaSetsByCreationTimestamp``: oldest first, then by name."""
        return (self.created, self.name)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _total(rss: Sequence[RS | None]) -> int:
    return sum(r.replicas for r in rss if r is not None)


def new_rs_replicas(d: Rollout, all_rss: Sequence[RS], new: RS | None) -> int:
    """Upstream ``NewRSNewReplicas``: the new ReplicaSet's size for this step."""
    if not d.rolling:
        return d.replicas
    current = new.replicas if new is not None else 0
    in_all = _total(all_rss)
    if in_all >= d.max_total:
        return current
    return current + min(d.max_total - in_all, d.replicas - current)


def plan_rolling(d: Rollout, new: RS, olds: Sequence[RS]) -> tuple[ScaleTo, ...]:
    """One step of a RollingUpdate: scale the new ReplicaSet up if the surge allows,
    else scale old ones down as far as availability allows."""
    if new.replicas > d.replicas:
        return (ScaleTo(new.name, d.replicas),)
    if new.replicas < d.replicas:
        target = new_rs_replicas(d, [new, *olds], new)
        if target != new.replicas:
            return (ScaleTo(new.name, target),)
    return _scale_down_old(d, new, olds)


def _scale_down_old(d: Rollout, new: RS, olds: Sequence[RS]) -> tuple[ScaleTo, ...]:
    """Upstream ``reconcileOldReplicaSets``."""
    active = sorted((o for o in olds if o.replicas > 0), key=lambda o: o.age_key)
    if not active:
        return ()
    all_pods = new.replicas + _total(olds)
    budget = all_pods - d.min_available - (new.replicas - new.available)
    if budget <= 0:
        return ()
    sizes = {o.name: o.replicas for o in active}
    done = 0
    for old in active:  # cleanupUnhealthyReplicas: unavailable old pods go first
        if done >= budget or old.replicas <= old.available:
            continue
        cut = min(budget - done, old.replicas - old.available)
        sizes[old.name] -= cut
        done += cut
    available = new.available + sum(o.available for o in active)
    allowed = available - d.min_available
    done = 0
    for old in active:  # scaleDownOldReplicaSetsForRollingUpdate: oldest first
        if done >= allowed:
            break
        cut = min(sizes[old.name], allowed - done)
        sizes[old.name] -= cut
        done += cut
    return tuple(ScaleTo(o.name, sizes[o.name]) for o in active if sizes[o.name] != o.replicas)


@dataclass(frozen=True)
class RecreatePlan:
    scales: tuple[ScaleTo, ...] = ()
    #: Create the new ReplicaSet (it does not exist yet and no old pod is left).
    create_new: bool = False
    #: Old pods still exist: nothing more until they are gone.
    waiting: bool = False


def plan_recreate(d: Rollout, new: RS | None, olds: Sequence[RS], *,
                  old_pods: int) -> RecreatePlan:
    """Upstream ``rolloutRecreate``: old ReplicaSets to 0, wait for their pods, then new."""
    down = tuple(ScaleTo(o.name, 0) for o in sorted(olds, key=lambda o: o.age_key)
                 if o.replicas > 0)
    if down:
        return RecreatePlan(scales=down)
    if old_pods > 0 or sum(o.actual for o in olds) > 0:
        return RecreatePlan(waiting=True)
    if new is None:
        return RecreatePlan(create_new=True)
    if new.replicas != d.replicas:
        return RecreatePlan(scales=(ScaleTo(new.name, d.replicas),))
    return RecreatePlan()


def find_active_or_latest(new: RS | None, olds: Sequence[RS]) -> RS | None:
    """The only ReplicaSet with replicas, or the newest one if none has any."""
    if new is None and not olds:
        return None
    newest_first = sorted(olds, key=lambda o: o.age_key, reverse=True)
    active = [r for r in [*newest_first, new] if r is not None and r.replicas > 0]
    if not active:
        return new if new is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def _is_saturated(d: Rollout, new: RS | None) -> bool:
    return new is not None and new.replicas == d.replicas and new.desired == d.replicas \
        and new.available == d.replicas


def plan_scale(d: Rollout, new: RS | None, olds: Sequence[RS]) -> tuple[ScaleTo, ...]:
    """Upstream ``scale``: resize for a change of ``spec.replicas`` (no template change).

    The tuple may repeat a ReplicaSet's current size: the apply step then only
    refreshes its desired/max annotations.
    """
    target = find_active_or_latest(new, olds)
    if target is not None:
        return () if target.replicas == d.replicas else (ScaleTo(target.name, d.replicas),)
    if _is_saturated(d, new):
        return tuple(ScaleTo(o.name, 0) for o in olds if o.replicas > 0)
    if not d.rolling:
        return ()
    return _proportional(d, [r for r in [*olds, new] if r is not None and r.replicas > 0])


def _proportional(d: Rollout, active: list[RS]) -> tuple[ScaleTo, ...]:
    allowed = d.max_total if d.replicas > 0 else 0
    to_add = allowed - _total(active)
    if to_add > 0:  # bigger first; of equal size, newer first
        active.sort(key=lambda r: (-r.replicas, -r.created, _desc(r.name)))
    elif to_add < 0:  # bigger first; of equal size, older first
        active.sort(key=lambda r: (-r.replicas, r.created, r.name))
    sizes: dict[str, int] = {}
    added = 0
    for rs in active:
        part = _proportion(d, rs, to_add, added) if to_add else 0
        sizes[rs.name] = rs.replicas + part
        added += part
    if active and to_add:
        first = active[0].name
        sizes[first] = max(0, sizes[first] + to_add - added)
    return tuple(ScaleTo(rs.name, sizes[rs.name]) for rs in active)


def _desc(text: str) -> tuple[int, ...]:
    return (*(-ord(c) for c in text), 1)


def _proportion(d: Rollout, rs: RS, to_add: int, added: int) -> int:
    """Upstream ``GetReplicaSetProportion``."""
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(d, rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(d: Rollout, rs: RS) -> int:
    if d.replicas == 0:
        return -rs.replicas
    before = rs.max_replicas or d.status_replicas or 1
    return _round_half_away(rs.replicas * d.max_total / before) - rs.replicas


def _round_half_away(value: float) -> int:
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def is_complete(replicas: int, generation: int, status: Obj) -> bool:
    """Upstream ``DeploymentComplete``: every replica updated and available, spec observed."""
    return (int(status.get("updatedReplicas") or 0) == replicas
            and int(status.get("replicas") or 0) == replicas
            and int(status.get("availableReplicas") or 0) == replicas
            and int(status.get("observedGeneration") or 0) >= generation)
