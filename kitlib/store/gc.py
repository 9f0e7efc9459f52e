"""Garbage collection by ``ownerReferences``, as kube-controller-manager's collector does.

* When an object is removed, each of its dependents is checked: a dependent
  whose owners are all gone is deleted (in the background); one that still has
  a live owner loses only the dangling references.
* An object created with an owner UID that does not exist is deleted.
* ``Foreground``: the owner carries the ``foregroundDeletion`` finalizer; the
  collector deletes its dependents (in the foreground too) and removes the
  finalizer once no dependent with ``blockOwnerDeletion: true`` is left.
* ``Orphan``: the owner carries the ``orphan`` finalizer; the collector removes
  the owner's reference from every dependent, then the finalizer.

Work is batched: events mark objects dirty, and one engine event (priority
``STORE``) processes everything dirty at that instant, so the collector costs
nothing while nothing is being deleted.
"""

from __future__ import annotations

import logging
from typing import Any

from kitlib.engine.loop import Engine, Priority, Timer
from kitlib.model import errors
from kitlib.store.store import DeleteOptions, Store
from kitlib.store.watch import WatchEvent

__all__ = ["GarbageCollector"]

log = logging.getLogger(__name__)

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
_Ref = tuple[str, str, str]


class GarbageCollector:
    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self._owners: set[str] = set()  # owner UIDs whose finalizers need processing
        self._dependents: set[_Ref] = set()  # objects whose owners need checking
        self._timer: Timer | None = None
        self.deleted = 0
        store.hooks.append(self._observe)

    def _observe(self, event: WatchEvent) -> None:
        obj = event.obj
        meta = obj["metadata"]
        if event.type == "DELETED":
            for ref in self.store.indexes.dependents.get(meta.get("uid", ""), ()):
                self._mark_dependent(ref)
            for owner in meta.get("ownerReferences") or ():
                self._mark_owner(owner.get("uid", ""))
            return
        if event.type == "ADDED" and meta.get("ownerReferences"):
            self._mark_dependent((event.rt_key, meta.get("namespace", ""), meta["name"]))
        finalizers = meta.get("finalizers") or ()
        if meta.get("deletionTimestamp") and (FOREGROUND in finalizers or ORPHAN in finalizers):
            self._mark_owner(meta["uid"])

    def _mark_dependent(self, ref: _Ref) -> None:
        self._dependents.add(ref)
        self._schedule()

    def _mark_owner(self, uid: str) -> None:
        if uid:
            self._owners.add(uid)
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            with self.engine.owned_by(None):  # the collector's, not the writing actor's
                self._timer = self.engine.call_soon(self._process, priority=Priority.STORE,
                                                    label="garbage-collector")

    def _process(self) -> None:
        self._timer = None
        owners, self._owners = sorted(self._owners), set()
        dependents, self._dependents = sorted(self._dependents), set()
        for uid in owners:
            self._process_owner(uid)
        for ref in dependents:
            self._process_dependent(ref)

    # -- owners being deleted with Foreground / Orphan ------------------------------------

    def _process_owner(self, uid: str) -> None:
        found = self.store.by_uid(uid)
        if found is None:
            return
        rt_key, owner = found
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp"):
            return
        finalizers = meta.get("finalizers") or ()
        if ORPHAN in finalizers:
            self._orphan_dependents(uid)
            self._drop_finalizer(rt_key, owner, ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = self._delete_dependents(uid)
            if not blocking:
                self._drop_finalizer(rt_key, owner, FOREGROUND)

    def _orphan_dependents(self, uid: str) -> None:
        for rt_key, dep in self.store.by_owner(uid):
            self._safely(lambda rt_key=rt_key, dep=dep: self.store.modify(
                rt_key, dep["metadata"].get("namespace", ""), dep["metadata"]["name"],
                lambda d: _drop_owner_refs(d, {uid})))

    def _delete_dependents(self, uid: str) -> int:
        """Delete the owner's dependents; return how many still block it."""
        blocking = 0
        for rt_key, dep in self.store.by_owner(uid):
            refs = [r for r in dep["metadata"].get("ownerReferences") or () if r.get("uid") == uid]
            if any(r.get("blockOwnerDeletion") for r in refs):
                blocking += 1
            if not dep["metadata"].get("deletionTimestamp"):
                self._delete(rt_key, dep, "Foreground")
        return blocking

    def _drop_finalizer(self, rt_key: str, obj: dict[str, Any], finalizer: str) -> None:
        def change(draft: dict[str, Any]) -> None:
            draft["metadata"]["finalizers"] = [
                f for f in draft["metadata"].get("finalizers") or () if f != finalizer]

        meta = obj["metadata"]
        self._safely(lambda: self.store.modify(rt_key, meta.get("namespace", ""), meta["name"],
                                               change))

    # -- dependents whose owners may be gone ----------------------------------------------

    def _process_dependent(self, ref: _Ref) -> None:
        obj = self.store.peek(*ref)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or ()
        dead = {r.get("uid", "") for r in refs if self.store.by_uid(r.get("uid", "")) is None}
        if not dead:
            return
        if len(dead) == len(refs):
            self._delete(ref[0], obj, "Background")
        else:
            self._safely(lambda: self.store.modify(*ref, lambda d: _drop_owner_refs(d, dead)))

    def _delete(self, rt_key: str, obj: dict[str, Any], policy: str) -> None:
        meta = obj["metadata"]
        options = DeleteOptions(propagation_policy=policy, precondition_uid=meta["uid"])
        if self._safely(lambda: self.store.delete(rt_key, meta.get("namespace", ""),
                                                  meta["name"], options)):
            self.deleted += 1

    def _safely(self, action: Any) -> bool:
        """Run a write; an object that changed or vanished meanwhile is not an error."""
        try:
            action()
            return True
        except (errors.NotFound, errors.Conflict):
            return False


def _drop_owner_refs(draft: dict[str, Any], uids: set[str]) -> None:
    meta = draft["metadata"]
    meta["ownerReferences"] = [r for r in meta.get("ownerReferences") or ()
                               if r.get("uid") not in uids]
    if not meta["ownerReferences"]:
        del meta["ownerReferences"]
