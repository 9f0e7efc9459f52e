"""``Dashboard``: the PodBoard, the control panels, the live charts and ``explain``, together.

What drives what:

* the dashboard owns a ``Recorder`` of its namespace; a *tick* samples it, applies the
  board's pending watch deltas (``board.refresh()``), updates the live charts (at most
  ``max_rate`` redraws a second) and refreshes the panels' readouts;
* **stepped** clock: time moves only when asked, so the panels' actions tick — a clock
  Step, Apply/Pause/Resume/Undo, cordon, every pod a drain evicts (a drain advances the
  clock itself), an eviction;
* **paced** clock or a **real** cluster: a task on the kernel's asyncio loop (started when
  one is running, as in Jupyter and Voila) ticks every ``dt`` cluster seconds (at most
  once per ``MIN_TICK_SECONDS`` wall seconds: a very fast clock is sampled less often);
  on a stepped or paused clock it looks every ``POLL_SECONDS`` whether a notebook cell let
  time pass. It redraws the explanation at most every ``EXPLAIN_SECONDS`` wall seconds.

Selecting a pod or a node on the board, or a workload in the rollout panel, shows
``cluster.explain`` for it beside the board; the convergence chart follows the picked
workload. Everything runs on the loop's thread, every error goes to a visible output.
The layout is plain ipywidgets (boxes and a Tab), so it renders in JupyterLab, Notebook 7
and Voila alike. ``close()`` stops the task, the recorder and the board's caches.
"""

from __future__ import annotations

import asyncio
import html
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from kitlib.observe import Recorder
from kitlib.widgets.feed import loop_or_none
from kitlib.widgets.live import LiveCapacity, LiveConvergence
from kitlib.widgets.panels import ClockPanel, EvictionPanel, NodePanel, Panel, RolloutPanel
from kitlib.widgets.panels._common import ok_html, report_error, selected_pod
from kitlib.widgets.podboard import PodBoard

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["Dashboard"]

#: Wall seconds the live task waits between two looks at a stepped or paused clock; at
#: least between two ticks (so a fast paced clock is sampled every ``max(dt, speed ×
#: MIN_TICK_SECONDS)`` cluster seconds); and at least between two redraws of the
#: explanation (``explain`` reads several kinds).
POLL_SECONDS, MIN_TICK_SECONDS, EXPLAIN_SECONDS = 0.25, 0.1, 2.0
#: Panel actions after which the dashboard ticks without redrawing the explanation.
QUIET_ACTIONS = frozenset({"drain progress"})


