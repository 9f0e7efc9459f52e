"""``sidecarset_scale``: a SidecarSet upgrade across 100,000 pods of 100 apps.

In-process on an ``EmbeddedCluster`` (stepped mode, default settings, seed 0), in a
fresh child process: a SidecarSet ``logging`` (``kitlib.client.apps.example_sidecarset``
with a ``log-agent`` container, ``busybox:1.36``, cold upgrade, ``maxUnavailable: 10%``)
selecting the pods labelled ``sidecar=logging``; then 100 CloneSets of the example app
(1,000 pods each, 10 pods per node) carrying that label, so every pod is injected at
creation. Once every pod is Running and Ready (setup: reported, not the target), the
SidecarSet's image becomes ``busybox:1.37``.

Timed: from that write until every pod runs the new sidecar image, is Ready, and the
SidecarSet's status says ``updatedReadyPods == matchedPods``. Checked: every pod (by a
full scan afterwards) has the new image in its spec and running, every other container
untouched (same pods: UIDs unchanged; the app containers' restart counts unchanged);
and the SidecarSet's budget was respected at every committed pod write: the pods whose
sidecar spec is on the new image but not yet running it ready (upstream's "updated but
not consistent and ready") never exceeded ``maxUnavailable``, counted in O(1) per event by
a ``PodTally``.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from benchmarks import Row, check
from benchmarks.scale_common import (
    Key,
    PodTally,
    child_main,
    clocks,
    container_images,
    run_child,
    run_until,
    scaled,
)
from kitlib.client.apps import example_app, example_sidecarset
from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster
from kitlib.cluster.kruise.sidecarset.upgrade import normalize_image
from kitlib.cluster.podutil import is_ready, is_terminating
from kitlib.model.intstr import scaled_value

SIDECARSETS = "sidecarsets.apps.kruise.io"
NAME, CONTAINER, LABEL = "logging", "log-agent", {"sidecar": "logging"}
IMAGES = ("busybox:1.36", "busybox:1.37")
MAX_UNAVAILABLE = "10%"
PODS_PER_NODE = 10
FULL_APPS, FULL_PODS_PER_APP = 100, 1_000
QUICK_APPS, QUICK_PODS_PER_APP = 4, 20
CREATE_CAP, UPGRADE_CAP = 1_800.0, 3_600.0
TARGET_WALL = 30.0


def run(quick: bool) -> list[Row]:
    if quick:
        apps, per_app = QUICK_APPS, QUICK_PODS_PER_APP
    else:
        apps, per_app = scaled(FULL_APPS, minimum=2), scaled(FULL_PODS_PER_APP, minimum=5)
    full = (apps, per_app) == (FULL_APPS, FULL_PODS_PER_APP) and not quick
    result = run_child("sidecarset_scale", {"apps": apps, "per_app": per_app},
                       timeout=600.0 if quick else 6 * 3600.0)
    n, create, upgrade = result["pods"], result["create"], result["upgrade"]
    return [
        Row("sidecarset_scale: setup, injected pods all Ready", n, create["wall"],
            create["events_per_wall_second"], "events/s",
            note=f"{apps} CloneSets x {per_app}; {result['nodes']:,} nodes; simulated "
                 f"{create['simulated']:.1f} s; peak RSS {result['peak_rss_mb']:,.0f} MB",
            extra=result),
        Row("sidecarset_scale: sidecar upgrade, all pods", n, upgrade["wall"],
            n / upgrade["wall"], "pods/s", "<= 30 s" if full else "",
            upgrade["wall"] <= TARGET_WALL if full else None,
            note=f"CPU {upgrade['cpu']:.1f} s; simulated {upgrade['simulated']:.1f} s; "
                 f"peak upgrading "
                 f"{upgrade['peak_upgrading']}/{upgrade['budget']}; "
                 f"{upgrade['events']:,} events ({upgrade['events_per_wall_second']:,.0f}/s)"),
    ]


# -- the child ---------------------------------------------------------------------------


def measure(*, apps: int, per_app: int, seed: int = 0) -> dict[str, Any]:
    pods = apps * per_app
    nodes = max(pods // PODS_PER_NODE, 1)
    started = clocks()
    cluster = EmbeddedCluster(ClusterSettings(seed=seed, nodes=nodes))
    tally = _tally().attach(cluster)
    cluster.create(example_sidecarset(NAME, selector=LABEL, max_unavailable=MAX_UNAVAILABLE,
                                      containers=[{"name": CONTAINER, "image": IMAGES[0],
                                                   "command": ["sleep", "infinity"]}]))
    for i in range(apps):
        cluster.create(example_app(f"app-{i:03d}", replicas=per_app, kind="CloneSet",
                                   pdb_max_unavailable=None, namespace="default",
                                   labels=LABEL)[0])
    create = run_until(cluster, lambda: _done(cluster, tally, pods, IMAGES[0]),
                       cap=CREATE_CAP, what=f"creating {pods} pods", started=started)
    before = _snapshot(cluster)
    _verify(cluster, pods, IMAGES[0], None)
    budget = scaled_value(MAX_UNAVAILABLE, pods, round_up=True)
    tally.reset_peaks()

    def edit(ss: dict[str, Any]) -> None:
        ss["spec"]["containers"][0]["image"] = IMAGES[1]

    started = clocks()
    cluster.store.modify(SIDECARSETS, "", NAME, edit)
    cluster.settle()
    upgrade = run_until(cluster, lambda: _done(cluster, tally, pods, IMAGES[1]),
                        cap=UPGRADE_CAP, what=f"upgrading the sidecar of {pods} pods",
                        started=started)
    check(tally.peaks["upgrading"] <= budget,
          f"{tally.peaks['upgrading']} pods were upgrading at once, over maxUnavailable "
          f"{budget}")
    _verify(cluster, pods, IMAGES[1], before)
    check(list(cluster.sidecarsets.runner.errors) == [],
          f"SidecarSet reconciles failed: {list(cluster.sidecarsets.runner.errors)[:3]}")
    check(cluster.store.verify_integrity() == [], "a stored object was mutated")
    return {"pods": pods, "nodes": nodes, "create": create.as_dict(),
            "upgrade": {**upgrade.as_dict(), "budget": budget,
                        "peak_upgrading": tally.peaks["upgrading"]}}


def _tally() -> PodTally:
    """Labelled pods by (sidecar spec image, sidecar running image, Ready)."""
    def classify(pod: dict[str, Any]) -> Key | None:
        if pod["metadata"].get("labels", {}).get("sidecar") != LABEL["sidecar"]:
            return None
        ready = (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)
        return (*container_images(pod, CONTAINER), ready)

    new = normalize_image(IMAGES[1])

    def upgrading(counts: Counter[Key]) -> int:
        return sum(v for (spec, running, ready), v in counts.items()
                   if spec == new and not (running == new and ready))

    return PodTally(classify, gauges={"upgrading": upgrading})


def _done(cluster: EmbeddedCluster, tally: PodTally, pods: int, image: str) -> bool:
    want = normalize_image(image)
    if tally.counts[(want, want, True)] != pods or tally.total() != pods:
        return False
    ss = cluster.store.peek(SIDECARSETS, "", NAME)
    assert ss is not None
    status = ss.get("status") or {}
    return bool(status.get("observedGeneration") == ss["metadata"]["generation"]
                and status.get("updatedReadyPods") == status.get("matchedPods") == pods)


def _pods(cluster: EmbeddedCluster) -> list[dict[str, Any]]:
    return [p for p in cluster.store.iter_objects("pods", "default")
            if p["metadata"].get("labels", {}).get("sidecar") == LABEL["sidecar"]
            and not is_terminating(p)]


def _snapshot(cluster: EmbeddedCluster) -> dict[str, dict[str, int]]:
    """Pod UID → restart count of each container but the sidecar."""
    return {p["metadata"]["uid"]: {s["name"]: int(s.get("restartCount", 0))
                                   for s in p["status"]["containerStatuses"]
                                   if s["name"] != CONTAINER}
            for p in _pods(cluster)}


def _verify(cluster: EmbeddedCluster, pods: int, image: str,
            before: dict[str, dict[str, int]] | None) -> None:
    """The end state, by a full scan (after the timed phase)."""
    current = _pods(cluster)
    check(len(current) == pods, f"{len(current)} pods, expected {pods}")
    want = normalize_image(image)
    for pod in current:
        name = pod["metadata"]["name"]
        check(container_images(pod, CONTAINER) == (want, want),
              f"pod {name} has sidecar {container_images(pod, CONTAINER)}, expected {want}")
        check(is_ready(pod), f"pod {name} is not Ready")
    if before is not None:
        after = _snapshot(cluster)
        check(after.keys() == before.keys(),
              f"the upgrade replaced {len(before.keys() - after.keys())} pods")
        changed = [uid for uid, restarts in after.items() if restarts != before[uid]]
        check(not changed, f"{len(changed)} pods restarted containers other than the sidecar")


if __name__ == "__main__":
    sys.exit(child_main(measure))
