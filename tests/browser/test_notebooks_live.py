"""Every notebook in ``notebooks/``, run in live mode in JupyterLab, in chromium.

For each ``notebooks/*.ipynb`` (found when the tests are collected) a copy goes into the
private JupyterLab's root with one change: the ``parameters`` cell's ``mode = ...`` line
reads ``mode = "live"`` (the embedded cluster's clock runs at ``speed`` × wall time, the
widgets follow it); the copy names the tests' ``kitlib-test`` kernel (the venv's Python).
JupyterLab opens it, Run All runs every cell, and the test waits for the kernel to be
idle again (at most ``TIMEOUT`` s), then fails on any error output, traceback on stderr,
widget that failed to render or cell that never ran, and when the kernel still has child
processes after the last cell (an embedded cluster left running). Each notebook leaves a
screenshot of the whole notebook, ``live-<name>.png`` in ``test-artifacts/browser/``, and
the kernel's memory (RSS) and wall time in ``live-notebooks-rss.json``. JupyterLab opens
each notebook in a reset workspace, so notebooks opened before are not reopened.

Two checks that flaked in live mode (``05``'s SidecarSet budget, ``03``'s back-off) are
measured so that a sample taken at any moment of a running clock gives the right answer;
``test_the_sidecarset_budget_check_still_fails_when_the_budget_is_exceeded`` shows 05's
still catches a real excess.

Time: the tour (``01-*``) always runs; the other notebooks with
``KITLIB_LIVE_NOTEBOOKS=all``, which ``scripts/test.sh`` (and so CI) sets — all eight
take about 3.5 minutes here. Select these tests with ``-m live_notebooks``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from kitlib import nbrun
from kitlib.cluster.settings import ClusterSettings, KubeletSettings
from tests.browser.lab import fit_notebook, notebook_problems, open_notebook, run_all
from tests.browser.pages import ARTIFACTS, Pages, failed
from tests.browser.servers import KERNEL_NAME, JupyterEnv, Server

pytestmark = pytest.mark.live_notebooks

#: The notebooks (``KITLIB_NOTEBOOKS_DIR`` points elsewhere, e.g. at work in progress).
NOTEBOOKS = Path(os.environ.get("KITLIB_NOTEBOOKS_DIR")
                 or Path(__file__).resolve().parents[2] / "notebooks")
#: Wall seconds one notebook may take to run all its cells in live mode.
TIMEOUT = 120.0
#: ``KITLIB_LIVE_NOTEBOOKS=all`` runs every notebook; otherwise only the tour.
EVERY = os.environ.get("KITLIB_LIVE_NOTEBOOKS", "").lower() == "all"
RSS_FILE = ARTIFACTS / "live-notebooks-rss.json"

_MODE = re.compile(r"^(?P<indent>[ \t]*)mode[ \t]*(:[^=]*)?=.*$", re.MULTILINE)


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def live_copy(source: Path, target: Path) -> Path:
    """Write ``source`` to ``target`` with its parameters cell's ``mode`` set to ``"live"``
    and the ``kitlib-test`` kernel; everything else as it is (outputs are not read)."""
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{source.name}: {len(tagged)} cells tagged 'parameters', not 1"
    cell = tagged[0]
    assert _MODE.search(cell.source), f"{source.name}: no `mode = ...` in the parameters cell"
    cell.source = _MODE.sub(lambda m: f'{m["indent"]}mode = "live"', cell.source, count=1)
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python",
                                       "display_name": "kitlib test (venv Python)"}
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return target


def kernel_rss(server: Server) -> dict[str, float]:
    """Resident memory (MB) of each kernel the server runs, with everything it started
    (the embedded cluster's child process)."""
    out: dict[str, float] = {}
    try:
        kernels = [p for p in psutil.Process(server.process.pid).children(recursive=True)
                   if "ipykernel" in " ".join(p.cmdline())]
    except psutil.Error:
        return out
    for kernel in kernels:
        try:
            kernel_mb = kernel.memory_info().rss / 2**20
            children = kernel.children(recursive=True)
            child_mb = sum(c.memory_info().rss for c in children) / 2**20
        except psutil.Error:
            continue
        out["kernel_mb"] = round(kernel_mb, 1)
        out["children_mb"] = round(child_mb, 1)
        out["total_mb"] = round(kernel_mb + child_mb, 1)
    return out


def _record_rss(name: str, rss: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    known: dict[str, Any] = {}
    if RSS_FILE.exists():
        try:
            known = json.loads(RSS_FILE.read_text(encoding="utf-8"))
        except ValueError:
            known = {}
    known[name] = rss
    RSS_FILE.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def live_root(jupyter_env: JupyterEnv) -> Path:
    """The notebooks' folder in the server's root: everything beside the notebooks (data
    files they read) copied as it is; the notebooks themselves are copied per test."""
    root = jupyter_env.notebooks / "notebooks"
    root.mkdir(parents=True, exist_ok=True)
    for item in NOTEBOOKS.iterdir():
        if item.suffix == ".ipynb" or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, root / item.name, dirs_exist_ok=True)
        else:
            shutil.copy(item, root / item.name)
    return root


@pytest.fixture
def lab_page(browser: Any, lab_server: Server, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A JupyterLab page for one notebook; its kernels are shut down after the test (one
    embedded cluster at a time), and its console log is kept when the test failed."""
    pages = Pages(browser)
    page = pages.new()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        lab_server.remember_children()
        if failed(request.node):
            pages.save(f"live-{request.node.callspec.id}", failed=True)
        pages.close()
        lab_server.shutdown_kernels()


@pytest.mark.parametrize("source", _notebooks(), ids=lambda p: p.stem)
def test_the_notebook_runs_live_in_jupyterlab_without_errors(
        source: Path, live_root: Path, lab_server: Server, lab_page: Any) -> None:
    if not (EVERY or source.name.startswith("01-")):
        pytest.skip("only the tour runs live by default: KITLIB_LIVE_NOTEBOOKS=all runs all")
    live_copy(source, live_root / source.name)
    page = lab_page
    started = time.monotonic()
    open_notebook(page, lab_server, f"notebooks/{source.name}", reset=True)
    run_all(page, timeout=TIMEOUT)
    wall = time.monotonic() - started
    rss = kernel_rss(lab_server)
    _record_rss(source.stem, {**rss, "wall_s": round(wall, 1)})
    page.wait_for_timeout(1500)  # let the last widget messages and plot layouts land
    problems = notebook_problems(page)
    fit_notebook(page)
    page.wait_for_timeout(1500)  # plotly re-lays out for the new viewport
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"live-{source.stem}.png"), full_page=True)
    assert not problems, f"{source.name} in live mode:\n" + "\n\n".join(problems)
    assert not rss.get("children_mb"), (
        f"{source.name}: the kernel still runs {rss['children_mb']} MB of child processes "
        "after the last cell: a cluster was not closed")


def test_the_live_copy_changes_only_the_mode_and_the_kernel(tmp_path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                       "display_name": "Python 3"}
    params = 'seed = 1\nmode = "stepped"  # or "live"\nresults = "results/x.json"'
    notebook.cells = [nbformat.v4.new_markdown_cell("mode = 'stepped' in prose"),
                      nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell('print(mode == "stepped")')]
    nbformat.write(notebook, tmp_path / "in.ipynb")
    copy = nbformat.read(live_copy(tmp_path / "in.ipynb", tmp_path / "out" / "in.ipynb"),
                         as_version=4)
    assert [c.source for c in copy.cells] == [
        "mode = 'stepped' in prose",
        'seed = 1\nmode = "live"\nresults = "results/x.json"',
        'print(mode == "stepped")']
    assert copy.metadata["kernelspec"]["name"] == KERNEL_NAME


def _failure(notebook: Path, tmp_path: Path, **parameters: Any) -> nbrun.NotebookFailed:
    """Run ``notebook`` (stepped, under papermill) and return how it failed."""
    with pytest.raises(nbrun.NotebookFailed) as failed:
        nbrun.run_notebook(notebook, parameters=parameters, output=tmp_path / "out.ipynb",
                           timeout=TIMEOUT, progress=False)
    return failed.value


def test_the_sidecarset_budget_check_still_fails_when_the_budget_is_exceeded(
        tmp_path: Path) -> None:
    """05 checks ``maxUnavailable`` on the pods of each sample (not on the sum of the apps'
    status columns, which can count a pod twice: that flaked live). The check must still
    catch a real excess: here the SidecarSets may upgrade 2 more pods at once than the
    check's budget allows, and the notebook fails at that claim. Stepped (the notebook's
    default), so every wave of the upgrade is sampled and the failure is certain."""
    source = NOTEBOOKS / "05-sidecarset.ipynb"
    notebook = nbformat.read(source, as_version=4)
    original, raised = "max_unavailable=max_unavailable", "max_unavailable=max_unavailable + 2"
    changed = [c for c in notebook.cells if c.cell_type == "code" and original in c.source]
    assert sum(c.source.count(original) for c in changed) == 2, (
        f"{source.name}: expected both SidecarSets to take `{original}`")
    for cell in changed:
        cell.source = cell.source.replace(original, raised)
    nbformat.write(notebook, tmp_path / source.name)
    failure = _failure(tmp_path / source.name, tmp_path)
    assert failure.ename == "AssertionError", str(failure)
    assert "4 pods were upgrading at once" in failure.evalue, str(failure)


def test_the_backoff_check_still_fails_when_the_backoff_stops_growing(
        tmp_path: Path, start_api_server: Any) -> None:
    """03 checks each crash-loop gap against the kubelet's back-off (10 s doubling), allowing
    for where the samples fell (that flaked live as a fixed 1.5× ratio). Against a cluster
    whose kubelet never waits more than 20 s, the notebook must fail at that claim."""
    server = start_api_server(cluster_settings=ClusterSettings(
        nodes=5, seed=1, kubelet=KubeletSettings(crashloop_max=20.0)))
    failure = _failure(NOTEBOOKS / "03-self-healing.ipynb", tmp_path,
                       kubeconfig=str(server.kubeconfig))
    assert failure.ename == "AssertionError", str(failure)
    assert "the back-off should be 40 s" in failure.evalue, str(failure)
