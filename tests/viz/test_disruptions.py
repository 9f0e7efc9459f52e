"""disruptions(): eviction attempts allowed vs refused, with reasons."""

from __future__ import annotations

from kitlib import viz
from tests.viz.frames import disruption_attempts


def test_allowed_and_refused_attempts_are_cumulative_steps():
    figure = viz.disruptions(disruption_attempts())
    allowed, refused = figure.data
    assert (allowed.name, list(allowed.x), list(allowed.y)) == ("allowed", [1.0, 4.0], [1, 2])
    assert (refused.name, list(refused.x), list(refused.y)) == ("refused", [2.0, 3.0], [1, 2])
    assert (allowed.marker.symbol, refused.marker.symbol) == ("circle", "x")
    assert figure.layout.xaxis.title.text == "cluster time (s)"
    assert figure.layout.yaxis.title.text == "eviction attempts (cumulative)"


def test_hover_gives_the_pod_node_source_and_refusal_reason():
    refused = viz.disruptions(disruption_attempts()).data[1]
    assert "default/web-b</b> refused at 2 s" in refused.hovertext[0]
    assert "node node-1" in refused.hovertext[0] and "via drain" in refused.hovertext[0]
    assert "reason: PDB web allows 0 disruptions (needs 3 healthy, has 3)" in refused.hovertext[0]


def test_both_outcomes_stay_in_the_legend_even_when_one_never_happened():
    only_allowed = disruption_attempts().query("allowed")
    assert [(t.name, len(t.x)) for t in viz.disruptions(only_allowed).data] == [
        ("allowed", 2), ("refused", 0)]


def test_attempts_can_be_narrowed_to_one_workload():
    assert len(viz.disruptions(disruption_attempts(), workload="web").data[1].x) == 2
    assert viz.disruptions(disruption_attempts(), workload="api").data == ()
