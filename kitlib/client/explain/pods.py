"""Why one pod is not (yet) available: scheduling, images, crashes, readiness, its node.

``pod_findings`` is shared by every target: a workload explains its stuck pods with it,
a pod target with it alone. The words are the kubelet's and the scheduler's own (the
waiting reason and message of a container, the ``FailedScheduling`` event), with the
numbers that matter (restarts, exit code, back-off, minReadySeconds left).
"""

from __future__ import annotations

import re
from typing import Any

from kitlib.client.explain.model import Finding
from kitlib.client.explain.read import Reader, condition, ready_since

__all__ = ["node_problem", "pod_findings", "ready_for", "same_image"]

Obj = dict[str, Any]
IMAGE_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                          "ErrImageNeverPull"})
_BACKOFF = re.compile(r"back-off (\S+)")
_SCHEDULING_HINTS = (
    ("Insufficient", "free capacity (lower other pods' requests, scale down) or add nodes"),
    ("unschedulable", "uncordon a node (cluster.uncordon) or add nodes"),
    ("taint", "add a toleration to the pod template or remove the taint"),
    ("affinity/selector", "fix the pod's nodeSelector/affinity or label a node to match"),
    ("Too many pods", "raise the nodes' pod capacity or add nodes"),
)


def pod_findings(reader: Reader, pod: Obj, *, owner: Obj | None = None) -> list[Finding]:
    """Why ``pod`` is not available (empty when it is), most telling first.

    ``owner`` is the pod's workload (or ReplicaSet): its ``minReadySeconds`` and
    OpenKruise ``lifecycle`` hooks decide when a ready pod counts as available.
    """
    if pod["metadata"].get("deletionTimestamp"):
        return [_terminating(reader, pod)]
    found = _scheduling(reader, pod) + _containers(reader, pod) + _node(reader, pod)
    spec = (owner or {}).get("spec") or {}
    return found or _readiness(reader, pod, float(spec.get("minReadySeconds") or 0)) or \
        _lifecycle(pod, spec.get("lifecycle") or {})


def ready_for(reader: Reader, pod: Obj) -> float | None:
    """Seconds the pod has been Ready (None when it is not)."""
    since = ready_since(pod)
    return None if since is None else max(0.0, reader.now - since)


def _terminating(reader: Reader, pod: Obj) -> Finding:
    name = pod["metadata"]["name"]
    node = pod["spec"].get("nodeName")
    problem = node_problem(reader.node(node)) if node else None
    if problem:
        return Finding("terminating", "blocked",
                       f"pod {name} is Terminating on {node}, which is {problem}: it stays "
                       "until the node's kubelet comes back to confirm the deletion",
                       f"bring {node} back, or force-delete the pod (grace period 0) once "
                       "you are sure it no longer runs")
    grace = pod["metadata"].get("deletionGracePeriodSeconds")
    return Finding("terminating", "waiting",
                   f"pod {name} is Terminating (grace period {grace} s): its containers "
                   "are stopping")


def _scheduling(reader: Reader, pod: Obj) -> list[Finding]:
    if pod["spec"].get("nodeName"):
        return []
    name, ns = pod["metadata"]["name"], pod["metadata"].get("namespace")
    events = [e for e in reader.events("Pod", name, ns) if e.get("reason") == "FailedScheduling"]
    scheduled = condition(pod, "PodScheduled") or {}
    message = (events[-1].get("message") if events else None) or scheduled.get("message")
    if not message:
        return [Finding("scheduling", "waiting", f"pod {name} is pending: not scheduled yet")]
    hints = [hint for key, hint in _SCHEDULING_HINTS if key in message]
    return [Finding("unschedulable", "blocked", f"pod {name} pending: {message}",
                    "; ".join(hints) or "change what the scheduler message names")]


def _containers(reader: Reader, pod: Obj) -> list[Finding]:
    status = pod.get("status") or {}
    images = {c["name"]: c.get("image", "")
              for c in (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]}
    found = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses")
                                                                or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in IMAGE_ERRORS:
            found.append(_image_pull(reader, pod, cs, images.get(cs["name"], ""), waiting))
        elif reason == "CrashLoopBackOff":
            found.append(_crash_loop(pod, cs, waiting))
        elif reason in ("CreateContainerConfigError", "CreateContainerError",
                        "RunContainerError"):
            found.append(Finding("container-error", "error",
                                 f"container {cs['name']} of pod {pod['metadata']['name']} "
                                 f"cannot start: {reason}: {waiting.get('message', '')}",
                                 "fix what the message names in the pod template"))
    return found


def _image_pull(reader: Reader, pod: Obj, cs: Obj, image: str, waiting: Obj) -> Finding:
    name = pod["metadata"]["name"]
    failed = [e.get("message", "") for e in reader.events("Pod", name,
                                                          pod["metadata"].get("namespace"))
              if e.get("reason") == "Failed" and image in e.get("message", "")]
    detail = failed[-1] if failed else waiting.get("message", "")
    running = cs.get("image", "")
    update = (f"; it still runs {running}, so its in-place update cannot finish"
              if running and not same_image(running, image) else "")
    return Finding("image-pull", "error",
                   f"container {cs['name']} of pod {name} cannot pull {image}: "
                   f"{waiting.get('reason')} ({detail}){update}",
                   f"fix the image reference {image} (name, tag, registry, pull secret); "
                   "the kubelet retries the pull with a back-off of 10 s doubling to 300 s")


