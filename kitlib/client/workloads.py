"""Workload operations: rollout, pause/resume, partition, scale, undo, convergence, waiting.

Every operation names a workload as ``kitlib.client.refs.resolve`` does (``"cloneset/web"``,
``"deploy/web"``, a bare name, or the object) and works on the four kinds kitlib rolls out:
CloneSet and Advanced StatefulSet (OpenKruise) and Deployment and StatefulSet (``apps/v1``).

**rollout** changes images and the update strategy in **one PATCH**: a JSON merge patch for
the OpenKruise kinds (custom resources have no strategic-merge metadata, so the container
list is sent whole, with the read ``resourceVersion`` as a precondition: a concurrent writer
gives ``kitlib.errors.Conflict`` instead of being overwritten), a strategic merge patch for
``apps/v1`` (containers merge by name). What each knob means per kind:

| knob | CloneSet | Advanced StatefulSet | Deployment | StatefulSet |
|---|---|---|---|---|
| `strategy` | `updateStrategy.type`: `ReCreate`, `InPlaceIfPossible`, `InPlaceOnly` | `updateStrategy.type` `RollingUpdate`/`OnDelete`, or `rollingUpdate.podUpdatePolicy` `ReCreate`/`InPlaceIfPossible`/`InPlaceOnly` | `strategy.type` `RollingUpdate`/`Recreate` | `updateStrategy.type` `RollingUpdate`/`OnDelete` |
| `partition` | pods kept on the old revision (int or %) | lowest ordinals kept old (int) | — (pause, or use a CloneSet) | lowest ordinals kept old (int) |
| `max_unavailable` | `updateStrategy.maxUnavailable` | `rollingUpdate.maxUnavailable` | `rollingUpdate.maxUnavailable` | `rollingUpdate.maxUnavailable` |
| `max_surge` | `updateStrategy.maxSurge` | — | `rollingUpdate.maxSurge` | — |
| `paused` | `updateStrategy.paused` | `rollingUpdate.paused` | `spec.paused` | — (raise the partition) |

A knob a kind does not have is refused with ``kitlib.errors.Invalid`` saying what to use
instead, before anything is sent; so is an image for a container the template lacks.

**undo** follows ``kubectl rollout undo``: a Deployment goes back to the template of the
ReplicaSet of the previous revision (``deployment.kubernetes.io/revision``, without its
``pod-template-hash`` label, the ReplicaSet's annotations copied back); a CloneSet or
StatefulSet to the template stored in its previous ControllerRevision (ordered by
``.revision``; the data is ``{"spec": {"template": {..., "$patch": "replace"}}}``). The
template is replaced whole with a JSON patch, which every kind accepts.

**converged** is ``refs.progress(obj).converged`` and, looking at the pods themselves
(raw JSON, by the workload's label selector, owned by it): none is terminating, and with
partition 0 every active one is on the update revision.

**Waiting** (``wait_for``, ``wait_converged``, ``restart_container(wait=True)``) polls
every ``interval`` cluster seconds through ``cluster.sleep``, so on a stepped embedded
cluster it is what moves simulated time, and timeouts are in cluster seconds.

Every mutating operation checks ``require_writes`` unless ``dry_run=True``, which sends
the request with ``dryRun=All`` (validated and admitted by the server, never stored), and
then tells the handle's listeners (``Cluster.add_listener``): ``"rollout"`` (also for
pause, resume and set_partition) and ``"undo"`` with ``workload``, ``kind``, ``name``,
``namespace``, ``patch``, ``changed``, ``dry_run``; ``"scale"`` with ``replicas``;
``"restart_container"`` with ``pod``, ``namespace``, ``containers``, ``request``,
``dry_run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from kitlib.client.errors import INSTALL_KRUISE, MissingCapabilityError
from kitlib.client.ops import (
    MERGE,
    STRATEGIC,
    Resource,
    discover,
    request_json,
    require_writes,
)
from kitlib.client.raw import get_json
from kitlib.client.refs import Progress, WorkloadRef, get_workload, progress, resolve
from kitlib.model.errors import Invalid, NotFound
from kitlib.model.selectors import LabelSelector

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["RolloutResult", "converged", "pause", "restart_container", "resume", "rollout",
           "scale", "set_partition", "undo", "wait_converged", "wait_for"]

Workload = str | dict[str, Any] | WorkloadRef
IntOrPercent = int | str

JSON_PATCH = "application/json-patch+json"
REVISION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
REVISION_LABEL = "controller-revision-hash"
#: Deployment annotations ``kubectl rollout undo`` never copies from a ReplicaSet.
SKIP_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION,
    "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to"})
POD_POLICIES = ("ReCreate", "InPlaceIfPossible", "InPlaceOnly")
CRR_API_VERSION, CRR_KIND = "apps.kruise.io/v1alpha1", "ContainerRecreateRequest"


@dataclass(frozen=True)
class RolloutResult:
    """What a rollout (or pause, resume, set_partition, undo) sent and got back.

    Attributes:
        ref: The workload.
        patch: The patch body sent (a dict; a list of operations for ``undo``).
        generation: ``metadata.generation`` of the object returned.
        object: The object as the server returned it (as it would be, with ``dry_run``).
        changed: Whether its spec changed (``False``: it already was so).
    """

    ref: WorkloadRef
    patch: Any
    generation: int
    object: dict[str, Any]
    changed: bool


@dataclass(frozen=True)
class _Change:
    strategy: str | None = None
    partition: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None
    max_surge: IntOrPercent | None = None
    paused: bool | None = None


# -- rollout ---------------------------------------------------------------------------------

def rollout(cluster: Cluster, workload: Workload, *, images: dict[str, str] | None = None,
            strategy: str | None = None, partition: IntOrPercent | None = None,
            max_unavailable: IntOrPercent | None = None, max_surge: IntOrPercent | None = None,
            paused: bool | None = None, namespace: str | None = None,
            dry_run: bool = False) -> RolloutResult:
    """Change images and update strategy of ``workload`` in one PATCH (module docstring).

    Args:
        cluster: The handle.
        workload: ``"kind/name"``, a bare name or the object.
        images: Container (or init container) name → new image.
        strategy: The update strategy (per kind, see the module docstring).
        partition: Pods to keep on the old revision (CloneSet: int or percent).
        max_unavailable: The update's unavailability budget (int or percent).
        max_surge: Extra pods allowed during the update (CloneSet, Deployment).
        paused: Pause (True) or resume (False) the update.
        namespace: Defaults to the handle's namespace.
        dry_run: Validate on the server (``dryRun=All``) without storing.

    Returns:
        The ``RolloutResult``.

    Raises:
        ValueError: Nothing to change was given.
        kitlib.errors.Invalid: A knob the kind does not have, an unknown strategy or
            container; nothing was sent.
        kitlib.errors.Conflict: A CloneSet or Advanced StatefulSet changed between the read
            and the PATCH (its container list is sent whole, with a precondition); retry.
        WritesNotAllowedError: The handle is read-only (and ``dry_run`` is False).
    """
    change = _Change(strategy, partition, max_unavailable, max_surge, paused)
    if not images and change == _Change():
        raise ValueError("rollout needs something to change: images=, strategy=, partition=, "
                         "max_unavailable=, max_surge= or paused=")
    if not dry_run:
        require_writes(cluster, "rollout")
    ref = resolve(cluster, workload, namespace)
    current = get_workload(cluster, ref)
    patch = _rollout_patch(ref, current, images or {}, change)
    return _send(cluster, ref, current, patch, MERGE if ref.kind.kruise else STRATEGIC,
                 what="rollout", dry_run=dry_run)


def pause(cluster: Cluster, workload: Workload, *, namespace: str | None = None,
          dry_run: bool = False) -> RolloutResult:
    """Stop the workload's update where it is (scaling goes on); see ``rollout(paused=)``."""
    return rollout(cluster, workload, paused=True, namespace=namespace, dry_run=dry_run)


