"""One node's image store and its image puller.

``NodeImages`` is what is on the node's disk: layers (by digest) and the images made
of them. Pulling an image costs only its **missing** layers, so images sharing a base
layer, or a new tag of an image already present, are quick to pull. Nothing is ever
garbage collected (disks are endless here). ``status_images`` is the node's
``status.images``: the 50 largest (``nodeStatusMaxImages``), names as containerd
reports them (``repo@sha256:…`` then ``repo:tag``).

``ImagePuller`` pulls **one image at a time** (the kubelet's default
``serializeImagePulls: true``), first come first served. A pull takes
``missing bytes / bandwidth`` (± the kubelet jitter), the bandwidth being read when
the pull starts (a node annotation can slow a node down). A second request for an
image already queued or being pulled joins that pull. A pull of an image that is not
pullable, or one that draws a failure (``pullFailureRate``, from the seeded stream),
fails after ``image_pull_failure_seconds`` and caches nothing. Waiters are told, in
the order they asked, through ``on_done(waiter, outcome, requested_at)``.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.kubelet.images import ImageInfo
from kitlib.engine.loop import Engine, Priority, Timer

__all__ = ["ImagePuller", "NodeImages", "PullOutcome"]

#: ``nodeStatusMaxImages``.
MAX_STATUS_IMAGES = 50


class NodeImages:
    def __init__(self) -> None:
        self.layers: set[str] = set()
        self.images: dict[str, ImageInfo] = {}
        #: Bumped on every change (the node agent posts ``status.images`` when it moved).
        self.version = 0

    def present(self, info: ImageInfo) -> bool:
        return info.ref.name in self.images

    def missing_bytes(self, info: ImageInfo) -> int:
        return sum(layer.size for layer in info.layers if layer.digest not in self.layers)

    def add(self, info: ImageInfo) -> None:
        if info.ref.name not in self.images:
            self.layers.update(layer.digest for layer in info.layers)
            self.images[info.ref.name] = info
            self.version += 1

    def status_images(self) -> list[dict[str, Any]]:
        ranked = sorted(self.images.values(), key=lambda i: (-i.size, i.ref.name))
        return [{"names": list(dict.fromkeys((i.ref.image_id, i.ref.name))),
                 "sizeBytes": i.size} for i in ranked[:MAX_STATUS_IMAGES]]


@dataclass(frozen=True, slots=True)
class PullOutcome:
    info: ImageInfo
    ok: bool
    #: How long the pull itself took (not counting the wait in the queue).
    seconds: float
    error: str = ""


@dataclass(eq=False)
class _Pull:
    info: ImageInfo
    waiters: dict[Hashable, float] = field(default_factory=dict)  # waiter -> requested at


Done = Callable[[Hashable, PullOutcome, float], None]


class ImagePuller:
    def __init__(self, engine: Engine, images: NodeImages, *, bandwidth: Callable[[], float],
                 failure_seconds: float, jitter: float, rng: random.Random, on_done: Done,
                 label: str = "image-pull") -> None:
        self.engine = engine
        self.images = images
        self.bandwidth = bandwidth
        self.failure_seconds = failure_seconds
        self.jitter = jitter
        self.rng = rng
        self.on_done = on_done
        self.label = label
        self._queue: deque[_Pull] = deque()
        self._by_image: dict[str, _Pull] = {}
        self._waiting: dict[Hashable, str] = {}
        self._current: _Pull | None = None
        self._timer: Timer | None = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def state(self, waiter: Hashable) -> str | None:
        """``"Pulling"`` when ``waiter``'s image is being pulled, ``"Waiting"`` when it is
        queued, None when ``waiter`` waits for nothing."""
        name = self._waiting.get(waiter)
        if name is None:
            return None
        current = self._current
        return "Pulling" if current is not None and current.info.ref.name == name else "Waiting"

    def request(self, info: ImageInfo, waiter: Hashable) -> None:
        self.cancel(waiter)
        pull = self._by_image.get(info.ref.name)
        if pull is None:
            pull = self._by_image[info.ref.name] = _Pull(info)
            self._queue.append(pull)
        pull.waiters[waiter] = self.engine.now
        self._waiting[waiter] = info.ref.name
        if self._current is None:
            self._start_next()

    def cancel(self, waiter: Hashable) -> None:
        name = self._waiting.pop(waiter, None)
        pull = self._by_image.get(name) if name else None
        if pull is None:
            return
        pull.waiters.pop(waiter, None)
        if not pull.waiters and pull is not self._current:
            self._queue.remove(pull)
            del self._by_image[name]  # type: ignore[arg-type]

    def reset(self) -> None:
        """Forget every pull (the node went down); nobody is told."""
        if self._timer is not None:
            self._timer.cancel()
        self._queue.clear()
        self._by_image.clear()
        self._waiting.clear()
        self._current, self._timer = None, None

    def _start_next(self) -> None:
        if not self._queue:
            return
        pull = self._current = self._queue.popleft()
        outcome = self._outcome(pull.info)
        self._timer = self.engine.call_later(outcome.seconds, lambda: self._finish(outcome),
                                             priority=Priority.ACTOR, label=self.label)

    def _outcome(self, info: ImageInfo) -> PullOutcome:
        failed = not info.pullable or (info.failure_rate > 0 and
                                       self.rng.random() < info.failure_rate)
        if failed:
            return PullOutcome(info, False, self.failure_seconds, _pull_error(info))
        seconds = self.images.missing_bytes(info) / max(self.bandwidth(), 1.0)
        if self.jitter > 0 and seconds > 0:
            seconds *= 1 + self.rng.uniform(-self.jitter, self.jitter)
        return PullOutcome(info, True, seconds)

    def _finish(self, outcome: PullOutcome) -> None:
        pull = self._current
        assert pull is not None
        self._current, self._timer = None, None
        del self._by_image[pull.info.ref.name]
        if outcome.ok:
            self.images.add(pull.info)
        for waiter, requested_at in pull.waiters.items():
            self._waiting.pop(waiter, None)
            self.on_done(waiter, outcome, requested_at)
        self._start_next()


def _pull_error(info: ImageInfo) -> str:
    name = info.ref.name
    prefix = f'failed to pull and unpack image "{name}"'
    if not info.pullable:
        return (f"rpc error: code = NotFound desc = {prefix}: failed to resolve reference "
                f'"{name}": {name}: not found')
    return (f"rpc error: code = Unknown desc = {prefix}: failed to copy: httpReadSeeker: "
            f"failed open: unexpected status code https://{info.ref.domain}/v2/"
            f"{info.ref.path}/blobs/{info.layers[-1].digest if info.layers else 'latest'}: "
            "503 Service Unavailable")
