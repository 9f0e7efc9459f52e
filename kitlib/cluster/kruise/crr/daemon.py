"""kruise-daemon's ContainerRecreateRequest worker (upstream
``pkg/daemon/containerrecreate``): kills the named containers through the node's
container runtime (``KubeletManager.kill_container``: preStop, then stop within
``strategy.terminationGracePeriodSeconds``) and the kubelet restarts them in the same
pod (``restartCount`` + 1, ``lastState``; name, UID, IP, node and the other containers
untouched).

One CRR per pod at a time, picked by phase (Completed, Recreating, Pending, new) then
creation time; the others wait in ``Pending``. The picked one goes ``Recreating``,
waits for ``unready-acquired`` + ``unreadyGracePeriodSeconds`` if that is set, then
each pass recomputes every container's state from the pod and the manager's
``sync-container-statuses``: ``Succeeded`` once a new instance runs, is ready and has
run longer than ``minStartedSeconds``; ``Recreating`` while killed or exited;
``Pending`` until killed (a killed container still stopping stays ``Recreating``: upstream's
kill call returns only once it stopped). Containers are killed one per pass (``orderedRecreate``:
the next only once the previous one succeeded). A failed container completes the
CRR unless ``failurePolicy: Ignore``; when all are done the CRR is ``Completed``.
A node that is down (its daemon with it) does nothing until it is back.
"""

from __future__ import annotations

import json
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.crr.api import ACTIVE, CRRS, NODE_NAME, SYNC_STATUSES, UNREADY_ACQUIRED
from kitlib.cluster.kruise.crr.manager import complete
from kitlib.engine.loop import Priority
from kitlib.engine.runner import Result, Runner
from kitlib.model.objects import parse_time
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["CRRDaemon", "recreate_states"]

Key = tuple[str, str]  # namespace, pod name
_WEIGHT = {"Completed": 1, "Recreating": 2, "Pending": 3}


def recreate_states(crr: dict[str, Any], pod_statuses: dict[str, dict[str, Any]],
                    now: float) -> list[dict[str, Any]]:
    """Every container's recreate state (upstream
    ``getCurrentCRRContainersRecreateStates``), from the pod's container statuses."""
    spec = crr["spec"]
    min_started = float(spec["strategy"].get("minStartedSeconds") or 0)
    synced = {s["name"]: s for s in json.loads(
        (crr["metadata"].get("annotations") or {}).get(SYNC_STATUSES) or "[]")}
    previous = {s["name"]: s for s in (crr.get("status") or {}).get(
        "containerRecreateStates") or ()}
    created = parse_time(crr["metadata"]["creationTimestamp"])
    out = []
    for c in spec["containers"]:
        name, before = c["name"], previous.get(c["name"])
        if before is not None and before.get("phase") in ("Failed", "Succeeded"):
            out.append(before)
            continue
        killed, status = bool((before or {}).get("isKilled")), pod_statuses.get(name)
        running = ((status or {}).get("state") or {}).get("running")
        context = c.get("statusContext") or {}
        state: dict[str, Any] = {"name": name, "phase": "Pending", "isKilled": killed}
        if status is None:
            state["message"] = "not found container on Node"
        elif running is None:
            state["phase"] = "Recreating"
        elif spec["strategy"].get("forceRecreate") and not killed:
            state = {"name": name, "phase": "Pending"}
        elif status.get("containerID") != context.get("containerID") or \
                status.get("restartCount", 0) > context.get("restartCount", 0) or \
                parse_time(running["startedAt"]) > created:
            state["phase"] = "Recreating"
            mine = synced.get(name)
            if mine is not None and mine.get("containerID") == status.get("containerID") and \
                    mine.get("ready") and \
                    (now - parse_time(running["startedAt"]) > min_started or min_started == 0):
                state["phase"] = "Succeeded"
        elif killed:
            state["phase"] = "Recreating"  # still stopping (upstream's kill blocks until then)
        out.append(state)
    return out


