"""``cluster_scale``: 10,000 nodes and a 100,000-pod CloneSet, then in-place vs ReCreate.

In-process on an ``EmbeddedCluster`` (stepped mode, default settings, seed 0), each size
in a fresh child process (``benchmarks.scale_common.run_child``):

1. **create**: the cluster with ``nodes`` nodes (10 pods per node) and a CloneSet of the
   example app (``kitlib.client.apps.example_app``: app + agent + mesh-proxy containers,
   requests, a readiness probe), until every pod is Running and Ready and the CloneSet's
   status says so. Timed: wall (cluster construction included), simulated seconds, engine
   events; the child's peak RSS.
2. **in-place**: the ``app`` image ``nginx:1.25`` → ``nginx:1.26`` with
   ``InPlaceIfPossible`` and ``maxUnavailable: 10%``, until every pod runs the new image,
   is available, and the status has converged (``currentRevision == updateRevision``).
3. **ReCreate** (the largest size only, same run, same pods): ``type: ReCreate`` and
   ``nginx:1.27``; the ratios in-place/ReCreate of wall and simulated time.

The same in-place rollout runs at three sizes (1k, 10k, 100k pods at full scale) for the
cost growth (wall time per pod). The engine is stepped event by event and stops at the
first event after which the phase is done, so the simulated times are exact.

Checked, for every phase timed: the pod count, every pod on the CloneSet's
``updateRevision`` with the new image in its spec and running, available; the status
converged; in-place kept every pod (same UIDs), ReCreate replaced every one; no reconcile
failed; nothing stored was mutated; and **maxUnavailable was never exceeded** — a
``PodTally`` counts the CloneSet's unavailable (non-terminating, not available) pods at
every committed pod write in O(1), and its peak must stay within the budget. The peak
of ``replicas - available`` (missing pods included) is reported beside it.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from benchmarks import Row, check
from benchmarks.scale_common import (
    Key,
    Phase,
    PodTally,
    check_memory,
    child_main,
    clocks,
    container_images,
    run_child,
    run_until,
    scaled,
)
from kitlib.client.apps import example_app
from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster
from kitlib.cluster.kruise.cloneset.diff import resolve_numbers
from kitlib.cluster.kruise.cloneset.status import is_pod_available
from kitlib.cluster.kruise.inplace import equal_to_revision
from kitlib.cluster.kruise.sidecarset.upgrade import normalize_image
from kitlib.cluster.podutil import is_terminating

CLONESETS = "clonesets.apps.kruise.io"
NAME, NAMESPACE, CONTAINER = "shop", "default", "app"
IMAGES = ("nginx:1.25", "nginx:1.26", "nginx:1.27")
PODS_PER_NODE = 10
#: Issue 8's sizes: the growth series (the last one also runs the ReCreate baseline).
FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (20, 40, 80)
#: Simulated-second caps of the phases (generous: a miss means the cluster is stuck).
CREATE_CAP, ROLLOUT_CAP = 1_800.0, 3_600.0
TARGET_WALL, TARGET_RSS_MB, TARGET_EVENTS = 30.0, 3_000.0, 200_000.0


def run(quick: bool) -> list[Row]:
    sizes = QUICK_SIZES if quick else tuple(scaled(n, minimum=10) for n in FULL_SIZES)
    full = not quick and sizes[-1] == FULL_SIZES[-1]
    timeout = 600.0 if quick else 6 * 3600.0
    check_memory("cluster_scale", {"pods": max(sizes)})  # before the smaller sizes run
    results = [run_child("cluster_scale", {"pods": n, "recreate": n == sizes[-1]},
                         timeout=timeout) for n in sizes]
    return _rows(results, full=full)


def _rows(results: list[dict[str, Any]], *, full: bool) -> list[Row]:
    main = results[-1]
    n, create, inplace, recreate = main["pods"], main["create"], main["inplace"], \
        main["recreate"]
    rss = main["peak_rss_mb"]
    rows = [
        Row("cluster_scale: create nodes + CloneSet, all Ready", n, create["wall"],
            create["events_per_wall_second"], "events/s",
            "<= 30 s, <= 3 GB RSS" if full else "",
            create["wall"] <= TARGET_WALL and rss <= TARGET_RSS_MB if full else None,
            note=f"{main['nodes']:,} nodes; CPU {create['cpu']:.1f} s; simulated "
                 f"{create['simulated']:.1f} s; "
                 f"{create['events']:,} events; peak RSS {rss:,.0f} MB; cyclic GC "
                 f"{main['gc_seconds']:.1f} s in all phases",
            extra=main),
        _rollout_row("in-place", n, inplace, "<= 30 s" if full else "",
                     inplace["wall"] <= TARGET_WALL if full else None),
        _rollout_row("ReCreate (baseline)", n, recreate, "", None),
        Row("cluster_scale: in-place/ReCreate, wall", n, None,
            inplace["wall"] / recreate["wall"], "x",
            note=f"{inplace['wall']:.2f} s / {recreate['wall']:.2f} s; CPU "
                 f"{inplace['cpu']:.2f} s / {recreate['cpu']:.2f} s"),
        Row("cluster_scale: in-place/ReCreate, simulated", n, None,
            inplace["simulated"] / recreate["simulated"], "x",
            note=f"{inplace['simulated']:.1f} s / {recreate['simulated']:.1f} s"),
        Row("cluster_scale: sim events per wall s, in-place rollout", n, inplace["wall"],
            inplace["events_per_wall_second"], "events/s",
            ">= 200,000 events/s" if full else "",
            inplace["events_per_wall_second"] >= TARGET_EVENTS if full else None,
            note=f"{inplace['events']:,} engine events"),
    ]
    for result in results:
        phase = result["inplace"]
        per_pod = phase["wall"] / result["pods"]
        rows.append(Row("cluster_scale: in-place rollout, wall per pod", result["pods"],
                        phase["wall"], per_pod * 1e6, "us/pod",
                        note=f"CPU {phase['cpu'] / result['pods'] * 1e6:,.0f} us/pod; "
                             f"simulated {phase['simulated']:.1f} s; "
                             f"{phase['events'] / result['pods']:.1f} events/pod",
                        extra={"pods": result["pods"], "inplace": phase,
                               "peak_rss_mb": result["peak_rss_mb"]}))
    return rows


def _rollout_row(label: str, n: int, phase: dict[str, Any], target: str,
                 met: bool | None) -> Row:
    return Row(f"cluster_scale: {label} rollout, maxUnavailable 10%", n, phase["wall"],
               n / phase["wall"], "pods/s", target, met,
               note=f"CPU {phase['cpu']:.1f} s; simulated {phase['simulated']:.1f} s; peak "
                    f"unavailable "
                    f"{phase['peak_unavailable']}/{phase['budget']} (missing incl. "
                    f"{phase['peak_below_replicas']}); {phase['events']:,} events")


# -- the child ---------------------------------------------------------------------------


def measure(*, pods: int, recreate: bool, seed: int = 0) -> dict[str, Any]:
    """One size, in this (fresh) process: create, in-place rollout, optionally ReCreate."""
    nodes = max(pods // PODS_PER_NODE, 1)
    started = clocks()
    cluster = EmbeddedCluster(ClusterSettings(seed=seed, nodes=nodes))
    tally = pod_tally(pods).attach(cluster)
    manifest = example_app(NAME, replicas=pods, kind="CloneSet", max_unavailable="10%",
                           pdb_max_unavailable=None, namespace=NAMESPACE)[0]
    cluster.create(manifest)
    create = run_until(cluster, lambda: rollout_done(cluster, tally, pods, IMAGES[0]),
                       cap=CREATE_CAP, what=f"creating {pods} pods", started=started)
    verify_rollout(cluster, pods, IMAGES[0], None)
    result: dict[str, Any] = {"pods": pods, "nodes": nodes, "create": create.as_dict()}
    result["inplace"] = _rollout(cluster, tally, pods, IMAGES[1], strategy=None)
    if recreate:
        result["recreate"] = _rollout(cluster, tally, pods, IMAGES[2], strategy="ReCreate")
    check(list(cluster.clonesets.runner.errors) == [],
          f"CloneSet reconciles failed: {list(cluster.clonesets.runner.errors)[:3]}")
    check(cluster.store.verify_integrity() == [], "a stored object was mutated")
    return result


def pod_tally(pods: int) -> PodTally:
    """The CloneSet's pods by (app spec image, app running image, available)."""
    def classify(pod: dict[str, Any]) -> Key | None:
        if pod["metadata"].get("labels", {}).get("app") != NAME:
            return None
        return (*container_images(pod, CONTAINER), is_pod_available(pod, 0, 0.0))

    def unavailable(counts: Counter[Key]) -> int:
        return sum(v for k, v in counts.items() if not k[2])

    def below_replicas(counts: Counter[Key]) -> int:
        return pods - sum(v for k, v in counts.items() if k[2])

    return PodTally(classify, gauges={"unavailable": unavailable,
                                      "below_replicas": below_replicas})


