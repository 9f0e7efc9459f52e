"""The pod/container timeline (a Gantt chart) from ``Recording.pods`` and ``.containers``.

Rows are pod slots (``kitlib.viz._slots``): a recreate-style rollout shows rows whose
bar ends and starts again with a new pod, an in-place update one unbroken bar per row
whose container segments change colour. Container stretches and in-place events are
computed by pure functions over the frames (``container_segments``, ``container_events``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kitlib.viz._frames import (
    CONTAINER_COLUMNS,
    POD_COLUMNS,
    is_empty,
    number,
    require_columns,
    resolve_workload,
)
from kitlib.viz._slots import PodSpan, assign_rows, pod_spans, sample_numbers
from kitlib.viz._style import (
    BLACK,
    LIGHT_GREY,
    PURPLE,
    RIGHT_LEGEND,
    TIME_AXIS,
    VERMILLION,
    empty_figure,
    image_colors,
    new_figure,
)

POD_NAME = "pod"
REPLACEMENT_NAME = "replacement pod (new uid)"
REPLACED_MARKER = "pod replaced"
UPDATE_MARKER = "in-place image update"
RESTART_MARKER = "in-place restart"
_ROLE_RANK = {"app": 0, "sidecar": 1, "agent": 2}
_LANES = 0.6  # share of a row's height the container lanes take


def container_segments(containers: pd.DataFrame, spans: list[PodSpan]) -> pd.DataFrame:
    """Stretches of one container in one pod with the same image and readiness.

    A stretch lasts until the container's next change, or until its pod's bar ends.

    Returns:
        A frame with uid, container, role, image, ready, restarts, start, end and
            ``lane`` / ``lanes`` (the container's place among its pod's containers, app first).
    """
    by_uid = {span.uid: span for span in spans}
    rows = _ordered_containers(containers, set(by_uid))
    if rows.empty:
        return rows.assign(start=[], end=[], lane=[], lanes=[])
    key = rows["uid"].astype(str) + "\0" + rows["container"].astype(str)
    changed = (key.ne(key.shift()) | rows["image"].ne(rows["image"].shift())
               | rows["ready"].ne(rows["ready"].shift()))
    segments = rows.groupby(changed.cumsum(), sort=False).agg(
        uid=("uid", "first"), container=("container", "first"), role=("role", "first"),
        image=("image", "first"), ready=("ready", "first"), restarts=("restarts", "max"),
        start=("time", "min")).reset_index(drop=True)
    segment_key = segments["uid"].astype(str) + "\0" + segments["container"].astype(str)
    pod_end = segments["uid"].map(lambda uid: by_uid[str(uid)].end)
    segments["end"] = np.fmin(segments["start"].shift(-1).where(
        segment_key.eq(segment_key.shift(-1)), pod_end), pod_end)
    drawn = segments[segments["end"] > segments["start"]]
    return drawn.join(_lanes(rows), on=["uid", "container"]).reset_index(drop=True)


def _ordered_containers(containers: pd.DataFrame, uids: set[str]) -> pd.DataFrame:
    rows = containers[containers["uid"].astype(str).isin(uids)]
    rank = rows["role"].map(_ROLE_RANK).fillna(len(_ROLE_RANK))
    return (rows.assign(ready=rows["ready"].fillna(False).astype(bool), _rank=rank,
                        _step=sample_numbers(rows))
            .sort_values(["uid", "_rank", "container", "_step"], kind="stable"))


def _lanes(rows: pd.DataFrame) -> pd.DataFrame:
    """Each container's lane within its pod's row, in role order (app, sidecar, agent)."""
    names = rows.drop_duplicates(["uid", "container"])[["uid", "container"]]
    lane = names.groupby("uid").cumcount()
    lanes = names.groupby("uid")["container"].transform("size")
    return names.assign(lane=lane, lanes=lanes).set_index(["uid", "container"])


def container_events(containers: pd.DataFrame, spans: list[PodSpan]) -> pd.DataFrame:
    """In-place changes of a container within one pod uid, one row per change.

    ``kind`` is ``"update"`` where the image changed between two samples of the same
    container of the same pod (an in-place update) and ``"restart"`` where the restart
    count grew otherwise. The first restart at or after an image change is the update
    starting the new image, not a restart of its own.

    Returns:
        A frame with time, uid, container, kind, before (previous image), after (image)
            and increment (restart count growth), in time order per container.
    """
    rows = _ordered_containers(containers, {span.uid for span in spans})
    key = rows["uid"].astype(str) + "\0" + rows["container"].astype(str)
    same = key.eq(key.shift())
    rows = rows.assign(before=rows["image"].shift(), changed=same & rows["image"].ne(
        rows["image"].shift()), increment=pd.to_numeric(rows["restarts"], errors="coerce")
        .diff().where(same, 0))
    events: list[dict[str, Any]] = []
    pending: set[tuple[str, str]] = set()
    for row in rows[rows["changed"] | (rows["increment"] > 0)].to_dict("records"):
        container = (row["uid"], row["container"])
        if row["changed"]:
            events.append({**row, "kind": "update"})
            if row["increment"] <= 0:
                pending.add(container)
        elif container in pending:
            pending.discard(container)
        else:
            events.append({**row, "kind": "restart"})
    columns = ["time", "uid", "container", "kind", "before", "image", "increment"]
    return pd.DataFrame(events, columns=columns).rename(columns={"image": "after"})


def timeline(pods: pd.DataFrame, containers: pd.DataFrame | None, *,
             workload: str | None = None, max_pods: int = 60) -> go.Figure:
    """A Gantt chart of pods and their containers: in-place changes vs replacements.

    How to read it: each row is a pod slot. A grey bar is a pod's lifetime (one pod
    uid); when a pod is replaced by a new one (a new uid: new IP, rescheduled, cold
    cache), the bar ends and a dotted *replacement* bar starts in the same row, marked
    by a black ▶. Inside each pod bar, thin lanes show its containers (app
    first, then sidecars and agents), coloured by image version — the legend maps
    colours to images; hatched stretches are not ready. A purple ◆ marks an in-place
    image update (same pod uid, the container restarted on the new image) and a
    vermillion ✕ an in-place restart (the restart count grew). Hover shows pod,
    container, image, node and IP. An in-place rollout reads as colour changes on
    unbroken bars; a recreate rollout as broken bars with ▶ markers.

    Args:
        pods: ``Recording.pods`` (one row per pod per sample).
        containers: ``Recording.containers``; None or empty draws pod bars only.
        workload: the workload to draw (full or bare name); every pod when None.
        max_pods: at most this many slot rows are drawn (the first ones); the
            subtitle says how many were left out.

    Returns:
        A figure with bar traces (``pod``, ``replacement pod (new uid)``, one per image)
            and marker traces (``pod replaced``, ``in-place image update``,
            ``in-place restart``); an explanatory empty figure when there is nothing to draw.

    Raises:
        ValueError: a frame lacks schema columns, a bare name is ambiguous, or
            ``max_pods`` is below 1.
    """
    if max_pods < 1:
        raise ValueError(f"max_pods must be at least 1, not {max_pods}")
    title = "Pod timeline" if workload is None else f"Pod timeline of {workload}"
    if is_empty(pods):
        return empty_figure(title, "no pod samples recorded yet")
    require_columns(pods, POD_COLUMNS, source="Recording.pods")
    if containers is None or containers.empty:
        containers = pd.DataFrame(columns=list(CONTAINER_COLUMNS))
    require_columns(containers, CONTAINER_COLUMNS, source="Recording.containers")
    selected = _pods_of(pods, workload)
    if selected.empty:
        return empty_figure(title, f"no pods recorded for {workload!r}")
    spans = assign_rows(pod_spans(selected, recording=pods))
    shown = [span for span in spans if span.row < max_pods]
    segments = container_segments(containers, shown)
    figure = new_figure()
    _add_pod_bars(figure, shown)
    _add_container_bars(figure, segments, shown, colours=image_colors(containers["image"]))
    _add_markers(figure, shown, segments, container_events(containers, shown))
    lanes = int(segments["lanes"].max()) if not segments.empty else 1
    _lay_out(figure, shown, title=title, total_rows=1 + max(span.row for span in spans),
             row_height=22 + 4 * lanes)
    return figure


def _pods_of(pods: pd.DataFrame, workload: str | None) -> pd.DataFrame:
    if workload is None:
        return pods
    name = resolve_workload(pods, workload)
    return pods[pods["workload"] == name] if name is not None else pods.iloc[0:0]


def _pod_hover(span: PodSpan) -> str:
    lines = [f"<b>{span.pod}</b> (uid {span.uid[:8]})", f"workload {span.workload or '—'}",
             f"node {span.node or 'unscheduled'} · IP {span.ip or 'none'}",
             f"seen {number(span.start)}–{number(span.gone)} s"]
    if span.replaces:
        lines.append(f"replaced {span.replaces}")
    return "<br>".join(lines)


def _add_pod_bars(figure: go.Figure, spans: list[PodSpan]) -> None:
    # replacements differ by a dotted fill, not by hue: hues belong to the images
    styles = ((POD_NAME, False, ""), (REPLACEMENT_NAME, True, "."))
    for name, replacement, pattern in styles:
        chosen = [span for span in spans if (span.generation > 0) == replacement]
        if not chosen:
            continue
        figure.add_bar(
            name=name, orientation="h", y=[span.row for span in chosen],
            x=[span.end - span.start for span in chosen], base=[span.start for span in chosen],
            width=0.92, marker={"color": LIGHT_GREY, "line": {"color": BLACK, "width": 1.5},
                                "pattern": {"shape": pattern, "fgcolor": BLACK, "size": 5,
                                            "fillmode": "overlay"}},
            hovertext=[_pod_hover(span) for span in chosen],
            hovertemplate="%{hovertext}<extra></extra>")


def _lane_y(rows: pd.Series, lanes: pd.DataFrame) -> pd.Series:
    """The y of a container lane inside its pod's row (lanes stack app first)."""
    return rows - _LANES / 2 + (lanes["lane"] + 0.5) * _LANES / lanes["lanes"]


