"""Side-by-side comparison of runs (strategies): metric bars and overlaid curves.

A *run* is a ``Recording``-like object (anything with a ``metrics()`` method, and a
``workloads`` frame for curves) or the frame itself. Duck typing keeps ``kitlib.viz``
free of ``kitlib.observe``: the plot layer reads frames, it does not know who made them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kitlib.viz._frames import is_empty, number, require_columns, resolve_workload
from kitlib.viz._style import (
    RIGHT_LEGEND,
    TEMPLATE,
    TIME_AXIS,
    count_axis,
    empty_figure,
    new_figure,
    ordered_colors,
)


@dataclass(frozen=True)
class MetricFormat:
    """How one metric column is labelled, scaled and combined across a run's workloads."""

    label: str
    unit: str
    scale: float = 1.0
    combine: str = "sum"  # a pandas reduction: sum, max, min or mean
    missing: str = "n/a"  # the bar text of a NaN value


METRIC_FORMATS: dict[str, MetricFormat] = {
    "time_to_converge": MetricFormat("time to converge", "s", combine="max", missing="never"),
    "peak_unavailable": MetricFormat("peak unavailable", "pods", combine="max"),
    "budget": MetricFormat("maxUnavailable budget", "pods", combine="max"),
    "pods_rescheduled": MetricFormat("pods rescheduled", "pods"),
    "ip_changes": MetricFormat("IP changes", "count"),
    "node_changes": MetricFormat("node changes", "count"),
    "app_restarts": MetricFormat("app-container restarts", "count"),
    "image_bytes_pulled": MetricFormat("image pulled", "MB", scale=1e-6),
    "min_capacity": MetricFormat("min serving capacity", "%", scale=100, combine="min"),
    "mean_capacity": MetricFormat("mean serving capacity", "%", scale=100, combine="mean"),
    "mean_cache_hit_rate": MetricFormat("mean cache hit rate", "%", scale=100, combine="mean"),
}
DEFAULT_METRICS = ("time_to_converge", "pods_rescheduled", "ip_changes", "app_restarts",
                   "image_bytes_pulled", "min_capacity", "mean_cache_hit_rate")
_CURVES: dict[str, MetricFormat] = {
    "capacity": MetricFormat("serving capacity", "%", scale=100),
    "cache_hit_rate": MetricFormat("cache hit rate", "%", scale=100),
}


def _metrics_frame(run: Any) -> pd.DataFrame:
    """A run's metrics table: the frame itself, or ``run.metrics()``."""
    if isinstance(run, pd.DataFrame):
        return run
    if callable(getattr(run, "metrics", None)):
        return pd.DataFrame(run.metrics())
    raise TypeError(f"compare() takes metrics DataFrames or Recordings (with .metrics()), "
                    f"not {type(run).__name__}")


def run_values(frame: pd.DataFrame, metrics: Sequence[str], *,
               workload: str | None = None) -> dict[str, float]:
    """One number per metric for a run, in display units (s, MB, %, counts).

    With several workloads in the run (and ``workload`` None) each metric is combined
    as its ``MetricFormat.combine`` says: counts add up, the time to converge is the longest,
    the minimum capacity the lowest, means are averaged.

    Raises:
        ValueError: a metric is not a column of the frame.
    """
    if is_empty(frame):
        return dict.fromkeys(metrics, float("nan"))
    require_columns(frame, metrics, source="Recording.metrics()")
    if workload is not None:
        frame = frame[frame["workload"] == resolve_workload(frame, workload)]
    values = {}
    for column in metrics:
        metric = metric_format(column)
        series = pd.to_numeric(frame[column], errors="coerce")
        combined = np.nan if series.isna().all() else series.agg(metric.combine)
        values[column] = float(combined) * metric.scale
    return values