def rollout_done(cluster: EmbeddedCluster, tally: PodTally, pods: int, image: str) -> bool:
    """Every pod runs ``image`` and is available, none other is left, and the status
    converged — O(1): the tally's counters and one CloneSet read."""
    want = normalize_image(image)
    if tally.counts[(want, want, True)] != pods or tally.total() != pods:
        return False
    cs = cluster.store.peek(CLONESETS, NAMESPACE, NAME)
    assert cs is not None
    status = cs.get("status") or {}
    return bool(status.get("observedGeneration") == cs["metadata"]["generation"]
                and status.get("updatedReadyReplicas") == status.get("replicas") == pods
                and status.get("currentRevision") == status.get("updateRevision"))


def _rollout(cluster: EmbeddedCluster, tally: PodTally, pods: int, image: str, *,
             strategy: str | None) -> dict[str, Any]:
    before = {p["metadata"]["uid"] for p in _pods(cluster)}
    tally.reset_peaks()

    def edit(cs: dict[str, Any]) -> None:
        container = next(c for c in cs["spec"]["template"]["spec"]["containers"]
                         if c["name"] == CONTAINER)
        container["image"] = image
        if strategy is not None:
            cs["spec"]["updateStrategy"]["type"] = strategy

    started = clocks()
    cs = cluster.store.modify(CLONESETS, NAMESPACE, NAME, edit)
    cluster.settle()
    label = "in-place" if strategy is None else strategy
    phase: Phase = run_until(cluster, lambda: rollout_done(cluster, tally, pods, image),
                             cap=ROLLOUT_CAP, what=f"{label} rollout of {pods} pods",
                             started=started)
    budget = resolve_numbers(cs["spec"], no_rollback=True).max_unavailable
    check(tally.peaks["unavailable"] <= budget,
          f"{label} rollout: {tally.peaks['unavailable']} pods were unavailable at once, "
          f"over maxUnavailable {budget}")
    verify_rollout(cluster, pods, image, before if strategy is None else set())
    if strategy is not None:
        after = {p["metadata"]["uid"] for p in _pods(cluster)}
        check(not after & before, f"ReCreate kept {len(after & before)} pods")
    return {**phase.as_dict(), "budget": budget,
            "peak_unavailable": tally.peaks["unavailable"],
            "peak_below_replicas": tally.peaks["below_replicas"]}