def resume(cluster: Cluster, workload: Workload, *, namespace: str | None = None,
           dry_run: bool = False) -> RolloutResult:
    """Let a paused update go on; see ``rollout(paused=)``."""
    return rollout(cluster, workload, paused=False, namespace=namespace, dry_run=dry_run)


def set_partition(cluster: Cluster, workload: Workload, partition: IntOrPercent, *,
                  namespace: str | None = None, dry_run: bool = False) -> RolloutResult:
    """Keep ``partition`` pods on the old revision; see ``rollout(partition=)``."""
    return rollout(cluster, workload, partition=partition, namespace=namespace,
                   dry_run=dry_run)


def _send(cluster: Cluster, ref: WorkloadRef, current: dict[str, Any], patch: Any,
          content_type: str, *, what: str, dry_run: bool) -> RolloutResult:
    result = request_json(cluster.api_client, "PATCH", ref.path, body=patch,
                          content_type=content_type,
                          query={"dryRun": "All" if dry_run else None})
    outcome = RolloutResult(ref, patch, int(result.get("metadata", {}).get("generation") or 0),
                            result, result.get("spec") != current.get("spec"))
    _notify(cluster, what, ref, dry_run=dry_run, patch=patch, changed=outcome.changed)
    return outcome


def _notify(cluster: Cluster, what: str, ref: WorkloadRef, **details: Any) -> None:
    """Tell the handle's listeners (recorders) what was done to ``ref``."""
    cluster.notify(what, {"workload": str(ref), "kind": ref.kind.kind, "name": ref.name,
                          "namespace": ref.namespace, **details})


