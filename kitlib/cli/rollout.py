"""``kitlib rollout set-image|pause|resume|undo|status WORKLOAD``: releases from a shell.

The shape mirrors ``kubectl rollout``: a verb, then the workload. Every verb is a
subcommand (there is no ``kitlib rollout WORKLOAD --image …`` form: a positional workload
beside verbs would make a workload named ``pause`` ambiguous).

* ``set-image WORKLOAD [--image C=IMAGE]... [--strategy S] [--partition P]
  [--max-unavailable N] [--max-surge N]`` changes images and the update strategy in one
  patch (``kitlib.client.workloads.rollout``); without ``--image`` it changes only the
  strategy fields, e.g. ``--partition 0`` lets a partitioned rollout finish.
* ``pause``, ``resume``, ``undo [--to-revision N]`` as in kubectl.
* ``status WORKLOAD`` waits until the workload has converged, as ``kubectl rollout status``.

``--wait`` (on the mutating verbs) waits the same way after the change: with a progress
bar of updated / replicas, in cluster time (on a stepped embedded cluster waiting is what
advances simulated time), up to ``--timeout`` cluster seconds (exit 1 after it).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kitlib.cli._base import (
    CliError,
    add_cluster_options,
    add_command,
    add_write_options,
    cluster_for,
    progress_bar,
    seconds,
)
from kitlib.client import workloads
from kitlib.client.refs import WorkloadRef, resolve

if TYPE_CHECKING:
    from collections.abc import Callable

    from tqdm import tqdm

    from kitlib.client.cluster import Cluster
    from kitlib.client.refs import Progress
    from kitlib.client.workloads import RolloutResult

__all__ = ["register"]

ROLLOUT_HELP = ("kitlib rollout VERB WORKLOAD, as kubectl rollout. set-image changes images "
                "and/or the update strategy (--partition, --max-unavailable, --max-surge, "
                "--strategy) in one patch; --wait waits until the workload converged, with a "
                "progress bar, in cluster time.")

DEFAULT_TIMEOUT = 600.0


def _set_image(args: argparse.Namespace) -> int:
    if not (args.image or args.strategy or args.partition is not None
            or args.max_unavailable is not None or args.max_surge is not None):
        raise CliError("nothing to change: give --image CONTAINER=IMAGE and/or --strategy, "
                       "--partition, --max-unavailable, --max-surge", 2)
    return _change(args, lambda cluster: workloads.rollout(
        cluster, args.workload, images=dict(args.image) or None, strategy=args.strategy,
        partition=args.partition, max_unavailable=args.max_unavailable,
        max_surge=args.max_surge, namespace=args.namespace, dry_run=args.dry_run))


def _pause(args: argparse.Namespace) -> int:
    return _change(args, lambda cluster: workloads.pause(
        cluster, args.workload, namespace=args.namespace, dry_run=args.dry_run))


def _resume(args: argparse.Namespace) -> int:
    return _change(args, lambda cluster: workloads.resume(
        cluster, args.workload, namespace=args.namespace, dry_run=args.dry_run))


def _undo(args: argparse.Namespace) -> int:
    return _change(args, lambda cluster: workloads.undo(
        cluster, args.workload, args.to_revision, namespace=args.namespace,
        dry_run=args.dry_run))


def _change(args: argparse.Namespace, send: Callable[[Cluster], RolloutResult]) -> int:
    """Connect, send the change (``send(cluster)``), print it, and wait if asked."""
    if args.dry_run and getattr(args, "wait", False):
        raise CliError("--wait cannot be combined with --dry-run (nothing changes)", 2)
    verb = args.prog.rsplit(" ", 1)[-1]
    with cluster_for(args, writes=f"rollout {verb}") as cluster:
        result = send(cluster)
        done = "patched" if result.changed else "unchanged"
        print(f"{result.ref} {done}{' (server dry run)' if args.dry_run else ''}")
        if getattr(args, "wait", False):
            _wait(args, cluster, result.ref)
    return 0


def _status(args: argparse.Namespace) -> int:
    with cluster_for(args) as cluster:
        _wait(args, cluster, resolve(cluster, args.workload, args.namespace))
    return 0


def _wait(args: argparse.Namespace, cluster: Cluster, ref: WorkloadRef) -> None:
    bars: list[tqdm[Any]] = []

    def show(state: Progress) -> None:
        if not bars:  # sized at the first poll: the bar counts updated pods of replicas
            bars.append(progress_bar(args, total=state.replicas, initial=state.updated,
                                     desc=str(ref), unit="pods"))
        bar = bars[0]
        bar.total, bar.n = state.replicas, state.updated
        bar.set_postfix_str(f"ready {state.ready}, available {state.available}, "
                            f"t={cluster.now():g}s")

    try:
        waited = workloads.wait_converged(cluster, ref, timeout=args.timeout,
                                          on_progress=show)
    finally:
        for bar in bars:
            bar.close()
    print(f"{ref} converged after {waited:g} s (cluster time)")


def int_or_percent(text: str) -> int | str:
    """An argparse ``type``: ``3`` or ``20%``."""
    if text.endswith("%") and text[:-1].isdigit():
        return text
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"not an integer or a percentage: {text!r}")


def container_image(text: str) -> tuple[str, str]:
    """An argparse ``type``: ``CONTAINER=IMAGE``."""
    name, sep, image = text.partition("=")
    if not sep or not name or not image:
        raise argparse.ArgumentTypeError(f"expected CONTAINER=IMAGE, not {text!r}")
    return name, image


def register(sub: Any) -> None:
    """Add ``rollout`` and its verbs to the top-level subparsers ``sub``."""
    rollout = sub.add_parser("rollout", help="roll out, pause, resume, undo, watch a workload",
                             description=ROLLOUT_HELP)
    verbs = rollout.add_subparsers(dest="verb", required=True, metavar="VERB")
    set_image = add_command(verbs, "set-image", _set_image,
                            help="change images and/or the update strategy in one patch")
    set_image.add_argument("--image", action="append", type=container_image, default=[],
                           metavar="CONTAINER=IMAGE", help="new image of a container "
                           "(repeat for several)")
    set_image.add_argument("--strategy", help="update strategy: CloneSet ReCreate, "
                           "InPlaceIfPossible, InPlaceOnly; Deployment RollingUpdate, "
                           "Recreate; StatefulSet RollingUpdate, OnDelete")
    for flag, text in (("--partition", "pods kept on the old revision"),
                       ("--max-unavailable", "the update's unavailability budget"),
                       ("--max-surge", "extra pods allowed during the update")):
        set_image.add_argument(flag, type=int_or_percent, metavar="N|N%", help=text)
    pause = add_command(verbs, "pause", _pause, help="stop the update where it is")
    resume = add_command(verbs, "resume", _resume, help="let a paused update go on")
    undo = add_command(verbs, "undo", _undo, help="go back to the previous template")
    undo.add_argument("--to-revision", type=int, default=None, metavar="N",
                      help="the revision to go back to (default: the previous one)")
    status = add_command(verbs, "status", _status, help="wait until the workload converged")
    for parser in (set_image, pause, resume, undo, status):
        parser.add_argument("workload", help='"cloneset/web", "deployment/web" or a bare name')
        add_cluster_options(parser)
    for parser in (set_image, resume, undo):  # a paused workload never converges: no --wait
        parser.add_argument("--wait", action="store_true",
                            help="then wait until the workload converged")
    for parser in (set_image, resume, undo, status):
        parser.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT,
                            metavar="SECONDS", help="cluster seconds to wait at most "
                            f"(default {DEFAULT_TIMEOUT:g})")
    for parser in (set_image, pause, resume, undo):
        add_write_options(parser)
