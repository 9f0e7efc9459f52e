"""``notebook_suite``: wall time of the papermill notebook suite (target ≤ 3 min).

Runs what CI runs — ``pytest tests/notebooks/test_papermill.py -k
runs_under_papermill`` — in a child process: every notebook in ``notebooks/`` executed
under papermill in stepped mode through ``kitlib.nbrun`` (the code behind ``kitlib
run``), each in its own kernel, one after the other. Timed: the whole command's wall
time (pytest start and kernel starts included); the per-notebook seconds come from the
suite's own summary (``tests/notebooks/conftest.py``). Checked: pytest exits 0 with one
passed test per notebook — each notebook ran every cell without error and its results
JSON holds its claims and invariants (``tests/notebooks/test_papermill.py``).

``--quick`` runs only the tour, with ``QUICK_PARAMETERS``, directly through
``kitlib.nbrun.run_notebook`` (no pytest start), and checks that every claim in its
results is true; most of its time is the kernel's start and imports.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import Row, check
from benchmarks.harness import ROOT
from kitlib import nbrun

TARGET_SECONDS = 180.0
TIMEOUT = 1_800.0
_DURATION = re.compile(r"^\s*(\d+\.\d)\s+(\S+)$", re.MULTILINE)


QUICK_PARAMETERS = {"mode": "stepped", "replicas": 4, "nodes": 2}


def run(quick: bool) -> list[Row]:
    return [_tour() if quick else _suite()]


def _tour() -> Row:
    tour = ROOT / "notebooks" / "01-tour.ipynb"
    with tempfile.TemporaryDirectory(prefix="kitlib-bench-nb-") as tmp:
        started = time.perf_counter()
        result = nbrun.run_notebook(tour, parameters={**QUICK_PARAMETERS,
                                                      "results": f"{tmp}/tour.json"},
                                    output=Path(tmp) / tour.name, timeout=TIMEOUT,
                                    progress=False)
        seconds = time.perf_counter() - started
        claims = result.read_results().get("claims") or {}
    check(claims and all(v is True for v in claims.values()),
          f"the tour's claims do not all hold: {claims}")
    return Row("notebook_suite: the tour only (quick)", 1, seconds,
               note=f"papermill {result.seconds:.1f} s; {len(claims)} claims hold",
               extra={"parameters": QUICK_PARAMETERS})


def _suite() -> Row:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    check(notebooks, "no notebooks found in notebooks/")
    selection = " or ".join(f"[{nb.stem}]" for nb in notebooks)
    args = [sys.executable, "-m", "pytest", "tests/notebooks/test_papermill.py", "-q",
            "-p", "no:cacheprovider", "-k", f"runs_under_papermill and ({selection})"]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    seconds = time.perf_counter() - started
    tail = (done.stdout + done.stderr)[-3000:]
    check(done.returncode == 0, f"the notebook suite failed (exit {done.returncode}):\n{tail}")
    passed = re.search(r"(\d+) passed", done.stdout)
    check(passed is not None and int(passed.group(1)) == len(notebooks),
          f"expected {len(notebooks)} notebooks to pass:\n{tail}")
    durations = {name: float(s) for s, name in _DURATION.findall(done.stdout)
                 if name != "total"}
    check(set(durations) == {nb.stem for nb in notebooks},
          f"the suite's summary lists {sorted(durations)}, not every notebook:\n{tail}")
    slowest = max(durations, key=lambda k: durations[k])
    return Row("notebook_suite: papermill, all notebooks", len(notebooks), seconds,
               target="<= 3 min", met=seconds <= TARGET_SECONDS,
               note=f"notebooks {sum(durations.values()):.1f} s in all; slowest "
                    f"{slowest} {durations[slowest]:.1f} s",
               extra={"durations": durations, "notebooks": [nb.name for nb in notebooks]})
