"""PodDisruptionBudget arithmetic and status, as pure functions (no I/O).

Shared by the disruption controller (``disruption.py``) and the eviction subresource
(``eviction.py``); upstream sources are ``pkg/controller/disruption/disruption.go``,
``component-helpers/apps/poddisruptionbudget/helpers.go`` and
``pkg/apis/policy/validation``.

* ``desired_healthy``: ``(expectedPods, desiredHealthy)`` from the spec. With
  ``maxUnavailable`` (int or percent) or a percentage ``minAvailable`` the expected
  count is the owners' scale; an integer ``minAvailable`` counts the matching pods.
  Percentages always round **up**, so ``maxUnavailable: 10%`` of 5 pods is 1.
* ``filter_disrupted``: the ``disruptedPods`` entries still pending: the pod exists,
  is not terminating, and was evicted less than ``DELETION_TIMEOUT`` (2 min) ago.
* ``next_status``: the new status, or ``None`` when the stored one is up to date;
  ``disruptionsAllowed = max(0, currentHealthy - desiredHealthy)`` (0 when no pods are
  expected). The four counters are always present, as upstream serializes them.
* ``set_allowed_condition``/``fail_safe_status``: the ``DisruptionAllowed`` condition
  (``SufficientPods``/``InsufficientPods``/``SyncFailed``), ``metav1.Condition``-shaped.
* ``admit_pdb``: validation with upstream's wording, and the zero status a new PDB
  starts with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import orjson

from kitlib.cluster.podutil import controller_of, is_ready, is_terminating
from kitlib.model import errors
from kitlib.model.objects import format_time, parse_time
from kitlib.model.registry import ResourceType
from kitlib.model.selectors import LabelSelector

__all__ = [
    "DELETION_TIMEOUT",
    "ControllerRef",
    "PodFacts",
    "SyncError",
    "admit_pdb",
    "conditions_up_to_date",
    "desired_healthy",
    "facts_of",
    "fail_safe_status",
    "filter_disrupted",
    "go_selector",
    "next_status",
    "pdb_selector",
    "scaled_round_up",
    "set_allowed_condition",
    "zero_status",
]

#: How long an eviction recorded in ``disruptedPods`` waits for the pod to go.
DELETION_TIMEOUT = 120.0
ALLOWED = "DisruptionAllowed"
POLICIES = ("AlwaysAllow", "IfHealthyBudget")
_PERCENT_HINT = ("a valid percent string must be a numeric string followed by an ending '%' "
                 "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")


class SyncError(Exception):
    """A PDB whose status cannot be computed; the controller fails safe (0 disruptions)."""


class ControllerRef(NamedTuple):
    api_version: str
    kind: str
    name: str
    uid: str


class PodFacts(NamedTuple):
    """What a PDB needs to know of one pod."""

    healthy: bool  #: Ready and not terminating
    terminating: bool
    controller: ControllerRef | None


def facts_of(pod: dict[str, Any]) -> PodFacts:
    ref = controller_of(pod)
    controller = None if ref is None else ControllerRef(
        str(ref.get("apiVersion", "")), str(ref.get("kind", "")), str(ref.get("name", "")),
        str(ref.get("uid", "")))
    terminating = is_terminating(pod)
    return PodFacts(is_ready(pod) and not terminating, terminating, controller)


def pdb_selector(pdb: dict[str, Any]) -> LabelSelector:
    """``spec.selector``: nil selects nothing, ``{}`` every pod (policy/v1)."""
    try:
        return LabelSelector.from_object((pdb.get("spec") or {}).get("selector"))
    except errors.ApiError as exc:
        raise SyncError(exc.message) from None


# -- budget arithmetic ------------------------------------------------------------------

def scaled_round_up(value: Any, total: int) -> int:
    """Upstream ``GetScaledValueFromIntOrPercent(value, total, roundUp=true)``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise SyncError("invalid type: neither int nor percentage")
    if not value.endswith("%"):
        raise SyncError("invalid type: string is not a percentage")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise SyncError(f'invalid value "{value}": strconv.Atoi: parsing "{value[:-1]}": '
                        "invalid syntax") from None
    return math.ceil(float(percent) * float(total) / 100.0)


