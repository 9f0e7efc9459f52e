"""Pod slots: which row of the timeline each pod uid occupies.

A *slot* is a place a workload's pods occupy over time. A pod that replaces another (a
new uid appearing once an older pod of the same workload is gone or being deleted) takes
the freed slot, so a recreate-style rollout shows a row whose bar ends and starts again,
while an in-place update keeps one bar per row. The decision is made in *sample numbers*,
not times: a recorder may take several samples at one cluster time (before and after an
operation), and a pod deleted in one of them must free its slot for a pod created in the
next. Slot assignment (``assign_rows``) is a pure function tested as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from kitlib.viz._style import natural_key


@dataclass(frozen=True)
class PodSpan:
    """One pod uid's lifetime on the chart.

    Attributes:
        start: the time of the first sample with the pod.
        gone: the time of the first sample without it (its last sample's time when it
            lasts to the end of the recording).
        end: where its bar ends: ``gone``, or its successor's ``start`` if earlier (the
            rest is the predecessor's termination, which the successor's bar covers).
        first: the number of the first sample with the pod.
        free: the first sample number at which its slot may take a successor: the first
            sample without it, or the first where it was being deleted.
        row: its slot row (-1 until ``assign_rows`` places it).
        generation: how many pods held its slot before it.
        replaces: the name of the pod whose slot it took ("" for none).
    """

    uid: str
    pod: str
    workload: str
    start: float
    end: float
    gone: float
    first: int
    free: int
    node: str = ""
    ip: str = ""
    row: int = -1
    generation: int = 0
    replaces: str = ""


def sample_numbers(frame: pd.DataFrame) -> pd.Series:
    """Each row's sample number: the recorder's ``sample`` column, else the rank of its time."""
    if "sample" in frame.columns:
        return frame["sample"].astype("int64")
    return frame["time"].rank(method="dense").astype("int64") - 1


def pod_spans(pods: pd.DataFrame, *, recording: pd.DataFrame) -> list[PodSpan]:
    """One ``PodSpan`` per uid in ``pods`` (rows unassigned).

    Args:
        pods: the pod rows to draw (a subset of ``recording``).
        recording: every pod row, whose samples say when a pod was last seen.
    """
    steps = sample_numbers(recording)
    step_times = recording["time"].groupby(steps).first()
    ordered = pods.assign(_step=steps.loc[pods.index]).sort_values("_step", kind="stable")
    spans = ordered.groupby("uid", sort=False).agg(
        start=("time", "first"), last_time=("time", "last"), first=("_step", "min"),
        last=("_step", "max"), pod=("pod", "last"), workload=("workload", "last"))
    after = spans["last"] + 1
    spans["gone"] = after.map(step_times).fillna(spans["last_time"])
    deleting = ordered[ordered["deleting"].fillna(False).astype(bool)]
    spans["free"] = np.fmin(after, deleting.groupby("uid")["_step"].min().reindex(spans.index))
    for column in ("node", "ip"):
        known = ordered[ordered[column].fillna("").astype(str) != ""]
        spans[column] = known.groupby("uid")[column].last().reindex(spans.index).fillna("")
    return [PodSpan(uid=str(uid), pod=str(row.pod), workload=str(row.workload),
                    start=float(row.start), end=float(row.gone), gone=float(row.gone),
                    first=int(row.first), free=int(row.free), node=str(row.node),
                    ip=str(row.ip))
            for uid, row in spans.iterrows()]


def assign_rows(spans: list[PodSpan]) -> list[PodSpan]:
    """Place each pod in a slot row: a successor takes a slot its predecessor freed.

    Workloads get consecutive blocks of rows (in order of their first pod). Within a
    workload pods are placed in order of appearance; a pod takes a freed slot (preferring
    one whose last pod had the same name, as a StatefulSet's, then the one freed first)
    or opens a new row. The predecessor's bar is cut where its successor's starts.

    Returns:
        The spans with ``row``, ``generation``, ``replaces`` and ``end`` set, in order of
            appearance.
    """
    order = sorted(spans, key=lambda span: (span.first, natural_key(span.pod), span.uid))
    placed: dict[str, PodSpan] = {}
    offset = 0
    for workload in dict.fromkeys(span.workload for span in order):
        slots: list[PodSpan] = []
        for span in (span for span in order if span.workload == workload):
            index = _free_slot(slots, span)
            if index is None:
                index = len(slots)
                slots.append(replace(span, row=offset + index, generation=0))
            else:
                previous = slots[index]
                placed[previous.uid] = replace(previous, end=min(previous.end, span.start))
                slots[index] = replace(span, row=previous.row, replaces=previous.pod,
                                       generation=previous.generation + 1)
            placed[span.uid] = slots[index]
        offset += len(slots)
    return list(placed.values())


def _free_slot(slots: list[PodSpan], span: PodSpan) -> int | None:
    free = [index for index, occupant in enumerate(slots)
            if occupant.free <= span.first and occupant.first < span.first]
    if not free:
        return None
    same_name = [index for index in free if slots[index].pod == span.pod]
    return (same_name or sorted(free, key=lambda index: (slots[index].free, index)))[0]
