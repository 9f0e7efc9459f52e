"""The ``kitlib`` command line.

``kitlib serve``     start an embedded cluster and its API server (HTTPS, loopback, token)
``kitlib advance N`` advance a stepped embedded cluster by N simulated seconds
``kitlib clock``     show the embedded cluster's clock
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    from kitlib.apiserver.server import ServeOptions, serve
    from kitlib.cluster.kruise.kinds import parse_feature_gates

    try:
        parse_feature_gates(args.feature_gates)
    except ValueError as exc:
        print(f"kitlib serve: error: --feature-gates: {exc}", file=sys.stderr)
        return 2
    options = ServeOptions(port=args.port, kubeconfig=Path(args.kubeconfig).expanduser()
                           if args.kubeconfig else None, mode=args.mode, speed=args.speed,
                           seed=args.seed, nodes=args.nodes, kruise=not args.no_kruise,
                           feature_gates=args.feature_gates,
                           exit_with_stdin=args.exit_with_stdin,
                           owned_dir=Path(args.owned_dir) if args.owned_dir else None)
    try:
        return serve(options)
    except KeyboardInterrupt:
        return 0


def _advance(args: argparse.Namespace) -> int:
    from kitlib.client import EmbeddedOnlyError
    from kitlib.client.connect import connect

    if args.seconds < 0:
        raise ValueError(f"cannot advance by a negative duration ({args.seconds:g} s)")
    with connect(kubeconfig=args.kubeconfig, context=args.context) as cluster:
        if not cluster.embedded:  # sleep() would wait on the wall clock
            raise EmbeddedOnlyError(f"{cluster.api_client.configuration.host} is a real "
                                    "cluster: time cannot be advanced")
        before = cluster.now()
        cluster.sleep(args.seconds)
        print(f"advanced {args.seconds:g} s: {before:g} s -> {cluster.now():g} s")
    return 0


def _clock(args: argparse.Namespace) -> int:
    from kitlib.client.connect import connect

    with connect(kubeconfig=args.kubeconfig, context=args.context) as cluster:
        info = cluster.clock()
        spec, status = info["spec"], info["status"]
        print(f"now {status['now']} ({status['seconds']:g} s), mode {spec['mode']}, "
              f"speed {spec['speed']:g}x{', paused' if spec['paused'] else ''}, "
              f"{status['eventsProcessed']} events processed")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kitlib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start an embedded cluster and its API server")
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
    serve.add_argument("--exit-with-stdin", action="store_true",
                       help="exit when stdin closes (used by kitlib.connect)")
    serve.add_argument("--owned-dir", help="remove this directory on exit (used by "
                       "kitlib.connect for its temporary files)")
    serve.set_defaults(func=_serve)
    for name, func, text in (("advance", _advance, "advance a stepped embedded cluster"),
                             ("clock", _clock, "show the embedded cluster's clock")):
        cmd = sub.add_parser(name, help=text)
        if name == "advance":
            cmd.add_argument("seconds", type=float, help="simulated seconds to advance")
        cmd.add_argument("--kubeconfig", required=True, help="the kubeconfig kitlib serve wrote")
        cmd.add_argument("--context", help="kubeconfig context (default: current)")
        cmd.set_defaults(func=func)
    return parser


def _client_errors() -> tuple[type[BaseException], ...]:
    """What a client command reports as one line instead of a traceback."""
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    from kitlib.client import EmbeddedOnlyError
    from kitlib.model.errors import ApiError

    return ApiError, ConfigException, EmbeddedOnlyError, HTTPError, OSError, ValueError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.func is _serve:
        return int(args.func(args))
    try:
        return int(args.func(args))
    except _client_errors() as exc:
        print(f"kitlib {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
