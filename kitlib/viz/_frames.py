"""Reading recorder frames: emptiness, required columns, workload selection, step intervals.

The frames follow the recorder schema (``kitlib.observe``'s ``Recording``): tidy pandas
frames whose ``time`` column is cluster time in seconds. Nothing here mutates its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

WORKLOAD_COLUMNS = ("time", "workload", "replicas", "updated", "ready", "available",
                    "unavailable", "max_unavailable")
POD_COLUMNS = ("time", "namespace", "pod", "uid", "workload", "node", "ip", "phase",
               "ready", "deleting", "revision")
CONTAINER_COLUMNS = ("time", "uid", "container", "role", "image", "ready", "restarts")
NODE_COLUMNS = ("time", "node", "ready", "unschedulable", "zone")
DISRUPTION_COLUMNS = ("time", "namespace", "pod", "node", "workload", "allowed", "reason",
                      "source")


def is_empty(frame: pd.DataFrame | None) -> bool:
    """True for ``None`` or a frame without rows."""
    return frame is None or len(frame) == 0


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, source: str) -> None:
    """Raise a ValueError naming the missing columns and where the frame should come from.

    Raises:
        ValueError: some of ``columns`` are not in ``frame``.
    """
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"the frame lacks the column(s) {', '.join(missing)}: pass {source} "
            f"(a kitlib.observe Recording's frame) or a frame with the same columns")


def matching_workloads(names: Sequence[str], workload: str) -> list[str]:
    """Recorded workload names that ``workload`` designates.

    ``"cloneset/web"`` matches itself; a bare ``"web"`` matches any kind's ``web``.
    """
    if workload in names:
        return [workload]
    return [name for name in names if name.rsplit("/", 1)[-1] == workload]


def workload_names(frame: pd.DataFrame) -> list[str]:
    """The workload names in ``frame``, in order of first appearance."""
    return list(dict.fromkeys(frame["workload"].astype(str)))


def resolve_workload(frame: pd.DataFrame, workload: str | None) -> str | None:
    """The single recorded workload a caller means, or None when nothing matches.

    With ``workload=None`` the first recorded workload is chosen.

    Raises:
        ValueError: a bare name matches several kinds' workloads.
    """
    names = [name for name in workload_names(frame) if name]
    if workload is None:
        return names[0] if names else None
    matches = matching_workloads(names, workload)
    if len(matches) > 1:
        raise ValueError(f"{workload!r} matches {', '.join(matches)}: pass the full name, "
                         f"e.g. {matches[0]!r}")
    return matches[0] if matches else None


def filter_workloads(frame: pd.DataFrame, workloads: Iterable[str] | None) -> pd.DataFrame:
    """The rows of the given workloads (full or bare names, or one name); all rows for None."""
    if workloads is None:
        return frame
    if isinstance(workloads, str):
        workloads = [workloads]
    names = workload_names(frame)
    keep = {match for wanted in workloads for match in matching_workloads(names, wanted)}
    return frame[frame["workload"].astype(str).isin(keep)]


def step_intervals(times: Sequence[float], flags: Sequence[bool]) -> list[tuple[float, float]]:
    """Intervals where a sampled flag holds, each sample holding until the next one.

    A run of flagged samples i..j spans ``times[i]`` to ``times[j + 1]`` (or ``times[j]``
    for a run that reaches the last sample).
    """
    intervals: list[tuple[float, float]] = []
    start: int | None = None
    for index, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            end = times[index] if index < len(times) else times[index - 1]
            intervals.append((float(times[start]), float(end)))
            start = None
    return intervals


def latest_at(frame: pd.DataFrame, time: float | None) -> tuple[pd.DataFrame, float | None]:
    """The rows of the last sample at or before ``time`` (the last sample for None)."""
    times = frame["time"]
    eligible = times if time is None else times[times <= time]
    if len(eligible) == 0:
        return frame.iloc[0:0], None
    chosen = float(eligible.max())
    return frame[times == chosen], chosen


def number(value: float | None) -> str:
    """A compact number for hover text and labels: ``12``, ``12.5``, ``0.333``; NaN is n/a."""
    if value is None or np.isnan(value):
        return "n/a"
    as_float = float(value)
    return f"{as_float:.0f}" if as_float.is_integer() else f"{as_float:.3g}"
