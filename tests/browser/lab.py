"""Driving JupyterLab from Playwright through its own application object.

The server runs with ``--LabApp.expose_app_in_browser=True``, so ``window.jupyterapp`` is
JupyterLab's application: cells are run through its commands (as the menu does) and
outputs read from the notebook model, instead of clicking through menus whose layout
changes between releases.
"""

from __future__ import annotations

from typing import Any

from tests.browser.servers import Server

__all__ = ["open_notebook", "run_cells"]

#: JupyterLab's notebook panel, once its kernel is connected and idle.
_KERNEL_IDLE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = w && w.sessionContext && w.sessionContext.session
        && w.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""

#: Run cells ``indices`` one after the other; return the first error output, or null.
_RUN_CELLS = """async (indices) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    for (const i of indices) {
        panel.content.activeCellIndex = i;
        await app.commands.execute('notebook:run-cell');
        const outputs = panel.content.widgets[i].model.outputs.toJSON();
        const error = outputs.find((o) => o.output_type === 'error');
        if (error) {
            return `cell ${i}: ${error.ename}: ${error.evalue}\\n`
                + (error.traceback || []).join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '');
        }
    }
    return null;
}"""


def open_notebook(page: Any, server: Server, path: str, *, timeout: float = 60.0) -> None:
    """Open ``path`` in JupyterLab and wait until its kernel is connected and idle."""
    page.goto(f"{server.url}lab/tree/{path}?token={server.token}")
    page.wait_for_function(_KERNEL_IDLE, timeout=timeout * 1000)


def run_cells(page: Any, indices: list[int]) -> None:
    """Run the notebook's cells ``indices`` in order (as Shift+Enter does), waiting for
    each; ``AssertionError`` with the traceback when one raises."""
    error = page.evaluate(_RUN_CELLS, indices)
    assert error is None, error
