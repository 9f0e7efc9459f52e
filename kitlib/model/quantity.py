"""Resource quantities (``"500m"``, ``"2Gi"``, ``"1e3"``), as ``resource.Quantity`` parses them.

A quantity is a signed decimal number followed by a suffix: a binary SI one
(``Ki Mi Gi Ti Pi Ei``), a decimal SI one (``n u m "" k M G T P E``) or a decimal
exponent (``e3``, ``E-2``). It is held exactly, as a ``Fraction``, so ``"0.1"``
plus ``"0.2"`` is ``"0.3"``; ``milli_value`` and ``int_value`` round **up**, as
upstream's ``MilliValue()``/``Value()`` do (``"0.5m"`` of cpu is one millicore).

Invalid text raises ``ValueError`` with the API server's wording.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = ["int_value", "milli_value", "parse_quantity"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
            "": Fraction(1), "k": Fraction(10**3), "M": Fraction(10**6),
            "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15),
            "E": Fraction(10**18)}
_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                       r"(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_ERROR = ("quantities must match the regular expression "
          "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def parse_quantity(text: str | int | float) -> Fraction:
    """The exact value of a quantity (plain numbers are accepted as their decimal text)."""
    if isinstance(text, bool):
        raise ValueError(_ERROR)
    if isinstance(text, int | float):
        if isinstance(text, float) and not math.isfinite(text):
            raise ValueError(_ERROR)
        return Fraction(str(text))
    match = _QUANTITY.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(_ERROR)
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * Fraction(10) ** int(suffix[1:])


def milli_value(text: str | int | float) -> int:
    """Thousandths, rounded up: ``"500m"`` → 500, ``"1"`` → 1000 (how cpu is compared)."""
    return math.ceil(parse_quantity(text) * 1000)


def int_value(text: str | int | float) -> int:
    """The value rounded up to an integer: ``"128Mi"`` → 134217728 (bytes, pod counts)."""
    return math.ceil(parse_quantity(text))