def same_image(a: str, b: str) -> bool:
    """Whether two image references name the same image (``nginx:1`` is
    ``docker.io/library/nginx:1``; no tag is ``:latest``)."""
    return _normalize(a) == _normalize(b)


def _normalize(image: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        image = image.removeprefix(prefix)
    if "@" not in image and ":" not in image.rsplit("/", 1)[-1]:
        image += ":latest"
    return image


def _crash_loop(pod: Obj, cs: Obj, waiting: Obj) -> Finding:
    last = (cs.get("lastState") or {}).get("terminated") or {}
    backoff = _BACKOFF.search(waiting.get("message", ""))
    wait = f"; the kubelet waits a back-off of {backoff.group(1)} before the next restart" \
        if backoff else ""
    return Finding("crash-loop", "error",
                   f"container {cs['name']} of pod {pod['metadata']['name']} is crash-looping: "
                   f"restarted {cs.get('restartCount', 0)} times, last exit code "
                   f"{last.get('exitCode', '?')} ({last.get('reason', 'Error')}){wait}",
                   "read its logs (kubectl logs --previous) and fix the app or its "
                   "configuration; the back-off doubles from 10 s to 300 s")


def node_problem(node: Obj | None) -> str | None:
    """Why a node cannot run pods now ("NotReady (reason: message)"), or None."""
    if node is None:
        return "gone"
    ready = condition(node, "Ready")
    if ready is not None and ready.get("status") != "True":
        word = "NotReady" if ready.get("status") == "False" else "Unknown"
        return f"{word} ({ready.get('reason', '')}: {ready.get('message', '')})"
    return None


def _node(reader: Reader, pod: Obj) -> list[Finding]:
    node = pod["spec"].get("nodeName")
    problem = node_problem(reader.node(node)) if node else None
    if not problem:
        return []
    return [Finding("node-not-ready", "blocked",
                    f"pod {pod['metadata']['name']} runs on {node}, which is {problem}: its "
                    "status is stale and it is evicted once the node's NoExecute taint "
                    "outlasts the pod's toleration (300 s by default)",
                    f"bring {node} back, or delete the pod so that its controller replaces "
                    "it elsewhere")]


def _readiness(reader: Reader, pod: Obj, min_ready_seconds: float) -> list[Finding]:
    name = pod["metadata"]["name"]
    ready = condition(pod, "Ready") or {}
    if ready.get("status") != "True":
        in_place = condition(pod, "InPlaceUpdateReady")
        if in_place is not None and in_place.get("status") == "False":
            return [Finding("in-place-update", "waiting",
                            f"pod {name} is being updated in place: its changed containers "
                            f"restart with the new image, and it is not ready until they pass "
                            f"readiness ({ready.get('message') or 'not ready'})")]
        phase = (pod.get("status") or {}).get("phase", "Pending")
        return [Finding("not-ready", "waiting",
                        f"pod {name} is not ready ({phase}: "
                        f"{ready.get('message') or ready.get('reason') or 'starting'})",
                        "wait for its readiness probe to pass; if it never does, check the "
                        "app (kubectl describe pod, logs)")]
    elapsed = ready_for(reader, pod) or 0.0
    if elapsed < min_ready_seconds:
        return [Finding("min-ready", "waiting",
                        f"pod {name} has been ready for {elapsed:.0f} s; minReadySeconds "
                        f"{min_ready_seconds:g} makes it available in "
                        f"{min_ready_seconds - elapsed:.0f} s more",
                        "nothing to do: this paces the rollout by design (lower "
                        "minReadySeconds to go faster)")]
    return []


#: Lifecycle states (``lifecycle.apps.kruise.io/state``) a hook holds, with the hook and
#: what the pod waits for.
_HELD = {
    "PreparingNormal": ("preNormal", "counts as available once it carries"),
    "PreparingUpdate": ("inPlaceUpdate", "is updated once it no longer carries"),
    "Updated": ("inPlaceUpdate", "returns to Normal once it carries again"),
    "PreparingDelete": ("preDelete", "is deleted once it no longer carries"),
}


def _lifecycle(pod: Obj, hooks: Obj) -> list[Finding]:
    """A CloneSet/Advanced StatefulSet pod held by a lifecycle hook (reference §1.4)."""
    state = (pod["metadata"].get("labels") or {}).get("lifecycle.apps.kruise.io/state", "")
    if state not in _HELD or not hooks.get(_HELD[state][0]):
        return []
    hook_name, waits = _HELD[state]
    hook = hooks[hook_name]
    marks = [f"{k}={v}" for k, v in (hook.get("labelsHandler") or {}).items()]
    marks += [f"finalizer {f}" for f in hook.get("finalizersHandler") or ()]
    return [Finding("lifecycle-hook", "waiting",
                    f"pod {pod['metadata']['name']} is {state}: the lifecycle.{hook_name} hook "
                    f"holds it — it {waits} {', '.join(marks)}",
                    f"the controller owning the {hook_name} hook changes those marks; do it "
                    "by hand (kubectl label/patch) if that controller is gone")]
