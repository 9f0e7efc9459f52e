"""Derived metrics: pure functions of a recording's frames, one workload at a time.

Each function takes the rows of one workload (any order; they sort by time themselves)
and returns a number, so they are tested on small hand-made frames. ``metrics`` puts
them together into ``Recording.metrics()``'s table (columns: ``schema.METRICS``).

Definitions (``start`` is the recording's first sample time; rows are ordered by
``time``, then ``sample``):

* **time_to_converge**: from the first sample that shows a change of the workload's
  spec (its ``generation`` differs from the first sample's) to the first sample from
  then on where it is ``converged`` (``kitlib.client.refs.Progress``); ``NaN`` if either
  never happens. A workload first seen after ``start`` was created during the
  recording, and one not converged at its first sample was changing already (e.g.
  patched at the instant of the first sample): both count from their first sample.
  Its resolution is the sampling interval.
* **peak_unavailable** / **budget** / **budget_exceeded**: the largest ``unavailable``,
  the ``max_unavailable`` in force at that sample, and whether any sample had more
  unavailable pods than its budget. A workload that is *starting up* — fewer of its pods
  existed at its first sample than it wants — counts from the first sample where it was
  whole (``available >= replicas``), so that coming up is not a disruption; one recorded
  mid-rollout (all its pods there, some unavailable) counts from its first sample.
* **pods_rescheduled**: distinct pod UIDs seen that were not there at ``start``, less
  the growth of ``replicas`` over its value at ``start`` (new pods that replaced none).
* **ip_changes** / **node_changes**: for StatefulSets (whose pods keep their names),
  changes of a pod name's IP / node across samples. For other kinds a replacement is a
  new pod: each UID's own changes (an IP changes in place when a node reboots) plus, for
  IPs, one per rescheduled pod, and for nodes the pods that left a node net of those
  that arrived (the multiset difference of the placement of ``start`` and of the end).
* **app_restarts**: restarts of app containers of the workload's pods: per container,
  the ``restarts`` increments between samples, or 1 when ``started_at`` moved without
  one. It is split into **app_inplace_restarts** (a restart that runs a different image
  — ``image_running``, else ``image`` — than the container's previous start: an
  in-place update of the app container) and
  **app_crash_restarts** (the rest: crashes, failed probes, node reboots).
  A container's first start in a new pod is not a restart.
* **image_bytes_pulled**: the ``Image size`` of the kubelets' ``Pulled`` events of the
  workload's pods during the recording, once per node and image (pods that waited for
  the same pull each report it; cached images report none). It is the image's whole
  size as the kubelet reports it, also when the node already had some of its layers.
* **min_capacity** / **mean_capacity** / **mean_cache_hit_rate**: over the samples.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from kitlib.observe.schema import METRICS, typed

__all__ = ["app_restarts", "capacity_stats", "image_bytes_pulled", "ip_and_node_changes",
           "metrics", "peak_unavailable", "pods_rescheduled", "time_to_converge"]

NAN = float("nan")


ORDER = ["time", "sample"]


def _by_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(ORDER, kind="stable")


def _tick(frame: pd.DataFrame, *, last: bool = False) -> pd.Series:
    """Rows of the first (or last) sample in ``frame``."""
    ordered = _by_time(frame)
    pick = ordered.iloc[-1 if last else 0]
    return (frame["time"] == pick["time"]) & (frame["sample"] == pick["sample"])


def time_to_converge(workload: pd.DataFrame, *, start: float) -> float:
    """Seconds from the first observed spec change to converged (see the module docstring).

    Args:
        workload: ``workloads`` rows of one workload.
        start: the recording's first sample time.
    """
    rows = _by_time(workload)
    if rows.empty:
        return NAN
    times, generations = rows["time"].to_numpy(), rows["generation"].to_numpy()
    if times[0] > start or not rows["converged"].iloc[0]:
        first = 0
    else:
        changed = np.flatnonzero(generations != generations[0])
        if not len(changed):
            return NAN
        first = int(changed[0])
    done = np.flatnonzero(rows["converged"].to_numpy()[first:])
    return float(times[first + done[0]] - times[first]) if len(done) else NAN


def peak_unavailable(workload: pd.DataFrame, pods: pd.DataFrame | None = None
                     ) -> tuple[int, int, bool]:
    """``(peak unavailable, budget at that sample, whether any sample exceeded its budget)``.

    Args:
        workload: ``workloads`` rows of one workload.
        pods: its ``pods`` rows, which tell a workload starting up (fewer pods than
            ``replicas`` at its first sample: counted from the first sample where every
            desired pod was available, or every sample if it never got there) from one
            recorded mid-rollout (counted from its first sample). Without them, every
            workload is treated as possibly starting up.

    Returns:
        The peak, the budget in force at that sample, and whether any sample exceeded
        the budget in force at it.
    """
    if workload.empty:
        return 0, 0, False
    rows = _by_time(workload)
    if _starting_up(rows, pods):
        whole = np.flatnonzero((rows["available"] >= rows["replicas"]).to_numpy())
        rows = rows.iloc[int(whole[0]):] if len(whole) else rows
    peak = rows.iloc[int(np.argmax(rows["unavailable"].to_numpy()))]
    exceeded = bool((rows["unavailable"] > rows["max_unavailable"]).any())
    return int(peak["unavailable"]), int(peak["max_unavailable"]), exceeded


def _starting_up(rows: pd.DataFrame, pods: pd.DataFrame | None) -> bool:
    """Whether fewer pods than wanted existed at the workload's first sample."""
    if pods is None:
        return True
    first = rows.iloc[0]
    present = pods.loc[(pods["time"] == first["time"]) & ~pods["deleting"].astype(bool)]
    if "sample" in rows.columns and "sample" in pods.columns:
        present = present.loc[present["sample"] == first["sample"]]
    return len(present) < int(first["replicas"])