def _pods(cluster: EmbeddedCluster) -> list[dict[str, Any]]:
    return [p for p in cluster.store.iter_objects("pods", NAMESPACE)
            if p["metadata"].get("labels", {}).get("app") == NAME and not is_terminating(p)]


def verify_rollout(cluster: EmbeddedCluster, pods: int, image: str,
                   uids: set[str] | None) -> None:
    """The end state, by a full scan (after the timed phase)."""
    cs = cluster.store.get(CLONESETS, NAMESPACE, NAME)
    revision = cs["status"]["updateRevision"]
    current = _pods(cluster)
    check(len(current) == pods, f"{len(current)} pods, expected {pods}")
    want = normalize_image(image)
    for pod in current:
        name = pod["metadata"]["name"]
        check(equal_to_revision(pod, revision), f"pod {name} is not on revision {revision}")
        check(container_images(pod, CONTAINER) == (want, want),
              f"pod {name} has {container_images(pod, CONTAINER)}, expected {want}")
        check(is_pod_available(pod, 0, cluster.now), f"pod {name} is not available")
    if uids:
        same = {p["metadata"]["uid"] for p in current}
        check(same == uids, f"the in-place rollout replaced {len(uids - same)} pods")


if __name__ == "__main__":
    sys.exit(child_main(measure))
