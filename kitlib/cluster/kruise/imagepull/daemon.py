"""kruise-daemon's image puller: pulls the tags of each NodeImage on its node.

Every tag in ``spec.images[<name>].tags[]`` is pulled into the node's image store
through the node's container runtime (``KubeletManager.pull_image``): the kubelet's
own serialized puller, so a pre-download takes the same simulated time
(missing bytes ÷ node bandwidth, shared layers free) and fails the same way as a
kubelet pull, and a pod started later finds the image "already present on machine".
With ``imagePullPolicy: IfNotPresent`` an image already on the node succeeds at once.

Per tag: an attempt lasts at most ``pullPolicy.timeoutSeconds``; a failed or timed
out attempt is retried at once until ``backoffLimit`` retries are spent, then the tag
is ``Failed`` with the runtime's error. A node that goes down (its daemon with it:
nothing is written meanwhile) forgets its pulls; they start again when it is back. The status is written only when it changed:
``imageStatuses[<name>].tags[]{tag, phase, progress, imageID, startTime,
completionTime, message}`` and the counters ``desired/succeeded/failed/pulling/waiting``.

State per (node, name, tag) lives here, in memory, as the daemon's would.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.imagepull.job import NODE_IMAGES
from kitlib.cluster.kubelet.images import parse_reference
from kitlib.cluster.kubelet.puller import PullOutcome
from kitlib.engine.loop import Priority, Timer
from kitlib.engine.runner import Runner
from kitlib.model import errors
from kitlib.model.objects import format_time
from kitlib.store.watch import WatchEvent

__all__ = ["ImagePullDaemon"]

TagKey = tuple[str, str, str]  # node, name, tag


@dataclass(eq=False)
class _Tag:
    phase: str = "Waiting"
    attempt: int = 0
    failures: int = 0
    inflight: bool = False
    start: float | None = None
    end: float | None = None
    image_id: str = ""
    message: str = ""
    timer: Timer | None = None

    def render(self, tag: str) -> dict[str, Any]:
        out: dict[str, Any] = {"tag": tag, "phase": self.phase,
                               "progress": 100 if self.phase == "Succeeded" else 0}
        if self.image_id:
            out["imageID"] = self.image_id
        if self.start is not None:
            out["startTime"] = format_time(self.start)
        if self.end is not None:
            out["completionTime"] = format_time(self.end)
        if self.message:
            out["message"] = self.message
        return out


def image_of(name: str, tag: str) -> str:
    return f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"


class ImagePullDaemon:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[str] = Runner(ctx.engine, "kruise-daemon", self.reconcile,
                                          priority=Priority.ACTOR)
        self.tags: dict[TagKey, _Tag] = {}
        #: Nodes with a pull in flight or waiting for the node (woken by node changes).
        self._busy: set[str] = set()
        ctx.store.subscribe(NODE_IMAGES, self._on_node_image)
        ctx.store.subscribe("nodes", self._on_node)

    def _on_node_image(self, event: WatchEvent) -> None:
        prev = event.prev
        if prev is not None and prev.get("spec") == event.obj.get("spec"):
            return
        self.runner.enqueue(event.obj["metadata"]["name"])

    def _on_node(self, event: WatchEvent) -> None:
        name = event.obj["metadata"]["name"]
        if name in self._busy:
            self.runner.enqueue(name)

    def reconcile(self, node: str) -> None:
        image = self.ctx.store.peek(NODE_IMAGES, "", node)
        runtime = self.ctx.node_runtime
        if image is not None and (runtime is None or not runtime.runtime_up(node)):
            self._busy.add(node)  # the node is down, and its daemon with it
            return
        wanted = _wanted(image)
        for key in sorted(k for k in self.tags if k[0] == node and (k[1], k[2]) not in wanted):
            self._drop(key)
        busy = False
        for (name, tag), policy in sorted(wanted.items()):
            state = self.tags.setdefault((node, name, tag), _Tag())
            if state.phase not in ("Succeeded", "Failed"):
                self._advance((node, name, tag), state, policy)
                busy = busy or state.phase in ("Waiting", "Pulling")
        (self._busy.add if busy else self._busy.discard)(node)
        if image is not None:
            self._write_status(node, wanted)

    def _advance(self, key: TagKey, state: _Tag, policy: dict[str, Any]) -> None:
        node, name, tag = key
        runtime = self.ctx.node_runtime
        image = image_of(name, tag)
        if runtime is None:
            return
        if state.inflight and runtime.pull_state(node, key) is None:
            state.inflight = False  # the node went down meanwhile: the pull was forgotten
        if state.inflight:
            return
        if parse_reference(image) is None:
            self._finish(state, "Failed", message=f"invalid image reference {image!r}")
        elif policy.get("imagePullPolicy") != "Always" and runtime.image_present(node, image):
            state.start = self.ctx.now if state.start is None else state.start
            self._finish(state, "Succeeded", image_id=_image_id(image))
        elif runtime.pull_image(node, image, key, self._callback(key, state.attempt + 1)):
            state.attempt += 1
            state.inflight, state.phase = True, "Pulling"
            state.start = self.ctx.now if state.start is None else state.start
            timeout = float((policy.get("pullPolicy") or {}).get("timeoutSeconds", 600))
            state.timer = self.ctx.engine.call_later(
                timeout, lambda: self._timed_out(key, state.attempt, timeout),
                priority=Priority.ACTOR, label="kruise-daemon-pull-timeout")
        else:
            state.phase = "Waiting"  # the node's runtime does not answer (node down)

    def _callback(self, key: TagKey, attempt: int) -> Any:
        def done(outcome: PullOutcome) -> None:
            self._pulled(key, attempt, outcome)
        return done

    def _pulled(self, key: TagKey, attempt: int, outcome: PullOutcome) -> None:
        state = self.tags.get(key)
        if state is None or state.attempt != attempt or not state.inflight:
            return
        if outcome.ok:
            self._finish(state, "Succeeded", image_id=outcome.info.ref.image_id)
        else:
            self._failed(key, state, outcome.error)
        self.runner.enqueue(key[0])

    def _timed_out(self, key: TagKey, attempt: int, timeout: float) -> None:
        state = self.tags.get(key)
        if state is None or state.attempt != attempt or not state.inflight:
            return
        state.timer = None
        runtime = self.ctx.node_runtime
        if runtime is not None:
            runtime.cancel_image_pull(key[0], key)
        self._failed(key, state, f"pull image timeout after {timeout:g}s")
        self.runner.enqueue(key[0])

    def _failed(self, key: TagKey, state: _Tag, error: str) -> None:
        state.inflight = False
        state.failures += 1
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        limit = self._backoff_limit(key)
        if state.failures > limit:
            self._finish(state, "Failed", message=error)

    def _backoff_limit(self, key: TagKey) -> int:
        policy = _wanted(self.ctx.store.peek(NODE_IMAGES, "", key[0])).get((key[1], key[2]))
        return int(((policy or {}).get("pullPolicy") or {}).get("backoffLimit", 3))

    def _finish(self, state: _Tag, phase: str, *, image_id: str = "",
                message: str = "") -> None:
        if state.timer is not None:
            state.timer.cancel()
        state.timer, state.inflight = None, False
        state.phase, state.end = phase, self.ctx.now
        state.image_id, state.message = image_id, message

    def _drop(self, key: TagKey) -> None:
        state = self.tags.pop(key)
        if state.timer is not None:
            state.timer.cancel()
        runtime = self.ctx.node_runtime
        if state.inflight and runtime is not None:
            runtime.cancel_image_pull(key[0], key)

    def _write_status(self, node: str, wanted: dict[tuple[str, str], dict[str, Any]]) -> None:
        status = self._status(node, wanted)
        image = self.ctx.store.peek(NODE_IMAGES, "", node)
        if image is None or image.get("status") == status:
            return
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify(NODE_IMAGES, "", node,
                                  lambda d: d.__setitem__("status", status),
                                  subresource="status")

    def _status(self, node: str, wanted: dict[tuple[str, str], dict[str, Any]]
                ) -> dict[str, Any]:
        images: dict[str, Any] = {}
        counts = {"Succeeded": 0, "Failed": 0, "Pulling": 0, "Waiting": 0}
        for name, tag in sorted(wanted):
            state = self.tags[(node, name, tag)]
            counts[state.phase] += 1
            images.setdefault(name, {"tags": []})["tags"].append(state.render(tag))
        status: dict[str, Any] = {
            "desired": len(wanted), "succeeded": counts["Succeeded"],
            "failed": counts["Failed"], "pulling": counts["Pulling"],
            "waiting": counts["Waiting"]}
        if images:
            status["imageStatuses"] = images
        return status


def _wanted(image: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    if image is None:
        return {}
    out = {}
    for name, entry in ((image.get("spec") or {}).get("images") or {}).items():
        for tag in entry.get("tags") or ():
            out[(str(name), str(tag.get("tag")))] = tag
    return out


def _image_id(image: str) -> str:
    ref = parse_reference(image)
    return ref.image_id if ref is not None else ""
