"""``watch_rollout``: 50 watchers on pods over HTTPS during a 10,000-pod rollout.

The benchmark process runs the API server (``benchmarks.harness.ServerThread``) with
``pods // 10`` nodes and a CloneSet of the example app (``cluster_scale``'s), created and
made Ready in-process on the server's loop (setup, not timed). Then 5 watcher processes
(``benchmarks.scale_watch_client``) open 10 raw streaming watches each on
``/api/v1/pods?watch=1&resourceVersion=<rv>`` through the official client's pool — 50
concurrent watchers, in separate processes as notebooks are, without 50 interpreters'
memory on a shared 2-core machine (``--quick``: 60 pods, 2 processes of 5). Once they
are all open, the in-place rollout of the ``app`` image (``maxUnavailable: 10%``) is
driven **on the server's loop**: the engine runs ``BATCH`` events at a time and yields
to the loop between batches, so the watch streams are served while the rollout commits
(as with the paced clock). After it has converged, a sentinel pod is created; each
watcher stops at its ``ADDED`` event.

Checked: every watcher received exactly the pod events committed after ``rv`` up to the
sentinel — each committed resourceVersion once, in commit order, with its type —
compared with the list a store subscriber recorded on the server; and the rollout's end
state and budget as in ``cluster_scale``. Reported: delivery rate (all events delivered
to all watchers over the time from the first to the last), per watcher, the lag from the
sentinel's commit to the last watcher's last event, the rollout's wall and simulated
time, and the server loop's CPU.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks import BenchmarkFailed, Row, check
from benchmarks.cluster_scale import (
    CONTAINER,
    CREATE_CAP,
    IMAGES,
    NAME,
    NAMESPACE,
    ROLLOUT_CAP,
    pod_tally,
    rollout_done,
    verify_rollout,
)
from benchmarks.harness import ROOT, ServerThread, wait_ready
from benchmarks.scale_common import Mark, PodTally, run_until, scaled, stepping
from kitlib.client.apps import example_app
from kitlib.cluster.embedded import EmbeddedCluster
from kitlib.cluster.kruise.cloneset.diff import resolve_numbers
from kitlib.cluster.nodes import add_nodes
from kitlib.store.watch import WatchEvent

CLONESETS = "clonesets.apps.kruise.io"
FULL_PODS, QUICK_PODS = 10_000, 60
PROCESSES, WATCHERS_PER_PROCESS = 5, 10
#: ``--quick``: 2 processes of 5 watchers (the full 5 x 10 mostly costs interpreter starts).
QUICK_PROCESSES, QUICK_WATCHERS_PER_PROCESS = 2, 5
#: Engine events between two yields to the server's loop while the rollout runs.
BATCH = 500
SENTINEL = "watch-rollout-sentinel"
#: Wall seconds the setup, the rollout and the watcher processes may each take (hang guard).
WATCH_TIMEOUT = 3_600.0


def run(quick: bool) -> list[Row]:
    pods = QUICK_PODS if quick else scaled(FULL_PODS, minimum=10)
    processes, per_process = ((QUICK_PROCESSES, QUICK_WATCHERS_PER_PROCESS) if quick
                              else (PROCESSES, WATCHERS_PER_PROCESS))
    with ServerThread(history_size=max(200_000, pods * 40)) as srv:
        cluster: EmbeddedCluster = srv.cluster
        tally: PodTally = srv.call(_setup, cluster, pods, timeout=WATCH_TIMEOUT)
        committed: list[tuple[str, int]] = []

        def record(event: WatchEvent) -> None:
            committed.append((event.type, event.rv))

        srv.call(cluster.store.subscribe, "pods", record)
        rv0: int = srv.call(lambda: cluster.store.resource_version)
        with tempfile.TemporaryDirectory(prefix="kitlib-bench-watch-") as tmp:
            outs = [Path(tmp) / f"watchers-{i}.json" for i in range(processes)]
            children = [_start(srv, rv0, out, per_process) for out in outs]
            try:
                for child in children:
                    wait_ready(child, timeout=120)
                cpu0 = srv.thread_time()
                rollout = srv.run(_rollout(cluster, tally, pods), timeout=WATCH_TIMEOUT)
                sentinel_rv, sentinel_at = srv.call(_sentinel, cluster)
                codes = [child.wait(timeout=WATCH_TIMEOUT) for child in children]
                server_cpu = srv.thread_time() - cpu0
            finally:
                for child in children:
                    if child.poll() is None:
                        child.kill()
                        child.wait()
            check(codes == [0] * processes, f"watcher processes exited with {codes}")
            results = [orjson.loads(out.read_bytes()) for out in outs]
        srv.call(verify_rollout, cluster, pods, IMAGES[1], None, timeout=WATCH_TIMEOUT)
    expected = [[t, rv] for t, rv in committed if rv <= sentinel_rv]
    watchers = _check_watchers(results, expected)
    first = min(w["first"] for w in watchers)
    last = max(w["last"] for w in watchers)
    delivered = len(expected) * len(watchers)
    per_watcher = [len(expected) / (w["last"] - w["first"]) for w in watchers]
    return [Row(f"watch_rollout: {len(watchers)} watchers, in-place rollout", pods,
                last - first, delivered / (last - first), "events/s",
                note=f"{len(expected):,} events each, none lost; per watcher "
                     f"{min(per_watcher):,.0f}-{max(per_watcher):,.0f}/s; rollout wall "
                     f"{rollout['wall']:.1f} s, simulated {rollout['simulated']:.1f} s; "
                     f"sentinel to last event {last - sentinel_at:.2f} s; server CPU "
                     f"{server_cpu:.1f} s",
                extra={"events_per_watcher": len(expected), "watchers": len(watchers),
                       "rollout": rollout, "server_cpu_seconds": server_cpu,
                       "client_cpu_seconds": [r["cpu"] for r in results],
                       "sentinel_to_last_event": last - sentinel_at})]


def _setup(cluster: EmbeddedCluster, pods: int) -> PodTally:
    """Nodes, the CloneSet, every pod Ready (on the loop; no watcher is open yet)."""
    add_nodes(cluster.context, max(pods // 10, 1))
    tally = pod_tally(pods).attach(cluster)
    cluster.create(example_app(NAME, replicas=pods, kind="CloneSet", max_unavailable="10%",
                               pdb_max_unavailable=None, namespace=NAMESPACE)[0])
    run_until(cluster, lambda: rollout_done(cluster, tally, pods, IMAGES[0]), cap=CREATE_CAP,
              what=f"creating {pods} pods")
    return tally


async def _rollout(cluster: EmbeddedCluster, tally: PodTally, pods: int) -> dict[str, Any]:
    """The in-place rollout, yielding to the loop every ``BATCH`` engine events."""
    mark = Mark.take(cluster)
    tally.reset_peaks()

    def edit(cs: dict[str, Any]) -> None:
        for c in cs["spec"]["template"]["spec"]["containers"]:
            if c["name"] == CONTAINER:
                c["image"] = IMAGES[1]

    cs = cluster.store.modify(CLONESETS, NAMESPACE, NAME, edit)
    cluster.settle()
    for _ in stepping(cluster, lambda: rollout_done(cluster, tally, pods, IMAGES[1]),
                      cap=ROLLOUT_CAP, what=f"in-place rollout of {pods} pods", batch=BATCH):
        await asyncio.sleep(0)
    budget = resolve_numbers(cs["spec"], no_rollback=True).max_unavailable
    check(tally.peaks["unavailable"] <= budget,
          f"{tally.peaks['unavailable']} pods were unavailable at once, over {budget}")
    return {**mark.phase(cluster).as_dict(), "budget": budget,
            "peak_unavailable": tally.peaks["unavailable"]}


def _sentinel(cluster: EmbeddedCluster) -> tuple[int, float]:
    created = cluster.store.create("pods", {
        "metadata": {"name": SENTINEL, "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9"}]}})
    return int(created["metadata"]["resourceVersion"]), time.monotonic()


def _start(srv: ServerThread, rv: int, out: Path, watchers: int) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "benchmarks.scale_watch_client", str(srv.kubeconfig),
            "/api/v1/pods", str(rv), str(watchers), SENTINEL, str(out),
            "--timeout", str(WATCH_TIMEOUT)]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _check_watchers(results: list[dict[str, Any]], expected: list[list[Any]]
                    ) -> list[dict[str, Any]]:
    """Every watcher got exactly ``expected`` (events after the sentinel ignored)."""
    watchers = []
    for r in results:
        check(not r["errors"], f"watchers failed: {r['errors'][:3]}")
        watchers.extend(r["watchers"])
    last_rv = expected[-1][1]
    for i, w in enumerate(watchers):
        got = [e for e in w["events"] if e[1] <= last_rv]
        if got != expected:
            seen = [rv for _, rv in got]
            missing = sorted({rv for _, rv in expected} - set(seen))
            raise BenchmarkFailed(
                f"watcher {i} got {len(got)} events, expected {len(expected)}: "
                f"{len(missing)} missing (first {missing[:5]}), "
                f"{len(seen) - len(set(seen))} duplicated, in order: {seen == sorted(seen)}")
    return watchers
