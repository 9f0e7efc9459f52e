"""``kitlib run NOTEBOOK`` and ``kitlib demo``: notebooks executed the kit's way.

``run`` is papermill with kitlib's defaults (``kitlib.nbrun``: a kernel for this
interpreter, a per-cell timeout, a results JSON beside the output, an optional HTML
report), for users' own regression suites. ``demo`` runs the shipped tour notebook on an
embedded cluster in stepped mode, writes its report and prints its key numbers: the
first command to try on a fresh machine.

A failing cell exits 1 with its source and its error on stderr (the executed notebook
keeps the full traceback). Unlike the cluster commands, neither connects to a cluster
itself: the notebook does (``kubeconfig``/``context`` are its parameters).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kitlib.cli._base import CliError, add_command, seconds

__all__ = ["register"]

RUN_HELP = ("Execute a notebook with papermill and kitlib's defaults: a kernel for this "
            "Python, a per-cell timeout, the notebook's `results` parameter set beside the "
            "output, and optionally an HTML report. Exits 1 when a cell fails, printing its "
            "source and error.")
DEMO_HELP = ("Run the tour notebook headless on an embedded cluster (stepped mode), write "
             "its HTML report to DIR/tour.html and print its key numbers.")
TOUR = "01-tour.ipynb"


def _progress(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "progress", False)) or sys.stderr.isatty()


def _run(args: argparse.Namespace) -> int:
    from kitlib import nbrun

    parameters = {name: nbrun.parse_value(value) for name, value in args.parameters or []}
    try:
        run = nbrun.run_notebook(args.notebook, parameters=parameters, output=args.output,
                                 results=args.results, kernel=args.kernel,
                                 timeout=args.timeout, html=args.html,
                                 progress=_progress(args))
    except nbrun.NotebookFailed as failed:
        print(f"{args.prog}: {failed}", file=sys.stderr)
        return 1
    print(f"ran {run.notebook.name} in {run.seconds:.1f} s: output {run.output}")
    if run.results is not None:
        state = "" if run.results.is_file() else " (the notebook did not write it)"
        print(f"results {run.results}{state}")
    if run.html is not None:
        print(f"report {run.html}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from kitlib import nbrun

    out = Path(args.out)
    try:
        tour = nbrun.packaged_notebook(TOUR)
        run = nbrun.run_notebook(tour, parameters={"seed": args.seed, "mode": "stepped"},
                                 output=out / "tour.ipynb", results=out / "tour.json",
                                 html=out / "tour.html", timeout=args.timeout,
                                 progress=_progress(args))
    except nbrun.NotebookFailed as failed:
        print(f"{args.prog}: {failed}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    _print_numbers(run.read_results())
    print(f"\nreport: {run.html}  (executed notebook: {run.output}; results: {run.results}; "
          f"{run.seconds:.0f} s)")
    return 0


def _print_numbers(results: dict[str, Any]) -> None:
    """The tour's key numbers, one per line, then its claims."""
    print(f"in-place rollout of the app container of {results['replicas']} pods "
          f"on {results['nodes']} nodes, to {results['new_image']}:")
    lines = [
        ("time to converge", f"{results['time_to_converge']:g} s (simulated)"),
        ("pods rescheduled", results["pods_rescheduled"]),
        ("IP / node changes", f"{results['ip_changes']} / {results['node_changes']}"),
        ("peak unavailable", f"{results['peak_unavailable']} (budget {results['budget']})"),
        ("app containers restarted in place", results["app_inplace_restarts"]),
        ("other containers restarted", results["other_container_restarts"]),
        ("image bytes pulled", f"{results['image_bytes_pulled'] / 1e6:g} MB"),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"  {name:<{width}}  {value}")
    claims = results.get("claims", {})
    held = [name for name, ok in claims.items() if ok]
    print(f"claims held: {len(held)}/{len(claims)}"
          + "".join(f"\n  {'ok  ' if ok else 'FAIL'} {name}" for name, ok in claims.items()))


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=seconds, default=600.0, metavar="SECONDS",
                        help="wall seconds each cell may take (default 600)")
    parser.add_argument("--progress", action="store_true", default=argparse.SUPPRESS,
                        help="show the progress bar even when stderr is not a terminal")


def register(sub: Any) -> None:
    """Add ``run`` and ``demo`` to the top-level subparsers ``sub``."""
    run = add_command(sub, "run", _run, help="execute a notebook with papermill "
                      "(kitlib's kernel, timeouts, results JSON)", description=RUN_HELP)
    run.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb to execute")
    run.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append",
                     metavar=("NAME", "VALUE"), help="set a parameter (True/False/None, "
                     "numbers and strings, as papermill reads them); repeat for more")
    run.add_argument("--output", metavar="OUT.ipynb", help="the executed notebook "
                     "(default: kitlib-runs/NOTEBOOK)")
    run.add_argument("--results", metavar="PATH", help="the notebook's results JSON "
                     "(default: the output with .json)")
    run.add_argument("--kernel", metavar="K", help="kernelspec name (default: kitlib-python,"
                     " made for this Python)")
    run.add_argument("--html", metavar="REPORT.html", help="also write an HTML report")
    _add_common(run)
    demo = add_command(sub, "demo", _demo, help="run the tour on an embedded cluster and "
                       "write an HTML report", description=DEMO_HELP)
    demo.add_argument("--out", default="kitlib-demo", metavar="DIR",
                      help="where the report goes (default ./kitlib-demo)")
    demo.add_argument("--seed", type=int, default=1, help="the cluster's seed (default 1)")
    _add_common(demo)
