"""``idle_rss``: resident memory of an idle ``kitlib serve`` with the tour loaded.

Starts ``python -m kitlib serve`` as a child process (``kitlib.client.connect.
start_embedded``, as ``kitlib.connect()`` does; stepped mode, seed 1, 4 nodes — the tour
notebook's defaults), connects to it over HTTPS and loads what ``notebooks/01-tour.ipynb``
deploys: ``Cluster.deploy_example("shop", replicas=12)`` (CloneSet, Service, PDB),
converged, then the tour's in-place rollout of ``app`` to ``nginx:1.26`` with
``maxUnavailable: 20%``, converged. The server is then idle (stepped mode: nothing runs
until a client advances time); its RSS is sampled for ``IDLE_SECONDS`` of wall time and
the largest sample is reported, with the process's peak (``VmHWM``) beside it.

Checked: the CloneSet converged, and the API lists 12 ``shop`` pods, all Ready, with
``nginx:1.26`` in their ``app`` container.
"""

from __future__ import annotations

import time

import psutil

from benchmarks import Row, check
from kitlib.client.cluster import Cluster
from kitlib.client.connect import connect, start_embedded
from kitlib.client.raw import get_json

REPLICAS, NODES, SEED = 12, 4, 1
NEW_IMAGE = "nginx:1.26"
IDLE_SECONDS = 2.0
TARGET_MB = 300.0


def run(quick: bool) -> list[Row]:
    child = start_embedded(mode="stepped", speed=20.0, seed=SEED, nodes=NODES, timeout=60.0)
    try:
        with connect(kubeconfig=child.kubeconfig) as cluster:
            _load_tour(cluster)
            rss, peak = _idle_rss(child.process.pid)
    finally:
        child.stop()
    return [Row("idle_rss: kitlib serve, tour loaded (RSS)", REPLICAS, None, rss, "MB",
                "<= 300 MB", rss <= TARGET_MB,
                note=f"{NODES} nodes, {REPLICAS} pods after the tour's rollout; peak "
                     f"(VmHWM) {peak:,.0f} MB")]


def _load_tour(cluster: Cluster) -> None:
    cluster.deploy_example("shop", replicas=REPLICAS)
    cluster.wait_converged("shop", timeout=600)
    cluster.rollout("shop", images={"app": NEW_IMAGE}, max_unavailable="20%")
    cluster.wait_converged("shop", timeout=600)
    pods = get_json(cluster.api_client, f"/api/v1/namespaces/{cluster.namespace}/pods",
                    labelSelector="app=shop")["items"]
    check(len(pods) == REPLICAS, f"{len(pods)} shop pods, expected {REPLICAS}")
    for pod in pods:
        app = next(c for c in pod["spec"]["containers"] if c["name"] == "app")
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in pod["status"].get("conditions") or ())
        check(app["image"] == NEW_IMAGE and ready,
              f"pod {pod['metadata']['name']}: app image {app['image']}, ready {ready}")


def _idle_rss(pid: int) -> tuple[float, float]:
    """(largest RSS sampled while idle, peak RSS of the process), MB (10^6 bytes)."""
    process = psutil.Process(pid)
    samples = []
    deadline = time.monotonic() + IDLE_SECONDS
    while time.monotonic() < deadline:
        samples.append(process.memory_info().rss)
        time.sleep(0.1)
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        hwm = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    return max(samples) / 1e6, hwm * 1024 / 1e6
