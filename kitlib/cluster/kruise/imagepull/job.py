"""The ImagePullJob controller (kruise-manager): hands the job's image tag to the
NodeImage of each target node (``plan.py`` decides which, this module applies it).

Target nodes: ``selector.names`` (existing nodes of those names), a node label
selector, or ``podSelector`` (the nodes of the job's namespace's pods that match and
are bound and not finished); none of them: every node. A NodeImage is named after its
node and created, with the node's labels, the first time a job needs it. A tag entry
(``spec.images[<name>].tags[]``) carries ``tag``, ``createdAt``, ``pullPolicy``,
``imagePullPolicy`` and the owning jobs in ``ownerReferences``; a deleted job is
removed from its tags, and a tag nobody owns any more from the spec.

Wake-ups: the job's own events, NodeImage events (the owners of its tags), node
add/delete/label changes (every unfinished job), and pod changes in a namespace that
has a ``podSelector`` job. Per reconcile the work is proportional to the job's target
nodes. A finished job is deleted ``ttlSecondsAfterFinished`` after completion.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.imagepull.api import image_name_tag
from kitlib.cluster.kruise.imagepull.plan import NodeTag, plan_job
from kitlib.engine.runner import Result, Runner
from kitlib.model import errors
from kitlib.model.objects import format_time, parse_time
from kitlib.model.selectors import LabelSelector
from kitlib.store.watch import WatchEvent

__all__ = ["JOBS", "NODE_IMAGES", "ImagePullJobController"]

JOBS, NODE_IMAGES = "imagepulljobs.apps.kruise.io", "nodeimages.apps.kruise.io"
Key = tuple[str, str]


class ImagePullJobController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[Key] = Runner(ctx.engine, "imagepulljob", self.reconcile)
        #: Unfinished jobs (woken by node changes) and podSelector jobs per namespace.
        self._open: set[Key] = set()
        self._pod_jobs: dict[str, set[Key]] = {}
        #: (job uid, nodes whose NodeImage names it as an owner) for cleanup.
        self._nodes: dict[Key, tuple[str, set[str]]] = {}
        ctx.store.subscribe(JOBS, self._on_job)
        ctx.store.subscribe(NODE_IMAGES, self._on_node_image)
        ctx.store.subscribe("nodes", self._on_node)
        ctx.store.subscribe("pods", self._on_pod)

    # -- watch --------------------------------------------------------------------------

    def _on_job(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        self.runner.enqueue((meta["namespace"], meta["name"]))

    def _on_node_image(self, event: WatchEvent) -> None:
        for image in ((event.obj.get("spec") or {}).get("images") or {}).values():
            for tag in image.get("tags") or ():
                for ref in tag.get("ownerReferences") or ():
                    found = self.ctx.store.by_uid(ref.get("uid", ""))
                    if found is not None and found[0] == JOBS:
                        meta = found[1]["metadata"]
                        self.runner.enqueue((meta["namespace"], meta["name"]))

    def _on_node(self, event: WatchEvent) -> None:
        prev = event.prev
        if prev is not None and event.type == "MODIFIED" and \
                prev["metadata"].get("labels") == event.obj["metadata"].get("labels"):
            return
        for key in sorted(self._open):
            self.runner.enqueue(key)

    def _on_pod(self, event: WatchEvent) -> None:
        jobs = self._pod_jobs.get(event.obj["metadata"].get("namespace", ""))
        if not jobs:
            return
        prev, obj = event.prev, event.obj
        if prev is not None and (prev.get("spec") or {}).get("nodeName") == \
                (obj.get("spec") or {}).get("nodeName") and \
                prev["metadata"].get("labels") == obj["metadata"].get("labels") and \
                (prev.get("status") or {}).get("phase") == (obj.get("status") or {}).get("phase"):
            return
        for key in sorted(jobs):
            self.runner.enqueue(key)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: Key) -> Result | None:
        job = self.ctx.store.peek(JOBS, *key)
        if job is None or job["metadata"].get("deletionTimestamp"):
            self._forget(key)
            return None
        status = job.get("status") or {}
        if status.get("completionTime"):
            self._forget_open(key)
            return self._expire(job, status)
        self._index(key, job)
        start = status.get("startTime") or format_time(self.ctx.now)
        targets = self._targets(job)
        name_tag = image_name_tag(job["spec"]["image"])
        assert name_tag is not None
        tags = [self._node_tag(job, node, name_tag) for node in targets]
        plan = plan_job(job["spec"], tags, now=format_time(self.ctx.now), start=start,
                        elapsed=self.ctx.now - parse_time(start))
        for node in plan.add:
            self._hand_out(job, node, name_tag)
        self._write_status(key, plan.status)
        if plan.completed:
            self._forget_open(key)
            return self._expire(job, plan.status)
        deadline = (job["spec"].get("completionPolicy") or {}).get("activeDeadlineSeconds")
        if deadline is not None:
            return Result(requeue_after=max(parse_time(start) + deadline - self.ctx.now, 0.0))
        return None

    def _index(self, key: Key, job: dict[str, Any]) -> None:
        self._open.add(key)
        if job["spec"].get("podSelector"):
            self._pod_jobs.setdefault(key[0], set()).add(key)

    def _forget_open(self, key: Key) -> None:
        self._open.discard(key)
        jobs = self._pod_jobs.get(key[0])
        if jobs is not None:
            jobs.discard(key)

    def _expire(self, job: dict[str, Any], status: dict[str, Any]) -> Result | None:
        ttl = (job["spec"].get("completionPolicy") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        left = parse_time(status["completionTime"]) + ttl - self.ctx.now
        if left > 0:
            return Result(requeue_after=left)
        meta = job["metadata"]
        with contextlib.suppress(errors.NotFound):
            self.ctx.store.delete(JOBS, meta["namespace"], meta["name"])
        return None

    # -- targets ------------------------------------------------------------------------

    def _targets(self, job: dict[str, Any]) -> list[str]:
        spec, store = job["spec"], self.ctx.store
        pod_selector = spec.get("podSelector")
        if pod_selector:
            pods = store.select("pods", namespace=job["metadata"]["namespace"],
                                labels=LabelSelector.from_object(pod_selector))
            nodes = {(p.get("spec") or {}).get("nodeName") for p in pods
                     if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")}
            return sorted(n for n in nodes if n and store.peek("nodes", "", n) is not None)
        selector = spec.get("selector") or {}
        if selector.get("names"):
            return sorted({n for n in selector["names"] if store.peek("nodes", "", n)})
        labels = LabelSelector.from_object(
            {k: v for k, v in selector.items() if k != "names"})
        return sorted(n["metadata"]["name"] for n in store.select("nodes", labels=labels))

    def _node_tag(self, job: dict[str, Any], node: str, name_tag: tuple[str, str]) -> NodeTag:
        image = self.ctx.store.peek(NODE_IMAGES, "", node)
        if image is None:
            return NodeTag(node, False)
        name, tag = name_tag
        entry = next((t for t in ((image.get("spec") or {}).get("images") or {})
                      .get(name, {}).get("tags") or () if t.get("tag") == tag), None)
        owned = entry is not None and any(
            r.get("uid") == job["metadata"]["uid"] for r in entry.get("ownerReferences") or ())
        state = next((t for t in ((image.get("status") or {}).get("imageStatuses") or {})
                      .get(name, {}).get("tags") or () if t.get("tag") == tag), None)
        return NodeTag(node, owned, (state or {}).get("phase") if entry is not None else None)

    # -- writes -------------------------------------------------------------------------

    def _hand_out(self, job: dict[str, Any], node: str, name_tag: tuple[str, str]) -> None:
        store, meta = self.ctx.store, job["metadata"]
        if store.peek(NODE_IMAGES, "", node) is None:
            labels = (store.get("nodes", "", node)["metadata"].get("labels") or {})
            store.create(NODE_IMAGES, {
                "apiVersion": "apps.kruise.io/v1alpha1", "kind": "NodeImage",
                "metadata": {"name": node, "labels": dict(labels)}, "spec": {}})
        owner = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "ImagePullJob",
                 "name": meta["name"], "uid": meta["uid"]}
        entry = {"tag": name_tag[1], "createdAt": format_time(self.ctx.now),
                 "pullPolicy": dict(job["spec"]["pullPolicy"]),
                 "imagePullPolicy": job["spec"]["imagePullPolicy"], "ownerReferences": [owner]}
        store.modify(NODE_IMAGES, "", node, lambda d: _add_tag(d, name_tag[0], entry))
        self._nodes.setdefault((meta["namespace"], meta["name"]), (meta["uid"], set()))[1] \
            .add(node)

    def _write_status(self, key: Key, status: dict[str, Any]) -> None:
        job = self.ctx.store.peek(JOBS, *key)
        if job is None or job.get("status") == status:
            return
        self.ctx.store.modify(JOBS, *key, lambda d: d.__setitem__("status", status),
                              subresource="status")

    def _forget(self, key: Key) -> None:
        """The job is gone: take it out of the tags it owned."""
        self._forget_open(key)
        uid, nodes = self._nodes.pop(key, ("", set()))
        for node in sorted(nodes):
            with contextlib.suppress(errors.NotFound):
                self.ctx.store.modify(NODE_IMAGES, "", node, lambda d: _drop_owner(d, uid))


def _add_tag(draft: dict[str, Any], name: str, entry: dict[str, Any]) -> None:
    tags = draft.setdefault("spec", {}).setdefault("images", {}) \
        .setdefault(name, {}).setdefault("tags", [])
    for tag in tags:
        if tag.get("tag") == entry["tag"]:
            refs = tag.setdefault("ownerReferences", [])
            if all(r.get("uid") != entry["ownerReferences"][0]["uid"] for r in refs):
                refs.append(entry["ownerReferences"][0])
            return
    tags.append(entry)


def _drop_owner(draft: dict[str, Any], uid: str) -> None:
    images = (draft.get("spec") or {}).get("images") or {}
    for name in sorted(images):
        kept = []
        for tag in images[name].get("tags") or ():
            refs = [r for r in tag.get("ownerReferences") or () if r.get("uid") != uid]
            if refs or not tag.get("ownerReferences"):
                kept.append({**tag, "ownerReferences": refs} if refs else tag)
        if kept:
            images[name]["tags"] = kept
        else:
            del images[name]
