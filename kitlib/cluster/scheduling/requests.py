"""What a pod asks for and what a node offers, as integers the filters compare.

cpu is counted in millicores, every other resource in its base unit (bytes, pods,
devices), both rounded up as upstream's ``MilliValue()``/``Value()`` do. A pod's
request follows ``component-helpers/resource.PodRequests``: the sum of its
containers, at least the largest init-container phase (an init container plus the
sidecars — ``restartPolicy: Always`` init containers — started before it), sidecars
added to the total, plus ``spec.overhead``. A container's missing request defaults
to its limit, as API defaulting does. The *non-zero* request used for scoring
counts a container without a cpu or memory request as 100m / 200Mi
(``schedutil.DefaultMilliCPURequest``/``DefaultMemoryRequest``), so that pods
without requests still spread.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kitlib.model.quantity import int_value, milli_value

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "PodRequests",
    "amount",
    "node_allocatable",
    "pod_requests",
]

DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
_FIRST = ("cpu", "memory", "ephemeral-storage")

Amounts = dict[str, int]


@dataclass(frozen=True, slots=True)
class PodRequests:
    #: Requested amounts greater than zero: cpu, memory, ephemeral-storage first, then
    #: extended resources sorted by name (the order upstream reports shortages in).
    requests: Mapping[str, int]
    nonzero_cpu: int
    nonzero_memory: int


def amount(resource: str, quantity: Any) -> int:
    """``quantity`` of ``resource`` as an integer (millicores for cpu); invalid text counts
    as 0 (the API server would have rejected it)."""
    if isinstance(quantity, str):
        return _amount_of_text(resource, quantity)
    return _amount(resource, quantity)


@functools.lru_cache(maxsize=4096)
def _amount_of_text(resource: str, text: str) -> int:
    """``amount`` memoized: every pod of a workload repeats the same few quantities, and
    parsing one exactly (as a ``Fraction``) costs ~10 µs."""
    return _amount(resource, text)


def _amount(resource: str, quantity: Any) -> int:
    try:
        return milli_value(quantity) if resource == "cpu" else int_value(quantity)
    except (ValueError, TypeError):
        return 0


def _container(container: Mapping[str, Any]) -> Amounts:
    resources = container.get("resources") or {}
    declared = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: amount(name, q) for name, q in declared.items()}


def _nonzero(requests: Amounts) -> Amounts:
    return {"cpu": requests.get("cpu", DEFAULT_MILLI_CPU_REQUEST),
            "memory": requests.get("memory", DEFAULT_MEMORY_REQUEST)}


def _add(into: Amounts, more: Mapping[str, int]) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def _max(into: Amounts, other: Mapping[str, int]) -> None:
    for name, value in other.items():
        into[name] = max(into.get(name, 0), value)


def _aggregate(spec: Mapping[str, Any], per_container: Any) -> Amounts:
    total: Amounts = {}
    for c in spec.get("containers") or ():
        _add(total, per_container(c))
    sidecars: Amounts = {}
    init_peak: Amounts = {}
    for c in spec.get("initContainers") or ():
        requests = per_container(c)
        if c.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            _max(init_peak, sidecars)
        else:
            phase = dict(sidecars)
            _add(phase, requests)
            _max(init_peak, phase)
    _max(total, init_peak)
    _add(total, {name: amount(name, q) for name, q in (spec.get("overhead") or {}).items()})
    return total


def _ordered(amounts: Mapping[str, int]) -> dict[str, int]:
    names: Iterable[str] = [*(n for n in _FIRST if n in amounts),
                            *sorted(n for n in amounts if n not in _FIRST)]
    return {n: amounts[n] for n in names if amounts[n] > 0}


def pod_requests(spec: Mapping[str, Any]) -> PodRequests:
    requests = _aggregate(spec, _container)
    nonzero = _aggregate(spec, lambda c: _nonzero(_container(c)))
    return PodRequests(_ordered(requests), nonzero.get("cpu", 0), nonzero.get("memory", 0))


def node_allocatable(node: Mapping[str, Any]) -> dict[str, int]:
    """``status.allocatable`` (falling back to ``capacity``) as integers."""
    status = node.get("status") or {}
    declared = status.get("allocatable") or status.get("capacity") or {}
    return {name: amount(name, q) for name, q in declared.items()}
