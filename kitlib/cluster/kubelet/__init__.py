"""``KubeletManager``: one simulated kubelet per node, talking only through the store.

What it owns:

* a ``NodeAgent`` per Node object (``node.py``): started on ADDED, stopped on
  DELETED; Lease, node status, image store and puller, pod IP range;
* a ``PodRuntime`` per pod bound to one of those nodes (``pods.py``), moved through
  the lifecycle stages (``stages.py``) by ``sync`` — a level-based reconcile of the
  pod's key: it reads the current pod, fires the due stages, records their events,
  writes the pod status if it changed (``/status``), removes a pod whose termination
  is over, and sets the pod's **single timer** to the next due stage;
* the ``Image`` sim kind (``images.sim.kitlib.io``) and the catalog built from it.

Scale: pods are found through the ``spec.nodeName`` index and watch events, never by
scanning; a pod has at most one pending timer; a node has one heartbeat timer (and
one for its puller while it pulls). Node status is posted only on change or every
5 minutes. The kubelet's own status writes do not wake it again.

Node **down** (annotation ``sim.kitlib.io/down: "true"``): heartbeats stop, the pod
timers are cancelled and the node's pods are left exactly as they are (the node
lifecycle controller is who marks them not ready). **Back**: heartbeats resume and
every pod of the node is reconciled as after a reboot (``transitions.reboot``): a pod
deleted meanwhile is removed, the others restart their containers.

Other node agents (kruise-daemon) reach the node's container runtime through the
small CRI-like API at the end of ``KubeletManager`` (``ctx.node_runtime``): pull an
image into a node's store with the kubelet's own puller (same queue, same time, same
failures), and stop one container of a pod, which the kubelet then restarts in place
per the pod's ``restartPolicy``.

**Restart** (``resync``, called by the cluster after it rebuilt this manager over a
populated store, before the pods' catch-up events): pods that a kubelet ran before
(bound, with a ``status.startTime``) are *adopted* from their status (``adopt.py``)
instead of admitted afresh, so a kubelet restart does not restart containers; node
agents start again (Lease renewal and a node status post at once, then every 10 s).

Randomness comes from three named streams (``kubelet.jitter``,
``kubelet.container-ids``, ``kubelet.pulls``), drawn in event order: same seed and
same calls, same history.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kubelet.adopt import adopt, adoptable
from kitlib.cluster.kubelet.behaviour import annotation_problems
from kitlib.cluster.kubelet.containers import State
from kitlib.cluster.kubelet.env import Env
from kitlib.cluster.kubelet.images import IMAGE, ImageCatalog, admit_image
from kitlib.cluster.kubelet.node import NodeAgent
from kitlib.cluster.kubelet.pods import PodRuntime, apply_status, render_status
from kitlib.cluster.kubelet.puller import PullOutcome
from kitlib.cluster.kubelet.stages import run_stages
from kitlib.cluster.kubelet.transitions import kill, reboot
from kitlib.engine.loop import Priority
from kitlib.engine.runner import Runner
from kitlib.model import errors
from kitlib.model.selectors import FieldSelector
from kitlib.store.store import DeleteOptions
from kitlib.store.watch import WatchEvent

__all__ = ["IMAGE", "KubeletManager", "PullOutcome"]

Key = tuple[str, str]
PullDone = Callable[[PullOutcome], None]


@dataclass(frozen=True, slots=True)
class _External:
    """A pull asked for by a node agent other than the kubelet (its own waiter key)."""

    node: str
    waiter: Hashable


class KubeletManager:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.kubelet
        if IMAGE.key not in ctx.registry:
            ctx.registry.register(IMAGE)
        ctx.store.add_admission(IMAGE.key, admit_image)
        self.catalog = ImageCatalog(self.settings.default_image_size)
        self.agents: dict[str, NodeAgent] = {}
        self.runtimes: dict[Key, PodRuntime] = {}
        self._by_uid: dict[str, Key] = {}
        self._jitter = ctx.engine.rng_for("kubelet.jitter")
        self._ids = ctx.engine.rng_for("kubelet.container-ids")
        self._pulls = ctx.engine.rng_for("kubelet.pulls")
        self._writing: Key | None = None
        self._external: dict[_External, PullDone] = {}
        self._nodes_seen = 0
        #: UIDs of pods to adopt from their status (``resync``) rather than admit afresh.
        self._adoptable: set[str] = set()
        #: The engine owner this manager was built under: the work other node agents ask
        #: of it (CRI calls) is its own, and goes with it when it is restarted.
        self._owner = ctx.engine.owner
        self.runner: Runner[Key] = Runner(ctx.engine, "kubelet", self.sync,
                                          priority=Priority.ACTOR)
        ctx.store.subscribe(IMAGE.key, self._on_image)
        ctx.store.subscribe("nodes", self._on_node)
        ctx.store.subscribe("pods", self._on_pod)
        for image in ctx.store.select(IMAGE.key):
            self.catalog.put(image)
        for node in ctx.store.select("nodes"):
            self._add_node(node)
        ctx.node_runtime = self

    def resync(self) -> None:
        """After a restart: every pod a kubelet ran before is adopted at its next sync
        (from its status: running containers stay running), not started again."""
        for pod in self.ctx.store.iter_objects("pods"):
            if adoptable(pod):
                self._adoptable.add(pod["metadata"]["uid"])

    def runtime(self, namespace: str, name: str) -> PodRuntime | None:
        """The kubelet's record of a pod (for tests and tracing)."""
        return self.runtimes.get((namespace, name))

    # -- watch --------------------------------------------------------------------------

    def _on_image(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            self.catalog.remove(event.obj)
        else:
            self.catalog.put(event.obj)

    def _on_node(self, event: WatchEvent) -> None:
        name = event.obj["metadata"]["name"]
        agent = self.agents.get(name)
        if event.type == "DELETED":
            if agent is not None:
                self._remove_node(agent)
        elif agent is None or agent.uid != event.obj["metadata"]["uid"]:
            if agent is not None:
                self._remove_node(agent)
            self._add_node(event.obj)
        else:
            change = agent.update(event.obj)
            if change == "down":
                self._node_down(agent)
            elif change == "back":
                self._node_back(agent)

    def _on_pod(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if key == self._writing:
            return
        node = (event.obj.get("spec") or {}).get("nodeName")
        if not node and event.prev is not None:
            node = (event.prev.get("spec") or {}).get("nodeName")
        agent = self.agents.get(node) if node else None
        if agent is not None and not agent.down:  # a down node catches up when back
            self.runner.enqueue(key)

    # -- nodes --------------------------------------------------------------------------

    def _add_node(self, node: dict[str, Any]) -> None:
        agent = NodeAgent(self.ctx, node, catalog=self.catalog, cidr_index=self._nodes_seen,
                          rng=self._pulls, on_pull_done=self._pulled)
        self._nodes_seen += 1
        self.agents[agent.name] = agent
        agent.start(resume=bool((node.get("status") or {}).get("conditions")))
        if not agent.down:
            self._enqueue_node_pods(agent)

    def _remove_node(self, agent: NodeAgent) -> None:
        agent.stop()
        for key in sorted(agent.pods):
            rt = self.runtimes.get(key)
            if rt is not None:
                self._drop(rt)
        del self.agents[agent.name]

    def _node_down(self, agent: NodeAgent) -> None:
        for key in sorted(agent.pods):
            rt = self.runtimes[key]
            if rt.timer is not None:
                rt.timer.cancel()
                rt.timer = None

    def _node_back(self, agent: NodeAgent) -> None:
        down_at = agent.last_down if agent.last_down is not None else self.ctx.now
        for key in sorted(agent.pods):
            reboot(self.runtimes[key], agent, down_at, self.ctx.now)
        self._enqueue_node_pods(agent)

    def _enqueue_node_pods(self, agent: NodeAgent) -> None:
        selector = FieldSelector.parse(f"spec.nodeName={agent.name}")
        keys = {(p["metadata"]["namespace"], p["metadata"]["name"])
                for p in self.ctx.store.select("pods", fields=selector)}
        for key in sorted(keys | agent.pods):
            self.runner.enqueue(key)

    def _pulled(self, waiter: Hashable, outcome: PullOutcome, requested_at: float) -> None:
        if isinstance(waiter, _External):
            callback = self._external.pop(waiter, None)
            if callback is not None:
                callback(outcome)
            return
        assert isinstance(waiter, tuple)
        uid, container = waiter
        key = self._by_uid.get(uid)
        rt = self.runtimes.get(key) if key else None
        if rt is None:
            return
        for c in rt.containers:
            if c.name == container and c.state is State.PULLING:
                c.pull = (outcome, requested_at)
                self.runner.enqueue(rt.key)

    # -- pods ---------------------------------------------------------------------------

    def sync(self, key: Key) -> None:
        """Reconcile one pod: the kubelet's ``syncPod`` for the simulated runtime."""
        pod = self.ctx.store.peek("pods", *key)
        rt = self.runtimes.get(key)
        if rt is not None and (pod is None or pod["metadata"]["uid"] != rt.uid):
            self._drop(rt)
            rt = None
        if pod is None:
            return
        agent = self.agents.get((pod.get("spec") or {}).get("nodeName") or "")
        if agent is None or agent.down:
            return
        if rt is None and pod["metadata"]["uid"] in self._adoptable:
            self._adoptable.discard(pod["metadata"]["uid"])
            rt = self._adopt(pod, agent)
        if rt is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return  # finished before this kubelet knew it
            rt = self._admit(pod, agent)
        self._run(rt, pod, agent)

    def _adopt(self, pod: dict[str, Any], agent: NodeAgent) -> PodRuntime | None:
        """A pod a kubelet ran before this one: rebuilt from its status (``adopt.py``).
        A finished pod is adopted only while it is being deleted (to remove it)."""
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if finished and not pod["metadata"].get("deletionTimestamp"):
            return None
        rt = self._admit(pod, agent)
        adopt(rt, self._env(rt, pod, agent), agent.ips.reserve)
        return rt

    def _env(self, rt: PodRuntime, pod: dict[str, Any], agent: NodeAgent) -> Env:
        return Env(self.ctx.now, pod, rt, self.settings, agent, self.catalog, self._jitter,
                   self._ids)

    def _admit(self, pod: dict[str, Any], agent: NodeAgent) -> PodRuntime:
        rt = PodRuntime.admit(pod, self.ctx.now)
        self.runtimes[rt.key] = rt
        self._by_uid[rt.uid] = rt.key
        agent.pods.add(rt.key)
        return rt

    def _run(self, rt: PodRuntime, pod: dict[str, Any], agent: NodeAgent) -> None:
        env = self._env(rt, pod, agent)
        rt.refresh(pod)
        rt.sandbox_blocked = False
        self._refresh_behaviours(rt, env)
        upcoming = run_stages(rt, env)
        self._report(rt, pod, env, agent)
        self._write_status(rt, pod, agent)
        if rt.finalized:
            self._remove_pod(rt)
            return
        self._schedule(rt, upcoming)

    def _refresh_behaviours(self, rt: PodRuntime, env: Env) -> None:
        """A changed knob applies to running instances from now on."""
        for c in rt.containers:
            inst = c.current
            if inst is not None and c.state in (State.RUNNING, State.STOPPING):
                info = self.catalog.resolve(inst.info.ref.name) or inst.info  # Image edits too
                behaviour = env.behaviour(c, info)
                if behaviour != inst.behaviour:
                    inst.behaviour, inst.behaviour_since = behaviour, env.now

    def _report(self, rt: PodRuntime, pod: dict[str, Any], env: Env, agent: NodeAgent) -> None:
        record = self.ctx.events.record
        for type_, reason, message in env.events:
            record(pod, type_, reason, message, component="kubelet", host=agent.name)
        problems = frozenset(annotation_problems(pod["metadata"].get("annotations") or {},
                                                 [c.name for c in rt.containers]))
        for problem in sorted(problems - rt.problems):
            record(pod, "Warning", "InvalidSimulationAnnotation", problem, component="kubelet",
                   host=agent.name)
        rt.problems = problems

    def _write_status(self, rt: PodRuntime, pod: dict[str, Any], agent: NodeAgent) -> None:
        rendered = render_status(pod, rt, self.ctx.now, agent.host_ip)
        status = pod.get("status") or {}
        if all(status.get(k) == v for k, v in rendered.items()):
            return
        self._writing = rt.key
        try:
            self.ctx.store.modify("pods", rt.namespace, rt.name,
                                  lambda draft: apply_status(draft, rendered),
                                  subresource="status")
        except errors.NotFound:
            pass
        finally:
            self._writing = None

    def _remove_pod(self, rt: PodRuntime) -> None:
        """Termination is over: the final delete (grace 0, this pod's UID only)."""
        self._writing = rt.key
        try:
            self.ctx.store.delete("pods", rt.namespace, rt.name,
                                  DeleteOptions(grace_period_seconds=0, precondition_uid=rt.uid))
        except (errors.NotFound, errors.Conflict):
            pass
        finally:
            self._writing = None
        self._drop(rt)

    def _schedule(self, rt: PodRuntime, upcoming: float | None) -> None:
        timer = rt.timer
        if timer is not None and not timer.cancelled and timer.when == upcoming:
            return
        if timer is not None:
            timer.cancel()
        rt.timer = None
        if upcoming is not None:
            rt.timer = self.ctx.engine.call_at(upcoming, lambda: self._wake(rt),
                                               priority=Priority.ACTOR, label="kubelet-pod")

    def _wake(self, rt: PodRuntime) -> None:
        rt.timer = None
        self.runner.enqueue(rt.key)

    def _drop(self, rt: PodRuntime) -> None:
        """Forget a pod: its timer, pulls and IP go with it."""
        if rt.timer is not None:
            rt.timer.cancel()
        agent = self.agents.get(rt.node)
        if agent is not None:
            for c in rt.containers:
                agent.cancel_pull((rt.uid, c.name))
            if rt.sandbox and rt.ip and not rt.host_network:
                agent.release_ip(rt.ip)
            agent.pods.discard(rt.key)
        if self.runtimes.get(rt.key) is rt:
            del self.runtimes[rt.key]
        self._by_uid.pop(rt.uid, None)

    # -- the container runtime, for other node agents (CRI) -----------------------------

    def runtime_up(self, node: str) -> bool:
        """Whether ``node``'s runtime answers (it has a kubelet and is not down)."""
        agent = self.agents.get(node)
        return agent is not None and not agent.down

    def image_present(self, node: str, image: str) -> bool:
        """Whether ``image`` is in ``node``'s image store (CRI ``ImageStatus``)."""
        agent, info = self.agents.get(node), self.catalog.resolve(image)
        return agent is not None and info is not None and agent.image_present(info)

    def pull_image(self, node: str, image: str, waiter: Hashable, on_done: PullDone) -> bool:
        """Pull ``image`` into ``node``'s store (CRI ``PullImage``) with the kubelet's own
        puller: queued behind the pods' pulls, the same time and failures, joined with a
        pull of the same image. ``on_done(outcome)`` is called when it ends; False (and
        no call) when the node runs no kubelet, is down, or the reference is invalid.
        A node going down forgets the pull without telling (ask again when it is back)."""
        agent, info = self.agents.get(node), self.catalog.resolve(image)
        if agent is None or agent.down or info is None:
            return False
        key = _External(node, waiter)
        self._external[key] = on_done
        with self.ctx.engine.owned_by(self._owner):
            agent.request_pull(info, key)
        return True

    def pull_state(self, node: str, waiter: Hashable) -> str | None:
        """``"Pulling"``, ``"Waiting"`` (queued) or None (no pull) for ``waiter``."""
        agent = self.agents.get(node)
        return agent.puller.state(_External(node, waiter)) if agent is not None else None

    def cancel_image_pull(self, node: str, waiter: Hashable) -> None:
        key = _External(node, waiter)
        self._external.pop(key, None)
        agent = self.agents.get(node)
        if agent is not None:
            with self.ctx.engine.owned_by(self._owner):
                agent.cancel_pull(key)

    def kill_container(self, namespace: str, name: str, uid: str, container: str, *,
                       grace: float | None = None, message: str = "") -> bool:
        """Stop one running container of a pod (CRI ``StopContainer``, its ``preStop``
        first), as kruise-daemon does for a ContainerRecreateRequest: the kubelet then
        restarts it in the same pod per ``restartPolicy`` (``restartCount`` + 1,
        ``lastState``), the other containers untouched. ``grace`` defaults to the pod's
        ``terminationGracePeriodSeconds``. False when there is no such running container."""
        rt = self.runtimes.get((namespace, name))
        pod = self.ctx.store.peek("pods", namespace, name)
        agent = self.agents.get(rt.node) if rt is not None else None
        if rt is None or pod is None or rt.uid != uid or agent is None or agent.down:
            return False
        c = next((c for c in rt.main_containers if c.name == container), None)
        if c is None or c.state is not State.RUNNING or rt.terminating:
            return False
        env = self._env(rt, pod, agent)
        kill(c, env, why="runtime", then=State.EXITED,
             grace=env.termination_grace if grace is None else grace,
             message=message or f"Stopping container {container}")
        with self.ctx.engine.owned_by(self._owner):
            self._report(rt, pod, env, agent)
            self.runner.enqueue(rt.key)
        return True
