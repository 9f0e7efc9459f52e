"""The ``pods/eviction`` subresource: a pod deletion that respects its PodDisruptionBudget.

``POST /api/v1/namespaces/{ns}/pods/{name}/eviction`` with a ``policy/v1`` (or
``policy/v1beta1``, or kind-less, as the Python client sends it) ``Eviction`` body,
following upstream's ``EvictionREST.Create`` (``pkg/registry/core/pod/storage/
eviction.go``) step by step:

1. the body's name must be the URL's (400), its namespace too;
2. ``dryRun`` from the query and ``deleteOptions.dryRun`` are merged (different →
   a reason-less 500, as upstream's untyped error);
3. the pod must exist (404);
4. a ``Pending``, ``Succeeded`` or ``Failed`` pod, or one already terminating, is
   deleted without looking at budgets (a non-terminal pod with a ``resourceVersion``
   precondition so that it cannot have become ready meanwhile);
5. the PDBs of the namespace whose (non-empty) selector matches the pod: more than
   one → 500 with upstream's message and no ``reason``; none → delete;
6. with one: a pod that is not Ready is deleted without using the budget when the
   policy is ``AlwaysAllow``, or when the budget is met (``currentHealthy >=
   desiredHealthy > 0``); otherwise ``checkAndDecrement``: 429 "still being
   processed" (``Retry-After: 10``) while ``observedGeneration < generation``, 403 for
   a negative budget or an oversized ``disruptedPods``, 429 with cause
   ``DisruptionBudget`` when no disruption is allowed, else ``disruptionsAllowed - 1``
   and ``disruptedPods[pod] = now`` written to the PDB status (not on dry-run);
7. the pod gets ``DisruptionTarget=True`` (``EvictionByEvictionAPI``) and is deleted
   with the caller's DeleteOptions; a conflict on the precondition the handler added
   itself becomes the "still being processed" 429 so that clients retry;
8. 201 with a ``Success`` Status.

Upstream retries its reads and writes on conflicts; here a request runs atomically
against the store, so nothing can change between its read and its write and no
retry loop is needed. The API server emits no Event for an eviction (kubectl prints
its own lines).

``EvictionHandler.admission`` holds what validating webhooks on ``pods/eviction``
CREATE would check (OpenKruise's PodUnavailableBudget): each ``fn(pod, options)`` runs
once the pod is found, before any budget is looked at, and refuses by raising an
``ApiError``. The deletion that follows is not admitted again (``admit=False``), as
upstream's eviction deletes through its storage, past the webhooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.pdb import SyncError, pdb_selector, set_allowed_condition
from kitlib.cluster.podutil import is_ready, is_terminal, is_terminating, set_condition
from kitlib.model import errors
from kitlib.model.objects import format_time
from kitlib.store.store import DeleteOptions

__all__ = ["MAX_DISRUPTED_PODS", "EvictionHandler"]

PDBS = "poddisruptionbudgets.policy"
#: Upstream ``MaxDisruptedPodSize``.
MAX_DISRUPTED_PODS = 2000
_ACCEPTED = {("policy/v1", "Eviction"), ("policy/v1beta1", "Eviction"), (None, None)}
_SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": 201}
_VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


class UntypedError(errors.ApiError):
    """What upstream's API server answers for an error that is not an API status: 500
    without a ``reason``."""

    code, reason = 500, ""


class EvictionHandler:
    """``fn(namespace, name, body, query) -> (status, body)`` for ``pods/eviction``."""

    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        #: Webhook-like checks of an eviction: ``fn(pod, options)`` raises to refuse.
        self.admission: list[Callable[[dict[str, Any], DeleteOptions], None]] = []

    def __call__(self, namespace: str, name: str, body: Any,
                 query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        eviction = _eviction(body, namespace)
        if (eviction.get("metadata") or {}).get("name") != name:
            raise errors.BadRequest("name in URL does not match name in Eviction object")
        options = _delete_options(eviction, query)
        pod = self.store.get("pods", namespace, name)
        for check in self.admission:
            check(pod, options)
        if _can_ignore_budget(pod):
            self._delete(pod, _with_rv(options, pod) if _enforce_rv(pod) else options)
            return 201, dict(_SUCCESS)
        pdbs = self._budgets_of(pod)
        if len(pdbs) > 1:
            raise UntypedError("This pod has more than one PodDisruptionBudget, which the "
                               "eviction subresource does not support.")
        guarded = options
        if pdbs:
            pdb = pdbs[0]
            if not is_ready(pod) and _unhealthy_pod_may_go(pdb):
                guarded = _with_rv(options, pod)
            else:
                self._check_and_decrement(pod, pdb, dry_run=options.dry_run)
        try:
            self._delete(pod, guarded)
        except errors.Conflict:
            if guarded is not options and not options.precondition_rv:
                raise _still_processing(pdbs[0]["metadata"]["name"]) from None
            raise
        return 201, dict(_SUCCESS)

    def _budgets_of(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        """The PDBs of the pod's namespace whose selector matches it (an empty or invalid
        selector matches nothing here, unlike in the controller)."""
        out = []
        labels = pod["metadata"].get("labels") or {}
        for pdb in self.store.select(PDBS, namespace=pod["metadata"]["namespace"]):
            try:
                selector = pdb_selector(pdb)
            except SyncError:
                continue
            if not selector.is_everything and selector.matches(labels):
                out.append(pdb)
        return out

    def _check_and_decrement(self, pod: dict[str, Any], pdb: dict[str, Any], *,
                             dry_run: bool) -> None:
        meta, status = pdb["metadata"], pdb.get("status") or {}
        name = meta["name"]
        if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
            raise _still_processing(name)
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise _forbidden(name, "pdb disruptions allowed is negative")
        if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
            raise _forbidden(name, "DisruptedPods map too big - too many evictions not "
                                   "confirmed by PDB controller")
        if allowed == 0:
            raise errors.TooManyRequests(_VIOLATION, details={"causes": [{
                "reason": "DisruptionBudget",
                "message": f"The disruption budget {name} needs "
                           f"{int(status.get('desiredHealthy') or 0)} healthy pods and has "
                           f"{int(status.get('currentHealthy') or 0)} currently"}]})
        if dry_run:
            return
        now, pod_name = self.ctx.now, pod["metadata"]["name"]

        def decrement(current: dict[str, Any]) -> None:
            new = current.setdefault("status", {})
            new["disruptionsAllowed"] = allowed - 1
            if allowed - 1 == 0:
                set_allowed_condition(new, now)
            new["disruptedPods"] = {**(new.get("disruptedPods") or {}),
                                    pod_name: format_time(now)}
            current["metadata"]["resourceVersion"] = meta["resourceVersion"]
        self.store.modify(PDBS, meta["namespace"], name, decrement, subresource="status")

    def _delete(self, pod: dict[str, Any], options: DeleteOptions) -> None:
        """Upstream ``addConditionAndDeletePod``."""
        meta = pod["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if not options.dry_run:
            current = self.store.get("pods", namespace, name)
            _check_preconditions(current, options)
            now = self.ctx.now
            updated = self.store.modify("pods", namespace, name, lambda p: set_condition(
                p, "DisruptionTarget", "True", now, reason="EvictionByEvictionAPI",
                message="Eviction API: evicting"), subresource="status")
            if options.precondition_rv:
                options = dataclasses.replace(
                    options, precondition_rv=updated["metadata"]["resourceVersion"])
        self.store.delete("pods", namespace, name, options, admit=False)


# -- the request ------------------------------------------------------------------------

def _eviction(body: Any, namespace: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.BadRequest("not a Eviction object: the body must be a JSON object "
                                'like {"apiVersion": "policy/v1", "kind": "Eviction", '
                                '"metadata": {"name": "<pod>"}}')
    if (body.get("apiVersion"), body.get("kind")) not in _ACCEPTED:
        raise errors.BadRequest(
            f"the object has apiVersion {body.get('apiVersion')!r} and kind "
            f"{body.get('kind')!r}, but this endpoint serves policy/v1 Eviction")
    body_ns = (body.get("metadata") or {}).get("namespace")
    if body_ns and body_ns != namespace:
        raise errors.BadRequest(f"the namespace of the provided object ({body_ns}) does not "
                                f"match the namespace sent on the request ({namespace})")
    return body


def _delete_options(eviction: dict[str, Any], query: dict[str, str]) -> DeleteOptions:
    """The caller's DeleteOptions with the query's ``dryRun`` merged in (``propagateDryRun``)."""
    value = query.get("dryRun")
    if value not in (None, "", "All"):
        raise errors.BadRequest(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    from_query = [value] if value else []
    body = eviction.get("deleteOptions")
    if body is not None and not isinstance(body, dict):
        raise errors.BadRequest("deleteOptions must be a JSON object")
    from_body = list((body or {}).get("dryRun") or [])
    if from_body and from_query and from_body != from_query:
        raise UntypedError("Non-matching dry-run options in request and content: "
                           f"[{' '.join(from_query)}] and [{' '.join(from_body)}]")
    return DeleteOptions.from_body(body, dry_run=bool(from_query or from_body))


def _can_ignore_budget(pod: dict[str, Any]) -> bool:
    """Upstream ``canIgnorePDB``: the pod is not running (yet, or any more)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Pending", "Succeeded", "Failed") or is_terminating(pod)