def compare(runs: Mapping[str, Any], *, metrics: Sequence[str] = DEFAULT_METRICS,
            workload: str | None = None) -> go.Figure:
    """Compare runs (e.g. rollout strategies) metric by metric, as small multiples.

    How to read it: one panel per metric, one bar per run, in the run's colour (the
    legend toggles a run in every panel). Units are in each panel's title: lower is
    better for time to converge, pods rescheduled, IP changes, app restarts and image
    MB pulled; higher is better for capacity and cache hit rate. A run that never
    converged shows "never" instead of a bar.

    Args:
        runs: run name → ``Recording`` (anything with ``metrics()``) or its metrics
            DataFrame, e.g. ``{"in-place": rec1, "recreate": rec2, "deployment": rec3}``.
        metrics: metric columns to show, in order (see ``kitlib.viz.METRIC_FORMATS`` for labels
            and units; other numeric columns are shown unscaled).
        workload: compare only this workload of each run (full or bare name: ``"web"``
            matches ``cloneset/web`` and ``deployment/web``); all workloads combined
            when None.

    Returns:
        A figure with one bar trace per run and metric; an explanatory empty figure
            when there is no run.

    Raises:
        ValueError: a metric is not in a run's metrics.
        TypeError: a run is neither a DataFrame nor Recording-like.
    """
    title = "Strategies compared"
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not runs or not metrics:
        return empty_figure(title, "no runs to compare: pass {name: recording}")
    values = {name: run_values(_metrics_frame(run), metrics, workload=workload)
              for name, run in runs.items()}
    columns = min(4, len(metrics))
    rows = -(-len(metrics) // columns)
    labels = [_panel_title(column) for column in metrics]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=labels,
                           horizontal_spacing=0.07, vertical_spacing=0.22)
    colours = ordered_colors(runs)
    for index, column in enumerate(metrics):
        missing = metric_format(column).missing
        for name, colour in colours.items():
            value = values[name][column]
            figure.add_bar(x=[name], y=[0.0 if np.isnan(value) else value], name=name,
                           legendgroup=name, showlegend=index == 0, marker_color=colour,
                           text=[missing if np.isnan(value) else number(value)],
                           textposition="outside", cliponaxis=False,
                           hovertemplate=f"{name}: %{{text}}<extra>{labels[index]}</extra>",
                           row=1 + index // columns, col=1 + index % columns)
    figure.update_layout(template=TEMPLATE, title=title, barmode="overlay", legend=RIGHT_LEGEND,
                         height=max(380, 300 * rows), bargap=0.3)
    figure.update_yaxes(rangemode="tozero")
    figure.update_xaxes(showticklabels=False)
    return figure


def metric_format(column: str) -> MetricFormat:
    """How to show a metric column: its ``METRIC_FORMATS`` entry, or its name unscaled."""
    return METRIC_FORMATS.get(column) or MetricFormat(column.replace("_", " "), "")


def _panel_title(column: str) -> str:
    metric = metric_format(column)
    return f"{metric.label} ({metric.unit})" if metric.unit else metric.label


def _workloads_frame(run: Any) -> pd.DataFrame:
    if isinstance(run, pd.DataFrame):
        return run
    frame = getattr(run, "workloads", None)
    if isinstance(frame, pd.DataFrame):
        return frame
    raise TypeError(f"compare_curves() takes workloads DataFrames or Recordings, "
                    f"not {type(run).__name__}")


def compare_curves(runs: Mapping[str, Any], column: str = "updated", *,
                   workload: str | None = None, relative_time: bool = True) -> go.Figure:
    """Overlay one workload column (e.g. ``updated``) of several runs over time.

    How to read it: one step line per run (per workload when a run recorded several and
    ``workload`` is None), in the run's colour. With ``relative_time`` every run starts
    at 0, so the run whose curve reaches its target first converged first.

    Args:
        runs: run name → ``Recording.workloads`` frame (or a Recording).
        column: the ``Recording.workloads`` column to draw; ``capacity`` and
            ``cache_hit_rate`` are drawn in percent, replica counts in pods.
        workload: draw only this workload of each run (full or bare name).
        relative_time: measure time from each run's first sample (else cluster time).

    Returns:
        A figure with one line per run (and workload); an explanatory empty figure when
            no run has samples.

    Raises:
        ValueError: a run's frame lacks the column.
        TypeError: a run is neither a DataFrame nor Recording-like.
    """
    metric = _CURVES.get(column, MetricFormat(column, "pods"))
    title = f"{metric.label.capitalize()} by run"
    frames = {name: _workloads_frame(run) for name, run in runs.items()}
    frames = {name: frame for name, frame in frames.items() if not is_empty(frame)}
    if not frames:
        return empty_figure(title, "no workload samples in any run")
    figure = new_figure()
    colours = ordered_colors(frames)
    dashes = ("solid", "dash", "dot", "dashdot")
    largest = 0.0
    for name, frame in frames.items():
        require_columns(frame, ("time", "workload", column), source="Recording.workloads")
        start = float(frame["time"].min()) if relative_time else 0.0
        for index, (label, rows) in enumerate(_curve_rows(name, frame, workload)):
            rows = rows.sort_values("time", kind="stable")
            largest = max(largest, float(rows[column].max() * metric.scale))
            figure.add_scatter(x=rows["time"] - start, y=rows[column] * metric.scale, name=label,
                               mode="lines", line={"shape": "hv", "color": colours[name],
                                                   "dash": dashes[index % len(dashes)]})
    y_axis = count_axis(largest) if metric.unit == "pods" else {"rangemode": "tozero"}
    figure.update_layout(title=title, hovermode="x unified",
                         xaxis_title="time since the run's first sample (s)" if relative_time
                         else TIME_AXIS,
                         yaxis={"title": f"{metric.label} ({metric.unit})", **y_axis})
    return figure


def _curve_rows(run: str, frame: pd.DataFrame,
                workload: str | None) -> list[tuple[str, pd.DataFrame]]:
    """(legend label, rows) per workload of one run that should be drawn."""
    if workload is not None:
        name = resolve_workload(frame, workload)
        return [(run, frame[frame["workload"] == name])] if name is not None else []
    names = list(dict.fromkeys(frame["workload"]))
    if len(names) == 1:
        return [(run, frame)]
    return [(f"{run} · {name}", frame[frame["workload"] == name]) for name in names]
