"""Driving JupyterLab from Playwright through its own application object.

The server runs with ``--LabApp.expose_app_in_browser=True``, so ``window.jupyterapp`` is
JupyterLab's application: cells are run through its commands (as the menu does) and
outputs read from the notebook model, instead of clicking through menus whose layout
changes between releases.
"""

from __future__ import annotations

from typing import Any

from tests.browser.servers import Server

__all__ = ["fit_notebook", "notebook_problems", "open_notebook", "run_all", "run_cells"]

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


def open_notebook(page: Any, server: Server, path: str, *, timeout: float = 60.0,
                  reset: bool = False) -> None:
    """Open ``path`` in JupyterLab and wait until its kernel is connected and idle;
    ``reset``: in an empty workspace (notebooks opened before are not reopened, so their
    kernels are not started again)."""
    query = "reset&" if reset else ""
    page.goto(f"{server.url}lab/tree/{path}?{query}token={server.token}")
    page.wait_for_function(_KERNEL_IDLE, timeout=timeout * 1000)


def run_cells(page: Any, indices: list[int]) -> None:
    """Run the notebook's cells ``indices`` in order (as Shift+Enter does), waiting for
    each; ``AssertionError`` with the traceback when one raises."""
    error = page.evaluate(_RUN_CELLS, indices)
    assert error is None, error


#: Run every cell (as Run > Run All Cells does) and wait for the last one; a string when
#: it did not finish within ``ms`` milliseconds.
_RUN_ALL = """async (ms) => {
    const app = window.jupyterapp;
    let timer;
    const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve(`cells still running after ${ms / 1000} s`), ms);
    });
    const done = app.commands.execute('notebook:run-all-cells').then(() => null);
    try {
        return await Promise.race([done, late]);
    } finally {
        clearTimeout(timer);
    }
}"""

#: What went wrong in the open notebook's outputs: error outputs, tracebacks on stderr,
#: widgets that failed to render, code cells that never ran.
_PROBLEMS = """() => {
    const strip = (s) => s.replace(/\\u001b\\[[0-9;]*m/g, '');
    const panel = window.jupyterapp.shell.currentWidget;
    const problems = [];
    panel.content.widgets.forEach((cell, i) => {
        if (cell.model.type !== 'code') return;
        if (cell.model.executionCount === null) problems.push(`cell ${i}: did not run`);
        for (const o of cell.model.outputs.toJSON()) {
            if (o.output_type === 'error') {
                problems.push(`cell ${i}: ${o.ename}: ${o.evalue}\\n`
                    + strip((o.traceback || []).join('\\n')));
            } else if (o.output_type === 'stream' && o.name === 'stderr') {
                const text = Array.isArray(o.text) ? o.text.join('') : o.text;
                if (/Traceback|Error:/.test(text)) problems.push(`cell ${i}: stderr: ${text}`);
            }
        }
        const sel = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
        for (const el of cell.node.querySelectorAll(sel)) {
            if (el.innerText.includes('Traceback')) {
                problems.push(`cell ${i}: traceback shown: ${el.innerText.slice(0, 2000)}`);
            }
        }
        for (const el of cell.node.querySelectorAll('.jp-OutputArea-output')) {
            const text = el.innerText || '';
            if (/Error displaying widget|Error rendering|Failed to load model class/.test(text)) {
                problems.push(`cell ${i}: widget failed: ${text.slice(0, 500)}`);
            }
        }
    });
    return problems;
}"""


def run_all(page: Any, *, timeout: float = 120.0) -> None:
    """Run every cell of the open notebook (Run All) and wait until the last has finished
    and the kernel is idle; ``AssertionError`` if that takes longer than ``timeout``
    seconds. Errors are not raised here: read them with ``notebook_problems``."""
    late = page.evaluate(_RUN_ALL, int(timeout * 1000))
    assert late is None, late
    page.wait_for_function(_KERNEL_IDLE, timeout=30_000)


def notebook_problems(page: Any) -> list[str]:
    """Error outputs, stderr tracebacks, failed widgets and cells that never ran, one
    string each (empty: the notebook ran clean)."""
    return list(page.evaluate(_PROBLEMS))


def fit_notebook(page: Any, *, max_height: int = 16000) -> int:
    """Collapse the side bars and make the viewport as tall as the notebook (at most
    ``max_height`` px), so one screenshot shows every cell; returns the height used."""
    page.evaluate("() => { const s = window.jupyterapp.shell; s.collapseLeft();"
                  " s.collapseRight(); }")
    height = int(page.evaluate(
        "() => { const n = window.jupyterapp.shell.currentWidget.content.node;"
        " const cells = n.querySelectorAll('.jp-Cell');"
        " if (!cells.length) return n.scrollHeight;"
        " return cells[cells.length - 1].getBoundingClientRect().bottom"
        " - cells[0].getBoundingClientRect().top + n.getBoundingClientRect().top; }"))
    size = page.viewport_size or {"width": 1400, "height": 1000}
    fitted = max(size["height"], min(height + 250, max_height))
    page.set_viewport_size({"width": size["width"], "height": fitted})
    page.evaluate("() => { const n = window.jupyterapp.shell.currentWidget.content.node;"
                  " for (const e of [n, ...n.querySelectorAll('.jp-WindowedPanel-outer')])"
                  " e.scrollTop = 0; }")
    return fitted
