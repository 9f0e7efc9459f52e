"""The pod lifecycle as data: tables of stages, and the loop that fires them.

A ``Stage`` is KWOK's idea applied to a kubelet: a **selector** (does this stage apply
to the subject in its current state?), a **delay** (how long after the subject entered
that state it fires; None: not now, maybe after something else changes), optional
seeded **jitter** on that delay, and a **next** function (``transitions.py``) that
moves the runtime record on — the pod status is rendered from that record.

``POD_STAGES`` apply to the ``PodRuntime`` and are immediate; ``CONTAINER_STAGES``
apply to each ``ContainerRuntime``, their delay counted from ``ContainerRuntime.since``.
Probe stages compute their delay from the probe's schedule and the app's behaviour
(``probes.py``), so a probe result flips at exactly the run the periods imply.

``run_stages`` fires every stage that is due (pod stages first, then containers in
order, each in table order; the scan restarts after every firing, so one firing may
make the next one due at the same instant) and returns when the next one will be due
— the pod's single timer. The same inputs always fire the same stages in the same
order; jitter draws come from the seeded stream and are drawn once per state entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from kitlib.cluster.kubelet import transitions as t
from kitlib.cluster.kubelet.containers import ContainerRuntime, State
from kitlib.cluster.kubelet.env import Env
from kitlib.cluster.kubelet.pods import PodRuntime
from kitlib.cluster.kubelet.probes import failure_streak, startup_outcome, success_streak

__all__ = ["CONTAINER_STAGES", "POD_STAGES", "Stage", "due", "run_stages"]

S = TypeVar("S", ContainerRuntime, PodRuntime)

#: Tolerance for "due now" (delays are float sums).
_EPSILON = 1e-9
#: Firings in one sync before the loop is declared runaway (a bug, not a simulation).
MAX_FIRINGS = 10_000
#: Upstream ``syncFrequency``: the kubelet's periodic sync, which retries blocked containers.
SYNC_FREQUENCY = 60.0


@dataclass(frozen=True, slots=True)
class Stage(Generic[S]):
    name: str
    selects: Callable[[S, Env], bool]
    delay: Callable[[S, Env], float | None]
    next: Callable[[S, Env], None]
    jitter: bool = False
    doc: str = ""


def due(stage: Stage[S], subject: S, env: Env) -> float | None:
    """When ``stage`` fires for ``subject`` (absolute simulated time), or None."""
    delay = stage.delay(subject, env)
    if delay is None:
        return None
    if not isinstance(subject, ContainerRuntime):
        return env.now + delay
    if stage.jitter and env.settings.jitter > 0 and delay > 0:
        factor = subject.draws.get(stage.name)
        if factor is None:
            j = env.settings.jitter
            factor = subject.draws[stage.name] = 1 + env.jitter_rng.uniform(-j, j)
        delay *= factor
    return subject.since + delay


def run_stages(rt: PodRuntime, env: Env) -> float | None:
    """Fire every due stage; returns when the next stage is due (None: nothing pending)."""
    for _ in range(MAX_FIRINGS):
        fired, upcoming = _fire_one(rt, env)
        if not fired:
            return upcoming
    raise RuntimeError(f"pod {rt.namespace}/{rt.name}: lifecycle stages keep firing at "
                       f"{env.now} s (a loop between stages)")


def _fire_one(rt: PodRuntime, env: Env) -> tuple[bool, float | None]:
    for stage in POD_STAGES:
        if stage.selects(rt, env):
            env.trace.append((stage.name, ""))
            stage.next(rt, env)
            return True, None
    upcoming: float | None = None
    for c in rt.containers:
        for cstage in CONTAINER_STAGES:
            if not cstage.selects(c, env):
                continue
            when = due(cstage, c, env)
            if when is None:
                continue
            if when <= env.now + _EPSILON:
                env.trace.append((cstage.name, c.name))
                cstage.next(c, env)
                return True, None
            upcoming = when if upcoming is None else min(upcoming, when)
    return False, upcoming


# -- selectors and delays ---------------------------------------------------------------

def _zero(subject: object, env: Env) -> float:
    return 0.0


def _in(*states: State) -> Callable[[ContainerRuntime, Env], bool]:
    def selects(c: ContainerRuntime, env: Env) -> bool:
        return c.state in states
    return selects


def _after(due_at: Callable[[ContainerRuntime, Env], float | None]
           ) -> Callable[[ContainerRuntime, Env], float | None]:
    """A delay from an absolute due time."""
    def delay(c: ContainerRuntime, env: Env) -> float | None:
        when = due_at(c, env)
        return None if when is None else when - c.since
    return delay


def _spec_changed(c: ContainerRuntime, env: Env) -> bool:
    return c.state is State.RUNNING and c.current is not None and \
        c.current.spec_hash != env.spec_hash(c)


_RETRYING = (State.CRASH_BACKOFF, State.PULL_ERROR, State.PULL_BACKOFF, State.BLOCKED,
             State.PULLING)


def _changed_while_waiting(c: ContainerRuntime, env: Env) -> bool:
    return c.state in _RETRYING and c.attempt_hash != env.spec_hash(c)


def _start_seconds(c: ContainerRuntime, env: Env) -> float | None:
    info = env.catalog.resolve(str(c.spec.get("image", "")))
    return None if info is None else env.behaviour(c, info).start_seconds


def _exits_at(c: ContainerRuntime, env: Env) -> float | None:
    inst = c.current
    if inst is None or inst.behaviour.exit_after_seconds is None:
        return None
    return max(inst.started_at + inst.behaviour.exit_after_seconds, inst.behaviour_since)


def _not_before(c: ContainerRuntime) -> float:
    assert c.current is not None
    return max(c.probe_flip, c.current.behaviour_since)


def _startup(c: ContainerRuntime) -> tuple[float, bool] | None:
    probe, inst = c.probe("Startup"), c.current
    if probe is None or inst is None or c.started:
        return None
    return startup_outcome(probe, inst.started_at, inst.behaviour.health(inst.started_at))


def _startup_at(success: bool) -> Callable[[ContainerRuntime, Env], float | None]:
    def due_at(c: ContainerRuntime, env: Env) -> float | None:
        outcome = _startup(c)
        return outcome[0] if outcome is not None and outcome[1] is success else None
    return due_at


def _readiness_at(ready: bool) -> Callable[[ContainerRuntime, Env], float | None]:
    """When a readiness probe flips the container to ``ready``."""
    def due_at(c: ContainerRuntime, env: Env) -> float | None:
        probe, inst = c.probe("Readiness"), c.current
        if probe is None or inst is None or not c.started or c.ready is ready:
            return None
        find = success_streak if ready else failure_streak
        return find(probe, inst.started_at, _not_before(c), inst.behaviour.health(inst.started_at))
    return due_at


def _liveness_fails_at(c: ContainerRuntime, env: Env) -> float | None:
    probe, inst = c.probe("Liveness"), c.current
    if probe is None or inst is None or not c.started:
        return None
    return failure_streak(probe, inst.started_at, _not_before(c),
                          inst.behaviour.liveness(inst.started_at))


def _pull_backoff_ends(c: ContainerRuntime, env: Env) -> float | None:
    entry = env.runtime.backoffs.get(("image", str(c.spec.get("image", ""))))
    return c.since if entry is None else entry.last_update + entry.window


def _crash_backoff_ends(c: ContainerRuntime, env: Env) -> float | None:
    assert c.current is not None and c.current.finished_at is not None
    window = env.crash_backoff.window(env.runtime.backoffs, ("crash", c.name, env.spec_hash(c)))
    return c.current.finished_at + window


# -- the tables -------------------------------------------------------------------------

def _deleted(rt: PodRuntime, env: Env) -> bool:
    return env.deleting and not rt.terminating


def _grace_shortened(rt: PodRuntime, env: Env) -> bool:
    return rt.terminating and env.deleting and rt.deletion_grace is not None and \
        env.deletion_grace < rt.deletion_grace


def _all_stopped(rt: PodRuntime, env: Env) -> bool:
    return rt.terminating and not rt.finalized and all(
        c.state is State.DONE for c in rt.containers)


def _needs_sandbox(rt: PodRuntime, env: Env) -> bool:
    return not (rt.sandbox or rt.terminating or env.deleting or rt.sandbox_blocked
                or rt.terminal())


def _sandbox_done(rt: PodRuntime, env: Env) -> bool:
    return rt.sandbox and not rt.terminating and rt.terminal()


POD_STAGES: tuple[Stage[PodRuntime], ...] = (
    Stage("pod-terminating", _deleted, _zero, t.terminate_pod,
          doc="deletionTimestamp set: Killing every running container (preStop, then stop)"),
    Stage("grace-shortened", _grace_shortened, _zero, t.shorten_grace,
          doc="a later delete with a shorter grace period: stop sooner"),
    Stage("pod-finished", _all_stopped, _zero, t.finish_pod,
          doc="every container stopped: terminal phase, then the pod object is removed"),
    Stage("sandbox-created", _needs_sandbox, _zero, t.create_sandbox,
          doc="PodReadyToStartContainers, pod IP from the node's podCIDR, hostIP, startTime"),
    Stage("sandbox-removed", _sandbox_done, _zero, t.remove_sandbox,
          doc="the pod finished (Succeeded/Failed): the sandbox and its IP are released"),
)

CONTAINER_STAGES: tuple[Stage[ContainerRuntime], ...] = (
    Stage("definition-changed", _spec_changed, _zero, t.kill_changed,
          doc="the image changed: Killing only this container, restart it with the new image"),
    Stage("definition-changed-while-waiting", _changed_while_waiting, _zero, t.retry_changed,
          doc="the image of a container waiting to retry changed: retry now (no back-off)"),
    Stage("start-requested", lambda c, env: c.state is State.WAITING and
          env.runtime.turn_of(c), _zero, t.begin_start,
          doc="the pod's sequential sync reaches the container: image present, or Pulling"),
    Stage("image-pulled", lambda c, env: c.state is State.PULLING and c.pull is not None,
          _zero, t.image_pulled, doc="the node's puller answered: Pulled, or ErrImagePull"),
    Stage("image-pull-backoff", _in(State.PULL_ERROR),
          lambda c, env: env.settings.relist_seconds, t.pull_backoff,
          doc="the kubelet's next look: ImagePullBackOff"),
    Stage("image-pull-backoff-expired", _in(State.PULL_BACKOFF), _after(_pull_backoff_ends),
          t.pull_backoff_over, doc="image back-off over (10 s doubling to 300 s): pull again"),
    Stage("blocked-resync", _in(State.BLOCKED), lambda c, env: SYNC_FREQUENCY,
          t.pull_backoff_over, doc="ErrImageNeverPull / InvalidImageName: retried every minute"),
    Stage("container-started", _in(State.CREATING), _start_seconds, t.container_started,
          jitter=True, doc="start-seconds after the image is there: Created, Started, running"),
    Stage("app-exited", _in(State.RUNNING), _after(_exits_at), t.app_exited,
          doc="crash-after / complete-after / crash-on-start: terminated with the exit code"),
    Stage("startup-probe-succeeded", _in(State.RUNNING), _after(_startup_at(True)),
          t.startup_succeeded, doc="started: true"),
    Stage("startup-probe-failed", _in(State.RUNNING), _after(_startup_at(False)),
          t.startup_failed, doc="failureThreshold failures: Unhealthy, Killing, restart"),
    Stage("readiness-probe-succeeded", _in(State.RUNNING), _after(_readiness_at(True)),
          t.readiness_succeeded, doc="ready: true (pod Ready unless a readiness gate says no)"),
    Stage("readiness-probe-failed", _in(State.RUNNING), _after(_readiness_at(False)),
          t.readiness_failed, doc="ready: false, Unhealthy"),
    Stage("liveness-probe-failed", _in(State.RUNNING), _after(_liveness_fails_at),
          t.liveness_failed, doc="failureThreshold failures: Unhealthy, Killing, restart"),
    Stage("container-stopped", _in(State.STOPPING), lambda c, env: c.stop.after if c.stop
          else 0.0, t.stopped, doc="the killed container is dead (exit 0, or 137 if SIGKILLed)"),
    Stage("exit-noticed", _in(State.EXITED), lambda c, env: c.notice_after, t.after_exit,
          doc="restart now, CrashLoopBackOff, or done (restartPolicy)"),
    Stage("crash-backoff-expired", _in(State.CRASH_BACKOFF), _after(_crash_backoff_ends),
          t.crash_backoff_over, doc="CrashLoopBackOff over (10 s doubling to 300 s): restart"),
)
