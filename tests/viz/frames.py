"""Small hand-made recorder frames with exactly the columns of the recorder schema.

Each scenario is a story told in a handful of samples so a test can state what the
figure must show: ``inplace()`` updates web-a's app container in place and crash-restarts
web-b's; ``recreate()`` replaces web-a by a new pod web-c on another node.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

POD_COLUMNS = ["time", "namespace", "pod", "uid", "workload", "node", "ip", "phase", "ready",
               "deleting", "revision"]
CONTAINER_COLUMNS = ["time", "namespace", "pod", "uid", "workload", "container", "role", "image",
                     "state", "reason", "ready", "restarts", "started_at", "cache_hit_rate"]
WORKLOAD_COLUMNS = ["time", "workload", "kind", "replicas", "updated", "ready", "available",
                    "unavailable", "max_unavailable", "partition", "paused",
                    "pdb_disruptions_allowed", "ready_endpoints", "capacity", "cache_hit_rate"]
DISRUPTION_COLUMNS = ["time", "namespace", "pod", "node", "workload", "allowed", "reason",
                      "source"]
NODE_COLUMNS = ["time", "node", "ready", "unschedulable", "zone", "pool", "pods"]
METRIC_COLUMNS = ["workload", "time_to_converge", "peak_unavailable", "budget", "budget_exceeded",
                  "pods_rescheduled", "ip_changes", "node_changes", "app_restarts",
                  "image_bytes_pulled", "min_capacity", "mean_capacity", "mean_cache_hit_rate"]
TIMES = [0.0, 1.0, 2.0, 3.0, 4.0]


def frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A frame with exactly ``columns`` (rows must give every one)."""
    assert all(set(row) == set(columns) for row in rows), "rows must match the schema"
    return pd.DataFrame(rows, columns=columns)


def pod(time: float, name: str, uid: str, *, node: str, ip: str, ready: bool = True,
        deleting: bool = False, revision: str = "rev-1",
        workload: str = "cloneset/web") -> dict[str, Any]:
    return {"time": time, "namespace": "default", "pod": name, "uid": uid, "workload": workload,
            "node": node, "ip": ip, "phase": "Running", "ready": ready, "deleting": deleting,
            "revision": revision}


