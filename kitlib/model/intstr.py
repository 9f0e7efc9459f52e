"""Int-or-percent values (``maxUnavailable: 10%``) scaled against a total.

Rounding is always explicit: Kubernetes rounds up for PDBs and maxSurge and
down for a Deployment's maxUnavailable, and mixing them up changes how many pods
move at once. The float arithmetic mirrors upstream (``ceil(pct * total / 100)``
computed in float64), so results match to the pod.
"""

from __future__ import annotations

import math

from .errors import Invalid

__all__ = ["IntOrStr", "is_percent", "parse_percent", "scaled_value"]

IntOrStr = int | str


def is_percent(value: IntOrStr | None) -> bool:
    return isinstance(value, str) and value.endswith("%")


def parse_percent(value: str, *, field: str = "value") -> int:
    """The integer before ``%``; anything else is an ``Invalid`` error naming ``field``."""
    if not value.endswith("%"):
        raise Invalid(f'{field}: Invalid value: "{value}": a percentage must end with "%"; '
                      'use an integer like 1 or a percentage like "10%"')
    try:
        return int(value[:-1])
    except ValueError:
        raise Invalid(f'{field}: Invalid value: "{value}": expected an integer before "%"') from None


def scaled_value(value: IntOrStr | None, total: int, *, round_up: bool,
                 field: str = "value", default: int = 0) -> int:
    """Resolve ``value`` against ``total``.

    Integers are returned unchanged (not clamped to ``total``, as upstream);
    percentages scale ``total`` and round up or down as asked.
    """
    if value is None:
        return default
    if isinstance(value, bool):
        raise Invalid(f"{field}: Invalid value: {value!r}: expected an integer or a percentage")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and not value.endswith("%"):
        try:
            return int(value)
        except ValueError:
            pass
    pct = parse_percent(str(value), field=field)
    scaled = float(pct) * float(total) / 100.0
    return math.ceil(scaled) if round_up else math.floor(scaled)