class CRRDaemon:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[Key] = Runner(ctx.engine, "kruise-daemon-crr", self.sync,
                                          priority=Priority.ACTOR)
        #: node -> pods whose sync found the node down (synced again when it is back).
        self._down: dict[str, set[Key]] = {}
        ctx.store.subscribe(CRRS, self._on_crr)
        ctx.store.subscribe("nodes", self._on_node)

    def _on_crr(self, event: WatchEvent) -> None:
        obj = event.obj
        if event.type == "DELETED" or obj["metadata"].get("deletionTimestamp") or \
                (obj.get("status") or {}).get("completionTime"):
            return
        self.runner.enqueue((obj["metadata"]["namespace"], obj["spec"]["podName"]))

    def _on_node(self, event: WatchEvent) -> None:
        name = event.obj["metadata"]["name"]
        runtime = self.ctx.node_runtime
        if name in self._down and runtime is not None and runtime.runtime_up(name):
            for key in sorted(self._down.pop(name)):
                self.runner.enqueue(key)

    def _active(self, key: Key) -> list[dict[str, Any]]:
        found = self.ctx.store.select(CRRS, namespace=key[0],
                                      labels=LabelSelector.from_labels({ACTIVE: "true"}))
        mine = [c for c in found if c["spec"]["podName"] == key[1] and
                not c["metadata"].get("deletionTimestamp") and
                not (c.get("status") or {}).get("completionTime")]
        return sorted(mine, key=lambda c: (_WEIGHT.get((c.get("status") or {}).get("phase", ""),
                                                       4), c["metadata"]["creationTimestamp"],
                                           c["metadata"]["name"]))

    def sync(self, key: Key) -> Result | None:
        crrs = self._active(key)
        if not crrs:
            return None
        runtime = self.ctx.node_runtime
        node = crrs[0]["metadata"]["labels"].get(NODE_NAME, "")
        if runtime is None or not runtime.runtime_up(node):
            self._down.setdefault(node, set()).add(key)
            return None
        picked, rest = crrs[0], crrs[1:]
        for other in rest:
            if not (other.get("status") or {}).get("phase"):
                self._set_status(other, {"phase": "Pending"})
        if (picked.get("status") or {}).get("phase") != "Recreating":
            self._set_status(picked, {"phase": "Recreating"})
            return None
        grace = picked["spec"]["strategy"].get("unreadyGracePeriodSeconds")
        if grace is not None:
            acquired = (picked["metadata"].get("annotations") or {}).get(UNREADY_ACQUIRED)
            if not acquired:
                return None
            left = grace - (self.ctx.now - parse_time(acquired))
            if left > 0:
                return Result(requeue_after=left + 0.1)
        return self._manage(picked)

    def _manage(self, crr: dict[str, Any]) -> Result | None:
        meta, spec = crr["metadata"], crr["spec"]
        pod = self.ctx.store.peek("pods", meta["namespace"], spec["podName"])
        statuses = {s["name"]: s for s in ((pod or {}).get("status") or {}).get(
            "containerStatuses") or ()}
        states = recreate_states(crr, statuses, self.ctx.now)
        current = (crr.get("status") or {}).get("containerRecreateStates")
        if states != current:
            self._set_status(crr, {"containerRecreateStates": states})
            return None
        strategy = spec["strategy"]
        completed = self._step(crr, states, set(statuses))
        if completed is None:
            self._complete(crr)
            return None
        if states != current:
            self._set_status(crr, {"containerRecreateStates": states})
            return None
        if completed == len(states):
            self._complete(crr)
            return None
        min_started = strategy.get("minStartedSeconds") or 0
        return Result(requeue_after=float(min_started)) if min_started > 0 else None

    def _step(self, crr: dict[str, Any], states: list[dict[str, Any]],
              present: set[str]) -> int | None:
        """Kill the next container(s), updating ``states``; the number of finished
        containers, or None when a failure ends the request (``failurePolicy: Fail``)."""
        completed, strategy = 0, crr["spec"]["strategy"]
        ignore = strategy.get("failurePolicy") == "Ignore"
        for state in states:
            if state["phase"] in ("Succeeded", "Failed"):
                completed += 1
                if state["phase"] == "Failed" and not ignore:
                    return None
                continue
            if state["phase"] == "Recreating":
                state["isKilled"] = True
                if strategy.get("orderedRecreate"):
                    break
                continue
            if state["name"] not in present:
                break
            if self._kill(crr, state["name"]):
                state.update(isKilled=True, phase="Recreating")
            else:
                state.update(phase="Failed", message="kill container error: the container "
                             "is not running")
                if ignore:
                    continue
            break
        return completed

    def _kill(self, crr: dict[str, Any], container: str) -> bool:
        runtime, meta = self.ctx.node_runtime, crr["metadata"]
        assert runtime is not None
        grace = crr["spec"]["strategy"].get("terminationGracePeriodSeconds")
        return runtime.kill_container(
            meta["namespace"], crr["spec"]["podName"], meta["labels"].get(
                "crr.apps.kruise.io/pod-uid", ""), container,
            grace=None if grace is None else float(grace),
            message=f"Stopping container {container} by ContainerRecreateRequest "
                    f"{meta['name']}")

    def _set_status(self, crr: dict[str, Any], fields: dict[str, Any]) -> None:
        meta = crr["metadata"]
        self.ctx.store.modify(CRRS, meta["namespace"], meta["name"],
                              lambda d: d.setdefault("status", {}).update(fields),
                              subresource="status")

    def _complete(self, crr: dict[str, Any]) -> None:
        meta = crr["metadata"]
        self.ctx.store.modify(CRRS, meta["namespace"], meta["name"],
                              lambda d: complete(d, self.ctx.now, ""), subresource="status")
