"""SidecarSet ``updateStrategy.scatterStrategy``: the ``*`` expansion and its place in
the upgrade order (after ActivePods order and priority), as tables (upstream
``pkg/controller/sidecarset/sidecarset_strategy.go`` ``SortUpdateIndexes`` /
``parseUpdateScatterTerms`` and ``pkg/util/updatesort/scatter_sort_test.go``)."""

from __future__ import annotations

import pytest

from kitlib.cluster.kruise.sidecarset.upgrade import (
    PodState,
    get_next_upgrade_pods,
    parse_scatter_terms,
)

TERMS = [{"key": "key-1", "value": "value-1"}, {"key": "key-2", "value": "value-2"},
         {"key": "key-3", "value": "value-3"}]


def labelled(*labels: dict[str, str]) -> list[PodState]:
    return [PodState(f"pod-{i}", order=(i,), labels=lab) for i, lab in enumerate(labels)]


def test_plain_scatter_terms_are_kept_as_written() -> None:
    """Given 100 pods with no scatter labels and three plain terms, when the terms are
    parsed, then they come back unchanged (upstream ``sidecarset_strategy_test.go``
    ``TestParseUpdateScatterTerms`` "only scatter terms")."""
    assert parse_scatter_terms(TERMS, labelled(*[{}] * 100)) == TERMS


def test_a_star_term_expands_to_every_value_found_on_the_pods_in_pod_order() -> None:
    """Given pods 0–2 labelled key-4=value-4-0/-1/-2 and pods 3–5 key-4=value-4, when
    {key-4: *} is parsed after three plain terms, then it becomes four terms, one per
    value, in pod order without duplicates (upstream ``sidecarset_strategy_test.go``
    ``TestParseUpdateScatterTerms`` "regular and scatter terms")."""
    values = ["value-4-0", "value-4-1", "value-4-2", "value-4", "value-4", "value-4"]
    pods = labelled(*[{"key-4": v} for v in values], *[{}] * 94)
    assert parse_scatter_terms([*TERMS, {"key": "key-4", "value": "*"}], pods) == [
        *TERMS, *({"key": "key-4", "value": v} for v in values[:4])]


def test_a_star_term_repeating_a_plain_term_adds_no_duplicate() -> None:
    """Given pods labelled zone=a and zone=b, when {zone: a} is followed by {zone: *},
    then zone=a appears once, first (upstream ``insertUpdateScatterTerm``)."""
    pods = labelled({"zone": "b"}, {"zone": "a"}, {})
    assert parse_scatter_terms([{"key": "zone", "value": "a"}, {"key": "zone", "value": "*"}],
                               pods) == [{"key": "zone", "value": "a"},
                                         {"key": "zone", "value": "b"}]


SIX = [{}, {}, {}, {}, {"labelA": "AAA"}, {"labelA": "AAA"}]


@pytest.mark.parametrize(("scatter", "max_unavailable", "expected"), [
    (None, 10, ["pod-0", "pod-1", "pod-2", "pod-3", "pod-4", "pod-5"]),
    ([{"key": "labelA", "value": "AAA"}], 10,
     ["pod-4", "pod-0", "pod-1", "pod-2", "pod-3", "pod-5"]),
    ([{"key": "labelA", "value": "*"}], 10,
     ["pod-4", "pod-0", "pod-1", "pod-2", "pod-3", "pod-5"]),
    ([{"key": "labelA", "value": "AAA"}], 2, ["pod-4", "pod-0"]),
])
def test_scatter_spreads_the_labelled_pods_through_the_upgrade_order(
        scatter: list[dict[str, str]] | None, max_unavailable: int,
        expected: list[str]) -> None:
    """Given six ready pods in ActivePods order pod-0…pod-5, pod-4 and pod-5 labelled
    labelA=AAA, when the next pods are chosen with a scatter on labelA (as a value or
    ``*``), then pod-4 goes first and pod-5 last; maxUnavailable 2 takes the first two
    (upstream ``scatter_sort_test.go`` ``TestScatterPodsByRule`` "even scattered pods +
    even ordinary pods": 4, 0, 1, 2, 3, 5)."""
    strategy = {"maxUnavailable": max_unavailable, "scatterStrategy": scatter}
    assert get_next_upgrade_pods(strategy, labelled(*SIX)) == (expected, [])


def test_star_over_two_values_scatters_by_the_bigger_group_first() -> None:
    """Given pod-0…pod-3 zone=b and pod-4, pod-5 zone=a, in that ActivePods order, when
    upgraded with scatter {zone: *} (→ zone=b, zone=a; the term with more candidates is
    applied first), then zone=b gives 0, 1, 4, 2, 5, 3 and zone=a then gives 4, 0, 1, 2,
    3, 5 (upstream ``scatter_sort.go`` ``getScatterTerms`` / ``scatterPodsByRule``)."""
    pods = labelled(*[{"zone": "b"}] * 4, {"zone": "a"}, {"zone": "a"})
    strategy = {"maxUnavailable": 6, "scatterStrategy": [{"key": "zone", "value": "*"}]}
    assert get_next_upgrade_pods(strategy, pods)[0] == [
        "pod-4", "pod-0", "pod-1", "pod-2", "pod-3", "pod-5"]


def test_scatter_comes_after_active_pods_order_and_priority() -> None:
    """Given six pods, pod-5 not ready (first in ActivePods order), pod-3 with priority
    weight 100, pod-1 and pod-2 labelled labelA=AAA, when sorted with priority then
    scatter and maxUnavailable 6, then priority puts pod-3, pod-5 ahead and the scatter
    then moves pod-1 to the front and holds pod-2 back to the end (upstream
    ``sidecarset_strategy.go`` ``SortUpdateIndexes``)."""
    pods = [PodState(f"pod-{i}", ready=i != 5, order=(i != 5, i),
                     labels={"labelA": "AAA"} if i in (1, 2) else
                     {"hot": "yes"} if i == 3 else {}) for i in range(6)]
    strategy = {"maxUnavailable": 6, "scatterStrategy": [{"key": "labelA", "value": "AAA"}],
                "priorityStrategy": {"weightPriority": [
                    {"weight": 100, "matchSelector": {"matchLabels": {"hot": "yes"}}}]}}
    assert get_next_upgrade_pods(strategy, pods)[0] == [
        "pod-1", "pod-3", "pod-5", "pod-0", "pod-4", "pod-2"]
