"""A pod, its kubelet record and a fake node, for testing lifecycle stages one by one.

``World`` holds the input objects of a stage test: the stored pod (a plain dict), the
``PodRuntime`` with its containers put into a given state, and a ``FakeNode`` that
records pulls and hands out IPs. ``env(now)`` builds the ``Env`` a stage runs in
(jitter 0, fixed random streams); ``fire(name, now)`` checks that the stage selects
its subject, is due exactly ``now``, and applies its next-status function.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import replace
from typing import Any

from kitlib.cluster.kubelet.behaviour import Behaviour
from kitlib.cluster.kubelet.containers import ContainerRuntime, Instance, State, container_status
from kitlib.cluster.kubelet.env import Env
from kitlib.cluster.kubelet.images import ImageCatalog, ImageInfo
from kitlib.cluster.kubelet.ips import PodIPAllocator
from kitlib.cluster.kubelet.pods import PodRuntime
from kitlib.cluster.kubelet.stages import CONTAINER_STAGES, POD_STAGES, due
from kitlib.cluster.settings import KubeletSettings

SETTINGS = KubeletSettings(jitter=0.0)
STAGES = {s.name: s for s in CONTAINER_STAGES}
PSTAGES = {s.name: s for s in POD_STAGES}


class FakeNode:
    name = "n1"
    host_ip = "10.0.0.1"

    def __init__(self, images: tuple[str, ...] = ()) -> None:
        self.present = set(images)
        self.pulls: list[tuple[str, Hashable]] = []
        self.cancelled: list[Hashable] = []
        self.ips = PodIPAllocator("10.244.0.0/24")

    def image_present(self, info: ImageInfo) -> bool:
        return info.ref.name in self.present

    def request_pull(self, info: ImageInfo, waiter: Hashable) -> None:
        self.pulls.append((info.ref.name, waiter))

    def cancel_pull(self, waiter: Hashable) -> None:
        self.cancelled.append(waiter)

    def allocate_ip(self) -> str | None:
        return self.ips.allocate()

    def release_ip(self, ip: str) -> None:
        self.ips.release(ip)


class World:
    def __init__(self, *, containers: list[dict[str, Any]] | None = None,
                 init: list[dict[str, Any]] | None = None,
                 annotations: dict[str, str] | None = None, images: tuple[str, ...] = (),
                 **spec: Any) -> None:
        self.pod: dict[str, Any] = {
            "metadata": {"name": "web", "namespace": "default", "uid": "uid-1",
                         "annotations": annotations or {}},
            "spec": {"nodeName": "n1", "restartPolicy": "Always",
                     "terminationGracePeriodSeconds": 30,
                     "containers": containers or [{"name": "app", "image": "nginx:1.25"}],
                     **({"initContainers": init} if init else {}), **spec},
            "status": {"phase": "Pending"}}
        self.rt = PodRuntime.admit(self.pod, 0.0)
        self.rt.sandbox, self.rt.ip = True, "10.244.0.2"
        self.catalog = ImageCatalog(100_000_000)
        self.node = FakeNode(images)
        self.events: list[tuple[str, str, str]] = []

    def c(self, name: str = "app") -> ContainerRuntime:
        return next(c for c in self.rt.containers if c.name == name)

    def env(self, now: float) -> Env:
        env = Env(now, self.pod, self.rt, SETTINGS, self.node, self.catalog, random.Random(0),
                  random.Random(0))
        env.events = self.events
        return env

    def running(self, name: str = "app", *, at: float = 10.0, image: str | None = None,
                started: bool = True, ready: bool = True, **knobs: Any) -> ContainerRuntime:
        """Put a container into RUNNING, started at ``at`` with these behaviour knobs."""
        c = self.c(name)
        info = self.catalog.resolve(image or c.spec["image"])
        assert info is not None
        behaviour = replace(Behaviour(), **knobs)
        env = self.env(at)
        c.start_instance(Instance("containerd://" + "a" * 64, info, env.spec_hash(c), at,
                                  behaviour, at))
        c.started, c.ready, c.probe_flip = started, ready, at
        c.enter(State.RUNNING, at)
        return c

    def exited(self, name: str = "app", *, started: float = 10.0, finished: float = 20.0,
               code: int = 1, notice: float = 1.0) -> ContainerRuntime:
        c = self.running(name, at=started)
        assert c.current is not None
        c.current.terminate(finished, code)
        c.started = c.ready = False
        c.notice_after = notice
        c.enter(State.EXITED, finished)
        return c

    def fire(self, stage: str, now: float, name: str = "app") -> ContainerRuntime:
        """Assert that container stage ``stage`` selects ``name`` and is due exactly at
        ``now`` (an immediate stage: at or before ``now``), then apply it."""
        c, env = self.c(name), self.env(now)
        assert STAGES[stage].selects(c, env), f"{stage} does not select {name} in {c.state}"
        when = due(STAGES[stage], c, env)
        immediate = STAGES[stage].delay(c, env) == 0
        assert when == now or (immediate and when is not None and when <= now), when
        STAGES[stage].next(c, env)
        return c

    def due(self, stage: str, now: float, name: str = "app") -> float | None:
        c, env = self.c(name), self.env(now)
        return due(STAGES[stage], c, env) if STAGES[stage].selects(c, env) else None

    def status(self, name: str = "app") -> dict[str, Any]:
        return container_status(self.c(name), "ContainerCreating")
