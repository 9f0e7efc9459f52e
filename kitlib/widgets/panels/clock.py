"""``ClockPanel``: the embedded cluster's clock — mode, speed, pause, step, time.

Stepped mode: time moves only when asked; **Step** lets ``step`` cluster seconds pass
(``cluster.sleep``, which returns once every event up to then has run). Paced mode: the
engine runs at ``speed`` × the wall clock; pausing freezes it (and Step still works). The
panel reads the ``Clock`` object on ``refresh()``; setting its controls from what it read
does not write the clock back. A real cluster has no simulated clock: every control is
disabled, with a tooltip saying so.
"""

from __future__ import annotations

import html
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from kitlib.widgets.panels._common import EMBEDDED_ONLY, Panel

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kitlib.client.cluster import Cluster

__all__ = ["ClockPanel"]

MODES = ("stepped", "paced")


class ClockPanel(Panel):
    """Control the embedded cluster's clock.

    Args:
        cluster: the ``Cluster`` handle.
        step: the initial step size, in cluster seconds.

    Attributes:
        mode: stepped / paced ToggleButtons.
        speed: simulated seconds per wall second (paced mode), a log slider.
        paused: pause / resume the clock.
        step_size: cluster seconds one Step lets pass.
        step_button: the Step action.
        readout: the simulated time and mode.
    """

    def __init__(self, cluster: Cluster, *, step: float = 5.0) -> None:
        super().__init__(cluster, title="Clock")
        self._syncing = False
        self.mode = widgets.ToggleButtons(options=MODES, description="mode")
        self.speed = widgets.FloatLogSlider(description="speed ×", base=10, min=0, max=3,
                                            value=20.0, continuous_update=False)
        self.paused = widgets.ToggleButton(description="Pause", value=False,
                                           tooltip="freeze the simulated clock")
        self.step_size = widgets.BoundedFloatText(description="step (s)", value=step,
                                                  min=0.001, max=86400.0)
        self.step_button = self._button("Step", self.step, what="step",
                                        tooltip="let the step's cluster seconds pass")
        self.readout = widgets.HTML()
        self._layout(self.readout, self.mode, self.speed, self.paused,
                     widgets.HBox([self.step_size, self.step_button]))
        self.mode.observe(lambda c: self._set("mode", mode=c["new"]), names="value")
        self.speed.observe(lambda c: self._set("speed", speed=c["new"]), names="value")
        self.paused.observe(lambda c: self._set("pause", paused=c["new"]), names="value")
        self.refresh()

    @property
    def controls(self) -> list[widgets.DOMWidget]:
        """Every control of the clock."""
        return [self.mode, self.speed, self.paused, self.step_size, self.step_button]

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set controls from the clock without writing the clock back."""
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    def _set(self, what: str, **spec: Any) -> None:
        if not self._syncing:
            self.run(what, lambda: self._show(self.cluster.set_clock(**spec)))

    def refresh(self) -> None:
        """Read the clock and show it (nothing to read on a real cluster)."""
        if not self.cluster.embedded:
            self.readout.value = "a real cluster: wall-clock time, no simulated clock"
            for control in self.controls:
                control.disabled, control.tooltip = True, EMBEDDED_ONLY
            return
        self.run("read clock", lambda: self._show(self.cluster.clock()), read=True)

    def _show(self, clock: dict[str, Any]) -> None:
        spec, status = clock["spec"], clock["status"]
        with self._quiet():
            self.mode.value = spec["mode"]
            self.speed.value = float(spec["speed"])
            self.paused.value = bool(spec["paused"])
        stepped = spec["mode"] == "stepped"
        self.paused.description = "Resume" if spec["paused"] else "Pause"
        self.mode.disabled = False
        self.speed.disabled = stepped
        self.paused.disabled = stepped
        self.step_button.disabled = self.step_size.disabled = not (stepped or spec["paused"])
        state = "stepped" if stepped else ("paused" if spec["paused"] else
                                          f"paced ×{float(spec['speed']):g}")
        self.readout.value = (f"<b>t = {float(status['seconds']):.1f} s</b> "
                              f"({html.escape(state)})")

    def step(self) -> float:
        """Let ``step_size`` cluster seconds pass; returns the new cluster time."""
        self.cluster.sleep(float(self.step_size.value))
        now = self.cluster.now()
        self.refresh()
        self.say(f"stepped {self.step_size.value:g} s to t = {now:.1f} s")
        return now
