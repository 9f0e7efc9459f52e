"""Secondary indexes, kept up to date on every commit so lookups never scan.

* per kind, namespace → names (the primary table is already split this way);
* per kind, ``(label key, label value)`` → object keys;
* per kind and indexed field path (``spec.nodeName`` for pods,
  ``involvedObject.name`` for events), value → object keys;
* across kinds, owner UID → dependents, and UID → object.

An update touches an index only when the indexed value changed, so the cost of
a write is proportional to what changed, not to the size of the store.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kitlib.model.selectors import field_value

__all__ = ["Indexes", "ObjKey", "RefKey"]

ObjKey = tuple[str, str]  #: (namespace, name) within one kind
RefKey = tuple[str, str, str]  #: (kind key, namespace, name)

#: Field paths indexed per kind, used by the kubelets (pods on a node) and describe (events).
DEFAULT_FIELD_INDEXES: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "status.phase"),
    "events": ("involvedObject.name",),
}


def _labels(obj: dict[str, Any] | None) -> dict[str, str]:
    if obj is None:
        return {}
    return (obj.get("metadata") or {}).get("labels") or {}


def _owners(obj: dict[str, Any] | None) -> set[str]:
    if obj is None:
        return set()
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return {ref["uid"] for ref in refs if ref.get("uid")}


class Indexes:
    def __init__(self, field_indexes: dict[str, tuple[str, ...]] | None = None) -> None:
        self.field_paths = dict(DEFAULT_FIELD_INDEXES if field_indexes is None else field_indexes)
        self.labels: dict[str, dict[tuple[str, str], set[ObjKey]]] = defaultdict(
            lambda: defaultdict(set))
        self.fields: dict[str, dict[str, dict[str, set[ObjKey]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(set)))
        self.dependents: dict[str, set[RefKey]] = defaultdict(set)
        #: bumped whenever any object's set of owners changes (a cheap "did anything move")
        self.owners_changes = 0
        self.uids: dict[str, RefKey] = {}

    def update(self, rt_key: str, key: ObjKey, old: dict[str, Any] | None,
               new: dict[str, Any] | None) -> None:
        self._update_labels(rt_key, key, _labels(old), _labels(new))
        for path in self.field_paths.get(rt_key, ()):
            self._update_field(rt_key, path, key, old, new)
        ref = (rt_key, key[0], key[1])
        self._update_owners(ref, _owners(old), _owners(new))
        self._update_uid(ref, old, new)

    def _update_labels(self, rt_key: str, key: ObjKey, old: dict[str, str],
                       new: dict[str, str]) -> None:
        if old == new:
            return
        table = self.labels[rt_key]
        for pair in old.items():
            if new.get(pair[0]) != pair[1]:
                bucket = table.get(pair)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del table[pair]
        for pair in new.items():
            if old.get(pair[0]) != pair[1]:
                table[pair].add(key)

    def _update_field(self, rt_key: str, path: str, key: ObjKey, old: dict[str, Any] | None,
                      new: dict[str, Any] | None) -> None:
        before = field_value(old, path) if old is not None else None
        after = field_value(new, path) if new is not None else None
        if before == after:
            return
        table = self.fields[rt_key][path]
        if before is not None:
            bucket = table.get(before)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del table[before]
        if after is not None:
            table[after].add(key)

    def _update_owners(self, ref: RefKey, old: set[str], new: set[str]) -> None:
        if old == new:
            return
        self.owners_changes += 1
        for uid in old - new:
            bucket = self.dependents.get(uid)
            if bucket is not None:
                bucket.discard(ref)
                if not bucket:
                    del self.dependents[uid]
        for uid in new - old:
            self.dependents[uid].add(ref)

    def _update_uid(self, ref: RefKey, old: dict[str, Any] | None,
                    new: dict[str, Any] | None) -> None:
        if old is not None and new is None:
            self.uids.pop(old["metadata"].get("uid", ""), None)
        elif new is not None and old is None:
            self.uids[new["metadata"]["uid"]] = ref

    def with_label(self, rt_key: str, key: str, value: str) -> set[ObjKey]:
        return self.labels[rt_key].get((key, value), set())

    def with_field(self, rt_key: str, path: str, value: str) -> set[ObjKey] | None:
        """Keys whose ``path`` equals ``value``; ``None`` if ``path`` is not indexed."""
        if path not in self.field_paths.get(rt_key, ()):
            return None
        return self.fields[rt_key][path].get(value, set())
