"""The "next status" of every lifecycle stage: what changes when a stage fires.

Each function takes the subject (a ``ContainerRuntime`` or the ``PodRuntime``) and the
``Env`` and changes the runtime record — its status is rendered from that record —
and records the events the real kubelet emits at that step, with upstream's reasons
and messages. They are listed in ``stages.py`` with the selector and delay that say
*when* they apply; nothing here decides timing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from kitlib.cluster.kubelet.containers import (
    ContainerRuntime,
    Instance,
    State,
    StopPlan,
    go_duration,
)
from kitlib.cluster.kubelet.env import Env, NodeServices, pod_ref
from kitlib.cluster.kubelet.pods import PodRuntime

__all__ = [
    "after_exit",
    "app_exited",
    "begin_start",
    "container_started",
    "crash_backoff_over",
    "create_sandbox",
    "finish_pod",
    "image_pulled",
    "kill",
    "kill_changed",
    "kill_timing",
    "liveness_failed",
    "pull_backoff",
    "pull_backoff_over",
    "readiness_failed",
    "readiness_succeeded",
    "reboot",
    "remove_sandbox",
    "retry_changed",
    "shorten_grace",
    "should_restart",
    "startup_failed",
    "startup_succeeded",
    "stopped",
    "terminate_pod",
]

#: Upstream ``minimumGracePeriodInSeconds``: every kill leaves the app at least this long.
MIN_GRACE = 2.0


def _pull_policy(c: ContainerRuntime) -> str:
    policy = c.spec.get("imagePullPolicy")
    if policy:
        return str(policy)
    image = str(c.spec.get("image", "")).rsplit("/", 1)[-1]
    return "Always" if "@" not in image and (":" not in image or
                                            image.endswith(":latest")) else "IfNotPresent"


# -- starting ---------------------------------------------------------------------------

def begin_start(c: ContainerRuntime, env: Env) -> None:
    """The pod's sync reaches this container: make sure its image is there."""
    rt, image = env.runtime, str(c.spec.get("image", ""))
    c.attempt_hash = env.spec_hash(c)
    info = env.catalog.resolve(image)
    if info is None:
        message = (f'Failed to apply default image tag "{image}": couldn\'t parse image name '
                   f'"{image}": invalid reference format')
        _blocked(c, env, "InvalidImageName", message, event=("InspectFailed", message))
        return
    policy = _pull_policy(c)
    if env.node.image_present(info) and policy != "Always":
        env.event("Normal", "Pulled", f'Container image "{image}" already present on machine')
        c.enter(State.CREATING, env.now)
        return
    if policy == "Never":
        message = f'Container image "{image}" is not present with pull policy of Never'
        _blocked(c, env, "ErrImageNeverPull", message, event=("ErrImageNeverPull", message))
        return
    if env.image_backoff.in_backoff_since_update(rt.backoffs, ("image", image), env.now):
        _in_pull_backoff(c, env, image)
        return
    env.event("Normal", "Pulling", f'Pulling image "{image}"')
    c.pull = None
    env.node.request_pull(info, (rt.uid, c.name))
    c.enter(State.PULLING, env.now)


def _blocked(c: ContainerRuntime, env: Env, reason: str, message: str, *,
             event: tuple[str, str]) -> None:
    env.event("Warning", *event)
    env.event("Warning", "Failed", f"Error: {reason}")
    c.waiting = (reason, message)
    c.enter(State.BLOCKED, env.now)


def image_pulled(c: ContainerRuntime, env: Env) -> None:
    """The node's puller answered: Pulled and on to create, or ErrImagePull."""
    assert c.pull is not None
    outcome, requested_at = c.pull
    c.pull = None
    image = str(c.spec.get("image", ""))
    if outcome.ok:
        env.event("Normal", "Pulled", f'Successfully pulled image "{image}" in '
                  f"{go_duration(outcome.seconds)} ({go_duration(env.now - requested_at)} "
                  f"including waiting). Image size: {outcome.info.size} bytes.")
        c.waiting = None
        c.enter(State.CREATING, env.now)
        return
    env.event("Warning", "Failed", f'Failed to pull image "{image}": {outcome.error}')
    env.event("Warning", "Failed", "Error: ErrImagePull")
    env.image_backoff.next(env.runtime.backoffs, ("image", image), env.now, env.now)
    c.waiting = ("ErrImagePull", outcome.error)
    c.enter(State.PULL_ERROR, env.now)