def desired_healthy(spec: Mapping[str, Any], pod_count: int,
                    expected_scale: Callable[[], int]) -> tuple[int, int]:
    """``(expectedPods, desiredHealthy)``; ``expected_scale`` sums the owners' scale."""
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        expected = expected_scale()
        return expected, max(0, expected - scaled_round_up(max_unavailable, expected))
    if min_available is None:
        return 0, 0
    if isinstance(min_available, int) and not isinstance(min_available, bool):
        return pod_count, min_available
    expected = expected_scale()
    return expected, scaled_round_up(min_available, expected)


def filter_disrupted(disrupted: Mapping[str, str], facts: Callable[[str], PodFacts | None],
                     now: float) -> tuple[dict[str, str], list[str], float | None]:
    """Upstream ``buildDisruptedPodMap``: ``(kept entries, expired pods, recheck time)``.

    ``facts(pod)`` is ``None`` for a pod that is gone (or no longer selected). An entry
    expires once its two minutes are over (at exactly two minutes, not a nanosecond
    later: simulated time does not move while a controller loops)."""
    kept: dict[str, str] = {}
    expired: list[str] = []
    recheck: float | None = None
    for pod, stamp in sorted(disrupted.items()):
        pod_facts = facts(pod)
        if pod_facts is None or pod_facts.terminating:
            continue
        try:
            deadline = parse_time(str(stamp)) + DELETION_TIMEOUT
        except ValueError:
            continue
        if deadline <= now:
            expired.append(pod)
            continue
        kept[pod] = stamp
        recheck = deadline if recheck is None else min(recheck, deadline)
    return kept, expired, recheck


# -- status -----------------------------------------------------------------------------

def zero_status() -> dict[str, Any]:
    return {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
            "expectedPods": 0}


def next_status(pdb: dict[str, Any], *, expected: int, desired: int, healthy: int,
                disrupted: Mapping[str, str], now: float) -> dict[str, Any] | None:
    """Upstream ``updatePdbStatus``: the status to write, or ``None`` if up to date."""
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    status = pdb.get("status") or {}
    generation = int(pdb["metadata"].get("generation") or 0)
    if (status.get("currentHealthy"), status.get("desiredHealthy"),
            status.get("expectedPods"), status.get("disruptionsAllowed"),
            status.get("disruptedPods") or {}, status.get("observedGeneration", 0)) == (
            healthy, desired, expected, allowed, dict(disrupted), generation) and \
            conditions_up_to_date(pdb):
        return None
    new: dict[str, Any] = {"observedGeneration": generation}
    if disrupted:
        new["disruptedPods"] = dict(sorted(disrupted.items()))
    new.update(disruptionsAllowed=allowed, currentHealthy=healthy, desiredHealthy=desired,
               expectedPods=expected,
               conditions=[dict(c) for c in status.get("conditions") or ()])
    set_allowed_condition(new, now)
    return new


def set_allowed_condition(status: dict[str, Any], now: float) -> None:
    """Upstream ``UpdateDisruptionAllowedCondition``."""
    if status.get("disruptionsAllowed", 0) > 0:
        _set_condition(status, "True", "SufficientPods", "", now)
    else:
        _set_condition(status, "False", "InsufficientPods", "", now)


def conditions_up_to_date(pdb: dict[str, Any]) -> bool:
    """Upstream ``ConditionsAreUpToDate``."""
    status = pdb.get("status") or {}
    cond = next((c for c in status.get("conditions") or () if c.get("type") == ALLOWED), None)
    observed = status.get("observedGeneration", 0)
    if cond is None or observed != pdb["metadata"].get("generation", 0) or \
            cond.get("observedGeneration", 0) != observed:
        return False
    if status.get("disruptionsAllowed", 0) > 0:
        return (cond.get("status"), cond.get("reason")) == ("True", "SufficientPods")
    return (cond.get("status"), cond.get("reason")) == ("False", "InsufficientPods")


