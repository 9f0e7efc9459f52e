"""The notebook suite's clock: how long each notebook took under papermill, and in all.

``test_papermill`` adds each run's wall seconds to ``notebook_durations``; the terminal summary
prints them, so every CI log shows the suite's total time (the target is under three
minutes on a 2-core machine).
"""

from __future__ import annotations

from typing import Any

import pytest

DURATIONS: dict[str, float] = {}


@pytest.fixture(scope="session")
def notebook_durations() -> dict[str, float]:
    """Notebook stem → wall seconds of its papermill run (printed at the end)."""
    return DURATIONS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not DURATIONS:
        return
    terminalreporter.section("notebooks under papermill (wall seconds)")
    for name, seconds in sorted(DURATIONS.items()):
        terminalreporter.write_line(f"{seconds:6.1f}  {name}")
    terminalreporter.write_line(f"{sum(DURATIONS.values()):6.1f}  total "
                                f"({len(DURATIONS)} notebooks)")
