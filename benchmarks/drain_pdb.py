"""``drain_pdb``: drain 100 nodes under the PodDisruptionBudgets of several apps.

In-process on an ``EmbeddedCluster`` (stepped mode, default settings, seed 0), in a
fresh child process: 200 nodes and 10 apps of 100 pods each (the example app; even apps
CloneSets, odd apps Deployments), each with a PDB — ``maxUnavailable: 10%``,
``minAvailable: 90%`` or ``maxUnavailable: 1`` in turn. Once every pod is Ready (setup,
reported), 100 nodes are drained.

**The driver** (``Drain``) follows ``kubectl drain`` as ``kitlib.client.drain`` does
(which talks HTTP through the official client, so it is not reused here): cordon every
node first (``spec.unschedulable``, as running ``kubectl drain`` on the 100 nodes at once
would, so that no evicted pod lands on a node about to be drained); list each node's
pods; evict each pod through the Eviction subresource in-process
(``cluster.subresource_handlers[("pods", "eviction")]``, a ``policy/v1`` ``Eviction``
body, then ``settle()`` as the API server does after a write); a refused eviction (429:
no disruption allowed, or the budget is still being processed) is retried 5 simulated
seconds later (kubectl's ``EvictErrorRetryDelay``); an evicted pod is waited for, polled
every simulated second, until it is gone (404 or another UID). All pods of all nodes are
stepped together, one simulated second at a time, as kubectl's per-pod goroutines are.

Timed: wall from the first cordon until every pod of the drained nodes is gone (≤ 10 s
target at 100 nodes). Checked: at every committed PDB write its
``status.disruptionsAllowed`` is not negative, and at every committed pod write each
app's healthy pods (Ready, not terminating; counted in O(1) per event by a ``PodTally``)
are at least its PDB's ``desiredHealthy`` (read once the setup is Ready); afterwards the
drained nodes hold no pod at all, and every app has all its replicas Ready on other
nodes (rescheduled; the wait for that is reported, not timed).
"""

from __future__ import annotations

import heapq
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks import BenchmarkFailed, Row, check
from benchmarks.scale_common import (
    Key,
    Mark,
    PodTally,
    child_main,
    clocks,
    run_child,
    run_until,
    scaled,
)
from kitlib.client.apps import example_app
from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster
from kitlib.cluster.podutil import is_ready, is_terminating
from kitlib.model import errors
from kitlib.store.watch import WatchEvent

PDBS = "poddisruptionbudgets.policy"
NAMESPACE = "default"
#: kubectl's EvictErrorRetryDelay and its wait-for-delete poll interval (simulated s).
RETRY_DELAY, POLL_INTERVAL = 5.0, 1.0
FULL = {"nodes": 200, "drain": 100, "apps": 10, "per_app": 100}
QUICK = {"nodes": 20, "drain": 10, "apps": 4, "per_app": 10}
#: Smallest scaled sizes: below 10 pods, ``minAvailable: 90%`` rounds up to every pod and
#: no eviction is ever allowed (the drain would wait forever, as kubectl's does).
MINIMUM = {"nodes": 2, "drain": 1, "apps": 3, "per_app": 10}
SETUP_CAP, DRAIN_CAP, RESCHEDULE_CAP = 1_800.0, 3_600.0, 1_800.0
TARGET_WALL = 10.0
#: The PDB of app i is BUDGETS[i % 3].
BUDGETS: tuple[dict[str, Any], ...] = ({"maxUnavailable": "10%"}, {"minAvailable": "90%"},
                                       {"maxUnavailable": 1})


