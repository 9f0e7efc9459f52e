"""``spec.nodeSelector`` and required node affinity, compiled once per scheduling attempt.

Upstream's ``NodeAffinity`` filter (``component-helpers/scheduling/corev1/nodeaffinity``):
every ``nodeSelector`` pair must match, and at least one of
``requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`` must. Within a
term all ``matchExpressions`` (on labels) and ``matchFields`` (only
``metadata.name``) must hold; a term with neither matches nothing, as does an empty
list of terms. Operators: ``In``, ``NotIn`` (true when the label is absent),
``Exists``, ``DoesNotExist``, ``Gt``/``Lt`` (integer comparison; a value or label
that is not an integer never matches). Unknown operators match nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RequiredNodeAffinity"]

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Requirement:
    key: str
    operator: str
    values: tuple[str, ...]

    def matches(self, value: str | None) -> bool:
        op = self.operator
        if op == "In":
            return value is not None and value in self.values
        if op == "NotIn":
            return value is None or value not in self.values
        if op == "Exists":
            return value is not None
        if op == "DoesNotExist":
            return value is None
        if op in ("Gt", "Lt") and value is not None and len(self.values) == 1:
            try:
                have, bound = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > bound if op == "Gt" else have < bound
        return False


def _requirements(items: Any) -> tuple[_Requirement, ...]:
    return tuple(_Requirement(str(r.get("key", "")), str(r.get("operator", "")),
                              tuple(str(v) for v in r.get("values") or ()))
                 for r in items or () if isinstance(r, dict))


@dataclass(frozen=True, slots=True)
class _Term:
    expressions: tuple[_Requirement, ...]
    fields: tuple[_Requirement, ...]

    def matches(self, labels: Labels, name: str) -> bool:
        if not self.expressions and not self.fields:
            return False
        if not all(r.matches(labels.get(r.key)) for r in self.expressions):
            return False
        return all(r.key == "metadata.name" and r.operator in ("In", "NotIn")
                   and r.matches(name) for r in self.fields)


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    selector: tuple[tuple[str, str], ...]
    #: ``None`` when the pod has no required node affinity (only the selector applies).
    terms: tuple[_Term, ...] | None

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> RequiredNodeAffinity | None:
        """The pod's node constraints, or ``None`` when it has none."""
        selector = tuple(sorted((str(k), str(v))
                                for k, v in (spec.get("nodeSelector") or {}).items()))
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        terms = None
        if isinstance(required, dict):
            raw: Sequence[Any] = required.get("nodeSelectorTerms") or ()
            terms = tuple(_Term(_requirements(t.get("matchExpressions")),
                                _requirements(t.get("matchFields")))
                          for t in raw if isinstance(t, dict))
        if not selector and terms is None:
            return None
        return cls(selector, terms)

    def matches(self, labels: Labels, name: str) -> bool:
        if any(labels.get(k) != v for k, v in self.selector):
            return False
        return self.terms is None or any(t.matches(labels, name) for t in self.terms)
