"""Resource quantities parse exactly as ``resource.Quantity`` does, and round up."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kitlib.model.quantity import int_value, milli_value, parse_quantity


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Fraction(1, 2)),
    ("1", 1),
    ("2Gi", 2 * 1024**3),
    ("128Mi", 128 * 1024**2),
    ("1Ki", 1024),
    ("1e3", 1000),
    ("1E-3", Fraction(1, 1000)),
    ("1k", 1000),
    ("2M", 2_000_000),
    ("1.5Gi", 3 * 1024**3 // 2),
    ("0.1", Fraction(1, 10)),
    (".5", Fraction(1, 2)),
    ("5.", 5),
    ("+3", 3),
    ("-1", -1),
    ("100n", Fraction(1, 10_000_000)),
    ("250u", Fraction(1, 4000)),
    (" 2 ", 2),
    (4, 4),
    (0.25, Fraction(1, 4)),
])
def test_a_quantity_parses_to_its_exact_value(text: str | int | float, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "m", "Gi", "1.2.3", "1Kb", "1 Gi", "abc", "1e", "1ki",
                                  "1e3Mi"])
def test_malformed_quantities_are_rejected_with_the_api_servers_message(text: str) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        parse_quantity(text)


def test_booleans_and_non_finite_numbers_are_not_quantities() -> None:
    for value in (True, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            parse_quantity(value)


def test_milli_and_integer_values_round_up_like_upstream() -> None:
    assert [milli_value(q) for q in ("500m", "1", "0.5m", "2.0001", "100n")] == \
        [500, 1000, 1, 2001, 1]
    assert [int_value(q) for q in ("128Mi", "1.5", "500m", "1e3", "-1.5")] == \
        [134_217_728, 2, 1, 1000, -1]
