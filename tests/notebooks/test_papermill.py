"""Every notebook in ``notebooks/`` runs under papermill, and its results hold.

Each notebook is executed in stepped mode with its own small defaults (``OVERRIDES``
shrinks one further where needed) through ``kitlib.nbrun`` — the code behind ``kitlib
run`` — so a failing cell's source and error are the failure message. Its results JSON
is then read back: plain JSON (no NaN), at least one claim, every claim in its
``claims`` a boolean and true, and the notebook's own invariants (``INVARIANTS``).
Notebooks added to the folder are picked up by the parametrization; the structural tests
check the conventions every notebook follows (one ``parameters`` cell with the common
names, committed without outputs).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kitlib import nbrun

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: What every parameters cell defines.
COMMON_PARAMETERS = {"seed", "mode", "kubeconfig", "context", "results"}
#: Per-notebook parameters (by stem) on top of ``mode="stepped"``, to keep the suite fast.
OVERRIDES: dict[str, dict[str, Any]] = {}
#: Wall seconds one cell may take in the suite.
CELL_TIMEOUT = 240.0

Results = dict[str, Any]


def _tour(r: Results) -> None:
    assert r["pods_rescheduled"] == 0, "the in-place rollout rescheduled pods"
    assert r["ip_changes"] == 0 and r["node_changes"] == 0, "pods changed IP or node"
    assert r["other_container_restarts"] == 0, "agent/mesh-proxy restarted"
    assert r["app_inplace_restarts"] == r["replicas"], "not every app container was updated"
    assert r["peak_unavailable"] <= r["budget"], "the maxUnavailable budget did not hold"


def _declarative(r: Results) -> None:
    assert r["procedural_inconsistent_containers"] > 0, "the work orders left no mess"
    assert r["declarative_inconsistent_containers"] == 0, "the CloneSet left a mess"


def _self_healing(r: Results) -> None:
    assert r["small_app_first_eviction_allowed"] is True, "a small app could not lose one pod"
    assert r["small_app_second_eviction_allowed"] is False, "a small app lost two pods"
    assert r["zero_budget_drain_completed"] is False, "a zero-budget drain completed"


def _inplace_vs_recreate(r: Results) -> None:
    assert r["runs"], "no runs recorded"
    assert all(run["peak_unavailable"] <= run["budget"] for run in r["runs"].values()), (
        "a run exceeded its budget")


def _sidecarset(r: Results) -> None:
    sidecarset = r["sidecarset"]
    assert sidecarset["pods rescheduled"] == 0, "the SidecarSet upgrade rescheduled pods"
    assert sidecarset["app-container restarts"] == 0, "the SidecarSet restarted app containers"
    assert r["per_app_releases"]["pods rescheduled"] > 0, "per-app releases moved no pod"


def _release_strategies(r: Results) -> None:
    assert r["canary_paused_updated"] < r["batch_updated"][-1], "the canary did not hold"
    assert r["batch_updated"] == sorted(r["batch_updated"]), "batches went backwards"


def _twin(r: Results) -> None:
    assert r["blocked_budgets"], "the blocked drain named no budget"


def _runbook(r: Results) -> None:
    assert r["passed"] is True, f"the rollout check failed: {r['checks']}"
    assert r["peak_unavailable"] <= r["budget"]["max_unavailable"], "unavailable over budget"
    assert r["time_to_converge"] <= r["budget"]["convergence_seconds"], "converged too late"


#: Per-notebook checks of its results (by stem), beyond the common ones.
INVARIANTS: dict[str, Callable[[Results], None]] = {
    "01-tour": _tour,
    "02-declarative": _declarative,
    "03-self-healing": _self_healing,
    "04-inplace-vs-recreate": _inplace_vs_recreate,
    "05-sidecarset": _sidecarset,
    "06-release-strategies": _release_strategies,
    "07-twin": _twin,
    "08-runbook-rollout-check": _runbook,
}


def _claims(results: Results) -> dict[str, Any]:
    """The notebook's claims: its ``claims`` dict, else its top-level booleans."""
    if isinstance(results.get("claims"), dict):
        return dict(results["claims"])
    return {k: v for k, v in results.items() if isinstance(v, bool)}


def _run(path: Path, parameters: dict[str, Any], tmp_path: Path) -> nbrun.RunResult:
    """Run ``path``; a failing cell fails the test with its source and error only."""
    failure = ""
    try:
        return nbrun.run_notebook(path, parameters=parameters, output=tmp_path / path.name,
                                  timeout=CELL_TIMEOUT, progress=False)
    except nbrun.NotebookFailed as failed:
        failure = str(failed)
    pytest.fail(failure, pytrace=False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parameters_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def _assigned(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_the_notebook_folder_is_not_empty() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_one_parameters_cell_with_the_common_names(path: Path) -> None:
    cells = _parameters_cells(nbformat.read(path, as_version=4))
    assert len(cells) == 1, f"{path.name} has {len(cells)} cells tagged parameters, not one"
    missing = COMMON_PARAMETERS - _assigned(cells[0].source)
    assert not missing, f"{path.name}'s parameters cell does not define {sorted(missing)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name} has outputs or execution counts in cells {dirty}"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}'s kernelspec is not python3")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_papermill_and_its_results_hold(
        path: Path, tmp_path: Path, notebook_durations: dict[str, float]) -> None:
    parameters = {"mode": "stepped", **OVERRIDES.get(path.stem, {})}
    run = _run(path, parameters, tmp_path)
    notebook_durations[path.stem] = run.seconds
    assert run.results is not None and run.results.is_file(), (
        f"{path.name} wrote no results JSON")
    results = json.loads(run.results.read_text(), parse_constant=_no_constant)
    assert isinstance(results, dict), f"{path.name}'s results are not a JSON object"
    claims = _claims(results)
    assert claims, f"{path.name}'s results hold no claim (a boolean)"
    if "claims" in results:
        not_bool = {name: ok for name, ok in claims.items() if not isinstance(ok, bool)}
        assert not not_bool, f"{path.name} has claims that are not booleans: {not_bool}"
        broken = [name for name, ok in claims.items() if not ok]
        assert not broken, f"{path.name} recorded claims that do not hold: {broken}"
    INVARIANTS.get(path.stem, lambda r: None)(results)
