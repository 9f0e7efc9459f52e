"""One reconcile of one Deployment (upstream ``syncDeployment``), for ``DeploymentController``.

``DeploymentSync.run`` reads the Deployment and its ReplicaSets, decides with the pure
plans of ``deployment_plan``/``deployment_status`` and applies the result: ReplicaSet
creation (named ``<deployment>-<pod-template-hash>``, hash collisions bumping
``status.collisionCount``), resizes with their desired/max annotations and
``ScalingReplicaSet`` events, history cleanup, and one final write of the
Deployment's status and revision annotation. It returns when to look again for a
progress-deadline check.
"""

from __future__ import annotations

import contextlib
from typing import Any, NoReturn

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.podutil import controller_of, is_terminal
from kitlib.cluster.workloads.deployment_plan import (
    RS,
    Rollout,
    ScaleTo,
    is_complete,
    new_rs_replicas,
    plan_recreate,
    plan_rolling,
    plan_scale,
)
from kitlib.cluster.workloads.deployment_status import (
    PROGRESSING,
    calculate_status,
    get_condition,
    has_deadline,
    new_condition,
    paused_condition,
    progress_requeue,
    replica_failure,
    rollout_status,
    set_condition,
)
from kitlib.cluster.workloads.hashing import compute_hash
from kitlib.cluster.workloads.ownership import candidates, claim, controller_ref
from kitlib.cluster.workloads.revisions import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    POD_TEMPLATE_HASH,
    REVISION,
    canonical_template,
    equal_ignore_hash,
    history_to_delete,
    max_revision,
    new_rs_annotations,
)
from kitlib.engine.runner import Result
from kitlib.model import errors
from kitlib.model.objects import annotations_of, meta_of, name_of, namespace_of, parse_time, uid_of
from kitlib.model.selectors import LabelSelector
from kitlib.store.store import deep_copy

__all__ = ["COMPONENT", "DEPLOYMENTS", "REPLICASETS", "DeploymentSync"]

Obj = dict[str, Any]
DEPLOYMENTS = "deployments.apps"
REPLICASETS = "replicasets.apps"
COMPONENT = "deployment-controller"


class _Retry(Exception):
    """The new ReplicaSet could not be created; status is written and the key retried."""


