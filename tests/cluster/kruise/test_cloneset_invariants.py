"""Seeded random operations on CloneSets: the update budget holds at every simulated second,
every CloneSet converges once the faults stop, and the same seed gives the same history.

Upstream: the rolling-update guarantees of ``pkg/controller/cloneset/sync/cloneset_update.go``
(``limitUpdateIndexes``) and ``test/e2e/apps/cloneset.go``; reference §1.6, §1.8.
"""

from __future__ import annotations

import random

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kruise.cloneset.diff import resolve_numbers
from kitlib.cluster.kruise.cloneset.status import is_pod_available
from kitlib.cluster.kruise.inplace import INPLACE_READY
from kitlib.cluster.podutil import condition
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    change,
    cloneset,
    converged,
    get,
    make_cluster,
    pods,
    set_image,
)

NAMES = ("web", "api")


def taken_down(pod: dict[str, object]) -> bool:
    """The controller has started an in-place update or marked the pod for recreate."""
    labels = pod["metadata"]["labels"]  # type: ignore[index]
    return (condition(pod, INPLACE_READY) or {}).get("status") == "False" or \
        "apps.kruise.io/specified-delete" in labels  # type: ignore[operator]


class Watcher:
    """After every engine event: the controller took an *available* pod down only while
    the unavailable pods (before that event) left room in the budget."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.cluster = cluster
        self.before = {name: self.snapshot(name) for name in NAMES}

    def snapshot(self, name: str) -> tuple[set[str], set[str], int]:
        ps = pods(self.cluster, name)
        available = {n for n, p in ps.items()
                     if is_pod_available(p, 0, self.cluster.now)}
        down = {n for n, p in ps.items() if taken_down(p)}
        return available, down, budget(self.cluster, name)

    def __call__(self, *_: object) -> None:
        for name in NAMES:
            available, down, limit = self.before[name]
            now = self.snapshot(name)
            newly = (now[1] - down) & available
            if newly:
                unavailable = len(pods(self.cluster, name)) - len(available)
                assert len(newly) <= max(limit - unavailable, 0) + len(newly & now[0]), name
            self.before[name] = now


def budget(cluster: EmbeddedCluster, name: str) -> int:
    cs = get(cluster, name)
    numbers = resolve_numbers(cs["spec"], no_rollback=True)
    return numbers.max_unavailable + max(len(pods(cluster, name)) - numbers.replicas, 0)


def operate(cluster: EmbeddedCluster, rng: random.Random, step: int) -> None:
    name = rng.choice(NAMES)
    op = rng.choice(("image", "image", "scale", "partition", "node"))
    if op == "image":
        set_image(cluster, rng.randrange(3), f"img:{step}", name)
    elif op == "scale":
        change(cluster, lambda cs: cs["spec"].__setitem__("replicas", rng.randint(2, 8)), name)
    elif op == "partition":
        value = rng.choice([0, 1, "50%", "99%"])
        change(cluster, lambda cs: cs["spec"]["updateStrategy"].__setitem__(
            "partition", value), name)
    else:
        node = f"node-{rng.randrange(3)}"
        down = "sim.kitlib.io/down" in (cluster.store.get("nodes", "", node)["metadata"].get(
            "annotations") or {})

        def flip(n: dict[str, object]) -> None:
            annotations = n["metadata"].setdefault("annotations", {})  # type: ignore[union-attr]
            if down:
                annotations.pop("sim.kitlib.io/down", None)
            else:
                annotations["sim.kitlib.io/down"] = "true"
        cluster.store.modify("nodes", "", node, flip)
        cluster.settle()


def run(seed: int, steps: int = 25) -> EmbeddedCluster:
    cluster = make_cluster(seed=seed)
    rng = random.Random(seed)
    for name in NAMES:
        cluster.create(cloneset(name, replicas=6))
    cluster.advance(30)
    watcher = Watcher(cluster)
    for step in range(steps):
        operate(cluster, rng, step)
        watcher()
        cluster.engine.on_event = watcher
        for _ in range(rng.randint(3, 40)):
            cluster.advance(1)
        cluster.engine.on_event = None
    for node in ("node-0", "node-1", "node-2"):  # the faults stop
        cluster.store.modify("nodes", "", node, lambda n: (n["metadata"].get(
            "annotations") or {}).pop("sim.kitlib.io/down", None))
    cluster.settle()
    for name in NAMES:
        change(cluster, lambda cs: cs["spec"]["updateStrategy"].__setitem__("partition", 0),
               name)
    advance_until(cluster, lambda: all(converged(cluster, n) for n in NAMES), limit=900)
    assert list(cluster.clonesets.runner.errors) == []
    assert cluster.store.verify_integrity() == []
    return cluster


def test_random_operations_keep_the_budget_and_converge() -> None:
    cluster = run(seed=12)
    for name in NAMES:
        status = get(cluster, name)["status"]
        assert status["updatedReadyReplicas"] == status["replicas"] == \
            get(cluster, name)["spec"]["replicas"]


def test_the_same_seed_gives_the_same_history() -> None:
    assert run(seed=5, steps=10).store.digest == run(seed=5, steps=10).store.digest
