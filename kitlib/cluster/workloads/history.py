"""ControllerRevisions: a StatefulSet's template history (upstream ``pkg/controller/history``).

A revision is an ``apps/v1 ControllerRevision`` named ``<set>-<hash>`` whose
``data`` is the strategic merge patch that restores the set's pod template
(``{"spec": {"template": {..., "$patch": "replace"}}}`` — exactly what
``kubectl rollout undo statefulset`` sends back), with a ``revision`` number,
the template's labels plus ``controller.kubernetes.io/hash``, the set's
annotations, and a controller ownerReference to the set.

Pure helpers here, plus ``update_revision``, the one write step every controller with
a revision history (StatefulSet, Advanced StatefulSet, CloneSet) shares:

* ``resolve_revisions``: the set's update revision is the existing revision with
  the same data if it is the newest (nothing changed), else that revision
  renumbered as the newest (a rollback), else a new one; the current revision
  is the one ``status.currentRevision`` names, or the update revision;
* ``update_revision``: find, renumber or create the update revision in the store (a
  name collision with a foreign revision bumps ``collisionCount``, as upstream's
  ``CreateControllerRevision``);
* ``history_to_delete``: revisions used by no pod and neither current nor
  update, oldest first, beyond ``revisionHistoryLimit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.workloads.hashing import compute_hash
from kitlib.cluster.workloads.ownership import controller_ref
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of, parse_time
from kitlib.store.store import Store, deep_copy

__all__ = [
    "HASH_LABEL",
    "RevisionChoice",
    "apply_revision",
    "history_to_delete",
    "new_revision",
    "resolve_revisions",
    "revision_data",
    "sort_revisions",
]

Obj = dict[str, Any]

HASH_LABEL = "controller.kubernetes.io/hash"
_PATCH = "$patch"


def revision_data(sts: Obj) -> Obj:
    """Upstream ``getPatch``: the patch that puts ``sts``'s template back."""
    template = deep_copy((sts.get("spec") or {}).get("template") or {})
    template[_PATCH] = "replace"
    return {"spec": {"template": template}}


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """``sts`` with the pod template recorded in ``revision`` (upstream ``ApplyRevision``)."""
    template = deep_copy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop(_PATCH, None)
    return {**sts, "spec": {**(sts.get("spec") or {}), "template": template}}


def new_revision(sts: Obj, data: Obj, number: int, collision_count: int) -> Obj:
    """Upstream ``NewControllerRevision`` named for ``collision_count``."""
    digest = compute_hash(data, collision_count)
    labels = dict(((sts["spec"].get("template") or {}).get("metadata") or {}).get("labels")
                  or {})
    labels[HASH_LABEL] = digest
    meta: Obj = {"name": f"{name_of(sts)[:223]}-{digest}", "namespace": namespace_of(sts),
                 "labels": labels, "ownerReferences": [controller_ref(sts)]}
    annotations = meta_of(sts).get("annotations")
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta,
            "data": data, "revision": number}


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """Upstream ``SortControllerRevisions``: by revision number, creation time, name."""
    return sorted(revisions, key=lambda r: (int(r.get("revision") or 0),
                                            parse_time(meta_of(r)["creationTimestamp"]),
                                            name_of(r)))


@dataclass(frozen=True)
class RevisionChoice:
    #: The update revision if it exists already (else ``create`` says to make one).
    update: Obj | None
    #: Give the existing ``update`` this revision number (a rollback to it).
    renumber: int | None = None
    #: Create a new revision with this number.
    create: int | None = None


def resolve_revisions(sts: Obj, revisions: Sequence[Obj]) -> RevisionChoice:
    """Upstream ``getStatefulSetRevisions`` without its writes; ``revisions`` sorted."""
    data = revision_data(sts)
    following = int(revisions[-1].get("revision") or 0) + 1 if revisions else 1
    equal = [r for r in revisions if r.get("data") == data]
    if equal and equal[-1] is revisions[-1]:
        return RevisionChoice(revisions[-1])
    if equal:
        return RevisionChoice(equal[-1], renumber=following)
    return RevisionChoice(None, create=following)


def history_to_delete(limit: int | None, revisions: Sequence[Obj], live: set[str]) -> list[str]:
    """Non-live revisions beyond ``limit``, oldest first (``revisions`` sorted)."""
    history = [name_of(r) for r in revisions if name_of(r) not in live]
    if limit is None or limit < 0 or len(history) <= limit:
        return []
    return history[:len(history) - limit]


REVISIONS = "controllerrevisions.apps"


def update_revision(store: Store, owner: Obj, revisions: Sequence[Obj],
                    collision: int) -> tuple[Obj, int]:
    """The owner's update revision, written if needed, and the (maybe bumped) collision count."""
    choice = resolve_revisions(owner, revisions)
    if choice.update is not None and choice.renumber is None:
        return choice.update, collision
    if choice.update is not None:
        number = choice.renumber
        return store.modify(REVISIONS, namespace_of(owner), name_of(choice.update),
                            lambda r: r.__setitem__("revision", number)), collision
    assert choice.create is not None
    data = revision_data(owner)
    while True:
        body = new_revision(owner, data, choice.create, collision)
        try:
            return store.create(REVISIONS, body), collision
        except errors.AlreadyExists:
            existing = store.peek(REVISIONS, namespace_of(owner), body["metadata"]["name"])
            if existing is not None and existing.get("data") == data:
                return existing, collision
            collision += 1