def pods_rescheduled(pods: pd.DataFrame, workload: pd.DataFrame, *, start: float) -> int:
    """New pod UIDs beyond those at ``start``, net of scale-up (see the module docstring).

    Args:
        pods: ``pods`` rows of one workload.
        workload: ``workloads`` rows of the same workload.
        start: the recording's first sample time.
    """
    at_start = pods.loc[pods["time"] == start]
    initial = set(at_start.loc[_tick(at_start), "uid"]) if len(at_start) else set()
    new = set(pods["uid"]) - initial
    rows = _by_time(workload)
    if rows.empty:
        return len(new)
    base = int(rows["replicas"].iloc[0]) if rows["time"].iloc[0] <= start else 0
    growth = max(0, int(rows["replicas"].max()) - base)
    return max(0, len(new) - growth)


def _transitions(pods: pd.DataFrame, key: str, column: str) -> int:
    """How often ``column`` changes between non-empty values within each ``key``."""
    rows = pods.loc[pods[column] != "", [*ORDER, key, column]].sort_values(
        [key, *ORDER], kind="stable")
    previous = rows.groupby(key, sort=False)[column].shift()
    return int((previous.notna() & (previous != rows[column])).sum())


def _placement_moves(pods: pd.DataFrame) -> int:
    """Pods that left a node between the first and the last sample, net of arrivals."""
    live = pods.loc[~pods["deleting"] & (pods["node"] != "")]
    if live.empty:
        return 0
    first = live.loc[_tick(live), "node"].value_counts()
    last = live.loc[_tick(live, last=True), "node"].value_counts()
    return int((first - last.reindex(first.index, fill_value=0)).clip(lower=0).sum())


def ip_and_node_changes(pods: pd.DataFrame, *, kind: str, rescheduled: int) -> tuple[int, int]:
    """``(ip_changes, node_changes)`` of one workload's pods (see the module docstring).

    Args:
        pods: ``pods`` rows of one workload.
        kind: the workload's kind (``"StatefulSet"`` follows pods by name).
        rescheduled: its ``pods_rescheduled``.
    """
    if kind == "StatefulSet":
        return _transitions(pods, "pod", "ip"), _transitions(pods, "pod", "node")
    return (_transitions(pods, "uid", "ip") + rescheduled,
            _transitions(pods, "uid", "node") + _placement_moves(pods))