def _bad(ref: WorkloadRef, message: str) -> Invalid:
    return Invalid(f"{ref}: {message}", details={"name": ref.name, "kind": ref.kind.kind})


def _rollout_patch(ref: WorkloadRef, current: dict[str, Any], images: dict[str, str],
                   change: _Change) -> dict[str, Any]:
    spec = current.get("spec") or {}
    if ref.kind.kind == "CloneSet":
        spec_patch = _cloneset_patch(ref, change)
    elif ref.kind.kind == "Deployment":
        spec_patch = _deployment_patch(ref, spec, change)
    elif ref.kind.kruise:
        spec_patch = _advanced_statefulset_patch(ref, spec, change)
    else:
        spec_patch = _statefulset_patch(ref, change)
    patch: dict[str, Any] = {"spec": spec_patch} if spec_patch else {}
    if images:
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        patch.setdefault("spec", {})["template"] = {"spec": _images_patch(
            ref, pod_spec, images, strategic=not ref.kind.kruise)}
        if ref.kind.kruise:  # the lists are replaced whole: refuse to overwrite a newer one
            patch["metadata"] = {"resourceVersion": current["metadata"]["resourceVersion"]}
    return patch


def _only(ref: WorkloadRef, value: Any, allowed: tuple[str, ...], field: str) -> None:
    if value is not None and value not in allowed:
        raise _bad(ref, f'{field} "{value}" is not one of ' + ", ".join(allowed))


def _partition(ref: WorkloadRef, value: IntOrPercent | None, *, percent: bool) -> None:
    if value is None:
        return
    ok = ((isinstance(value, int) and not isinstance(value, bool) and value >= 0)
          or (percent and isinstance(value, str) and value.endswith("%")
              and value[:-1].isdigit()))
    if not ok:
        wanted = "a non-negative integer or a percentage" if percent else \
            "a non-negative integer (StatefulSets take no percentage)"
        raise _bad(ref, f"partition {value!r} must be {wanted}")


def _no_surge(ref: WorkloadRef, change: _Change) -> None:
    if change.max_surge is not None:
        raise _bad(ref, "StatefulSets have no maxSurge (pods keep their ordinals); use a "
                        "CloneSet for surge updates")


def _on_delete(ref: WorkloadRef, fields: dict[str, Any]) -> Invalid:
    return _bad(ref, "with the OnDelete strategy pods are updated only when deleted, so "
                     f"{', '.join(fields)} would do nothing; pass strategy=\"RollingUpdate\" "
                     "with them")


