"""Controller crash tolerance: actors killed and rebuilt mid-rollout converge as if nothing
happened, and never break an availability budget.

A world of four workloads is rolled out at once — a CloneSet updated in place
(``maxUnavailable: 2``, guarded by a PodUnavailableBudget of 2), a Deployment
(RollingUpdate, ``maxUnavailable: 1``), a SidecarSet upgrading the sidecar of another
Deployment (``maxUnavailable: 1``) and an Advanced StatefulSet updated in place
(``maxUnavailable: 1``). While they roll, actors are crashed (``restart_actor``: queue,
expectations, caches and timers lost; a new instance catches up level-based) at moments
drawn from a seeded RNG, kubelet and scheduler included. The end state must be the one
an uninterrupted run reaches (images, replica counts, pod counts, all ready), and a
pods subscriber that counts each workload's unavailable pods after every committed pod
write must never see more than the workload's budget.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.podutil import condition, is_terminating
from kitlib.store.watch import WatchEvent

Obj = dict[str, Any]
KRUISE = "apps.kruise.io/v1alpha1"
#: Workload -> (label selecting its pods, replicas, unavailability budget).
BUDGETS = {"cs": 2, "web": 1, "api": 1, "db": 1}
REPLICAS = {"cs": 6, "web": 4, "api": 3, "db": 3}
#: Actors crashed during the rollouts (each seed draws from these).
CRASHABLE = ("cloneset", "deployment", "replicaset", "sidecarset", "advanced-statefulset",
             "kubelet", "scheduler", "pub", "disruption", "endpoints", "node-lifecycle")
#: Seeds whose crashes, together, hit every actor of CRASHABLE (the kubelet three times).
CRASH_SEEDS = (1, 2, 3, 10)
CRASHES_PER_RUN = 8
#: Seconds after the rollouts start within which the crashes happen.
CRASH_WINDOW = 20.0


def _template(app: str, image: str, **labels: str) -> Obj:
    return {"metadata": {"labels": {"app": app, **labels},
                         "annotations": {"sim.kitlib.io/ready-after-seconds": "4"}},
            "spec": {"containers": [{"name": "app", "image": image,
                                     "readinessProbe": {"httpGet": {"path": "/", "port": 80},
                                                        "periodSeconds": 2}}]}}


def _world(cluster: EmbeddedCluster) -> None:
    cluster.create({"apiVersion": KRUISE, "kind": "SidecarSet", "metadata": {"name": "mesh"},
                    "spec": {"selector": {"matchLabels": {"mesh": "on"}},
                             "containers": [{"name": "envoy", "image": "envoy:1"}],
                             "updateStrategy": {"maxUnavailable": BUDGETS["api"]}}})
    select = {"matchLabels": {"app": "cs"}}
    cluster.create({"apiVersion": KRUISE, "kind": "CloneSet",
                    "metadata": {"name": "cs", "namespace": "default"},
                    "spec": {"replicas": REPLICAS["cs"], "selector": select,
                             "template": _template("cs", "shop:1"),
                             "updateStrategy": {"type": "InPlaceIfPossible",
                                                "maxUnavailable": BUDGETS["cs"]}}})
    cluster.create({"apiVersion": "policy.kruise.io/v1alpha1",
                    "kind": "PodUnavailableBudget",
                    "metadata": {"name": "cs", "namespace": "default"},
                    "spec": {"selector": select, "maxUnavailable": BUDGETS["cs"]}})
    for name, labels in (("web", {}), ("api", {"mesh": "on"})):
        cluster.create({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": name, "namespace": "default"},
                        "spec": {"replicas": REPLICAS[name],
                                 "selector": {"matchLabels": {"app": name}},
                                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                                     "maxUnavailable": BUDGETS[name], "maxSurge": 1}},
                                 "template": _template(name, f"{name}:1", **labels)}})
    cluster.create({"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet",
                    "metadata": {"name": "db", "namespace": "default"},
                    "spec": {"replicas": REPLICAS["db"], "serviceName": "db",
                             "selector": {"matchLabels": {"app": "db"}},
                             "podManagementPolicy": "Parallel",
                             "template": _template("db", "db:1"),
                             "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
                                 "podUpdatePolicy": "InPlaceIfPossible",
                                 "maxUnavailable": BUDGETS["db"]}}}})


def _roll_out(cluster: EmbeddedCluster) -> None:
    def image(key: str, name: str, value: str, ns: str = "default") -> None:
        def edit(obj: Obj) -> None:
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = value
        cluster.store.modify(key, ns, name, edit)

    image("clonesets.apps.kruise.io", "cs", "shop:2")
    image("deployments.apps", "web", "web:2")
    image("statefulsets.apps.kruise.io", "db", "db:2")

    def sidecar(obj: Obj) -> None:
        obj["spec"]["containers"][0]["image"] = "envoy:2"
    cluster.store.modify("sidecarsets.apps.kruise.io", "", "mesh", sidecar)
    cluster.settle()


def _pods_of(cluster: EmbeddedCluster, app: str) -> list[Obj]:
    return [p for p in cluster.store.select("pods", namespace="default")
            if (p["metadata"].get("labels") or {}).get("app") == app]


def _ready(pod: Obj) -> bool:
    found = condition(pod, "Ready")
    return found is not None and found.get("status") == "True" and not is_terminating(pod)


class BudgetWatch:
    """A pods subscriber: each workload's unavailable pods after every pod write."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.cluster = cluster
        self.worst = dict.fromkeys(BUDGETS, 0)
        cluster.store.subscribe("pods", self._observe)

    def _observe(self, event: WatchEvent) -> None:
        app = (event.obj["metadata"].get("labels") or {}).get("app")
        if app not in BUDGETS:
            return
        ready = sum(1 for p in _pods_of(self.cluster, app) if _ready(p))
        self.worst[app] = max(self.worst[app], REPLICAS[app] - ready)