def pull_backoff(c: ContainerRuntime, env: Env) -> None:
    """The kubelet's next look at a pod whose pull failed: ImagePullBackOff."""
    _in_pull_backoff(c, env, str(c.spec.get("image", "")))


def _in_pull_backoff(c: ContainerRuntime, env: Env, image: str) -> None:
    message = f'Back-off pulling image "{image}"'
    env.event("Normal", "BackOff", message)
    env.event("Warning", "Failed", "Error: ImagePullBackOff")
    c.waiting = ("ImagePullBackOff", message)
    c.enter(State.PULL_BACKOFF, env.now)


def pull_backoff_over(c: ContainerRuntime, env: Env) -> None:
    """Try the image again (the waiting reason stays until the next attempt's result)."""
    c.enter(State.WAITING, env.now)


def container_started(c: ContainerRuntime, env: Env) -> None:
    """Create + start done: a new instance runs (restartCount + 1 if it had one before)."""
    info = env.catalog.resolve(str(c.spec.get("image", "")))
    assert info is not None
    behaviour = env.behaviour(c, info)
    c.start_instance(Instance(env.container_id(), info, env.spec_hash(c), env.now, behaviour,
                              env.now))
    c.started = c.probe("Startup") is None
    c.ready = c.started and c.probe("Readiness") is None
    c.probe_flip = env.now
    env.event("Normal", "Created", f"Created container: {c.name}")
    env.event("Normal", "Started", f"Started container {c.name}")
    c.enter(State.RUNNING, env.now)


# -- running ----------------------------------------------------------------------------

def app_exited(c: ContainerRuntime, env: Env) -> None:
    assert c.current is not None
    c.current.terminate(env.now, c.current.behaviour.exit_code)
    c.started = c.ready = False
    c.notice_after = env.settings.relist_seconds
    c.enter(State.EXITED, env.now)


def startup_succeeded(c: ContainerRuntime, env: Env) -> None:
    c.started = True
    c.ready = c.probe("Readiness") is None
    c.probe_flip = env.now


def readiness_succeeded(c: ContainerRuntime, env: Env) -> None:
    c.ready = True
    c.probe_flip = env.now


def readiness_failed(c: ContainerRuntime, env: Env) -> None:
    probe = c.probe("Readiness")
    assert probe is not None
    env.event("Warning", "Unhealthy",
              f"Readiness probe failed: {probe.failure_message(env.runtime.ip)}")
    c.ready = False
    c.probe_flip = env.now


def startup_failed(c: ContainerRuntime, env: Env) -> None:
    _probe_kill(c, env, "Startup")


def liveness_failed(c: ContainerRuntime, env: Env) -> None:
    _probe_kill(c, env, "Liveness")


def _probe_kill(c: ContainerRuntime, env: Env, kind: str) -> None:
    probe = c.probe(kind)
    assert probe is not None
    for _ in range(probe.failure_threshold):
        env.event("Warning", "Unhealthy",
                  f"{kind} probe failed: {probe.failure_message(env.runtime.ip)}")
    restarts = should_restart(c, env.runtime.restart_policy, 137)
    message = f"Container {c.name} failed {kind.lower()} probe" + (
        ", will be restarted" if restarts else "")
    grace = probe.termination_grace if probe.termination_grace is not None else \
        env.termination_grace
    kill(c, env, why="probe", message=message, grace=grace, then=State.EXITED, exit_code=137)


def kill_changed(c: ContainerRuntime, env: Env) -> None:
    """The container's spec (its image) changed: kill only this container, then restart it."""
    kill(c, env, why="definition", grace=env.termination_grace, then=State.WAITING,
         message=f"Container {c.name} definition changed, will be restarted")


