"""Eviction attempts over time from ``Recording.disruptions``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from kitlib.viz._frames import (
    DISRUPTION_COLUMNS,
    filter_workloads,
    is_empty,
    number,
    require_columns,
)
from kitlib.viz._style import GREEN, TIME_AXIS, VERMILLION, count_axis, empty_figure, new_figure

ALLOWED_NAME = "allowed"
REFUSED_NAME = "refused"


def disruptions(disruptions_df: pd.DataFrame, *, workload: str | None = None) -> go.Figure:
    """Eviction attempts allowed vs refused by disruption budgets, over time.

    How to read it: two cumulative step lines, one point per attempt — bluish-green
    circles for evictions the API allowed, vermillion crosses for evictions it refused
    (HTTP 429: a PodDisruptionBudget had no disruption left). A refused line that keeps
    climbing while the allowed line is flat is a drain blocked on a budget; hover a
    point for the pod, node, workload, source (evict or drain) and the refusal reason.

    Args:
        disruptions_df: ``Recording.disruptions`` (one row per eviction attempt).
        workload: only attempts on this workload's pods (full or bare name).

    Returns:
        A figure with the ``allowed`` and ``refused`` traces (both always present, maybe
            empty); an explanatory empty figure when nothing was attempted.

    Raises:
        ValueError: the frame lacks schema columns.
    """
    title = "Eviction attempts: allowed vs refused"
    if is_empty(disruptions_df):
        return empty_figure(title, "no eviction attempted during the recording")
    require_columns(disruptions_df, DISRUPTION_COLUMNS, source="Recording.disruptions")
    frame = filter_workloads(disruptions_df, None if workload is None else [workload])
    if frame.empty:
        return empty_figure(title, f"no eviction attempted on {workload!r}")
    frame = frame.sort_values("time", kind="stable")
    figure = new_figure()
    allowed = frame["allowed"].fillna(False).astype(bool)
    styles = ((ALLOWED_NAME, allowed, "circle", GREEN), (REFUSED_NAME, ~allowed, "x", VERMILLION))
    for name, mask, symbol, colour in styles:
        rows = frame[mask]
        figure.add_scatter(
            name=name, mode="lines+markers", x=rows["time"], y=list(range(1, len(rows) + 1)),
            line={"shape": "hv", "color": colour, "width": 2},
            marker={"symbol": symbol, "size": 9, "color": colour},
            hovertext=[_hover(row) for row in rows.to_dict("records")],
            hovertemplate="%{hovertext}<extra></extra>")
    figure.update_layout(title=title, hovermode="closest", xaxis_title=TIME_AXIS,
                         yaxis={"title": "eviction attempts (cumulative)",
                                **count_axis(max(allowed.sum(), (~allowed).sum()))})
    return figure


def _hover(row: dict[str, Any]) -> str:
    outcome = "allowed" if row["allowed"] else "refused"
    lines = [f"<b>{row['namespace']}/{row['pod']}</b> {outcome} at {number(row['time'])} s",
             f"node {row['node'] or '—'} · workload {row['workload'] or '—'} · "
             f"via {row['source']}"]
    if row["reason"]:
        lines.append(f"reason: {row['reason']}")
    return "<br>".join(lines)
