"""The pure parts of ``explain``: the rounding sentence, merged pod findings, rendering."""

from __future__ import annotations

import pytest

from kitlib.client.explain import Explanation, Finding
from kitlib.client.explain.model import merge_by_pod
from kitlib.client.explain.workloads import scaled_text


@pytest.mark.parametrize(("raw", "total", "value", "up", "text"), [
    ("10%", 4, 1, True, "maxUnavailable 10% of 4 rounds up to 1"),
    ("25%", 3, 0, False, "maxUnavailable 25% of 3 rounds down to 0"),
    ("50%", 4, 2, True, "maxUnavailable 50% of 4 is 2"),
    (2, 4, 2, True, "maxUnavailable 2"),
    (None, 4, 1, True, "maxUnavailable 20% (the default) of 4 rounds up to 1"),
])
def test_scaled_text_says_how_a_percentage_rounds(raw: object, total: int, value: int,
                                                  up: bool, text: str) -> None:
    assert scaled_text("maxUnavailable", raw, total, value, round_up=up, default="20%") == text


def test_a_partition_percentage_below_100_keeps_one_pod_to_update() -> None:
    assert scaled_text("partition", "99%", 5, 4, round_up=True) == (
        "partition 99% of 5 rounds up to 5, and a percentage below 100% keeps at most 4")


def test_pods_with_the_same_problem_share_one_finding() -> None:
    def pending(name: str) -> tuple[Finding, str]:
        return Finding("not-ready", "waiting", f"pod {name} is not ready (Running: x)"), name

    merged = merge_by_pod([pending("a-1"), pending("a-2"), pending("a-3"), pending("a-4"),
                           (Finding("crash-loop", "error", "container app of pod b is "
                                                            "crash-looping"), "b")])
    assert [f.message for f in merged] == [
        "4 pods (a-1, a-2, a-3 and 1 more) are not ready (Running: x)",
        "container app of pod b is crash-looping"]


def test_an_explanation_renders_as_text_and_escaped_html() -> None:
    explanation = Explanation("pod/x", "pod x <pending>", [
        Finding("unschedulable", "blocked", "pod x pending: 0/1 nodes <ok>", "add nodes"),
        Finding("eviction-refused", "info", "fine")])
    assert explanation.severity == "blocked" and explanation.codes == [
        "unschedulable", "eviction-refused"]
    assert str(explanation) == ("pod/x: pod x <pending>\n"
                                "  [blocked] pod x pending: 0/1 nodes <ok>\n"
                                "      → add nodes\n"
                                "  [info] fine")
    html = explanation._repr_html_()
    assert "&lt;ok&gt;" in html and "<ok>" not in html
    assert Explanation("node/n", "ok").severity == "info"
