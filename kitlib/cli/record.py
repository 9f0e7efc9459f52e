"""``kitlib record [WORKLOAD]... --duration S --out DIR``: record a namespace to files.

A ``kitlib.observe.Recorder`` samples the namespace (or only the workloads named) every
``--dt`` cluster seconds for ``--duration`` cluster seconds — on a stepped embedded
cluster that is what advances simulated time, on a real cluster it takes that long — then
writes the recording's frames (``pods``, ``containers``, ``workloads``, ``disruptions``,
``nodes``, ``pulls``; ``Recording.load`` reads them back) and its per-workload
``metrics`` to ``--out`` as CSV or Parquet, and prints the main metrics.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kitlib.cli._base import (
    CliError,
    add_cluster_options,
    add_command,
    cluster_for,
    print_table,
    progress_bar,
    seconds,
)

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

__all__ = ["register"]

RECORD_HELP = ("Sample the namespace (or only the workloads named, and their pods) every --dt "
               "cluster seconds for --duration cluster seconds, then write the frames and the "
               "per-workload metrics to --out and print the main metrics. On a stepped "
               "embedded cluster, recording advances simulated time.")

#: The metrics printed (all of ``kitlib.observe.METRICS`` are written to the files).
SHOWN = ("workload", "time_to_converge", "peak_unavailable", "budget", "pods_rescheduled",
         "app_restarts", "min_capacity")


def _record(args: argparse.Namespace) -> int:
    from kitlib.observe import Recorder

    if args.dt <= 0:
        raise CliError(f"--dt must be positive, not {args.dt:g}", 2)
    with cluster_for(args) as cluster, \
            Recorder(cluster, namespace=args.namespace,
                     workloads=list(args.workloads) or None) as recorder:
        start = cluster.now()
        with progress_bar(args, total=args.duration, desc="record", unit="s") as bar:
            def tick() -> bool:  # called after every sample but the last
                bar.n = min(args.duration, cluster.now() - start)
                bar.set_postfix_str(f"t={cluster.now():g}s")
                return False

            recording = recorder.run(args.duration, dt=args.dt, until=tick)
            bar.n = args.duration
            bar.set_postfix_str(f"t={cluster.now():g}s")
    metrics = recording.metrics()
    written = getattr(recording, f"to_{args.format}")(args.out)
    _write(metrics, written / f"metrics.{args.format}", args.format)
    _print_metrics(metrics)
    print(f"recorded {recording.info.get('samples', 0)} samples "
          f"over {args.duration:g} s (cluster time) to {written} ({args.format})")
    return 0


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def _print_metrics(metrics: pd.DataFrame) -> None:
    if metrics.empty:
        print("no workloads recorded")
        return
    columns = [c for c in SHOWN if c in metrics.columns]
    print_table(columns, [[_value(v) for v in row] for row in
                          metrics[columns].itertuples(index=False)])
    print()


def _value(value: Any) -> object:
    if isinstance(value, float) and value != value:  # NaN: never reached, e.g. not converged
        return None
    return value.item() if hasattr(value, "item") else value


def register(sub: Any) -> None:
    """Add ``record`` to the top-level subparsers ``sub``."""
    record = add_command(sub, "record", _record, help="record workloads over cluster time "
                         "to CSV or Parquet", description=RECORD_HELP)
    record.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help="workloads to record (default: the whole namespace)")
    record.add_argument("--duration", type=seconds, required=True, metavar="SECONDS",
                        help="cluster seconds to record")
    record.add_argument("--dt", type=seconds, default=1.0, metavar="SECONDS",
                        help="sampling interval in cluster seconds (default 1)")
    record.add_argument("--out", required=True, metavar="DIR",
                        help="directory to write the frames and metrics to (created)")
    record.add_argument("--format", choices=("csv", "parquet"), default="csv",
                        help="file format (default csv)")
    add_cluster_options(record)
