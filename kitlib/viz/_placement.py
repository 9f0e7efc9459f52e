"""Where pods run: a node × pod grid at one sample of ``Recording.pods`` / ``.nodes``."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kitlib.viz._frames import (
    NODE_COLUMNS,
    POD_COLUMNS,
    is_empty,
    latest_at,
    number,
    require_columns,
)
from kitlib.viz._style import (
    GREY,
    LIGHT_GREY,
    RIGHT_LEGEND,
    VERMILLION,
    count_axis,
    empty_figure,
    natural_key,
    new_figure,
    ordered_colors,
)

UNSCHEDULED = "(unscheduled)"
# marker symbol by pod state: ready, not ready, being deleted
_SYMBOLS = {"ready": "square", "not ready": "square-open", "deleting": "square-x-open"}


def placement(pods: pd.DataFrame, nodes: pd.DataFrame | None, *, time: float | None = None,
              color_by: Literal["workload", "revision"] = "workload") -> go.Figure:
    """A node × pod map: which pods run on which node, nodes grouped by zone.

    How to read it: one column per node, grouped under its zone (alternating bands);
    each square is a pod on that node, coloured by workload (or by workload revision,
    to see old and new pods of a rollout side by side). Filled squares are ready pods,
    open squares pods not ready, crossed squares pods being deleted (the legend keys
    both). Cordoned nodes are
    labelled "cordoned" and shaded grey, not-ready nodes labelled "not ready" and
    shaded vermillion. Pending pods stand in an ``(unscheduled)`` column at the end.
    Colours are fixed over the whole recording, so pictures at different times agree.

    Args:
        pods: ``Recording.pods``.
        nodes: ``Recording.nodes`` (zones and node state); None or empty places only
            the nodes that have pods, without zones.
        time: draw the last sample at or before this cluster time; the last sample
            when None.
        color_by: ``"workload"`` or ``"revision"`` (``workload@revision``).

    Returns:
        A figure with one marker trace per colour group; an explanatory empty figure
            when there is nothing to draw.

    Raises:
        ValueError: a frame lacks schema columns.
    """
    title = "Pod placement"
    if is_empty(pods):
        return empty_figure(title, "no pod samples recorded yet")
    require_columns(pods, POD_COLUMNS, source="Recording.pods")
    groups = _group_labels(pods, color_by)
    sample, chosen = latest_at(pods, time)
    if chosen is None:
        return empty_figure(title, f"no pod sample at or before t = {number(time)} s")
    node_frame = _node_frame(nodes, chosen)
    columns = _columns(node_frame, sample)
    figure = new_figure()
    _add_pods(figure, sample.assign(group=groups.loc[sample.index]), columns,
              colours=ordered_colors(groups))
    _add_node_bands(figure, node_frame, columns)
    figure.update_layout(
        title=f"{title} at t = {number(chosen)} s", hovermode="closest",
        legend={**RIGHT_LEGEND, "title_text": color_by},
        height=max(360, 200 + 22 * _tallest(sample)),
        xaxis={"title": "node (grouped by zone)", "tickvals": list(range(len(columns))),
               "ticktext": [_node_label(node, node_frame) for node in columns],
               "range": [-0.6, len(columns) - 0.4], "showgrid": False, "zeroline": False},
        yaxis={"title": "pods on the node", "range": [0.2, max(4, _tallest(sample)) + 0.8],
               **count_axis(_tallest(sample)), "zeroline": False})
    return figure


def _group_labels(pods: pd.DataFrame, color_by: str) -> pd.Series:
    """The colour group of every row, for colours stable across the recording."""
    workload = pods["workload"].fillna("").astype(str).replace("", "(no workload)")
    if color_by == "workload":
        return workload
    if color_by == "revision":
        return workload + "@" + pods["revision"].fillna("").astype(str)
    raise ValueError(f"color_by must be 'workload' or 'revision', not {color_by!r}")


def _node_frame(nodes: pd.DataFrame | None, time: float) -> pd.DataFrame:
    """The node rows of the last node sample at or before ``time``, by node name."""
    if nodes is None or nodes.empty:
        return pd.DataFrame(columns=list(NODE_COLUMNS)).set_index("node")
    require_columns(nodes, NODE_COLUMNS, source="Recording.nodes")
    sample, _ = latest_at(nodes, time)
    return sample.drop_duplicates("node", keep="last").set_index("node")


def _columns(node_frame: pd.DataFrame, sample: pd.DataFrame) -> list[str]:
    """Node columns: recorded nodes by (zone, name), nodes only seen on pods, unscheduled."""
    known = sorted(node_frame.index.astype(str),
                   key=lambda node: (str(node_frame.at[node, "zone"]), natural_key(node)))
    on_pods = sorted(set(sample["node"].fillna("").astype(str)) - set(known) - {""},
                     key=natural_key)
    pending = [UNSCHEDULED] if (sample["node"].fillna("").astype(str) == "").any() else []
    return [*known, *on_pods, *pending]


def _node_label(node: str, node_frame: pd.DataFrame) -> str:
    if node not in node_frame.index:
        return node
    states = [label for column, label, bad in (("ready", "not ready", False),
                                               ("unschedulable", "cordoned", True))
              if bool(node_frame.at[node, column]) is bad]
    return f"{node}<br>({', '.join(states)})" if states else node


def _tallest(sample: pd.DataFrame) -> int:
    counts = sample["node"].fillna("").value_counts()
    return int(counts.max()) if len(counts) else 0


def _add_pods(figure: go.Figure, sample: pd.DataFrame, columns: list[str], *,
              colours: dict[str, str]) -> None:
    ordered = sample.assign(column=sample["node"].fillna("").astype(str).replace("", UNSCHEDULED))
    ordered["x"] = ordered["column"].map({node: index for index, node in enumerate(columns)})
    ordered = ordered.sort_values(["x", "group", "pod"], kind="stable")
    ordered["y"] = ordered.groupby("column").cumcount() + 1
    ordered["state"] = np.where(ordered["deleting"].fillna(False).astype(bool), "deleting",
                                np.where(ordered["ready"].fillna(False).astype(bool), "ready",
                                         "not ready"))
    shown = [group for group in colours if (ordered["group"] == group).any()]
    for group in shown:
        rows = ordered[ordered["group"] == group]
        figure.add_scatter(
            name=group, legendgroup=group, showlegend=False, mode="markers", x=rows["x"],
            y=rows["y"], marker={"symbol": [_SYMBOLS[state] for state in rows["state"]],
                                 "size": 15, "color": colours[group],
                                 "line": {"color": colours[group], "width": 2}},
            hovertext=[_pod_hover(row) for row in rows.to_dict("records")],
            hovertemplate="%{hovertext}<extra></extra>")
    _add_legend_keys(figure, {group: colours[group] for group in shown})


def _add_legend_keys(figure: go.Figure, colours: dict[str, str]) -> None:
    """Legend entries without data: a filled square per colour, a grey symbol per state.

    The data traces mix symbols, and a legend shows a trace's first point, so the keys
    are drawn apart.
    """
    keys: list[tuple[str, str, str, str, str | None]] = [
        (group, group, "square", colour, None) for group, colour in colours.items()]
    keys += [(f"pod {state}", "states", symbol, GREY, "pod state")
             for state, symbol in _SYMBOLS.items()]
    for name, group, symbol, colour, title in keys:
        figure.add_scatter(name=name, legendgroup=group, legendgrouptitle_text=title,
                           x=[None], y=[None], mode="markers", hoverinfo="skip",
                           marker={"symbol": symbol, "size": 12, "color": colour,
                                   "line": {"color": colour, "width": 2}})


def _pod_hover(row: dict[str, Any]) -> str:
    return "<br>".join([
        f"<b>{row['pod']}</b> ({row['state']}, {row['phase']})",
        f"workload {row['workload'] or '—'} · revision {row['revision'] or '—'}",
        f"node {row['node'] or 'unscheduled'} · IP {row['ip'] or 'none'}",
    ])


def _zone_runs(zones: list[str]) -> list[tuple[str, int, int]]:
    """Consecutive columns of one zone: (zone, first column, one past the last)."""
    runs: list[tuple[str, int, int]] = []
    for index, zone in enumerate(zones):
        if runs and runs[-1][0] == zone:
            runs[-1] = (zone, runs[-1][1], index + 1)
        else:
            runs.append((zone, index, index + 1))
    return runs


def _add_node_bands(figure: go.Figure, node_frame: pd.DataFrame, columns: list[str]) -> None:
    """Alternating bands per zone (labelled at the top), shading for unhealthy nodes."""
    zones = [str(node_frame.at[node, "zone"]) if node in node_frame.index else ""
             for node in columns]
    for index, (zone, start, end) in enumerate(_zone_runs(zones)):
        if zone:
            figure.add_vrect(x0=start - 0.5, x1=end - 0.5, line_width=0, layer="below",
                             fillcolor=LIGHT_GREY, opacity=0.6 if index % 2 else 0.25,
                             annotation_text=zone if zone.startswith("zone") else f"zone {zone}",
                             annotation_position="top left")
    for index, node in enumerate(columns):
        if node not in node_frame.index:
            continue
        if not bool(node_frame.at[node, "ready"]):
            shade = VERMILLION
        elif bool(node_frame.at[node, "unschedulable"]):
            shade = GREY
        else:
            continue
        figure.add_vrect(x0=index - 0.45, x1=index + 0.45, line_width=0, layer="below",
                         fillcolor=shade, opacity=0.2)
