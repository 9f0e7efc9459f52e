"""Control panels (ipywidgets): rollout, nodes, eviction, clock.

Each panel is an ``ipywidgets.VBox`` acting on one ``Cluster`` handle through the client
layer only, so it works on a real cluster as on the embedded one. What they share
(``_common``): every action runs guarded — its error goes to the panel's visible
``output`` and status line, never lost — and actions that change the cluster are
disabled on a handle without ``allow_writes``, with a tooltip saying how to allow them.
"""

from kitlib.widgets.panels._common import EMBEDDED_ONLY, WRITES_TOOLTIP, Panel
from kitlib.widgets.panels.clock import ClockPanel
from kitlib.widgets.panels.nodes import EvictionPanel, NodePanel
from kitlib.widgets.panels.rollout import RolloutPanel

__all__ = ["EMBEDDED_ONLY", "WRITES_TOOLTIP", "ClockPanel", "EvictionPanel", "NodePanel",
           "Panel", "RolloutPanel"]