def retry_changed(c: ContainerRuntime, env: Env) -> None:
    """A container waiting to retry whose spec changed retries at once (a new back-off key)."""
    if c.state is State.PULLING:
        env.node.cancel_pull((env.runtime.uid, c.name))
    c.pull = None
    c.waiting = None
    c.enter(State.WAITING, env.now)


# -- stopping ---------------------------------------------------------------------------

def kill_timing(grace: float, prestop: float, stop: float) -> tuple[float, bool]:
    """(seconds until dead, stopped by itself) for a kill with this grace period: the
    ``preStop`` hook gets at most ``grace``, the app what is left (at least 2 s); an app
    needing longer is SIGKILLed then (upstream ``killContainer``)."""
    hook = min(prestop, grace) if prestop > 0 and grace > 0 else 0.0
    remaining = max(grace - hook, MIN_GRACE)
    if stop <= remaining:
        return hook + stop, True
    return hook + remaining, False


def kill(c: ContainerRuntime, env: Env, *, why: str, message: str, grace: float, then: State,
         exit_code: int | None = None) -> None:
    assert c.current is not None
    behaviour = c.current.behaviour
    after, clean = kill_timing(grace, _prestop_seconds(c.spec, behaviour.prestop_seconds),
                               env.jittered(behaviour.stop_seconds))
    code = exit_code if exit_code is not None else (0 if clean else 137)
    c.stop = StopPlan(why, after, code, then)
    c.ready = False
    env.event("Normal", "Killing", message)
    c.enter(State.STOPPING, env.now)


_SLEEP = re.compile(r"sleep\s+(\d+(?:\.\d+)?)")


def _prestop_seconds(spec: dict[str, Any], knob: float | None) -> float:
    """How long the ``preStop`` hook runs: the knob, else a ``sleep`` action or an exec
    ``sleep N``; no hook, no time."""
    hook = (spec.get("lifecycle") or {}).get("preStop")
    if not isinstance(hook, dict):
        return 0.0
    if knob is not None:
        return knob
    sleep = (hook.get("sleep") or {}).get("seconds")
    if isinstance(sleep, int | float) and not isinstance(sleep, bool):
        return float(sleep)
    command = " ".join(str(part) for part in (hook.get("exec") or {}).get("command") or ())
    found = _SLEEP.findall(command)
    return float(found[-1]) if found else 0.0


def stopped(c: ContainerRuntime, env: Env) -> None:
    plan = c.stop
    assert plan is not None and c.current is not None
    c.current.terminate(env.now, plan.exit_code)
    c.started = c.ready = False
    c.stop = None
    if plan.why == "definition":  # upstream doBackOff on the restart: a fresh entry
        env.crash_backoff.next(env.runtime.backoffs, ("crash", c.name, env.spec_hash(c)),
                               env.now, env.now)
    c.notice_after = 0.0
    c.enter(plan.then, env.now)


def should_restart(c: ContainerRuntime, policy: str, exit_code: int | None) -> bool:
    if c.init:
        return exit_code != 0 and policy != "Never"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def after_exit(c: ContainerRuntime, env: Env) -> None:
    """The kubelet acts on an exited container: done, CrashLoopBackOff, or restart now."""
    rt, current = env.runtime, c.current
    assert current is not None and current.finished_at is not None
    if rt.terminating or not should_restart(c, rt.restart_policy, current.exit_code):
        c.enter(State.DONE, env.now)
        return
    key = ("crash", c.name, env.spec_hash(c))
    policy = env.crash_backoff
    if policy.in_backoff_since(rt.backoffs, key, current.finished_at, env.now):
        window = go_duration(policy.window(rt.backoffs, key))
        c.waiting = ("CrashLoopBackOff", f"back-off {window} restarting failed container="
                     f"{c.name} pod={pod_ref(env.pod)}")
        env.event("Warning", "BackOff", f"Back-off restarting failed container {c.name} in "
                  f"pod {pod_ref(env.pod)}")
        c.enter(State.CRASH_BACKOFF, env.now)
        return
    policy.next(rt.backoffs, key, current.finished_at, env.now)
    c.enter(State.WAITING, env.now)


