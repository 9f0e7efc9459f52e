"""``python -m benchmarks.compare_trees REV [REV ...] [--pods N ...]``: this tree vs older ones.

Side by side in one run: each git revision is checked out into a temporary worktree and
the same driver (this file, run as a script with the tree first on ``sys.path``) runs in a
fresh process per tree and size, one after the other, so the ratios compare like with like.
The driver creates the example app's CloneSet (``kitlib.client.apps.example_app``: three
containers, requests, a readiness probe; 10 pods per node; seed 0) until every pod is
available and the status converged, then rolls the ``app`` image in place
(``nginx:1.26``) until converged, with ``kitlib serve``'s GC thresholds. It reports CPU
seconds of each phase, simulated seconds, the peak RSS and the number of Events — the
simulated times and Event counts should match between trees (same behaviour), the CPU
and memory are what changed. Only APIs that every tree since session 2 has are used.

Used for the session-4 table in ``docs/performance.md``::

    python -m benchmarks.compare_trees 4812fa4 --pods 3000 --pods 10000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLONESETS = "clonesets.apps.kruise.io"


def drive(pods: int) -> dict[str, Any]:
    """The driver, in the child: imports ``kitlib`` from whichever tree is first on the path."""
    from kitlib.client.apps import example_app
    from kitlib.cluster import ClusterSettings, EmbeddedCluster

    def converged() -> bool:
        cs = cluster.store.get(CLONESETS, "default", "shop")
        status = cs.get("status") or {}
        return (status.get("observedGeneration") == cs["metadata"]["generation"]
                and status.get("updatedReadyReplicas") == pods
                and status.get("availableReplicas") == pods
                and status.get("currentRevision") == status.get("updateRevision"))

    def new_image(cs: dict[str, Any]) -> None:
        for container in cs["spec"]["template"]["spec"]["containers"]:
            if container["name"] == "app":
                container["image"] = "nginx:1.26"

    out: dict[str, Any] = {"pods": pods}
    start = time.process_time()
    cluster = EmbeddedCluster(ClusterSettings(seed=0, nodes=max(1, pods // 10)))
    for obj in example_app("shop", replicas=pods, kind="CloneSet"):
        cluster.create(obj)
    while not converged():
        cluster.advance(1)
    out["create_cpu"], out["create_sim"] = time.process_time() - start, cluster.now
    start, sim = time.process_time(), cluster.now
    cluster.store.modify(CLONESETS, "default", "shop", new_image)
    cluster.settle()
    while not converged():
        cluster.advance(1)
    out["rollout_cpu"], out["rollout_sim"] = time.process_time() - start, cluster.now - sim
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["events"] = cluster.store.count("events")
    return out


def _run(tree: Path, pods: int) -> dict[str, Any]:
    """``drive`` in a fresh process whose ``kitlib`` is ``tree``'s (this file run as a script,
    so that an older tree without it can be measured)."""
    done = subprocess.run([sys.executable, __file__, "--child", str(tree), str(pods)],
                          cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree} at {pods} pods failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_trees",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revisions", nargs="+", help="git revisions to compare with this tree")
    parser.add_argument("--pods", type=int, action="append", help="sizes (default: 1,000)")
    args = parser.parse_args(argv)
    sizes = args.pods or [1_000]
    with tempfile.TemporaryDirectory(prefix="kitlib-trees-") as tmp:
        trees: list[tuple[str, Path]] = []
        for rev in args.revisions:
            path = Path(tmp) / rev.replace("/", "_")
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                            str(path), rev], check=True)
            trees.append((rev, path))
        trees.append(("this tree", ROOT))
        try:
            print(f"{'tree':<12} {'pods':>7} {'create CPU s':>12} {'rollout CPU s':>13} "
                  f"{'peak RSS MB':>11} {'sim create/rollout':>18} {'Events':>8}")
            for pods in sizes:
                for name, tree in trees:
                    r = _run(tree, pods)
                    print(f"{name:<12} {pods:>7,} {r['create_cpu']:>12.1f} "
                          f"{r['rollout_cpu']:>13.1f} {r['peak_rss_mb']:>11,.0f} "
                          f"{r['create_sim']:>9.1f}/{r['rollout_sim']:<8.1f} "
                          f"{r['events']:>8,}", flush=True)
        finally:
            for _, path in trees[:-1]:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(path)], check=False)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        import gc

        gc.set_threshold(50_000, 20, 10)  # kitlib serve's (SERVER_GC_THRESHOLDS)
        sys.path.insert(0, sys.argv[2])
        print(json.dumps(drive(int(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main())