def _enforce_rv(pod: dict[str, Any]) -> bool:
    """Upstream ``shouldEnforceResourceVersion``: guard against the pod becoming ready."""
    return not is_terminal(pod) and not is_terminating(pod)


def _with_rv(options: DeleteOptions, pod: dict[str, Any]) -> DeleteOptions:
    """A ``resourceVersion`` precondition, unless the caller set one."""
    if options.precondition_rv:
        return options
    return dataclasses.replace(options, precondition_rv=pod["metadata"]["resourceVersion"])


def _unhealthy_pod_may_go(pdb: dict[str, Any]) -> bool:
    """An unready pod is deleted without spending the budget if the policy says so."""
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired > 0


def _check_preconditions(pod: dict[str, Any], options: DeleteOptions) -> None:
    """The checks upstream makes before adding the DisruptionTarget condition."""
    meta = pod["metadata"]
    if options.precondition_uid and options.precondition_uid != meta["uid"]:
        raise _conflict(meta["name"], f"the UID in the precondition ({options.precondition_uid}"
                        f") does not match the UID in record ({meta['uid']}). The object "
                        "might have been deleted and then recreated")
    if options.precondition_rv and options.precondition_rv != meta["resourceVersion"]:
        raise _conflict(meta["name"], "the ResourceVersion in the precondition "
                        f"({options.precondition_rv}) does not match the ResourceVersion in "
                        f"record ({meta['resourceVersion']}). The object might have been "
                        "modified")


# -- errors -----------------------------------------------------------------------------

def _still_processing(pdb: str) -> errors.TooManyRequests:
    return errors.TooManyRequests(_VIOLATION, retry_after=10, details={"causes": [{
        "reason": "DisruptionBudget",
        "message": f"The disruption budget {pdb} is still being processed by the server."}]})


def _forbidden(pdb: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'poddisruptionbudget.policy "{pdb}" is forbidden: {why}',
                            details={"name": pdb, "group": "policy",
                                     "kind": "poddisruptionbudget"})


def _conflict(pod: str, why: str) -> errors.Conflict:
    return errors.Conflict(f'Operation cannot be fulfilled on Pod "{pod}": {why}',
                           details={"name": pod, "kind": "Pod"})
