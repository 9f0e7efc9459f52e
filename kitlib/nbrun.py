"""Run notebooks the kit's way: papermill with kitlib's defaults, and an HTML report.

``run_notebook`` is what ``kitlib run`` and ``kitlib demo`` (and the notebook tests) call:

* **Kernel.** A kernelspec for the *current* interpreter (``ensure_kernel``: ``kitlib-python``,
  whose argv is ``sys.executable -m ipykernel_launcher``, written to ``sys.prefix``'s
  Jupyter data dir, else the user's), so a notebook runs with the environment that runs
  kitlib, whatever ``python3`` kernel the machine has. The kernel logs errors only: its
  warnings (e.g. that it listens on loopback TCP) would clutter a headless run.
* **Parameters.** Values as papermill's ``-p`` reads them (``parse_value``). The notebook's
  ``results`` parameter, when it has one and none is given, is set next to the output
  notebook (``OUT.json`` beside ``OUT.ipynb``). A name the notebook's parameters cell does
  not define is refused (a typo would otherwise run the defaults silently).
* **Timeouts.** Each cell may take ``timeout`` wall seconds.
* **Failures.** A failing cell raises ``NotebookFailed``, carrying the cell's source and its
  error (never papermill's own traceback); the executed notebook, with the kernel's
  traceback, is still written.
* **Working directory.** The kernel runs in the notebook's folder, as in Jupyter; the
  paths given to it (``results``) are made absolute first.
* **Report.** ``html_report`` renders the executed notebook with nbconvert. Plotly figures
  are embedded with plotly.js inline (the report opens offline); the kernel runs with
  ``PLOTLY_RENDERER=plotly_mimetype`` unless the environment says otherwise, so figures
  reach the notebook as plotly JSON, which the report turns into HTML. Widgets keep the
  state nbclient stores; nbconvert's page renders them where it can load the widget
  manager from its CDN.

The notebooks shipped with kitlib are found by ``packaged_notebook``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_TIMEOUT", "KERNEL_NAME", "NotebookFailed", "RunResult", "ensure_kernel",
           "html_report", "packaged_notebook", "parse_value", "run_notebook"]

#: The kernelspec ``ensure_kernel`` writes for the current interpreter.
KERNEL_NAME = "kitlib-python"
#: Wall seconds a cell may run by default.
DEFAULT_TIMEOUT = 600.0
#: Wall seconds a kernel may take to start.
START_TIMEOUT = 120.0
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class NotebookFailed(Exception):
    """A cell of ``notebook`` raised: its source and error, and where the output went."""

    def __init__(self, *, notebook: Path, output: Path, cell_index: int, source: str,
                 ename: str, evalue: str) -> None:
        self.notebook, self.output, self.cell_index = notebook, output, cell_index
        self.source, self.ename, self.evalue = source, ename, evalue
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index >= 0 else "a cell"
        source = "".join(f"    {line}\n" for line in self.source.splitlines())
        return (f"{where} of {self.notebook} failed:\n{source}{self.ename}: {self.evalue}\n"
                f"(the executed notebook, with the traceback, is {self.output})")


@dataclass(frozen=True)
class RunResult:
    """What one run wrote, and how long it took (wall seconds)."""

    notebook: Path
    output: Path
    results: Path | None
    html: Path | None
    seconds: float

    def read_results(self) -> dict[str, Any]:
        """The results JSON the notebook saved (``FileNotFoundError`` if it saved none)."""
        if self.results is None:
            raise FileNotFoundError(f"{self.notebook} has no results parameter")
        data: dict[str, Any] = json.loads(self.results.read_text())
        return data


def parse_value(text: str) -> Any:
    """A ``-p`` value as papermill reads it: ``True``/``False``/``None``, int, float, str."""
    constants = {"True": True, "False": False, "None": None}
    if text in constants:
        return constants[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def ensure_kernel() -> str:
    """The name of a kernelspec that runs ``sys.executable``, written if needed.

    It goes to ``sys.prefix``'s Jupyter data dir (a venv's own), else to the user's; an
    existing spec of that name for another interpreter is overwritten.

    Raises:
        RuntimeError: no writable place makes the name resolve to this interpreter.
    """
    from jupyter_core.paths import jupyter_data_dir

    spec = {"argv": _kernel_argv(),
            "display_name": f"kitlib (Python {sys.version_info.major}.{sys.version_info.minor})",
            "language": "python", "metadata": {"debugger": True}}
    for data_dir in (Path(sys.prefix) / "share" / "jupyter", Path(jupyter_data_dir())):
        if _installed_argv() == spec["argv"]:
            return KERNEL_NAME
        try:
            folder = data_dir / "kernels" / KERNEL_NAME
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        except OSError:
            continue
    if _installed_argv() == spec["argv"]:
        return KERNEL_NAME
    raise RuntimeError(f"cannot install a kernelspec {KERNEL_NAME!r} for {sys.executable} "
                       "($JUPYTER_PATH shadows it, or no data dir is writable): pass a "
                       "kernel name")


def _kernel_argv() -> list[str]:
    """This interpreter's kernel; its log only shows errors (a headless run's stderr)."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--IPKernelApp.log_level=ERROR"]


