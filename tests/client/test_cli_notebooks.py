"""``kitlib run`` and ``kitlib demo``: notebooks executed as the command line does it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kitlib.nbrun import parse_value
from tests.client.test_cli import kitlib_command

PARAMETERS = '''\
count = 1
ratio = 0.1
name = "default"
flag = False
nothing = "something"
fail = False
results = None
'''
BODY = '''\
import json
from pathlib import Path

values = {"count": count, "ratio": ratio, "name": name, "flag": flag, "nothing": nothing}
Path(results).write_text(json.dumps(values))
'''
FAILING = '''\
total = count * 2
assert not fail, f"asked to fail with total {total}"
'''


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*kitlib_command(), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A three-cell notebook: parameters, write them to ``results``, fail if asked to."""
    nb = new_notebook(cells=[new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                             new_code_cell(BODY), new_code_cell(FAILING)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("0.5", 0.5), ("True", True),
                                             ("False", False), ("None", None),
                                             ("nginx:1.26", "nginx:1.26"), ("20%", "20%")])
def test_parameter_values_are_read_as_papermill_reads_them(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_run_injects_parameters_and_writes_results_beside_the_output(tiny: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "runs" / "tiny-out.ipynb"
    done = run("run", str(tiny), "-p", "count", "3", "-p", "ratio", "0.5", "-p", "name",
               "shop", "-p", "flag", "True", "-p", "nothing", "None", "--output", str(out))
    assert done.returncode == 0, done.stderr
    results = out.with_suffix(".json")
    assert json.loads(results.read_text()) == {"count": 3, "ratio": 0.5, "name": "shop",
                                               "flag": True, "nothing": None}
    assert f"results {results}" in done.stdout
    assert out.is_file()


def test_run_with_results_and_html_writes_both(tiny: Path, tmp_path: Path) -> None:
    results, report = tmp_path / "r" / "mine.json", tmp_path / "report.html"
    done = run("run", str(tiny), "--output", str(tmp_path / "o.ipynb"), "--results",
               str(results), "--html", str(report))
    assert done.returncode == 0, done.stderr
    assert json.loads(results.read_text())["count"] == 1
    assert "asked to fail" in report.read_text()  # the cells' source is in the report


def test_a_failing_cell_exits_1_with_its_source_and_error(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "failed.ipynb"
    done = run("run", str(tiny), "-p", "fail", "True", "-p", "count", "21", "--output",
               str(out))
    assert done.returncode == 1
    assert "total = count * 2" in done.stderr
    assert "AssertionError: asked to fail with total 42" in done.stderr
    assert "papermill" not in done.stderr.lower().replace(str(out).lower(), "")
    assert "Traceback" not in done.stderr
    assert out.is_file(), "the executed notebook is kept for its traceback"


def test_a_cell_over_the_timeout_exits_1_naming_the_cell(tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell("import time\ntime.sleep(60)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    slow = tmp_path / "slow.ipynb"
    nbformat.write(nb, slow)
    done = run("run", str(slow), "--timeout", "2", "--output", str(tmp_path / "o.ipynb"))
    assert done.returncode == 1
    assert "CellTimeoutError" in done.stderr and "time.sleep(60)" in done.stderr


def test_an_unknown_parameter_is_refused(tiny: Path, tmp_path: Path) -> None:
    done = run("run", str(tiny), "-p", "cuont", "3", "--output", str(tmp_path / "o.ipynb"))
    assert done.returncode == 1
    assert "has no parameter cuont" in done.stderr


def test_demo_writes_a_report_with_plotly_figures_and_prints_the_numbers(
        tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = run("demo", "--out", str(out), timeout=280)
    assert done.returncode == 0, done.stderr
    report = (out / "tour.html").read_text()
    assert "plotly-graph-div" in report and "Convergence of cloneset" in report
    assert "window.Plotly" in report or "Plotly.newPlot" in report
    for line in ("time to converge", "pods rescheduled                   0",
                 "peak unavailable", "claims held: 5/5"):
        assert line in done.stdout, done.stdout
    assert json.loads((out / "tour.json").read_text())["pods_rescheduled"] == 0
