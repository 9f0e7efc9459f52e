"""OpenKruise feature gates: upstream defaults, settable as kruise-manager's flag reads them."""

from __future__ import annotations

import pytest

from kitlib.cluster.kruise.kinds import FeatureGates, parse_feature_gates


def test_gates_default_to_upstream_values() -> None:
    gates = FeatureGates()
    assert gates.CloneSetPartitionRollback is False
    assert gates.PodUnavailableBudgetDeleteGate is True
    assert gates.PodUnavailableBudgetUpdateGate is False


def test_the_flag_syntax_sets_gates_over_the_defaults() -> None:
    gates = parse_feature_gates("CloneSetPartitionRollback=true, PodUnavailableBudgetDeleteGate=false")
    assert gates.CloneSetPartitionRollback is True
    assert gates.PodUnavailableBudgetDeleteGate is False
    assert gates.CloneSetShortHash is False
    assert parse_feature_gates("") == FeatureGates()


@pytest.mark.parametrize(("text", "problem"), [
    ("NoSuchGate=true", "unknown feature gate 'NoSuchGate'"),
    ("CloneSetShortHash", "needs =true or =false"),
    ("CloneSetShortHash=yes", "needs =true or =false"),
])
def test_bad_gates_are_refused_with_what_to_fix(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_feature_gates(text)
