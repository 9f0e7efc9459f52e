"""``Selection``: which pods each selector-owning object selects, kept up to date as pods
and selectors change, without scanning.

Services and PodDisruptionBudgets select pods of their namespace by labels. A
controller that must react to a pod change needs the owners selecting that pod, and
a controller that syncs an owner needs its members. ``Selection`` answers both in time
proportional to what changed:

* owners are indexed by one of their selector's ``key=value`` requirements (a pod can
  only match if it carries that pair), or kept in a per-namespace list when the
  selector has none (an empty PDB selector selects every pod of the namespace);
* ``update_pod`` (call it when a pod appears, disappears or changes labels) finds the
  owners matching the new labels from the pod's own pairs, and moves the pod between
  owners' member sets;
* ``set_owner`` (a new or changed selector) takes the owner's current members, which the
  caller reads from the store's label index.

Invariants: a pod is in ``members(owner)`` iff ``owner`` is in ``owners(pod)``; owners'
tuples are sorted, so callers iterate them deterministically. A selector that
matches nothing (a nil selector) is not registered at all.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

from kitlib.model.selectors import LabelSelector

__all__ = ["ObjKey", "Selection"]

ObjKey = tuple[str, str]  #: (namespace, name)
_EMPTY: frozenset[str] = frozenset()
K = TypeVar("K", bound=Hashable)


class Selection:
    def __init__(self) -> None:
        self._selectors: dict[ObjKey, LabelSelector] = {}
        self._index_pair: dict[ObjKey, tuple[str, str] | None] = {}
        self._by_pair: dict[tuple[str, str, str], set[ObjKey]] = {}
        self._unindexed: dict[str, set[ObjKey]] = {}
        self._members: dict[ObjKey, set[str]] = {}
        self._owners: dict[ObjKey, tuple[ObjKey, ...]] = {}

    # -- reads --------------------------------------------------------------------------

    def selector(self, owner: ObjKey) -> LabelSelector | None:
        return self._selectors.get(owner)

    def members(self, owner: ObjKey) -> frozenset[str] | set[str]:
        """Names of the pods ``owner`` selects (read-only: do not change the set)."""
        return self._members.get(owner, _EMPTY)

    def owners(self, namespace: str, pod: str) -> tuple[ObjKey, ...]:
        return self._owners.get((namespace, pod), ())

    # -- owners -------------------------------------------------------------------------

    def set_owner(self, owner: ObjKey, selector: LabelSelector, pods: Iterable[str]) -> None:
        """Register (or replace) ``owner``'s selector and its current member pods."""
        self.remove_owner(owner)
        if selector.matches_nothing:
            return
        namespace = owner[0]
        self._selectors[owner] = selector
        pairs = selector.equalities()
        pair = min(pairs) if pairs else None
        self._index_pair[owner] = pair
        if pair is None:
            self._unindexed.setdefault(namespace, set()).add(owner)
        else:
            self._by_pair.setdefault((namespace, *pair), set()).add(owner)
        members = self._members[owner] = set(pods)
        for pod in members:
            self._link((namespace, pod), owner)

    def remove_owner(self, owner: ObjKey) -> set[str]:
        """Forget ``owner``; returns the pods it selected."""
        if owner not in self._selectors:
            return set()
        del self._selectors[owner]
        pair = self._index_pair.pop(owner)
        if pair is None:
            _discard(self._unindexed, owner[0], owner)
        else:
            _discard(self._by_pair, (owner[0], *pair), owner)
        members = self._members.pop(owner, set())
        for pod in members:
            self._unlink((owner[0], pod), owner)
        return members

    # -- pods ---------------------------------------------------------------------------

    def update_pod(self, namespace: str, pod: str, labels: Mapping[str, str] | None
                   ) -> tuple[tuple[ObjKey, ...], tuple[ObjKey, ...]]:
        """Record a pod's labels (``None``: the pod is gone); returns its owners before
        and after."""
        key = (namespace, pod)
        before = self._owners.get(key, ())
        after = () if labels is None else self._matching(namespace, labels)
        if after != before:
            for owner in set(before) - set(after):
                self._members[owner].discard(pod)
            for owner in set(after) - set(before):
                self._members[owner].add(pod)
            if after:
                self._owners[key] = after
            else:
                self._owners.pop(key, None)
        return before, after

    def _matching(self, namespace: str, labels: Mapping[str, str]) -> tuple[ObjKey, ...]:
        candidates: set[ObjKey] = set(self._unindexed.get(namespace, ()))
        for pair in labels.items():
            hits = self._by_pair.get((namespace, *pair))
            if hits:
                candidates.update(hits)
        return tuple(sorted(owner for owner in candidates
                            if self._selectors[owner].matches(labels)))

    def _link(self, pod: ObjKey, owner: ObjKey) -> None:
        self._owners[pod] = tuple(sorted({*self._owners.get(pod, ()), owner}))

    def _unlink(self, pod: ObjKey, owner: ObjKey) -> None:
        rest = tuple(o for o in self._owners.get(pod, ()) if o != owner)
        if rest:
            self._owners[pod] = rest
        else:
            self._owners.pop(pod, None)


def _discard(table: dict[K, set[ObjKey]], key: K, owner: ObjKey) -> None:
    bucket = table.get(key)
    if bucket is not None:
        bucket.discard(owner)
        if not bucket:
            del table[key]
