"""What every ``kitlib`` subcommand shares: options, the connection, errors, bars, tables.

* **Options.** ``--kubeconfig``, ``--context``, ``-n/--namespace`` and ``--progress`` are
  accepted before the subcommand or after it (as kubectl's flags are); mutating commands
  add ``--allow-writes`` and ``--dry-run``.
* **Connection.** A command acts on an existing cluster, the one kubectl would use:
  ``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``. It never starts an
  embedded cluster (``kitlib serve --kubeconfig ./kubeconfig`` does that).
* **Writes.** Mutating commands need ``--allow-writes`` on a real cluster; an embedded
  cluster allows writes by default (``Cluster.allow_writes``); ``--dry-run`` sends the
  change with ``dryRun=All`` and never needs it.
* **Errors.** One line ``kitlib <cmd>: error: <message>`` on stderr: exit code 2 for
  usage errors, 1 for everything the cluster or the operation refused; never a traceback.
* **Progress bars** (tqdm) go to stderr, and only when stderr is a terminal or
  ``--progress`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from tqdm import tqdm

    from kitlib.client.cluster import Cluster

__all__ = ["CliError", "Parser", "add_cluster_options", "add_command", "add_write_options",
           "cluster_for", "kubeconfig_path", "print_table", "progress_bar", "seconds"]


class CliError(Exception):
    """A failure the command reports as one line; ``code`` is its exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``prog: error: message``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], *,
                help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand ``name`` of ``sub`` that runs ``func(args)`` (its exit status)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help,
                                                     description=description or help)
    parser.set_defaults(func=func, prog=parser.prog)
    return parser


def add_cluster_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """The connection options; on a subcommand they default to what the top level parsed."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--kubeconfig", default=default, metavar="PATH",
                        help="kubeconfig to use (default: $KUBECONFIG, else ~/.kube/config)")
    parser.add_argument("--context", default=default, help="kubeconfig context "
                        "(default: the current one)")
    parser.add_argument("-n", "--namespace", default=default,
                        help="namespace (default: the context's, else default)")
    parser.add_argument("--progress", action="store_true",
                        default=False if top else argparse.SUPPRESS,
                        help="show progress bars even when stderr is not a terminal")


def add_write_options(parser: argparse.ArgumentParser) -> None:
    """``--allow-writes`` and ``--dry-run``, for commands that change the cluster."""
    parser.add_argument("--allow-writes", action="store_true",
                        help="allow the change on a real cluster (embedded clusters allow "
                        "writes by default)")
    parser.add_argument("--dry-run", action="store_true",
                        help="send the change with dryRun=All: checked by the server, "
                        "never stored")


def kubeconfig_path(given: str | None) -> str:
    """The kubeconfig kubectl would read: ``given``, ``$KUBECONFIG`` or ``~/.kube/config``."""
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise CliError(f"kubeconfig {given} does not exist")
        return str(path)
    from_env = os.environ.get("KUBECONFIG", "")
    files = [Path(p).expanduser() for p in from_env.split(os.pathsep) if p]
    files = files or [Path("~/.kube/config").expanduser()]
    found = [str(f) for f in files if f.is_file()]
    if not found:
        where = "$KUBECONFIG" if from_env else "~/.kube/config"
        raise CliError(f"no kubeconfig at {where}: pass --kubeconfig PATH or set KUBECONFIG "
                       "(start an embedded cluster with `kitlib serve --kubeconfig "
                       "./kubeconfig`)")
    return os.pathsep.join(found)


@contextmanager
def cluster_for(args: argparse.Namespace, *, writes: str | None = None) -> Iterator[Cluster]:
    """Connect as ``args`` say; ``writes`` names the change a mutating command makes.

    Raises:
        CliError: no kubeconfig, or ``writes`` on a read-only handle without ``--dry-run``.
    """
    from kitlib.client.connect import connect

    allow = True if getattr(args, "allow_writes", False) else None
    with connect(kubeconfig=kubeconfig_path(args.kubeconfig), context=args.context,
                 namespace=args.namespace, allow_writes=allow) as cluster:
        if writes and not cluster.allow_writes and not getattr(args, "dry_run", False):
            raise CliError(f"{writes} changes the cluster at "
                           f"{cluster.api_client.configuration.host}, a real cluster: pass "
                           "--allow-writes to allow it, or --dry-run to only check it")
        yield cluster


def progress_bar(args: argparse.Namespace, *, total: float, desc: str, unit: str,
                 initial: float = 0) -> tqdm[Any]:
    """A tqdm bar on stderr, shown on a terminal or with ``--progress``.

    It shows counts, not rates: the wall-clock rate means nothing in cluster time (callers
    put the cluster time in the postfix).
    """
    from tqdm import tqdm

    show = bool(args.progress) or sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, disable=not show,
                leave=True, dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                "{n:.0f}/{total:.0f} " + unit + "{postfix}")


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns as kubectl prints them: upper-case header, left-aligned, two spaces apart."""
    cells = [[str(h).upper() for h in header]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def seconds(text: str) -> float:
    """An argparse ``type``: a non-negative number of (cluster) seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value