def _installed_argv() -> list[str] | None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return list(KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv)
    except NoSuchKernel:
        return None


def packaged_notebook(name: str) -> Path:
    """The shipped notebook ``name`` (``"01-tour.ipynb"``), in a checkout or an install.

    Raises:
        FileNotFoundError: kitlib was installed without its notebooks.
    """
    path = Path(str(resources.files("kitlib") / "notebooks" / name))
    if not path.is_file():
        raise FileNotFoundError(f"notebook {name} is not installed with kitlib (looked in "
                                f"{path.parent})")
    return path


def run_notebook(notebook: str | Path, *, parameters: Mapping[str, Any] | None = None,
                 output: str | Path | None = None, results: str | Path | None = None,
                 kernel: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 html: str | Path | None = None, progress: bool = True) -> RunResult:
    """Execute ``notebook`` with papermill and kitlib's defaults (module docstring).

    Args:
        notebook: the ``.ipynb`` to run.
        parameters: injected after its ``parameters`` cell.
        output: the executed notebook (default: ``kitlib-runs/<name>.ipynb`` here).
        results: the ``results`` parameter (default: ``parameters["results"]``, else the
            output's path with ``.json``); ignored for a notebook without one.
        kernel: a kernelspec name (default: ``ensure_kernel()``).
        timeout: wall seconds each cell may take.
        html: also render the executed notebook to this HTML file.
        progress: show papermill's progress bar (on stderr).

    Returns:
        The paths written and the wall time.

    Raises:
        NotebookFailed: a cell raised (or timed out); the output notebook is written.
        FileNotFoundError: no such notebook.
        ValueError: a parameter the notebook does not define.
    """
    import papermill

    source = Path(notebook).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    out = Path(output) if output else Path("kitlib-runs") / source.name
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    values = dict(parameters or {})
    declared = {p["name"] for p in papermill.inspect_notebook(str(source)).values()}
    unknown = sorted(set(values) - declared) if declared else []
    if unknown:
        raise ValueError(f"{source.name} has no parameter {', '.join(unknown)} (it has "
                         f"{', '.join(sorted(declared))})")
    written = None
    if "results" in declared:
        written = Path(results or values.get("results") or out.with_suffix(".json")).resolve()
        written.parent.mkdir(parents=True, exist_ok=True)
        values["results"] = str(written)
    # Wall time is what a notebook run costs: the report states it (no engine clock here).
    started = time.perf_counter()  # noqa: TID251
    with _kernel_env():
        try:
            papermill.execute_notebook(
                str(source), str(out), parameters=values, kernel_name=kernel or ensure_kernel(),
                execution_timeout=timeout, start_timeout=START_TIMEOUT, progress_bar=progress,
                cwd=str(source.parent))
        except papermill.PapermillExecutionError as exc:
            raise NotebookFailed(notebook=source, output=out, cell_index=exc.cell_index,
                                 source=exc.source, ename=exc.ename,
                                 evalue=exc.evalue) from None
        except TimeoutError as exc:  # nbclient's CellTimeoutError: its text shows the cell
            raise NotebookFailed(notebook=source, output=out, cell_index=-1, source="",
                                 ename=type(exc).__name__, evalue=str(exc)) from None
    seconds = time.perf_counter() - started  # noqa: TID251
    report = html_report(out, Path(html)) if html else None
    return RunResult(notebook=source, output=out, results=written, html=report,
                     seconds=seconds)


@contextmanager
def _kernel_env() -> Iterator[None]:
    """The kernel's environment: plotly figures as JSON, unless the user chose otherwise."""
    had = os.environ.get("PLOTLY_RENDERER")
    if had is None:
        os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"
    try:
        yield
    finally:
        if had is None:
            os.environ.pop("PLOTLY_RENDERER", None)


def html_report(executed: str | Path, target: str | Path) -> Path:
    """Render an executed notebook to ``target`` (HTML, plotly.js inline); returns it."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(Path(executed), as_version=4)
    _plotly_to_html(nb)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    path = Path(target).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def _plotly_to_html(nb: Any) -> None:
    """Give every plotly figure output a self-contained ``text/html`` rendering.

    nbconvert's page renders no plotly JSON. The first figure carries plotly.js, loaded
    with AMD's ``define`` hidden: the page may load require.js, and plotly.js would then
    register as an anonymous module instead of ``window.Plotly``.
    """
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    first = True
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            figure = out.get("data", {}).get(PLOTLY_MIME)
            if figure is None:
                continue
            html = pio.to_html(figure, include_plotlyjs=False, full_html=False,
                               validate=False)
            if first:
                html = ("<script>var kitlibDefine = window.define; window.define = undefined;"
                        f"</script>\n<script>{get_plotlyjs()}</script>\n"
                        "<script>window.define = kitlibDefine;</script>\n" + html)
                first = False
            out["data"] = {"text/html": html, "text/plain": out["data"].get("text/plain", "")}
