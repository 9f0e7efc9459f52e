"""``python -m benchmarks [--quick] [--only NAME] [--json PATH]``.

Runs the scenario groups in ``benchmarks.GROUPS``, prints a table and writes
the rows plus machine information as JSON. Exit status 1 if a benchmark failed
(wrong end state or an error); targets that are missed are reported, not
failed (the table's ``met?`` column).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import orjson

from benchmarks import GROUPS, Row, machine_info

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (CI): checks that every benchmark still works")
    parser.add_argument("--only", action="append", choices=GROUPS, metavar="NAME",
                        help=f"run only this group (repeatable): {', '.join(GROUPS)}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the results (default: benchmarks/results/"
                             "latest.json)")
    args = parser.parse_args(argv)
    groups = args.only or list(GROUPS)
    rows: list[Row] = []
    failures: dict[str, str] = {}
    started = dt.datetime.now(dt.UTC)
    for name in groups:
        print(f"running {name}{' (quick)' if args.quick else ''} ...", file=sys.stderr,
              flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            rows.extend(module.run(args.quick))
        except Exception as exc:
            failures[name] = "".join(traceback.format_exception(exc))
            print(f"FAILED {name}:\n{failures[name]}", file=sys.stderr, flush=True)
            rows.append(Row(name, 0, None, note=f"FAILED: {type(exc).__name__}: {exc}"[:200]))
        print(f"  {name} took {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print(format_table(rows))
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(),
        "rows": [row.as_dict() for row in rows],
        "failures": failures,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"\nresults written to {args.json}", file=sys.stderr)
    return 1 if failures else 0


def format_table(rows: list[Row]) -> str:
    header = ("scenario", "size", "wall s", "rate", "target", "met?", "notes")
    lines = [header]
    for row in rows:
        if row.skipped:
            lines.append((row.scenario, f"{row.size:,}", "-", "-", row.target, "skipped",
                          row.skipped))
            continue
        seconds = "-" if row.seconds is None else f"{row.seconds:.3f}"
        if row.rate is None:
            rate = "-"
        elif row.unit == "x":
            rate = f"{row.rate:.1f}x"
        else:
            rate = f"{row.rate:,.0f} {row.unit}"
        met = {True: "yes", False: "NO", None: ""}[row.met]
        lines.append((row.scenario, f"{row.size:,}", seconds, rate, row.target, met, row.note))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for i, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                   .rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
