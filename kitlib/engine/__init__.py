"""The deterministic core: clock, event heap, seeded RNG, work queue, reconcile runner."""

from .loop import Engine, Priority, Timer
from .paced import PacedClock
from .runner import Result, Runner, TerminalError
from .workqueue import RateLimit, WorkQueue

__all__ = [
    "Engine",
    "PacedClock",
    "Priority",
    "RateLimit",
    "Result",
    "Runner",
    "TerminalError",
    "Timer",
    "WorkQueue",
]
