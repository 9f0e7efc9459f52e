"""compare() and compare_curves(): strategies side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kitlib import viz
from tests.viz.frames import metrics, strategy_runs, workloads


class FakeRecording:
    """Anything with metrics() and a workloads frame stands for a Recording."""

    def __init__(self, table: pd.DataFrame, frame: pd.DataFrame | None = None) -> None:
        self.table = table
        self.workloads = frame

    def metrics(self) -> pd.DataFrame:
        return self.table


def bars(figure, panel):
    """(run name, y, text) of each bar in the panel with this title."""
    titles = [a.text for a in figure.layout.annotations]
    axis = "x" if titles.index(panel) == 0 else f"x{titles.index(panel) + 1}"
    return [(t.name, t.y[0], t.text[0]) for t in figure.data if t.xaxis == axis]


def test_one_panel_per_metric_titled_with_its_unit():
    titles = [a.text for a in viz.compare(strategy_runs()).layout.annotations]
    assert titles == ["time to converge (s)", "pods rescheduled (pods)", "IP changes (count)",
                      "app-container restarts (count)", "image pulled (MB)",
                      "min serving capacity (%)", "mean cache hit rate (%)"]


def test_each_panel_has_one_bar_per_run_in_display_units():
    figure = viz.compare(strategy_runs())
    assert bars(figure, "image pulled (MB)") == [("in-place", 50, "50"), ("recreate", 200, "200"),
                                                 ("deployment", 200, "200")]
    assert bars(figure, "min serving capacity (%)") == [
        ("in-place", 75, "75"), ("recreate", 50, "50"), ("deployment", 50, "50")]
    assert bars(figure, "pods rescheduled (pods)")[0] == ("in-place", 0, "0")


def test_a_run_that_never_converged_says_never_instead_of_a_bar():
    converge = bars(viz.compare(strategy_runs()), "time to converge (s)")
    assert converge[2] == ("deployment", 0, "never")


def test_runs_keep_one_colour_and_one_legend_entry_across_panels():
    figure = viz.compare(strategy_runs())
    in_place = [t for t in figure.data if t.name == "in-place"]
    assert len(in_place) == 7
    assert {t.marker.color for t in in_place} == {viz.PALETTE[0]}
    assert [t.showlegend for t in in_place] == [True] + [False] * 6


def test_recordings_are_read_through_their_metrics_method():
    runs = {name: FakeRecording(table) for name, table in strategy_runs().items()}
    assert viz.compare(runs).to_json() == viz.compare(strategy_runs()).to_json()


def test_a_run_with_several_workloads_combines_them_metric_by_metric():
    both = pd.concat([metrics(converge=30, rescheduled=1, restarts=0, pulled_mb=10,
                              min_capacity=0.8, hit_rate=0.5),
                      metrics(converge=60, rescheduled=2, restarts=0, pulled_mb=20,
                              min_capacity=0.6, hit_rate=0.9, workload="deployment/api")])
    figure = viz.compare({"run": both})
    assert [bars(figure, panel)[0][1] for panel in (
        "time to converge (s)", "pods rescheduled (pods)", "image pulled (MB)",
        "min serving capacity (%)", "mean cache hit rate (%)")] == pytest.approx(
        [60, 3, 30, 60, 70])
    only_api = viz.compare({"run": both}, workload="api", metrics=["time_to_converge"])
    assert only_api.data[0].y[0] == 60


def test_metrics_can_be_chosen_and_an_unknown_one_is_named():
    figure = viz.compare(strategy_runs(), metrics="node_changes")
    assert [a.text for a in figure.layout.annotations] == ["node changes (count)"]
    with pytest.raises(ValueError, match="speedup"):
        viz.compare(strategy_runs(), metrics=["speedup"])


def test_something_that_is_not_a_run_is_refused():
    with pytest.raises(TypeError, match="metrics DataFrames or Recordings"):
        viz.compare({"x": 42})


def test_curves_overlay_runs_from_their_own_start_in_the_run_colours():
    later = workloads().assign(time=lambda f: f["time"] + 100.0)
    figure = viz.compare_curves({"in-place": workloads(), "recreate": later},
                                workload="cloneset/web")
    assert [t.name for t in figure.data] == ["in-place", "recreate"]
    assert list(figure.data[1].x) == [0, 1, 2, 3, 4, 5, 6]
    assert list(figure.data[1].y) == [0, 1, 2, 3, 4, 4, 4]
    assert [t.line.color for t in figure.data] == list(viz.PALETTE[:2])
    assert figure.layout.xaxis.title.text == "time since the run's first sample (s)"
    assert figure.layout.yaxis.title.text == "updated (pods)"


def test_curves_in_cluster_time_and_percent_columns():
    figure = viz.compare_curves({"a": FakeRecording(pd.DataFrame(), workloads())},
                                "capacity", workload="web", relative_time=False)
    assert list(figure.data[0].y) == [100, 75, 25, 50, 100, 100, 100]
    assert figure.layout.yaxis.title.text == "serving capacity (%)"
    assert figure.layout.xaxis.title.text == "cluster time (s)"


def test_curves_of_a_run_with_several_workloads_are_labelled_by_workload():
    names = [t.name for t in viz.compare_curves({"a": workloads()}).data]
    assert names == ["a · cloneset/web", "a · deployment/api"]


def test_nothing_to_compare_gives_empty_figures():
    assert viz.compare({}).data == ()
    assert "no runs" in viz.compare({}).layout.annotations[0].text
    assert viz.compare_curves({"a": workloads().iloc[0:0]}).data == ()
    empty_run = viz.compare({"a": metrics(converge=np.nan, rescheduled=0, restarts=0,
                                          pulled_mb=0, min_capacity=1, hit_rate=1).iloc[0:0]})
    assert [t.text[0] for t in empty_run.data][:2] == ["never", "n/a"]
