"""placement(): pods on nodes, nodes grouped by zone, at one sample."""

from __future__ import annotations

from kitlib import viz
from tests.viz.frames import POD_COLUMNS, frame, nodes, pod, recreate


def pods_traces(figure):
    """The traces that hold pods (the others are legend keys without data)."""
    return [t for t in figure.data if t.hoverinfo != "skip"]


def test_nodes_are_columns_grouped_by_zone_and_labelled_with_their_state():
    figure = viz.placement(recreate()[0], nodes())
    assert figure.layout.xaxis.ticktext == ("node-1", "node-2", "node-3<br>(cordoned)",
                                            "node-4<br>(not ready)")
    zones = [(s.x0, s.x1) for s in figure.layout.shapes if s.fillcolor == "#E3E3E3"]
    assert zones == [(-0.5, 1.5), (1.5, 3.5)]
    assert [a.text for a in figure.layout.annotations] == ["zone a", "zone b"]


def test_pods_of_the_last_sample_stand_on_their_nodes():
    figure = viz.placement(recreate()[0], nodes())
    (web,) = pods_traces(figure)
    assert (web.name, list(web.x), list(web.y)) == ("cloneset/web", [1, 2], [1, 1])
    assert "web-c" in web.hovertext[1] and "IP 10.0.0.9" in web.hovertext[1]
    assert figure.layout.title.text == "Pod placement at t = 4 s"


def test_an_earlier_time_shows_that_sample_and_pod_states_as_symbols():
    figure = viz.placement(recreate()[0], nodes(), time=1.5)
    assert figure.layout.title.text == "Pod placement at t = 1 s"
    (web,) = pods_traces(figure)
    assert list(web.marker.symbol) == ["square-x-open", "square"]  # web-a deleting, web-b ready


def test_colour_by_revision_keeps_colours_of_the_whole_recording():
    late = viz.placement(recreate()[0], nodes(), color_by="revision")
    assert [(t.name, t.marker.color) for t in pods_traces(late)] == [
        ("cloneset/web@rev-1", viz.PALETTE[0]), ("cloneset/web@rev-2", viz.PALETTE[1])]


def test_the_legend_keys_colours_and_pod_states_apart_from_the_data():
    keys = [(t.name, t.marker.symbol, t.showlegend) for t in viz.placement(
        recreate()[0], nodes()).data if t.hoverinfo == "skip"]
    assert keys == [("cloneset/web", "square", None), ("pod ready", "square", None),
                    ("pod not ready", "square-open", None),
                    ("pod deleting", "square-x-open", None)]
    assert [t.showlegend for t in pods_traces(viz.placement(recreate()[0], nodes()))] == [False]


def test_pending_pods_stand_in_an_unscheduled_column_and_nodes_are_optional():
    pods = frame([pod(0, "web-a", "a", node="node-1", ip="1"),
                  pod(0, "web-p", "p", node="", ip="", ready=False)], POD_COLUMNS)
    figure = viz.placement(pods, None)
    assert figure.layout.xaxis.ticktext == ("node-1", "(unscheduled)")
    (web,) = pods_traces(figure)
    assert list(web.x) == [0, 1]
    assert list(web.marker.symbol) == ["square", "square-open"]


def test_no_sample_before_the_time_asked_gives_an_empty_figure():
    figure = viz.placement(recreate()[0], nodes(), time=-1)
    assert figure.data == () and "t = -1 s" in figure.layout.annotations[0].text