def _add_container_bars(figure: go.Figure, segments: pd.DataFrame, spans: list[PodSpan], *,
                        colours: dict[str, str]) -> None:
    if segments.empty:
        return
    by_uid = {span.uid: span for span in spans}
    segments = segments.assign(row=segments["uid"].map(lambda uid: by_uid[uid].row))
    segments["y"] = _lane_y(segments["row"], segments)
    for image, colour in colours.items():
        chosen = segments[segments["image"] == image]
        if chosen.empty:
            continue
        hover = [_segment_hover(by_uid[row["uid"]], row) for row in chosen.to_dict("records")]
        figure.add_bar(
            name=image, legendgroup="images", legendgrouptitle_text="container image",
            legendrank=2000, orientation="h", y=chosen["y"], x=chosen["end"] - chosen["start"],
            base=chosen["start"], width=(_LANES / chosen["lanes"] * 0.85),
            marker={"color": colour, "line": {"width": 0},
                    "pattern": {"shape": ["" if ready else "/" for ready in chosen["ready"]]}},
            hovertext=hover, hovertemplate="%{hovertext}<extra></extra>")


def _segment_hover(span: PodSpan, values: dict[str, Any]) -> str:
    return "<br>".join([
        f"<b>{span.pod}</b> / {values['container']} ({values['role']})",
        f"image {values['image']}",
        f"node {span.node or 'unscheduled'} · IP {span.ip or 'none'}",
        f"{number(values['start'])}–{number(values['end'])} s · "
        f"{'ready' if values['ready'] else 'not ready'} · restarts {number(values['restarts'])}",
    ])