def app_restarts(containers: pd.DataFrame) -> tuple[int, int]:
    """``(in-place restarts, other restarts)`` of app containers (see the module docstring).

    Args:
        containers: ``containers`` rows of one workload (other roles are ignored).
    """
    rows = containers.loc[containers["role"] == "app"].sort_values(
        ["uid", "container", *ORDER], kind="stable")
    if rows.empty:
        return 0, 0
    groups = rows.groupby(["uid", "container"], sort=False)
    increments = (rows["restarts"] - groups["restarts"].shift()).clip(lower=0).fillna(0)
    last_start = groups["started_at"].shift().groupby([rows["uid"], rows["container"]],
                                                      sort=False).ffill()
    moved = rows["started_at"].notna() & last_start.notna() & (rows["started_at"] != last_start)
    count = np.maximum(increments.to_numpy(), moved.to_numpy().astype(float))
    first = groups.cumcount().to_numpy() == 0
    image = rows["image_running"].where(rows["image_running"] != "", rows["image"])
    ran = image.where(first | (count > 0))
    previous_ran = ran.groupby([rows["uid"], rows["container"]], sort=False).ffill().groupby(
        [rows["uid"], rows["container"]], sort=False).shift()
    in_place = (count > 0) & (image != previous_ran).to_numpy() & \
        previous_ran.notna().to_numpy()
    total = int(count.sum())
    return int(in_place.sum()), total - int(in_place.sum())


def image_bytes_pulled(pulls: pd.DataFrame) -> int:
    """The image sizes in ``pulls`` (rows of one workload), once per node and image."""
    return int(pulls.drop_duplicates(["node", "image"])["bytes"].sum())


def capacity_stats(workload: pd.DataFrame) -> tuple[float, float, float]:
    """``(min capacity, mean capacity, mean cache hit rate)`` over the samples (NaN-skipping)."""
    def stat(column: str, how: str) -> float:
        values = workload[column].dropna()
        return float(getattr(values, how)()) if len(values) else NAN

    return stat("capacity", "min"), stat("capacity", "mean"), stat("cache_hit_rate", "mean")


def metrics(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The metrics table: one row per workload of ``frames["workloads"]``, by name.

    Args:
        frames: a recording's frames (``pods``, ``containers``, ``workloads``, ``pulls``).
    """
    workloads = frames["workloads"]
    start = _start(frames)
    rows = [_workload_metrics(name, frames, start=start)
            for name in sorted(set(workloads["workload"]))]
    return typed(rows, METRICS)


def _start(frames: dict[str, pd.DataFrame]) -> float:
    times = [frame["time"].min() for name, frame in frames.items()
             if name in ("pods", "workloads", "nodes") and not frame.empty]
    return float(min(times)) if times else math.inf


def _workload_metrics(name: str, frames: dict[str, pd.DataFrame], *,
                      start: float) -> dict[str, Any]:
    def of(frame: str) -> pd.DataFrame:
        table = frames[frame]
        return table.loc[table["workload"] == name]

    workload, pods = of("workloads"), of("pods")
    kind = str(workload["kind"].iloc[0]) if not workload.empty else ""
    peak, budget, exceeded = peak_unavailable(workload, pods)
    rescheduled = pods_rescheduled(pods, workload, start=start)
    ips, nodes = ip_and_node_changes(pods, kind=kind, rescheduled=rescheduled)
    in_place, crashes = app_restarts(of("containers"))
    low, mean, warm = capacity_stats(workload)
    return {"workload": name, "time_to_converge": time_to_converge(workload, start=start),
            "peak_unavailable": peak, "budget": budget, "budget_exceeded": exceeded,
            "pods_rescheduled": rescheduled, "ip_changes": ips, "node_changes": nodes,
            "app_restarts": in_place + crashes, "image_bytes_pulled": image_bytes_pulled(
                of("pulls")), "min_capacity": low, "mean_capacity": mean,
            "mean_cache_hit_rate": warm, "app_inplace_restarts": in_place,
            "app_crash_restarts": crashes}
