"""Live charts: plotly ``FigureWidget``s that extend as a ``Recorder`` samples.

``LiveConvergence`` and ``LiveCapacity`` draw with the static builders
(``kitlib.viz.convergence`` / ``kitlib.viz.capacity``) from the recorder's ``workloads``
frame (``workloads_frame``),
so a live chart looks exactly like the figure a notebook draws after the fact. Each
update rebuilds that figure and copies it into the widget inside one
``figure.batch_update()`` (one message to the browser): trace data in place when the
traces are the same (the x-axis zoom survives), everything when they changed (the first
samples, a new workload).

Rate: ``update()`` applies at most ``max_rate`` times a wall second; a request inside the
interval is *coalesced* — marked pending and applied once when the interval ends, by a
timer on the running asyncio loop (the kernel's), or by the next ``update()``/``flush()``
where there is no loop (scripts, tests, stepped mode). ``start()`` runs a task on the
loop that updates whenever the recorder has new samples; a dashboard calls ``update()``
after it samples instead. Everything here runs on the loop's thread: no widget is touched
from a background thread, and an error while updating is shown in the chart's ``output``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import plotly.graph_objects as go

from kitlib.viz import capacity, convergence
from kitlib.widgets.feed import loop_or_none

if TYPE_CHECKING:
    import pandas as pd

    from kitlib.observe import Recorder

__all__ = ["LiveCapacity", "LiveConvergence", "sync_figure", "workloads_frame"]

log = logging.getLogger(__name__)


def workloads_frame(recorder: Recorder) -> pd.DataFrame:
    """The recorder's ``workloads`` frame so far, without building the other frames
    (``Recorder.frame``); an object without it (a stand-in) is read through ``recording``."""
    frame = getattr(recorder, "frame", None)
    if frame is None:
        return recorder.recording.workloads
    return frame("workloads")


def _signature(data: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [(t.type, t.name, getattr(t, "xaxis", None), getattr(t, "yaxis", None))
            for t in data]


def sync_figure(figure: go.FigureWidget, new: go.Figure) -> None:
    """Make ``figure`` show ``new`` in one batch: data in place when the traces match
    (same type, name and axes, in order), else every trace and the layout replaced."""
    with figure.batch_update():
        if _signature(figure.data) != _signature(new.data):
            figure.data = ()
            figure.add_traces(list(new.data))
            figure.layout = new.layout
        else:
            _copy_in_place(figure, new)
    _publish_state(figure)


def _copy_in_place(figure: go.FigureWidget, new: go.Figure) -> None:
    for trace, fresh in zip(figure.data, new.data, strict=True):
        trace.x, trace.y = fresh.x, fresh.y
    figure.layout.shapes = new.layout.shapes
    figure.layout.annotations = new.layout.annotations
    figure.layout.title = new.layout.title
    for axis in (key for key in new.layout.to_plotly_json() if key.startswith("yaxis")):
        figure.layout[axis] = new.layout[axis]


def _publish_state(figure: go.FigureWidget) -> None:
    """Refresh the state a *new* view of ``figure`` starts from.

    Edits reach existing views as messages; a view made later (Voila connects after the
    notebook ran; a reloaded page) starts from the ``_widget_data``/``_widget_layout``
    traits, which plotly refreshes only in ``FigureWidget._repr_mimebundle_`` — never
    called for a figure inside a Box. Without this, such a view shows the first figure
    and the later in-place edits miss it.
    """
    figure._widget_layout = copy.deepcopy(figure._layout_obj._props)
    figure._widget_data = copy.deepcopy(figure._data)


class _LiveFigure(widgets.VBox):
    """A FigureWidget redrawn from the recorder's workloads frame at a bounded rate."""

    def __init__(self, recorder: Recorder, *, max_rate: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        if not max_rate > 0:
            raise ValueError(f"max_rate must be positive, got {max_rate}")
        self.recorder = recorder
        self.max_rate = float(max_rate)
        self._clock = clock
        self._last = -math.inf
        self._pending = False
        #: Updates asked for (``update``) and updates applied to the figure.
        self.requested = self.applied = 0
        #: Errors met while updating, visible under the chart.
        self.output = widgets.Output()
        self.figure = go.FigureWidget(self._draw(workloads_frame(recorder)))
        self._samples = recorder.samples
        super().__init__([self.figure, self.output])

    def _draw(self, workloads: pd.DataFrame) -> go.Figure:
        raise NotImplementedError

    # -- updating ----------------------------------------------------------------------

    def update(self, *, force: bool = False) -> bool:
        """Redraw from the recording now, unless the last redraw was less than
        ``1 / max_rate`` s ago (then it is coalesced: see the module docstring).

        Args:
            force: redraw now whatever the rate.

        Returns:
            Whether the figure was redrawn now.
        """
        self.requested += 1
        wait = self._last + 1.0 / self.max_rate - self._clock()
        if wait > 0 and not force:
            self._pending = True
            self._schedule(wait)
            return False
        self._redraw()
        return True

    def flush(self) -> bool:
        """Apply a coalesced update now (rate or not); whether there was one."""
        if not self._pending:
            return False
        self._redraw()
        return True

    @property
    def pending(self) -> bool:
        """Whether a coalesced update waits to be applied."""
        return self._pending

    def _redraw(self) -> None:
        self._pending = False
        self._last = self._clock()
        self.applied += 1
        try:
            self._samples = self.recorder.samples
            sync_figure(self.figure, self._draw(workloads_frame(self.recorder)))
        except Exception as exc:  # shown under the chart, never lost
            log.warning("a live chart update failed", exc_info=exc)
            self.output.append_stderr(f"chart update failed: {type(exc).__name__}: {exc}\n")

    def _schedule(self, wait: float) -> None:
        loop = loop_or_none()
        if loop is None or self._timer is not None:
            return
        self._timer = loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    # -- following the recorder on the loop -------------------------------------------

    def start(self) -> None:
        """Follow the recorder: a task on the running loop redraws when it has new
        samples (at most ``max_rate`` times a second).

        Raises:
            RuntimeError: there is no running asyncio loop (call ``update()`` instead).
        """
        loop = loop_or_none()
        if loop is None:
            raise RuntimeError("no running asyncio loop: call update() after sampling")
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            if self.recorder.samples != self._samples:
                self.update()
            await asyncio.sleep(1.0 / self.max_rate)

    def stop(self) -> None:
        """Stop following the recorder and drop a pending timer."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Stop, then close the widgets (the figure and the output)."""
        self.stop()
        for child in self.children:
            child.close()
        super().close()


class LiveConvergence(_LiveFigure):
    """``kitlib.viz.convergence`` of one workload, live.

    Args:
        recorder: the ``kitlib.observe.Recorder`` whose samples are drawn.
        workload: the workload (``"cloneset/web"`` or bare ``"web"``); ``None``: the first
            recorded one. ``show()`` switches it.
        max_rate: redraws per second at most.
        clock: wall-clock seconds (injected in tests).

    Attributes:
        figure: the ``plotly.graph_objects.FigureWidget``.
    """

    def __init__(self, recorder: Recorder, *, workload: str | None = None,
                 max_rate: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.workload = workload
        super().__init__(recorder, max_rate=max_rate, clock=clock)

    def _draw(self, workloads: pd.DataFrame) -> go.Figure:
        return convergence(workloads, workload=self.workload)

    def show(self, workload: str | None) -> None:
        """Draw ``workload`` from now on (redrawn at once)."""
        self.workload = workload
        self.update(force=True)


class LiveCapacity(_LiveFigure):
    """``kitlib.viz.capacity`` (serving capacity and cache hit rate per workload), live.

    Args:
        recorder: the ``kitlib.observe.Recorder`` whose samples are drawn.
        workloads: the workloads to draw (full or bare names); ``None``: all recorded.
        max_rate: redraws per second at most.
        clock: wall-clock seconds (injected in tests).

    Attributes:
        figure: the ``plotly.graph_objects.FigureWidget``.
    """

    def __init__(self, recorder: Recorder, *, workloads: Sequence[str] | None = None,
                 max_rate: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.workloads = None if workloads is None else list(workloads)
        super().__init__(recorder, max_rate=max_rate, clock=clock)

    def _draw(self, workloads: pd.DataFrame) -> go.Figure:
        return capacity(workloads, workloads_to_show=self.workloads)
