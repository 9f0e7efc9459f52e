"""A stand-in kubelet for the workload controller tests.

Every new pod becomes Running and Ready ``ready_after`` simulated seconds after
it is created. With ``node`` set, pods are first bound to that node, so that
deleting them is graceful (as on a real cluster) and this kubelet removes them
``terminate_after`` seconds later; without it pods stay unscheduled and a
delete removes them at once. The workload controllers do not care either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.podutil import set_condition
from kitlib.engine.loop import Priority
from kitlib.model import errors
from kitlib.model.objects import meta_of
from kitlib.store import DeleteOptions
from kitlib.store.watch import WatchEvent

Pod = dict[str, Any]


class FakeKubelet:
    def __init__(self, cluster: EmbeddedCluster, *, ready_after: float = 5.0,
                 node: str | None = None, terminate_after: float = 2.0) -> None:
        self.cluster = cluster
        self.ready_after = ready_after
        self.node = node
        self.terminate_after = terminate_after
        #: Pods that never become ready (a broken image, say).
        self.broken: Callable[[Pod], bool] = lambda pod: False
        cluster.store.subscribe("pods", self._on_pod)

    def _on_pod(self, event: WatchEvent) -> None:
        meta = meta_of(event.obj)
        ref = (meta.get("namespace", ""), meta["name"], meta["uid"])
        engine = self.cluster.engine
        if event.type == "ADDED":
            if self.node:
                engine.call_soon(lambda: self._bind(*ref), priority=Priority.ACTOR)
            engine.call_later(self.ready_after, lambda: self._ready(*ref),
                              priority=Priority.ACTOR, label="fake-kubelet ready")
        elif event.type == "MODIFIED" and meta.get("deletionTimestamp") and \
                not meta_of(event.prev or {}).get("deletionTimestamp"):
            engine.call_later(self.terminate_after, lambda: self._remove(*ref),
                              priority=Priority.ACTOR, label="fake-kubelet remove")

    def _current(self, ns: str, name: str, uid: str) -> Pod | None:
        pod = self.cluster.store.peek("pods", ns, name)
        return pod if pod is not None and meta_of(pod)["uid"] == uid else None

    def _bind(self, ns: str, name: str, uid: str) -> None:
        if self._current(ns, name, uid) is not None:
            self.cluster.store.modify("pods", ns, name,
                                      lambda p: p["spec"].__setitem__("nodeName", self.node),
                                      subresource="*", admit=False)

    def _ready(self, ns: str, name: str, uid: str) -> None:
        pod = self._current(ns, name, uid)
        if pod is None or meta_of(pod).get("deletionTimestamp") or self.broken(pod):
            return
        now = self.cluster.now

        def change(draft: Pod) -> None:
            draft["status"]["phase"] = "Running"
            for type_ in ("Initialized", "ContainersReady", "Ready"):
                set_condition(draft, type_, "True", now)

        self.cluster.store.modify("pods", ns, name, change, subresource="status")

    def _remove(self, ns: str, name: str, uid: str) -> None:
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            self.cluster.store.delete("pods", ns, name,
                                      DeleteOptions(grace_period_seconds=0, precondition_uid=uid))
