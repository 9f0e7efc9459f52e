"""Durability: the store's committed writes kept in a directory (``kitlib serve --data-dir``).

Format (``FORMAT_VERSION`` 1): one SQLite database, ``DIR/store.db``, in WAL mode,
plus ``DIR/lock``. Three tables:

* ``events(rv PRIMARY KEY, type, kind, ns, name, raw)`` — every committed watch
  event with the object's JSON bytes (the ``WatchEvent.raw`` the store already
  serialized). Events after ``history_from`` are all kept (the watch-resume tail,
  ``StoreSettings.history_size`` long); older ones are pruned unless an object
  still points at them.
* ``objects(kind, ns, name) -> rv`` — the latest version of every live object, as
  a reference into ``events`` (so each version's bytes are written once).
* ``meta(key, value)`` — ``format`` (the version), ``settings`` (the cluster's
  settings as JSON, opaque to this module), ``rv``, ``now``, ``history_from``,
  ``rng_rv`` and one ``rng:<stream>`` row per engine RNG stream (``Engine.rng_states``).

Why SQLite and not an append-only log: measured on a 10,000-pod create (figures
in ``docs/embedded-api.md``), an append-only log costs a little less per event
but needs its own compaction and replays every event on recovery; SQLite gives
"latest object per key + bounded tail" with an upsert and a ``DELETE``, and a
crash-atomic transaction per flush.

Write path and the meaning of "acknowledged"
--------------------------------------------
``attach`` adds a store hook that only queues each committed event (no I/O on
the write path). ``flush`` writes the queue, the RV counter, the clock and the
RNG streams that changed in **one transaction**. The API server calls ``flush``
before it sends anything (every response start and every watch chunk, see
``ApiServerApp(flush=...)``), so nothing a client has seen — an acknowledged
write, a list's RV, a watch event — can be missing after a restart, and
everything not yet flushed was seen by nobody (its RVs are handed out again).
The queue is also flushed by itself past ``AUTO_FLUSH`` events.

Sync level: ``journal_mode=WAL`` + ``synchronous=NORMAL``. A committed
transaction is in the WAL file (the kernel's page cache) before ``flush``
returns, so a killed process (``kill -9``, OOM, a crash) loses nothing that was
acknowledged. A power loss or kernel crash may lose the last transactions
(never corrupts the database); ``sync="FULL"`` fsyncs every commit and closes
that gap at several milliseconds per flush.

RNG streams. A restarted cluster must never draw again the UIDs, generated
names or cluster IPs of objects it kept. Saving every stream with every flush
would cost more than the flush itself (≈ 9 streams × 625 words), so the streams
are saved when the directory is attached and when it is closed, with the RV they
belong to (``rng_rv``). Recovery after a clean close continues them exactly
(same draws as without the restart); after a crash (``rng_rv`` < ``rv``) each
saved stream is replaced by a new one seeded from its name, its saved state and
the recovered RV — deterministic for a given directory, and unrelated to the
draws already used. A killed server is not a deterministic history anyway.

A ``DataDir`` is used from one thread at a time (the API server's event loop);
``fcntl.flock`` on ``DIR/lock`` keeps a second server off the directory (the OS
drops the lock when the process dies, however it dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kitlib.model import errors
from kitlib.store.store import Store
from kitlib.store.watch import WatchEvent

__all__ = ["AUTO_FLUSH", "FORMAT_VERSION", "DataDir", "DataDirError", "Recovered"]

log = logging.getLogger(__name__)

#: The on-disk format this kitlib reads and writes.
FORMAT_VERSION = 1
#: Queued events that trigger a flush on their own (bounds memory between responses).
AUTO_FLUSH = 5_000
_DB = "store.db"
#: SQLite page size of a new database (see ``_connect``).
PAGE_SIZE = 8192
_LOCK = "lock"
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE events (rv INTEGER PRIMARY KEY, type TEXT NOT NULL, kind TEXT NOT NULL, "
    "ns TEXT NOT NULL, name TEXT NOT NULL, raw BLOB NOT NULL)",
    "CREATE TABLE objects (kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, "
    "rv INTEGER NOT NULL, PRIMARY KEY (kind, ns, name)) WITHOUT ROWID",
    "CREATE INDEX objects_rv ON objects (rv)",
)
#: One queued event: (rv, type, kind key, namespace, name, JSON bytes).
_Row = tuple[int, str, str, str, str, bytes]


class DataDirError(Exception):
    """A data directory that cannot be used (the message says what to do)."""


@dataclass
class Recovered:
    """What a data directory held when it was opened (shapes of ``ClusterState``)."""

    settings: dict[str, Any]
    #: ``(kind key, object)`` of every live object.
    objects: list[tuple[str, dict[str, Any]]]
    resource_version: int
    now: float
    rng_states: dict[str, Any]
    #: ``(rv, type, kind key, object)``, oldest first, contiguous, ending at ``resource_version``.
    history: list[tuple[int, str, str, dict[str, Any]]]


class DataDir:
    """One open data directory (see the module docstring).

    ``DataDir(path, settings=...)`` creates a new directory (mode 0700) holding
    ``settings``, or opens an existing one: then ``recovered`` holds its state
    and ``settings`` the directory's own (which win over the caller's).
    """

    def __init__(self, path: Path, *, settings: dict[str, Any], sync: str = "NORMAL") -> None:
        self.path = path
        self._lock_fd = _lock(path)
        try:
            self._db = _connect(path / _DB, sync)
            self.recovered = self._open(settings)
        except BaseException:
            self._release()
            raise
        self.settings = self.recovered.settings if self.recovered else settings
        self._pending: list[_Row] = []
        self._store: Store | None = None
        self._rng_states: Callable[[], dict[str, Any]] | None = None
        self._saved_now: float | None = None
        self._saved_rv = self.recovered.resource_version if self.recovered else 0
        self._history_from = self._meta_int("history_from")
        self._failed: str | None = None

    # -- setup --------------------------------------------------------------------------

    def _open(self, settings: dict[str, Any]) -> Recovered | None:
        """The directory's state, or None after creating the tables of a new one."""
        try:
            if _has_schema(self._db):
                return _recover(self._db)
            self._create(settings)
            return None
        except DataDirError:
            self._db.close()
            raise
        except (sqlite3.Error, KeyError, ValueError) as exc:
            self._db.close()
            raise DataDirError(f"the data directory {self.path} is damaged or incomplete "
                               f"({type(exc).__name__}: {exc}): pass another --data-dir") from None

    def _create(self, settings: dict[str, Any]) -> None:
        with self._transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._put_meta({"format": FORMAT_VERSION, "settings": settings, "rv": 0,
                            "now": 0.0, "history_from": 0})

    def attach(self, store: Store, *,
               rng_states: Callable[[], dict[str, Any]] | None = None) -> None:
        """Persist ``store``'s writes from now on, after writing what the directory misses
        (a new cluster's initial objects, or writes made while the cluster was rebuilt).
        ``rng_states`` (``Engine.rng_states``) is saved now and at ``close``."""
        self._store = store
        self._rng_states = rng_states
        self._catch_up(store)
        store.hooks.append(self._queue)
        self.flush()
        self._save_rng()

    def _catch_up(self, store: Store) -> None:
        """One transaction: the events after the directory's RV, or — when the store's
        history does not reach back that far — every live object as it is now plus the
        history the store has."""
        missed = [_row(event) for event in store.history.since(self._saved_rv)]
        with self._transaction():
            if not store.history.can_serve(self._saved_rv, store.resource_version):
                self._write_all_objects(store)
                self._history_from = missed[0][0] - 1 if missed else store.resource_version
                self._put_meta({"history_from": self._history_from})
            self._write_events(missed)
            self._put_meta({"rv": store.resource_version, "now": store.engine.now})
        self._saved_rv, self._saved_now = store.resource_version, store.engine.now

    def _write_all_objects(self, store: Store) -> None:
        self._db.execute("DELETE FROM objects")
        for rt in store.registry:
            for obj in store.iter_objects(rt.key):
                meta = obj["metadata"]
                row = (int(meta["resourceVersion"]), "MODIFIED", rt.key,
                       meta.get("namespace", ""), meta["name"], store.raw(rt.key, obj))
                # IGNORE: a history event of the same RV (written next) has the true type
                self._db.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)", row)
                self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                                 (*row[2:5], row[0]))

    # -- the write path -----------------------------------------------------------------

    def _queue(self, event: WatchEvent) -> None:
        self._pending.append(_row(event))
        if len(self._pending) >= AUTO_FLUSH:
            with contextlib.suppress(errors.ServiceUnavailable):  # raised again by the next
                self.flush()                                      # flush, before a response

    def flush(self) -> None:
        """Commit every queued event with the RV counter and the clock. Raises
        ``ServiceUnavailable`` when the directory cannot be written (and from then on)."""
        if self._failed is not None:
            raise errors.ServiceUnavailable(self._failed)
        store = self._store
        if store is None:
            return
        now = store.engine.now
        if not self._pending and now == self._saved_now:
            return
        pending, self._pending = self._pending, []
        try:
            with self._transaction():
                self._write_events(pending)
                self._put_meta({"rv": store.resource_version, "now": now})
                self._prune(store.settings.history_size)
        except sqlite3.Error as exc:
            self._failed = (f"the server could not write to its data directory {self.path} "
                            f"({exc}); it no longer acknowledges anything: free space or fix "
                            "the directory, then restart kitlib serve on it")
            log.error("kitlib: %s", self._failed)
            raise errors.ServiceUnavailable(self._failed) from None
        self._saved_now, self._saved_rv = now, store.resource_version

    def _write_events(self, pending: list[_Row]) -> None:
        latest: dict[tuple[str, str, str], _Row] = {}
        for row in pending:
            latest[(row[2], row[3], row[4])] = row
        self._db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?)", pending)
        self._db.executemany(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
            [(*key, row[0]) for key, row in latest.items() if row[1] != "DELETED"])
        self._db.executemany(
            "DELETE FROM objects WHERE kind = ? AND ns = ? AND name = ?",
            [key for key, row in latest.items() if row[1] == "DELETED"])

    def _save_rng(self) -> None:
        """Save the RNG streams as of the last flushed RV (call right after a flush)."""
        if self._rng_states is None:
            return
        with self._transaction():
            self._put_meta({f"rng:{name}": state
                            for name, state in self._rng_states().items()})
            self._put_meta({"rng_rv": self._saved_rv})

    def _prune(self, history_size: int) -> None:
        """Keep the last ``history_size`` events (watch resume) and every live version;
        runs once per quarter of a history, so its cost is spread thin."""
        rv = self._store.resource_version if self._store else 0
        cutoff = rv - history_size
        if cutoff - self._history_from < max(history_size // 4, 1):
            return
        self._db.execute("DELETE FROM events WHERE rv <= ? AND NOT EXISTS "
                         "(SELECT 1 FROM objects WHERE objects.rv = events.rv)", (cutoff,))
        self._history_from = cutoff
        self._put_meta({"history_from": cutoff})

    # -- helpers ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _put_meta(self, values: dict[str, Any]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(k, orjson.dumps(v)) for k, v in values.items()])

    def _meta_int(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(orjson.loads(row[0])) if row else 0

    def size(self) -> int:
        """Bytes the directory's database files take (database + WAL)."""
        return sum(f.stat().st_size for f in self.path.glob(_DB + "*") if f.is_file())

    def close(self) -> None:
        """Flush (when still healthy), checkpoint the WAL and release the lock."""
        try:
            if self._failed is None:
                self.flush()
                self._save_rng()
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            if self._store is not None and self._queue in self._store.hooks:
                self._store.hooks.remove(self._queue)
            self._db.close()
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None


def _row(event: WatchEvent) -> _Row:
    meta = event.obj["metadata"]
    return (event.rv, event.type, event.rt_key, meta.get("namespace", ""), meta["name"],
            event.raw)


def _fresh_state(seed: str) -> list[Any]:
    version, internal, gauss = random.Random(seed).getstate()
    return [version, list(internal), gauss]


def _lock(path: Path) -> int | None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataDirError(f"--data-dir {path} exists and is not a directory: pass a "
                           "directory (a new one is created)") from None
    except OSError as exc:
        raise DataDirError(f"cannot create --data-dir {path}: {exc.strerror}") from None
    fd = os.open(path / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DataDirError(f"--data-dir {path} is in use by another kitlib serve (pid "
                           f"{holder}): stop it, or pass another directory") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _connect(file: Path, sync: str) -> sqlite3.Connection:
    if sync not in ("NORMAL", "FULL"):
        raise ValueError(f"sync must be 'NORMAL' or 'FULL', got {sync!r}")
    # check_same_thread=False: a server is built on one thread and served from another
    # (tests run it in a background thread); calls never overlap.
    db = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    try:
        # Pages that hold several ~2-4 KB objects each (4 KB pages would hold one: half wasted);
        # only takes effect when the database is created.
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={sync}")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise DataDirError(f"{file} is not a kitlib data directory database ({exc}): pass "
                           "another --data-dir") from None
    with contextlib.suppress(OSError):
        os.chmod(file, 0o600)
    return db


def _has_schema(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is not None


def _recover(db: sqlite3.Connection) -> Recovered:
    """The directory's state; refuses another format version."""
    meta = {key: value for key, value in db.execute("SELECT key, value FROM meta")}
    version = orjson.loads(meta["format"]) if "format" in meta else None
    if version != FORMAT_VERSION:
        raise DataDirError(f"the data directory was written in format {version!r}; this kitlib "
                           f"reads format {FORMAT_VERSION}: use the kitlib that wrote it, or "
                           "pass a new --data-dir")
    rv = int(orjson.loads(meta["rv"]))
    history_from = int(orjson.loads(meta["history_from"]))
    parsed: dict[int, dict[str, Any]] = {}
    history = []
    for ev_rv, type_, kind, raw in db.execute(
            "SELECT rv, type, kind, raw FROM events WHERE rv > ? ORDER BY rv", (history_from,)):
        obj = parsed[ev_rv] = orjson.loads(raw)
        history.append((ev_rv, type_, kind, obj))
    objects = []
    for kind, ev_rv, raw in db.execute(
            "SELECT o.kind, o.rv, CASE WHEN o.rv > ? THEN NULL ELSE e.raw END FROM objects o "
            "JOIN events e ON e.rv = o.rv", (history_from,)):
        objects.append((kind, parsed[ev_rv] if raw is None else orjson.loads(raw)))
    rng = {key[4:]: orjson.loads(value) for key, value in meta.items() if key.startswith("rng:")}
    if int(orjson.loads(meta.get("rng_rv", b"-1"))) != rv:  # a crash: see the module docstring
        rng = {name: _fresh_state(f"{name}:{rv}:{state[1][0]}") for name, state in rng.items()}
    return Recovered(settings=orjson.loads(meta["settings"]), objects=objects,
                     resource_version=rv, now=float(orjson.loads(meta["now"])),
                     rng_states=rng, history=history)