def fail_safe_status(pdb: dict[str, Any], message: str, now: float) -> dict[str, Any]:
    """Upstream ``failSafe``: no disruptions allowed, condition ``SyncFailed``."""
    status = {**zero_status(), **(pdb.get("status") or {})}
    status["conditions"] = [dict(c) for c in status.get("conditions") or ()]
    status["disruptionsAllowed"] = 0
    _set_condition(status, "False", "SyncFailed", message, now)
    return status


def _set_condition(status: dict[str, Any], value: str, reason: str, message: str,
                   now: float) -> None:
    """``meta.SetStatusCondition`` for ``DisruptionAllowed`` (observedGeneration copied
    from the status)."""
    conditions = status.setdefault("conditions", [])
    observed = status.get("observedGeneration", 0)
    cond = next((c for c in conditions if c.get("type") == ALLOWED), None)
    if cond is None:
        cond = {"type": ALLOWED, "status": value, "lastTransitionTime": format_time(now)}
        conditions.append(cond)
    elif cond.get("status") != value:
        cond["status"], cond["lastTransitionTime"] = value, format_time(now)
    if observed:
        cond["observedGeneration"] = observed
    else:
        cond.pop("observedGeneration", None)
    cond["reason"], cond["message"] = reason, message


# -- events' wording --------------------------------------------------------------------

def go_selector(selector: Mapping[str, Any] | None) -> str:
    """A ``*metav1.LabelSelector`` as Go's ``%v`` prints it in upstream's event messages."""
    if selector is None:
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in sorted((selector.get("matchLabels") or {})
                                                    .items()))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(str(v) for v in e.get('values') or ())}],}},"
        for e in selector.get("matchExpressions") or ())
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")


# -- admission --------------------------------------------------------------------------

def admit_pdb(op: str, rt: ResourceType, obj: dict[str, Any],
              old: dict[str, Any] | None) -> dict[str, Any]:
    """Upstream ``ValidatePodDisruptionBudgetSpec``; a new PDB starts with a zero status."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    problems = _spec_errors(spec)
    if problems:
        raise rt.invalid(str(obj["metadata"].get("name") or ""), problems)
    if op == "CREATE":
        obj["status"] = zero_status()
    return obj


def _spec_errors(spec: dict[str, Any]) -> list[str]:
    problems = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        problems.append(f"spec: Invalid value: {orjson.dumps(spec).decode()}: minAvailable "
                        "and maxUnavailable cannot be both set")
    for name in ("minAvailable", "maxUnavailable"):
        if spec.get(name) is not None:
            problems.extend(_int_or_percent_errors(spec[name], f"spec.{name}"))
    try:
        LabelSelector.from_object(spec.get("selector") or {})
    except errors.ApiError as exc:
        problems.append(f"spec.selector.{exc.message}")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in POLICIES:
        problems.append(f'spec.unhealthyPodEvictionPolicy: Unsupported value: "{policy}": '
                        'supported values: "AlwaysAllow", "IfHealthyBudget"')
    return problems


def _int_or_percent_errors(value: Any, where: str) -> list[str]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            return [f"{where}: Invalid value: {value}: must be greater than or equal to 0"]
        return []
    if not isinstance(value, str):
        return [f"{where}: Invalid value: {orjson.dumps(value).decode()}: must be an integer "
                "or percentage (e.g '5%')"]
    if not value.endswith("%") or not value[:-1].isdigit():
        return [f'{where}: Invalid value: "{value}": {_PERCENT_HINT}']
    if int(value[:-1]) > 100:
        return [f'{where}: Invalid value: "{value}": must not be greater than 100%']
    return []
