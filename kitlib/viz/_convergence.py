"""Convergence and serving-capacity curves from ``Recording.workloads``.

Every sampled quantity is drawn as a step (``line_shape="hv"``): a sample holds until the
next one, which is what a recorder that samples every ``dt`` actually knows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kitlib.viz._frames import (
    WORKLOAD_COLUMNS,
    filter_workloads,
    is_empty,
    require_columns,
    resolve_workload,
    step_intervals,
    workload_names,
)
from kitlib.viz._style import (
    BLACK,
    BLUE,
    GREEN,
    ORANGE,
    RIGHT_LEGEND,
    SKY,
    TEMPLATE,
    TIME_AXIS,
    VERMILLION,
    count_axis,
    empty_figure,
    new_figure,
    ordered_colors,
)

# (column, legend name, colour, dash) of the replica counts, drawn in this order.
_COUNTS = (
    ("replicas", "desired", BLACK, "dot"),
    ("updated", "updated", BLUE, "solid"),
    ("ready", "ready", GREEN, "solid"),
    ("available", "available", SKY, "dash"),
    ("unavailable", "unavailable", ORANGE, "solid"),
)
BUDGET_NAME = "maxUnavailable budget"
EXCEEDED_NAME = "budget exceeded"


def convergence(workloads: pd.DataFrame, *, workload: str | None = None,
                title: str | None = None) -> go.Figure:
    """Replica counts of one workload over time, with its maxUnavailable budget.

    How to read it: ``updated``, ``ready`` and ``available`` climb towards ``desired`` as
    the rollout converges (all four lines meet at the end). ``unavailable`` (orange) should
    stay under the dashed vermillion ``maxUnavailable budget`` step — the budget is drawn
    as a step because it can change during the recording (a patched strategy, a scale
    with a percentage budget). Stretches where ``unavailable`` exceeds the budget are
    shaded: the update alone should not get there, so look for what else took pods
    away (a node failure, evictions, crashing pods, or new pods of a scale-up still
    starting).

    Args:
        workloads: ``Recording.workloads`` (one row per workload per sample).
        workload: which workload to draw (``"cloneset/web"`` or a bare ``"web"``);
            the first recorded one when None.
        title: the figure title; ``"Convergence of <workload>"`` when None.

    Returns:
        A figure with one step trace per count, the budget trace and shaded
            ``budget exceeded`` shapes; an explanatory empty figure when there is nothing
            to draw.

    Raises:
        ValueError: the frame lacks schema columns, or a bare name is ambiguous.
    """
    if is_empty(workloads):
        return empty_figure(title or "Convergence", "no workload samples recorded yet")
    require_columns(workloads, WORKLOAD_COLUMNS, source="Recording.workloads")
    name = resolve_workload(workloads, workload)
    if name is None:
        recorded = ", ".join(workload_names(workloads))
        return empty_figure(title or f"Convergence of {workload}",
                            f"no samples for {workload!r} (recorded: {recorded})")
    frame = workloads[workloads["workload"] == name].sort_values("time", kind="stable")
    figure = new_figure()
    for column, label, colour, dash in _COUNTS:
        # ready is drawn wider so that available, drawn over it, leaves it visible
        figure.add_scatter(x=frame["time"], y=frame[column], name=label, mode="lines",
                           line={"shape": "hv", "color": colour, "dash": dash,
                                 "width": 4 if column == "ready" else 2})
    _add_budget(figure, frame)
    largest = frame[[column for column, *_ in _COUNTS]].max().max()
    figure.update_layout(title=title or f"Convergence of {name}", hovermode="x unified",
                         xaxis_title=TIME_AXIS, yaxis={"title": "pods", **count_axis(largest)})
    return figure


def _add_budget(figure: go.Figure, frame: pd.DataFrame) -> None:
    """The budget as a dashed step, and a shaded band wherever it is exceeded."""
    budget = pd.to_numeric(frame["max_unavailable"], errors="coerce")
    if budget.isna().all():
        return
    figure.add_scatter(x=frame["time"], y=budget, name=BUDGET_NAME, mode="lines",
                       line={"shape": "hv", "color": VERMILLION, "dash": "dash", "width": 2})
    exceeded = (pd.to_numeric(frame["unavailable"], errors="coerce") > budget).tolist()
    intervals = step_intervals(frame["time"].tolist(), exceeded)
    for index, (start, end) in enumerate(intervals):
        figure.add_vrect(x0=start, x1=end, fillcolor=VERMILLION, opacity=0.15, line_width=0,
                         layer="below", name=EXCEEDED_NAME, legendgroup=EXCEEDED_NAME,
                         showlegend=index == 0)


def capacity(workloads: pd.DataFrame, *,
             workloads_to_show: Sequence[str] | None = None) -> go.Figure:
    """Serving capacity and app-cache hit rate of each workload over time, in percent.

    How to read it: the top panel is the share of desired pods that serve traffic
    (ready Service endpoints / desired replicas); the dotted line at 100 % is full
    capacity, and a surge can briefly go above it. The bottom panel is the modelled
    cache hit rate of the app containers: it grows with container uptime and drops when
    containers restart or pods are replaced — a recreate-style release shows a deep
    dip, an in-place update a shallow one. One colour per workload in both panels.

    Args:
        workloads: ``Recording.workloads``; needs ``capacity`` and ``cache_hit_rate``.
        workloads_to_show: workload names (full or bare) to draw; all when None.

    Returns:
        A two-row figure sharing the time axis; an explanatory empty figure when there
            is nothing to draw.

    Raises:
        ValueError: the frame lacks schema columns.
    """
    title = "Serving capacity and cache hit rate"
    if is_empty(workloads):
        return empty_figure(title, "no workload samples recorded yet")
    require_columns(workloads, ("time", "workload", "capacity", "cache_hit_rate"),
                    source="Recording.workloads")
    frame = filter_workloads(workloads, workloads_to_show).sort_values("time", kind="stable")
    if frame.empty:
        return empty_figure(title, f"none of {list(workloads_to_show or [])} was recorded")
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    colours = ordered_colors(workload_names(frame))
    for name, colour in colours.items():
        rows = frame[frame["workload"] == name]
        for row, column in ((1, "capacity"), (2, "cache_hit_rate")):
            figure.add_scatter(x=rows["time"], y=rows[column] * 100, name=name,
                               legendgroup=name, showlegend=row == 1, mode="lines",
                               line={"shape": "hv", "color": colour, "width": 2},
                               row=row, col=1)
    figure.add_hline(y=100, line={"dash": "dot", "color": BLACK, "width": 1}, row=1, col=1,
                     layer="below",
                     annotation_text="100 % = every desired pod serving",
                     annotation_position="bottom right")
    peak = frame["capacity"].max()
    top = 105.0 if pd.isna(peak) else max(105.0, float(peak) * 105)
    figure.update_layout(template=TEMPLATE, title=title, hovermode="x unified",
                         height=560, legend=RIGHT_LEGEND)
    figure.update_yaxes(title_text="serving capacity (%)", range=[0, top], row=1, col=1)
    figure.update_yaxes(title_text="cache hit rate (%)", range=[0, 105], row=2, col=1)
    figure.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    return figure
