"""timeline(): in-place changes keep one bar per pod; replacements start a new bar."""

from __future__ import annotations

import pandas as pd
import pytest

from kitlib import viz
from kitlib.viz._slots import PodSpan, assign_rows
from tests.viz.frames import (
    CONTAINER_COLUMNS,
    POD_COLUMNS,
    TIMES,
    container,
    frame,
    inplace,
    pod,
    recreate,
    rollout,
)


def names(figure):
    return [t.name for t in figure.data]


def trace(figure, name):
    (found,) = [t for t in figure.data if t.name == name]
    return found


def test_in_place_update_keeps_one_bar_per_pod_and_marks_the_image_change():
    figure = viz.timeline(*inplace())
    assert names(figure) == ["pod", "app:v1", "app:v2", "proxy:1.20",
                             "in-place image update", "in-place restart"]
    pods = trace(figure, "pod")
    assert (list(pods.y), list(pods.base), list(pods.x)) == ([0, 1], [0.0, 0.0], [4.0, 4.0])
    update = trace(figure, "in-place image update")
    assert (list(update.x), update.marker.symbol) == ([2.0], "diamond")
    assert "app:v1 → app:v2" in update.hovertext[0]
    assert figure.layout.yaxis.ticktext == ("web-a", "web-b")


def test_an_in_place_restart_on_the_same_image_gets_its_own_marker():
    restart = trace(viz.timeline(*inplace()), "in-place restart")
    assert (list(restart.x), restart.marker.symbol) == ([3.0], "x")
    assert "web-b</b> / app" in restart.hovertext[0]
    assert restart.y[0] == pytest.approx(1 - 0.15)  # web-b's row, app lane (above the sidecar)


def test_container_segments_are_coloured_by_image_and_hatched_while_not_ready():
    figure = viz.timeline(*inplace())
    colours = viz.image_colors(["app:v1", "app:v2", "proxy:1.20"])
    for image, colour in colours.items():
        assert trace(figure, image).marker.color == colour
    v2 = trace(figure, "app:v2")
    assert list(v2.base) == [2.0, 3.0]
    assert list(v2.x) == [1.0, 1.0]
    assert v2.marker.pattern.shape == ("/", "")


def test_a_replaced_pod_is_a_new_bar_in_the_freed_row_marked_as_a_replacement():
    figure = viz.timeline(*recreate())
    assert names(figure) == ["pod", "replacement pod (new uid)", "app:v1", "app:v2",
                             "pod replaced"]
    replacement = trace(figure, "replacement pod (new uid)")
    assert (list(replacement.y), list(replacement.base)) == ([0], [2.0])
    patterns = (trace(figure, "pod").marker.pattern.shape, replacement.marker.pattern.shape)
    assert patterns == ("", ".")
    marker = trace(figure, "pod replaced")
    assert (list(marker.x), list(marker.y), marker.marker.symbol) == ([2.0], [0], "triangle-right")
    assert "web-c</b> replaced web-a" in marker.hovertext[0]
    assert figure.layout.yaxis.ticktext == ("web-a (replaced ×1)", "web-b")


def test_hover_text_names_pod_container_image_node_and_ip():
    hover = trace(viz.timeline(*recreate()), "app:v2").hovertext[0]
    for part in ("web-c", "app (app)", "image app:v2", "node node-3", "IP 10.0.0.9"):
        assert part in hover


def test_a_surge_pod_next_to_a_running_one_opens_a_new_row():
    pods = frame([pod(t, "web-a", "uid-a", node="n1", ip="1") for t in TIMES]
                 + [pod(t, "web-s", "uid-s", node="n2", ip="2") for t in TIMES[2:]], POD_COLUMNS)
    figure = viz.timeline(pods, None)
    assert list(trace(figure, "pod").y) == [0, 1]
    assert "pod replaced" not in names(figure)


def span(uid, first, gone, *, pod=None, free=None, workload="cloneset/web"):
    """A pod seen from sample ``first`` (at time ``first``) until sample ``gone``."""
    return PodSpan(uid=uid, pod=pod or uid, workload=workload, start=float(first),
                   end=float(gone), gone=float(gone), first=first,
                   free=gone if free is None else free)


@pytest.mark.parametrize(("story", "spans", "rows"), [
    ("two pods side by side get two rows",
     [span("a", 0, 5), span("b", 0, 5)], {"a": (0, 0), "b": (1, 0)}),
    ("a pod created after its predecessor ended takes its row",
     [span("a", 0, 2), span("b", 0, 5), span("c", 2, 5)], {"a": (0, 0), "b": (1, 0), "c": (0, 1)}),
    ("a pod created while its predecessor terminates takes its row",
     [span("a", 0, 4, free=1), span("c", 1, 5)], {"a": (0, 0), "c": (0, 1)}),
    ("pods of one sample never share a row, even one being deleted in it",
     [span("a", 0, 4, free=0), span("b", 0, 5), span("c", 1, 5)],
     {"a": (0, 0), "b": (1, 0), "c": (0, 1)}),
    ("a same-named successor (StatefulSet) takes its namesake's row",
     [span("a", 0, 1, pod="db-0"), span("b", 0, 1, pod="db-1"), span("c", 1, 5, pod="db-1")],
     {"a": (0, 0), "b": (1, 0), "c": (1, 1)}),
    ("workloads never share a row",
     [span("a", 0, 1), span("b", 1, 5, workload="deployment/api")], {"a": (0, 0), "b": (1, 0)}),
])
def test_slot_rows(story, spans, rows):
    placed = {s.uid: (s.row, s.generation) for s in assign_rows(spans)}
    assert placed == rows, story


