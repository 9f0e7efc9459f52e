"""Adoption: a restarted kubelet takes over the pods already running on its node.

A real kubelet restart does not restart containers: the runtime keeps them, and the
new kubelet rebuilds its records from the runtime. Here the runtime's memory is the
pod's **status** (the only thing that survives a restart of the simulation), so
``adopt`` rebuilds a ``PodRuntime`` from it, container by container:

=============================================  ==========================================
status of the container                        adopted as
=============================================  ==========================================
``running`` (``startedAt``, ``restartCount``,  ``RUNNING``: the same instance (container
``ready``, ``started``)                        ID, start time), probes counted from now
``terminated``                                 ``EXITED``, noticed at once: done, or
                                               restarted per ``restartPolicy``
``waiting: CrashLoopBackOff`` (``lastState``)  ``CRASH_BACKOFF`` with the window of its
                                               message (``back-off 40s …``)
any other ``waiting`` (ContainerCreating,      ``WAITING``: the start resumes (the image
ErrImagePull, ImagePullBackOff…)               is pulled again if the node lacks it)
=============================================  ==========================================

The sandbox and its IP (``podIP``, reserved in the node's range) are kept, as is
``startTime``. A pod being deleted (``deletionTimestamp``) is adopted as terminating:
its running containers are already being stopped, and every one is dead by the
``deletionTimestamp`` (the store sets it to the delete's time + grace period), as it
would have been without the restart. A running container whose image no longer
matches the spec (the spec changed while the kubelet was away) is adopted with the
old image and then restarted by the usual "definition changed" stage.

What a status cannot tell is lost, as in a real restart: image back-off entries, a
pull or a start in progress (started again), probe streaks (counted from now), time
stamps below one second (statuses have second precision).
"""

from __future__ import annotations

import re
from typing import Any

from kitlib.cluster.kubelet.backoff import BackoffEntry
from kitlib.cluster.kubelet.containers import ContainerRuntime, Instance, State, StopPlan, spec_hash
from kitlib.cluster.kubelet.env import Env
from kitlib.cluster.kubelet.pods import PodRuntime
from kitlib.cluster.kubelet.transitions import _prestop_seconds, kill_timing
from kitlib.model.objects import parse_time

__all__ = ["adopt", "adoptable"]

_BACKOFF = re.compile(r"back-off (\S+) restarting")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def adoptable(pod: dict[str, Any]) -> bool:
    """Whether a kubelet ran ``pod`` before (it wrote a status with a ``startTime``)."""
    status = pod.get("status") or {}
    return bool((pod.get("spec") or {}).get("nodeName") and status.get("startTime"))


def adopt(rt: PodRuntime, env: Env, reserve_ip: Any) -> None:
    """Rebuild ``rt`` (freshly admitted) from ``env.pod``'s status; ``reserve_ip(ip)``
    marks the pod's IP as taken in its node's range."""
    pod, status = env.pod, env.pod.get("status") or {}
    rt.admitted_at = parse_time(status["startTime"])
    by_name = {s.get("name"): s for key in ("initContainerStatuses", "containerStatuses")
               for s in status.get(key) or ()}
    for c in rt.containers:
        found = by_name.get(c.name)
        if found is not None:
            _adopt_container(c, found, env)
    _adopt_sandbox(rt, status, reserve_ip)
    if pod["metadata"].get("deletionTimestamp"):
        _adopt_termination(rt, env)


def _adopt_sandbox(rt: PodRuntime, status: dict[str, Any], reserve_ip: Any) -> None:
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    if conditions.get("PodReadyToStartContainers") != "True":
        return
    rt.sandbox = True
    if not rt.host_network and status.get("podIP"):
        rt.ip = str(status["podIP"])
        reserve_ip(rt.ip)


