"""The ContainerRecreateRequest controller of kruise-manager
(upstream ``pkg/controller/containerrecreaterequest``).

Per CRR, level-based:

* finished (``completionTime``) or deleted: give the pod back its readiness
  (``KruisePodReady``) if this CRR took it, drop the ``unready-acquired`` finalizer,
  remove the ``active`` label, and delete the CRR ``ttlSecondsAfterFinished`` after
  completion;
* the pod is gone, deleting or another pod (UID) → ``Completed`` "pod has gone";
  no daemon answer within 1 minute → ``Completed`` "daemon has not responded for a
  long time"; past ``activeDeadlineSeconds`` (from creation) → ``Completed``
  "recreating has exceeded the activeDeadlineSeconds";
* while ``Recreating``: copy the named containers' running statuses (started after the
  CRR was created) into the ``sync-container-statuses`` annotation — which is what
  wakes the daemon — and, with ``unreadyGracePeriodSeconds``, make the pod not ready
  and stamp the ``unready-acquired`` annotation.

Woken by its CRRs and by changes of the pods they name (an index pod → CRRs).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.crr.api import (
    ACTIVE,
    CRRS,
    POD_UID,
    SYNC_STATUSES,
    UNREADY_ACQUIRED,
    has_readiness_gate,
    set_pod_not_ready,
)
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import format_time, parse_time
from kitlib.store.watch import WatchEvent

__all__ = ["CRRManager", "complete"]

Key = tuple[str, str]
RESPONSE_TIMEOUT = 60.0


def complete(draft: dict[str, Any], now: float, message: str) -> None:
    status = draft.setdefault("status", {})
    status.update(phase="Completed", completionTime=format_time(now), message=message)


class CRRManager:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[Key] = Runner(ctx.engine, "containerrecreaterequest",
                                          self.reconcile)
        #: (namespace, pod name) -> names of the CRRs naming it.
        self.by_pod: dict[Key, set[str]] = {}
        ctx.store.subscribe(CRRS, self._on_crr)
        ctx.store.subscribe("pods", self._on_pod)

    def _on_crr(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        pod = (meta["namespace"], event.obj["spec"]["podName"])
        names = self.by_pod.setdefault(pod, set())
        if event.type == "DELETED":
            names.discard(meta["name"])
            if not names:
                del self.by_pod[pod]
        else:
            names.add(meta["name"])
        self.runner.enqueue((meta["namespace"], meta["name"]))

    def _on_pod(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        for name in sorted(self.by_pod.get((meta.get("namespace", ""), meta["name"]), ())):
            self.runner.enqueue((meta["namespace"], name))

    def reconcile(self, key: Key) -> Result | None:
        crr = self.ctx.store.peek(CRRS, *key)
        if crr is None:
            return None
        pod = self.ctx.store.peek("pods", key[0], crr["spec"]["podName"])
        status = crr.get("status") or {}
        if crr["metadata"].get("deletionTimestamp") or status.get("completionTime"):
            return self._finished(key, crr, pod)
        meta = crr["metadata"]
        if pod is None or pod["metadata"].get("deletionTimestamp") or \
                pod["metadata"]["uid"] != (meta.get("labels") or {}).get(POD_UID):
            self._complete(key, "pod has gone")
            return None
        created = parse_time(meta["creationTimestamp"])
        waits = []
        if not status.get("phase"):
            left = RESPONSE_TIMEOUT - (self.ctx.now - created)
            if left <= 0:
                self._complete(key, "daemon has not responded for a long time")
                return None
            waits.append(left)
        deadline = crr["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            left = deadline - (self.ctx.now - created)
            if left <= 0:
                self._complete(key, "recreating has exceeded the activeDeadlineSeconds")
                return None
            waits.append(left)
        if status.get("phase") == "Recreating":
            self._sync_statuses(key, crr, pod)
            if crr["spec"]["strategy"].get("unreadyGracePeriodSeconds") is not None and \
                    not (meta.get("annotations") or {}).get(UNREADY_ACQUIRED):
                self._acquire_not_ready(key, pod)
        return Result(requeue_after=min(waits)) if waits else None

    def _complete(self, key: Key, message: str) -> None:
        self.ctx.store.modify(CRRS, *key, lambda d: complete(d, self.ctx.now, message),
                              subresource="status")

    def _finished(self, key: Key, crr: dict[str, Any], pod: dict[str, Any] | None
                  ) -> Result | None:
        meta = crr["metadata"]
        if UNREADY_ACQUIRED in (meta.get("finalizers") or ()):
            self._release_not_ready(key, pod)
        if meta.get("deletionTimestamp"):
            return None
        if ACTIVE in (meta.get("labels") or {}):
            self.ctx.store.modify(CRRS, *key, lambda d: d["metadata"]["labels"].pop(ACTIVE))
            return None
        ttl = crr["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        left = ttl - (self.ctx.now - parse_time(crr["status"]["completionTime"]))
        if left > 0:
            return Result(requeue_after=left)
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.delete(CRRS, *key)
        return None

    def _sync_statuses(self, key: Key, crr: dict[str, Any], pod: dict[str, Any]) -> None:
        created = crr["metadata"]["creationTimestamp"]
        statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses")
                    or ()}
        synced = []
        for c in crr["spec"]["containers"]:
            s = statuses.get(c["name"])
            running = ((s or {}).get("state") or {}).get("running")
            if s is None or running is None or \
                    parse_time(running.get("startedAt") or created) < parse_time(created):
                continue
            synced.append({"name": s["name"], "ready": bool(s.get("ready")),
                           "restartCount": s.get("restartCount", 0),
                           "containerID": s.get("containerID", "")})
        text = json.dumps(synced, separators=(",", ":"))
        if (crr["metadata"].get("annotations") or {}).get(SYNC_STATUSES) != text:
            self.ctx.store.modify(CRRS, *key, lambda d: d["metadata"].setdefault(
                "annotations", {}).__setitem__(SYNC_STATUSES, text))

    def _acquire_not_ready(self, key: Key, pod: dict[str, Any]) -> None:
        store, message_key = self.ctx.store, f"{key[0]}/{key[1]}"
        if has_readiness_gate(pod):
            store.modify(CRRS, *key, lambda d: _add_finalizer(d, UNREADY_ACQUIRED))
            store.modify("pods", key[0], pod["metadata"]["name"],
                         lambda d: set_pod_not_ready(d, message_key, True, self.ctx.now),
                         subresource="status")
        now = format_time(self.ctx.now)
        store.modify(CRRS, *key, lambda d: d["metadata"].setdefault(
            "annotations", {}).__setitem__(UNREADY_ACQUIRED, now))

    def _release_not_ready(self, key: Key, pod: dict[str, Any] | None) -> None:
        store, message_key = self.ctx.store, f"{key[0]}/{key[1]}"
        if pod is not None and not pod["metadata"].get("deletionTimestamp") and \
                has_readiness_gate(pod):
            store.modify("pods", key[0], pod["metadata"]["name"],
                         lambda d: set_pod_not_ready(d, message_key, False, self.ctx.now),
                         subresource="status")
        with contextlib.suppress(errors.NotFound):
            store.modify(CRRS, *key, lambda d: d["metadata"].__setitem__(
                "finalizers", [f for f in d["metadata"].get("finalizers") or ()
                               if f != UNREADY_ACQUIRED]))


def _add_finalizer(draft: dict[str, Any], name: str) -> None:
    finalizers = draft["metadata"].setdefault("finalizers", [])
    if name not in finalizers:
        finalizers.append(name)
