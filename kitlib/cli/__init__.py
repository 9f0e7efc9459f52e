"""The ``kitlib`` command line.

``kitlib serve``                      start an embedded cluster and its API server
``kitlib advance N`` / ``kitlib clock`` move / show an embedded cluster's clock
``kitlib status [WORKLOAD]``          workloads and nodes, or one workload's rollout
``kitlib evict POD``                  evict a pod through the Eviction API
``kitlib drain NODE``                 cordon a node and evict its pods, as kubectl drain
``kitlib cordon|uncordon NODE``       mark a node unschedulable / schedulable again
``kitlib rollout VERB WORKLOAD``      set-image, pause, resume, undo, status (as kubectl)
``kitlib record WORKLOAD...``         record workloads over cluster time to CSV/Parquet
``kitlib explain TARGET``             why a workload, pod or node is as it is
``kitlib capabilities``               what the cluster offers, how to get what it lacks
``kitlib run NOTEBOOK -p NAME VALUE`` execute a notebook with papermill, the kit's defaults
``kitlib demo``                       run the tour headless, write its HTML report

Commands other than ``serve`` act on an existing cluster, found as kubectl finds it
(``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``); ``kitlib.cli._base`` holds the
conventions they share (options, writes, errors, progress bars). ``docs/cli.md`` is the
user's guide.
"""

from __future__ import annotations

import argparse
import os
import sys

from kitlib import __version__
from kitlib.cli import embedded, nodes, notebooks, record, rollout, status
from kitlib.cli._base import CliError, Parser, add_cluster_options

__all__ = ["main"]

#: Set to re-raise unexpected exceptions with their traceback (for kitlib's developers).
DEBUG_ENV = "KITLIB_DEBUG"


def _parser() -> argparse.ArgumentParser:
    """The ``kitlib`` argument parser with every subcommand."""
    top = Parser(prog="kitlib", description="kitlib: operate workloads on an embedded or "
                 "real Kubernetes cluster (see docs/cli.md)")
    top.add_argument("--version", action="version", version=f"kitlib {__version__}")
    add_cluster_options(top, top=True)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (embedded, status, nodes, rollout, record, notebooks):
        module.register(sub)
    return top


def _client_errors() -> tuple[type[BaseException], ...]:
    """What a client command reports as one line (exit code 1)."""
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    from kitlib.client import DrainError, EmbeddedOnlyError
    from kitlib.client.errors import MissingCapabilityError
    from kitlib.model.errors import ApiError

    return (ApiError, ConfigException, DrainError, EmbeddedOnlyError, HTTPError,
            MissingCapabilityError, OSError, ValueError)


def main(argv: list[str] | None = None) -> int:
    """Run ``kitlib`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return int(args.func(args))
    try:
        return int(args.func(args))
    except CliError as exc:
        return _fail(args, str(exc), exc.code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130)
    except _client_errors() as exc:
        return _fail(args, str(exc) or type(exc).__name__, 1)
    except Exception as exc:  # never a traceback: one line, unless debugging kitlib
        if os.environ.get(DEBUG_ENV):
            raise
        return _fail(args, f"{type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the "
                     "traceback)", 1)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"{args.prog}: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
