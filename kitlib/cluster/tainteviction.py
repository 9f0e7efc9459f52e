"""Taint-based eviction: pods on a node with NoExecute taints are deleted, now or later.

Upstream's ``taint-eviction-controller`` (``pkg/controller/tainteviction``). For each
pod bound to a node with NoExecute taints, whenever the node's NoExecute taints or
the pod's node or tolerations change:

* a taint the pod does not tolerate → delete the pod now;
* all tolerated, the smallest ``tolerationSeconds`` of the tolerations used (300 s
  from the ``DefaultTolerationSeconds`` admission defaults) → delete it then,
  counted from when this controller saw the change; an already scheduled eviction
  keeps its start; no ``tolerationSeconds`` → never (a scheduled one is cancelled);
* the taints gone → scheduled evictions are cancelled (Normal event
  ``TaintManagerEviction`` "Cancelling deletion of Pod ns/p").

Deleting: event ``TaintManagerEviction`` "Marking for deletion Pod ns/p", then the
status condition ``DisruptionTarget=True`` reason ``DeletionByTaintManager``, then a
graceful DELETE. On a node that is down the pod then stays ``Terminating`` (no
kubelet confirms), as upstream; its replacement comes from its controller.

Invariant: at most one engine timer per pod (its scheduled eviction), which is never
moved once set (upstream re-creates one only when its nanosecond start equals "now").
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from kitlib.cluster import taints as taintutil
from kitlib.cluster.context import ClusterContext
from kitlib.cluster.podutil import set_condition
from kitlib.engine.loop import Priority, Timer
from kitlib.engine.runner import Runner
from kitlib.model import errors
from kitlib.model.selectors import FieldSelector
from kitlib.store.watch import WatchEvent

__all__ = ["COMPONENT", "TaintEvictionController", "no_execute_taints"]

COMPONENT = "taint-eviction-controller"

PodKey = tuple[str, str]
#: ("node", name) or ("pod", namespace/name)
Key = tuple[str, str]


def no_execute_taints(node: Mapping[str, Any] | None) -> tuple[dict[str, Any], ...]:
    if node is None:
        return ()
    return tuple(t for t in (node.get("spec") or {}).get("taints") or ()
                 if t.get("effect") == "NoExecute")


def _pod_key(pod: Mapping[str, Any]) -> PodKey:
    return pod["metadata"].get("namespace", ""), pod["metadata"]["name"]


class TaintEvictionController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.runner: Runner[Key] = Runner(ctx.engine, "taint-eviction", self.reconcile)
        #: Nodes with NoExecute taints, as last processed.
        self._tainted: dict[str, tuple[dict[str, Any], ...]] = {}
        #: Pods with an eviction: scheduled, or ``None`` once carried out.
        self._work: dict[PodKey, Timer | None] = {}
        ctx.store.subscribe("nodes", self._on_node)
        ctx.store.subscribe("pods", self._on_pod)

    def _on_node(self, event: WatchEvent) -> None:
        old = no_execute_taints(event.prev)
        new = () if event.type == "DELETED" else no_execute_taints(event.obj)
        if old != new or event.type != "MODIFIED":
            self.runner.enqueue(("node", event.obj["metadata"]["name"]))

    def _on_pod(self, event: WatchEvent) -> None:
        pod, prev = event.obj, event.prev
        key = _pod_key(pod)
        if key not in self._work and (pod.get("spec") or {}).get("nodeName") not in self._tainted:
            return
        if event.type == "MODIFIED" and prev is not None and \
                prev["spec"].get("nodeName") == pod["spec"].get("nodeName") and \
                prev["spec"].get("tolerations") == pod["spec"].get("tolerations"):
            return
        self.runner.enqueue(("pod", "/".join(key)))

    def reconcile(self, key: Key) -> None:
        kind, name = key
        if kind == "node":
            self._node_changed(name)
        else:
            namespace, _, pod_name = name.partition("/")
            self._pod_changed((namespace, pod_name))

    def _node_changed(self, name: str) -> None:
        taints = no_execute_taints(self.ctx.store.peek("nodes", "", name))
        if taints:
            self._tainted[name] = taints
        else:
            self._tainted.pop(name, None)
        pods = self.ctx.store.select("pods", fields=FieldSelector.parse(f"spec.nodeName={name}"))
        for pod in pods:
            if taints:
                self._process(pod, taints)
            else:
                self._cancel(_pod_key(pod), pod)

    def _pod_changed(self, key: PodKey) -> None:
        pod = self.ctx.store.peek("pods", *key)
        if pod is None:
            self._cancel(key, None)
            return
        taints = self._tainted.get(pod["spec"].get("nodeName") or "")
        if taints:
            self._process(pod, taints)

    def _process(self, pod: dict[str, Any], taints: tuple[dict[str, Any], ...]) -> None:
        """Upstream ``processPodOnNode``."""
        key, now = _pod_key(pod), self.ctx.now
        all_tolerated, used = taintutil.matching_tolerations(
            taints, pod["spec"].get("tolerations") or ())
        if not all_tolerated:
            self._cancel(key, pod)
            self._schedule(key, now)
            return
        seconds = taintutil.min_toleration_seconds(used)
        if seconds is None:
            self._cancel(key, pod)
            return
        self._schedule(key, now + seconds)  # an existing eviction keeps its original time

    def _schedule(self, key: PodKey, when: float) -> None:
        if key in self._work:
            return  # scheduled already, or carried out (upstream ``AddWork`` skips it)
        timer = self.ctx.engine.call_at(when, lambda: self._evict(key), priority=Priority.ACTOR,
                                        label="taint-eviction")
        self._work[key] = timer

    def _cancel(self, key: PodKey, pod: dict[str, Any] | None) -> None:
        timer = self._work.pop(key, None)
        if timer is None:
            return
        timer.cancel()
        self.ctx.events.record(pod or _pod_ref(key), "Normal", "TaintManagerEviction",
                               f"Cancelling deletion of Pod {key[0]}/{key[1]}",
                               component=COMPONENT)

    def _evict(self, key: PodKey) -> None:
        """Upstream ``deletePodHandler`` / ``addConditionAndDeletePod``."""
        self._work[key] = None
        pod = self.ctx.store.peek("pods", *key)
        if pod is None:
            return
        self.ctx.events.record(pod, "Normal", "TaintManagerEviction",
                               f"Marking for deletion Pod {key[0]}/{key[1]}", component=COMPONENT)
        now = self.ctx.now

        def mark(draft: dict[str, Any]) -> None:
            set_condition(draft, "DisruptionTarget", "True", now, reason="DeletionByTaintManager",
                          message="Taint manager: deleting due to NoExecute taint")

        with contextlib.suppress(errors.NotFound):
            self.ctx.store.modify("pods", *key, mark, subresource="status")
            self.ctx.store.delete("pods", *key)


def _pod_ref(key: PodKey) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": key[0], "name": key[1]}}