class Dashboard(widgets.VBox):
    """A live view of one namespace with the controls to act on it.

    Args:
        cluster: the ``Cluster`` handle.
        namespace: the namespace shown and recorded (default: the handle's).
        workloads: the workloads to record and chart (``"cloneset/web"``…); ``None``:
            every workload of the namespace. The first is picked in the rollout panel.
        dt: cluster seconds between samples when time moves on its own (paced, real).
        max_rate: chart redraws per second at most.
        autostart: start the live task now if an asyncio loop is running.

    Attributes:
        board: the ``PodBoard``.
        recorder: the ``kitlib.observe.Recorder`` the charts draw.
        rollout, nodes, eviction: the panels; ``clock`` too on an embedded cluster (else
            None).
        convergence, capacity: the live charts.
        explanation: ``cluster.explain`` of the selected pod or node, or the workload.
        output: errors of the dashboard itself (each panel has its own).

    Raises:
        ValueError: ``dt`` is not positive.
    """

    def __init__(self, cluster: Cluster, *, namespace: str | None = None,
                 workloads: Sequence[str] | None = None, dt: float = 2.0,
                 max_rate: float = 2.0, autostart: bool = True) -> None:
        self._task: asyncio.Task[None] | None = None
        self._closing: list[Callable[[], None]] = []
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        self.cluster, self.dt = cluster, float(dt)
        self.namespace = namespace or cluster.namespace
        self.status = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(max_height="8em", overflow="auto"))
        self.explanation = widgets.HTML()
        self._last_sample = self._last_explained = -math.inf
        self._explaining: tuple[str, str] | None = None
        try:
            self._build(list(workloads) if workloads is not None else None, max_rate)
        except BaseException:
            self._close_parts()
            raise
        super().__init__(self._layout())
        self._connect()
        self.tick(explain=True)
        if autostart:
            self.start()

    # -- building ----------------------------------------------------------------------

    def _build(self, workloads: list[str] | None, max_rate: float) -> None:
        """Make the recorder, the board, the panels and the charts (undone on failure)."""
        self.recorder = Recorder(self.cluster, namespace=self.namespace, workloads=workloads)
        self._closing.append(self.recorder.stop)
        self.board = PodBoard(self.cluster, namespace=self.namespace,
                              layout=widgets.Layout(flex="3 1 0%", min_height="420px"))
        self._closing.append(self.board.close)
        first = workloads[0] if workloads else None
        self.rollout = RolloutPanel(self.cluster, namespace=self.namespace, workload=first)
        self.nodes = NodePanel(self.cluster, board=self.board)
        self.eviction = EvictionPanel(self.cluster, board=self.board)
        self.clock = ClockPanel(self.cluster) if self.cluster.embedded else None
        self.convergence = LiveConvergence(self.recorder, max_rate=max_rate,
                                           workload=self.rollout.picker.value or first)
        self.capacity = LiveCapacity(self.recorder, workloads=workloads, max_rate=max_rate)
        parts: list[widgets.Widget] = [*self.panels, self.convergence, self.capacity]
        self._closing += [part.close for part in parts]

    @property
    def panels(self) -> list[Panel]:
        """The control panels, in tab order."""
        panels: list[Panel] = [self.rollout, self.nodes, self.eviction]
        return panels + ([self.clock] if self.clock is not None else [])

    def _layout(self) -> list[widgets.Widget]:
        title = widgets.HTML(f"<h3 style='margin:0'>kitlib · namespace "
                             f"<code>{html.escape(self.namespace)}</code></h3>")
        side = widgets.VBox([widgets.HTML("<b>Explain</b>"), self.explanation, self.eviction],
                            layout=widgets.Layout(flex="2 1 0%", overflow="auto"))
        controls = [self.rollout, self.nodes] + ([self.clock] if self.clock else [])
        tabs = widgets.Tab(children=controls, titles=[panel.heading for panel in controls])
        charts = widgets.VBox([self.convergence, self.capacity])
        return [title, self.status, widgets.HBox([self.board, side]), tabs, charts,
                self.output]

    def _connect(self) -> None:
        for panel in self.panels:
            panel.on_action(self._after_action)
        self.board.observe(self._on_pod, names="selected_pod")
        self.board.observe(self._on_node, names="selected_node")
        self.rollout.picker.observe(self._on_workload, names="value")

    # -- ticking -----------------------------------------------------------------------

    def tick(self, *, explain: bool = True) -> None:
        """Sample, apply the board's deltas, update the charts, the panels' readouts and
        (unless ``explain=False``; the live loop limits it to every ``EXPLAIN_SECONDS``)
        the explanation."""
        self._run("sample", self._sample)
        self._run("board refresh", self.board.refresh)
        self.convergence.update()
        self.capacity.update()
        self.rollout.refresh()
        self.nodes.refresh()
        if self.clock is not None:
            self.clock.refresh()
        if explain:
            self._last_explained = time.monotonic()
            self._run("explain", self._explain_current)

    def _sample(self) -> None:
        self._last_sample = self.recorder.sample()
        self.status.value = ok_html(f"{self.recorder.samples} samples, last at "
                                    f"t = {self._last_sample:.1f} s")

    def _after_action(self, what: str) -> None:
        self.tick(explain=what not in QUIET_ACTIONS)

    def _run(self, what: str, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:
            report_error(what, exc, status=self.status, output=self.output)

    # -- the live task -----------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Whether the task on the asyncio loop ticks as cluster time passes."""
        return self._task is not None and not self._task.done()

    def start(self) -> bool:
        """Start ticking every ``dt`` cluster seconds on the running loop; whether it
        started (not without a running loop: then call ``tick()`` after time passed)."""
        loop = loop_or_none()
        if loop is None or self.live:
            return self.live
        self._task = loop.create_task(self._follow())
        return True

    async def _follow(self) -> None:
        wait = POLL_SECONDS
        while True:
            await asyncio.sleep(wait)
            if getattr(self.cluster, "closed", False):  # the notebook closed it: stop
                self._task = None
                self.status.value = ok_html("stopped following: the cluster was closed")
                return
            try:
                now, wait = self._clock_reading()
            except Exception as exc:
                report_error("read the clock", exc, status=self.status, output=self.output)
                wait = POLL_SECONDS
                continue
            if now - self._last_sample >= self.dt:
                explain = time.monotonic() - self._last_explained >= EXPLAIN_SECONDS
                self.tick(explain=explain)

    def _clock_reading(self) -> tuple[float, float]:
        """Cluster time now, and the wall seconds until ``dt`` more of it will have passed
        (``POLL_SECONDS`` on a stepped or paused clock, at least ``MIN_TICK_SECONDS``)."""
        if not self.cluster.embedded:
            return self.cluster.now(), self.dt
        clock = self.cluster.clock()
        spec, now = clock["spec"], float(clock["status"]["seconds"])
        if spec["mode"] == "stepped" or spec["paused"]:
            return now, POLL_SECONDS
        return now, max(MIN_TICK_SECONDS, self.dt / float(spec["speed"]))

    def stop(self) -> None:
        """Stop the live task (the widgets stay, showing what they have)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # -- explain -----------------------------------------------------------------------

    def _on_pod(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._run("explain", lambda: self._explain("pod", change["new"]))

    def _on_node(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._run("explain", lambda: self._explain("node", change["new"]))

    def _on_workload(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.convergence.show(change["new"])
            self._run("explain", lambda: self._explain("workload", change["new"]))

    def explain(self, target: str) -> None:
        """Explain ``target`` beside the board from now on (``"cloneset/shop"``,
        ``"pod/namespace/name"`` or ``"pod/name"``, ``"node/node-1"``); every tick
        refreshes it, until a pod or node is selected on the board."""
        kind, _, rest = target.partition("/")
        if kind == "pod":
            self._run("explain", lambda: self._explain(
                "pod", rest if "/" in rest else f"{self.namespace}/{rest}"))
        elif kind == "node":
            self._run("explain", lambda: self._explain("node", rest))
        else:
            self._run("explain", lambda: self._explain("workload", target))

    def _explain(self, kind: str, value: str) -> None:
        self._explaining = (kind, value)
        namespace = self.namespace
        if kind == "pod":
            namespace, name = selected_pod(value)
            target = f"pod/{name}"
        else:
            target = f"node/{value}" if kind == "node" else value
        self.explanation.value = self.cluster.explain(target, namespace)._repr_html_()

    def _explain_current(self) -> None:
        current = self._explaining
        if current is None and self.rollout.picker.value:
            current = ("workload", self.rollout.picker.value)
        if current is not None:
            self._explain(*current)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the live task, the recorder and the board's caches; close the widgets."""
        self.stop()
        self._close_parts()
        super().close()

    def _close_parts(self) -> None:
        closing, self._closing = self._closing, []
        for close in reversed(closing):
            close()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<kitlib.Dashboard namespace={self.namespace!r} "
                f"samples={self.recorder.samples} live={self.live}>")
