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
import threading
import time

import orjson
from kubernetes import config as kube_config

from benchmarks.watch_client import TIMEOUT, RawWatcher


class SentinelWatcher(RawWatcher):
    def read_until(self, sentinel: str) -> None:
        buffer = b""
        loads = orjson.loads
        for chunk in self.response.stream(None, decode_content=False):
            arrived = time.monotonic()
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
            done = False
            for line in lines:
                if not line:
                    continue
                event = loads(line)
                meta = event["object"]["metadata"]
                self.events.append((event["type"], int(meta["resourceVersion"])))
                done = done or (event["type"] == "ADDED" and meta.get("name") == sentinel)
            if self.events and not self.first:
                self.first = arrived
            self.last = time.monotonic()
            if done:
                break
        self.response.release_conn()


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
    watchers = [SentinelWatcher(api_client, args.path, args.rv) for _ in range(args.watchers)]
    errors: list[str] = []

    def read(w: SentinelWatcher) -> None:
        try:
            w.read_until(args.sentinel)
        except Exception as exc:  # reported to the parent, which fails loudly
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=read, args=(w,), daemon=True) for w in watchers]
    print("ready", flush=True)
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        errors.append(f"a watcher was still reading after {args.timeout} s")
    result = {"errors": errors, "cpu": time.process_time(),
              "watchers": [{"first": w.first, "last": w.last, "events": w.events}
                           for w in watchers]}
    with open(args.out, "wb") as handle:
        handle.write(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