def run(quick: bool) -> list[Row]:
    params = dict(QUICK) if quick else {k: scaled(v, minimum=MINIMUM[k]) for k, v in FULL.items()}
    full = params == FULL and not quick
    r = run_child("drain_pdb", params, timeout=600.0 if quick else 6 * 3600.0)
    drain = r["drain"]
    return [
        Row("drain_pdb: setup, all pods Ready", r["pods"], r["setup"]["wall"],
            r["setup"]["events_per_wall_second"], "events/s",
            note=f"{params['nodes']} nodes, {params['apps']} apps with PDBs; peak RSS "
                 f"{r['peak_rss_mb']:,.0f} MB", extra=r),
        Row(f"drain_pdb: drain {params['drain']} nodes (Eviction API)", r["evicted"],
            drain["wall"], r["evicted"] / drain["wall"], "pods/s",
            "<= 10 s" if full else "", drain["wall"] <= TARGET_WALL if full else None,
            note=f"CPU {drain['cpu']:.2f} s; simulated {drain['simulated']:.0f} s; "
                 f"{r['refused']:,} evictions refused "
                 f"(429) and retried; min PDB disruptionsAllowed {r['min_allowed']}; worst "
                 f"healthy - desired {r['min_margin']}"),
        Row("drain_pdb: rescheduled pods all Ready (after the drain)", r["pods"],
            r["reschedule"]["wall"], note=f"simulated {r['reschedule']['simulated']:.0f} s"),
    ]


# -- the child ---------------------------------------------------------------------------


@dataclass(order=True)
class _Pod:
    due: float
    namespace: str = field(compare=False)
    name: str = field(compare=False)
    uid: str = field(compare=False)
    evicted: bool = field(default=False, compare=False)


@dataclass
class Drain:
    """kubectl drain's per-pod loop for many nodes at once, stepped in simulated time."""

    cluster: EmbeddedCluster
    nodes: list[str]
    evicted: int = 0
    refused: int = 0
    _queue: list[_Pod] = field(default_factory=list)

    def cordon(self) -> None:
        for node in self.nodes:
            self.cluster.store.modify("nodes", "", node,
                                      lambda n: n["spec"].__setitem__("unschedulable", True))
        self.cluster.settle()

    def plan(self) -> int:
        """Every pod on the nodes (no DaemonSet or mirror pods exist here): due now."""
        drained = set(self.nodes)
        now = self.cluster.now
        for pod in self.cluster.store.iter_objects("pods"):
            if pod["spec"].get("nodeName") in drained:
                meta = pod["metadata"]
                heapq.heappush(self._queue, _Pod(now, meta["namespace"], meta["name"],
                                                 meta["uid"]))
        return len(self._queue)

    def run(self, cap: float) -> None:
        deadline = self.cluster.now + cap
        while self._queue:
            check(self.cluster.now <= deadline,
                  f"the drain was not done after {cap:g} simulated seconds "
                  f"({len(self._queue)} pods pending)")
            nxt = self._queue[0].due
            if nxt > self.cluster.now:
                self.cluster.advance(nxt - self.cluster.now)
            while self._queue and self._queue[0].due <= self.cluster.now:
                self._step(heapq.heappop(self._queue))

    def _step(self, pod: _Pod) -> None:
        now = self.cluster.now
        if not pod.evicted:
            if not self._evict(pod):
                self.refused += 1
                pod.due = now + RETRY_DELAY
                heapq.heappush(self._queue, pod)
                return
            pod.evicted = True
            self.evicted += 1
        live = self.cluster.store.peek("pods", pod.namespace, pod.name)
        if live is not None and live["metadata"]["uid"] == pod.uid:
            pod.due = now + POLL_INTERVAL
            heapq.heappush(self._queue, pod)

    def _evict(self, pod: _Pod) -> bool:
        """POST pods/eviction: True when allowed (201) or the pod is gone (404)."""
        handler = self.cluster.subresource_handlers[("pods", "eviction")]
        body = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": pod.name, "namespace": pod.namespace}}
        try:
            status, _ = handler(pod.namespace, pod.name, body, {})
        except errors.NotFound:
            return True
        except errors.ApiError as exc:
            if exc.code == 429:
                return False
            raise BenchmarkFailed(f"evicting {pod.namespace}/{pod.name}: {exc.code} "
                                  f"{exc}") from exc
        self.cluster.settle()
        check(status == 201, f"evicting {pod.namespace}/{pod.name} answered {status}")
        return True


