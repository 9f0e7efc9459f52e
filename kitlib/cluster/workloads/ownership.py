"""Controller references: who controls an object, and claiming (adopt / release).

The rules of upstream's ``ControllerRefManager.ClaimObject``, as a pure plan
(``plan_claims``) and a thin apply (``adopt``/``release``):

* an object controlled by someone else is ignored;
* one we control is kept if the selector still matches it, otherwise released
  (its ownerReference to us removed) — unless we are being deleted;
* an orphan (no controller) that matches is adopted — unless we are being
  deleted or it is.

``pod_from_template`` builds the pod a controller creates from its template.

Candidates come from indexes only: the owner index (what we control) and the
label index (what our selector matches), never a scan of the namespace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.podutil import controller_of
from kitlib.model import errors
from kitlib.model.objects import meta_of, name_of, namespace_of, uid_of
from kitlib.model.selectors import LabelSelector
from kitlib.store.store import Store, deep_copy

__all__ = ["Claims", "adopt", "candidates", "claim", "controller_ref", "plan_claims",
           "pod_from_template", "release"]

Obj = dict[str, Any]


def controller_ref(owner: Obj) -> Obj:
    """The ownerReference a controller puts on what it creates (``metav1.NewControllerRef``)."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name_of(owner),
            "uid": uid_of(owner), "controller": True, "blockOwnerDeletion": True}


@dataclass(frozen=True)
class Claims:
    """What a controller owns after claiming, and what it must adopt or release first."""

    owned: tuple[Obj, ...] = ()
    adopt: tuple[Obj, ...] = ()
    release: tuple[Obj, ...] = ()


def plan_claims(owner: Obj, selector: LabelSelector, objs: Iterable[Obj], *,
                member: Callable[[Obj], bool] | None = None,
                matches: Callable[[Obj], bool] | None = None) -> Claims:
    """Split ``objs`` (sorted by name) into kept, to adopt and to release.

    ``matches`` (default: the selector against the labels) lets a controller pass a
    memoized selector test."""
    uid, deleting = uid_of(owner), bool(meta_of(owner).get("deletionTimestamp"))
    owned: list[Obj] = []
    to_adopt: list[Obj] = []
    to_release: list[Obj] = []
    selected = matches or (lambda o: selector.matches(meta_of(o).get("labels")))
    for obj in objs:
        matches_ = selected(obj) and (member is None or member(obj))
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches_:
                owned.append(obj)
            elif not deleting:
                to_release.append(obj)
        elif matches_ and not deleting and not meta_of(obj).get("deletionTimestamp") \
                and namespace_of(obj) == namespace_of(owner):
            to_adopt.append(obj)
    return Claims(tuple(owned), tuple(to_adopt), tuple(to_release))


def candidates(store: Store, rt_key: str, owner: Obj, selector: LabelSelector) -> list[Obj]:
    """Objects of ``rt_key`` that ``owner`` controls or its selector matches, sorted by name."""
    namespace = namespace_of(owner)
    found = {name_of(o): o for o in store.select(rt_key, namespace=namespace, labels=selector)}
    owned = store.owned_names(rt_key, uid_of(owner), namespace).difference(found)
    for obj in store.objects(rt_key, namespace, list(owned)):
        found[name_of(obj)] = obj
    return [found[name] for name in sorted(found)]


def adopt(store: Store, rt_key: str, obj: Obj, owner: Obj) -> Obj | None:
    """Make ``owner`` the controller of orphan ``obj``; None if it is gone or taken."""
    ref = controller_ref(owner)

    def change(draft: Obj) -> None:
        if controller_of(draft) is not None:
            raise errors.Conflict(f"{name_of(draft)} already has a controller")
        draft["metadata"].setdefault("ownerReferences", []).append(ref)

    with contextlib.suppress(errors.NotFound, errors.Conflict):
        return store.modify(rt_key, namespace_of(obj), name_of(obj), change)
    return None


def release(store: Store, rt_key: str, obj: Obj, owner_uid: str) -> None:
    """Remove ``owner_uid``'s reference from ``obj`` (it no longer matches the selector)."""
    def change(draft: Obj) -> None:
        refs = draft["metadata"].get("ownerReferences") or []
        draft["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]

    with contextlib.suppress(errors.NotFound):
        store.modify(rt_key, namespace_of(obj), name_of(obj), change)


def claim(store: Store, rt_key: str, owner: Obj, selector: LabelSelector,
          objs: Iterable[Obj], *, member: Callable[[Obj], bool] | None = None,
          matches: Callable[[Obj], bool] | None = None) -> list[Obj]:
    """Adopt and release as ``plan_claims`` says; the objects ``owner`` now controls."""
    plan = plan_claims(owner, selector, objs, member=member, matches=matches)
    for obj in plan.release:
        release(store, rt_key, obj, uid_of(owner))
    adopted = [a for a in (adopt(store, rt_key, o, owner) for o in plan.adopt) if a is not None]
    return sorted([*plan.owned, *adopted], key=name_of)


def pod_from_template(owner: Obj, *, generate_name: str | None = None,
                      name: str | None = None) -> Obj:
    """Upstream ``GetPodFromTemplate``: a pod of ``owner``'s template, controlled by it."""
    template = (owner.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    meta: Obj = {"namespace": namespace_of(owner),
                 "ownerReferences": [controller_ref(owner)]}
    if name is not None:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name or f"{name_of(owner)}-"
    for key in ("labels", "annotations", "finalizers"):
        if tmeta.get(key):
            meta[key] = deep_copy(tmeta[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": deep_copy(template.get("spec") or {})}
