"""The namespace controller: deleting a namespace deletes everything in it.

Simplification (documented in docs/architecture.md): upstream keeps a deleted
namespace in phase ``Terminating`` (held by ``spec.finalizers``) until its
content is gone; here the namespace object goes at once and its content is
deleted right after, in the same instant, by this controller.
"""

from __future__ import annotations

import contextlib

from kitlib.engine.loop import Engine
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.store.store import DeleteOptions, Store
from kitlib.store.watch import WatchEvent

__all__ = ["NamespaceController"]


class NamespaceController:
    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.runner: Runner[str] = Runner(engine, "namespace-controller", self.reconcile)
        store.subscribe("namespaces", self._observe)

    def _observe(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            self.runner.enqueue(event.obj["metadata"]["name"])

    def reconcile(self, namespace: str) -> Result | None:
        if self.store.peek("namespaces", "", namespace) is not None:
            return None  # re-created meanwhile: its content belongs to the new namespace
        for rt in self.store.registry:
            if not rt.namespaced or not rt.stored:
                continue
            for obj in list(self.store.iter_objects(rt.key, namespace)):
                with contextlib.suppress(errors.NotFound):
                    self.store.delete(rt.key, namespace, obj["metadata"]["name"],
                                      DeleteOptions(propagation_policy="Background"))
        return None
