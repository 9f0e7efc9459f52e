"""Update order by priority and scatter (upstream ``pkg/util/updatesort``), shared by CloneSet,
Advanced StatefulSet and SidecarSet.

* ``sort_by_priority``: stable. ``weightPriority`` — pods with a higher sum of the weights
  whose ``matchSelector`` they match go first. ``orderPriority`` — pods having the i-th
  ``orderedKey`` label go before those having only a later one (lower i first); within
  one key, the higher trailing integer of the value first (``"sts-10"`` → 10); pods with
  none of the keys last.
* ``sort_by_scatter``: for each ``{key, value}`` term (terms with more matching
  candidates first), spread the matching candidates evenly through the order, in groups
  sized by the density of matching pods among all pods and among the candidates, the
  last matching candidate held back to the very end (reference §1.9, ``scatter_sort.go``).

Both take and return lists of indexes into ``pods``; pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from kitlib.model.selectors import LabelSelector

__all__ = ["sort_by_priority", "sort_by_scatter"]

Obj = dict[str, Any]
_TRAILING_INT = re.compile(r"(\d+)$")


def _labels(pod: Obj) -> dict[str, str]:
    return dict((pod.get("metadata") or {}).get("labels") or {})


def sort_by_priority(strategy: Obj | None, pods: Sequence[Obj], indexes: list[int]) -> list[int]:
    if not strategy:
        return list(indexes)
    weights = strategy.get("weightPriority") or []
    if weights:
        selectors = [(int(w.get("weight") or 0), LabelSelector.from_object(w.get("matchSelector")))
                     for w in weights]

        def weight(i: int) -> int:
            labels = _labels(pods[i])
            return sum(w for w, sel in selectors if sel.matches(labels))
        return sorted(indexes, key=lambda i: -weight(i))
    orders = [str(o.get("orderedKey", "")) for o in strategy.get("orderPriority") or []]
    if orders:
        return sorted(indexes, key=lambda i: _order_key(orders, _labels(pods[i])))
    return list(indexes)


def _order_key(keys: list[str], labels: dict[str, str]) -> tuple[int, int]:
    for rank, key in enumerate(keys):
        if key in labels:
            match = _TRAILING_INT.search(labels[key])
            return rank, -(int(match.group(1)) if match else 0)
    return len(keys), 0


def sort_by_scatter(terms: Sequence[Obj] | None, pods: Sequence[Obj],
                    indexes: list[int]) -> list[int]:
    if not terms or len(indexes) <= 1:
        return list(indexes)
    order = list(indexes)
    for term in _scatter_terms(terms, pods, order):
        order = _scatter_one(term, pods, order)
    return order


def _scatter_terms(terms: Sequence[Obj], pods: Sequence[Obj], order: list[int]) -> list[Obj]:
    """One term as is; several: those matching candidates, most matches first (stable)."""
    if len(terms) == 1:
        return list(terms)
    counts: dict[tuple[str, str], int] = {}
    for term in terms:
        for i in order:
            if _matches(pods[i], term):
                key = (str(term.get("key")), str(term.get("value")))
                counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts, key=lambda k: -counts[k])
    return [{"key": k, "value": v} for k, v in ranked]


def _matches(pod: Obj, term: Obj) -> bool:
    return _labels(pod).get(str(term.get("key"))) == str(term.get("value"))


def _scatter_one(term: Obj, pods: Sequence[Obj], order: list[int]) -> list[int]:
    matched = [i for i in order if _matches(pods[i], term)]
    unmatched = [i for i in order if not _matches(pods[i], term)]
    if len(matched) <= 1 or len(unmatched) <= 1:
        return order
    total_matched = sum(1 for p in pods if _matches(p, term))
    total_unmatched = len(pods) - total_matched
    tail = matched.pop()
    group = _group_by_density(total_matched - 1, total_unmatched, len(matched), len(unmatched))
    num, m_size, u_size, remainder = group
    out = unmatched[:remainder]
    unmatched = unmatched[remainder:]
    for _ in range(num):
        out += matched[:m_size]
        matched = matched[m_size:]
        out += unmatched[:u_size]
        unmatched = unmatched[u_size:]
    return [*out, *matched, *unmatched, tail]


def _go_round(x: float) -> int:
    return math.floor(x + 0.5)


def _group(matched: int, unmatched: int) -> tuple[int, int, int, int]:
    num = min(matched, unmatched)
    if num == 0:
        return 0, 0, 0, 0
    return num, _go_round(matched / num), _go_round(unmatched / num), 0


def _group_by_density(total_matched: int, total_unmatched: int, matched: int,
                      unmatched: int) -> tuple[int, int, int, int]:
    """Upstream ``calculateGroupByDensity``: (groups, matched size, unmatched size, remainder)."""
    update_group = _group(matched, unmatched)
    if total_matched == 0 or total_unmatched / total_matched >= unmatched / matched:
        return update_group
    _, m_size, u_size, _ = _group(total_matched, total_unmatched)
    if m_size == 0 or u_size == 0:
        return update_group
    num = min(matched // m_size, unmatched // u_size)
    return num, m_size, u_size, unmatched - num * u_size
