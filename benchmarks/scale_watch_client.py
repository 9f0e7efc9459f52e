"""The watcher side of ``watch_rollout``, run as a separate process.

``python -m benchmarks.scale_watch_client KUBECONFIG PATH RV WATCHERS SENTINEL OUT
[--timeout S]``

Opens ``WATCHERS`` raw streaming watches on ``PATH?watch=1&resourceVersion=RV`` (the
request of ``benchmarks.watch_client.RawWatcher``), prints ``ready`` once every stream
answered, then reads — parsing every event fully, as a client does — until each watcher
has seen the ``ADDED`` event of the pod named ``SENTINEL`` (the parent creates it after
the rollout, since the number of events a rollout commits is not known in advance).
Writes JSON to ``OUT``: per watcher, the monotonic times of its first and last event and
every event's type and RV, for the parent to compare with what it committed.
"""

from __future__ import annotations

import argparse
import sys

from kubernetes import config as kube_config

from benchmarks.watch_client import TIMEOUT, RawWatcher, run_watchers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    for name in ("kubeconfig", "path", "rv"):
        parser.add_argument(name)
    parser.add_argument("watchers", type=int)
    parser.add_argument("sentinel")
    parser.add_argument("out")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help="wall seconds to wait for the sentinel (hang guard)")
    args = parser.parse_args(argv)
    api_client = kube_config.new_client_from_config(config_file=args.kubeconfig)
    api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = args.watchers + 1
    watchers = [RawWatcher(api_client, args.path, args.rv) for _ in range(args.watchers)]
    run_watchers(watchers, lambda w: w.read(sentinel=args.sentinel), out=args.out,
                 timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
