"""The watcher side of ``watch_throughput``, run as a separate process.

``python -m benchmarks.watch_client KUBECONFIG PATH RV EXPECTED WATCHERS OUT [--official]``

Opens ``WATCHERS`` streaming watches on ``PATH?watch=1&resourceVersion=RV``
through the official client's connection pool (its TLS settings and bearer
token), prints ``ready`` once every stream has answered, then reads until each
watcher has ``EXPECTED`` events. Writes JSON to ``OUT``: per watcher, the
monotonic time of its first and last event and every event's (type, RV), so
that the parent process checks completeness and order against what it wrote.

A separate process, as in real use: a notebook's client never shares a GIL
with the ``kitlib serve`` process it talks to.

``--official`` reads with ``kubernetes.watch.Watch().stream(...,
deserialize=False)`` instead of the raw pool (what a user of the official
watch helper gets, minus model deserialization).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes import watch as k8s_watch

TIMEOUT = 300.0


class RawWatcher:
    def __init__(self, api_client: k8s.ApiClient, path: str, rv: str) -> None:
        config = api_client.configuration
        bearer = config.auth_settings()["BearerToken"]["value"]
        headers = {"Accept": "application/json", "Authorization": bearer}
        url = f"{config.host}{path}?watch=1&resourceVersion={rv}&timeoutSeconds=600"
        self.response = api_client.rest_client.pool_manager.request(
            "GET", url, headers=headers, preload_content=False, timeout=TIMEOUT)
        if self.response.status != 200:
            raise RuntimeError(f"watch answered {self.response.status}: "
                               f"{self.response.read()[:500]!r}")
        self.events: list[tuple[str, int]] = []
        self.first = self.last = 0.0

    def read(self, expected: int | None = None, *, sentinel: str | None = None) -> None:
        """Read until ``expected`` events arrived, or the ``ADDED`` event of the object named
        ``sentinel``, parsing each event fully."""
        buffer = b""
        events = self.events
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
                events.append((event["type"], int(meta["resourceVersion"])))
                done = done or (event["type"] == "ADDED" and sentinel is not None
                                and meta.get("name") == sentinel)
            if events:
                # first: the first event's bytes arrived; last: the last event is parsed
                if not self.first:
                    self.first = arrived
                self.last = time.monotonic()
            if done or (expected is not None and len(events) >= expected):
                break
        self.response.release_conn()


class OfficialWatcher:
    def __init__(self, api_client: k8s.ApiClient, namespace: str, rv: str) -> None:
        self.v1 = k8s.CoreV1Api(api_client)
        self.namespace = namespace
        self.rv = rv
        self.watch = k8s_watch.Watch()
        self.events: list[tuple[str, int]] = []
        self.first = self.last = 0.0

    def read(self, expected: int) -> None:
        for event in self.watch.stream(self.v1.list_namespaced_config_map, self.namespace,
                                       resource_version=self.rv, timeout_seconds=600,
                                       deserialize=False):
            now = time.monotonic()
            if not self.first:
                self.first = now
            self.last = now
            self.events.append((event["type"],
                                int(event["object"]["metadata"]["resourceVersion"])))
            if len(self.events) >= expected:
                self.watch.stop()
                break


def run_watchers(watchers: list[Any], read: Callable[[Any], None], *, out: str,
                 timeout: float, ready_after_start: bool = False) -> None:
    """Run ``read`` for every watcher in a thread of its own, print ``ready`` (before the
    reads start, or after for watchers that open their request on the first read), wait up
    to ``timeout`` wall seconds, and write the JSON result to ``out``: errors, this
    process's CPU seconds, and per watcher its first/last times and its events."""
    errors: list[str] = []

    def run(w: Any) -> None:
        try:
            read(w)
        except Exception as exc:  # reported to the parent, which fails loudly
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in watchers]
    if not ready_after_start:
        print("ready", flush=True)
    for t in threads:
        t.start()
    if ready_after_start:
        print("ready", flush=True)
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        errors.append(f"a watcher was still reading after {timeout} s")
    result = {"errors": errors, "cpu": time.process_time(),
              "watchers": [{"first": w.first, "last": w.last, "events": w.events}
                           for w in watchers]}
    with open(out, "wb") as handle:
        handle.write(orjson.dumps(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("path")
    parser.add_argument("rv")
    parser.add_argument("expected", type=int)
    parser.add_argument("watchers", type=int)
    parser.add_argument("out")
    parser.add_argument("--official", action="store_true")
    args = parser.parse_args(argv)
    api_client = kube_config.new_client_from_config(config_file=args.kubeconfig)
    api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = args.watchers + 1
    watchers: list[Any]
    if args.official:
        namespace = args.path.split("/namespaces/", 1)[1].split("/", 1)[0]
        watchers = [OfficialWatcher(api_client, namespace, args.rv)
                    for _ in range(args.watchers)]
    else:
        watchers = [RawWatcher(api_client, args.path, args.rv) for _ in range(args.watchers)]
    run_watchers(watchers, lambda w: w.read(args.expected), out=args.out, timeout=TIMEOUT,
                 ready_after_start=args.official)  # Watch.stream opens its request lazily
    return 0


if __name__ == "__main__":
    sys.exit(main())