def crash_backoff_over(c: ContainerRuntime, env: Env) -> None:
    assert c.current is not None and c.current.finished_at is not None
    env.crash_backoff.next(env.runtime.backoffs, ("crash", c.name, env.spec_hash(c)),
                           c.current.finished_at, env.now)
    c.waiting = None
    c.enter(State.WAITING, env.now)


# -- the pod ----------------------------------------------------------------------------

def create_sandbox(rt: PodRuntime, env: Env) -> None:
    ip = env.node.host_ip if rt.host_network else env.node.allocate_ip()
    if ip is None and not rt.host_network:
        rt.sandbox_blocked = True
        env.event("Warning", "FailedCreatePodSandBox", "Failed to create pod sandbox: failed to "
                  f"allocate an IP: no IP addresses available in the range of node {env.node.name}")
        return
    if rt.sandbox_changed:
        env.event("Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and "
                  "re-created.")
        rt.sandbox_changed = False
    rt.ip, rt.sandbox = ip, True


def remove_sandbox(rt: PodRuntime, env: Env) -> None:
    if rt.ip and not rt.host_network:
        env.node.release_ip(rt.ip)
    rt.sandbox = False


def terminate_pod(rt: PodRuntime, env: Env) -> None:
    """A deletionTimestamp: stop every container within the grace period (in parallel)."""
    rt.terminating = True
    rt.deletion_grace = env.deletion_grace
    rt.kill_deadline = env.now + env.deletion_grace
    for c in rt.containers:
        if c.state is State.RUNNING:
            kill(c, env, why="deletion", message=f"Stopping container {c.name}",
                 grace=env.deletion_grace, then=State.DONE)
        elif c.state is State.STOPPING and c.stop is not None:
            c.stop = replace(c.stop, then=State.DONE)
            _cut(c, rt.kill_deadline)
        elif c.state is not State.DONE:
            if c.state is State.PULLING:
                env.node.cancel_pull((rt.uid, c.name))
            c.pull = None
            c.enter(State.DONE, env.now)


def shorten_grace(rt: PodRuntime, env: Env) -> None:
    """A second delete with a shorter grace period: stop sooner."""
    rt.deletion_grace = env.deletion_grace
    rt.kill_deadline = env.now + env.deletion_grace
    for c in rt.containers:
        if c.state is State.STOPPING:
            _cut(c, rt.kill_deadline)


def _cut(c: ContainerRuntime, deadline: float) -> None:
    assert c.stop is not None
    if c.since + c.stop.after > deadline:
        c.stop = replace(c.stop, after=max(0.0, deadline - c.since), exit_code=137)


def finish_pod(rt: PodRuntime, env: Env) -> None:
    rt.finalized = True
    remove_sandbox(rt, env)


def reboot(rt: PodRuntime, node: NodeServices, down_at: float, now: float) -> None:
    """The node comes back after being down since ``down_at``: every container died then
    (exit 255, reason ``Unknown``, as after a real reboot); the pod gets a new sandbox
    (and IP), its init containers run again and its containers restart per
    ``restartPolicy``. A pod being deleted has nothing left to stop. Finished pods stay
    as they were."""
    if rt.terminal() and not rt.terminating:
        return
    for c in rt.containers:
        if c.state in (State.RUNNING, State.STOPPING) and c.current is not None:
            c.current.terminate(down_at, 255, "Unknown")
            alive = True
        else:
            alive = False
        c.started = c.ready = False
        c.stop, c.pull, c.waiting = None, None, None
        if rt.terminating or (not c.init and c.state is State.DONE) or (
                alive and not should_restart(c, rt.restart_policy, 255)):
            c.enter(State.DONE, now)
        else:
            c.enter(State.WAITING, now)
    if rt.sandbox and rt.ip and not rt.host_network:
        node.release_ip(rt.ip)
    rt.sandbox, rt.sandbox_blocked, rt.sandbox_changed = False, False, True
