"""Label and field selectors, in both their object and their string forms.

A ``LabelSelector`` is compiled once into a tuple of ``Requirement``s and then
matched against label maps many times; ``equalities()`` exposes the
``key=value`` requirements so that the store can answer from its label index
instead of scanning.

Semantics follow Kubernetes: requirements are ANDed; ``notin`` and ``!=`` match
objects without the key; an empty selector matches everything. ``None`` (a nil
``spec.selector``) is the caller's to interpret — PDBs and Services treat it as
"selects nothing", which ``LabelSelector.nothing()`` expresses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import BadRequest
from .validation import label_key_errors, label_value_errors

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "field_value",
]

Op = Literal["in", "notin", "exists", "!", "=", "!="]


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "=":
            return labels.get(self.key) == self.values[0]
        if op == "in":
            return self.key in labels and labels[self.key] in self.values
        if op == "!=":
            return labels.get(self.key) != self.values[0]
        if op == "notin":
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        return self.key not in labels  # "!"

    def __str__(self) -> str:
        if self.op == "=":
            return f"{self.key}={self.values[0]}"
        if self.op == "!=":
            return f"{self.key}!={self.values[0]}"
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        return f"{self.key} {self.op} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()
    #: A selector that matches nothing (a nil selector where nil means "none").
    matches_nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(matches_nothing=True)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        return cls(tuple(Requirement(k, "=", (v,)) for k, v in sorted(labels.items())))

    @classmethod
    def from_object(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """Compile a ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``)."""
        if selector is None:
            return cls.nothing()
        reqs = [Requirement(k, "=", (str(v),)) for k, v in
                sorted((selector.get("matchLabels") or {}).items())]
        for i, expr in enumerate(selector.get("matchExpressions") or []):
            reqs.append(_expression(expr, i))
        return cls(tuple(reqs))

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the string form used by ``?labelSelector=``."""
        if not text or not text.strip():
            return cls()
        return cls(tuple(_parse_requirement(part) for part in _split_top_level(text)))

    @property
    def is_everything(self) -> bool:
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    def equalities(self) -> list[tuple[str, str]]:
        """The ``key=value`` requirements (usable against a label index)."""
        return [(r.key, r.values[0]) for r in self.requirements
                if r.op == "=" or (r.op == "in" and len(r.values) == 1)]

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EXPR_OPS: dict[str, Op] = {"In": "in", "NotIn": "notin", "Exists": "exists",
                            "DoesNotExist": "!"}


def _expression(expr: Mapping[str, Any], index: int) -> Requirement:
    op = _EXPR_OPS.get(str(expr.get("operator")))
    key = str(expr.get("key") or "")
    values = tuple(str(v) for v in (expr.get("values") or ()))
    where = f"matchExpressions[{index}]"
    if op is None:
        raise BadRequest(f'{where}.operator: Unsupported value: "{expr.get("operator")}": '
                         'supported values: "In", "NotIn", "Exists", "DoesNotExist"')
    if not key:
        raise BadRequest(f"{where}.key: Required value")
    if op in ("in", "notin") and not values:
        raise BadRequest(f"{where}.values: Required value: must be specified when "
                         "`operator` is 'In' or 'NotIn'")
    if op in ("exists", "!") and values:
        raise BadRequest(f"{where}.values: Forbidden: may not be specified when "
                         "`operator` is 'Exists' or 'DoesNotExist'")
    return Requirement(key, op, tuple(sorted(values)))


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``(...)``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EQ_RE = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_EXISTS_RE = re.compile(rf"^(!?)\s*({_KEY})$")


def _parse_requirement(part: str) -> Requirement:
    requirement = _match_requirement(part)
    problems = [f"key {requirement.key!r}: {p}" for p in label_key_errors(requirement.key)]
    problems += [f"value {v!r}: {p}" for v in requirement.values for p in label_value_errors(v)]
    if problems:  # upstream validates keys and values as it parses
        raise BadRequest(f"unable to parse requirement: {part[:200]!r}: " + "; ".join(problems))
    return requirement


def _match_requirement(part: str) -> Requirement:
    if m := _SET_RE.match(part):
        values = tuple(sorted(v.strip() for v in m.group(4).split(",") if v.strip()))
        if not values:
            raise BadRequest(f"unable to parse requirement: {part!r}: "
                             "for 'in' and 'notin' operators, values set can't be empty")
        return Requirement(m.group(1), "in" if m.group(3) == "in" else "notin", values)
    if m := _EQ_RE.match(part):
        return Requirement(m.group(1), "!=" if m.group(3) == "!=" else "=", (m.group(4),))
    if m := _EXISTS_RE.match(part):
        return Requirement(m.group(2), "!" if m.group(1) else "exists")
    raise BadRequest(f"unable to parse requirement: {part!r}: expected key=value, key!=value, "
                     "key in (a,b), key notin (a,b), key or !key")


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """A selectable field's value as a string, the way field selectors compare it."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
        if value is None:
            return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    equal: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (field_value(obj, self.field) == self.value) == self.equal


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        if not text or not text.strip():
            return cls()
        reqs = []
        for part in _split_top_level(text):
            for op in ("!=", "==", "="):
                if op in part:
                    key, _, value = part.partition(op)
                    reqs.append(FieldRequirement(key.strip(), op != "!=", value.strip()))
                    break
            else:
                raise BadRequest(f"invalid field selector {part!r}: expected field=value "
                                 "or field!=value")
        return cls(tuple(reqs))

    @property
    def is_everything(self) -> bool:
        return not self.requirements

    def fields(self) -> list[str]:
        return [r.field for r in self.requirements]

    def equal_value(self, field_path: str) -> str | None:
        """The value ``field_path`` must equal, if the selector pins it."""
        for req in self.requirements:
            if req.field == field_path and req.equal:
                return req.value
        return None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(req.matches(obj) for req in self.requirements)

    def __str__(self) -> str:
        return ",".join(f"{r.field}{'=' if r.equal else '!='}{r.value}"
                        for r in self.requirements)
