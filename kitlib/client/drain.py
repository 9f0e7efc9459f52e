"""Evictions and node maintenance: ``evict``, ``cordon``/``uncordon`` and ``drain``.

``evict`` posts to the Eviction API (``pods/eviction``), so PodDisruptionBudgets
decide: 201 → allowed, 429 → refused with the server's reason (which budget, how
many healthy pods it needs and has), 404 → allowed (the pod is already gone).

``drain`` follows ``kubectl drain`` (reference kubernetes.md §2.5): cordon; list the
node's pods by ``fieldSelector=spec.nodeName=N``; run kubectl's filters (mirror pods
skipped; DaemonSet pods skipped with ``ignore_daemonsets`` else an error; emptyDir pods
need ``delete_emptydir_data``; pods without a controller need ``force``) — any error
aborts before a single eviction; then evict every pod, retrying a refused one 5 s
later, and wait for each evicted pod to be gone (404 or another UID), polling every
1 s. kubectl does this with one goroutine per pod; here one loop steps all pods
together in cluster time (``cluster.sleep``), which on a stepped embedded cluster is
what makes the controllers, scheduler and kubelets run meanwhile. ``timeout`` is one
global deadline in cluster seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kitlib.client.errors import from_api_exception
from kitlib.client.ops import STRATEGIC, request_json, require_writes
from kitlib.client.raw import get_json
from kitlib.model.errors import NotFound

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["DrainError", "DrainEvent", "DrainRefusal", "DrainResult", "EvictionResult",
           "cordon", "drain", "evict", "uncordon"]

#: kubectl's ``EvictErrorRetryDelay`` and its wait-for-delete poll interval (seconds).
RETRY_DELAY, POLL_INTERVAL = 5.0, 1.0
MIRROR = "kubernetes.io/config.mirror"


class DrainError(RuntimeError):
    """``drain`` found pods it may not evict (kubectl's filter errors); nothing was evicted."""


@dataclass(frozen=True)
class EvictionResult:
    """Whether the Eviction API allowed the eviction, why not, and the HTTP status."""

    allowed: bool
    reason: str
    status: int


@dataclass(frozen=True)
class DrainEvent:
    """One step of a drain: ``planned`` (first: ``pods`` it will evict, ``skipped`` the
    DaemonSet and mirror pods it leaves), then ``evicting``, ``refused``, ``evicted``, and
    ``done`` last."""

    kind: str
    pod: str | None
    reason: str
    time: float
    pods: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrainRefusal:
    """An eviction the API refused (429) during a drain, at cluster time ``time``."""

    pod: str
    reason: str
    time: float


@dataclass(frozen=True)
class DrainResult:
    """The outcome of ``drain``: pods evicted (``ns/name``), refusals, cluster seconds."""

    node: str
    evicted: tuple[str, ...]
    refusals: tuple[DrainRefusal, ...]
    duration: float
    completed: bool
    reason: str = ""
    skipped: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()


# -- evict, cordon ---------------------------------------------------------------------------

def evict(cluster: Cluster, pod: str, namespace: str | None = None, *,
          dry_run: bool = False, source: str = "evict") -> EvictionResult:
    """Ask the Eviction API to evict ``pod`` (see the module docstring).

    Listeners of ``cluster`` (``Cluster.add_listener``) hear ``"eviction"`` with the result
    and ``source`` (``"evict"``, or ``"drain"`` when a drain evicts).
    """
    if not dry_run:
        require_writes(cluster, "evict")
    namespace = namespace or cluster.namespace
    result = _evict(cluster, pod, namespace, dry_run=dry_run)
    cluster.notify("eviction", {"pod": pod, "namespace": namespace, "allowed": result.allowed,
                                "reason": result.reason, "status": result.status,
                                "dry_run": dry_run, "source": source})
    return result


def _evict(cluster: Cluster, pod: str, namespace: str, *, dry_run: bool) -> EvictionResult:
    body = k8s.V1Eviction(
        api_version="policy/v1", kind="Eviction",
        metadata=k8s.V1ObjectMeta(name=pod, namespace=namespace),
        delete_options=k8s.V1DeleteOptions(dry_run=["All"]) if dry_run else None)
    core = k8s.CoreV1Api(cluster.api_client)
    try:
        core.create_namespaced_pod_eviction(pod, namespace, body,
                                            dry_run="All" if dry_run else None)
    except ApiException as exc:
        if exc.status == 404:
            return EvictionResult(True, f'pod "{pod}" is already gone', 404)
        if exc.status == 429:
            error = from_api_exception(exc)
            return EvictionResult(False, _cause(error.causes) or error.message, 429)
        raise from_api_exception(exc) from exc
    return EvictionResult(True, "", 201)


def _cause(causes: list[dict[str, Any]]) -> str:
    return "; ".join(str(c.get("message", "")) for c in causes if c.get("message"))


def cordon(cluster: Cluster, node: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Mark ``node`` unschedulable (strategic patch ``spec.unschedulable: true``)."""
    return _set_unschedulable(cluster, node, True, dry_run=dry_run)


def uncordon(cluster: Cluster, node: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Make ``node`` schedulable again (strategic patch ``spec.unschedulable: null``)."""
    return _set_unschedulable(cluster, node, None, dry_run=dry_run)


def _set_unschedulable(cluster: Cluster, node: str, value: bool | None, *,
                       dry_run: bool) -> dict[str, Any]:
    if not dry_run:
        require_writes(cluster, "cordon" if value else "uncordon")
    return request_json(cluster.api_client, "PATCH", f"/api/v1/nodes/{node}",
                        body={"spec": {"unschedulable": value}}, content_type=STRATEGIC,
                        query={"dryRun": "All" if dry_run else None})


# -- drain -----------------------------------------------------------------------------------

@dataclass
class _Pending:
    namespace: str
    name: str
    uid: str
    retry_at: float = 0.0
    evicted: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class _Drain:
    cluster: Cluster
    node: str
    on_progress: Callable[[DrainEvent], None] | None
    started: float
    evicted: list[str] = field(default_factory=list)
    refusals: list[DrainRefusal] = field(default_factory=list)

    def emit(self, kind: str, pod: str | None, reason: str = "", *,
             pods: tuple[str, ...] = (), skipped: tuple[str, ...] = ()) -> None:
        if self.on_progress is not None:
            self.on_progress(DrainEvent(kind, pod, reason, self.cluster.now(), pods, skipped))


def _key(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


def drain(cluster: Cluster, node: str, *, ignore_daemonsets: bool = True,
          delete_emptydir_data: bool = False, force: bool = False,
          timeout: float | None = None,
          on_progress: Callable[[DrainEvent], None] | None = None,
          dry_run: bool = False) -> DrainResult:
    """Cordon ``node`` and evict its pods the way ``kubectl drain`` does (module docstring).

    Raises ``DrainError`` (before evicting anything) when a pod may not be evicted under
    the flags given; returns ``completed=False`` with the reason when ``timeout`` cluster
    seconds pass first. With ``dry_run`` (kubectl's ``--dry-run=server``) the cordon and
    one eviction per pod are sent as server-side dry runs and nothing waits: ``evicted``
    lists the evictions the budgets allow now, ``refusals`` the others, and ``completed``
    says whether all were allowed.
    """
    if not dry_run:
        require_writes(cluster, "drain")
    get_json(cluster.api_client, f"/api/v1/nodes/{node}")
    cordon(cluster, node, dry_run=dry_run)
    pods = _list_pods(cluster, node)
    keep, skipped = _filter(cluster, pods, ignore_daemonsets=ignore_daemonsets,
                            delete_emptydir_data=delete_emptydir_data, force=force)
    state = _Drain(cluster, node, on_progress, cluster.now())
    state.emit("planned", None, pods=tuple(_key(p) for p in keep), skipped=tuple(skipped))
    if dry_run:
        return _dry_run(state, keep, skipped)
    pending = [_Pending(p["metadata"]["namespace"], p["metadata"]["name"],
                        p["metadata"].get("uid", "")) for p in keep]
    deadline = None if timeout is None else state.started + timeout
    while pending:
        pending = [p for p in pending if not _step(state, p)]
        if not pending:
            break
        if deadline is not None and cluster.now() + POLL_INTERVAL > deadline:
            return _finish(state, pending, skipped, _timeout_reason(state, pending, timeout))
        cluster.sleep(POLL_INTERVAL)
    return _finish(state, [], skipped, "")


def _dry_run(state: _Drain, keep: list[dict[str, Any]], skipped: list[str]) -> DrainResult:
    """One server-side dry-run eviction per pod: which the budgets allow now."""
    refused: list[str] = []
    for pod in keep:
        key = _key(pod)
        state.emit("evicting", key)
        verdict = evict(state.cluster, pod["metadata"]["name"], pod["metadata"]["namespace"],
                        dry_run=True, source="drain")
        if verdict.allowed:
            state.evicted.append(key)
            state.emit("evicted", key)
        else:
            refused.append(key)
            state.refusals.append(DrainRefusal(key, verdict.reason, state.started))
            state.emit("refused", key, verdict.reason)
    reason = (f"{len(refused)} of {len(keep)} evictions would be refused now (server dry "
              "run); a drain retries them until the budgets allow them or it times out"
              if refused else "")
    result = DrainResult(state.node, tuple(state.evicted), tuple(state.refusals), 0.0,
                         not refused, reason, tuple(skipped), tuple(refused))
    state.emit("done", None, reason)
    return result


def _list_pods(cluster: Cluster, node: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = get_json(cluster.api_client, "/api/v1/pods", fieldSelector=f"spec.nodeName={node}",
                        limit=500, **{"continue": token})
        pods.extend(page.get("items", []))
        token = page.get("metadata", {}).get("continue") or None
        if not token:
            return pods


def _filter(cluster: Cluster, pods: list[dict[str, Any]], *, ignore_daemonsets: bool,
            delete_emptydir_data: bool, force: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """kubectl's ``makeFilters``: the pods to evict, the pods skipped; errors abort."""
    keep: list[dict[str, Any]] = []
    skipped: list[str] = []
    errors: dict[str, list[str]] = {}
    for pod in pods:
        verdict = _verdict(cluster, pod, ignore_daemonsets=ignore_daemonsets,
                           delete_emptydir_data=delete_emptydir_data, force=force)
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        if verdict == "keep":
            keep.append(pod)
        elif verdict == "skip":
            skipped.append(key)
        else:
            errors.setdefault(verdict, []).append(key)
    if errors:
        raise DrainError("cannot drain: " + "; ".join(
            f"{message}: {', '.join(keys)}" for message, keys in errors.items()))
    return keep, skipped


def _verdict(cluster: Cluster, pod: dict[str, Any], *, ignore_daemonsets: bool,
             delete_emptydir_data: bool, force: bool) -> str:
    """``keep``, ``skip`` or kubectl's error message for one pod."""
    terminal = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
    controller = next((ref for ref in pod["metadata"].get("ownerReferences", [])
                       if ref.get("controller")), None)
    if controller and controller.get("kind") == "DaemonSet" and not terminal:
        if _daemonset_exists(cluster, pod["metadata"]["namespace"], controller["name"]):
            if ignore_daemonsets:
                return "skip"
            return "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
        if not force:
            return "cannot delete Pods that declare no controller (use --force to override)"
    if MIRROR in pod["metadata"].get("annotations", {}):
        return "skip"
    volumes = pod.get("spec", {}).get("volumes", [])
    if not terminal and not delete_emptydir_data and any("emptyDir" in v for v in volumes):
        return "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
    if controller is None and not terminal and not force:
        return "cannot delete Pods that declare no controller (use --force to override)"
    return "keep"


def _daemonset_exists(cluster: Cluster, namespace: str, name: str) -> bool:
    try:
        get_json(cluster.api_client, f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}")
    except NotFound:
        return False
    return True


def _step(state: _Drain, pod: _Pending) -> bool:
    """Advance one pod: evict it when due, or check it is gone; True once it is."""
    now = state.cluster.now()
    if not pod.evicted:
        if now < pod.retry_at:
            return False
        state.emit("evicting", pod.key)
        result = evict(state.cluster, pod.name, pod.namespace, source="drain")
        if not result.allowed:
            state.refusals.append(DrainRefusal(pod.key, result.reason, now))
            state.emit("refused", pod.key, result.reason)
            pod.retry_at = now + RETRY_DELAY
            return False
        pod.evicted = True
    if _gone(state.cluster, pod):
        state.evicted.append(pod.key)
        state.emit("evicted", pod.key)
        return True
    return False


def _gone(cluster: Cluster, pod: _Pending) -> bool:
    try:
        live = get_json(cluster.api_client, f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}")
    except NotFound:
        return True
    return bool(live["metadata"].get("uid", "") != pod.uid)


def _timeout_reason(state: _Drain, pending: list[_Pending], timeout: float | None) -> str:
    last = {r.pod: r.reason for r in state.refusals}
    parts = [f"{p.key}: {last[p.key]}" if p.key in last and not p.evicted
             else f"{p.key}: still terminating" for p in pending]
    return (f"global timeout reached: {timeout:g}s; there are pending pods on node "
            f'"{state.node}": ' + "; ".join(parts))


def _finish(state: _Drain, pending: list[_Pending], skipped: list[str],
            reason: str) -> DrainResult:
    result = DrainResult(state.node, tuple(state.evicted), tuple(state.refusals),
                         state.cluster.now() - state.started, not pending, reason,
                         tuple(skipped), tuple(p.key for p in pending))
    state.emit("done", None, reason)
    return result