@dataclass
class _BudgetWatch:
    """Every committed PDB write: ``disruptionsAllowed`` never negative (O(1) per event)."""

    min_allowed: int | None = None

    def __call__(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            return
        status = event.obj.get("status") or {}
        if "disruptionsAllowed" in status:
            allowed = int(status["disruptionsAllowed"])
            if self.min_allowed is None or allowed < self.min_allowed:
                self.min_allowed = allowed


def measure(*, nodes: int, drain: int, apps: int, per_app: int, seed: int = 0
            ) -> dict[str, Any]:
    started = clocks()
    cluster = EmbeddedCluster(ClusterSettings(seed=seed, nodes=nodes))
    desired: dict[str, int] = {}
    tally = PodTally(_classify, gauges={"deficit": lambda c: _deficit(c, desired)})
    tally.attach(cluster)
    budgets = _BudgetWatch()
    cluster.store.subscribe(PDBS, budgets)
    names = [f"app-{i:02d}" for i in range(apps)]
    for i, name in enumerate(names):
        workload, _service, pdb = example_app(
            name, replicas=per_app, kind="CloneSet" if i % 2 == 0 else "Deployment",
            namespace=NAMESPACE)
        pdb["spec"] = {"selector": pdb["spec"]["selector"], **BUDGETS[i % len(BUDGETS)]}
        cluster.create(workload)
        cluster.create(pdb)
    total = apps * per_app

    def all_ready() -> bool:
        return tally.total() == total and all(tally.counts[(n, True)] == per_app
                                              for n in names)

    setup = run_until(cluster, all_ready, cap=SETUP_CAP, what=f"creating {total} pods",
                      started=started)
    cluster.advance(POLL_INTERVAL)  # the disruption controller's status settles
    for name in names:
        status = cluster.store.get(PDBS, NAMESPACE, name).get("status") or {}
        check(status.get("currentHealthy") == per_app,
              f"PDB {name} sees {status.get('currentHealthy')} healthy pods, not {per_app}")
        desired[name] = int(status["desiredHealthy"])
    tally.reset_peaks()
    driver = Drain(cluster, [f"node-{i}" for i in range(drain)])
    mark = Mark.take(cluster)
    driver.cordon()
    planned = driver.plan()
    driver.run(DRAIN_CAP)
    drain_phase = mark.phase(cluster).as_dict()
    check(driver.evicted == planned, f"{driver.evicted} pods evicted, {planned} planned")
    check(budgets.min_allowed is not None and budgets.min_allowed >= 0,
          f"a PDB's disruptionsAllowed went to {budgets.min_allowed}")
    check(tally.peaks["deficit"] <= 0,
          f"an app had {tally.peaks['deficit']} healthy pods fewer than its PDB's "
          "desiredHealthy")
    drained = set(driver.nodes)
    left = [p["metadata"]["name"] for p in cluster.store.iter_objects("pods")
            if p["spec"].get("nodeName") in drained]
    check(not left, f"{len(left)} pods are still on drained nodes: {left[:5]}")
    reschedule = run_until(cluster, all_ready, cap=RESCHEDULE_CAP,
                           what="rescheduling the evicted pods")
    for pod in cluster.store.iter_objects("pods"):
        check(pod["spec"].get("nodeName") not in drained,
              f"pod {pod['metadata']['name']} was scheduled onto a drained node")
    check(cluster.store.verify_integrity() == [], "a stored object was mutated")
    return {"pods": total, "evicted": driver.evicted, "refused": driver.refused,
            "setup": setup.as_dict(), "drain": drain_phase,
            "reschedule": reschedule.as_dict(), "min_allowed": budgets.min_allowed,
            "min_margin": -tally.peaks["deficit"]}


def _classify(pod: dict[str, Any]) -> Key | None:
    """(app, healthy): healthy is Ready (terminating pods are never counted)."""
    app = pod["metadata"].get("labels", {}).get("app")
    return None if app is None else (app, is_ready(pod) and not is_terminating(pod))


def _deficit(counts: Counter[Key], desired: dict[str, int]) -> int:
    """The worst ``desiredHealthy - healthy`` over the apps (≤ 0 while every PDB holds)."""
    if not desired:
        return -1
    return max(want - counts[(app, True)] for app, want in desired.items())


if __name__ == "__main__":
    sys.exit(child_main(measure))
