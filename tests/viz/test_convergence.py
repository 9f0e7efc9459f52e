"""convergence() and capacity(): the counts, the budget step and the shaded excess."""

from __future__ import annotations

import pandas as pd
import pytest

from kitlib import viz
from tests.viz.frames import workloads


def trace(figure, name):
    (found,) = [t for t in figure.data if t.name == name]
    return found


def test_convergence_draws_every_count_as_a_step_in_cluster_time():
    figure = viz.convergence(workloads(), workload="cloneset/web")
    assert [t.name for t in figure.data] == ["desired", "updated", "ready", "available",
                                             "unavailable", "maxUnavailable budget"]
    assert list(trace(figure, "updated").x) == [0, 1, 2, 3, 4, 5, 6]
    assert list(trace(figure, "updated").y) == [0, 1, 2, 3, 4, 4, 4]
    assert list(trace(figure, "desired").y) == [4] * 7
    assert {t.line.shape for t in figure.data} == {"hv"}
    assert figure.layout.xaxis.title.text == "cluster time (s)"
    assert figure.layout.yaxis.title.text == "pods"
    assert figure.layout.title.text == "Convergence of cloneset/web"


def test_budget_is_a_dashed_step_that_follows_max_unavailable_as_it_changes():
    budget = trace(viz.convergence(workloads(), workload="web"), "maxUnavailable budget")
    assert list(budget.y) == [1, 1, 1, 1, 2, 2, 2]
    assert budget.line.dash == "dash"


def test_stretch_where_unavailable_exceeds_the_budget_is_shaded_until_the_next_sample():
    shapes = viz.convergence(workloads(), workload="web").layout.shapes
    assert [(s.x0, s.x1, s.name) for s in shapes] == [(2.0, 4.0, "budget exceeded")]
    assert shapes[0].showlegend is True


def test_a_workload_within_its_budget_has_no_shading():
    assert viz.convergence(workloads(), workload="deployment/api").layout.shapes == ()


def test_first_recorded_workload_is_drawn_by_default_and_a_title_can_be_given():
    figure = viz.convergence(workloads(), title="Rollout of web")
    assert figure.layout.title.text == "Rollout of web"
    assert list(trace(figure, "unavailable").y) == [0, 1, 3, 2, 0, 0, 0]


def test_no_budget_trace_when_the_kind_has_none():
    frame = workloads().assign(max_unavailable=float("nan"))
    assert "maxUnavailable budget" not in [t.name for t in viz.convergence(frame).data]


def test_unknown_workload_gives_an_empty_figure_that_lists_the_recorded_ones():
    figure = viz.convergence(workloads(), workload="cloneset/nope")
    assert figure.data == ()
    assert "cloneset/web, deployment/api" in figure.layout.annotations[0].text


def test_a_bare_name_matching_two_kinds_asks_for_the_full_name():
    frame = pd.concat([workloads(), workloads().assign(workload="deployment/web")])
    with pytest.raises(ValueError, match="pass the full name"):
        viz.convergence(frame, workload="web")


def test_a_frame_without_schema_columns_says_which_are_missing():
    with pytest.raises(ValueError, match=r"max_unavailable.*Recording\.workloads"):
        viz.convergence(workloads().drop(columns=["max_unavailable"]))


def test_capacity_draws_each_workload_in_percent_in_both_panels_with_one_legend_entry():
    figure = viz.capacity(workloads())
    names = [(t.name, t.yaxis, t.showlegend) for t in figure.data]
    assert names == [("cloneset/web", "y", True), ("cloneset/web", "y2", False),
                     ("deployment/api", "y", True), ("deployment/api", "y2", False)]
    web_capacity, web_hits = figure.data[0], figure.data[1]
    assert list(web_capacity.y) == [100, 75, 25, 50, 100, 100, 100]
    assert list(web_hits.y) == pytest.approx([90, 70, 30, 40, 60, 80, 90])
    assert web_capacity.line.color == web_hits.line.color != figure.data[2].line.color
    assert figure.layout.yaxis.title.text == "serving capacity (%)"
    assert figure.layout.yaxis2.title.text == "cache hit rate (%)"
    assert figure.layout.xaxis2.title.text == "cluster time (s)"


def test_capacity_has_a_reference_line_at_100_percent():
    (line,) = [s for s in viz.capacity(workloads()).layout.shapes if s.type == "line"]
    assert (line.y0, line.y1, line.yref) == (100, 100, "y")


def test_capacity_shows_only_the_workloads_asked_for():
    figure = viz.capacity(workloads(), workloads_to_show=["api"])
    assert {t.name for t in figure.data} == {"deployment/api"}
    assert viz.capacity(workloads(), workloads_to_show=["nope"]).data == ()
    assert {t.name for t in viz.capacity(workloads(), workloads_to_show="web").data} == {
        "cloneset/web"}
