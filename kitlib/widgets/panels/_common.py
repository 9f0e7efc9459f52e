"""What every control panel shares: a status line, an error output, guarded actions.

Invariants:

* every action a panel performs runs through ``Panel.run``: an exception never escapes a
  click handler (where ipywidgets would print it to the browser console, or drop it) —
  it is written to the panel's visible ``output`` and its status line, and logged;
* a *destructive* button (one that changes the cluster) is disabled on a handle without
  ``allow_writes``, with a tooltip saying how to allow writes; ``refresh_guards`` applies
  a later change of ``cluster.allow_writes``;
* panels never start threads and never touch widgets from another thread: handlers run
  where ipywidgets calls them (the kernel's loop), and so do ``on_action`` listeners.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as widgets

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["EMBEDDED_ONLY", "WRITES_TOOLTIP", "Panel", "error_html", "ok_html",
           "report_error", "selected_pod"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The tooltip of a destructive button on a read-only handle.
WRITES_TOOLTIP = ("this handle is read-only: connect with kitlib.connect(..., "
                  "allow_writes=True) or set cluster.allow_writes = True to allow changes")
#: The tooltip of a control that only an embedded cluster has, on a real one.
EMBEDDED_ONLY = ("the embedded cluster only: a real cluster has no simulated clock or "
                 "injected faults")
ERROR_COLOUR, OK_COLOUR = "#D55E00", "#009E73"


def ok_html(text: str) -> str:
    """``text`` escaped, as a green status line."""
    return f'<span style="color:{OK_COLOUR}">{html.escape(text)}</span>'


def error_html(text: str) -> str:
    """``text`` escaped, as a vermillion status line."""
    return f'<span style="color:{ERROR_COLOUR}">{html.escape(text)}</span>'


def report_error(what: str, exc: BaseException, *, status: widgets.HTML,
                 output: widgets.Output) -> None:
    """Show ``exc`` on a status line and in an output area (with its type), and log it."""
    message = f"{what} failed: {type(exc).__name__}: {exc}"
    log.warning("%s", message, exc_info=exc)
    status.value = error_html(message)
    output.append_stderr(message + "\n")


def selected_pod(value: str) -> tuple[str, str]:
    """``(namespace, name)`` of a PodBoard selection ``"namespace/name"``.

    Raises:
        ValueError: nothing is selected, or the value is not ``namespace/name``.
    """
    namespace, _, name = value.partition("/")
    if not namespace or not name:
        raise ValueError("select a pod on the board first (click one)")
    return namespace, name


class Panel(widgets.VBox):
    """A box of controls acting on one cluster, with a status line and an error output.

    Subclasses build their controls, then call ``_layout(*rows)``. ``on_action`` lets a
    dashboard react after each action (sample, refresh the board).

    Args:
        cluster: the ``Cluster`` handle.
        title: shown in bold above the controls.
    """

    def __init__(self, cluster: Cluster, *, title: str) -> None:
        self.cluster = cluster
        #: The panel's name (its title, a tab's label).
        self.heading = title
        #: The outcome or error of the last action.
        self.status = widgets.HTML(value="")
        #: Where errors go (with their type), never lost.
        self.output = widgets.Output(layout=widgets.Layout(max_height="10em",
                                                           overflow="auto"))
        self._title = widgets.HTML(value=f"<b>{html.escape(title)}</b>")
        self._guarded: dict[int, tuple[widgets.DOMWidget, str, bool]] = {}
        self._listeners: list[Callable[[str], None]] = []
        super().__init__()

    def _layout(self, *rows: widgets.Widget) -> None:
        self.children = (self._title, *rows, self.status, self.output)

    # -- actions -----------------------------------------------------------------------

    def on_action(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(action)`` after each action (``"apply"``, ``"drain"``…), whether
        it succeeded or not; an error in ``callback`` goes to the output too."""
        self._listeners.append(callback)

    def run(self, what: str, action: Callable[[], T], *, read: bool = False) -> T | None:
        """Run ``action``; on an exception show it (status line, output, log) and return
        None. Unless it only ``read``, listeners hear ``what`` afterwards in both cases."""
        try:
            return action()
        except Exception as exc:
            self.show_error(what, exc)
            return None
        finally:
            if not read:
                self.notify(what)

    def notify(self, what: str) -> None:
        """Tell the listeners that ``what`` happened (their errors are shown, not raised)."""
        for callback in list(self._listeners):
            try:
                callback(what)
            except Exception as exc:
                self.show_error(f"after {what}", exc)

    def show_error(self, what: str, exc: BaseException) -> None:
        """Write ``exc`` to the status line and the output, and log it."""
        report_error(what, exc, status=self.status, output=self.output)

    def say(self, text: str) -> None:
        """Show the outcome of an action on the status line."""
        self.status.value = ok_html(text)

    # -- buttons -----------------------------------------------------------------------

    def _button(self, description: str, handler: Callable[[], Any], *, what: str,
                destructive: bool = False, embedded_only: bool = False, tooltip: str = "",
                style: str = "") -> widgets.Button:
        """A button whose click runs ``handler`` through ``run``; a destructive one is
        guarded (``_guard``)."""
        button = widgets.Button(description=description, tooltip=tooltip, button_style=style)
        button.on_click(lambda _: self.run(what, handler))
        if destructive:
            self._guard(button, tooltip, embedded_only=embedded_only)
        return button

    def _guard(self, control: widgets.DOMWidget, tooltip: str = "", *,
               embedded_only: bool = False) -> None:
        """Disable ``control`` while the handle is read-only, and for good on a real
        cluster when it is ``embedded_only`` (a fault, the clock)."""
        self._guarded[id(control)] = (control, tooltip, embedded_only)
        self._apply_guard(id(control))

    def _apply_guard(self, key: int) -> None:
        control, tooltip, embedded_only = self._guarded[key]
        if embedded_only and not self.cluster.embedded:
            control.disabled, control.tooltip = True, EMBEDDED_ONLY
        elif not self.cluster.allow_writes:
            control.disabled, control.tooltip = True, WRITES_TOOLTIP
        else:
            control.disabled, control.tooltip = False, tooltip

    def refresh_guards(self) -> None:
        """Enable or disable the destructive controls after ``cluster.allow_writes`` changed."""
        for key in self._guarded:
            self._apply_guard(key)

    @property
    def destructive(self) -> list[widgets.DOMWidget]:
        """The controls that change the cluster (disabled on a read-only handle)."""
        return [control for control, _, _ in self._guarded.values()]
