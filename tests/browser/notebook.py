"""The dashboard notebook the browser tests open in JupyterLab and Voila (made with nbformat).

Cells (``CELL`` names their indices):

* ``parameters`` — cluster size, seed, replicas, the rollout's new image; and a check that
  the kernel runs the tests' interpreter (the venv's python);
* ``cluster`` — a stepped embedded cluster (``kitlib.connect(nodes=..., seed=...)``) with the
  example app (a CloneSet of three-container pods, its Service and a PDB), converged;
* ``dashboard`` — ``kitlib.widgets.Dashboard(cluster)``, displayed;
* ``rollout`` — an in-place rollout of the app container, run on cluster time with a
  dashboard tick per step (stepped mode: time moves only here), until converged.

JupyterLab runs the first three, then ``rollout`` when a test asks for it; Voila runs them
all (the pod count is the same before and after an in-place rollout).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.browser.servers import KERNEL_NAME

__all__ = [
    "CELL",
    "DASHBOARD",
    "NEW_IMAGE",
    "NODES",
    "OLD_IMAGE",
    "REPLICAS",
    "write_dashboard_notebook",
]

DASHBOARD = "dashboard.ipynb"
NODES = 4
REPLICAS = 12
SEED = 1
OLD_IMAGE = "nginx:1.25"
NEW_IMAGE = "nginx:1.26"
CELL = {"parameters": 0, "cluster": 1, "dashboard": 2, "rollout": 3}

_SOURCES = {
    "parameters": f"NODES, REPLICAS, SEED = {NODES}, {REPLICAS}, {SEED}\n"
                  f"NEW_IMAGE = {NEW_IMAGE!r}\n"
                  "import sys\n"
                  f"assert sys.executable == {sys.executable!r}, sys.executable  # the venv's",
    "cluster": """import kitlib
from kitlib.widgets import Dashboard

cluster = kitlib.connect(nodes=NODES, seed=SEED)  # stepped: time moves only when asked
cluster.deploy_example("shop", replicas=REPLICAS)
cluster.wait_converged("shop")
assert cluster.mode == "stepped" and cluster.embedded""",
    "dashboard": """dash = Dashboard(cluster, workloads=["cloneset/shop"])
dash""",
    "rollout": """cluster.rollout("shop", images={"app": NEW_IMAGE}, max_unavailable="50%")
for _ in range(60):
    cluster.sleep(2)
    dash.tick()
    if cluster.converged("shop"):
        break
assert cluster.converged("shop")""",
}


def write_dashboard_notebook(path: Path) -> Path:
    """Write the notebook to ``path`` (kernel: the ``kitlib-test`` kernelspec)."""
    import nbformat  # with the Jupyter packages, which the fixtures check first

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python",
                                       "display_name": "kitlib test (venv Python)"}
    cells = sorted(CELL, key=CELL.__getitem__)
    notebook.cells = [nbformat.v4.new_code_cell(_SOURCES[name], metadata={"tags": [name]})
                      for name in cells]
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return path