def container(time: float, name: str, uid: str, *, container: str = "app", image: str = "app:v1",
              ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    role = "sidecar" if container == "istio-proxy" else "app"
    return {"time": time, "namespace": "default", "pod": name, "uid": uid,
            "workload": "cloneset/web", "container": container, "role": role, "image": image,
            "state": "running" if ready else "waiting", "reason": "" if ready else "Pulling",
            "ready": ready, "restarts": restarts, "started_at": 0.0,
            "cache_hit_rate": 0.5 if role == "app" else np.nan}


def _sidecars(rows: list[tuple[float, str, str]]) -> list[dict[str, Any]]:
    return [container(t, name, uid, container="istio-proxy", image="proxy:1.20")
            for t, name, uid in rows]


def inplace() -> tuple[pd.DataFrame, pd.DataFrame]:
    """web-a's app goes app:v1 → app:v2 in place at t=2 (not ready while pulling); web-b's
    app restarts in place at t=3 on the same image. No pod is replaced."""
    pods = [pod(t, "web-a", "uid-a", node="node-1", ip="10.0.0.1") for t in TIMES]
    pods += [pod(t, "web-b", "uid-b", node="node-2", ip="10.0.0.2") for t in TIMES]
    apps = [container(0, "web-a", "uid-a"), container(1, "web-a", "uid-a"),
            container(2, "web-a", "uid-a", image="app:v2", ready=False, restarts=1),
            container(3, "web-a", "uid-a", image="app:v2", restarts=1),
            container(4, "web-a", "uid-a", image="app:v2", restarts=1)]
    apps += [container(t, "web-b", "uid-b", restarts=int(t >= 3)) for t in TIMES]
    sidecars = _sidecars([(t, n, u) for t in TIMES for n, u in (("web-a", "uid-a"),
                                                                 ("web-b", "uid-b"))])
    return frame(pods, POD_COLUMNS), frame(apps + sidecars, CONTAINER_COLUMNS)


def recreate() -> tuple[pd.DataFrame, pd.DataFrame]:
    """web-a is deleted at t=1 and replaced by web-c (new uid, node-3) from t=2 on app:v2;
    web-b stays untouched."""
    pods = [pod(0, "web-a", "uid-a", node="node-1", ip="10.0.0.1"),
            pod(1, "web-a", "uid-a", node="node-1", ip="10.0.0.1", ready=False, deleting=True)]
    pods += [pod(t, "web-c", "uid-c", node="node-3", ip="10.0.0.9", revision="rev-2")
             for t in TIMES[2:]]
    pods += [pod(t, "web-b", "uid-b", node="node-2", ip="10.0.0.2") for t in TIMES]
    apps = [container(t, "web-a", "uid-a") for t in TIMES[:2]]
    apps += [container(t, "web-c", "uid-c", image="app:v2") for t in TIMES[2:]]
    apps += [container(t, "web-b", "uid-b") for t in TIMES]
    return frame(pods, POD_COLUMNS), frame(apps, CONTAINER_COLUMNS)


def workload_row(time: float, workload: str, **values: Any) -> dict[str, Any]:
    row = {"time": time, "workload": workload, "kind": workload.split("/")[0].title(),
           "replicas": 4, "updated": 4, "ready": 4, "available": 4, "unavailable": 0,
           "max_unavailable": 1, "partition": 0, "paused": False,
           "pdb_disruptions_allowed": 1.0, "ready_endpoints": 4.0, "capacity": 1.0,
           "cache_hit_rate": 0.9}
    return row | values


def workloads() -> pd.DataFrame:
    """cloneset/web rolls out 4 pods; unavailable exceeds the budget of 1 at t=2 and t=3,
    then the budget is raised to 2 at t=4. deployment/api stays healthy."""
    web = [workload_row(t, "cloneset/web", updated=u, ready=r, available=r, unavailable=n,
                        max_unavailable=b, ready_endpoints=float(r), capacity=r / 4,
                        cache_hit_rate=c)
           for t, u, r, n, b, c in zip(range(7), [0, 1, 2, 3, 4, 4, 4], [4, 3, 1, 2, 4, 4, 4],
                                       [0, 1, 3, 2, 0, 0, 0], [1, 1, 1, 1, 2, 2, 2],
                                       [0.9, 0.7, 0.3, 0.4, 0.6, 0.8, 0.9], strict=True)]
    api = [workload_row(float(t), "deployment/api") for t in range(7)]
    return frame(web + api, WORKLOAD_COLUMNS)


def nodes(time: float = 4.0) -> pd.DataFrame:
    """Zone a: node-1, node-2; zone b: node-3 (cordoned), node-4 (not ready)."""
    rows = [(name, zone, name != "node-4", name == "node-3")
            for name, zone in (("node-2", "a"), ("node-4", "b"), ("node-1", "a"), ("node-3", "b"))]
    return frame([{"time": time, "node": name, "ready": ready, "unschedulable": cordoned,
                   "zone": zone, "pool": "default", "pods": 1}
                  for name, zone, ready, cordoned in rows],
                 NODE_COLUMNS)


def disruption_attempts() -> pd.DataFrame:
    """A drain of node-1: one eviction allowed, two refused by the PDB, one allowed."""
    reason = "PDB web allows 0 disruptions (needs 3 healthy, has 3)"
    rows = [(1.0, "web-a", True, ""), (2.0, "web-b", False, reason),
            (3.0, "web-b", False, reason), (4.0, "web-b", True, "")]
    return frame([{"time": t, "namespace": "default", "pod": p, "node": "node-1",
                   "workload": "cloneset/web", "allowed": ok, "reason": why, "source": "drain"}
                  for t, p, ok, why in rows], DISRUPTION_COLUMNS)


def metrics(*, converge: float, rescheduled: int, restarts: int, pulled_mb: float,
            min_capacity: float, hit_rate: float, workload: str = "cloneset/web") -> pd.DataFrame:
    return frame([{"workload": workload, "time_to_converge": converge, "peak_unavailable": 1,
                   "budget": 1, "budget_exceeded": False, "pods_rescheduled": rescheduled,
                   "ip_changes": rescheduled, "node_changes": rescheduled,
                   "app_restarts": restarts, "image_bytes_pulled": pulled_mb * 1e6,
                   "min_capacity": min_capacity, "mean_capacity": min_capacity,
                   "mean_cache_hit_rate": hit_rate}], METRIC_COLUMNS)


def strategy_runs() -> dict[str, pd.DataFrame]:
    """In-place vs recreate vs a Deployment that never converged."""
    return {
        "in-place": metrics(converge=30, rescheduled=0, restarts=4, pulled_mb=50,
                            min_capacity=0.75, hit_rate=0.9),
        "recreate": metrics(converge=45, rescheduled=4, restarts=0, pulled_mb=200,
                            min_capacity=0.5, hit_rate=0.4),
        "deployment": metrics(converge=np.nan, rescheduled=4, restarts=0, pulled_mb=200,
                              min_capacity=0.5, hit_rate=0.4, workload="deployment/web"),
    }


def rollout(*, pods: int, samples: int, in_place: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A rollout of ``pods`` pods in batches of 5, one batch per sample from t=2.

    In place, pod i keeps its uid and its app container switches app:v1 → app:v2 (one
    restart) at its batch's sample; recreated, pod i is deleted at that sample and a new
    pod ``web-i-new`` (new uid, new IP) runs from the next sample on.
    """
    pod_rows: list[dict[str, Any]] = []
    container_rows: list[dict[str, Any]] = []
    for index in range(pods):
        switch = 2 + index // 5
        for t in range(samples):
            if in_place or t <= switch:
                name, uid, ip = f"web-{index}", f"uid-{index}", f"10.0.0.{index}"
            else:
                name, uid, ip = f"web-{index}-new", f"uid-{index}-new", f"10.1.0.{index}"
            updated = t >= switch if in_place else t > switch
            pod_rows.append(pod(float(t), name, uid, node=f"node-{index % 4}", ip=ip,
                                deleting=not in_place and t == switch,
                                revision="rev-2" if updated else "rev-1"))
            container_rows.append(container(float(t), name, uid,
                                            image="app:v2" if updated else "app:v1",
                                            restarts=int(in_place and updated)))
    return frame(pod_rows, POD_COLUMNS), frame(container_rows, CONTAINER_COLUMNS)
