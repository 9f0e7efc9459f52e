"""Jupyter widgets: the live ``PodBoard``, the control panels, the live charts and the
``Dashboard`` that combines them.

Widgets sit on top of the library (``kitlib.client``, ``kitlib.observe``, ``kitlib.viz``)
and speak only the Kubernetes API, so they show a real cluster the same way as the
embedded one. Live updates run on the kernel's asyncio loop: watch threads only fill a
``DeltaFeed``; no trait is ever set from a background thread.
"""

from kitlib.widgets.dashboard import Dashboard
from kitlib.widgets.feed import DeltaFeed
from kitlib.widgets.live import LiveCapacity, LiveConvergence
from kitlib.widgets.panels import ClockPanel, EvictionPanel, NodePanel, RolloutPanel
from kitlib.widgets.podboard import PodBoard

__all__ = ["ClockPanel", "Dashboard", "DeltaFeed", "EvictionPanel", "LiveCapacity",
           "LiveConvergence", "NodePanel", "PodBoard", "RolloutPanel"]
