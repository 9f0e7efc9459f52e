"""``kitlib serve``, ``kitlib advance``, ``kitlib clock`` and ``kitlib snapshot save``: the
embedded cluster itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kitlib.cli._base import CliError, add_cluster_options, add_command, cluster_for
from kitlib.client import EmbeddedOnlyError

__all__ = ["register"]


def _serve(args: argparse.Namespace) -> int:
    from kitlib.apiserver.server import ServeOptions, serve
    from kitlib.cluster.kruise.kinds import parse_feature_gates
    from kitlib.cluster.snapshot import SnapshotError
    from kitlib.store.persist import DataDirError

    try:
        parse_feature_gates(args.feature_gates)
    except ValueError as exc:
        print(f"kitlib serve: error: --feature-gates: {exc}", file=sys.stderr)
        return 2
    problem = _snapshot_conflict(args)
    if problem:
        print(f"kitlib serve: error: {problem}", file=sys.stderr)
        return 2
    options = ServeOptions(port=args.port, kubeconfig=Path(args.kubeconfig).expanduser()
                           if args.kubeconfig else None, mode=args.mode, speed=args.speed,
                           seed=args.seed, nodes=args.nodes, kruise=not args.no_kruise,
                           feature_gates=args.feature_gates,
                           exit_with_stdin=args.exit_with_stdin,
                           owned_dir=Path(args.owned_dir) if args.owned_dir else None,
                           data_dir=Path(args.data_dir).expanduser() if args.data_dir else None)
    if args.snapshot:
        options.snapshot = Path(args.snapshot).expanduser()
    try:
        return serve(options)
    except KeyboardInterrupt:
        return 0
    except (DataDirError, SnapshotError) as exc:
        print(f"kitlib serve: error: {exc}", file=sys.stderr)
        return 2


def _snapshot_conflict(args: argparse.Namespace) -> str:
    """Why ``--snapshot`` cannot be combined with the other flags given, or ""."""
    if not args.snapshot:
        return ""
    given = [flag for flag, used in (("--seed", args.seed != 0), ("--nodes", args.nodes != 0),
                                     ("--feature-gates", bool(args.feature_gates)),
                                     ("--no-kruise", args.no_kruise),
                                     ("--data-dir", bool(getattr(args, "data_dir", None))))
             if used]
    if not given:
        return ""
    return (f"{', '.join(given)} cannot be combined with --snapshot: the snapshot holds the "
            "cluster's settings and state; drop them")


def _snapshot_save(args: argparse.Namespace) -> int:
    with cluster_for(args) as cluster:
        if not cluster.embedded:
            raise EmbeddedOnlyError(f"{cluster.api_client.configuration.host} is a real "
                                    "cluster: only embedded clusters can be saved")
        size = cluster.save_snapshot(args.file, history=args.history)
        print(f"saved {args.file} ({size} bytes) at {cluster.now():g} s")
    return 0


def _advance(args: argparse.Namespace) -> int:
    if args.seconds < 0:
        raise CliError(f"cannot advance by a negative duration ({args.seconds:g} s)", 2)
    with cluster_for(args) as cluster:
        if not cluster.embedded:  # sleep() would wait on the wall clock
            raise EmbeddedOnlyError(f"{cluster.api_client.configuration.host} is a real "
                                    "cluster: time cannot be advanced")
        before = cluster.now()
        cluster.sleep(args.seconds)
        print(f"advanced {args.seconds:g} s: {before:g} s -> {cluster.now():g} s")
    return 0


def _clock(args: argparse.Namespace) -> int:
    with cluster_for(args) as cluster:
        info = cluster.clock()
        spec, status = info["spec"], info["status"]
        print(f"now {status['now']} ({status['seconds']:g} s), mode {spec['mode']}, "
              f"speed {spec['speed']:g}x{', paused' if spec['paused'] else ''}, "
              f"{status['eventsProcessed']} events processed")
    return 0


def register(sub: Any) -> None:
    """Add ``serve``, ``advance`` and ``clock`` to the top-level subparsers ``sub``."""
    serve = add_command(sub, "serve", _serve, help="start an embedded cluster and its API server")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    serve.add_argument("--kubeconfig", help="write a kubeconfig for kubectl here (mode 0600)")
    serve.add_argument("--mode", choices=("stepped", "paced"), default="stepped",
                       help="stepped: time moves only when advanced; paced: speed x wall clock")
    serve.add_argument("--speed", type=float, default=20.0, help="paced mode speed (default 20)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the cluster's RNG")
    serve.add_argument("--nodes", type=int, default=0,
                       help="nodes to create at start (zones round robin; default 0)")
    serve.add_argument("--feature-gates", default="",
                       help="OpenKruise feature gates, e.g. CloneSetPartitionRollback=true "
                       "(upstream defaults otherwise)")
    serve.add_argument("--no-kruise", action="store_true",
                       help="leave out the OpenKruise kinds (behave like a cluster without them)")
    serve.add_argument("--data-dir",
                       help="keep the cluster in this directory (created with mode 0700): a "
                       "restarted server continues from it, with every acknowledged write")
    serve.add_argument("--exit-with-stdin", action="store_true",
                       help="exit when stdin closes (used by kitlib.connect)")
    serve.add_argument("--owned-dir", help="remove this directory on exit (used by "
                       "kitlib.connect for its temporary files)")
    advance = add_command(sub, "advance", _advance,
                          help="advance a stepped embedded cluster's clock")
    advance.add_argument("seconds", type=float, help="simulated seconds to advance")
    clock = add_command(sub, "clock", _clock, help="show the embedded cluster's clock")
    serve.add_argument("--snapshot", help="start from this snapshot file (written by "
                       "kitlib snapshot save or save_snapshot); it holds the settings too")
    snapshot = sub.add_parser("snapshot", help="save an embedded cluster to a file")
    snapshot_sub = snapshot.add_subparsers(dest="snapshot_command", required=True,
                                           metavar="{save}")
    save = add_command(snapshot_sub, "save", _snapshot_save,
                       help="save the embedded cluster to FILE (kitlib serve --snapshot FILE "
                       "starts from it)")
    save.add_argument("file", help="the snapshot file to write")
    save.add_argument("--history", type=int, default=1000,
                      help="watch events to keep, so watches resume after a load (default 1000)")
    for parser in (advance, clock, save):
        add_cluster_options(parser)