def test_a_predecessor_bar_ends_where_its_successor_starts():
    placed = {s.uid: s for s in assign_rows([span("a", 0, 4, free=1), span("c", 1, 5)])}
    assert (placed["a"].end, placed["a"].gone, placed["c"].replaces) == (1.0, 4.0, "a")


def test_samples_taken_at_one_time_are_told_apart_by_their_sample_number():
    rows = [(0, 0.0, "web-a", False), (0, 0.0, "web-b", False),
            (1, 0.0, "web-a", True), (1, 0.0, "web-b", False), (1, 0.0, "web-c", False),
            (2, 1.0, "web-b", False), (2, 1.0, "web-c", False)]
    pods = frame([pod(t, name, f"uid-{name}", node="n", ip="", deleting=deleting)
                  for _, t, name, deleting in rows], POD_COLUMNS)
    numbered = viz.timeline(pods.assign(sample=[n for n, *_ in rows]), None)
    assert list(trace(numbered, "replacement pod (new uid)").y) == [0]  # web-c after web-a
    # without sample numbers, one time is one sample: web-c looks like web-a's neighbour
    assert list(trace(viz.timeline(pods, None), "pod").y) == [0, 1, 2]


def test_at_most_max_pods_rows_are_drawn_and_the_subtitle_says_so():
    figure = viz.timeline(*inplace(), max_pods=1)
    assert list(trace(figure, "pod").y) == [0]
    assert figure.layout.yaxis.ticktext == ("web-a",)
    assert "showing 1 of 2 pod slots" in figure.layout.title.subtitle.text
    assert "in-place restart" not in names(figure)
    with pytest.raises(ValueError, match="max_pods must be at least 1"):
        viz.timeline(*inplace(), max_pods=0)


def test_one_workload_can_be_chosen_and_an_unknown_one_gives_an_empty_figure():
    pods, containers = inplace()
    other = pods.assign(workload="deployment/api", uid=pods["uid"] + "-api")
    both = pd.concat([pods, other], ignore_index=True)
    assert list(trace(viz.timeline(both, containers, workload="web"), "pod").y) == [0, 1]
    assert list(trace(viz.timeline(both, containers), "pod").y) == [0, 1, 2, 3]
    empty = viz.timeline(both, containers, workload="nope")
    assert empty.data == () and "nope" in empty.layout.annotations[0].text


def test_without_containers_only_pod_bars_are_drawn():
    assert names(viz.timeline(recreate()[0], None)) == ["pod", "replacement pod (new uid)",
                                                         "pod replaced"]
    assert names(viz.timeline(recreate()[0], recreate()[1].iloc[0:0])) == names(
        viz.timeline(recreate()[0], None))


def test_axes_read_cluster_time_and_pod_slots_top_down():
    layout = viz.timeline(*inplace()).layout
    assert layout.xaxis.title.text == "cluster time (s)"
    assert (layout.yaxis.title.text, layout.yaxis.range) == ("pod slot", (1.5, -0.5))
    assert layout.barmode == "overlay"


def test_fifty_pod_rollouts_read_as_fifty_in_place_updates_or_fifty_replacements():
    in_place = viz.timeline(*rollout(pods=50, samples=14, in_place=True))
    assert "replacement pod (new uid)" not in names(in_place)
    assert len(trace(in_place, "in-place image update").x) == 50
    assert len(in_place.layout.yaxis.tickvals) == 50
    recreated = viz.timeline(*rollout(pods=50, samples=14, in_place=False))
    assert len(trace(recreated, "replacement pod (new uid)").x) == 50
    assert len(trace(recreated, "pod replaced").x) == 50
    assert "in-place image update" not in names(recreated)
    assert len(recreated.layout.yaxis.tickvals) == 50


def test_the_restart_that_starts_the_new_image_belongs_to_the_update():
    pods = frame([pod(t, "web-a", "uid-a", node="n", ip="1") for t in TIMES], POD_COLUMNS)
    # spec image patched at t=1, new container started at t=2, then a crash at t=4
    containers = frame([container(0, "web-a", "uid-a"),
                        container(1, "web-a", "uid-a", image="app:v2", ready=False),
                        container(2, "web-a", "uid-a", image="app:v2", restarts=1),
                        container(3, "web-a", "uid-a", image="app:v2", restarts=1),
                        container(4, "web-a", "uid-a", image="app:v2", restarts=2)],
                       CONTAINER_COLUMNS)
    figure = viz.timeline(pods, containers)
    assert list(trace(figure, "in-place image update").x) == [1.0]
    assert list(trace(figure, "in-place restart").x) == [4.0]