def _end_state(cluster: EmbeddedCluster) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for app in BUDGETS:
        pods = _pods_of(cluster, app)
        out[app] = sorted((sorted(c["image"] for c in p["spec"]["containers"]), _ready(p))
                          for p in pods)
    return out


def _converged(cluster: EmbeddedCluster) -> bool:
    state = _end_state(cluster)
    return all(len(state[app]) == REPLICAS[app] and all(ready for _, ready in state[app])
               and all(any(i.endswith(":2") for i in images) for images, _ in state[app])
               for app in BUDGETS) and all(
        "envoy:2" in images for images, _ in state["api"])


def _run(crash_seed: int | None) -> tuple[dict[str, Any], BudgetWatch, list[str]]:
    cluster = EmbeddedCluster(ClusterSettings(seed=11, nodes=3))
    _world(cluster)
    cluster.advance(60)
    assert _converged_at_start(cluster)
    watch = BudgetWatch(cluster)
    crashed: list[str] = []
    if crash_seed is not None:
        _schedule_crashes(cluster, random.Random(crash_seed), crashed.append)
    crashes_over = cluster.now + CRASH_WINDOW
    _roll_out(cluster)
    for _ in range(400):
        if _converged(cluster) and cluster.now > crashes_over:
            break
        cluster.advance(1)
    assert _converged(cluster), (_end_state(cluster), crashed)
    errors = [e for actor in cluster.actors.values()
              for runner in _runners(actor.instance) for e in runner.errors if e.terminal]
    assert errors == []
    assert cluster.store.verify_integrity() == []
    return _end_state(cluster), watch, crashed


def _converged_at_start(cluster: EmbeddedCluster) -> bool:
    return all(len([p for p in _pods_of(cluster, app) if _ready(p)]) == REPLICAS[app]
               for app in BUDGETS)


def _schedule_crashes(cluster: EmbeddedCluster, rng: random.Random,
                      record: Callable[[str], None]) -> None:
    start = cluster.now
    for _ in range(CRASHES_PER_RUN):
        name = rng.choice(CRASHABLE)
        when = start + rng.uniform(0, CRASH_WINDOW)

        def crash(name: str = name) -> None:
            record(f"{name}@{cluster.now:.1f}")
            cluster.restart_actor(name)
        cluster.engine.call_at(when, crash, label=f"crash {name}")


def _runners(instance: Any) -> list[Any]:
    return [value for value in vars(instance).values()
            if type(value).__name__ == "Runner"]


@pytest.fixture(scope="module")
def uninterrupted() -> tuple[dict[str, Any], BudgetWatch, list[str]]:
    return _run(None)


def test_the_uninterrupted_rollouts_converge_within_their_budgets(
        uninterrupted: tuple[dict[str, Any], BudgetWatch, list[str]]) -> None:
    end, watch, _ = uninterrupted
    assert all(len(end[app]) == REPLICAS[app] for app in BUDGETS)
    assert all(watch.worst[app] <= BUDGETS[app] for app in BUDGETS), watch.worst
    assert max(watch.worst.values()) > 0  # the rollouts did make pods unavailable


@pytest.mark.parametrize("crash_seed", CRASH_SEEDS)
def test_crashed_controllers_converge_to_the_same_end_within_budget(
        crash_seed: int,
        uninterrupted: tuple[dict[str, Any], BudgetWatch, list[str]]) -> None:
    end, watch, crashed = _run(crash_seed)
    assert len(crashed) == CRASHES_PER_RUN
    assert end == uninterrupted[0], crashed
    assert all(watch.worst[app] <= BUDGETS[app] for app in BUDGETS), (watch.worst, crashed)


def _drawn_crashes(seed: int) -> list[str]:
    rng, names = random.Random(seed), []
    for _ in range(CRASHES_PER_RUN):
        names.append(rng.choice(CRASHABLE))
        rng.uniform(0, CRASH_WINDOW)
    return names


def test_the_seeds_crash_every_actor_and_the_kubelet_repeatedly() -> None:
    drawn = [name for seed in CRASH_SEEDS for name in _drawn_crashes(seed)]
    assert set(drawn) == set(CRASHABLE)
    assert drawn.count("kubelet") >= 3


def test_a_restarted_controller_finds_the_work_its_lost_queue_held() -> None:
    """The Deployment controller crashes with a new Deployment's key in its queue and
    nothing else happens afterwards: only catching up (the synthetic ADDED events of its
    informers) makes the new instance create the ReplicaSet."""
    cluster = EmbeddedCluster(ClusterSettings(seed=3, nodes=1))
    cluster.store.create("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": _template("web", "web:1")}})
    old = cluster.deployments
    assert len(old.runner.queue) == 1
    new = cluster.restart_actor("deployment")
    assert new is cluster.deployments is not old
    cluster.advance(30)
    assert old.runner.reconciles == 0
    assert len(cluster.store.select("replicasets.apps")) == 1
    assert sum(_ready(p) for p in _pods_of(cluster, "web")) == 2


def test_restarting_an_unknown_actor_names_the_known_ones() -> None:
    cluster = EmbeddedCluster(ClusterSettings(seed=3))
    with pytest.raises(KeyError, match="scheduler"):
        cluster.restart_actor("schedulr")
