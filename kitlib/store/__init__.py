"""The versioned object store: see ``kitlib.store.store`` for its contract."""

from kitlib.store.gc import GarbageCollector
from kitlib.store.indexes import Indexes
from kitlib.store.store import DeleteOptions, ListResult, Store, StoreSettings, deep_copy
from kitlib.store.watch import History, Watcher, WatchEvent

__all__ = [
    "DeleteOptions",
    "GarbageCollector",
    "History",
    "Indexes",
    "ListResult",
    "Store",
    "StoreSettings",
    "WatchEvent",
    "Watcher",
    "deep_copy",
]