def _adopt_container(c: ContainerRuntime, status: dict[str, Any], env: Env) -> None:
    state, last = status.get("state") or {}, status.get("lastState") or {}
    c.restart_count = int(status.get("restartCount") or 0)
    c.since = env.now
    c.probe_flip = env.now
    c.attempt_hash = env.spec_hash(c)
    if "running" in state:
        c.current = _instance(c, status, env, state["running"])
        c.previous = _instance(c, status, env, last["terminated"]) if "terminated" in last \
            else None
        c.started, c.ready = bool(status.get("started")), bool(status.get("ready"))
        c.state = State.RUNNING
    elif "terminated" in state:
        c.current = _instance(c, status, env, state["terminated"])
        c.previous = _instance(c, status, env, last["terminated"]) if "terminated" in last \
            else None
        c.state, c.notice_after = State.EXITED, 0.0
    else:
        _adopt_waiting(c, status, env, state.get("waiting") or {}, last)


def _adopt_waiting(c: ContainerRuntime, status: dict[str, Any], env: Env,
                   waiting: dict[str, Any], last: dict[str, Any]) -> None:
    reason, message = str(waiting.get("reason") or ""), str(waiting.get("message") or "")
    if "terminated" in last:
        c.current = _instance(c, status, env, last["terminated"])
    window = _backoff_window(message) if reason == "CrashLoopBackOff" else None
    if window is not None and c.current is not None and c.current.finished_at is not None:
        env.runtime.backoffs[("crash", c.name, env.spec_hash(c))] = BackoffEntry(
            window, c.current.finished_at)
        c.waiting, c.state = (reason, message), State.CRASH_BACKOFF
        return
    if reason not in ("", "ContainerCreating", "PodInitializing", "CrashLoopBackOff"):
        c.waiting = (reason, message)
    c.state = State.WAITING


def _instance(c: ContainerRuntime, status: dict[str, Any], env: Env,
              detail: dict[str, Any]) -> Instance:
    """The runtime's instance behind a ``running``/``terminated`` entry."""
    image = str(status.get("image") or c.spec.get("image", ""))
    info = env.catalog.resolve(image) or env.catalog.resolve(str(c.spec.get("image", "")))
    assert info is not None  # a status image was resolved once, by the kubelet
    current = env.catalog.resolve(str(c.spec.get("image", "")))
    same = current is not None and current.ref.name == info.ref.name
    started = parse_time(detail["startedAt"]) if detail.get("startedAt") else env.now
    instance = Instance(str(detail.get("containerID") or status.get("containerID") or ""),
                        info, env.spec_hash(c) if same else spec_hash({**c.spec, "image": image}),
                        started, env.behaviour(c, info), started)
    if "exitCode" in detail:
        finished = parse_time(detail["finishedAt"]) if detail.get("finishedAt") else started
        instance.terminate(finished, int(detail["exitCode"]), detail.get("reason"))
    return instance


def _adopt_termination(rt: PodRuntime, env: Env) -> None:
    """Containers already being stopped for the deletion, dead by the deadline."""
    deadline = parse_time(env.pod["metadata"]["deletionTimestamp"])
    grace = env.deletion_grace
    rt.terminating, rt.deletion_grace, rt.kill_deadline = True, grace, deadline
    for c in rt.containers:
        if c.state is State.RUNNING and c.current is not None:
            after, clean = kill_timing(grace, _prestop_seconds(
                c.spec, c.current.behaviour.prestop_seconds), c.current.behaviour.stop_seconds)
            began = deadline - grace
            c.stop = StopPlan("deletion", max(0.0, min(after, deadline - began)),
                              0 if clean else 137, State.DONE)
            c.ready = False
            c.state, c.since = State.STOPPING, began
        elif c.state is not State.DONE:
            c.pull, c.state = None, State.DONE


def _backoff_window(message: str) -> float | None:
    """The window of a ``CrashLoopBackOff`` message (``back-off 2m40s restarting …``)."""
    found = _BACKOFF.search(message)
    if found is None:
        return None
    parts = _DURATION.findall(found.group(1))
    if not parts:
        return None
    return sum(float(number) * _UNITS[unit] for number, unit in parts)
