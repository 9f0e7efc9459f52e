"""The client side of ``list_pods_api``, run as a separate process (like a notebook).

``python -m benchmarks.list_client KUBECONFIG REPEAT OUT``

Times three ways of listing every pod (one untimed warm-up each, then
``REPEAT`` timed runs) and writes JSON to ``OUT``: per way, the wall and CPU
seconds of each timed run, the seconds of cyclic GC within it, and the pod
names each run returned (the parent checks them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from kubernetes import client as k8s
from kubernetes import config as kube_config

from benchmarks import GcTimer
from kitlib.client.raw import get_json

WAYS = ("kitlib", "official_models", "official_raw")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("repeat", type=int)
    parser.add_argument("out")
    args = parser.parse_args(argv)
    api_client = kube_config.new_client_from_config(config_file=args.kubeconfig)
    v1 = k8s.CoreV1Api(api_client)

    def kitlib_path() -> Any:
        return get_json(api_client, "/api/v1/pods")

    def official_models() -> Any:
        return v1.list_pod_for_all_namespaces()

    def official_raw() -> Any:
        response: Any = v1.list_pod_for_all_namespaces(_preload_content=False)
        return json.loads(response.data)

    def dict_names(body: Any) -> list[str]:
        return [item["metadata"]["name"] for item in body["items"]]

    def model_names(pods: Any) -> list[str]:
        return [p.metadata.name for p in pods.items]

    ways: dict[str, tuple[Callable[[], Any], Callable[[Any], list[str]]]] = {
        "kitlib": (kitlib_path, dict_names),
        "official_models": (official_models, model_names),
        "official_raw": (official_raw, dict_names),
    }
    result: dict[str, Any] = {}
    for name, (fetch, names_of) in ways.items():
        runs = []
        warm = names_of(fetch())
        for _ in range(args.repeat):
            with GcTimer() as gc_timer:
                cpu, start = time.process_time(), time.perf_counter()
                listed = fetch()
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            runs.append({"seconds": seconds, "cpu": cpu, "gc_seconds": gc_timer.seconds,
                         "names": names_of(listed)})
            del listed
        result[name] = {"warm_up_names": warm, "runs": runs}
    api_client.close()
    with open(args.out, "wb") as handle:
        handle.write(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