def _add_markers(figure: go.Figure, spans: list[PodSpan], segments: pd.DataFrame,
                 events: pd.DataFrame) -> None:
    replaced = [span for span in spans if span.generation > 0]
    if replaced:
        figure.add_scatter(
            name=REPLACED_MARKER, mode="markers", x=[span.start for span in replaced],
            y=[span.row for span in replaced],
            marker={"symbol": "triangle-right", "size": 12, "color": BLACK},
            hovertext=[f"<b>{span.pod}</b> replaced {span.replaces}<br>new uid, "
                       f"node {span.node or 'unscheduled'}, IP {span.ip or 'none'}"
                       for span in replaced],
            hovertemplate="%{hovertext}<extra></extra>")
    if events.empty:
        return
    by_uid = {span.uid: span for span in spans}
    lanes = segments.drop_duplicates(["uid", "container"]).set_index(["uid", "container"])
    placed = events.join(lanes[["lane", "lanes"]], on=["uid", "container"])
    placed["y"] = _lane_y(placed["uid"].map(lambda uid: by_uid[uid].row), placed)
    styles = (("update", UPDATE_MARKER, "diamond", PURPLE),
              ("restart", RESTART_MARKER, "x", VERMILLION))
    for kind, name, symbol, colour in styles:
        chosen = placed[placed["kind"] == kind]
        if chosen.empty:
            continue
        figure.add_scatter(
            name=name, mode="markers", x=chosen["time"], y=chosen["y"],
            marker={"symbol": symbol, "size": 11, "color": colour,
                    "line": {"color": BLACK, "width": 1}},
            hovertext=[_event_hover(by_uid[row["uid"]], row) for row in chosen.to_dict("records")],
            hovertemplate="%{hovertext}<extra></extra>")


def _event_hover(span: PodSpan, event: dict[str, Any]) -> str:
    head = f"<b>{span.pod}</b> / {event['container']} at {number(event['time'])} s"
    if event["kind"] == "update":
        change = f"in-place image update: {event['before']} → {event['after']}"
    else:
        change = f"restarted in place (+{number(event['increment'])})"
    return f"{head}<br>{change}<br>same pod uid, node {span.node or '—'}, IP {span.ip or '—'}"


def _row_labels(spans: list[PodSpan]) -> dict[int, str]:
    labels: dict[int, str] = {}
    replacements: dict[int, int] = {}
    for span in spans:
        labels.setdefault(span.row, span.pod)
        replacements[span.row] = max(replacements.get(span.row, 0), span.generation)
    return {row: label if not replacements[row] else f"{label} (replaced ×{replacements[row]})"
            for row, label in sorted(labels.items())}


def _lay_out(figure: go.Figure, spans: list[PodSpan], *, title: str, total_rows: int,
             row_height: int) -> None:
    labels = _row_labels(spans)
    subtitle = ("box: one pod uid (dotted: a replacement) · lanes: its containers, coloured by "
                "image, hatched while not ready")
    if total_rows > len(labels):
        subtitle += f" · showing {len(labels)} of {total_rows} pod slots"
    figure.update_layout(
        title={"text": title, "subtitle": {"text": subtitle}}, barmode="overlay",
        height=max(320, 150 + row_height * len(labels), 140 + 32 * len(figure.data)),
        hovermode="closest", legend=RIGHT_LEGEND,
        xaxis={"title": TIME_AXIS},
        yaxis={"title": "pod slot", "tickvals": list(labels), "ticktext": list(labels.values()),
               "range": [max(labels) + 0.5, -0.5], "showgrid": False})
