"""The versioned object store behind the embedded API server.

Contract
--------
* **One resourceVersion for everything.** Every write (create, update, status
  update, delete, finalizer removal, garbage collection) increments one integer
  and becomes exactly one watch event; lists report the RV they were served at.
* **Every write passes through ``_commit``** — the single place where the
  version is bumped, indexes are updated, the history grows, watchers and
  subscribers are told, and (later) a durable log is appended.
* **Optimistic concurrency.** An update or patch carrying a stale
  ``metadata.resourceVersion`` fails with 409 ``Conflict``; an update without
  one is unconditional for kinds that allow it (``ResourceType.unconditional_update``).
* **Server-owned metadata.** ``uid``, ``creationTimestamp`` (simulated time),
  ``resourceVersion``, ``generation`` and ``deletionTimestamp`` are set here;
  what a client sends for them is ignored. ``generation`` starts at 1 and is
  bumped when anything outside ``metadata``/``status`` changes (and when a
  graceful deletion starts), for kinds that track it.
* **Status subresource.** For kinds with one, writes to the main resource keep
  the stored ``status`` and writes to ``/status`` change only ``status``.
* **No-op writes are not writes.** An update that changes nothing returns the
  stored object without a new RV or event.
* **Emptied metadata collections are dropped.** An update that empties
  ``labels``, ``annotations``, ``finalizers`` or ``ownerReferences`` removes the
  field, as Go's ``omitempty`` does on a real server (``kubectl label pod x
  app-`` leaves no ``labels: {}``).
* **Deletion.** Objects with finalizers, or for which the kind's deletion
  policy asks for a grace period, get ``deletionTimestamp`` and stay until the
  last finalizer is removed / a delete with grace 0 arrives. Propagation
  ``Background`` (default), ``Foreground`` and ``Orphan`` are implemented by the
  garbage collector (``gc.py``) with the ``foregroundDeletion``/``orphan``
  finalizers, as upstream.
* **Watch** from any RV still in the bounded history; older RVs raise 410
  ``Expired``. RV ``0``/unset starts with synthetic ``ADDED`` events.
* **Shared, read-only objects.** Objects handed out by reads, watch events and
  subscriptions are the stored objects themselves (no copy on the hot path):
  callers must not mutate them (``deep_copy`` first). ``verify_integrity``
  detects a violation by re-serializing objects whose JSON was cached.
* **Admission.** Registered admission functions (defaulting, validation,
  mutation — owned by ``kitlib.cluster``) run on every create and update, for API
  clients and in-process controllers alike.
* **Delete admission.** Functions registered with ``add_delete_admission`` run
  at the start of every ``delete`` (``fn(obj, options)`` with the stored object),
  before anything changes; raising an ``ApiError`` refuses the deletion (what a
  validating webhook on DELETE does). ``delete(..., admit=False)`` skips them, for
  in-server deletions that upstream does not send through admission again.

Not implemented (by design, documented for users): server-side apply's managed
fields and conflict detection, list pagination at a snapshot (a ``continue``
page shows the current state after the last key, labelled with the first
page's RV), ``resourceVersionMatch=Exact`` for lists of the past, RBAC, and
multiple versions of a kind.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from kitlib.engine.loop import Engine
from kitlib.model import errors
from kitlib.model.objects import DEFAULT_EPOCH, format_time, generated_name
from kitlib.model.registry import Registry, ResourceType
from kitlib.model.selectors import FieldSelector, LabelSelector
from kitlib.model.validation import metadata_errors

from .indexes import Indexes, ObjKey
from .watch import History, Watcher, WatchEvent, dumps_exact

__all__ = [
    "Admission",
    "DeleteOptions",
    "ListResult",
    "Store",
    "StoreSettings",
    "deep_copy",
]

log = logging.getLogger(__name__)

Op = Literal["CREATE", "UPDATE", "DELETE"]
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation", "resourceVersion")


def deep_copy(obj: Any) -> Any:
    """A deep copy of a JSON-shaped value (several times faster than ``copy.deepcopy``)."""
    return orjson.loads(orjson.dumps(obj))


class Admission(Protocol):
    """Defaults, validates or mutates an object before it is stored.

    Returns the object to store (it may be the same dict, changed in place: the
    store hands admission a private copy) or raises an ``ApiError``.
    """

    def __call__(self, op: Op, rt: ResourceType, obj: dict[str, Any],
                 old: dict[str, Any] | None) -> dict[str, Any]: ...


#: Decides a graceful deletion: returns the grace period in seconds, or None to delete now.
DeletionPolicy = Callable[[dict[str, Any], "DeleteOptions"], "int | None"]
#: Refuses a deletion by raising an ``ApiError``: ``fn(stored object, options)``.
DeleteAdmission = Callable[[dict[str, Any], "DeleteOptions"], None]
Subscriber = Callable[[WatchEvent], None]
#: ``(table, kind key, fn)``: one registered subscriber, admission or delete admission.
Extension = tuple[str, str, Callable[..., Any]]


@dataclass(frozen=True, slots=True)
class StoreSettings:
    #: Watch events kept for replay; a watch from an older RV gets 410 Expired.
    history_size: int = 100_000
    #: Events a watcher may have buffered before it is closed as too slow.
    watcher_buffer: int = 200_000
    #: Keep a running digest of every committed event (determinism checks).
    digest: bool = True
    #: Kinds kept as JSON only (a read decodes a private copy): Events, written ~15 times
    #: per pod and seldom read, as dicts would take ~4x the memory of their JSON.
    json_kinds: tuple[str, ...] = ("events",)


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False

    @classmethod
    def from_body(cls, body: dict[str, Any] | None, *, dry_run: bool = False) -> DeleteOptions:
        body = body or {}
        pre = body.get("preconditions") or {}
        policy = body.get("propagationPolicy")
        if body.get("orphanDependents") is True and policy is None:
            policy = "Orphan"
        grace = body.get("gracePeriodSeconds")
        return cls(grace_period_seconds=None if grace is None else int(grace),
                   propagation_policy=policy, precondition_uid=pre.get("uid"),
                   precondition_rv=pre.get("resourceVersion"),
                   dry_run=dry_run or bool(body.get("dryRun")))


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[dict[str, Any]]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


class _Table:
    """One kind's objects: namespace → name → object.

    A ``json_only`` table holds each object as its JSON (``WatchEvent.raw``, shared with
    the history) and decodes a private copy on each read; the others hold the stored dict.
    """

    __slots__ = ("_sorted", "by_ns", "count", "json_only")

    def __init__(self, *, json_only: bool = False) -> None:
        self.by_ns: dict[str, dict[str, Any]] = {}
        self.count = 0
        self.json_only = json_only
        self._sorted: list[ObjKey] | None = None

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        names = self.by_ns.get(namespace)
        value = None if names is None else names.get(name)
        if value is None or not self.json_only:
            return value
        decoded: dict[str, Any] = orjson.loads(value)
        return decoded

    def raw_of(self, key: ObjKey) -> bytes | None:
        """A JSON-only table's stored JSON of ``key`` (None if absent)."""
        names = self.by_ns.get(key[0])
        return None if names is None else names.get(key[1])

    def values(self, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        groups = self.by_ns.values() if namespace is None else (self.by_ns.get(namespace, {}),)
        for names in groups:
            if self.json_only:
                yield from map(orjson.loads, names.values())
            else:
                yield from names.values()

    def many(self, namespace: str, names: list[str]) -> list[dict[str, Any]]:
        stored = self.by_ns.get(namespace)
        if not stored:
            return []
        found = [value for value in map(stored.get, names) if value is not None]
        return [orjson.loads(v) for v in found] if self.json_only else found

    def put(self, key: ObjKey, obj: dict[str, Any], raw: bytes | None) -> None:
        """Store ``obj`` (``raw``, its JSON if known, for a JSON-only table)."""
        names = self.by_ns.setdefault(key[0], {})
        if key[1] not in names:
            self.count += 1
            self._sorted = None
        names[key[1]] = (raw if raw is not None else dumps_exact(obj)) if self.json_only \
            else obj

    def remove(self, key: ObjKey) -> None:
        names = self.by_ns.get(key[0], {})
        if names.pop(key[1], None) is not None:
            self.count -= 1
            self._sorted = None
        if not names:
            self.by_ns.pop(key[0], None)

    def sorted_keys(self) -> list[ObjKey]:
        """Every (namespace, name), sorted; kept until an object is added or removed, so
        that the pages of a paginated list (kubectl asks for 500 at a time) share one sort."""
        if self._sorted is None:
            self._sorted = sorted((ns, name) for ns, names in self.by_ns.items()
                                  for name in names)
        return self._sorted


class Store:
    def __init__(self, engine: Engine, registry: Registry, settings: StoreSettings | None = None,
                 *, epoch: Any = DEFAULT_EPOCH) -> None:
        self.engine = engine
        self.registry = registry
        self.settings = settings or StoreSettings()
        self.epoch = epoch
        self._rv = 0
        self._tables: dict[str, _Table] = {}
        self.indexes = Indexes()
        self.history = History(self.settings.history_size)
        self._watchers: dict[str, list[Watcher]] = {}
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._admission: dict[str, list[Admission]] = {}
        self._deletion_policy: dict[str, DeletionPolicy] = {}
        self._delete_admission: dict[str, list[DeleteAdmission]] = {}
        self._names_rng = engine.rng_for("store.names")
        self._uid_rng = engine.rng_for("store.uids")
        self._digest = hashlib.blake2b(digest_size=16)
        self._latest: dict[tuple[str, str, str], WatchEvent] = {}
        #: Called after every committed event of every kind (the garbage collector's feed).
        self.hooks: list[Subscriber] = []

    # -- configuration ------------------------------------------------------------------

    def add_admission(self, rt_key: str, fn: Admission) -> None:
        """Run ``fn`` on writes of ``rt_key`` (``"*"`` for every kind), in registration order."""
        self._admission.setdefault(rt_key, []).append(fn)

    def add_delete_admission(self, rt_key: str, fn: DeleteAdmission) -> None:
        """Run ``fn(obj, options)`` before every delete of ``rt_key``; raising refuses it."""
        self._delete_admission.setdefault(rt_key, []).append(fn)

    def set_deletion_policy(self, rt_key: str, fn: DeletionPolicy) -> None:
        self._deletion_policy[rt_key] = fn

    def subscribe(self, rt_key: str, fn: Subscriber) -> None:
        """Call ``fn(event)`` synchronously after every committed write of ``rt_key``."""
        self._subscribers.setdefault(rt_key, []).append(fn)

    # -- extensions (what an actor registered), for restarting one actor -----------------

    def extensions(self) -> list[Extension]:
        """Every registered subscriber, admission and delete admission, as
        ``(table, kind key, fn)`` with table ``"subscribers"``, ``"admission"`` or
        ``"delete_admission"``, in registration order per kind."""
        tables = self._extension_tables()
        return [(table, key, fn) for table, by_key in tables.items()
                for key, fns in by_key.items() for fn in fns]

    def replace_extensions(self, old: list[Extension], new: list[Extension]) -> None:
        """Remove ``old`` extensions; ``new`` ones (already registered) take the places of
        the old ones of the same table and kind, so that the admission chain keeps its
        order when an actor is rebuilt."""
        tables = self._extension_tables()
        for table, key, fn in new:
            tables[table][key].remove(fn)
        fresh: dict[tuple[str, str], list[Callable[..., Any]]] = {}
        for table, key, fn in new:
            fresh.setdefault((table, key), []).append(fn)
        for table, key, fn in old:
            fns = tables[table].get(key, [])
            if fn not in fns:
                continue
            spare = fresh.get((table, key))
            if spare:
                fns[fns.index(fn)] = spare.pop(0)
            else:
                fns.remove(fn)
        for (table, key), spare in fresh.items():
            tables[table].setdefault(key, []).extend(spare)

    def _extension_tables(self) -> dict[str, dict[str, list[Callable[..., Any]]]]:
        return {"subscribers": self._subscribers,
                "admission": self._admission,
                "delete_admission": self._delete_admission}

    # -- loading a stored state ---------------------------------------------------------

    def load(self, objects: list[tuple[str, dict[str, Any]]], *, resource_version: int,
             history: list[tuple[int, str, str, dict[str, Any]]] | None = None) -> None:
        """Fill an empty store with stored objects, as if they had been committed.

        ``objects`` are ``(kind key, object)`` with their server-owned metadata (kept
        as they are); ``resource_version`` is the RV counter (the next write gets + 1);
        ``history`` are recent events ``(rv, type, kind key, object)``, oldest first,
        contiguous and ending at ``resource_version``, replayed to watches from an RV
        among them. Tables, indexes and the serialization cache are filled; no
        admission runs, no subscriber, hook or watcher is told, and the digest is not
        changed (it covers the writes since the load). Objects are taken as they are
        (not copied): the store owns them from now on.
        """
        if self._rv or any(table.count for table in self._tables.values()):
            raise RuntimeError("Store.load needs an empty store: build a new cluster to load "
                               "a state into")
        stored: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        for rt_key, obj in objects:
            rv = self._load_object(rt_key, obj, resource_version)
            meta = obj["metadata"]
            stored[(rt_key, meta.get("namespace", ""), meta["name"], rv)] = obj
        self._load_history(history or [], resource_version, stored)
        self._rv = resource_version

    def _load_object(self, rt_key: str, obj: dict[str, Any], resource_version: int) -> int:
        if rt_key not in self.registry:
            raise ValueError(f"cannot load {rt_key!r} objects: this cluster does not serve the "
                             "kind (enable the settings that add it, e.g. kruise)")
        meta = obj.get("metadata") or {}
        try:
            rv = int(meta["resourceVersion"])
            key = (meta.get("namespace", ""), str(meta["name"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"cannot load a {rt_key} object without metadata.name and an "
                             f"integer metadata.resourceVersion: {meta!r:.200}") from None
        if rv > resource_version:
            raise ValueError(f"{rt_key} {key[0]}/{key[1]} has resourceVersion {rv}, above the "
                             f"state's resource_version {resource_version}")
        table = self._table(rt_key)
        if key[1] in table.by_ns.get(key[0], ()):
            raise ValueError(f"{rt_key} {key[0]}/{key[1]} appears twice in the state")
        table.put(key, obj, None)
        self.indexes.update(rt_key, key, None, obj)
        if not table.json_only:  # a JSON-only table holds the JSON itself
            self._latest[(rt_key, *key)] = WatchEvent(rv, "ADDED", rt_key, obj, None)
        return rv

    def _load_history(self, history: list[tuple[int, str, str, dict[str, Any]]],
                      resource_version: int,
                      stored: dict[tuple[str, str, str, int], dict[str, Any]]) -> None:
        """Replayable events; each one's ``prev`` is the key's previous event in the history
        (or the object itself when the history starts after it), so that filtered
        watches see the same ADDED/MODIFIED/DELETED transitions as before."""
        if history:
            rvs = [entry[0] for entry in history]
            if rvs != list(range(rvs[0], rvs[0] + len(rvs))) or rvs[-1] != resource_version:
                raise ValueError("a state's history must hold contiguous resourceVersions "
                                 f"ending at its resource_version {resource_version} (got "
                                 f"{rvs[0]}..{rvs[-1]}, {len(rvs)} events)")
        last: dict[tuple[str, str, str], dict[str, Any]] = {}
        for rv, type_, rt_key, obj in history:
            meta = obj["metadata"]
            ref = (rt_key, meta.get("namespace", ""), meta["name"])
            obj = stored.get((*ref, rv), obj)
            prev = last.get(ref, obj) if type_ != "ADDED" else None
            self.history.append(WatchEvent(rv, type_, rt_key, obj, prev))
            if type_ == "DELETED":
                last.pop(ref, None)
            else:
                last[ref] = obj

    # -- reads --------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def digest(self) -> str:
        """A digest of every event committed so far: same seed + same calls ⇒ same digest."""
        return self._digest.hexdigest()

    def _table(self, rt_key: str) -> _Table:
        table = self._tables.get(rt_key)
        if table is None:
            table = self._tables[rt_key] = _Table(
                json_only=rt_key in self.settings.json_kinds)
        return table

    def peek(self, rt_key: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object or None (shared and read-only; for a kind in
        ``StoreSettings.json_kinds``, a private copy decoded from its JSON)."""
        table = self._tables.get(rt_key)
        return None if table is None else table.get(namespace, name)

    def get(self, rt_key: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.peek(rt_key, namespace, name)
        if obj is None:
            raise errors.NotFound(f"{self.registry.get(rt_key).qualified(name)} not found",
                                  details=self._details(rt_key, name))
        return obj

    def raw(self, rt_key: str, obj: dict[str, Any]) -> bytes:
        """``obj`` (a stored object) as JSON bytes, serialized at most once per version."""
        return self.raw_many(rt_key, [obj])[0]

    def raw_many(self, rt_key: str, objs: list[dict[str, Any]]) -> list[bytes]:
        """``raw`` of each object (stored objects of kind ``rt_key``), for list responses."""
        latest = self._latest  # no entries for a JSON-only kind: its reads are copies
        out = []
        for obj in objs:
            meta = obj["metadata"]
            event = latest.get((rt_key, meta.get("namespace", ""), meta["name"]))
            out.append(event.raw if event is not None and event._obj is obj
                       else orjson.dumps(obj))
        return out

    def count(self, rt_key: str, namespace: str | None = None) -> int:
        table = self._tables.get(rt_key)
        if table is None:
            return 0
        if namespace is None:
            return table.count
        return len(table.by_ns.get(namespace, {}))

    def iter_objects(self, rt_key: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """Every stored object of a kind (unordered; shared and read-only, as ``peek``)."""
        table = self._tables.get(rt_key)
        if table is not None:
            yield from table.values(namespace)

    def by_owner(self, owner_uid: str) -> list[tuple[str, dict[str, Any]]]:
        """``(kind key, object)`` for every object whose ownerReferences name ``owner_uid``."""
        out = []
        for rt_key, ns, name in sorted(self.indexes.dependents.get(owner_uid, ())):
            obj = self.peek(rt_key, ns, name)
            if obj is not None:
                out.append((rt_key, obj))
        return out

    @property
    def owners_changes(self) -> int:
        """A counter bumped whenever any object's ownerReferences gain or lose an owner:
        a cache of ``owned_names`` stays valid while it is unchanged."""
        return self.indexes.owners_changes

    def owned_names(self, rt_key: str, owner_uid: str, namespace: str) -> set[str]:
        """Names of the ``rt_key`` objects in ``namespace`` whose ownerReferences name
        ``owner_uid`` (a new set; unsorted; from the owner index, no scan)."""
        return {name for kind, ns, name in self.indexes.dependents.get(owner_uid, ())
                if kind == rt_key and ns == namespace}

    def objects(self, rt_key: str, namespace: str, names: list[str]) -> list[dict[str, Any]]:
        """The stored objects of ``names`` (in that order; missing ones skipped)."""
        table = self._tables.get(rt_key)
        return [] if table is None else table.many(namespace, names)

    def by_uid(self, uid: str) -> tuple[str, dict[str, Any]] | None:
        ref = self.indexes.uids.get(uid)
        if ref is None:
            return None
        obj = self.peek(*ref)
        return None if obj is None else (ref[0], obj)

    def select(self, rt_key: str, *, namespace: str | None = None,
               labels: LabelSelector | None = None,
               fields: FieldSelector | None = None) -> list[dict[str, Any]]:
        """Objects matching the selectors, sorted by (namespace, name), using indexes."""
        return self._select(rt_key, namespace, labels, fields)[0]

    def _select(self, rt_key: str, namespace: str | None, labels: LabelSelector | None,
                fields: FieldSelector | None, after: ObjKey | None = None,
                limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """The first ``limit`` (all if None) matching objects whose key sorts after
        ``after``, in (namespace, name) order, and how many more match after them."""
        labels = labels or LabelSelector()
        fields = fields or FieldSelector()
        if labels.matches_nothing:
            return [], 0
        table = self._tables.get(rt_key)
        if table is None:
            return [], 0
        indexed = self._indexed_keys(rt_key, namespace, labels, fields)
        if indexed is not None:
            keys = sorted(indexed)
            start, stop = 0, len(keys)
        else:
            keys = table.sorted_keys()
            start, stop = 0, len(keys)
            if namespace is not None:  # the namespace's keys are one contiguous run
                start = bisect.bisect_left(keys, (namespace,))
                stop = bisect.bisect_left(keys, (namespace + "\x00",), lo=start)
        if after is not None:
            start = max(start, bisect.bisect_right(keys, after, lo=start, hi=stop))
        filtered = bool(labels.requirements or fields.requirements)
        out: list[dict[str, Any]] = []
        for i in range(start, stop):
            if limit is not None and len(out) >= limit and (indexed is None and not filtered):
                return out, stop - i  # every key of the sorted table is a stored object
            ns, name = keys[i]
            obj = table.get(ns, name)
            if obj is None:
                continue
            if filtered:
                if labels.requirements and not labels.matches(obj["metadata"].get("labels")):
                    continue
                if fields.requirements and not fields.matches(obj):
                    continue
            out.append(obj)
        if limit is None or len(out) <= limit:
            return out, 0
        return out[:limit], len(out) - limit

    def _indexed_keys(self, rt_key: str, namespace: str | None, labels: LabelSelector,
                      fields: FieldSelector) -> set[ObjKey] | None:
        """The smallest index hit for the selectors' equalities; None if none applies."""
        best: set[ObjKey] | None = None
        for key, value in labels.equalities():
            hits = self.indexes.with_label(rt_key, key, value)
            if best is None or len(hits) < len(best):
                best = hits
        for req in fields.requirements:
            if not req.equal:
                continue
            hits_or_none = self.indexes.with_field(rt_key, req.field, req.value)
            if hits_or_none is not None and (best is None or len(hits_or_none) < len(best)):
                best = hits_or_none
        if best is None or namespace is None:
            return best
        return {k for k in best if k[0] == namespace}

    def list_objects(self, rt_key: str, *, namespace: str | None = None,
             labels: LabelSelector | None = None, fields: FieldSelector | None = None,
             limit: int | None = None, continue_token: str | None = None) -> ListResult:
        self._check_fields(rt_key, fields)
        start_after: tuple[str, str] | None = None
        list_rv = self._rv
        if continue_token:
            list_rv, start_after = _decode_continue(continue_token)
            if not self.history.can_serve(list_rv, self._rv):
                raise errors.Expired("The provided continue parameter is too old to display a "
                                     "consistent list result. You can start a new list without "
                                     "the continue parameter.")
        if limit is not None and limit <= 0:
            limit = None
        page, remaining = self._select(rt_key, namespace, labels, fields, start_after, limit)
        if not remaining:
            return ListResult(page, list_rv)
        token = _encode_continue(list_rv, _obj_key(page[-1]))
        return ListResult(page, list_rv, token, remaining)

    def _check_fields(self, rt_key: str, fields: FieldSelector | None) -> None:
        if fields is None:
            return
        rt = self.registry.get(rt_key)
        for path in fields.fields():
            if not rt.supports_field(path):
                raise errors.BadRequest(f'field label not supported: {path} (fields selectable '
                                        f'on {rt.key}: metadata.name, metadata.namespace'
                                        + "".join(f", {f}" for f in rt.selectable_fields) + ")")

    # -- writes -------------------------------------------------------------------------

    def create(self, rt_key: str, obj: dict[str, Any], *, namespace: str | None = None,
               dry_run: bool = False) -> dict[str, Any]:
        rt = self.registry.get(rt_key)
        new = self._prepare_create(rt, deep_copy(obj), namespace)
        new = self._admit("CREATE", rt, new, None)
        self._validate_meta(rt, new)
        ns, name = new["metadata"].get("namespace", ""), new["metadata"]["name"]
        if self.peek(rt.key, ns, name) is not None:
            raise errors.AlreadyExists(f"{rt.qualified(name)} already exists",
                                       details=self._details(rt.key, name))
        self._check_namespace(rt, ns)
        if dry_run:
            return new
        return self._commit(rt, (ns, name), new, None, "ADDED")

    def _prepare_create(self, rt: ResourceType, obj: dict[str, Any],
                        namespace: str | None) -> dict[str, Any]:
        self._check_type(rt, obj)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        for field in _SERVER_META:
            meta.pop(field, None)
        self._resolve_namespace(rt, meta, namespace)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(rt, str(meta["generateName"]),
                                               meta.get("namespace", ""))
        meta["uid"] = str(uuid.UUID(int=self._uid_rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = format_time(self.engine.now, self.epoch)
        if rt.tracks_generation:
            meta["generation"] = 1
        if rt.has_status and rt.create_drops_status:
            obj.pop("status", None)
        return obj

    def _check_type(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if not isinstance(obj, dict):
            raise errors.BadRequest(f"the body must be a JSON object describing a {rt.kind}")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version is None and kind is None:
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            return
        if kind != rt.kind or api_version != rt.api_version:
            raise errors.BadRequest(
                f"the object has apiVersion {api_version!r} and kind {kind!r}, but this endpoint "
                f"serves {rt.api_version} {rt.kind}: send it to the {kind or '?'} endpoint or fix "
                "apiVersion/kind")

    def _resolve_namespace(self, rt: ResourceType, meta: dict[str, Any],
                           namespace: str | None) -> None:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise errors.BadRequest(
                f"the namespace of the provided object ({body_ns}) does not match the namespace "
                f"sent on the request ({namespace})")
        meta["namespace"] = namespace or body_ns or "default"

    def _generate_name(self, rt: ResourceType, prefix: str, namespace: str) -> str:
        for _ in range(16):
            name = generated_name(prefix, self._names_rng)
            if self.peek(rt.key, namespace, name) is None:
                return name
        raise errors.AlreadyExists(f"could not generate a unique name for prefix {prefix!r}")

    def _check_namespace(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        ns_obj = self.peek("namespaces", "", namespace)
        if ns_obj is None:
            raise errors.NotFound(f'namespaces "{namespace}" not found: create it first '
                                  f"(kubectl create namespace {namespace})",
                                  details={"name": namespace, "kind": "namespaces"})
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise errors.Forbidden(f"{rt.key} is forbidden: unable to create new content in "
                                   f"namespace {namespace} because it is being terminated",
                                   details={"name": namespace, "kind": rt.plural})

    def _validate_meta(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        problems = metadata_errors(obj["metadata"], name_rule=rt.name_rule)
        if problems:
            raise rt.invalid(obj["metadata"].get("name") or "", problems)

    def _admit(self, op: Op, rt: ResourceType, obj: dict[str, Any],
               old: dict[str, Any] | None) -> dict[str, Any]:
        for fn in (*self._admission.get("*", ()), *self._admission.get(rt.key, ())):
            obj = fn(op, rt, obj, old)
        return obj

    def update(self, rt_key: str, obj: dict[str, Any], *, namespace: str | None = None,
               subresource: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Replace an object (PUT). ``subresource="status"`` writes only ``status``."""
        rt = self.registry.get(rt_key)
        body = deep_copy(obj)
        self._check_type(rt, body)
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        name = str(meta.get("name") or "")
        ns = (namespace or meta.get("namespace") or "default") if rt.namespaced else ""
        old = self.get(rt.key, ns, name)
        self._check_rv(rt, meta.get("resourceVersion"), old, name)
        return self._replace(rt, old, body, subresource=subresource, dry_run=dry_run)

    def _check_rv(self, rt: ResourceType, rv: Any, old: dict[str, Any], name: str) -> None:
        if rv in (None, ""):
            if not rt.unconditional_update:
                raise rt.invalid(name, ["metadata.resourceVersion: Invalid value: 0x0: must be "
                                        "specified for an update"])
            return
        if str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.Conflict(f"Operation cannot be fulfilled on {rt.qualified(name)}: the "
                                  "object has been modified; please apply your changes to the "
                                  "latest version and try again",
                                  details=self._details(rt.key, name))

    def modify(self, rt_key: str, namespace: str, name: str,
               change: Callable[[dict[str, Any]], object], *,
               subresource: str | None = None, dry_run: bool = False,
               admit: bool = True) -> dict[str, Any]:
        """Apply ``change`` to a private copy of the current object and store the result.

        The basis of every PATCH: ``change`` returns the patched object, or edits
        the copy in place (any non-dict return value is then ignored). A ``metadata.resourceVersion`` that the change
        sets different from the current one is a precondition, as upstream.
        ``admit=False`` is for trusted in-cluster writes that the API forbids to
        users (the scheduler's binding of ``spec.nodeName``); ``subresource="*"``
        writes spec and status at once (the binding subresource does both).
        """
        rt = self.registry.get(rt_key)
        old = self.get(rt.key, namespace if rt.namespaced else "", name)
        draft = deep_copy(old)
        changed = change(draft)
        body = changed if isinstance(changed, dict) else draft
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        self._check_rv(rt, meta.get("resourceVersion"), old, name)
        self._check_identity(rt, old, body)
        return self._replace(rt, old, body, subresource=subresource, dry_run=dry_run,
                             admit=admit)

    def _check_identity(self, rt: ResourceType, old: dict[str, Any], body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        for field in ("name", "namespace"):
            if meta.get(field, old["metadata"].get(field)) != old["metadata"].get(field):
                raise errors.BadRequest(f"metadata.{field} cannot be changed by a patch "
                                        f"(it is {old['metadata'].get(field)!r})")
        if body.get("kind", rt.kind) != rt.kind:
            raise errors.BadRequest(f"kind cannot be changed by a patch (it is {rt.kind})")

    def _replace(self, rt: ResourceType, old: dict[str, Any], body: dict[str, Any], *,
                 subresource: str | None, dry_run: bool, admit: bool = True) -> dict[str, Any]:
        new = self._merge_server_fields(rt, old, body, subresource)
        if subresource in (None, "*") and admit:
            new = self._admit("UPDATE", rt, new, old)
        _drop_emptied_meta(old["metadata"], new["metadata"])
        self._validate_meta(rt, new)
        self._check_finalizers(rt, old, new)
        if rt.tracks_generation and _spec_changed(old, new):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
        if _same(old, new):
            return old
        if dry_run:
            return new
        key = (new["metadata"].get("namespace", ""), new["metadata"]["name"])
        if self._ready_to_remove(new):
            return self._commit(rt, key, None, new, "DELETED")
        return self._commit(rt, key, new, old, "MODIFIED")

    def _merge_server_fields(self, rt: ResourceType, old: dict[str, Any], body: dict[str, Any],
                             subresource: str | None) -> dict[str, Any]:
        if subresource == "status":
            new = dict(old)
            new["metadata"] = dict(old["metadata"])
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
            return new
        if subresource not in (None, "*"):
            raise errors.NotFound(f"{rt.key}/{subresource} cannot be written with an update")
        new = body
        meta = new.setdefault("metadata", {})
        for field in _SERVER_META:
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
            else:
                meta.pop(field, None)
        meta["name"] = old["metadata"]["name"]
        if rt.namespaced:
            meta["namespace"] = old["metadata"]["namespace"]
        if rt.has_status and subresource is None:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    def _check_finalizers(self, rt: ResourceType, old: dict[str, Any],
                          new: dict[str, Any]) -> None:
        if not old["metadata"].get("deletionTimestamp"):
            return
        added = set(new["metadata"].get("finalizers") or ()) - set(
            old["metadata"].get("finalizers") or ())
        if added:
            raise rt.invalid(old["metadata"]["name"], [
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object "
                f"is being deleted, found new finalizers {sorted(added)}"])

    def _ready_to_remove(self, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") and (
            not meta.get("deletionGracePeriodSeconds"))

    def delete(self, rt_key: str, namespace: str, name: str,
               options: DeleteOptions | None = None, *, admit: bool = True) -> dict[str, Any]:
        """Delete (or start deleting) an object; returns its last or current state."""
        rt = self.registry.get(rt_key)
        options = options or DeleteOptions()
        old = self.get(rt.key, namespace if rt.namespaced else "", name)
        self._check_preconditions(rt, old, options)
        if admit:
            for fn in self._delete_admission.get(rt.key, ()):
                fn(old, options)
        new = deep_copy(old)
        meta = new["metadata"]
        finalizers = list(meta.get("finalizers") or ())
        policy = options.propagation_policy or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.Invalid(f"propagationPolicy: Unsupported value: {policy!r}: supported "
                                 'values: "Orphan", "Background", "Foreground"')
        extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy)
        if extra and extra not in finalizers and self.by_owner(meta["uid"]):
            finalizers.append(extra)
        grace = self._grace(rt, old, options)
        if not finalizers and not grace:
            if options.dry_run:
                return old
            return self._commit(rt, _obj_key(old), None, old, "DELETED")
        return self._start_graceful(rt, old, new, finalizers, grace, options)

    def _grace(self, rt: ResourceType, old: dict[str, Any], options: DeleteOptions) -> int:
        policy = self._deletion_policy.get(rt.key)
        if policy is None:
            return 0
        return int(policy(old, options) or 0)

    def _start_graceful(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any],
                        finalizers: list[str], grace: int,
                        options: DeleteOptions) -> dict[str, Any]:
        meta = new["metadata"]
        current = meta.get("deletionGracePeriodSeconds")
        unchanged = finalizers == list(meta.get("finalizers") or ())
        if meta.get("deletionTimestamp") and (current is None or grace >= current) and unchanged:
            return old  # already being deleted at least as fast
        if finalizers:
            meta["finalizers"] = finalizers
        if not meta.get("deletionTimestamp") or (current is not None and grace < current):
            meta["deletionTimestamp"] = format_time(self.engine.now + grace, self.epoch)
            meta["deletionGracePeriodSeconds"] = grace
            if rt.tracks_generation:
                meta["generation"] = int(meta.get("generation") or 0) + 1
        if options.dry_run:
            return new
        if self._ready_to_remove(new):
            return self._commit(rt, _obj_key(new), None, new, "DELETED")
        return self._commit(rt, _obj_key(new), new, old, "MODIFIED")

    def _check_preconditions(self, rt: ResourceType, old: dict[str, Any],
                             options: DeleteOptions) -> None:
        meta = old["metadata"]
        if options.precondition_uid and options.precondition_uid != meta["uid"]:
            raise errors.Conflict(
                f"Operation cannot be fulfilled on {rt.qualified(meta['name'])}: Precondition "
                f"failed: UID in precondition: {options.precondition_uid}, UID in object meta: "
                f"{meta['uid']}", details=self._details(rt.key, meta["name"]))
        if options.precondition_rv and options.precondition_rv != meta["resourceVersion"]:
            raise errors.Conflict(
                f"Operation cannot be fulfilled on {rt.qualified(meta['name'])}: Precondition "
                f"failed: ResourceVersion in precondition: {options.precondition_rv}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
                details=self._details(rt.key, meta["name"]))

    # -- the single write path ----------------------------------------------------------

    def _commit(self, rt: ResourceType, key: ObjKey, new: dict[str, Any] | None,
                prev: dict[str, Any] | None, event_type: str) -> dict[str, Any]:
        self._rv += 1
        table = self._table(rt.key)
        json_only = table.json_only
        # the JSON of the version this write replaces, for the event's ``prev``
        if json_only:
            before = None
            prev_raw = table.raw_of(key) if prev is not None else None
        else:
            before = self._latest.get((rt.key, *key))
            prev_raw = before._raw if before is not None and prev is not None and \
                before._obj is prev else None
        if event_type == "DELETED":
            assert prev is not None
            obj = dict(prev)
            obj["metadata"] = {**prev["metadata"], "resourceVersion": str(self._rv)}
            old_stored = self.peek(rt.key, *key)
            table.remove(key)
            self.indexes.update(rt.key, key, old_stored, None)
            prev = old_stored
        else:
            assert new is not None
            obj = new
            obj["metadata"]["resourceVersion"] = str(self._rv)
        event = WatchEvent(self._rv, event_type, rt.key, obj, prev, prev_raw=prev_raw,
                           json_only=json_only)
        if event_type != "DELETED":
            table.put(key, obj, event.raw if json_only else None)
            self.indexes.update(rt.key, key, prev, obj)
        if before is not None:
            before.supersede()
        if event_type == "DELETED":
            self._latest.pop((rt.key, *key), None)
        elif not json_only:  # a JSON-only table holds the latest JSON itself
            self._latest[(rt.key, *key)] = event
        self._publish(event)
        return obj

    def _publish(self, event: WatchEvent) -> None:
        self.history.append(event)
        if self.settings.digest:
            self._digest.update(b"%d %s %s " % (event.rv, event.type.encode(),
                                                event.rt_key.encode()))
            self._digest.update(event.raw)
        for watcher in self._watchers.get(event.rt_key, ()):
            watcher.offer(event)
        for fn in self._subscribers.get(event.rt_key, ()):
            fn(event)
        for hook in self.hooks:
            hook(event)

    # -- watch --------------------------------------------------------------------------

    def watch(self, rt_key: str, *, namespace: str | None = None,
              labels: LabelSelector | None = None, fields: FieldSelector | None = None,
              resource_version: str | None = None) -> Watcher:
        """Start a watch. RV unset/"0": ADDED for every current object, then changes;
        RV n: every change after n (410 ``Expired`` if n is no longer in the history)."""
        self._check_fields(rt_key, fields)
        rt = self.registry.get(rt_key)
        watcher = Watcher(rt.key, namespace=namespace, labels=labels, fields=fields,
                          max_buffer=self.settings.watcher_buffer)
        if resource_version in (None, "", "0"):
            for obj in self.select(rt.key, namespace=namespace, labels=labels, fields=fields):
                watcher.push_initial(WatchEvent(int(obj["metadata"]["resourceVersion"]),
                                                "ADDED", rt.key, obj, None))
        else:
            self._replay(watcher, _parse_rv(resource_version))
        self._watchers.setdefault(rt.key, []).append(watcher)
        watcher._on_close = self._forget_watcher
        return watcher

    def _replay(self, watcher: Watcher, rv: int) -> None:
        if rv > self._rv:
            raise errors.Timeout(f"Too large resource version: {rv}, current: {self._rv}",
                                 retry_after=1)
        if not self.history.can_serve(rv, self._rv):
            oldest = (self.history.oldest_rv or self._rv + 1) - 1
            raise errors.Expired(f"too old resource version: {rv} ({oldest})")
        for event in self.history.since(rv, watcher.rt_key):
            watcher.offer(event)

    def _forget_watcher(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.rt_key, [])
        if watcher in watchers:
            watchers.remove(watcher)

    def watcher_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    # -- checks -------------------------------------------------------------------------

    def verify_integrity(self) -> list[str]:
        """Objects whose content changed after being stored (someone mutated a shared object)."""
        bad = []
        for event in self.history.since(-1):
            obj = event._obj  # None once compacted and superseded: not a stored object
            if event._raw is None or obj is None or event.type == "DELETED":
                continue
            stored = self.peek(event.rt_key, event.namespace, obj["metadata"]["name"])
            if stored is obj and orjson.dumps(stored) != event._raw:
                bad.append(f"{event.rt_key} {event.namespace}/{obj['metadata']['name']}")
        return bad

    def _details(self, rt_key: str, name: str) -> dict[str, Any]:
        rt = self.registry.get(rt_key)
        details: dict[str, Any] = {"name": name, "kind": rt.plural}
        if rt.group:
            details["group"] = rt.group
        return details


def _obj_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def _parse_rv(value: str) -> int:
    try:
        rv = int(value)
    except (TypeError, ValueError):
        raise errors.BadRequest(f"invalid resource version {value!r}: resourceVersion is an "
                                "integer this server handed out") from None
    if rv < 0:
        raise errors.BadRequest(f"invalid resource version {value!r}: must not be negative")
    return rv


def _encode_continue(rv: int, after: tuple[str, str]) -> str:
    raw = orjson.dumps({"rv": rv, "ns": after[0], "name": after[1]})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        return int(data["rv"]), (str(data["ns"]), str(data["name"]))
    except Exception:
        raise errors.BadRequest("invalid continue token: pass the metadata.continue value of "
                                "the previous page unchanged") from None


_OMITEMPTY_META = ("labels", "annotations", "finalizers", "ownerReferences")


def _drop_emptied_meta(old: dict[str, Any], new: dict[str, Any]) -> None:
    for field in _OMITEMPTY_META:
        if field in new and not new[field] and old.get(field):
            del new[field]


def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    skip = ("metadata", "status", "apiVersion", "kind")
    keys = (set(old) | set(new)) - set(skip)
    return any(old.get(k) != new.get(k) for k in keys)


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    if old.keys() != new.keys():
        return False
    for key, value in new.items():
        if key == "metadata":
            a = {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}
            b = {k: v for k, v in value.items() if k != "resourceVersion"}
            if a != b:
                return False
        elif old[key] != value:
            return False
    return True