def _set(target: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``target`` with every field that is not None set (camelCase keys as given)."""
    target.update({k: v for k, v in fields.items() if v is not None})
    return target


def _cloneset_patch(ref: WorkloadRef, change: _Change) -> dict[str, Any]:
    _only(ref, change.strategy, POD_POLICIES, "strategy")
    _partition(ref, change.partition, percent=True)
    strategy = _set({}, type=change.strategy, partition=change.partition,
                    maxUnavailable=change.max_unavailable, maxSurge=change.max_surge,
                    paused=change.paused)
    return {"updateStrategy": strategy} if strategy else {}


def _advanced_statefulset_patch(ref: WorkloadRef, spec: dict[str, Any],
                                change: _Change) -> dict[str, Any]:
    _only(ref, change.strategy, ("RollingUpdate", "OnDelete", *POD_POLICIES), "strategy")
    _partition(ref, change.partition, percent=False)
    _no_surge(ref, change)
    policy = change.strategy if change.strategy in POD_POLICIES else None
    kind = "RollingUpdate" if policy else change.strategy
    rolling = _set({}, podUpdatePolicy=policy, partition=change.partition,
                   maxUnavailable=change.max_unavailable, paused=change.paused)
    if rolling and (kind or (spec.get("updateStrategy") or {}).get("type")) == "OnDelete":
        raise _on_delete(ref, rolling)
    strategy = _set({}, type=kind, rollingUpdate=rolling or None)
    return {"updateStrategy": strategy} if strategy else {}


def _statefulset_patch(ref: WorkloadRef, change: _Change) -> dict[str, Any]:
    _only(ref, change.strategy, ("RollingUpdate", "OnDelete"), "strategy")
    _partition(ref, change.partition, percent=False)
    _no_surge(ref, change)
    if change.paused is not None:
        raise _bad(ref, "a StatefulSet (apps/v1) cannot be paused; hold its rollout with "
                        "set_partition(…, replicas) or use an Advanced StatefulSet "
                        "(apps.kruise.io/v1beta1), which can")
    rolling = _set({}, partition=change.partition, maxUnavailable=change.max_unavailable)
    if change.strategy == "OnDelete":
        if rolling:
            raise _on_delete(ref, rolling)
        return {"updateStrategy": {"type": "OnDelete", "rollingUpdate": None}}
    strategy = _set({}, type=change.strategy, rollingUpdate=rolling or None)
    return {"updateStrategy": strategy} if strategy else {}


def _deployment_patch(ref: WorkloadRef, spec: dict[str, Any],
                      change: _Change) -> dict[str, Any]:
    _only(ref, change.strategy, ("RollingUpdate", "Recreate"), "strategy")
    if change.partition is not None:
        raise _bad(ref, "Deployments have no partition; use pause/resume to hold a rollout, "
                        "or a CloneSet (apps.kruise.io), whose partition keeps pods on the old "
                        "revision")
    rolling = _set({}, maxUnavailable=change.max_unavailable, maxSurge=change.max_surge)
    kind = change.strategy or (spec.get("strategy") or {}).get("type")
    if kind == "Recreate" and rolling:
        raise _bad(ref, f"a Recreate Deployment has no {', '.join(rolling)}; pass "
                        'strategy="RollingUpdate" with them')
    if change.strategy == "Recreate":
        strategy: dict[str, Any] = {"type": "Recreate", "rollingUpdate": None}
    else:
        strategy = _set({}, type=change.strategy, rollingUpdate=rolling or None)
    return _set({"strategy": strategy} if strategy else {}, paused=change.paused)


def _container_names(pod_spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    return ([c["name"] for c in pod_spec.get("containers") or []],
            [c["name"] for c in pod_spec.get("initContainers") or []])


def _check_containers(what: str, pod_spec: dict[str, Any], names: list[str], *,
                     init: bool = True) -> None:
    """Raise ``Invalid`` naming the containers of ``pod_spec`` if one of ``names`` is not one."""
    containers, inits = _container_names(pod_spec)
    known = set(containers) | (set(inits) if init else set())
    unknown = [n for n in names if n not in known]
    if unknown:
        listing = ", ".join(containers) + (f" (init containers: {', '.join(inits)})"
                                           if init and inits else "")
        raise Invalid(f"{what} has no container {', '.join(map(repr, unknown))}; "
                      f"its containers are {listing}", details={"containers": unknown})


def _images_patch(ref: WorkloadRef, pod_spec: dict[str, Any], images: dict[str, str], *,
                  strategic: bool) -> dict[str, Any]:
    _check_containers(str(ref), pod_spec, list(images))
    patch: dict[str, Any] = {}
    for field in ("initContainers", "containers"):
        listed = pod_spec.get(field) or []
        if not any(c["name"] in images for c in listed):
            continue
        if strategic:
            patch[field] = [{"name": c["name"], "image": images[c["name"]]}
                            for c in listed if c["name"] in images]
        else:
            patch[field] = [{**c, "image": images.get(c["name"], c.get("image"))}
                            for c in listed]
    return patch


# -- scale -----------------------------------------------------------------------------------

def scale(cluster: Cluster, workload: Workload, replicas: int, *, namespace: str | None = None,
          dry_run: bool = False) -> dict[str, Any]:
    """Set ``spec.replicas`` through the ``scale`` subresource, as ``kubectl scale``.

    Returns:
        The ``autoscaling/v1`` Scale the server returned.
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ValueError(f"replicas must be a non-negative integer, not {replicas!r}")
    if not dry_run:
        require_writes(cluster, "scale")
    ref = resolve(cluster, workload, namespace)
    result = request_json(cluster.api_client, "PATCH", f"{ref.path}/scale",
                          body={"spec": {"replicas": replicas}}, content_type=MERGE,
                          query={"dryRun": "All" if dry_run else None})
    _notify(cluster, "scale", ref, dry_run=dry_run, replicas=replicas)
    return result


# -- undo ------------------------------------------------------------------------------------

def undo(cluster: Cluster, workload: Workload, to_revision: int | None = None, *,
         namespace: str | None = None, dry_run: bool = False) -> RolloutResult:
    """Go back to the previous (or ``to_revision``) template, as ``kubectl rollout undo``.

    A template already equal to the target is sent anyway; ``changed`` is then False.

    Raises:
        kitlib.errors.Invalid: No previous revision, ``to_revision`` not in the history,
            or a paused Deployment (resume it first, as kubectl says).
    """
    if not dry_run:
        require_writes(cluster, "undo")
    ref = resolve(cluster, workload, namespace)
    current = get_workload(cluster, ref)
    if ref.kind.kind == "Deployment":
        if (current.get("spec") or {}).get("paused"):
            raise _bad(ref, "you cannot roll back a paused Deployment; resume it first and "
                            "try again")
        template, annotations = _deployment_revision(cluster, ref, current, to_revision)
    else:
        template, annotations = _controller_revision(cluster, ref, current, to_revision), None
    ops: list[dict[str, Any]] = [{"op": "add", "path": "/spec/template", "value": template}]
    if annotations is not None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    return _send(cluster, ref, current, ops, JSON_PATCH, what="undo", dry_run=dry_run)


def _owned(items: list[dict[str, Any]], uids: str | set[str]) -> list[dict[str, Any]]:
    """``items`` whose controller ownerReference is (one of) ``uids``."""
    wanted = {uids} if isinstance(uids, str) else uids
    return [item for item in items if _owner_uid(item) in wanted]


def _owner_uid(obj: dict[str, Any]) -> str | None:
    return next((str(o.get("uid")) for o in obj["metadata"].get("ownerReferences") or []
                 if o.get("controller")), None)


def _selected(cluster: Cluster, path: str, workload: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects at ``path`` that ``workload``'s label selector matches."""
    selector = str(LabelSelector.from_object((workload.get("spec") or {}).get("selector")))
    return list(get_json(cluster.api_client, path, labelSelector=selector or None)["items"])


def _pick(ref: WorkloadRef, history: list[tuple[int, Any]],
          to_revision: int | None) -> Any:
    """The entry of ``to_revision``, else the one before the newest (``history`` sorted)."""
    if not history:
        raise _bad(ref, "no rollout history found")
    if to_revision:
        for number, item in history:
            if number == to_revision:
                return item
        raise _bad(ref, f"unable to find revision {to_revision} in the history (has "
                        + ", ".join(str(n) for n, _ in history) + ")")
    if len(history) < 2:
        raise _bad(ref, f"no previous revision to roll back to (only revision "
                        f"{history[0][0]} exists)")
    return history[-2][1]


def _deployment_revision(cluster: Cluster, ref: WorkloadRef, deployment: dict[str, Any],
                         to_revision: int | None) -> tuple[dict[str, Any], dict[str, str]]:
    path = f"/apis/apps/v1/namespaces/{ref.namespace}/replicasets"
    sets = _owned(_selected(cluster, path, deployment), deployment["metadata"]["uid"])
    numbered = [(int(rs["metadata"].get("annotations", {}).get(REVISION, "0") or 0), rs)
                for rs in sets]
    rs = _pick(ref, sorted(((n, r) for n, r in numbered if n > 0), key=lambda e: e[0]),
               to_revision)
    template = orjson.loads(orjson.dumps(rs["spec"]["template"]))
    template.get("metadata", {}).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
    kept = deployment["metadata"].get("annotations") or {}
    annotations = {k: v for k, v in kept.items() if k in SKIP_ANNOTATIONS}
    annotations.update({k: v for k, v in (rs["metadata"].get("annotations") or {}).items()
                        if k not in SKIP_ANNOTATIONS})
    return template, annotations


def _controller_revision(cluster: Cluster, ref: WorkloadRef, workload: dict[str, Any],
                         to_revision: int | None) -> dict[str, Any]:
    path = f"/apis/apps/v1/namespaces/{ref.namespace}/controllerrevisions"
    revisions = _owned(_selected(cluster, path, workload), workload["metadata"]["uid"])
    history = sorted(((int(r.get("revision") or 0), r) for r in revisions),
                     key=lambda entry: entry[0])
    revision = _pick(ref, history, to_revision)
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


# -- convergence and waiting -----------------------------------------------------------------

def converged(cluster: Cluster, workload: Workload, *, namespace: str | None = None) -> bool:
    """Whether ``workload`` has reached the end state of its rollout (module docstring)."""
    ref = resolve(cluster, workload, namespace)
    return _converged(cluster, ref, get_workload(cluster, ref))


def _converged(cluster: Cluster, ref: WorkloadRef, obj: dict[str, Any]) -> bool:
    state = progress(obj)
    if not state.converged:
        return False
    pods = _selected(cluster, f"/api/v1/namespaces/{ref.namespace}/pods", obj)
    if ref.kind.kind == "Deployment":
        sets = _owned(_selected(cluster, f"/apis/apps/v1/namespaces/{ref.namespace}/replicasets",
                                obj), obj["metadata"]["uid"])
        revision = (obj["metadata"].get("annotations") or {}).get(REVISION)
        new = {rs["metadata"]["uid"] for rs in sets
               if (rs["metadata"].get("annotations") or {}).get(REVISION) == revision}
        pods = _owned(pods, {rs["metadata"]["uid"] for rs in sets})
        on_update = [_owner_uid(p) in new for p in pods]
    else:
        pods = _owned(pods, obj["metadata"]["uid"])
        on_update = [_on_revision(p, state.update_revision) for p in pods]
    if any(p["metadata"].get("deletionTimestamp") for p in pods):
        return False
    if state.partition:
        return True
    return all(ok for p, ok in zip(pods, on_update, strict=True)
               if p.get("status", {}).get("phase") not in ("Succeeded", "Failed"))


def _on_revision(pod: dict[str, Any], revision: str) -> bool:
    label = (pod["metadata"].get("labels") or {}).get(REVISION_LABEL, "")
    return bool(label) and (label == revision or label.rsplit("-", 1)[-1]
                            == revision.rsplit("-", 1)[-1])


def wait_for(cluster: Cluster, condition: Callable[[], bool], *, timeout: float,
             interval: float = 1.0, description: str = "",
             state: Callable[[], str] | None = None) -> float:
    """Poll ``condition`` every ``interval`` cluster seconds until it holds.

    Args:
        cluster: The handle whose ``sleep`` moves (cluster) time.
        condition: Called at once and after each sleep; True ends the wait.
        timeout: Cluster seconds to wait at most.
        interval: Cluster seconds between polls.
        description: What is awaited, for the timeout message.
        state: Describes the last state seen, for the timeout message.

    Returns:
        The cluster seconds waited (0 when ``condition`` already held).

    Raises:
        TimeoutError: ``timeout`` passed; the message names what was awaited and the last
            state seen.
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, not {interval!r}")
    start = cluster.now()
    while not condition():
        waited = cluster.now() - start
        if waited >= timeout:
            what = description or getattr(condition, "__name__", "the condition")
            last = state() if state is not None else "the condition was still false"
            raise TimeoutError(f"timed out after {waited:g} s waiting for {what}; "
                               f"last state: {last}")
        cluster.sleep(min(interval, timeout - waited))
    return cluster.now() - start


def describe_progress(state: Progress) -> str:
    """One line: where a rollout stands (used in timeout messages)."""
    text = (f"{state.updated}/{state.target_updated} updated, {state.ready} ready, "
            f"{state.available}/{state.replicas} available (maxUnavailable "
            f"{state.max_unavailable}), {state.current_replicas} pods")
    if state.partition:
        text += f", partition {state.partition}"
    if state.paused:
        text += ", paused"
    if not state.observed:
        text += ", spec not yet observed by the controller"
    return text


def wait_converged(cluster: Cluster, workload: Workload, *, timeout: float = 600,
                   interval: float = 1.0,
                   on_progress: Callable[[Progress], None] | None = None,
                   namespace: str | None = None) -> float:
    """Wait until ``converged(workload)``; returns the cluster seconds waited.

    ``on_progress`` is called with the workload's ``Progress`` at the first poll and
    whenever it changes. Raises ``TimeoutError`` with the last progress after ``timeout``.
    """
    ref = resolve(cluster, workload, namespace)
    seen: list[Progress] = []

    def check() -> bool:
        obj = get_workload(cluster, ref)
        state = progress(obj)
        if on_progress is not None and (not seen or seen[-1] != state):
            on_progress(state)
        seen[:] = [state]
        return _converged(cluster, ref, obj)

    return wait_for(cluster, check, timeout=timeout, interval=interval,
                    description=f"{ref} to converge",
                    state=lambda: describe_progress(seen[-1]) if seen else "never read")


# -- restart_container -----------------------------------------------------------------------

def restart_container(cluster: Cluster, pod: str, containers: str | list[str], *,
                      namespace: str | None = None, wait: bool = False,
                      timeout: float = 300.0, dry_run: bool = False) -> dict[str, Any]:
    """Restart containers of a running pod in place with an OpenKruise ContainerRecreateRequest.

    The pod keeps its UID, node and IP; only the named containers are killed (their
    ``preStop`` runs) and started again by the kubelet, ``restartCount`` + 1.

    Args:
        cluster: The handle.
        pod: The pod's name.
        containers: One container name or several (init containers cannot be restarted).
        namespace: Defaults to the handle's namespace.
        wait: Wait until the request's ``status.phase`` is ``Completed``.
        timeout: Cluster seconds to wait at most (with ``wait``).
        dry_run: Validate on the server without creating the request.

    Returns:
        The ContainerRecreateRequest (as completed, with ``wait``).

    Raises:
        MissingCapabilityError: The cluster has no OpenKruise (no ContainerRecreateRequest).
        kitlib.errors.Invalid: The pod has no such container.
        TimeoutError: ``wait`` and the request did not complete in ``timeout``.
    """
    names = [containers] if isinstance(containers, str) else list(containers)
    if not names:
        raise ValueError("restart_container needs at least one container name")
    namespace = namespace or cluster.namespace
    resource = _crr_resource(cluster, pod, namespace)
    if not dry_run:
        require_writes(cluster, "restart_container")
    live = get_json(cluster.api_client, f"/api/v1/namespaces/{namespace}/pods/{pod}")
    _check_containers(f"pod {namespace}/{pod}", live.get("spec") or {}, names, init=False)
    body = {"apiVersion": CRR_API_VERSION, "kind": CRR_KIND,
            "metadata": {"generateName": f"{pod}-", "namespace": namespace},
            "spec": {"podName": pod, "containers": [{"name": n} for n in names],
                     "strategy": {"failurePolicy": "Fail"}}}
    crr = request_json(cluster.api_client, "POST", resource.path(namespace), body=body,
                       query={"dryRun": "All" if dry_run else None})
    cluster.notify("restart_container", {"pod": pod, "namespace": namespace,
                                         "containers": names, "request": crr["metadata"]["name"],
                                         "dry_run": dry_run})
    if not wait or dry_run:
        return crr
    path = resource.path(namespace, crr["metadata"]["name"])
    latest = [crr]

    def completed() -> bool:
        latest[0] = get_json(cluster.api_client, path)
        return bool((latest[0].get("status") or {}).get("phase") == "Completed")

    wait_for(cluster, completed, timeout=timeout, description=(
        f"ContainerRecreateRequest {namespace}/{crr['metadata']['name']} to complete"),
             state=lambda: f"phase {(latest[0].get('status') or {}).get('phase', 'none')}")
    return latest[0]


def _crr_resource(cluster: Cluster, pod: str, namespace: str) -> Resource:
    try:
        return discover(cluster, CRR_API_VERSION, CRR_KIND)
    except NotFound:
        raise MissingCapabilityError(
            CRR_KIND,
            f"restart_container needs OpenKruise's {CRR_KIND} ({CRR_API_VERSION}), which this "
            f"cluster does not serve: OpenKruise is missing; {INSTALL_KRUISE}. Without it, "
            f"delete the pod (cluster.evict('{pod}', '{namespace}') or kubectl delete pod) so "
            "its controller recreates the whole pod, or roll out with a recreate strategy"
        ) from None
