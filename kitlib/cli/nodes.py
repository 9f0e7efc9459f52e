"""``kitlib evict POD``, ``kitlib drain NODE``, ``kitlib cordon|uncordon NODE``.

``evict`` exits 0 when the Eviction API allowed the eviction and 1 when a disruption
budget refused it, printing the budget's reason. ``drain`` is ``Cluster.drain``
(kubectl-drain semantics, stepped in cluster time) with a progress bar of the pods
evicted; it exits 1 when the drain does not complete within ``--timeout`` cluster seconds.
With ``--dry-run`` it cordons and evicts with ``dryRun=All``: each pod's eviction is
checked against the budgets as they stand now, nothing changes.
"""

from __future__ import annotations

import argparse
import sys
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

if TYPE_CHECKING:
    from tqdm import tqdm

    from kitlib.client.drain import DrainEvent

__all__ = ["register"]

DRAIN_HELP = ("Cordon NODE and evict its pods as kubectl drain does: DaemonSet and mirror pods "
              "are skipped; pods without a controller need --force, pods with emptyDir "
              "volumes --delete-emptydir-data; a refused eviction is retried every 5 s. Waits "
              "in cluster time; exits 1 if --timeout passes first. With --dry-run: cordon "
              "and every eviction are checked by the server (dryRun=All), nothing changes.")


def _evict(args: argparse.Namespace) -> int:
    with cluster_for(args, writes="evict") as cluster:
        result = cluster.evict(args.pod, args.namespace, dry_run=args.dry_run)
        namespace = args.namespace or cluster.namespace
    if result.status == 404:
        raise CliError(f'pod "{args.pod}" not found in namespace "{namespace}": nothing to evict')
    if not result.allowed:
        raise CliError(f"eviction of pod {args.pod} refused: {result.reason}")
    print(f"pod/{args.pod} evicted{_dry(args)}")
    return 0


def _dry(args: argparse.Namespace) -> str:
    return " (server dry run)" if args.dry_run else ""


def _cordon(args: argparse.Namespace) -> int:
    verb = args.prog.rsplit(" ", 1)[-1]
    with cluster_for(args, writes=verb) as cluster:
        change = cluster.cordon if verb == "cordon" else cluster.uncordon
        change(args.node, dry_run=args.dry_run)
    print(f"node/{args.node} {verb}ed{_dry(args)}")
    return 0


def _drain_node(args: argparse.Namespace) -> int:
    with cluster_for(args, writes="drain") as cluster, progress_bar(
            args, total=0, desc=f"drain {args.node}", unit="pods") as bar:
        result = cluster.drain(args.node, delete_emptydir_data=args.delete_emptydir_data,
                               force=args.force, timeout=args.timeout,
                               on_progress=_DrainProgress(bar, node=args.node,
                                                          dry_run=args.dry_run),
                               dry_run=args.dry_run)
    if args.dry_run:
        if not result.completed:
            raise CliError(result.reason)
        return 0
    if not result.completed:
        raise CliError(f"node/{args.node} not drained after {result.duration:g} s: "
                       f"{result.reason}")
    print(f"node/{args.node} drained in {result.duration:g} s (cluster time)")
    return 0


class _DrainProgress:
    """``on_progress`` for ``Cluster.drain``: advances the bar, prints what kubectl prints."""

    def __init__(self, bar: tqdm[Any], *, node: str, dry_run: bool = False) -> None:
        self.bar = bar
        self.node = node
        self.dry_run = dry_run
        self.refused: set[str] = set()

    def __call__(self, event: DrainEvent) -> None:
        if event.kind == "planned":
            self._planned(event)
        elif self.dry_run:
            self._dry(event)
        elif event.kind == "evicting" and event.pod not in self.refused:
            self._say(f"evicting pod {event.pod}")
        elif event.kind == "refused" and event.pod not in self.refused:
            self.refused.add(str(event.pod))  # kubectl retries every 5 s; say it once
            self._say(f"error when evicting pod {event.pod} (will retry after 5s): "
                      f"{event.reason}", file=sys.stderr)
        elif event.kind == "evicted":
            self.bar.update(1)
            self._say(f"pod/{str(event.pod).rpartition('/')[2]} evicted")
        self.bar.set_postfix_str(f"t={event.time:g}s", refresh=event.kind != "done")

    def _planned(self, event: DrainEvent) -> None:
        self._say(f"node/{self.node} cordoned{' (server dry run)' if self.dry_run else ''}")
        for pod in event.skipped:
            self._say(f"ignoring pod {pod} (DaemonSet-managed or mirror pod)")
        self.bar.total = len(event.pods)
        self.bar.refresh()

    def _dry(self, event: DrainEvent) -> None:
        if event.kind == "evicted":
            self.bar.update(1)
            self._say(f"evicting pod {event.pod} (server dry run)")
        elif event.kind == "refused":
            self._say(f"eviction of pod {event.pod} would be refused now: {event.reason}")

    def _say(self, line: str, file: Any = None) -> None:
        self.bar.write(line, file=file or sys.stdout)


def register(sub: Any) -> None:
    """Add ``evict``, ``drain``, ``cordon`` and ``uncordon`` to the subparsers ``sub``."""
    evict = add_command(sub, "evict", _evict,
                        help="evict a pod through the Eviction API (PDBs decide)")
    evict.add_argument("pod", help="pod name")
    drain = add_command(sub, "drain", _drain_node,
                        help="cordon a node and evict its pods (kubectl drain)",
                        description=DRAIN_HELP)
    drain.add_argument("node", help="node name")
    drain.add_argument("--timeout", type=seconds, default=None, metavar="SECONDS",
                       help="give up after this many cluster seconds (default: wait forever)")
    drain.add_argument("--force", action="store_true",
                       help="also evict pods that no controller manages")
    drain.add_argument("--delete-emptydir-data", action="store_true",
                       help="also evict pods with emptyDir volumes (their data is lost)")
    cordon = add_command(sub, "cordon", _cordon, help="mark a node unschedulable")
    uncordon = add_command(sub, "uncordon", _cordon, help="make a node schedulable again")
    for parser in (cordon, uncordon):
        parser.add_argument("node", help="node name")
    for parser in (evict, drain, cordon, uncordon):
        add_cluster_options(parser)
        add_write_options(parser)

