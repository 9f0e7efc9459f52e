"""The embedded-only API group ``sim.kitlib.io/v1alpha1``: the simulated clock.

Two kinds, both answered by this module rather than stored:

* ``Clock`` (cluster-scoped singleton named ``cluster``): ``GET`` shows the
  simulated time, mode, speed and event counters; ``PATCH``/``PUT`` change
  ``spec.mode`` (``stepped``/``paced``), ``spec.speed`` and ``spec.paused``.
* ``ClockAdvance`` (create-only, like a review object): ``POST`` with
  ``spec.seconds`` advances the stepped (or paused) clock and answers once every
  event up to the new time has run; its ``status`` says from when to when and
  how many events ran.
* ``Snapshot`` (create-only): ``POST`` (``spec.history``: watch events to keep,
  default 1000) answers with the cluster saved as a snapshot file
  (``kitlib.cluster.snapshot``) in ``status.data`` (base64), taken between two
  events; ``kitlib snapshot save FILE`` and ``Cluster.save_snapshot`` write it to a
  local file, ``kitlib serve --snapshot FILE`` starts from it.

In paced mode, every answer that reports the simulated time (a ``Clock`` read or
change, a ``ClockAdvance``, a ``Snapshot``) first brings the engine to the paced
target (``SimClock.catch_up``): the events due by then run, then ``now`` moves
there. Without it a read would see the time of the pump's last tick, up to
``MAX_IDLE × speed`` seconds (5 s at speed 20) behind, and a client's
``sleep(dt)`` would last whole ticks. Stepped mode never catches up, so its
history stays exactly what the clients' advances make it.

Documented for users in ``docs/embedded-api.md``. A real cluster answers 404
for this group, which is how ``kitlib.connect`` tells the two apart.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.embedded import EmbeddedCluster
from kitlib.cluster.snapshot import (
    DEFAULT_HISTORY,
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    dump_snapshot,
)
from kitlib.engine.paced import PacedClock
from kitlib.model import errors, patch
from kitlib.model.objects import format_time, generated_name
from kitlib.model.registry import PrinterColumn, ResourceType

__all__ = ["CATCH_UP_SLICE", "CLOCK", "CLOCK_ADVANCE", "SIM_GROUP", "SNAPSHOT", "SimClock", "sim_kinds"]

SIM_GROUP, SIM_VERSION = "sim.kitlib.io", "v1alpha1"
CLOCK_NAME = "cluster"
#: The longest single advance accepted (a guard against typos such as 3e9).
MAX_ADVANCE = 366 * 24 * 3600.0
#: Events run per slice when the paced engine catches up (the server's pump, a clock read),
#: between which the event loop serves other requests and watch streams.
CATCH_UP_SLICE = 5_000

CLOCK = ResourceType(
    SIM_GROUP, SIM_VERSION, "Clock", "clocks", False, "clock",
    verbs=("get", "list", "patch", "update"), stored=False, strategic_merge=False,
    printer_columns=(
        PrinterColumn("Now", ".status.now"), PrinterColumn("Seconds", ".status.seconds", "number"),
        PrinterColumn("Mode", ".spec.mode"), PrinterColumn("Speed", ".spec.speed", "number"),
        PrinterColumn("Paused", ".spec.paused", "boolean"),
        PrinterColumn("Events", ".status.eventsProcessed", "integer"),
    ))
CLOCK_ADVANCE = ResourceType(
    SIM_GROUP, SIM_VERSION, "ClockAdvance", "clockadvances", False, "clockadvance",
    verbs=("create",), stored=False, strategic_merge=False)


SNAPSHOT = ResourceType(
    SIM_GROUP, SIM_VERSION, "Snapshot", "snapshots", False, "snapshot",
    verbs=("create",), stored=False, strategic_merge=False)


def sim_kinds() -> tuple[ResourceType, ...]:
    return CLOCK, CLOCK_ADVANCE, SNAPSHOT


@dataclass
class SimClock:
    """The clock as the API server runs it: stepped, or paced against the wall clock."""

    cluster: EmbeddedCluster
    mode: str
    paced: PacedClock
    lock: asyncio.Lock
    #: Resolves a ClockAdvance's ``generateName`` (its own stream: the store's is untouched).
    names: random.Random

    @classmethod
    def create(cls, cluster: EmbeddedCluster, *, mode: str, speed: float,
               wall: Callable[[], float]) -> SimClock:
        if mode not in ("stepped", "paced"):
            raise ValueError(f"mode must be 'stepped' or 'paced', got {mode!r}")
        paced = PacedClock(cluster.engine, wall=wall, speed=speed, paused=mode == "stepped")
        return cls(cluster, mode, paced, asyncio.Lock(),
                   cluster.engine.rng_for("sim.clockadvance.names"))

    @property
    def running(self) -> bool:
        return self.mode == "paced" and not self.paced.paused

    async def catch_up(self) -> None:
        """In paced mode (running or paused), bring the engine to the paced target: call it
        before reporting the time. The target is taken once, then reached in slices of
        ``CATCH_UP_SLICE`` events with the event loop served in between, so a busy engine
        (behind its target) delays only this answer. Stepped mode: nothing, ever."""
        if self.mode != "paced":
            return
        until = self.paced.target()
        while not self.paced.catch_up(until, max_events=CATCH_UP_SLICE):
            await asyncio.sleep(0)
            if self.mode != "paced":  # switched to stepped meanwhile: stop where it is
                return

    def to_object(self) -> dict[str, Any]:
        engine = self.cluster.engine
        return {
            "apiVersion": CLOCK.api_version, "kind": "Clock",
            "metadata": {"name": CLOCK_NAME, "resourceVersion": str(engine.events_processed),
                         "creationTimestamp": format_time(0)},
            "spec": {"mode": self.mode, "speed": self.paced.speed, "paused": self.paced.paused
                     if self.mode == "paced" else False},
            "status": {"now": format_time(engine.now), "seconds": engine.now,
                       "seed": engine.seed, "eventsProcessed": engine.events_processed,
                       "pendingEvents": engine.pending},
        }

    def change(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else None
        if spec is None:
            raise _clock_invalid("spec: Required value")
        mode = spec.get("mode", self.mode)
        if mode not in ("stepped", "paced"):
            raise _clock_invalid(f'spec.mode: Unsupported value: "{mode}": supported values: '
                                 '"stepped", "paced"')
        speed = spec.get("speed", self.paced.speed)
        if isinstance(speed, bool) or not isinstance(speed, int | float) or speed <= 0:
            raise _clock_invalid(f"spec.speed: Invalid value: {speed!r}: must be a positive "
                                 "number")
        self._apply(mode, float(speed), bool(spec.get("paused", False)))
        return self.to_object()

    def _apply(self, mode: str, speed: float, paused: bool) -> None:
        self.paced.speed = speed
        if mode == "stepped" or paused:
            self.paced.pause()
        else:
            self.paced.resume()
        self.mode = mode

    def patch(self, kind: str, body: Any) -> dict[str, Any]:
        current = self.to_object()
        if kind == "json":
            result = patch.json_patch(current, body)
        else:
            result = patch.json_merge_patch(current, body)
        return self.change(result)

    async def advance(self, body: Any) -> dict[str, Any]:
        seconds = _advance_seconds(body)
        if self.running:
            raise errors.Conflict("the clock is paced and running: pause it (spec.paused: true) "
                                  "or switch it to stepped mode (spec.mode: stepped) to advance "
                                  "it by hand")
        async with self.lock:
            await self.catch_up()  # paused in paced mode: from the time it was paused at
            engine = self.cluster.engine
            start, before = engine.now, engine.events_processed
            await self._run(seconds)
            return _advance_result(body, self._advance_name(body), start, engine.now,
                                   engine.events_processed - before)

    async def snapshot(self, body: Any) -> dict[str, Any]:
        """A ``Snapshot``: the cluster saved (between two events) in ``status.data``."""
        history = _snapshot_history(body)
        async with self.lock:
            await self.catch_up()
            engine = self.cluster.engine
            data = dump_snapshot(self.cluster, history=history)
            return {
                "apiVersion": SNAPSHOT.api_version, "kind": SNAPSHOT.kind,
                "metadata": {"name": "snapshot", "creationTimestamp": format_time(engine.now)},
                "spec": {"history": history},
                "status": {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION,
                           "resourceVersion": str(self.cluster.store.resource_version),
                           "seconds": engine.now, "sizeBytes": len(data),
                           "data": base64.b64encode(data).decode()},
            }

    def _advance_name(self, body: dict[str, Any]) -> str:
        meta = body.get("metadata")
        if isinstance(meta, dict) and meta.get("generateName") and not meta.get("name"):
            return generated_name(str(meta["generateName"]), self.names)
        return _advance_name_of(body) or "advance"

    async def _run(self, seconds: float) -> None:
        target = self.cluster.engine.now + seconds
        while True:
            ran = self.cluster.engine.run(target, max_events=20_000)
            if ran < 20_000:
                break
            await asyncio.sleep(0)  # let watch streams flush between chunks
        self.paced.sync()


def _clock_invalid(problem: str) -> errors.Invalid:
    return errors.invalid_object(CLOCK.kind, SIM_GROUP, CLOCK_NAME, [problem])


def _advance_name_of(body: dict[str, Any]) -> str:
    meta = body.get("metadata")
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def _advance_seconds(body: Any) -> float:
    if not isinstance(body, dict) or body.get("kind") not in (None, "ClockAdvance"):
        raise errors.BadRequest("send a ClockAdvance: {\"apiVersion\": \"sim.kitlib.io/v1alpha1\","
                                " \"kind\": \"ClockAdvance\", \"spec\": {\"seconds\": 30}}")
    seconds = (body.get("spec") or {}).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise CLOCK_ADVANCE.invalid(_advance_name_of(body), [
            "spec.seconds: Required value: how many simulated seconds to advance, e.g. 30"])
    if seconds < 0 or seconds > MAX_ADVANCE:
        raise CLOCK_ADVANCE.invalid(_advance_name_of(body), [
            f"spec.seconds: Invalid value: {seconds}: must be between 0 and {int(MAX_ADVANCE)}"])
    return float(seconds)


def _snapshot_history(body: Any) -> int:
    if body is None:
        return DEFAULT_HISTORY
    if not isinstance(body, dict) or body.get("kind") not in (None, "Snapshot"):
        raise errors.BadRequest("send a Snapshot: {\"apiVersion\": \"sim.kitlib.io/v1alpha1\", "
                                "\"kind\": \"Snapshot\", \"spec\": {}}")
    history = (body.get("spec") or {}).get("history", DEFAULT_HISTORY)
    if isinstance(history, bool) or not isinstance(history, int) or history < 0:
        raise SNAPSHOT.invalid(_advance_name_of(body), [
            f"spec.history: Invalid value: {history!r}: the number of watch events to keep, "
            "an integer >= 0"])
    return history


def _advance_result(body: dict[str, Any], name: str, start: float, end: float,
                    events: int) -> dict[str, Any]:
    return {
        "apiVersion": CLOCK_ADVANCE.api_version, "kind": "ClockAdvance",
        "metadata": {"name": name, "creationTimestamp": format_time(start)},
        "spec": {"seconds": body["spec"]["seconds"]},
        "status": {"from": format_time(start), "to": format_time(end), "startSeconds": start,
                   "endSeconds": end, "eventsProcessed": events},
    }