class DeploymentSync:
    """One reconcile of one Deployment (upstream ``syncDeployment``)."""

    def __init__(self, ctx: ClusterContext, deployment: Obj) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.d = deployment
        self.spec: Obj = deployment.get("spec") or {}
        self.rollout = Rollout.of(deployment)
        #: The status being built; conditions set along the way end up in the final write.
        self.status: Obj = deep_copy(deployment.get("status") or {})
        self.revision: str | None = None
        self.new_name: str | None = None
        self.rss: dict[str, Obj] = {}

    @property
    def now(self) -> float:
        return self.ctx.now

    def run(self) -> Result | None:
        self.rss = {name_of(rs): rs for rs in self._claim()}
        try:
            if meta_of(self.d).get("deletionTimestamp"):
                self._new_and_old(create=False)
                return self._finish(progress=False)
            paused_condition(self.d, self.status, self.now)
            if self.spec.get("paused") or self._is_scaling_event():
                return self._sync()
            if self.rollout.rolling:
                return self._rolling()
            return self._recreate()
        except _Retry:
            self._finish(progress=False)
            return Result(requeue=True)

    # -- the steps ----------------------------------------------------------------------

    def _claim(self) -> list[Obj]:
        selector = LabelSelector.from_object(self.spec.get("selector"))
        found = candidates(self.store, REPLICASETS, self.d, selector)
        return claim(self.store, REPLICASETS, self.d, selector, found)

    def _is_scaling_event(self) -> bool:
        new, olds = self._new_and_old(create=False)
        for rs in [*olds, *([new] if new is not None else [])]:
            view = RS.of(rs)
            if view.replicas > 0 and view.desired is not None \
                    and view.desired != self.rollout.replicas:
                return True
        return False

    def _sync(self) -> Result | None:
        """Scaling events and paused Deployments: resize, never roll."""
        new, olds = self._new_and_old(create=False)
        self._apply(plan_scale(self.rollout, _view(new), [RS.of(o) for o in olds]))
        if self.spec.get("paused"):
            self._cleanup(olds)
        return self._finish(progress=False)

    def _rolling(self) -> Result | None:
        new, olds = self._new_and_old(create=True)
        assert new is not None
        plan = plan_rolling(self.rollout, RS.of(new), [RS.of(o) for o in olds])
        if plan:
            self._apply(plan)
        elif self._was_complete():
            self._cleanup(olds)
        return self._finish(progress=True)

    def _recreate(self) -> Result | None:
        new, olds = self._new_and_old(create=False)
        plan = plan_recreate(self.rollout, _view(new), [RS.of(o) for o in olds],
                             old_pods=self._old_pods(olds))
        self._apply(plan.scales)
        if plan.create_new:
            new, olds = self._new_and_old(create=True)
        if not plan.waiting and all(RS.of(o).replicas == 0 for o in olds) \
                and self._was_complete():
            self._cleanup(olds)
        return self._finish(progress=True)

    def _was_complete(self) -> bool:
        return is_complete(self.rollout.replicas, int(meta_of(self.d).get("generation") or 0),
                           self.d.get("status") or {})

    # -- the new ReplicaSet -------------------------------------------------------------

    def _new_and_old(self, *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """Upstream ``getAllReplicaSetsAndSyncRevision``."""
        ordered = sorted(self.rss.values(), key=_age)
        template = self.spec.get("template")
        new = next((rs for rs in ordered if equal_ignore_hash(
            template, (rs.get("spec") or {}).get("template"))), None)
        olds = [rs for rs in ordered if rs is not new]
        if new is not None:
            new = self._sync_existing(new, olds)
        elif create:
            new = self._create_new(olds)
        self.new_name = name_of(new) if new is not None else None
        return new, olds

    def _sync_existing(self, rs: Obj, olds: list[Obj]) -> Obj:
        notes = new_rs_annotations(self.d, annotations_of(rs), max_revision(olds) + 1,
                                   exists=True, desired=self.rollout.replicas,
                                   max_replicas=self.rollout.max_total)
        min_ready = int(self.spec.get("minReadySeconds") or 0)
        if notes != annotations_of(rs) or \
                int((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
            rs = self._write_rs(rs, notes, min_ready)
        self.revision = annotations_of(rs).get(REVISION)
        if has_deadline(self.d) and get_condition(self.status, PROGRESSING) is None:
            set_condition(self.status, new_condition(
                PROGRESSING, "True", "FoundNewReplicaSet",
                f'Found new replica set "{name_of(rs)}"', self.now))
        return rs

    def _write_rs(self, rs: Obj, notes: dict[str, str], min_ready: int) -> Obj:
        def change(draft: Obj) -> None:
            draft["metadata"]["annotations"] = notes
            draft["spec"].pop("minReadySeconds", None)
            if min_ready:
                draft["spec"]["minReadySeconds"] = min_ready
        updated = self.store.modify(REPLICASETS, namespace_of(rs), name_of(rs), change)
        self.rss[name_of(rs)] = updated
        return updated

    def _create_new(self, olds: list[Obj]) -> Obj:
        revision = max_revision(olds) + 1
        replicas = new_rs_replicas(self.rollout, [RS.of(o) for o in olds], None)
        body = self._new_rs_body(replicas, revision)
        name = body["metadata"]["name"]
        try:
            created, fresh = self.store.create(REPLICASETS, body), True
        except errors.AlreadyExists:
            created, fresh = self._existing_or_collision(name), False
        except errors.ApiError as exc:
            self._create_failed(name, exc)
        if fresh and replicas > 0:
            self._event("Normal", "ScalingReplicaSet",
                        f"Scaled up replica set {name} from 0 to {replicas}")
        self.revision = str(revision)
        if fresh and has_deadline(self.d):
            set_condition(self.status, new_condition(
                PROGRESSING, "True", "NewReplicaSetCreated",
                f'Created new replica set "{name}"', self.now))
        self.rss[name] = created
        return created

    def _new_rs_body(self, replicas: int, revision: int) -> Obj:
        template = deep_copy(self.spec.get("template") or {})
        pod_hash = compute_hash(canonical_template(template), self.status.get("collisionCount"))
        labels = {**(template.get("metadata") or {}).get("labels", {}), POD_TEMPLATE_HASH: pod_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = deep_copy(self.spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pod_hash
        spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
        if self.spec.get("minReadySeconds"):
            spec["minReadySeconds"] = self.spec["minReadySeconds"]
        notes = new_rs_annotations(self.d, {}, revision, exists=False,
                                   desired=self.rollout.replicas,
                                   max_replicas=self.rollout.max_total)
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name_of(self.d)}-{pod_hash}",
                             "namespace": namespace_of(self.d), "labels": dict(labels),
                             "annotations": notes, "ownerReferences": [controller_ref(self.d)]},
                "spec": spec}

    def _existing_or_collision(self, name: str) -> Obj:
        existing = self.store.peek(REPLICASETS, namespace_of(self.d), name)
        ref = controller_of(existing) if existing is not None else None
        if existing is not None and ref is not None and ref.get("uid") == uid_of(self.d) and \
                equal_ignore_hash(self.spec.get("template"), existing["spec"].get("template")):
            return existing
        self.status["collisionCount"] = int(self.status.get("collisionCount") or 0) + 1
        raise _Retry

    def _create_failed(self, name: str, exc: errors.ApiError) -> NoReturn:
        message = f'Failed to create new replica set "{name}": {exc.message}'
        if has_deadline(self.d):
            set_condition(self.status, new_condition(PROGRESSING, "False",
                                                     "ReplicaSetCreateError", message, self.now))
        self._event("Warning", "ReplicaSetCreateError", message)
        raise _Retry from exc

    # -- applying plans -----------------------------------------------------------------

    def _apply(self, scales: tuple[ScaleTo, ...]) -> None:
        for op in scales:
            self.rss[op.name] = self._scale(self.rss[op.name], op.replicas)

    def _scale(self, rs: Obj, replicas: int) -> Obj:
        """Upstream ``scaleReplicaSet``: size plus the desired/max annotations."""
        desired, most = str(self.rollout.replicas), str(self.rollout.max_total)
        before = int((rs.get("spec") or {}).get("replicas", 1))
        notes = annotations_of(rs)
        if before == replicas and notes.get(DESIRED_REPLICAS) == desired and \
                notes.get(MAX_REPLICAS) == most:
            return rs

        def change(draft: Obj) -> None:
            draft["spec"]["replicas"] = replicas
            annotations = draft["metadata"].setdefault("annotations", {})
            annotations[DESIRED_REPLICAS], annotations[MAX_REPLICAS] = desired, most

        updated = self.store.modify(REPLICASETS, namespace_of(rs), name_of(rs), change)
        if before != replicas:
            direction = "up" if replicas > before else "down"
            self._event("Normal", "ScalingReplicaSet",
                        f"Scaled {direction} replica set {name_of(rs)} from {before} to {replicas}")
        return updated

    def _cleanup(self, olds: list[Obj]) -> None:
        current = [self.rss[name_of(o)] for o in olds if name_of(o) in self.rss]
        for name in history_to_delete(self.spec.get("revisionHistoryLimit"), current):
            with contextlib.suppress(errors.NotFound):
                self.store.delete(REPLICASETS, namespace_of(self.d), name)
            self.rss.pop(name, None)

    def _old_pods(self, olds: list[Obj]) -> int:
        """Pods of old ReplicaSets that have not finished (terminating ones included)."""
        return sum(1 for rs in olds for key, pod in self.store.by_owner(uid_of(rs))
                   if key == "pods" and not is_terminal(pod))

    # -- status -------------------------------------------------------------------------

    def _finish(self, *, progress: bool) -> Result | None:
        objs = [rs for rs in (self.store.peek(REPLICASETS, namespace_of(self.d), n)
                              for n in sorted(self.rss)) if rs is not None]
        views = [RS.of(rs) for rs in objs]
        new_obj = next((rs for rs in objs if name_of(rs) == self.new_name), None)
        new = _view(new_obj)
        if progress:
            status = rollout_status(self.d, self.rollout, views, new, self.status, self.now,
                                    replica_failure(new_obj, objs))
        else:
            status = calculate_status(self.d, self.rollout, views, new, self.status, self.now)
        self._write(status)
        after = progress_requeue(self.d, self.rollout, status, self.now) if progress else None
        return Result(requeue_after=after) if after is not None else None

    def _write(self, status: Obj) -> None:
        revision = self.revision
        if annotations_of(self.d).get(REVISION) == revision:
            revision = None
        if revision is None and status == (self.d.get("status") or {}):
            return

        def change(draft: Obj) -> None:
            if revision is not None:
                draft["metadata"].setdefault("annotations", {})[REVISION] = revision
            draft["status"] = status

        with contextlib.suppress(errors.NotFound):
            self.store.modify(DEPLOYMENTS, namespace_of(self.d), name_of(self.d), change,
                              subresource="*")

    def _event(self, type_: str, reason: str, message: str) -> None:
        self.ctx.events.record(self.d, type_, reason, message, component=COMPONENT)


def _view(rs: Obj | None) -> RS | None:
    return RS.of(rs) if rs is not None else None


def _age(rs: Obj) -> tuple[float, str]:
    return parse_time(meta_of(rs)["creationTimestamp"]), name_of(rs)
