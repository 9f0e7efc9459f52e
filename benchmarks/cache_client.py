"""The client side of ``cache_sync``, run as a separate process (like a notebook).

``python -m benchmarks.cache_client KUBECONFIG REPEAT OUT``

Fills a ``kitlib.client.cache.WatchCache`` of every pod from start to
``wait_synced()`` (one untimed warm-up, then ``REPEAT`` timed runs), paged
(client-go's 500 a page) and in one page, and writes JSON to ``OUT``: per way,
the wall and process CPU seconds of each run (the cache's thread included) and
the pod names the cache held (the parent checks them).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson
from kubernetes import config as kube_config

from kitlib.client.cache import CacheSettings, WatchCache
from kitlib.client.cluster import close_api_client

WAYS = {"paged_500": CacheSettings(page_size=500), "one_page": CacheSettings(page_size=None)}


def fill(api_client: Any, settings: CacheSettings) -> tuple[float, float, list[str]]:
    cache = WatchCache(api_client, api_version="v1", plural="pods", settings=settings)
    cpu, start = time.process_time(), time.perf_counter()
    cache.start()
    try:
        if not cache.wait_synced(600):
            raise TimeoutError("the cache did not sync")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        names = [obj["metadata"]["name"] for obj in cache.list()]
    finally:
        cache.stop()
    return seconds, cpu, names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("repeat", type=int)
    parser.add_argument("out")
    args = parser.parse_args(argv)
    api_client = kube_config.new_client_from_config(config_file=args.kubeconfig)
    result: dict[str, Any] = {}
    for name, settings in WAYS.items():
        warm = fill(api_client, settings)[2]
        runs = []
        for _ in range(args.repeat):
            seconds, cpu, names = fill(api_client, settings)
            runs.append({"seconds": seconds, "cpu": cpu, "names": names})
        result[name] = {"warm_up_names": warm, "runs": runs}
    close_api_client(api_client)
    with open(args.out, "wb") as handle:
        handle.write(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
